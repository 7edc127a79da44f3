r"""The toy data of the report (:class:`ToyFeatureData`, configured by :class:`SAEDataConfig`) and the
seed offsets of its data streams.

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
"""

from __future__ import annotations

import math

import torch

from .._validation import check_int, resolve_device
from .config import SAEDataConfig, _check_dtype

_SAMPLE_SEED_OFFSET = 0x5AE0_0000_0001  # the training data stream
_EVAL_SEED_OFFSET = 0x5AE0_0000_0002  # held-out samples for the final losses


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
