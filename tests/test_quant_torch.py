"""``pyrnn.torch.convert(model, dtype="int8" | "bfloat16")`` (issue 17): converted LSTM/GRU
modules and cells run pyrnn's quantized kernels, inference only; their error against the float
module is compared with torch's own dynamic int8 (quantize_dynamic) on the same weights."""

import numpy as np
import pytest

import pyrnn

torch = pytest.importorskip("torch")
rt = pytest.importorskip("pyrnn.torch")
from pyrnn.torch import _quantized  # noqa: E402

ERROR_BOUND = 0.05


class Net(torch.nn.Module):
    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn
        width = getattr(rnn, "proj_size", 0) or rnn.hidden_size
        self.head = torch.nn.Linear(width * (2 if rnn.bidirectional else 1), 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[-1] if not self.rnn.batch_first else out[:, -1])


def _x(shape, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


@pytest.mark.parametrize("dtype,bound", [("int8", ERROR_BOUND), ("bfloat16", 0.02)])
@pytest.mark.parametrize("make", [lambda: torch.nn.LSTM(16, 32, num_layers=2, bidirectional=True),
                                  lambda: torch.nn.GRU(16, 32, batch_first=True),
                                  lambda: torch.nn.LSTM(16, 32, proj_size=8),
                                  lambda: torch.nn.RNN(16, 32, num_layers=2),
                                  lambda: torch.nn.RNN(16, 32, nonlinearity="relu", bidirectional=True)])
def test_converted_module_against_float(make, dtype, bound):
    torch.manual_seed(0)
    net = Net(make()).eval()
    x = _x((12, 5, 16))
    with torch.no_grad():
        ref = net(x)
        ref_rnn = net.rnn(x)
    qnet = rt.convert(net, dtype=dtype)
    assert isinstance(qnet.rnn, _quantized.QuantizedRNN) and qnet is net
    with torch.no_grad():
        out = qnet(x)
        out_rnn = qnet.rnn(x)
    assert out.shape == ref.shape and out.dtype == torch.float32
    err = (out_rnn[0] - ref_rnn[0]).abs().max().item()
    assert 0 < err <= bound
    h, ref_h = (out_rnn[1][0], ref_rnn[1][0]) if isinstance(ref_rnn[1], tuple) else (out_rnn[1], ref_rnn[1])
    assert h.shape == ref_h.shape and (h - ref_h).abs().max().item() <= 2 * bound


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("cls", [torch.nn.LSTM, torch.nn.GRU])
def test_error_not_above_torch_quantize_dynamic(cls):
    from torch.ao.quantization import quantize_dynamic

    torch.manual_seed(1)
    tm = cls(48, 96).eval()
    x = _x((25, 6, 48), 2)
    with torch.no_grad():
        ref = tm(x)[0]
        theirs = quantize_dynamic(torch.nn.Sequential(tm), {cls}, dtype=torch.qint8)[0](x)[0]
    ours = rt.convert(torch.nn.Sequential(tm), dtype="int8")[0]
    with torch.no_grad():
        mine = ours(x)[0]
    err_ours, err_theirs = (mine - ref).abs().max().item(), (theirs - ref).abs().max().item()
    assert err_ours <= err_theirs, (err_ours, err_theirs)


def test_matches_pyrnn_nn_quantized_exactly():
    torch.manual_seed(2)
    tm = torch.nn.GRU(7, 11, num_layers=2)
    m = pyrnn.nn.GRU(7, 11, num_layers=2)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = _x((6, 3, 7), 3)
    h0 = _x((2, 3, 11), 4)
    with torch.no_grad():
        out, h = rt.convert(tm, dtype="int8")(x, h0)
    ref, ref_h = m.quantize("int8")(x.numpy(), h0.numpy())
    np.testing.assert_array_equal(out.numpy(), ref)
    np.testing.assert_array_equal(h.numpy(), ref_h)


def test_packed_sequences_and_unbatched():
    torch.manual_seed(3)
    tm = torch.nn.LSTM(5, 9)
    q = rt.convert(tm, dtype="int8")
    x = _x((8, 4, 5), 5)
    lengths = torch.tensor([3, 8, 1, 6])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    h0 = (_x((1, 4, 9), 6), _x((1, 4, 9), 7))
    with torch.no_grad():
        out, (h, c) = q(packed, h0)
        ref_out, (ref_h, ref_c) = tm(packed, h0)
    pad, _ = torch.nn.utils.rnn.pad_packed_sequence(out)
    ref_pad, _ = torch.nn.utils.rnn.pad_packed_sequence(ref_out)
    assert (pad - ref_pad).abs().max().item() <= ERROR_BOUND
    assert (h - ref_h).abs().max().item() <= 2 * ERROR_BOUND and (c - ref_c).abs().max().item() <= 4 * ERROR_BOUND
    for b, n in enumerate(lengths.tolist()):  # each row alone, unbatched, gives the same
        with torch.no_grad():
            ob, (hb, _) = q(x[:n, b], (h0[0][:, b], h0[1][:, b]))
        np.testing.assert_array_equal(ob.numpy(), pad[:n, b].numpy())
        np.testing.assert_array_equal(hb.numpy(), h[:, b].numpy())


@pytest.mark.parametrize("cls,mode,kw", [(torch.nn.LSTMCell, "LSTM", {}), (torch.nn.GRUCell, "GRU", {}),
                                         (torch.nn.RNNCell, "RNN", {"nonlinearity": "relu"})])
def test_cells_stream(cls, mode, kw):
    torch.manual_seed(4)
    cell = cls(6, 10, **kw)
    q = rt.convert(cell, dtype="bfloat16")
    assert isinstance(q, _quantized.QuantizedCell)
    x = _x((5, 2, 6), 8)
    s = sr = None
    with torch.no_grad():
        for t in range(5):
            s, sr = q(x[t], s), cell(x[t], sr)
            h, hr = (s[0], sr[0]) if mode == "LSTM" else (s, sr)
            assert (h - hr).abs().max().item() <= 0.02


def test_gradients_and_bad_arguments_are_errors():
    tm = torch.nn.LSTM(4, 6)
    q = rt.convert(torch.nn.Sequential(tm), dtype="int8")[0]
    x = _x((3, 2, 4)).requires_grad_()
    with pytest.raises(ValueError, match="needs gradients.*torch.no_grad"):
        q(x)
    with torch.no_grad():
        assert q(x)[0].shape == (3, 2, 6)
    assert list(q.parameters()) == []  # nothing for an optimizer to train
    with pytest.raises(ValueError, match=r"convert: dtype must be one of 'int8', 'bfloat16', got 'int4'"):
        rt.convert(tm, dtype="int4")
    with pytest.raises(ValueError, match="input"):
        with torch.no_grad():
            q(_x((3, 2, 5)))
    rnn = rt.convert(torch.nn.RNN(4, 6, nonlinearity="relu"), dtype="int8")
    assert isinstance(rnn, _quantized.QuantizedRNN) and "nonlinearity='relu'" in repr(rnn)


def test_twins_and_nested_models_convert():
    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Sequential(rt.convert(torch.nn.GRU(3, 5))), torch.nn.Identity())
    x = _x((4, 2, 3), 9)
    with torch.no_grad():
        ref = model[0][0](x)[0]
    rt.convert(model, dtype="int8")
    assert isinstance(model[0][0], _quantized.QuantizedRNN) and "QuantizedGRU(3, 5" in repr(model)
    with torch.no_grad():
        assert 0 < (model[0][0](x)[0] - ref).abs().max().item() <= ERROR_BOUND
    with pytest.raises(ValueError, match="dtype must be one of"):
        rt.convert(torch.nn.LSTM(2, 2), dtype=8)
