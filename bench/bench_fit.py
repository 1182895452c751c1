"""Time the Keras tutorial program's ``fit`` (SimpleRNN(50) + Dense(1), Adam, MSE, 1000 x 10 x 1,
100 epochs, batch 32: 3200 steps) on pyrnn next to an equivalent PyTorch training loop.

Run: python bench/bench_fit.py [--repeats 3] [--threads N]
"""

import argparse
import time

import numpy as np


def pyrnn_fit(X, Y, epochs):
    from pyrnn.layers import Dense, SimpleRNN
    from pyrnn.models import Sequential
    model = Sequential()
    model.add(SimpleRNN(units=50, input_shape=(10, 1)))
    model.add(Dense(units=1))
    model.compile(optimizer="adam", loss="mean_squared_error")
    t = time.perf_counter()
    history = model.fit(X, Y, epochs=epochs, batch_size=32, verbose=0)
    return time.perf_counter() - t, history.history["loss"][-1]


def torch_fit(X, Y, epochs):
    import torch
    rnn, head = torch.nn.RNN(1, 50, batch_first=True), torch.nn.Linear(50, 1)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)
    x, y = torch.tensor(X, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32)
    t = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        total = 0.0
        for i in range(0, len(x), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            _, h = rnn(x[idx])
            loss = torch.nn.functional.mse_loss(head(h[0]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
    return time.perf_counter() - t, total / len(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=None, help="threads for pyrnn and torch (default: library's)")
    args = ap.parse_args()
    import pyrnn
    if args.threads:
        pyrnn.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    X, Y = rng.random((1000, 10, 1)), rng.random((1000, 1))
    rows = []
    times = [pyrnn_fit(X, Y, args.epochs) for _ in range(args.repeats)]
    rows.append(("pyrnn", float(np.median([t for t, _ in times])), times[-1][1]))
    try:
        import torch
        if args.threads:
            torch.set_num_threads(args.threads)
        times = [torch_fit(X, Y, args.epochs) for _ in range(args.repeats)]
        rows.append(("torch loop", float(np.median([t for t, _ in times])), times[-1][1]))
    except ImportError:
        print("torch not installed: skipping the PyTorch loop")
    steps = args.epochs * 32
    print(f"tutorial fit: {args.epochs} epochs, {steps} steps, pyrnn threads {pyrnn.get_num_threads()}, "
          f"median of {args.repeats}")
    for name, t, loss in rows:
        print(f"  {name:<11} {t:7.3f} s  {t / steps * 1e6:7.1f} us/step  final loss {loss:.4f}")
    if len(rows) == 2:
        print(f"  speed-up vs torch: {rows[1][1] / rows[0][1]:.1f}x  (target: fit <= 0.3 s)")


if __name__ == "__main__":
    main()
