"""Models used as layers: a functional model called on new KerasTensors inside another, a
Sequential inside a functional model and a functional model inside a Sequential. Predictions
equal the same layers wired flat, gradients agree with central differences (float64, also
through the layers before the nested model and for a nested model called twice), the weights
are shared, and summary, get_config/from_config and save/load_model keep the nesting; Keras 3
on the same weights."""

import numpy as np
import pytest

import pyrnn
import pyrnn as keras
from pyrnn import layers as L
from test_functional_gradients import _check

F64 = "float64"
RNG = np.random.default_rng(5)


def _encoder(dtype="float32"):
    ei = keras.Input((None, 3), dtype=dtype, name="enc_in")
    _, h, c = L.LSTM(4, return_state=True, dtype=dtype, seed=0, name="enc_lstm")(ei)
    return keras.Model(ei, [h, c], name="encoder")


def _s2s(encoder, dtype="float32"):
    a, d = keras.Input((None, 3), dtype=dtype, name="a"), keras.Input((None, 2), dtype=dtype, name="d")
    h, c = encoder(a)
    seq = L.LSTM(4, return_sequences=True, dtype=dtype, seed=1, name="dec")(d, initial_state=[h, c])
    return keras.Model([a, d], L.Dense(2, dtype=dtype, seed=2, name="out")(seq), name="s2s")


def _data(n=5, dtype=np.float32):
    return [RNG.random((n, 4, 3)).astype(dtype), RNG.random((n, 6, 2)).astype(dtype)], RNG.random((n, 6, 2)).astype(dtype)


def test_nested_model_equals_its_layers_wired_flat():
    encoder = _encoder()
    model = _s2s(encoder)
    a, d = keras.Input((None, 3)), keras.Input((None, 2))
    _, h, c = encoder.get_layer("enc_lstm")(a)  # the same layer objects, no nesting
    seq = model.get_layer("dec")(d, initial_state=[h, c])
    flat = keras.Model([a, d], model.get_layer("out")(seq))
    xs, y = _data()
    np.testing.assert_array_equal(model.predict(xs, verbose=0), flat.predict(xs, verbose=0))
    for m in (model, flat):
        m.compile("sgd", "mse")
    loss, grads = model.compute_gradients(xs, y)
    loss_flat, grads_flat = flat.compute_gradients(xs, y)
    assert loss == loss_flat and len(grads) == len(grads_flat) > 0
    assert [(id(b.owner), b.name) for b in model.parameter_bindings()] == [
        (id(b.owner), b.name) for b in flat.parameter_bindings()]
    for g, g_flat in zip(grads, grads_flat):
        np.testing.assert_array_equal(g, g_flat)


def test_fit_trains_the_nested_model_and_its_weights_are_shared():
    encoder = _encoder()
    model = _s2s(encoder)
    xs, y = _data(8)
    before = encoder.predict(xs[0], verbose=0)
    model.compile("adam", "mse")
    hist = model.fit(xs, y, epochs=5, batch_size=4, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    after = encoder.predict(xs[0], verbose=0)
    assert not np.allclose(before[0], after[0])  # the encoder learnt through its own states
    assert model.get_layer("encoder") is encoder
    assert [w.shape for w in model.get_weights()] == [w.shape for l in model.layers for w in l.get_weights()]
    assert len(model.get_weights()) == 3 + 3 + 2


def test_gradients_through_a_nested_functional_model():
    encoder = _encoder(F64)
    xs, y = _data(3, np.float64)
    _check(_s2s(encoder, F64), xs, y)


def test_gradients_reach_the_layers_before_a_nested_sequential():
    inner = keras.Sequential([keras.Input((4, 3), dtype=F64), L.GRU(3, dtype=F64, seed=0),
                              L.Dense(2, dtype=F64, seed=1)], name="inner")
    x = keras.Input((4, 3), dtype=F64)
    pre = L.Dense(3, dtype=F64, seed=2, name="pre")(x)
    model = keras.Model(x, L.Dense(1, dtype=F64, seed=3)(inner(pre)))
    _check(model, RNG.random((3, 4, 3)), RNG.random((3, 1)))
    assert model.get_layer("inner") is inner


def test_nested_model_called_twice_shares_its_weights():
    ei = keras.Input((5, 2), dtype=F64)
    tower = keras.Model(ei, L.Dense(3, dtype=F64, seed=1)(L.SimpleRNN(3, dtype=F64, seed=0)(ei)), name="tower")
    a, b = keras.Input((5, 2), dtype=F64), keras.Input((5, 2), dtype=F64)
    out = L.Dense(1, dtype=F64, seed=2)(L.Concatenate()([tower(a), tower(b)]))
    model = keras.Model([a, b], out)
    assert model.count_params() == tower.count_params() + 7
    _check(model, [RNG.random((3, 5, 2)), RNG.random((3, 5, 2))], RNG.random((3, 1)))


def test_a_layer_both_inside_a_nested_model_and_outside():
    x = keras.Input((4, 2), dtype=F64)
    gru = L.GRU(3, return_sequences=True, dtype=F64, seed=0)
    inner = keras.Model(x, gru(x), name="inner")
    y = keras.Input((4, 2), dtype=F64)
    out = L.Dense(1, dtype=F64, seed=1)(L.Flatten()(L.Add()([inner(y), gru(y)])))
    model = keras.Model(y, out)
    owners = [(id(b.owner), b.name) for b in model.parameter_bindings()]
    assert len(owners) == len(set(owners))  # the GRU's parameters once in the flat vector
    _check(model, RNG.random((3, 4, 2)), RNG.random((3, 1)))


def test_functional_model_inside_a_sequential():
    x = keras.Input((4, 3), dtype=F64)
    fm = keras.Model(x, L.LSTM(3, dtype=F64, seed=0)(x), name="fm")
    model = keras.Sequential([keras.Input((4, 3), dtype=F64), L.Dense(3, dtype=F64, seed=2), fm,
                              L.Dense(2, dtype=F64, seed=1)])
    assert model.output_shape == (None, 2)
    _check(model, RNG.random((3, 4, 3)), RNG.random((3, 2)))
    lines = []
    model.summary(print_fn=lines.append)
    assert "fm (Functional)" in lines[0] and "(None, 2)" in lines[0]


def test_sequential_inside_a_sequential_and_masks_pass_through():
    inner = keras.Sequential([L.LSTM(3, seed=0)], name="inner")
    model = keras.Sequential([keras.Input((5,), dtype="int32"), L.Embedding(7, 4, mask_zero=True, seed=1), inner,
                              L.Dense(1, seed=2)])
    ids = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])
    padded = model.predict(ids, verbose=0)
    short = model.predict(np.array([[1, 2, 3, 6, 6], [4, 5, 6, 6, 6]]) * (ids > 0), verbose=0)
    np.testing.assert_allclose(padded, short)  # padded steps are skipped inside the nested model
    lstm_only = keras.Sequential([keras.Input((5,), dtype="int32"), model.layers[0], inner.layers[0],
                                  model.layers[2]])
    np.testing.assert_allclose(padded, lstm_only.predict(ids, verbose=0))


def test_summary_config_and_saving_keep_the_nesting(tmp_path):
    model = _s2s(_encoder())
    lines = []
    model.summary(print_fn=lines.append)
    assert "encoder (Functional)" in lines[0] and "encoder[0][0], encoder[0][1]" in lines[0]
    again = keras.Model.from_config(model.get_config())
    assert [type(l).__name__ for l in again.layers] == [type(l).__name__ for l in model.layers]
    again.set_weights(model.get_weights())
    xs, y = _data()
    np.testing.assert_array_equal(again.predict(xs, verbose=0), model.predict(xs, verbose=0))
    model.compile("adam", "mse")
    model.fit(xs, y, epochs=1, verbose=0)
    model.save(tmp_path / "s2s.safetensors")
    loaded = keras.models.load_model(tmp_path / "s2s.safetensors")
    assert isinstance(loaded.get_layer("encoder"), keras.Model)
    np.testing.assert_array_equal(loaded.predict(xs, verbose=0), model.predict(xs, verbose=0))
    seq = keras.Sequential([keras.Input((4, 3)), keras.Sequential([L.GRU(2)], name="in_seq"), L.Dense(1)])
    seq2 = keras.Sequential.from_config(seq.get_config())
    seq2.set_weights(seq.get_weights())
    np.testing.assert_array_equal(seq2.predict(xs[0], verbose=0), seq.predict(xs[0], verbose=0))


def test_calling_a_model_on_wrong_tensors_is_a_clear_error():
    encoder = _encoder()
    with pytest.raises(ValueError, match=r"model 'encoder' takes 1 input\(s\) of shapes \[\(None, None, 3\)\], got 2"):
        encoder([keras.Input((4, 3)), keras.Input((4, 3))])
    with pytest.raises(ValueError, match=r"model 'encoder' cannot take input .* of shape \(None, 4, 5\): its input 0 "
                                         r"expects shape \(None, None, 3\), got \(None, 4, 5\)"):
        encoder(keras.Input((4, 5)))
    with pytest.raises(TypeError, match="model 'encoder': a functional call takes KerasTensors"):
        encoder([keras.Input((4, 3)), 3])
    with pytest.raises(ValueError, match="a model with several outputs cannot be a layer of a Sequential"):
        keras.Sequential([keras.Input((4, 3)), encoder])
    x = keras.Input((2,))
    with pytest.raises(NotImplementedError, match="dict of outputs"):
        keras.Model(x, {"o": L.Dense(1)(x)}, name="dicty")(keras.Input((2,)))


# ---------------------------------------------------------------------- Keras 3 on the same weights
def _keras_nested(lib):
    ei = lib.Input((None, 3), name="enc_in")
    _, h, c = lib.layers.LSTM(4, return_state=True, name="enc_lstm")(ei)
    encoder = lib.Model(ei, [h, c], name="encoder")
    tower = lib.Sequential([lib.Input((6, 4)), lib.layers.Dense(3, name="t_dense")], name="tower")
    a, d = lib.Input((None, 3), name="a"), lib.Input((6, 2), name="d")
    seq = lib.layers.LSTM(4, return_sequences=True, name="dec")(d, initial_state=encoder(a))
    return lib.Model([a, d], lib.layers.Dense(2, name="out")(tower(seq)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_nested_models_train_as_keras(keras):
    keras.utils.set_random_seed(2)
    theirs, mine = _keras_nested(keras), _keras_nested(pyrnn)
    assert [type(l).__name__ for l in mine.layers][2:] == ["Model", "LSTM", "Sequential", "Dense"]
    xs, y = _data(6)
    train_like_keras(keras, theirs, mine, xs, y)


def train_like_keras(keras, theirs, mine, xs, y, lr=0.01):
    """Copy Keras's weights into pyrnn's model (the same order), then predictions and three
    Adam steps must agree."""
    mine.set_weights([np.asarray(w) for w in theirs.get_weights()])
    np.testing.assert_allclose(mine.predict(xs, verbose=0), np.asarray(theirs.predict(xs, verbose=0)), atol=2e-6)
    theirs.compile(keras.optimizers.Adam(lr), "mse")
    mine.compile(pyrnn.optimizers.Adam(lr), "mse")
    for _ in range(3):
        kloss, loss = float(theirs.train_on_batch(xs, y)), mine.train_on_batch(xs, y)
    assert loss == pytest.approx(kloss, rel=1e-4)
    for a, b in zip(mine.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=5e-5)


def test_two_models_sharing_layers_train_in_turn():
    # each binds the shared parameters to its own flat vector; the other must notice and re-bind
    encoder = _encoder()
    model = _s2s(encoder)
    xs, y = _data(6)
    encoder.compile(keras.optimizers.SGD(0.1), "mse")
    model.compile(keras.optimizers.SGD(0.1), "mse")
    targets = [np.zeros((6, 4), np.float32)] * 2
    for fit in (lambda: encoder.fit(xs[0], targets, epochs=1, verbose=0),
                lambda: model.fit(xs, y, epochs=1, verbose=0), lambda: encoder.fit(xs[0], targets, epochs=1, verbose=0)):
        before = [w.copy() for w in encoder.get_weights()]
        fit()
        assert all(not np.array_equal(a, b) for a, b in zip(before, encoder.get_weights()))
        np.testing.assert_array_equal(encoder.get_layer("enc_lstm").get_weights()[0], encoder.get_weights()[0])


def test_regularizers_inside_a_nested_model_count_in_the_outer_one():
    """Penalties, activity losses and constraints of a nested model's layers are the outer model's
    (Keras's model.losses walks nested models): the same as the layers wired flat."""
    def build(nested):
        inner_in = keras.Input((3,))
        dense = L.Dense(4, kernel_regularizer="l2", activity_regularizer="l1", kernel_constraint="non_neg", seed=0)
        inner = keras.Model(inner_in, dense(inner_in))
        x = keras.Input((3,))
        y = inner(x) if nested else dense(x)
        return keras.Model(x, L.Dense(1, seed=1)(y))
    x, y = RNG.random((6, 3)).astype(np.float32), RNG.random((6, 1)).astype(np.float32)
    results = []
    for nested in (True, False):
        model = build(nested)
        model.compile("sgd", "mse")
        model.predict(x, verbose=0)
        model.train_on_batch(x, y)
        losses = model.losses
        assert len(losses) == 2 and all(v > 0 for v in losses)  # the activity loss, then the kernel's L2
        results.append((losses, [w.copy() for w in model.get_weights()], model.evaluate(x, y, verbose=0)))
    (l1, w1, e1), (l2, w2, e2) = results
    np.testing.assert_allclose(l1, l2, rtol=1e-6)
    np.testing.assert_allclose(e1, e2, rtol=1e-6)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert (w1[0] >= 0).all()  # NonNeg applied after the step
