#!/usr/bin/env python
"""Benchmark pyrnn against the NumPy reference, PyTorch and ONNX Runtime on the CPU.

    python bench/bench.py                          # every case, float32, all pyrnn threads
    python bench/bench.py --quick                  # smoke run: few repeats, reference on small cases only
    python bench/bench.py --cases lstm-mid,gru-mid --threads 1 --repeat 20 --markdown bench.md

Every library runs the same shapes, the same weights (pyrnn's state_dict is loaded into
the others) and the same number of threads. Each timing is the median of --repeat runs,
taken in --rounds blocks with the libraries in turn (each block after one warm-up run), so a
slow spell of a shared machine falls on every library alike. "forward" is inference (pyrnn eval(), torch eval() under
inference_mode); "train" is a forward in training mode plus the full backward pass,
including the gradient w.r.t. the input. PyTorch and ONNX Runtime columns are skipped
when the package is not installed. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional


def _pin_blas_threads(argv):
    """Give the NumPy reference's BLAS the same --threads as everyone else. Must run before
    NumPy is imported (BLAS reads its thread count once, at load)."""
    value = None
    for i, arg in enumerate(argv):
        if arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
        elif arg == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
    if value is not None and value.isdigit():
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = value


_pin_blas_threads(sys.argv[1:])

import numpy as np  # noqa: E402

import pyrnn  # noqa: E402
from pyrnn import reference  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

try:
    import onnx  # noqa: F401  (pyrnn.onnx builds the graphs with it)
    import onnxruntime as ort

    import pyrnn.onnx
except ImportError:
    onnx = ort = None


# ---------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
SLOW_REF_GFLOP = 10.0  # the reference on a case above this forward size is timed once (see --slow-ref)
QUICK_REF_GFLOP = 0.5  # --quick: the reference only on cases below this (and lstm-mid forward)


@dataclass(frozen=True)
class Case:
    name: str
    cell: str  # "lstm", "gru" or "rnn" (tanh)
    I: int
    H: int
    B: int
    T: int

    def gflop(self, mode: str) -> float:
        """GEMM work in GFLOP: forward 2*T*B*G*H*(I+H); a training step counts 3x forward."""
        fwd = 2.0 * self.T * self.B * GATES[self.cell] * self.H * (self.I + self.H) / 1e9
        return fwd if mode == "forward" else 3.0 * fwd


CASES = [
    Case("lstm-small", "lstm", 32, 64, 32, 100),
    Case("lstm-mid", "lstm", 256, 256, 64, 100),
    Case("lstm-large", "lstm", 1024, 1024, 64, 50),
    Case("gru-mid", "gru", 256, 256, 64, 100),
    Case("rnn-mid", "rnn", 256, 256, 64, 100),
    Case("lstm-b1", "lstm", 128, 128, 1, 200),
]
STREAM = Case("gru-cell-stream", "gru", 64, 128, 1, 1)  # one GRUCell call per step
MODES = ("forward", "train")

Runner = Callable[[], object]  # one timed call


def times_ms(fn: Runner, repeat: int, warmup: int = 1) -> list:
    """Wall times of `repeat` calls of fn, in milliseconds, after `warmup` untimed calls."""
    # The library timed before may leave threads spinning for a while (OpenMP, OpenBLAS): let
    # them go to sleep first, or they take a core from this one (lstm-b1 read 2.4 ms, not 1.0).
    time.sleep(0.3)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(1e3 * (time.perf_counter() - t0))
    return times


def median_ms(fn: Runner, repeat: int, warmup: int = 1) -> float:
    return statistics.median(times_ms(fn, repeat, warmup))


def interleaved_medians(fns: dict, repeat: int, rounds: int, notes: list, what: str) -> dict:
    """Median ms of each library's calls, timed in `rounds` blocks taken in turn: on a noisy
    machine a slow spell then falls on every library, not on whichever ran during it."""
    samples = {lib: [] for lib in fns}
    per_round = -(-repeat // rounds)
    for _ in range(rounds):
        for lib, fn in fns.items():
            if samples[lib] is None:
                continue
            try:
                samples[lib] += times_ms(fn, per_round)
            except Exception as e:  # keep going: one failing library must not hide the others
                notes.append(f"{what} {lib}: failed ({type(e).__name__}: {e})")
                samples[lib] = None
    return {lib: statistics.median(s) for lib, s in samples.items() if s}


def make_inputs(case: Case, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((case.T, case.B, case.I)).astype(dtype)
    grad_out = rng.standard_normal((case.T, case.B, case.H)).astype(dtype)
    return x, grad_out


# ---------------------------------------------------------------------------
# Runners: each returns {"forward": fn, "train": fn} (a mode may be missing) or None
# ---------------------------------------------------------------------------


def pyrnn_module(case: Case, dtype):
    cls = {"lstm": pyrnn.nn.LSTM, "gru": pyrnn.nn.GRU, "rnn": pyrnn.nn.RNN}[case.cell]
    kwargs = {"nonlinearity": "tanh"} if case.cell == "rnn" else {}
    return cls(case.I, case.H, dtype=dtype, seed=0, **kwargs)


def pyrnn_runner(case: Case, module, x, grad_out):
    def forward():
        module.eval()
        return module(x)

    def train():
        module.train()
        module.zero_grad()
        module(x)
        return module.backward(grad_out)

    return {"forward": forward, "train": train}


def reference_runner(case: Case, weights, x, grad_out):
    w = [weights[k] for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    if case.cell == "lstm":
        fwd = lambda: reference.lstm_forward(x, None, None, *w)  # noqa: E731
        bwd = reference.lstm_backward
    elif case.cell == "gru":
        fwd = lambda: reference.gru_forward(x, None, *w, reset_after=True)  # noqa: E731
        bwd = reference.gru_backward
    else:
        fwd = lambda: reference.rnn_forward(x, None, *w, nonlinearity="tanh")  # noqa: E731
        bwd = reference.rnn_backward

    def train():
        cache = fwd()[-1]
        return bwd(cache, grad_out)

    return {"forward": fwd, "train": train}


def torch_module(case: Case, weights, dtype):
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[case.cell]
    module = cls(case.I, case.H, dtype=tdtype)
    module.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()})
    return module


def torch_runner(case: Case, weights, x, grad_out, dtype):
    if torch is None:
        return None
    module = torch_module(case, weights, dtype)
    xt = torch.from_numpy(x)
    xt_grad = torch.from_numpy(x.copy()).requires_grad_(True)
    gt = torch.from_numpy(grad_out)

    def forward():
        module.eval()
        with torch.inference_mode():
            return module(xt)

    def train():
        module.train()
        module.zero_grad(set_to_none=True)
        xt_grad.grad = None
        out, _ = module(xt_grad)
        out.backward(gt)
        return xt_grad.grad

    return {"forward": forward, "train": train}


def ort_forward_runner(case: Case, module, x, dtype, threads: int):
    """An ONNX Runtime session running ``module`` exported by ``pyrnn.onnx`` (inference only).

    Returns None when onnx or onnxruntime is not installed, or for float64 (ONNX Runtime's
    CPU recurrent kernels are float32 only).
    """
    if ort is None or dtype != np.float32:
        return None
    model = pyrnn.onnx.to_onnx(module)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    # Its pool's threads would otherwise keep spinning after each run and take the cores from
    # whichever library is timed next.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed = {"input": x}
    return {"forward": lambda: sess.run(None, feed)}


# ---------------------------------------------------------------------------
# Running the cases
# ---------------------------------------------------------------------------


@dataclass
class Row:
    case: str
    mode: str
    gflop: float
    pyrnn: Optional[float] = None  # ms (stream: µs per step)
    ref: Optional[float] = None
    torch: Optional[float] = None
    ort: Optional[float] = None


def reference_plan(case: Case, mode: str, args):
    """(run it?, repeats, warm-up runs) for the NumPy reference, which is slow."""
    if args.quick:
        small = case.gflop("forward") < QUICK_REF_GFLOP
        return (small or (case.name == "lstm-mid" and mode == "forward")), args.repeat, 1
    if case.gflop("forward") > SLOW_REF_GFLOP:
        if args.slow_ref == "skip":
            return False, 0, 0
        if args.slow_ref == "once":
            return True, 1, 0
    return True, args.repeat, 1


def check_agreement(case, module, weights, x, dtype, ort_runner, notes):
    """Compare pyrnn's forward output once with PyTorch's (or the reference's) and with ONNX
    Runtime's, so a broken kernel or graph cannot post a fast time silently."""
    module.eval()
    out = module(x)[0]
    others = {}
    if torch is not None:
        with torch.inference_mode():
            others["torch"] = torch_module(case, weights, dtype).eval()(torch.from_numpy(x))[0].numpy()
    elif case.gflop("forward") < SLOW_REF_GFLOP:
        others["reference"] = reference_runner(case, weights, x, None)["forward"]()[0]
    if ort_runner is not None:
        others["ort"] = ort_runner["forward"]()[0]
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for who, expected in others.items():
        err = float(np.max(np.abs(out - expected)))
        if not err <= tol:
            notes.append(f"WARNING {case.name}: max |pyrnn - {who}| = {err:.3g} > {tol:g} (forward outputs disagree)")


def run_case(case: Case, args, notes) -> list:
    dtype = args.dtype
    x, grad_out = make_inputs(case, dtype)
    module = pyrnn_module(case, dtype)
    weights = module.state_dict()
    runners = {
        "pyrnn": pyrnn_runner(case, module, x, grad_out),
        "ref": reference_runner(case, weights, x, grad_out),
        "torch": torch_runner(case, weights, x, grad_out, dtype),
        "ort": ort_forward_runner(case, module, x, dtype, args.threads),
    }
    check_agreement(case, module, weights, x, dtype, runners["ort"], notes)
    rows = []
    for mode in MODES:
        row = Row(case.name, mode, case.gflop(mode))
        run, repeat, warmup = reference_plan(case, mode, args)
        if run and runners["ref"] is not None and mode in runners["ref"]:  # slow: on its own, not in the rounds
            if repeat == 1 and args.repeat > 1:
                notes.append(f"{case.name} {mode}: the NumPy reference was timed once, without warm-up "
                             f"(slow; --slow-ref full times it like the others)")
            try:
                row.ref = median_ms(runners["ref"][mode], repeat, warmup)
            except Exception as e:
                notes.append(f"{case.name} {mode} ref: failed ({type(e).__name__}: {e})")
        fns = {lib: r[mode] for lib, r in runners.items() if lib != "ref" and r is not None and mode in r}
        for lib, ms in interleaved_medians(fns, args.repeat, args.rounds, notes, f"{case.name} {mode}").items():
            setattr(row, lib, ms)
        rows.append(row)
        print(f"  {case.name:<11} {mode:<7} done", file=sys.stderr, flush=True)
    if not args.quick and args.slow_ref == "skip" and case.gflop("forward") > SLOW_REF_GFLOP:
        notes.append(f"{case.name}: NumPy reference skipped (--slow-ref skip)")
    return rows


def run_stream(args, notes) -> Optional[Row]:
    """GRUCell 64->128 at batch 1, one call per step; times are µs per step."""
    if not hasattr(pyrnn.nn, "GRUCell"):
        notes.append("stream: pyrnn.nn.GRUCell does not exist yet, case skipped")
        return None
    dtype, case = args.dtype, STREAM
    steps = 200 if args.quick else 1000
    xs = np.random.default_rng(2).standard_normal((steps, 1, case.I)).astype(dtype)
    h0 = np.zeros((1, case.H), dtype)
    try:
        cell = pyrnn.nn.GRUCell(case.I, case.H, dtype=dtype, seed=0)
    except TypeError:
        cell = pyrnn.nn.GRUCell(case.I, case.H)
    if hasattr(cell, "eval"):
        cell.eval()
    weights = cell.state_dict()
    row = Row("gru-cell-stream", "step", case.gflop("forward"))

    def run_pyrnn():
        h = h0
        for t in range(steps):
            h = cell(xs[t], h)
        return h

    def run_ref():
        h = h0
        w = [weights[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        for t in range(steps):
            h = reference.gru_forward(xs[t][None], h, *w)[1]
        return h

    runners = {"pyrnn": run_pyrnn, "ref": run_ref}
    if torch is not None:
        tcell = torch.nn.GRUCell(case.I, case.H, dtype=torch.float32 if dtype == np.float32 else torch.float64)
        tcell.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()})
        tcell.eval()
        txs, th0 = torch.from_numpy(xs), torch.from_numpy(h0)

        def run_torch():
            with torch.inference_mode():
                h = th0
                for t in range(steps):
                    h = tcell(txs[t], h)
                return h

        runners["torch"] = run_torch
    for lib, fn in runners.items():
        try:
            setattr(row, lib, 1e3 * median_ms(fn, args.repeat) / steps)  # ms per run -> µs per step
        except Exception as e:
            notes.append(f"stream {lib}: failed ({type(e).__name__}: {e})")
    print("  stream      step    done", file=sys.stderr, flush=True)
    return row


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def ratio(a, b):
    return a / b if a is not None and b is not None and b > 0 else None


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def table(rows, stream: Optional[Row], ceiling: Optional[float] = None):
    """(header, lines) for the main table, and the same for the stream case. `ceiling`: the sgemm
    GFLOP/s that "% ceiling" divides by."""
    header = ["case", "mode", "pyrnn ms", "reference ms", "torch ms", "ort ms", "pyrnn GFLOP/s", "% ceiling",
              "ref/pyrnn", "pyrnn/torch", "pyrnn/ort"]
    lines = []
    for r in rows:
        gflops = r.gflop / (r.pyrnn / 1e3) if r.pyrnn else None
        share = 100 * gflops / ceiling if gflops and ceiling else None
        lines.append([r.case, r.mode, fmt(r.pyrnn, ".2f"), fmt(r.ref, ".2f"), fmt(r.torch, ".2f"), fmt(r.ort, ".2f"),
                      fmt(gflops, ".1f"), fmt(share, ".0f"),
                      fmt(ratio(r.ref, r.pyrnn), ".1f") + ("x" if r.ref and r.pyrnn else ""),
                      fmt(ratio(r.pyrnn, r.torch), ".2f"), fmt(ratio(r.pyrnn, r.ort), ".2f")])
    tables = [(header, lines)]
    if stream is not None:
        s = stream
        gflops = s.gflop / (s.pyrnn / 1e6) if s.pyrnn else None
        tables.append((["case", "mode", "pyrnn µs/step", "reference µs/step", "torch µs/step", "pyrnn GFLOP/s",
                        "ref/pyrnn", "pyrnn/torch"],
                       [[s.case, s.mode, fmt(s.pyrnn, ".2f"), fmt(s.ref, ".2f"), fmt(s.torch, ".2f"),
                         fmt(gflops, ".2f"), fmt(ratio(s.ref, s.pyrnn), ".1f") + ("x" if s.ref and s.pyrnn else ""),
                         fmt(ratio(s.pyrnn, s.torch), ".2f")]]))
    return tables


def render_text(header, lines):
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines)]
    out = ["  ".join(h.rjust(w) if i > 1 else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    out.append("  ".join("-" * w for w in widths))
    for line in lines:
        out.append("  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths))))
    return "\n".join(out)


def render_markdown(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()


def machine_lines(args):
    versions = [f"numpy {np.__version__}"]
    versions.append(f"torch {torch.__version__}" if torch is not None else "torch: not installed")
    versions.append(f"onnxruntime {ort.__version__}" if ort is not None else "onnxruntime: not installed")
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    return [
        f"CPU: {cpu_model()}, {os.cpu_count()} logical cores",
        f"pyrnn {pyrnn.__version__} ({os.path.dirname(pyrnn.__file__)}), ISA {pyrnn.isa()}, "
        f"threads {args.threads} (pyrnn, torch, ort; reference BLAS: {blas})",
        ", ".join(versions),
        f"dtype {np.dtype(args.dtype).name}, median of {args.rounds * -(-args.repeat // args.rounds)} runs, "
        f"in {args.rounds} rounds taking the libraries in turn, each after 1 warm-up"
        + (" (--quick)" if args.quick else ""),
    ]


LEGEND = ("ref/pyrnn = speedup of pyrnn over the NumPy reference (higher is better); pyrnn/torch and "
          "pyrnn/ort = ratio of medians (below 1: pyrnn is faster). GFLOP/s counts the GEMMs only: "
          "forward 2*T*B*G*H*(I+H), train 3x forward.")


def plot(rows, path, stream: Optional[Row] = None):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"--plot: matplotlib is not installed, {path} not written", file=sys.stderr)
        return
    rows = rows + ([stream] if stream is not None else [])
    labels = [f"{r.case}\n{r.mode}" for r in rows]
    xs = np.arange(len(rows))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8, len(rows) * 0.9), 8), sharex=True)
    series = [("pyrnn/torch", [ratio(r.pyrnn, r.torch) for r in rows]),
              ("pyrnn/ort", [ratio(r.pyrnn, r.ort) for r in rows])]
    series = [(n, v) for n, v in series if any(x is not None for x in v)]
    width = 0.8 / max(1, len(series))
    for k, (name, values) in enumerate(series):
        ax1.bar(xs + (k - (len(series) - 1) / 2) * width, [np.nan if v is None else v for v in values], width,
                label=name)
    ax1.axhline(1.0, color="k", lw=0.8)
    ax1.set_yscale("log")  # 0.5 and 2 are the same distance from parity
    ax1.set_ylabel("time ratio, log scale (below 1: pyrnn faster)")
    ax1.legend()
    ax2.bar(xs, [np.nan if ratio(r.ref, r.pyrnn) is None else ratio(r.ref, r.pyrnn) for r in rows], 0.6,
            color="tab:green")
    ax2.set_yscale("log")
    ax2.set_ylabel("speedup vs NumPy reference")
    ax2.set_xticks(xs, labels, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot written to {path}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    names = [c.name for c in CASES] + ["stream"]
    p.add_argument("--cases", default="all",
                   help=f"comma-separated subset of: {', '.join(names)} (default: all)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every library (default: pyrnn.get_num_threads())")
    p.add_argument("--repeat", type=int, default=None,
                   help="timed runs per measurement, the median is reported (default 10; 3 with --quick)")
    p.add_argument("--rounds", type=int, default=None,
                   help="blocks each library's runs are split into, libraries taken in turn (default 3; 1 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: few repeats, the NumPy reference only on small cases and lstm-mid forward")
    p.add_argument("--slow-ref", choices=["once", "full", "skip"], default="once",
                   help=f"how to time the NumPy reference on cases above {SLOW_REF_GFLOP:g} GFLOP forward "
                        "(lstm-large): once without warm-up (default), like the others, or not at all")
    p.add_argument("--markdown", metavar="PATH", help="also write the table as markdown to PATH")
    p.add_argument("--plot", metavar="PATH", help="also write a bar chart of the ratios (needs matplotlib)")
    p.add_argument("--memory-probe", choices=["pyrnn", "torch"], help=argparse.SUPPRESS)  # internal, see below
    args = p.parse_args(argv)
    selected = names if args.cases == "all" else [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in selected if c not in names]
    if unknown:
        p.error(f"unknown case(s) {unknown}; choose from {names}")
    args.cases = selected
    args.dtype = np.float32 if args.dtype == "float32" else np.float64
    if args.repeat is None:
        args.repeat = 3 if args.quick else 10
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    if args.threads is None:
        args.threads = pyrnn.get_num_threads()
    if args.threads < 1:
        p.error("--threads must be >= 1")
    return args


CEILING_PROBE = """
import json, sys, time
import numpy as np
n = int(sys.argv[1])
a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
a @ a
times = []
for _ in range(3):
    t = time.perf_counter(); a @ a; times.append(time.perf_counter() - t)
try:
    from threadpoolctl import threadpool_info
    kernel = ", ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
                       f"{i.get('num_threads')} threads" for i in threadpool_info() if i.get("user_api") == "blas")
except ImportError:
    kernel = "unknown (pip install threadpoolctl)"
print(json.dumps({"gflops": 2 * n ** 3 / sorted(times)[1] / 1e9, "kernel": kernel}))
"""


def sgemm_ceiling(args, notes):
    """The machine's float32 ceiling: a 2048^3 sgemm by NumPy's OpenBLAS with the kernel it picks
    for this CPU. Measured in a subprocess without OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE (set on some
    machines for old OpenBLAS builds, they force a narrower kernel), with --threads threads."""
    import json
    n = 1024 if args.quick else 2048
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["OPENBLAS_NUM_THREADS"] = str(args.threads)
    try:
        out = subprocess.run([sys.executable, "-c", CEILING_PROBE, str(n)], env=env, capture_output=True,
                             text=True, timeout=300, check=True).stdout
        probe = json.loads(out.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as e:
        notes.append(f"sgemm ceiling: probe failed ({type(e).__name__}: {e})")
        return None
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    ours = 2 * n ** 3 / median_ms(lambda: pyrnn._core.matmul(a, a), 3) / 1e6
    notes.append(f"ceiling: sgemm {n}^3 by OpenBLAS with its own kernel ({probe['kernel']}) "
                 f"{probe['gflops']:.0f} GFLOP/s; pyrnn's GEMM {ours:.0f} GFLOP/s")
    return probe["gflops"]


def thread_scaling(args, notes):
    """lstm-mid forward with 1 thread against --threads threads (the issue's >= 1.7x on 2)."""
    if args.threads < 2:
        return
    case = next(c for c in CASES if c.name == "lstm-mid")
    x, _ = make_inputs(case, args.dtype)
    module = pyrnn_module(case, args.dtype).eval()

    def forward_on(n):  # the pool is resized by the warm-up call of each block
        pyrnn.set_num_threads(n)
        return module(x)
    times = interleaved_medians({n: (lambda n=n: forward_on(n)) for n in (1, args.threads)}, args.repeat,
                                args.rounds, notes, "thread scaling")
    pyrnn.set_num_threads(args.threads)
    if len(times) < 2:
        return
    notes.append(f"lstm-mid forward: {times[1]:.1f} ms on 1 thread, {times[args.threads]:.1f} ms on "
                 f"{args.threads}: {times[1] / times[args.threads]:.2f}x")


def memory_probe(args):
    """In a fresh process: the growth of peak RSS (MB) over one lstm-mid training step of one library."""
    case = next(c for c in CASES if c.name == "lstm-mid")
    x, grad_out = make_inputs(case, args.dtype)
    module = pyrnn_module(case, args.dtype)
    runner = (pyrnn_runner(case, module, x, grad_out) if args.memory_probe == "pyrnn"
              else torch_runner(case, module.state_dict(), x, grad_out, args.dtype))
    before = peak_rss_kb()
    runner["train"]()
    print((peak_rss_kb() - before) / 1024)


def peak_rss_kb():
    """This process's peak RSS. Not getrusage's ru_maxrss: Linux carries that over exec from the
    parent, so a probe started by a bench that has grown large would read its parent's peak."""
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmHWM:")).split()[1])


def training_memory(args, notes):
    """Peak memory of a training step, pyrnn against PyTorch, each measured in its own process."""
    grown = {}
    for lib in ["pyrnn"] + (["torch"] if torch is not None else []):
        cmd = [sys.executable, os.path.abspath(__file__), "--memory-probe", lib, "--threads", str(args.threads),
               "--dtype", np.dtype(args.dtype).name]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            notes.append(f"memory probe of {lib} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        grown[lib] = float(done.stdout.split()[-1])
    notes.append("lstm-mid train: peak RSS growth of one step: " +
                 ", ".join(f"{lib} {mb:.0f} MB" for lib, mb in grown.items()))


def main(argv=None):
    args = parse_args(argv)
    pyrnn.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    if args.memory_probe:
        return memory_probe(args)

    header = machine_lines(args)
    print("\n".join(header), flush=True)
    notes, rows = [], []
    for case in CASES:
        if case.name in args.cases:
            rows += run_case(case, args, notes)
    stream = run_stream(args, notes) if "stream" in args.cases else None
    ceiling = sgemm_ceiling(args, notes) if args.dtype == np.float32 else None
    if "lstm-mid" in args.cases and not args.quick:
        thread_scaling(args, notes)
        training_memory(args, notes)
    if args.quick:
        notes.append(f"--quick: the NumPy reference runs only on cases under {QUICK_REF_GFLOP:g} GFLOP "
                     "forward, plus lstm-mid forward")
    if torch is None:
        notes.append("torch columns empty: PyTorch is not installed")
    if ort is None:
        notes.append("ort columns empty: onnx and onnxruntime are not both installed")
    elif args.dtype == np.float64:
        notes.append("ort columns empty: ONNX Runtime's CPU recurrent kernels are float32 only")

    tables = table(rows, stream, ceiling) if rows or stream else []
    print()
    for h, lines in tables:
        if lines:
            print(render_text(h, lines) + "\n")
    print(LEGEND)
    for n in notes:
        print("note: " + n)

    if args.markdown:
        md = ["\n".join(f"- {line}" for line in header), ""]
        md += [render_markdown(h, lines) + "\n" for h, lines in tables if lines]
        md += [LEGEND, ""] + [f"- {n}" for n in notes]
        with open(args.markdown, "w") as f:
            f.write("\n".join(md) + "\n")
        print(f"markdown written to {args.markdown}")
    if args.plot:
        plot(rows, args.plot, stream)


if __name__ == "__main__":
    main()
