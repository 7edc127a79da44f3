"""numerics.hadamard: the Sylvester matrix and the fast Walsh–Hadamard transform.

The reference throughout is a dense Sylvester matrix built here from its defining formula
H_ij = (-1)^popcount(i & j) with numpy, independently of scipy and of the code under test.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import sys

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from numerics import fwht, hadamard

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import dense_hadamard as dense_h  # noqa: E402

hmod = sys.modules["numerics.hadamard"]  # the module (the package re-exports the function `hadamard`)
plan_mod = sys.modules["numerics.fwht_plan"]
_fwht = fwht


@pytest.fixture(params=["torch", "auto"])
def each_backend(request, monkeypatch):
    """Run a test with this module's ``fwht`` bound to each backend: "torch" (the GEMM passes) and
    "auto" (the compiled fht_cpu where installed, which takes CPU transforms along the last dim)."""
    monkeypatch.setattr(sys.modules[__name__], "fwht", functools.partial(_fwht, backend=request.param))
    return request.param

CUDA = torch.cuda.is_available()




def reference(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """x @ H along dim, in float64 on the CPU (numpy)."""
    xn = np.moveaxis(x.detach().cpu().double().numpy(), dim, -1)
    y = xn @ dense_h(xn.shape[-1])
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(y, -1, dim)))


def f32_atol(n: int) -> float:
    # Outputs of standard-normal inputs are ~ sqrt(n); float32 sums of n terms err by about
    # eps32 * sqrt(n) * (a few). 1e-5 * sqrt(n) leaves a margin of ~10x over what is observed.
    return 1e-5 * max(1.0, np.sqrt(n))


# ----------------------------------------------------------------------------- hadamard(n)


class TestHadamardMatrix:
    @pytest.mark.parametrize("k", range(0, 11))
    def test_matches_popcount_formula(self, k):
        n = 2**k
        H = hadamard(n, dtype=torch.float64)
        assert H.shape == (n, n) and H.dtype == torch.float64
        np.testing.assert_array_equal(H.numpy(), dense_h(n))

    @pytest.mark.parametrize("k", range(0, 10))
    def test_symmetric_and_orthogonal(self, k):
        n = 2**k
        H = hadamard(n, dtype=torch.float64)
        assert torch.equal(H, H.T)
        assert torch.equal(H @ H, n * torch.eye(n, dtype=torch.float64))
        assert set(H.unique().tolist()) <= {-1.0, 1.0}

    def test_dtype_default_float32(self):
        assert hadamard(4).dtype == torch.float32
        assert hadamard(4, dtype=torch.float64).dtype == torch.float64

    @pytest.mark.parametrize("n", [0, 3, 6, 12, -4, 2.5, True, "8", None])
    def test_rejects_non_power_of_two(self, n):
        with pytest.raises(ValueError):
            hadamard(n)


# ----------------------------------------------------------------------------- fwht values


@pytest.mark.usefixtures("each_backend")
class TestFwhtValues:
    @pytest.mark.parametrize("k", range(0, 13))
    @pytest.mark.parametrize("batch", [(), (1,), (3,), (2, 5)])
    def test_equals_dense_float64(self, k, batch):
        n = 2**k
        if n >= 2**11 and len(batch) == 2:
            batch = (2, 2)
        x = torch.randn(*batch, n, dtype=torch.float64, generator=torch.Generator().manual_seed(k))
        y = fwht(x)
        assert y.shape == x.shape and y.dtype == torch.float64
        torch.testing.assert_close(y, reference(x), rtol=0, atol=1e-12 * n)

    @pytest.mark.parametrize("k", range(0, 13))
    def test_float32_against_float64_reference(self, k):
        n = 2**k
        x = torch.randn(4, n, generator=torch.Generator().manual_seed(100 + k))
        y = fwht(x)
        assert y.dtype == torch.float32
        err = (y.double() - reference(x)).abs().max().item()
        assert err <= f32_atol(n), err

    def test_basis_vectors_give_rows(self):
        # fwht(e_j) is the j-th row of H: an exact check (entries +-1, no rounding)
        n = 64
        y = fwht(torch.eye(n, dtype=torch.float64))
        assert torch.equal(y, torch.from_numpy(dense_h(n).copy()))

    @given(
        k=st.integers(0, 8),
        shape=st.lists(st.integers(0, 4), min_size=0, max_size=3),
        pos=st.integers(0, 3),
        seed=st.integers(0, 2**31 - 1),
        negative=st.booleans(),
    )
    def test_any_shape_and_dim(self, k, shape, pos, seed, negative):
        n = 2**k
        pos = min(pos, len(shape))
        shape = shape[:pos] + [n] + shape[pos:]
        dim = pos - len(shape) if negative else pos
        x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        y = fwht(x, dim)
        assert y.shape == x.shape
        torch.testing.assert_close(y, reference(x, dim), rtol=0, atol=1e-12 * n)

    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_involution(self, dtype):
        n = 256
        x = torch.randn(3, n, dtype=dtype, generator=torch.Generator().manual_seed(1))
        tol = 1e-4 if dtype == torch.float32 else 1e-10
        torch.testing.assert_close(fwht(fwht(x)), n * x, rtol=tol, atol=tol * n)

    def test_involution_exact_on_integers(self):
        # small integers: every intermediate is an integer far below 2^24, so float32 is exact
        n = 1024
        x = torch.randint(-8, 9, (5, n), generator=torch.Generator().manual_seed(2)).float()
        assert torch.equal(fwht(fwht(x)), n * x)
        assert torch.equal(fwht(x).double(), reference(x))

    def test_non_contiguous_input(self):
        x = torch.randn(16, 6, dtype=torch.float64).T  # (6, 16), non-contiguous
        assert not x.is_contiguous()
        torch.testing.assert_close(fwht(x), reference(x), rtol=0, atol=1e-12)
        y = torch.randn(4, 32, dtype=torch.float64)[:, ::2]  # strided last dim of size 16
        torch.testing.assert_close(fwht(y), reference(y), rtol=0, atol=1e-12)

    def test_large_batch_is_chunked(self, monkeypatch):
        # force many chunks (and a ragged last one) without large tensors
        fixed = plan_mod.fixed_plan
        monkeypatch.setattr(plan_mod, "fixed_plan", lambda k: plan_mod.Plan(fixed(k).groups, 200))
        x = torch.randn(37, 64, dtype=torch.float64)
        torch.testing.assert_close(fwht(x), reference(x), rtol=0, atol=1e-12)
        x3 = torch.randn(7, 32, 5, dtype=torch.float64)
        torch.testing.assert_close(fwht(x3, 1), reference(x3, 1), rtol=0, atol=1e-12)

    def test_large_n(self):
        # 2^16: exact on a 0/1 input, whose transform is known in closed form
        n = 2**16
        x = torch.zeros(2, n)
        x[0, 0] = 1.0  # e_0 -> all ones
        x[1] = 1.0  # all ones -> n e_0
        y = fwht(x)
        assert torch.equal(y[0], torch.ones(n))
        expect = torch.zeros(n)
        expect[0] = n
        assert torch.equal(y[1], expect)

    def test_zero_size_batch(self):
        x = torch.zeros(0, 8)
        assert fwht(x).shape == (0, 8)

    @pytest.mark.parametrize("k", [1, 3, 6, 11])
    def test_butterfly_path(self, k, monkeypatch):
        # the exact radix-2 path used when float32 matmuls may run in reduced precision
        monkeypatch.setattr(hmod, "_matmul_is_exact", lambda t: False)
        n = 2**k
        x = torch.randn(3, n, 2, dtype=torch.float64)
        torch.testing.assert_close(fwht(x, 1), reference(x, 1), rtol=0, atol=1e-12 * n)

    def test_reduced_matmul_precision_falls_back_to_butterflies(self):
        prev = torch.get_float32_matmul_precision()
        x = torch.randint(-8, 9, (3, 512), generator=torch.Generator().manual_seed(3)).float()
        x = x + torch.rand(3, 512, generator=torch.Generator().manual_seed(4))  # not bf16-exact
        try:
            torch.set_float32_matmul_precision("medium")
            assert not hmod._matmul_is_exact(x)
            assert hmod._matmul_is_exact(x.double())
            y = fwht(x)
        finally:
            torch.set_float32_matmul_precision(prev)
        assert hmod._matmul_is_exact(x)
        err = (y.double() - reference(x)).abs().max().item()
        assert err <= 1e-5 * 512, err

    def test_group_plan_covers_all_bits(self):
        for k in range(0, 31):
            groups = plan_mod.fixed_plan(k).groups
            assert sum(groups) == k
            assert all(1 <= g <= plan_mod.FIXED_GROUP_BITS for g in groups)
            assert len(groups) == -(-k // plan_mod.FIXED_GROUP_BITS)


# ----------------------------------------------------------------------------- fwht contract


@pytest.mark.usefixtures("each_backend")
class TestFwhtContract:
    @pytest.mark.parametrize("n", [1, 2, 32, 1024])
    def test_input_not_modified_and_new_tensor(self, n):
        x = torch.randn(3, n)
        keep = x.clone()
        y = fwht(x)
        assert torch.equal(x, keep)
        assert y.data_ptr() != x.data_ptr()
        y.add_(1.0)  # writing to the result leaves x alone
        assert torch.equal(x, keep)

    def test_input_not_modified_other_dim(self):
        x = torch.randn(4, 16, 3, dtype=torch.float64)
        keep = x.clone()
        fwht(x, dim=1)
        fwht(x.transpose(0, 2), dim=1)
        assert torch.equal(x, keep)

    def test_repeated_calls_do_not_share_results(self):
        # the scratch buffer is reused between calls; results must not alias it or each other
        a = torch.randn(2, 256)
        b = torch.randn(8, 128)
        ya = fwht(a)
        ya_copy = ya.clone()
        fwht(b)
        fwht(a.double())
        assert torch.equal(ya, ya_copy)

    def test_threads(self):
        xs = [torch.randn(16, 2**k, dtype=torch.float64) for k in (5, 9, 10) for _ in range(2)]
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            ys = list(ex.map(fwht, xs))
        for x, y in zip(xs, ys):
            torch.testing.assert_close(y, reference(x), rtol=0, atol=1e-12 * x.shape[-1])


# ----------------------------------------------------------------------------- gradients


@pytest.mark.usefixtures("each_backend")
class TestFwhtGrad:
    @pytest.mark.parametrize("shape,dim", [((4,), 0), ((2, 8), -1), ((3, 16, 2), 1), ((2, 1), 1), ((32, 3), 0)])
    def test_gradcheck(self, shape, dim):
        x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: fwht(t, dim), (x,))
        assert torch.autograd.gradgradcheck(lambda t: fwht(t, dim), (x,))

    def test_float32_grad_matches_reference(self):
        n = 512
        x = torch.randn(3, n, requires_grad=True)
        w = torch.randn(3, n)
        (fwht(x) * w).sum().backward()
        # d/dx sum(w * (x H)) = w H^T = w H
        err = (x.grad.double() - reference(w)).abs().max().item()
        assert err <= f32_atol(n), err

    def test_grad_other_dim(self):
        x = torch.randn(8, 5, dtype=torch.float64, requires_grad=True)
        w = torch.randn(8, 5, dtype=torch.float64)
        (fwht(x, 0) * w).sum().backward()
        torch.testing.assert_close(x.grad, reference(w, 0), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- errors


class TestFwhtErrors:
    @pytest.mark.parametrize("n", [3, 6, 12, 100])
    def test_non_power_of_two_length(self, n):
        with pytest.raises(ValueError, match="power of two"):
            fwht(torch.zeros(2, n))

    def test_non_power_of_two_along_dim(self):
        with pytest.raises(ValueError):
            fwht(torch.zeros(6, 8), dim=0)
        fwht(torch.zeros(6, 8), dim=1)  # fine along the other one

    def test_empty_transform_dim(self):
        with pytest.raises(ValueError):
            fwht(torch.zeros(3, 0))

    @pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.complex64])
    def test_non_float_tensor(self, dtype):
        with pytest.raises(ValueError):
            fwht(torch.zeros(2, 4, dtype=dtype))

    def test_not_a_tensor(self):
        with pytest.raises(ValueError):
            fwht(np.zeros(4))
        with pytest.raises(ValueError):
            fwht([1.0, 2.0])

    def test_zero_dim(self):
        with pytest.raises(ValueError):
            fwht(torch.tensor(1.0))

    @pytest.mark.parametrize("dim", [2, -3, 10, 1.0, True, None])
    def test_bad_dim(self, dim):
        with pytest.raises(ValueError):
            fwht(torch.zeros(2, 4), dim=dim)

    def test_numpy_integer_dim(self):
        x = torch.randn(4, 8, dtype=torch.float64)
        torch.testing.assert_close(fwht(x, np.int64(0)), reference(x, 0), rtol=0, atol=1e-12)

    def test_bad_backend(self):
        with pytest.raises(ValueError):
            fwht(torch.zeros(4), backend="numpy")

    def test_fht_cpu_backend_missing(self, monkeypatch):
        monkeypatch.setattr(hmod, "_fht_cpu_module", False)
        assert not hmod.fht_cpu_available()
        with pytest.raises(ValueError, match="fht_cpu"):
            fwht(torch.zeros(4), backend="fht_cpu")


# ----------------------------------------------------------------------------- optional fht_cpu


class TestFhtCpuBackend:
    @pytest.fixture(autouse=True)
    def _needs_fht_cpu(self):
        pytest.importorskip("fht_cpu")

    @pytest.mark.parametrize("k", [0, 1, 4, 7, 10, 12])
    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    def test_equals_dense(self, k, dtype):
        n = 2**k
        x = torch.randn(3, n, dtype=dtype, generator=torch.Generator().manual_seed(k))
        keep = x.clone()
        y = fwht(x, backend="fht_cpu")
        assert y.dtype == dtype and y.shape == x.shape
        assert torch.equal(x, keep)
        atol = 1e-12 * n if dtype == torch.float64 else f32_atol(n)
        assert (y.double() - reference(x)).abs().max().item() <= atol

    def test_batch_shapes_and_other_dims(self):
        x = torch.randn(2, 3, 16, dtype=torch.float64)
        torch.testing.assert_close(fwht(x, backend="fht_cpu"), reference(x), rtol=0, atol=1e-12)
        # along another dim the torch path is used; same values
        xt = x.transpose(1, 2)
        torch.testing.assert_close(fwht(xt, 1, backend="fht_cpu"), reference(xt, 1), rtol=0, atol=1e-12)
        x1 = torch.randn(32, dtype=torch.float64)
        torch.testing.assert_close(fwht(x1, backend="fht_cpu"), reference(x1), rtol=0, atol=1e-12)

    def test_grad(self):
        x = torch.randn(2, 8, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: fwht(t, backend="fht_cpu"), (x,))


# ----------------------------------------------------------------------------- CUDA


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
class TestCuda:
    @pytest.mark.parametrize("k", [0, 1, 5, 6, 10, 13, 16])
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_matches_cpu(self, k, dtype):
        n = 2**k
        x = torch.randn(3, n, dtype=dtype)
        y_gpu = fwht(x.cuda())
        assert y_gpu.device.type == "cuda" and y_gpu.dtype == dtype
        y_cpu = fwht(x)
        atol = 1e-12 * n if dtype == torch.float64 else f32_atol(n)
        torch.testing.assert_close(y_gpu.cpu(), y_cpu, rtol=0, atol=atol)
        if n <= 4096:  # the dense reference is n x n
            torch.testing.assert_close(y_gpu.cpu().double(), reference(x), rtol=0, atol=atol)
        else:  # involution against the input instead
            torch.testing.assert_close(fwht(y_gpu).cpu(), n * x, rtol=0, atol=atol * np.sqrt(n))

    def test_other_dim_and_grad(self):
        x = torch.randn(4, 64, 3, dtype=torch.float64, device="cuda", requires_grad=True)
        y = fwht(x, 1)
        torch.testing.assert_close(y.detach().cpu(), reference(x, 1), rtol=0, atol=1e-10)
        w = torch.randn_like(x)
        (y * w).sum().backward()
        torch.testing.assert_close(x.grad.cpu(), reference(w, 1), rtol=0, atol=1e-10)

    @pytest.mark.parametrize("guard", [True, pytest.param(False, marks=pytest.mark.xfail(strict=True))])
    def test_tf32_setting_keeps_float32_accuracy(self, guard, monkeypatch):
        # with TF32 allowed, GEMM passes would round x to 10 mantissa bits; fwht must not use them then.
        # guard=False forces the GEMM path anyway, to show that this test can tell the difference.
        if not guard:
            monkeypatch.setattr(hmod, "_matmul_is_exact", lambda t: True)
        n = 1024
        x = torch.randn(4, n, dtype=torch.float64)
        prev = torch.backends.cuda.matmul.allow_tf32
        try:
            torch.backends.cuda.matmul.allow_tf32 = True
            y = fwht(x.float().cuda())
        finally:
            torch.backends.cuda.matmul.allow_tf32 = prev
        err = (y.cpu().double() - reference(x.float())).abs().max().item()
        assert err <= f32_atol(n), err

    def test_input_not_modified(self):
        x = torch.randn(8, 128, device="cuda")
        keep = x.clone()
        fwht(x)
        assert torch.equal(x, keep)


# ----------------------------------------------------------------------------- the fused sandwich


def test_hadamard_sandwich_against_dense():
    from numerics.hadamard import hadamard_sandwich

    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 64, dtype=torch.float64, generator=g)
    v = torch.randn(64, dtype=torch.float64, generator=g)
    H = hadamard(64, dtype=torch.float64)
    expect = x @ H @ torch.diag(v) @ H  # rows: H diag(v) H x, H symmetric
    torch.testing.assert_close(hadamard_sandwich(x, v), expect, rtol=1e-12, atol=1e-10)
    out = torch.empty_like(x)
    assert hadamard_sandwich(x, v, out=out) is out
    torch.testing.assert_close(out, expect, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("call, name", [
    (lambda hs: hs(torch.zeros(4, 6), torch.zeros(6)), "x.shape"),
    (lambda hs: hs(torch.zeros(4, 8, dtype=torch.int64), torch.zeros(8)), "x must"),
    (lambda hs: hs(torch.zeros(8, 4).T, torch.zeros(8)), "x must"),
    (lambda hs: hs(torch.zeros(4, 8), torch.zeros(4)), "v must"),
    (lambda hs: hs(torch.zeros(4, 8), torch.zeros(8), out=torch.zeros(4, 4)), "out must"),
])
def test_hadamard_sandwich_bad_input(call, name):
    from numerics.hadamard import hadamard_sandwich

    with pytest.raises(ValueError, match=name):
        call(hadamard_sandwich)
