"""Character-level text generation with an LSTM, on English text that ships with Python.

The structure of keras.io's "Character-level text generation with LSTM"
(examples/generative/lstm_character_level_text_generation): windows of ``maxlen`` characters
predict the next one; after training, text is sampled with several temperatures. The corpus is
the text of Python's help topics (``pydoc_data.topics``), so nothing is downloaded. Prints the
loss per epoch, the next-character accuracy on held-out windows, and samples.

    python examples/text_generation.py [--epochs 4] [--chars 120000]   # ~30 s on 2 cores: 0.57 held out
"""

import argparse

import numpy as np
from pydoc_data.topics import topics

import pyrnn as keras
from pyrnn import layers

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=4)
parser.add_argument("--chars", type=int, default=120000)
args = parser.parse_args()
keras.utils.set_random_seed(0)

text = " ".join(topics[k] for k in sorted(topics)).lower()
text = "".join(ch for ch in text if ch.isascii() and (ch.isprintable() or ch == "\n"))[:args.chars]
chars = sorted(set(text))
index = {c: i for i, c in enumerate(chars)}
print("corpus length:", len(text), "distinct characters:", len(chars))

maxlen, step = 40, 3
starts = np.arange(0, len(text) - maxlen, step)
ids = np.array([index[c] for c in text])
x = np.zeros((len(starts), maxlen, len(chars)), np.float32)
x[np.arange(len(starts))[:, None], np.arange(maxlen), ids[starts[:, None] + np.arange(maxlen)]] = 1.0
y = keras.utils.to_categorical(ids[starts + maxlen], len(chars))

model = keras.Sequential([keras.Input(shape=(maxlen, len(chars))), layers.LSTM(128),
                          layers.Dense(len(chars), activation="softmax")])
model.compile(loss="categorical_crossentropy", optimizer=keras.optimizers.RMSprop(learning_rate=0.01),
              metrics=["accuracy"])
split = int(0.95 * len(x))
model.fit(x[:split], y[:split], batch_size=128, epochs=args.epochs, validation_data=(x[split:], y[split:]), verbose=2)


def sample(probs, temperature):
    logits = np.log(np.maximum(probs.astype(np.float64), 1e-12)) / temperature
    p = np.exp(logits - logits.max())
    return int(np.random.default_rng().choice(len(p), p=p / p.sum()))


seed = text[1000:1000 + maxlen]
for temperature in (0.2, 0.5, 1.0):
    sentence, generated = seed, ""
    for _ in range(200):
        window = np.zeros((1, maxlen, len(chars)), np.float32)
        window[0, np.arange(maxlen), [index[c] for c in sentence]] = 1.0
        nxt = chars[sample(model.predict(window, verbose=0)[0], temperature)]
        generated += nxt
        sentence = sentence[1:] + nxt
    print(f"----- temperature {temperature}: {seed!r} ->\n{generated}")
loss, accuracy = model.evaluate(x[split:], y[split:], verbose=0)
print(f"held-out next-character accuracy {accuracy:.3f} (loss {loss:.3f})")
