"""Shape and element-wise layers: ``RepeatVector``, ``Flatten``, ``Reshape``, ``Permute``,
``Activation``, ``GlobalAveragePooling1D`` (mask-aware: the mean of the kept steps) and
``GlobalMaxPooling1D`` (as Keras's: the maximum over every step, masks ignored). ``Flatten``,
``Reshape`` and ``Permute`` drop a mask, as Keras's do.

Example::

    >>> RepeatVector(3)(np.ones((2, 4), np.float32)).shape
    (2, 3, 4)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import activations
from .._recurrent import check_size
from .base import Layer, register


class _Shaping(Layer):
    """A layer that keeps what backward needs in ``_cache``."""

    _keeps_float_dtype = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._cache: Any = None

    _call_state_attrs = ("_cache",)


@register
class RepeatVector(_Shaping):
    """(batch, features) -> (batch, n, features): the input repeated n times."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = check_size("n", n, owner="RepeatVector")

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"RepeatVector takes (batch, features), got shape {tuple(input_shape)}")
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs, training=False, mask=None):
        return np.repeat(inputs[:, None, :], self.n, axis=1)

    def backward(self, grad):
        return grad.sum(axis=1)

    def get_config(self):
        return {**super().get_config(), "n": self.n}


@register
class Flatten(_Shaping):
    """(batch, ...) -> (batch, product of the rest)."""

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else int(np.prod(rest, dtype=np.int64)))

    def call(self, inputs, training=False, mask=None):
        self._cache = inputs.shape if training else None
        return inputs.reshape(len(inputs), -1)

    def backward(self, grad):
        return grad.reshape(self._cache)


@register
class Reshape(_Shaping):
    """(batch, ...) -> (batch,) + target_shape (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        if sum(d == -1 for d in self.target_shape) > 1 or any(d < -1 or d == 0 for d in self.target_shape):
            raise ValueError(f"Reshape: target_shape takes positive sizes and at most one -1, got {target_shape}")

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if None in rest:
            return (input_shape[0],) + tuple(None if d == -1 else d for d in self.target_shape)
        total = int(np.prod(rest, dtype=np.int64))
        known = int(np.prod([d for d in self.target_shape if d != -1], dtype=np.int64))
        if (-1 in self.target_shape and total % known) or (-1 not in self.target_shape and known != total):
            raise ValueError(f"Reshape: cannot reshape {tuple(input_shape)} to (None,) + {self.target_shape}")
        return (input_shape[0],) + tuple(total // known if d == -1 else d for d in self.target_shape)

    def call(self, inputs, training=False, mask=None):
        self._cache = inputs.shape if training else None
        return inputs.reshape((len(inputs),) + self.target_shape)

    def backward(self, grad):
        return grad.reshape(self._cache)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@register
class Permute(_Shaping):
    """Permutes the non-batch axes: ``dims`` (1-based, as Keras), e.g. (2, 1) swaps time and features."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Permute: dims must be a permutation of 1..{len(self.dims)}, got {dims}")

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"Permute{self.dims} takes inputs of rank {len(self.dims) + 1}, got {tuple(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs, training=False, mask=None):
        return inputs.transpose((0,) + self.dims)

    def backward(self, grad):
        return grad.transpose(np.argsort((0,) + self.dims))

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


@register
class Activation(_Shaping):
    """Applies an activation (a Keras name) element-wise."""

    supports_masking = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, inputs, training=False, mask=None):
        y = self.activation.forward(inputs)
        self._cache = (inputs, y) if training else None
        return y

    def backward(self, grad):
        x, y = self._cache
        self._cache = None
        return self.activation.backward(grad, x, y)

    def get_config(self):
        return {**super().get_config(), "activation": self.activation.name}


class _GlobalPooling1D(_Shaping):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise NotImplementedError(f"{type(self).__name__}: data_format={data_format!r} is not supported by pyrnn "
                                      "(channels_last only)")
        self.keepdims = bool(keepdims)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{type(self).__name__} takes (batch, steps, features), got {tuple(input_shape)}")
        return (input_shape[0], 1, input_shape[2]) if self.keepdims else (input_shape[0], input_shape[2])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "keepdims": self.keepdims}


@register
class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean over time; with a mask, the mean of the kept steps, masked steps' values never
    read. As in Keras 3 a sequence with no kept step gives NaN (0 / 0), and its inputs get no
    gradient."""

    supports_masking = True

    def call(self, inputs, training=False, mask=None):
        if mask is None:
            weights = np.full(inputs.shape[:2], 1.0 / inputs.shape[1], inputs.dtype)
            y = np.einsum("bt,btf->bf", weights, inputs)
        else:
            m = np.asarray(mask, dtype=bool)
            kept = m.sum(axis=1, keepdims=True).astype(inputs.dtype)
            with np.errstate(divide="ignore", invalid="ignore"):
                y = np.where(m[:, :, None], inputs, 0).sum(axis=1) / kept
                weights = np.where(m, 1 / kept, 0).astype(inputs.dtype)
        self._cache = weights if training else None
        y = y.astype(inputs.dtype, copy=False)
        return y[:, None] if self.keepdims else y

    def backward(self, grad):
        weights = self._cache
        g = grad[:, 0] if self.keepdims else grad
        return weights[:, :, None] * g[:, None, :]


@register
class GlobalMaxPooling1D(_GlobalPooling1D):
    """The maximum over time (masks are ignored, as in Keras)."""

    def call(self, inputs, training=False, mask=None):
        idx = inputs.argmax(axis=1)
        self._cache = (idx, inputs.shape) if training else None
        y = np.take_along_axis(inputs, idx[:, None, :], axis=1)
        return y if self.keepdims else y[:, 0]

    def backward(self, grad):
        idx, shape = self._cache
        g = grad[:, 0] if self.keepdims else grad
        out = np.zeros(shape, g.dtype)
        np.put_along_axis(out, idx[:, None, :], g[:, None, :], axis=1)
        return out


GlobalAvgPool1D = GlobalAveragePooling1D
GlobalMaxPool1D = GlobalMaxPooling1D
