"""Are the verdicts reproducible from another seed? Run one profile from several root seeds and compare
every claim's verdict across the runs.

A claim is **stable** when every run gives it the same status; it **wavers** when the runs differ only
through ``inconclusive`` (one run could decide it, another could not: honest, but a sign that the
profile is near the claim's resolution); it **contradicts** when one run says pass and another fail (or
refuted, bug): a verdict that flips with the seed is a defect of the claim's statistics.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from numerics.io import atomic_write_text, write_json

from .profiles import Profile, get_profile
from .report import run_report

__all__ = ["stability", "classify"]

_DECISIVE = {"pass", "fail", "refuted", "bug", "sanity"}


def classify(statuses: list[str]) -> str:
    """stable (all equal), contradicts (two different decisive verdicts) or wavers."""
    if len(set(statuses)) == 1:
        return "stable"
    if len(set(statuses) & _DECISIVE) > 1:
        return "contradicts"
    return "wavers"


def stability(profile: Profile | str, out_dir, seeds=(0, 1, 2), *, progress: bool = True) -> dict:
    """Run ``profile`` from each root seed into ``out_dir/seed=<s>/`` (resumable, as any report), then write
    ``out_dir/stability.json`` and ``out_dir/stability.md``: every claim's status per seed and its class.
    Returns the stability dict."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValueError(f"seeds must be at least two distinct integers >= 0, got {seeds}")
    out = Path(out_dir)
    runs, seconds = {}, {}
    for s in seeds:
        t0 = time.perf_counter()
        runs[s] = run_report(dataclasses.replace(profile, seed=s), out / f"seed={s}", progress=progress)
        seconds[s] = time.perf_counter() - t0
    ids = [c["id"] for c in runs[seeds[0]]["claims"]]
    table = []
    for cid in ids:
        statuses = [next(c["status"] for c in runs[s]["claims"] if c["id"] == cid) for s in seeds]
        table.append({"id": cid, "statuses": statuses, "class": classify(statuses)})
    result = {"profile": profile.name, "seeds": seeds, "seconds": seconds, "claims": table,
              "counts": {k: sum(row["class"] == k for row in table) for k in ("stable", "wavers", "contradicts")}}
    write_json(out / "stability.json", result)
    atomic_write_text(out / "stability.md", render(result))
    return result


def render(result: dict) -> str:
    """The stability table as Markdown."""
    seeds = result["seeds"]
    c = result["counts"]
    lines = [f"Profile **{result['profile']}** from root seeds {', '.join(map(str, seeds))}: "
             f"{c['stable']} stable, {c['wavers']} waver, {c['contradicts']} contradict.", "",
             "| claim | " + " | ".join(f"seed {s}" for s in seeds) + " | |", "|---|" + "---|" * (len(seeds) + 1)]
    for row in result["claims"]:
        lines.append(f"| `{row['id']}` | " + " | ".join(row["statuses"]) + f" | {row['class']} |")
    return "\n".join(lines) + "\n"
