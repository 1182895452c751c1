"""Weight constraints with Keras 3's names, formulas and defaults.

A constraint maps a weight array to its projection: ``w = constraint(w)``, applied after every
optimizer step (the optimizer does it for the variables it was given constraints for, see
``Optimizer.build(..., constraints=...)``). Norms are L2 norms along ``axis`` (default 0: for
a Keras kernel of shape (input_dim, units), each unit's incoming weights).

- ``MaxNorm(max_value=2, axis=0)``: ``w · clip(norm, 0, max_value) / (1e-7 + norm)``.
- ``NonNeg()``: ``max(w, 0)``.
- ``UnitNorm(axis=0)``: ``w / (1e-7 + norm)``.
- ``MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0)``:
  ``w · (rate · clip(norm, min_value, max_value) + (1 - rate) · norm) / (1e-7 + norm)``.

``get`` takes a name (``"max_norm"``, ``"non_neg"``, ``"unit_norm"``, ``"min_max_norm"`` or a
class name), a config dict, a class, an instance (any callable) or None.
"""

from __future__ import annotations

import numpy as np

from ._keras_objects import Family

EPSILON = 1e-7


def _float(w):
    w = np.asarray(w)
    return w if w.dtype.kind == "f" else w.astype(np.float32)


def _norms(w, axis):
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    return np.sqrt(np.sum(np.square(w), axis=axis, keepdims=True))


class Constraint:
    """Base class: the identity."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class MaxNorm(Constraint):
    def __init__(self, max_value=2, axis=0):
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        w = _float(w)
        norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return (w * (desired / (w.dtype.type(EPSILON) + norms))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    def __call__(self, w):
        w = _float(w)
        return np.maximum(w, w.dtype.type(0))


class UnitNorm(Constraint):
    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = _float(w)
        return (w / (w.dtype.type(EPSILON) + _norms(w, self.axis))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        w = _float(w)
        norms = _norms(w, self.axis)
        desired = self.rate * np.clip(norms, self.min_value, self.max_value) + (1 - self.rate) * norms
        return (w * (desired / (w.dtype.type(EPSILON) + norms))).astype(w.dtype, copy=False)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_OBJECTS = {cls.__name__: cls for cls in (Constraint, MaxNorm, NonNeg, UnitNorm, MinMaxNorm)}
_OBJECTS.update({"constraint": Constraint, "max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
                 "min_max_norm": MinMaxNorm})


_FAMILY = Family("constraint", "keras.constraints", _OBJECTS)
serialize, deserialize, get = _FAMILY.serialize, _FAMILY.deserialize, _FAMILY.get
