"""Time ``fit`` in pyrnn and in Keras 3 (torch backend) in the same run, on the same programs:

- tutorial: the Keras RNN tutorial program (examples/tutorial.py; bench/bench_fit.py times it
  against a torch loop): Sequential SimpleRNN(50) + Dense(1), Adam, MSE, 1000 x 10 x 1, batch 32.
- seq2seq: the encoder-decoder of examples/lstm_seq2seq.py (functional API: LSTM(latent,
  return_state) -> LSTM(latent, return_sequences, initial_state) -> Dense(softmax)), RMSprop,
  categorical cross-entropy, accuracy, batch 64, on random one-hot sequences of the example's
  sizes (3000 pairs, 8 -> 10 steps, 11 and 13 symbols, latent 128; no validation split).

Both libraries get the same thread count (``--threads``, default pyrnn's), build the same model
from the same code, and take turns: each repeat fits pyrnn, then Keras, after one untimed
1-epoch warm-up each. Reported: the median time per library and the ratio of the medians
(Keras / pyrnn). Keras runs with ``KERAS_BACKEND=torch`` (set here before it is imported).

Run: python bench/bench_fit_keras.py [--repeats 5] [--tutorial-epochs 100] [--seq2seq-epochs 5]
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np


def tutorial_model(lib):
    model = lib.Sequential([lib.Input((10, 1)), lib.layers.SimpleRNN(50), lib.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mean_squared_error")
    return model


def seq2seq_model(lib, vocab_in, vocab_out, latent):
    encoder_inputs = lib.Input(shape=(None, vocab_in))
    _, state_h, state_c = lib.layers.LSTM(latent, return_state=True)(encoder_inputs)
    decoder_inputs = lib.Input(shape=(None, vocab_out))
    decoded, _, _ = lib.layers.LSTM(latent, return_sequences=True, return_state=True)(
        decoder_inputs, initial_state=[state_h, state_c])
    outputs = lib.layers.Dense(vocab_out, activation="softmax")(decoded)
    model = lib.Model([encoder_inputs, decoder_inputs], outputs)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def one_hot(rng, n, steps, vocab):
    return np.eye(vocab, dtype=np.float32)[rng.integers(0, vocab, (n, steps))]


def timed_fit(make, lib, x, y, epochs, batch_size):
    """(seconds of fit, final loss) of ``make(lib)``'s model; one untimed 1-epoch fit of a twin first."""
    make(lib).fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
    model = make(lib)
    t = time.perf_counter()
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    return time.perf_counter() - t, float(history.history["loss"][-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="threads for pyrnn and torch (default: pyrnn's)")
    ap.add_argument("--tutorial-epochs", type=int, default=100)
    ap.add_argument("--seq2seq-epochs", type=int, default=5)
    ap.add_argument("--samples", type=int, default=3000, help="seq2seq sequence pairs (the example's)")
    ap.add_argument("--latent", type=int, default=128)
    args = ap.parse_args()

    import keras
    import torch

    import pyrnn
    if keras.backend.backend() != "torch":
        raise SystemExit(f"Keras runs on the {keras.backend.backend()!r} backend; set KERAS_BACKEND=torch")
    threads = args.threads or pyrnn.get_num_threads()
    pyrnn.set_num_threads(threads)
    torch.set_num_threads(threads)

    rng = np.random.default_rng(0)
    X, Y = rng.random((1000, 10, 1)).astype(np.float32), rng.random((1000, 1)).astype(np.float32)
    vocab_in, vocab_out, t_in, t_out = 11, 13, 8, 10  # the example's sizes: letters + space; + tab, newline
    enc = one_hot(rng, args.samples, t_in, vocab_in)
    dec = one_hot(rng, args.samples, t_out, vocab_out)
    target = np.concatenate([dec[:, 1:], np.zeros_like(dec[:, :1])], axis=1)

    workloads = [
        ("tutorial", lambda lib: tutorial_model(lib), X, Y, args.tutorial_epochs, 32),
        ("seq2seq", lambda lib: seq2seq_model(lib, vocab_in, vocab_out, args.latent), [enc, dec], target,
         args.seq2seq_epochs, 64),
    ]
    print(f"fit in pyrnn and Keras {keras.__version__} (torch {torch.__version__} backend), {threads} threads, "
          f"median of {args.repeats}")
    for name, make, x, y, epochs, batch in workloads:
        times: dict = {"pyrnn": [], "keras": []}
        losses = {}
        for _ in range(args.repeats):  # turns: a slow spell of a shared machine falls on both
            for lib_name, lib in (("pyrnn", pyrnn), ("keras", keras)):
                t, losses[lib_name] = timed_fit(make, lib, x, y, epochs, batch)
                times[lib_name].append(t)
        med = {k: float(np.median(v)) for k, v in times.items()}
        steps = epochs * -(-len(y) // batch)
        print(f"  {name}: {epochs} epochs, {steps} steps")
        for lib_name in ("pyrnn", "keras"):
            print(f"    {lib_name:<6} {med[lib_name]:8.3f} s  {med[lib_name] / steps * 1e3:7.2f} ms/step  "
                  f"final loss {losses[lib_name]:.4f}")
        print(f"    Keras / pyrnn: {med['keras'] / med['pyrnn']:.1f}x")


if __name__ == "__main__":
    main()
