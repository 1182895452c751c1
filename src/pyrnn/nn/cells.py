"""Single-step cells, as torch.nn's: ``RNNCell``, ``GRUCell``, ``LSTMCell``.

For streaming (audio, sensors, text one token at a time) a cell is called once per time
step. A call goes straight to the core's streaming path, which uses the weights as they are
(no packing). In training mode (outside ``pyrnn.no_grad()``) each call also records its inputs
(x, h, c: what backward needs), and ``backward`` walks the recorded steps in reverse, one per
call, like a tape: it recomputes that step's gates on the sequence path and backpropagates
through them. A recorded step thus costs about an eval step plus three copies.

Example::

    >>> cell = pyrnn.nn.GRUCell(64, 128, seed=0).eval()
    >>> h = None
    >>> for x_t in np.zeros((20, 1, 64), np.float32):      # one step per sample
    ...     h = cell(x_t, h)
    >>> h.shape
    (1, 128)
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .. import _recurrent as spine
from .._grad_mode import is_grad_enabled
from ..quantized import QuantizedCell
from .modules import Module, _check_dims, _check_param_memory, _make_rng, _resolve_dtype, as_float_array


class RNNCellBase(Module):
    """Parameters (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``) and the step."""

    def __init__(self, cell: spine.CellSpec, input_size: int, hidden_size: int, bias: bool = True,
                 dtype: DTypeLike = np.float32, seed: Optional[int] = None) -> None:
        """``cell``: the ``spine.CellSpec`` this cell steps (its mode is ``cell.mode``)."""
        self.cell, self.mode = cell, cell.mode
        self.input_size = spine.check_size("input_size", input_size)
        self.hidden_size = spine.check_size("hidden_size", hidden_size)
        self.bias = bool(bias)
        self.dtype = _resolve_dtype(dtype)
        self._rng = _make_rng(seed)
        gates = cell.gates * self.hidden_size
        _check_dims(type(self).__name__, self.input_size, gates)
        shapes: dict[str, tuple[int, ...]] = {"weight_ih": (gates, self.input_size), "weight_hh": (gates, self.hidden_size)}
        if self.bias:
            shapes.update(bias_ih=(gates,), bias_hh=(gates,))
        _check_param_memory(type(self).__name__, shapes, self.dtype)
        self._init_params(shapes, 1.0 / np.sqrt(self.hidden_size))
        # (x, h, c or None, batched) per recorded call: plain tuples of arrays, which the garbage
        # collector does not track (a tape of objects made every collection slower as it grew).
        self._tape: list[tuple[np.ndarray, np.ndarray, Optional[np.ndarray], bool]] = []

    def train(self, mode: bool = True) -> Any:
        self._tape = []
        return super().train(mode)

    def quantize(self, dtype: str = "int8") -> Any:
        """An inference-only quantized copy (``pyrnn.quantized.QuantizedCell``) of an LSTMCell,
        GRUCell or RNNCell (tanh, relu): the int8 scheme of ``pyrnn.reference_quant``, or
        ``"bfloat16"``. Training it raises."""
        return QuantizedCell(self, dtype)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._tape = []

    def layer_weights(self) -> spine.LayerWeights:
        """The live weights as a ``LayerWeights`` (w_ih, w_hh, b_ih, b_hh; absent biases None)."""
        return spine.LayerWeights.from_params(self._params)

    def _input(self, x):
        # The common case, a C-contiguous array of the right dtype, is checked without copying.
        if not (type(x) is np.ndarray and x.dtype == self.dtype and x.flags.c_contiguous):
            x = as_float_array("input", x, self.dtype)
        if x.ndim == 1:
            x = x[None, :]
            batched = False
        elif x.ndim == 2:
            batched = True
        else:
            raise ValueError(f"input: expected (batch, {self.input_size}) or ({self.input_size},), got shape {x.shape}")
        if x.shape[1] != self.input_size:
            raise ValueError(f"input: expected {self.input_size} features, got shape {x.shape}")
        return x, batched

    def _state(self, name, value, batch, batched):
        shape = (batch, self.hidden_size)
        if value is None:
            return np.zeros(shape, self.dtype)
        if not (type(value) is np.ndarray and value.dtype == self.dtype and value.flags.c_contiguous):
            value = as_float_array(name, value, self.dtype)
        expected = shape if batched else (self.hidden_size,)
        if value.shape != expected:
            raise ValueError(f"{name}: expected shape {expected}, got {value.shape}")
        return value.reshape(shape)

    def _step(self, x, h, c, batched):
        if self.training and is_grad_enabled():  # the caller may change its arrays later: copies
            self._tape.append((x.copy(), h.copy(), None if c is None else c.copy(), batched))
        h_new, c_new = spine.step(self.cell, x, h, c, weights=self.layer_weights())
        if not batched:
            h_new = h_new[0]
            c_new = None if c_new is None else c_new[0]
        return h_new, c_new

    def backward(self, grad_h: ArrayLike, grad_c: Optional[ArrayLike] = None) -> tuple[np.ndarray, Any]:
        """Backpropagate through the most recent training-mode call not yet backpropagated.

        ``grad_h`` is dL/dh' (LSTM also ``grad_c`` = dL/dc'). Returns ``(grad_input, grad_h)``
        (LSTM: ``(grad_input, (grad_h, grad_c))``) and adds the parameter gradients into
        ``self.grads``. Calls pair with forward calls last-first, as in backpropagation through time.
        """
        if not self._tape:
            raise ValueError("backward() needs a forward call in training mode first (each call allows one backward)")
        x, h, c, batched = self._tape[-1]
        batch = x.shape[0]
        gh = self._state("grad_h", grad_h, batch, batched)
        lstm = self.cell.has_cell_state
        gc = self._state("grad_c", grad_c, batch, batched) if lstm else None
        self._tape.pop()
        # The step's gates, recomputed on the sequence path (which keeps them for backward).
        res = spine.forward(self.cell, x[None], h, c, weights=self.layer_weights(), training=True)
        assert res.workspace is not None  # training=True keeps it
        grads = spine.backward(res.workspace, np.ascontiguousarray(gh[None]), np.zeros_like(gh), gc)
        self.accumulate_gradients(grads)
        dx, dh, dc = grads.x[0], grads.h0, grads.c0
        if not batched:
            dx, dh = dx[0], dh[0]
            dc = None if dc is None else dc[0]
        return (dx, (dh, dc)) if lstm else (dx, dh)

    def __repr__(self):
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}" + (", bias=False)" if not self.bias else ")")


class RNNCell(RNNCellBase):
    """``h' = act(W_ih x + b_ih + W_hh h + b_hh)``, act = tanh or relu (also sigmoid, linear):
    ``h = cell(x, h)``."""

    _torch_args = RNNCellBase._torch_args + ("nonlinearity",)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype: DTypeLike = np.float32, seed: Optional[int] = None) -> None:
        self.nonlinearity = nonlinearity
        super().__init__(spine.rnn_cell(nonlinearity), input_size, hidden_size, bias, dtype, seed)

    def __call__(self, input: ArrayLike, hx: Any = None) -> Any:
        x, batched = self._input(input)
        return self._step(x, self._state("hx", hx, x.shape[0], batched), None, batched)[0]


class GRUCell(RNNCellBase):
    """One GRU step (gate order r, z, n, as torch.nn.GRUCell): ``h = cell(x, h)``.

    ``reset_after=False`` gives the other variant (Keras reset_after=False, ONNX default).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, reset_after: bool = True,
                 dtype: DTypeLike = np.float32, seed: Optional[int] = None) -> None:
        self.reset_after = bool(reset_after)
        super().__init__(spine.cell_for("GRU", reset_after=self.reset_after), input_size, hidden_size, bias,
                         dtype, seed)

    def __call__(self, input: ArrayLike, hx: Any = None) -> Any:
        x, batched = self._input(input)
        return self._step(x, self._state("hx", hx, x.shape[0], batched), None, batched)[0]


class LSTMCell(RNNCellBase):
    """One LSTM step (gate order i, f, g, o, as torch.nn.LSTMCell): ``h, c = cell(x, (h, c))``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: DTypeLike = np.float32,
                 seed: Optional[int] = None) -> None:
        super().__init__(spine.CELLS["lstm"], input_size, hidden_size, bias, dtype, seed)

    def __call__(self, input: ArrayLike, hx: Any = None) -> Any:
        x, batched = self._input(input)
        if hx is None:
            hx = (None, None)
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError("LSTMCell hx must be a tuple (h, c)")
        batch = x.shape[0]
        h = self._state("h", hx[0], batch, batched)
        c = self._state("c", hx[1], batch, batched)
        return self._step(x, h, c, batched)
