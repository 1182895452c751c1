"""Parity with Keras 3 (torch backend): same weights and data (no shuffling) give the same
predictions, and the same weights after several SGD and Adam steps. Skips without Keras."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

from pyrnn import layers as P  # noqa: E402
from pyrnn.models import Sequential  # noqa: E402

T, F, N = 6, 3, 8


def _pair(kind):
    """(keras layers, pyrnn layers, x, y) for one architecture."""
    K = keras.layers
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, T, F)).astype(np.float32)
    if kind == "simple_rnn":
        return [K.SimpleRNN(5), K.Dense(2)], [P.SimpleRNN(5), P.Dense(2)], x
    if kind == "gru":
        return [K.GRU(5, return_sequences=True), K.GRU(4), K.Dense(2)], \
            [P.GRU(5, return_sequences=True), P.GRU(4), P.Dense(2)], x
    if kind == "gru_reset_before":
        return [K.GRU(5, reset_after=False), K.Dense(2)], [P.GRU(5, reset_after=False), P.Dense(2)], x
    if kind == "lstm":
        return [K.LSTM(5, return_sequences=True), K.TimeDistributed(K.Dense(2))], \
            [P.LSTM(5, return_sequences=True), P.TimeDistributed(P.Dense(2))], x
    if kind == "activations":  # Keras's other GRU/LSTM activations
        return [K.LSTM(5, activation="relu", recurrent_activation="hard_sigmoid", return_sequences=True),
                K.GRU(4, activation="linear", recurrent_activation="tanh"), K.Dense(2)], \
            [P.LSTM(5, activation="relu", recurrent_activation="hard_sigmoid", return_sequences=True),
             P.GRU(4, activation="linear", recurrent_activation="tanh"), P.Dense(2)], x
    if kind == "bidirectional":
        return [K.Bidirectional(K.LSTM(4)), K.Dense(2)], [P.Bidirectional(P.LSTM(4)), P.Dense(2)], x
    if kind == "bidirectional_seq":
        return [K.Bidirectional(K.GRU(4, return_sequences=True), merge_mode="sum"), K.GRU(3), K.Dense(2)], \
            [P.Bidirectional(P.GRU(4, return_sequences=True), merge_mode="sum"), P.GRU(3), P.Dense(2)], x
    if kind in ("embedding_mask", "embedding_mask_seq"):
        ids = rng.integers(1, 20, size=(N, T))
        for b, n in enumerate([6, 3, 1, 5, 6, 2, 4, 3]):
            ids[b, n:] = 0
        seq = kind.endswith("seq")
        last = [K.GRU(3), K.Dense(2)] if seq else [K.Dense(2)]
        plast = [P.GRU(3), P.Dense(2)] if seq else [P.Dense(2)]
        return [K.Embedding(20, 4, mask_zero=True), K.LSTM(5, return_sequences=seq)] + last, \
            [P.Embedding(20, 4, mask_zero=True), P.LSTM(5, return_sequences=seq)] + plast, ids
    if kind == "masking_holes":
        x[0, 1] = 0.0
        x[2, :2] = 0.0
        x[3, 4:] = 0.0
        return [K.Masking(0.0), K.SimpleRNN(5), K.Dense(2)], [P.Masking(0.0), P.SimpleRNN(5), P.Dense(2)], x
    raise ValueError(kind)


KINDS = ["simple_rnn", "gru", "gru_reset_before", "lstm", "bidirectional", "bidirectional_seq", "embedding_mask",
         "embedding_mask_seq", "masking_holes", "activations"]


def _models(kind):
    klayers, players, x = _pair(kind)
    keras.utils.set_random_seed(1)
    kmodel = keras.Sequential([keras.Input(x.shape[1:], dtype="int32" if x.dtype.kind == "i" else "float32")]
                              + klayers)
    pmodel = Sequential([P.Input(x.shape[1:])] + players)
    kw = kmodel.get_weights()
    assert [w.shape for w in pmodel.get_weights()] == [w.shape for w in kw]
    rng = np.random.default_rng(5)
    kw = [(w + rng.normal(0, 0.1, w.shape)).astype(np.float32) for w in kw]  # nonzero biases too
    kmodel.set_weights(kw)
    pmodel.set_weights(kw)
    y = np.random.default_rng(1).standard_normal(kmodel.output_shape[1:]).astype(np.float32)
    y = np.broadcast_to(y, (N,) + y.shape).copy() + np.random.default_rng(2).normal(0, 0.5, (N,) + y.shape)
    return kmodel, pmodel, x, y.astype(np.float32)


@pytest.mark.parametrize("kind", KINDS)
def test_predictions_equal_keras(kind):
    kmodel, pmodel, x, _ = _models(kind)
    np.testing.assert_allclose(pmodel.predict(x, verbose=0), kmodel.predict(x, verbose=0), rtol=1e-4, atol=2e-5)
    for a, b in zip(pmodel.get_weights(), kmodel.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_training_steps_equal_keras(kind, opt):
    kmodel, pmodel, x, y = _models(kind)
    make = {"sgd": lambda m: m.optimizers.SGD(learning_rate=0.05, momentum=0.9),
            "adam": lambda m: m.optimizers.Adam(learning_rate=0.01)}[opt]
    from pyrnn import optimizers
    kmodel.compile(optimizer=make(keras), loss="mse")
    pmodel.compile(optimizer=make(type("m", (), {"optimizers": optimizers})), loss="mse")
    kh = kmodel.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    ph = pmodel.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(ph.history["loss"], kh.history["loss"], rtol=1e-4)
    for a, b in zip(pmodel.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(pmodel.predict(x, verbose=0), kmodel.predict(x, verbose=0), rtol=1e-4, atol=3e-5)


@pytest.mark.parametrize("kind", ["simple_rnn", "lstm"])  # per-sample weights; per-timestep ones
def test_sample_weighted_training_equals_keras(kind):
    kmodel, pmodel, x, y = _models(kind)
    from pyrnn import optimizers
    kmodel.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    pmodel.compile(optimizer=optimizers.SGD(learning_rate=0.05), loss="mse")
    sw = np.random.default_rng(7).uniform(0, 2, (N, T) if kind == "lstm" else N).astype(np.float32)
    kh = kmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, sample_weight=sw)
    ph = pmodel.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, sample_weight=sw)
    np.testing.assert_allclose(ph.history["loss"], kh.history["loss"], rtol=1e-4)
    for a, b in zip(pmodel.get_weights(), kmodel.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(pmodel.evaluate(x, y, verbose=0, sample_weight=sw),
                               kmodel.evaluate(x, y, verbose=0, sample_weight=sw), rtol=1e-4)
