"""Functional models against Keras 3 (torch backend) on the same weights: a two-input seq2seq's
predictions, a model with a shared layer and merges, attention and stacked cells, and the
weights after several SGD and Adam steps. Skips without Keras."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

import pyrnn  # noqa: E402


def _seq2seq(lib):
    L = lib.layers
    enc_in, dec_in = lib.Input((None, 5), name="enc"), lib.Input((None, 6), name="dec")
    _, h, c = L.LSTM(8, return_state=True, name="encoder")(enc_in)
    seq = L.LSTM(8, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c])
    return lib.Model([enc_in, dec_in], L.Dense(6, activation="softmax", name="out")(seq))


def _shared_merges(lib):
    L = lib.layers
    a, b = lib.Input((7, 3), name="a"), lib.Input((7, 3), name="b")
    gru = L.GRU(4, return_sequences=True, name="shared")
    ga, gb = gru(a), gru(b)
    att = L.Attention(name="att")([ga, gb])
    add = L.AdditiveAttention(name="add_att")([gb, ga])
    pooled = [L.GlobalAveragePooling1D()(ga), L.GlobalMaxPooling1D()(gb), L.Flatten()(att),
              L.GlobalAveragePooling1D()(add)]
    merged = L.Concatenate()([L.Add()([pooled[0], pooled[1]]), L.Multiply()([pooled[0], pooled[1]]),
                              L.Subtract()([pooled[0], pooled[1]]), L.Average()([pooled[0], pooled[1]]),
                              L.Maximum()([pooled[0], pooled[1]]), pooled[2], pooled[3],
                              L.Dot(axes=1, normalize=True)([pooled[0], pooled[1]])])
    rnn = L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(2)]), name="stacked")(L.RepeatVector(4)(merged))
    out = L.Dense(2, name="out")(L.LayerNormalization(name="ln")(L.Concatenate()([merged, rnn])))
    return lib.Model([a, b], out)


def _data(kind, n=8):
    rng = np.random.default_rng(0)
    if kind == "seq2seq":
        return [rng.random((n, 4, 5), np.float32), rng.random((n, 5, 6), np.float32)], \
            rng.random((n, 5, 6)).astype(np.float32)
    return [rng.random((n, 7, 3), np.float32), rng.random((n, 7, 3), np.float32)], rng.random((n, 2)).astype(np.float32)


MAKE = {"seq2seq": _seq2seq, "shared_merges": _shared_merges}


def _pair(kind):
    keras.utils.set_random_seed(1)
    kmodel = MAKE[kind](keras)
    model = MAKE[kind](pyrnn)
    assert sorted(type(l).__name__ for l in model.layers) == sorted(type(l).__name__ for l in kmodel.layers)
    for theirs in kmodel.layers:  # every layer with weights is named
        if theirs.get_weights():
            model.get_layer(theirs.name).set_weights([np.asarray(w) for w in theirs.get_weights()])
    return kmodel, model


@pytest.mark.parametrize("kind", sorted(MAKE))
def test_predictions_equal_keras(kind):
    kmodel, model = _pair(kind)
    xs, _ = _data(kind)
    np.testing.assert_allclose(model.predict(xs, verbose=0), np.asarray(kmodel.predict(xs, verbose=0)), atol=2e-5)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("kind", sorted(MAKE))
def test_training_steps_equal_keras(kind, opt):
    kmodel, model = _pair(kind)
    xs, y = _data(kind)
    make = (lambda lib: lib.optimizers.SGD(0.02, momentum=0.9)) if opt == "sgd" else (
        lambda lib: lib.optimizers.Adam(0.01))
    kmodel.compile(make(keras), "mse")
    model.compile(make(pyrnn), "mse")
    for _ in range(4):
        kloss = float(kmodel.train_on_batch(xs, y))
        loss = model.train_on_batch(xs, y)
    assert loss == pytest.approx(kloss, rel=1e-4)
    for theirs in kmodel.layers:
        mine = model.get_layer(theirs.name) if theirs.get_weights() else None
        for a, b in zip(mine.get_weights() if mine else [], theirs.get_weights()):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=5e-5, err_msg=theirs.name)
