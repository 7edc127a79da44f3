"""theory.bounds: Welch sigma, the linear baseline and the MMSE decoder."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from theory import (
    feature_moments,
    linear_loss,
    lower_bound,
    macroscopic_loss,
    mmse_loss,
    mmse_on_loss,
    optimal_loss,
    welch_sigma,
)


def mmse_monte_carlo(p, sigma, n=2_000_000, seed=0):
    """E[(x - E[x|y])^2] by Monte Carlo, with E[x|y] from its definition through scipy.stats."""
    rng = np.random.default_rng(seed)
    on = rng.random(n) < p
    u = rng.random(n)
    x = np.where(on, u, 0.0)
    y = x + sigma * rng.standard_normal(n)
    mass = stats.norm.cdf((1 - y) / sigma) - stats.norm.cdf(-y / sigma)
    tn_mean = y + sigma * (stats.norm.pdf(-y / sigma) - stats.norm.pdf((1 - y) / sigma)) / np.maximum(mass, 1e-300)
    off = (1 - p) * stats.norm.pdf(y, scale=sigma)
    onw = p * mass
    post = onw * tn_mean / (off + onw)
    err = (x - post) ** 2
    return err.mean(), err.std() / math.sqrt(n)


class TestWelchAndLinear:
    @given(st.floats(1e-9, 1.0), st.floats(1e-6, 1.0))
    def test_formulas(self, p, r):
        var = p / 3 - p * p / 4
        assert welch_sigma(p, r) ** 2 == pytest.approx(var * (1 - r) / r, rel=1e-12, abs=1e-300)
        assert linear_loss(p, r) == pytest.approx((1 - r) * var, rel=1e-12, abs=1e-300)

    def test_linear_loss_is_the_large_threshold_end_of_the_relu(self):
        # With a bias far above the noise the ReLU never clips, the model is affine, and
        # L = (1 - a)^2 Var x + a^2 sigma^2 + ((1 - a) E x - b)^2. Minimised over a this is
        # Var sigma^2 / (Var + sigma^2), which at the Welch sigma is the linear loss (1 - r) Var.
        p, r = 0.05, 0.3
        m = feature_moments(p)
        s = welch_sigma(p, r)
        a = 0.7
        b = 40 * a * s
        affine = (1 - a) ** 2 * m.variance + a * a * s * s + ((1 - a) * m.mean - b) ** 2
        assert macroscopic_loss(a, b, s, p) == pytest.approx(affine, rel=1e-13)
        a_best = m.variance / (m.variance + s * s)
        best = (1 - a_best) ** 2 * m.variance + a_best**2 * s * s
        assert best == pytest.approx(linear_loss(p, r), rel=1e-13)
        assert optimal_loss(p, r) < best

    def test_bad_input(self):
        for bad in (0.0, -0.1, 1.1, float("nan")):
            with pytest.raises(ValueError, match="r must be in"):
                welch_sigma(0.1, bad)
            with pytest.raises(ValueError, match="p must be in"):
                linear_loss(bad, 0.5)


class TestMMSE:
    @pytest.mark.parametrize("p,sigma", [(0.045, 0.2), (0.3, 0.05), (0.01, 1.0)])
    def test_against_monte_carlo(self, p, sigma):
        est, se = mmse_monte_carlo(p, sigma)
        assert abs(mmse_loss(p, sigma) - est) < 4 * se

    def test_limits(self):
        p = 0.2
        var = feature_moments(p).variance
        assert mmse_loss(p, 0.0) == 0.0
        assert mmse_loss(p, 1e5) == pytest.approx(var, rel=1e-8)
        # small noise: only the on-features' value is uncertain, about sigma^2 each
        assert mmse_on_loss(1e-4) == pytest.approx(1e-8, rel=1e-3)
        assert mmse_on_loss(1e4) == pytest.approx(1 / 12, rel=1e-6)

    def test_increasing_in_sigma(self):
        sig = np.geomspace(1e-3, 30, 15)
        vals = mmse_loss(0.05, sig)
        assert np.all(np.diff(vals) > 0)
        assert np.all(vals < feature_moments(0.05).variance)

    @settings(max_examples=20)
    @given(st.floats(-3, 0), st.floats(0.02, 0.98), st.floats(0.2, 2.0), st.floats(-1.0, 0.3))
    def test_no_relu_beats_it(self, log_p, r, a, b):
        p = 10.0**log_p
        s = welch_sigma(p, r)
        assert mmse_loss(p, s) <= macroscopic_loss(a, b, s, p) * (1 + 1e-12)

    def test_bound_chain(self):
        # lower bound (eq. 33) <= p * oracle on-loss <= MMSE <= L*
        for p, r in [(1e-3, 0.05), (0.045, 0.25), (0.01, 0.5), (0.1, 0.8)]:
            s = welch_sigma(p, r)
            chain = [lower_bound(p, s), p * mmse_on_loss(s), mmse_loss(p, s), optimal_loss(p, r)]
            assert all(x > 0 for x in chain)
            assert chain == sorted(chain), (p, r, chain)

    def test_no_warnings_in_corners(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            vals = [mmse_loss(p, s) for p in (1e-10, 1.0) for s in (1e-6, 1e-3, 1.0, 1e3)]
        assert np.all(np.isfinite(vals)) and all(v >= 0 for v in vals)
        # never above Var(x), the loss of predicting the mean (up to the quadrature's 1e-12)
        variances = [feature_moments(p).variance for p in (1e-10, 1.0) for s in range(4)]
        assert all(v <= var * (1 + 1e-12) for v, var in zip(vals, variances))

    def test_bad_input(self):
        with pytest.raises(ValueError, match="sigma"):
            mmse_loss(0.1, -1.0)
        with pytest.raises(ValueError, match="p must be in"):
            mmse_loss(0.0, 1.0)
