"""Property-based tests (hypothesis): random configurations and shapes against the NumPy reference.

Each example draws a cell, sizes, dtype, layers, directions, batch_first, bias, initial states and
optionally per-sequence lengths (zeros included), with empty batches (B = 0) and zero-length
sequences (T = 0) among the shapes. The module's forward must equal the reference run layer by
layer (each direction one reference call, the reverse direction on each sequence's own reversal),
and for one layer its backward must equal the reference's BPTT. Empty shapes work end to end, as
in torch (B = 0 gives empty outputs and zero-sized gradients; T = 0 gives h_n = h_0).
"""

import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pyrnn import reference as ref  # noqa: E402
from pyrnn.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: E402

CASES = ["rnn_tanh", "rnn_relu", "rnn_sigmoid", "rnn_linear", "gru", "gru_reset_before", "lstm"]
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}
# Bounded for CI; PYRNN_HYPOTHESIS_EXAMPLES=2000 for a deeper local search.
SETTINGS = settings(max_examples=int(os.environ.get("PYRNN_HYPOTHESIS_EXAMPLES", 50)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def make(case, input_size, hidden_size, **kw):
    if case.startswith("rnn"):
        return RNN(input_size, hidden_size, nonlinearity=case[4:], **kw)
    if case.startswith("gru"):
        return GRU(input_size, hidden_size, reset_after=case == "gru", **kw)
    return LSTM(input_size, hidden_size, **kw)


def reverse(seq, lengths):
    """Each sequence's first lengths[b] steps in reverse order; padding stays where it is."""
    T, B = seq.shape[:2]
    t = np.arange(T)[:, None]
    src = np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    return seq[src, np.arange(B)[None, :]]


def ref_layer(case, x, h0, c0, w, lengths):
    """One reference layer, one direction: (out, h_n, c_n or None, cache)."""
    if case.startswith("rnn"):
        out, hn, cache = ref.rnn_forward(x, h0, *w, nonlinearity=case[4:], lengths=lengths)
        return out, hn, None, cache
    if case.startswith("gru"):
        out, hn, cache = ref.gru_forward(x, h0, *w, reset_after=case == "gru", lengths=lengths)
        return out, hn, None, cache
    out, (hn, cn), cache = ref.lstm_forward(x, h0, c0, *w, lengths=lengths)
    return out, hn, cn, cache


def ref_layer_backward(case, cache, grad_out, grad_hn, grad_cn):
    if case.startswith("rnn"):
        return ref.rnn_backward(cache, grad_out, grad_hn)
    if case.startswith("gru"):
        return ref.gru_backward(cache, grad_out, grad_hn)
    return ref.lstm_backward(cache, grad_out, grad_hn, grad_cn)


configs = st.fixed_dictionaries({
    "case": st.sampled_from(CASES),
    "dtype": st.sampled_from([np.float32, np.float64]),
    "I": st.integers(1, 6),
    "H": st.one_of(st.integers(1, 9), st.integers(10, 40)),  # across the kernels' unit blocks
    "T": st.integers(0, 6),
    "B": st.integers(0, 5),
    "layers": st.integers(1, 2),
    "bidirectional": st.booleans(),
    "batch_first": st.booleans(),
    "bias": st.booleans(),
    "with_states": st.booleans(),
    "with_lengths": st.booleans(),
    "unbatched": st.booleans(),
    "seed": st.integers(0, 2**16),
})


@SETTINGS
@given(cfg=configs, data=st.data())
def test_module_matches_reference(cfg, data):
    case, dtype, I, H, T, B = (cfg[k] for k in ("case", "dtype", "I", "H", "T", "B"))
    unbatched = cfg["unbatched"] and not cfg["with_lengths"]
    if unbatched:
        B = 1
    lengths = None
    if cfg["with_lengths"]:
        lengths = np.array(data.draw(st.lists(st.integers(0, T), min_size=B, max_size=B)), dtype=np.int64)
    D, L = 2 if cfg["bidirectional"] else 1, cfg["layers"]
    lstm = case == "lstm"
    m = make(case, I, H, num_layers=L, bidirectional=cfg["bidirectional"], batch_first=cfg["batch_first"],
             bias=cfg["bias"], dtype=dtype, seed=cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = rng.standard_normal((L * D, B, H)).astype(dtype) if cfg["with_states"] else np.zeros((L * D, B, H), dtype)
    c0 = rng.standard_normal((L * D, B, H)).astype(dtype) if cfg["with_states"] else np.zeros((L * D, B, H), dtype)

    # --- the module, in its own layout
    xin = x[:, 0] if unbatched else (x.transpose(1, 0, 2) if cfg["batch_first"] else x)
    s_h, s_c = (h0[:, 0], c0[:, 0]) if unbatched else (h0, c0)
    hx = ((s_h, s_c) if lstm else s_h) if cfg["with_states"] else None
    out, hn = m(xin, hx, lengths=lengths)
    hn, cn = hn if lstm else (hn, None)
    if unbatched:
        out, hn = out[:, None], hn[:, None]
        cn = cn[:, None] if lstm else None
    elif cfg["batch_first"]:
        out = out.transpose(1, 0, 2)
    assert out.shape == (T, B, D * H) and out.dtype == dtype
    assert hn.shape == (L * D, B, H)

    # --- the reference, layer by layer, in float64
    p = {k: v.astype(np.float64) for k, v in m.state_dict().items()}
    full = np.full(B, T, np.int64) if lengths is None else lengths
    layer_in = x.astype(np.float64)
    caches = []
    for layer in range(L):
        outs = []
        for d in range(D):
            k = layer * D + d
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w = (p["weight_ih" + sfx], p["weight_hh" + sfx], p.get("bias_ih" + sfx), p.get("bias_hh" + sfx))
            seq = layer_in if d == 0 else reverse(layer_in, full)
            o, h, c, cache = ref_layer(case, seq, h0[k].astype(np.float64), c0[k].astype(np.float64), w, lengths)
            caches.append(cache)
            np.testing.assert_allclose(hn[k], h, **TOL[dtype])
            if lstm:
                np.testing.assert_allclose(cn[k], c, **TOL[dtype])
            outs.append(o if d == 0 else reverse(o, full))
        layer_in = np.concatenate(outs, axis=2)
    np.testing.assert_allclose(out, layer_in, **TOL[dtype])
    if lengths is not None:  # past each sequence's end the output is exactly zero
        assert not out[np.arange(T)[:, None] >= lengths[None, :]].any()

    # --- backward (one layer: each direction is one reference BPTT)
    if L != 1:
        return
    g_out = rng.standard_normal((T, B, D * H))
    g_h = rng.standard_normal((D, B, H))
    g_c = rng.standard_normal((D, B, H))
    gin = g_out[:, 0] if unbatched else (g_out.transpose(1, 0, 2) if cfg["batch_first"] else g_out)
    gh_in, gc_in = (g_h[:, 0], g_c[:, 0]) if unbatched else (g_h, g_c)
    gx, gstate = m.backward(gin, (gh_in, gc_in) if lstm else gh_in)
    gh0, gc0 = gstate if lstm else (gstate, None)
    if unbatched:
        gx, gh0 = gx[:, None], gh0[:, None]
        gc0 = gc0[:, None] if lstm else None
    elif cfg["batch_first"]:
        gx = gx.transpose(1, 0, 2)
    want_gx = np.zeros((T, B, I))
    for d in range(D):
        sfx = "_l0" + ("_reverse" if d else "")
        go = g_out[:, :, d * H:(d + 1) * H]
        r = ref_layer_backward(case, caches[d], go if d == 0 else reverse(go, full), g_h[d], g_c[d])
        want_gx += r["x"] if d == 0 else reverse(r["x"], full)
        np.testing.assert_allclose(gh0[d], r["h0"], **TOL[dtype])
        if lstm:
            np.testing.assert_allclose(gc0[d], r["c0"], **TOL[dtype])
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            if r[kind] is not None:
                scale = max(1.0, np.abs(r[kind]).max())
                np.testing.assert_allclose(m.grads[kind + sfx], r[kind], rtol=TOL[dtype]["rtol"],
                                           atol=TOL[dtype]["atol"] * scale * max(1, T * B))
    np.testing.assert_allclose(gx, want_gx, **TOL[dtype])


@SETTINGS
@given(case=st.sampled_from(CASES), dtype=st.sampled_from([np.float32, np.float64]), I=st.integers(1, 7),
       H=st.integers(1, 12), B=st.integers(0, 7), training=st.booleans(), bias=st.booleans(),
       unbatched=st.booleans(), seed=st.integers(0, 2**16))
def test_cell_step_matches_reference(case, dtype, I, H, B, training, bias, unbatched, seed):
    """One step of RNNCell/GRUCell/LSTMCell (the streaming path at B <= 4, the sequence path above)."""
    if unbatched:
        B = 1
    if case.startswith("rnn"):
        cell = RNNCell(I, H, bias=bias, nonlinearity=case[4:], dtype=dtype, seed=seed)
    elif case.startswith("gru"):
        cell = GRUCell(I, H, bias=bias, reset_after=case == "gru", dtype=dtype, seed=seed)
    else:
        cell = LSTMCell(I, H, bias=bias, dtype=dtype, seed=seed)
    cell.train(training)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, I)).astype(dtype)
    h = rng.standard_normal((B, H)).astype(dtype)
    c = rng.standard_normal((B, H)).astype(dtype)
    lstm = case == "lstm"
    sq = (lambda a: a[0]) if unbatched else (lambda a: a)
    res = cell(sq(x), (sq(h), sq(c)) if lstm else sq(h))
    h1, c1 = res if lstm else (res, None)
    p = {k: v.astype(np.float64) for k, v in cell.state_dict().items()}
    w = (p["weight_ih"], p["weight_hh"], p.get("bias_ih"), p.get("bias_hh"))
    _, rh, rc, cache = ref_layer(case, x[None].astype(np.float64), h.astype(np.float64), c.astype(np.float64), w,
                                 None)
    np.testing.assert_allclose(h1, sq(rh), **TOL[dtype])
    if lstm:
        np.testing.assert_allclose(c1, sq(rc), **TOL[dtype])
    if training:
        gh, gc = rng.standard_normal((B, H)), rng.standard_normal((B, H))
        gx, gs = cell.backward(sq(gh), sq(gc)) if lstm else cell.backward(sq(gh))
        r = ref_layer_backward(case, cache, np.zeros((1, B, H)), gh, gc)
        np.testing.assert_allclose(gx, sq(r["x"][0]), **TOL[dtype])
        np.testing.assert_allclose(gs[0] if lstm else gs, sq(r["h0"]), **TOL[dtype])
