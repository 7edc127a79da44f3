"""Command line of :mod:`verify`: ``python -m verify report --profile quick|paper --out report/``.

Bad input prints one line to stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .profiles import PROFILES


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # noqa: D401 - argparse API
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def main(argv=None) -> int:
    parser = _Parser(prog="python -m verify", description="Check the paper's claims against models trained here.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("report", help="run the comparisons and write the report")
    p.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    p.add_argument("--out", type=Path, default=Path("report"))
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--only", default=None, help="comma-separated stages to run (default: all)")
    p.add_argument("--redo", default=None,
                   help="comma-separated stages to recompute although saved (finished runs are not retrained)")
    p.add_argument("--runs", type=Path, default=None, help="where trained runs go (default: OUT/runs)")
    p.add_argument("--max-steps", dest="max_steps", type=int, default=None, help="override the profile's cap")
    p.add_argument("--min-steps", dest="min_steps", type=int, default=None,
                   help="override the step from which the stopping rule applies")
    p.add_argument("--lr-factor", dest="lr_factor", type=float, default=None,
                   help="override the profile's multiple of the paper's learning rate")
    args = parser.parse_args(argv)
    from .report import run_report

    try:
        only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
        redo = [s.strip() for s in args.redo.split(",") if s.strip()] if args.redo else ()
        import dataclasses

        from .profiles import get_profile

        profile = get_profile(args.profile)
        overrides = {k: v for k, v in (("max_steps", args.max_steps), ("lr_factor", args.lr_factor),
                                                            ("min_steps", args.min_steps)) if v is not None}
        if "max_steps" in overrides and overrides["max_steps"] < 1:
            raise ValueError(f"--max-steps must be >= 1, got {overrides['max_steps']}")
        if "lr_factor" in overrides and not overrides["lr_factor"] > 0:
            raise ValueError(f"--lr-factor must be > 0, got {overrides['lr_factor']}")
        if overrides:
            profile = dataclasses.replace(profile, name=f"{profile.name} (overridden: {overrides})", **overrides)
        summary = run_report(profile, args.out, progress=not args.quiet, only=only, runs_dir=args.runs,
                             redo=redo)
    except ValueError as exc:
        sys.stderr.write(f"python -m verify {args.command}: error: {exc}\n")
        return 2
    c = summary["counts"]
    print(f"{c['pass']} pass, {c['fail']} fail, {c['refuted']} refuted, {c['info']} info -> {args.out / 'README.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
