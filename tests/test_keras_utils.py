"""keras.utils: pad_sequences, to_categorical, set_random_seed, timeseries_dataset_from_array,
and fit/evaluate/predict on datasets, generators and PyDataset subclasses."""

import numpy as np
import pytest

import pyrnn as keras
from pyrnn import layers
from pyrnn.utils import pad_sequences, timeseries_dataset_from_array


def test_pad_sequences_matches_keras_semantics():
    seqs = [[1, 2, 3], [4], [5, 6, 7, 8, 9]]
    np.testing.assert_array_equal(pad_sequences(seqs), [[0, 0, 1, 2, 3], [0, 0, 0, 0, 4], [5, 6, 7, 8, 9]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3), [[1, 2, 3], [0, 0, 4], [7, 8, 9]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=3, padding="post", truncating="post"),
                                  [[1, 2, 3], [4, 0, 0], [5, 6, 7]])
    out = pad_sequences([[1.5], [2.5, 3.5]], value=-1.0, dtype="float32")
    assert out.dtype == np.float32 and out.tolist() == [[-1.0, 1.5], [2.5, 3.5]]
    assert pad_sequences(seqs).dtype == np.int32
    assert pad_sequences([[[1, 2]], [[3, 4], [5, 6]]], padding="post").shape == (2, 2, 2)
    with pytest.raises(ValueError, match="padding"):
        pad_sequences(seqs, padding="middle")


def test_to_categorical_and_seed():
    np.testing.assert_array_equal(keras.utils.to_categorical([0, 2, 1], 3), np.eye(3)[[0, 2, 1]])
    assert keras.utils.to_categorical(np.array([[1], [0]])).shape == (2, 2)
    with pytest.raises(ValueError):
        keras.utils.to_categorical([3], 3)
    keras.utils.set_random_seed(7)
    a = layers.Dense(3)
    a.build((None, 2))
    keras.utils.set_random_seed(7)
    b = layers.Dense(3)
    b.build((None, 2))
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])


def test_timeseries_windows():
    data = np.arange(20)[:, None].astype(np.float32)
    ds = timeseries_dataset_from_array(data, np.arange(100, 120), sequence_length=4, sequence_stride=2,
                                       sampling_rate=2, batch_size=3)
    batches = list(ds)
    x0, y0 = batches[0]
    # window i starts at 2i and takes rows 2 apart: 0,2,4,6 ; 2,4,6,8 ; ...
    np.testing.assert_array_equal(x0.numpy()[:, :, 0], [[0, 2, 4, 6], [2, 4, 6, 8], [4, 6, 8, 10]])
    np.testing.assert_array_equal(y0.numpy(), [100, 102, 104])
    assert sum(len(x) for x, _ in batches) == len(range(0, 20 - 6, 2)) == 7
    assert len(list(ds.take(1))) == 1
    shuffled = timeseries_dataset_from_array(data, None, sequence_length=3, batch_size=100, shuffle=True, seed=1)
    (xs,) = list(shuffled)
    assert xs.shape == (18, 3, 1) and sorted(xs[:, 0, 0].tolist()) == list(range(18))


def test_fit_on_a_dataset_with_validation_dataset():
    rng = np.random.default_rng(0)
    series = np.sin(np.arange(400) / 8).astype(np.float32)[:, None] + 0.01 * rng.standard_normal((400, 1))
    train = timeseries_dataset_from_array(series[:-1], series[10:, 0], sequence_length=10, batch_size=32)
    val = timeseries_dataset_from_array(series[300:-1], series[310:, 0], sequence_length=10, batch_size=32)
    inputs = keras.Input((10, 1))
    outputs = layers.Dense(1, seed=1)(layers.LSTM(8, seed=0)(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.01), "mse")
    hist = model.fit(train, epochs=4, validation_data=val, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0] and "val_loss" in hist.history
    assert model.predict(val, verbose=0).shape == (sum(len(x) for x, _ in val), 1)
    assert isinstance(model.evaluate(val, verbose=0), float)


class _Batches(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size, self.epochs_seen = x, y, batch_size, 0

    def __len__(self):
        return int(np.ceil(len(self.x) / self.batch_size))

    def __getitem__(self, i):
        s = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[s], self.y[s]

    def on_epoch_end(self):
        self.epochs_seen += 1


def test_fit_on_a_pydataset_and_a_generator():
    rng = np.random.default_rng(1)
    x, y = rng.random((40, 5, 2)), rng.random((40, 1))
    model = keras.Sequential([keras.Input((5, 2)), layers.GRU(4, seed=0), layers.Dense(1, seed=1)])
    model.compile("adam", "mse")
    data = _Batches(x, y, 8)
    hist = model.fit(data, epochs=3, verbose=0, validation_data=_Batches(x[:16], y[:16], 8))
    assert len(hist.history["loss"]) == 3 and data.epochs_seen == 3

    def forever():
        while True:
            for i in range(0, 40, 10):
                yield x[i:i + 10], y[i:i + 10]

    seen = []

    class Count(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    model.fit(forever(), steps_per_epoch=3, epochs=2, verbose=0, callbacks=[Count()])
    assert seen == [0, 1, 2, 0, 1, 2]
    with pytest.raises(ValueError, match="y must not be given"):
        model.fit(data, y)
