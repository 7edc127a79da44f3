r"""The Persian Rug model (paper sec. 4.2.2, appendix G) and its two remaining parameters a and b.

The model is the toy autoencoder of eq. 1 with the weight matrix fixed to a multiple of a Persian Rug
matrix R (see :mod:`numerics.rug`) and the bias fixed to a multiple of the all-ones vector:

.. math::  f(x) = \mathrm{ReLU}(a\,R x + b\,\mathbf 1),\qquad
           L(a, b) = n_s^{-1}\,\mathbb E\,\lVert x - f(x)\rVert^2 .

Only the scalars a and b are free. R is applied through the fast Walsh–Hadamard transform
(:meth:`RugOperator.apply`), never as a dense matrix: ``fit_rug`` at n_s = 2^20 peaks under 1 GB.

**Interference.** With y = R x and R_ii = 1, y_i = x_i + nu_i where nu_i = sum_{j != i} R_ij x_j has

* mean  E nu_i = (p/2) (sum_j R_ij - 1) = (p/2) (n_s/n_d [0 in S] - 1)  (row sums of R are n_s/n_d when
  column 0 of H, the all-ones column, is in S, and 0 otherwise), the same for every i;
* standard deviation  sigma = sqrt(Var x (n_s/n_d - 1)),  Var x = p(4 - 3p)/12,

so f(x)_i = ReLU(a (x_i + nu'_i) + b_eff) with the centred nu'_i = nu_i - E nu_i and the *effective bias*
b_eff = b + a E nu_i (the convention of DESIGN.md). These are the numbers to hand to the theory.

**Where the rest lives.** Finding (a, b), by training or by an exact fit, is :mod:`numerics.rug_fit`
(:func:`fit_rug`, its config :class:`RugFitConfig`, the results :class:`RugFit` and :class:`RugFits`); the
exact in-sample objective over pairs is :class:`numerics.objectives.PairLoss`. Both are re-exported here,
so ``numerics.rug_model.fit_rug`` and ``numerics.rug_model.PairLoss`` keep working. Batches are processed
in chunks of at most ``chunk_elems`` entries so that peak memory stays bounded at any n_s.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from ._validation import (
    check_int,
    check_power_of_two,
    check_probability,
    check_real,
    resolve_device,
)
from .core import MeanSE
from .data import sample_features
from .law import feature_var
from .objectives import PairLoss
from .rug import RugOperator

__all__ = [
    "PersianRugModel",
    "PairLoss",
    "RugFit",
    "RugFitConfig",
    "RugFits",
    "fit_rug",
    "fit_rug_config",
    "heldout_loss",
    "sample_pairs",
    "resolve_device",
    "rug_interference",
]

#: Default chunk sizes (entries of a (rows, n_s) block): 16 MB of float32 on the CPU, 128 MB on a GPU.
CHUNK_ELEMS_CPU = 2**22
CHUNK_ELEMS_CUDA = 2**25


# ----------------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------------


def _chunk_rows(n_s: int, chunk_elems: int | None, device: torch.device) -> int:
    if chunk_elems is None:
        chunk_elems = CHUNK_ELEMS_CUDA if device.type == "cuda" else CHUNK_ELEMS_CPU
    return max(1, int(chunk_elems) // n_s)


def _check_chunk(chunk_elems):
    return None if chunk_elems is None else check_int(chunk_elems, "chunk_elems", low=1)


def rug_interference(n_s: int, n_d: int, p: float, zero_in_S: bool) -> tuple[float, float]:
    """(E nu, sigma) of the interference nu_i = sum_{j != i} R_ij x_j of a Persian Rug.

    E nu = (p/2)(n_s/n_d [0 in S] - 1); sigma = sqrt(Var x (n_s/n_d - 1)) (a standard deviation), exact
    for every row i (R_ij = g(i xor j) and sum_{j != i} R_ij^2 = n_s/n_d - 1).
    """
    n_s = check_power_of_two(n_s, "n_s")
    n_d = check_int(n_d, "n_d", low=1, high=n_s)
    p = check_probability(p, "p")
    ratio = n_s / n_d
    mean = 0.5 * p * ((ratio if zero_in_S else 0.0) - 1.0)
    return mean, math.sqrt(feature_var(p) * (ratio - 1.0))


# ----------------------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------------------


class PersianRugModel(nn.Module):
    r"""f(x) = ReLU(a R x + b) with a fixed Persian Rug R and learnable scalars a and b.

    Parameters
    ----------
    n_s : number of sparse features, a power of two.
    n_d : hidden dimension (rank of R), 1 <= n_d <= n_s.
    S, seed : the column set of R, as for :class:`RugOperator` (given, or n_d columns drawn with
        numpy ``default_rng(seed)``).
    a_init, b_init : initial values of the parameters. Defaults **a = 1, b = 0**: W = a R then has unit
        diagonal (W_ii = 1) and zero bias, i.e. the model starts as ReLU(R x), the rug's own
        reconstruction (R x = x + nu), and training moves (a, b) from there.
    dtype : dtype of the two parameters (float32; ``.double()`` converts as for any module).

    ``forward(x)`` maps (..., n_s) to (..., n_s) through two fast Walsh–Hadamard transforms; it is
    differentiable in a, b (and x). It processes what it is given in one piece: for huge batches use
    :func:`heldout_loss` or the chunked loops of :func:`fit_rug`.
    """

    def __init__(self, n_s: int, n_d: int, S=None, seed=None, *, a_init: float = 1.0, b_init: float = 0.0,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        self.rug = RugOperator(n_s, n_d, S=S, seed=seed)
        for name, v in (("a_init", a_init), ("b_init", b_init)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.a = nn.Parameter(torch.tensor(float(a_init), dtype=dtype))
        self.b = nn.Parameter(torch.tensor(float(b_init), dtype=dtype))

    @property
    def n_s(self) -> int:
        return self.rug.n_s

    @property
    def n_d(self) -> int:
        return self.rug.n_d

    @property
    def S(self) -> Tensor:
        """The sorted 0-based column indices of the rug (CPU int64)."""
        return self.rug.S

    def extra_repr(self) -> str:
        return f"n_s={self.n_s}, n_d={self.n_d}, a={self.a.item():.6g}, b={self.b.item():.6g}"

    def forward(self, x: Tensor) -> Tensor:
        """ReLU(a R x + b) over the last dimension of x (which must be n_s)."""
        y = self.rug.apply(x)
        return torch.relu(torch.addcmul(self.b.to(y.dtype), self.a.to(y.dtype), y))

    def loss(self, x: Tensor) -> Tensor:
        """The per-feature mean loss of a batch, mean over entries of (x - f(x))^2."""
        return F.mse_loss(self(x), x)


# ----------------------------------------------------------------------------------------------------
# data: pairs (x_i, (R x)_i) and held-out evaluation
# ----------------------------------------------------------------------------------------------------


@torch.no_grad()
def sample_pairs(rug: RugOperator, p: float, n_samples: int, *, generator: torch.Generator | None = None,
                 device="auto", chunk_elems: int | None = None, progress: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """n_samples fresh samples x and y = R x, returned flattened as two float32 numpy arrays.

    Entry k = s n_s + i of the result is the pair (x_i, y_i) of sample s. Samples are drawn on ``device``
    (from ``generator``, which must live there) in chunks of at most ``chunk_elems`` entries.
    """
    if not isinstance(rug, RugOperator):
        raise ValueError(f"rug must be a RugOperator, got {type(rug).__name__}")
    p = check_probability(p, "p")
    n = check_int(n_samples, "n_samples", low=1)
    dev = resolve_device(device)
    rows = min(n, _chunk_rows(rug.n_s, _check_chunk(chunk_elems), dev))
    n_s = rug.n_s
    xs = np.empty(n * n_s, dtype=np.float32)
    ys = np.empty(n * n_s, dtype=np.float32)
    buf = torch.empty(rows, n_s, device=dev, dtype=torch.float32)
    for i0 in tqdm(range(0, n, rows), disable=not progress, desc="pairs", leave=False):
        m = min(rows, n - i0)
        xb = sample_features(m, n_s, p, generator=generator, out=buf[:m])
        yb = rug.apply(xb)
        xs[i0 * n_s:(i0 + m) * n_s] = xb.reshape(-1).cpu().numpy()
        ys[i0 * n_s:(i0 + m) * n_s] = yb.reshape(-1).cpu().numpy()
        del yb
    return xs, ys


@torch.no_grad()
def heldout_loss(rug: RugOperator, a: float, b: float, p: float, n_samples: int, *,
                 generator: torch.Generator | None = None, device="auto", chunk_elems: int | None = None,
                 return_samples: bool = False):
    r"""The loss of ReLU(a R x + b) on ``n_samples`` fresh samples, with its standard error.

    Each sample s gives l_s = n_s^{-1} sum_i (x_i - f(x)_i)^2 (accumulated in float64); the result is
    (mean_s l_s, std_s l_s / sqrt(N)) with the sample standard deviation (ddof = 1, so N >= 2).
    With ``return_samples`` the per-sample losses (float64 numpy array) are returned as a third item.

    Order of draws (as in :func:`sample_pairs`): chunk after chunk of ``rows = max(1, chunk_elems // n_s)``
    samples (the last one shorter), each ``sample_features(rows, n_s, p, generator=generator)``. The
    sampler's stream may depend on the chunk shape, so a seed reproduces a result for one chunk size.
    """
    if not isinstance(rug, RugOperator):
        raise ValueError(f"rug must be a RugOperator, got {type(rug).__name__}")
    a = check_real(a, "a")
    b = check_real(b, "b")
    p = check_probability(p, "p")
    n = check_int(n_samples, "n_samples", low=2)
    dev = resolve_device(device)
    n_s = rug.n_s
    rows = min(n, _chunk_rows(n_s, _check_chunk(chunk_elems), dev))
    buf = torch.empty(rows, n_s, device=dev, dtype=torch.float32)
    per = torch.empty(n, device=dev, dtype=torch.float64)
    for i0 in range(0, n, rows):
        m = min(rows, n - i0)
        xb = sample_features(m, n_s, p, generator=generator, out=buf[:m])
        f = rug.apply(xb)
        f.mul_(a).add_(b).clamp_(min=0.0).sub_(xb).square_()
        torch.sum(f, dim=1, dtype=torch.float64, out=per[i0:i0 + m])
        del f
    per.div_(n_s)
    acc = MeanSE()
    acc.add(per)
    mean, se = acc.result()
    return (mean, se, per.cpu().numpy()) if return_samples else (mean, se)


# fitting (a, b) lives in rug_fit, which imports this module: so its re-export comes last
from .rug_fit import RugFit, RugFitConfig, RugFits, fit_rug, fit_rug_config  # noqa: E402
