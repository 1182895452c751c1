"""Weight regularizers with Keras 3's names, formulas, defaults and validation.

A regularizer maps a weight array to a penalty added to the loss: ``reg(w) -> float``. The
training loop also needs the penalty's gradient with respect to the weight, which
``reg.gradient(w)`` gives (same shape and dtype as ``w``), and ``reg.value_and_grad(w)`` both.

- ``L1(l1=0.01)``: ``l1 · sum(|w|)`` (gradient ``l1 · sign(w)``, 0 at 0).
- ``L2(l2=0.01)``: ``l2 · sum(w²)`` (gradient ``2 · l2 · w``).
- ``L1L2(l1=0.0, l2=0.0)``: both.
- ``OrthogonalRegularizer(factor=0.01, mode="rows")``: for a 2-D ``w``, its rows (or columns)
  L2-normalised into N (a norm below 1e-7 counts as 1e-7), then
  ``factor · 0.5 · sum(|N Nᵀ| off the diagonal) / (n (n - 1) / 2)``, n the number of rows
  (columns).

``get`` takes a name (``"l1"``, ``"l2"``, ``"l1l2"``, ``"l1_l2"``, ``"orthogonal_regularizer"``,
or a class name), a config dict, a class, an instance or None.

Example::

    >>> from pyrnn import regularizers
    >>> reg = regularizers.get("l2")
    >>> reg(np.ones((2, 2))), reg.gradient(np.ones((2, 2)))[0, 0]
    (0.04, 0.02)
"""

from __future__ import annotations

import math

import numpy as np

from ._keras_objects import Family

EPSILON = 1e-7


def validate_float_arg(value, name):
    if isinstance(value, bool) or not isinstance(value, (float, int, np.floating, np.integer)) \
            or math.isinf(value) or math.isnan(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float.Received: {name}={value}")
    return float(value)


class Regularizer:
    """Base class: ``__call__(w)`` the penalty (0 here), ``gradient(w)`` its gradient."""

    def __call__(self, x):
        return 0.0

    def gradient(self, x):
        """d penalty / d x (same shape and dtype as x)."""
        return np.zeros_like(np.asarray(x))

    def value_and_grad(self, x):
        return self(x), self.gradient(x)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} does not implement get_config()")

    def __repr__(self):
        try:
            return f"{type(self).__name__}({self.get_config()})"
        except NotImplementedError:
            return f"{type(self).__name__}()"


def _float(x):
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


class L1L2(Regularizer):
    """``l1 · sum(|x|) + l2 · sum(x²)`` (defaults 0: ``L1L2(l2=0.1)`` has no L1 part)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = validate_float_arg(0.0 if l1 is None else l1, name="l1")
        self.l2 = validate_float_arg(0.0 if l2 is None else l2, name="l2")

    def __call__(self, x):
        x = _float(x)
        value = 0.0
        if self.l1 != 0.0:
            value += self.l1 * float(np.sum(np.abs(x), dtype=np.float64))
        if self.l2 != 0.0:
            value += self.l2 * float(np.sum(np.square(x, dtype=np.float64)))
        return value

    def gradient(self, x):
        x = _float(x)
        g = np.zeros_like(x)
        if self.l1 != 0.0:
            g += x.dtype.type(self.l1) * np.sign(x)
        if self.l2 != 0.0:
            g += x.dtype.type(2 * self.l2) * x
        return g

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 · sum(|x|)``."""

    def __init__(self, l1=0.01):
        self.l1 = validate_float_arg(0.01 if l1 is None else l1, name="l1")

    def __call__(self, x):
        return self.l1 * float(np.sum(np.abs(_float(x)), dtype=np.float64))

    def gradient(self, x):
        x = _float(x)
        return x.dtype.type(self.l1) * np.sign(x)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 · sum(x²)``."""

    def __init__(self, l2=0.01):
        self.l2 = validate_float_arg(0.01 if l2 is None else l2, name="l2")

    def __call__(self, x):
        return self.l2 * float(np.sum(np.square(_float(x), dtype=np.float64)))

    def gradient(self, x):
        x = _float(x)
        return x.dtype.type(2 * self.l2) * x

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Penalises non-orthogonal rows (``mode="rows"``) or columns of a 2-D weight."""

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = validate_float_arg(factor, name="factor")
        if mode not in {"rows", "columns"}:
            raise ValueError(f'Invalid value for argument `mode`. Expected one of {{"rows", "columns"}}. '
                             f"Received: mode={mode}")
        self.mode = mode

    def _parts(self, x):
        x = _float(x)
        if x.ndim != 2:
            raise ValueError(f"Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape={x.shape}")
        a = x if self.mode == "rows" else x.T
        norms = np.linalg.norm(a, axis=1, keepdims=True)
        n = a / np.maximum(norms, a.dtype.type(EPSILON))
        product = n @ n.T
        size = a.shape[0]
        off = 1.0 - np.eye(size, dtype=a.dtype)
        num_pairs = size * (size - 1.0) / 2.0
        return x, a, norms, n, product, off, num_pairs

    def __call__(self, x):
        _, _, _, _, product, off, num_pairs = self._parts(x)
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(self.factor * 0.5 * np.sum(np.abs(product * off), dtype=np.float64) / num_pairs)

    def gradient(self, x):
        x, a, norms, n, product, off, num_pairs = self._parts(x)
        if num_pairs == 0:
            return np.zeros_like(x)
        c = a.dtype.type(self.factor * 0.5 / num_pairs)
        g_p = c * np.sign(product) * off           # d/dP, symmetric
        g_n = 2 * g_p @ n                          # d/dN
        eps = a.dtype.type(EPSILON)
        big = norms > eps
        g_a = np.where(big, (g_n - np.sum(g_n * n, axis=1, keepdims=True) * n) / np.where(big, norms, 1), g_n / eps)
        return (g_a if self.mode == "rows" else g_a.T).astype(x.dtype, copy=False)

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


l1, l2, l1_l2, l1l2, orthogonal_regularizer = L1, L2, L1L2, L1L2, OrthogonalRegularizer

_OBJECTS = {cls.__name__: cls for cls in (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)}
_OBJECTS.update({"regularizer": Regularizer, "l1": L1, "l2": L2, "l1l2": L1L2, "l1_l2": L1L2,
                 "orthogonal_regularizer": OrthogonalRegularizer})


_FAMILY = Family("regularizer", "keras.regularizers", _OBJECTS)
serialize, deserialize, get = _FAMILY.serialize, _FAMILY.deserialize, _FAMILY.get
