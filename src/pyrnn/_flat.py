"""One flat parameter buffer for a model: every trainable array is a view into it, on purpose.

A model's optimizer step and its zeroing of gradients are a few vector operations when all
trainable parameters live in one flat weight vector and their gradients in one flat gradient
vector. ``FlatParameters`` allocates both (each parameter starting on a 64-byte boundary) and
*binds* every parameter to its slice: the owner of a parameter (a Keras-style ``Layer`` or a
``pyrnn.nn`` module) implements the binding protocol

- ``parameter(name)`` / ``gradient(name)``: the live arrays;
- ``bind_parameter(name, weight, grad)``: copy the current value into ``weight`` and use
  ``weight`` and ``grad`` as the parameter and its gradient from then on.

After binding, everything that changes a parameter writes into its array in place
(``set_weights``, ``load_state_dict``, the optimizers), so the flat vectors always hold the
model's current values. A binding is made again (``Sequential`` does it) whenever the set of
trainable parameters changes.

Example::

    >>> flat = FlatParameters([Binding(module, "weight_ih_l0"), Binding(module, "weight_hh_l0")])
    >>> flat.weights.size >= module.parameter("weight_ih_l0").size
    True
"""

from __future__ import annotations

from typing import Any, List, NamedTuple, Sequence, Tuple

import numpy as np

_ALIGN = 16  # elements: parameters start on 64-byte boundaries in the flat vectors


class Binding(NamedTuple):
    """Parameter ``name`` of ``owner`` (an object with parameter/gradient/bind_parameter)."""

    owner: Any
    name: str

    @property
    def weight(self) -> np.ndarray:
        return self.owner.parameter(self.name)

    @property
    def grad(self) -> np.ndarray:
        return self.owner.gradient(self.name)


def _aligned(size: int, dtype: np.dtype) -> np.ndarray:
    """A zero vector of ``size`` elements whose first element is 64-byte aligned."""
    raw = np.zeros(size + _ALIGN, dtype)
    start = (-(raw.ctypes.data // raw.itemsize)) % _ALIGN
    return raw[start:start + size]


class FlatParameters:
    """The flat ``weights`` and ``grads`` vectors of ``bindings``, with every parameter bound to
    its slice. ``sizes`` are the slot sizes (each rounded up to the alignment), in order; ``key``
    identifies the bound set (same owners and names: no need to bind again)."""

    def __init__(self, bindings: Sequence[Binding]):
        self.bindings: List[Binding] = list(bindings)
        dtypes = {b.weight.dtype for b in self.bindings}
        if len(dtypes) > 1:
            raise TypeError(f"all trainable layers must have one dtype, got {sorted(map(str, dtypes))}")
        self.dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        self.sizes: List[int] = [-(-b.weight.size // _ALIGN) * _ALIGN for b in self.bindings]
        total = sum(self.sizes)
        self.weights, self.grads = _aligned(total, self.dtype), _aligned(total, self.dtype)
        off = 0
        for b, size in zip(self.bindings, self.sizes):
            shape, n = b.weight.shape, b.weight.size
            b.owner.bind_parameter(b.name, self.weights[off:off + n].reshape(shape),
                                   self.grads[off:off + n].reshape(shape))
            off += size
        self.key = self.key_of(self.bindings)

    @staticmethod
    def key_of(bindings: Sequence[Binding]) -> Tuple[Tuple[int, str, int], ...]:
        """Which parameters, and where each lives now: a layer shared with another model that
        bound it to its own flat vector since (a nested model trained alone) changes the key."""
        return tuple((id(b.owner), b.name, b.weight.__array_interface__["data"][0]) for b in bindings)
