r"""The training core that toy-model training, the rug model's recipe and SAE training share: the optimiser,
the paper's stopping rule and held-out evaluation (mean ± standard error).

- :func:`make_adam`: torch's Adam, fused (one kernel for every parameter) where the build supports it.
- :class:`WindowRule`: the paper's stopping rule (sec. 2) for K instances at once. Losses are recorded step
  by step on the device; at the end of each window of ``window`` steps the window means are read (the only
  host synchronisation), and an instance stops once its window mean is no lower than the window before.
  A non-finite window mean stops the instance as diverged.
- :class:`MeanSE`: the mean of per-sample losses and its standard error, accumulated batch by batch in
  float64 by Chan's pairwise update (numerically stable: no E[l^2] - E[l]^2 cancellation).
"""

from __future__ import annotations

import math

import torch

from ._validation import check_int

__all__ = ["make_adam", "WindowRule", "MeanSE"]


def make_adam(params, lr: float, *, fused: bool = True) -> torch.optim.Optimizer:
    """torch's Adam at learning rate ``lr``; fused where this torch build supports it (``fused=False``:
    torch's default implementation, which the rug model's recipe keeps so that its results stay as they
    were)."""
    params = list(params)
    if fused:
        try:
            return torch.optim.Adam(params, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):
            pass
    return torch.optim.Adam(params, lr=lr)


class WindowRule:
    """The paper's stopping rule for ``instances`` models trained together.

    ``record(losses)`` after every step (a (K,) tensor on the device, or a scalar for one instance);
    ``window_done`` says whether that step closed a window; ``close()`` then returns the window means
    (a list of K floats, also appended to ``curve``) and updates ``stopped`` / ``diverged``.
    The rule applies from ``min_steps`` on and needs two windows; ``enabled=False`` only records the
    curve (and still stops a diverged instance). ``curve`` and the step count are what a checkpoint keeps
    (``state()`` / ``load_state()``).
    """

    def __init__(self, instances: int, window: int, *, device=None, min_steps: int = 0, enabled: bool = True):
        self.instances = check_int(instances, "instances", low=1)
        self.window = check_int(window, "window", low=1)
        self.min_steps = check_int(min_steps, "min_steps", low=0)
        self.enabled = bool(enabled)
        self.losses = torch.zeros(self.window, self.instances, device=device, dtype=torch.float64)
        self.step = 0
        self.curve: list[list[float]] = []

    def record(self, losses) -> None:
        self.losses[self.step % self.window] = losses
        self.step += 1

    @property
    def window_done(self) -> bool:
        return self.step % self.window == 0

    def close(self, active) -> tuple[list[float], list[int], list[int]]:
        """At the end of a window: (means, stop, diverged), the instances among ``active`` (indices that
        are still training) that the rule stops now and those among them that diverged."""
        means = self.losses.mean(0).tolist()
        self.curve.append(means)
        diverged = [k for k in active if not math.isfinite(means[k])]
        stop = list(diverged)
        if self.enabled and len(self.curve) >= 2 and self.step >= self.min_steps:
            stop += [k for k in active if k not in diverged and self.curve[-1][k] >= self.curve[-2][k]]
        return means, sorted(stop), diverged


class MeanSE:
    """Mean and standard error of per-sample losses of K instances, accumulated batch by batch.

    ``add(per_sample)`` takes a (K, n) or (n,) tensor of per-sample losses; ``result()`` returns (mean, se)
    as lists of K floats (or floats for (n,) input), with the sample standard deviation (ddof 1) over all
    samples: se = std / sqrt(N). Batches merge by Chan et al.'s update of (count, mean, M2) in float64.
    """

    def __init__(self):
        self.n = 0
        self.mean = None
        self.m2 = None
        self.vector = True

    def add(self, per_sample: torch.Tensor) -> None:
        if not isinstance(per_sample, torch.Tensor) or per_sample.dim() not in (1, 2) or per_sample.is_complex():
            raise ValueError("per_sample must be a real (K, n) or (n,) tensor of per-sample losses, got "
                             f"{getattr(per_sample, 'shape', type(per_sample).__name__)}")
        x = per_sample.detach().double()
        x = x if x.dim() == 2 else x[None]
        if self.n and (self.vector != (per_sample.dim() == 2) or x.shape[0] != self.mean.shape[0]):
            raise ValueError("per_sample must keep the shape of the first batch (the same instances)")
        n_b = x.shape[-1]
        if n_b == 0:
            return
        mean_b = x.mean(-1)
        m2_b = (x - mean_b[:, None]).square().sum(-1)
        if self.n == 0:
            self.n, self.mean, self.m2, self.vector = n_b, mean_b, m2_b, per_sample.dim() == 2
            return
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta.square() * (self.n * n_b / n)
        self.n = n

    def result(self):
        if self.n < 2:
            raise ValueError(f"MeanSE needs at least 2 samples for a standard error, got {self.n}")
        se = (self.m2 / (self.n - 1) / self.n).sqrt()
        mean, se = self.mean.tolist(), se.tolist()
        return (mean, se) if self.vector else (mean[0], se[0])
