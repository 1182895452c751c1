"""Saving and loading models (the ``Saving`` mixin of ``Sequential`` and ``Model``): pyrnn's
config, weights files (Keras 3's ``.weights.h5``, or ``.safetensors``), whole-model files
(Keras 3's ``.keras``, or pyrnn's ``.safetensors``) with the optimizer state, and ONNX export.
The formats are ``_io.py``'s, Keras's layouts ``_keras.py``'s."""

from __future__ import annotations

import datetime
import json
import os
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _package_version
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from .. import _export
from .. import losses as losses_module
from .. import onnx as onnx_export
from .. import optimizers as optimizers_module
from ..layers import InputLayer, deserialize, serialize
from . import _io, _keras


class Saving:
    """Mixin of ``Sequential``: get_config/from_config, save/load of weights and models, export."""

    if TYPE_CHECKING:  # a mixin: the rest of the model (Sequential) provides these
        def __getattr__(self, name: str) -> Any: ...

    _keras_class = "Sequential"  # Keras's class of the model, in .keras configs

    def get_config(self) -> dict:
        return {"name": self.name, "seed": self.seed,
                "build_input_shape": None if self._input_shape is None else list(self._input_shape[1:]),
                "layers": [serialize(l) for l in self.layers]}

    @classmethod
    def from_config(cls, config: dict) -> Any:
        make: Any = cls  # Sequential
        model = make(name=config["name"], seed=config.get("seed"))
        if config.get("build_input_shape") is not None:
            model.add(InputLayer(shape=tuple(config["build_input_shape"])))
        for lc in config["layers"]:
            model.add(deserialize(lc))
        return model

    def _weight_tensors(self):
        return {f"weights/{i:04d}": np.ascontiguousarray(w) for i, w in enumerate(self.get_weights())}

    def save_weights(self, filepath: Union[str, os.PathLike], overwrite: bool = True) -> None:
        """Save the weights: Keras 3's HDF5 layout for ``.weights.h5`` (``keras_model.load_weights``
        reads it), or Keras's list in a safetensors file for ``.safetensors``."""
        ext = _io.file_format(filepath, (_io.WEIGHTS_H5, _io.SAFETENSORS), "save_weights")
        if ext == _io.WEIGHTS_H5:
            _io.save_h5(filepath, _keras.weights_tree(self), overwrite)
        else:
            _io.save_safetensors(filepath, self._weight_tensors(), {"format": "pyrnn-weights"}, overwrite)

    def load_weights(self, filepath: Union[str, os.PathLike]) -> None:
        """Load weights from a ``.weights.h5`` or ``.keras`` file (pyrnn's or Keras 3's), or a
        ``.safetensors`` file of ``save_weights``/``save``. Every layer must find its weights with
        the same shapes, else a ValueError naming the layer (and nothing is loaded). The
        optimizer state is not loaded (``load_model`` restores it)."""
        ext = _io.file_format(filepath, (_io.WEIGHTS_H5, _io.KERAS, _io.SAFETENSORS), "load_weights")
        self._check_has_weights()
        if ext == _io.WEIGHTS_H5:
            _keras.set_weights_from_tree(self, _io.load_h5(filepath), os.fspath(filepath))
        elif ext == _io.KERAS:
            _keras.set_weights_from_tree(self, _io.load_keras_archive(filepath)[2], os.fspath(filepath))
        else:
            tensors, meta = _io.load_safetensors(filepath)
            _check_format(filepath, meta, ("pyrnn-weights", "pyrnn-model"))
            _set_weight_list(self, _io.weights_list(tensors), filepath)

    def export(self, filepath: Union[str, os.PathLike], format: str = "onnx", verbose: Any = None) -> None:
        """Write the model for inference engines, as Keras's ``model.export``; pyrnn writes ONNX
        (see ``pyrnn.onnx``): one input ``input``, one output ``output``, dynamic batch and time.

        Example::

            >>> model.export("model.onnx", format="onnx")
        """
        if format != "onnx":
            raise ValueError(f"export: format must be 'onnx' (the only format pyrnn writes), got {format!r}")
        onnx_export.export(self, filepath)
        if verbose:
            print(f"Saved the model as ONNX to {filepath}")

    def export_description(self) -> _export.ModelExport:
        """What ONNX export needs: a ``pyrnn._export.ModelExport`` of the layers' descriptions."""
        if not self.built:
            raise ValueError("ONNX export: the model is not built; give the first layer an input_shape (or add an "
                             "Input), or call the model once")
        layers = self.layers
        dtypes = {layer.dtype for layer in layers}
        if len(dtypes) != 1:
            raise TypeError(f"ONNX export: all layers must have one dtype, got {sorted(map(str, dtypes))}")
        described = tuple(layer.export_description() for layer in layers)
        return _export.ModelExport(self.name, described, self.input_shape,
                                   isinstance(described[0], _export.EmbeddingExport), dtypes.pop(),
                                   self.compute_output_shape)

    def save(self, filepath: Union[str, os.PathLike], overwrite: bool = True) -> None:
        """Save architecture, weights, compile arguments and optimizer state: a Keras 3 ``.keras``
        file (``keras.saving.load_model`` reads it, the optimizer state in Keras's layout too), or
        pyrnn's ``.safetensors`` model file."""
        ext = _io.file_format(filepath, (_io.KERAS, _io.SAFETENSORS), "save")
        if ext == _io.KERAS:
            self._save_keras(filepath, overwrite)
            return
        tensors = self._weight_tensors()
        meta = {"format": "pyrnn-model", "config": json.dumps(self.get_config())}
        if self.compiled:
            meta["compile"] = json.dumps({"optimizer": optimizers_module.serialize(self.optimizer),
                                          "loss": [None if l is None else losses_module.serialize(l)
                                                   for l in self._losses],
                                          "metrics": [m.serializable() for m in self._metrics],
                                          "weighted_metrics": [m.serializable() for m in self._weighted_metrics],
                                          "loss_weights": self._loss_weights})
            state = self.optimizer.get_state()
            if state["sizes"]:  # an optimizer that never ran has no state to keep
                meta["optimizer_state"] = json.dumps({"iterations": state["iterations"], "sizes": state["sizes"]})
                for k, v in state["slots"].items():
                    tensors[f"optimizer/{k}"] = v
        _io.save_safetensors(filepath, tensors, meta, overwrite)


    def _save_keras(self, filepath, overwrite=True, extra=None):
        metadata = {"keras_version": KERAS_FORMAT_VERSION, "saved_by": f"pyrnn {_pyrnn_version()}",
                    "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
        _io.save_keras_archive(filepath, _keras.model_config(self), metadata, _keras.weights_tree(self),
                               overwrite, extra)

    def _save_training_state(self, filepath, state: dict) -> None:
        """A ``.keras`` file (with the optimizer state) and ``state`` (JSON) as a member: one file,
        written atomically, so a backup is whole or the previous one (BackupAndRestore)."""
        self._save_keras(filepath, True, {_io.TRAINING_MEMBER: json.dumps(state).encode()})

    def _load_training_state(self, filepath) -> dict:
        """Weights and optimizer state from ``_save_training_state``'s file; returns its ``state``."""
        path = os.fspath(filepath)
        _, _, tree, extra = _io.load_keras_archive(filepath)
        if _io.TRAINING_MEMBER not in extra:
            raise ValueError(f"{path!r}: expected a BackupAndRestore backup, found a .keras file without "
                             f"{_io.TRAINING_MEMBER}")
        _keras.set_weights_from_tree(self, tree, path)
        _restore_optimizer(self, tree, path)
        return json.loads(extra[_io.TRAINING_MEMBER])


def _pyrnn_version():
    try:
        return _package_version("pyrnn")
    except PackageNotFoundError:  # a source tree
        return "0.0.0"


KERAS_FORMAT_VERSION = "3.0.0"  # the .keras layout written (Keras 3's; Keras reads it, any 3.x)


def _check_format(filepath, meta, formats):
    found = meta.get("format")
    if found not in formats:
        raise ValueError(f"{os.fspath(filepath)!r}: expected a pyrnn safetensors file of format "
                         f"{' or '.join(formats)}, found format {found!r}"
                         + (" (a weights file: use load_weights)" if found == "pyrnn-weights" else ""))


def _set_weight_list(model, arrays, filepath):
    """``model.set_weights(arrays)`` after checking every layer's count and shapes (naming the layer)."""
    arrays, i = list(arrays), 0
    for layer in model.layers:
        expected = [w.shape for w in layer.get_weights()]
        found = [a.shape for a in arrays[i:i + len(expected)]]
        if found != expected:
            raise ValueError(f"{os.fspath(filepath)!r}: layer {layer.name!r} expects weights of shapes {expected}, "
                             f"the file has {found}")
        i += len(expected)
    if i != len(arrays):
        raise ValueError(f"{os.fspath(filepath)!r}: the file has {len(arrays)} weight arrays, the model {i}")
    model.set_weights(arrays)


def _restore_optimizer(model, tree, filepath):
    """The optimizer's state from a Keras weights tree (nothing when the file has none)."""
    model._pack()
    group = tree.children.get("optimizer")
    if group is not None and group.vars:
        _keras.set_optimizer_from_tree(model, group, os.fspath(filepath))


def load_model(classes, filepath, compile=True):
    """Rebuild a model saved with ``model.save`` (or by Keras 3, ``.keras``): layers, weights and,
    compiled, the compile arguments and the optimizer state. ``classes``: the model classes by
    Keras's name ({"Sequential": ..., "Functional": ...})."""
    ext = _io.file_format(filepath, (_io.KERAS, _io.SAFETENSORS), "load_model")
    path = os.fspath(filepath)
    if ext == _io.SAFETENSORS:
        return _load_safetensors_model(classes, filepath, compile)
    config, _, tree, _ = _io.load_keras_archive(filepath)
    model = _keras.model_from_config(config, classes, repr(path))
    order = None
    if model._keras_class != "Sequential":
        order = [model.get_layer(spec.get("name") or spec["config"]["name"]) for spec in config["config"]["layers"]]
    _keras.set_weights_from_tree(model, tree, path, order)
    if compile and config.get("compile_config"):
        _keras.compile_from_config(model, config["compile_config"], path)
        _restore_optimizer(model, tree, path)
    return model


def _load_safetensors_model(classes, filepath, compile):
    tensors, meta = _io.load_safetensors(filepath)
    _check_format(filepath, meta, ("pyrnn-model",))
    config = json.loads(meta["config"])
    model = classes["Functional" if "nodes" in config else "Sequential"].from_config(config)
    _set_weight_list(model, _io.weights_list(tensors), filepath)
    if compile and "compile" in meta:
        c = json.loads(meta["compile"])
        loss, metrics, weighted = c["loss"], c["metrics"], c.get("weighted_metrics")
        if isinstance(loss, list):  # one per output
            loss = [None if l is None else losses_module.get(l) for l in loss]
            if len(loss) == 1:
                loss, metrics, weighted = loss[0], metrics[0], weighted and weighted[0]
        else:
            loss = losses_module.get(loss)
        model.compile(optimizer=optimizers_module.get(c["optimizer"]), loss=loss, metrics=metrics,
                      weighted_metrics=weighted or None,
                      loss_weights=c.get("loss_weights") if isinstance(c["loss"], list) and len(c["loss"]) > 1
                      else None)
        if "optimizer_state" not in meta:
            return model
        model._pack()
        state = json.loads(meta["optimizer_state"])
        state["slots"] = {k[len("optimizer/"):]: v for k, v in tensors.items() if k.startswith("optimizer/")}
        sizes = model.optimizer._sizes
        if state["sizes"] != sizes:
            raise ValueError(f"{os.fspath(filepath)!r}: the optimizer state is for parameters of sizes "
                             f"{state['sizes']}, the model's are {sizes}")
        model.optimizer.set_state(state)
    return model
