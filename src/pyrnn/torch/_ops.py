"""pyrnn's kernels as torch autograd: a whole stack of layers (all layers and directions of an
RNN/GRU/LSTM module) is one autograd node, and a cell step another.

The NumPy part (``stack_forward``/``stack_backward``) works on views of the tensors; the core
is reached only through ``_adapter``. Gradients of the input, the initial states and every
parameter come from the core's BPTT. The torch part is ``StackFunction`` / ``CellFunction``
(eager autograd) and the custom operators in ``_library`` (torch.compile / torch.export).
"""

from __future__ import annotations

import weakref

import numpy as np
import torch

from . import _adapter


class Spec(tuple):
    """What a stack is, hashable: (cell, num_layers, num_directions, bias, proj_size)."""

    __slots__ = ()

    def __new__(cls, cell, num_layers, num_directions, bias, proj_size):
        return tuple.__new__(cls, (cell, int(num_layers), int(num_directions), bool(bias), int(proj_size)))

    cell = property(lambda self: self[0])
    num_layers = property(lambda self: self[1])
    num_directions = property(lambda self: self[2])
    bias = property(lambda self: self[3])
    proj_size = property(lambda self: self[4])

    @property
    def per_layer(self):
        return 2 + 2 * self.bias + (self.proj_size > 0)

    def split(self, flat):
        """Flat parameters (torch's _flat_weights order) -> per (layer, direction)
        (w_ih, w_hh, b_ih, b_hh, w_hr), None where absent."""
        n, out = self.per_layer, []
        for k in range(self.num_layers * self.num_directions):
            p = flat[k * n:(k + 1) * n]
            b_ih, b_hh = (p[2], p[3]) if self.bias else (None, None)
            out.append((p[0], p[1], b_ih, b_hh, p[-1] if self.proj_size else None))
        return out

    def flatten(self, per_k):
        """The inverse of split (for gradients): drop the absent ones."""
        flat = []
        for w_ih, w_hh, b_ih, b_hh, w_hr in per_k:
            flat += [w_ih, w_hh]
            if self.bias:
                flat += [b_ih, b_hh]
            if self.proj_size:
                flat.append(w_hr)
        return flat


def np_view(t):
    """A NumPy array sharing ``t``'s memory (a C-contiguous copy only if ``t`` is not)."""
    if t is None:
        return None
    if t.requires_grad:  # detach costs ~0.3 us: only where .numpy() needs it
        t = t.detach()
    if not t.is_contiguous():
        t = t.contiguous()
    return t.numpy()


_views: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def cached_param_arrays(owner, params):
    """The NumPy views of ``params`` kept for ``owner`` by param_arrays, or None if there are
    none or any parameter was replaced or moved since (a hit also means the parameters passed
    the device/layout checks when they were kept)."""
    entry = _views.get(owner)
    if entry is not None:
        kept, ptrs, arrays = entry
        if len(kept) == len(params) and all(
                a is b and (b is None or b.data_ptr() == ptr) for a, b, ptr in zip(kept, params, ptrs)):
            return arrays
    return None


def param_arrays(owner, params):
    """NumPy views of ``params`` (None stays None), kept per module between calls while each is
    the same tensor at the same address: a view shares the parameter's memory, so in-place
    changes (also through ``.data``, which torch's version counter does not see) are read on
    the next call; a parameter replaced or moved (``p.data = ...``, ``.to()``) is seen by its
    address or identity and viewed afresh. Non-contiguous parameters are copied every call."""
    arrays = cached_param_arrays(owner, params)
    if arrays is not None:
        return arrays
    arrays = [np_view(p) for p in params]
    if all(p is None or p.is_contiguous() for p in params):
        _views[owner] = (list(params), [None if p is None else p.data_ptr() for p in params], arrays)
    return arrays


# ---------------------------------------------------------------------------- NumPy stack
def stack_forward(spec, x, h0, c0, weights, masks, training, batch_sizes):
    """All layers and directions over time-major ``x`` (T, B, I) (rows sorted longest first when
    ``batch_sizes`` is given). ``weights``: per (layer, direction) 5-tuples of arrays; ``masks``:
    None or one dropout mask (T, B, D*P) per layer but the last. Returns (out, h_n, c_n, saved)."""
    lstm = c0 is not None
    D = spec.num_directions
    packing = None
    bs32 = None
    if batch_sizes is not None:
        packing = _adapter.packing_from_batch_sizes(batch_sizes, x.shape[1])
        bs32 = packing.batch_sizes
    h_n = np.empty_like(h0)
    c_n = np.empty_like(c0) if lstm else None
    saved = []
    layer_in = x
    for layer in range(spec.num_layers):
        outs, kept = [], []
        for d in range(D):
            k = layer * D + d
            seq = layer_in if d == 0 else _adapter.reverse_time(layer_in, packing)
            w = weights[k]
            out, hn, cn, ws = _adapter.layer_forward(spec.cell, seq, h0[k], c0[k] if lstm else None, *w, training, bs32)
            h_n[k] = hn
            if lstm:
                c_n[k] = cn
            kept.append((seq, out, ws))
            outs.append(out if d == 0 else _adapter.reverse_time(out, packing))
        layer_out = outs[0] if D == 1 else np.concatenate(outs, axis=2)
        if masks is not None and layer < spec.num_layers - 1:
            layer_out = np.multiply(layer_out, masks[layer])
        saved.append(kept)
        layer_in = layer_out
    return layer_in, h_n, c_n, (saved, packing)


def stack_backward(spec, x, h0, c0, weights, masks, saved, grad_out, grad_hn, grad_cn):
    """Gradients through a training stack_forward: (dx, dh0, dc0, per-(layer, direction) weight
    gradient 5-tuples). Uses the saved workspaces up."""
    saved, packing = saved
    bs32 = packing.batch_sizes if packing else None
    lstm = c0 is not None
    D = spec.num_directions
    width = grad_out.shape[2] // D
    dh0 = np.empty_like(h0)
    dc0 = np.empty_like(c0) if lstm else None
    grads = [None] * (spec.num_layers * D)
    g = grad_out
    for layer in reversed(range(spec.num_layers)):
        if masks is not None and layer < spec.num_layers - 1:
            g = g * masks[layer]
        g_in = None
        for d in range(D):
            k = layer * D + d
            seq, out, ws = saved[layer][d]
            go = g[:, :, d * width:(d + 1) * width]
            go = np.ascontiguousarray(go) if d == 0 else _adapter.reverse_time(go, packing)
            dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dw_hr = _adapter.layer_backward(
                spec.cell, seq, h0[k], c0[k] if lstm else None, *weights[k], out, ws, go, grad_hn[k],
                grad_cn[k] if lstm else None, bs32)
            dh0[k] = dh
            if lstm:
                dc0[k] = dc
            grads[k] = (dw_ih, dw_hh, db_ih, db_hh, dw_hr)
            if d:
                dx = _adapter.reverse_time(dx, packing)
            g_in = dx if g_in is None else g_in + dx
        g = g_in
    return g, dh0, dc0, grads


# ---------------------------------------------------------------------------- torch reference
def torch_stack(spec, x, h0, c0, flat, masks, batch_sizes):
    """The same computation in torch's own ops (differentiable to any order): the fallback
    for double backward. ``masks`` are torch tensors or None."""
    from torch import _VF
    per_k = spec.split(flat)
    D = spec.num_directions
    fn = {"lstm": _VF.lstm, "gru": _VF.gru, "rnn_tanh": _VF.rnn_tanh, "rnn_relu": _VF.rnn_relu}[spec.cell]
    lengths = None
    if batch_sizes is not None:
        lengths = (batch_sizes[None, :] > torch.arange(x.shape[1])[:, None]).sum(1)
    layer_in = x
    hs, cs = [], []
    for layer in range(spec.num_layers):
        ks = range(layer * D, (layer + 1) * D)
        ws = [t for k in ks for t in per_k[k] if t is not None]
        hx = (h0[layer * D:(layer + 1) * D], c0[layer * D:(layer + 1) * D]) if c0 is not None \
            else h0[layer * D:(layer + 1) * D]
        if lengths is not None:
            packed = torch.nn.utils.rnn.pack_padded_sequence(layer_in, lengths, enforce_sorted=True)
            res = fn(packed.data, packed.batch_sizes, hx, ws, spec.bias, 1, 0.0, True, D == 2)
            out = torch.nn.utils.rnn.pad_packed_sequence(
                torch.nn.utils.rnn.PackedSequence(res[0], packed.batch_sizes), total_length=x.shape[0])[0]
        else:
            res = fn(layer_in, hx, ws, spec.bias, 1, 0.0, True, D == 2, False)
            out = res[0]
        if c0 is not None:
            hs.append(res[1]), cs.append(res[2])
        else:
            hs.append(res[1])
        if masks is not None and layer < spec.num_layers - 1:
            out = out * masks[layer]
        layer_in = out
    return layer_in, torch.cat(hs), (torch.cat(cs) if c0 is not None else None)


# ---------------------------------------------------------------------------- eager autograd
class StackFunction(torch.autograd.Function):
    """apply(spec, masks, batch_sizes, arrays, x, h0, c0, *flat_weights) -> (out, h_n, c_n or empty).

    ``x`` time-major (T, B, I); padded and sorted longest first when ``batch_sizes`` is given;
    ``arrays``: NumPy views of ``flat_weights`` (param_arrays)."""

    @staticmethod
    def forward(ctx, spec, masks, batch_sizes, arrays, x, h0, c0, *flat):
        xn, h0n, c0n = np_view(x), np_view(h0), np_view(c0)
        weights = spec.split(arrays)
        mn = None if masks is None else [np_view(m) for m in masks]
        bsn = None if batch_sizes is None else batch_sizes.numpy()
        out, h_n, c_n, saved = stack_forward(spec, xn, h0n, c0n, weights, mn, True, bsn)
        ctx.spec, ctx.masks, ctx.batch_sizes = spec, masks, batch_sizes
        ctx.np = (xn, h0n, c0n, weights, mn, bsn)
        ctx.saved, ctx.used = saved, False
        out_t = torch.from_numpy(out)
        # torch's checks: in-place changes before backward raise. For one direction the output
        # is the last layer's saved output (shared, not copied): it is checked as well.
        ctx.save_for_backward(x, h0, c0, out_t if spec.num_directions == 1 else None, *flat)
        outs = (out_t, torch.from_numpy(h_n))
        return outs + ((torch.from_numpy(c_n),) if c_n is not None else (torch.empty(0, dtype=x.dtype),))

    @staticmethod
    def backward(ctx, grad_out, grad_hn, grad_cn):
        spec = ctx.spec
        x, h0, c0, _, *flat = ctx.saved_tensors  # raises if they were changed in place since forward
        lstm = c0 is not None
        if torch.is_grad_enabled():  # create_graph=True: differentiate torch's own ops instead
            return _double_backward(ctx, spec, x, h0, c0, flat, grad_out, grad_hn, grad_cn if lstm else None)
        xn, h0n, c0n, weights, mn, bsn = ctx.np
        if ctx.used:  # a second backward (retain_graph=True): the workspaces are used up; redo them
            ctx.saved = stack_forward(spec, xn, h0n, c0n, weights, mn, True, bsn)[3]
        ctx.used = True
        dx, dh0, dc0, grads = stack_backward(spec, xn, h0n, c0n, weights, mn, ctx.saved, np_view(grad_out),
                                             np_view(grad_hn), np_view(grad_cn) if lstm else None)
        ctx.saved = None
        flat_grads = [torch.from_numpy(g) for g in spec.flatten(grads)]
        return (None, None, None, None, torch.from_numpy(dx), torch.from_numpy(dh0),
                torch.from_numpy(dc0) if lstm else None, *flat_grads)


def _double_backward(ctx, spec, x, h0, c0, flat, grad_out, grad_hn, grad_cn):
    """create_graph=True: the first derivatives through torch's own ops, recomputed from the
    original inputs, so that they are differentiable again (never a silently wrong second one)."""
    inputs = [x, h0, c0] + list(flat)
    with torch.enable_grad():
        out, h_n, c_n = torch_stack(spec, x, h0, c0, flat, ctx.masks, ctx.batch_sizes)
        outs, gos = [out, h_n], [grad_out, grad_hn]
        if c0 is not None:
            outs.append(c_n), gos.append(grad_cn)
        wanted = [i for i, t in enumerate(inputs) if t is not None and t.requires_grad]
        got = torch.autograd.grad(outs, [inputs[i] for i in wanted], gos, create_graph=True, allow_unused=True)
    grads = [None] * len(inputs)
    for i, g in zip(wanted, got):
        grads[i] = g
    return (None, None, None, None, *grads)


class CellFunction(torch.autograd.Function):
    """apply(cell, x, h, c, w_ih, w_hh, b_ih, b_hh) -> (h', c' or empty): one training step."""

    @staticmethod
    def forward(ctx, cell, params_np, x, h, c, w_ih, w_hh, b_ih, b_hh):
        arrays = [np_view(x), np_view(h), np_view(c)] + list(params_np)
        h_new, c_new = _adapter.cell_step(cell, *arrays)
        ctx.cell, ctx.np = cell, arrays
        ctx.save_for_backward(x, h, c, w_ih, w_hh, b_ih, b_hh)
        return torch.from_numpy(h_new), (torch.from_numpy(c_new) if c_new is not None else torch.empty(0, dtype=x.dtype))

    @staticmethod
    def backward(ctx, grad_h, grad_c):
        x, h, c, w_ih, w_hh, b_ih, b_hh = ctx.saved_tensors
        lstm = c is not None
        if torch.is_grad_enabled():  # create_graph=True: torch's own cell, differentiable again
            inputs = [x, h, c, w_ih, w_hh, b_ih, b_hh]
            with torch.enable_grad():
                outs = torch_cell(ctx.cell, *inputs)
                gos = [grad_h] + ([grad_c] if lstm else [])
                wanted = [i for i, t in enumerate(inputs) if t is not None and t.requires_grad]
                got = torch.autograd.grad(outs[:len(gos)], [inputs[i] for i in wanted], gos, create_graph=True,
                                          allow_unused=True)
            grads = [None] * 7
            for i, g in zip(wanted, got):
                grads[i] = g
            return (None, None, *grads)
        dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh = _adapter.cell_step_backward(
            ctx.cell, *ctx.np, np_view(grad_h), np_view(grad_c) if lstm else None)
        wrap = lambda a: None if a is None else torch.from_numpy(a)
        return None, None, wrap(dx), wrap(dh), wrap(dc), wrap(dw_ih), wrap(dw_hh), wrap(db_ih), wrap(db_hh)


def torch_cell(cell, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """torch's own cell step: (h', c' or None)."""
    from torch import _VF
    if cell == "lstm":
        return _VF.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
    fn = {"gru": _VF.gru_cell, "rnn_tanh": _VF.rnn_tanh_cell, "rnn_relu": _VF.rnn_relu_cell}[cell]
    return fn(x, h, w_ih, w_hh, b_ih, b_hh), None


def run_stack(spec, x, h0, c0, flat, masks, batch_sizes, grad, arrays=None):
    """Eager: the autograd node when ``grad``, else the inference path (no workspace kept).
    ``arrays``: NumPy views of ``flat`` if the caller has them. Returns (out, h_n, c_n or None)."""
    if arrays is None:
        arrays = [np_view(p) for p in flat]
    if grad:
        res = StackFunction.apply(spec, masks, batch_sizes, arrays, x, h0, c0, *flat)
        return res[0], res[1], (res[2] if c0 is not None else None)
    weights = spec.split(arrays)
    mn = None if masks is None else [np_view(m) for m in masks]
    out, h_n, c_n, _ = stack_forward(spec, np_view(x), np_view(h0), np_view(c0), weights, mn, False,
                                     None if batch_sizes is None else batch_sizes.numpy())
    return torch.from_numpy(out), torch.from_numpy(h_n), (torch.from_numpy(c_n) if c_n is not None else None)


def run_cell(cell, x, h, c, w_ih, w_hh, b_ih, b_hh, grad, arrays=None):
    """Eager cell step: (h', c' or None); ``arrays``: NumPy views of the four parameters."""
    if arrays is None:
        arrays = [np_view(t) for t in (w_ih, w_hh, b_ih, b_hh)]
    if grad:
        h_new, c_new = CellFunction.apply(cell, arrays, x, h, c, w_ih, w_hh, b_ih, b_hh)
        return h_new, (c_new if c is not None else None)
    h_new, c_new = _adapter.cell_step(cell, np_view(x), np_view(h), np_view(c), *arrays)
    return torch.from_numpy(h_new), (torch.from_numpy(c_new) if c_new is not None else None)
