"""Command line of :mod:`verify`: ``python -m verify report --profile quick|paper --out report/`` (measure and
judge) and ``python -m verify judge report/`` (re-judge stored measurements, computing nothing);
``python -m verify models FILE... --p P --out DIR`` judges toy models trained elsewhere
(verify/external.py); ``python -m verify coverage [--write]`` prints the table of every checkable claim of both texts (verify/coverage.py)
and with --write rewrites its block in docs/verify.md; it exits 1 when the coverage check finds problems
(listed on stderr, one a line).

Bad input prints one line to stderr and exits with status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .profiles import PROFILES
from numerics.executor import add_executor_flags, executor_from_args
from theory._cli import OneLineParser as _Parser, run_guarded




def _main(argv=None) -> int:
    parser = _Parser(prog="python -m verify", description="Check the paper's claims against models trained here.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("report", help="run the comparisons and write the report")
    p.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    p.add_argument("--config", type=Path, default=None,
                   help="a Profile as TOML or JSON (in place of --profile); the flags given here override it")
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
    p.add_argument("--seed", type=int, default=None, help="root seed of every stage (default: the profile's, 0)")
    p.add_argument("--seeds", type=int, default=None,
                   help="independent seeds per trained configuration (default: the profile's, 3)")
    add_executor_flags(p)
    j = sub.add_parser("judge", help="re-judge a report's stored measurements with the current claims")
    j.add_argument("report_dir", type=Path)
    j.add_argument("--out", type=Path, default=None, help="where to write summary.json and README.md "
                   "(default: the report itself)")
    s = sub.add_parser("stability", help="run a profile from several root seeds and compare every verdict")
    s.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    s.add_argument("--seeds", default="0,1,2", help="comma-separated root seeds (default 0,1,2)")
    s.add_argument("--out", type=Path, default=Path("stability"))
    s.add_argument("--quiet", action="store_true", help="no progress bars")
    c = sub.add_parser("coverage", help="print the table of every checkable claim of both texts and what judges it")
    c.add_argument("--write", action="store_true", help="rewrite the table's block in docs/verify.md")
    c.add_argument("--docs", type=Path, default=None,
                   help="with --write: the page whose coverage block is rewritten (default docs/verify.md)")
    m = sub.add_parser("models", help="judge toy models trained elsewhere (ARENA, Toy Models, any W and b) with "
                       "the report's per-model claims")
    m.add_argument("weights", nargs="+", type=Path,
                   help="weight files (.safetensors, .npz, .pt/.pth) or run directories; see numerics/external.py")
    m.add_argument("--p", type=float, default=None,
                   help="the feature probability the models were trained at (default: from the files)")
    m.add_argument("--r", type=float, default=None,
                   help="n_d / n_s (default: from the weights' shape; needed for a bare n_s x n_s product)")
    m.add_argument("--out", type=Path, default=Path("models-report"))
    m.add_argument("--seed", type=int, default=0, help="seed of the rug fitted at each n_s (default 0)")
    m.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.command == "coverage":
        return _coverage(args)
    if args.command == "models":
        from .external import judge_models

        try:
            if not 0 <= args.seed <= 10**6:
                raise ValueError(f"--seed must be in [0, 1000000], got {args.seed}")
            summary = judge_models(args.weights, args.out, p=args.p, r=args.r, seed=args.seed,
                                   progress=not args.quiet)
        except ValueError as exc:
            sys.stderr.write(f"python -m verify models: error: {exc}\n")
            return 2
        print(_counts_line(summary, args.out / "README.md"))
        return 0
    from .report import judge_report, run_report

    if args.command == "stability":
        from .stability import stability

        try:
            seeds = [int(v) for v in args.seeds.split(",") if v.strip()]
        except ValueError:
            sys.stderr.write(f"python -m verify stability: error: --seeds must be integers, got {args.seeds!r}\n")
            return 2
        try:
            res = stability(args.profile, args.out, seeds, progress=not args.quiet)
        except ValueError as exc:
            sys.stderr.write(f"python -m verify stability: error: {exc}\n")
            return 2
        c = res["counts"]
        print(f"{c['stable']} stable, {c['wavers']} waver, {c['contradicts']} contradict -> {args.out / 'stability.md'}")
        return 0

    if args.command == "judge":
        try:
            summary = judge_report(args.report_dir, args.out)
        except (ValueError, OSError) as exc:
            sys.stderr.write(f"python -m verify judge: error: {exc}\n")
            return 2
        print(_counts_line(summary, (args.out or args.report_dir) / "README.md"))
        return 0

    try:
        only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
        redo = [s.strip() for s in args.redo.split(",") if s.strip()] if args.redo else ()
        from .profiles import Profile, get_profile

        profile = Profile.load(args.config) if args.config else get_profile(args.profile)
        overrides = {k: v for k, v in (("max_steps", args.max_steps), ("lr_factor", args.lr_factor),
                                       ("min_steps", args.min_steps), ("seed", args.seed), ("seeds", args.seeds))
                     if v is not None}
        if overrides:  # Profile validates itself: a bad value is a ValueError naming the field
            profile = profile.with_overrides(name=f"{profile.name} (overridden: {overrides})", **overrides)
        executor = executor_from_args(args, args.out)
        if executor.name == "local" and executor.workers == 0:
            executor = None  # here, one run after another: the report's own path
        summary = run_report(profile, args.out, progress=not args.quiet, only=only, runs_dir=args.runs,
                             redo=redo, executor=executor)
    except ValueError as exc:
        sys.stderr.write(f"python -m verify {args.command}: error: {exc}\n")
        return 2
    print(_counts_line(summary, args.out / "README.md"))
    return 0


def _coverage(args) -> int:
    from .coverage import coverage_problems, coverage_table_markdown, write_docs_block

    if args.docs is not None and not args.write:
        sys.stderr.write("python -m verify coverage: error: --docs needs --write\n")
        return 2
    table = coverage_table_markdown()
    if args.write:
        try:
            changed = write_docs_block(args.docs, table)
        except (ValueError, OSError) as exc:
            sys.stderr.write(f"python -m verify coverage: error: {exc}\n")
            return 2
    problems = coverage_problems()
    for p in problems:
        sys.stderr.write(f"python -m verify coverage: {p.kind}: {p.message}\n")
    if args.write:
        print(f"{'rewrote' if changed else 'unchanged:'} the coverage block of {args.docs or 'docs/verify.md'}")
    else:
        print(table)
    return 1 if problems else 0


def _counts_line(summary: dict, page: Path) -> str:
    counts = summary["counts"]
    return ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n) + f" -> {page}"


def main(argv=None) -> int:
    """Run the command line (bad input and file-system errors: one line on stderr, exit 2)."""
    return run_guarded("python -m verify", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())
