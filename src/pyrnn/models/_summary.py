"""``Sequential.summary``'s table: layers, output shapes and parameter counts, as Keras prints them."""

from __future__ import annotations


def _bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024


def _type(layer):
    """The type column: a nested model shows Keras's "Functional" / "Sequential"."""
    return getattr(layer, "_summary_class", type(layer).__name__)


def _table(model, header, widths, rows):
    w = widths
    line = lambda l, m, r: l + m.join("━" * (k + 2) for k in w) + r
    cells = lambda values: " │ ".join(f"{v:>{k}}" if j == 2 else f"{v:<{k}}" for j, (v, k) in enumerate(zip(values, w)))
    out = [f'Model: "{model.name}"', line("┏", "┳", "┓"), "┃ " + cells(header).replace("│", "┃") + " ┃",
           line("┡", "╇", "┩")]
    for i, row in enumerate(rows):
        out.append("│ " + cells(row) + " │")
        if i < len(rows) - 1:
            out.append("├" + "┼".join("─" * (k + 2) for k in w) + "┤")
    out.append("└" + "┴".join("─" * (k + 2) for k in w) + "┘")
    return out


def summary_text(model):
    """The summary of ``model`` (a Sequential) as one string."""
    rows = []
    shape = model.input_shape
    for layer in model.layers:
        if shape is not None and layer.built:
            shape = layer.compute_output_shape(shape)
            shown = str(tuple(shape))
        else:
            shown = "?"
        rows.append((f"{layer.name} ({_type(layer)})", shown, f"{layer.count_params():,}"))
    out = _table(model, ("Layer (type)", "Output Shape", "Param #"), (32, 26, 14), rows)
    return "\n".join(out + _totals(model))


def functional_summary_text(model):
    """The summary of a functional ``model``, with Keras's "Connected to" column."""
    refs = model.node_refs()
    rows = []
    for t in model.inputs:
        rows.append((f"{t.layer.name} ({type(t.layer).__name__})", str(t.shape), "0", "-"))
    seen = set()
    for node in model._nodes:
        layer = node.layer
        shapes = [t.shape for t in node.outputs]
        first = id(layer) not in seen
        seen.add(id(layer))
        connected = ", ".join(refs[id(t)] for t in node.parents) or "-"
        rows.append((f"{layer.name} ({_type(layer)})", str(shapes[0] if len(shapes) == 1 else shapes),
                     f"{layer.count_params():,}" if first else "0", connected))
    out = _table(model, ("Layer (type)", "Output Shape", "Param #", "Connected to"), (28, 24, 10, 30), rows)
    return "\n".join(out + _totals(model))


def _totals(model):
    out = []
    trainable = sum(l.count_params() for l in model.layers if l.trainable and model.trainable)
    total = model.count_params()
    size = lambda n: _bytes(n * 4)
    out += [f" Total params: {total:,} ({size(total)})", f" Trainable params: {trainable:,} ({size(trainable)})",
            f" Non-trainable params: {total - trainable:,} ({size(total - trainable)})"]
    return out
