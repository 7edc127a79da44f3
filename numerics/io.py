"""Files: atomic writes (temp file + rename), JSON, CSV and safetensors weights.

An interrupted run never leaves a half-written file behind: everything is written to a temporary
file in the target directory, flushed to disk, then renamed over the target (atomic on POSIX).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

__all__ = ["atomic_write_bytes", "atomic_write_text", "to_json_value", "dumps", "write_json", "read_json", "save_weights",
           "load_weights"]


@contextlib.contextmanager
def _atomic(path):
    """Yield a temporary path beside ``path``; on success fsync it and rename it over ``path``, on any
    error (or interruption) remove it. The target is never seen half-written. A file-system error (a full
    disk, a read-only folder) is re-raised as an OSError naming ``path``, not the temporary."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with _atomic(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_json_value(obj):
    """``obj`` as plain JSON values: the toolkit's one JSON encoder. Tensors and numpy arrays become lists,
    numpy scalars numbers, tuples lists, and every non-finite number (NaN, +-infinity) null, since JSON has
    none of them. (theory keeps a copy for its command line: it does not import numerics.)"""
    if isinstance(obj, dict):
        return {str(k): to_json_value(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json_value(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return to_json_value(obj.detach().cpu().tolist())
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays and scalars
        return to_json_value(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj, **kw) -> str:
    """JSON text of ``obj`` through :func:`to_json_value` (strict: never a NaN or Infinity token)."""
    return json.dumps(to_json_value(obj), allow_nan=False, **kw)


def write_json(path, obj) -> Path:
    """Write ``obj`` as indented JSON, atomically (through :func:`to_json_value`)."""
    return atomic_write_text(path, dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save_weights(path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Save named tensors as safetensors, atomically (contiguous CPU copies are written)."""
    with _atomic(path) as tmp:
        try:
            save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, tmp, metadata=metadata)
        except SafetensorError as exc:  # its writer's I/O errors (a full disk) are not OSErrors: make them one
            code = re.search(r"os error (\d+)", str(exc))
            if code is None:
                raise
            raise OSError(int(code.group(1)), os.strerror(int(code.group(1))), tmp) from exc
    return Path(path)


def load_weights(path, device="cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file as a dict of tensors; ValueError if it is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"weights file {str(path)!r} does not exist")
    try:
        return load_file(str(path), device=str(device))
    except Exception as exc:  # safetensors raises its own error types
        raise ValueError(f"weights file {str(path)!r} is not a readable safetensors file: {exc}") from exc
