"""``keras.metrics``: the metrics ``compile(metrics=...)`` takes, by Keras's class and function names.

Each class is a ``pyrnn.losses.Metric`` (``update_state``, ``result``, ``reset_state``): the mean
of a per-sample function over every sample seen.

Example::

    >>> m = MeanAbsoluteError()
    >>> m.update_state(np.zeros((2, 1)), np.ones((2, 1))); m.result()
    1.0
"""

from __future__ import annotations

from .losses import (
    Metric,
    RootMeanSquaredError,
    binary_accuracy,
    categorical_accuracy,
    mean_absolute_error,
    mean_squared_error,
    sparse_categorical_accuracy,
)


def _metric_class(name, fn, default_name):
    def __init__(self, name=default_name, dtype=None):
        Metric.__init__(self, fn, name)

    return type(name, (Metric,), {"__init__": __init__, "__doc__": f"Keras's {name}: the mean of {fn.__name__}."})


BinaryAccuracy = _metric_class("BinaryAccuracy", binary_accuracy, "binary_accuracy")
CategoricalAccuracy = _metric_class("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy")
SparseCategoricalAccuracy = _metric_class("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                          "sparse_categorical_accuracy")
MeanSquaredError = _metric_class("MeanSquaredError", mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _metric_class("MeanAbsoluteError", mean_absolute_error, "mean_absolute_error")

__all__ = ["Metric", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy", "MeanSquaredError",
           "MeanAbsoluteError", "RootMeanSquaredError", "binary_accuracy", "categorical_accuracy",
           "sparse_categorical_accuracy", "mean_squared_error", "mean_absolute_error"]
