"""The symbolic side of the Keras functional API: ``KerasTensor`` and ``Node``.

``keras.Input(shape)`` gives a ``KerasTensor``: a shape (batch first, ``None`` where unknown), a
dtype and the ``Node`` that made it. Calling a layer on KerasTensors (``Layer.__call__``) builds
the layer from their shapes, infers the output shapes and records one ``Node``: the layer, the
tensors it read (its inputs, its ``initial_state`` and an explicit ``mask``) and the tensors it
made. ``pyrnn.models.Model(inputs, outputs)`` walks the nodes back from its outputs and runs
them in topological order (backward: the reverse order, gradients summed where a tensor feeds
several nodes).

This module knows no layer class: layers import it, not the other way round.

Example::

    >>> x = KerasTensor((None, 5, 3), "float32")
    >>> x.shape
    (None, 5, 3)
"""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np


class KerasTensor:
    """A symbolic tensor: ``shape`` (batch first), ``dtype``, ``name`` and the node that made it
    (``node``, and which of its outputs it is, ``index``)."""

    def __init__(self, shape: tuple, dtype: Any, name: Optional[str] = None, node: Any = None, index: int = 0):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.name = name
        self.node = node
        self.index = index

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def layer(self) -> Any:
        """The layer whose call made this tensor."""
        return self.node.layer

    def describe(self) -> str:
        return f"the output of layer {self.layer.name!r} ({type(self.layer).__name__}), shape {self.shape}"

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype.name}, name={self.name}>"

    def __len__(self):
        raise TypeError("a KerasTensor is symbolic: it has no length until the model runs")

    def __array__(self, *args, **kwargs):
        raise TypeError(f"{self!r} is symbolic: call the layer on it, or build a Model and call predict")

    # pyrnn has no autodiff: an operation on a KerasTensor that is not a layer call cannot be
    # recorded (its gradient would be lost), so it is an error naming the layer to use instead
    def _no_op(self, what: str, use: str) -> TypeError:
        return TypeError(f"{what} on {self!r} cannot be traced: pyrnn records only layer calls (it has no autodiff); "
                         f"use {use}")

    def __add__(self, other):
        raise self._no_op("`+`", "keras.layers.Add()([a, b])")

    __radd__ = __add__

    def __sub__(self, other):
        raise self._no_op("`-`", "keras.layers.Subtract()([a, b])")

    __rsub__ = __sub__

    def __mul__(self, other):
        raise self._no_op("`*`", "keras.layers.Multiply()([a, b])")

    __rmul__ = __mul__

    def __truediv__(self, other):
        raise self._no_op("`/`", "a layer (e.g. keras.layers.Multiply with a reciprocal, or Activation)")

    __rtruediv__ = __truediv__

    def __matmul__(self, other):
        raise self._no_op("`@`", "keras.layers.Dot or keras.layers.Dense")

    __rmatmul__ = __matmul__

    def __pow__(self, other):
        raise self._no_op("`**`", "a layer")

    def __neg__(self):
        raise self._no_op("unary `-`", "keras.layers.Subtract or a Dense layer")

    def __getitem__(self, key):
        raise self._no_op("indexing", "keras.layers.Reshape, Permute or a layer that picks what you need")

    def __iter__(self):
        raise self._no_op("iterating", "a layer with several outputs (return_state=True) and unpack its list")

    def __bool__(self):
        raise TypeError(f"data-dependent control flow on {self!r} (if/while on a tensor's value) cannot be traced: "
                        "the graph is recorded once; compute every branch with layers (e.g. masks, Multiply)")

    def _compare(self, other):
        raise self._no_op("a comparison", "a layer (comparisons give no gradient; use masks)")

    __lt__ = __le__ = __gt__ = __ge__ = _compare

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        raise self._no_op(f"numpy.{ufunc.__name__}", "keras.layers.Activation or another layer")

    def __array_function__(self, func, types, args, kwargs):
        raise self._no_op(f"numpy.{func.__name__}", "a layer (Concatenate, Add, Reshape, GlobalAveragePooling1D, ...)")


class _Tracing:
    """The ``training`` a subclassed model's ``call`` gets while it is traced: layers given it run
    in fit's or predict's mode; branching on it (``if training:``) is an error, since one trace
    cannot hold both branches."""

    def __bool__(self):
        raise TypeError("`if training:` in a subclassed model's call cannot be traced: pyrnn records call once "
                        "for both modes; pass training=training to the layers instead (Dropout and the recurrent "
                        "layers follow fit's and predict's mode)")

    def __repr__(self):
        return "<training: follows fit/predict>"


TRACING = _Tracing()


def flatten(structure: Any) -> List[Any]:
    """The leaves of a nested list/tuple/dict (dicts in key order), or [structure] for a leaf."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in flatten(structure[key])]
    return [structure]


def pack_like(structure: Any, leaves: List[Any]) -> Any:
    """``structure`` with its leaves replaced, in order, by ``leaves``."""
    it = iter(leaves)

    def rebuild(s):
        if isinstance(s, (list, tuple)):
            return [rebuild(item) for item in s]
        if isinstance(s, dict):
            return {key: rebuild(s[key]) for key in s}
        return next(it)

    return rebuild(structure)


def is_symbolic(structure: Any) -> bool:
    """Whether any leaf of ``structure`` is a KerasTensor."""
    return any(isinstance(leaf, KerasTensor) for leaf in flatten(structure))


class Node:
    """One call of ``layer`` in a graph: ``inputs`` (a KerasTensor or a list of them),
    ``initial_state`` (a list, or None), ``mask`` (a KerasTensor, or None) and ``outputs`` (a list;
    ``multi`` says whether the call returned a list)."""

    def __init__(self, layer: Any, inputs: Any, initial_state: Optional[list] = None, mask: Any = None):
        self.layer = layer
        self.inputs = inputs
        self.initial_state = initial_state
        self.mask = mask
        self.outputs: List[KerasTensor] = []
        self.multi = False

    @property
    def input_tensors(self) -> List[KerasTensor]:
        """The tensors gradients flow back to: the inputs, then the initial states."""
        return flatten(self.inputs) + list(self.initial_state or [])

    @property
    def parents(self) -> List[KerasTensor]:
        """Every tensor the call reads (the mask too)."""
        return self.input_tensors + ([] if self.mask is None else [self.mask])

    def add_outputs(self, shapes: Any, dtype: Any) -> Any:
        """Make the output KerasTensors from the inferred shape(s); returns them as the call does."""
        self.multi = isinstance(shapes, list)
        for i, shape in enumerate(shapes if self.multi else [shapes]):
            name = self.layer.name if i == 0 else f"{self.layer.name}_{i}"
            self.outputs.append(KerasTensor(shape, dtype, name, self, i))
        return list(self.outputs) if self.multi else self.outputs[0]


def compatible(expected: tuple, got: tuple) -> bool:
    """Whether shape ``got`` fits ``expected`` (same rank; None matches anything)."""
    return len(expected) == len(got) and all(a is None or b is None or a == b for a, b in zip(expected, got))
