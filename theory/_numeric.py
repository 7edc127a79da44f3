r"""Private numerical helpers shared by several :mod:`theory` modules.

What is here, and who uses it:

* :func:`broadcast` -- broadcast the arguments of a vectorised function to one shape and flatten them
  (:mod:`theory.loss`, :mod:`theory.optimum`);
* :func:`square_integral`, :func:`tail_pieces`, :func:`on_term` -- the closed-form u-integral of the
  macroscopic loss (the split of [0, 1] where a u + b changes sign, the Gaussian tail integrals on each
  piece, and L_on assembled from them; the derivation is in :mod:`theory.loss` and docs/theory.md section 5).
  :mod:`theory.loss` evaluates the loss with them and :mod:`theory.optimum` reuses the pieces of one
  threshold for every gain a;
* :func:`law_from_sorted` -- an :class:`theory.interference.InterferenceLaw` from sorted nonzero
  weights (:mod:`theory.interference`, :mod:`theory.decoder`).

The module is private because these functions take validated flat float64 arrays (or sorted weights)
and check nothing: they are building blocks of the public functions, not an interface. Their names have
no leading underscore because the module already is private; each module imports them from here rather
than from a sibling. The argument checks shared by the public functions live in
:mod:`theory._validation`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .gaussian import segment_integrals

if TYPE_CHECKING:
    from .interference import InterferenceLaw

__all__ = ["broadcast", "law_from_sorted", "on_term", "square_integral", "tail_pieces"]


# ----------------------------------------------------------------------------- broadcasting


def broadcast(*arrays):
    """(shape, flat): the arrays broadcast together, each raveled to a float64 copy of that shape."""
    shape = np.broadcast_shapes(*(np.shape(x) for x in arrays))
    return shape, [np.broadcast_to(x, shape).ravel().astype(np.float64) for x in arrays]


# ----------------------------------------------------------------------------- the loss's u-integral


def square_integral(c, b, lo, hi):
    """int_lo^hi (c u - b)^2 du, as a sum of non-negative terms."""
    length = hi - lo
    mid = 0.5 * (lo + hi)
    return length * ((c * mid - b) ** 2 + (c * length) ** 2 / 12.0)


def _pieces(a, b, t):
    """Split [0, 1] at u* = -b/a where a u + b changes sign.

    Yields (lo, hi, negative) for the two pieces, ``negative`` telling whether a u + b <= 0 there.
    One piece may be empty (lo == hi); it then contributes nothing.
    """
    # -b/a overflows to +-inf for a denormal a: the clip below makes that the right end of [0, 1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cut = np.where(a != 0, -b / np.where(a != 0, a, 1.0), 0.0)
    cut = np.clip(cut, 0.0, 1.0)
    for lo, hi in ((np.zeros_like(cut), cut), (cut, np.ones_like(cut))):
        mid = 0.5 * (lo + hi)
        yield lo, hi, a * mid + b <= 0


def _tail_integrals(a, b, t, lo, hi, negative):
    """For the piece [lo, hi] on which a u + b keeps its sign, with w(u) = -|a u + b| / t:

    returns (int u psi_1(w) du, int psi_2(w) du) over [lo, hi], zero where t = 0.
    """
    length = hi - lo
    live = (t > 0) & (length > 0)
    iu1 = np.zeros_like(t)
    i2 = np.zeros_like(t)
    if live.any():
        al, bl, tl, lol, hil = a[live], b[live], t[live], lo[live], hi[live]
        ell = hil - lol
        # |a u + b| = s (a u + b) on the piece, s = -1 where a u + b <= 0: the slope of w is exact
        s = np.where(negative[live], -1.0, 1.0)
        with np.errstate(over="ignore"):  # infinite w for a denormal t: tails of exactly 0
            w_lo = -np.abs(al * lol + bl) / tl
            slope = -s * al * ell / tl
        seg = segment_integrals(w_lo, slope)
        iu1[live] = ell * (lol * seg[(0, 1)] + ell * seg[(1, 1)])
        i2[live] = ell * seg[(0, 2)]
    return iu1, i2


def tail_pieces(a, b, t):
    """The two pieces of [0, 1] with their tail integrals: a list of (lo, hi, negative, iu1, i2).

    The tails depend on (a, b, t) only through z = (a u + b) / t, so for a > 0 the pieces of
    (a, a beta, a sigma) are those of (1, beta, sigma): the optimiser computes them once per threshold.
    """
    return [(lo, hi, neg) + _tail_integrals(a, b, t, lo, hi, neg) for lo, hi, neg in _pieces(a, b, t)]


def on_term(a, b, t, pieces):
    """L_on from the pieces of :func:`tail_pieces`."""
    l_on = np.zeros_like(t)
    for lo, hi, negative, iu1, i2 in pieces:
        # z <= 0: u^2 - 2 u t psi_1(z) + t^2 psi_2(z)
        below = square_integral(1.0, 0.0, lo, hi) - 2.0 * t * iu1 + t * t * i2
        # z >= 0: (u - m)^2 + t^2 - t^2 psi_2(-z) - 2 u t psi_1(-z), with u - m = (1 - a) u - b
        above = square_integral(1.0 - a, b, lo, hi) + t * t * ((hi - lo) - i2) - 2.0 * t * iu1
        l_on += np.where(negative, below, above)
    return l_on


# ----------------------------------------------------------------------------- interference laws


def law_from_sorted(nonzero_sorted: np.ndarray, p: float, counts=None) -> InterferenceLaw:
    """The law from sorted nonzero weights (merged into distinct values) or values with counts."""
    from .interference import InterferenceLaw  # here, not at the top: interference imports this module

    if counts is None:
        if nonzero_sorted.size:
            new = np.empty(nonzero_sorted.size, dtype=bool)
            new[0] = True
            np.not_equal(nonzero_sorted[1:], nonzero_sorted[:-1], out=new[1:])
            starts = np.flatnonzero(new)
            values = nonzero_sorted[starts]
            counts = np.diff(np.append(starts, nonzero_sorted.size)).astype(np.int64)
        else:
            values = np.zeros(0)
            counts = np.zeros(0, dtype=np.int64)
    else:
        values, counts = nonzero_sorted, counts
    n_terms = int(counts.sum())
    cnt = counts.astype(np.float64)
    lo = float(np.sum(np.minimum(values, 0.0) * cnt))
    hi = float(np.sum(np.maximum(values, 0.0) * cnt))
    atom = float(np.power(1.0 - p, n_terms))
    return InterferenceLaw(values, counts, p, n_terms, atom, lo, hi)
