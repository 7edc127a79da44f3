"""numerics.rug: the Persian Rug matrix of appendix F, dense and as a fast operator.

Reference: R = n_d^-1 H[:, S] H[:, S]^T with H built here from H_ij = (-1)^popcount(i & j) (numpy,
float64), independently of numerics.hadamard and of scipy.

On the paper's claim "R^2 = R" (eq. 45): it drops the factor n_s of sum_l H_lk1 H_lk2 = n_s delta_k1k2.
The true identity is R^2 = (n_s / n_d) R, so r R (r = n_d / n_s) is the orthogonal projector onto the
span of the columns H[:, S]; R itself is idempotent only when n_d = n_s (R = I).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics import RugOperator, choose_columns, rug_matrix

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import dense_hadamard as dense_h  # noqa: E402




def reference_r(n_s: int, S) -> np.ndarray:
    hs = dense_h(n_s)[:, np.asarray(S, dtype=np.int64)]
    return hs @ hs.T / len(S)


@st.composite
def rugs(draw, max_k: int = 9):
    """(n_s, n_d, S) with n_s = 2^k, n_d in [1, n_s] and S an unsorted random n_d-subset."""
    k = draw(st.integers(0, max_k))
    n_s = 2**k
    n_d = draw(st.integers(1, n_s))
    seed = draw(st.integers(0, 2**32 - 1))
    S = np.random.default_rng(seed).permutation(n_s)[:n_d]
    return n_s, n_d, S


# ----------------------------------------------------------------------------- appendix F


class TestAppendixF:
    @given(rugs())
    def test_matches_definition(self, rug):
        n_s, n_d, S = rug
        R = rug_matrix(n_s, n_d, S=S, dtype=torch.float64).numpy()
        np.testing.assert_allclose(R, reference_r(n_s, S), rtol=0, atol=1e-12)

    @given(rugs())
    def test_unit_diagonal(self, rug):
        n_s, n_d, S = rug
        R = RugOperator(n_s, n_d, S=S).dense(torch.float64).numpy()
        np.testing.assert_allclose(np.diag(R), np.ones(n_s), rtol=0, atol=1e-12)

    @given(rugs())
    def test_off_diagonal_row_energy(self, rug):
        # sum_{j != i} R_ij^2 = n_s / n_d - 1 for every row i (eq. 41)
        n_s, n_d, S = rug
        R = rug_matrix(n_s, n_d, S=S, dtype=torch.float64).numpy()
        off = (R**2).sum(axis=1) - np.diag(R) ** 2
        np.testing.assert_allclose(off, np.full(n_s, n_s / n_d - 1), rtol=1e-12, atol=1e-10)

    @given(rugs())
    def test_square_is_ns_over_nd_times_r(self, rug):
        n_s, n_d, S = rug
        R = rug_matrix(n_s, n_d, S=S, dtype=torch.float64).numpy()
        np.testing.assert_allclose(R @ R, (n_s / n_d) * R, rtol=0, atol=1e-9 * n_s / n_d)
        np.testing.assert_allclose(np.diag(R @ R), np.full(n_s, n_s / n_d), rtol=1e-12)

    @given(rugs())
    def test_paper_eq45_is_false_unless_full_rank(self, rug):
        n_s, n_d, S = rug
        R = rug_matrix(n_s, n_d, S=S, dtype=torch.float64).numpy()
        gap = np.abs(R @ R - R).max()
        if n_d < n_s:
            # (R^2 - R)_ii = n_s/n_d - 1 >= 1/n_d
            assert gap >= 0.99 * (n_s / n_d - 1) > 0
            assert not np.allclose(R @ R, R)
        else:
            np.testing.assert_allclose(R, np.eye(n_s), rtol=0, atol=1e-12)
            assert gap < 1e-12

    @given(rugs())
    def test_r_times_r_is_orthogonal_projector(self, rug):
        n_s, n_d, S = rug
        P = (n_d / n_s) * rug_matrix(n_s, n_d, S=S, dtype=torch.float64).numpy()
        np.testing.assert_array_equal(P, P.T)
        np.testing.assert_allclose(P @ P, P, rtol=0, atol=1e-10)
        assert np.trace(P) == pytest.approx(n_d, abs=1e-9)
        # its range is spanned by the chosen Hadamard columns, which it fixes
        hs = dense_h(n_s)[:, np.sort(S)]
        np.testing.assert_allclose(P @ hs, hs, rtol=0, atol=1e-9)
        if n_d < n_s:
            other = np.setdiff1d(np.arange(n_s), S)[:4]
            np.testing.assert_allclose(P @ dense_h(n_s)[:, other], 0.0, rtol=0, atol=1e-9)

    @pytest.mark.parametrize("n_s,n_d", [(8, 3), (64, 10), (256, 200)])
    def test_projector_spectrum(self, n_s, n_d):
        P = RugOperator(n_s, n_d, seed=0).dense(torch.float64) * (n_d / n_s)
        ev = torch.linalg.eigvalsh(P)
        expect = torch.cat([torch.zeros(n_s - n_d), torch.ones(n_d)]).double()
        torch.testing.assert_close(ev, expect, rtol=0, atol=1e-10)


# ----------------------------------------------------------------------------- structure


class TestStructure:
    @given(rugs())
    def test_dense_equals_rug_matrix(self, rug):
        n_s, n_d, S = rug
        op = RugOperator(n_s, n_d, S=S)
        torch.testing.assert_close(op.dense(torch.float64), rug_matrix(n_s, n_d, S=S, dtype=torch.float64),
                                   rtol=0, atol=1e-12)
        torch.testing.assert_close(op.dense(), rug_matrix(n_s, n_d, S=S), rtol=0, atol=1e-6)

    @given(rugs(max_k=8))
    def test_factors(self, rug):
        n_s, n_d, S = rug
        w_in, w_out = RugOperator(n_s, n_d, S=S).factors(torch.float64)
        assert w_in.shape == (n_d, n_s) and w_out.shape == (n_s, n_d)
        np.testing.assert_allclose((w_out @ w_in).numpy(), reference_r(n_s, S), rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.abs(w_in.numpy()), 1 / np.sqrt(n_d), rtol=1e-15)
        # rows of W_in are orthogonal, each of norm^2 n_s / n_d
        np.testing.assert_allclose((w_in @ w_in.T).numpy(), (n_s / n_d) * np.eye(n_d), rtol=0, atol=1e-10)

    def test_factors_dtype(self):
        w_in, w_out = RugOperator(16, 4, seed=1).factors()
        assert w_in.dtype == w_out.dtype == torch.float32

    @given(rugs())
    def test_xor_structure(self, rug):
        n_s, n_d, S = rug
        op = RugOperator(n_s, n_d, S=S)
        g = op.first_row().numpy()
        R = reference_r(n_s, S)
        np.testing.assert_allclose(g, R[0], rtol=0, atol=1e-12)
        i = np.arange(n_s)
        np.testing.assert_allclose(R, g[i[:, None] ^ i[None, :]], rtol=0, atol=1e-12)

    @given(rugs())
    def test_row_sums(self, rug):
        n_s, n_d, S = rug
        R = rug_matrix(n_s, n_d, S=S, dtype=torch.float64).numpy()
        expect = n_s / n_d if 0 in set(S.tolist()) else 0.0
        np.testing.assert_allclose(R.sum(axis=1), np.full(n_s, expect), rtol=0, atol=1e-10)

    def test_row_sums_both_cases_explicit(self):
        with_0 = rug_matrix(16, 4, S=[0, 3, 5, 9], dtype=torch.float64)
        without_0 = rug_matrix(16, 4, S=[1, 3, 5, 9], dtype=torch.float64)
        torch.testing.assert_close(with_0.sum(1), torch.full((16,), 4.0, dtype=torch.float64))
        torch.testing.assert_close(without_0.sum(1), torch.zeros(16, dtype=torch.float64), atol=1e-12, rtol=0)

    def test_small_cases_by_hand(self):
        # n_s = 2, S = {1}: H[:, 1] = (1, -1), R = [[1, -1], [-1, 1]]
        torch.testing.assert_close(rug_matrix(2, 1, S=[1], dtype=torch.float64),
                                   torch.tensor([[1.0, -1.0], [-1.0, 1.0]], dtype=torch.float64))
        # full S: R = I
        torch.testing.assert_close(rug_matrix(8, 8, S=range(8), dtype=torch.float64),
                                   torch.eye(8, dtype=torch.float64))
        # n_s = 1
        assert rug_matrix(1, 1, dtype=torch.float64).item() == 1.0

    def test_r_attribute_and_repr(self):
        op = RugOperator(64, 16, seed=0)
        assert op.r == 0.25 and op.n_s == 64 and op.n_d == 16
        assert "64" in repr(op) and "16" in repr(op)


# ----------------------------------------------------------------------------- the fast operator


class TestApply:
    @given(rugs(), st.sampled_from([(), (1,), (3,), (2, 3)]), st.integers(0, 2**31 - 1))
    def test_apply_equals_dense(self, rug, batch, seed):
        n_s, n_d, S = rug
        op = RugOperator(n_s, n_d, S=S)
        x = torch.randn(*batch, n_s, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        y = op.apply(x)
        assert y.shape == x.shape and y.dtype == torch.float64
        expect = x.numpy() @ reference_r(n_s, S)
        np.testing.assert_allclose(y.numpy(), expect, rtol=0, atol=1e-11 * np.sqrt(n_s))
        torch.testing.assert_close(op(x), y, rtol=0, atol=0)  # __call__ is apply

    @pytest.mark.parametrize("backend", ["torch", "auto"])
    @pytest.mark.parametrize("n_s,n_d", [(1024, 100), (4096, 4096), (4096, 1)])
    def test_apply_float32(self, n_s, n_d, backend):
        op = RugOperator(n_s, n_d, seed=3)
        x = torch.randn(8, n_s)
        y = op.apply(x, backend=backend)
        assert y.dtype == torch.float32
        expect = x.double().numpy() @ reference_r(n_s, op.S.numpy())
        # |R x| ~ sqrt(n_s / n_d) |x|; float32 rounding of two transforms of size n_s
        assert np.abs(y.double().numpy() - expect).max() <= 1e-5 * np.sqrt(n_s)

    def test_apply_is_projection_up_to_scale(self):
        op = RugOperator(512, 64, seed=4)
        x = torch.randn(5, 512, dtype=torch.float64)
        y = op.apply(x)
        torch.testing.assert_close(op.apply(y), (512 / 64) * y, rtol=1e-10, atol=1e-10)

    def test_apply_grad(self):
        # R is symmetric: d/dx sum(w * R x) = R w
        op = RugOperator(64, 20, seed=5)
        x = torch.randn(3, 64, dtype=torch.float64, requires_grad=True)
        w = torch.randn(3, 64, dtype=torch.float64)
        (op.apply(x) * w).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), w.numpy() @ reference_r(64, op.S.numpy()), rtol=0, atol=1e-12)

    @pytest.mark.parametrize("rows", [1, 3, 7])
    def test_fused_path_across_chunk_boundaries(self, monkeypatch, rows):  # the pure-torch sandwich
        # chunks of `rows` rows, the last one partial: both paths against the dense reference
        import importlib

        hd = importlib.import_module("numerics.hadamard")  # the package's `hadamard` is the function
        monkeypatch.setattr(hd, "_SANDWICH_CHUNK_ELEMS", rows * 256)
        op = RugOperator(256, 40, seed=8)
        x = torch.randn(2, 5, 256, dtype=torch.float64)
        fused = op.apply(x, backend="torch")
        with torch.enable_grad():
            autograd = op.apply(x.clone().requires_grad_(True), backend="torch").detach()
        expect = x.numpy() @ reference_r(256, op.S.numpy())
        np.testing.assert_allclose(fused.numpy(), expect, rtol=0, atol=1e-12)
        np.testing.assert_allclose(autograd.numpy(), expect, rtol=0, atol=1e-12)

    @pytest.mark.parametrize("backend", ["torch", "auto"])
    def test_out_is_filled_and_reused(self, backend):
        op = RugOperator(512, 64, seed=9)
        out = torch.full((6, 512), float("nan"))
        for seed in (0, 1):
            x = torch.randn(6, 512, generator=torch.Generator().manual_seed(seed))
            y = op.apply(x, out=out, backend=backend)
            assert y is out
            expect = x.double().numpy() @ reference_r(512, op.S.numpy())
            assert np.abs(out.double().numpy() - expect).max() <= 1e-5 * np.sqrt(512)
        # a non-contiguous input is read correctly
        xt = torch.randn(512, 6).T
        torch.testing.assert_close(op.apply(xt), op.apply(xt.contiguous()), rtol=0, atol=0)

    def test_bad_out(self):
        op = RugOperator(64, 8, seed=0)
        x = torch.randn(4, 64)
        for bad in (torch.empty(4, 32), torch.empty(4, 64, dtype=torch.float64), torch.empty(64, 4).T, x):
            with pytest.raises(ValueError, match="out must"):
                op.apply(x, out=bad)
        with pytest.raises(ValueError, match="out must be None"):
            op.apply(x.clone().requires_grad_(True), out=torch.empty(4, 64))

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_fht_cpu_backend(self, dtype):
        pytest.importorskip("fht_cpu")
        op = RugOperator(1024, 100, seed=10)
        x = torch.randn(3, 4, 1024, dtype=dtype)
        keep = x.clone()
        expect = x.double().numpy() @ reference_r(1024, op.S.numpy())
        tol = 1e-5 * np.sqrt(1024) if dtype == torch.float32 else 1e-11
        out = torch.empty_like(x)
        for y in (op.apply(x, backend="fht_cpu"), op.apply(x, out=out, backend="fht_cpu")):
            assert np.abs(y.double().numpy() - expect).max() <= tol
        assert torch.equal(x, keep)
        with torch.enable_grad():  # the differentiable path through fwht's backend
            xg = x.clone().requires_grad_(True)
            y = op.apply(xg, backend="fht_cpu")
            assert np.abs(y.detach().double().numpy() - expect).max() <= tol

    def test_bad_backend(self, monkeypatch):
        import importlib

        op = RugOperator(64, 8, seed=0)
        with pytest.raises(ValueError, match="backend must be one of"):
            op.apply(torch.zeros(64), backend="numpy")
        monkeypatch.setattr(importlib.import_module("numerics.hadamard"), "_fht_cpu_module", False)
        with pytest.raises(ValueError, match="fht_cpu"):
            op.apply(torch.zeros(64), backend="fht_cpu")

    @pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_apply_on_cuda(self, dtype):
        op = RugOperator(4096, 1000, seed=11)
        x = torch.randn(64, 4096, dtype=torch.float64)
        expect = x.numpy() @ reference_r(4096, op.S.numpy())
        xc = x.to("cuda", dtype)
        out = torch.empty_like(xc)
        tol = 1e-5 * np.sqrt(4096) if dtype == torch.float32 else 1e-10
        with torch.enable_grad():
            grad_path = op.apply(xc.clone().requires_grad_(True)).detach()
        for y in (op.apply(xc), op.apply(xc, out=out), grad_path):
            assert y.device.type == "cuda" and y.dtype == dtype
            assert np.abs(y.double().cpu().numpy() - expect).max() <= tol

    def test_apply_does_not_modify_input(self):
        op = RugOperator(128, 7, seed=6)
        x = torch.randn(4, 128)
        keep = x.clone()
        op.apply(x)
        assert torch.equal(x, keep)


# ----------------------------------------------------------------------------- columns and seeds


class TestColumns:
    def test_seed_reproducible(self):
        a = RugOperator(256, 100, seed=123)
        b = RugOperator(256, 100, seed=123)
        c = RugOperator(256, 100, seed=124)
        assert torch.equal(a.S, b.S)
        assert not torch.equal(a.S, c.S)
        torch.testing.assert_close(rug_matrix(256, 100, seed=123), a.dense(), rtol=0, atol=0)

    @given(rugs())
    def test_random_S_valid(self, rug):
        n_s, n_d, _ = rug
        S = choose_columns(n_s, n_d, seed=0)
        assert S.dtype == torch.int64 and S.shape == (n_d,)
        assert torch.all(S[1:] > S[:-1])  # sorted, distinct
        assert int(S.min()) >= 0 and int(S.max()) < n_s

    @given(rugs())
    def test_given_S_is_kept_sorted(self, rug):
        n_s, n_d, S = rug
        for given_S in (S, S.tolist(), torch.from_numpy(S.copy())):
            got = RugOperator(n_s, n_d, S=given_S).S
            np.testing.assert_array_equal(got.numpy(), np.sort(S))


# ----------------------------------------------------------------------------- errors


class TestErrors:
    @pytest.mark.parametrize("n_s", [0, 3, 6, 100, -8, 2.5, True])
    def test_bad_n_s(self, n_s):
        with pytest.raises(ValueError):
            RugOperator(n_s, 1)
        with pytest.raises(ValueError):
            rug_matrix(n_s, 1)

    @pytest.mark.parametrize("n_d", [0, -1, 17, 1.5])
    def test_n_d_out_of_range(self, n_d):
        with pytest.raises(ValueError):
            RugOperator(16, n_d)
        with pytest.raises(ValueError):
            rug_matrix(16, n_d)

    @pytest.mark.parametrize(
        "S",
        [
            [0, 1, 2],  # too short
            [0, 1, 2, 3, 4],  # too long
            [0, 1, 1, 2],  # duplicate
            [0, 1, 2, 16],  # out of range
            [-1, 1, 2, 3],  # negative
            [0.0, 1.0, 2.0, 3.0],  # not integers
            [[0, 1], [2, 3]],  # not 1-D
        ],
    )
    def test_bad_S(self, S):
        with pytest.raises(ValueError):
            RugOperator(16, 4, S=S)
        with pytest.raises(ValueError):
            rug_matrix(16, 4, S=S)

    def test_bad_x(self):
        op = RugOperator(16, 4, seed=0)
        for bad in (torch.zeros(15), torch.zeros(3, 32), torch.zeros(16, 3), torch.tensor(1.0)):
            with pytest.raises(ValueError):
                op.apply(bad)
        with pytest.raises(ValueError):
            op.apply(torch.zeros(16, dtype=torch.int64))
        with pytest.raises(ValueError):
            op.apply(np.zeros(16))
