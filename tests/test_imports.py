"""Every module of the package imports alone, and the package's imports form no circle.

A circle dodged by an import inside a function works until someone imports the modules in
another order; these tests make the module graph a checked property instead.
"""

import ast
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import pyrnn

MODULES = sorted({"pyrnn", "pyrnn._core"} | {m.name for m in pkgutil.walk_packages(pyrnn.__path__, prefix="pyrnn.")})


def _source(name):
    spec = importlib.util.find_spec(name)
    origin = Path(spec.origin)
    return (origin, origin.read_text()) if origin.suffix == ".py" else (origin, None)


def _is_package(name):
    return Path(importlib.util.find_spec(name).origin).name == "__init__.py"


def _imports(name):
    """The package modules ``name`` imports at its top level (module scope, not in functions)."""
    _, text = _source(name)
    if text is None:  # the compiled extension
        return set()
    package = name if _is_package(name) else name.rpartition(".")[0]
    found = set()
    for node in ast.parse(text).body:
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (base + "." + node.module if node.module else base) if node.level else node.module
            if not target or not target.startswith("pyrnn"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("pyrnn")}
    return found - {name}


def test_every_module_is_listed():
    assert {"pyrnn._recurrent", "pyrnn.nn.modules", "pyrnn.layers.recurrent", "pyrnn.models.sequential",
            "pyrnn.onnx"} <= set(MODULES)


# Subpackages that need an optional package: without it, importing them is a clear error naming it.
OPTIONAL = {"pyrnn.torch": "torch"}


def _optional_package(name):
    return next((pkg for prefix, pkg in OPTIONAL.items() if name == prefix or name.startswith(prefix + ".")), None)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_alone_in_a_fresh_interpreter(name):
    result = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=120)
    needed = _optional_package(name)
    if needed is not None and importlib.util.find_spec(needed) is None:
        assert result.returncode != 0 and f"pip install {needed}" in result.stderr, result.stderr
    else:
        assert result.returncode == 0, result.stderr


def test_no_import_circles():
    graph = {name: _imports(name) for name in MODULES}
    # A module also runs its parent packages' __init__ first; that edge is not a circle by
    # itself, but an import back into a parent package from one of its children is one.
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for name in MODULES:
        if name not in state:
            visit(name)


def test_no_imports_inside_functions_of_the_package():
    """Imports of the package's own modules happen at module level (optional third-party
    packages, imported where they are needed, are the exception)."""
    offenders = []
    for name in MODULES:
        origin, text = _source(name)
        if text is None:
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.ImportFrom) and (inner.level or (inner.module or "").startswith("pyrnn")):
                        offenders.append(f"{origin.name}:{inner.lineno}")
    assert not offenders, offenders
