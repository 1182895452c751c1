"""Weight initializers with Keras 3's names and rules.

Each initializer is a callable ``init(shape, dtype, rng) -> array``; ``get(identifier)``
accepts a name (``"glorot_uniform"``, ``"orthogonal"``, ``"zeros"``, ...), an instance, or a
callable. ``rng`` is a ``numpy.random.Generator`` (a layer's ``seed`` argument or, without
one, a generator drawn from NumPy's global RNG, so ``np.random.seed`` makes runs repeatable).

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


def _fans(shape):
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
    def __call__(self, shape, dtype="float32", rng=None):
        rng = default_rng() if rng is None else rng
        return np.asarray(self.sample(tuple(shape), rng), dtype=dtype)

    def sample(self, shape, rng):
        raise NotImplementedError

    def get_config(self):
        return dict(vars(self))

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class Zeros(Initializer):
    def sample(self, shape, rng):
        return np.zeros(shape)


class Ones(Initializer):
    def sample(self, shape, rng):
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = float(value)

    def sample(self, shape, rng):
        return np.full(shape, self.value)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval, self.maxval = float(minval), float(maxval)

    def sample(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, size=shape)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05):
        self.mean, self.stddev = float(mean), float(stddev)

    def sample(self, shape, rng):
        return rng.normal(self.mean, self.stddev, size=shape)


class TruncatedNormal(RandomNormal):
    """Normal values, redrawn when more than two standard deviations from the mean."""

    def sample(self, shape, rng):
        out = rng.normal(size=shape)
        bad = np.abs(out) > 2
        while bad.any():
            out[bad] = rng.normal(size=int(bad.sum()))
            bad = np.abs(out) > 2
        return self.mean + self.stddev * out


class VarianceScaling(Initializer):
    """scale / n, n = fan_in, fan_out or their mean; drawn from a truncated normal
    (stddev corrected by 0.8796...), an untruncated normal, or a uniform distribution."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode must be fan_in, fan_out or fan_avg, got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"distribution must be truncated_normal, untruncated_normal or uniform, got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def sample(self, shape, rng):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), size=shape)
        return TruncatedNormal(0.0, math.sqrt(variance) / 0.87962566103423978).sample(shape, rng)


def _scaling(name, scale, mode, distribution):
    cls = type(name, (VarianceScaling,), {
        "__init__": lambda self: VarianceScaling.__init__(self, scale, mode, distribution),
        "get_config": lambda self: {},
        "__doc__": f"VarianceScaling(scale={scale}, mode={mode!r}, distribution={distribution!r})."})
    return cls


GlorotUniform = _scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    """An orthogonal matrix (QR of a normal matrix, signs fixed by R's diagonal) times gain."""

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def sample(self, shape, rng):
        if len(shape) < 2:
            raise ValueError(f"orthogonal needs a shape of at least 2 dimensions, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)


class Identity(Initializer):
    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def sample(self, shape, rng):
        if len(shape) != 2:
            raise ValueError(f"identity needs a 2-D shape, got {shape}")
        return self.gain * np.eye(*shape)


_ALIASES = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "random_uniform": RandomUniform, "uniform": RandomUniform, "random_normal": RandomNormal,
    "normal": RandomNormal, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "identity": Identity,
}
for _cls in set(_ALIASES.values()):
    _ALIASES[_cls.__name__] = _cls


def get(identifier):
    """An initializer from a name (Keras's names, snake or Camel case), an instance or a callable."""
    if isinstance(identifier, Initializer) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if isinstance(identifier, dict):  # {"class_name": ..., "config": {...}}
        return _ALIASES[identifier["class_name"]](**identifier.get("config", {}))
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]()
    raise ValueError(f"Unknown initializer {identifier!r}; known: {sorted(k for k in _ALIASES if k.islower())}")


def serialize(init):
    for name, cls in _ALIASES.items():
        if type(init) is cls and not name.islower():
            return {"class_name": name, "config": init.get_config()}
    raise ValueError(f"cannot serialize initializer {init!r}")
