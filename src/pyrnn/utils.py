"""``keras.utils`` for recurrent work: ``pad_sequences``, ``to_categorical``, ``set_random_seed``,
``timeseries_dataset_from_array`` and ``PyDataset`` (a batch source ``fit`` takes).

Example::

    >>> pad_sequences([[1, 2, 3], [4]], maxlen=2)
    array([[2, 3],
           [0, 4]], dtype=int32)
"""

from __future__ import annotations

import math
import random
from typing import Any, Iterator, Optional

import numpy as np


def pad_sequences(sequences: Any, maxlen: Optional[int] = None, dtype: Any = "int32", padding: str = "pre",
                  truncating: str = "pre", value: Any = 0.0) -> np.ndarray:
    """Keras's ``pad_sequences``: a (len(sequences), maxlen, ...) array. ``padding``/``truncating``
    "pre" (the default) pads/cuts at the start, "post" at the end; maxlen defaults to the longest."""
    for option, given in (("padding", padding), ("truncating", truncating)):
        if given not in ("pre", "post"):
            raise ValueError(f"pad_sequences: {option} must be 'pre' or 'post', got {given!r}")
    seqs = [np.asarray(s) for s in sequences]
    lengths = [len(s) for s in seqs]
    if maxlen is None:
        maxlen = max(lengths, default=0)
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be a non-negative int or None, got {maxlen!r}")
    inner = next((s.shape[1:] for s in seqs if len(s)), ())
    out = np.full((len(seqs), int(maxlen)) + tuple(inner), value, dtype=dtype)
    for i, s in enumerate(seqs):
        if not len(s) or not maxlen:
            continue
        if s.shape[1:] != tuple(inner):
            raise ValueError(f"pad_sequences: sequence {i} has elements of shape {s.shape[1:]}, expected {inner}")
        cut = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        if padding == "post":
            out[i, :len(cut)] = cut
        else:
            out[i, maxlen - len(cut):] = cut
    return out


def to_categorical(x: Any, num_classes: Optional[int] = None) -> np.ndarray:
    """One-hot rows (float32) of integer labels: shape x.shape + (num_classes,), a trailing axis
    of size 1 dropped first, as in Keras."""
    y = np.asarray(x, dtype=np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}), got min {y.min()} and max {y.max()}")
    out = np.zeros(y.shape + (int(num_classes),), np.float32)
    np.put_along_axis(out, y[..., None], 1.0, axis=-1)
    return out


def set_random_seed(seed: int) -> None:
    """Seed Python's and NumPy's global generators (layers draw their seeds from NumPy's)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"set_random_seed: seed must be an int, got {type(seed).__name__}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002  (the global generator is what this sets)


class Tensor(np.ndarray):
    """An array that also answers ``.numpy()``, as the TensorFlow tensors of Keras's datasets do."""

    def numpy(self) -> np.ndarray:
        return np.asarray(self)


def _tensor(a: np.ndarray) -> Tensor:
    return np.ascontiguousarray(a).view(Tensor)


class Dataset:
    """Batches (x, y) — or x alone without targets — made on demand; iterable again every epoch.
    ``take(n)``: the first n batches; ``len()``: the number of batches."""

    def __init__(self, make: Any, count: int):
        self._make, self._count = make, count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Any]:
        return (self._make(i) for i in range(self._count))

    def take(self, n: int) -> Dataset:
        return Dataset(self._make, min(int(n), self._count) if n >= 0 else self._count)

    def as_numpy_iterator(self) -> Iterator[Any]:
        return iter(self)


def timeseries_dataset_from_array(data: Any, targets: Any, sequence_length: int, sequence_stride: int = 1,
                                  sampling_rate: int = 1, batch_size: Optional[int] = 128, shuffle: bool = False,
                                  seed: Optional[int] = None, start_index: Optional[int] = None,
                                  end_index: Optional[int] = None) -> Dataset:
    """Keras's sliding windows: window i starts at ``start_index + i*sequence_stride`` and takes
    ``sequence_length`` rows ``sampling_rate`` apart; its target is ``targets[start]`` (targets
    None: batches of windows alone). Batches are (x, y) of arrays answering ``.numpy()``."""
    data = np.asarray(data)
    for name, v in (("sequence_length", sequence_length), ("sequence_stride", sequence_stride),
                    ("sampling_rate", sampling_rate)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"timeseries_dataset_from_array: {name} must be a positive int, got {v!r}")
    start = int(start_index or 0)
    end = len(data) if end_index is None else int(end_index)
    span = (sequence_length - 1) * sampling_rate
    starts = np.arange(start, end - span, sequence_stride)
    if targets is not None:
        targets = np.asarray(targets)
        starts = starts[starts < len(targets)]
    if shuffle:
        np.random.default_rng(seed).shuffle(starts)
    per = len(starts) if batch_size is None else int(batch_size)
    offsets = np.arange(sequence_length) * sampling_rate

    def make(i):
        s = starts[i * per:(i + 1) * per]
        x = _tensor(data[s[:, None] + offsets])
        if batch_size is None:
            x = _tensor(np.asarray(x)[0]) if len(s) == 1 else x
        return x if targets is None else (x, _tensor(targets[s]))

    count = math.ceil(len(starts) / per) if per else 0
    return Dataset(make, count)


class PyDataset:
    """Base class of a batch source: subclasses define ``__len__`` (batches per epoch) and
    ``__getitem__(index)`` (one batch (x, y) or (x, y, sample_weight)); ``on_epoch_end`` runs after
    each epoch. ``workers``/``use_multiprocessing``/``max_queue_size`` are accepted (batches are
    made in this thread)."""

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10):
        self.workers, self.use_multiprocessing, self.max_queue_size = workers, use_multiprocessing, max_queue_size

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def on_epoch_end(self) -> None:
        pass

    @property
    def num_batches(self) -> int:
        return len(self)


Sequence = PyDataset

__all__ = ["pad_sequences", "to_categorical", "set_random_seed", "timeseries_dataset_from_array", "PyDataset",
           "Sequence", "Dataset", "Tensor"]
