"""Intervals for judged numbers (scipy.stats): every number a verdict rests on is an :class:`Estimate`.

An estimate keeps what its interval is made of (a value, a standard error and the degrees of freedom of
that error, or the counts of a binomial), so that the interval can be drawn at whatever confidence the
judge asks for: a claim over m points asks each point for level ``1 - (1 - CONFIDENCE) / m``
(Bonferroni), so that the claim as a whole errs with probability at most ``1 - CONFIDENCE``.

- :func:`over_seeds`: the mean of independent replicates (seeds), a Student t interval. One replicate
  has no interval (it is unbounded): a claim about trained models judged from one seed is inconclusive.
- :func:`from_se`: a value with a standard error of known degrees of freedom (a held-out mean, a
  regression coefficient); ``dof=inf`` is the normal interval.
- :func:`exact`: a computed number (no noise): the interval is the point.
- :func:`binomial`: a proportion k / n, the Clopper-Pearson interval.
- :func:`common_slope`: the slope of y on x shared by several groups, each with its own intercept (OLS),
  with its t interval: the trend of a quantity against n_s over seeds x configurations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

__all__ = ["CONFIDENCE", "Estimate", "over_seeds", "from_se", "exact", "binomial", "common_slope",
           "bonferroni"]

#: the confidence of every judged claim as a whole
CONFIDENCE = 0.95


def bonferroni(m: int, confidence: float = CONFIDENCE) -> float:
    """The per-point confidence that gives ``confidence`` for m points together."""
    return 1.0 - (1.0 - confidence) / max(int(m), 1)


@dataclass(frozen=True)
class Estimate:
    """A measured number and what its interval is made of.

    value : the estimate. se, dof : its standard error and that error's degrees of freedom (t interval;
    dof = inf: normal; dof = 0: no interval, e.g. a single seed). k, n : a binomial count (then the
    interval is Clopper-Pearson and se/dof are unused). method : how it was measured, for the report.
    """

    value: float
    se: float = 0.0
    dof: float = math.inf
    method: str = "exact"
    k: int | None = None
    n: int | None = None

    def interval(self, level: float = CONFIDENCE) -> tuple[float, float]:
        """The two-sided ``level`` interval (lo, hi)."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        if self.k is not None:
            res = _st.binomtest(self.k, self.n).proportion_ci(confidence_level=level, method="exact")
            return float(res.low), float(res.high)
        if not math.isfinite(self.value):
            return -math.inf, math.inf
        if self.se == 0:
            return self.value, self.value
        if self.dof <= 0 or not math.isfinite(self.se):
            return -math.inf, math.inf
        q = _st.norm.ppf(0.5 + level / 2) if math.isinf(self.dof) else _st.t.ppf(0.5 + level / 2, self.dof)
        return float(self.value - q * self.se), float(self.value + q * self.se)

    def scaled(self, factor: float, shift: float = 0.0) -> "Estimate":
        """factor * estimate + shift (a ratio to an exact reference, say); binomials are not scaled."""
        if self.k is not None:
            raise ValueError("a binomial estimate cannot be scaled")
        return Estimate(factor * self.value + shift, abs(factor) * self.se, self.dof, self.method)

    def as_dict(self, level: float = CONFIDENCE) -> dict:
        lo, hi = self.interval(level)
        out = {"value": self.value, "lo": lo, "hi": hi, "level": level, "method": self.method}
        if self.k is not None:
            out |= {"k": self.k, "n": self.n}
        elif self.se:
            out |= {"se": self.se, "dof": self.dof}
        return out


def _finite(values) -> np.ndarray:
    v = np.asarray([math.nan if x is None else x for x in values], dtype=float).ravel()
    return v[np.isfinite(v)]


def over_seeds(values, method: str = "mean over seeds, t") -> Estimate:
    """The mean of independent replicates with its t interval (n - 1 degrees of freedom).

    Non-finite replicates (a diverged seed) are dropped; with none left the value is NaN. One replicate
    gives an unbounded interval; replicates that agree exactly give the point (an exact measurement)."""
    v = _finite(values)
    if v.size == 0:
        return Estimate(math.nan, math.inf, 0, method + " (no finite replicate)")
    if v.size == 1:
        return Estimate(float(v[0]), math.inf, 0, method + " (1 seed: no interval)")
    se = float(np.std(v, ddof=1) / math.sqrt(v.size))
    return Estimate(float(v.mean()), se, v.size - 1, f"{method} (n = {v.size})")


def from_se(value: float, se: float, dof: float = math.inf, method: str = "standard error") -> Estimate:
    """A value with its standard error (``dof``: the error's degrees of freedom, inf for a normal)."""
    if se is None or not math.isfinite(float(se)):
        return Estimate(float(value), math.inf, 0, method + " (no standard error)")
    return Estimate(float(value), float(se), dof, method)


def exact(value: float, method: str = "exact") -> Estimate:
    """A computed number: no noise."""
    return Estimate(float(value), 0.0, math.inf, method)


def binomial(k: int, n: int, method: str = "Clopper-Pearson") -> Estimate:
    """The proportion k / n with its exact (Clopper-Pearson) interval."""
    k, n = int(k), int(n)
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    return Estimate(k / n, method=f"{method} ({k} of {n})", k=k, n=n)


def common_slope(x, y, groups, method: str = "common log-log slope, OLS") -> Estimate:
    """The slope beta of y = alpha_g + beta x + noise, one intercept per group, by least squares.

    Its standard error comes from the residual variance with n - (G + 1) degrees of freedom (G groups);
    with no residual degrees of freedom the interval is unbounded. Non-finite points are dropped."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    g = np.array([repr(v) for v in groups])  # any hashable label, compared by its repr
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, g = x[ok], y[ok], g[ok]
    labels = sorted(set(g.tolist()))
    if x.size < 2 or len(labels) == 0:
        return Estimate(math.nan, math.inf, 0, method + " (too few points)")
    design = np.column_stack([x] + [(g == lab).astype(float) for lab in labels])
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    if rank < design.shape[1]:
        return Estimate(math.nan, math.inf, 0, method + " (x does not vary within a group)")
    dof = x.size - design.shape[1]
    resid = y - design @ coef
    if dof <= 0:
        return Estimate(float(coef[0]), math.inf, 0, method + " (no residual degrees of freedom)")
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(design.T @ design)
    return Estimate(float(coef[0]), float(math.sqrt(max(cov[0, 0], 0.0))), dof,
                    f"{method} ({x.size} points, {len(labels)} groups)")
