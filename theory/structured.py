r"""Structured solutions: antipodal pairs, simplices, polygons, and their exact loss.

One concept in one module (hence its length): the arrangements, their exact loss and optimum, their
mixtures at any r, and where they cross L* and the finite rug.

Small trained toy models do not look like a Persian rug: they drift to the arrangements of *Toy
Models of Superposition*, which exist at every n_s. This module computes their loss exactly, with the
single-row machinery of :mod:`theory.interference` (no Gaussian approximation), and compares it with
L*(p, r), the large-n_s optimum of the rug (:func:`theory.optimal_loss`).

**Groups.** A group of m features shares a d-dimensional space: W restricted to the group is a G with
G the Gram matrix of m unit vectors, zero elsewhere in its rows and columns; every feature has the same
bias b. Two shapes, both vertex-transitive (every row of G is a permutation of the first, so every
feature of the group has the same loss):

* ``"simplex"``: the regular simplex, G_ii = 1, G_ij = -1/(m-1), d = m - 1 (m = 2: the antipodal pair,
  W = a [[1, -1], [-1, 1]]);
* ``"polygon"``: the regular m-gon in a plane, G_ij = cos(2 pi (i - j) / m), d = 2 (m = 5: Toy Models'
  pentagon; m = 3 is the triangle = simplex 3, m = 4 is two pairs).

Row i computes ReLU(a x_i + a sum_j G_ij x_j + b): its loss is the exact loss of a row with diagonal a,
bias b and the m - 1 off-diagonal weights a G_ij (:func:`group_loss`; for m <= 9 at most 8 nonzero terms,
enumerated exactly, the only error rounding; larger m by the Fourier route with its bound).
:func:`group_optimum` minimises it over (a, b).

**Mixtures.** Two more components: a *dedicated* feature (W_ii = 1, its own hidden direction, no
interference: loss 0 exactly at a = 1, b = 0) and a *dropped* feature (no direction: W's row and column
are 0; the output is the constant ReLU(b), best at b = E x = p/2, loss Var x = p/3 - p^2/4, which beats
b <= 0, loss E x^2 = p/3). A component with m features in d dimensions has rate rho = d/m (dropped 0,
dedicated 1, a pair 1/2, a simplex (m-1)/m, a polygon 2/m). The rows do not interact, so a mixture in
which a fraction f_k of the features sits in components of kind k has per-feature loss sum_k f_k L_k
and uses r = sum_k f_k rho_k: linear in the fractions. Minimising over fractions with sum f_k = 1 and
sum f_k rho_k = r is a linear programme with two equality constraints, so its optimum mixes at most
two kinds: the lower convex envelope of the points (rho_k, L_k) at r (:func:`best_structured`). These
per-feature losses do not depend on n_s: they are exact at every n_s for which the counts are integers
(for pairs always: n_s - n_d pairs and 2 n_d - n_s dedicated features when r >= 1/2, n_d pairs and
n_s - 2 n_d dropped ones when r < 1/2). :func:`structured_model` builds the explicit (W, b) at finite
n_s with integer counts.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ._validation import check_p, check_r, check_scalar, check_scalar_p, scalar_or_array
from .interference import interference_law

__all__ = [
    "STRUCTURED_KINDS",
    "GroupOptimum",
    "RugComparison",
    "StructuredGrid",
    "StructuredLoss",
    "StructuredModel",
    "best_structured",
    "group_loss",
    "group_optimum",
    "structured_grid",
    "structured_loss",
    "structured_model",
    "structured_vs_rug",
]

_SHAPES = ("simplex", "polygon")
_MAX_M = 4096
_MAX_NS = 8192  # structured_model builds a dense n_s x n_s W
#: The registry of arrangements: "identity" (dedicated + dropped features, the linear model's loss),
#: "pairs", "simplex-m" (m = 3..8) and "polygon-m" (m = 5..8), each mixed with dedicated or dropped
#: features to reach r; "best" is the lower envelope of all of them.
STRUCTURED_KINDS = (
    ("identity", "pairs")
    + tuple(f"simplex-{m}" for m in range(3, 9))
    + tuple(f"polygon-{m}" for m in range(5, 9))
    + ("best",)
)
# thresholds beta = b / a searched by the profile (then refined by Brent and Nelder-Mead)
_BETA_GRID = np.concatenate([np.linspace(-1.2, 0.6, 73), [1.0, 2.0, 5.0, 20.0, 100.0]])


# ----------------------------------------------------------------------------- one group


def _check_m(m, shape) -> int:
    lo = 2 if shape == "simplex" else 3
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not lo <= m <= _MAX_M:
        raise ValueError(f"m must be an integer in [{lo}, {_MAX_M}] for shape {shape!r}, got {m!r}")
    return int(m)


def _check_shape(shape) -> str:
    if shape not in _SHAPES:
        raise ValueError(f"shape must be 'simplex' or 'polygon', got {shape!r}")
    return shape


@functools.lru_cache(maxsize=None)
def _gram_row(shape: str, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, counts): the distinct nonzero off-diagonal entries of a row of G and their counts."""
    if shape == "simplex":
        return np.array([-1.0 / (m - 1)]), np.array([m - 1])
    k = np.arange(1, m // 2 + 1)  # cos(2 pi k / m) = cos(2 pi (m - k) / m): each once, counted twice
    c = np.cos(2.0 * np.pi * k / m)
    counts = np.where(2 * k == m, 1, 2)
    keep = np.abs(c) > 1e-12  # cos(pi / 2) is 6e-17 in floating point
    vals, counts = c[keep], counts[keep]
    order = np.argsort(vals)
    vals, counts = vals[order], counts[order]
    return vals, counts


def _dims(shape: str, m: int) -> int:
    return m - 1 if shape == "simplex" else 2


def _gram_matrix(shape: str, m: int) -> np.ndarray:
    """G (m x m): the Gram matrix of the m unit vectors of the group (rank :func:`_dims`)."""
    if shape == "simplex":
        g = np.full((m, m), -1.0 / (m - 1))
        np.fill_diagonal(g, 1.0)
        return g
    d = np.abs(np.arange(m)[:, None] - np.arange(m)[None, :])
    g = np.cos(2.0 * np.pi * np.minimum(d, m - d) / m)  # the same floats as _gram_row
    g[np.abs(g) <= 1e-12] = 0.0
    return g


def _row_loss(p: float, shape: str, m: int, a: float, b: float) -> float:
    vals, counts = _gram_row(shape, m)
    law = interference_law(a * vals, p, counts=counts)
    return law.expected_loss(a, b, tol=1e-9).loss


def group_loss(p, m, a, b, *, shape="simplex") -> float:
    r"""The exact per-feature loss of a group of m features arranged as a regular simplex (or polygon).

    W restricted to the group is a G (G_ii = 1; ``"simplex"``: G_ij = -1/(m-1), rank m - 1, m = 2 the
    antipodal pair; ``"polygon"``: G_ij = cos(2 pi (i-j)/m), rank 2), every bias is b (the stored
    bias). Every feature of the group has the same loss, E (x_i - ReLU(a x_i + a sum_j G_ij x_j + b))^2,
    computed exactly by :meth:`theory.InterferenceLaw.expected_loss` (enumeration of 3^K terms for
    K <= 8 nonzero off-diagonal entries, else the Fourier route with its bound at relative accuracy
    1e-9).

    ``p`` in (0, 1]; ``m`` an integer >= 2 (simplex) or >= 3 (polygon), at most 4096; ``a``, ``b`` finite.
    """
    shape = _check_shape(shape)
    p_v = check_scalar_p(p)
    m_v = _check_m(m, shape)
    a_v = check_scalar(a, "a", tiny_ok=False)
    b_v = check_scalar(b, "b")
    return _row_loss(p_v, shape, m_v, a_v, b_v)


@dataclass(frozen=True)
class GroupOptimum:
    """The best (a, b) of one component (:func:`group_optimum`), with its per-feature loss.

    ``shape`` is "simplex", "polygon", "dedicated" or "dropped"; ``m`` features in ``dims`` dimensions
    (``rate`` = dims / m); ``a`` the common diagonal, ``b`` the common stored bias, ``loss`` per feature.
    """

    shape: str
    m: int
    dims: int
    a: float
    b: float
    loss: float
    p: float

    @property
    def rate(self) -> float:
        """dims / m: the hidden dimensions used per feature."""
        return self.dims / self.m

    @property
    def name(self) -> str:
        """The registry name: "pairs", "simplex-m", "polygon-m", "dedicated" or "dropped"."""
        if self.shape in ("dedicated", "dropped"):
            return self.shape
        if self.shape == "simplex" and self.m == 2:
            return "pairs"
        return f"{self.shape}-{self.m}"

    def as_dict(self) -> dict:
        """The fields (and name, rate) as a plain dict (for JSON)."""
        keys = ("shape", "m", "dims", "a", "b", "loss", "p")
        return {"name": self.name, "rate": self.rate, **{k: getattr(self, k) for k in keys}}


def _profile(p: float, shape: str, m: int, beta: float) -> tuple[float, float]:
    """(loss, a) at threshold beta = b / a with a at its optimum.

    At fixed beta the pre-activation is a (x_i + sum_j G_ij x_j + beta) = a y, so the loss
    E x^2 - 2 a E[x R] + a^2 E[R^2] (R = ReLU(y)) is a quadratic in a with E x^2 = p/3: two exact
    evaluations (a = 1, 2) give it, and a* = E[xR] / E[R^2].
    """
    e = p / 3.0
    l1 = _row_loss(p, shape, m, 1.0, beta)
    l2 = _row_loss(p, shape, m, 2.0, 2.0 * beta)
    q = 0.5 * (l2 - 2.0 * l1 + e)  # E[R^2]
    x = 0.5 * (e + q - l1)  # E[x R]
    if q <= 1e-300 or x <= 0.0:
        return e, 0.0
    return e - x * x / q, x / q


@functools.lru_cache(maxsize=4096)
def _group_optimum(p: float, shape: str, m: int) -> GroupOptimum:
    from scipy.optimize import minimize_scalar

    dims = _dims(shape, m)
    prof = np.array([_profile(p, shape, m, float(bt))[0] for bt in _BETA_GRID])
    k = int(np.argmin(prof))
    lo = _BETA_GRID[max(k - 1, 0)]
    hi = _BETA_GRID[min(k + 1, _BETA_GRID.size - 1)]
    res = minimize_scalar(
        lambda bt: _profile(p, shape, m, bt)[0], bounds=(lo, hi), method="bounded", options={"xatol": 1e-10}
    )
    beta = float(res.x) if res.fun <= prof[k] else float(_BETA_GRID[k])
    _, a = _profile(p, shape, m, beta)
    if a <= 0.0:  # the ReLU never helps: the best is then a constant output, a dropped feature
        return GroupOptimum(shape, m, dims, 0.0, 0.5 * p, p * (4.0 - 3.0 * p) / 12.0, p)
    # the loss at the optimum, evaluated directly (the profile's quadratic fit cancels at tiny p)
    return GroupOptimum(shape, m, dims, a, a * beta, _row_loss(p, shape, m, a, a * beta), p)


def group_optimum(p, m, *, shape="simplex") -> GroupOptimum:
    r"""Minimise :func:`group_loss` over (a, b): the best regular simplex (or polygon) of m features.

    At a fixed threshold beta = b/a the loss is a quadratic in a (all the weights of a row scale with a),
    so a*(beta) = E[x R] / E[R^2] comes from two exact evaluations; the profile in beta is searched on a
    grid (beta in [-1.2, 0.6] by 0.025, and 1, 2, 5, 20, 100) and refined by bounded Brent (to 1e-10 in
    beta); the loss returned is evaluated directly at (a*, a* beta). Results are cached per (p, shape, m).
    """
    shape = _check_shape(shape)
    p_v = check_scalar_p(p)
    m_v = _check_m(m, shape)
    return _group_optimum(p_v, shape, m_v)


# ----------------------------------------------------------------------------- mixtures


def _fixed(p: float, which: str) -> GroupOptimum:
    if which == "dedicated":
        return GroupOptimum("dedicated", 1, 1, 1.0, 0.0, 0.0, p)
    return GroupOptimum("dropped", 1, 0, 0.0, 0.5 * p, p * (4.0 - 3.0 * p) / 12.0, p)


def _component(p: float, name: str) -> GroupOptimum:
    if name in ("dedicated", "dropped"):
        return _fixed(p, name)
    if name == "pairs":
        return _group_optimum(p, "simplex", 2)
    shape, m = name.split("-")
    return _group_optimum(p, shape, int(m))


def _group_kinds() -> tuple[str, ...]:
    return tuple(k for k in STRUCTURED_KINDS if k not in ("identity", "best"))


def _check_kind(kind) -> str:
    if kind not in STRUCTURED_KINDS:
        raise ValueError(f"kind must be one of {', '.join(STRUCTURED_KINDS)}, got {kind!r}")
    return kind


def _mix(rates: np.ndarray, losses: np.ndarray, r: np.ndarray):
    """The lower envelope of the points (rates, losses) at each r: (loss, i, j, f_i).

    The fraction f_i of the features in component i and 1 - f_i in j, f_i rho_i + (1 - f_i) rho_j = r.
    Every pair with rho_i <= r <= rho_j is tried (the optimum of the linear programme is one of them).
    """
    n = rates.size
    best = np.full(r.shape, np.inf)
    bi = np.zeros(r.shape, dtype=np.int64)
    bj = np.zeros(r.shape, dtype=np.int64)
    bf = np.ones(r.shape)
    for i in range(n):
        for j in range(n):
            if rates[i] > rates[j]:
                continue
            ok = (rates[i] <= r) & (r <= rates[j])
            if not ok.any():
                continue
            if rates[j] > rates[i]:
                f = (rates[j] - r) / (rates[j] - rates[i])
            else:
                f = np.ones(r.shape)
            val = f * losses[i] + (1.0 - f) * losses[j]
            take = ok & (val < best)
            best = np.where(take, val, best)
            bi = np.where(take, i, bi)
            bj = np.where(take, j, bj)
            bf = np.where(take, f, bf)
    return best, bi, bj, bf


def _components_for(p: float, kind: str) -> list[GroupOptimum]:
    fixed = [_fixed(p, "dropped"), _fixed(p, "dedicated")]
    if kind == "identity":
        return fixed
    if kind == "best":
        return fixed + [_component(p, k) for k in _group_kinds()]
    return fixed + [_component(p, kind)]


def _structured(p: float, r: np.ndarray, kind: str):
    comps = _components_for(p, kind)
    rates = np.array([c.rate for c in comps])
    losses = np.array([c.loss for c in comps])
    if kind not in ("identity", "best"):
        # the group mixed with dropped features below its rate, with dedicated ones above it
        g = comps[2]
        below = r <= g.rate
        f_below = r / g.rate
        f_above = np.where(g.rate < 1.0, (1.0 - r) / (1.0 - g.rate), 1.0)
        loss = np.where(below, f_below * g.loss + (1.0 - f_below) * comps[0].loss, f_above * g.loss)
        i = np.full(r.shape, 2)
        j = np.where(below, 0, 1)
        f = np.where(below, f_below, f_above)
        return comps, loss, i, j, f
    loss, i, j, f = _mix(rates, losses, r)
    return comps, loss, i, j, f


def structured_loss(p, r, kind="best"):
    r"""The per-feature loss of a structured arrangement at compression r, in the large-n_s sense.

    ``kind`` (see :data:`STRUCTURED_KINDS`): ``"identity"`` (n_d dedicated features, the rest dropped:
    (1 - r) Var x, the linear autoencoder's loss); ``"pairs"``, ``"simplex-m"``, ``"polygon-m"`` (that
    group at its optimal (a, b), mixed with dropped features where r is below the group's rate d/m and
    with dedicated ones above it: for pairs and r >= 1/2 the loss is 2 (1 - r) L_pair, for r < 1/2 it is
    2 r L_pair + (1 - 2 r) Var x); ``"best"`` (the least over all mixtures of two components, the lower
    convex envelope). The loss depends on p and r only, not on n_s: it is exact at any n_s where the
    counts are integers (:func:`structured_model`). ``p`` a scalar in (0, 1]; ``r`` in (0, 1], scalar or
    array.
    """
    p_v = check_scalar_p(p)
    r_arr = check_r(r)
    kind = _check_kind(kind)
    _, loss, _, _, _ = _structured(p_v, r_arr.astype(np.float64), kind)
    return scalar_or_array(np.asarray(loss, dtype=np.float64))


@dataclass(frozen=True, eq=False)
class StructuredLoss:
    """The best structured arrangement at (p, r) (:func:`best_structured`).

    ``kind`` names the mixture ("pairs+dedicated", "dropped+pairs", ...: the components in order of
    rate), ``parts`` = ((component, fraction of the features), ...) with the fractions summing to 1,
    ``components`` their :class:`GroupOptimum` (a, b, per-feature loss), ``loss`` per feature,
    ``large_ns_loss`` = L*(p, r) (:func:`theory.optimal_loss`) and ``ratio`` = loss / L*.
    """

    p: float
    r: float
    kind: str
    loss: float
    parts: tuple
    components: tuple
    large_ns_loss: float

    @property
    def ratio(self) -> float:
        """loss / L*(p, r) (inf when L* = 0, i.e. r = 1)."""
        return self.loss / self.large_ns_loss if self.large_ns_loss > 0 else math.inf

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON)."""
        return {
            "p": self.p,
            "r": self.r,
            "kind": self.kind,
            "loss": self.loss,
            "ratio": self.ratio,
            "large_ns_loss": self.large_ns_loss,
            "parts": [list(x) for x in self.parts],
            "components": [c.as_dict() for c in self.components],
        }


def _describe(comps, i, j, f):
    ci, cj = comps[int(i)], comps[int(j)]
    parts = [(ci, float(f)), (cj, 1.0 - float(f))]
    parts = [(c, w) for c, w in parts if w > 1e-15]
    if len(parts) == 2 and parts[0][0].name == parts[1][0].name:
        parts = [(parts[0][0], 1.0)]
    parts.sort(key=lambda t: t[0].rate)
    kind = "+".join(c.name for c, _ in parts)
    return kind, tuple((c.name, w) for c, w in parts), tuple(c for c, _ in parts)


def best_structured(p, r) -> StructuredLoss:
    r"""The best structured arrangement at (p, r): the least per-feature loss over every mixture of
    two components (dropped, dedicated, pairs, simplices 3..8, polygons 5..8), and L*(p, r) beside it.

    Exact (the components' losses are exact row losses, the mixing is linear) and independent of n_s.
    ``p`` a scalar in (0, 1], ``r`` a scalar in (0, 1].
    """
    from .optimum import optimal_loss

    p_v = check_scalar_p(p)
    r_arr = check_r(r)
    if r_arr.ndim != 0:
        raise ValueError(f"r must be a scalar for best_structured, got shape {r_arr.shape}")
    r_v = float(r_arr)
    comps, loss, i, j, f = _structured(p_v, np.array([r_v]), "best")
    kind, parts, used = _describe(comps, i[0], j[0], f[0])
    return StructuredLoss(p_v, r_v, kind, float(loss[0]), parts, used, float(optimal_loss(p_v, r_v)))


# ----------------------------------------------------------------------------- the grid and crossings


@dataclass(frozen=True, eq=False)
class StructuredGrid:
    """best_structured / L* on a grid (:func:`structured_grid`).

    ``p`` (P,), ``r`` (R,); ``structured``, ``large_ns``, ``ratio`` (P, R); ``kind`` (P, R) the name of
    the best mixture; ``crossings`` a tuple (one per p) of the r where ratio = 1 (refined by brentq).
    """

    p: np.ndarray
    r: np.ndarray
    structured: np.ndarray
    large_ns: np.ndarray
    ratio: np.ndarray
    kind: np.ndarray
    crossings: tuple

    def as_dict(self) -> dict:
        """The fields as lists (for JSON)."""
        return {
            "p": self.p.tolist(),
            "r": self.r.tolist(),
            "structured": self.structured.tolist(),
            "large_ns": self.large_ns.tolist(),
            "ratio": self.ratio.tolist(),
            "kind": self.kind.tolist(),
            "crossings": [list(c) for c in self.crossings],
        }


def structured_grid(p, r, kind="best") -> StructuredGrid:
    r"""structured_loss(p, r, kind) / L*(p, r) on the grid p x r, and where the ratio crosses 1.

    ``p``, ``r``: 1-D arrays (p in (0, 1], r in (0, 1)). For each p the sign changes of
    structured - L* along the r grid are refined with brentq (the structured loss is piecewise linear in
    r, L* smooth); a crossing between two grid points is found, one closer than the grid spacing to
    another may be missed. Cost: the components' optima, about 0.1 s per p and group kind, then L* on
    the grid (fast).
    """
    from scipy.optimize import brentq

    from .optimum import optimal_loss

    kind = _check_kind(kind)
    p_arr = np.atleast_1d(check_p(p)).astype(np.float64)
    r_arr = np.atleast_1d(check_r(r)).astype(np.float64)
    for name, arr in (("p", p_arr), ("r", r_arr)):
        if arr.ndim != 1:
            raise ValueError(f"{name} must be a scalar or a 1-D array for structured_grid, got shape {arr.shape}")
    if np.any(r_arr >= 1.0):
        raise ValueError(f"r must be in (0, 1) for structured_grid (L* = 0 at r = 1), got {r_arr.max()!r}")
    n_p, n_r = p_arr.size, r_arr.size
    s = np.empty((n_p, n_r))
    names = np.empty((n_p, n_r), dtype=object)
    for a, pv in enumerate(p_arr):
        comps, loss, i, j, f = _structured(float(pv), r_arr, kind)
        s[a] = loss
        for c in range(n_r):
            names[a, c] = _describe(comps, i[c], j[c], f[c])[0]
    big = np.asarray(optimal_loss(p_arr[:, None], r_arr[None, :]), dtype=np.float64)
    ratio = s / big
    order = np.argsort(r_arr)
    crossings = []
    for a, pv in enumerate(p_arr):
        diff = (s[a] - big[a])[order]
        rs = r_arr[order]
        roots = []

        def f(x, pv=float(pv)):
            return float(_structured(pv, np.array([x]), kind)[1][0] - optimal_loss(pv, x))

        for k in range(n_r - 1):
            if diff[k] == 0.0:
                roots.append(float(rs[k]))
            elif diff[k] * diff[k + 1] < 0.0:
                roots.append(float(brentq(f, rs[k], rs[k + 1], xtol=1e-10)))
        if n_r and diff[-1] == 0.0:
            roots.append(float(rs[-1]))
        crossings.append(tuple(roots))
    return StructuredGrid(p_arr, r_arr, s, big, ratio, names, tuple(crossings))


# ----------------------------------------------------------------------------- finite n_s


def _kind_name(groups, n_dedicated: int, n_dropped: int) -> str:
    """"+"-joined names of the components present (groups = [(name, rate)]), in order of rate."""
    named = list(groups) + [("dedicated", 1.0)] * bool(n_dedicated) + [("dropped", 0.0)] * bool(n_dropped)
    return "+".join(n for n, _ in sorted(named, key=lambda t: t[1]))


@dataclass(frozen=True, eq=False)
class StructuredModel:
    """An explicit structured model at finite n_s (:func:`structured_model`).

    ``W`` (n_s x n_s, block diagonal: the groups, then the dedicated features, then the dropped ones)
    and ``b`` (n_s,): f(x) = ReLU(W x + b). ``blocks`` = ((component name, number of groups), ...);
    ``n_dedicated``, ``n_dropped``; ``dims`` = the rank of W (<= n_d); ``loss`` = the exact per-feature
    loss, the count-weighted mean of the components' losses; ``components`` their :class:`GroupOptimum`.
    """

    W: np.ndarray
    b: np.ndarray
    blocks: tuple
    n_dedicated: int
    n_dropped: int
    dims: int
    loss: float
    components: tuple
    p: float
    n_s: int
    n_d: int

    @property
    def kind(self) -> str:
        """The components present, "+"-joined in order of rate."""
        return _kind_name([(c.name, c.rate) for c in self.components], self.n_dedicated, self.n_dropped)

    def as_dict(self) -> dict:
        """The scalar fields (not W, b) as a plain dict (for JSON)."""
        return {
            "kind": self.kind,
            "blocks": [list(x) for x in self.blocks],
            "n_dedicated": self.n_dedicated,
            "n_dropped": self.n_dropped,
            "dims": self.dims,
            "loss": self.loss,
            "p": self.p,
            "n_s": self.n_s,
            "n_d": self.n_d,
        }


def _fill_loss(g1, g2, c1, c2, n_s, n_d, var_x):
    """Per-feature loss with g1 groups of c1, g2 of c2, then dedicated, then dropped (inf if infeasible)."""
    feats = n_s - g1 * c1.m - g2 * c2.m
    dims = n_d - g1 * c1.dims - g2 * c2.dims
    ok = (feats >= 0) & (dims >= 0) & (g1 >= 0) & (g2 >= 0)
    ded = np.minimum(np.maximum(feats, 0), np.maximum(dims, 0))
    drop = np.maximum(feats, 0) - ded
    loss = (g1 * c1.m * c1.loss + g2 * c2.m * c2.loss + drop * var_x) / n_s
    return np.where(ok, loss, np.inf)


def _counts(p: float, n_s: int, n_d: int, kind: str):
    """The best integer counts found: ((c1, g1), (c2, g2)) with fill by dedicated then dropped."""
    var_x = p * (4.0 - 3.0 * p) / 12.0
    if kind == "identity":
        none = _fixed(p, "dedicated")  # no groups: n_d dedicated, the rest dropped
        return (none, 0), (none, 0)
    names = _group_kinds() if kind == "best" else (kind,)
    comps = [_component(p, k) for k in names]
    best = (math.inf, None)
    for c in comps:  # one kind: every count
        g = np.arange(0, n_s // c.m + 1)
        vals = _fill_loss(g, 0, c, c, n_s, n_d, var_x)
        k = int(np.argmin(vals))
        if vals[k] < best[0]:
            best = (float(vals[k]), ((c, int(g[k])), (c, 0)))
    if kind == "best":  # two kinds: near the large-n_s mixture of the two
        r = n_d / n_s
        for c1 in comps:
            for c2 in comps:
                if not c1.rate < r < c2.rate:
                    continue
                f1 = (c2.rate - r) / (c2.rate - c1.rate)
                g1c = f1 * n_s / c1.m
                g2c = (1.0 - f1) * n_s / c2.m
                g1 = np.arange(math.floor(g1c) - 2, math.ceil(g1c) + 3)[:, None]
                g2 = np.arange(math.floor(g2c) - 2, math.ceil(g2c) + 3)[None, :]
                vals = _fill_loss(g1, g2, c1, c2, n_s, n_d, var_x)
                k = np.unravel_index(int(np.argmin(vals)), vals.shape)
                if vals[k] < best[0]:
                    best = (float(vals[k]), ((c1, int(g1[k[0], 0])), (c2, int(g2[0, k[1]]))))
    return best[1]


def _layout(p: float, n_s: int, n_d: int, kind: str):
    """(blocks [(component, groups)], n_dedicated, n_dropped, dims, per-feature loss) at integer counts."""
    (c1, g1), (c2, g2) = _counts(p, n_s, n_d, kind)
    blocks = [(c1, g1 + g2)] if c2.name == c1.name else [(c1, g1), (c2, g2)]
    blocks = [(c, g) for c, g in blocks if g > 0]
    feats = sum(g * c.m for c, g in blocks)
    dims = sum(g * c.dims for c, g in blocks)
    n_ded = min(n_s - feats, n_d - dims)
    n_drop = n_s - feats - n_ded
    total = sum(g * c.m * c.loss for c, g in blocks) + n_drop * _fixed(p, "dropped").loss
    return blocks, n_ded, n_drop, dims + n_ded, total / n_s


def _check_sizes(n_s, n_d, cap):
    for name, v in (("n_s", n_s), ("n_d", n_d)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= v <= cap:
            raise ValueError(f"{name} must be an integer in [1, {cap}], got {v!r}")
    if n_d > n_s:
        raise ValueError(f"n_d must be <= n_s = {n_s}, got {n_d}")
    return int(n_s), int(n_d)


def structured_model(p, n_s, n_d, kind="best") -> StructuredModel:
    r"""The explicit structured model with n_s features and at most n_d hidden dimensions.

    Integer counts: g groups of the kind's component (at its optimal (a, b) from :func:`group_optimum`),
    then min(features left, dimensions left) dedicated features, the rest dropped; g is the best over
    all counts. ``kind="best"`` takes the best of every single kind and, for each two kinds whose rates
    bracket r = n_d / n_s, the counts within 2 of the large-n_s mixture; ``"identity"``: n_d dedicated,
    n_s - n_d dropped. ``loss`` is exact for this W (each row is a row of its component) and equals
    :func:`structured_loss` whenever the large-n_s counts are integers (for pairs: always).
    ``n_s``, ``n_d`` integers with 1 <= n_d <= n_s <= 8192 (W is dense); ``p`` a scalar in (0, 1].
    """
    p_v = check_scalar_p(p)
    n_s, n_d = _check_sizes(n_s, n_d, _MAX_NS)
    kind = _check_kind(kind)
    blocks, n_ded, n_drop, dims, loss = _layout(p_v, n_s, n_d, kind)
    W = np.zeros((n_s, n_s))
    b = np.zeros(n_s)
    pos = 0
    for c, g in blocks:
        block = c.a * _gram_matrix(c.shape, c.m)
        for _ in range(g):
            W[pos : pos + c.m, pos : pos + c.m] = block
            b[pos : pos + c.m] = c.b
            pos += c.m
    idx = np.arange(pos, pos + n_ded)
    W[idx, idx] = 1.0
    b[pos + n_ded :] = 0.5 * p_v
    return StructuredModel(
        W, b, tuple((c.name, g) for c, g in blocks), n_ded, n_drop, dims, loss,
        tuple(c for c, _ in blocks), p_v, n_s, n_d,
    )


@dataclass(frozen=True, eq=False)
class RugComparison:
    """A structured model against the finite rug with the same (n_s, S) (:func:`structured_vs_rug`).

    ``structured`` (the :class:`StructuredModel`'s exact loss), ``kind``, ``rug`` (the exact loss at
    the rug's optimal (a, b), :func:`theory.rug_optimal_ab`), ``large_ns`` = L*(p, n_d / n_s);
    ``ratio_rug`` = structured / rug, ``ratio_large_ns`` = structured / L*.
    """

    p: float
    n_s: int
    n_d: int
    kind: str
    structured: float
    rug: float
    large_ns: float

    @property
    def ratio_rug(self) -> float:
        """structured / rug."""
        return self.structured / self.rug

    @property
    def ratio_large_ns(self) -> float:
        """structured / L*(p, n_d / n_s) (inf when n_d = n_s)."""
        return self.structured / self.large_ns if self.large_ns > 0 else math.inf

    def as_dict(self) -> dict:
        """The fields and both ratios as a plain dict (for JSON)."""
        keys = ("p", "n_s", "n_d", "kind", "structured", "rug", "large_ns", "ratio_rug", "ratio_large_ns")
        return {k: getattr(self, k) for k in keys}


def structured_vs_rug(p, n_s, S, kind="best") -> RugComparison:
    r"""The exact loss of :func:`structured_model` (p, n_s, n_d = len(S), kind) against the finite rug's
    optimum :func:`theory.rug_optimal_ab` (p, n_s, S) and L*(p, n_d / n_s). ``n_s`` a power of two,
    ``S`` distinct column indices (as for the rug); the structured model's dense W is not built, so any
    n_s the rug allows works. The cost is the rug's (Nelder-Mead on its exact loss, about a second)."""
    from .interference import rug_optimal_ab

    p_v = check_scalar_p(p)
    kind = _check_kind(kind)
    rug = rug_optimal_ab(p_v, n_s, S)
    blocks, n_ded, n_drop, _, loss = _layout(p_v, rug.n_s, rug.n_d, kind)
    name = _kind_name([(c.name, c.rate) for c, _ in blocks], n_ded, n_drop)
    return RugComparison(p_v, rug.n_s, rug.n_d, name, loss, rug.loss, rug.large_ns_loss)
