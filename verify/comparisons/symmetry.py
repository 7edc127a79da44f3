"""Figs 4-12: statistical permutation symmetry against n_s, over the (p, r) plane as the paper draws it.

Delta (the paper's mean square), Delta_2 and Lambda of each trained model of the grid. Each quantity's
trend is judged at every (p, r) of the grid: the log-log slope against n_s fitted over seeds x sizes, with
its t interval (Bonferroni over the (p, r) points). The fig. 8 caption's claim (at small n_s only large p
is near-Gaussian) is judged at the smallest n_s."""

from __future__ import annotations

import math

import numpy as np

from ..claims import Criterion, Point, claim, comparison
from ..figures import draw_symmetry_heatmaps, draw_symmetry_vs_ns
from ..stats import common_slope, over_seeds
from ._common import Context, group_by

NAME = "symmetry_vs_ns"
QUANTITIES = ("diag", "bias", "mean_nu", "var_nu")
SHRINKS = Criterion("at_most", 0.0, reason="the sign of the trend: a slope below 0 is a shrinking spread")


@comparison(NAME, "Statistical permutation symmetry against n_s over the (p, r) plane (figs 4-12)",
            needs_grid=True)
def symmetry_vs_ns(ctx: Context):
    table = []
    for rec in ctx.records:
        sym = rec["symmetry"]
        row = {"n_s": rec["n_s"], "p": rec["p"], "r": rec["r"], "seed": rec.get("seed", 0),
               "lambda": sym["lambda_max"], "ks_mean": sym["ks_mean"], "dead_features": rec["dead_features"]}
        for q in QUANTITIES:
            row[f"delta_{q}"] = sym[q]["delta"]
            row[f"delta2_{q}"] = sym[q]["delta2"]
        table.append(row)
    figs = [draw_symmetry_vs_ns(table, ctx.profile, ctx.out / "symmetry_vs_ns.png"),
            draw_symmetry_heatmaps(table, [k for k, _, _ in KEYS], ctx.out / "symmetry_heatmaps.png")]
    return {"table": table}, figs


def trend(rows: list[dict], key: str):
    """The common log-log slope of ``key`` against n_s over rows, one intercept per (p, r)."""
    x = [math.log(row["n_s"]) for row in rows]
    y = [math.log(max(row[key], 1e-300)) if row.get(key) is not None else math.nan for row in rows]
    return common_slope(x, y, [(row["p"], row["r"]) for row in rows])


def _shrinks(key: str):
    def measure(data, profile):
        out = []
        for (p, r), rows in group_by(data["table"], "p", "r").items():
            sizes = sorted({row["n_s"] for row in rows})
            if len(sizes) < 2:
                continue
            out.append(Point(trend(rows, key), 0.0, {"n_s": [sizes[0], sizes[-1]], "p": p, "r": r}))
        return out
    return measure


KEYS = [("delta_diag", "diagonal W_ii", "fig. 4"), ("delta_bias", "bias b_i", "fig. 5"),
        ("delta_mean_nu", "E nu_i", "fig. 6"), ("delta_var_nu", "Var nu_i", "fig. 7"),
        ("delta2_diag", "diagonal W_ii (Delta_2)", "fig. 9"), ("delta2_bias", "bias b_i (Delta_2)", "fig. 10"),
        ("delta2_mean_nu", "E nu_i (Delta_2)", "fig. 11"), ("delta2_var_nu", "Var nu_i (Delta_2)", "fig. 12"),
        ("lambda", "Lambda (eq. 3)", "fig. 8")]

for _key, _label, _fig in KEYS:
    claim(NAME, f"symmetry.{_key}_shrinks",
          statement=(f"The spread across rows of the {_label} shrinks as n_s grows, at every location of the "
                     "(p, r) diagram (statistical permutation symmetry emerges)." if _key != "lambda" else
                     "Lambda, the Berry-Esseen measure of how far the interference is from Gaussian, tends to 0 "
                     "as n_s grows, for every (p, r)."),
          source=f"sec. 3.2, {_fig}", quantity=f"log-log slope of {_key} against n_s at each (p, r), fitted over "
          "seeds x n_s", reference="0", criterion=SHRINKS)(_shrinks(_key))


@claim(NAME, "symmetry.fig8_large_p_first", statement="For small n_s only models trained at large p have "
       "nearly-uniform (near-Gaussian) interference, whereas all models approach uniformity at large n_s.",
       source="fig. 8 caption", quantity="Lambda at the largest p over Lambda at the smallest p, at the smallest "
       "n_s, per r; seed k paired with seed k (independent runs), mean over seeds", reference="1",
       criterion=Criterion("at_most", 0.0, reason="the sign of the contrast: the caption says large p is the "
                           "nearer to Gaussian and gives no size"))
def _fig8(data, profile):
    """The first half of the caption; its second half is symmetry.lambda_shrinks."""
    rows = data["table"]
    if not rows:
        return []
    n_min = min(row["n_s"] for row in rows)
    small = [row for row in rows if row["n_s"] == n_min]
    ps = sorted({row["p"] for row in small})
    if len(ps) < 2:
        return []
    out = []
    for (r,), rs in group_by(small, "r").items():
        lo = sorted((row for row in rs if row["p"] == ps[0]), key=lambda row: row.get("seed", 0))
        hi = sorted((row for row in rs if row["p"] == ps[-1]), key=lambda row: row.get("seed", 0))
        k = min(len(lo), len(hi))
        if not k:
            continue
        ratio = [(h["lambda"] if h["lambda"] is not None else math.nan)
                 / (l["lambda"] if l["lambda"] else math.nan) for h, l in zip(hi[:k], lo[:k])]
        out.append(Point(over_seeds(np.asarray(ratio, float), "mean over seed pairs of the ratio, t"), 1.0,
                         {"n_s": n_min, "p": [ps[0], ps[-1]], "r": r}))
    return out
