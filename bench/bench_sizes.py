"""No cliffs at odd sizes: pyrnn's GFLOP/s over a sweep of hidden sizes (and batch sizes) around
the benchmark's 256, each size against its neighbours.

A size whose rate is more than 20% below the median of its neighbours (two on each side) is a
cliff. Every size is timed once per round, round after round, and keeps its best time: on a
noisy machine a slow moment then hits all sizes alike instead of faking a cliff at one.

Run: python bench/bench_sizes.py [--rounds 7] [--cells lstm,gru,rnn] [--markdown PATH]
"""

import argparse
import os
import sys
import time

import numpy as np

try:
    import pyrnn
except ImportError:  # running from a source tree that is not installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import pyrnn

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
MODULES = {"lstm": pyrnn.nn.LSTM, "gru": pyrnn.nn.GRU, "rnn": pyrnn.nn.RNN}
T = 25
TOLERANCE = 0.20


def sweeps(cells):
    """(cell, mode, varied dimension, [(I, H, B), ...]) — I = H, as in the benchmark's mid cases."""
    out = []
    for cell in cells:
        for mode in ("forward", "train"):
            out.append((cell, mode, "H", [(h, h, 64) for h in range(240, 273)]))
        out.append((cell, "forward", "B", [(256, 256, b) for b in range(56, 73)]))
    return out


def runner(cell, mode, I, H, B):
    module = MODULES[cell](I, H, seed=0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    if mode == "forward":
        module.eval()
        return lambda: module(x)
    grad = rng.standard_normal((T, B, H)).astype(np.float32)

    def step():
        module.zero_grad()
        module(x)
        return module.backward(grad)
    return step


def gflop(cell, mode, I, H, B):
    fwd = 2.0 * T * B * GATES[cell] * H * (I + H) / 1e9
    return fwd if mode == "forward" else 3.0 * fwd


def best_times(fns, rounds):
    best = [float("inf")] * len(fns)
    for fn in fns:
        fn()  # warm-up
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def cliffs(rates, width=2):
    """Indices whose rate is below (1 - TOLERANCE) x the median of up to `width` neighbours a side."""
    found = []
    for i, r in enumerate(rates):
        near = rates[max(0, i - width):i] + rates[i + 1:i + 1 + width]
        ref = float(np.median(near))
        if r < (1 - TOLERANCE) * ref:
            found.append((i, r / ref))
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds; each size keeps its best (default 7)")
    ap.add_argument("--cells", default="lstm,gru,rnn")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--markdown", metavar="PATH", help="also write the summary as markdown to PATH")
    args = ap.parse_args()
    if args.threads:
        pyrnn.set_num_threads(args.threads)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    unknown = [c for c in cells if c not in GATES]
    if unknown:
        ap.error(f"unknown cell(s) {unknown}; choose from {sorted(GATES)}")
    print(f"pyrnn ISA {pyrnn._core.isa()}, threads {pyrnn.get_num_threads()}, T={T}, float32, "
          f"best of {args.rounds} rounds", flush=True)
    lines = ["| sweep | sizes | GFLOP/s min–max | worst size vs neighbours | cliffs (> 20% below) |",
             "|---|---|---|---|---|"]
    total = 0
    for cell, mode, dim, shapes in sweeps(cells):
        fns = [runner(cell, mode, *s) for s in shapes]
        times = best_times(fns, args.rounds)
        rates = [gflop(cell, mode, *s) / t for s, t in zip(shapes, times)]
        values = [s[1] if dim == "H" else s[2] for s in shapes]
        bad = cliffs(rates)
        total += len(bad)
        ratios = [r / float(np.median(rates[max(0, i - 2):i] + rates[i + 1:i + 3])) for i, r in enumerate(rates)]
        worst = int(np.argmin(ratios))
        name = f"{cell} {mode}, {dim} {values[0]}–{values[-1]}"
        detail = ", ".join(f"{dim}={values[i]} ({q:.2f})" for i, q in bad) or "none"
        print(f"{name:<28} {min(rates):6.1f}–{max(rates):6.1f} GFLOP/s  worst {dim}={values[worst]} "
              f"at {ratios[worst]:.2f} of its neighbours  cliffs: {detail}", flush=True)
        lines.append(f"| {cell} {mode} | {dim} {values[0]}–{values[-1]} | {min(rates):.0f}–{max(rates):.0f} | "
                     f"{dim}={values[worst]}: {ratios[worst]:.2f} | {detail} |")
    print(f"{total} cliff(s)")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
