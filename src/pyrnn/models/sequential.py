"""``Sequential``: a stack of layers with Keras's compile / fit / evaluate / predict.

Training keeps the per-step Python path short: the trainable parameters of all layers are
bound to one flat vector and their gradients to another (``pyrnn._flat.FlatParameters``: each
parameter's owner, a layer or the ``pyrnn.nn`` module a recurrent layer wraps, keeps views into
them), so zeroing the gradients and the optimizer update are a few vector operations per step.
Inputs are converted to the layer dtype once per ``fit``.

The class is the structure (layers, building, weights, compile, inference); its other jobs
live next to it: ``_training.py`` (fit, evaluate, gradients), ``_metrics.py``, ``_summary.py``
and ``_saving.py`` (config, weights and model files, ONNX export).

Example::

    >>> model = Sequential([SimpleRNN(50, input_shape=(10, 1)), Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> history = model.fit(X, Y, epochs=10, batch_size=32, verbose=0)
    >>> history.history["loss"][-1]
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .. import _graph
from ..layers import InputLayer, Layer
from ..layers.base import register
from ..layers.core import Dropout, Embedding, Masking
from . import _saving
from ._nested import AsLayer
from ._saving import Saving
from ._summary import summary_text
from ._training import Training


@register
class Sequential(AsLayer, Training, Saving):
    """A linear stack of layers with Keras's API. ``trainable=False`` freezes every layer (the
    optimizer then updates nothing); layers keep their own ``trainable`` too. A model (functional
    or Sequential) can be one of the layers, and a Sequential can be called on KerasTensors
    inside a functional model."""

    def __init__(self, layers: Optional[list] = None, name: Optional[str] = None, seed: Optional[int] = None,
                 trainable: bool = True) -> None:
        self.name = name or "sequential"
        self.seed = seed
        self._layers: list[Layer] = []
        self._input_shape: Any = None  # (None, ...) once known
        self.output_shape: Any = None
        self.optimizer: Any = None
        self.loss: Any = None
        self.compiled = False
        self.stop_training = False
        self.history: Any = None
        self._flat: Any = None
        self._metrics: list = []
        self._losses: list = []
        self._plan: Any = None
        self.trainable = bool(trainable)
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure
    @property
    def layers(self) -> list[Layer]:
        return [l for l in self._layers if not isinstance(l, InputLayer)]

    def add(self, layer: Layer) -> None:
        if isinstance(layer, _graph.KerasTensor):  # keras.Input(...): its InputLayer
            if not isinstance(layer.layer, InputLayer):
                raise TypeError("Sequential.add takes layers (or an Input), not the output of a layer call")
            layer = layer.layer
        if not isinstance(layer, (Layer, AsLayer)):
            raise TypeError(f"Sequential.add expects a Layer (or a model), got {type(layer).__name__}")
        if isinstance(layer, AsLayer) and layer._multi_output:
            raise ValueError(f"{layer.name}: a model with several outputs cannot be a layer of a Sequential")
        if getattr(layer, "return_state", False):
            raise ValueError(f"{layer.name}: return_state=True gives several outputs; Sequential needs one")
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("Input must be the first layer of a Sequential model")
            self._input_shape = (None,) + tuple(layer.shape)
        elif not self.layers and layer._input_shape_arg is not None and self._input_shape is None:
            self._input_shape = (None,) + tuple(layer._input_shape_arg)
        if any(l.name == layer.name for l in self._layers):
            raise ValueError(f"All layers added to a Sequential model should have unique names; "
                             f"{layer.name!r} is already in it")
        self._layers.append(layer)
        self._flat = None
        if self._input_shape is not None:
            self.build(self._input_shape)

    def pop(self) -> Layer:
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        self._flat = None
        return self._layers.pop()

    def build(self, input_shape: Optional[tuple] = None) -> None:
        if input_shape is None and self._input_shape is None:
            raise ValueError("build: input_shape is required (the model has no Input and no layer input_shape)")
        input_shape = tuple(input_shape or self._input_shape)
        self._input_shape = (None,) + tuple(input_shape[1:])
        rng = None if self.seed is None else np.random.default_rng(self.seed)
        shape = self._input_shape
        for layer in self.layers:
            if rng is not None and layer.seed is None and layer._rng is None:
                layer._rng = np.random.default_rng(rng.integers(2**31))
            layer._maybe_build(shape)
            shape = layer.compute_output_shape(shape)
        self.output_shape = shape

    @property
    def built(self) -> bool:
        return bool(self.layers) and all(l.built for l in self.layers)

    @property
    def input_shape(self) -> Optional[tuple]:
        return self._input_shape

    def _ensure_built(self, x):
        if not self.built:
            self.build((None,) + tuple(np.shape(x)[1:]))

    # ------------------------------------------------------------------ running
    def _run_plan(self):
        """Which layers need masks and from which layer on backward must run."""
        layers = self.layers
        uses_mask = any(isinstance(l, Embedding) and l.mask_zero for l in layers) or any(
            isinstance(l, Masking) for l in layers)
        first = len(layers)
        for i, layer in enumerate(layers):
            if layer.parameter_bindings():
                first = i
                break
        return layers, uses_mask, first

    def _forward(self, x, training, layers, uses_mask, first=0, mask=None):
        for i, layer in enumerate(layers):
            train_here = training and (i >= first or isinstance(layer, (Dropout, AsLayer)) or getattr(layer, "dropout", 0))
            if uses_mask:
                if isinstance(layer, AsLayer):  # a nested model's output mask is known after its call
                    x = layer._layer_call(x, training=train_here, mask=mask)
                    mask = layer.compute_mask(x, mask)
                    continue
                new_mask = layer.compute_mask(x, mask)
                x = layer.call(x, training=train_here, mask=mask)
                mask = new_mask
            elif isinstance(layer, AsLayer):
                x = layer._layer_call(x, train_here, None)
            else:
                x = layer.call(x, training=train_here, mask=None)
        self._out_masks = [mask]
        return x

    def __call__(self, x, training=False, mask=None):
        if _graph.is_symbolic(x):  # inside a functional model: one node, this model its layer
            return self._call_symbolic(x, mask)
        x = self._convert_x(x)
        self._ensure_built(x)
        layers, uses_mask, _ = self._run_plan()
        for layer in layers:
            layer.clear_losses()
        return self._forward(x, training, layers, uses_mask)

    def _convert_x(self, x):
        layers = self.layers
        if layers and isinstance(layers[0], Embedding):
            return layers[0]._convert(x)
        dtype = self.dtype
        if type(x) is np.ndarray and x.dtype == dtype:
            return x
        return np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    # ------------------------------------------------------------------ what the training loop asks
    @property
    def _input_names(self) -> list:
        return ["input"]

    @property
    def _output_names(self) -> list:
        return [self.layers[-1].name if self.layers else "output"]

    def _convert_inputs(self, x):
        x = self._convert_x(self._structure(x, self._input_names, "x")[0])
        self._ensure_built(x)
        return [x]

    def _output_shapes(self):
        return [self.output_shape]

    def _output_dtypes(self):
        if not self.layers:
            return [np.float32]
        last = self.layers[-1]
        return last._output_dtypes() if isinstance(last, AsLayer) else [last.dtype]

    def _begin_pass(self):
        self._plan = self._run_plan()

    def _forward_batch(self, xs, training):
        layers, uses_mask, first = self._plan
        return [self._forward(xs[0], training, layers, uses_mask, first if training else 0)]

    def _backward_batch(self, grads):
        layers, _, first = self._plan
        g = grads[0]
        for layer in layers[first:][::-1]:
            g = layer.backward(g)
        return g

    # ------------------------------------------------------------------ as a layer of another model
    def _layer_input_shapes(self, given=None):
        if not self.built and given is not None and len(given) == 1:
            self.build(tuple(given[0]))
        return [self._input_shape]  # None while not built

    def _layer_output_shapes(self):
        return [self.output_shape]

    def _layer_forward(self, xs, training, masks):
        layers, uses_mask, _ = self._run_plan()
        mask = None if masks is None else masks[0]
        self._plan = (layers, uses_mask, 0)  # backward down to the input: the layers before may train
        out = self._forward(xs[0], training, layers, uses_mask or mask is not None, 0, mask)
        return [out], self._out_masks

    def _layer_backward(self, grads):
        return [self._backward_batch(grads)]

    @property
    def dtype(self):
        return self.layers[0].dtype if self.layers else np.dtype(np.float32)

    def call_state(self):
        return [layer.call_state() for layer in self.layers]

    def set_call_state(self, state):
        for layer, s in zip(self.layers, state):
            layer.set_call_state(s)

    @staticmethod
    def _format_outputs(arrays):
        return arrays[0]

    def reset_states(self) -> None:
        for layer in self.layers:
            if hasattr(layer, "reset_states"):
                layer.reset_states()

    # ------------------------------------------------------------------ summary
    def summary(self, line_length: Optional[int] = None, print_fn: Any = None) -> None:
        """Print the layers, their output shapes and parameter counts (as Keras does)."""
        (print_fn or print)(summary_text(self))

def load_model(filepath: Any, compile: bool = True) -> Sequential:
    """Rebuild a model saved with ``model.save``: layers, weights and, compiled, the optimizer state."""
    return _saving.load_model({"Sequential": Sequential}, filepath, compile)
