"""Single-step cells: against torch's cells over many steps, against the sequence layers,
backward through a manual loop, and the streaming path at every batch size."""

import numpy as np
import pytest

import pyrnn

CELLS = [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}), ("GRUCell", {}), ("LSTMCell", {})]
IDS = ["rnn_tanh", "rnn_relu", "gru", "lstm"]


def run(cell, xs, state):
    outs = []
    for x in xs:
        state = cell(x, state)
        outs.append(state)
    return outs


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("batch", [1, 3, 7])
@pytest.mark.parametrize("kind, kw", CELLS, ids=IDS)
def test_cells_step_like_torch(kind, kw, batch, dtype):
    torch = pytest.importorskip("torch")
    I, H, steps = 13, 17, 25
    cell = getattr(pyrnn.nn, kind)(I, H, dtype=dtype, seed=0, **kw).eval()
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    tcell = getattr(torch.nn, kind)(I, H, dtype=tdtype, **kw)
    tcell.load_state_dict({k: torch.tensor(v) for k, v in cell.state_dict().items()})
    xs = np.random.default_rng(1).standard_normal((steps, batch, I)).astype(dtype)
    lstm = kind == "LSTMCell"
    ours = run(cell, xs, None)
    with torch.no_grad():
        theirs = run(tcell, [torch.tensor(x) for x in xs], None)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=2e-6)
    for a, b in zip(ours, theirs):
        if lstm:
            np.testing.assert_allclose(a[0], b[0].numpy(), **tol)
            np.testing.assert_allclose(a[1], b[1].numpy(), **tol)
        else:
            np.testing.assert_allclose(a, b.numpy(), **tol)


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("batch", [1, 2, 4, 5])
def test_gru_cell_matches_sequence_layer(reset_after, batch):
    I, H, steps = 9, 33, 6
    cell = pyrnn.nn.GRUCell(I, H, reset_after=reset_after, dtype=np.float64, seed=3).eval()
    layer = pyrnn.nn.GRU(I, H, reset_after=reset_after, dtype=np.float64).eval()
    layer.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    xs = np.random.default_rng(2).standard_normal((steps, batch, I))
    out, h_n = layer(xs)
    np.testing.assert_allclose(np.stack(run(cell, xs, None)), out, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind, kw", CELLS, ids=IDS)
def test_cell_backward_through_time_equals_sequence_backward(kind, kw):
    I, H, B, T = 5, 7, 3, 4
    lstm = kind == "LSTMCell"
    cell = getattr(pyrnn.nn, kind)(I, H, dtype=np.float64, seed=4, **kw)
    layer_kind = kind.replace("Cell", "")
    layer = getattr(pyrnn.nn, layer_kind)(I, H, dtype=np.float64, **kw)
    layer.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    rng = np.random.default_rng(5)
    xs, go = rng.standard_normal((T, B, I)), rng.standard_normal((T, B, H))
    states = run(cell, xs, None)
    out, _ = layer(xs)
    np.testing.assert_allclose(np.stack([s[0] if lstm else s for s in states]), out, rtol=1e-12)
    gx_layer, _ = layer.backward(go)
    # BPTT by hand: the gradient flowing into step t's output is go[t] plus what step t+1 sends back.
    dh, dc, gxs = np.zeros((B, H)), np.zeros((B, H)), []
    for t in reversed(range(T)):
        if lstm:
            gx, (dh, dc) = cell.backward(go[t] + dh, dc)
        else:
            gx, dh = cell.backward(go[t] + dh)
        gxs.append(gx)
    np.testing.assert_allclose(np.stack(gxs[::-1]), gx_layer, rtol=1e-10, atol=1e-12)
    for name in cell.grads:
        np.testing.assert_allclose(cell.grads[name], layer.grads[name + "_l0"], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="backward"):
        cell.backward(go[0])


def test_cell_unbatched_and_errors():
    cell = pyrnn.nn.LSTMCell(4, 6, seed=0).eval()
    h, c = cell(np.ones(4, np.float32))
    assert h.shape == (6,) and c.shape == (6,)
    h2, _ = cell(np.ones((1, 4), np.float32))
    np.testing.assert_array_equal(h, h2[0])
    with pytest.raises(ValueError, match="features"):
        cell(np.ones((2, 5), np.float32))
    with pytest.raises(TypeError, match="tuple"):
        cell(np.ones((2, 4), np.float32), np.zeros((2, 6)))
    with pytest.raises(ValueError, match="shape"):
        cell(np.ones((2, 4), np.float32), (np.zeros((3, 6)), np.zeros((3, 6))))
    with pytest.raises(TypeError):
        cell(np.array(["a"] * 4))
    with pytest.raises(ValueError, match="hidden_size"):
        pyrnn.nn.GRUCell(3, 0)
    assert list(pyrnn.nn.GRUCell(3, 5).state_dict()) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert list(pyrnn.nn.RNNCell(3, 5, bias=False).state_dict()) == ["weight_ih", "weight_hh"]
