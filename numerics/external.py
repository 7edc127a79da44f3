"""Toy models trained elsewhere: read the weight files of other tools into one form that numerics measures
and verify judges.

The model is x' = ReLU(W x + b) with W = W_out W_in of rank n_d. The layouts recognised (each with an
optional leading instances axis):

- this toolkit's ``weights.safetensors`` (``W_in`` n_d x n_s, ``W_out`` n_s x n_d, ``b``, ``p``) or a run
  directory holding it;
- Toy Models of Superposition and ARENA: one matrix ``W`` of shape n_d x n_s (ARENA) or n_s x n_d
  (Anthropic's notebook), the model ReLU(W^T W x + b) (respectively ReLU(W W^T x + b)); the bias is ``b`` or
  ``b_final``. As n_d < n_s, the longer side is n_s: the orientation is never ambiguous;
- a product matrix: a square ``W`` (n_s x n_s) is the model's W itself; its n_d is not in the file.

File types: ``.safetensors``, ``.npz`` and ``.pt``/``.pth`` (a state dict, read with
``torch.load(weights_only=True)``, so no code in the file runs). A state dict's module prefixes
(``model.W``) are ignored. The feature probability p is read from the file where it is stored (this
toolkit's files); other tools keep it in their config, so it must be given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .io import load_weights

__all__ = ["ToyWeights", "read_toy_weights", "WEIGHT_SUFFIXES", "MAX_NS"]

#: the largest n_s read by default: every model becomes a dense n_s x n_s float64 matrix (2 GiB at 16384)
MAX_NS = 16384

#: the file types read_toy_weights reads
WEIGHT_SUFFIXES = (".safetensors", ".npz", ".pt", ".pth")


@dataclass(frozen=True)
class ToyWeights:
    """A file's toy models in one form: ``W`` (K, n_s, n_s) and ``b`` (K, n_s), float64 on the CPU; ``n_d`` the
    hidden width where the file shows it (None for a bare product matrix); ``p`` per instance where the file
    stores it; ``layout`` says how the file was read."""

    W: torch.Tensor
    b: torch.Tensor
    n_d: int | None
    p: tuple | None
    layout: str
    path: str

    @property
    def instances(self) -> int:
        return int(self.W.shape[0])

    @property
    def n_s(self) -> int:
        return int(self.W.shape[-1])


def _tensors(path: Path) -> dict:
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return load_weights(path)
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: torch.from_numpy(np.array(z[k])) for k in z.files}
        except (OSError, ValueError, EOFError) as exc:
            raise ValueError(f"weights file {str(path)!r} is not a readable .npz file ({type(exc).__name__}: "
                             f"{exc})") from exc
    if suffix in (".pt", ".pth"):
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises pickle's and its own error types
            raise ValueError(f"weights file {str(path)!r} is not a readable torch state dict ({type(exc).__name__}: "
                             f"{exc})") from exc
        if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
            raise ValueError(f"weights file {str(path)!r} does not hold a dict of tensors (a state dict)")
        return obj
    raise ValueError(f"weights file {str(path)!r}: the suffix must be one of {', '.join(WEIGHT_SUFFIXES)}")


def _by_name(tensors: dict, path: Path) -> dict:
    """The tensors keyed by their last dotted component (``model.W`` -> ``W``); a clash is refused."""
    out = {}
    for key, value in tensors.items():
        short = str(key).rsplit(".", 1)[-1]
        if short in out:
            raise ValueError(f"weights file {str(path)!r} has two tensors named {short!r} (under different "
                             "module prefixes): save one model per file")
        out[short] = value
    return out


def _real(t: torch.Tensor, name: str, path: Path) -> torch.Tensor:
    if not isinstance(t, torch.Tensor) or not (t.is_floating_point() and not t.is_complex()):
        raise ValueError(f"weights file {str(path)!r}: {name} must be a real float array")
    t = t.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"weights file {str(path)!r}: {name} holds NaN or infinity")
    return t


def _batched(t: torch.Tensor, ndim: int, name: str, path: Path) -> torch.Tensor:
    if t.ndim == ndim:
        return t[None]
    if t.ndim == ndim + 1:
        return t
    raise ValueError(f"weights file {str(path)!r}: {name} must have {ndim} or {ndim + 1} axes (with instances "
                     f"first), got shape {tuple(t.shape)}")


def _check_ns(n_s: int, max_ns: int, path: Path) -> None:
    if n_s > max_ns:
        raise ValueError(f"weights file {str(path)!r}: n_s = {n_s} is above max_ns = {max_ns} (the models are read "
                         f"as dense n_s x n_s float64 matrices, {8 * n_s * n_s / 2**30:.3g} GiB each)")


def read_toy_weights(path, *, max_ns: int = MAX_NS) -> ToyWeights:
    """Read the toy models in ``path`` (a weights file or a run directory of this toolkit); a ValueError naming
    the file says what is wrong with one that cannot be read. See the module's docstring for the layouts.
    Models with n_s above ``max_ns`` are refused before the n_s x n_s product is formed."""
    path = Path(path)
    if path.is_dir():
        if not (path / "weights.safetensors").is_file():
            raise ValueError(f"weights {str(path)!r} is a directory without weights.safetensors: not a run")
        path = path / "weights.safetensors"
    elif not path.is_file():
        raise ValueError(f"weights file {str(path)!r} does not exist")
    w = _by_name(_tensors(path), path)
    if "W_in" in w and "W_out" in w:
        W_in = _batched(_real(w["W_in"], "W_in", path), 2, "W_in", path)
        W_out = _batched(_real(w["W_out"], "W_out", path), 2, "W_out", path)
        if W_in.shape[0] != W_out.shape[0] or W_in.shape[1:] != W_out.shape[1:][::-1]:
            raise ValueError(f"weights file {str(path)!r}: W_in {tuple(W_in.shape)} and W_out {tuple(W_out.shape)}"
                             " do not compose (W_out must be n_s x n_d where W_in is n_d x n_s)")
        _check_ns(int(W_in.shape[2]), max_ns, path)
        W, n_d, layout = W_out @ W_in, int(W_in.shape[1]), "W_out W_in"
    elif "W" in w:
        M = _batched(_real(w["W"], "W", path), 2, "W", path)
        rows, cols = M.shape[1:]
        _check_ns(max(rows, cols), max_ns, path)
        if rows < cols:
            W, n_d, layout = M.transpose(1, 2) @ M, rows, "W^T W (W is n_d x n_s: Toy Models / ARENA)"
        elif rows > cols:
            W, n_d, layout = M @ M.transpose(1, 2), cols, "W W^T (W is n_s x n_d: Anthropic's notebook)"
        else:
            W, n_d, layout = M, None, "W (the n_s x n_s product itself)"
    else:
        raise ValueError(f"weights file {str(path)!r} holds neither W nor W_in and W_out (it has "
                         f"{', '.join(sorted(w)) or 'nothing'})")
    K, n_s = int(W.shape[0]), int(W.shape[-1])
    if n_s < 2:
        raise ValueError(f"weights file {str(path)!r}: n_s must be at least 2, got {n_s}")
    bias = w.get("b", w.get("b_final"))
    if bias is None:
        b = torch.zeros(K, n_s, dtype=torch.float64)
    else:
        b = _real(bias, "b", path).reshape(-1, n_s) if bias.numel() % n_s == 0 else None
        if b is None or b.shape[0] not in (1, K):
            raise ValueError(f"weights file {str(path)!r}: b must hold n_s = {n_s} values per instance for "
                             f"{K} instance(s), got shape {tuple(bias.shape)}")
        b = b.expand(K, n_s).clone()
    p = None
    if "p" in w:
        pt = w["p"].detach().to("cpu", torch.float64).reshape(-1)
        if pt.numel() not in (1, K):
            raise ValueError(f"weights file {str(path)!r}: p must hold 1 or {K} values, got {pt.numel()}")
        p = tuple(float(v) for v in pt.expand(K))
    if p is not None and not all(math.isfinite(v) and 0 < v <= 1 for v in p):
        raise ValueError(f"weights file {str(path)!r}: its stored p must lie in (0, 1], got {list(p)}")
    return ToyWeights(W=W, b=b, n_d=n_d, p=p, layout=layout, path=str(path))
