r"""The data law of the toy model, once: x_i = Bernoulli(p) U[0, 1] independently, and the constants that
numerics' samplers and data streams share.

Moments: E x = p/2, E x^2 = p/3, Var x = p/3 - p^2/4 = p (4 - 3p) / 12 (theory.feature_moments derives them;
numerics cannot import theory, so the two closed forms here are its copy, tested against it in
tests/test_data.py).
"""

from __future__ import annotations

__all__ = ["GAPS_MAX_P", "feature_mean", "feature_var", "DATA_SEED_OFFSET", "EVAL_SEED_OFFSET"]

#: the largest p at which the samplers draw by gaps between on features (a geometric law per gap), on the
#: CPU; above it a uniform draw per entry is faster. The sparse kernel needs the gaps sampler, so the same
#: bound limits it.
GAPS_MAX_P = 0.25

#: toy-model training: each instance's data stream is seeded with its seed + this offset, apart from its
#: initialisation (seeded with the seed itself)
DATA_SEED_OFFSET = 0x5EED_0000_0001
#: toy-model training: the held-out samples of the final losses
EVAL_SEED_OFFSET = 0xE7A1_0000_0001


def feature_mean(p):
    """E x = p / 2 (a float or a tensor)."""
    return p / 2.0


def feature_var(p):
    """Var x = p (4 - 3p) / 12 (a float or a tensor)."""
    return p * (4.0 - 3.0 * p) / 12.0
