"""What recurrent_dropout adds to a training step (forward in training mode + full backward)
through the spine, lstm-mid by default (I=256, H=256, B=64, T=100), float32.

    python bench/bench_recurrent_dropout.py [--repeat 15] [--rounds 3] [--threads N]

With and without a recurrent mask take turns block by block (as bench.py does), each block after
a warm-up run; the numbers are medians. Reports forward and backward separately and their sum."""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    import pyrnn
except ImportError:  # a source tree without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import pyrnn
from pyrnn import _recurrent as spine


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="256,256,64,100", help="I,H,B,T")
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--rate", type=float, default=0.2)
    args = ap.parse_args()
    if args.threads:
        pyrnn.set_num_threads(args.threads)
    I, H, B, T = (int(v) for v in args.size.split(","))
    cell = spine.CELLS[args.cell]
    rng = np.random.default_rng(0)
    s = 1 / np.sqrt(H)
    w = spine.LayerWeights(*(rng.uniform(-s, s, shape).astype(np.float32)
                             for shape in ((cell.gates * H, I), (cell.gates * H, H), (cell.gates * H,), (cell.gates * H,))))
    x = rng.standard_normal((T, B, I), dtype=np.float32)
    h0 = np.zeros((B, H), np.float32)
    c0 = h0 if cell.has_cell_state else None
    grad = rng.standard_normal((T, B, H), dtype=np.float32)
    mask = ((rng.random((B, H)) >= args.rate) / np.float32(1 - args.rate)).astype(np.float32)

    def step(m):
        t0 = time.perf_counter()
        res = spine.forward(cell, x, h0, c0, weights=w, training=True, recurrent_mask=m)
        t1 = time.perf_counter()
        spine.backward(res.workspace, grad)
        return t1 - t0, time.perf_counter() - t1

    times = {"plain": [], "masked": []}
    per_block = max(1, args.repeat // args.rounds)
    for _ in range(args.rounds):
        for name, m in (("plain", None), ("masked", mask)):
            time.sleep(0.3)
            step(m)  # warm-up
            times[name] += [step(m) for _ in range(per_block)]
    print(f"{args.cell} I={I} H={H} B={B} T={T}, threads={pyrnn.get_num_threads()}, isa={pyrnn.isa()}, "
          f"{len(times['plain'])} runs each (median ms)")
    med = {name: [statistics.median(v[i] for v in ts) * 1e3 for i in (0, 1)] for name, ts in times.items()}
    for name, (f, b) in med.items():
        print(f"  {name:7s} forward {f:8.2f}  backward {b:8.2f}  step {f + b:8.2f}")
    (pf, pb), (mf, mb) = med["plain"], med["masked"]
    print(f"  overhead: forward {100 * (mf / pf - 1):+.1f}%  backward {100 * (mb / pb - 1):+.1f}%  "
          f"step {100 * ((mf + mb) / (pf + pb) - 1):+.1f}%")


if __name__ == "__main__":
    main()
