"""The sparse autoencoder (:class:`SparseAutoencoder`), K instances trained side by side in batched
matmuls, and its per-batch losses (:class:`SAELosses`).

    c = ReLU(W_e x + b_e)  (J),   x_hat = D_hat c,   D_hat_j = D_j / ||D_j||  (unit columns, forward pass)
    L = (1/h) ||x - x_hat||^2 + (alpha / J) ||c||_1, averaged over the batch. Orthogonal initialisation
    of D and of W_e, b_e = 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validation import check_int, check_real
from .config import _check_dtype

_INIT_SEED_OFFSET = 0x5AE0_0000_0003  # autoencoder initialisation


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
