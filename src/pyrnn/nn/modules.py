"""PyTorch-style recurrent layers: ``RNN``, ``GRU`` and ``LSTM`` on NumPy arrays.

They follow ``torch.nn``: the same constructor arguments, shapes, defaults, parameter names,
gate orders and initialisation, so a PyTorch ``state_dict()`` loads as it is. Training is
explicit: ``forward`` in training mode keeps what ``backward`` needs, and ``backward``
returns the input and initial-state gradients and adds the parameter gradients into
``.grads``.

Example::

    >>> import numpy as np, pyrnn
    >>> lstm = pyrnn.nn.LSTM(input_size=8, hidden_size=16, num_layers=2, batch_first=True, seed=0)
    >>> x = np.random.default_rng(0).standard_normal((4, 10, 8), dtype=np.float32)   # (B, T, I)
    >>> out, (h_n, c_n) = lstm(x)
    >>> out.shape, h_n.shape
    ((4, 10, 16), (2, 4, 16))
    >>> grad_x, (grad_h0, grad_c0) = lstm.backward(np.ones_like(out))
    >>> sorted(lstm.grads)[:2]
    ['bias_hh_l0', 'bias_hh_l1']
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .. import _recurrent as spine
from .._grad_mode import is_grad_enabled
from .._optional import require
from ..quantized import QuantizedRNN

_MAX_DIM = 2**31 // 8 - 1  # the core's limit on I, G*H and T*B (its kernels index with int)
_check_size = spine.check_size


def _make_rng(seed: Any) -> np.random.Generator:
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as e:
        raise type(e)(f"seed must be None or a non-negative int, got {seed!r} ({e})") from e


def _check_param_memory(owner, shapes, dtype):
    """MemoryError before drawing parameters that cannot fit: each is drawn in float64, then
    kept with its gradient in ``dtype``."""
    elems = sum(int(np.prod(shape, dtype=np.float64)) for shape in shapes.values())
    largest = max(int(np.prod(shape, dtype=np.float64)) for shape in shapes.values())
    need = elems * 2 * dtype.itemsize + largest * 8
    limit = 0.9 * spine.memory_limit()
    if need > limit:
        raise MemoryError(f"{owner}: the parameters and their gradients need about {need / 1e9:.3g} GB, "
                          f"more than 90% of the {limit / 0.9e9:.3g} GB of memory this process can use")


def _check_dims(owner, input_size, gate_rows):
    for name, value in (("input_size", input_size), ("gates * hidden_size", gate_rows)):
        if value > _MAX_DIM:
            raise ValueError(f"{owner}: {name} must be at most {_MAX_DIM} (the core's int indexing), got {value}")


def _resolve_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from e
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def as_float_array(name: str, value: Any, dtype: DTypeLike, copy: bool = False) -> np.ndarray:
    """``value`` as a C-contiguous array of the layer's dtype; ints and other floats convert,
    anything else (object, strings, complex, bool) is a TypeError. ``copy=True`` guarantees
    the result shares no memory with ``value`` (for arrays that backward reads later)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ma.MaskedArray):  # np.asarray would drop the mask and read what is under it
        raise TypeError(f"{name}: masked arrays are not supported (their masked values would be read); "
                        "pass lengths= for padded sequences, or value.filled(0)")
    try:
        arr = np.asarray(value)
    except Exception as e:  # ragged lists and the like
        raise TypeError(f"{name}: expected an array of numbers, could not convert ({e})") from e
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected real numbers (float or int), got dtype {arr.dtype}")
    if copy:
        return np.array(arr, dtype=dtype, order="C", copy=True)
    return np.asarray(arr, dtype=dtype, order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)


_TORCH_TWINS = ("RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell")  # the classes torch.nn has too


def _torch_twin(cls):
    """The name of the torch.nn class that ``cls`` (or the pyrnn.nn class it derives from) mirrors,
    or None: ``_torch_twin(LSTM) == "LSTM"``, also for a user's ``class MyLSTM(pyrnn.nn.LSTM)``."""
    return next((k.__name__ for k in cls.__mro__
                 if k.__name__ in _TORCH_TWINS and k.__module__.startswith(__package__ + ".")), None)


def _import_torch():
    return require("torch", "from_torch/to_torch", "torch")


class Module:
    """Parameters and their gradients under PyTorch's names: the part every layer shares.

    Subclasses fill ``self._params`` (name -> array, in PyTorch's order) and keep what
    backward needs in ``self._cache`` (dropped by ``eval()`` and ``load_state_dict``).
    """

    # The constructor arguments shared with the torch.nn class of the same name (from_torch/to_torch).
    _torch_args: tuple[str, ...] = ("input_size", "hidden_size", "bias")
    # set by the subclasses' constructors and _init_params
    dtype: np.dtype
    training: bool
    grads: dict[str, np.ndarray]
    _params: dict[str, np.ndarray]
    _rng: np.random.Generator
    _cache: Any

    @classmethod
    def from_torch(cls, module: Any) -> Any:
        """A pyrnn copy of the ``torch.nn`` module of the same name (same options, dtype, weights
        and train/eval mode). Example::

            >>> lstm = pyrnn.nn.LSTM.from_torch(torch.nn.LSTM(8, 16, num_layers=2, batch_first=True))
        """
        twin = _torch_twin(cls)
        if twin is None:
            raise TypeError(f"from_torch is called on one of pyrnn.nn.{', '.join(_TORCH_TWINS)}, not on {cls.__name__}")
        torch = _import_torch()
        if not isinstance(module, getattr(torch.nn, twin)):
            raise TypeError(f"{cls.__name__}.from_torch expects a torch.nn.{twin}, "
                            f"got {type(module).__module__}.{type(module).__name__}")
        dtypes = {p.dtype for p in module.parameters()}
        if not dtypes <= {torch.float32, torch.float64} or len(dtypes) != 1:
            raise TypeError(f"{cls.__name__}.from_torch: parameters must be all float32 or all float64, "
                            f"got {sorted(map(str, dtypes))}")
        dtype = np.float64 if dtypes == {torch.float64} else np.float32
        make: Any = cls  # a subclass: its constructor takes the torch arguments
        obj = make(**{arg: getattr(module, arg) for arg in cls._torch_args}, dtype=dtype)
        obj.load_state_dict(module.state_dict())
        return obj.train(module.training)

    def to_torch(self) -> Any:
        """The ``torch.nn`` module of the same name with this module's options, dtype, weights
        and train/eval mode. Example::

            >>> torch_gru = pyrnn.nn.GRU(8, 16).to_torch()
        """
        twin = _torch_twin(type(self))
        if twin is None:
            raise TypeError(f"to_torch: {type(self).__name__} has no torch.nn counterpart "
                            f"(one of pyrnn.nn.{', '.join(_TORCH_TWINS)} has)")
        torch = _import_torch()
        if getattr(self, "nonlinearity", "tanh") not in ("tanh", "relu"):
            raise ValueError(f"to_torch: torch.nn.{twin} has no nonlinearity={getattr(self, 'nonlinearity', 'tanh')!r} "
                             "(only 'tanh' and 'relu')")
        if not getattr(self, "reset_after", True):
            raise ValueError(f"to_torch: torch.nn.{twin} has no reset_after=False (PyTorch's GRU "
                             "applies the reset gate after the recurrent product only)")
        dtype = torch.float64 if self.dtype == np.float64 else torch.float32
        module = getattr(torch.nn, twin)(**{arg: getattr(self, arg) for arg in self._torch_args}, dtype=dtype)
        module.load_state_dict({name: torch.from_numpy(p.copy()) for name, p in self._params.items()})
        return module.train(self.training)

    def _init_params(self, shapes, bound):
        """Draw every parameter from U(-bound, bound), in order, and zero the gradients."""
        self._params = {name: self._rng.uniform(-bound, bound, size=shape).astype(self.dtype)
                        for name, shape in shapes.items()}
        self.grads = {name: np.zeros_like(p) for name, p in self._params.items()}
        self.training = True
        self._cache = None

    def named_parameters(self) -> list[tuple[str, np.ndarray]]:
        """(name, array) pairs in PyTorch's order; the arrays are the live parameters."""
        return list(self._params.items())

    def parameters(self) -> list[np.ndarray]:
        """The live parameter arrays (update them in place to train)."""
        return list(self._params.values())

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of the parameters under PyTorch's names (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...)."""
        return {name: p.copy() for name, p in self._params.items()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load parameters by name (numpy arrays, torch tensors or anything np.asarray takes).

        Every key must be present with the right shape; a missing or unexpected key or a wrong
        shape raises ValueError naming it, and nothing is changed.
        """
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        missing = [k for k in self._params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in self._params]
        if missing or unexpected:
            raise ValueError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        loaded = {}
        for name, current in self._params.items():
            value = as_float_array(name, state_dict[name], self.dtype)
            if value.shape != current.shape:
                raise ValueError(f"load_state_dict: {name} expected shape {current.shape}, got {value.shape}")
            loaded[name] = value
        for name, value in loaded.items():
            self._params[name][...] = value
        self._cache = None

    def zero_grad(self) -> None:
        for g in self.grads.values():
            g.fill(0)

    # ------------------------------------------------------------------ flat-buffer binding
    def parameter(self, name: str) -> np.ndarray:
        """The live parameter array ``name`` (torch's name)."""
        return self._params[name]

    def gradient(self, name: str) -> np.ndarray:
        """The live gradient array of parameter ``name``."""
        return self.grads[name]

    def bind_parameter(self, name: str, weight: np.ndarray, grad: np.ndarray) -> None:
        """Keep parameter ``name`` and its gradient in the given arrays from now on (views into a
        model's flat buffers, see ``pyrnn._flat``): the current value is copied
        into ``weight``. Later writes (``load_state_dict``, optimizers) go to these arrays."""
        current = self._params[name]
        if weight.shape != current.shape or grad.shape != current.shape:
            raise ValueError(f"bind_parameter: {name} has shape {current.shape}, got {weight.shape} and {grad.shape}")
        weight[...] = current
        self._params[name], self.grads[name] = weight, grad

    def accumulate_gradients(self, gradients: spine.Gradients, suffix: str = "") -> None:
        """Add a ``spine.Gradients`` (one layer and direction) into ``grads`` under torch's
        names ending in ``suffix`` (``"_l0"``, ``"_l1_reverse"``; cells: ``""``)."""
        gradients.add_to(self.grads, suffix)

    def train(self, mode: bool = True) -> Any:
        self.training = bool(mode)
        if not self.training:
            self._cache = None
        return self

    def eval(self) -> Any:
        return self.train(False)


class RNNBase(Module):
    """The machinery shared by RNN, GRU and LSTM: parameters, stacking, directions, backward.

    The core runs one layer in one direction over a time-major sequence; this class chains
    layers (the concatenated outputs of both directions feed the next layer), reverses time
    for the reverse direction and keeps, in training mode, what backward needs.
    """

    _torch_args = Module._torch_args + ("num_layers", "batch_first", "dropout", "bidirectional")

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 reset_after: bool = True, dtype: DTypeLike = np.float32, seed: Optional[int] = None) -> None:
        cell = spine.cell_for(mode, reset_after=bool(reset_after))
        self.mode = mode
        self.input_size = _check_size("input_size", input_size)
        self.hidden_size = _check_size("hidden_size", hidden_size)
        self.num_layers = _check_size("num_layers", num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = spine.check_dropout("dropout", dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = _check_size("proj_size", proj_size, minimum=0)
        if self.proj_size and mode != "LSTM":
            raise ValueError("proj_size is only supported by LSTM")
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size ({self.hidden_size}), got {self.proj_size}")
        self.reset_after = bool(reset_after)
        self.cell = cell
        self.dtype = _resolve_dtype(dtype)
        self._rng = _make_rng(seed)
        gates = cell.gates * self.hidden_size
        _check_dims(type(self).__name__, self.input_size, gates)
        shapes: dict[str, tuple[int, ...]] = {}
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                in_size = self.input_size if layer == 0 else self.out_size * self.num_directions
                kinds: dict[str, tuple[int, ...]] = {"weight_ih": (gates, in_size), "weight_hh": (gates, self.out_size)}
                if self.bias:
                    kinds.update(bias_ih=(gates,), bias_hh=(gates,))
                if self.proj_size:
                    kinds["weight_hr"] = (self.proj_size, self.hidden_size)
                for kind, shape in kinds.items():
                    shapes[self._name(kind, layer, direction)] = shape
        _check_dims(type(self).__name__, self.out_size * self.num_directions, gates)
        _check_param_memory(type(self).__name__, shapes, self.dtype)
        self._init_params(shapes, 1.0 / np.sqrt(self.hidden_size))

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @staticmethod
    def _name(kind, layer, direction):
        return f"{kind}_l{layer}" + ("_reverse" if direction else "")

    def layer_weights(self, layer: int, direction: int = 0) -> spine.LayerWeights:
        """The live weights of one layer and direction as a ``LayerWeights`` (w_ih, w_hh, b_ih,
        b_hh, w_hr; absent ones None), in torch's layout and gate order."""
        return spine.LayerWeights.from_params(self._params, self._name("", layer, direction))

    @property
    def out_size(self) -> int:
        """Width of h (and of each direction's output): proj_size when projecting, else hidden_size."""
        return self.proj_size or self.hidden_size

    # ------------------------------------------------------------------ forward

    def _state_shape(self, batch, cell_state=False):
        width = self.hidden_size if cell_state else self.out_size
        return (self.num_layers * self.num_directions, batch, width)

    def _check_input(self, x, recording):
        # When recording, backward reads x later: never keep a view of the caller's array.
        x = as_float_array("input", x, self.dtype, copy=recording)
        if x.ndim not in (2, 3):
            raise ValueError(f"input: expected a 2-D (unbatched) or 3-D array, got shape {x.shape}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input: expected {self.input_size} features in the last dimension, got shape {x.shape}")
        batched = x.ndim == 3
        if not batched:
            x = x[:, None, :]
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        return np.ascontiguousarray(x), batched

    def _check_state(self, name, value, batch, batched, copy=False, cell_state=False):
        expected = self._state_shape(batch, cell_state)
        if value is None:
            return np.zeros(expected, dtype=self.dtype)
        value = as_float_array(name, value, self.dtype, copy=copy)
        shown = expected if batched else (expected[0], expected[2])
        if value.shape != shown:
            raise ValueError(f"{name}: expected shape {shown}, got {value.shape}")
        return np.ascontiguousarray(value.reshape(expected))

    def __call__(self, input: ArrayLike, hx: Any = None, *, lengths: Optional[ArrayLike] = None) -> tuple[np.ndarray, Any]:
        return self.forward(input, hx, lengths=lengths)

    def _initial_state(self, name, hx, batch, batched, copy=False):
        """(h_0, c_0 or None) from ``hx`` (LSTM: a tuple (h, c)), zeros where None, in (L*D, B, H)."""
        if self.cell.has_cell_state:
            if hx is None:
                hx = (None, None)
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError("LSTM hx must be a tuple (h_0, c_0)" if name == "hx"
                                else "LSTM grad_hn must be a tuple (grad_h_n, grad_c_n)")
            names = ("h_0", "c_0") if name == "hx" else ("grad_h_n", "grad_c_n")
            return (self._check_state(names[0], hx[0], batch, batched, copy=copy),
                    self._check_state(names[1], hx[1], batch, batched, copy=copy, cell_state=True))
        return self._check_state(name, hx, batch, batched, copy=copy), None

    def forward(self, input: ArrayLike, hx: Any = None, *, lengths: Optional[ArrayLike] = None) -> tuple[np.ndarray, Any]:
        """Run the layers over ``input``: (T, B, I), or (B, T, I) with batch_first, or (T, I).

        Returns ``(output, h_n)`` (LSTM: ``(output, (h_n, c_n))``) like torch.nn.
        ``lengths`` (B integers in [0, T]) marks right-padded sequences: outputs past a
        sequence's length are zero, h_n is its state at its last valid step, and the reverse
        direction starts at its own end — what torch gives with a PackedSequence.
        """
        training = self.training
        recording = training and is_grad_enabled()  # keep what backward needs
        x, batched = self._check_input(input, recording)
        steps, batch = x.shape[0], x.shape[1]
        packing = None if lengths is None else spine.Packing.from_lengths(lengths, steps, batch, batched)
        lstm = self.cell.has_cell_state
        h0, c0 = self._initial_state("hx", hx, batch, batched, copy=recording)
        if packing is not None:  # the core wants rows sorted by length, longest first
            x, h0 = packing.pack(x), packing.sort_rows(h0, axis=1)
            c0 = packing.sort_rows(c0, axis=1) if lstm else None
        batch_sizes = None if packing is None else packing.batch_sizes
        reverse = (lambda a: np.ascontiguousarray(a[::-1])) if packing is None else packing.reverse_time

        h_n: Any = np.empty_like(h0)
        c_n: Any = np.empty_like(c0) if lstm else None
        layers = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs, saved = [], []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                seq = layer_input if direction == 0 else reverse(layer_input)
                res = spine.forward(self.cell, seq, h0[k], c0[k] if lstm else None,
                                    weights=self.layer_weights(layer, direction), training=recording,
                                    batch_sizes=batch_sizes)
                h_n[k] = res.h_n
                if lstm:
                    c_n[k] = res.c_n
                outputs.append(res.output if direction == 0 else reverse(res.output))
                saved.append(res.workspace)
            layer_out = outputs[0] if len(outputs) == 1 else np.concatenate(outputs, axis=2)
            mask = None
            if training and self.dropout > 0 and layer < self.num_layers - 1:
                keep = 1.0 - self.dropout
                mask = (self._rng.random(layer_out.shape) < keep).astype(self.dtype) / self.dtype.type(keep) \
                    if keep > 0 else np.zeros(layer_out.shape, self.dtype)
                layer_out = layer_out * mask
            layers.append((saved, mask))
            layer_input = np.ascontiguousarray(layer_out)

        if recording:  # (a call under no_grad leaves an earlier recording for backward)
            self._cache = {"layers": layers, "batched": batched, "steps": steps, "batch": batch,
                           "packing": packing}
        output = layer_input
        if packing is not None:
            output, h_n = packing.unpack(output), packing.unsort_rows(h_n, axis=1)
            c_n = packing.unsort_rows(c_n, axis=1) if lstm else None
        if recording and self.num_directions == 1:
            # The last layer's output is saved for backward: the caller must get its own copy,
            # or changing the returned array in place would corrupt the gradients.
            output = output.copy()
        if not batched:
            output, h_n = output[:, 0, :], h_n[:, 0, :]
            c_n = c_n[:, 0, :] if lstm else None
        elif self.batch_first:
            output = output.transpose(1, 0, 2)
        return (output, (h_n, c_n)) if lstm else (output, h_n)

    # ------------------------------------------------------------------ backward
    def backward(self, grad_output: ArrayLike, grad_hn: Any = None) -> tuple[np.ndarray, Any]:
        """Backpropagate through the last training-mode forward call.

        ``grad_output`` is dL/d(output) (same shape as output); ``grad_hn`` is dL/dh_n
        (LSTM: a tuple ``(dL/dh_n, dL/dc_n)``, either may be None). Returns ``(grad_input,
        grad_h0)`` (LSTM: ``(grad_input, (grad_h0, grad_c0))``) and adds every parameter's
        gradient into ``self.grads``. The saved state is consumed: call forward again first.
        """
        if self._cache is None:
            raise ValueError("backward() needs a forward() in training mode first (call .train(); "
                             "each forward allows one backward)")
        cache = self._cache
        batched, steps, batch = cache["batched"], cache["steps"], cache["batch"]
        lstm = self.cell.has_cell_state
        H, D = self.out_size, self.num_directions

        g = as_float_array("grad_output", grad_output, self.dtype)
        expected: tuple[int, ...] = (steps, batch, D * H)
        shown: tuple[int, ...]
        if batched and self.batch_first:
            shown = (batch, steps, D * H)
        else:
            shown = expected if batched else (steps, D * H)
        if g.shape != shown:
            raise ValueError(f"grad_output: expected shape {shown} (the output's), got {g.shape}")
        g = g.reshape(steps, batch, D * H) if not batched else (g.transpose(1, 0, 2) if self.batch_first else g)
        gh, gc = self._initial_state("grad_hn", grad_hn, batch, batched)
        # Arguments are valid: the saved state (its workspace is used up in place) is consumed now.
        self._cache = None

        packing = cache["packing"]
        if packing is not None:
            g, gh = g[:, packing.order], packing.sort_rows(gh, axis=1)
            gc = packing.sort_rows(gc, axis=1) if lstm else None
        reverse = (lambda a: np.ascontiguousarray(a[::-1])) if packing is None else packing.reverse_time
        grad_h0: Any = np.empty_like(gh)
        grad_c0: Any = np.empty_like(gc) if lstm else None
        for layer in reversed(range(self.num_layers)):
            saved, mask = cache["layers"][layer]
            if mask is not None:
                g = g * mask
            grad_in: Any = None
            for direction in range(D):
                k = layer * D + direction
                go = g[:, :, direction * H:(direction + 1) * H]
                go = np.ascontiguousarray(go) if direction == 0 else reverse(go)
                grads = spine.backward(saved[direction], go, gh[k], gc[k] if lstm else None)
                grad_h0[k] = grads.h0
                if lstm:
                    grad_c0[k] = grads.c0
                self.accumulate_gradients(grads, self._name("", layer, direction))
                dx = grads.x if direction == 0 else reverse(grads.x)
                grad_in = dx if grad_in is None else grad_in + dx
            g = grad_in

        grad_x = g
        if packing is not None:
            grad_x, grad_h0 = packing.unpack(grad_x), packing.unsort_rows(grad_h0, axis=1)
            grad_c0 = packing.unsort_rows(grad_c0, axis=1) if lstm else None
        if not batched:
            grad_x, grad_h0 = grad_x[:, 0, :], grad_h0[:, 0, :]
            grad_c0 = grad_c0[:, 0, :] if lstm else None
        elif self.batch_first:
            grad_x = grad_x.transpose(1, 0, 2)
        grad_x = np.ascontiguousarray(grad_x)
        return (grad_x, (grad_h0, grad_c0)) if lstm else (grad_x, grad_h0)

    def __repr__(self):
        extra = f", num_layers={self.num_layers}" if self.num_layers != 1 else ""
        extra += ", bias=False" if not self.bias else ""
        extra += ", batch_first=True" if self.batch_first else ""
        extra += f", dropout={self.dropout}" if self.dropout else ""
        extra += ", bidirectional=True" if self.bidirectional else ""
        extra += f", proj_size={self.proj_size}" if self.proj_size else ""
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}{extra})"


    def quantize(self, dtype: str = "int8") -> Any:
        """An inference-only quantized copy (``pyrnn.quantized.QuantizedRNN``): LSTM, GRU and RNN
        (tanh, relu), ``dtype="int8"`` (weights per gate row, activations per row at each step, int32
        products; the scheme is ``pyrnn.reference_quant``'s) or ``"bfloat16"``. Training it
        (``train()``, ``backward``) raises."""
        return QuantizedRNN(self, dtype)


class RNN(RNNBase):
    """Elman RNN: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    ``nonlinearity`` is "tanh" or "relu" as in torch, or also "sigmoid" or "linear" (Keras
    SimpleRNN's other activations).

    Example::

        >>> rnn = pyrnn.nn.RNN(10, 20, num_layers=2, seed=0)
        >>> out, h_n = rnn(np.zeros((5, 3, 10), np.float32))     # out (5, 3, 20), h_n (2, 3, 20)
    """

    _torch_args = RNNBase._torch_args + ("nonlinearity",)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype: DTypeLike = np.float32, seed: Optional[int] = None) -> None:
        self.nonlinearity = nonlinearity
        super().__init__(spine.rnn_cell(nonlinearity).mode, input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, dtype=dtype, seed=seed)


class GRU(RNNBase):
    """Gated recurrent unit, PyTorch's gate order r, z, n::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))       h' = (1 - z) * n + z * h

    ``reset_after=False`` applies the reset before the product instead (Keras's
    reset_after=False, ONNX's default): ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``.

    Example::

        >>> gru = pyrnn.nn.GRU(10, 20, batch_first=True, seed=0)
        >>> out, h_n = gru(np.zeros((3, 5, 10), np.float32))     # out (3, 5, 20), h_n (1, 3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, reset_after: bool = True,
                 dtype: DTypeLike = np.float32, seed: Optional[int] = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         reset_after=reset_after, dtype=dtype, seed=seed)


class LSTM(RNNBase):
    """Long short-term memory, PyTorch's gate order i, f, g, o::

        i, f, o = σ(W_i* x + b_i* + W_h* h + b_h*)      g = tanh(W_ig x + b_ig + W_hg h + b_hg)
        c' = f * c + i * g                               h' = o * tanh(c')

    Example::

        >>> lstm = pyrnn.nn.LSTM(10, 20, seed=0)
        >>> out, (h_n, c_n) = lstm(np.zeros((5, 3, 10), np.float32))   # out (5, 3, 20)
    """

    _torch_args = RNNBase._torch_args + ("proj_size",)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 dtype: DTypeLike = np.float32, seed: Optional[int] = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size=proj_size, dtype=dtype, seed=seed)
