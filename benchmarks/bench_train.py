"""Training speed of numerics.train: fraction of the matmul peak, the data share of a step, and K
instances against a one-model-at-a-time nn.Linear trainer, for a bare step and end to end through train().

    python benchmarks/bench_train.py [--write] [--device cpu|cuda] [--reps N] [--parts steps,instances,e2e]
                                     [--e2e-rounds R] [--e2e-models M] [--profile]

Flops per step are counted as 10 * batch * n_s * n_d (forward 4, backward 6). The matmul peak is a
1024^3 float32 matmul on the CPU or an 8192^3 one on a GPU: median of 5 before and after the run, and
median of 3 just before and after every block of steps, which the fraction of peak is taken against.

End to end (issue 19 item 3): ``train()`` with K = 64 instances at n_s = 20, n_d = 5, p = 0.05 for 2000
steps (the stopping rule off; checkpoints, held-out evaluation and files as a user's run has them, in a
temporary folder) against 64 nn.Linear models trained one at a time for 2000 steps each, evaluated and saved;
alternating rounds, each timing the packed run and M of the 64 one-at-a-time models (scaled by 64 / M). The
end-to-end part also says where train()'s time goes (sections timed by hand; ``--profile`` adds
torch.profiler's table of ops).

--write replaces this benchmark's section for this device and CPU kind in benchmarks/RESULTS.md (between
its markers; every CPU kind keeps its own section) and nothing else; it needs every part.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from _results import cpu_info, cpu_kind, matmul_rate, section_name, write_section
from numerics import TrainConfig, train
from numerics.core import WindowRule
from numerics.io import save_weights, write_json
from numerics.train import Trainer, _write_curve, evaluate


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


# ---- end to end: K instances through train() against one nn.Linear model at a time (issue 19 item 3) ----

#: the end-to-end comparison: K packed instances at n_s = 20, n_d = 5 for a fixed number of steps
E2E = {"K": 64, "n_s": 20, "n_d": 5, "p": 0.05, "batch": 1024, "steps": 2000}


def e2e_config(device, steps: int = E2E["steps"]) -> TrainConfig:
    """The packed run: the stopping rule off, so every instance runs ``steps`` steps; checkpoints (every 1000
    steps), the held-out evaluation (16 batches) and the files at their defaults, as a user's run has them."""
    return TrainConfig(n_s=E2E["n_s"], n_d=E2E["n_d"], p=E2E["p"], instances=E2E["K"], batch=E2E["batch"],
                       max_steps=steps, stop_rule=False, device=device.type)


def run_packed(cfg: TrainConfig, device, out_dir: Path) -> tuple[float, float]:
    """``train(cfg)`` into out_dir: its wall time and its training loop's (summary.json), in seconds."""
    t = time.perf_counter()
    run = train(cfg, out_dir, progress=False)
    sync(device)
    return time.perf_counter() - t, run.metrics["seconds_this_session"]


def run_naive(seed: int, cfg: TrainConfig, device, out_dir: Path) -> None:
    """One toy model x' = ReLU(W_out W_in x + b) trained as a replication usually writes it, the same work as
    one instance of the packed run: nn.Linear layers and autograd, torch.optim.Adam at cfg's learning rate,
    every step a fresh batch from torch.rand (x_i = [u_i < p] u'_i, i.e. Bernoulli(p) U[0, 1]) and loss.item()
    logged; then the held-out loss over cfg.eval_batches batches, and the weights, the curve (window means) and
    the loss with its standard error written to out_dir."""
    torch.manual_seed(seed)
    model = NaiveModel(cfg.n_s, cfg.n_d).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)

    def batch():
        x = torch.rand(cfg.batch, cfg.n_s, device=device)
        return torch.where(torch.rand(cfg.batch, cfg.n_s, device=device) < cfg.p, x, torch.zeros_like(x))

    losses = []
    for _ in range(cfg.max_steps):
        x = batch()
        loss = ((model(x) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        held = torch.cat([((model(x) - x) ** 2).mean(-1) for x in (batch() for _ in range(cfg.eval_batches))])
    out_dir.mkdir(parents=True)
    torch.save(model.state_dict(), out_dir / "model.pt")
    w = cfg.window
    means = [sum(losses[i:i + w]) / len(losses[i:i + w]) for i in range(0, len(losses), w)]
    (out_dir / "curve.csv").write_text("step,loss\n" + "".join(f"{(i + 1) * w},{v!r}\n" for i, v in enumerate(means)))
    (out_dir / "summary.json").write_text(json.dumps({"loss": held.mean().item(),
                                                      "loss_se": (held.std() / held.numel() ** 0.5).item()}))


def bench_end_to_end(device, rounds: int, models: int) -> dict:
    """train() against the one-at-a-time trainer, end to end, in alternating rounds.

    Each round times one packed run (all K instances, a fresh folder) and ``models`` of the K naive models (a
    different subset each round: seeds r M ... r M + M - 1), in alternating order, with the matmul rate just
    before and after the round. The naive time is scaled by K / M; the round's ratio is naive / packed, and
    the median over the rounds is reported. A short run of each goes first, untimed (first calls, imports)."""
    cfg = e2e_config(device)
    K, models = cfg.instances, max(1, min(models, cfg.instances))
    packed, loop, naive, ratios, rates = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_packed(e2e_config(device, steps=200), device, tmp / "warm")
        run_naive(0, TrainConfig.from_dict({**cfg.to_dict(), "max_steps": 200}), device, tmp / "warm-naive")
        for r in range(rounds):
            before = matmul_peak(device, reps=3)

            def packed_side():
                return run_packed(cfg, device, tmp / f"packed-{r}")

            def naive_side():
                t = time.perf_counter()
                for m in range(models):
                    run_naive(r * models + m, cfg, device, tmp / f"naive-{r}-{m}")
                sync(device)
                return (time.perf_counter() - t) * K / models

            if r % 2 == 0:
                (t_packed, t_loop), t_naive = packed_side(), naive_side()
            else:
                t_naive = naive_side()
                t_packed, t_loop = packed_side()
            rates.append((before, matmul_peak(device, reps=3)))
            packed.append(t_packed)
            loop.append(t_loop)
            naive.append(t_naive)
            ratios.append(t_naive / t_packed)
    return {"K": K, "steps": cfg.max_steps, "models_timed": models, "rounds": rounds,
            "packed_s": statistics.median(packed), "loop_s": statistics.median(loop),
            "naive_s": statistics.median(naive), "ratio": statistics.median(ratios),
            "ratio_range": (min(ratios), max(ratios)), "round_rates": rates}


def profile_train(device, steps: int = 400) -> dict:
    """Where train()'s time goes at the end-to-end configuration: ms per step and ms per run.

    Per step, timed by hand (means) over ``steps`` steps of a Trainer driven as train() drives it, in two
    halves around a train() run of ``steps`` steps: the sampler (``Trainer.sample``: instance k's batch from
    its own stream, into the dense buffer), the kernel (losses and gradients by hand: the forward and backward
    pass), Adam (fused) and the window rule (a record every step; at the end of a window its means are read,
    the one host synchronisation). Of the kernel, the batched products (torch.bmm and baddbmm) by
    torch.profiler's self time over 50 steps. Next to them train()'s own mean step: what it spends beyond the
    sections is its loop's Python (a few microseconds), within the noise of a shared CPU. Per run: the
    Trainer's construction, the held-out evaluation, the files (two checkpoints with the curve so far; the
    weights, curve and summary), and all that the train() run spent outside its loop."""
    from torch.profiler import ProfilerActivity, profile

    cfg = e2e_config(device)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_packed(e2e_config(device, steps=50), device, tmp / "warm")  # first calls, imports
        t0 = time.perf_counter()
        tr = Trainer(cfg, device)
        setup = time.perf_counter() - t0
        rule = WindowRule(cfg.instances, cfg.window, device=device, enabled=cfg.stop_rule)
        for _ in range(20):  # warm-up
            tr.train_step()

        def clock():
            sync(device)
            return time.perf_counter()

        sec = {"sample": 0.0, "kernel": 0.0, "adam": 0.0, "rule": 0.0}

        def timed_steps(n):
            for _ in range(n):
                a = clock()
                x = tr.sample()
                b = clock()
                losses = tr.kernel(x)
                c = clock()
                tr.opt.step()
                d = clock()
                rule.record(losses)
                if rule.window_done:
                    rule.close(list(range(cfg.instances)))
                e = clock()
                for k, dt in zip(sec, (b - a, c - b, d - c, e - d)):
                    sec[k] += dt / steps

        timed_steps(steps // 2)
        total, loop = run_packed(e2e_config(device, steps=steps), device, tmp / "run")  # no checkpoint in it
        timed_steps(steps - steps // 2)
        cuda = device.type == "cuda"
        with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
            for _ in range(50):
                tr.kernel(tr.sample())
            sync(device)
        products = sum(getattr(ev, "self_device_time_total" if cuda else "self_cpu_time_total")
                       for ev in prof.key_averages() if ev.key in ("aten::bmm", "aten::baddbmm")) / 50 / 1e6

        t0 = clock()
        evaluate(tr.model, tr.p, cfg.eval_batches, cfg.batch, cfg.seeds, tr.importance)
        evaluation = clock() - t0
        tr.curve = [[0.1] * cfg.instances] * (cfg.max_steps // cfg.window)  # a full run's curve
        t0 = time.perf_counter()
        for _ in range(cfg.max_steps // cfg.checkpoint_every):  # the loop's checkpoints, with the curve so far
            tensors, meta = tr.to_tensors()
            save_weights(tmp / "checkpoint.safetensors", tensors, meta)
            _write_curve(tmp / "curve.csv", tr.curve, cfg.window)
        checkpoints = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = tr.model
        save_weights(tmp / "weights.safetensors", {"W_in": m.W_in, "W_out": m.out_weight(), "b": m.bias()[:, 0, :]})
        _write_curve(tmp / "curve.csv", tr.curve, cfg.window)
        write_json(tmp / "summary.json", {"instance": [{"p": p, "seed": k, "steps": cfg.max_steps, "loss": 0.1,
                                                        "loss_se": 0.001} for k, p in enumerate(tr.p)]})
        files = time.perf_counter() - t0
    per_step = loop / steps
    return {"steps": steps, **{k: v * 1e3 for k, v in sec.items()}, "products": products * 1e3, "step": per_step * 1e3,
            "setup": setup * 1e3, "checkpoints": checkpoints * 1e3, "evaluation": evaluation * 1e3,
            "files": files * 1e3, "outside": (total - loop) * 1e3}


def profile_ops(device, steps: int = 50, rows: int = 15) -> str:
    """torch.profiler's table of the ops of ``steps`` training steps at the end-to-end configuration."""
    from torch.profiler import ProfilerActivity, profile

    tr = Trainer(e2e_config(device), device)
    for _ in range(20):
        tr.train_step()
    cuda = device.type == "cuda"
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else []),
                 record_shapes=True) as prof:
        for _ in range(steps):
            tr.train_step()
        sync(device)
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    return prof.key_averages(group_by_input_shape=True).table(sort_by=key, row_limit=rows,
                                                              max_name_column_width=30, max_shapes_column_width=60)


def machine(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_info()['cpu']}, {torch.get_num_threads()} threads"


def section(device) -> str:
    """This run's section of RESULTS.md: one per device type, and on the CPU one per CPU kind."""
    return section_name("bench_train_cpu", cpu_info()["cpu"]) if device.type == "cpu" else f"bench_train_{device.type}"


def report_steps(steps, run_peak: float) -> list[str]:
    lines = ["Flops per step are counted dense, 10 batch n_s n_d; the sparse kernel does less work than that "
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
    return lines + [""]


def report_end_to_end(e2e, prof) -> list[str]:
    lo, hi = e2e["ratio_range"]
    rates = e2e["round_rates"]
    lines = [f"**End to end** (issue 19 item 3): `train()` with K = {e2e['K']} instances at n_s = {E2E['n_s']}, "
             f"n_d = {E2E['n_d']}, p = {E2E['p']}, batch {E2E['batch']}, {e2e['steps']} steps (the stopping rule off; "
             "checkpoints every 1000 steps, 16 held-out batches and the files, in a temporary folder) against "
             f"{e2e['K']} nn.Linear models trained one at a time for {e2e['steps']} steps each (autograd, "
             "torch.optim.Adam at the same learning rate, a torch.rand batch and loss.item() every step, then the "
             "held-out loss over 16 batches, the weights, the curve and the loss written out). "
             f"{e2e['rounds']} alternating rounds; each times the packed run and **{e2e['models_timed']} of the "
             f"{e2e['K']} naive models, scaled by {e2e['K']}/{e2e['models_timed']}**. Medians: train() "
             f"{e2e['packed_s']:.1f} s (its loop {e2e['loop_s']:.1f} s), the naive trainer {e2e['naive_s']:.1f} s; "
             f"ratio **{e2e['ratio']:.1f}x** (rounds {lo:.1f}-{hi:.1f}x; target 10x). Matmul around the rounds: "
             + ", ".join(f"{a:.0f}/{b:.0f}" for a, b in rates) + " GFLOP/s.", "",
             f"Where train()'s time goes at that configuration (ms, timed by hand over {prof['steps']} steps, means; "
             "the products by torch.profiler):", "",
             "| per step | ms | of the sections |", "|---|---:|---:|"]
    step = prof["step"]
    parts = prof["sample"] + prof["kernel"] + prof["adam"] + prof["rule"]
    rows = [("sampler (`Trainer.sample`: 64 streams into the dense batch)", prof["sample"]),
            ("kernel: forward and backward by hand", prof["kernel"]),
            ("&nbsp;&nbsp;of which the five batched products and the bias sum (bmm, baddbmm)", prof["products"]),
            ("Adam (fused)", prof["adam"]),
            ("window rule (record; its close reads the means once a window)", prof["rule"]),
            ("**the sections together**", parts),
            (f"a step of train()'s own loop ({prof['steps']} steps, run between the two halves)", step)]
    lines += [f"| {name} | {ms:.2f} | {ms / parts:.0%} |" for name, ms in rows]
    lines += ["", "| per run | ms |", "|---|---:|"]
    lines += [f"| {name} | {prof[k]:.0f} |" for name, k in (
        ("the Trainer (model, streams, kernel, Adam)", "setup"), ("two checkpoints (in the loop)", "checkpoints"),
        ("held-out evaluation (16 batches)", "evaluation"), ("weights, curve and summary files", "files"),
        (f"all of train() outside its loop ({prof['steps']}-step run: the above but the checkpoints, and its "
         "config checks, folder, config.json, reading the run back)", "outside"))]
    return lines + [""]


def report(device, peak_before, peak_after, steps, inst, e2e=None, prof=None) -> str:
    run_peak = max(peak_before, peak_after)
    kind = f"cpu, {cpu_kind(cpu_info()['cpu'])}" if device.type == "cpu" else device.type
    lines = [f"## Training speed (`bench_train.py`, {kind})", "",
             f"- Machine: {machine(device)}; torch {torch.__version__}",
             f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"- Matmul peak (float32, median of 5): {peak_before:.0f} GFLOP/s before, {peak_after:.0f} after", ""]
    if steps:
        lines += report_steps(steps, run_peak)
    if inst:
        lines += [f"K = {inst['K']} instances at n_s = 20, n_d = 5 against one nn.Linear model at a time, the bare "
                  f"step: {inst['packed_model_steps_per_s']:.0f} against {inst['naive_model_steps_per_s']:.0f} "
                  f"model-steps/s; the median of the paired block ratios **{inst['ratio']:.1f}x** (blocks "
                  f"{inst['ratio_range'][0]:.1f}-{inst['ratio_range'][1]:.1f}x; target 10x).", ""]
    if e2e:
        lines += report_end_to_end(e2e, prof)
    verdicts = []
    if steps:
        big = [s for s in steps if s["n_s"] >= 1024]
        ok_peak = all(s["of_peak"] >= 0.8 for s in big)
        fractions = ", ".join(f"{s['of_peak']:.0%} ({s['auto']})" for s in big)
        verdicts.append("fraction of peak >= 80 % for n_s >= 1024: " + (
            f"{'PASS' if ok_peak else 'MISS'} ({fractions})" if big else "not measured (no n_s >= 1024 in this run)"))
        ok_data = all(s["data_share"] <= 0.15 for s in steps)  # of the kernel "auto" picks
        verdicts.append(f"data <= 15 % of a step: {'PASS' if ok_data else 'MISS'}")
    if inst:
        verdicts.append(f"instances >= 10x (bare step): {'PASS' if inst['ratio'] >= 10 else 'MISS'}")
    if e2e:
        verdicts.append(f"instances >= 10x end to end: {'PASS' if e2e['ratio'] >= 10 else 'MISS'}")
    lines.append("Verdict: " + "; ".join(verdicts) + ".")
    return "\n".join(lines)


PARTS = ("steps", "instances", "e2e")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--sizes", default=None, help="comma-separated n_s (default 512,1024,2048; +8192 on a GPU)")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)} (default all)")
    ap.add_argument("--e2e-rounds", type=int, default=3, help="alternating rounds of the end-to-end comparison")
    ap.add_argument("--e2e-models", type=int, default=8,
                    help="naive models timed per round, of the 64 (the time is scaled by 64 / this)")
    ap.add_argument("--profile", action="store_true", help="also print torch.profiler's ops of the end-to-end step")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not set(parts) <= set(PARTS):
        ap.error(f"--parts takes {', '.join(PARTS)}; got {args.parts!r}")
    if args.write and set(parts) != set(PARTS):
        ap.error("--write records every part: leave --parts at its default")
    device = torch.device(args.device)
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else (
        [512, 1024, 2048] + ([8192] if device.type == "cuda" else []))
    before = matmul_peak(device)
    steps = [bench_steps(n, device, args.reps) for n in sizes] if "steps" in parts else []
    inst = bench_instances(device, args.reps) if "instances" in parts else None
    e2e = bench_end_to_end(device, args.e2e_rounds, args.e2e_models) if "e2e" in parts else None
    prof = profile_train(device) if "e2e" in parts else None
    after = matmul_peak(device)
    text = report(device, before, after, steps, inst, e2e, prof)
    print(text)
    if args.profile:
        print("\n" + profile_ops(device))
    if args.write:
        write_section(section(device), text)


if __name__ == "__main__":
    main()
