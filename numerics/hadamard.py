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
Measured on the 2-core AVX-512 machine of ``benchmarks/RESULTS.md``, per 2^22 float32 elements: one
m = 32 pass (5 bits) ~1 ms, one m = 16 pass ~0.9 ms, one m = 64 pass ~2.3 ms, one radix-2 stage
(1 bit) ~1 ms. So the plan is ceil(k / 5) passes with balanced group sizes of at most 5 bits
(2 <= k <= 5: one dense matmul; a 1-bit group is one add/sub butterfly). Each pass reads one buffer
and writes another (GEMMs cannot work in place); the passes alternate between the output and one
scratch buffer so that the last pass lands in the output. The matmul passes are exact up to float
rounding: the entries of H_m are +-1 and each output element is a sum of m signed inputs.

The rows are processed in chunks of about ``_CHUNK_ELEMS`` elements so that the scratch buffer stays
bounded whatever the batch size; on the CPU it is kept per thread and dtype and reused, because
freshly allocated memory costs page faults. A transform along another dim than the last needs no
transpose: with x viewed as (pre, n, post) the lowest group simply has stride s = post. The same
torch ops run on CUDA (there the scratch comes from the caching allocator).

If float32 matmuls are allowed reduced precision (TF32 / bfloat16 via
``torch.set_float32_matmul_precision``, ``torch.backends.cuda.matmul.allow_tf32`` or the
``torch.backends.*.fp32_precision`` settings), the float32 transform uses radix-2 butterflies
(exact, slower) instead of GEMMs.

Optional backend: if the package ``fht_cpu`` is installed, ``fwht(x, backend="fht_cpu")`` hands
contiguous CPU float tensors to its compiled kernel (same values, same autograd rule). It is never
chosen automatically; the default pure-torch path has no dependency beyond torch.
"""

from __future__ import annotations

import numbers
import threading

import numpy as np
import scipy.linalg
import torch

from ._validation import check_fits_in_memory, check_power_of_two

__all__ = ["hadamard", "fwht", "fht_cpu_available"]

# Elements per chunk of rows (one scratch buffer of this size per thread and dtype). 2^22 float32 =
# 16 MiB: few, large GEMMs (each parallel region costs a wake-up of the thread pool, which is expensive
# when the shared CPU is oversubscribed), and still far below the 260 MiB L3 of the benchmark machine.
_CHUNK_ELEMS = 1 << 22
# Largest bit group done by one dense matmul pass (m = 32): above it the 2m flops/element outgrow the
# saving of a pass (measured: m = 64 costs ~2.5x an m = 32 pass for one extra bit).
_MAX_GROUP_BITS = 5

_BACKENDS = ("torch", "fht_cpu")


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


def _group_bits(k: int) -> list[int]:
    """Bits per pass, lowest group first: ceil(k / 5) groups, sizes as equal as possible."""
    if k == 0:
        return []
    passes = -(-k // _MAX_GROUP_BITS)
    base, extra = divmod(k, passes)
    # larger groups first (lowest bits): the s = 1 GEMM is the most efficient one
    return [base + 1] * extra + [base] * (passes - extra)


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
    if like.device.type != "cpu" or numel > _CHUNK_ELEMS:
        # CUDA has a caching allocator; an oversized slab is not worth keeping alive.
        return torch.empty(numel, dtype=like.dtype, device=like.device)
    cache = getattr(_local, "bufs", None)
    if cache is None:
        cache = _local.bufs = {}
    buf = cache.get((like.dtype, slot))
    if buf is None or buf.numel() < numel:
        buf = torch.empty(max(numel, min(_CHUNK_ELEMS, 4 * numel)), dtype=like.dtype)
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


def _transform_block(src: torch.Tensor, out: torch.Tensor, tmp: torch.Tensor, n: int, post: int,
                     exact_mm: bool) -> None:
    """out = H_n along the middle axis of src viewed as (rows, n, post); all three contiguous.

    tmp has at least src.numel() elements and is overwritten. src is only read.
    """
    k = n.bit_length() - 1
    if exact_mm:
        groups = _group_bits(k)
    else:
        groups = [1] * k
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


def _fwht_torch(x: torch.Tensor, pre: int, n: int, post: int) -> torch.Tensor:
    """H_n along the middle axis of contiguous x viewed as (pre, n, post); a new contiguous tensor."""
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    if x.numel() == 0:
        return out
    exact_mm = _matmul_is_exact(x)
    slab = n * post
    xs = x.view(pre, slab)
    os_ = out.view(pre, slab)
    rows = max(1, min(pre, _CHUNK_ELEMS // slab))
    tmp = _scratch(rows * slab, x)
    for r0 in range(0, pre, rows):
        r1 = min(pre, r0 + rows)
        _transform_block(xs[r0:r1], os_[r0:r1], tmp, n, post, exact_mm)
    return out


# Rows per chunk of the fused sandwich below: its two scratch buffers and the chunk of the output stay in
# the L2/L3 caches between the two transforms (measured in benchmarks/bench_rug.py).
_SANDWICH_CHUNK_ELEMS = 1 << 20


def hadamard_sandwich(x: torch.Tensor, v: torch.Tensor, *, out: torch.Tensor | None = None,
                      backend: str = "torch") -> torch.Tensor:
    """H diag(v) H x along the last dimension of contiguous x, fused: no gradient, no tensor of x's size
    allocated besides ``out`` (pass one to reuse it; it may not overlap x).

    backend "torch": each chunk of rows goes x -> scratch A (first transform, through scratch B), is
    scaled by v in place, then -> out (second transform, through scratch B): the intermediate never
    leaves the cache and no fresh memory is touched, which is what the unfused fwht(fwht(x) * v) pays
    for at large sizes. backend "fht_cpu" (CPU float32/float64; the torch path otherwise): x is copied
    into out, which the compiled kernel transforms in place, twice, around the scaling -- in place it is
    about 2.5x faster per transform than the GEMM passes (benchmarks/RESULTS.md). The caller validates
    the backend (see :func:`fwht`).
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
    if backend == "fht_cpu" and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        os_.copy_(xs)
        o = os_.detach().numpy()
        threads = torch.get_num_threads()
        _fht_cpu_module.fht(o, axis=-1, inplace=True, num_threads=threads)
        os_.mul_(v)
        _fht_cpu_module.fht(o, axis=-1, inplace=True, num_threads=threads)
        return out
    exact_mm = _matmul_is_exact(x)
    rows = max(1, min(pre, _SANDWICH_CHUNK_ELEMS // n))
    a = _scratch(rows * n, x, slot=1)
    b = _scratch(rows * n, x, slot=2)
    for r0 in range(0, pre, rows):
        r1 = min(pre, r0 + rows)
        ya = a[: (r1 - r0) * n].view(r1 - r0, n)
        _transform_block(xs[r0:r1], ya, b, n, 1, exact_mm)
        ya.mul_(v)
        _transform_block(ya, os_[r0:r1], b, n, 1, exact_mm)
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


def check_backend(backend) -> str:
    """``backend`` if it is "torch", or "fht_cpu" with that package installed; else ValueError."""
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
    if (backend == "fht_cpu" and post == 1 and x.device.type == "cpu"
            and x.dtype in (torch.float32, torch.float64)):
        return _fwht_fht_cpu(x, pre, n, post)
    return _fwht_torch(x, pre, n, post)


def fwht(x: torch.Tensor, dim: int = -1, *, backend: str = "torch") -> torch.Tensor:
    r"""The unnormalised fast Walsh–Hadamard transform along ``dim``: ``x @ hadamard(n)`` in O(n log n).

    y_i = \sum_j H_ij x_j with H the Sylvester matrix of order n = x.shape[dim], a power of two.
    Works for float32 and float64 tensors on any device, is differentiable (the backward pass is the
    same transform, H being symmetric), and returns a new contiguous tensor of x's shape (x is not
    modified). Applying it twice multiplies by n.

    backend: ``"torch"`` (default; dense Hadamard GEMMs over bit groups, see the module docstring) or
    ``"fht_cpu"``: the optional compiled package of that name, used for CPU float32/float64 tensors
    transformed along their last dimension, and the torch path for anything else. Asking for
    ``"fht_cpu"`` when it is not installed raises ValueError.
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
