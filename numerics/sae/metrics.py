"""The measurements of sparse autoencoders and of their sweeps.

MMCS(F, D) = G^-1 sum_g max_j cos(F_g, D_j)                                   (:func:`mmcs`)
dead neurons: latents whose post-ReLU value was 0 on every sample of the last T batches
                                                   (:func:`count_dead`, :class:`DeadNeuronTracker`, T = 500)
SSLL over a grid of (alpha, J) cells: std(log L_rec) + std(log L_L1), std(v) = (v - mean) / sd over
the cells, cells with a zero loss (log undefined) left out and given NaN
                                                                (:func:`standardized_log`, :func:`ssll`)
MMCS against larger dictionaries: for each cell, the mean over the larger dictionaries (same alpha) of
MMCS(D_small, D_large)                                                          (:func:`mmcs_larger`)
"""

from __future__ import annotations

import numpy as np
import torch

from .._validation import check_int, resolve_device


def _check_dictionary(t, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        t = torch.as_tensor(np.asarray(t, dtype=np.float64))
    if t.dim() < 2 or t.shape[-1] < 1 or t.shape[-2] < 1:
        raise ValueError(f"{name} must have shape (..., h, n) with columns as directions, got {tuple(t.shape)}")
    if not torch.is_floating_point(t):
        t = t.double()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} has non-finite entries")
    if (torch.linalg.vector_norm(t, dim=-2) == 0).any():
        raise ValueError(f"{name} has a zero column (its cosine similarity is undefined)")
    return t


def mmcs(reference, learned) -> torch.Tensor:
    """Mean max cosine similarity, MMCS = n^-1 sum_g max_j cos(reference_g, learned_j).

    ``reference`` (..., h, n) and ``learned`` (..., h, J): directions are columns; leading dimensions
    broadcast (e.g. one ground truth (h, G) against K dictionaries (K, h, J) gives (K,)). Every column of
    ``reference`` is matched with its most similar column of ``learned`` (signs count: a flipped copy has
    cosine -1). Against a larger dictionary, pass the smaller one as ``reference``.
    """
    F = _check_dictionary(reference, "reference")
    D = _check_dictionary(learned, "learned")
    if F.shape[-2] != D.shape[-2]:
        raise ValueError(f"reference and learned must have the same h (dim -2), got {F.shape[-2]} and {D.shape[-2]}")
    dtype = torch.promote_types(F.dtype, D.dtype)
    F = F.to(dtype) / torch.linalg.vector_norm(F.to(dtype), dim=-2, keepdim=True)
    D = D.to(dtype=dtype, device=F.device)
    D = D / torch.linalg.vector_norm(D, dim=-2, keepdim=True)
    cos = torch.matmul(F.transpose(-1, -2), D)  # (..., n, J)
    return cos.amax(dim=-1).mean(dim=-1)


def mmcs_larger(dictionaries: dict) -> dict:
    """For each dictionary, the mean MMCS against every strictly larger one (the report's method 3).

    ``dictionaries`` maps a dictionary size J to a (K, h, J) tensor (K instances, the same K and h
    everywhere, instance k of every size trained with the same alpha). Returns {J: (K,) tensor}, the
    largest J mapped to NaNs (nothing larger to compare with).
    """
    if not isinstance(dictionaries, dict) or not dictionaries:
        raise ValueError("dictionaries must be a non-empty dict {J: (K, h, J) tensor}")
    ds = {}
    for J, D in dictionaries.items():
        D = _check_dictionary(D, "dictionaries")
        if D.dim() != 3 or D.shape[-1] != J:
            raise ValueError(f"dictionaries[{J}] must have shape (K, h, {J}), got {tuple(D.shape)}")
        ds[J] = D.double()
    shapes = {D.shape[:2] for D in ds.values()}
    if len(shapes) != 1:
        raise ValueError(f"dictionaries must share K and h, got {sorted(shapes)}")
    out = {}
    for J, D in ds.items():
        larger = [mmcs(D, ds[J2]) for J2 in sorted(ds) if J2 > J]
        out[J] = torch.stack(larger).mean(0) if larger else torch.full((D.shape[0],), float("nan"), dtype=torch.float64)
    return out


def count_dead(last_fired, step: int, window: int = 500) -> torch.Tensor:
    """Dead latents: those that did not fire in the last ``window`` batches.

    ``last_fired`` (..., J): the index (0-based) of the last batch in which each latent was > 0 on some
    sample, -1 if never; ``step``: batches seen so far. A latent is dead when
    last_fired < max(step - window, 0): it fired in none of the batches max(step - window, 0) .. step - 1
    (all of them when fewer than ``window`` have been seen). Returns the counts (...,).
    """
    step = check_int(step, "step", low=0)
    window = check_int(window, "window", low=1)
    t = torch.as_tensor(last_fired)
    if t.dim() < 1 or torch.is_floating_point(t) or t.dtype == torch.bool:
        raise ValueError(f"last_fired must be an integer tensor (..., J), got {t.dtype} of shape {tuple(t.shape)}")
    if t.numel() and (t.min() < -1 or t.max() >= step):
        raise ValueError(f"last_fired must lie in [-1, step - 1] = [-1, {step - 1}]")
    return (t < max(step - window, 0)).sum(dim=-1)


class DeadNeuronTracker:
    """Keeps, per instance and latent, the last batch in which the latent fired (see :func:`count_dead`)."""

    def __init__(self, instances: int, J: int, window: int = 500, device="cpu"):
        instances = check_int(instances, "instances", low=1)
        J = check_int(J, "J", low=1)
        self.window = check_int(window, "window", low=1)
        self.last_fired = torch.full((instances, J), -1, dtype=torch.long, device=resolve_device(device))
        self.step = 0

    def update(self, codes: torch.Tensor):
        """Record one batch of codes c (K, batch, J) (post-ReLU)."""
        if not isinstance(codes, torch.Tensor) or codes.dim() != 3 or codes.shape[0] != self.last_fired.shape[0] \
                or codes.shape[2] != self.last_fired.shape[1]:
            raise ValueError(f"codes must be a (K, batch, J) = {tuple(self.last_fired.shape[:1])} x batch x "
                             f"{self.last_fired.shape[1]} tensor")
        fired = (codes.detach() > 0).any(dim=1)
        self.last_fired.masked_fill_(fired, self.step)
        self.step += 1

    def dead(self) -> torch.Tensor:
        """(K,) dead-latent counts now."""
        return count_dead(self.last_fired, self.step, self.window)


def standardized_log(values) -> np.ndarray:
    """(log v - mean) / sd over the entries with v > 0 (population sd); NaN where v = 0 or v is NaN.

    All positive entries equal (sd = 0) standardise to 0. Negative or infinite values are refused.
    """
    v = np.array(values, dtype=np.float64)
    if np.any(v[~np.isnan(v)] < 0) or np.any(np.isinf(v)):
        raise ValueError("values must be >= 0 and finite (NaN marks a missing cell)")
    ok = v > 0  # NaN compares False
    out = np.full(v.shape, np.nan)
    if not ok.any():
        return out
    logs = np.log(v[ok])
    sd = logs.std()
    out[ok] = (logs - logs.mean()) / sd if sd > 0 else 0.0
    return out


def ssll(reconstruction, l1) -> np.ndarray:
    """Summed standardised log losses: standardized_log(reconstruction) + standardized_log(l1).

    Both arrays hold one final loss per cell of a sweep grid (same shape); each is standardised over the
    whole grid, ignoring cells whose loss is 0 (log undefined), which come out NaN.
    """
    r = np.asarray(reconstruction, dtype=np.float64)
    a = np.asarray(l1, dtype=np.float64)
    if r.shape != a.shape:
        raise ValueError(f"reconstruction and l1 must have the same shape, got {r.shape} and {a.shape}")
    try:
        sr = standardized_log(r)
    except ValueError as exc:
        raise ValueError(f"reconstruction: {exc}") from None
    try:
        sa = standardized_log(a)
    except ValueError as exc:
        raise ValueError(f"l1: {exc}") from None
    return sr + sa
