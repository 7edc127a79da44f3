"""The configurations of numerics.sae: run configs (:class:`numerics.config.RunConfig`: each validates itself on
construction, round-trips through JSON and TOML and takes overrides).

:class:`SAEDataConfig` the toy data (the law is in :mod:`numerics.sae.data`); ``_SAEOptimization`` the
optimisation settings that one run and every cell of a sweep share; :class:`SAETrainConfig` one batched
training run; :class:`SAESweepConfig` an L1-coefficient x dictionary-ratio grid. Also the dtype check
(``_check_dtype``, ``_DTYPES``) and :data:`RESCALINGS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .._validation import check_int, check_positive, check_real
from ..config import RunConfig

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: how the decayed probabilities are rescaled to n_active active features on average (SAEDataConfig)
RESCALINGS = ("expected", "per_sample")


def _check_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")


@dataclass
class SAEDataConfig(RunConfig):
    """The toy data of the report (defaults: its values).

    h : data dimension (256). G : ground-truth features (512). n_active : expected number of active
    features per sample (5). decay : lambda, p_g proportional to lambda^g (0.99; 1 = no decay).
    correlation_rank : m, the rank of the random part of the latent correlation matrix
    C = rho U U^T + (1 - rho) I (None: m = G, a full-rank random correlation matrix).
    correlation_strength : rho in [0, 1] (0: independent features). seed : ground truth, correlation
    matrix and data stream all derive from it. rescaling : "expected" (divide by the expected mean of the
    decayed probabilities: one constant k for every sample) or "per_sample" (the report's words applied
    to each sample: divide by that sample's own mean); see :mod:`numerics.sae.data`.
    """

    h: int = 256
    G: int = 512
    n_active: float = 5.0
    decay: float = 0.99
    correlation_rank: int | None = None
    correlation_strength: float = 1.0
    seed: int = 0
    rescaling: str = "expected"

    def validate(self) -> "SAEDataConfig":
        self.h = check_int(self.h, "h", low=1)
        self.G = check_int(self.G, "G", low=1)
        self.n_active = check_real(self.n_active, "n_active", low=0.0, low_open=True)
        self.decay = check_real(self.decay, "decay", low=0.0, high=1.0, low_open=True)
        if self.correlation_rank is not None:
            self.correlation_rank = check_int(self.correlation_rank, "correlation_rank", low=1)
        self.correlation_strength = check_real(self.correlation_strength, "correlation_strength", low=0.0,
                                                high=1.0)
        self.seed = check_int(self.seed, "seed", low=0)
        if self.rescaling not in RESCALINGS:
            raise ValueError(f"rescaling must be one of {RESCALINGS}, got {self.rescaling!r}")
        if self.scale > 1.0:
            raise ValueError(
                f"n_active={self.n_active} is too large for G={self.G} and decay={self.decay}: the most "
                f"frequent feature would need probability > 1 (at most {0.5 * self.decay_weights.sum():.4g} "
                f"active features on average are possible)"
            )
        return self

    @property
    def rank(self) -> int:
        return self.G if self.correlation_rank is None else self.correlation_rank

    @property
    def decay_weights(self) -> np.ndarray:
        """lambda^g, g = 0 .. G-1."""
        return self.decay ** np.arange(self.G, dtype=np.float64)

    @property
    def scale(self) -> float:
        """k = n_active / sum_g (lambda^g / 2): the rescaling that makes E[#active] = n_active."""
        return self.n_active / (0.5 * float(self.decay_weights.sum()))

    @property
    def expected_probabilities(self) -> np.ndarray:
        """The marginal probabilities E[p_g] = k lambda^g / 2 (they sum to n_active): exact with
        rescaling "expected"; with "per_sample" only the sum is exact, each term is the value at a sample
        whose sum_g lambda^g p'_g sits at its mean (no closed form)."""
        return 0.5 * self.scale * self.decay_weights


@dataclass(kw_only=True)
class _SAEOptimization:
    """The optimisation settings shared by one run and by every cell of a sweep (keyword-only)."""

    steps: int = 10_000
    batch: int = 256
    lr: float = 1e-3
    dead_window: int = 500
    seed: int = 0
    eval_samples: int = 8192
    dtype: str = "float32"

    def _check_optimization(self):
        self.steps = check_int(self.steps, "steps", low=1)
        self.batch = check_int(self.batch, "batch", low=1)
        self.lr = check_positive(self.lr, "lr")
        self.dead_window = check_int(self.dead_window, "dead_window", low=1)
        self.seed = check_int(self.seed, "seed", low=0)
        self.eval_samples = check_int(self.eval_samples, "eval_samples", low=1)
        _check_dtype(self.dtype)
        if not isinstance(self.dtype, str):
            self.dtype = {v: k for k, v in _DTYPES.items()}[self.dtype]

    def _optimization(self) -> dict:
        return {f: getattr(self, f) for f in _SAEOptimization.__dataclass_fields__}


@dataclass(kw_only=True)
class SAETrainConfig(_SAEOptimization, RunConfig):
    """One batched training run: K = len(alphas) autoencoders of dictionary size J on the same data stream.

    dict_size : J. alphas : the L1 coefficients, one per instance. steps : Adam steps (10 000).
    batch : 256. lr : 1e-3. dead_window : T (500). seed : instance k is initialised from seed + k.
    eval_samples : held-out samples for the final losses (8192). dtype : "float32" or "float64".
    All fields are keyword-only.
    """

    dict_size: int
    alphas: list = field(default_factory=lambda: [0.1])

    def validate(self) -> "SAETrainConfig":
        self.dict_size = check_int(self.dict_size, "dict_size", low=1)
        if isinstance(self.alphas, (int, float)) and not isinstance(self.alphas, bool):
            self.alphas = [self.alphas]
        if not isinstance(self.alphas, (list, tuple)) or not self.alphas:
            raise ValueError(f"alphas must be a non-empty list of numbers >= 0, got {self.alphas!r}")
        self.alphas = [check_real(a, "alphas", low=0.0) for a in self.alphas]
        self._check_optimization()
        return self


@dataclass(kw_only=True)
class SAESweepConfig(_SAEOptimization, RunConfig):
    """An L1-coefficient x dictionary-ratio grid (J = round(ratio * G)); one batched run per ratio.

    data : the toy data. alphas, ratios : the grid axes. steps, batch, lr, dead_window, seed,
    eval_samples, dtype : as in :class:`SAETrainConfig` (shared by every cell). Keyword-only.
    """

    data: SAEDataConfig = field(default_factory=SAEDataConfig)
    alphas: list = field(default_factory=lambda: [0.01, 0.03, 0.1, 0.3, 1.0])
    ratios: list = field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0])

    _nested = {"data": SAEDataConfig}

    def validate(self) -> "SAESweepConfig":
        if isinstance(self.data, dict):
            self.data = SAEDataConfig.from_dict(self.data)
        if not isinstance(self.data, SAEDataConfig):
            raise ValueError(f"data must be an SAEDataConfig or a dict of its fields, got {type(self.data).__name__}")
        for name in ("alphas", "ratios"):
            v = getattr(self, name)
            if not isinstance(v, (list, tuple)) or not v:
                raise ValueError(f"{name} must be a non-empty list of numbers, got {v!r}")
        self.alphas = [check_real(a, "alphas", low=0.0) for a in self.alphas]
        self.ratios = [check_real(r, "ratios", low=0.0, low_open=True) for r in self.ratios]
        if len(set(self.alphas)) != len(self.alphas):
            raise ValueError(f"alphas must be distinct, got {self.alphas}")
        sizes = self.dict_sizes
        if min(sizes) < 1 or len(set(sizes)) != len(sizes):
            raise ValueError(f"ratios must give distinct dictionary sizes >= 1 (J = round(ratio * G)), got {sizes}")
        self._check_optimization()
        return self

    @property
    def dict_sizes(self) -> list[int]:
        return [int(round(r * self.data.G)) for r in self.ratios]

    def train_config(self, dict_size: int) -> SAETrainConfig:
        return SAETrainConfig(dict_size=dict_size, alphas=self.alphas, **self._optimization())
