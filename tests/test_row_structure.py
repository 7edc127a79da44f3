"""numerics.row_structure: the share of each row's off-diagonal mass in its one or two largest entries, and
rows that pair up. Checked against hand-built matrices (antipodal pairs, pairs with dedicated features, a
hand-computed 3 x 3), against Persian rugs computed independently from theory.rug_first_row, and for
equivariance under permutations of the features."""

import importlib
import math

import numpy as np
import pytest
import torch

import numerics
import numerics.symmetry as symmetry
import theory
from numerics import RugOperator, choose_columns, row_structure, rug_matrix

# the module (numerics.row_structure, the attribute, is the function of the same name)
_module = importlib.import_module("numerics.row_structure")


def _pairs(n_pairs: int, a: float = 1.0) -> np.ndarray:
    return np.kron(np.eye(n_pairs), a * np.array([[1.0, -1.0], [-1.0, 1.0]]))


def _brute_shares(W: np.ndarray):
    """top-1 and top-2 shares of each row, by sorting (NaN for rows without off-diagonal mass)."""
    off = np.abs(W - np.diag(np.diag(W))) ** 2
    q = off.sum(1)
    srt = -np.sort(-off, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(q > 0, srt[:, 0] / q, np.nan), np.where(q > 0, srt[:, :2].sum(1) / q, np.nan)


class TestHandBuilt:
    def test_antipodal_pairs_share_one_and_pair_up(self):
        s = row_structure(_pairs(8, 1.3))
        assert s.n_s == 16
        np.testing.assert_array_equal(s.top1_share, 1.0)
        np.testing.assert_array_equal(s.top2_share, 1.0)
        assert s.mean_top1_share == s.top1_mass_share == 1.0
        assert s.mutual_fraction == 1.0 and s.pair_fraction == 1.0
        np.testing.assert_array_equal(s.partner, np.arange(16) ^ 1)
        assert s.pair_ratio_mean == -1.0 and s.pair_negative_fraction == 1.0 and s.pair_asymmetry == 0.0
        np.testing.assert_allclose(s.off_mass, 1.3**2)

    def test_an_asymmetric_rank_one_pair(self):
        # W = v u^T on the pair: W_01 W_10 = W_00 W_11, here |W_01| = 3 W_00 and |W_10| = W_11 / 3
        u, v = np.array([1.0, -3.0]), np.array([1.0, -1.0 / 3.0])
        s = row_structure(np.kron(np.eye(3), np.outer(v, u)))
        # |W_01 W_10|^(1/2) = (W_00 W_11)^(1/2): a pair at every threshold, although |W_10| = W_11 / 3
        assert s.pair_fraction == 1.0 and row_structure(np.outer(v, u), pair_min=1.0).pair_fraction == 1.0
        np.testing.assert_allclose(s.partner_ratio, [-3.0, -1 / 3] * 3)
        assert s.pair_asymmetry == pytest.approx(math.log(3.0)) and s.pair_ratio_mean == pytest.approx(-5 / 3)
        # a pair that is not rank one, with one weak direction, is not counted
        assert row_structure(np.array([[1.0, -3.0], [-0.05, 1.0]])).pair_fraction == 0.0

    def test_a_three_by_three_by_hand(self):
        W = np.array([[2.0, 3.0, -4.0], [3.0, 1.0, 0.5], [-4.0, 0.1, 20.0]])
        s = row_structure(W)
        # row 0: q = 9 + 16 = 25, largest 16; row 1: q = 9.25, largest 9; row 2: q = 16.01, largest 16
        np.testing.assert_allclose(s.top1_share, [16 / 25, 9 / 9.25, 16 / 16.01], rtol=1e-14)
        np.testing.assert_allclose(s.top2_share, 1.0, rtol=1e-14)  # two off-diagonal entries per row
        np.testing.assert_array_equal(s.partner, [2, 0, 0])
        np.testing.assert_array_equal(s.mutual, [True, False, True])
        # rows 0 and 2: |W_02| = 4 >= 0.5 sqrt(2 * 20) = 3.16, so they pair; with pair_min = 1 (6.32) they do not
        np.testing.assert_array_equal(s.paired, [True, False, True])
        assert s.pair_fraction == pytest.approx(2 / 3)
        np.testing.assert_allclose(s.partner_ratio, [-2.0, 3.0, -0.2])
        assert s.pair_ratio_mean == pytest.approx(-1.1) and s.pair_negative_fraction == 1.0
        assert row_structure(W, pair_min=1.0).pair_fraction == 0.0
        assert s.top1_mass_share == pytest.approx((16 + 9 + 16) / (25 + 9.25 + 16.01))

    def test_pairs_with_dedicated_features(self):
        # the best structured model at r = 0.7: pairs and dedicated features (their rows have no off-diagonal mass)
        M = theory.structured_model(0.045, 64, 45)
        n_pair_rows = 2 * dict(M.blocks).get("pairs", 0)
        assert n_pair_rows == 2 * (64 - 45) and M.n_dedicated == 2 * 45 - 64
        s = row_structure(M.W)
        assert s.pair_fraction == n_pair_rows / 64
        assert np.isnan(s.top1_share[n_pair_rows:]).all() and (s.partner[n_pair_rows:] == -1).all()
        assert s.mean_top1_share == pytest.approx(1.0) and s.top1_mass_share == pytest.approx(1.0)
        assert s.pair_negative_fraction == 1.0

    def test_duplicated_features_pair_with_a_positive_sign(self):
        # the rug with S = the first n_s/2 columns: rows i and i + n_s/2 agree on S, R = pairs of copies
        R = rug_matrix(32, 16, S=np.arange(16), dtype=torch.float64)
        s = row_structure(R)
        assert s.pair_fraction == 1.0 and s.pair_ratio_mean == 1.0 and s.pair_negative_fraction == 0.0
        np.testing.assert_array_equal(s.partner, np.arange(32) ^ 16)

    def test_a_diagonal_matrix_has_no_structure(self):
        s = row_structure(np.diag(np.arange(1.0, 6.0)))
        assert np.isnan(s.top1_share).all() and (s.partner == -1).all()
        assert math.isnan(s.mean_top1_share) and math.isnan(s.top1_mass_share)
        assert s.pair_fraction == 0.0 and s.mutual_fraction == 0.0 and math.isnan(s.pair_ratio_mean)

    def test_two_by_two(self):
        s = row_structure(np.array([[1.0, -0.9], [-0.7, 1.0]]))
        assert s.top2_share.tolist() == [1.0, 1.0] and s.pair_fraction == 1.0
        assert row_structure(np.array([[1.0, -0.9], [-0.2, 1.0]])).pair_fraction == 0.0  # (0.9 * 0.2)^(1/2) < 1/2


class TestRug:
    """Every row of a rug is a permutation of g = theory.rug_first_row (R_ij = g(i xor j))."""

    @pytest.mark.parametrize("n_s, n_d, seed", [(64, 32, 1), (64, 45, 3), (128, 90, 0), (256, 128, 2), (16, 8, 5)])
    def test_shares_and_partners_from_the_first_row(self, n_s, n_d, seed):
        S = choose_columns(n_s, n_d, seed=seed).numpy()
        g = theory.rug_first_row(n_s, S)
        off = g[1:] ** 2
        srt = np.sort(off)[::-1]
        s = row_structure(rug_matrix(n_s, n_d, S=S, dtype=torch.float64))
        np.testing.assert_allclose(s.top1_share, srt[0] / off.sum(), rtol=1e-12)
        np.testing.assert_allclose(s.top2_share, srt[:2].sum() / off.sum(), rtol=1e-12)
        np.testing.assert_allclose(s.off_mass, n_s / n_d - 1, rtol=1e-12)
        top = np.flatnonzero(np.abs(np.abs(g[1:]) - np.sqrt(srt[0])) <= 1e-12) + 1
        if top.size == 1:  # a unique largest |g(m*)|: row i's partner is i xor m*, and always mutual
            np.testing.assert_array_equal(s.partner, np.arange(n_s) ^ top[0])
            assert s.mutual_fraction == 1.0
            assert s.pair_fraction == float(abs(g[top[0]]) >= 0.5)
        else:  # a tie: no row singles out a partner
            assert (s.partner == -1).all() and s.pair_fraction == 0.0

    def test_a_large_rug_has_small_shares_and_no_pairs(self):
        s = row_structure(RugOperator(1024, 512, seed=0).dense(torch.float64))
        assert s.top1_mass_share < 0.02 and s.top2_mass_share < 0.04 and s.pair_fraction == 0.0


class TestEquivariance:
    @pytest.mark.parametrize("seed", range(4))
    def test_permuting_the_features_permutes_the_result(self, seed):
        rng = np.random.default_rng(seed)
        n = 40
        W = 0.1 * rng.standard_normal((n, n)) + np.diag(rng.uniform(0.5, 1.5, n))
        # plant a few strong antipodal pairs among the noise
        for i, j in ((0, 7), (3, 21), (10, 11)):
            W[i, j], W[j, i] = -1.1 * W[i, i], -0.9 * W[j, j]
        pi = rng.permutation(n)
        inv = np.argsort(pi)
        a, b = row_structure(W), row_structure(W[np.ix_(pi, pi)])
        for name in ("off_mass", "top1_share", "top2_share", "mutual", "paired", "partner_ratio"):
            np.testing.assert_allclose(getattr(b, name), getattr(a, name)[pi], rtol=1e-13, err_msg=name)
        expect = np.where(a.partner[pi] >= 0, inv[np.maximum(a.partner[pi], 0)], -1)
        np.testing.assert_array_equal(b.partner, expect)
        assert a.summary() == pytest.approx(b.summary(), rel=1e-12, nan_ok=True)
        assert a.pair_fraction >= 6 / n  # the planted pairs

    def test_shares_match_sorting_and_scale_out(self):
        rng = np.random.default_rng(7)
        W = rng.standard_normal((30, 30))
        t1, t2 = _brute_shares(W)
        s = row_structure(W)
        np.testing.assert_allclose(s.top1_share, t1, rtol=1e-12)
        np.testing.assert_allclose(s.top2_share, t2, rtol=1e-12)
        big = row_structure(1e200 * W)  # rows are scaled to their maximum: no overflow
        np.testing.assert_allclose(big.top1_share, t1, rtol=1e-12)
        assert big.pair_fraction == s.pair_fraction

    def test_torch_float32_numpy_and_blocks_agree(self, monkeypatch):
        rng = np.random.default_rng(8)
        W = (rng.standard_normal((50, 50)) + 3 * np.eye(50)).astype(np.float32)
        ref = row_structure(W)
        for other in (row_structure(torch.from_numpy(W)), row_structure(W.astype(np.float64))):
            np.testing.assert_array_equal(other.partner, ref.partner)
            np.testing.assert_allclose(other.top1_share, ref.top1_share, rtol=1e-12)
        monkeypatch.setattr(_module, "_BLOCK", 7 * 50)  # seven rows per block, the last block short
        blocked = row_structure(W)
        np.testing.assert_array_equal(blocked.partner, ref.partner)
        np.testing.assert_allclose(blocked.top2_share, ref.top2_share, rtol=1e-12)
        assert blocked.summary() == pytest.approx(ref.summary(), nan_ok=True)


class TestOutput:
    def test_as_dict_is_json_ready(self):
        import json

        s = row_structure(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, -1.0], [0.0, -1.0, 1.0]]))
        d = s.as_dict(rows=True)
        json.dumps(d, allow_nan=False)
        assert d["top1_share"] == [None, 1.0, 1.0] and d["partner"] == [-1, 2, 1] and d["paired"] == [False, True, True]
        assert "partner" not in s.as_dict() and s.as_dict()["pair_fraction"] == pytest.approx(2 / 3)

    def test_exported(self):
        assert numerics.row_structure is row_structure and numerics.RowStructure.__doc__
        # its home is numerics.row_structure; numerics.symmetry re-exports it
        assert _module.row_structure is row_structure and _module.RowStructure is numerics.RowStructure
        assert symmetry.row_structure is row_structure and symmetry.RowStructure is numerics.RowStructure


class TestValidation:
    @pytest.mark.parametrize("W, match", [
        (np.ones((3, 4)), "square"),
        (np.ones((1, 1)), "at least 2"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "finite"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "finite"),
        (np.ones((2, 2), dtype=complex), "real"),
        ("not a matrix", "real"),
        (np.ones(4), "square"),
    ])
    def test_bad_W(self, W, match):
        with pytest.raises(ValueError, match=match):
            row_structure(W)

    def test_a_nan_diagonal_is_refused(self):
        with pytest.raises(ValueError, match="W must be finite"):
            row_structure(np.array([[np.nan, 1.0], [1.0, 1.0]]))

    def test_a_rug_operator_is_refused(self):
        with pytest.raises(ValueError, match="W must be a dense"):
            row_structure(RugOperator(16, 8, seed=0))

    @pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, True, "half", math.nan])
    def test_bad_pair_min(self, bad):
        with pytest.raises(ValueError, match="pair_min"):
            row_structure(np.eye(3), pair_min=bad)
