"""Each micro-kernel alone, for every ISA this CPU runs, against a float64 NumPy reference.

In the style of XNNPACK's testers: one kernel at a time (the GEMM tile, the narrow GEMM, the
matrix-vector product, the recurrent packing, the fused RNN/LSTM/GRU steps and the
activations), called straight from one ISA's table (`_core._microkernels(isa)`), over the edge
sizes of m, n and k: 1, 2, 3, 7, 15, 16, 17, 31, 32, 33 and the tile sizes +- 1. All ISAs are
tested in one process; the test ids and the session summary (tests/conftest.py) name them.

Tolerances are derived, not tuned: a sum of k products rounded in any order is within
(k + 2) * eps * sum|terms| of the exact sum (the + 2 for the added bias or initial value); an
activation adds its Lipschitz constant times that, plus its own documented relative error
(tests/test_kernels.py: 2.4e-7 in float32, 1e-15 in float64). Steps combine these by first-order
error propagation; every bound is doubled to stay clear of second-order terms.
"""

import numpy as np
import pytest

import pyrnn
from pyrnn import _core

ISAS = pyrnn.supported_isas()
DTYPES = [np.float32, np.float64]
EDGES = [1, 2, 3, 7, 15, 16, 17, 31, 32, 33]
ACTIVATION_REL = {np.float32: 2.4e-7, np.float64: 1e-15}  # documented bounds of tanh and sigmoid


@pytest.fixture(params=ISAS)
def mk(request, record_property):
    record_property("isa", request.param)  # read by conftest's session summary
    return _core._microkernels(request.param)


def eps(dtype):
    return float(np.finfo(dtype).eps)


def dot_bound(k, dtype, magnitude):
    """Rounding error of k products summed (plus one added term), in any order."""
    return (k + 2) * eps(dtype) * magnitude


def edges_up_to(limit, *extra):
    return sorted({s for s in EDGES + list(extra) if 1 <= s <= limit})


def with_tiles(*tiles):
    return sorted({s for s in EDGES + [t + d for t in tiles for d in (-1, 0, 1)] if s >= 1})


def random(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def assert_within(got, want, tol, what):
    err = np.abs(got.astype(np.float64) - want)
    bad = err > 2 * tol + np.finfo(np.float64).tiny
    assert not bad.any(), f"{what}: {bad.sum()} element(s) off, worst {err.max():.3g} vs bound {2 * tol.max():.3g}"


# --- activations -------------------------------------------------------------------------

def sigmoid64(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def hard_sigmoid64(x):
    return np.clip(x + 3, 0, 6) / 6


# name: (float64 reference, Lipschitz constant, relative error beyond the rounding of its input)
ACTIVATIONS = {
    "tanh": (np.tanh, 1.0, lambda dt: ACTIVATION_REL[dt]),
    "sigmoid": (sigmoid64, 0.25, lambda dt: ACTIVATION_REL[dt]),
    "relu": (lambda x: np.maximum(x, 0), 1.0, lambda dt: 0.0),
    "linear": (lambda x: x, 1.0, lambda dt: 0.0),
    "hard_sigmoid": (hard_sigmoid64, 1 / 6, lambda dt: 4 * eps(dt)),
}


def activate(name, pre, pre_err, dtype):
    """act(pre) in float64 and its error bound, given the bound of pre's error."""
    f, lipschitz, rel = ACTIVATIONS[name]
    out = f(pre)
    return out, lipschitz * pre_err + (rel(dtype) + eps(dtype)) * np.abs(out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_activation_error_bound(mk, name, dtype):
    x = np.concatenate([np.linspace(-20, 20, 100_001), np.geomspace(1e-30, 1, 501), -np.geomspace(1e-30, 1, 501),
                        [0.0, 0.3, -0.3, 0.5, -0.5, 87.0, -87.0, 1e30, -1e30]]).astype(dtype)
    got = mk.activation(name, x).astype(np.float64)
    want = ACTIVATIONS[name][0](x.astype(np.float64))
    small = np.abs(want) < (1e-34 if dtype == np.float32 else 1e-290)  # denormal results are flushed
    assert np.abs(got[small]).max(initial=0) <= (1e-34 if dtype == np.float32 else 1e-290)
    rel = np.abs(got[~small] - want[~small]) / np.abs(want[~small])
    assert rel.max() < ACTIVATION_REL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_activation_tails_match_full_vectors(mk, name, dtype):
    x = random(np.random.default_rng(3), 80, dtype, 4.0)
    whole = mk.activation(name, x)
    for n in with_tiles(mk.sizes(dtype)["unit_block"]):
        np.testing.assert_array_equal(mk.activation(name, x[:n]), whole[:n], err_msg=f"n={n}")


# --- GEMM tile ---------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["accumulate", "overwrite", "bias"])
def test_gemm_tile(mk, dtype, mode):
    sizes = mk.sizes(dtype)
    MR, NR = sizes["gemm_mr"], sizes["gemm_nr"]
    rng = np.random.default_rng(MR * 100 + NR)
    for k in with_tiles(MR, NR):
        # Panels as gemm.cpp packs them: k-major, rows past m and columns past n padded (with
        # anything: the tile computes them but must not write them).
        a, b = random(rng, (k, MR), dtype), random(rng, (k, NR), dtype)
        for m in edges_up_to(MR, MR - 1, MR):
            for n in edges_up_to(NR, NR - 1, NR):
                c = random(rng, (m, n + 3), dtype)  # 3 columns past n that must stay as they are
                c0 = c.copy()
                bias = random(rng, n, dtype) if mode == "bias" else None
                mk.gemm_tile(a, b, c, n, mode != "accumulate", bias)
                product = a[:, :m].T.astype(np.float64) @ b[:, :n].astype(np.float64)
                magnitude = np.abs(a[:, :m].T.astype(np.float64)) @ np.abs(b[:, :n].astype(np.float64))
                base = {"accumulate": c0[:, :n], "overwrite": 0, "bias": bias}[mode]
                base = np.broadcast_to(np.asarray(base, np.float64), product.shape)
                assert_within(c[:, :n], base + product, dot_bound(k, dtype, magnitude + np.abs(base)),
                              f"m={m} n={n} k={k}")
                np.testing.assert_array_equal(c[:, n:], c0[:, n:], err_msg=f"wrote past n: m={m} n={n} k={k}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["k-major", "row-major"])
def test_gemm_tile_reads_a_in_place(mk, dtype, layout):
    """A read in place (a transposed A, its k's lda > mr apart, or a row-major A, its rows lda
    apart, as gemm.cpp passes a thin product's A without packing it) gives the same bits as
    the packed panel of the same values."""
    sizes = mk.sizes(dtype)
    MR, NR = sizes["gemm_mr"], sizes["gemm_nr"]
    rng = np.random.default_rng(7)
    for k in with_tiles(MR, NR):
        for extra in (1, 5, 33):
            if layout == "k-major":
                wide = random(rng, (k, MR + extra), dtype)
            else:  # a (k, MR) view of a row-major (MR, k + extra) matrix
                wide = random(rng, (MR, k + extra), dtype)[:, :k].T
            b = random(rng, (k, NR), dtype)
            in_place, packed = np.zeros((MR, NR), dtype), np.zeros((MR, NR), dtype)
            mk.gemm_tile(wide[:, :MR], b, in_place, NR, True)
            mk.gemm_tile(np.ascontiguousarray(wide[:, :MR]), b, packed, NR, True)
            np.testing.assert_array_equal(in_place, packed, err_msg=f"{layout} k={k} extra={extra}")
            product = wide[:, :MR].T.astype(np.float64) @ b.astype(np.float64)
            magnitude = np.abs(wide[:, :MR].T.astype(np.float64)) @ np.abs(b.astype(np.float64))
            assert_within(in_place, product, dot_bound(k, dtype, magnitude), f"{layout} k={k} extra={extra}")


# --- narrow GEMM and matrix-vector product -------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("a_layout", ["rows", "columns"])
def test_gemm_narrow(mk, dtype, a_layout):
    sizes = mk.sizes(dtype)
    dims = with_tiles(sizes["gemm_mr"], sizes["gemm_nr"])
    rng = np.random.default_rng(7)
    for M in dims:
        for K in dims:
            # A's rows contiguous (dot products along k) or its columns (a transposed view).
            a = random(rng, (M, K), dtype) if a_layout == "rows" else random(rng, (K, M), dtype).T
            for N in dims:
                b = random(rng, (N, K), dtype).T if N % 2 else random(rng, (K, N), dtype)  # both strides
                accumulate = (M + N + K) % 2 == 1
                c = random(rng, (M, N), dtype)
                c0 = c.astype(np.float64) if accumulate else np.zeros((M, N))
                mk.gemm_narrow(a, b, c, accumulate)
                a64, b64 = a.astype(np.float64), b.astype(np.float64)
                assert_within(c, c0 + a64 @ b64, dot_bound(K, dtype, np.abs(a64) @ np.abs(b64) + np.abs(c0)),
                              f"M={M} N={N} K={K}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_matvec(mk, dtype):
    sizes = mk.sizes(dtype)
    dims = with_tiles(sizes["unit_block"], sizes["gemm_nr"])
    rng = np.random.default_rng(11)
    for rows in dims:
        for K in dims:
            w = random(rng, (rows, K + 5), dtype)[:, :K]  # rows 5 elements apart
            v = random(rng, K, dtype)
            for accumulate in (False, True):
                y = random(rng, rows, dtype)
                y0 = y.astype(np.float64) if accumulate else np.zeros(rows)
                mk.matvec(w, v, y, accumulate)
                w64, v64 = w.astype(np.float64), v.astype(np.float64)
                assert_within(y, y0 + w64 @ v64, dot_bound(K, dtype, np.abs(w64) @ np.abs(v64) + np.abs(y0)),
                              f"rows={rows} K={K} accumulate={accumulate}")


# --- recurrent packing and fused steps ------------------------------------------------------

def pack_reference(w, G, unit):
    """Blocks of `unit` hidden units; for each k, the G gates' `unit`-wide columns (zero past H)."""
    H, K = w.shape[0] // G, w.shape[1]
    blocks = -(-H // unit)
    out = np.zeros((blocks, K, G, unit), w.dtype)
    for g in range(G):
        rows = np.zeros((blocks * unit, K), w.dtype)
        rows[:H] = w[g * H:(g + 1) * H]
        out[:, :, g, :] = rows.reshape(blocks, unit, K).transpose(0, 2, 1)
    return out.ravel()


@pytest.mark.parametrize("dtype", DTYPES)
def test_pack_recurrent(mk, dtype):
    unit = mk.sizes(dtype)["unit_block"]
    rng = np.random.default_rng(13)
    for G in (1, 2, 3, 4):
        for H in with_tiles(unit):
            for K in (1, 7, 33):
                w = random(rng, (K, G * H), dtype).T  # strided both ways
                np.testing.assert_array_equal(mk.pack_recurrent(w, G), pack_reference(w, G, unit),
                                              err_msg=f"G={G} H={H} K={K}")


def step_sizes(unit):
    """(B, H, K): every batch with every width, and every depth with every width. Batches cover
    the tile heights (scalar 1-6, AVX2 2-12, AVX-512 6-12 rows), depths the k-chunks (256) and the
    k-split (K >= 512), widths the unit block."""
    Bs = sorted(set(EDGES + [5, 6, 11, 12, 13]))
    Hs = with_tiles(unit)
    Ks = sorted(set(EDGES + [255, 256, 257, 512, 513]))
    return [(B, H, 33) for B in Bs for H in Hs] + [(B, H, K) for B in (2, 13) for H in (1, unit, unit + 1, 33) for K in Ks]


def weights(mk, w, G, packed):
    return mk.pack_recurrent(w, G) if packed else w


def preactivation(gates, h_in, w, dtype):
    """gates + h_in W^T in float64, and its error bound (the kernel's sum over K)."""
    g64, h64, w64 = gates.astype(np.float64), h_in.astype(np.float64), w.astype(np.float64)
    return g64 + h64 @ w64.T, dot_bound(h_in.shape[1], dtype, np.abs(g64) + np.abs(h64) @ np.abs(w64).T)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["tanh", "linear", "relu", "sigmoid"])
@pytest.mark.parametrize("packed", [True, False], ids=["packed", "unpacked"])
def test_rnn_step(mk, dtype, act, packed):
    unit = mk.sizes(dtype)["unit_block"]
    rng = np.random.default_rng(17)
    for B, H, K in step_sizes(unit):
        w = random(rng, (H, K), dtype, 1 / np.sqrt(K))
        h_in = random(rng, (B, K), dtype)
        gates = random(rng, (B, H + 1), dtype)  # row stride H + 1
        pre, pre_err = preactivation(gates[:, :H], h_in, w, dtype)
        h_out = np.zeros((B, H), dtype)
        wk = weights(mk, w, 1, packed)
        mk.rnn_step(act, wk, h_in, gates.copy(), h_out)
        want, err = activate(act, pre, pre_err, dtype)
        assert_within(h_out, want, err, f"B={B} H={H} K={K}")
        blocks = -(-H // unit)
        if blocks > 1:  # the hidden-unit blocks split between two calls (two threads) give the same bits
            halves = np.zeros_like(h_out)
            g = gates.copy()
            mk.rnn_step(act, wk, h_in, g, halves, part=[0, B, 0, blocks // 2])
            mk.rnn_step(act, wk, h_in, g, halves, part=[0, B, blocks // 2, blocks])
            np.testing.assert_array_equal(halves, h_out, err_msg=f"split blocks: B={B} H={H} K={K}")


# (recurrent_activation, activation): the built-in defaults, the same chosen per call, and others.
GATED_ACTIVATIONS = [None, ("sigmoid", "tanh"), ("hard_sigmoid", "linear")]


def gated_step_test(test):
    """The parameters of a GRU/LSTM step test: dtype, activations, packed or unpacked weights."""
    test = pytest.mark.parametrize("packed", [True, False], ids=["packed", "unpacked"])(test)
    test = pytest.mark.parametrize(
        "acts", GATED_ACTIVATIONS, ids=lambda a: "builtin" if a is None else f"{a[0]}-{a[1]}")(test)
    return pytest.mark.parametrize("dtype", DTYPES)(test)


def gated_activations(acts):
    """(gate activation, cell activation, the step's keyword arguments for them)."""
    gate_act, cell_act = acts or ("sigmoid", "tanh")
    return gate_act, cell_act, {} if acts is None else dict(recurrent_activation=gate_act, activation=cell_act)


def gate_block(x, j, H):
    return x[:, j * H:(j + 1) * H]


@gated_step_test
def test_lstm_step(mk, dtype, acts, packed):
    gate_act, cell_act, kw = gated_activations(acts)
    unit = mk.sizes(dtype)["unit_block"]
    rng = np.random.default_rng(19)
    e = eps(dtype)
    for B, H, K in step_sizes(unit):
        w = random(rng, (4 * H, K), dtype, 1 / np.sqrt(K))
        h_in, c_prev = random(rng, (B, K), dtype), random(rng, (B, H), dtype)
        gates = random(rng, (B, 4 * H), dtype)
        pre, pre_err = preactivation(gates, h_in, w, dtype)
        c_out, h_out = np.zeros((B, H), dtype), np.zeros((B, H), dtype)
        mk.lstm_step(weights(mk, w, 4, packed), h_in, gates, c_prev, c_out, h_out, True, **kw)
        (i, ei), (f, ef), (g, eg), (o, eo) = (
            activate(cell_act if j == 2 else gate_act, gate_block(pre, j, H), gate_block(pre_err, j, H), dtype)
            for j in range(4))
        cp = c_prev.astype(np.float64)
        c = f * cp + i * g
        ec = np.abs(cp) * ef + np.abs(g) * ei + np.abs(i) * eg + ei * eg + 2 * e * (np.abs(f * cp) + np.abs(i * g))
        ac, eac = activate(cell_act, c, ec, dtype)
        h = o * ac
        eh = np.abs(ac) * eo + (np.abs(o) + eo) * eac + e * np.abs(h)
        what = f"B={B} H={H} K={K}"
        assert_within(c_out, c, ec, "c " + what)
        assert_within(h_out, h, eh, "h " + what)
        assert_within(gates, np.hstack([i, f, g, o]), np.hstack([ei, ef, eg, eo]), "saved gates " + what)


@gated_step_test
def test_gru_step(mk, dtype, acts, packed):
    # Reset after the product (torch): n = act(x_n + r * (W_hn h + b_hn)), h' = (1 - z) n + z h.
    gate_act, cell_act, kw = gated_activations(acts)
    unit = mk.sizes(dtype)["unit_block"]
    rng = np.random.default_rng(23)
    e = eps(dtype)
    for B, H in sorted({(B, H) for B, H, _ in step_sizes(unit)}):  # the depth is H
        w = random(rng, (3 * H, H), dtype, 1 / np.sqrt(H))
        h = random(rng, (B, H), dtype)
        bias_hn = random(rng, H, dtype)
        gates = np.zeros((B, 4 * H), dtype)
        gates[:, :3 * H] = random(rng, (B, 3 * H), dtype)
        x = gates[:, :3 * H].astype(np.float64)
        h_out = np.zeros((B, H), dtype)
        mk.gru_step(weights(mk, w, 3, packed), h, h, gates, h_out, bias_hn, True, **kw)
        zero = np.zeros((B, 3 * H), dtype)
        rec, rec_err = preactivation(zero, h, w, dtype)  # h W^T without x
        b64 = bias_hn.astype(np.float64)
        part = lambda a, j: gate_block(a, j, H)
        r, er = activate(gate_act, part(x, 0) + part(rec, 0), part(rec_err, 0) + e * np.abs(part(x, 0)), dtype)
        z, ez = activate(gate_act, part(x, 1) + part(rec, 1), part(rec_err, 1) + e * np.abs(part(x, 1)), dtype)
        hn = part(rec, 2) + b64
        ehn = part(rec_err, 2) + e * np.abs(b64)
        pre_n = part(x, 2) + r * hn
        epn = np.abs(r) * ehn + np.abs(hn) * er + er * ehn + 2 * e * (np.abs(part(x, 2)) + np.abs(r * hn))
        n, en = activate(cell_act, pre_n, epn, dtype)
        hp = h.astype(np.float64)
        want = z * (hp - n) + n
        eh = np.abs(hp - n) * ez + (np.abs(z) + ez) * en + en + 3 * e * (np.abs(hp) + np.abs(n))
        what = f"B={B} H={H}"
        assert_within(h_out, want, eh, "h " + what)
        assert_within(gates, np.hstack([r, z, n, hn]), np.hstack([er, ez, en, ehn]), "saved gates " + what)


def test_sizes_and_buffers_are_checked(mk):
    # Private, but still no call may reach memory its arrays do not own.
    sizes = mk.sizes(np.float32)
    MR, NR = sizes["gemm_mr"], sizes["gemm_nr"]
    a, b = np.zeros((3, MR), np.float32), np.zeros((3, NR), np.float32)
    with pytest.raises(ValueError, match="gemm_tile"):
        mk.gemm_tile(a, b, np.zeros((MR + 1, NR), np.float32), NR, True)
    with pytest.raises(ValueError, match="gemm_tile"):
        mk.gemm_tile(a, b, np.zeros((1, NR - 1), np.float32), NR, True)
    with pytest.raises(ValueError, match="gates: expected at least 4"):
        mk.lstm_step(np.zeros((8, 2), np.float32), *(np.zeros((1, s), np.float32) for s in (2, 7, 2, 2, 2)))
    with pytest.raises(ValueError, match="part"):
        mk.rnn_step("tanh", np.zeros((2, 2), np.float32), *(np.zeros((3, 2), np.float32),) * 3, part=[0, 4, 0, -1])
    with pytest.raises(TypeError, match="expected dtype float32"):
        mk.matvec(np.zeros((2, 2), np.float32), np.zeros(2), np.zeros(2, np.float32), False)
    with pytest.raises(ValueError, match="isa must be one of"):
        _core._microkernels("neon")
