"""Slow, independent reference implementations of the macroscopic loss (eq. 5).

Nothing here imports the package under test.  The model is

    x = c*u,   c ~ Bernoulli(p),   u ~ Uniform[0, 1],   nu ~ Normal(0, sigma^2)

(``sigma`` is a standard deviation) and

    L     = E[(x - ReLU(a*(x + nu) + b))^2]  = (1 - p)*L_off + p*L_on
    L_off = E_nu[ReLU(a*nu + b)^2]
    L_on  = E_{u,nu}[(u - ReLU(a*(u + nu) + b))^2].

Three independent evaluations are provided:

* ``loss_mpmath``: arbitrary-precision quadrature of the *raw* integrand
  (no closed-form Gaussian moments are used).  With nu = sigma*z the integrands
  are integrated against the standard normal density over z by ``mpmath.quad``,
  with the z-range split at every kink of the integrand.  For L_on the inner
  integral over u in [0, 1] is done by Gauss-Legendre quadrature on the pieces
  of [0, 1] separated by the ReLU kink; the integrand is a polynomial of degree
  2 in u on each piece, so 3-point Gauss-Legendre is exact there.  The outer
  z-integrand is then piecewise smooth with breakpoints where the kink enters
  or leaves [0, 1], and those are passed to ``mpmath.quad``.
* ``loss_quad``: the same integrals in double precision with
  ``scipy.integrate.quad`` (adaptive, with explicit breakpoints), nested for
  the 2-D integral of L_on.
* ``loss_monte_carlo``: plain numpy Monte Carlo of eq. 5.

and for the Bayes-optimal elementwise decoder

* ``mmse_mpmath``: E[x^2] - E_y[E[x|y]^2] with y = x + nu, by mpmath.
* ``posterior_mean_numpy`` / ``mmse_monte_carlo``: the same posterior mean in
  double precision and a Monte Carlo estimate of E[(x - E[x|y])^2].
"""

from __future__ import annotations

import functools

import math

import mpmath
import numpy as np
from scipy import integrate, special

__all__ = [
    "loss_mpmath",
    "loss_quad",
    "loss_monte_carlo",
    "loss_terms_monte_carlo",
    "mmse_mpmath",
    "posterior_mean_mpmath",
    "posterior_mean_numpy",
    "mmse_monte_carlo",
    "loss_a0_by_hand",
]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

# breakpoints (and their negatives) for the Gaussian bulk; +-64 makes sure a
# piece reaching far into a tail (e.g. [-1e300, -64]) carries negligible mass
_GRID = (2, 8, 24, 64)


def _relu(t):
    return t if t > 0 else 0 * t


def _z_points(lo, hi, extra=()):
    """Sorted breakpoints for integrating f(z)*npdf(z) over [lo, hi].

    lo/hi may be -inf/+inf (as mpf).  Adds a grid around the Gaussian bulk,
    the given interior kinks, and, when a finite end lies in the Gaussian tail
    (so that the integrand's mass is concentrated within ~1/|end| of it),
    geometrically spaced points on that scale next to the end.
    """
    pts = {lo, hi}
    cands = [mpmath.mpf(0)] + [mpmath.mpf(s * g) for g in _GRID for s in (-1, 1)]
    cands += list(extra)
    for e, direction in ((lo, 1), (hi, -1)):
        if mpmath.isinf(e):
            continue
        # e in the tail with the interval extending further into the tail:
        # the mass of f(z)*npdf(z) sits within a few 1/|e| of e
        if direction * e > 1:
            s = 1 / abs(e)
            cands += [e + direction * s * mpmath.mpf(2) ** k for k in range(-3, 8)]
    for c in cands:
        if lo < c < hi:
            pts.add(c)
    return sorted(pts)


def _quad_pieces(f, pts, rel_check):
    # mpmath's error estimate is calibrated for integrands of order one, so
    # divide by a constant of the integrand's magnitude (this matters when all
    # the mass sits far in the Gaussian tail, e.g. values ~1e-200000).
    mids = [(x0 + x1) / 2 for x0, x1 in zip(pts[:-1], pts[1:]) if not (mpmath.isinf(x0) or mpmath.isinf(x1))]
    mids += [x for x in pts if not mpmath.isinf(x)]
    scale = max([abs(f(x)) for x in mids] + [mpmath.mpf(0)])
    if scale == 0:
        scale = mpmath.mpf(1)
    g = lambda z: f(z) / scale
    total = mpmath.mpf(0)
    err = mpmath.mpf(0)
    for x0, x1 in zip(pts[:-1], pts[1:]):
        v, e = mpmath.quad(g, [x0, x1], error=True, maxdegree=10)
        total += v
        err += abs(e)
    total *= scale
    err *= scale
    if total != 0 and err > rel_check * abs(total):
        raise ArithmeticError(
            f"mpmath.quad did not converge: value {total}, error estimate {err}"
        )
    return total


_GL_CACHE = {}


def _gl3_nodes():
    """3-point Gauss-Legendre rule on [0, 1] (exact for degree <= 5)."""
    prec = mpmath.mp.prec
    if prec not in _GL_CACHE:
        r = mpmath.sqrt(mpmath.mpf(3) / 5) / 2
        half = mpmath.mpf(1) / 2
        _GL_CACHE[prec] = (
            (half - r, mpmath.mpf(5) / 18),
            (half, mpmath.mpf(8) / 18),
            (half + r, mpmath.mpf(5) / 18),
        )
    return _GL_CACHE[prec]


def _u_integral(h, kink=None):
    """Integral over u in [0, 1] of h, a polynomial of degree <= 5 on each of
    the pieces of [0, 1] cut at ``kink`` (exact up to rounding)."""
    nodes = _gl3_nodes()
    if kink is not None and 0 < kink < 1:
        pieces = ((0, kink), (kink, 1))
    else:
        pieces = ((0, 1),)
    total = 0
    for u0, u1 in pieces:
        w = u1 - u0
        for t, wt in nodes:
            total += wt * w * h(u0 + w * t)
    return total


# ---------------------------------------------------------------------------
# macroscopic loss: mpmath
# ---------------------------------------------------------------------------


def loss_mpmath(a, b, sigma, p, dps=40):
    """(L_off, L_on, L) as mpf, by quadrature of the raw integrand of eq. 5."""
    with mpmath.workdps(dps + 10):
        a = mpmath.mpf(a)
        b = mpmath.mpf(b)
        sigma = mpmath.mpf(sigma)
        p = mpmath.mpf(p)
        if not (0 < p <= 1) or not (sigma >= 0) or mpmath.isinf(sigma):
            raise ValueError("bad parameters")
        rel_check = mpmath.mpf(10) ** (-(dps + 2) // 2 - 5)

        if sigma == 0 or a == 0:
            # deterministic pre-activation: nu enters only through a*nu = 0
            l_off = _relu(b) ** 2
            if a == 0:
                l_on = _u_integral(lambda u: (u - _relu(b)) ** 2)
            else:
                l_on = _u_integral(lambda u: (u - _relu(a * u + b)) ** 2, -b / a)
        else:
            s = sigma
            npdf = mpmath.npdf
            z0 = -b / (a * s)  # kink of ReLU(a*s*z + b)

            # L_off.  The ReLU is active on the side sign(a)*(z - z0) > 0 of
            # the kink z0.  w = -b/(|a| s) is the signed distance from the
            # bulk to the active region.
            w = -b / (abs(a) * s)
            if w > 0:
                # Active region is a Gaussian tail: substitute
                # z = z0 + sign(a)*t (t >= 0).  Then a*s*z + b = |a|*s*t and
                # npdf(z) = npdf(w) * exp(-w t - t^2/2) exactly, so the raw
                # integrand is integrated with its (possibly astronomically
                # small) constant factor npdf(w) taken out.
                # The mass sits within a few h = 1/max(1, w) of t = 0; with
                # t = h*tau the integration variable tau is of order one.
                h = 1 / max(mpmath.mpf(1), w)

                def f_off_tau(tau):
                    t = h * tau
                    return _relu(abs(a) * s * t) ** 2 * mpmath.exp(-w * t - t * t / 2)

                pts = [mpmath.mpf(0)] + [mpmath.mpf(2) ** k for k in range(-3, 8)] + [mpmath.inf]
                l_off = npdf(w) * h * _quad_pieces(f_off_tau, pts, rel_check)
            else:
                # Active region contains the bulk: integrate in z directly.
                def f_off(z):
                    return _relu(a * s * z + b) ** 2 * npdf(z)

                if a > 0:
                    pts = _z_points(z0, mpmath.inf)
                else:
                    pts = _z_points(-mpmath.inf, z0)
                l_off = _quad_pieces(f_off, pts, rel_check)

            # L_on: kink in u at u* = -b/a - s*z; it enters/leaves [0, 1] at
            # z1 (u* = 0) and z2 (u* = 1)
            z1 = (-b / a) / s
            z2 = (-b / a - 1) / s

            def g_on(z):
                nu = s * z
                kink = -b / a - nu
                return _u_integral(lambda u: (u - _relu(a * (u + nu) + b)) ** 2, kink)

            def f_on(z):
                return g_on(z) * npdf(z)

            pts = _z_points(-mpmath.inf, mpmath.inf, extra=(z1, z2))
            l_on = _quad_pieces(f_on, pts, rel_check)

        total = (1 - p) * l_off + p * l_on
        return (+l_off, +l_on, +total)


def loss_a0_by_hand(b, p):
    """a = 0: output is the constant B = max(b, 0), so
    L = (1-p) B^2 + p E[(u - B)^2] = (1-p) B^2 + p (1/3 - B + B^2)."""
    B = max(b, 0.0)
    return (1 - p) * B * B + p * (1.0 / 3.0 - B + B * B)


# ---------------------------------------------------------------------------
# macroscopic loss: scipy adaptive quadrature
# ---------------------------------------------------------------------------

_EPSREL = 1e-12


def _phi(z):
    return math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _quad_line(f, lo, hi, extra=()):
    """Integral of f over [lo, hi] (possibly infinite) split at breakpoints."""
    pts = sorted({p for p in (0.0, -1.0, 1.0, -4.0, 4.0, -8.0, 8.0, *extra) if lo < p < hi})
    edges = [lo, *pts, hi]
    total = 0.0
    for x0, x1 in zip(edges[:-1], edges[1:]):
        if x0 == x1:
            continue
        v, _ = integrate.quad(f, x0, x1, epsabs=0.0, epsrel=_EPSREL, limit=200)
        total += v
    return total


def loss_quad(a, b, sigma, p):
    """(L_off, L_on, L) in double precision with scipy.integrate.quad."""
    a = float(a)
    b = float(b)
    sigma = float(sigma)
    p = float(p)
    if sigma == 0 or a == 0:
        l_off = max(b, 0.0) ** 2
        if a == 0:
            B = max(b, 0.0)
            l_on, _ = integrate.quad(lambda u: (u - B) ** 2, 0, 1, epsabs=0, epsrel=_EPSREL)
        else:
            k = -b / a
            pts = [k] if 0 < k < 1 else None
            l_on, _ = integrate.quad(
                lambda u: (u - max(a * u + b, 0.0)) ** 2, 0, 1, points=pts, epsabs=0, epsrel=_EPSREL
            )
        return l_off, l_on, (1 - p) * l_off + p * l_on

    s = sigma
    z0 = -b / (a * s)
    f_off = lambda z: max(a * s * z + b, 0.0) ** 2 * _phi(z)
    if a > 0:
        lo, hi = z0, math.inf
    else:
        lo, hi = -math.inf, z0
    l_off = _quad_line(f_off, max(lo, -40.0), min(hi, 40.0)) if max(lo, -40.0) < min(hi, 40.0) else 0.0

    def inner(z):
        nu = s * z
        k = -b / a - nu
        pts = [k] if 0 < k < 1 else None
        v, _ = integrate.quad(
            lambda u: (u - max(a * (u + nu) + b, 0.0)) ** 2, 0, 1, points=pts, epsabs=0, epsrel=_EPSREL
        )
        return v * _phi(z)

    z1 = (-b / a) / s
    z2 = (-b / a - 1) / s
    l_on = _quad_line(inner, -40.0, 40.0, extra=(z1, z2))
    return l_off, l_on, (1 - p) * l_off + p * l_on


# ---------------------------------------------------------------------------
# macroscopic loss: Monte Carlo
# ---------------------------------------------------------------------------


def loss_monte_carlo(a, b, sigma, p, n=2_000_000, seed=0):
    """Plain Monte Carlo estimate of eq. 5: (estimate, standard_error)."""
    rng = np.random.default_rng(seed)
    c = rng.random(n) < p
    u = rng.random(n)
    x = np.where(c, u, 0.0)
    nu = sigma * rng.standard_normal(n)
    out = np.maximum(a * (x + nu) + b, 0.0)
    sq = (x - out) ** 2
    return float(sq.mean()), float(sq.std(ddof=1) / math.sqrt(n))


def loss_terms_monte_carlo(a, b, sigma, n=2_000_000, seed=0):
    """Monte Carlo of L_off and L_on separately (conditioning on c, which
    keeps the estimate useful for tiny p): (L_off, se_off, L_on, se_on)."""
    rng = np.random.default_rng(seed)
    nu = sigma * rng.standard_normal(n)
    off = np.maximum(a * nu + b, 0.0) ** 2
    u = rng.random(n)
    nu = sigma * rng.standard_normal(n)
    on = (u - np.maximum(a * (u + nu) + b, 0.0)) ** 2
    rt = math.sqrt(n)
    return (
        float(off.mean()),
        float(off.std(ddof=1) / rt),
        float(on.mean()),
        float(on.std(ddof=1) / rt),
    )


# ---------------------------------------------------------------------------
# Bayes-optimal elementwise decoder (MMSE)
# ---------------------------------------------------------------------------
#
# y = x + nu.  With phi_s(v) = N(v; 0, s^2), Phi the standard normal cdf,
#   A0(y) = int_0^1 phi_s(y - u) du = Phi(y/s) - Phi((y-1)/s)
#                                   = Phi((1-y)/s) - Phi(-y/s)
#   A1(y) = int_0^1 u phi_s(y - u) du = y A0(y) + s^2 (phi_s(y) - phi_s(y - 1))
# (from d/du phi_s(y-u) = (y-u)/s^2 phi_s(y-u)), the density of y is
#   f(y) = (1-p) phi_s(y) + p A0(y)
# and E[x | y] = p A1(y) / f(y).  Then
#   MMSE = E[x^2] - E_y[E[x|y]^2] = p/3 - int p^2 A1(y)^2 / f(y) dy.


def _A0_A1_mp(y, s):
    if y < mpmath.mpf(1) / 2:
        a0 = mpmath.ncdf(y / s) - mpmath.ncdf((y - 1) / s)
    else:
        a0 = mpmath.ncdf((1 - y) / s) - mpmath.ncdf(-y / s)
    phis = lambda v: mpmath.npdf(v / s) / s
    a1 = y * a0 + s * s * (phis(y) - phis(y - 1))
    return a0, a1, phis(y)


def posterior_mean_mpmath(y, p, sigma, dps=30, by_quad=False):
    """E[x | x + nu = y].  ``by_quad=True`` does the u-integrals with
    mpmath.quad instead of the closed form (used to check the latter)."""
    with mpmath.workdps(dps + 20):
        y = mpmath.mpf(y)
        s = mpmath.mpf(sigma)
        p = mpmath.mpf(p)
        phis = lambda v: mpmath.npdf(v / s) / s
        if by_quad:
            # (meant for y within a few sigma of [0, 1])
            cand = {mpmath.mpf(0), mpmath.mpf(1), y}
            cand |= {y + sg * s * mpmath.mpf(2) ** k for sg in (-1, 1) for k in range(-1, 4)}
            pts = sorted(c for c in cand if 0 <= c <= 1)
            a0 = mpmath.quad(lambda u: phis(y - u), pts)
            a1 = mpmath.quad(lambda u: u * phis(y - u), pts)
        else:
            a0, a1, _ = _A0_A1_mp(y, s)
        return +(p * a1 / ((1 - p) * phis(y) + p * a0))


_MMSE_GRID = (2, 8)


def mmse_mpmath(p, sigma, dps=30):
    """MMSE = E[(x - E[x|y])^2] for y = x + nu, as an mpf."""
    with mpmath.workdps(dps + 15):
        p = mpmath.mpf(p)
        s = mpmath.mpf(sigma)
        if s == 0:
            return mpmath.mpf(0)

        def integrand(y):
            a0, a1, ph = _A0_A1_mp(y, s)
            f = (1 - p) * ph + p * a0
            return (p * a1) ** 2 / f

        cands = set()
        for g in _MMSE_GRID:
            for c in (0, 1):
                for sg in (-1, 1):
                    cands.add(c + sg * g * s)
        cands |= {mpmath.mpf(0), mpmath.mpf(1), mpmath.mpf(1) / 2}
        pts = [-mpmath.inf] + sorted(cands) + [mpmath.inf]
        val = mpmath.mpf(0)
        err = mpmath.mpf(0)
        for x0, x1 in zip(pts[:-1], pts[1:]):
            v, e = mpmath.quad(integrand, [x0, x1], error=True, maxdegree=10)
            val += v
            err += abs(e)
        res = p / 3 - val
        if err > mpmath.mpf(10) ** (-dps + 5) * abs(p):
            raise ArithmeticError(f"mmse quadrature error estimate too large: {err}")
        return +res


def posterior_mean_numpy(y, p, sigma):
    """E[x | y] in double precision (vectorised), same closed form."""
    y = np.asarray(y, dtype=float)
    s = float(sigma)
    lo = y < 0.5
    a0 = np.where(
        lo,
        special.ndtr(y / s) - special.ndtr((y - 1) / s),
        special.ndtr((1 - y) / s) - special.ndtr(-y / s),
    )
    phis = lambda v: np.exp(-0.5 * (v / s) ** 2) / (s * math.sqrt(2 * math.pi))
    a1 = y * a0 + s * s * (phis(y) - phis(y - 1))
    return p * a1 / ((1 - p) * phis(y) + p * a0)


def mmse_monte_carlo(p, sigma, n=2_000_000, seed=0):
    """Monte Carlo of E[(x - E[x|y])^2]: (estimate, standard_error)."""
    rng = np.random.default_rng(seed)
    c = rng.random(n) < p
    u = rng.random(n)
    x = np.where(c, u, 0.0)
    y = x + sigma * rng.standard_normal(n)
    sq = (x - posterior_mean_numpy(y, p, sigma)) ** 2
    return float(sq.mean()), float(sq.std(ddof=1) / math.sqrt(n))


@functools.lru_cache(maxsize=None)
def dense_hadamard(n: int) -> np.ndarray:
    """The Sylvester Hadamard matrix (-1)^popcount(i & j) as float64, by bit counting (no recursion, no
    transform): the reference for the fast transforms and the rug; read-only, cached."""
    i = np.arange(n, dtype=np.int64)
    a = i[:, None] & i[None, :]
    parity = np.zeros_like(a)
    while a.any():
        parity ^= a & 1
        a >>= 1
    h = 1.0 - 2.0 * parity
    h.flags.writeable = False
    return h
