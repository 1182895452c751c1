"""Saving and loading ``Sequential`` models: config, weights files (safetensors, Keras's
``.weights.h5``), whole-model files with the optimizer state, and ONNX export."""

from __future__ import annotations

import json
import os
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
        """Save the weights (Keras's list) to a safetensors file."""
        _io.save(filepath, self._weight_tensors(), {"format": "pyrnn-weights"}, overwrite)

    def load_weights(self, filepath: Union[str, os.PathLike]) -> None:
        """Load weights saved by ``save_weights`` (safetensors) or by Keras 3 (``.weights.h5``)."""
        if _keras.is_hdf5(filepath):
            return _keras.load_h5_weights(self, filepath)
        tensors, _ = _io.load(filepath)
        self.set_weights(_io.weights_list(tensors))

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
        """Save architecture, weights, compile arguments and optimizer state to one safetensors file."""
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
            meta["optimizer_state"] = json.dumps({"iterations": state["iterations"], "sizes": state["sizes"]})
            for k, v in state["slots"].items():
                tensors[f"optimizer/{k}"] = v
        _io.save(filepath, tensors, meta, overwrite)


def load_model(choose, filepath, compile=True):
    """Rebuild a model saved with ``model.save``: layers, weights and, compiled, the optimizer
    state. ``choose(config)`` is the model class for the saved config."""
    tensors, meta = _io.load(filepath)
    if meta.get("format") != "pyrnn-model":
        raise ValueError(f"{filepath}: not a pyrnn model file (use load_weights for a weights file)")
    config = json.loads(meta["config"])
    model = choose(config).from_config(config)
    model.set_weights(_io.weights_list(tensors))
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
        model._pack()
        state = json.loads(meta["optimizer_state"])
        state["slots"] = {k[len("optimizer/"):]: v for k, v in tensors.items() if k.startswith("optimizer/")}
        model.optimizer.set_state(state)
    return model
