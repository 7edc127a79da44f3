"""Theory against trained models: the paper's claims checked, its figures reproduced, one report.

The only package that imports both :mod:`theory` and :mod:`numerics`; nothing imports it.
``python -m verify report --profile quick --out report/``.
"""

from .claims import Claim, Comparison
from .comparisons import (
    bounds_vs_trained,
    fig3_point,
    loss_vs_ratio,
    p2_over_r_scaling,
    rug_properties,
    sae_recovery,
    symmetry_vs_ns,
)
from .profiles import PROFILES, Profile, get_profile
from .report import run_report

__all__ = [
    "Claim",
    "Comparison",
    "PROFILES",
    "Profile",
    "bounds_vs_trained",
    "fig3_point",
    "get_profile",
    "loss_vs_ratio",
    "p2_over_r_scaling",
    "rug_properties",
    "run_report",
    "sae_recovery",
    "symmetry_vs_ns",
]
