"""Weight initializers with Keras 3's names and rules.

Each initializer is a callable ``init(shape, dtype, rng) -> array``; ``get(identifier)``
accepts a name (``"glorot_uniform"``, ``"orthogonal"``, ``"zeros"``, ...), a config dict, an
instance, or a callable. Random initializers take Keras 3's ``seed``: an int makes every call
return the same values for the same shape (and ``rng`` is then not used); without one they
draw from ``rng``, a ``numpy.random.Generator`` a layer passes (from the layer's ``seed`` or,
without one, from NumPy's global RNG, so ``np.random.seed`` makes runs repeatable), and an
unseeded instance called directly repeats its values as Keras's does (a seed drawn once, at
its first direct call). Configs (``get_config``/``from_config``) carry Keras's keys, ``seed`` included.

Fans follow Keras: for a kernel of shape (fan_in, fan_out) the fans are its two dimensions.

Example::

    >>> from pyrnn import initializers
    >>> w = initializers.get("glorot_uniform")((4, 8), "float32", np.random.default_rng(0))
    >>> w.shape
    (4, 8)
"""

from __future__ import annotations

import math

import numpy as np


def _fans(shape, input_axes=None, output_axes=None):
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return int(math.prod(shape[a] for a in input_axes)), int(math.prod(shape[a] for a in output_axes))
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def default_rng(seed=None):
    """A Generator from ``seed``, or drawn from NumPy's global RNG when seed is None."""
    if seed is None:
        seed = np.random.randint(0, 2**31 - 1)  # noqa: NPY002  (np.random.seed reaches layers, as in Keras)
    return np.random.default_rng(seed)


class Initializer:
    """Base class: ``init(shape, dtype="float32", rng=None) -> array``."""

    def __call__(self, shape, dtype="float32", rng=None):
        rng = default_rng() if rng is None else rng
        return np.asarray(self.sample(tuple(shape), rng), dtype=dtype)

    def sample(self, shape, rng):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("dtype", None)
        return cls(**config)

    def clone(self):
        return type(self).from_config(self.get_config())

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class RandomInitializer(Initializer):
    """An initializer drawing random numbers, with Keras 3's ``seed``:

    - an int: every call draws from a Generator seeded with it, so the same shape gives the
      same values, call after call, instance after instance (and a clone from the config too);
    - a ``numpy.random.Generator`` (Keras's SeedGenerator): each call draws the next values;
    - None: a layer's Generator when the layer passes one (``rng``, from the layer's ``seed`` or
      NumPy's global RNG); called directly, a seed drawn once, at the first such call (from
      NumPy's global RNG), so the instance repeats its values as Keras's does, and a clone from
      the config draws a new one.
    """

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, (bool, float))
                                 or not isinstance(seed, (int, np.integer, np.random.Generator))):
            raise ValueError("`seed` argument should be an instance of `numpy.random.Generator` or an integer. "
                             f"Received: seed={seed!r}")
        self._init_seed = seed
        self._seed = int(seed) if isinstance(seed, (int, np.integer)) else seed

    @property
    def seed(self):
        """The seed in use: the one given, or (unseeded) one drawn from NumPy's global RNG the
        first time it is needed (not when a layer's Generator serves the call)."""
        if self._seed is None:
            self._seed = int(np.random.randint(1, int(1e9)))  # noqa: NPY002  (np.random.seed reaches it, as in Keras)
        return self._seed

    def _generator(self, rng):
        if isinstance(self._seed, np.random.Generator):
            return self._seed
        if self._init_seed is not None:
            return np.random.default_rng(self._seed)
        return rng if rng is not None else np.random.default_rng(self.seed)

    def __call__(self, shape, dtype="float32", rng=None):
        return np.asarray(self.sample(tuple(shape), self._generator(rng)), dtype=dtype)

    def get_config(self):
        seed = self._init_seed
        if isinstance(seed, np.random.Generator):
            seed = None  # a Generator's state is not part of the config
        return {"seed": None if seed is None else int(seed)}


class Zeros(Initializer):
    def sample(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    def sample(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = float(value) if np.ndim(value) == 0 else np.asarray(value)

    def sample(self, shape, rng):
        return np.broadcast_to(self.value, shape) * np.ones(shape)

    def get_config(self):
        return {"value": self.value if np.ndim(self.value) == 0 else self.value.tolist()}


class _Array(Initializer):
    """An array given as an initializer (Keras's get(tensor)): returned as is for its shape."""

    def __init__(self, value):
        self.value = np.asarray(value)

    def sample(self, shape, rng):
        if tuple(shape) != self.value.shape:
            raise ValueError(f"Expected `shape` to be {self.value.shape} for the initializer array, got {tuple(shape)}")
        return self.value

    def get_config(self):
        return {"value": self.value.tolist()}


class RandomUniform(RandomInitializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = float(minval), float(maxval)
        super().__init__(seed=seed)

    def sample(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


class RandomNormal(RandomInitializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = float(mean), float(stddev)
        super().__init__(seed=seed)

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


def _truncated_normal(shape, rng):
    """Standard normal values, redrawn when more than two standard deviations from 0."""
    out = rng.normal(size=shape)
    bad = np.abs(out) > 2
    while bad.any():
        out[bad] = rng.normal(size=int(bad.sum()))
        bad = np.abs(out) > 2
    return out


class TruncatedNormal(RandomNormal):
    """Normal values, redrawn when more than two standard deviations from the mean."""

    def sample(self, shape, rng):
        return self.mean + self.stddev * _truncated_normal(shape, rng)


class VarianceScaling(RandomInitializer):
    """scale / n, n = fan_in, fan_out or their mean; drawn from a truncated normal
    (stddev corrected by 0.8796...), an untruncated normal, or a uniform distribution."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
        if not scale > 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"Invalid `mode` argument: {mode}. Please use one of {{'fan_in', 'fan_out', 'fan_avg'}}")
        distribution = str(distribution).lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"Invalid `distribution` argument: {distribution}.Please use one of "
                             "{'uniform', 'truncated_normal', 'untruncated_normal'}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed=seed)

    def sample(self, shape, rng):
        fan_in, fan_out = _fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), size=shape)
        return math.sqrt(variance) / 0.87962566103423978 * _truncated_normal(shape, rng)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "input_axes": self.input_axes, "output_axes": self.output_axes}


def _scaling(name, scale, mode, distribution):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed=seed, input_axes=input_axes,
                                 output_axes=output_axes)

    def get_config(self):
        return {**RandomInitializer.get_config(self), "input_axes": self.input_axes, "output_axes": self.output_axes}

    return type(name, (VarianceScaling,), {
        "__init__": __init__, "get_config": get_config,
        "__doc__": f"VarianceScaling(scale={scale}, mode={mode!r}, distribution={distribution!r})."})


GlorotUniform = _scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    """An orthogonal matrix (QR of a normal matrix, signs fixed by R's diagonal) times gain."""

    def __init__(self, gain=1.0, seed=None):
        self.gain = float(gain)
        super().__init__(seed=seed)

    def sample(self, shape, rng):
        if len(shape) < 2:
            raise ValueError(f"The tensor to initialize must be at least two-dimensional. Received: shape={shape} of "
                             f"rank {len(shape)}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


class Identity(Initializer):
    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def sample(self, shape, rng):
        if len(shape) != 2:
            raise ValueError(f"Identity matrix initializer can only be used for 2D matrices. Received: shape={shape} "
                             f"of rank {len(shape)}.")
        return self.gain * np.eye(*shape)

    def get_config(self):  # Keras leaves gain out (so its round trip loses it); kept here
        return {"gain": self.gain}


_ALIASES = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "random_uniform": RandomUniform, "uniform": RandomUniform, "random_normal": RandomNormal,
    "normal": RandomNormal, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "OrthogonalInitializer": Orthogonal, "identity": Identity,
    "IdentityInitializer": Identity, "ConstantInitializer": Constant, "OnesInitializer": Ones,
    "ZerosInitializer": Zeros,
}
for _cls in set(_ALIASES.values()):
    _ALIASES[_cls.__name__] = _cls


def get(identifier):
    """An initializer from a name (Keras's names, snake or Camel case), a config dict, a class,
    an instance, a callable, an array (returned for its own shape) or None."""
    if identifier is None:
        return None
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, dict):  # {"class_name": ..., "config": {...}}
        name = identifier.get("class_name")
        if name not in _ALIASES:
            raise ValueError(f"Unknown initializer class {name!r}; known: {sorted(k for k in _ALIASES if k.islower())}")
        return _ALIASES[name].from_config(identifier.get("config") or {})
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]()
    if isinstance(identifier, np.ndarray):
        return _Array(identifier)
    raise ValueError(f"Unknown initializer {identifier!r}; known: {sorted(k for k in _ALIASES if k.islower())}")


def serialize(init):
    """Keras's format: {"module", "class_name", "config", "registered_name"}."""
    for name, cls in _ALIASES.items():
        if type(init) is cls and not name.islower() and not name.endswith("Initializer"):
            return {"module": "keras.initializers", "class_name": name, "config": init.get_config(),
                    "registered_name": None}
    raise ValueError(f"cannot serialize initializer {init!r}")


def deserialize(config, custom_objects=None):
    if custom_objects and isinstance(config, dict) and config.get("class_name") in custom_objects:
        return custom_objects[config["class_name"]].from_config(config.get("config") or {})
    return get(config)
