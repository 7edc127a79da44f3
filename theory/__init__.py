"""The exact macroscopic theory of the Persian Rug (numpy, scipy, sympy; never torch).

The toy model x' = ReLU(W x + b) on sparse features x_i = Bernoulli(p) U[0, 1], reduced by statistical
permutation symmetry to three numbers: the diagonal a, the bias b and the interference standard
deviation sigma. See docs/theory.md for every derivation.
"""

from .bounds import linear_loss, mmse_loss, mmse_on_loss, welch_sigma
from .decoder import ExactMMSE, RowMMSE, exact_mmse, exact_mmse_loss
from .decomposition import LossDecomposition, loss_decomposition
from .finite_size import FiniteSizeExcess, rug_columns, rug_finite_size
from .gaussian import relu_moment
from .interference import (
    ExactLoss,
    InterferenceDensity,
    InterferenceLaw,
    RowLoss,
    RugLoss,
    RugOptimum,
    exact_loss,
    interference_law,
    rug_exact_loss,
    rug_first_row,
    rug_optimal_ab,
)
from .loss import loss_terms, macroscopic_loss
from .moments import FeatureMoments, feature_moments
from .optimum import OptimalAB, optimal_a, optimal_ab, optimal_loss
from .scaling import (
    LOWER_BOUND_CONSTANT,
    ScalingFit,
    fit_scaling,
    lower_bound,
    r0_limit,
    small_r_loss,
    upper_bound_ansatz,
    upper_bound_scaling,
)
from .structured import (
    STRUCTURED_KINDS,
    GroupOptimum,
    RugComparison,
    StructuredGrid,
    StructuredLoss,
    StructuredModel,
    best_structured,
    group_loss,
    group_optimum,
    structured_grid,
    structured_loss,
    structured_model,
    structured_vs_rug,
)


from importlib.metadata import PackageNotFoundError as _NotInstalled
from importlib.metadata import version as _version

try:
    __version__ = _version("persian-rug")  # one place: setup.cfg's [metadata] version
except _NotInstalled:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "__version__",
    "LOWER_BOUND_CONSTANT",
    "ExactMMSE",
    "LossDecomposition",
    "RowMMSE",
    "exact_mmse",
    "exact_mmse_loss",
    "FiniteSizeExcess",
    "rug_columns",
    "rug_finite_size",
    "loss_decomposition",
    "ExactLoss",
    "FeatureMoments",
    "InterferenceDensity",
    "InterferenceLaw",
    "OptimalAB",
    "RowLoss",
    "RugLoss",
    "RugOptimum",
    "ScalingFit",
    "fit_scaling",
    "lower_bound",
    "r0_limit",
    "small_r_loss",
    "upper_bound_ansatz",
    "upper_bound_scaling",
    "exact_loss",
    "feature_moments",
    "interference_law",
    "linear_loss",
    "loss_terms",
    "macroscopic_loss",
    "mmse_loss",
    "mmse_on_loss",
    "optimal_a",
    "optimal_ab",
    "optimal_loss",
    "relu_moment",
    "rug_exact_loss",
    "rug_first_row",
    "rug_optimal_ab",
    "welch_sigma",
    "STRUCTURED_KINDS",
    "GroupOptimum",
    "RugComparison",
    "StructuredGrid",
    "StructuredLoss",
    "StructuredModel",
    "best_structured",
    "group_loss",
    "group_optimum",
    "structured_grid",
    "structured_loss",
    "structured_model",
    "structured_vs_rug",
]
