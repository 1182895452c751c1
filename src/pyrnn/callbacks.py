"""Training callbacks with Keras 3's names and behaviour.

``Callback`` is the base class (hooks ``on_train_begin/end``, ``on_epoch_begin/end``,
``on_train_batch_begin/end``, ``on_test_*``, ``on_predict_*``; ``self.model`` and
``self.params``). ``fit`` always adds ``History`` (returned) and, when verbose, ``ProgbarLogger``.

Example::

    >>> from pyrnn import callbacks
    >>> stop = callbacks.EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    >>> # model.fit(X, Y, validation_split=0.2, epochs=100, callbacks=[stop])
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import sys
import time
import warnings

import numpy as np


class Callback:
    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


class LambdaCallback(Callback):
    """A callback from plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks):
        super().__init__()
        for name, fn in hooks.items():
            if not name.startswith("on_") or not hasattr(Callback, name):
                raise TypeError(f"LambdaCallback: unknown hook {name!r}")
            setattr(self, name, fn)


class History(Callback):
    """Records every epoch's logs: ``history.history["loss"]`` is the list of epoch losses."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


def _format_value(v):
    return f"{v:.4f}" if abs(v) > 1e-3 else f"{v:.4e}"


def _format_time(seconds):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


class ProgbarLogger(Callback):
    """Keras-style progress: ``Epoch 3/100`` then ``32/32 ━━━━━━━━━━━━━━━━━━━━ 0s 71us/step - loss: 0.0851``
    (with an ETA while the epoch runs). verbose=1 redraws one line at most every 0.05 s;
    verbose=2 prints one line per epoch."""

    def __init__(self, verbose=1, width=20, interval=0.05, stream=None):
        super().__init__()
        self.verbose, self.width, self.interval = verbose, width, interval
        self.stream = stream

    def _write(self, text):
        stream = self.stream or sys.stdout
        stream.write(text)
        stream.flush()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._last = time.perf_counter()
        self._epochs = self.params.get("epochs", 0)
        self._steps = self.params.get("steps") or 0
        self._dynamic = (self.stream or sys.stdout).isatty() if hasattr(self.stream or sys.stdout, "isatty") else False
        self._width_printed = 0
        self._seen = 0  # batches so far (the count, when a generator's length is unknown)
        self._write(f"Epoch {epoch + 1}/{self._epochs}\n")

    def _line(self, current, logs, final):
        now = time.perf_counter()
        elapsed = now - self._start
        per_step = elapsed / max(current, 1)
        n = self._steps
        digits = len(str(n)) if n else 1
        total = n or "Unknown"
        if self.verbose == 2:
            line = f"{current:>{digits}}/{total} - {elapsed:.0f}s - {_format_time(per_step)}"
        else:
            done = int(self.width * current / n) if n else self.width
            bar = "━" * done + ("╸" if 0 < done < self.width else "") + " " * max(0, self.width - done - 1) \
                if not final else "━" * self.width
            when = f"{elapsed:.0f}s" if final else _eta(per_step * (n - current))
            line = f"{current:>{digits}}/{total} {bar} {when} {_format_time(per_step)}"
        for k, v in (logs or {}).items():
            if k in ("learning_rate",) or not isinstance(v, (int, float)):
                continue
            line += f" - {k}: {_format_value(v)}"
        return line

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        if self.verbose != 1 or not self._dynamic:
            return
        now = time.perf_counter()
        if now - self._last < self.interval:
            return
        self._last = now
        line = self._line(batch + 1, logs, final=False)
        pad = " " * max(0, self._width_printed - len(line))
        self._width_printed = len(line)
        self._write("\r" + line + pad)

    def on_epoch_end(self, epoch, logs=None):
        line = self._line(self._steps or self._seen, logs, final=True)
        pad = " " * max(0, self._width_printed - len(line))
        self._write(("\r" if self._dynamic and self.verbose == 1 else "") + line + pad + "\n")


def _eta(seconds):
    if seconds > 3600:
        return "%d:%02d:%02d" % (seconds // 3600, (seconds % 3600) // 60, seconds % 60)
    if seconds > 60:
        return "%d:%02d" % (seconds // 60, seconds % 60)
    return "%ds" % seconds


class _Monitor(Callback):
    """Shared by the callbacks that watch a logged quantity (lower or higher is better)."""

    def __init__(self, monitor, mode, min_delta=0.0):
        super().__init__()
        self.monitor = monitor
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"mode {mode!r} is unknown, falling back to 'auto'", stacklevel=2)
            mode = "auto"
        if mode == "auto":
            name = monitor[4:] if monitor.startswith("val_") else monitor
            mode = "max" if name in ("acc", "accuracy", "auc") or name.endswith("accuracy") else "min"
        self.mode = mode
        self.min_delta = abs(min_delta)

    def _better(self, current, reference):
        if reference is None:
            return True
        if self.mode == "min":
            return current + self.min_delta < reference
        return current - self.min_delta > reference

    def _get(self, logs, who):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{who} conditioned on metric `{self.monitor}` which is not available. "
                          f"Available metrics are: {','.join(logs or {})}", stacklevel=3)
        return value


class EarlyStopping(_Monitor):
    """Stops training when ``monitor`` has not improved (by more than ``min_delta``) for
    ``patience`` epochs; ``restore_best_weights`` puts back the weights of the best epoch."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = int(patience), verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, int(start_from_epoch)

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._get(logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._better(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._better(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ReduceLROnPlateau(_Monitor):
    """Multiplies the learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs (then waits ``cooldown`` epochs), never below ``min_lr``."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__(monitor, mode, min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0, got {factor}")
        self.factor, self.patience, self.verbose = float(factor), int(patience), verbose
        self.cooldown, self.min_lr = int(cooldown), float(min_lr)
        self.wait, self.cooldown_counter, self.best = 0, 0, None

    def _better(self, current, reference):  # Keras: strict, by min_delta
        if reference is None:
            return True
        return current < reference - self.min_delta if self.mode == "min" else current > reference + self.min_delta

    def on_train_begin(self, logs=None):
        self.wait, self.cooldown_counter, self.best = 0, 0, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs["learning_rate"] = self.model.optimizer.learning_rate
        current = self._get(logs, "Learning rate reduction")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = self.model.optimizer.learning_rate
                if old > self.min_lr:
                    new = max(old * self.factor, self.min_lr)
                    self.model.optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch's start to ``schedule(epoch, lr)``."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        try:
            lr = self.schedule(epoch, self.model.optimizer.learning_rate)
        except TypeError:  # a schedule of the epoch only
            lr = self.schedule(epoch)
        if not isinstance(lr, (int, float, np.floating)):
            raise ValueError(f"The output of the schedule function should be a float, got {lr!r}")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate


class TerminateOnNaN(Callback):
    """Stops training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class ModelCheckpoint(_Monitor):
    """Saves the model (``.keras``; only its weights for paths ending in ``.weights.h5`` or
    ``.weights.safetensors``, or with ``save_weights_only``) after every epoch, or only when
    ``monitor`` improved with ``save_best_only``. ``filepath`` may use ``{epoch}`` and log names,
    e.g. ``ckpt-{epoch:02d}.keras``."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode)
        if save_freq != "epoch":
            raise NotImplementedError("ModelCheckpoint: only save_freq='epoch' is supported")
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if self.save_best_only:
            current = self._get(logs, "Can save best model only with")
            if current is None or not self._better(current, self.best):
                if self.verbose > 0 and current is not None:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best}")
                return
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best} to {current}, saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        if self.save_weights_only or path.endswith((".weights.h5", ".weights.safetensors")):
            self.model.save_weights(path)
        else:
            self.model.save(path)


def _rng_state(rng):
    """A Generator's state, or NumPy's global RandomState's (``np.random``), as JSON."""
    if isinstance(rng, np.random.Generator):
        return {"generator": rng.bit_generator.state}
    name, keys, pos, has_gauss, gauss = rng.get_state()
    return {"global": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)]}


def _set_rng_state(rng, state):
    if "generator" in state:
        rng.bit_generator.state = state["generator"]
    else:
        name, keys, pos, has_gauss, gauss = state["global"]
        rng.set_state((name, np.array(keys, np.uint32), pos, has_gauss, gauss))


def _layers_with_rngs(model):
    """{path: layer} of every layer and sub-layer (a Bidirectional's directions, an RNN's stack...)."""
    out = {}

    def walk(layer, prefix):
        out[prefix] = layer
        for i, sub in enumerate(layer._sublayers()):
            walk(sub, f"{prefix}/{i}")
    for layer in model.layers:
        walk(layer, layer.name)
    return out


class BackupAndRestore(Callback):
    """Backs up the training state in ``backup_dir`` at the end of every epoch (``save_freq=
    "epoch"``) or every ``save_freq`` batches, and restores it when ``fit`` starts again (as
    Keras 3's): weights, optimizer state, the epoch and, beyond Keras, the batches done in it and
    the RNG states (the shuffling and every layer's dropout draws), so a fit killed and restarted
    with the same arguments ends with the weights an uninterrupted one reaches (array data).
    A backup is one ``.keras`` file (the state in a member) written to a temporary file and moved
    into place, so a crash while writing leaves the previous backup. ``delete_checkpoint``: remove
    ``backup_dir`` when ``fit`` ends (not when it is killed).

    Example::

        >>> model.fit(x, y, epochs=10, callbacks=[callbacks.BackupAndRestore("/tmp/backup", save_freq=50)])
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("Empty `backup_dir` argument passed")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"Invalid value for argument `save_freq`. Received: save_freq={save_freq!r}. Expected "
                             "either 'epoch' or an integer value >= 1.")
        if double_checkpoint:
            raise NotImplementedError("BackupAndRestore: double_checkpoint is not supported by pyrnn (its backups "
                                      "are written atomically, so the previous one survives a crash anyway)")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq, self.delete_checkpoint = save_freq, delete_checkpoint
        self._path = os.path.join(self.backup_dir, "latest.keras")
        self._epoch = 0
        self._batches_done = 0  # in the current epoch
        self._since_save = 0
        self._epoch_rng = None

    def on_train_begin(self, logs=None):
        self._since_save = 0
        if not os.path.exists(self._path):
            return
        state = self.model._load_training_state(self._path)
        _set_rng_state(self.model._fit_rng, state["epoch_rng"])
        layers = _layers_with_rngs(self.model)
        for path, layer_state in state["layer_rngs"].items():
            if path in layers:
                layer = layers[path]
                layer._rng = np.random.default_rng()
                _set_rng_state(layer._rng, layer_state)
        self.model._resume = (int(state["epoch"]), int(state["batch"]))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._batches_done = epoch, 0
        self._epoch_rng = _rng_state(self.model._fit_rng)  # before this epoch's shuffle: a resume redraws it

    def on_train_batch_end(self, batch, logs=None):
        self._batches_done = batch + 1
        if self.save_freq != "epoch":
            self._since_save += 1
            if self._since_save >= self.save_freq:
                self._since_save = 0
                self._save(self._epoch, self._batches_done, self._epoch_rng)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1, 0, _rng_state(self.model._fit_rng))

    def _save(self, epoch, batch, epoch_rng):
        os.makedirs(self.backup_dir, exist_ok=True)
        layer_rngs = {path: _rng_state(layer._rng) for path, layer in _layers_with_rngs(self.model).items()
                      if layer._rng is not None}
        self.model._save_training_state(self._path, {"epoch": epoch, "batch": batch, "epoch_rng": epoch_rng,
                                                     "layer_rngs": layer_rngs})

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)


class CSVLogger(Callback):
    """Writes one row per epoch (``epoch`` then the logs, sorted) to ``filename``."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self._file = self._writer = self._keys = None

    def on_train_begin(self, logs=None):
        exists = self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._header_written = exists
        self._keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self._keys, delimiter=self.separator)
            if not self._header_written:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{k: logs.get(k, "NA") for k in self._keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None:
            self._file.close()
            self._file = None


def _overrides(cb, hook):
    """Whether ``cb`` does something in ``hook``: a subclass's method, or a LambdaCallback's function."""
    return getattr(type(cb), hook) is not getattr(Callback, hook) or hook in vars(cb)


class CallbackList:
    """Calls every callback's hook; batch hooks only on callbacks that override them (fast path)."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        self._batch_end = [cb for cb in self.callbacks if _overrides(cb, "on_train_batch_end")]
        self._batch_begin = [cb for cb in self.callbacks if _overrides(cb, "on_train_batch_begin")]

    def __getattr__(self, hook):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args):
            for cb in self.callbacks:
                getattr(cb, hook)(*args)
        return call
