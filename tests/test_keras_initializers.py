"""Initializers: Keras 3's seed semantics and the expectations of its own tests
(keras/src/initializers/{random,constant}_initializers_test.py): statistics, orthogonality,
validation, configs and lookups; layers keep their own seeds."""

import numpy as np
import pytest

from pyrnn import initializers

RANDOM = [initializers.RandomNormal, initializers.RandomUniform, initializers.TruncatedNormal,
          initializers.VarianceScaling, initializers.GlorotUniform, initializers.GlorotNormal, initializers.HeUniform,
          initializers.HeNormal, initializers.LecunUniform, initializers.LecunNormal, initializers.Orthogonal]


@pytest.mark.parametrize("cls", RANDOM, ids=lambda c: c.__name__)
def test_seed_semantics(cls):
    shape = (6, 5)
    seeded = cls(seed=1337)
    a = seeded(shape)
    np.testing.assert_array_equal(a, seeded(shape))                      # the same instance, again
    np.testing.assert_array_equal(a, cls(seed=1337)(shape))              # another instance, same seed
    np.testing.assert_array_equal(a, cls.from_config(seeded.get_config())(shape))  # a clone from the config
    np.testing.assert_array_equal(a, seeded(shape, "float32", np.random.default_rng(0)))  # the seed wins over rng
    assert not np.array_equal(a, cls(seed=1338)(shape))
    assert seeded.seed == 1337 and seeded.get_config()["seed"] == 1337
    # unseeded: the instance repeats itself (Keras: a seed drawn when it is made); a clone differs
    unseeded = cls()
    b = unseeded(shape)
    np.testing.assert_array_equal(b, unseeded(shape))
    assert unseeded.get_config()["seed"] is None
    assert not np.array_equal(b, cls.from_config(unseeded.get_config())(shape))
    # a Generator (Keras's SeedGenerator): new values each call
    gen = cls(seed=np.random.default_rng(7))
    assert not np.array_equal(gen(shape), gen(shape))
    # unseeded in a layer: the layer's Generator decides
    np.testing.assert_array_equal(unseeded(shape, "float32", np.random.default_rng(3)),
                                  cls()(shape, "float32", np.random.default_rng(3)))
    # np.random.seed makes unseeded initializers repeatable
    np.random.seed(11)  # noqa: NPY002  (the global RNG is what is tested)
    c = cls()(shape)
    np.random.seed(11)  # noqa: NPY002  (the global RNG is what is tested)
    np.testing.assert_array_equal(c, cls()(shape))


@pytest.mark.parametrize("bad", [1.5, "1", True, [1]])
def test_bad_seed(bad):
    with pytest.raises(ValueError, match="`seed` argument should be"):
        initializers.RandomNormal(seed=bad)


def test_random_normal_and_uniform():
    init = initializers.RandomNormal(mean=0.0, stddev=1.0, seed=1234)
    values = init(shape=(25, 20))
    assert init.mean == 0.0 and init.stddev == 1.0 and init.seed == 1234 and values.shape == (25, 20)
    assert abs(np.std(values) - 1.0) < 0.1
    init = initializers.RandomUniform(minval=-1.0, maxval=1.0, seed=1234)
    values = init(shape=(5, 5))
    assert init.minval == -1.0 and init.maxval == 1.0 and values.shape == (5, 5)
    assert values.min() >= -1.0 and values.max() < 1.0
    assert initializers.RandomUniform().get_config() == {"seed": None, "minval": -0.05, "maxval": 0.05}
    assert initializers.RandomNormal(seed=3).get_config() == {"seed": 3, "mean": 0.0, "stddev": 0.05}


def test_variance_scaling():
    for mode, n in (("fan_in", 25), ("fan_out", 20)):
        init = initializers.VarianceScaling(scale=2.0, seed=1234, mode=mode)
        values = init(shape=(25, 20))
        assert init.scale == 2.0 and init.seed == 1234 and values.shape == (25, 20)
        assert abs(np.std(values) - np.sqrt(2.0 / n)) < 0.1
    init = initializers.VarianceScaling(scale=2.0, seed=1234, mode="fan_in", input_axes=[0], output_axes=[1, 2])
    assert abs(np.std(init(shape=(32, 4, 16))) - np.sqrt(2.0 / 32)) < 0.1
    init = initializers.VarianceScaling(scale=2.0, seed=1234, mode="fan_in")
    assert abs(np.std(init(shape=(32, 4, 16))) - np.sqrt(2.0 / 128)) < 0.1
    assert initializers._fans((512, 8, 64), input_axes=[0], output_axes=[1, 2]) == (512, 512)
    assert initializers._fans((512, 8, 64), input_axes=[0, 1], output_axes=[2]) == (512 * 8, 64)
    assert initializers.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    assert initializers.VarianceScaling().get_config() == {
        "seed": None, "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal", "input_axes": None,
        "output_axes": None}
    assert initializers.GlorotUniform(seed=3).get_config() == {"seed": 3, "input_axes": None, "output_axes": None}
    with pytest.raises(ValueError, match="Argument `scale` must be positive float."):
        initializers.VarianceScaling(scale=-1.0, seed=1234)
    with pytest.raises(ValueError, match="Invalid `mode` argument:"):
        initializers.VarianceScaling(scale=2.0, mode="invalid_mode")
    with pytest.raises(ValueError, match="Invalid `distribution` argument:"):
        initializers.VarianceScaling(scale=2.0, distribution="invalid_dist")


def test_orthogonal():
    init = initializers.Orthogonal(gain=2.0, seed=1234)
    array = init(shape=(5, 5))
    assert init.seed == 1234 and init.gain == 2.0 and array.shape == (5, 5)
    np.testing.assert_allclose(np.linalg.norm(array, axis=0), 2.0, rtol=1e-6)
    gram = array.T @ array
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-5)
    assert isinstance(initializers.get("OrthogonalInitializer"), initializers.Orthogonal)
    assert initializers.Orthogonal().get_config() == {"seed": None, "gain": 1.0}
    with pytest.raises(ValueError, match="at least two-dimensional"):
        init(shape=(5,))


def test_constant_initializers():
    np.testing.assert_array_equal(initializers.Zeros()(shape=(3, 3)), np.zeros((3, 3)))
    np.testing.assert_array_equal(initializers.Ones()(shape=(3, 3)), np.ones((3, 3)))
    np.testing.assert_array_equal(initializers.Constant(value=6.0)(shape=(3, 3)), np.full((3, 3), 6.0, np.float32))
    v = np.random.default_rng(0).random((3, 3))
    init = initializers.Constant(value=v)
    np.testing.assert_allclose(init(shape=(3, 3)), v, rtol=1e-6)
    np.testing.assert_allclose(initializers.Constant.from_config(init.get_config())(shape=(3, 3)), v, rtol=1e-6)
    np.testing.assert_array_equal(initializers.Identity(gain=2)(shape=(3, 3)), np.eye(3) * 2)
    assert isinstance(initializers.get("IdentityInitializer"), initializers.Identity)
    assert initializers.Identity.from_config(initializers.Identity(gain=2).get_config()).gain == 2.0
    for init in (initializers.Zeros(), initializers.Ones(), initializers.Constant(6.0), initializers.Identity(2)):
        clone = type(init).from_config(init.get_config())
        np.testing.assert_array_equal(clone((3, 3)), init((3, 3)))


def test_get():
    assert isinstance(initializers.get("glorot_normal"), initializers.GlorotNormal)
    assert initializers.get(None) is None
    with pytest.raises(ValueError):
        initializers.get("typo")
    tensor = np.random.default_rng(0).uniform(size=(5, 5)).astype("float32")
    init = initializers.get(tensor)
    np.testing.assert_array_equal(init(shape=(5, 5)), tensor)
    with pytest.raises(ValueError, match=r"Expected `shape` to be"):
        init(shape=(10, 10))
    for init in (initializers.RandomNormal(seed=5), initializers.HeNormal(seed=2), initializers.Orthogonal(seed=1),
                 initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=9)):
        config = initializers.serialize(init)
        assert config["module"] == "keras.initializers"
        clone = initializers.get(config)
        assert type(clone) is type(init) and clone.get_config() == init.get_config()
        np.testing.assert_array_equal(clone((4, 3)), init((4, 3)))
        assert initializers.deserialize(config).get_config() == init.get_config()


def test_layers_keep_their_seeds():
    from pyrnn.layers import Dense
    a = Dense(3, seed=1)
    b = Dense(3, seed=1)
    a.build((None, 4))
    b.build((None, 4))
    np.testing.assert_array_equal(a.get_weights()[0], b.get_weights()[0])
    c = Dense(3, kernel_initializer=initializers.GlorotUniform(seed=5), seed=1)
    d = Dense(3, kernel_initializer=initializers.GlorotUniform(seed=5), seed=2)
    c.build((None, 4))
    d.build((None, 4))
    np.testing.assert_array_equal(c.get_weights()[0], d.get_weights()[0])  # the initializer's seed decides
    np.testing.assert_array_equal(c.get_weights()[0], initializers.GlorotUniform(seed=5)((4, 3)))
