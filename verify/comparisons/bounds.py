"""Bounds and the theory against the trained grid: each model's sigma against the Welch minimum, its loss
against L* and against the rug at its own n_s, the theory's loss at its own (a, effective b, sigma), and
its macroscopic parameters against the theory's optimum."""

from __future__ import annotations

import math

import numpy as np

import theory

from ..claims import Criterion, Point, claim, comparison
from ..figures import draw_theory_vs_trained
from ..stats import common_slope, exact, from_se, over_seeds
from ._common import CONSISTENT, GAUSSIAN, SAME_CURVE, Context, group_by, mmse_at, rug_fit, stage_seed

NAME = "bounds_vs_trained"


def _rel(a, b):
    return abs(a - b) / abs(b) if b else math.inf


@comparison(NAME, "Bounds and the theory against trained models", needs_grid=True)
def bounds_vs_trained(ctx: Context):
    rows = []
    rugs = {}
    for rec in ctx.records:
        n_s, p, r = rec["n_s"], rec["p"], rec["r"]
        if (n_s, p, r) not in rugs and n_s & (n_s - 1) == 0:  # the rug at the model's own size
            fit = rug_fit(n_s, r, p, ctx.profile, seed=stage_seed(ctx.profile, 200 + len(rugs)))
            rugs[n_s, p, r] = {"loss": fit.loss, "se": fit.loss_se}
        mp = rec["macroscopic"]
        welch = float(theory.welch_sigma(p, r))
        sigma = mp["sigma_rms"]
        rug = rugs.get((n_s, p, r), {})
        rows.append({
            "n_s": n_s, "p": p, "r": r, "seed": rec.get("seed", 0), "p_n_s": p * n_s, "loss": rec["loss"],
            "loss_se": rec["loss_se"], "a": mp["a"], "b_eff": mp["b_eff"], "sigma": sigma, "welch_sigma": welch,
            "sigma_over_welch": sigma / welch if welch > 0 else math.nan,
            "mmse_at_sigma": mmse_at(p, sigma),
            "L_star": float(theory.optimal_loss(p, r)), "rug_loss": rug.get("loss"), "rug_se": rug.get("se"),
            "theory_own": rec["theory_loss_own_params"], "theory_per_row": rec["theory_loss_per_row"],
            "exact_loss": rec.get("exact_loss"), "exact_mmse_rows": rec.get("exact_mmse_rows"),
            "decomposition": rec.get("decomposition"), "dead_features": rec["dead_features"],
        })
    fig = draw_theory_vs_trained(rows, ctx.out / "theory_vs_trained.png")
    return {"rows": rows}, [fig]


def _where(key):
    n_s, p, r = key
    return {"n_s": n_s, "p": p, "r": r}


@claim(NAME, "bounds.welch", kind="sanity", statement="Every rank-n_d model has interference at least the Welch "
       "minimum: sqrt(mean_i Var nu_i) >= sqrt(Var x (n_s / n_d - 1)) (a theorem for every rank-n_d matrix: it "
       "checks the toolkit's measurement, not the paper).", source="eq. 6, appendix D",
       quantity="sigma / Welch sigma of every trained model", reference="1",
       criterion=Criterion("at_least", 1e-9, relative=True, reason="exact inequality up to float rounding"))
def _welch(data, profile):
    return [Point(exact(row["sigma_over_welch"]), 1.0, _where((row["n_s"], row["p"], row["r"])) | {"seed": row.get("seed", 0)})
            for row in data["rows"]]


def _ratio_points(data, num: str, den: str):
    out = []
    for key, rows in group_by(data["rows"], "n_s", "p", "r").items():
        if rows[0].get(den) is None:
            continue
        out.append(Point(over_seeds([row[num] / row[den] for row in rows], f"mean over seeds of {num} / {den}, t"),
                         1.0, _where(key)))
    return out


@claim(NAME, "bounds.trained_not_below_Lstar", statement="Trained models are optimal among statistically "
       "symmetric solutions and do not beat the large-n_s theory's L*(p, r).", source="sec. 4 (opening), fig. 2",
       quantity="loss / L* per (n_s, p, r), mean over seeds", reference="1",
       criterion=Criterion("at_least", 0.05, relative=True, reason=SAME_CURVE.reason), regime=GAUSSIAN)
def _not_below(data, profile):
    return _ratio_points(data, "loss", "L_star")


@claim(NAME, "bounds.trained_matches_rug", statement="Trained models achieve the same performance as the "
       "artificial (Persian Rug) model, compared at the same n_s.", source="sec. 4 (opening), sec. 4.2.2",
       quantity="loss / rug loss at the same (n_s, p, r), mean over seeds", reference="1", criterion=SAME_CURVE,
       regime=GAUSSIAN)
def _matches_rug(data, profile):
    return _ratio_points(data, "loss", "rug_loss")


def _deviation(row) -> float:
    """The largest relative deviation of (a, effective b, sigma, loss) from (a*, b*, Welch sigma, L*)."""
    opt = theory.optimal_ab(row["p"], row["r"])
    devs = [_rel(row["a"], opt.a), _rel(row["b_eff"], opt.b), _rel(row["sigma"], row["welch_sigma"]),
            _rel(row["loss"], row["L_star"])]
    return max(d if np.isfinite(d) else math.inf for d in devs)


@claim(NAME, "bounds.large_ns_at_optimum", statement="Large trained models implement the optimal statistically "
       "symmetric algorithm: their (a, effective b, sigma) are the theory's (a*, b*, Welch sigma) and their loss "
       "is L*(p, r).", source="sec. 4 (opening), sec. 4.2.2, abstract",
       quantity="each of a / a*, b_eff / b*, sigma / Welch sigma, loss / L* per (n_s, p, r), mean over seeds",
       reference="1", criterion=SAME_CURVE, regime=GAUSSIAN)
def _at_optimum(data, profile):
    out = []
    for key, rows in group_by(data["rows"], "n_s", "p", "r").items():
        opt = theory.optimal_ab(key[1], key[2])
        for name, ref in (("a", opt.a), ("b_eff", opt.b), ("sigma", rows[0]["welch_sigma"]), ("loss", rows[0]["L_star"])):
            out.append(Point(over_seeds([row[name] / ref for row in rows], f"mean over seeds of {name} / optimum, t"),
                             1.0, _where(key) | {"quantity": name}))
    return out


@claim(NAME, "bounds.approaches_optimum", statement="Trained models get ever closer to the theory's optimum as "
       "n_s grows.", source="sec. 4 (opening), abstract",
       quantity="log-log slope against n_s of the largest relative deviation from (a*, b*, Welch sigma, L*), "
       "common to every (p, r), over seeds x n_s", reference="0",
       criterion=Criterion("at_most", 0.0, reason="the sign of the trend"))
def _approaches(data, profile):
    rows = data["rows"]
    if len({row["n_s"] for row in rows}) < 2:
        return []
    dev = [_deviation(row) for row in rows]
    est = common_slope([math.log(row["n_s"]) for row in rows], [math.log(max(d, 1e-300)) for d in dev],
                       [(row["p"], row["r"]) for row in rows])
    return [Point(est, 0.0, {"n_s": sorted({row["n_s"] for row in rows})})]


@claim(NAME, "bounds.theory_explains_trained_loss", statement="The macroscopic loss at each row's own (a_i, "
       "effective b_i, sigma_i) explains a trained model's loss, better as n_s grows.", source="sec. 4.1, eq. 5",
       quantity="log-log slope against n_s of |per-row theory - loss| / loss, common to every (p, r), over "
       "seeds x n_s", reference="0", criterion=Criterion("at_most", 0.0, reason="the sign of the trend"))
def _explains(data, profile):
    rows = [row for row in data["rows"] if row.get("theory_per_row") is not None]
    if len({row["n_s"] for row in rows}) < 2:
        return []
    err = [_rel(row["theory_per_row"], row["loss"]) for row in rows]
    est = common_slope([math.log(row["n_s"]) for row in rows], [math.log(max(e, 1e-300)) for e in err],
                       [(row["p"], row["r"]) for row in rows])
    return [Point(est, 0.0, {"n_s": sorted({row["n_s"] for row in rows})})]


@claim(NAME, "bounds.trained_heldout_is_exact", kind="sanity", statement="Each trained model's held-out (Monte "
       "Carlo) loss agrees with theory's exact loss of its weights: two measurements of one number.",
       source="toolkit (theory.exact_loss against numerics' held-out evaluation)",
       quantity="held-out loss of every trained model", reference="theory.exact_loss(W, b, p)",
       criterion=CONSISTENT)
def _trained_exact(data, profile):
    return [Point(from_se(row["loss"], row["loss_se"], method="held-out standard error"), row["exact_loss"],
                  _where((row["n_s"], row["p"], row["r"])) | {"seed": row.get("seed", 0)})
            for row in data["rows"] if row.get("exact_loss") is not None]


@claim(NAME, "bounds.exact_mmse_below_trained", kind="sanity", statement="No elementwise decoder beats the "
       "Bayes-optimal one for the interference a model actually has: each row's exact loss is at least its exact "
       "elementwise MMSE (a theorem; unlike the Gaussian MMSE at the model's sigma, it binds every model).",
       source="theory.exact_mmse (docs/theory.md section 14); appendix E.2 made exact",
       quantity="exact loss of sampled rows of every trained model", reference="theory.exact_mmse of the row",
       criterion=Criterion("at_least", 1e-4, relative=True, reason="the loss and the MMSE are computed to 1e-5 "
                           "relative; 1e-4 leaves room for an MMSE error that is estimated, not bounded"))
def _exact_mmse(data, profile):
    return [Point(exact(m["loss"]), m["mmse"], _where((row["n_s"], row["p"], row["r"]))
                  | {"seed": row.get("seed", 0), "row": m["row"]})
            for row in data["rows"] for m in (row.get("exact_mmse_rows") or [])]


_PARTS = ("parameters", "heterogeneity", "non_gaussian")


@claim(NAME, "bounds.loss_decomposition", kind="info", statement="Where a trained model's loss differs from L*: "
       "its (a, effective b, sigma) differing from the optimum, its rows differing from each other, and its "
       "interference not being Gaussian (theory.loss_decomposition; the three parts sum to exact loss - L*).",
       source="theory.loss_decomposition (docs/theory.md section 14)",
       quantity="each part / L* per (n_s, p, r), mean over seeds", reference="none", criterion=Criterion("within"))
def _decomposition(data, profile):
    out = []
    for key, rows in group_by([row for row in data["rows"] if row.get("decomposition")], "n_s", "p", "r").items():
        for part in _PARTS:
            out.append(Point(over_seeds([row["decomposition"][part] / row["decomposition"]["L_star"] for row in rows],
                                        f"mean over seeds of {part} / L*, t"), math.nan, _where(key) | {"part": part}))
    return out
