r"""The optimal macroscopic parameters a and b (appendix B) and the optimal loss L*(p, r).

Appendix B writes the bias as a * beta. For a > 0, ReLU(a y + a beta) = a ReLU(y + beta), so at fixed
threshold beta the loss E[(x - a R)^2] with R = ReLU(x + nu + beta) is a quadratic in a, minimised by

.. math::  a^*(\beta) = \frac{\mathbb{E}[x R]}{\mathbb{E}[R^2]},\qquad
           \mathbb{E}[xR] = p\,\sigma\!\int_0^1 u\,\psi_1\!\Big(\frac{u+\beta}{\sigma}\Big)du,\quad
           \mathbb{E}[R^2] = (1-p)\sigma^2\psi_2(\beta/\sigma) + p\,\sigma^2\!\int_0^1
                             \psi_2\!\Big(\frac{u+\beta}{\sigma}\Big)du

(eq. 13). What remains is a one-dimensional minimisation of the profile
ell(beta) = L(a*(beta), a*(beta) beta, sigma; p) over the threshold; :func:`optimal_loss` runs it
vectorised over whole grids of (p, r): a grid search in gamma = beta / sigma followed by a golden-section
refinement, all points at once. a < 0 is never optimal (it reverses the signal) and a = 0 gives
Var(x), the beta -> +infinity end of the profile, which the linear model reaches.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ._numeric import broadcast, on_term, tail_pieces
from ._validation import check_p, check_r, check_real, check_sigma, scalar_or_array
from .bounds import welch_sigma
from .loss import relu_output_moments

__all__ = ["OptimalAB", "optimal_a", "optimal_ab", "optimal_loss"]

# Thresholds searched, in units of sigma: a linear grid on [-40, 8) (below -40 sigma an off feature
# never fires, and the optimum is never there for p >= 1e-300), then geometric from 8 to far above
# the noise, where the model is affine and its loss tends to the linear one from above.
_GAMMA_LINEAR = np.arange(-40.0, 8.0, 1.0)
_GAMMA_KNEE = 8.0
_GEOMETRIC_POINTS = 12
_GOLDEN_STEPS = 36
_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0


def _a_star(beta, sigma, p, pieces=None):
    """a*(beta) of eq. 13 on flat float arrays; 0 where the ReLU never fires (E R^2 = 0).

    Also returns E[(beta + sigma N)_+^2] (the off-feature output's second moment).
    """
    mu, sq, e_off = relu_output_moments(np.ones_like(beta), beta, sigma, pieces)
    num = p * mu
    den = (1.0 - p) * e_off + p * sq
    positive = den > 0
    return np.where(positive, num / np.where(positive, den, 1.0), 0.0), e_off


def _profile(gamma, sigma, p):
    """ell(beta = gamma sigma): the loss at threshold beta with a at its optimum. Returns (loss, a).

    The tail integrals along u are those of (1, beta, sigma) for every a > 0 (they depend on
    z = (u + beta) / sigma only), so they are computed once and serve both a* and the loss; with
    a = a*, L_off = a^2 E[(beta + sigma N)_+^2].
    """
    beta = gamma * sigma
    pieces = tail_pieces(np.ones_like(beta), beta, sigma)
    a, e_off = _a_star(beta, sigma, p, pieces)
    l_on = on_term(a, a * beta, a * sigma, pieces)
    return (1.0 - p) * a * a * e_off + p * l_on, a


def _minimise_profile(sigma, p):
    """Vectorised minimisation of the profile over gamma for flat arrays sigma > 0 and p.

    Returns (loss, a, b) at the optimum.
    """
    n = sigma.size
    # Far above the noise the optimum threshold tends to E x (Var x + sigma^2) / Var x, where the
    # affine model's intercept is right: the geometric part of the grid reaches 10x past it.
    # ex (var + sigma^2) / (var sigma) written as (ex / var) (var / sigma + sigma): var sigma underflows to 0
    # for p near 1e-300 with a small sigma, while ex / var = 6 / (4 - 3p) does not
    gamma_top = np.maximum(1e4, 10.0 * (6.0 / (4.0 - 3.0 * p)) * (p * (4.0 - 3.0 * p) / 12.0 / sigma + sigma))
    steps = np.linspace(0.0, 1.0, _GEOMETRIC_POINTS)[None, :]
    grid = np.concatenate(
        [np.broadcast_to(_GAMMA_LINEAR, (n, _GAMMA_LINEAR.size)), _GAMMA_KNEE * (gamma_top[:, None] / _GAMMA_KNEE) ** steps],
        axis=1,
    )
    k = grid.shape[1]
    losses = _profile(grid.ravel(), np.repeat(sigma, k), np.repeat(p, k))[0].reshape(n, k)
    best = np.argmin(losses, axis=1)
    rows = np.arange(n)
    lo = grid[rows, np.maximum(best - 1, 0)]
    hi = grid[rows, np.minimum(best + 1, k - 1)]
    # golden-section search on [lo, hi], all points at once
    x1 = hi - _INV_PHI * (hi - lo)
    x2 = lo + _INV_PHI * (hi - lo)
    f1 = _profile(x1, sigma, p)[0]
    f2 = _profile(x2, sigma, p)[0]
    for _ in range(_GOLDEN_STEPS):
        left = f1 <= f2
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        x2_new = np.where(left, x1, lo + _INV_PHI * (hi - lo))
        x1_new = np.where(left, hi - _INV_PHI * (hi - lo), x2)
        x1, x2 = x1_new, x2_new
        probe = np.where(left, x1, x2)
        f_probe = _profile(probe, sigma, p)[0]
        f1, f2 = np.where(left, f_probe, f2), np.where(left, f1, f_probe)
    candidates = np.stack([x1, x2, grid[rows, best]])
    values = np.stack([f1, f2, losses[rows, best]])
    pick = np.argmin(values, axis=0)
    gamma = candidates[pick, rows]
    loss, a = _profile(gamma, sigma, p)
    return loss, a, a * gamma * sigma


def optimal_a(b, sigma, p):
    r"""The optimal diagonal a for a fixed threshold b, eq. 13 of appendix B.

    **b here is appendix B's b: the threshold in units of the signal** (the model's bias is a * b),
    because only then is the loss quadratic in a:

        a_opt = E[x ReLU(x + nu + b)] / E[ReLU(x + nu + b)^2],

    x = Bernoulli(p) U[0, 1], nu ~ N(0, sigma^2). The model with diagonal a_opt and bias a_opt * b has
    the least loss among all models with that threshold. Where ReLU(x + nu + b) is identically zero
    (sigma = 0 and b <= -1) every a gives the same loss and 0 is returned. Broadcasts; evaluated in
    closed form.
    """
    b = check_real(b, "b")
    sigma = check_sigma(sigma, "sigma")
    p = check_p(p, "p")
    shape, (b, sigma, p) = broadcast(b, sigma, p)
    return scalar_or_array(_a_star(b, sigma, p)[0].reshape(shape))


@dataclass(frozen=True)
class OptimalAB:
    """The optimum of the macroscopic loss at fixed p and sigma.

    Attributes: a (the diagonal), b (the model's bias, the b of eq. 5), sigma (standard deviation of
    the interference), loss (L at the optimum), p, and r (None when sigma was given directly).
    """

    a: float
    b: float
    sigma: float
    loss: float
    p: float
    r: float | None = None

    @property
    def threshold(self) -> float:
        """b / a: where the ReLU opens, in units of the signal (appendix B's b)."""
        return self.b / self.a if self.a != 0 else math.inf

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON)."""
        return asdict(self)


def optimal_ab(p, r=None, *, sigma=None) -> OptimalAB:
    r"""Minimise the macroscopic loss L(a, b, sigma; p) over a and b at one point.

    sigma defaults to the Welch minimum :func:`theory.welch_sigma(p, r) <theory.welch_sigma>`, the
    interference of a Persian rug with ratio r; pass ``sigma=`` to optimise at any other interference
    (r is then only recorded). At sigma = 0 the optimum is the identity, a = 1, b = 0, with zero loss.

    Returns an :class:`OptimalAB` with a, b (the model's bias), sigma and loss.
    """
    p_arr = check_p(p)
    if p_arr.ndim != 0:
        raise ValueError("p must be a scalar for optimal_ab; use optimal_loss for arrays")
    if r is None and sigma is None:
        raise ValueError("give r (sigma is then the Welch minimum) or sigma")
    r_val = None
    if r is not None:
        r_arr = check_r(r)
        if r_arr.ndim != 0:
            raise ValueError("r must be a scalar for optimal_ab; use optimal_loss for arrays")
        r_val = float(r_arr)
    if sigma is None:
        sigma_val = float(welch_sigma(p_arr, r_val))
    else:
        s_arr = check_sigma(sigma)
        if s_arr.ndim != 0:
            raise ValueError("sigma must be a scalar for optimal_ab")
        sigma_val = float(s_arr)
    p_val = float(p_arr)
    if sigma_val == 0.0:
        return OptimalAB(a=1.0, b=0.0, sigma=0.0, loss=0.0, p=p_val, r=r_val)
    loss, a, b = _minimise_profile(np.array([sigma_val]), np.array([p_val]))
    return OptimalAB(a=float(a[0]), b=float(b[0]), sigma=sigma_val, loss=float(loss[0]), p=p_val, r=r_val)


def optimal_loss(p, r):
    r"""L*(p, r): the least macroscopic loss at the Welch interference, vectorised over p and r.

    L*(p, r) = min_{a, b} L(a, b, welch_sigma(p, r); p), the loss of the optimal Persian Rug model in
    the large-n_s limit (the theory curve of fig. 2). Broadcasts p in (0, 1] against r in (0, 1]; all
    points are optimised together (a 100 x 100 grid takes about a second).
    """
    p = check_p(p)
    r = check_r(r)
    shape, (p, r) = broadcast(p, r)
    sigma = np.sqrt(p * (4.0 - 3.0 * p) / 12.0 * (1.0 - r) / r)
    out = np.zeros_like(sigma)
    live = sigma > 0
    if live.any():
        out[live] = _minimise_profile(sigma[live], p[live])[0]
    return scalar_or_array(out.reshape(shape))
