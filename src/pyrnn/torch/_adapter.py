"""The only place pyrnn.torch calls into ``pyrnn._core`` (and borrows pyrnn.nn's length logic).

Everything here works on NumPy arrays (views of torch tensors, no copies): one layer in one
direction forward and backward, one cell step forward (inference and training) and backward,
and the packing helpers (sort-free here: a PackedSequence is already sorted longest first).
When the internal "spine" module lands these functions are switched onto it; nothing else in
pyrnn.torch knows the core's signatures.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from ..nn.modules import RNNBase as _NNBase


def layer_forward(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, training, batch_sizes):
    """One layer, one direction over time-major ``x`` (T, B, I): ``(out, h_n, c_n, workspace)``.
    ``training`` keeps the workspace backward needs (else None); ``batch_sizes`` (int32 [T],
    non-increasing) marks rows sorted by length, longest first."""
    return _core.forward(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, training, batch_sizes, w_hr)


def layer_backward(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, out, workspace, grad_out, grad_hn, grad_cn,
                   batch_sizes):
    """BPTT through one layer_forward call; uses its workspace up (in place).
    Returns ``(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr)``."""
    return _core.backward(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh, out, workspace, grad_out, grad_hn, grad_cn,
                          batch_sizes, w_hr)


def cell_step(cell, x, h, c, w_ih, w_hh, b_ih, b_hh, training):
    """One step of a cell, x (B, I), h (B, H): ``(h', c' or None, saved)``; ``saved`` (training
    only, else None) is what cell_step_backward needs."""
    if not training:
        h_new, c_new = _core.cell_step(cell, x, h, c, w_ih, w_hh, b_ih, b_hh)
        return h_new, c_new, None
    out, h_new, c_new, ws = _core.forward(cell, x[None], h, c, w_ih, w_hh, b_ih, b_hh, True)
    return h_new, c_new, (out, ws)


def cell_step_backward(cell, x, h, c, w_ih, w_hh, b_ih, b_hh, saved, grad_h, grad_c):
    """Gradients of one training cell_step: ``(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh)``."""
    out, ws = saved
    dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, _ = _core.backward(
        cell, x[None], h, c, w_ih, w_hh, b_ih, b_hh, out, ws, grad_h[None], np.zeros_like(grad_h), grad_c)
    return dx[0], dh, dc, dw_ih, dw_hh, db_ih, db_hh


def packing_from_batch_sizes(batch_sizes, batch):
    """For a PackedSequence's ``batch_sizes`` (int64 [T], rows already sorted longest first):
    what the core and the reverse direction need (pyrnn.nn's packing of the same lengths)."""
    steps = batch_sizes.shape[0]
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)
    return _NNBase._packing(None, lengths, steps, batch, True)


def reverse_time(seq, packing):
    """``seq`` (T, B, F) with each sequence's valid steps in reverse order (its own inverse)."""
    return _NNBase._reverse_time(seq, packing)


def workspace_per_element(cell, projection):
    """Workspace elements per (step, row, hidden unit) of a training layer_forward: its size is
    steps * batch * hidden times this (what the fake tensors of torch.compile need)."""
    return _core.workspace_size(cell, 1, 1, 1, projection)
