"""The training side of ``Sequential``: compile's loss and metrics at work, ``fit``, ``evaluate``,
``train_on_batch`` and ``compute_gradients``.

One training step is a forward pass in training mode, the loss and its gradient, the backward
pass of the layers from the first trainable one on, and one optimizer update of the flat
parameter vector (``Sequential._pack``, ``pyrnn._flat``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .._recurrent import check_size


class Training:
    """Mixin of ``Sequential``: everything that runs the loss (it needs compile)."""

    if TYPE_CHECKING:  # a mixin: the rest of the model (Sequential) provides these
        def __getattr__(self, name: str) -> Any: ...

    def _gradients(self, x, y, flat_g, layers, uses_mask, first, backward_layers, sample_weight=None):
        """One forward and backward pass: the loss, and its gradient in ``flat_g``."""
        flat_g.fill(0)
        out = self._forward(x, True, layers, uses_mask, first)
        loss, g = self.loss.value_and_grad(y, out, sample_weight)
        for layer in backward_layers:
            g = layer.backward(g)
        return loss, out

    def compute_gradients(self, x: Any, y: Any) -> tuple[float, list[np.ndarray]]:
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
        missing = sorted(set(np.unique(labels).tolist()) - {int(k) for k in class_weight})
        if missing:
            raise ValueError(f"class_weight: no weight for class(es) {missing}")
        table = {int(k): float(v) for k, v in class_weight.items()}
        return np.array([table[c] for c in labels.tolist()], dtype=np.float64)

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

    def fit(self, x: Any = None, y: Any = None, batch_size: Optional[int] = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: Optional[list] = None, validation_split: float = 0.0,
            validation_data: Optional[tuple] = None, shuffle: bool = True, class_weight: Optional[dict] = None,
            sample_weight: Any = None, initial_epoch: int = 0, steps_per_epoch: Optional[int] = None,
            validation_steps: Optional[int] = None, validation_batch_size: Optional[int] = None,
            validation_freq: int = 1) -> Any:
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
        if validation_steps is not None and validation_data is not None:  # only the first batches
            validation_steps = check_size("validation_steps", validation_steps, owner="fit")
            keep = validation_steps * int(validation_batch_size or batch_size)
            vx, vy, vsw = vx[:keep], vy[:keep], None if vsw is None else vsw[:keep]
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
            self._metrics.reset()
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
                self._metrics.update(yb, out)
                if batch_end:
                    logs = {"loss": total / seen, **self._metrics.results()}
                    for cb in batch_end:
                        cb.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            logs = {"loss": total / max(seen, 1), **self._metrics.results()}
            if validation_data is not None and (epoch + 1 - initial_epoch) % validation_freq == 0:
                val = self.evaluate(vx, vy, batch_size=validation_batch_size or batch_size, verbose=0,
                                    return_dict=True, sample_weight=vsw)
                logs.update({"val_" + k: v for k, v in val.items()})
            cbl.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbl.on_train_end(logs)
        return self.history

    def evaluate(self, x: Any = None, y: Any = None, batch_size: Optional[int] = None, verbose: Any = "auto",
                 return_dict: bool = False, callbacks: Optional[list] = None, sample_weight: Any = None) -> Any:
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
        metrics = self._metrics.fresh()
        for i, out in zip(range(0, len(x), batch_size), outs):
            yb = y[i:i + batch_size]
            total += self.loss(yb, out, None if sw is None else sw[i:i + batch_size]) * len(yb)
            metrics.update(yb, out)
        result = {"loss": total / max(len(x), 1), **metrics.results()}
        if self._verbose(verbose):
            print(f"{len(outs)}/{len(outs)} - " + " - ".join(f"{k}: {callbacks_module._format_value(v)}"
                                                           for k, v in result.items()))
        if return_dict:
            return result
        return result["loss"] if len(result) == 1 else list(result.values())

    def train_on_batch(self, x: Any, y: Any, sample_weight: Any = None, class_weight: Optional[dict] = None) -> float:
        """One optimizer step on (x, y); returns the loss."""
        history = self.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False, sample_weight=sample_weight,
                           class_weight=class_weight)
        return history.history["loss"][0]
