"""The spine (pyrnn._recurrent): the registry agrees with the core, Packing moves what it should,
the keyword wrappers match the reference, and every face follows one error policy."""

import numpy as np
import pytest

import pyrnn
from pyrnn import _core
from pyrnn import _recurrent as spine
from pyrnn import reference as ref
from pyrnn._flat import Binding, FlatParameters
from pyrnn.layers import GRU as KGRU
from pyrnn.layers import LSTM as KLSTM
from pyrnn.layers import Dense, Dropout, Embedding, SimpleRNN
from pyrnn.models import Sequential

RNG = np.random.default_rng(12)


# ---------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name", sorted(spine.CELLS))
def test_registry_workspace_matches_the_core(name):
    cell = spine.CELLS[name]
    for projection in (False, True):
        if projection and name != "lstm":
            continue
        assert cell.workspace_size(7, 3, 5, projection) == _core.workspace_size(name, 7, 3, 5, projection)


@pytest.mark.parametrize("name", sorted(spine.CELLS))
def test_registry_gate_orders_are_permutations(name):
    cell = spine.CELLS[name]
    for order in (cell.keras_order, cell.onnx_order):
        assert sorted(order) == list(range(cell.gates))
    assert len(cell.gate_names) == cell.gates


def test_cell_for_and_rnn_cell():
    assert spine.cell_for("GRU", reset_after=False).name == "gru_reset_before"
    assert spine.cell_for("RNN_RELU").name == "rnn_relu"
    assert spine.rnn_cell("sigmoid").mode == "RNN_SIGMOID"
    with pytest.raises(ValueError, match="mode must be one of"):
        spine.cell_for("ELMAN")


def test_the_core_rejects_what_the_registry_does_not_list():
    for name in spine.CELLS:
        _core.workspace_size(name, 1, 1, 1)
    with pytest.raises(ValueError, match="cell must be one of"):
        _core.workspace_size("elman", 1, 1, 1)


# ---------------------------------------------------------------------------- packing


def test_packing_from_lengths_is_right_padded_and_sorted():
    p = spine.Packing.from_lengths([2, 5, 0, 3], steps=5, batch=4)
    assert p.right_padded
    assert p.order.tolist() == [1, 3, 0, 2]
    assert p.batch_sizes.tolist() == [3, 3, 2, 1, 1]
    x = RNG.standard_normal((5, 4, 2))
    packed = p.pack(x)
    assert np.array_equal(packed[:, 0], x[:, 1])
    assert np.all(packed[2:, 2] == 0) and np.array_equal(packed[:2, 2], x[:2, 0])
    back = p.unpack(packed)
    assert np.array_equal(back[:, 1], x[:, 1]) and np.all(back[:, 2] == 0)


def test_packing_from_a_right_padded_mask_takes_the_fast_path():
    mask = np.array([[True, True, False], [True, False, False]])
    assert spine.Packing.from_mask(mask).right_padded


def test_packing_from_a_mask_with_holes_moves_valid_steps_to_the_front():
    mask = np.array([[False, True, False, True], [True, True, True, False]])
    p = spine.Packing.from_mask(mask)
    assert not p.right_padded
    assert p.lengths.tolist() == [2, 3] and p.order.tolist() == [1, 0]
    x = np.arange(2 * 4, dtype=np.float64).reshape(2, 4).T[:, :, None]  # x[t, b] = 4 b + t
    packed = p.pack(x)[:, :, 0]
    assert packed[:, 0].tolist() == [4, 5, 6, 0] and packed[:, 1].tolist() == [1, 3, 0, 0]
    back = p.unpack(p.pack(x))[:, :, 0]
    assert np.array_equal(back, np.where(mask.T, x[:, :, 0], 0))


def test_packing_spread_repeats_the_last_valid_output():
    mask = np.array([[False, True, False, True]])
    p = spine.Packing.from_mask(mask)
    y = np.array([[[1.0]], [[2.0]], [[0.0]], [[0.0]]])  # core layout: two valid steps
    assert p.spread(y)[0, :, 0].tolist() == [0, 1, 1, 2]
    assert p.spread(y, zero_masked=True)[0, :, 0].tolist() == [0, 1, 0, 2]
    g = p.spread_grad(np.ones((1, 4, 1)))
    assert g[:, 0, 0].tolist() == [2, 1, 0, 0]


def test_packing_rejects_bad_lengths():
    with pytest.raises(TypeError, match="lengths: expected integers"):
        spine.Packing.from_lengths([1.5, 2.0], 3, 2)
    with pytest.raises(ValueError, match=r"lengths: expected values in \[0, 3\]"):
        spine.Packing.from_lengths([1, 4], 3, 2)
    with pytest.raises(ValueError, match="one length per sequence"):
        spine.Packing.from_lengths([1, 2, 3], 3, 2)


# ---------------------------------------------------------------------------- core calls


def _weights(cell, I, H, dtype=np.float64):
    G = cell.gates
    return spine.LayerWeights(*(RNG.uniform(-0.5, 0.5, s).astype(dtype) for s in ((G * H, I), (G * H, H), (G * H,),
                                                                                    (G * H,))))


@pytest.mark.parametrize("name", ["rnn_tanh", "gru", "lstm"])
def test_forward_and_backward_match_the_reference(name):
    cell = spine.CELLS[name]
    T, B, I, H = 6, 3, 4, 5
    w = _weights(cell, I, H)
    x = RNG.standard_normal((T, B, I))
    h0 = RNG.standard_normal((B, H))
    c0 = RNG.standard_normal((B, H)) if cell.has_cell_state else None
    res = spine.forward(cell, x, h0, c0, weights=w, training=True)
    grad_out = RNG.standard_normal(res.output.shape)
    g = spine.backward(res.workspace, grad_output=grad_out)
    if name == "lstm":
        out, _, cache = ref.lstm_forward(x, h0, c0, *w[:4])
        expect = ref.lstm_backward(cache, grad_out)
    elif name == "gru":
        out, _, cache = ref.gru_forward(x, h0, *w[:4])
        expect = ref.gru_backward(cache, grad_out)
    else:
        out, _, cache = ref.rnn_forward(x, h0, *w[:4])
        expect = ref.rnn_backward(cache, grad_out)
    np.testing.assert_allclose(res.output, out, rtol=1e-10, atol=1e-12)
    for mine, theirs in ((g.x, "x"), (g.h0, "h0"), (g.w_ih, "weight_ih"), (g.w_hh, "weight_hh"),
                         (g.b_ih, "bias_ih")):
        np.testing.assert_allclose(mine, expect[theirs], rtol=1e-9, atol=1e-11)
    with pytest.raises(ValueError, match="already used"):
        spine.backward(res.workspace, grad_output=grad_out)


def test_inference_forward_keeps_no_workspace_and_step_matches_it():
    cell = spine.CELLS["gru"]
    w = _weights(cell, 3, 4, np.float32)
    x = RNG.standard_normal((1, 2, 3)).astype(np.float32)
    h0 = np.zeros((2, 4), np.float32)
    res = spine.forward(cell, x, h0, weights=w)
    assert res.workspace is None and res.c_n is None
    h, c = spine.step(cell, x[0], h0, weights=w)
    np.testing.assert_allclose(h, res.h_n, rtol=1e-6, atol=1e-6)


def test_gradients_add_to_names():
    cell = spine.CELLS["rnn_tanh"]
    w = _weights(cell, 2, 3)
    res = spine.forward(cell, np.ones((2, 1, 2)), np.zeros((1, 3)), weights=w, training=True)
    g = spine.backward(res.workspace, np.ones((2, 1, 3)))
    grads = {k + "_l0": np.zeros_like(v) for k, v in zip(spine.PARAMETER_KINDS, w) if v is not None}
    g.add_to(grads, "_l0")
    assert np.array_equal(grads["weight_ih_l0"], g.w_ih) and np.array_equal(grads["bias_hh_l0"], g.b_hh)


# ---------------------------------------------------------------------------- flat binding


def test_flat_parameters_bind_modules_on_purpose():
    m = pyrnn.nn.GRU(3, 4, seed=0)
    before = m.state_dict()
    flat = FlatParameters([Binding(m, "weight_ih_l0"), Binding(m, "bias_hh_l0")])
    w = m.parameter("weight_ih_l0")
    assert np.shares_memory(w, flat.weights) and np.array_equal(w, before["weight_ih_l0"])
    assert np.shares_memory(m.gradient("bias_hh_l0"), flat.grads)
    m.load_state_dict({k: v + 1 for k, v in before.items()})  # writes through the binding
    assert np.array_equal(flat.weights[:w.size], (before["weight_ih_l0"] + 1).ravel())


def test_a_model_is_bound_to_its_flat_vector_and_set_weights_reaches_it():
    model = Sequential([pyrnn.layers.Input((4, 2)), KLSTM(3), Dense(1)])
    model.compile("sgd", "mse")
    _, flat_w, _, _ = model._pack()
    model.set_weights([w + 1 for w in model.get_weights()])
    assert all(np.shares_memory(b.weight, flat_w) for b in model.parameter_bindings())
    assert np.isclose(flat_w.sum(), sum(b.weight.sum() for b in model.parameter_bindings()))


def test_a_frozen_model_binds_nothing():
    model = Sequential([pyrnn.layers.Input((4, 2)), SimpleRNN(3)], trainable=False)
    assert model.parameter_bindings() == [] and model.trainable_weights == []
    assert len(model.non_trainable_weights) == 3


# ---------------------------------------------------------------------------- one error policy


@pytest.mark.parametrize("make", [lambda: KGRU(2.5), lambda: KLSTM("64"), lambda: SimpleRNN(True), lambda: Dense(2.0),
                                  lambda: Embedding(10.0, 3)])
def test_keras_sizes_must_be_ints(make):
    with pytest.raises(TypeError, match="must be an int"):
        make()


def test_keras_units_below_one():
    with pytest.raises(ValueError, match="units must be >= 1, got 0"):
        KGRU(0)


@pytest.mark.parametrize("make", [
    lambda: pyrnn.nn.RNN(2, 3, nonlinearity="bogus"),
    lambda: pyrnn.nn.RNNCell(2, 3, nonlinearity="bogus"),
    lambda: SimpleRNN(3, activation="bogus"),
    lambda: KGRU(3, activation="bogus"),
    lambda: KLSTM(3, recurrent_activation="bogus"),
    lambda: Dense(3, activation="bogus"),
    lambda: ref.gru_forward(np.zeros((1, 1, 1)), None, np.zeros((3, 1)), np.zeros((3, 1)), activation="bogus"),
])
def test_an_unknown_activation_is_a_value_error_in_every_face(make):
    with pytest.raises(ValueError, match="must be one of"):
        make()


@pytest.mark.parametrize("make", [lambda: KLSTM(3, activation="softplus"), lambda: SimpleRNN(3, activation="elu"),
                                  lambda: KGRU(3, recurrent_activation="swish")])
def test_a_keras_activation_the_kernels_do_not_run_is_named(make):
    with pytest.raises(NotImplementedError, match="is not supported by the core"):
        make()


def test_dropout_range_is_the_same_in_every_face():
    for ok in (0.0, 0.5, 1.0):
        pyrnn.nn.GRU(2, 3, num_layers=2, dropout=ok)
        KGRU(3, dropout=ok)
        Dropout(ok)
    for bad in (-0.1, 1.5, float("nan")):
        for make in (lambda: pyrnn.nn.GRU(2, 3, dropout=bad), lambda: KGRU(3, dropout=bad), lambda: Dropout(bad)):
            with pytest.raises(ValueError, match=r"must be a number in \[0, 1\]"):
                make()


def test_keras_dropout_of_one_drops_everything():
    x = np.ones((2, 3, 4), np.float32)
    assert np.all(Dropout(1.0)(x, training=True) == 0)
    layer = KGRU(3, dropout=1.0, return_sequences=True)
    zeros = KGRU(3, return_sequences=True)
    layer(x)
    zeros(x)
    zeros.set_weights(layer.get_weights())
    np.testing.assert_array_equal(layer(x, training=True), zeros(np.zeros_like(x)))


@pytest.mark.parametrize("nonlinearity", spine.RNN_NONLINEARITIES)
def test_rnn_cell_mode_follows_its_nonlinearity(nonlinearity):
    cell = pyrnn.nn.RNNCell(2, 3, nonlinearity=nonlinearity)
    assert cell.mode == "RNN_" + nonlinearity.upper() == pyrnn.nn.RNN(2, 3, nonlinearity=nonlinearity).mode


def test_compile_rejects_what_it_would_ignore():
    model = Sequential([pyrnn.layers.Input((3, 1)), SimpleRNN(2)])
    with pytest.raises(TypeError, match="unexpected keyword"):
        model.compile("sgd", "mse", bogus=1)
    with pytest.raises(ValueError, match="loss_weights has 2 entries"):
        model.compile("sgd", "mse", loss_weights=[1.0, 2.0])
    with pytest.raises(NotImplementedError, match="jit_compile=True"):
        model.compile("sgd", "mse", jit_compile=True)
    model.compile("sgd", "mse", run_eagerly=True, jit_compile="auto", steps_per_execution=1)


def test_validation_steps_limits_the_validation_batches():
    model = Sequential([pyrnn.layers.Input((3, 1)), SimpleRNN(2, seed=0), Dense(1, seed=1)])
    model.compile("sgd", "mse")
    x, y = RNG.standard_normal((8, 3, 1)), RNG.standard_normal((8, 1))
    vx, vy = RNG.standard_normal((6, 3, 1)), RNG.standard_normal((6, 1))
    w = model.get_weights()
    h = model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False, validation_data=(vx, vy),
                  validation_steps=1, validation_batch_size=2)
    model.set_weights(w)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert h.history["val_loss"][0] == pytest.approx(model.evaluate(vx[:2], vy[:2], verbose=0))
    with pytest.raises(TypeError, match="validation_steps must be an int"):
        model.fit(x, y, verbose=0, validation_data=(vx, vy), validation_steps=1.5)
