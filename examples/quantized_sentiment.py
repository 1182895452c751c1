"""int8 and bfloat16 inference of a trained sentiment model (issue 17), on reviews generated here
offline: ``model.quantize("int8")`` as in Keras 3, the accuracy of the quantized models next to
float32's, and the int8 model exported to ONNX and run by ONNX Runtime (if installed).

A review is a variable-length list of word ids: filler words, positive and negative words, and
"not", which flips the next one; the label is the sign of the flipped sum (order matters).

    python examples/quantized_sentiment.py [--epochs 3] [--reviews 6000]   # ~11 s on 2 cores: 0.85 in all three
"""

import argparse
import os
import tempfile

import numpy as np

import pyrnn as keras
from pyrnn import layers

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--reviews", type=int, default=6000)
args = parser.parse_args()
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
vocab, maxlen, NOT = 1000, 60, 1
POSITIVE, NEGATIVE = np.arange(10, 40), np.arange(40, 70)


def dataset(n):
    xs, ys = [], []
    while len(xs) < n:
        words, score, negated = [], 0, False
        for _ in range(rng.integers(10, maxlen)):
            r = rng.random()
            if r < 0.08:
                words.append(NOT)
                negated = True
            elif r < 0.2:
                sign = 1 if rng.random() < 0.5 else -1
                words.append(int(rng.choice(POSITIVE if sign > 0 else NEGATIVE)))
                score, negated = score + (-sign if negated else sign), False
            else:
                words.append(int(rng.integers(100, vocab)))
                negated = False
        if score:
            xs.append(words)
            ys.append(score > 0)
    return keras.utils.pad_sequences(xs, maxlen=maxlen), np.array(ys, np.float32)


x_train, y_train = dataset(args.reviews)
x_val, y_val = dataset(args.reviews // 4)


def make():
    return keras.Sequential([keras.Input((maxlen,), dtype="int32"), layers.Embedding(vocab, 32, mask_zero=True),
                             layers.LSTM(48, return_sequences=True), layers.GRU(32), layers.Dense(1, activation="sigmoid")])


model = make()
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, verbose=2)


def accuracy(m):
    return float(np.mean((m.predict(x_val, verbose=0)[:, 0] > 0.5) == (y_val > 0.5)))


float_acc, float_out = accuracy(model), model.predict(x_val, verbose=0)
results = {"float32": float_acc}
for mode in ("bfloat16", "int8"):  # quantize() works in place: each mode on its own copy of the trained model
    copy = make()
    copy.set_weights(model.get_weights())
    copy.quantize(mode)
    results[mode] = accuracy(copy)
    print(f"{mode:>8}: max |p - p_float32| = {np.abs(copy.predict(x_val, verbose=0) - float_out).max():.4f}")
for name, acc in results.items():
    print(f"validation accuracy {name:>8}: {acc:.3f}")

try:
    import onnxruntime as ort
except ImportError:
    ort = None
if ort is not None:  # the int8 model (the last copy) in ONNX Runtime: DynamicQuantizeLSTM + int8 GRU/Dense weights
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "sentiment_int8.onnx")
        copy.export(path)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        p = sess.run(None, {sess.get_inputs()[0].name: x_val.astype(np.int64)})[0]
    print(f"validation accuracy onnxruntime int8: {np.mean((p[:, 0] > 0.5) == (y_val > 0.5)):.3f}")
