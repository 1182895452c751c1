"""Model and weights files, by extension: Keras 3's ``.keras`` (a zip of ``config.json``,
``metadata.json`` and ``model.weights.h5``), Keras 3's ``.weights.h5`` (HDF5) and pyrnn's
``.safetensors``. An extension is a promise about the format: every reader checks the file's
signature first, and every unreadable, truncated or foreign file is a ValueError (a missing
one the OSError from opening it) naming the path, the format expected and what was found.
Writers go through a temporary file and ``os.replace``, so a crash mid-write leaves the
previous file whole. The layouts inside (which layer's arrays go where) are ``_keras.py``'s."""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import h5py
import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

KERAS, WEIGHTS_H5, SAFETENSORS = ".keras", ".weights.h5", ".safetensors"
_DESCRIPTIONS = {KERAS: "a Keras 3 .keras zip archive", WEIGHTS_H5: "a Keras 3 .weights.h5 HDF5 file",
                 SAFETENSORS: "a safetensors file"}
ZIP_SIGNATURE = b"PK\x03\x04"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
CONFIG_JSON, METADATA_JSON, WEIGHTS_MEMBER = "config.json", "metadata.json", "model.weights.h5"
TRAINING_MEMBER = "pyrnn.training.json"  # BackupAndRestore's epoch, step and RNG states; Keras ignores it


def file_format(filepath, supported, what):
    """The extension of ``filepath`` among ``supported`` (a ValueError naming the path otherwise)."""
    path = os.fspath(filepath)
    for ext in supported:
        if path.endswith(ext):
            return ext
    raise ValueError(f"{what}: {path!r} has an unsupported extension; expected one of {', '.join(supported)}")


def _safetensors_header(head, size):
    """The JSON header length when ``head`` starts a safetensors file of ``size`` bytes, else None."""
    if len(head) < 9:
        return None
    n = struct.unpack("<Q", head[:8])[0]
    return n if 8 + n <= size and head[8:9] == b"{" else None


def describe(head, size):
    """What a file's first bytes look like, for error messages."""
    if size == 0:
        return "an empty file"
    if head.startswith(ZIP_SIGNATURE):
        return "a zip archive"
    if head.startswith(HDF5_SIGNATURE):
        return "an HDF5 file"
    if _safetensors_header(head, size) is not None:
        return "a safetensors file"
    return f"{size} bytes starting {head[:8]!r}, no known format"


def check_signature(filepath, ext):
    """Raise ValueError unless ``filepath`` starts as files of ``ext`` do (OSError if it cannot be opened)."""
    path = os.fspath(filepath)
    with open(path, "rb") as f:
        head = f.read(16)
        size = os.fstat(f.fileno()).st_size
    ok = {KERAS: head.startswith(ZIP_SIGNATURE), WEIGHTS_H5: head.startswith(HDF5_SIGNATURE),
          SAFETENSORS: _safetensors_header(head, size) is not None}[ext]
    if ok:
        return
    found = describe(head, size)
    hint = ""
    if ext == KERAS and found == "a safetensors file":
        hint = ("; it is the safetensors model format older pyrnn versions wrote under .keras: rename it to "
                "'.safetensors', load it with pyrnn.models.load_model and save it again as .keras")
    raise ValueError(f"{path!r}: expected {_DESCRIPTIONS[ext]}, found {found}{hint}")


def atomic_write(filepath, write: Callable[[str], None], overwrite=True):
    """``write(temp_path)`` in the target's directory, then ``os.replace`` onto ``filepath``."""
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists and overwrite=False")
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), prefix=os.path.basename(path) + ".",
                               suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------------------- safetensors
def save_safetensors(filepath, tensors, metadata, overwrite=True):
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    atomic_write(filepath, lambda tmp: save_file(arrays, tmp, metadata=metadata), overwrite)


def load_safetensors(filepath):
    check_signature(filepath, SAFETENSORS)
    try:
        with safe_open(os.fspath(filepath), framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (a safetensors handle, not a dict)
    except SafetensorError as e:
        raise ValueError(f"{os.fspath(filepath)!r}: expected {_DESCRIPTIONS[SAFETENSORS]}, found a corrupt or "
                         f"truncated one ({e})") from e
    return tensors, metadata


def weights_list(tensors):
    keys = sorted(k for k in tensors if k.startswith("weights/"))
    return [tensors[k] for k in keys]


# ------------------------------------------------------------------------------- HDF5 trees
@dataclass
class H5Group:
    """One object in Keras's HDF5 layout: its ``vars`` (in order, a ``vars`` group with the
    object's name as attribute) and its sub-objects by attribute name."""

    name: Optional[str] = None
    vars: List[np.ndarray] = field(default_factory=list)
    children: Dict[str, H5Group] = field(default_factory=dict)

    def flat(self, prefix=""):
        """{path: vars} of every object below (this one at ``prefix``) that has variables."""
        out = {prefix: self.vars} if self.vars else {}
        for key, child in self.children.items():
            out.update(child.flat(f"{prefix}/{key}" if prefix else key))
        return out


def _write_group(h5, group: H5Group):
    if group.name is not None or group.vars:
        v = h5.create_group("vars")
        if group.name is not None:
            v.attrs["name"] = group.name
        for i, a in enumerate(group.vars):
            v.create_dataset(str(i), data=np.asarray(a))
    for key, child in group.children.items():
        _write_group(h5.create_group(key), child)


def h5_bytes(root: H5Group) -> bytes:
    """``root`` as the bytes of an HDF5 file."""
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        _write_group(f, root)
    return buf.getvalue()


def _read_group(h5) -> H5Group:
    group = H5Group()
    for key in h5:
        item = h5[key]
        if key == "vars" and not hasattr(item, "shape"):
            group.name = item.attrs.get("name")
            keys = list(item)
            if sorted(keys, key=lambda k: int(k) if k.isdigit() else -1) != [str(i) for i in range(len(keys))]:
                raise ValueError(f"variables named {keys}, expected 0..{len(keys) - 1}")
            group.vars = [np.asarray(item[str(i)][()]) for i in range(len(keys))]
        elif not hasattr(item, "shape"):
            group.children[key] = _read_group(item)
    return group


def read_h5(source, filepath, member=None) -> H5Group:
    """The whole tree of a Keras HDF5 weights file (``source``: a path or the bytes of one)."""
    where = repr(os.fspath(filepath)) + (f" (member {member})" if member else "")
    try:
        with h5py.File(io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source), "r") as f:
            return _read_group(f)
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ValueError(f"{where}: expected {_DESCRIPTIONS[WEIGHTS_H5]}, found a corrupt or truncated one "
                         f"({e})") from e


def save_h5(filepath, root: H5Group, overwrite=True):
    data = h5_bytes(root)

    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    atomic_write(filepath, write, overwrite)


def load_h5(filepath) -> H5Group:
    check_signature(filepath, WEIGHTS_H5)
    return read_h5(filepath, filepath)


# ------------------------------------------------------------------------------- .keras archives
def save_keras_archive(filepath, config: dict, metadata: dict, weights: H5Group, overwrite=True, extra=None):
    """Keras 3's zip: metadata.json, config.json, model.weights.h5 (stored, not compressed, as
    Keras), then the ``extra`` members {name: bytes}."""
    data = h5_bytes(weights)

    def write(tmp):
        with zipfile.ZipFile(tmp, "w") as zf:
            zf.writestr(METADATA_JSON, json.dumps(metadata))
            zf.writestr(CONFIG_JSON, json.dumps(config))
            zf.writestr(WEIGHTS_MEMBER, data)
            for name, blob in (extra or {}).items():
                zf.writestr(name, blob)
    atomic_write(filepath, write, overwrite)


def load_keras_archive(filepath):
    """(config, metadata, weights tree, {extra member: bytes}) of a ``.keras`` file."""
    check_signature(filepath, KERAS)
    path = os.fspath(filepath)
    expected = _DESCRIPTIONS[KERAS]
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            missing = [m for m in (CONFIG_JSON, WEIGHTS_MEMBER) if m not in names]
            if missing:
                raise ValueError(f"{path!r}: expected {expected} with {CONFIG_JSON} and {WEIGHTS_MEMBER}, found "
                                 f"a zip archive of {sorted(names)}")
            config_text, weights = zf.read(CONFIG_JSON), zf.read(WEIGHTS_MEMBER)
            meta_text = zf.read(METADATA_JSON) if METADATA_JSON in names else b"{}"
            extra = {TRAINING_MEMBER: zf.read(TRAINING_MEMBER)} if TRAINING_MEMBER in names else {}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as e:
        raise ValueError(f"{path!r}: expected {expected}, found a corrupt or truncated zip archive ({e})") from e
    try:
        config, metadata = json.loads(config_text), json.loads(meta_text)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path!r}: expected {expected}, its {CONFIG_JSON} or {METADATA_JSON} is not JSON "
                         f"({e})") from e
    if not isinstance(config, dict) or "class_name" not in config or "config" not in config:
        raise ValueError(f"{path!r}: expected {expected}, its {CONFIG_JSON} is not a serialized Keras model "
                         "(no class_name/config)")
    if not weights.startswith(HDF5_SIGNATURE):
        raise ValueError(f"{path!r}: expected {expected}, its {WEIGHTS_MEMBER} is {describe(weights[:16], len(weights))}")
    return config, metadata, read_h5(weights, path, WEIGHTS_MEMBER), extra
