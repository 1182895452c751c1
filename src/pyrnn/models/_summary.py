"""``Sequential.summary``'s table: layers, output shapes and parameter counts, as Keras prints them."""

from __future__ import annotations


def _bytes(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024


def summary_text(model):
    """The summary of ``model`` (a Sequential) as one string."""
    w = (32, 26, 14)
    rows = []
    shape = model.input_shape
    for layer in model.layers:
        if shape is not None and layer.built:
            shape = layer.compute_output_shape(shape)
            shown = str(tuple(shape))
        else:
            shown = "?"
        rows.append((f"{layer.name} ({type(layer).__name__})", shown, f"{layer.count_params():,}"))
    line = lambda l, m, r: l + m.join("━" * (k + 2) for k in w) + r
    out = [f'Model: "{model.name}"', line("┏", "┳", "┓"),
           "┃ " + " ┃ ".join([f"{'Layer (type)':<{w[0]}}", f"{'Output Shape':<{w[1]}}", f"{'Param #':>{w[2]}}"])
           + " ┃", line("┡", "╇", "┩")]
    for i, (a, b, c) in enumerate(rows):
        out.append("│ " + " │ ".join([f"{a:<{w[0]}}", f"{b:<{w[1]}}", f"{c:>{w[2]}}"]) + " │")
        if i < len(rows) - 1:
            out.append("├" + "┼".join("─" * (k + 2) for k in w) + "┤")
    out.append("└" + "┴".join("─" * (k + 2) for k in w) + "┘")
    trainable = sum(l.count_params() for l in model.layers if l.trainable and model.trainable)
    total = model.count_params()
    size = lambda n: _bytes(n * 4)
    out += [f" Total params: {total:,} ({size(total)})", f" Trainable params: {trainable:,} ({size(trainable)})",
            f" Non-trainable params: {total - trainable:,} ({size(total - trainable)})"]
    return "\n".join(out)
