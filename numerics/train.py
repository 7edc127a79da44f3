r"""Training toy models: fresh data every step, Adam, the paper's stopping rule, atomic checkpoints.

One concept in one module (hence its length): a run of packed toy-model instances, from its folder to its
files, with the trainer's state and its checkpoints.

A run directory holds

- ``config.json``   the :class:`~numerics.config.TrainConfig`;
- ``curve.csv``     the loss curve: for each window of ``window`` steps, the mean loss of every instance;
- ``checkpoint.safetensors``  the state to resume from (parameters, Adam moments, generator states,
  the curve so far, which instances have stopped and their frozen weights), written atomically every
  ``checkpoint_every`` steps and removed when the run ends;
- ``weights.safetensors``  the final weights, W_in (K, n_d, n_s), W_out (K, n_s, n_d), b (K, n_s), p (K);
- ``summary.json``  per instance: p, steps, why it stopped, the last window's loss and a held-out loss with
  its standard error; plus device, step kernel, timings and steps per second.

The stopping rule (paper sec. 2): at the end of every window of ``window`` steps, an instance stops once
the mean loss of that window is no lower than the mean of the window before. An instance that stops keeps
the weights it had at that step (a frozen copy), while the others train on, so that it ends exactly as it
would have trained alone. On the CPU a run killed and resumed ends with the same weights, bit for bit, as
one never interrupted: everything random comes from per-instance generators whose states are saved (on the
CPU with every p <= 0.25 the data come from one numpy PCG64 stream per instance, elsewhere from a torch
generator per instance).
"""

from __future__ import annotations

import csv
import io as _io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import TrainConfig
from .core import MeanSE, WindowRule, make_adam
from .data import decaying_importance, sample_instances, two_group_importance
from .io import atomic_write_text, load_weights, read_json, save_weights, write_json
from .kernels import KERNELS, StepKernel, choose_kernel
from .law import DATA_SEED_OFFSET, EVAL_SEED_OFFSET, GAPS_MAX_P
from ._validation import resolve_device
from .toy import ToyModel

__all__ = ["train", "load_run", "resolve_device", "Run", "importance_weights", "StepKernel", "Trainer",
           "choose_kernel", "evaluate"]


def importance_weights(config: TrainConfig, device=None, dtype=torch.float32) -> torch.Tensor | None:
    """The importance M as a (K, 1, n_s) tensor, or None when every feature has weight 1."""
    imp, K, n_s = config.importance, config.instances, config.n_s
    if imp is None:
        return None
    if isinstance(imp, (list, tuple)):
        m = torch.tensor(imp, dtype=dtype).expand(K, n_s)
    elif imp["kind"] == "two_group":
        alphas = imp["alpha"] if isinstance(imp["alpha"], (list, tuple)) else [imp["alpha"]] * K
        m = torch.stack([two_group_importance(n_s, a, dtype=dtype) for a in alphas])
    else:
        m = decaying_importance(n_s, imp["decay"], dtype=dtype).expand(K, n_s)
    return m.reshape(K, 1, n_s).to(device).contiguous()


def _dtype(config: TrainConfig) -> torch.dtype:
    return torch.float64 if config.dtype == "float64" else torch.float32


@dataclass
class Run:
    """A finished run: the model (final weights), its config and metrics (summary + curve)."""

    model: ToyModel
    config: TrainConfig
    metrics: dict
    path: Path


def _memory_order(p: torch.nn.Parameter) -> tuple[torch.nn.Parameter, tuple[int, ...]]:
    """p as a leaf whose dimensions run in memory order, and the permutation that makes it.

    The leaf shares p's memory, and its .grad shares p.grad's (which must have p's strides), so an
    optimiser stepping it steps p. Why: torch's fused CPU Adam clones a non-contiguous gradient in
    every step (fresh memory, then unused: it walks parameter, gradient and moments linearly), which
    cost ~0.2-0.5 ms a step at n_s = 1024 for the feature-major W_in (benchmarks/README.md).
    """
    identity = tuple(range(p.dim()))
    if p.is_contiguous():
        return p, identity
    order = tuple(sorted(identity, key=lambda d: -p.stride(d)))  # stable: ties keep their order
    view = p.detach().permute(order)
    if not view.is_contiguous() or p.grad is None or p.grad.stride() != p.stride():
        return p, identity  # not a permuted dense layout: leave it to the optimiser as it is
    alias = torch.nn.Parameter(view)
    alias.grad = p.grad.permute(order)
    return alias, order


#: torch's Adam, fused where the build supports it (kept under this name for numerics.sae's import)
_adam = make_adam


class Trainer:
    """Everything that evolves during training, one step of it, and its (de)serialisation for checkpoints.

    ``Trainer(config, device).train_step()`` draws a fresh batch for every instance (into a reused buffer),
    computes the losses and gradients with :class:`StepKernel` and takes an Adam step; it returns the
    (K,) losses on the device without synchronising. :func:`train` drives it; benchmarks time it.
    """

    def __init__(self, config: TrainConfig, device: torch.device):
        self.config, self.device = config, device
        dtype = _dtype(config)
        self.model = ToyModel(config.n_s, config.n_d, instances=config.instances, activation=config.activation,
                              tied=config.tied, bias=config.bias, seeds=config.seeds,
                     init=config.init).to(device=device, dtype=dtype)
        self.p = config.p_list
        # instance k's data: on the CPU with p <= 0.25 (the gaps sampler, either kernel) one persistent numpy
        # PCG64 stream, else a torch generator on the device; either way a function of its own seed and p
        self.gens = [np.random.Generator(np.random.PCG64(s + DATA_SEED_OFFSET))
                     if device.type == "cpu" and p <= GAPS_MAX_P
                     else torch.Generator(device=device).manual_seed(s + DATA_SEED_OFFSET)
                     for s, p in zip(config.seeds, self.p)]
        self.step = 0
        self.curve: list[list[float]] = []  # one row of K window means per window
        self.active = [True] * config.instances
        self.stop_step = [None] * config.instances
        self.diverged = [False] * config.instances  # stopped because its window loss was not finite
        self.frozen: dict[str, torch.Tensor] = {
            name: t.detach().clone() for name, t in self.model.named_parameters()
        }  # per-instance rows are copied in when an instance stops
        self.importance = importance_weights(config, device, dtype)
        self.kernel_name = choose_kernel(config, device)
        self.shape = (config.instances, config.batch, config.n_s)
        self.kernel = KERNELS[self.kernel_name](self.model, config.batch, self.importance)
        self.x = self.kernel.buffer(self.shape, device, dtype)  # the reused batch (None: drawn afresh)
        # Adam steps each parameter through a contiguous alias of its memory (W_in is feature-major);
        # made after the kernel has given every parameter its .grad
        self.opt_params = {name: _memory_order(p) for name, p in self.model.named_parameters()}
        self.opt = _adam([a for a, _ in self.opt_params.values()], config.learning_rate)

    def sample(self):
        """A fresh batch, instance k from its own generator with its own p, in the form the kernel takes (the
        dense buffer refilled, or :class:`~numerics.data.SparseFeatures`: the same draws either way)."""
        return self.kernel.draw(self.x, self.p, self.gens)

    def train_step(self) -> torch.Tensor:
        """One training step of every instance; returns the (K,) losses of the batch (on the device)."""
        losses = self.kernel(self.sample())
        self.opt.step()
        self.step += 1
        return losses

    def params(self):
        return dict(self.model.named_parameters())

    def freeze(self, k: int):
        with torch.no_grad():
            for name, t in self.params().items():
                self.frozen[name][k].copy_(t[k])
        self.active[k] = False
        self.stop_step[k] = self.step

    def final_parameters(self) -> dict[str, torch.Tensor]:
        """Per instance: the frozen copy if it stopped, else the current parameters."""
        out = {}
        with torch.no_grad():
            for name, t in self.params().items():
                f = t.detach().clone()
                for k, act in enumerate(self.active):
                    if not act:
                        f[k] = self.frozen[name][k]
                out[name] = f
        return out

    # checkpoint ---------------------------------------------------------------------------------
    def to_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        t: dict[str, torch.Tensor] = {}
        for name, p in self.params().items():
            t[f"param.{name}"] = p.detach()
            t[f"frozen.{name}"] = self.frozen[name]
        adam_steps = {}
        for n, (a, order) in self.opt_params.items():
            st = self.opt.state.get(a)
            if not st:
                continue
            back = tuple(int(i) for i in np.argsort(order))  # the moments in the parameter's own shape
            t[f"adam.{n}.exp_avg"] = st["exp_avg"].permute(back)
            t[f"adam.{n}.exp_avg_sq"] = st["exp_avg_sq"].permute(back)
            adam_steps[n] = float(st["step"])
        streams = {}
        for k, g in enumerate(self.gens):
            if isinstance(g, np.random.Generator):
                streams[k] = g.bit_generator.state  # a dict of ints
            else:
                t[f"gen.{k}"] = g.get_state()
        t["curve"] = torch.tensor(self.curve, dtype=torch.float64).reshape(-1, self.config.instances)
        meta = {
            "step": str(self.step),
            "active": json.dumps(self.active),
            "stop_step": json.dumps(self.stop_step),
            "diverged": json.dumps(self.diverged),
            "adam_steps": json.dumps(adam_steps),
            "config": json.dumps(self.config.to_dict()),
            "streams": json.dumps(streams),
        }
        return t, meta

    def load_tensors(self, t: dict[str, torch.Tensor], meta: dict[str, str]):
        with torch.no_grad():
            for name, p in self.params().items():
                p.copy_(t[f"param.{name}"])
                self.frozen[name].copy_(t[f"frozen.{name}"])
        adam_steps = json.loads(meta["adam_steps"])
        for name, (a, order) in self.opt_params.items():
            if name in adam_steps:
                # the moments take the optimised alias's layout: the fused Adam kernel walks parameter,
                # gradient and moments in memory order, and mismatched strides would pair wrong elements
                self.opt.state[a] = {
                    "step": torch.tensor(adam_steps[name], dtype=torch.float32),
                    "exp_avg": torch.empty_like(a).copy_(t[f"adam.{name}.exp_avg"].permute(order)),
                    "exp_avg_sq": torch.empty_like(a).copy_(t[f"adam.{name}.exp_avg_sq"].permute(order)),
                }
        streams = json.loads(meta.get("streams", "{}"))
        for k, g in enumerate(self.gens):
            if isinstance(g, np.random.Generator):
                if str(k) not in streams:
                    raise ValueError(f"the checkpoint has no data stream for instance {k}: it was written before "
                                     "the CPU sampler kept one numpy stream per instance; start the run afresh")
                g.bit_generator.state = streams[str(k)]
            else:
                g.set_state(t[f"gen.{k}"].cpu())
        self.curve = t["curve"].tolist()
        self.step = int(meta["step"])
        self.active = json.loads(meta["active"])
        self.stop_step = json.loads(meta["stop_step"])
        self.diverged = json.loads(meta.get("diverged", json.dumps([False] * len(self.active))))


def _write_curve(path: Path, curve: list[list[float]], window: int):
    buf = _io.StringIO()
    w = csv.writer(buf)
    K = len(curve[0]) if curve else 0
    w.writerow(["step"] + [f"loss_{k}" for k in range(K)])
    for i, row in enumerate(curve):
        w.writerow([(i + 1) * window] + [repr(v) for v in row])
    atomic_write_text(path, buf.getvalue())


def _read_checkpoint(ckpt: Path, config: TrainConfig, device) -> tuple[dict, dict]:
    """The checkpoint's tensors and metadata, refused with a ValueError naming the file when it cannot be
    read (truncated, empty, zeroed), when it holds a non-finite parameter, or when the config it stores
    differs from ``config`` (resuming a p = 0.05 run as p = 0.1, or seed 0 as seed 1, would mislabel it)."""
    from safetensors import safe_open

    fix = "delete it to start the run afresh"
    try:
        with safe_open(str(ckpt), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_weights(ckpt, device=device)
    except Exception as exc:  # safetensors raises its own SafetensorError (and OSError, ValueError) on a bad file
        raise ValueError(f"checkpoint {str(ckpt)!r} cannot be read ({type(exc).__name__}: {exc}); {fix}") from exc
    if "config" not in meta:
        raise ValueError(f"checkpoint {str(ckpt)!r} records no config; {fix}")
    try:
        stored = TrainConfig.from_dict(json.loads(meta["config"])).validate().to_dict()
    except (ValueError, TypeError) as exc:
        raise ValueError(f"checkpoint {str(ckpt)!r} records an unreadable config ({exc}); {fix}") from exc
    wanted = config.to_dict()
    diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
    if diff:
        shown = ", ".join(f"{k}: {stored.get(k)!r} in the checkpoint, {wanted.get(k)!r} asked" for k in diff[:3])
        raise ValueError(f"checkpoint {str(ckpt)!r} was written by a different config ({shown}); resume with "
                         f"that config, or use another out_dir")
    bad = [k for k, v in tensors.items() if k.startswith(("param.", "frozen.")) and v.is_floating_point()
           and not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(f"checkpoint {str(ckpt)!r} holds non-finite values in {', '.join(sorted(bad)[:3])}; {fix}")
    return tensors, meta


def _check_out_dir(out: Path, config: TrainConfig, resume: bool):
    saved = out / "config.json"
    if saved.exists():
        old = TrainConfig.from_dict(read_json(saved))
        if not resume:
            raise ValueError(f"out_dir {str(out)!r} already holds a run; pass resume=True (--resume) or use another")
        if old.to_dict() != config.to_dict():
            raise ValueError(f"out_dir {str(out)!r} holds a run with a different config; cannot resume it")


@torch.no_grad()
def evaluate(model: ToyModel, p: list[float], batches: int, batch: int, seeds: list[int],
             importance: torch.Tensor | None = None) -> tuple[list[float], list[float]]:
    """Held-out loss of every instance with its standard error (over ``batches`` x ``batch`` samples).

    The per-sample loss (mean over features) is averaged; the standard error is its standard deviation
    over samples / sqrt(samples) (:class:`~numerics.core.MeanSE`). Data come from generators seeded apart
    from training.
    """
    p_dev = next(model.parameters())
    K, n_s = model.instances, model.n_s
    gens = [torch.Generator(device=p_dev.device).manual_seed(s + EVAL_SEED_OFFSET) for s in seeds]
    x = torch.empty(K, batch, n_s, device=p_dev.device, dtype=p_dev.dtype)
    acc = MeanSE()
    for _ in range(batches):
        sample_instances(x, p, gens)
        err = (x - model(x)) ** 2
        if importance is not None:
            err = err * importance
        acc.add(err.mean(-1))  # the per-sample losses, (K, batch)
    return acc.result()


def train(config: TrainConfig, out_dir, resume: bool = False, progress: bool = True, callback=None) -> Run:
    """Train ``config.instances`` toy models to the stopping rule (or max_steps); see the module doc.

    Returns the finished :class:`Run`. ``resume=True`` continues from the run directory's checkpoint
    (or returns the finished run when it is already complete); without it an existing run directory is
    an error. ``progress=False`` silences the progress bar.

    ``callback``: called at the end of every window of ``config.window`` steps with one dict,
    ``{"step": int, "losses": [mean loss of the window, per instance], "instances": [0 .. K-1],
    "active": [still training, per instance], "p": [per instance]}``: attach a logger (wandb,
    TensorBoard, a CSV) without making it a dependency. It runs after the stopping rule, so ``active``
    already says which instances stop at this window; what it returns is ignored.
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable or None, got {type(callback).__name__}")
    config.validate()
    out = Path(out_dir)
    _check_out_dir(out, config, resume)
    if resume and (out / "summary.json").exists() and (out / "weights.safetensors").exists():
        return load_run(out)
    device = resolve_device(config.device)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp"):  # left by a write that a kill interrupted: never a real file
        stale.unlink()
    st = Trainer(config, device)
    ckpt = out / "checkpoint.safetensors"
    if resume and ckpt.exists():  # checked before config.json is written: a refused resume changes nothing
        tensors, meta = _read_checkpoint(ckpt, config, device)
        try:
            st.load_tensors(tensors, meta)
        except (KeyError, RuntimeError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"checkpoint {str(ckpt)!r} is damaged ({type(exc).__name__}: {exc}); delete it to "
                             "start the run afresh") from exc
    config.save(out / "config.json")

    K, n_s, B, W = config.instances, config.n_s, config.batch, config.window
    p, imp = st.p, st.importance
    rule = WindowRule(K, W, device=device, min_steps=config.min_steps, enabled=config.stop_rule)
    rule.step, rule.curve = st.step, st.curve  # resumed: the trainer's step and curve (checkpointed)
    model = st.model

    t0 = time.perf_counter()
    start_step = st.step
    bar = tqdm(total=config.max_steps, initial=st.step, disable=not progress, unit="step", dynamic_ncols=True,
               desc=f"train n_s={n_s} n_d={config.n_d} K={K}")
    while st.step < config.max_steps and any(st.active):
        rule.record(st.train_step())  # (K,) losses; each instance's gradient is its own
        bar.update(1)
        if rule.window_done:  # the only host synchronisation: once per window
            means, stop, diverged = rule.close([k for k in range(K) if st.active[k]])
            for k in stop:  # a diverged instance stops here; the others go on
                st.freeze(k)
                st.diverged[k] = k in diverged
            bar.set_postfix(loss=f"{sum(means) / K:.3g}", active=sum(st.active))
            if callback is not None:
                callback({"step": st.step, "losses": list(means), "instances": list(range(K)),
                          "active": list(st.active), "p": list(p)})
            if config.checkpoint_every and st.step % config.checkpoint_every == 0 and any(st.active):
                tensors, meta = st.to_tensors()
                save_weights(ckpt, tensors, meta)
                _write_curve(out / "curve.csv", st.curve, W)
    bar.close()
    elapsed = time.perf_counter() - t0

    final = st.final_parameters()
    with torch.no_grad():
        for name, t in model.named_parameters():
            t.copy_(final[name])
    eval_loss, eval_se = evaluate(model, p, config.eval_batches, B, config.seeds, imp)
    weights = {"W_in": model.W_in, "W_out": model.out_weight(), "b": model.bias()[:, 0, :],
               "p": torch.tensor(p, dtype=torch.float64)}
    save_weights(out / "weights.safetensors", weights, {"n_s": str(n_s), "n_d": str(config.n_d)})
    _write_curve(out / "curve.csv", st.curve, W)
    steps_run = st.step - start_step
    summary = {
        "n_s": n_s, "n_d": config.n_d, "r": config.r, "instances": K, "device": str(device), "kernel": st.kernel_name,
        "steps": st.step, "steps_this_session": steps_run, "seconds_this_session": elapsed,
        "steps_per_second": steps_run / elapsed if elapsed > 0 else None,
        "instance": [
            {
                "p": p[k], "seed": config.seeds[k],
                "steps": st.stop_step[k] if st.stop_step[k] is not None else st.step,
                "stopped_by": ("diverged" if st.diverged[k] else "rule" if st.stop_step[k] is not None
                               else "max_steps"),
                "window_loss": st.curve[-1][k] if st.curve else None,
                "loss": eval_loss[k], "loss_se": eval_se[k],
            }
            for k in range(K)
        ],
    }
    write_json(out / "summary.json", summary)
    if ckpt.exists():
        ckpt.unlink()
    return load_run(out)


def load_run(run_dir) -> Run:
    """Load a finished run: the model with its final weights (on the CPU), the config and the metrics."""
    run_dir = Path(run_dir)
    for name in ("config.json", "weights.safetensors", "summary.json"):
        if not (run_dir / name).exists():
            raise ValueError(f"run_dir {str(run_dir)!r} has no {name}: not a finished run")
    config = TrainConfig.from_dict(read_json(run_dir / "config.json"))
    w = load_weights(run_dir / "weights.safetensors")
    dtype = _dtype(config)
    model = ToyModel(config.n_s, config.n_d, instances=config.instances, activation=config.activation,
                     tied=config.tied, bias=config.bias, seeds=config.seeds,
                     init=config.init).to(dtype=dtype)
    with torch.no_grad():
        model.W_in.copy_(w["W_in"])
        if not config.tied:
            model.W_out.copy_(w["W_out"])
        if config.bias:
            model.b.copy_(w["b"][:, None, :])
    metrics = read_json(run_dir / "summary.json")
    curve = []
    with open(run_dir / "curve.csv", newline="") as f:
        rows = list(csv.reader(f))
    for row in rows[1:]:
        curve.append([float(v) for v in row])
    metrics["curve"] = curve
    return Run(model=model, config=config, metrics=metrics, path=run_dir)
