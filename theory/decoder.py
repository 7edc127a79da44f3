r"""A bound that binds at finite n_s: the exact elementwise MMSE for the actual law of the interference.

One concept in one module (hence its length): the posterior mean of x given y = W_ii x + nu, in closed
form for few terms and by the Fourier machinery of :mod:`theory.interference` otherwise.

**The exact elementwise MMSE.** Row i of the toy model sees y = W_ii x_i + nu_i with the raw
interference nu_i = sum_{j != i} W_ij x_j, independent of x_i. No function of y decodes x_i with a
lower mean squared error than the posterior mean m(y) = E[x | y], so

    MMSE_i = E x^2 - E m(y)^2 = p/3 - E m(y)^2

is a lower bound on the loss of *every* elementwise decoder of that row, ReLU(y + b_i) for every b_i
included (:func:`exact_mmse`). :func:`theory.mmse_loss` is the same bound when nu is Gaussian; the
law of nu here is the exact one (:func:`theory.interference_law`), which at small p n_s is far
from Gaussian, so trained models can sit below the Gaussian bound but never below this one.

Dividing by W_ii (either sign) changes nothing a decoder can use: y / W_ii = x + nu', with
nu' = sum_j v_j x_j, v_j = W_ij / W_ii. So the MMSE depends on the row only through v; a row with
W_ii = 0 sees nothing of x_i (MMSE = Var x), one without off-diagonal entries sees x_i exactly
(MMSE = 0). With w = 1, nu' = atom delta_0 + a continuous part f_c, and y = x + nu' has

* an atom at y = 0 (x = 0 and nu' = 0), where m = 0: it contributes nothing to E m^2;
* a continuous part with density f = (1-p) f_c + p (law of nu' * U[0, 1]) and
  numerator N(y) = E[x; y in dy] / dy = p int_0^1 u law_nu'(y - u) du,

so E m^2 = int N^2 / f dy. With A_n the n-th antiderivative of the law of nu' (A_0 the continuous
density, A_1 the cdf), f = (1-p) A_0 + p [A_1(y) - A_1(y - 1)] and
N = p [A_2(y) - A_2(y - 1) - A_1(y - 1)] (integrate by parts in u). Two routes, both with breakpoints
where f or N jumps or kinks and Gauss-Legendre on the panels between them:

* **enumerate** (at most 5 nonzero terms in "auto"): the whole law of nu' as truncated powers,
  A_n(y) = atom y_+^(n-1)/(n-1)! + sum_{T, d} C_{T,d} (y - sum_T v)_+^(d-1+n)/(d-1+n)! over subsets
  T and numbers d >= |T| of terms on, C_{T,d} = (-1)^|T| prod_T (p/v_j) e_{d-|T|}(p/v_j : j not in T)
  (1-p)^(K-d) (e_k the elementary symmetric polynomials). f and N are polynomials between the
  breakpoints {sum_T v} and {sum_T v + 1}, N^2/f is a smooth rational function there; 24-point
  Gauss-Legendre, checked against 16-point. Error: that difference plus rounding (the truncated
  powers cancel when one weight is tiny next to the others; "auto" then goes to Fourier).
* **fourier** (any row): the atom, the one-term part (boxes [0, v_j] of mass p(1-p)^(K-1)) and, when
  cheap or heavy, the two-term part (trapezoids of mass p^2 (1-p)^(K-2) per pair) are kept in closed
  form as truncated powers of degree <= 3, summed by sorted cumulative sums; the rest has
  characteristic function phi_rest = phi minus those parts, and its contributions to f and N have
  Fourier transforms [(1-p) + p k_0] phi_rest and p k_1 phi_rest, k_n(t) = int_0^1 u^n e^{itu} du.
  These are summed on a window (the support, or a Chernoff window with mass e^-40 outside each side)
  with M frequencies by an FFT on a grid 16 times finer than M, interpolated (8-point Lagrange) to
  Gauss-Legendre nodes on panels of width <= L / M between the closed-form parts' breakpoints. M
  doubles (or jumps, when the order of convergence seen so far predicts a larger M) until
  4 |I(M) - I(M/2)| <= tol * MMSE, with at least three passes; that plus the window's tail mass and a
  rounding estimate is the error estimate. It is not a bound: the convergence in M need not be
  monotone.

Accuracy (tests/test_decoder.py, docs/theory.md section 14.2): one off-diagonal entry against
scipy.integrate.quad of the closed-form mixture and n_s = 3 against nested quadrature over the uniforms
to 3e-11 (both routes); the routes against each other within their estimates on rows of 1-6 terms; at
the default tol = 1e-6, 40 calibration rows (K = 6 ... 298, p = 0.005 ... 0.3, Welch-like, trained and
one-signed) were within 2e-7 relative and within 0.85 of the estimate.

**Cost.** enumerate: under 0.1 s. fourier: a dense Welch-like row at p = 0.045 takes 0.02-0.1 s
(n_s = 16 ... 4096); rows with p K ~ 1-10 and hundreds of distinct entries up to ~2 s (p = 0.01,
n_s = 256: M = 16384 and ~10^5 breakpoints). :func:`exact_mmse_loss` groups rows like exact_loss.

The decomposition of a model's loss against L* lives in :mod:`theory.decomposition`.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from ._numeric import law_from_sorted
from ._validation import check_model, check_real, check_scalar, check_scalar_p, check_tol
from .interference import InterferenceLaw

__all__ = [
    "ExactMMSE",
    "RowMMSE",
    "exact_mmse",
    "exact_mmse_loss",
]

_EPS = float(np.finfo(np.float64).eps)
_ENUMERATE_MAX = 5  # rows with at most this many nonzero off-diagonal terms: the law in closed form
_LAMBDA = 40.0  # Chernoff level of the window: mass at most e^-40 outside each side
_MAX_FREQUENCIES = 1 << 17
_OVERSAMPLE = 16  # FFT grid points per frequency (8 per wavelength of the highest frequency)
_LAGRANGE = 8  # points of the local interpolation from the FFT grid
_BARYCENTRIC = np.array([(-1.0) ** k * math.comb(_LAGRANGE - 1, k) for k in range(_LAGRANGE)])
_GL16 = np.polynomial.legendre.leggauss(16)
_GL24 = np.polynomial.legendre.leggauss(24)
_GL6 = np.polynomial.legendre.leggauss(6)
_NEGLIGIBLE = 1e-20  # atom / single-term mass below which that part stays in the Fourier series
_MAX_PAIRS = 1 << 17  # the two-term part is kept in closed form for rows with at most this many pairs
_CHEAP_PAIRS = 1 << 12  # ... always when there are at most this many,
_PAIR_MASS = 1e-2  # ... otherwise only when the two-term mass exceeds this (else the breakpoints cost more than they save)


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class RowMMSE:
    """The exact elementwise MMSE of one row (:func:`exact_mmse`).

    ``mmse`` = E (x - E[x | y])^2; ``error_estimate`` an estimate of its absolute error (not a
    rigorous bound); ``method`` is "exact" (no interference: 0, or W_ii = 0: Var x), "enumerate"
    or "fourier"; ``frequencies`` the number of Fourier frequencies of the last pass (0 otherwise).
    """

    mmse: float
    error_estimate: float
    method: str
    frequencies: int = 0

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON)."""
        return {k: getattr(self, k) for k in ("mmse", "error_estimate", "method", "frequencies")}


@dataclass(frozen=True, eq=False)
class ExactMMSE:
    """The exact elementwise MMSE of every feature of a model (:func:`exact_mmse_loss`).

    ``per_feature``: MMSE_i; ``per_feature_error``: the estimate of each one's error; ``total`` =
    mean(per_feature), ``error_estimate`` = mean(per_feature_error); ``n_groups``: the number of
    distinct rows (W_ii^-1 times the multiset of nonzero off-diagonal entries) computed.
    """

    per_feature: np.ndarray
    per_feature_error: np.ndarray
    total: float
    error_estimate: float
    n_groups: int

    def as_dict(self) -> dict:
        """The fields as a plain dict, arrays as lists (for JSON)."""
        return {
            "per_feature": self.per_feature.tolist(),
            "per_feature_error": self.per_feature_error.tolist(),
            "total": self.total,
            "error_estimate": self.error_estimate,
            "n_groups": self.n_groups,
        }


# ----------------------------------------------------------------------------- truncated powers


def _tp_direct(y: np.ndarray, shift: np.ndarray, expo: np.ndarray, coef: np.ndarray):
    """(sum_k coef_k (y - shift_k)_+^expo_k, sum_k |...|) at every y, term by term (any exponent)."""
    val = np.zeros(y.size)
    mag = np.zeros(y.size)
    step = max(1, (1 << 22) // max(shift.size, 1))
    for start in range(0, y.size, step):
        z = np.maximum(y[start : start + step, None] - shift[None, :], 0.0)
        with np.errstate(invalid="ignore"):
            t = np.where(z > 0, np.power(z, expo[None, :]), 0.0) * coef[None, :]
        val[start : start + step] = t.sum(axis=1)
        mag[start : start + step] = np.abs(t).sum(axis=1)
    return val, mag


class _Cumulative:
    """Sums sum_k coef_kc (y - shift_k)_+^expo_k (exponents <= 3) for several coefficient columns c.

    Sorted cumulative sums: O(k log k) once, then O(n log k) per batch of n points instead of
    O(n k). (y - s)^e is expanded in powers of Y = y - center and S = s - center; the rounding of the
    expansion is estimated by eps (|Y| + max |S|)^e sum |coef| (the second array of
    :meth:`__call__`), which is crude but cheap.
    """

    def __init__(self, terms: list, center: float):
        self.center = center
        shift = np.concatenate([t[0] for t in terms])
        expo = np.concatenate([t[1] for t in terms])
        coef = np.zeros((shift.size, len(terms)))
        start = 0
        for c, t in enumerate(terms):
            coef[start : start + t[0].size, c] = t[2]
            start += t[0].size
        self.parts = []
        for e in np.unique(expo):
            e = int(e)
            sel = expo == e
            s = shift[sel] - center
            order = np.argsort(s, kind="stable")
            s = s[order]
            c = coef[sel][order]
            zero = np.zeros((1, c.shape[1]))
            cum = [np.concatenate([zero, np.cumsum(c * (s**m)[:, None], axis=0)]) for m in range(e + 1)]
            self.parts.append((e, s, cum, np.abs(c).sum(axis=0), float(np.max(np.abs(s)))))
        self.columns = len(terms)

    def __call__(self, y: np.ndarray):
        val = np.zeros((y.size, self.columns))
        mag = np.zeros((y.size, self.columns))
        yy = y - self.center
        ay = np.abs(yy)
        for e, s, cum, total, smax in self.parts:
            idx = np.searchsorted(s, yy, side="left")  # the terms with shift < y (no node is a breakpoint)
            for m in range(e + 1):
                val += (math.comb(e, m) * (-1.0) ** m * yy ** (e - m))[:, None] * cum[m][idx]
            mag += ((ay + smax) ** e)[:, None] * total[None, :]
        return val, mag


def _split_terms(law_terms, p):
    """Truncated-power terms (shift, exponent, coef) of f and of N from the antiderivatives of a law.

    ``law_terms(n)`` returns the terms of A_n, the n-th antiderivative of the law of nu'.
    f = (1-p) A_0 + p [A_1(y) - A_1(y-1)], N = p [A_2(y) - A_2(y-1) - A_1(y-1)] (a shift by 1 moves
    every breakpoint by 1).
    """

    def part(n, factor, offset=0.0):
        s, e, c = law_terms(n)
        return s + offset, e, c * factor

    def join(parts):
        return tuple(np.concatenate([pt[k] for pt in parts]) for k in range(3))

    f = join([part(0, 1.0 - p), part(1, p), part(1, -p, 1.0)])
    n = join([part(2, p), part(2, -p, 1.0), part(1, -p, 1.0)])
    return f, n


# ----------------------------------------------------------------------------- quadrature helpers


def _gl_on(lo: np.ndarray, h: np.ndarray, rule):
    x, w = rule
    nodes = (lo[:, None] + 0.5 * h[:, None] * (x[None, :] + 1.0)).ravel()
    return nodes, (0.5 * h[:, None] * w[None, :]).ravel()


def _panel_nodes(breaks: np.ndarray, width: float, rule, narrow_rule=None):
    """Gauss-Legendre nodes and weights on the gaps of ``breaks``, each cut into pieces <= width.

    With ``narrow_rule``, gaps shorter than width / 4 (where the integrand is smooth on the scale
    width) take that smaller rule.
    """
    gaps = np.diff(breaks)
    keep = gaps > 0
    lo = breaks[:-1][keep]
    gaps = gaps[keep]
    if not math.isfinite(width):
        return _gl_on(lo, gaps, rule)
    pieces = np.maximum(1, np.ceil(gaps / width)).astype(np.int64)
    narrow = gaps <= 0.25 * width if narrow_rule is not None else np.zeros(gaps.size, dtype=bool)
    wide = ~narrow
    pw = pieces[wide]
    h = np.repeat(gaps[wide] / pw, pw)
    k = np.arange(int(pw.sum())) - np.repeat(np.cumsum(pw) - pw, pw)
    y1, w1 = _gl_on(np.repeat(lo[wide], pw) + k * h, h, rule)
    if not narrow.any():
        return y1, w1
    y2, w2 = _gl_on(lo[narrow], gaps[narrow], narrow_rule)
    return np.concatenate([y1, y2]), np.concatenate([w1, w2])


def _ratio_integral(f: np.ndarray, n: np.ndarray, w: np.ndarray) -> float:
    """sum w N^2 / f with 0 <= N <= f enforced (the posterior mean lies in [0, 1]); 0 where f <= 0."""
    pos = f > 0
    nn = np.clip(n, 0.0, np.where(pos, f, 0.0))
    return float(np.sum(w * np.where(pos, nn * nn / np.where(pos, f, 1.0), 0.0)))


# ----------------------------------------------------------------------------- enumeration


def _enum_law_terms(ws: np.ndarray, p: float):
    """The law of nu' = sum_j ws_j x_j (K <= _ENUMERATE_MAX terms) as truncated powers.

    Returns a function n -> (shift, exponent, coef) of its n-th antiderivative A_n (n = 0: the
    continuous density only; n >= 1 includes the atom as atom y_+^(n-1)/(n-1)!).
    """
    k_terms = ws.size
    q = p / ws
    shifts, ds, coefs = [], [], []
    for mask in range(1 << k_terms):
        in_t = np.array([(mask >> j) & 1 for j in range(k_terms)], dtype=bool)
        e = np.array([1.0])
        for qj in q[~in_t]:
            e = np.append(e, 0.0) + np.append(0.0, e * qj)
        base = (-1.0) ** int(in_t.sum()) * float(np.prod(q[in_t]))
        shift = float(np.sum(ws[in_t]))
        for kk in range(e.size):
            d = int(in_t.sum()) + kk
            if d == 0:
                continue
            shifts.append(shift)
            ds.append(d)
            coefs.append(base * e[kk] * (1.0 - p) ** (k_terms - d))
    shifts = np.array(shifts)
    ds = np.array(ds)
    coefs = np.array(coefs)
    atom = (1.0 - p) ** k_terms

    def law_terms(n: int):
        expo = ds - 1 + n
        fact = np.array([math.factorial(int(v)) for v in expo], dtype=np.float64)
        s, ex, c = shifts, expo, coefs / fact
        if n >= 1 and atom > 0:
            s = np.append(s, 0.0)
            ex = np.append(ex, n - 1)
            c = np.append(c, atom / math.factorial(n - 1))
        return s, ex.astype(np.float64), c

    return law_terms


def _mmse_enumerate(law: InterferenceLaw) -> tuple[float, float]:
    """(MMSE, error estimate) with the law of nu' in closed form (few terms)."""
    p = law.p
    ws = np.repeat(law.values, law.counts)
    law_terms = _enum_law_terms(ws, p)
    (fs, fe, fc), (ns, ne, nc) = _split_terms(law_terms, p)
    sums = law_terms(0)[0]
    breaks = np.unique(np.concatenate([sums, sums + 1.0, [0.0, 1.0, law.lo, law.hi + 1.0]]))
    breaks = breaks[(breaks >= law.lo) & (breaks <= law.hi + 1.0)]
    results = []
    rounding = 0.0
    for rule in (_GL16, _GL24):
        y, w = _panel_nodes(breaks, math.inf, rule)
        f, fmag = _tp_direct(y, fs, fe, fc)
        n, nmag = _tp_direct(y, ns, ne, nc)
        results.append(_ratio_integral(f, n, w))
        rounding = _EPS * (ws.size + 8) * float(np.sum(w * (fmag + 2.0 * nmag)))
    value = p / 3.0 - results[1]
    return value, abs(results[1] - results[0]) + rounding + _EPS * p


# ----------------------------------------------------------------------------- Fourier


def _kernels(t: np.ndarray):
    """k_0(t) = int_0^1 e^{itu} du and k_1(t) = int_0^1 u e^{itu} du (series for |t| < 1e-2)."""
    k0 = np.empty(t.size, dtype=complex)
    k1 = np.empty(t.size, dtype=complex)
    small = np.abs(t) < 1e-2
    ts = t[small]
    # sum_m (it)^m / (m! (m + 1)) and / (m! (m + 2)), 8 terms: error < 1e-2^8 / 8!
    acc0 = np.zeros(ts.size, dtype=complex)
    acc1 = np.zeros(ts.size, dtype=complex)
    term = np.ones(ts.size, dtype=complex)
    for m in range(9):
        acc0 += term / (m + 1)
        acc1 += term / (m + 2)
        term = term * (1j * ts) / (m + 1)
    k0[small] = acc0
    k1[small] = acc1
    tb = t[~small]
    e = np.exp(1j * tb)
    k0[~small] = (e - 1.0) / (1j * tb)
    k1[~small] = e / (1j * tb) + (e - 1.0) / (tb * tb)
    return k0, k1


def _pair_table(law: InterferenceLaw):
    """The unordered pairs of terms: (v_a, v_b, multiplicity), the same value twice included."""
    vals = law.values
    cnt = law.counts.astype(np.float64)
    ia, ib = np.triu_indices(vals.size, k=1)
    mult = cnt[ia] * cnt[ib]
    same = np.flatnonzero(law.counts >= 2)
    va = np.concatenate([vals[ia], vals[same]])
    vb = np.concatenate([vals[ib], vals[same]])
    mult = np.concatenate([mult, 0.5 * cnt[same] * (cnt[same] - 1.0)])
    return va, vb, mult


def _explicit_law_terms(law: InterferenceLaw, with_atom: bool, with_single: bool, with_pairs: bool):
    """A_n of the atom, the single-term part and (optionally) the two-term part, as truncated powers.

    One term on: U[0, v] (signed v) with mass p (1-p)^(K-1), A_n = [y_+^n - (y - v)_+^n] / (v n!).
    Two terms on: the density of v_a u_a + v_b u_b, mass p^2 (1-p)^(K-2) each pair,
    A_n = [y_+^(n+1) - (y - v_a)_+^(n+1) - (y - v_b)_+^(n+1) + (y - v_a - v_b)_+^(n+1)] / (v_a v_b (n+1)!).
    """
    vals = law.values
    cnt = law.counts.astype(np.float64)
    s = law._single_weight()
    pairs = _pair_table(law) if with_pairs else None
    s2 = law.p * law.p * (1.0 - law.p) ** (law.n_terms - 2) if law.n_terms >= 2 else 0.0

    def law_terms(n: int):
        parts_s, parts_e, parts_c = [], [], []
        if with_atom and n >= 1:
            parts_s.append(np.array([0.0]))
            parts_e.append(np.array([float(n - 1)]))
            parts_c.append(np.array([law.atom / math.factorial(n - 1)]))
        if with_single:
            c = s * cnt / (vals * math.factorial(n))
            parts_s += [np.zeros(vals.size), vals.copy()]
            parts_e += [np.full(vals.size, float(n))] * 2
            parts_c += [c, -c]
        if with_pairs:
            va, vb, mult = pairs
            c = s2 * mult / (va * vb * math.factorial(n + 1))
            parts_s += [np.zeros(va.size), va, vb, va + vb]
            parts_e += [np.full(va.size, float(n + 1))] * 4
            parts_c += [c, -c, -c, c]
        if not parts_s:
            return np.zeros(0), np.zeros(0), np.zeros(0)
        return np.concatenate(parts_s), np.concatenate(parts_e), np.concatenate(parts_c)

    return law_terms


def _phi_parts(law: InterferenceLaw, t: np.ndarray):
    """(phi(t), sum_j s_j(t), sum_j s_j(t)^2) over the terms, s_j(t) = (e^{i t v_j} - 1) / (i t v_j)."""
    p = law.p
    d = law.values.size
    out = np.empty(t.size, dtype=complex)
    s1 = np.empty(t.size, dtype=complex)
    s2 = np.empty(t.size, dtype=complex)
    cnt = law.counts.astype(np.float64)
    single = law.counts == 1
    step = max(1, (1 << 20) // max(d, 1))
    for start in range(0, t.size, step):
        th = 0.5 * t[start : start + step, None] * law.values[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            sinc = np.where(th != 0, np.sin(th) / np.where(th != 0, th, 1.0), 1.0)
        sj = np.exp(1j * th) * sinc
        s1[start : start + step] = sj @ cnt
        s2[start : start + step] = (sj * sj) @ cnt
        out[start : start + step] = law._combine(1.0 - p + p * sj, single)
    return out, s1, s2


def _lagrange(grids: tuple, a: float, h: float, y: np.ndarray) -> list:
    """Local _LAGRANGE-point Lagrange interpolation of periodic grid values (grid a + k h) at y.

    Barycentric weights for equispaced points; one set of weights serves every grid in ``grids``.
    """
    n = grids[0].size
    half = _LAGRANGE // 2
    xi = (y - a) / h
    i0 = np.floor(xi).astype(np.int64) - half + 1
    diff = (xi - i0)[:, None] - np.arange(_LAGRANGE, dtype=np.float64)[None, :]
    hit = diff == 0.0
    diff[hit] = 1.0
    wts = _BARYCENTRIC[None, :] / diff
    wts /= wts.sum(axis=1, keepdims=True)
    rows = hit.any(axis=1)
    if rows.any():
        wts[rows] = hit[rows].astype(np.float64)
    idx = i0[:, None] + np.arange(_LAGRANGE)[None, :]
    idx %= n
    return [np.einsum("ij,ij->i", wts, g[idx]) for g in grids]


def _mmse_fourier(law: InterferenceLaw, tol: float) -> tuple[float, float, int]:
    """(MMSE, error estimate, frequencies) by the Fourier route (module docstring)."""
    p = law.p
    k_terms = law.n_terms
    with_atom = law.atom > 0.0
    s_mass = law._single_weight() * k_terms
    with_single = s_mass > _NEGLIGIBLE
    pair_weight = p * p * (1.0 - p) ** (k_terms - 2) if k_terms >= 2 else 0.0
    n_pairs = law.values.size * (law.values.size + 1) // 2
    pair_total = pair_weight * k_terms * (k_terms - 1) / 2.0
    with_pairs = pair_total > _NEGLIGIBLE and (n_pairs <= _CHEAP_PAIRS or (pair_total > _PAIR_MASS and n_pairs <= _MAX_PAIRS))
    a_nu, b_nu, p_out = law._window(_LAMBDA)
    a_win, b_win = a_nu, b_nu + 1.0
    ell = b_win - a_win
    explicit = _explicit_law_terms(law, with_atom, with_single, with_pairs)
    (fs, fe, fc), (ns, ne, nc) = _split_terms(explicit, p)
    inner = np.concatenate([fs, ns])
    breaks = np.unique(np.concatenate([[a_win, b_win], inner[(inner > a_win) & (inner < b_win)]]))
    pair_mass = pair_total if with_pairs else 0.0
    rest_mass = max(1.0 - law.atom - (s_mass if with_single else 0.0) - pair_mass, 0.0)
    center = 0.5 * (a_win + b_win)

    explicit_sum = _Cumulative([(fs, fe, fc), (ns, ne, nc)], center)
    dt = 2.0 * math.pi / ell
    cache = {"phi_rest": np.zeros(0, dtype=complex)}

    def one_pass(m: int) -> tuple[float, float]:
        """(int N^2 / f over the window with m frequencies, rounding estimate)."""
        have = cache["phi_rest"].size
        if have < m:
            t_new = dt * np.arange(have + 1, m + 1, dtype=np.float64)
            phi, s1, s2 = _phi_parts(law, t_new)
            add = phi - law.atom
            if with_single:
                add = add - law._single_weight() * s1
            if with_pairs:
                add = add - 0.5 * pair_weight * (s1 * s1 - s2)
            cache["phi_rest"] = np.concatenate([cache["phi_rest"], add])
        phi_rest = cache["phi_rest"][:m]
        t = dt * np.arange(1, m + 1, dtype=np.float64)
        k0, k1 = _kernels(t)
        shift = np.exp(-1j * t * a_win)
        n_fft = _OVERSAMPLE * m
        spec_f = np.zeros(n_fft // 2 + 1, dtype=complex)
        spec_n = np.zeros(n_fft // 2 + 1, dtype=complex)
        spec_f[0] = rest_mass
        spec_n[0] = 0.5 * p * rest_mass
        spec_f[1 : m + 1] = np.conj(((1.0 - p) + p * k0) * phi_rest * shift)
        spec_n[1 : m + 1] = np.conj(p * k1 * phi_rest * shift)
        grid_f = np.fft.irfft(spec_f, n_fft) * (n_fft / ell)
        grid_n = np.fft.irfft(spec_n, n_fft) * (n_fft / ell)
        y, w = _panel_nodes(breaks, ell / m, _GL16, _GL6)
        f, n = _lagrange((grid_f, grid_n), a_win, ell / n_fft, y)
        (ef, en), (efm, enm) = (v.T for v in explicit_sum(y))
        value = _ratio_integral(f + ef, n + en, w)
        magnitude = float(np.sum(w * (np.abs(f) + np.abs(ef) + 2.0 * (np.abs(n) + np.abs(en)))))
        return value, _EPS * (64.0 + k_terms) * magnitude + _EPS * float(np.sum(w * (efm + 2.0 * enm)))

    # M: a first guess from the Gaussian decay |phi(t)| ~ exp(-var t^2 / 2) (below 1e-16 at t_M), then
    # doubled; once two differences are known, the order of convergence they show predicts the M that
    # meets the target and the search jumps there (up to 16 times further), always ending with a pair
    # (M / 2, M) whose difference (times 4) is the estimate, and with at least three passes (the first
    # difference, from two coarse passes, can be small by accident).
    sd = math.sqrt(max(law.var, 1e-300))
    guess = max(32, math.ceil(ell * math.sqrt(2.0 * 37.0) / sd / (2.0 * math.pi)))
    cap = min(_MAX_FREQUENCIES, 1 << int(math.floor(math.log2(max(4e8 / max(law.values.size, 1), 64.0)))))
    m = min(1 << (int(guess) - 1).bit_length(), cap // 2)
    results = {m: one_pass(m)}
    changes: list[tuple[int, float]] = []
    while True:
        m2 = 2 * m
        if m2 not in results:
            results[m2] = one_pass(m2)
        change = abs(results[m2][0] - results[m][0])
        changes.append((m2, change))
        target = 0.25 * tol * max(p / 3.0 - results[m2][0], 1e-13 * p)
        if (change <= target and len(changes) >= 2) or m2 >= cap:
            m = m2
            break
        order = 2.0
        if len(changes) >= 2 and changes[-2][1] > 0 and change > 0:
            order = math.log2(changes[-2][1] / change) / math.log2(m2 / changes[-2][0])
            order = min(max(order, 1.0), 4.0)
        factor = (change / target) ** (1.0 / order) if change > target else 1.0
        # a pair (m2, 2 m2) costs one new pass, a jump two: jump only when far from the target
        # (and, once the order is measured rather than assumed, by at most a factor 4)
        jump = min(max(1, math.ceil(math.log2(factor))), 4 if len(changes) < 2 else 2) if factor > 4.0 else 1
        m = min(m2 * (1 << (jump - 1)), cap // 2)
        if m not in results:
            results[m] = one_pass(m)
    value, rounding = results[m]
    tail = 4.0 * math.exp(-_LAMBDA) if p_out > 0 else 0.0
    return p / 3.0 - value, 4.0 * change + tail + rounding, m


# ----------------------------------------------------------------------------- public: one row


def _row_mmse(v_sorted: np.ndarray, p: float, tol: float, method: str = "auto") -> RowMMSE:
    """The MMSE for y = x + sum_j v_j x_j (v the nonzero weights over W_ii, sorted)."""
    if v_sorted.size == 0:
        return RowMMSE(0.0, 0.0, "exact")
    law = law_from_sorted(v_sorted, p)
    if method == "enumerate" or (method == "auto" and law.n_terms <= _ENUMERATE_MAX):
        value, err = _mmse_enumerate(law)
        if method == "enumerate" or err <= 1e-2 * tol * max(value, 1e-13 * p):
            return RowMMSE(float(value), float(err), "enumerate")
    value, err, m = _mmse_fourier(law, tol)
    return RowMMSE(float(value), float(err), "fourier", int(m))


def _check_row(row) -> np.ndarray:
    w = check_real(row, "row")
    if w.ndim != 1:
        raise ValueError(f"row must be a 1-D array of off-diagonal weights, got shape {w.shape}")
    return w


def exact_mmse(row, p, diag=1.0, *, tol=1e-6, method="auto") -> RowMMSE:
    r"""The least loss of any elementwise decoder of one row: E (x - E[x | y])^2, y = diag x + nu.

    nu = sum_j row_j x_j with the exact law of :func:`theory.interference_law` (``row`` holds the
    off-diagonal weights of the row, W_ii excluded; zeros contribute nothing) and ``diag`` = W_ii.
    No function of y, ReLU(y + b) for any b included, has a lower loss, so this is at most
    ``interference_law(row, p).expected_loss(diag, b).loss`` for every b; in the Gaussian limit it
    tends to :func:`theory.mmse_loss` at sigma = std(nu) / |diag|.

    Depends on the row only through row / diag (the sign of diag included: y / diag carries the same
    information as y). ``diag`` = 0: y = nu says nothing about x, the MMSE is Var x. No off-diagonal
    entries: y reveals x, the MMSE is 0.

    Parameters
    ----------
    row : array_like, 1-D
        Finite off-diagonal weights W_ij, j != i.
    p : float
        Feature probability, in (0, 1].
    diag : float
        W_ii, finite.
    tol : float
        Relative accuracy aimed at, in (0, 1).
    method : str
        "auto" (closed form for at most 5 nonzero terms, else Fourier), "enumerate" (the closed
        form, at most 8 terms: 3^K-like terms at every node) or "fourier".

    Returns
    -------
    RowMMSE
        ``mmse``, ``error_estimate`` (absolute, estimated), ``method``, ``frequencies``.
    """
    w = _check_row(row)
    p_v = check_scalar_p(p)
    d = check_scalar(diag, "diag")
    tol_v = check_tol(tol)
    if method not in ("auto", "fourier", "enumerate"):
        raise ValueError(f"method must be 'auto', 'fourier' or 'enumerate', got {method!r}")
    nz = w[w != 0]
    if method == "enumerate" and nz.size > 8:
        raise ValueError(f"method 'enumerate' needs at most 8 nonzero terms, got {nz.size}")
    if d == 0.0:
        return RowMMSE(p_v * (4.0 - 3.0 * p_v) / 12.0, 0.0, "exact")
    with np.errstate(over="ignore"):
        v = nz / d
    if not np.all(np.isfinite(v)):
        raise ValueError(f"diag must not be so small that row / diag overflows, got {d!r}")
    return _row_mmse(np.sort(v + 0.0), p_v, tol_v, method)


def exact_mmse_loss(W, p, *, tol=1e-6) -> ExactMMSE:
    r"""The exact elementwise MMSE of every feature of a model with weights W, and their mean.

    MMSE_i = :func:`exact_mmse` (W[i, j != i], p, W_ii): a lower bound on the loss of row i for
    every elementwise decoder, ReLU(W x + b) for every b included, so ``total`` <=
    ``exact_loss(W, b, p).total`` for all b. Rows with the same W_ii^-1 times the multiset of nonzero
    off-diagonal entries are computed once; rows with W_ii = 0 are Var x.

    Parameters
    ----------
    W : array_like, shape (n_s, n_s)
        Finite real weights.
    p : float
        Feature probability, in (0, 1].
    tol : float
        Relative accuracy aimed at per row, in (0, 1).

    Returns
    -------
    ExactMMSE
    """
    w_arr, _ = check_model(W, 0.0)
    p_v = check_scalar_p(p)
    tol_v = check_tol(tol)
    n = w_arr.shape[0]
    var_x = p_v * (4.0 - 3.0 * p_v) / 12.0
    groups: dict[bytes, int] = {}
    reps: list[np.ndarray | None] = []
    which = np.empty(n, dtype=np.int64)
    for i in range(n):
        row = w_arr[i].copy()
        wii = float(row[i])
        row[i] = 0.0
        if wii == 0.0:
            key = b"blind"
            v = None
        else:
            with np.errstate(over="ignore"):
                v = np.sort(row[row != 0] / wii + 0.0)
            if not np.all(np.isfinite(v)):
                raise ValueError(f"W[{i}, {i}] = {wii!r} is so small that row {i} / W_ii overflows")
            key = hashlib.blake2b(v.tobytes(), digest_size=20).digest()
        idx = groups.get(key)
        if idx is None:
            idx = len(reps)
            groups[key] = idx
            reps.append(v)
        which[i] = idx
    values = np.empty(len(reps))
    errors = np.empty(len(reps))
    for g, v in enumerate(reps):
        if v is None:
            values[g], errors[g] = var_x, 0.0
        else:
            res = _row_mmse(v, p_v, tol_v)
            values[g], errors[g] = res.mmse, res.error_estimate
    per = values[which]
    per_e = errors[which]
    return ExactMMSE(per, per_e, float(np.mean(per)), float(np.mean(per_e)), len(reps))
