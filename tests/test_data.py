"""numerics.data: the sparse sampler has exactly the law Bernoulli(p) * U[0, 1]; importance weights."""

import math

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics import decaying_importance, sample_features, two_group_importance


def _sample(p, n=400_000, n_s=8, seed=0, dtype=torch.float64, method="uniform"):
    g = torch.Generator().manual_seed(seed)
    return sample_features(n // n_s, n_s, p, generator=g, dtype=dtype, method=method).numpy().ravel()


METHODS = pytest.mark.parametrize("method", ["uniform", "gaps"])


@METHODS
class TestLaw:
    @pytest.mark.parametrize("p", [0.003, 0.05, 0.3, 0.9])
    def test_mixed_cdf(self, p, method):
        # F(t) = (1 - p) + p t on [0, 1]: checked at several t within 5 binomial standard errors.
        x = _sample(p, method=method)
        n = x.size
        for t in [0.0, 0.1, 0.25, 0.5, 0.75, 0.99]:
            expected = (1 - p) + p * t
            got = np.mean(x <= t)
            assert abs(got - expected) <= 5 * math.sqrt(expected * (1 - expected) / n) + 1e-12, t

    @pytest.mark.parametrize("p", [0.01, 0.2, 1.0])
    def test_moments(self, p, method):
        x = _sample(p, method=method)
        n = x.size
        mean, var = p / 2, p * (4 - 3 * p) / 12
        fourth = p / 5  # E x^4, for the standard error of the variance
        assert abs(x.mean() - mean) <= 4 * math.sqrt(var / n)
        var_se = math.sqrt((fourth - (p / 3) ** 2) / n)  # se of the second moment, dominant term
        assert abs(np.mean(x**2) - p / 3) <= 4 * var_se
        assert abs(np.mean(x == 0) - (1 - p)) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-12

    @pytest.mark.parametrize("p", [0.02, 0.5])
    def test_on_values_are_uniform(self, p, method):
        x = _sample(p, method=method)
        on = x[x > 0]
        assert on.max() <= 1.0
        assert scipy.stats.kstest(on, "uniform").pvalue > 1e-3

    def test_on_entries_are_independent(self, method):
        p = 0.1
        # Adjacent entries of the flattened sample: P(both on) = p^2 (the gaps method must not
        # correlate neighbours), and the on-count of a row is Binomial(n_s, p).
        x = _sample(p, n=400_000, n_s=40, method=method).reshape(-1, 40) > 0
        both = np.mean(x[:, :-1] & x[:, 1:])
        assert abs(both - p * p) <= 5 * math.sqrt(p * p / x[:, 1:].size)
        counts = x.sum(1)
        assert abs(counts.var() - 40 * p * (1 - p)) <= 0.05 * 40 * p * (1 - p)

    def test_values_do_not_depend_on_the_gap_before(self, method):
        # the gaps method takes an entry's position and value from one draw: the value must be uniform
        # whatever the gap (short and long gaps separately), and uncorrelated with it
        p = 0.1
        x = _sample(p, n=1_000_000, method=method)
        on = np.flatnonzero(x)
        gap = np.diff(on) - 1
        v = x[on[1:]]
        for sel in (gap == 0, gap >= 15):
            assert sel.sum() > 5000
            assert scipy.stats.kstest(v[sel], "uniform").pvalue > 1e-3
        assert abs(np.corrcoef(gap, v)[0, 1]) < 5 / math.sqrt(v.size)

    def test_a_wrong_law_fails(self, method):
        # The unnormalised map u * [u < p] has mean p^2 / 2: the moment test above rejects it.
        p = 0.2
        g = torch.Generator().manual_seed(0)
        u = torch.rand(50_000, 8, generator=g, dtype=torch.float64)
        wrong = torch.where(u < p, u, 0.0).numpy().ravel()
        assert abs(wrong.mean() - p / 2) > 20 * math.sqrt(p * (4 - 3 * p) / 12 / wrong.size)

    def test_p_one_is_uniform(self, method):
        x = _sample(1.0, n=20_000, method=method)
        assert (x > 0).all() and scipy.stats.kstest(x, "uniform").pvalue > 1e-3


class TestShapesAndBuffers:
    def test_per_feature_p(self):
        p = torch.tensor([0.05, 0.5, 1.0, 0.2])
        g = torch.Generator().manual_seed(1)
        x = sample_features(100_000, 4, p, generator=g)
        on = (x > 0).double().mean(0).numpy()
        assert np.allclose(on, p.numpy(), atol=5 * np.sqrt(0.25 / 100_000))

    def test_instances_with_one_p_each(self):
        p = torch.tensor([[0.1], [0.6]])
        g = torch.Generator().manual_seed(2)
        x = sample_features(20_000, (2, 16), p, generator=g)
        assert x.shape == (20_000, 2, 16)
        on = (x > 0).double().mean((0, 2)).numpy()
        assert np.allclose(on, [0.1, 0.6], atol=0.01)

    @given(seed=st.integers(0, 2**31 - 1), p=st.floats(1e-3, 1.0))
    def test_seed_reproduces_and_out_is_filled(self, seed, p):
        a = sample_features(7, 5, p, generator=torch.Generator().manual_seed(seed))
        buf = torch.empty(7, 5)
        b = sample_features(7, 5, p, generator=torch.Generator().manual_seed(seed), out=buf)
        assert b.data_ptr() == buf.data_ptr()
        assert torch.equal(a, b)
        assert ((a == 0) | ((a > 0) & (a <= 1))).all()

    def test_dtype(self):
        assert sample_features(3, 4, 0.5, dtype=torch.float64).dtype == torch.float64


class TestImportance:
    def test_two_groups(self):
        m = two_group_importance(8, 0.25)
        assert m.tolist() == [1, 1, 1, 1, 0.25, 0.25, 0.25, 0.25]

    def test_decay(self):
        m = decaying_importance(5, 0.7, dtype=torch.float64)
        assert torch.allclose(m, torch.tensor([0.7**i for i in range(5)], dtype=torch.float64))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: sample_features(0, 4, 0.5), "batch"),
        (lambda: sample_features(4, 0, 0.5), "n_s"),
        (lambda: sample_features(4, 4, 0.0), "p"),
        (lambda: sample_features(4, 4, 0.1, device="meta", method="gaps"), "method 'gaps' runs on the CPU"),
        (lambda: sample_features(4, 4, 1.5), "p"),
        (lambda: sample_features(4, 4, float("nan")), "p"),
        (lambda: sample_features(4, 4, torch.tensor([0.1, 0.2])), "p"),
        (lambda: sample_features(4, 4, torch.tensor([0.1, 0.0, 0.2, 0.3])), "p"),
        (lambda: sample_features(4, 4, 0.5, out=torch.empty(3, 4)), "out"),
        (lambda: sample_features(4, 4, 0.5, dtype=torch.int32), "dtype"),
        (lambda: sample_features(4, 4, 0.5, method="fast"), "method"),
        (lambda: sample_features(4, 4, torch.full((4,), 0.1), method="gaps"), "p"),
        (lambda: two_group_importance(5, 0.5), "n_s"),
        (lambda: two_group_importance(4, 1.5), "alpha"),
        (lambda: decaying_importance(4, 0.0), "decay"),
        (lambda: decaying_importance(4, 1.2), "decay"),
    ],
)
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


class TestSampleInstances:
    @pytest.mark.parametrize("ps", [[0.01, 0.2, 0.05], [0.5, 0.05, 1.0]])
    def test_each_instance_is_what_it_would_be_alone(self, ps):
        from numerics.data import sample_instances

        seeds = [3, 4, 5]
        out = torch.empty(len(ps), 64, 16)
        sample_instances(out, ps, [torch.Generator().manual_seed(s) for s in seeds])
        for k, (p, s) in enumerate(zip(ps, seeds)):
            alone = torch.empty(1, 64, 16)
            sample_instances(alone, [p], [torch.Generator().manual_seed(s)])
            assert torch.equal(out[k], alone[0])
            assert abs((out[k] > 0).double().mean().item() - p) < 5 * math.sqrt(p * (1 - p) / 1024) + 1e-12

    def test_numpy_streams(self):
        from numerics.data import sample_instances

        def gens():  # instance 1 (p > 0.25) needs the uniform map, hence a torch generator
            return [np.random.default_rng(3), torch.Generator().manual_seed(4), np.random.default_rng(5)]

        ps = [0.01, 0.3, 0.05]
        out = torch.empty(3, 64, 16)
        sample_instances(out, ps, gens())
        for k, p in enumerate(ps):
            alone = torch.empty(1, 64, 16)
            sample_instances(alone, [p], [gens()[k]])
            assert torch.equal(out[k], alone[0])
        again = torch.empty(3, 64, 16)
        sample_instances(again, ps, gens())
        assert torch.equal(out, again)
        with pytest.raises(ValueError, match="numpy generator"):
            sample_instances(out, [0.01, 0.3, 0.3], gens())

    @pytest.mark.parametrize("n_s", [16, 20, 70_000])  # a power of two, not one, beyond 16-bit columns
    @pytest.mark.parametrize("kind", ["torch", "numpy"])
    def test_sparse_batch_is_the_dense_batch(self, n_s, kind):
        from numerics.data import sample_instances, sample_instances_sparse

        def gens():
            if kind == "numpy":
                return [np.random.default_rng(s) for s in (3, 4, 5)]
            return [torch.Generator().manual_seed(s) for s in (3, 4, 5)]

        ps, batch = [0.01, 0.25, 0.05], max(2, 4096 // n_s)
        dense = torch.empty(3, batch, n_s)
        sample_instances(dense, ps, gens())
        sp = sample_instances_sparse((3, batch, n_s), ps, gens())
        assert torch.equal(sp.to_dense(), dense)
        assert sp.bounds[0] == 0 and sp.bounds[-1] == sp.positions.numel() == int((dense > 0).sum())
        for k in range(3):
            assert sp.rows[k].layout == torch.sparse_csr and sp.transposed(k).layout == torch.sparse_csr
            assert sp.transposed(k) is sp.transposed(k)  # made once
            assert torch.equal(sp.rows[k].to_dense(), dense[k])
            assert torch.equal(sp.transposed(k).to_dense(), dense[k].T)

    @given(K=st.integers(1, 3), batch=st.integers(1, 40), n_s=st.integers(1, 70), seed=st.integers(0, 2**31 - 1),
           p=st.floats(1e-3, 0.25))
    def test_sparse_batch_property(self, K, batch, n_s, seed, p):
        # any shape and p: the CSR forms of x and x^T are the dense batch, and the bounds split the instances
        from numerics.data import sample_instances, sample_instances_sparse

        ps = [p * (k + 1) / K for k in range(K)]
        dense = torch.empty(K, batch, n_s)
        sample_instances(dense, ps, [np.random.default_rng(seed + k) for k in range(K)])
        sp = sample_instances_sparse((K, batch, n_s), ps, [np.random.default_rng(seed + k) for k in range(K)])
        assert torch.equal(sp.to_dense(), dense)
        for k in range(K):
            assert sp.bounds[k + 1] - sp.bounds[k] == int((dense[k] > 0).sum())
            assert torch.equal(sp.rows[k].to_dense(), dense[k])
            assert torch.equal(sp.transposed(k).to_dense(), dense[k].T)

    def test_sparse_batch_after_continuation_rounds(self, monkeypatch):
        # rows finished by continuation rounds come last from the sampler; the batch puts them in order
        import numerics.data as data

        monkeypatch.setattr(data, "_gap_chunk", lambda n, p: 3)
        gens = lambda: [torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)]  # noqa: E731
        dense = torch.empty(2, 40, 24, dtype=torch.float64)
        data.sample_instances(dense, [0.1, 0.2], gens())
        sp = data.sample_instances_sparse((2, 40, 24), [0.1, 0.2], gens(), dtype=torch.float64)
        assert bool((sp.positions[1:] > sp.positions[:-1]).all())
        assert torch.equal(sp.to_dense(), dense)
        assert torch.equal(sp.transposed(1).to_dense(), dense[1].T)

    @pytest.mark.parametrize("kw, name", [
        (dict(shape=(2, 8)), "shape"),
        (dict(ps=[0.1, 0.3]), "p"),
        (dict(ps=[0.1]), "ps"),
        (dict(shape=(2, 0, 8)), "batch"),
        (dict(shape=(1, 1 << 16, 1 << 15), ps=[0.1]), "2\\^31"),
    ])
    def test_sparse_batch_rejects_bad_input(self, kw, name):
        from numerics.data import sample_instances_sparse

        with pytest.raises(ValueError, match="dtype"):
            sample_instances_sparse((1, 4, 4), [0.1], [torch.Generator()], dtype=torch.int32)
        with pytest.raises(ValueError, match="k must be"):
            sample_instances_sparse((1, 4, 4), [0.1], [torch.Generator()]).transposed(1)

        args = dict(shape=(2, 8, 8), ps=[0.1, 0.1])
        args.update(kw)
        gens = [torch.Generator() for _ in args["ps"]]
        with pytest.raises(ValueError, match=name):
            sample_instances_sparse(args["shape"], args["ps"], gens)

    @pytest.mark.parametrize("p", [0.05, [[0.02], [0.2]], [[0.1], [0.1]]])
    def test_numpy_and_torch_arithmetic_agree(self, monkeypatch, p):
        # the gaps arithmetic runs in numpy on small arrays and in torch on large ones: same numbers
        import numerics.data as data

        u = np.random.default_rng(0).random((2, 5000))
        out = {}
        for name, threshold in (("numpy", 1 << 40), ("torch", 0)):
            monkeypatch.setattr(data, "_TORCH_MIN_ELEMS", threshold)
            out[name] = data._gaps_and_values(u.copy(), p)
        assert np.array_equal(out["numpy"][0], out["torch"][0])
        np.testing.assert_allclose(out["numpy"][1], out["torch"][1], rtol=1e-12, atol=1e-12)
        assert 0.0 < out["numpy"][1].min() and out["numpy"][1].max() <= 1.0

    def test_short_chunks_take_the_continuation_path(self, monkeypatch):
        # With chunks far too short every row needs many continuation rounds; the law must not change.
        import numerics.data as data

        monkeypatch.setattr(data, "_gap_chunk", lambda n, p: 3)
        p = 0.1
        out = torch.empty(2, 20_000, 8, dtype=torch.float64)
        data.sample_instances(out, [p, p], [torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)])
        x = out.numpy().ravel()
        n = x.size
        assert abs(np.mean(x == 0) - (1 - p)) <= 5 * math.sqrt(p * (1 - p) / n)
        assert scipy.stats.kstest(x[x > 0], "uniform").pvalue > 1e-3


class TestLawModule:
    """numerics.law is the data law's one home in numerics; its closed forms are theory's, copied."""

    @pytest.mark.parametrize("p", [1e-6, 0.01, 0.05, 0.25, 0.5, 0.9, 1.0])
    def test_moments_equal_theory(self, p):
        import theory
        from numerics import law

        ref = theory.feature_moments(p)
        assert law.feature_mean(p) == ref.mean
        assert law.feature_var(p) == ref.variance

    def test_moments_equal_theory_on_tensors_and_arrays(self):
        import theory
        from numerics import law

        ps = np.array([0.003, 0.1, 0.3, 0.75, 1.0])
        ref = theory.feature_moments(ps)
        np.testing.assert_array_equal(law.feature_mean(ps), ref.mean)
        np.testing.assert_array_equal(law.feature_var(ps), ref.variance)
        t = torch.from_numpy(ps)
        np.testing.assert_array_equal(law.feature_var(t).numpy(), ref.variance)

    def test_samplers_use_the_cutoff(self):
        from numerics import law
        from numerics.data import sample_instances_sparse

        assert law.GAPS_MAX_P == 0.25
        sample_instances_sparse((1, 4, 8), [law.GAPS_MAX_P], [torch.Generator().manual_seed(0)])
        with pytest.raises(ValueError, match=r"\(0, 0.25\]"):
            sample_instances_sparse((1, 4, 8), [law.GAPS_MAX_P * 1.001], [torch.Generator().manual_seed(0)])
