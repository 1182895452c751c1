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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Case, make_inputs, pyrnn, pyrnn_module, pyrnn_runner  # noqa: E402  (one set of cases and runners)

CELLS = ("lstm", "gru", "rnn")
T = 25
TOLERANCE = 0.20


def sweeps(cells):
    """(cell, mode, varied dimension, [Case, ...]) — I = H, as in the benchmark's mid cases."""
    out = []
    for cell in cells:
        for mode in ("forward", "train"):
            out.append((cell, mode, "H", [Case(f"{cell}-H{h}", cell, h, h, 64, T) for h in range(240, 273)]))
        out.append((cell, "forward", "B", [Case(f"{cell}-B{b}", cell, 256, 256, b, T) for b in range(56, 73)]))
    return out


def runner(case, mode):
    x, grad_out = make_inputs(case, np.float32)
    return pyrnn_runner(case, pyrnn_module(case, np.float32), x, grad_out)[mode]


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


def neighbour_ratios(rates, width=2):
    """Each rate over the median of up to `width` neighbours a side."""
    return [r / float(np.median(rates[max(0, i - width):i] + rates[i + 1:i + 1 + width])) for i, r in enumerate(rates)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds; each size keeps its best (default 7)")
    ap.add_argument("--cells", default=",".join(CELLS))
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--markdown", metavar="PATH", help="also write the summary as markdown to PATH")
    args = ap.parse_args()
    if args.threads:
        pyrnn.set_num_threads(args.threads)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    unknown = [c for c in cells if c not in CELLS]
    if unknown:
        ap.error(f"unknown cell(s) {unknown}; choose from {list(CELLS)}")
    print(f"pyrnn ISA {pyrnn._core.isa()}, threads {pyrnn.get_num_threads()}, T={T}, float32, "
          f"best of {args.rounds} rounds", flush=True)
    lines = ["| sweep | sizes | GFLOP/s min–max | worst size vs neighbours | cliffs (> 20% below) |",
             "|---|---|---|---|---|"]
    total = 0
    for cell, mode, dim, cases in sweeps(cells):
        times = best_times([runner(case, mode) for case in cases], args.rounds)
        rates = [case.gflop(mode) / t for case, t in zip(cases, times)]
        values = [case.H if dim == "H" else case.B for case in cases]
        ratios = neighbour_ratios(rates)
        bad = [(i, q) for i, q in enumerate(ratios) if q < 1 - TOLERANCE]
        total += len(bad)
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
