"""theory.interference: the exact law of the interference and the exact finite-n_s loss.

Every number is checked against an independent computation:

* cumulants against sympy (one term, the cumulant generating function expanded symbolically), the
  Bernoulli numbers (p = 1) and Monte Carlo k-statistics;
* the density against its closed form (one and two terms) and against its own moments;
* exact_loss against nested scipy quadrature over the uniforms (nquad, every on/off pattern
  enumerated by hand) at n_s = 3, against Monte Carlo at n_s = 64, and against the Gaussian
  macroscopic loss as n_s grows;
* the rug against a dense R = n_d^-1 H_S H_S^T built here from H_mk = (-1)^popcount(m & k), and
  against Monte Carlo.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import time

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats

import theory
from theory import interference as itf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import dense_hadamard  # noqa: E402

# ----------------------------------------------------------------------------- references


def dense_rug(n_s: int, S) -> np.ndarray:
    hs = dense_hadamard(n_s)[:, np.asarray(S)]
    return hs @ hs.T / len(S)


def brute_row_loss(W, b, p, i, epsrel=1e-8, epsabs=1e-12):
    """E (x_i - ReLU(sum_j W_ij x_j + b_i))^2 by enumerating on/off patterns and nquad over the u's."""
    n = W.shape[0]
    others = [j for j in range(n) if j != i and W[i, j] != 0]
    total = 0.0
    for on_i in (0, 1):
        for pattern in itertools.product((0, 1), repeat=len(others)):
            on = [j for j, c in zip(others, pattern) if c]
            prob = (p if on_i else 1 - p) * math.prod(p if c else 1 - p for c in pattern)
            if prob == 0:
                continue
            coef = [W[i, i]] * on_i + [W[i, j] for j in on]
            if not coef:
                total += prob * max(b[i], 0.0) ** 2
                continue

            def f(*u, _coef=coef, _on_i=on_i):
                xi = u[0] if _on_i else 0.0
                z = sum(c * v for c, v in zip(_coef, u)) + b[i]
                return (xi - max(z, 0.0)) ** 2

            def inner_opts(*outer, _coef=coef):
                rest = sum(c * v for c, v in zip(_coef[1:], outer)) + b[i]
                pts = [-rest / _coef[0]] if _coef[0] != 0 and 0 < -rest / _coef[0] < 1 else []
                return {"points": pts, "limit": 200, "epsrel": epsrel, "epsabs": epsabs}

            opts = [inner_opts] + [{"limit": 200, "epsrel": epsrel, "epsabs": epsabs}] * (len(coef) - 1)
            total += prob * integrate.nquad(f, [[0, 1]] * len(coef), opts=opts)[0]
    return total


def sample_features(rng, n, n_s, p):
    return (rng.random((n, n_s)) < p) * rng.random((n, n_s))


def monte_carlo_loss(W, b, p, n=100_000, seed=0, batch=20_000):
    """Per-feature Monte Carlo loss and its standard error."""
    rng = np.random.default_rng(seed)
    n_s = W.shape[0]
    s1 = np.zeros(n_s)
    s2 = np.zeros(n_s)
    for _ in range(n // batch):
        x = sample_features(rng, batch, n_s, p)
        e = (x - np.maximum(x @ W.T + b, 0.0)) ** 2
        s1 += e.sum(0)
        s2 += (e * e).sum(0)
    mean = s1 / n
    return mean, np.sqrt(np.maximum(s2 / n - mean**2, 0.0) / n)


# ----------------------------------------------------------------------------- the law


class TestLaw:
    def test_atom_support_and_zeros(self):
        law = theory.interference_law([0.5, 0.0, -0.25, 0.5, -0.0], 0.2)
        assert law.n_terms == 3
        assert law.atom == pytest.approx(0.8**3, rel=1e-15)
        assert (law.lo, law.hi) == (-0.25, 1.0)
        assert law.values.tolist() == [-0.25, 0.5] and law.counts.tolist() == [1, 2]
        empty = theory.interference_law(np.zeros(4), 0.3)
        assert empty.atom == 1.0 and empty.var == 0.0 and empty.characteristic_function(2.0) == 1.0

    @pytest.mark.parametrize("p", [sp.Rational(1, 10), sp.Rational(1, 2), sp.Integer(1)])
    def test_single_term_cumulants_sympy(self, p):
        w = sp.Rational(3, 7)
        s = sp.symbols("s")
        mgf = 1 - p + p * (sp.exp(w * s) - 1) / (w * s)
        series = sp.series(sp.log(mgf), s, 0, 8).removeO()
        law = theory.interference_law([float(w)], float(p))
        for k in range(1, 8):
            exact = float(series.coeff(s, k) * sp.factorial(k))
            assert law.cumulant(k) == pytest.approx(exact, rel=1e-12, abs=1e-15)

    def test_p1_cumulants_are_bernoulli_numbers(self):
        row = np.array([0.3, -1.1, 0.7])
        law = theory.interference_law(row, 1.0)
        assert law.atom == 0.0
        assert law.cumulant(1) == pytest.approx(row.sum() / 2, rel=1e-14)
        for k in range(2, 9):  # kappa_k(U[0, 1]) = B_k / k
            expected = float(sp.bernoulli(k)) / k * np.sum(row**k)
            assert law.cumulant(k) == pytest.approx(expected, rel=1e-12, abs=1e-15)

    def test_cumulants_against_monte_carlo(self):
        rng = np.random.default_rng(11)
        row = rng.normal(size=12) * 0.4
        p = 0.3
        law = theory.interference_law(row, p)
        x = sample_features(rng, 400_000, row.size, p)
        nu = x @ row
        batches = nu.reshape(40, -1)
        for k in (1, 2, 3, 4):
            per_batch = np.array([stats.kstat(bt, k) for bt in batches])
            se = per_batch.std(ddof=1) / math.sqrt(len(per_batch))
            assert abs(stats.kstat(nu, k) - law.cumulant(k)) < 4 * se + 1e-12, k
        assert law.mean == pytest.approx(p / 2 * row.sum(), rel=1e-14)
        assert law.var == pytest.approx(p * (4 - 3 * p) / 12 * np.sum(row**2), rel=1e-14)

    def test_characteristic_function_against_monte_carlo(self):
        rng = np.random.default_rng(5)
        row = np.array([0.8, -0.5, 0.3, 0.3])
        law = theory.interference_law(row, 0.4)
        nu = sample_features(rng, 400_000, 4, 0.4) @ row
        for t in (0.7, 2.0, 9.0):
            mc = np.mean(np.exp(1j * t * nu))
            assert abs(law.characteristic_function(t) - mc) < 5 / math.sqrt(nu.size)

    def test_counts_equal_repeated_row(self):
        a = theory.interference_law([0.2, -0.1], 0.3, counts=[3, 2])
        b = theory.interference_law([0.2, 0.2, 0.2, -0.1, -0.1], 0.3)
        assert a.values.tolist() == b.values.tolist() and a.counts.tolist() == b.counts.tolist()
        t = np.linspace(-20, 20, 7)
        np.testing.assert_allclose(a.characteristic_function(t), b.characteristic_function(t), atol=1e-15)


class TestDensity:
    def test_single_term_is_exact(self):
        # window = support [0, w]: the continuous part p/w is constant there, every other coefficient is 0
        d = theory.interference_law([0.7], 0.3).density(64)
        assert d.window == (0.0, 0.7) and d.tail_mass == 0.0
        np.testing.assert_allclose(d.density, 0.3 / 0.7, rtol=1e-12)

    def test_two_terms_against_closed_form(self):
        w1, w2, p = 0.5, -0.3, 0.4
        law = theory.interference_law([w1, w2], p)
        d = law.density(4096)
        assert d.window == (w2, w1)

        def exact(y):  # one on: uniforms; both on: the trapezoid of U[0, w1] + U[w2, 0]
            one = p * (1 - p) * ((0 <= y) & (y <= w1)) / w1 + p * (1 - p) * ((w2 <= y) & (y <= 0)) / -w2
            lo, hi = np.maximum(y - w1, w2), np.minimum(y, 0.0)  # overlap of [y - w1, y] with [w2, 0]
            both = p * p * np.maximum(hi - lo, 0.0) / (w1 * -w2)
            return one + both

        err = d.density - exact(d.y)
        dy = (d.window[1] - d.window[0]) / d.y.size
        away = np.min(np.abs(d.y[:, None] - np.array([w2, 0.0, w1])[None, :]), axis=1) > 0.02
        assert np.max(np.abs(err[away])) < 2e-3  # Gibbs only near the jumps
        assert math.sqrt(np.sum(err**2) * dy) <= 2 * d.l2_error_bound

    def test_l2_bound_covers_the_tail_of_the_series(self):
        # Parseval: the truncation error's L2 norm is sqrt((2/L) sum_{k >= N/2} |phi_c(t_k)|^2)
        rng = np.random.default_rng(3)
        for row, p in [(rng.normal(size=3), 0.5), (rng.normal(size=9) * 0.3, 0.2), (rng.normal(size=40) * 0.1, 0.05)]:
            law = theory.interference_law(row, p)
            d = law.density(64)
            ell = d.window[1] - d.window[0]
            k = np.arange(32, 200_000)
            tail = np.abs(law.characteristic_function(2 * np.pi * k / ell) - law.atom) ** 2
            assert math.sqrt(2 / ell * tail.sum()) <= d.l2_error_bound

    def test_mass_mean_and_variance(self):
        rng = np.random.default_rng(0)
        for row, p in [(rng.normal(size=30) * 0.2, 0.5), (rng.normal(size=2000) * 0.02, 0.05)]:
            law = theory.interference_law(row, p)
            d = law.density(512)
            dy = (d.window[1] - d.window[0]) / d.y.size
            assert law.atom + d.density.sum() * dy == pytest.approx(1.0, abs=1e-12)
            mean = (d.y * d.density).sum() * dy  # the atom sits at 0
            var = ((d.y - law.mean) ** 2 * d.density).sum() * dy + law.atom * law.mean**2
            assert mean == pytest.approx(law.mean, rel=1e-8, abs=1e-12)
            assert var == pytest.approx(law.var, rel=1e-8)

    def test_dense_row_window_is_chernoff(self):
        rng = np.random.default_rng(1)
        law = theory.interference_law(rng.normal(size=4000) * 0.02, 0.05)
        d = law.density(256)
        assert law.lo < d.window[0] < law.mean < d.window[1] < law.hi
        assert 0 < d.tail_mass <= 2e-16 * 1.0001


# ----------------------------------------------------------------------------- the loss


def _random_model(rng, n_s, scale):
    W = rng.normal(size=(n_s, n_s)) * scale
    np.fill_diagonal(W, rng.uniform(-0.5, 1.5, size=n_s))
    return W, rng.normal(size=n_s) * 0.3


class TestExactLoss:
    def test_against_nquad_n3(self):
        rng = np.random.default_rng(1)
        W = rng.normal(size=(3, 3)) * 0.6
        np.fill_diagonal(W, [1.2, -0.4, 0.8])
        b = np.array([-0.1, 0.3, 0.05])
        p = 0.4
        ref = np.array([brute_row_loss(W, b, p, i) for i in range(3)])
        res = theory.exact_loss(W, b, p)
        np.testing.assert_allclose(res.per_feature, ref, rtol=1e-6)
        assert res.total == pytest.approx(ref.mean(), rel=1e-6)
        assert np.all(res.per_feature_bound <= 1e-6 * ref)
        for i in range(3):  # the Fourier route on the same rows (few terms: jumps in the density)
            row = W[i].copy()
            row[i] = 0
            four = theory.interference_law(row, p).expected_loss(W[i, i], b[i], method="fourier")
            assert abs(four.loss - ref[i]) <= four.error_bound + 1e-8 * ref[i]
            assert four.error_bound <= 1e-6 * ref[i]

    def test_against_nquad_p1_and_zero_diagonal(self):
        W = np.array([[0.0, 0.7], [-0.45, 0.9]])
        b = np.array([0.1, 0.2])
        ref = np.array([brute_row_loss(W, b, 1.0, i) for i in range(2)])
        np.testing.assert_allclose(theory.exact_loss(W, b, 1.0).per_feature, ref, rtol=1e-6)
        for i in range(2):
            law = theory.interference_law([W[i, 1 - i]], 1.0)
            four = law.expected_loss(W[i, i], b[i], method="fourier")
            assert four.loss == pytest.approx(ref[i], rel=1e-6)

    def test_fourier_matches_enumeration_within_bounds(self):
        rng = np.random.default_rng(7)
        for trial in range(24):
            k = int(rng.integers(1, 11))
            p = [1.0, 0.5, 0.02, float(rng.uniform(0.01, 1))][trial % 4]
            row = rng.normal(size=k) * rng.uniform(0.05, 1.5)
            w = [0.0, -0.7, 1.3, float(rng.normal())][trial % 4]
            bias = float(rng.normal() * 0.8)
            law = theory.interference_law(row, p)
            e = law.expected_loss(w, bias, method="enumerate")
            f = law.expected_loss(w, bias, method="fourier")
            assert abs(e.loss - f.loss) <= e.error_bound + f.error_bound, (k, p, w, bias)
            assert f.error_bound <= 1e-6 * abs(f.loss)

    def test_against_monte_carlo_n64(self):
        rng = np.random.default_rng(2)
        W, b = _random_model(rng, 64, 0.05)
        p = 0.05
        res = theory.exact_loss(W, b, p)
        mean, se = monte_carlo_loss(W, b, p, n=100_000, seed=3)
        assert np.max(np.abs(res.per_feature - mean) / se) < 4.5
        assert np.all(res.per_feature_bound <= 1e-6 * res.per_feature)

    def test_dense_rows_against_monte_carlo(self):
        # a Welch-like model: many terms, the Chernoff window, no enumeration
        rng = np.random.default_rng(4)
        n_s, p, r = 256, 0.045, 0.25
        W = rng.normal(size=(n_s, n_s)) * 1.29 * math.sqrt((1 / r - 1) / n_s)
        np.fill_diagonal(W, 1.29)
        b = -0.18
        res = theory.exact_loss(W, b, p)
        mean, se = monte_carlo_loss(W, b, p, n=40_000, seed=9, batch=10_000)
        z = (res.per_feature - mean) / se
        assert np.max(np.abs(z)) < 5
        assert abs(res.total - mean.mean()) < 5 * math.sqrt(np.mean(se**2))

    def test_no_interference_is_h_of_b(self):
        b = np.array([0.5, -0.2, 0.0, 0.3])
        W = np.diag([0.0, 0.0, 1.0, 2.0])
        res = theory.exact_loss(W, b, 0.3)
        # h(c) = p/3 (c <= c1); c^2 - p(1 - w)c + p(1 - w)^2/3 (c >= c2); w = 1, c = 0 gives 0
        expected = [0.25 - 0.3 * 0.5 + 0.1, 0.1, 0.0, 0.09 + 0.3 * 0.3 + 0.1]
        np.testing.assert_allclose(res.per_feature, expected, rtol=1e-14, atol=1e-16)
        assert res.error_bound == 0.0

    def test_grouping_structured_matrix(self):
        n = 16
        W = 0.1 * (np.ones((n, n)) - np.eye(n)) + 1.1 * np.eye(n)
        res = theory.exact_loss(W, -0.2, 0.1)
        assert res.n_groups == 1
        assert np.all(res.per_feature == res.per_feature[0])
        W[3, 5] = 0.2
        assert theory.exact_loss(W, -0.2, 0.1).n_groups == 2

    def test_gaussian_limit(self):
        # Welch-like rows with zero mean: the exact loss tends to the macroscopic (Gaussian) loss
        p, r, a, b = 0.045, 0.25, 1.29, -0.446
        sigma = math.sqrt(p * (4 - 3 * p) / 12 * (1 / r - 1))
        gaussian = theory.macroscopic_loss(a, b, sigma, p)
        gaps = []
        for n in (64, 256, 1024, 4096, 16384):
            rel = []
            for seed in range(3):
                w = np.random.default_rng(seed).normal(size=n - 1)
                w -= w.mean()
                w *= a * math.sqrt(1 / r - 1) / np.linalg.norm(w)
                law = theory.interference_law(w, p)
                assert law.var == pytest.approx((a * sigma) ** 2, rel=1e-12)
                rel.append(law.expected_loss(a, b).loss / gaussian - 1)
            gaps.append(float(np.mean(np.abs(rel))))
        assert all(g1 > g2 for g1, g2 in zip(gaps, gaps[1:])), gaps
        assert gaps[-1] < 0.01 < gaps[0]
        assert gaps[0] / gaps[-1] > 50  # about 1/n_s: the third and fourth cumulants are O(1/n_s)


# ----------------------------------------------------------------------------- the rug


class TestRug:
    @pytest.mark.parametrize("n_s", [1, 2, 64, 256])
    def test_first_row_against_dense(self, n_s):
        rng = np.random.default_rng(n_s)
        n_d = max(1, n_s // 4)
        S = rng.permutation(n_s)[:n_d]
        R = dense_rug(n_s, S)
        g = theory.rug_first_row(n_s, S)
        np.testing.assert_allclose(g, R[0], atol=1e-15)
        for i in range(0, n_s, max(1, n_s // 7)):
            np.testing.assert_allclose(R[i], g[np.arange(n_s) ^ i], atol=1e-15)
        assert g[0] == 1.0 and np.sum(g**2) == pytest.approx(n_s / n_d, rel=1e-13)

    @pytest.mark.parametrize("n_s", [64, 256])
    def test_equals_dense_exact_loss(self, n_s):
        rng = np.random.default_rng(10 + n_s)
        S = rng.permutation(n_s)[: n_s // 4]
        R = dense_rug(n_s, S)
        for a, b, p in [(1.2, -0.3, 0.05), (0.9, 0.1, 0.5)]:
            rug = theory.rug_exact_loss(a, b, p, n_s, S)
            dense = theory.exact_loss(a * R, b, p)
            assert dense.n_groups == 1
            assert rug.loss == pytest.approx(dense.total, rel=1e-12)
            assert rug.error_bound <= 1e-6 * rug.loss

    def test_against_monte_carlo(self):
        n_s = 64
        S = np.random.default_rng(0).permutation(n_s)[:16]
        a, b, p = 1.25, -0.35, 0.05
        rug = theory.rug_exact_loss(a, b, p, n_s, S)
        mean, se = monte_carlo_loss(a * dense_rug(n_s, S), b, p, n=100_000, seed=1)
        # every feature has the same loss; the features' errors are weakly correlated
        assert abs(mean.mean() - rug.loss) < 5 * se.max()

    def test_large_n_s_in_seconds(self):
        n_s = 2**16
        S = np.random.default_rng(1).permutation(n_s)[: n_s // 4]
        start = time.perf_counter()
        rug = theory.rug_exact_loss(1.29, -0.2, 0.045, n_s, S)
        assert time.perf_counter() - start < 10
        assert rug.error_bound <= 1e-6 * rug.loss
        assert rug.n_s == n_s and rug.n_d == n_s // 4

    @pytest.mark.slow
    def test_n_s_2_20(self):
        n_s = 2**20
        S = np.random.default_rng(2).permutation(n_s)[: n_s // 4]
        start = time.perf_counter()
        rug = theory.rug_exact_loss(1.29, -0.2, 0.045, n_s, S)
        assert time.perf_counter() - start < 30
        opt = theory.optimal_ab(0.045, 0.25)
        # b_raw from the effective bias: E nu = (p/2) sum_{m != 0} g(m) = (p/2)(-1) when 0 is not in S
        mean_nu = 0.5 * 0.045 * (n_s * (0 in S) / (n_s // 4) - 1)
        at_macro = theory.rug_exact_loss(opt.a, opt.b - opt.a * mean_nu, 0.045, n_s, S)
        assert at_macro.loss == pytest.approx(opt.loss, rel=2e-3)
        assert rug.error_bound <= 1e-6 * rug.loss

    def test_optimal_ab(self):
        p, n_s = 0.045, 1024
        S = np.random.default_rng(10).permutation(n_s)[: n_s // 4]
        opt = theory.rug_optimal_ab(p, n_s, S)
        g = theory.rug_first_row(n_s, S)
        mean_nu = p / 2 * g[1:].sum()
        assert mean_nu == pytest.approx(p / 2 * (n_s * (0 in S) / (n_s // 4) - 1), rel=1e-12)
        assert opt.b_eff == pytest.approx(opt.b + opt.a * mean_nu, rel=1e-12)
        start = theory.rug_exact_loss(opt.large_ns_a, opt.large_ns_b - opt.large_ns_a * mean_nu, p, n_s, S)
        assert opt.loss <= start.loss
        for da, db in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3)]:
            assert theory.rug_exact_loss(opt.a + da, opt.b + db, p, n_s, S).loss >= opt.loss
        assert opt.loss == pytest.approx(opt.large_ns_loss, rel=0.05)
        assert opt.a == pytest.approx(opt.large_ns_a, rel=0.05)
        assert opt.as_dict()["n_d"] == n_s // 4


# ----------------------------------------------------------------------------- properties


rows = st.lists(st.floats(-2, 2, allow_nan=False).filter(lambda v: v == 0 or abs(v) > 1e-3), min_size=1, max_size=12)
probs = st.floats(0.01, 1.0)


@given(rows, probs, st.randoms(use_true_random=False))
def test_permutation_leaves_law_unchanged(row, p, rnd):
    perm = list(row)
    rnd.shuffle(perm)
    a, b = theory.interference_law(row, p), theory.interference_law(perm, p)
    assert a.values.tolist() == b.values.tolist() and a.counts.tolist() == b.counts.tolist()
    assert (a.atom, a.lo, a.hi) == (b.atom, b.lo, b.hi)
    for k in (1, 2, 3, 4):
        assert a.cumulant(k) == pytest.approx(b.cumulant(k), rel=1e-12, abs=1e-14)
    t = np.array([0.3, 5.0])
    np.testing.assert_allclose(a.characteristic_function(t), b.characteristic_function(t), atol=1e-13)


@given(rows, probs, st.floats(0.1, 10), st.sampled_from([1.0, -1.0]))
def test_scaling(row, p, c, sign):
    c = c * sign
    a = theory.interference_law(row, p)
    b = theory.interference_law(np.asarray(row) * c, p)
    for k in (1, 2, 3, 4, 5):
        assert b.cumulant(k) == pytest.approx(c**k * a.cumulant(k), rel=1e-10, abs=1e-13)
    lo, hi = sorted((c * a.lo, c * a.hi))
    assert b.lo == pytest.approx(lo, abs=1e-12) and b.hi == pytest.approx(hi, abs=1e-12)
    t = np.array([0.4, 3.0])
    np.testing.assert_allclose(b.characteristic_function(t), a.characteristic_function(c * t), atol=1e-12)
    assert b.atom == a.atom


@given(st.integers(2, 5), st.integers(0, 2**31), probs)
def test_feature_permutation_permutes_losses(n_s, seed, p):
    rng = np.random.default_rng(seed)
    W, b = _random_model(rng, n_s, 0.4)
    perm = rng.permutation(n_s)
    base = theory.exact_loss(W, b, p)
    moved = theory.exact_loss(W[np.ix_(perm, perm)], b[perm], p)
    np.testing.assert_allclose(moved.per_feature, base.per_feature[perm], rtol=1e-12, atol=1e-15)


@given(st.lists(st.floats(-1, 1).filter(lambda v: abs(v) > 1e-2), min_size=1, max_size=6), st.floats(-1, 1.5), st.floats(-1, 1))
def test_p1_edge(row, w, bias):
    law = theory.interference_law(row, 1.0)
    assert law.atom == 0.0
    e = law.expected_loss(w, bias, method="enumerate")
    f = law.expected_loss(w, bias, method="fourier")
    assert abs(e.loss - f.loss) <= e.error_bound + f.error_bound


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((np.ones((2, 3)), 0.0, 0.1), {}, "W must be a square"),
        ((np.ones(3), 0.0, 0.1), {}, "W must be a square"),
        ((np.array([[1.0, np.nan], [0.0, 1.0]]), 0.0, 0.1), {}, "W must be finite"),
        ((np.eye(2), [0.0, 0.1, 0.2], 0.1), {}, "b must be a scalar or a vector of length 2"),
        ((np.eye(2), np.inf, 0.1), {}, "b must be"),
        ((np.eye(2), 0.0, 0.0), {}, r"p must be in \(0, 1\]"),
        ((np.eye(2), 0.0, 1.5), {}, r"p must be in \(0, 1\]"),
        ((np.eye(2), 0.0, np.nan), {}, r"p must be in \(0, 1\]"),
        ((np.eye(2), 0.0, [0.1, 0.2]), {}, "p must be a scalar"),
        ((np.eye(2), 0.0, 0.1), {"tol": 0.0}, "tol must be"),
        (([["a"]], 0.0, 0.1), {}, "W must be"),
    ],
)
def test_exact_loss_rejects(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        theory.exact_loss(*args, **kwargs)


def test_law_and_rug_reject():
    with pytest.raises(ValueError, match="row must be a 1-D"):
        theory.interference_law(np.ones((2, 2)), 0.1)
    with pytest.raises(ValueError, match="row must be"):
        theory.interference_law([0.1, np.nan], 0.1)
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\]"):
        theory.interference_law([0.1], -0.1)
    with pytest.raises(ValueError, match="counts must be"):
        theory.interference_law([0.1, 0.2], 0.1, counts=[1, 0.5])
    law = theory.interference_law([0.1], 0.1)
    with pytest.raises(ValueError, match="k must be an integer"):
        law.cumulant(0)
    with pytest.raises(ValueError, match="grid_size must be"):
        law.density(7)
    with pytest.raises(ValueError, match=r"grid_size must be an even integer in \[8, 16777216\]"):
        law.density(2**30)  # 16 GiB: refused before allocating
    with pytest.raises(ValueError, match="method must be"):
        law.expected_loss(1.0, 0.0, method="mc")
    with pytest.raises(ValueError, match="diag must be"):
        law.expected_loss(np.nan, 0.0)
    with pytest.raises(ValueError, match="n_s must be a power of two"):
        theory.rug_first_row(12, [0, 1])
    with pytest.raises(ValueError, match="S must hold column indices"):
        theory.rug_first_row(8, [0, 8])
    with pytest.raises(ValueError, match="S must hold distinct"):
        theory.rug_first_row(8, [1, 1])
    with pytest.raises(ValueError, match="S must be a non-empty"):
        theory.rug_first_row(8, [])
    with pytest.raises(ValueError, match="a must be"):
        theory.rug_exact_loss(np.inf, 0.0, 0.1, 8, [1, 2])
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\]"):
        theory.rug_optimal_ab(0.0, 8, [1, 2])


def test_results_are_frozen_and_serialisable():
    import dataclasses
    import json

    res = theory.exact_loss(np.eye(3) + 0.1, 0.0, 0.2)
    json.dumps(res.as_dict())
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.total = 0.0
    law = theory.interference_law([0.1, -0.2], 0.2)
    json.dumps(law.as_dict())
    json.dumps(law.density(16).as_dict())
    json.dumps(theory.rug_exact_loss(1.0, 0.0, 0.1, 16, [1, 3, 5]).as_dict())
