"""The engine both model kinds (``Sequential`` and the functional ``Model``) share: ``compile``
(one loss, or one per output, with ``loss_weights`` and metrics), the flat parameter binding,
and the one loop behind ``fit``, ``evaluate``, ``predict``, ``train_on_batch`` and
``compute_gradients``.

The loop sees a model through a few methods: ``_input_names``/``_output_names``,
``_convert_inputs(x)`` (a list of arrays, one per input, converted), ``_output_shapes()``,
``_forward_batch(xs, training)`` (a list of outputs) and ``_backward_batch(grads)`` (one
gradient, or None, per output). One training step is a forward pass in training mode, the
losses and their gradients (weighted), the backward pass, and one optimizer update of the flat
parameter vector (``pyrnn._flat``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional

import numpy as np

from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .. import optimizers as optimizers_module
from .. import quantized
from .._flat import FlatParameters
from .._recurrent import check_size
from ._data import Arrays, Batches, is_batch_source
from ._metrics import Metrics


def _per_output(value: Any, names: List[str], what: str, default: Any = None) -> list:
    """``value`` for each output: a dict by output name, a list in output order, or one value
    for all outputs."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"compile: {what} names unknown output(s) {unknown}; the outputs are {names}")
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"compile: {what} has {len(value)} entries, the model has {len(names)} outputs {names}")
        return list(value)
    return [value] * len(names)


def _metrics_per_output(metrics: Any, names: List[str], what: str) -> List[list]:
    """A list of metric identifiers per output: ``metrics`` is a list for every output, or a
    dict by output name / a list of lists in output order."""
    if isinstance(metrics, dict) or (len(names) > 1 and isinstance(metrics, (list, tuple)) and metrics
                                     and all(isinstance(m, (list, tuple)) or m is None for m in metrics)):
        per = _per_output(metrics, names, what)
    else:
        per = [metrics] * len(names)
    return [[m] if isinstance(m, str) or callable(m) else list(m or []) for m in per]


class Training:
    """Mixin of both model classes: everything that runs the loss, and the loop."""

    if TYPE_CHECKING:  # a mixin: the model provides these
        def __getattr__(self, name: str) -> Any: ...

    # ------------------------------------------------------------------ compile
    # Keras's execution options, and the values that describe how pyrnn runs (eagerly, one step
    # per call, no XLA, no loss scaling): any other value is a NotImplementedError naming it.
    _EXECUTION_OPTIONS = {"run_eagerly": (None, True, False), "steps_per_execution": (None, 1),
                          "jit_compile": (None, False, "auto"), "auto_scale_loss": (None, True, False)}

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, weighted_metrics: Any = None, run_eagerly: Optional[bool] = None,
                steps_per_execution: Optional[int] = None, jit_compile: Any = None,
                auto_scale_loss: Optional[bool] = None) -> None:
        """Set the optimizer, the loss (one for all outputs, or a list/dict with one per output,
        None for an output that is not trained), ``loss_weights`` (list/dict: the total loss is
        their weighted sum) and metrics (a list for every output, or a list of lists/dict per
        output). ``weighted_metrics`` (the same forms) are averaged with the sample weights
        (``sample_weight``/``class_weight`` of fit and evaluate); the execution
        options are accepted at the values that match how pyrnn runs."""
        if loss is None:
            raise ValueError("compile: a loss is required, e.g. loss='mean_squared_error'")
        given = {"run_eagerly": run_eagerly, "steps_per_execution": steps_per_execution, "jit_compile": jit_compile,
                 "auto_scale_loss": auto_scale_loss}
        for option, value in given.items():
            allowed = self._EXECUTION_OPTIONS[option]
            if not any(value is a or (type(value) is type(a) and value == a) for a in allowed):
                raise NotImplementedError(f"compile: {option}={value!r} is not supported by pyrnn "
                                          f"(accepted: {', '.join(map(repr, allowed))})")
        names = self._output_names
        self._losses = [None if l is None else losses_module.get(l) for l in _per_output(loss, names, "loss")]
        if all(l is None for l in self._losses):
            raise ValueError("compile: every output's loss is None; nothing to train")
        weights = _per_output(1.0 if loss_weights is None else loss_weights, names, "loss_weights", 0.0)
        self._loss_weights = [float(w) for w in weights]
        self._compiled_args = {"loss": loss, "metrics": metrics, "loss_weights": loss_weights,
                               "weighted_metrics": weighted_metrics}
        self._metrics = [Metrics(m, l) for m, l in zip(_metrics_per_output(metrics, names, "metrics"), self._losses)]
        self._weighted_metrics = [Metrics(m, l, weighted=True) for m, l in zip(
            _metrics_per_output(weighted_metrics, names, "weighted_metrics"), self._losses)]
        self.loss = self._losses[0] if len(names) == 1 else self._losses
        self.optimizer = optimizers_module.get(optimizer)
        self.compiled = True
        self._flat = None

    def quantize(self, mode: Any = None, **kwargs: Any) -> None:
        """Keras 3's ``model.quantize("int8")`` (or "bfloat16"), in place; see
        ``pyrnn.quantized.quantize_model``: predict runs quantized, training and saving are errors."""
        quantized.quantize_model(self, mode, **kwargs)

    def _check_compiled(self):
        if not self.compiled:
            raise RuntimeError("You must call compile() before fit() or evaluate()")

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Any:
        """The layer called ``name`` (or at position ``index`` of ``layers``)."""
        layers = self.layers
        if index is not None:
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name!r}; the layers are {[l.name for l in layers]}")

    # ------------------------------------------------------------------ weights (the layers')
    def get_weights(self) -> list[np.ndarray]:
        """Every layer's weights, in order: exactly Keras's list for the same model."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def _check_has_weights(self) -> None:
        """A subclassed model has its layers' weights only once its call was traced."""
        if getattr(self, "_untraced", False):
            raise ValueError(f"{type(self).__name__} has no weights yet: call it on data (fit, predict, model(x)) "
                             "or model.build(input_shape) first")

    def set_weights(self, weights: list) -> None:
        self._check_has_weights()
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

    # ------------------------------------------------------------------ parameters
    def parameter_bindings(self) -> list:
        """Every trainable parameter as a ``Binding(owner, name)``, in the flat vector's order."""
        if not self.trainable:
            return []
        seen: set = set()  # a layer both in a nested model and in this one is one set of parameters
        out = []
        for b in (b for layer in self.layers for b in layer.parameter_bindings()):
            if (id(b.owner), b.name) not in seen:
                seen.add((id(b.owner), b.name))
                out.append(b)
        return out

    # ------------------------------------------------------------------ regularization (Keras's model.losses)
    @property
    def losses(self) -> list:
        """Keras's ``model.losses``: the activity regularizers' losses of the last forward pass,
        then the weight regularization penalties of the trainable layers (all layers, nested
        ones too). fit/evaluate add their sum to the reported and optimised loss."""
        if not self.trainable:
            return [float(v) for layer in self.layers for sub in layer._walk() for v in sub._activity_losses]
        return [v for layer in self.layers for v in layer.losses]

    def _all_layers(self) -> list:
        return [sub for layer in self.layers for sub in layer._walk()]

    def _forward_pass(self, xs, training):
        """The model's outputs for one batch, its layers' activity losses started afresh."""
        for layer in self.layers:
            layer.clear_losses()
        return self._forward_batch(xs, training)

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
        self._flat = (flat.key, flat.weights, flat.grads, flat.sizes)
        return self._flat

    # ------------------------------------------------------------------ data
    def _structure(self, data: Any, names: List[str], what: str) -> list:
        """One array per name from an array (one name), a list/tuple in order, or a dict by name."""
        n = len(names)
        if isinstance(data, dict):
            missing = [k for k in names if k not in data]
            if missing or len(data) != n:
                raise ValueError(f"{what}: expected a dict with keys {names}, got keys {sorted(data)}")
            return [data[k] for k in names]
        if n == 1:
            if isinstance(data, (list, tuple)) and len(data) == 1 and hasattr(data[0], "shape"):
                return [data[0]]
            return [data]
        if not isinstance(data, (list, tuple)) or len(data) != n:
            got = f"{len(data)} arrays" if isinstance(data, (list, tuple)) else f"one {type(data).__name__}"
            raise ValueError(f"{what}: the model has {n} {'inputs' if what == 'x' else 'outputs'} {names}, "
                             f"got {got}")
        return list(data)

    def _convert_targets(self, y: Any) -> List[np.ndarray]:
        ys = self._structure(y, self._output_names, "y")
        out = []
        for yi, shape, loss, dtype in zip(ys, self._output_shapes(), self._losses, self._output_dtypes()):
            yi = np.asarray(yi.numpy() if hasattr(yi, "numpy") else yi)
            if not isinstance(loss, losses_module.SparseCategoricalCrossentropy):
                yi = yi.astype(dtype, copy=False)
                if yi.ndim == len(shape) - 1 and shape[-1] == 1:
                    yi = yi[..., None]
            out.append(np.ascontiguousarray(yi))
        return out

    def _convert_batch(self, batch: Any) -> tuple:
        """(xs, ys, sw) from one batch of a dataset or generator: (x, y) or (x, y, sample_weight)."""
        if not isinstance(batch, tuple) or len(batch) not in (1, 2, 3):
            raise ValueError(f"a batch must be a tuple (x, y) or (x, y, sample_weight), got {type(batch).__name__}")
        xs = self._convert_inputs(batch[0])
        ys = self._convert_targets(batch[1]) if len(batch) > 1 and batch[1] is not None else None
        sw = None if len(batch) < 3 or batch[2] is None else np.asarray(batch[2], dtype=np.float64)
        return xs, ys, sw

    def _data(self, x: Any, y: Any, sample_weight: Any = None, class_weight: Optional[dict] = None,
              need_y: bool = True) -> Any:
        if is_batch_source(x):
            if y is not None:
                raise ValueError("y must not be given when x is a dataset or generator (it yields (x, y))")
            return Batches(x, self._convert_batch)
        if x is None or (need_y and y is None):
            raise ValueError("x and y are required (arrays, lists/dicts of arrays, or a dataset)")
        xs = self._convert_inputs(x)
        ys = None if y is None else self._convert_targets(y)
        sw = None if ys is None else self._sample_weights(ys[0], sample_weight, class_weight)
        return Arrays(xs, ys, sw)

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
        missing = sorted(set(np.unique(labels).tolist()) - {int(k) for k in class_weight})
        if missing:
            raise ValueError(f"class_weight: no weight for class(es) {missing}")
        table = {int(k): float(v) for k, v in class_weight.items()}
        return np.array([table[c] for c in labels.tolist()], dtype=np.float64)

    @staticmethod
    def _verbose(verbose):
        if verbose == "auto":
            return 1
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
        return verbose

    # ------------------------------------------------------------------ one step
    def _losses_and_grads(self, ys, outs, sw, need_grad=True):
        """(weighted total, [each output's loss], [each output's gradient or None])."""
        total, parts, grads = 0.0, [], []
        for y, out, loss, w in zip(ys, outs, self._losses, self._loss_weights):
            if loss is None:
                parts.append(0.0)
                grads.append(None)
                continue
            if need_grad:
                value, g = loss.value_and_grad(y, out, sw)
                grads.append(g if w == 1.0 else g * g.dtype.type(w))
            else:
                value = loss(y, out, sw)
            parts.append(value)
            total += w * value
        return total, parts, grads

    def _gradients(self, xs, ys, sw, flat_g):
        """One forward and backward pass: the losses, and the gradient in ``flat_g``."""
        flat_g.fill(0)
        outs = self._forward_pass(xs, True)
        total, parts, grads = self._losses_and_grads(ys, outs, sw)
        self._backward_batch(grads)  # the activity regularizers' gradients join here (Layer.backward)
        if self.trainable:
            for layer in self._all_layers():
                layer._add_penalty_gradients()
        scale = self.optimizer.loss_scale_factor if self.optimizer is not None else None
        if scale is not None:  # Keras differentiates the scaled loss; the optimizer divides it back
            flat_g *= flat_g.dtype.type(scale)
        return total + sum(self.losses), parts, outs

    def compute_gradients(self, x: Any, y: Any) -> tuple[float, list[np.ndarray]]:
        """(loss, [gradient of each trainable parameter]) on one batch, without updating anything.

        Gradients are in the layers' internal layout (PyTorch's for recurrent layers), in the
        order of the flat parameter vector; for checks and custom training loops."""
        self._check_compiled()
        data = self._data(x, y)
        _, _, flat_g, _ = self._pack()
        self._begin_pass()
        loss, _, _ = self._gradients(data.xs, data.ys, data.sw, flat_g)
        return loss, [g[n].copy() for _, g, n in self._variables()]

    # ------------------------------------------------------------------ logs
    def _log_names(self):
        names = self._output_names
        return names if len(names) > 1 else [None]

    def _logs(self, total, parts, seen, metrics):
        """The logs: the loss, each output's loss, then the metrics and the weighted metrics
        (``metrics`` holds both, one Metrics per output each) named as Keras names them: a
        weighted metric whose name an unweighted one took becomes ``weighted_<name>``."""
        logs = {"loss": total / max(seen, 1)}
        for name, part in zip(self._log_names(), parts):
            if name is not None and len(parts) > 1:
                logs[f"{name}_loss"] = part / max(seen, 1)
        taken: set = set()
        for name, m in zip(self._log_names() * 2, metrics):
            prefix = "" if name is None else f"{name}_"
            for k, v in m.results().items():
                key = prefix + k
                if key in taken and m.weighted:
                    key = prefix + "weighted_" + k
                taken.add(key)
                logs[key] = v
        return logs

    def _all_metrics(self) -> list:
        """The metrics, then the weighted metrics: one Metrics per output each."""
        return self._metrics + self._weighted_metrics

    @staticmethod
    def _update_metrics(metrics, ys, outs, sw):
        n = len(ys)
        for i, m in enumerate(metrics):
            m.update(ys[i % n], outs[i % n], sw)

    # ------------------------------------------------------------------ fit
    def fit(self, x: Any = None, y: Any = None, batch_size: Optional[int] = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: Optional[list] = None, validation_split: float = 0.0,
            validation_data: Any = None, shuffle: bool = True, class_weight: Optional[dict] = None,
            sample_weight: Any = None, initial_epoch: int = 0, steps_per_epoch: Optional[int] = None,
            validation_steps: Optional[int] = None, validation_batch_size: Optional[int] = None,
            validation_freq: int = 1) -> Any:
        """Train for ``epochs`` epochs (from ``initial_epoch``) and return the ``History``. ``x``
        and ``y``: arrays, lists or dicts of arrays (by input/output name); or ``x`` alone as a
        dataset, generator or ``PyDataset`` yielding (x, y[, sample_weight]) batches."""
        self._check_compiled()
        data = self._data(x, y, sample_weight, class_weight)
        val = None
        if validation_data is None and validation_split:
            if not isinstance(data, Arrays):
                raise ValueError("validation_split needs array data (not a dataset or generator)")
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
            data, val = data.split(validation_split)
        elif validation_data is not None:
            if is_batch_source(validation_data):
                val = Batches(validation_data, self._convert_batch)
            else:
                if not isinstance(validation_data, tuple) or len(validation_data) not in (2, 3):
                    raise ValueError("validation_data must be (x, y), (x, y, sample_weight) or a dataset")
                vsw = validation_data[2] if len(validation_data) == 3 else None
                val = self._data(validation_data[0], validation_data[1], vsw)
        batch_size = int(batch_size or 32)
        if validation_steps is not None and val is not None:  # only the first batches
            validation_steps = check_size("validation_steps", validation_steps, owner="fit")
            if isinstance(val, Arrays):
                val = val.head(validation_steps * int(validation_batch_size or batch_size))
        steps = data.steps(batch_size, steps_per_epoch)
        verbose = self._verbose(verbose)

        self.history = callbacks_module.History()
        cbs = list(callbacks or [])
        if verbose:
            cbs.append(callbacks_module.ProgbarLogger(verbose))
        cbs.append(self.history)
        cbl = callbacks_module.CallbackList(cbs, self, {"verbose": verbose, "epochs": epochs, "steps": steps})
        batch_end, batch_begin = cbl._batch_end, cbl._batch_begin

        optimizer = self.optimizer
        self.stop_training = False
        rng = np.random.default_rng(self.seed) if self.seed is not None else np.random
        self._fit_rng = rng  # BackupAndRestore saves and restores its state
        for layer in self.layers:
            layer.zero_grads()
        self._resume = None
        cbl.on_train_begin({})
        skip = 0  # batches of the first epoch a restored backup already trained on
        if self._resume is not None:  # set by BackupAndRestore: (epoch, batches done in it)
            initial_epoch, skip = self._resume
            self._resume = None
        logs: dict = {}
        for epoch in range(initial_epoch, epochs):
            _, flat_w, flat_g, _ = self._pack()  # re-packs if the trainable set changed
            constrained = [l for l in self._all_layers() if l._weight_constraints] if self.trainable else []
            self._begin_pass()
            metrics = self._all_metrics()
            for m in metrics:
                m.reset()
            cbl.on_epoch_begin(epoch, {})
            total, parts, seen = 0.0, [0.0] * len(self._losses), 0
            for step, (xb, yb, swb) in enumerate(data.epoch(batch_size, shuffle, rng, steps_per_epoch)):
                if skip:
                    skip -= 1
                    continue
                if batch_begin:
                    for cb in batch_begin:
                        cb.on_train_batch_begin(step, {})
                loss, losses, outs = self._gradients(xb, yb, swb, flat_g)
                optimizer.apply_flat(flat_w, flat_g, loss_scaled=True)
                for layer in constrained:  # Keras: constraints after every optimizer update
                    layer._apply_constraints()
                # --- bookkeeping
                bs = len(xb[0])
                total += loss * bs
                parts = [p + v * bs for p, v in zip(parts, losses)]
                seen += bs
                self._update_metrics(metrics, yb, outs, swb)
                if batch_end:
                    logs = self._logs(total, parts, seen, metrics)
                    for cb in batch_end:
                        cb.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            logs = self._logs(total, parts, seen, metrics)
            if val is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
                result = self._evaluate(val, validation_batch_size or batch_size, validation_steps)
                logs.update({"val_" + k: v for k, v in result.items()})
            cbl.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        if optimizer.use_ema and optimizer.built and epochs > initial_epoch:
            # Keras's finalize_variable_values: the trained weights become their moving average
            optimizer.finalize_variable_values(self._pack()[1])
        cbl.on_train_end(logs)
        return self.history

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate(self, data, batch_size, steps=None):
        self._begin_pass()
        metrics = [m.fresh() for m in self._all_metrics()]
        total, parts, seen = 0.0, [0.0] * len(self._losses), 0
        for xb, yb, swb in data.epoch(int(batch_size), False, None, steps if isinstance(data, Batches) else None):
            outs = self._forward_pass(xb, False)
            loss, losses, _ = self._losses_and_grads(yb, outs, swb, need_grad=False)
            loss += sum(self.losses)  # Keras's test_step counts the regularization losses too
            bs = len(xb[0])
            total += loss * bs
            parts = [p + v * bs for p, v in zip(parts, losses)]
            seen += bs
            self._update_metrics(metrics, yb, outs, swb)
        return self._logs(total, parts, seen, metrics)

    def evaluate(self, x: Any = None, y: Any = None, batch_size: Optional[int] = None, verbose: Any = "auto",
                 return_dict: bool = False, callbacks: Optional[list] = None, sample_weight: Any = None,
                 steps: Optional[int] = None) -> Any:
        """The loss (and metrics) over (x, y): a float, a list [loss, metrics...] or a dict."""
        self._check_compiled()
        data = self._data(x, y, sample_weight)
        result = self._evaluate(data, batch_size or 32, steps)
        if self._verbose(verbose):
            print(" - ".join(f"{k}: {callbacks_module._format_value(v)}" for k, v in result.items()))
        if return_dict:
            return result
        return result["loss"] if len(result) == 1 else list(result.values())

    def predict(self, x: Any, batch_size: Optional[int] = None, verbose: Any = "auto",
                callbacks: Optional[list] = None, steps: Optional[int] = None) -> Any:
        """The model's outputs for x, computed in batches (inference mode): an array, or a list
        (dict) of arrays for a model with several outputs given as a list (dict)."""
        data = self._data(x, None, need_y=False)
        self._begin_pass()
        outs: List[list] = [[] for _ in self._output_names]
        for xb, _, _ in data.epoch(int(batch_size or 32), False, None, steps):
            for acc, out in zip(outs, self._forward_pass(xb, False)):
                acc.append(out)
        shapes = self._output_shapes()
        arrays = [np.concatenate(o) if o else np.zeros((0,) + tuple(s[1:]), np.float32)
                  for o, s in zip(outs, shapes)]
        return self._format_outputs(arrays)

    def predict_on_batch(self, x: Any) -> Any:
        xs = self._convert_inputs(x)
        return self.predict(xs, batch_size=max(len(xs[0]), 1), verbose=0)

    def test_on_batch(self, x: Any, y: Any, sample_weight: Any = None, return_dict: bool = False) -> Any:
        xs = self._convert_inputs(x)
        return self.evaluate(xs, y, batch_size=max(len(xs[0]), 1), verbose=0, sample_weight=sample_weight,
                             return_dict=return_dict)

    def train_on_batch(self, x: Any, y: Any, sample_weight: Any = None, class_weight: Optional[dict] = None) -> float:
        """One optimizer step on (x, y); returns the loss."""
        xs = self._convert_inputs(x)
        history = self.fit(xs, y, batch_size=max(len(xs[0]), 1), epochs=1, verbose=0, shuffle=False,
                           sample_weight=sample_weight, class_weight=class_weight)
        return history.history["loss"][0]
