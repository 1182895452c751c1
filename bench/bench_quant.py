#!/usr/bin/env python
"""int8 inference benchmark (issue 17): pyrnn float32 vs pyrnn int8 vs torch's dynamic int8 vs ONNX Runtime
running pyrnn's int8 ONNX export (DynamicQuantizeLSTM), and pyrnn bfloat16 vs torch bfloat16; and the
streaming case, a GRUCell called once per step (times per 100 steps).

    python bench/bench_quant.py                       # every case
    python bench/bench_quant.py --cases lstm-b1 --rounds 3 --repeat 6 --threads 2

Same weights (pyrnn's loaded into torch), same inputs, same thread count for everyone. Each
time is the median of --repeat runs taken in --rounds blocks with the three libraries in turn
(after one warm-up each), so a slow spell of a shared machine falls on all alike. The error
columns are max |out - out_float32| against pyrnn's float32 output on the same inputs. torch's
quantize_dynamic quantizes the activations per tensor; pyrnn's per row (pyrnn.reference_quant).
ort-q: a Sequential([LSTM]) with the same weights, quantize("int8"), exported to ONNX (the LSTM
becomes com.microsoft DynamicQuantizeLSTM, which quantizes activations per tensor) and run by
onnxruntime with --threads intra-op threads. torch-bf16: the float module cast to bfloat16.
gru-cell-stream: pyrnn.nn.GRUCell(64, 128) in eval mode and its quantized copies against torch.nn.GRUCell,
quantize_dynamic of it and its bfloat16 cast, each stepping a batch-1 stream of 100 steps (error on the
last state; no ONNX Runtime column).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

import pyrnn
from pyrnn import _core

CASES = {  # name: (I, H, B, T)
    "lstm-large": (1024, 1024, 64, 50),
    "lstm-mid": (256, 256, 64, 100),
    "lstm-b1": (128, 128, 1, 200),
    "tiny": (8, 16, 2, 5),  # a smoke test of the script, not a measurement
}
CELL_CASES = {"gru-cell-stream": (64, 128, 1, 100)}  # one GRUCell call per step, 100 steps per run


def _ort_int8(m, I, H, T, threads):
    """An onnxruntime session of pyrnn's int8 ONNX export of a Sequential([LSTM]) with m's weights."""
    import tempfile

    import onnxruntime as ort

    from pyrnn import layers, models

    model = models.Sequential([layers.Input((T, I)), layers.LSTM(H, return_sequences=True)])
    sd = m.state_dict()  # Keras's LSTM gate order i, f, c, o is torch's i, f, g, o; one bias = b_ih + b_hh
    model.set_weights([sd["weight_ih_l0"].T, sd["weight_hh_l0"].T, sd["bias_ih_l0"] + sd["bias_hh_l0"]])
    model.quantize("int8")
    with tempfile.TemporaryDirectory() as d:
        model.export(f"{d}/q.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        return ort.InferenceSession(f"{d}/q.onnx", opts, providers=["CPUExecutionProvider"])


def _torch_copies(torch, cls, I, H, state_dict):
    """torch's dynamic int8 and bfloat16 copies of a torch.nn ``cls`` (LSTM or GRUCell) holding
    pyrnn's weights: (quantize_dynamic module, bfloat16 module)."""
    from torch.ao.quantization import quantize_dynamic
    tm = cls(I, H)
    tm.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state_dict.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tq = quantize_dynamic(torch.nn.Sequential(tm), {cls}, dtype=torch.qint8)[0].eval()
    tb = cls(I, H).eval()
    tb.load_state_dict(tm.state_dict())
    return tq, tb.to(torch.bfloat16)


def _lstm(I, H, B, T, threads, torch):
    """(functions to time, their max errors against pyrnn float32) for one LSTM forward over (T, B, I)."""
    m = pyrnn.nn.LSTM(I, H, seed=0).eval()
    q, qb = m.quantize("int8"), m.quantize("bfloat16")
    x = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)
    fns = {"f32": lambda: m(x), "int8": lambda: q(x), "bf16": lambda: qb(x)}
    ref = m(x)[0]
    errs = {"int8": float(np.abs(q(x)[0] - ref).max()), "bf16": float(np.abs(qb(x)[0] - ref).max())}
    if torch is not None:
        tq, tb = _torch_copies(torch, torch.nn.LSTM, I, H, m.state_dict())
        xt = torch.from_numpy(x)

        def run_tq():
            with torch.inference_mode():
                return tq(xt)

        fns["torch-q"] = run_tq
        errs["torch-q"] = float(np.abs(run_tq()[0].numpy() - ref).max())
        xb = xt.to(torch.bfloat16)

        def run_tb():
            with torch.inference_mode():
                return tb(xb)

        fns["torch-bf16"] = run_tb
        errs["torch-bf16"] = float(np.abs(run_tb()[0].float().numpy() - ref).max())
    try:
        sess = _ort_int8(m, I, H, T, threads)
    except ImportError:
        sess = None
    if sess is not None:
        feed = {sess.get_inputs()[0].name: np.ascontiguousarray(x.transpose(1, 0, 2))}
        fns["ort-q"] = lambda: sess.run(None, feed)
        errs["ort-q"] = float(np.abs(sess.run(None, feed)[0].transpose(1, 0, 2) - ref).max())
    return fns, errs


def _cell_stream(I, H, B, T, torch):
    """The same for a GRUCell stepping a (T, B, I) stream one call per step; errors on the last state."""
    cell = pyrnn.nn.GRUCell(I, H, seed=0).eval()
    q, qb = cell.quantize("int8"), cell.quantize("bfloat16")
    xs = np.random.default_rng(0).standard_normal((T, B, I)).astype(np.float32)

    def stream(step, x, h):
        for t in range(T):
            h = step(x[t], h)
        return h

    h0 = np.zeros((B, H), np.float32)
    fns = {"f32": lambda: stream(cell, xs, h0), "int8": lambda: stream(q, xs, h0), "bf16": lambda: stream(qb, xs, h0)}
    ref = fns["f32"]()
    errs = {k: float(np.abs(fns[k]() - ref).max()) for k in ("int8", "bf16")}
    if torch is not None:
        tq, tb = _torch_copies(torch, torch.nn.GRUCell, I, H, cell.state_dict())
        xt, ht = torch.from_numpy(xs), torch.from_numpy(h0)

        def run(mod, x, h):
            with torch.inference_mode():
                return stream(mod, x, h)

        fns["torch-q"] = lambda: run(tq, xt, ht)
        fns["torch-bf16"] = lambda: run(tb, xt.to(torch.bfloat16), ht.to(torch.bfloat16))
        errs["torch-q"] = float(np.abs(fns["torch-q"]().numpy() - ref).max())
        errs["torch-bf16"] = float(np.abs(fns["torch-bf16"]().float().numpy() - ref).max())
    return fns, errs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=",".join([*CASES, *CELL_CASES]))
    p.add_argument("--threads", type=int, default=pyrnn.default_num_threads())
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=6)
    args = p.parse_args()
    pyrnn.set_num_threads(args.threads)
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    print(f"pyrnn isa {pyrnn.isa()}, int8 kernels {_core.int8_isa()}, bf16 kernels {_core.bf16_isa()}, threads {args.threads}, "
          f"median of {args.repeat} runs in {args.rounds} interleaved rounds"
          + (f", torch {torch.__version__} (engine {torch.backends.quantized.engine})" if torch else ""))
    header = f"{'case':<15} {'f32 ms':>8} {'int8 ms':>8} {'torch-q ms':>10} {'f32/int8':>8} {'int8/torch-q':>12} " \
             f"{'err int8':>9} {'err torch-q':>11} {'ort-q ms':>9} {'err ort-q':>9} {'bf16 ms':>8} {'err bf16':>9} " \
             f"{'torch-bf16 ms':>13} {'err torch-bf16':>14}"
    print(header)
    for name in args.cases.split(","):
        if name in CELL_CASES:
            fns, errs = _cell_stream(*CELL_CASES[name], torch)
        else:
            fns, errs = _lstm(*CASES[name], args.threads, torch)
        samples: dict = {k: [] for k in fns}
        per_round = -(-args.repeat // args.rounds)
        for _ in range(args.rounds):
            for lib, fn in fns.items():
                fn()  # warm-up
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    fn()
                    samples[lib].append(1e3 * (time.perf_counter() - t0))
        med = {k: statistics.median(v) for k, v in samples.items()}
        nan = float("nan")
        tq_ms = med.get("torch-q", nan)
        print(f"{name:<15} {med['f32']:>8.2f} {med['int8']:>8.2f} {tq_ms:>10.2f} {med['f32'] / med['int8']:>8.2f} "
              f"{med['int8'] / tq_ms:>12.2f} {errs['int8']:>9.4f} {errs.get('torch-q', nan):>11.4f} "
              f"{med.get('ort-q', nan):>9.2f} {errs.get('ort-q', nan):>9.4f} "
              f"{med['bf16']:>8.2f} {errs['bf16']:>9.4f} {med.get('torch-bf16', nan):>13.2f} "
              f"{errs.get('torch-bf16', nan):>14.4f}",
              flush=True)


if __name__ == "__main__":
    main()
