"""The report: run every comparison of a profile (resumably), then write summary.json, README.md and the
figures into one directory.

Stages and their results live in ``OUT/stages/<name>.json`` (written atomically); a stage whose file
exists for the same profile is loaded, not recomputed, and trained runs resume from their checkpoints.
So an interrupted report picks up where it stopped.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from numerics.io import atomic_write_text, read_json, write_json

from . import comparisons as C
from .claims import Comparison
from .measure import train_sweep
from .profiles import Profile, get_profile

__all__ = ["run_report", "STAGES"]

STAGES = ("rug_properties", "loss_vs_ratio", "grid", "symmetry_vs_ns", "bounds_vs_trained", "fig3_point",
          "p2_over_r_scaling", "sae_recovery")


def _cached(out: Path, name: str, profile: Profile, compute, *, raw: bool = False, reuse_any: bool = False):
    """A stage's result: loaded from OUT/stages/<name>.json when it was made with this profile (or with
    any profile when ``reuse_any``: a stage left out of --only is reported as it was), else computed."""
    path = out / "stages" / f"{name}.json"
    if path.exists():
        saved = read_json(path)
        if reuse_any or saved.get("profile") == profile.as_dict():
            return saved["result"] if raw else Comparison.from_dict(saved["result"])
    result = compute()
    write_json(path, {"profile": profile.as_dict(), "result": result if raw else result.as_dict()})
    return result


def run_report(profile: Profile | str, out_dir, *, progress: bool = True, only=None, runs_dir=None) -> dict:
    """Run the profile's comparisons into ``out_dir``; return the summary (also written as summary.json).

    only : a subset of :data:`STAGES` to run (the "grid" stage is added when a comparison needs it);
        stages already in ``out_dir`` are reported too. runs_dir : where trained runs (weights and
        checkpoints) go, default ``out_dir/runs``.
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wanted = set(STAGES if not only else only)
    unknown = wanted - set(STAGES)
    if unknown:
        raise ValueError(f"only must name stages among {', '.join(STAGES)}; got {', '.join(sorted(unknown))}")
    if wanted & {"symmetry_vs_ns", "bounds_vs_trained"}:
        wanted.add("grid")
    work = Path(runs_dir) if runs_dir is not None else out
    stage_names = [s for s in STAGES if s in wanted or (out / "stages" / f"{s}.json").exists()]
    t0 = time.perf_counter()
    bar = tqdm(stage_names, desc=f"verify ({profile.name})", unit="stage", disable=not progress)
    results: dict[str, Comparison] = {}
    records = None
    for name in bar:
        bar.set_postfix_str(name)
        keep = name not in wanted  # left out of --only but already in OUT: report it as it is
        if name == "rug_properties":
            results[name] = _cached(out, name, profile, lambda: C.rug_properties(profile, out), reuse_any=keep)
        elif name == "loss_vs_ratio":
            results[name] = _cached(out, name, profile, lambda: C.loss_vs_ratio(profile, out, progress, work), reuse_any=keep)
        elif name == "grid":
            def grid():
                recs = []
                for n_s in profile.grid_ns:  # one stage file per n_s: an interrupted grid keeps what it finished
                    recs += _cached(out, f"grid_ns={n_s}", profile, lambda n_s=n_s: train_sweep(
                        profile, n_s, profile.grid_ps, profile.grid_rs, work / "runs" / f"grid_ns={n_s}", progress),
                        raw=True, reuse_any=keep)
                return recs
            records = _cached(out, name, profile, grid, raw=True, reuse_any=keep)
        elif name == "symmetry_vs_ns":
            results[name] = _cached(out, name, profile, lambda: C.symmetry_vs_ns(profile, out, records), reuse_any=keep)
        elif name == "bounds_vs_trained":
            results[name] = _cached(out, name, profile, lambda: C.bounds_vs_trained(profile, out, records), reuse_any=keep)
        elif name == "fig3_point":
            results[name] = _cached(out, name, profile, lambda: C.fig3_point(profile, out, progress, work), reuse_any=keep)
        elif name == "sae_recovery":
            results[name] = _cached(out, name, profile, lambda: C.sae_recovery(profile, out, progress, work),
                                    reuse_any=keep)
        elif name == "p2_over_r_scaling":
            results[name] = _cached(out, name, profile, lambda: C.p2_over_r_scaling(profile, out), reuse_any=keep)
    bar.close()
    claims = [c.as_dict() | {"comparison": name} for name, res in results.items() for c in res.claims]
    counts = {s: sum(c["status"] == s for c in claims) for s in ("pass", "fail", "refuted", "info")}
    summary = {
        "profile": profile.as_dict(),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "torch": torch.__version__,
                    "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
                    "threads": torch.get_num_threads()},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds_this_invocation": time.perf_counter() - t0,
        "counts": counts,
        "claims": claims,
        "comparisons": {name: res.as_dict() for name, res in results.items()},
    }
    write_json(out / "summary.json", summary)
    atomic_write_text(out / "README.md", render_markdown(summary))
    return summary


def _fmt(v, digits: int = 4) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_fmt(x, digits)}" for k, x in v.items())
    if isinstance(v, list):
        if len(v) > 8:
            return "[" + ", ".join(_fmt(x, 3) for x in v[:8]) + f", ... ({len(v)} values)]"
        return "[" + ", ".join(_fmt(x, 3) for x in v) + "]"
    return "" if v is None else str(v)


_BADGE = {"pass": "PASS", "fail": "FAIL", "refuted": "REFUTED", "info": "info"}


def render_markdown(summary: dict) -> str:
    """The readable page: what ran, a table of claims, then each comparison with its figures."""
    prof = summary["profile"]
    c = summary["counts"]
    lines = [
        "# The Persian Rug, checked",
        "",
        f"Profile **{prof['name']}**: {prof['description']}. Generated {summary['date']} on "
        f"{summary['machine']['device']} ({summary['machine']['platform']}, torch {summary['machine']['torch']}).",
        "",
        f"**{c['pass']} pass, {c['fail']} fail, {c['refuted']} refuted, {c['info']} informational.** "
        "pass: the measurement agrees with the paper within the stated tolerance; fail: it does not at this "
        "profile's sizes; refuted: the statement is false (exactly, or beyond noise where it applies); "
        "info: measured, no claim to judge. Every number below is computed by this run "
        "(the paper's own figures appear only as expected values).",
        "",
        "| claim | paper | status | measured | expected | tolerance |",
        "|---|---|---|---|---|---|",
    ]
    for cl in summary["claims"]:
        lines.append(f"| `{cl['id']}` | {cl['source']} | **{_BADGE[cl['status']]}** | {_fmt(cl['measured'])} | "
                     f"{_fmt(cl['expected'])} | {cl['tolerance']} |")
    lines.append("")
    for name, comp in summary["comparisons"].items():
        lines += [f"## {comp['title']}", ""]
        for cl in comp["claims"]:
            lines.append(f"- **{_BADGE[cl['status']]}** `{cl['id']}`: {cl['statement']}"
                         + (f" *{cl['note']}*" if cl.get("note") else ""))
        lines.append("")
        for fig in comp["figures"]:
            lines += [f"![{name}]({fig})", ""]
        lines.append(f"<sub>{comp['seconds']:.1f} s</sub>")
        lines.append("")
    lines += ["## Profile", "", "```json", json.dumps(prof, indent=2), "```", ""]
    return "\n".join(lines)
