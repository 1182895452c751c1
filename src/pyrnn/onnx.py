"""Export to ONNX: ``pyrnn.nn`` modules and Keras-style ``Sequential`` and functional models.

The graphs use ONNX's own ``RNN``, ``GRU`` and ``LSTM`` operators (opset 17), so ONNX Runtime
and other engines run them with their fused recurrent kernels. Batch and time are dynamic
axes. Built with the ``onnx`` package (``pip install pyrnn[onnx]``) and checked with
``onnx.checker`` before writing.

Example::

    >>> import numpy as np, pyrnn, pyrnn.onnx
    >>> lstm = pyrnn.nn.LSTM(8, 16, num_layers=2, batch_first=True, seed=0).eval()
    >>> pyrnn.onnx.export(lstm, "lstm.onnx")                         # inputs: "input"
    >>> import onnxruntime as ort
    >>> x = np.zeros((3, 20, 8), np.float32)
    >>> out, h_n, c_n = ort.InferenceSession("lstm.onnx").run(None, {"input": x})

What maps to what:

- ``pyrnn.nn.RNN/GRU/LSTM``: every option but LSTM ``proj_size`` (ONNX's LSTM has no
  projection: NotImplementedError). ``GRU(reset_after=True)`` (PyTorch's GRU) is ONNX's
  ``linear_before_reset=1``. ``lengths=True`` adds an int64 input ``lengths`` (one per
  sequence, in ``[0, T]``), ONNX's ``sequence_lens``: outputs past a sequence's end are
  zero and the reverse direction starts at the sequence's own end, as ``lengths=`` does in
  pyrnn. ``initial_state=True`` adds the inputs ``h_0`` (and ``c_0``). Outputs: ``output``,
  ``h_n`` (and ``c_n``). Input is batched (3-D); the exported graph has no unbatched form.
- ``Sequential``: SimpleRNN/GRU/LSTM (return_sequences, go_backwards), Bidirectional (concat,
  sum, mul, ave), Dense (2-D and 3-D), TimeDistributed(Dense), Embedding (Gather; int64 ids),
  Masking, Dropout (identity). A mask (Embedding ``mask_zero``, Masking) is computed in the
  graph and handled as pyrnn and Keras do: each sequence's unmasked steps are moved to the
  front (any pattern: left or right padding, holes) and run as ``sequence_lens``; masked
  steps repeat the previous output. One input ``input``, one output ``output``.
- functional ``Model``: the same layers wired as the graph is (several inputs and outputs, named
  as the model's ``Input`` layers and outputs; token ids int64, an explicit mask input bool),
  recurrent layers with ``initial_state`` and ``return_state``, and the merges Add, Subtract,
  Multiply, Average, Maximum, Minimum and Concatenate (masks and-ed as Keras does). Every time
  axis is dynamic. A nested model or any other layer is a NotImplementedError naming it.

A quantized Keras-style model (``model.quantize``) exports with its weights as quantized:
``"int8"``: LSTM as ONNX Runtime's com.microsoft DynamicQuantizeLSTM, GRU/SimpleRNN/Dense with
int8 weights behind DequantizeLinear; ``"bfloat16"``: the float operators reading bfloat16
weights through a Cast (the activations stay float32 in ONNX Runtime, so its output differs from
pyrnn's, which rounds them to bfloat16 too, within the scheme's error).

ONNX Runtime's recurrent kernels are float32 only: a float64 model exports (as float64) but
needs another engine to run.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import _export as E
from . import _recurrent as spine
from . import reference_quant as rq
from ._optional import require
from .nn import RNNBase

OPSET = 17
MS_DOMAIN = "com.microsoft"
IR_VERSION = 8  # the IR version of opset 17: the oldest runtime that reads this opset reads the file

_INT64_MIN = np.iinfo(np.int64).min


def _gated_activation_attrs(op_type, activation, recurrent_activation):
    """ONNX's activations attributes for one direction: gates f, then g (and LSTM's h), with the
    alphas and betas of those that take them, in that order."""
    names = [recurrent_activation, activation] + ([activation] if op_type == "LSTM" else [])
    specs = [spine.ACTIVATIONS[n] for n in names]
    attrs = {"activations": [a.onnx for a in specs]}
    params = [a.onnx_params for a in specs if a.onnx_params is not None]
    if params:
        attrs["activation_alpha"] = [a for a, _ in params]
        attrs["activation_beta"] = [b for _, b in params]
    return attrs


def _import_onnx():
    return require("onnx", "ONNX export", "onnx")


class _Graph:
    """A small helper over onnx.helper: nodes with fresh output names, constants as initializers."""

    def __init__(self, dtype):
        self.onnx = _import_onnx()
        self.helper = helper = self.onnx.helper
        self.dtype = np.dtype(dtype)
        self.elem_type = helper.np_dtype_to_tensor_dtype(self.dtype)
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self._count = 0

    def _fresh(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, hint="const"):
        name = self._fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def ints(self, *values):
        return self.const(np.array(values, np.int64), "ints")

    def scalar(self, value, dtype=None):
        return self.const(np.array(value, dtype or self.dtype), "scalar")

    def op(self, op_type, inputs, outputs=1, **attrs):
        """Add a node; ``outputs`` is a count (fresh names) or a list of names. Returns the
        output name, or the list of names when there are several."""
        names = [self._fresh(op_type.lower()) for _ in range(outputs)] if isinstance(outputs, int) else outputs
        self.nodes.append(self.helper.make_node(op_type, list(inputs), names, **attrs))
        return names[0] if len(names) == 1 else names

    def add_input(self, name, shape, elem_type=None):
        self.inputs.append(self.helper.make_tensor_value_info(name, elem_type or self.elem_type, shape))
        return name

    def add_output(self, value, name, shape):
        self.op("Identity", [value], [name])
        self.outputs.append(self.helper.make_tensor_value_info(name, self.elem_type, shape))

    def model(self, graph_name):
        h = self.helper
        graph = h.make_graph(self.nodes, graph_name, self.inputs, self.outputs, initializer=self.initializers)
        opsets = [h.make_opsetid("", OPSET)]
        if any(n.domain == MS_DOMAIN for n in self.nodes):  # ONNX Runtime's contrib operators
            opsets.append(h.make_opsetid(MS_DOMAIN, 1))
        model = h.make_model(graph, opset_imports=opsets, producer_name="pyrnn", ir_version=IR_VERSION)
        self.onnx.checker.check_model(model, full_check=True)
        return model

    # --------------------------------------------------------------- small compositions
    def reverse_time(self, x, axis):
        return self.op("Slice", [x, self.ints(-1), self.ints(_INT64_MIN), self.ints(axis), self.ints(-1)])

    def squeeze(self, x, axis):
        return self.op("Squeeze", [x, self.ints(axis)])

    def unsqueeze(self, x, axis):
        return self.op("Unsqueeze", [x, self.ints(axis)])

    def time_major_to_batch_major(self, y):
        """ONNX's Y [T, D, B, H] -> [B, T, D*H] (directions concatenated, as pyrnn and torch)."""
        return self.op("Reshape", [self.op("Transpose", [y], perm=[2, 0, 1, 3]), self.ints(0, 0, -1)])


def _int8_weights(g, w, axis, hint):
    """A float weight written as int8 (symmetric per row along ``axis``: pyrnn.reference_quant's
    scheme) with a DequantizeLinear in front (QDQ): the float operator after it reads the
    dequantized values. ``w`` 2-D; returns the float tensor's name."""
    q, s = rq.quantize_weights(np.moveaxis(np.asarray(w, np.float32), axis, 0))
    q = np.ascontiguousarray(np.moveaxis(q, 0, axis))
    return g.op("DequantizeLinear", [g.const(q, hint + "_int8"), g.const(s.astype(g.dtype), hint + "_scale"),
                                     g.const(np.zeros(s.shape, np.int8), hint + "_zero_point")], axis=axis)


def _bf16_weights(g, w, hint):
    """A float32 weight written as bfloat16 (its rounding to nearest even: the values a
    bfloat16-quantized layer multiplies by) with a Cast to float32 in front of the operator that
    reads it (ONNX Runtime has no bfloat16 recurrent or MatMul kernel on the CPU)."""
    if g.dtype != np.float32:
        raise NotImplementedError("ONNX export: a bfloat16-quantized layer needs a float32 model")
    bits = (rq.to_bfloat16(w).view(np.uint32) >> 16).astype(np.uint16)
    name = g._fresh(hint + "_bf16")
    g.initializers.append(g.helper.make_tensor(name, g.onnx.TensorProto.BFLOAT16, bits.shape, vals=bits.tobytes(),
                                               raw=True))
    return g.op("Cast", [name], to=g.elem_type)


def _quantized_weights(g, w, quantized, axis, hint):
    """The weight ``w`` (2-D) as the file holds it: float, int8 per row along ``axis`` (QDQ) or bfloat16."""
    if quantized == "int8":
        return _int8_weights(g, w, axis, hint)
    if quantized == "bfloat16":
        return _bf16_weights(g, w, hint)
    return g.const(w, hint)


def _check_quantized(name, quantized):
    if quantized not in (None, "int8", "bfloat16"):
        raise NotImplementedError(f"ONNX export: {name}: a {quantized!r}-quantized layer; export the float model")


def _recurrent_node(g, cell, X, directions, hidden_size, sequence_lens="", initial_h="", initial_c="",
                    activations=None, quantized=None):
    """One ONNX RNN/GRU/LSTM node over the time-major ``X`` [T, B, F].

    ``cell``: a ``spine.CellSpec`` (its family is the ONNX operator, its ``onnx_attrs`` and
    ``onnx_order`` the attributes and gate order). ``directions``: one or two ``LayerWeights``
    in PyTorch's layout and gate order (the second runs in reverse). ``activations``: a
    GRU/LSTM's Keras activations ({"activation": ..., "recurrent_activation": ...}); empty or
    None for the defaults. ``quantized="int8"``: an LSTM becomes ONNX Runtime's com.microsoft
    DynamicQuantizeLSTM (int8 W and R per gate row, activations quantized by the runtime at each
    step), a GRU/RNN the float operator reading int8 W and R through DequantizeLinear.
    ``quantized="bfloat16"``: the float operator reading bfloat16 W and R through a Cast.
    Returns ONNX's outputs (Y [T, D, B, H], Y_h [D, B, H], and for LSTM Y_c).
    """
    op_type, attrs = cell.family, dict(cell.onnx_attrs)
    if activations:
        attrs = {**attrs, **_gated_activation_attrs(op_type, activations["activation"],
                                                    activations["recurrent_activation"])}
    index = spine.gate_index(cell.onnx_order, hidden_size)
    H = hidden_size

    def reorder(a):
        return a[index]

    W = np.stack([reorder(d.w_ih) for d in directions]).astype(g.dtype)  # [D, gates*H, F]
    R = np.stack([reorder(d.w_hh) for d in directions]).astype(g.dtype)  # [D, gates*H, H]
    has_bias = directions[0].b_ih is not None
    B = g.const(np.stack([np.concatenate([reorder(d.b_ih), reorder(d.b_hh)]) for d in directions]).astype(g.dtype),
                "B") if has_bias else ""
    D = len(directions)
    attrs = {k: (v * D if isinstance(v, list) else v) for k, v in attrs.items()}  # one activation per direction
    attrs.update(hidden_size=H, direction="bidirectional" if D == 2 else "forward")
    outputs = 3 if op_type == "LSTM" else 2
    if quantized == "int8" and op_type == "LSTM":
        # DynamicQuantizeLSTM: W [D, F, 4H] and R [D, H, 4H] (transposed), int8 per output column.
        qw, sw = zip(*(rq.quantize_weights(w) for w in W))
        qr, sr = zip(*(rq.quantize_weights(r) for r in R))
        zeros = g.const(np.zeros((D, W.shape[1]), np.int8), "zero_point")
        inputs = [X, g.const(np.stack(qw).transpose(0, 2, 1), "W_int8"), g.const(np.stack(qr).transpose(0, 2, 1),
                                                                                 "R_int8"),
                  B, sequence_lens, initial_h, initial_c, "", g.const(np.stack(sw).astype(np.float32), "W_scale"),
                  zeros, g.const(np.stack(sr).astype(np.float32), "R_scale"), zeros]
        return g.op("DynamicQuantizeLSTM", inputs, outputs=outputs, domain=MS_DOMAIN, **attrs)
    if quantized:
        Wn = g.op("Reshape", [_quantized_weights(g, W.reshape(-1, W.shape[2]), quantized, 0, "W"), g.ints(*W.shape)])
        Rn = g.op("Reshape", [_quantized_weights(g, R.reshape(-1, R.shape[2]), quantized, 0, "R"), g.ints(*R.shape)])
    else:
        Wn, Rn = g.const(W, "W"), g.const(R, "R")
    inputs = [X, Wn, Rn, B, sequence_lens, initial_h]
    if op_type == "LSTM":
        inputs.append(initial_c)
    while inputs[-1] == "":  # trailing optional inputs are left out
        inputs.pop()
    return g.op(op_type, inputs, outputs=outputs, **attrs)


# ---------------------------------------------------------------------------- pyrnn.nn modules


def _module_graph(module, lengths, initial_state):
    TensorProto = _import_onnx().TensorProto
    if module.proj_size:
        raise NotImplementedError("ONNX export: LSTM proj_size has no equivalent in ONNX's LSTM operator "
                                  "(it has no projection); export a model without proj_size")
    g = _Graph(module.dtype)
    lstm, D, H = module.cell.has_cell_state, module.num_directions, module.out_size
    x = g.add_input("input", ["batch", "time", module.input_size] if module.batch_first
                    else ["time", "batch", module.input_size])
    if module.batch_first:
        x = g.op("Transpose", [x], perm=[1, 0, 2])
    seq_lens = started = ""
    if lengths:
        lengths = g.add_input("lengths", ["batch"], TensorProto.INT64)
        seq_lens = g.op("Cast", [lengths], to=TensorProto.INT32)
        # [1, B, 1]: ONNX Runtime gives a zero state, not the initial one, for a sequence of length 0
        started = g.op("Unsqueeze", [g.op("Greater", [lengths, g.scalar(0, np.int64)]), g.ints(0, 2)])
    states = {}
    if initial_state:
        shape = [module.num_layers * D, "batch", H]
        states["h"] = g.add_input("h_0", shape)
        if lstm:
            states["c"] = g.add_input("c_0", shape)
    h_n, c_n = [], []
    for layer in range(module.num_layers):
        per_layer = {k: g.op("Slice", [v, g.ints(layer * D), g.ints((layer + 1) * D), g.ints(0)])
                     for k, v in states.items()}
        directions = [module.layer_weights(layer, d) for d in range(D)]
        outs = _recurrent_node(g, module.cell, x, directions, H, seq_lens, per_layer.get("h", ""),
                              per_layer.get("c", ""))
        y = outs[0]
        # [T, D, B, H] -> [T, B, D*H]: the next layer's input and the module's output
        x = g.op("Reshape", [g.op("Transpose", [y], perm=[0, 2, 1, 3]), g.ints(0, 0, -1)])
        final = {"h": outs[1], "c": outs[2] if lstm else None}
        if started and per_layer:
            final = {k: g.op("Where", [started, final[k], per_layer[k]]) for k in per_layer}
        h_n.append(final["h"])
        if lstm:
            c_n.append(final["c"])
    if module.batch_first:
        x = g.op("Transpose", [x], perm=[1, 0, 2])
    concat = lambda parts: parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=0)
    g.add_output(x, "output", ["batch", "time", D * H] if module.batch_first else ["time", "batch", D * H])
    state_shape = [module.num_layers * D, "batch", H]
    g.add_output(concat(h_n), "h_n", state_shape)
    if lstm:
        g.add_output(concat(c_n), "c_n", state_shape)
    return g.model(f"pyrnn-{type(module).__name__}")


# ---------------------------------------------------------------------------- Sequential models

# Dense activations: pyrnn/Keras name -> how to build it from ONNX nodes
_DENSE_ACTIVATIONS = {
    "linear": lambda g, z: z,
    "relu": lambda g, z: g.op("Relu", [z]),
    "sigmoid": lambda g, z: g.op("Sigmoid", [z]),
    "tanh": lambda g, z: g.op("Tanh", [z]),
    "softmax": lambda g, z: g.op("Softmax", [z], axis=-1),
    "softplus": lambda g, z: g.op("Softplus", [z]),
    "softsign": lambda g, z: g.op("Softsign", [z]),
    "elu": lambda g, z: g.op("Elu", [z], alpha=1.0),
    "selu": lambda g, z: g.op("Selu", [z]),  # ONNX's default alpha and gamma are Keras's constants
    "exponential": lambda g, z: g.op("Exp", [z]),
    "hard_sigmoid": lambda g, z: g.op("HardSigmoid", [z], alpha=1.0 / 6, beta=0.5),  # Keras 3: relu6(x + 3) / 6
    "swish": lambda g, z: g.op("Mul", [z, g.op("Sigmoid", [z])]),
    "silu": lambda g, z: g.op("Mul", [z, g.op("Sigmoid", [z])]),
}


def _dense(g, d: E.DenseExport, x, mask):
    if d.activation not in _DENSE_ACTIVATIONS:
        raise NotImplementedError(f"ONNX export: {d.name}: activation {d.activation!r} has no ONNX mapping here")
    _check_quantized(d.name, d.quantized)
    kernel = _quantized_weights(g, d.kernel, d.quantized, 1, "kernel")
    z = g.op("MatMul", [x, kernel])  # broadcasts over (batch, time)
    if d.bias is not None:
        z = g.op("Add", [z, g.const(d.bias, "bias")])
    return _DENSE_ACTIVATIONS[d.activation](g, z), mask


def _compact_masked_steps(g, x, mask):
    """Move each sequence's unmasked steps to the front, keeping their order (the path pyrnn's
    recurrent layers take for masks). x [B, T, F], mask bool [B, T]. Returns the compacted x,
    the number of valid steps per sequence [B] and the running count of valid steps [B, T]."""
    TensorProto = g.onnx.TensorProto
    m = g.op("Cast", [mask], to=TensorProto.INT64)
    lengths = g.op("ReduceSum", [m, g.ints(1)], keepdims=0)
    steps = g.op("Shape", [mask], start=1, end=2)  # [T]
    t = g.op("Range", [g.scalar(0, np.int64), g.squeeze(steps, 0), g.scalar(1, np.int64)])
    # sort key: valid steps keep their index t, masked ones go after all of them (t + T)
    key = g.op("Add", [t, g.op("Mul", [g.op("Sub", [g.scalar(1, np.int64), m]), steps])])
    _, src = g.op("TopK", [key, steps], outputs=2, axis=1, largest=0, sorted=1)
    index = g.op("Expand", [g.unsqueeze(src, 2), g.op("Shape", [x])])
    compacted = g.op("GatherElements", [x, index], axis=1)
    counts = g.op("CumSum", [m, g.scalar(1, np.int64)])
    return compacted, lengths, counts, steps


def _spread_outputs(g, y, mask, counts, steps, zero_masked):
    """Back from compacted steps to the original ones: a masked step repeats the output of the
    last valid step before it (zeros before the first), or is zero when ``zero_masked``."""
    last_valid = g.op("Sub", [counts, g.scalar(1, np.int64)])
    source = g.op("Where", [g.op("Greater", [counts, g.scalar(0, np.int64)]), last_valid, steps])
    if zero_masked:
        source = g.op("Where", [mask, source, steps])
    padded = g.op("Pad", [y, g.ints(0, 0, 0, 0, 1, 0)])  # step T: a zero row
    index = g.op("Expand", [g.unsqueeze(source, 2), g.op("Shape", [y])])
    return g.op("GatherElements", [padded, index], axis=1)


def _keras_recurrent(g, layer: E.RecurrentExport, x, mask, initial=(), return_state=False):
    """A SimpleRNN/GRU/LSTM layer on batch-major x [B, T, F] -> [B, T, H] or [B, H]; with
    ``initial`` ([B, H] names: h, and c for an LSTM) it starts there, and with ``return_state``
    it returns [output, h, (c)]."""
    TensorProto = g.onnx.TensorProto
    if layer.stateful:
        raise NotImplementedError(f"ONNX export: {layer.name}: stateful=True (an ONNX graph keeps no state "
                                  "between runs)")
    if layer.go_backwards:  # Keras: process (and return) the steps in reverse order
        x = g.reverse_time(x, 1)
        mask = None if mask is None else g.reverse_time(mask, 1)
    seq_lens = ""
    if mask is not None:
        x, lengths, counts, steps = _compact_masked_steps(g, x, mask)
        seq_lens = g.op("Cast", [lengths], to=TensorProto.INT32)  # a fully masked sequence: length 0, h = 0
    _check_quantized(layer.name, layer.quantized)
    starts = [g.unsqueeze(s, 0) for s in initial] + ["", ""]  # ONNX's initial_h / initial_c: [1, B, H]
    outs = _recurrent_node(g, layer.cell, g.op("Transpose", [x], perm=[1, 0, 2]), [layer.weights], layer.units,
                          seq_lens, starts[0], starts[1], activations=layer.activations, quantized=layer.quantized)
    states = [g.squeeze(o, 0) for o in outs[1:]]
    if mask is not None and initial:
        # ONNX Runtime gives a zero state, not the initial one, for a sequence of length 0
        started = g.unsqueeze(g.op("Greater", [lengths, g.scalar(0, np.int64)]), 1)
        states = [g.op("Where", [started, s, s0]) for s, s0 in zip(states, initial)]
    if layer.return_sequences:
        y = g.time_major_to_batch_major(outs[0])
        if mask is not None:
            y = _spread_outputs(g, y, mask, counts, steps, layer.zero_output_for_mask)
    else:
        y = states[0]
    return [y] + states if return_state else y


def _recurrent(g, layer: E.RecurrentExport, x, mask):
    return _keras_recurrent(g, layer, x, mask), (mask if layer.return_sequences else None)


def _bidirectional_layer(g, layer: E.BidirectionalExport, x, mask):
    return _bidirectional(g, layer, x, mask), (mask if layer.return_sequences else None)


def _bidirectional(g, layer, x, mask):
    if layer.merge_mode is None:
        raise NotImplementedError(f"ONNX export: {layer.name}: merge_mode=None (two outputs) is not supported")
    y = _keras_recurrent(g, layer.forward, x, mask)
    y_rev = _keras_recurrent(g, layer.backward, x, mask)
    if layer.return_sequences:  # back in input order, as pyrnn's and Keras's Bidirectional do
        y_rev = g.reverse_time(y_rev, 1)
    if layer.merge_mode == "concat":
        return g.op("Concat", [y, y_rev], axis=-1)
    if layer.merge_mode == "ave":
        return g.op("Div", [g.op("Add", [y, y_rev]), g.scalar(2)])
    return g.op({"sum": "Add", "mul": "Mul"}[layer.merge_mode], [y, y_rev])


def _embedding(g, d: E.EmbeddingExport, x, mask):
    y = g.op("Gather", [g.const(d.embeddings.astype(g.dtype), "embeddings"), x], axis=0)
    return y, (g.op("Not", [g.op("Equal", [x, g.scalar(0, np.int64)])]) if d.mask_zero else None)


def _masking(g, d: E.MaskingExport, x, mask):
    differs = g.op("Cast", [g.op("Not", [g.op("Equal", [x, g.scalar(d.mask_value)])])], to=g.elem_type)
    keep = g.op("ReduceMax", [differs], axes=[-1], keepdims=1)  # [B, T, 1]: 1 where any feature differs
    return g.op("Mul", [x, keep]), g.op("Cast", [g.squeeze(keep, 2)], to=g.onnx.TensorProto.BOOL)


def _identity(g, d: E.IdentityExport, x, mask):
    return x, mask


# Each kind of layer description -> its builder: (graph, description, x, mask) -> (output, mask of the
# output), following each layer's compute_mask.
_BUILDERS = {E.DenseExport: _dense, E.EmbeddingExport: _embedding, E.MaskingExport: _masking,
             E.IdentityExport: _identity, E.RecurrentExport: _recurrent, E.BidirectionalExport: _bidirectional_layer}


def _symbolic(shape, time="time"):
    """Keras shape (None, ...) -> ONNX dims: "batch", then ``time`` for a sequence's unknown length."""
    return ["batch"] + [(time if d is None else int(d)) for d in shape[1:]]


def _any_length(input_shape, ids):
    """The model's input shape with a dynamic time axis: pyrnn runs sequences of any length,
    whatever length the Input declares, and so does the graph. Axis 1 is time for token ids
    (``ids``) and for (batch, time, features) inputs; a flat (batch, features) input keeps its shape.

        >>> _any_length((None, 7, 3), ids=False), _any_length((None, 7), ids=True), _any_length((None, 3), False)
        ((None, None, 3), (None, None), (None, 3))
    """
    shape = tuple(input_shape)
    return (shape[0], None) + shape[2:] if ids or len(shape) >= 3 else shape


def _sequential_graph(model: E.ModelExport):
    g = _Graph(model.dtype)
    input_shape = _any_length(model.input_shape, model.ids)
    x = g.add_input("input", _symbolic(input_shape), g.onnx.TensorProto.INT64 if model.ids else None)
    mask = None
    for layer in model.layers:
        build: Any = _BUILDERS[type(layer)]
        x, mask = build(g, layer, x, mask)
    g.add_output(x, "output", _symbolic(model.output_shape(input_shape)))
    return g.model(f"pyrnn-{model.name}")


# ---------------------------------------------------------------------------- functional models


def _merge(g, d: E.MergeExport, xs, masks):
    """A merge node; the output's mask is every input mask and-ed (Keras's compute_mask), which a
    Concatenate along an axis other than the features cannot have."""
    y = g.op(d.op, xs, axis=d.axis) if d.op == "Concat" else g.op(d.op, xs)
    given = [m for m in masks if m is not None]
    if not given:
        return y, None
    if d.op == "Concat" and d.axis != -1:
        raise NotImplementedError(f"ONNX export: {d.name}: a masked Concatenate(axis={d.axis}) is not supported "
                                  "(only along the features, axis=-1)")
    mask = given[0]
    for m in given[1:]:
        mask = g.op("And", [mask, m])
    return y, mask


def _output_dims(name, shape):
    """ONNX dims of an output: "batch", then a name of its own for an unknown size or a time
    axis (the graph takes any length, whatever length the Input declared)."""
    return ["batch"] + [f"{name}_{k}" if d is None or (len(shape) >= 3 and k == 1) else int(d)
                        for k, d in enumerate(shape[1:], 1)]


def _functional_graph(model: E.GraphExport):
    g = _Graph(model.dtype)
    TensorProto = g.onnx.TensorProto
    values: dict = {}
    masks: dict = {}
    for tid, name, shape, dtype in model.inputs:
        kind = np.dtype(dtype).kind
        ids = kind in "iu"
        elem = TensorProto.INT64 if ids else TensorProto.BOOL if kind == "b" else None
        values[tid] = g.add_input(name, _symbolic(_any_length(shape, ids or kind == "b"), f"time_{name}"), elem)
        masks[tid] = None
    for node in model.nodes:
        d = node.layer
        xs, ms = [values[i] for i in node.inputs], [masks[i] for i in node.inputs]
        mask = values[node.mask] if node.mask is not None else ms[0] if len(ms) == 1 else None
        initial = [values[i] for i in node.initial_state]
        if isinstance(d, E.MergeExport):
            y, out_mask = _merge(g, d, xs, ms)
            outs, out_masks = [y], [out_mask]
        elif isinstance(d, E.RecurrentExport):
            many = len(node.outputs) > 1  # return_state
            res = _keras_recurrent(g, d, xs[0], mask, initial, return_state=many)
            outs = res if many else [res]
            out_masks = [mask if d.return_sequences else None] + [None] * (len(outs) - 1)
        else:
            if initial:
                raise NotImplementedError(f"ONNX export: {d.name}: initial_state is exported for SimpleRNN, GRU "
                                          "and LSTM layers only")
            if len(node.outputs) > 1:
                raise NotImplementedError(f"ONNX export: {d.name}: a layer with several outputs is not supported")
            build: Any = _BUILDERS[type(d)]
            y, out_mask = build(g, d, xs[0], mask)
            outs, out_masks = [y], [out_mask]
        for tid, v, m in zip(node.outputs, outs, out_masks):
            values[tid], masks[tid] = v, m
    for tid, name, shape in model.outputs:
        g.add_output(values[tid], name, _output_dims(name, shape))
    return g.model(f"pyrnn-{model.name}")


# ---------------------------------------------------------------------------- entry points


def to_onnx(obj: Any, *, lengths: bool = False, initial_state: bool = False) -> Any:
    """The checked ``onnx.ModelProto`` of a ``pyrnn.nn`` RNN/GRU/LSTM or a ``Sequential`` model.

    ``lengths`` and ``initial_state`` (modules only) add the inputs ``lengths`` and ``h_0``
    (``c_0``). Example::

        >>> proto = pyrnn.onnx.to_onnx(pyrnn.nn.GRU(4, 8))
        >>> [i.name for i in proto.graph.input], [o.name for o in proto.graph.output]
        (['input'], ['output', 'h_n'])
    """
    _import_onnx()  # first: the graph builders import from onnx directly
    if isinstance(obj, RNNBase):
        return _module_graph(obj, lengths, initial_state)
    if callable(getattr(obj, "export_description", None)):  # a Sequential model (layers describe themselves)
        if lengths or initial_state:
            raise ValueError("ONNX export: lengths= and initial_state= apply to pyrnn.nn modules; a Sequential "
                             "model's masks come from its Embedding(mask_zero=True) or Masking layers")
        description = obj.export_description()
        if isinstance(description, E.ModelExport):
            return _sequential_graph(description)
        if isinstance(description, E.GraphExport):
            return _functional_graph(description)
    raise TypeError(f"ONNX export takes a pyrnn.nn RNN/GRU/LSTM or a pyrnn.models.Sequential, got "
                    f"{type(obj).__module__}.{type(obj).__name__}")


def export(obj: Any, path: str | os.PathLike, *, lengths: bool = False, initial_state: bool = False) -> Any:
    """Write ``obj`` (a ``pyrnn.nn`` RNN/GRU/LSTM or a ``Sequential``) to the ONNX file ``path``.

    Returns the ``onnx.ModelProto``. Example::

        >>> pyrnn.onnx.export(pyrnn.nn.GRU(4, 8, bidirectional=True), "gru.onnx", lengths=True)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"ONNX export: path must be a str or os.PathLike, got {type(path).__name__}")
    model = to_onnx(obj, lengths=lengths, initial_state=initial_state)
    _import_onnx().save(model, os.fspath(path))
    return model


__all__ = ["export", "to_onnx", "OPSET"]
