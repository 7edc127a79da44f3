"""Judge toy models trained elsewhere (ARENA, Toy Models of Superposition, any tool that saves W and b) with
the report's own claims: ``python -m verify models FILE... --p P [--r R] --out DIR``.

Each file is read by :func:`numerics.read_toy_weights` (safetensors, npz or a torch state dict; see
numerics/external.py for the layouts); every instance in it is measured like a model trained here
(:func:`verify.measure.measure_weights`: exact loss, its split against L*, exact-MMSE rows, macroscopic
parameters, symmetry statistics). The instances of one (n_s, p, r) are the independent seeds of that
configuration, so intervals need two or more of them (three or more for a useful t interval).

The claims judged are those the report makes about each trained configuration, declared in
verify/comparisons/bounds.py (the Welch bound, the loss against L* and the rug, the optimum's (a, b, sigma),
the exact MMSE) and, when the files hold two or more n_s, the trends against n_s of bounds.py and of
verify/comparisons/symmetry.py (figs 4-12). The same declarations, tolerances and regimes: nothing is
relaxed for a model trained elsewhere. One claim is left out because an external file has nothing to
measure it with (:data:`LEFT_OUT`). The claims assume the paper's setting: uniform importance and features
x_i = Bernoulli(p) U[0, 1] (ARENA's default data); a model trained with other importances or data is judged
against the wrong theory, which the page says.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tqdm.auto import tqdm

from numerics import read_toy_weights
from numerics._validation import check_real
from numerics.io import atomic_write_text, read_json, write_json

from . import comparisons as _registered  # noqa: F401  (registers the comparisons and their claims)
from .claims import claims_of
from .comparisons import Context
from .measure import MMSE_ROWS, measure_weights
from .profiles import get_profile
from .render import render_markdown
from .report import _measure, judge, made_stamp

__all__ = ["judge_models", "external_records", "LEFT_OUT"]

#: claims of the judged comparisons that an external file cannot feed, with the reason (shown on the page)
LEFT_OUT = {"bounds.trained_heldout_is_exact": "a file holds no held-out loss; the loss judged is the exact one "
            "(theory.exact_loss), so this check of the toolkit's own sampler would compare a number with itself"}

#: the comparisons judged, in order; those after the first need models at two or more n_s to say anything
JUDGED = ("bounds_vs_trained", "symmetry_vs_ns")


def _check_in(value, name: str):
    """None, or a number in (0, 1]."""
    return None if value is None else check_real(value, name, low=0.0, high=1.0, low_open=True)


def external_records(paths, *, p=None, r=None, ks_samples: int = 2000, mmse_rows: int = MMSE_ROWS,
                     progress: bool = True) -> tuple[list[dict], list[dict]]:
    """Measure every instance of every file: (records, files). ``p`` overrides the files' stored p (needed for
    files of other tools, which do not store it); ``r`` = n_d / n_s is read from the factor's shape, and is
    needed only for a bare n_s x n_s product. Each record carries ``loss`` = its exact loss (``loss_se`` 0) and
    ``seed`` = its index among the models of the same (n_s, p, r)."""
    p = _check_in(p, "p")
    r = _check_in(r, "r")
    paths = [Path(x) for x in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise ValueError("paths must name at least one weights file")
    models = []
    files = []
    for path in paths:
        tw = read_toy_weights(path)
        if p is None and tw.p is None:
            raise ValueError(f"p is required: {str(path)!r} does not record the feature probability "
                             "(give --p, the p the models were trained at)")
        if r is None and tw.n_d is None:
            raise ValueError(f"r is required: {str(path)!r} holds the n_s x n_s product W, which does not show "
                             "the hidden width (give --r = n_d / n_s)")
        ratio = r if r is not None else tw.n_d / tw.n_s
        n_d = tw.n_d if tw.n_d is not None else round(ratio * tw.n_s)
        ps = [p if p is not None else tw.p[k] for k in range(tw.instances)]
        files.append({"path": str(path), "layout": tw.layout, "instances": tw.instances, "n_s": tw.n_s, "n_d": n_d,
                      "r": ratio, "p": sorted(set(ps))})
        models += [(tw, k, ps[k], ratio, n_d) for k in range(tw.instances)]
    records = []
    count: dict = {}
    for tw, k, pk, ratio, n_d in tqdm(models, desc="measure", unit="model", disable=not progress):
        key = (tw.n_s, pk, ratio)
        rec = measure_weights(tw.W[k], tw.b[k], pk, ratio, n_d, seed=count.get(key, 0), row_seed=k,
                              ks_samples=ks_samples, mmse_rows=mmse_rows)
        count[key] = count.get(key, 0) + 1
        records.append(rec | {"loss": rec["exact_loss"], "loss_se": 0.0, "file": tw.path, "instance": k})
    return records, files


def judge_models(paths, out_dir, *, p=None, r=None, progress: bool = True, seed: int = 0,
                 ks_samples: int = 2000) -> dict:
    """Measure the models in ``paths`` and judge the report's per-model claims on them (module docstring);
    write summary.json (with ``external``: the files read and the claims left out) and README.md into
    ``out_dir``, and return the summary. ``seed`` seeds the rug fitted at each power-of-two n_s for
    ``bounds.trained_matches_rug``."""
    out = Path(out_dir)
    records, files = external_records(paths, p=p, r=r, ks_samples=ks_samples, progress=progress)
    sizes = sorted({rec["n_s"] for rec in records})
    profile = dataclasses.replace(
        get_profile("quick"), name="external", seed=seed, ks_samples=ks_samples, skip=(), grid_ns=tuple(sizes),
        grid_ps=tuple(sorted({rec["p"] for rec in records})), grid_rs=tuple(sorted({rec["r"] for rec in records})),
        description=f"{len(records)} model(s) trained elsewhere, from {len(files)} file(s), at n_s = "
        f"{', '.join(map(str, sizes))}; judged with the report's claims about each trained configuration")
    ctx = Context(profile, out, out, progress, records=records)
    results = {}
    made = {}
    for name in JUDGED:
        if name != JUDGED[0] and len(sizes) < 2:
            continue
        results[name] = _measure(name, ctx)
        made[name] = made_stamp()
    summary = judge(results, profile.as_dict(), made)
    # claims that nothing in these files can measure (trends need two or more n_s, fig. 8's contrast two or
    # more p) are listed, not counted
    unmeasured = [c["id"] for c in summary["claims"] if not c["points"] and c["kind"] != "info"]
    summary["claims"] = [c for c in summary["claims"] if c["id"] not in LEFT_OUT and c["id"] not in unmeasured]
    summary["counts"] = {s: sum(c["status"] == s for c in summary["claims"]) for s in summary["counts"]}
    summary["not_run"] = {}
    if len(sizes) < 2:
        unmeasured += [c.id for name in JUDGED[1:] for c in claims_of(name)]
    summary["external"] = {"files": files, "left_out": LEFT_OUT, "not_judged": unmeasured}
    write_json(out / "summary.json", summary)
    atomic_write_text(out / "README.md", render_external(read_json(out / "summary.json")))
    return read_json(out / "summary.json")


def render_external(summary: dict) -> str:
    """The report page with a first section on the files read and what was not judged."""
    ext = summary["external"]
    lines = ["## Models judged", "", "| file | read as | instances | n_s | n_d | r | p |", "|---|---|---|---|---|---|---|"]
    for f in ext["files"]:
        lines.append(f"| `{f['path']}` | {f['layout']} | {f['instances']} | {f['n_s']} | {f['n_d']} | {f['r']:.4g} | "
                     f"{', '.join(f'{v:g}' for v in f['p'])} |")
    lines += ["", "The instances of one (n_s, p, r) are that configuration's seeds. The claims assume the paper's "
              "setting (uniform importance, x_i = Bernoulli(p) U[0, 1]); models trained otherwise are judged "
              "against the wrong theory.", ""]
    for cid, why in ext["left_out"].items():
        lines.append(f"- Left out: `{cid}`: {why}.")
    if ext["not_judged"]:
        lines.append(f"- Not judged ({len(ext['not_judged'])} claims with nothing to measure in these files: trends "
                     "need models at two or more n_s, a file per size, and fig. 8's contrast two or more p): "
                     f"{', '.join(f'`{c}`' for c in ext['not_judged'])}.")
    lines.append("")
    return render_markdown(summary, title="The Persian Rug, checked on models trained elsewhere", preface=lines)
