"""Theory against trained models: the paper's claims declared, measured and judged; one report.

The only package that imports both :mod:`theory` and :mod:`numerics`; nothing imports it.
``python -m verify report --profile quick --out report/`` measures and judges;
``python -m verify judge report/`` re-judges stored measurements.
"""

from . import comparisons  # noqa: F401  (registers every comparison and claim)
from .claims import CLAIMS, COMPARISONS, Claim, Comparison, Criterion, Point, Regime, Verdict
from .profiles import PROFILES, Profile, get_profile
from .report import STAGES, judge, judge_report, run_report
from .stats import CONFIDENCE, Estimate

from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

try:
    __version__ = _version("persian-rug")  # one place: setup.cfg's [metadata] version
except _NotInstalled:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "CLAIMS",
    "COMPARISONS",
    "CONFIDENCE",
    "Claim",
    "Comparison",
    "Criterion",
    "Estimate",
    "PROFILES",
    "Point",
    "Profile",
    "Regime",
    "STAGES",
    "Verdict",
    "get_profile",
    "judge",
    "judge_report",
    "run_report",
]
