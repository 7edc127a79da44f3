"""Tests for theory.symbolic: the sympy derivations, checked exactly and against numbers.

The derivations are cached in the module (functools.lru_cache), so each runs once per session.
References: Monte Carlo (feature moments), scipy quadrature of the raw integrands, mpmath at 50
digits (the closed forms evaluated without floating-point cancellation), and the package's own
numerical code (theory.macroscopic_loss, theory.loss_terms, theory.gaussian.relu_moment).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import sympy as sp
from scipy import integrate

import theory
from theory import symbolic as S
from theory.gaussian import relu_moment

# the parameter box of the comparisons with the package's numerics
N_RANDOM = 20
A_RANGE, B_RANGE, SIGMA_RANGE, P_RANGE = (0.2, 2.0), (-1.0, 1.0), (0.05, 2.0), (0.01, 1.0)
INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
TINY = 1e-290  # below this, values are (near-)subnormal: compare only that both are negligible


def _random_points(seed: int, n: int = N_RANDOM, sigma_range=SIGMA_RANGE):
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(*A_RANGE, n), rng.uniform(*B_RANGE, n),
                     rng.uniform(*sigma_range, n), rng.uniform(*P_RANGE, n)], axis=1)


def _mp_loss(term: str):
    """The symbolic closed form evaluated with mpmath at 50 digits (a float-returning function)."""
    f = S.lambdify_closed_form((S.a_sym, S.b_sym, S.sigma_sym, S.p_sym), S.macroscopic_loss_sym("Phi")[term],
                               backend="mpmath")

    def ref(a, b, sigma, p):
        with mpmath.workdps(50):
            return float(f(*(mpmath.mpf(float(x)) for x in (a, b, sigma, p))))

    return ref


def _assert_rel(value, ref, rtol, what):
    if ref < TINY:
        assert abs(value) < 1e-280, f"{what}: reference {ref:.3e} is negligible, got {value!r}"
    else:
        assert abs(value - ref) <= rtol * abs(ref), (
            f"{what}: got {value!r}, reference {ref!r}, relative error {abs(value / ref - 1):.3e}")


# ------------------------------------------------------------------------------------------------
# 1. feature moments
# ------------------------------------------------------------------------------------------------
class TestFeatureMoments:
    def test_closed_forms(self):
        m = S.feature_moments_sym()
        assert sp.simplify(m.mean - S.p_sym / 2) == 0
        assert sp.simplify(m.second - S.p_sym / 3) == 0
        assert sp.simplify(m.variance - (4 * S.p_sym - 3 * S.p_sym**2) / 12) == 0

    @pytest.mark.parametrize("p", [0.02, 0.3, 1.0])
    def test_monte_carlo(self, p):
        rng = np.random.default_rng(12345)
        n = 400_000
        x = (rng.random(n) < p) * rng.random(n)
        m = S.feature_moments_sym()
        for name, expr, sample in (("E[x]", m.mean, x),
                                   ("E[x^2]", m.second, x**2),
                                   ("Var x", m.variance, (x - x.mean()) ** 2)):
            exact = float(expr.subs(S.p_sym, p))
            stderr = sample.std() / math.sqrt(n)
            assert abs(sample.mean() - exact) < 4 * stderr, (name, p, sample.mean(), exact, stderr)


# ------------------------------------------------------------------------------------------------
# 2. ReLU moments
# ------------------------------------------------------------------------------------------------
class TestReluMoments:
    def test_polynomials(self):
        z = S.z_sym
        rm = S.relu_moments_sym(4)
        expected_P = [1, z, z**2 + 1, z**3 + 3 * z, z**4 + 6 * z**2 + 3]
        expected_Q = [0, 1, z, z**2 + 2, z**3 + 5 * z]
        assert [sp.expand(got - want) for got, want in zip(rm.P, expected_P)] == [0] * 5
        assert [sp.expand(got - want) for got, want in zip(rm.Q, expected_Q)] == [0] * 5

    def test_erf_form(self):
        rm = S.relu_moments_sym(4)
        psi2 = rm.psi(2)
        assert not psi2.has(S.Phi_sym) and psi2.has(sp.erf)
        z = S.z_sym
        expected = (z**2 + 1) * (1 + sp.erf(z / sp.sqrt(2))) / 2 + z * sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi)
        assert sp.simplify(psi2 - expected) == 0

    def test_identities(self):
        # derivative, Stein recurrence, reflection, agreement with sympy's raw integral
        assert S.check_relu_moment_identities(4) is True

    def test_bad_kmax(self):
        with pytest.raises(ValueError, match="kmax"):
            S.relu_moments_sym(-1)

    def test_against_quadrature(self):
        rm = S.relu_moments_sym(4)
        rng = np.random.default_rng(7)
        zs = rng.uniform(-5, 5, 8)
        for k in range(5):
            f = S.lambdify_closed_form((S.z_sym,), rm.psi(k, form="Phi"), backend="scipy")
            for z in zs:
                integrand = lambda n: (z + n) ** k * math.exp(-n * n / 2) * INV_SQRT_2PI  # noqa: E731,B023
                quad, _ = integrate.quad(integrand, -z, np.inf, epsabs=0, epsrel=1e-13, limit=200)
                assert abs(f(z) - quad) <= 1e-10 * abs(quad), (k, z, f(z), quad)

    def test_package_relu_moment(self):
        rm = S.relu_moments_sym(4)
        zs = np.concatenate([np.linspace(-8, 8, 161), np.random.default_rng(3).uniform(-8, 8, 40)])
        for k in range(4):
            f = S.lambdify_closed_form((S.z_sym,), rm.psi(k, form="Phi"), backend="mpmath")
            with mpmath.workdps(50):
                ref = np.array([float(f(mpmath.mpf(float(z)))) for z in zs])
            got = np.asarray(relu_moment(k, zs), dtype=float)
            assert got.shape == zs.shape
            ok = ref > 1e-300
            rel = np.abs(got[ok] / ref[ok] - 1)
            assert rel.max() <= 1e-12, (k, zs[ok][rel.argmax()], got[ok][rel.argmax()], ref[ok][rel.argmax()])


# ------------------------------------------------------------------------------------------------
# 3. the macroscopic loss
# ------------------------------------------------------------------------------------------------
class TestMacroscopicLoss:
    def test_forms(self):
        erf_form = S.macroscopic_loss_sym()
        phi_form = S.macroscopic_loss_sym("Phi")
        assert set(erf_form) == set(phi_form) == {"L_off", "L_on", "L"}
        for key in erf_form:
            assert not erf_form[key].has(S.Phi_sym) and erf_form[key].has(sp.erf)
            assert erf_form[key].free_symbols <= {S.a_sym, S.b_sym, S.sigma_sym, S.p_sym}
        p = S.p_sym
        assert sp.simplify(erf_form["L"] - (1 - p) * erf_form["L_off"] - p * erf_form["L_on"]) == 0
        with pytest.raises(ValueError, match="form"):
            S.macroscopic_loss_sym("mpmath")

    def test_off_term_is_s2_psi2(self):
        s = S.a_sym * S.sigma_sym
        L_off = S.macroscopic_loss_sym("Phi")["L_off"]
        assert sp.simplify(L_off - s**2 * S.relu_moments_sym(2).psi(2, S.b_sym / s, form="Phi")) == 0

    def test_docstring_transcription(self):
        # the formula written in macroscopic_loss_sym's docstring is the derived one
        a, b, sigma = S.a_sym, S.b_sym, S.sigma_sym
        s = a * sigma
        A = lambda w: ((a - 2) * w**3 + 3 * b * w**2 + 3 * s**2 * (a * w + b)) / (3 * a**2)  # noqa: E731
        B = lambda w: s * ((a - 2) * w**2 + 3 * b * w + 2 * (a + 1) * s**2) / (3 * a**2)  # noqa: E731
        transcribed = (sp.Rational(1, 3)
                       + A(a + b) * S.Phi_sym((a + b) / s) + B(a + b) * S.phi_sym((a + b) / s)
                       - A(b) * S.Phi_sym(b / s) - B(b) * S.phi_sym(b / s))
        assert sp.simplify(S.macroscopic_loss_sym("Phi")["L_on"] - transcribed) == 0

    def test_on_term_derivative_in_b(self):
        # d/db L_on = int_0^1 E[-2 (u - Y) 1{Y > 0}] du = -2 int_0^1 (u psi_0 - s psi_1)(z(u)) du;
        # checked pointwise against quadrature of this independent formula
        L_on = S.macroscopic_loss_sym("Phi")["L_on"]
        dLdb = S.lambdify_closed_form((S.a_sym, S.b_sym, S.sigma_sym), sp.diff(L_on, S.b_sym),
                                      backend="scipy")
        from scipy.special import ndtr
        for a, b, sigma in [(0.7, -0.2, 0.3), (1.3, 0.4, 1.1), (0.4, -0.9, 0.8)]:
            s = a * sigma

            def integrand(u):
                zz = (a * u + b) / s
                pdf = math.exp(-zz * zz / 2) / math.sqrt(2 * math.pi)
                return -2 * (u * ndtr(zz) - s * (zz * ndtr(zz) + pdf))

            ref, _ = integrate.quad(integrand, 0, 1, epsabs=0, epsrel=1e-12)
            assert abs(dLdb(a, b, sigma) - ref) <= 1e-9 * abs(ref)

    def test_small_noise_limit(self):
        # a = 1, b = 0: f(x) = ReLU(x + nu) and L_on -> sigma^2 as sigma -> 0
        L_on = S.macroscopic_loss_sym()["L_on"].subs({S.a_sym: 1, S.b_sym: 0})
        assert sp.limit(L_on / S.sigma_sym**2, S.sigma_sym, 0, "+") == 1

    def test_against_dblquad(self):
        f = {k: S.lambdify_closed_form((S.a_sym, S.b_sym, S.sigma_sym, S.p_sym), e, backend="scipy")
             for k, e in S.macroscopic_loss_sym("Phi").items()}
        for a, b, sigma, p in _random_points(11, 4, sigma_range=(0.2, 1.5)):
            norm = math.sqrt(2 * math.pi) * sigma
            pdf = lambda nu: math.exp(-0.5 * (nu / sigma) ** 2) / norm  # noqa: E731,B023
            raw = lambda nu, u: (u - max(0.0, a * (u + nu) + b)) ** 2 * pdf(nu)  # noqa: E731,B023
            kink = lambda u: -u - b / a  # noqa: E731,B023
            on = sum(integrate.dblquad(raw, 0, 1, lo, hi, epsabs=0, epsrel=1e-11)[0]
                     for lo, hi in ((-np.inf, kink), (kink, np.inf)))
            off = integrate.quad(lambda nu: max(0.0, a * nu + b) ** 2 * pdf(nu), -b / a, np.inf,  # noqa: B023
                                 epsabs=0, epsrel=1e-12)[0]
            assert abs(f["L_on"](a, b, sigma, p) - on) <= 1e-7 * on
            assert abs(f["L_off"](a, b, sigma, p) - off) <= 1e-7 * off
            total = (1 - p) * off + p * on
            assert abs(f["L"](a, b, sigma, p) - total) <= 1e-7 * total

    def test_package_numerics(self):
        ref_L, ref_off, ref_on = _mp_loss("L"), _mp_loss("L_off"), _mp_loss("L_on")
        for a, b, sigma, p in _random_points(2024):
            where = f"(a, b, sigma, p) = ({a!r}, {b!r}, {sigma!r}, {p!r})"
            L_off, L_on = theory.loss_terms(a, b, sigma, p)
            _assert_rel(float(theory.macroscopic_loss(a, b, sigma, p)), ref_L(a, b, sigma, p), 1e-9,
                        "theory.macroscopic_loss " + where)
            _assert_rel(float(L_off), ref_off(a, b, sigma, p), 1e-9, "theory.loss_terms L_off " + where)
            _assert_rel(float(L_on), ref_on(a, b, sigma, p), 1e-9, "theory.loss_terms L_on " + where)

    def test_package_numerics_vectorised(self):
        a, b, sigma, p = _random_points(99).T
        got = theory.macroscopic_loss(a, b, sigma, p)
        mine = S.macroscopic_loss_numeric()(a, b, sigma, p)
        assert got.shape == mine.shape == a.shape
        np.testing.assert_allclose(got, mine, rtol=1e-9, atol=0)

    def test_lambdified_accuracy(self):
        # the lambdified closed form (scipy.special.ndtr for Phi) against mpmath: L and L_on to
        # 1e-12; L_off loses ~log10(z0^4) digits for z0 = b/(a sigma) << 0, so 1e-9 only for z0 > -8
        for term, rtol in (("L", 1e-12), ("L_on", 1e-12), ("L_off", 1e-9)):
            f, ref = S.macroscopic_loss_numeric(term), _mp_loss(term)
            for a, b, sigma, p in _random_points(5):
                if term == "L_off" and b / (a * sigma) < -8:
                    continue
                _assert_rel(float(f(a, b, sigma, p)), ref(a, b, sigma, p), rtol,
                            f"{term} at {(a, b, sigma, p)}")

    def test_numeric_interface(self):
        f = S.macroscopic_loss_numeric()
        assert isinstance(f(1.0, 0.0, 0.5, 0.1), float)
        assert f(np.ones((2, 3)), 0.0, 0.5, np.full(3, 0.1)).shape == (2, 3)
        for kwargs, name in (({"a": 0.0}, "a"), ({"sigma": 0.0}, "sigma"), ({"p": 1.5}, "p"),
                             ({"b": np.nan}, "b"), ({"p": 0.0}, "p")):
            args = {"a": 1.0, "b": 0.0, "sigma": 0.5, "p": 0.1} | kwargs
            with pytest.raises(ValueError, match=name):
                f(**args)
        with pytest.raises(ValueError, match="term"):
            S.macroscopic_loss_numeric("L_total")


class TestPackageAgreement:
    """The package's other numerical functions against the symbolic expressions (mpmath, 50 digits)."""

    def test_feature_moments(self):
        m = S.feature_moments_sym()
        ps = np.array([1e-6, 0.01, 0.3, 0.77, 1.0])
        got = theory.feature_moments(ps)
        for name, expr, values in (("mean", m.mean, got.mean), ("second", m.second, got.second_moment),
                                   ("variance", m.variance, got.variance)):
            want = np.array([float(expr.subs(S.p_sym, sp.Float(pv, 30))) for pv in ps])
            np.testing.assert_allclose(np.asarray(values, dtype=float), want, rtol=1e-14, atol=0,
                                       err_msg=name)

    def test_welch_sigma_and_linear_loss(self):
        var_x = S.feature_moments_sym().variance
        sigma_expr, linear_expr = S.welch_sigma_sym(), S.linear_loss_sym().subs(S.v_sym, var_x)
        for pv, rv in ((0.01, 0.25), (0.5, 0.1), (1.0, 0.9), (0.003, 1 / 64), (0.2, 1.0)):
            point = {S.p_sym: sp.Float(pv, 30), S.r_sym: sp.Float(rv, 30)}
            assert float(theory.welch_sigma(pv, rv)) == pytest.approx(float(sigma_expr.subs(point)),
                                                                      rel=1e-13, abs=1e-300)
            assert float(theory.linear_loss(pv, rv)) == pytest.approx(float(linear_expr.subs(point)),
                                                                      rel=1e-13, abs=1e-300)

    def test_optimal_a(self):
        # appendix B's a_opt = E[xR]/E[R^2]: from the closed form, with the bias written as a*beta,
        # L = c0 + c1 a + c2 a^2 and a_opt = -c1 / (2 c2)
        beta = sp.Symbol("beta", real=True)
        poly = sp.Poly(sp.expand(S.macroscopic_loss_sym("Phi")["L"].subs(S.b_sym, S.a_sym * beta)), S.a_sym)
        a_opt = -poly.coeff_monomial(S.a_sym) / (2 * poly.coeff_monomial(S.a_sym**2))
        f = S.lambdify_closed_form((beta, S.sigma_sym, S.p_sym), a_opt, backend="mpmath")
        rng = np.random.default_rng(8)
        points = zip(rng.uniform(-1, 0.5, 10), rng.uniform(*SIGMA_RANGE, 10), rng.uniform(*P_RANGE, 10))
        for bv, sv, pv in points:
            with mpmath.workdps(50):
                want = float(f(mpmath.mpf(bv), mpmath.mpf(sv), mpmath.mpf(pv)))
            _assert_rel(float(theory.optimal_a(bv, sv, pv)), want, 1e-9,
                        f"theory.optimal_a(b={bv!r}, sigma={sv!r}, p={pv!r})")


# ------------------------------------------------------------------------------------------------
# 4. appendix D: the Welch-type bound
# ------------------------------------------------------------------------------------------------
class TestWelchBound:
    def test_row_variance_identity(self):
        assert S.check_row_variance_identity(3) is True

    @pytest.mark.parametrize("n_d", [3, 4])
    def test_cauchy_schwarz_step(self, n_d):
        assert S.check_cauchy_schwarz_step(n_d) is True

    def test_welch_variance(self):
        expected = (4 * S.p_sym - 3 * S.p_sym**2) / 12 * (1 / S.r_sym - 1)
        assert sp.simplify(S.welch_variance_sym() - expected) == 0
        assert S.welch_variance_sym().subs(S.r_sym, 1) == 0
        assert sp.simplify(S.welch_sigma_sym() ** 2 - expected) == 0

    @pytest.mark.parametrize("n_s, subset", [(4, (0, 1)), (4, (1, 3)), (8, (0, 3, 5)), (8, (2, 4, 6, 7))])
    def test_persian_rug_attains_bound(self, n_s, subset):
        assert S.check_persian_rug_equality(n_s, subset) is True

    def test_persian_rug_is_proportional_to_a_projector(self):
        # R^2 = (n_s/n_d) R for the unnormalised Hadamard of the convention -- not R^2 = R
        R = S.persian_rug_matrix_sym(4, (0, 1))
        assert R * R == 2 * R and R * R != R
        assert all(R[i, i] == 1 for i in range(4))
        assert [sum(R[i, j] ** 2 for j in range(4) if j != i) for i in range(4)] == [1] * 4

    def test_hadamard(self):
        for n in (1, 2, 4, 8):
            H = S.sylvester_hadamard_sym(n)
            assert H * H.T == n * sp.eye(n)
        with pytest.raises(ValueError, match="power of two"):
            S.sylvester_hadamard_sym(6)
        with pytest.raises(ValueError, match="S must be"):
            S.persian_rug_matrix_sym(4, (0, 0))


# ------------------------------------------------------------------------------------------------
# 5. appendix B: the optimal a
# ------------------------------------------------------------------------------------------------
class TestOptimalA:
    def test_closed_form(self):
        res = S.optimal_a_sym()
        E_xx, E_xR, E_RR = res["E_xx"], res["E_xR"], res["E_RR"]
        assert sp.simplify(res["a_opt"] - E_xR / E_RR) == 0
        assert sp.simplify(res["L_min"] - (E_xx - E_xR**2 / E_RR)) == 0
        assert sp.simplify(res["L"].subs(S.a_sym, res["a_opt"]) - res["L_min"]) == 0

    def test_macroscopic_loss_is_quadratic_in_a(self):
        # with the bias written as a*beta, the closed-form L is exactly E[x^2] - 2a E[xR] + a^2 E[R^2]
        beta = sp.Symbol("beta", real=True)
        L = S.macroscopic_loss_sym("Phi")["L"].subs(S.b_sym, S.a_sym * beta)
        poly = sp.Poly(sp.expand(L), S.a_sym)
        assert poly.degree() == 2
        assert sp.simplify(poly.coeff_monomial(1) - S.feature_moments_sym().second) == 0
        # the optimum of that quadratic is the closed form's minimum over a (numeric spot check)
        res = S.optimal_a_sym()
        subs = {res["E_xx"]: poly.coeff_monomial(1), res["E_xR"]: -poly.coeff_monomial(S.a_sym) / 2,
                res["E_RR"]: poly.coeff_monomial(S.a_sym**2)}
        point = {beta: sp.Rational(-1, 5), S.sigma_sym: sp.Rational(3, 10), S.p_sym: sp.Rational(1, 10)}
        a_opt = float(res["a_opt"].subs(subs).subs(point).evalf(30))
        L_min = float(res["L_min"].subs(subs).subs(point).evalf(30))
        L_num = sp.lambdify(S.a_sym, L.subs(point).rewrite(sp.erf), "mpmath")
        assert a_opt > 0
        assert abs(float(L_num(a_opt)) - L_min) <= 1e-12 * L_min
        assert float(L_num(a_opt * 1.01)) > L_min and float(L_num(a_opt * 0.99)) > L_min


# ------------------------------------------------------------------------------------------------
# 6. the optimal linear autoencoder
# ------------------------------------------------------------------------------------------------
class TestLinearLoss:
    def test_closed_form(self):
        assert sp.simplify(S.linear_loss_sym() - S.v_sym * (1 - S.r_sym)) == 0

    def test_concrete_case(self):
        assert S.check_linear_loss(3, 2) is True

    def test_relu_beats_linear_at_the_welch_bound(self):
        # at high sparsity (p = 0.01, r = 1/4) the nonlinear model at the Persian-Rug noise level,
        # with a near-optimal (a, b) = (1.34, -0.3), loses < 1/8 of the best linear autoencoder
        pv, rv = 0.01, 0.25
        sigma_w = float(S.welch_sigma_sym().subs({S.p_sym: pv, S.r_sym: rv}))
        var_x = S.feature_moments_sym().variance
        linear = float(S.linear_loss_sym().subs(S.v_sym, var_x).subs({S.p_sym: pv, S.r_sym: rv}))
        assert linear == pytest.approx((4 * pv - 3 * pv**2) / 12 * (1 - rv), rel=1e-15)
        relu = S.macroscopic_loss_numeric()(1.34, -0.3, sigma_w, pv)
        assert relu < linear / 8
