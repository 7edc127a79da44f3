"""The sparse-output kernel against the dense and sparse ones, one training step each, at a realistic
fraction of active outputs (issue 19, item 4); its figures are in benchmarks/README.md.

    python benchmarks/bench_sparse_out.py [threads] [n_s] [p] [bias]

A trained model at small p has few active outputs (f > 0); at initialisation many more are. Every bias is set
to ``bias`` (default -0.05) so that the active fraction is the one wanted (printed); the three kernels are
timed in alternating blocks of 5 steps, 5 rounds, median; the matmul rate is printed before and after.
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

from _results import cpu_info, matmul_rate
from numerics import TrainConfig
from numerics.train import Trainer

KERNELS = ("dense", "sparse", "sparse_out")


def main(argv):
    threads = int(argv[1]) if len(argv) > 1 else 2
    n_s = int(argv[2]) if len(argv) > 2 else 2048
    p = float(argv[3]) if len(argv) > 3 else 0.05
    bias = float(argv[4]) if len(argv) > 4 else -0.05
    torch.set_num_threads(threads)
    peak = torch.randn(1024, 1024), torch.randn(1024, 1024)
    before = matmul_rate(*peak)[1]
    cpu = torch.device("cpu")
    trainers = {k: Trainer(TrainConfig(n_s=n_s, r=0.25, p=p, batch=1024, kernel=k, device="cpu", max_steps=10**9,
                                       stop_rule=False, checkpoint_every=0), cpu) for k in KERNELS}
    for tr in trainers.values():
        with torch.no_grad():
            tr.model.b.fill_(bias)
        for _ in range(3):
            tr.train_step()
    times = {k: [] for k in KERNELS}
    for _ in range(5):  # alternating blocks: every kernel sees the same phases of a shared CPU
        for k, tr in trainers.items():
            t = time.perf_counter()
            for _ in range(5):
                tr.train_step()
            times[k].append((time.perf_counter() - t) / 5)
    after = matmul_rate(*peak)[1]
    dense = statistics.median(times["dense"])
    print(f"{cpu_info()['cpu']}, {threads} threads; n_s = {n_s}, p = {p}, bias = {bias}; "
          f"matmul {before:.0f} / {after:.0f} GFLOP/s before / after")
    for k in KERNELS:
        t = statistics.median(times[k])
        print(f"{k:>10}: {1e3 * t:7.1f} ms per step, dense / this = {dense / t:.2f}")
    tr = trainers["sparse_out"]
    with torch.no_grad():
        tr.kernel(tr.sample())
    print(f"active outputs: {float((tr.kernel.z != 0).double().mean()):.4f}")


if __name__ == "__main__":
    main(sys.argv)
