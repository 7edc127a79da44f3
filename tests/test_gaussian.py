"""theory.gaussian: the ReLU moments psi_k and their segment integrals against mpmath."""


import mpmath as mp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from theory.gaussian import relu_moment, relu_tails, segment_integrals


def psi_mp(k, z, dps=80):
    """psi_k(z) = P_k Phi + Q_k phi at high precision (the cancellation is harmless at 80 digits)."""
    with mp.workdps(dps):
        z = mp.mpf(z)
        Phi, phi = mp.ncdf(z), mp.npdf(z)
        P = [1, z, z**2 + 1, z**3 + 3 * z, z**4 + 6 * z**2 + 3]
        Q = [0, 1, z, z**2 + 2, z**3 + 5 * z]
        return P[k] * Phi + Q[k] * phi


def rel_err(got, ref):
    return float(abs((mp.mpf(float(got)) - ref) / ref))


class TestReluMoment:
    # every regime of relu_tails (direct < 2 <= Miller < 10 <= asymptotic) and their borders
    ZS = [-35.0, -25.0, -12.0, -10.000001, -9.999999, -7.3, -3.0, -2.000001, -1.999999, -1.0, -0.25,
          0.0, 0.4, 1.7, 2.5, 9.0, 12.0, 30.0]

    @pytest.mark.parametrize("k", range(5))
    def test_against_mpmath_all_regimes(self, k):
        got = relu_moment(k, np.array(self.ZS))
        for z, g in zip(self.ZS, got):
            assert rel_err(g, psi_mp(k, z)) < 2e-13, (k, z)

    @given(st.floats(-35, 36), st.integers(0, 4))
    def test_against_mpmath_random(self, z, k):
        assert rel_err(relu_moment(k, z), psi_mp(k, z)) < 2e-13

    def test_underflow_is_graceful(self):
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            vals = relu_tails(np.array([40.0, 1e3, 1e200, 1e308]), kmax=4)
        assert np.all(vals == 0.0)
        assert relu_moment(2, 1e10) == pytest.approx(1e20)

    def test_identities(self):
        z = np.linspace(-6, 6, 41)
        # Stein recurrence psi_k = z psi_{k-1} + (k - 1) psi_{k-2}
        for k in range(2, 5):
            lhs = relu_moment(k, z)
            rhs = z * relu_moment(k - 1, z) + (k - 1) * relu_moment(k - 2, z)
            np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-15)
        # reflection psi_k(z) + (-1)^k psi_k(-z) = E (z + N)^k
        moments = [np.ones_like(z), z, z**2 + 1, z**3 + 3 * z, z**4 + 6 * z**2 + 3]
        for k in range(5):
            np.testing.assert_allclose(relu_moment(k, z) + (-1) ** k * relu_moment(k, -z), moments[k],
                                       rtol=1e-12, atol=1e-13)

    def test_bad_input(self):
        with pytest.raises(ValueError, match="k"):
            relu_moment(7, 0.0)
        with pytest.raises(ValueError, match="z"):
            relu_moment(1, float("nan"))

    def test_shape(self):
        assert np.shape(relu_moment(1, 0.3)) == ()
        assert relu_moment(1, np.zeros((2, 3))).shape == (2, 3)


def seg_mp(j, k, w0, dw):
    with mp.workdps(40):
        f = lambda s: s**j * psi_mp(k, mp.mpf(w0) + mp.mpf(dw) * s, dps=40)
        return mp.quad(f, mp.linspace(0, 1, 9))


class TestSegmentIntegrals:
    # closed-form branch and Taylor-series branch, on both sides of the switch
    CASES = [(-5.0, 1e-9), (-0.3, -1e-6), (0.0, -0.01), (-1.0, 0.4), (-1.0, 0.6), (-2.5, -0.19),
             (-2.5, -0.21), (-8.0, 3.0), (-0.5, -6.0), (-12.0, 0.03), (-12.0, 0.05), (-20.0, 19.0)]

    def test_against_mpmath(self):
        w0 = np.array([c[0] for c in self.CASES])
        dw = np.array([c[1] for c in self.CASES])
        got = segment_integrals(w0, dw)
        for (j, k), values in got.items():
            for (a, d), g in zip(self.CASES, values):
                assert rel_err(g, seg_mp(j, k, a, d)) < 1e-12, (j, k, a, d)

    def test_zero_length(self):
        out = segment_integrals(np.array([-1.5]), np.array([0.0]))
        assert out[(0, 1)][0] == pytest.approx(float(psi_mp(1, -1.5)), rel=1e-14)
        assert out[(1, 1)][0] == pytest.approx(float(psi_mp(1, -1.5)) / 2, rel=1e-14)
