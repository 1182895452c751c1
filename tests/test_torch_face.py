"""pyrnn.torch: the torch.nn recurrent classes with pyrnn's kernels under autograd.

Parity with torch.nn (forward, states, every gradient), gradcheck, PackedSequence, convert,
fallback, serialisation, in-place weight updates, RNG draws, and expectations carried over
from PyTorch's own recurrent-module tests (test/test_nn.py, test/nn/test_packed_sequence.py).
"""

import copy
import datetime
import io
import itertools
import pickle
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.nn.utils import rnn as rnn_utils  # noqa: E402

import pyrnn.torch as rt  # noqa: E402

TOL = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-9, atol=1e-11)}


def pair(cls_name, *args, dtype=torch.float32, **kwargs):
    """(torch.nn module, rt module) built from the same seed: identical weights if the RNG draws match."""
    torch.manual_seed(1234)
    ref = getattr(torch.nn, cls_name)(*args, dtype=dtype, **kwargs)
    torch.manual_seed(1234)
    ours = getattr(rt, cls_name)(*args, dtype=dtype, **kwargs)
    return ref, ours


def flat(out):
    if isinstance(out, rnn_utils.PackedSequence):
        return [out.data]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in flat(o)]
    return [out]


def run_both(ref, ours, make_inputs, dtype):
    """Same inputs (fresh leaves) through both; compare outputs and the gradients of a random
    weighting of every output w.r.t. inputs and parameters."""
    results = []
    for m in (ref, ours):
        torch.manual_seed(99)
        args, leaves = make_inputs()
        outs = flat(m(*args))
        g = torch.Generator().manual_seed(7)
        loss = sum((o * torch.randn(o.shape, generator=g, dtype=dtype)).sum() for o in outs)
        grads = torch.autograd.grad(loss, leaves + list(m.parameters()))
        results.append((outs, grads))
    (o1, g1), (o2, g2) = results
    assert len(o1) == len(o2)
    for a, b in zip(o1, o2):
        assert a.shape == b.shape and a.dtype == b.dtype
        torch.testing.assert_close(b, a, **TOL[dtype])
    for a, b in zip(g1, g2):
        torch.testing.assert_close(b, a, **TOL[dtype])


DTYPES = [torch.float32, torch.float64]
STACK_OPTIONS = list(itertools.product(
    ["RNN_tanh", "RNN_relu", "GRU", "LSTM", "LSTM_proj"], [1, 2], [False, True], [False, True], [True, False]))


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind,layers,bidir,batch_first,bias", STACK_OPTIONS)
def test_stack_parity(kind, layers, bidir, batch_first, bias, dtype):
    name = kind.split("_")[0]
    kw = dict(num_layers=layers, bidirectional=bidir, batch_first=batch_first, bias=bias)
    if name == "RNN":
        kw["nonlinearity"] = kind.split("_")[1]
    if kind == "LSTM_proj":
        kw["proj_size"] = 3
    ref, ours = pair(name, 5, 7, dtype=dtype, **kw)
    T, B = 6, 4
    D, P = 2 if bidir else 1, 3 if kind == "LSTM_proj" else 7

    def inputs():
        x = torch.randn((B, T, 5) if batch_first else (T, B, 5), dtype=dtype, requires_grad=True)
        h = torch.randn(layers * D, B, P, dtype=dtype, requires_grad=True)
        if name == "LSTM":
            c = torch.randn(layers * D, B, 7, dtype=dtype, requires_grad=True)
            return (x, (h, c)), [x, h, c]
        return (x, h), [x, h]
    run_both(ref, ours, inputs, dtype)


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_stack_defaults_unbatched_and_no_hx(name):
    ref, ours = pair(name, 4, 6, num_layers=2, bidirectional=True)

    def unbatched():
        x = torch.randn(5, 4, requires_grad=True)
        return (x,), [x]
    run_both(ref, ours, unbatched, torch.float32)

    def unbatched_hx():
        x = torch.randn(5, 4, requires_grad=True)
        h = torch.randn(4, 6, requires_grad=True)
        if name == "LSTM":
            c = torch.randn(4, 6, requires_grad=True)
            return (x, (h, c)), [x, h, c]
        return (x, h), [x, h]
    run_both(ref, ours, unbatched_hx, torch.float32)


CELL_OPTIONS = [("RNNCell", "tanh"), ("RNNCell", "relu"), ("GRUCell", None), ("LSTMCell", None)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name,nl", CELL_OPTIONS)
@pytest.mark.parametrize("batched", [True, False])
def test_cell_parity(name, nl, bias, dtype, batched):
    kw = dict(bias=bias)
    if nl:
        kw["nonlinearity"] = nl
    ref, ours = pair(name, 5, 7, dtype=dtype, **kw)
    shape = (3,) if batched else ()

    def inputs():
        x = torch.randn(*shape, 5, dtype=dtype, requires_grad=True)
        h = torch.randn(*shape, 7, dtype=dtype, requires_grad=True)
        if name == "LSTMCell":
            c = torch.randn(*shape, 7, dtype=dtype, requires_grad=True)
            return (x, (h, c)), [x, h, c]
        return (x, h), [x, h]
    run_both(ref, ours, inputs, dtype)


@pytest.mark.parametrize("name", ["RNNCell", "GRUCell", "LSTMCell"])
def test_cell_unrolled_many_steps_and_no_hx(name):
    """Several calls into one graph (the tape is per call, not per module)."""
    ref, ours = pair(name, 4, 6, dtype=torch.float64)

    def unrolled(m):
        def run():
            xs = torch.randn(7, 2, 4, dtype=torch.float64, requires_grad=True)
            state = None
            outs = []
            for t in range(7):
                state = m(xs[t], state)
                outs.append(state[0] if isinstance(state, tuple) else state)
            return torch.stack(outs), xs
        return run
    outs = []
    for m in (ref, ours):
        torch.manual_seed(3)
        y, xs = unrolled(m)()
        grads = torch.autograd.grad((y ** 2).sum(), [xs] + list(m.parameters()))
        outs.append((y, grads))
    torch.testing.assert_close(outs[1][0], outs[0][0], **TOL[torch.float64])
    for a, b in zip(outs[0][1], outs[1][1]):
        torch.testing.assert_close(b, a, **TOL[torch.float64])


# ------------------------------------------------------------------------------ gradcheck
@pytest.mark.parametrize("name,kw", [("RNN", dict(nonlinearity="tanh")), ("GRU", {}), ("LSTM", {}),
                                     ("LSTM", dict(proj_size=2)), ("GRU", dict(bidirectional=True, num_layers=2))])
def test_gradcheck_stack(name, kw):
    m = getattr(rt, name)(3, 4, dtype=torch.float64, **kw)
    params = list(m.parameters())
    names = [n for n, _ in m.named_parameters()]
    D = 2 if kw.get("bidirectional") else 1
    L = kw.get("num_layers", 1)
    P = kw.get("proj_size", 0) or 4
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(L * D, 2, P, dtype=torch.float64, requires_grad=True)
    c = torch.randn(L * D, 2, 4, dtype=torch.float64, requires_grad=True)

    def f(x, h, c, *ps):
        out = torch.func.functional_call(m, dict(zip(names, ps)), (x, (h, c) if name == "LSTM" else h))
        return tuple(flat(out))
    inputs = (x, h, c) + tuple(p.detach().requires_grad_(True) for p in params)
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["RNNCell", "GRUCell", "LSTMCell"])
def test_gradcheck_cell(name):
    m = getattr(rt, name)(3, 4, dtype=torch.float64)
    x = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    c = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)

    def f(x, h, c):
        return tuple(flat(m(x, (h, c) if name == "LSTMCell" else h)))
    assert torch.autograd.gradcheck(f, (x, h, c), eps=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------ PackedSequence
@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM", "LSTM_proj"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("bidir", [False, True])
def test_packed_padded_parity(name, enforce_sorted, bidir, dtype):
    kw = dict(proj_size=2) if name == "LSTM_proj" else {}
    name = name.split("_")[0]
    ref, ours = pair(name, 3, 5, num_layers=2, bidirectional=bidir, dtype=dtype, **kw)
    lengths = [6, 4, 4, 2, 1] if enforce_sorted else [2, 6, 1, 4, 4]
    D = 2 if bidir else 1
    P = kw.get("proj_size", 5)

    def inputs():
        x = torch.randn(6, 5, 3, dtype=dtype, requires_grad=True)
        h = torch.randn(2 * D, 5, P, dtype=dtype, requires_grad=True)
        packed = rnn_utils.pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
        if name == "LSTM":
            c = torch.randn(2 * D, 5, 5, dtype=dtype, requires_grad=True)
            return (packed, (h, c)), [x, h, c]
        return (packed, h), [x, h]
    run_both(ref, ours, inputs, dtype)


def test_packed_output_keeps_indices():
    m = rt.GRU(2, 3)
    seqs = [torch.randn(2, 2), torch.randn(1, 2), torch.randn(3, 2)]
    packed = rnn_utils.pack_sequence(seqs, enforce_sorted=False)
    out, _ = m(packed)
    assert isinstance(out, rnn_utils.PackedSequence)
    assert out.batch_sizes.tolist() == packed.batch_sizes.tolist()
    assert out.sorted_indices.tolist() == [2, 0, 1] and out.unsorted_indices.tolist() == [1, 2, 0]


@pytest.mark.parametrize("bidir", [False, True])
def test_variable_sequence_equals_each_sequence_alone(bidir):
    """test_nn.py's test_variable_sequence: a packed batch gives each sequence's own run."""
    lstm = rt.LSTM(3, 4, num_layers=2, bidirectional=bidir, dtype=torch.float64)
    lengths = [5, 4, 4, 2, 1]
    x_leaf = torch.randn(5, 5, 3, dtype=torch.float64, requires_grad=True)
    x = x_leaf * 1
    seq_outs, seq_h, seq_c = [], [], []
    for i, n in enumerate(lengths):
        out, (h, c) = lstm(x[:n, i:i + 1])
        seq_outs.append(torch.cat([out, out.new_zeros(5 - n, 1, out.shape[2])]))
        seq_h.append(h), seq_c.append(c)
    seq_out = torch.cat(seq_outs, 1)
    packed_out, (h, c) = lstm(rnn_utils.pack_padded_sequence(x, lengths))
    unpacked, unpacked_len = rnn_utils.pad_packed_sequence(packed_out)
    torch.testing.assert_close(unpacked, seq_out, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(h, torch.cat(seq_h, 1), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(c, torch.cat(seq_c, 1), rtol=1e-9, atol=1e-12)
    assert unpacked_len.tolist() == lengths
    grads_seq = torch.autograd.grad(seq_out.sum(), [x_leaf] + list(lstm.parameters()), retain_graph=True)
    grads_packed = torch.autograd.grad(unpacked.sum(), [x_leaf] + list(lstm.parameters()))
    for a, b in zip(grads_seq, grads_packed):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------ torch's own expectations
@pytest.mark.parametrize("p", [0, 0.276, 0.731, 1])
@pytest.mark.parametrize("train", [True, False])
def test_rnn_dropout_between_layers(p, train):
    """test_nn.py's test_RNN_dropout: all-ones weights make the dropout count visible."""
    rnn = rt.RNN(10, 1000, 2, bias=False, dropout=p, nonlinearity="relu").train(train)
    with torch.no_grad():
        for w in rnn.parameters():
            w.fill_(1)
    output, hy = rnn(torch.ones(1, 1, 10), torch.zeros(2, 1, 1000))
    assert output.min() == output.max()
    val = output[0, 0, 0].item()
    if p == 0 or not train:
        assert val == 10000
    elif p == 1:
        assert val == 0
    else:
        assert 8000 < val < 12000
        denorm = (val * (1 - p)) % 10
        assert min(denorm, 10 - denorm) < 1e-2
    assert hy[0].min() == hy[0].max() and hy[1].min() == hy[1].max()
    assert hy[0, 0, 0].item() == 10 and hy[1, 0, 0].item() == val


def test_dropout_gradient_uses_the_same_mask():
    rnn = rt.GRU(3, 5, num_layers=3, dropout=0.5, dtype=torch.float64)
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    torch.manual_seed(5)
    out, _ = rnn(x)
    g = torch.autograd.grad(out.sum(), [x] + list(rnn.parameters()))
    # The same masks drawn again (same seed) through torch's own ops, layer by layer.
    from pyrnn.torch import _ops
    torch.manual_seed(5)
    masks = [torch.empty(4, 2, 5, dtype=torch.float64).bernoulli_(0.5).div_(0.5) for _ in range(2)]
    spec = _ops.Spec("gru", 3, 1, True, 0)
    ref_out, _, _ = _ops.torch_stack(spec, x, torch.zeros(3, 2, 5, dtype=torch.float64), None,
                                     list(rnn.parameters()), masks, None)
    torch.testing.assert_close(out, ref_out, rtol=1e-9, atol=1e-12)
    g_ref = torch.autograd.grad(ref_out.sum(), [x] + list(rnn.parameters()))
    for a, b in zip(g_ref, g):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12)


def test_cell_no_broadcasting_raises_runtime_error():
    """test_nn.py's test_RNN_cell_no_broadcasting."""
    x, good = torch.randn(3, 10), torch.randn(3, 20)
    for bad_hx, inp in ((torch.randn(1, 20), x), (torch.randn(3, 1), x), (good, torch.randn(3, 1))):
        for cls in (rt.RNNCell, rt.GRUCell):
            with pytest.raises(RuntimeError):
                cls(10, 20)(inp, bad_hx)
        for hx in ((bad_hx, good), (good, bad_hx)):
            with pytest.raises(RuntimeError):
                rt.LSTMCell(10, 20)(inp, hx)


def test_lstm_cell_smoke_six_steps():
    """test_nn.py's test_LSTM_cell."""
    for bias in (True, False):
        inp, hx, cx = torch.randn(3, 10), torch.randn(3, 20), torch.randn(3, 20)
        lstm = rt.LSTMCell(10, 20, bias=bias)
        for _ in range(6):
            hx, cx = lstm(inp, (hx, cx))
        (hx + cx).sum().backward()
        assert lstm.weight_ih.grad is not None


@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM"])
def test_bad_arguments_raise_torch_types(name):
    m = getattr(rt, name)(4, 6, num_layers=2)
    ref = getattr(torch.nn, name)(4, 6, num_layers=2)
    lstm = name == "LSTM"
    cases = [
        (torch.randn(2, 3, 4, 5),),                              # 4-D input: ValueError
        (torch.randn(5, 3, 7),),                                 # wrong features: RuntimeError
        (torch.randn(0, 3, 4),),                                 # length 0: RuntimeError
        (torch.randn(5, 3, 4, dtype=torch.float64),),            # dtype mismatch: ValueError
        (torch.randn(5, 3, 4), (torch.randn(2, 3, 6), torch.randn(2, 3, 5)) if lstm else torch.randn(2, 6)),
        (torch.randn(5, 3, 4), (torch.randn(2, 2, 6), torch.randn(2, 2, 6)) if lstm else torch.randn(2, 2, 6)),
        (torch.randn(5, 4), (torch.randn(2, 3, 6), torch.randn(2, 3, 6)) if lstm else torch.randn(2, 3, 6)),
    ]
    for args in cases:
        with pytest.raises(Exception) as expected:
            ref(*args)
        with pytest.raises(expected.type):
            m(*args)


def test_empty_batch_like_torch():
    m = rt.LSTM(3, 4)
    out, (h, c) = m(torch.randn(5, 0, 3))
    assert out.shape == (5, 0, 4) and h.shape == (1, 0, 4)


# ------------------------------------------------------------------------------ modules as torch's
@pytest.mark.parametrize("name", ["RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell"])
def test_same_rng_draws_and_state_dict(name):
    torch.manual_seed(0)
    ref = getattr(torch.nn, name)(5, 7)
    after_ref = torch.rand(3)
    torch.manual_seed(0)
    ours = getattr(rt, name)(5, 7)
    after_ours = torch.rand(3)
    assert torch.equal(after_ref, after_ours)
    assert isinstance(ours, getattr(torch.nn, name))
    assert ref.state_dict().keys() == ours.state_dict().keys()
    for k, v in ref.state_dict().items():
        assert torch.equal(v, ours.state_dict()[k])
    assert repr(ours) == repr(ref)


@pytest.mark.parametrize("name", ["LSTM", "GRUCell"])
def test_deepcopy_pickle_torch_save(name, tmp_path):
    m = getattr(rt, name)(3, 4)
    x = torch.randn(5, 2, 3) if name == "LSTM" else torch.randn(2, 3)
    expected = flat(m(x))
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    clones = [copy.deepcopy(m), pickle.loads(pickle.dumps(m)), torch.load(buf, weights_only=False)]
    for c in clones:
        assert type(c) is type(m)
        for a, b in zip(expected, flat(c(x))):
            torch.testing.assert_close(b, a, rtol=0, atol=0)


def test_to_double_and_train_eval():
    m = rt.GRU(3, 4, num_layers=2, dropout=0.5).double().eval()
    assert m.weight_ih_l0.dtype == torch.float64 and not m.training
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    a, b = m(x)[0], m(x)[0]
    assert torch.equal(a, b)  # eval: no dropout


@pytest.mark.parametrize("name", ["LSTM", "LSTMCell"])
def test_data_update_seen_on_next_call(name):
    """word_language_model updates parameters through .data (no version bump)."""
    m = getattr(rt, name)(3, 4)
    x = torch.randn(5, 2, 3) if name == "LSTM" else torch.randn(2, 3)
    before = flat(m(x))[0].detach().clone()
    for p in m.parameters():
        p.data.add_(p.data, alpha=-0.5)
    after = flat(m(x))[0]
    ref = getattr(torch.nn, name)(3, 4)
    ref.load_state_dict(m.state_dict())
    torch.testing.assert_close(after, flat(ref(x))[0], **TOL[torch.float32])
    assert not torch.equal(before, after)


def test_no_grad_and_inference_mode_use_inference_path(monkeypatch):
    from pyrnn.torch import _adapter
    seen = []
    real = _adapter.layer_forward

    def spy(*args):
        seen.append(args[9])  # training
        return real(*args)
    monkeypatch.setattr(_adapter, "layer_forward", spy)
    ref, ours = pair("LSTM", 3, 4)
    x = torch.randn(5, 2, 3)
    with torch.no_grad():
        a = ours(x)[0]
    with torch.inference_mode():
        b = ours(x)[0]
    assert seen == [False, False]
    torch.testing.assert_close(a, ref(x)[0].detach(), **TOL[torch.float32])
    torch.testing.assert_close(b, a, rtol=0, atol=0)
    ours(x)
    assert seen[-1] is True


def test_outputs_share_memory_with_core_results():
    m = rt.GRU(3, 4)
    x = torch.randn(5, 2, 3)
    with torch.no_grad():
        out, h = m(x)
    assert out.is_contiguous() and h.is_contiguous()


def test_retain_graph_twice_and_in_place_change_detected():
    m = rt.LSTM(3, 4, dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    out, _ = m(x)
    g1 = torch.autograd.grad(out.sum(), x, retain_graph=True)[0]
    g2 = torch.autograd.grad(out.sum(), x)[0]
    torch.testing.assert_close(g2, g1, rtol=0, atol=0)
    out, _ = m(x)
    with torch.no_grad():
        m.weight_hh_l0.mul_(2)  # a tracked in-place change: torch's version check must fire
    with pytest.raises(RuntimeError):
        out.sum().backward()


@pytest.mark.parametrize("name", ["GRU", "LSTMCell"])
def test_double_backward_is_torchs(name):
    ref, ours = pair(name, 3, 4, dtype=torch.float64)
    x0 = torch.randn(5, 2, 3, dtype=torch.float64) if name == "GRU" else torch.randn(2, 3, dtype=torch.float64)
    results = []
    for m in (ref, ours):
        x = x0.clone().requires_grad_(True)
        y = flat(m(x))[0]
        (gx,) = torch.autograd.grad((y ** 2).sum(), x, create_graph=True)
        (ggx,) = torch.autograd.grad(gx.pow(2).sum(), x)
        results.append((gx, ggx))
    torch.testing.assert_close(results[1][0], results[0][0], **TOL[torch.float64])
    torch.testing.assert_close(results[1][1], results[0][1], **TOL[torch.float64])


# ------------------------------------------------------------------------------ convert and fallback
def test_convert_keeps_parameters_and_optimizer_works():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LSTM(3, 5, batch_first=True))
            self.cell = torch.nn.GRUCell(5, 5)
            self.head = torch.nn.Linear(5, 1)

        def forward(self, x):
            out, _ = self.enc(x)
            return self.head(self.cell(out[:, -1]))
    torch.manual_seed(0)
    net = Net()
    reference = copy.deepcopy(net)
    params = list(net.parameters())
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    converted = rt.convert(net)
    assert converted is net
    assert isinstance(net.enc[1], rt.LSTM) and isinstance(net.cell, rt.GRUCell)
    assert all(a is b for a, b in zip(params, net.parameters()))
    opt_ref = torch.optim.Adam(reference.parameters(), lr=0.01)
    x, y = torch.randn(4, 6, 3), torch.randn(4, 1)
    for _ in range(3):
        for model, o in ((net, opt), (reference, opt_ref)):
            o.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            o.step()
    for a, b in zip(reference.parameters(), net.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    bare = torch.nn.GRU(2, 3)
    new = rt.convert(bare)
    assert type(new) is rt.GRU and new.weight_ih_l0 is bare.weight_ih_l0
    new.register_forward_hook(lambda *a: None)
    assert not bare._forward_hooks  # containers of its own


def test_fallback_warns_once_and_matches(monkeypatch):
    from pyrnn.torch import _modules
    monkeypatch.setattr(_modules, "_warned", set())
    ref, ours = pair("GRU", 3, 4)
    ref, ours = ref.to(torch.bfloat16), ours.to(torch.bfloat16)
    x = torch.randn(5, 2, 3, dtype=torch.bfloat16)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        a = ours(x)[0]
        ours(x)
    assert len([m for m in w if "pyrnn.torch" in str(m.message)]) == 1
    assert torch.equal(a, ref(x)[0])


# ------------------------------------------------------------------------------ custom ops, compile, export
def test_custom_ops_pass_opcheck():
    from pyrnn.torch import _library  # noqa: F401 (registers the operators)
    m = rt.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(4, 2, 4, dtype=torch.float64, requires_grad=True)
    c = torch.randn(4, 2, 4, dtype=torch.float64, requires_grad=True)
    weights = [p.detach().clone().requires_grad_(True) for p in m.parameters()]
    args = (x, h, c, weights, [], None, "lstm", 2, 2, True, 0, True)
    torch.library.opcheck(torch.ops.pyrnn.stack_forward.default, args,
                          test_utils=("test_schema", "test_autograd_registration", "test_faketensor"))


def test_custom_op_gradients_equal_eager():
    from pyrnn.torch import _library, _ops
    torch.manual_seed(0)
    m = rt.GRU(3, 4, num_layers=3, dropout=0.3, bidirectional=True, dtype=torch.float64)
    x = torch.randn(6, 3, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(6, 3, 4, dtype=torch.float64, requires_grad=True)
    masks = [torch.empty(6, 3, 8, dtype=torch.float64).bernoulli_(0.7).div_(0.7) for _ in range(2)]
    lengths = [6, 5, 2]
    spec = _ops.Spec("gru", 3, 2, True, 0)
    results = []
    for runner in (_ops, _library):
        packed = rnn_utils.pack_padded_sequence(x, lengths)
        xp, _ = torch._pad_packed_sequence(packed.data, packed.batch_sizes, False, 0.0, 6)
        out, h_n, _ = runner.run_stack(spec, xp, h, None, list(m.parameters()), masks, packed.batch_sizes, True)
        results.append((out, h_n) + torch.autograd.grad((out ** 2).sum() + h_n.sum(), [x, h] + list(m.parameters())))
    for a, b in zip(*results):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-13)


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = rt.LSTM(4, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.cell = rt.GRUCell(12, 5)
        self.head = torch.nn.Linear(5, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(self.cell(out[:, -1]))


def test_import_leaves_dynamo_unloaded_until_compile_needs_it():
    """Importing Dynamo costs seconds: pyrnn.torch sets allow_rnn only when it is first imported."""
    code = ("import sys, torch, pyrnn.torch\n"
            "assert 'torch._dynamo' not in sys.modules, 'pyrnn.torch imported Dynamo'\n"
            "import torch._dynamo.config as c\n"
            "assert c.allow_rnn is True\n"
            "f = torch.compile(pyrnn.torch.GRU(3, 4), fullgraph=True, backend='eager')\n"
            "print(f(torch.randn(2, 1, 3))[0].shape)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "torch.Size([2, 1, 4])"


def test_torch_compile_fullgraph_and_export():
    torch.manual_seed(0)
    net = _Net()
    x = torch.randn(3, 7, 4)
    expected = net(x)
    g_expected = torch.autograd.grad(expected.sum(), list(net.parameters()))
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
    y = compiled(x)
    g = torch.autograd.grad(y.sum(), list(net.parameters()))
    torch.testing.assert_close(y, expected, rtol=1e-6, atol=1e-7)
    for a, b in zip(g_expected, g):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)
    for steps in (3, 11):  # other lengths: recompiled with dynamic shapes (the fake op's sizes are symbolic)
        x2 = torch.randn(2, steps, 4)
        torch.testing.assert_close(compiled(x2), net(x2), rtol=1e-6, atol=1e-7)
    ep = torch.export.export(net, (x,))
    targets = [str(n.target) for n in ep.graph.nodes]
    assert sum("pyrnn.stack_forward" in t for t in targets) == 2
    torch.testing.assert_close(ep.module()(x), expected, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------------ DDP
class _DDPNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = rt.GRU(3, 8, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out[:, -1])


def _ddp_data():
    g = torch.Generator().manual_seed(11)
    return torch.randn(8, 5, 3, generator=g, dtype=torch.float64), torch.randn(8, 1, generator=g, dtype=torch.float64)


def _ddp_worker(rank, world, port, out_dir):
    import os

    import torch.distributed as dist

    import pyrnn
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), GLOO_SOCKET_IFNAME="lo")
    torch.set_num_threads(1)
    pyrnn.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60))
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(_DDPNet().double())
    x, y = _ddp_data()
    shard = slice(rank * 4, (rank + 1) * 4)
    torch.nn.functional.mse_loss(model(x[shard]), y[shard]).backward()
    torch.save([p.grad for p in model.module.parameters()], os.path.join(out_dir, f"grads{rank}.pt"))
    dist.destroy_process_group()
    # Leave without destroying the DDP Reducer: in torch 2.13 its destructor joins gloo's worker
    # thread while holding the GIL, and that thread may need the GIL to free its last work item
    # (pytorch/pytorch#56297, #75097): about one run in four deadlocked here.
    os._exit(0)


def test_ddp_gloo_two_processes_equal_single_process(tmp_path):
    import socket

    import torch.distributed as dist
    import torch.multiprocessing as mp
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    workers = mp.start_processes(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=False, start_method="spawn")
    deadline = time.monotonic() + 180  # a hang must fail this test, never stall the suite
    while not workers.join(timeout=1):
        if time.monotonic() > deadline:
            for process in workers.processes:
                process.kill()
            pytest.fail("the two DDP worker processes did not finish within 180 s")
    torch.manual_seed(0)
    model = _DDPNet().double()
    x, y = _ddp_data()
    torch.nn.functional.mse_loss(model(x), y).backward()
    for rank in range(2):
        grads = torch.load(tmp_path / f"grads{rank}.pt")
        for p, g in zip(model.parameters(), grads):
            torch.testing.assert_close(g, p.grad, rtol=1e-9, atol=1e-12)


def test_parameter_rebound_or_replaced_is_seen():
    """The per-module NumPy views follow p.data = ..., new Parameters and .to()."""
    m = rt.GRU(3, 4)
    ref = torch.nn.GRU(3, 4)
    x = torch.randn(5, 2, 3)
    m(x)
    m.weight_hh_l0.data = torch.randn(12, 4)            # new storage under the same Parameter
    m.bias_ih_l0 = torch.nn.Parameter(torch.randn(12))  # a new Parameter object
    ref.load_state_dict(m.state_dict())
    torch.testing.assert_close(m(x)[0], ref(x)[0], **TOL[torch.float32])
    m, ref = m.double(), ref.double()
    torch.testing.assert_close(m(x.double())[0], ref(x.double())[0], **TOL[torch.float64])


# ------------------------------------------------------------------------------ pytorch/examples, converted
class _Sine(torch.nn.Module):
    """time_sequence_prediction's shape of model: two LSTMCells unrolled, a Linear, future steps."""

    def __init__(self):
        super().__init__()
        self.lstm1 = torch.nn.LSTMCell(1, 16)
        self.lstm2 = torch.nn.LSTMCell(16, 16)
        self.linear = torch.nn.Linear(16, 1)

    def forward(self, x, future=0):
        n = x.size(0)
        h1 = c1 = h2 = c2 = torch.zeros(n, 16, dtype=x.dtype)
        outs = []
        for x_t in x.split(1, dim=1):
            h1, c1 = self.lstm1(x_t, (h1, c1))
            h2, c2 = self.lstm2(h1, (h2, c2))
            outs.append(self.linear(h2))
        for _ in range(future):
            h1, c1 = self.lstm1(outs[-1], (h1, c1))
            h2, c2 = self.lstm2(h1, (h2, c2))
            outs.append(self.linear(h2))
        return torch.cat(outs, dim=1)


def test_time_sequence_prediction_lbfgs_same_losses():
    t = torch.arange(40, dtype=torch.float64)
    data = torch.sin((t[None, :] + 7 * torch.arange(6, dtype=torch.float64)[:, None]) / 5)
    x, y = data[:, :-1], data[:, 1:]
    torch.manual_seed(0)
    ref = _Sine().double()
    ours = rt.convert(copy.deepcopy(ref))
    assert isinstance(ours.lstm1, rt.LSTMCell)
    losses = []
    for model in (ref, ours):
        opt = torch.optim.LBFGS(model.parameters(), lr=0.8)
        seen = []

        def closure(model=model, opt=opt, seen=seen):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            seen.append(loss.item())
            return loss
        for _ in range(2):
            opt.step(closure)
        with torch.no_grad():
            seen.append(torch.nn.functional.mse_loss(model(x[:, :20], future=19), y).item())
        losses.append(seen)
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-8)


class _WordLM(torch.nn.Module):
    """word_language_model's RNNModel shape: Embedding, a 2-layer LSTM, a decoder."""

    def __init__(self, ntoken=50, ninp=16, nhid=24, dropout=0.0):
        super().__init__()
        self.drop = torch.nn.Dropout(dropout)
        self.encoder = torch.nn.Embedding(ntoken, ninp)
        self.rnn = torch.nn.LSTM(ninp, nhid, 2, dropout=dropout)
        self.decoder = torch.nn.Linear(nhid, ntoken)

    def forward(self, tokens, hidden):
        out, hidden = self.rnn(self.drop(self.encoder(tokens)), hidden)
        return self.decoder(self.drop(out)).view(-1, 50), hidden


def test_word_language_model_data_updates_same_losses():
    """Its training loop: detached hidden carried over, clip_grad_norm_, p.data.add_(grad, -lr)."""
    g = torch.Generator().manual_seed(3)
    corpus = torch.randint(0, 50, (8 * 35 + 1, 4), generator=g)
    torch.manual_seed(0)
    ref = _WordLM()
    ours = rt.convert(copy.deepcopy(ref))
    losses = []
    for model in (ref, ours):
        hidden = (torch.zeros(2, 4, 24), torch.zeros(2, 4, 24))
        seen = []
        for i in range(0, 8 * 35, 35):
            src, tgt = corpus[i:i + 35], corpus[i + 1:i + 36].reshape(-1)
            hidden = tuple(h.detach() for h in hidden)
            model.zero_grad()
            out, hidden = model(src, hidden)
            loss = torch.nn.functional.cross_entropy(out, tgt)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
            for p in model.parameters():
                p.data.add_(p.grad, alpha=-20)
            seen.append(loss.item())
        losses.append(seen)
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)


def test_vmap_and_autocast_fall_back_to_torch(monkeypatch):
    from pyrnn.torch import _modules
    monkeypatch.setattr(_modules, "_warned", set())
    ref, ours = pair("RNNCell", 3, 4)
    xs = torch.randn(5, 2, 3)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = torch.vmap(ours)(xs)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            got_ac, want_ac = ours(xs[0]), ref(xs[0])
    assert sum("pyrnn.torch" in str(m.message) for m in w) == 2
    torch.testing.assert_close(got, torch.vmap(ref)(xs), rtol=0, atol=0)
    torch.testing.assert_close(got_ac, want_ac, rtol=0, atol=0)


def test_double_backward_packed_bidirectional_projection():
    ref, ours = pair("LSTM", 3, 4, num_layers=2, bidirectional=True, proj_size=2, dtype=torch.float64)
    x0 = torch.randn(5, 3, 3, dtype=torch.float64)
    results = []
    for m in (ref, ours):
        x = x0.clone().requires_grad_(True)
        out, (h, c) = m(rnn_utils.pack_padded_sequence(x, [2, 5, 4], enforce_sorted=False))
        loss = (out.data ** 2).sum() + (h ** 2).sum() + c.sum()
        gx, gw = torch.autograd.grad(loss, [x, m.weight_hh_l1], create_graph=True)
        results.append((gx, gw) + torch.autograd.grad(gx.pow(2).sum() + gw.sum(), [x, m.weight_ih_l0]))
    for a, b in zip(*results):
        torch.testing.assert_close(b, a, **TOL[torch.float64])
