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
import re
import warnings

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
_KERAS_SLOT_NAMES = {"m": "momentum", "v": "velocity", "v_hat": "velocity_hat"}


def _snake(name):
    return re.sub(r"(?<!^)(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


class Variable:
    """A variable, as ``keras.Variable``: ``name``, ``path``, ``shape``, ``dtype``, ``numpy()``
    (a copy), ``assign(value)``, an optional ``constraint`` (applied after each optimizer
    step); ``value`` is the live array, changed in place. ``optimizer.variables`` are views of
    the optimizer's state; trainable variables may be given to ``apply_gradients`` as
    Variables (for their names and constraints) or as plain NumPy arrays."""

    def __init__(self, value, name=None, path=None, constraint=None, dtype=None):
        value = value if isinstance(value, np.ndarray) and dtype is None else np.asarray(value, dtype=dtype)
        if value.dtype.kind != "f" and dtype is None:
            value = value.astype(np.float32)  # as Keras: a variable of numbers is floatx
        self.value = value
        self.name = name or "variable"
        self.path = path or self.name
        self.constraint = constraint

    shape = property(lambda self: self.value.shape)
    dtype = property(lambda self: self.value.dtype)

    def numpy(self):
        return np.array(self.value)

    def assign(self, value):
        self.value[...] = value

    def __array__(self, dtype=None, copy=None):
        return np.array(self.value, dtype=dtype, copy=True if copy is None else copy)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, value={self.value}>"


def _array_of(v):
    return v.value if isinstance(v, Variable) else v


class Optimizer:
    """Base class with Keras 3's arguments: learning rate (a float, a schedule or a callable),
    ``weight_decay`` (decoupled, ``w -= w·weight_decay·lr`` before the step, on the variables
    not excluded by ``exclude_from_weight_decay``), ``clipnorm``/``clipvalue``/``global_clipnorm``
    (one of), ``use_ema``/``ema_momentum``/``ema_overwrite_frequency``, ``loss_scale_factor``,
    ``gradient_accumulation_steps``.

    Keras's order in one step: accumulate (when accumulating, only every n-th call updates,
    with the mean of the n gradients), clip, decay, update, then the EMA of the variables
    (every call; the first call copies them) and, every ``ema_overwrite_frequency`` steps,
    the variables overwritten by their EMA. ``finalize_variable_values`` writes the EMA into
    the variables (Keras's fit does so at the end of training).

    Subclasses name their per-parameter slots in ``_slot_names`` (grouped as Keras creates
    them in ``_slot_groups``) and implement ``_update(w, g, lr)`` on flat arrays, changing
    ``w`` in place.
    """

    _slot_names: tuple[str, ...] = ()
    _slot_groups: tuple[tuple[str, ...], ...] | None = None

    def __init__(self, learning_rate=0.001, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.", stacklevel=2)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if gradient_accumulation_steps:
            if isinstance(gradient_accumulation_steps, bool) or int(gradient_accumulation_steps) != \
                    gradient_accumulation_steps or not gradient_accumulation_steps >= 2:
                raise ValueError("`gradient_accumulation_steps` must be an integer >= 2. Received: "
                                 f"gradient_accumulation_steps={gradient_accumulation_steps}")
            gradient_accumulation_steps = int(gradient_accumulation_steps)
        if use_ema:
            if ema_momentum > 1 or ema_momentum < 0:
                raise ValueError(f"`ema_momentum` must be in the range [0, 1]. Received: ema_momentum={ema_momentum}")
            if ema_overwrite_frequency and (not isinstance(ema_overwrite_frequency, int)
                                            or ema_overwrite_frequency < 1):
                raise ValueError("`ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                                 f"ema_overwrite_frequency={ema_overwrite_frequency}")
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                             f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        if loss_scale_factor is not None and not loss_scale_factor > 0:
            raise ValueError(f"`loss_scale_factor` must be a positive number. Received: "
                             f"loss_scale_factor={loss_scale_factor}")
        self.name = name or _snake(type(self).__name__)
        self.weight_decay = None if weight_decay is None else float(weight_decay)
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum = bool(use_ema), float(ema_momentum)
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._iterations = np.zeros((), np.int64)
        self._lr_var = None
        self._learning_rate = None
        self.learning_rate = learning_rate
        self._slots = None  # name -> flat array
        self._sizes = None
        self._exclude_ids, self._exclude_pattern = set(), None
        self._decay_mask = None
        self._var_names = self._var_shapes = self._var_ids = None
        self._constraints = None
        self._trainables = None
        self._tracked = None  # the arrays (or the flat vector) last updated, for finalize/swap

    # --------------------------------------------------------------- learning rate, steps
    @property
    def learning_rate(self):
        """The current learning rate (a schedule is evaluated at the current step)."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return float(lr(int(self._iterations)))
        if callable(lr):
            return float(lr())
        return float(self._lr_var)

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule) or callable(value):
            self._learning_rate, self._lr_var = value, None
            return
        if isinstance(self._learning_rate, LearningRateSchedule):
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object as its `learning_rate` "
                            "constructor argument, hence its learning rate is not settable. If you need the learning "
                            "rate to be settable, you should instantiate the optimizer with a float `learning_rate` "
                            "argument.")
        if isinstance(value, (bool, str)) or value is None or not np.isscalar(value) and np.ndim(value) != 0:
            raise ValueError("Argument `learning_rate` should be float, or an instance of LearningRateSchedule, or a "
                             "callable (that takes in the current iteration value and returns the corresponding "
                             f"learning rate value). Received instead: learning_rate={value!r}")
        self._learning_rate = None
        self._lr_var = np.array(float(value))

    lr = learning_rate

    @property
    def iterations(self):
        """Optimizer steps taken (calls / gradient_accumulation_steps when accumulating)."""
        n = int(self._iterations)
        return n // self.gradient_accumulation_steps if self.gradient_accumulation_steps else n

    @iterations.setter
    def iterations(self, value):
        self._iterations[...] = int(value)

    def scale_loss(self, loss):
        """The loss times ``loss_scale_factor`` (gradients of it are divided back in each step)."""
        return loss * self.loss_scale_factor if self.loss_scale_factor is not None else loss

    # --------------------------------------------------------------- building
    def build(self, variables, dtype=np.float32, shapes=None, names=None, constraints=None):
        """Create the slots. ``variables``: the arrays (or Variables) to train, or (pyrnn's model)
        their sizes in one flat vector, with optional ``shapes``, ``names`` (for ``variables``
        and ``exclude_from_weight_decay(var_names=...)``) and ``constraints`` (one callable or
        None per variable, applied to the variable's array, of its shape, after every step)."""
        variables = list(variables)
        self._trainables = None
        if variables and not all(isinstance(v, (int, np.integer)) for v in variables):
            arrays = [np.asarray(_array_of(v)) for v in variables]
            self._var_ids = [id(v) for v in variables]
            self._trainables = variables
            shapes = [a.shape for a in arrays] if shapes is None else shapes
            names = [getattr(v, "name", None) or f"variable_{i}" for i, v in enumerate(variables)] \
                if names is None else names
            if constraints is None and any(getattr(v, "constraint", None) is not None for v in variables):
                constraints = [getattr(v, "constraint", None) for v in variables]
            sizes, dtype = [a.size for a in arrays], (arrays[0].dtype if arrays else dtype)
        else:
            sizes = variables
            self._var_ids = None
        if constraints is not None:
            constraints = list(constraints)
            if len(constraints) != len(sizes):
                raise ValueError(f"build: {len(constraints)} constraints for {len(sizes)} variables")
            if any(c is not None for c in constraints) and shapes is None:
                raise ValueError("build: constraints need the variables' shapes (shapes=...)")
        self._constraints = constraints if constraints and any(c is not None for c in constraints) else None
        self._sizes = [int(s) for s in sizes]
        self._var_shapes = None if shapes is None else [tuple(s) for s in shapes]
        self._var_names = None if names is None else [str(n) for n in names]
        total = sum(self._sizes)
        self._offsets = np.cumsum([0] + self._sizes[:-1]) if self._sizes else np.zeros(0, np.int64)
        names = list(self._slot_names)
        if self.use_ema:
            names.append("average")
        if self.gradient_accumulation_steps:
            names.append("gradient_accumulator")
        self._slots = {name: self._initial_slot(name, total, dtype) for name in names}
        self._tmp = np.empty(total, dtype), np.empty(total, dtype)
        self._make_decay_mask(dtype)

    def _initial_slot(self, name, size, dtype):
        return np.zeros(size, dtype)

    @property
    def built(self):
        return self._slots is not None

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Exclude variables from weight decay: those in ``var_list`` (the same array objects
        given to ``build``/``apply_gradients``) and those whose name contains any string of
        ``var_names`` (a regular expression search, as Keras)."""
        self._exclude_ids = {id(v) for v in var_list} if var_list else set()
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None
        if self.built:
            self._make_decay_mask(next(iter(self._slots.values())).dtype if self._slots else np.float32)

    def _uses_weight_decay(self, i):
        if self._var_ids is not None and self._var_ids[i] in self._exclude_ids:
            return False
        if self._exclude_pattern is not None and self._var_names is not None:
            return self._exclude_pattern.search(self._var_names[i]) is None
        return True

    def _make_decay_mask(self, dtype):
        self._decay_mask = None
        if not self._sizes or (not self._exclude_ids and self._exclude_pattern is None):
            return
        if self._exclude_pattern is not None and self._var_names is None:
            raise ValueError("exclude_from_weight_decay(var_names=...): this optimizer was built from sizes "
                             "without variable names; pass names= to build()")
        if self._exclude_ids and self._var_ids is None:
            raise ValueError("exclude_from_weight_decay(var_list=...): this optimizer was built from sizes, not from "
                             "the variables themselves; exclude by var_names (with names= given to build())")
        use = [self._uses_weight_decay(i) for i in range(len(self._sizes))]
        if not all(use):
            self._decay_mask = np.repeat(np.array(use, dtype), self._sizes)

    @property
    def variables(self):
        """Keras's list: iteration, learning_rate (unless a schedule or callable), then the
        per-variable state in Keras's order and names (``{variable}_{slot}``)."""
        out = [Variable(self._iterations, "iteration", f"{self.name}/iteration", dtype=np.int64)]
        if self._lr_var is not None:
            out.append(Variable(self._lr_var, "learning_rate", f"{self.name}/learning_rate", dtype=self._lr_var.dtype))
        if not self.built:
            return out
        groups = self._variable_groups()
        shapes = self._var_shapes or [(s,) for s in self._sizes]
        names = self._var_names or [f"variable_{i}" for i in range(len(self._sizes))]
        for group in groups:
            for i, off in enumerate(self._offsets):
                n = int(np.prod(shapes[i])) if shapes[i] else 1
                for slot in group:
                    view = self._slots[slot][off:off + n].reshape(shapes[i])
                    name = f"{names[i].replace('/', '_')}_{_KERAS_SLOT_NAMES.get(slot, slot)}"
                    out.append(Variable(view, name, f"{self.name}/{name}", dtype=view.dtype))
        return out

    def _variable_groups(self):
        """The slots as Keras creates them, in order: groups whose slots alternate per variable."""
        groups = []
        if self.use_ema:
            groups.append(("average",))
        if self.gradient_accumulation_steps:
            groups.append(("gradient_accumulator",))
        return groups + list(self._slot_groups or [(n,) for n in self._slot_names])

    # --------------------------------------------------------------- one step
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

    def apply_flat(self, w, g, loss_scaled=False):
        """One step on the flat parameter vector ``w`` (updated in place) with gradient ``g``.

        With ``loss_scale_factor`` the gradient must be that of ``scale_loss(loss)`` (say so with
        ``loss_scaled=True``); it is divided back here, as in Keras."""
        if self.loss_scale_factor is not None and not loss_scaled:
            raise NotImplementedError(
                f"{type(self).__name__}(loss_scale_factor={self.loss_scale_factor}): the training loop must scale "
                "the loss by optimizer.scale_loss() before its gradient and call apply_flat(..., loss_scaled=True); "
                "pyrnn's fit does not do so yet")
        if self._slots is None or sum(self._sizes) != w.size:
            self.build([w.size], w.dtype)
        self._tracked = w
        self._step(w, g)
        self._constrain(w)

    def _constrain(self, w):
        """Each variable's constraint applied to its segment of the flat vector (Keras: after
        every apply, also on accumulation steps)."""
        if self._constraints is None:
            return
        for c, off, shape in zip(self._constraints, self._offsets, self._var_shapes):
            if c is not None:
                n = int(np.prod(shape)) if shape else 1
                view = w[off:off + n].reshape(shape)
                view[...] = c(np.array(view))

    def _step(self, w, g):
        if self.loss_scale_factor is not None:
            g = g / g.dtype.type(self.loss_scale_factor)
        steps = self.gradient_accumulation_steps
        if steps:
            acc = self._slots["gradient_accumulator"]
            if (int(self._iterations) + 1) % steps:
                acc += g
                self._ema(w)
                self._iterations += 1
                return
            g = (g + acc) / g.dtype.type(steps)
            acc.fill(0)
        g = self._clip(g)
        lr = self.learning_rate
        if self.weight_decay:
            decay = w * w.dtype.type(self.weight_decay * lr)
            if self._decay_mask is not None:
                decay *= self._decay_mask
            w -= decay
        self._update(w, g, w.dtype.type(lr))
        self._ema(w)
        self._iterations += 1

    def _ema(self, w):
        if not self.use_ema:
            return
        avg = self._slots["average"]
        momentum = self.ema_momentum if self.iterations != 0 else 0.0
        avg *= avg.dtype.type(momentum)
        avg += w * w.dtype.type(1 - momentum)
        if self.ema_overwrite_frequency and (self.iterations + 1) % self.ema_overwrite_frequency == 0:
            w[...] = avg

    def apply_gradients(self, grads_and_vars):
        """Update each variable (a NumPy array or a Variable, changed in place) with its
        gradient; returns the step count. Gradients of a scaled loss (``loss_scale_factor``) are
        divided back. A None gradient leaves its variable and that variable's state alone (a
        warning); all None is a ValueError, as in Keras."""
        pairs = list(grads_and_vars)
        if not pairs:
            return self.iterations
        if self._slots is None:
            self.build([v for _, v in pairs])
        variables = [v for _, v in pairs]
        if self._var_ids is not None and [id(v) for v in variables] != self._var_ids:
            known = {k: i for i, k in enumerate(self._var_ids)}
            unknown = [i for i, v in enumerate(variables) if id(v) not in known]
            if unknown:
                raise ValueError(f"Unknown variable(s) at position(s) {unknown}: this optimizer can only be called for "
                                 "the variables it was originally built with. When working with a new set of "
                                 "variables, you should recreate a new optimizer instance.")
        elif self._var_ids is None and len(variables) != len(self._sizes):
            raise ValueError(f"apply_gradients: {len(variables)} variables, but the optimizer was built for "
                             f"{len(self._sizes)}")
        index = {k: i for i, k in enumerate(self._var_ids)} if self._var_ids is not None else \
            {id(v): i for i, v in enumerate(variables)}
        grads = [None] * len(self._sizes)
        arrays = [None] * len(self._sizes)
        for g, v in pairs:
            i = index[id(v)]
            grads[i], arrays[i] = g, _array_of(v)
        if all(g is None for g in grads):
            raise ValueError(f"No gradients provided for any variable. Provided `grads_and_vars` is "
                             f"{[(None, getattr(v, 'name', 'array')) for v in variables]}.")
        skipped = [i for i, g in enumerate(grads) if g is None]
        if skipped:
            names = self._var_names or [f"variable_{i}" for i in range(len(self._sizes))]
            warnings.warn(f"Gradients do not exist for variables {[names[i] for i in skipped]} when minimizing the "
                          "loss. If using `model.compile()`, did you forget to provide a `loss` argument?",
                          stacklevel=2)
        dtype = next(a for a in arrays if a is not None).dtype
        offsets, sizes = self._offsets, self._sizes
        w = np.zeros(sum(sizes), dtype)
        gflat = np.zeros(sum(sizes), dtype)
        for i, (off, size) in enumerate(zip(offsets, sizes)):
            if arrays[i] is not None:
                w[off:off + size] = np.reshape(arrays[i], -1)
                if grads[i] is not None:
                    gflat[off:off + size] = np.reshape(np.asarray(grads[i], dtype=dtype), -1)
        saved = {}
        for i in skipped:  # a variable without gradient: no update of it or of its state (but its EMA)
            sl = slice(offsets[i], offsets[i] + sizes[i])
            saved[i] = {k: v[sl].copy() for k, v in self._slots.items() if k != "average"}
        self._step(w, gflat)
        self._constrain(w)
        for i, (off, size) in enumerate(zip(offsets, sizes)):
            if i in saved:
                for k, v in saved[i].items():
                    self._slots[k][off:off + size] = v
            elif arrays[i] is not None:
                np.copyto(arrays[i], w[off:off + size].reshape(np.shape(arrays[i])))
        self._tracked = list(arrays)
        return self.iterations

    def apply(self, grads, trainable_variables=None):
        """Keras's ``apply(grads, trainable_variables)``."""
        if trainable_variables is None:
            if not self.built or self._trainables is None:
                raise ValueError("When passing `grads` without `variables`, the optimizer must already be built on a "
                                 "list of variables. Call `optimizer.build(trainable_variables)` first. ")
            trainable_variables = self._trainables
        return self.apply_gradients(zip(grads, trainable_variables))

    def _update(self, w, g, lr):
        raise NotImplementedError

    def set_weights(self, weights):
        """Set ``variables`` (Keras's order) from a list of arrays."""
        if not self.built:
            raise ValueError("You are calling `set_weights()` on an optimizer that has not yet been built. Please "
                             "call `optimizer.build(trainable_variables)` to create the optimizer weights before "
                             "calling `set_weights()`.")
        variables = self.variables
        if len(weights) != len(variables):
            raise ValueError(f"set_weights: expected {len(variables)} arrays, got {len(weights)}")
        for var, value in zip(variables, weights):
            value = np.asarray(value)
            if value.shape != var.shape:
                raise ValueError(f"set_weights: {var.name} has shape {var.shape}, got {value.shape}")
            var.assign(value)

    def get_weights(self):
        return [v.numpy() for v in self.variables]

    # --------------------------------------------------------------- EMA
    def _ema_pairs(self, var_list):
        if not self.use_ema:
            raise ValueError(f"{type(self).__name__}: the optimizer has no EMA of the variables (use_ema=False)")
        if not self.built:
            raise ValueError(f"{type(self).__name__}: not built yet, no EMA to use")
        var_list = self._tracked if var_list is None else var_list
        avg = self._slots["average"]
        if isinstance(var_list, np.ndarray) and var_list.ndim == 1 and var_list.size == avg.size:
            return [(var_list, avg)]
        var_list = [_array_of(v) for v in var_list]
        if len(var_list) != len(self._sizes):
            raise ValueError(f"The length of model variables ({len(var_list)}) to override does not match the length "
                             f"of model variables stored in the optimizer ({len(self._sizes)}). Please check if the "
                             "optimizer was called on your model.")
        return [(v, avg[off:off + v.size].reshape(v.shape)) for v, off in zip(var_list, self._offsets)]

    def finalize_variable_values(self, var_list=None):
        """With ``use_ema``, overwrite the variables (default: those last updated) with their EMA."""
        if self.use_ema:
            for v, a in self._ema_pairs(var_list):
                v[...] = a

    def swap_ema_weights(self, var_list=None):
        """Exchange the variables and their EMA in place (Keras's SwapEMAWeights callback)."""
        for v, a in self._ema_pairs(var_list):
            tmp = np.array(v)
            v[...] = a
            a[...] = tmp

    def finalize_ema_values(self, var_list=None):
        """Set the EMA to the variables' values (SwapEMAWeights after an evaluation on the EMA)."""
        for v, a in self._ema_pairs(var_list):
            a[...] = v

    # --------------------------------------------------------------- state, for saving and resuming
    def get_state(self):
        return {"iterations": int(self._iterations), "sizes": list(self._sizes or []),
                "slots": {k: v.copy() for k, v in (self._slots or {}).items()}}

    def set_state(self, state):
        if state.get("sizes"):
            dtype = next(iter(state["slots"].values())).dtype if state["slots"] else np.float32
            self.build(state["sizes"], dtype, shapes=self._var_shapes, names=self._var_names)
            for k, v in state["slots"].items():
                self._slots[k][...] = v
        self._iterations[...] = int(state["iterations"])

    def get_config(self):
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            lr = {"module": "keras.optimizers.schedules", "class_name": type(lr).__name__, "config": lr.get_config(),
                  "registered_name": None}
        elif lr is None:
            lr = float(self._lr_var)
        else:
            raise ValueError(f"{type(self).__name__}.get_config: a callable learning rate cannot be serialized")
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue, "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum, "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = _SCHEDULES[lr["class_name"]](**lr["config"])
        return cls(**config)


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not 0 <= momentum <= 1:
            raise ValueError(f"`momentum` must be a float between [0, 1]. Received: momentum={momentum}")
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
    _slot_groups = (("m", "v"),)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), amsgrad
        if amsgrad:
            self._slot_names = ("m", "v", "v_hat")
            self._slot_groups = (("m", "v"), ("v_hat",))

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
    """Adam with decoupled weight decay (Keras: ``weight_decay`` must be a float)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 **kwargs):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad,
                         weight_decay=weight_decay, **kwargs)


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
        if name != "accumulator":
            return super()._initial_slot(name, size, dtype)
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


def deserialize(config, custom_objects=None):
    """An optimizer from ``serialize``'s output (Keras's {"class_name", "config", ...} dict)."""
    objects = {**_OPTIMIZERS, **(custom_objects or {})}
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = objects.get(name) or objects.get(str(name).lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer {name!r}; known: SGD, Adam, AdamW, RMSprop, Adagrad")
    return cls.from_config(dict(config.get("config") or {}), custom_objects)


def get(identifier):
    """An optimizer from a name ("adam", "sgd", "rmsprop", "adagrad", "adamw"), a config dict
    or an instance."""
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier in _OPTIMIZERS:
        return _OPTIMIZERS[identifier]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Unknown optimizer {identifier!r}; known: sgd, adam, adamw, rmsprop, adagrad")


def serialize(optimizer):
    """Keras's format: {"module", "class_name", "config", "registered_name"}."""
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__, "config": optimizer.get_config(),
            "registered_name": None}
