"""``keras.preprocessing``: the older names of two ``keras.utils`` functions the tutorials use,
``keras.preprocessing.sequence.pad_sequences`` and ``keras.preprocessing.timeseries_dataset_from_array``.

Example::

    >>> sequence.pad_sequences([[1, 2], [3]]).tolist()
    [[1, 2], [0, 3]]
"""

from __future__ import annotations

from types import SimpleNamespace

from .utils import pad_sequences, timeseries_dataset_from_array

sequence = SimpleNamespace(pad_sequences=pad_sequences)

__all__ = ["sequence", "timeseries_dataset_from_array"]
