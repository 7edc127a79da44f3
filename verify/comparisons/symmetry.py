"""Figs 4-12: statistical permutation symmetry against n_s. Delta (the paper's mean square), Delta_2 and
Lambda of each trained model of the grid; each trend is the log-log slope against n_s shared by every
(p, r) (each with its own intercept), fitted over seeds x sizes with its t interval."""

from __future__ import annotations

import math


from ..claims import Criterion, Point, claim, comparison
from ..figures import draw_symmetry_vs_ns
from ..stats import common_slope
from ._common import Context

NAME = "symmetry_vs_ns"
QUANTITIES = ("diag", "bias", "mean_nu", "var_nu")
SHRINKS = Criterion("at_most", 0.0, reason="the sign of the trend: a slope below 0 is a shrinking spread")


@comparison(NAME, "Statistical permutation symmetry against n_s (figs 4-12)", needs_grid=True)
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
    fig = draw_symmetry_vs_ns(table, ctx.profile, ctx.out / "symmetry_vs_ns.png")
    return {"table": table}, [fig]


def trend(rows: list[dict], key: str):
    """The common log-log slope of ``key`` against n_s over rows, grouped by (p, r)."""
    x = [math.log(row["n_s"]) for row in rows]
    y = [math.log(max(row[key], 1e-300)) if row.get(key) is not None else math.nan for row in rows]
    return common_slope(x, y, [(row["p"], row["r"]) for row in rows])


def _shrinks(key: str):
    def measure(data, profile):
        rows = data["table"]
        if len({row["n_s"] for row in rows}) < 2:
            return []
        return [Point(trend(rows, key), 0.0, {"n_s": [min(r["n_s"] for r in rows), max(r["n_s"] for r in rows)],
                                               "(p, r)": len({(r["p"], r["r"]) for r in rows})})]
    return measure


for _key, _label, _fig in [("delta_diag", "diagonal W_ii", "fig. 4"), ("delta_bias", "bias b_i", "fig. 5"),
                           ("delta_mean_nu", "E nu_i", "fig. 6"), ("delta_var_nu", "Var nu_i", "fig. 7"),
                           ("delta2_diag", "diagonal W_ii (Delta_2)", "fig. 9"),
                           ("delta2_bias", "bias b_i (Delta_2)", "fig. 10"),
                           ("delta2_mean_nu", "E nu_i (Delta_2)", "fig. 11"),
                           ("delta2_var_nu", "Var nu_i (Delta_2)", "fig. 12"), ("lambda", "Lambda (eq. 3)", "fig. 8")]:
    claim(NAME, f"symmetry.{_key}_shrinks",
          statement=(f"The spread across rows of the {_label} shrinks as n_s grows (statistical permutation "
                     "symmetry emerges)." if _key != "lambda" else "Lambda, the Berry-Esseen measure of how far "
                     "the interference is from Gaussian, tends to 0 as n_s grows."),
          source=f"sec. 3.2, {_fig}", quantity=f"log-log slope of {_key} against n_s, common to every (p, r), "
          "fitted over seeds x n_s", reference="0", criterion=SHRINKS)(_shrinks(_key))

