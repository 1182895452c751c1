"""Losses and metrics with Keras 3's names, aliases and reductions.

A loss is a callable ``loss(y_true, y_pred) -> float``: per-sample values (the mean over the
last axis, or the sum over classes for cross-entropies) averaged over all samples
("sum_over_batch_size"). Training uses ``value_and_grad``, which also returns dL/d(y_pred).

Cross-entropies on probabilities clip them to [1e-7, 1 - 1e-7] as Keras does (the gradient is
zero where clipping bites); ``from_logits=True`` uses the exact log-softmax / log-sigmoid.

Example::

    >>> from pyrnn import losses
    >>> losses.get("mse")(np.array([[1.0], [2.0]]), np.array([[1.5], [2.0]]))
    0.125
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-7


def _match(y_true, y_pred):
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true, dtype=y_pred.dtype)
    if y_true.shape != y_pred.shape:
        if y_true.size != y_pred.size:
            raise ValueError(f"y_true shape {y_true.shape} does not match y_pred shape {y_pred.shape}")
        y_true = y_true.reshape(y_pred.shape)
    return y_true, y_pred


def _per_sample(sample_weight, values):
    """Sample weights shaped to multiply the per-sample loss values: (batch,) weights apply to
    every timestep of a sequence output, as in Keras."""
    w = np.asarray(sample_weight, dtype=values.dtype)
    if w.shape == values.shape:
        return w
    if w.ndim == 1 and values.ndim >= 1 and w.shape[0] == values.shape[0]:
        return w.reshape(w.shape + (1,) * (values.ndim - 1))
    raise ValueError(f"sample_weight: expected shape {values.shape[:1]} or {values.shape}, got {w.shape}")


class Loss:
    """Base class: subclasses give ``values_and_grad(y_true, y_pred)`` -> (per-sample values,
    gradient of their *sum* with respect to y_pred)."""

    name = "loss"

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        if reduction not in ("sum_over_batch_size", "sum", "mean", "none", None):
            raise ValueError(f"unknown reduction {reduction!r}")
        self.name = name or self.name
        self.reduction = reduction

    def _prepare(self, y_true, y_pred):
        return _match(y_true, y_pred)

    def values(self, y_true, y_pred):
        """Per-sample loss values (shape y_pred.shape[:-1])."""
        y_true, y_pred = self._prepare(y_true, y_pred)
        return self.values_and_grad(y_true, y_pred, need_grad=False)[0]

    def _reduce(self, values):
        if self.reduction in ("none", None):
            return values
        total = float(values.sum())
        return total if self.reduction == "sum" else total / max(values.size, 1)

    def __call__(self, y_true, y_pred, sample_weight=None):
        values = self.values(y_true, y_pred)
        if sample_weight is not None:
            values = values * _per_sample(sample_weight, values)
        return self._reduce(values)

    def value_and_grad(self, y_true, y_pred, sample_weight=None):
        """(reduced loss, dloss/dy_pred) — what training needs, in one pass. Sample weights
        scale each sample's value; the mean is still over all samples, as in Keras."""
        y_true, y_pred = self._prepare(y_true, y_pred)
        values, grad = self.values_and_grad(y_true, y_pred, need_grad=True)
        if sample_weight is not None:
            w = _per_sample(sample_weight, values)
            values = values * w
            grad = grad * w.reshape(w.shape + (1,) * (grad.ndim - w.ndim))
        if self.reduction == "sum":
            return float(values.sum()), grad
        n = max(values.size, 1)
        return float(values.sum()) / n, grad * grad.dtype.type(1.0 / n)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def values_and_grad(self, y_true, y_pred, need_grad=True):
        diff = y_pred - y_true
        values = np.mean(diff * diff, axis=-1)
        return values, (diff * diff.dtype.type(2.0 / diff.shape[-1]) if need_grad else None)

    def value_and_grad(self, y_true, y_pred, sample_weight=None):  # the common case, lean: no per-sample array
        if (sample_weight is not None or self.reduction != "sum_over_batch_size" or type(y_true) is not np.ndarray
                or y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype):
            return super().value_and_grad(y_true, y_pred, sample_weight)
        diff = y_pred - y_true
        loss = float(np.vdot(diff, diff)) / diff.size
        diff *= diff.dtype.type(2.0 / diff.size)
        return loss, diff


class MeanAbsoluteError(Loss):
    name = "mean_absolute_error"

    def values_and_grad(self, y_true, y_pred, need_grad=True):
        diff = y_pred - y_true
        return np.mean(np.abs(diff), axis=-1), (np.sign(diff) / diff.shape[-1] if need_grad else None)


class MeanAbsolutePercentageError(Loss):
    name = "mean_absolute_percentage_error"

    def values_and_grad(self, y_true, y_pred, need_grad=True):
        diff = y_pred - y_true
        scale = 100.0 / np.maximum(np.abs(y_true), EPSILON)
        values = np.mean(np.abs(diff) * scale, axis=-1)
        return values, (np.sign(diff) * scale / diff.shape[-1] if need_grad else None)


class Huber(Loss):
    name = "huber_loss"

    def __init__(self, delta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.delta = float(delta)

    def values_and_grad(self, y_true, y_pred, need_grad=True):
        diff = y_pred - y_true
        a, d = np.abs(diff), self.delta
        values = np.mean(np.where(a <= d, 0.5 * diff * diff, d * a - 0.5 * d * d), axis=-1)
        grad = np.where(a <= d, diff, d * np.sign(diff)) / diff.shape[-1] if need_grad else None
        return values, grad

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


def _log_sigmoid(x):
    return -np.logaddexp(0, -x)


def _sigmoid(x):
    return np.exp(_log_sigmoid(x))


class BinaryCrossentropy(Loss):
    name = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, **kwargs):
        super().__init__(**kwargs)
        self.from_logits, self.label_smoothing = bool(from_logits), float(label_smoothing)

    def values_and_grad(self, y_true, y_pred, need_grad=True):
        t = y_true
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        last = y_pred.shape[-1] if y_pred.ndim else 1
        if self.from_logits:
            z = y_pred
            elem = -(t * _log_sigmoid(z) + (1 - t) * _log_sigmoid(-z))
            grad = (_sigmoid(z) - t) / last if need_grad else None
        else:
            p = np.clip(y_pred, EPSILON, 1 - EPSILON)
            elem = -(t * np.log(p) + (1 - t) * np.log1p(-p))
            inside = (y_pred >= EPSILON) & (y_pred <= 1 - EPSILON)
            grad = np.where(inside, (p - t) / (p * (1 - p)), 0) / last if need_grad else None
        grad = None if grad is None else grad.astype(y_pred.dtype, copy=False)
        return np.mean(elem, axis=-1), grad

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(Loss):
    name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, **kwargs):
        super().__init__(**kwargs)
        self.from_logits, self.label_smoothing = bool(from_logits), float(label_smoothing)

    def _targets(self, y_true, y_pred):
        if self.label_smoothing:
            k = y_pred.shape[-1]
            return y_true * (1 - self.label_smoothing) + self.label_smoothing / k
        return y_true

    def values_and_grad(self, y_true, y_pred, need_grad=True):
        t = self._targets(y_true, y_pred)
        if self.from_logits:
            shifted = y_pred - y_pred.max(axis=-1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
            values = -(t * log_p).sum(axis=-1)
            grad = np.exp(log_p) * t.sum(axis=-1, keepdims=True) - t if need_grad else None
        else:
            s = y_pred.sum(axis=-1, keepdims=True)
            p = y_pred / s
            pc = np.clip(p, EPSILON, 1 - EPSILON)
            values = -(t * np.log(pc)).sum(axis=-1)
            grad = None
            if need_grad:
                gp = np.where((p >= EPSILON) & (p <= 1 - EPSILON), -t / pc, 0)
                grad = (gp - (gp * p).sum(axis=-1, keepdims=True)) / s
        return values, (None if grad is None else grad.astype(y_pred.dtype, copy=False))

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing}


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Integer class ids (shape y_pred.shape[:-1], or with a trailing 1) against class scores."""

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, **kwargs):
        super().__init__(from_logits=from_logits, **kwargs)

    def _prepare(self, y_true, y_pred):
        return _one_hot(y_true, y_pred), np.asarray(y_pred)


def _one_hot(y_true, y_pred):
    y_pred = np.asarray(y_pred)
    ids = np.asarray(y_true)
    if ids.shape == y_pred.shape[:-1] + (1,):
        ids = ids[..., 0]
    if ids.shape != y_pred.shape[:-1]:
        raise ValueError(f"sparse labels of shape {ids.shape} do not match predictions {y_pred.shape}")
    return (ids.astype(np.int64)[..., None] == np.arange(y_pred.shape[-1])).astype(y_pred.dtype)


_LOSSES: dict[str, type] = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "huber": Huber, "huber_loss": Huber,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy, "cce": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
for _cls in set(_LOSSES.values()):
    _LOSSES[_cls.__name__] = _cls


def get(identifier):
    """A Loss from a Keras name or alias, a class, an instance, or a function f(y_true, y_pred)."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str) and identifier in _LOSSES:
        loss = _LOSSES[identifier]()
        loss.name = identifier if identifier.islower() and len(identifier) > 4 else loss.name
        return loss
    if isinstance(identifier, dict):
        return _LOSSES[identifier["class_name"]](**identifier.get("config", {}))
    raise ValueError(f"Unknown loss {identifier!r}; known: {sorted(k for k in _LOSSES if k.islower())}")


def serialize(loss):
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


# functional forms, per-sample values as Keras's keras.losses.mean_squared_error etc.
def mean_squared_error(y_true, y_pred):
    return MeanSquaredError().values(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    return MeanAbsoluteError().values(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False):
    return BinaryCrossentropy(from_logits=from_logits).values(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    return CategoricalCrossentropy(from_logits=from_logits).values(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    return SparseCategoricalCrossentropy(from_logits=from_logits).values(y_true, y_pred)


mse, mae = mean_squared_error, mean_absolute_error


# ---------------------------------------------------------------------- metrics
def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_true, y_pred = _match(y_true, y_pred)
    return np.mean(y_true == (y_pred > threshold).astype(y_pred.dtype), axis=-1)


def categorical_accuracy(y_true, y_pred):
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred):
    ids = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if ids.shape == y_pred.shape[:-1] + (1,):
        ids = ids[..., 0]
    return (ids.astype(np.int64) == np.argmax(y_pred, axis=-1)).astype(np.float64)


def exact_accuracy(y_true, y_pred):
    y_true, y_pred = _match(y_true, y_pred)
    return np.mean(y_true == y_pred, axis=-1)


class Metric:
    """A per-sample function averaged over every sample seen (weighted by batch size), as
    Keras's MeanMetricWrapper: ``update_state``, ``result``, ``reset_state``."""

    def __init__(self, fn, name):
        self.fn, self.name = fn, name
        self.reset_state()

    def reset_state(self):
        self.total, self.count = 0.0, 0

    def update_state(self, y_true, y_pred):
        values = np.asarray(self.fn(y_true, y_pred))
        self.total += float(values.sum())
        self.count += values.size

    def result(self):
        return self.total / self.count if self.count else 0.0

    def __call__(self, y_true, y_pred):
        values = np.asarray(self.fn(y_true, y_pred))
        return float(values.mean())


_METRICS = {
    "mae": mean_absolute_error, "mean_absolute_error": mean_absolute_error,
    "mse": mean_squared_error, "mean_squared_error": mean_squared_error,
    "mape": lambda t, p: MeanAbsolutePercentageError().values(t, p),
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "binary_crossentropy": binary_crossentropy, "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "rmse": None,
}


class RootMeanSquaredError(Metric):
    def __init__(self, name="root_mean_squared_error"):
        super().__init__(mean_squared_error, name)

    def update_state(self, y_true, y_pred):
        y_true, y_pred = _match(y_true, y_pred)
        d = (y_pred - y_true).astype(np.float64)
        self.total += float((d * d).sum())
        self.count += d.size

    def result(self):
        return float(np.sqrt(self.total / self.count)) if self.count else 0.0


def get_metric(identifier, loss=None, y_true=None, y_pred=None):
    """A Metric from a Keras name; "accuracy"/"acc" picks the variant Keras picks from the
    shapes of y_true and y_pred (binary, sparse categorical or categorical)."""
    if isinstance(identifier, Metric):
        return identifier
    if callable(identifier) and not isinstance(identifier, str):
        return Metric(identifier, getattr(identifier, "__name__", "metric"))
    if identifier in ("accuracy", "acc"):
        if y_pred is not None and np.shape(y_pred)[-1] == 1:
            fn = binary_accuracy
        elif y_true is not None and y_pred is not None and (
                np.ndim(y_true) == np.ndim(y_pred) - 1 or np.shape(y_true)[-1] == 1):
            fn = sparse_categorical_accuracy
        elif isinstance(loss, SparseCategoricalCrossentropy):
            fn = sparse_categorical_accuracy
        else:
            fn = categorical_accuracy
        return Metric(fn, identifier)
    if identifier in ("rmse", "root_mean_squared_error", "RootMeanSquaredError"):
        return RootMeanSquaredError(identifier if identifier != "RootMeanSquaredError" else "root_mean_squared_error")
    fn = _METRICS.get(identifier)
    if fn is None:
        raise ValueError(f"Unknown metric {identifier!r}; known: accuracy, acc, "
                         f"{', '.join(sorted(k for k in _METRICS))}")
    return Metric(fn, identifier)
