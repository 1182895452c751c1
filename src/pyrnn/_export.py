"""What each layer tells ONNX export about itself: small, plain descriptions.

A Keras-style layer's ``export_description()`` returns one of these (its weights in the layout
the graph needs, and the options that shape the graph); ``pyrnn.onnx`` turns each kind into
nodes, looked up by the description's type. A layer without a description raises
NotImplementedError naming it, so a new layer becomes exportable by returning one (and, for a
new kind, adding its builder in ``pyrnn.onnx``), never by editing a chain of isinstance checks.
Nothing here imports onnx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np

from ._recurrent import CellSpec, LayerWeights

SUPPORTED = ("SimpleRNN, GRU, LSTM, Bidirectional, Dense, TimeDistributed(Dense), Embedding, Masking, Dropout; "
             "in functional models also initial_state/return_state, Add, Subtract, Multiply, Average, Maximum, "
             "Minimum, Concatenate")


def not_exportable(name: str, what: str) -> NotImplementedError:
    """The error for a layer ONNX export cannot write (``what``: its class, e.g. ``Scale``)."""
    return NotImplementedError(f"ONNX export: layer {name!r} ({what}) is not supported; supported: {SUPPORTED}")


@dataclass(frozen=True)
class DenseExport:
    """``activation(x @ kernel + bias)`` on the last axis (2-D or 3-D input)."""

    name: str
    kernel: np.ndarray
    bias: Optional[np.ndarray]
    activation: str
    quantized: Optional[str] = None  # "int8" / "bfloat16" after layer.quantize(): its mode


@dataclass(frozen=True)
class EmbeddingExport:
    """A table lookup of int64 ids; ``mask_zero``: id 0 masks its step."""

    name: str
    embeddings: np.ndarray
    mask_zero: bool


@dataclass(frozen=True)
class MaskingExport:
    """Masks (and zeroes) steps whose features all equal ``mask_value``."""

    name: str
    mask_value: float


@dataclass(frozen=True)
class IdentityExport:
    """Nothing at inference (Dropout); the mask passes through."""

    name: str


@dataclass(frozen=True)
class RecurrentExport:
    """One SimpleRNN/GRU/LSTM direction: the spine cell, torch-layout weights, its options."""

    name: str
    cell: CellSpec
    units: int
    weights: LayerWeights
    activations: Dict[str, str] = field(default_factory=dict)  # GRU/LSTM: activation, recurrent_activation
    return_sequences: bool = False
    go_backwards: bool = False
    zero_output_for_mask: bool = False
    stateful: bool = False
    quantized: Optional[str] = None  # "int8" / "bfloat16" after layer.quantize(): its mode


@dataclass(frozen=True)
class BidirectionalExport:
    """Two ``RecurrentExport`` directions and how their outputs merge."""

    name: str
    forward: RecurrentExport
    backward: RecurrentExport
    merge_mode: Any
    return_sequences: bool


@dataclass(frozen=True)
class ModelExport:
    """A Sequential model: its layers' descriptions in order, its input (``ids``: int64 token
    ids for an Embedding first), dtype, and ``output_shape(input_shape)`` for any input shape."""

    name: str
    layers: tuple
    input_shape: tuple
    ids: bool
    dtype: np.dtype
    output_shape: Any  # callable: Keras input shape (None, ...) -> output shape


@dataclass(frozen=True)
class MergeExport:
    """An element-wise merge of several tensors (ONNX ``op``: Add, Sub, Mul, Max, Min, Mean) or a
    ``Concat`` along ``axis``."""

    name: str
    op: str
    axis: int = -1


@dataclass(frozen=True)
class NodeExport:
    """One layer call of a functional graph: its description, the ids of the tensors it reads
    (inputs, initial states, an explicit mask) and of those it makes."""

    layer: Any
    inputs: tuple
    initial_state: tuple
    mask: Optional[int]
    outputs: tuple


@dataclass(frozen=True)
class GraphExport:
    """A functional model: its inputs (tensor id, name, Keras shape, dtype), its nodes in
    topological order and its outputs (tensor id, name, Keras shape)."""

    name: str
    inputs: tuple
    nodes: tuple
    outputs: tuple
    dtype: np.dtype
