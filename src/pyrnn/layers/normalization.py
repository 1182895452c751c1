"""``LayerNormalization``, ``BatchNormalization`` (last axis), and the attention layers
``Attention`` (dot-product, Luong) and ``AdditiveAttention`` (Bahdanau), with Keras's weights,
defaults and masks (a value mask removes the masked steps from the softmax; the output keeps the
query's mask).

Example::

    >>> LayerNormalization()(np.random.rand(2, 5, 3).astype(np.float32)).shape
    (2, 5, 3)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import initializers
from .base import Layer, dropout_mask, register


class _Normalization(Layer):
    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self._init_penalties(locals())
        if axis not in (-1, [-1], (-1,)):
            raise NotImplementedError(f"{type(self).__name__}: axis={axis!r} is not supported by pyrnn (the last "
                                      "axis only)")
        self.axis = -1
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self._cache: Any = None

    _call_state_attrs = ("_cache",)
    _penalty_args = {"gamma": ("gamma_regularizer", "gamma_constraint"),
                     "beta": ("beta_regularizer", "beta_constraint")}

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None:
            raise ValueError(f"{type(self).__name__}: the last axis must have a known size, got {tuple(input_shape)}")
        if self.scale:
            self.add_weight("gamma", (dim,), self.gamma_initializer)
        if self.center:
            self.add_weight("beta", (dim,), self.beta_initializer)

    def _stat_axes(self, ndim):
        """The axes the statistics are taken over."""
        raise NotImplementedError

    def _normalize(self, inputs, mean, var, training):
        inv = 1.0 / np.sqrt(var + self.epsilon)
        xhat = (inputs - mean) * inv
        self._cache = (xhat, inv) if training else None
        y = xhat * self._params["gamma"] if self.scale else xhat
        return (y + self._params["beta"] if self.center else y).astype(self.dtype, copy=False)

    def backward(self, grad):
        xhat, inv = self._cache
        self._cache = None
        g = self._affine_backward(grad, xhat)
        axes = self._stat_axes(g.ndim)  # through (x - mean) / std, mean and var over these axes
        return inv * (g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True))

    def _affine_backward(self, grad, xhat):
        axes = tuple(range(grad.ndim - 1))
        if self.scale:
            self._grads["gamma"] += (grad * xhat).sum(axis=axes)
        if self.center:
            self._grads["beta"] += grad.sum(axis=axes)
        return grad * self._params["gamma"] if self.scale else grad

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer)}


@register
class LayerNormalization(_Normalization):
    """Normalizes each sample over its last axis: gamma * (x - mean) / sqrt(var + epsilon) + beta."""

    def _stat_axes(self, ndim):
        return (-1,)

    def call(self, inputs, training=False, mask=None):
        return self._normalize(inputs, inputs.mean(axis=-1, keepdims=True), inputs.var(axis=-1, keepdims=True),
                               training)


@register
class BatchNormalization(_Normalization):
    """Normalizes over the batch (and time) with the batch's statistics in training, keeping
    moving averages (``momentum``) used in inference. Weights: gamma, beta, moving_mean,
    moving_variance (the last two not trainable)."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", synchronized=False, **kwargs):
        super().__init__(axis=axis, epsilon=epsilon, **kwargs)
        self.momentum = float(momentum)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        super().build(input_shape)
        dim = input_shape[-1]
        self.add_weight("moving_mean", (dim,), self.moving_mean_initializer, trainable=False)
        self.add_weight("moving_variance", (dim,), self.moving_variance_initializer, trainable=False)

    def call(self, inputs, training=False, mask=None):
        axes = self._stat_axes(inputs.ndim)
        if training:
            mean, var = inputs.mean(axis=axes), inputs.var(axis=axes)
            m = self.momentum
            self._params["moving_mean"][...] = m * self._params["moving_mean"] + (1 - m) * mean
            self._params["moving_variance"][...] = m * self._params["moving_variance"] + (1 - m) * var
        else:
            mean, var = self._params["moving_mean"], self._params["moving_variance"]
        return self._normalize(inputs, mean, var, training)

    def _stat_axes(self, ndim):
        return tuple(range(ndim - 1))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum,
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer)}


def _softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class _BaseAttention(Layer):
    """Inputs [query, value] or [query, value, key]; output (batch, Tq, dim) and, with
    ``return_attention_scores``, the weights (batch, Tq, Tv). Masks: [query_mask, value_mask]."""

    supports_masking = True

    def __init__(self, use_scale=False, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = bool(use_scale)
        self.dropout = float(dropout)
        self._cache: Any = None

    _call_state_attrs = ("_cache",)

    def _split(self, inputs):
        if not isinstance(inputs, list) or len(inputs) not in (2, 3):
            raise ValueError(f"{type(self).__name__} takes [query, value] or [query, value, key]")
        q, v = inputs[0], inputs[1]
        return q, v, (inputs[2] if len(inputs) == 3 else v)

    def compute_output_shape(self, input_shape):
        q, v, k = self._split(list(input_shape))
        if len(q) != 3 or len(v) != 3:
            raise ValueError(f"{type(self).__name__}: query and value must be (batch, steps, dim), got {q} and {v}")
        return tuple(q[:-1]) + (v[-1],)

    def _symbolic_output_shapes(self, shapes, initial_state=None):
        out = super()._symbolic_output_shapes(shapes, initial_state)
        if self._return_scores:
            q, v, _ = self._split(list(shapes))
            return [out, (q[0], q[1], v[1])]
        return out

    _return_scores = False
    _causal = False

    def __call__(self, inputs, training=False, mask=None, return_attention_scores=False, use_causal_mask=False,
                 **kwargs):
        self._return_scores = bool(return_attention_scores)
        self._causal = bool(use_causal_mask)
        return super().__call__(inputs, training=training, mask=mask, **kwargs)

    def compute_mask(self, inputs, mask=None):
        out = None if mask is None else mask[0]
        return [out, None] if self._return_scores else out

    def call(self, inputs, training=False, mask=None):
        q, v, k = self._split(inputs)
        scores, keep = self._scores(q, k)
        masked = scores
        tq, tv = scores.shape[1], scores.shape[2]
        pad = None
        if mask is not None and len(mask) > 1 and mask[1] is not None:
            pad = ~np.asarray(mask[1], bool)[:, None, :]
        if self._causal:
            causal = np.triu(np.ones((tq, tv), bool), 1)[None]
            pad = causal if pad is None else pad | causal
        if pad is not None:
            masked = scores - scores.dtype.type(1e9) * pad
        weights = _softmax(masked).astype(q.dtype, copy=False)
        drop = None
        if training and self.dropout > 0:
            drop = dropout_mask(self.rng, weights.shape, self.dropout, weights.dtype)
        used = weights if drop is None else weights * drop
        out = np.matmul(used, v)
        if mask is not None and mask[0] is not None:
            out = out * np.asarray(mask[0], out.dtype)[..., None]
        self._cache = (q, v, k, weights, drop, used, keep, mask) if training else None
        return [out, weights] if self._return_scores else out

    def backward(self, grad):
        q, v, k, weights, drop, used, keep, mask = self._cache
        self._cache = None
        if self._return_scores:
            grad, g_weights = grad[0], grad[1]
        else:
            g_weights = None
        if grad is None:
            grad = np.zeros((q.shape[0], q.shape[1], v.shape[2]), q.dtype)
        if mask is not None and mask[0] is not None:
            grad = grad * np.asarray(mask[0], grad.dtype)[..., None]
        gv = np.matmul(used.transpose(0, 2, 1), grad)
        gw = np.matmul(grad, v.transpose(0, 2, 1))
        if drop is not None:
            gw = gw * drop
        if g_weights is not None:
            gw = gw + g_weights
        gs = weights * (gw - (gw * weights).sum(axis=-1, keepdims=True))
        gq, gk = self._scores_backward(gs, q, k, keep)
        return [gq, gv + gk] if k is v else [gq, gv, gk]

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale, "dropout": self.dropout}


@register
class Attention(_BaseAttention):
    """Dot-product attention: softmax(scale * query @ key^T) @ value (``use_scale``: a trainable
    scalar starting at 1)."""

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, seed=seed, **kwargs)
        if score_mode != "dot":
            raise NotImplementedError(f"Attention: score_mode={score_mode!r} is not supported by pyrnn (dot only)")
        self.score_mode = score_mode

    def build(self, input_shape):
        if self.use_scale:
            self.add_weight("scale", (), "ones")

    def _scores(self, q, k):
        raw = np.matmul(q, k.transpose(0, 2, 1))
        return (raw * self._params["scale"] if self.use_scale else raw), raw

    def _scores_backward(self, gs, q, k, raw):
        if self.use_scale:
            self._grads["scale"] += (gs * raw).sum()
            gs = gs * self._params["scale"]
        return np.matmul(gs, k), np.matmul(gs.transpose(0, 2, 1), q)

    def get_config(self):
        return {**super().get_config(), "score_mode": self.score_mode}


@register
class AdditiveAttention(_BaseAttention):
    """Additive (Bahdanau) attention: scores sum(scale * tanh(query_i + key_j)) over the features
    (``use_scale``, the default: a trainable vector, glorot-uniform initialised as in Keras)."""

    def __init__(self, use_scale=True, dropout=0.0, seed=None, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, seed=seed, **kwargs)

    def build(self, input_shape):
        if self.use_scale:
            self.add_weight("scale", (input_shape[0][-1],), "glorot_uniform")

    def _scores(self, q, k):
        e = np.tanh(q[:, :, None, :] + k[:, None, :, :])
        return ((e * self._params["scale"]).sum(-1) if self.use_scale else e.sum(-1)), e

    def _scores_backward(self, gs, q, k, e):
        if self.use_scale:
            self._grads["scale"] += (gs[..., None] * e).sum(axis=(0, 1, 2))
            ge = gs[..., None] * self._params["scale"]
        else:
            ge = np.repeat(gs[..., None], e.shape[-1], axis=-1)
        pre = ge * (1 - e * e)
        return pre.sum(axis=2), pre.sum(axis=1)
