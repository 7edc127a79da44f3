"""Command line of :mod:`theory`: ``python -m theory {loss,optimum,bound,curve,finite-size} ... [--json]``.

Bad input prints one line to stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from . import (
    linear_loss,
    loss_terms,
    lower_bound,
    macroscopic_loss,
    mmse_loss,
    optimal_ab,
    optimal_loss,
    r0_limit,
    rug_finite_size,
    upper_bound_ansatz,
    welch_sigma,
)
from ._cli import OneLineParser as _Parser, run_guarded






def _finite_or_none(v):
    """``v`` with non-finite floats as None: numerics.io.to_json_value's rule, copied because theory does not
    import numerics."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite_or_none(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite_or_none(x) for x in v]
    return v


def _emit(result: dict, as_json: bool) -> None:
    if as_json:  # JSON has no NaN or infinity: undefined numbers are null
        print(json.dumps(_finite_or_none(result), indent=2, sort_keys=False, allow_nan=False))
    else:
        width = max(len(k) for k in result)
        for key, value in result.items():
            text = f"{value:.10g}" if isinstance(value, float) else str(value)
            print(f"{key:<{width}}  {text}")


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: never a partial file. A file-system
    error is re-raised naming ``path`` (numerics.io does the same; theory does not import numerics)."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _cmd_loss(args) -> dict:
    l_off, l_on = loss_terms(args.a, args.b, args.sigma, args.p)
    return {
        "a": args.a,
        "b": args.b,
        "sigma": args.sigma,
        "p": args.p,
        "loss": float(macroscopic_loss(args.a, args.b, args.sigma, args.p)),
        "loss_off": float(l_off),
        "loss_on": float(l_on),
    }


def _cmd_optimum(args) -> dict:
    if args.r is None and args.sigma is None:
        raise ValueError("give --r (sigma is then the Welch minimum) or --sigma")
    return optimal_ab(args.p, args.r, sigma=args.sigma).as_dict()


def _cmd_bound(args) -> dict:
    sigma = float(welch_sigma(args.p, args.r))
    return {
        "p": args.p,
        "r": args.r,
        "welch_sigma": sigma,
        "lower_bound": float(lower_bound(args.p, sigma)),
        "mmse_loss": float(mmse_loss(args.p, sigma)),
        "optimal_loss": float(optimal_loss(args.p, args.r)),
        "upper_bound_ansatz": float(upper_bound_ansatz(args.p, args.r)) if args.p < 1 else math.nan,
        "linear_loss": float(linear_loss(args.p, args.r)),
        "r0_limit": float(r0_limit(args.p)),
    }


def _cmd_curve(args) -> dict:
    if args.n < 2:
        raise ValueError(f"n must be an integer >= 2, got {args.n}")
    if not 0 < args.r_min < args.r_max <= 1:
        raise ValueError(f"need 0 < r-min < r-max <= 1, got r-min={args.r_min}, r-max={args.r_max}")
    r = np.linspace(args.r_min, args.r_max, args.n)
    sigma = np.asarray(welch_sigma(args.p, r))
    rows = {
        "r": r,
        "welch_sigma": sigma,
        "optimal_loss": np.asarray(optimal_loss(args.p, r)),
        "linear_loss": np.asarray(linear_loss(args.p, r)),
        "mmse_loss": np.asarray(mmse_loss(args.p, sigma)),
    }
    out = Path(args.out)
    csv_path = out / "curve.csv"
    png_path = out / "curve.png"

    def write_csv(tmp):
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(list(rows))
            for i in range(r.size):
                writer.writerow([repr(float(rows[k][i])) for k in rows])

    _atomic_write(csv_path, write_csv)

    from matplotlib.figure import Figure  # no pyplot: the global backend is left alone

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax.plot(r, rows["linear_loss"], label="optimal linear, (1-r) Var x", color="0.4", ls="--")
    ax.plot(r, rows["optimal_loss"], label="L*(p, r), ReLU at the Welch sigma", color="C0", lw=2)
    ax.plot(r, rows["mmse_loss"], label="MMSE bound (any elementwise decoder)", color="C3", ls=":")
    ax.set_xlabel("compression ratio r = n_d / n_s")
    ax.set_ylabel("loss per feature")
    ax.set_title(f"Macroscopic theory at p = {args.p:g}")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)
    fig.tight_layout()
    _atomic_write(png_path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    return {"p": args.p, "n": int(args.n), "csv": str(csv_path), "png": str(png_path)}


def draw_excess(points: list[dict]):
    """The excess of the best rug over L* against p n_s (symlog: linear within +-1 %), one panel per r,
    one line per n_s, from FiniteSizeExcess.as_dict() records (docs/results/finite-size/excess.json)."""
    from matplotlib.figure import Figure  # no pyplot: the global backend is left alone

    rs = sorted({pt["r"] for pt in points})
    ns = sorted({pt["n_s"] for pt in points})
    fig = Figure(figsize=(4.2 * len(rs), 3.8))
    axes = fig.subplots(1, len(rs), squeeze=False)[0]
    for ax, r in zip(axes, rs):
        for k, n in enumerate(ns):
            sel = sorted((pt for pt in points if pt["n_s"] == n and abs(pt["r"] - r) < 1e-12), key=lambda pt: pt["p_ns"])
            if not sel:
                continue
            x = np.array([pt["p_ns"] for pt in sel])
            m = 100 * np.array([pt["mean"] for pt in sel])
            lo = 100 * np.array([pt["low"] for pt in sel])
            hi = 100 * np.array([pt["high"] for pt in sel])
            ax.errorbar(x, m, yerr=np.vstack([m - lo, hi - m]), marker="o", ms=3, capsize=2, color=f"C{k}",
                        label=f"n_s = {n}")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.axhline(5, color="0.5", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1.0)
        ticks = sorted({pt["p_ns"] for pt in points})
        ax.set_xticks(ticks, [f"{v:g}" for v in ticks])
        ax.minorticks_off()
        ax.set_xlabel("p n_s (mean active features)")
        ax.set_title(f"r = {r:g}")
    axes[0].set_ylabel("best rug / L* - 1 (%, symlog; dotted: 5 %)")
    axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def _cmd_finite_size(args) -> dict:
    for name in ("ns", "pns"):
        if not getattr(args, name):
            raise ValueError(f"--{name} needs at least one value")
    for x in args.pns:
        if not math.isfinite(x) or x <= 0:
            raise ValueError(f"--pns values must be > 0, got {x!r}")
    for n in args.ns:
        if n < 2 or n & (n - 1):
            raise ValueError(f"--ns values must be powers of two >= 2, got {n}")
        if max(args.pns) > n:
            raise ValueError(f"--pns values must be <= n_s (p <= 1), got {max(args.pns)!r} with n_s = {n}")
    from tqdm import tqdm

    points = [(r, n, pns) for r in args.r for n in args.ns for pns in args.pns]
    rows = []
    for r, n, pns in tqdm(points, desc="finite-size", unit="point", disable=args.quiet, file=sys.stderr):
        res = rug_finite_size(pns / n, r, n, draws=args.draws, seed=args.seed, tol=args.tol)
        rows.append(res)
    out = Path(args.out)
    csv_path, json_path, png_path = out / "excess.csv", out / "excess.json", out / "excess.png"
    cols = ("r", "n_s", "p_ns", "p", "large_ns_loss", "mean", "low", "high")

    def write_csv(tmp):
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(cols + tuple(f"excess_{s}" for s in rows[0].seeds))
            for res in rows:
                writer.writerow([repr(float(getattr(res, c))) for c in cols] + [repr(float(e)) for e in res.excess])

    def write_json(tmp):
        meta = {"draws": args.draws, "seed": args.seed, "tol": args.tol, "confidence": rows[0].confidence}
        with open(tmp, "w") as handle:
            json.dump({"settings": meta, "points": [res.as_dict() for res in rows]}, handle, indent=1)

    _atomic_write(csv_path, write_csv)
    _atomic_write(json_path, write_json)

    fig = draw_excess([res.as_dict() for res in rows])
    _atomic_write(png_path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    return {"points": len(rows), "csv": str(csv_path), "json": str(json_path), "png": str(png_path)}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m theory", description="The exact macroscopic theory of the Persian Rug.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name, help_text, func):
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("--json", action="store_true", help="print a JSON object")
        cmd.set_defaults(func=func)
        return cmd

    cmd = add("loss", "L(a, b, sigma; p) of eq. 5 and its off/on parts", _cmd_loss)
    cmd.add_argument("--a", type=float, required=True, help="diagonal of W")
    cmd.add_argument("--b", type=float, required=True, help="bias")
    cmd.add_argument("--sigma", type=float, required=True, help="interference standard deviation (>= 0)")
    cmd.add_argument("--p", type=float, required=True, help="feature probability in (0, 1]")

    cmd = add("optimum", "optimal a and b at the Welch sigma for r (or at a given sigma)", _cmd_optimum)
    cmd.add_argument("--p", type=float, required=True, help="feature probability in (0, 1]")
    cmd.add_argument("--r", type=float, help="compression ratio n_d / n_s in (0, 1]")
    cmd.add_argument("--sigma", type=float, help="interference standard deviation (overrides the Welch minimum)")

    cmd = add("bound", "Welch sigma, and the loss bounds and baselines at (p, r)", _cmd_bound)
    cmd.add_argument("--p", type=float, required=True, help="feature probability in (0, 1]")
    cmd.add_argument("--r", type=float, required=True, help="compression ratio in (0, 1]")

    cmd = add("curve", "L*, the linear baseline and the MMSE bound against r: a CSV and a PNG", _cmd_curve)
    cmd.add_argument("--p", type=float, required=True, help="feature probability in (0, 1]")
    cmd.add_argument("--r-min", type=float, default=0.01, help="smallest r (default 0.01)")
    cmd.add_argument("--r-max", type=float, default=1.0, help="largest r (default 1)")
    cmd.add_argument("--n", type=int, default=50, help="number of r values (default 50)")
    cmd.add_argument("--out", default="curve", help="output folder (default ./curve)")

    cmd = add("finite-size", "the exact excess of the best rug over L* against p n_s: CSV, JSON and PNG",
              _cmd_finite_size)
    cmd.add_argument("--r", type=float, nargs="+", default=[0.25], help="compression ratios (default 0.25)")
    cmd.add_argument("--ns", type=int, nargs="+", default=[256, 1024], help="n_s values, powers of two")
    cmd.add_argument("--pns", type=float, nargs="+", default=[1, 3, 10, 30, 100], help="p n_s values")
    cmd.add_argument("--draws", type=int, default=3, help="column sets S per point (default 3)")
    cmd.add_argument("--seed", type=int, default=0, help="seed of the first column set (default 0)")
    cmd.add_argument("--tol", type=float, default=1e-6, help="relative accuracy of each exact loss")
    cmd.add_argument("--quiet", action="store_true", help="no progress bar")
    cmd.add_argument("--out", default="finite-size", help="output folder (default ./finite-size)")
    return parser


def _main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except ValueError as exc:
        sys.stderr.write(f"python -m theory {args.command}: error: {exc}\n")
        return 2
    _emit(result, args.json)
    sys.stdout.flush()  # a reader that went away (| head) surfaces here, inside run_guarded
    return 0


def main(argv=None) -> int:
    """Run the command line (bad input and file-system errors: one line on stderr, exit 2)."""
    return run_guarded("python -m theory", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
