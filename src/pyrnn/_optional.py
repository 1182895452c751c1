"""Optional dependencies (torch, onnx, h5py): imported only by the functions that need them."""

from __future__ import annotations

import importlib


def require(module, purpose, extra):
    """Import the optional package ``module``, or raise ModuleNotFoundError saying what needs it
    and how to install it (``pip install <module>`` or the pyrnn extra ``extra``). Example::

        >>> onnx = require("onnx", "ONNX export", "onnx")
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ModuleNotFoundError(f"{purpose} needs the {module} package: pip install {module} "
                                  f"(or pyrnn[{extra}])", name=module) from e
