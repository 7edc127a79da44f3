"""Numerical side of persian-rug (torch; never imports theory).

Hadamard and Persian Rug operators, sparse data, Persian Rug models, symmetry statistics.
"""

from .data import decaying_importance, sample_features, two_group_importance
from .hadamard import fwht, hadamard
from .rug import RugOperator, choose_columns, rug_matrix
from .config import TrainConfig
from .toy import ToyModel
from .train import Run, load_run, resolve_device, train

__all__ = [
    "RugOperator",
    "Run",
    "ToyModel",
    "TrainConfig",
    "load_run",
    "resolve_device",
    "train",
    "choose_columns",
    "decaying_importance",
    "fwht",
    "hadamard",
    "rug_matrix",
    "sample_features",
    "two_group_importance",
]
