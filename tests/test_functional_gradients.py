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


@pytest.mark.parametrize("make", [lambda: layers.LayerNormalization(dtype=F64),
                                  lambda: layers.BatchNormalization(dtype=F64)])
def test_normalization_layers(make):
    x = keras.Input((4, 3), dtype=F64)
    h = layers.GRU(3, return_sequences=True, dtype=F64, seed=0)(x)
    norm = make()
    out = layers.Dense(2, dtype=F64, seed=1)(norm(h))
    model = keras.Model(x, out)
    xs, y = rng.random((5, 4, 3)), rng.random((5, 4, 2))
    if isinstance(norm, layers.BatchNormalization):  # evaluate uses the moving statistics: check train mode
        model.compile(keras.optimizers.SGD(0.0), "mse")
        _, grads = model.compute_gradients(xs, y)
        b = model.parameter_bindings()[2]  # gamma
        eps, i = 1e-6, 1
        vals = []
        for d in (eps, -eps):
            b.weight[i] += d
            mm, mv = norm.get_weights()[2:]
            out_train = model._forward_batch([xs], True)[0]
            norm.set_weights(norm.get_weights()[:2] + [mm, mv])
            vals.append(((out_train - y) ** 2).mean())
            b.weight[i] -= d
        np.testing.assert_allclose(grads[2][i], (vals[0] - vals[1]) / (2 * eps), rtol=1e-5)
        return
    _check(model, xs, y)


@pytest.mark.parametrize("kind", ["Attention", "Attention-scale", "AdditiveAttention", "AdditiveAttention-noscale"])
def test_attention_layers_with_a_value_mask(kind):
    name, _, opt = kind.partition("-")
    layer = getattr(layers, name)(dtype=F64, **({"use_scale": opt != "noscale"} if opt else {}))
    ids = keras.Input((5,), dtype="int64")
    q_in = keras.Input((3, 4), dtype=F64)
    value = layers.LSTM(4, return_sequences=True, dtype=F64, seed=0)(
        layers.Embedding(7, 3, mask_zero=True, dtype=F64, seed=1)(ids))
    query = layers.Dense(4, dtype=F64, seed=2)(q_in)
    ctx = layer([query, value])
    out = layers.Dense(2, dtype=F64, seed=3)(layers.GlobalAveragePooling1D()(ctx))
    model = keras.Model([q_in, ids], out)
    x_ids = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 1, 0], [2, 0, 0, 0, 0]])
    _check(model, [rng.random((3, 3, 4)), x_ids], rng.random((3, 2)))
    # masked value steps get no weight: the output is that of the unpadded sequence
    one = model.predict([np.ones((1, 3, 4)), x_ids[:1]], verbose=0)
    cut = keras.Model([q_in, ids], out).predict([np.ones((1, 3, 4)), np.array([[1, 2, 3, 0, 0]])], verbose=0)
    np.testing.assert_allclose(one, cut)


@pytest.mark.parametrize("cell", ["SimpleRNNCell", "GRUCell", "LSTMCell"])
def test_rnn_of_a_cell_is_the_fused_layer(cell):
    rnn = layers.RNN(getattr(layers, cell)(4, seed=0), return_sequences=True, return_state=True)
    fused = {"SimpleRNNCell": layers.SimpleRNN, "GRUCell": layers.GRU, "LSTMCell": layers.LSTM}[cell](
        4, return_sequences=True, return_state=True)
    x = rng.random((3, 5, 2)).astype(np.float32)
    fused(x)
    rnn(x)
    rnn.set_weights(fused.get_weights())
    for a, b in zip(rnn(x), fused(x)):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_stacked_cells_gradients_and_states():
    x = keras.Input((None, 3), dtype=F64)
    h0 = keras.Input((4,), dtype=F64)
    cells = layers.StackedRNNCells([layers.LSTMCell(4, dtype=F64, seed=0), layers.GRUCell(3, dtype=F64, seed=1)])
    init = layers.Dense(4, dtype=F64, seed=5)(h0)
    out, s1h, s1c, s2h = layers.RNN(cells, return_state=True, dtype=F64)(x, initial_state=[init, init,
                                                                                          layers.Dense(3, dtype=F64,
                                                                                                       seed=6)(h0)])
    assert s1c.shape == (None, 4) and s2h.shape == (None, 3)
    y = layers.Dense(2, dtype=F64, seed=2)(layers.Concatenate()([out, s1h, s1c]))
    _check(keras.Model([x, h0], y), [rng.random((3, 5, 3)), rng.random((3, 4))], rng.random((3, 2)))


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_masked_seq2seq_with_initial_state(cell):
    enc_ids, dec_ids = keras.Input((None,), dtype="int64"), keras.Input((None,), dtype="int64")
    enc = layers.Embedding(8, 3, mask_zero=True, dtype=F64, seed=0)(enc_ids)
    states = getattr(layers, cell)(4, return_state=True, dtype=F64, seed=1)(enc)[1:]
    dec = layers.Embedding(8, 3, mask_zero=True, dtype=F64, seed=2)(dec_ids)
    seq = getattr(layers, cell)(4, return_sequences=True, dtype=F64, seed=3)(dec, initial_state=states)
    out = layers.Dense(2, dtype=F64, seed=4)(seq)
    model = keras.Model([enc_ids, dec_ids], out)
    xe = np.array([[1, 2, 3, 0], [4, 0, 0, 0], [0, 5, 6, 7]])  # right-padded, short, left-padded
    xd = np.array([[1, 2, 0], [3, 4, 5], [6, 0, 0]])
    _check(model, [xe, xd], rng.random((3, 3, 2)))


def test_explicit_mask_argument_is_a_graph_input():
    x = keras.Input((None, 2), dtype=F64)
    m = keras.Input((None,), dtype="bool")
    out = layers.Dense(1, dtype=F64, seed=1)(layers.GRU(3, dtype=F64, seed=0)(x, mask=m))
    model = keras.Model([x, m], out)
    xs = rng.random((2, 4, 2))
    mask = np.array([[True, True, False, False], [True, True, True, True]])
    full = model.predict([xs, mask], verbose=0)
    short = model.predict([xs[:, :2], mask[:, :2]], verbose=0)
    np.testing.assert_allclose(full[0], short[0], atol=1e-12)
    _check(model, [xs, mask], rng.random((2, 1)))
