"""Sparse autoencoders on toy data: can an L1-penalised autoencoder take features out of superposition?

The experiments of the interim report "Taking features out of superposition with sparse autoencoders"
(Sharkey, Braun, Millidge). Notation follows the report: h the data dimension, G the number of
ground-truth features, J the dictionary size, alpha the L1 coefficient; the dictionary ratio is J / G.

One module per concern (each module's docstring states its part of the mathematics):

- :mod:`~numerics.sae.config`: :class:`SAEDataConfig`, :class:`SAETrainConfig`, :class:`SAESweepConfig`
  (and the optimisation settings they share, the dtype check, :data:`RESCALINGS`);
- :mod:`~numerics.sae.data`: :class:`ToyFeatureData`, the report's correlated, decaying sparse features
  (the generator's law), and the seed offsets of its data streams;
- :mod:`~numerics.sae.model`: :class:`SparseAutoencoder` (K instances in batched matmuls), :class:`SAELosses`;
- :mod:`~numerics.sae.metrics`: :func:`mmcs`, :func:`mmcs_larger`, :func:`count_dead`,
  :class:`DeadNeuronTracker`, :func:`standardized_log`, :func:`ssll`;
- :mod:`~numerics.sae.train`: :func:`train_sae` (Adam, lr 1e-3, batch 256), :class:`SAEResult`, the
  held-out evaluation;
- :mod:`~numerics.sae.sweep`: :func:`sae_sweep`, L1 coefficient x dictionary ratio, results JSON +
  heatmaps, resumable;
- :mod:`~numerics.sae.plots`: :func:`plot_sae_sweep`;
- :mod:`~numerics.sae.saelens`: :func:`save_saelens`, :func:`load_saelens` (SAELens' on-disk format).

Every public name is importable from ``numerics.sae``. See docs/sae.md for the choices made where the
report is silent.
"""

from .config import RESCALINGS, SAEDataConfig, SAESweepConfig, SAETrainConfig
from .data import ToyFeatureData
from .metrics import DeadNeuronTracker, count_dead, mmcs, mmcs_larger, ssll, standardized_log
from .model import SAELosses, SparseAutoencoder
from .plots import plot_sae_sweep
from .saelens import SAELENS_CFG, SAELENS_FORMAT, SAELENS_WEIGHTS, load_saelens, save_saelens
from .sweep import sae_sweep
from .train import SAEResult, train_sae

__all__ = [
    "RESCALINGS",
    "SAEDataConfig",
    "ToyFeatureData",
    "SparseAutoencoder",
    "SAELosses",
    "SAETrainConfig",
    "SAEResult",
    "SAESweepConfig",
    "train_sae",
    "mmcs",
    "mmcs_larger",
    "count_dead",
    "DeadNeuronTracker",
    "standardized_log",
    "ssll",
    "sae_sweep",
    "plot_sae_sweep",
    "save_saelens",
    "load_saelens",
]
