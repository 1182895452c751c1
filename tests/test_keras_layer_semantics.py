"""Keras layer semantics (issue 16): build(shape) builds, Bidirectional's return_state /
merge_mode=None / initial_state / reset_states with their gradients (central differences in
float64), TimeDistributed masks, call signatures without training/mask, size validation, and the
regularizers, activity regularizers and constraints in training (gradients by central
differences; Keras 3 parity on the same weights, skipped without Keras), EMA at the end of fit."""

import numpy as np
import pytest

from pyrnn import constraints, optimizers, regularizers
from pyrnn import layers as P
from pyrnn.models import Model, Sequential, from_keras, load_model

F64 = {"dtype": "float64"}


# ---------------------------------------------------------------------- build(shape)
def _built_layers():
    return [
        (lambda: P.Dense(3), (None, 4)),
        (lambda: P.Embedding(10, 3), (None, 5)),
        (lambda: P.SimpleRNN(3), (None, 5, 4)),
        (lambda: P.GRU(3), (None, 5, 4)),
        (lambda: P.GRU(3, reset_after=False), (None, 5, 4)),
        (lambda: P.LSTM(3, return_sequences=True), (None, 5, 4)),
        (lambda: P.RNN(P.LSTMCell(3)), (None, 5, 4)),
        (lambda: P.RNN([P.GRUCell(3), P.SimpleRNNCell(2)]), (None, 5, 4)),
        (lambda: P.Bidirectional(P.LSTM(3)), (None, 5, 4)),
        (lambda: P.TimeDistributed(P.Dense(2)), (None, 5, 4)),
        (lambda: P.LayerNormalization(), (None, 5, 4)),
        (lambda: P.BatchNormalization(), (None, 4)),
    ]


@pytest.mark.parametrize("make,shape", _built_layers())
def test_build_marks_built_and_keeps_set_weights(make, shape):
    layer = make()
    layer.build(shape)
    assert layer.built and layer.input_shape == shape
    rng = np.random.default_rng(0)
    weights = [rng.uniform(0.1, 0.5, w.shape).astype(np.float32) for w in layer.get_weights()]
    assert weights, "build must create the weights"
    layer.set_weights(weights)
    layer.build(shape)  # idempotent: a second build keeps the weights
    if isinstance(layer, P.Embedding):
        x = rng.integers(0, 10, (2,) + shape[1:])
    else:
        x = rng.standard_normal((2,) + shape[1:]).astype(np.float32)
    first = layer(x)
    for a, b in zip(layer.get_weights(), weights):
        np.testing.assert_array_equal(a, b)  # the call did not re-initialise
    np.testing.assert_array_equal(layer(x), first)


def test_dense_build_then_call_is_the_set_weights_output():
    d = P.Dense(3)
    d.build((None, 4))
    k = np.arange(12, dtype=np.float32).reshape(4, 3)
    d.set_weights([k, np.ones(3, np.float32)])
    np.testing.assert_allclose(d(np.ones((1, 4), np.float32)), np.ones((1, 4)) @ k + 1)


# ---------------------------------------------------------------------- Bidirectional
def _central_differences(loss, arr, eps=1e-6):
    """d loss() / d arr, perturbing the live array ``arr`` in place."""
    numeric = np.zeros(arr.shape)
    flat = arr.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = loss()
        flat[i] = old - eps
        down = loss()
        flat[i] = old
        numeric.reshape(-1)[i] = (up - down) / (2 * eps)
    return numeric


def _check_model_grads(model, x, y, atol=1e-7):
    """compute_gradients against central differences of evaluate's loss (the regularization
    losses included, as Keras's)."""
    def loss():
        value = model.evaluate(x, y, batch_size=len(x), verbose=0)
        return value[0] if isinstance(value, list) else value

    total, grads = model.compute_gradients(x, y)
    np.testing.assert_allclose(total, loss(), rtol=1e-12)
    for (params, _, name), g in zip(model._variables(), grads):
        np.testing.assert_allclose(g, _central_differences(loss, params[name]), rtol=1e-5, atol=atol)


def _layer_grad_check(layer, x, init=None, seed=0, rtol=1e-5, atol=1e-7):
    """Central differences of L = sum(outputs * G) for the input, the initial states and every
    trainable parameter (its live array), against the layer's backward."""
    rng = np.random.default_rng(seed)
    kw = {} if init is None else {"initial_state": init}

    def outs(training):
        o = layer.call(x, training=training, **kw)
        return o if isinstance(o, list) else [o]

    G = [rng.standard_normal(o.shape) for o in outs(False)]

    def loss():
        return sum(float(np.sum(o * g)) for o, g in zip(outs(False), G))

    layer.zero_grads()
    many = isinstance(layer.call(x, training=True, **kw), list)
    res = layer.backward(G if many else G[0])
    res = res if init is not None else [res]
    checks = [(x, res[0])] + list(zip(init or [], res[1:])) + [(b.weight, b.grad.copy())
                                                              for b in layer.parameter_bindings()]
    assert len(checks) > 1
    for arr, analytic in checks:
        np.testing.assert_allclose(analytic, _central_differences(loss, arr), rtol=rtol, atol=atol)


@pytest.mark.parametrize("family", ["LSTM", "GRU"])
@pytest.mark.parametrize("merge_mode", ["concat", "mul", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_return_state_shapes_and_gradients(family, merge_mode, return_sequences):
    inner = getattr(P, family)(3, return_state=True, return_sequences=return_sequences, seed=1,
                               bias_initializer="random_normal", **F64)
    bi = P.Bidirectional(inner, merge_mode=merge_mode, **F64)
    x = np.random.default_rng(0).standard_normal((2, 4, 2))
    out = bi(x)
    n_states = 2 if family == "LSTM" else 1
    n_out = 2 if merge_mode is None else 1
    assert isinstance(out, list) and len(out) == n_out + 2 * n_states
    for s in out[n_out:]:
        assert s.shape == (2, 3)
    y_shape = (2, 4) if return_sequences else (2,)
    assert out[0].shape == y_shape + ((6,) if merge_mode == "concat" else (3,))
    shapes = bi.compute_output_shape((None, 4, 2))
    assert [tuple(s) for s in shapes] == [(None,) + o.shape[1:] for o in out]
    # the states are the directions' own final states
    fw = bi.forward_layer(x)
    bw = bi.backward_layer(x)
    for a, b in zip(out[n_out:], fw[1:] + bw[1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    _layer_grad_check(bi, x)
    h = np.random.default_rng(3).standard_normal((2 * n_states, 2, 3)) * 0.5
    _layer_grad_check(bi, x, init=[h[i] for i in range(2 * n_states)])


def test_bidirectional_merge_none_without_state_and_initial_state_split():
    bi = P.Bidirectional(P.GRU(3, return_sequences=True, seed=2, **F64), merge_mode=None, **F64)
    x = np.random.default_rng(1).standard_normal((2, 5, 2))
    y, y_rev = bi(x)
    assert y.shape == y_rev.shape == (2, 5, 3)
    assert bi.compute_output_shape((None, 5, 2)) == [(None, 5, 3), (None, 5, 3)]
    m = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    assert len(bi.compute_mask(x, m)) == 2
    h_fw, h_bw = np.full((2, 3), 0.3), np.full((2, 3), -0.2)
    y2, y2_rev = bi(x, initial_state=[h_fw, h_bw])
    np.testing.assert_allclose(y2, bi.forward_layer(x, initial_state=[h_fw]), rtol=1e-12)
    np.testing.assert_allclose(y2_rev, bi.backward_layer(x, initial_state=[h_bw])[:, ::-1], rtol=1e-12)
    _layer_grad_check(bi, x, init=[h_fw, h_bw])
    with pytest.raises(ValueError, match=r"initial_state must be 2 arrays.*got 3"):
        bi(x, initial_state=[h_fw, h_bw, h_bw])


def test_bidirectional_stateful_reset_state():
    bi = P.Bidirectional(P.LSTM(2, stateful=True, seed=0))
    x = np.random.default_rng(0).standard_normal((3, 4, 2)).astype(np.float32)
    first = bi(x)
    assert len(bi.states) == 4 and all(s.shape == (3, 2) for s in bi.states)
    assert not np.allclose(bi(x), first)  # the state carried over
    bi.reset_state()
    np.testing.assert_allclose(bi(x), first, rtol=1e-6)
    bi.reset_states()
    assert bi.states is None
    zeros = [np.zeros((3, 2), np.float32)] * 4
    bi.reset_states(zeros)
    np.testing.assert_allclose(bi(x), first, rtol=1e-6)
    with pytest.raises(ValueError, match="states must be 4 arrays"):
        bi.reset_states(zeros[:3])


def test_bidirectional_return_state_in_a_functional_model_trains():
    inp = P.Input((4, 2))
    out, h_fw, c_fw, h_bw, c_bw = P.Bidirectional(P.LSTM(3, return_state=True, seed=1, **F64), **F64)(inp)
    model = Model(inp, [out, P.Dense(1, seed=2, **F64)(P.concatenate([h_fw, c_bw]))])
    model.compile("sgd", ["mse", "mse"])
    rng = np.random.default_rng(0)
    x, y1, y2 = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 6)), rng.standard_normal((3, 1))
    _check_model_grads(model, x, [y1, y2], atol=1e-8)


def test_bidirectional_initial_state_tensors_in_a_functional_model():
    inp, h_in = P.Input((4, 2), **F64), [P.Input((3,), **F64) for _ in range(2)]
    bi = P.Bidirectional(P.GRU(3, seed=1, **F64), merge_mode="sum", **F64)
    model = Model([inp] + h_in, bi(inp, initial_state=h_in))
    rng = np.random.default_rng(0)
    x, h_fw, h_bw = rng.standard_normal((2, 4, 2)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(model([x, h_fw, h_bw]), bi(x, initial_state=[h_fw, h_bw]), rtol=1e-12)
    with pytest.raises(ValueError, match="initial_state must be 2 arrays"):
        bi(inp, initial_state=h_in[:1])
    with pytest.raises(ValueError, match=r"initial_state must have shape \(batch, 3\)"):
        bi(inp, initial_state=[h_in[0], P.Input((4,))])


def test_bidirectional_matches_keras_return_state_merge_none_and_initial_state(keras):
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    for inner, kinner, merge in [(P.LSTM(4, return_state=True), keras.layers.LSTM(4, return_state=True), "concat"),
                                 (P.GRU(4, return_state=True, return_sequences=True),
                                  keras.layers.GRU(4, return_state=True, return_sequences=True), None),
                                 (P.LSTM(4, return_sequences=True), keras.layers.LSTM(4, return_sequences=True),
                                  None)]:
        kb = keras.layers.Bidirectional(kinner, merge_mode=merge)
        pb = P.Bidirectional(inner, merge_mode=merge)
        kout = kb(x)
        pb.build(x.shape)
        pb.set_weights([np.asarray(w) for w in kb.get_weights()])
        pout = pb(x)
        kout = list(kout) if isinstance(kout, (list, tuple)) else [kout]
        pout = pout if isinstance(pout, list) else [pout]
        assert len(pout) == len(kout)
        for a, b in zip(pout, kout):
            np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-6)
        n = 4 if isinstance(inner, P.LSTM) else 2
        init = [np.random.default_rng(i).standard_normal((2, 4)).astype(np.float32) for i in range(n)]
        kout = kb(x, initial_state=init)
        pout = pb(x, initial_state=init)
        kout = list(kout) if isinstance(kout, (list, tuple)) else [kout]
        pout = pout if isinstance(pout, list) else [pout]
        for a, b in zip(pout, kout):
            np.testing.assert_allclose(a, keras.ops.convert_to_numpy(b), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- TimeDistributed masks
class _MaskedSum(P.Layer):
    """Sums the features a (batch, features) mask keeps: a wrapped layer that reads its mask."""

    def call(self, inputs, mask=None):
        self._mask = mask
        return inputs if mask is None else inputs * mask.astype(inputs.dtype)

    def backward(self, grad):
        return grad if self._mask is None else grad * self._mask


def test_time_distributed_passes_mask_and_checks_its_shape():
    td = P.TimeDistributed(_MaskedSum())
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    mask = np.random.default_rng(1).random((2, 3, 4)) > 0.5
    np.testing.assert_array_equal(td(x, mask=mask), x * mask)
    np.testing.assert_array_equal(td(x), x)
    # a (batch, time) mask reaches the wrapped layer as one row per step
    td2 = P.TimeDistributed(P.Dense(2))
    td2(x, mask=np.ones((2, 3), bool))
    for bad in [np.ones((2, 4), bool), np.ones((3, 3), bool), np.ones((3, 4, 4), bool)]:
        with pytest.raises(ValueError, match=r"has a shape \(" + str(bad.shape[0]) + r".*mask of shape \(2, 3, \.\.\.\)"):
            td(x, mask=bad)


# ---------------------------------------------------------------------- call signatures
class _NoTraining(P.Layer):
    def call(self, inputs, mask=None):
        self.seen_mask = mask
        return inputs * 2

    def backward(self, grad):
        return grad * 2


class _InputsOnly(P.Layer):
    def call(self, inputs):
        return inputs + 1


def test_custom_call_signatures_in_sequential_and_functional():
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((4, 2)).astype(np.float32)
    model = Sequential([P.Input((3,)), _InputsOnly(), _NoTraining(), P.Dense(2, seed=0)])
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.layers[2]((x + 1) * 2), rtol=1e-6)
    ids = np.array([[1, 2, 0], [3, 0, 0]])
    seq = Sequential([P.Input((3,)), P.Embedding(5, 2, mask_zero=True), _NoTraining()])
    seq.predict(ids, verbose=0)
    np.testing.assert_array_equal(seq.layers[1].seen_mask, ids != 0)
    inp = P.Input((3,))
    fmodel = Model(inp, P.Dense(2, seed=0)(_NoTraining()(_InputsOnly()(inp))))
    fmodel.compile("sgd", "mse")
    fmodel.fit(x, y, epochs=1, verbose=0)


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize("make", [lambda u: P.Dense(u), lambda u: P.SimpleRNN(u), lambda u: P.GRU(u),
                                  lambda u: P.LSTM(u), lambda u: P.Embedding(u, 3), lambda u: P.Embedding(3, u)])
@pytest.mark.parametrize("value,error,message", [(2.5, TypeError, "must be an int, got float 2.5"),
                                                 (True, TypeError, "must be an int, got bool True"),
                                                 ("3", TypeError, "must be an int, got str '3'"),
                                                 (0, ValueError, "must be >= 1, got 0"),
                                                 (-2, ValueError, "must be >= 1, got -2")])
def test_sizes_are_validated(make, value, error, message):
    with pytest.raises(error, match=r"(units|input_dim|output_dim) " + message):
        make(value)


# ---------------------------------------------------------------------- regularizers and constraints
def test_layer_losses_are_keras_layout_penalties():
    rng = np.random.default_rng(0)
    lstm = P.LSTM(3, kernel_regularizer=regularizers.L1(0.1), recurrent_regularizer="l2",
                  bias_regularizer=regularizers.L2(0.3))
    lstm.build((None, 4, 2))
    k, r, b = [rng.standard_normal(w.shape).astype(np.float32) for w in lstm.get_weights()]
    lstm.set_weights([k, r, b])
    want = [0.1 * np.abs(k).sum(), 0.01 * np.square(r).sum(), 0.3 * np.square(b).sum()]
    np.testing.assert_allclose(lstm.losses, want, rtol=1e-5)
    # OrthogonalRegularizer sees Keras's (input, 4*units) kernel, not PyTorch's (4*units, input)
    orth = regularizers.OrthogonalRegularizer(1.0, mode="rows")
    lstm2 = P.LSTM(3, kernel_regularizer=orth)
    lstm2.build((None, 4, 2))
    lstm2.set_weights([k, r, b])
    np.testing.assert_allclose(lstm2.losses, [orth(k)], rtol=1e-6)
    assert orth(k) != pytest.approx(orth(k.T))
    # a wrapper lists its sublayers' penalties; not trainable: none
    bi = P.Bidirectional(P.GRU(2, kernel_regularizer="l1"))
    bi.build((None, 4, 2))
    assert len(bi.losses) == 2
    bi.trainable = False
    assert bi.losses == []


def test_activity_regularizer_is_divided_by_batch_and_listed():
    d = P.Dense(2, activity_regularizer=regularizers.L2(0.5), kernel_initializer="ones")
    x = np.arange(6, dtype=np.float32).reshape(3, 2)
    y = d(x)
    np.testing.assert_allclose(d.losses, [0.5 * np.square(y).sum() / 3], rtol=1e-6)
    d(x[:1])
    assert len(d.losses) == 1  # each outermost call starts afresh


def _penalised_model(**kw):
    return Sequential([
        P.Input((4, 2)),
        P.LSTM(3, return_sequences=True, kernel_regularizer=regularizers.L1(0.02),
               recurrent_regularizer=regularizers.OrthogonalRegularizer(0.1), bias_regularizer="l2",
               activity_regularizer=regularizers.L2(0.01), seed=1, bias_initializer="random_normal",
               recurrent_initializer="glorot_uniform", **kw),  # orthogonal rows: |N N^T| at its kink
        # Keras runs a TimeDistributed layer's call directly: its weight penalties count, its activity's not
        P.TimeDistributed(P.Dense(3, kernel_regularizer="l1", activity_regularizer="l2", seed=4, **kw), **kw),
        P.LayerNormalization(gamma_regularizer=regularizers.L2(0.2), beta_regularizer="l1", **kw),
        P.GRU(2, kernel_regularizer=regularizers.L1L2(0.01, 0.02), bias_regularizer=regularizers.L1(0.03), seed=2,
              bias_initializer="random_normal", **kw),
        P.Dense(2, kernel_regularizer="l2", bias_regularizer="l1", activity_regularizer=regularizers.L1(0.05),
                bias_initializer="random_normal", seed=3, **kw),
    ])


def test_penalty_gradients_central_differences():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 2))
    model = _penalised_model(**F64)
    model.compile("sgd", "mse")
    loss, grads = model.compute_gradients(x, y)
    plain = model.loss(y, model(x))
    np.testing.assert_allclose(loss, plain + sum(model.losses), rtol=1e-12)
    assert sum(model.losses) > 0.01 * plain
    _check_model_grads(model, x, y)


def test_constraints_after_every_step_on_keras_layout():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 4, 2)).astype(np.float32), rng.standard_normal((8, 2)).astype(np.float32)
    model = Sequential([P.Input((4, 2)),
                        P.LSTM(3, return_sequences=True, kernel_constraint=constraints.MaxNorm(0.3, axis=0),
                               recurrent_constraint=constraints.UnitNorm(axis=1), bias_constraint="non_neg",
                               bias_initializer="random_normal", seed=1),
                        P.GRU(2, bias_constraint=constraints.MaxNorm(0.1, axis=0), bias_initializer="random_normal",
                              seed=2),
                        P.Dense(2, kernel_constraint=constraints.MinMaxNorm(0.5, 0.6), seed=3)])
    model.compile(optimizers.SGD(0.5), "mse")
    model.train_on_batch(x, y)
    k, r, b, _, _, gb, dk, _ = model.get_weights()
    assert np.all(np.linalg.norm(k, axis=0) <= 0.3 + 1e-5)
    np.testing.assert_allclose(np.linalg.norm(r, axis=1), 1.0, rtol=1e-5)
    assert np.all(b >= 0)
    assert gb.shape == (2, 6) and np.all(np.linalg.norm(gb, axis=0) <= 0.1 + 1e-6)  # Keras's (2, 3*units) bias
    assert np.all((np.linalg.norm(dk, axis=0) >= 0.5 - 1e-5) & (np.linalg.norm(dk, axis=0) <= 0.6 + 1e-5))


def test_penalties_config_and_save_load(tmp_path):
    model = _penalised_model()
    lstm = model.layers[0]
    config = lstm.get_config()
    assert config["kernel_regularizer"] == {"module": "keras.regularizers", "class_name": "L1",
                                            "config": {"l1": 0.02}, "registered_name": None}
    assert config["kernel_constraint"] is None and config["activity_regularizer"]["class_name"] == "L2"
    again = P.LSTM.from_config(config)
    assert again.get_config() == config
    model.compile("sgd", "mse")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = load_model(path)
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
    np.testing.assert_allclose(loaded.losses, model.losses, rtol=1e-6)
    with pytest.raises(ValueError, match="regularizer"):
        P.Dense(2, kernel_regularizer="no_such_regularizer")
    with pytest.raises(ValueError, match="constraint"):
        P.LSTM(2, recurrent_constraint="no_such_constraint")


def _keras_twin(keras, kind):
    K, R, C = keras.layers, keras.regularizers, keras.constraints
    if kind == "regularizers":
        return [K.LSTM(3, return_sequences=True, kernel_regularizer=R.L1(0.02),
                       recurrent_regularizer=R.OrthogonalRegularizer(0.1), bias_regularizer="l2",
                       activity_regularizer=R.L2(0.01)),
                K.TimeDistributed(K.Dense(3, kernel_regularizer="l1", activity_regularizer="l2")),
                K.LayerNormalization(gamma_regularizer=R.L2(0.2), beta_regularizer="l1"),
                K.GRU(2, kernel_regularizer=R.L1L2(0.01, 0.02), bias_regularizer=R.L1(0.03)),
                K.Dense(2, kernel_regularizer="l2", bias_regularizer="l1", activity_regularizer=R.L1(0.05))], \
            _penalised_model().layers
    return [K.LSTM(3, return_sequences=True, kernel_constraint=C.MaxNorm(0.4, axis=0),
                   recurrent_constraint=C.MaxNorm(0.5, axis=1), bias_constraint=C.NonNeg()),
            K.SimpleRNN(3, kernel_constraint=C.UnitNorm(axis=0), return_sequences=True),
            K.LayerNormalization(gamma_constraint=C.MaxNorm(0.9), beta_constraint="non_neg"),
            K.GRU(2, bias_constraint=C.MaxNorm(0.2, axis=0), recurrent_constraint=C.NonNeg()),
            K.Dense(2, kernel_constraint=C.MaxNorm(0.3), bias_constraint="non_neg")], \
        [P.LSTM(3, return_sequences=True, kernel_constraint=constraints.MaxNorm(0.4, axis=0),
                recurrent_constraint=constraints.MaxNorm(0.5, axis=1), bias_constraint=constraints.NonNeg()),
         P.SimpleRNN(3, kernel_constraint=constraints.UnitNorm(axis=0), return_sequences=True),
         P.LayerNormalization(gamma_constraint=constraints.MaxNorm(0.9), beta_constraint="non_neg"),
         P.GRU(2, bias_constraint=constraints.MaxNorm(0.2, axis=0), recurrent_constraint="non_neg"),
         P.Dense(2, kernel_constraint=constraints.MaxNorm(0.3), bias_constraint="non_neg")]


@pytest.mark.parametrize("kind", ["regularizers", "constraints"])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_penalties_training_matches_keras(keras, kind, momentum):
    klayers, players = _keras_twin(keras, kind)
    kmodel = keras.Sequential([keras.Input((4, 2))] + klayers)
    pmodel = Sequential([P.Input((4, 2))] + list(players))
    _train_twins(keras, kmodel, pmodel, n=8, outputs=2, momentum=momentum)
    np.testing.assert_allclose(sorted(pmodel.losses), _keras_losses(keras, kmodel), rtol=1e-4, atol=1e-7)


def _keras_losses(keras, kmodel):
    return sorted(float(keras.ops.convert_to_numpy(v)) for v in kmodel.losses)


def _train_twins(keras, kmodel, pmodel, n, outputs, momentum=0.0, seed=5):
    """Same perturbed weights and data; the same losses (evaluate before and after, fit's history)
    and weights after a few SGD steps."""
    rng = np.random.default_rng(seed)
    weights = [(w + rng.normal(0, 0.3, w.shape)).astype(np.float32) for w in kmodel.get_weights()]
    kmodel.set_weights(weights)
    pmodel.set_weights(weights)
    x = rng.standard_normal((n, 4, 2)).astype(np.float32)
    y = rng.standard_normal((n, outputs)).astype(np.float32)
    kmodel.compile(keras.optimizers.SGD(0.1, momentum=momentum), "mse")
    pmodel.compile(optimizers.SGD(0.1, momentum=momentum), "mse")
    np.testing.assert_allclose(pmodel.evaluate(x, y, verbose=0), kmodel.evaluate(x, y, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(sorted(pmodel.losses), _keras_losses(keras, kmodel), rtol=1e-5, atol=1e-7)
    kh = kmodel.fit(x, y, batch_size=n // 2, epochs=3, shuffle=False, verbose=0)
    ph = pmodel.fit(x, y, batch_size=n // 2, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(ph.history["loss"], kh.history["loss"], rtol=1e-4)
    for a, b in zip(pmodel.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=3e-5)
    np.testing.assert_allclose(pmodel.evaluate(x, y, verbose=0), kmodel.evaluate(x, y, verbose=0), rtol=1e-4)


# ---------------------------------------------------------------------- EMA and loss scaling in fit
def test_ema_weights_at_the_end_of_fit_match_keras(keras):
    x = np.random.default_rng(0).standard_normal((16, 5, 2)).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((16, 1)).astype(np.float32)
    kmodel = keras.Sequential([keras.Input((5, 2)), keras.layers.GRU(3), keras.layers.Dense(1)])
    pmodel = Sequential([P.Input((5, 2)), P.GRU(3), P.Dense(1)])
    pmodel.set_weights(kmodel.get_weights())
    kmodel.compile(keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.8), "mse")
    pmodel.compile(optimizers.SGD(0.1, use_ema=True, ema_momentum=0.8), "mse")
    kmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    pmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(pmodel.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)


def test_ema_finalize_is_the_moving_average():
    x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    y = np.random.default_rng(1).standard_normal((8, 1)).astype(np.float32)
    model = Sequential([P.Input((3,)), P.Dense(1, seed=0)])
    model.compile(optimizers.SGD(0.1), "mse")
    trail = [model.get_weights()]
    for i in range(4):  # plain SGD, weights after each step
        model.train_on_batch(x[2 * i:2 * i + 2], y[2 * i:2 * i + 2])
        trail.append(model.get_weights())
    model.set_weights(trail[0])
    model.compile(optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5), "mse")
    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
    # Keras's EMA: the first step copies, then avg = 0.5 avg + 0.5 w
    avg = trail[1]
    for w in trail[2:]:
        avg = [0.5 * a + 0.5 * b for a, b in zip(avg, w)]
    for a, b in zip(model.get_weights(), avg):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def _activity_bidirectional(lib, R):
    inp = lib.Input((4, 2))
    bi = lib.layers.Bidirectional(lib.layers.LSTM(3, return_state=True, activity_regularizer=R.L1(0.05)),
                                  activity_regularizer=R.L2(0.1))
    out, h_fw, c_fw, h_bw, c_bw = bi(inp)
    head = lib.layers.Dense(1, activity_regularizer=R.L2(0.2))(lib.layers.concatenate([out, c_bw]))
    return lib.Model(inp, head)


def test_activity_regularizers_on_every_output_match_keras(keras):
    # Keras penalises every output of a call (here the merged output and the four states, and
    # each direction's [output, h, c]), states without a consumer included
    pyrnn_lib = type("lib", (), {"Input": staticmethod(P.Input), "layers": P, "Model": Model})
    kmodel = _activity_bidirectional(keras, keras.regularizers)
    pmodel = _activity_bidirectional(pyrnn_lib, regularizers)
    _train_twins(keras, kmodel, pmodel, n=6, outputs=1, seed=3)
    assert len(pmodel.losses) == 1 + 5 + 2 * 3


def test_activity_gradients_on_unused_states_central_differences():
    inp = P.Input((4, 2), **F64)
    out, *states = P.Bidirectional(P.GRU(2, return_state=True, activity_regularizer="l2", seed=1, **F64),
                                   activity_regularizer=regularizers.L1(0.1), **F64)(inp)
    model = Model(inp, P.Dense(1, seed=2, **F64)(out))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 1))
    _check_model_grads(model, x, y)


def test_from_keras_carries_regularizers_and_constraints(keras):
    K = keras.layers
    kmodel = keras.Sequential([keras.Input((4, 2)),
                               K.LSTM(3, kernel_regularizer="l2", activity_regularizer="l1",
                                      recurrent_constraint=keras.constraints.MaxNorm(0.5, axis=1)),
                               K.Dense(1, bias_regularizer=keras.regularizers.L1(0.3), bias_initializer="ones")])
    pmodel = from_keras(kmodel)
    x = np.random.default_rng(0).random((2, 4, 2)).astype(np.float32)
    kmodel(x)
    pmodel(x)
    np.testing.assert_allclose(sorted(pmodel.losses), _keras_losses(keras, kmodel), rtol=1e-5)
    con = pmodel.layers[0].get_config()["recurrent_constraint"]
    assert con["class_name"] == "MaxNorm" and con["config"] == {"max_value": 0.5, "axis": 1}


def test_activity_gradient_with_training_given_positionally():
    d = P.Dense(2, activity_regularizer=regularizers.L2(0.5), seed=0, **F64)
    x = np.random.default_rng(0).standard_normal((3, 4))
    d.build((None, 4))
    y = d.call(x, True)  # training as the second positional argument
    g = np.ones_like(y)
    gx = d.backward(g)
    np.testing.assert_allclose(gx, (g + 2 * 0.5 * y / 3) @ d.kernel.T, rtol=1e-12)
