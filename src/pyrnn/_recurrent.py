"""The spine under every face: the cell registry, sequence packing and the core's layer calls.

Every face (``pyrnn.nn`` modules and cells, the Keras-style layers, ONNX export, and faces still
to come such as a ``torch.autograd.Function``) runs a recurrent layer through this module and
nothing else; none of them calls ``pyrnn._core`` for a layer or keeps its own table of cells,
gates or activations.

Three parts:

* **The registry.** ``CELLS`` (the core's cell names: gate count, gate order for torch, Keras
  and ONNX, the activations each accepts, the training workspace per step) and
  ``ACTIVATIONS`` (the activations the recurrent kernels run, with their NumPy forms and their
  ONNX names). ``cell_for`` turns a face's options (``"LSTM"``, ``nonlinearity=``,
  ``reset_after=``) into a ``CellSpec``; ``check_activation`` is the one error policy for
  activation names.
* **Packing.** ``Packing.from_lengths`` (right-padded sequences, torch's
  ``pack_padded_sequence``) and ``Packing.from_mask`` (any (B, T) mask, Keras's masking: the
  unmasked steps of each sequence move to the front) give the core what its variable-length
  path needs: rows sorted longest first and the active rows per step. ``pack``/``unpack`` move
  arrays in and out of that layout; right-padded input takes the fast path (rows permuted,
  nothing moved in time).
* **Core calls**, with keyword arguments, arrays in and arrays out: ``forward`` returns the
  output, the final states and, in training, a ``Workspace`` that ``backward`` takes
  explicitly (and consumes); ``step`` is one inference step on unpacked weights (streaming);
  ``matmul`` the core's GEMM for dense layers.

Example (one LSTM layer, forward and backward, time-major)::

    >>> import numpy as np
    >>> from pyrnn import _recurrent as R
    >>> T, B, I, H = 5, 3, 4, 6
    >>> rng = np.random.default_rng(0)
    >>> w = R.LayerWeights(w_ih=rng.standard_normal((4 * H, I), dtype=np.float32),
    ...                    w_hh=rng.standard_normal((4 * H, H), dtype=np.float32))
    >>> x = rng.standard_normal((T, B, I), dtype=np.float32)
    >>> h0 = c0 = np.zeros((B, H), np.float32)
    >>> res = R.forward(R.CELLS["lstm"], x, h0, c0, weights=w, training=True)
    >>> res.output.shape, res.h_n.shape
    ((5, 3, 6), (3, 6))
    >>> g = R.backward(res.workspace, grad_output=np.ones_like(res.output))
    >>> g.x.shape, g.w_ih.shape
    ((5, 3, 4), (24, 4))
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import _core

Array = np.ndarray

# ---------------------------------------------------------------------------- activations


def _sigmoid(a: Array) -> Array:
    """1 / (1 + exp(-a)) without overflow: exp of a non-positive number only."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


@dataclass(frozen=True)
class ActivationSpec:
    """One activation the recurrent kernels run: its NumPy form, its derivative written in terms
    of its output ``y = f(a)`` (what backward has), and its ONNX activation function with the
    ``(alpha, beta)`` it takes, if any."""

    name: str
    forward: Callable[[Array], Array]
    derivative: Callable[[Array], Array]
    onnx: str
    onnx_params: Optional[Tuple[float, float]] = None


ACTIVATIONS: Dict[str, ActivationSpec] = {a.name: a for a in (
    ActivationSpec("tanh", np.tanh, lambda y: 1 - y * y, "Tanh"),
    ActivationSpec("relu", lambda a: np.maximum(a, 0), lambda y: (y > 0).astype(y.dtype), "Relu"),
    ActivationSpec("sigmoid", _sigmoid, lambda y: y * (1 - y), "Sigmoid"),
    # identity: ONNX's Affine(x) = alpha * x + beta
    ActivationSpec("linear", lambda a: a, lambda y: np.ones_like(y), "Affine", (1.0, 0.0)),
    # Keras 3's hard_sigmoid relu6(x + 3) / 6 = ONNX's HardSigmoid(1/6, 1/2)
    ActivationSpec("hard_sigmoid", lambda a: np.clip(a + 3, 0, 6) / 6,
                   lambda y: ((y > 0) & (y < 1)).astype(y.dtype) / 6, "HardSigmoid", (1 / 6, 0.5)),
)}

RNN_NONLINEARITIES: Tuple[str, ...] = ("tanh", "relu", "sigmoid", "linear")  # torch has the first two
GATED_ACTIVATIONS: Tuple[str, ...] = tuple(ACTIVATIONS)  # GRU/LSTM activation and recurrent_activation


def check_activation(what: str, name: Any, allowed: Sequence[str], owner: Optional[str] = None,
                     known: Sequence[str] = ()) -> str:
    """The one policy for activation names, in every face.

    ``name`` in ``allowed``: returned. A name the package knows elsewhere (``known``, e.g. the
    Keras activations ``Dense`` runs) but this cell's kernels do not: NotImplementedError naming
    the option. Anything else: ValueError (TypeError when it is not a string)."""
    prefix = f"{owner}: " if owner else ""
    if isinstance(name, str) and name in allowed:
        return name
    if not isinstance(name, str):
        raise TypeError(f"{prefix}{what} must be a str, one of {list(allowed)}, got {type(name).__name__}")
    if name in known:
        raise NotImplementedError(f"{prefix}{what}={name!r} is not supported by the core's recurrent kernels "
                                  f"(supported: {', '.join(allowed)})")
    raise ValueError(f"{prefix}{what} must be one of {list(allowed)}, got {name!r}")


# ---------------------------------------------------------------------------- cells


@dataclass(frozen=True)
class CellSpec:
    """One of the core's cells.

    ``name`` is the core's name; ``family`` the torch/ONNX class (``RNN``, ``GRU``, ``LSTM``);
    ``mode`` pyrnn.nn's mode string. Gate blocks of the weights follow torch's order
    ``gate_names``; ``keras_order[k]`` / ``onnx_order[k]`` is the torch block that is block k in
    Keras's / ONNX's layout. ``workspace_per_step`` is the training workspace in units of B*H
    (times T for a sequence; LSTM with a projection adds one). ``activations`` lists the names
    its ``activation``/``recurrent_activation`` may take (empty: fixed by the cell)."""

    name: str
    family: str
    mode: str
    gates: int
    gate_names: Tuple[str, ...]
    keras_order: Tuple[int, ...]
    onnx_order: Tuple[int, ...]
    onnx_attrs: Mapping[str, Any] = field(default_factory=dict)
    workspace_per_step: int = 0
    activations: Tuple[str, ...] = ()
    nonlinearity: Optional[str] = None  # RNN cells: their activation
    reset_after: bool = True  # GRU cells: where the reset gate applies

    @property
    def has_cell_state(self) -> bool:
        return self.family == "LSTM"

    @property
    def gated(self) -> bool:
        return bool(self.activations)

    def workspace_size(self, steps: int, batch: int, hidden: int, projection: bool = False) -> int:
        """Elements of the training workspace the core keeps for backward."""
        per = self.workspace_per_step + (1 if projection and self.family == "LSTM" else 0)
        return steps * batch * hidden * per


def _rnn(nonlinearity: str) -> CellSpec:
    spec = ACTIVATIONS[nonlinearity]
    attrs: Dict[str, Any] = {"activations": [spec.onnx]}
    if spec.onnx_params:
        attrs.update(activation_alpha=[spec.onnx_params[0]], activation_beta=[spec.onnx_params[1]])
    return CellSpec("rnn_" + nonlinearity, "RNN", "RNN_" + nonlinearity.upper(), 1, ("h",), (0,), (0,), attrs,
                    nonlinearity=nonlinearity)


CELLS: Dict[str, CellSpec] = {c.name: c for c in (
    *(_rnn(n) for n in RNN_NONLINEARITIES),
    CellSpec("gru", "GRU", "GRU", 3, ("r", "z", "n"), (1, 0, 2), (1, 0, 2), {"linear_before_reset": 1}, 4,
             GATED_ACTIVATIONS),
    CellSpec("gru_reset_before", "GRU", "GRU", 3, ("r", "z", "n"), (1, 0, 2), (1, 0, 2), {"linear_before_reset": 0},
             4, GATED_ACTIVATIONS, reset_after=False),
    CellSpec("lstm", "LSTM", "LSTM", 4, ("i", "f", "g", "o"), (0, 1, 2, 3), (0, 3, 1, 2), {}, 5, GATED_ACTIVATIONS),
)}

MODES: Tuple[str, ...] = tuple(sorted({c.mode for c in CELLS.values()}))
GATES: Dict[str, int] = {c.mode: c.gates for c in CELLS.values()}  # nn mode -> gate count


def cell_for(mode: str, *, reset_after: bool = True) -> CellSpec:
    """The cell of a pyrnn.nn mode (``"RNN_TANH"``, ..., ``"GRU"``, ``"LSTM"``). Example::

        >>> cell_for("GRU", reset_after=False).name
        'gru_reset_before'
    """
    if mode not in GATES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    if mode.startswith("RNN_"):
        return CELLS["rnn_" + mode[4:].lower()]
    if mode == "GRU":
        return CELLS["gru" if reset_after else "gru_reset_before"]
    return CELLS["lstm"]


def rnn_cell(nonlinearity: Any, owner: Optional[str] = None, what: str = "nonlinearity",
             known: Sequence[str] = ()) -> CellSpec:
    """The RNN cell of ``nonlinearity`` (checked with ``check_activation``)."""
    return CELLS["rnn_" + check_activation(what, nonlinearity, RNN_NONLINEARITIES, owner, known)]


def gate_index(order: Sequence[int], hidden: int) -> Array:
    """Row indices that reorder torch's gate blocks of ``hidden`` rows into ``order``."""
    return np.concatenate([np.arange(hidden) + k * hidden for k in order])


# ---------------------------------------------------------------------------- argument checks


def check_size(name: str, value: Any, minimum: int = 1, owner: Optional[str] = None) -> int:
    """An integer size: TypeError for a non-integer (bool, float, str: no truncation, no parsing),
    ValueError below ``minimum``."""
    prefix = f"{owner}: " if owner else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{prefix}{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{prefix}{name} must be >= {minimum}, got {value}")
    return int(value)


def check_dropout(name: str, value: Any, owner: Optional[str] = None) -> float:
    """A dropout probability in [0, 1] (1 drops everything), as in torch, for every face."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= float(value) <= 1:
        prefix = f"{owner}: " if owner else ""
        raise ValueError(f"{prefix}{name} must be a number in [0, 1], got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------- packing


def _to_numpy(value: Any) -> Any:
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        return value.detach().cpu().numpy()
    return value


class Packing:
    """Sequences of different lengths in the core's layout: rows sorted longest first, each
    sequence's valid steps at the front, ``batch_sizes[t]`` rows active at step t.

    Time-major throughout: ``pack`` takes (T, B, F) in the caller's row order and step
    positions and gives the core's input; ``unpack`` takes the core's (T, B, F) and gives it
    back in the caller's layout, zero where no step ran. Made by ``from_lengths`` (right-padded
    sequences) or ``from_mask`` (any pattern of valid steps); ``right_padded`` says nothing moves
    in time (the fast path: rows are only permuted).

    Attributes: ``lengths`` [B] (caller's order), ``order`` (sorted row -> caller's row),
    ``inverse``, ``batch_sizes`` int32 [T], ``valid`` bool [T, B] (sorted rows), ``mask`` bool
    [B, T] (caller's layout), ``steps``. Example::

        >>> p = Packing.from_mask(np.array([[False, True, True], [True, False, False]]))
        >>> p.lengths.tolist(), p.batch_sizes.tolist(), p.right_padded
        ([2, 1], [2, 1, 0], False)
    """

    def __init__(self, mask: Array, right_padded: bool):
        mask = np.asarray(mask, dtype=bool)
        batch, steps = mask.shape
        self.mask, self.steps, self.right_padded = mask, steps, right_padded
        self.lengths = mask.sum(axis=1).astype(np.int64)
        self.order = np.argsort(-self.lengths, kind="stable")
        self.inverse = np.argsort(self.order)
        sorted_lengths = self.lengths[self.order]
        t = np.arange(steps)[:, None]
        self.valid = t < sorted_lengths[None, :]  # [T, B], sorted rows
        self.batch_sizes = self.valid.sum(axis=1).astype(np.int32)
        # src[t, b]: the caller's step that is step t of sorted row b (valid steps first, in order)
        self.src = t if right_padded else np.argsort(~mask[self.order], axis=1, kind="stable").T
        # reverse[t, b]: where step t of sorted row b's reversal comes from; padding stays put
        self._reverse = np.where(self.valid, sorted_lengths[None, :] - 1 - t, t)

    @classmethod
    def from_lengths(cls, lengths: Any, steps: int, batch: int, batched: bool = True) -> Packing:
        """Right-padded sequences: ``lengths`` (B integers in [0, steps]; a scalar or one value
        for unbatched input). TypeError for non-integers, ValueError for a wrong shape or range."""
        lengths = np.asarray(_to_numpy(lengths))
        if lengths.dtype.kind not in "iu":
            raise TypeError(f"lengths: expected integers, got dtype {lengths.dtype}")
        if (batched and lengths.shape != (batch,)) or (not batched and lengths.shape not in ((), (1,))):
            raise ValueError(f"lengths: expected shape {(batch,)}, one length per sequence, got {lengths.shape}")
        lengths = lengths.reshape(batch)
        if lengths.size and (lengths.min() < 0 or lengths.max() > steps):  # before any cast can wrap
            raise ValueError(f"lengths: expected values in [0, {steps}] (the padded length), "
                             f"got min {lengths.min()} and max {lengths.max()}")
        return cls(np.arange(steps)[None, :] < lengths.astype(np.int64)[:, None], right_padded=True)

    @classmethod
    def from_mask(cls, mask: Any) -> Packing:
        """Any (B, T) mask of valid steps (Keras's masks: holes, left or right padding)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim != 2:
            raise ValueError(f"mask: expected shape (batch, timesteps), got {mask.shape}")
        lengths = mask.sum(axis=1)
        right_padded = bool(np.array_equal(mask, np.arange(mask.shape[1])[None, :] < lengths[:, None]))
        return cls(mask, right_padded)

    # ------------------------------------------------------------------ rows
    def sort_rows(self, a: Array, axis: int = 0) -> Array:
        """``a`` with its batch axis in the core's (sorted) row order, C-contiguous."""
        return np.ascontiguousarray(np.take(a, self.order, axis=axis))

    def unsort_rows(self, a: Array, axis: int = 0) -> Array:
        """``a`` (sorted rows) back in the caller's row order."""
        return np.take(a, self.inverse, axis=axis)

    # ------------------------------------------------------------------ sequences, time-major
    def pack(self, x: Array) -> Array:
        """(T, B, F) in the caller's layout -> the core's input (sorted rows, valid steps first).
        Padding is zeroed: it is never read as input, but NaN or inf there would reach dW."""
        moved = x[:, self.order] if self.right_padded else x[self.src, self.order[None, :]]
        return np.ascontiguousarray(np.where(self.valid[:, :, None], moved, 0).astype(x.dtype, copy=False))

    def unpack(self, y: Array) -> Array:
        """The core's (T, B, F) -> the caller's layout; steps that did not run are zero."""
        if self.right_padded:  # the core writes zeros past each length
            return y[:, self.inverse]
        out = np.zeros_like(y)
        out[self.src, self.order[None, :]] = np.where(self.valid[:, :, None], y, 0)
        return out

    def reverse_time(self, seq: Array) -> Array:
        """Core-layout (T, B, F) with each sequence's valid steps in reverse order (its own inverse)."""
        return np.ascontiguousarray(seq[self._reverse, np.arange(seq.shape[1])[None, :]])

    # ------------------------------------------------------------------ Keras's masked outputs
    def _repeat_index(self, zero_masked: bool) -> Array:
        counts = np.cumsum(self.mask, axis=1)
        tidx = np.where(counts > 0, counts - 1, self.steps)  # T: a zero row
        return np.where(self.mask, tidx, self.steps) if zero_masked else tidx

    def spread(self, y: Array, zero_masked: bool = False) -> Array:
        """Core-layout outputs (T, B, H) -> batch-major (B, T, H) at the caller's steps, as Keras
        masks them: a masked step repeats the previous valid output (zeros before the first), or
        is zero with ``zero_masked``."""
        padded = np.concatenate([y, np.zeros((1,) + y.shape[1:], y.dtype)])
        return padded[self._repeat_index(zero_masked), self.inverse[:, None]]

    def spread_grad(self, grad: Array, zero_masked: bool = False) -> Array:
        """The gradient of ``spread``: batch-major (B, T, H) -> core-layout (T, B, H)."""
        tidx = self._repeat_index(zero_masked)
        gpad = np.zeros((self.steps + 1,) + grad.shape[:1] + grad.shape[2:], grad.dtype)
        np.add.at(gpad, (tidx, np.broadcast_to(self.inverse[:, None], tidx.shape)), grad)
        return gpad[:self.steps]


# ---------------------------------------------------------------------------- core calls


PARAMETER_KINDS: Tuple[str, ...] = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")  # torch's names


class LayerWeights(NamedTuple):
    """One layer, one direction, in torch's layout and gate order. Biases and the LSTM
    projection ``w_hr`` are optional."""

    w_ih: Array
    w_hh: Array
    b_ih: Optional[Array] = None
    b_hh: Optional[Array] = None
    w_hr: Optional[Array] = None

    @classmethod
    def from_params(cls, params: Mapping[str, Array], suffix: str = "") -> LayerWeights:
        """From torch-named parameters: ``weight_ih{suffix}``, ..., e.g. suffix ``"_l1_reverse"``."""
        w_ih, w_hh, b_ih, b_hh, w_hr = (params.get(kind + suffix) for kind in PARAMETER_KINDS)
        if w_ih is None or w_hh is None:
            raise KeyError(f"LayerWeights.from_params: no weight_ih{suffix} / weight_hh{suffix}")
        return cls(w_ih, w_hh, b_ih, b_hh, w_hr)


@dataclass
class Workspace:
    """What ``backward`` needs from a training ``forward``: the arrays it read (by reference: do
    not change them in place between the two calls), its output and the core's workspace. One
    backward consumes it (the core reuses the workspace in place)."""

    cell: CellSpec
    x: Array
    h0: Array
    c0: Optional[Array]
    weights: LayerWeights
    output: Array
    core_workspace: Optional[Array]
    batch_sizes: Optional[Array]
    activation: str
    recurrent_activation: str
    used: bool = False
    recurrent_mask: Optional[Array] = None


class ForwardResult(NamedTuple):
    output: Array  # (T, B, H or proj_size)
    h_n: Array  # (B, H or proj_size)
    c_n: Optional[Array]  # LSTM: (B, H)
    workspace: Optional[Workspace]  # training only


class Gradients(NamedTuple):
    """dL/d of each input of ``forward``; None for what it did not take (no bias, no c0, ...)."""

    x: Array
    h0: Array
    c0: Optional[Array]
    w_ih: Array
    w_hh: Array
    b_ih: Optional[Array]
    b_hh: Optional[Array]
    w_hr: Optional[Array]

    def parameters(self) -> Dict[str, Optional[Array]]:
        """Parameter gradients under torch's kinds (``weight_ih``, ..., ``weight_hr``)."""
        return dict(zip(PARAMETER_KINDS, (self.w_ih, self.w_hh, self.b_ih, self.b_hh, self.w_hr)))

    def add_to(self, grads: Dict[str, Array], suffix: str = "") -> None:
        """Add the parameter gradients into ``grads`` (torch names + ``suffix``), skipping absent ones."""
        for kind, value in self.parameters().items():
            if value is not None:
                grads[kind + suffix] += value


def _cell(cell: CellSpec | str) -> CellSpec:
    return cell if isinstance(cell, CellSpec) else CELLS[cell]


def forward(cell: CellSpec | str, x: Array, h0: Array, c0: Optional[Array] = None, *, weights: LayerWeights,
            training: bool = False, batch_sizes: Optional[Array] = None, activation: str = "tanh",
            recurrent_activation: str = "sigmoid", recurrent_mask: Optional[Array] = None) -> ForwardResult:
    """One layer, one direction, over the time-major sequence ``x`` (T, B, I) on the core.

    ``h0`` (B, H) and, for LSTM, ``c0`` (B, H) are the initial states; ``weights`` a
    ``LayerWeights``. ``batch_sizes`` (int32 [T], non-increasing; from a ``Packing``) runs
    sequences of different lengths (rows sorted longest first). ``activation`` and
    ``recurrent_activation`` apply to GRU/LSTM cells. Arrays must be C-contiguous, of one dtype
    (float32 or float64). ``recurrent_mask`` (B, H, or (B, proj_size) for a projected LSTM; rows
    in ``x``'s order, so sorted like ``h0``) is recurrent dropout (Keras's ``recurrent_dropout``):
    ``mask * h_{t-1}`` where h_{t-1} enters the recurrent product, the same at every step; the LSTM
    cell state and the GRU blend use h_{t-1} itself. The workspace keeps it for ``backward``.
    Returns ``ForwardResult(output, h_n, c_n, workspace)``; ``workspace`` (training only) is
    what ``backward`` takes."""
    spec = _cell(cell)
    w = weights
    out, h_n, c_n, ws = _core.forward(spec.name, x, h0, c0, w.w_ih, w.w_hh, w.b_ih, w.b_hh, training, batch_sizes,
                                      w.w_hr, activation=activation, recurrent_activation=recurrent_activation,
                                      recurrent_mask=recurrent_mask)
    workspace = Workspace(spec, x, h0, c0, w, out, ws, batch_sizes, activation, recurrent_activation,
                          recurrent_mask=recurrent_mask) if training else None
    return ForwardResult(out, h_n, c_n, workspace)


def backward(workspace: Workspace, grad_output: Optional[Array] = None, grad_h_n: Optional[Array] = None,
             grad_c_n: Optional[Array] = None) -> Gradients:
    """Backpropagation through time for the ``forward`` that made ``workspace``.

    ``grad_output`` (T, B, H) is dL/d(output), ``grad_h_n`` / ``grad_c_n`` (B, H) dL/dh_n and
    dL/dc_n (LSTM); None means zeros. Returns ``Gradients``; the workspace is consumed (a second
    backward on it is a ValueError)."""
    if workspace.used:
        raise ValueError("backward: this workspace was already used (each forward allows one backward)")
    ws = workspace
    dtype = ws.output.dtype
    if grad_output is None:
        grad_output = np.zeros(ws.output.shape, dtype)
    if grad_h_n is None:
        grad_h_n = np.zeros(ws.h0.shape[:1] + ws.output.shape[2:], dtype)
    if grad_c_n is None and ws.cell.has_cell_state:
        grad_c_n = np.zeros(ws.c0.shape if ws.c0 is not None else ws.h0.shape, dtype)
    w = ws.weights
    grads = _core.backward(ws.cell.name, ws.x, ws.h0, ws.c0, w.w_ih, w.w_hh, w.b_ih, w.b_hh, ws.output,
                           ws.core_workspace, grad_output, grad_h_n, grad_c_n, ws.batch_sizes, w.w_hr,
                           activation=ws.activation, recurrent_activation=ws.recurrent_activation,
                           recurrent_mask=ws.recurrent_mask)
    workspace.used = True
    return Gradients(*grads)


def step(cell: CellSpec | str, x: Array, h: Array, c: Optional[Array] = None, *,
         weights: LayerWeights) -> Tuple[Array, Optional[Array]]:
    """One inference step on the weights as they are (no packing; the streaming path): x (B, I),
    h (B, H) (and c for LSTM) -> (h', c' or None)."""
    w = weights
    return _core.cell_step(_cell(cell).name, x, h, c, w.w_ih, w.w_hh, w.b_ih, w.b_hh)


def matmul(a: Array, b: Array, *, out: Optional[Array] = None, accumulate: bool = False) -> Array:
    """``a @ b`` with the core's GEMM on pyrnn's threads (``out += a @ b`` with ``accumulate``);
    ``a`` and ``b`` may be strided views (transposes). For dense layers: NumPy's BLAS would start
    a second thread pool spinning on the cores the recurrent layers use."""
    return _core.matmul(a, b, out=out, accumulate=accumulate)


def memory_limit() -> int:
    """Bytes of memory this process can use (larger requests raise MemoryError in the core)."""
    return int(_core._memory_limit())


__all__ = ["ACTIVATIONS", "ActivationSpec", "CELLS", "CellSpec", "ForwardResult", "GATED_ACTIVATIONS", "GATES",
           "Gradients", "LayerWeights", "MODES", "PARAMETER_KINDS", "Packing", "RNN_NONLINEARITIES", "Workspace",
           "backward",
           "cell_for", "check_activation", "check_dropout", "check_size", "forward", "gate_index", "matmul", "memory_limit",
           "rnn_cell", "step"]
