"""The report's readable page (README.md) from its summary: the verdicts grouped by status, a table of
every claim with its interval, then each comparison with its claims, their points and its figures."""

from __future__ import annotations

import json
import math

from .claims import STATUSES as STATUSES_ORDER

__all__ = ["render_markdown", "STATUS_TEXT"]

_BADGE = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE", "refuted": "REFUTED",
          "out_of_regime": "out of regime", "sanity": "sanity", "bug": "BUG", "info": "info"}
#: what each status means, as the page explains it
STATUS_TEXT = {
    "pass": "every judged interval lies inside the declared tolerance",
    "fail": "an interval lies outside the tolerance, inside the claim's regime",
    "inconclusive": "an interval straddles the tolerance's edge (the claim says what would decide it)",
    "refuted": "an exact statement of the paper computed to be false",
    "out_of_regime": "nothing measured lies in the regime the claim is about (shown, not judged)",
    "sanity": "a theorem the toolkit must satisfy held (a check of the toolkit, not of the paper)",
    "bug": "a theorem the toolkit must satisfy failed: a defect of this toolkit",
    "info": "measured, nothing to judge",
}


def _num(v, digits: int = 4) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        return f"{v:.{digits}g}"
    return str(v)


def _where(w: dict) -> str:
    return ", ".join(f"{k} = {_num(v, 3) if not isinstance(v, list) else v}" for k, v in w.items())


def _estimate(pt: dict) -> str:
    est = pt["estimate"]
    return f"{_num(est['value'])} [{_num(est['lo'])}, {_num(est['hi'])}]"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|")


def _headline(cl: dict) -> str:
    """The point that decided the verdict (the first failing, straddling or in-regime one)."""
    pts = cl["points"]
    if not pts:
        return "—"
    for want in ("fail", "inconclusive", "pass", None):
        for pt in pts:
            if pt["status"] == want:
                more = f" (+{len(pts) - 1} more)" if len(pts) > 1 else ""
                return _estimate(pt) + f" vs {_num(pt['reference'])}" + more
    return _estimate(pts[0])


def render_markdown(summary: dict, *, title: str = "The Persian Rug, checked", preface=()) -> str:
    """The report page: ``title``, then the ``preface`` lines (a section of the caller's), then the verdicts."""
    prof = summary["profile"]
    counts = summary["counts"]
    made = summary.get("stages_made") or {}
    devices = sorted({m["device"] for m in made.values() if m})
    lines = [
        f"# {title}",
        "",
        *preface,
        f"Profile **{prof['name']}**: {prof['description']}. Stages computed on {', '.join(devices) or 'unrecorded'}"
        "; each section ends with where and when its stage was computed.",
        "",
        "**" + ", ".join(f"{counts[s]} {_BADGE[s].lower()}" for s in STATUSES_ORDER if counts.get(s)) + ".**",
        "",
    ]
    lines += [f"- **{_BADGE[s]}**: {STATUS_TEXT[s]}." for s in STATUSES_ORDER if counts.get(s)]
    lines += ["", "Every claim was declared before the data (verify/comparisons/): the quantity, the reference, "
              "the tolerance with its reason, and the regime it is about. Each judged number carries an "
              "interval (95 % for the claim as a whole, Bonferroni over its points); the paper's own figures "
              "appear only as references.", ""]
    for status in STATUSES_ORDER:
        group = [cl for cl in summary["claims"] if cl["status"] == status]
        if not group:
            continue
        lines += [f"### {_BADGE[status]} ({len(group)})", "", "| claim | source | measured [interval] vs reference "
                  "| tolerance | regime |", "|---|---|---|---|---|"]
        for cl in group:
            lines.append(f"| `{cl['id']}` | {cl['source']} | {_headline(cl)} | {_cell(cl['tolerance'])} | "
                         f"{_cell(cl['regime'])} |")
        lines.append("")
    missing = summary.get("not_run") or {}
    if missing:
        n_claims = sum(len(m["claims"]) for m in missing.values())
        lines += [f"### NOT RUN ({len(missing)} stage{'s' * (len(missing) != 1)}, {n_claims} claim{'s' * (n_claims != 1)})", "",
                  "These comparisons have no data in this report"
                  + (" (the profile skips some: too slow for its machine)" if any(m.get("skipped_by_profile")
                                                                                  for m in missing.values()) else "")
                  + "; each command runs one into the report (OUT: this report's directory), and its claims are "
                  "judged with the rest.", "", "| stage | claims | command |", "|---|---|---|"]
        for stage, m in missing.items():
            lines.append(f"| `{stage}` | {', '.join(f'`{c}`' for c in m['claims']) or '—'} | `{m['command']}` |")
        lines.append("")
    for name, comp in summary["comparisons"].items():
        lines += [f"## {comp['title']}", ""]
        for cl in (c for c in summary["claims"] if c["comparison"] == name):
            extra = "".join(f" *{t}*" for t in (cl.get("note"), cl.get("decide")) if t)
            lines.append(f"- **{_BADGE[cl['status']]}** `{cl['id']}`: {cl['statement']}{extra}")
            if cl["points"]:
                lines += ["", "  <details><summary>" + f"{cl['quantity']}: {len(cl['points'])} point(s)</summary>",
                          "", "  | where | measured [interval] | reference | status | method |", "  |---|---|---|---|---|"]
                for pt in cl["points"]:
                    st = pt["status"] or ("not judged" if not pt["in_regime"] else "")
                    lines.append(f"  | {_where(pt['where'])} | {_estimate(pt)} | {_num(pt['reference'])} | {st} | "
                                 f"{pt['estimate']['method']} |")
                lines += ["", "  </details>", ""]
        lines.append("")
        for fig in comp["figures"]:
            lines += [f"![{name}]({fig})", ""]
        stamp = made.get(name)
        lines.append(f"<sub>{comp['seconds']:.1f} s" + (f", {stamp['device']}, {stamp['date']}" if stamp else "")
                     + "</sub>")
        lines.append("")
    lines += ["## Profile", "", "```json", json.dumps(prof, indent=2), "```", ""]
    return "\n".join(lines)

