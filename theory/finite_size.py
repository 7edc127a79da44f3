r"""The finite-size excess of the Persian rug: how far the best rug at finite n_s sits above L*.

The macroscopic optimum L*(p, r) (:func:`theory.optimal_loss`) is exact only as n_s -> infinity, where
the interference is Gaussian. At finite n_s the rug's interference nu = a sum_{m != 0} g(m) x_m is a sum
of about p n_s active terms, so its excess kurtosis is about 1.8 / (p n_s) and the best rug pays for it.
:func:`rug_finite_size` computes that price exactly: for each of ``draws`` random column sets S it
minimises the exact rug loss (:func:`theory.rug_optimal_ab`) and reports

    excess = min_{a, b} L_rug(a, b; p, n_s, S) / L*(p, n_d / n_s) - 1,

with a t interval over the draws (the rug's loss depends on S through the multiset of its first row).
No sampling of data is involved: each number is exact to the relative accuracy ``tol``.

The draws of S follow numerics' convention, ``np.sort(default_rng(seed + k).choice(n_s, n_d,
replace=False))``, so draw k is the column set of ``numerics.RugOperator(n_s, n_d, seed=seed + k)``
(written out here because theory never imports numerics).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._validation import check_p, check_r
from .interference import rug_optimal_ab
from .optimum import optimal_loss

__all__ = ["FiniteSizeExcess", "rug_columns", "rug_finite_size"]


def rug_columns(n_s: int, n_d: int, seed: int) -> np.ndarray:
    """The column set S of draw ``seed``: n_d of range(n_s) without replacement, sorted.

    n_s a power of two >= 1, 1 <= n_d <= n_s, seed an integer >= 0 (ValueError naming the parameter)."""
    n_s = _check_int(n_s, "n_s", 1)
    if n_s & (n_s - 1):
        raise ValueError(f"n_s must be a power of two >= 1, got {n_s!r}")
    n_d = _check_int(n_d, "n_d", 1)
    if n_d > n_s:
        raise ValueError(f"n_d must be an integer in [1, n_s = {n_s}], got {n_d!r}")
    seed = _check_int(seed, "seed", 0)
    return np.sort(np.random.default_rng(seed).choice(n_s, size=n_d, replace=False)).astype(np.int64)


@dataclass(frozen=True, eq=False)
class FiniteSizeExcess:
    """The best rug at finite n_s against L* (:func:`rug_finite_size`).

    ``losses``, ``a``, ``b``: the exact optimum of each draw of S (b is the raw bias);
    ``large_ns_loss``: L*(p, n_d / n_s); ``excess`` = losses / large_ns_loss - 1 per draw;
    ``mean`` its mean and (``low``, ``high``) the two-sided ``confidence`` t interval over draws
    (NaN-free: with one draw the interval is the point itself and ``n_draws`` says so).
    """

    p: float
    r: float
    n_s: int
    n_d: int
    seeds: tuple[int, ...]
    a: np.ndarray
    b: np.ndarray
    losses: np.ndarray
    large_ns_loss: float
    excess: np.ndarray
    mean: float
    low: float
    high: float
    confidence: float

    @property
    def p_ns(self) -> float:
        """p n_s, the mean number of active features: the excess is governed by it."""
        return self.p * self.n_s

    @property
    def n_draws(self) -> int:
        return int(self.excess.size)

    def as_dict(self) -> dict:
        """The fields as plain floats and lists (for JSON)."""
        out = {k: getattr(self, k) for k in ("p", "r", "n_s", "n_d", "large_ns_loss", "mean", "low", "high")}
        out.update(confidence=self.confidence, p_ns=self.p_ns, seeds=list(self.seeds))
        for k in ("a", "b", "losses", "excess"):
            out[k] = [float(v) for v in getattr(self, k)]
        return out


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def rug_finite_size(p, r, n_s, *, draws=3, seed=0, tol=1e-6, confidence=0.95) -> FiniteSizeExcess:
    r"""The exact excess of the optimal rug over L*(p, r) at finite n_s, over ``draws`` column sets.

    p in (0, 1]; r in (0, 1] with r n_s a whole number n_d; n_s a power of two; ``draws`` >= 1 column
    sets S, draw k seeded ``seed + k`` (:func:`rug_columns`); ``tol``: the relative accuracy of each
    exact loss (1e-6 keeps one optimum under a second at n_s = 1024, p n_s = 3). Cost: about 50
    evaluations of the exact rug loss per draw, each O(n_s log n_s) plus a Fourier sum whose length
    grows as p n_s falls.
    """
    p_v = float(check_p(p))
    r_v = float(check_r(r))
    if isinstance(n_s, bool) or not isinstance(n_s, (int, np.integer)) or n_s < 2 or (int(n_s) & (int(n_s) - 1)):
        raise ValueError(f"n_s must be a power of two >= 2, got {n_s!r}")
    n_s = int(n_s)
    n_d = int(round(r_v * n_s))
    if n_d < 1 or abs(n_d - r_v * n_s) > 1e-9 * n_s:
        raise ValueError(f"r must make r * n_s a whole number >= 1, got r = {r!r} with n_s = {n_s}")
    draws = _check_int(draws, "draws", 1)
    seed = _check_int(seed, "seed", 0)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    seeds = tuple(seed + k for k in range(draws))
    opts = [rug_optimal_ab(p_v, n_s, rug_columns(n_s, n_d, s), tol=tol) for s in seeds]
    losses = np.array([o.loss for o in opts])
    ref = float(optimal_loss(p_v, n_d / n_s))
    excess = losses / ref - 1.0
    mean = float(excess.mean())
    if draws > 1:
        from scipy import stats

        half = float(stats.t.ppf(0.5 + confidence / 2, draws - 1) * excess.std(ddof=1) / math.sqrt(draws))
    else:
        half = 0.0
    return FiniteSizeExcess(
        p=p_v,
        r=n_d / n_s,
        n_s=n_s,
        n_d=n_d,
        seeds=seeds,
        a=np.array([o.a for o in opts]),
        b=np.array([o.b for o in opts]),
        losses=losses,
        large_ns_loss=ref,
        excess=excess,
        mean=mean,
        low=mean - half,
        high=mean + half,
        confidence=float(confidence),
    )
