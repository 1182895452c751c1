#!/usr/bin/env python
"""A full PyTorch training loop with torch.nn's recurrent layers against pyrnn.torch's.

    python bench/bench_torch_train.py                         # every case, float32, 2 threads
    python bench/bench_torch_train.py --cases gru-mid --repeat 6 --rounds 2

Each step is what a training script does: optimizer.zero_grad(), forward of the recurrent
layer and a linear head, an MSE loss, loss.backward() (autograd yields the gradients of the
input and of every parameter) and Adam's step. Both models start from the same weights
(``pyrnn.torch.convert`` of a deep copy of the torch.nn model) and run on the same threads
(torch.set_num_threads and pyrnn.set_num_threads); times are medians of --repeat steps taken
in --rounds blocks with the two in turn, so a slow spell of a shared machine hits both.
The shapes are bench.py's cases; ratios below 1 mean pyrnn.torch is faster.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import CASES, interleaved_medians  # noqa: E402  (one set of cases, one timing method)

import pyrnn  # noqa: E402
import torch  # noqa: E402

import pyrnn.torch as rt  # noqa: E402

MODULES = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}


class Model(torch.nn.Module):
    def __init__(self, rnn, hidden):
        super().__init__()
        self.rnn = rnn
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out)


def training_step(model, optimizer, x, y):
    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.detach()
    return step


def run_case(case, dtype, repeat, rounds, notes):
    torch.manual_seed(0)
    ref = Model(MODULES[case.cell](case.I, case.H, dtype=dtype), case.H).to(dtype)
    ours = rt.convert(copy.deepcopy(ref))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(case.T, case.B, case.I, generator=g, dtype=dtype, requires_grad=True)
    y = torch.randn(case.T, case.B, 1, generator=g, dtype=dtype)
    steps = {}
    losses = {}
    for lib, model in (("torch", ref), ("pyrnn", ours)):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        steps[lib] = training_step(model, opt, x, y)
        losses[lib] = steps[lib]().item()  # the first step (also a warm-up) must agree
    if abs(losses["torch"] - losses["pyrnn"]) > 1e-4 * max(1.0, abs(losses["torch"])):
        notes.append(f"{case.name}: first-step losses differ: torch {losses['torch']:.6g}, pyrnn {losses['pyrnn']:.6g}")
    return interleaved_medians(steps, repeat, rounds, notes, case.name)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join(c.name for c in CASES), help="comma-separated case names")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=12, help="timed steps per library and case")
    p.add_argument("--rounds", type=int, default=3, help="blocks the steps are taken in, libraries in turn")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = p.parse_args(argv)
    names = args.cases.split(",")
    unknown = sorted(set(names) - {c.name for c in CASES})
    if unknown:
        p.error(f"unknown cases {unknown}; choose from {[c.name for c in CASES]}")
    torch.set_num_threads(args.threads)
    pyrnn.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    print(f"torch {torch.__version__}, pyrnn {pyrnn.__version__} ({pyrnn.isa()}), {args.threads} threads, "
          f"{args.dtype}, median of {args.repeat} training steps in {args.rounds} rounds")
    print("| case | I | H | B | T | torch.nn ms | pyrnn.torch ms | pyrnn/torch |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    notes = []
    for case in (c for c in CASES if c.name in names):
        med = run_case(case, dtype, args.repeat, args.rounds, notes)
        t, r = med.get("torch"), med.get("pyrnn")
        ratio = f"{r / t:.2f}" if t and r else "–"
        fmt = lambda v: f"{v:.2f}" if v else "–"  # noqa: E731
        print(f"| {case.name} | {case.I} | {case.H} | {case.B} | {case.T} | {fmt(t)} | {fmt(r)} | {ratio} |", flush=True)
    for note in notes:
        print("note:", note)


if __name__ == "__main__":
    main()
