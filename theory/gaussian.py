r"""Gaussian ReLU moments and their integrals along a line, evaluated without cancellation.

Everything in :mod:`theory` reduces to the *ReLU moments* of a unit normal N,

.. math::  \psi_k(z) = \mathbb{E}[(z + N)_+^k] = P_k(z)\,\Phi(z) + Q_k(z)\,\varphi(z),

    \psi_0 = \Phi,\quad \psi_1 = z\Phi + \varphi,\quad \psi_2 = (z^2+1)\Phi + z\varphi,\quad
    \psi_3 = (z^3+3z)\Phi + (z^2+2)\varphi,

and to their integrals over a segment on which the argument moves linearly. They obey

* :math:`\psi_k' = k\,\psi_{k-1}` (differentiate under the expectation),
* :math:`\psi_k = z\,\psi_{k-1} + (k-1)\,\psi_{k-2}` (Stein's lemma, :math:`E[N g(N)] = E[g'(N)]`),
* :math:`\psi_k(z) + (-1)^k \psi_k(-z) = \mathbb{E}[(z+N)^k] = m_k(z)` with
  :math:`m_0..m_4 = 1,\ z,\ z^2+1,\ z^3+3z,\ z^4+6z^2+3`.

Why this is written by hand: scipy has the normal cdf (``ndtr``) and the scaled complementary
error function (``erfcx``), but no *repeated integrals of erfc* (:math:`\psi_k` is
:math:`2^{k/2-1} k!\, i^k\mathrm{erfc}(-z/\sqrt 2)`) that stay accurate deep in the left tail,
where the closed forms above cancel catastrophically (:math:`\psi_2(-10) \approx 2\cdot 10^{-26}`
is the difference of two numbers of size :math:`10^{-21}`). So we evaluate the *tail*
:math:`\psi_k(-w)`, :math:`w \ge 0`, in three regimes, each accurate to a few ulps:

* :math:`w < 2`: the closed forms (the cancellation costs at most a factor ~100);
* :math:`2 \le w < 30`: Miller's backward recurrence on the Stein relation, which is stable downwards
  because :math:`\psi_k(-w)` is its minimal solution; normalised by the Mills ratio through ``erfcx``;
* :math:`w \ge 30`: the asymptotic series
  :math:`\psi_k(-w) = \varphi(w)\sum_j (-1)^j\,(k+2j)!/(2^j j!\,w^{k+2j+1})`, 10 terms (relative error
  below 1e-17 at w = 30 and smaller beyond).

For :math:`z > 0` the reflection :math:`\psi_k(z) = m_k(z) - (-1)^k\psi_k(-z)` has no cancellation.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from ._validation import check_real

__all__ = ["relu_moment", "relu_tails", "normal_pdf", "segment_integrals"]

KMAX = 4
_SQRT_HALF_PI = math.sqrt(math.pi / 2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
# Past this the tails are below the smallest double for every k <= KMAX; clipping keeps w*w finite.
_W_CLIP = 1e100
# Miller's recurrence converges like exp(-c w sqrt(K)) (c ~ 1.5) from a start K: (lo, hi, K) bands
# chosen for full double precision. From w = 30 on, 10 terms of the asymptotic series suffice
# (the 10th term is below 1e-17 of the first).
_MILLER_BANDS = ((2.0, 3.0, 160), (3.0, 5.0, 96), (5.0, 10.0, 48), (10.0, 30.0, 24))
_ASYMPTOTIC_FROM = 30.0
_ASYMPTOTIC_TERMS = 10
_ASYMPTOTIC_COEFF = [
    [math.factorial(k + 2 * j) / (2**j * math.factorial(j)) for j in range(_ASYMPTOTIC_TERMS)]
    for k in range(KMAX + 1)
]
_SERIES_TERMS = 30
# Segment integrals switch from the closed form to the Taylor series below this |dw| * max(1, |w|).
_SERIES_THRESHOLD = 0.5


def normal_pdf(z):
    """Standard normal density, with the argument clipped so that z*z never overflows."""
    z = np.minimum(np.abs(np.asarray(z, dtype=np.float64)), _W_CLIP)
    return _INV_SQRT_2PI * np.exp(-0.5 * z * z)


def _moment_polynomial(k: int, z: np.ndarray) -> np.ndarray:
    """m_k(z) = E[(z + N)^k] for k = 0..4 (the probabilists' Hermite moments)."""
    z2 = z * z
    return (
        np.ones_like(z),
        z,
        z2 + 1.0,
        z * (z2 + 3.0),
        z2 * (z2 + 6.0) + 3.0,
    )[k]


def _miller(w: np.ndarray, kmax: int, start: int) -> np.ndarray:
    """psi_k(-w) / phi(w), k = 0..kmax, by Miller's backward recurrence (w >= 2, flat array).

    psi_{k-2} = (psi_k + w psi_{k-1}) / (k - 1) run downwards from (0, 1) at ``start``; normalised by
    psi_0(-w) / phi(w), the Mills ratio, through erfcx. In the bands used the unnormalised values stay
    far inside the range of doubles: no rescaling needed.
    """
    upper = np.zeros_like(w)  # y_k
    lower = np.ones_like(w)  # y_{k-1}
    saved = np.empty((kmax + 1, w.size))
    for k in range(start, 1, -1):
        upper, lower = lower, (upper + w * lower) / (k - 1)
        if k - 2 <= kmax:
            saved[k - 2] = lower
    mills = _SQRT_HALF_PI * special.erfcx(w / math.sqrt(2.0))
    return saved * (mills / saved[0])


def relu_tails(w, kmax: int = 3) -> np.ndarray:
    """psi_k(-w) for w >= 0 and k = 0..kmax, stacked on a new first axis.

    Accurate to a few ulps everywhere, including deep in the tail (w >> 1) where it underflows
    gracefully to zero. ``w`` must be >= 0 (not checked: internal).
    """
    if not 0 <= kmax <= KMAX:
        raise ValueError(f"kmax must be in 0..{KMAX}, got {kmax!r}")
    w_in = np.asarray(w, dtype=np.float64)
    w = np.minimum(w_in, _W_CLIP).ravel()
    out = np.empty((kmax + 1, w.size))
    phi = normal_pdf(w)

    small = w < 2.0
    if small.any():
        ws = w[small]
        tails = [special.ndtr(-ws), phi[small] - ws * special.ndtr(-ws)]
        for k in range(2, kmax + 1):  # upward Stein recurrence: harmless for w < 2
            tails.append(-ws * tails[k - 1] + (k - 1) * tails[k - 2])
        for k in range(kmax + 1):
            out[k][small] = tails[k]

    for lo, hi, start in _MILLER_BANDS:
        band = (w >= lo) & (w < hi)
        if band.any():
            wm = w[band]
            out[:, band] = _miller(wm, kmax, start) * phi[band]

    big = w >= _ASYMPTOTIC_FROM
    if big.any():
        wb = w[big]
        inv_w2 = 1.0 / (wb * wb)
        for k in range(kmax + 1):
            # sum_j (-1)^j (k+2j)! / (2^j j!) w^-(k+2j+1), Horner from the smallest term up
            acc = np.zeros_like(wb)
            for j in range(_ASYMPTOTIC_TERMS - 1, -1, -1):
                acc = acc * inv_w2 + ((-1) ** j) * _ASYMPTOTIC_COEFF[k][j]
            out[k][big] = phi[big] * acc * wb ** (-(k + 1.0))
    return out.reshape((kmax + 1,) + w_in.shape)


def relu_moment(k: int, z):
    r"""psi_k(z) = E[(z + N)_+^k] for a unit normal N, k = 0..4, vectorised over z.

    psi_0 is the normal cdf, psi_1(z) = z Phi(z) + phi(z), psi_2(z) = (z^2+1) Phi(z) + z phi(z), ...
    Evaluated without cancellation for all real z (see the module docstring).
    """
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k not in range(KMAX + 1):
        raise ValueError(f"k must be an integer in 0..{KMAX}, got {k!r}")
    z = check_real(z, "z")
    tail = relu_tails(np.abs(z), kmax=k)[k]
    pos = z > 0
    result = np.where(pos, _moment_polynomial(k, np.where(pos, z, 0.0)) - (-1) ** k * tail, tail)
    return result[()] if result.ndim == 0 else result


def _hermite_e(m_max: int, z: np.ndarray) -> list:
    """Probabilists' Hermite polynomials He_0..He_m_max at z (phi^(m) = (-1)^m He_m phi)."""
    he = [np.ones_like(z), z.copy()]
    for m in range(1, m_max):
        he.append(z * he[m] - m * he[m - 1])
    return he[: m_max + 1]


def segment_integrals(w0, dw) -> dict:
    r"""Integrals of tails along a segment: J_{j,k} = \int_0^1 s^j \psi_k(w_0 + \Delta s)\,ds.

    The argument must stay <= 0 on the segment (w0 <= 0 and w0 + dw <= 0): these are tails.
    Returns a dict with the keys (0, 1), (1, 1) and (0, 2), the three that the loss needs.

    Closed forms (integrate by parts, psi_k' = k psi_{k-1}):

        J_{0,k} = [psi_{k+1}(w1) - psi_{k+1}(w0)] / ((k+1) dw)
        J_{1,k} = psi_{k+1}(w1) / ((k+1) dw) - [psi_{k+2}(w1) - psi_{k+2}(w0)] / ((k+1)(k+2) dw^2)

    These are divided differences and lose accuracy when psi barely changes along the segment,
    i.e. when |dw| max(1, |w|) is small; there we sum the Taylor series instead,

        J_{j,k} = sum_n psi_k^{(n)}(w0) dw^n / (n! (n + j + 1)),

    with psi_k^{(n)} = k!/(k-n)! psi_{k-n} for n <= k and k! (-1)^{n-k-1} He_{n-k-1} phi beyond.
    """
    w0 = np.asarray(w0, dtype=np.float64)
    dw = np.asarray(dw, dtype=np.float64)
    shape = np.broadcast_shapes(w0.shape, dw.shape)
    w0 = np.broadcast_to(w0, shape).ravel()
    dw = np.broadcast_to(dw, shape).ravel()
    w0 = np.maximum(w0, -_W_CLIP)
    dw = np.clip(dw, -_W_CLIP, _W_CLIP)
    w1 = np.clip(w0 + dw, -_W_CLIP, 0.0)
    # Below -39 every psi_k (k <= 4) is under the smallest double: the whole segment integrates to 0.
    vanishing = np.maximum(w0, w1) < -39.0
    scale = np.maximum(1.0, np.maximum(np.abs(w0), np.abs(w1)))
    use_series = (np.abs(dw) * scale < _SERIES_THRESHOLD) & ~vanishing
    out = {key: np.zeros(w0.shape) for key in ((0, 1), (1, 1), (0, 2))}

    closed = ~use_series & ~vanishing
    if closed.any():
        a0, a1, d = w0[closed], w1[closed], dw[closed]
        t0 = relu_tails(-a0, kmax=4)
        t1 = relu_tails(-a1, kmax=4)
        out[(0, 1)][closed] = (t1[2] - t0[2]) / (2.0 * d)
        out[(0, 2)][closed] = (t1[3] - t0[3]) / (3.0 * d)
        out[(1, 1)][closed] = t1[2] / (2.0 * d) - (t1[3] - t0[3]) / (6.0 * d * d)

    if use_series.any():
        a0, d = w0[use_series], dw[use_series]
        tails = relu_tails(-a0, kmax=2)
        phi = normal_pdf(a0)
        he = _hermite_e(_SERIES_TERMS, a0)
        for (j, k) in out:
            acc = np.zeros_like(a0)
            power = np.ones_like(a0)  # dw^n / n!
            for n in range(_SERIES_TERMS):
                if n <= k:
                    deriv = math.factorial(k) / math.factorial(k - n) * tails[k - n]
                else:
                    m = n - k - 1
                    deriv = math.factorial(k) * (-1) ** m * he[m] * phi
                acc = acc + deriv * power / (n + j + 1)
                power = power * d / (n + 1)
            out[(j, k)][use_series] = acc
    return {key: value.reshape(shape) for key, value in out.items()}
