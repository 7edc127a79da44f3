"""Fig. 2: the loss against r at fixed p: trained toy models (several seeds), rug models at a large n_s and
at the trained n_s, L*(p, r), the linear baseline and the MMSE bounds."""

from __future__ import annotations

import numpy as np

import theory

from ..claims import Criterion, Point, Regime, claim, comparison
from ..figures import draw_loss_vs_ratio
from ..measure import train_sweep
from ..stats import exact, from_se, over_seeds
from ._common import (CONSISTENT, GAUSSIAN, SAME_CURVE, Context, group_by, mmse_at, ratio_from_se, ratio_over_seeds,
                      replicas, rug_record, stage_seed)

NAME = "loss_vs_ratio"


@comparison(NAME, "Loss against compression ratio (fig. 2), at several p")
def loss_vs_ratio(ctx: Context):
    profile = ctx.profile
    data = _panel(ctx, profile.fig2_p, list(profile.fig2_rs), 0, "fig2_loss_vs_ratio.png")
    figures = [data.pop("figure")]
    extra = []
    for k, p in enumerate(profile.fig2_extra_ps):
        rs = list(profile.fig2_extra_rs or profile.fig2_rs)
        panel = _panel(ctx, p, rs, 7000 + 1000 * k, f"fig2_loss_vs_ratio_p={p:g}.png")
        figures.append(panel.pop("figure"))
        extra.append(panel)
    data["extra_panels"] = extra
    return data, figures


def _panel(ctx: Context, p: float, rs: list, offset: int, figure: str) -> dict:
    """Fig. 2 at one p: trained models at fig2_trained_ns (profile.seeds seeds, stage seeds from
    ``offset``), the rug at fig2_rug_ns and at the trained n_s, and the theory's curves."""
    profile = ctx.profile
    n_tr, n_rug = profile.fig2_trained_ns, profile.fig2_rug_ns
    sub = "fig2" if offset == 0 else f"fig2_p={p:g}"
    records = train_sweep(profile, n_tr, [p], rs, ctx.work / "runs" / sub, ctx.progress, offset=offset,
                          executor=ctx.executor)
    by_r = group_by(records, "r")
    r_grid = np.linspace(0.02, 1.0, 50)
    curve = {
        "r": r_grid.tolist(),
        "L_star": theory.optimal_loss(p, r_grid).tolist(),
        "linear": theory.linear_loss(p, r_grid).tolist(),
        "mmse": [mmse_at(p, float(theory.welch_sigma(p, r))) for r in r_grid],
        "structured": np.asarray(theory.structured_loss(p, r_grid)).tolist(),
    }
    # the best Toy-Models arrangement (pairs, simplices, polygons, dedicated and dropped features) at (p, r):
    # exact and the same at every n_s (theory.structured)
    structured = {r: {"kind": (s := theory.best_structured(p, r)).kind, "loss": s.loss} for r in rs}
    points = []
    for i, r in enumerate(rs):
        recs = sorted(by_r[(r,)], key=lambda rec: rec["seed"])
        big = rug_record(n_rug, r, p, profile, stage_seed(profile, offset + i), optimum=True)
        same = rug_record(n_tr, r, p, profile, stage_seed(profile, offset + 100 + i), optimum=True)
        losses = [rec["loss"] for rec in recs]
        sigmas = [rec["macroscopic"]["sigma_rms"] for rec in recs]
        est = over_seeds(losses) if len(losses) > 1 else from_se(losses[0], recs[0]["loss_se"])
        points.append({
            "r": r, "seeds": [rec["seed"] for rec in recs], "trained_losses": losses,
            "trained_loss_ses": [rec["loss_se"] for rec in recs], "trained_sigmas": sigmas,
            "trained_mmse_own": [mmse_at(p, s) for s in sigmas],
            "trained_loss": est.value, "trained_se": est.se,  # for the figure
            "rug_loss": big["loss"], "rug_se": big["se"], "rug_a": big["a"], "rug_b": big["b"],
            "rug_same_ns_loss": same["loss"], "rug_same_ns_se": same["se"], "rug": big, "rug_same_ns": same,
            "L_star": float(theory.optimal_loss(p, r)), "linear": float(theory.linear_loss(p, r)),
            "mmse": mmse_at(p, float(theory.welch_sigma(p, r))),
            "dead_features": [rec["dead_features"] for rec in recs],
            "structured": structured[r],
        })
    fig = draw_loss_vs_ratio(p, curve, points, profile, ctx.out / figure)
    return {"p": p, "trained_ns": n_tr, "rug_ns": n_rug, "points": points, "curve": curve, "figure": fig}


def _panels(data) -> list[dict]:
    """Every p's panel: the main one (fig2_p, stored at the top level) and the extra ones (older stage
    files have only the main one)."""
    return [data] + list(data.get("extra_panels") or [])


def _per_panel(measure):
    """A claim measured on one panel, applied to every p's panel."""
    def at_every_p(data, profile):
        return [pt for panel in _panels(data) for pt in measure(panel, profile)]
    at_every_p.__name__ = measure.__name__
    at_every_p.__doc__ = measure.__doc__
    return at_every_p


def _sizes(data, profile):
    """(trained n_s, rug n_s): stored with the data; older stage files have them in the profile only."""
    return (data["trained_ns"] if "trained_ns" in data else profile["fig2_trained_ns"],
            data["rug_ns"] if "rug_ns" in data else profile["fig2_rug_ns"])


@claim(NAME, "fig2.trained_below_linear", statement="Trained ReLU toy models beat the optimal linear autoencoder "
       "(1 - r) Var x at every r < 1.", source="sec. 2, fig. 2", quantity="trained loss per r, mean over seeds",
       reference="theory.linear_loss(p, r)",
       criterion=Criterion("at_most", 0.0, reason="strictly below: the paper's 'dramatically outperforms'"))
@_per_panel
def _below_linear(data, profile):
    n_tr, _ = _sizes(data, profile)
    return [Point(over_seeds(replicas(pt, "trained_losses", "trained_loss")), pt["linear"],
                  {"n_s": n_tr, "p": data["p"], "r": pt["r"]}) for pt in data["points"] if pt["r"] < 1]


@claim(NAME, "fig2.rug_matches_theory", statement="The Persian Rug model with optimised a, b attains the "
       "macroscopic theory's L*(p, r).", source="sec. 4.2.2, fig. 2",
       quantity="the rug's exact optimal loss at its S / L* per r (older runs: the fitted rug's held-out loss)",
       reference="1",
       criterion=SAME_CURVE, regime=GAUSSIAN)
@_per_panel
def _rug_theory(data, profile):
    _, n_rug = _sizes(data, profile)
    out = []
    for pt in data["points"]:
        rug = pt.get("rug") or {}
        if "exact_opt_loss" in rug:  # the rug's exact optimum at its own S: no sampling
            est = exact(rug["exact_opt_loss"] / pt["L_star"], "exact optimum of the rug at its S")
        else:  # older stage files: the fitted rug's held-out loss
            est = ratio_from_se(pt["rug_loss"], pt["rug_se"], pt["L_star"])
        out.append(Point(est, 1.0, {"n_s": n_rug, "p": data["p"], "r": pt["r"]}))
    return out


@claim(NAME, "fig2.trained_matches_rug", statement="The loss curve of trained models and of the Persian Rug "
       "model are essentially the same (compared here at the same n_s).", source="sec. 3.3, sec. 4.2.2, fig. 2",
       quantity="trained loss / rug loss at the trained n_s, per r, mean over seeds", reference="1",
       criterion=SAME_CURVE, regime=GAUSSIAN)
@_per_panel
def _trained_rug(data, profile):
    n_tr, _ = _sizes(data, profile)
    return [Point(ratio_over_seeds(replicas(pt, "trained_losses", "trained_loss"), pt["rug_same_ns_loss"]), 1.0,
                  {"n_s": n_tr, "p": data["p"], "r": pt["r"]})
            for pt in data["points"] if pt.get("rug_same_ns_loss")]


@claim(NAME, "fig2.trained_matches_theory", statement="Trained models reach the theory's L*(p, r) (the curves of "
       "fig. 2 are essentially the same).", source="sec. 3.3, sec. 4 (opening), fig. 2",
       quantity="trained loss / L* per r, mean over seeds", reference="1", criterion=SAME_CURVE, regime=GAUSSIAN)
@_per_panel
def _trained_theory(data, profile):
    n_tr, _ = _sizes(data, profile)
    return [Point(ratio_over_seeds(replicas(pt, "trained_losses", "trained_loss"), pt["L_star"]), 1.0,
                  {"n_s": n_tr, "p": data["p"], "r": pt["r"]}) for pt in data["points"]]


@claim(NAME, "fig2.mmse_below_rug", statement="No elementwise decoder beats the Bayes-optimal one at the same "
       "Gaussian interference: the rug's loss is at least the MMSE bound at the Welch sigma.",
       source="appendix E.2", quantity="rug loss per r (held-out standard error)",
       reference="theory.mmse_loss(p, Welch sigma)",
       criterion=Criterion("at_least", 0.0, reason="a bound: no tolerance"), regime=GAUSSIAN)
@_per_panel
def _mmse_rug(data, profile):
    _, n_rug = _sizes(data, profile)
    return [Point(from_se(pt["rug_loss"], pt["rug_se"], method="held-out standard error"), pt["mmse"],
                  {"n_s": n_rug, "p": data["p"], "r": pt["r"]}) for pt in data["points"]]


@claim(NAME, "fig2.mmse_below_trained", statement="Trained models do not beat the Bayes-optimal elementwise "
       "decoder at their own interference, taken as Gaussian. Where they do, their interference is not "
       "Gaussian and a Gaussian-interference bound does not bind them.", source="appendix E.2",
       quantity="trained loss / MMSE bound at the model's own sigma, per r, mean over seeds", reference="1",
       criterion=Criterion("at_least", 0.0, reason="a bound: no tolerance"), regime=GAUSSIAN)
@_per_panel
def _mmse_trained(data, profile):
    n_tr, _ = _sizes(data, profile)
    out = []
    for pt in data["points"]:
        if "trained_mmse_own" not in pt:
            continue
        ratios = (np.asarray(replicas(pt, "trained_losses", "trained_loss"), float)
                  / np.asarray(replicas(pt, "trained_mmse_own", "trained_mmse_own"), float))
        out.append(Point(over_seeds(ratios, "mean over seeds of loss / MMSE(own sigma), t"), 1.0,
                         {"n_s": n_tr, "p": data["p"], "r": pt["r"]}))
    return out


@claim(NAME, "fig2.rug_heldout_is_exact", kind="sanity", statement="The fitted rug's held-out (Monte Carlo) loss "
       "agrees with theory's exact loss of the same rug (a, b, S): two measurements of one number.",
       source="toolkit (theory.rug_exact_loss against numerics.fit_rug)",
       quantity="held-out loss per rug (both sizes, every r)", reference="theory.rug_exact_loss at the fit",
       criterion=CONSISTENT)
@_per_panel
def _rug_exact(data, profile):
    out = []
    for pt in data["points"]:
        for key in ("rug", "rug_same_ns"):
            rug = pt.get(key)
            if rug and "exact_at_fit" in rug:
                out.append(Point(from_se(rug["loss"], rug["se"], method="held-out standard error"),
                                 rug["exact_at_fit"], {"n_s": rug["n_s"], "p": data["p"], "r": pt["r"]}))
    return out


@claim(NAME, "fig2.trained_vs_structured", kind="info", statement="How trained models compare with the best "
       "structured arrangement of Toy Models (antipodal pairs, simplices, polygons, dedicated and dropped "
       "features: theory.best_structured), whose exact loss is the same at every n_s (no claim in the paper).",
       source="theory.structured (docs/theory.md section 15)",
       quantity="trained loss / best structured loss per r, mean over seeds", reference="1",
       criterion=Criterion("within"))
@_per_panel
def _structured(data, profile):
    n_tr, _ = _sizes(data, profile)
    return [Point(ratio_over_seeds(replicas(pt, "trained_losses", "trained_loss"), pt["structured"]["loss"]), 1.0,
                  {"n_s": n_tr, "p": data["p"], "r": pt["r"], "arrangement": pt["structured"]["kind"]})
            for pt in data["points"] if pt.get("structured")]


# ---- sec. 3.1: p sets the slope and the length of the initial fall -----------------------------------
#: the loss at r -> 0 is Var x = p/3 - p^2/4 (theory.r0_limit); the initial fall is measured as the loss at
#: the smallest r of every panel over that, so that panels at different p compare on one scale
def _fall_pairs(data):
    """(smaller p panel, larger p panel, r) for consecutive p's, at the smallest r every panel has."""
    panels = sorted(_panels(data), key=lambda panel: panel["p"])
    common = set.intersection(*({pt["r"] for pt in panel["points"]} for panel in panels)) if panels else set()
    if len(panels) < 2 or not common:
        return []
    r = min(common)
    return [(lo, hi, r) for lo, hi in zip(panels, panels[1:])]


def _at(panel, r):
    return next(pt for pt in panel["points"] if pt["r"] == r)


FALLS_FASTER = Criterion("at_most", 0.0, reason="the sign of the effect: the paper says the fall is faster at "
                         "smaller p and gives no size")


@claim(NAME, "fig2.initial_fall_set_by_p", statement="The slope and duration of the initial fall of the loss "
       "with r is controlled by p: in the high-sparsity regime (p close to zero) the loss drops very quickly "
       "near r = 0.", source="sec. 3.1, fig. 2",
       quantity="(trained loss / Var x) at the smaller p over the same at the next larger p, at the smallest "
       "common r; seed k of one p paired with seed k of the other (independent runs), mean over seeds",
       reference="1", criterion=FALLS_FASTER,
       regime=Regime(reason="sec. 3.1 describes fig. 2's trained models at their own n_s (1024 in the paper, "
                     "p n_s = 46), not the large-n_s limit"))
def _initial_fall(data, profile):
    out = []
    for lo, hi, r in _fall_pairs(data):
        a = np.asarray(replicas(_at(lo, r), "trained_losses", "trained_loss"), float) / float(theory.r0_limit(lo["p"]))
        b = np.asarray(replicas(_at(hi, r), "trained_losses", "trained_loss"), float) / float(theory.r0_limit(hi["p"]))
        k = min(a.size, b.size)
        out.append(Point(over_seeds(a[:k] / b[:k], "mean over seed pairs of the ratio, t"), 1.0,
                         {"n_s": lo.get("trained_ns"), "p": [lo["p"], hi["p"]], "r": r}))
    return out


@claim(NAME, "fig2.initial_fall_theory", kind="exact", statement="In the theory, L*(p, r) / Var x at small r "
       "falls as p falls (the initial fall is faster at higher sparsity).", source="sec. 3.1, sec. 4.3",
       quantity="L*(smaller p, r) / Var x over L*(larger p, r) / Var x, at the smallest common r",
       reference="1", criterion=FALLS_FASTER)
def _initial_fall_theory(data, profile):
    out = []
    for lo, hi, r in _fall_pairs(data):
        ratio = (float(theory.optimal_loss(lo["p"], r)) / float(theory.r0_limit(lo["p"]))) / (
            float(theory.optimal_loss(hi["p"], r)) / float(theory.r0_limit(hi["p"])))
        out.append(Point(exact(ratio, "exact"), 1.0, {"p": [lo["p"], hi["p"]], "r": r}))
    return out
