"""Input checks shared by the public functions of :mod:`numerics`.

Each raises a ``ValueError`` that names the parameter and the allowed range, so that bad input never
reaches torch and never comes back as a silent NaN.
"""

from __future__ import annotations

import math
import numbers

import torch

__all__ = ["check_power_of_two", "check_int", "check_probability", "check_positive", "check_real",
           "check_seed", "check_fits_in_memory", "resolve_device"]


def check_seed(value, name: str = "seed"):
    """A seed for numpy's default_rng / torch: None or a non-negative int (bools refused)."""
    if value is None:
        return None
    return check_int(value, name, low=0)


def check_fits_in_memory(n_bytes: int, what: str, name: str) -> None:
    """Refuse, before allocating, an array that cannot fit in this machine's physical memory."""
    import os

    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: no check
        return
    if n_bytes > total:
        raise ValueError(f"{name} is too large: {what} needs {n_bytes / 2**30:.3g} GiB, more than this machine's "
                         f"{total / 2**30:.3g} GiB of memory")


def check_int(value, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in [low, high]; bools and non-integral floats are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value}")
    return value


def check_power_of_two(value, name: str) -> int:
    """``value`` as an int that is a power of two (1, 2, 4, ...)."""
    n = check_int(value, name, low=1)
    if n & (n - 1):
        raise ValueError(f"{name} must be a power of two (1, 2, 4, ...), got {n}")
    return n


def is_int(value) -> bool:
    """An integer of any integral type (numpy's included), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def is_real(value) -> bool:
    """A real number, not a bool, string, bytes or complex: those are refused, never converted."""
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and not value.dtype.is_complex and value.dtype != torch.bool
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def check_probability(value, name: str = "p") -> float:
    """A scalar probability 0 < value <= 1 (a real number: bools, strings and complex numbers refused)."""
    if not is_real(value):
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    v = float(value)
    if not (0.0 < v <= 1.0):  # NaN fails
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return v


def check_real(value, name: str, *, low=None, high=None, low_open=False) -> float:
    """A finite float in [low, high] (or (low, high] with low_open); bools, strings, complex refused."""
    if not is_real(value):
        raise ValueError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    return v


def check_positive(value, name: str) -> float:
    """A finite scalar > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a positive number, got {value!r}") from exc
    if not (v > 0.0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def _accelerator() -> torch.device | None:
    """The accelerator torch would use (CUDA, MPS, XPU, ...), or None: ``torch.accelerator`` where torch
    has it (2.6+), else CUDA, then Apple's MPS."""
    acc = getattr(torch, "accelerator", None)
    if acc is not None:
        return acc.current_accelerator() if acc.is_available() else None
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    return torch.device("mps") if mps is not None and mps.is_available() else None


def resolve_device(device="auto") -> torch.device:
    """``"auto"``: the accelerator torch supports here (CUDA, MPS, XPU, ...; see ``torch.accelerator``), else
    the CPU; otherwise the named device, refused with a ValueError when this machine does not have it.

    Every random stream lives on the device it is used on (per-instance generators), so a seed reproduces
    bit for bit on the same device type; across device types the streams differ."""
    if isinstance(device, str) and device == "auto":
        return _accelerator() or torch.device("cpu")
    try:
        dev = torch.device(device)
    except (TypeError, RuntimeError, ValueError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', an accelerator ('cuda', 'mps', ...) or a torch.device, "
                         f"got {device!r}") from exc
    if dev.type == "cpu":
        return dev
    acc = _accelerator()
    if acc is None or acc.type != dev.type:
        have = f"this machine's accelerator is {acc.type!r}" if acc is not None else "this machine has no accelerator"
        raise ValueError(f"device {device!r} requested but {have}")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    return dev
