"""Merging layers: ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``, ``Minimum``,
``Concatenate`` and ``Dot``. Each takes a list of tensors (of one shape, or shapes that
broadcast, except Concatenate and Dot) and returns one; ``backward`` returns a gradient per
input. The output mask is the AND of the input masks (None when no input has one), as in Keras.

Example::

    >>> Add()([np.ones((2, 3)), np.ones((2, 3))]).shape
    (2, 3)
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .._export import MergeExport
from .base import Layer, register


def _reduce_to(grad, shape):
    """Sum ``grad`` over the axes a (broadcast) input of ``shape`` was stretched along."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


class _Merge(Layer):
    """What the merging layers share: a list of inputs, their shapes, masks and per-input gradients."""

    supports_masking = True
    _min_inputs: int = 2
    _keeps_float_dtype = True
    _max_inputs: Optional[int] = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._cache: Any = None

    _call_state_attrs = ("_cache",)

    def _check_inputs(self, shapes):
        if not isinstance(shapes, list):
            raise ValueError(f"{type(self).__name__} takes a list of tensors, got one")
        n = len(shapes)
        if n < self._min_inputs or (self._max_inputs is not None and n > self._max_inputs):
            want = self._min_inputs if self._max_inputs == self._min_inputs else f"at least {self._min_inputs}"
            raise ValueError(f"{type(self).__name__} takes {want} inputs, got {n}")

    def build(self, input_shape):
        self._check_inputs(input_shape)
        self.compute_output_shape(input_shape)

    def compute_output_shape(self, input_shape):
        self._check_inputs(input_shape)
        rest = [tuple(1 if d is None else d for d in s[1:]) for s in input_shape]
        try:
            out = np.broadcast_shapes(*rest)
        except ValueError:
            raise ValueError(f"{type(self).__name__}: inputs must have shapes that broadcast, got "
                             f"{[tuple(s) for s in input_shape]}") from None
        dims = []
        for axis, d in enumerate(out):
            given = [s[1 + axis] for s in input_shape if len(s) - 1 == len(out)]
            dims.append(None if d == 1 and None in given else d)
        return (input_shape[0][0],) + tuple(dims)

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        masks = [np.asarray(m, dtype=bool) for m in mask if m is not None]
        out = masks[0]
        for m in masks[1:]:
            out = out & m
        return out

    def call(self, inputs, training=False, mask=None):
        self._check_inputs([x.shape for x in inputs])
        y = self._merge(inputs)
        self._cache = (inputs, y) if training else None
        return y

    def backward(self, grad):
        inputs, y = self._cache
        self._cache = None
        return [_reduce_to(g, x.shape) for g, x in zip(self._grads_of(grad, inputs, y), inputs)]

    _onnx_op: Optional[str] = None  # the ONNX operator of an element-wise merge

    def export_description(self):
        if self._onnx_op is None:
            return super().export_description()
        return MergeExport(self.name, self._onnx_op, getattr(self, "axis", -1))

    def _merge(self, inputs):
        raise NotImplementedError

    def _grads_of(self, grad, inputs, y):
        raise NotImplementedError


@register
class Add(_Merge):
    """The sum of the inputs."""

    _onnx_op = "Add"

    def _merge(self, inputs):
        y = inputs[0]
        for x in inputs[1:]:
            y = y + x
        return y

    def _grads_of(self, grad, inputs, y):
        return [grad] * len(inputs)


@register
class Subtract(_Merge):
    """inputs[0] - inputs[1] (exactly two inputs)."""

    _onnx_op = "Sub"

    _max_inputs = 2

    def _merge(self, inputs):
        return inputs[0] - inputs[1]

    def _grads_of(self, grad, inputs, y):
        return [grad, -grad]


@register
class Multiply(_Merge):
    """The element-wise product of the inputs."""

    _onnx_op = "Mul"

    def _merge(self, inputs):
        y = inputs[0]
        for x in inputs[1:]:
            y = y * x
        return y

    def _grads_of(self, grad, inputs, y):
        out = []
        for i in range(len(inputs)):
            g = grad
            for j, x in enumerate(inputs):
                if j != i:
                    g = g * x
            out.append(g)
        return out


@register
class Average(_Merge):
    """The mean of the inputs."""

    _onnx_op = "Mean"

    def _merge(self, inputs):
        return Add._merge(self, inputs) / self.dtype.type(len(inputs))

    def _grads_of(self, grad, inputs, y):
        return [grad / self.dtype.type(len(inputs))] * len(inputs)


class _Extreme(_Merge):
    _pick: Any = None

    def _merge(self, inputs):
        y = inputs[0]
        for x in inputs[1:]:
            y = self._pick(y, x)
        return y

    def _grads_of(self, grad, inputs, y):
        # the gradient goes to the first input holding the extreme value (ties: the first)
        taken = np.zeros(np.shape(y), bool)
        out = []
        for x in inputs:
            hit = (x == y) & ~taken
            taken |= hit
            out.append(grad * hit)
        return out


@register
class Maximum(_Extreme):
    """The element-wise maximum of the inputs."""

    _onnx_op = "Max"

    _pick = staticmethod(np.maximum)


@register
class Minimum(_Extreme):
    """The element-wise minimum of the inputs."""

    _onnx_op = "Min"

    _pick = staticmethod(np.minimum)


@register
class Concatenate(_Merge):
    """The inputs joined along ``axis`` (the other axes must match)."""

    _onnx_op = "Concat"

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        self._check_inputs(input_shape)
        rank = len(input_shape[0])
        axis = self.axis % rank
        if axis == 0 or any(len(s) != rank for s in input_shape):
            raise ValueError(f"Concatenate(axis={self.axis}): inputs must have one rank and not join the batch "
                             f"axis, got {[tuple(s) for s in input_shape]}")
        out = list(input_shape[0])
        for s in input_shape[1:]:
            for a in range(1, rank):
                if a == axis:
                    continue
                if out[a] is not None and s[a] is not None and out[a] != s[a]:
                    raise ValueError(f"Concatenate(axis={self.axis}): the inputs' shapes must match except on "
                                     f"that axis, got {[tuple(s) for s in input_shape]}")
                out[a] = out[a] if out[a] is not None else s[a]
        sizes = [s[axis] for s in input_shape]
        out[axis] = None if None in sizes else sum(sizes)
        return tuple(out)

    def compute_mask(self, inputs, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        rank = np.ndim(inputs[0])
        if self.axis % rank == rank - 1:  # features joined: a step is kept where every input keeps it
            return super().compute_mask(inputs, mask)
        full = [np.ones(np.shape(x)[:-1], bool) if m is None else np.asarray(m, bool) for x, m in zip(inputs, mask)]
        return np.concatenate(full, axis=self.axis % rank)

    def call(self, inputs, training=False, mask=None):
        self._check_inputs([x.shape for x in inputs])
        self._cache = [x.shape[self.axis] for x in inputs] if training else None
        return np.concatenate(inputs, axis=self.axis)

    def backward(self, grad):
        sizes = self._cache
        self._cache = None
        return np.split(grad, np.cumsum(sizes)[:-1], axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _l2_normalize(x, axis):
    norm = np.sqrt(np.maximum((x * x).sum(axis=axis, keepdims=True), 1e-12))
    return x / norm, norm


@register
class Dot(_Merge):
    """The dot product of two tensors along ``axes`` (an int, or one per input; the batch axis is
    kept): (B, d)·(B, d) -> (B, 1), (B, T, d)·(B, S, d) with axes=2 -> (B, T, S). ``normalize``
    first scales both along the axes to unit L2 norm (cosine similarity)."""

    _max_inputs = 2

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.axes = [int(a) for a in axes] if isinstance(axes, (list, tuple)) else int(axes)
        self.normalize = bool(normalize)

    def _axes(self, ranks):
        axes = self.axes if isinstance(self.axes, list) else [self.axes] * 2
        return [a % r for a, r in zip(axes, ranks)]

    def compute_output_shape(self, input_shape):
        self._check_inputs(input_shape)
        a, b = (tuple(s) for s in input_shape)
        ax, bx = self._axes([len(a), len(b)])
        if ax == 0 or bx == 0 or len(a) > 3 or len(b) > 3:
            raise ValueError(f"Dot: inputs of rank 2 or 3 and axes other than the batch axis, got shapes {a}, {b} "
                             f"and axes {self.axes}")
        if a[ax] is not None and b[bx] is not None and a[ax] != b[bx]:
            raise ValueError(f"Dot: the dot axes must have one size, got shapes {a} and {b} on axes {[ax, bx]}")
        rest = [d for i, d in enumerate(a) if i not in (0, ax)] + [d for i, d in enumerate(b) if i not in (0, bx)]
        return (a[0],) + tuple(rest or [1])

    def call(self, inputs, training=False, mask=None):
        self._check_inputs([x.shape for x in inputs])
        x, y = inputs
        ax, bx = self._axes([x.ndim, y.ndim])
        nx = ny = None
        if self.normalize:
            x, nx = _l2_normalize(x, ax)
            y, ny = _l2_normalize(y, bx)
        xm = np.moveaxis(x, ax, -1).reshape(len(x), -1, x.shape[ax])  # (B, P, d)
        ym = np.moveaxis(y, bx, 1).reshape(len(y), y.shape[bx], -1)   # (B, d, Q)
        out = np.matmul(xm, ym)
        shape = self.compute_output_shape([x.shape, y.shape])
        self._cache = (x, y, nx, ny, xm, ym) if training else None
        return out.reshape((len(x),) + shape[1:])

    def backward(self, grad):
        x, y, nx, ny, xm, ym = self._cache
        self._cache = None
        ax, bx = self._axes([x.ndim, y.ndim])
        g = grad.reshape(len(grad), xm.shape[1], ym.shape[2])
        gxm = np.matmul(g, ym.transpose(0, 2, 1))
        gym = np.matmul(xm.transpose(0, 2, 1), g)
        xs = np.moveaxis(x, ax, -1).shape
        ys = np.moveaxis(y, bx, 1).shape
        gx = np.moveaxis(gxm.reshape(xs), -1, ax)
        gy = np.moveaxis(gym.reshape(ys), 1, bx)
        if self.normalize:  # through x / |x|: (g - x_n <g, x_n>) / |x|
            gx = (gx - x * (gx * x).sum(axis=ax, keepdims=True)) / nx
            gy = (gy - y * (gy * y).sum(axis=bx, keepdims=True)) / ny
        return [gx, gy]

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def add(inputs: list, **kwargs: Any) -> Any:
    """Functional form of ``Add``."""
    return Add(**kwargs)(inputs)


def concatenate(inputs: list, axis: int = -1, **kwargs: Any) -> Any:
    """Functional form of ``Concatenate``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
