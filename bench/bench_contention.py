#!/usr/bin/env python
"""pyrnn, PyTorch and ONNX Runtime on a busy machine: each case idle and with 1 and 2 competing
CPU-bound processes, at each library's default thread count and at 1 thread, in one run.

    python bench/bench_contention.py                        # every case, loads 0, 1, 2
    python bench/bench_contention.py --cases lstm-mid --loads 0,1 --repeat 6 --markdown out.md

A competitor is a separate Python process spinning in a loop (as a notebook kernel, a compiler or
another test job would). For each load the competitors start, run for --settle seconds, and every
library/thread-count pair is timed in --rounds blocks taken in turn (so a slow spell falls on all).
The tutorial's `fit` (examples/tutorial.py's work, --fit-epochs epochs of SimpleRNN(50) +
Dense(1)) is timed the same way. The table gives each median and, per library,
default-threads / 1-thread: above 1 means the library's default is slower than one thread under
that load (a collapse when far above). A torch timing that exceeds --slow-ms is taken only once
per block: collapsed runs can take seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench  # noqa: E402  (cases, inputs, runners: one definition of each)
import numpy as np  # noqa: E402

import pyrnn  # noqa: E402

torch, ort = bench.torch, bench.ort

COMPETITOR = "while True: pass"


def start_competitors(n):
    return [subprocess.Popen([sys.executable, "-c", COMPETITOR]) for _ in range(n)]


def stop_competitors(procs):
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


class Config:
    """One library at one thread count: setup() before a block of timed calls, run() timed."""

    def __init__(self, name, setup, run):
        self.name, self.setup, self.run = name, setup, run


def time_block(cfg, repeat, slow_ms):
    cfg.setup()
    time.sleep(0.3)  # let threads the previous library left spinning (OpenMP) fall asleep
    cfg.run()  # warm-up (and the pool resize)
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        cfg.run()
        out.append(1e3 * (time.perf_counter() - t0))
        if out[-1] > slow_ms:
            break
    return out


def interleaved(configs, repeat, rounds, slow_ms):
    samples = {c.name: [] for c in configs}
    per_round = max(1, -(-repeat // rounds))
    for _ in range(rounds):
        for c in configs:
            samples[c.name] += time_block(c, per_round, slow_ms)
    return {k: statistics.median(v) for k, v in samples.items() if v}


def case_configs(case, mode, default_threads):
    x, grad_out = bench.make_inputs(case, np.float32)
    module = bench.pyrnn_module(case, np.float32)
    weights = module.state_dict()
    mine = bench.pyrnn_runner(case, module, x, grad_out)[mode]
    configs = []
    for n in sorted({default_threads, 1}, reverse=True):
        configs.append(Config(f"pyrnn@{n}", lambda n=n: pyrnn.set_num_threads(n), mine))
    if torch is not None:
        theirs = bench.torch_runner(case, weights, x, grad_out, np.float32)[mode]
        for n in sorted({torch_default_threads(), 1}, reverse=True):
            configs.append(Config(f"torch@{n}", lambda n=n: torch.set_num_threads(n), theirs))
    if ort is not None and mode == "forward":
        for n in sorted({default_threads, 1}, reverse=True):
            run = bench.ort_forward_runner(case, module, x, np.float32, n)["forward"]
            configs.append(Config(f"ort@{n}", lambda: None, run))
    return configs


_TORCH_DEFAULT = None


def torch_default_threads():
    global _TORCH_DEFAULT
    if _TORCH_DEFAULT is None:
        _TORCH_DEFAULT = torch.get_num_threads()
    return _TORCH_DEFAULT


def fit_configs(epochs, default_threads):
    from bench_fit import pyrnn_fit, torch_fit
    rng = np.random.default_rng(0)
    X, Y = rng.random((1000, 10, 1)), rng.random((1000, 1))
    configs = [Config(f"pyrnn@{n}", lambda n=n: pyrnn.set_num_threads(n), lambda: pyrnn_fit(X, Y, epochs))
               for n in sorted({default_threads, 1}, reverse=True)]
    if torch is not None:
        configs += [Config(f"torch@{n}", lambda n=n: torch.set_num_threads(n), lambda: torch_fit(X, Y, epochs))
                    for n in sorted({torch_default_threads(), 1}, reverse=True)]
    return configs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", default=",".join(c.name for c in bench.CASES) + ",fit")
    ap.add_argument("--modes", default="forward,train")
    ap.add_argument("--loads", default="0,1,2", help="numbers of competing CPU-bound processes")
    ap.add_argument("--repeat", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--settle", type=float, default=0.5, help="seconds competitors run before timing")
    ap.add_argument("--fit-epochs", type=int, default=20)
    ap.add_argument("--slow-ms", type=float, default=1500.0)
    ap.add_argument("--markdown", default=None, help="also write the table to this file")
    args = ap.parse_args(argv)
    default_threads = pyrnn.get_num_threads()
    wanted = args.cases.split(",")
    cases = [c for c in bench.CASES if c.name in wanted]
    loads = [int(v) for v in args.loads.split(",")]
    modes = args.modes.split(",")
    results = {}  # (case, mode, load) -> {config: ms}
    for load in loads:
        procs = start_competitors(load)
        try:
            time.sleep(args.settle)
            for case in cases:
                for mode in modes:
                    cfgs = case_configs(case, mode, default_threads)
                    results[(case.name, mode, load)] = interleaved(cfgs, args.repeat, args.rounds, args.slow_ms)
                    print(f"  load {load} {case.name} {mode} done", file=sys.stderr, flush=True)
            if "fit" in wanted:
                cfgs = fit_configs(args.fit_epochs, default_threads)
                results[("fit", f"{args.fit_epochs} epochs", load)] = interleaved(cfgs, 2, 2, 1e9)
                print(f"  load {load} fit done", file=sys.stderr, flush=True)
        finally:
            stop_competitors(procs)
    pyrnn.set_num_threads(default_threads)
    lines = table(results, default_threads)
    header = (f"pyrnn {pyrnn.__version__}, ISA {pyrnn.isa()}, {os.cpu_count()} CPUs, pyrnn default threads "
              f"{default_threads}" + (f", torch {torch.__version__} default threads {torch_default_threads()}"
                                      if torch is not None else "") + "; times in ms (medians)")
    print(header)
    print("\n".join(lines))
    worst = max((r for r in ratios(results, default_threads)), default=None)
    if worst is not None:
        print(f"worst pyrnn default/1-thread ratio under load: {worst:.2f} (target <= 1.25)")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(header + "\n\n" + "\n".join(lines) + "\n")


def ratios(results, default_threads):
    if default_threads == 1:
        return
    for (_, _, load), r in results.items():
        if load > 0 and f"pyrnn@{default_threads}" in r and "pyrnn@1" in r:
            yield r[f"pyrnn@{default_threads}"] / r["pyrnn@1"]


def table(results, default_threads):
    libs = ["pyrnn"] + (["torch"] if torch is not None else []) + (["ort"] if ort is not None else [])
    defaults = {"pyrnn": default_threads, "ort": default_threads,
                "torch": torch_default_threads() if torch is not None else 1}
    cols = []
    for lib in libs:
        d = defaults[lib]
        cols += [f"{lib}@{d}", f"{lib}@1"] if d != 1 else [f"{lib}@1"]
    head = ["case", "mode", "load"] + cols + [f"{lib} default/1" for lib in libs if defaults[lib] != 1]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (case, mode, load), r in results.items():
        cells = [case, mode, str(load)] + [f"{r[c]:.2f}" if c in r else "–" for c in cols]
        for lib in libs:
            d = defaults[lib]
            if d != 1:
                a, b = r.get(f"{lib}@{d}"), r.get(f"{lib}@1")
                cells.append(f"{a / b:.2f}" if a and b else "–")
        out.append("| " + " | ".join(cells) + " |")
    return out


if __name__ == "__main__":
    main()
