"""Input checks shared by the public functions of :mod:`theory`.

Every public function converts its inputs with :func:`as_float_array`, which raises a ``ValueError``
naming the parameter and its allowed range, so that bad input never reaches scipy and never comes
back as a silent NaN.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_float_array", "check_p", "check_r", "check_sigma", "check_real", "scalar_or_array"]


def _is_real(v) -> bool:
    """A real number that is not a bool (bools, strings, bytes and complex numbers are refused, not
    converted: ``"0.5"``, ``True`` or ``0.1 + 0j`` as a probability is a caller's mistake)."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def as_float_array(value, name: str) -> np.ndarray:
    """``value`` as a float64 array; ``ValueError`` naming ``name`` unless it is a real number or an
    array (or nested list) of real numbers. Integer and float dtypes convert; bool, complex, string and
    object arrays of anything but reals are refused."""
    bad = ValueError(f"{name} must be a real number or an array of them, got {value!r}")
    if isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, (list, tuple)):
        try:
            arr = np.asarray(value, dtype=object)
        except ValueError as exc:  # ragged
            raise bad from exc
        if arr.size and not all(_is_real(v) for v in arr.ravel()):
            raise bad
        arr = arr.astype(np.float64) if arr.size else np.asarray(value, dtype=np.float64)
        return arr
    elif _is_real(value):
        return np.asarray(float(value) if not isinstance(value, np.generic) else value, dtype=np.float64)
    else:
        raise bad
    if arr.dtype.kind in "iuf":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind == "O" and all(_is_real(v) for v in arr.ravel()):
        return arr.astype(np.float64)
    raise bad


def _fail(name: str, allowed: str, arr: np.ndarray, bad: np.ndarray) -> None:
    example = arr[bad].flat[0] if arr.ndim else float(arr)
    raise ValueError(f"{name} must be {allowed}, got {example!r}")


def check_p(p, name: str = "p") -> np.ndarray:
    """The feature probability: 0 < p <= 1."""
    arr = as_float_array(p, name)
    bad = ~((arr > 0) & (arr <= 1))  # NaN fails both comparisons
    if bad.any():
        _fail(name, "in (0, 1]", arr, bad)
    return arr


def check_r(r, name: str = "r") -> np.ndarray:
    """The compression ratio n_d / n_s: 0 < r <= 1."""
    arr = as_float_array(r, name)
    bad = ~((arr > 0) & (arr <= 1))
    if bad.any():
        _fail(name, "in (0, 1]", arr, bad)
    return arr


def check_sigma(sigma, name: str = "sigma") -> np.ndarray:
    """A standard deviation: finite and >= 0."""
    arr = as_float_array(sigma, name)
    bad = ~((arr >= 0) & np.isfinite(arr))
    if bad.any():
        _fail(name, "finite and >= 0", arr, bad)
    return arr


def check_real(value, name: str) -> np.ndarray:
    """Any finite real number."""
    arr = as_float_array(value, name)
    bad = ~np.isfinite(arr)
    if bad.any():
        _fail(name, "a finite real number", arr, bad)
    return arr


def scalar_or_array(arr: np.ndarray):
    """Return a numpy float for 0-d results, as scipy.special ufuncs do, else the array."""
    arr = np.asarray(arr)
    return arr[()] if arr.ndim == 0 else arr
