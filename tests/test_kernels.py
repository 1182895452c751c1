"""The vectorised activations: their error bound, tails and special values."""

import numpy as np
import pytest

from pyrnn import _core


def relative_error(got, x, f):
    want = f(x.astype(np.float64))
    return np.abs(got.astype(np.float64) - want) / np.maximum(np.abs(want), np.finfo(np.float32).tiny)


def sigmoid64(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))


@pytest.mark.parametrize("name, f", [("tanh", np.tanh), ("sigmoid", sigmoid64)])
def test_float32_activation_error_bound(name, f):
    # Dense over the range that matters, plus tiny and huge values; 4 ulp-ish bound (2.4e-7).
    x = np.concatenate([np.linspace(-20, 20, 400_001), np.geomspace(1e-30, 1, 2001), -np.geomspace(1e-30, 1, 2001),
                        [0.0, 0.5, -0.5, 0.49999997, 87.0, -87.0, 1e30, -1e30]]).astype(np.float32)
    got = _core._activation(name, x)
    if name == "sigmoid":  # below -80 the value is denormal or zero: compare absolutely there
        keep = x > -80
        assert np.abs(got[~keep]).max() < 1e-34
        x, got = x[keep], got[keep]
    assert relative_error(got, x, f).max() < 2.4e-7


@pytest.mark.parametrize("name, f", [("tanh", np.tanh), ("sigmoid", sigmoid64)])
def test_float64_activations_are_exact(name, f):
    x = np.linspace(-40, 40, 100_003)
    np.testing.assert_allclose(_core._activation(name, x), f(x), rtol=5e-16, atol=0)  # libm vs numpy: within 2 ulp


@pytest.mark.parametrize("n", [1, 3, 7, 8, 15, 16, 17, 33])
def test_tails_match_full_vectors(n):
    x = np.random.default_rng(n).standard_normal(64).astype(np.float32) * 3
    whole = _core._activation("tanh", x)
    np.testing.assert_array_equal(_core._activation("tanh", x[:n]), whole[:n])


def test_special_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], np.float32)
    t = _core._activation("tanh", x)
    s = _core._activation("sigmoid", x)
    assert t[0] == 0 and t[2] == 1 and t[3] == -1 and np.isnan(t[4])
    assert s[0] == 0.5 and s[2] == 1 and s[3] == 0 and np.isnan(s[4])
