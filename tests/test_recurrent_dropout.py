"""Recurrent dropout (Keras's ``recurrent_dropout``): the core's ``recurrent_mask`` against the NumPy
reference for every cell, gradients by central differences, bitwise results for any thread count,
the scratch it reports, and the masks the Keras layers draw (statistics, fixed over the steps of a
sequence, training only). Keras parity with an injected mask is in test_keras_parity style at the
end (skips without keras)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyrnn
from pyrnn import _core
from pyrnn import _recurrent as spine
from pyrnn import reference as ref
from test_core import GATES, assert_close

HERE = Path(__file__).parent
CELLS = ["rnn_tanh", "rnn_relu", "gru", "gru_reset_before", "lstm"]
SIZES = [1, 3, 7, 15, 16, 17, 33]
# Every size as H and as I (SIMD tails), batches 1, 2, 5, 17; plus the GEMM path of the step
# products (B*K*N large), a batch split in row chunks (B >= 256) and row windows (long sequences
# of small steps, B ending mid-window).
SHAPES = [((1, 2, 5)[i % 3], (1, 2, 5, 17)[i % 4], SIZES[(i + 3) % 7], h) for i, h in enumerate(SIZES)]
SHAPES += [(3, 40, 5, 300), (2, 300, 5, 20), (60, 45, 3, 12)]
RATE = 0.4


def sorted_lengths(T, B):
    """Non-increasing lengths in [0, T] (the core's row order), some of them 0 when B > T."""
    return np.array(sorted(((T - b) % (T + 1) for b in range(B)), reverse=True), dtype=np.int64)


def batch_sizes_of(lengths, T):
    return np.array([(lengths > t).sum() for t in range(T)], dtype=np.int32)


def draw_mask(rng, shape, dtype, rate=RATE):
    return ((rng.random(shape) >= rate) / (1 - rate)).astype(dtype)


def make(cell, shape, dtype, proj=0, seed=0):
    T, B, I, H = shape
    P = proj or H
    rng = np.random.default_rng(seed)
    G, s = GATES[cell], 1 / np.sqrt(H)
    arr = lambda *shp, scale=1.0: (rng.standard_normal(shp) * scale).astype(dtype)
    p = dict(x=arr(T, B, I), h0=arr(B, P, scale=0.5), c0=arr(B, H, scale=0.5) if cell == "lstm" else None,
             w_ih=rng.uniform(-s, s, (G * H, I)).astype(dtype), w_hh=rng.uniform(-s, s, (G * H, P)).astype(dtype),
             b_ih=rng.uniform(-s, s, G * H).astype(dtype), b_hh=rng.uniform(-s, s, G * H).astype(dtype),
             w_hr=rng.uniform(-s, s, (P, H)).astype(dtype) if proj else None)
    g = dict(grad_out=arr(T, B, P), grad_hn=arr(B, P), grad_cn=arr(B, H) if cell == "lstm" else None)
    return p, g, draw_mask(rng, (B, P), dtype)


def core(cell, p, g, mask, batch_sizes=None, training=True):
    args = (cell, p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    out, hn, cn, ws = _core.forward(*args, training, batch_sizes, p["w_hr"], recurrent_mask=mask)
    if not training:
        return (out, hn, cn), None
    grads = _core.backward(*args, out, ws, g["grad_out"], g["grad_hn"], g["grad_cn"], batch_sizes, p["w_hr"],
                           recurrent_mask=mask)
    return (out, hn, cn), grads


def reference(cell, p, g, mask, lengths=None):
    f = {k: None if v is None else v.astype(np.float64) for k, v in {**p, **g}.items()}
    m = mask.astype(np.float64)
    args, weights = (f["x"], f["h0"]), (f["w_ih"], f["w_hh"], f["b_ih"], f["b_hh"])
    if cell == "lstm":
        out, (hn, cn), cache = ref.lstm_forward(*args, f["c0"], *weights, lengths=lengths, recurrent_mask=m)
        grads = ref.lstm_backward(cache, f["grad_out"], f["grad_hn"], f["grad_cn"])
    elif cell.startswith("gru"):
        out, hn, cache = ref.gru_forward(*args, *weights, reset_after=cell == "gru", lengths=lengths, recurrent_mask=m)
        cn, grads = None, ref.gru_backward(cache, f["grad_out"], f["grad_hn"])
    else:
        out, hn, cache = ref.rnn_forward(*args, *weights, nonlinearity=cell[4:], lengths=lengths, recurrent_mask=m)
        cn, grads = None, ref.rnn_backward(cache, f["grad_out"], f["grad_hn"])
    names = ["x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    return (out, hn, cn), tuple(grads.get(n) for n in names)


STATE_NAMES = ["out", "h_n", "c_n"]
GRAD_NAMES = ["dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"]


# ---------------------------------------------------------------------------- core vs reference

@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
@pytest.mark.parametrize("cell", CELLS)
def test_masked_core_matches_reference(cell, shape, dtype, with_lengths):
    p, g, mask = make(cell, shape, dtype)
    T, B = shape[:2]
    lengths = sorted_lengths(T, B) if with_lengths else None
    bs = None if lengths is None else batch_sizes_of(lengths, T)
    want_states, want_grads = reference(cell, p, g, mask, lengths)
    got_states, got_grads = core(cell, p, g, mask, bs)
    for name, got, want in zip(STATE_NAMES + GRAD_NAMES, got_states + tuple(got_grads[:7]), want_states + want_grads):
        assert_close(name, got, want, dtype)
    # the inference path applies a given mask the same way
    infer, _ = core(cell, p, g, mask, bs, training=False)
    for a, b in zip(got_states, infer):
        if a is not None:
            assert np.array_equal(a, b)


@pytest.mark.parametrize("cell", CELLS)
def test_all_ones_mask_is_no_mask(cell):
    p, g, _ = make(cell, (5, 6, 7, 17), np.float64)
    ones = np.ones((6, 17))
    with_ones = core(cell, p, g, ones)
    without = core(cell, p, g, None)
    for a, b in zip(with_ones[0] + with_ones[1], without[0] + without[1]):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def lstm_projection_forward(p, mask, lengths):
    """A projected LSTM in NumPy, float64: h_t = W_hr (o * tanh c_t), mask * h_{t-1} into W_hh."""
    f = {k: None if v is None else v.astype(np.float64) for k, v in p.items()}
    T, B, _ = f["x"].shape
    H = f["c0"].shape[1]
    sig = lambda a: 1 / (1 + np.exp(-a))
    h, c, outs = f["h0"], f["c0"], np.zeros((T, B, f["h0"].shape[1]))
    for t in range(T):
        a = f["x"][t] @ f["w_ih"].T + f["b_ih"] + (mask * h) @ f["w_hh"].T + f["b_hh"]
        i, fg, gg, o = sig(a[:, :H]), sig(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sig(a[:, 3 * H:])
        c_new = fg * c + i * gg
        h_new = (o * np.tanh(c_new)) @ f["w_hr"].T
        v = (np.arange(B) < (lengths > t).sum())[:, None]
        outs[t] = np.where(v, h_new, 0)
        h, c = np.where(v, h_new, h), np.where(v, c_new, c)
    return outs, h, c


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape, proj", [((5, 3, 4, 7), 3), ((4, 17, 15, 33), 16), ((60, 45, 3, 12), 5)])
def test_projected_lstm_masks_the_projected_state(shape, proj, dtype):
    p, g, mask = make("lstm", shape, dtype, proj=proj)
    assert mask.shape == (shape[1], proj)
    lengths = sorted_lengths(*shape[:2])
    (out, hn, cn), _ = core("lstm", p, g, mask, batch_sizes_of(lengths, shape[0]))
    want = lstm_projection_forward(p, mask.astype(np.float64), lengths)
    for name, got, w in zip(STATE_NAMES, (out, hn, cn), want):
        assert_close(name, got, w, dtype)


# ---------------------------------------------------------------------------- gradients

def central_differences(loss, arr, eps=1e-6):
    """d loss() / d arr by central differences, arr changed in place and restored entry by entry."""
    numeric = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + eps
        plus = loss()
        arr[idx] = old - eps
        numeric[idx] = (plus - loss()) / (2 * eps)
        arr[idx] = old
    return numeric


def _loss(cell, p, r, mask, lengths):
    """A scalar of the reference's outputs (float64)."""
    args, weights = (p["x"], p["h0"]), (p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    if cell == "lstm":
        out, (hn, cn), _ = ref.lstm_forward(*args, p["c0"], *weights, lengths=lengths, recurrent_mask=mask)
        return (out * r["grad_out"]).sum() + (hn * r["grad_hn"]).sum() + (cn * r["grad_cn"]).sum()
    if cell.startswith("gru"):
        out, hn, _ = ref.gru_forward(*args, *weights, reset_after=cell == "gru", lengths=lengths, recurrent_mask=mask)
    else:
        out, hn, _ = ref.rnn_forward(*args, *weights, nonlinearity=cell[4:], lengths=lengths, recurrent_mask=mask)
    return (out * r["grad_out"]).sum() + (hn * r["grad_hn"]).sum()


@pytest.mark.parametrize("cell", CELLS)
def test_reference_gradients_pass_central_differences(cell):
    p, g, mask = make(cell, (4, 3, 2, 3), np.float64, seed=3)
    lengths = np.array([4, 2, 3])
    _, grads = reference(cell, p, g, mask, lengths)
    for key, got in zip(["x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"], grads):
        if got is None:
            continue
        numeric = central_differences(lambda: _loss(cell, p, g, mask, lengths), p[key])
        np.testing.assert_allclose(got, numeric, rtol=1e-6, atol=1e-8, err_msg=key)


def test_projected_lstm_core_gradients_pass_central_differences():
    p, g, mask = make("lstm", (4, 3, 2, 4), np.float64, proj=2, seed=5)
    bs = batch_sizes_of(np.array([4, 3, 1]), 4)

    def loss():
        (out, hn, cn), _ = core("lstm", p, g, mask, bs, training=False)
        return (out * g["grad_out"]).sum() + (hn * g["grad_hn"]).sum() + (cn * g["grad_cn"]).sum()

    _, grads = core("lstm", p, g, mask, bs)
    for key, got in zip(["x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh", "w_hr"], grads):
        np.testing.assert_allclose(got, central_differences(loss, p[key]), rtol=1e-6, atol=1e-8, err_msg=key)


# ---------------------------------------------------------------------------- threads, scratch, ISAs

@pytest.mark.parametrize("cell", CELLS + ["lstm-proj"])
@pytest.mark.parametrize("shape", [(6, 40, 70, 150), (2, 300, 20, 40), (60, 45, 3, 12)],
                         ids=lambda s: "T{}B{}I{}H{}".format(*s))
def test_masked_results_do_not_depend_on_thread_count(cell, shape):
    proj = shape[3] // 2 if cell == "lstm-proj" else 0
    cell = cell.split("-")[0]
    p, g, mask = make(cell, shape, np.float32, proj=proj)
    bs = batch_sizes_of(sorted_lengths(*shape[:2]), shape[0])
    before = pyrnn.get_num_threads()
    runs = []
    try:
        for n in (1, 2, 3):
            pyrnn.set_num_threads(n)
            states, grads = core(cell, p, g, mask, bs)
            runs.append([a for a in states + grads if a is not None])
    finally:
        pyrnn.set_num_threads(before)
    for a, b, c in zip(*runs):
        assert np.array_equal(a, b) and np.array_equal(a, c)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(2, 1, 1, 1), (3, 5, 300, 20), (2, 300, 5, 40), (40, 45, 3, 12)],
                         ids=lambda s: "T{}B{}I{}H{}".format(*s))
@pytest.mark.parametrize("cell", CELLS + ["lstm-proj"])
def test_reported_scratch_covers_the_masked_peak(cell, shape, threads):
    T, B, I, H = shape
    proj = max(1, H // 2) if cell == "lstm-proj" else 0
    cell = cell.split("-")[0]
    p, g, mask = make(cell, shape, np.float32, proj=proj)
    args = (cell, p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    before = _core.get_num_threads()
    _core.set_num_threads(threads)
    try:
        def report(what):
            return _core._scratch_bytes(cell, what, T, B, I, H, proj, np.float32, recurrent_mask=True)

        for what, training in (("inference", False), ("training", True)):
            _core._scratch_peak(reset=True)
            out, hn, cn, ws = _core.forward(*args, training, w_hr=p["w_hr"], recurrent_mask=mask)
            assert 0 < _core._scratch_peak() <= report(what), what
        _core._scratch_peak(reset=True)
        _core.backward(*args, out, ws, g["grad_out"], g["grad_hn"], g["grad_cn"], w_hr=p["w_hr"], recurrent_mask=mask)
        assert 0 < _core._scratch_peak() <= report("backward")
        unmasked = _core._scratch_bytes(cell, "backward", T, B, I, H, proj, np.float32)
        assert report("backward") > unmasked  # the masked h sequence for dW_hh is accounted for
    finally:
        _core.set_num_threads(before)


def test_mask_is_checked():
    p, g, mask = make("gru", (3, 4, 5, 6), np.float32)
    args = ("gru", p["x"], p["h0"], None, p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], True)
    with pytest.raises(ValueError, match="recurrent_mask"):
        _core.forward(*args, recurrent_mask=mask[:, :5])
    with pytest.raises((TypeError, ValueError), match="recurrent_mask"):
        _core.forward(*args, recurrent_mask=mask.astype(np.float64))


def test_masked_core_under_each_isa():
    """The core-vs-reference tests of this file under every ISA the CPU has (PYRNN_ISA)."""
    if os.environ.get("PYRNN_ISA"):
        pytest.skip("already running under a forced ISA")
    for isa in pyrnn.supported_isas():
        env = {**os.environ, "PYRNN_ISA": isa}
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:benchmark",
               str(HERE / "test_recurrent_dropout.py"), "-k", "matches_reference or projected or thread_count"]
        # cwd=tests/: the installed pyrnn must be imported, not the source tree's (no compiled core).
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=HERE)
        assert result.returncode == 0, isa + "\n" + result.stdout[-4000:] + result.stderr[-2000:]
        assert "passed" in result.stdout and " failed" not in result.stdout, isa


# ---------------------------------------------------------------------------- the mask's semantics

def test_one_mask_for_every_step_of_a_sequence():
    """Linear RNN, no input, W_hh = I, h0 = 1: h_t = W_hh (m * h_{t-1}) = m^(t+1), so every step
    sees the same mask (and the output itself is not masked again)."""
    T, B, H = 6, 5, 9
    rng = np.random.default_rng(0)
    m = rng.uniform(0.5, 1.5, (B, H))
    x = np.zeros((T, B, 1))
    out, _, _, _ = _core.forward("rnn_linear", x, np.ones((B, H)), None, np.zeros((H, 1)), np.eye(H), None, None, True,
                                 recurrent_mask=m)
    for t in range(T):
        np.testing.assert_allclose(out[t], m ** (t + 1), rtol=1e-13)


def test_gru_blend_and_lstm_cell_state_use_the_unmasked_state():
    """With W_hh = 0 the recurrent product vanishes: whatever the mask, the result is the unmasked one
    (the GRU blend z*h_{t-1} and the LSTM c_t do not see the mask)."""
    for cell in ("gru", "gru_reset_before", "lstm"):
        p, g, mask = make(cell, (4, 3, 5, 7), np.float64)
        p["w_hh"][:] = 0
        masked, _ = core(cell, p, g, np.zeros_like(mask))
        plain, _ = core(cell, p, g, None)
        for a, b in zip(masked, plain):
            if a is not None:
                np.testing.assert_array_equal(a, b)


class _Capture:
    """Records the recurrent_mask every spine.forward call gets."""

    def __init__(self, monkeypatch):
        self.masks = []
        real = spine.forward

        def forward(*args, **kwargs):
            self.masks.append(kwargs.get("recurrent_mask"))
            return real(*args, **kwargs)

        monkeypatch.setattr(spine, "forward", forward)


@pytest.mark.parametrize("layer_name", ["SimpleRNN", "GRU", "LSTM"])
def test_keras_layers_draw_one_inverted_dropout_mask_per_call(layer_name, monkeypatch):
    from pyrnn import layers

    rate, batch, units = 0.3, 60, 64
    layer = getattr(layers, layer_name)(units, recurrent_dropout=rate, return_sequences=True, seed=7)
    x = np.random.default_rng(0).standard_normal((batch, 5, 4)).astype(np.float32)
    cap = _Capture(monkeypatch)
    layer(x, training=True)
    layer.backward(np.ones((batch, 5, units), np.float32))
    layer(x, training=True)
    first, second = cap.masks
    assert first.shape == (batch, units) and first.dtype == np.float32
    assert set(np.unique(first).tolist()) <= {0.0, np.float32(1 / (1 - rate))}
    dropped = (first == 0).mean()
    assert abs(dropped - rate) < 0.04, dropped
    assert abs(first.mean() - 1) < 0.06  # inverted dropout keeps the expectation
    assert not np.array_equal(first, second)  # a new mask per call
    assert not all(np.array_equal(first[0], row) for row in first[1:])  # and per sequence
    # seeded: the same seed draws the same masks
    again = getattr(layers, layer_name)(units, recurrent_dropout=rate, return_sequences=True, seed=7)
    cap.masks.clear()
    again(x, training=True)
    assert np.array_equal(cap.masks[0], first)
    # inference passes no mask and equals the layer without recurrent dropout
    cap.masks.clear()
    plain = getattr(layers, layer_name)(units, return_sequences=True)
    plain(x)
    plain.set_weights(layer.get_weights())
    np.testing.assert_array_equal(layer(x, training=False), plain(x, training=False))
    assert cap.masks[-2:] == [None, None]
    assert layer.get_config()["recurrent_dropout"] == rate


def test_keras_layer_mask_follows_the_rows_of_a_masked_batch(monkeypatch):
    """With a Keras mask the rows are sorted by length for the core: the recurrent mask is sorted
    the same way (checked against the reference in the caller's row order)."""
    from pyrnn import layers

    units, steps = 6, 5
    layer = layers.LSTM(units, recurrent_dropout=0.5, return_sequences=True, seed=3, dtype="float64")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, steps, 3))
    lengths = np.array([2, 5, 0, 3])
    kmask = np.arange(steps)[None, :] < lengths[:, None]
    cap = _Capture(monkeypatch)
    y = layer(x, training=True, mask=kmask)
    packing = spine.Packing.from_mask(kmask)
    m = packing.unsort_rows(cap.masks[0])  # the drawn mask in the caller's row order
    w = layer._module.layer_weights(0)
    out, _, _ = ref.lstm_forward(x.transpose(1, 0, 2), None, None, w.w_ih, w.w_hh, w.b_ih, w.b_hh, lengths=lengths,
                                 recurrent_mask=m)
    got = np.where(kmask[:, :, None], y, 0)
    np.testing.assert_allclose(got, out.transpose(1, 0, 2), rtol=1e-12, atol=1e-12)


def test_imdb_style_lstm_with_recurrent_dropout_trains():
    from pyrnn.layers import LSTM, Dense, Embedding
    from pyrnn.models import Sequential

    rng = np.random.default_rng(0)
    vocab, steps, n = 50, 20, 256
    x = rng.integers(1, vocab, (n, steps))
    y = (x < 10).any(axis=1).astype(np.float32)  # "does the review contain a word of the first ten"
    model = Sequential([Embedding(vocab, 16), LSTM(32, dropout=0.2, recurrent_dropout=0.2, seed=0),
                        Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    losses = model.fit(x, y, epochs=6, batch_size=32, verbose=0).history["loss"]
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.85 * losses[0], losses


# ---------------------------------------------------------------------------- Keras parity

def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "torch":
        pytest.skip("the parity test runs Keras on its torch backend")
    return keras


@pytest.mark.parametrize("layer_name, kwargs", [("SimpleRNN", {}), ("GRU", {}), ("GRU", {"reset_after": False}),
                                                ("LSTM", {})])
def test_keras_parity_with_a_fixed_mask(layer_name, kwargs, monkeypatch):
    """The same mask injected into both. Keras 3 draws one mask per gate (implementation 1, forced
    by recurrent_dropout); pyrnn one shared by the gates, so Keras gets the same mask for each."""
    keras = _keras()
    import torch

    import pyrnn.layers.recurrent as pyrnn_recurrent
    from pyrnn import layers

    batch, steps, features, units = 4, 6, 3, 5
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, features)).astype(np.float32)
    grad = rng.standard_normal((batch, steps, units)).astype(np.float32)
    mask = draw_mask(rng, (batch, units), np.float32, 0.3)

    klayer = getattr(keras.layers, layer_name)(units, recurrent_dropout=0.3, return_sequences=True, **kwargs)
    klayer.build((batch, steps, features))
    gates = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}[layer_name]
    fixed = torch.tensor(mask)
    klayer.cell.get_recurrent_dropout_mask = lambda step_input: fixed if gates == 1 else [fixed] * gates
    kx = torch.tensor(x, requires_grad=True)
    ky = klayer(kx, training=True)
    (ky * torch.tensor(grad)).sum().backward()

    player = getattr(layers, layer_name)(units, recurrent_dropout=0.3, return_sequences=True, **kwargs)
    player(x)
    player.set_weights([w.detach().cpu().numpy() if hasattr(w, "detach") else np.asarray(w)
                        for w in klayer.get_weights()])
    monkeypatch.setattr(pyrnn_recurrent, "dropout_mask", lambda rng_, shape, rate, dtype: mask)
    py = player(x, training=True)
    np.testing.assert_allclose(py, ky.detach().numpy(), rtol=1e-5, atol=1e-5)
    dx = player.backward(grad)
    np.testing.assert_allclose(dx, kx.grad.numpy(), rtol=1e-4, atol=1e-5)
    # the recurrent kernel's gradient, in Keras's layout (units, gates*units)
    kgrad = klayer.cell.recurrent_kernel.value.grad.numpy()
    w_hh = player._module.grads["weight_hh_l0"]
    order = spine.gate_index(player.cell.keras_order, units)
    np.testing.assert_allclose(w_hh[order].T, kgrad, rtol=1e-4, atol=1e-5)
