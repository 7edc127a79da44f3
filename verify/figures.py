"""The report's figures (matplotlib's object API: no pyplot, no backend chosen). Each draws one PNG and
returns its file name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from numerics.plots import plot_weights, save_figure, subplots

__all__ = ["draw_loss_vs_ratio", "draw_symmetry_vs_ns", "draw_symmetry_heatmaps", "draw_theory_vs_trained", "draw_weights_fig3",
           "draw_scaling"]


def draw_loss_vs_ratio(p, curve, points, profile, out: Path) -> str:
    fig, ax = subplots(figsize=(6.5, 4.5))
    ax.plot(curve["r"], curve["linear"], "k--", label="optimal linear, (1 - r) Var x")
    ax.plot(curve["r"], curve["L_star"], "C0-", label="theory L*(p, r)")
    ax.plot(curve["r"], curve["mmse"], "C2:", label="MMSE bound at the Welch sigma")
    if "structured" in curve:
        ax.plot(curve["r"], curve["structured"], "C4-.", label="best structured arrangement (pairs, polygons; any n_s)")
    r = [pt["r"] for pt in points]
    ax.errorbar(r, [pt["rug_loss"] for pt in points], yerr=[pt["rug_se"] for pt in points], fmt="s", color="C1",
                label=f"Persian Rug model, n_s = {profile.fig2_rug_ns}")
    ax.errorbar(r, [pt["trained_loss"] for pt in points], yerr=[pt["trained_se"] for pt in points], fmt="o",
                color="C3", label=f"trained toy model, n_s = {profile.fig2_trained_ns}")
    ax.set_xlabel("r = n_d / n_s")
    ax.set_ylabel("loss per feature")
    ax.set_title(f"Loss against compression (p = {p})")
    ax.legend(fontsize=8)
    save_figure(fig, out)
    return out.name


def draw_symmetry_heatmaps(table, keys, out: Path) -> str:
    """Figs 4-12 as the paper draws them: each quantity (a row of panels) over the (p, r) plane at each n_s
    (a column), the geometric mean over seeds, one log colour scale per quantity."""
    from matplotlib.colors import LogNorm

    ns = sorted({row["n_s"] for row in table})
    ps = sorted({row["p"] for row in table})
    rs = sorted({row["r"] for row in table})
    fig, axes = subplots(len(keys), len(ns), figsize=(2.6 * len(ns) + 1, 1.9 * len(keys)), squeeze=False,
                             layout="constrained")
    for i, key in enumerate(keys):
        grids = []
        for n in ns:
            z = np.full((len(rs), len(ps)), np.nan)
            for a, r in enumerate(rs):
                for b, p in enumerate(ps):
                    v = [row[key] for row in table if row["n_s"] == n and row["p"] == p and row["r"] == r
                         and row.get(key) is not None and row[key] > 0]
                    if v:
                        z[a, b] = float(np.exp(np.mean(np.log(v))))
            grids.append(z)
        finite = np.concatenate([g[np.isfinite(g)] for g in grids]) if grids else np.array([])
        norm = LogNorm(finite.min(), finite.max()) if finite.size and finite.max() > finite.min() else None
        for j, (n, z) in enumerate(zip(ns, grids)):
            ax = axes[i, j]
            im = ax.imshow(z, origin="lower", aspect="auto", norm=norm, cmap="viridis")
            ax.set_xticks(range(len(ps)), [f"{p:g}" for p in ps], fontsize=7)
            ax.set_yticks(range(len(rs)), [f"{r:g}" for r in rs], fontsize=7)
            if i == 0:
                ax.set_title(f"n_s = {n}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"{key}\nr", fontsize=8)
            if i == len(keys) - 1:
                ax.set_xlabel("p", fontsize=8)
        fig.colorbar(im, ax=list(axes[i]), fraction=0.03, pad=0.02)
    fig.suptitle("Symmetry breaking over (p, r) at each n_s (figs 4-12; smaller is more symmetric)")
    save_figure(fig, out)
    return out.name


def draw_symmetry_vs_ns(table, profile, out: Path) -> str:
    keys = [("delta_diag", "Δ diag W"), ("delta_bias", "Δ b"), ("delta_mean_nu", "Δ E ν"),
            ("delta_var_nu", "Δ Var ν"), ("lambda", "Λ (eq. 3)")]
    fig, axes = subplots(1, len(keys), figsize=(3.2 * len(keys), 3.4))
    for ax, (key, label) in zip(axes, keys):
        ys = {max(row[key], 1e-16) for row in table if row[key] is not None
              and row["p"] in profile.grid_ps and row["r"] in profile.grid_rs}
        if len(ys) == 1:  # one value throughout (an exact rug's statistics): a decade around it, set before the
            (y,) = ys     # data, whose autoscaling would otherwise warn of a singular axis
            ax.set_yscale("log")
            ax.set_ylim(y / 10, y * 10)
        for i, p in enumerate(profile.grid_ps):
            for j, r in enumerate(profile.grid_rs):
                pts = [(row["n_s"], max(row[key], 1e-16)) for row in table
                       if row["p"] == p and row["r"] == r and row[key] is not None]
                if pts:  # every seed as a dot, the geometric mean over seeds as the line
                    ns = sorted({a for a, _ in pts})
                    gm = [float(np.exp(np.mean([np.log(b) for a, b in pts if a == n]))) for n in ns]
                    ax.loglog([a for a, _ in pts], [b for _, b in pts], ".", color=f"C{i}", alpha=0.4)
                    ax.loglog(ns, gm, marker="o", color=f"C{i}", ls=["-", "--", ":"][j % 3], label=f"p={p:g}, r={r:g}")
        ax.set_xlabel("n_s")
        ax.set_title(label)
    axes[0].legend(fontsize=6)
    fig.suptitle("Symmetry breaking against n_s (smaller is more symmetric)", y=1.04)
    fig.tight_layout()
    save_figure(fig, out)
    return out.name


def draw_theory_vs_trained(rows, out: Path) -> str:
    fig, (a1, a2) = subplots(1, 2, figsize=(11, 4.3))
    loss = np.array([row["loss"] for row in rows])
    for key, mk, lab in (("theory_per_row", "o", "theory, each row's own (a, b, σ)"),
                         ("theory_own", "s", "theory, mean (a, b_eff, σ)"),
                         ("L_star", "^", "L*(p, r)"), ("mmse_at_sigma", "v", "MMSE at the model's σ")):
        a1.loglog(loss, [row[key] for row in rows], mk, alpha=0.7, label=lab)
    lim = [loss.min() * 0.5, loss.max() * 2]
    a1.plot(lim, lim, "k-", lw=0.8)
    a1.set_xlabel("trained model's loss")
    a1.set_ylabel("prediction / bound")
    a1.legend(fontsize=7)
    ns = sorted({row["n_s"] for row in rows})
    for i, n in enumerate(ns):
        sel = [row for row in rows if row["n_s"] == n]
        a2.semilogx([row["p_n_s"] for row in sel], [row["theory_per_row"] / row["loss"] for row in sel], "o",
                    color=f"C{i}", label=f"n_s = {n}")
    a2.axhline(1, color="k", lw=0.8)
    a2.set_xlabel("p n_s (expected active features)")
    a2.set_ylabel("per-row theory / measured loss")
    a2.legend(fontsize=7)
    save_figure(fig, out)
    return out.name


def draw_weights_fig3(W, b, out: Path, n_s: int) -> str:
    plot_weights(W, b, n=30, out=out, title=f"W (first 30 x 30), n_s = {n_s}, p = 0.045, r = 0.25")
    return out.name


def draw_scaling(points, out: Path, n_s: int) -> str:
    fig, ax = subplots(figsize=(6, 4.5))
    if points:
        x = np.array([pt["p2_over_r"] for pt in points])
        ax.errorbar(x, [pt["rug_loss"] for pt in points], yerr=[pt["rug_se"] for pt in points], fmt="o",
                    label=f"Persian Rug, n_s = {n_s}")
        ax.loglog(x, [pt["L_star"] for pt in points], "s", mfc="none", label="theory L*")
        xs = np.geomspace(x.min(), x.max(), 10)
        ax.loglog(xs, xs * np.median([pt["L_star"] / pt["p2_over_r"] for pt in points]), "k--", lw=0.8,
                  label="slope 1")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("p^2 / r")
    ax.set_ylabel("loss per feature")
    ax.legend(fontsize=8)
    ax.set_title("p^2 / r scaling (appendix I)")
    save_figure(fig, out)
    return out.name
