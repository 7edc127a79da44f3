r"""The interference bound (eq. 6), the linear baseline, and the Bayes-optimal elementwise decoder.

* :func:`welch_sigma`: a rank-n_d matrix with unit diagonal has mean interference variance at least
  Var(x) (n_s/n_d - 1) (appendix D), so sigma >= sqrt(Var(x) (1/r - 1)).
* :func:`linear_loss`: the best rank-n_d affine autoencoder, (1 - r) Var(x) per feature.
* :func:`mmse_loss`: E[(x - E[x | x + nu])^2], the least loss of *any* function applied to
  y = x + nu feature by feature, so no ReLU (or gated, or top-k) decoder can beat it at that sigma.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special

from ._validation import check_p, check_r, check_sigma, scalar_or_array

__all__ = ["welch_sigma", "linear_loss", "mmse_loss", "mmse_on_loss"]


def welch_sigma(p, r):
    r"""The least interference standard deviation allowed by eq. 6: sqrt(Var(x) (1/r - 1)).

    For W of rank n_d = r n_s with unit diagonal, the mean over rows of Var(nu_i) is
    Var(x) (Tr(W W^T) - n_s) / n_s >= Var(x) (n_s / n_d - 1), with equality exactly when W is
    symmetric with all non-zero eigenvalues equal (a multiple of a projector, e.g. the Persian rug,
    whose R^2 = (n_s/n_d) R). Returned as a
    standard deviation. p in (0, 1], r in (0, 1]; broadcasts.
    """
    p = check_p(p)
    r = check_r(r)
    variance = p * (4.0 - 3.0 * p) / 12.0
    return scalar_or_array(np.sqrt(variance * (1.0 - r) / r))


def linear_loss(p, r):
    r"""Loss per feature of the optimal linear autoencoder with bias, (1 - r) Var(x).

    f(x) = W x + b with rank W <= n_d: b removes the mean, and the covariance of x is Var(x) I, so the
    best rank-n_d map is any orthogonal projector of rank n_d; it keeps n_d of the n_s equal
    eigenvalues and loses the rest: (n_s - n_d) Var(x) / n_s. (Without the bias the all-ones direction
    carries the mean, and the loss is the same up to O(1/n_s).) The baseline of the paper's fig. 2.
    """
    p = check_p(p)
    r = check_r(r)
    return scalar_or_array((1.0 - r) * p * (4.0 - 3.0 * p) / 12.0)


def _truncnorm_moments(y, sigma):
    """Z, Z * mean and Z * variance of u ~ N(y, sigma^2) restricted to [0, 1] (Z its mass).

    Uses scipy.special.log_ndtr for the mass and the standard formulas; the variance is taken from
    the *shifted* second moment E[(u - y)^2] so that it keeps its accuracy when sigma is small.
    """
    lo = (0.0 - y) / sigma
    hi = (1.0 - y) / sigma
    # mass in a numerically safe form: pick the tail side where both bounds lie
    if lo > 0:
        mass = special.ndtr(-lo) - special.ndtr(-hi)
    else:
        mass = special.ndtr(hi) - special.ndtr(lo)
    if mass <= 0:
        return 0.0, 0.0, 0.0
    phi_lo = math.exp(-0.5 * lo * lo) / math.sqrt(2 * math.pi)
    phi_hi = math.exp(-0.5 * hi * hi) / math.sqrt(2 * math.pi)
    # E[(u - y) 1] and E[(u - y)^2 1] over the window, in units of sigma
    m1 = phi_lo - phi_hi
    m2 = mass + lo * phi_lo - hi * phi_hi
    mean_shift = m1 / mass
    var_units = m2 / mass - mean_shift**2
    return mass, mass * (y + sigma * mean_shift), mass * sigma**2 * var_units


def _mmse_wide(p: float, sigma: float, on_only: bool) -> float:
    """The MMSE integral for sigma >= 1, where every part of the integrand is smooth on the scale sigma.

    The u-window [0, 1] is then narrow next to sigma: the truncated-normal formulas would cancel, while
    the density is smooth on the window (its log varies by at most (|y| + 1) / sigma^2 <= 42 over the
    range integrated), so the window's mass, mean and variance come from 64-point Gauss-Legendre in u.
    The y-integral over [-40 sigma, 1 + 40 sigma] is a composite 32-point Gauss-Legendre rule on
    panels of width sigma / 2: the integrand is a Gaussian-like function of scale sigma, for which this
    rule is exact to rounding. All of it vectorised (scipy's adaptive quad needs ~10^5 scalar calls
    here and takes seconds).
    """
    u_nodes, u_weights = np.polynomial.legendre.leggauss(64)
    u = 0.5 * (u_nodes + 1.0)
    u_weights = 0.5 * u_weights
    y_nodes, y_weights = np.polynomial.legendre.leggauss(32)
    left = np.linspace(-40.0 * sigma, 0.0, 81)
    right = np.linspace(1.0, 1.0 + 40.0 * sigma, 81)
    edges = np.concatenate([left, right])
    lo, hi = edges[:-1], edges[1:]
    half = 0.5 * (hi - lo)
    y = (0.5 * (lo + hi))[:, None] + half[:, None] * y_nodes[None, :]
    wy = (half[:, None] * y_weights[None, :]).ravel()
    y = y.ravel()
    norm = 1.0 / (sigma * math.sqrt(2.0 * math.pi))
    dens = norm * np.exp(-0.5 * ((y[:, None] - u[None, :]) / sigma) ** 2)  # phi_sigma(y - u)
    weighted = dens * u_weights[None, :]
    mass = weighted.sum(axis=1)  # density of u + nu at y
    safe = np.where(mass > 0, mass, 1.0)
    mean = (weighted * u).sum(axis=1) / safe
    var = (weighted * (u[None, :] - mean[:, None]) ** 2).sum(axis=1) / safe
    if on_only:
        return float(np.sum(wy * mass * var))
    off = (1.0 - p) * norm * np.exp(-0.5 * (y / sigma) ** 2)
    on = p * mass
    total = off + on
    extra = np.where(total > 0, off * on * mean**2 / np.where(total > 0, total, 1.0), 0.0)
    return float(np.sum(wy * (p * mass * var + extra)))


def _mmse_scalar(p: float, sigma: float, on_only: bool) -> float:
    variance = p * (4.0 - 3.0 * p) / 12.0
    if sigma == 0.0:
        return 0.0
    if sigma > 1e4:
        # y carries no information at this noise level beyond relative 1e-9
        return (1.0 / 12.0) if on_only else variance

    if sigma >= 1.0:
        return _mmse_wide(p, sigma, on_only)
    norm = 1.0 / (sigma * math.sqrt(2.0 * math.pi))

    def integrand(y):
        mass, mass_mean, mass_var = _truncnorm_moments(y, sigma)
        if on_only:
            # oracle that knows the feature is on: E_y Var(u | y), y = u + nu
            return mass_var
        off = (1.0 - p) * norm * math.exp(-0.5 * (y / sigma) ** 2)
        on = p * mass  # p * density of u + nu at y (the window mass is that density)
        total = off + on
        if total == 0.0:
            return 0.0
        mean_on = mass_mean / mass if mass > 0 else 0.0
        # Var(x | y) p(y) = p Z V_T + off * on * mean_on^2 / total
        return p * mass_var + off * on * mean_on**2 / total

    reach = 40.0 * sigma
    lo, hi = -reach, 1.0 + reach
    marks = {0.0, 1.0}
    for k in (1.0, 3.0, 6.0, 10.0, 20.0):
        marks.update({-k * sigma, k * sigma, 1.0 - k * sigma, 1.0 + k * sigma})
    points = sorted(m for m in marks if lo < m < hi)
    value, _ = integrate.quad(integrand, lo, hi, points=points, limit=1000, epsabs=0.0, epsrel=1e-12)
    return value


def mmse_loss(p, sigma):
    r"""Loss of the Bayes-optimal elementwise decoder, E[(x - E[x | y])^2] with y = x + nu.

    x = c u (c ~ Bernoulli(p), u ~ U[0, 1]), nu ~ N(0, sigma^2). Given y, x is 0 with posterior weight
    w0 = (1-p) phi_sigma(y) / p(y) and otherwise a normal N(y, sigma^2) truncated to [0, 1]; so

        mmse = int [ p Z(y) V_T(y) + (1-p) phi_sigma(y) p Z(y) mu_T(y)^2 / p(y) ] dy,

    with Z(y) = Phi((1-y)/sigma) - Phi(-y/sigma) (Z is the density of u + nu), mu_T and V_T the
    truncated-normal mean and variance and p(y) = (1-p) phi_sigma(y) + p Z(y). The y-integral
    has no closed form and is done by adaptive quadrature (scipy.integrate.quad, relative 1e-12).

    This is the bound of appendix E.2: at interference sigma no function of x_i + nu_i, ReLU or
    otherwise, has a lower loss, so mmse_loss(p, sigma) <= macroscopic_loss(a, b, sigma, p) for all
    a, b. Broadcasts over p in (0, 1] and sigma >= 0.
    """
    p = check_p(p)
    sigma = check_sigma(sigma)
    p, sigma = np.broadcast_arrays(p, sigma)
    out = np.array([_mmse_scalar(float(pp), float(ss), False) for pp, ss in zip(p.ravel(), sigma.ravel())])
    return scalar_or_array(out.reshape(p.shape))


def mmse_on_loss(sigma):
    r"""E_y Var(u | y) for y = u + nu, u ~ U[0, 1]: the on-loss of an oracle told which features are on.

    Appendix E.2 bounds exactly this quantity from below (L >= p * mmse_on_loss(sigma)); it is at
    most 1/12 and behaves as sigma^2 for small sigma. Broadcasts over sigma >= 0.
    """
    sigma = check_sigma(sigma)
    out = np.array([_mmse_scalar(1.0, float(ss), True) for ss in sigma.ravel()])
    return scalar_or_array(out.reshape(sigma.shape))
