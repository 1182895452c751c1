"""The Keras functional API: graphs of layer calls, Model(inputs, outputs), training over the graph."""

import numpy as np
import pytest

import pyrnn as keras
from pyrnn import layers


def _seq2seq(units=8, enc_dim=5, dec_dim=6, seed=0):
    enc_in = keras.Input((None, enc_dim), name="encoder_inputs")
    dec_in = keras.Input((None, dec_dim), name="decoder_inputs")
    encoder = layers.LSTM(units, return_state=True, seed=seed, name="encoder")
    _, h, c = encoder(enc_in)
    decoder = layers.LSTM(units, return_sequences=True, return_state=True, seed=seed + 1, name="decoder")
    dec_out, _, _ = decoder(dec_in, initial_state=[h, c])
    dense = layers.Dense(dec_dim, activation="softmax", seed=seed + 2, name="dense_out")
    model = keras.Model([enc_in, dec_in], dense(dec_out))
    return model, (enc_in, dec_in, encoder, decoder, dense, h, c)


def _seq2seq_data(n=64, t_enc=7, t_dec=9, enc_dim=5, dec_dim=6, seed=0):
    rng = np.random.default_rng(seed)
    x1 = rng.random((n, t_enc, enc_dim)).astype(np.float32)
    ids = rng.integers(0, dec_dim, (n, t_dec + 1))
    # the target sequence depends on the encoder input: the argmax of the first encoder step's features
    ids[:, 1:] = (np.argmax(x1[:, :1, :], axis=-1) + np.arange(t_dec)) % dec_dim
    onehot = keras.utils.to_categorical(ids, dec_dim)
    return x1, onehot[:, :-1], onehot[:, 1:]


def test_namespace():
    for name in ("Input", "Model", "Sequential", "layers", "models", "optimizers", "losses", "metrics", "callbacks",
                 "initializers", "utils", "activations"):
        assert hasattr(keras, name), name
    assert keras.models.Model is keras.Model
    assert callable(keras.utils.pad_sequences) and callable(keras.metrics.SparseCategoricalAccuracy)


def test_input_is_a_symbolic_tensor():
    x = keras.Input((None, 3), batch_size=4, name="x")
    assert x.shape == (4, None, 3) and x.dtype == np.float32 and x.name == "x"
    ids = keras.Input((10,), dtype="int32")
    assert ids.dtype == np.int32
    y = layers.Embedding(20, 4, mask_zero=True)(ids)
    assert y.shape == (None, 10, 4)
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(x)


def test_seq2seq_trains_and_the_inference_models_reproduce_it():
    model, (enc_in, dec_in, encoder, decoder, dense, h, c) = _seq2seq()
    assert [l.name for l in model.layers] == ["encoder_inputs", "decoder_inputs", "encoder", "decoder", "dense_out"]
    x1, x2, y = _seq2seq_data()
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit([x1, x2], y, batch_size=16, epochs=15, verbose=0)
    losses = hist.history["loss"]
    assert losses[-1] < 0.7 * losses[0]
    pred = model.predict([x1, x2], verbose=0)

    # the inference models, from the trained layers and tensors (keras.io lstm_seq2seq)
    encoder_model = keras.Model(enc_in, [h, c])
    state_h, state_c = keras.Input((8,)), keras.Input((8,))
    out, h2, c2 = decoder(dec_in, initial_state=[state_h, state_c])
    decoder_model = keras.Model([dec_in, state_h, state_c], [dense(out), h2, c2])
    hs, cs = encoder_model.predict(x1, verbose=0)
    steps = []
    for t in range(x2.shape[1]):
        p, hs, cs = decoder_model.predict([x2[:, t:t + 1], hs, cs], verbose=0)
        steps.append(p)
    np.testing.assert_allclose(np.concatenate(steps, axis=1), pred, atol=2e-5)
    # the trained model's layers, by name
    assert model.get_layer("decoder") is decoder
    assert decoder.output[0].shape == (None, None, 8)


def test_shared_layer_sums_the_gradients():
    a, b = keras.Input((4,)), keras.Input((4,))
    shared = layers.Dense(3, seed=0)
    out = layers.Add()([shared(a), shared(b)])
    model = keras.Model([a, b], out)
    assert len(model.get_weights()) == 2  # one Dense, used twice
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    xa, xb, y = rng.random((5, 4)), rng.random((5, 4)), rng.random((5, 3))
    _, (gk, gb) = model.compute_gradients([xa, xb], y)
    k, bias = shared.get_weights()
    pred = xa @ k + xb @ k + 2 * bias
    g = 2 * (pred - y) / y.size
    np.testing.assert_allclose(gk, xa.T @ g + xb.T @ g, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gb, 2 * g.sum(0), rtol=1e-4, atol=1e-6)


def test_multi_output_with_loss_weights_and_dicts():
    x = keras.Input((6, 3), name="x")
    seq = layers.GRU(5, return_sequences=True, seed=0)(x)
    last = layers.GRU(4, seed=1, name="summary")(seq)
    reg = layers.Dense(1, name="reg", seed=2)(last)
    cls = layers.Dense(3, activation="softmax", name="cls", seed=3)(last)
    model = keras.Model(inputs={"x": x}, outputs={"reg": reg, "cls": cls})
    model.compile("adam", loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
                  loss_weights={"reg": 0.5, "cls": 2.0}, metrics={"cls": ["accuracy"]})
    rng = np.random.default_rng(1)
    xs, yr, yc = rng.random((32, 6, 3)), rng.random((32, 1)), rng.integers(0, 3, 32)
    result = model.evaluate({"x": xs}, {"reg": yr, "cls": yc}, return_dict=True, verbose=0)
    assert result["loss"] == pytest.approx(0.5 * result["reg_loss"] + 2.0 * result["cls_loss"], rel=1e-5)
    assert "cls_accuracy" in result
    hist = model.fit({"x": xs}, {"reg": yr, "cls": yc}, epochs=3, batch_size=8, verbose=0)
    assert set(hist.history) >= {"loss", "reg_loss", "cls_loss", "cls_accuracy"}
    pred = model.predict({"x": xs}, verbose=0)
    assert set(pred) == {"reg", "cls"} and pred["cls"].shape == (32, 3)
    model.train_on_batch({"x": xs}, {"reg": yr, "cls": yc})


def test_masks_flow_through_the_graph():
    ids = keras.Input((None,), dtype="int32")
    emb = layers.Embedding(10, 3, mask_zero=True, seed=0)(ids)
    out = layers.LSTM(4, seed=1)(emb)
    model = keras.Model(ids, out)
    x = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(x[:, :3], verbose=0)[:, :], atol=1e-6)


def test_construction_errors():
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    out = layers.Add()([layers.Dense(3)(a), layers.Dense(3)(b)])
    with pytest.raises(ValueError, match="not connected.*'b'"):
        keras.Model(a, out)
    x = keras.Input((5, 3))
    d = layers.Dense(4, name="proj")(x)
    flat = layers.Dense(2, name="flat2d")(keras.Input((7,)))
    with pytest.raises(ValueError, match=r"'lstm_bad'.*'flat2d'.*\(None, 2\)"):
        layers.LSTM(3, name="lstm_bad")(flat)
    dense = layers.Dense(2, name="once")
    dense(d)
    with pytest.raises(ValueError, match=r"'once'.*expected shape \(None, 5, 4\).*\(None, 7\)"):
        dense(keras.Input((7,)))
    model = keras.Model([a, b], out)
    with pytest.raises(ValueError, match=r"2 inputs \['a', 'b'\], got one ndarray"):
        model.predict(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="expects shape"):
        model.predict([np.zeros((2, 4)), np.zeros((2, 5))])


def test_save_load_round_trip(tmp_path):
    model, _ = _seq2seq()
    x1, x2, y = _seq2seq_data(n=16)
    model.compile("adam", "categorical_crossentropy")
    model.fit([x1, x2], y, epochs=1, verbose=0)
    path = tmp_path / "m.safetensors"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, keras.Model)
    np.testing.assert_allclose(loaded.predict([x1, x2], verbose=0), model.predict([x1, x2], verbose=0), atol=1e-6)
    # training continues the same way (optimizer state restored)
    a = model.train_on_batch([x1, x2], y)
    b = loaded.train_on_batch([x1, x2], y)
    assert a == pytest.approx(b, rel=1e-5)
    clone = keras.Model.from_config(model.get_config())
    assert [type(l).__name__ for l in clone.layers] == [type(l).__name__ for l in model.layers]


def test_summary_has_connections():
    model, _ = _seq2seq()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text and "encoder[0][1]" in text and "decoder_inputs[0][0]" in text


def test_sequential_shares_the_loop_and_takes_input_tensors():
    model = keras.Sequential([keras.Input((4, 2)), layers.SimpleRNN(3, seed=0), layers.Dense(1, seed=1)])
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    hist = model.fit(rng.random((20, 4, 2)), rng.random((20, 1)), epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2
    assert type(model).fit is keras.Model.fit


def test_stateful_layer_states_and_preprocessing_names():
    lstm = layers.LSTM(3, stateful=True, seed=0)
    assert lstm.states is None
    x = np.random.default_rng(0).random((2, 4, 2)).astype(np.float32)
    lstm(x)
    h, c = lstm.states
    assert h.shape == c.shape == (2, 3)
    fresh = layers.LSTM(3, seed=0)
    fresh(x[:, :1])
    fresh.set_weights(lstm.get_weights())
    np.testing.assert_allclose(lstm(x), fresh(x, initial_state=[h, c]), atol=1e-6)
    assert keras.preprocessing.sequence.pad_sequences([[1, 2], [3]]).tolist() == [[1, 2], [0, 3]]
    assert keras.preprocessing.timeseries_dataset_from_array is keras.utils.timeseries_dataset_from_array
