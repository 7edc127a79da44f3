"""The report: measure every comparison of a profile (resumably), then judge the declared claims on the
stored measurements and write summary.json, README.md and the figures into one directory.

Measuring and judging are separate. Stages and their data live in ``OUT/stages/<name>.json`` (written
atomically); a stage whose file exists for the same profile is loaded, not recomputed, and trained runs
resume from their checkpoints, so an interrupted report picks up where it stopped. :func:`judge_report`
(``python -m verify judge OUT``) re-judges the stored data with the current claims without computing
anything; on an unchanged report it writes the same summary.json, byte for byte.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from numerics.io import atomic_write_text, read_json, write_json

from . import comparisons as _registered  # noqa: F401  (registers the comparisons and their claims)
from .claims import COMPARISONS, STATUSES, Comparison, claims_of, clean
from .comparisons import Context
from .measure import grid_jobs, train_sweep
from .profiles import Profile, get_profile
from .render import render_markdown

__all__ = ["run_report", "judge_report", "judge", "not_run", "stages_to_run", "STAGES"]


def _stages() -> tuple:
    names = []
    for name, spec in COMPARISONS.items():
        if spec.needs_grid and "grid" not in names:
            names.append("grid")
        names.append(name)
    return tuple(names)


#: the report's stages in order: the registered comparisons, with the trained grid before the first that
#: reads it
STAGES = _stages()


def machine_info() -> dict:
    """Where this process runs: recorded with every stage."""
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "threads": torch.get_num_threads()}


def made_stamp() -> dict:
    """Where and when a stage is computed (recorded with it): now, on this machine's device."""
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": machine_info()["device"]}


def _as_saved(obj):
    """``obj`` as it reads back from JSON (tuples become lists), for comparing with a saved profile."""
    return json.loads(json.dumps(obj))


def _comparison(result, path: Path) -> Comparison:
    """A stored comparison, or a ValueError naming the file and how to recompute it."""
    try:
        return Comparison.from_dict(result)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"stage file {path} does not hold a comparison ({type(exc).__name__}: {exc}); recompute "
                         f"it with --redo {path.stem}") from exc


def _read_stage(path: Path) -> dict:
    try:
        saved = read_json(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"stage file {path} cannot be read ({exc}); recompute it with --redo {path.stem}") from exc
    if not isinstance(saved, dict) or "result" not in saved:
        raise ValueError(f"stage file {path} has no 'result'; recompute it with --redo {path.stem}")
    return saved


def _cached(out: Path, name: str, profile: Profile, compute, *, raw: bool = False, reuse_any: bool = False,
            made: dict | None = None, fresh: bool = False):
    """A stage's result: loaded from OUT/stages/<name>.json when it was made with this profile (or with
    any profile when ``reuse_any``: a stage left out of --only is reported as it was), else computed.
    ``made[name]`` receives where and when the result was computed (None for files older than this record);
    ``fresh`` recomputes it whatever is saved."""
    path = out / "stages" / f"{name}.json"
    if path.exists() and not fresh:
        saved = _read_stage(path)
        if reuse_any or saved.get("profile") == _as_saved(profile.as_dict()):
            if made is not None:
                made[name] = saved.get("made")
            return saved["result"] if raw else _comparison(saved["result"], path)
    result = compute()
    stamp = made_stamp()
    saved = write_json(path, {"profile": profile.as_dict(), "made": stamp,
                              "result": result if raw else result.as_dict()})
    if made is not None:
        made[name] = stamp
    # return what a later run will load (JSON's lists and string keys), so both runs report the same
    result = read_json(saved)["result"]
    return result if raw else Comparison.from_dict(result)


def _measure(name: str, ctx: Context) -> Comparison:
    spec = COMPARISONS[name]
    t0 = time.perf_counter()
    data, figures = spec.run(ctx)
    return Comparison(name, spec.title, data, figures, time.perf_counter() - t0)


def run_report(profile: Profile | str, out_dir, *, progress: bool = True, only=None, runs_dir=None,
               redo=(), executor=None) -> dict:
    """Measure the profile's comparisons into ``out_dir``, judge them; return the summary (also written as
    summary.json, with README.md).

    only : a subset of :data:`STAGES` to run (the "grid" stage is added when a comparison needs it);
        stages already in ``out_dir`` are reported too. runs_dir : where trained runs (weights and
        checkpoints) go, default ``out_dir/runs``. redo : stages to recompute although saved (after a change
        to a comparison, say; redoing "grid" redoes the comparisons built on it); trained runs that finished
        are loaded, not retrained. executor : where the training runs go (numerics.executor: local or SLURM;
        None trains here, one run after another); the grid's runs of every n_s are submitted together. The
        results do not depend on it.
    """
    profile = get_profile(profile) if isinstance(profile, str) else profile
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    redo = set(redo)
    wanted = stages_to_run(profile, only)
    for arg, names in (("only", wanted), ("redo", redo)):
        if names - set(STAGES):
            raise ValueError(f"{arg} must name stages among {', '.join(STAGES)}; "
                             f"got {', '.join(sorted(names - set(STAGES)))}")
    on_grid = {name for name, spec in COMPARISONS.items() if spec.needs_grid}
    if "grid" in redo:  # the comparisons built on the grid's records are redone with it
        redo |= on_grid
    wanted |= redo
    if wanted & on_grid:
        wanted.add("grid")
    ctx = Context(profile, out, Path(runs_dir) if runs_dir is not None else out, progress, executor=executor)
    stage_names = [s for s in STAGES if s in wanted or (out / "stages" / f"{s}.json").exists()]
    bar = tqdm(stage_names, desc=f"verify ({profile.name})", unit="stage", disable=not progress)
    results: dict[str, Comparison] = {}
    made: dict[str, dict | None] = {}

    def grid(keep, fresh):
        recs = []
        if executor is not None:  # every n_s's runs at once (one SLURM array), then measured n_s by n_s
            todo = [n_s for n_s in profile.grid_ns if fresh or not (out / "stages" / f"grid_ns={n_s}.json").exists()]
            executor.run([job for n_s in todo for job in grid_jobs(profile, n_s, profile.grid_ps, profile.grid_rs,
                                                                      ctx.work / "runs" / f"grid_ns={n_s}")],
                         progress=progress, desc="grid")
        for n_s in profile.grid_ns:  # one stage file per n_s: an interrupted grid keeps what it finished
            recs += _cached(out, f"grid_ns={n_s}", profile, lambda n_s=n_s: train_sweep(
                profile, n_s, profile.grid_ps, profile.grid_rs, ctx.work / "runs" / f"grid_ns={n_s}", progress,
                executor=executor),
                raw=True, reuse_any=keep, fresh=fresh)
        return recs

    for name in bar:
        bar.set_postfix_str(name)
        keep = name not in wanted  # left out of --only but already in OUT: report it as it is
        fresh = name in redo
        if name == "grid":
            ctx.records = _cached(out, name, profile, lambda: grid(keep, fresh), raw=True, reuse_any=keep,
                                  made=made, fresh=fresh)
        else:
            results[name] = _cached(out, name, profile, lambda name=name: _measure(name, ctx), reuse_any=keep,
                                    made=made, fresh=fresh)
    bar.close()
    return _write(out, judge(results, profile.as_dict(), made))


def stages_to_run(profile: Profile, only=None) -> set:
    """The stages a report runs: ``only`` when given (a skipped stage included: naming it is asking for
    it), else every stage but the profile's ``skip`` (the page lists those as not run, with the command)."""
    if only:
        return set(only)
    bad = set(profile.skip) - set(STAGES)
    if bad:
        raise ValueError(f"profile {profile.name!r} skips unknown stage(s) {', '.join(sorted(bad))}")
    return set(STAGES) - set(profile.skip)


def judge(results: dict[str, Comparison], profile: dict, made: dict) -> dict:
    """Apply every registered claim to the measured comparisons: the summary (a pure function of its
    arguments, so the same data always give the same summary)."""
    profile = _as_saved(profile)
    claims = []
    for name, res in results.items():
        for c in claims_of(name):
            try:
                claims.append(c.judge(res.data, profile).as_dict())
            except (KeyError, TypeError, AttributeError, IndexError) as exc:
                raise ValueError(f"stage {name}'s data cannot be read by claim {c.id} ({type(exc).__name__}: {exc}):"
                                 f" stages/{name}.json is damaged or from an incompatible version; recompute it "
                                 f"with --redo {name}") from exc
    return clean({
        "profile": profile,
        "stages_made": {k: made.get(k) for k in sorted(made)},
        "counts": {s: sum(c["status"] == s for c in claims) for s in STATUSES},
        "claims": claims,
        "comparisons": {name: res.as_dict() for name, res in results.items()},
        "not_run": not_run(results, profile),
    })


def not_run(results, profile: dict) -> dict:
    """The registered comparisons this report has no data for (skipped by its profile, left out of --only,
    or newer than the report): per stage, its claims and the command that runs it into the report."""
    name = profile.get("name", "quick")
    return {stage: {"claims": [c.id for c in claims_of(stage)],
                    "skipped_by_profile": stage in (profile.get("skip") or ()),
                    "command": f"python -m verify report --profile {name} --out OUT --only {stage}"}
            for stage in COMPARISONS if stage not in results}


def _write(out: Path, summary: dict) -> dict:
    write_json(out / "summary.json", summary)
    atomic_write_text(out / "README.md", render_markdown(summary))
    return read_json(out / "summary.json")


def judge_report(report_dir, out_dir=None) -> dict:
    """Re-judge a report's stored measurements with the current claims; write summary.json and README.md
    into ``out_dir`` (default: the report itself). Nothing is trained or fitted.

    Each comparison is read from ``stages/<name>.json``, or, where a report kept no stage file for it, from
    the previous summary.json's ``comparisons``. The profile is the previous summary's (else a stage's)."""
    src = Path(report_dir)
    if not src.is_dir():
        raise ValueError(f"report_dir {str(src)!r} is not a directory")
    old = {}
    if (src / "summary.json").exists():
        try:
            old = read_json(src / "summary.json")
        except (OSError, ValueError) as exc:
            raise ValueError(f"{src / 'summary.json'} cannot be read ({exc})") from exc
    results: dict[str, Comparison] = {}
    made: dict = {}
    profile = old.get("profile")
    for name in STAGES:
        path = src / "stages" / f"{name}.json"
        if path.exists():
            saved = _read_stage(path)
            made[name] = saved.get("made")
            profile = profile or saved.get("profile")
            if name != "grid":
                results[name] = _comparison(saved["result"], path)
        elif name in (old.get("comparisons") or {}):
            results[name] = _comparison(old["comparisons"][name], src / "summary.json")
            made[name] = (old.get("stages_made") or {}).get(name)
    if not results:
        raise ValueError(f"{src} holds no stage data (stages/*.json or summary.json); run the report first")
    if profile is None:
        raise ValueError(f"{src} records no profile")
    made = {k: v for k, v in made.items() if k in results or k == "grid"}
    return _write(Path(out_dir) if out_dir is not None else src, judge(results, profile, made))
