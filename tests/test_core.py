"""The C++ core (pyrnn._core) against the NumPy reference, cell by cell.

Runs with whatever ISA this process chose (PYRNN_ISA forces one; tests/test_isa.py reruns
this file under every ISA the CPU supports). Sizes straddle the SIMD widths (8 and 16 float
lanes, 4 and 8 double lanes), the micro-tile heights and the GEMM blocking (K > 256, M > 96).
"""

import numpy as np
import pytest

from pyrnn import _core
from pyrnn import reference as ref

CELLS = ["rnn_tanh", "rnn_relu", "rnn_sigmoid", "rnn_linear", "gru", "gru_reset_before", "lstm"]
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "rnn_sigmoid": 1, "rnn_linear": 1, "gru": 3, "gru_reset_before": 3, "lstm": 4}
SIZES = [1, 3, 7, 8, 15, 16, 17, 33, 64]

# (T, B, I, H): every size in SIZES as H and as I, batches 1, 2, 5 and 17 (tile tails),
# sequence lengths 1, 2, 9; plus shapes that cross the GEMM blocks, the row chunks of a step
# and its k-chunks (H >= 512), and the weight prefetch (more than 512 KB of weights per thread).
SHAPES = [(( 1, 2, 9)[i % 3], (1, 2, 5, 17)[i % 4], SIZES[(i + 4) % 9], h) for i, h in enumerate(SIZES)]
SHAPES += [(9, 17, 300, 20), (3, 40, 5, 300), (2, 1, 1, 1), (2, 300, 5, 20), (2, 13, 3, 600)]
# Long sequences of small steps: with several threads each takes windows of 16 rows through
# the whole time loop (csrc/layer_common.h: over_row_windows); B ends mid-window and mid-tile.
SHAPES += [(60, 45, 3, 12), (30, 33, 5, 31)]

TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-5)}


def make_inputs(cell, shape, dtype, bias=True, seed=0):
    T, B, I, H = shape
    rng = np.random.default_rng(seed)
    G, s = GATES[cell], 1 / np.sqrt(H)
    arr = lambda *shp, scale=1.0: (rng.standard_normal(shp) * scale).astype(dtype)
    p = dict(x=arr(T, B, I), h0=arr(B, H, scale=0.5), c0=arr(B, H, scale=0.5) if cell == "lstm" else None,
             w_ih=rng.uniform(-s, s, (G * H, I)).astype(dtype), w_hh=rng.uniform(-s, s, (G * H, H)).astype(dtype),
             b_ih=rng.uniform(-s, s, G * H).astype(dtype) if bias else None,
             b_hh=rng.uniform(-s, s, G * H).astype(dtype) if bias else None)
    g = dict(grad_out=arr(T, B, H), grad_hn=arr(B, H), grad_cn=arr(B, H) if cell == "lstm" else None)
    return p, g


def reference(cell, p, g):
    """Forward and backward of the NumPy reference, in float64."""
    f = {k: None if v is None else v.astype(np.float64) for k, v in {**p, **g}.items()}
    args = (f["x"], f["h0"])
    weights = (f["w_ih"], f["w_hh"], f["b_ih"], f["b_hh"])
    if cell == "lstm":
        out, (hn, cn), cache = ref.lstm_forward(*args, f["c0"], *weights)
        grads = ref.lstm_backward(cache, f["grad_out"], f["grad_hn"], f["grad_cn"])
    elif cell.startswith("gru"):
        out, hn, cache = ref.gru_forward(*args, *weights, reset_after=cell == "gru")
        cn, grads = None, ref.gru_backward(cache, f["grad_out"], f["grad_hn"])
    else:
        out, hn, cache = ref.rnn_forward(*args, *weights, nonlinearity=cell[4:])
        cn, grads = None, ref.rnn_backward(cache, f["grad_out"], f["grad_hn"])
    names = ["x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    return (out, hn, cn), tuple(grads.get(n) for n in names)


def core(cell, p, g, training=True):
    out, hn, cn, ws = _core.forward(cell, p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"],
                                    training)
    if not training:
        return (out, hn, cn), None
    grads = _core.backward(cell, p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], out, ws,
                           g["grad_out"], g["grad_hn"], g["grad_cn"])
    return (out, hn, cn), grads


def assert_close(name, got, want, dtype):
    if want is None:
        assert got is None, name
        return
    assert got.dtype == dtype, name
    tol = TOL[dtype]
    # Gradients of weights sum T*B terms: scale the absolute tolerance by the magnitude.
    atol = tol["atol"] * max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=atol, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
@pytest.mark.parametrize("cell", CELLS)
def test_forward_and_backward_match_reference(cell, shape, dtype):
    p, g = make_inputs(cell, shape, dtype)
    (want_states, want_grads) = reference(cell, p, g)
    got_states, got_grads = core(cell, p, g)
    for name, got, want in zip(["out", "h_n", "c_n"], got_states, want_states):
        assert_close(name, got, want, dtype)
    for name, got, want in zip(["dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"], got_grads, want_grads):
        assert_close(name, got, want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cell", CELLS)
def test_without_bias(cell, dtype):
    p, g = make_inputs(cell, (4, 3, 5, 19), dtype, bias=False)
    want_states, want_grads = reference(cell, p, g)
    got_states, got_grads = core(cell, p, g)
    for got, want in zip(got_states + got_grads, want_states + want_grads):
        assert_close("no-bias", got, want, dtype)


@pytest.mark.parametrize("cell", CELLS)
def test_inference_equals_training_forward_bitwise(cell):
    p, g = make_inputs(cell, (7, 5, 9, 33), np.float32)
    train, _ = core(cell, p, g, training=True)
    infer, _ = core(cell, p, g, training=False)
    for a, b in zip(train, infer):
        if a is not None:
            assert np.array_equal(a, b)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("shape", [(6, 40, 70, 150), (3, 300, 20, 40), (2, 517, 5, 24), (60, 45, 3, 12)])
def test_results_do_not_depend_on_thread_count(cell, shape):
    import pyrnn

    p, g = make_inputs(cell, shape, np.float32)
    before = pyrnn.get_num_threads()
    try:
        pyrnn.set_num_threads(1)
        one = core(cell, p, g)
        pyrnn.set_num_threads(2)
        two = core(cell, p, g)
        pyrnn.set_num_threads(3)
        three = core(cell, p, g)
    finally:
        pyrnn.set_num_threads(before)
    flat = lambda r: [a for a in r[0] + r[1] if a is not None]
    for a, b, c in zip(flat(one), flat(two), flat(three)):
        assert np.array_equal(a, b) and np.array_equal(a, c)


@pytest.mark.parametrize("cell", CELLS)
def test_zero_length_sequence(cell):
    p, g = make_inputs(cell, (0, 3, 4, 5), np.float64)
    (out, hn, cn), grads = core(cell, p, g)
    assert out.shape == (0, 3, 5)
    np.testing.assert_array_equal(hn, p["h0"])
    dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr = grads
    assert dw_hr is None
    np.testing.assert_array_equal(dh0, g["grad_hn"])
    assert dx.shape == (0, 3, 4) and not dw_ih.any() and not dw_hh.any() and not db_ih.any()
    if cell == "lstm":
        np.testing.assert_array_equal(cn, p["c0"])
        np.testing.assert_array_equal(dc0, g["grad_cn"])


def test_gradients_pass_central_differences_float64():
    """The core's own gradients against finite differences of the core's forward."""
    cell, eps = "lstm", 1e-6
    p, g = make_inputs(cell, (3, 2, 3, 5), np.float64, seed=3)

    def loss(q):
        (out, hn, cn), _ = core(cell, q, g, training=False)
        return (out * g["grad_out"]).sum() + (hn * g["grad_hn"]).sum() + (cn * g["grad_cn"]).sum()

    _, grads = core(cell, p, g)
    for key, grad in zip(["x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"], grads):
        numeric = np.zeros_like(p[key])
        for idx in np.ndindex(p[key].shape):
            plus = {**p, key: p[key].copy()}
            minus = {**p, key: p[key].copy()}
            plus[key][idx] += eps
            minus[key][idx] -= eps
            numeric[idx] = (loss(plus) - loss(minus)) / (2 * eps)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8, err_msg=key)


@pytest.mark.parametrize("cell", ["rnn_tanh", "gru", "lstm"])
def test_nan_propagates_and_huge_inputs_saturate(cell):
    p, g = make_inputs(cell, (3, 2, 4, 9), np.float32)
    p["x"][1, 0, 0] = np.nan
    (out, hn, _), _ = core(cell, p, g, training=False)
    assert np.isnan(out[1:, 0]).any() and not np.isnan(out[:, 1]).any() and not np.isnan(out[0]).any()
    p, g = make_inputs(cell, (3, 2, 4, 9), np.float32)
    p["x"] *= 1e30
    (out, hn, _), _ = core(cell, p, g, training=False)
    assert np.isfinite(out).all() and np.abs(out).max() <= 1.0


# Keras's other GRU/LSTM activations run on the kernels that read them from the arguments.
ACTIVATION_PAIRS = [("relu", "hard_sigmoid"), ("linear", "tanh"), ("sigmoid", "linear"), ("hard_sigmoid", "relu"),
                    ("tanh", "hard_sigmoid")]


# Long runs only with bounded gates: unbounded ones (linear, relu) let the state grow without
# limit over 60 steps, which float32 cannot follow.
ACTIVATION_CASES = [(pair, (5, 3, 4, 17)) for pair in ACTIVATION_PAIRS] + [
    (("relu", "hard_sigmoid"), (60, 45, 3, 12)), (("linear", "tanh"), (60, 45, 3, 12))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("acts, shape", ACTIVATION_CASES, ids=lambda v: "-".join(map(str, v)))
@pytest.mark.parametrize("cell", ["gru", "gru_reset_before", "lstm"])
def test_gated_activations_match_reference(cell, acts, shape, dtype):
    activation, recurrent_activation = acts
    p, g = make_inputs(cell, shape, dtype)
    kw = dict(activation=activation, recurrent_activation=recurrent_activation)
    f = {k: None if v is None else v.astype(np.float64) for k, v in {**p, **g}.items()}
    weights = (f["w_ih"], f["w_hh"], f["b_ih"], f["b_hh"])
    if cell == "lstm":
        out, (hn, cn), cache = ref.lstm_forward(f["x"], f["h0"], f["c0"], *weights, **kw)
        grads = ref.lstm_backward(cache, f["grad_out"], f["grad_hn"], f["grad_cn"])
    else:
        out, hn, cache = ref.gru_forward(f["x"], f["h0"], *weights, reset_after=cell == "gru", **kw)
        cn, grads = None, ref.gru_backward(cache, f["grad_out"], f["grad_hn"])
    args = (cell, p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    o, h, c, ws = _core.forward(*args, True, **kw)
    got = _core.backward(*args, o, ws, g["grad_out"], g["grad_hn"], g["grad_cn"], **kw)
    for name, a, b in [("out", o, out), ("h_n", h, hn), ("c_n", c, cn)]:
        assert_close(name, a, b, dtype)
    for name, a in zip(["x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"], got):
        assert_close(name, a, grads.get(name), dtype)
    inference = _core.forward(*args, False, **kw)
    assert np.array_equal(inference[0], o)


def test_activation_arguments_are_checked():
    p, _ = make_inputs("lstm", (2, 2, 3, 4), np.float32)
    args = ("lstm", p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], None, None, False)
    with pytest.raises(ValueError, match="activation must be one of .*got 'softplus'"):
        _core.forward(*args, activation="softplus")
    with pytest.raises(ValueError, match="recurrent_activation must be one of"):
        _core.forward(*args, recurrent_activation="swish")
    r, _ = make_inputs("rnn_tanh", (2, 2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="only gru and lstm take them"):
        _core.forward("rnn_tanh", r["x"], r["h0"], None, r["w_ih"], r["w_hh"], None, None, False, activation="relu")


def test_cell_table_is_the_vocabulary_the_core_parses():
    # csrc/cell_table.h: one table of cells and activations; the tests' lists must agree with it.
    cells, activations = _core._cell_table()
    assert list(cells) == CELLS and {c: row["gates"] for c, row in cells.items()} == GATES
    assert activations == ["tanh", "relu", "sigmoid", "linear", "hard_sigmoid"]
    for cell, row in cells.items():
        assert row["cell_state"] == (cell == "lstm") and row["gated"] == (row["activation"] is None)
        if not row["gated"]:
            assert cell == "rnn_" + row["activation"]
    p, _ = make_inputs("gru", (2, 2, 3, 4), np.float64)
    for act in activations:  # a gated cell takes each activation the table names
        _core.forward("gru", p["x"], p["h0"], None, p["w_ih"], p["w_hh"], None, None, False, activation=act,
                      recurrent_activation=act)
