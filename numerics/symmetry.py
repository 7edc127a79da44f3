r"""Statistical permutation symmetry of a weight matrix (paper sec. 3.2, eq. 3, appendix A).

The model is f(x)_i = ReLU(sum_j W_ij x_j + b_i) on independent features x_j = Bernoulli(p_j) U[0, 1],
whose first two moments are

.. math::  m_j = \mathbb{E}x_j = p_j/2,\qquad v_j = \mathrm{Var}\,x_j = p_j/3 - p_j^2/4 = p_j(4 - 3p_j)/12.

Row i's *interference* is nu_i = W_ii^-1 sum_{j != i} W_ij x_j. Its mean and variance are exact sums,

.. math::  \mathbb{E}\nu_i = W_{ii}^{-1}\sum_{j\ne i} W_{ij} m_j,\qquad
           \mathrm{Var}\,\nu_i = W_{ii}^{-2}\sum_{j\ne i} W_{ij}^2 v_j,

and the mean goes into the bias: b_i^eff = b_i + W_ii E nu_i. sigma_i = (Var nu_i)^{1/2} is a standard
deviation (never a variance). Eq. 3's Berry--Esseen ratio is computed per row,

.. math::  \lambda_i = \frac{\sum_{j\ne i}|W_{ij}|^3}{\big(\sum_{j\ne i}W_{ij}^2\big)^{3/2}},\qquad
           \Lambda = \max_i \lambda_i,

with lambda_i = 0 by convention for a row without off-diagonal weight (nu_i = 0, a degenerate normal).

For a vector v over rows, appendix A's symmetry-breaking measures are

.. math::  \Delta v = n_s^{-1}\sum_i (v_i - \bar v)^2,\qquad \Delta_2 v = \max_i v_i - \min_i v_i.

The paper calls Delta a "root mean square" deviation, but the formula it prints has no root: it is a
mean square. :class:`Spread` reports both, ``delta`` (the formula as printed) and ``rms`` (its root).

Three public functions read these off (W, b, p): :func:`row_statistics` (per-row tensors),
:func:`symmetry_stats` (Delta, Delta_2, Lambda and a Kolmogorov--Smirnov test of nu_i's Gaussianity)
and :func:`macroscopic_params` (the theory's a, b, sigma). :func:`interference_samples` draws nu_i
itself. W may be a dense square tensor or array, or a :class:`~numerics.rug.RugOperator`, for which
nothing of size n_s^2 is ever formed (see docs/symmetry.md). Everything is computed in float64.

One concept, the statistics of one (W, b, p) (with the draws of nu_i that its Gaussianity test needs), so
one module of about 650 lines. The pair structure of rows is :mod:`numerics.row_structure` (re-exported here).
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, fields

import numpy as np
import scipy.stats
import torch

from ._validation import check_int, check_probability
from .hadamard import fwht
from .law import feature_mean, feature_var
from .rug import RugOperator

__all__ = [
    "RowStatistics",
    "Spread",
    "SymmetryStats",
    "MacroscopicParams",
    "row_statistics",
    "symmetry_stats",
    "macroscopic_params",
    "interference_samples",
    "unlearned_features",
    "RowStructure",
    "row_structure",
]

# Elements of one float64 working block (32 MiB): rows of a dense W, or (column block x row group) of
# the interference sampler. Memory stays bounded by a few such blocks whatever n_s is.
_BLOCK = 1 << 22
# Expected number of "on" features drawn at once by the sparse sampler.
_ACTIVE_BLOCK = 1 << 23


# --------------------------------------------------------------------------------------------------
# input handling


class _Dense:
    """A dense square W (torch tensor or numpy array), read a block of rows at a time in float64."""

    def __init__(self, W, n_s: int):
        self.W = W
        self.n_s = n_s
        self.device = W.device if isinstance(W, torch.Tensor) else torch.device("cpu")

    def fill(self, out: torch.Tensor, r0: int, r1: int) -> torch.Tensor:
        """Copy W[r0:r1] into the float64 buffer ``out`` (r1 - r0 rows) and return it."""
        if isinstance(self.W, torch.Tensor):
            out.copy_(self.W.detach()[r0:r1])
        else:
            out.numpy()[...] = self.W[r0:r1]
        return out

    def rows(self, idx) -> torch.Tensor:
        """W[idx, :] as a fresh float64 tensor (idx: a slice or an int64 index tensor); checked finite."""
        if isinstance(self.W, torch.Tensor):
            blk = self.W.detach()[idx].to(torch.float64, copy=True)
        else:
            key = idx if isinstance(idx, slice) else idx.cpu().numpy()
            blk = torch.from_numpy(np.array(self.W[key], dtype=np.float64))
        if not bool(torch.isfinite(blk).all()):
            raise ValueError("W must be finite (it contains NaN or inf)")
        return blk


def _as_matrix(W):
    if isinstance(W, RugOperator):
        return W
    if isinstance(W, torch.Tensor):
        if W.is_complex():
            raise ValueError(f"W must be real, got dtype {W.dtype}")
        shape = tuple(W.shape)
    else:
        try:
            W = np.asarray(W)
        except Exception as exc:  # noqa: BLE001 - anything that is not array-like
            raise ValueError(f"W must be a square matrix or a RugOperator, got {type(W).__name__}") from exc
        if W.dtype.kind not in "biuf":
            raise ValueError(f"W must hold real numbers, got dtype {W.dtype}")
        shape = W.shape
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] == 0:
        raise ValueError(f"W must be a non-empty square matrix (n_s x n_s), got shape {shape}")
    return _Dense(W, int(shape[0]))


def _as_vector(value, name: str, n_s: int) -> np.ndarray:
    """A scalar or length-n_s real vector as a float64 numpy array (0-d or 1-d)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{name} must be a number or a length-n_s vector, got {type(value).__name__}") from exc
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n_s):
        raise ValueError(f"{name} must be a scalar or a vector of length n_s = {n_s}, got shape {arr.shape}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (it contains NaN or inf)")
    return arr


def _as_bias(b, n_s: int) -> torch.Tensor:
    arr = _as_vector(b, "b", n_s)
    return torch.from_numpy(np.broadcast_to(arr, (n_s,)).copy())


def _as_p(p, n_s: int):
    """p as a Python float (one p for all features) or a float64 tensor of length n_s."""
    if isinstance(p, bool):
        raise ValueError(f"p must be a number in (0, 1], got {p!r}")
    if isinstance(p, numbers.Real):
        return check_probability(p, "p")
    arr = _as_vector(p, "p", n_s)
    if not np.all((arr > 0.0) & (arr <= 1.0)):
        raise ValueError("p must be in (0, 1] for every feature")
    if arr.ndim == 0:
        return float(arr)
    return torch.from_numpy(arr)


def _check_seed(seed) -> int:
    return check_int(seed, "seed", low=0)


# --------------------------------------------------------------------------------------------------
# per-row sums


def _block_sums(off: torch.Tensor, m, v, work: torch.Tensor | None = None):
    """(s1, root_s2, lambda) for each row of a float64 block of off-diagonal entries (diagonal zeroed).

    s1_i = sum_j W_ij m_j, root_s2_i = (sum_j W_ij^2 v_j)^{1/2} and lambda_i as in eq. 3, all computed
    after scaling each row to max |W_ij| = 1 (so no square or cube overflows or underflows; lambda is
    scale-free and root_s2 is scaled back). m, v: floats or tensors over the columns. ``off`` is
    overwritten; ``work`` (same shape, optional) is scratch space. The finiteness of W is checked
    here, on the row maxima (NaN and inf propagate).
    """
    a = off.abs() if work is None else torch.abs(off, out=work)
    scale = a.amax(dim=-1)
    if not bool(torch.isfinite(scale).all()):
        raise ValueError("W must be finite (it contains NaN or inf)")
    s1 = m * off.sum(dim=-1) if isinstance(m, float) else off @ m
    has = scale > 0
    a.div_(torch.where(has, scale, torch.ones_like(scale)).unsqueeze(-1))
    sq = torch.mul(a, a, out=off)  # off is no longer needed
    q2 = sq.sum(dim=-1)
    t2 = v * q2 if isinstance(v, float) else sq @ v
    q3 = sq.mul_(a).sum(dim=-1)
    lam = torch.where(has, q3 / torch.where(has, q2, torch.ones_like(q2)).pow(1.5), torch.zeros_like(q2))
    return s1, scale * t2.sqrt(), lam


def _xor_convolve(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """y_i = sum_j a[i xor j] c_j: the Walsh-Hadamard transform diagonalises xor-convolution."""
    return fwht(fwht(a) * fwht(c)) / a.shape[-1]


def _row_sums(mat, p):
    """(diag, s1, root_s2, lambda): s1_i = sum_{j != i} W_ij m_j, root_s2_i = (sum_{j != i} W_ij^2 v_j)^{1/2}."""
    m, v = feature_mean(p), feature_var(p)  # the data law's moments (numerics.law), a float or a tensor each
    n_s = mat.n_s
    if isinstance(mat, RugOperator):
        g = mat.first_row(torch.float64)
        g_off = g.clone()
        g_off[0] = 0.0  # every row's off-diagonal entries are a permutation of these
        diag = g[0].expand(n_s).clone()
        one_p = isinstance(p, float)
        sums = _block_sums(g_off.clone().unsqueeze(0), m if one_p else 0.0, v if one_p else 1.0)
        s1, root_s2, lam = (t.expand(n_s).clone() for t in sums)
        if not one_p:
            # s_i = sum_j g_off[i xor j] c_j, with the diagonal removed from g *before* the transform
            # (subtracting g_0^2 v_i afterwards would cancel catastrophically as r -> 1)
            scale = g_off.abs().max()
            gs = g_off / scale if scale > 0 else g_off
            s1 = _xor_convolve(g_off, m)
            root_s2 = scale * _xor_convolve(gs * gs, v).clamp_(min=0.0).sqrt()  # a sum of squares: >= 0
        return diag, s1, root_s2, lam

    dev = mat.device
    if not isinstance(p, float):
        m, v = m.to(dev), v.to(dev)
    step = max(1, min(n_s, _BLOCK // n_s))
    # two reused buffers: fresh 32 MiB tensors per block would cost page faults on every block
    buf = torch.empty(step, n_s, dtype=torch.float64, device=dev)
    work = torch.empty_like(buf)
    out = [torch.empty(n_s, dtype=torch.float64) for _ in range(4)]
    for r0 in range(0, n_s, step):
        r1 = min(n_s, r0 + step)
        blk = mat.fill(buf[: r1 - r0], r0, r1)
        k = torch.arange(r1 - r0, device=dev)
        d = blk[k, r0 + k].clone()
        if not bool(torch.isfinite(d).all()):
            raise ValueError("W must be finite (it contains NaN or inf)")
        blk[k, r0 + k] = 0.0
        for dst, src in zip(out, (d, *_block_sums(blk, m, v, work[: r1 - r0]))):
            dst[r0:r1] = src.cpu()
    return tuple(out)


# --------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class RowStatistics:
    """Per-row statistics of (W, b, p); every field is a float64 tensor of length n_s.

    diag: W_ii. bias: b_i. mean_nu: E nu_i. var_nu: Var nu_i. sigma: (Var nu_i)^{1/2}.
    effective_bias: b_i + W_ii E nu_i. lambda_row: the Berry--Esseen ratio of eq. 3 for row i.
    """

    diag: torch.Tensor
    bias: torch.Tensor
    mean_nu: torch.Tensor
    var_nu: torch.Tensor
    sigma: torch.Tensor
    effective_bias: torch.Tensor
    lambda_row: torch.Tensor

    @property
    def n_s(self) -> int:
        return int(self.diag.numel())


def _json_float(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


@dataclass(frozen=True)
class Spread:
    r"""How uniform a per-row quantity v is across the n_s rows.

    mean: \bar v. delta: appendix A's Delta v = n_s^-1 sum_i (v_i - \bar v)^2, a mean square as printed.
    rms: delta^{1/2}, the root mean square deviation that the paper's words describe.
    delta2: Delta_2 v = max_i v_i - min_i v_i.
    """

    mean: float
    delta: float
    rms: float
    delta2: float

    @classmethod
    def of(cls, v: torch.Tensor) -> "Spread":
        """The spread of a 1-D float64 tensor; exactly zero when all entries are equal."""
        d = v - v[0]  # shifting by an entry keeps equal entries exactly equal (and the mean accurate)
        dm = d.mean()
        delta = float(((d - dm) ** 2).mean())
        return cls(mean=float(v[0] + dm), delta=delta, rms=math.sqrt(delta), delta2=float(v.max() - v.min()))

    def as_dict(self) -> dict:
        return {f.name: _json_float(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class SymmetryStats:
    """The symmetry-breaking measures of sec. 3.2 and appendix A for one (W, b, p).

    diag, bias, mean_nu, var_nu, sigma, effective_bias: the :class:`Spread` of each per-row quantity.
    lambda_max: Lambda of eq. 3 (max over rows of lambda_i).
    ks_max, ks_mean: the largest and the mean Kolmogorov--Smirnov distance between the empirical law
    of the standardised nu_i, (nu_i - E nu_i) / sigma_i, and N(0, 1), over the rows tested.
    ks_critical: the 95 % quantile of the KS distance of a truly Gaussian sample of size ks_samples
    (about 1.36 / ks_samples^{1/2}); ks_critical_max: the 95 % quantile of the largest of ks_rows
    independent such distances, the reference for ks_max. NaN (None in :meth:`as_dict`) when no
    row was tested. ks_samples, ks_rows: the sample size and the number of rows tested.
    """

    n_s: int
    diag: Spread
    bias: Spread
    mean_nu: Spread
    var_nu: Spread
    sigma: Spread
    effective_bias: Spread
    lambda_max: float
    ks_max: float
    ks_mean: float
    ks_critical: float
    ks_critical_max: float
    ks_samples: int
    ks_rows: int

    def as_dict(self) -> dict:
        """Plain Python numbers (nested dicts for the spreads); non-finite values become None."""
        out = {}
        for f in fields(self):
            val = getattr(self, f.name)
            if isinstance(val, Spread):
                out[f.name] = val.as_dict()
            elif isinstance(val, int):
                out[f.name] = val
            else:
                out[f.name] = _json_float(val)
        return out


@dataclass(frozen=True)
class MacroscopicParams:
    """The macroscopic (a, b, sigma) of a weight matrix, with the spread of each across rows.

    a: mean of W_ii. b_stored: mean of the stored b_i. b_eff: mean of the effective bias
    b_i + W_ii E nu_i (the b that the theory's loss takes). sigma: mean over rows of sigma_i, the
    standard deviation of nu_i; sigma_rms: (n_s^-1 sum_i Var nu_i)^{1/2}. mean_nu: mean of E nu_i.
    Each ``*_spread`` is the root mean square deviation of that quantity across rows (Spread.rms).
    """

    n_s: int
    a: float
    a_spread: float
    b_stored: float
    b_stored_spread: float
    b_eff: float
    b_eff_spread: float
    sigma: float
    sigma_rms: float
    sigma_spread: float
    mean_nu: float
    mean_nu_spread: float

    def as_dict(self) -> dict:
        return {f.name: (getattr(self, f.name) if f.name == "n_s" else _json_float(getattr(self, f.name)))
                for f in fields(self)}


# --------------------------------------------------------------------------------------------------
# public functions


def row_statistics(W, b, p) -> RowStatistics:
    r"""Per-row diagonal, bias, interference moments and Berry--Esseen ratio of (W, b, p).

    With m_j = p_j/2 and v_j = p_j(4 - 3p_j)/12 the mean and variance of x_j:

    * mean_nu_i = W_ii^-1 sum_{j != i} W_ij m_j, var_nu_i = W_ii^-2 sum_{j != i} W_ij^2 v_j (exact),
      sigma_i = var_nu_i^{1/2};
    * effective_bias_i = b_i + W_ii mean_nu_i = b_i + sum_{j != i} W_ij m_j;
    * lambda_row_i = sum_{j != i} |W_ij|^3 / (sum_{j != i} W_ij^2)^{3/2} (0 if the row has no
      off-diagonal weight).

    Parameters
    ----------
    W : a square matrix (torch tensor on any device, or numpy array), read in blocks of rows in
        float64 so that memory stays bounded; or a :class:`RugOperator`, handled in O(n_s log n_s)
        without forming R.
    b : the bias: a number or a vector of length n_s.
    p : the probability that a feature is on, in (0, 1]: a number or a vector of length n_s.

    Raises ValueError (naming the parameter) for a non-square or non-finite W, a b or p of the wrong
    length, p outside (0, 1], and for rows with W_ii = 0, where nu_i is undefined.
    """
    mat = _as_matrix(W)
    n_s = mat.n_s
    bias = _as_bias(b, n_s)
    p = _as_p(p, n_s)
    diag, s1, root_s2, lam = _row_sums(mat, p)
    zero = diag == 0
    if bool(zero.any()):
        rows = torch.nonzero(zero).flatten()
        raise ValueError(
            f"W has {rows.numel()} of {n_s} rows with W_ii == 0 (first: row {int(rows[0])}); "
            "the interference nu_i = W_ii^-1 sum_(j != i) W_ij x_j is undefined there"
        )
    return RowStatistics(
        diag=diag,
        bias=bias,
        mean_nu=s1 / diag,
        var_nu=(root_s2 / diag) ** 2,
        sigma=root_s2 / diag.abs(),
        effective_bias=bias + s1,
        lambda_row=lam,
    )


# Not a copy of numerics.data's gaps sampler, and not replaceable by it without changing every draw (checked:
# the same seed gives other x). This one (1) takes a p per feature, thinning a Bernoulli(p_max) candidate
# process, where data's needs one p per row; (2) returns a float64 sparse CSR block, never a dense one; (3)
# draws a gap and then a separate value per entry from the torch generator, where data's takes the value
# from the gap's own draw (its fractional part) and, for long rows, from a numpy PCG64 stream. Switching
# would change interference_samples and the Kolmogorov-Smirnov results of symmetry_stats for every seed.
def _sample_block(n_samples: int, width: int, p, p_max: float, gen: torch.Generator) -> torch.Tensor:
    """An (n_samples x width) block of x = Bernoulli(p_j) U[0, 1] as a sparse CSR float64 tensor.

    Work is proportional to the number of candidates (about n_samples * width * p_max), not to the
    block size. With p_max < 1 the gaps between consecutive candidates in the row-major flattened
    block are iid Geometric(p_max) (waiting times of iid Bernoulli(p_max) trials): a gap is
    1 + floor(log U / log(1 - p_max)), since P(floor(log U / log q) >= k) = P(U <= q^k) = q^k.
    A candidate in column j is kept with probability p_j / p_max (thinning gives exactly
    Bernoulli(p_j)), decided by one uniform V: kept iff V < p_j / p_max, and then V p_max / p_j is
    U[0, 1) and independent of the decision, so it serves as the value. For one p (p_j = p_max) every
    candidate is kept and its value is V.
    """
    total = n_samples * width
    if p_max >= 1.0:
        pos = torch.arange(total, dtype=torch.float64)
    else:
        expect = total * p_max
        chunk = int(expect + 6.0 * math.sqrt(expect) + 16)
        inv_log_q = 1.0 / math.log1p(-p_max)
        parts, last = [], -1.0
        while last < total - 1:
            # positions as exact float64 integers (< 2^53); U = 0 gives an infinite gap, which only
            # ends the block
            gaps = torch.rand(chunk, dtype=torch.float64, generator=gen).log_().mul_(inv_log_q)
            gaps.add_(1.0).floor_()
            gaps[0] += last
            pos = gaps.cumsum_(0)
            parts.append(pos)
            last = float(pos[-1])
        pos = torch.cat(parts) if len(parts) > 1 else parts[0]
        pos = pos[: int(torch.searchsorted(pos, torch.tensor([float(total)], dtype=torch.float64)))]
    val = torch.rand(pos.numel(), dtype=torch.float64, generator=gen)
    if width & (width - 1) == 0:
        col = pos.to(torch.int64).bitwise_and_(width - 1)
    else:
        col = torch.remainder(pos, float(width)).to(torch.int64)
    if not isinstance(p, float):
        ratio = p[col] / p_max  # exactly 1 where p_j = p_max, and V < 1: kept with value V
        keep = val < ratio
        pos, col, val = pos[keep], col[keep], val[keep] / ratio[keep]
    starts = torch.arange(n_samples + 1, dtype=torch.float64) * width
    crow = torch.searchsorted(pos, starts)
    with warnings.catch_warnings():
        # torch's notes that sparse CSR is "beta" and that invariant checks are off (we build valid
        # indices ourselves) are not the caller's concern
        warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta.*")
        warnings.filterwarnings("ignore", message=".*[Ss]parse invariant checks are implicitly disabled.*")
        return torch.sparse_csr_tensor(crow, col, val, (n_samples, width), check_invariants=False)


def _interference_raw(mat, p, rows: torch.Tensor, n_samples: int, seed: int) -> torch.Tensor:
    """sum_{j != i} W_ij x_j for each i in ``rows`` and n_samples draws of x: (n_samples, len(rows)).

    x is drawn a block of columns at a time; the block width depends only on (n_s, n_samples, p),
    so the same seed gives the same x whichever rows are asked for and whatever W's type.
    """
    n_s = mat.n_s
    p_max = p if isinstance(p, float) else float(p.max())
    width = min(n_s, max(1, int(_ACTIVE_BLOCK / (n_samples * p_max))), 1 << 16)
    width = 1 << (width.bit_length() - 1)  # a power of two
    k = rows.numel()
    if isinstance(mat, RugOperator):
        g = mat.first_row(torch.float64)
        group = max(1, _BLOCK // width)
    else:
        group = max(1, _BLOCK // n_s)
    acc = torch.zeros(n_samples, k, dtype=torch.float64)
    for g0 in range(0, k, group):
        idx = rows[g0:g0 + group]
        w_rows = None if isinstance(mat, RugOperator) else mat.rows(idx).cpu()
        gen = torch.Generator().manual_seed(seed)  # the same x for every group of rows
        for c0 in range(0, n_s, width):
            c1 = min(n_s, c0 + width)
            cols = torch.arange(c0, c1)
            p_blk = p if isinstance(p, float) else p[c0:c1]
            x = _sample_block(n_samples, c1 - c0, p_blk, p_max, gen)
            if x.values().numel() == 0:
                continue
            if w_rows is None:
                blk = g[cols[:, None] ^ idx[None, :]]  # (width, group): R_ij = g[i xor j]
            else:
                blk = w_rows[:, c0:c1].T.contiguous()
            inside = torch.nonzero((idx >= c0) & (idx < c1)).flatten()
            blk[idx[inside] - c0, inside] = 0.0  # drop the diagonal term j = i
            acc[:, g0:g0 + group] += x @ blk
    return acc


def _diag_of_rows(mat, rows: torch.Tensor) -> torch.Tensor:
    if isinstance(mat, RugOperator):
        return mat.first_row(torch.float64)[0].expand(rows.numel()).clone()
    out = torch.empty(rows.numel(), dtype=torch.float64)
    step = max(1, _BLOCK // mat.n_s)
    for s in range(0, rows.numel(), step):
        idx = rows[s:s + step]
        blk = mat.rows(idx)
        out[s:s + step] = blk[torch.arange(idx.numel(), device=blk.device), idx.to(blk.device)].cpu()
    return out


def interference_samples(W, p, rows, *, n_samples: int = 2000, seed: int = 0) -> torch.Tensor:
    r"""Draws of nu_i = W_ii^-1 sum_{j != i} W_ij x_j for the given rows: shape (n_samples, len(rows)).

    x = Bernoulli(p) U[0, 1] is drawn sparsely (work about n_samples * n_s * max(p) per row group,
    never the dense n_samples x n_s sample) with a torch generator seeded by ``seed``; the same seed
    gives the same x for any choice of rows and for a rug or its dense matrix alike. The n_samples
    rows of the result are independent draws; the columns share x.

    W : a square matrix or a :class:`RugOperator`; p : a number or a length-n_s vector in (0, 1];
    rows : row indices (a sequence or a 1-D integer tensor) with W_ii != 0.
    """
    mat = _as_matrix(W)
    n_s = mat.n_s
    p = _as_p(p, n_s)
    n_samples = check_int(n_samples, "n_samples", low=1)
    seed = _check_seed(seed)
    try:
        idx = torch.as_tensor(np.asarray(rows.cpu() if isinstance(rows, torch.Tensor) else rows))
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"rows must be a sequence of row indices, got {rows!r}") from exc
    if idx.ndim != 1 or (idx.numel() and (idx.is_floating_point() or idx.dtype == torch.bool)):
        raise ValueError(f"rows must be a 1-D sequence of integer row indices, got {rows!r}")
    idx = idx.to(torch.int64)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n_s):
        raise ValueError(f"rows must be indices in [0, {n_s - 1}]")
    diag = _diag_of_rows(mat, idx)
    if bool((diag == 0).any()):
        raise ValueError(f"W has W_ii == 0 in {int((diag == 0).sum())} of the requested rows; nu_i is undefined there")
    return _interference_raw(mat, p, idx, n_samples, seed) / diag


def symmetry_stats(W, b, p, *, ks_samples: int = 2000, ks_rows: int = 64, seed: int = 0) -> SymmetryStats:
    r"""Delta, Delta_2 and Lambda of sec. 3.2 / appendix A, and a Gaussianity test of nu_i.

    For v each of diag(W), b, E nu, Var nu, sigma and the effective bias (see :func:`row_statistics`):
    Delta v = n_s^-1 sum_i (v_i - \bar v)^2 (``delta``, a mean square as the paper prints it; its
    root is ``rms``) and Delta_2 v = max_i v_i - min_i v_i (``delta2``). Lambda = max_i lambda_i (eq. 3).

    Gaussianity: ``ks_rows`` rows with Var nu_i > 0 (all of them if fewer; otherwise chosen by
    ``numpy.random.default_rng(seed)``) get ``ks_samples`` draws of nu_i (see
    :func:`interference_samples`), standardised with the *exact* E nu_i and sigma_i, and the
    Kolmogorov--Smirnov distance of each row's sample from N(0, 1) is computed. Because nothing is
    estimated, a truly Gaussian nu_i would give a distance with scipy's ``kstwo(ks_samples)`` law;
    its 95 % quantile is reported as ``ks_critical``. ``ks_samples = 0`` or ``ks_rows = 0`` skips
    the test (the KS fields are then NaN).

    Invariance: permuting the features (W -> P W P^T, b -> P b, p -> P p) permutes the rows and
    leaves every Spread and Lambda unchanged up to rounding; the KS numbers are invariant in law only
    (other rows and other x get drawn).
    """
    ks_samples = check_int(ks_samples, "ks_samples", low=0)
    ks_rows = check_int(ks_rows, "ks_rows", low=0)
    seed = _check_seed(seed)
    st = row_statistics(W, b, p)
    n_s = st.n_s
    eligible = torch.nonzero(st.var_nu > 0).flatten()
    if ks_samples == 0 or ks_rows == 0 or eligible.numel() == 0:
        ks_max = ks_mean = ks_crit = ks_crit_max = math.nan
        k = 0
    else:
        if eligible.numel() > ks_rows:
            pick = np.random.default_rng(seed).choice(eligible.numel(), size=ks_rows, replace=False)
            rows = eligible[torch.from_numpy(np.sort(pick))]
        else:
            rows = eligible
        k = rows.numel()
        mat = _as_matrix(W)
        nu = _interference_raw(mat, _as_p(p, n_s), rows, ks_samples, seed) / st.diag[rows]
        z = ((nu - st.mean_nu[rows]) / st.sigma[rows]).numpy()
        ks = np.atleast_1d(scipy.stats.kstest(z, "norm", axis=0).statistic)
        ks_max, ks_mean = float(ks.max()), float(ks.mean())
        ks_crit = float(scipy.stats.kstwo.ppf(0.95, ks_samples))
        ks_crit_max = float(scipy.stats.kstwo.ppf(0.95 ** (1.0 / k), ks_samples))
    return SymmetryStats(
        n_s=n_s,
        diag=Spread.of(st.diag),
        bias=Spread.of(st.bias),
        mean_nu=Spread.of(st.mean_nu),
        var_nu=Spread.of(st.var_nu),
        sigma=Spread.of(st.sigma),
        effective_bias=Spread.of(st.effective_bias),
        lambda_max=float(st.lambda_row.max()),
        ks_max=ks_max,
        ks_mean=ks_mean,
        ks_critical=ks_crit,
        ks_critical_max=ks_crit_max,
        ks_samples=ks_samples if k else 0,
        ks_rows=k,
    )


def macroscopic_params(W, b, p) -> MacroscopicParams:
    r"""The macroscopic a, b, sigma of (W, b) at feature probability p, read off the rows.

    a = n_s^-1 sum_i W_ii; b_eff = n_s^-1 sum_i (b_i + W_ii E nu_i) (the bias the theory sees once the
    mean of the interference is absorbed); b_stored = n_s^-1 sum_i b_i; sigma = n_s^-1 sum_i sigma_i
    and sigma_rms = (n_s^-1 sum_i Var nu_i)^{1/2} (equal when the rows agree; sigma_rms >= sigma
    always). Each spread is the root mean square deviation across rows.
    """
    st = row_statistics(W, b, p)
    diag, bias, beff, sig, mnu = (Spread.of(v) for v in (st.diag, st.bias, st.effective_bias, st.sigma, st.mean_nu))
    var_mean = Spread.of(st.var_nu).mean
    return MacroscopicParams(
        n_s=st.n_s,
        a=diag.mean,
        a_spread=diag.rms,
        b_stored=bias.mean,
        b_stored_spread=bias.rms,
        b_eff=beff.mean,
        b_eff_spread=beff.rms,
        sigma=sig.mean,
        sigma_rms=math.sqrt(max(var_mean, 0.0)),
        sigma_spread=sig.rms,
        mean_nu=mnu.mean,
        mean_nu_spread=mnu.rms,
    )


def unlearned_features(diag, *, fraction: float = 0.25, quantile: float = 0.9) -> np.ndarray:
    """Which features a model did not learn: W_ii < fraction * (the ``quantile`` of the diagonal).

    A learned feature has W_ii of order 1 (the paper's 1.29); an unlearned one has W_ii ~ 0 and an
    undefined or enormous interference nu_i = W_ii^-1 sum_{j != i} W_ij x_j, so row statistics such as
    sigma_i mean nothing for it. The reference is a high quantile of the diagonal, not its median, so
    that the rule holds while up to 1 - quantile of the features are unlearned (appendix H at alpha = 0
    leaves half of them at W_ii ~ 0, where the median falls between the two groups). All features count
    as unlearned when that quantile is not positive. Returns a boolean numpy array, True for an
    unlearned feature (NaN included).
    """
    d = np.asarray(diag.detach().cpu() if isinstance(diag, torch.Tensor) else diag, dtype=np.float64).ravel()
    if d.size == 0:
        raise ValueError("diag must hold at least one value")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile!r}")
    ref = float(np.nanquantile(d, quantile)) if np.isfinite(d).any() else math.nan
    if not ref > 0.0:
        return np.ones(d.size, dtype=bool)
    return ~(d >= fraction * ref)  # NaN counts as unlearned


# the pair structure of rows lives in row_structure, which reads W through this module's _as_matrix: so
# its re-export comes last
from .row_structure import RowStructure, row_structure  # noqa: E402
