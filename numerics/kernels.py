r"""Training step kernels behind one interface, and the registry that the config, ``auto`` and the CLI read.

A kernel computes one step's losses and gradients of a packed :class:`~numerics.toy.ToyModel` by hand,
into preallocated buffers (no autograd). Why by hand: autograd allocates a fresh (K, batch, n_s) tensor for
every intermediate of every step, and on this kind of CPU fresh memory costs page faults (~2 GB/s); the
elementwise work then rivals the matmuls. Written out, a step is five batched matmuls and a handful of
in-place passes. With N = batch * n_s, z = x W_in^T W_out^T + b, f = act(z), e = f - x and M the importance:

    L_k = N^-1 sum M e^2,  g = dL/dz = 2 N^-1 M e act'(z),
    dL/db = sum_batch g,  dL/dW_out = g^T h,  dL/dh = g W_out,  dL/dW_in^T = x^T dL/dh (+ g^T h tied).

Adding a kernel: subclass :class:`StepKernel` (``name``, ``refuses``, ``preferred``, ``draw``, and the
products with x), then add one line to :data:`KERNELS`. ``TrainConfig(kernel=...)``, ``auto`` and the CLI's
``--kernel`` read the registry. tests/test_train.py checks every registered kernel's gradients against
autograd for every model variant.
"""

from __future__ import annotations

import torch

from .data import _transpose_csr, sample_instances, sample_instances_sparse
from .law import GAPS_MAX_P

__all__ = ["StepKernel", "DenseKernel", "SparseKernel", "SparseOutKernel", "NarrowKernel", "KERNELS", "KERNEL_CHOICES",
           "choose_kernel", "SPARSE_WHERE", "SPARSE_OUT_MAX_ACTIVE", "NARROW_WHERE"]


class StepKernel:
    """One training step's loss and gradients for a packed ToyModel, by hand (the module's equations).

    Subclasses say how they take the batch and compute the two products with x; the rest is shared.
    Class-level hooks: ``refuses(config)`` (why this config cannot use the kernel, or None),
    ``refuses_device(device)`` and ``preferred(config, device)`` (whether ``auto`` picks it).
    """

    name = ""

    def __init__(self, model, batch: int, importance: torch.Tensor | None):
        self.model = model
        K, n_s, n_d = model.instances, model.n_s, model.n_d
        w = model.W_in
        kw = dict(device=w.device, dtype=w.dtype)
        self.h = torch.empty(K, batch, n_d, **kw)
        self.z = torch.empty(K, batch, n_s, **kw)  # pre-activation, then act(z), then e, then dL/dz / scale
        self.gh = torch.empty(K, batch, n_d, **kw)
        self.ones = torch.ones(K, 1, batch, **kw)  # sums over the batch as a matmul (fast, unlike a
        # strided reduction)
        self.sqrt_importance = None if importance is None else importance.sqrt()
        self.scale = 2.0 / (batch * n_s)
        self.n = batch * n_s
        for p in model.parameters():
            p.grad = torch.zeros_like(p)  # the parameter's own layout (W_in is feature-major)

    # ---- what a kernel says about itself ------------------------------------------------------------
    @classmethod
    def refuses(cls, config) -> str | None:
        """Why ``config`` cannot run on this kernel (a sentence), or None."""
        return None

    @classmethod
    def refuses_device(cls, device: torch.device) -> str | None:
        """Why the kernel cannot run on ``device``, or None."""
        return None

    @classmethod
    def preferred(cls, config, device: torch.device) -> bool:
        """Whether ``auto`` picks this kernel for ``config`` on ``device`` (measured rules)."""
        return False

    # ---- what a kernel does -------------------------------------------------------------------------
    def draw(self, out: torch.Tensor | None, ps, generators):
        """A fresh batch in the form this kernel takes (instance k from its own generator with p[k])."""
        raise NotImplementedError

    def buffer(self, shape, device, dtype) -> torch.Tensor | None:
        """The reused batch buffer :meth:`draw` fills (None when it draws a fresh structure)."""
        return None

    def _hidden(self, x, W_inT, h) -> None:  # h = x W_in^T
        raise NotImplementedError

    def _error(self, z, x):  # e = f - x (in place where it can); returns e
        raise NotImplementedError

    def _relu_mask(self, e, z, x) -> None:  # e *= [f > 0]
        raise NotImplementedError

    def _input_grad(self, x, gh, gW_inT) -> None:  # dL/dW_in^T = x^T dL/dh
        raise NotImplementedError

    def __call__(self, x) -> torch.Tensor:
        """Fill the parameters' .grad for the batch x; return the (K,) losses."""
        m = self.model
        K = m.instances
        W_inT, W_out = m.W_in.detach().transpose(1, 2), m.out_weight().detach()  # (K, n_s, n_d) both
        h, gh = self.h, self.gh
        gW_inT = m.W_in.grad.transpose(1, 2)  # (K, n_s, n_d), contiguous
        self._hidden(x, W_inT, h)
        z = self.z
        torch.baddbmm(m.bias().detach(), h, W_out.transpose(1, 2), out=z)
        relu = m.activation == "relu"
        if relu:
            z.clamp_min_(0.0)  # f; f > 0 exactly where the pre-activation is > 0
        e = self._error(z, x)
        if self.sqrt_importance is not None:
            e.mul_(self.sqrt_importance)
        losses = torch.linalg.vector_norm(e.view(K, -1), dim=1).square_().div_(self.n)  # N^-1 sum M e^2
        if self.sqrt_importance is not None:
            e.mul_(self.sqrt_importance)  # M e
        if relu:  # M e [f > 0]
            self._relu_mask(e, z, x)
        if m.has_bias:
            torch.baddbmm(m.b.grad, self.ones, e, beta=0.0, alpha=self.scale, out=m.b.grad)
        self._output_grads(e, h, W_out, gh, gW_inT, x)
        return losses

    def _output_grads(self, e, h, W_out, gh, gW_inT, x) -> None:
        """dL/dh = g W_out, then dL/dW_in^T (x^T dL/dh) and dL/dW_out = g^T h (added to dL/dW_in^T when tied),
        with g = scale e: the three products with the output gradient, dense here."""
        m = self.model
        torch.baddbmm(gh, e, W_out, beta=0.0, alpha=self.scale, out=gh)  # dL/dh
        self._input_grad(x, gh, gW_inT)
        if m.tied:
            gW_inT.baddbmm_(e.transpose(1, 2), h, alpha=self.scale)  # + g^T h
        else:
            torch.baddbmm(m.W_out.grad, e.transpose(1, 2), h, beta=0.0, alpha=self.scale, out=m.W_out.grad)


class DenseKernel(StepKernel):
    """The batch as a dense (K, batch, n_s) tensor: five batched matmuls. Every device, every p."""

    name = "dense"

    def __init__(self, model, batch: int, importance: torch.Tensor | None):
        super().__init__(model, batch, importance)
        w = model.W_in
        self.e = torch.empty(model.instances, batch, model.n_s, device=w.device, dtype=w.dtype)  # f - x, then
        # dL/dz / scale

    @classmethod
    def preferred(cls, config, device) -> bool:
        return True  # the fallback

    def buffer(self, shape, device, dtype):
        return torch.empty(shape, device=device, dtype=dtype)

    def draw(self, out, ps, generators):
        return sample_instances(out, ps, generators)

    def _hidden(self, x, W_inT, h):
        torch.bmm(x, W_inT, out=h)

    def _error(self, z, x):
        torch.sub(z, x, out=self.e)
        return self.e

    def _relu_mask(self, e, z, x):
        torch.ops.aten.threshold_backward.grad_input(e, z, 0.0, grad_input=e)

    def _input_grad(self, x, gh, gW_inT):
        torch.bmm(x.transpose(1, 2), gh, out=gW_inT)


# "auto" picks the sparse kernel from n_s features up to p, for each (n_s, p) here: where it measured
# faster than dense on the 2-core CPU (benchmarks/README.md). At n_s = 512: 1.08-1.18x at p <= 0.05, even
# at 0.075; at 1024: 1.14x at p = 0.075, even at 0.1, slower at 0.15; below 512, slower.
SPARSE_WHERE = ((512, 0.05), (1024, 0.075))


class SparseKernel(StepKernel):
    """The batch kept as its on entries (:class:`~numerics.data.SparseFeatures`, CPU, every p <= 0.25):
    h = x W_in^T and x^T dL/dh run as sparse-dense products over its ~p batch n_s entries, and e = f - x is f
    with the entries of x subtracted where they are. The three other products are dense whatever x is."""

    name = "sparse"

    @classmethod
    def refuses(cls, config) -> str | None:
        if config.device not in ("auto", "cpu"):
            return f"'{cls.name}' runs on the CPU, not on device {config.device!r}"
        if max(config.p_list) > GAPS_MAX_P:
            return f"'{cls.name}' needs every p <= {GAPS_MAX_P}, got {max(config.p_list)!r}"
        return None

    @classmethod
    def refuses_device(cls, device) -> str | None:
        return None if device.type == "cpu" else f"kernel '{cls.name}' runs on the CPU, not on {device}"

    @classmethod
    def preferred(cls, config, device) -> bool:
        p = max(config.p_list)
        return device.type == "cpu" and any(config.n_s >= n and p <= p_max for n, p_max in SPARSE_WHERE)

    def draw(self, out, ps, generators):
        return sample_instances_sparse(self.z.shape, ps, generators, dtype=self.model.W_in.dtype)

    def _hidden(self, x, W_inT, h):
        for k in range(self.model.instances):
            h[k].addmm_(x.rows[k], W_inT[k], beta=0.0)  # into h (torch.mm would zero a fresh one and copy)

    def _error(self, z, x):
        flat = z.view(-1)
        self._f_on = flat.index_select(0, x.positions)
        flat.index_copy_(0, x.positions, self._f_on - x.values)  # e = f - x: x is zero elsewhere
        return z

    def _relu_mask(self, e, z, x):  # off the entries of x, e = f, already 0 where f = 0
        e.view(-1).index_fill_(0, x.positions[self._f_on == 0], 0.0)

    def _input_grad(self, x, gh, gW_inT):
        for k in range(self.model.instances):
            self._input_grad_k(x, gh, gW_inT, k)

    def _input_grad_k(self, x, gh, gW_inT, k) -> None:
        gW_inT[k].addmm_(x.transposed(k), gh[k], beta=0.0)  # x^T dL/dh


#: the sparse-output kernel multiplies by the output gradient as CSR while at most this fraction of an
#: instance's outputs is active, else densely (measured on an AMD EPYC, n_s = 2048, p = 0.05: sparse faster at
#: 14 % active, slower at 24 %; benchmarks/README.md). Near initialisation q is ~30 %, for a trained model ~1 %.
SPARSE_OUT_MAX_ACTIVE = 0.15


class SparseOutKernel(SparseKernel):
    """The sparse kernel, and the output gradient sparse too: after the ReLU only the active outputs (f > 0,
    a few per cent at small p) carry a gradient, so g = M e [f > 0] is kept as CSR per instance and
    dL/dh = g W_out and dL/dW_out = g^T h run as sparse-dense products. Only the forward z = h W_out^T stays
    dense. Per step, with q the active fraction: 2 B n_s n_d (z) + 4 (p + q) B n_s n_d flops, against
    10 B n_s n_d for the dense kernel (the essential count: z must be computed for every output to know which
    are active). Where more than SPARSE_OUT_MAX_ACTIVE of an instance's outputs are active (early in training)
    that instance's three products are dense. ReLU only; CPU, every p <= 0.25 (its batch is the sparse
    kernel's)."""

    name = "sparse_out"

    @classmethod
    def refuses(cls, config) -> str | None:
        if config.activation != "relu":
            return f"'sparse_out' needs the ReLU (its output gradient is sparse only after it), got {config.activation!r}"
        return super().refuses(config)

    @classmethod
    def preferred(cls, config, device) -> bool:
        # not chosen by auto: whole runs from initialisation measured 0.84-0.97x the sparse kernel's speed (the
        # active fraction falls slowly: 15 % after 1000 steps at n_s = 2048, p = 0.05; benchmarks/README.md)
        return False

    def _output_grads(self, e, h, W_out, gh, gW_inT, x) -> None:
        m = self.model
        target = gW_inT if m.tied else m.W_out.grad  # (K, n_s, n_d) both
        for k in range(m.instances):
            if int(torch.count_nonzero(e[k])) > SPARSE_OUT_MAX_ACTIVE * e[k].numel():  # many active: dense
                g, gT = e[k], e[k].T
            else:
                g = e[k].to_sparse_csr()  # the active outputs of instance k, (batch, n_s)
                # g^T as CSR from g's entries alone (a counting sort by column, linear in the entries)
                gT = _transpose_csr(g.crow_indices().numpy(), g.col_indices().numpy(), g.values(), e.shape[1],
                                    e.shape[2])
            gh[k].addmm_(g, W_out[k], beta=0.0, alpha=self.scale)  # dL/dh = g W_out
            if not m.tied:
                target[k].addmm_(gT, h[k], beta=0.0, alpha=self.scale)  # dL/dW_out = g^T h
            self._input_grad_k(x, gh, gW_inT, k)
            if m.tied:
                target[k].addmm_(gT, h[k], alpha=self.scale)  # + g^T h


# "auto" picks the narrow kernel on the CPU for a config of this dtype with n_d <= n_d_max, n_s <= n_s_max and at
# least min_entries entries in its batch (K batch n_s), for each row here: where its training step measured at
# least 1.15x the dense kernel's (benchmarks/bench_narrow.py, benchmarks/README.md; AMD EPYC, 2 threads, torch
# 2.13, 2026-12-01; paired blocks, medians, matmul 100-195 GFLOP/s). float32, batch 1024, K = 64: n_d = 1-8 at
# n_s = 8-32 1.47-1.92x, n_d = 8 at n_s = 64 and 256 1.45x and 1.32x, and (K = 8) at n_s = 512-2048 1.49-1.99x;
# n_d = 10 1.68x, but n_d = 12 even (1.03x), n_d = 16 slower (0.87-0.96x), n_d = 32, 64 too (0.95-0.98x). Fewer
# entries: 2^14.3 (K = 1, n_s = 20, n_d = 5) 1.06-1.16x, 2^15.3 1.20x, 2^16 1.17-1.29x; from 2^17 on 1.32x or
# more. float64: 1.06-1.17x at K = 64, so not picked. Where the sparse kernel's rule holds (n_s >= 512, small p)
# it stays auto's pick (it comes first in KERNELS): narrow measured 1.18x (blocks 0.97-1.47x), 1.53x and 1.33x
# its speed at n_s = 512, 1024, 2048 (n_d = 8, p = 0.05), not clearly faster at 512 and not measured at other p.
NARROW_WHERE = (("float32", 8, 2048, 2 ** 17),)


class NarrowKernel(DenseKernel):
    r"""The dense kernel with h and dL/dh kept transposed, (K, n_d, batch), for a small n_d. The same equations:

        h^T = W_in x^T,  z = h W_out^T + b,  (dL/dh)^T = W_out^T g^T,
        dL/dW_in = (dL/dh)^T x (+ (g^T h)^T tied),  dL/dW_out^T = h^T g,  dL/db = sum_batch g,

    with the products' outputs (n_d, batch) and (n_d, n_s) instead of (batch, n_d) and (n_s, n_d). Why: with
    n_d = 5 as the short side of a row-major output or as the contraction, MKL's batched GEMM (SGEMM_BATCH)
    runs the dense kernel's four products with n_d at 8-12 GFLOP/s on the AMD EPYC (1-1.6 ms each at K = 64,
    n_s = 20, batch 1024); with the batch (or n_s) as the long side of every output, ~50 GFLOP/s (~0.25 ms
    each; benchmarks/README.md). The forward z = h W_out^T reads h^T as a transposed operand, which is as fast.
    The two weight gradients are made in one (K, n_d, n_s) buffer and copied into the parameters' own layouts
    (a few kB). Each product sums in another order than the dense kernel's, so the gradients differ from its by
    rounding (tests/test_kernel_narrow.py states and tests a bound). Every device, float32 and float64; ``auto``
    picks it only on the CPU, where :data:`NARROW_WHERE` says it measured faster."""

    name = "narrow"

    def __init__(self, model, batch: int, importance: torch.Tensor | None):
        super().__init__(model, batch, importance)
        K, n_s, n_d = model.instances, model.n_s, model.n_d
        kw = dict(device=model.W_in.device, dtype=model.W_in.dtype)
        # h and dL/dh stored (K, n_d, batch); the base class reads them through (K, batch, n_d) views
        self.hT, self.ghT = torch.empty(K, n_d, batch, **kw), torch.empty(K, n_d, batch, **kw)
        self.h, self.gh = self.hT.transpose(1, 2), self.ghT.transpose(1, 2)
        self.gW = torch.empty(K, n_d, n_s, **kw)  # a weight gradient in the fast layout, before its copy

    @classmethod
    def preferred(cls, config, device) -> bool:
        entries = config.instances * config.batch * config.n_s
        return device.type == "cpu" and any(config.dtype == dtype and config.n_d <= n_d and config.n_s <= n_s
                                            and entries >= least for dtype, n_d, n_s, least in NARROW_WHERE)

    def _hidden(self, x, W_inT, h):
        torch.bmm(W_inT.transpose(1, 2), x.transpose(1, 2), out=self.hT)  # h^T = W_in x^T

    def _output_grads(self, e, h, W_out, gh, gW_inT, x) -> None:
        m, gW, hT = self.model, self.gW, self.hT
        torch.baddbmm(self.ghT, W_out.transpose(1, 2), e.transpose(1, 2), beta=0.0, alpha=self.scale,
                      out=self.ghT)  # (dL/dh)^T = W_out^T g^T
        torch.bmm(self.ghT, x, out=gW)  # dL/dW_in = (dL/dh)^T x
        if m.tied:
            gW.baddbmm_(hT, e, alpha=self.scale)  # + h^T g
        gW_inT.copy_(gW.transpose(1, 2))  # into W_in's feature-major storage
        if not m.tied:
            torch.baddbmm(gW, hT, e, beta=0.0, alpha=self.scale, out=gW)  # dL/dW_out^T = h^T g
            m.W_out.grad.copy_(gW.transpose(1, 2))


#: the step kernels by name, in the order ``auto`` asks them (the first that is preferred wins)
KERNELS: dict[str, type[StepKernel]] = {"sparse_out": SparseOutKernel, "sparse": SparseKernel, "narrow": NarrowKernel,
                                        "dense": DenseKernel}

#: what TrainConfig.kernel and --kernel accept
KERNEL_CHOICES = ("auto", *KERNELS)


def choose_kernel(config, device: torch.device) -> str:
    """The step kernel a run uses: ``config.kernel``, or for "auto" the first kernel of :data:`KERNELS`
    that runs on ``device`` and is preferred there (sparse or narrow on the CPU where they measured faster, else
    dense)."""
    if config.kernel != "auto":
        why = KERNELS[config.kernel].refuses_device(device)
        if why:
            raise ValueError(f"{why} (device {config.device!r})")
        return config.kernel
    for name, kernel in KERNELS.items():
        if kernel.refuses(config) is None and kernel.refuses_device(device) is None and kernel.preferred(config,
                                                                                                         device):
            return name
    return "dense"
