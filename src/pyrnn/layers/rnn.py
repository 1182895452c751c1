"""``layers.RNN(cell)`` with ``SimpleRNNCell``, ``GRUCell``, ``LSTMCell`` and ``StackedRNNCells``.

A cell here is the description of one recurrent layer's step (its units and options); ``RNN``
runs every cell as the matching fused layer (``SimpleRNN``, ``GRU``, ``LSTM``: the core's
sequence kernels, not a Python loop over steps). A stack of cells (``StackedRNNCells`` or a
list) runs as a stack of those layers, each feeding its sequence to the next, which is what
Keras's per-step stacked cell computes. Weights are the cells' in order, each in Keras's layout.

Example::

    >>> rnn = RNN(LSTMCell(8), return_sequences=True)
    >>> rnn(np.zeros((2, 5, 3), np.float32)).shape
    (2, 5, 8)
"""

from __future__ import annotations

from typing import Any

from .base import Layer, deserialize, register, serialize
from .recurrent import GRU, LSTM, SimpleRNN


class _Cell:
    """The options of one recurrent step; ``RNN`` turns it into its fused layer."""

    _layer: Any = None

    def __init__(self, units, **kwargs):
        self.units = units
        self.options = kwargs
        self._layer(units, **kwargs)  # the options are checked now, as Keras does when the cell is made

    @property
    def state_size(self):
        return [self.units] * (2 if self._layer is LSTM else 1)

    def make_layer(self, **rnn_options):
        """The fused layer: the RNN's options, with the cell's own dtype/seed/name taking precedence."""
        return self._layer(self.units, **{**rnn_options, **self.options})

    def get_config(self):
        return {"units": self.units, **self.options}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@register
class SimpleRNNCell(_Cell):
    """The step of ``SimpleRNN`` (same arguments)."""

    _layer = SimpleRNN


@register
class GRUCell(_Cell):
    """The step of ``GRU`` (same arguments)."""

    _layer = GRU


@register
class LSTMCell(_Cell):
    """The step of ``LSTM`` (same arguments)."""

    _layer = LSTM


@register
class StackedRNNCells:
    """Cells applied in turn at each step: the first's output is the second's input."""

    def __init__(self, cells, **kwargs):
        self.cells = list(cells)
        for c in self.cells:
            if not isinstance(c, _Cell):
                raise TypeError(f"StackedRNNCells takes SimpleRNNCell, GRUCell or LSTMCell, got {type(c).__name__}")

    @property
    def state_size(self):
        return [s for c in self.cells for s in c.state_size]

    def get_config(self):
        return {"cells": [serialize(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config):
        return cls([deserialize(c) for c in config["cells"]])


@register
class RNN(Layer):
    """Runs ``cell`` (a cell, a list of cells, or StackedRNNCells) over the time axis, with
    Keras's ``return_sequences``, ``return_state``, ``go_backwards`` and ``stateful``; with
    ``return_state`` the states of every cell follow the output, and ``initial_state`` takes them
    in the same order."""

    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        cells = cell.cells if isinstance(cell, StackedRNNCells) else list(cell) if isinstance(cell, list) else [cell]
        for c in cells:
            if not isinstance(c, _Cell):
                raise TypeError(f"RNN runs SimpleRNNCell, GRUCell, LSTMCell or StackedRNNCells (custom cells are "
                                f"not supported by pyrnn), got {type(c).__name__}")
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        last = len(cells) - 1
        self._stack = [c.make_layer(return_sequences=self.return_sequences or i < last, return_state=True,
                                    go_backwards=self.go_backwards and i == 0, stateful=self.stateful,
                                    zero_output_for_mask=self.zero_output_for_mask, dtype=self.dtype,
                                    name=f"{self.name}_cell_{i}",
                                    **({} if self.seed is None else {"seed": self.seed + i}))
                       for i, c in enumerate(cells)]
        self._counts = [2 if isinstance(c, LSTMCell) else 1 for c in cells]
        self._with_state = False

    _call_state_attrs = ("_with_state",)

    def _sublayers(self):
        return list(self._stack)

    def build(self, input_shape):
        shape = input_shape
        for layer in self._stack:
            layer._maybe_build(shape)
            shape = layer.compute_output_shape(shape)

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for layer in self._stack:
            shape = layer.compute_output_shape(shape)
        return shape

    def _symbolic_output_shapes(self, shapes, initial_state=None):
        if initial_state is not None and len(initial_state) != sum(self._counts):
            raise ValueError(f"initial_state must be {sum(self._counts)} tensors (the cells' states in order), "
                             f"got {len(initial_state)}")
        y = self.compute_output_shape(shapes)
        if not self.return_state:
            return y
        return [y] + [(shapes[0], l.units) for l, n in zip(self._stack, self._counts) for _ in range(n)]

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        return [out] + [None] * sum(self._counts) if self.return_state else out

    def _split_states(self, states):
        out, i = [], 0
        for n in self._counts:
            out.append(None if states is None else list(states[i:i + n]))
            i += n
        return out

    def call(self, inputs, training=False, mask=None, initial_state=None):
        if initial_state is not None and not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        self._with_state = initial_state is not None
        x, states = inputs, []
        for layer, init in zip(self._stack, self._split_states(initial_state)):
            out = layer.call(x, training=training, mask=mask, initial_state=init)
            x = out[0]
            states += out[1:]
        return [x] + states if self.return_state else x

    def backward(self, grad):
        if self.return_state:
            grad, state_grads = grad[0], list(grad[1:])
        else:
            state_grads = [None] * sum(self._counts)
        per_layer = self._split_states(state_grads)
        init_grads = []
        for layer, sg in zip(self._stack[::-1], per_layer[::-1]):
            res = layer.backward([grad] + sg)
            if self._with_state:
                grad, init = res[0], res[1:]
                init_grads = init + init_grads
            else:
                grad = res
        return [grad] + init_grads if self._with_state else grad

    def reset_states(self, states=None):
        for layer, s in zip(self._stack, self._split_states(states)):
            layer.reset_states(s)

    reset_state = reset_states

    def parameter_bindings(self):
        return [b for l in self._stack for b in l.parameter_bindings()] if self.trainable else []

    def get_weights(self):
        return [w for l in self._stack for w in l.get_weights()]

    def set_weights(self, weights):
        weights = list(weights)
        for layer in self._stack:
            n = len(layer.get_weights())
            layer.set_weights(weights[:n])
            weights = weights[n:]

    def count_params(self):
        return sum(l.count_params() for l in self._stack)

    def get_config(self):
        return {**super().get_config(), "cell": [serialize(c) for c in self._cells()],
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful, "unroll": self.unroll,
                "zero_output_for_mask": self.zero_output_for_mask}

    def _cells(self):
        cell = self.cell
        return cell.cells if isinstance(cell, StackedRNNCells) else list(cell) if isinstance(cell, list) else [cell]

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cells = [deserialize(c) for c in config.pop("cell")]
        return cls(cells if len(cells) > 1 else cells[0], **config)
