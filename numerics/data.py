r"""Sparse synthetic features and importance weights (paper sec. 2; Toy Models sec. 2).

Each feature is x_i = Bernoulli(p) * Uniform[0, 1], independently. :func:`sample_features` draws one
uniform per entry and maps it; why that has exactly the right law is proved in its docstring.
"""

from __future__ import annotations

import math

import torch

from ._validation import check_int, check_positive

__all__ = ["sample_features", "sample_instances", "two_group_importance", "decaying_importance"]


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
        scalar p <= 0.25 on the CPU, where it is several times faster, "uniform" otherwise.

    **The "gaps" method** draws only what is random in a sparse sample. In the flattened sample the
    entries that are on form a Bernoulli(p) process, whose gaps G (the number of off entries before the
    next on entry) are i.i.d. geometric, P(G = k) = (1 - p)^k p; G = floor(log(1 - u) / log(1 - p)) with
    u ~ U[0, 1) has exactly that law, since P(G >= k) = P(1 - u <= (1 - p)^k) = (1 - p)^k. So the positions
    of the on entries are the partial sums of G + 1, and each gets its own value 1 - u' ~ U(0, 1]: about
    2 p n draws instead of n. The CPU generator draws one number at a time (~6 ns), so for p = 0.05 this
    is ~5x faster; on CUDA the uniform method is already memory-bound and is used.
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
        method = "gaps" if (isinstance(pv, float) and pv <= 0.25 and on_cpu) else "uniform"
    if method == "gaps":
        if not isinstance(pv, float):
            raise ValueError("method 'gaps' needs a scalar p")
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


def _fill_gaps_rows(rows: torch.Tensor, ps: list[float], generators: list) -> None:
    """Row k of ``rows`` (K, n) gets Bernoulli(ps[k]) * U(0, 1] entries, from ``generators[k]`` alone.

    Each row draws a fixed number of gaps and of values from its own generator (so what a row gets
    does not depend on the other rows); the arithmetic then runs on all rows at once.
    """
    K, n = rows.shape
    dev = rows.device
    rows.zero_()
    chunks = [_gap_chunk(n, p) if p < 1.0 else 0 for p in ps]
    width = max(chunks)
    if width:
        u = torch.ones(K, width, device=dev, dtype=torch.float64)  # padding u = 1: an infinite gap
        v = torch.zeros(K, width, device=dev, dtype=rows.dtype)
        for k, (m, g) in enumerate(zip(chunks, generators)):
            if m:
                torch.rand(m, generator=g, device=dev, dtype=torch.float64, out=u[k, :m])
                torch.rand(m, generator=g, device=dev, dtype=rows.dtype, out=v[k, :m])
        log_q = torch.tensor([math.log1p(-p) if p < 1.0 else -1.0 for p in ps], device=dev, dtype=torch.float64)
        pos = torch.cumsum(torch.floor(torch.log1p(-u) / log_q[:, None]) + 1.0, dim=1) - 1.0
        last = [pos[k, m - 1].item() if m else math.inf for k, m in enumerate(chunks)]
        keep = pos < n
        flat_pos = (pos + (torch.arange(K, device=dev, dtype=torch.float64) * n)[:, None])[keep].long()
        rows.view(-1).index_copy_(0, flat_pos, 1.0 - v[keep])  # values in (0, 1]
    else:
        last = [math.inf] * K
    for k, (p, g) in enumerate(zip(ps, generators)):
        if p >= 1.0:
            rows[k].copy_(1.0 - torch.rand(n, generator=g, device=dev, dtype=rows.dtype))
            continue
        start = int(last[k]) + 1 if math.isfinite(last[k]) else n
        while start < n:  # rare: the first chunk ended before the row did
            m = _gap_chunk(n - start, p)
            uu = torch.rand(m, generator=g, device=dev, dtype=torch.float64)
            vv = torch.rand(m, generator=g, device=dev, dtype=rows.dtype)
            pp = torch.cumsum(torch.floor(torch.log1p(-uu) / math.log1p(-p)) + 1.0, 0) + (start - 1)
            ok = pp < n
            rows[k].index_copy_(0, pp[ok].long(), 1.0 - vv[ok])
            start = int(pp[-1].item()) + 1


def sample_instances(out: torch.Tensor, ps, generators) -> torch.Tensor:
    """Fill ``out`` (K, batch, n_s) with instance k's features from ``generators[k]`` and ``ps[k]``.

    Instance k's values depend only on its own generator and p (so K models sampled together see what
    each would see alone). On the CPU with every p <= 0.25 the gaps method runs for all instances at
    once; otherwise each instance is drawn by :func:`sample_features`.
    """
    K = out.shape[0]
    if len(ps) != K or len(generators) != K:
        raise ValueError(f"ps and generators must have one entry per instance ({K})")
    if out.device.type == "cpu" and out.is_contiguous() and all(0.0 < p <= 0.25 for p in ps):
        _fill_gaps_rows(out.view(K, -1), [float(p) for p in ps], list(generators))
        return out
    for k in range(K):
        sample_features(out.shape[1], out.shape[2:], ps[k], generator=generators[k], out=out[k])
    return out


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
