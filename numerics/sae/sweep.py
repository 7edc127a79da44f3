"""The sweep (:func:`sae_sweep`): L1 coefficient x dictionary ratio, results JSON, weights and heatmaps,
and its resume logic (a finished ratio is read back, not retrained; a sweep written before a config
field existed resumes with the field at its default).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .._validation import resolve_device
from ..io import load_weights, read_json, save_weights, write_json
from .config import SAESweepConfig
from .data import ToyFeatureData
from .metrics import mmcs_larger, ssll
from .plots import plot_sae_sweep
from .train import train_sae


def _as_config(saved) -> dict | None:
    """A saved sweep config with the fields added since it was written at their defaults (None if it is
    no valid config), so that a sweep written before a new field resumes."""
    if not isinstance(saved, dict):
        return None
    try:
        return SAESweepConfig(**saved).to_dict()
    except (TypeError, ValueError):
        return None


def _grid(cells: dict, key: str, sweep: SAESweepConfig) -> list[list]:
    """rows: ratios, columns: alphas."""
    return [[cells[J][key][i] for i in range(len(sweep.alphas))] for J in sweep.dict_sizes]


def sae_sweep(config: SAESweepConfig, out_dir, *, device="auto", progress: bool = True, resume: bool = True,
              plots: bool = True, threads: int | None = None) -> dict:
    """Run the sweep and write ``out_dir``:

    - ``results.json``: the config, and per dictionary size the per-alpha metrics (mmcs, dead,
      reconstruction, l1, total, mean_active, seconds_per_step); grids (rows = ratios, columns = alphas)
      of mmcs, dead, reconstruction, l1, ssll and mmcs_larger. Written atomically after every ratio.
    - ``dictionaries/J{J}.safetensors``: each run's weights (decoder normalised) and alphas.
    - ``mmcs.png``, ``dead_neurons.png``, ``ssll.png``, ``mmcs_larger.png`` (when ``plots``).

    With ``resume``, ratios whose results and weights are already in ``out_dir`` are not retrained
    (a different config there is a ValueError). ``threads`` is passed to :func:`train_sae`.
    Returns the results dict.
    """
    if not isinstance(config, SAESweepConfig):
        raise ValueError(f"config must be an SAESweepConfig, got {type(config).__name__}")
    try:
        out = Path(out_dir)
    except TypeError as exc:
        raise ValueError(f"out_dir must be a path, got {out_dir!r}") from exc
    dev = resolve_device(device)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    cfg = config.to_dict()
    cells: dict[int, dict] = {}
    if resume and results_path.is_file():
        old = read_json(results_path)
        if _as_config(old.get("config")) != cfg:
            raise ValueError(f"out_dir {str(out)!r} holds a sweep with a different config; use another "
                             f"directory or resume=False")
        for J, c in old.get("cells", {}).items():
            if (out / "dictionaries" / f"J{int(J)}.safetensors").is_file():
                cells[int(J)] = c
    data = ToyFeatureData(config.data, dev, config.dtype)
    save_weights(out / "ground_truth.safetensors", {"features": data.features})
    dictionaries: dict[int, torch.Tensor] = {}
    for J in config.dict_sizes:
        wpath = out / "dictionaries" / f"J{J}.safetensors"
        if J in cells:
            dictionaries[J] = load_weights(wpath)["decoder"].double()
            continue
        res = train_sae(data, config.train_config(J), progress=progress, threads=threads)
        D = res.model.dictionary().detach()
        save_weights(wpath, {"decoder": D, "encoder": res.model.W_e, "bias": res.model.b_e,
                             "alphas": res.model.alpha})
        dictionaries[J] = D.cpu().double()
        cells[J] = {k: v for k, v in res.metrics().items() if k not in ("seconds",)}
        cells[J]["seconds"] = res.seconds
        write_json(results_path, {"config": cfg, "cells": {str(k): v for k, v in cells.items()}})
    larger = mmcs_larger(dictionaries)
    for J in config.dict_sizes:
        cells[J]["mmcs_larger"] = larger[J].tolist()
    grids = {k: _grid(cells, k, config) for k in ("mmcs", "dead", "reconstruction", "l1", "mmcs_larger")}
    grids["ssll"] = ssll(grids["reconstruction"], grids["l1"]).tolist()
    results = {"config": cfg, "cells": {str(k): cells[k] for k in config.dict_sizes},
               "alphas": config.alphas, "ratios": config.ratios, "dict_sizes": config.dict_sizes,
               "grids": grids, "device": str(dev)}
    write_json(results_path, results)
    if plots:
        plot_sae_sweep(results, out)
    return results
