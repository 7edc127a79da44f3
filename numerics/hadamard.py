r"""Sylvester Hadamard matrices and the fast Walsh–Hadamard transform.

The Sylvester matrix of order n = 2^k has entries H_ij = (-1)^{popcount(i & j)} (0-based indices);
it is symmetric and H H = n I. :func:`fwht` multiplies by it in O(n log n):
``fwht(x, dim=-1) == x @ hadamard(n)`` (= H x for each vector, H being symmetric), unnormalised.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from ._validation import check_power_of_two

__all__ = ["hadamard", "fwht"]


def hadamard(n: int, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """The n x n Sylvester Hadamard matrix (entries +-1, H = H^T, H H = n I) as a torch tensor.

    n must be a power of two. Built by :func:`scipy.linalg.hadamard`.
    """
    n = check_power_of_two(n, "n")
    return torch.as_tensor(scipy.linalg.hadamard(n, dtype=np.int8), device=device).to(dtype)


def _fwht_lastdim(x: torch.Tensor) -> torch.Tensor:
    """H x over the last dimension of a tensor; returns a new tensor (x is not modified)."""
    n = x.shape[-1]
    y = x.reshape(-1, n).clone()
    h = 1
    while h < n:
        v = y.view(-1, n // (2 * h), 2, h)
        top = v[:, :, 0, :].clone()
        v[:, :, 0, :] += v[:, :, 1, :]
        v[:, :, 1, :].neg_().add_(top)
        h *= 2
    return y.view(x.shape)


class _FWHT(torch.autograd.Function):
    # H is symmetric, so the vector-Jacobian product of y = H x is H g: the backward is the forward.
    @staticmethod
    def forward(ctx, x):
        return _fwht_lastdim(x)

    @staticmethod
    def backward(ctx, grad):
        return _FWHT.apply(grad)


def fwht(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""The unnormalised fast Walsh–Hadamard transform along ``dim``: ``x @ hadamard(n)`` in O(n log n).

    y_i = \sum_j H_ij x_j with H the Sylvester matrix of order n = x.shape[dim], a power of two.
    Works for float32 and float64 tensors on any device, is differentiable (the backward pass is the
    same transform, H being symmetric), and returns a new tensor. Applying it twice multiplies by n.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension")
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"dim must be in [{-x.ndim}, {x.ndim - 1}], got {dim}")
    check_power_of_two(x.shape[dim], f"x.shape[{dim}]")
    moved = dim not in (-1, x.ndim - 1)
    if moved:
        x = x.movedim(dim, -1)
    y = _FWHT.apply(x.contiguous())
    return y.movedim(-1, dim) if moved else y
