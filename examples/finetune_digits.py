"""Fine-tuning on real data: scikit-learn's handwritten digits (8x8 images) read row by row as
sequences of 8 steps. Pretrain a GRU classifier on digits 0-4, freeze the GRU, train a new head
on digits 5-9, and print accuracy before and after. Saves a loss plot with matplotlib.

Run: pip install scikit-learn matplotlib; python examples/finetune_digits.py
"""
import sys

import numpy as np

try:
    from sklearn.datasets import load_digits
except ImportError:
    print("scikit-learn is not installed (pip install scikit-learn): skipping this example")
    sys.exit(0)

from pyrnn.layers import GRU, Dense
from pyrnn.models import Sequential

digits = load_digits()
X = (digits.images / 16.0).astype(np.float32)  # (n, 8 rows, 8 columns)
y = digits.target
rng = np.random.default_rng(0)
idx = rng.permutation(len(X))
X, y = X[idx], y[idx]
first, second = y < 5, y >= 5


def split(mask, labels):
    xs, ys = X[mask], labels[mask]
    n = int(0.8 * len(xs))
    return (xs[:n], ys[:n]), (xs[n:], ys[n:])


(xa, ya), (xa_test, ya_test) = split(first, y)
(xb, yb), (xb_test, yb_test) = split(second, y - 5)

gru = GRU(64, input_shape=(8, 8), seed=0)
pretrained = Sequential([gru, Dense(5, activation="softmax", seed=1)])
pretrained.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
h1 = pretrained.fit(xa, ya, epochs=20, batch_size=32, verbose=0)
print(f"pretrained on digits 0-4: test accuracy {pretrained.evaluate(xa_test, ya_test, verbose=0)[1]:.3f}")

gru.trainable = False  # freeze the recurrent layer, train a new head on 5-9
model = Sequential([gru, Dense(5, activation="softmax", seed=2)])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()
before = model.evaluate(xb_test, yb_test, verbose=0)[1]
h2 = model.fit(xb, yb, epochs=20, batch_size=32, verbose=0)
after = model.evaluate(xb_test, yb_test, verbose=0)[1]
print(f"digits 5-9 with the frozen GRU: accuracy before {before:.3f}, after training the head {after:.3f}")

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib not installed: no plot")
else:
    plt.plot(h1.history["loss"], label="pretrain (0-4)")
    plt.plot(h2.history["loss"], label="new head (5-9), GRU frozen")
    plt.xlabel("epoch")
    plt.ylabel("loss")
    plt.legend()
    plt.savefig("finetune_digits_loss.png", dpi=100)
    print("saved finetune_digits_loss.png")
