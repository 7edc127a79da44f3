r"""The Persian Rug matrix (paper sec. 4.2.2, appendix F): dense, and as a fast operator.

With H the Sylvester Hadamard matrix of order n_s (entries +-1) and S a set of n_d of its columns,

.. math::  R = n_d^{-1} H_{:,S} H_{:,S}^\top,\qquad R_{ij} = n_d^{-1}\sum_{k\in S} H_{ik}H_{jk}.

Properties (proved in docs/numerics.md): R_ii = 1; sum_{j != i} R_ij^2 = n_s/n_d - 1 for every row;
R^2 = (n_s/n_d) R, so r R (r = n_d/n_s) is the orthogonal projector onto span H_{:,S} -- the paper's
"R^2 = R" (eq. 45) is wrong by the factor n_s/n_d. Because H_ik H_jk = H_{i xor j, k}, R_ij depends
only on i xor j: every row is a permutation of the first, R_ij = g(i xor j) with g = n_d^{-1} H 1_S.

S is 0-based here (column 0 of H is the all-ones vector). Whether 0 is in S matters for the row sums:
sum_j R_ij = n_s/n_d if 0 in S, else 0.
"""

from __future__ import annotations

import numpy as np
import torch

from ._validation import check_int, check_power_of_two, check_seed
from .hadamard import check_backend, fwht, hadamard, hadamard_sandwich

__all__ = ["RugOperator", "rug_matrix", "choose_columns"]


def choose_columns(n_s: int, n_d: int, S=None, seed=None) -> torch.Tensor:
    """The column set S as a sorted int64 tensor: validated if given, else n_d of range(n_s) at random.

    seed: an int (or None for fresh entropy) for :func:`numpy.random.default_rng`.
    """
    n_s = check_power_of_two(n_s, "n_s")
    n_d = check_int(n_d, "n_d", low=1, high=n_s)
    if S is None:
        rng = np.random.default_rng(check_seed(seed))
        idx = np.sort(rng.choice(n_s, size=n_d, replace=False))
    else:
        idx = np.asarray(S.cpu() if isinstance(S, torch.Tensor) else S)
        if idx.ndim != 1 or idx.size != n_d:
            raise ValueError(f"S must be a 1-D set of n_d = {n_d} column indices, got shape {idx.shape}")
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"S must hold integers, got dtype {idx.dtype}")
        idx = np.sort(idx.astype(np.int64))
        if idx.size and (idx[0] < 0 or idx[-1] >= n_s):
            raise ValueError(f"S must hold indices in [0, {n_s - 1}], got {idx[0] if idx[0] < 0 else idx[-1]}")
        if np.any(np.diff(idx) == 0):
            raise ValueError("S must hold distinct indices")
    return torch.from_numpy(idx.astype(np.int64))


def rug_matrix(n_s: int, n_d: int, S=None, seed=None, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """The dense n_s x n_s Persian Rug matrix R = n_d^-1 H[:, S] H[:, S]^T (O(n_s^2 n_d) work)."""
    cols = choose_columns(n_s, n_d, S, seed)
    hs = hadamard(n_s, dtype=torch.float64)[:, cols]
    return (hs @ hs.T / cols.numel()).to(dtype=dtype, device=device)


class RugOperator:
    r"""The Persian Rug R = n_d^-1 H_S H_S^T applied in O(n_s log n_s) through :func:`fwht`.

    ``apply(x)`` computes R x over the last dimension of any batch: H_S^T x is (H x)[S], so
    R x = n_d^{-1} H (1_S * (H x)) -- two transforms and a mask. Differentiable in x.

    Attributes: n_s, n_d, r = n_d / n_s, S (sorted 0-based column indices, int64 tensor).
    """

    def __init__(self, n_s: int, n_d: int, S=None, seed=None):
        self.n_s = check_power_of_two(n_s, "n_s")
        self.n_d = check_int(n_d, "n_d", low=1, high=self.n_s)
        self.S = choose_columns(self.n_s, self.n_d, S, seed)
        self._masks: dict = {}

    @property
    def r(self) -> float:
        return self.n_d / self.n_s

    def __repr__(self) -> str:
        return f"RugOperator(n_s={self.n_s}, n_d={self.n_d})"

    def mask(self, dtype=torch.float32, device=None) -> torch.Tensor:
        """The indicator 1_S of length n_s (cached per dtype and device)."""
        key = (dtype, str(torch.device(device) if device is not None else torch.device("cpu")))
        m = self._masks.get(key)
        if m is None:
            m = torch.zeros(self.n_s, dtype=dtype)
            m[self.S] = 1.0
            m = m.to(device) if device is not None else m
            self._masks[key] = m
        return m

    def apply(self, x: torch.Tensor, *, out: torch.Tensor | None = None, backend: str = "auto") -> torch.Tensor:
        """R x over the last dimension (which must be n_s); any leading batch shape.

        Without autograd (x needs no gradient, or under ``torch.no_grad()``) the two transforms are
        fused chunk by chunk and the result goes into ``out`` if given (a contiguous tensor of x's shape,
        dtype and device that shares no storage with x): a loop that reuses ``out`` touches no fresh memory. When x
        needs a gradient the product is built from :func:`fwht` and is differentiable (``out`` is then
        refused). backend: as for :func:`fwht`; with "auto" (default) where the optional package fht_cpu
        is installed, or "fht_cpu", the compiled kernel transforms ``out`` in place (CPU float32/float64),
        the fastest path on a CPU; "torch" keeps the pure-torch transforms."""
        check_backend(backend)
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise ValueError("x must be a floating-point torch.Tensor")
        if x.ndim == 0 or x.shape[-1] != self.n_s:
            raise ValueError(f"x must have last dimension n_s = {self.n_s}, got shape {tuple(x.shape)}")
        if torch.is_grad_enabled() and x.requires_grad:
            if out is not None:
                raise ValueError("out must be None when x requires a gradient")
            y = fwht(x, backend=backend)  # a new tensor: scaled in place, no extra (page-faulting) allocation
            y.mul_(self.mask(x.dtype, x.device) / self.n_d)
            return fwht(y, backend=backend)
        if isinstance(out, torch.Tensor) and out.untyped_storage().data_ptr() == x.untyped_storage().data_ptr():
            raise ValueError("out must not share memory with x")
        return hadamard_sandwich(x.contiguous(), self.mask(x.dtype, x.device) / self.n_d, out=out,
                                 backend=backend)

    __call__ = apply

    def first_row(self, dtype=torch.float64, device=None) -> torch.Tensor:
        """g = R[0, :] = n_d^-1 H 1_S; every entry of R is R_ij = g[i xor j]."""
        return fwht(self.mask(dtype, device)) / self.n_d

    def dense(self, dtype=torch.float32, device=None) -> torch.Tensor:
        """The dense matrix R (n_s x n_s), built from the first row by the xor structure."""
        g = self.first_row(torch.float64)
        i = torch.arange(self.n_s)
        return g[i[:, None] ^ i[None, :]].to(dtype=dtype, device=device)

    def factors(self, dtype=torch.float32, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(W_in, W_out) of shapes (n_d, n_s) and (n_s, n_d) with W_out @ W_in == R.

        The symmetric split W_in = n_d^-1/2 H[:, S]^T, W_out = W_in^T (entries +-n_d^-1/2).
        """
        hs = hadamard(self.n_s, dtype=torch.float64)[:, self.S] / np.sqrt(self.n_d)
        return hs.T.contiguous().to(dtype=dtype, device=device), hs.contiguous().to(dtype=dtype, device=device)
