r"""The toy model of superposition (paper eq. 1; Toy Models' ReLU output model), K instances at once.

    f(x) = act(W_out W_in x + b),   W_in: (n_d, n_s),  W_out: (n_s, n_d),  b: (n_s,)

with act = ReLU or the identity. ``instances`` independent models live in one module as a leading
dimension K, so that K models (different p, different seeds) train in one batched matmul (torch.bmm);
the loss of the batch is the sum of the K per-instance losses, so each instance's gradient is the one it
would get alone.

Initialisation (documented, reproducible): each instance k draws its parameters from its own CPU
generator seeded with ``seeds[k]``: W_in and W_out Xavier-normal, i.e. i.i.d. N(0, 2 / (n_s + n_d)),
W_in first then W_out; b = 0. With ``init="transpose"`` (the default) W_out then starts as W_in^T, so
that every feature starts with a positive diagonal W_ii ~ 2 n_d / (n_s + n_d); with independent draws
("xavier") W_ii starts near 0 and at large n_s the biases turn negative before the features are learned
(docs/training.md). With ``tied=True`` W_out = W_in^T (only W_in is a parameter). Because
the draws are per instance and on the CPU, instance k starts from the same weights whatever K is and
whatever device the model then moves to.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._validation import check_int

__all__ = ["ToyModel", "ACTIVATIONS", "INITS", "feature_dimensionality"]

ACTIVATIONS = ("relu", "linear")
INITS = ("xavier", "transpose")


class ToyModel(nn.Module):
    """K independent toy models f(x) = act(W_out W_in x + b); see the module docstring.

    Parameters
    ----------
    n_s, n_d : sparse features and hidden dimension (1 <= n_d).
    instances : K, the number of independent models.
    activation : "relu" (the paper's model) or "linear".
    tied : W_out = W_in^T (Toy Models' tied weights) instead of a separate W_out.
    bias : learn b (True) or keep b = 0.
    seeds : one int per instance for the initialisation (default 0, 1, ..., K - 1).
    init : "xavier" (W_in and W_out independent Xavier-normal draws) or "transpose" (W_out starts as
        W_in^T, so W = W_in^T W_in starts positive semi-definite with diagonal ~ 2 n_d / (n_s + n_d);
        the two are trained separately afterwards).

    Shapes: ``W_in`` (K, n_d, n_s), ``W_out`` (K, n_s, n_d), ``b`` (K, 1, n_s); ``forward`` maps
    x of shape (K, batch, n_s) to (K, batch, n_s). ``W_in`` is stored feature-major (``W_in.transpose(1, 2)``
    is contiguous; see ``__init__``), which ``W_in.is_contiguous()`` reports as False.
    """

    def __init__(self, n_s: int, n_d: int, *, instances: int = 1, activation: str = "relu",
                 tied: bool = False, bias: bool = True, seeds=None, init: str = "transpose"):
        super().__init__()
        self.n_s = check_int(n_s, "n_s", low=1)
        self.n_d = check_int(n_d, "n_d", low=1)
        self.instances = check_int(instances, "instances", low=1)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        if init not in INITS:
            raise ValueError(f"init must be one of {INITS}, got {init!r}")
        self.init = init
        self.tied = bool(tied)
        self.has_bias = bool(bias)
        if seeds is None:
            seeds = list(range(self.instances))
        seeds = [check_int(s, "seeds", low=0) for s in seeds]
        if len(seeds) != self.instances:
            raise ValueError(f"seeds must have one entry per instance ({self.instances}), got {len(seeds)}")
        self.seeds = seeds
        std = math.sqrt(2.0 / (self.n_s + self.n_d))
        w_in, w_out = [], []
        for s in seeds:
            g = torch.Generator().manual_seed(s)
            w_in.append(torch.randn(self.n_d, self.n_s, generator=g) * std)
            w_out.append(torch.randn(self.n_s, self.n_d, generator=g) * std)
            if init == "transpose":
                w_out[-1] = w_in[-1].T.clone()
        # (K, n_d, n_s), stored feature-major: W_in[k, :, i], feature i's embedding, is contiguous (so
        # W_in^T is a contiguous (K, n_s, n_d) tensor). The sparse training kernel reads and writes rows of
        # W_in^T; this layout spares it a transposing copy of W_in and of its gradient every step.
        self.W_in = nn.Parameter(torch.stack(w_in).transpose(1, 2).contiguous().transpose(1, 2))
        self.W_out = None if self.tied else nn.Parameter(torch.stack(w_out))  # (K, n_s, n_d)
        b = torch.zeros(self.instances, 1, self.n_s)
        self.b = nn.Parameter(b) if self.has_bias else None
        if not self.has_bias:
            self.register_buffer("b_fixed", b)

    @classmethod
    def from_toy_models(cls, W, b=None) -> "ToyModel":
        """A tied ToyModel from weights in Toy Models' / ARENA's layout: ``W`` of shape (n_d, n_s) or
        (instances, n_d, n_s), the model ReLU(W^T W x + b), ``b`` of shape (n_s,) or (instances, n_s)
        (zeros when None). Torch tensors or numpy arrays; so that models trained elsewhere can be measured
        (numerics.symmetry) and judged (verify) like the ones trained here."""
        W = torch.as_tensor(W)
        if W.ndim == 2:
            W = W[None]
        if W.ndim != 3 or not W.is_floating_point() or W.shape[1] > W.shape[2] or W.shape[1] < 1:
            raise ValueError(f"W must be a float array of shape (n_d, n_s) or (instances, n_d, n_s) with "
                             f"n_d <= n_s, got {tuple(W.shape)}")
        if not bool(torch.isfinite(W).all()):
            raise ValueError("W must be finite")
        K, n_d, n_s = W.shape
        b = torch.zeros(K, n_s, dtype=W.dtype) if b is None else torch.as_tensor(b, dtype=W.dtype)
        if b.ndim == 1:
            b = b[None]
        if tuple(b.shape) != (K, n_s) or not bool(torch.isfinite(b).all()):
            raise ValueError(f"b must be finite with shape ({n_s},) or ({K}, {n_s}), got {tuple(b.shape)}")
        model = cls(n_s, n_d, instances=K, tied=True).to(W.dtype)
        with torch.no_grad():
            model.W_in.copy_(W)
            model.b.copy_(b[:, None, :])
        return model

    def out_weight(self) -> Tensor:
        """W_out, (K, n_s, n_d) (the transpose of W_in when tied)."""
        return self.W_in.transpose(1, 2) if self.tied else self.W_out

    def bias(self) -> Tensor:
        """b, (K, 1, n_s) (zeros when the model has no bias)."""
        return self.b if self.has_bias else self.b_fixed

    def W(self) -> Tensor:
        """The product W = W_out W_in, (K, n_s, n_s)."""
        return torch.bmm(self.out_weight(), self.W_in)

    def forward(self, x: Tensor) -> Tensor:
        """x: (K, batch, n_s) -> act(x W_in^T W_out^T + b): (K, batch, n_s)."""
        h = torch.bmm(x, self.W_in.transpose(1, 2))  # (K, batch, n_d)
        out = torch.baddbmm(self.bias(), h, self.out_weight().transpose(1, 2))  # (K, batch, n_s)
        return torch.relu(out) if self.activation == "relu" else out


def feature_dimensionality(W_in: Tensor) -> Tensor:
    r"""Toy Models' feature dimensionality D_i = ||W_i||^2 / sum_j (\hat W_i . W_j)^2 of each feature.

    W_i is column i of W_in (shape (n_d, n_s), or (K, n_d, n_s) for K instances), the feature's
    embedding; \hat W_i = W_i / ||W_i||. D_i = 1 for a feature with a dimension of its own, 1/2 for an
    antipodal pair, 0 for a feature that is not represented (||W_i|| = 0, returned as 0).
    """
    if not isinstance(W_in, Tensor) or W_in.ndim < 2 or not (W_in.is_floating_point()):
        raise ValueError(f"W_in must be a floating-point tensor of shape (n_d, n_s) or (K, n_d, n_s), got "
                         f"{type(W_in).__name__} {tuple(getattr(W_in, 'shape', ()))}")
    w = W_in.detach().double()
    norms2 = (w * w).sum(-2)  # (..., n_s)
    gram = w.transpose(-1, -2) @ w  # (..., n_s, n_s): W_i . W_j
    safe = torch.where(norms2 > 0, norms2, torch.ones_like(norms2))
    denom = (gram * gram).sum(-1) / safe  # sum_j (W_i.W_j)^2 / ||W_i||^2
    return torch.where(norms2 > 0, norms2 / torch.where(denom > 0, denom, torch.ones_like(denom)),
                       torch.zeros_like(norms2))
