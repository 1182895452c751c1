"""Masks through pooling and reshaping as Keras 3 handles them (GlobalAveragePooling1D averages
the kept steps, NaN where none is kept; GlobalMaxPooling1D, Flatten and Reshape ignore and drop
the mask), against a NumPy reference and Keras 3 on the same weights; and the errors a graph or
its data gives before anything runs."""

import numpy as np
import pytest

import pyrnn
from pyrnn import layers as L

RNG = np.random.default_rng(21)
IDS = np.array([[3, 1, 0, 0], [2, 5, 4, 0], [0, 0, 0, 0], [1, 2, 3, 4]])


def _pooled(lib, pool):
    ids = lib.Input((4,), dtype="int32", name="ids")
    emb = lib.layers.Embedding(6, 3, mask_zero=True, name="emb")(ids)
    return lib.Model(ids, pool(lib)(emb))


POOLS = {
    "avg": lambda lib: lib.layers.GlobalAveragePooling1D(),
    "avg_keepdims": lambda lib: lib.layers.GlobalAveragePooling1D(keepdims=True),
    "max": lambda lib: lib.layers.GlobalMaxPooling1D(),
    "flatten": lambda lib: lib.layers.Flatten(),
    "reshape": lambda lib: lib.layers.Reshape((12,)),
}


def test_average_pooling_is_the_mean_of_the_kept_steps():
    model = _pooled(pyrnn, POOLS["avg"])
    table = model.get_layer("emb").get_weights()[0]
    with np.errstate(invalid="ignore"):
        want = np.array([table[r[r > 0]].mean(axis=0) if (r > 0).any() else np.full(3, np.nan) for r in IDS])
    got = model.predict(IDS, verbose=0)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.isnan(got[2]).all()  # no kept step: 0 / 0, as Keras


def test_average_pooling_never_reads_masked_values():
    x = pyrnn.Input((4, 2))
    m = pyrnn.Input((4,), dtype="bool")
    model = pyrnn.Model([x, m], L.GlobalAveragePooling1D()(x, mask=m))
    xs = RNG.random((2, 4, 2)).astype(np.float32)
    mask = np.array([[True, True, False, False], [True, False, True, True]])
    xs[~mask] = np.nan
    np.testing.assert_allclose(model.predict([xs, mask], verbose=0),
                               np.stack([xs[0, :2].mean(0), xs[1, [0, 2, 3]].mean(0)]), rtol=1e-6)


@pytest.mark.parametrize("kind", ["max", "flatten", "reshape"])
def test_max_pooling_flatten_and_reshape_ignore_and_drop_the_mask(kind):
    model = _pooled(pyrnn, POOLS[kind])
    emb = model.get_layer("emb").get_weights()[0][IDS]  # every step, padded ones too
    want = {"max": emb.max(axis=1), "flatten": emb.reshape(4, -1), "reshape": emb.reshape(4, 12)}[kind]
    np.testing.assert_allclose(model.predict(IDS, verbose=0), want, rtol=1e-6)
    layer = model.layers[-1]
    assert layer.compute_mask(emb, IDS > 0) is None  # nothing downstream is masked


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
@pytest.mark.parametrize("kind", sorted(POOLS))
def test_masked_pooling_and_reshaping_equal_keras(keras, kind):
    theirs, mine = _pooled(keras, POOLS[kind]), _pooled(pyrnn, POOLS[kind])
    mine.get_layer("emb").set_weights([np.asarray(w) for w in theirs.get_layer("emb").get_weights()])
    want = np.asarray(theirs.predict(IDS, verbose=0))
    got = mine.predict(IDS, verbose=0)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_masked_average_pooling_gradient_skips_padded_steps():
    # a recurrent layer's masked output steps get no gradient through the pooling
    x = pyrnn.Input((4, 2), dtype="float64")
    m = pyrnn.Input((4,), dtype="bool")
    h = L.SimpleRNN(3, return_sequences=True, dtype="float64", seed=0)(x, mask=m)
    model = pyrnn.Model([x, m], L.Dense(1, dtype="float64", seed=1)(L.GlobalAveragePooling1D()(h, mask=m)))
    xs, mask = RNG.random((3, 4, 2)), np.array([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], bool)
    model.compile("sgd", "mse")
    y = RNG.random((3, 1))
    _, g = model.compute_gradients([xs, mask], y)
    xs2 = xs.copy()
    xs2[~mask] = 5.0  # padded values change nothing, not even the gradients
    _, g2 = model.compute_gradients([xs2, mask], y)
    for a, b in zip(g, g2):
        np.testing.assert_allclose(a, b, rtol=1e-12)


# ---------------------------------------------------------------------- errors at construction
def test_graph_and_data_errors_name_what_is_wrong():
    a, b = pyrnn.Input((5, 3), name="a"), pyrnn.Input((5, 3), name="b")
    out1 = L.Dense(2, name="o1")(L.GRU(4, name="g1")(a))
    out2 = L.Dense(1, name="o2")(L.GRU(4, name="g2")(b))
    with pytest.raises(ValueError, match=r"output 'o2' is not connected to the inputs \['a'\].*'b'"):
        pyrnn.Model(a, [out1, out2])
    with pytest.raises(ValueError, match="output 'b' is an Input that is not among the model's inputs"):
        pyrnn.Model(a, b)
    with pytest.raises(TypeError, match="Model: outputs are a ndarray: outputs must be KerasTensors"):
        pyrnn.Model(a, np.zeros(3))
    with pytest.raises(ValueError, match=r"layer names must be unique, \['same'\]"):
        pyrnn.Model(a, L.Dense(1, name="same")(L.Dense(2, name="same")(a)))
    with pytest.raises(ValueError, match=r"Layer 'd3' \(Dense\) cannot take .*'a'.*initial_state is only taken by "
                                         "recurrent layers"):
        L.Dense(3, name="d3")(a, initial_state=[out1])
    with pytest.raises(ValueError, match=r"Layer 'cat' \(Concatenate\) cannot take the output of layer 'o1' "
                                         r"\(Dense\), shape \(None, 2\); the output of layer 'g3' \(GRU\), "
                                         r"shape \(None, 4\)"):
        L.Concatenate(axis=0, name="cat")([out1, L.GRU(4, name="g3")(b)])
    model = pyrnn.Model([a, b], [out1, out2])
    model.compile("sgd", "mse")
    x = RNG.random((2, 5, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"x: the model has 2 inputs \['a', 'b'\], got 3 arrays"):
        model.predict([x, x, x], verbose=0)
    with pytest.raises(ValueError, match=r"x: expected a dict with keys \['a', 'b'\], got keys \['a', 'c'\]"):
        model.predict({"a": x, "c": x}, verbose=0)
    with pytest.raises(ValueError, match=r"y: the model has 2 outputs \['o1', 'o2'\], got one ndarray"):
        model.fit([x, x], np.zeros((2, 2)), verbose=0)
    with pytest.raises(ValueError, match=r"Input 'b' expects shape \(None, 5, 3\), got an array of shape \(2, 5, 4\)"):
        model.predict([x, RNG.random((2, 5, 4))], verbose=0)
