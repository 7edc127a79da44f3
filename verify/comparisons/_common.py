"""What the comparisons share: the run context, the tolerances and regimes declared once (each with the
reasoning that fixed it before any data), and small readers of stored data."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import theory
from numerics.rug_model import fit_rug

from ..claims import Criterion, Regime
from ..measure import EXACT_TOL
from ..profiles import Profile, stage_seed
from ..stats import Estimate, from_se, over_seeds

__all__ = ["Context", "GAUSSIAN", "SAME_CURVE", "CONSISTENT", "rug_fit", "rug_record", "replicas", "group_by",
           "stage_seed", "mmse_at", "ratio_over_seeds", "ratio_from_se"]


@dataclass
class Context:
    """What a comparison runs with: the profile, the report directory, where trained runs go, whether to
    show progress bars, and the trained grid's records (for the comparisons built on them)."""

    profile: Profile
    out: Path
    work: Path
    progress: bool = True
    records: list | None = None
    executor: object = None  # where training runs go (numerics.executor); None: here


# ---- declared before any data -----------------------------------------------------------------------
#: The macroscopic theory treats the interference nu_i as Gaussian. For a row of n_s comparable weights
#: and x_j = Bernoulli(p) U[0, 1], nu_i sums about p n_s active terms: its excess kurtosis is
#: E x^4 / (n_s Var(x)^2) ~ (p/5) / (n_s p^2 / 9) = 1.8 / (p n_s), and Berry-Esseen's Lambda is of order
#: E|x|^3 / (sqrt(n_s) Var(x)^{3/2}) ~ 1.3 / sqrt(p n_s). Both are small (0.02 and 0.13) from p n_s = 100
#: on; below it a handful of active features make the interference visibly non-Gaussian. Claims that
#: the Gaussian theory describes a model are about this regime.
GAUSSIAN = Regime(p_n_s=(100, None), reason="Gaussian interference: excess kurtosis 1.8 / (p n_s) <= 0.02")

#: "Essentially the same" loss: the paper compares loss curves on plots (fig. 2, fig. 15) whose log axes
#: span two or more decades, where a line is about 5 % wide; it states no tighter number. So two losses
#: (or parameters) are "the same" when they differ by at most 5 % relative.
SAME_CURVE = Criterion("within", 0.05, relative=True,
                       reason="5 %: a line width on the paper's log-scale loss plots; it states nothing tighter")


def rug_fit(n_s: int, r: float, p: float, profile: Profile, seed: int):
    """fit_rug's deterministic (a, b) fit with a held-out loss and its standard error."""
    kw = dict(method="fit", seed=seed, device=profile.device, progress=False)
    if profile.rug_samples is not None:
        kw["n_samples"] = profile.rug_samples
    return fit_rug(n_s, r, p, **kw)


def rug_record(n_s: int, r: float, p: float, profile: Profile, seed: int, *, optimum: bool = False) -> dict:
    """The rug fitted by fit_rug (held-out loss and its standard error) beside theory's exact loss at the
    fitted (a, b, S) and, with ``optimum``, the exact optimal (a, b) for the same S (no sampling)."""
    fit = rug_fit(n_s, r, p, profile, seed)
    S = np.asarray(fit.S)
    exact = theory.rug_exact_loss(fit.a, fit.b, p, n_s, S, tol=EXACT_TOL)
    rec = {"n_s": n_s, "n_d": fit.n_d, "a": fit.a, "b": fit.b, "loss": fit.loss, "se": fit.loss_se,
           "exact_at_fit": exact.loss, "exact_at_fit_bound": exact.error_bound}
    if optimum:
        opt = theory.rug_optimal_ab(p, n_s, S)
        rec |= {"exact_opt_loss": opt.loss, "exact_opt_a": opt.a, "exact_opt_b": opt.b,
                "exact_opt_bound": opt.error_bound}
    return rec


#: a held-out (Monte Carlo) loss and the exact loss of the same model are one number measured twice: they
#: must agree within the held-out interval, up to the exact computation's accuracy (EXACT_TOL, 1e-5
#: relative); the confidence is 1 - 1e-4 so that noise alone almost never reports a bug
CONSISTENT = Criterion("consistent", EXACT_TOL, relative=True, confidence=1 - 1e-4,
                       reason="the exact loss is computed to 1e-5 relative")


# ---- reading stored data (older one-seed stage files included) ---------------------------------------
def replicas(d: dict, many: str, one: str) -> list:
    """The per-seed values stored under ``many`` (a list), or the single value of an older one-seed file
    under ``one``; None (NaN in JSON) becomes NaN."""
    v = d.get(many)
    if v is None:
        v = d.get(one)
        v = [] if v is None else [v]
    return [math.nan if x is None else x for x in v]


def group_by(records: list[dict], *keys: str) -> dict[tuple, list[dict]]:
    """Records grouped by the values of ``keys`` (sorted)."""
    out: dict[tuple, list[dict]] = {}
    for rec in records:
        out.setdefault(tuple(rec[k] for k in keys), []).append(rec)
    return dict(sorted(out.items()))


def mmse_at(p: float, sigma: float) -> float:
    """theory.mmse_loss at a measured sigma; NaN where sigma is not finite or absurdly large (an unlearned
    model)."""
    return float(theory.mmse_loss(p, sigma)) if np.isfinite(sigma) and sigma <= 1e3 else math.nan


def ratio_over_seeds(values, reference: float) -> Estimate:
    """The mean over seeds of value / reference (reference exact), with its t interval."""
    return over_seeds(np.asarray(values, dtype=float) / reference, "mean over seeds of the ratio, t")


def ratio_from_se(value: float, se: float, reference: float, method: str = "held-out standard error") -> Estimate:
    """value / reference for a value with a standard error (reference exact); normal interval."""
    if value is None:
        return Estimate(math.nan, math.inf, 0, method + " (not measured)")
    return from_se(value / reference, (se if se is not None else math.inf) / reference, math.inf, method)
