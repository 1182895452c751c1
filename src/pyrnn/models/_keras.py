"""From Keras 3 to pyrnn: layers from Keras configs and Keras ``.weights.h5`` files
(``from_keras(keras_model)``, in ``_from_keras.py``, builds on these).

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
import os
import re

from .._optional import require
from ..layers import layer_classes

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(filepath):
    """True when the file starts with HDF5's signature (Keras's .weights.h5 files do)."""
    with open(os.fspath(filepath), "rb") as f:
        return f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


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


def layer_from_keras_config(class_name, config):
    """A pyrnn layer equal to the Keras layer of ``class_name`` with ``config`` (its get_config()).

    Initializers are left to pyrnn's defaults (the weights are copied afterwards); Keras-only
    options at their neutral value (None, False, 0) are dropped; any other option pyrnn does not
    have is a ValueError naming it.
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
    for key, value in config.items():
        if key.endswith("_initializer") or key in ("build_config", "registered_name"):
            continue
        if key == "dtype" and isinstance(value, dict):  # a DTypePolicy
            value = value.get("config", {}).get("name", "float32")
        if key in ("layer", "backward_layer") and isinstance(value, dict):  # a wrapped layer's config
            value = layer_from_keras_config(value["class_name"], value["config"])
        if key not in accepted:
            if value in (None, False, 0):
                continue
            raise ValueError(f"Keras layer {config.get('name')!r} ({class_name}): option {key}={value!r} has no "
                             "equivalent in pyrnn")
        kwargs[key] = value
    return cls(**kwargs)


def _h5_arrays(group):
    """A layer's arrays in a Keras weights file, in get_weights() order: the layer's own vars,
    then its sub-objects (a Bidirectional's forward layer before its backward layer)."""
    arrays = [group["vars"][k][()] for k in sorted(group["vars"], key=int)] if "vars" in group else []
    for key in sorted((k for k in group if k != "vars"), key=lambda k: (k != "forward_layer", k)):
        arrays += _h5_arrays(group[key])
    return arrays


def load_h5_weights(model, filepath):
    """Load a Keras 3 ``.weights.h5`` file (``keras_model.save_weights``) into ``model``.

    Keras names each layer's group after its class (``lstm``, ``lstm_1``, ``dense``, ...) in
    model order; every layer of ``model`` must find its group with the same shapes, and the
    file may hold no other layer's weights. Nothing is changed unless everything fits.
    """
    h5py = require("h5py", "loading a Keras .weights.h5 file", "keras")
    if not model.built:
        raise ValueError("load_weights: build the model first (give the first layer an input_shape, or add an Input)")
    loaded, counts, used = [], {}, set()
    with h5py.File(os.fspath(filepath), "r") as f:
        if "layers" not in f:
            raise ValueError(f"{filepath}: not a Keras 3 .weights.h5 file (it has no 'layers' group)")
        groups = f["layers"]
        for layer in model.layers:
            base = _keras_snake_case(type(layer).__name__)
            n = counts.get(base, 0)
            counts[base] = n + 1
            key = base if n == 0 else f"{base}_{n}"
            used.add(key)
            expected = [w.shape for w in layer.get_weights()]
            if key not in groups:
                raise ValueError(f"{filepath}: no weights for layer {layer.name!r} (Keras group {key!r}); the file "
                                 f"holds {sorted(groups)}: a model of another architecture")
            arrays = _h5_arrays(groups[key])
            if [a.shape for a in arrays] != expected:
                raise ValueError(f"{filepath}: layer {layer.name!r} (Keras group {key!r}) expects weights of shapes "
                                 f"{expected}, the file has {[a.shape for a in arrays]}")
            loaded.append((layer, arrays))
        unused = [k for k in groups if k not in used and _h5_arrays(groups[k])]
        if unused:
            raise ValueError(f"{filepath}: the file has weights for layers the model does not have: {unused}")
    for layer, arrays in loaded:
        layer.set_weights(arrays)

