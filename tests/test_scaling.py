"""theory.scaling: the r -> 0 limit, eq. 8, the E.1 ansatz, eq. 33 and the scaling fit."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from theory import (
    LOWER_BOUND_CONSTANT,
    fit_scaling,
    lower_bound,
    mmse_on_loss,
    optimal_loss,
    r0_limit,
    small_r_loss,
    upper_bound_ansatz,
    upper_bound_scaling,
    welch_sigma,
)


class TestSmallR:
    @pytest.mark.parametrize("p", [1e-6, 0.01, 0.3, 1.0])
    def test_r0_limit_is_the_variance_and_the_limit_of_L_star(self, p):
        assert r0_limit(p) == pytest.approx(p / 3 - p * p / 4, rel=1e-14)
        assert optimal_loss(p, 1e-10) == pytest.approx(r0_limit(p), rel=1e-3)
        assert optimal_loss(p, 1e-10) <= r0_limit(p)

    def test_eq8_leading_term(self):
        p = 0.05
        gammas = np.linspace(-3, 8, 23)
        vals = small_r_loss(p, gammas)
        assert np.all(np.diff(vals) < 0)  # decreasing towards Var(x)
        # psi_1^2 / psi_2 = g^2 / (g^2 + 1) far above the noise: the limit is approached slowly
        assert small_r_loss(p, 40.0) == pytest.approx(p / 3 - p * p / 4 * 1600 / 1601, rel=1e-13)
        assert small_r_loss(p, 1e8) == pytest.approx(r0_limit(p), rel=1e-13)
        assert np.all(vals >= r0_limit(p))

    def test_eq8_matches_the_exact_loss_at_large_sigma(self):
        # with the exact a*(beta), L(sigma -> inf) at threshold gamma sigma approaches eq. 8
        from theory import macroscopic_loss, optimal_a

        p, gamma, sigma = 0.05, 0.7, 1e4
        a = optimal_a(gamma * sigma, sigma, p)
        exact = macroscopic_loss(a, a * gamma * sigma, sigma, p)
        assert exact == pytest.approx(small_r_loss(p, gamma), rel=1e-4)


class TestBounds:
    @settings(max_examples=15)
    @given(st.floats(-4, -1.5), st.floats(0.02, 0.5))
    def test_ordering(self, log_p, r):
        p = 10.0**log_p
        s = welch_sigma(p, r)
        lower = lower_bound(p, s)
        star = optimal_loss(p, r)
        upper = upper_bound_ansatz(p, r)
        assert 0 <= lower <= p * mmse_on_loss(s) <= star <= upper
        assert (lower > 0) == (s < 0.5)  # eq. 33's interval [sigma, 1 - sigma] is empty past 1/2

    def test_upper_bound_scaling_is_the_order(self):
        # appendix E.1: the ansatz loss is O(sigma^2 p log 1/p) for p << r << 1
        p = np.geomspace(1e-6, 1e-4, 5)
        r = 0.05
        ratio = upper_bound_ansatz(p, r) / upper_bound_scaling(p, r)
        assert np.all((ratio > 0.05) & (ratio < 5))

    def test_lower_bound_constant(self):
        window = stats.norm.cdf(1) - stats.norm.cdf(-1)
        var_truncated = stats.truncnorm(-1, 1).var()
        assert LOWER_BOUND_CONSTANT == pytest.approx(window * var_truncated, rel=1e-12)

    @pytest.mark.parametrize("sigma", [0.02, 0.1, 0.3])
    def test_lower_bound_probability_by_monte_carlo(self, sigma):
        rng = np.random.default_rng(5)
        n = 1_000_000
        y = rng.random(n) + sigma * rng.standard_normal(n)
        hits = (y >= sigma) & (y <= 1 - sigma)
        prob = hits.mean()
        se = math.sqrt(prob * (1 - prob) / n)
        got = lower_bound(1.0, sigma) / (LOWER_BOUND_CONSTANT * sigma**2)
        assert abs(got - prob) < 4 * se

    def test_lower_bound_vanishes_for_large_sigma(self):
        assert lower_bound(0.1, 0.5) == 0.0
        assert lower_bound(0.1, 0.0) == 0.0

    def test_bad_input(self):
        with pytest.raises(ValueError, match="p must be in"):
            upper_bound_ansatz(1.0, 0.5)
        with pytest.raises(ValueError, match="sigma"):
            lower_bound(0.1, -0.1)


class TestFit:
    def test_recovers_known_exponents(self):
        p, r = np.meshgrid(np.geomspace(1e-4, 1e-2, 7), np.linspace(0.01, 0.1, 6))
        rng = np.random.default_rng(0)
        loss = 0.3 * p**2.0 / r * np.log(1 / p) ** 0.5 * np.exp(1e-3 * rng.standard_normal(p.shape))
        fit = fit_scaling(p, r, loss)
        assert fit.alpha == pytest.approx(2.0, abs=4 * fit.alpha_err + 1e-9)
        assert fit.beta == pytest.approx(-1.0, abs=4 * fit.beta_err + 1e-9)
        assert fit.gamma == pytest.approx(0.5, abs=4 * fit.gamma_err + 1e-9)
        assert fit.alpha_err < 0.02 and fit.rms < 2e-3
        exact = fit_scaling(p, r, 0.3 * p**2.0 / r)
        assert exact.alpha == pytest.approx(2.0, abs=1e-9) and exact.gamma == pytest.approx(0.0, abs=1e-8)

    def test_theory_grid_has_the_papers_exponents(self):
        p, r = np.meshgrid(np.geomspace(1e-4, 1e-2, 10), np.linspace(0.01, 0.1, 10))
        keep = p < 0.1 * r  # appendix I's grid, the regime p << r
        fit = fit_scaling(p[keep], r[keep])
        assert abs(fit.alpha - 2) < 0.1
        assert abs(fit.beta + 1) < 0.2
        assert fit.as_dict()["n"] == keep.sum()

    def test_bad_input(self):
        with pytest.raises(ValueError, match="loss"):
            fit_scaling([0.01, 0.02, 0.03, 0.04, 0.05], 0.1, [1.0, 2.0, -1.0, 1.0, 1.0])
        with pytest.raises(ValueError, match="points"):
            fit_scaling([0.01, 0.02], [0.1, 0.2], [1.0, 2.0])
        with pytest.raises(ValueError, match="fit"):
            fit_scaling(np.full(6, 0.01), np.linspace(0.1, 0.6, 6))
