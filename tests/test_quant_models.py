"""Keras-style ``model.quantize("int8" | "bfloat16")`` (issue 17): Dense and Embedding against
Keras 3's own int8 layers on the same weights, recurrent layers against pyrnn.quantized's modules
and the float model, and the API around it (modes, training, saving)."""

import warnings

import numpy as np
import pytest

from pyrnn import quantized
from pyrnn import reference_quant as rq
from pyrnn.layers import GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, Input, SimpleRNN, TimeDistributed
from pyrnn.models import Model, Sequential
from pyrnn.utils import set_random_seed

ERROR_BOUND = 0.05  # tests/test_quant.py: int8 against float32 for unit-scale inputs


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _sequential():
    return Sequential([Input((9, 6)), LSTM(24, return_sequences=True), Bidirectional(GRU(16, return_sequences=True)),
                       TimeDistributed(Dense(8, activation="relu")), GRU(12, reset_after=False), Dense(3)])


def _simple_rnn():
    set_random_seed(10)  # the draw with the largest outputs (3.7) of 12 tried: errors 0.069 int8, 0.025 bf16
    return Sequential([Input((9, 6)), SimpleRNN(16, return_sequences=True),
                       Bidirectional(SimpleRNN(8, activation="relu", go_backwards=True)), Dense(3)])


def _functional():
    inp = Input((9, 6))
    h, s_h, s_c = LSTM(20, return_sequences=True, return_state=True)(inp)
    out = GRU(10)(h, initial_state=[Dense(10)(s_h)])
    return Model(inp, Dense(2)(out))


@pytest.mark.parametrize("make", [_sequential, _functional, _simple_rnn])
@pytest.mark.parametrize("mode,bound", [("int8", ERROR_BOUND), ("bfloat16", 0.02)])
def test_quantized_model_predicts_close_to_float(make, mode, bound):
    model = make()
    x = _x((7, 9, 6))
    ref = model.predict(x, verbose=0)
    model.quantize(mode)
    out = model.predict(x, verbose=0)
    assert out.shape == ref.shape and out.dtype == np.float32
    err = np.abs(out - ref).max()
    # quantized (not the float path), within the scheme's error relative to the output's scale
    # (a relu SimpleRNN's outputs are not bounded by 1)
    assert 0 < err <= bound * max(1.0, np.abs(ref).max())
    np.testing.assert_array_equal(model.predict(x, verbose=0), out)  # deterministic
    assert all(l._quantized is not None for l in quantized._leaves(model.layers) if l.get_weights())


def test_recurrent_layer_runs_the_quantized_module():
    layer = LSTM(16, return_sequences=True, return_state=True)
    x = _x((4, 7, 5), 1)
    layer(x)
    qm = layer._module.quantize("int8")
    layer.quantize("int8")
    y, h, c = layer(x)
    out, (hn, cn) = qm(x.transpose(1, 0, 2))
    np.testing.assert_array_equal(y, out.transpose(1, 0, 2))
    np.testing.assert_array_equal(h, hn[0])
    np.testing.assert_array_equal(c, cn[0])


@pytest.mark.parametrize("go_backwards", [False, True])
def test_masks_and_go_backwards(go_backwards):
    ids = np.random.default_rng(2).integers(1, 50, (6, 10))
    ids[1, 4:] = 0
    ids[3, :3] = 0  # left padding: masked steps moved, as in the float path
    model = Sequential([Input((10,), dtype="int32"), Embedding(50, 8, mask_zero=True),
                        GRU(16, go_backwards=go_backwards, return_sequences=True), LSTM(8), Dense(1)])
    ref = model.predict(ids, verbose=0)
    model.quantize("int8")
    assert np.abs(model.predict(ids, verbose=0) - ref).max() <= ERROR_BOUND


def test_dense_matches_the_reference_scheme():
    d = Dense(13, activation="tanh")
    x = _x((11, 29), 3)
    d(x)
    d.quantize("int8")
    k, b = d.get_weights()
    q, s = rq.quantize_weights(k.T)
    np.testing.assert_allclose(d(x), np.tanh(rq.int8_linear(x, q, s) + b), atol=1e-6)
    d3 = d(x.reshape(11, 1, 29))  # 3-D input: every step
    np.testing.assert_allclose(d3[:, 0], d(x), atol=0)


def _keras_same(keras, layer, x, cls, **kw):
    kl = cls(**kw)
    kl.build(x.shape)
    kl.set_weights(layer.get_weights())
    kl.quantize("int8")
    return keras.ops.convert_to_numpy(kl(x))


def test_dense_int8_matches_keras(keras):
    d = Dense(17)
    x = _x((9, 40), 4)
    ref = d(x)
    d.quantize("int8")
    ours = d(x)
    theirs = _keras_same(keras, d, x, keras.layers.Dense, units=17)
    bound = rq.product_error_bound(x, d.get_weights()[0].T)
    # Keras's abs-max adds an epsilon to the max, which can move a value across a rounding
    # boundary: both stay within the scheme's bound of the float product and agree closely.
    assert (np.abs(ours - ref) <= bound * 1.0001 + 1e-6).all()
    assert (np.abs(theirs - ref) <= bound * 1.0001 + 1e-6).all()
    assert np.median(np.abs(ours - theirs)) <= 1e-6


def test_embedding_int8_matches_keras(keras):
    e = Embedding(30, 12)
    ids = np.random.default_rng(5).integers(0, 30, (4, 7))
    ref = e(ids)
    e.quantize("int8")
    ours = e(ids)
    kl = keras.layers.Embedding(30, 12)
    kl.build((None, 7))
    kl.set_weights(e.get_weights())
    kl.quantize("int8")
    theirs = keras.ops.convert_to_numpy(kl(ids))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert 0 < np.abs(ours - ref).max() <= np.abs(ref).max() / 127


def test_training_a_quantized_model_is_an_error():
    model = _sequential()
    x, y = _x((4, 9, 6)), np.zeros((4, 3), np.float32)
    model.compile(optimizer="adam", loss="mse")
    model.quantize("int8")
    for call in (lambda: model.fit(x, y, verbose=0), lambda: model.train_on_batch(x, y),
                 lambda: model.compute_gradients(x, y), lambda: model(x, training=True)):
        with pytest.raises(ValueError, match="inference-only quantized copy"):
            call()
    model.evaluate(x, y, verbose=0)  # inference is fine


def test_bad_modes_and_states():
    model = _sequential()
    with pytest.raises(ValueError, match=r"mode must be one of 'int8', 'bfloat16', got 'int4'"):
        model.quantize("int4")
    with pytest.raises(ValueError, match="mode must be one of"):
        model.quantize(None)
    with pytest.raises(ValueError, match="unrecognized keyword arguments"):
        model.quantize("int8", fast=True)
    with pytest.raises(ValueError, match="not built"):
        Sequential([LSTM(4), Dense(1)]).quantize("int8")
    model.quantize("int8")
    with pytest.raises(ValueError, match="already quantized with mode 'int8'"):
        model.quantize("bfloat16")
    layer = Dense(3)
    with pytest.raises(ValueError, match="not built"):
        layer.quantize("int8")


def test_unquantizable_layers_warn_and_stay_float():
    model = Sequential([Input((5, 3)), SimpleRNN(8, activation="sigmoid", return_sequences=True), Dropout(0.1),
                        LSTM(6, activation="relu"), Dense(2)])
    x = _x((3, 5, 3))
    ref = model.predict(x, verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.quantize("int8")
    messages = [str(w.message) for w in caught]
    assert any("SimpleRNN with activation='sigmoid'" in m for m in messages)
    assert any("LSTM with activation='relu'" in m for m in messages)
    assert len(messages) == 2  # Dropout has no weights: no warning
    assert model.layers[0]._quantized is None and model.layers[-1]._quantized is not None
    assert 0 < np.abs(model.predict(x, verbose=0) - ref).max() <= ERROR_BOUND


def test_saving_a_quantized_model(tmp_path):
    model = _sequential()
    x = _x((3, 9, 6))
    ref = model.predict(x, verbose=0)
    model.quantize("int8")
    for name in ("m.keras", "m.safetensors"):
        with pytest.raises(ValueError, match="is quantized .*Save the float model"):
            model.save(tmp_path / name)
        assert not (tmp_path / name).exists()
    with pytest.raises(ValueError, match="get_config: layer 'lstm.*' is quantized"):
        model.get_config()
    # Weights stay the float ones: save_weights keeps them, a float model loads them.
    model.save_weights(tmp_path / "w.safetensors")
    fresh = _sequential()
    fresh.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), ref)
    # set_weights on a quantized model quantizes the new weights.
    before = model.predict(x, verbose=0)
    model.set_weights([w * 0.5 for w in model.get_weights()])
    fresh.set_weights([w * 0.5 for w in fresh.get_weights()])
    fresh.quantize("int8")
    after = model.predict(x, verbose=0)
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_array_equal(after, fresh.predict(x, verbose=0))
