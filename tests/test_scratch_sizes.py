"""Each driver's reported scratch size (csrc/layer.h: scratch_bytes, used by the memory pre-check)
covers what it allocates: the peak of CacheAligned storage measured during the call."""

import numpy as np
import pytest

from pyrnn import _core
from test_core import CELLS, GATES

# (T, B, I, H): tiny; GEMMs past one k-block and row block; a batch split in row chunks; few
# columns (the narrow GEMM); long sequences of small steps (row windows).
SHAPES = [(2, 1, 1, 1), (3, 5, 300, 20), (2, 300, 5, 40), (4, 7, 2, 70), (40, 45, 3, 12), (2, 3, 600, 150)]


def inputs(cell, T, B, I, H, P, dtype, rng):
    G = GATES[cell]
    arr = lambda *s: (rng.standard_normal(s) * 0.3).astype(dtype)
    return dict(x=arr(T, B, I), h0=arr(B, P), c0=arr(B, H) if cell == "lstm" else None, w_ih=arr(G * H, I),
                w_hh=arr(G * H, P), b_ih=arr(G * H), b_hh=arr(G * H), w_hr=arr(P, H) if P != H else None)


def measured(call):
    _core._scratch_peak(reset=True)
    result = call()
    return _core._scratch_peak(), result


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
@pytest.mark.parametrize("cell", CELLS + ["lstm-proj"])
def test_reported_scratch_covers_the_measured_peak(cell, shape, dtype, threads):
    T, B, I, H = shape
    P = max(1, H // 2) if cell == "lstm-proj" else H
    cell = cell.split("-")[0]
    p = inputs(cell, T, B, I, H, P, dtype, np.random.default_rng(T + B + I + H))
    before = _core.get_num_threads()
    _core.set_num_threads(threads)
    try:
        def report(what):
            return _core._scratch_bytes(cell, what, T, B, I, H, P if P != H else 0, dtype)

        args = (cell, p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
        for what, training in (("inference", False), ("training", True)):
            peak, (out, hn, cn, ws) = measured(lambda: _core.forward(*args, training, w_hr=p["w_hr"]))
            assert 0 < peak <= report(what), what
        grads = [np.ones_like(out), np.ones_like(hn), None if cn is None else np.ones_like(cn)]
        peak, _ = measured(lambda: _core.backward(*args, out, ws, *grads, w_hr=p["w_hr"]))
        assert 0 < peak <= report("backward")
        if P == H:
            c = None if p["c0"] is None else p["c0"]
            for rows in (1, 4, B):  # the unpacked path (batch <= 4) and the sequence path
                peak, _ = measured(lambda: _core.cell_step(cell, p["x"][0, :rows], p["h0"][:rows],
                                                           None if c is None else c[:rows], p["w_ih"], p["w_hh"],
                                                           p["b_ih"], p["b_hh"]))
                assert peak <= _core._scratch_bytes(cell, "cell", 1, rows, I, H, 0, dtype), f"cell_step rows={rows}"
    finally:
        _core.set_num_threads(before)
