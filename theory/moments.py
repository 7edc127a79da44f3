r"""Moments of one sparse feature x = c u, c ~ Bernoulli(p), u ~ Uniform[0, 1].

E[x] = p/2, E[x^2] = p/3, Var x = p/3 - p^2/4 = (4p - 3p^2)/12 (the factor of eq. 6).
"""

from __future__ import annotations

from typing import NamedTuple

from ._validation import check_p, scalar_or_array

__all__ = ["FeatureMoments", "feature_moments"]


class FeatureMoments(NamedTuple):
    """Mean, second moment and variance of x = Bernoulli(p) * Uniform[0, 1]."""

    mean: object
    second_moment: object
    variance: object


def feature_moments(p) -> FeatureMoments:
    r"""Mean p/2, second moment p/3 and variance (4p - 3p^2)/12 of x = Bernoulli(p) U[0, 1].

    Broadcasts over arrays of p in (0, 1]. The variance is written as p (4 - 3p) / 12, which has no
    cancellation for small p.
    """
    p = check_p(p)
    return FeatureMoments(
        mean=scalar_or_array(p / 2.0),
        second_moment=scalar_or_array(p / 3.0),
        variance=scalar_or_array(p * (4.0 - 3.0 * p) / 12.0),
    )
