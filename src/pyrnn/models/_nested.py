"""A model used as a layer: ``encoder(inputs)`` on KerasTensors inside a functional model, or a
model in a ``Sequential``'s layer list.

``AsLayer`` gives both model classes what a graph node asks of a layer (see ``_graph.Node`` and
``functional.Model._run``): a symbolic call that records one node (the shapes checked against
the model's inputs), ``call`` / ``compute_mask`` / ``backward`` (dL/d(inputs), since the layers
before the model may train), ``call_state`` for a model called in several nodes, and
``zero_grads``. The model's weights stay its own layers': the outer model reaches them through
``parameter_bindings``/``get_weights`` (so they are shared with every other use of the model),
and ``fit`` trains through it. A model implements ``_layer_input_shapes``,
``_layer_output_shapes``, ``_layer_forward(xs, training, masks)`` (outputs and their masks) and
``_layer_backward(grads)`` (one gradient per input).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List

from .. import _graph
from ..layers import InputLayer
from ..layers.base import Layer


class AsLayer:
    """Mixin of ``Sequential`` and ``Model``: the model as one layer of another model."""

    if TYPE_CHECKING:  # a mixin: the model provides these
        def __getattr__(self, name: str) -> Any: ...

    supports_masking = True
    _keeps_float_dtype = False
    _rng = None

    @property
    def _summary_class(self) -> str:
        """The type a summary shows: Keras's "Functional" for a graph model, else the class name."""
        return "Functional" if type(self).__name__ == "Model" else type(self).__name__

    @property
    def _input_shape_arg(self) -> Any:
        shapes = self._layer_input_shapes()
        return None if len(shapes) != 1 or shapes[0] is None else tuple(shapes[0][1:])

    def _inbound(self) -> list:
        if "_inbound_nodes" not in self.__dict__:
            self._inbound_nodes: list = []
        return self._inbound_nodes

    def _call_symbolic(self, inputs: Any, mask: Any = None, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(f"model {self.name!r}: a call on KerasTensors takes the inputs (and mask), got "
                            f"unexpected keyword argument(s) {sorted(kwargs)}")
        if isinstance(inputs, dict):
            missing = [k for k in self._input_names if k not in inputs]
            if missing or len(inputs) != len(self._input_names):
                raise ValueError(f"model {self.name!r}: a dict of inputs needs the keys {self._input_names}, "
                                 f"got {sorted(inputs)}")
            inputs = [inputs[k] for k in self._input_names]
        tensors = _graph.flatten(inputs)
        for t in tensors + ([] if mask is None else _graph.flatten(mask)):
            if not isinstance(t, _graph.KerasTensor):
                raise TypeError(f"model {self.name!r}: a functional call takes KerasTensors (from keras.Input or a "
                                f"layer call), got {type(t).__name__}")
        expected = self._layer_input_shapes([t.shape for t in tensors])
        if len(tensors) != len(expected):
            raise ValueError(f"model {self.name!r} takes {len(expected)} input(s) of shapes {expected}, "
                             f"got {len(tensors)}: {[t.shape for t in tensors]}")
        for i, (want, t) in enumerate(zip(expected, tensors)):
            if not _graph.compatible(want, t.shape):
                source = (f"input {t.name!r} of shape {t.shape}" if t.node is None or isinstance(t.layer, InputLayer)
                          else t.describe())
                raise ValueError(f"model {self.name!r} cannot take {source}: its input {i} expects shape {want}, "
                                 f"got {t.shape}")
        node = _graph.Node(self, list(inputs) if isinstance(inputs, (list, tuple)) else inputs, None, mask)
        self._inbound().append(node)
        shapes = [(None,) + tuple(s[1:]) for s in self._layer_output_shapes()]
        return node.add_outputs(shapes if self._multi_output else shapes[0], self._output_dtypes()[0])

    @property
    def _multi_output(self) -> bool:
        return len(self._output_names) > 1 or isinstance(getattr(self, "_outputs_struct", None), (list, tuple))

    def _maybe_build(self, input_shape: Any) -> None:
        """Inside a Sequential: build from the previous layer's output shape (a Sequential), or
        check it against the inputs (a functional model)."""
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        expected = self._layer_input_shapes(shapes)
        if len(shapes) != len(expected) or not all(_graph.compatible(w, tuple(s)) for w, s in zip(expected, shapes)):
            raise ValueError(f"model {self.name!r} takes inputs of shapes {expected}, got {input_shape}")

    # ------------------------------------------------------------------ running as a layer
    def _convert(self, inputs: Any) -> Any:
        return inputs

    def call(self, inputs: Any, training: Any = False, mask: Any = None) -> Any:
        return self._layer_call(inputs, training, mask)

    def _layer_call(self, inputs: Any, training: Any = False, mask: Any = None) -> Any:
        """Run the model on arrays as one layer of another model (a subclass's ``call`` is its
        own forward pass, traced: the graphs call this)."""
        xs = _graph.flatten(inputs)
        masks = None if mask is None else _graph.flatten(mask)
        outs, self._out_masks = self._layer_forward(self._convert_inputs(xs if len(xs) > 1 else xs[0]), training,
                                                    masks)
        return outs if self._multi_output else outs[0]

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        masks = getattr(self, "_out_masks", None) or [None]
        return list(masks) if self._multi_output else masks[0]

    def backward(self, grad: Any) -> Any:
        grads = self._layer_backward(list(grad) if self._multi_output else [grad])
        return grads if len(grads) > 1 else grads[0]

    def zero_grads(self) -> None:
        for layer in self.layers:
            layer.zero_grads()

    def _walk(self) -> Any:
        """The layers this model runs, nested ones opened, depth first (as a Layer's sublayers:
        regularization penalties, activity losses and constraints reach them through this)."""
        for layer in self.layers:
            yield from layer._walk()

    clear_losses = Layer.clear_losses  # over _walk above: its layers, nested ones opened

    def _leaf_layers(self) -> List[Any]:
        """Every layer this model runs, nested models opened (whose calls must be saved per node)."""
        out: List[Any] = []
        for layer in self.layers:
            out += layer._leaf_layers() if isinstance(layer, AsLayer) else [layer]
        return out
