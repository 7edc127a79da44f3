"""Reference tests for the macroscopic loss of eq. 5 (section 4.1).

x = c*u, c ~ Bernoulli(p), u ~ Uniform[0, 1]; nu ~ Normal(0, sigma^2)
(sigma is a standard deviation), independent of x.

    L     = E[(x - ReLU(a*(x + nu) + b))^2] = (1 - p) L_off + p L_on
    L_off = E_nu[ReLU(a*nu + b)^2]
    L_on  = E_{u,nu}[(u - ReLU(a*(u + nu) + b))^2]

The package under test (``theory``) is compared against the independent
implementations in ``tests/reference.py`` (mpmath quadrature of the raw
integrand, scipy adaptive quadrature, Monte Carlo).  Tests marked ``slow`` are
larger versions of the default ones (run them with ``-m slow``).
"""

from __future__ import annotations

import functools
import math
import os
import re
import sys
import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402

import theory  # noqa: E402

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

TINY = 1e-290  # below this a reference component is not compared relatively


def _call(name, *args):
    """Call theory.<name>(*args) with every warning turned into an error."""
    fn = getattr(theory, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args)


def L(a, b, sigma, p):
    return _call("macroscopic_loss", a, b, sigma, p)


def terms(a, b, sigma, p):
    return _call("loss_terms", a, b, sigma, p)


def mmse(p, sigma):
    return _call("mmse_loss", p, sigma)


@functools.lru_cache(maxsize=None)
def ref_mp(a, b, sigma, p, dps=30):
    return ref.loss_mpmath(a, b, sigma, p, dps=dps)


@functools.lru_cache(maxsize=None)
def ref_mmse(p, sigma, dps=25):
    return ref.mmse_mpmath(p, sigma, dps=dps)


def relerr(actual, expected):
    """|actual - expected| / |expected| evaluated in multiprecision."""
    with mpmath.workdps(50):
        e = mpmath.mpf(expected)
        a = mpmath.mpf(float(actual))
        if e == 0:
            return mpmath.inf if a != 0 else mpmath.mpf(0)
        return abs(a - e) / abs(e)


def check_against_mpmath(a, b, sigma, p, rtol, dps=30):
    """Compare L, L_off and L_on of the package with the mpmath reference."""
    l_off_ref, l_on_ref, l_ref = ref_mp(a, b, sigma, p, dps)
    lv = L(a, b, sigma, p)
    l_off, l_on = terms(a, b, sigma, p)
    where = f"(a, b, sigma, p) = ({a!r}, {b!r}, {sigma!r}, {p!r})"
    for name, got, want in (("L", lv, l_ref), ("L_off", l_off, l_off_ref), ("L_on", l_on, l_on_ref)):
        assert math.isfinite(got), f"{name} not finite at {where}: {got!r}"
        if name == "L" or abs(want) > TINY:
            err = relerr(got, want)
            assert err <= rtol, (
                f"{name} at {where}: package {got!r}, reference {mpmath.nstr(want, 20)}, "
                f"relative error {mpmath.nstr(err, 3)} > {rtol}"
            )
        else:
            # reference below ~1e-290: the package may underflow, but must
            # not return anything non-negligible
            assert 0 <= got <= 1e-280, f"{name} at {where}: package {got!r}, reference {mpmath.nstr(want, 5)}"


def _is_float_scalar(x):
    return isinstance(x, (float, np.floating)) and not isinstance(x, np.ndarray) and np.ndim(x) == 0


# hypothesis strategies (ranges from the task statement)
a_st = st.floats(-3.0, 3.0)
b_st = st.floats(-3.0, 3.0)
sigma_st = st.floats(-3.0, 1.0).map(lambda e: 10.0**e)  # [1e-3, 10]
p_st = st.floats(-6.0, 0.0).map(lambda e: 10.0**e)  # [1e-6, 1]

FAST = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
SLOW = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
# for tests whose reference is an expensive mpmath quadrature: no shrinking
# (a failure reports the example as drawn)
NO_SHRINK = dict(phases=(Phase.explicit, Phase.reuse, Phase.generate))


# ---------------------------------------------------------------------------
# 1. closed form vs mpmath (raw-integrand quadrature), 1e-10 relative
# ---------------------------------------------------------------------------

FIXED = [
    (1.0, 0.0, 0.1, 0.3),
    (0.8, -0.1, 0.05, 0.045),
    (-1.5, 2.0, 1.3, 0.7),
    (2.5, -2.7, 0.4, 0.01),
    (0.3, 0.2, 5.0, 1.0),
    (1.0, 0.0, 1e-3, 0.5),
    (-3.0, -3.0, 10.0, 0.9),
    (1.2, -0.35, 0.25, 0.02),
    (0.95, -0.05, 0.02, 1e-3),
]


@pytest.mark.parametrize("a,b,sigma,p", FIXED)
def test_fixed_points_vs_mpmath(a, b, sigma, p):
    check_against_mpmath(a, b, sigma, p, rtol=1e-10)


@settings(max_examples=20, **FAST, **NO_SHRINK)
@given(a=a_st, b=b_st, sigma=sigma_st, p=p_st)
def test_hypothesis_vs_mpmath(a, b, sigma, p):
    check_against_mpmath(a, b, sigma, p, rtol=1e-10, dps=20)


@pytest.mark.slow
@settings(max_examples=150, **SLOW, **NO_SHRINK)
@given(a=a_st, b=b_st, sigma=sigma_st, p=p_st)
def test_hypothesis_vs_mpmath_slow(a, b, sigma, p):
    check_against_mpmath(a, b, sigma, p, rtol=1e-10, dps=20)


# ---------------------------------------------------------------------------
# 2. vs scipy adaptive quadrature (epsrel 1e-12, nested for L_on)
# ---------------------------------------------------------------------------

QUAD_RTOL = 1e-8


def check_against_quad(a, b, sigma, p):
    q_off, q_on, q = ref.loss_quad(a, b, sigma, p)
    lv = L(a, b, sigma, p)
    l_off, l_on = terms(a, b, sigma, p)
    where = f"(a, b, sigma, p) = ({a!r}, {b!r}, {sigma!r}, {p!r})"
    assert lv == pytest.approx(q, rel=QUAD_RTOL, abs=0), where
    assert l_on == pytest.approx(q_on, rel=QUAD_RTOL, abs=0), where
    # the quad reference truncates |z| <= 40, so L_off below ~1e-300 is 0 there
    assert l_off == pytest.approx(q_off, rel=QUAD_RTOL, abs=1e-300), where


# |a| >= 1e-3 (or exactly 0) keeps the float kink positions finite in loss_quad
quad_a_st = st.one_of(st.just(0.0), st.floats(1e-3, 3.0), st.floats(-3.0, -1e-3))


@settings(max_examples=40, **FAST)
@given(a=quad_a_st, b=b_st, sigma=sigma_st, p=p_st)
def test_hypothesis_vs_quad(a, b, sigma, p):
    check_against_quad(a, b, sigma, p)


@pytest.mark.slow
@settings(max_examples=400, **SLOW)
@given(a=quad_a_st, b=b_st, sigma=sigma_st, p=p_st)
def test_hypothesis_vs_quad_slow(a, b, sigma, p):
    check_against_quad(a, b, sigma, p)


# ---------------------------------------------------------------------------
# 3. vs Monte Carlo, within 4 standard errors (fixed seeds)
# ---------------------------------------------------------------------------

MC_POINTS = [
    (1.0, 0.0, 0.1, 0.3, 11),
    (0.8, -0.1, 0.05, 0.045, 12),
    (-1.5, 2.0, 1.3, 0.7, 13),
    (2.0, -0.5, 0.4, 0.2, 14),
]


@pytest.mark.parametrize("a,b,sigma,p,seed", MC_POINTS)
def test_monte_carlo_loss(a, b, sigma, p, seed):
    est, se = ref.loss_monte_carlo(a, b, sigma, p, n=2_000_000, seed=seed)
    lv = L(a, b, sigma, p)
    assert abs(lv - est) <= 4 * se, f"package {lv!r}, MC {est!r} +- {se!r}"


@pytest.mark.parametrize(
    "a,b,sigma,seed",
    [(1.0, 0.0, 0.1, 21), (0.7, -0.3, 0.5, 22), (-2.0, 0.5, 2.0, 23), (0.9, 0.05, 0.01, 24)],
)
def test_monte_carlo_terms(a, b, sigma, seed):
    off, se_off, on, se_on = ref.loss_terms_monte_carlo(a, b, sigma, n=1_000_000, seed=seed)
    l_off, l_on = terms(a, b, sigma, 0.5)
    assert abs(l_off - off) <= 4 * se_off, f"L_off package {l_off!r}, MC {off!r} +- {se_off!r}"
    assert abs(l_on - on) <= 4 * se_on, f"L_on package {l_on!r}, MC {on!r} +- {se_on!r}"


@pytest.mark.slow
@settings(max_examples=40, **SLOW)
@given(a=a_st, b=b_st, sigma=sigma_st, p=st.floats(0.01, 1.0), seed=st.integers(0, 2**32 - 1))
def test_monte_carlo_loss_slow(a, b, sigma, p, seed):
    est, se = ref.loss_monte_carlo(a, b, sigma, p, n=2_000_000, seed=seed)
    lv = L(a, b, sigma, p)
    # se can be ~0 when the integrand is (nearly) deterministic
    assert abs(lv - est) <= 4 * se + 1e-12 * abs(est), f"package {lv!r}, MC {est!r} +- {se!r}"


# ---------------------------------------------------------------------------
# 4. extreme corners vs mpmath (40 digits), no warnings, 1e-9 relative
# ---------------------------------------------------------------------------

EXTREME = [
    # tiny p
    (1.0, 0.0, 0.1, 1e-10),
    (0.5, -0.2, 1.0, 1e-10),
    # tiny sigma
    (1.0, 0.0, 1e-6, 0.1),
    (0.9, 0.05, 1e-6, 0.3),
    (0.5, -0.2, 1e-6, 1e-10),
    # huge sigma
    (1.0, 0.0, 1e3, 0.5),
    (0.01, 0.3, 1e3, 0.5),
    (-2.0, 3.0, 1e3, 1e-10),
    # huge |b|
    (1.0, 1e3, 1.0, 0.3),
    (1.0, -1e3, 1.0, 0.3),  # L_off ~ 1e-217157
    (3.0, -1e3, 10.0, 0.5),  # L_off ~ 1e-243: must be resolved relatively
    (1.0, -20.0, 1.0, 0.3),  # L_off ~ 1e-91
    (1.0, -1e3, 1e3, 0.5),
    (-1.0, 1e3, 1e-3, 0.5),
    # a = 0 and sigma = 0 (deterministic pre-activation)
    (0.0, 0.5, 1.0, 0.2),
    (0.0, -1.0, 3.0, 0.7),
    (0.0, 1e3, 1e-6, 1e-10),
    (0.7, 0.1, 0.0, 0.4),
    (-1.0, 0.5, 0.0, 0.9),
    (2.0, -1.0, 0.0, 1e-10),
]

EXTREME_SLOW = [
    (1.0, 0.0, 1e-6, 1e-10),
    (1.0, 1e-3, 1e-6, 0.5),
    (1.0, -1e-6, 1e-6, 0.5),
    (-3.0, -3.0, 1e-6, 0.3),
    (3.0, -3.0, 1e-3, 0.2),
    (1e-8, 0.0, 1.0, 0.5),
    (1e-300, -5e-301, 1.0, 0.4),
    (5e-324, 1.0, 0.5, 0.5),
    (3.0, 3.0, 1e3, 1.0),
    (-3.0, -1e3, 1e3, 1e-10),
    (2.0, -1e3, 1e-6, 0.5),
    (1.0, -8.0, 0.25, 0.1),  # kink at 32 sigma
    (1.0, -9.0, 0.25, 0.1),  # kink at 36 sigma: L_off ~ 1e-288
    (0.0, 0.0, 0.0, 1e-10),
    (1.0, 0.0, 0.0, 0.5),
    (0.5, 1e3, 0.0, 1e-10),
]


@pytest.mark.parametrize("a,b,sigma,p", EXTREME)
def test_extreme_corners(a, b, sigma, p):
    check_against_mpmath(a, b, sigma, p, rtol=1e-9, dps=40)


@pytest.mark.slow
@pytest.mark.parametrize("a,b,sigma,p", EXTREME_SLOW)
def test_extreme_corners_slow(a, b, sigma, p):
    check_against_mpmath(a, b, sigma, p, rtol=1e-9, dps=40)


# ---------------------------------------------------------------------------
# 5. broadcasting and return types
# ---------------------------------------------------------------------------


def test_scalar_inputs_return_float():
    lv = L(0.9, -0.1, 0.2, 0.1)
    assert _is_float_scalar(lv), type(lv)
    t = terms(0.9, -0.1, 0.2, 0.1)
    assert isinstance(t, tuple) and len(t) == 2
    assert all(_is_float_scalar(x) for x in t), [type(x) for x in t]


def test_integer_inputs():
    assert L(1, 0, 0, 1) == 0.0
    assert L(0, 1, 2, 1) == pytest.approx(ref.loss_a0_by_hand(1.0, 1.0), rel=1e-14)


def test_broadcasting_matches_scalar_loop():
    a = np.array([0.0, 1.0, -0.7]).reshape(3, 1, 1, 1)
    b = np.array([-1e3, -0.2, 0.0, 0.4]).reshape(4, 1, 1)
    sigma = np.array([0.0, 1e-3, 0.3, 2.0, 1e3]).reshape(5, 1)
    p = np.array([1e-6, 0.6])
    out = L(a, b, sigma, p)
    l_off, l_on = terms(a, b, sigma, p)
    shape = np.broadcast_shapes(a.shape, b.shape, sigma.shape, p.shape)
    for arr in (out, l_off, l_on):
        assert isinstance(arr, np.ndarray)
        assert arr.shape == shape
    A, B, S, P = np.broadcast_arrays(a, b, sigma, p)
    for idx in np.ndindex(shape):
        args = (float(A[idx]), float(B[idx]), float(S[idx]), float(P[idx]))
        s_l = L(*args)
        s_off, s_on = terms(*args)
        np.testing.assert_allclose(out[idx], s_l, rtol=1e-13, atol=0, err_msg=str(args))
        np.testing.assert_allclose(l_off[idx], s_off, rtol=1e-13, atol=0, err_msg=str(args))
        np.testing.assert_allclose(l_on[idx], s_on, rtol=1e-13, atol=0, err_msg=str(args))


def test_list_and_partial_array_inputs():
    out = L([1.0, 0.5], 0.0, 0.1, 0.3)
    assert isinstance(out, np.ndarray) and out.shape == (2,)
    assert out[0] == pytest.approx(L(1.0, 0.0, 0.1, 0.3), rel=1e-13)
    assert out[1] == pytest.approx(L(0.5, 0.0, 0.1, 0.3), rel=1e-13)
    out = L(1.0, 0.0, 0.1, np.array([[0.1, 0.2, 0.3]]))
    assert out.shape == (1, 3)


# ---------------------------------------------------------------------------
# 6. identities and exact special cases
# ---------------------------------------------------------------------------

wide_a = st.floats(-1e3, 1e3)
wide_b = st.floats(-1e3, 1e3)
wide_sigma = st.one_of(st.just(0.0), st.floats(-6.0, 3.0).map(lambda e: 10.0**e))
wide_p = st.one_of(st.just(1.0), st.floats(-10.0, 0.0).map(lambda e: 10.0**e))


@settings(max_examples=150, **FAST)
@given(a=wide_a, b=wide_b, sigma=wide_sigma, p=wide_p)
def test_decomposition_and_nonnegativity(a, b, sigma, p):
    lv = L(a, b, sigma, p)
    l_off, l_on = terms(a, b, sigma, p)
    assert math.isfinite(lv) and math.isfinite(l_off) and math.isfinite(l_on)
    assert lv >= 0 and l_off >= 0 and l_on >= 0
    assert lv == pytest.approx((1 - p) * l_off + p * l_on, rel=1e-12, abs=0)


@pytest.mark.parametrize("p", [1e-10, 1e-3, 0.3, 1.0])
def test_identity_decoder_without_noise_is_exact(p):
    assert L(1.0, 0.0, 0.0, p) == 0.0
    assert terms(1.0, 0.0, 0.0, p) == (0.0, 0.0)


@settings(max_examples=100, **FAST)
@given(b=st.floats(-5.0, 5.0), sigma=wide_sigma, p=wide_p)
def test_a_zero_by_hand(b, sigma, p):
    # a = 0: output is the constant B = max(b, 0) whatever nu is, so
    # L = (1-p) B^2 + p E[(u - B)^2] = (1-p) B^2 + p (1/3 - B + B^2)
    B = max(b, 0.0)
    assert L(0.0, b, sigma, p) == pytest.approx(ref.loss_a0_by_hand(b, p), rel=1e-12, abs=0)
    l_off, l_on = terms(0.0, b, sigma, p)
    assert l_off == pytest.approx(B * B, rel=1e-12, abs=0)
    assert l_on == pytest.approx(1.0 / 3.0 - B + B * B, rel=1e-12, abs=0)


# ---------------------------------------------------------------------------
# 7. validation
# ---------------------------------------------------------------------------

GOOD = dict(a=0.8, b=-0.1, sigma=0.2, p=0.1)
BAD = [
    ("p", 0.0),
    ("p", 1.5),
    ("p", -0.1),
    ("p", float("nan")),
    ("sigma", -1.0),
    ("sigma", float("inf")),
    ("sigma", float("nan")),
    ("a", float("nan")),
    ("a", float("inf")),
    ("b", float("nan")),
    ("b", float("-inf")),
]


def _name_re(name):
    return re.compile(r"\b" + re.escape(name) + r"\b")


@pytest.mark.parametrize("fname", ["macroscopic_loss", "loss_terms"])
@pytest.mark.parametrize("name,value", BAD)
def test_validation(fname, name, value):
    kw = dict(GOOD, **{name: value})
    with pytest.raises(ValueError) as exc:
        _call(fname, kw["a"], kw["b"], kw["sigma"], kw["p"])
    assert _name_re(name).search(str(exc.value)), f"message does not name {name!r}: {exc.value}"


@pytest.mark.parametrize("name,value", [("p", 0.0), ("sigma", -1.0), ("sigma", float("nan"))])
def test_validation_array_with_one_bad_element(name, value):
    kw = dict(GOOD, **{name: np.array([GOOD[name], value])})
    with pytest.raises(ValueError) as exc:
        L(kw["a"], kw["b"], kw["sigma"], kw["p"])
    assert _name_re(name).search(str(exc.value)), str(exc.value)


@pytest.mark.parametrize("value", [0.0, 1.5, -0.2, float("nan")])
def test_feature_moments_validation(value):
    with pytest.raises(ValueError) as exc:
        _call("feature_moments", value)
    assert _name_re("p").search(str(exc.value)), str(exc.value)


@pytest.mark.parametrize("name,value", [("p", 0.0), ("p", 1.5), ("p", float("nan")), ("sigma", -1.0), ("sigma", float("inf"))])
def test_mmse_validation(name, value):
    kw = dict(p=0.1, sigma=0.2)
    kw[name] = value
    with pytest.raises(ValueError) as exc:
        mmse(kw["p"], kw["sigma"])
    assert _name_re(name).search(str(exc.value)), str(exc.value)


# ---------------------------------------------------------------------------
# 8. feature moments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("p", [1e-10, 0.01, 0.3, 1.0])
def test_feature_moments_formulas(p):
    m = _call("feature_moments", p)
    assert m.mean == pytest.approx(p / 2, rel=1e-15)
    assert m.second_moment == pytest.approx(p / 3, rel=1e-15)
    assert m.variance == pytest.approx(p / 3 - p * p / 4, rel=1e-14)


def test_feature_moments_broadcast():
    p = np.array([[1e-6, 0.1], [0.5, 1.0]])
    m = _call("feature_moments", p)
    for attr, want in (("mean", p / 2), ("second_moment", p / 3), ("variance", p / 3 - p**2 / 4)):
        got = np.asarray(getattr(m, attr))
        assert got.shape == p.shape
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


@pytest.mark.parametrize("p,seed", [(0.05, 31), (0.5, 32), (1.0, 33)])
def test_feature_moments_monte_carlo(p, seed):
    n = 2_000_000
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(n) < p, rng.random(n), 0.0)
    m = _call("feature_moments", p)
    rt = math.sqrt(n)
    assert abs(m.mean - x.mean()) <= 4 * x.std() / rt
    assert abs(m.second_moment - (x**2).mean()) <= 4 * (x**2).std() / rt
    c = x - x.mean()
    var_se = math.sqrt(max((c**4).mean() - (c**2).mean() ** 2, 0.0) / n)
    assert abs(m.variance - x.var(ddof=1)) <= 4 * var_se


# ---------------------------------------------------------------------------
# 9. Bayes-optimal elementwise decoder
# ---------------------------------------------------------------------------

MMSE_P = [1e-4, 0.01, 0.045, 0.5]
MMSE_SIGMA = [1e-3, 0.05, 0.3, 2.0]
# one point per p and per sigma in the default run; the full grid is slow
MMSE_FAST = [(1e-4, 0.3), (0.01, 2.0), (0.045, 0.05), (0.5, 1e-3)]


@pytest.mark.parametrize("p,sigma", MMSE_FAST)
def test_mmse_vs_mpmath(p, sigma):
    got = mmse(p, sigma)
    want = ref_mmse(p, sigma)
    assert _is_float_scalar(got) or np.ndim(got) == 0
    err = relerr(got, want)
    assert err <= 1e-8, f"mmse_loss({p}, {sigma}) = {got!r}, reference {mpmath.nstr(want, 17)}, rel err {mpmath.nstr(err, 3)}"


@pytest.mark.slow
@pytest.mark.parametrize("p", MMSE_P)
@pytest.mark.parametrize("sigma", MMSE_SIGMA)
def test_mmse_vs_mpmath_full_grid(p, sigma):
    got = mmse(p, sigma)
    want = ref_mmse(p, sigma)
    err = relerr(got, want)
    assert err <= 1e-8, f"mmse_loss({p}, {sigma}) = {got!r}, reference {mpmath.nstr(want, 17)}, rel err {mpmath.nstr(err, 3)}"


@pytest.mark.parametrize("p,sigma,seed", [(0.045, 0.05, 41), (0.5, 0.3, 42)])
def test_mmse_monte_carlo(p, sigma, seed):
    # checks the reference (closed-form posterior mean + quadrature) and the package
    est, se = ref.mmse_monte_carlo(p, sigma, n=2_000_000, seed=seed)
    want = float(ref_mmse(p, sigma))
    assert abs(want - est) <= 4 * se, f"reference {want!r}, MC {est!r} +- {se!r}"
    got = mmse(p, sigma)
    assert abs(got - est) <= 4 * se, f"package {got!r}, MC {est!r} +- {se!r}"


@pytest.mark.parametrize("y,sigma", [(-0.05, 0.05), (0.3, 0.05), (1.0, 0.3), (0.77, 0.3), (1.1, 2.0), (-3.0, 2.0)])
def test_reference_posterior_mean_closed_form(y, sigma):
    # self-check of reference.py: closed-form u-integrals vs mpmath.quad
    closed = ref.posterior_mean_mpmath(y, 0.1, sigma)
    quad = ref.posterior_mean_mpmath(y, 0.1, sigma, by_quad=True)
    assert relerr(float(closed), quad) <= 1e-14


@settings(max_examples=60, **FAST)
@given(a=st.floats(-3.0, 3.0), b=st.floats(-3.0, 3.0), sigma=sigma_st, p=p_st)
def test_mmse_below_macroscopic_loss(a, b, sigma, p):
    m = mmse(p, sigma)
    lv = L(a, b, sigma, p)
    assert math.isfinite(m) and m >= 0
    assert m <= lv * (1 + 1e-9), f"mmse {m!r} > L {lv!r}"


@pytest.mark.parametrize("p", [1e-4, 0.045, 0.5, 1.0])
def test_mmse_bounds_and_monotonic(p):
    sig = [1e-3, 0.01, 0.05, 0.1, 0.3, 1.0, 2.0, 10.0]
    vals = [mmse(p, s) for s in sig]
    var = p / 3 - p * p / 4
    for s, v in zip(sig, vals):
        assert 0 <= v <= var * (1 + 1e-12), (s, v, var)
    # MMSE is non-decreasing in the noise level
    for (s0, v0), (s1, v1) in zip(zip(sig, vals), zip(sig[1:], vals[1:])):
        assert v1 >= v0 * (1 - 1e-12), (s0, v0, s1, v1)
    # and tends to Var(x) for very large noise
    assert mmse(p, 1e4) == pytest.approx(var, rel=1e-6)


def test_mmse_sigma_zero():
    for p in (1e-4, 0.5, 1.0):
        v = mmse(p, 0.0)
        assert v == 0.0


# ---------------------------------------------------------------------------
# 10. the references agree with each other (self-check of reference.py)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("a,b,sigma,p", FIXED[:4])
def test_references_agree(a, b, sigma, p):
    m = ref_mp(a, b, sigma, p)
    q = ref.loss_quad(a, b, sigma, p)
    for mv, qv in zip(m, q):
        assert relerr(qv, mv) <= 1e-10
    est, se = ref.loss_monte_carlo(a, b, sigma, p, n=500_000, seed=7)
    assert abs(est - float(m[2])) <= 4 * se
