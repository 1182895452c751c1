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
def test_float64_activation_error_bound(name, f):
    # The approximations the design allows for float64 only if proven at 1e-15 relative.
    x = np.concatenate([np.linspace(-40, 40, 400_003), np.geomspace(1e-300, 1, 3001), -np.geomspace(1e-300, 1, 3001),
                        np.linspace(-700, 700, 20_001), [0.3, -0.3, np.nextafter(0.3, 0), 0.5]])
    got, want = _core._activation(name, x), f(x)
    keep = np.abs(want) >= 1e-290  # below that sigmoid's value is denormal: flushed to zero by design
    assert np.abs(got[~keep]).max(initial=0) <= 1e-290
    assert (np.abs(got[keep] - want[keep]) / np.abs(want[keep])).max() < 1e-15


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 3, 7, 8, 15, 16, 17, 33])
def test_tails_match_full_vectors(n, dtype):
    x = np.random.default_rng(n).standard_normal(64).astype(dtype) * 3
    whole = _core._activation("tanh", x)
    np.testing.assert_array_equal(_core._activation("tanh", x[:n]), whole[:n])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(dtype):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype)
    t = _core._activation("tanh", x)
    s = _core._activation("sigmoid", x)
    assert t[0] == 0 and t[2] == 1 and t[3] == -1 and np.isnan(t[4])
    assert s[0] == 0.5 and s[2] == 1 and s[3] == 0 and np.isnan(s[4])


# The core's GEMM on its own: the packed tile path, the narrow path (a few columns) and the
# serial/parallel split, at sizes that end mid-vector and mid-tile.
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (7, 3, 1), (17, 50, 1), (33, 7, 2), (320, 50, 1), (50, 320, 1),
                                     (5, 9, 3), (300, 17, 4), (16, 16, 5), (33, 65, 17), (150, 300, 40),
                                     (3, 600, 7), (700, 64, 2)])
def test_gemm_matches_numpy(m, k, n, dtype):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a, b = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
    want = a.astype(np.float64) @ b.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(_core.matmul(a, b), want, rtol=tol, atol=tol * np.sqrt(k))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_reads_strided_views_and_accumulates(dtype):
    rng = np.random.default_rng(5)
    x, g, k = (rng.standard_normal(s).astype(dtype) for s in [(33, 50), (33, 3), (50, 3)])
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_core.matmul(x.T, g), x.T.astype(np.float64) @ g, **tol)  # transposed a
    np.testing.assert_allclose(_core.matmul(g, k.T), g.astype(np.float64) @ k.T, **tol)  # transposed b
    np.testing.assert_allclose(_core.matmul(x[::-2], k[::-1]), x[::-2].astype(np.float64) @ k[::-1], **tol)
    acc = np.ones((50, 3), dtype)
    assert _core.matmul(x.T, g, out=acc, accumulate=True) is acc
    np.testing.assert_allclose(acc, 1 + x.T.astype(np.float64) @ g, **tol)


def test_matmul_rejects_bad_out():
    a, b = np.ones((3, 3), np.float32), np.ones((3, 3), np.float32)
    with pytest.raises(ValueError, match="out overlaps a or b"):
        _core.matmul(a, b, out=a)
    with pytest.raises(ValueError, match="accumulate=True needs out"):
        _core.matmul(a, b, accumulate=True)
    with pytest.raises(ValueError, match=r"out: expected shape \(3, 3\), got \(3, 2\)"):
        _core.matmul(a, b, out=np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="out: expected a C-contiguous array"):
        _core.matmul(a, b, out=np.ones((3, 3), np.float32).T)  # Fortran order
    with pytest.raises(ValueError, match="a: expected a 2-D array, got 1-D"):
        _core.matmul(np.ones(3, np.float32), b)
    with pytest.raises(TypeError, match="b: expected dtype float32, got float64"):
        _core.matmul(a, np.ones((3, 3)))
