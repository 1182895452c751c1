"""Optimizers with Keras 3's update rules, defaults and gradient clipping.

An optimizer updates the model's parameters in place. The model hands it all trainable
parameters as one flat vector (the layers' arrays are views into it) with the matching flat
gradient, so one update is a handful of vector operations whatever the number of layers.
``apply_gradients([(grad, var), ...])`` works on separate arrays too.

Rules (g: gradient, lr: learning rate, t: step number starting at 1):

- SGD: ``m = momentum*m - lr*g``; ``w += m`` (nesterov: ``w += momentum*m - lr*g``); no momentum: ``w -= lr*g``.
- Adam: ``m += (g-m)(1-β1)``, ``v += (g²-v)(1-β2)``, ``w -= m·lr·√(1-β2ᵗ)/(1-β1ᵗ) / (√v + ε)``, ε = 1e-7.
- AdamW: Adam after decoupled weight decay ``w -= w·weight_decay·lr`` (default 0.004).
- RMSprop: ``v = ρv + (1-ρ)g²`` (centered: also ``a = ρa + (1-ρ)g``, v - a² below);
  ``Δ = lr·g/√(v + ε)``; with momentum ``m = momentum·m + Δ; w -= m``, else ``w -= Δ``.
- Adagrad: ``a += g²``; ``w -= lr·g/√(a + ε)``, a starts at 0.1.

Clipping (one of): ``clipnorm`` (each variable's gradient by its own norm), ``global_clipnorm``
(all gradients by their joint norm), ``clipvalue`` (elementwise). ``weight_decay`` on any optimizer.

Example::

    >>> from pyrnn import optimizers
    >>> opt = optimizers.Adam(learning_rate=1e-3, clipnorm=1.0)
    >>> w, g = np.ones(3, np.float32), np.full(3, 0.5, np.float32)
    >>> opt.apply_gradients([(g, w)])
    >>> w.round(4).tolist()
    [0.999, 0.999, 0.999]
"""

from __future__ import annotations

import math

import numpy as np

from . import _core


# ---------------------------------------------------------------------- schedules
class LearningRateSchedule:
    """A learning rate as a function of the optimizer step (``schedule(step) -> float``)."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        return dict(vars(self))


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (floored with staircase)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate, self.decay_steps = float(initial_learning_rate), int(decay_steps)
        self.decay_rate, self.staircase = float(decay_rate), bool(staircase)

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)


class InverseTimeDecay(LearningRateSchedule):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate, self.decay_steps = float(initial_learning_rate), int(decay_steps)
        self.decay_rate, self.staircase = float(decay_rate), bool(staircase)

    def __call__(self, step):
        p = step / self.decay_steps
        return self.initial_learning_rate / (1 + self.decay_rate * (math.floor(p) if self.staircase else p))


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` while ``step <= boundaries[i]`` (and the last value after the last boundary)."""

    def __init__(self, boundaries, values):
        if len(values) != len(boundaries) + 1:
            raise ValueError("PiecewiseConstantDecay: len(values) must be len(boundaries) + 1")
        self.boundaries, self.values = list(boundaries), [float(v) for v in values]

    def __call__(self, step):
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]


class CosineDecay(LearningRateSchedule):
    """Cosine from ``initial_learning_rate`` to ``alpha * initial_learning_rate`` over ``decay_steps``."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0):
        self.initial_learning_rate, self.decay_steps, self.alpha = float(initial_learning_rate), int(decay_steps), alpha

    def __call__(self, step):
        p = min(step, self.decay_steps) / self.decay_steps
        return self.initial_learning_rate * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * p)) + self.alpha)


class schedules:
    LearningRateSchedule = LearningRateSchedule
    ExponentialDecay = ExponentialDecay
    InverseTimeDecay = InverseTimeDecay
    PiecewiseConstantDecay = PiecewiseConstantDecay
    CosineDecay = CosineDecay


_SCHEDULES = {c.__name__: c for c in (ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, CosineDecay)}


# ---------------------------------------------------------------------- optimizers
class Optimizer:
    """Base class: learning rate (a float or a schedule), clipping, weight decay, step count.

    Subclasses name their per-parameter slots in ``_slot_names`` and implement
    ``_update(w, g, lr)`` on flat float arrays, changing ``w`` in place.
    """

    _slot_names: tuple[str, ...] = ()

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        unsupported = {k: v for k, v in kwargs.items() if v not in (None, False)
                       and k not in ("use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
                                     "gradient_accumulation_steps")}
        if unsupported or kwargs.get("use_ema") or kwargs.get("gradient_accumulation_steps"):
            raise TypeError(f"{type(self).__name__}: unsupported argument(s) {sorted(kwargs)}")
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of clipnorm, clipvalue and global_clipnorm can be set")
        self.name = name or type(self).__name__.lower()
        self._learning_rate = learning_rate
        self.weight_decay = None if weight_decay is None else float(weight_decay)
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.iterations = 0
        self._slots = None  # name -> flat array
        self._sizes = None

    @property
    def learning_rate(self):
        """The current learning rate (a schedule is evaluated at the current step)."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else float(lr)

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = value if callable(value) else float(value)

    lr = learning_rate

    def build(self, sizes, dtype=np.float32):
        """Create the slots for variables of the given sizes (flat, concatenated)."""
        self._sizes = [int(s) for s in sizes]
        total = sum(self._sizes)
        self._offsets = np.cumsum([0] + self._sizes[:-1]) if self._sizes else np.zeros(0, np.int64)
        self._slots = {name: self._initial_slot(name, total, dtype) for name in self._slot_names}
        self._tmp = np.empty(total, dtype), np.empty(total, dtype)

    def _initial_slot(self, name, size, dtype):
        return np.zeros(size, dtype)

    @property
    def built(self):
        return self._slots is not None

    def _clip(self, g):
        if self.clipnorm is not None and self.clipnorm > 0:
            sq = np.add.reduceat(np.square(g, dtype=np.float64), self._offsets) if g.size else np.zeros(0)
            norms = np.sqrt(sq)
            scale = np.where(norms > self.clipnorm, self.clipnorm / np.maximum(norms, 1e-30), 1.0)
            if (scale < 1).any():
                g = g * np.repeat(scale, self._sizes).astype(g.dtype)
        elif self.global_clipnorm is not None and self.global_clipnorm > 0:
            norm = math.sqrt(float(np.vdot(g, g)))
            if norm > self.global_clipnorm:
                g = g * g.dtype.type(self.global_clipnorm / norm)
        elif self.clipvalue is not None and self.clipvalue > 0:
            g = np.clip(g, -self.clipvalue, self.clipvalue)
        return g

    def apply_flat(self, w, g):
        """One step on the flat parameter vector ``w`` (updated in place) with gradient ``g``."""
        if self._slots is None or sum(self._sizes) != w.size:
            self.build([w.size], w.dtype)
        g = self._clip(g)
        lr = self.learning_rate
        if self.weight_decay:
            w -= w * w.dtype.type(self.weight_decay * lr)
        self._update(w, g, w.dtype.type(lr))
        self.iterations += 1

    def apply_gradients(self, grads_and_vars):
        """Update each variable (a NumPy array, changed in place) with its gradient."""
        pairs = [(np.asarray(g), v) for g, v in grads_and_vars]
        if not pairs:
            return
        if self._slots is None:
            self.build([v.size for _, v in pairs], pairs[0][1].dtype)
        self._offsets = np.cumsum([0] + [v.size for _, v in pairs[:-1]])
        w = np.concatenate([v.reshape(-1) for _, v in pairs])
        g = np.concatenate([g.reshape(-1) for g, _ in pairs]).astype(w.dtype)
        self.apply_flat(w, g)
        for (_, v), off in zip(pairs, self._offsets):
            v.reshape(-1)[...] = w[off:off + v.size]

    def _update(self, w, g, lr):
        raise NotImplementedError

    # state, for saving and resuming
    def get_state(self):
        return {"iterations": self.iterations, "sizes": list(self._sizes or []),
                "slots": {k: v.copy() for k, v in (self._slots or {}).items()}}

    def set_state(self, state):
        if state.get("sizes"):
            dtype = next(iter(state["slots"].values())).dtype if state["slots"] else np.float32
            self.build(state["sizes"], dtype)
            for k, v in state["slots"].items():
                self._slots[k][...] = v
        self.iterations = int(state["iterations"])

    def get_config(self):
        lr = self._learning_rate
        lr = {"class_name": type(lr).__name__, "config": lr.get_config()} if callable(lr) else lr
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = _SCHEDULES[lr["class_name"]](**lr["config"])
        return cls(**config)


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self._slot_names = ("momentum",) if self.momentum else ()

    def _update(self, w, g, lr):
        if not self.momentum:
            w -= g * lr
            return
        m, t = self._slots["momentum"], self._tmp[0][:w.size]
        mom = w.dtype.type(self.momentum)
        np.multiply(g, lr, out=t)
        m *= mom
        m -= t
        if self.nesterov:
            np.multiply(m, mom, out=self._tmp[1][:w.size])
            self._tmp[1][:w.size] -= t
            w += self._tmp[1][:w.size]
        else:
            w += m

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    _slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), amsgrad
        if amsgrad:
            self._slot_names = ("m", "v", "v_hat")

    def _update(self, w, g, lr):
        step = self.iterations + 1
        f = w.dtype.type  # Keras rounds the bias corrections to the variable's dtype before combining them
        alpha = lr * np.sqrt(f(1) - f(self.beta_2) ** f(step)) / (f(1) - f(self.beta_1) ** f(step))
        g = np.ascontiguousarray(g, dtype=w.dtype)
        _core.adam_update(w, g, self._slots["m"], self._slots["v"], self._slots.get("v_hat"), float(alpha),
                          1 - self.beta_1, 1 - self.beta_2, self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), centered
        self._slot_names = ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + (
            ("average_gradient",) if centered else ())

    def _update(self, w, g, lr):
        f = w.dtype.type
        rho = f(self.rho)
        v = self._slots["velocity"]
        v *= rho
        v += f(1 - self.rho) * np.square(g)
        if self.centered:
            a = self._slots["average_gradient"]
            a *= rho
            a += f(1 - self.rho) * g
            denominator = v - np.square(a) + f(self.epsilon)
        else:
            denominator = v + f(self.epsilon)
        increment = (lr * g) / np.sqrt(denominator)
        if self.momentum > 0:
            m = self._slots["momentum"]
            m *= f(self.momentum)
            m += increment
            w -= m
        else:
            w -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    _slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def _initial_slot(self, name, size, dtype):
        return np.full(size, self.initial_accumulator_value, dtype)

    def _update(self, w, g, lr):
        a = self._slots["accumulator"]
        a += np.square(g)
        w -= (lr * g) / np.sqrt(a + w.dtype.type(self.epsilon))

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}
for _cls in (SGD, Adam, AdamW, RMSprop, Adagrad):
    _OPTIMIZERS[_cls.__name__] = _cls


def get(identifier):
    """An optimizer from a name ("adam", "sgd", "rmsprop", "adagrad", "adamw") or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier in _OPTIMIZERS:
        return _OPTIMIZERS[identifier]()
    if isinstance(identifier, dict):
        return _OPTIMIZERS[identifier["class_name"]].from_config(identifier["config"])
    raise ValueError(f"Unknown optimizer {identifier!r}; known: sgd, adam, adamw, rmsprop, adagrad")


def serialize(optimizer):
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
