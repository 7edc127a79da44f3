"""Numerical side of persian-rug (torch; never imports theory).

Hadamard and Persian Rug operators, sparse data, Persian Rug models, symmetry statistics.
"""

from .data import decaying_importance, sample_features, two_group_importance
from .hadamard import fwht, hadamard
from .rug import RugOperator, choose_columns, rug_matrix
from .rug_model import (
    PairLoss,
    PersianRugModel,
    RugFit,
    RugFitConfig,
    RugFits,
    fit_rug,
    fit_rug_config,
    heldout_loss,
)
from .config import TrainConfig
from .toy import ToyModel, feature_dimensionality
from .external import ToyWeights, read_toy_weights
from .sae import (
    DeadNeuronTracker,
    SAEDataConfig,
    SAEResult,
    SAESweepConfig,
    SAETrainConfig,
    SparseAutoencoder,
    ToyFeatureData,
    count_dead,
    load_saelens,
    mmcs,
    mmcs_larger,
    sae_sweep,
    save_saelens,
    ssll,
    train_sae,
)
from .symmetry import (
    MacroscopicParams,
    RowStatistics,
    RowStructure,
    Spread,
    SymmetryStats,
    interference_samples,
    macroscopic_params,
    row_statistics,
    row_structure,
    symmetry_stats,
    unlearned_features,
)
from .train import Run, load_run, resolve_device, train


from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

try:
    __version__ = _version("persian-rug")  # one place: setup.cfg's [metadata] version
except _NotInstalled:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "DeadNeuronTracker",
    "MacroscopicParams",
    "SAEDataConfig",
    "SAEResult",
    "SAESweepConfig",
    "SAETrainConfig",
    "SparseAutoencoder",
    "ToyFeatureData",
    "count_dead",
    "load_saelens",
    "save_saelens",
    "mmcs",
    "mmcs_larger",
    "sae_sweep",
    "ssll",
    "train_sae",
    "unlearned_features",
    "PairLoss",
    "PersianRugModel",
    "RugFit",
    "RugFitConfig",
    "RugFits",
    "fit_rug",
    "fit_rug_config",
    "heldout_loss",
    "RowStatistics",
    "RowStructure",
    "RugOperator",
    "Spread",
    "SymmetryStats",
    "feature_dimensionality",
    "interference_samples",
    "macroscopic_params",
    "row_statistics",
    "row_structure",
    "symmetry_stats",
    "Run",
    "ToyModel",
    "ToyWeights",
    "read_toy_weights",
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
