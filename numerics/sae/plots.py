"""The heatmaps of a sweep (:func:`plot_sae_sweep`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_sae_sweep(results: dict, out_dir) -> list[Path]:
    """Heatmaps (x: L1 coefficient, y: dictionary ratio) of a :func:`sae_sweep` result: mmcs.png,
    dead_neurons.png (capped at 100, as in the report), ssll.png and mmcs_larger.png."""
    if not isinstance(results, dict) or "grids" not in results:
        raise ValueError("results must be the dict returned by sae_sweep (with 'grids')")
    from matplotlib.figure import Figure  # a bare figure: no pyplot state, no backend chosen

    from ..plots import save_figure

    out = Path(out_dir)
    alphas, ratios, grids = results["alphas"], results["ratios"], results["grids"]
    specs = [("mmcs", "MMCS with the ground truth", None, "viridis"),
             ("dead", "dead neurons (capped at 100)", 100, "magma"),
             ("ssll", "summed standardised log losses (SSLL)", None, "coolwarm"),
             ("mmcs_larger", "mean MMCS with larger dictionaries", None, "viridis")]
    paths = []
    for key, title, cap, cmap in specs:
        z = np.array(grids[key], dtype=np.float64)  # None (NaN in JSON) -> nan
        if cap is not None:
            z = np.minimum(z, cap)
        fig = Figure(figsize=(1.2 + 0.9 * len(alphas), 1.2 + 0.6 * len(ratios)))
        ax = fig.subplots()
        im = ax.imshow(z, origin="lower", aspect="auto", cmap=cmap)
        ax.set_xticks(range(len(alphas)), [f"{a:.3g}" for a in alphas], rotation=45)
        ax.set_yticks(range(len(ratios)), [f"{r:.3g}" for r in ratios])
        ax.set_xlabel("L1 coefficient alpha")
        ax.set_ylabel("dictionary ratio J / G")
        ax.set_title(title)
        for i in range(z.shape[0]):
            for j in range(z.shape[1]):
                if np.isfinite(z[i, j]):
                    ax.text(j, i, f"{z[i, j]:.2f}" if key != "dead" else f"{int(z[i, j])}", ha="center",
                            va="center", fontsize=7, color="w")
        fig.colorbar(im, ax=ax)
        name = "dead_neurons.png" if key == "dead" else f"{key}.png"
        paths.append(save_figure(fig, out / name))
    return paths
