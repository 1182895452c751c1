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

from .. import losses as losses_module
from .. import optimizers as optimizers_module
from .._flat import FlatParameters
from ..layers import InputLayer, Layer
from ..layers.core import Dropout, Embedding, Masking
from . import _saving
from ._metrics import Metrics
from ._saving import Saving
from ._summary import summary_text
from ._training import Training


class Sequential(Training, Saving):
    """A linear stack of layers with Keras's API. ``trainable=False`` freezes every layer (the
    optimizer then updates nothing); layers keep their own ``trainable`` too."""

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
        self._metrics = Metrics(None, None)
        self.trainable = bool(trainable)
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure
    @property
    def layers(self) -> list[Layer]:
        return [l for l in self._layers if not isinstance(l, InputLayer)]

    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a Layer, got {type(layer).__name__}")
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

    # ------------------------------------------------------------------ weights
    def get_weights(self) -> list[np.ndarray]:
        """Every layer's weights, in order: exactly Keras's list for the same model."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: list) -> None:
        weights = list(weights)
        i = 0
        for layer in self.layers:
            n = len(layer.get_weights())
            layer.set_weights(weights[i:i + n])
            i += n
        if i != len(weights):
            raise ValueError(f"set_weights: the model has {i} weight arrays, got {len(weights)}")

    @property
    def weights(self):
        return self.get_weights()

    @property
    def trainable_weights(self):
        return [w for l in self.layers for w in l.trainable_weights] if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.get_weights()
        return [w for l in self.layers for w in l.non_trainable_weights]

    def count_params(self) -> int:
        return sum(l.count_params() for l in self.layers)

    def parameter_bindings(self) -> list:
        """Every trainable parameter as a ``Binding(owner, name)``, in the flat vector's order."""
        if not self.trainable:
            return []
        return [b for layer in self.layers for b in layer.parameter_bindings()]

    def _variables(self):
        """(params, grads, name) of every trainable parameter: live arrays by name."""
        return [({b.name: b.weight}, {b.name: b.grad}, b.name) for b in self.parameter_bindings()]

    def _pack(self):
        """Bind every trainable parameter (and its gradient) to one flat vector, once per change
        of the trainable set (see ``pyrnn._flat``). Returns (key, weights, grads, sizes)."""
        bindings = self.parameter_bindings()
        key = FlatParameters.key_of(bindings)
        if self._flat is not None and self._flat[0] == key:
            return self._flat
        flat = FlatParameters(bindings)
        if self.optimizer is not None and (not self.optimizer.built or self.optimizer._sizes != flat.sizes):
            self.optimizer.build(flat.sizes, flat.dtype)
        self._flat = (key, flat.weights, flat.grads, flat.sizes)
        return self._flat

    # ------------------------------------------------------------------ compile
    # Keras's execution options, and the values that describe how pyrnn runs (eagerly, one step
    # per call, no XLA, no loss scaling): any other value is a NotImplementedError naming it.
    _EXECUTION_OPTIONS = {"run_eagerly": (None, True, False), "steps_per_execution": (None, 1),
                          "jit_compile": (None, False, "auto"), "auto_scale_loss": (None, True, False)}

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Optional[list] = None,
                loss_weights: Any = None, weighted_metrics: Any = None, run_eagerly: Optional[bool] = None,
                steps_per_execution: Optional[int] = None, jit_compile: Any = None,
                auto_scale_loss: Optional[bool] = None) -> None:
        """Set the optimizer, loss and metrics (Keras's arguments). ``loss_weights`` and
        ``weighted_metrics`` are not supported (NotImplementedError); the execution options are
        accepted at the values that match how pyrnn runs."""
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='mean_squared_error'")
        for option, value in (("loss_weights", loss_weights), ("weighted_metrics", weighted_metrics)):
            if value is not None:
                raise NotImplementedError(f"compile: {option}={value!r} is not supported by pyrnn (one output, "
                                          "one loss; weight samples with fit(sample_weight=...))")
        given = {"run_eagerly": run_eagerly, "steps_per_execution": steps_per_execution, "jit_compile": jit_compile,
                 "auto_scale_loss": auto_scale_loss}
        for option, value in given.items():
            allowed = self._EXECUTION_OPTIONS[option]
            if not any(value is a or (type(value) is type(a) and value == a) for a in allowed):
                raise NotImplementedError(f"compile: {option}={value!r} is not supported by pyrnn "
                                          f"(accepted: {', '.join(map(repr, allowed))})")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss)
        self._metrics = Metrics(metrics, self.loss)
        self.compiled = True
        self._flat = None

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

    def _forward(self, x, training, layers, uses_mask, first=0):
        mask = None
        for i, layer in enumerate(layers):
            train_here = training and (i >= first or isinstance(layer, Dropout) or getattr(layer, "dropout", 0))
            if uses_mask:
                new_mask = layer.compute_mask(x, mask)
                x = layer.call(x, training=train_here, mask=mask)
                mask = new_mask
            else:
                x = layer.call(x, train_here, None)
        return x

    def __call__(self, x, training=False):
        x = self._convert_x(x)
        self._ensure_built(x)
        layers, uses_mask, _ = self._run_plan()
        return self._forward(x, training, layers, uses_mask)

    def _convert_x(self, x):
        layers = self.layers
        if layers and isinstance(layers[0], Embedding):
            return layers[0]._convert(x)
        dtype = layers[0].dtype if layers else np.float32
        if type(x) is np.ndarray and x.dtype == dtype:
            return x
        return np.asarray(x, dtype=dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def predict(self, x: Any, batch_size: Optional[int] = None, verbose: Any = "auto",
                callbacks: Optional[list] = None) -> np.ndarray:
        """The model's outputs for x, computed in batches (inference mode)."""
        x = self._convert_x(x)
        self._ensure_built(x)
        batch_size = int(batch_size or 32)
        layers, uses_mask, _ = self._run_plan()
        outs = [self._forward(x[i:i + batch_size], False, layers, uses_mask) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0,) + tuple(self.output_shape[1:]), np.float32)

    def predict_on_batch(self, x: Any) -> np.ndarray:
        return self.predict(x, batch_size=len(x), verbose=0)

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
    return _saving.load_model(Sequential, filepath, compile)
