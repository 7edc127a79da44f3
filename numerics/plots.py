"""Pictures: the rug (paper fig. 1), W and b of a trained model (fig. 3), Toy Models' W^T W with
feature norms and superposition, and feature dimensionality against sparsity. Each function draws into
a new figure and saves it (PNG) when ``out`` is given, returning the figure.

Figures are made with matplotlib's object API (:func:`subplots` here builds a ``Figure`` directly), never
with pyplot's global state, and no backend is chosen at import: in Jupyter, inline plots keep working,
and a returned figure displays as the cell's value."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from .io import atomic_write_bytes
from .toy import feature_dimensionality

__all__ = ["subplots", "save_figure", "plot_rug", "plot_weights", "plot_toy_models", "plot_feature_dimensionality"]


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, layout=None, **kwargs):
    """``(fig, axes)`` like ``pyplot.subplots``, but a bare ``Figure``: nothing global is touched (no
    backend, no figure manager), so it is safe in a library, in threads and in notebooks."""
    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig, out) -> Path:
    """Save ``fig`` as PNG at ``out`` atomically (rendered by Agg whatever the session's backend)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    return atomic_write_bytes(out, buf.getvalue())


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=float)


def plot_rug(R, out=None, title: str | None = None):
    """The Persian Rug matrix R as an image (the paper's fig. 1): R_ii = 1, the rest a +-pattern."""
    R = _np(R)
    fig, ax = subplots(figsize=(6, 5.2))
    lim = np.max(np.abs(R))
    im = ax.imshow(R, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title or f"Persian Rug R, n_s = {R.shape[0]}")
    ax.set_xticks([])
    ax.set_yticks([])
    if out is not None:
        save_figure(fig, out)
    return fig


def plot_weights(W, b, n: int = 30, out=None, title: str | None = None):
    """A corner of W (n x n) with the bias b beside it, on one colour scale (the paper's fig. 3)."""
    W, b = _np(W), _np(b).ravel()
    n = min(n, W.shape[0])
    corner, bias = W[:n, :n], b[:n, None]
    lim = max(np.max(np.abs(corner)), np.max(np.abs(bias)))
    fig, (a1, a2) = subplots(1, 2, figsize=(7.5, 6), gridspec_kw={"width_ratios": [n, 3]})
    im = a1.imshow(corner, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    a1.set_title(title or f"W (first {n} x {n})")
    a2.imshow(bias, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest", aspect="auto")
    a2.set_title("b")
    a2.set_xticks([])
    fig.colorbar(im, ax=[a1, a2], shrink=0.8)
    if out is not None:
        save_figure(fig, out)
    return fig


def plot_toy_models(W_in_list, b_list, labels, out=None):
    """Toy Models' picture for each model: W^T W and b (as heatmaps), and per feature its norm ||W_i||
    as a bar coloured by its superposition sum_{j != i} (W_i-hat . W_j)^2 (0: alone, 1+: shared)."""
    m = len(W_in_list)
    fig, axes = subplots(2, m, figsize=(2.6 * m, 6.2), squeeze=False)
    cmap = matplotlib.colormaps["viridis"]
    for c, (w, b, lab) in enumerate(zip(W_in_list, b_list, labels)):
        w, b = _np(w), _np(b).ravel()
        gram = w.T @ w
        lim = max(np.max(np.abs(gram)), 1e-12)
        axes[0, c].imshow(np.concatenate([gram, b[:, None] * np.ones((1, 2))], axis=1), cmap="RdBu_r",
                          vmin=-lim, vmax=lim, interpolation="nearest")
        axes[0, c].set_title(lab, fontsize=9)
        axes[0, c].set_xticks([])
        axes[0, c].set_yticks([])
        norms = np.sqrt(np.diag(gram))
        unit = w / np.where(norms > 0, norms, 1.0)
        sup = ((unit.T @ w) ** 2).sum(1) - norms**2
        axes[1, c].barh(np.arange(len(norms)), norms, color=cmap(np.clip(sup, 0, 1)))
        axes[1, c].invert_yaxis()
        axes[1, c].set_xlabel("||W_i||")
    axes[0, 0].set_ylabel("W^T W  |  b")
    axes[1, 0].set_ylabel("feature i (colour: superposition)")
    if out is not None:
        save_figure(fig, out)
    return fig


def plot_feature_dimensionality(W_in_list, p_list, out=None):
    """Feature dimensionality D_i of every feature against 1/p (Toy Models' fig.), with the n_d / n_s
    ratio of represented features as a line."""
    fig, ax = subplots(figsize=(6, 4))
    for w, p in zip(W_in_list, p_list):
        d = feature_dimensionality(torch.as_tensor(_np(w))).numpy()
        ax.scatter(np.full(d.shape, 1 / p), d, s=10, alpha=0.6, color="C0")
        norms = np.sqrt((_np(w) ** 2).sum(0))
        represented = max(int((norms > 0.5).sum()), 1)
        ax.scatter([1 / p], [_np(w).shape[0] / represented], marker="_", s=300, color="k")
    ax.set_xscale("log")
    ax.set_xlabel("1 / p  (1 / (1 - S) in Toy Models)")
    ax.set_ylabel("feature dimensionality D_i")
    ax.set_ylim(-0.05, 1.1)
    if out is not None:
        save_figure(fig, out)
    return fig
