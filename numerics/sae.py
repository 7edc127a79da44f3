r"""Sparse autoencoders on toy data: can an L1-penalised autoencoder take features out of superposition?

The experiments of the interim report "Taking features out of superposition with sparse autoencoders"
(Sharkey, Braun, Millidge). Notation follows the report: h the data dimension, G the number of
ground-truth features, J the dictionary size, alpha the L1 coefficient; the dictionary ratio is J / G.

Data (:class:`SAEDataConfig`, :class:`ToyFeatureData`)
    F = [F_1 .. F_G] (h, G), columns uniform on the unit sphere. A sample is x = sum_g s_g F_g with
    s_g = b_g u_g, u_g ~ Uniform[0, 1] and b_g ~ Bernoulli(p_g). The probabilities are correlated and
    decaying:

        z ~ N(0, C),  C = rho U U^T + (1 - rho) I   (U: G x m, rows uniform on the unit sphere, C_gg = 1)
        p'_g = Phi(z_g),  p_g = min(1, k lambda^g p'_g),  k = n_active / (sum_g lambda^g / 2)

    (g = 0 .. G-1). z is drawn afresh for every sample, so that feature activity is correlated across
    samples. Since C_gg = 1, p'_g ~ Uniform(0, 1) and E[p'_g] = 1/2, so k makes the expected number of
    active features exactly n_active (k lambda^0 <= 1 is required, so that no probability is clipped).

    The two steps after the correlation, in the report's words ("Toy dataset generation"):

    - decayed: "the probability of the gth feature is pg=(p′g)gλ where λ=0.99 and p′g is the correlated
      feature probability" (garbled in the text; read as p'_g lambda^g, "exponentially decayed with the
      feature's index", docs/sae.md);
    - rescaled: "first, we calculated the mean probability of all features. Then, we calculated the
      ratio of the number of ground truth features that are active at a time (5 out of G in this case)
      to the mean probability. Finally, we multiplied each probability by this ratio to rescale them,
      ensuring that on average 5 out of G ground truth features are active at a time."

    ``rescaling`` chooses the mean the rescaling divides by: "expected" (the default, above) the
    expected mean, so that k is one constant and every marginal is exactly P(b_g = 1) = k lambda^g / 2,
    pairs P(b_g = b_g' = 1) = k^2 lambda^(g+g') (1/4 + arcsin(C_gg' / 2) / (2 pi)); "per_sample" the
    report's words applied to each sample's own vector, p_g = min(1, n_active lambda^g p'_g /
    sum_g' lambda^g' p'_g'), so that the probabilities of every sample sum to exactly n_active (unless
    one is clipped at 1, possible only where n_active lambda^g p'_g exceeds that sum; never when
    n_active <= 1) and the number of active features, given them, is Poisson-binomial with mean n_active.

Model (:class:`SparseAutoencoder`), K instances trained side by side in batched matmuls
    c = ReLU(W_e x + b_e)  (J),   x_hat = D_hat c,   D_hat_j = D_j / ||D_j||  (unit columns, forward pass)
    L = (1/h) ||x - x_hat||^2 + (alpha / J) ||c||_1, averaged over the batch. Orthogonal initialisation
    of D and of W_e, b_e = 0. Adam, lr 1e-3, batch 256 (:func:`train_sae`).

Metrics
    MMCS(F, D) = G^-1 sum_g max_j cos(F_g, D_j)                               (:func:`mmcs`)
    dead neurons: latents whose post-ReLU value was 0 on every sample of the last T batches
                                                                       (:func:`count_dead`, T = 500)
    SSLL over a grid of (alpha, J) cells: std(log L_rec) + std(log L_L1), std(v) = (v - mean) / sd over
    the cells, cells with a zero loss (log undefined) left out and given NaN               (:func:`ssll`)
    MMCS against larger dictionaries: for each cell, the mean over the larger dictionaries (same alpha) of
    MMCS(D_small, D_large)                                                          (:func:`mmcs_larger`)

Sweep (:func:`sae_sweep`): L1 coefficient x dictionary ratio, results JSON + heatmaps, resumable.
See docs/sae.md for the choices made where the report is silent.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ._validation import check_int, check_positive, check_real, resolve_device
from .io import read_json, save_weights, load_weights, write_json
from .train import _adam  # torch's Adam, fused where the build supports it

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
]

_SAMPLE_SEED_OFFSET = 0x5AE0_0000_0001  # the training data stream
_EVAL_SEED_OFFSET = 0x5AE0_0000_0002  # held-out samples for the final losses
_INIT_SEED_OFFSET = 0x5AE0_0000_0003  # autoencoder initialisation
_DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: how the decayed probabilities are rescaled to n_active active features on average (SAEDataConfig)
RESCALINGS = ("expected", "per_sample")


def _check_dtype(dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")


# ================================================================================================ data
@dataclass
class SAEDataConfig:
    """The toy data of the report (defaults: its values).

    h : data dimension (256). G : ground-truth features (512). n_active : expected number of active
    features per sample (5). decay : lambda, p_g proportional to lambda^g (0.99; 1 = no decay).
    correlation_rank : m, the rank of the random part of the latent correlation matrix
    C = rho U U^T + (1 - rho) I (None: m = G, a full-rank random correlation matrix).
    correlation_strength : rho in [0, 1] (0: independent features). seed : ground truth, correlation
    matrix and data stream all derive from it. rescaling : "expected" (divide by the expected mean of the
    decayed probabilities: one constant k for every sample) or "per_sample" (the report's words applied
    to each sample: divide by that sample's own mean); see the module docstring.
    """

    h: int = 256
    G: int = 512
    n_active: float = 5.0
    decay: float = 0.99
    correlation_rank: int | None = None
    correlation_strength: float = 1.0
    seed: int = 0
    rescaling: str = "expected"

    def __post_init__(self):
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

    def to_dict(self) -> dict:
        return asdict(self)


class ToyFeatureData:
    """The toy data set of :class:`SAEDataConfig`, on a device.

    ``features`` (h, G): unit ground-truth directions. ``factors`` (G, m): unit rows U of the latent
    correlation. ``sample(batch, generator)`` draws x (batch, h); with ``return_coefficients=True`` also
    the sparse coefficients s (batch, G). The ground truth is fixed by the seed (drawn on the CPU in
    float64, so it is the same on every device); the samples come from the generator passed in, or from
    the object's own stream (seeded from the config) when none is.
    """

    def __init__(self, config: SAEDataConfig | None = None, device="cpu", dtype="float32"):
        if config is None:
            config = SAEDataConfig()
        if not isinstance(config, SAEDataConfig):
            raise ValueError(f"config must be an SAEDataConfig, got {type(config).__name__}")
        self.config = config
        self.device = resolve_device(device)
        self.dtype = _check_dtype(dtype)
        g = torch.Generator().manual_seed(config.seed)
        F = torch.randn(config.h, config.G, generator=g, dtype=torch.float64)
        F = F / torch.linalg.vector_norm(F, dim=0, keepdim=True)
        U = torch.randn(config.G, config.rank, generator=g, dtype=torch.float64)
        U = U / torch.linalg.vector_norm(U, dim=1, keepdim=True)
        kw = dict(device=self.device, dtype=self.dtype)
        self.features = F.to(**kw)
        self.factors = U.to(**kw)
        self.base = torch.as_tensor(config.scale * config.decay_weights).to(**kw)  # k lambda^g
        self._decay = torch.as_tensor(config.decay_weights).to(**kw)  # lambda^g
        self._rho = config.correlation_strength
        self.generator = self.make_generator(_SAMPLE_SEED_OFFSET)

    def make_generator(self, offset: int = _SAMPLE_SEED_OFFSET) -> torch.Generator:
        """A fresh generator on the data's device, seeded from the config's seed and ``offset``."""
        return torch.Generator(device=self.device).manual_seed(self.config.seed + offset)

    @property
    def latent_correlation(self) -> torch.Tensor:
        """C = rho U U^T + (1 - rho) I (G, G), the correlation matrix of z."""
        U = self.factors.double()
        C = self._rho * (U @ U.T)
        C.diagonal().fill_(1.0)
        return C

    def probabilities(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """p (batch, G): one draw of the correlated, decayed, rescaled probabilities per sample
        (rescaled by the constant k, or by each sample's own sum with ``rescaling="per_sample"``). Both
        rescalings draw the same z from the same generator state."""
        batch = check_int(batch, "batch", low=1)
        gen = self.generator if generator is None else generator
        G, m = self.config.G, self.config.rank
        kw = dict(device=self.device, dtype=self.dtype, generator=gen)
        z = torch.randn(batch, m, **kw) @ self.factors.T
        if self._rho < 1.0:
            z.mul_(math.sqrt(self._rho)).add_(torch.randn(batch, G, **kw), alpha=math.sqrt(1.0 - self._rho))
        if self.config.rescaling == "per_sample":
            q = torch.special.ndtr(z).mul_(self._decay)  # lambda^g p'_g
            return q.mul_(self.config.n_active / q.sum(dim=1, keepdim=True)).clamp_(max=1.0)
        return torch.special.ndtr(z).mul_(self.base).clamp_(max=1.0)

    def sample(self, batch: int, generator: torch.Generator | None = None, return_coefficients: bool = False):
        """x (batch, h) = s F^T with s_g = Bernoulli(p_g) * Uniform[0, 1]; (x, s) if return_coefficients."""
        gen = self.generator if generator is None else generator
        p = self.probabilities(batch, gen)
        on = torch.rand(p.shape, device=self.device, dtype=self.dtype, generator=gen) < p
        s = torch.rand(p.shape, device=self.device, dtype=self.dtype, generator=gen).mul_(on)
        x = s @ self.features.T
        return (x, s) if return_coefficients else x


# ================================================================================================ model
def _orthogonal(rows: int, cols: int, generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """A random (rows, cols) matrix with orthonormal rows (rows <= cols) or columns (rows >= cols),
    Haar-distributed: QR of a Gaussian matrix with the signs of R's diagonal folded into Q."""
    tall = rows >= cols
    A = torch.randn(max(rows, cols), min(rows, cols), generator=generator, dtype=dtype)
    Q, R = torch.linalg.qr(A)
    Q = Q * torch.sign(torch.sign(torch.diagonal(R)) + 0.5)
    return Q if tall else Q.T


@dataclass
class SAELosses:
    """Per-instance losses (K,) of one batch and the codes c (K, batch, J)."""

    reconstruction: torch.Tensor
    l1: torch.Tensor
    total: torch.Tensor
    codes: torch.Tensor


class SparseAutoencoder(torch.nn.Module):
    """K sparse autoencoders with the same h and J, one L1 coefficient each, computed together.

    Parameters: ``W_e`` (K, J, h), ``b_e`` (K, J), ``D`` (K, h, J) (its columns are normalised in the
    forward pass; :meth:`dictionary` returns the normalised one). Buffer ``alpha`` (K,).
    Instance k is initialised from ``seed + k``: D and W_e orthogonal (independently), b_e = 0.
    """

    def __init__(self, h: int, J: int, alphas, seed: int = 0, dtype="float32"):
        super().__init__()
        h = check_int(h, "h", low=1)
        J = check_int(J, "J", low=1)
        seed = check_int(seed, "seed", low=0)
        if isinstance(alphas, (int, float)) and not isinstance(alphas, bool):
            alphas = [alphas]
        try:
            alphas = [float(a) for a in alphas]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"alphas must be a number or a list of numbers, got {alphas!r}") from exc
        if not alphas:
            raise ValueError("alphas must not be empty")
        for a in alphas:
            check_real(a, "alphas", low=0.0)
        dtype = _check_dtype(dtype)
        self.h, self.J, self.instances = h, J, len(alphas)
        We, D = [], []
        for k in range(self.instances):
            g = torch.Generator().manual_seed(seed + k + _INIT_SEED_OFFSET)
            D.append(_orthogonal(h, J, g))
            We.append(_orthogonal(J, h, g))
        self.W_e = torch.nn.Parameter(torch.stack(We).to(dtype))
        self.b_e = torch.nn.Parameter(torch.zeros(self.instances, J, dtype=dtype))
        self.D = torch.nn.Parameter(torch.stack(D).to(dtype))
        self.register_buffer("alpha", torch.tensor(alphas, dtype=dtype))

    def dictionary(self) -> torch.Tensor:
        """D_hat (K, h, J): the decoder with unit-norm columns (what the forward pass uses)."""
        return self.D / torch.linalg.vector_norm(self.D, dim=1, keepdim=True)

    def _check_x(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3) or x.shape[-1] != self.h:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor (batch, h={self.h}) or (K, batch, h), got {shape}")
        if x.dim() == 3 and x.shape[0] != self.instances:
            raise ValueError(f"x has {x.shape[0]} instances, the model {self.instances}")
        return x

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """c = ReLU(W_e x + b_e): (K, batch, J) from x (batch, h) (shared) or (K, batch, h)."""
        x = self._check_x(x)
        return torch.relu(torch.matmul(x, self.W_e.transpose(1, 2)) + self.b_e.unsqueeze(1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_hat (K, batch, h), c (K, batch, J))."""
        c = self.encode(x)
        return torch.matmul(c, self.dictionary().transpose(1, 2)), c

    def losses(self, x: torch.Tensor) -> SAELosses:
        """Per instance: (1/h) ||x - x_hat||^2 and (alpha/J) ||c||_1, each averaged over the batch."""
        x_hat, c = self(x)
        rec = (x_hat - x).square().mean(dim=(1, 2))  # mean over batch and h = batch mean of ||.||^2 / h
        l1 = self.alpha * c.abs().mean(dim=(1, 2))  # batch mean of ||c||_1 / J, times alpha
        return SAELosses(rec, l1, rec + l1, c)


# ================================================================================================ metrics
def _check_dictionary(t, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        t = torch.as_tensor(np.asarray(t, dtype=np.float64))
    if t.dim() < 2 or t.shape[-1] < 1 or t.shape[-2] < 1:
        raise ValueError(f"{name} must have shape (..., h, n) with columns as directions, got {tuple(t.shape)}")
    if not torch.is_floating_point(t):
        t = t.double()
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} has non-finite entries")
    if (torch.linalg.vector_norm(t, dim=-2) == 0).any():
        raise ValueError(f"{name} has a zero column (its cosine similarity is undefined)")
    return t


def mmcs(reference, learned) -> torch.Tensor:
    """Mean max cosine similarity, MMCS = n^-1 sum_g max_j cos(reference_g, learned_j).

    ``reference`` (..., h, n) and ``learned`` (..., h, J): directions are columns; leading dimensions
    broadcast (e.g. one ground truth (h, G) against K dictionaries (K, h, J) gives (K,)). Every column of
    ``reference`` is matched with its most similar column of ``learned`` (signs count: a flipped copy has
    cosine -1). Against a larger dictionary, pass the smaller one as ``reference``.
    """
    F = _check_dictionary(reference, "reference")
    D = _check_dictionary(learned, "learned")
    if F.shape[-2] != D.shape[-2]:
        raise ValueError(f"reference and learned must have the same h (dim -2), got {F.shape[-2]} and {D.shape[-2]}")
    dtype = torch.promote_types(F.dtype, D.dtype)
    F = F.to(dtype) / torch.linalg.vector_norm(F.to(dtype), dim=-2, keepdim=True)
    D = D.to(dtype=dtype, device=F.device)
    D = D / torch.linalg.vector_norm(D, dim=-2, keepdim=True)
    cos = torch.matmul(F.transpose(-1, -2), D)  # (..., n, J)
    return cos.amax(dim=-1).mean(dim=-1)


def mmcs_larger(dictionaries: dict) -> dict:
    """For each dictionary, the mean MMCS against every strictly larger one (the report's method 3).

    ``dictionaries`` maps a dictionary size J to a (K, h, J) tensor (K instances, the same K and h
    everywhere, instance k of every size trained with the same alpha). Returns {J: (K,) tensor}, the
    largest J mapped to NaNs (nothing larger to compare with).
    """
    if not isinstance(dictionaries, dict) or not dictionaries:
        raise ValueError("dictionaries must be a non-empty dict {J: (K, h, J) tensor}")
    ds = {}
    for J, D in dictionaries.items():
        D = _check_dictionary(D, "dictionaries")
        if D.dim() != 3 or D.shape[-1] != J:
            raise ValueError(f"dictionaries[{J}] must have shape (K, h, {J}), got {tuple(D.shape)}")
        ds[J] = D.double()
    shapes = {D.shape[:2] for D in ds.values()}
    if len(shapes) != 1:
        raise ValueError(f"dictionaries must share K and h, got {sorted(shapes)}")
    out = {}
    for J, D in ds.items():
        larger = [mmcs(D, ds[J2]) for J2 in sorted(ds) if J2 > J]
        out[J] = torch.stack(larger).mean(0) if larger else torch.full((D.shape[0],), float("nan"), dtype=torch.float64)
    return out


def count_dead(last_fired, step: int, window: int = 500) -> torch.Tensor:
    """Dead latents: those that did not fire in the last ``window`` batches.

    ``last_fired`` (..., J): the index (0-based) of the last batch in which each latent was > 0 on some
    sample, -1 if never; ``step``: batches seen so far. A latent is dead when
    last_fired < max(step - window, 0): it fired in none of the batches max(step - window, 0) .. step - 1
    (all of them when fewer than ``window`` have been seen). Returns the counts (...,).
    """
    step = check_int(step, "step", low=0)
    window = check_int(window, "window", low=1)
    t = torch.as_tensor(last_fired)
    if t.dim() < 1 or torch.is_floating_point(t) or t.dtype == torch.bool:
        raise ValueError(f"last_fired must be an integer tensor (..., J), got {t.dtype} of shape {tuple(t.shape)}")
    if t.numel() and (t.min() < -1 or t.max() >= step):
        raise ValueError(f"last_fired must lie in [-1, step - 1] = [-1, {step - 1}]")
    return (t < max(step - window, 0)).sum(dim=-1)


class DeadNeuronTracker:
    """Keeps, per instance and latent, the last batch in which the latent fired (see :func:`count_dead`)."""

    def __init__(self, instances: int, J: int, window: int = 500, device="cpu"):
        instances = check_int(instances, "instances", low=1)
        J = check_int(J, "J", low=1)
        self.window = check_int(window, "window", low=1)
        self.last_fired = torch.full((instances, J), -1, dtype=torch.long, device=resolve_device(device))
        self.step = 0

    def update(self, codes: torch.Tensor):
        """Record one batch of codes c (K, batch, J) (post-ReLU)."""
        if not isinstance(codes, torch.Tensor) or codes.dim() != 3 or codes.shape[0] != self.last_fired.shape[0] \
                or codes.shape[2] != self.last_fired.shape[1]:
            raise ValueError(f"codes must be a (K, batch, J) = {tuple(self.last_fired.shape[:1])} x batch x "
                             f"{self.last_fired.shape[1]} tensor")
        fired = (codes.detach() > 0).any(dim=1)
        self.last_fired.masked_fill_(fired, self.step)
        self.step += 1

    def dead(self) -> torch.Tensor:
        """(K,) dead-latent counts now."""
        return count_dead(self.last_fired, self.step, self.window)


def standardized_log(values) -> np.ndarray:
    """(log v - mean) / sd over the entries with v > 0 (population sd); NaN where v = 0 or v is NaN.

    All positive entries equal (sd = 0) standardise to 0. Negative or infinite values are refused.
    """
    v = np.array(values, dtype=np.float64)
    if np.any(v[~np.isnan(v)] < 0) or np.any(np.isinf(v)):
        raise ValueError("values must be >= 0 and finite (NaN marks a missing cell)")
    ok = v > 0  # NaN compares False
    out = np.full(v.shape, np.nan)
    if not ok.any():
        return out
    logs = np.log(v[ok])
    sd = logs.std()
    out[ok] = (logs - logs.mean()) / sd if sd > 0 else 0.0
    return out


def ssll(reconstruction, l1) -> np.ndarray:
    """Summed standardised log losses: standardized_log(reconstruction) + standardized_log(l1).

    Both arrays hold one final loss per cell of a sweep grid (same shape); each is standardised over the
    whole grid, ignoring cells whose loss is 0 (log undefined), which come out NaN.
    """
    r = np.asarray(reconstruction, dtype=np.float64)
    a = np.asarray(l1, dtype=np.float64)
    if r.shape != a.shape:
        raise ValueError(f"reconstruction and l1 must have the same shape, got {r.shape} and {a.shape}")
    try:
        sr = standardized_log(r)
    except ValueError as exc:
        raise ValueError(f"reconstruction: {exc}") from None
    try:
        sa = standardized_log(a)
    except ValueError as exc:
        raise ValueError(f"l1: {exc}") from None
    return sr + sa


# ================================================================================================ training
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
class SAETrainConfig(_SAEOptimization):
    """One batched training run: K = len(alphas) autoencoders of dictionary size J on the same data stream.

    dict_size : J. alphas : the L1 coefficients, one per instance. steps : Adam steps (10 000).
    batch : 256. lr : 1e-3. dead_window : T (500). seed : instance k is initialised from seed + k.
    eval_samples : held-out samples for the final losses (8192). dtype : "float32" or "float64".
    All fields are keyword-only.
    """

    dict_size: int
    alphas: list = field(default_factory=lambda: [0.1])

    def __post_init__(self):
        self.dict_size = check_int(self.dict_size, "dict_size", low=1)
        if isinstance(self.alphas, (int, float)) and not isinstance(self.alphas, bool):
            self.alphas = [self.alphas]
        if not isinstance(self.alphas, (list, tuple)) or not self.alphas:
            raise ValueError(f"alphas must be a non-empty list of numbers >= 0, got {self.alphas!r}")
        self.alphas = [check_real(a, "alphas", low=0.0) for a in self.alphas]
        self._check_optimization()

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SAEResult:
    """A trained batch of autoencoders and its measurements (all per instance, (K,) lists).

    mmcs : against the ground truth. dead : dead latents at the end (window T). reconstruction, l1, total :
    final losses on held-out samples. mean_active : mean number of latents > 0 per held-out sample.
    curve : mean training loss per instance for each block of 100 steps. seconds, seconds_per_step.
    """

    model: SparseAutoencoder
    config: SAETrainConfig
    alphas: list
    mmcs: list
    dead: list
    reconstruction: list
    l1: list
    total: list
    mean_active: list
    curve: list
    seconds: float
    seconds_per_step: float

    def metrics(self) -> dict:
        d = {k: getattr(self, k) for k in ("alphas", "mmcs", "dead", "reconstruction", "l1", "total",
                                           "mean_active", "seconds", "seconds_per_step")}
        d["dict_size"] = self.config.dict_size
        return d


@torch.no_grad()
def _evaluate(model: SparseAutoencoder, data: ToyFeatureData, samples: int, batch: int = 4096):
    gen = data.make_generator(_EVAL_SEED_OFFSET)
    K = model.instances
    sums = torch.zeros(3, K, dtype=torch.float64, device=data.device)
    done = 0
    while done < samples:
        n = min(batch, samples - done)
        out = model.losses(data.sample(n, gen))
        sums[0] += out.reconstruction.double() * n
        sums[1] += out.l1.double() * n
        sums[2] += (out.codes > 0).sum(dim=(1, 2)).double()
        done += n
    rec, l1, active = (sums / samples).cpu().tolist()
    return rec, l1, active


def train_sae(data, config: SAETrainConfig, *, device="auto", progress: bool = False,
              threads: int | None = None, callback=None) -> SAEResult:
    """Train K = len(config.alphas) autoencoders (J = config.dict_size) together on fresh toy data.

    ``data`` : an :class:`SAEDataConfig` (built on ``device``) or a :class:`ToyFeatureData` (its device is
    used). Every call replays the same data stream (seeded from the data config), so runs with different
    J see identical batches. Each instance's loss depends on its own parameters only, so summing the K
    losses and taking one Adam step trains each as if alone. ``threads``: torch's CPU thread count for
    the duration of the call (restored after); 1 is much faster for small models on a busy CPU, where
    the threads' synchronisation costs more than the matmuls. None leaves the setting alone.

    ``callback``: called after every block of 100 steps (and the last step) with one dict, ``{"step":
    int, "losses": [the block's mean total loss, per instance], "instances": [0 .. K-1], "alphas":
    [per instance], "dead": [dead latents now, per instance]}``, the same hook as ``numerics.train``'s,
    for attaching a logger without a dependency.
    """
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable or None, got {type(callback).__name__}")
    if threads is not None:
        threads = check_int(threads, "threads", low=1)
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return train_sae(data, config, device=device, progress=progress, callback=callback)
        finally:
            torch.set_num_threads(before)
    if not isinstance(config, SAETrainConfig):
        raise ValueError(f"config must be an SAETrainConfig, got {type(config).__name__}")
    if isinstance(data, SAEDataConfig):
        data = ToyFeatureData(data, resolve_device(device), config.dtype)
    elif not isinstance(data, ToyFeatureData):
        raise ValueError(f"data must be an SAEDataConfig or a ToyFeatureData, got {type(data).__name__}")
    elif data.dtype != _DTYPES[config.dtype]:
        raise ValueError(f"data has dtype {data.dtype}, config.dtype is {config.dtype}")
    dev = data.device
    model = SparseAutoencoder(data.config.h, config.dict_size, config.alphas, config.seed, config.dtype).to(dev)
    opt = _adam(model.parameters(), config.lr)
    tracker = DeadNeuronTracker(model.instances, config.dict_size, config.dead_window, dev)
    gen = data.make_generator(_SAMPLE_SEED_OFFSET)
    block, acc, curve = 100, torch.zeros(model.instances, dtype=torch.float64, device=dev), []
    t0 = time.perf_counter()
    for step in tqdm(range(config.steps), disable=not progress, desc=f"SAE J={config.dict_size}", leave=False):
        x = data.sample(config.batch, gen)
        out = model.losses(x)
        opt.zero_grad(set_to_none=True)
        out.total.sum().backward()
        opt.step()
        tracker.update(out.codes)
        acc += out.total.detach().double()
        if (step + 1) % block == 0 or step + 1 == config.steps:
            n = (step % block) + 1
            curve.append((acc / n).cpu().tolist())
            acc.zero_()
            if callback is not None:
                callback({"step": step + 1, "losses": list(curve[-1]), "instances": list(range(model.instances)),
                          "alphas": list(config.alphas), "dead": tracker.dead().cpu().tolist()})
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - t0
    model.eval()
    rec, l1, active = _evaluate(model, data, config.eval_samples)
    with torch.no_grad():
        m = mmcs(data.features.double(), model.dictionary().double()).cpu().tolist()
    return SAEResult(model=model, config=config, alphas=list(config.alphas), mmcs=m,
                     dead=tracker.dead().cpu().tolist(), reconstruction=rec, l1=l1,
                     total=[a + b for a, b in zip(rec, l1)], mean_active=active, curve=curve,
                     seconds=seconds, seconds_per_step=seconds / config.steps)


# ================================================================================================ sweep
@dataclass(kw_only=True)
class SAESweepConfig(_SAEOptimization):
    """An L1-coefficient x dictionary-ratio grid (J = round(ratio * G)); one batched run per ratio.

    data : the toy data. alphas, ratios : the grid axes. steps, batch, lr, dead_window, seed,
    eval_samples, dtype : as in :class:`SAETrainConfig` (shared by every cell). Keyword-only.
    """

    data: SAEDataConfig = field(default_factory=SAEDataConfig)
    alphas: list = field(default_factory=lambda: [0.01, 0.03, 0.1, 0.3, 1.0])
    ratios: list = field(default_factory=lambda: [0.5, 1.0, 2.0, 4.0])

    def __post_init__(self):
        if isinstance(self.data, dict):
            self.data = SAEDataConfig(**self.data)
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

    @property
    def dict_sizes(self) -> list[int]:
        return [int(round(r * self.data.G)) for r in self.ratios]

    def train_config(self, dict_size: int) -> SAETrainConfig:
        return SAETrainConfig(dict_size=dict_size, alphas=self.alphas, **self._optimization())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["data"] = self.data.to_dict()
        return d


def _as_config(saved) -> dict | None:
    """A saved sweep config with the fields added since it was written at their defaults (None if it is
    no valid config), so that a sweep written before a new field resumes."""
    if not isinstance(saved, dict):
        return None
    try:
        return SAESweepConfig(**saved).to_dict()
    except (TypeError, ValueError):
        return None


def _grid(cells: dict, key: str, sweep: SAESweepConfig) -> list[list]:
    """rows: ratios, columns: alphas."""
    return [[cells[J][key][i] for i in range(len(sweep.alphas))] for J in sweep.dict_sizes]


def sae_sweep(config: SAESweepConfig, out_dir, *, device="auto", progress: bool = True, resume: bool = True,
              plots: bool = True, threads: int | None = None) -> dict:
    """Run the sweep and write ``out_dir``:

    - ``results.json``: the config, and per dictionary size the per-alpha metrics (mmcs, dead,
      reconstruction, l1, total, mean_active, seconds_per_step); grids (rows = ratios, columns = alphas)
      of mmcs, dead, reconstruction, l1, ssll and mmcs_larger. Written atomically after every ratio.
    - ``dictionaries/J{J}.safetensors``: each run's weights (decoder normalised) and alphas.
    - ``mmcs.png``, ``dead_neurons.png``, ``ssll.png``, ``mmcs_larger.png`` (when ``plots``).

    With ``resume``, ratios whose results and weights are already in ``out_dir`` are not retrained
    (a different config there is a ValueError). ``threads`` is passed to :func:`train_sae`.
    Returns the results dict.
    """
    if not isinstance(config, SAESweepConfig):
        raise ValueError(f"config must be an SAESweepConfig, got {type(config).__name__}")
    try:
        out = Path(out_dir)
    except TypeError as exc:
        raise ValueError(f"out_dir must be a path, got {out_dir!r}") from exc
    dev = resolve_device(device)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    cfg = config.to_dict()
    cells: dict[int, dict] = {}
    if resume and results_path.is_file():
        old = read_json(results_path)
        if _as_config(old.get("config")) != cfg:
            raise ValueError(f"out_dir {str(out)!r} holds a sweep with a different config; use another "
                             f"directory or resume=False")
        for J, c in old.get("cells", {}).items():
            if (out / "dictionaries" / f"J{int(J)}.safetensors").is_file():
                cells[int(J)] = c
    data = ToyFeatureData(config.data, dev, config.dtype)
    save_weights(out / "ground_truth.safetensors", {"features": data.features})
    dictionaries: dict[int, torch.Tensor] = {}
    for J in config.dict_sizes:
        wpath = out / "dictionaries" / f"J{J}.safetensors"
        if J in cells:
            dictionaries[J] = load_weights(wpath)["decoder"].double()
            continue
        res = train_sae(data, config.train_config(J), progress=progress, threads=threads)
        D = res.model.dictionary().detach()
        save_weights(wpath, {"decoder": D, "encoder": res.model.W_e, "bias": res.model.b_e,
                             "alphas": res.model.alpha})
        dictionaries[J] = D.cpu().double()
        cells[J] = {k: v for k, v in res.metrics().items() if k not in ("seconds",)}
        cells[J]["seconds"] = res.seconds
        write_json(results_path, {"config": cfg, "cells": {str(k): v for k, v in cells.items()}})
    larger = mmcs_larger(dictionaries)
    for J in config.dict_sizes:
        cells[J]["mmcs_larger"] = larger[J].tolist()
    grids = {k: _grid(cells, k, config) for k in ("mmcs", "dead", "reconstruction", "l1", "mmcs_larger")}
    grids["ssll"] = ssll(grids["reconstruction"], grids["l1"]).tolist()
    results = {"config": cfg, "cells": {str(k): cells[k] for k in config.dict_sizes},
               "alphas": config.alphas, "ratios": config.ratios, "dict_sizes": config.dict_sizes,
               "grids": grids, "device": str(dev)}
    write_json(results_path, results)
    if plots:
        plot_sae_sweep(results, out)
    return results


def plot_sae_sweep(results: dict, out_dir) -> list[Path]:
    """Heatmaps (x: L1 coefficient, y: dictionary ratio) of a :func:`sae_sweep` result: mmcs.png,
    dead_neurons.png (capped at 100, as in the report), ssll.png and mmcs_larger.png."""
    if not isinstance(results, dict) or "grids" not in results:
        raise ValueError("results must be the dict returned by sae_sweep (with 'grids')")
    from matplotlib.figure import Figure  # a bare figure: no pyplot state, no backend chosen

    from .plots import save_figure

    out = Path(out_dir)
    alphas, ratios, grids = results["alphas"], results["ratios"], results["grids"]
    specs = [("mmcs", "MMCS with the ground truth", None, "viridis"),
             ("dead", "dead neurons (capped at 100)", 100, "magma"),
             ("ssll", "summed standardised log losses (SSLL)", None, "coolwarm"),
             ("mmcs_larger", "mean MMCS with larger dictionaries", None, "viridis")]
    paths = []
    for key, title, cap, cmap in specs:
        z = np.array(grids[key], dtype=np.float64)  # None (NaN in JSON) -> nan
        if cap is not None:
            z = np.minimum(z, cap)
        fig = Figure(figsize=(1.2 + 0.9 * len(alphas), 1.2 + 0.6 * len(ratios)))
        ax = fig.subplots()
        im = ax.imshow(z, origin="lower", aspect="auto", cmap=cmap)
        ax.set_xticks(range(len(alphas)), [f"{a:.3g}" for a in alphas], rotation=45)
        ax.set_yticks(range(len(ratios)), [f"{r:.3g}" for r in ratios])
        ax.set_xlabel("L1 coefficient alpha")
        ax.set_ylabel("dictionary ratio J / G")
        ax.set_title(title)
        for i in range(z.shape[0]):
            for j in range(z.shape[1]):
                if np.isfinite(z[i, j]):
                    ax.text(j, i, f"{z[i, j]:.2f}" if key != "dead" else f"{int(z[i, j])}", ha="center",
                            va="center", fontsize=7, color="w")
        fig.colorbar(im, ax=ax)
        name = "dead_neurons.png" if key == "dead" else f"{key}.png"
        paths.append(save_figure(fig, out / name))
    return paths


# ================================================================================================ interop
#: the file names of SAELens' on-disk format (a folder holding both)
SAELENS_CFG, SAELENS_WEIGHTS = "cfg.json", "sae_weights.safetensors"
#: the SAELens config format written (its version 6 layout)
SAELENS_FORMAT = "6.0.0"


def save_saelens(model: SparseAutoencoder, out_dir, instance: int = 0, *, hook_name: str = "toy",
                 model_name: str = "persian-rug toy data"):
    r"""Write instance ``instance`` of ``model`` in SAELens' on-disk format: ``cfg.json`` and
    ``sae_weights.safetensors`` with W_enc (h, J), W_dec (J, h), b_enc (J,), b_dec (h,), the standard
    architecture f = ReLU((x - b_dec) W_enc + b_enc), x_hat = f W_dec + b_dec.

    This model is c = ReLU(W_e x + b_e), x_hat = D_hat c with unit-norm columns and no decoder bias, so
    W_enc = W_e^T, W_dec = D_hat^T (rows of unit norm, as SAELens expects) and b_dec = 0: the two compute
    the same codes and reconstructions. The L1 coefficient and the sizes go in the config (``l1_coefficient``
    under ``metadata``). Returns the folder."""
    if not isinstance(model, SparseAutoencoder):
        raise ValueError(f"model must be a SparseAutoencoder, got {type(model).__name__}")
    instance = check_int(instance, "instance", low=0, high=model.instances - 1)
    out = Path(out_dir)
    with torch.no_grad():
        tensors = {"W_enc": model.W_e[instance].T.contiguous(),
                   "W_dec": model.dictionary()[instance].T.contiguous(),
                   "b_enc": model.b_e[instance].clone(),
                   "b_dec": torch.zeros(model.h, dtype=model.W_e.dtype)}
    # SAELens 6's layout: the sizes at the top, everything else under "metadata"; "sae_lens_version" there
    # marks the file as that format (without it SAELens reads the file as a pre-6.0 config and drops the
    # metadata). Loaded by SAELens 6.54.12's SAE.load_from_disk with the same codes and reconstructions
    # (checked by hand, docs/sae.md; tests/test_sae.py repeats it where sae_lens is installed).
    cfg = {"architecture": "standard", "d_in": model.h, "d_sae": model.J,
           "dtype": str(model.W_e.dtype).removeprefix("torch."), "device": "cpu",
           "apply_b_dec_to_input": True, "normalize_activations": "none", "reshape_activations": "none",
           "metadata": {"sae_lens_version": SAELENS_FORMAT, "hook_name": hook_name, "model_name": model_name,
                        "l1_coefficient": float(model.alpha[instance]),
                        "exported_by": "persian-rug numerics.sae.save_saelens"}}
    save_weights(out / SAELENS_WEIGHTS, {k: v.detach().cpu() for k, v in tensors.items()})
    write_json(out / SAELENS_CFG, cfg)
    return out


def load_saelens(sae_dir) -> SparseAutoencoder:
    """Read a standard SAELens SAE folder (``cfg.json`` + ``sae_weights.safetensors``) into a one-instance
    :class:`SparseAutoencoder`, so that numerics' metrics (MMCS, dead latents) apply to it. Refused (a
    ValueError naming the folder) for other architectures and for a nonzero b_dec, which this model has no
    place for.

    SAELens decodes with W_dec as it is, x_hat = f W_dec; this model decodes with unit-norm columns. ReLU is
    positively homogeneous, so the row norms n_j = |W_dec[j]| move into the encoder: W_e[j] = n_j W_enc[:, j],
    b_e[j] = n_j b_enc[j], D[:, j] = W_dec[j] / n_j. The reconstructions are SAELens' exactly, and the codes
    are SAELens' codes times n_j (codes for a unit-norm dictionary; the same when the rows are unit norm, as
    SAELens trains them). A zero row gives a latent that never fires."""
    d = Path(sae_dir)
    for name in (SAELENS_CFG, SAELENS_WEIGHTS):
        if not (d / name).is_file():
            raise ValueError(f"sae_dir {str(d)!r} has no {name}: not a SAELens SAE folder")
    cfg = read_json(d / SAELENS_CFG)
    if not isinstance(cfg, dict) or cfg.get("architecture", "standard") != "standard":
        raise ValueError(f"sae_dir {str(d)!r}: only the standard architecture can be read, got "
                         f"{cfg.get('architecture') if isinstance(cfg, dict) else cfg!r}")
    w = load_weights(d / SAELENS_WEIGHTS)
    missing = {"W_enc", "W_dec", "b_enc"} - set(w)
    if missing:
        raise ValueError(f"sae_dir {str(d)!r}: the weights lack {', '.join(sorted(missing))}")
    h, J = w["W_enc"].shape
    if tuple(w["W_dec"].shape) != (J, h) or tuple(w["b_enc"].shape) != (J,):
        raise ValueError(f"sae_dir {str(d)!r}: W_dec must be ({J}, {h}) and b_enc ({J},)")
    if "b_dec" in w and bool((w["b_dec"] != 0).any()):
        raise ValueError(f"sae_dir {str(d)!r}: b_dec is nonzero; this model has no decoder bias")
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    alpha = meta.get("l1_coefficient", cfg.get("l1_coefficient", 0.0))  # 6.x: in metadata; older: at the top
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha < 0:
        raise ValueError(f"sae_dir {str(d)!r}: l1_coefficient must be a finite number >= 0, got {alpha!r}")
    alpha = float(alpha)
    dtype = "float64" if w["W_enc"].dtype == torch.float64 else "float32"
    model = SparseAutoencoder(h, J, [alpha], dtype=dtype)
    norms = torch.linalg.vector_norm(w["W_dec"].double(), dim=1)
    scale = norms.to(w["W_enc"].dtype)
    with torch.no_grad():
        model.W_e.copy_((w["W_enc"] * scale).T[None])
        model.b_e.copy_((w["b_enc"] * scale)[None])
        dead = norms == 0
        model.b_e[0, dead] = -1.0  # no direction to decode: the latent never fires
        model.D.copy_(torch.where(dead[None, :], 1.0, w["W_dec"].T / torch.where(dead, 1.0, scale))[None])
    return model
