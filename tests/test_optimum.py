"""theory.optimum: the optimal (a, b) are optimal, and optimal_loss is L* on whole grids."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize, minimize_scalar

import theory
from theory import (
    feature_moments,
    linear_loss,
    macroscopic_loss,
    mmse_loss,
    optimal_a,
    optimal_ab,
    optimal_loss,
    welch_sigma,
)


def nelder_mead_best(sigma, p, starts):
    """The best of several 2-D Nelder-Mead runs on L(a, b), in units of the loss at the first start."""
    scale = macroscopic_loss(*starts[0], sigma, p)
    f = lambda v: macroscopic_loss(v[0], v[1], sigma, p) / scale
    runs = [minimize(f, x0, method="Nelder-Mead", options=dict(xatol=1e-11, fatol=1e-15, maxiter=20000))
            for x0 in starts]
    best = min(runs, key=lambda m: m.fun)
    return best.x, best.fun * scale


class TestOptimalAB:
    def test_paper_point_against_nelder_mead(self):
        res = optimal_ab(0.045, 0.25)
        assert res.sigma == pytest.approx(float(welch_sigma(0.045, 0.25)), rel=1e-15)
        x, fun = nelder_mead_best(res.sigma, 0.045, [(1.0, 0.0), (1.3, -0.2), (0.5, 0.1), (2.0, -0.5)])
        assert fun >= res.loss * (1 - 1e-12)
        np.testing.assert_allclose(x, [res.a, res.b], rtol=1e-5)
        assert res.loss == pytest.approx(macroscopic_loss(res.a, res.b, res.sigma, 0.045), rel=1e-15)
        # the theory's diagonal at the fig. 3 point is the paper's trained 1.29
        assert res.a == pytest.approx(1.29, abs=0.01)

    @settings(max_examples=15)
    @given(st.floats(-4, np.log10(0.9)), st.floats(0.02, 0.98))
    def test_no_perturbation_lowers_the_loss(self, log_p, r):
        p = 10.0**log_p
        res = optimal_ab(p, r)
        for da, db in [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (1, -1), (-1, 1), (-1, -1)]:
            for step in (1e-3, 1e-5):
                a = res.a * (1 + step * da)
                b = res.b + step * db * max(abs(res.b), res.sigma)
                assert macroscopic_loss(a, b, res.sigma, p) >= res.loss * (1 - 1e-13)

    @settings(max_examples=10)
    @given(st.floats(-3, np.log10(0.9)), st.floats(0.03, 0.97))
    def test_agrees_with_nelder_mead_from_several_starts(self, log_p, r):
        p = 10.0**log_p
        res = optimal_ab(p, r)
        starts = [(1.0, -res.sigma), (1.2, 0.0), (0.7, -2 * res.sigma), (res.a * 1.05, res.b * 0.95)]
        _, fun = nelder_mead_best(res.sigma, p, starts)
        assert fun >= res.loss * (1 - 1e-10)
        assert fun <= res.loss * (1 + 1e-6)

    def test_extreme_corners(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for p, r in [(1e-10, 0.5), (1e-10, 1e-6), (1.0, 0.5), (1.0, 1e-6), (0.5, 0.999999), (0.9, 0.01)]:
                res = optimal_ab(p, r)
                assert np.isfinite([res.a, res.b, res.loss]).all()
                x, fun = nelder_mead_best(res.sigma, p, [(res.a * 1.1, res.b * 0.9), (1.0, 0.0)])
                assert fun >= res.loss * (1 - 1e-10), (p, r)

    def test_sigma_keyword_and_identity(self):
        res = optimal_ab(0.1, sigma=0.05)
        assert res.r is None and res.sigma == 0.05
        direct = optimal_ab(0.1, 0.5)
        again = optimal_ab(0.1, sigma=direct.sigma)
        assert again.loss == pytest.approx(direct.loss, rel=1e-14)
        zero = optimal_ab(0.3, 1.0)
        assert (zero.a, zero.b, zero.loss) == (1.0, 0.0, 0.0)
        assert res.as_dict()["sigma"] == 0.05
        assert res.threshold == pytest.approx(res.b / res.a)

    @pytest.mark.parametrize("kwargs", [dict(p=0.0, r=0.5), dict(p=0.1, r=0.0), dict(p=0.1, r=1.5),
                                        dict(p=float("nan"), r=0.5), dict(p=0.1), dict(p=0.1, sigma=-1.0),
                                        dict(p=[0.1, 0.2], r=0.5)])
    def test_bad_input(self, kwargs):
        with pytest.raises(ValueError):
            optimal_ab(**kwargs)

    def test_error_names_the_parameter(self):
        with pytest.raises(ValueError, match=r"r must be in \(0, 1\]"):
            optimal_ab(0.1, 2.0)
        with pytest.raises(ValueError, match="sigma"):
            optimal_ab(0.1, sigma=float("inf"))


class TestOptimalA:
    @pytest.mark.parametrize("beta,sigma,p", [(-0.3, 0.2, 0.045), (0.0, 0.5, 0.3), (-0.01, 0.01, 0.001),
                                              (0.4, 2.0, 0.9)])
    def test_minimises_the_quadratic(self, beta, sigma, p):
        a = optimal_a(beta, sigma, p)
        f = lambda a_: macroscopic_loss(a_, a_ * beta, sigma, p)
        res = minimize_scalar(f, bracket=(0.5 * a, a, 1.5 * a + 1e-3), tol=1e-12)
        assert a == pytest.approx(res.x, rel=1e-6)
        assert f(a) <= res.fun * (1 + 1e-14)

    def test_never_active(self):
        assert optimal_a(-1.5, 0.0, 0.2) == 0.0

    def test_broadcast(self):
        out = optimal_a(np.array([-0.2, -0.1]), 0.3, np.array([[0.01], [0.1]]))
        assert out.shape == (2, 2)
        assert out[1, 0] == pytest.approx(optimal_a(-0.2, 0.3, 0.1), rel=1e-15)


class TestOptimalLoss:
    def test_matches_optimal_ab_pointwise(self):
        p = np.array([1e-4, 0.01, 0.045, 0.3, 1.0])
        r = np.array([0.05, 0.3, 0.25, 0.9, 0.5])
        grid = optimal_loss(p, r)
        for i in range(p.size):
            assert grid[i] == pytest.approx(optimal_ab(p[i], r[i]).loss, rel=1e-13)

    def test_orderings_on_a_grid(self):
        p = np.geomspace(1e-4, 0.9, 12)[:, None]
        r = np.linspace(0.02, 0.98, 25)[None, :]
        L = optimal_loss(p, r)
        assert L.shape == (12, 25)
        lin = linear_loss(p, r)
        # The ReLU always helps for 0 < r < 1, but for dense features at small r the gain is below
        # double precision (p = 0.9, r = 0.02: L* = linear to all digits): strict where resolvable.
        assert np.all(L <= lin * (1 + 1e-14))
        sparse = (p <= 0.3) & (r < 1)
        assert np.all((L < lin * (1 - 1e-6))[np.broadcast_to(sparse, L.shape)])
        assert np.all(np.diff(L, axis=1) < 0)  # L* falls as r grows
        assert np.all(L > 0)
        sigma = welch_sigma(p, r)
        for i, j in [(0, 0), (3, 10), (6, 5), (11, 24), (8, 20)]:
            assert mmse_loss(p[i, 0], sigma[i, j]) <= L[i, j]

    def test_limits(self):
        var = feature_moments(0.1).variance
        assert optimal_loss(0.1, 1.0) == 0.0
        assert optimal_loss(0.1, 1e-9) == pytest.approx(var, rel=1e-4)
        assert optimal_loss(0.1, 1e-9) <= var
        # r -> 1: sigma -> 0 and the loss vanishes like the interference variance
        assert optimal_loss(0.1, 1 - 1e-9) < 1e-9 * var

    def test_scalar_and_shape(self):
        assert np.ndim(optimal_loss(0.1, 0.5)) == 0
        assert isinstance(theory.optimal_loss(0.1, 0.5), (float, np.floating))
