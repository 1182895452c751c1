"""Subclassed models: ``class M(pyrnn.Model)`` with layers built in ``__init__`` and composed in
``call``, traced once on symbolic inputs into the recorded graph. They train, evaluate and
predict as the functional model of the same layers does, their gradients agree with central
differences, their weights save and load, what cannot be traced (arithmetic on symbolic
tensors, ``if training:``, NumPy functions, a non-tensor output) is a clear error, and they
train as Keras 3's subclassed model on the same weights."""

import numpy as np
import pytest

import pyrnn
from pyrnn import layers as L
from test_functional_gradients import _check
from test_nested_models import train_like_keras

F64 = "float64"
RNG = np.random.default_rng(11)


def _classes(lib, dtype=None):
    kw = {} if dtype is None else {"dtype": dtype}

    class Forecaster(lib.Model):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.lstm = lib.layers.LSTM(units, return_sequences=True, name="lstm", **kw)
            self.gru = lib.layers.GRU(units, name="gru", **kw)
            self.drop = lib.layers.Dropout(0.0, name="drop", **kw)
            self.head = lib.layers.Dense(2, name="head", **kw)

        def call(self, inputs, training=None):
            h = self.lstm(inputs)
            return self.head(self.drop(self.gru(h), training=training))

    class TwoInputs(lib.Model):
        """Shared recurrent layer, merges, initial_state from another input's encoder."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.enc = lib.layers.LSTM(3, return_state=True, name="enc", **kw)
            self.dec = lib.layers.LSTM(3, return_sequences=True, name="dec", **kw)
            self.shared = lib.layers.Dense(3, name="shared", **kw)
            self.out = lib.layers.Dense(1, name="out", **kw)

        def call(self, inputs, training=None):
            a, b = inputs
            _, h, c = self.enc(a)
            seq = self.dec(b, initial_state=[h, c])
            merged = lib.layers.Add(name="add")([self.shared(seq), self.shared(b)])
            return self.out(lib.layers.GlobalAveragePooling1D(name="pool")(merged))

    return Forecaster, TwoInputs


def _data(n=6, dtype=np.float32):
    return RNG.random((n, 5, 3)).astype(dtype), RNG.random((n, 2)).astype(dtype)


def test_equals_the_functional_model_of_the_same_layers():
    Forecaster, _ = _classes(pyrnn)
    model = Forecaster()
    x, y = _data()
    model.compile(pyrnn.optimizers.SGD(0.1), "mse", metrics=["mae"])
    inp = pyrnn.Input((5, 3))
    assert [l.name for l in model.layers] == ["lstm", "gru", "drop", "head"]  # __init__'s order, before a call
    functional = pyrnn.Model(inp, model.head(model.drop(model.gru(model.lstm(inp)))))
    functional.compile(pyrnn.optimizers.SGD(0.1), "mse", metrics=["mae"])
    np.testing.assert_array_equal(model.predict(x, verbose=0), functional.predict(x, verbose=0))
    np.testing.assert_array_equal(model(x), functional.predict(x, verbose=0))
    _, g1 = model.compute_gradients(x, y)
    _, g2 = functional.compute_gradients(x, y)
    for a, b in zip(g1, g2):
        np.testing.assert_array_equal(a, b)
    h = model.fit(x, y, epochs=2, batch_size=3, shuffle=False, verbose=0).history
    assert h["loss"][1] < h["loss"][0] and set(h) == {"loss", "mae"}
    assert model.evaluate(x, y, verbose=0)[0] == pytest.approx(functional.evaluate(x, y, verbose=0)[0])


def test_gradients_by_central_differences():
    _, TwoInputs = _classes(pyrnn, F64)
    a, b = RNG.random((3, 4, 2)), RNG.random((3, 5, 3))
    _check(TwoInputs(), [a, b], RNG.random((3, 1)))


def test_compile_before_the_first_call_and_retrace_on_new_lengths():
    Forecaster, _ = _classes(pyrnn)
    model = Forecaster()
    model.compile("adam", "mse")  # before the outputs are known
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    weights = model.get_weights()
    longer = RNG.random((4, 9, 3)).astype(np.float32)
    out = model.predict(longer, verbose=0)  # traced again for 9 steps, the same layers
    assert out.shape == (4, 2)
    for w, v in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(w, v)
    model.fit(longer, y[:4], epochs=1, verbose=0)


def test_save_weights_and_load_weights(tmp_path):
    Forecaster, _ = _classes(pyrnn)
    model = Forecaster()
    x, y = _data()
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.safetensors")
    fresh = Forecaster()
    with pytest.raises(ValueError, match="Forecaster has no weights yet: call it on data .* or model.build"):
        fresh.load_weights(tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match=r"Forecaster is not built yet: .* before summary\(\)"):
        fresh.summary()
    fresh.build((None, 5, 3))
    fresh.load_weights(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(NotImplementedError, match="subclassed model: define get_config .* save_weights"):
        model.save(tmp_path / "m.safetensors")


def test_a_subclassed_model_inside_a_functional_model():
    Forecaster, _ = _classes(pyrnn, F64)
    inner = Forecaster(name="inner")
    inp = pyrnn.Input((5, 3), dtype=F64)
    model = pyrnn.Model(inp, L.Dense(1, dtype=F64, seed=0)(inner(L.Dense(3, dtype=F64, seed=1)(inp))))
    assert model.get_layer("inner") is inner
    _check(model, RNG.random((3, 5, 3)), RNG.random((3, 1)))


def _subclass(body, name="Bad"):
    def __init__(self):
        pyrnn.Model.__init__(self)
        self.d = L.Dense(2)
        self.gru = L.GRU(2)

    return type(name, (pyrnn.Model,), {"__init__": __init__, "call": body})


@pytest.mark.parametrize("body, message", [
    (lambda self, x, training=None: self.d(x) * 2, r"`\*` on <KerasTensor .* use keras.layers.Multiply"),
    (lambda self, x, training=None: self.d(x) + self.d(x), r"`\+` on .* use keras.layers.Add"),
    (lambda self, x, training=None: self.d(x)[:, 0], "indexing on .* cannot be traced"),
    (lambda self, x, training=None: np.tanh(self.d(x)), "numpy.tanh on .* keras.layers.Activation"),
    (lambda self, x, training=None: np.concatenate([self.d(x), x]), "numpy.concatenate on .* cannot be traced"),
    (lambda self, x, training=None: self.d(x) if self.d(x) > 0 else x, "a comparison on .* cannot be traced"),
    (lambda self, x, training=None: self.gru(self.d(x)) if training else x, "`if training:` .* pass training=training"),
    (lambda self, x, training=None: np.zeros((2, 2)), "Bad.call returned a ndarray: outputs must be KerasTensors"),
    (lambda self, x, training=None: self.d(np.ones((2, 3), np.float32)),
     "Bad.call returned a ndarray: outputs must be KerasTensors"),
])
def test_what_cannot_be_traced_is_a_clear_error(body, message):
    model = _subclass(body)()
    with pytest.raises(TypeError, match=message):
        model.predict(RNG.random((2, 4, 3)).astype(np.float32), verbose=0)


def test_data_dependent_truth_and_missing_super_init():
    model = _subclass(lambda self, x, training=None: self.d(x) if self.d(x) else x)()
    with pytest.raises(TypeError, match="data-dependent control flow .* compute every branch with layers"):
        model(RNG.random((2, 4, 3)))

    class NoSuper(pyrnn.Model):
        def __init__(self):
            self.d = L.Dense(2)

        def call(self, x, training=None):
            return self.d(x)

    with pytest.raises(TypeError, match=r"NoSuper: call super\(\).__init__\(\) at the start of __init__"):
        NoSuper()
    with pytest.raises(TypeError, match="or subclass Model and define call"):
        pyrnn.Model()


# ---------------------------------------------------------------------- Keras 3 on the same weights
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_trains_as_keras_subclassed_model(keras):
    keras.utils.set_random_seed(4)
    _, KTwo = _classes(keras)
    _, PTwo = _classes(pyrnn)
    xs, y = [RNG.random((6, 4, 2)).astype(np.float32), RNG.random((6, 5, 3)).astype(np.float32)], \
        RNG.random((6, 1)).astype(np.float32)
    theirs, mine = KTwo(), PTwo()
    theirs(xs)  # build
    mine.build([(None, 4, 2), (None, 5, 3)])
    train_like_keras(keras, theirs, mine, xs, y, lr=0.02)  # weights in the same order: __init__'s


def test_a_model_that_needs_exact_shapes_and_one_of_token_ids():
    class Flat(pyrnn.Model):
        def __init__(self):
            super().__init__()
            self.rnn, self.flat, self.d = L.SimpleRNN(3, return_sequences=True), L.Flatten(), L.Dense(1)

        def call(self, x, training=None):
            return self.d(self.flat(self.rnn(x)))

    model = Flat()
    x = RNG.random((4, 5, 2)).astype(np.float32)
    out = model.predict(x, verbose=0)  # Flatten -> Dense needs 5 steps: traced with them
    assert model.inputs[0].shape == (None, 5, 2)
    with pytest.raises(ValueError, match=r"Layer 'dense.*' \(Dense\) cannot take the output of layer 'flatten.*' "
                                         r"\(Flatten\), shape \(None, 21\).*expected shape \(None, 15\)"):
        model.predict(RNG.random((2, 7, 2)), verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), out)  # the graph it had

    class Tokens(pyrnn.Model):
        def __init__(self):
            super().__init__()
            self.emb, self.gru, self.d = L.Embedding(10, 4, mask_zero=True), L.GRU(3), L.Dense(2)

        def call(self, ids, training=None):
            return self.d(self.gru(self.emb(ids)))

    tokens = Tokens()
    tokens.compile("adam", "mse")
    tokens.fit(np.array([[1, 2, 0], [3, 0, 0]]), np.zeros((2, 2)), epochs=1, verbose=0)
    assert tokens.inputs[0].dtype.kind == "i"
    # any length: padding at the end (masked) changes nothing
    np.testing.assert_allclose(tokens.predict(np.array([[1, 2, 0, 0, 0]]), verbose=0),
                               tokens.predict(np.array([[1, 2]]), verbose=0), rtol=1e-6)
