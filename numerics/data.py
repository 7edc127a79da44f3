r"""Sparse synthetic features and importance weights (paper sec. 2; Toy Models sec. 2).

Each feature is x_i = Bernoulli(p) * Uniform[0, 1], independently. :func:`sample_features` draws one
uniform per entry and maps it; why that has exactly the right law is proved in its docstring. The law's
moments, the gaps sampler's cut-off (``GAPS_MAX_P``) and the seed offsets are :mod:`numerics.law`'s.

One concept, the toy model's data (drawing x, dense or as its on entries, and the importance of each
feature), so one module of a little over 400 lines.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse
import torch

from ._validation import check_int, check_positive
from .law import GAPS_MAX_P

__all__ = ["sample_features", "sample_instances", "sample_instances_sparse", "SparseFeatures",
           "two_group_importance", "decaying_importance"]


def _as_shape(n_s) -> tuple[int, ...]:
    if isinstance(n_s, (tuple, list, torch.Size)):
        shape = tuple(check_int(d, "n_s", low=1) for d in n_s)
        if not shape:
            raise ValueError("n_s must be a positive integer or a non-empty tuple of them")
        return shape
    return (check_int(n_s, "n_s", low=1),)


def _check_p_tensor(p, shape, device, dtype) -> torch.Tensor | float:
    if isinstance(p, (int, float)) and not isinstance(p, bool):
        if not (0.0 < float(p) <= 1.0):
            raise ValueError(f"p must be in (0, 1], got {p!r}")
        return float(p)
    kind = torch.as_tensor(p).dtype if isinstance(p, (torch.Tensor, np.ndarray, list, tuple)) else None
    if isinstance(p, (bool, np.bool_, str, bytes, complex, np.complexfloating)) or kind in (torch.bool,) or (kind is not None and kind.is_complex):
        raise ValueError(f"p must be a number or a tensor of numbers in (0, 1], got {p!r}")
    try:
        pt = torch.as_tensor(p, dtype=dtype, device=device)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"p must be a number or a tensor of numbers in (0, 1], got {p!r}") from exc
    if not bool(((pt > 0) & (pt <= 1)).all()):
        raise ValueError("p must be in (0, 1] everywhere (NaN is not allowed)")
    try:
        torch.broadcast_shapes(pt.shape, shape)
    except RuntimeError as exc:
        raise ValueError(f"p of shape {tuple(pt.shape)} does not broadcast to the feature shape {shape}") from exc
    if len(pt.shape) > len(shape):
        raise ValueError(f"p has more dimensions ({pt.ndim}) than the feature shape {shape}")
    return pt


def sample_features(
    batch: int,
    n_s,
    p,
    *,
    generator: torch.Generator | None = None,
    device=None,
    dtype: torch.dtype = torch.float32,
    out: torch.Tensor | None = None,
    method: str = "auto",
) -> torch.Tensor:
    r"""A batch of sparse features x = Bernoulli(p) * Uniform[0, 1], shape (batch, *n_s).

    One uniform u ~ U[0, 1) per entry, mapped to x = u / p if u < p else 0. **This has exactly the
    law of Bernoulli(p) * U[0, 1]:** P(x = 0) = P(u >= p) = 1 - p, and for 0 < t <= 1,
    P(0 < x <= t) = P(u < p, u <= t p) = t p, which is p times the U[0, 1] cdf. (u = 0 exactly, an
    event of probability 2^-24 in float32, gives x = 0 on the "on" branch: harmless.) So the
    indicator and the value come from one draw and nothing else is sampled.

    Parameters
    ----------
    batch : number of samples (rows).
    n_s : number of features, or a tuple of trailing dimensions such as (instances, n_s).
    p : probability that a feature is on, in (0, 1]: a scalar, or a tensor that broadcasts to the
        feature shape (a per-feature vector of length n_s, or shape (instances, 1) for one p per
        instance).
    generator, device, dtype : as for :func:`torch.rand`; the sample is made on ``device``.
    out : an optional preallocated tensor of shape (batch, *n_s) to fill (no new memory on hot paths).
    method : "uniform" (the map above, one uniform per entry), "gaps" (below) or "auto": "gaps" for a
        scalar p <= :data:`numerics.law.GAPS_MAX_P` (0.25) on the CPU, where it is several times faster,
        "uniform" otherwise.

    **The "gaps" method** draws only what is random in a sparse sample. In the flattened sample the
    entries that are on form a Bernoulli(p) process, whose gaps G (the number of off entries before the
    next on entry) are i.i.d. geometric, P(G = k) = (1 - p)^k p; G = floor(log(1 - u) / log(1 - p)) with
    u ~ U[0, 1) has exactly that law, since P(G >= k) = P(1 - u <= (1 - p)^k) = (1 - p)^k. So the positions
    of the on entries are the partial sums of G + 1. The same draw also gives the entry's value: the
    fractional part of log(1 - u) / log(1 - p) is independent of G (the exponential is memoryless) and
    maps to a uniform value on (0, 1] through its cdf (proof in ``_gaps_and_values``). So about p n
    draws instead of n (from a numpy PCG64 stream keyed by the torch generator for large rows,
    ``_uniforms``); for p = 0.05 several times faster than the uniform map. CPU only; on CUDA the
    uniform map is already memory-bound and is used.
    """
    batch = check_int(batch, "batch", low=1)
    shape = (batch, *_as_shape(n_s))
    if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise ValueError(f"dtype must be a floating-point torch dtype, got {dtype}")
    if out is not None:
        if tuple(out.shape) != shape:
            raise ValueError(f"out must have shape {shape}, got {tuple(out.shape)}")
        device, dtype = out.device, out.dtype
    pv = _check_p_tensor(p, shape[1:], device, dtype)
    if method not in ("auto", "uniform", "gaps"):
        raise ValueError(f"method must be 'auto', 'uniform' or 'gaps', got {method!r}")
    on_cpu = torch.device(device if device is not None else "cpu").type == "cpu"
    if method == "auto":
        method = "gaps" if (isinstance(pv, float) and pv <= GAPS_MAX_P and on_cpu) else "uniform"
    if method == "gaps":
        if not isinstance(pv, float):
            raise ValueError("method 'gaps' needs a scalar p")
        if not on_cpu:
            raise ValueError(f"method 'gaps' runs on the CPU; use method 'uniform' on {device}")
        x = out if out is not None else torch.empty(shape, device=device, dtype=dtype)
        if not x.is_contiguous():
            raise ValueError("out must be contiguous for method 'gaps'")
        return _fill_by_gaps(x, pv, generator)
    u = torch.rand(shape, generator=generator, device=device, dtype=dtype, out=out)
    off = u >= pv
    return u.div_(pv).masked_fill_(off, 0.0)


def _fill_by_gaps(x: torch.Tensor, p: float, generator) -> torch.Tensor:
    """Fill x (contiguous) with Bernoulli(p) * U(0, 1] entries through geometric gaps (see above)."""
    _fill_gaps_rows(x.view(1, -1), [p], [generator])
    return x


def _gap_chunk(n: int, p: float) -> int:
    mean = n * p
    return int(mean + 6.0 * math.sqrt(mean) + 16)  # covers n entries with overwhelming probability


# From this many uniforms in all on, the gaps arithmetic runs in torch (multi-threaded), below in numpy.
_TORCH_MIN_ELEMS = 40_000  # measured crossover on the 2-core CPU: 27k numpy faster, 53k torch faster
# From this many uniforms per row on, the gaps method draws them from a numpy stream (see _uniforms).
_STREAM_MIN_DRAWS = 4096


def _uniforms(generator, m: int):
    """A function filling a float64 numpy array with uniforms in [0, 1) for one row that draws about m.

    A ``numpy.random.Generator`` draws them itself (a persistent stream: :class:`numerics.train.Trainer`
    keeps one per instance, so no stream is set up per row). For a torch generator:

    Why numpy: torch's CPU generator (mt19937) makes a double in ~5-10 ns, numpy's PCG64 in ~2 ns. For
    m >= _STREAM_MIN_DRAWS the row's draws come from a PCG64 stream keyed by one 63-bit draw from the torch
    ``generator`` (None: torch's global one), a pure function of the torch state, so seeds, checkpoints
    (which save the torch state) and per-instance independence carry over; below that, setting up the
    stream costs more than it saves and the torch generator draws them itself.
    """
    if isinstance(generator, np.random.Generator):
        return lambda out: generator.random(out=out)
    if m >= _STREAM_MIN_DRAWS:
        key = int(torch.randint(0, 2**63 - 1, (1,), generator=generator).item())
        rng = np.random.Generator(np.random.PCG64(key))
        return lambda out: rng.random(out=out)
    return lambda out: torch.rand(out.shape, generator=generator, dtype=torch.float64, out=torch.from_numpy(out))


def _gaps_and_values(u: np.ndarray, p) -> tuple[np.ndarray, np.ndarray]:
    """From uniforms u in [0, 1): the geometric gaps G and, from the same draws, independent values in (0, 1].

    With lam = -log(1 - p), L = -log(1 - u) / lam is exponential with rate lam, so G = floor(L) has
    P(G >= k) = exp(-lam k) = (1 - p)^k. The fractional part t = L - G is independent of G (the exponential
    is memoryless: P(t <= s | G = k) = (1 - e^{-lam s}) / (1 - e^{-lam}) for every k), so
    v = (e^{-lam t} - (1 - p)) / p is uniform on (0, 1] and independent of all the gaps: one draw per on
    entry makes both its position and its value. (u = 1, the padding, gives L = inf: an endless gap, and a
    NaN value that is never used.) p is a float or a column of per-row p; u's buffer comes back as v.
    """
    p = np.asarray(p, dtype=np.float64)
    if p.size > 1 and np.all(p == p.flat[0]):
        p = p.flat[0]  # one p for every row: scalar arithmetic, no broadcasting
    if u.size < _TORCH_MIN_ELEMS:  # numpy's ufuncs have less overhead on small arrays
        lam = -np.log1p(-p)
        with np.errstate(divide="ignore", invalid="ignore"):
            np.negative(u, out=u)
            np.log1p(u, out=u)
            u /= -lam  # L
            G = np.floor(u)
            u -= G  # t
            u *= -lam
            np.exp(u, out=u)
            u -= 1.0 - p
            u /= p  # v
        return G, u
    # the same in torch on a view of u's memory: on large arrays it uses every core
    pt = torch.as_tensor(p)
    lam = -torch.log1p(-pt)
    t = torch.from_numpy(u)
    t.neg_().log1p_().div_(-lam)  # L
    G = torch.floor(t)
    t.sub_(G).mul_(-lam).exp_().sub_(1.0 - pt).div_(pt)  # v
    return G.numpy(), u


def _positions(G: np.ndarray, offset) -> np.ndarray:
    """Positions of the on entries from their gaps: offset + cumsum(G + 1) - 1 along the last axis, in place
    (float64: exact integers; torch's cumsum is ~4x numpy's here)."""
    G += 1.0
    t = torch.from_numpy(G)
    torch.cumsum(t, t.ndim - 1, out=t)
    G += np.asarray(offset, dtype=np.float64) - 1.0
    return G


def _fill_gaps_rows(rows: torch.Tensor, ps: list[float], generators: list) -> None:
    """Row k of ``rows`` (K, n), a CPU tensor, gets Bernoulli(ps[k]) * U(0, 1] entries from ``generators[k]``
    alone (the entries of :func:`_gap_entries`, scattered into zeros)."""
    K, n = rows.shape
    rows.zero_()
    flat_idx, flat_val = _gap_entries(K, n, ps, generators, rows.dtype)
    if flat_idx.numel():
        rows.view(-1).index_copy_(0, flat_idx, flat_val)


def _gap_entries(K: int, n: int, ps: list[float], generators: list,
                 dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The on entries of K rows of n features, row k Bernoulli(ps[k]) * U(0, 1] from ``generators[k]`` alone.

    Returns (positions, values): int64 positions in the flattened (K, n) array, increasing, and their values
    (``dtype``). Each row draws a fixed number of uniforms from its own generator, so what a row gets does
    not depend on the other rows; the arithmetic then runs on all rows at once.
    """
    chunks = [_gap_chunk(n, p) if p < 1.0 else 0 for p in ps]
    width = max(chunks)
    draws = [_uniforms(g, m) for g, m in zip(generators, chunks)]
    starts = (np.arange(K, dtype=np.float64) * n)[:, None]  # row k lives at k n ... k n + n - 1
    ends = starts + n
    idx, vals = [], []
    m_arr = np.array(chunks)
    last = np.full(K, math.inf)  # per row: the last position its first chunk reached
    if width:
        u = np.ones((K, width))  # padding u = 1: an endless gap
        for k, (m, draw) in enumerate(zip(chunks, draws)):
            if m:
                draw(u[k, :m])
        p_col = np.array([p if p < 1.0 else 0.5 for p in ps])[:, None]  # rows with p = 1 are all padding
        G, v = _gaps_and_values(u, p_col)
        pos = _positions(G, starts)
        drawn = np.flatnonzero(m_arr)
        last[drawn] = pos[drawn, m_arr[drawn] - 1] - starts[drawn, 0]
        if K == 1:  # the positions are increasing: the kept ones are a prefix
            c = int(np.searchsorted(pos[0], ends[0, 0]))
            idx.append(pos[0, :c])
            vals.append(v[0, :c])
        else:  # one mask for all rows costs less than a prefix search per row
            keep = pos < ends
            idx.append(pos[keep])
            vals.append(v[keep])
    # rows left to finish: p = 1, or (rarely) a first chunk that ended before the row did
    late = np.flatnonzero((np.asarray(ps) >= 1.0) | (last < n - 1)).tolist()
    for k in late:
        p, g, draw = ps[k], generators[k], draws[k]
        if p >= 1.0:
            idx.append(np.arange(k * n, (k + 1) * n, dtype=np.float64))
            if isinstance(g, np.random.Generator):
                vals.append(1.0 - g.random(n))
            else:
                vals.append((1.0 - torch.rand(n, generator=g, dtype=dtype)).double().numpy())
            continue
        start = int(last[k]) + 1 if math.isfinite(last[k]) else n
        while start < n:  # rare: the first chunk ended before the row did
            uu = np.empty(_gap_chunk(n - start, p))
            draw(uu)
            G, v = _gaps_and_values(uu, p)
            pos = _positions(G, starts[k, 0] + start)
            keep = pos < ends[k, 0]
            idx.append(pos[keep])
            vals.append(v[keep])
            start = int(pos[-1] - starts[k, 0]) + 1
    if not idx:
        return torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=dtype)
    flat_idx = (np.concatenate(idx) if len(idx) > 1 else idx[0]).astype(np.int64)
    flat_val = np.concatenate(vals) if len(vals) > 1 else vals[0]
    if late:  # the late entries were appended after every row's first chunk: put them in order
        order = np.argsort(flat_idx, kind="stable")
        flat_idx, flat_val = flat_idx[order], flat_val[order]
    return torch.from_numpy(flat_idx), torch.from_numpy(flat_val).to(dtype)


def sample_instances(out: torch.Tensor, ps, generators) -> torch.Tensor:
    """Fill ``out`` (K, batch, n_s) with instance k's features from ``generators[k]`` and ``ps[k]``.

    Instance k's values depend only on its own generator and p (so K models sampled together see what
    each would see alone). On the CPU with every p <= GAPS_MAX_P (0.25) the gaps method runs for all
    instances at once; otherwise each instance is drawn by :func:`sample_features`. A generator is a torch.Generator,
    or for the gaps method also a ``numpy.random.Generator`` (a persistent stream that draws the uniforms
    itself, the fastest way for many small instances).
    """
    K = out.shape[0]
    if len(ps) != K or len(generators) != K:
        raise ValueError(f"ps and generators must have one entry per instance ({K})")
    if out.device.type == "cpu" and out.is_contiguous() and all(0.0 < p <= GAPS_MAX_P for p in ps):
        _fill_gaps_rows(out.view(K, -1), [float(p) for p in ps], list(generators))
        return out
    for k in range(K):
        if isinstance(generators[k], np.random.Generator):
            if not (out.device.type == "cpu" and out[k].is_contiguous() and 0.0 < ps[k] <= GAPS_MAX_P):
                raise ValueError(f"a numpy generator needs the gaps method: a contiguous CPU out and "
                                 f"p <= {GAPS_MAX_P}, got p = {ps[k]!r} on {out.device}")
            _fill_gaps_rows(out[k].view(1, -1), [float(ps[k])], [generators[k]])
        else:
            sample_features(out.shape[1], out.shape[2:], ps[k], generator=generators[k], out=out[k])
    return out


@dataclass(frozen=True)
class SparseFeatures:
    """A (K, batch, n_s) batch of features kept as its on entries, with each instance's matrix in CSR form.

    ``positions`` (int64, increasing) index the flattened (K, batch, n_s) array and ``values`` are the
    entries there; ``bounds[k]:bounds[k + 1]`` are instance k's entries. ``rows[k]`` is x_k, (batch, n_s),
    a torch sparse CSR tensor over the same values (in row order already, so it costs a few passes over the
    entries). :meth:`transposed` gives x_k^T as CSR too, made on first use: the training step multiplies by
    x_k (h = x W_in^T) and by x_k^T (dL/dW_in^T = x^T dL/dh), and a CSR product is fast only untransposed.
    """

    shape: tuple[int, int, int]
    positions: torch.Tensor
    values: torch.Tensor
    bounds: tuple[int, ...]
    rows: tuple[torch.Tensor, ...]
    _cols: dict = field(default_factory=dict, repr=False, compare=False)

    def transposed(self, k: int) -> torch.Tensor:
        """x_k^T, (n_s, batch), as a sparse CSR tensor (computed once, then cached)."""
        k = check_int(k, "k", low=0, high=self.shape[0] - 1)
        if k not in self._cols:
            x = self.rows[k]
            self._cols[k] = _transpose_csr(x.crow_indices().numpy(), x.col_indices().numpy(), x.values(),
                                           self.shape[1], self.shape[2])
        return self._cols[k]

    def to_dense(self) -> torch.Tensor:
        """The batch as a dense (K, batch, n_s) tensor."""
        x = torch.zeros(self.shape, dtype=self.values.dtype)
        x.view(-1).index_copy_(0, self.positions, self.values)
        return x


def _csr(crow: np.ndarray, col: np.ndarray, values: torch.Tensor, shape) -> torch.Tensor:
    with warnings.catch_warnings():  # torch flags its sparse CSR support as beta on every construction
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(col), values, shape)


def _rows_csr(local: np.ndarray, values: torch.Tensor, batch: int, n_s: int) -> torch.Tensor:
    """x as a CSR tensor from the increasing positions ``local`` (int32) of its entries in (batch, n_s)."""
    col = local & (n_s - 1) if n_s & (n_s - 1) == 0 else local % np.int32(n_s)  # a mask for a power of two
    crow = np.searchsorted(local, np.arange(0, (batch + 1) * n_s, n_s, dtype=np.int64)).astype(np.int32)
    return _csr(crow, col, values, (batch, n_s))


def _transpose_csr(crow: np.ndarray, col: np.ndarray, values: torch.Tensor, batch: int, n_s: int) -> torch.Tensor:
    """x^T as CSR from x's CSR arrays: the entries ordered by column, then row. scipy's CSR -> CSC
    conversion is a compiled counting sort (linear, one pass over the entries); it measured 2.3-2.5x
    faster than numpy's stable radix argsort and two takes (benchmarks/README.md)."""
    t = scipy.sparse.csr_matrix((values.numpy(), col, crow), shape=(batch, n_s)).tocsc()
    index = np.int32 if max(t.indptr.dtype.itemsize, t.indices.dtype.itemsize) == 4 else np.int64
    return _csr(t.indptr.astype(index, copy=False), t.indices.astype(index, copy=False), torch.from_numpy(t.data),
                (n_s, batch))


def sample_instances_sparse(shape, ps, generators, *, dtype: torch.dtype = torch.float32) -> SparseFeatures:
    """Instance k's features (K, batch, n_s) from ``generators[k]`` (torch or numpy) and ``ps[k]``, as
    :class:`SparseFeatures`.

    The same draws as :func:`sample_instances` on the CPU with every p <= GAPS_MAX_P (0.25; the gaps
    method): for the same generator states, ``sample_instances_sparse(...).to_dense()`` equals what it writes. Nothing
    dense is made, so the cost grows with the number of on entries, about p K batch n_s.
    """
    if len(shape) != 3:
        raise ValueError(f"shape must be (instances, batch, n_s), got {tuple(shape)}")
    K, batch, n_s = (check_int(d, name, low=1) for d, name in zip(shape, ("instances", "batch", "n_s")))
    if len(ps) != K or len(generators) != K:
        raise ValueError(f"ps and generators must have one entry per instance ({K})")
    if not all(0.0 < p <= GAPS_MAX_P for p in ps):
        raise ValueError(f"every p must be in (0, {GAPS_MAX_P}] for sparse samples, got {list(ps)}")
    if batch * n_s >= 1 << 31:
        raise ValueError(f"batch * n_s must be below 2^31 for sparse samples, got {batch * n_s}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64 for sparse samples, got {dtype}")
    n = batch * n_s
    positions, values = _gap_entries(K, n, [float(p) for p in ps], list(generators), dtype)
    flat = positions.numpy()
    bounds = np.searchsorted(flat, np.arange(K + 1, dtype=np.int64) * n).tolist()
    rows = tuple(_rows_csr((flat[lo:hi] - k * n).astype(np.int32), values[lo:hi], batch, n_s)
                 for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])))
    return SparseFeatures((K, batch, n_s), positions, values, tuple(bounds), rows)


def two_group_importance(n_s: int, alpha: float, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """Appendix H's weights: M_i = 1 for the first n_s / 2 features, alpha for the rest (0 <= alpha <= 1)."""
    n_s = check_int(n_s, "n_s", low=2)
    if n_s % 2:
        raise ValueError(f"n_s must be even for two equal groups, got {n_s}")
    a = float(alpha)
    if not (0.0 <= a <= 1.0):
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    m = torch.ones(n_s, dtype=dtype, device=device)
    m[n_s // 2 :] = a
    return m


def decaying_importance(n_s: int, decay: float, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """Toy Models' importances I_i = decay^i, i = 0 .. n_s - 1 (e.g. decay = 0.7), with 0 < decay <= 1."""
    n_s = check_int(n_s, "n_s", low=1)
    d = check_positive(decay, "decay")
    if d > 1.0:
        raise ValueError(f"decay must be in (0, 1], got {decay!r}")
    return torch.tensor([math.pow(d, i) for i in range(n_s)], dtype=dtype, device=device)
