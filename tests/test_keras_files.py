"""Keras 3's files both ways: ``.keras`` (zip of config.json, metadata.json, model.weights.h5)
and ``.weights.h5`` written by pyrnn load in Keras 3 and predict the same; Keras's load in
pyrnn; pyrnn's ``.safetensors``; and every truncated, garbage, wrong-format or mismatched file
is a ValueError/OSError naming the path. The Keras parity tests skip without Keras."""

import json
import zipfile

import numpy as np
import pytest

from pyrnn import callbacks
from pyrnn import layers as L
from pyrnn.models import Model, Sequential, from_keras, load_model
from pyrnn.models import _keras as keras_layout

RNG = np.random.default_rng(7)
X = RNG.random((4, 6, 3)).astype(np.float32)
TOKENS = RNG.integers(1, 10, (4, 6))


def _sequential(seed=0, dropout=0.2):
    return Sequential([L.Input((6, 3)), L.Masking(), L.Bidirectional(L.LSTM(4, return_sequences=True)),
                       L.GRU(3, go_backwards=True, return_sequences=True), L.TimeDistributed(L.Dense(2)),
                       L.SimpleRNN(2), L.Dropout(dropout), L.Dense(1)], seed=seed)


def _functional():
    a, t = L.Input((6, 3), name="a"), L.Input((6,), name="tok")
    e = L.Embedding(10, 3, mask_zero=True)(t)
    x = L.Add()([L.TimeDistributed(L.Dense(3))(a), e])
    x = L.LayerNormalization()(x)
    seq, h, c = L.LSTM(4, return_sequences=True, return_state=True)(x)
    y = L.LSTM(4, return_sequences=True)(seq, initial_state=[h, c])
    z = L.GRU(4)(L.Concatenate()([y, seq]))
    w = L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2)]))(seq)
    return Model([a, t], [L.Dense(1)(z), L.Dense(2, activation="softmax")(w)])


# ------------------------------------------------------------------------------- pyrnn alone
@pytest.mark.parametrize("make,x", [(_sequential, X), (_functional, [X, TOKENS])])
def test_keras_file_round_trip_in_pyrnn(tmp_path, make, x):
    model = make()
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        assert {"config.json", "metadata.json", "model.weights.h5"} <= set(zf.namelist())
        config = json.loads(zf.read("config.json"))
    assert config["class_name"] == ("Sequential" if isinstance(model, Sequential) else "Functional")
    again = load_model(path)
    for a, b in zip(_as_list(again.predict(x, verbose=0)), _as_list(model.predict(x, verbose=0))):
        np.testing.assert_array_equal(a, b)
    other = make()
    other.load_weights(path)  # the weights of a .keras file, as Keras's load_weights takes them
    model.save_weights(tmp_path / "w.weights.h5")
    third = make()
    third.load_weights(tmp_path / "w.weights.h5")
    for a, b, c in zip(other.get_weights(), third.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, c)


def _as_list(y):
    return y if isinstance(y, list) else [y]


def test_functional_compile_config_round_trips(tmp_path):
    model = _functional()
    model.compile(optimizer="rmsprop", loss=["mse", "categorical_crossentropy"], loss_weights=[0.3, 1.0],
                  metrics=[["mae"], ["accuracy"]])
    ys = [RNG.random((4, 1)).astype(np.float32), np.eye(2, dtype=np.float32)[RNG.integers(0, 2, 4)]]
    model.fit([X, TOKENS], ys, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    assert again.evaluate([X, TOKENS], ys, verbose=0) == model.evaluate([X, TOKENS], ys, verbose=0)
    assert again.train_on_batch([X, TOKENS], ys) == model.train_on_batch([X, TOKENS], ys)


def test_keras_config_errors_name_the_file(tmp_path, keras):
    kmodel = keras.Sequential([keras.Input((6, 3)), keras.layers.Conv1D(2, 2)])
    kmodel.save(tmp_path / "conv.keras")
    with pytest.raises(ValueError, match=r"conv.keras'?: Keras layer class 'Conv1D' .*not supported"):
        load_model(tmp_path / "conv.keras")
    with zipfile.ZipFile(tmp_path / "conv.keras") as zf:
        config = json.loads(zf.read("config.json"))
        weights = zf.read("model.weights.h5")
    del config["config"]["layers"]
    with zipfile.ZipFile(tmp_path / "cut.keras", "w") as zf:
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", weights)
    with pytest.raises(ValueError, match=r"cut.keras'?: the Keras model config is malformed \(no 'layers'\)"):
        load_model(tmp_path / "cut.keras")


def test_compiled_keras_file_resumes_training_exactly(tmp_path):
    """Optimizer state (pyrnn's member of the zip) and compile arguments come back: training
    after loading equals training on."""
    y = RNG.random((4, 1)).astype(np.float32)
    model = _sequential(seed=3, dropout=0.0)  # no random draws in training: the RNG state is not saved
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(X, y, epochs=2, batch_size=2, verbose=0, shuffle=False)
    model.save(tmp_path / "m.keras")
    again = load_model(tmp_path / "m.keras")
    assert again.optimizer.iterations == model.optimizer.iterations == 4
    model.fit(X, y, epochs=1, batch_size=2, verbose=0, shuffle=False)
    again.fit(X, y, epochs=1, batch_size=2, verbose=0, shuffle=False)
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert load_model(tmp_path / "m.keras", compile=False).compiled is False


# ------------------------------------------------------------------------------- bad files
def _saved(tmp_path):
    model = Sequential([L.Input((6, 3)), L.LSTM(4), L.Dense(1)])
    model.compile("adam", "mse")
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    model.save_weights(tmp_path / "m.safetensors")
    return model


@pytest.mark.parametrize("name", ["m.keras", "m.weights.h5", "m.safetensors"])
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_files_name_path_and_format(tmp_path, name, damage):
    model = _saved(tmp_path)
    path = tmp_path / name
    data = path.read_bytes()
    path.write_bytes({"truncated": data[:len(data) // 2], "garbage": b"not a model file at all " * 8,
                      "empty": b""}[damage])
    before = model.get_weights()
    load = (lambda: load_model(path)) if name != "m.weights.h5" else (lambda: model.load_weights(path))
    with pytest.raises(ValueError, match=rf"{name}'?: expected .*(Keras 3|safetensors).*, found"):
        load()
    if name != "m.keras":
        with pytest.raises(ValueError, match=name):
            model.load_weights(path)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_wrong_format_under_an_extension(tmp_path):
    model = _saved(tmp_path)
    (tmp_path / "h5.keras").write_bytes((tmp_path / "m.weights.h5").read_bytes())
    with pytest.raises(ValueError, match=r"h5.keras'?: expected a Keras 3 .keras zip archive, found an HDF5 file"):
        load_model(tmp_path / "h5.keras")
    (tmp_path / "zip.weights.h5").write_bytes((tmp_path / "m.keras").read_bytes())
    with pytest.raises(ValueError, match=r"zip.weights.h5'?: expected a Keras 3 .weights.h5 HDF5 file, found a zip"):
        model.load_weights(tmp_path / "zip.weights.h5")
    # a .keras file older pyrnn versions wrote (safetensors inside): say how to convert
    (tmp_path / "old.keras").write_bytes((tmp_path / "m.safetensors").read_bytes())
    with pytest.raises(ValueError, match="found a safetensors file.*rename it to '.safetensors'"):
        load_model(tmp_path / "old.keras")
    with pytest.raises(ValueError, match="a weights file: use load_weights"):
        load_model(tmp_path / "m.safetensors")
    with zipfile.ZipFile(tmp_path / "nocfg.keras", "w") as zf:
        zf.writestr("model.weights.h5", (tmp_path / "m.weights.h5").read_bytes())
    with pytest.raises(ValueError, match=r"nocfg.keras'?: expected .* with config.json .*found a zip archive of"):
        load_model(tmp_path / "nocfg.keras")
    with zipfile.ZipFile(tmp_path / "badjson.keras", "w") as zf:
        zf.writestr("config.json", "{not json")
        zf.writestr("model.weights.h5", (tmp_path / "m.weights.h5").read_bytes())
    with pytest.raises(ValueError, match="badjson.keras'?: expected .* is not JSON"):
        load_model(tmp_path / "badjson.keras")
    with pytest.raises(FileNotFoundError, match="absent.keras"):
        load_model(tmp_path / "absent.keras")


@pytest.mark.parametrize("call", ["save", "save_weights", "load_weights", "load_model"])
def test_unknown_extension_names_path_and_supported(tmp_path, call):
    model = _saved(tmp_path)
    path = tmp_path / "m.pyrnn"
    path.write_bytes(b"x")
    run = {"save": lambda: model.save(path), "save_weights": lambda: model.save_weights(path),
           "load_weights": lambda: model.load_weights(path), "load_model": lambda: load_model(path)}[call]
    with pytest.raises(ValueError, match=rf"{call}: '.*m.pyrnn' has an unsupported extension; expected one of "
                                         r"\.(keras|weights\.h5)"):
        run()


def test_mismatched_weights_name_layer_and_shapes(tmp_path):
    _saved(tmp_path)
    wider = Sequential([L.Input((6, 3)), L.LSTM(5), L.Dense(1)])
    before = wider.get_weights()
    for name in ("m.weights.h5", "m.keras"):
        with pytest.raises(ValueError, match=rf"{name}'?: layer 'lstm\w*' \(LSTM, Keras group 'layers/lstm'\) "
                                             r"expects weights of shapes \[\(3, 20\), \(5, 20\), \(20,\)\] at "
                                             r"'cell', the file has \[\(3, 16\), \(4, 16\), \(16,\)\]"):
            wider.load_weights(tmp_path / name)
    with pytest.raises(ValueError, match=r"m.safetensors'?: layer 'lstm\w*' expects weights of shapes "
                                         r"\[\(3, 20\), \(5, 20\), \(20,\)\], the file has \[\(3, 16\), \(4, 16\)"):
        wider.load_weights(tmp_path / "m.safetensors")
    assert all(np.array_equal(a, b) for a, b in zip(wider.get_weights(), before))
    extra = Sequential([L.Input((6, 3)), L.LSTM(4)])
    with pytest.raises(ValueError, match=r"layers the model does not have: \['dense'\]"):
        extra.load_weights(tmp_path / "m.weights.h5")


def test_save_overwrite_false_and_atomic(tmp_path, monkeypatch):
    model = _saved(tmp_path)
    with pytest.raises(FileExistsError, match="m.keras"):
        model.save(tmp_path / "m.keras", overwrite=False)
    good = (tmp_path / "m.keras").read_bytes()

    def crash(*args, **kwargs):
        raise RuntimeError("killed while writing")
    monkeypatch.setattr(zipfile.ZipFile, "writestr", crash)
    with pytest.raises(RuntimeError):
        model.save(tmp_path / "m.keras")
    assert (tmp_path / "m.keras").read_bytes() == good  # the previous file is whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "m.safetensors", "m.weights.h5"]


# ------------------------------------------------------------------------------- Keras 3 parity
def _keras_sequential(keras):
    K = keras.layers  # Dropout at rate 0: the training steps of both must draw nothing to compare
    return keras.Sequential([keras.Input((6, 3)), K.Masking(), K.Bidirectional(K.LSTM(4, return_sequences=True)),
                             K.GRU(3, go_backwards=True, return_sequences=True), K.TimeDistributed(K.Dense(2)),
                             K.SimpleRNN(2), K.Dropout(0.0), K.Dense(1)])


def _keras_functional(keras):
    K = keras.layers
    a, t = keras.Input((6, 3), name="a"), keras.Input((6,), name="tok")
    e = K.Embedding(10, 3, mask_zero=True)(t)
    x = K.Add()([K.TimeDistributed(K.Dense(3))(a), e])
    x = K.BatchNormalization()(K.LayerNormalization()(x))
    seq, h, c = K.LSTM(4, return_sequences=True, return_state=True)(x)
    y = K.LSTM(4, return_sequences=True)(seq, initial_state=[h, c])
    z = K.GRU(4, reset_after=False)(K.Concatenate()([y, K.Attention()([y, seq])]))
    w = K.RNN(K.StackedRNNCells([K.LSTMCell(3), K.GRUCell(2)]))(K.AdditiveAttention()([seq, y]))
    v = K.Bidirectional(K.SimpleRNN(2), merge_mode="sum")(seq)
    return keras.Model([a, t], [K.Dense(1)(z), K.Dense(2, activation="softmax")(w), v])


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_keras_files_load_in_pyrnn_and_back(keras, tmp_path, kind):
    kmodel = _keras_sequential(keras) if kind == "sequential" else _keras_functional(keras)
    x = X if kind == "sequential" else [X, TOKENS]
    kmodel.compile(optimizer="adam", loss="mse")
    ys = [np.zeros(s, np.float32) for s in _output_shapes(kmodel)]
    kmodel.fit(x, ys, epochs=2, batch_size=2, verbose=0, shuffle=False)  # Adam's slots are not zeros
    path = tmp_path / "k.keras"
    kmodel.save(path)
    model = load_model(path)
    want = _as_list(kmodel.predict(x, verbose=0))
    for a, b in zip(_as_list(model.predict(x, verbose=0)), want):
        np.testing.assert_allclose(a, b, atol=2e-6)
    # pyrnn's Keras layer order (which names the weight groups) is Keras's own
    assert [l.name for l in keras_layout.keras_layer_order(model)] == [l.name for l in kmodel.layers]
    # and back: pyrnn's file in Keras, pyrnn's .weights.h5 into the Keras model
    model.save(tmp_path / "p.keras")
    again = keras.saving.load_model(tmp_path / "p.keras")
    for a, b in zip(_as_list(again.predict(x, verbose=0)), want):
        np.testing.assert_allclose(a, b, atol=2e-6)
    fresh = _keras_sequential(keras) if kind == "sequential" else _keras_functional(keras)
    model.save_weights(tmp_path / "p.weights.h5")
    fresh.load_weights(tmp_path / "p.weights.h5")
    for a, b in zip(_as_list(fresh.predict(x, verbose=0)), want):
        np.testing.assert_allclose(a, b, atol=2e-6)
    kmodel.save_weights(tmp_path / "k.weights.h5")
    model2 = from_keras(fresh)
    model2.load_weights(tmp_path / "k.weights.h5")
    for a, b in zip(_as_list(model2.predict(x, verbose=0)), want):
        np.testing.assert_allclose(a, b, atol=2e-6)
    # the optimizer state crossed in Keras's layout: one more step moves both models alike
    assert model.optimizer.iterations == int(kmodel.optimizer.iterations) == 4
    def weights(m):  # layer by layer by name: the two models may list their layers in other orders
        layers = {l.name: l for l in m.layers}
        return [w for layer in model.layers for w in layers[layer.name].get_weights()]
    before = weights(model)
    kmodel.train_on_batch(x, ys)
    model.train_on_batch(x, ys)
    steps_p = [a - w0 for w0, a in zip(before, weights(model))]
    steps_k = [b - w0 for w0, b in zip(before, weights(kmodel))]
    largest = max(np.abs(s).max() for s in steps_k)  # Adam's step, m / sqrt(v), depends on the restored slots
    for sp, sk in zip(steps_p, steps_k):  # (fresh slots would make every step about lr = 1e-3)
        assert np.abs(sp - sk).max() <= 0.05 * largest
    # and back to Keras in Keras's layout
    model.save(tmp_path / "p2.keras")
    again = keras.saving.load_model(tmp_path / "p2.keras")
    for a, b in zip(again.optimizer.variables, kmodel.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=2e-5, rtol=1e-4)


def _output_shapes(kmodel):
    return [(4,) + tuple(o.shape[1:]) for o in kmodel.outputs]


def test_pyrnn_models_load_in_keras(keras, tmp_path):
    for make, x in ((_sequential, X), (_functional, [X, TOKENS])):
        model = make()
        model.compile(optimizer="rmsprop", loss="mse")
        model.save(tmp_path / "m.keras")
        kmodel = keras.saving.load_model(tmp_path / "m.keras")
        for a, b in zip(_as_list(kmodel.predict(x, verbose=0)), _as_list(model.predict(x, verbose=0))):
            np.testing.assert_allclose(a, b, atol=2e-6)
        assert type(kmodel.optimizer).__name__ == "RMSprop"  # compile config: Keras compiles as pyrnn did
        assert [type(l).__name__ for l in _as_list(kmodel.loss)] == ["MeanSquaredError"] * len(_as_list(x))


def test_from_keras_functional_is_the_loader_path(keras):
    kmodel = _keras_functional(keras)
    model = from_keras(kmodel)
    for a, b in zip(_as_list(model.predict([X, TOKENS], verbose=0)), _as_list(kmodel.predict([X, TOKENS],
                                                                                            verbose=0))):
        np.testing.assert_allclose(a, b, atol=2e-6)


def test_model_checkpoint_writes_keras_files(tmp_path):
    model = Sequential([L.Input((6, 3)), L.GRU(2), L.Dense(1)])
    model.compile("sgd", "mse")
    cbs = [callbacks.ModelCheckpoint(str(tmp_path / "w-{epoch}.weights.h5"), monitor="loss"),
           callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch}.keras"), monitor="loss")]
    model.fit(X, np.zeros((4, 1)), epochs=2, verbose=0, callbacks=cbs)
    assert (tmp_path / "w-2.weights.h5").read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"
    assert zipfile.is_zipfile(tmp_path / "m-2.keras")
    again = Sequential([L.Input((6, 3)), L.GRU(2), L.Dense(1)])
    again.load_weights(tmp_path / "w-2.weights.h5")
    np.testing.assert_array_equal(again.predict(X, verbose=0), load_model(tmp_path / "m-2.keras").predict(X, verbose=0))
