"""The functional ``Model(inputs, outputs)``: a graph of layer calls on KerasTensors.

The constructor walks the recorded ``_graph.Node``s back from the outputs to the inputs (an
output that needs an ``Input`` which is not among the inputs is a ValueError naming both), and
keeps them in topological order. ``_forward_batch`` runs the nodes in that order, carrying
masks along (``layer.compute_mask``); ``_backward_batch`` runs them in reverse, summing the
gradients of a tensor that feeds several nodes and skipping nodes with nothing trainable
upstream. A layer called in several nodes shares its weights; what its ``backward`` needs of
each call is saved per node (``Layer.call_state``). Training, evaluation and prediction are the
loop ``Sequential`` uses (``_training.Training``).

Example::

    >>> enc_in = Input((None, 8)); dec_in = Input((None, 8))
    >>> _, h, c = LSTM(16, return_state=True)(enc_in)
    >>> dec = LSTM(16, return_sequences=True)(dec_in, initial_state=[h, c])
    >>> model = Model([enc_in, dec_in], Dense(8, activation="softmax")(dec))
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, List, Optional

import numpy as np

from .. import _export, _graph
from ..layers import Input, InputLayer, Layer, deserialize, serialize
from ..layers.base import _snake, register
from . import _saving
from ._nested import AsLayer
from ._saving import Saving
from ._summary import functional_summary_text
from ._training import Training
from .sequential import Sequential


def _unique(names: List[str]) -> List[str]:
    seen: Dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n}_{k}")
    return out


def _input_dtype(x: Any) -> np.dtype:
    """The Input dtype a subclassed model traces for array ``x``: integers stay (ids for an
    Embedding), float64 stays, anything else is float32."""
    dtype = np.asarray(x).dtype if not hasattr(x, "dtype") else np.dtype(str(x.dtype).replace("torch.", ""))
    return dtype if dtype.kind in "iu" or dtype == np.float64 else np.dtype(np.float32)


def _leaves(layer: Any) -> list:
    return layer._leaf_layers() if isinstance(layer, AsLayer) else [layer]


@register
class Model(AsLayer, Training, Saving):
    """A model from its input and output KerasTensors (each one, a list or a dict). A model is
    also a layer: ``model(tensors)`` inside another functional model, or in a ``Sequential``."""

    _keras_class = "Functional"  # Keras's class name, in .keras configs

    def __init__(self, inputs: Any = None, outputs: Any = None, name: Optional[str] = None, trainable: bool = True,
                 seed: Optional[int] = None) -> None:
        subclassed = type(self).call is not Model.call
        if (inputs is None or outputs is None) and not subclassed:
            raise TypeError("Model(inputs, outputs): give the Input tensor(s) and the output tensor(s) of the layer "
                            "calls, or subclass Model and define call(self, inputs, training=None)")
        self.__dict__["_subclassed"] = subclassed and inputs is None
        self.__dict__["_tracked"] = []
        self.name = name or ("functional" if not self._subclassed else _snake(type(self).__name__))
        self.seed = seed
        self.trainable = bool(trainable)
        self.optimizer: Any = None
        self.loss: Any = None
        self._losses: list = []
        self._metrics: list = []
        self._weighted_metrics: list = []
        self.compiled = False
        self.stop_training = False
        self.history: Any = None
        self._flat: Any = None
        self._needs: Dict[int, bool] = {}
        self._contexts: Dict[int, Any] = {}
        self._as_layer = False  # running inside another model: backward returns the inputs' gradients
        self._pending_compile: Optional[dict] = None
        if self._subclassed:  # the graph comes from tracing call() on the first inputs
            self._traced = False
            self.inputs: List[_graph.KerasTensor] = []
            self.outputs: List[_graph.KerasTensor] = []
            self._nodes: list = []
            self._layers: List[Any] = self._tracked  # grows as __init__ assigns layers
        else:
            self._traced = True
            self._init_graph(inputs, outputs)

    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self.inputs = _graph.flatten(inputs)
        self.outputs = _graph.flatten(outputs)
        for what, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            for t in tensors:
                if not isinstance(t, _graph.KerasTensor):
                    where = f"{type(self).__name__}.call returned" if self._subclassed else f"Model: {what} are"
                    raise TypeError(f"{where} a {type(t).__name__}: {what} must be KerasTensors (from keras.Input "
                                    "and layer calls)")
        for t in self.inputs:
            if not isinstance(t.layer, InputLayer):
                raise ValueError(f"Model: inputs must come from keras.Input; {t.describe()} is not an Input")
        self._input_ids = {id(t): i for i, t in enumerate(self.inputs)}
        self._nodes = self._topological_nodes()
        # a subclassed model's layers: in the order its __init__ assigned them (Keras's weight
        # order), then any other layer its call used; a functional model's: the graph's order
        layers: List[Any] = list(self._tracked) if self._subclassed else [t.layer for t in self.inputs]
        for node in self._nodes:
            if not any(node.layer is l for l in layers):
                layers.append(node.layer)
        names = [l.name for l in layers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"Model: layer names must be unique, {dupes} appear more than once")
        self._layers = layers
        # a node whose layer (or a layer inside it, for a nested model) runs in several nodes
        # saves what backward needs of its call
        counts: Dict[int, int] = {}
        for node in self._nodes:
            for lid in {id(l) for l in _leaves(node.layer)}:
                counts[lid] = counts.get(lid, 0) + 1
        self._saved = {id(node) for node in self._nodes if any(counts[id(l)] > 1 for l in _leaves(node.layer))}
        self._input_names = [t.layer.name for t in self.inputs] if not isinstance(inputs, dict) else list(inputs)
        self._output_names = (list(outputs) if isinstance(outputs, dict)
                              else _unique([t.layer.name for t in self.outputs]))

    # ------------------------------------------------------------------ subclassed models
    def __setattr__(self, name: str, value: Any) -> None:
        # a subclass's layers are tracked in assignment order (its weights' order, as in Keras)
        if isinstance(value, (Layer, AsLayer)) or (isinstance(value, (list, tuple)) and value
                                                   and all(isinstance(v, (Layer, AsLayer)) for v in value)):
            if "_tracked" not in self.__dict__:
                raise TypeError(f"{type(self).__name__}: call super().__init__() at the start of __init__, before "
                                f"assigning layers (got self.{name} = {type(value).__name__})")
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if not any(v is t for t in self._tracked):
                    self._tracked.append(v)
        object.__setattr__(self, name, value)

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        """A subclass defines the forward pass here, composing pyrnn layers; pyrnn traces it once
        on symbolic inputs into the same graph a functional model records."""
        return self._layer_call(inputs, training, mask)

    def _trace(self, x: Any) -> None:
        """Run the subclass's ``call`` on Input tensors shaped like ``x`` (arrays or KerasTensors,
        one, a list or a dict), and keep the recorded graph. ``training`` is a placeholder: the
        layers given it follow fit/predict's mode; branching on it is an error."""
        leaves = _graph.flatten(x)
        for v in leaves:
            if not isinstance(v, _graph.KerasTensor) and np.ndim(v) < 1:
                raise TypeError(f"{type(self).__name__}: inputs must be arrays with a batch axis (one, a list or a "
                                f"dict), got {type(v).__name__} {v!r}")
        keys = list(x) if isinstance(x, dict) else [None] * len(leaves)
        dtypes = [v.dtype if isinstance(v, _graph.KerasTensor) else _input_dtype(v) for v in leaves]
        shapes = [tuple(v.shape[1:]) if isinstance(v, _graph.KerasTensor) else np.shape(v)[1:] for v in leaves]

        def trace(any_length):
            tensors = []
            for key, shape, dtype in zip(keys, shapes, dtypes):
                # the time axis (axis 1 of a float sequence or of integer ids) traced as any length,
                # so the model takes other lengths (as Keras's does) unless a layer needs it known
                seq = any_length and len(shape) >= (1 if dtype.kind in "iu" else 2)
                tensors.append(Input(shape=((None,) + shape[1:]) if seq else shape, dtype=dtype, name=key))
            inputs = _graph.pack_like(x, tensors) if isinstance(x, (list, tuple, dict)) else tensors[0]
            return inputs, type(self).call(self, inputs, training=_graph.TRACING)

        any_length = self.__dict__.get("_any_length", True)
        try:
            inputs, outputs = trace(any_length)
        except (ValueError, TypeError):  # e.g. Flatten before Dense: this model needs the exact shapes
            if not any_length:
                raise
            # (an error of the call itself comes again, from the exact shapes)
            any_length = False
            inputs, outputs = trace(any_length)
        self._any_length = any_length  # a model that needed exact shapes keeps needing them
        self._init_graph(inputs, outputs)
        self._traced = True
        self._flat = None
        if self._pending_compile is not None:  # compile needed the outputs
            pending, self._pending_compile = self._pending_compile, None
            Training.compile(self, **pending)

    def _ensure_traced(self, x: Any) -> None:
        if not self._subclassed:
            return
        leaves = _graph.flatten(x)
        shapes = [tuple(v.shape) if isinstance(v, _graph.KerasTensor) else np.shape(v) for v in leaves]
        if not self._traced or len(shapes) != len(self.inputs) or not all(
                _graph.compatible(t.shape, s) for t, s in zip(self.inputs, shapes)):
            self._trace(x)  # new input shapes: trace again (same layers, same weights)

    def build(self, input_shape: Any) -> None:
        """Trace a subclassed model's ``call`` on inputs of this shape (batch first; a list for
        several inputs), so its weights exist before ``load_weights`` or ``summary``."""
        many = isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (list, tuple))
        shapes = input_shape if many else [input_shape]
        tensors = [_graph.KerasTensor((None,) + tuple(s[1:]), np.float32) for s in shapes]
        self._trace(tensors if many else tensors[0])

    def compile(self, *args: Any, **kwargs: Any) -> None:
        if self._subclassed and not self._traced:  # the outputs are known once call is traced
            self._pending_compile = dict(inspect.signature(Training.compile).bind(self, *args, **kwargs).arguments)
            del self._pending_compile["self"]
            self.compiled = True
            return
        Training.compile(self, *args, **kwargs)

    @property
    def _untraced(self) -> bool:
        return self._subclassed and not self._traced

    # ------------------------------------------------------------------ the graph
    def _topological_nodes(self) -> list:
        order: list = []
        done: set = set()

        def visit(node, output):
            if id(node) in done:
                return
            for t in node.parents:
                if id(t) in self._input_ids:
                    continue
                if t.node is None or isinstance(t.layer, InputLayer):
                    raise ValueError(f"Model: output {output.name!r} is not connected to the inputs "
                                     f"{[i.name for i in self.inputs]}: it needs the Input {t.name!r}, which is "
                                     "not among them")
                visit(t.node, output)
            done.add(id(node))
            order.append(node)

        for out in self.outputs:
            if id(out) in self._input_ids:
                continue
            if out.node is None or isinstance(out.layer, InputLayer):
                raise ValueError(f"Model: output {out.name!r} is an Input that is not among the model's inputs")
            visit(out.node, out)
        return order

    @property
    def layers(self) -> List[Layer]:
        return list(self._layers)

    @property
    def input(self) -> Any:
        return self._inputs_struct

    @property
    def output(self) -> Any:
        return self._outputs_struct

    @property
    def built(self) -> bool:
        return True

    @property
    def input_shape(self) -> Any:
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def reset_states(self) -> None:
        for layer in self._layers:
            if hasattr(layer, "reset_states"):
                layer.reset_states()

    # ------------------------------------------------------------------ what the training loop asks
    def _convert_inputs(self, x: Any) -> List[np.ndarray]:
        self._ensure_traced(x)
        xs = self._structure(x, self._input_names, "x")
        out = []
        for t, v in zip(self.inputs, xs):
            v = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
            if v.dtype != t.dtype:
                v = v.astype(t.dtype)
            if not _graph.compatible(t.shape, v.shape):
                raise ValueError(f"Input {t.name!r} expects shape {t.shape}, got an array of shape {v.shape}")
            out.append(v)
        return out

    def _output_shapes(self) -> list:
        return [t.shape for t in self.outputs]

    def _output_dtypes(self) -> list:
        return [t.dtype if t.dtype.kind == "f" else np.float32 for t in self.outputs]

    def _format_outputs(self, arrays: list) -> Any:
        if isinstance(self._outputs_struct, dict):
            return dict(zip(self._outputs_struct, arrays))
        if isinstance(self._outputs_struct, (list, tuple)):
            return list(arrays)
        return arrays[0]

    def _begin_pass(self) -> None:
        """Which nodes backward must run: those with a trainable parameter at or before them."""
        self._as_layer = False
        needs: Dict[int, bool] = {}
        for node in self._nodes:
            own = bool(node.layer.parameter_bindings()) and self.trainable
            needs[id(node)] = own or any(needs.get(id(t.node), False) for t in node.input_tensors
                                         if id(t) not in self._input_ids)
        self._needs = needs

    def _run(self, xs: List[np.ndarray], training: bool, in_masks: Optional[list] = None) -> tuple:
        """(values, masks) of every tensor, by id."""
        values: Dict[int, Any] = {}
        masks: Dict[int, Any] = {}
        for t, x, m in zip(self.inputs, xs, in_masks or [None] * len(xs)):
            values[id(t)], masks[id(t)] = x, m
        contexts = {}
        for node in self._nodes:
            layer = node.layer
            tensors = _graph.flatten(node.inputs)
            x = _graph.pack_like(node.inputs, [values[id(t)] for t in tensors])
            mask: Any
            if node.mask is not None:
                mask = np.asarray(values[id(node.mask)], dtype=bool)
            else:
                ms = [masks[id(t)] for t in tensors]
                mask = None if all(m is None for m in ms) else _graph.pack_like(node.inputs, ms)
            kwargs = {} if node.initial_state is None else {
                "initial_state": [values[id(t)] for t in node.initial_state]}
            x = layer._convert(x)
            run = layer._layer_call if isinstance(layer, AsLayer) else layer.call  # a subclass's call is traced
            out = run(x, training=training, mask=mask, **kwargs)
            out_mask = layer.compute_mask(x, mask)
            outs = out if node.multi else [out]
            out_masks = out_mask if node.multi and isinstance(out_mask, list) else [out_mask] + [None] * (len(outs) - 1)
            for t, v, m in zip(node.outputs, outs, out_masks):
                values[id(t)], masks[id(t)] = v, m
            if training and id(node) in self._saved:
                contexts[id(node)] = layer.call_state()
        self._contexts = contexts
        return values, masks

    def _forward_batch(self, xs: List[np.ndarray], training: bool) -> list:
        values, _ = self._run(xs, training)
        return [values[id(t)] for t in self.outputs]

    def _backward_batch(self, grads: list) -> list:
        """Backward through the graph; returns the inputs' gradients when running as a layer."""
        acc: Dict[int, Any] = {}

        def add(t, g):
            acc[id(t)] = g if id(t) not in acc else acc[id(t)] + g

        for t, g in zip(self.outputs, grads):
            if g is not None:
                add(t, g)
        for node in reversed(self._nodes):
            if not self._needs.get(id(node)):
                continue
            gs = [acc.pop(id(t), None) for t in node.outputs]
            if all(g is None for g in gs):
                continue
            layer = node.layer
            if id(node) in self._contexts:
                layer.set_call_state(self._contexts[id(node)])
            grad_in = layer.backward(gs if node.multi else gs[0])
            flat = grad_in if isinstance(grad_in, list) else [grad_in]
            for t, g in zip(node.input_tensors, flat):
                if g is None:
                    continue
                if (self._as_layer and id(t) in self._input_ids) or (
                        id(t) not in self._input_ids and self._needs.get(id(t.node))):
                    add(t, g)
        return [acc.get(id(t)) for t in self.inputs]

    # ------------------------------------------------------------------ as a layer of another model
    def _layer_input_shapes(self, given: Any = None) -> list:
        return [t.shape for t in self.inputs]

    def _layer_output_shapes(self) -> list:
        return [t.shape for t in self.outputs]

    def _layer_forward(self, xs: list, training: bool, masks: Optional[list]) -> tuple:
        # the layers before this model may train: backward runs every node, down to the inputs
        self._as_layer = True
        self._needs = {id(node): True for node in self._nodes}
        values, out_masks = self._run(xs, training, masks)
        return [values[id(t)] for t in self.outputs], [out_masks[id(t)] for t in self.outputs]

    def _layer_backward(self, grads: list) -> list:
        return self._backward_batch(grads)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = [(None,) + tuple(s[1:]) for s in self._layer_output_shapes()]
        return shapes if self._multi_output else shapes[0]

    @property
    def dtype(self) -> np.dtype:
        return self.inputs[0].dtype

    def call_state(self) -> Any:
        """What backward needs of the last call: each node's layer state."""
        return {id(n): self._contexts[id(n)] if id(n) in self._contexts else n.layer.call_state()
                for n in self._nodes}

    def set_call_state(self, state: Any) -> None:
        self._contexts = dict(state)

    def __call__(self, x: Any, training: bool = False, mask: Any = None) -> Any:
        if _graph.is_symbolic(x):
            self._ensure_traced(x)
            if isinstance(self._outputs_struct, dict):
                raise NotImplementedError(f"model {self.name!r} has a dict of outputs; calling it as a layer "
                                          "needs a single output or a list")
            return self._call_symbolic(x, mask)
        self._begin_pass()
        return self._format_outputs(self._forward_pass(self._convert_inputs(x), training))

    # ------------------------------------------------------------------ summary
    def summary(self, line_length: Optional[int] = None, print_fn: Any = None) -> None:
        """Print the layers, output shapes, parameter counts and what each is connected to."""
        if self._untraced:
            raise ValueError(f"{type(self).__name__} is not built yet: call it on data or model.build(input_shape) "
                             "before summary()")
        (print_fn or print)(functional_summary_text(self))

    def node_refs(self) -> Dict[int, str]:
        """Each tensor of the graph as Keras's summary names it: layer[node][output]."""
        refs: Dict[int, str] = {}
        per_layer: Dict[int, int] = {}
        for t in self.inputs:
            refs[id(t)] = f"{t.layer.name}[0][0]"
        for node in self._nodes:
            k = per_layer.get(id(node.layer), 0)
            per_layer[id(node.layer)] = k + 1
            for t in node.outputs:
                refs[id(t)] = f"{node.layer.name}[{k}][{t.index}]"
        return refs

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        if self._subclassed:
            raise NotImplementedError(f"{type(self).__name__} is a subclassed model: define get_config (and "
                                      "from_config) to save its architecture, or use save_weights/load_weights")
        where: Dict[int, list] = {id(t): [-1 - i, 0] for i, t in enumerate(self.inputs)}
        nodes = []
        for k, node in enumerate(self._nodes):
            for t in node.outputs:
                where[id(t)] = [k, t.index]
            ref = lambda ts: None if ts is None else [where[id(t)] for t in ts]
            nodes.append({"layer": node.layer.name,
                          "inputs": _graph.pack_like(node.inputs, [where[id(t)] for t in _graph.flatten(node.inputs)])
                          if isinstance(node.inputs, list) else where[id(node.inputs)],
                          "list_inputs": isinstance(node.inputs, list),
                          "initial_state": ref(node.initial_state),
                          "mask": None if node.mask is None else where[id(node.mask)]})
        outs = self._outputs_struct
        kind = "dict" if isinstance(outs, dict) else "list" if isinstance(outs, (list, tuple)) else "single"
        in_kind = ("dict" if isinstance(self._inputs_struct, dict) else
                   "list" if isinstance(self._inputs_struct, (list, tuple)) else "single")
        return {"name": self.name, "seed": self.seed, "layers": [serialize(l) for l in self._layers],
                "inputs": [t.layer.name for t in self.inputs], "input_kind": in_kind,
                "input_keys": list(self._inputs_struct) if in_kind == "dict" else None,
                "nodes": nodes, "outputs": [where[id(t)] for t in self.outputs], "output_kind": kind,
                "output_keys": list(outs) if kind == "dict" else None}

    @classmethod
    def from_config(cls, config: dict) -> Model:
        layers = {c["config"]["name"]: deserialize(c) for c in config["layers"]}
        inputs = [layers[name].tensor for name in config["inputs"]]
        made: List[list] = []

        def tensor(ref):
            k, i = ref
            return inputs[-1 - k] if k < 0 else made[k][i]

        for spec in config["nodes"]:
            x = [tensor(r) for r in spec["inputs"]] if spec["list_inputs"] else tensor(spec["inputs"])
            kwargs: Dict[str, Any] = {}
            if spec["initial_state"] is not None:
                kwargs["initial_state"] = [tensor(r) for r in spec["initial_state"]]
            if spec["mask"] is not None:
                kwargs["mask"] = tensor(spec["mask"])
            out = layers[spec["layer"]](x, **kwargs)
            made.append(out if isinstance(out, list) else [out])
        outs = [tensor(r) for r in config["outputs"]]

        def shape(kind, keys, tensors):
            if kind == "dict":
                return dict(zip(keys, tensors))
            return tensors if kind == "list" else tensors[0]

        return cls(shape(config["input_kind"], config.get("input_keys"), inputs),
                   shape(config["output_kind"], config.get("output_keys"), outs), name=config["name"],
                   seed=config.get("seed"))

    def export_description(self) -> Any:  # a GraphExport
        """What ONNX export needs: a ``pyrnn._export.GraphExport`` of the nodes' descriptions."""
        if self._untraced:
            raise ValueError(f"ONNX export: {type(self).__name__} is not traced yet; call it on data or build it first")
        ids: Dict[int, int] = {}
        tid = lambda t: ids.setdefault(id(t), len(ids))
        dtypes = {l.dtype for l in self._layers if not isinstance(l, InputLayer) and l.dtype.kind == "f"}
        if len(dtypes) > 1:
            raise TypeError(f"ONNX export: all layers must have one dtype, got {sorted(map(str, dtypes))}")
        inputs = tuple((tid(t), name, t.shape, t.dtype) for t, name in zip(self.inputs, self._input_names))
        nodes = []
        for node in self._nodes:
            if isinstance(node.layer, AsLayer):
                raise NotImplementedError(f"ONNX export: layer {node.layer.name!r} is a nested model, which is not "
                                          "supported; build the model from its layers")
            nodes.append(_export.NodeExport(node.layer.export_description(),
                                            tuple(tid(t) for t in _graph.flatten(node.inputs)),
                                            tuple(tid(t) for t in node.initial_state or []),
                                            None if node.mask is None else tid(node.mask),
                                            tuple(tid(t) for t in node.outputs)))
        outputs = tuple((tid(t), name, t.shape) for t, name in zip(self.outputs, self._output_names))
        return _export.GraphExport(self.name, inputs, tuple(nodes), outputs, dtypes.pop() if dtypes else
                                   np.dtype(np.float32))


def load_model(filepath: Any, compile: bool = True) -> Any:
    """Rebuild a model saved with ``model.save`` (a functional Model or a Sequential): layers,
    weights and, compiled, the optimizer state."""
    return _saving.load_model({"Sequential": Sequential, "Functional": Model}, filepath, compile)
