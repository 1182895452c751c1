"""compile(weighted_metrics=...): metrics averaged with the sample weights, as Keras 3 does (each
sample's value, the mean over its other axes, times its weight, over the sum of the weights),
per output for multi-output models, named ``weighted_<name>`` where an unweighted metric took
the name. Checked against a NumPy reference and against Keras 3 on the same weights."""

import numpy as np
import pytest

import pyrnn
from pyrnn import layers as L

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RNG = np.random.default_rng(3)
X = RNG.random((10, 4, 3), np.float32)
Y = RNG.random((10, 2)).astype(np.float32)
Y2 = (RNG.random((10, 1)) > 0.5).astype(np.float32)
SW = RNG.random(10)


def _two_outputs(lib):
    i = lib.Input((4, 3), name="i")
    h = lib.layers.GRU(5, name="g")(i)
    return lib.Model(i, [lib.layers.Dense(2, name="a")(h), lib.layers.Dense(1, activation="sigmoid", name="b")(h)])


def _sequential(lib):
    return lib.Sequential([lib.Input((4, 3)), lib.layers.LSTM(5, name="lstm"), lib.layers.Dense(2, name="out")])


def test_weighted_mean_matches_numpy_reference():
    model = _sequential(pyrnn)
    model.compile("sgd", "mse", metrics=["mae"], weighted_metrics=["mae", "mse"])
    result = model.evaluate(X, Y, sample_weight=SW, batch_size=3, return_dict=True, verbose=0)
    err = model.predict(X, verbose=0) - Y
    mae, mse = np.abs(err).mean(axis=1), (err ** 2).mean(axis=1)
    assert result["mae"] == pytest.approx(mae.mean(), rel=1e-6)
    assert result["weighted_mae"] == pytest.approx((mae * SW).sum() / SW.sum(), rel=1e-6)
    assert result["mse"] == pytest.approx((mse * SW).sum() / SW.sum(), rel=1e-6)  # no clash: plain name
    # without sample weights a weighted metric is the plain mean
    plain = model.evaluate(X, Y, batch_size=3, return_dict=True, verbose=0)
    assert plain["weighted_mae"] == pytest.approx(plain["mae"], rel=1e-12)


def test_temporal_sample_weights_weight_each_step():
    inp = pyrnn.Input((4, 3))
    model = pyrnn.Model(inp, L.Dense(2, name="d")(L.LSTM(5, return_sequences=True)(inp)))
    model.compile("sgd", "mse", weighted_metrics=["mae"])
    y = RNG.random((10, 4, 2)).astype(np.float32)
    sw = RNG.random((10, 4))
    got = model.evaluate(X, y, sample_weight=sw, batch_size=4, return_dict=True, verbose=0)["mae"]
    per_step = np.abs(model.predict(X, verbose=0) - y).mean(axis=-1)  # (batch, steps)
    assert got == pytest.approx((per_step * sw).mean(axis=1).sum() / sw.mean(axis=1).sum(), rel=1e-6)


def test_class_weight_feeds_weighted_metrics():
    model = _sequential(pyrnn)
    model.compile("sgd", "mse", weighted_metrics=["mae"])
    labels = (Y[:, 0] > 0.5).astype(np.float32)
    y = np.stack([labels, 1 - labels], 1)
    hist = model.fit(X, y, batch_size=10, epochs=1, shuffle=False, verbose=0, class_weight={0: 2.0, 1: 0.5})
    assert "mae" in hist.history


def test_multi_output_dict_and_list_forms_agree():
    model = _two_outputs(pyrnn)
    model.compile("sgd", ["mse", "binary_crossentropy"], weighted_metrics={"a": ["mae"]})
    d = model.evaluate(X, [Y, Y2], sample_weight=SW, return_dict=True, verbose=0)
    model.compile("sgd", ["mse", "binary_crossentropy"], weighted_metrics=[["mae"], []])
    lst = model.evaluate(X, [Y, Y2], sample_weight=SW, return_dict=True, verbose=0)
    assert d == lst and "a_mae" in d and not any(k.startswith("b_") and k != "b_loss" for k in d)


def test_unknown_output_is_a_clear_error():
    model = _two_outputs(pyrnn)
    with pytest.raises(ValueError, match=r"weighted_metrics names unknown output\(s\) \['c'\]"):
        model.compile("sgd", "mse", weighted_metrics={"c": ["mae"]})
    with pytest.raises(ValueError, match="weighted_metrics has 3 entries, the model has 2 outputs"):
        model.compile("sgd", "mse", weighted_metrics=[["mae"], ["mae"], ["mae"]])


def test_save_and_load_keep_weighted_metrics(tmp_path):
    model = _sequential(pyrnn)
    model.compile("sgd", "mse", metrics=["mae"], weighted_metrics=["mae"])
    model.save(tmp_path / "m.safetensors")
    again = pyrnn.models.load_model(tmp_path / "m.safetensors")
    want = model.evaluate(X, Y, sample_weight=SW, return_dict=True, verbose=0)
    assert again.evaluate(X, Y, sample_weight=SW, return_dict=True, verbose=0) == pytest.approx(want)
    assert "weighted_mae" in want


# ---------------------------------------------------------------------- Keras 3 on the same weights
def _pair(keras, make):
    keras.utils.set_random_seed(0)
    theirs, mine = make(keras), make(pyrnn)
    for layer in theirs.layers:
        if layer.get_weights():
            mine.get_layer(layer.name).set_weights([np.asarray(w) for w in layer.get_weights()])
    return theirs, mine


def _close(mine, theirs):
    assert sorted(mine) == sorted(theirs)
    for k in theirs:
        assert np.asarray(mine[k]) == pytest.approx(np.asarray(theirs[k]), rel=2e-5, abs=1e-6), k


def test_multi_output_evaluate_equals_keras(keras):
    theirs, mine = _pair(keras, _two_outputs)
    for m in (theirs, mine):
        m.compile("sgd", ["mse", "binary_crossentropy"], metrics={"a": ["mae"], "b": ["accuracy"]},
                  weighted_metrics={"a": ["mae", "mse"], "b": ["accuracy"]})
    args = dict(sample_weight=SW, batch_size=4, return_dict=True, verbose=0)
    _close(mine.evaluate(X, [Y, Y2], **args), theirs.evaluate(X, [Y, Y2], **args))


def test_fit_history_equals_keras(keras):
    theirs, mine = _pair(keras, _sequential)
    for m in (theirs, mine):
        m.compile(m is theirs and keras.optimizers.SGD(0.1) or pyrnn.optimizers.SGD(0.1), "mse",
                  metrics=["mae"], weighted_metrics=["mae", "mse"])
    val = (X[:4], Y[:4], SW[:4])
    args = dict(sample_weight=SW, batch_size=5, epochs=2, shuffle=False, verbose=0, validation_data=val)
    h_theirs, h_mine = theirs.fit(X, Y, **args).history, mine.fit(X, Y, **args).history
    assert sorted(h_mine) == sorted(h_theirs)
    for k in h_theirs:
        np.testing.assert_allclose(h_mine[k], h_theirs[k], rtol=5e-5, err_msg=k)
