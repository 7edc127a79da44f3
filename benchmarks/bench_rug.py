"""Benchmark of the Hadamard transform and the Persian Rug operator (``numerics``), side by side.

Measures, in one run:

1. ``numerics.fwht`` (float32, last dimension) for n = 2^10 ... 2^20 with batch = 2^22 / n, against
   the compiled ``fht_cpu`` kernel (if installed; both return a new array) and against a naive
   butterfly written with ``torch.stack`` (one allocation per stage);
2. ``RugOperator.apply`` against the dense product ``x @ R`` at n_s = 1024 ... 16384, batch 1024,
   n_d = n_s / 4 (R built once, in float32, and not timed): apply as it is (the two transforms fused
   chunk by chunk, a new output), apply into a reused ``out``, the same with ``backend="fht_cpu"``
   (the compiled kernel in place), the unfused formula (fwht, scale, fwht: two new tensors), and the
   floor of any two-transform method: two in-place fht_cpu transforms of a preallocated array;
3. ``RugOperator.apply`` at n_s = 2^20 (n_d = 2^18): milliseconds per sample for a few batch sizes.

Noise protocol: a 1024^3 float32 torch matmul is timed before and after (median of 5, GFLOP/s). Each
measurement is repeated and the median is quoted. Implementations are timed in alternating blocks
(three warm-up calls, then the repeats), not call by call: fht_cpu brings its own OpenMP runtime, whose
spinning threads slow down the next torch call when the two are interleaved call by call.

Usage:  python benchmarks/bench_rug.py [--write] [--quick]

``--write`` replaces only this CPU kind's section (between the ``bench_rug:<kind>`` marker comments) of
``benchmarks/RESULTS.md`` (appending it if absent); the rest of the file is left alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _results import cpu_info, cpu_kind, matmul_rate, section_name, write_section  # noqa: E402
from numerics import RugOperator, fwht, fwht_plan  # noqa: E402

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


def matmul_check(n=1024):
    """Median seconds of an n^3 float32 torch matmul and the implied GFLOP/s."""
    g = torch.Generator().manual_seed(0)
    return matmul_rate(torch.randn(n, n, generator=g), torch.randn(n, n, generator=g))


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


def fixed_rule(fn):
    """Call fn with the pure-torch transform on its fixed plan (tuning off for the call)."""
    fwht_plan.set_tuning(False)
    try:
        return fn()
    finally:
        fwht_plan.set_tuning(None)


def unfused_apply(op: RugOperator, x: torch.Tensor) -> torch.Tensor:
    """R x as two separate transforms (what apply did before it was fused): two new tensors."""
    y = fwht(x)
    y.mul_(op.mask(x.dtype) / op.n_d)
    return fwht(y)


def two_fht_cpu_in_place(a: np.ndarray) -> None:
    """Two compiled transforms in place on a preallocated array: the floor of any two-transform R x
    (no allocation, no scaling pass). The values grow by n per transform; only the time matters."""
    fht_cpu.fht(a, axis=-1, inplace=True)
    fht_cpu.fht(a, axis=-1, inplace=True)


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
    # the measured plans are searched afresh, into a wisdom file of this run's own (the search is timed)
    wisdom = tempfile.NamedTemporaryFile(prefix="fwht-wisdom-", suffix=".json", delete=False)
    wisdom.close()
    os.environ["PERSIAN_RUG_WISDOM"] = wisdom.name
    os.environ["PERSIAN_RUG_FWHT_TUNE"] = "1"
    fwht_plan.forget_wisdom()
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
        t_search = time.perf_counter()
        fwht(x, backend="torch")  # the measured plan's search for this n (into this run's wisdom file)
        t_search = time.perf_counter() - t_search
        fns = {"fwht": lambda: fwht(x), "torch": lambda: fwht(x, backend="torch"),
               "fixed": lambda: fixed_rule(lambda: fwht(x, backend="torch"))}
        if fht_cpu is not None:
            fns["fht_cpu"] = lambda: fht_cpu_new(x)
        fns["naive"] = lambda: naive_fwht(x)
        ts = time_blocks(fns, reps, rounds)
        y = fwht(x, backend="torch")
        diff = float("nan")
        if fht_cpu is not None:
            diff = ((y - fht_cpu_new(x)).abs().max() / y.abs().max()).item()
        plan = fwht_plan.measured_plan(k, torch.float32, None)
        row = {"k": k, "batch": batch, "diff": diff, "search": t_search, "plan": plan,
               **{name: med(v) for name, v in ts.items()},
               "spread": {name: (min(v), max(v), len(v)) for name, v in ts.items()}}
        del y
        fwht_rows.append(row)
        fc = f"fht_cpu {row['fht_cpu'] * 1e3:6.2f} ms  torch/fht_cpu {row['torch'] / row['fht_cpu']:.2f}  " \
            if fht_cpu is not None else ""
        print(f"fwht n=2^{k:<2d} batch {batch:5d}: default {row['fwht'] * 1e3:6.2f} ms  torch {row['torch'] * 1e3:6.2f} "
              f"ms (plan {plan.groups}, chunk 2^{plan.chunk_elems.bit_length() - 1}; fixed rule "
              f"{row['fixed'] * 1e3:6.2f} ms, {row['fixed'] / row['torch']:.2f}x)  {fc}"
              f"naive/torch {row['naive'] / row['torch']:.1f}", flush=True)

    # 2. rug through fwht against dense R @ x
    rug_ns = [1024, 4096] if quick else [1024, 2048, 4096, 8192, 16384]
    rug_rows = []
    for n_s in rug_ns:
        op = RugOperator(n_s, n_s // 4, seed=n_s)
        R = dense_rug(op)
        x = torch.randn(RUG_BATCH, n_s, generator=torch.Generator().manual_seed(n_s))
        dense_reps = 1 if (quick or n_s >= 8192) else 3
        buf = torch.empty_like(x)
        fns = {"rug": lambda: op.apply(x), "rug_out": lambda: op.apply(x, out=buf),
               "rug_torch": lambda: op.apply(x, out=buf, backend="torch"), "unfused": lambda: unfused_apply(op, x)}
        if fht_cpu is not None:
            scratch = x.numpy().copy()
            fns["floor"] = lambda: two_fht_cpu_in_place(scratch)
        ts = time_blocks(fns, reps, rounds)
        td = time_blocks({"dense": lambda: x @ R}, dense_reps, rounds, warmup=1)  # one big GEMM
        ref = x @ R
        ys = [op.apply(x), op.apply(x, out=buf).clone(), unfused_apply(op, x), op.apply(x, backend="torch")]
        err = max(((y - ref).abs().max() / ref.abs().max()).item() for y in ys)
        del ys
        nan = float("nan")
        row = {"n_s": n_s, "dense": med(td["dense"]), "err": err, "n_rug": len(ts["rug"]),
               "n_dense": len(td["dense"]), **{k: med(ts[k]) if k in ts else nan
                                               for k in ("rug", "rug_out", "unfused", "rug_torch", "floor")}}
        rug_rows.append(row)
        del R, ref, buf
        d = row["dense"]
        print(f"rug n_s={n_s:5d} batch {RUG_BATCH}: dense {d * 1e3:9.1f} ms; dense / apply "
              f"{d / row['rug']:6.1f}x, / apply(out=) {d / row['rug_out']:6.1f}x, / the same, torch "
              f"{d / row['rug_torch']:6.1f}x, / unfused {d / row['unfused']:6.1f}x, / floor "
              f"{d / row['floor']:6.1f}x (rel. diff {err:.1e})", flush=True)

    # 3. time per sample at n_s = 2^20
    big = RugOperator(BIG_NS, BIG_NS // 4, seed=1)
    big_rows = []
    for batch in ([4, 16] if quick else [1, 4, 16]):
        x = torch.randn(batch, BIG_NS, generator=torch.Generator().manual_seed(batch))
        buf = torch.empty_like(x)
        ts = time_blocks({"apply": lambda: big.apply(x), "apply_out": lambda: big.apply(x, out=buf),
                          "apply_torch": lambda: big.apply(x, out=buf, backend="torch"),
                          "unfused": lambda: unfused_apply(big, x), "fwht": lambda: fwht(x)}, reps, rounds)
        row = {"batch": batch, **{k: med(v) / batch for k, v in ts.items()},
               "apply_min": min(ts["apply"]) / batch, "n": len(ts["apply"]),
               "mbytes": batch * BIG_NS * 4 / 2**20}
        big_rows.append(row)
        print(f"rug n_s=2^20 batch {batch:2d}: {row['apply'] * 1e3:.2f} ms/sample (into out "
              f"{row['apply_out'] * 1e3:.2f}, torch into out {row['apply_torch'] * 1e3:.2f}, unfused {row['unfused'] * 1e3:.2f}; fwht alone "
              f"{row['fwht'] * 1e3:.2f})", flush=True)
        del x, buf

    os.unlink(wisdom.name)
    mm_after = matmul_check()
    print(f"matmul after:  {mm_after[0] * 1e3:.1f} ms, {mm_after[1]:.0f} GFLOP/s")
    return {"info": info, "quick": quick, "reps": reps, "rounds": rounds, "mm_before": mm_before,
            "mm_after": mm_after, "fwht": fwht_rows, "rug": rug_rows, "big": big_rows}


# ----------------------------------------------------------------------------- report


def verdicts(res):
    out = []
    rows = res["fwht"]
    if fht_cpu is not None:
        for name, what in (("torch", "the pure-torch fwht on its measured plans"),
                           ("fixed", "the pure-torch fwht on the fixed rule"), ("fwht", "fwht by default")):
            ratios = [r[name] / r["fht_cpu"] for r in rows]
            worst = max(range(len(rows)), key=lambda i: ratios[i])
            ok = sum(r <= TARGET_FWHT_RATIO for r in ratios)
            geo = float(np.exp(np.mean(np.log(ratios))))
            tag = "PASS" if ok == len(rows) else ("PARTLY MET" if ok else "MISSED")
            out.append(f"{tag}: {what} within {TARGET_FWHT_RATIO}x of fht_cpu at {ok} of {len(rows)} sizes; "
                       f"geometric mean / fht_cpu = {geo:.2f}, worst {ratios[worst]:.2f} at n = 2^{rows[worst]['k']}.")
        gain = [r["fixed"] / r["torch"] for r in rows]
        out.append(f"INFO: the measured plans against the fixed rule: {min(gain):.2f}x to {max(gain):.2f}x "
                   f"(geometric mean {float(np.exp(np.mean(np.log(gain)))):.2f}x); the searches took "
                   f"{min(r['search'] for r in rows):.2f} to {max(r['search'] for r in rows):.2f} s per size.")
    else:
        out.append("NOT MEASURED: fht_cpu is not installed (pip install fht-cpu), so the 1.5x target "
                   "could not be checked.")
    big_rug = [r for r in res["rug"] if r["n_s"] == 16384]
    if big_rug:
        r = big_rug[0]
        s, s_out, s_torch = (r["dense"] / r[k] for k in ("rug", "rug_out", "rug_torch"))
        tag = "PASS" if s_out >= TARGET_RUG_SPEEDUP else "MISSED"
        fc = (f" (two in-place compiled transforms alone: {r['dense'] / r['floor']:.0f}x)"
              if r["floor"] == r["floor"] else "")
        out.append(f"{tag}: at n_s = 16384 the rug by default ({'fht_cpu' if fht_cpu is not None else 'torch'}) "
                   f"is {s_out:.0f}x faster than dense R @ x into a reused output, {s:.0f}x with a new one{fc}; "
                   f"backend='torch' into a reused output {s_torch:.0f}x (target {TARGET_RUG_SPEEDUP:.0f}x).")
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
        f"## `numerics`: fwht and the Persian Rug ({cpu_kind(info['cpu'])})",
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
    head = ("| n | batch | fwht default (ms) | torch, measured plan (ms) | the plan: bits per pass, chunk "
            "| search (s) | torch, fixed rule (ms) | fixed / measured |")
    head += (" fht_cpu (ms) | default / fht_cpu | measured / fht_cpu | fixed / fht_cpu |" if has_fc else "") \
        + " naive stack (ms) | naive / measured |" + (" max rel. diff torch vs fht_cpu |" if has_fc else "")
    lines += [head, head_rule(head)]
    for r in res["fwht"]:
        plan = r["plan"]
        cells = [f"2^{r['k']}", str(r["batch"]), f"{r['fwht'] * 1e3:.2f}", f"{r['torch'] * 1e3:.2f}",
                 f"{'+'.join(map(str, plan.groups))}, 2^{plan.chunk_elems.bit_length() - 1}", f"{r['search']:.2f}",
                 f"{r['fixed'] * 1e3:.2f}", f"{r['fixed'] / r['torch']:.2f}"]
        if has_fc:
            cells += [f"{r['fht_cpu'] * 1e3:.2f}"] + [f"{r[k] / r['fht_cpu']:.2f}" for k in ("fwht", "torch", "fixed")]
        cells += [f"{r['naive'] * 1e3:.1f}", f"{r['naive'] / r['torch']:.1f}"]
        if has_fc:
            cells += [f"{r['diff']:.1e}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "fwht default is `backend=\"auto\"`: fht_cpu where installed, the pure-torch passes otherwise. The "
        "pure-torch transform runs on the plan measured for this CPU at the start of the run (into a wisdom file "
        "of the run's own; the search column is its one-time cost) and on the fixed rule (tuning off; what "
        "fwht computed before plans were measured). fht_cpu is called with `inplace=False` (it returns a "
        "new array, as fwht does); the naive version is the radix-2 butterfly with `torch.stack`, one new "
        "tensor per stage. fht_cpu in place (no output array to fill) is faster still: the floor column "
        "below times it.",
        "",
        f"### The rug through fwht against dense R @ x (float32, batch {RUG_BATCH}, n_d = n_s / 4)",
        "",
        "| n_s | dense x @ R (ms) | apply (ms) | dense / apply | apply(out=) (ms) | dense / apply(out=) "
        "| apply(out=, backend=\"torch\") (ms) | dense / that | unfused (ms) | dense / unfused "
        "| floor: 2 fht_cpu in place (ms) | dense / floor | max rel. diff |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["rug"]:
        d = r["dense"]
        cells = [str(r["n_s"]), f"{d * 1e3:.1f}"]
        for k in ("rug", "rug_out", "rug_torch", "unfused", "floor"):
            cells += [f"{r[k] * 1e3:.2f}", f"{d / r[k]:.1f}"]
        lines.append("| " + " | ".join(cells) + f" | {r['err']:.1e} |")
    lines += [
        "",
        "Dense R is built once and not timed; the dense product is timed "
        f"{res['rug'][0]['n_dense']} times at the smaller sizes and once per round from n_s = 8192. "
        "apply transforms the batch chunk by chunk (x -> scratch, scale, -> output; numerics.hadamard."
        "hadamard_sandwich): one new tensor, none with `out=`. unfused = fwht(x), scale in place, fwht: two "
        "new tensors, each written by a separate sweep. apply's default backend is \"auto\": where fht_cpu "
        "is installed apply copies x into out and transforms it in place with the compiled kernel, twice, "
        "around the scaling; `backend=\"torch\"` is the pure-torch fused path on its measured plan. The "
        "floor is two in-place fht_cpu transforms alone, without the copy and the scaling."
        + fc_note(res),
        "",
        "### RugOperator.apply at n_s = 2^20 (n_d = 2^18, float32)",
        "",
        "| batch | tensor size | apply (ms/sample, median) | apply (ms/sample, best) | apply(out=) (ms/sample) "
        "| apply(out=, backend=\"torch\") (ms/sample) | unfused (ms/sample) | fwht alone (ms/sample) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in res["big"]:
        lines.append(f"| {r['batch']} | {r['mbytes']:.0f} MiB | {r['apply'] * 1e3:.2f} | "
                     f"{r['apply_min'] * 1e3:.2f} | {r['apply_out'] * 1e3:.2f} | {r['apply_torch'] * 1e3:.2f} | "
                     f"{r['unfused'] * 1e3:.2f} | "
                     f"{r['fwht'] * 1e3:.2f} |")
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
    big = [r for r in res["rug"] if r["n_s"] == 16384 and r["floor"] == r["floor"]]  # not NaN
    if not big or big[0]["dense"] / big[0]["floor"] >= TARGET_RUG_SPEEDUP:
        return ""
    r = big[0]
    return (f" At n_s = 16384 even the floor is {r['dense'] / r['floor']:.0f}x: with the dense product at "
            f"{2 * RUG_BATCH * r['n_s'] ** 2 / r['dense'] / 1e9:.0f} GFLOP/s, two transforms of a 64 MiB batch "
            f"cost more than 1/{TARGET_RUG_SPEEDUP:.0f} of it even in a compiled kernel.")


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
        name = section_name("bench_rug", res["info"]["cpu"])
        write_section(name, section(res))
        print(f"updated the {name} section of {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
