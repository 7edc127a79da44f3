r"""The pair structure of a weight matrix's rows: where each row keeps its off-diagonal weight (in one or
two large entries, or spread out) and which rows pair up (:func:`row_structure`, :class:`RowStructure`).

What the symmetry statistics of :mod:`numerics.symmetry` average away: an antipodal pair of Toy Models
has every row's off-diagonal mass in one entry, a Persian rug spreads it thinly (see docs/symmetry.md,
section 4b). The reading of W a block of rows at a time is :mod:`numerics.symmetry`'s (``_as_matrix``),
which re-exports both names.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields

import numpy as np
import torch

from .rug import RugOperator
from .symmetry import _BLOCK, _as_matrix, _json_float

__all__ = ["RowStructure", "row_structure"]

#: two off-diagonal magnitudes of a row closer than this (relative to the larger) count as tied
_TIE = 1e-9


@dataclass(frozen=True)
class RowStructure:
    r"""How a weight matrix's off-diagonal mass sits in each row, and whether rows pair up
    (:func:`row_structure`).

    Per row i (numpy arrays of length n_s; q_i = sum_{j != i} W_ij^2 its off-diagonal squared mass):

    * ``off_mass``: q_i. ``top1_share``: max_{j != i} W_ij^2 / q_i; ``top2_share``: the sum of the two
      largest W_ij^2 over q_i (the only one when n_s = 2). NaN where q_i = 0.
    * ``partner``: j*(i) = argmax_{j != i} |W_ij| where that maximum is unique (the runner-up smaller by
      more than 1e-9 relative), else -1 (no off-diagonal mass, or a tie: then no row is singled out).
    * ``mutual``: j = j*(i) >= 0 and j*(j) = i: the two rows are each other's largest partner.
    * ``paired``: mutual, W_ii > 0, W_jj > 0 and |W_ij W_ji|^{1/2} >= pair_min (W_ii W_jj)^{1/2}: a pair
      of rows that interfere with each other about as strongly as with themselves (an antipodal pair
      of Toy Models has W_ij = W_ji = -W_ii; any rank-one pair, W = v u^T on the two features, has
      |W_ij W_ji| = W_ii W_jj however unequal |W_ij| / W_ii and |W_ji| / W_jj are). Symmetric: i is
      paired exactly when j*(i) is.
    * ``partner_ratio``: W_{i j*(i)} / W_ii (NaN without a partner or where W_ii = 0).

    Summary numbers (NaN where nothing is there to average):

    * ``mean_top1_share``, ``mean_top2_share``: the means over rows with q_i > 0;
      ``top1_mass_share``, ``top2_mass_share``: the same weighted by q_i, i.e. the fraction of all the
      off-diagonal squared mass of W that sits in its rows' largest (two largest) entries. Rows with
      almost no off-diagonal weight (a dedicated feature) barely count there.
    * ``mutual_fraction``, ``pair_fraction``: the fraction of the n_s rows that are mutual, paired.
    * ``pair_ratio_mean``: the mean of W_ij / W_ii over paired rows; ``pair_negative_fraction``: the
      fraction of paired rows whose W_ij is negative (1 for antipodal pairs); ``pair_asymmetry``: the
      root mean square over paired rows of ln |W_ij / W_ii| (0 for the symmetric pair |W_ij| = W_ii; a
      rank-one pair has |W_ij W_ji| = W_ii W_jj, so its two rows give +-ln k for |W_ij| = k W_ii).
    * ``pair_min``: the threshold used.
    """

    n_s: int
    pair_min: float
    off_mass: np.ndarray
    top1_share: np.ndarray
    top2_share: np.ndarray
    partner: np.ndarray
    mutual: np.ndarray
    paired: np.ndarray
    partner_ratio: np.ndarray
    mean_top1_share: float
    mean_top2_share: float
    top1_mass_share: float
    top2_mass_share: float
    mutual_fraction: float
    pair_fraction: float
    pair_ratio_mean: float
    pair_negative_fraction: float
    pair_asymmetry: float

    _ARRAYS = ("off_mass", "top1_share", "top2_share", "partner", "mutual", "paired", "partner_ratio")

    def summary(self) -> dict:
        """The summary numbers (and n_s, pair_min) as plain Python numbers; NaN becomes None."""
        return {f.name: (getattr(self, f.name) if f.name == "n_s" else _json_float(getattr(self, f.name)))
                for f in fields(self) if f.name not in self._ARRAYS}

    def as_dict(self, rows: bool = False) -> dict:
        """:meth:`summary`, with the per-row arrays as lists when ``rows`` (NaN as None)."""
        out = self.summary()
        if rows:
            for name in self._ARRAYS:
                arr = getattr(self, name)
                out[name] = [_json_float(x) for x in arr] if arr.dtype.kind == "f" else arr.tolist()
        return out


def _nanmean(v: np.ndarray) -> float:
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def row_structure(W, *, pair_min: float = 0.5) -> RowStructure:
    r"""Where each row of W keeps its off-diagonal weight, and which rows pair up.

    With q_i = sum_{j != i} W_ij^2 and the off-diagonal magnitudes of row i sorted,
    |W_i(1)| >= |W_i(2)| >= ...:

    .. math::  s^{(1)}_i = W_{i(1)}^2 / q_i,\qquad s^{(2)}_i = (W_{i(1)}^2 + W_{i(2)}^2) / q_i,

    so s^(1) = s^(2) = 1 for a row with a single partner (an antipodal pair), and for a Persian rug,
    whose rows are permutations of one row g (R_ij = g(i xor j)), s^(1) = max_{m != 0} g(m)^2 /
    (n_s/n_d - 1), small once n_d is large. Row i's partner j*(i) is its largest off-diagonal entry when
    that is unique; rows i and j are *mutual* when each is the other's partner and *paired* when, in
    addition, both diagonals are positive and |W_ij W_ji|^{1/2} >= pair_min (W_ii W_jj)^{1/2} (the
    geometric means, so that a rank-one pair with |W_ij| = k W_ii, |W_ji| = W_jj / k counts for every k).
    Mutuality alone says little: in a rug with a unique largest |g(m*)| every row is mutual with
    i xor m*, however small g(m*) is; the size condition is what tells pairs from a rug. The summary
    fractions are over all n_s rows (see :class:`RowStructure`).

    Everything is equivariant under a permutation of the features: row_structure(P W P^T) is
    row_structure(W) with its rows (and partner labels) permuted; ties are resolved by declaring no
    partner, never by index order, so that this holds exactly.

    Parameters
    ----------
    W : a real square matrix, n_s >= 2 (torch tensor on any device, or numpy array), read a block of
        rows at a time in float64; finite.
    pair_min : the least |W_ij W_ji|^{1/2} / (W_ii W_jj)^{1/2} of a pair, in (0, 1]. The default 1/2 is
        half-way between a rug (|R_ij| / R_ii ~ n_d^{-1/2} -> 0) and a pair (1).

    Raises ValueError (naming the parameter) for a W that is not a finite real square matrix of size at
    least 2, a RugOperator (form its dense matrix first), and pair_min outside (0, 1].
    """
    if isinstance(W, RugOperator):
        raise ValueError("W must be a dense square matrix for row_structure (use RugOperator.dense())")
    mat = _as_matrix(W)
    n_s = mat.n_s
    if n_s < 2:
        raise ValueError(f"W must be at least 2 x 2 (rows need off-diagonal entries), got n_s = {n_s}")
    if isinstance(pair_min, bool) or not isinstance(pair_min, numbers.Real) or not 0.0 < float(pair_min) <= 1.0:
        raise ValueError(f"pair_min must be a number in (0, 1], got {pair_min!r}")
    pair_min = float(pair_min)
    dev = mat.device
    k = min(3, n_s - 1)
    step = max(1, min(n_s, _BLOCK // n_s))
    buf = torch.empty(step, n_s, dtype=torch.float64, device=dev)
    diag = np.empty(n_s)
    mass = np.empty(n_s)
    row_max = np.empty(n_s)  # max_{j != i} |W_ij|
    q_scaled = np.empty(n_s)  # q_i / row_max^2
    top1 = np.empty(n_s)
    top2 = np.empty(n_s)
    partner = np.full(n_s, -1, dtype=np.int64)
    top_val = np.empty(n_s)  # the signed W_{i j*(i)} (of the largest entry, tied or not)
    for r0 in range(0, n_s, step):
        r1 = min(n_s, r0 + step)
        blk = mat.fill(buf[: r1 - r0], r0, r1)
        idx = torch.arange(r1 - r0, device=dev)
        d = blk[idx, r0 + idx].clone()
        blk[idx, r0 + idx] = 0.0
        a = blk.abs()
        scale = a.amax(dim=-1)
        if not (bool(torch.isfinite(scale).all()) and bool(torch.isfinite(d).all())):
            raise ValueError("W must be finite (it contains NaN or inf)")
        has = scale > 0
        a.div_(torch.where(has, scale, torch.ones_like(scale)).unsqueeze(-1))  # row maximum 1: no overflow
        a[idx, r0 + idx] = -1.0  # never picked by topk (every off-diagonal |entry| is >= 0)
        vals, cols = torch.topk(a, k, dim=-1)
        q = (a.clamp(min=0.0) ** 2).sum(dim=-1)  # in units of scale^2
        safe = torch.where(has, q, torch.ones_like(q))
        s1 = vals[:, 0] ** 2 / safe
        s2 = (vals[:, :2] ** 2).sum(dim=-1) / safe
        unique = has & ((vals[:, 1] < 1.0 - _TIE) if k > 1 else torch.ones_like(has))
        nan = torch.full_like(s1, math.nan)
        diag[r0:r1] = d.cpu().numpy()
        mass[r0:r1] = (q * scale**2).cpu().numpy()
        row_max[r0:r1] = scale.cpu().numpy()
        q_scaled[r0:r1] = q.cpu().numpy()
        top1[r0:r1] = torch.where(has, s1, nan).cpu().numpy()
        top2[r0:r1] = torch.where(has, s2, nan).cpu().numpy()
        partner[r0:r1] = torch.where(unique, cols[:, 0], torch.full_like(cols[:, 0], -1)).cpu().numpy()
        top_val[r0:r1] = blk.gather(1, cols[:, :1]).squeeze(1).cpu().numpy()
    rows = np.arange(n_s)
    has_p = partner >= 0
    mutual = np.zeros(n_s, dtype=bool)
    mutual[has_p] = partner[partner[has_p]] == rows[has_p]
    j = np.where(mutual, partner, 0)
    w_ij, w_ji = np.abs(top_val), np.abs(top_val[j])
    with np.errstate(invalid="ignore"):
        root = np.sqrt(np.clip(diag, 0.0, None))  # geometric means as products of roots: no overflow
        strong = np.sqrt(w_ij) * np.sqrt(w_ji) >= pair_min * (root * root[j]) * (1.0 - _TIE)  # up to rounding
    paired = mutual & (diag > 0) & (diag[j] > 0) & strong
    ratio = np.full(n_s, math.nan)
    ok = has_p & (diag != 0)
    ratio[ok] = top_val[ok] / diag[ok]
    live = row_max > 0
    # the mass-weighted shares with every row's mass in units of the largest row maximum (no overflow)
    weight = np.zeros(n_s)
    weight[live] = (row_max[live] / row_max.max()) ** 2 * q_scaled[live]
    total = float(weight.sum())
    n_pair = int(paired.sum())
    return RowStructure(
        n_s=n_s,
        pair_min=pair_min,
        off_mass=mass,
        top1_share=top1,
        top2_share=top2,
        partner=partner,
        mutual=mutual,
        paired=paired,
        partner_ratio=ratio,
        mean_top1_share=_nanmean(top1),
        mean_top2_share=_nanmean(top2),
        top1_mass_share=float((top1[live] * weight[live]).sum() / total) if total > 0 else math.nan,
        top2_mass_share=float((top2[live] * weight[live]).sum() / total) if total > 0 else math.nan,
        mutual_fraction=float(mutual.mean()),
        pair_fraction=n_pair / n_s,
        pair_ratio_mean=float(ratio[paired].mean()) if n_pair else math.nan,
        pair_negative_fraction=float((top_val[paired] < 0).mean()) if n_pair else math.nan,
        pair_asymmetry=float(np.sqrt(np.mean(np.log(np.abs(ratio[paired])) ** 2))) if n_pair else math.nan,
    )
