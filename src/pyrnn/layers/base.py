"""The ``Layer`` base class of the Keras-style API.

A layer owns its parameters in ``self._params`` (name -> live array, in the layout its
computation uses) and their gradients in ``self._grads`` (same names and shapes). ``call``
computes the output (keeping, when ``training``, what ``backward`` needs); ``backward`` takes
dL/d(output), adds the parameter gradients into ``self._grads`` and returns dL/d(input).
``get_weights`` / ``set_weights`` speak Keras's layout and order; the model's optimizer updates
the arrays named in ``_trainable_names`` in place.

Example::

    >>> from pyrnn.layers import Dense
    >>> d = Dense(3)
    >>> y = d(np.ones((2, 4), np.float32))
    >>> [w.shape for w in d.get_weights()]
    [(4, 3), (3,)]
"""

from __future__ import annotations

import functools
import inspect
import itertools
import re
from typing import Any

import numpy as np

from .. import _graph, constraints, initializers, quantized, regularizers
from .._export import not_exportable
from .._flat import Binding

_UIDS = itertools.count()
_NAME_COUNTS: dict[str, int] = {}
_CLASSES: dict[str, type] = {}  # class name -> class: the layers serialize/deserialize and from_keras know


def register(cls):
    """Class decorator: make a built-in layer class known to ``deserialize`` by its name."""
    _CLASSES[cls.__name__] = cls
    return cls


def layer_classes():
    """The built-in layer classes by name (what ``deserialize`` and ``from_keras`` build)."""
    return dict(_CLASSES)


def serialize(layer):
    """{"class_name", "config"}: enough to rebuild the layer (without its weights)."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config):
    """The layer ``serialize`` described (a built-in class, by name)."""
    cls = _CLASSES.get(config["class_name"])
    if cls is None:
        raise ValueError(f"Unknown layer class {config['class_name']!r}; known: {sorted(_CLASSES)}")
    return cls.from_config(dict(config["config"]))


def _snake(name):
    """Keras's default layer names: SimpleRNN -> simple_rnn, GRU -> gru, TimeDistributed -> time_distributed."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def _unique_name(base):
    n = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def dropout_mask(rng, shape, rate, dtype):
    """Keras's inverted dropout: 0 with probability ``rate``, else 1 / (1 - rate); all zeros
    for ``rate`` 1 (every unit dropped)."""
    if rate >= 1:
        return np.zeros(shape, dtype)
    return (rng.random(shape) >= rate).astype(dtype) / np.dtype(dtype).type(1 - rate)


def _check_unsupported(layer, **options):
    """NotImplementedError for Keras options this layer accepts but does not implement."""
    for key, value in options.items():
        if value not in (None, 0, 0.0, False):
            raise NotImplementedError(f"{type(layer).__name__}: {key}={value!r} is not supported by pyrnn yet")


def _batchless(shape):
    """(None,) + shape[1:], for one shape or a list of them."""
    if isinstance(shape, list):
        return [_batchless(s) for s in shape]
    return (None,) + tuple(shape[1:])


def _shapes(inputs):
    return [x.shape for x in inputs] if isinstance(inputs, list) else inputs.shape


def _describe(t):
    return t.describe() if t.node is not None else f"input {t.name!r} of shape {t.shape}"


def _wrap_build(build):
    """Keras's build wrapper: ``build(shape)`` marks the layer built, and a built layer's build
    does nothing (its weights stay; set_weights before the first call must not be lost)."""

    @functools.wraps(build)
    def wrapper(self, input_shape=None, *args, **kwargs):
        if self._building:  # a subclass's build calling super().build
            return build(self, input_shape, *args, **kwargs)
        if self.built:
            return None
        if input_shape is not None and self.input_shape is None:
            self.input_shape = _batchless(input_shape)
        self._building = True
        try:
            build(self, input_shape, *args, **kwargs)
        finally:
            self._building = False
        self.built = True
        return None

    wrapper._pyrnn_wrapped = True
    return wrapper


def _wrap_call(call):
    """Pass ``training``/``mask`` only when ``call``'s signature takes them (Keras's
    ``call(self, inputs)`` and ``call(self, inputs, mask=None)`` are valid layers), and record
    the activity regularizer's loss on the outputs of the outermost call."""
    params = inspect.signature(call).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    dropped = () if takes_all else tuple(n for n in ("training", "mask") if n not in params)
    names = list(params)
    at = names.index("training") - 1 if "training" in names else None  # its position after self

    @functools.wraps(call)
    def wrapper(self, *args, **kwargs):
        for name in dropped:
            kwargs.pop(name, None)
        if self.activity_regularizer is None or self._calling:
            return call(self, *args, **kwargs)
        self._calling = True
        try:
            outputs = call(self, *args, **kwargs)
        finally:
            self._calling = False
        training = kwargs.get("training", args[at] if at is not None and len(args) > at else False)
        self._record_activity(outputs, bool(training))
        return outputs

    wrapper._pyrnn_wrapped = True
    return wrapper


def _wrap_backward(backward):
    """Add the activity regularizer's gradient to dL/d(output) before the layer's backward."""

    @functools.wraps(backward)
    def wrapper(self, grad, *args, **kwargs):
        if self._activity_cache is not None and not self._calling:
            grad = self._activity_gradient(grad)
        return backward(self, grad, *args, **kwargs)

    wrapper._pyrnn_wrapped = True
    return wrapper


def _flat_arrays(outputs):
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


@register
class Layer:
    """Base class: name, trainable, build/call/backward, weights in Keras's order."""

    supports_masking = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name, wrap in (("build", _wrap_build), ("call", _wrap_call), ("backward", _wrap_backward)):
            fn = cls.__dict__.get(name)
            if fn is not None and not getattr(fn, "_pyrnn_wrapped", False):
                setattr(cls, name, wrap(fn))

    # class-level defaults, so a subclass whose __init__ sets attributes before super().__init__ works
    _building = False
    _calling = False
    _activity_cache = None
    activity_regularizer = None

    def __init__(self, trainable=True, name=None, dtype=None, input_shape=None, input_dim=None,
                 batch_input_shape=None, seed=None, activity_regularizer=None, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        self.name = name or _unique_name(_snake(type(self).__name__))
        self.trainable = bool(trainable)
        self.dtype = np.dtype(dtype or "float32")
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"{self.name}: dtype must be float32 or float64, got {self.dtype}")
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
        elif input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else tuple(input_shape)
        self.seed = seed
        self._rng = None
        self._params, self._grads = {}, {}
        self._trainable_names = []  # parameters the optimizer updates (all of them, usually)
        self.built = False
        self.input_shape = None  # (None, ...) once built
        self._inbound_nodes: list = []  # functional calls (``_graph.Node``), first first
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._activity_losses: list = []
        self._weight_regularizers: dict = {}  # Keras weight name -> regularizer
        self._weight_constraints: dict = {}  # Keras weight name -> constraint

    # ------------------------------------------------------------------ building
    @property
    def rng(self):
        """The layer's Generator: from ``seed``, else drawn from NumPy's global RNG."""
        if self._rng is None:
            self._rng = initializers.default_rng(self.seed)
        return self._rng

    def add_weight(self, name: str, shape: tuple, initializer: Any, trainable: bool = True) -> np.ndarray:
        value = initializers.get(initializer)(shape, self.dtype, self.rng)
        self._params[name] = np.ascontiguousarray(value, dtype=self.dtype)
        self._grads[name] = np.zeros_like(self._params[name])
        if trainable:
            self._trainable_names.append(name)
        return self._params[name]

    def build(self, input_shape: tuple) -> None:
        self.built = True

    def _maybe_build(self, input_shape):
        if not self.built:
            self.input_shape = _batchless(input_shape)
            self.build(self.input_shape)

    def __call__(self, inputs: Any, training: bool = False, mask: Any = None, **kwargs: Any) -> Any:
        if _graph.is_symbolic(inputs) or _graph.is_symbolic(kwargs.get("initial_state")):
            return self._call_symbolic(inputs, mask, **kwargs)
        inputs = self._convert(inputs)
        self._maybe_build(_shapes(inputs))
        self.clear_losses()  # Keras: an outermost call starts its layers' losses afresh
        return self.call(inputs, training=training, mask=mask, **kwargs)

    # layers without parameters (merging, reshaping) compute in their inputs' float dtype
    _keeps_float_dtype = False

    def _convert(self, inputs):
        if isinstance(inputs, (list, tuple)):
            return [self._convert(x) for x in inputs]
        if type(inputs) is np.ndarray and (inputs.dtype == self.dtype or (
                self._keeps_float_dtype and inputs.dtype in (np.float32, np.float64))):
            return inputs
        return np.asarray(inputs, dtype=self.dtype)

    # ------------------------------------------------------------------ graphs (functional API)
    def _call_symbolic(self, inputs, mask=None, initial_state=None, **kwargs):
        """Record a call on KerasTensors: build from their shapes, infer the output shapes, and
        return the output KerasTensor(s) of a new ``_graph.Node``."""
        if kwargs:
            raise TypeError(f"{self.name}: unexpected keyword argument(s) {sorted(kwargs)}")
        tensors = _graph.flatten(inputs)
        for t in tensors + list(initial_state or []) + ([] if mask is None else [mask]):
            if not isinstance(t, _graph.KerasTensor):
                raise TypeError(f"{self.name}: a functional call takes KerasTensors (from keras.Input or "
                                f"a layer call), got {type(t).__name__}")
        if initial_state is not None:
            initial_state = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        shapes = _graph.pack_like(inputs, [t.shape for t in tensors])
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        try:
            if self.built and self.input_shape is not None:
                expected = _graph.flatten(self.input_shape) if isinstance(self.input_shape, list) else [self.input_shape]
                for i, (want, t) in enumerate(zip(expected, tensors)):
                    if not _graph.compatible(want, t.shape):
                        raise ValueError(f"input {i} is incompatible with the layer: expected shape {want}, "
                                         f"got {t.shape}")
            self._maybe_build(shapes)
            out_shapes = self._symbolic_output_shapes(shapes, initial_state)
        except ValueError as e:
            sources = "; ".join(_describe(t) for t in tensors)
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) cannot take {sources}: {e}") from None
        node = _graph.Node(self, inputs, initial_state, mask)
        self._inbound_nodes.append(node)
        floats = [t.dtype for t in tensors if t.dtype.kind == "f"]
        return node.add_outputs(out_shapes, floats[0] if self._keeps_float_dtype and floats else self.dtype)

    def _symbolic_output_shapes(self, shapes, initial_state=None):
        """The output shape(s) of a call on inputs of these shapes (a list for several outputs)."""
        if initial_state is not None:
            raise ValueError("initial_state is only taken by recurrent layers")
        return self.compute_output_shape(shapes)

    def _node(self, index):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name!r} has never been called on a KerasTensor (no input/output yet)")
        return self._inbound_nodes[index]

    @property
    def input(self) -> Any:
        """The input KerasTensor(s) of this layer's first functional call."""
        return self._node(0).inputs

    @property
    def output(self) -> Any:
        """The output KerasTensor(s) of this layer's first functional call."""
        node = self._node(0)
        return list(node.outputs) if node.multi else node.outputs[0]

    # the per-call state ``backward`` reads: saved per node when a layer runs in several nodes
    _call_state_attrs: tuple = ()

    def call_state(self) -> Any:
        """What ``backward`` needs of the last training call (this layer's and its sublayers')."""
        attrs = self._call_state_attrs + ("_activity_cache",)
        return ([getattr(self, a) for a in attrs], [l.call_state() for l in self._sublayers()])

    def set_call_state(self, state: Any) -> None:
        own, subs = state
        for a, v in zip(self._call_state_attrs + ("_activity_cache",), own):
            setattr(self, a, v)
        for layer, s in zip(self._sublayers(), subs):
            layer.set_call_state(s)

    # ------------------------------------------------------------------ computing
    def call(self, inputs: Any, training: bool = False, mask: Any = None) -> Any:
        return inputs

    def backward(self, grad: Any) -> Any:
        """dL/d(input) from dL/d(output); adds parameter gradients into ``_grads``."""
        return grad

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The mask of the output: the input's mask passes through layers that support masking."""
        return mask if self.supports_masking else None

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    # ------------------------------------------------------------------ weights
    def parameter(self, name: str) -> np.ndarray:
        """The live array of this layer's parameter ``name`` (its internal layout)."""
        return self._params[name]

    def gradient(self, name: str) -> np.ndarray:
        """The live gradient array of parameter ``name``."""
        return self._grads[name]

    def bind_parameter(self, name: str, weight: np.ndarray, grad: np.ndarray) -> None:
        """Keep parameter ``name`` and its gradient in ``weight`` and ``grad`` from now on (views
        into a model's flat buffers, see ``pyrnn._flat``); the current value is
        copied into ``weight``."""
        weight[...] = self._params[name]
        self._params[name], self._grads[name] = weight, grad

    def parameter_bindings(self) -> list[Binding]:
        """A ``Binding(owner, name)`` for every parameter the optimizer updates (none when not
        trainable), in the order of the model's flat parameter vector."""
        if not self.trainable:
            return []
        return [Binding(self, name) for name in self._trainable_names]

    def _variables(self):
        """(params, grads, name) of every parameter the optimizer updates: live arrays by name."""
        return [({b.name: b.weight}, {b.name: b.grad}, b.name) for b in self.parameter_bindings()]

    def _sublayers(self):
        return []

    def zero_grads(self) -> None:
        """Zero the gradients of this layer's parameters (and its sublayers')."""
        for g in self._grads.values():
            g.fill(0)
        for layer in self._sublayers():
            layer.zero_grads()

    @property
    def weights(self):
        return self.get_weights()

    def _keras_weight_names(self):
        return list(self._params)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, in Keras's order, shapes and layout."""
        return [self._params[n].copy() for n in self._keras_weight_names()]

    def _check_weights(self, weights, shapes):
        weights = list(weights)
        if len(weights) != len(shapes):
            raise ValueError(f"{self.name}: set_weights expected {len(shapes)} arrays, got {len(weights)}")
        out = []
        for i, (w, shape) in enumerate(zip(weights, shapes)):
            w = np.asarray(w, dtype=self.dtype)
            if w.shape != tuple(shape):
                raise ValueError(f"{self.name}: weight {i} expected shape {tuple(shape)}, got {w.shape}")
            out.append(w)
        return out

    def set_weights(self, weights: list) -> None:
        """Set the weights from a list in Keras's order (values are copied into the live arrays)."""
        names = self._keras_weight_names()
        for n, w in zip(names, self._check_weights(weights, [self._params[n].shape for n in names])):
            self._params[n][...] = w
        self._requantize()

    # ------------------------------------------------------------------ quantization
    _quantized: Any = None  # after quantize(): the pyrnn.quantized copy inference runs on

    def quantize(self, mode: str) -> None:
        """Keras 3's ``layer.quantize(mode)`` ("int8" or "bfloat16"), in place: inference runs on a
        quantized copy of the weights (``pyrnn.quantized``); get_weights still gives the float ones,
        set_weights quantizes again, training is an error. NotImplementedError for a layer that
        cannot be quantized."""
        quantized.quantize_layer(self, mode)

    def _quantized_copy(self, mode: str) -> Any:
        raise NotImplementedError(f"{self.name}: {type(self).__name__} layers cannot be quantized; it stays float32")

    def _requantize(self) -> None:
        if self._quantized is not None:  # new float weights: a new quantized copy
            self._quantized = self._quantized_copy(self._quantized.dtype)

    def weight_shapes(self):
        return [w.shape for w in self.get_weights()]

    def count_params(self) -> int:
        return int(sum(int(np.prod(s)) for s in self.weight_shapes()))

    @property
    def trainable_weights(self):
        return self.get_weights() if self.trainable else []

    @property
    def non_trainable_weights(self):
        return [] if self.trainable else self.get_weights()

    # ------------------------------------------------------------------ regularizers and constraints
    # Keras weight name -> (its regularizer argument, its constraint argument), in weight order
    _penalty_args: dict = {}

    def _init_penalties(self, options: dict) -> None:
        """Look up the regularizer/constraint arguments named in ``_penalty_args`` (ValueError
        for an unknown name); they act on the Keras-layout weights."""
        for weight, (reg_arg, con_arg) in self._penalty_args.items():
            reg, con = regularizers.get(options.get(reg_arg)), constraints.get(options.get(con_arg))
            if reg is not None:
                self._weight_regularizers[weight] = reg
            if con is not None:
                self._weight_constraints[weight] = con

    def _penalty_config(self) -> dict:
        config = {}
        for weight, (reg_arg, con_arg) in self._penalty_args.items():
            reg, con = self._weight_regularizers.get(weight), self._weight_constraints.get(weight)
            config[reg_arg] = None if reg is None else regularizers.serialize(reg)
            config[con_arg] = None if con is None else constraints.serialize(con)
        return config

    def _walk(self):
        """This layer and its sublayers, depth first."""
        yield self
        for layer in self._sublayers():
            yield from layer._walk()

    def clear_losses(self) -> None:
        """Forget the activity losses of earlier calls (this layer's and its sublayers')."""
        for layer in self._walk():
            layer._activity_losses = []

    def _record_activity(self, outputs, training):
        outs = [o for o in _flat_arrays(outputs) if isinstance(o, np.ndarray)]
        # Keras divides each output's penalty by its batch size
        self._activity_losses += [self.activity_regularizer(o) / (o.shape[0] if o.ndim and o.shape[0] else 1)
                                  for o in outs]
        self._activity_cache = outputs if training else None

    def _activity_gradient(self, grad):
        outputs, self._activity_cache = self._activity_cache, None
        many = isinstance(outputs, (list, tuple))
        grads = list(grad) if many else [grad]
        for i, o in enumerate(_flat_arrays(outputs)):
            g = self.activity_regularizer.gradient(o) / o.dtype.type(o.shape[0] if o.ndim and o.shape[0] else 1)
            grads[i] = g if grads[i] is None else grads[i] + g
        return grads if many else grads[0]

    def _named_weights(self):
        return list(zip(self._keras_weight_names(), self.get_weights()))

    def _weight_penalties(self) -> list[float]:
        regs = self._weight_regularizers
        if not regs or not self.trainable or not self.built:
            return []
        return [float(regs[n](w)) for n, w in self._named_weights() if n in regs]

    @property
    def losses(self) -> list[float]:
        """Keras's list: the activity losses of the calls since the last clear, then the weight
        regularization penalties (on the Keras-layout weights), this layer's and its sublayers'."""
        out = [float(v) for layer in self._walk() for v in layer._activity_losses]
        if self.trainable:
            out += [v for layer in self._walk() for v in layer._weight_penalties()]
        return out

    def _add_penalty_gradients(self) -> None:
        """Add the weight regularizers' gradients into this layer's parameter gradients."""
        regs = self._weight_regularizers
        if not regs or not self.trainable or not self.built:
            return
        named = self._named_weights()
        self._accumulate_keras_gradients([regs[n].gradient(w) if n in regs else None for n, w in named])

    def _accumulate_keras_gradients(self, grads: list) -> None:
        """Add gradients given in Keras's weight order and layout (None: none) into ``_grads``."""
        for n, g in zip(self._keras_weight_names(), grads):
            if g is not None:
                self._grads[n] += g

    def _apply_constraints(self) -> None:
        """Project the Keras-layout weights with their constraints (after an optimizer step)."""
        cons = self._weight_constraints
        if not cons or not self.trainable or not self.built:
            return
        self.set_weights([cons[n](w) if n in cons else w for n, w in self._named_weights()])

    # ------------------------------------------------------------------ export
    def export_description(self) -> Any:
        """What ONNX export needs to write this layer (a description from ``pyrnn._export``);
        NotImplementedError for a layer it cannot write."""
        raise not_exportable(self.name, type(self).__name__)

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        quantized.check_not_quantized(self, "get_config")
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self.seed is not None:
            config["seed"] = self.seed
        if self._input_shape_arg is not None:
            config["input_shape"] = list(self._input_shape_arg)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return {**config, **self._penalty_config()}

    @classmethod
    def from_config(cls, config: dict) -> Any:
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
