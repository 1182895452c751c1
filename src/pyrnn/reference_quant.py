"""NumPy reference of pyrnn's int8 inference scheme (issue 17): the oracle of the int8 kernels.

The scheme (csrc/quant/int8.h implements it bit for bit):

* Weights, symmetric per output channel (per gate row ``n``)::

      s_w[n] = max|W[n, :]| / 127          (float32; 0 for an all-zero row)
      q_w[n, k] = clip(rint(W[n, k] * (127 / max|W[n, :]|)), -127, 127)     (int8)

* Activations (the rows of x for the input projection, of h_{t-1} for the recurrent product),
  dynamically per row at each step, the same way, then stored unsigned as ``u = q + 128``
  (AVX-512 VNNI's ``vpdpbusd`` multiplies u8 by s8).
* ``rint`` rounds half to even (NumPy's ``np.rint``, C's ``nearbyint``); ``-128`` is never used,
  so the scheme is symmetric and the AVX2 kernel's int16 pairs cannot saturate.
* Products accumulate exactly in int32: ``acc[m, n] = sum_k u[m, k] * q_w[n, k]`` (what the
  micro-kernel returns, ``pyrnn._core._int8_gemm``), then, in float32::

      y[m, n] = float32(acc[m, n] - 128 * sum_k q_w[n, k]) * (s_x[m] * s_w[n])

* Gates, cell state and h in float32 as in the float layers: LSTM
  ``pre = (y_x + (b_ih + b_hh)) + y_h``; GRU (reset after, torch's) r, z like the LSTM and
  ``n = tanh((y_x_n + b_in) + r * (y_h_n + b_hn))``, ``h = (1 - z) * n + z * h_prev``; RNN
  ``h = act((y_x + (b_ih + b_hh)) + y_h)``, act tanh or relu.

Error bound. With ``|x - s_x q_x| <= s_x / 2`` and ``|w - s_w q_w| <= s_w / 2`` elementwise,
each pre-activation (one product ``x . w_n``) is off by at most
``s_w[n]/2 * sum|x| + s_x/2 * sum|w_n| + K * s_x * s_w[n] / 4`` (``product_error_bound``;
float32 rounding adds ~1e-6 relative). Through a sequence the gates are contractions (sigmoid
and tanh have slopes <= 1/4 and 1) so the output error stays of the order of one step's: for
weights drawn as torch initialises them (U(-1/sqrt(H), 1/sqrt(H))) and unit-scale inputs the
test suite checks max|out_int8 - out_float32| <= 0.05 (tests/test_quant.py), at or below torch's
dynamic int8 on the same weights (bench/bench_quant.py reports both).

The kernels' int32 accumulators equal ``int8_gemm_acc`` exactly on every ISA; the layers'
outputs are identical across ISAs and agree with ``lstm_forward`` / ``gru_forward`` here to float32
rounding of the activation functions (the core uses its own tanh/sigmoid).
"""

import numpy as np

from ._recurrent import _sigmoid

__all__ = [
    "quantize_weights",
    "quantize_rows",
    "int8_gemm_acc",
    "dequantize",
    "int8_linear",
    "product_error_bound",
    "lstm_forward",
    "gru_forward",
]

_F = np.float32


def _row_quantize(a):
    a = np.asarray(a, dtype=_F)
    m = np.max(np.abs(a), axis=1) if a.shape[1] else np.zeros(a.shape[0], _F)
    ok = m > 0
    inv = np.where(ok, _F(127) / np.where(ok, m, _F(1)), _F(0)).astype(_F)
    q = np.clip(np.rint(a * inv[:, None]), -127, 127).astype(np.int8)
    scale = np.where(ok, m / _F(127), _F(0)).astype(_F)
    return q, scale


def quantize_weights(w):
    """(q int8 [N, K], s_w float32 [N]): symmetric per row (output channel)."""
    return _row_quantize(w)


def quantize_rows(x):
    """(u uint8 [M, K] = q + 128, s_x float32 [M]): an activation matrix, per row."""
    q, s = _row_quantize(x)
    return (q.astype(np.int16) + 128).astype(np.uint8), s


def int8_gemm_acc(u, q):
    """The raw int32 products acc[m, n] = sum_k u[m, k] * q[n, k] (the micro-kernel's output)."""
    return (np.asarray(u).astype(np.int64) @ np.asarray(q).astype(np.int64).T).astype(np.int32)


def dequantize(acc, q, s_x, s_w):
    """float32(acc - 128 * colsum(q)) * (s_x[m] * s_w[n])."""
    offset = (128 * np.asarray(q).astype(np.int32).sum(axis=1)).astype(np.int32)
    scale = (np.asarray(s_x, _F)[:, None] * np.asarray(s_w, _F)[None, :]).astype(_F)
    return ((acc - offset[None, :]).astype(_F) * scale).astype(_F)


def int8_linear(x, q, s_w):
    """x @ W.T through the scheme: quantize x's rows, exact int32 product, dequantize."""
    u, s_x = quantize_rows(x)
    return dequantize(int8_gemm_acc(u, q), q, s_x, s_w)


def product_error_bound(x, w):
    """Elementwise bound on |int8_linear(x, quantize(w)) - x @ w.T| (rounding of the scheme only)."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    s_x = np.abs(x).max(axis=1) / 127
    s_w = np.abs(w).max(axis=1) / 127
    K = x.shape[1]
    return (s_w[None, :] / 2 * np.abs(x).sum(axis=1)[:, None] + s_x[:, None] / 2 * np.abs(w).sum(axis=1)[None, :]
            + K * s_x[:, None] * s_w[None, :] / 4)


def _steps(x, h0, c0, lengths, step):
    T, B = x.shape[0], x.shape[1]
    h = np.array(h0, _F, copy=True)
    c = None if c0 is None else np.array(c0, _F, copy=True)
    out = np.zeros((T, B, h.shape[1]), _F)
    lengths = np.full(B, T) if lengths is None else np.asarray(lengths)
    for t in range(T):
        live = np.nonzero(t < lengths)[0]
        if live.size == 0:
            continue
        h_new, c_new = step(t, live, h[live], None if c is None else c[live])
        h[live] = h_new
        if c is not None:
            c[live] = c_new
        out[t, live] = h_new
    return out, h, c


def lstm_forward(x, h0, c0, q_ih, s_ih, q_hh, s_hh, bias_x, lengths=None, q_hr=None, s_hr=None):
    """int8 LSTM, one direction: x [T, B, I] -> (out [T, B, H], h_n, c_n). bias_x = b_ih + b_hh.
    With the projection (q_hr [P, H], torch's proj_size) h = int8_linear(o * tanh(c), W_hr): out and
    h are P wide and q_hh has P columns."""
    x = np.asarray(x, _F)
    T, B, I = x.shape
    H = q_hh.shape[0] // 4
    xp = (int8_linear(x.reshape(T * B, I), q_ih, s_ih) + np.asarray(bias_x, _F)).reshape(T, B, 4 * H)

    def step(t, live, h, c):
        pre = xp[t, live] + int8_linear(h, q_hh, s_hh)
        i, f = _sigmoid(pre[:, :H]), _sigmoid(pre[:, H:2 * H])
        g, o = np.tanh(pre[:, 2 * H:3 * H]), _sigmoid(pre[:, 3 * H:])
        c = f * c + i * g
        h = (o * np.tanh(c)).astype(_F)
        return (h if q_hr is None else int8_linear(h, q_hr, s_hr)), c.astype(_F)

    return _steps(x, h0, c0, lengths, step)


def gru_forward(x, h0, q_ih, s_ih, q_hh, s_hh, bias_x, bias_hn, lengths=None, reset_after=True):
    """int8 GRU, one direction: -> (out, h_n). bias_x: b_ih + b_hh for r, z and b_in for n.
    reset_after=False (Keras's): ``n = tanh((y_x_n + b_in) + (int8_linear(r * h, W_hn) + b_hn))``,
    the rows of r * h quantized like h's."""
    x = np.asarray(x, _F)
    T, B, I = x.shape
    H = q_hh.shape[1]
    xp = (int8_linear(x.reshape(T * B, I), q_ih, s_ih) + np.asarray(bias_x, _F)).reshape(T, B, 3 * H)
    bias_hn = np.asarray(bias_hn, _F)

    def step(t, live, h, c):
        px = xp[t, live]
        if reset_after:
            ph = int8_linear(h, q_hh, s_hh)
        else:
            ph = int8_linear(h, q_hh[:2 * H], s_hh[:2 * H])
        rz = _sigmoid(px[:, :2 * H] + ph[:, :2 * H])
        r, z = rz[:, :H], rz[:, H:]
        if reset_after:
            n = np.tanh(px[:, 2 * H:] + r * (ph[:, 2 * H:] + bias_hn))
        else:
            n = np.tanh(px[:, 2 * H:] + (int8_linear((r * h).astype(_F), q_hh[2 * H:], s_hh[2 * H:]) + bias_hn))
        return ((1 - z) * n + z * h).astype(_F), None

    out, h, _ = _steps(x, h0, None, lengths, step)
    return out, h


def rnn_forward(x, h0, q_ih, s_ih, q_hh, s_hh, bias_x, lengths=None, nonlinearity="tanh"):
    """int8 vanilla RNN, one direction: ``h = act(int8_linear(x, W_ih) + bias_x + int8_linear(h, W_hh))``
    with act tanh or relu and bias_x = b_ih + b_hh; -> (out, h_n)."""
    x = np.asarray(x, _F)
    T, B, I = x.shape
    H = q_hh.shape[0]
    xp = (int8_linear(x.reshape(T * B, I), q_ih, s_ih) + np.asarray(bias_x, _F)).reshape(T, B, H)
    act = np.tanh if nonlinearity == "tanh" else (lambda a: np.maximum(a, 0))

    def step(t, live, h, c):
        return act(xp[t, live] + int8_linear(h, q_hh, s_hh)).astype(_F), None

    out, h, _ = _steps(x, h0, None, lengths, step)
    return out, h


# ---------------------------------------------------------------------------------------------
# bfloat16 (csrc/quant/bf16.h): weights rounded to bf16 once, the rows multiplied by them (x,
# h_{t-1}) rounded to bf16 at each step, products summed in float32 (here in float64: the kernels'
# float32 sums differ from it by summation-order rounding, ~K * 6e-8 relative), gates in float32.
# Error: bf16 keeps 8 significant bits, so each rounding is within 2^-8 relative and a product
# is off by at most (2^-7 + 2^-16) * sum|x_k w_k| (bf16_product_error_bound); the test suite checks the layers' outputs
# against the float32 ones at <= 1e-2 relative to the output scale.

def to_bfloat16(a):
    """float32 -> the float32 value of its bfloat16 rounding (nearest, ties to even)."""
    u = np.ascontiguousarray(a, _F).view(np.uint32).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    r = np.where(nan, u | 0x400000, r) & 0xFFFF0000
    return r.astype(np.uint32).view(_F).reshape(np.shape(a))


def bf16_linear(x, w):
    """x @ W.T with x and W rounded to bf16 (exact products, float64 sums, rounded to float32)."""
    return (to_bfloat16(x).astype(np.float64) @ to_bfloat16(w).astype(np.float64).T).astype(_F)


def bf16_product_error_bound(x, w):
    """Elementwise bound on |bf16_linear(x, w) - x @ w.T| (the two roundings; plus float32 sums)."""
    return (2.0 ** -7 + 2.0 ** -16) * (np.abs(np.asarray(x, np.float64)) @ np.abs(np.asarray(w, np.float64)).T) + 1e-6
