"""Variable-length batches (``lengths=``): the core's batch_sizes path against the reference,
and the modules against PyTorch's packed sequences."""

import numpy as np
import pytest

import pyrnn
from pyrnn import _core
from pyrnn import reference as ref
from test_core import CELLS, assert_close, make_inputs

KINDS = {"rnn_tanh": ("RNN", {}), "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
         "rnn_sigmoid": ("RNN", {"nonlinearity": "sigmoid"}), "rnn_linear": ("RNN", {"nonlinearity": "linear"}),
         "gru": ("GRU", {}),
         "gru_reset_before": ("GRU", {"reset_after": False}), "lstm": ("LSTM", {})}


# Sorted, longest first, as the core wants. The second batch is long with small steps: threads
# take windows of 16 rows through the whole loop, and lengths end inside and across windows.
LENGTHS = [np.array([7, 5, 5, 2, 0]), np.array([80] * 3 + list(range(79, 40, -1)) + [17, 16, 0])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("lengths", LENGTHS, ids=["B5", "B45-windows"])
@pytest.mark.parametrize("cell", CELLS)
def test_core_batch_sizes_match_reference(cell, lengths, dtype):
    T, B, I, H = int(lengths[0]), len(lengths), 6, 17
    batch_sizes = (lengths[None, :] > np.arange(T)[:, None]).sum(1).astype(np.int32)
    p, g = make_inputs(cell, (T, B, I, H), dtype)
    out, hn, cn, ws = _core.forward(cell, p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], True,
                                    batch_sizes)
    grads = _core.backward(cell, p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], out, ws,
                           g["grad_out"], g["grad_hn"], g["grad_cn"], batch_sizes)
    f = {k: None if v is None else v.astype(np.float64) for k, v in {**p, **g}.items()}
    w = (f["w_ih"], f["w_hh"], f["b_ih"], f["b_hh"])
    if cell == "lstm":
        r_out, (r_hn, r_cn), cache = ref.lstm_forward(f["x"], f["h0"], f["c0"], *w, lengths=lengths)
        r = ref.lstm_backward(cache, f["grad_out"], f["grad_hn"], f["grad_cn"])
        assert_close("c_n", cn, r_cn, dtype)
    elif cell.startswith("gru"):
        r_out, r_hn, cache = ref.gru_forward(f["x"], f["h0"], *w, reset_after=cell == "gru", lengths=lengths)
        r = ref.gru_backward(cache, f["grad_out"], f["grad_hn"])
    else:
        r_out, r_hn, cache = ref.rnn_forward(f["x"], f["h0"], *w, nonlinearity=cell[4:], lengths=lengths)
        r = ref.rnn_backward(cache, f["grad_out"], f["grad_hn"])
    assert_close("out", out, r_out, dtype)
    assert all(not out[n:, b].any() for b, n in enumerate(lengths))  # padding is exactly zero
    assert_close("h_n", hn, r_hn, dtype)
    names = ["x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    for name, got in zip(names, grads):
        assert_close(name, got, r.get(name), dtype)


@pytest.mark.parametrize("bad", [[3, 4, 2], [1, 2, 9], [-1, 0, 0]])
def test_core_rejects_bad_batch_sizes(bad):
    p, _ = make_inputs("gru", (3, 4, 2, 5), np.float32)
    with pytest.raises(ValueError, match="batch_sizes"):
        _core.forward("gru", p["x"], p["h0"], None, p["w_ih"], p["w_hh"], None, None, False,
                      np.array(bad, np.int32))


@pytest.mark.parametrize("cell", CELLS)
def test_module_lengths_equal_running_each_sequence_alone(cell):
    kind, kw = KINDS[cell]
    m = getattr(pyrnn.nn, kind)(3, 6, num_layers=2, bidirectional=True, batch_first=True, dtype=np.float64, seed=2,
                                **kw)
    rng = np.random.default_rng(0)
    lengths = np.array([2, 5, 0, 4])
    x = rng.standard_normal((4, 5, 3))
    out, state = m(x, lengths=lengths)
    h_n = state[0] if cell == "lstm" else state
    m.eval()
    for b, n in enumerate(lengths):
        assert not out[b, n:].any()
        if n == 0:
            assert not h_n[:, b].any()
            continue
        alone, alone_state = m(x[b:b + 1, :n])
        np.testing.assert_allclose(out[b, :n], alone[0], rtol=1e-12, atol=1e-12)
        alone_h = alone_state[0] if cell == "lstm" else alone_state
        np.testing.assert_allclose(h_n[:, b], alone_h[:, 0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("layers, bidirectional, batch_first", [(1, False, False), (2, True, True), (3, True, False)])
@pytest.mark.parametrize("cell", ["rnn_tanh", "rnn_relu", "gru", "lstm"])
def test_module_lengths_match_torch_packed_sequence(cell, layers, bidirectional, batch_first, dtype):
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    kind, kw = KINDS[cell]
    T, B, I, H = 6, 4, 5, 7
    lengths = np.array([3, 6, 1, 4])
    m = getattr(pyrnn.nn, kind)(I, H, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first,
                                dtype=dtype, seed=1, **kw)
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    tm = getattr(torch.nn, kind)(I, H, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first,
                                 dtype=tdtype, **kw)
    tm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    out, state = m(x, lengths=lengths)
    xt = torch.tensor(x, requires_grad=True)
    packed = pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
    t_packed, t_state = tm(packed)
    t_out, _ = pad_packed_sequence(t_packed, batch_first=batch_first, total_length=T)
    go = rng.standard_normal(out.shape).astype(dtype)
    states = list(state) if cell == "lstm" else [state]
    t_states = list(t_state) if cell == "lstm" else [t_state]
    g_states = [rng.standard_normal(s.shape).astype(dtype) for s in states]
    grad_x, grad_state = m.backward(go, tuple(g_states) if cell == "lstm" else g_states[0])
    torch.autograd.backward([t_out] + t_states, [torch.tensor(go)] + [torch.tensor(g) for g in g_states])
    tol = dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out, t_out.detach().numpy(), **tol)
    for s, ts in zip(states, t_states):
        np.testing.assert_allclose(s, ts.detach().numpy(), **tol)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), **tol)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(m.grads[name], p.grad.numpy(), err_msg=name, **tol)


def test_lengths_validation():
    m = pyrnn.nn.GRU(3, 4)
    x = np.zeros((5, 2, 3), np.float32)
    with pytest.raises(ValueError, match="lengths"):
        m(x, lengths=[1, 2, 3])
    with pytest.raises(ValueError, match="lengths"):
        m(x, lengths=[6, 1])
    with pytest.raises(ValueError, match="lengths"):
        m(x, lengths=[-1, 1])
    with pytest.raises(TypeError, match="lengths"):
        m(x, lengths=[1.5, 2.0])


@pytest.mark.parametrize("cell", CELLS)
def test_nan_in_padding_does_not_leak(cell):
    kind, kw = KINDS[cell]
    m = getattr(pyrnn.nn, kind)(3, 5, dtype=np.float64, seed=0, **kw)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    x[3:, 1] = np.nan
    out, _ = m(x, lengths=[4, 3])
    m.backward(np.ones_like(out))
    assert np.isfinite(out).all()
    assert all(np.isfinite(g).all() for g in m.grads.values())


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("cell,H,proj", [("lstm", 17, 0), ("lstm", 160, 0), ("lstm", 40, 9), ("gru", 17, 0),
                                         ("gru", 160, 0), ("gru_reset_before", 40, 0)])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_inference_in_chunks_equals_training_forward(cell, H, proj, with_lengths, threads, dtype):
    # Inference projects the input ~512 rows of steps at a time (B=40: 12 steps) unless row
    # windows run; training projects every step at once. Same sums, so the same bits.
    T, B, I = 30, 40, 6
    lengths = np.sort(np.random.default_rng(5).integers(0, T + 1, B))[::-1].copy() if with_lengths else None
    batch_sizes = None if lengths is None else (lengths[None, :] > np.arange(T)[:, None]).sum(1).astype(np.int32)
    p, _ = make_inputs(cell, (T, B, I, H), dtype)
    w_hr = None
    h0 = p["h0"]
    if proj:
        rng = np.random.default_rng(6)
        w_hr = (rng.standard_normal((proj, H)) * 0.3).astype(dtype)
        p["w_hh"] = np.ascontiguousarray(p["w_hh"][:, :proj])
        h0 = np.ascontiguousarray(h0[:, :proj])
    before = pyrnn.get_num_threads()
    pyrnn.set_num_threads(threads)
    try:
        args = (p["x"], h0, p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
        inference = _core.forward(cell, *args, False, batch_sizes, w_hr)
        training = _core.forward(cell, *args, True, batch_sizes, w_hr)
    finally:
        pyrnn.set_num_threads(before)
    for name, a, b in zip(("out", "h_n", "c_n"), inference[:3], training[:3]):
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=name)
    if proj:
        return
    f = {k: None if v is None else v.astype(np.float64) for k, v in p.items()}
    w = (f["w_ih"], f["w_hh"], f["b_ih"], f["b_hh"])
    if cell == "lstm":
        r_out, (r_hn, r_cn), _ = ref.lstm_forward(f["x"], f["h0"], f["c0"], *w, lengths=lengths)
        assert_close("c_n", inference[2], r_cn, dtype)
    else:
        r_out, r_hn, _ = ref.gru_forward(f["x"], f["h0"], *w, reset_after=cell == "gru", lengths=lengths)
    assert_close("out", inference[0], r_out, dtype)
    assert_close("h_n", inference[1], r_hn, dtype)
