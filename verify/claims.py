"""Claims and comparison results: what the report is made of."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

__all__ = ["Claim", "Comparison", "STATUSES"]

# pass: the measurement agrees with the paper's statement within the stated tolerance.
# fail: it does not, at this profile's sizes (the statement may still hold in the paper's regime).
# refuted: the statement is false: exactly (mathematics) or beyond any noise at the sizes it is about.
# info: a measurement the paper makes no checkable statement about (reported, not judged).
STATUSES = ("pass", "fail", "refuted", "info")


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


@dataclass
class Claim:
    """One statement of the paper and where it stands."""

    id: str
    statement: str
    source: str
    measured: object
    expected: object
    tolerance: str
    status: str
    note: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    def as_dict(self) -> dict:
        return _clean(asdict(self))


@dataclass
class Comparison:
    """The result of one comparison: its data (JSON-able), its claims and the figures it drew."""

    name: str
    title: str
    data: dict
    claims: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return _clean({"name": self.name, "title": self.title, "data": self.data,
                       "claims": [c.as_dict() for c in self.claims], "figures": list(self.figures),
                       "seconds": self.seconds})

    @classmethod
    def from_dict(cls, d: dict) -> "Comparison":
        return cls(name=d["name"], title=d["title"], data=d["data"], claims=[Claim(**c) for c in d["claims"]],
                   figures=list(d["figures"]), seconds=d.get("seconds", 0.0))
