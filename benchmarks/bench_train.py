"""Training speed of numerics.train: fraction of the matmul peak, the data share of a step, and K
instances against a one-model-at-a-time nn.Linear trainer.

    python benchmarks/bench_train.py [--write] [--device cpu|cuda] [--reps N]

Flops per step are counted as 10 * batch * n_s * n_d (forward 4, backward 6). The matmul peak is a
1024^3 float32 matmul on the CPU or an 8192^3 one on a GPU: median of 5 before and after the run, and
median of 3 just before and after every block of steps, which the fraction of peak is taken against. --write
replaces this benchmark's section of benchmarks/RESULTS.md (between its markers) and nothing else.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch
from torch import nn

from _results import cpu_info, matmul_rate, write_section
from numerics import TrainConfig
from numerics.train import Trainer



def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timeit(fn, device, reps: int, inner: int = 1) -> list[float]:
    fn()
    sync(device)
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        sync(device)
        out.append((time.perf_counter() - t) / inner)
    return out


@functools.cache
def _peak_operands(device):
    n = 8192 if device.type == "cuda" else 1024
    return torch.randn(n, n, device=device), torch.randn(n, n, device=device)


def matmul_peak(device, reps: int = 5) -> float:
    a, b = _peak_operands(device)
    return matmul_rate(a, b, reps=reps, sync=torch.cuda.synchronize if device.type == "cuda" else None)[1]


def bench_steps(n_s: int, device, reps: int, batch: int = 1024) -> dict:
    """Steps of the dense and (on the CPU) the sparse kernel at n_s, timed in alternating blocks so both
    see the same phases of a shared CPU; the kernel "auto" picks is the one the verdict reads.

    The fraction of peak is paired: each block of steps is divided by the larger of two short matmul
    timings taken just before and just after it, and the median over blocks is reported; so is the data
    share (a block of sampling against the block of steps before it). The CPU's phases last minutes, so
    a peak measured at the start of the run says little about a block timed a minute later."""
    kernels = ["dense", "sparse"] if device.type == "cpu" else ["dense"]
    cfgs = {k: TrainConfig(n_s=n_s, r=0.25, p=0.05, batch=batch, device=device.type, checkpoint_every=0, kernel=k)
            for k in kernels + ["auto"]}
    trainers = {k: Trainer(cfgs[k], device) for k in kernels}
    auto = Trainer(cfgs["auto"], device).kernel_name
    flops = 10 * batch * n_s * cfgs["dense"].n_d
    step = {k: [] for k in kernels}
    frac = {k: [] for k in kernels}
    data = {k: [] for k in kernels}
    for _ in range(reps):
        for k, tr in trainers.items():
            before = matmul_peak(device, reps=3)
            t = timeit(tr.train_step, device, 1, inner=3)[0]
            peak = max(before, matmul_peak(device, reps=3))
            step[k].append(t)
            frac[k].append(flops / t / 1e9 / peak)
            data[k].append(timeit(tr.sample, device, 1, inner=3)[0] / t)  # the share, against its neighbour
    out = {"n_s": n_s, "n_d": cfgs["dense"].n_d, "auto": auto, "kernels": {}}
    for k in kernels:
        t = statistics.median(step[k])
        out["kernels"][k] = {"step_ms": t * 1e3, "steps_per_s": 1 / t, "gflops": flops / t / 1e9,
                             "of_peak": statistics.median(frac[k]), "data_share": statistics.median(data[k])}
    out.update(out["kernels"][auto])
    return out


class NaiveModel(nn.Module):
    """How a replication usually writes one toy model: two nn.Linear layers and autograd."""

    def __init__(self, n_s, n_d):
        super().__init__()
        self.enc = nn.Linear(n_s, n_d, bias=False)
        self.dec = nn.Linear(n_d, n_s)

    def forward(self, x):
        return torch.relu(self.dec(self.enc(x)))


def bench_instances(device, reps: int, K: int = 64, n_s: int = 20, n_d: int = 5, batch: int = 1024) -> dict:
    model = NaiveModel(n_s, n_d).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    p = 0.05

    def naive_step():
        x = torch.rand(batch, n_s, device=device)
        x = torch.where(torch.rand(batch, n_s, device=device) < p, x, torch.zeros_like(x))
        loss = ((model(x) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    cfg = TrainConfig(n_s=n_s, n_d=n_d, p=[p] * K, batch=batch, device=device.type, checkpoint_every=0)
    tr = Trainer(cfg, device)
    naive, packed = [], []
    for _ in range(reps):  # alternating blocks, each ratio from two neighbouring blocks
        naive += timeit(naive_step, device, 1, inner=20)
        packed += timeit(tr.train_step, device, 1, inner=20)
    ratios = [K * a / b for a, b in zip(naive, packed)]
    return {"K": K, "naive_model_steps_per_s": 1 / statistics.median(naive),
            "packed_model_steps_per_s": K / statistics.median(packed), "ratio": statistics.median(ratios),
            "ratio_range": (min(ratios), max(ratios))}


def machine(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_info()['cpu']}, {torch.get_num_threads()} threads"


def report(device, peak_before, peak_after, steps, inst) -> str:
    run_peak = max(peak_before, peak_after)
    lines = [f"## Training speed (`bench_train.py`, {device.type})", "",
             f"- Machine: {machine(device)}; torch {torch.__version__}",
             f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"- Matmul peak (float32, median of 5): {peak_before:.0f} GFLOP/s before, {peak_after:.0f} after", "",
             "Flops per step are counted dense, 10 batch n_s n_d; the sparse kernel does less work than that "
             "(its two products with x cost ~p of their dense flops), so its fraction is a dense-equivalent rate. "
             "\"Of peak\" is paired: each block of steps against the matmul rate timed just before and after it "
             "(the larger), median over the blocks; \"of run peak\" divides the median step by the larger of the "
             "run's before and after rates instead, which reads low when the phase changed during the run. The data "
             "share is paired too (a block of sampling against the block of steps before it).",
             "",
             "| n_s | n_d | kernel | step (ms) | steps/s | GFLOP/s | of peak | of run peak | data share |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for s in steps:
        for k, r in s["kernels"].items():
            mark = " (auto)" if k == s["auto"] else ""
            lines.append(f"| {s['n_s']} | {s['n_d']} | {k}{mark} | {r['step_ms']:.2f} | {r['steps_per_s']:.1f} | "
                         f"{r['gflops']:.1f} | {r['of_peak']:.0%} | {r['gflops'] / run_peak:.0%} | {r['data_share']:.0%} |")
        if "sparse" in s["kernels"]:
            ratio = s["kernels"]["dense"]["step_ms"] / s["kernels"]["sparse"]["step_ms"]
            lines.append(f"| | | sparse / dense speed | {ratio:.2f}x | | | | | |")
    lines += ["", f"K = {inst['K']} instances at n_s = 20, n_d = 5 against one nn.Linear model at a time: "
              f"{inst['packed_model_steps_per_s']:.0f} against {inst['naive_model_steps_per_s']:.0f} model-steps/s; "
              f"the median of the paired block ratios **{inst['ratio']:.1f}x** (blocks {inst['ratio_range'][0]:.1f}-"
              f"{inst['ratio_range'][1]:.1f}x; target 10x).", ""]
    big = [s for s in steps if s["n_s"] >= 1024]
    ok_peak = all(s["of_peak"] >= 0.8 for s in big)
    ok_data = all(s["data_share"] <= 0.15 for s in steps)  # of the kernel "auto" picks
    fractions = ", ".join(f"{s['of_peak']:.0%} ({s['auto']})" for s in big)
    peak_verdict = ("not measured (no n_s >= 1024 in this run)" if not big
                    else f"{'PASS' if ok_peak else 'MISS'} ({fractions})")
    lines.append(f"Verdict: fraction of peak >= 80 % for n_s >= 1024: {peak_verdict}; data <= 15 % of a step: "
                 f"{'PASS' if ok_data else 'MISS'}; instances >= 10x: {'PASS' if inst['ratio'] >= 10 else 'MISS'}.")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--sizes", default=None, help="comma-separated n_s (default 512,1024,2048; +8192 on a GPU)")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    device = torch.device(args.device)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (
        [512, 1024, 2048] + ([8192] if device.type == "cuda" else []))
    before = matmul_peak(device)
    steps = [bench_steps(n, device, args.reps) for n in sizes]
    inst = bench_instances(device, args.reps)
    after = matmul_peak(device)
    text = report(device, before, after, steps, inst)
    print(text)
    if args.write:
        write_section(f"bench_train_{device.type}", text)


if __name__ == "__main__":
    main()
