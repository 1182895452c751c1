"""Pure NumPy reference implementation of RNN, GRU and LSTM: the oracle.

This module is the ground truth that the fast C++ core (and everything built
on it) is tested against. It is written to be read, not to be fast: each
function is a plain loop over time steps with the cell equations in its
docstring. Its backward passes (full backpropagation through time) are
themselves checked by central differences in float64, and against
torch.nn.RNN / GRU / LSTM when PyTorch is installed (tests/test_reference.py).

Conventions shared by every function here
-----------------------------------------
* Time-major layout: x is [T, B, I]; h0 and c0 are [B, H]; out is [T, B, H].
* Weights use PyTorch's layout and gate order:
      weight_ih [G*H, I], weight_hh [G*H, H], bias_ih [G*H], bias_hh [G*H]
  with G = 1 (RNN), 3 (GRU, gates r, z, n) or 4 (LSTM, gates i, f, g, o).
  A bias given as None means "no bias" (its gradient is then None as well).
  h0 / c0 given as None mean zeros.
* Everything is computed in the dtype of x (float32 or float64); the other
  arrays are converted to that dtype.
* lengths (optional integer array [B], 0 <= lengths[b] <= T) describes
  right-padded sequences. For t >= lengths[b] the step is not computed for
  sequence b: its output row is zero and its state (h, and c for the LSTM) is
  carried unchanged, so h_n / c_n are the state after its last valid step
  (h0 / c0 when its length is 0). Gradients flow only through valid steps;
  grad_out at padded positions is ignored. This is what PyTorch computes for
  a PackedSequence in the forward direction.
* *_forward returns (out, final state, cache). The cache is an opaque dict
  holding what the backward pass needs; it references the inputs rather than
  copying them, so do not modify them in place before calling backward.
* *_backward(cache, grad_out, grad_hn=None[, grad_cn=None]) takes the
  gradients of a scalar loss L with respect to the outputs,
  grad_out = dL/d out [T, B, H], grad_hn = dL/d h_n and grad_cn = dL/d c_n
  [B, H] (zeros when None), and returns a dict of dL/d(input) with keys
  "x", "h0", ("c0",) "weight_ih", "weight_hh", "bias_ih", "bias_hh".
* recurrent_mask (optional [B, H]) is recurrent dropout as Keras's recurrent_dropout: one
  mask per sequence, the same at every step (inverted dropout: entries 0 or 1/(1-rate), drawn
  by the caller). Written m below, it multiplies h_{t-1} only where h_{t-1} enters the
  recurrent product: hm_{t-1} = m * h_{t-1} replaces h_{t-1} in "W_hh h_{t-1}" (and, GRU
  reset_after=False, in r_t * h_{t-1}); the GRU blend z_t * h_{t-1}, the LSTM cell state and
  the outputs use h_{t-1} itself. In backward, dW_hh sums over hm_{t-1}, and the part of
  dh_{t-1} that comes through the recurrent product is multiplied by m.

Notation in the docstrings: sigma is the logistic sigmoid, * the elementwise
product, W_ir / W_hr / b_ir / b_hr the rows of weight_ih / weight_hh /
bias_ih / bias_hh belonging to gate r (likewise for the other gates), and
"x W" means x @ W.T applied to each row of a batch.
"""

import numpy as np

from ._recurrent import ACTIVATIONS as _REGISTRY
from ._recurrent import (
    RNN_NONLINEARITIES,
    _sigmoid,  # noqa: F401  (the overflow-free sigmoid, checked as reference._sigmoid)
)

__all__ = [
    "rnn_forward",
    "rnn_backward",
    "gru_forward",
    "gru_backward",
    "lstm_forward",
    "lstm_backward",
]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _affine(inp, weight, bias):
    """inp @ weight.T (+ bias): one gate pre-activation block for a batch."""
    y = inp @ weight.T
    if bias is not None:
        y = y + bias
    return y


def _valid_steps(lengths, T, B):
    """Boolean [T, B]; valid[t, b] is True when step t is computed for sequence b."""
    if lengths is None:
        return np.ones((T, B), dtype=bool)
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        lengths = lengths.astype(np.int64)
    if lengths.shape != (B,):
        raise ValueError(f"lengths must have shape ({B},) (one per sequence), got {lengths.shape}")
    if not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}")
    if np.any(lengths < 0) or np.any(lengths > T):
        raise ValueError(f"lengths must satisfy 0 <= lengths[b] <= T = {T}, got {lengths.tolist()}")
    return np.arange(T)[:, None] < lengths[None, :]


def _check_inputs(x, states, weight_ih, weight_hh, bias_ih, bias_hh, num_gates, lengths):
    """Validate shapes and convert everything to x's dtype.

    states: dict name -> [B, H] array or None (None becomes zeros).
    Returns (x, states, weight_ih, weight_hh, bias_ih, bias_hh, valid).
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"x must be float32 or float64, got dtype {x.dtype}")
    if x.ndim != 3:
        raise ValueError(f"x must have shape [T, B, I], got {x.shape}")
    T, B, I = x.shape
    dtype = x.dtype
    G = num_gates

    weight_hh = np.asarray(weight_hh, dtype=dtype)
    if weight_hh.ndim != 2 or weight_hh.shape[0] != G * weight_hh.shape[1]:
        raise ValueError(f"weight_hh must have shape [{G}*H, H], got {weight_hh.shape}")
    H = weight_hh.shape[1]

    weight_ih = np.asarray(weight_ih, dtype=dtype)
    if weight_ih.shape != (G * H, I):
        raise ValueError(
            f"weight_ih must have shape [{G}*H, I] = {(G * H, I)} (H = {H} from weight_hh, "
            f"I = {I} from x), got {weight_ih.shape}"
        )

    biases = []
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None:
            b = np.asarray(b, dtype=dtype)
            if b.shape != (G * H,):
                raise ValueError(f"{name} must have shape ({G * H},), got {b.shape}")
        biases.append(b)

    checked = {}
    for name, s in states.items():
        if s is None:
            s = np.zeros((B, H), dtype=dtype)
        else:
            s = np.asarray(s, dtype=dtype)
            if s.shape != (B, H):
                raise ValueError(f"{name} must have shape [B, H] = {(B, H)}, got {s.shape}")
        checked[name] = s

    valid = _valid_steps(lengths, T, B)
    return x, checked, weight_ih, weight_hh, biases[0], biases[1], valid


def _check_grad(name, g, shape, dtype):
    """An incoming gradient as an array of the given shape (zeros when None)."""
    if g is None:
        return np.zeros(shape, dtype=dtype)
    g = np.asarray(g, dtype=dtype)
    if g.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {g.shape}")
    return g


def _new_grads(cache):
    """Zero accumulators for the parameter gradients."""
    return (
        np.zeros_like(cache["weight_ih"]),
        np.zeros_like(cache["weight_hh"]),
        np.zeros(cache["weight_hh"].shape[0], dtype=cache["x"].dtype),
        np.zeros(cache["weight_hh"].shape[0], dtype=cache["x"].dtype),
    )


def _recurrent_mask(mask, B, H, dtype):
    """The recurrent dropout mask as an array [B, H] of dtype (ones when None)."""
    if mask is None:
        return np.ones((B, H), dtype=dtype)
    mask = np.asarray(mask, dtype=dtype)
    if mask.shape != (B, H):
        raise ValueError(f"recurrent_mask must have shape [B, H] = {(B, H)}, got {mask.shape}")
    return mask


def _result(cache, dx, dstates, dW_ih, dW_hh, db_ih, db_hh):
    grads = {"x": dx}
    grads.update(dstates)
    grads["weight_ih"] = dW_ih
    grads["weight_hh"] = dW_hh
    grads["bias_ih"] = db_ih if cache["bias_ih"] is not None else None
    grads["bias_hh"] = db_hh if cache["bias_hh"] is not None else None
    return grads


# ---------------------------------------------------------------------------
# Vanilla (Elman) RNN
# ---------------------------------------------------------------------------


# Activations, and each one's derivative written in terms of its output y = act(a), from the
# package's one registry (pyrnn._recurrent.ACTIVATIONS: sigmoid there is 1 / (1 + exp(-a))
# evaluated without overflow, with e = exp(-|a|): 1 / (1 + e) for a >= 0, e / (1 + e) below).
_ACTIVATIONS = {name: spec.forward for name, spec in _REGISTRY.items()}
_DERIVATIVES = {name: spec.derivative for name, spec in _REGISTRY.items()}
_RNN_ACTIVATIONS = {k: _ACTIVATIONS[k] for k in RNN_NONLINEARITIES}


def _gated_activations(activation, recurrent_activation):
    """GRU/LSTM activations by Keras name: (candidate/cell, gates)."""
    for what, name in (("activation", activation), ("recurrent_activation", recurrent_activation)):
        if name not in _ACTIVATIONS:
            raise ValueError(f"{what} must be one of {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[activation], _ACTIVATIONS[recurrent_activation]


def rnn_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh", lengths=None,
                recurrent_mask=None):
    """Elman RNN over a sequence (torch.nn.RNN, one layer, one direction).

        a_t = W_ih x_t + b_ih + W_hh (m * h_{t-1}) + b_hh     (m = recurrent_mask, else 1)
        h_t = act(a_t),        act = tanh, relu (max(a, 0)), sigmoid or linear (identity)
        out_t = h_t

    x [T, B, I], h0 [B, H], weight_ih [H, I], weight_hh [H, H], biases [H] or None.
    Returns (out [T, B, H], h_n [B, H], cache); see the module docstring for lengths.
    """
    if nonlinearity not in _RNN_ACTIVATIONS:
        raise ValueError(f"nonlinearity must be one of {sorted(_RNN_ACTIVATIONS)}, got {nonlinearity!r}")
    x, states, W_ih, W_hh, b_ih, b_hh, valid = _check_inputs(
        x, {"h0": h0}, weight_ih, weight_hh, bias_ih, bias_hh, 1, lengths
    )
    h0 = states["h0"]
    T, B, _ = x.shape
    H = W_hh.shape[1]

    mask = _recurrent_mask(recurrent_mask, B, H, x.dtype)
    out = np.zeros((T, B, H), dtype=x.dtype)
    h_prev = np.zeros((T, B, H), dtype=x.dtype)  # state entering step t
    h = h0
    for t in range(T):
        a = _affine(x[t], W_ih, b_ih) + _affine(mask * h, W_hh, b_hh)
        h_new = _RNN_ACTIVATIONS[nonlinearity](a)
        v = valid[t][:, None]
        h_prev[t] = h
        out[t] = np.where(v, h_new, 0)
        h = np.where(v, h_new, h)

    cache = {
        "cell": "rnn", "nonlinearity": nonlinearity, "x": x, "h0": h0,
        "weight_ih": W_ih, "weight_hh": W_hh, "bias_ih": b_ih, "bias_hh": b_hh,
        "valid": valid, "h_prev": h_prev, "out": out, "mask": mask,
    }
    return out, h.copy(), cache


def rnn_backward(cache, grad_out, grad_hn=None):
    """Backpropagation through time for rnn_forward.

    With g_t = dL/dh_t (from out_t and from step t+1), for each valid step, last first:
        da_t = g_t * act'(a_t)        tanh: 1 - h_t^2     relu: 1 if a_t > 0 else 0
                                      sigmoid: h_t (1 - h_t)   linear: 1
        dx_t = da_t W_ih              dh_{t-1} = m * (da_t W_hh)  (matrix products, no transpose)
        dW_ih += da_t^T x_t           dW_hh += da_t^T (m * h_{t-1})
        db_ih += sum_b da_t           db_hh += sum_b da_t
    At a padded step nothing is computed: dx_t = 0 and dh_{t-1} = dh_t.

    Returns {"x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"}.
    """
    x, out, h_prev, valid = cache["x"], cache["out"], cache["h_prev"], cache["valid"]
    mask = cache["mask"]
    W_ih, W_hh = cache["weight_ih"], cache["weight_hh"]
    T, B, _ = x.shape
    H = W_hh.shape[1]
    grad_out = _check_grad("grad_out", grad_out, (T, B, H), x.dtype)
    dh = _check_grad("grad_hn", grad_hn, (B, H), x.dtype).copy()

    dx = np.zeros_like(x)
    dW_ih, dW_hh, db_ih, db_hh = _new_grads(cache)
    for t in reversed(range(T)):
        v = valid[t][:, None]
        h_t = out[t]  # equals the new state wherever the step is valid
        dact = _DERIVATIVES[cache["nonlinearity"]](h_t)
        da = np.where(v, (grad_out[t] + dh) * dact, 0)
        dx[t] = da @ W_ih
        dW_ih += da.T @ x[t]
        dW_hh += da.T @ (mask * h_prev[t])
        db_ih += da.sum(axis=0)
        db_hh += da.sum(axis=0)
        dh = np.where(v, mask * (da @ W_hh), dh)

    return _result(cache, dx, {"h0": dh}, dW_ih, dW_hh, db_ih, db_hh)


# ---------------------------------------------------------------------------
# GRU
# ---------------------------------------------------------------------------


def gru_forward(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, reset_after=True, lengths=None,
                activation="tanh", recurrent_activation="sigmoid", recurrent_mask=None):
    """GRU over a sequence; gate order r, z, n as in torch.nn.GRU.

    reset_after=True ("linear before reset": PyTorch, cuDNN, Keras reset_after=True):
        r_t = sigma(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z_t = sigma(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    reset_after=False (Keras reset_after=False, ONNX linear_before_reset=0), same
    two biases: r_t, z_t and h_t as above, but the reset gate multiplies the
    state before the recurrent product:
        n_t = tanh(W_in x_t + b_in + W_hn (r_t * h_{t-1}) + b_hn)

    Keras's activation replaces tanh and recurrent_activation sigma (tanh, relu, sigmoid,
    linear, hard_sigmoid = clip(a + 3, 0, 6) / 6).
    With recurrent_mask m, hm = m * h_{t-1} replaces h_{t-1} in every product with W_hh
    (W_hr hm, W_hz hm, W_hn hm; reset_after=False: W_hn (r_t * hm)); the blend keeps
    z_t * h_{t-1}.
    x [T, B, I], h0 [B, H], weight_ih [3H, I], weight_hh [3H, H], biases [3H] or None.
    Returns (out [T, B, H], h_n [B, H], cache); see the module docstring for lengths.
    """
    act, rec_act = _gated_activations(activation, recurrent_activation)
    x, states, W_ih, W_hh, b_ih, b_hh, valid = _check_inputs(
        x, {"h0": h0}, weight_ih, weight_hh, bias_ih, bias_hh, 3, lengths
    )
    h0 = states["h0"]
    T, B, _ = x.shape
    H = W_hh.shape[1]
    b_hh_rz = None if b_hh is None else b_hh[: 2 * H]
    b_hn = None if b_hh is None else b_hh[2 * H :]
    mask = _recurrent_mask(recurrent_mask, B, H, x.dtype)

    out = np.zeros((T, B, H), dtype=x.dtype)
    h_prev = np.zeros((T, B, H), dtype=x.dtype)
    gates = np.zeros((T, B, 3 * H), dtype=x.dtype)  # post-activation r, z, n
    hn = np.zeros((T, B, H), dtype=x.dtype)  # reset_after: W_hn h_{t-1} + b_hn
    h = h0
    for t in range(T):
        gi = _affine(x[t], W_ih, b_ih)  # [B, 3H]: input parts of r, z, n
        hm = mask * h  # h_{t-1} where it enters the recurrent products
        gh_rz = _affine(hm, W_hh[: 2 * H], b_hh_rz)  # [B, 2H]: recurrent parts of r, z
        r = rec_act(gi[:, :H] + gh_rz[:, :H])
        z = rec_act(gi[:, H : 2 * H] + gh_rz[:, H:])
        if reset_after:
            hn[t] = _affine(hm, W_hh[2 * H :], b_hn)
            n = act(gi[:, 2 * H :] + r * hn[t])
        else:
            n = act(gi[:, 2 * H :] + _affine(r * hm, W_hh[2 * H :], b_hn))
        h_new = (1 - z) * n + z * h

        v = valid[t][:, None]
        h_prev[t] = h
        gates[t] = np.concatenate([r, z, n], axis=1)
        out[t] = np.where(v, h_new, 0)
        h = np.where(v, h_new, h)

    cache = {
        "cell": "gru", "reset_after": bool(reset_after), "x": x, "h0": h0,
        "activation": activation, "recurrent_activation": recurrent_activation,
        "weight_ih": W_ih, "weight_hh": W_hh, "bias_ih": b_ih, "bias_hh": b_hh,
        "valid": valid, "h_prev": h_prev, "gates": gates, "hn": hn, "mask": mask,
    }
    return out, h.copy(), cache


def gru_backward(cache, grad_out, grad_hn=None):
    """Backpropagation through time for gru_forward.

    With g = dL/dh_t, and writing the pre-activations as a_r, a_z, a_n, for each
    valid step, last first:
        dn = g * (1 - z)        dz = g * (h_{t-1} - n)        dh_{t-1} = g * z + ...
        da_n = dn * (1 - n^2)   da_z = dz * z * (1 - z)       da_r = dr * r * (1 - r)
    reset_after=True, with hn = W_hn h_{t-1} + b_hn:
        dr = da_n * hn
        gradient at the input-side pre-activations:     [da_r, da_z, da_n]
        gradient at the recurrent-side pre-activations: [da_r, da_z, da_n * r]
        dh_{t-1} += [da_r, da_z, da_n * r] W_hh
        dW_hh += [da_r, da_z, da_n * r]^T h_{t-1};  db_hh += its batch sum
    reset_after=False, with d(rh) = da_n W_hn:
        dr = d(rh) * h_{t-1}
        dh_{t-1} += d(rh) * r + [da_r, da_z] [W_hr; W_hz]
        dW_hr,hz += [da_r, da_z]^T h_{t-1};   dW_hn += da_n^T (r * h_{t-1});
        db_hh += [da_r, da_z, da_n] summed over the batch
    and in both forms dx_t = [da_r, da_z, da_n] W_ih, dW_ih += [da_r, da_z, da_n]^T x_t,
    db_ih += its batch sum. At a padded step: dx_t = 0 and dh_{t-1} = dh_t.
    With recurrent_mask m, h_{t-1} in the products above is hm = m * h_{t-1} (dr = d(rh) * hm,
    dW_hh over hm and r * hm) and everything they add to dh_{t-1} (all but g * z) is times m.

    Returns {"x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"}.
    """
    x, h_prev, valid, gates, hn = cache["x"], cache["h_prev"], cache["valid"], cache["gates"], cache["hn"]
    mask = cache["mask"]
    d_act, d_rec_act = _DERIVATIVES[cache["activation"]], _DERIVATIVES[cache["recurrent_activation"]]
    W_ih, W_hh = cache["weight_ih"], cache["weight_hh"]
    T, B, _ = x.shape
    H = W_hh.shape[1]
    grad_out = _check_grad("grad_out", grad_out, (T, B, H), x.dtype)
    dh = _check_grad("grad_hn", grad_hn, (B, H), x.dtype).copy()

    dx = np.zeros_like(x)
    dW_ih, dW_hh, db_ih, db_hh = _new_grads(cache)
    for t in reversed(range(T)):
        v = valid[t][:, None]
        h = h_prev[t]
        hm = mask * h
        r, z, n = gates[t, :, :H], gates[t, :, H : 2 * H], gates[t, :, 2 * H :]
        g = np.where(v, grad_out[t] + dh, 0)  # dL/dh_t through this step (0 if padded)

        dn = g * (1 - z)
        dz = g * (h - n)
        da_n = dn * d_act(n)
        da_z = dz * d_rec_act(z)
        if cache["reset_after"]:
            dr = da_n * hn[t]
            da_r = dr * d_rec_act(r)
            d_rec = np.concatenate([da_r, da_z, da_n * r], axis=1)  # at W_hh h + b_hh
            dh_step = g * z + mask * (d_rec @ W_hh)
            dW_hh += d_rec.T @ hm
            db_hh += d_rec.sum(axis=0)
        else:
            d_rh = da_n @ W_hh[2 * H :]  # dL/d(r * hm)
            dr = d_rh * hm
            da_r = dr * d_rec_act(r)
            d_rz = np.concatenate([da_r, da_z], axis=1)
            dh_step = g * z + mask * (d_rh * r + d_rz @ W_hh[: 2 * H])
            dW_hh[: 2 * H] += d_rz.T @ hm
            dW_hh[2 * H :] += da_n.T @ (r * hm)
            db_hh += np.concatenate([da_r, da_z, da_n], axis=1).sum(axis=0)

        d_in = np.concatenate([da_r, da_z, da_n], axis=1)  # at W_ih x + b_ih
        dx[t] = d_in @ W_ih
        dW_ih += d_in.T @ x[t]
        db_ih += d_in.sum(axis=0)
        dh = np.where(v, dh_step, dh)

    return _result(cache, dx, {"h0": dh}, dW_ih, dW_hh, db_ih, db_hh)


# ---------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------


def lstm_forward(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None, lengths=None, activation="tanh",
                 recurrent_activation="sigmoid", recurrent_mask=None):
    """LSTM over a sequence; gate order i, f, g, o as in torch.nn.LSTM (no projection).

        [a_i, a_f, a_g, a_o] = W_ih x_t + b_ih + W_hh (m * h_{t-1}) + b_hh   (m = recurrent_mask, else 1)
        i_t = sigma(a_i)   f_t = sigma(a_f)   g_t = tanh(a_g)   o_t = sigma(a_o)
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)
        out_t = h_t

    Keras's activation replaces both tanh and recurrent_activation sigma (as in gru_forward).
    x [T, B, I], h0 and c0 [B, H], weight_ih [4H, I], weight_hh [4H, H], biases [4H] or None.
    Returns (out [T, B, H], (h_n, c_n) each [B, H], cache); see the module docstring for lengths.
    """
    act, rec_act = _gated_activations(activation, recurrent_activation)
    x, states, W_ih, W_hh, b_ih, b_hh, valid = _check_inputs(
        x, {"h0": h0, "c0": c0}, weight_ih, weight_hh, bias_ih, bias_hh, 4, lengths
    )
    h0, c0 = states["h0"], states["c0"]
    T, B, _ = x.shape
    H = W_hh.shape[1]
    mask = _recurrent_mask(recurrent_mask, B, H, x.dtype)

    out = np.zeros((T, B, H), dtype=x.dtype)
    h_prev = np.zeros((T, B, H), dtype=x.dtype)
    c_prev = np.zeros((T, B, H), dtype=x.dtype)
    gates = np.zeros((T, B, 4 * H), dtype=x.dtype)  # post-activation i, f, g, o
    tanh_c = np.zeros((T, B, H), dtype=x.dtype)
    h, c = h0, c0
    for t in range(T):
        a = _affine(x[t], W_ih, b_ih) + _affine(mask * h, W_hh, b_hh)
        i = rec_act(a[:, :H])
        f = rec_act(a[:, H : 2 * H])
        g = act(a[:, 2 * H : 3 * H])
        o = rec_act(a[:, 3 * H :])
        c_new = f * c + i * g
        tanh_c[t] = act(c_new)
        h_new = o * tanh_c[t]

        v = valid[t][:, None]
        h_prev[t], c_prev[t] = h, c
        gates[t] = np.concatenate([i, f, g, o], axis=1)
        out[t] = np.where(v, h_new, 0)
        h = np.where(v, h_new, h)
        c = np.where(v, c_new, c)

    cache = {
        "cell": "lstm", "x": x, "h0": h0, "c0": c0,
        "activation": activation, "recurrent_activation": recurrent_activation,
        "weight_ih": W_ih, "weight_hh": W_hh, "bias_ih": b_ih, "bias_hh": b_hh,
        "valid": valid, "h_prev": h_prev, "c_prev": c_prev, "gates": gates, "tanh_c": tanh_c, "mask": mask,
    }
    return out, (h.copy(), c.copy()), cache


def lstm_backward(cache, grad_out, grad_hn=None, grad_cn=None):
    """Backpropagation through time for lstm_forward.

    With dh = dL/dh_t and dc = dL/dc_t (from step t+1), for each valid step, last first:
        dh_t   = grad_out_t + dh
        do     = dh_t * tanh(c_t)
        dc_t   = dc + dh_t * o * (1 - tanh(c_t)^2)
        di = dc_t * g      df = dc_t * c_{t-1}      dg = dc_t * i
        da = [di * i(1-i), df * f(1-f), dg * (1-g^2), do * o(1-o)]
        dc_{t-1} = dc_t * f                 dh_{t-1} = m * (da W_hh)
        dx_t = da W_ih    dW_ih += da^T x_t    dW_hh += da^T (m * h_{t-1})    db_ih, db_hh += sum_b da
    At a padded step: dx_t = 0, dh_{t-1} = dh and dc_{t-1} = dc.

    Returns {"x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"}.
    """
    x, h_prev, c_prev, valid = cache["x"], cache["h_prev"], cache["c_prev"], cache["valid"]
    gates, tanh_c = cache["gates"], cache["tanh_c"]  # tanh_c: act(c_t) for a chosen activation
    d_act, d_rec_act = _DERIVATIVES[cache["activation"]], _DERIVATIVES[cache["recurrent_activation"]]
    W_ih, W_hh = cache["weight_ih"], cache["weight_hh"]
    T, B, _ = x.shape
    H = W_hh.shape[1]
    grad_out = _check_grad("grad_out", grad_out, (T, B, H), x.dtype)
    dh = _check_grad("grad_hn", grad_hn, (B, H), x.dtype).copy()
    dc = _check_grad("grad_cn", grad_cn, (B, H), x.dtype).copy()

    dx = np.zeros_like(x)
    dW_ih, dW_hh, db_ih, db_hh = _new_grads(cache)
    for t in reversed(range(T)):
        v = valid[t][:, None]
        i, f, g, o = (gates[t, :, k * H : (k + 1) * H] for k in range(4))
        tc = tanh_c[t]

        dh_t = np.where(v, grad_out[t] + dh, 0)
        dc_t = np.where(v, dc + dh_t * o * d_act(tc), 0)
        da = np.concatenate(
            [
                dc_t * g * d_rec_act(i),
                dc_t * c_prev[t] * d_rec_act(f),
                dc_t * i * d_act(g),
                dh_t * tc * d_rec_act(o),
            ],
            axis=1,
        )
        dx[t] = da @ W_ih
        dW_ih += da.T @ x[t]
        dW_hh += da.T @ (cache["mask"] * h_prev[t])
        db_ih += da.sum(axis=0)
        db_hh += da.sum(axis=0)
        dh = np.where(v, cache["mask"] * (da @ W_hh), dh)
        dc = np.where(v, dc_t * f, dc)

    return _result(cache, dx, {"h0": dh, "c0": dc}, dW_ih, dW_hh, db_ih, db_hh)
