"""Recurrent layers: ``SimpleRNN``, ``GRU``, ``LSTM`` and the ``Bidirectional`` wrapper.

Each recurrent layer wraps a one-layer ``pyrnn.nn.RNN/GRU/LSTM`` (its parameters, in PyTorch's
layout, are the layer's parameters) and calls the C++ core directly on time-major arrays.
``get_weights``/``set_weights`` convert to and from Keras's layout: kernel (input, k*units),
recurrent_kernel (units, k*units), bias; LSTM gates i,f,c,o (PyTorch's i,f,g,o); GRU z,r,h
(PyTorch's r,z,n). Keras has one bias where PyTorch has two (except GRU reset_after=True, whose
(2, 3*units) bias is [input bias; recurrent bias]): it maps to ``bias_ih`` and ``bias_hh`` stays 0.

Masks (from ``Embedding(mask_zero=True)`` or ``Masking``) follow Keras: a masked step keeps the
previous state and repeats the previous output (zeros before the first valid step). Because a
masked step leaves the state unchanged, the valid steps of every sequence are moved to the
front and run as right-padded sequences on the core's variable-length path; right-padded masks
are the case where nothing moves. Outputs are then spread back to the original steps.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from .. import initializers
from .. import nn
from .base import Layer, _check_unsupported

# GRU/LSTM activation and recurrent_activation the core's kernels run (Keras's names).
_GATED_ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear", "hard_sigmoid")


def _activation_name(activation):
    """Keras's ways to name an activation: a string, None (linear), or the function itself."""
    if activation is None:
        return "linear"
    return activation if isinstance(activation, str) else getattr(activation, "__name__", repr(activation))


class _Recurrent(Layer):
    """What SimpleRNN, GRU and LSTM share: arguments, weight layouts, masks, forward and backward."""

    supports_masking = True
    _gates = 1
    _cell_kind = None  # "SimpleRNN", "GRU" or "LSTM"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        _check_unsupported(self, kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                           bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                           kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                           bias_constraint=bias_constraint, recurrent_dropout=recurrent_dropout)
        self.units = int(units)
        if self.units < 1:
            raise ValueError(f"{type(self).__name__}: units must be >= 1, got {units}")
        self.activation = _activation_name(activation)
        self.recurrent_activation = _activation_name(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        if not 0 <= dropout < 1:
            raise ValueError(f"{type(self).__name__}: dropout must be in [0, 1), got {dropout}")
        self.dropout = float(dropout)
        self.recurrent_dropout = 0.0
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted; the core always runs the fused loop
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._states = None
        self._cache = None
        self._zero_arrays = {}
        self._check_activations()

    def _check_activations(self):  # GRU and LSTM: the core's kernels take any pair of these
        for what, name in (("activation", self.activation), ("recurrent_activation", self.recurrent_activation)):
            if name not in _GATED_ACTIVATIONS:
                raise NotImplementedError(f"{type(self).__name__}: {what} must be one of {sorted(_GATED_ACTIVATIONS)}, "
                                          f"got {name!r}")
        self._activations = {"activation": self.activation, "recurrent_activation": self.recurrent_activation}

    # ------------------------------------------------------------------ weights
    def _make_module(self, input_dim):
        raise NotImplementedError

    @property
    def _gate_perm(self):
        """Keras gate block k is PyTorch gate block perm[k] (a swap, so its own inverse)."""
        return list(range(self._gates))

    @property
    def _two_biases(self):
        return False

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{self.name}: expected input (batch, timesteps, features), got shape {input_shape}")
        input_dim = int(input_shape[-1])
        self._module = self._make_module(input_dim)
        self._cell = self._module._cell
        self._params, self._grads = self._module._params, self._module.grads
        names = ["weight_ih_l0", "weight_hh_l0"]
        if self.use_bias:
            names += ["bias_ih_l0"] + (["bias_hh_l0"] if self._two_biases else [])
        self._trainable_names = names
        u, g = self.units, self._gates
        weights = [self.kernel_initializer((input_dim, g * u), self.dtype, self.rng),
                   self.recurrent_initializer((u, g * u), self.dtype, self.rng)]
        if self.use_bias:
            weights.append(self._initial_bias())
        if self.use_bias:
            self._params["bias_hh_l0"].fill(0)
        self.set_weights(weights)

    def _initial_bias(self):
        return self.bias_initializer((self._gates * self.units,), self.dtype, self.rng)

    def _index(self):
        u = self.units
        return np.concatenate([np.arange(u) + p * u for p in self._gate_perm])

    def get_weights(self):
        if not self.built:
            return []
        p, idx = self._params, self._index()
        ws = [p["weight_ih_l0"][idx].T.copy(), p["weight_hh_l0"][idx].T.copy()]
        if self.use_bias:
            b = p["bias_ih_l0"][idx]
            ws.append(np.stack([b, p["bias_hh_l0"][idx]]) if self._two_biases else b.copy())
        return ws

    def set_weights(self, weights):
        u, g = self.units, self._gates
        shapes = [(self._module.input_size, g * u), (u, g * u)]
        if self.use_bias:
            shapes.append((2, g * u) if self._two_biases else (g * u,))
        ws = self._check_weights(weights, shapes)
        p, idx = self._params, self._index()
        p["weight_ih_l0"][...] = ws[0].T[idx]
        p["weight_hh_l0"][...] = ws[1].T[idx]
        if self.use_bias:
            if self._two_biases:
                p["bias_ih_l0"][...] = ws[2][0][idx]
                p["bias_hh_l0"][...] = ws[2][1][idx]
            else:
                p["bias_ih_l0"][...] = ws[2][idx]

    def count_params(self):
        if not self.built:
            return 0
        i, u, g = self._module.input_size, self.units, self._gates
        return g * u * (i + u) + (g * u * (2 if self._two_biases else 1) if self.use_bias else 0)

    # ------------------------------------------------------------------ states
    def reset_states(self, states=None):
        """Stateful layers: forget the carried state (or set it to ``states``)."""
        if states is None:
            self._states = None
        else:
            states = states if isinstance(states, (list, tuple)) else [states]
            self._states = [np.array(s, dtype=self.dtype) for s in states]

    reset_state = reset_states

    def _zeros(self, *shape):
        """A zero array of this shape, made once: the core only reads initial states and gradients."""
        z = self._zero_arrays.get(shape)
        if z is None:
            z = self._zero_arrays[shape] = np.zeros(shape, self.dtype)
            z.flags.writeable = False
        return z

    def _zeros_state(self, batch):
        return self._zeros(batch, self.units)

    def _initial_states(self, batch, initial_state):
        lstm = self._gates == 4
        if initial_state is not None:
            states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
            states = [np.ascontiguousarray(s, dtype=self.dtype) for s in states]
        elif self.stateful and self._states is not None:
            states = self._states
            if states[0].shape[0] != batch:
                raise ValueError(f"{self.name}: a stateful layer needs the same batch size every call "
                                 f"(state has {states[0].shape[0]}, input has {batch}); call reset_states()")
        else:
            states = [self._zeros_state(batch)] * (2 if lstm else 1)
        if len(states) != (2 if lstm else 1) or any(s.shape != (batch, self.units) for s in states):
            raise ValueError(f"{self.name}: initial states must be {2 if lstm else 1} array(s) of shape "
                             f"{(batch, self.units)}")
        return states[0], (states[1] if lstm else None)

    # ------------------------------------------------------------------ forward / backward
    def call(self, inputs, training=False, mask=None, initial_state=None):
        x = inputs
        if x.ndim != 3 or x.shape[2] != self._module.input_size:
            raise ValueError(f"{self.name}: expected input (batch, timesteps, {self._module.input_size}), "
                             f"got shape {x.shape}")
        batch, steps = x.shape[0], x.shape[1]
        drop = None
        if training and self.dropout > 0:  # one dropout mask per sequence, shared by all steps (Keras)
            drop = (self.rng.random((batch, 1, x.shape[2])) >= self.dropout).astype(self.dtype)
            drop /= self.dtype.type(1 - self.dropout)
            x = x * drop
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (batch, steps):
                raise ValueError(f"{self.name}: mask must have shape {(batch, steps)}, got {mask.shape}")
            if mask.all():
                mask = None
        if self.go_backwards:
            x = x[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        h0, c0 = self._initial_states(batch, initial_state)
        p = self._params
        w = (p["weight_ih_l0"], p["weight_hh_l0"], p.get("bias_ih_l0"), p.get("bias_hh_l0"))

        if mask is None:
            xt = np.ascontiguousarray(x.transpose(1, 0, 2), dtype=self.dtype)
            out, hn, cn, ws = _core.forward(self._cell, xt, h0, c0, *w, training, None, None, **self._activations)
            y = out.transpose(1, 0, 2) if self.return_sequences else hn
            packing = None
        else:
            packing = _compact(mask)
            order = packing["order"]
            xs = x[order[:, None], packing["src"]]
            xs[~packing["valid"]] = 0
            xt = np.ascontiguousarray(xs.transpose(1, 0, 2), dtype=self.dtype)
            h0 = np.ascontiguousarray(h0[order])
            c0 = None if c0 is None else np.ascontiguousarray(c0[order])
            out, hn, cn, ws = _core.forward(self._cell, xt, h0, c0, *w, training, packing["batch_sizes"], None,
                                            **self._activations)
            inverse = packing["inverse"]
            hn, cn = hn[inverse], (None if cn is None else cn[inverse])
            if self.return_sequences:
                tidx = packing["tidx_zero"] if self.zero_output_for_mask else packing["tidx"]
                padded = np.concatenate([out, np.zeros((1,) + out.shape[1:], out.dtype)])
                y = padded[tidx, inverse[:, None]]
            else:
                y = np.where(packing["lengths"][:, None] > 0, hn, 0).astype(self.dtype, copy=False)

        if self.stateful:
            self._states = [hn.copy()] + ([] if cn is None else [cn.copy()])
        self._cache = (xt, h0, c0, out, ws, w, packing, drop, batch, steps) if training else None
        if self.return_state:
            return [y, hn] + ([] if cn is None else [cn])
        return y

    def backward(self, grad):
        if self._cache is None:
            raise ValueError(f"{self.name}: backward() needs a call with training=True first")
        xt, h0, c0, out, ws, w, packing, drop, batch, steps = self._cache
        self._cache = None
        units = self.units
        if self.return_sequences:
            if packing is None:
                go = np.ascontiguousarray(grad.transpose(1, 0, 2))
            else:
                tidx = packing["tidx_zero"] if self.zero_output_for_mask else packing["tidx"]
                gpad = np.zeros((steps + 1, batch, units), self.dtype)
                np.add.at(gpad, (tidx, np.broadcast_to(packing["inverse"][:, None], tidx.shape)), grad)
                go = gpad[:steps]
            gh = self._zeros_state(batch)
        else:
            go = self._zeros(steps, batch, units)  # only the last step's output has a gradient
            gh = np.ascontiguousarray(grad, dtype=self.dtype)
            if packing is not None:
                gh = np.where(packing["lengths"][:, None] > 0, gh, 0)[packing["order"]].astype(self.dtype)
        gc = None if c0 is None else self._zeros_state(batch)
        dx, _, _, dw_ih, dw_hh, db_ih, db_hh, _ = _core.backward(
            self._cell, xt, h0, c0, *w, out, ws, go, gh, gc, None if packing is None else packing["batch_sizes"],
            None, **self._activations)
        g = self._grads
        g["weight_ih_l0"] += dw_ih
        g["weight_hh_l0"] += dw_hh
        if db_ih is not None:
            g["bias_ih_l0"] += db_ih
            g["bias_hh_l0"] += db_hh
        dx = dx.transpose(1, 0, 2)
        if packing is not None:
            dxs = np.where(packing["valid"][:, :, None], dx, 0)
            dx = np.empty_like(dxs)
            dx[packing["order"][:, None], packing["src"]] = dxs
        if self.go_backwards:
            dx = dx[:, ::-1]
        if drop is not None:
            dx = dx * drop
        return dx

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def get_config(self):
        config = {**super().get_config(), "units": self.units, "activation": self.activation,
                  "use_bias": self.use_bias, "dropout": self.dropout,
                  "return_sequences": self.return_sequences, "return_state": self.return_state,
                  "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                  "zero_output_for_mask": self.zero_output_for_mask,
                  "kernel_initializer": initializers.serialize(self.kernel_initializer),
                  "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                  "bias_initializer": initializers.serialize(self.bias_initializer)}
        if self._cell_kind != "SimpleRNN":
            config["recurrent_activation"] = self.recurrent_activation
        return config


def _compact(mask):
    """Index arrays that move each sequence's unmasked steps to the front, sort sequences by
    length (longest first, as the core's variable-length path needs) and spread outputs back.

    mask: (B, T) bool in processing order. ``src[i, k]``: original step of the k-th valid step
    of sorted row i. ``tidx[b, t]``: which compacted step's output step t repeats (T = a zero row).
    """
    batch, steps = mask.shape
    lengths = mask.sum(axis=1)
    order = np.argsort(-lengths, kind="stable")
    src = np.argsort(~mask[order], axis=1, kind="stable")
    t = np.arange(steps)
    valid = t[None, :] < lengths[order][:, None]
    counts = np.cumsum(mask, axis=1)
    tidx = np.where(counts > 0, counts - 1, steps)
    return {"lengths": lengths, "order": order, "inverse": np.argsort(order), "src": src, "valid": valid,
            "batch_sizes": (lengths[order][None, :] > t[:, None]).sum(axis=1).astype(np.int32),
            "tidx": tidx, "tidx_zero": np.where(mask, tidx, steps)}


class SimpleRNN(_Recurrent):
    """Fully-connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Example::

        >>> rnn = SimpleRNN(4, return_sequences=True)
        >>> rnn(np.zeros((2, 5, 3), np.float32)).shape
        (2, 5, 4)
    """

    _gates = 1
    _cell_kind = "SimpleRNN"

    def __init__(self, units, activation="tanh", **kwargs):
        if "recurrent_activation" in kwargs:
            raise TypeError("SimpleRNN has no recurrent_activation")
        super().__init__(units, activation=activation, **kwargs)

    def _check_activations(self):
        try:
            nn.RNN(1, 1, nonlinearity=self.activation)
        except ValueError:
            raise NotImplementedError(f"SimpleRNN: activation={self.activation!r} is not supported by the core "
                                      f"(supported: tanh, relu, sigmoid, linear)") from None
        self._activations = {}  # the activation is part of the core's cell name (rnn_relu, ...)

    def _make_module(self, input_dim):
        return nn.RNN(input_dim, self.units, nonlinearity=self.activation, bias=self.use_bias, dtype=self.dtype,
                      seed=0)


class GRU(_Recurrent):
    """Gated recurrent unit (Keras gate order z, r, h). ``reset_after=True`` (the default, as in
    Keras 3 and cuDNN) applies the reset gate after the recurrent product and has a (2, 3*units)
    bias; ``reset_after=False`` applies it before and has one (3*units,) bias.

    Example::

        >>> gru = GRU(8)
        >>> gru(np.zeros((2, 5, 3), np.float32)).shape
        (2, 8)
        >>> [w.shape for w in gru.get_weights()]
        [(3, 24), (8, 24), (2, 24)]
    """

    _gates = 3
    _cell_kind = "GRU"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", reset_after=True, **kwargs):
        self.reset_after = bool(reset_after)
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, **kwargs)

    @property
    def _gate_perm(self):
        return [1, 0, 2]

    @property
    def _two_biases(self):
        return self.reset_after

    def _initial_bias(self):
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        return self.bias_initializer(shape, self.dtype, self.rng)

    def _make_module(self, input_dim):
        return nn.GRU(input_dim, self.units, bias=self.use_bias, reset_after=self.reset_after, dtype=self.dtype,
                      seed=0)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


class LSTM(_Recurrent):
    """Long short-term memory (Keras gate order i, f, c, o). ``unit_forget_bias=True`` (the
    default) starts the forget-gate bias at 1.

    Example::

        >>> lstm = LSTM(8, return_sequences=True)
        >>> lstm(np.zeros((2, 5, 3), np.float32)).shape
        (2, 5, 8)
    """

    _gates = 4
    _cell_kind = "LSTM"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", unit_forget_bias=True, **kwargs):
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, **kwargs)

    def _initial_bias(self):
        u = self.units
        if not self.unit_forget_bias:
            return super()._initial_bias()
        return np.concatenate([self.bias_initializer((u,), self.dtype, self.rng), np.ones(u, self.dtype),
                               self.bias_initializer((2 * u,), self.dtype, self.rng)])

    def _make_module(self, input_dim):
        return nn.LSTM(input_dim, self.units, bias=self.use_bias, dtype=self.dtype, seed=0)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class Bidirectional(Layer):
    """Runs a copy of ``layer`` forwards and another backwards in time and merges their outputs
    (``merge_mode``: "concat", "sum", "mul", "ave", or None for a list of both).

    Example::

        >>> bi = Bidirectional(LSTM(8, return_sequences=True))
        >>> bi(np.zeros((2, 5, 3), np.float32)).shape
        (2, 5, 16)
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, _Recurrent):
            raise TypeError(f"Bidirectional wraps a SimpleRNN, GRU or LSTM layer, got {type(layer).__name__}")
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"merge_mode must be concat, sum, mul, ave or None, got {merge_mode!r}")
        super().__init__(**kwargs)
        config = layer.get_config()
        config.pop("input_shape", None)
        self.forward_layer = type(layer).from_config({**config, "name": "forward_" + layer.name})
        if backward_layer is None:
            backward_layer = type(layer).from_config({**config, "name": "backward_" + layer.name,
                                                      "go_backwards": not layer.go_backwards})
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = self.return_sequences
        self._initial_weights = weights
        self._outputs = None

    def _sublayers(self):
        return [self.forward_layer, self.backward_layer]

    def build(self, input_shape):
        for sub in self._sublayers():
            sub._maybe_build(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def call(self, inputs, training=False, mask=None):
        y = self.forward_layer.call(inputs, training=training, mask=mask)
        y_rev = self.backward_layer.call(inputs, training=training, mask=mask)
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        self._outputs = (y, y_rev) if training and self.merge_mode == "mul" else None
        mode = self.merge_mode
        if mode == "concat":
            return np.concatenate([y, y_rev], axis=-1)
        if mode == "sum":
            return y + y_rev
        if mode == "mul":
            return y * y_rev
        if mode == "ave":
            return (y + y_rev) / 2
        return [y, y_rev]

    def backward(self, grad):
        mode = self.merge_mode
        if mode == "concat":
            u = self.forward_layer.units
            g, g_rev = grad[..., :u], grad[..., u:]
        elif mode == "sum":
            g = g_rev = grad
        elif mode == "mul":
            y, y_rev = self._outputs
            g, g_rev = grad * y_rev, grad * y
        elif mode == "ave":
            g = g_rev = grad / 2
        else:
            g, g_rev = grad
        if self.return_sequences:
            g_rev = g_rev[:, ::-1]
        return self.forward_layer.backward(g) + self.backward_layer.backward(g_rev)

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        if self.merge_mode == "concat":
            return tuple(shape[:-1]) + (2 * shape[-1],)
        return tuple(shape)

    def reset_states(self, states=None):
        for sub in self._sublayers():
            sub.reset_states()

    def _variables(self):
        if not self.trainable:
            return []
        return self.forward_layer._variables() + self.backward_layer._variables()

    def get_weights(self):
        return self.forward_layer.get_weights() + self.backward_layer.get_weights()

    def set_weights(self, weights):
        weights = list(weights)
        n = len(self.forward_layer.get_weights())
        self.forward_layer.set_weights(weights[:n])
        self.backward_layer.set_weights(weights[n:])

    def count_params(self):
        return self.forward_layer.count_params() + self.backward_layer.count_params()

    def get_config(self):
        from . import serialize
        config = super().get_config()
        inner = serialize(self.forward_layer)
        inner["config"]["name"] = inner["config"]["name"][len("forward_"):]
        return {**config, "layer": inner, "merge_mode": self.merge_mode}

    @classmethod
    def from_config(cls, config):
        from . import deserialize
        config = dict(config)
        return cls(deserialize(config.pop("layer")), **config)
