"""Sequential: gradients (central differences in float64, masks included), fit/evaluate/predict,
summary, freezing, save/load and exact resumption. Runs without Keras."""

import contextlib
import io

import numpy as np
import pytest

from pyrnn import callbacks, optimizers
from pyrnn.layers import GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, Input, Masking, SimpleRNN, TimeDistributed
from pyrnn.models import Sequential, load_model

F64 = {"dtype": "float64"}


def _numeric_grads(model, x, y, eps=1e-6):
    loss0, grads = model.compute_gradients(x, y)
    numeric = []
    for params, _, name in model._variables():
        p = params[name]
        g = np.zeros_like(p)
        flat = p.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = model.loss(y, model(x))
            flat[i] = old - eps
            down = model.loss(y, model(x))
            flat[i] = old
            g.reshape(-1)[i] = (up - down) / (2 * eps)
        numeric.append(g)
    return grads, numeric


def _check_grads(model, x, y):
    grads, numeric = _numeric_grads(model, x, y)
    assert len(grads) == len(numeric) > 0
    for a, n in zip(grads, numeric):
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-7)


RNNS = [lambda **k: SimpleRNN(3, **k), lambda **k: GRU(3, **k), lambda **k: GRU(3, reset_after=False, **k),
        lambda **k: LSTM(3, **k)]


@pytest.mark.parametrize("make", RNNS)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gradients_central_differences(make, return_sequences, go_backwards):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 2))
    model = Sequential([Input((4, 2)), make(return_sequences=return_sequences, go_backwards=go_backwards, seed=1,
                                            bias_initializer="random_normal", **F64), Dense(2, seed=2, **F64)])
    model.compile("sgd", "mse")
    y = rng.standard_normal(model.compute_output_shape((3, 4, 2)))
    _check_grads(model, x, y)


@pytest.mark.parametrize("make", RNNS)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("padding", ["right", "left", "holes"])
def test_mask_gradients_and_semantics(make, return_sequences, padding):
    """Masked steps keep the state and repeat the previous output (zeros before the first valid one)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5, 2))
    mask = {"right": [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 1, 1, 0]],
            "left": [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1], [0, 1, 1, 1, 1]],
            "holes": [[1, 0, 1, 0, 1], [0, 1, 1, 0, 1], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]]}[padding]
    mask = np.array(mask, bool)
    x[~mask] = 0.0
    model = Sequential([Input((5, 2)), Masking(0.0, **F64),
                        make(return_sequences=return_sequences, seed=1, bias_initializer="random_normal", **F64),
                        Dense(2, seed=2, **F64)])
    model.compile("sgd", "mse")
    y = rng.standard_normal(model.compute_output_shape((4, 5, 2)))
    _check_grads(model, x, y)
    # semantics: each sequence run alone over its valid steps only
    rnn = model.layers[1]
    full = rnn(x, mask=mask)
    for b in range(4):
        valid = x[b:b + 1, mask[b]]
        if valid.shape[1] == 0:
            expected_last = np.zeros(3)
        else:
            seq = rnn.__class__.from_config({**rnn.get_config(), "return_sequences": True, "name": None})
            seq._maybe_build(valid.shape)
            seq.set_weights(rnn.get_weights())
            outs = seq(valid)[0]
            expected_last = outs[-1]
        if return_sequences:
            counts = np.cumsum(mask[b])
            for t in range(5):
                want = np.zeros(3) if counts[t] == 0 else outs[counts[t] - 1]
                np.testing.assert_allclose(full[b, t], want, rtol=1e-12, atol=1e-12)
        else:
            np.testing.assert_allclose(full[b], expected_last, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_gradients(merge_mode):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 2))
    model = Sequential([Input((4, 2)), Bidirectional(GRU(3, return_sequences=True, seed=3, **F64), merge_mode=merge_mode,
                                                     **F64),
                        TimeDistributed(Dense(1, seed=4, **F64), **F64)])
    model.compile("sgd", "mse")
    y = rng.standard_normal((2, 4, 1))
    _check_grads(model, x, y)


def test_embedding_dense_activation_gradients():
    ids = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]])
    model = Sequential([Input((5,)), Embedding(10, 3, mask_zero=True, seed=1, **F64),
                        LSTM(4, seed=2, **F64), Dense(5, activation="tanh", seed=3, **F64),
                        Dense(3, activation="softmax", seed=4, **F64)])
    model.compile("sgd", "categorical_crossentropy")
    y = np.eye(3)[[0, 2]]
    _check_grads(model, ids, y)


def _tutorial_model(seed=0, **kw):
    model = Sequential([SimpleRNN(8, input_shape=(5, 1), seed=seed), Dense(1, seed=seed + 1)], **kw)
    return model


def test_fit_learns_and_history():
    rng = np.random.default_rng(0)
    x = rng.random((200, 5, 1))
    y = x.sum(axis=1) / 5
    model = _tutorial_model()
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    h = model.fit(x, y, epochs=30, batch_size=16, verbose=0, validation_split=0.2)
    assert set(h.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert len(h.history["loss"]) == 30
    assert h.history["loss"][-1] < 0.2 * h.history["loss"][0]
    ev = model.evaluate(x, y, verbose=0)
    assert isinstance(ev, list) and len(ev) == 2 and ev[0] < 0.05
    assert model.predict(x, verbose=0).shape == (200, 1)
    assert model.predict(x[:3], verbose=0).dtype == np.float32


def test_fit_progress_output():
    model = _tutorial_model()
    model.compile("adam", "mse")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.fit(np.zeros((64, 5, 1)), np.zeros((64, 1)), epochs=2, batch_size=32)
    text = out.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text
    assert "2/2 ━━━━━━━━━━━━━━━━━━━━" in text and "loss: " in text and "/step" in text
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.fit(np.zeros((64, 5, 1)), np.zeros((64, 1)), epochs=1, batch_size=32, verbose=2)
    assert "2/2 - " in out.getvalue() and "━" not in out.getvalue()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.fit(np.zeros((64, 5, 1)), np.zeros((64, 1)), epochs=1, verbose=0)
    assert out.getvalue() == ""


def test_default_names_follow_keras():
    layers = [SimpleRNN(2), GRU(2), LSTM(2), Dense(1), Bidirectional(LSTM(2)), TimeDistributed(Dense(1)), Embedding(3, 2)]
    stems = [layer.name.rsplit("_", 1)[0] if layer.name[-1].isdigit() else layer.name for layer in layers]
    assert stems == ["simple_rnn", "gru", "lstm", "dense", "bidirectional", "time_distributed", "embedding"]


def test_summary_and_counts():
    model = Sequential([Input((10, 1)), SimpleRNN(50), Dense(1)])
    out = []
    model.summary(print_fn=out.append)
    text = out[0]
    assert "(None, 50)" in text and "2,600" in text and "51" in text
    assert "Total params: 2,651" in text and "Trainable params: 2,651" in text
    model.layers[0].trainable = False
    out = []
    model.summary(print_fn=out.append)
    assert "Trainable params: 51 " in out[0] and "Non-trainable params: 2,600" in out[0]
    assert model.count_params() == 2651
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 3


def test_freezing_keeps_layer_fixed_and_trains_head():
    rng = np.random.default_rng(1)
    x, y = rng.random((64, 5, 1)), rng.random((64, 1))
    model = _tutorial_model()
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, verbose=0)
    model.layers[0].trainable = False
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=2, verbose=0)
    after = model.get_weights()
    for b, a in zip(before[:3], after[:3]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(before[3], after[3])
    # reuse the frozen layer under a new head
    new = Sequential([model.layers[0], Dense(3, activation="softmax")])
    new.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    h = new.fit(x, rng.integers(0, 3, 64), epochs=1, verbose=0)
    assert "accuracy" in h.history
    np.testing.assert_array_equal(new.layers[0].get_weights()[0], before[0])


def test_dropout_only_in_training():
    model = Sequential([Input((4,)), Dropout(0.5, seed=0), Dense(2)])
    x = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    d = model.layers[0]
    y = d(x, training=True)
    assert set(np.unique(y)) <= {0.0, 2.0}


@pytest.mark.parametrize("model_file,weights_file", [("m.keras", "w.weights.h5"),
                                                     ("m.safetensors", "w.weights.safetensors")])
def test_save_load_weights_and_model_resume_exactly(tmp_path, model_file, weights_file):
    rng = np.random.default_rng(2)
    x, y = rng.random((64, 5, 1)), rng.random((64, 1))

    def make():
        m = _tutorial_model(seed=5)
        m.compile(optimizer=optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
        return m

    straight = make()
    straight.fit(x, y, epochs=4, batch_size=16, verbose=0, shuffle=False)

    first = make()
    first.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    first.save(tmp_path / model_file)
    first.save_weights(tmp_path / weights_file)
    resumed = load_model(tmp_path / model_file)
    assert resumed.optimizer.iterations == 8
    np.testing.assert_array_equal(resumed.predict(x, verbose=0), first.predict(x, verbose=0))
    resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)

    other = _tutorial_model(seed=9)
    other.load_weights(tmp_path / weights_file)
    for a, b in zip(other.get_weights(), first.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="extension|use load_weights"):
        load_model(tmp_path / weights_file)


@pytest.mark.parametrize("layer", [
    lambda: Bidirectional(LSTM(4, return_sequences=True), merge_mode="sum"),
    lambda: GRU(4, reset_after=False, return_sequences=True, go_backwards=True),
    lambda: TimeDistributed(Dense(3, activation="relu"))])
@pytest.mark.parametrize("filename", ["m.keras", "m.safetensors"])
def test_save_load_architectures(tmp_path, layer, filename):
    model = Sequential([Input((6, 2)), layer(), Dense(1)])
    model.compile("rmsprop", "huber")
    x = np.random.default_rng(0).random((8, 6, 2))
    model.fit(x, np.zeros((8, 6, 1)), epochs=1, verbose=0)
    model.save(tmp_path / filename)
    again = load_model(tmp_path / filename)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_stateful_carries_state_between_calls():
    layer = SimpleRNN(3, stateful=True, seed=0)
    x = np.random.default_rng(0).random((2, 6, 1)).astype(np.float32)
    whole = SimpleRNN(3, seed=0)
    whole._maybe_build(x.shape)
    layer._maybe_build(x.shape)
    whole.set_weights(layer.get_weights())
    layer(x[:, :3])
    np.testing.assert_allclose(layer(x[:, 3:]), whole(x), rtol=1e-6, atol=1e-7)
    layer.reset_states()
    np.testing.assert_allclose(layer(x[:, :3]), whole(x[:, :3]), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError):
        layer(x[:1])


def test_errors_are_clear():
    with pytest.raises(NotImplementedError, match="activation"):
        LSTM(3, activation="softplus")
    with pytest.raises(ValueError, match="recurrent_dropout"):
        GRU(3, recurrent_dropout=1.5)
    with pytest.raises(TypeError):
        Dense(3, bogus=1)
    model = Sequential([Input((3, 1)), SimpleRNN(2)])
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(np.zeros((2, 3, 1)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="return_state"):
        model.add(LSTM(2, return_state=True))


def test_callbacks_in_fit(tmp_path):
    rng = np.random.default_rng(3)
    x, y = rng.random((40, 5, 1)), rng.random((40, 1))
    model = _tutorial_model()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.0), loss="mse")  # nothing improves
    stop = callbacks.EarlyStopping(monitor="loss", patience=2)
    h = model.fit(x, y, epochs=20, verbose=0, shuffle=False, callbacks=[stop])
    assert len(h.history["loss"]) == 3 and stop.stopped_epoch == 2

    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="mse")
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)
    log = tmp_path / "log.csv"
    h = model.fit(x, y, epochs=4, verbose=0, callbacks=[plateau, callbacks.CSVLogger(log)])
    assert h.history["learning_rate"] == [0.1, 0.1, 0.05, 0.025]  # logged before each reduction
    lines = log.read_text().splitlines()
    assert lines[0] == "epoch,learning_rate,loss" and len(lines) == 5

    sched = callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 * (epoch + 1))
    h = model.fit(x, y, epochs=3, verbose=0, callbacks=[sched])
    assert h.history["learning_rate"] == pytest.approx([0.01, 0.02, 0.03])

    ckpt = callbacks.ModelCheckpoint(str(tmp_path / "best.keras"), monitor="val_loss", save_best_only=True)
    model.fit(x, y, epochs=3, verbose=0, validation_split=0.25, callbacks=[ckpt])
    assert (tmp_path / "best.keras").exists() and ckpt.best is not None
    best = load_model(tmp_path / "best.keras")
    assert best.evaluate(x[30:], y[30:], verbose=0) == pytest.approx(ckpt.best, rel=1e-5)

    nan_x = x.copy()
    nan_x[5] = np.nan
    h = model.fit(nan_x, y, epochs=5, batch_size=4, verbose=0, shuffle=False, callbacks=[callbacks.TerminateOnNaN()])
    assert len(h.history["loss"]) == 1


def test_early_stopping_restores_best_weights():
    rng = np.random.default_rng(4)
    x, y = rng.random((40, 5, 1)), rng.random((40, 1))
    model = _tutorial_model()
    model.compile(optimizer=optimizers.SGD(learning_rate=0.05), loss="mse")
    seen = []
    record = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append((logs["loss"], model.get_weights())))
    # monitor an increasing quantity in "min" mode: epoch 0 is the best
    stop = callbacks.EarlyStopping(monitor="epoch_counter", patience=2, restore_best_weights=True)
    bump = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: logs.__setitem__("epoch_counter", float(e)))
    model.fit(x, y, epochs=10, verbose=0, callbacks=[bump, record, stop])
    assert stop.stopped_epoch == 2 and stop.best_epoch == 0
    for a, b in zip(model.get_weights(), seen[0][1]):
        np.testing.assert_array_equal(a, b)


def _weighted_model(lr=0.1):
    model = Sequential([Input((4, 2)), SimpleRNN(3, seed=1), Dense(2, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(lr), loss="sparse_categorical_crossentropy")
    return model


def test_zero_sample_weights_drop_samples():
    # Weights [1]*k + [0]*k over 2k samples halve the mean loss of the first k: one SGD step
    # with twice the learning rate must land where training on the first k alone lands.
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 4, 2)), rng.integers(0, 2, 8)
    weighted, alone = _weighted_model(0.2), _weighted_model(0.1)
    alone.set_weights(weighted.get_weights())
    weighted.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, sample_weight=[1] * 4 + [0] * 4)
    alone.fit(x[:4], y[:4], batch_size=4, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(weighted.get_weights(), alone.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_class_weight_is_sample_weight_by_label():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((10, 4, 2)), rng.integers(0, 2, 10)
    by_class, by_sample = _weighted_model(), _weighted_model()
    by_sample.set_weights(by_class.get_weights())
    h1 = by_class.fit(x, y, batch_size=5, epochs=2, verbose=0, shuffle=False, class_weight={0: 0.3, 1: 2.0})
    h2 = by_sample.fit(x, y, batch_size=5, epochs=2, verbose=0, shuffle=False, sample_weight=np.where(y == 1, 2.0, 0.3))
    assert h1.history["loss"] == h2.history["loss"]
    for a, b in zip(by_class.get_weights(), by_sample.get_weights()):
        np.testing.assert_array_equal(a, b)
    onehot = np.eye(2)[y]  # one-hot targets: the class is the argmax
    assert np.array_equal(Sequential._sample_weights(onehot, None, {0: 0.3, 1: 2.0}), np.where(y == 1, 2.0, 0.3))


def test_sample_weight_errors():
    model = _weighted_model()
    x, y = np.zeros((4, 4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="not both"):
        model.fit(x, y, verbose=0, sample_weight=np.ones(4), class_weight={0: 1, 1: 1})
    with pytest.raises(ValueError, match=r"one weight per sample \(4\)"):
        model.fit(x, y, verbose=0, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match=r"no weight for class\(es\) \[1\]"):
        model.fit(x, y, verbose=0, class_weight={0: 1.0})
    with pytest.raises(TypeError, match="class_weight must be a dict"):
        model.fit(x, y, verbose=0, class_weight=[1.0, 2.0])
