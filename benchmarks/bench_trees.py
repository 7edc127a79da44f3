"""Training steps per second of two checkouts side by side: a refactor must not slow training down.

    git worktree add /tmp/old <commit>
    python benchmarks/bench_trees.py /tmp/old .  [--rounds 5] [--write]

Each round runs one short timing process per checkout (PYTHONPATH set to it), alternating, so both see the
same phases of a shared CPU; each process times ``Trainer.train_step`` of every case below (median of
blocks) and the matmul rate before and after. Reported: per case the median over rounds of each tree's
steps per second and the ratio new / old with its range over rounds. --write replaces this benchmark's
section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _results import cpu_info, write_section

#: (label, TrainConfig fields): the kernels at the sizes training runs at, and Toy Models' packed instances
CASES = [
    ("dense n_s=512", dict(n_s=512, r=0.25, p=0.05, batch=1024, kernel="dense")),
    ("sparse n_s=1024", dict(n_s=1024, r=0.25, p=0.02, batch=1024, kernel="sparse")),
    ("dense n_s=2048", dict(n_s=2048, r=0.25, p=0.05, batch=512, kernel="dense")),
    ("K=64 n_s=20", dict(n_s=20, n_d=5, p=[0.05] * 64, batch=1024, kernel="dense")),
]

CHILD = r"""
import json, statistics, sys, time, torch
from numerics import TrainConfig
from numerics.train import Trainer
cases = json.loads(sys.argv[1])
def matmul():
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    ts = []
    for _ in range(5):
        t = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t)
    return 2 * 1024**3 / statistics.median(ts) / 1e9
out = {"matmul_before": matmul()}
for label, kw in cases:
    tr = Trainer(TrainConfig(device="cpu", max_steps=10**9, stop_rule=False, checkpoint_every=0, **kw),
                 torch.device("cpu"))
    for _ in range(5):
        tr.train_step()
    blocks = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(10):
            tr.train_step()
        blocks.append(10 / (time.perf_counter() - t))
    out[label] = statistics.median(blocks)
out["matmul_after"] = matmul()
print(json.dumps(out))
"""


def run_tree(tree: Path, cases) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cases)], env=env, capture_output=True,
                          text=True, cwd="/", check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    rows = {"old": [], "new": []}
    for i in range(args.rounds):
        for name in (("old", "new") if i % 2 == 0 else ("new", "old")):
            rows[name].append(run_tree(getattr(args, name), CASES))
        print(f"round {i + 1}/{args.rounds} done", file=sys.stderr)
    info = cpu_info()
    lines = [f"Two checkouts side by side, {args.rounds} alternating rounds ({info['cpu']}, {info['cores']} cores, "
             f"{info['date']}); steps per second, "
             "median over rounds; ratio new / old with its range over rounds.", "",
             "| case | old steps/s | new steps/s | new / old [min, max] |", "|---|---:|---:|---:|"]
    for label, _ in CASES:
        old = [r[label] for r in rows["old"]]
        new = [r[label] for r in rows["new"]]
        ratios = [n / o for n, o in zip(new, old)]
        lines.append(f"| {label} | {statistics.median(old):.1f} | {statistics.median(new):.1f} | "
                     f"{statistics.median(ratios):.3f} [{min(ratios):.3f}, {max(ratios):.3f}] |")
    mm = [r[k] for name in rows for r in rows[name] for k in ("matmul_before", "matmul_after")]
    lines += ["", f"matmul 1024^3 float32 over the run: {min(mm):.0f} to {max(mm):.0f} GFLOP/s."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("bench_trees", f"old: `{args.old}`, new: `{args.new}`\n\n" + text)


if __name__ == "__main__":
    main()
