"""Recurrent layers: ``SimpleRNN``, ``GRU``, ``LSTM`` and the ``Bidirectional`` wrapper.

Each recurrent layer wraps a one-layer ``pyrnn.nn.RNN/GRU/LSTM`` (its parameters, in PyTorch's
layout, are the layer's parameters) and runs it through the spine (``pyrnn._recurrent``) on
time-major arrays, using only the module's public methods. ``get_weights``/``set_weights``
convert to and from Keras's layout: kernel (input, k*units), recurrent_kernel (units, k*units),
bias; LSTM gates i,f,c,o (PyTorch's i,f,g,o); GRU z,r,h (PyTorch's r,z,n). Keras has one bias
where PyTorch has two (except GRU reset_after=True, whose (2, 3*units) bias is [input bias;
recurrent bias]): it maps to ``bias_ih`` and ``bias_hh`` stays 0.

Masks (from ``Embedding(mask_zero=True)`` or ``Masking``) follow Keras: a masked step keeps the
previous state and repeats the previous output (zeros before the first valid step). Because a
masked step leaves the state unchanged, the valid steps of every sequence are moved to the
front and run as right-padded sequences on the core's variable-length path (a
``spine.Packing``); right-padded masks are the case where nothing moves. Outputs are then
spread back to the original steps.
"""

from __future__ import annotations

import numpy as np

from .. import _graph, activations, initializers, nn, quantized
from .. import _recurrent as spine
from .._export import BidirectionalExport, RecurrentExport
from .._flat import Binding
from .base import Layer, deserialize, dropout_mask, register, serialize


def _graph_source(t):
    return f"layer {t.layer.name!r}" if t.node is not None else "an input"


def _activation_name(activation):
    """Keras's ways to name an activation: a string, None (linear), or the function itself."""
    if activation is None:
        return "linear"
    return activation if isinstance(activation, str) else getattr(activation, "__name__", repr(activation))


class _Recurrent(Layer):
    """What SimpleRNN, GRU and LSTM share: arguments, weight layouts, masks, forward and backward."""

    supports_masking = True
    _family = "RNN"  # "RNN", "GRU" or "LSTM": the nn module this layer wraps

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, zero_output_for_mask=False, implementation=None,
                 **kwargs):
        # ``implementation``: Keras's (legacy) choice between two computations of the same result; ignored
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        owner = type(self).__name__
        self._init_penalties(locals())
        self.units = spine.check_size("units", units, owner=owner)
        self.activation = _activation_name(activation)
        self.recurrent_activation = _activation_name(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.dropout = spine.check_dropout("dropout", dropout, owner)
        self.recurrent_dropout = spine.check_dropout("recurrent_dropout", recurrent_dropout, owner)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)  # accepted; the core always runs the fused loop
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._states = None
        self._cache = None
        self._zero_arrays = {}
        self._module = None
        self.cell = self._make_cell()

    _call_state_attrs = ("_cache",)
    _penalty_args = {"kernel": ("kernel_regularizer", "kernel_constraint"),
                     "recurrent_kernel": ("recurrent_regularizer", "recurrent_constraint"),
                     "bias": ("bias_regularizer", "bias_constraint")}

    def _make_cell(self):
        """The spine cell; GRU and LSTM take any pair of the gated kernels' activations."""
        known = activations.names()
        owner = type(self).__name__
        spine.check_activation("activation", self.activation, spine.GATED_ACTIVATIONS, owner, known)
        spine.check_activation("recurrent_activation", self.recurrent_activation, spine.GATED_ACTIVATIONS, owner,
                               known)
        return spine.cell_for(self._family, reset_after=getattr(self, "reset_after", True))

    @property
    def _core_activations(self):
        """The activation keywords of the spine's forward (RNN cells have theirs in the cell)."""
        if not self.cell.gated:
            return {}
        return {"activation": self.activation, "recurrent_activation": self.recurrent_activation}

    # ------------------------------------------------------------------ weights
    def _make_module(self, input_dim):
        raise NotImplementedError(f"{type(self).__name__} must define _make_module")

    @property
    def _two_biases(self):
        return False

    @property
    def input_dim(self):
        """Features of the input (once built)."""
        return self._module.input_size

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{self.name}: expected input (batch, timesteps, features), got shape {input_shape}")
        input_dim = int(input_shape[-1])
        self._module = self._make_module(input_dim)
        names = ["weight_ih_l0", "weight_hh_l0"]
        if self.use_bias:
            names += ["bias_ih_l0"] + (["bias_hh_l0"] if self._two_biases else [])
        self._trainable_names = names
        u, g = self.units, self.cell.gates
        weights = [self.kernel_initializer((input_dim, g * u), self.dtype, self.rng),
                   self.recurrent_initializer((u, g * u), self.dtype, self.rng)]
        if self.use_bias:
            weights.append(self._initial_bias())
        self.set_weights(weights)

    def _initial_bias(self):
        return self.bias_initializer((self.cell.gates * self.units,), self.dtype, self.rng)

    def _index(self):
        return spine.gate_index(self.cell.keras_order, self.units)

    def get_weights(self):
        if not self.built:
            return []
        w, idx = self._module.layer_weights(0), self._index()
        ws = [w.w_ih[idx].T.copy(), w.w_hh[idx].T.copy()]
        if self.use_bias:
            b = w.b_ih[idx]
            ws.append(np.stack([b, w.b_hh[idx]]) if self._two_biases else b.copy())
        return ws

    def _keras_weight_names(self):
        return ["kernel", "recurrent_kernel"] + (["bias"] if self.use_bias else [])

    def _torch_layout(self, ws):
        """The module's arrays (PyTorch's layout and gate order) from Keras's list (a linear map:
        also used for gradients)."""
        g, u = self.cell.gates, self.units
        idx = self._index()  # a permutation of gate blocks that is its own inverse
        state = {"weight_ih_l0": ws[0].T[idx], "weight_hh_l0": ws[1].T[idx]}
        if self.use_bias:
            if self._two_biases:
                state.update(bias_ih_l0=ws[2][0][idx], bias_hh_l0=ws[2][1][idx])
            else:  # Keras's one bias is the input bias; the recurrent one stays 0
                state.update(bias_ih_l0=ws[2][idx], bias_hh_l0=np.zeros(g * u, self.dtype))
        return state

    def set_weights(self, weights):
        u, g = self.units, self.cell.gates
        shapes = [(self._module.input_size, g * u), (u, g * u)]
        if self.use_bias:
            shapes.append((2, g * u) if self._two_biases else (g * u,))
        self._module.load_state_dict(self._torch_layout(self._check_weights(weights, shapes)))
        self._requantize()

    def _accumulate_keras_gradients(self, grads):
        zeros = [np.zeros_like(w) for w in self.get_weights()]
        state = self._torch_layout([z if g is None else g for g, z in zip(grads, zeros)])
        for name in self._trainable_names:
            self._module.gradient(name)[...] += state[name]

    def _quantized_copy(self, mode):
        if self.cell.family == "RNN":
            supported = self.activation in ("tanh", "relu")
        else:
            supported = (self.activation, self.recurrent_activation) == ("tanh", "sigmoid")
        if not supported:
            raise NotImplementedError(f"{self.name}: quantize() runs LSTM and GRU layers with tanh/sigmoid and "
                                      f"SimpleRNN with tanh or relu; {type(self).__name__} with "
                                      f"activation={self.activation!r} stays float32")
        return quantized.QuantizedRNN(self._module, mode)

    def count_params(self):
        if not self.built:
            return 0
        i, u, g = self._module.input_size, self.units, self.cell.gates
        return g * u * (i + u) + (g * u * (2 if self._two_biases else 1) if self.use_bias else 0)

    def parameter_bindings(self):
        if not self.trainable or self._module is None:
            return []
        return [Binding(self._module, name) for name in self._trainable_names]

    def zero_grads(self):
        if self._module is not None:
            self._module.zero_grad()

    # ------------------------------------------------------------------ states
    def reset_states(self, states=None):
        """Stateful layers: forget the carried state (or set it to ``states``)."""
        if states is None:
            self._states = None
        else:
            states = states if isinstance(states, (list, tuple)) else [states]
            self._states = [np.array(s, dtype=self.dtype) for s in states]

    reset_state = reset_states

    @property
    def states(self):
        """The state a stateful layer carries to its next call ([h] or [h, c]; None before one)."""
        return None if self._states is None else [s.copy() for s in self._states]

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
        lstm = self.cell.has_cell_state
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
        input_dim = self._module.input_size
        if x.ndim != 3 or x.shape[2] != input_dim:
            raise ValueError(f"{self.name}: expected input (batch, timesteps, {input_dim}), got shape {x.shape}")
        batch, steps = x.shape[0], x.shape[1]
        drop = None
        if training and self.dropout > 0:  # one dropout mask per sequence, shared by all steps (Keras)
            drop = dropout_mask(self.rng, (batch, 1, x.shape[2]), self.dropout, self.dtype)
            x = x * drop
        # recurrent dropout: one (batch, units) mask per sequence on h_{t-1} in the recurrent product
        rdrop = dropout_mask(self.rng, (batch, self.units), self.recurrent_dropout, self.dtype) \
            if training and 0 < self.recurrent_dropout < 1 else None  # Keras: rate 1 applies no mask
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
        weights = self._module.layer_weights(0)
        xt = x.transpose(1, 0, 2)

        packing = None if mask is None else spine.Packing.from_mask(mask)
        q = quantized.for_inference(self, training)
        if packing is None:
            xt = np.ascontiguousarray(xt, dtype=self.dtype)
            res = spine.forward(self.cell, xt, h0, c0, weights=weights, training=training,
                                recurrent_mask=rdrop, **self._core_activations) if q is None else \
                quantized.layer_forward(q, self.name, xt, h0, c0, training)
            hn, cn = res.h_n, res.c_n
            y = res.output.transpose(1, 0, 2) if self.return_sequences else hn
        else:
            xt = packing.pack(xt).astype(self.dtype, copy=False)
            h0 = packing.sort_rows(h0)
            c0 = None if c0 is None else packing.sort_rows(c0)
            rdrop = None if rdrop is None else packing.sort_rows(rdrop)
            res = spine.forward(self.cell, xt, h0, c0, weights=weights, training=training,
                                batch_sizes=packing.batch_sizes, recurrent_mask=rdrop, **self._core_activations) \
                if q is None else quantized.layer_forward(q, self.name, xt, h0, c0, training,
                                                          packing.sort_rows(packing.lengths))
            hn, cn = packing.unsort_rows(res.h_n), (None if res.c_n is None else packing.unsort_rows(res.c_n))
            if self.return_sequences:
                y = packing.spread(res.output, self.zero_output_for_mask)
            else:
                y = np.where(packing.lengths[:, None] > 0, hn, 0).astype(self.dtype, copy=False)

        if self.stateful:
            self._states = [hn.copy()] + ([] if cn is None else [cn.copy()])
        self._cache = (res.workspace, packing, drop, batch, steps, initial_state is not None) if training else None
        if self.return_state:
            return [y, hn] + ([] if cn is None else [cn])
        return y

    def backward(self, grad):
        """dL/d(input) from dL/d(output); with ``return_state``, ``grad`` is the list [d output,
        d h, (d c)] (None for an output without gradient). After a call with ``initial_state``
        it returns [d input, d h0, (d c0)]."""
        if self._cache is None:
            raise ValueError(f"{self.name}: backward() needs a call with training=True first")
        workspace, packing, drop, batch, steps, with_state = self._cache
        self._cache = None
        units, lstm = self.units, self.cell.has_cell_state
        grad_h = grad_c = None
        if self.return_state:
            grad, grad_h, grad_c = grad[0], grad[1], (grad[2] if lstm else None)
        if grad is None:
            grad = self._zeros(batch, steps, units) if self.return_sequences else self._zeros_state(batch)
        grad = np.asarray(grad, dtype=self.dtype)
        grad_h = None if grad_h is None else np.asarray(grad_h, dtype=self.dtype)
        if self.return_sequences:
            if packing is None:
                go = np.ascontiguousarray(grad.transpose(1, 0, 2))
            else:
                go = packing.spread_grad(grad, self.zero_output_for_mask)
            gh = self._zeros_state(batch)
        else:
            go = self._zeros(steps, batch, units)  # only the last step's output has a gradient
            gh = np.ascontiguousarray(grad, dtype=self.dtype)
            if packing is not None:
                gh = np.where(packing.lengths[:, None] > 0, gh, 0).astype(self.dtype)
        if grad_h is not None:
            gh = gh + grad_h
        gc = None
        if lstm:
            gc = self._zeros_state(batch) if grad_c is None else np.ascontiguousarray(grad_c, dtype=self.dtype)
        if packing is not None:
            gh = packing.sort_rows(gh).astype(self.dtype, copy=False)
            gc = None if gc is None else packing.sort_rows(gc).astype(self.dtype, copy=False)
        grads = spine.backward(workspace, go, np.ascontiguousarray(gh, dtype=self.dtype), gc)
        self._module.accumulate_gradients(grads, "_l0")
        dx = grads.x
        if packing is not None:
            dx = packing.unpack(dx)
        dx = dx.transpose(1, 0, 2)
        if self.go_backwards:
            dx = dx[:, ::-1]
        if drop is not None:
            dx = dx * drop
        if not with_state:
            return dx
        states = [grads.h0] + ([grads.c0] if lstm else [])
        if packing is not None:
            states = [packing.unsort_rows(s) for s in states]
        return [dx] + states

    def export_description(self):
        """What ONNX export needs: a ``RecurrentExport`` (see ``pyrnn._export``)."""
        return RecurrentExport(name=self.name, cell=self.cell, units=self.units,
                               weights=self._module.layer_weights(0), activations=self._core_activations,
                               return_sequences=self.return_sequences, go_backwards=self.go_backwards,
                               zero_output_for_mask=self.zero_output_for_mask, stateful=self.stateful,
                               quantized=None if self._quantized is None else self._quantized.dtype)
    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def _symbolic_output_shapes(self, shapes, initial_state=None):
        if isinstance(shapes, list):
            raise ValueError("a recurrent layer takes one input tensor; pass states as initial_state=[...]")
        n = 2 if self.cell.has_cell_state else 1
        if initial_state is not None:
            if len(initial_state) != n:
                raise ValueError(f"initial_state must be {n} tensor(s) of shape (batch, {self.units}), got "
                                 f"{len(initial_state)}")
            for t in initial_state:
                if not _graph.compatible((None, self.units), t.shape):
                    raise ValueError(f"initial_state must have shape (batch, {self.units}), got {t.shape} "
                                     f"({_graph_source(t)})")
        y = self.compute_output_shape(shapes)
        if self.return_state:
            return [y] + [(shapes[0], self.units)] * n
        return y

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        return [out] + [None] * (2 if self.cell.has_cell_state else 1) if self.return_state else out

    def get_config(self):
        config = {**super().get_config(), "units": self.units, "activation": self.activation,
                  "use_bias": self.use_bias, "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                  "return_sequences": self.return_sequences, "return_state": self.return_state,
                  "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                  "zero_output_for_mask": self.zero_output_for_mask,
                  "kernel_initializer": initializers.serialize(self.kernel_initializer),
                  "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
                  "bias_initializer": initializers.serialize(self.bias_initializer)}
        if self.cell.gated:
            config["recurrent_activation"] = self.recurrent_activation
        return config


@register
class SimpleRNN(_Recurrent):
    """Fully-connected RNN: ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``.

    Example::

        >>> rnn = SimpleRNN(4, return_sequences=True)
        >>> rnn(np.zeros((2, 5, 3), np.float32)).shape
        (2, 5, 4)
    """

    _family = "RNN"

    def __init__(self, units, activation="tanh", **kwargs):
        if "recurrent_activation" in kwargs:
            raise TypeError("SimpleRNN has no recurrent_activation")
        super().__init__(units, activation=activation, **kwargs)

    def _make_cell(self):  # the activation is part of the core's cell (rnn_relu, ...)
        return spine.rnn_cell(self.activation, type(self).__name__, "activation", activations.names())

    def _make_module(self, input_dim):
        return nn.RNN(input_dim, self.units, nonlinearity=self.activation, bias=self.use_bias, dtype=self.dtype,
                      seed=0)


@register
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

    _family = "GRU"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", reset_after=True, **kwargs):
        self.reset_after = bool(reset_after)
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation, **kwargs)

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


@register
class LSTM(_Recurrent):
    """Long short-term memory (Keras gate order i, f, c, o). ``unit_forget_bias=True`` (the
    default) starts the forget-gate bias at 1.

    Example::

        >>> lstm = LSTM(8, return_sequences=True)
        >>> lstm(np.zeros((2, 5, 3), np.float32)).shape
        (2, 5, 8)
    """

    _family = "LSTM"

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


@register
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
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = self.return_sequences
        self._initial_weights = weights
        self._outputs = None
        self._with_state = False

    _call_state_attrs = ("_outputs", "_with_state")

    def _sublayers(self):
        return [self.forward_layer, self.backward_layer]

    @property
    def _n_states(self):
        """States per direction: [h] or [h, c]."""
        return 2 if self.forward_layer.cell.has_cell_state else 1

    def build(self, input_shape):
        for sub in self._sublayers():
            sub._maybe_build(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _split_states(self, states, what):
        """Keras's split of a flat list of states: the first half forward, the second backward."""
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        n = self._n_states
        if len(states) != 2 * n:
            raise ValueError(f"{self.name}: {what} must be {2 * n} arrays (the forward layer's "
                             f"{'[h, c]' if n == 2 else '[h]'} then the backward layer's), got {len(states)}")
        return states[:n], states[n:]

    def call(self, inputs, training=False, mask=None, initial_state=None):
        fw_state = bw_state = None
        if initial_state is not None:
            fw_state, bw_state = self._split_states(initial_state, "initial_state")
        self._with_state = initial_state is not None
        y = self.forward_layer.call(inputs, training=training, mask=mask, initial_state=fw_state)
        y_rev = self.backward_layer.call(inputs, training=training, mask=mask, initial_state=bw_state)
        states = []
        if self.return_state:  # Keras: [output(s), forward states..., backward states...]
            states = y[1:] + y_rev[1:]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        self._outputs = (y, y_rev) if training and self.merge_mode == "mul" else None
        mode = self.merge_mode
        if mode == "concat":
            out = [np.concatenate([y, y_rev], axis=-1)]
        elif mode == "sum":
            out = [y + y_rev]
        elif mode == "mul":
            out = [y * y_rev]
        elif mode == "ave":
            out = [(y + y_rev) / 2]
        else:
            out = [y, y_rev]
        if self.return_state or mode is None:
            return out + states
        return out[0]

    def export_description(self):
        """What ONNX export needs: a ``BidirectionalExport`` of both directions' descriptions."""
        return BidirectionalExport(name=self.name, forward=self.forward_layer.export_description(),
                                   backward=self.backward_layer.export_description(), merge_mode=self.merge_mode,
                                   return_sequences=self.return_sequences)

    def _split_grad(self, grad):
        """dL/d(each direction's output) from dL/d(the merged output); None stays None."""
        mode = self.merge_mode
        if mode is None:
            g, g_rev = grad
        elif grad is None:
            g = g_rev = None
        elif mode == "concat":
            u = self.forward_layer.units
            g, g_rev = grad[..., :u], grad[..., u:]
        elif mode == "sum":
            g = g_rev = grad
        elif mode == "mul":
            y, y_rev = self._outputs
            g, g_rev = grad * y_rev, grad * y
        else:
            g = g_rev = grad / 2
        if self.return_sequences and g_rev is not None:
            g_rev = g_rev[:, ::-1]
        return g, g_rev

    def backward(self, grad):
        """``grad`` follows the outputs: [d output (or the two outputs with merge_mode=None),
        d forward states..., d backward states...] with ``return_state``. After a call with
        ``initial_state`` it returns [d input, d forward states..., d backward states...]."""
        fw_sg = bw_sg = None
        if self.return_state or self.merge_mode is None:
            grad = list(grad)
            k = 2 if self.merge_mode is None else 1
            outs = grad[:k]
            if self.return_state:
                fw_sg, bw_sg = self._split_states(grad[k:] + [None] * (k + 2 * self._n_states - len(grad)),
                                                  "the state gradients")
            grad = outs if k == 2 else outs[0]
        g, g_rev = self._split_grad(grad)
        res = self.forward_layer.backward([g] + fw_sg if self.return_state else g)
        res_rev = self.backward_layer.backward([g_rev] + bw_sg if self.return_state else g_rev)
        if not self._with_state:
            return res + res_rev
        return [res[0] + res_rev[0]] + list(res[1:]) + list(res_rev[1:])

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        outs = [out, out] if self.merge_mode is None else [out]
        if self.return_state:
            return outs + [None] * (2 * self._n_states)
        return outs if self.merge_mode is None else out

    def compute_output_shape(self, input_shape):
        shape = tuple(self.forward_layer.compute_output_shape(input_shape))
        if self.merge_mode == "concat":
            shape = shape[:-1] + (2 * shape[-1],)
        shapes = [shape, shape] if self.merge_mode is None else [shape]
        if self.return_state:
            return shapes + [(input_shape[0], self.forward_layer.units)] * (2 * self._n_states)
        return shapes if self.merge_mode is None else shape

    def _symbolic_output_shapes(self, shapes, initial_state=None):
        if isinstance(shapes, list):
            raise ValueError("Bidirectional takes one input tensor; pass states as initial_state=[...]")
        if initial_state is not None:
            for t in [s for half in self._split_states(initial_state, "initial_state") for s in half]:
                if not _graph.compatible((None, self.forward_layer.units), t.shape):
                    raise ValueError(f"initial_state must have shape (batch, {self.forward_layer.units}), got "
                                     f"{t.shape} ({_graph_source(t)})")
        return self.compute_output_shape(shapes)

    def reset_states(self, states=None):
        """Stateful layers: forget both directions' states (or set them: forward's, then backward's)."""
        fw, bw = (None, None) if states is None else self._split_states(states, "states")
        self.forward_layer.reset_states(fw)
        self.backward_layer.reset_states(bw)

    reset_state = reset_states

    @property
    def states(self):
        """The forward layer's states then the backward layer's (None before a stateful call)."""
        fw, bw = self.forward_layer.states, self.backward_layer.states
        return None if fw is None or bw is None else fw + bw

    def parameter_bindings(self):
        if not self.trainable:
            return []
        return self.forward_layer.parameter_bindings() + self.backward_layer.parameter_bindings()

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
        config = super().get_config()
        inner = serialize(self.forward_layer)
        inner["config"]["name"] = inner["config"]["name"][len("forward_"):]
        return {**config, "layer": inner, "merge_mode": self.merge_mode}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(deserialize(config.pop("layer")), **config)
