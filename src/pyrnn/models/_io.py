"""Files: safetensors (tensors + string metadata), a safe, standard format."""

from __future__ import annotations

import os

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file


def save(filepath, tensors, metadata, overwrite=True):
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(filepath)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, filepath, metadata=metadata)


def load(filepath):
    with safe_open(os.fspath(filepath), framework="numpy") as f:
        metadata = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (a safetensors file handle, not a dict)
    return tensors, metadata


def weights_list(tensors):
    keys = sorted(k for k in tensors if k.startswith("weights/"))
    return [tensors[k] for k in keys]
