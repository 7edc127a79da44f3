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


def machine_info() -> dict:
    """Where this process runs: recorded with every stage and in the summary."""
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "threads": torch.get_num_threads()}


def _as_saved(obj):
    """``obj`` as it reads back from JSON (tuples become lists), for comparing with a saved profile."""
    return json.loads(json.dumps(obj))


def _cached(out: Path, name: str, profile: Profile, compute, *, raw: bool = False, reuse_any: bool = False,
            made: dict | None = None, fresh: bool = False):
    """A stage's result: loaded from OUT/stages/<name>.json when it was made with this profile (or with
    any profile when ``reuse_any``: a stage left out of --only is reported as it was), else computed.
    ``made[name]`` receives where and when the result was computed (None for files older than this record);
    ``fresh`` recomputes it whatever is saved."""
    path = out / "stages" / f"{name}.json"
    if path.exists() and not fresh:
        saved = read_json(path)
        if reuse_any or saved.get("profile") == _as_saved(profile.as_dict()):
            if made is not None:
                made[name] = saved.get("made")
            return saved["result"] if raw else Comparison.from_dict(saved["result"])
    result = compute()
    stamp = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": machine_info()["device"]}
    saved = write_json(path, {"profile": profile.as_dict(), "made": stamp,
                              "result": result if raw else result.as_dict()})
    if made is not None:
        made[name] = stamp
    # return what a later run will load (JSON's lists and string keys), so both runs report the same
    result = read_json(saved)["result"]
    return result if raw else Comparison.from_dict(result)


def run_report(profile: Profile | str, out_dir, *, progress: bool = True, only=None, runs_dir=None,
               redo=()) -> dict:
    """Run the profile's comparisons into ``out_dir``; return the summary (also written as summary.json).

    only : a subset of :data:`STAGES` to run (the "grid" stage is added when a comparison needs it);
        stages already in ``out_dir`` are reported too. runs_dir : where trained runs (weights and
        checkpoints) go, default ``out_dir/runs``. redo : stages to recompute although saved (after a change
        to a comparison, say; redoing "grid" redoes the comparisons built on it); trained runs that finished
        are loaded, not retrained.
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    wanted = set(STAGES if not only else only)
    redo = set(redo)
    for arg, names in (("only", wanted), ("redo", redo)):
        if names - set(STAGES):
            raise ValueError(f"{arg} must name stages among {', '.join(STAGES)}; "
                             f"got {', '.join(sorted(names - set(STAGES)))}")
    if "grid" in redo:  # the comparisons built on the grid's records are redone with it
        redo |= {"symmetry_vs_ns", "bounds_vs_trained"}
    wanted |= redo
    if wanted & {"symmetry_vs_ns", "bounds_vs_trained"}:
        wanted.add("grid")
    work = Path(runs_dir) if runs_dir is not None else out
    stage_names = [s for s in STAGES if s in wanted or (out / "stages" / f"{s}.json").exists()]
    t0 = time.perf_counter()
    bar = tqdm(stage_names, desc=f"verify ({profile.name})", unit="stage", disable=not progress)
    results: dict[str, Comparison] = {}
    made: dict[str, dict | None] = {}
    records = None

    def grid(keep, fresh):
        recs = []
        for n_s in profile.grid_ns:  # one stage file per n_s: an interrupted grid keeps what it finished
            recs += _cached(out, f"grid_ns={n_s}", profile, lambda n_s=n_s: train_sweep(
                profile, n_s, profile.grid_ps, profile.grid_rs, work / "runs" / f"grid_ns={n_s}", progress),
                raw=True, reuse_any=keep, fresh=fresh)
        return recs

    comparisons = {  # the grid's records are read when the comparison runs, after the grid stage
        "rug_properties": lambda: C.rug_properties(profile, out),
        "loss_vs_ratio": lambda: C.loss_vs_ratio(profile, out, progress, work),
        "symmetry_vs_ns": lambda: C.symmetry_vs_ns(profile, out, records),
        "bounds_vs_trained": lambda: C.bounds_vs_trained(profile, out, records),
        "fig3_point": lambda: C.fig3_point(profile, out, progress, work),
        "p2_over_r_scaling": lambda: C.p2_over_r_scaling(profile, out),
        "sae_recovery": lambda: C.sae_recovery(profile, out, progress, work),
    }
    for name in bar:
        bar.set_postfix_str(name)
        keep = name not in wanted  # left out of --only but already in OUT: report it as it is
        fresh = name in redo
        if name == "grid":
            records = _cached(out, name, profile, lambda: grid(keep, fresh), raw=True, reuse_any=keep, made=made,
                              fresh=fresh)
        else:
            results[name] = _cached(out, name, profile, comparisons[name], reuse_any=keep, made=made, fresh=fresh)
    bar.close()
    claims = [c.as_dict() | {"comparison": name} for name, res in results.items() for c in res.claims]
    counts = {s: sum(c["status"] == s for c in claims) for s in ("pass", "fail", "refuted", "info")}
    summary = {
        "profile": profile.as_dict(),
        "machine": machine_info(),
        "stages_made": made,
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
        f"Profile **{prof['name']}**: {prof['description']}. Assembled {summary['date']} on "
        f"{summary['machine']['device']} ({summary['machine']['platform']}, torch {summary['machine']['torch']}); "
        "each section ends with where and when its stage was computed.",
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
        stamp = (summary.get("stages_made") or {}).get(name)
        lines.append(f"<sub>{comp['seconds']:.1f} s" + (f", {stamp['device']}, {stamp['date']}" if stamp else "")
                     + "</sub>")
        lines.append("")
    lines += ["## Profile", "", "```json", json.dumps(prof, indent=2), "```", ""]
    return "\n".join(lines)
