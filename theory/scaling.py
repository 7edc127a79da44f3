r"""Limits and scalings of the optimal loss: r -> 0 (eq. 8) and high sparsity (eq. 9, eq. 33).

* :func:`r0_limit`: lim_{r -> 0} L*(p, r) = Var(x) = p/3 - p^2/4 exactly. The paper states p/3 + O(p^2);
  the O(p^2) term is -p^2/4 (the sup over thresholds of psi_1^2/psi_2 is 1, reached as b/sigma -> inf,
  where the model becomes the linear one and predicts the mean).
* :func:`small_r_loss`: eq. 8's leading-order loss at a given threshold gamma = b/sigma.
* :func:`upper_bound_ansatz`: the exact loss at appendix E.1's ansatz a = 1, b = -sigma sqrt(2 log 1/p),
  an upper bound on L* (L* is a minimum); :func:`upper_bound_scaling` its order sigma^2 p log(1/p).
* :func:`lower_bound`: eq. 33 with its constant made explicit, a lower bound on the loss of *any*
  elementwise decoder at interference sigma.
* :func:`fit_scaling`: least squares of log L on log p, log r and log log(1/p).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ._validation import check_p, check_r, check_real, check_sigma, scalar_or_array
from .bounds import welch_sigma
from .gaussian import relu_moment
from .loss import macroscopic_loss
from .optimum import optimal_loss

__all__ = [
    "ScalingFit",
    "fit_scaling",
    "lower_bound",
    "LOWER_BOUND_CONSTANT",
    "r0_limit",
    "small_r_loss",
    "upper_bound_ansatz",
    "upper_bound_scaling",
]

#: C in Var(u | y) >= C sigma^2 for y in [sigma, 1 - sigma] (appendix E.2, eq. 31), made explicit:
#: P(|u - y| <= sigma) >= erf(1/sqrt 2) times the variance of a unit normal truncated to [-1, 1],
#: 1 - 2 phi(1) / erf(1/sqrt 2); the product is erf(1/sqrt 2) - 2 phi(1) = 0.19875...
LOWER_BOUND_CONSTANT = math.erf(1.0 / math.sqrt(2.0)) - 2.0 * math.exp(-0.5) / math.sqrt(2.0 * math.pi)


def r0_limit(p):
    r"""lim_{r -> 0} L*(p, r) = Var(x) = p/3 - p^2/4 (the paper's "p/3 + O(p^2)", made exact)."""
    p = check_p(p)
    return scalar_or_array(p * (4.0 - 3.0 * p) / 12.0)


def small_r_loss(p, gamma):
    r"""Eq. 8's loss as sigma -> infinity at fixed threshold gamma = b / sigma:

        L = p E[u^2] - p^2 (E u)^2 (E ReLU(nu + b))^2 / E[ReLU(nu + b)^2] + O(1/sigma)
          = p/3 - (p^2 / 4) psi_1(gamma)^2 / psi_2(gamma),

    with a at its optimum (eq. 8). Decreasing in gamma towards Var(x) = r0_limit(p).
    """
    p = check_p(p)
    gamma = check_real(gamma, "gamma")
    m1, m2 = relu_moment(1, gamma), relu_moment(2, gamma)
    # below gamma ~ -37 both moments underflow to 0; the ratio is then < phi(gamma) / |gamma| < 1e-300
    # (psi_1 ~ phi / gamma^2, psi_2 ~ 2 phi / |gamma|^3), so 0 is its value to double precision
    ratio = np.where(m2 > 0, m1 * m1 / np.where(m2 > 0, m2, 1.0), 0.0)
    return scalar_or_array(p / 3.0 - p * p / 4.0 * ratio)


def upper_bound_ansatz(p, r):
    r"""The exact macroscopic loss at appendix E.1's ansatz a = 1, b = -sigma sqrt(2 log(1/p)).

    sigma = welch_sigma(p, r). Since L* minimises over (a, b), this is an upper bound on L*(p, r);
    appendix E.1 shows it is O(sigma^2 p log(1/p)) = O(p^2/r log(1/p)) for p << r << 1.
    p in (0, 1), r in (0, 1].
    """
    p = check_p(p)
    if np.any(p >= 1):
        raise ValueError("p must be in (0, 1) for the E.1 ansatz (log(1/p) > 0)")
    r = check_r(r)
    sigma = welch_sigma(p, r)
    b = -sigma * np.sqrt(2.0 * np.log(1.0 / p))
    return macroscopic_loss(1.0, b, sigma, p)


def upper_bound_scaling(p, r):
    r"""The order of eq. 9: sigma^2 p log(1/p) with sigma the Welch minimum (constant 1).

    ~ (p^2 / r) log(1/p) / 3 for p, r << 1. An order of magnitude, not a bound with a constant.
    """
    p = check_p(p)
    if np.any(p >= 1):
        raise ValueError("p must be in (0, 1) for the scaling form (log(1/p) > 0)")
    r = check_r(r)
    return scalar_or_array(np.asarray(welch_sigma(p, r)) ** 2 * p * np.log(1.0 / p))


def lower_bound(p, sigma):
    r"""Eq. 33 with explicit constants: L >= p C sigma^2 P(y in [sigma, 1 - sigma]).

    Any decoder acting on y = u + nu feature by feature, even one told which features are on, has
    on-loss E_y Var(u | y) >= C sigma^2 P(y in [sigma, 1 - sigma]) with C = LOWER_BOUND_CONSTANT
    (0.1987...) and y = u + nu; so the loss is at least p times that. The probability is
    sigma [psi_1(1/sigma - 1) + psi_1(1 - 1/sigma) - psi_1(1) - psi_1(-1)] in closed form. The bound is
    0 for sigma >= 1/2, where the interval is empty. p in (0, 1], sigma >= 0.
    """
    p = check_p(p)
    sigma = check_sigma(sigma)
    p, sigma = np.broadcast_arrays(p, sigma)
    out = np.zeros(p.shape)
    live = (sigma > 0) & (sigma < 0.5)
    if live.any():
        s = sigma[live]
        inv = 1.0 / s
        prob = s * (relu_moment(1, inv - 1.0) + relu_moment(1, 1.0 - inv) - relu_moment(1, 1.0) - relu_moment(1, -1.0))
        out[live] = p[live] * LOWER_BOUND_CONSTANT * s * s * prob
    return scalar_or_array(out)


@dataclass(frozen=True)
class ScalingFit:
    """log L = log C + alpha log p + beta log r + gamma log log(1/p), fitted by least squares.

    Each exponent comes with its standard error (from the residual variance and (X^T X)^-1); rms is
    the root-mean-square residual in log L, n the number of points.
    """

    C: float
    alpha: float
    beta: float
    gamma: float
    alpha_err: float
    beta_err: float
    gamma_err: float
    C_rel_err: float
    rms: float
    n: int

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON)."""
        return asdict(self)


def fit_scaling(p, r, loss=None, *, log_term: bool = True) -> ScalingFit:
    r"""Fit L = C p^alpha r^beta log(1/p)^gamma over points (p, r) by least squares in log L.

    ``loss`` defaults to L*(p, r) (:func:`theory.optimal_loss`); pass measured losses (a rug's, a
    trained model's) to fit those instead. ``p`` and ``r`` broadcast (a meshgrid is typical);
    p in (0, 1), r in (0, 1], loss > 0. With ``log_term=False`` gamma is fixed at 0. The theory predicts
    alpha = 2, beta = -1 and 0 <= gamma <= 1 for p << r << 1 (eq. 9 and eq. 33).
    """
    p = check_p(p)
    if np.any(p >= 1):
        raise ValueError("p must be in (0, 1) for the fit (log log(1/p) must exist)")
    r = check_r(r)
    p, r = np.broadcast_arrays(p, r)
    if loss is None:
        loss = optimal_loss(p, r)
    loss = check_real(loss, "loss")
    loss = np.broadcast_to(loss, p.shape)
    if np.any(loss <= 0):
        raise ValueError("loss must be > 0 everywhere for a fit in log space")
    columns = [np.ones(p.size), np.log(p).ravel(), np.log(r).ravel()]
    if log_term:
        columns.append(np.log(np.log(1.0 / p)).ravel())
    design = np.stack(columns, axis=1)
    n, k = design.shape
    if n <= k:
        raise ValueError(f"need more than {k} points for the fit, got {n}")
    target = np.log(loss).ravel()
    coef, _, rank, _ = np.linalg.lstsq(design, target, rcond=None)
    if rank < k:
        raise ValueError("the points do not determine the fit (vary both p and r)")
    resid = target - design @ coef
    dof = n - k
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(design.T @ design)
    err = np.sqrt(np.diag(cov))
    gamma, gamma_err = (coef[3], err[3]) if log_term else (0.0, 0.0)
    return ScalingFit(
        C=float(np.exp(coef[0])),
        alpha=float(coef[1]),
        beta=float(coef[2]),
        gamma=float(gamma),
        alpha_err=float(err[1]),
        beta_err=float(err[2]),
        gamma_err=float(gamma_err),
        C_rel_err=float(err[0]),
        rms=float(np.sqrt(np.mean(resid**2))),
        n=int(n),
    )
