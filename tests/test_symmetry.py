"""numerics.symmetry: row statistics, Delta / Delta_2 / Lambda, KS Gaussianity, macroscopic a, b, sigma.

References are independent of the module: per-row numpy loops, Monte Carlo on numerics.data's sampler,
closed forms for the rug (Welch sigma, row sums of g) and exact laws of one-term interferences.
"""

import json
import math
import time

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import numerics.symmetry as sym
from numerics.data import sample_features
from numerics.rug import RugOperator
from numerics.symmetry import (
    MacroscopicParams,
    Spread,
    SymmetryStats,
    interference_samples,
    macroscopic_params,
    row_statistics,
    symmetry_stats,
)

SPREADS = ("diag", "bias", "mean_nu", "var_nu", "sigma", "effective_bias")
ROW_FIELDS = ("diag", "bias", "mean_nu", "var_nu", "sigma", "effective_bias", "lambda_row")


def var_x(p):
    return p / 3.0 - p * p / 4.0


def ref_rows(W, b, p):
    """Per-row loop in numpy, straight from the definitions."""
    W = np.asarray(W, dtype=np.float64)
    n = W.shape[0]
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), (n,))
    p = np.broadcast_to(np.asarray(p, dtype=np.float64), (n,))
    out = {k: np.empty(n) for k in ROW_FIELDS}
    for i in range(n):
        js = [j for j in range(n) if j != i]
        w = W[i, js]
        mean = sum(W[i, j] * p[j] / 2 for j in js) / W[i, i]
        var = sum(W[i, j] ** 2 * var_x(p[j]) for j in js) / W[i, i] ** 2
        out["diag"][i] = W[i, i]
        out["bias"][i] = b[i]
        out["mean_nu"][i] = mean
        out["var_nu"][i] = var
        out["sigma"][i] = math.sqrt(var)
        out["effective_bias"][i] = b[i] + W[i, i] * mean
        q2 = np.sum(w**2)
        out["lambda_row"][i] = np.sum(np.abs(w) ** 3) / q2**1.5 if q2 > 0 else 0.0
    return out


def random_problem(n, seed, vector_p=True):
    rng = np.random.default_rng(seed)
    W = rng.normal(0, 0.3, (n, n)) + np.diag(rng.uniform(0.5, 1.5, n) * rng.choice([-1, 1], n))
    b = rng.normal(0, 0.2, n)
    p = rng.uniform(0.02, 1.0, n) if vector_p else float(rng.uniform(0.02, 1.0))
    return W, b, p


def assert_rows_close(got, ref, rtol=1e-12, atol=1e-14):
    for k in ROW_FIELDS:
        np.testing.assert_allclose(getattr(got, k).numpy(), ref[k], rtol=rtol, atol=atol, err_msg=k)


# --------------------------------------------------------------------------------------------------


class TestRowStatistics:
    @pytest.mark.parametrize("vector_p", [False, True])
    @pytest.mark.parametrize("n", [1, 2, 13])
    def test_against_loop(self, n, vector_p):
        W, b, p = random_problem(n, seed=n, vector_p=vector_p)
        got = row_statistics(torch.from_numpy(W), torch.from_numpy(b), p)
        assert all(getattr(got, k).dtype == torch.float64 for k in ROW_FIELDS)
        assert got.n_s == n
        assert_rows_close(got, ref_rows(W, b, p))

    def test_scalar_bias_numpy_and_float32_inputs(self):
        W, _, p = random_problem(9, seed=3)
        W32 = W.astype(np.float32)
        ref = ref_rows(W32.astype(np.float64), -0.25, p)
        for w_in in (W32, torch.from_numpy(W32)):
            assert_rows_close(row_statistics(w_in, -0.25, torch.from_numpy(p)), ref)

    def test_input_not_modified(self):
        W, b, p = random_problem(6, seed=4)
        W0 = W.copy()
        Wt = torch.from_numpy(W.copy())
        row_statistics(W, b, p)
        symmetry_stats(Wt, b, p, ks_samples=50, ks_rows=3)
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(Wt.numpy(), W0)

    def test_chunked_rows_match(self, monkeypatch):
        # a tiny working block forces many row chunks (and row groups in the sampler)
        W, b, p = random_problem(37, seed=5)
        ref = ref_rows(W, b, p)
        whole = symmetry_stats(W, b, p, ks_samples=300, ks_rows=10)
        monkeypatch.setattr(sym, "_BLOCK", 100)
        assert_rows_close(row_statistics(W, b, p), ref)
        chunked = symmetry_stats(W, b, p, ks_samples=300, ks_rows=10)
        assert chunked.ks_max == pytest.approx(whole.ks_max, abs=1e-12)
        assert chunked.ks_mean == pytest.approx(whole.ks_mean, abs=1e-12)

    def test_moments_against_monte_carlo(self):
        n, N = 12, 200_000
        W, b, p = random_problem(n, seed=6)
        st_ = row_statistics(W, b, p)
        gen = torch.Generator().manual_seed(11)
        x = sample_features(N, n, torch.from_numpy(p), generator=gen, dtype=torch.float64).numpy()
        off = W - np.diag(np.diag(W))
        nu = (x @ off.T) / np.diag(W)  # (N, n): nu_i for every row
        mean, var = nu.mean(0), nu.var(0)
        se_mean = np.sqrt(var / N)
        se_var = np.sqrt((((nu - mean) ** 4).mean(0) - var**2) / N)
        assert np.all(np.abs(mean - st_.mean_nu.numpy()) < 4 * se_mean)
        assert np.all(np.abs(var - st_.var_nu.numpy()) < 4 * se_var)

    def test_negative_diagonal(self):
        W = np.array([[-2.0, 1.0], [0.5, 1.0]])
        got = row_statistics(W, 0.0, 0.5)
        assert got.mean_nu[0] == pytest.approx(-0.125)  # (1 * 0.25) / -2
        assert got.sigma[0] == pytest.approx(math.sqrt(var_x(0.5)) / 2)
        assert got.effective_bias[0] == pytest.approx(0.25)


class TestSpread:
    def test_definitions(self):
        v = torch.tensor([1.0, 2.0, 4.0, 9.0], dtype=torch.float64)
        s = Spread.of(v)
        assert s.mean == 4.0
        assert s.delta == pytest.approx(np.var([1, 2, 4, 9]))  # mean square, no root (appendix A)
        assert s.rms == pytest.approx(np.std([1, 2, 4, 9]))
        assert s.delta2 == 8.0

    def test_equal_entries_give_exact_zero(self):
        s = Spread.of(torch.full((12345,), 0.1, dtype=torch.float64))
        assert (s.mean, s.delta, s.rms, s.delta2) == (0.1, 0.0, 0.0, 0.0)


class TestMacroscopicParams:
    def test_against_numpy(self):
        W, b, p = random_problem(15, seed=7)
        ref = ref_rows(W, b, p)
        mp = macroscopic_params(W, b, p)
        assert isinstance(mp, MacroscopicParams) and mp.n_s == 15
        assert mp.a == pytest.approx(ref["diag"].mean(), rel=1e-12)
        assert mp.a_spread == pytest.approx(ref["diag"].std(), rel=1e-12)
        assert mp.b_stored == pytest.approx(b.mean(), rel=1e-12)
        assert mp.b_stored_spread == pytest.approx(b.std(), rel=1e-12)
        assert mp.b_eff == pytest.approx(ref["effective_bias"].mean(), rel=1e-12)
        assert mp.b_eff_spread == pytest.approx(ref["effective_bias"].std(), rel=1e-12)
        assert mp.sigma == pytest.approx(ref["sigma"].mean(), rel=1e-12)
        assert mp.sigma_rms == pytest.approx(math.sqrt(ref["var_nu"].mean()), rel=1e-12)
        assert mp.sigma_spread == pytest.approx(ref["sigma"].std(), rel=1e-12)
        assert mp.mean_nu == pytest.approx(ref["mean_nu"].mean(), rel=1e-12)
        assert mp.mean_nu_spread == pytest.approx(ref["mean_nu"].std(), rel=1e-12)
        assert mp.sigma_rms >= mp.sigma
        d = mp.as_dict()
        assert json.loads(json.dumps(d)) == d and isinstance(d["n_s"], int)

    def test_effective_bias_absorbs_mean(self):
        # off-diagonals all c: b_eff = b + (n - 1) c p / 2, the stored b stays b
        n, c, p = 8, 0.05, 0.2
        W = np.full((n, n), c) + np.diag(np.full(n, 1.3 - c))
        mp = macroscopic_params(W, -0.1, p)
        assert mp.b_stored == pytest.approx(-0.1)
        assert mp.b_eff == pytest.approx(-0.1 + (n - 1) * c * p / 2)
        assert mp.a == pytest.approx(1.3)
        assert mp.sigma == pytest.approx(math.sqrt((n - 1) * c * c * var_x(p)) / 1.3)


# --------------------------------------------------------------------------------------------------


def rug_cases():
    return st.integers(1, 8).flatmap(
        lambda k: st.tuples(st.just(2**k), st.integers(1, 2**k), st.integers(0, 2**31 - 1))
    )


class TestRug:
    @given(rug_cases(), st.floats(0.01, 1.0))
    def test_exactly_uniform_and_welch(self, case, p):
        n_s, n_d, seed = case
        rug = RugOperator(n_s, n_d, seed=seed)
        s = symmetry_stats(rug, -0.2, p, ks_samples=0)
        for name in SPREADS:
            sp = getattr(s, name)
            assert sp.delta == 0.0 and sp.rms == 0.0 and sp.delta2 == 0.0, name
        mp = macroscopic_params(rug, -0.2, p)
        assert mp.a == 1.0
        welch = math.sqrt(var_x(p) * (n_s / n_d - 1))
        assert mp.sigma == pytest.approx(welch, rel=1e-12, abs=1e-15)
        assert mp.sigma_rms == pytest.approx(welch, rel=1e-12, abs=1e-15)
        # sum_j R_ij = n_s / n_d if column 0 is in S, else 0 (docs of numerics.rug); minus R_ii = 1
        row_sum = n_s / n_d if 0 in rug.S.tolist() else 0.0
        assert mp.mean_nu == pytest.approx(p / 2 * (row_sum - 1), rel=1e-12, abs=1e-14)
        assert mp.b_eff == pytest.approx(-0.2 + p / 2 * (row_sum - 1), rel=1e-12, abs=1e-14)

    @settings(max_examples=15)
    @given(rug_cases(), st.booleans())
    def test_operator_path_equals_dense_path(self, case, vector_p):
        n_s, n_d, seed = case
        rug = RugOperator(n_s, n_d, seed=seed)
        rng = np.random.default_rng(seed)
        p = rng.uniform(0.05, 0.9, n_s) if vector_p else 0.3
        b = rng.normal(size=n_s)
        dense = rug.dense(torch.float64)
        a, d = row_statistics(rug, b, p), row_statistics(dense, b, p)
        for k in ROW_FIELDS:
            torch.testing.assert_close(getattr(a, k), getattr(d, k), rtol=1e-12, atol=1e-13, msg=k)
        sa = symmetry_stats(rug, b, p, ks_samples=150, ks_rows=6, seed=seed % 97).as_dict()
        sd = symmetry_stats(dense, b, p, ks_samples=150, ks_rows=6, seed=seed % 97).as_dict()
        assert sa.keys() == sd.keys()
        for k in sa:
            if isinstance(sa[k], dict):
                for kk in sa[k]:
                    assert sa[k][kk] == pytest.approx(sd[k][kk], rel=1e-9, abs=1e-12), (k, kk)
            elif sa[k] is None:
                assert sd[k] is None, k
            else:
                assert sa[k] == pytest.approx(sd[k], rel=1e-9, abs=1e-12), k
        ma, md = macroscopic_params(rug, b, p).as_dict(), macroscopic_params(dense, b, p).as_dict()
        for k in ma:
            assert ma[k] == pytest.approx(md[k], rel=1e-9, abs=1e-12), k

    def test_dense_rug_spreads_vanish(self):
        rug = RugOperator(256, 48, seed=2)
        s = symmetry_stats(rug.dense(torch.float64), 0.1, 0.07, ks_samples=0)
        for name in SPREADS:
            assert getattr(s, name).delta < 1e-28 and getattr(s, name).delta2 < 1e-13, name

    def test_vector_p_xor_convolution_at_large_n(self):
        # n_s = 2^16 has no dense fallback: check rows against g[i xor j] sums done here
        n_s, n_d = 2**16, 2**13
        rug = RugOperator(n_s, n_d, seed=9)
        rng = np.random.default_rng(0)
        p = rng.uniform(0.01, 0.3, n_s)
        st_ = row_statistics(rug, 0.0, p)
        g = rug.first_row(torch.float64).numpy()
        j = np.arange(n_s)
        for i in rng.choice(n_s, 6, replace=False):
            w = g[i ^ j]
            w[i] = 0.0
            assert st_.mean_nu[i].item() == pytest.approx(np.sum(w * p / 2) / g[0], rel=1e-9, abs=1e-13)
            assert st_.var_nu[i].item() == pytest.approx(np.sum(w * w * var_x(p)) / g[0] ** 2, rel=1e-9)

    @pytest.mark.slow
    def test_two_to_the_twenty(self):
        rug = RugOperator(2**20, 2**18, seed=1)
        t0 = time.perf_counter()
        s = symmetry_stats(rug, -0.1, 0.05)
        elapsed = time.perf_counter() - t0
        assert s.diag.delta == 0.0 and s.var_nu.delta2 == 0.0
        assert s.sigma.mean == pytest.approx(math.sqrt(var_x(0.05) * 3), rel=1e-12)
        assert s.ks_mean < s.ks_critical and s.ks_rows == 64
        assert elapsed < 120, elapsed


# --------------------------------------------------------------------------------------------------


def perm_problems():
    return st.tuples(st.integers(2, 10), st.integers(0, 2**31 - 1), st.booleans())


class TestPermutation:
    @given(perm_problems())
    def test_relabelling_features(self, case):
        n, seed, vector_p = case
        W, b, p = random_problem(n, seed, vector_p)
        perm = np.random.default_rng(seed + 1).permutation(n)
        Wp, bp = W[np.ix_(perm, perm)], b[perm]
        pp = p[perm] if vector_p else p
        a, c = row_statistics(W, b, p), row_statistics(Wp, bp, pp)
        for k in ROW_FIELDS:
            np.testing.assert_allclose(getattr(c, k).numpy(), getattr(a, k).numpy()[perm],
                                       rtol=1e-12, atol=1e-14, err_msg=k)
        sa = symmetry_stats(W, b, p, ks_samples=0)
        sc = symmetry_stats(Wp, bp, pp, ks_samples=0)
        for name in SPREADS:
            for f in ("mean", "delta", "rms", "delta2"):
                assert getattr(getattr(sc, name), f) == pytest.approx(
                    getattr(getattr(sa, name), f), rel=1e-10, abs=1e-14), (name, f)
        assert sc.lambda_max == pytest.approx(sa.lambda_max, rel=1e-12)
        ma, mc = macroscopic_params(W, b, p).as_dict(), macroscopic_params(Wp, bp, pp).as_dict()
        for k in ma:
            assert mc[k] == pytest.approx(ma[k], rel=1e-10, abs=1e-14), k


# --------------------------------------------------------------------------------------------------


class TestLambda:
    @given(st.integers(2, 40), st.sampled_from([1e-150, 1e-3, 0.7, 1e150]), st.integers(0, 2**31 - 1))
    def test_equal_magnitudes(self, n, c, seed):
        rng = np.random.default_rng(seed)
        W = c * rng.choice([-1.0, 1.0], (n, n))
        np.fill_diagonal(W, rng.uniform(0.5, 2.0, n))
        s = symmetry_stats(W, 0.0, 0.1, ks_samples=0)
        assert s.lambda_max == pytest.approx((n - 1) ** -0.5, rel=1e-12)
        np.testing.assert_allclose(row_statistics(W, 0.0, 0.1).lambda_row.numpy(), (n - 1) ** -0.5, rtol=1e-12)

    def test_max_over_rows(self):
        W = np.eye(4)
        W[0, 1:] = [1.0, 1.0, 1.0]  # (3)^-1/2
        W[2, 3] = 5.0  # a single entry: ratio 1
        lam = row_statistics(W, 0.0, 0.5).lambda_row.numpy()
        np.testing.assert_allclose(lam, [3**-0.5, 0.0, 1.0, 0.0], rtol=1e-14)
        assert symmetry_stats(W, 0.0, 0.5, ks_samples=0).lambda_max == pytest.approx(1.0)

    def test_rug_lambda_falls_with_n(self):
        lams = [symmetry_stats(RugOperator(n, n // 4, seed=3), 0.0, 0.05, ks_samples=0).lambda_max
                for n in (64, 256, 1024, 4096, 16384)]
        assert all(b < 0.75 * a for a, b in zip(lams, lams[1:])), lams
        assert lams[-1] < 0.02

    def test_subgroup_rug_does_not_fall(self):
        # S = {0, .., n_d - 1} is an xor subgroup: g is 1 on n_s / n_d entries, 0 elsewhere, so
        # Lambda = (n_s / n_d - 1)^-1/2 whatever n_s -- a random S is needed for Gaussian interference
        for n in (64, 1024):
            rug = RugOperator(n, n // 4, S=range(n // 4))
            assert symmetry_stats(rug, 0.0, 0.05, ks_samples=0).lambda_max == pytest.approx(3**-0.5, rel=1e-12)


# --------------------------------------------------------------------------------------------------


class TestGaussianity:
    def test_rug_is_near_gaussian(self):
        rug = RugOperator(4096, 1024, seed=1)
        s = symmetry_stats(rug, -0.1, 0.05, ks_samples=2000, ks_rows=64, seed=0)
        assert s.ks_rows == 64 and s.ks_samples == 2000
        assert s.ks_critical == pytest.approx(1.358 / math.sqrt(2000), rel=0.01)
        assert s.ks_mean < s.ks_critical
        assert s.ks_max < s.ks_critical_max

    def test_single_big_entry_is_far_from_gaussian(self):
        n = 512
        rng = np.random.default_rng(0)
        W = np.eye(n) + np.roll(np.eye(n), 1, axis=1) + 0.01 * rng.normal(size=(n, n))
        s = symmetry_stats(W, -0.1, 0.05, ks_samples=2000, ks_rows=64, seed=0)
        assert s.ks_mean > 8 * s.ks_critical
        assert s.lambda_max > 0.5

    def test_one_term_interference_has_the_feature_law(self):
        # W = I + E_(i, i+1): nu_i = x_(i+1) exactly, so the sampler's law of x is checked directly
        n, N = 64, 20_000
        W = np.eye(n) + np.roll(np.eye(n), 1, axis=1)
        p = np.linspace(0.05, 1.0, n)
        rows = [0, 20, 40, 62]
        nu = interference_samples(W, p, rows, n_samples=N, seed=4).numpy()
        assert nu.shape == (N, len(rows))
        for c, i in enumerate(rows):
            pj = p[i + 1]
            on = nu[:, c] > 0
            assert abs(on.mean() - pj) < 4 * math.sqrt(pj * (1 - pj) / N) + 1e-12
            assert scipy.stats.kstest(nu[on, c], "uniform").pvalue > 1e-3
            assert nu[:, c].max() < 1.0 and nu[:, c].min() >= 0.0

    def test_samples_match_exact_moments(self):
        W, _, p = random_problem(30, seed=8)
        rows = list(range(0, 30, 3))
        N = 40_000
        nu = interference_samples(torch.from_numpy(W), torch.from_numpy(p), rows, n_samples=N, seed=2).numpy()
        st_ = row_statistics(W, 0.0, p)
        mean, sd = st_.mean_nu.numpy()[rows], st_.sigma.numpy()[rows]
        assert np.all(np.abs(nu.mean(0) - mean) < 4 * sd / math.sqrt(N))
        np.testing.assert_allclose(nu.std(0), sd, rtol=0.03)

    def test_reproducible_and_shared_x(self):
        W, _, p = random_problem(20, seed=9)
        a = interference_samples(W, p, [3, 7, 11], n_samples=500, seed=5)
        b = interference_samples(W, p, [7], n_samples=500, seed=5)
        c = interference_samples(W, p, [3, 7, 11], n_samples=500, seed=6)
        torch.testing.assert_close(a[:, 1], b[:, 0], rtol=1e-13, atol=1e-15)
        assert not torch.allclose(a, c)
        s1 = symmetry_stats(W, 0.0, p, ks_samples=300, ks_rows=5, seed=1)
        s2 = symmetry_stats(W, 0.0, p, ks_samples=300, ks_rows=5, seed=1)
        assert s1 == s2

    def test_skipped_and_degenerate(self):
        W = np.diag([1.0, 2.0, 3.0])  # no interference at all
        s = symmetry_stats(W, 0.0, 0.3)
        assert isinstance(s, SymmetryStats)
        assert s.lambda_max == 0.0 and s.ks_rows == 0 and math.isnan(s.ks_max)
        d = s.as_dict()
        assert d["ks_max"] is None and d["ks_critical"] is None
        json.dumps(d, allow_nan=False)
        W2, b2, p2 = random_problem(5, seed=1)
        assert math.isnan(symmetry_stats(W2, b2, p2, ks_rows=0).ks_mean)
        d2 = symmetry_stats(W2, b2, p2, ks_samples=100).as_dict()
        assert d2["ks_rows"] == 5 and isinstance(d2["diag"]["delta"], float)
        json.dumps(d2, allow_nan=False)


# --------------------------------------------------------------------------------------------------


GOOD_W = np.eye(3) + 0.1


class TestValidation:
    @pytest.mark.parametrize(
        "W, b, p, name",
        [
            (np.ones((3, 4)), 0.0, 0.1, "W"),
            (np.ones((2, 2, 2)), 0.0, 0.1, "W"),
            (np.ones((0, 0)), 0.0, 0.1, "W"),
            (np.array([[1.0, np.nan], [0.0, 1.0]]), 0.0, 0.1, "W"),
            (torch.tensor([[1.0, float("inf")], [0.0, 1.0]]), 0.0, 0.1, "W"),
            (np.eye(2, dtype=complex), 0.0, 0.1, "W"),
            (np.array([["a", "b"], ["c", "d"]]), 0.0, 0.1, "W"),
            ("W", 0.0, 0.1, "W"),
            (GOOD_W, np.zeros(2), 0.1, "b"),
            (GOOD_W, np.zeros((3, 1)), 0.1, "b"),
            (GOOD_W, np.array([0.0, np.nan, 0.0]), 0.1, "b"),
            (GOOD_W, float("inf"), 0.1, "b"),
            (GOOD_W, 0.0, 0.0, "p"),
            (GOOD_W, 0.0, 1.5, "p"),
            (GOOD_W, 0.0, -0.1, "p"),
            (GOOD_W, 0.0, float("nan"), "p"),
            (GOOD_W, 0.0, np.array([0.1, 0.2]), "p"),
            (GOOD_W, 0.0, np.array([0.1, 0.0, 0.2]), "p"),
            (GOOD_W, 0.0, torch.tensor([0.1, float("nan"), 0.2]), "p"),
        ],
    )
    @pytest.mark.parametrize("fn", [row_statistics, symmetry_stats, macroscopic_params])
    def test_bad_input(self, fn, W, b, p, name):
        with pytest.raises(ValueError, match=rf"^{name}\b"):
            fn(W, b, p)

    def test_zero_diagonal_counts_rows(self):
        W = np.eye(5) + 0.1
        W[1, 1] = W[3, 3] = 0.0
        for fn in (row_statistics, symmetry_stats, macroscopic_params):
            with pytest.raises(ValueError, match=r"^W has 2 of 5 rows with W_ii == 0"):
                fn(W, 0.0, 0.1)
        with pytest.raises(ValueError, match=r"^W has W_ii == 0 in 1 of the requested rows"):
            interference_samples(W, 0.1, [0, 3])

    @pytest.mark.parametrize("kw, name", [({"ks_samples": -1}, "ks_samples"), ({"ks_rows": 1.5}, "ks_rows"),
                                          ({"seed": -3}, "seed"), ({"seed": "x"}, "seed")])
    def test_bad_options(self, kw, name):
        with pytest.raises(ValueError, match=rf"^{name}\b"):
            symmetry_stats(GOOD_W, 0.0, 0.1, **kw)

    @pytest.mark.parametrize("kw, name", [({"rows": [0, 3]}, "rows"), ({"rows": [[0]]}, "rows"),
                                          ({"rows": [0.5]}, "rows"), ({"rows": [0], "n_samples": 0}, "n_samples")])
    def test_bad_sampler_options(self, kw, name):
        with pytest.raises(ValueError, match=rf"^{name}\b"):
            interference_samples(GOOD_W, 0.1, **kw)


def test_doc_examples_run():
    import doctest
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "docs" / "symmetry.md"
    result = doctest.testfile(str(path), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in docs/symmetry.md failed"


def test_unlearned_features():
    from numerics import unlearned_features

    learned = np.full(60, 1.3)
    # a few unlearned features, then most of them (appendix H at alpha = 0: half), then nearly all
    for n_dead in (3, 30, 50):
        diag = learned.copy()
        diag[:n_dead] = np.linspace(-0.02, 0.02, n_dead)
        assert unlearned_features(diag).tolist() == [True] * n_dead + [False] * (60 - n_dead)
    # a median rule would misclassify the half-and-half case; the threshold sits at 1/4 of the 0.9 quantile
    assert unlearned_features(np.array([0.0, 0.29, 0.31, 1.0, 1.2]), quantile=1.0).tolist() == [True, True, False,
                                                                                                False, False]
    assert unlearned_features(torch.tensor([0.0, -0.1])).all()  # nothing positive: nothing learned
    assert unlearned_features(np.array([1.0, np.nan, 1.1])).tolist() == [False, True, False]
    for bad in (dict(fraction=0.0), dict(fraction=1.5), dict(quantile=-0.1)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            unlearned_features(learned, **bad)
    with pytest.raises(ValueError, match="diag"):
        unlearned_features(np.array([]))
