"""Command line of :mod:`numerics`: ``python -m numerics COMMAND ...``.

Commands: ``rug`` (draw the rug, fig. 1), ``fit-rug`` (a and b of a Persian Rug model), ``stats``
(symmetry statistics and macroscopic parameters of a weights file), ``weights`` (draw W and b, fig. 3),
``train`` (toy models), ``sweep`` (a (p, r) grid packed into instances), ``toy-models`` (Toy Models'
demo), ``broken-symmetry`` (appendix H), ``sae`` (sparse autoencoders on toy data) and ``fwht-plans``
(the pure-torch transform's measured plans: list, measure, clear). Bad input prints one line to stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from ._cli import OneLineParser as _Parser, run_guarded
from .executor import add_executor_flags
from .kernels import KERNEL_CHOICES




def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _emit(result: dict, as_json: bool) -> None:
    if as_json:
        from .io import dumps

        print(dumps(result, indent=2))
        return
    width = max((len(k) for k in result), default=0)
    for key, value in result.items():
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        print(f"{key:<{width}}  {text}")


def _cmd_rug(args):
    from .plots import plot_rug
    from .rug import RugOperator

    op = RugOperator(args.ns, args.nd, seed=args.seed)
    if args.ns > 4096:
        raise ValueError(f"--ns must be at most 4096 for a picture (the dense rug is drawn), got {args.ns}")
    plot_rug(op.dense(), out=args.out, title=f"Persian Rug, n_s = {args.ns}, n_d = {args.nd}")
    return {"out": str(args.out), "n_s": args.ns, "n_d": args.nd, "S": op.S.tolist()}


def _cmd_fit_rug(args):
    from .rug_model import fit_rug

    kw = {"method": args.method, "seed": args.seed, "progress": not args.quiet}
    if args.device:
        kw["device"] = args.device
    result = fit_rug(args.ns, args.r, args.p, **kw)
    out = result.as_dict() if hasattr(result, "as_dict") else {k: v.as_dict() for k, v in result.items()}
    if args.out:
        from .io import write_json

        write_json(args.out, out)
    return out


def _load_wb(path, instance: int):
    from .external import read_toy_weights

    tw = read_toy_weights(path)
    if not 0 <= instance < tw.instances:
        raise ValueError(f"--instance must be in [0, {tw.instances - 1}], got {instance}")
    return tw.W[instance], tw.b[instance], tw.p[instance] if tw.p is not None else None


def _cmd_stats(args):
    from .symmetry import macroscopic_params, symmetry_stats

    W, b, p_file = _load_wb(args.weights, args.instance)
    p = args.p if args.p is not None else p_file
    if p is None:
        raise ValueError("--p is required (the weights file does not record p)")
    return {"symmetry": symmetry_stats(W, b, p).as_dict(), "macroscopic": macroscopic_params(W, b, p).as_dict()}


def _cmd_fwht_plans(args):
    import torch

    from . import fwht_plan
    from .hadamard import fwht

    cleared = fwht_plan.clear_wisdom() if args.clear else None
    for k in args.measure:
        if not 1 <= k <= 22:
            raise ValueError(f"--measure takes log2 n in [1, 22], got {k}")
    if args.measure:
        fwht_plan.set_tuning(True)  # asked for explicitly: measure even where the environment turns tuning off
        try:
            for k in args.measure:
                fwht(torch.zeros(1, 1 << k), backend="torch")
        finally:
            fwht_plan.set_tuning(None)
    result = {"wisdom": str(fwht_plan.wisdom_path()), "tuning": fwht_plan.tuning_enabled()}
    if cleared is not None:
        result["cleared"] = cleared
    for key, entry in sorted(fwht_plan.stored_plans().items()):
        if isinstance(entry, dict):
            result[key] = (f"{'+'.join(map(str, entry.get('groups', [])))} bits, chunk {entry.get('chunk_elems')}"
                           f" ({entry.get('ms_per_2^22')} ms per 2^22 elements, fixed rule "
                           f"{entry.get('fixed_rule_ms_per_2^22')} ms)")
    return result


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _cmd_weights(args):
    from .plots import plot_weights

    W, b, _ = _load_wb(args.weights, args.instance)
    plot_weights(W, b, n=args.n, out=args.out)
    return {"out": str(args.out)}


def _train_config(args):
    """The TrainConfig of ``train``: --config FILE with the flags given on the command line over it, or the
    flags alone (--ns, --p and --r or --nd then required)."""
    from .config import TrainConfig

    flags = dict(n_s=args.ns, n_d=args.nd, r=args.r,
                 p=None if args.p is None else args.p if len(args.p) > 1 else args.p[0],
                 instances=args.instances, device=args.device, seed=args.seed, batch=args.batch, lr=args.lr,
                 max_steps=args.max_steps, checkpoint_every=args.checkpoint_every, activation=args.activation,
                 kernel=args.kernel)
    if args.config:
        return TrainConfig.load(args.config).with_overrides(**flags)
    if args.ns is None or args.p is None or (args.r is None and args.nd is None):
        raise ValueError("give --config FILE, or --ns, --p and --r (or --nd)")
    return TrainConfig(**{k: v for k, v in flags.items() if v is not None})


def _cmd_train(args):
    from .train import train

    run = train(_train_config(args), args.out, resume=args.resume, progress=not args.quiet)
    m = dict(run.metrics)
    m.pop("curve", None)
    def shown(i):  # a diverged instance has no loss (null in summary.json)
        return "diverged" if i.get("stopped_by") == "diverged" or i["loss"] is None else f"{i['loss']:.4g}"

    return m if args.json else {"out": str(run.path), "steps": m["steps"],
                                "loss": ", ".join(shown(i) for i in m["instance"])}


def _cmd_sweep(args):
    from .executor import executor_from_args
    from .experiments import sweep

    for name in ("p", "r"):
        if getattr(args, name) is None:
            raise ValueError(f"sweep needs --{name} (one value or a comma-separated list)")
    kw = {"device": args.device or "auto", "seed": args.seed or 0}
    for name in ("batch", "lr", "max_steps", "kernel"):
        v = getattr(args, name)
        if v is not None:
            kw[name] = v
    index = sweep(args.ns, args.p, args.r, args.out, seeds=args.seeds, progress=not args.quiet,
                  executor=executor_from_args(args, args.out), **kw)
    return index if args.json else {"out": str(args.out), "runs": len({e["run"] for e in index["entries"]}),
                                    "points": len(index["entries"])}


def _cmd_toy_models(args):
    from .experiments import toy_models_demo

    return toy_models_demo(args.out, max_steps=args.max_steps, progress=not args.quiet, device=args.device)


def _cmd_broken_symmetry(args):
    from .experiments import broken_symmetry

    kw = dict(alphas=args.alphas, n_s=args.ns, n_d=args.nd, p=args.p, max_steps=args.max_steps,
              progress=not args.quiet, device=args.device)
    if args.batch:
        kw["batch"] = args.batch
    return broken_symmetry(args.out, **kw)


def _cmd_sae(args):
    from .sae import SAESweepConfig, sae_sweep

    base = SAESweepConfig.load(args.config) if args.config else SAESweepConfig()
    data = base.data.with_overrides(h=args.h, G=args.G, n_active=args.n_active, decay=args.decay, seed=args.seed)
    cfg = base.with_overrides(data=data, alphas=args.alphas, ratios=args.ratios, steps=args.steps, batch=args.batch,
                              lr=args.lr, dead_window=args.dead_window, seed=args.seed)
    result = sae_sweep(cfg, args.out, device=args.device, progress=not args.quiet, resume=not args.no_resume,
                       threads=args.threads)
    return result if args.json else {"out": str(args.out)}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m numerics", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(p, json_flag=True):
        if json_flag:
            p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("rug", help="draw the Persian Rug matrix (fig. 1)")
    p.add_argument("--ns", type=int, default=256)
    p.add_argument("--nd", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("rug.png"))
    common(p)
    p.set_defaults(func=_cmd_rug)

    p = sub.add_parser("fit-rug", help="fit a and b of a Persian Rug model")
    p.add_argument("--ns", type=int, required=True)
    p.add_argument("--r", type=float, required=True)
    p.add_argument("--p", type=float, required=True)
    p.add_argument("--method", choices=("fit", "train", "both"), default="fit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--out", type=Path, default=None, help="also write the result as JSON here")
    common(p)
    p.set_defaults(func=_cmd_fit_rug)

    p = sub.add_parser("stats", help="symmetry statistics of a weights file (safetensors)")
    p.add_argument("weights", type=Path)
    p.add_argument("--p", type=float, default=None, help="feature probability (default: from the file)")
    p.add_argument("--instance", type=int, default=0)
    common(p)
    p.set_defaults(func=_cmd_stats)

    p = sub.add_parser("weights", help="draw a corner of W and b of a weights file (fig. 3)")
    p.add_argument("weights", type=Path)
    p.add_argument("--instance", type=int, default=0)
    p.add_argument("--n", type=int, default=30)
    p.add_argument("--out", type=Path, default=Path("weights.png"))
    common(p)
    p.set_defaults(func=_cmd_weights)

    for name, func, help_ in (("train", _cmd_train, "train toy models"),
                              ("sweep", _cmd_sweep, "train a (p, r) grid, packing runs into instances")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--ns", type=int, default=None)
        p.add_argument("--p", type=_floats, default=None, help="one p or a comma-separated list")
        p.add_argument("--r", type=_floats if name == "sweep" else float, default=None)
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N, mps, ...")
        p.add_argument("--seed", type=int, default=None, help="the first instance's seed (default 0)")
        p.add_argument("--batch", type=int, default=None)
        p.add_argument("--lr", type=float, default=None)
        p.add_argument("--max-steps", dest="max_steps", type=int, default=None)
        p.add_argument("--kernel", choices=KERNEL_CHOICES, default=None,
                       help="the step kernel (default auto: on the CPU sparse where it measured faster, from n_s = 512 at "
                            "small p, and narrow for n_d <= 8 in float32)")
        if name == "sweep":
            p.add_argument("--seeds", type=int, default=1,
                           help="independent replicas of every (p, r), seeded --seed + instance (default 1)")
            add_executor_flags(p)
        if name == "train":
            p.add_argument("--nd", type=int, default=None)
            p.add_argument("--instances", type=int, default=None)
            p.add_argument("--config", type=Path, default=None,
                           help="a TrainConfig as JSON or TOML; the flags given here override its fields")
            p.add_argument("--resume", action="store_true")
            p.add_argument("--checkpoint-every", dest="checkpoint_every", type=int, default=None)
            p.add_argument("--activation", choices=("relu", "linear"), default=None)
        common(p)
        p.set_defaults(func=func)

    p = sub.add_parser("toy-models", help="Toy Models' n_s = 20, n_d = 5 demo with its pictures")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--max-steps", dest="max_steps", type=int, default=10_000)
    p.add_argument("--device", default="auto")
    common(p)
    p.set_defaults(func=_cmd_toy_models)

    p = sub.add_parser("sae", help="sparse autoencoders on toy data: a sweep of L1 x dictionary ratio")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--config", type=Path, default=None,
                   help="an SAESweepConfig as JSON or TOML; the flags given here override its fields")
    p.add_argument("--alphas", type=_floats, default=None, help="L1 coefficients (default 0.01,0.03,0.1,0.3,1)")
    p.add_argument("--ratios", type=_floats, default=None, help="dictionary size / G (default 0.5,1,2,4)")
    p.add_argument("--steps", type=int, default=None, help="default 10000")
    p.add_argument("--batch", type=int, default=None, help="default 256")
    p.add_argument("--lr", type=float, default=None, help="default 1e-3")
    p.add_argument("--dead-window", dest="dead_window", type=int, default=None, help="default 500")
    p.add_argument("--h", type=int, default=None, help="data dimension (default 256)")
    p.add_argument("--G", type=int, default=None, help="ground-truth features (default 512)")
    p.add_argument("--n-active", dest="n_active", type=float, default=None, help="default 5")
    p.add_argument("--decay", type=float, default=None, help="default 0.99")
    p.add_argument("--seed", type=int, default=None, help="default 0")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--no-resume", dest="no_resume", action="store_true")
    common(p)
    p.set_defaults(func=_cmd_sae)

    p = sub.add_parser("broken-symmetry", help="appendix H: two importance groups, alpha from 0 to 1")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--alphas", type=_floats, default=[0.0, 0.25, 0.5, 0.75, 1.0])
    p.add_argument("--ns", type=int, default=4096)
    p.add_argument("--nd", type=int, default=1024)
    p.add_argument("--p", type=float, default=0.04)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--max-steps", dest="max_steps", type=int, default=100_000)
    p.add_argument("--device", default="auto")
    common(p)
    p.set_defaults(func=_cmd_broken_symmetry)

    p = sub.add_parser("fwht-plans", help="the pure-torch Walsh-Hadamard transform's measured plans (wisdom)")
    p.add_argument("--measure", type=_ints, default=[], metavar="K,K,...",
                   help="measure the plans for n = 2^K now (float32; K in 1..22)")
    p.add_argument("--clear", action="store_true", help="delete the wisdom file first (every size measured again)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_fwht_plans)
    return parser


def _main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except ValueError as exc:
        sys.stderr.write(f"python -m numerics {args.command}: error: {exc}\n")
        return 2
    _emit(result, getattr(args, "json", False))
    return 0


def main(argv=None) -> int:
    """Run the command line (bad input and file-system errors: one line on stderr, exit 2)."""
    return run_guarded("python -m numerics", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
