"""Regularizers and constraints: the expectations of Keras 3's own tests
(keras/src/regularizers/regularizers_test.py, keras/src/constraints/constraints_test.py), each
regularizer's gradient against central differences in float64, configs and lookups. Parity
with Keras itself at the end (skips without it)."""


import numpy as np
import pytest

from pyrnn import constraints, regularizers


def _value(shape=(4, 4), seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


# ---------------------------------------------------------------------- regularizers
def test_l1_l2_l1l2_values():
    v = _value()
    np.testing.assert_allclose(regularizers.L1(0.1)(v), 0.1 * np.sum(np.abs(v)), rtol=1e-6)
    np.testing.assert_allclose(regularizers.L2(0.1)(v), 0.1 * np.sum(np.square(v)), rtol=1e-6)
    np.testing.assert_allclose(regularizers.L1L2(l1=0.1, l2=0.2)(v),
                               0.1 * np.sum(np.abs(v)) + 0.2 * np.sum(np.square(v)), rtol=1e-6)
    assert regularizers.L1(0.1)(np.zeros((4, 4), np.float32)) == 0.0
    assert regularizers.L1(0.1)(np.ones((4, 4))) == regularizers.L1(0.1)(-np.ones((4, 4)))
    assert regularizers.L1(0.0)(v) == 0.0 and regularizers.L2(0.0)(v) == 0.0
    assert regularizers.L2(0.1)(np.zeros((4, 4))) == 0.0
    assert regularizers.L1L2(l1=0.0, l2=0.0)(v) == 0.0
    big, small = np.full((4, 4), 10.0), np.full((4, 4), 0.1)
    assert regularizers.L2(1.0)(big) > regularizers.L1(1.0)(big)
    assert regularizers.L2(1.0)(small) < regularizers.L1(1.0)(small)
    assert regularizers.L1L2(l1=0.1, l2=0.0)(v) == pytest.approx(regularizers.L1(0.1)(v))
    assert regularizers.L1L2(l1=0.0, l2=0.1)(v) == pytest.approx(regularizers.L2(0.1)(v))
    # defaults: L1/L2 0.01, L1L2 both 0 (L1L2(l2=0.1) has no L1 part)
    assert regularizers.L1().l1 == 0.01 and regularizers.L2().l2 == 0.01
    assert regularizers.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.L1L2(l2=0.1).get_config() == {"l1": 0.0, "l2": 0.1}


def test_orthogonal_regularizer_value():
    v = _value()
    n = v / np.linalg.norm(v, axis=1, keepdims=True)
    want = 0.1 * 0.5 * np.sum(np.abs(n @ n.T * (1.0 - np.eye(4)))) / (4.0 * 3.0 / 2.0)
    np.testing.assert_allclose(regularizers.OrthogonalRegularizer(factor=0.1, mode="rows")(v), want, rtol=1e-5)
    v = _value((3, 5))
    n = v / np.linalg.norm(v, axis=0, keepdims=True)
    want = 0.2 * 0.5 * np.sum(np.abs(n.T @ n * (1.0 - np.eye(5)))) / (5.0 * 4.0 / 2.0)
    np.testing.assert_allclose(regularizers.OrthogonalRegularizer(factor=0.2, mode="columns")(v), want, rtol=1e-5)
    # orthogonal rows cost nothing
    assert regularizers.OrthogonalRegularizer()(np.eye(3)) == 0.0


def test_orthogonal_regularizer_validation():
    with pytest.raises(ValueError) as e:
        regularizers.OrthogonalRegularizer(factor=0.01, mode="invalid_mode")
    assert str(e.value) == 'Invalid value for argument `mode`. Expected one of {"rows", "columns"}. ' \
                           "Received: mode=invalid_mode"
    with pytest.raises(ValueError) as e:
        regularizers.OrthogonalRegularizer(factor=0.1)(_value((4, 4, 4)))
    assert str(e.value) == f"Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape={(4, 4, 4)}"


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_invalid_factors(bad):
    for make in (lambda: regularizers.L1(bad), lambda: regularizers.L2(bad), lambda: regularizers.L1L2(l1=bad),
                 lambda: regularizers.L1L2(l2=bad), lambda: regularizers.OrthogonalRegularizer(bad)):
        with pytest.raises(ValueError, match="expected a non-negative float"):
            make()


REGULARIZERS = [regularizers.L1(0.3), regularizers.L2(0.2), regularizers.L1L2(l1=0.1, l2=0.4),
                regularizers.OrthogonalRegularizer(0.5, "rows"), regularizers.OrthogonalRegularizer(0.5, "columns")]


@pytest.mark.parametrize("reg", REGULARIZERS, ids=repr)
@pytest.mark.parametrize("shape", [(3, 5), (6, 2)])
def test_gradients_central_differences(reg, shape):
    w = np.random.default_rng(1).standard_normal(shape)
    value, g = reg.value_and_grad(w)
    assert value == reg(w) and g.shape == w.shape and g.dtype == w.dtype
    num = np.zeros_like(w)
    h = 1e-6
    for i in np.ndindex(w.shape):
        q = w.copy()
        q[i] += h
        up = reg(q)
        q[i] -= 2 * h
        num[i] = (up - reg(q)) / (2 * h)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)
    assert reg.gradient(w.astype(np.float32)).dtype == np.float32


def test_regularizer_configs_and_get():
    for reg in REGULARIZERS:
        clone = type(reg).from_config(reg.get_config())
        assert clone.get_config() == reg.get_config()
        assert regularizers.deserialize(regularizers.serialize(reg)).get_config() == reg.get_config()
        assert regularizers.get(regularizers.serialize(reg)).get_config() == reg.get_config()
    config = regularizers.L1L2(l1=0.01, l2=0.02).get_config()
    assert config == {"l1": 0.01, "l2": 0.02}
    assert regularizers.OrthogonalRegularizer(factor=0.01, mode="columns").get_config() == {"factor": 0.01,
                                                                                              "mode": "columns"}
    assert isinstance(regularizers.get("l1l2"), regularizers.L1L2)
    assert isinstance(regularizers.get("l1_l2"), regularizers.L1L2)
    assert isinstance(regularizers.get("l1"), regularizers.L1)
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    assert isinstance(regularizers.get("orthogonal_regularizer"), regularizers.OrthogonalRegularizer)
    assert isinstance(regularizers.get("L1L2"), regularizers.L1L2)
    assert regularizers.get(None) is None
    assert regularizers.l1 is regularizers.L1 and regularizers.l2 is regularizers.L2
    with pytest.raises(ValueError):
        regularizers.get("typo")
    with pytest.raises(NotImplementedError):
        regularizers.Regularizer().get_config()
    assert regularizers.Regularizer()(np.ones(3)) == 0.0


# ---------------------------------------------------------------------- constraints
def _example():
    rng = np.random.RandomState(3537)
    a = rng.random_sample((100, 100)) * 100.0 - 50.0
    a[0, 0] = 0.0
    return a


def test_max_norm():
    x = np.array([[0, 0, 0], [1.0, 0, 0], [3, 0, 0], [3, 3, 3]]).T
    target = np.array([[0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [2.0 / np.sqrt(3)] * 3]).T
    np.testing.assert_allclose(constraints.MaxNorm(2.0)(x), target, rtol=1e-6, atol=1e-6)
    assert constraints.MaxNorm().get_config() == {"max_value": 2, "axis": 0}


def test_non_neg_unit_norm_min_max_norm():
    assert (np.min(constraints.NonNeg()(_example()), axis=1) >= 0.0).all()
    np.testing.assert_allclose(np.sqrt(np.sum(np.square(constraints.UnitNorm()(_example())), axis=0)), 1.0,
                               rtol=1e-6)
    out = constraints.MinMaxNorm(min_value=0.2, max_value=0.5)(_example())
    l2 = np.sqrt(np.sum(np.square(out), axis=0))
    assert np.all(l2 >= 0.2) and np.all(l2 <= 0.5 + 1e-6)
    np.testing.assert_array_equal(constraints.NonNeg()(np.full((5, 5), -3.0)), 0)
    np.testing.assert_array_equal(constraints.NonNeg()(np.full((5, 5), 3.0)), 3.0)
    np.testing.assert_array_equal(constraints.NonNeg()(np.zeros((5, 5))), 0)
    # rate < 1 moves only part of the way: (1 - rate)·norm + rate·clip(norm)
    w = np.array([[3.0], [4.0]])  # norm 5
    np.testing.assert_allclose(constraints.MinMaxNorm(0.0, 1.0, rate=0.5)(w), w * 3.0 / (5.0 + 1e-7))
    # axis=1: rows; a list of axes: the norm over several
    np.testing.assert_allclose(np.linalg.norm(constraints.UnitNorm(axis=1)(_example()), axis=1), 1.0, rtol=1e-6)
    k = np.random.default_rng(0).standard_normal((3, 3, 4, 5))
    np.testing.assert_allclose(np.sqrt(np.sum(constraints.UnitNorm(axis=[0, 1, 2])(k) ** 2, axis=(0, 1, 2))), 1.0,
                               rtol=1e-6)
    assert constraints.MaxNorm()(np.ones((2, 2), np.float32)).dtype == np.float32


def test_constraint_base_and_configs():
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(constraints.Constraint()(x), x)
    assert constraints.Constraint().get_config() == {}
    assert isinstance(constraints.Constraint.from_config({}), constraints.Constraint)
    for c, config in ((constraints.MaxNorm(max_value=3.0, axis=1), {"max_value": 3.0, "axis": 1}),
                      (constraints.UnitNorm(axis=1), {"axis": 1}),
                      (constraints.MinMaxNorm(min_value=0.5, max_value=2.0, rate=0.7, axis=1),
                       {"min_value": 0.5, "max_value": 2.0, "rate": 0.7, "axis": 1}),
                      (constraints.NonNeg(), {})):
        assert c.get_config() == config
        restored = type(c).from_config(config)
        np.testing.assert_allclose(c(_example()), restored(_example()))
        again = constraints.deserialize(constraints.serialize(c))
        assert type(again) is type(c) and again.get_config() == config


def test_constraint_get():
    assert isinstance(constraints.get("unit_norm"), constraints.UnitNorm)
    for name, cls in (("max_norm", constraints.MaxNorm), ("non_neg", constraints.NonNeg),
                      ("min_max_norm", constraints.MinMaxNorm), ("MaxNorm", constraints.MaxNorm)):
        assert isinstance(constraints.get(name), cls)
    assert constraints.get(None) is None
    fn = lambda w: w
    assert constraints.get(fn) is fn
    with pytest.raises(ValueError):
        constraints.get("typo")


# ---------------------------------------------------------------------- parity with Keras 3
# (the `keras` fixture is in conftest.py: Keras 3 on the torch backend, or a skip)


@pytest.mark.parametrize("name,kwargs", [("L1", {"l1": 0.3}), ("L2", {}), ("L1L2", {"l1": 0.1, "l2": 0.2}),
                                         ("OrthogonalRegularizer", {"factor": 0.3}),
                                         ("OrthogonalRegularizer", {"mode": "columns"})])
def test_keras_parity_regularizers(keras, name, kwargs):
    import torch
    w = np.random.default_rng(3).standard_normal((4, 6)).astype(np.float32)
    ours, theirs = getattr(regularizers, name)(**kwargs), getattr(keras.regularizers, name)(**kwargs)
    t = torch.tensor(w, requires_grad=True)
    value = theirs(t)
    value.backward()
    np.testing.assert_allclose(ours(w), float(value), rtol=1e-5)
    np.testing.assert_allclose(ours.gradient(w), t.grad.numpy(), rtol=1e-4, atol=1e-6)
    mine, keras_config = ours.get_config(), theirs.get_config()
    assert set(mine) == set(keras_config)
    for key, value in keras_config.items():
        assert mine[key] == (pytest.approx(value) if isinstance(value, float) else value), key


@pytest.mark.parametrize("name,kwargs", [("MaxNorm", {}), ("MaxNorm", {"max_value": 0.5, "axis": 1}),
                                         ("NonNeg", {}), ("UnitNorm", {}), ("UnitNorm", {"axis": 1}),
                                         ("MinMaxNorm", {}), ("MinMaxNorm", {"min_value": 0.5, "max_value": 1.5,
                                                                            "rate": 0.3, "axis": 1})])
def test_keras_parity_constraints(keras, name, kwargs):
    w = (np.random.default_rng(4).standard_normal((5, 3)) * 2).astype(np.float32)
    ours, theirs = getattr(constraints, name)(**kwargs), getattr(keras.constraints, name)(**kwargs)
    np.testing.assert_allclose(ours(w), keras.ops.convert_to_numpy(theirs(w)), rtol=1e-6, atol=1e-7)
    assert ours.get_config() == theirs.get_config()
