"""The narrow step kernel against the dense one: the measurements behind numerics.kernels.NARROW_WHERE.

    python benchmarks/bench_narrow.py [--reps N] [--cases K:n_s:n_d:batch,...] [--dtype float64] [--quick]

For each case a Trainer per kernel (p = 0.05, float32 unless --dtype says, the CPU's default threads) takes blocks of 3 training
steps in alternation, dense then narrow (then sparse where its own rule, SPARSE_WHERE, would have ``auto`` pick
it), so all see the same phases of a shared CPU; the step time is the median over the blocks, a ratio the
median of the paired block ratios (a dense or sparse block against the narrow block next to it). The kernel alone is timed the same way on a fixed batch (the sampler and Adam, which the
two kernels share, left out). A 1024^3 float32 matmul (median of 3) is timed before and after every case.
The default cases: K = 64, batch 1024, n_d in {2, 5, 8, 16, 32, 64} with n_s = 4 n_d and with n_s = 20
(n_d <= n_s), and K = 1 at (20, 5), (80, 20) and (256, 64). About 2 minutes on the 2-core AMD EPYC.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from _results import cpu_info
from bench_train import matmul_peak, timeit
from numerics import TrainConfig
from numerics.kernels import SparseKernel
from numerics.train import Trainer

CPU = torch.device("cpu")


def default_cases() -> list[tuple[int, int, int, int]]:
    """(K, n_s, n_d, batch): the grid NARROW_WHERE was read from."""
    cases = [(64, 4 * n_d, n_d, 1024) for n_d in (2, 5, 8, 16, 32, 64)]
    cases += [(64, 20, n_d, 1024) for n_d in (2, 5, 8, 16) if 4 * n_d != 20]
    cases += [(1, n_s, n_d, 1024) for n_s, n_d in ((20, 5), (80, 20), (256, 64))]
    return cases


def bench_case(K: int, n_s: int, n_d: int, batch: int, reps: int, dtype: str = "float32") -> dict:
    """Paired blocks of steps (and of the bare kernel) of each kernel at one size; see the module doc."""
    def config(kernel):
        return TrainConfig(n_s=n_s, n_d=n_d, p=0.05, instances=K, batch=batch, device="cpu", checkpoint_every=0,
                           kernel=kernel, dtype=dtype)

    kernels = ["dense", "narrow"] + (["sparse"] if SparseKernel.preferred(config("auto"), CPU) else [])
    trainers = {k: Trainer(config(k), CPU) for k in kernels}
    auto = Trainer(config("auto"), CPU).kernel_name
    batches = {k: tr.sample() for k, tr in trainers.items()}
    step = {k: [] for k in kernels}
    bare = {k: [] for k in kernels}
    before = matmul_peak(CPU, reps=3)
    for _ in range(reps):
        for k, tr in trainers.items():
            step[k].append(timeit(tr.train_step, CPU, 1, inner=3)[0])
            bare[k].append(timeit(lambda: tr.kernel(batches[k]), CPU, 1, inner=3)[0])
    after = matmul_peak(CPU, reps=3)
    out = {"K": K, "n_s": n_s, "n_d": n_d, "batch": batch, "dtype": dtype, "auto": auto, "rates": (before, after),
           **{f"{k}_ms": statistics.median(step[k]) * 1e3 for k in kernels}}
    for k in kernels[::2]:  # dense, and sparse where measured, against narrow
        ratio = [a / n for a, n in zip(step[k], step["narrow"])]
        out[f"{k}_ratio"] = (statistics.median(ratio), min(ratio), max(ratio))
        out[f"{k}_kernel_ratio"] = statistics.median(a / n for a, n in zip(bare[k], bare["narrow"]))
    return out


def report(results: list[dict]) -> str:
    lines = [f"Machine: {cpu_info()['cpu']}, {torch.get_num_threads()} threads; torch {torch.__version__}; "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {results[0]['dtype']}", "",
             "| K | n_s | n_d | batch | step (ms): dense, narrow | dense / narrow (blocks) | kernel alone "
             "| sparse step, sparse / narrow | auto | matmul GFLOP/s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in results:
        med, lo, hi = r["dense_ratio"]
        sparse = ""
        if "sparse_ratio" in r:
            s_med, s_lo, s_hi = r["sparse_ratio"]
            sparse = f"{r['sparse_ms']:.2f}, {s_med:.2f}x ({s_lo:.2f}-{s_hi:.2f})"
        lines.append(f"| {r['K']} | {r['n_s']} | {r['n_d']} | {r['batch']} | {r['dense_ms']:.2f}, {r['narrow_ms']:.2f} | "
                     f"**{med:.2f}x** ({lo:.2f}-{hi:.2f}) | {r['dense_kernel_ratio']:.2f}x | {sparse} | {r['auto']} | "
                     f"{r['rates'][0]:.0f}/{r['rates'][1]:.0f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=7, help="paired blocks per case")
    ap.add_argument("--cases", default=None, help="comma-separated K:n_s:n_d:batch (default: the grid above)")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--quick", action="store_true", help="3 blocks per case")
    args = ap.parse_args()
    cases = ([tuple(int(v) for v in c.split(":")) for c in args.cases.split(",")] if args.cases
             else default_cases())
    reps = 3 if args.quick else args.reps
    results = []
    for case in cases:
        results.append(bench_case(*case, reps, args.dtype))
        print(report(results[-1:]).splitlines()[-1], flush=True)
    print("\n" + report(results))


if __name__ == "__main__":
    main()
