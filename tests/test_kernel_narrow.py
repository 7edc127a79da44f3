r"""The narrow step kernel (numerics.kernels.NarrowKernel): its gradients equal the dense kernel's within a
rounding bound stated in advance, ``auto`` picks it exactly where NARROW_WHERE says, and a short run trains
like the dense kernel's. (Its gradients against autograd: tests/test_train.py, for every registered kernel.)

The bound. Both kernels compute the same products, each summing in its own order. For a product C = A B with
contraction length n, computed in any order (blocked, vectorised, with FMA), |fl(C) - C| <= gamma_n |A| |B|
elementwise, gamma_n = n u / (1 - n u), u = eps / 2 (Higham, Accuracy and Stability, sec. 3.5); two such
computations differ by at most twice that. A product that adds a term (the bias, ``alpha``, an accumulation)
is counted with n + 2. The differences then travel down the step, each product passing on its inputs'
differences through |A| and |B| (first order in u), with magnitudes from a float64 evaluation of the same step:

    dh  = 2 g(n_s) |x| |W_in|^T
    dz  = dh |W_out|^T + 2 g(n_d + 2) (|h| |W_out|^T + |b|),   df = dz (ReLU is 1-Lipschitz)
    de  = (1 + u) df + 2 u |e|                      (e = f - x, one rounding in each kernel)
    dG  = M (de + 4 u |e|)                          (the two multiplications by sqrt M)
          and where |z| < dz (the ReLU's mask could differ) dG = M (|f - x| + de + 4 u |f - x|), G = M |f - x|
    dgh = s (dG |W_out| + 2 g(n_s + 2) G |W_out|)                                          s = 2 / (batch n_s)
    dW_in^T  = |x|^T dgh + 2 g(batch + 2) |x|^T (s G |W_out|)
    dW_out   = s (dG^T |h| + G^T dh + 2 g(batch + 2) G^T |h|)           (added to dW_in^T when tied)
    db       = s (1^T dG + 2 g(batch + 2) 1^T G)
    dL       = N^-1 sum (2 sqrt M |e| sqrt M (de + 2 u |e|)) + (2 g(N) + 6 u) L

The test allows 1.01 times this: the neglected second-order terms are below n u (~1e-4) of the first-order ones.
"""

import pytest
import torch

from numerics import ToyModel, TrainConfig, train
from numerics.data import sample_instances
from numerics.kernels import KERNELS, NARROW_WHERE, SPARSE_WHERE, NarrowKernel, choose_kernel

CPU = torch.device("cpu")


def _gamma(n: int, u: float) -> float:
    return n * u / (1 - n * u)


def _bound(model: ToyModel, x: torch.Tensor, M: torch.Tensor | None, u: float) -> dict[str, torch.Tensor]:
    """The module docstring's bound on |narrow - dense| for every gradient and the losses, in float64."""
    d = torch.float64
    K, B, n_s = x.shape
    n_d, s = model.n_d, 2.0 / (B * n_s)
    x = x.to(d)
    W_in, W_out, b = (t.detach().to(d) for t in (model.W_in, model.out_weight(), model.bias()))
    Mv = torch.ones(K, 1, n_s, dtype=d) if M is None else M.to(d)
    ax, aW_in, aW_out = x.abs(), W_in.abs(), W_out.abs()
    h = x @ W_in.transpose(1, 2)
    z = h @ W_out.transpose(1, 2) + b
    relu = model.activation == "relu"
    f = z.clamp_min(0.0) if relu else z
    e = f - x
    dh = 2 * _gamma(n_s, u) * ax @ aW_in.transpose(1, 2)
    dz = dh @ aW_out.transpose(1, 2) + 2 * _gamma(n_d + 2, u) * (h.abs() @ aW_out.transpose(1, 2) + b.abs())
    de = (1 + u) * dz + 2 * u * e.abs()
    G = Mv * e.abs()
    dG = Mv * (de + 4 * u * e.abs())
    if relu:
        flip = z.abs() < dz  # the two kernels' z may lie on either side of 0 here
        G = torch.where(flip, G, G * (f > 0))
        dG = torch.where(flip, G + dG, dG * (f > 0))
    gB = 2 * _gamma(B + 2, u)
    dgh = s * (dG @ aW_out + 2 * _gamma(n_s + 2, u) * G @ aW_out)
    dW_inT = ax.transpose(1, 2) @ dgh + gB * ax.transpose(1, 2) @ (s * G @ aW_out)
    dW_out = s * (dG.transpose(1, 2) @ h.abs() + G.transpose(1, 2) @ dh + gB * G.transpose(1, 2) @ h.abs())
    out = {"b": s * (dG.sum(1, keepdim=True) + gB * G.sum(1, keepdim=True))}
    if model.tied:
        out["W_in"] = (dW_inT + dW_out).transpose(1, 2)
    else:
        out["W_in"], out["W_out"] = dW_inT.transpose(1, 2), dW_out
    N = B * n_s
    L = (Mv * e * e).sum((1, 2)) / N
    out["loss"] = (2 * (Mv * e.abs() * (de + 2 * u * e.abs())).sum((1, 2))) / N + (2 * _gamma(N, u) + 6 * u) * L
    return out


def _one_step(kernel: str, model: ToyModel, x: torch.Tensor, M) -> dict[str, torch.Tensor]:
    step = KERNELS[kernel](model, x.shape[1], M)
    losses = step(x)
    return {"loss": losses.clone(), **{n: p.grad.clone() for n, p in model.named_parameters()}}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("activation, tied, importance", [("relu", False, False), ("relu", True, True),
                                                          ("linear", False, True), ("linear", True, False)])
def test_one_step_equals_the_dense_kernels_within_the_rounding_bound(dtype, activation, tied, importance):
    torch.manual_seed(1)
    K, B, n_s, n_d = 8, 512, 20, 5  # the sizes auto gives it (n_d <= 8), a batch long enough to sum much
    m = ToyModel(n_s, n_d, instances=K, activation=activation, tied=tied).to(dtype)
    with torch.no_grad():
        m.b.uniform_(-0.3, 0.3)  # units on and off, so that the ReLU's mask matters
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))  # away from the transposed start: W_out != W_in^T
    x = sample_instances(torch.empty(K, B, n_s, dtype=dtype), [0.02 * (k + 1) for k in range(K)],
                         [torch.Generator().manual_seed(k) for k in range(K)])
    M = torch.rand(K, 1, n_s, dtype=dtype) + 0.5 if importance else None
    dense, narrow = _one_step("dense", m, x, M), _one_step("narrow", m, x, M)
    bound = _bound(m, x, M, torch.finfo(dtype).eps / 2)
    assert set(bound) == set(dense)
    for name, allowed in bound.items():
        diff = (narrow[name].double() - dense[name].double()).abs()
        assert (diff <= 1.01 * allowed).all(), (name, float((diff / allowed.clamp_min(1e-300)).max()))
    assert not torch.equal(dense["W_in"], narrow["W_in"])  # the orders do differ: the bound is exercised


def test_auto_picks_narrow_exactly_where_the_rule_says():
    def pick(device=CPU, **kw):
        return choose_kernel(TrainConfig(**{**dict(n_s=20, n_d=5, p=0.05, instances=64, batch=1024), **kw}), device)

    assert pick() == "narrow"  # benchmarks/bench_train.py's end-to-end configuration
    for dtype, n_d_max, n_s_max, least in NARROW_WHERE:
        n_s_small = max(n_d_max, 16)
        K = -(-least // (1024 * n_s_small))  # the fewest instances that reach `least` entries at batch 1024
        at = dict(dtype=dtype, n_s=n_s_small, n_d=n_d_max, instances=K, batch=1024, p=0.1)
        assert pick(**at) == "narrow"
        assert pick(**{**at, "n_d": n_d_max + 1, "n_s": max(n_s_small, n_d_max + 1)}) == "dense"
        batch = -(-least // n_s_small)  # one instance: the smallest batch with `least` entries, then one less
        assert pick(**{**at, "instances": 1, "batch": batch}) == "narrow"
        assert pick(**{**at, "instances": 1, "batch": batch - 1}) == "dense"
        assert pick(**{**at, "n_s": n_s_max, "instances": 1, "p": 0.3}) == "narrow"  # p > every sparse rule
        assert pick(**{**at, "n_s": n_s_max + 1, "instances": 1, "p": 0.3}) == "dense"
        assert pick(**{**at, "dtype": "float64" if dtype == "float32" else "float32"}) == "dense"
        assert pick(torch.device("cuda"), **at) == "dense"  # measured on the CPU only
    n, p_max = SPARSE_WHERE[0]
    assert pick(n_s=n, n_d=5, p=p_max, instances=8) == "sparse"  # the sparse rule comes first where it holds
    for n_d, ok in ((1, True), (8, True), (9, False), (16, False)):
        assert (pick(n_s=64, n_d=n_d) == "narrow") == ok and NarrowKernel.preferred(
            TrainConfig(n_s=64, n_d=n_d, instances=64, batch=1024), CPU) == ok
    assert list(KERNELS).index("sparse") < list(KERNELS).index("narrow") < list(KERNELS).index("dense")


def test_a_short_run_ends_at_the_dense_kernels_loss(tmp_path):
    # Tolerance: both runs are evaluated on the same held-out batches (seeded apart from training), so their
    # losses differ only through the weights, which differ by rounding grown over the steps (Adam divides by
    # sqrt(v), so a gradient near 0 turns a 1e-7 difference into a step-sized one now and then). A tenth of
    # the held-out standard error is far below what any comparison in verify resolves (>= 1 se), and far
    # above a rounding-sized difference.
    common = dict(n_s=20, n_d=5, p=[0.03, 0.05, 0.1, 0.2], batch=1024, lr=3e-3, max_steps=1000, window=100,
                  stop_rule=False, checkpoint_every=0, device="cpu")
    runs = {k: train(TrainConfig(kernel=k, **common), tmp_path / k, progress=False) for k in ("dense", "narrow")}
    assert runs["narrow"].metrics["kernel"] == "narrow"
    assert not torch.equal(runs["dense"].model.W_in, runs["narrow"].model.W_in)
    for d, n in zip(runs["dense"].metrics["instance"], runs["narrow"].metrics["instance"]):
        assert abs(n["loss"] - d["loss"]) <= 0.1 * d["loss_se"], (d["p"], n["loss"], d["loss"], d["loss_se"])
        assert n["loss"] < 0.9 * d["p"] * (4 - 3 * d["p"]) / 12  # and it learned: below Var x
