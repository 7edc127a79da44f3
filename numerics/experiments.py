"""Training experiments built on :func:`numerics.train`: a (p, r) sweep packed into instances, Toy
Models' small demo, and the broken-symmetry experiment of appendix H. Each writes a directory of runs
plus a JSON index and figures, and is resumable (finished runs are loaded, interrupted ones resume)."""

from __future__ import annotations

from pathlib import Path

import torch

from .config import TrainConfig
from ._validation import check_int, check_probability
from .io import write_json
from .symmetry import row_statistics, unlearned_features
from .executor import TrainJob
from .train import load_run

__all__ = ["sweep", "sweep_jobs", "sweep_index", "toy_models_demo", "broken_symmetry", "group_statistics"]


def _train_or_resume(config: TrainConfig, out: Path, progress: bool):
    return TrainJob(config, out).run(progress)


def _r_by_n_d(n_s: int, ps, rs) -> dict[int, list[float]]:
    """The r values of a sweep grouped by the n_d they give at n_s (validating n_s, every r and every p)."""
    by_nd: dict[int, list[float]] = {}
    for r in rs:
        by_nd.setdefault(TrainConfig(n_s=n_s, r=r, p=ps).n_d, []).append(r)
    return dict(sorted(by_nd.items()))


def sweep_jobs(n_s: int, ps, rs, out_dir, *, seeds: int = 1, **train_kw) -> list:
    """The training jobs of :func:`sweep` (one :class:`~numerics.executor.TrainJob` per n_d), without
    running them: for an executor, or to submit several sweeps as one array."""
    ps = [float(p) for p in ps]
    rs = [float(r) for r in rs]
    if not ps:
        raise ValueError("ps must hold at least one p")
    if not rs:
        raise ValueError("rs must hold at least one r")
    seeds = check_int(seeds, "seeds", low=1)
    out = Path(out_dir)
    return [TrainJob(TrainConfig(n_s=n_s, n_d=n_d, p=ps * seeds, **train_kw), out / f"n_d={n_d}",
                     key=f"n_s={n_s}/n_d={n_d}") for n_d in _r_by_n_d(n_s, ps, rs)]


def sweep(n_s: int, ps, rs, out_dir, *, seeds: int = 1, progress: bool = True, executor=None, **train_kw) -> dict:
    """Train toy models on the grid ps x rs at one n_s, ``seeds`` independent replicas of each, one run
    per n_d holding one instance per (replica, p).

    The runs sharing (n_s, n_d) train together as instances: instance k = s len(ps) + i is replica s of
    ps[i], seeded ``seed + k`` (``train_kw["seed"]``, default 0), so replica 0 is the one-seed sweep.
    Writes ``out_dir/n_d=<n_d>/`` run directories and ``out_dir/index.json`` (one entry per
    (p, r, replica): the run, the instance, its seed and its loss).

    ``executor``: where the runs train (:mod:`numerics.executor`; default: here, one after another). The
    results do not depend on it: the same seeds give the same weights.
    """
    jobs = sweep_jobs(n_s, ps, rs, out_dir, seeds=seeds, **train_kw)
    if executor is None:
        for job in jobs:
            job.run(progress)
    else:
        executor.run(jobs, progress=progress, desc=f"sweep n_s={n_s}")
    return sweep_index(n_s, ps, rs, out_dir, seeds=seeds)


def sweep_index(n_s: int, ps, rs, out_dir, *, seeds: int = 1) -> dict:
    """The index of a finished sweep (read from its runs), also written as ``out_dir/index.json``."""
    ps = [float(p) for p in ps]
    rs = [float(r) for r in rs]
    out = Path(out_dir)
    entries = []
    for n_d, r_group in _r_by_n_d(n_s, ps, rs).items():
        run = load_run(out / f"n_d={n_d}")
        cfg = run.config
        for k, p in enumerate(cfg.p_list):
            inst = run.metrics["instance"][k]
            for r in r_group:
                entries.append({"p": p, "r": r, "n_s": n_s, "n_d": n_d, "run": f"n_d={n_d}", "instance": k,
                                "replica": k // len(ps), "seed": cfg.seeds[k], "loss": inst["loss"],
                                "loss_se": inst["loss_se"], "steps": inst["steps"]})
    index = {"n_s": n_s, "ps": ps, "rs": rs, "seeds": seeds, "entries": entries}
    write_json(out / "index.json", index)
    return index


def toy_models_demo(out_dir, *, sparsities=(0.0, 0.7, 0.9, 0.97, 0.99, 0.997), n_s: int = 20, n_d: int = 5,
                    decay: float = 0.7, max_steps: int = 10_000, progress: bool = True, **train_kw) -> dict:
    """Toy Models' small ReLU-output experiment: n_s = 20, n_d = 5, importance decay^i, one instance
    per sparsity S (p = 1 - S), trained together. Draws W^T W / b / feature norms and superposition
    (``toy_models.png``) and the feature dimensionality (``feature_dimensionality.png``)."""
    from .plots import plot_feature_dimensionality, plot_toy_models

    ps = [1.0 - s for s in sparsities]
    kw = dict(batch=1024, lr=1e-3, max_steps=max_steps, stop_rule=False, checkpoint_every=1000)
    kw.update(train_kw)
    cfg = TrainConfig(n_s=n_s, n_d=n_d, p=ps, importance={"kind": "decay", "decay": decay}, **kw)
    out = Path(out_dir)
    run = _train_or_resume(cfg, out / "run", progress)
    w_in = [run.model.W_in[k] for k in range(len(ps))]
    b = [run.model.b[k, 0] for k in range(len(ps))]
    plot_toy_models(w_in, b, [f"1 - S = {p:.3g}" for p in ps], out=out / "toy_models.png")
    plot_feature_dimensionality(w_in, ps, out=out / "feature_dimensionality.png")
    return {"run": str(out / "run"), "figures": ["toy_models.png", "feature_dimensionality.png"]}


def group_statistics(W: torch.Tensor, p: float, groups: list[slice]) -> list[dict]:
    """Per group of features: the mean diagonal W_ii and the mean noise level sigma_i, the standard
    deviation of nu_i = W_ii^-1 sum_{j != i} W_ij x_j (:func:`numerics.row_statistics`).

    sigma_i is averaged over the learned features only (:func:`numerics.unlearned_features` over the
    whole W; nu_i is meaningless where a feature is not learned); ``dead`` counts the others, and
    mean_sigma is NaN when all of a group are dead."""
    rows = row_statistics(W.detach(), 0.0, check_probability(p, "p"))
    diag, sigma = rows.diag, rows.sigma
    live = torch.from_numpy(~unlearned_features(diag))
    out = []
    for g in groups:
        s = sigma[g][live[g]]
        out.append({"mean_diag": diag[g].mean().item(), "sd_diag": diag[g].std().item(),
                    "mean_sigma": s.mean().item() if s.numel() else float("nan"),
                    "sd_sigma": s.std().item() if s.numel() > 1 else float("nan"),
                    "dead": int((~live[g]).sum())})
    return out


def broken_symmetry(out_dir, *, alphas=(0.0, 0.25, 0.5, 0.75, 1.0), n_s: int = 4096, n_d: int = 1024,
                    p: float = 0.04, batch: int = 4096, lr: float = 3e-4, max_steps: int = 100_000,
                    progress: bool = True, **train_kw) -> dict:
    """Appendix H: importance 1 for the first n_s/2 features and alpha for the rest, one instance per
    alpha, trained together. Reports per group the mean diagonal and the mean noise level (figs 13, 14)
    and draws them against alpha (``broken_symmetry.png``). The paper's sizes are the defaults; pass a
    smaller n_s / n_d on a CPU."""
    from .plots import save_figure, subplots

    alphas = [float(a) for a in alphas]
    cfg = TrainConfig(n_s=n_s, n_d=n_d, p=p, instances=len(alphas), batch=batch, lr=lr, max_steps=max_steps,
                      importance={"kind": "two_group", "alpha": alphas}, **train_kw)
    out = Path(out_dir)
    run = _train_or_resume(cfg, out / "run", progress)
    W = run.model.W()
    half = n_s // 2
    rows = []
    for k, a in enumerate(alphas):
        important, other = group_statistics(W[k], p, [slice(0, half), slice(half, n_s)])
        rows.append({"alpha": a, "important": important, "less_important": other,
                     "loss": run.metrics["instance"][k]["loss"]})
    result = {"n_s": n_s, "n_d": n_d, "p": p, "rows": rows}
    write_json(out / "broken_symmetry.json", result)
    fig, (a1, a2) = subplots(1, 2, figsize=(10, 4))
    for key, lab in (("important", "M = 1"), ("less_important", "M = alpha")):
        a1.plot(alphas, [r[key]["mean_diag"] for r in rows], "o-", label=lab)
        a2.plot(alphas, [r[key]["mean_sigma"] for r in rows], "o-", label=lab)
    a1.set_xlabel("alpha")
    a1.set_ylabel("mean W_ii")
    a2.set_xlabel("alpha")
    a2.set_ylabel("mean sigma_i (std of nu_i)")
    a1.legend()
    fig.suptitle(f"broken symmetry (appendix H): n_s = {n_s}, n_d = {n_d}, p = {p}")
    save_figure(fig, out / "broken_symmetry.png")
    return result
