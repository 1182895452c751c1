"""Activations with their derivatives, by Keras name.

``get(name)`` returns an ``Activation`` with ``forward(x) -> y`` and
``backward(grad_y, x, y) -> grad_x``; the derivative uses the saved output where it can.
The activations the recurrent kernels also run (tanh, relu, sigmoid, linear, hard_sigmoid)
come from the spine's registry (``pyrnn._recurrent.ACTIVATIONS``): one definition each.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._recurrent import ACTIVATIONS as _RECURRENT


class Activation:
    def __init__(self, name, forward, backward):
        self.name, self.forward, self.backward = name, forward, backward

    def __call__(self, x):
        return self.forward(x)

    def __repr__(self):
        return f"Activation({self.name!r})"


def _sigmoid(x):
    return _RECURRENT["sigmoid"].forward(x).astype(x.dtype, copy=False)


def _from_registry(name):
    spec = _RECURRENT[name]
    return spec.forward, lambda g, x, y: g * spec.derivative(y)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_backward(g, x, y):
    return y * (g - (g * y).sum(axis=-1, keepdims=True))


_SELU_A, _SELU_S = 1.6732632423543772, 1.0507009873554805

_TABLE = {
    **{name: _from_registry(name) for name in _RECURRENT},
    "softmax": (_softmax, _softmax_backward),
    "softplus": (lambda x: np.logaddexp(0, x).astype(x.dtype, copy=False), lambda g, x, y: g * _sigmoid(x)),
    "softsign": (lambda x: x / (1 + np.abs(x)), lambda g, x, y: g / (1 + np.abs(x)) ** 2),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), lambda g, x, y: g * np.where(x > 0, 1, y + 1)),
    "selu": (lambda x: _SELU_S * np.where(x > 0, x, _SELU_A * np.expm1(np.minimum(x, 0))),
             lambda g, x, y: g * np.where(x > 0, _SELU_S, y + _SELU_S * _SELU_A)),
    "exponential": (np.exp, lambda g, x, y: g * y),
    "swish": (lambda x: x * _sigmoid(x), lambda g, x, y: g * (_sigmoid(x) * (1 + x * (1 - _sigmoid(x))))),
}
_TABLE["silu"] = _TABLE["swish"]


def names() -> tuple[str, ...]:
    """Every activation name ``get`` knows (Keras's names)."""
    return tuple(sorted(_TABLE))


def get(identifier: Any) -> Activation:
    """An Activation from a Keras name (None means linear) or an Activation."""
    if identifier is None:
        identifier = "linear"
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str) and identifier in _TABLE:
        f, b = _TABLE[identifier]
        return Activation(identifier, f, b)
    if not isinstance(identifier, str):
        raise TypeError(f"activation must be a str (a Keras name), None or an Activation, "
                        f"got {type(identifier).__name__}")
    raise ValueError(f"activation must be one of {sorted(_TABLE)}, got {identifier!r}")
