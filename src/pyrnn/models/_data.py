"""Where ``fit``/``evaluate``/``predict`` take their batches from: arrays (one per model input and
output, converted once), or a source of ready batches — a ``keras.utils.PyDataset`` (indexable,
with ``len``), a Python generator, or any iterable such as ``timeseries_dataset_from_array``'s
result — each batch ``(x, y)`` or ``(x, y, sample_weight)``, converted as it arrives.

Example::

    >>> data = Arrays([x], [y], None)
    >>> for xs, ys, sw in data.epoch(32, shuffle=True, rng=np.random): ...
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator, List, Optional

import numpy as np


def is_batch_source(x: Any) -> bool:
    """Whether ``x`` yields batches (a dataset, generator or PyDataset) instead of being data."""
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict)) or hasattr(x, "__array__"):
        return False
    return hasattr(x, "__iter__") or hasattr(x, "__getitem__") and hasattr(x, "__len__")


class Arrays:
    """Converted arrays: ``xs`` (one per input), ``ys`` (one per output, or None) and the
    per-sample weights ``sw`` (or None)."""

    def __init__(self, xs: List[np.ndarray], ys: Optional[List[np.ndarray]], sw: Optional[np.ndarray]):
        self.xs, self.ys, self.sw = xs, ys, sw
        self.n = len(xs[0])
        for a in xs[1:] + list(ys or []):
            if len(a) != self.n:
                sizes = [len(a) for a in xs + list(ys or [])]
                raise ValueError(f"the inputs and targets must all have the same number of samples, got {sizes}")

    def _slice(self, index: Any) -> Arrays:
        return Arrays([a[index] for a in self.xs], None if self.ys is None else [a[index] for a in self.ys],
                      None if self.sw is None else self.sw[index])

    def split(self, fraction: float) -> tuple:
        """(the first samples, the last ``fraction`` of them), as Keras's validation_split."""
        cut = int(self.n * (1 - fraction))
        return self._slice(slice(0, cut)), self._slice(slice(cut, None))

    def head(self, count: int) -> Arrays:
        return self._slice(slice(0, count))

    def steps(self, batch_size: int, steps_per_epoch: Optional[int] = None) -> int:
        return max(1, math.ceil(self.n / batch_size)) if steps_per_epoch is None else int(steps_per_epoch)

    def epoch(self, batch_size: int, shuffle: bool = False, rng: Any = None,
              steps_per_epoch: Optional[int] = None) -> Iterator[tuple]:
        data = self._slice(rng.permutation(self.n)) if shuffle else self
        for step in range(self.steps(batch_size, steps_per_epoch)):
            lo = (step * batch_size) % max(self.n, 1) if steps_per_epoch else step * batch_size
            part = slice(lo, lo + batch_size)
            yield ([a[part] for a in data.xs], None if data.ys is None else [a[part] for a in data.ys],
                   None if data.sw is None else data.sw[part])


class Batches:
    """Batches from a PyDataset, a generator or an iterable, converted by ``convert(batch)`` into
    (xs, ys, sw). A generator is read on across epochs (give ``steps_per_epoch``); an iterable
    is iterated afresh every epoch."""

    def __init__(self, source: Any, convert: Callable[[Any], tuple]):
        self.source, self.convert = source, convert
        self._iterator: Optional[Iterator] = None

    def steps(self, batch_size: Any = None, steps_per_epoch: Optional[int] = None) -> Optional[int]:
        if steps_per_epoch is not None:
            return int(steps_per_epoch)
        return len(self.source) if hasattr(self.source, "__len__") else None

    def epoch(self, batch_size: Any = None, shuffle: bool = False, rng: Any = None,
              steps_per_epoch: Optional[int] = None) -> Iterator[tuple]:
        src = self.source
        indexable = hasattr(src, "__getitem__") and hasattr(src, "__len__")
        steps = self.steps(None, steps_per_epoch)
        if indexable and not hasattr(src, "take"):  # a PyDataset
            for index in range(len(src) if steps is None else min(steps, len(src))):
                yield self.convert(src[index])
            if hasattr(src, "on_epoch_end"):
                src.on_epoch_end()
            return
        if iter(src) is src:  # a generator: read on from where the last epoch stopped
            it = src
        else:
            it = iter(src)
        count = 0
        while steps is None or count < steps:
            try:
                batch = next(it)
            except StopIteration:
                if it is src and steps is not None and count == 0:
                    raise ValueError("fit: the generator is exhausted (give steps_per_epoch, and a generator "
                                     "that loops)") from None
                return
            count += 1
            yield self.convert(batch)
