"""Sparse autoencoders on toy data (numerics.sae): the generator's statistics, the model, the metrics, a
short training run that recovers its features, and the sweep's files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as hst
from scipy import stats as st

from numerics import sae
from numerics.sae import (
    DeadNeuronTracker,
    SAEDataConfig,
    SAESweepConfig,
    SAETrainConfig,
    SparseAutoencoder,
    ToyFeatureData,
    count_dead,
    mmcs,
    mmcs_larger,
    sae_sweep,
    ssll,
    standardized_log,
    train_sae,
)


def _activity(data: ToyFeatureData, n: int, seed: int = 1) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    _, s = data.sample(n, g, return_coefficients=True)
    return (s > 0).double().numpy()


# ================================================================================================ data
class TestGenerator:
    def test_mean_active_is_n_active_at_the_report_defaults(self):
        data = ToyFeatureData(SAEDataConfig(), dtype="float64")  # h = 256, G = 512, 5 active, lambda 0.99
        counts = _activity(data, 8192).sum(1)
        se = counts.std() / math.sqrt(len(counts))
        assert abs(counts.mean() - 5.0) < 4 * se
        assert 0.5 * se < 0.1  # the check is sharp enough to see 5.2 vs 5

    def test_features_unit_norm_and_x_is_their_combination(self):
        data = ToyFeatureData(SAEDataConfig(h=32, G=48, n_active=3), dtype="float64")
        F = data.features
        assert F.shape == (32, 48)
        assert torch.allclose(torch.linalg.vector_norm(F, dim=0), torch.ones(48, dtype=torch.float64), atol=1e-12)
        x, s = data.sample(500, torch.Generator().manual_seed(0), return_coefficients=True)
        assert float(s.min()) >= 0.0 and float(s.max()) <= 1.0
        manual = np.einsum("bg,hg->bh", s.numpy(), F.numpy())
        assert np.allclose(x.numpy(), manual, atol=1e-12)
        on = s[s > 0].numpy()  # coefficients of the active features: Uniform[0, 1], mean 1/2
        assert abs(on.mean() - 0.5) < 4 * math.sqrt(1 / 12 / len(on))

    def test_frequencies_decay_exponentially(self):
        cfg = SAEDataConfig(h=16, G=40, n_active=2.0, decay=0.93, correlation_rank=4, correlation_strength=0.7)
        data = ToyFeatureData(cfg, dtype="float64")
        N = 40_000
        freq = _activity(data, N).mean(0)
        lam = 0.93 ** np.arange(40)
        expected = 2.0 * lam / lam.sum()  # computed here from the report's recipe, not read from the code
        se = np.sqrt(expected * (1 - expected) / N)
        assert np.all(np.abs(freq - expected) < 5 * se)
        slope = np.polyfit(np.arange(40), np.log(freq), 1, w=np.sqrt(freq))[0]
        assert abs(slope - math.log(0.93)) < 0.01  # log 0.93 = -0.073; no decay would be 0

    def test_no_decay_means_equal_frequencies(self):
        data = ToyFeatureData(SAEDataConfig(h=8, G=16, n_active=2.0, decay=1.0), dtype="float64")
        freq = _activity(data, 20_000).mean(0)
        assert np.all(np.abs(freq - 2 / 16) < 5 * math.sqrt(0.125 * 0.875 / 20_000))

    def test_activity_correlations_follow_the_latent_correlations(self):
        cfg = SAEDataConfig(h=8, G=8, n_active=2.0, decay=1.0, correlation_rank=1, correlation_strength=0.9)
        data = ToyFeatureData(cfg, dtype="float64")
        N = 40_000
        A = _activity(data, N)
        corr = np.corrcoef(A.T)
        C = data.latent_correlation.numpy()
        iu = np.triu_indices(8, 1)
        assert np.max(np.abs(corr[iu])) > 0.1  # far beyond the noise level 1/sqrt(N) = 0.005
        assert np.corrcoef(corr[iu], C[iu])[0, 1] > 0.9
        assert np.all(np.sign(corr[iu]) == np.sign(C[iu]))  # rank one: C_ij = 0.9 (+-1)

    def test_independent_features_are_uncorrelated(self):
        cfg = SAEDataConfig(h=8, G=8, n_active=2.0, decay=1.0, correlation_strength=0.0)
        A = _activity(ToyFeatureData(cfg, dtype="float64"), 40_000)
        corr = np.corrcoef(A.T)[np.triu_indices(8, 1)]
        assert np.max(np.abs(corr)) < 5 / math.sqrt(40_000)

    def test_latent_correlation_is_a_correlation_matrix(self):
        data = ToyFeatureData(SAEDataConfig(h=8, G=12, correlation_rank=3, correlation_strength=0.6, n_active=1))
        C = data.latent_correlation
        assert torch.allclose(C.diagonal(), torch.ones(12, dtype=C.dtype))
        assert torch.allclose(C, C.T)
        assert float(torch.linalg.eigvalsh(C).min()) > 0.39  # >= 1 - rho
        # and z has that covariance: empirical covariance of Phi^-1(p / base)
        g = torch.Generator().manual_seed(3)
        data64 = ToyFeatureData(data.config, dtype="float64")
        p = data64.probabilities(40_000, g)
        z = torch.special.ndtri(p / data64.base)
        emp = torch.cov(z.T)
        assert torch.allclose(emp, data64.latent_correlation, atol=0.04)

    def test_reproducible_and_seed_dependent(self):
        cfg = SAEDataConfig(h=8, G=16, n_active=1)
        a, b = ToyFeatureData(cfg), ToyFeatureData(cfg)
        assert torch.equal(a.features, b.features)
        assert torch.equal(a.sample(64), b.sample(64))  # the objects' own streams
        c = ToyFeatureData(SAEDataConfig(h=8, G=16, n_active=1, seed=1))
        assert not torch.equal(a.features, c.features)

    def test_scale_makes_expected_count_n_active(self):
        cfg = SAEDataConfig(h=4, G=30, n_active=3.0, decay=0.9)
        assert math.isclose(cfg.expected_probabilities.sum(), 3.0)
        assert math.isclose(cfg.expected_probabilities[0] / cfg.expected_probabilities[1], 1 / 0.9)


# ---- the decayed and rescaled steps against their exact law ---------------------------------------------
#: every sampling check below errs with probability at most ALPHA (Bonferroni over its sub-tests); the seeds
#: are fixed, so a pass is reproducible, and each check is shown to reject the law without the step it tests
ALPHA = 1e-3


def _draw(data: ToyFeatureData, n: int, seed: int):
    """(p, b, s, x) of n samples: the probabilities come from the same generator state as the samples."""
    p = data.probabilities(n, torch.Generator().manual_seed(seed)).numpy()
    x, s = data.sample(n, torch.Generator().manual_seed(seed), return_coefficients=True)
    return p, (s > 0).double().numpy(), s.numpy(), x.numpy()


def _binomial_pvalues(counts, n, probs) -> np.ndarray:
    return np.array([st.binomtest(int(k), n, float(q)).pvalue for k, q in zip(np.ravel(counts), np.ravel(probs))])


def _decayed_law(cfg: SAEDataConfig, data: ToyFeatureData):
    """The report's recipe with the expected-mean rescaling, computed here with scipy: marginals
    P_g = k lambda^g / 2 and pairs q_gg' = k^2 lambda^(g+g') E[Phi(z_g) Phi(z_g')], where
    E[Phi(z_g) Phi(z_g')] = P(e_g - z_g <= 0, e_g' - z_g' <= 0) (e independent standard normals), a
    bivariate normal orthant with variances 2 and covariance C_gg'."""
    lam = cfg.decay ** np.arange(cfg.G)
    k = cfg.n_active / (lam.sum() / 2)
    U = data.factors.double().numpy()
    C = cfg.correlation_strength * U @ U.T
    np.fill_diagonal(C, 1.0)
    P = k * lam / 2
    E = np.empty((cfg.G, cfg.G))
    for g in range(cfg.G):
        for h in range(cfg.G):
            E[g, h] = 0.5 if g == h else st.multivariate_normal(cov=[[2.0, C[g, h]], [C[g, h], 2.0]]).cdf([0.0, 0.0])
    q = k * k * np.outer(lam, lam) * E
    np.fill_diagonal(q, P)
    return P, q, C


class TestDecayedAndRescaledLaw:
    """'the probability of the gth feature is pg=(p′g)gλ' [read p'_g lambda^g] (decayed) and 'we multiplied
    each probability by this ratio to rescale them, ensuring that on average 5 out of G ground truth features
    are active' (rescaled), with the correlated p'_g = Phi(z_g) before them."""

    N = 100_000
    cfg = SAEDataConfig(h=6, G=8, n_active=1.5, decay=0.9, correlation_rank=1, correlation_strength=0.9, seed=4)

    @pytest.fixture(scope="class")
    @classmethod
    def drawn(cls):  # a class-scoped fixture is a classmethod (pytest 9 deprecates instance methods here)
        data = ToyFeatureData(cls.cfg, dtype="float64")
        return data, _draw(data, cls.N, seed=11)

    def test_marginals_and_pairs_follow_the_exact_law(self, drawn):
        data, (_, b, _, _) = drawn
        P, q, C = _decayed_law(self.cfg, data)
        iu = np.triu_indices(self.cfg.G, 1)
        counts = b.T @ b  # co-activations; the diagonal: activations
        pv = np.concatenate([_binomial_pvalues(np.diag(counts), self.N, P),
                             _binomial_pvalues(counts[iu], self.N, q[iu])])
        assert pv.min() > ALPHA / pv.size, pv.min()
        # the check sees the steps: no decay, or independent features, is rejected
        flat = np.full(self.cfg.G, self.cfg.n_active / self.cfg.G)
        assert _binomial_pvalues(np.diag(counts), self.N, flat).min() < ALPHA / pv.size
        indep = np.outer(P, P)[iu]
        assert _binomial_pvalues(counts[iu], self.N, indep).min() < ALPHA / pv.size
        assert np.all(np.abs(C[iu]) > 0.89)  # rank one: the correlations are +-0.9

    def test_count_and_norm_follow_the_exact_law(self, drawn):
        data, (_, b, _, x) = drawn
        P, q, _ = _decayed_law(self.cfg, data)
        z = st.norm.ppf(1 - ALPHA / 4)  # two two-sided tests
        # the number of active features: mean n_active, variance sum_gg' (q_gg' - P_g P_g')
        count = b.sum(1)
        var = float((q - np.outer(P, P)).sum())
        assert P.sum() == pytest.approx(self.cfg.n_active, rel=1e-12)
        assert abs(count.mean() - self.cfg.n_active) < z * math.sqrt(var / self.N)
        # ||x||^2 = sum_gg' s_g s_g' F_g.F_g': E = sum_g P_g / 3 + sum_{g != g'} q_gg' (F_g.F_g') / 4
        F = data.features.numpy()
        gram = F.T @ F
        off = q * gram / 4
        np.fill_diagonal(off, 0.0)
        exact = float(P.sum() / 3 + off.sum())
        sq = (x * x).sum(1)
        assert abs(sq.mean() - exact) < z * sq.std(ddof=1) / math.sqrt(self.N)
        # with independent features the mean would differ by far more than the interval
        indep = np.outer(P, P) * gram / 4
        np.fill_diagonal(indep, 0.0)
        assert abs(float(P.sum() / 3 + indep.sum()) - exact) > 2 * z * sq.std(ddof=1) / math.sqrt(self.N)

    def test_coefficients_are_uniform_and_features_on_the_sphere(self, drawn):
        _, (_, b, s, _) = drawn
        assert st.kstest(s[b > 0], "uniform").pvalue > ALPHA / 2
        assert np.all(s[b == 0] == 0)
        h, G = 256, 512  # the report's sizes: "G=512 independent samples from a h-dimensional sphere"
        F = ToyFeatureData(SAEDataConfig(h=h, G=G)).features.double().numpy()
        assert np.allclose(np.linalg.norm(F, axis=0), 1.0, atol=1e-12)
        # one coordinate of a uniform unit vector: (F + 1) / 2 ~ Beta((h - 1) / 2, (h - 1) / 2)
        assert st.kstest((F[0] + 1) / 2, st.beta((h - 1) / 2, (h - 1) / 2).cdf).pvalue > ALPHA / 2

    @pytest.mark.parametrize("rescaling", ["expected", "per_sample"])
    def test_activity_given_the_probabilities_is_bernoulli(self, rescaling):
        """Given each sample's probabilities, the activities are independent Bernoulli(p_g): per feature and
        for the count (Poisson-binomial: mean sum_g p_g, variance sum_g p_g (1 - p_g)), its mean and variance."""
        cfg = SAEDataConfig(**(self.cfg.to_dict() | {"rescaling": rescaling}))
        p, b, _, _ = _draw(ToyFeatureData(cfg, dtype="float64"), self.N, seed=12)
        z = st.norm.ppf(1 - ALPHA / (2 * (cfg.G + 2)))
        v = p * (1 - p)
        per_feature = (b - p).sum(0) / np.sqrt(v.sum(0))
        assert np.abs(per_feature).max() < z
        count, mean, var = b.sum(1), p.sum(1), v.sum(1)
        assert abs((count - mean).sum()) < z * math.sqrt(var.sum())
        dev = (count - mean) ** 2 - var  # mean 0 given p
        assert abs(dev.mean()) < z * dev.std(ddof=1) / math.sqrt(self.N)

    def test_per_sample_rescaling_is_the_reports_words_for_each_sample(self):
        """'calculated the mean probability of all features ... the ratio of [n_active / G] to the mean
        probability ... multiplied each probability by this ratio': each sample's probabilities sum to
        n_active, proportional to the decayed ones drawn from the same z."""
        base = self.cfg.to_dict() | {"n_active": 1.0}  # n_active <= 1: nothing can be clipped
        exp = ToyFeatureData(SAEDataConfig(**base), dtype="float64")
        per = ToyFeatureData(SAEDataConfig(**(base | {"rescaling": "per_sample"})), dtype="float64")
        pe = exp.probabilities(2000, torch.Generator().manual_seed(5)).numpy()
        pp = per.probabilities(2000, torch.Generator().manual_seed(5)).numpy()
        assert np.allclose(pp.sum(1), 1.0, rtol=1e-12)
        assert np.allclose(pp, pe / pe.sum(1, keepdims=True), rtol=1e-12)
        assert np.std(pe.sum(1)) > 0.05  # the expected-mean rescaling's sums do vary

    def test_per_sample_exchangeable_marginals_are_n_active_over_G(self):
        """Without decay or correlations the features are exchangeable, so each is on with probability
        exactly n_active / G, and the count's variance is below n_active (sub-Poisson)."""
        cfg = SAEDataConfig(h=4, G=6, n_active=1.0, decay=1.0, correlation_strength=0.0, rescaling="per_sample")
        p, b, _, _ = _draw(ToyFeatureData(cfg, dtype="float64"), self.N, seed=13)
        assert np.allclose(p.sum(1), 1.0, rtol=1e-12)  # n_active <= 1: no probability is clipped
        pv = _binomial_pvalues(b.sum(0), self.N, np.full(6, 1.0 / 6))
        assert pv.min() > ALPHA / 6
        # the check sees a wrong law: 10 % more or less activity is rejected
        assert _binomial_pvalues(b.sum(0), self.N, np.full(6, 1.1 / 6)).min() < ALPHA / 6
        count = b.sum(1)
        # exact: Var = E sum_g p_g (1 - p_g) (the sum is fixed); chi-square interval on the sample variance
        exact = float((p * (1 - p)).sum(1).mean())
        lo, hi = (self.N - 1) * count.var(ddof=1) / st.chi2.ppf([1 - ALPHA / 2, ALPHA / 2], self.N - 1)
        kurt = st.kurtosis(count)  # widen the normal-theory interval by the count's excess kurtosis
        widen = math.sqrt(1 + max(kurt, 0) / 2)
        mid = count.var(ddof=1)
        assert mid - widen * (mid - lo) <= exact <= mid + widen * (hi - mid)
        assert count.var(ddof=1) < 1.0


_configs = hst.builds(
    dict,
    h=hst.integers(1, 6), G=hst.integers(1, 10), frac=hst.floats(0.05, 1.0), decay=hst.floats(0.5, 1.0),
    rank=hst.one_of(hst.none(), hst.integers(1, 4)), rho=hst.floats(0.0, 1.0),
    rescaling=hst.sampled_from(["expected", "per_sample"]), seed=hst.integers(0, 2**16))


def _config(c) -> SAEDataConfig:
    lam = c["decay"] ** np.arange(c["G"])
    n_active = c["frac"] * 0.5 * lam.sum() * (1 - 1e-9)  # at most the largest that needs no clipping (k <= 1)
    return SAEDataConfig(h=c["h"], G=c["G"], n_active=n_active, decay=c["decay"], correlation_rank=c["rank"],
                         correlation_strength=c["rho"], rescaling=c["rescaling"], seed=c["seed"])


class TestGeneratorProperties:
    @settings(max_examples=40, deadline=None)
    @given(_configs)
    def test_probabilities_and_samples(self, c):
        cfg = _config(c)
        data = ToyFeatureData(cfg, dtype="float64")
        assert cfg.expected_probabilities.sum() == pytest.approx(cfg.n_active, rel=1e-9)
        p = data.probabilities(64, torch.Generator().manual_seed(1)).numpy()
        assert np.all((p >= 0) & (p <= 1))
        lam = cfg.decay ** np.arange(cfg.G)
        if cfg.rescaling == "expected":
            assert np.all(p <= cfg.scale * lam * (1 + 1e-12))  # k lambda^g p'_g with p'_g in (0, 1)
        else:
            sums = p.sum(1)
            assert np.all(sums <= cfg.n_active * (1 + 1e-9))
            unclipped = p.max(1) < 1
            assert np.allclose(sums[unclipped], cfg.n_active, rtol=1e-9)
        x, s = data.sample(64, torch.Generator().manual_seed(2), return_coefficients=True)
        assert np.all((s.numpy() >= 0) & (s.numpy() <= 1))
        assert np.allclose(x.numpy(), s.numpy() @ data.features.numpy().T, atol=1e-12)
        assert np.allclose(np.linalg.norm(data.features.numpy(), axis=0), 1.0)

    @settings(max_examples=40, deadline=None)
    @given(_configs)
    def test_per_sample_is_the_expected_rescaled_by_its_own_sum(self, c):
        """Both rescalings draw the same z: per_sample = min(1, n_active p / sum(p)) with p the expected's."""
        cfg = _config(c | {"rescaling": "expected"})
        per = SAEDataConfig(**(cfg.to_dict() | {"rescaling": "per_sample"}))
        pe = ToyFeatureData(cfg, dtype="float64").probabilities(32, torch.Generator().manual_seed(3)).numpy()
        pp = ToyFeatureData(per, dtype="float64").probabilities(32, torch.Generator().manual_seed(3)).numpy()
        assert np.allclose(pp, np.minimum(1.0, cfg.n_active * pe / pe.sum(1, keepdims=True)), rtol=1e-9)


# ================================================================================================ metrics
def _unit_columns(h, n, seed):
    g = torch.Generator().manual_seed(seed)
    D = torch.randn(h, n, generator=g, dtype=torch.float64)
    return D / torch.linalg.vector_norm(D, dim=0)


class TestMMCS:
    def test_permuted_copy_is_one(self):
        F = _unit_columns(20, 50, 0)
        perm = torch.randperm(50, generator=torch.Generator().manual_seed(1))
        scales = torch.rand(50, dtype=torch.float64) + 0.5  # cosine ignores the columns' lengths
        assert float(mmcs(F, F[:, perm] * scales)) == pytest.approx(1.0, abs=1e-12)

    def test_sign_flip_is_not_a_match(self):
        F = _unit_columns(20, 50, 0)
        assert float(mmcs(F, -F)) < 0.8

    def test_random_dictionaries_are_far_below_one_and_match_a_loop(self):
        F, D = _unit_columns(64, 40, 2), _unit_columns(64, 60, 3)
        got = float(mmcs(F, D))
        Fn, Dn = F.numpy(), D.numpy()
        best = [max(float(Fn[:, g] @ Dn[:, j]) / (np.linalg.norm(Fn[:, g]) * np.linalg.norm(Dn[:, j]))
                    for j in range(60)) for g in range(40)]
        assert got == pytest.approx(np.mean(best), abs=1e-12)
        assert got < 0.5

    def test_larger_dictionary_containing_the_smaller_is_one(self):
        small = _unit_columns(16, 10, 4)
        big = torch.cat([_unit_columns(16, 25, 5), small], dim=1)[:, torch.randperm(35)]
        assert float(mmcs(small, big)) == pytest.approx(1.0, abs=1e-12)
        assert float(mmcs(big, small)) < 0.9  # the other direction is not symmetric

    def test_broadcasts_over_instances(self):
        F = _unit_columns(12, 8, 6)
        Ds = torch.stack([_unit_columns(12, 9, 7), torch.cat([F, _unit_columns(12, 1, 8)], 1)])
        got = mmcs(F, Ds)
        assert got.shape == (2,)
        assert float(got[0]) == pytest.approx(float(mmcs(F, Ds[0])))
        assert float(got[1]) == pytest.approx(1.0, abs=1e-12)

    def test_mmcs_larger(self):
        small = _unit_columns(6, 3, 0)
        mid = torch.cat([small, _unit_columns(6, 3, 1)], 1)
        big = torch.cat([mid, _unit_columns(6, 6, 2)], 1)
        other = _unit_columns(6, 3, 9)  # instance 1: a small dictionary not contained in the larger ones
        d = {3: torch.stack([small, other]), 6: torch.stack([mid, mid]), 12: torch.stack([big, big])}
        out = mmcs_larger(d)
        assert float(out[3][0]) == pytest.approx(1.0, abs=1e-12)
        want = (float(mmcs(other, mid)) + float(mmcs(other, big))) / 2
        assert float(out[3][1]) == pytest.approx(want, abs=1e-12)
        assert torch.allclose(out[6], torch.ones(2, dtype=torch.float64))
        assert torch.isnan(out[12]).all()


class TestDeadNeurons:
    def test_tracker_on_a_constructed_sequence(self):
        # latent 0 fires only in batch 0, latent 1 in every batch, latent 2 in batch 3, latent 3 never;
        # after 5 batches the last T = 3 are batches 2, 3, 4, so latents 0 and 3 are dead.
        fires = {0: [0], 1: [0, 1, 2, 3, 4], 2: [3], 3: []}
        tr = DeadNeuronTracker(instances=2, J=4, window=3)
        for step in range(5):
            c = torch.zeros(2, 7, 4)
            for j, steps in fires.items():
                if step in steps:
                    c[0, step % 7, j] = 0.5  # one sample is enough
            c[1] = 1.0  # instance 1: everything alive
            tr.update(c)
        assert tr.dead().tolist() == [2, 0]
        assert tr.last_fired[0].tolist() == [0, 4, 3, -1]

    def test_count_dead(self):
        last = torch.tensor([[-1, 0, 5, 9, 10]])
        assert count_dead(last, step=11, window=3).tolist() == [3]  # batches 8..10: 9 and 10 fired
        assert count_dead(last, step=11, window=500).tolist() == [1]  # fewer batches than T: only "never"
        assert count_dead(last, step=11, window=1).tolist() == [4]

    def test_negative_activations_are_not_firing(self):
        tr = DeadNeuronTracker(1, 2, window=10)
        tr.update(torch.tensor([[[0.0, -1.0]]]))
        assert tr.dead().tolist() == [2]


class TestSSLL:
    def test_hand_computation(self):
        e = math.e
        rec = [[1.0, e], [e**2, e**3]]  # logs 0, 1, 2, 3: mean 1.5, sd sqrt(1.25)
        l1 = [[e**2, 0.0], [1.0, e**4]]  # logs 2, -, 0, 4: mean 2, sd sqrt(8/3); the zero is left out
        s = math.sqrt(1.25)
        t = math.sqrt(8 / 3)
        want = np.array([[(0 - 1.5) / s + 0.0, np.nan], [(2 - 1.5) / s - 2 / t, (3 - 1.5) / s + 2 / t]])
        got = ssll(rec, l1)
        assert np.allclose(got, want, equal_nan=True, atol=1e-12)

    def test_standardized_log(self):
        z = standardized_log([1.0, 10.0, 100.0, np.nan])
        assert np.allclose(z[:3], [-math.sqrt(1.5), 0, math.sqrt(1.5)]) and np.isnan(z[3])
        assert np.all(standardized_log([2.0, 2.0]) == 0)
        assert np.isnan(standardized_log([0.0, 0.0])).all()


# ================================================================================================ model
class TestModel:
    def test_orthogonal_initialisation(self):
        m = SparseAutoencoder(8, 20, [0.1, 0.2], dtype="float64")
        for k in range(2):
            D, W = m.D[k].detach(), m.W_e[k].detach()
            assert torch.allclose(D @ D.T, torch.eye(8, dtype=torch.float64), atol=1e-12)
            assert torch.allclose(W.T @ W, torch.eye(8, dtype=torch.float64), atol=1e-12)
        assert not torch.allclose(m.D[0], m.D[1])
        assert torch.equal(m.b_e, torch.zeros(2, 20, dtype=torch.float64))

    def test_decoder_columns_unit_norm_in_forward(self):
        m = SparseAutoencoder(6, 10, [0.1, 0.5], dtype="float64")
        with torch.no_grad():
            m.D.mul_(torch.rand(2, 1, 10, dtype=torch.float64) * 5 + 0.1)  # columns of any length
            m.b_e.normal_()
        Dn = m.dictionary()
        assert torch.allclose(torch.linalg.vector_norm(Dn, dim=1), torch.ones(2, 10, dtype=torch.float64))
        x = torch.randn(5, 6, dtype=torch.float64)
        x_hat, c = m(x)
        for k in range(2):
            D = m.D[k].detach().numpy()
            We, be = m.W_e[k].detach().numpy(), m.b_e[k].detach().numpy()
            ck = np.maximum(x.numpy() @ We.T + be, 0)
            assert np.allclose(c[k].detach().numpy(), ck)
            assert np.allclose(x_hat[k].detach().numpy(), ck @ (D / np.linalg.norm(D, axis=0)).T)

    def test_loss_matches_direct_computation(self):
        alphas = [0.05, 0.7]
        m = SparseAutoencoder(6, 10, alphas, dtype="float64")
        with torch.no_grad():
            m.b_e.normal_()
        x = torch.randn(9, 6, dtype=torch.float64)
        out = m.losses(x)
        rec_t, l1_t, tot_t = (t.detach() for t in (out.reconstruction, out.l1, out.total))
        for k in range(2):
            D = m.D[k].detach().numpy()
            D = D / np.linalg.norm(D, axis=0)
            c = np.maximum(x.numpy() @ m.W_e[k].detach().numpy().T + m.b_e[k].detach().numpy(), 0)
            rec = np.mean([np.sum((xi - D @ ci) ** 2) / 6 for xi, ci in zip(x.numpy(), c)])
            l1 = np.mean([alphas[k] / 10 * np.sum(np.abs(ci)) for ci in c])
            assert float(rec_t[k]) == pytest.approx(rec, rel=1e-12)
            assert float(l1_t[k]) == pytest.approx(l1, rel=1e-12)
            assert float(tot_t[k]) == pytest.approx(rec + l1, rel=1e-12)

    def test_instances_train_as_if_alone(self):
        data = ToyFeatureData(SAEDataConfig(h=6, G=8, n_active=1, decay=1.0), dtype="float64")
        both = train_sae(data, SAETrainConfig(dict_size=8, alphas=[0.1, 0.4], steps=30, batch=16,
                                              eval_samples=64, dtype="float64"), threads=1)
        alone = train_sae(data, SAETrainConfig(dict_size=8, alphas=[0.4], steps=30, batch=16, seed=1,
                                               eval_samples=64, dtype="float64"), threads=1)
        assert torch.allclose(both.model.D[1], alone.model.D[0], atol=1e-10)
        assert torch.allclose(both.model.W_e[1], alone.model.W_e[0], atol=1e-10)
        assert both.mmcs[1] == pytest.approx(alone.mmcs[0], abs=1e-9)


def test_sae_callback_sees_every_block_and_matches_the_curve():
    data = ToyFeatureData(SAEDataConfig(h=6, G=8, n_active=1, decay=1.0), dtype="float64")
    seen = []
    res = train_sae(data, SAETrainConfig(dict_size=8, alphas=[0.1, 0.4], steps=250, batch=16, eval_samples=64,
                                         dtype="float64"), threads=1, callback=seen.append)
    assert [e["step"] for e in seen] == [100, 200, 250]
    assert [e["losses"] for e in seen] == res.curve
    assert all(e["alphas"] == [0.1, 0.4] and e["instances"] == [0, 1] and len(e["dead"]) == 2 for e in seen)
    with pytest.raises(ValueError, match="^callback must be callable"):
        train_sae(data, SAETrainConfig(dict_size=8, alphas=[0.1], steps=10), callback="log")


def test_training_on_easy_data_recovers_the_features():
    # 16 dimensions, 32 features, one active on average, no decay or correlations; J = G.
    data = SAEDataConfig(h=16, G=32, n_active=1.0, decay=1.0, correlation_strength=0.0, seed=0)
    cfg = SAETrainConfig(dict_size=32, alphas=[0.3, 1.0], steps=3000, batch=128, lr=3e-3, dead_window=500,
                         eval_samples=2048)
    res = train_sae(data, cfg, device="cpu", threads=1)
    assert max(res.mmcs) > 0.9, res.mmcs
    # independent check of the returned MMCS
    F = ToyFeatureData(data).features.double()
    D = res.model.dictionary().detach().double()
    cos = (F / F.norm(dim=0)).T @ D[int(np.argmax(res.mmcs))]
    assert float(cos.max(1).values.mean()) == pytest.approx(max(res.mmcs), abs=1e-6)
    assert res.curve[-1][0] < res.curve[0][0]  # the loss went down
    assert len(res.dead) == 2 and len(res.reconstruction) == 2


def test_untrained_dictionary_is_not_a_recovery():
    data = ToyFeatureData(SAEDataConfig(h=16, G=32, n_active=1.0, decay=1.0, correlation_strength=0.0))
    m = SparseAutoencoder(16, 32, [0.3])
    assert float(mmcs(data.features.double(), m.dictionary().detach().double())[0]) < 0.7


# ================================================================================================ sweep
def _tiny_sweep():
    return SAESweepConfig(data=SAEDataConfig(h=8, G=8, n_active=1, decay=1.0), alphas=[0.1, 1.0],
                          ratios=[0.5, 1.0, 2.0], steps=40, batch=32, dead_window=10, eval_samples=128)


def test_sweep_writes_results_and_resumes(tmp_path, monkeypatch):
    cfg = _tiny_sweep()
    res = sae_sweep(cfg, tmp_path, device="cpu", progress=False, threads=1)
    for name in ("results.json", "mmcs.png", "dead_neurons.png", "ssll.png", "mmcs_larger.png",
                 "ground_truth.safetensors", "dictionaries/J4.safetensors", "dictionaries/J16.safetensors"):
        assert (tmp_path / name).is_file(), name
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["dict_sizes"] == [4, 8, 16]
    g = on_disk["grids"]
    for key in ("mmcs", "dead", "reconstruction", "l1", "ssll", "mmcs_larger"):
        assert np.array(g[key], dtype=float).shape == (3, 2), key
    assert g["mmcs_larger"][2] == [None, None]  # nothing larger than the largest (NaN -> null)
    assert np.allclose(np.array(g["ssll"], dtype=float), ssll(g["reconstruction"], g["l1"]), equal_nan=True)
    assert res["grids"]["mmcs"] == g["mmcs"]

    # resumed: nothing is retrained, the same results come back
    def boom(*a, **k):
        raise AssertionError("retrained a finished cell")

    monkeypatch.setattr(sae.sweep, "train_sae", boom)  # where sae_sweep looks it up
    again = sae_sweep(cfg, tmp_path, device="cpu", progress=False, plots=False)
    assert again["grids"]["mmcs"] == g["mmcs"]
    assert np.allclose(np.array(again["grids"]["mmcs_larger"], dtype=float),
                       np.array(g["mmcs_larger"], dtype=float), equal_nan=True)
    other = _tiny_sweep()
    other.steps = 41
    with pytest.raises(ValueError, match="different config"):
        sae_sweep(other, tmp_path, device="cpu", progress=False)
    per_sample = _tiny_sweep()
    per_sample.data.rescaling = "per_sample"
    with pytest.raises(ValueError, match="different config"):
        sae_sweep(per_sample, tmp_path, device="cpu", progress=False)
    # a sweep written before the data had a rescaling field resumes (the field at its default)
    del on_disk["config"]["data"]["rescaling"]
    (tmp_path / "results.json").write_text(json.dumps(on_disk))
    older = sae_sweep(cfg, tmp_path, device="cpu", progress=False, plots=False)
    assert older["grids"]["mmcs"] == g["mmcs"]


# ================================================================================================ inputs
@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: SAEDataConfig(h=0), "h"),
        (lambda: SAEDataConfig(G=2.5), "G"),
        (lambda: SAEDataConfig(n_active=-1), "n_active"),
        (lambda: SAEDataConfig(G=8, n_active=5), "n_active"),  # would need probabilities > 1
        (lambda: SAEDataConfig(decay=1.5), "decay"),
        (lambda: SAEDataConfig(decay=0), "decay"),
        (lambda: SAEDataConfig(correlation_rank=0), "correlation_rank"),
        (lambda: SAEDataConfig(correlation_strength=1.2), "correlation_strength"),
        (lambda: SAEDataConfig(seed=-1), "seed"),
        (lambda: SAEDataConfig(rescaling="per_batch"), "rescaling"),
        (lambda: ToyFeatureData({"h": 4}), "config"),
        (lambda: ToyFeatureData(SAEDataConfig(h=4, G=8, n_active=1), dtype="float16"), "dtype"),
        (lambda: ToyFeatureData(SAEDataConfig(h=4, G=8, n_active=1), device="tpu"), "device"),
        (lambda: ToyFeatureData(SAEDataConfig(h=4, G=8, n_active=1)).sample(0), "batch"),
        (lambda: SparseAutoencoder(0, 4, [0.1]), "h"),
        (lambda: SparseAutoencoder(4, 0, [0.1]), "J"),
        (lambda: SparseAutoencoder(4, 4, []), "alphas"),
        (lambda: SparseAutoencoder(4, 4, [-0.1]), "alphas"),
        (lambda: SparseAutoencoder(4, 4, [0.1]).encode(torch.zeros(3, 5)), "x"),
        (lambda: SAETrainConfig(dict_size=0), "dict_size"),
        (lambda: SAETrainConfig(dict_size=4, alphas=[float("nan")]), "alphas"),
        (lambda: SAETrainConfig(dict_size=4, steps=0), "steps"),
        (lambda: SAETrainConfig(dict_size=4, batch=-1), "batch"),
        (lambda: SAETrainConfig(dict_size=4, lr=0), "lr"),
        (lambda: SAETrainConfig(dict_size=4, dead_window=0), "dead_window"),
        (lambda: SAETrainConfig(dict_size=4, eval_samples=0), "eval_samples"),
        (lambda: SAETrainConfig(dict_size=4, dtype="int8"), "dtype"),
        (lambda: train_sae(SAEDataConfig(h=4, G=8, n_active=1), {"dict_size": 4}), "config"),
        (lambda: train_sae("data", SAETrainConfig(dict_size=4)), "data"),
        (lambda: train_sae(SAEDataConfig(h=4, G=8, n_active=1), SAETrainConfig(dict_size=4), threads=0), "threads"),
        (lambda: mmcs(torch.zeros(4, 3), torch.randn(4, 3)), "reference"),
        (lambda: mmcs(torch.randn(4, 3), torch.randn(5, 3)), "reference and learned"),
        (lambda: mmcs(torch.randn(4, 3), torch.full((4, 3), float("nan"))), "learned"),
        (lambda: mmcs(torch.randn(4), torch.randn(4, 3)), "reference"),
        (lambda: mmcs_larger({}), "dictionaries"),
        (lambda: mmcs_larger({3: torch.randn(2, 4, 5)}), "dictionaries"),
        (lambda: count_dead(torch.tensor([[0, 1]]), step=2, window=0), "window"),
        (lambda: count_dead(torch.tensor([[0, 5]]), step=2), "last_fired"),
        (lambda: count_dead(torch.tensor([[0.5]]), step=2), "last_fired"),
        (lambda: DeadNeuronTracker(0, 4), "instances"),
        (lambda: DeadNeuronTracker(1, 4).update(torch.zeros(1, 3, 5)), "codes"),
        (lambda: standardized_log([1.0, -1.0]), "values"),
        (lambda: ssll([1.0, 2.0], [1.0]), "reconstruction and l1"),
        (lambda: ssll([1.0, -2.0], [1.0, 1.0]), "reconstruction"),
        (lambda: SAESweepConfig(alphas=[]), "alphas"),
        (lambda: SAESweepConfig(ratios=[0.0]), "ratios"),
        (lambda: SAESweepConfig(ratios=[1.0, 1.0001]), "ratios"),
        (lambda: SAESweepConfig(alphas=[0.1, 0.1]), "alphas"),
        (lambda: SAESweepConfig(steps=0), "steps"),
        (lambda: SAESweepConfig(data=3), "data"),
        (lambda: sae_sweep({"alphas": [1]}, "/tmp/x"), "config"),
        (lambda: sae.plot_sae_sweep({}, "/tmp/x"), "results"),
    ],
)
def test_bad_input_raises_value_error_naming_the_parameter(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_saelens_export_computes_saelens_standard_forward_and_loads_back(tmp_path):
    """The files hold SAELens' standard SAE: f = ReLU((x - b_dec) W_enc + b_enc), x_hat = f W_dec + b_dec,
    computed here from the saved arrays alone (numpy) against this model's own forward pass."""
    import json as _json

    from safetensors.numpy import load_file

    from numerics.sae import SparseAutoencoder, load_saelens, save_saelens

    m = SparseAutoencoder(6, 12, [0.1, 0.3], seed=0, dtype="float64")
    with torch.no_grad():
        m.b_e.normal_()
    out = save_saelens(m, tmp_path / "sae", instance=1)
    cfg = _json.loads((out / "cfg.json").read_text())
    assert cfg["d_in"] == 6 and cfg["d_sae"] == 12 and cfg["architecture"] == "standard"
    w = load_file(str(out / "sae_weights.safetensors"))
    assert w["W_enc"].shape == (6, 12) and w["W_dec"].shape == (12, 6)
    np.testing.assert_allclose(np.linalg.norm(w["W_dec"], axis=1), 1.0, rtol=1e-12)
    x = torch.randn(7, 6, dtype=torch.float64)
    f = np.maximum((x.numpy() - w["b_dec"]) @ w["W_enc"] + w["b_enc"], 0)
    x_hat, c = m(x)
    np.testing.assert_allclose(f, c[1].detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(f @ w["W_dec"] + w["b_dec"], x_hat[1].detach().numpy(), rtol=1e-12, atol=1e-12)
    back = load_saelens(out)
    assert float(back.alpha[0]) == pytest.approx(0.3)
    assert torch.allclose(back(x)[0][0], x_hat[1], atol=1e-12)
    (out / "cfg.json").write_text(_json.dumps(cfg | {"architecture": "gated"}))
    with pytest.raises(ValueError, match="standard architecture"):
        load_saelens(out)
    with pytest.raises(ValueError, match="not a SAELens SAE folder"):
        load_saelens(tmp_path / "nowhere")
    (out / "cfg.json").write_text(_json.dumps(cfg | {"metadata": {"l1_coefficient": "x"}}))
    with pytest.raises(ValueError, match="l1_coefficient must be"):
        load_saelens(out)


def test_saelens_decoder_rows_of_any_norm_load_with_the_same_reconstructions(tmp_path):
    """SAELens decodes with W_dec as it is; rows of other norms (and a zero row) are folded into the encoder,
    so the reconstructions are SAELens' (numpy, from the arrays) exactly and the codes scale by the norms."""
    import json as _json

    from safetensors.torch import save_file

    from numerics.sae import load_saelens

    g = torch.Generator().manual_seed(1)
    h, J = 5, 9
    w = {"W_enc": torch.randn(h, J, generator=g, dtype=torch.float64),
         "W_dec": torch.randn(J, h, generator=g, dtype=torch.float64) * 3,
         "b_enc": torch.randn(J, generator=g, dtype=torch.float64), "b_dec": torch.zeros(h, dtype=torch.float64)}
    w["W_dec"][4] = 0.0
    (tmp_path / "cfg.json").write_text(_json.dumps({"architecture": "standard", "d_in": h, "d_sae": J,
                                                    "metadata": {"sae_lens_version": "6.0.0", "l1_coefficient": 2}}))
    save_file(w, str(tmp_path / "sae_weights.safetensors"))
    x = torch.randn(6, h, generator=g, dtype=torch.float64)
    f = torch.relu(x @ w["W_enc"] + w["b_enc"])
    m = load_saelens(tmp_path)
    x_hat, c = m(x[None])
    assert torch.allclose(x_hat[0], f @ w["W_dec"], atol=1e-12)
    norms = torch.linalg.vector_norm(w["W_dec"], dim=1)
    assert torch.allclose(c[0], f * norms, atol=1e-12) and bool((c[0][:, 4] == 0).all())
    assert float(m.alpha[0]) == 2.0


def test_saelens_itself_loads_the_export(tmp_path):
    """With the sae_lens package installed (not a dependency): SAE.load_from_disk reads the export and
    computes this model's codes and reconstructions, and keeps the L1 coefficient in its metadata."""
    sae_lens = pytest.importorskip("sae_lens", reason="sae_lens is not installed (an optional check)")
    from numerics.sae import SparseAutoencoder, save_saelens

    m = SparseAutoencoder(8, 16, [0.1, 0.3], seed=0)
    with torch.no_grad():
        m.b_e.normal_()
    save_saelens(m, tmp_path / "sae", instance=1)
    sae = sae_lens.SAE.load_from_disk(str(tmp_path / "sae"), device="cpu")
    x = torch.randn(5, 8)
    with torch.no_grad():
        x_hat, c = m(x[None].expand(2, -1, -1))
        assert torch.allclose(sae.encode(x), c[1], atol=1e-5)
        assert torch.allclose(sae.decode(sae.encode(x)), x_hat[1], atol=1e-5)
    assert sae.cfg.metadata.l1_coefficient == pytest.approx(0.3)
    # and the other way: SAELens' own file, with decoder rows of any norm
    from numerics.sae import load_saelens

    own = sae_lens.StandardSAE(sae_lens.StandardSAEConfig(d_in=8, d_sae=16))
    with torch.no_grad():
        for t in (own.W_enc, own.b_enc, own.W_dec):
            t.normal_()
    own.save_model(str(tmp_path / "theirs"))
    back = load_saelens(tmp_path / "theirs")
    with torch.no_grad():
        assert torch.allclose(back(x[None])[0][0], own.decode(own.encode(x)), atol=1e-5)
