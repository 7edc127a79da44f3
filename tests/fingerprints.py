"""Bit-for-bit fingerprints of what numerics computes from fixed seeds on the CPU, for refactors that must not
change results (issue 17: "the same seeds give the same weights, bit for bit on CPU, before and after").

    python tests/fingerprints.py record before.json    # on the old code
    python tests/fingerprints.py compare before.json   # on the new code, same machine: exit 1 on a difference

Not a test: float results may differ between CPU kinds (other SIMD paths), so the fingerprints are compared
on one machine, before and after a change. Each entry is the SHA-256 of the tensors' bytes (weights,
samples, curves: these must be identical) or the exact repr of floats (losses, statistics: identical, or
equal to rounding within ROUNDING relative when a summation order changed, which compare reports).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch


def _digest(*tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().contiguous().numpy()
        h.update(np.ascontiguousarray(t).tobytes())
    return h.hexdigest()[:24]


def _floats(values) -> list:
    return [repr(float(v)) for v in values]


def _timeless(obj):
    """obj without its timings (keys naming seconds or rates), which differ from run to run."""
    if isinstance(obj, dict):
        return {k: _timeless(v) for k, v in obj.items() if "second" not in k and "per_s" not in k}
    if isinstance(obj, (list, tuple)):
        return [_timeless(v) for v in obj]
    return obj


def fingerprints() -> dict:
    import numerics
    from numerics import TrainConfig, load_run, train

    torch.set_num_threads(1)
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        runs = {
            "train_dense_tied": TrainConfig(n_s=64, r=0.25, p=[0.02, 0.1, 0.4], max_steps=600, batch=64,
                                            window=50, device="cpu", kernel="dense"),
            "train_dense_untied_f64": TrainConfig(n_s=48, n_d=12, p=0.05, instances=2, max_steps=400, batch=32,
                                                  window=50, device="cpu", tied=False, dtype="float64"),
            "train_sparse": TrainConfig(n_s=512, r=0.25, p=[0.01, 0.03], max_steps=150, batch=32, window=50,
                                        device="cpu", kernel="sparse"),
            "train_importance": TrainConfig(n_s=32, n_d=8, p=0.1, instances=2, max_steps=300, batch=32, window=50,
                                            device="cpu", importance={"kind": "two_group", "alpha": [0.5, 1.0]}),
            "train_no_rule": TrainConfig(n_s=32, r=0.5, p=0.3, max_steps=200, batch=16, window=50, device="cpu",
                                         stop_rule=False, bias=False),
        }
        for name, cfg in runs.items():
            run = train(cfg, tmp / name, progress=False)
            run = load_run(tmp / name)
            with torch.no_grad():
                out[name] = {"weights": _digest(run.model.W_in, run.model.out_weight(), run.model.bias()),
                             "steps": [i["steps"] for i in run.metrics["instance"]],
                             "loss": _floats(i["loss"] for i in run.metrics["instance"]),
                             "loss_se": _floats(i["loss_se"] for i in run.metrics["instance"]),
                             "curve": _digest(np.asarray(run.metrics["curve"]))}
        fits = numerics.fit_rug(256, 0.25, 0.05, method="both", seed=3, n_samples=4096, n_eval=4096,
                                max_steps=400, window=50, device="cpu", progress=False)
        out["fit_rug"] = {m: _floats([getattr(fits, m).a, getattr(fits, m).b, getattr(fits, m).loss,
                                      getattr(fits, m).loss_se]) for m in ("train", "fit")}
        from numerics.sae import SAEDataConfig, SAESweepConfig, SAETrainConfig, sae_sweep, train_sae

        res = train_sae(SAEDataConfig(h=8, G=16, seed=1), SAETrainConfig(dict_size=16, alphas=[0.03, 0.3], steps=150,
                                                                        batch=64, eval_samples=512), device="cpu")
        out["train_sae"] = {"weights": _digest(*[p for p in res.model.parameters()]),
                            "metrics": _floats(res.reconstruction + res.l1 + res.mmcs + res.mean_active),
                            "curve": _digest(np.asarray(res.curve))}
        sweep = sae_sweep(SAESweepConfig(data=SAEDataConfig(h=8, G=16), alphas=[0.1], ratios=[0.5, 1.0], steps=100,
                                         batch=32, eval_samples=256), tmp / "sweep", device="cpu", progress=False)
        out["sae_sweep"] = _digest(np.asarray(json.dumps(_timeless(sweep), sort_keys=True, default=str).encode()))
    g = torch.Generator().manual_seed(7)
    out["samples"] = {f"p={p}": _digest(numerics.sample_features(257, 300, p, generator=torch.Generator()
                                                                  .manual_seed(5)))
                      for p in (0.005, 0.05, 0.2, 0.25, 0.3, 0.9)}
    W = torch.randn(96, 96, generator=g, dtype=torch.float64) * 0.1 + torch.eye(96, dtype=torch.float64)
    b = torch.randn(96, generator=g, dtype=torch.float64) * 0.05
    out["symmetry_stats"] = _digest(np.asarray(json.dumps(numerics.symmetry_stats(W, b, 0.05).as_dict(),
                                                           sort_keys=True).encode()))
    out["macroscopic"] = _digest(np.asarray(json.dumps(numerics.macroscopic_params(W, b, 0.05).as_dict(),
                                                       sort_keys=True).encode()))
    rows = numerics.row_statistics(W, b, 0.05)
    out["row_statistics"] = _digest(rows.diag, rows.sigma, rows.effective_bias)
    out["row_structure"] = _digest(np.asarray(json.dumps(numerics.row_structure(W.numpy()).summary(),
                                                         sort_keys=True, default=str).encode()))
    out["interference_samples"] = _digest(numerics.interference_samples(W, 0.05, [0, 5, 9], n_samples=300, seed=2))
    out["rug_apply"] = _digest(numerics.RugOperator(1024, 100, seed=4).apply(
        torch.randn(3, 1024, generator=g)))
    return out


def main(argv) -> int:
    if len(argv) != 3 or argv[1] not in ("record", "compare"):
        print(__doc__)
        return 2
    got = fingerprints()
    path = Path(argv[2])
    if argv[1] == "record":
        path.write_text(json.dumps(got, indent=1, sort_keys=True))
        print(f"recorded {len(got)} fingerprints -> {path}")
        return 0
    want = json.loads(path.read_text())
    bad, rounding = [], []
    for k in sorted(set(want) | set(got)):
        verdict = _same(want.get(k), got.get(k))
        if verdict == "differs":
            bad.append(k)
            print(f"DIFFERS {k}:\n  before {want.get(k)}\n  after  {got.get(k)}")
        elif verdict == "rounding":
            rounding.append(k)
    print(f"{len(want) - len(bad) - len(rounding)} of {len(want)} fingerprints identical; "
          f"{len(rounding)} equal to rounding (floats within {ROUNDING:g} relative: {', '.join(rounding) or '-'}); "
          f"{len(bad)} differ")
    return 1 if bad else 0


#: floats (held-out losses, statistics) that differ by at most this, relative, are "equal to rounding";
#: digests (weights, samples, curves) and step counts must be identical
ROUNDING = 1e-12


def _same(a, b) -> str:
    if a == b:
        return "identical"
    if isinstance(a, dict) and isinstance(b, dict) and set(a) == set(b):
        verdicts = [_same(a[k], b[k]) for k in a]
        return "differs" if "differs" in verdicts else "rounding"
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(
            isinstance(x, str) and isinstance(y, str) for x, y in zip(a, b)):
        try:
            close = all(abs(float(x) - float(y)) <= ROUNDING * max(abs(float(x)), abs(float(y))) for x, y in zip(a, b))
        except ValueError:
            return "differs"
        return "rounding" if close else "differs"
    return "differs"

if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
