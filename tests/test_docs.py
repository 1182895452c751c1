"""Every ```python block of README.md and ARCHITECTURE.md runs as written.

The blocks of one file run in order in one namespace (a reader goes through them in order), in
a temporary directory (some write files). A block that imports torch, keras or onnx/onnxruntime
skips when that package is absent; such blocks define everything they use, so the others do
not depend on them.
"""

import contextlib
import importlib.util
import io
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "ARCHITECTURE.md"]
OPTIONAL = {"torch": "torch", "keras": "keras", "onnxruntime": "onnxruntime", "onnx": "onnx", "h5py": "h5py"}


def _blocks(doc):
    return re.findall(r"^```python\n(.*?)^```", (ROOT / doc).read_text(encoding="utf-8"), re.S | re.M)


def _missing(block):
    """The optional packages ``block`` imports that are not installed."""
    imported = set(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", block, re.M))
    if "pyrnn.onnx.export" in block or "format=\"onnx\"" in block:
        imported.add("onnx")
    if "keras" in imported:
        imported.add("h5py")
    return sorted(m for m in imported if m in OPTIONAL and importlib.util.find_spec(OPTIONAL[m]) is None)


@pytest.mark.parametrize("doc", DOCS)
def test_every_python_block_runs(doc, tmp_path, monkeypatch):
    blocks = _blocks(doc)
    assert blocks, f"{doc} has no python blocks"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KERAS_BACKEND", os.environ.get("KERAS_BACKEND", "torch"))  # restored afterwards
    namespace = {"__name__": "__doc_example__"}
    skipped = []
    for i, block in enumerate(blocks):
        missing = _missing(block)
        if missing:
            skipped.append((i, missing))
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                exec(compile(block, f"{doc} block {i + 1}", "exec"), namespace)
            except Exception as e:  # name the block in the failure
                raise AssertionError(f"{doc}, python block {i + 1} fails: {type(e).__name__}: {e}\n{block}") from e
    if skipped:
        pytest.skip(f"{doc}: ran {len(blocks) - len(skipped)} of {len(blocks)} blocks; skipped (missing packages): "
                    f"{skipped}")


def test_no_reference_to_files_outside_the_repository():
    for path in [ROOT / d for d in DOCS + ["CONTRIBUTING.md"]] + sorted((ROOT / "src").rglob("*.py")):
        assert "DESIGN.md" not in path.read_text(encoding="utf-8"), path
