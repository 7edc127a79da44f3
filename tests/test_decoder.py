"""theory.decoder: the exact elementwise MMSE of a row, and the decomposition of a model's loss.

The MMSE is checked against computations that share no code with it:

* one off-diagonal entry (n_s = 2): scipy.integrate.quad of the closed-form mixture density of y;
* n_s = 3: nested scipy quadrature over the uniforms, every on/off pattern enumerated by hand;
* its two routes (closed form for few terms, Fourier for any row) against each other;
* its defining properties: <= the exact loss of the row for every bias, 0 without interference, Var x
  when W_ii = 0, invariant under scaling and sign of the row, and the Gaussian MMSE in the limit of
  many small Welch-like entries.

The decomposition is checked to telescope exactly, on a rug (no heterogeneity; no parameter part at
the optimum) and on random low-rank matrices.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from scipy import integrate

import theory
from theory import decoder as dec


def var_x(p):
    return p * (4.0 - 3.0 * p) / 12.0


def welch_row(n, p, r=0.25, seed=0):
    """n - 1 zero-mean normal entries scaled to the Welch budget sum w^2 = 1/r - 1."""
    w = np.random.default_rng(seed).normal(size=n - 1)
    w -= w.mean()
    return w * math.sqrt(1.0 / r - 1.0) / np.linalg.norm(w)


def rug_matrix(n_s, S):
    g = theory.rug_first_row(n_s, S)
    return g[np.arange(n_s)[:, None] ^ np.arange(n_s)[None, :]]


# ----------------------------------------------------------------------------- references


def quad_one_entry(w, a, p):
    """y = w x0 + a x1: f and N from the closed-form mixture, int N^2 / f by scipy.integrate.quad."""

    def box(z, c):  # density of c u at z
        return 1.0 / abs(c) if 0.0 < z / c < 1.0 else 0.0

    def overlap(y):  # {u in [0, 1]: (y - w u) / a in (0, 1)} as an interval
        e1, e2 = sorted(((y - a) / w, y / w))
        return max(e1, 0.0), min(e2, 1.0)

    def fn(y):
        lo, hi = overlap(y)
        length = max(hi - lo, 0.0)
        first = max(hi * hi - lo * lo, 0.0) / 2.0 if hi > lo else 0.0
        f = (1 - p) * p * box(y, a) + p * (1 - p) * box(y, w) + p * p * length / abs(a)
        n = p * (1 - p) * (y / w) * box(y, w) + p * p * first / abs(a)
        return f, n

    def integrand(y):
        f, n = fn(y)
        return n * n / f if f > 0 else 0.0

    cuts = sorted({0.0, w, a, w + a})
    total = sum(integrate.quad(integrand, lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0] for lo, hi in zip(cuts[:-1], cuts[1:]))
    return p / 3.0 - total


def brute_mmse(coefs, p, eps=1e-11):
    """y = sum_k coefs[k] x_k (x_0 the decoded feature), by nested quad over the uniforms of each pattern."""
    k = len(coefs)

    def dens(y, on, weight_x0):
        """int over the on-uniforms of [u_0 if weight_x0] * delta(y - sum_{j in on} coefs[j] u_j)."""
        first, rest = on[0], on[1:]
        a = coefs[first]
        if not rest:
            if not 0.0 < y / a < 1.0:
                return 0.0
            return (y / a if (weight_x0 and first == 0) else 1.0) / abs(a)

        def inner(u):
            g = dens(y - a * u, rest, weight_x0 and first != 0)
            return (u if (weight_x0 and first == 0) else 1.0) * g

        sums = [sum(coefs[j] for j in s) for m in range(len(rest) + 1) for s in itertools.combinations(rest, m)]
        pts = sorted({(y - s) / a for s in sums if 0.0 < (y - s) / a < 1.0})
        return integrate.quad(inner, 0.0, 1.0, points=pts or None, epsabs=0, epsrel=eps, limit=200)[0]

    def integrand(y):
        f = n = 0.0
        for c in itertools.product((0, 1), repeat=k):
            on = [j for j in range(k) if c[j]]
            if not on:
                continue
            prob = math.prod(p if cj else 1 - p for cj in c)
            f += prob * dens(y, on, False)
            if c[0]:
                n += prob * dens(y, on, True)
        return n * n / f if f > 0 else 0.0

    sums = sorted({sum(s) for m in range(k + 1) for s in itertools.combinations(coefs, m)})
    pieces = [integrate.quad(integrand, lo, hi, epsabs=0, epsrel=eps, limit=200)[0] for lo, hi in zip(sums[:-1], sums[1:]) if hi > lo]
    return p / 3.0 - sum(pieces)


# ----------------------------------------------------------------------------- exact values


def test_no_interference_is_zero_and_blind_row_is_var_x():
    for p in (1e-3, 0.3, 1.0):
        assert dec.exact_mmse([], p).mmse == 0.0
        assert dec.exact_mmse([0.0, 0.0], p, diag=-2.0).mmse == 0.0
        res = dec.exact_mmse([0.3, -0.2], p, diag=0.0)
        assert res.mmse == pytest.approx(var_x(p), rel=1e-15) and res.method == "exact"
    assert dec.exact_mmse([], 0.1, diag=0.0).mmse == pytest.approx(var_x(0.1))


@pytest.mark.parametrize(
    "w, a, p",
    [(1.0, 0.5, 0.05), (1.0, -0.3, 0.2), (1.3, 2.5, 0.01), (-0.7, 0.4, 0.5), (1.0, 0.02, 0.3), (2.0, -3.0, 1.0)],
)
def test_one_entry_against_closed_form_mixture(w, a, p):
    ref = quad_one_entry(w, a, p)
    for method in ("auto", "fourier"):
        res = dec.exact_mmse([a], p, diag=w, method=method)
        assert res.mmse == pytest.approx(ref, rel=1e-10, abs=1e-15), method
        assert abs(res.mmse - ref) <= res.error_estimate + 1e-12 * ref


@pytest.mark.parametrize(
    "coefs, p",
    [((1.0, 0.5, -0.3), 0.2), ((1.3, -0.7, 0.4), 0.05), ((-0.8, 0.6, 0.9), 0.5), ((0.9, 0.25, 0.25), 1.0)],
)
def test_three_features_against_nested_quadrature(coefs, p):
    ref = brute_mmse(coefs, p)
    for method in ("enumerate", "fourier"):
        res = dec.exact_mmse(coefs[1:], p, diag=coefs[0], method=method)
        assert res.mmse == pytest.approx(ref, rel=1e-9), method


def test_routes_agree_on_few_terms():
    """Closed form (validated above) against Fourier on rows of 1-6 terms: within the estimates."""
    rng = np.random.default_rng(3)
    worst = 0.0
    for _ in range(24):
        k = int(rng.integers(1, 7))
        row = rng.normal(size=k) * rng.choice([0.1, 0.5, 2.0])
        p = float(rng.choice([1e-3, 0.02, 0.1, 0.5, 1.0]))
        diag = float(rng.choice([1.0, -0.7, 1.5]))
        e = dec.exact_mmse(row, p, diag, method="enumerate")
        f = dec.exact_mmse(row, p, diag, method="fourier")
        assert e.error_estimate < 1e-6 * e.mmse
        diff = abs(e.mmse - f.mmse)
        assert diff <= e.error_estimate + f.error_estimate + 1e-9 * e.mmse
        worst = max(worst, diff / e.mmse)
    assert worst < 1e-6  # the default tol, 1e-6 relative, is met


def test_tolerance_is_met_on_dense_rows():
    """Default tol against a 100 times tighter run, for rows where the Fourier route does the work."""
    for n, p in ((16, 0.045), (64, 0.01), (256, 0.045)):
        row = welch_row(n, p)
        res = dec.exact_mmse(row, p)
        ref = dec.exact_mmse(row, p, tol=1e-8)
        assert res.method == "fourier"
        assert res.error_estimate <= 1e-6 * res.mmse
        # the aim is met, and the estimate is the right size (an estimate, not a bound: in 40
        # calibration rows the actual error reached 1.3 times it)
        assert abs(res.mmse - ref.mmse) <= min(1e-6 * ref.mmse, 2.0 * res.error_estimate)


# ----------------------------------------------------------------------------- properties


rows = st.lists(
    st.one_of(st.just(0.0), st.floats(-2.0, 2.0).filter(lambda v: abs(v) > 1e-2)), min_size=0, max_size=7
)
probs = st.sampled_from([1e-3, 0.01, 0.045, 0.2, 0.6, 1.0])


@settings(max_examples=30)
@given(rows, probs, st.sampled_from([1.2, 0.8, 0.3, -0.9, 0.0, 2.0]), st.floats(-1.0, 1.0))
def test_lower_bound_on_the_relu_loss(row, p, diag, bias):
    """No elementwise decoder beats E[x | y]: MMSE <= E (x - ReLU(diag x + nu + bias))^2 for every bias."""
    res = dec.exact_mmse(row, p, diag)
    loss = theory.interference_law(np.array(row), p).expected_loss(diag, bias)
    assert 0.0 <= res.mmse <= var_x(p) * (1 + 1e-12) + res.error_estimate
    assert res.mmse <= loss.loss + loss.error_bound + res.error_estimate


@settings(max_examples=15)
@given(rows.filter(lambda r: any(r)), probs, st.floats(0.1, 10.0), st.sampled_from([1.0, -1.0]), st.randoms(use_true_random=False))
def test_invariances(row, p, scale, sign, rnd):
    """Only row / W_ii matters: scaling both, flipping both signs, permuting and adding zeros change nothing."""
    base = dec.exact_mmse(row, p, 1.0)
    perm = list(row) + [0.0]
    rnd.shuffle(perm)
    other = dec.exact_mmse(sign * scale * np.array(perm), p, sign * scale)
    assert other.mmse == pytest.approx(base.mmse, rel=1e-6, abs=1e-12 * p)


def test_gaussian_limit():
    """Many small Welch-like entries: the exact MMSE tends to mmse_loss at sigma = std(nu) / W_ii."""
    p, r = 0.045, 0.25
    gauss = float(theory.mmse_loss(p, theory.welch_sigma(p, r)))
    gaps = []
    for n in (256, 1024, 4096):
        gaps.append(dec.exact_mmse(welch_row(n, p), p).mmse / gauss - 1.0)
    assert gaps[0] > gaps[1] > gaps[2] > 0
    assert gaps[2] < 0.012
    # a rug at n_s = 2^16 (few distinct values, huge counts)
    S = np.random.default_rng(16).permutation(1 << 16)[: 1 << 14]
    g = theory.rug_first_row(1 << 16, S)
    assert dec.exact_mmse(g[1:], p).mmse / gauss - 1.0 == pytest.approx(0.0, abs=2e-3)


def test_one_signed_interference_sits_far_below_the_gaussian_bound():
    """Non-positive interference never pushes y above x: the exact MMSE is far below the Gaussian one."""
    p = 0.045
    row = -np.abs(welch_row(64, p))
    sigma = math.sqrt(var_x(p)) * np.linalg.norm(row)
    exact = dec.exact_mmse(row, p).mmse
    gauss = float(theory.mmse_loss(p, sigma))
    assert exact < 0.5 * gauss
    # random signs at small p n_s: spikes that look like the signal make it *harder* than Gaussian noise
    assert dec.exact_mmse(welch_row(64, p), p).mmse > 1.2 * gauss


# ----------------------------------------------------------------------------- whole models


def test_model_mmse_groups_rows_and_bounds_the_loss():
    rng = np.random.default_rng(5)
    n, p = 12, 0.05
    w_in = rng.normal(size=(4, n)) / 2.0
    W = w_in.T @ w_in
    W[3, 3] = 0.0  # a blind row: Var x
    res = dec.exact_mmse_loss(W, p)
    for i in (0, 3, 7):
        row = np.delete(W[i], i)
        assert res.per_feature[i] == pytest.approx(dec.exact_mmse(row, p, W[i, i]).mmse, rel=1e-12)
    assert res.per_feature[3] == pytest.approx(var_x(p))
    assert res.total == pytest.approx(res.per_feature.mean())
    assert res.n_groups == n
    for b in (-0.3, 0.0, rng.normal(size=n) * 0.2):
        loss = theory.exact_loss(W, b, p)
        assert np.all(res.per_feature <= loss.per_feature + loss.per_feature_bound + res.per_feature_error)
    # a rug: every row is a permutation of one row, so one group; scaling W changes nothing
    S = [1, 6, 11, 12]
    R = rug_matrix(16, S)
    rug = dec.exact_mmse_loss(1.3 * R, p)
    assert rug.n_groups == 1
    assert rug.total == pytest.approx(dec.exact_mmse(theory.rug_first_row(16, S)[1:], p).mmse, rel=1e-12)


# ----------------------------------------------------------------------------- the decomposition


def check_telescopes(d):
    parts = d.parameters + d.heterogeneity + d.non_gaussian
    assert parts == pytest.approx(d.exact - d.L_star, rel=1e-12, abs=1e-15)
    assert d.gaussian - d.L_star == d.parameters
    assert d.row_gaussian == pytest.approx(np.mean(d.per_feature_gaussian), rel=1e-14)


def test_decomposition_of_a_rug():
    p, r = 0.045, 0.25
    n_s = 1024
    S = np.random.default_rng(10).permutation(n_s)[: n_s // 4]
    R = rug_matrix(n_s, S)
    g = theory.rug_first_row(n_s, S)
    # at the macroscopic optimum (raw bias from the effective one): the parameter part vanishes
    opt = theory.optimal_ab(p, r)
    b_raw = opt.b - opt.a * 0.5 * p * float(np.sum(g[1:]))
    d = theory.loss_decomposition(opt.a * R, b_raw, p, r)
    check_telescopes(d)
    assert d.heterogeneity == pytest.approx(0.0, abs=1e-15)
    assert d.parameters == pytest.approx(0.0, abs=1e-12 * d.L_star)
    assert (d.a, d.b_eff, d.sigma) == pytest.approx((opt.a, opt.b, opt.sigma), rel=1e-12)
    assert d.non_gaussian > 0  # at n_s = 1024 the rug's interference still costs 2 %
    assert d.exact == pytest.approx(theory.rug_exact_loss(opt.a, b_raw, p, n_s, S).loss, rel=1e-6)
    # at the rug's own optimum (a, b): the parameter part is second order in its distance
    o = theory.rug_optimal_ab(p, n_s, S)
    d2 = theory.loss_decomposition(o.a * R, o.b, p, r)
    check_telescopes(d2)
    assert d2.b_eff == pytest.approx(o.b_eff, rel=1e-12)
    assert 0 <= d2.parameters < 1e-3 * d2.L_star
    assert d2.exact < d.exact


def test_decomposition_of_a_random_low_rank_model():
    rng = np.random.default_rng(2)
    n_s, n_d, p = 24, 8, 0.05
    w_in = rng.normal(size=(n_d, n_s)) / math.sqrt(n_d)
    W = w_in.T @ w_in * 1.2
    b = rng.normal(size=n_s) * 0.1 - 0.2
    d = theory.loss_decomposition(W, b, p, n_d / n_s)
    check_telescopes(d)
    assert d.n_unlearned == 0 and d.learned.all()
    assert d.exact == theory.exact_loss(W, b, p).total
    assert d.L_star == pytest.approx(float(theory.optimal_loss(p, n_d / n_s)))
    diag = np.diag(W)
    off = W - np.diag(diag)
    sig_i = np.sqrt(var_x(p) * (off**2).sum(axis=1)) / diag
    assert d.a == pytest.approx(diag.mean())
    assert d.b_eff == pytest.approx(np.mean(b + 0.5 * p * off.sum(axis=1)))
    assert d.sigma == pytest.approx(math.sqrt(np.mean(sig_i**2)))
    assert d.per_feature_gaussian[5] == pytest.approx(
        float(theory.macroscopic_loss(diag[5], b[5] + 0.5 * p * off[5].sum(), sig_i[5], p))
    )
    assert d.parameters > 0  # a random matrix is far from the optimum
    out = d.as_dict()
    assert out["learned"] == [True] * n_s and isinstance(out["parameters"], float)


def test_decomposition_unlearned_rows():
    """Rows with W_ii <= 0 keep their exact loss in both terms: they land in heterogeneity."""
    rng = np.random.default_rng(4)
    n_s, p = 10, 0.1
    w_in = rng.normal(size=(5, n_s)) / 2.0
    W = w_in.T @ w_in
    W[2, 2] = 0.0
    W[7, 7] = -0.4
    b = np.full(n_s, -0.1)
    d = theory.loss_decomposition(W, b, p, 0.5)
    check_telescopes(d)
    assert d.n_unlearned == 2 and not d.learned[2] and not d.learned[7]
    assert d.per_feature_gaussian[2] == d.per_feature_exact[2]
    assert d.per_feature_gaussian[7] == d.per_feature_exact[7]
    keep = np.array([i not in (2, 7) for i in range(n_s)])
    assert d.a == pytest.approx(np.diag(W)[keep].mean())
    # a mask marking one more row unlearned moves it out of the means
    mask = keep.copy()
    mask[0] = False
    d2 = theory.loss_decomposition(W, b, p, 0.5, learned=mask)
    check_telescopes(d2)
    assert d2.n_unlearned == 3 and d2.per_feature_gaussian[0] == d2.per_feature_exact[0]
    # nothing learned: no macroscopic parameters, the whole gap is "parameters"
    d3 = theory.loss_decomposition(-np.eye(3), 0.0, p, 0.5)
    check_telescopes(d3)
    assert math.isnan(d3.a) and d3.heterogeneity == 0.0 and d3.non_gaussian == 0.0


# ----------------------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: dec.exact_mmse([[0.1]], 0.1), "row"),
        (lambda: dec.exact_mmse([0.1, np.nan], 0.1), "row"),
        (lambda: dec.exact_mmse([0.1], 0.0), "p"),
        (lambda: dec.exact_mmse([0.1], 1.5), "p"),
        (lambda: dec.exact_mmse([0.1], 0.1, diag=np.inf), "diag"),
        (lambda: dec.exact_mmse([0.1], 0.1, diag=1e-320), "diag"),
        (lambda: dec.exact_mmse([0.1], 0.1, tol=0.0), "tol"),
        (lambda: dec.exact_mmse([0.1], 0.1, method="mc"), "method"),
        (lambda: dec.exact_mmse(np.ones(9), 0.1, method="enumerate"), "method"),
        (lambda: dec.exact_mmse_loss(np.ones((2, 3)), 0.1), "W"),
        (lambda: dec.exact_mmse_loss(np.eye(2), -0.1), "p"),
        (lambda: theory.loss_decomposition(np.eye(2), 0.0, 0.1, 0.0), "r"),
        (lambda: theory.loss_decomposition(np.eye(2), 0.0, 0.1, [0.5, 0.5]), "r"),
        (lambda: theory.loss_decomposition(np.eye(2), [0.0, 0.1, 0.2], 0.1, 0.5), "b"),
        (lambda: theory.loss_decomposition(np.eye(2), 0.0, 0.1, 0.5, learned=[1, 1]), "learned"),
        (lambda: theory.loss_decomposition(np.diag([1.0, 0.0]), 0.0, 0.1, 0.5, learned=np.array([True, True])), "learned"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_results_are_frozen_and_serialisable():
    import dataclasses
    import json

    res = dec.exact_mmse([0.3, -0.2], 0.1)
    model = dec.exact_mmse_loss(np.eye(3) + 0.1, 0.1)
    d = theory.loss_decomposition(np.eye(3) + 0.1, -0.05, 0.1, 0.5)
    for obj in (res, model, d):
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.method = "x"  # type: ignore[misc]
        json.dumps(obj.as_dict())
    from theory import decomposition

    assert theory.exact_mmse is dec.exact_mmse and theory.loss_decomposition is decomposition.loss_decomposition
