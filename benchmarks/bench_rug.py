"""Benchmark of the Hadamard transform and the Persian Rug operator (``numerics``), side by side.

Measures, in one run:

1. ``numerics.fwht`` (float32, last dimension) for n = 2^10 ... 2^20 with batch = 2^22 / n, against
   the compiled ``fht_cpu`` kernel (if installed; both return a new array) and against a naive
   butterfly written with ``torch.stack`` (one allocation per stage);
2. ``RugOperator.apply`` against the dense product ``x @ R`` at n_s = 1024 ... 16384, batch 1024,
   n_d = n_s / 4 (R built once, in float32, and not timed); next to it the same formula with the mask
   and 1/n_d folded into one in-place multiply ("fused", a possible change to rug.py) and with
   fwht's opt-in fht_cpu backend;
3. ``RugOperator.apply`` at n_s = 2^20 (n_d = 2^18): milliseconds per sample for a few batch sizes.

Noise protocol: a 1024^3 float32 torch matmul is timed before and after (median of 5, GFLOP/s). Each
measurement is repeated and the median is quoted. Implementations are timed in alternating blocks
(three warm-up calls, then the repeats), not call by call: fht_cpu brings its own OpenMP runtime, whose
spinning threads slow down the next torch call when the two are interleaved call by call.

Usage:  python benchmarks/bench_rug.py [--write] [--quick]

``--write`` replaces only the section between the ``bench_rug`` marker comments of
``benchmarks/RESULTS.md`` (appending it if absent); the rest of the file is left alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _results import cpu_info, write_section  # noqa: E402
from numerics import RugOperator, fwht  # noqa: E402

try:
    import fht_cpu  # optional compiled reference
except ImportError:  # pragma: no cover - depends on the environment
    fht_cpu = None


FWHT_ELEMS = 1 << 22  # batch * n per fwht call
WARMUP = 3  # untimed calls at the start of each block
RUG_BATCH = 1024
BIG_NS = 1 << 20
TARGET_FWHT_RATIO = 1.5  # fwht / fht_cpu
TARGET_RUG_SPEEDUP = 100.0  # dense / rug at n_s = 16384
TARGET_MS_PER_SAMPLE = 5.0  # at n_s = 2^20


# ----------------------------------------------------------------------------- helpers


def matmul_check(reps=5, n=1024):
    """Median seconds of an n^3 float32 torch matmul and the implied GFLOP/s."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g)
    b = torch.randn(n, n, generator=g)
    a @ b
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t0)
    med = statistics.median(ts)
    return med, 2.0 * n**3 / med / 1e9


def time_blocks(fns: dict, reps: int, rounds: int, warmup: int = WARMUP) -> dict:
    """{name: [seconds, ...]}: for each round, each function in turn: warm-up calls, then reps calls.

    The warm-up lets malloc settle after the previous block freed its memory (the first calls after a
    switch otherwise page-fault their outputs) and fht_cpu's or torch's idle threads go to sleep.
    """
    out = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(warmup):
                fn()
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                out[name].append(time.perf_counter() - t0)
    return out


def med(ts):
    return statistics.median(ts)


def machine_info():
    return cpu_info() | {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "fht_cpu": getattr(fht_cpu, "__version__", "?") if fht_cpu is not None else "not installed",
    }


# ----------------------------------------------------------------------------- the contenders


def naive_fwht(x: torch.Tensor) -> torch.Tensor:
    """The textbook radix-2 butterfly with torch.stack: log2(n) stages, each allocating new tensors."""
    n = x.shape[-1]
    lead = x.shape[:-1]
    y = x
    h = 1
    while h < n:
        v = y.reshape(*lead, n // (2 * h), 2, h)
        a, b = v[..., 0, :], v[..., 1, :]
        y = torch.stack((a + b, a - b), dim=-2)
        h *= 2
    return y.reshape(x.shape)


def fht_cpu_new(x: torch.Tensor) -> torch.Tensor:
    """fht_cpu on a new output array (x untouched), the same contract as fwht."""
    return torch.from_numpy(fht_cpu.fht(x.numpy(), inplace=False))


def fused_apply(op: RugOperator, x: torch.Tensor) -> torch.Tensor:
    """apply's formula with the mask and 1/n_d folded into one in-place multiply (two new tensors, not four).

    A possible change to RugOperator.apply, timed here to show what it would buy; same values.
    """
    y = fwht(x)
    y.mul_(op.mask(x.dtype) / op.n_d)
    return fwht(y)


def rug_fht_cpu(op: RugOperator, x: torch.Tensor) -> torch.Tensor:
    """RugOperator.apply's formula with the compiled transform (fwht's opt-in fht_cpu backend)."""
    y = fwht(x, backend="fht_cpu") * op.mask(x.dtype)
    return fwht(y, backend="fht_cpu") / op.n_d


def dense_rug(op: RugOperator) -> torch.Tensor:
    """R in float32, built block by block from the first row (R_ij = g[i xor j]) to bound memory."""
    n = op.n_s
    g = op.first_row(torch.float64).to(torch.float32)
    R = torch.empty(n, n)
    i = torch.arange(n)
    step = max(1, (1 << 22) // n)
    for r0 in range(0, n, step):
        rows = i[r0:r0 + step]
        R[r0:r0 + step] = g[rows[:, None] ^ i[None, :]]
    return R


# ----------------------------------------------------------------------------- benchmark


def run(quick: bool):
    info = machine_info()
    print(f"machine: {info['cpu']}, nproc {info['nproc']}, torch threads {info['threads']}; "
          f"python {info['python']}, torch {info['torch']}, numpy {info['numpy']}, fht_cpu {info['fht_cpu']}")
    print(f"date:    {info['date']}")
    mm_before = matmul_check()
    print(f"matmul before: {mm_before[0] * 1e3:.1f} ms, {mm_before[1]:.0f} GFLOP/s")
    reps, rounds = (3, 1) if quick else (5, 2)

    # 1. fwht against fht_cpu and the naive butterfly
    ks = [10, 14, 17, 20] if quick else list(range(10, 21))
    fwht_rows = []
    for k in ks:
        n = 1 << k
        batch = FWHT_ELEMS // n
        x = torch.randn(batch, n, generator=torch.Generator().manual_seed(k))
        fns = {"fwht": lambda: fwht(x)}
        if fht_cpu is not None:
            fns["fht_cpu"] = lambda: fht_cpu_new(x)
        fns["naive"] = lambda: naive_fwht(x)
        ts = time_blocks(fns, reps, rounds)
        y = fwht(x)
        diff = float("nan")
        if fht_cpu is not None:
            diff = ((y - fht_cpu_new(x)).abs().max() / y.abs().max()).item()
        row = {"k": k, "batch": batch, "diff": diff, **{name: med(v) for name, v in ts.items()},
               "spread": {name: (min(v), max(v), len(v)) for name, v in ts.items()}}
        del y
        fwht_rows.append(row)
        fc = f"fht_cpu {row['fht_cpu'] * 1e3:7.2f} ms  fwht/fht_cpu {row['fwht'] / row['fht_cpu']:.2f}  " \
            if fht_cpu is not None else ""
        print(f"fwht n=2^{k:<2d} batch {batch:5d}: fwht {row['fwht'] * 1e3:7.2f} ms  {fc}"
              f"naive {row['naive'] * 1e3:8.1f} ms  naive/fwht {row['naive'] / row['fwht']:.1f}", flush=True)

    # 2. rug through fwht against dense R @ x
    rug_ns = [1024, 4096] if quick else [1024, 2048, 4096, 8192, 16384]
    rug_rows = []
    for n_s in rug_ns:
        op = RugOperator(n_s, n_s // 4, seed=n_s)
        R = dense_rug(op)
        x = torch.randn(RUG_BATCH, n_s, generator=torch.Generator().manual_seed(n_s))
        dense_reps = 1 if (quick or n_s >= 8192) else 3
        fns = {"rug": lambda: op.apply(x), "fused": lambda: fused_apply(op, x)}
        if fht_cpu is not None:
            fns["rug_fc"] = lambda: rug_fht_cpu(op, x)
        ts = time_blocks(fns, reps, rounds)
        td = time_blocks({"dense": lambda: x @ R}, dense_reps, rounds, warmup=1)  # one big GEMM
        ref = x @ R
        err = ((op.apply(x) - ref).abs().max() / ref.abs().max()).item()
        row = {"n_s": n_s, "rug": med(ts["rug"]), "fused": med(ts["fused"]), "dense": med(td["dense"]),
               "rug_fc": med(ts["rug_fc"]) if "rug_fc" in ts else float("nan"),
               "err": err, "n_rug": len(ts["rug"]), "n_dense": len(td["dense"])}
        rug_rows.append(row)
        del R, ref
        print(f"rug n_s={n_s:5d} batch {RUG_BATCH}: apply {row['rug'] * 1e3:8.2f} ms (fused "
              f"{row['fused'] * 1e3:7.2f})  dense {row['dense'] * 1e3:9.1f} ms  dense/rug "
              f"{row['dense'] / row['rug']:6.1f}x (fused {row['dense'] / row['fused']:6.1f}x, "
              f"via fht_cpu {row['dense'] / row['rug_fc']:6.1f}x)  "
              f"(rel. diff {err:.1e})", flush=True)

    # 3. time per sample at n_s = 2^20
    big = RugOperator(BIG_NS, BIG_NS // 4, seed=1)
    big_rows = []
    for batch in ([4, 16] if quick else [1, 4, 16]):
        x = torch.randn(batch, BIG_NS, generator=torch.Generator().manual_seed(batch))
        ts = time_blocks({"apply": lambda: big.apply(x), "fused": lambda: fused_apply(big, x),
                          "fwht": lambda: fwht(x)}, reps, rounds)
        row = {"batch": batch, "apply": med(ts["apply"]) / batch, "fwht": med(ts["fwht"]) / batch,
               "fused": med(ts["fused"]) / batch,
               "apply_min": min(ts["apply"]) / batch, "n": len(ts["apply"]),
               "mbytes": batch * BIG_NS * 4 / 2**20}
        big_rows.append(row)
        print(f"rug n_s=2^20 batch {batch:2d}: {row['apply'] * 1e3:.2f} ms/sample (fused "
              f"{row['fused'] * 1e3:.2f}; fwht alone {row['fwht'] * 1e3:.2f})", flush=True)
        del x

    mm_after = matmul_check()
    print(f"matmul after:  {mm_after[0] * 1e3:.1f} ms, {mm_after[1]:.0f} GFLOP/s")
    return {"info": info, "quick": quick, "reps": reps, "rounds": rounds, "mm_before": mm_before,
            "mm_after": mm_after, "fwht": fwht_rows, "rug": rug_rows, "big": big_rows}


# ----------------------------------------------------------------------------- report


def verdicts(res):
    out = []
    rows = res["fwht"]
    if fht_cpu is not None:
        ratios = [r["fwht"] / r["fht_cpu"] for r in rows]
        worst = max(range(len(rows)), key=lambda i: ratios[i])
        ok = sum(r <= TARGET_FWHT_RATIO for r in ratios)
        geo = float(np.exp(np.mean(np.log(ratios))))
        tag = "PASS" if ok == len(rows) else ("PARTLY MET" if ok else "MISSED")
        out.append(f"{tag}: fwht within {TARGET_FWHT_RATIO}x of fht_cpu at {ok} of {len(rows)} sizes; "
                   f"geometric mean fwht/fht_cpu = {geo:.2f}, worst {ratios[worst]:.2f} at n = 2^{rows[worst]['k']}.")
    else:
        out.append("NOT MEASURED: fht_cpu is not installed (pip install fht-cpu), so the 1.5x target "
                   "could not be checked.")
    big_rug = [r for r in res["rug"] if r["n_s"] == 16384]
    if big_rug:
        s = big_rug[0]["dense"] / big_rug[0]["rug"]
        tag = "PASS" if s >= TARGET_RUG_SPEEDUP else "MISSED"
        out.append(f"{tag}: the rug through fwht is {s:.0f}x faster than dense R @ x at n_s = 16384 "
                   f"(target {TARGET_RUG_SPEEDUP:.0f}x).")
    else:
        out.append("NOT MEASURED: n_s = 16384 is skipped by --quick.")
    best = min(res["big"], key=lambda r: r["apply"])
    worst = max(res["big"], key=lambda r: r["apply"])
    all_ok = worst["apply"] * 1e3 <= TARGET_MS_PER_SAMPLE
    some_ok = best["apply"] * 1e3 <= TARGET_MS_PER_SAMPLE
    tag = "PASS" if all_ok else ("PARTLY MET" if some_ok else "MISSED")
    per = ", ".join(f"{r['apply'] * 1e3:.2f} ms at batch {r['batch']}" for r in res["big"])
    out.append(f"{tag}: RugOperator.apply at n_s = 2^20 takes {per} per sample "
               f"(target {TARGET_MS_PER_SAMPLE:.0f} ms on {res['info']['nproc']} cores).")
    return out


def section(res):
    info, mb, ma = res["info"], res["mm_before"], res["mm_after"]
    has_fc = fht_cpu is not None
    lines = [
        "## `numerics`: fwht and the Persian Rug",
        "",
        "Produced by `python benchmarks/bench_rug.py --write`" + (" --quick" if res["quick"] else "")
        + " (see `benchmarks/README.md`).",
        "",
        "### Machine",
        "",
        f"- CPU: {info['cpu']}, nproc {info['nproc']} (torch threads {info['threads']})",
        f"- Python {info['python']}, torch {info['torch']}, numpy {info['numpy']}, fht_cpu {info['fht_cpu']}",
        f"- Date: {info['date']}",
        "",
        "### Noise check (1024^3 float32 torch matmul, median of 5)",
        "",
        "| when | time | GFLOP/s |",
        "|---|---:|---:|",
        f"| before | {mb[0] * 1e3:.1f} ms | {mb[1]:.1f} |",
        f"| after | {ma[0] * 1e3:.1f} ms | {ma[1]:.1f} |",
        "",
        f"Each timing is the median of {res['reps']} calls x {res['rounds']} rounds, the implementations timed "
        "in alternating blocks (see the README). The CPU is shared: compare ratios, which are measured side "
        "by side, rather than absolute times across runs.",
        "",
        "### fwht (float32, batch x n = 2^22 elements per call)",
        "",
    ]
    head = "| n | batch | fwht (ms) |" + (" fht_cpu (ms) | fwht / fht_cpu |" if has_fc else "") \
        + " naive stack (ms) | naive / fwht |" + (" max rel. diff vs fht_cpu |" if has_fc else "")
    lines += [head, head_rule(head)]
    for r in res["fwht"]:
        cells = [f"2^{r['k']}", str(r["batch"]), f"{r['fwht'] * 1e3:.2f}"]
        if has_fc:
            cells += [f"{r['fht_cpu'] * 1e3:.2f}", f"{r['fwht'] / r['fht_cpu']:.2f}"]
        cells += [f"{r['naive'] * 1e3:.1f}", f"{r['naive'] / r['fwht']:.1f}"]
        if has_fc:
            cells += [f"{r['diff']:.1e}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "fht_cpu is called with `inplace=False` (it returns a new array, as fwht does); the naive version "
        "is the radix-2 butterfly with `torch.stack`, one new tensor per stage.",
        "",
        f"### The rug through fwht against dense R @ x (float32, batch {RUG_BATCH}, n_d = n_s / 4)",
        "",
        "| n_s | RugOperator.apply (ms) | dense x @ R (ms) | dense / rug | fused variant (ms) "
        "| dense / fused | apply's formula via fht_cpu (ms) | dense / fht_cpu rug | max rel. diff |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["rug"]:
        lines.append(f"| {r['n_s']} | {r['rug'] * 1e3:.2f} | {r['dense'] * 1e3:.1f} | "
                     f"{r['dense'] / r['rug']:.1f} | {r['fused'] * 1e3:.2f} | {r['dense'] / r['fused']:.1f} | "
                     f"{r['rug_fc'] * 1e3:.2f} | {r['dense'] / r['rug_fc']:.1f} | {r['err']:.1e} |")
    lines += [
        "",
        "Dense R is built once and not timed; the dense product is timed "
        f"{res['rug'][0]['n_dense']} times at the smaller sizes and once per round from n_s = 8192. "
        "apply = fwht, multiply by the mask, fwht, divide by n_d: four new tensors of the batch's size. "
        "The fused variant (y = fwht(x); y *= mask / n_d; fwht(y)) makes two. The fht_cpu column runs "
        "apply's formula with `fwht(..., backend=\"fht_cpu\")`." + fc_note(res),
        "",
        "### RugOperator.apply at n_s = 2^20 (n_d = 2^18, float32)",
        "",
        "| batch | tensor size | apply (ms/sample, median) | apply (ms/sample, best) | fused variant (ms/sample) "
        "| fwht alone (ms/sample) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["big"]:
        lines.append(f"| {r['batch']} | {r['mbytes']:.0f} MiB | {r['apply'] * 1e3:.2f} | "
                     f"{r['apply_min'] * 1e3:.2f} | {r['fused'] * 1e3:.2f} | {r['fwht'] * 1e3:.2f} |")
    lines += [
        "",
        "Tensors of 32 MiB and more come from fresh mmap'ed memory on every call (glibc's adaptive mmap "
        "threshold stops at 32 MiB), so their page faults (about 2-4 GB/s here) are part of the time at "
        "batch 16 (64 MiB tensors) and at n_s = 16384 above; smaller ones are recycled, but only as long "
        "as glibc does not trim the heap between calls.",
        "",
        "### Verdict",
        "",
    ]
    lines += [f"- {v}" for v in verdicts(res)]
    return "\n".join(lines) + "\n"


def fc_note(res) -> str:
    big = [r for r in res["rug"] if r["n_s"] == 16384 and r["rug_fc"] == r["rug_fc"]]  # not NaN
    if not big or big[0]["dense"] / big[0]["rug_fc"] >= TARGET_RUG_SPEEDUP:
        return ""
    r = big[0]
    return (f" Even with the compiled transform the rug is only {r['dense'] / r['rug_fc']:.0f}x faster than "
            f"dense at n_s = 16384: at this size the new tensors (page faults) and the element-wise passes "
            f"cost as much as the transforms themselves.")


def head_rule(head: str) -> str:
    cols = head.count("|") - 1
    return "|" + "|".join(["---"] + ["---:"] * (cols - 1)) + "|"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="update the bench_rug section of benchmarks/RESULTS.md")
    ap.add_argument("--quick", action="store_true", help="fewer sizes and repeats (~10 s smoke test)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = run(args.quick)
    print()
    for v in verdicts(res):
        print(v)
    print(f"(benchmark wall time {time.perf_counter() - t0:.0f} s)")
    if args.write:
        out = HERE / "RESULTS.md"
        write_section("bench_rug", section(res))
        print(f"updated the bench_rug section of {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
