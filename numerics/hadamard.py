r"""Sylvester Hadamard matrices and the fast Walsh–Hadamard transform.

The Sylvester matrix of order n = 2^k has entries H_ij = (-1)^{popcount(i & j)} (0-based indices);
it is symmetric and H H = n I. :func:`fwht` multiplies by it in O(n log n):
``fwht(x, dim=-1) == x @ hadamard(n)`` (= H x for each vector, H being symmetric), unnormalised.

How :func:`fwht` is computed
----------------------------
Why hand-made: torch, numpy and scipy have no Walsh–Hadamard transform (``scipy.linalg.hadamard``
only builds the dense matrix; a multidimensional size-2 FFT through ``torch.fft`` is ~10x slower than
what follows), and the compiled ``fht_cpu`` package is an extra dependency. So this module arranges
library GEMMs; it contains no loop over elements.

H_ij factorises over groups of bits: split the k bits of an index into groups of b_1, b_2, ... bits
(lowest first); then H_n = H_{m_t} (x) ... (x) H_{m_1} with m_g = 2^{b_g} (Kronecker product), and
the transform is one pass per group. The pass for a group whose lowest bit has stride s (in elements)
views the data as (-1, m, s) and multiplies by the small dense H_m along the middle axis -- a plain
GEMM (``X.view(-1, m) @ H_m`` when s = 1, ``H_m @ X`` batched otherwise). A pass costs 2m flops per
element against b = log2(m) add/sub stages, but a BLAS GEMM with m <= 32 runs close to the machine's
matmul peak, while each butterfly stage written with torch element-wise ops is a full memory sweep.
Which split is fastest depends on the CPU (its caches and its BLAS): on the Intel Xeon it was tuned on,
ceil(k / 5) passes of balanced sizes of at most 5 bits in chunks of 2^22 elements (the fixed rule); on
an AMD EPYC other splits and chunks are up to 1.45x faster (1.25x at the geometric mean). So on the CPU the plan is measured once per
(CPU, torch, threads, dtype, n) and remembered on disk, and the fixed rule is used where tuning is
turned off, on CUDA and along another dim than the last (numerics/fwht_plan.py, which also bounds the
rounding of any plan). A 1-bit group is one add/sub butterfly. Each pass reads one buffer
and writes another (GEMMs cannot work in place); the passes alternate between the output and one
scratch buffer so that the last pass lands in the output. The matmul passes are exact up to float
rounding: the entries of H_m are +-1 and each output element is a sum of m signed inputs.

The rows are processed in chunks of the plan's size (at most 2^22 elements) so that the scratch buffer stays
bounded whatever the batch size; on the CPU it is kept per thread and dtype and reused, because
freshly allocated memory costs page faults. A transform along another dim than the last needs no
transpose: with x viewed as (pre, n, post) the lowest group simply has stride s = post. The same
torch ops run on CUDA (there the scratch comes from the caching allocator).

If float32 matmuls are allowed reduced precision (TF32 / bfloat16 via
``torch.set_float32_matmul_precision``, ``torch.backends.cuda.matmul.allow_tf32`` or the
``torch.backends.*.fp32_precision`` settings), the float32 transform uses radix-2 butterflies
(exact, slower) instead of GEMMs.

The compiled backend: if the package ``fht_cpu`` is installed (``pip install -e '.[fast]'``), the
default ``backend="auto"`` hands CPU float32/float64 tensors transformed along their last dimension to
its kernel (SIMD butterflies, 2.3-5.4x faster than the GEMM passes on an AMD EPYC: benchmarks/RESULTS.md), and
the pure-torch passes do everything else (CUDA, another dim). The values agree to rounding, not bit for
bit (another summation order; the bound is tested); ``backend="torch"`` keeps the pure-torch path
everywhere. Why an extra and not a dependency: benchmarks/README.md.
"""

from __future__ import annotations

import numbers
import threading

import numpy as np
import scipy.linalg
import torch

from . import fwht_plan
from ._validation import check_fits_in_memory, check_power_of_two
from .fwht_plan import MAX_CHUNK_ELEMS, Plan

__all__ = ["hadamard", "fwht", "fht_cpu_available"]

_BACKENDS = ("auto", "torch", "fht_cpu")


def hadamard(n: int, *, dtype=torch.float32, device=None) -> torch.Tensor:
    """The n x n Sylvester Hadamard matrix (entries +-1, H = H^T, H H = n I) as a torch tensor.

    n must be a power of two. Built by :func:`scipy.linalg.hadamard`.
    """
    n = check_power_of_two(n, "n")
    # scipy builds it as int8 (1 byte per entry), then torch converts: refuse what cannot fit before allocating
    check_fits_in_memory(n * n * (1 + torch.empty((), dtype=dtype).element_size()), f"an {n} x {n} matrix", "n")
    return torch.as_tensor(scipy.linalg.hadamard(n, dtype=np.int8), device=device).to(dtype)


# ----------------------------------------------------------------------------- plan and buffers

_small_h: dict = {}
_local = threading.local()


def _small_hadamard(m: int, dtype, device: torch.device) -> torch.Tensor:
    key = (m, dtype, device)
    h = _small_h.get(key)
    if h is None:
        h = hadamard(m, dtype=dtype, device=device)
        _small_h[key] = h
    return h


def _scratch(numel: int, like: torch.Tensor, slot: int = 0) -> torch.Tensor:
    """A 1-D scratch tensor of at least ``numel`` elements (reused per thread, dtype and slot on the CPU;
    different slots never share memory)."""
    if like.device.type != "cpu" or numel > MAX_CHUNK_ELEMS:
        # CUDA has a caching allocator; an oversized slab is not worth keeping alive.
        return torch.empty(numel, dtype=like.dtype, device=like.device)
    cache = getattr(_local, "bufs", None)
    if cache is None:
        cache = _local.bufs = {}
    buf = cache.get((like.dtype, slot))
    if buf is None or buf.numel() < numel:
        buf = torch.empty(max(numel, min(MAX_CHUNK_ELEMS, 4 * numel)), dtype=like.dtype)
        cache[(like.dtype, slot)] = buf
    return buf


def _matmul_is_exact(t: torch.Tensor) -> bool:
    """False when float32 matmuls on t's device may use TF32 / bfloat16 internally."""
    if t.dtype != torch.float32:
        return True
    try:
        if torch.get_float32_matmul_precision() != "highest":
            return False
    except RuntimeError:  # legacy and new precision APIs mixed: read the new one below
        pass
    backends = torch.backends
    sub = getattr(backends, "cuda" if t.device.type == "cuda" else "mkldnn", None)
    prec = getattr(getattr(sub, "matmul", None), "fp32_precision", "none")
    if prec == "none":
        prec = getattr(backends, "fp32_precision", "none")
    return prec in ("none", "ieee")


# ----------------------------------------------------------------------------- the passes


def _butterfly(src: torch.Tensor, dst: torch.Tensor, s: int) -> None:
    """One radix-2 stage on the bit of stride s: dst = (a + b, a - b) of the halves of src."""
    a, b = src.view(-1, 2, s).unbind(1)
    d = dst.view(-1, 2, s)
    torch.add(a, b, out=d[:, 0])
    torch.sub(a, b, out=d[:, 1])


def _plan_for(x: torch.Tensor, n: int, post: int, exact_mm: bool) -> Plan:
    """The plan for H_n along the middle axis of x viewed as (pre, n, post).

    Radix-2 butterflies when matmuls may round (see the module docstring); the measured plan
    (numerics.fwht_plan) for a CPU transform along the last dimension of length up to the search's test
    size (above it a row is one chunk whatever the plan, and a test array would double the memory); the
    fixed rule otherwise.
    """
    k = n.bit_length() - 1
    if not exact_mm:
        return Plan((1,) * k, MAX_CHUNK_ELEMS)
    if x.device.type == "cpu" and post == 1 and n <= fwht_plan.SEARCH_ELEMS:
        test: list[torch.Tensor] = []  # the search's test array and output, made only if a search runs

        def run(plan: Plan) -> None:
            if not test:
                rows = max(1, fwht_plan.SEARCH_ELEMS // n)
                t = torch.randn(rows, n, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
                test.extend((t, torch.empty_like(t)))
            _run_plan(test[0], test[1], plan, test[0].shape[0], n, 1)

        return fwht_plan.measured_plan(k, x.dtype, run)
    return fwht_plan.fixed_plan(k)


def _transform_block(src: torch.Tensor, out: torch.Tensor, tmp: torch.Tensor, post: int,
                     groups: tuple[int, ...]) -> None:
    """out = H_n along the middle axis of src viewed as (rows, n, post), n = 2^sum(groups), one pass
    per group of bits (lowest first); all three contiguous.

    tmp has at least src.numel() elements and is overwritten. src is only read.
    """
    if not groups:  # n == 1: H_1 = [1]
        out.copy_(src)
        return
    numel = src.numel()
    tmp = tmp[:numel]
    # choose the first destination so that the last pass writes into out
    bufs = (out, tmp) if len(groups) % 2 == 1 else (tmp, out)
    s = post
    cur = src
    for i, bits in enumerate(groups):
        dst = bufs[i % 2]
        m = 1 << bits
        if bits == 1:
            _butterfly(cur, dst, s)
        elif s == 1:
            torch.matmul(cur.view(-1, m), _small_hadamard(m, src.dtype, src.device), out=dst.view(-1, m))
        else:
            torch.matmul(_small_hadamard(m, src.dtype, src.device), cur.view(-1, m, s), out=dst.view(-1, m, s))
        cur = dst
        s *= m


def _run_plan(x: torch.Tensor, out: torch.Tensor, plan: Plan, pre: int, n: int, post: int) -> None:
    """out = H_n along the middle axis of contiguous x viewed as (pre, n, post), chunk by chunk."""
    slab = n * post
    xs = x.view(pre, slab)
    os_ = out.view(pre, slab)
    rows = max(1, min(pre, plan.chunk_elems // slab))
    tmp = _scratch(rows * slab, x)
    for r0 in range(0, pre, rows):
        r1 = min(pre, r0 + rows)
        _transform_block(xs[r0:r1], os_[r0:r1], tmp, post, plan.groups)


def _fwht_torch(x: torch.Tensor, pre: int, n: int, post: int) -> torch.Tensor:
    """H_n along the middle axis of contiguous x viewed as (pre, n, post); a new contiguous tensor."""
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    if x.numel() == 0:
        return out
    _run_plan(x, out, _plan_for(x, n, post, _matmul_is_exact(x)), pre, n, post)
    return out


# Rows per chunk of the fused sandwich below: its two scratch buffers and the chunk of the output stay in
# the L2/L3 caches between the two transforms (measured in benchmarks/bench_rug.py).
_SANDWICH_CHUNK_ELEMS = 1 << 20


def hadamard_sandwich(x: torch.Tensor, v: torch.Tensor, *, out: torch.Tensor | None = None,
                      backend: str = "auto") -> torch.Tensor:
    """H diag(v) H x along the last dimension of contiguous x, fused: no gradient, no tensor of x's size
    allocated besides ``out`` (pass one to reuse it; it may not overlap x).

    backend "torch": each chunk of rows goes x -> scratch A (first transform, through scratch B), is
    scaled by v in place, then -> out (second transform, through scratch B): the intermediate never
    leaves the cache and no fresh memory is touched, which is what the unfused fwht(fwht(x) * v) pays
    for at large sizes. backend "fht_cpu", and "auto" where that package is installed (CPU
    float32/float64; the torch path otherwise): x is copied into out, which the compiled kernel
    transforms in place, twice, around the scaling -- in place it is about 2.5x faster per transform
    than the GEMM passes (benchmarks/RESULTS.md). The caller validates the backend (see :func:`fwht`).
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim == 0 or not x.is_contiguous():
        raise ValueError("x must be a contiguous floating-point tensor with at least one dimension")
    n = check_power_of_two(x.shape[-1], "x.shape[-1]")
    if not isinstance(v, torch.Tensor) or tuple(v.shape) != (n,):
        raise ValueError(f"v must be a tensor of shape ({n},), got {getattr(v, 'shape', type(v).__name__)}")
    if out is not None and (not isinstance(out, torch.Tensor) or out.shape != x.shape or out.dtype != x.dtype
                            or out.device != x.device or not out.is_contiguous()):
        raise ValueError(f"out must be a contiguous tensor of shape {tuple(x.shape)}, dtype {x.dtype} on {x.device}")
    if out is None:
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
    if x.numel() == 0:
        return out
    v = v.to(dtype=x.dtype, device=x.device)
    pre = x.numel() // n
    xs, os_ = x.view(pre, n), out.view(pre, n)
    if _use_fht_cpu(backend, x, 1):
        os_.copy_(xs)
        o = os_.detach().numpy()
        threads = torch.get_num_threads()
        _fht_cpu_module.fht(o, axis=-1, inplace=True, num_threads=threads)
        os_.mul_(v)
        _fht_cpu_module.fht(o, axis=-1, inplace=True, num_threads=threads)
        return out
    groups = _plan_for(x, n, 1, _matmul_is_exact(x)).groups  # the chunk is the sandwich's own
    rows = max(1, min(pre, _SANDWICH_CHUNK_ELEMS // n))
    a = _scratch(rows * n, x, slot=1)
    b = _scratch(rows * n, x, slot=2)
    for r0 in range(0, pre, rows):
        r1 = min(pre, r0 + rows)
        ya = a[: (r1 - r0) * n].view(r1 - r0, n)
        _transform_block(xs[r0:r1], ya, b, 1, groups)
        ya.mul_(v)
        _transform_block(ya, os_[r0:r1], b, 1, groups)
    return out


# ----------------------------------------------------------------------------- optional fht_cpu

_fht_cpu_module = None


def fht_cpu_available() -> bool:
    """True if the optional compiled backend ``fht_cpu`` can be imported."""
    global _fht_cpu_module
    if _fht_cpu_module is None:
        try:
            import fht_cpu  # noqa: PLC0415 (optional dependency)
        except ImportError:
            _fht_cpu_module = False
        else:
            _fht_cpu_module = fht_cpu
    return _fht_cpu_module is not False


def _fwht_fht_cpu(x: torch.Tensor, pre: int, n: int, post: int) -> torch.Tensor:
    """The same transform through fht_cpu (CPU, float32/float64, contiguous x); only along the last axis."""
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    if x.numel() == 0:
        return out
    # fht_cpu(x, out=out) copies x into out and transforms out in place; x is untouched.
    _fht_cpu_module.fht(x.detach().view(pre, n).numpy(), axis=-1, out=out.view(pre, n).numpy(),
                        num_threads=torch.get_num_threads())
    return out


def _use_fht_cpu(backend: str, x: torch.Tensor, post: int) -> bool:
    """Whether the compiled kernel does this transform: asked for ("fht_cpu") or installed ("auto"), and
    x a CPU float32/float64 tensor transformed along its last dimension (post == 1)."""
    if backend == "torch" or post != 1 or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return False
    return backend == "fht_cpu" or fht_cpu_available()


def check_backend(backend) -> str:
    """``backend`` if it is "auto" or "torch", or "fht_cpu" with that package installed; else ValueError."""
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    if backend == "fht_cpu" and not fht_cpu_available():
        raise ValueError("backend='fht_cpu' needs the optional package fht_cpu (pip install fht-cpu)")
    return backend


# ----------------------------------------------------------------------------- autograd and API


class _FWHT(torch.autograd.Function):
    # H is symmetric, so the vector-Jacobian product of y = H x is H g: the backward is the forward.
    @staticmethod
    def forward(ctx, x, pre, n, post, backend):
        ctx.shape = (pre, n, post, backend)
        return _dispatch(x, pre, n, post, backend)

    @staticmethod
    def backward(ctx, grad):
        pre, n, post, backend = ctx.shape
        return _FWHT.apply(grad.contiguous(), pre, n, post, backend), None, None, None, None


def _dispatch(x, pre, n, post, backend):
    if _use_fht_cpu(backend, x, post):
        return _fwht_fht_cpu(x, pre, n, post)
    return _fwht_torch(x, pre, n, post)


def fwht(x: torch.Tensor, dim: int = -1, *, backend: str = "auto") -> torch.Tensor:
    r"""The unnormalised fast Walsh–Hadamard transform along ``dim``: ``x @ hadamard(n)`` in O(n log n).

    y_i = \sum_j H_ij x_j with H the Sylvester matrix of order n = x.shape[dim], a power of two.
    Works for float32 and float64 tensors on any device, is differentiable (the backward pass is the
    same transform, H being symmetric), and returns a new contiguous tensor of x's shape (x is not
    modified). Applying it twice multiplies by n.

    backend: ``"auto"`` (default): the compiled package ``fht_cpu`` where it is installed, for CPU
    float32/float64 tensors transformed along their last dimension, and the pure-torch path for
    anything else; ``"torch"``: always the pure-torch path (dense Hadamard GEMMs over bit groups, see
    the module docstring); ``"fht_cpu"``: like "auto", but raises ValueError when the package is not
    installed. The backends agree to rounding: every output is a sum of n signed inputs, added in
    another order.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension")
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral):
        raise ValueError(f"dim must be an int, got {dim!r}")
    dim = int(dim)
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"dim must be in [{-x.ndim}, {x.ndim - 1}], got {dim}")
    check_backend(backend)
    dim = dim % x.ndim
    n = check_power_of_two(x.shape[dim], f"x.shape[{dim}]")
    pre = 1
    for d in x.shape[:dim]:
        pre *= d
    post = 1
    for d in x.shape[dim + 1:]:
        post *= d
    return _FWHT.apply(x.contiguous(), pre, n, post, backend)
