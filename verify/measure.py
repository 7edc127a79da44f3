"""Train the models a profile needs and read off what the theory talks about.

Everything here is measurement (numerics) plus the theory's prediction for the measured parameters; the
judging happens in :mod:`verify.comparisons`.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

import theory
from numerics import load_run, macroscopic_params, row_statistics, symmetry_stats, unlearned_features
from numerics.experiments import sweep, sweep_jobs

from .profiles import Profile, stage_seed

__all__ = ["train_kwargs", "train_sweep", "grid_jobs", "measure_instance", "measure_weights", "per_row_theory_loss", "EXACT_TOL", "MMSE_ROWS"]


def grid_jobs(profile: Profile, n_s: int, ps, rs, out_dir: Path, offset: int = 0) -> list:
    """The training jobs of :func:`train_sweep` (numerics.executor.TrainJob), to submit several at once."""
    return sweep_jobs(n_s, ps, rs, out_dir, seeds=profile.seeds, seed=stage_seed(profile, offset),
                      **train_kwargs(profile, n_s))


def train_kwargs(profile: Profile, n_s: int) -> dict:
    return dict(lr=profile.lr_factor * 3e-3 / math.sqrt(n_s), batch=profile.batch, max_steps=profile.max_steps,
                min_steps=min(profile.min_steps, profile.max_steps), init=profile.init,
                device=profile.device, checkpoint_every=1000 if profile.max_steps >= 1000 else 0)


def train_sweep(profile: Profile, n_s: int, ps, rs, out_dir: Path, progress: bool, offset: int = 0,
                mmse_rows: int | None = None, executor=None) -> list[dict]:
    """Train (or load) the models of a (p, r) grid at n_s, ``profile.seeds`` replicas each (seeded from
    ``stage_seed(profile, offset)``); measure every instance (its record carries its seed), with
    ``mmse_rows`` exact-MMSE rows each (default MMSE_ROWS; 0 for a stage that does not read them).
    ``executor``: where the runs train (numerics.executor; None: here)."""
    mmse_rows = MMSE_ROWS if mmse_rows is None else mmse_rows
    index = sweep(n_s, ps, rs, out_dir, seeds=profile.seeds, seed=stage_seed(profile, offset), progress=progress,
                  executor=executor, **train_kwargs(profile, n_s))
    runs = {}
    records = []
    for e in index["entries"]:
        run = runs.get(e["run"]) or runs.setdefault(e["run"], load_run(Path(out_dir) / e["run"]))
        rec = measure_instance(run, e["instance"], ks_samples=profile.ks_samples,
                               mmse_rows=mmse_rows)
        rec["r"] = e["r"]
        records.append(rec)
    return records


def per_row_theory_loss(diag, effective_bias, sigma, p: float) -> float:
    """The theory's loss with each row's own (a_i, effective b_i, sigma_i), averaged over rows: the
    Gaussian approximation without assuming the rows are alike."""
    a = np.asarray(diag, dtype=float)
    b = np.asarray(effective_bias, dtype=float)
    s = np.asarray(sigma, dtype=float)
    ok = np.isfinite(s) & (a > 0) & (s <= 1e3)
    losses = np.empty_like(a)
    if ok.any():
        losses[ok] = theory.macroscopic_loss(a[ok], b[ok], s[ok], p)
    # rows that never learned their feature (a_i <= 0 or huge interference): the output is ReLU(b_i + noise)
    # with no signal; such a row costs at least E x^2 - (E x)^2 = Var x and at most E x^2 when its bias is
    # negative; count it at E x^2 - its mean output is ~0 for the dead rows seen in practice.
    losses[~ok] = p / 3.0
    return float(losses.mean())


#: rows of every trained model (each seed) whose exact elementwise MMSE is computed (a row costs up to a
#: few seconds at small p n_s; the check is a theorem that must hold on every row it looks at)
MMSE_ROWS = 1
#: the relative accuracy of the exact losses and MMSEs computed for the report: 1e-5 is a thousand times
#: finer than a held-out loss's standard error, and costs a third of 1e-6 at small p n_s
EXACT_TOL = 1e-5


def _mmse_rows(W: np.ndarray, row_loss: np.ndarray, p: float, seed: int, count: int) -> list[dict]:
    """For ``count`` rows drawn at random (learned ones, W_ii > 0): the exact loss of the row and the least
    loss any elementwise decoder reaches given that row's actual interference (theory.exact_mmse)."""
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(np.diag(W) > 0)
    out = []
    for i in rng.choice(rows, size=min(count, rows.size), replace=False) if rows.size and count else []:
        m = theory.exact_mmse(np.delete(W[i], i), p, W[i, i], tol=EXACT_TOL)
        out.append({"row": int(i), "loss": float(row_loss[i]), "mmse": m.mmse, "mmse_error": m.error_estimate})
    return out


def measure_instance(run, k: int, *, ks_samples: int = 2000, mmse_rows: int = MMSE_ROWS) -> dict:
    """Loss, macroscopic parameters and symmetry statistics of instance k of a finished run."""
    cfg = run.config
    with torch.no_grad():
        W = run.model.W()[k].double()
        b = run.model.bias()[k, 0].double()
    inst = run.metrics["instance"][k]
    rec = measure_weights(W, b, cfg.p_list[k], cfg.r, cfg.n_d, seed=cfg.seeds[k], row_seed=k,
                          ks_samples=ks_samples, mmse_rows=mmse_rows)
    return rec | {"steps": inst["steps"], "stopped_by": inst["stopped_by"], "loss": inst["loss"],
                  "loss_se": inst["loss_se"]}


def measure_weights(W, b, p: float, r: float, n_d: int | None, *, seed: int = 0, row_seed: int = 0,
                    ks_samples: int = 2000, mmse_rows: int = MMSE_ROWS) -> dict:
    """What the theory talks about, read off one model x' = ReLU(W x + b) (W n_s x n_s, b n_s, float64
    tensors) at feature probability p and ratio r: its exact loss and its split against L*, exact-MMSE rows
    (``mmse_rows`` of them, drawn with ``row_seed``), macroscopic parameters, symmetry and row statistics.
    ``seed`` labels the record. No held-out loss: :func:`measure_instance` adds the training run's."""
    n_s = int(W.shape[-1])
    mp = macroscopic_params(W, b, p)
    ss = symmetry_stats(W, b, p, ks_samples=ks_samples)
    rows = row_statistics(W, b, p)
    diag = rows.diag.numpy()
    live = ~unlearned_features(diag)
    dead = int(diag.size - live.sum())
    sigma_rows = rows.sigma.numpy()
    off = W - torch.diag(torch.diagonal(W))
    off_mean_rows = (off.sum(1) / (n_s - 1)).numpy()
    # the model's loss without sampling, split against L* (theory.loss_decomposition computes it)
    dec = theory.loss_decomposition(W.numpy(), b.numpy(), p, r, learned=live, tol=EXACT_TOL)
    mmse = _mmse_rows(W.numpy(), dec.per_feature_exact, p, row_seed, mmse_rows)
    return {
        "exact_loss": dec.exact, "exact_loss_bound": dec.exact_error_bound, "exact_mmse_rows": mmse,
        "decomposition": {k: getattr(dec, k) for k in ("L_star", "parameters", "heterogeneity", "non_gaussian",
                                                       "gaussian", "row_gaussian")},
        "n_s": n_s, "n_d": n_d, "r": r, "p": p, "seed": seed,
        "macroscopic": mp.as_dict(), "symmetry": ss.as_dict(),
        "dead_features": dead,
        "sigma_live_rms": float(np.sqrt(np.mean(sigma_rows[live] ** 2))) if live.any() else math.nan,
        "theory_loss_own_params": float(theory.macroscopic_loss(max(mp.a, 0.0), mp.b_eff, mp.sigma_rms, p))
        if np.isfinite(mp.sigma_rms) and mp.a > 0 and mp.sigma_rms <= 1e3 else math.nan,
        "theory_loss_per_row": per_row_theory_loss(diag, rows.effective_bias.numpy(), sigma_rows, p),
        "off_diagonal_mean": float(off_mean_rows.mean()),
        "off_diagonal_rms": float(torch.sqrt((off**2).sum() / (n_s * (n_s - 1))).item()),
        "diag_sd": float(np.std(diag)),
        "bias_sd": float(np.std(rows.bias.numpy())),
    }
