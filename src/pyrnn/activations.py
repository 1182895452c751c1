"""Activations with their derivatives, by Keras name.

``get(name)`` returns an ``Activation`` with ``forward(x) -> y`` and
``backward(grad_y, x, y) -> grad_x``; the derivative uses the saved output where it can.
"""

from __future__ import annotations

import numpy as np


class Activation:
    def __init__(self, name, forward, backward):
        self.name, self.forward, self.backward = name, forward, backward

    def __call__(self, x):
        return self.forward(x)

    def __repr__(self):
        return f"Activation({self.name!r})"


def _sigmoid(x):
    # exp of a non-positive number only: no overflow warnings for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _softmax_backward(g, x, y):
    return y * (g - (g * y).sum(axis=-1, keepdims=True))


_SELU_A, _SELU_S = 1.6732632423543772, 1.0507009873554805

_TABLE = {
    "linear": (lambda x: x, lambda g, x, y: g),
    "relu": (lambda x: np.maximum(x, 0), lambda g, x, y: g * (x > 0)),
    "sigmoid": (_sigmoid, lambda g, x, y: g * y * (1 - y)),
    "tanh": (np.tanh, lambda g, x, y: g * (1 - y * y)),
    "softmax": (_softmax, _softmax_backward),
    "softplus": (lambda x: np.logaddexp(0, x).astype(x.dtype, copy=False), lambda g, x, y: g * _sigmoid(x)),
    "softsign": (lambda x: x / (1 + np.abs(x)), lambda g, x, y: g / (1 + np.abs(x)) ** 2),
    "elu": (lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))), lambda g, x, y: g * np.where(x > 0, 1, y + 1)),
    "selu": (lambda x: _SELU_S * np.where(x > 0, x, _SELU_A * np.expm1(np.minimum(x, 0))),
             lambda g, x, y: g * np.where(x > 0, _SELU_S, y + _SELU_S * _SELU_A)),
    "exponential": (np.exp, lambda g, x, y: g * y),
    "hard_sigmoid": (lambda x: np.clip(x / 6 + 0.5, 0, 1), lambda g, x, y: g * ((x > -3) & (x < 3)) / 6),
    "swish": (lambda x: x * _sigmoid(x), lambda g, x, y: g * (_sigmoid(x) * (1 + x * (1 - _sigmoid(x))))),
}
_TABLE["silu"] = _TABLE["swish"]


def get(identifier):
    """An Activation from a Keras name (None means linear) or an Activation."""
    if identifier is None:
        identifier = "linear"
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str) and identifier in _TABLE:
        f, b = _TABLE[identifier]
        return Activation(identifier, f, b)
    raise ValueError(f"Unknown activation {identifier!r}; known: {sorted(_TABLE)}")
