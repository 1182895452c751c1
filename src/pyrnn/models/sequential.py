"""``Sequential``: a stack of layers with Keras's compile / fit / evaluate / predict.

Training keeps the per-step Python path short: the trainable parameters of all layers are
bound to one flat vector and their gradients to another (``pyrnn._flat.FlatParameters``: each
parameter's owner, a layer or the ``pyrnn.nn`` module a recurrent layer wraps, keeps views into
them), so zeroing the gradients and the optimizer update are a few vector operations per step.
Inputs are converted to the layer dtype once per ``fit``.

Example::

    >>> model = Sequential([SimpleRNN(50, input_shape=(10, 1)), Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> history = model.fit(X, Y, epochs=10, batch_size=32, verbose=0)
    >>> history.history["loss"][-1]
"""

from __future__ import annotations

import json
import math
import sys
import time

import numpy as np

from .. import _export
from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .. import onnx as onnx_export
from .. import optimizers as optimizers_module
from .._flat import FlatParameters
from ..layers import InputLayer, Layer, deserialize, serialize
from ..layers.core import Dropout, Embedding
from . import _io, _keras


class Sequential:
    def __init__(self, layers=None, name=None, seed=None, trainable=True):
        self.name = name or "sequential"
        self.seed = seed
        self._layers = []
        self._input_shape = None
        self.optimizer = self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._flat = None
        self._metric_names = []
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ structure
    @property
    def layers(self):
        return [l for l in self._layers if not isinstance(l, InputLayer)]

    def add(self, layer):
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

    def pop(self):
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        self._flat = None
        return self._layers.pop()

    def build(self, input_shape=None):
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
    def built(self):
        return bool(self.layers) and all(l.built for l in self.layers)

    @property
    def input_shape(self):
        return self._input_shape

    def _ensure_built(self, x):
        if not self.built:
            self.build((None,) + tuple(np.shape(x)[1:]))

    # ------------------------------------------------------------------ weights
    def get_weights(self):
        """Every layer's weights, in order: exactly Keras's list for the same model."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
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
        return [w for l in self.layers for w in l.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for l in self.layers for w in l.non_trainable_weights]

    def count_params(self):
        return sum(l.count_params() for l in self.layers)

    def parameter_bindings(self):
        """Every trainable parameter as a ``Binding(owner, name)``, in the flat vector's order."""
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
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=None, jit_compile=None, **kwargs):
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='mean_squared_error'")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = losses_module.get(loss)
        self._metric_ids = list(metrics or [])
        self._metrics = None
        self.compiled = True
        self._flat = None

    def _make_metrics(self, y, y_pred):
        if self._metrics is None:
            self._metrics = [losses_module.get_metric(m, self.loss, y, y_pred) for m in self._metric_ids]
            self._metric_names = [m.name for m in self._metrics]
        return self._metrics

    # ------------------------------------------------------------------ running
    def _run_plan(self):
        """Which layers need masks and from which layer on backward must run."""
        layers = self.layers
        uses_mask = any(isinstance(l, Embedding) and l.mask_zero for l in layers) or any(
            type(l).__name__ == "Masking" for l in layers)
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

    def _gradients(self, x, y, flat_g, layers, uses_mask, first, backward_layers, sample_weight=None):
        """One forward and backward pass: the loss, and its gradient in ``flat_g``."""
        flat_g.fill(0)
        out = self._forward(x, True, layers, uses_mask, first)
        loss, g = self.loss.value_and_grad(y, out, sample_weight)
        for layer in backward_layers:
            g = layer.backward(g)
        return loss, out

    def compute_gradients(self, x, y):
        """(loss, [gradient of each trainable parameter]) on one batch, without updating anything.

        Gradients are in the layers' internal layout (PyTorch's for recurrent layers), in the
        order of the flat parameter vector; for checks and custom training loops."""
        self._check_compiled()
        x = self._convert_x(x)
        self._ensure_built(x)
        y = self._convert_y(y, x)
        _, _, flat_g, _ = self._pack()
        layers, uses_mask, first = self._run_plan()
        loss, _ = self._gradients(x, y, flat_g, layers, uses_mask, first, layers[first:][::-1])
        return loss, [g[n].copy() for _, g, n in self._variables()]

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

    def _convert_y(self, y, x):
        y = np.asarray(y)
        if not isinstance(self.loss, losses_module.SparseCategoricalCrossentropy):
            y = y.astype(self.layers[-1].dtype if self.layers else np.float32, copy=False)
            out = self.compute_output_shape((None,) + x.shape[1:])
            if y.ndim == len(out) - 1 and out[-1] == 1:
                y = y[..., None]
        return np.ascontiguousarray(y)

    @staticmethod
    def _sample_weights(y, sample_weight, class_weight):
        """Per-sample loss weights from ``sample_weight`` or ``class_weight`` (a dict class ->
        weight; the class of a sample is its label, the argmax of a one-hot row, or a rounded
        binary target), or None."""
        if sample_weight is not None and class_weight is not None:
            raise ValueError("fit: give sample_weight or class_weight, not both")
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=np.float64)
            if sw.ndim == 0 or len(sw) != len(y):
                raise ValueError(f"sample_weight: expected one weight per sample ({len(y)}), got shape {sw.shape}")
            return sw
        if class_weight is None:
            return None
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight must be a dict {{class: weight}}, got {type(class_weight).__name__}")
        labels = np.asarray(y)
        if labels.ndim >= 2 and labels.shape[-1] > 1:
            labels = labels.argmax(axis=-1)
        labels = np.rint(labels.reshape(len(labels), -1)[:, 0]).astype(np.int64)
        missing = sorted(set(np.unique(labels).tolist()) - set(int(k) for k in class_weight))
        if missing:
            raise ValueError(f"class_weight: no weight for class(es) {missing}")
        table = {int(k): float(v) for k, v in class_weight.items()}
        return np.array([table[c] for c in labels.tolist()], dtype=np.float64)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def _check_compiled(self):
        if not self.compiled:
            raise RuntimeError("You must call compile() before fit() or evaluate()")

    @staticmethod
    def _verbose(verbose):
        if verbose == "auto":
            return 1
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
        return verbose

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs (from ``initial_epoch``) and return the ``History``."""
        self._check_compiled()
        if x is None or y is None:
            raise ValueError("fit: x and y are required (NumPy arrays)")
        x = self._convert_x(x)
        self._ensure_built(x)
        y = self._convert_y(y, x)
        if len(x) != len(y):
            raise ValueError(f"fit: x and y have different numbers of samples ({len(x)} and {len(y)})")
        sw = self._sample_weights(y, sample_weight, class_weight)
        if validation_data is None and validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
            split = int(len(x) * (1 - validation_split))
            validation_data = (x[split:], y[split:]) + (() if sw is None else (sw[split:],))
            x, y, sw = x[:split], y[:split], None if sw is None else sw[:split]
        if validation_data is not None:
            if len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be (x, y) or (x, y, sample_weight)")
            vx, vy = validation_data[0], validation_data[1]
            vsw = validation_data[2] if len(validation_data) == 3 else None
            vx = self._convert_x(vx)
            vy = self._convert_y(vy, vx)
        batch_size = int(batch_size or 32)
        n = len(x)
        steps = max(1, math.ceil(n / batch_size)) if steps_per_epoch is None else int(steps_per_epoch)
        verbose = self._verbose(verbose)

        self.history = callbacks_module.History()
        cbs = list(callbacks or [])
        if verbose:
            cbs.append(callbacks_module.ProgbarLogger(verbose))
        cbs.append(self.history)
        cbl = callbacks_module.CallbackList(cbs, self, {"verbose": verbose, "epochs": epochs, "steps": steps})
        batch_end, batch_begin = cbl._batch_end, cbl._batch_begin

        layers, uses_mask, first = self._run_plan()
        backward_layers = layers[first:][::-1]
        optimizer = self.optimizer
        self.stop_training = False
        rng = np.random.default_rng(self.seed) if self.seed is not None else np.random
        for layer in layers:
            layer.zero_grads()
        cbl.on_train_begin({})
        logs = {}
        for epoch in range(initial_epoch, epochs):
            _, flat_w, flat_g, _ = self._pack()  # re-packs if the trainable set changed
            for layer in layers[:first]:
                layer.zero_grads()
            metrics = self._metrics or []
            for m in metrics:
                m.reset_state()
            cbl.on_epoch_begin(epoch, {})
            if shuffle:
                perm = rng.permutation(n)
                xe, ye, swe = x[perm], y[perm], None if sw is None else sw[perm]
            else:
                xe, ye, swe = x, y, sw
            total, seen = 0.0, 0
            for step in range(steps):
                lo = (step * batch_size) % n if steps_per_epoch else step * batch_size
                xb, yb = xe[lo:lo + batch_size], ye[lo:lo + batch_size]
                if batch_begin:
                    for cb in batch_begin:
                        cb.on_train_batch_begin(step, {})
                swb = None if swe is None else swe[lo:lo + batch_size]
                loss, out = self._gradients(xb, yb, flat_g, layers, uses_mask, first, backward_layers, swb)
                optimizer.apply_flat(flat_w, flat_g)
                # --- bookkeeping
                bs = len(xb)
                total += loss * bs
                seen += bs
                if self._metric_ids:
                    for m in self._make_metrics(yb, out):
                        m.update_state(yb, out)
                if batch_end:
                    logs = {"loss": total / seen}
                    for m in self._metrics or []:
                        logs[m.name] = m.result()
                    for cb in batch_end:
                        cb.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            logs = {"loss": total / max(seen, 1)}
            for m in self._metrics or []:
                logs[m.name] = m.result()
            if validation_data is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
                val = self.evaluate(vx, vy, batch_size=validation_batch_size or batch_size, verbose=0,
                                    return_dict=True, sample_weight=vsw)
                logs.update({"val_" + k: v for k, v in val.items()})
            cbl.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbl.on_train_end(logs)
        return self.history

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False, callbacks=None,
                 sample_weight=None):
        """The loss (and metrics) over (x, y): a float, a list [loss, metrics...] or a dict."""
        self._check_compiled()
        x = self._convert_x(x)
        self._ensure_built(x)
        y = self._convert_y(y, x)
        sw = self._sample_weights(y, sample_weight, None)
        batch_size = int(batch_size or 32)
        layers, uses_mask, _ = self._run_plan()
        outs = [self._forward(x[i:i + batch_size], False, layers, uses_mask) for i in range(0, len(x), batch_size)]
        total = 0.0
        metrics = [losses_module.get_metric(m, self.loss, y[:1], outs[0][:1]) for m in self._metric_ids]
        for i, out in zip(range(0, len(x), batch_size), outs):
            yb = y[i:i + batch_size]
            total += self.loss(yb, out, None if sw is None else sw[i:i + batch_size]) * len(yb)
            for m in metrics:
                m.update_state(yb, out)
        result = {"loss": total / max(len(x), 1)}
        for m in metrics:
            result[m.name] = m.result()
        if self._verbose(verbose):
            print(f"{len(outs)}/{len(outs)} - " + " - ".join(f"{k}: {callbacks_module._format_value(v)}"
                                                           for k, v in result.items()))
        if return_dict:
            return result
        return result["loss"] if len(result) == 1 else list(result.values())

    def predict(self, x, batch_size=None, verbose="auto", callbacks=None):
        """The model's outputs for x, computed in batches (inference mode)."""
        x = self._convert_x(x)
        self._ensure_built(x)
        batch_size = int(batch_size or 32)
        layers, uses_mask, _ = self._run_plan()
        outs = [self._forward(x[i:i + batch_size], False, layers, uses_mask) for i in range(0, len(x), batch_size)]
        return np.concatenate(outs) if outs else np.zeros((0,) + tuple(self.output_shape[1:]), np.float32)

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=len(x), verbose=0)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None):
        """One optimizer step on (x, y); returns the loss."""
        history = self.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False, sample_weight=sample_weight,
                           class_weight=class_weight)
        return history.history["loss"][0]

    def reset_states(self):
        for layer in self.layers:
            if hasattr(layer, "reset_states"):
                layer.reset_states()

    # ------------------------------------------------------------------ summary
    def summary(self, line_length=None, print_fn=None):
        """Print the layers, their output shapes and parameter counts (as Keras does)."""
        print_fn = print_fn or print
        w = (32, 26, 14)
        rows = []
        shape = self._input_shape
        for layer in self.layers:
            if shape is not None and layer.built:
                shape = layer.compute_output_shape(shape)
                shown = str(tuple(shape))
            else:
                shown = "?"
            rows.append((f"{layer.name} ({type(layer).__name__})", shown, f"{layer.count_params():,}"))
        line = lambda l, m, r: l + m.join("━" * (k + 2) for k in w) + r  # noqa: E731
        out = [f'Model: "{self.name}"', line("┏", "┳", "┓"),
               "┃ " + " ┃ ".join([f"{'Layer (type)':<{w[0]}}", f"{'Output Shape':<{w[1]}}", f"{'Param #':>{w[2]}}"])
               + " ┃", line("┡", "╇", "┩")]
        for i, (a, b, c) in enumerate(rows):
            out.append("│ " + " │ ".join([f"{a:<{w[0]}}", f"{b:<{w[1]}}", f"{c:>{w[2]}}"]) + " │")
            if i < len(rows) - 1:
                out.append("├" + "┼".join("─" * (k + 2) for k in w) + "┤")
        out.append("└" + "┴".join("─" * (k + 2) for k in w) + "┘")
        trainable = sum(l.count_params() for l in self.layers if l.trainable)
        total = self.count_params()
        size = lambda n: _bytes(n * 4)  # noqa: E731
        out += [f" Total params: {total:,} ({size(total)})", f" Trainable params: {trainable:,} ({size(trainable)})",
                f" Non-trainable params: {total - trainable:,} ({size(total - trainable)})"]
        print_fn("\n".join(out))

    # ------------------------------------------------------------------ saving
    def get_config(self):
        return {"name": self.name, "seed": self.seed,
                "build_input_shape": None if self._input_shape is None else list(self._input_shape[1:]),
                "layers": [serialize(l) for l in self.layers]}

    @classmethod
    def from_config(cls, config):
        model = cls(name=config["name"], seed=config.get("seed"))
        if config.get("build_input_shape") is not None:
            model.add(InputLayer(shape=tuple(config["build_input_shape"])))
        for lc in config["layers"]:
            model.add(deserialize(lc))
        return model

    def _weight_tensors(self):
        return {f"weights/{i:04d}": np.ascontiguousarray(w) for i, w in enumerate(self.get_weights())}

    def save_weights(self, filepath, overwrite=True):
        """Save the weights (Keras's list) to a safetensors file."""
        _io.save(filepath, self._weight_tensors(), {"format": "pyrnn-weights"}, overwrite)

    def load_weights(self, filepath):
        """Load weights saved by ``save_weights`` (safetensors) or by Keras 3 (``.weights.h5``)."""
        if _keras.is_hdf5(filepath):
            return _keras.load_h5_weights(self, filepath)
        tensors, _ = _io.load(filepath)
        self.set_weights(_io.weights_list(tensors))

    def export(self, filepath, format="onnx", verbose=None):
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

    def export_description(self):
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

    def save(self, filepath, overwrite=True):
        """Save architecture, weights, compile arguments and optimizer state to one safetensors file."""
        tensors = self._weight_tensors()
        meta = {"format": "pyrnn-model", "config": json.dumps(self.get_config())}
        if self.compiled:
            meta["compile"] = json.dumps({"optimizer": optimizers_module.serialize(self.optimizer),
                                          "loss": losses_module.serialize(self.loss),
                                          "metrics": [m for m in self._metric_ids if isinstance(m, str)]})
            state = self.optimizer.get_state()
            meta["optimizer_state"] = json.dumps({"iterations": state["iterations"], "sizes": state["sizes"]})
            for k, v in state["slots"].items():
                tensors[f"optimizer/{k}"] = v
        _io.save(filepath, tensors, meta, overwrite)


def _bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024


def load_model(filepath, compile=True):
    """Rebuild a model saved with ``model.save``: layers, weights and, compiled, the optimizer state."""
    tensors, meta = _io.load(filepath)
    if meta.get("format") != "pyrnn-model":
        raise ValueError(f"{filepath}: not a pyrnn model file (use load_weights for a weights file)")
    model = Sequential.from_config(json.loads(meta["config"]))
    model.set_weights(_io.weights_list(tensors))
    if compile and "compile" in meta:
        c = json.loads(meta["compile"])
        model.compile(optimizer=optimizers_module.get(c["optimizer"]), loss=losses_module.get(c["loss"]),
                      metrics=c["metrics"])
        model._pack()
        state = json.loads(meta["optimizer_state"])
        state["slots"] = {k[len("optimizer/"):]: v for k, v in tensors.items() if k.startswith("optimizer/")}
        model.optimizer.set_state(state)
    return model
