"""Benchmark of the exact finite-n_s loss (theory.exact_loss, theory.rug_exact_loss) against Monte Carlo.

Measures, in one run:

1. ``theory.exact_loss(W, b, p)`` for a dense rank-n_d matrix W = U U^T (U Gaussian, n_d = n_s / 4, rows
   scaled to unit diagonal: a Welch-like model with distinct rows, the worst case for grouping),
   b = -0.2, p = 0.045, at n_s = 1024, 2048, 4096 (8192 with --full): the time, and the stated error
   bound relative to the loss;
2. Monte Carlo of the same model (x = Bernoulli(p) U[0, 1] batches through numpy, float64): the time per
   sample and the per-sample standard deviation of the loss from a pilot, hence the time Monte Carlo
   needs to reach the exact method's error bound, and the time it needs for 1e-3 relative (both
   extrapolated from the measured rate, since 1e-6 would take years);
3. ``theory.rug_exact_loss`` at n_s = 2^10 ... 2^20 (r = 1/4, p = 0.045), against the Monte Carlo of
   the rug applied through numerics' RugOperator (fast Walsh-Hadamard transform) at the same sizes.

The figures are ratios measured side by side in this run (exact / Monte Carlo time to the same
accuracy). Noise protocol: a 1024^3 float32 numpy matmul is timed (median of 5) before and after.

Usage:  python benchmarks/bench_exact.py [--write] [--full]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np
import torch

import theory
from _results import cpu_info, matmul_rate, write_section
from numerics import RugOperator, sample_features

P = 0.045
BIAS = -0.2


def welch_like(n_s: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    U = rng.standard_normal((n_s, n_s // 4))
    W = U @ U.T
    d = np.sqrt(np.diag(W))
    return W / d[:, None] / d[None, :]


def mc_dense(W: np.ndarray, p: float, b: float, samples: int, seed: int = 1) -> tuple[float, float, float]:
    """Monte Carlo of the per-feature loss: (mean, per-sample std, seconds per sample)."""
    rng = np.random.default_rng(seed)
    n_s = W.shape[0]
    losses = []
    t0 = time.perf_counter()
    batch = 256
    for _ in range(max(1, samples // batch)):
        x = (rng.random((batch, n_s)) < p) * rng.random((batch, n_s))
        out = np.maximum(x @ W.T + b, 0.0)
        losses.append(((x - out) ** 2).mean(1))
    sec = (time.perf_counter() - t0) / (len(losses) * batch)
    v = np.concatenate(losses)
    return float(v.mean()), float(v.std(ddof=1)), sec


def mc_rug(op: RugOperator, a: float, b: float, p: float, samples: int) -> tuple[float, float, float]:
    g = torch.Generator().manual_seed(2)
    losses = []
    t0 = time.perf_counter()
    batch = max(1, min(256, (1 << 22) // op.n_s))
    for _ in range(max(1, samples // batch)):
        x = sample_features(batch, op.n_s, p, generator=g, dtype=torch.float64)
        out = torch.relu(a * op.apply(x) + b)
        losses.append(((x - out) ** 2).mean(1))
    sec = (time.perf_counter() - t0) / (len(losses) * batch)
    v = torch.cat(losses).numpy()
    return float(v.mean()), float(v.std(ddof=1)), sec


def years(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.3g} s"
    if seconds < 7200:
        return f"{seconds / 60:.3g} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.3g} h"
    if seconds < 2 * 365 * 86400:
        return f"{seconds / 86400:.3g} days"
    return f"{seconds / (365 * 86400):.3g} years"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="write the results into RESULTS.md")
    ap.add_argument("--full", action="store_true", help="include n_s = 8192 for the dense matrix")
    args = ap.parse_args(argv)
    info = cpu_info()
    a32 = np.random.default_rng(0).standard_normal((1024, 1024)).astype(np.float32)
    before = matmul_rate(a32, a32)
    lines = [f"Machine: {info['cpu']}, {info['cores']} cores, Python {info['python']}, {info['date']}. "
             f"Matmul check (1024^3 float32): {before[1]:.0f} GFLOP/s before the run", ""]

    lines += ["**Dense model** (W = U U^T, rank n_s/4, unit diagonal, distinct rows; b = -0.2, p = 0.045)", "",
              "| n_s | exact_loss | its bound / loss | Monte Carlo per sample | MC to the same accuracy | "
              "MC to 1e-3 relative | MC-to-1e-3 time / exact time |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for n_s in (1024, 2048, 4096) + ((8192,) if args.full else ()):
        W = welch_like(n_s)
        t0 = time.perf_counter()
        ex = theory.exact_loss(W, BIAS, P)
        t_exact = time.perf_counter() - t0
        mean, sd, sec = mc_dense(W, P, BIAS, samples=4096)
        z = abs(mean - ex.total) / (sd / math.sqrt(4096))
        rel_bound = ex.error_bound / ex.total
        n_same = (sd / ex.error_bound) ** 2 if ex.error_bound > 0 else math.inf
        n_1e3 = (sd / (1e-3 * ex.total)) ** 2
        lines.append(f"| {n_s} | {t_exact:.2f} s | {rel_bound:.1e} | {sec * 1e6:.0f} us (pilot {z:.1f} se "
                     f"from exact) | {years(n_same * sec)} | {years(n_1e3 * sec)} | "
                     f"{n_1e3 * sec / t_exact:.2g}x |")
        print(lines[-1], flush=True)

    lines += ["", "**Rug** (r = 1/4, p = 0.045, (a, b) = (1.29, -0.18)); Monte Carlo through RugOperator "
              "(fast Walsh-Hadamard transform)", "",
              "| n_s | rug_exact_loss | its bound / loss | Monte Carlo per sample | MC to 1e-3 relative | "
              "MC-to-1e-3 time / exact time |", "|---:|---:|---:|---:|---:|---:|"]
    for k in (10, 12, 14, 16, 18, 20):
        n_s = 1 << k
        op = RugOperator(n_s, n_s // 4, seed=k)
        S = op.S.numpy()
        reps = []
        for _ in range(3):
            t0 = time.perf_counter()
            ex = theory.rug_exact_loss(1.29, -0.18, P, n_s, S)
            reps.append(time.perf_counter() - t0)
        t_exact = statistics.median(reps)
        mean, sd, sec = mc_rug(op, 1.29, -0.18, P, samples=max(64, (1 << 22) // n_s))
        n_1e3 = (sd / (1e-3 * ex.loss)) ** 2
        lines.append(f"| 2^{k} | {t_exact * 1e3:.1f} ms | {ex.error_bound / ex.loss:.1e} | {sec * 1e3:.2f} ms | "
                     f"{years(n_1e3 * sec)} | {n_1e3 * sec / t_exact:.3g}x |")
        print(lines[-1], flush=True)
    after = matmul_rate(a32, a32)
    lines += ["", f"Matmul check after: {after[1]:.0f} GFLOP/s. 'MC to X' is extrapolated from the measured rate "
              "and the per-sample standard deviation: N = (sd / (X loss))^2 samples. The rug's loss per "
              "sample averages n_s features, so its per-sample spread shrinks with n_s."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("bench_exact", "## bench_exact: the exact finite-n_s loss against Monte Carlo\n\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
