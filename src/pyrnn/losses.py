"""Losses and metrics with Keras 3's names, aliases, defaults, reductions and sample weights.

A loss is a callable ``loss(y_true, y_pred, sample_weight=None)``: ``call`` (alias ``values``)
gives the per-sample values (the mean over the last axis, or the sum over classes for the
categorical cross-entropies), which are then weighted and reduced as Keras 3 does:

- ``sample_weight`` of any shape Keras accepts: a scalar, ``(batch,)``, ``(batch, 1)``,
  ``(batch, T)``, ``(batch, T, 1)``, or the values' own shape. A weight whose rank differs from
  the values' by a trailing axis of size 1 is squeezed or expanded (Keras's
  ``squeeze_or_expand_to_same_rank``), then the two broadcast. One extension: a ``(batch,)``
  weight for ``(batch, T)`` values (a sequence output) weights every time step of its sample.
- ``reduction``: ``"sum_over_batch_size"`` (default) and ``"mean"`` divide the weighted sum by
  the number of values, ``"sum"`` does not divide, ``"mean_with_sample_weight"`` divides by the
  sum of the weights (by the number of values without weights), ``None``/``"none"`` returns
  the weighted values.
- ``ignore_class`` (sparse categorical cross-entropy) masks those labels: their values are 0
  and, for ``"sum_over_batch_size"``/``"mean"``, the mean is over the other labels only.

Training uses ``value_and_grad(y_true, y_pred, sample_weight)``: the reduced loss (a float)
and its gradient with respect to ``y_pred`` (same shape and dtype), in one pass. With
reduction ``None`` it gives the sum of the weighted values and the gradient of that sum.

Labels are checked: sparse labels must be integers in ``[0, num_classes)`` (or
``ignore_class``), binary cross-entropy targets in ``[0, 1]``; anything else is a ValueError
naming the label and the valid range (Keras on PyTorch raises too; it never returns a loss).

Cross-entropies on probabilities clip them to [1e-7, 1 - 1e-7] as Keras does (the gradient is
zero where clipping bites); ``from_logits=True`` uses the exact log-softmax / log-sigmoid.
Computation is in y_pred's floating dtype (float32 for integer inputs) unless ``dtype`` is set.

Example::

    >>> from pyrnn import losses
    >>> losses.get("mse")(np.array([[1.0], [2.0]]), np.array([[1.5], [2.0]]))
    0.125
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-7
_REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


def standardize_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction`. Expected one of {set(_REDUCTIONS)}. "
                         f"Received: reduction={reduction!r}")
    return reduction


def _float_dtype(y_pred, dtype):
    if dtype is not None:
        dt = np.dtype(dtype) if not isinstance(dtype, str) or dtype != "bfloat16" else None
        if dt is None or dt not in (np.float16, np.float32, np.float64):
            raise ValueError(f"loss dtype must be float16, float32 or float64, got {dtype!r}")
        return dt
    y_pred = np.asarray(y_pred)
    return y_pred.dtype if y_pred.dtype in (np.float16, np.float32, np.float64) else np.dtype(np.float32)


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras's rule: when the ranks differ by one and the longer has a trailing axis of size 1,
    squeeze it (or, when the other is 1-D, expand that one instead)."""
    r1, r2 = np.ndim(x1), np.ndim(x2)
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and np.shape(x1)[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = np.expand_dims(x2, -1)
        else:
            x1 = np.squeeze(x1, -1)
    if r2 == r1 + 1 and np.shape(x2)[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = np.expand_dims(x1, -1)
        else:
            x2 = np.squeeze(x2, -1)
    return x1, x2


def _match(y_true, y_pred):
    """y_true and y_pred brought to one shape (Keras's squeeze/expand, then a reshape when the
    sizes agree); different shapes are a ValueError."""
    y_pred = np.asarray(y_pred)
    if y_pred.dtype not in (np.float16, np.float32, np.float64):
        y_pred = y_pred.astype(np.float32)
    y_true = np.asarray(y_true, dtype=y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        if y_true.size != y_pred.size:
            raise ValueError(f"Arguments `y_true` and `y_pred` must have the same shape. Received: "
                             f"y_true.shape={y_true.shape}, y_pred.shape={y_pred.shape}")
        y_true = y_true.reshape(y_pred.shape)
    return y_true, y_pred


def _sum_to_shape(x, shape):
    """Sum ``x`` over the axes along which ``shape`` was broadcast to x.shape."""
    if x.shape == tuple(shape):
        return x
    lead = x.ndim - len(shape)
    if lead:
        x = x.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, (a, b) in enumerate(zip(x.shape, shape)) if b == 1 and a != 1)
    return x.sum(axis=axes, keepdims=True) if axes else x


def _align(values, sw):
    """Keras's squeeze/expand of the weights against ``values``; then a (batch,) weight of
    values with more axes (a sequence output) weights every step of its sample."""
    values, sw = squeeze_or_expand_to_same_rank(values, sw)
    if sw.ndim == 1 and values.ndim >= 2 and sw.shape[0] == values.shape[0]:
        sw = sw.reshape(sw.shape + (1,) * (values.ndim - 1))
    return values, sw


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size",
                           need_grad=False):
    """Keras 3's reduce_weighted_values on NumPy arrays: (loss, dloss/dvalues or None).

    ``loss`` is a float, or the weighted values (an array) for reduction None/"none"; the
    gradient is then that of their sum."""
    reduction = standardize_reduction(reduction)
    values = np.asarray(values)
    dtype = values.dtype
    sw = None if sample_weight is None else np.asarray(sample_weight, dtype=dtype)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if reduction in ("mean", "sum_over_batch_size"):
            valid = int(mask.sum())
            float_mask = np.where(mask, dtype.type(mask.size / valid) if valid else 0, 0).astype(dtype)
        else:
            float_mask = mask.astype(dtype)
        if sw is not None:
            float_mask, sw = _align(float_mask, sw)
            sw = sw * float_mask
        else:
            sw = float_mask
    v = values
    if sw is not None:
        try:
            v, sw = _align(values, sw)
            weighted = v * sw
        except ValueError:
            raise ValueError(f"sample_weight of shape {np.shape(sample_weight)} cannot be applied to loss values of "
                             f"shape {values.shape}: give a scalar, (batch,), (batch, 1), the values' shape, "
                             f"or that shape with a trailing 1") from None
    else:
        weighted = v
    if reduction in (None, "none") or weighted.shape in ((), (0,)):
        loss, scale = weighted, 1.0
        if weighted.shape in ((), (0,)) and reduction not in (None, "none"):
            loss = float(weighted.sum()) if weighted.shape == () else weighted
    else:
        total = float(weighted.sum(dtype=np.float64))
        scale = 1.0
        if reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
            div = float(sw.sum(dtype=np.float64)) if reduction == "mean_with_sample_weight" and sw is not None \
                else weighted.size
            scale = 1.0 / div if div else 0.0
        loss = total * scale
    if not need_grad:
        return loss, None
    if sw is None:
        grad = np.full(values.shape, scale, dtype)
    else:
        grad = _sum_to_shape(np.broadcast_to(sw, weighted.shape) * dtype.type(scale), v.shape)
        grad = np.ascontiguousarray(grad, dtype=dtype).reshape(values.shape)
    return loss, grad


class Loss:
    """Base class, as keras.losses.Loss: ``name``, ``reduction``, ``dtype``.

    Subclasses implement ``_compute(y_true, y_pred, need_grad)`` on converted arrays and
    return (values, gradient of values.sum() with respect to y_pred or None, mask or None);
    the values have y_pred's shape without the reduced axis ``self._axis`` (default -1)."""

    name = "loss"
    _axis = -1

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or type(self).name
        self.reduction = standardize_reduction(reduction)
        if dtype is not None:
            _float_dtype(None, dtype)
        self.dtype = dtype

    # --------------------------------------------------------------- conversion
    def _prepare(self, y_true, y_pred):
        """(y_true, y_pred) as float arrays of one shape (Keras's squeeze/expand rule)."""
        dt = _float_dtype(y_pred, self.dtype)
        y_pred = np.asarray(y_pred, dtype=dt)
        y_true = np.asarray(y_true, dtype=dt)
        return _match(y_true, y_pred)

    def _compute(self, y_true, y_pred, need_grad):
        raise NotImplementedError(f"{type(self).__name__} gives no values: implement _compute")

    def _forward(self, y_true, y_pred, need_grad):
        """(values, gradient of their sum in the prepared layout, mask, prepared y_pred ndim,
        y_pred's original shape and output dtype)."""
        shape = np.shape(y_pred)
        out_dtype = np.asarray(y_pred).dtype
        if out_dtype not in (np.float16, np.float32, np.float64):
            out_dtype = np.dtype(np.float32)
        if type(self).call is not Loss.call and type(self)._compute is Loss._compute:
            # a Keras-style subclass that overrides call(y_true, y_pred): values, no gradient
            if need_grad:
                raise NotImplementedError(
                    f"{type(self).__name__} overrides call() but gives no gradient: for training, implement "
                    "_compute(y_true, y_pred, need_grad) returning (values, d values.sum() / d y_pred, None)")
            return np.asarray(self.call(y_true, y_pred)), None, None, (np.ndim(y_pred), shape, out_dtype)
        t, p = self._prepare(y_true, y_pred)
        values, grad, mask = self._compute(t, p, need_grad)
        return np.asarray(values), grad, mask, (p.ndim, shape, out_dtype)

    # --------------------------------------------------------------- Keras API
    def call(self, y_true, y_pred):
        """Per-sample loss values (y_pred's shape without the reduced axis), unweighted."""
        return self._forward(y_true, y_pred, False)[0]

    values = call

    def values_and_grad(self, y_true, y_pred, need_grad=True):
        """(per-sample values, gradient of their sum with respect to y_pred)."""
        values, grad, _, (_, shape, dtype) = self._forward(y_true, y_pred, need_grad)
        return values, (None if grad is None else grad.reshape(shape).astype(dtype, copy=False))

    def __call__(self, y_true, y_pred, sample_weight=None):
        values, _, mask, _ = self._forward(y_true, y_pred, False)
        return reduce_weighted_values(values, sample_weight, mask, self.reduction)[0]

    def value_and_grad(self, y_true, y_pred, sample_weight=None):
        """(reduced loss, dloss/dy_pred): what training needs, in one pass."""
        values, grad, mask, (ndim, shape, dtype) = self._forward(y_true, y_pred, True)
        loss, dv = reduce_weighted_values(values, sample_weight, mask, self.reduction, need_grad=True)
        if not isinstance(loss, float):
            loss = float(np.sum(loss))
        if ndim:
            axis = self._axis % ndim
            dv = dv.reshape(dv.shape[:axis] + (1,) + dv.shape[axis:])
        grad = grad * dv.astype(grad.dtype, copy=False)
        return loss, grad.reshape(shape).astype(dtype, copy=False)

    def get_config(self):
        config = {"name": self.name, "reduction": self.reduction}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


def _moved(x, axis):
    return x if axis in (-1, x.ndim - 1) else np.moveaxis(x, axis, -1)


def _unmoved(g, axis):
    return g if g is None or axis in (-1, g.ndim - 1) else np.moveaxis(g, -1, axis)


# ---------------------------------------------------------------------- regression
class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _compute(self, t, p, need_grad):
        diff = p - t
        n = diff.shape[-1] if diff.ndim else 1
        values = np.mean(diff * diff, axis=-1)
        return values, (diff * diff.dtype.type(2.0 / n) if need_grad else None), None

    def value_and_grad(self, y_true, y_pred, sample_weight=None):  # the common case, lean: no per-sample array
        if (sample_weight is not None or self.reduction != "sum_over_batch_size" or self.dtype is not None
                or type(y_true) is not np.ndarray or type(y_pred) is not np.ndarray
                or y_true.shape != y_pred.shape or y_true.dtype != y_pred.dtype or y_pred.ndim < 2
                or y_pred.dtype not in (np.float32, np.float64)):
            return super().value_and_grad(y_true, y_pred, sample_weight)
        diff = y_pred - y_true
        loss = float(np.vdot(diff, diff)) / diff.size
        diff *= diff.dtype.type(2.0 / diff.size)
        return loss, diff


class MeanAbsoluteError(Loss):
    name = "mean_absolute_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _compute(self, t, p, need_grad):
        diff = p - t
        n = diff.shape[-1] if diff.ndim else 1
        return np.mean(np.abs(diff), axis=-1), (np.sign(diff) / diff.dtype.type(n) if need_grad else None), None


class MeanAbsolutePercentageError(Loss):
    name = "mean_absolute_percentage_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _compute(self, t, p, need_grad):
        diff = p - t
        n = diff.shape[-1] if diff.ndim else 1
        scale = 100.0 / np.maximum(np.abs(t), t.dtype.type(EPSILON))
        values = np.mean(np.abs(diff) * scale, axis=-1)
        return values, (np.sign(diff) * scale / n if need_grad else None), None


class MeanSquaredLogarithmicError(Loss):
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))², axis=-1)."""

    name = "mean_squared_logarithmic_error"

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _compute(self, t, p, need_grad):
        eps = p.dtype.type(EPSILON)
        pm = np.maximum(p, eps)
        d = np.log(pm + 1) - np.log(np.maximum(t, eps) + 1)
        n = d.shape[-1] if d.ndim else 1
        grad = np.where(p > eps, 2 * d / (pm + 1), 0) / n if need_grad else None
        return np.mean(d * d, axis=-1), grad, None


class Huber(Loss):
    """mean(0.5·e² where |e| <= delta, else delta·|e| - 0.5·delta²), e = y_pred - y_true."""

    name = "huber_loss"

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.delta = float(delta)

    def _compute(self, t, p, need_grad):
        diff = p - t
        a, d = np.abs(diff), p.dtype.type(self.delta)
        n = diff.shape[-1] if diff.ndim else 1
        values = np.mean(np.where(a <= d, 0.5 * diff * diff, d * a - 0.5 * d * d), axis=-1)
        grad = np.where(a <= d, diff, d * np.sign(diff)) / n if need_grad else None
        return values, grad, None

    def get_config(self):  # Keras leaves delta out (so its round trip loses it); kept here
        return {**super().get_config(), "delta": self.delta}


class LogCosh(Loss):
    """mean(log(cosh(y_pred - y_true)), axis=-1), computed as x + softplus(-2x) - log 2."""

    name = "log_cosh"

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _compute(self, t, p, need_grad):
        x = p - t
        n = x.shape[-1] if x.ndim else 1
        values = np.mean(x + np.logaddexp(0, -2 * x) - np.log(2.0).astype(x.dtype), axis=-1)
        return values, (np.tanh(x) / n if need_grad else None), None


class CosineSimilarity(Loss):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis); a norm below 1e-7 counts as 1e-7."""

    name = "cosine_similarity"

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.axis = self._axis = int(axis)

    def _compute(self, t, p, need_grad):
        t, p = _moved(t, self.axis), _moved(p, self.axis)
        eps = p.dtype.type(EPSILON)
        tn = t / np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), eps)
        norm = np.linalg.norm(p, axis=-1, keepdims=True)
        pn = p / np.maximum(norm, eps)
        values = -np.sum(tn * pn, axis=-1)
        grad = None
        if need_grad:
            big = norm > eps
            grad = np.where(big, -(tn - np.sum(tn * pn, axis=-1, keepdims=True) * pn) / np.where(big, norm, 1),
                            -tn / eps)
        return values, _unmoved(grad, self.axis), None

    def get_config(self):  # Keras leaves axis out; kept here
        return {**super().get_config(), "axis": self.axis}


# ---------------------------------------------------------------------- hinge
def _hinge_labels(t):
    """Keras: labels all in {0, 1} become -1/1; any other labels are used as given."""
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


class Hinge(Loss):
    """mean(max(1 - y_true·y_pred, 0), axis=-1); 0/1 labels are mapped to -1/1."""

    name = "hinge"

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    _power = 1

    def _compute(self, t, p, need_grad):
        t = _hinge_labels(t)
        m = np.maximum(1 - t * p, 0)
        n = m.shape[-1] if m.ndim else 1
        if self._power == 1:
            values = np.mean(m, axis=-1)
            grad = np.where(m > 0, -t, 0) / n if need_grad else None
        else:
            values = np.mean(m * m, axis=-1)
            grad = -2 * m * t / n if need_grad else None
        return values, (None if grad is None else grad.astype(p.dtype, copy=False)), None


class SquaredHinge(Hinge):
    """mean(max(1 - y_true·y_pred, 0)², axis=-1); 0/1 labels are mapped to -1/1."""

    name = "squared_hinge"
    _power = 2

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)


class CategoricalHinge(Loss):
    """max(neg - pos + 1, 0), pos = sum(y_true·y_pred), neg = max((1 - y_true)·y_pred)."""

    name = "categorical_hinge"

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _compute(self, t, p, need_grad):
        pos = np.sum(t * p, axis=-1)
        q = (1 - t) * p
        neg = np.max(q, axis=-1)
        values = np.maximum(neg - pos + 1, 0)
        grad = None
        if need_grad:
            arg = np.argmax(q, axis=-1)[..., None]
            pick = np.arange(p.shape[-1]) == arg
            active = (values > 0)[..., None]
            grad = np.where(active, np.where(pick, 1 - t, 0) - t, 0).astype(p.dtype, copy=False)
        return values, grad, None


# ---------------------------------------------------------------------- probabilistic
class KLDivergence(Loss):
    """sum(y_true·log(y_true / y_pred), axis=-1), both clipped to [1e-7, 1]."""

    name = "kl_divergence"

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _compute(self, t, p, need_grad):
        eps = p.dtype.type(EPSILON)
        tc, pc = np.clip(t, eps, 1), np.clip(p, eps, 1)
        values = np.sum(tc * np.log(tc / pc), axis=-1)
        grad = np.where((p >= eps) & (p <= 1), -tc / pc, 0).astype(p.dtype, copy=False) if need_grad else None
        return values, grad, None


class Poisson(Loss):
    """mean(y_pred - y_true·log(y_pred + 1e-7), axis=-1)."""

    name = "poisson"

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _compute(self, t, p, need_grad):
        eps = p.dtype.type(EPSILON)
        n = p.shape[-1] if p.ndim else 1
        values = np.mean(p - t * np.log(p + eps), axis=-1)
        return values, ((1 - t / (p + eps)) / n if need_grad else None), None


def _log_sigmoid(x):
    return -np.logaddexp(0, -x)


def _sigmoid(x):
    return np.exp(_log_sigmoid(x))


def _check_binary_targets(name, t):
    bad = (t < 0) | (t > 1) | np.isnan(t)
    if bad.any():
        value = t[bad].flat[0]
        raise ValueError(f"{name}: targets must be in [0, 1] (probabilities or 0/1 labels), got {value:g}; "
                         f"for integer class labels use sparse_categorical_crossentropy")


class BinaryCrossentropy(Loss):
    """mean over ``axis`` of -(t·log p + (1 - t)·log(1 - p)); t smoothed to t(1 - s) + s/2."""

    name = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits, self.label_smoothing = bool(from_logits), float(label_smoothing)
        self.axis = self._axis = int(axis)

    def _targets(self, t):
        _check_binary_targets(self.name, t)
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        return t

    def _compute(self, t, p, need_grad):
        t = self._targets(t)
        elem, grad = _bce(t, p, self.from_logits, need_grad)
        axis = self.axis
        n = p.shape[axis] if p.ndim else 1
        return np.mean(elem, axis=axis), (None if grad is None else grad / p.dtype.type(n)), None

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


def _bce(t, p, from_logits, need_grad):
    """Elementwise binary cross-entropy and its derivative with respect to p (or the logits)."""
    if from_logits:
        elem = -(t * _log_sigmoid(p) + (1 - t) * _log_sigmoid(-p))
        grad = _sigmoid(p) - t if need_grad else None
    else:
        eps = p.dtype.type(EPSILON)
        pc = np.clip(p, eps, 1 - eps)
        elem = -(t * np.log(pc) + (1 - t) * np.log1p(-pc))
        grad = None
        if need_grad:
            inside = (p >= eps) & (p <= 1 - eps)
            grad = np.where(inside, (pc - t) / (pc * (1 - pc)), 0)
    return elem.astype(p.dtype, copy=False), (None if grad is None else grad.astype(p.dtype, copy=False))


class BinaryFocalCrossentropy(BinaryCrossentropy):
    """mean over ``axis`` of w·(1 - p_t)^gamma·bce, p_t = t·p + (1 - t)(1 - p); with
    ``apply_class_balancing`` w = t·alpha + (1 - t)(1 - alpha), else 1. With logits, p = sigmoid."""

    name = "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                 axis=-1, reduction="sum_over_batch_size", name="binary_focal_crossentropy", dtype=None):
        super().__init__(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis, reduction=reduction,
                         name=name, dtype=dtype)
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha, self.gamma = float(alpha), float(gamma)

    def _compute(self, t, p, need_grad):
        t = self._targets(t)
        z = p
        if self.from_logits:
            p = _sigmoid(z).astype(z.dtype, copy=False)
        bce, dbce = _bce(t, p, False, need_grad)
        one_minus = np.maximum(1 - (t * p + (1 - t) * (1 - p)), 0)
        g = self.gamma
        focal = one_minus ** g
        w = t * self.alpha + (1 - t) * (1 - self.alpha) if self.apply_class_balancing else 1
        elem = w * focal * bce
        n = p.shape[self.axis] if p.ndim else 1
        grad = None
        if need_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                dfocal = np.where(one_minus > 0, g * one_minus ** (g - 1), g if g == 1 else 0)
            grad = w * (dfocal * -(2 * t - 1) * bce + focal * dbce)
            if self.from_logits:
                grad = grad * p * (1 - p)
            grad = grad.astype(z.dtype, copy=False) / z.dtype.type(n)
        return np.mean(elem, axis=self.axis).astype(z.dtype, copy=False), grad, None

    def get_config(self):
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha,
                "gamma": self.gamma}


class CategoricalCrossentropy(Loss):
    """-sum(t·log p) over ``axis``; probabilities are renormalised and clipped as Keras does,
    t smoothed to t(1 - s) + s/num_classes."""

    name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits, self.label_smoothing = bool(from_logits), float(label_smoothing)
        if isinstance(axis, bool):
            raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")
        self.axis = self._axis = int(axis)

    def _prepare(self, y_true, y_pred):
        dt = _float_dtype(y_pred, self.dtype)
        y_pred = np.asarray(y_pred, dtype=dt)
        y_true = np.asarray(y_true, dtype=dt)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: arguments `target` and `output` must have the same shape. Received: "
                             f"target.shape={y_true.shape}, output.shape={y_pred.shape}")
        if y_pred.ndim < 1:
            raise ValueError(f"{self.name}: arguments must be at least rank 1, got shape {y_pred.shape}")
        return y_true, y_pred

    def _compute(self, t, p, need_grad):
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + self.label_smoothing / t.shape[-1]
        values, grad = _cce(_moved(t, self.axis), _moved(p, self.axis), self.from_logits, need_grad)
        return values, _unmoved(grad, self.axis), None

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


class CategoricalFocalCrossentropy(CategoricalCrossentropy):
    """sum over ``axis`` of alpha·(1 - p)^gamma·(-t·log p), p the renormalised, clipped
    probabilities (softmax of the logits with ``from_logits``)."""

    name = "categorical_focal_crossentropy"

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy", dtype=None):
        super().__init__(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis, reduction=reduction,
                         name=name, dtype=dtype)
        self.alpha, self.gamma = float(alpha), float(gamma)

    def _compute(self, t, p, need_grad):
        if self.label_smoothing:
            t = t * (1 - self.label_smoothing) + self.label_smoothing / t.shape[-1]
        t, y = _moved(t, self.axis), _moved(p, self.axis)
        if self.from_logits:
            e = np.exp(y - y.max(axis=-1, keepdims=True))
            q = e / e.sum(axis=-1, keepdims=True)
        else:
            q = y
        eps, a, g = y.dtype.type(EPSILON), self.alpha, self.gamma
        s = q.sum(axis=-1, keepdims=True)
        o = q / s
        oc = np.clip(o, eps, 1 - eps)
        cce = -t * np.log(oc)
        mod = (1 - oc) ** g
        values = np.sum(a * mod * cce, axis=-1).astype(y.dtype, copy=False)
        grad = None
        if need_grad:
            g_oc = a * (g * (1 - oc) ** (g - 1) * t * np.log(oc) - mod * t / oc)
            g_o = np.where((o >= eps) & (o <= 1 - eps), g_oc, 0)
            g_q = (g_o - (g_o * o).sum(axis=-1, keepdims=True)) / s
            grad = q * (g_q - (g_q * q).sum(axis=-1, keepdims=True)) if self.from_logits else g_q
            grad = _unmoved(grad.astype(y.dtype, copy=False), self.axis)
        return values, grad, None

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma}


def _cce(t, y, from_logits, need_grad):
    """Categorical cross-entropy over the last axis and its gradient with respect to y."""
    if from_logits:
        shifted = y - y.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        values = -(t * log_p).sum(axis=-1)
        grad = np.exp(log_p) * t.sum(axis=-1, keepdims=True) - t if need_grad else None
    else:
        eps = y.dtype.type(EPSILON)
        s = y.sum(axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):  # an all-zero row (an ignored label) gives nan, masked
            p = y / s
        pc = np.clip(p, eps, 1 - eps)
        values = -(t * np.log(pc)).sum(axis=-1)
        grad = None
        if need_grad:
            gp = np.where((p >= eps) & (p <= 1 - eps), -t / pc, 0)
            grad = (gp - (gp * p).sum(axis=-1, keepdims=True)) / s
    return values.astype(y.dtype, copy=False), (None if grad is None else grad.astype(y.dtype, copy=False))


class SparseCategoricalCrossentropy(Loss):
    """Integer class ids (y_pred's shape without the class axis, or with a 1 there) against
    class scores. Labels outside [0, num_classes) are a ValueError; ``ignore_class`` labels
    count for nothing (value 0, left out of the mean)."""

    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", axis=-1,
                 name="sparse_categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self.axis = self._axis = int(axis)

    def _prepare(self, y_true, y_pred):
        dt = _float_dtype(y_pred, self.dtype)
        y_pred = np.asarray(y_pred, dtype=dt)
        return _sparse_labels(self.name, y_true, y_pred, self.axis, self.ignore_class), y_pred

    def _compute(self, ids, y, need_grad):
        axis = self.axis
        ym = _moved(y, axis)
        mask = None
        if self.ignore_class is not None:
            mask = ids != self.ignore_class
            ids = np.where(mask, ids, 0)
            ym = np.where(mask[..., None], ym, 0)
        t = (ids[..., None] == np.arange(ym.shape[-1])).astype(ym.dtype)
        values, grad = _cce(t, ym, self.from_logits, need_grad)
        if mask is not None:
            values = np.where(mask, values, 0).astype(ym.dtype, copy=False)
            if grad is not None:
                grad = np.where(mask[..., None], grad, 0).astype(ym.dtype, copy=False)
            if mask.all():
                mask = None
        return values, _unmoved(grad, axis), mask

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits, "ignore_class": self.ignore_class,
                "axis": self.axis}


def _sparse_labels(name, y_true, y_pred, axis=-1, ignore_class=None):
    """Integer labels of shape y_pred.shape without the class axis, validated."""
    ids = np.asarray(y_true)
    if ids.ndim == y_pred.ndim and ids.ndim and ids.shape[axis] == 1:
        ids = np.squeeze(ids, axis=axis)
    expected = tuple(np.delete(np.array(y_pred.shape), axis % max(y_pred.ndim, 1))) if y_pred.ndim else ()
    if ids.shape != expected:
        raise ValueError(f"{name}: arguments `target` and `output` must have the same shape up until the class "
                         f"axis: target.shape={ids.shape}, output.shape={y_pred.shape}")
    k = y_pred.shape[axis]
    if ids.dtype.kind == "b":
        raise ValueError(f"{name}: labels must be integer class ids, got booleans")
    if ids.dtype.kind not in "iu":
        if ids.dtype.kind != "f":
            raise ValueError(f"{name}: labels must be integer class ids, got dtype {ids.dtype}")
        if not np.all(np.isfinite(ids)) or np.any(ids != np.round(ids)):
            bad = ids[~np.isfinite(ids) | (ids != np.round(ids))].flat[0]
            raise ValueError(f"{name}: labels must be integer class ids, got {bad:g}")
        ids = ids.astype(np.int64)
    ids = ids.astype(np.int64, copy=False)
    bad = (ids < 0) | (ids >= k)
    if ignore_class is not None:
        bad &= ids != ignore_class
    if bad.any():
        label = int(ids[bad].flat[0])
        extra = f" or ignore_class={ignore_class}" if ignore_class is not None else ""
        raise ValueError(f"{name}: label {label} is out of range for {k} classes: valid labels are 0 to {k - 1}"
                         f"{extra} (y_pred has {k} class scores on its last axis)")
    return ids


# ---------------------------------------------------------------------- lookup
_FUNCTION_OF: dict = {}  # function -> Loss class (filled below)

_LOSSES: dict[str, type] = {
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError,
    "huber": Huber, "huber_loss": Huber,
    "log_cosh": LogCosh, "logcosh": LogCosh,
    "cosine_similarity": CosineSimilarity,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "KLD": KLDivergence,
    "kullback_leibler_divergence": KLDivergence,
    "poisson": Poisson,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy, "cce": CategoricalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
for _cls in set(_LOSSES.values()):
    _LOSSES[_cls.__name__] = _cls


def deserialize(config, custom_objects=None):
    """A Loss from ``serialize``'s output (Keras's {"class_name", "config", ...} dict, or a name)."""
    objects = {**_LOSSES, **(custom_objects or {})}
    if isinstance(config, str):
        if config not in objects:
            raise ValueError(f"Unknown loss {config!r}; known: {sorted(k for k in _LOSSES if k.islower())}")
        obj = objects[config]
        return obj() if isinstance(obj, type) else obj
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not interpret loss config {config!r}: expected a dict with 'class_name' and 'config'")
    name = config["class_name"]
    if name == "function":
        fn = config["config"]
        if fn in _FUNCTIONS:
            return _FUNCTIONS[fn]
        raise ValueError(f"Unknown loss function {fn!r}; known: {sorted(_FUNCTIONS)}")
    cls = objects.get(name)
    if cls is None or not (isinstance(cls, type) and issubclass(cls, Loss)):
        raise ValueError(f"Unknown loss class {name!r}; known: {sorted(k for k in _LOSSES if not k.islower())}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """A Loss instance (what training needs: ``value_and_grad``) from a Keras name or alias,
    a Loss class or instance, one of this module's loss functions, or a config dict.

    Keras's ``get("mse")`` returns the function; here strings give the Loss instance."""
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier) and identifier in _FUNCTION_OF:
        return _FUNCTION_OF[identifier]()
    if isinstance(identifier, str) and identifier in _LOSSES:
        loss = _LOSSES[identifier]()
        loss.name = identifier if identifier.islower() and len(identifier) > 4 else loss.name
        return loss
    if isinstance(identifier, dict):
        loss = deserialize(identifier)
        return _FUNCTION_OF[loss]() if not isinstance(loss, Loss) else loss
    raise ValueError(f"Unknown loss {identifier!r}; known: {sorted(k for k in _LOSSES if k.islower())} "
                     f"(a custom function has no gradient here: subclass pyrnn.losses.Loss)")


def serialize(loss):
    """Keras's format: {"module", "class_name", "config", "registered_name"}."""
    if isinstance(loss, Loss):
        return {"module": "keras.losses", "class_name": type(loss).__name__, "config": loss.get_config(),
                "registered_name": None}
    if callable(loss) and getattr(loss, "__name__", None) in _FUNCTIONS:
        return {"module": "keras.losses", "class_name": "function", "config": loss.__name__,
                "registered_name": "function"}
    raise ValueError(f"cannot serialize loss {loss!r}")


# ---------------------------------------------------------------------- functional forms
# per-sample values (unreduced, unweighted), as keras.losses.mean_squared_error etc.
def mean_squared_error(y_true, y_pred):
    return MeanSquaredError().call(y_true, y_pred)


def mean_absolute_error(y_true, y_pred):
    return MeanAbsoluteError().call(y_true, y_pred)


def mean_absolute_percentage_error(y_true, y_pred):
    return MeanAbsolutePercentageError().call(y_true, y_pred)


def mean_squared_logarithmic_error(y_true, y_pred):
    return MeanSquaredLogarithmicError().call(y_true, y_pred)


def huber(y_true, y_pred, delta=1.0):
    return Huber(delta=delta).call(y_true, y_pred)


def log_cosh(y_true, y_pred):
    return LogCosh().call(y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1):
    return CosineSimilarity(axis=axis).call(y_true, y_pred)


def hinge(y_true, y_pred):
    return Hinge().call(y_true, y_pred)


def squared_hinge(y_true, y_pred):
    return SquaredHinge().call(y_true, y_pred)


def categorical_hinge(y_true, y_pred):
    return CategoricalHinge().call(y_true, y_pred)


def kl_divergence(y_true, y_pred):
    return KLDivergence().call(y_true, y_pred)


def poisson(y_true, y_pred):
    return Poisson().call(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    return BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis).call(y_true, y_pred)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                              label_smoothing=0.0, axis=-1):
    return BinaryFocalCrossentropy(apply_class_balancing, alpha, gamma, from_logits, label_smoothing,
                                   axis).call(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    return CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing,
                                   axis=axis).call(y_true, y_pred)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    return CategoricalFocalCrossentropy(alpha, gamma, from_logits, label_smoothing, axis).call(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    return SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=ignore_class,
                                         axis=axis).call(y_true, y_pred)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh

_FUNCTIONS = {f.__name__: f for f in (
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error, huber,
    log_cosh, cosine_similarity, hinge, squared_hinge, categorical_hinge, kl_divergence, poisson, binary_crossentropy,
    binary_focal_crossentropy, categorical_crossentropy, categorical_focal_crossentropy,
    sparse_categorical_crossentropy)}
_FUNCTION_OF.update({f: _LOSSES[name] for name, f in _FUNCTIONS.items()})


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
        self.total, self.count = 0.0, 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        self._add(np.asarray(self.fn(y_true, y_pred), dtype=np.float64), sample_weight)

    def _add(self, values, sample_weight):
        """Keras's Mean over samples: each sample's value is the mean over its other axes; with
        ``sample_weight`` (per sample, or per sample and step) the sum of value * weight over
        the sum of the weights."""
        rest = lambda a: a.reshape(len(a), -1).mean(axis=1) if a.ndim > 1 else a
        if sample_weight is None:
            self.total += float(rest(values).sum())
            self.count += float(len(values)) if values.ndim else 1.0
            return
        sw = np.asarray(sample_weight, dtype=np.float64)
        values, sw = squeeze_or_expand_to_same_rank(values, sw)
        if values.ndim > sw.ndim:  # a per-sample weight of a sequence of values
            values = values.mean(axis=tuple(range(sw.ndim, values.ndim)))
        sw = np.broadcast_to(sw, values.shape)
        self.total += float(rest(values * sw).sum())
        self.count += float(rest(sw).sum())

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

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = _match(y_true, y_pred)
        d = (y_pred - y_true).astype(np.float64)
        self._add(d * d, sample_weight)

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
