"""The sparse-output kernel against the dense and sparse ones, one training step each, at a realistic
fraction of active outputs (issue 19, item 4); its figures are in benchmarks/README.md.

    python benchmarks/bench_sparse_out.py [threads] [n_s] [p] [bias]
    python benchmarks/bench_sparse_out.py --write     # the table's cases, into benchmarks/RESULTS.md
    python benchmarks/bench_sparse_out.py --train [--write]   # whole runs from initialisation (auto's rule)

A trained model at small p has few active outputs (f > 0); at initialisation many more are. Every bias is set
to ``bias`` (default -0.05) so that the active fraction is the one wanted (printed); the three kernels are
timed in alternating blocks of 5 steps, 5 rounds, median; the matmul rate is printed before and after.

``--train`` times whole runs instead, what ``auto``'s choice is about: ``numerics.train`` from initialisation
for TRAIN_STEPS steps (no stopping rule; evaluation and files included) with each kernel, the kernels in a
rotating order per case, so that the active fraction goes from early training's ~30 % down as it does in a
real run. Its table is written to its own section of RESULTS.md per CPU kind.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

import torch

from _results import cpu_info, cpu_kind, matmul_rate, section_name, write_section
from numerics import TrainConfig, train
from numerics.train import Trainer

KERNELS = ("dense", "sparse", "sparse_out")
#: (n_s, p, bias) of the table: a trained model's few active outputs, more of them, and early training's
CASES = ((2048, 0.05, -0.4), (2048, 0.05, -0.2), (2048, 0.05, -0.05), (4096, 0.02, -0.4))


def measure(threads: int, n_s: int, p: float, bias: float) -> dict:
    """Median ms per step of each kernel, the active fraction, and the matmul rate before and after."""
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
    tr = trainers["sparse_out"]
    with torch.no_grad():
        tr.kernel(tr.sample())
    return {"ms": {k: 1e3 * statistics.median(v) for k, v in times.items()}, "matmul": (before, after),
            "active": float((tr.kernel.z != 0).double().mean())}


#: (n_s, p) of whole runs: inside auto's sparse_out rule, at its edges in n_s and in p
TRAIN_CASES = ((2048, 0.05), (4096, 0.02), (1024, 0.05), (2048, 0.1))
TRAIN_STEPS = 400


def measure_runs(n_s: int, p: float, rotate: int) -> dict:
    """Seconds per step of a whole run with each kernel (rotating order), and its final window loss."""
    torch.set_num_threads(2)
    out = {}
    order = KERNELS[rotate % 3:] + KERNELS[:rotate % 3]
    for k in order:
        cfg = TrainConfig(n_s=n_s, r=0.25, p=p, batch=1024, kernel=k, device="cpu", max_steps=TRAIN_STEPS,
                          stop_rule=False, checkpoint_every=0)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            run = train(cfg, tmp, progress=False)
            out[k] = {"ms": 1e3 * (time.perf_counter() - t) / TRAIN_STEPS, "loss": float(run.metrics["instance"][0]["loss"])}
    return out


def main_train(write: bool) -> None:
    info = cpu_info()
    peak = torch.randn(1024, 1024), torch.randn(1024, 1024)
    mm = [matmul_rate(*peak)[1]]
    rows = []
    for i, (n_s, p) in enumerate(TRAIN_CASES):
        m = measure_runs(n_s, p, i)
        t = {k: v["ms"] for k, v in m.items()}
        fastest = min(t, key=t.get)
        rel = max(abs(m[k]["loss"] / m["dense"]["loss"] - 1) for k in KERNELS)
        rows.append(f"| {n_s} | {p:g} | {t['dense']:.1f} | {t['sparse']:.1f} | {t['sparse_out']:.1f} | "
                    f"{t['sparse'] / t['sparse_out']:.2f}x | {t['dense'] / t['sparse_out']:.2f}x | {fastest} | {rel:.1e} |")
        print(rows[-1], flush=True)
    mm.append(matmul_rate(*peak)[1])
    text = "\n".join([
        f"## Whole runs by kernel (`bench_sparse_out.py --train`, {cpu_kind(info['cpu'])})", "",
        f"- Machine: {info['cpu']}, {info['cores']} cores, 2 threads; {info['date']}",
        f"- Matmul 1024^3 float32 before / after: {mm[0]:.0f} / {mm[1]:.0f} GFLOP/s", "",
        f"ms per step of `numerics.train` from initialisation, {TRAIN_STEPS} steps (no stopping rule), batch 1024, "
        "r = 1/4, one run per kernel in a rotating order; the last column is the largest relative difference of "
        "the final window loss from the dense kernel's (the kernels agree to rounding, and rounding grows over a run).", "",
        "| n_s | p | dense | sparse | sparse_out | sparse / sparse_out | dense / sparse_out | fastest | loss rel. diff |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|", *rows])
    if write:
        write_section(section_name("bench_sparse_out_train", info["cpu"]), text)


def main(argv):
    if "--train" in argv:
        main_train("--write" in argv)
        return
    if "--write" in argv:
        info = cpu_info()
        rows, mm = [], []
        for n_s, p, bias in CASES:
            m = measure(2, n_s, p, bias)
            mm += m["matmul"]
            t = m["ms"]
            rows.append(f"| {n_s} | {p:g} | {100 * m['active']:.2g} % | {t['dense']:.1f} | {t['sparse']:.1f} | "
                        f"{t['sparse_out']:.1f} | {t['dense'] / t['sparse_out']:.2f}x |")
        write_section("bench_sparse_out", "\n".join([
            "## The sparse-output kernel (`bench_sparse_out.py`, CPU)", "",
            f"- Machine: {info['cpu']}, {info['cores']} cores, 2 threads; {info['date']}",
            f"- Matmul 1024^3 float32 over the run: {min(mm):.0f} to {max(mm):.0f} GFLOP/s", "",
            "ms per training step (batch 1024, r = 1/4), the three kernels in alternating blocks, medians; the bias "
            "is set so that the active fraction q is a trained model's (~1 %) or early training's (15-30 %).", "",
            "| n_s | p | q (active) | dense | sparse | sparse_out | dense / sparse_out |",
            "|---:|---:|---:|---:|---:|---:|---:|", *rows]))
        print("\n".join(rows))
        return
    threads = int(argv[1]) if len(argv) > 1 else 2
    n_s = int(argv[2]) if len(argv) > 2 else 2048
    p = float(argv[3]) if len(argv) > 3 else 0.05
    bias = float(argv[4]) if len(argv) > 4 else -0.05
    m = measure(threads, n_s, p, bias)
    print(f"{cpu_info()['cpu']}, {threads} threads; n_s = {n_s}, p = {p}, bias = {bias}; "
          f"matmul {m['matmul'][0]:.0f} / {m['matmul'][1]:.0f} GFLOP/s before / after")
    for k in KERNELS:
        print(f"{k:>10}: {m['ms'][k]:7.1f} ms per step, dense / this = {m['ms']['dense'] / m['ms'][k]:.2f}")
    print(f"active outputs: {m['active']:.4f}")


if __name__ == "__main__":
    main(sys.argv)
