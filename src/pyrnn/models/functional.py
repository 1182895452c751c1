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

from typing import Any, Dict, List, Optional

import numpy as np

from .. import _graph
from ..layers import InputLayer, Layer, deserialize, serialize
from . import _saving
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


class Model(Training, Saving):
    """A model from its input and output KerasTensors (each one, a list or a dict)."""

    _keras_class = "Functional"  # Keras's class name, in .keras configs

    def __init__(self, inputs: Any = None, outputs: Any = None, name: Optional[str] = None, trainable: bool = True,
                 seed: Optional[int] = None) -> None:
        if inputs is None or outputs is None:
            raise TypeError("Model(inputs, outputs): give the Input tensor(s) and the output tensor(s) of the layer "
                            "calls (subclassing Model is not supported by pyrnn)")
        self.name = name or "functional"
        self.seed = seed
        self.trainable = bool(trainable)
        self._inputs_struct = inputs
        self._outputs_struct = outputs
        self.inputs: List[_graph.KerasTensor] = _graph.flatten(inputs)
        self.outputs: List[_graph.KerasTensor] = _graph.flatten(outputs)
        for what, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            for t in tensors:
                if not isinstance(t, _graph.KerasTensor):
                    raise TypeError(f"Model: {what} must be KerasTensors (from keras.Input and layer calls), "
                                    f"got {type(t).__name__}")
        for t in self.inputs:
            if not isinstance(t.layer, InputLayer):
                raise ValueError(f"Model: inputs must come from keras.Input; {t.describe()} is not an Input")
        self._input_ids = {id(t): i for i, t in enumerate(self.inputs)}
        self._nodes = self._topological_nodes()
        layers: List[Layer] = [t.layer for t in self.inputs]
        for node in self._nodes:
            if node.layer not in layers:
                layers.append(node.layer)
        names = [l.name for l in layers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"Model: layer names must be unique, {dupes} appear more than once")
        self._layers = layers
        counts: Dict[int, int] = {}
        for node in self._nodes:
            counts[id(node.layer)] = counts.get(id(node.layer), 0) + 1
        self._shared = {lid for lid, k in counts.items() if k > 1}
        self._input_names = [t.layer.name for t in self.inputs] if not isinstance(inputs, dict) else list(inputs)
        self._output_names = (list(outputs) if isinstance(outputs, dict)
                              else _unique([t.layer.name for t in self.outputs]))
        self.optimizer: Any = None
        self.loss: Any = None
        self._losses: list = []
        self._metrics: list = []
        self.compiled = False
        self.stop_training = False
        self.history: Any = None
        self._flat: Any = None
        self._needs: Dict[int, bool] = {}
        self._contexts: Dict[int, Any] = {}

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

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Layer:
        """The layer called ``name`` (or at position ``index`` of ``layers``)."""
        if index is not None:
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}; the layers are {[l.name for l in self._layers]}")

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
        needs: Dict[int, bool] = {}
        for node in self._nodes:
            own = bool(node.layer.parameter_bindings()) and self.trainable
            needs[id(node)] = own or any(needs.get(id(t.node), False) for t in node.input_tensors
                                         if id(t) not in self._input_ids)
        self._needs = needs

    def _run(self, xs: List[np.ndarray], training: bool) -> Dict[int, Any]:
        values: Dict[int, Any] = {}
        masks: Dict[int, Any] = {}
        for t, x in zip(self.inputs, xs):
            values[id(t)], masks[id(t)] = x, None
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
            out = layer.call(x, training=training, mask=mask, **kwargs)
            out_mask = layer.compute_mask(x, mask)
            outs = out if node.multi else [out]
            out_masks = out_mask if node.multi and isinstance(out_mask, list) else [out_mask] + [None] * (len(outs) - 1)
            for t, v, m in zip(node.outputs, outs, out_masks):
                values[id(t)], masks[id(t)] = v, m
            if training and id(layer) in self._shared:
                contexts[id(node)] = layer.call_state()
        self._contexts = contexts
        return values

    def _forward_batch(self, xs: List[np.ndarray], training: bool) -> list:
        values = self._run(xs, training)
        return [values[id(t)] for t in self.outputs]

    def _backward_batch(self, grads: list) -> None:
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
                if g is not None and id(t) not in self._input_ids and self._needs.get(id(t.node)):
                    add(t, g)

    def __call__(self, x: Any, training: bool = False) -> Any:
        if _graph.is_symbolic(x):
            raise NotImplementedError("calling a functional Model on KerasTensors (a model as a layer) is not "
                                      "supported by pyrnn yet; call its layers instead")
        self._begin_pass()
        return self._format_outputs(self._forward_batch(self._convert_inputs(x), training))

    # ------------------------------------------------------------------ summary
    def summary(self, line_length: Optional[int] = None, print_fn: Any = None) -> None:
        """Print the layers, output shapes, parameter counts and what each is connected to."""
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

    def export_description(self) -> Any:
        raise NotImplementedError("ONNX export of functional models is not supported by pyrnn yet "
                                  "(Sequential models export)")


def load_model(filepath: Any, compile: bool = True) -> Any:
    """Rebuild a model saved with ``model.save`` (a functional Model or a Sequential): layers,
    weights and, compiled, the optimizer state."""
    return _saving.load_model({"Sequential": Sequential, "Functional": Model}, filepath, compile)
