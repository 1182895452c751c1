"""LSTM with a projection (proj_size): h_t = W_hr (o * tanh(c_t))."""

import numpy as np
import pytest

import pyrnn


def loss_and_grads(m, x, lengths, r):
    out, (h_n, c_n) = m(x, lengths=lengths)
    loss = (out * r["out"]).sum() + (h_n * r["h"]).sum() + (c_n * r["c"]).sum()
    return loss, out, h_n, c_n


@pytest.mark.parametrize("lengths", [None, [3, 1, 4]])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_projection_gradients_pass_central_differences(bidirectional, lengths):
    m = pyrnn.nn.LSTM(3, 5, num_layers=2, proj_size=2, bidirectional=bidirectional, dtype=np.float64, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 3, 3))
    D = 2 if bidirectional else 1
    r = {"out": rng.standard_normal((4, 3, 2 * D)), "h": rng.standard_normal((2 * D, 3, 2)),
         "c": rng.standard_normal((2 * D, 3, 5))}
    _, out, h_n, c_n = loss_and_grads(m, x, lengths, r)
    assert out.shape == (4, 3, 2 * D) and h_n.shape == (2 * D, 3, 2) and c_n.shape == (2 * D, 3, 5)
    grad_x, _ = m.backward(r["out"], (r["h"], r["c"]))
    m.eval()
    eps = 1e-6
    for name, p in m.named_parameters():
        if not name.startswith("weight_hr") and not name.startswith("weight_hh"):
            continue
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            plus = loss_and_grads(m, x, lengths, r)[0]
            p[idx] = old - eps
            minus = loss_and_grads(m, x, lengths, r)[0]
            p[idx] = old
            numeric[idx] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(m.grads[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name)
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        numeric[idx] = (loss_and_grads(m, xp, lengths, r)[0] - loss_and_grads(m, xm, lengths, r)[0]) / (2 * eps)
    np.testing.assert_allclose(grad_x, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
# The last two are long enough, with steps small enough, that threads take windows of rows
# through the whole time loop (csrc/layer_common.h: over_row_windows).
@pytest.mark.parametrize("layers, bidirectional, lengths, T, B", [
    (1, False, None, 5, 3), (2, True, None, 5, 3), (2, True, [5, 2, 4], 5, 3),
    (1, False, None, 90, 40), (1, True, [90 - 7 * i for i in range(13)] + [1, 2, 3] * 9, 90, 40)])
def test_projection_matches_torch(layers, bidirectional, lengths, T, B, dtype):
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    I, H, P = 4, 9, 3
    m = pyrnn.nn.LSTM(I, H, num_layers=layers, bidirectional=bidirectional, proj_size=P, dtype=dtype, seed=2)
    tm = torch.nn.LSTM(I, H, num_layers=layers, bidirectional=bidirectional, proj_size=P,
                       dtype=torch.float64 if dtype == np.float64 else torch.float32)
    assert list(m.state_dict()) == list(tm.state_dict())
    tm.load_state_dict({k: torch.tensor(v) for k, v in m.state_dict().items()})
    rng = np.random.default_rng(3)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    out, (h_n, c_n) = m(x, lengths=lengths)
    xt = torch.tensor(x, requires_grad=True)
    if lengths is None:
        t_out, (t_h, t_c) = tm(xt)
    else:
        packed, (t_h, t_c) = tm(pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=False))
        t_out, _ = pad_packed_sequence(packed, total_length=T)
    go, gh, gc = (rng.standard_normal(a.shape).astype(dtype) for a in (out, h_n, c_n))
    grad_x, (grad_h0, grad_c0) = m.backward(go, (gh, gc))
    torch.autograd.backward([t_out, t_h, t_c], [torch.tensor(go), torch.tensor(gh), torch.tensor(gc)])
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-5)
    for ours, theirs in [(out, t_out), (h_n, t_h), (c_n, t_c), (grad_x, xt.grad)]:
        np.testing.assert_allclose(ours, theirs.detach().numpy(), **tol)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(m.grads[name], p.grad.numpy(), err_msg=name, **tol)


def test_projection_arguments():
    with pytest.raises(ValueError, match="proj_size"):
        pyrnn.nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(TypeError, match="proj_size"):  # only LSTM takes it
        pyrnn.nn.GRU(3, 4, proj_size=2)
    m = pyrnn.nn.LSTM(3, 4, proj_size=2)
    assert m.state_dict()["weight_hr_l0"].shape == (2, 4) and m.state_dict()["weight_hh_l0"].shape == (16, 2)
    with pytest.raises(ValueError, match="h_0"):
        m(np.zeros((2, 1, 3), np.float32), (np.zeros((1, 1, 4)), np.zeros((1, 1, 4))))
