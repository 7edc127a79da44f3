"""Numerical side of persian-rug (torch; never imports theory).

Hadamard and Persian Rug operators, sparse data, Persian Rug models, symmetry statistics.
"""

from .data import decaying_importance, sample_features, two_group_importance
from .hadamard import fwht, hadamard
from .rug import RugOperator, choose_columns, rug_matrix

__all__ = [
    "RugOperator",
    "choose_columns",
    "decaying_importance",
    "fwht",
    "hadamard",
    "rug_matrix",
    "sample_features",
    "two_group_importance",
]
