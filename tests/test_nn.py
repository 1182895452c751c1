"""Tests of the PyTorch-style modules ``pyrnn.nn.RNN`` / ``GRU`` / ``LSTM``: the module wiring.

The single-layer core is checked exhaustively elsewhere (tests/test_core.py); here the focus is what
the modules add on top of it: shapes and defaults as in torch.nn, parameters (names, order, shapes,
initialisation, seeding), stacking of layers and directions, batch_first and unbatched input,
initial states, dropout between layers, gradient bookkeeping (.grads, zero_grad, train/eval),
input conversion and error handling.

Oracles:
* the NumPy reference (pyrnn.reference), run in float64 on the module's own parameters, for every
  cell (GRU reset_after=False included) and, layer by layer, for stacked bidirectional models;
* torch.nn.RNN / GRU / LSTM (those tests skip when torch is absent), with state dicts exchanged in
  both directions.
"""

import numpy as np
import pytest

import pyrnn
from pyrnn import reference as ref
from pyrnn.nn import GRU, LSTM, RNN

# case name -> (module class, extra constructor arguments)
CASES = {
    "rnn_tanh": (RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNN, {"nonlinearity": "relu"}),
    "gru": (GRU, {}),
    "gru_reset_before": (GRU, {"reset_after": False}),
    "lstm": (LSTM, {}),
}
ALL = list(CASES)
TORCH_CASES = ["rnn_tanh", "rnn_relu", "gru", "lstm"]  # GRU reset_after=False has no torch equivalent
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "gru_reset_before": 3, "lstm": 4}
RTOL = {np.float64: 1e-10, np.float32: 1e-5}


def make(case, input_size, hidden_size, **kw):
    cls, extra = CASES[case]
    kw.setdefault("seed", 0)
    return cls(input_size, hidden_size, **extra, **kw)


def is_lstm(case):
    return case == "lstm"


def pack(case, h, c):
    """The module's hx / grad_hn argument from separate h and c (c ignored unless LSTM)."""
    return (h, c) if is_lstm(case) else h


def unpack(case, state):
    """(h, c) from what the module returns as its state (c is None unless LSTM)."""
    return state if is_lstm(case) else (state, None)


def assert_close(actual, expected, rtol, what=""):
    """Element-wise relative check, with an absolute floor scaled to the array's magnitude
    (gradient entries near zero are compared at the precision of the array's large entries)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale if scale > 0 else 1e-300,
                               err_msg=what)


# ---------------------------------------------------------------------------
# The reference, one layer and one direction, in float64
# ---------------------------------------------------------------------------


def ref_forward(case, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    """(out, h_n, c_n, cache) of one time-major layer, computed in float64."""
    f64 = lambda a: None if a is None else np.asarray(a, np.float64)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = map(f64, (x, h0, c0, w_ih, w_hh, b_ih, b_hh))
    if case.startswith("rnn"):
        out, hn, cache = ref.rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, nonlinearity=case[4:])
        return out, hn, None, cache
    if case.startswith("gru"):
        out, hn, cache = ref.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, reset_after=case == "gru")
        return out, hn, None, cache
    out, (hn, cn), cache = ref.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    return out, hn, cn, cache


def ref_backward(case, cache, grad_out, grad_hn, grad_cn=None):
    f64 = lambda a: None if a is None else np.asarray(a, np.float64)
    if case.startswith("rnn"):
        return ref.rnn_backward(cache, f64(grad_out), f64(grad_hn))
    if case.startswith("gru"):
        return ref.gru_backward(cache, f64(grad_out), f64(grad_hn))
    return ref.lstm_backward(cache, f64(grad_out), f64(grad_hn), f64(grad_cn))


def layer_params(params, layer, direction):
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    return tuple(params.get(k + sfx) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def ref_stack(case, params, num_layers, bidirectional, x, h0, c0, masks=None):
    """The whole stacked (bidirectional) model built from single-layer reference calls, time-major.

    x (T, B, I); h0, c0 (L*D, B, H); masks[l] (optional) multiplies layer l's output (dropout).
    Returns out, h_n, c_n and a backward function (grad_out, grad_hn, grad_cn) -> (dx, dh0, dc0, grads).
    """
    D = 2 if bidirectional else 1
    H = h0.shape[-1]
    hn, cn = np.zeros(h0.shape), np.zeros(h0.shape)
    caches, inp = [], np.asarray(x, np.float64)
    for layer in range(num_layers):
        outs, lc = [], []
        for d in range(D):
            k = layer * D + d
            seq = inp if d == 0 else inp[::-1]
            out, hn[k], c, cache = ref_forward(case, seq, h0[k], None if c0 is None else c0[k],
                                               *layer_params(params, layer, d))
            if c is not None:
                cn[k] = c
            outs.append(out if d == 0 else out[::-1])
            lc.append(cache)
        inp = np.concatenate(outs, axis=2)
        if masks is not None and masks[layer] is not None:
            inp = inp * masks[layer]
        caches.append(lc)

    def backward(grad_out, grad_hn, grad_cn=None):
        grads, dh0, dc0 = {}, np.zeros(h0.shape), np.zeros(h0.shape)
        g = np.asarray(grad_out, np.float64)
        for layer in reversed(range(num_layers)):
            if masks is not None and masks[layer] is not None:
                g = g * masks[layer]
            gin = 0
            for d in range(D):
                k = layer * D + d
                go = g[:, :, d * H:(d + 1) * H]
                r = ref_backward(case, caches[layer][d], go if d == 0 else go[::-1], grad_hn[k],
                                 None if grad_cn is None else grad_cn[k])
                dh0[k] = r["h0"]
                if "c0" in r:
                    dc0[k] = r["c0"]
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    if r[kind] is not None:
                        grads[kind + sfx] = r[kind]
                gin = gin + (r["x"] if d == 0 else r["x"][::-1])
            g = gin
        return g, dh0, (dc0 if c0 is not None else None), grads

    return inp, hn, (cn if c0 is not None else None), backward


def rand(rng, shape, dtype=np.float64, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(dtype)


# ---------------------------------------------------------------------------
# 1. Shapes, defaults, parameters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_output_and_state_shapes(case, num_layers, bidirectional, batch_first):
    I, H, B, T = 3, 5, 2, 4
    D = 2 if bidirectional else 1
    m = make(case, I, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    x = np.zeros((B, T, I) if batch_first else (T, B, I), np.float32)
    out, state = m(x)
    h, c = unpack(case, state)
    assert out.shape == ((B, T, D * H) if batch_first else (T, B, D * H))
    assert h.shape == (num_layers * D, B, H)
    if is_lstm(case):
        assert c.shape == (num_layers * D, B, H)
    # backward mirrors the shapes
    gx, gstate = m.backward(np.ones_like(out))
    gh, gc = unpack(case, gstate)
    assert gx.shape == x.shape and gh.shape == h.shape
    if is_lstm(case):
        assert gc.shape == c.shape
    for name, p in m.state_dict().items():
        assert m.grads[name].shape == p.shape

    # unbatched: (T, I) input with (L*D, H) states, whatever batch_first says (as torch.nn)
    rng = np.random.default_rng(1)
    xu = rand(rng, (T, I), np.float32)
    h0, c0 = rand(rng, (num_layers * D, H), np.float32), rand(rng, (num_layers * D, H), np.float32)
    out_u, state_u = m(xu, pack(case, h0, c0))
    hu, cu = unpack(case, state_u)
    assert out_u.shape == (T, D * H) and hu.shape == (num_layers * D, H)
    xb = xu[None] if batch_first else xu[:, None]
    out_b, state_b = m(xb, pack(case, h0[:, None], c0[:, None]))
    hb, cb = unpack(case, state_b)
    np.testing.assert_array_equal(out_u, out_b[0] if batch_first else out_b[:, 0])
    np.testing.assert_array_equal(hu, hb[:, 0])
    if is_lstm(case):
        assert cu.shape == (num_layers * D, H)
        np.testing.assert_array_equal(cu, cb[:, 0])


@pytest.mark.parametrize("case", ["rnn_tanh", "gru", "lstm"])
def test_unbatched_backward_matches_batch_of_one(case):
    I, H, T, L = 3, 4, 5, 2
    rng = np.random.default_rng(2)
    m = make(case, I, H, num_layers=L, bidirectional=True, dtype=np.float64)
    x, go = rand(rng, (T, I)), rand(rng, (T, 2 * H))
    gh, gc = rand(rng, (2 * L, H)), rand(rng, (2 * L, H))
    m(x)
    gx_u, gs_u = m.backward(go, pack(case, gh, gc))
    grads_u = {k: v.copy() for k, v in m.grads.items()}
    m.zero_grad()
    m(x[:, None])
    gx_b, gs_b = m.backward(go[:, None], pack(case, gh[:, None], gc[:, None]))
    assert gx_u.shape == (T, I)
    np.testing.assert_array_equal(gx_u, gx_b[:, 0])
    for a, b in zip(unpack(case, gs_u), unpack(case, gs_b)):
        if a is not None:
            assert a.shape == (2 * L, H)
            np.testing.assert_array_equal(a, b[:, 0])
    for k in grads_u:
        np.testing.assert_array_equal(grads_u[k], m.grads[k])


@pytest.mark.parametrize("case", ALL)
def test_hx_none_means_zeros(case):
    rng = np.random.default_rng(3)
    m = make(case, 3, 4, num_layers=2, bidirectional=True)
    x = rand(rng, (5, 2, 3), np.float32)
    z = np.zeros((4, 2, 4), np.float32)
    out1, s1 = m(x)
    out2, s2 = m(x, pack(case, z, z))
    np.testing.assert_array_equal(out1, out2)
    for a, b in zip(unpack(case, s1), unpack(case, s2)):
        if a is not None:
            np.testing.assert_array_equal(a, b)
    # and a non-zero initial state does change the result
    out3, _ = m(x, pack(case, z + 0.5, z + 0.5))
    assert not np.allclose(out1, out3)


def expected_names(num_layers, bidirectional, bias):
    names = []
    for layer in range(num_layers):
        for sfx in ("", "_reverse") if bidirectional else ("",):
            kinds = ("weight_ih", "weight_hh", "bias_ih", "bias_hh") if bias else ("weight_ih", "weight_hh")
            names += [f"{k}_l{layer}{sfx}" for k in kinds]
    return names


@pytest.mark.parametrize("case", ALL)
@pytest.mark.parametrize("num_layers,bidirectional,bias", [(1, False, True), (2, True, True), (3, True, False)])
def test_state_dict_names_shapes_order(case, num_layers, bidirectional, bias):
    I, H = 3, 5
    G, D = GATES[case], (2 if bidirectional else 1)
    m = make(case, I, H, num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    sd = m.state_dict()
    assert list(sd) == expected_names(num_layers, bidirectional, bias)
    assert list(m.grads) == list(sd)
    assert [n for n, _ in m.named_parameters()] == list(sd)
    for name, p in sd.items():
        layer = int(name.split("_l")[1].split("_")[0])
        if name.startswith("weight_ih"):
            assert p.shape == (G * H, I if layer == 0 else D * H), name
        elif name.startswith("weight_hh"):
            assert p.shape == (G * H, H), name
        else:
            assert p.shape == (G * H,), name
    # state_dict is a copy; parameters() are the live arrays
    next(iter(sd.values()))[...] = 123.0
    assert not np.any(m.state_dict()[next(iter(sd))] == 123.0)
    m.parameters()[0][...] = 7.0
    assert np.all(m.state_dict()[next(iter(sd))] == 7.0)


@pytest.mark.parametrize("case", ALL)
@pytest.mark.parametrize("H", [1, 4, 64])
def test_init_uniform_bound(case, H):
    m = make(case, 500, H, num_layers=2, bidirectional=True, seed=H)
    bound = 1 / np.sqrt(H)
    values = np.concatenate([p.ravel() for p in m.parameters()])
    assert np.all(np.abs(values) <= bound)
    # spread over the whole interval, not a smaller or degenerate one
    assert values.size > 1000
    assert values.max() > 0.99 * bound and values.min() < -0.99 * bound
    sd = bound / np.sqrt(3)  # of U(-bound, bound)
    assert abs(values.mean()) < 5 * sd / np.sqrt(values.size)
    assert np.std(values) == pytest.approx(sd, rel=0.05)


@pytest.mark.parametrize("case", ALL)
def test_seed_reproducible(case):
    kw = dict(num_layers=2, bidirectional=True)
    a, b, c = make(case, 3, 4, seed=5, **kw), make(case, 3, 4, seed=5, **kw), make(case, 3, 4, seed=6, **kw)
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(v, b.state_dict()[k])
    assert not all(np.array_equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())
    # parameters of different layers/directions are not copies of each other
    assert not np.array_equal(a.state_dict()["weight_hh_l0"], a.state_dict()["weight_hh_l0_reverse"])
    x = np.random.default_rng(0).standard_normal((3, 2, 3)).astype(np.float32)
    np.testing.assert_array_equal(a(x)[0], b(x)[0])


@pytest.mark.parametrize("case", ALL)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, "float32", "float64"])
def test_dtype_of_everything(case, dtype):
    dt = np.dtype(dtype)
    m = make(case, 3, 4, num_layers=2, dtype=dtype)
    assert all(p.dtype == dt for p in m.parameters())
    assert all(g.dtype == dt for g in m.grads.values())
    other = np.float64 if dt == np.float32 else np.float32
    x = np.random.default_rng(0).standard_normal((3, 2, 3)).astype(other)  # converted to the layer's dtype
    out, state = m(x)
    assert out.dtype == dt
    for s in unpack(case, state):
        assert s is None or s.dtype == dt
    gx, gs = m.backward(np.ones(out.shape, other))
    assert gx.dtype == dt
    for s in unpack(case, gs):
        assert s is None or s.dtype == dt
    assert all(g.dtype == dt for g in m.grads.values())


def test_train_eval_flags_and_repr():
    m = LSTM(3, 4)
    assert m.training is True
    assert m.eval() is m and m.training is False
    assert m.train() is m and m.training is True
    assert m.train(False) is m and m.training is False
    assert repr(RNN(3, 4)) == "RNN(3, 4)"
    assert "bidirectional=True" in repr(GRU(3, 4, bidirectional=True))


# ---------------------------------------------------------------------------
# 2. Single layer against the NumPy reference: outputs, states and every gradient
# ---------------------------------------------------------------------------

# (I, H, B, T, bias, initial states given)
REF_SIZES = [
    (1, 1, 1, 1, True, True),
    (3, 17, 5, 9, True, False),
    (17, 33, 1, 9, False, True),
    (33, 3, 5, 1, True, True),
    (1, 33, 5, 9, False, False),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("size", REF_SIZES, ids=lambda s: "I{}H{}B{}T{}{}{}".format(
    *s[:4], "" if s[4] else "-nobias", "-hx" if s[5] else ""))
@pytest.mark.parametrize("case", ALL)
def test_single_layer_against_reference(case, size, dtype):
    I, H, B, T, bias, given = size
    rtol = RTOL[dtype]
    rng = np.random.default_rng(sum(size[:4]) + len(case))
    m = make(case, I, H, bias=bias, dtype=dtype, seed=7)
    params = m.state_dict()
    x = rand(rng, (T, B, I), dtype)
    h0 = rand(rng, (1, B, H), dtype, 0.5) if given else None
    c0 = rand(rng, (1, B, H), dtype, 0.5) if given else None
    out, state = m(x, pack(case, h0, c0) if given else None)
    hn, cn = unpack(case, state)

    zeros = np.zeros((B, H))
    r_out, r_hn, r_cn, cache = ref_forward(case, x, h0[0] if given else zeros, c0[0] if given else zeros,
                                           *layer_params(params, 0, 0))
    assert out.dtype == dtype
    assert_close(out, r_out, rtol, "out")
    assert_close(hn[0], r_hn, rtol, "h_n")
    if is_lstm(case):
        assert_close(cn[0], r_cn, rtol, "c_n")

    go = rand(rng, (T, B, H), dtype)
    gh, gc = rand(rng, (1, B, H), dtype), rand(rng, (1, B, H), dtype)
    gx, gs = m.backward(go, pack(case, gh, gc))
    gh0, gc0 = unpack(case, gs)
    r = ref_backward(case, cache, go, gh[0], gc[0])
    assert_close(gx, r["x"], rtol, "grad_x")
    assert_close(gh0[0], r["h0"], rtol, "grad_h0")
    if is_lstm(case):
        assert_close(gc0[0], r["c0"], rtol, "grad_c0")
    assert set(m.grads) == set(params)
    for name, g in m.grads.items():
        kind = name.rsplit("_l", 1)[0]
        assert r[kind] is not None
        assert_close(g, r[kind], rtol, name)
    if not bias:
        assert r["bias_ih"] is None and not any(k.startswith("bias") for k in m.grads)


# ---------------------------------------------------------------------------
# 7. Stacking: a 2-layer bidirectional model equals the reference run layer by layer
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL)
@pytest.mark.parametrize("batch_first", [False, True])
def test_bidirectional_two_layers_equals_manual_reference(case, batch_first):
    I, H, B, T = 4, 6, 3, 5
    rng = np.random.default_rng(11)
    m = make(case, I, H, num_layers=2, bidirectional=True, batch_first=batch_first, dtype=np.float64)
    p = m.state_dict()
    x = rand(rng, (T, B, I))
    h0, c0 = rand(rng, (4, B, H), scale=0.5), rand(rng, (4, B, H), scale=0.5)

    # written out by hand: layer 0 forward in time, layer 0 reverse on x[::-1], concat; then layer 1
    f0, hf0, cf0, cache_f0 = ref_forward(case, x, h0[0], c0[0], *layer_params(p, 0, 0))
    b0, hb0, cb0, cache_b0 = ref_forward(case, x[::-1], h0[1], c0[1], *layer_params(p, 0, 1))
    y0 = np.concatenate([f0, b0[::-1]], axis=2)
    f1, hf1, cf1, cache_f1 = ref_forward(case, y0, h0[2], c0[2], *layer_params(p, 1, 0))
    b1, hb1, cb1, cache_b1 = ref_forward(case, y0[::-1], h0[3], c0[3], *layer_params(p, 1, 1))
    expected_out = np.concatenate([f1, b1[::-1]], axis=2)

    out, state = m(x.transpose(1, 0, 2) if batch_first else x, pack(case, h0, c0))
    hn, cn = unpack(case, state)
    out_tm = out.transpose(1, 0, 2) if batch_first else out
    assert_close(out_tm, expected_out, 1e-10, "out")
    assert_close(hn, np.stack([hf0, hb0, hf1, hb1]), 1e-10, "h_n (order l0, l0_reverse, l1, l1_reverse)")
    if is_lstm(case):
        assert_close(cn, np.stack([cf0, cb0, cf1, cb1]), 1e-10, "c_n")

    # backward by hand
    go, gh, gc = rand(rng, (T, B, 2 * H)), rand(rng, (4, B, H)), rand(rng, (4, B, H))
    r_f1 = ref_backward(case, cache_f1, go[:, :, :H], gh[2], gc[2])
    r_b1 = ref_backward(case, cache_b1, go[::-1, :, H:], gh[3], gc[3])
    gy0 = r_f1["x"] + r_b1["x"][::-1]
    r_f0 = ref_backward(case, cache_f0, gy0[:, :, :H], gh[0], gc[0])
    r_b0 = ref_backward(case, cache_b0, gy0[::-1, :, H:], gh[1], gc[1])
    expected_gx = r_f0["x"] + r_b0["x"][::-1]

    gx, gs = m.backward(go.transpose(1, 0, 2) if batch_first else go, pack(case, gh, gc))
    gh0, gc0 = unpack(case, gs)
    assert_close(gx.transpose(1, 0, 2) if batch_first else gx, expected_gx, 1e-10, "grad_x")
    assert_close(gh0, np.stack([r["h0"] for r in (r_f0, r_b0, r_f1, r_b1)]), 1e-10, "grad_h0")
    if is_lstm(case):
        assert_close(gc0, np.stack([r["c0"] for r in (r_f0, r_b0, r_f1, r_b1)]), 1e-10, "grad_c0")
    for r, sfx in ((r_f0, "_l0"), (r_b0, "_l0_reverse"), (r_f1, "_l1"), (r_b1, "_l1_reverse")):
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            assert_close(m.grads[kind + sfx], r[kind], 1e-10, kind + sfx)


@pytest.mark.parametrize("case", ["rnn_relu", "gru_reset_before", "lstm"])
def test_three_layers_unidirectional_against_reference_stack(case):
    I, H, B, T = 5, 7, 2, 6
    rng = np.random.default_rng(12)
    m = make(case, I, H, num_layers=3, dtype=np.float64, bias=False)
    x = rand(rng, (T, B, I))
    h0, c0 = rand(rng, (3, B, H)), rand(rng, (3, B, H))
    out, state = m(x, pack(case, h0, c0))
    r_out, r_hn, r_cn, back = ref_stack(case, m.state_dict(), 3, False, x, h0, c0 if is_lstm(case) else None)
    assert_close(out, r_out, 1e-10, "out")
    assert_close(unpack(case, state)[0], r_hn, 1e-10, "h_n")
    go, gh, gc = rand(rng, out.shape), rand(rng, h0.shape), rand(rng, h0.shape)
    gx, gs = m.backward(go, pack(case, gh, gc))
    r_gx, r_gh0, r_gc0, r_grads = back(go, gh, gc if is_lstm(case) else None)
    assert_close(gx, r_gx, 1e-10, "grad_x")
    assert_close(unpack(case, gs)[0], r_gh0, 1e-10, "grad_h0")
    if is_lstm(case):
        assert_close(state[1], r_cn, 1e-10, "c_n")
        assert_close(gs[1], r_gc0, 1e-10, "grad_c0")
    assert set(r_grads) == set(m.grads)
    for k in r_grads:
        assert_close(m.grads[k], r_grads[k], 1e-10, k)


# ---------------------------------------------------------------------------
# 3. Against torch.nn
# ---------------------------------------------------------------------------


def torch_twin(torch, case, m):
    cls = {"rnn_tanh": torch.nn.RNN, "rnn_relu": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[case]
    kw = dict(num_layers=m.num_layers, bias=m.bias, batch_first=m.batch_first, bidirectional=m.bidirectional,
              dtype=torch.float64 if m.dtype == np.float64 else torch.float32)
    if case.startswith("rnn"):
        kw["nonlinearity"] = case[4:]
    return cls(m.input_size, m.hidden_size, **kw)


# (num_layers, bidirectional, batch_first): every depth both ways, batch_first both ways
TORCH_CONFIGS = [(1, False, False), (1, True, True), (2, False, True), (2, True, False), (3, False, False),
                 (3, True, True)]


def compare_with_torch(torch, case, m, tm, x, h0, c0, go, gh, gc, rtol):
    """Forward and backward in both; every output, state and gradient must agree."""
    tdt = torch.float64 if m.dtype == np.float64 else torch.float32
    tx = torch.tensor(x, dtype=tdt, requires_grad=True)
    th0 = torch.tensor(h0, dtype=tdt, requires_grad=True)
    tc0 = torch.tensor(c0, dtype=tdt, requires_grad=True)
    if is_lstm(case):
        tout, (thn, tcn) = tm(tx, (th0, tc0))
        loss = (tout * torch.tensor(go)).sum() + (thn * torch.tensor(gh)).sum() + (tcn * torch.tensor(gc)).sum()
    else:
        tout, thn = tm(tx, th0)
        loss = (tout * torch.tensor(go)).sum() + (thn * torch.tensor(gh)).sum()
    loss.backward()

    out, state = m(x, pack(case, h0, c0))
    hn, cn = unpack(case, state)
    assert_close(out, tout.detach().numpy(), rtol, "out")
    assert_close(hn, thn.detach().numpy(), rtol, "h_n")
    if is_lstm(case):
        assert_close(cn, tcn.detach().numpy(), rtol, "c_n")
    m.zero_grad()
    gx, gs = m.backward(go, pack(case, gh, gc))
    gh0, gc0 = unpack(case, gs)
    assert_close(gx, tx.grad.numpy(), rtol, "grad_x")
    assert_close(gh0, th0.grad.numpy(), rtol, "grad_h0")
    if is_lstm(case):
        assert_close(gc0, tc0.grad.numpy(), rtol, "grad_c0")
    tgrads = {name: p.grad.numpy() for name, p in tm.named_parameters()}
    assert list(tgrads) == list(m.grads)
    for name, g in m.grads.items():
        assert_close(g, tgrads[name], rtol, name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("config", TORCH_CONFIGS, ids=lambda c: "L{}{}{}".format(
    c[0], "-bidir" if c[1] else "", "-bf" if c[2] else ""))
@pytest.mark.parametrize("case", TORCH_CASES)
def test_pyrnn_state_dict_into_torch(case, config, dtype):
    torch = pytest.importorskip("torch")
    num_layers, bidirectional, batch_first = config
    I, H, B, T = 5, 7, 3, 6
    D = 2 if bidirectional else 1
    m = make(case, I, H, num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first,
             dtype=dtype, seed=21)
    tm = torch_twin(torch, case, m)
    # strict load: pyrnn's names and shapes are exactly torch's
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    assert list(tm.state_dict()) == list(m.state_dict())
    rng = np.random.default_rng(num_layers * 4 + D * 2 + batch_first)
    x = rand(rng, (B, T, I) if batch_first else (T, B, I), dtype)
    h0, c0 = rand(rng, (num_layers * D, B, H), dtype, 0.5), rand(rng, (num_layers * D, B, H), dtype, 0.5)
    go = rand(rng, (B, T, D * H) if batch_first else (T, B, D * H), dtype)
    gh, gc = rand(rng, h0.shape, dtype), rand(rng, h0.shape, dtype)
    compare_with_torch(torch, case, m, tm, x, h0, c0, go, gh, gc, 1e-10 if dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", TORCH_CASES)
def test_torch_state_dict_into_pyrnn(case, dtype):
    torch = pytest.importorskip("torch")
    I, H, B, T, L = 4, 9, 2, 7, 2
    torch.manual_seed(0)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    cls = {"rnn_tanh": torch.nn.RNN, "rnn_relu": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[case]
    kw = {"nonlinearity": case[4:]} if case.startswith("rnn") else {}
    tm = cls(I, H, num_layers=L, bidirectional=True, batch_first=True, dtype=tdt, **kw)
    m = make(case, I, H, num_layers=L, bidirectional=True, batch_first=True, dtype=dtype, seed=99)
    # torch tensors (with requires_grad) passed directly
    m.load_state_dict(tm.state_dict())
    m.load_state_dict(dict(tm.named_parameters()))
    for name, p in tm.named_parameters():
        np.testing.assert_array_equal(m.state_dict()[name], p.detach().numpy())
    rng = np.random.default_rng(5)
    x = rand(rng, (B, T, I), dtype)
    h0, c0 = rand(rng, (2 * L, B, H), dtype), rand(rng, (2 * L, B, H), dtype)
    go, gh, gc = rand(rng, (B, T, 2 * H), dtype), rand(rng, h0.shape, dtype), rand(rng, h0.shape, dtype)
    compare_with_torch(torch, case, m, tm, x, h0, c0, go, gh, gc, 1e-10 if dtype == np.float64 else 1e-4)


@pytest.mark.parametrize("case", TORCH_CASES)
def test_unbatched_and_default_state_against_torch(case):
    torch = pytest.importorskip("torch")
    I, H, T = 3, 5, 4
    m = make(case, I, H, num_layers=2, bidirectional=True, dtype=np.float64)
    tm = torch_twin(torch, case, m)
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in m.state_dict().items()})
    x = np.random.default_rng(8).standard_normal((T, I))
    tout, tstate = tm(torch.from_numpy(x))  # unbatched, hx=None
    out, state = m(x)
    assert_close(out, tout.detach().numpy(), 1e-10, "out")
    th, tc = unpack(case, tstate)
    h, c = unpack(case, state)
    assert h.shape == tuple(th.shape)
    assert_close(h, th.detach().numpy(), 1e-10, "h_n")
    if is_lstm(case):
        assert_close(c, tc.detach().numpy(), 1e-10, "c_n")


# ---------------------------------------------------------------------------
# 4. Training semantics
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL)
def test_backward_accumulates_until_zero_grad(case):
    rng = np.random.default_rng(13)
    m = make(case, 3, 4, num_layers=2, bidirectional=True, dtype=np.float64)
    x, x2 = rand(rng, (5, 2, 3)), rand(rng, (5, 2, 3))
    go = rand(rng, (5, 2, 8))
    assert all(not np.any(g) for g in m.grads.values())
    m(x)
    m.backward(go)
    once = {k: v.copy() for k, v in m.grads.items()}
    assert all(np.any(g) for g in once.values())
    m(x)
    m.backward(go)
    for k in once:
        assert_close(m.grads[k], 2 * once[k], 1e-12, k)
    # a different batch adds its own contribution
    m.zero_grad()
    m(x2)
    m.backward(go)
    other = {k: v.copy() for k, v in m.grads.items()}
    m(x)
    m.backward(go)
    for k in once:
        assert_close(m.grads[k], once[k] + other[k], 1e-12, k)
    grads_obj = m.grads
    m.zero_grad()
    assert m.grads is grads_obj  # cleared in place
    assert all(not np.any(g) for g in m.grads.values())
    m(x)
    m.backward(go)
    for k in once:
        np.testing.assert_array_equal(m.grads[k], once[k])


@pytest.mark.parametrize("case", ["rnn_tanh", "lstm"])
def test_backward_once_per_forward_and_only_in_training(case):
    rng = np.random.default_rng(14)
    m = make(case, 3, 4)
    x = rand(rng, (5, 2, 3), np.float32)
    with pytest.raises(ValueError, match="forward"):  # no forward yet
        m.backward(np.ones((5, 2, 4), np.float32))
    out, _ = m(x)
    m.backward(np.ones_like(out))
    with pytest.raises(ValueError, match="forward"):  # second backward after one forward
        m.backward(np.ones_like(out))
    # eval mode: forward works and gives the same result, keeps nothing, backward explains itself
    m.eval()
    out_eval, _ = m(x)
    np.testing.assert_array_equal(out_eval, out)
    assert getattr(m, "_cache", None) is None
    with pytest.raises(ValueError, match=r"train"):
        m.backward(np.ones_like(out))
    # switching to eval drops what a training forward saved
    m.train()
    m(x)
    m.eval()
    assert getattr(m, "_cache", None) is None
    with pytest.raises(ValueError, match="train"):
        m.backward(np.ones_like(out))
    m.train()
    m(x)
    m.backward(np.ones_like(out))  # works again


@pytest.mark.parametrize("case", ["gru", "lstm"])
def test_bad_backward_arguments_do_not_consume_the_forward(case):
    m = make(case, 3, 4, num_layers=2)
    out, _ = m(np.ones((5, 2, 3), np.float32))
    with pytest.raises(ValueError, match="grad_output"):
        m.backward(np.ones((5, 3, 4), np.float32))
    with pytest.raises((ValueError, TypeError)):
        m.backward(np.ones_like(out), pack(case, np.ones((2, 2, 5), np.float32), None))
    assert all(not np.any(g) for g in m.grads.values())
    m.backward(np.ones_like(out))
    assert all(np.any(g) for g in m.grads.values())


def dropout_models(case, p, seed, **kw):
    """Two identical-parameter models, with dropout p and without."""
    a = make(case, 3, 6, num_layers=3, dropout=p, seed=seed, dtype=np.float64, **kw)
    b = make(case, 3, 6, num_layers=3, dropout=0.0, seed=seed, dtype=np.float64, **kw)
    b.load_state_dict(a.state_dict())
    return a, b


@pytest.mark.parametrize("case", ["rnn_tanh", "gru", "lstm"])
def test_dropout_train_vs_eval(case):
    x = np.random.default_rng(15).standard_normal((6, 4, 3))
    a, b = dropout_models(case, 0.5, seed=3, bidirectional=True)
    out_a, state_a = a(x)
    out_b, state_b = b(x)
    assert not np.allclose(out_a, out_b)  # dropout acts in training mode
    # ... and layer 0's final state is computed before any dropout
    np.testing.assert_array_equal(unpack(case, state_a)[0][:2], unpack(case, state_b)[0][:2])
    out_a2, _ = a(x)
    assert not np.array_equal(out_a, out_a2)  # a new mask every call
    a.eval()
    b.eval()
    np.testing.assert_array_equal(a(x)[0], b(x)[0])  # no effect in eval mode
    # same seed, same masks
    c, _ = dropout_models(case, 0.5, seed=3, bidirectional=True)
    d, _ = dropout_models(case, 0.5, seed=3, bidirectional=True)
    first = c(x)[0]
    np.testing.assert_array_equal(first, out_a)
    np.testing.assert_array_equal(first, d(x)[0])
    np.testing.assert_array_equal(c(x)[0], d(x)[0])  # the sequences of masks agree
    np.testing.assert_array_equal(c(x)[0], a.train()(x)[0])
    # dropout=0 in training mode is exactly no dropout
    e, f = dropout_models(case, 0.0, seed=4)
    f.eval()
    np.testing.assert_array_equal(e(x)[0], f(x)[0])


@pytest.mark.parametrize("case", ["rnn_relu", "gru_reset_before", "lstm"])
def test_dropout_one_zeroes_the_inputs_of_upper_layers(case):
    """dropout=1: layers above the first see zeros; exact reference check of outputs and gradients."""
    rng = np.random.default_rng(16)
    I, H, B, T = 3, 5, 2, 4
    m = make(case, I, H, num_layers=2, dropout=1.0, dtype=np.float64)
    x = rand(rng, (T, B, I))
    h0, c0 = rand(rng, (2, B, H)), rand(rng, (2, B, H))
    out, state = m(x, pack(case, h0, c0))
    masks = [np.zeros((T, B, H)), None]
    r_out, r_hn, r_cn, back = ref_stack(case, m.state_dict(), 2, False, x, h0, c0 if is_lstm(case) else None,
                                        masks=masks)
    assert_close(out, r_out, 1e-10, "out")
    assert_close(unpack(case, state)[0], r_hn, 1e-10, "h_n")
    go, gh, gc = rand(rng, out.shape), rand(rng, h0.shape), rand(rng, h0.shape)
    gx, gs = m.backward(go, pack(case, gh, gc))
    r_gx, r_gh0, r_gc0, r_grads = back(go, gh, gc if is_lstm(case) else None)
    assert_close(gx, r_gx, 1e-10, "grad_x")
    assert_close(unpack(case, gs)[0], r_gh0, 1e-10, "grad_h0")
    if is_lstm(case):
        assert_close(state[1], r_cn, 1e-10, "c_n")
        assert_close(gs[1], r_gc0, 1e-10, "grad_c0")
    for k in r_grads:
        assert_close(m.grads[k], r_grads[k], 1e-10, k)
    assert not np.any(m.grads["weight_ih_l1"])  # layer 1 only ever saw zeros


@pytest.mark.parametrize("p", [0.3, 0.75])
def test_dropout_mask_scaling_and_gradient(p):
    """A ReLU RNN whose second layer is the identity (W_ih = I, W_hh = 0, no bias) outputs exactly
    mask * (layer 0's output): the mask becomes visible. Its entries must be 0 or 1/(1-p) (inverted
    dropout, as torch), dropped with frequency p, and backward must agree with the reference stack
    run with that mask."""
    I, H, B, T = 4, 50, 4, 10
    rng = np.random.default_rng(22)
    m = RNN(I, H, num_layers=2, nonlinearity="relu", bias=False, dropout=p, dtype=np.float64, seed=1)
    params = m.state_dict()
    params["weight_ih_l1"] = np.eye(H)
    params["weight_hh_l1"] = np.zeros((H, H))
    m.load_state_dict(params)
    x = rand(rng, (T, B, I))
    out0, _, _, _ = ref_forward("rnn_relu", x, np.zeros((B, H)), None, *layer_params(params, 0, 0))
    assert_close(m.eval()(x)[0], out0, 1e-10, "eval: no mask at all")
    out0 = m(x)[0]  # layer 0's output as the core computes it (bit for bit what layer 1 sees)
    out, _ = m.train()(x)
    active = out0 > 0  # where out0 == 0 neither the mask nor its gradient matters (ReLU' = 0)
    assert active.sum() > 500
    ratio = out[active] / out0[active]
    kept = np.isclose(ratio, 1 / (1 - p), rtol=1e-12)
    dropped = ratio == 0
    assert np.all(kept | dropped)
    assert dropped.mean() == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / ratio.size))
    mask = np.zeros((T, B, H))
    mask[active] = ratio
    _, _, _, back = ref_stack("rnn_relu", params, 2, False, x, np.zeros((2, B, H)), None, masks=[mask, None])
    go = rand(rng, out.shape)
    gx, gh0 = m.backward(go)
    r_gx, r_gh0, _, r_grads = back(go, np.zeros((2, B, H)))
    assert_close(gx, r_gx, 1e-10, "grad_x")
    assert_close(gh0, r_gh0, 1e-10, "grad_h0")
    for k in r_grads:
        assert_close(m.grads[k], r_grads[k], 1e-10, k)


@pytest.mark.parametrize("case", ["rnn_tanh", "gru", "lstm"])
def test_dropout_gradient_by_central_differences(case):
    """With the mask fixed (a fresh model with the same seed draws the same first mask),
    backward's gradient matches central differences of the dropped-out forward."""
    I, H, B, T, seed = 3, 4, 2, 4, 17
    rng = np.random.default_rng(18)
    template = make(case, I, H, num_layers=3, bidirectional=True, dropout=0.4, dtype=np.float64, seed=seed)
    params = template.state_dict()
    x = rand(rng, (T, B, I))
    h0, c0 = rand(rng, (6, B, H), scale=0.5), rand(rng, (6, B, H), scale=0.5)
    go, gh, gc = rand(rng, (T, B, 2 * H)), rand(rng, (6, B, H)), rand(rng, (6, B, H))

    def loss(x=x, h0=h0, params=params):
        m = make(case, I, H, num_layers=3, bidirectional=True, dropout=0.4, dtype=np.float64, seed=seed)
        m.load_state_dict(params)
        out, state = m(x, pack(case, h0, c0))
        h, c = unpack(case, state)
        return np.sum(out * go) + np.sum(h * gh) + (np.sum(c * gc) if c is not None else 0.0), m

    _, m = loss()
    gx, gs = m.backward(go, pack(case, gh, gc))
    gh0 = unpack(case, gs)[0]
    eps = 1e-6

    def directional(fn, v):
        return (fn(eps * v) - fn(-eps * v)) / (2 * eps)

    v = rand(rng, x.shape)
    fd = directional(lambda d: loss(x=x + d)[0], v)
    assert np.sum(gx * v) == pytest.approx(fd, rel=1e-6, abs=1e-9)
    v = rand(rng, h0.shape)
    fd = directional(lambda d: loss(h0=h0 + d)[0], v)
    assert np.sum(gh0 * v) == pytest.approx(fd, rel=1e-6, abs=1e-9)
    for name in ("weight_ih_l1", "weight_hh_l0_reverse", "bias_ih_l2_reverse", "weight_ih_l2"):
        v = rand(rng, params[name].shape)
        fd = directional(lambda d: loss(params={**params, name: params[name] + d})[0], v)
        assert np.sum(m.grads[name] * v) == pytest.approx(fd, rel=1e-6, abs=1e-9), name
    # and the mask really was active: without dropout the gradient differs
    nodrop = make(case, I, H, num_layers=3, bidirectional=True, dtype=np.float64)
    nodrop.load_state_dict(params)
    nodrop(x, pack(case, h0, c0))
    gx0, _ = nodrop.backward(go, pack(case, gh, gc))
    assert not np.allclose(gx, gx0)


# ---------------------------------------------------------------------------
# 5. Input handling
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["rnn_relu", "gru", "lstm"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_strided_fortran_readonly_inputs(case, batch_first):
    rng = np.random.default_rng(19)
    m = make(case, 4, 5, num_layers=2, bidirectional=True, batch_first=batch_first)
    big = rand(rng, (12, 6, 8), np.float32)
    x = np.ascontiguousarray(big[::2, 1:4, ::2])  # (6, 3, 4)
    hbig = rand(rng, (4, 6, 10), np.float32)
    h0 = np.ascontiguousarray(hbig[:, ::2, ::2])  # (4, 3, 5)
    c0 = np.ascontiguousarray(hbig[:, 1::2, 1::2])
    gobig = rand(rng, (6, 3, 20), np.float32)
    go = np.ascontiguousarray(gobig[:, :, ::2])
    if batch_first:
        x, go = np.ascontiguousarray(x.transpose(1, 0, 2)), np.ascontiguousarray(go.transpose(1, 0, 2))
        xs = big.transpose(1, 0, 2)[1:4, ::2, ::2]
        gos = gobig.transpose(1, 0, 2)[:, :, ::2]
    else:
        xs, gos = big[::2, 1:4, ::2], gobig[:, :, ::2]

    def run(x, h0, c0, go):
        m.zero_grad()
        out, state = m(x, pack(case, h0, c0))
        gx, gs = m.backward(go)
        return [out, *[s for s in unpack(case, state) if s is not None], gx,
                *[s for s in unpack(case, gs) if s is not None], *[g.copy() for g in m.grads.values()]]

    expected = run(x, h0, c0, go)
    assert not xs.flags.c_contiguous
    readonly = [a.copy() for a in (x, h0, c0, go)]
    for a in readonly:
        a.setflags(write=False)
    variants = {
        "strided": (xs, hbig[:, ::2, ::2], hbig[:, 1::2, 1::2], gos),
        "fortran": tuple(np.asfortranarray(a) for a in (x, h0, c0, go)),
        "readonly": tuple(readonly),
    }
    for label, args in variants.items():
        got = run(*args)
        for e, g in zip(expected, got):
            np.testing.assert_array_equal(g, e, err_msg=label)


@pytest.mark.parametrize("case", ["rnn_tanh", "lstm"])
def test_int_list_and_torch_inputs_convert(case):
    m = make(case, 3, 4, num_layers=2)
    xi = np.arange(24, dtype=np.int64).reshape(4, 2, 3) % 5 - 2
    expected, _ = m(xi.astype(np.float32))
    for variant in (xi, xi.astype(np.int32), xi.astype(np.uint8) if xi.min() >= 0 else xi.astype(np.int16),
                    xi.tolist(), xi.astype(np.float16)):
        out, _ = m(variant)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, expected)
    # hx as nested lists too
    h0 = [[[0.5] * 4] * 2] * 2
    out1, _ = m(xi, pack(case, h0, h0))
    out2, _ = m(xi, pack(case, np.full((2, 2, 4), 0.5, np.float32), np.full((2, 2, 4), 0.5, np.float32)))
    np.testing.assert_array_equal(out1, out2)
    torch = pytest.importorskip("torch")
    out, _ = m(torch.tensor(xi, dtype=torch.float32, requires_grad=True),
                   pack(case, torch.full((2, 2, 4), 0.5), torch.full((2, 2, 4), 0.5)))
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, out2)
    gx, _ = m.backward(torch.ones(4, 2, 4))
    assert isinstance(gx, np.ndarray) and gx.shape == (4, 2, 3)


@pytest.mark.parametrize("case", ALL)
@pytest.mark.parametrize("batch_first", [False, True])
def test_changing_caller_arrays_after_forward_does_not_change_gradients(case, batch_first):
    """backward uses what forward saw, even if the caller edits x, hx or the returned output in place."""
    rng = np.random.default_rng(20)
    m = make(case, 3, 4, batch_first=batch_first, dtype=np.float64)
    x = rand(rng, (2, 5, 3) if batch_first else (5, 2, 3))
    h0, c0 = rand(rng, (1, 2, 4)), rand(rng, (1, 2, 4))
    go = rand(rng, (2, 5, 4) if batch_first else (5, 2, 4))

    def run(edit):
        m.zero_grad()
        xx, hh, cc = x.copy(), h0.copy(), c0.copy()
        out, state = m(xx, pack(case, hh, cc))
        if edit:
            for a in (xx, hh, cc, out, *[s for s in unpack(case, state) if s is not None]):
                a *= -3.0
        gx, gs = m.backward(go)
        return [gx, *[s for s in unpack(case, gs) if s is not None], *[g.copy() for g in m.grads.values()]]

    for e, g in zip(run(False), run(True)):
        np.testing.assert_array_equal(g, e)


# ---------------------------------------------------------------------------
# 6. Errors: clear exceptions, never a crash
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ALL)
def test_input_errors(case):
    m = make(case, 3, 4, num_layers=2)
    with pytest.raises(ValueError, match="input"):
        m(np.zeros(3, np.float32))  # 1-D
    with pytest.raises(ValueError, match="input"):
        m(np.zeros((2, 2, 2, 3), np.float32))  # 4-D
    with pytest.raises(ValueError, match="input"):
        m(np.float32(1.0))  # 0-D
    with pytest.raises(ValueError, match="3"):
        m(np.zeros((5, 2, 4), np.float32))  # wrong feature size
    for bad in (np.array([[["a", "b", "c"]]]), np.zeros((5, 2, 3), np.complex64), np.zeros((5, 2, 3), object),
                np.zeros((5, 2, 3), bool), [[[1, 2], [3]]], "abc", None):
        with pytest.raises(TypeError):
            m(bad)
    x = np.zeros((5, 2, 3), np.float32)
    for shape in [(2, 3, 4), (1, 2, 4), (2, 2, 5), (2, 4), (3, 2, 4), (2, 2, 4, 1)]:
        bad = np.zeros(shape, np.float32)
        with pytest.raises(ValueError, match=r"h_0|hx"):
            m(x, pack(case, bad, np.zeros((2, 2, 4), np.float32)))
    with pytest.raises(ValueError, match=r"h_0|hx"):  # unbatched input needs 2-D states
        m(x[:, 0], pack(case, np.zeros((2, 1, 4), np.float32), np.zeros((2, 1, 4), np.float32)))
    with pytest.raises(TypeError):
        m(x, pack(case, np.zeros((2, 2, 4), np.complex128), np.zeros((2, 2, 4))))
    if is_lstm(case):
        with pytest.raises(ValueError, match="c_0"):
            m(x, (np.zeros((2, 2, 4)), np.zeros((2, 2, 5))))
        with pytest.raises(TypeError, match="tuple"):
            m(x, np.zeros((2, 2, 4), np.float32))
        with pytest.raises(TypeError, match="tuple"):
            m(x, (np.zeros((2, 2, 4)),) * 3)
    m(x)  # still usable


@pytest.mark.parametrize("case", ALL)
def test_grad_output_errors(case):
    m = make(case, 3, 4, num_layers=2, bidirectional=True, batch_first=True)
    out, _ = m(np.zeros((2, 5, 3), np.float32))
    for shape in [(5, 2, 8), (2, 5, 4), (2, 5), (2, 5, 8, 1)]:
        with pytest.raises(ValueError, match="grad_output"):
            m.backward(np.zeros(shape, np.float32))
    with pytest.raises(TypeError):
        m.backward(np.zeros(out.shape, np.complex64))
    with pytest.raises(ValueError):
        m.backward(out, pack(case, np.zeros((4, 5, 4)), None))
    if is_lstm(case):
        with pytest.raises(TypeError, match="tuple"):
            m.backward(out, np.zeros((4, 2, 4)))


@pytest.mark.parametrize("cls", [RNN, GRU, LSTM])
def test_constructor_errors(cls):
    for bad in (0, -1):
        with pytest.raises(ValueError, match="hidden_size"):
            cls(3, bad)
        with pytest.raises(ValueError, match="input_size"):
            cls(bad, 3)
        with pytest.raises(ValueError, match="num_layers"):
            cls(3, 4, num_layers=bad)
    for bad in (2.5, "3", None, True):
        with pytest.raises(TypeError, match="hidden_size"):
            cls(3, bad)
    with pytest.raises(TypeError, match="num_layers"):
        cls(3, 4, num_layers=1.0)
    for bad in (1.5, -0.1, "0.5", True):
        with pytest.raises(ValueError, match="dropout"):
            cls(3, 4, dropout=bad)
    for bad in (np.int32, np.complex128, np.float16, "int64", object):
        with pytest.raises(TypeError, match="dtype"):
            cls(3, 4, dtype=bad)
    cls(3, 4, dropout=1)  # the bounds are allowed, as in torch
    cls(np.int64(3), np.int64(4))  # numpy integers are integers


def test_nonlinearity_error():
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="softplus")
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="Tanh")


@pytest.mark.parametrize("case", ALL)
def test_load_state_dict_errors_name_the_key_and_change_nothing(case):
    m = make(case, 3, 4, num_layers=2, bidirectional=True)
    before = m.state_dict()
    good = {k: v + 1 for k, v in before.items()}

    def unchanged():
        for k, v in m.state_dict().items():
            np.testing.assert_array_equal(v, before[k])

    missing = dict(good)
    del missing["bias_hh_l1_reverse"]
    with pytest.raises(ValueError, match="bias_hh_l1_reverse"):
        m.load_state_dict(missing)
    unchanged()
    with pytest.raises(ValueError, match="weight_ih_l2"):
        m.load_state_dict({**good, "weight_ih_l2": np.zeros((4, 8))})
    unchanged()
    wrong = dict(good)
    wrong["weight_hh_l1_reverse"] = np.zeros((GATES[case] * 4, 5))  # a late key: earlier ones are valid
    with pytest.raises(ValueError, match="weight_hh_l1_reverse"):
        m.load_state_dict(wrong)
    unchanged()
    with pytest.raises(ValueError, match="weight_ih_l1"):
        m.load_state_dict({**good, "weight_ih_l1": good["weight_ih_l1"].T})
    unchanged()
    with pytest.raises(TypeError):
        m.load_state_dict({**good, "bias_ih_l0": np.zeros(good["bias_ih_l0"].shape, complex)})
    unchanged()
    with pytest.raises(TypeError):
        m.load_state_dict([("weight_ih_l0", good["weight_ih_l0"])])
    unchanged()
    # a valid load: lists and float64 arrays convert to the layer's dtype
    m.load_state_dict({k: v.astype(np.float64).tolist() for k, v in good.items()})
    for k, v in m.state_dict().items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v, good[k])


@pytest.mark.parametrize("case", ["gru", "lstm"])
def test_load_state_dict_invalidates_saved_forward(case):
    m = make(case, 3, 4)
    out, _ = m(np.ones((3, 2, 3), np.float32))
    m.load_state_dict(m.state_dict())
    with pytest.raises(ValueError, match="forward"):
        m.backward(np.ones_like(out))


def test_version_and_threads_exposed():
    assert isinstance(pyrnn.__version__, str)
    n = pyrnn.get_num_threads()
    assert isinstance(n, int) and n >= 1
