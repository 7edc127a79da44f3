"""The sparse-coding report: sparse autoencoders on its toy data over L1 coefficient x dictionary ratio,
one sweep per seed: MMCS with the ground truth, dead neurons, SSLL and MMCS against larger dictionaries."""

from __future__ import annotations

import shutil

import numpy as np

from ..claims import Criterion, Point, claim, comparison
from ..stats import binomial, over_seeds
from ._common import Context, stage_seed

NAME = "sae_recovery"
GOLDILOCKS = (0.03, 0.3)  # the report's "desired hyperparameter range" of the L1 coefficient at ratio 1
DEAD_FREE = (1.0, 0.177)  # the report's largest dead-free cell (fig. 4): dictionary ratio 1, L1 coefficient 0.177
#: "dead neurons almost never arose" read as at most 1 % of the neurons; "dead neurons begin to appear"
#: past the boundary as more than that.
ALMOST_NEVER = 0.01


@comparison(NAME, "Sparse autoencoders on toy data (the sparse-coding report)")
def sae_recovery(ctx: Context):
    from numerics.sae import SAEDataConfig, SAESweepConfig, sae_sweep

    profile = ctx.profile
    per_seed = []
    figures = []
    for s in range(profile.seeds):
        seed = stage_seed(profile, 100 * s)  # instance k (one per alpha) is seeded seed + k
        cfg = SAESweepConfig(data=SAEDataConfig(h=profile.sae_h, G=profile.sae_G, seed=stage_seed(profile)),
                             alphas=list(profile.sae_alphas), ratios=list(profile.sae_ratios),
                             steps=profile.sae_steps, seed=seed)
        run_dir = ctx.work / "runs" / "sae" / f"seed={seed}"
        res = sae_sweep(cfg, run_dir, device=profile.device, progress=ctx.progress, plots=s == 0)
        per_seed.append({"seed": seed, "grids": res["grids"], "dict_sizes": res["dict_sizes"]})
        if s == 0:
            for name in ("mmcs.png", "dead_neurons.png", "ssll.png", "mmcs_larger.png"):
                if (run_dir / name).exists():
                    shutil.copyfile(run_dir / name, ctx.out / f"sae_{name}")
                    figures.append(f"sae_{name}")
    data = {"alphas": list(profile.sae_alphas), "ratios": list(profile.sae_ratios), "h": profile.sae_h,
            "G": profile.sae_G, "steps": profile.sae_steps, "seeds": per_seed, "grids": per_seed[0]["grids"],
            "dead_window": cfg.dead_window}
    return data, figures


def _seeds(data) -> list[dict]:
    """Per seed: its grids (older one-seed files hold only ``grids``)."""
    return data.get("seeds") or [{"grids": data["grids"]}]


@claim(NAME, "sae.goldilocks_peak", statement="At dictionary ratio 1 the MMCS with the ground truth is highest "
       "for L1 coefficients in the Goldilocks range 0.03 to 0.3.", source="sparse-coding report, fig. 1 and "
       "'Method 1'", quantity="best MMCS inside the range minus best MMCS outside it, at ratio 1, mean over seeds",
       reference="0", criterion=Criterion("at_least", 0.0, reason="a comparison: no tolerance"))
def _goldilocks(data, profile):
    alphas, ratios = data["alphas"], data["ratios"]
    inside = [j for j, a in enumerate(alphas) if GOLDILOCKS[0] <= a <= GOLDILOCKS[1]]
    outside = [j for j in range(len(alphas)) if j not in inside]
    if 1.0 not in ratios or not inside or not outside:
        return []
    i = ratios.index(1.0)
    diffs = []
    for s in _seeds(data):
        row = np.array(s["grids"]["mmcs"][i], dtype=float)
        diffs.append(float(np.nanmax(row[inside]) - np.nanmax(row[outside])))
    return [Point(over_seeds(diffs, "mean over seeds of the MMCS difference, t"), 0.0,
                  {"ratio": 1.0, "alphas inside": [alphas[j] for j in inside]})]


def _dead_fraction(data, cells) -> tuple[int, int]:
    G = data["G"]
    dead = total = 0
    for s in _seeds(data):
        grid = s["grids"]["dead"]
        for i, j in cells:
            dead += int(grid[i][j])
            total += int(round(data["ratios"][i] * G))
    return dead, total


@claim(NAME, "sae.no_dead_within_boundary", statement="Dead neurons almost never arise when the dictionary is no "
       "larger than the number of ground-truth features and the L1 coefficient is at most 0.177 (the report's "
       "largest dead-free cell).", source="sparse-coding report, 'Method 1', fig. 4",
       quantity="fraction of dead neurons over the cells with ratio <= 1 and alpha <= 0.177, all seeds",
       reference="0", criterion=Criterion("at_most", ALMOST_NEVER, reason="'almost never' read as <= 1 %"))
def _no_dead(data, profile):
    cells = [(i, j) for i, r in enumerate(data["ratios"]) for j, a in enumerate(data["alphas"])
             if r <= DEAD_FREE[0] and a <= DEAD_FREE[1]]
    if not cells:
        return []
    k, n = _dead_fraction(data, cells)
    return [Point(binomial(k, n), 0.0, {"cells": len(cells)})]


@claim(NAME, "sae.dead_beyond_boundary", statement="Dead neurons appear when the L1 coefficient is too high or the "
       "dictionary too big: beyond the largest dead-free cell (ratio 1, alpha 0.177) in both directions.",
       source="sparse-coding report, 'Method 1', fig. 4",
       quantity="fraction of dead neurons over the cells with ratio > 1 and alpha > 0.177, all seeds",
       reference="0.01", criterion=Criterion("at_least", 0.0, reason="more than 'almost never' (1 %)"))
def _dead_beyond(data, profile):
    cells = [(i, j) for i, r in enumerate(data["ratios"]) for j, a in enumerate(data["alphas"])
             if r > DEAD_FREE[0] and a > DEAD_FREE[1]]
    if not cells:
        return []
    k, n = _dead_fraction(data, cells)
    return [Point(binomial(k, n), ALMOST_NEVER, {"cells": len(cells)})]
