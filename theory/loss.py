r"""The macroscopic loss of the Persian Rug paper (eq. 5), in closed form.

With x = c u (c ~ Bernoulli(p), u ~ U[0, 1]) and interference nu ~ N(0, sigma^2),

.. math::  L(a, b, \sigma; p) = \mathbb{E}\,[x - \mathrm{ReLU}(a(x+\nu)+b)]^2
            = (1-p)\,L_\text{off} + p\,L_\text{on},

    L_\text{off} = \mathbb{E}\,\mathrm{ReLU}(a\nu+b)^2 = t^2\psi_2(b/t),\qquad
    L_\text{on} = \int_0^1 e(u)\,du,\quad e(u) = \mathbb{E}\,[u - (au+b+tN)_+]^2,

where t = |a| sigma is the standard deviation of a*nu, N ~ N(0, 1) and psi_k are the Gaussian ReLU
moments of :mod:`theory.gaussian`. Writing m = a u + b and z = m / t,

.. math::  e(u) = u^2 - 2u\,t\,\psi_1(z) + t^2\psi_2(z)                         \quad (z \le 0)

           e(u) = (u-m)^2 + t^2 - t^2\psi_2(-z) - 2u\,t\,\psi_1(-z)               \quad (z \ge 0)

(the second from psi_k(z) = m_k(z) - (-1)^k psi_k(-z)). On [0, 1] the sign of z changes at most once,
at u* = -b/a; on each piece the tails psi_k(-|z|) are integrated in closed form along the line
(:func:`theory.gaussian.segment_integrals`) and the polynomial parts as sums of squares,
:math:`\int_{u_0}^{u_1}(cu-b)^2du = \ell[(c\bar u-b)^2 + c^2\ell^2/12]`. Every term is then either
non-negative or a tail that is small next to the terms it is subtracted from, so the loss keeps its
relative accuracy when it is tiny (a = 1, b = 0, sigma -> 0 gives L -> p sigma^2, not a difference of
O(1) numbers). No quadrature runs: the u-integral is done analytically. The derivation step by step
is in docs/theory.md; :mod:`theory.symbolic` re-derives it with sympy.
"""

from __future__ import annotations

import numpy as np

from ._numeric import broadcast, on_term, square_integral, tail_pieces
from ._validation import check_p, check_real, check_sigma, scalar_or_array
from .gaussian import relu_tails

__all__ = ["loss_terms", "macroscopic_loss", "relu_output_moments"]


def _off_term(b, t):
    """E ReLU(b + t N)^2 = t^2 psi_2(b/t), written without cancellation; (b)_+^2 at t = 0."""
    live = t > 0
    tail2 = np.zeros_like(t)
    if live.any():
        with np.errstate(over="ignore"):  # |b| / t = inf for a denormal t: a tail of exactly 0
            tail2[live] = relu_tails(np.abs(b[live]) / t[live], kmax=2)[2]
    positive = b > 0
    return np.where(positive, b * b + t * t - t * t * tail2, t * t * tail2)


def _loss_terms_flat(a, b, sigma):
    t = np.abs(a) * sigma
    return _off_term(b, t), on_term(a, b, t, tail_pieces(a, b, t))


def loss_terms(a, b, sigma, p=None):
    r"""The two parts of the macroscopic loss, (L_off, L_on), so that L = (1-p) L_off + p L_on.

    L_off = E[ReLU(a nu + b)^2] is the loss on a feature that is off; L_on = E[(u - ReLU(a(u + nu) +
    b))^2] on one that is on, u ~ U[0, 1], nu ~ N(0, sigma^2). Neither depends on p; ``p`` is accepted
    (and validated) so that the signature matches :func:`macroscopic_loss`, and it takes part in the
    broadcasting.

    Parameters
    ----------
    a, b : array_like
        The diagonal of W and the bias (finite reals).
    sigma : array_like
        Standard deviation of the interference nu, finite and >= 0.
    p : array_like, optional
        Probability that a feature is on, in (0, 1].

    Returns
    -------
    (L_off, L_on) : tuple of floats or ndarrays with the broadcast shape of the inputs.
    """
    a = check_real(a, "a")
    b = check_real(b, "b")
    sigma = check_sigma(sigma, "sigma")
    args = [a, b, sigma]
    if p is not None:
        args.append(check_p(p, "p"))
    shape, flat = broadcast(*args)
    l_off, l_on = _loss_terms_flat(*flat[:3])
    return scalar_or_array(l_off.reshape(shape)), scalar_or_array(l_on.reshape(shape))


def macroscopic_loss(a, b, sigma, p):
    r"""The macroscopic loss L(a, b, sigma; p) = E[(x - ReLU(a (x + nu) + b))^2] of eq. 5.

    x = c u with c ~ Bernoulli(p), u ~ U[0, 1]; nu ~ N(0, sigma^2) independent of x. This is the
    per-feature loss of a statistically permutation-symmetric model whose weight matrix has diagonal a,
    bias b and interference of standard deviation sigma (its mean absorbed into b).

    Evaluated in closed form (normal cdf and pdf, the u-integral done analytically) and without
    cancellation; broadcasts over its arguments like a scipy.special function.

    Parameters
    ----------
    a, b : array_like
        The diagonal of W and the bias (finite reals).
    sigma : array_like
        Standard deviation of nu, finite and >= 0 (sigma = 0 is the noiseless model).
    p : array_like
        Probability that a feature is on, in (0, 1].

    Returns
    -------
    L : float or ndarray with the broadcast shape of the inputs.

    Examples
    --------
    >>> round(float(macroscopic_loss(1.0, 0.0, 0.0, 0.1)), 12)  # the identity with no noise
    0.0
    """
    a = check_real(a, "a")
    b = check_real(b, "b")
    sigma = check_sigma(sigma, "sigma")
    p = check_p(p, "p")
    shape, (a, b, sigma, p) = broadcast(a, b, sigma, p)
    l_off, l_on = _loss_terms_flat(a, b, sigma)
    return scalar_or_array(((1.0 - p) * l_off + p * l_on).reshape(shape))


def relu_output_moments(a, b, t, pieces=None):
    r"""Moments of the output r = (a u + b + t N)_+ integrated over u in [0, 1] (flat arrays).

    Returns (int_0^1 u E[r] du, int_0^1 E[r^2] du, E[(b + t N)_+^2]), the pieces of the normal
    equations of appendix B. Internal: inputs are validated float arrays of one shape; ``pieces``
    may pass in :func:`tail_pieces` ``(a, b, t)`` already computed.
    """
    if pieces is None:
        pieces = tail_pieces(a, b, t)
    e_off = _off_term(b, t)
    mu = np.zeros_like(t)
    sq = np.zeros_like(t)
    for lo, hi, negative, iu1, i2 in pieces:
        # E r = t psi_1(z): the tail where z <= 0, m + t psi_1(-z) where z >= 0
        u_m = a * (hi**3 - lo**3) / 3.0 + b * (hi**2 - lo**2) / 2.0  # int u (a u + b) du
        mu += np.where(negative, t * iu1, u_m + t * iu1)
        # E r^2 = t^2 psi_2(z): the tail where z <= 0, m^2 + t^2 - t^2 psi_2(-z) where z >= 0
        sq += np.where(negative, t * t * i2, square_integral(a, -b, lo, hi) + t * t * (hi - lo - i2))
    return mu, sq, e_off
