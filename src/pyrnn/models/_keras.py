"""Keras 3's formats, both ways: model configs (``config.json`` of a ``.keras`` file, or a live
model's ``get_config()``) and the HDF5 layout of weights (``model.weights.h5``, ``.weights.h5``).
``from_keras(keras_model)``, ``load_model`` and ``model.save`` all go through here.

Layers are rebuilt from each Keras layer's ``get_config()`` and get the Keras weights with
``set_weights`` (pyrnn's weights follow Keras's order, shapes and gate order), so the model
predicts the same numbers and can be trained further in pyrnn. Keras is not imported here:
a Keras model is read through its own methods, a weights file through h5py.

Example::

    >>> import os; os.environ["KERAS_BACKEND"] = "torch"       # or jax / tensorflow
    >>> import keras
    >>> kmodel = keras.Sequential([keras.Input((20, 3)), keras.layers.LSTM(16), keras.layers.Dense(1)])
    >>> model = pyrnn.models.from_keras(kmodel)                 # same layers, same weights
    >>> kmodel.save_weights("trained.weights.h5")
    >>> model.load_weights("trained.weights.h5")               # Keras's file, read by h5py
"""

from __future__ import annotations

import inspect
import re
from typing import Any, Dict, List

import numpy as np

from .. import _graph
from .. import initializers as initializers_module
from .. import losses as losses_module
from .. import optimizers as optimizers_module
from ..layers import (
    GRU,
    LSTM,
    RNN,
    Bidirectional,
    InputLayer,
    SimpleRNN,
    StackedRNNCells,
    TimeDistributed,
    deserialize,
    layer_classes,
    serialize,
)
from ._io import H5Group


def _keras_snake_case(name):
    """Keras's object names: "SimpleRNN" -> "simple_rnn", "TimeDistributed" -> "time_distributed"."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _accepted_arguments(cls):
    """The keyword arguments ``cls`` accepts, through the constructors it passes **kwargs to."""
    names = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            names |= {p.name for p in inspect.signature(klass.__init__).parameters.values()
                      if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names - {"self"}


# Keras options that do nothing unless another option is set (BatchNormalization's renorm)
_INERT_UNLESS = {"renorm_momentum": "renorm", "renorm_clipping": "renorm"}


def layer_from_keras_config(class_name, config):
    """A pyrnn layer equal to the Keras layer of ``class_name`` with ``config`` (its get_config()).

    Initializers are kept where pyrnn has the class (the weights are copied afterwards, but the
    config must survive a round trip), else left to pyrnn's defaults; Keras-only options at their
    neutral value (None, False, 0) are dropped; any other option pyrnn does not have is a
    ValueError naming it.
    """
    classes = layer_classes()
    cls = classes.get(class_name)
    not_layers = {"Layer", "InputLayer", "Model", "Sequential"}  # models deserialize as layers, not from Keras
    if cls is None or class_name in not_layers:
        supported = sorted(set(classes) - not_layers)
        raise ValueError(f"Keras layer class {class_name!r} ({config.get('name')}) is not supported by pyrnn; "
                         f"supported: {', '.join(supported)}")
    accepted = _accepted_arguments(cls)
    kwargs = {}
    if class_name == "RNN" and isinstance(config.get("cell"), dict):  # Keras's one cell or StackedRNNCells
        config = {**config, "cell": _cell_from_keras(config["cell"])}
    for key, value in config.items():
        if key.endswith("_initializer"):
            if key in accepted and _known_initializer(value):
                kwargs[key] = value
            continue
        if key in ("build_config", "registered_name"):
            continue
        if key == "dtype" and isinstance(value, dict):  # a DTypePolicy
            value = value.get("config", {}).get("name", "float32")
        if key in ("layer", "backward_layer") and isinstance(value, dict):  # a wrapped layer's config
            value = layer_from_keras_config(value["class_name"], value["config"])
        if key not in accepted:
            if value in (None, False, 0) or key in _INERT_UNLESS and not config.get(_INERT_UNLESS[key]):
                continue
            raise ValueError(f"Keras layer {config.get('name')!r} ({class_name}): option {key}={value!r} has no "
                             "equivalent in pyrnn")
        kwargs[key] = value
    return cls(**kwargs)



def _known_initializer(config):
    try:
        initializers_module.get(config)
    except (ValueError, TypeError, KeyError):
        return False
    return True


def _cell_from_keras(serialized):
    cfg = {k: v for k, v in serialized["config"].items() if not k.endswith("_initializer")
           and k not in ("name", "trainable", "dtype", "seed") or k == "seed" and v is not None}
    if serialized["class_name"] == "StackedRNNCells":
        return StackedRNNCells([_cell_from_keras(c) for c in cfg["cells"]])
    return deserialize({"class_name": serialized["class_name"], "config": cfg})


# ------------------------------------------------------------------------------- pyrnn -> Keras configs
def _keras_object(serialized):
    """pyrnn's {"class_name", "config"} of a layer or cell as Keras serializes it (nested ones too)."""
    config = dict(serialized["config"])
    for key in ("layer", "backward_layer"):
        if isinstance(config.get(key), dict):
            config[key] = _keras_object(config[key])
    if serialized["class_name"] == "RNN":
        cells = [_keras_object(c) for c in config["cell"]]
        config["cell"] = cells[0] if len(cells) == 1 else {
            "module": "keras.layers", "class_name": "StackedRNNCells", "config": {"cells": cells},
            "registered_name": None}
    return {"module": "keras.layers", "class_name": serialized["class_name"], "config": config,
            "registered_name": None}


def _input_config(layer):
    return {"module": "keras.layers", "class_name": "InputLayer",
            "config": {"batch_shape": list(layer.input_shape), "dtype": layer.dtype.name, "sparse": False,
                       "name": layer.name}, "registered_name": None}


def _history(where, t):
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(t.shape), "dtype": t.dtype.name, "keras_history": where[id(t)]}}


def _functional_config(model):
    order = keras_layer_order(model)
    where: Dict[int, list] = {}
    inbound: Dict[int, list] = {id(l): [] for l in order}
    for t in model.inputs:
        where[id(t)] = [t.layer.name, 0, 0]
    for node in _keras_nodes(model):  # inputs before the nodes that read them
        calls = inbound[id(node.layer)]
        args = [_history(where, t) for t in node.inputs] if isinstance(node.inputs, list) \
            else _history(where, node.inputs)
        kwargs: Dict[str, Any] = {}
        if node.initial_state is not None:
            kwargs["initial_state"] = [_history(where, t) for t in node.initial_state]
        if node.mask is not None:
            kwargs["mask"] = _history(where, node.mask)
        for t in node.outputs:
            where[id(t)] = [node.layer.name, len(calls), t.index]
        calls.append({"args": [args], "kwargs": kwargs})
    layers = []
    for layer in order:
        entry = _input_config(layer) if isinstance(layer, InputLayer) else _keras_object(serialize(layer))
        layers.append({**entry, "name": layer.name, "inbound_nodes": inbound[id(layer)]})

    def refs(struct, tensors):
        if isinstance(struct, dict):
            return {k: where[id(t)] for k, t in zip(struct, tensors)}
        return [where[id(t)] for t in tensors] if isinstance(struct, (list, tuple)) else where[id(tensors[0])]

    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": refs(model._inputs_struct, model.inputs),
            "output_layers": refs(model._outputs_struct, model.outputs)}


def _compile_config(model):
    losses = [None if l is None else losses_module.serialize(l) for l in model._losses]
    metrics = [m.serializable() for m in model._metrics]
    one = len(losses) == 1
    return {"optimizer": optimizers_module.serialize(model.optimizer), "loss": losses[0] if one else losses,
            "loss_weights": model._loss_weights, "metrics": metrics[0] if one else metrics,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def model_config(model):
    """The model as Keras's ``config.json`` (``keras.saving.serialize_keras_object(model)``)."""
    if model._keras_class == "Sequential":
        layers = [_input_config(model._layers[0])] if model.built and isinstance(model._layers[0], InputLayer) \
            else []
        config = {"name": model.name, "trainable": model.trainable, "dtype": "float32",
                  "layers": layers + [_keras_object(serialize(l)) for l in model.layers]}
        if model.built and not layers:  # built by a call on data: Keras keeps the shape here
            config["build_input_shape"] = list(model.input_shape)
        module = "keras"
    else:
        config, module = _functional_config(model), "keras.src.models.functional"
    out = {"module": module, "class_name": model._keras_class, "config": config, "registered_name": None}
    if model.built:
        shape = model.input_shape
        out["build_config"] = {"input_shape": [list(s) for s in shape] if isinstance(shape, list) else list(shape)}
    if model.compiled:
        out["compile_config"] = _compile_config(model)
    return out


# ------------------------------------------------------------------------------- Keras -> pyrnn models
def _keras_tensor_ref(value, where):
    if not (isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"):
        raise ValueError(f"{where}: expected a Keras tensor reference, got {value!r}")
    name, node, index = value["config"]["keras_history"]
    return name, int(node), int(index)


def model_from_config(serialized, classes, where):
    """A pyrnn model (built, fresh weights) from a Keras model's serialized config.
    ``classes``: {"Sequential": cls, "Functional": cls}; ``where`` names the source in errors."""
    kind, config = serialized.get("class_name"), serialized.get("config") or {}
    if kind == "Model":
        kind = "Functional"
    if kind not in classes:
        raise ValueError(f"{where}: the Keras model class {kind!r} is not supported; expected one of "
                         f"{sorted(classes)} (subclassed models cannot be rebuilt from a config)")
    try:
        if kind == "Sequential":
            return _sequential_from_config(classes[kind], config, where)
        return _functional_from_config(classes[kind], config, where)
    except (KeyError, IndexError) as e:
        raise ValueError(f"{where}: the Keras model config is malformed (no {e})") from e
    except (ValueError, TypeError, NotImplementedError) as e:  # a layer pyrnn cannot build: say which file
        if str(e).startswith(where):
            raise
        raise type(e)(f"{where}: {e}") from e


def _keras_input(config):
    cfg = config["config"]
    shape = cfg.get("batch_shape") or [None] + list(cfg.get("shape") or [])
    return InputLayer(batch_shape=tuple(shape), dtype=cfg.get("dtype") if isinstance(cfg.get("dtype"), str)
                      else None, name=cfg.get("name"))


def _sequential_from_config(cls, config, where):
    specs = config["layers"]
    layers: List[Any] = []
    if specs and specs[0]["class_name"] == "InputLayer":
        layers.append(_keras_input(specs[0]))
        specs = specs[1:]
    elif config.get("build_input_shape"):
        layers.append(InputLayer(shape=tuple(config["build_input_shape"][1:])))
    layers += [layer_from_keras_config(s["class_name"], s["config"]) for s in specs]
    model = cls(layers, name=config.get("name"))
    if not model.built:
        raise ValueError(f"{where}: the Keras Sequential model has no input shape (no InputLayer, no "
                         "build_input_shape): build the Keras model before saving it")
    return model


def _functional_from_config(cls, config, where):
    layers, pending = {}, []
    made: Dict[tuple, list] = {}
    for spec in config["layers"]:
        name = spec.get("name") or spec["config"]["name"]
        if spec["class_name"] == "InputLayer":
            made[(name, 0)] = [_keras_input(spec).tensor]
            continue
        layers[name] = layer_from_keras_config(spec["class_name"], spec["config"])
        for k, call in enumerate(spec.get("inbound_nodes") or []):
            if not isinstance(call, dict):
                raise ValueError(f"{where}: layer {name!r} has a Keras 2 style inbound node {call!r}; only "
                                 "Keras 3 files are read")
            pending.append((name, k, call))

    def tensor(value):
        name, node, index = _keras_tensor_ref(value, where)
        return made[(name, node)][index]

    def ready(value):
        return all((_keras_tensor_ref(v, where)[:2] in made) for v in _graph.flatten(value)
                   if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__")

    while pending:  # Keras lists layers by depth: a shared layer's later call may need later layers
        progress = [p for p in pending if ready([p[2]["args"], p[2].get("kwargs", {})])]
        if not progress:
            raise ValueError(f"{where}: the Keras graph is disconnected: the calls of "
                             f"{sorted({p[0] for p in pending})} read tensors no layer makes")
        for name, k, call in progress:
            args = call["args"]
            if len(args) != 1:
                raise ValueError(f"{where}: layer {name!r} is called with {len(args)} positional arguments; "
                                 "pyrnn layers take one (a tensor or a list of tensors)")
            x = [tensor(v) for v in args[0]] if isinstance(args[0], list) else tensor(args[0])
            kwargs = {}
            for key, value in (call.get("kwargs") or {}).items():
                if key == "training" or value is None:
                    continue
                kwargs[key] = [tensor(v) for v in value] if isinstance(value, list) else \
                    tensor(value) if isinstance(value, dict) else value
            out = layers[name](x, **kwargs)
            made[(name, k)] = out if isinstance(out, list) else [out]
        pending = [p for p in pending if p not in progress]

    def outputs(refs):
        if isinstance(refs, dict):
            return {key: outputs(r) for key, r in refs.items()}
        if refs and isinstance(refs[0], list):
            return [made[(r[0], r[1])][r[2]] for r in refs]
        return made[(refs[0], refs[1])][refs[2]]

    return cls(outputs(config["input_layers"]), outputs(config["output_layers"]), name=config.get("name"))


def compile_from_config(model, config, where):
    """``model.compile`` with Keras's ``compile_config``."""
    loss, metrics = config.get("loss"), config.get("metrics")
    try:
        if isinstance(loss, list):
            loss = [None if l is None else losses_module.get(l) for l in loss]
        elif isinstance(loss, dict) and "class_name" not in loss:
            loss = {k: None if l is None else losses_module.get(l) for k, l in loss.items()}
        else:
            loss = losses_module.get(loss)
        model.compile(optimizer=optimizers_module.get(config["optimizer"]), loss=loss, metrics=metrics,
                      loss_weights=config.get("loss_weights"))
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"{where}: cannot compile the model from the file's compile_config ({e})") from e


# ------------------------------------------------------------------------------- weights layout
def _recurrent_tree(layer, arrays):
    return H5Group(layer.name, [], {"cell": H5Group(_keras_snake_case(type(layer).__name__) + "_cell", arrays)})


def layer_tree(layer, arrays):
    """``layer``'s arrays (``get_weights()`` order) placed as Keras 3 saves them: an RNN layer's in
    its ``cell``, a Bidirectional's in ``forward_layer``/``backward_layer``, a TimeDistributed's
    in ``layer``, a stack of cells' in ``cell/cells/<cell>``."""
    arrays = list(arrays)
    if isinstance(layer, (SimpleRNN, GRU, LSTM)):
        return _recurrent_tree(layer, arrays)
    if isinstance(layer, Bidirectional):
        n = len(layer.forward_layer.get_weights())
        return H5Group(layer.name, [], {"forward_layer": layer_tree(layer.forward_layer, arrays[:n]),
                                        "backward_layer": layer_tree(layer.backward_layer, arrays[n:])})
    if isinstance(layer, TimeDistributed):
        return H5Group(layer.name, [], {"layer": layer_tree(layer.layer, arrays)})
    if isinstance(layer, RNN):
        cells, stack = layer._cells(), layer._sublayers()
        parts, i = [], 0
        for sub in stack:
            n = len(sub.get_weights())
            parts.append(arrays[i:i + n])
            i += n
        names = group_keys([type(c).__name__ for c in cells])
        if len(cells) == 1 and not isinstance(layer.cell, StackedRNNCells):
            return H5Group(layer.name, [], {"cell": H5Group(names[0], parts[0])})
        return H5Group(layer.name, [], {"cell": H5Group("stacked_rnn_cells", [], {
            "cells": H5Group(None, [], {k: H5Group(k, p) for k, p in zip(names, parts)})})})
    return H5Group(layer.name, arrays)


def arrays_from_tree(layer, found: H5Group, group_path, filepath):
    """``layer``'s arrays read from its group of a Keras weights file, after checking that the
    file has exactly the variables Keras would save for it, with the same shapes."""
    expected = layer_tree(layer, layer.get_weights())
    want, have = expected.flat(), found.flat()
    desc = f"{filepath!r}: layer {layer.name!r} ({type(layer).__name__}, Keras group {group_path!r})"
    if set(want) != set(have):
        raise ValueError(f"{desc} expects variables at {sorted(want) or 'no path'}, the file has them at "
                         f"{sorted(have) or 'no path'}: a model of another architecture")
    out = []
    for key in want:
        shapes_w, shapes_h = [a.shape for a in want[key]], [a.shape for a in have[key]]
        if shapes_w != shapes_h:
            raise ValueError(f"{desc} expects weights of shapes {shapes_w}" + (f" at {key!r}" if key else "")
                             + f", the file has {shapes_h}")
        out += have[key]
    return out


def group_keys(class_names):
    """Keras's names for a list of objects' groups: snake-case class names, ``_1``, ``_2``... for repeats."""
    used: Dict[str, int] = {}
    keys = []
    for name in class_names:
        base = _keras_snake_case(name)
        if base in used:
            used[base] += 1
            keys.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            keys.append(base)
    return keys


def _keras_nodes(model):
    """The model's calls (not the Inputs) in an order where every call follows what it reads."""
    return [n for n in _ordered(model)[0] if not isinstance(n.layer, InputLayer)]


def _ordered(model):
    """Keras's depth-first walk from the outputs: (nodes inputs-first, layer -> first visit index)."""
    inputs = {id(t) for t in model.inputs}
    finished, order, index = set(), [], {}

    def visit(t):
        node = t.node
        if id(node) in finished:
            return
        is_input = isinstance(node.layer, InputLayer)
        if not is_input and id(t) in inputs:
            finished.add(id(node))
            return
        index.setdefault(id(node.layer), len(index))
        if not is_input:
            for p in node.parents:
                visit(p)
        finished.add(id(node))
        order.append(node)

    for t in model.outputs:
        visit(t)
    return order, index


def keras_layer_order(model):
    """The layers in Keras's ``model.layers`` order, which names their weight groups: a Sequential's
    in turn; a functional model's by decreasing depth from the outputs (Inputs first), ties in
    the order Keras's depth-first walk from the outputs first meets them."""
    if model._keras_class == "Sequential":
        return list(model.layers)
    nodes, index = _ordered(model)
    in_graph = {id(n) for n in nodes}
    node_depth: Dict[int, int] = {}
    layer_depth: Dict[int, int] = {}
    layers = {id(n.layer): n.layer for n in nodes}
    for node in reversed(nodes):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = node_depth[id(node)] = depth
        if isinstance(node.layer, InputLayer):
            continue
        for p in node.parents:
            if id(p.node) in in_graph:
                node_depth[id(p.node)] = max(depth + 1, node_depth.get(id(p.node), 0))
    for t in model.inputs:
        if id(t.layer) not in layer_depth:
            layer_depth[id(t.layer)], index[id(t.layer)] = 0, -1
            layers[id(t.layer)] = t.layer
    return sorted(layers.values(), key=lambda l: (-layer_depth[id(l)], index[id(l)]))


def weights_tree(model):
    """The model's weights in Keras's HDF5 layout (``model.weights.h5`` / ``.weights.h5``), with
    the optimizer's variables when it has them."""
    order = keras_layer_order(model)
    groups = {key: layer_tree(layer, layer.get_weights())
              for key, layer in zip(group_keys([type(l).__name__ for l in order]), order)}
    root = H5Group(model.name, [], {"layers": H5Group(None, [], groups)})
    if model.compiled and model.optimizer.built:
        root.children["optimizer"] = optimizer_tree(model)
    return root


def set_weights_from_tree(model, root: H5Group, filepath, layer_order=None):
    """Load a Keras weights tree into ``model``: every layer must find its group with the same
    variables and shapes, and the file may hold no other layer's weights. Nothing is changed
    unless everything fits. ``layer_order``: the Keras class names of the saved model's layers
    (from its config), else Keras's order of ``model``'s own layers."""
    if not model.built:
        raise ValueError("load_weights: build the model first (give the first layer an input_shape, or add an Input)")
    groups = root.children.get("layers")
    if groups is None:
        raise ValueError(f"{filepath!r}: expected Keras 3 weights (a 'layers' group), found groups "
                         f"{sorted(root.children)}")
    order = keras_layer_order(model) if layer_order is None else layer_order
    keys = group_keys([type(l).__name__ for l in order])
    loaded = []
    for key, layer in zip(keys, order):
        found = groups.children.get(key, H5Group())
        loaded.append((layer, arrays_from_tree(layer, found, f"layers/{key}", filepath)))
    unused = sorted(k for k, g in groups.children.items() if k not in keys and g.flat())
    if unused:
        raise ValueError(f"{filepath!r}: the file has weights for layers the model does not have: {unused}")
    for layer, arrays in loaded:
        layer.set_weights(arrays)


# ------------------------------------------------------------------------------- optimizer variables
def _trainable_mask(layer):
    """Which of ``layer.get_weights()`` Keras counts among its trainable variables."""
    n = len(layer.get_weights())
    if not layer.trainable:
        return [False] * n
    if isinstance(layer, (SimpleRNN, GRU, LSTM)):
        return [True] * n
    if isinstance(layer, (Bidirectional, TimeDistributed, RNN)):
        return [t for sub in layer._sublayers() for t in _trainable_mask(sub)]
    return [name in layer._trainable_names for name in layer._keras_weight_names()]


def _keras_trainables(model, vector=None):
    """Keras's ``model.trainable_variables`` (its order and layouts), of the parameters or, given
    ``vector`` (a flat vector laid out as the model's parameters, e.g. an optimizer slot), of it:
    the parameters are swapped for it while the layers' ``get_weights`` translate."""
    _, flat_w, _, _ = model._pack()
    saved = flat_w.copy()
    try:
        if vector is not None:
            flat_w[...] = vector
        return [w for layer in keras_layer_order(model)
                for w, t in zip(layer.get_weights(), _trainable_mask(layer)) if t]
    finally:
        flat_w[...] = saved


def _from_keras_trainables(model, arrays):
    """The inverse: a flat vector laid out as the model's parameters from Keras-layout arrays."""
    _, flat_w, _, _ = model._pack()
    saved = flat_w.copy()
    it = iter(arrays)
    try:
        for layer in keras_layer_order(model):
            ws = layer.get_weights()
            layer.set_weights([next(it) if t else w for w, t in zip(ws, _trainable_mask(layer))])
        return flat_w.copy()
    finally:
        flat_w[...] = saved


def optimizer_tree(model):
    """The optimizer's variables as Keras saves them (``optimizer/vars``): iteration, learning rate,
    then each slot group per trainable variable, in Keras's layouts."""
    opt = model.optimizer
    head = [np.asarray(v.numpy()) for v in opt.variables[:1 + (opt._lr_var is not None)]]
    per_slot = {slot: _keras_trainables(model, opt._slots[slot]) for group in opt._variable_groups() for slot in group}
    n = len(_keras_trainables(model))
    slots = [per_slot[slot][i] for group in opt._variable_groups() for i in range(n) for slot in group]
    return H5Group(opt.name, head + slots)


def set_optimizer_from_tree(model, group: H5Group, filepath):
    """Restore the optimizer's state from Keras's ``optimizer/vars`` (after compile and ``_pack``)."""
    opt = model.optimizer
    shapes = [w.shape for w in _keras_trainables(model)]
    groups = opt._variable_groups()
    n_head = 1 + (opt._lr_var is not None)
    want = [()] * n_head + [s for g in groups for s in shapes for _ in g]
    found = [a.shape for a in group.vars]
    if found != want:
        raise ValueError(f"{filepath!r}: the optimizer variables ({type(opt).__name__}) have shapes {found}, the "
                         f"compiled model's optimizer expects {want}")
    it = iter(group.vars[n_head:])
    per_slot: Dict[str, list] = {slot: [] for g in groups for slot in g}
    for g in groups:
        for _ in shapes:
            for slot in g:
                per_slot[slot].append(next(it))
    vectors = {slot: _from_keras_trainables(model, arrays) for slot, arrays in per_slot.items()}
    for slot, vec in vectors.items():
        opt._slots[slot][...] = vec
    opt.iterations = int(group.vars[0])
    if n_head == 2:
        opt.learning_rate = float(group.vars[1])

