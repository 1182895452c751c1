"""``pyrnn.torch.convert(model, dtype="int8" | "bfloat16")``: torch.nn LSTM/GRU/RNN (and their cells)
replaced by inference-only modules running pyrnn's quantized kernels (``pyrnn.quantized``) on a
quantized copy of the weights taken at conversion. Tensors in and out are CPU float32 as in torch;
a forward that would need gradients is an error (``InferenceOnlyError``, a ValueError)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .. import nn as pnn
from .. import quantized

_STACKS: dict[type, Any] = {torch.nn.LSTM: pnn.LSTM, torch.nn.GRU: pnn.GRU, torch.nn.RNN: pnn.RNN}
_CELLS: dict[type, Any] = {torch.nn.LSTMCell: pnn.LSTMCell, torch.nn.GRUCell: pnn.GRUCell, torch.nn.RNNCell: pnn.RNNCell}


def _twin_class(module: torch.nn.Module, table: dict) -> Any:
    return next(cls for base, cls in table.items() if isinstance(module, base))


def _numpy_twin(module: torch.nn.Module, cls: Any) -> Any:
    """The pyrnn.nn module with the torch module's options and a copy of its weights."""
    kw = {"nonlinearity": module.nonlinearity} if cls in (pnn.RNN, pnn.RNNCell) else {}
    if cls in _CELLS.values():
        twin = cls(module.input_size, module.hidden_size, bias=module.bias, **kw)
    else:
        kw.update({"proj_size": module.proj_size} if cls is pnn.LSTM else {})
        twin = cls(module.input_size, module.hidden_size, num_layers=module.num_layers, bias=module.bias,
                   batch_first=module.batch_first, bidirectional=module.bidirectional, **kw)
    twin.load_state_dict({k: v.detach().to("cpu", torch.float32).numpy() for k, v in module.state_dict().items()})
    return twin


def _inputs(name: str, *tensors: Any) -> list:
    """NumPy views of the tensors (None stays None); an error when autograd would need them."""
    if torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors):
        raise quantized.InferenceOnlyError(
            f"{name}: a forward that needs gradients (an input requires_grad) on an inference-only quantized "
            "module (pyrnn.torch.convert(..., dtype=...)); run it under torch.no_grad() or convert without dtype")
    out = []
    for t in tensors:
        if t is not None and not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected tensors, got {type(t).__name__}")
        out.append(None if t is None else t.detach().to("cpu", torch.float32).numpy())
    return out


class QuantizedRNN(torch.nn.Module):
    """An int8 / bfloat16 LSTM, GRU or RNN for inference: torch's forward(input, hx) (tensors or a
    PackedSequence) on pyrnn's quantized kernels. It has no Parameters (the quantized copy is fixed)."""

    def __init__(self, module: torch.nn.Module, dtype: str) -> None:
        super().__init__()
        self.dtype = quantized.check_dtype(dtype, "pyrnn.torch.convert")
        self.batch_first = module.batch_first
        self._q = _numpy_twin(module, _twin_class(module, _STACKS)).quantize(dtype)
        self.mode = self._q.mode  # LSTM, GRU, RNN_TANH or RNN_RELU

    def forward(self, input: Any, hx: Any = None) -> Any:
        lstm = self.mode == "LSTM"
        states = list(hx) if lstm and hx is not None else [hx]
        if isinstance(input, PackedSequence):
            # hx and the returned states are in the caller's row order (torch permutes them around
            # its sorted packing), as are pad_packed_sequence's rows: nothing to permute here.
            padded, lengths = pad_packed_sequence(input)
            arrays = _inputs(type(self).__name__, padded, *states)
            out, state = self._q.forward(arrays[0], None if hx is None else (tuple(arrays[1:]) if lstm else arrays[1]),
                                         lengths=lengths.numpy())
            hidden = tuple(torch.from_numpy(s) for s in state) if lstm else torch.from_numpy(state)
            return pack_padded_sequence(torch.from_numpy(out), lengths, enforce_sorted=False), hidden
        arrays = _inputs(type(self).__name__, input, *states)
        out, state = self._q.forward(arrays[0], None if hx is None else (tuple(arrays[1:]) if lstm else arrays[1]))
        hidden = tuple(torch.from_numpy(np.ascontiguousarray(s)) for s in state) if lstm \
            else torch.from_numpy(np.ascontiguousarray(state))
        return torch.from_numpy(np.ascontiguousarray(out)), hidden

    def extra_repr(self) -> str:
        return repr(self._q)


class QuantizedCell(torch.nn.Module):
    """An int8 / bfloat16 LSTMCell, GRUCell or RNNCell for inference: torch's forward(input, hx)."""

    def __init__(self, module: torch.nn.Module, dtype: str) -> None:
        super().__init__()
        self.dtype = quantized.check_dtype(dtype, "pyrnn.torch.convert")
        self._q = _numpy_twin(module, _twin_class(module, _CELLS)).quantize(dtype)
        self.mode = self._q.mode

    def forward(self, input: Any, hx: Any = None) -> Any:
        lstm = self.mode == "LSTM"
        states = list(hx) if lstm and hx is not None else [hx]
        arrays = _inputs(type(self).__name__, input, *states)
        state = self._q(arrays[0], None if hx is None else (tuple(arrays[1:]) if lstm else arrays[1]))
        if lstm:
            return tuple(torch.from_numpy(np.ascontiguousarray(s)) for s in state)
        return torch.from_numpy(np.ascontiguousarray(state))

    def extra_repr(self) -> str:
        return repr(self._q)


def quantized_twin(module: torch.nn.Module, dtype: str) -> Any:
    """The quantized module for a torch.nn (or pyrnn.torch) LSTM/GRU/RNN or cell; None for others."""
    for base in _STACKS:
        if isinstance(module, base):
            return QuantizedRNN(module, dtype)
    for base in _CELLS:
        if isinstance(module, base):
            return QuantizedCell(module, dtype)
    return None
