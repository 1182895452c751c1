"""``RNN``, ``GRU``, ``LSTM``, ``RNNCell``, ``GRUCell``, ``LSTMCell``: the torch.nn classes with a
forward that runs pyrnn's kernels (constructor, parameters, state_dict, .to() and the rest are
inherited unchanged). Argument handling follows torch.nn's forward step by step, so the same
shapes come back and the same exception types are raised; only the computation differs.
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Optional

import torch
from torch.nn.utils.rnn import PackedSequence

from .. import quantized
from . import _ops, _quantized

_library: Optional[ModuleType]
try:  # torch.library.custom_op (torch >= 2.4): what torch.compile and torch.export trace
    from . import _library
except (AttributeError, ImportError):  # older torch: compiled code runs torch.nn's own forward
    _library = None

_FLOATS = (torch.float32, torch.float64)
_warned: set[str] = set()


def _warn_once(what, reason):
    key = (what, reason)
    if key not in _warned:
        _warned.add(key)
        warnings.warn(f"pyrnn.torch.{what}: {reason}; running torch.nn's own implementation (warned once)",
                      RuntimeWarning, stacklevel=4)


def _unsupported(tensors, params, compiling=False):
    """Why pyrnn's kernels cannot run on these tensors (None if they can). ``params`` may be
    None: parameters already checked (their NumPy views are cached, see _ops.param_arrays)."""
    first = tensors[0]
    if compiling:
        if _library is None:
            return "torch.compile without torch.library.custom_op (torch < 2.4)"
    elif type(first) is not torch.Tensor and not isinstance(first, torch.nn.Parameter):
        return f"input of type {type(first).__name__} (a tensor subclass)"
    if not first.is_cpu:
        return f"device {first.device} (pyrnn runs on the CPU)"
    if first.dtype not in _FLOATS:
        return f"dtype {first.dtype} (pyrnn runs float32 and float64)"
    for t in tensors + (params or []):
        if t is not None and (not t.is_cpu or t.layout is not torch.strided):
            return "tensors on other devices or with other layouts"
    if torch._C._is_any_autocast_enabled():
        return "autocast (torch.autocast picks the recurrent layers' dtype)"
    if not compiling and torch._C._functorch.is_functorch_wrapped_tensor(first):
        return "a torch.func transform (vmap, grad, jvp)"
    return None


def _parameters(module, names):
    """The module's parameters by name; read from its dict (getattr on a Module costs ~0.5 us
    each), through getattr only for names that are not plain parameters (parametrizations)."""
    own = module._parameters
    return [own[name] if name in own else getattr(module, name) for name in names]


def _needs_grad(tensors):
    if not torch.is_grad_enabled():
        return False
    return any(t is not None and t.requires_grad for t in tensors)


def _torch_name(module):
    """The torch.nn class a module derives from ("LSTM", "GRUCell", ...), for torch's messages."""
    return next(k.__name__ for k in type(module).__mro__ if k.__module__ == torch.nn.LSTM.__module__)


_CELL_NAMES = {"LSTM": "lstm", "GRU": "gru", "RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu"}
_CELL_PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


class _StackMixin:
    """The forward of RNN, GRU and LSTM."""

    def forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        first = input.data if packed else input
        lstm = self.mode == "LSTM"
        flat = _parameters(self, self._flat_weights_names)
        states = list(hx) if lstm and isinstance(hx, (tuple, list)) else [hx]
        compiling = torch.compiler.is_compiling()
        arrays = None if compiling else _ops.cached_param_arrays(self, flat)
        tensors = [first] + [s for s in states if isinstance(s, torch.Tensor)]
        reason = _unsupported(tensors, None if arrays is not None else flat, compiling) \
            if isinstance(first, torch.Tensor) else "input that is not a tensor"
        if reason is not None:
            if not compiling:
                _warn_once(type(self).__name__, reason)
            return super().forward(input, hx)
        runner = _library if compiling else _ops
        if any(t.dtype != first.dtype for t in flat + [s for s in states if isinstance(s, torch.Tensor)]):
            return super().forward(input, hx)  # torch's own error about the dtypes

        D = 2 if self.bidirectional else 1
        P = self.proj_size if self.proj_size > 0 else self.hidden_size
        if packed:
            data, batch_sizes, sorted_indices, unsorted_indices = input
            batch = int(batch_sizes[0])
            if hx is not None:
                hx = self.permute_hidden(hx, sorted_indices)
            is_batched = True
        else:
            batch_sizes = sorted_indices = unsorted_indices = None
            if input.dim() not in (2, 3):
                name = _torch_name(self)
                raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D "
                                 + ("tensor instead" if name != "LSTM" else "instead"))
            is_batched = input.dim() == 3
            batch_dim = 0 if self.batch_first else 1
            if not is_batched:
                input = input.unsqueeze(batch_dim)
            if hx is not None:
                if lstm:
                    want = 3 if is_batched else 2
                    if hx[0].dim() != want or hx[1].dim() != want:
                        raise RuntimeError(
                            f"For {'batched 3-D' if is_batched else 'unbatched 2-D'} input, hx and cx should also be "
                            f"{want}-D but got ({hx[0].dim()}-D, {hx[1].dim()}-D) tensors")
                    if not is_batched:
                        hx = (hx[0].unsqueeze(1), hx[1].unsqueeze(1))
                else:
                    want = 3 if is_batched else 2
                    if hx.dim() != want:
                        raise RuntimeError(f"For {'batched 3-D' if is_batched else 'unbatched 2-D'} input, hx should "
                                           f"also be {want}-D but got {hx.dim()}-D tensor")
                    if not is_batched:
                        hx = hx.unsqueeze(1)
            batch = input.size(batch_dim)
            data = input
        if hx is None:
            zeros = torch.zeros(self.num_layers * D, batch, P, dtype=first.dtype)
            hx = (zeros, torch.zeros(self.num_layers * D, batch, self.hidden_size, dtype=first.dtype)) if lstm else zeros
        self.check_forward_args(data, hx, batch_sizes)

        if packed:
            x, lengths = torch._pad_packed_sequence(data, batch_sizes, False, 0.0, batch_sizes.numel())
        else:
            x = input.transpose(0, 1) if self.batch_first else input
            if x.size(0) == 0:
                raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        steps = x.size(0)
        masks = None
        if self.training and self.dropout > 0 and self.num_layers > 1:
            keep = 1.0 - self.dropout
            masks = [torch.empty(steps, batch, D * P, dtype=x.dtype).bernoulli_(keep).div_(keep) if keep > 0
                     else torch.zeros(steps, batch, D * P, dtype=x.dtype) for _ in range(self.num_layers - 1)]
        h0, c0 = (hx[0], hx[1]) if lstm else (hx, None)
        spec = _ops.Spec(_CELL_NAMES[self.mode], self.num_layers, D, self.bias, self.proj_size)
        grad = _needs_grad([x, h0, c0] + flat)
        if arrays is None and not compiling:
            arrays = _ops.param_arrays(self, flat)
        out, h_n, c_n = runner.run_stack(spec, x, h0, c0, flat, masks, batch_sizes, grad, arrays)
        hidden = (h_n, c_n) if lstm else h_n
        if packed:
            out_data = torch._pack_padded_sequence(out, lengths, False)[0]
            return PackedSequence(out_data, batch_sizes, sorted_indices, unsorted_indices), \
                self.permute_hidden(hidden, unsorted_indices)
        if self.batch_first:
            out = out.transpose(0, 1).contiguous()
        if not is_batched:
            out = out.squeeze(batch_dim)
            hidden = (h_n.squeeze(1), c_n.squeeze(1)) if lstm else h_n.squeeze(1)
        return out, hidden


class _CellMixin:
    """The forward of RNNCell, GRUCell and LSTMCell."""

    def forward(self, input, hx=None):
        lstm = isinstance(self, torch.nn.LSTMCell)
        params = _parameters(self, _CELL_PARAMETERS)
        states = list(hx) if lstm and isinstance(hx, (tuple, list)) else [hx]
        compiling = torch.compiler.is_compiling()
        arrays = None if compiling else _ops.cached_param_arrays(self, params)
        tensors = [input] + [s for s in states if isinstance(s, torch.Tensor)]
        reason = _unsupported(tensors, None if arrays is not None else params, compiling) \
            if isinstance(input, torch.Tensor) else "input that is not a tensor"
        if reason is not None:
            if not compiling:
                _warn_once(type(self).__name__, reason)
            return super().forward(input, hx)
        runner = _library if compiling else _ops
        if input.dim() not in (1, 2):
            raise ValueError(f"{_torch_name(self)}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        for i, s in enumerate(states):
            if s is not None and s.dim() not in (1, 2):
                what = f"hx[{i}]" if lstm else "hidden"
                raise ValueError(f"{_torch_name(self)}: Expected {what} to be 1D or 2D, got {s.dim()}D instead")
        if any(t is not None and t.dtype != input.dtype for t in params + states):
            return super().forward(input, hx)  # torch's own error about the dtypes
        is_batched = input.dim() == 2
        x = input if is_batched else input.unsqueeze(0)
        batch = x.size(0)
        if hx is None:
            h = torch.zeros(batch, self.hidden_size, dtype=x.dtype)
            c = h if lstm else None
        elif lstm:
            h, c = (hx[0], hx[1]) if is_batched else (hx[0].unsqueeze(0), hx[1].unsqueeze(0))
        else:
            h, c = (hx if is_batched else hx.unsqueeze(0)), None
        if x.size(1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {x.size(1)} expected {self.input_size}")
        for i, s in enumerate([h, c] if lstm else [h]):
            if s.size(0) != batch:
                raise RuntimeError(f"Input batch size {batch} doesn't match hidden{i} batch size {s.size(0)}")
            if s.size(1) != self.hidden_size:
                raise RuntimeError(f"hidden{i} has inconsistent hidden_size: got {s.size(1)}, expected {self.hidden_size}")
        if lstm:
            cell = "lstm"
        elif isinstance(self, torch.nn.GRUCell):
            cell = "gru"
        elif self.nonlinearity in ("tanh", "relu"):
            cell = "rnn_" + self.nonlinearity
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        grad = _needs_grad([x, h, c] + params)
        if arrays is None and not compiling:
            arrays = _ops.param_arrays(self, params)
        h_new, c_new = runner.run_cell(cell, x, h, c, *params, grad, arrays)
        if not is_batched:
            h_new = h_new.squeeze(0)
            c_new = c_new.squeeze(0) if lstm else None
        return (h_new, c_new) if lstm else h_new


class RNN(_StackMixin, torch.nn.RNN):
    """torch.nn.RNN running pyrnn's kernels (on CPU float32/float64; else torch's own)."""


class GRU(_StackMixin, torch.nn.GRU):
    """torch.nn.GRU running pyrnn's kernels (on CPU float32/float64; else torch's own)."""


class LSTM(_StackMixin, torch.nn.LSTM):
    """torch.nn.LSTM running pyrnn's kernels (on CPU float32/float64; else torch's own)."""


class RNNCell(_CellMixin, torch.nn.RNNCell):
    """torch.nn.RNNCell running pyrnn's kernels (on CPU float32/float64; else torch's own)."""


class GRUCell(_CellMixin, torch.nn.GRUCell):
    """torch.nn.GRUCell running pyrnn's kernels (on CPU float32/float64; else torch's own)."""


class LSTMCell(_CellMixin, torch.nn.LSTMCell):
    """torch.nn.LSTMCell running pyrnn's kernels (on CPU float32/float64; else torch's own)."""


_REPLACEMENTS = {torch.nn.RNN: RNN, torch.nn.GRU: GRU, torch.nn.LSTM: LSTM, torch.nn.RNNCell: RNNCell,
                 torch.nn.GRUCell: GRUCell, torch.nn.LSTMCell: LSTMCell}


def _converted(module):
    """The pyrnn.torch twin of a torch.nn recurrent module, sharing its Parameter objects (and
    its hooks, mode and every other attribute); other modules come back as they are."""
    cls = _REPLACEMENTS.get(type(module))
    if cls is None:
        return module
    new = cls.__new__(cls)
    # The same Parameter objects (and hooks, options) in containers of its own: adding a hook
    # or a parameter to one module later does not change the other.
    new.__dict__.update({k: (v.copy() if isinstance(v, (dict, list)) else v) for k, v in module.__dict__.items()})
    return new


def convert(model, dtype=None):
    """Replace every torch.nn RNN/GRU/LSTM/RNNCell/GRUCell/LSTMCell inside ``model`` (at any
    depth) by its pyrnn.torch twin holding the same Parameter objects; returns ``model``
    (changed in place), or the twin when ``model`` itself is one of those modules.

    ``dtype="int8"`` or ``"bfloat16"``: every one of them becomes an inference-only module on
    pyrnn's quantized kernels (``pyrnn.torch._quantized``; the weights are quantized now, later
    changes to the originals do not reach them).

    Only those exact classes are replaced (a subclass with its own forward stays as it is).
    Example::

        >>> model = pyrnn.torch.convert(model)      # optimizers built before keep working
        >>> qmodel = pyrnn.torch.convert(model, dtype="int8")   # inference (torch.no_grad())
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"convert expects a torch.nn.Module, got {type(model).__name__}")
    if dtype is not None:
        quantized.check_dtype(dtype, "convert")

    def swap(module):
        twin = _quantized.quantized_twin(module, dtype) if dtype is not None and (
            type(module) in _REPLACEMENTS or type(module) in _REPLACEMENTS.values()) else None
        return twin if twin is not None else _converted(module)

    top = swap(model)
    if top is not model:
        return top
    for parent in model.modules():
        for child_name, child in list(parent._modules.items()):
            if child is not None:
                new = swap(child)
                if new is not child:
                    parent._modules[child_name] = new
    return model
