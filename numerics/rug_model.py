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

**Two ways to find (a, b)** (:func:`fit_rug`):

* ``"train"``: as the paper trains the Hadamard model (appendix G): Adam with learning rate
  0.3 / sqrt(n_s), batches of 512 fresh samples drawn on the device, stopped by the paper's rule (sec. 2:
  stop once the mean loss of the last 200 batches is no lower than the mean of the 200 before) or at
  ``max_steps``; the best of 5 random column sets S (lowest mean loss over the last window) is kept.
* ``"fit"``: deterministic. Draw N samples once, form the n_s N pairs (x_i, y_i) (each coordinate of each
  sample is one pair; all pairs share one law), and minimise the in-sample mean of (x - ReLU(a y + b))^2
  exactly (:class:`PairLoss`): after one sort of y the objective and its gradient cost O(log(n_s N)) per
  evaluation, a profile over the ReLU threshold finds the global basin, scipy's L-BFGS-B (analytic
  gradient) and Newton steps on the active quadratic piece polish it.

Both report the loss on fresh held-out samples with its standard error (:func:`heldout_loss`).
Everything is reproducible from one ``seed``; batches are processed in chunks of at most
``chunk_elems`` entries so that peak memory stays bounded at any n_s.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.optimize
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from ._validation import (
    check_int,
    check_positive,
    check_power_of_two,
    check_probability,
    check_real,
    resolve_device,
)
from .data import sample_features
from .rug import RugOperator, choose_columns

__all__ = [
    "PersianRugModel",
    "PairLoss",
    "RugFit",
    "RugFits",
    "fit_rug",
    "heldout_loss",
    "sample_pairs",
    "resolve_device",
    "rug_interference",
]

METHODS = ("both", "train", "fit")

#: Default number of pairs n_s * N drawn by the deterministic fit (2^23: the loss is quadratic near its
#: minimum, so the sampling error of (a, b) costs a second-order excess, far below the held-out SE).
FIT_PAIRS = 2**23
#: Default number of pairs n_s * N in the held-out evaluation.
EVAL_PAIRS = 2**22
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


def _feature_var(p: float) -> float:
    """Var x for x = Bernoulli(p) U[0, 1]: E x^2 - (E x)^2 = p/3 - p^2/4 = p(4 - 3p)/12."""
    return p * (4.0 - 3.0 * p) / 12.0


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
    return mean, math.sqrt(_feature_var(p) * (ratio - 1.0))


def _child_seeds(ss: np.random.SeedSequence) -> tuple[int, int]:
    """Two 63-bit integer seeds (columns S, data stream) from a SeedSequence."""
    s = ss.generate_state(2, dtype=np.uint64) >> np.uint64(1)
    return int(s[0]), int(s[1])


def _generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


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
    losses = per.cpu().numpy()
    mean = float(losses.mean())
    se = float(losses.std(ddof=1) / math.sqrt(n))
    return (mean, se, losses) if return_samples else (mean, se)


# ----------------------------------------------------------------------------------------------------
# the exact in-sample objective over pairs
# ----------------------------------------------------------------------------------------------------


def _suffix_sums(v: np.ndarray) -> np.ndarray:
    """out[k] = sum(v[k:]) in float64, out[len(v)] = 0 (summed from the end: no total-minus-prefix)."""
    out = np.zeros(v.size + 1, dtype=np.float64)
    if v.size:
        np.cumsum(v[::-1], dtype=np.float64, out=out[-2::-1])
    return out


class PairLoss:
    r"""The in-sample objective L(a, b) = M^{-1} sum_k (x_k - ReLU(a y_k + b))^2 over M pairs, exactly.

    For a > 0 the active set {k : a y_k + b > 0} is {y_k > t} with the threshold t = -b/a (for a < 0 it is
    {y_k < t}; for a = 0 all or nothing as b > 0 or not), so with the active sums S_1 (count), S_y, S_yy,
    S_x, S_xy and the total sum of x^2, X_2,

    .. math::  M L = X_2 - 2a S_{xy} - 2b S_x + a^2 S_{yy} + 2ab S_y + b^2 S_1,

    .. math::  M\,\partial_a L = 2(a S_{yy} + b S_y - S_{xy}),\qquad M\,\partial_b L = 2(a S_y + b S_1 - S_x).

    After one sort of y (pairs with x = 0, usually the majority, need no argsort, only their y values) the
    active sums are suffix sums read at a binary-search position: O(log M) per evaluation, in float64.
    L is piecewise quadratic and continuous; it is C^1 except where a pair with x != 0 crosses the
    threshold, and those kinks are concave (the slope drops by 2 x |y| / M), so minima lie inside pieces.

    Parameters: x, y array-likes of the same size (flattened; float64 internally, finite).
    """

    def __init__(self, x, y):
        x = np.asarray(x).ravel()
        y = np.asarray(y).ravel()
        if x.size != y.size:
            raise ValueError(f"x and y must have the same size, got {x.size} and {y.size}")
        if x.size == 0:
            raise ValueError("x must hold at least one pair")
        for name, v in (("x", x), ("y", y)):
            if not np.issubdtype(v.dtype, np.number) or np.iscomplexobj(v):
                raise ValueError(f"{name} must hold real numbers, got dtype {v.dtype}")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError("x and y must be finite")
        self.size = int(x.size)
        on = x != 0
        # group 0 (x = 0): only the sorted y are needed; group 1 (x != 0): y sorted with x carried along
        y0 = np.sort(y[~on]).astype(np.float64)
        y1 = y[on].astype(np.float64)
        x1 = x[on].astype(np.float64)
        order = np.argsort(y1, kind="stable")
        y1, x1 = y1[order], x1[order]
        del order
        self._y = (y0, y1)
        self._n = (y0.size, y1.size)
        self._sy = (_suffix_sums(y0), _suffix_sums(y1))
        self._syy = (_suffix_sums(np.square(y0)), _suffix_sums(np.square(y1)))
        self._sx = _suffix_sums(x1)
        self._sxy = _suffix_sums(x1 * y1)
        self.x2 = float(np.sum(np.square(x1)))
        self.y_min = float(min(y0[0] if y0.size else np.inf, y1[0] if y1.size else np.inf))
        self.y_max = float(max(y0[-1] if y0.size else -np.inf, y1[-1] if y1.size else -np.inf))
        self.x_mean = float(np.sum(x1) / self.size)

    # -- active sums ------------------------------------------------------------------------------

    def _gather(self, k0, k1, complement: bool):
        """Sums over indices >= k (or < k with ``complement``) of each group; k0, k1 arrays or ints."""
        n0, n1 = self._n
        if complement:
            out = [np.asarray(k0 + k1, dtype=np.float64)]
        else:
            out = [np.asarray((n0 - k0) + (n1 - k1), dtype=np.float64)]
        for arrs in (self._sy, self._syy):
            v = arrs[0][k0] + arrs[1][k1]
            if complement:
                v = (arrs[0][0] + arrs[1][0]) - v
            out.append(v)
        for arr in (self._sx, self._sxy):
            v = arr[k1]
            if complement:
                v = arr[0] - v
            out.append(v)
        return out  # S1, Sy, Syy, Sx, Sxy

    def sums_above(self, t):
        """(S_1, S_y, S_yy, S_x, S_xy) over the pairs with y > t (t scalar or array)."""
        k0 = np.searchsorted(self._y[0], t, side="right")
        k1 = np.searchsorted(self._y[1], t, side="right")
        return self._gather(k0, k1, False)

    def sums_below(self, t):
        """(S_1, S_y, S_yy, S_x, S_xy) over the pairs with y < t (t scalar or array)."""
        k0 = np.searchsorted(self._y[0], t, side="left")
        k1 = np.searchsorted(self._y[1], t, side="left")
        return self._gather(k0, k1, True)

    def _active(self, a: float, b: float):
        if a == 0.0:
            return self.sums_above(-np.inf) if b > 0 else [0.0] * 5
        with np.errstate(over="ignore", divide="ignore"):
            t = np.float64(-b) / np.float64(a)
        return self.sums_above(t) if a > 0 else self.sums_below(t)

    # -- objective --------------------------------------------------------------------------------

    def loss_and_grad(self, a: float, b: float) -> tuple[float, np.ndarray]:
        """(L(a, b), [dL/da, dL/db])."""
        a = float(a)
        b = float(b)
        s1, sy, syy, sx, sxy = (float(v) for v in self._active(a, b))
        m = self.size
        loss = (self.x2 - 2 * a * sxy - 2 * b * sx + a * a * syy + 2 * a * b * sy + b * b * s1) / m
        grad = np.array([2 * (a * syy + b * sy - sxy) / m, 2 * (a * sy + b * s1 - sx) / m])
        return max(loss, 0.0), grad

    def __call__(self, a: float, b: float) -> float:
        """L(a, b)."""
        return self.loss_and_grad(a, b)[0]

    def profile(self, t):
        r"""min over a >= 0 of L(a, -a t): the loss with the threshold fixed at t, and the minimising a.

        On the active set {y > t}: M L(a, -a t) = X_2 - 2a A + a^2 B with A = S_xy - t S_x,
        B = S_yy - 2t S_y + t^2 S_1 = sum (y - t)^2, so a* = max(A, 0)/B and M L* = X_2 - max(A, 0)^2/B.
        Returns (L*, a*) as arrays of t's shape.
        """
        t = np.asarray(t, dtype=np.float64)
        s1, sy, syy, sx, sxy = self.sums_above(t)
        A = np.maximum(sxy - t * sx, 0.0)
        B = np.maximum(syy - 2 * t * sy + t * t * s1, 0.0)
        pos = B > 0
        a_star = np.divide(A, B, out=np.zeros_like(A), where=pos)
        red = np.where(pos, A * a_star, 0.0)
        return np.maximum(self.x2 - red, 0.0) / self.size, a_star

    def _newton(self, a: float, b: float, loss: float, iters: int = 8):
        """Jump to the minimiser of the current active piece while that lowers L (exact on a piece)."""
        for _ in range(iters):
            s1, sy, syy, sx, sxy = (float(v) for v in self._active(a, b))
            det = syy * s1 - sy * sy
            if not det > 0:
                break
            na = (sxy * s1 - sx * sy) / det
            nb = (syy * sx - sy * sxy) / det
            nl = self(na, nb)
            if not nl < loss:
                break
            a, b, loss = na, nb, nl
        return a, b, loss

    def minimize(self, *, n_grid: int = 400, n_starts: int = 3):
        """The global minimiser of L: returns (a, b, loss, n_evaluations).

        1. The profile L*(t) (exact in a) on thresholds at log-spaced ranks from the top of each group's
           sorted y (from 1 active pair to all of them), plus t below every y (the affine fit).
        2. The best ``n_starts`` local minima of that profile are polished by scipy's L-BFGS-B on (a, b)
           with the analytic gradient, then by exact Newton steps on the active quadratic piece.
        3. The constant output a = 0, b = mean(x) (loss Var x) is a candidate too. a < 0 is never needed:
           it makes f decreasing in y while x and y are positively correlated (it is still evaluated
           correctly by the objective).
        """
        cands = [self.y_min - 1.0]
        for ys in self._y:
            if ys.size:
                ranks = np.unique(np.geomspace(1, ys.size, n_grid).astype(np.int64))
                cands.append(ys[ys.size - ranks])
        t = np.unique(np.concatenate([np.atleast_1d(c) for c in cands]))
        prof, a_prof = self.profile(t)
        # local minima of the profile along t (ends included), best first
        left = np.concatenate([[np.inf], prof[:-1]])
        right = np.concatenate([prof[1:], [np.inf]])
        idx = np.flatnonzero((prof <= left) & (prof <= right))
        idx = idx[np.argsort(prof[idx])][:n_starts]
        n_eval = t.size
        best = (0.0, max(self.x_mean, 0.0), self(0.0, max(self.x_mean, 0.0)))
        for i in idx:
            a0 = float(a_prof[i])
            b0 = -a0 * float(t[i])
            l0 = self(a0, b0)
            res = scipy.optimize.minimize(lambda v: self.loss_and_grad(v[0], v[1]), np.array([a0, b0]),
                                          jac=True, method="L-BFGS-B",
                                          options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 500})
            n_eval += int(res.nfev)
            a1, b1 = (float(res.x[0]), float(res.x[1]))
            l1 = self(a1, b1)
            if not l1 <= l0:
                a1, b1, l1 = a0, b0, l0
            a1, b1, l1 = self._newton(a1, b1, l1)
            if l1 < best[2]:
                best = (a1, b1, l1)
        return best[0], best[1], best[2], n_eval


# ----------------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------------


@dataclass
class RugFit:
    """(a, b) of a Persian Rug model found by one method, and its held-out loss.

    Fields
    ------
    method : "fit" (deterministic, :class:`PairLoss`) or "train" (Adam, the paper's recipe).
    n_s, n_d, r, p : the problem; r = n_d / n_s is the realised ratio (n_d = round(r_requested n_s)).
    a, b : the parameters of f(x) = ReLU(a R x + b).
    loss, loss_se : per-feature loss on ``n_eval`` fresh held-out samples, and its standard error
        (std of the per-sample losses / sqrt(n_eval)).
    n_eval : number of held-out samples.
    in_sample_loss : "fit": the minimised objective on its own samples; "train": the mean training loss of
        the last ``window`` batches (fresh samples each, so also an estimate of the loss).
    steps : "train": Adam steps of the kept run; "fit": objective evaluations of the search.
    n_samples : samples used to find (a, b) ("fit": N; "train": steps x batch).
    converged : "train": the stopping rule fired before max_steps; "fit": the search finished.
    nu_mean, sigma : mean and standard deviation of the interference (:func:`rug_interference`).
    b_eff : effective bias b + a nu_mean, the b of the macroscopic theory (eq. 5 with mean-zero nu).
    zero_in_S : whether the all-ones column 0 of H is in S (it sets nu_mean).
    seed : the root seed (int; fresh entropy is recorded here when none was given).
    s_seed : the seed that rebuilds S via ``choose_columns(n_s, n_d, seed=s_seed)`` (None if S was given).
    seconds : wall time of this method (including its held-out evaluation).
    device : where it ran.
    restarts : "train": one dict per restart (s_seed, data_seed, a, b, window_loss, steps, converged).
    S : the column set (numpy int64, n_d entries); left out of :meth:`as_dict` unless asked for.
    """

    method: str
    n_s: int
    n_d: int
    r: float
    p: float
    a: float
    b: float
    loss: float
    loss_se: float
    n_eval: int
    in_sample_loss: float
    steps: int
    n_samples: int
    converged: bool
    nu_mean: float
    sigma: float
    b_eff: float
    zero_in_S: bool
    seed: int
    s_seed: int | None
    seconds: float
    device: str
    restarts: list = field(default_factory=list)
    S: np.ndarray | None = field(default=None, repr=False)

    def as_dict(self, include_S: bool = False) -> dict:
        """A JSON-ready dict of the fields (S as a list only with ``include_S``: 2^18 ints at n_s = 2^20)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "S"}
        d["restarts"] = [dict(rs) for rs in self.restarts]
        if include_S:
            d["S"] = None if self.S is None else [int(v) for v in self.S]
        return d

    def rug(self) -> RugOperator:
        """The RugOperator these parameters belong to."""
        return RugOperator(self.n_s, self.n_d, S=self.S)

    def model(self) -> PersianRugModel:
        """A :class:`PersianRugModel` (CPU, float32) holding this rug and (a, b)."""
        return PersianRugModel(self.n_s, self.n_d, S=self.S, a_init=self.a, b_init=self.b)


@dataclass
class RugFits:
    """The two methods side by side (``method="both"``); both are evaluated on the same held-out x."""

    fit: RugFit
    train: RugFit

    @property
    def gap(self) -> float:
        """train.loss - fit.loss."""
        return self.train.loss - self.fit.loss

    @property
    def gap_se(self) -> float:
        """sqrt(se_fit^2 + se_train^2): conservative, the shared held-out x correlate the two losses."""
        return math.hypot(self.fit.loss_se, self.train.loss_se)

    def as_dict(self, include_S: bool = False) -> dict:
        return {"fit": self.fit.as_dict(include_S), "train": self.train.as_dict(include_S),
                "gap": self.gap, "gap_se": self.gap_se}


# ----------------------------------------------------------------------------------------------------
# the two methods
# ----------------------------------------------------------------------------------------------------


def _train_once(rug: RugOperator, p: float, data_seed: int, *, batch: int, lr: float, max_steps: int,
                window: int, dev: torch.device, rows: int, pbar_desc: str, progress: bool):
    """One Adam run of the paper's recipe; returns (model, steps, window_loss, converged)."""
    model = PersianRugModel(rug.n_s, rug.n_d, S=rug.S).to(dev)
    model.rug = rug  # share the operator (and its cached masks)
    gen = _generator(dev, data_seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n_s = rug.n_s
    rows = min(rows, batch)
    buf = torch.empty(rows, n_s, device=dev, dtype=torch.float32)
    hist = torch.zeros(max_steps, device=dev, dtype=torch.float64)
    scale = 1.0 / (batch * n_s)
    steps, converged, window_loss = 0, False, float("nan")
    bar = tqdm(total=max_steps, desc=pbar_desc, disable=not progress, leave=False)
    for step in range(max_steps):
        opt.zero_grad(set_to_none=False)
        for i0 in range(0, batch, rows):
            m = min(rows, batch - i0)
            xb = sample_features(m, n_s, p, generator=gen, out=buf[:m])
            loss = F.mse_loss(model(xb), xb, reduction="sum") * scale
            loss.backward()
            hist[step] += loss.detach()
        opt.step()
        steps = step + 1
        if steps % window == 0:
            # the only host synchronisation: once per window
            last = float(hist[steps - window:steps].mean())
            window_loss = last
            bar.update(window)
            bar.set_postfix(loss=f"{last:.6g}", a=f"{model.a.item():.4g}", b=f"{model.b.item():.4g}")
            if steps >= 2 * window:
                prev = float(hist[steps - 2 * window:steps - window].mean())
                if last >= prev:
                    converged = True
                    break
    bar.close()
    if not math.isfinite(window_loss):  # fewer than one window of steps (max_steps < window)
        window_loss = float(hist[:steps].mean())
    return model, steps, window_loss, converged


def _make_fit(method, rug, p, a, b, *, in_sample, steps, n_samples, converged, seed, s_seed, seconds, dev,
              n_eval, eval_seed, chunk_elems, restarts=()):
    t0 = time.perf_counter()
    loss, se = heldout_loss(rug, a, b, p, n_eval, generator=_generator(dev, eval_seed), device=dev,
                            chunk_elems=chunk_elems)
    seconds += time.perf_counter() - t0
    S = rug.S.numpy().copy()
    zero_in = bool(S.size and S[0] == 0)
    mu, sigma = rug_interference(rug.n_s, rug.n_d, p, zero_in)
    return RugFit(method=method, n_s=rug.n_s, n_d=rug.n_d, r=rug.n_d / rug.n_s, p=p, a=float(a), b=float(b),
                  loss=loss, loss_se=se, n_eval=n_eval, in_sample_loss=float(in_sample), steps=int(steps),
                  n_samples=int(n_samples), converged=bool(converged), nu_mean=mu, sigma=sigma,
                  b_eff=float(b) + float(a) * mu, zero_in_S=zero_in, seed=seed, s_seed=s_seed,
                  seconds=seconds, device=str(dev), restarts=list(restarts), S=S)


def fit_rug(n_s: int, r: float, p: float, *, method: str = "both", seed: int | None = None, S=None,
            n_samples: int | None = None, n_eval: int | None = None, n_restarts: int = 5, batch: int = 512,
            lr: float | None = None, max_steps: int = 20_000, window: int = 200, device="auto",
            chunk_elems: int | None = None, progress: bool = True):
    """Find (a, b) of the Persian Rug model at (n_s, r, p) by training, by a deterministic fit, or both.

    Parameters
    ----------
    n_s : number of features, a power of two (up to 2^20 and beyond; memory is bounded by chunking).
    r : compression ratio in (0, 1]; n_d = round(r n_s) must be >= 1.
    p : feature probability in (0, 1].
    method : "fit", "train" or "both" (returns :class:`RugFits`; otherwise a :class:`RugFit`).
    seed : root seed (int >= 0); None draws fresh entropy (recorded in the result). Every random stream
        (columns S, training and fitting samples, held-out samples) is derived from it by
        ``numpy.random.SeedSequence``; torch generators live on the device, so CPU and CUDA runs of one seed
        differ (each is reproducible on its own device).
    S : a fixed column set for every run (default: a random S per run, from the seed).
    n_samples : "fit": samples N drawn for the fit (default ceil(2^23 / n_s), at least 4).
    n_eval : held-out samples (default ceil(2^22 / n_s), at least 32).
    n_restarts, batch, lr, max_steps, window : "train": the paper's recipe (appendix G): the best of
        ``n_restarts`` runs (own S and data each), Adam with lr = 0.3 / sqrt(n_s) by default, batches of
        ``batch`` fresh samples, stop once the mean loss of the last ``window`` batches is no lower than the
        mean of the ``window`` before (checked every ``window`` steps), or after ``max_steps``.
    device : "auto" (CUDA when available, else CPU), "cpu", "cuda", ...
    chunk_elems : entries per chunk (rows x n_s) on hot paths (default 2^22 on CPU, 2^25 on CUDA).
    progress : show progress bars (the toolkit's one name for the switch: train, sweep and the CLIs use it).
    """
    n_s = check_power_of_two(n_s, "n_s")
    try:
        r_val = float(r)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"r must be a number in (0, 1], got {r!r}") from exc
    if isinstance(r, bool) or not (0.0 < r_val <= 1.0):
        raise ValueError(f"r must be in (0, 1], got {r!r}")
    n_d = int(round(r_val * n_s))
    if n_d < 1:
        raise ValueError(f"r = {r_val} gives n_d = round(r n_s) = 0 at n_s = {n_s}; r must be >= {0.5 / n_s:.3g}")
    p = check_probability(p, "p")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if seed is not None:
        seed = check_int(seed, "seed", low=0)
    if S is not None:
        S = choose_columns(n_s, n_d, S)
    if n_samples is not None:
        n_samples = check_int(n_samples, "n_samples", low=1)
    else:
        n_samples = max(4, -(-FIT_PAIRS // n_s))
    n_eval = check_int(n_eval, "n_eval", low=2) if n_eval is not None else max(32, -(-EVAL_PAIRS // n_s))
    n_restarts = check_int(n_restarts, "n_restarts", low=1)
    batch = check_int(batch, "batch", low=1)
    lr = 0.3 / math.sqrt(n_s) if lr is None else check_positive(lr, "lr")
    max_steps = check_int(max_steps, "max_steps", low=1)
    window = check_int(window, "window", low=1)
    dev = resolve_device(device)
    chunk_elems = _check_chunk(chunk_elems)
    progress = bool(progress)

    root = np.random.SeedSequence(seed)
    seed = int(root.entropy)
    fit_ss, eval_ss, *train_ss = root.spawn(2 + n_restarts)
    eval_seed = _child_seeds(eval_ss)[1]
    rows = _chunk_rows(n_s, chunk_elems, dev)
    out = {}

    if method in ("fit", "both"):
        t0 = time.perf_counter()
        s_seed, data_seed = _child_seeds(fit_ss)
        rug = RugOperator(n_s, n_d, S=S, seed=None if S is not None else s_seed)
        x, y = sample_pairs(rug, p, n_samples, generator=_generator(dev, data_seed), device=dev,
                            chunk_elems=chunk_elems, progress=progress)
        obj = PairLoss(x, y)
        del x, y
        a, b, in_sample, n_fev = obj.minimize()
        del obj
        out["fit"] = _make_fit("fit", rug, p, a, b, in_sample=in_sample, steps=n_fev, n_samples=n_samples,
                               converged=True, seed=seed, s_seed=None if S is not None else s_seed,
                               seconds=time.perf_counter() - t0, dev=dev, n_eval=n_eval, eval_seed=eval_seed,
                               chunk_elems=chunk_elems)

    if method in ("train", "both"):
        t0 = time.perf_counter()
        runs = []
        best = None
        for k, ss in enumerate(train_ss):
            s_seed, data_seed = _child_seeds(ss)
            rug = RugOperator(n_s, n_d, S=S, seed=None if S is not None else s_seed)
            model, steps, wl, conv = _train_once(rug, p, data_seed, batch=batch, lr=lr, max_steps=max_steps,
                                                 window=window, dev=dev, rows=rows,
                                                 pbar_desc=f"train {k + 1}/{n_restarts}", progress=progress)
            info = {"s_seed": None if S is not None else s_seed, "data_seed": data_seed,
                    "a": float(model.a.item()), "b": float(model.b.item()), "window_loss": wl,
                    "steps": steps, "converged": conv}
            runs.append(info)
            if best is None or wl < best[0]["window_loss"]:
                best = (info, rug)
        info, rug = best
        out["train"] = _make_fit("train", rug, p, info["a"], info["b"], in_sample=info["window_loss"],
                                 steps=info["steps"], n_samples=info["steps"] * batch,
                                 converged=info["converged"], seed=seed, s_seed=info["s_seed"],
                                 seconds=time.perf_counter() - t0, dev=dev, n_eval=n_eval,
                                 eval_seed=eval_seed, chunk_elems=chunk_elems, restarts=runs)

    if method == "both":
        return RugFits(fit=out["fit"], train=out["train"])
    return out[method]
