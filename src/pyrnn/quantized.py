"""Quantized inference copies of ``pyrnn.nn.LSTM`` / ``GRU`` / ``RNN`` and their cells (issue 17).

``module.quantize("int8")`` returns a :class:`QuantizedRNN`: the same layers, directions and call
signature (``input``, ``hx``, ``lengths=``), with weights quantized once (symmetric per gate row),
activations quantized per row at each step and int32 products (the scheme is documented and
implemented in NumPy by ``pyrnn.reference_quant``). It is inference-only: ``train()`` and
``backward`` raise.
"""

import warnings
from typing import Any, Optional

import numpy as np

from . import _core
from . import _recurrent as spine
from . import reference_quant as _rq

__all__ = ["QuantizedRNN", "QuantizedCell", "QuantizedLinear", "QuantizedEmbedding", "QUANTIZE_DTYPES",
           "InferenceOnlyError", "quantize_model", "quantize_layer"]

QUANTIZE_DTYPES = ("int8", "bfloat16")


class InferenceOnlyError(ValueError, RuntimeError):
    """Training (train(), backward, fit, a forward that needs gradients) on a quantized copy."""


def _inference_only(what: str) -> InferenceOnlyError:
    return InferenceOnlyError(f"{what}: this is an inference-only quantized copy (quantize()); "
                              "train the float model and call quantize('int8') (or 'bfloat16') on it again")


def check_dtype(dtype: Any, what: str = "quantize", argument: str = "dtype") -> str:
    """The quantization mode, or ValueError naming the allowed ones."""
    if not isinstance(dtype, str) or dtype not in QUANTIZE_DTYPES:
        raise ValueError(f"{what}: {argument} must be one of {', '.join(map(repr, QUANTIZE_DTYPES))}, got {dtype!r}")
    return dtype


def _check_module(module: Any, dtype: str) -> str:
    check_dtype(dtype)
    mode = module.mode
    if mode not in _GATES:
        raise ValueError(f"quantize({dtype!r}) supports LSTM, GRU and RNN (tanh, relu), not {type(module).__name__}")
    return str(mode)


_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _pack(w: Any, dtype: str) -> tuple:
    """(q, scale, packed): int8 per row (scale float32), or bfloat16 (q the float32 weights, no scale)."""
    w = np.ascontiguousarray(w, np.float32)
    if dtype == "bfloat16":
        return w, None, _core.Bf16Weights(w)
    q, s = _rq.quantize_weights(w)
    return q, s, _core.Int8Weights(q, s)


def _quantize_layer(mode: str, H: int, w_ih: Any, w_hh: Any, b_ih: Any, b_hh: Any, dtype: str = "int8",
                    reset_after: bool = True, w_hr: Any = None) -> dict:
    """One layer-direction's weights in the int8 (or bfloat16) scheme (pyrnn.reference_quant), packed for the core.
    GRU reset_after=False keeps the n gate's rows apart (w_hn: applied to r * h); w_hr is the LSTM projection."""
    G = _GATES[mode]
    q_ih, s_ih, packed_ih = _pack(w_ih, dtype)
    q_hh, s_hh, _ = _pack(w_hh, dtype)  # whole, for the reference; packed below in the core's split
    split = mode == "GRU" and not reset_after
    packed_hh = _pack(w_hh[:2 * H], dtype)[2] if split else _pack(w_hh, dtype)[2]
    b_ih = np.zeros(G * H, np.float32) if b_ih is None else np.asarray(b_ih, np.float32)
    b_hh = np.zeros(G * H, np.float32) if b_hh is None else np.asarray(b_hh, np.float32)
    if mode != "GRU":
        bias_x, bias_hn = (b_ih + b_hh).astype(np.float32), None
    else:
        bias_x = b_ih.copy()
        bias_x[:2 * H] = b_ih[:2 * H] + b_hh[:2 * H]
        bias_hn = np.ascontiguousarray(b_hh[2 * H:])
    hr = (None, None, None) if w_hr is None else _pack(w_hr, dtype)
    return {"q_ih": q_ih, "s_ih": s_ih, "q_hh": q_hh, "s_hh": s_hh, "q_hr": hr[0], "s_hr": hr[1],
            "w_ih": packed_ih, "w_hh": packed_hh, "w_hn": _pack(w_hh[2 * H:], dtype)[2] if split else None,
            "w_hr": hr[2], "bias_x": np.ascontiguousarray(bias_x, np.float32), "bias_hn": bias_hn}


def _layer_call(dtype: str, p: dict) -> tuple:
    """The core's layer function for the scheme, and a packed layer's fixed arguments in its
    order: (run, (w_ih, w_hh, bias_x, bias_hn), (w_hn, w_hr)); the states and lengths go between."""
    run = _core.bf16_layer_forward if dtype == "bfloat16" else _core.int8_layer_forward
    return run, (p["w_ih"], p["w_hh"], p["bias_x"], p["bias_hn"]), (p["w_hn"], p["w_hr"])


def _run_layer(mode: str, dtype: str, p: dict, x: Any, h0: Any, c0: Any, lengths: Any) -> tuple:
    """One core call: (out [T, B, S], h_n [B, S], c_n or None)."""
    run, weights, extra = _layer_call(dtype, p)
    return run(mode, x, *weights, h0, c0, lengths, *extra)


class QuantizedRNN:
    """An int8 (or bfloat16) LSTM, GRU or RNN for inference, made by ``pyrnn.nn.LSTM/GRU/RNN(...).quantize("int8")``."""

    training = False

    def __init__(self, module: Any, dtype: str = "int8") -> None:
        mode = _check_module(module, dtype)
        self.mode = mode
        self.dtype = dtype
        self.input_size, self.hidden_size = module.input_size, module.hidden_size
        self.num_layers, self.bidirectional = module.num_layers, module.bidirectional
        self.batch_first, self.bias = module.batch_first, module.bias
        self.num_directions = 2 if self.bidirectional else 1
        self.proj_size = getattr(module, "proj_size", 0)
        self.reset_after = getattr(module, "reset_after", True)
        H = self.hidden_size
        self._layers = []
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                lw = module.layer_weights(layer, direction)
                self._layers.append(_quantize_layer(mode, H, lw.w_ih, lw.w_hh, lw.b_ih, lw.b_hh, dtype,
                                                    self.reset_after, lw.w_hr))

    # ------------------------------------------------------------------ mode
    def train(self, mode: bool = True) -> "QuantizedRNN":
        if mode:
            raise _inference_only("train()")
        return self

    def eval(self) -> "QuantizedRNN":
        return self

    def backward(self, *args: Any, **kwargs: Any) -> Any:
        raise _inference_only("backward()")

    def layer_quantized(self, layer: int, direction: int = 0) -> dict:
        """One layer's quantized weights: q_ih, s_ih, q_hh, s_hh (int8, float32), q_hr, s_hr, bias_x, bias_hn."""
        return self._layers[layer * self.num_directions + direction]

    # ------------------------------------------------------------------ forward
    def __call__(self, input: Any, hx: Any = None, *, lengths: Optional[Any] = None) -> tuple[np.ndarray, Any]:
        return self.forward(input, hx, lengths=lengths)

    def _state(self, name, value, batch, batched, width=None):
        shape = (self.num_layers * self.num_directions, batch, width or self.hidden_size)
        if value is None:
            return np.zeros(shape, np.float32)
        value = np.asarray(value, np.float32)
        shown = shape if batched else (shape[0], shape[2])
        if value.shape != shown:
            raise ValueError(f"{name}: expected shape {shown}, got {value.shape}")
        return value.reshape(shape)

    def forward(self, input: Any, hx: Any = None, *, lengths: Optional[Any] = None) -> tuple[np.ndarray, Any]:
        """As the float module's forward: (output, h_n), LSTM (output, (h_n, c_n)), float32."""
        x = np.asarray(input, np.float32)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(f"input: expected (T, B, {self.input_size}) (or batch_first / unbatched), got shape {x.shape}")
        batched = x.ndim == 3
        x = x[:, None, :] if not batched else (x.transpose(1, 0, 2) if self.batch_first else x)
        T, B = x.shape[0], x.shape[1]
        lstm = self.mode == "LSTM"
        if lstm:
            h_in, c_in = (None, None) if hx is None else hx
            h0 = self._state("h_0", h_in, B, batched, self.proj_size)
            c0 = self._state("c_0", c_in, B, batched)
        else:
            h0, c0 = self._state("h_0", hx, B, batched), None
        lens = None
        if lengths is not None:
            lens = np.asarray(lengths)
            if lens.shape != (B,) or not np.issubdtype(lens.dtype, np.integer) or (lens < 0).any() or (lens > T).any():
                raise ValueError(f"lengths: expected {B} integers in [0, {T}], got {lengths!r}")
            lens = lens.astype(np.int32)
            t_idx = np.arange(T)[:, None]
            rev = np.where(t_idx < lens[None, :], lens[None, :] - 1 - t_idx, t_idx)  # [T, B]
            cols = np.arange(B)[None, :]

        def reverse(a):
            if lens is None:
                return np.ascontiguousarray(a[::-1])
            return np.ascontiguousarray(a[rev, cols])

        hn = np.empty_like(h0)
        cn = None if c0 is None else np.empty_like(c0)
        inp = np.ascontiguousarray(x)
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                i = layer * self.num_directions + d
                p = self._layers[i]
                xs = inp if d == 0 else reverse(inp)
                out, h, c = _run_layer(self.mode, self.dtype, p, xs, np.ascontiguousarray(h0[i]),
                                       None if c0 is None else np.ascontiguousarray(c0[i]), lens)
                outs.append(out if d == 0 else reverse(out))
                hn[i] = h
                if cn is not None:
                    cn[i] = c
            inp = outs[0] if len(outs) == 1 else np.ascontiguousarray(np.concatenate(outs, axis=2))
        out = inp
        if not batched:
            out, hn = out[:, 0], hn[:, 0]
            cn = None if cn is None else cn[:, 0]
        elif self.batch_first:
            out = np.ascontiguousarray(out.transpose(1, 0, 2))
        return out, ((hn, cn) if lstm else hn)

    def __repr__(self) -> str:
        extra = f", num_layers={self.num_layers}" if self.num_layers != 1 else ""
        extra += ", bidirectional=True" if self.bidirectional else ""
        extra += f", proj_size={self.proj_size}" if self.proj_size else ""
        extra += ", reset_after=False" if not self.reset_after else ""
        extra += ", nonlinearity='relu'" if self.mode == "RNN_RELU" else ""
        return f"Quantized{_name(self.mode)}({self.input_size}, {self.hidden_size}{extra}, dtype={self.dtype!r})"


def _name(mode: str) -> str:
    return "RNN" if mode.startswith("RNN") else mode


def _is_rows(a: Any, width: int) -> bool:
    """``a`` is a C-contiguous float32 (B, width) ndarray, usable by the core as it is."""
    return type(a) is np.ndarray and a.dtype == np.float32 and a.ndim == 2 and a.shape[1] == width \
        and a.flags.c_contiguous


class QuantizedCell:
    """An int8 (or bfloat16) LSTMCell, GRUCell or RNNCell for inference (``cell.quantize("int8")``): one step per call,
    ``h = cell(x, h)`` / ``h, c = cell(x, (h, c))`` as the float cell, float32 results."""

    training = False

    def __init__(self, cell: Any, dtype: str = "int8") -> None:
        self.mode = _check_module(cell, dtype)
        self.dtype = dtype
        self.input_size, self.hidden_size = cell.input_size, cell.hidden_size
        p = cell._params
        self.reset_after = getattr(cell, "reset_after", True)
        self._layer = _quantize_layer(self.mode, self.hidden_size, p["weight_ih"], p["weight_hh"], p.get("bias_ih"),
                                      p.get("bias_hh"), dtype, self.reset_after)
        # the core call's fixed arguments, looked up once (a stream calls once per step)
        self._run, self._weights, self._extra = _layer_call(dtype, self._layer)

    train = QuantizedRNN.train
    eval = QuantizedRNN.eval
    backward = QuantizedRNN.backward

    def _state(self, name, value, batch, batched):
        if value is None:
            return np.zeros((batch, self.hidden_size), np.float32)
        value = np.asarray(value, np.float32)
        shown = (batch, self.hidden_size) if batched else (self.hidden_size,)
        if value.shape != shown:
            raise ValueError(f"{name}: expected shape {shown}, got {value.shape}")
        return np.ascontiguousarray(value.reshape(batch, self.hidden_size))

    def __call__(self, input: Any, hx: Any = None) -> Any:
        if self.mode == "GRU" and _is_rows(input, self.input_size) and (hx is None or _is_rows(hx, self.hidden_size)):
            # the streaming step (a batch of float32 rows): nothing to convert or reshape
            x = input
            h = np.zeros((x.shape[0], self.hidden_size), np.float32) if hx is None else hx
            if h.shape[0] == x.shape[0]:
                return self._run("GRU", x[None], *self._weights, h, None, None, *self._extra)[1]
        x = np.asarray(input, np.float32)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"input: expected (B, {self.input_size}) or ({self.input_size},), got shape {x.shape}")
        batched = x.ndim == 2
        x2 = np.ascontiguousarray(x.reshape(1, -1, self.input_size))
        B = x2.shape[1]
        lstm = self.mode == "LSTM"
        if lstm:
            if hx is None:
                hx = (None, None)
            h, c = self._state("h", hx[0], B, batched), self._state("c", hx[1], B, batched)
        else:
            h, c = self._state("hx", hx, B, batched), None
        _, hn, cn = _run_layer(self.mode, self.dtype, self._layer, x2, h, c, None)
        if not batched:
            hn = hn[0]
            cn = None if cn is None else cn[0]
        return (hn, cn) if lstm else hn

    def __repr__(self) -> str:
        relu = ", nonlinearity='relu'" if self.mode == "RNN_RELU" else ""
        return f"Quantized{_name(self.mode)}Cell({self.input_size}, {self.hidden_size}{relu}, dtype={self.dtype!r})"


class QuantizedLinear:
    """``x @ W.T`` for a Dense layer in the scheme: W [N, K] per output row (Keras's per output
    channel of the (K, N) kernel), x per row at each call (int8), or both rounded to bfloat16."""

    def __init__(self, w: Any, dtype: str) -> None:
        self.dtype = check_dtype(dtype)
        self.q, self.scale, self._packed = _pack(w, dtype)

    def __call__(self, x: Any) -> np.ndarray:
        x = np.ascontiguousarray(x, np.float32)
        return (_core.bf16_linear if self.dtype == "bfloat16" else _core.int8_linear)(x, self._packed)


class QuantizedEmbedding:
    """An embedding table quantized per row (Keras's int8 Embedding: symmetric per row), or
    rounded to bfloat16; lookups return the dequantized rows in float32."""

    def __init__(self, table: Any, dtype: str) -> None:
        self.dtype = check_dtype(dtype)
        if dtype == "bfloat16":
            self.q, self.scale = _rq.to_bfloat16(table), None
        else:
            self.q, self.scale = _rq.quantize_weights(table)

    def __call__(self, ids: Any) -> np.ndarray:
        if self.scale is None:
            return self.q[ids]
        return (self.q[ids].astype(np.float32) * self.scale[ids][..., None]).astype(np.float32)


# ------------------------------------------------------------------ Keras-style models (model.quantize)

def quantize_layer(layer: Any, mode: str) -> None:
    """``layer.quantize(mode)``: the layer keeps its float weights and runs inference through a
    quantized copy of them (``layer._quantized``); NotImplementedError for a layer without one."""
    check_dtype(mode, f"{layer.name}.quantize", "mode")
    if not layer.built:
        raise ValueError(f"{layer.name}: cannot quantize a layer that is not built; build the model "
                         "(an Input, input_shape, or one call) first")
    if layer._quantized is not None:
        raise ValueError(f"{layer.name}: already quantized with mode {layer._quantized.dtype!r}, got mode={mode!r}")
    if layer.dtype != np.float32:
        raise NotImplementedError(f"{layer.name}: quantize() needs a float32 layer, got dtype {layer.dtype}")
    layer._quantized = layer._quantized_copy(mode)


def _leaves(layers: list) -> list:
    out = []
    for layer in layers:
        subs = layer._sublayers()
        out += _leaves(subs) if subs else [layer]
    return out


def quantize_model(model: Any, mode: Any, **kwargs: Any) -> None:
    """Keras 3's ``model.quantize(mode)``, in place: every Dense, Embedding, LSTM, GRU and SimpleRNN layer
    (also inside Bidirectional / TimeDistributed) runs inference through a quantized copy of its
    weights; other layers with weights are left in float32 with a warning, as Keras does. The
    model then predicts; training it (fit, train_on_batch, compute_gradients) is an error, and so is
    saving it (save, get_config): save the float model and quantize after loading."""
    if kwargs:
        raise ValueError(f"quantize: unrecognized keyword arguments passed to {type(model).__name__}: {kwargs}")
    check_dtype(mode, "quantize", "mode")
    if not model.built:
        raise ValueError(f"quantize: the model {model.name!r} is not built; give it an Input (or input_shape), "
                         "or call it once, before quantize()")
    for layer in _leaves(model.layers):
        if not layer.get_weights():
            continue  # nothing to quantize (Input, Dropout, merging, ...)
        try:
            layer.quantize(mode)
        except NotImplementedError as e:
            warnings.warn(str(e), stacklevel=2)


def for_inference(layer: Any, training: bool) -> Any:
    """The layer's quantized copy (None if it has none); an error when training it."""
    q = layer._quantized
    if q is not None and training:
        raise _inference_only(f"{layer.name}: training")
    return q


def check_not_quantized(layer: Any, what: str) -> None:
    """ValueError when ``what`` (saving a config) meets a quantized layer."""
    if layer._quantized is not None:
        raise ValueError(f"{what}: layer {layer.name!r} is quantized ({layer._quantized.dtype!r}); pyrnn does not "
                         "save quantized layers. Save the float model (before quantize()) and call "
                         "quantize() after loading it")


def layer_forward(q: QuantizedRNN, name: str, x: Any, h0: Any, c0: Any, training: bool,
                  lengths: Optional[Any] = None) -> spine.ForwardResult:
    """A Keras recurrent layer's one-direction call through its quantized copy: time-major x
    [T, B, I] (rows with ``lengths``: right-padded), states [B, H]; a ForwardResult without workspace."""
    if training:
        raise _inference_only(f"{name}: training")
    hx = h0[None] if c0 is None else (h0[None], c0[None])
    out, state = q.forward(x, hx, lengths=lengths)
    if c0 is None:
        return spine.ForwardResult(out, state[0], None, None)
    return spine.ForwardResult(out, state[0][0], state[1][0], None)
