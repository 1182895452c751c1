"""The only place pyrnn.torch reaches the kernels: through the spine (``pyrnn._recurrent``).

Everything here works on NumPy arrays (views of torch tensors, no copies): one layer in one
direction forward and backward, one cell step forward (inference and training) and backward,
and the packing of a PackedSequence (already sorted longest first). The eager path keeps the
spine's ``Workspace``; the compiled path (custom operators, whose saved values must be tensors)
keeps the core's workspace array and rebuilds the ``Workspace`` around it for backward.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import _recurrent as spine


def layer_forward(cell: str, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, training: bool, batch_sizes):
    """One layer, one direction over time-major ``x`` (T, B, I): ``(out, h_n, c_n, workspace)``.
    ``training`` keeps the core's workspace array backward needs (else None); ``batch_sizes``
    (int32 [T], non-increasing) marks rows sorted by length, longest first."""
    res = spine.forward(cell, x, h0, c0, weights=spine.LayerWeights(w_ih, w_hh, b_ih, b_hh, w_hr), training=training,
                        batch_sizes=batch_sizes)
    return res.output, res.h_n, res.c_n, None if res.workspace is None else res.workspace.core_workspace


def layer_backward(cell: str, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, out, workspace, grad_out, grad_hn, grad_cn,
                   batch_sizes):
    """BPTT through one layer_forward call; uses its workspace array up (in place).
    Returns ``(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr)``."""
    ws = spine.Workspace(spine.CELLS[cell], x, h0, c0, spine.LayerWeights(w_ih, w_hh, b_ih, b_hh, w_hr), out,
                         workspace, batch_sizes, "tanh", "sigmoid")
    return tuple(spine.backward(ws, grad_out, grad_hn, grad_cn))


def cell_step(cell: str, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One step of a cell on the streaming path, x (B, I), h (B, H): ``(h', c' or None)``. In
    training nothing more is kept: cell_step_backward recomputes the step's gates from the same
    inputs (autograd keeps those), so a recorded step costs about an inference step."""
    return spine.step(cell, x, h, c, weights=spine.LayerWeights(w_ih, w_hh, b_ih, b_hh))


def cell_step_backward(cell: str, x, h, c, w_ih, w_hh, b_ih, b_hh, grad_h, grad_c):
    """Gradients of one cell_step: ``(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh)``, through its gates
    recomputed on the sequence path (which keeps them for backward)."""
    res = spine.forward(cell, x[None], h, c, weights=spine.LayerWeights(w_ih, w_hh, b_ih, b_hh), training=True)
    assert res.workspace is not None  # training=True keeps it
    g = spine.backward(res.workspace, grad_h[None], None, grad_c)
    return g.x[0], g.h0, g.c0, g.w_ih, g.w_hh, g.b_ih, g.b_hh


def packing_from_batch_sizes(batch_sizes, batch: int) -> spine.Packing:
    """For a PackedSequence's ``batch_sizes`` (int64 [T], rows already sorted longest first):
    the spine's Packing of the same lengths (its sort is then the identity)."""
    lengths = (np.asarray(batch_sizes)[None, :] > np.arange(batch)[:, None]).sum(axis=1)
    return spine.Packing.from_lengths(lengths, batch_sizes.shape[0], batch, True)


def reverse_time(seq, packing: Optional[spine.Packing]):
    """``seq`` (T, B, F) with each sequence's valid steps in reverse order (its own inverse)."""
    if packing is None:
        return np.ascontiguousarray(seq[::-1])
    return packing.reverse_time(seq)


def workspace_per_element(cell: str, projection: bool) -> int:
    """Workspace elements per (step, row, hidden unit) of a training layer_forward: its size is
    steps * batch * hidden times this (what the fake tensors of torch.compile need)."""
    return spine.CELLS[cell].workspace_size(1, 1, 1, projection)
