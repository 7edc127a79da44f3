"""Input checks shared by the public functions of :mod:`theory`.

Every public function converts its inputs with :func:`as_float_array`, which raises a ``ValueError``
naming the parameter and its allowed range, so that bad input never reaches scipy and never comes
back as a silent NaN.
"""

from __future__ import annotations

import numbers

import numpy as np

#: the least p and r the theory takes: p below 1e-300 makes Var x subnormal (its products underflow to 0);
#: r below 1e-15 (n_s beyond 1e15 features) makes the Welch sigma so large that sigma^4 terms overflow
P_MIN = 1e-300
R_MIN = 1e-15
#: the largest |a|, |b|, sigma or other real parameter: the losses hold squares and cubes of them, which
#: overflow float64 far earlier for high powers (1e77 overflowed in group_loss); a trained model's parameters are O(1)
MAX_ABS = 1e50
#: the least nonzero sigma: below it sigma^2 is subnormal and 1 / sigma^2 overflows
SIGMA_MIN = 1e-150

__all__ = ["MAX_ABS", "P_MIN", "R_MIN", "SIGMA_MIN", "as_float_array", "check_scalar", "check_p", "check_r", "check_sigma", "check_real", "scalar_or_array",
           "check_scalar_p", "check_tol", "check_model"]


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
    tiny = arr < P_MIN
    if tiny.any():
        _fail(name, f"at least {P_MIN:g} (below, the feature variance is subnormal and float64 loses it)", arr, tiny)
    return arr


def check_r(r, name: str = "r") -> np.ndarray:
    """The compression ratio n_d / n_s: 0 < r <= 1."""
    arr = as_float_array(r, name)
    bad = ~((arr > 0) & (arr <= 1))
    if bad.any():
        _fail(name, "in (0, 1]", arr, bad)
    tiny = arr < R_MIN
    if tiny.any():
        _fail(name, f"at least {R_MIN:g} (n_d / n_s with n_s up to 1e15; below, sigma^2 ~ p / (3 r) and its "
              "square overflow float64)", arr, tiny)
    return arr


def check_sigma(sigma, name: str = "sigma") -> np.ndarray:
    """A standard deviation: finite and >= 0."""
    arr = as_float_array(sigma, name)
    bad = ~((arr >= 0) & np.isfinite(arr))
    if bad.any():
        _fail(name, "finite and >= 0", arr, bad)
    big = arr > MAX_ABS
    if big.any():
        _fail(name, f"at most {MAX_ABS:g} (the loss holds its square and cube)", arr, big)
    tiny = (arr > 0) & (arr < SIGMA_MIN)
    if tiny.any():
        _fail(name, f"0 or at least {SIGMA_MIN:g} (below, 1 / sigma overflows and sigma^2 underflows)", arr, tiny)
    return arr


def check_real(value, name: str) -> np.ndarray:
    """Any finite real number."""
    arr = as_float_array(value, name)
    bad = ~np.isfinite(arr)
    if bad.any():
        _fail(name, "a finite real number", arr, bad)
    big = np.abs(arr) > MAX_ABS
    if big.any():
        _fail(name, f"at most {MAX_ABS:g} in magnitude (the losses hold its square and cube)", arr, big)
    return arr


def check_scalar(value, name: str, *, tiny_ok: bool = True) -> float:
    """One finite real number (a 0-d array or a Python/numpy scalar) within +-MAX_ABS; with
    ``tiny_ok=False`` also 0 or at least SIGMA_MIN in magnitude (a weight that divides)."""
    arr = check_real(value, name)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a single real number, got an array of shape {arr.shape}")
    v = float(arr)
    if not tiny_ok and v != 0 and abs(v) < SIGMA_MIN:
        raise ValueError(f"{name} must be 0 or at least {SIGMA_MIN:g} in magnitude, got {v!r}")
    return v


def check_scalar_p(p) -> float:
    """One feature probability (a scalar in (0, 1]) as a float: the exact losses take a single p."""
    arr = check_p(p)
    if arr.ndim != 0:
        raise ValueError(f"p must be a scalar in (0, 1], got shape {arr.shape}")
    return float(arr)


def check_tol(tol) -> float:
    """A relative tolerance: one number in (0, 1)."""
    arr = as_float_array(tol, "tol")
    if arr.ndim != 0 or not (0.0 < float(arr) < 1.0):
        raise ValueError(f"tol must be a number in (0, 1), got {tol!r}")
    return float(arr)


def check_model(W, b):
    """(W, b) of a model x' = ReLU(W x + b): W square, non-empty and finite; b a scalar (broadcast to
    every row) or a vector of length n. Returns float64 arrays (W, b) with b of length n."""
    w_arr = as_float_array(W, "W")
    if w_arr.ndim != 2 or w_arr.shape[0] != w_arr.shape[1] or w_arr.shape[0] == 0:
        raise ValueError(f"W must be a square non-empty 2-D array, got shape {w_arr.shape}")
    if not np.all(np.isfinite(w_arr)):
        bad = w_arr[~np.isfinite(w_arr)].flat[0]
        raise ValueError(f"W must be finite, got {bad!r}")
    check_real(w_arr, "W")  # the shared magnitude bound (MAX_ABS)
    n = w_arr.shape[0]
    b_arr = check_real(b, "b")
    if b_arr.ndim == 0:
        b_arr = np.full(n, float(b_arr))
    elif b_arr.shape != (n,):
        raise ValueError(f"b must be a scalar or a vector of length {n}, got shape {b_arr.shape}")
    return w_arr, b_arr


def scalar_or_array(arr: np.ndarray):
    """Return a numpy float for 0-d results, as scipy.special ufuncs do, else the array."""
    arr = np.asarray(arr)
    return arr[()] if arr.ndim == 0 else arr
