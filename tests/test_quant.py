"""int8 inference (issue 17): the kernels against the NumPy reference of the scheme
(pyrnn.reference_quant), exactly for the int32 accumulators on every ISA the machine has, the
layers against the reference and the float32 model (a documented error bound), and the API."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import pyrnn
from pyrnn import _core
from pyrnn import reference_quant as rq

SIZES = (1, 3, 7, 15, 16, 17, 33, 64, 65)
ISAS = pyrnn.supported_isas()
HERE = os.path.dirname(os.path.abspath(__file__))


KERNELS = _core._int8_kernels()  # every int8 GEMM kernel this CPU runs, forced one by one below
AVX2_CHOICE = "avx_vnni" if "avx_vnni" in KERNELS else "avx2"  # what PYRNN_ISA=avx2 runs


def test_int8_isa_is_reported():
    assert _core.int8_isa() in ("scalar", "avx2", "avx_vnni", "avx512_vnni")
    assert "scalar" in KERNELS
    expected = {"scalar": "scalar", "avx2": AVX2_CHOICE}.get(pyrnn.isa())
    if expected:
        assert _core.int8_isa() == expected


@pytest.mark.parametrize("K", SIZES)
def test_quantize_rows_matches_reference(K):
    rng = np.random.default_rng(K)
    x = (rng.standard_normal((9, K)) * rng.uniform(0.01, 10, (9, 1))).astype(np.float32)
    x[0] = 0.0                                  # an all-zero row: scale 0
    if K >= 4:                                  # exact ties: round half to even
        x[1, :4] = [127.0, 0.5, -2.5, 1.5]
    u, s = _core._int8_quantize_rows(x)
    u_ref, s_ref = rq.quantize_rows(x)
    np.testing.assert_array_equal(u, u_ref)
    np.testing.assert_array_equal(s, s_ref)
    if K >= 4:
        assert list(u[1, :4].astype(int) - 128) == [127, 0, -2, 2]


def _gemm_cases():
    for i, s in enumerate(SIZES):
        yield s, SIZES[(i + 3) % 9], SIZES[(i + 5) % 9]
        yield s, s, s
        yield SIZES[(i + 7) % 9], s, SIZES[(i + 2) % 9]


@pytest.mark.parametrize("isa", ISAS + KERNELS)
def test_int8_gemm_accumulators_exact(isa):
    rng = np.random.default_rng(0)
    for M, N, K in _gemm_cases():
        u = rng.integers(0, 256, (M, K), dtype=np.uint8)
        q = rng.integers(-127, 128, (N, K), dtype=np.int8)
        w = _core.Int8Weights(q, np.ones(N, np.float32))
        np.testing.assert_array_equal(_core._int8_gemm(isa, u, w), rq.int8_gemm_acc(u, q), err_msg=f"{isa} {M}x{N}x{K}")


@pytest.mark.parametrize("isa", ISAS + KERNELS)
def test_int8_gemm_extremes_do_not_saturate(isa):
    # 255 * 127 * 2 overflows int16 (vpmaddubsw saturates); the avx2 kernel's (u - 128) * w pairs
    # reach 2 * 128 * 127 at u = 0 (the padding value, here met by nonzero weights)
    for K in (4, 64, 65, 1024):
        q = np.stack([np.full(K, 127, np.int8), np.full(K, -127, np.int8), np.resize(np.int8([127, -127]), K)])
        w = _core.Int8Weights(q, np.ones(3, np.float32))
        for fill in ([255], [0], [0, 255], [128, 1]):
            u = np.resize(np.uint8(fill), (3, K))
            np.testing.assert_array_equal(_core._int8_gemm(isa, u, w), rq.int8_gemm_acc(u, q), err_msg=f"{fill}")


def test_avx_vnni_is_chosen_for_avx2_when_the_cpu_has_it():
    flags = open("/proc/cpuinfo").read().split() if os.path.exists("/proc/cpuinfo") else []
    if "avx_vnni" not in flags or "avx2" not in pyrnn.supported_isas():
        pytest.skip("this CPU has no AVX-VNNI")
    assert "avx_vnni" in KERNELS   # built with -mavxvnni and detected by cpuid
    r = subprocess.run([sys.executable, "-c", "from pyrnn import _core; print(_core.int8_isa())"],
                       env={**os.environ, "PYRNN_ISA": "avx2"}, capture_output=True, text=True, timeout=120, cwd=HERE)
    assert r.stdout.strip() == "avx_vnni", r.stderr


def test_unknown_int8_kernel_is_an_error():
    with pytest.raises(ValueError, match="unsupported ISA 'nope'"):
        _core._int8_gemm("nope", np.zeros((1, 4), np.uint8), _core.Int8Weights(np.zeros((1, 4), np.int8),
                                                                                 np.ones(1, np.float32)))


def test_weights_reject_minus_128():
    with pytest.raises(ValueError, match="-127, 127"):
        _core.Int8Weights(np.full((2, 3), -128, np.int8), np.ones(2, np.float32))


def test_product_error_bound():
    rng = np.random.default_rng(1)
    for M, N, K in _gemm_cases():
        x = rng.standard_normal((M, K)).astype(np.float32)
        w = rng.uniform(-0.3, 0.3, (N, K)).astype(np.float32)
        q, s = rq.quantize_weights(w)
        err = np.abs(rq.int8_linear(x, q, s).astype(np.float64) - x.astype(np.float64) @ w.astype(np.float64).T)
        bound = rq.product_error_bound(x, w) * (1 + 1e-4) + 1e-6
        assert (err <= bound).all()


def _model(mode, I, H, **kw):
    if mode.startswith("RNN"):
        return pyrnn.nn.RNN(I, H, nonlinearity=mode[4:].lower(), seed=7, **kw).eval()
    cls = pyrnn.nn.LSTM if mode == "LSTM" else pyrnn.nn.GRU
    return cls(I, H, seed=7, **kw).eval()


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
@pytest.mark.parametrize("I,H,B,T", [(1, 1, 1, 3), (7, 15, 3, 5), (17, 16, 16, 4), (33, 65, 17, 3), (64, 33, 2, 6)])
def test_layer_matches_reference(mode, I, H, B, T):
    m = _model(mode, I, H)
    qm = m.quantize("int8")
    rng = np.random.default_rng(I * 100 + H)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0 = (0.5 * rng.standard_normal((1, B, H))).astype(np.float32)
    p = qm.layer_quantized(0)
    if mode == "LSTM":
        c0 = (0.5 * rng.standard_normal((1, B, H))).astype(np.float32)
        out, (hn, cn) = qm(x, (h0, c0))
        ref_out, ref_h, ref_c = rq.lstm_forward(x, h0[0], c0[0], p["q_ih"], p["s_ih"], p["q_hh"], p["s_hh"], p["bias_x"])
        np.testing.assert_allclose(cn[0], ref_c, atol=2e-5)
    elif mode == "GRU":
        out, hn = qm(x, h0)
        ref_out, ref_h = rq.gru_forward(x, h0[0], p["q_ih"], p["s_ih"], p["q_hh"], p["s_hh"], p["bias_x"], p["bias_hn"])
    else:
        out, hn = qm(x, h0)
        ref_out, ref_h = rq.rnn_forward(x, h0[0], p["q_ih"], p["s_ih"], p["q_hh"], p["s_hh"], p["bias_x"],
                                        nonlinearity=mode[4:].lower())
        assert p["q_ih"].shape == (H, I) and p["bias_hn"] is None
        if mode == "RNN_RELU":
            assert (out >= 0).all() and (out == 0).any()
    # The core's tanh/sigmoid differ from NumPy's by float32 rounding, which can move one h value
    # across a quantization step at a later time: far below the scheme's own error.
    np.testing.assert_allclose(out, ref_out, atol=2e-5)
    np.testing.assert_allclose(hn[0], ref_h, atol=2e-5)


@pytest.mark.parametrize("I,H,P,B,T", [(1, 2, 1, 1, 3), (7, 15, 4, 3, 5), (17, 33, 16, 16, 4), (20, 64, 17, 5, 6)])
def test_lstm_projection_matches_reference(I, H, P, B, T):
    qm = _model("LSTM", I, H, proj_size=P).quantize("int8")
    rng = np.random.default_rng(I + H + P)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0 = (0.5 * rng.standard_normal((1, B, P))).astype(np.float32)
    c0 = (0.5 * rng.standard_normal((1, B, H))).astype(np.float32)
    out, (hn, cn) = qm(x, (h0, c0))
    assert out.shape == (T, B, P) and hn.shape == (1, B, P) and cn.shape == (1, B, H)
    p = qm.layer_quantized(0)
    assert p["q_hr"].shape == (P, H) and p["q_hh"].shape == (4 * H, P)
    ref_out, ref_h, ref_c = rq.lstm_forward(x, h0[0], c0[0], p["q_ih"], p["s_ih"], p["q_hh"], p["s_hh"], p["bias_x"],
                                            q_hr=p["q_hr"], s_hr=p["s_hr"])
    np.testing.assert_allclose(out, ref_out, atol=2e-5)
    np.testing.assert_allclose(hn[0], ref_h, atol=2e-5)
    np.testing.assert_allclose(cn[0], ref_c, atol=2e-5)


@pytest.mark.parametrize("I,H,B,T", [(1, 1, 1, 3), (7, 15, 3, 5), (17, 16, 16, 4), (33, 65, 17, 3)])
def test_gru_reset_before_matches_reference(I, H, B, T):
    qm = _model("GRU", I, H, reset_after=False).quantize("int8")
    assert "reset_after=False" in repr(qm)
    rng = np.random.default_rng(I * 7 + H)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0 = (0.5 * rng.standard_normal((1, B, H))).astype(np.float32)
    out, hn = qm(x, h0)
    p = qm.layer_quantized(0)
    ref_out, ref_h = rq.gru_forward(x, h0[0], p["q_ih"], p["s_ih"], p["q_hh"], p["s_hh"], p["bias_x"], p["bias_hn"],
                                    reset_after=False)
    ref_after, _ = rq.gru_forward(x, h0[0], p["q_ih"], p["s_ih"], p["q_hh"], p["s_hh"], p["bias_x"], p["bias_hn"])
    np.testing.assert_allclose(out, ref_out, atol=2e-5)
    np.testing.assert_allclose(hn[0], ref_h, atol=2e-5)
    if H > 1:  # the other variant is really another function of the same weights
        assert np.abs(ref_after - ref_out).max() > 1e-3


@pytest.mark.parametrize("dtype,bound", [("int8", 0.05), ("bfloat16", 0.02)])
@pytest.mark.parametrize("mode,kw", [("LSTM", {"proj_size": 12}), ("GRU", {"reset_after": False}),
                                     ("LSTM", {"proj_size": 7, "num_layers": 2, "bidirectional": True}),
                                     ("GRU", {"reset_after": False, "num_layers": 2, "bidirectional": True})])
def test_variants_error_against_float32(dtype, bound, mode, kw):
    m = _model(mode, 24, 48, **kw)
    x = np.random.default_rng(3).standard_normal((20, 5, 24)).astype(np.float32)
    lengths = [20, 3, 0, 11, 19]
    ref, ref_state = m(x, lengths=lengths)
    out, state = m.quantize(dtype)(x, lengths=lengths)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() <= bound
    ref_h, h = (ref_state[0], state[0]) if mode == "LSTM" else (ref_state, state)
    assert ref_h.shape == h.shape and np.abs(ref_h - h).max() <= 2 * bound


# Documented in pyrnn.reference_quant: max |out_int8 - out_float32| for torch-initialised weights
# and unit-scale inputs.
ERROR_BOUND = 0.05


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
@pytest.mark.parametrize("kw", [{}, {"num_layers": 2, "bidirectional": True}, {"batch_first": True}])
def test_error_against_float32(mode, kw):
    m = _model(mode, 24, 48, **kw)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 20, 24) if kw.get("batch_first") else (20, 5, 24)).astype(np.float32)
    ref, ref_state = m(x)
    out, state = m.quantize("int8")(x)
    assert out.shape == ref.shape and out.dtype == np.float32
    assert np.abs(out - ref).max() <= ERROR_BOUND
    for a, b in zip(ref_state if mode == "LSTM" else [ref_state], state if mode == "LSTM" else [state]):
        assert np.abs(np.asarray(a) - np.asarray(b)).max() <= 2 * ERROR_BOUND


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
def test_lengths_equal_separate_runs(mode):
    m = _model(mode, 6, 10, num_layers=2, bidirectional=True)
    qm = m.quantize("int8")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((9, 4, 6)).astype(np.float32)
    lengths = [9, 3, 0, 6]
    out, state = qm(x, lengths=lengths)
    hn = state[0] if mode == "LSTM" else state
    for b, n in enumerate(lengths):
        assert not out[n:, b].any()
        if n == 0:
            assert not hn[:, b].any()
            continue
        ob, sb = qm(x[:n, b:b + 1])
        np.testing.assert_array_equal(out[:n, b:b + 1], ob)
        np.testing.assert_array_equal(hn[:, b:b + 1], sb[0] if mode == "LSTM" else sb)


def test_unbatched_and_state_shapes():
    qm = _model("LSTM", 4, 8, num_layers=2).quantize("int8")
    out, (h, c) = qm(np.ones((3, 4), np.float32))
    assert out.shape == (3, 8) and h.shape == (2, 8) and c.shape == (2, 8)
    with pytest.raises(ValueError, match="h_0"):
        qm(np.ones((3, 2, 4), np.float32), (np.zeros((1, 2, 8)), np.zeros((2, 2, 8))))


def test_training_a_quantized_copy_is_an_error():
    qm = _model("GRU", 4, 8).quantize("int8")
    with pytest.raises(RuntimeError, match=r"quantize\('int8'\)"):
        qm.train()
    with pytest.raises(RuntimeError, match=r"quantize\('int8'\)"):
        qm.backward(np.zeros((2, 1, 8), np.float32))
    assert qm.eval() is qm and not qm.training


def test_unsupported_options():
    with pytest.raises(ValueError, match="dtype"):
        _model("LSTM", 4, 8).quantize("int4")
    with pytest.raises(ValueError, match="supports LSTM, GRU and RNN"):
        pyrnn.nn.RNN(4, 8, nonlinearity="sigmoid").quantize("int8")  # Keras SimpleRNN's other activations


_ISA_SCRIPT = """
import json, sys, numpy as np, pyrnn
from pyrnn import _core
res = {"int8_isa": _core.int8_isa()}
for mode in ("LSTM", "GRU"):
    cls = pyrnn.nn.LSTM if mode == "LSTM" else pyrnn.nn.GRU
    qm = cls(33, 65, num_layers=2, bidirectional=True, seed=1).quantize("int8")
    x = np.random.default_rng(2).standard_normal((7, 17, 33)).astype(np.float32)
    out, _ = qm(x, lengths=list(range(7, 0, -1)) + [7] * 10)
    res[mode] = out.tobytes().hex()
print(json.dumps(res))
"""


def test_outputs_identical_across_isas():
    if os.environ.get("PYRNN_ISA"):
        pytest.skip("PYRNN_ISA is forced for this run")
    results = {}
    for isa in ISAS:
        env = {**os.environ, "PYRNN_ISA": isa}
        r = subprocess.run([sys.executable, "-c", _ISA_SCRIPT], env=env, capture_output=True, text=True, timeout=300,
                           cwd=HERE)
        assert r.returncode == 0, r.stderr
        results[isa] = json.loads(r.stdout)
    names = {isa: results[isa]["int8_isa"] for isa in ISAS}
    assert names.get("scalar", "scalar") == "scalar" and names.get("avx2", AVX2_CHOICE) == AVX2_CHOICE
    first = results[ISAS[0]]
    for isa in ISAS[1:]:
        assert results[isa]["LSTM"] == first["LSTM"], isa
        assert results[isa]["GRU"] == first["GRU"], isa


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_error_not_above_torch_dynamic_int8():
    torch = pytest.importorskip("torch")
    from torch.ao.quantization import quantize_dynamic

    torch.manual_seed(0)
    tm = torch.nn.LSTM(64, 128, num_layers=1)
    m = pyrnn.nn.LSTM(64, 128)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    m.eval()
    x = np.random.default_rng(0).standard_normal((30, 8, 64)).astype(np.float32)
    ref, _ = m(x)
    ours = np.abs(m.quantize("int8")(x)[0] - ref).max()
    # quantize_dynamic swaps submodules only: wrap the LSTM
    tq = quantize_dynamic(torch.nn.Sequential(tm), {torch.nn.LSTM}, dtype=torch.qint8)[0]
    assert "quantized" in type(tq).__module__
    with torch.no_grad():
        theirs = np.abs(tq(torch.from_numpy(x))[0].numpy() - ref).max()
    assert ours <= theirs


@pytest.mark.parametrize("dtype", ["int8", "bfloat16"])
@pytest.mark.parametrize("mode,kw", [("LSTM", {}), ("GRU", {}), ("GRU", {"reset_after": False}), ("RNN", {}),
                                     ("RNN", {"nonlinearity": "relu"})])
def test_cells_step_like_the_layer(mode, kw, dtype):
    # Streaming: one quantized cell call per step carries the state exactly as the layer's loop.
    cell_cls, layer_cls = {"LSTM": (pyrnn.nn.LSTMCell, pyrnn.nn.LSTM), "GRU": (pyrnn.nn.GRUCell, pyrnn.nn.GRU),
                           "RNN": (pyrnn.nn.RNNCell, pyrnn.nn.RNN)}[mode]
    cell = cell_cls(5, 17, seed=3, **kw)
    layer = layer_cls(5, 17, **kw)
    layer.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    qc, ql = cell.quantize(dtype), layer.quantize(dtype)
    x = np.random.default_rng(4).standard_normal((6, 3, 5)).astype(np.float32)
    out, _ = ql(x)
    state = fstate = None
    for t in range(6):
        state = qc(x[t], state)
        fstate = cell(x[t], fstate)
        np.testing.assert_array_equal(state[0] if mode == "LSTM" else state, out[t])
        h, fh = (state[0], fstate[0]) if mode == "LSTM" else (state, fstate)
        assert np.abs(h - fh).max() <= ERROR_BOUND  # against the float cell, step by step
    single = qc(x[0, 0])
    assert (single[0] if mode == "LSTM" else single).shape == (17,)
    # float32 rows take the streaming fast path (GRU); other inputs are converted first: same values
    wide = np.asfortranarray(x[1].astype(np.float64))
    if mode != "LSTM":
        np.testing.assert_array_equal(qc(wide, state), qc(x[1], state))
    with pytest.raises(ValueError, match="expected shape"):
        qc(x[1, :2], state if mode != "LSTM" else (state[0], state[1]))  # 2 rows, a state of 3
    with pytest.raises(RuntimeError, match=r"quantize\('int8'\)"):
        qc.train()


# ------------------------------------------------------------------------------------- bfloat16

BF16_KERNELS = _core._bf16_kernels()  # every bf16 GEMM kernel this CPU runs, forced one by one below
WIDENING = [k for k in BF16_KERNELS if k in ("avx2", "avx512f")]


def test_bf16_isa_is_reported():
    assert _core.bf16_isa() in BF16_KERNELS
    assert "scalar" in BF16_KERNELS
    if pyrnn.isa() == "avx2":
        assert _core.bf16_isa() == "avx2"
    if pyrnn.isa() == "avx512":  # vdpbf16ps only where the CPU has it (and runs it fast: AMD)
        assert _core.bf16_isa() in ("avx512f", "avx512_bf16")
        assert _core.bf16_isa() == "avx512f" or "avx512_bf16" in BF16_KERNELS
    with pytest.raises(ValueError, match="unsupported"):
        _core._bf16_gemm("sse9", np.zeros((1, 2), np.float32), _core.Bf16Weights(np.zeros((3, 2), np.float32)))


def test_to_bfloat16_rounds_to_nearest_even():
    x = np.array([1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -7 + 2 ** -9, -2.5, 0.0, np.inf], np.float32)
    np.testing.assert_array_equal(rq.to_bfloat16(x), [1.0, 1.0, 1 + 2 ** -6, 1 + 2 ** -7, -2.5, 0.0, np.inf])


@pytest.mark.parametrize("isa", ISAS + BF16_KERNELS)
def test_bf16_gemm_against_reference(isa):
    rng = np.random.default_rng(0)
    for M, N, K in _gemm_cases():
        a = rng.standard_normal((M, K)).astype(np.float32)
        w = rng.standard_normal((N, K)).astype(np.float32)
        got = _core._bf16_gemm(isa, a, _core.Bf16Weights(w))
        ref = rq.bf16_linear(a, w)
        # products of bf16 values are exact in float32; only the float32 sums round
        tol = 1e-6 * (np.abs(rq.to_bfloat16(a)) @ np.abs(rq.to_bfloat16(w)).T) + 1e-30
        assert (np.abs(got - ref) <= tol * 2).all(), (isa, M, N, K)
        assert (np.abs(ref - a @ w.T) <= rq.bf16_product_error_bound(a, w)).all()


@pytest.mark.parametrize("kernel, mr", [(k, {"avx2": 4, "avx512f": 8}[k]) for k in WIDENING])
def test_bf16_widening_tiles_sum_in_the_scalar_order(kernel, mr):
    # bf16 products are exact in float32, so an FMA is the scalar path's multiply-then-add: tiles
    # of 3 to mr rows give the scalar results bit for bit; 1 and 2 rows split the sums over k.
    rng = np.random.default_rng(5)
    for K in (1, 2, 7, 16, 33, 130):
        w = _core.Bf16Weights(rng.standard_normal((37, K)).astype(np.float32))  # 3 groups: a pair and one
        for M in (3, 4, 8, 12, 1, 2, 5, 9, 10, 17):
            a = rng.standard_normal((M, K)).astype(np.float32)
            got, want = _core._bf16_gemm(kernel, a, w), _core._bf16_gemm("scalar", a, w)
            rows = M // mr * mr if M % mr in (1, 2) else M  # the rows in tiles of 3 to mr
            np.testing.assert_array_equal(got[:rows], want[:rows], err_msg=f"M={M} K={K}")
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(K))


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
@pytest.mark.parametrize("kw", [{}, {"num_layers": 2, "bidirectional": True}])
def test_bf16_error_against_float32(mode, kw):
    m = _model(mode, 24, 48, **kw)
    x = np.random.default_rng(3).standard_normal((20, 5, 24)).astype(np.float32)
    ref, _ = m(x)
    qm = m.quantize("bfloat16")
    out, _ = qm(x)
    assert np.abs(out - ref).max() <= 1e-2 * max(1.0, np.abs(ref).max())
    lengths = [20, 3, 0, 7, 11]
    out_l, _ = qm(x, lengths=lengths)
    for b, n in enumerate(lengths):
        assert not out_l[n:, b].any()
        if n:
            np.testing.assert_allclose(out_l[:n, b:b + 1], qm(x[:n, b:b + 1])[0], atol=1e-6)
    with pytest.raises(RuntimeError, match="quantize"):
        qm.train()


def test_core_rejects_misused_extra_weights():
    lstm = pyrnn.nn.LSTM(3, 4).quantize("int8").layer_quantized(0)
    gru = pyrnn.nn.GRU(3, 4, reset_after=False).quantize("int8").layer_quantized(0)
    x, h = np.zeros((2, 1, 3), np.float32), np.zeros((1, 4), np.float32)
    with pytest.raises(ValueError, match="w_hn .* needs mode 'GRU'"):
        _core.int8_layer_forward("LSTM", x, lstm["w_ih"], lstm["w_hh"], lstm["bias_x"], None, h, h, None,
                                 w_hn=gru["w_hn"])
    with pytest.raises(ValueError, match="w_hr .* needs mode 'LSTM'"):
        _core.int8_layer_forward("GRU", x, gru["w_ih"], gru["w_hh"], gru["bias_x"], gru["bias_hn"], h, None, None,
                                 w_hn=gru["w_hn"], w_hr=gru["w_hn"])
    with pytest.raises(TypeError, match="w_hn: expected packed weights"):
        _core.int8_layer_forward("GRU", x, gru["w_ih"], gru["w_hh"], gru["bias_x"], gru["bias_hn"], h, None, None,
                                 w_hn=np.zeros((4, 4), np.int8))
    with pytest.raises(ValueError, match="weights must have 3\\*H rows"):  # reset-before rows without w_hn
        _core.int8_layer_forward("GRU", x, gru["w_ih"], gru["w_hh"], gru["bias_x"], gru["bias_hn"], h, None, None)
    with pytest.raises(ValueError, match="x: expected shape"):
        _core.int8_linear(np.zeros((2, 5), np.float32), lstm["w_ih"])


@pytest.mark.parametrize("bad", [5, None, "INT8", "float8"])
def test_quantize_dtype_must_be_named(bad):
    with pytest.raises(ValueError, match=r"dtype must be one of 'int8', 'bfloat16', got"):
        pyrnn.nn.GRU(3, 4).quantize(bad)
    with pytest.raises(ValueError, match=r"dtype must be one of 'int8', 'bfloat16', got"):
        pyrnn.nn.LSTMCell(3, 4).quantize(bad)


@pytest.mark.parametrize("M", [0, 1, 511, 512, 513, 1100])  # the core quantizes rows in chunks of 512
def test_int8_linear_equals_the_reference(M):
    rng = np.random.default_rng(M)
    w = rng.uniform(-0.5, 0.5, (19, 37)).astype(np.float32)
    x = rng.standard_normal((M, 37)).astype(np.float32)
    q, s = rq.quantize_weights(w)
    np.testing.assert_array_equal(_core.int8_linear(x, _core.Int8Weights(q, s)), rq.int8_linear(x, q, s))
    np.testing.assert_allclose(_core.bf16_linear(x, _core.Bf16Weights(w)), rq.bf16_linear(x, w), rtol=1e-5,
                               atol=1e-5)
