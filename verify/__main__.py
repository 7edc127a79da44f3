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
    p.add_argument("--runs", type=Path, default=None, help="where trained runs go (default: OUT/runs)")
    args = parser.parse_args(argv)
    from .report import run_report

    try:
        only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
        summary = run_report(args.profile, args.out, progress=not args.quiet, only=only, runs_dir=args.runs)
    except ValueError as exc:
        sys.stderr.write(f"python -m verify {args.command}: error: {exc}\n")
        return 2
    c = summary["counts"]
    print(f"{c['pass']} pass, {c['fail']} fail, {c['refuted']} refuted, {c['info']} info -> {args.out / 'README.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
