"""Claims declared before the data, and how a claim is judged: the registry the report is made of.

A :class:`Claim` is declared once, next to the comparison that measures it (``verify/comparisons/``),
with the paper's words and source, the quantity, the reference, a :class:`Criterion` (the test's
direction and its tolerance, with the reasoning behind the tolerance) and the :class:`Regime` it is
about (with the reason). Its ``measure`` function only reads numbers out of a comparison's stored data:
it returns :class:`Point` s (an :class:`~verify.stats.Estimate` with its interval, the reference, and
where it was measured). Judging applies the declared criterion to those points; nothing is typed in.

Statuses (:data:`STATUSES`):

- **pass**: every judged interval lies inside the tolerance; **fail**: one lies outside it;
  **inconclusive**: none outside, some straddle its edge (the verdict says what would decide it);
- **refuted**: an exact (mathematical) statement of the paper computed to be false;
- **out_of_regime**: nothing measured lies in the regime the claim is about (shown, never counted as a
  fail);
- **sanity**: a theorem the toolkit must satisfy held (it cannot speak for the paper); **bug**: it did
  not, which is a defect of this toolkit;
- **info**: measured, nothing to judge.

Confidence: each claim is judged at :data:`verify.stats.CONFIDENCE` as a whole, its m points at the
Bonferroni level ``1 - (1 - CONFIDENCE) / m`` each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from numerics.io import to_json_value

from .stats import CONFIDENCE, Estimate, bonferroni

__all__ = ["STATUSES", "KINDS", "Regime", "Criterion", "Point", "Claim", "Verdict", "Comparison",
           "ComparisonSpec", "CLAIMS", "COMPARISONS", "claim", "comparison", "claims_of", "clean"]

STATUSES = ("pass", "fail", "inconclusive", "refuted", "out_of_regime", "sanity", "bug", "info")
#: paper: a statement judged with intervals inside its regime; exact: a mathematical statement of the
#: paper (pass or refuted); sanity: a theorem the toolkit must satisfy; info: measured, not judged.
KINDS = ("paper", "exact", "sanity", "info")


#: ``v`` as plain JSON values, non-finite numbers as None: numerics' one JSON encoder
clean = to_json_value


# ------------------------------------------------------------------------------------------ declarations
@dataclass(frozen=True)
class Regime:
    """Where a claim applies: closed ranges of n_s, p n_s and r (None: unbounded), and why."""

    n_s: tuple = (None, None)
    p_n_s: tuple = (None, None)
    r: tuple = (None, None)
    reason: str = ""

    def contains(self, where: dict) -> bool:
        """Whether a point measured at ``where`` (keys n_s, p, r; missing keys are not checked) is in."""
        coords = dict(where)
        p, n_s = coords.get("p"), coords.get("n_s")
        if "p_n_s" not in coords and isinstance(p, (int, float)) and isinstance(n_s, (int, float)):
            coords["p_n_s"] = p * n_s
        for key in ("n_s", "p_n_s", "r"):
            lo, hi = getattr(self, key)
            v = coords.get(key)
            if not isinstance(v, (int, float)):  # not recorded, or a range (a trend over sizes)
                continue
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                return False
        return True

    def describe(self) -> str:
        parts = []
        for key, label in (("n_s", "n_s"), ("p_n_s", "p n_s"), ("r", "r")):
            lo, hi = getattr(self, key)
            if lo is not None and hi is not None:
                parts.append(f"{lo:g} <= {label} <= {hi:g}")
            elif lo is not None:
                parts.append(f"{label} >= {lo:g}")
            elif hi is not None:
                parts.append(f"{label} <= {hi:g}")
        return (", ".join(parts) or "everywhere") + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class Criterion:
    """The test of a claim on one point: ``within`` (|value - reference| <= tol), ``at_most``
    (value <= reference + tol), ``at_least`` (value >= reference - tol), or ``consistent`` (a noisy
    estimate of a number computed exactly: its interval meets [reference - tol, reference + tol]; never
    inconclusive). ``relative``: tol is a fraction of |reference|. ``reason``: why this tolerance,
    written before any data was seen. ``confidence``: the claim's confidence when it is not the report's
    (a consistency check of the toolkit asks for 1 - 1e-4, so that noise alone almost never cries bug)."""

    test: str
    tol: float = 0.0
    relative: bool = False
    reason: str = ""
    confidence: float | None = None

    def __post_init__(self):
        if self.test not in ("within", "at_most", "at_least", "consistent"):
            raise ValueError(f"test must be within, at_most, at_least or consistent, got {self.test!r}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be >= 0, got {self.tol!r}")
        if self.confidence is not None and not 0 < self.confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence!r}")

    def band(self, reference: float) -> tuple[float, float]:
        """The values that satisfy the claim at this reference."""
        t = self.tol * abs(reference) if self.relative else self.tol
        if self.test in ("within", "consistent"):
            return reference - t, reference + t
        if self.test == "at_most":
            return -math.inf, reference + t
        return reference - t, math.inf

    def judge(self, est: Estimate, reference: float, level: float) -> str:
        """pass (the interval inside the band), fail (disjoint from it) or inconclusive."""
        if not math.isfinite(est.value) and est.k is None:
            return "inconclusive"
        lo, hi = est.interval(level)
        blo, bhi = self.band(reference)
        if self.test == "consistent":
            return "fail" if hi < blo or lo > bhi else "pass"
        if lo >= blo and hi <= bhi:
            return "pass"
        if hi < blo or lo > bhi:
            return "fail"
        return "inconclusive"

    def describe(self) -> str:
        tol = f"{self.tol:.3g}" + (" relative" if self.relative else "")
        text = {"within": f"|value - reference| <= {tol}", "at_most": f"value <= reference + {tol}",
                "at_least": f"value >= reference - {tol}",
                "consistent": f"the interval meets reference +- {tol}"}[self.test]
        if self.confidence is not None:
            text += f", at confidence {self.confidence:g}"
        return text + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class Point:
    """One judged number: its estimate, the reference it is compared with, and where it was measured
    (keys n_s, p, r and any label worth showing)."""

    estimate: Estimate
    reference: float
    where: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """A statement of the paper (or of the sparse-coding report), declared before any data."""

    id: str
    comparison: str
    statement: str
    source: str
    quantity: str
    reference: str
    criterion: Criterion
    measure: Callable
    regime: Regime = Regime()
    kind: str = "paper"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")

    def declaration(self) -> dict:
        """What was declared, as JSON."""
        return {"id": self.id, "comparison": self.comparison, "kind": self.kind, "statement": self.statement,
                "source": self.source, "quantity": self.quantity, "reference": self.reference,
                "tolerance": self.criterion.describe(), "regime": self.regime.describe()}

    def judge(self, data: dict, profile: dict) -> "Verdict":
        """Measure the claim's points in ``data`` and apply the declared criterion."""
        points = list(self.measure(data, profile))
        if self.kind == "info":
            return Verdict(self, "info", [_point_dict(pt, None, True, CONFIDENCE) for pt in points])
        if not points:
            return Verdict(self, "inconclusive", [], "nothing was measured for this claim",
                           "a profile that measures it")
        inside = [self.regime.contains(pt.where) or self.kind != "paper" for pt in points]
        judged = [pt for pt, ok in zip(points, inside) if ok] or points
        level = bonferroni(len(judged), self.criterion.confidence or CONFIDENCE)
        results = [self.criterion.judge(pt.estimate, pt.reference, level) if ok or not any(inside) else None
                   for pt, ok in zip(points, inside)]
        rows = [_point_dict(pt, res, ok, level) for pt, res, ok in zip(points, results, inside)]
        outcome = [res for res in results if res is not None]
        note = ""
        if any(inside) and not all(inside):
            note = f"{inside.count(False)} of {len(points)} points lie outside the regime and are not judged"
        if self.kind in ("exact", "sanity"):
            ok = all(res == "pass" for res in outcome)
            status = ("pass" if ok else "refuted") if self.kind == "exact" else ("sanity" if ok else "bug")
            return Verdict(self, status, rows, note)
        if not any(inside):
            return Verdict(self, "out_of_regime", rows, "no point lies in the claim's regime; shown as measured",
                           f"sizes in the regime: {self.regime.describe()}")
        if "fail" in outcome:
            return Verdict(self, "fail", rows, note)
        if all(res == "pass" for res in outcome):
            return Verdict(self, "pass", rows, note)
        undecided = [pt for pt, res in zip(points, results) if res == "inconclusive"]
        return Verdict(self, "inconclusive", rows, note, _what_decides(self.criterion, undecided, level))


def _point_dict(pt: Point, result, in_regime: bool, level: float) -> dict:
    return clean({"where": pt.where, "estimate": pt.estimate.as_dict(level), "reference": pt.reference,
                  "status": result, "in_regime": in_regime})


def _what_decides(criterion: Criterion, points: list, level: float) -> str:
    """For an inconclusive claim: how many seeds would shrink each straddling interval off the edge."""
    needs = []
    for pt in points:
        est = pt.estimate
        if est.k is not None:
            needs.append("more samples of the count")
            continue
        if est.dof <= 0:
            needs.append("at least 3 seeds (one has no interval)")
            continue
        lo, hi = est.interval(level)
        half = (hi - lo) / 2
        edges = [e for e in criterion.band(pt.reference) if math.isfinite(e)]
        dist = min(abs(est.value - e) for e in edges) if edges else math.inf
        if dist == 0:
            needs.append("nothing: the value sits on the tolerance's edge")
            continue
        factor = (half / dist) ** 2  # an interval shrinks as 1 / sqrt(data)
        if "over seeds" in est.method:
            n = est.dof + 1
            needs.append(f"about {math.ceil(n * factor)} seeds instead of {n:g}")
        else:
            needs.append(f"about {factor:.1f}x as much data (seeds x sizes, or samples)")
    worst = max(needs, key=lambda s: (s.startswith("about"), len(s))) if needs else ""
    return f"{len(points)} point(s) straddle the tolerance; to decide: {worst}" if needs else ""


@dataclass
class Verdict:
    """A claim judged: its status, every point with its interval, and what would decide it."""

    claim: Claim
    status: str
    points: list
    note: str = ""
    decide: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def as_dict(self) -> dict:
        return clean(self.claim.declaration() | {"status": self.status, "points": self.points, "note": self.note,
                                                 "decide": self.decide})


# -------------------------------------------------------------------------------------------- stages
@dataclass
class Comparison:
    """What a comparison measured: its data (JSON-able), the figures it drew and how long it took."""

    name: str
    title: str
    data: dict
    figures: list = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return clean({"name": self.name, "title": self.title, "data": self.data, "figures": list(self.figures),
                      "seconds": self.seconds})

    @classmethod
    def from_dict(cls, d: dict) -> "Comparison":
        """Read a stored stage (older stage files also hold their claims: those are ignored and re-judged)."""
        return cls(name=d["name"], title=d["title"], data=d["data"], figures=list(d.get("figures", [])),
                   seconds=d.get("seconds", 0.0))


@dataclass(frozen=True)
class ComparisonSpec:
    """A registered comparison: ``run(ctx) -> (data, figures)``; ``needs_grid``: it reads the trained
    grid's records (``ctx.records``)."""

    name: str
    title: str
    run: Callable
    needs_grid: bool = False


#: every claim, in declaration order
CLAIMS: dict[str, Claim] = {}
#: every comparison, in registration order (the report's order)
COMPARISONS: dict[str, ComparisonSpec] = {}


def comparison(name: str, title: str, *, needs_grid: bool = False):
    """Register ``run(ctx) -> (data, figures)`` as the comparison ``name``."""
    def register(fn):
        if name in COMPARISONS:
            raise ValueError(f"comparison {name!r} is registered twice")
        COMPARISONS[name] = ComparisonSpec(name, title, fn, needs_grid)
        return fn
    return register


def claim(comparison: str, id: str, *, statement: str, source: str, quantity: str, reference: str,
          criterion: Criterion, regime: Regime = Regime(), kind: str = "paper"):
    """Register ``measure(data, profile) -> [Point, ...]`` as the claim ``id`` of ``comparison``."""
    def register(fn):
        if id in CLAIMS:
            raise ValueError(f"claim {id!r} is declared twice")
        CLAIMS[id] = Claim(id, comparison, statement, source, quantity, reference, criterion, fn, regime, kind)
        return fn
    return register


def claims_of(comparison: str) -> list[Claim]:
    """The claims of one comparison, in declaration order."""
    return [c for c in CLAIMS.values() if c.comparison == comparison]

