"""pyrnn's stack as torch custom operators (``torch.ops.pyrnn.stack_forward`` / ``stack_backward``),
with their autograd formula and fake (shape-only) implementations, so that ``torch.compile``
(fullgraph) and ``torch.export`` see one opaque node per recurrent module instead of NumPy code.

The eager path (``_ops.StackFunction``) stays the default outside compilation: it is cheaper
per call. A cell step under compilation is a one-step, one-layer stack.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

from . import _adapter
from ._ops import Spec, np_view, stack_backward, stack_forward


def _masks_np(masks):
    return [np_view(m) for m in masks] if len(masks) else None


@torch.library.custom_op("pyrnn::stack_forward", mutates_args=(), device_types="cpu")
def stack_forward_op(x: Tensor, h0: Tensor, c0: Optional[Tensor], weights: List[Tensor], masks: List[Tensor],
                     batch_sizes: Optional[Tensor], cell: str, num_layers: int, num_directions: int, bias: bool,
                     proj_size: int, training: bool) -> Tuple[Tensor, Tensor, Tensor, List[Tensor], List[Tensor]]:
    """(out, h_n, c_n or empty, per-(layer, direction) outputs, workspaces) — the last two
    only in training (what stack_backward needs)."""
    spec = Spec(cell, num_layers, num_directions, bias, proj_size)
    w = spec.split([np_view(p) for p in weights])
    bs = None if batch_sizes is None else batch_sizes.numpy()
    out, h_n, c_n, (saved, _) = stack_forward(spec, np_view(x), np_view(h0), np_view(c0), w, _masks_np(masks),
                                              training, bs)
    outs = [torch.from_numpy(o) for layer in saved for (_, o, _) in layer] if training else []
    wss = [torch.from_numpy(ws) for layer in saved for (_, _, ws) in layer] if training else []
    if training and num_directions == 1:  # out is the last layer's saved output: outputs must not alias
        out = out.copy()
    c = torch.from_numpy(c_n) if c_n is not None else x.new_empty(0)
    return torch.from_numpy(out), torch.from_numpy(h_n), c, outs, wss


@stack_forward_op.register_fake
def _(x, h0, c0, weights, masks, batch_sizes, cell, num_layers, num_directions, bias, proj_size, training):
    T, B = x.shape[0], x.shape[1]
    H = weights[1].shape[1] if not proj_size else weights[-1].shape[1]
    P = proj_size or H
    K = num_layers * num_directions
    out = x.new_empty(T, B, num_directions * P)
    c = c0.new_empty(c0.shape) if c0 is not None else x.new_empty(0)
    outs, wss = [], []
    if training:
        per = _adapter.workspace_per_element(cell, proj_size > 0)
        outs = [x.new_empty(T, B, P) for _ in range(K)]
        wss = [x.new_empty(T * B * H * per) for _ in range(K)]
    return out, h0.new_empty(h0.shape), c, outs, wss


def _rebuild_saved(spec, x, outs, wss, masks, packing):
    """What stack_forward kept (each layer's input per direction, output, workspace), from
    the op's outputs; workspaces copied, since the core uses them up in place."""
    D = spec.num_directions
    saved, layer_in = [], x
    for layer in range(spec.num_layers):
        kept, parts = [], []
        for d in range(D):
            k = layer * D + d
            seq = layer_in if d == 0 else _adapter.reverse_time(layer_in, packing)
            kept.append((seq, outs[k], np.array(wss[k], copy=True)))
            parts.append(outs[k] if d == 0 else _adapter.reverse_time(outs[k], packing))
        saved.append(kept)
        layer_out = parts[0] if D == 1 else np.concatenate(parts, axis=2)
        if masks is not None and layer < spec.num_layers - 1:
            layer_out = layer_out * masks[layer]
        layer_in = layer_out
    return saved, packing


@torch.library.custom_op("pyrnn::stack_backward", mutates_args=(), device_types="cpu")
def stack_backward_op(x: Tensor, h0: Tensor, c0: Optional[Tensor], weights: List[Tensor], masks: List[Tensor],
                      batch_sizes: Optional[Tensor], outs: List[Tensor], wss: List[Tensor], grad_out: Tensor,
                      grad_hn: Tensor, grad_cn: Optional[Tensor], cell: str, num_layers: int, num_directions: int,
                      bias: bool, proj_size: int) -> Tuple[Tensor, Tensor, Tensor, List[Tensor]]:
    """(dx, dh0, dc0 or empty, gradients of ``weights`` in their order)."""
    spec = Spec(cell, num_layers, num_directions, bias, proj_size)
    w = spec.split([np_view(p) for p in weights])
    xn = np_view(x)
    packing = None
    if batch_sizes is not None:
        packing = _adapter.packing_from_batch_sizes(batch_sizes.numpy(), xn.shape[1])
    masks_n = _masks_np(masks)
    saved = _rebuild_saved(spec, xn, [np_view(o) for o in outs], [np_view(ws) for ws in wss], masks_n, packing)
    dx, dh0, dc0, grads = stack_backward(spec, xn, np_view(h0), np_view(c0), w, masks_n, saved,
                                         np_view(grad_out), np_view(grad_hn), np_view(grad_cn))
    dc = torch.from_numpy(dc0) if dc0 is not None else x.new_empty(0)
    return torch.from_numpy(dx), torch.from_numpy(dh0), dc, [torch.from_numpy(g) for g in spec.flatten(grads)]


@stack_backward_op.register_fake
def _(x, h0, c0, weights, masks, batch_sizes, outs, wss, grad_out, grad_hn, grad_cn, cell, num_layers,
      num_directions, bias, proj_size):
    c = c0.new_empty(c0.shape) if c0 is not None else x.new_empty(0)
    return x.new_empty(x.shape), h0.new_empty(h0.shape), c, [p.new_empty(p.shape) for p in weights]


def _setup_context(ctx, inputs, output):
    x, h0, c0, weights, masks, batch_sizes, cell, num_layers, num_directions, bias, proj_size, training = inputs
    _, _, _, outs, wss = output
    ctx.args = (cell, num_layers, num_directions, bias, proj_size)
    ctx.training = training
    ctx.n_weights = len(weights)
    ctx.has_c = c0 is not None
    ctx.save_for_backward(x, h0, c0, batch_sizes, *weights, *masks, *outs, *wss)
    ctx.counts = (len(weights), len(masks), len(outs))


def _backward(ctx, grad_out, grad_hn, grad_cn, _grad_outs, _grad_wss):
    if not ctx.training:
        raise RuntimeError("pyrnn::stack_forward was run without training=True: it kept nothing to backpropagate")
    x, h0, c0, batch_sizes, *rest = ctx.saved_tensors
    nw, nm, no = ctx.counts
    weights, masks, outs, wss = rest[:nw], rest[nw:nw + nm], rest[nw + nm:nw + nm + no], rest[nw + nm + no:]
    if grad_out is None:
        grad_out = torch.zeros(x.shape[0], x.shape[1], outs[0].shape[2] * ctx.args[2], dtype=x.dtype)
    if grad_hn is None:
        grad_hn = torch.zeros_like(h0)
    if ctx.has_c and grad_cn is None:
        grad_cn = torch.zeros_like(c0)
    dx, dh0, dc0, dw = torch.ops.pyrnn.stack_backward(
        x, h0, c0, list(weights), list(masks), batch_sizes, list(outs), list(wss), grad_out.contiguous(),
        grad_hn.contiguous(), grad_cn.contiguous() if ctx.has_c else None, *ctx.args)
    return dx, dh0, (dc0 if ctx.has_c else None), list(dw), [None] * nm, None, None, None, None, None, None, None


stack_forward_op.register_autograd(_backward, setup_context=_setup_context)


def run_stack(spec, x, h0, c0, flat, masks, batch_sizes, grad, arrays=None):
    """The traced path: (out, h_n, c_n or None) through torch.ops.pyrnn.stack_forward."""
    out, h_n, c_n, _, _ = torch.ops.pyrnn.stack_forward(
        x.contiguous(), h0.contiguous(), None if c0 is None else c0.contiguous(), [p.contiguous() for p in flat],
        list(masks or []), batch_sizes, *spec, grad)
    return out, h_n, (c_n if c0 is not None else None)


def run_cell(cell, x, h, c, w_ih, w_hh, b_ih, b_hh, grad, arrays=None):
    """A traced cell step: a one-step, one-layer stack."""
    bias = b_ih is not None
    flat = [w_ih, w_hh] + ([b_ih, b_hh] if bias else [])
    out, h_n, c_n = run_stack(Spec(cell, 1, 1, bias, 0), x.unsqueeze(0), h.unsqueeze(0),
                              None if c is None else c.unsqueeze(0), flat, None, None, grad)
    return h_n[0], (c_n[0] if c is not None else None)
