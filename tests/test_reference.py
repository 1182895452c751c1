"""Tests of the NumPy reference (pyrnn.reference), the oracle for everything else.

* Every gradient entry (x, h0, c0, weights, biases) against central differences in float64,
  for every cell and variant, with and without biases, with and without lengths.
* The forward pass against the cell equations written out gate by gate.
* lengths semantics: zero outputs past a sequence's end, final state at its last valid step,
  identical (forward and backward) to running each sequence alone, truncated.
* float32 against float64; the stable sigmoid; input validation.
* Against torch.nn.RNN / GRU / LSTM (forward, final states, all gradients) when torch is installed.
"""

import math

import numpy as np
import pytest

from pyrnn import reference as ref

T, B, I, H = 3, 3, 3, 4
LENGTHS = np.array([2, 0, 3])  # a partial length, a zero length and a full length
EPS = 1e-6

CASES = {
    "rnn_tanh": ("rnn", {"nonlinearity": "tanh"}),
    "rnn_relu": ("rnn", {"nonlinearity": "relu"}),
    "gru_reset_after": ("gru", {"reset_after": True}),
    "gru_reset_before": ("gru", {"reset_after": False}),
    "lstm": ("lstm", {}),
    # Keras's other GRU/LSTM activations (activation, recurrent_activation)
    "gru_linear_hard_sigmoid": ("gru", {"reset_after": True, "activation": "linear", "recurrent_activation": "hard_sigmoid"}),
    "gru_before_relu_tanh": ("gru", {"reset_after": False, "activation": "relu", "recurrent_activation": "tanh"}),
    "lstm_sigmoid_linear": ("lstm", {"activation": "sigmoid", "recurrent_activation": "linear"}),
}
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
# Seeds per case; the relu seed is one whose pre-activations all stay away from the kink at 0
# (asserted in the tests that rely on it).
SEEDS = {"rnn_tanh": 1, "rnn_relu": 7, "gru_reset_after": 3, "gru_reset_before": 4, "lstm": 5,
         "gru_linear_hard_sigmoid": 6, "gru_before_relu_tanh": 8, "lstm_sigmoid_linear": 9}


# ---------------------------------------------------------------------------
# Helpers: one interface over the three cells
# ---------------------------------------------------------------------------


def make_params(case, bias=True, seed=None, dtype=np.float64):
    kind, _ = CASES[case]
    rng = np.random.default_rng(SEEDS[case] if seed is None else seed)
    G = GATES[kind]
    p = {
        "x": rng.standard_normal((T, B, I)),
        "h0": 0.5 * rng.standard_normal((B, H)),
        "weight_ih": rng.uniform(-0.7, 0.7, (G * H, I)),
        "weight_hh": rng.uniform(-0.7, 0.7, (G * H, H)),
        "bias_ih": rng.uniform(-0.5, 0.5, G * H) if bias else None,
        "bias_hh": rng.uniform(-0.5, 0.5, G * H) if bias else None,
    }
    if kind == "lstm":
        p["c0"] = 0.5 * rng.standard_normal((B, H))
    return {k: (None if v is None else v.astype(dtype)) for k, v in p.items()}


def n_states(case):
    return 2 if CASES[case][0] == "lstm" else 1


def forward(case, p, lengths=None):
    """Returns (out, [h_n] or [h_n, c_n], cache)."""
    kind, kw = CASES[case]
    w = (p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
    if kind == "lstm":
        out, (h, c), cache = ref.lstm_forward(p["x"], p["h0"], p["c0"], *w, lengths=lengths, **kw)
        return out, [h, c], cache
    fwd = ref.rnn_forward if kind == "rnn" else ref.gru_forward
    out, h, cache = fwd(p["x"], p["h0"], *w, lengths=lengths, **kw)
    return out, [h], cache


def backward(case, cache, grad_out, grad_states):
    kind, _ = CASES[case]
    if kind == "lstm":
        return ref.lstm_backward(cache, grad_out, grad_states[0], grad_states[1])
    bwd = ref.rnn_backward if kind == "rnn" else ref.gru_backward
    return bwd(cache, grad_out, grad_states[0])


def random_cotangents(case, seed=100):
    """R (for out) and S, U (for h_n, c_n): L = sum(out*R) + sum(h_n*S) (+ sum(c_n*U))."""
    rng = np.random.default_rng(seed)
    R = rng.standard_normal((T, B, H))
    S = [rng.standard_normal((B, H)) for _ in range(n_states(case))]
    return R, S


def loss(case, p, lengths, R, S):
    out, states, _ = forward(case, p, lengths)
    return float(np.sum(out * R) + sum(np.sum(s * w) for s, w in zip(states, S)))


def numeric_grad(case, p, name, lengths, R, S):
    """Central differences of the loss w.r.t. every entry of p[name]."""
    p = {k: (None if v is None else v.copy()) for k, v in p.items()}
    a = p[name]
    g = np.zeros_like(a)
    for idx in np.ndindex(a.shape):
        orig = a[idx]
        a[idx] = orig + EPS
        lp = loss(case, p, lengths, R, S)
        a[idx] = orig - EPS
        lm = loss(case, p, lengths, R, S)
        a[idx] = orig
        g[idx] = (lp - lm) / (2 * EPS)
    return g


def rnn_preactivations(p, out, lengths):
    """Pre-activations a_t of the valid steps of an RNN run (valid steps are a prefix,
    so h_{t-1} of a valid step t is out[t-1], or h0 at t = 0)."""
    lens = np.full(B, T) if lengths is None else lengths
    pre = []
    for b in range(B):
        h = p["h0"][b]
        for t in range(lens[b]):
            a = p["weight_ih"] @ p["x"][t, b] + p["weight_hh"] @ h
            if p["bias_ih"] is not None:
                a = a + p["bias_ih"] + p["bias_hh"]
            pre.append(a)
            h = out[t, b]
    return np.concatenate(pre)


# ---------------------------------------------------------------------------
# Gradients against central differences (float64)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("case", list(CASES))
def test_gradients_match_central_differences(case, bias, use_lengths):
    p = make_params(case, bias)
    lengths = LENGTHS if use_lengths else None
    R, S = random_cotangents(case)
    out, states, cache = forward(case, p, lengths)
    if case == "rnn_relu":
        # Central differences across the relu kink would be wrong; make sure none is near.
        pre = rnn_preactivations(p, out, lengths)
        assert np.min(np.abs(pre)) > 1e-3
        assert (pre > 0).any() and (pre < 0).any()  # both branches of relu are exercised

    grads = backward(case, cache, R, S)

    expected_keys = {"x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"} | (
        {"c0"} if n_states(case) == 2 else set()
    )
    assert set(grads) == expected_keys
    for name in expected_keys:
        if p[name] is None:
            assert grads[name] is None, name
            continue
        num = numeric_grad(case, p, name, lengths, R, S)
        assert grads[name].shape == p[name].shape, name
        assert grads[name].dtype == np.float64, name
        assert np.abs(num).max() > 1e-3, f"{name}: gradient is trivially zero, test would be vacuous"
        np.testing.assert_allclose(grads[name], num, rtol=1e-6, atol=1e-8, err_msg=name)


# ---------------------------------------------------------------------------
# Forward against the equations, written out gate by gate
# ---------------------------------------------------------------------------


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


_EQ_ACTIVATIONS = {"tanh": np.tanh, "sigmoid": _sig, "relu": lambda a: np.where(a > 0, a, 0.0),
                   "linear": lambda a: a, "hard_sigmoid": lambda a: np.minimum(np.maximum(a / 6 + 0.5, 0.0), 1.0)}


def _step_by_equations(case, p, x, h, c):
    """One step for a batch, straight from the equations, using per-gate weight blocks."""
    kind, kw = CASES[case]
    act = _EQ_ACTIVATIONS[kw.get("activation", "tanh")]
    rec = _EQ_ACTIVATIONS[kw.get("recurrent_activation", "sigmoid")]
    Wi, Wh = p["weight_ih"], p["weight_hh"]
    bi = p["bias_ih"] if p["bias_ih"] is not None else np.zeros(Wi.shape[0])
    bh = p["bias_hh"] if p["bias_hh"] is not None else np.zeros(Wh.shape[0])

    def blk(M, k):
        return M[k * H : (k + 1) * H]

    if kind == "rnn":
        a = x @ Wi.T + bi + h @ Wh.T + bh
        return (np.tanh(a) if kw["nonlinearity"] == "tanh" else np.where(a > 0, a, 0.0)), None
    if kind == "gru":
        r = rec(x @ blk(Wi, 0).T + blk(bi, 0) + h @ blk(Wh, 0).T + blk(bh, 0))
        z = rec(x @ blk(Wi, 1).T + blk(bi, 1) + h @ blk(Wh, 1).T + blk(bh, 1))
        if kw["reset_after"]:
            n = act(x @ blk(Wi, 2).T + blk(bi, 2) + r * (h @ blk(Wh, 2).T + blk(bh, 2)))
        else:
            n = act(x @ blk(Wi, 2).T + blk(bi, 2) + (r * h) @ blk(Wh, 2).T + blk(bh, 2))
        return (1 - z) * n + z * h, None
    pre = [x @ blk(Wi, k).T + blk(bi, k) + h @ blk(Wh, k).T + blk(bh, k) for k in range(4)]
    i, f, g, o = rec(pre[0]), rec(pre[1]), act(pre[2]), rec(pre[3])
    c_new = f * c + i * g
    return o * act(c_new), c_new


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("case", list(CASES))
def test_forward_matches_equations(case, bias):
    p = make_params(case, bias)
    out, states, _ = forward(case, p)
    h, c = p["h0"], p.get("c0")
    for t in range(T):
        h, c = _step_by_equations(case, p, p["x"][t], h, c)
        np.testing.assert_allclose(out[t], h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(states[0], h, rtol=1e-12, atol=1e-14)
    if c is not None:
        np.testing.assert_allclose(states[1], c, rtol=1e-12, atol=1e-14)


def test_gru_variants_differ():
    # The two GRU forms must really be different computations (guards against a flag that is ignored).
    p = make_params("gru_reset_after")
    a = ref.gru_forward(p["x"], p["h0"], p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], reset_after=True)
    b = ref.gru_forward(p["x"], p["h0"], p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], reset_after=False)
    assert np.abs(a[0] - b[0]).max() > 1e-3


# ---------------------------------------------------------------------------
# lengths semantics
# ---------------------------------------------------------------------------


def _alone(p, b, L):
    """Parameters for sequence b alone, truncated to length L."""
    q = dict(p)
    q["x"] = p["x"][:L, b : b + 1]
    q["h0"] = p["h0"][b : b + 1]
    if "c0" in p:
        q["c0"] = p["c0"][b : b + 1]
    return q


@pytest.mark.parametrize("case", list(CASES))
def test_lengths_semantics(case):
    p = make_params(case)
    R, S = random_cotangents(case)
    out, states, cache = forward(case, p, LENGTHS)
    grads = backward(case, cache, R, S)
    init = ["h0", "c0"][: n_states(case)]

    summed = {k: np.zeros_like(p[k]) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    for b, L in enumerate(LENGTHS):
        # Outputs past the end are exactly zero, and so is the gradient w.r.t. padded inputs.
        assert np.all(out[L:, b] == 0)
        assert np.all(grads["x"][L:, b] == 0)
        if L == 0:
            for s, name in zip(states, init):
                np.testing.assert_array_equal(s[b], p[name][b])
        q = _alone(p, b, L)
        out_b, states_b, cache_b = forward(case, q)
        grads_b = backward(case, cache_b, R[:L, b : b + 1], [s[b : b + 1] for s in S])
        np.testing.assert_allclose(out[:L, b], out_b[:, 0], rtol=1e-13, atol=1e-15)
        for s, s_b in zip(states, states_b):
            np.testing.assert_allclose(s[b], s_b[0], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(grads["x"][:L, b], grads_b["x"][:, 0], rtol=1e-12, atol=1e-14)
        for name in init:
            np.testing.assert_allclose(grads[name][b], grads_b[name][0], rtol=1e-12, atol=1e-14)
        for k in summed:
            summed[k] += grads_b[k]
    # Weights are shared: their gradients are the sums over the sequences run alone.
    for k in summed:
        np.testing.assert_allclose(grads[k], summed[k], rtol=1e-11, atol=1e-13, err_msg=k)


@pytest.mark.parametrize("case", list(CASES))
def test_full_lengths_equal_no_lengths(case):
    p = make_params(case)
    R, S = random_cotangents(case)
    out_a, st_a, cache_a = forward(case, p)
    out_b, st_b, cache_b = forward(case, p, np.full(B, T))
    np.testing.assert_allclose(out_a, out_b, rtol=1e-14, atol=0)
    for a, b in zip(st_a, st_b):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)
    ga, gb = backward(case, cache_a, R, S), backward(case, cache_b, R, S)
    for k in ga:
        np.testing.assert_allclose(ga[k], gb[k], rtol=1e-14, atol=0, err_msg=k)


@pytest.mark.parametrize("case", list(CASES))
def test_all_zero_lengths_return_initial_state(case):
    p = make_params(case)
    R, S = random_cotangents(case)
    out, states, cache = forward(case, p, np.zeros(B, dtype=np.int64))
    assert np.all(out == 0)
    grads = backward(case, cache, R, S)
    for s, g, name, Sk in zip(states, [grads["h0"], grads.get("c0")], ["h0", "c0"], S):
        np.testing.assert_array_equal(s, p[name])
        np.testing.assert_array_equal(g, Sk)  # dL/dh0 = dL/dh_n when nothing is computed
    for k in ("x", "weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert np.all(grads[k] == 0), k


# ---------------------------------------------------------------------------
# float32
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_float32_agrees_with_float64(case):
    p64 = make_params(case)
    p32 = dict(p64)
    p32["x"] = p64["x"].astype(np.float32)  # only x is float32: it sets the compute dtype
    R, S = random_cotangents(case)
    out64, st64, cache64 = forward(case, p64, LENGTHS)
    out32, st32, cache32 = forward(case, p32, LENGTHS)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, rtol=1e-5, atol=1e-5)
    for a, b in zip(st32, st64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    g64 = backward(case, cache64, R, S)
    g32 = backward(case, cache32, R, S)
    for k in g64:
        assert g32[k].dtype == np.float32, k
        np.testing.assert_allclose(g32[k], g64[k], rtol=1e-4, atol=1e-4, err_msg=k)


def test_sigmoid_is_stable_and_accurate():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a64 = np.array([-800.0, -50.0, -1.0, 0.0, 1.0, 50.0, 800.0])
        s64 = ref._sigmoid(a64)
        a32 = np.array([-80.0, -20.0, 0.0, 20.0, 80.0], dtype=np.float32)
        s32 = ref._sigmoid(a32)
    assert s64.dtype == np.float64 and s32.dtype == np.float32

    def exact(a):
        return math.exp(a) / (1 + math.exp(a)) if a < 0 else 1 / (1 + math.exp(-a))

    for a, s in zip(a64, s64):
        want = exact(a) if a > -700 else 0.0
        assert s == want or abs(s - want) <= 2e-16 * want, (a, s, want)
    for a, s in zip(a32, s32):
        want = exact(float(a))
        assert abs(float(s) - want) <= 2e-7 * want, (a, s, want)  # relative, even for tiny values


def test_saturated_inputs_give_finite_results():
    for case in CASES:
        p = make_params(case)
        p["x"] = p["x"] * 1e4
        R, S = random_cotangents(case)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            out, states, cache = forward(case, p, LENGTHS)
            grads = backward(case, cache, R, S)
        assert np.all(np.isfinite(out)), case
        assert all(np.all(np.isfinite(g)) for g in grads.values() if g is not None), case


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def test_invalid_inputs_raise_value_error():
    p = make_params("lstm")
    x, h0, c0, wi, wh, bi, bh = (p[k] for k in ("x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    bad_calls = [
        lambda: ref.lstm_forward(x[0], h0, c0, wi, wh, bi, bh),  # x not 3-D
        lambda: ref.lstm_forward(x.astype(np.int64), h0, c0, wi, wh, bi, bh),  # not floating
        lambda: ref.lstm_forward(x, h0[:, :2], c0, wi, wh, bi, bh),  # h0 shape
        lambda: ref.lstm_forward(x, h0, c0[:1], wi, wh, bi, bh),  # c0 shape
        lambda: ref.lstm_forward(x, h0, c0, wi[:, :2], wh, bi, bh),  # weight_ih columns
        lambda: ref.lstm_forward(x, h0, c0, wi, wh[:-1], bi, bh),  # weight_hh rows
        lambda: ref.gru_forward(x, h0, wi, wh, bi, bh),  # 4H weights given to a GRU
        lambda: ref.lstm_forward(x, h0, c0, wi, wh, bi[:-1], bh),  # bias shape
        lambda: ref.lstm_forward(x, h0, c0, wi, wh, bi, bh, lengths=[1, 2]),  # wrong count
        lambda: ref.lstm_forward(x, h0, c0, wi, wh, bi, bh, lengths=[1, 2, T + 1]),  # > T
        lambda: ref.lstm_forward(x, h0, c0, wi, wh, bi, bh, lengths=[1, -1, 2]),  # < 0
        lambda: ref.lstm_forward(x, h0, c0, wi, wh, bi, bh, lengths=[1.5, 1, 2]),  # not integers
        lambda: ref.rnn_forward(x, h0, wi[:H], wh[:H], nonlinearity="softplus"),
        lambda: ref.lstm_backward(ref.lstm_forward(x, h0, c0, wi, wh)[2], np.zeros((T, B, H + 1))),
        lambda: ref.lstm_backward(ref.lstm_forward(x, h0, c0, wi, wh)[2], np.zeros((T, B, H)), np.zeros((B,))),
    ]
    for k, call in enumerate(bad_calls):
        with pytest.raises(ValueError):
            call()
            pytest.fail(f"bad call #{k} did not raise")


# ---------------------------------------------------------------------------
# Against PyTorch (skipped when torch is not installed)
# ---------------------------------------------------------------------------

TORCH_CASES = ["rnn_tanh", "rnn_relu", "gru_reset_after", "lstm"]
TORCH_LENGTHS = np.array([2, 1, 3])  # packed sequences need lengths >= 1


def torch_run(case, p, lengths, R, S):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    kind, kw = CASES[case]
    bias = p["bias_ih"] is not None
    common = dict(input_size=I, hidden_size=H, num_layers=1, bias=bias, dtype=torch.float64)
    if kind == "rnn":
        m = torch.nn.RNN(nonlinearity=kw["nonlinearity"], **common)
    elif kind == "gru":
        m = torch.nn.GRU(**common)
    else:
        m = torch.nn.LSTM(**common)
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
    with torch.no_grad():
        for n in names:
            getattr(m, n + "_l0").copy_(torch.from_numpy(p[n]))

    x = torch.tensor(p["x"], requires_grad=True)
    init = [torch.tensor(p[n][None], requires_grad=True) for n in ["h0", "c0"][: n_states(case)]]
    inp = x
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(x, torch.as_tensor(lengths), enforce_sorted=False)
    out, final = m(inp, tuple(init) if kind == "lstm" else init[0])
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    final = list(final) if kind == "lstm" else [final]
    L = (out * torch.from_numpy(R)).sum()
    for s, w in zip(final, S):
        L = L + (s[0] * torch.from_numpy(w)).sum()
    L.backward()

    grads = {"x": x.grad.numpy()}
    for n, t in zip(["h0", "c0"], init):
        grads[n] = t.grad[0].numpy()
    for n in ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]:
        grads[n] = getattr(m, n + "_l0").grad.numpy() if bias or n.startswith("weight") else None
    return out.detach().numpy(), [s[0].detach().numpy() for s in final], grads


@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("case", TORCH_CASES)
def test_matches_torch(case, bias, use_lengths):
    pytest.importorskip("torch")
    p = make_params(case, bias)
    lengths = TORCH_LENGTHS if use_lengths else None
    R, S = random_cotangents(case)
    out, states, cache = forward(case, p, lengths)
    grads = backward(case, cache, R, S)
    t_out, t_states, t_grads = torch_run(case, p, lengths, R, S)

    np.testing.assert_allclose(out, t_out, rtol=1e-10, atol=1e-12)
    for s, ts in zip(states, t_states):
        np.testing.assert_allclose(s, ts, rtol=1e-10, atol=1e-12)
    assert set(grads) == set(t_grads)
    for k in grads:
        if t_grads[k] is None:
            assert grads[k] is None, k
        else:
            np.testing.assert_allclose(grads[k], t_grads[k], rtol=1e-10, atol=1e-12, err_msg=k)
