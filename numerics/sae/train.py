"""Training a batch of sparse autoencoders (:func:`train_sae`: Adam, lr 1e-3, batch 256 by default) on
fresh toy data, the held-out evaluation of the final losses (``_evaluate``), and the result
(:class:`SAEResult`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from .._validation import check_int, resolve_device
from ..core import MeanSE, make_adam
from .config import _DTYPES, SAEDataConfig, SAETrainConfig
from .data import _EVAL_SEED_OFFSET, _SAMPLE_SEED_OFFSET, ToyFeatureData
from .metrics import DeadNeuronTracker, mmcs
from .model import SparseAutoencoder


@dataclass
class SAEResult:
    """A trained batch of autoencoders and its measurements (all per instance, (K,) lists).

    mmcs : against the ground truth. dead : dead latents at the end (window T). reconstruction, l1, total :
    final losses on held-out samples, and ``*_se`` their standard errors. mean_active : mean number of
    latents > 0 per held-out sample.
    curve : mean training loss per instance for each block of 100 steps. seconds, seconds_per_step.
    """

    model: SparseAutoencoder
    config: SAETrainConfig
    alphas: list
    mmcs: list
    dead: list
    reconstruction: list
    l1: list
    total: list
    mean_active: list
    curve: list
    seconds: float
    seconds_per_step: float
    reconstruction_se: list | None = None
    l1_se: list | None = None
    total_se: list | None = None

    def metrics(self) -> dict:
        d = {k: getattr(self, k) for k in ("alphas", "mmcs", "dead", "reconstruction", "reconstruction_se", "l1",
                                           "l1_se", "total", "total_se", "mean_active", "seconds",
                                           "seconds_per_step")}
        d["dict_size"] = self.config.dict_size
        return d


@torch.no_grad()
def _evaluate(model: SparseAutoencoder, data: ToyFeatureData, samples: int, batch: int = 4096):
    """Held-out per-instance means over ``samples`` fresh samples: reconstruction (1/h)||x - x_hat||^2 and
    L1 term (alpha/J)||c||_1 with their standard errors (:class:`~numerics.core.MeanSE`), and the mean
    number of active latents. Returns (rec, rec_se, l1, l1_se, total_se, active), lists of K floats."""
    gen = data.make_generator(_EVAL_SEED_OFFSET)
    rec, l1, total = MeanSE(), MeanSE(), MeanSE()
    active = torch.zeros(model.instances, dtype=torch.float64, device=data.device)
    done = 0
    while done < samples:
        n = min(batch, samples - done)
        x = data.sample(n, gen)
        x_hat, c = model(x)
        r = (x_hat - x).square().mean(-1)  # (K, n): per sample ||x - x_hat||^2 / h
        a = model.alpha[:, None] * c.abs().mean(-1)  # per sample alpha ||c||_1 / J
        rec.add(r)
        l1.add(a)
        total.add(r + a)
        active += (c > 0).sum(dim=(1, 2)).double()
        done += n
    (rec_m, rec_se), (l1_m, l1_se), (_, total_se) = rec.result(), l1.result(), total.result()
    return rec_m, rec_se, l1_m, l1_se, total_se, (active / samples).cpu().tolist()


def train_sae(data, config: SAETrainConfig, *, device="auto", progress: bool = False,
              threads: int | None = None, callback=None) -> SAEResult:
    """Train K = len(config.alphas) autoencoders (J = config.dict_size) together on fresh toy data.

    ``data`` : an :class:`SAEDataConfig` (built on ``device``) or a :class:`ToyFeatureData` (its device is
    used). Every call replays the same data stream (seeded from the data config), so runs with different
    J see identical batches. Each instance's loss depends on its own parameters only, so summing the K
    losses and taking one Adam step trains each as if alone. ``threads``: torch's CPU thread count for
    the duration of the call (restored after); 1 is much faster for small models on a busy CPU, where
    the threads' synchronisation costs more than the matmuls. None leaves the setting alone.

    ``callback``: called after every block of 100 steps (and the last step) with one dict, ``{"step":
    int, "losses": [the block's mean total loss, per instance], "instances": [0 .. K-1], "alphas":
    [per instance], "dead": [dead latents now, per instance]}``, the same hook as ``numerics.train``'s,
    for attaching a logger without a dependency.
    """
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable or None, got {type(callback).__name__}")
    if threads is not None:
        threads = check_int(threads, "threads", low=1)
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return train_sae(data, config, device=device, progress=progress, callback=callback)
        finally:
            torch.set_num_threads(before)
    if not isinstance(config, SAETrainConfig):
        raise ValueError(f"config must be an SAETrainConfig, got {type(config).__name__}")
    if isinstance(data, SAEDataConfig):
        data = ToyFeatureData(data, resolve_device(device), config.dtype)
    elif not isinstance(data, ToyFeatureData):
        raise ValueError(f"data must be an SAEDataConfig or a ToyFeatureData, got {type(data).__name__}")
    elif data.dtype != _DTYPES[config.dtype]:
        raise ValueError(f"data has dtype {data.dtype}, config.dtype is {config.dtype}")
    dev = data.device
    model = SparseAutoencoder(data.config.h, config.dict_size, config.alphas, config.seed, config.dtype).to(dev)
    opt = make_adam(model.parameters(), config.lr)
    tracker = DeadNeuronTracker(model.instances, config.dict_size, config.dead_window, dev)
    gen = data.make_generator(_SAMPLE_SEED_OFFSET)
    block, acc, curve = 100, torch.zeros(model.instances, dtype=torch.float64, device=dev), []
    t0 = time.perf_counter()
    for step in tqdm(range(config.steps), disable=not progress, desc=f"SAE J={config.dict_size}", leave=False):
        x = data.sample(config.batch, gen)
        out = model.losses(x)
        opt.zero_grad(set_to_none=True)
        out.total.sum().backward()
        opt.step()
        tracker.update(out.codes)
        acc += out.total.detach().double()
        if (step + 1) % block == 0 or step + 1 == config.steps:
            n = (step % block) + 1
            curve.append((acc / n).cpu().tolist())
            acc.zero_()
            if callback is not None:
                callback({"step": step + 1, "losses": list(curve[-1]), "instances": list(range(model.instances)),
                          "alphas": list(config.alphas), "dead": tracker.dead().cpu().tolist()})
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - t0
    model.eval()
    rec, rec_se, l1, l1_se, total_se, active = _evaluate(model, data, config.eval_samples)
    with torch.no_grad():
        m = mmcs(data.features.double(), model.dictionary().double()).cpu().tolist()
    return SAEResult(model=model, config=config, alphas=list(config.alphas), mmcs=m,
                     dead=tracker.dead().cpu().tolist(), reconstruction=rec, l1=l1,
                     total=[a + b for a, b in zip(rec, l1)], mean_active=active, curve=curve,
                     seconds=seconds, seconds_per_step=seconds / config.steps,
                     reconstruction_se=rec_se, l1_se=l1_se, total_se=total_se)
