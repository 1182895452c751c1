"""Gradients of functional graphs and of the layers they use, against central differences (float64)."""

import numpy as np
import pytest

import pyrnn as keras
from pyrnn import layers

F64 = "float64"


def _check(model, xs, y, loss="mse", eps=1e-6, rtol=1e-5, atol=1e-8):
    model.compile(keras.optimizers.SGD(0.0), loss)
    _, grads = model.compute_gradients(xs, y)
    bindings = model.parameter_bindings()
    assert len(grads) == len(bindings) > 0
    for b, g in zip(bindings, grads):
        w = b.weight
        flat, gflat = w.reshape(-1), g.reshape(-1)
        picks = np.random.default_rng(0).choice(flat.size, min(flat.size, 6), replace=False)
        for i in picks:
            old = flat[i]
            flat[i] = old + eps
            up = model.evaluate(xs, y, verbose=0, batch_size=len(y) if not isinstance(y, list) else len(y[0]))
            flat[i] = old - eps
            down = model.evaluate(xs, y, verbose=0, batch_size=len(y) if not isinstance(y, list) else len(y[0]))
            flat[i] = old
            up = up[0] if isinstance(up, list) else up
            down = down[0] if isinstance(down, list) else down
            np.testing.assert_allclose(gflat[i], (up - down) / (2 * eps), rtol=rtol, atol=atol,
                                       err_msg=f"{b.owner} {b.name}[{i}]")


rng = np.random.default_rng(0)


def test_seq2seq_graph_gradient_reaches_the_encoder_through_initial_state():
    enc_in, dec_in = keras.Input((None, 3), dtype=F64), keras.Input((None, 2), dtype=F64)
    _, h, c = layers.LSTM(4, return_state=True, dtype=F64, seed=0)(enc_in)
    dec, h2, _ = layers.LSTM(4, return_sequences=True, return_state=True, dtype=F64, seed=1)(dec_in,
                                                                                           initial_state=[h, c])
    out = layers.Dense(2, dtype=F64, seed=2)(layers.Concatenate()([dec, layers.RepeatVector(5)(h2)]))
    model = keras.Model([enc_in, dec_in], out)
    _check(model, [rng.random((3, 4, 3)), rng.random((3, 5, 2))], rng.random((3, 5, 2)))


def test_shared_gru_and_merges():
    a, b = keras.Input((5, 3), dtype=F64), keras.Input((5, 3), dtype=F64)
    gru = layers.GRU(4, dtype=F64, seed=0)
    ga, gb = gru(a), gru(b)
    merged = [layers.Add()([ga, gb]), layers.Subtract()([ga, gb]), layers.Multiply()([ga, gb]),
              layers.Average()([ga, gb]), layers.Maximum()([ga, gb]), layers.Minimum()([ga, gb]),
              layers.Dot(axes=1)([ga, gb]), layers.Dot(axes=1, normalize=True)([ga, gb])]
    out = layers.Dense(2, dtype=F64, seed=1)(layers.Concatenate()(merged))
    model = keras.Model([a, b], out)
    _check(model, [rng.random((4, 5, 3)), rng.random((4, 5, 3))], rng.random((4, 2)))


@pytest.mark.parametrize("make", [
    lambda: layers.Flatten(), lambda: layers.Reshape((-1,)), lambda: layers.GlobalAveragePooling1D(),
    lambda: layers.GlobalMaxPooling1D(), lambda: layers.GlobalAveragePooling1D(keepdims=True),
])
def test_sequence_to_vector_layers(make):
    x = keras.Input((4, 3), dtype=F64)
    h = layers.SimpleRNN(3, return_sequences=True, dtype=F64, seed=0)(x)
    out = layers.Dense(2, dtype=F64, seed=1)(make()(h))
    _check(keras.Model(x, out), rng.random((3, 4, 3)), rng.random((3, 1, 2) if "keepdims" in repr(make) else (3, 2)))


def test_permute_activation_and_batch_dot():
    x = keras.Input((4, 3), dtype=F64)
    h = layers.LSTM(3, return_sequences=True, dtype=F64, seed=0)(x)
    p = layers.Permute((2, 1))(layers.Permute((2, 1))(h))
    scores = layers.Activation("softmax")(layers.Dot(axes=(2, 2))([h, h]))   # (B, 4, 4)
    ctx = layers.Dot(axes=(2, 1))([scores, h])                              # (B, 4, 3)
    out = layers.Dense(2, dtype=F64, seed=1)(layers.Concatenate(axis=1)([ctx, p]))  # (B, 8, 2)
    _check(keras.Model(x, out), rng.random((2, 4, 3)), rng.random((2, 8, 2)))


def test_masked_pooling_ignores_padded_steps():
    ids = keras.Input((None,), dtype="int64")
    e = layers.Embedding(9, 3, mask_zero=True, seed=0)(ids)
    pooled = layers.GlobalAveragePooling1D()(e)
    model = keras.Model(ids, pooled)
    x = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    table = model.get_layer(index=1).get_weights()[0]
    np.testing.assert_allclose(model.predict(x, verbose=0), [table[[1, 2]].mean(0), table[3]], rtol=1e-6)
