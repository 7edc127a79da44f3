r"""Fitting the Persian Rug model's (a, b): :func:`fit_rug`, its config :class:`RugFitConfig`, and the results
:class:`RugFit` and :class:`RugFits` (the model itself and its held-out loss are in :mod:`numerics.rug_model`,
which re-exports everything here).

**Two ways to find (a, b)** (:func:`fit_rug`):

* ``"train"``: as the paper trains the Hadamard model (appendix G): Adam with learning rate
  0.3 / sqrt(n_s), batches of 512 fresh samples drawn on the device, stopped by the paper's rule (sec. 2:
  stop once the mean loss of the last 200 batches is no lower than the mean of the 200 before) or at
  ``max_steps``; the best of 5 random column sets S (lowest mean loss over the last window) is kept.
* ``"fit"``: deterministic. Draw N samples once, form the n_s N pairs (x_i, y_i) (each coordinate of each
  sample is one pair; all pairs share one law), and minimise the in-sample mean of (x - ReLU(a y + b))^2
  exactly (:class:`numerics.objectives.PairLoss`): after one sort of y the objective and its gradient cost
  O(log(n_s N)) per evaluation, a profile over the ReLU threshold finds the global basin, scipy's L-BFGS-B
  (analytic gradient) and Newton steps on the active quadratic piece polish it.

Both report the loss on fresh held-out samples with its standard error (:func:`numerics.rug_model.heldout_loss`).
Everything is reproducible from one ``seed``; batches are processed in chunks of at most
``chunk_elems`` entries so that peak memory stays bounded at any n_s. A :class:`RugFitConfig` holds the
arguments of one fit (validated, saved as JSON or TOML); :func:`fit_rug_config` runs it again.

One concept, fitting the rug's two parameters (its results, its config, the two methods), so one module
a little over 400 lines.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ._validation import (
    check_int,
    check_positive,
    check_power_of_two,
    check_probability,
    resolve_device,
)
from .config import RunConfig
from .core import WindowRule, make_adam
from .data import sample_features
from .objectives import PairLoss
from .rug import RugOperator, choose_columns
from .rug_model import (
    PersianRugModel,
    _check_chunk,
    _chunk_rows,
    heldout_loss,
    rug_interference,
    sample_pairs,
)

__all__ = ["RugFit", "RugFits", "RugFitConfig", "fit_rug", "fit_rug_config"]

METHODS = ("both", "train", "fit")

#: Default number of pairs n_s * N drawn by the deterministic fit (2^23: the loss is quadratic near its
#: minimum, so the sampling error of (a, b) costs a second-order excess, far below the held-out SE).
FIT_PAIRS = 2**23
#: Default number of pairs n_s * N in the held-out evaluation.
EVAL_PAIRS = 2**22


def _child_seeds(ss: np.random.SeedSequence) -> tuple[int, int]:
    """Two 63-bit integer seeds (columns S, data stream) from a SeedSequence."""
    s = ss.generate_state(2, dtype=np.uint64) >> np.uint64(1)
    return int(s[0]), int(s[1])


def _generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed))


# ----------------------------------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------------------------------


@dataclass
class RugFit:
    """(a, b) of a Persian Rug model found by one method, and its held-out loss.

    Fields
    ------
    method : "fit" (deterministic, :class:`PairLoss`) or "train" (Adam, the paper's recipe).
    n_s, n_d, r, p : the problem; r = n_d / n_s is the realised ratio (n_d = round(r_requested n_s)).
    a, b : the parameters of f(x) = ReLU(a R x + b).
    loss, loss_se : per-feature loss on ``n_eval`` fresh held-out samples, and its standard error
        (std of the per-sample losses / sqrt(n_eval)).
    n_eval : number of held-out samples.
    in_sample_loss : "fit": the minimised objective on its own samples; "train": the mean training loss of
        the last ``window`` batches (fresh samples each, so also an estimate of the loss).
    steps : "train": Adam steps of the kept run; "fit": objective evaluations of the search.
    n_samples : samples used to find (a, b) ("fit": N; "train": steps x batch).
    converged : "train": the stopping rule fired before max_steps; "fit": the search finished.
    nu_mean, sigma : mean and standard deviation of the interference (:func:`rug_interference`).
    b_eff : effective bias b + a nu_mean, the b of the macroscopic theory (eq. 5 with mean-zero nu).
    zero_in_S : whether the all-ones column 0 of H is in S (it sets nu_mean).
    seed : the root seed (int; fresh entropy is recorded here when none was given).
    s_seed : the seed that rebuilds S via ``choose_columns(n_s, n_d, seed=s_seed)`` (None if S was given).
    seconds : wall time of this method (including its held-out evaluation).
    device : where it ran.
    restarts : "train": one dict per restart (s_seed, data_seed, a, b, window_loss, steps, converged).
    S : the column set (numpy int64, n_d entries); left out of :meth:`as_dict` unless asked for.
    """

    method: str
    n_s: int
    n_d: int
    r: float
    p: float
    a: float
    b: float
    loss: float
    loss_se: float
    n_eval: int
    in_sample_loss: float
    steps: int
    n_samples: int
    converged: bool
    nu_mean: float
    sigma: float
    b_eff: float
    zero_in_S: bool
    seed: int
    s_seed: int | None
    seconds: float
    device: str
    restarts: list = field(default_factory=list)
    S: np.ndarray | None = field(default=None, repr=False)

    def as_dict(self, include_S: bool = False) -> dict:
        """A JSON-ready dict of the fields (S as a list only with ``include_S``: 2^18 ints at n_s = 2^20)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "S"}
        d["restarts"] = [dict(rs) for rs in self.restarts]
        if include_S:
            d["S"] = None if self.S is None else [int(v) for v in self.S]
        return d

    def rug(self) -> RugOperator:
        """The RugOperator these parameters belong to."""
        return RugOperator(self.n_s, self.n_d, S=self.S)

    def model(self) -> PersianRugModel:
        """A :class:`PersianRugModel` (CPU, float32) holding this rug and (a, b)."""
        return PersianRugModel(self.n_s, self.n_d, S=self.S, a_init=self.a, b_init=self.b)


@dataclass
class RugFits:
    """The two methods side by side (``method="both"``); both are evaluated on the same held-out x."""

    fit: RugFit
    train: RugFit

    @property
    def gap(self) -> float:
        """train.loss - fit.loss."""
        return self.train.loss - self.fit.loss

    @property
    def gap_se(self) -> float:
        """sqrt(se_fit^2 + se_train^2): conservative, the shared held-out x correlate the two losses."""
        return math.hypot(self.fit.loss_se, self.train.loss_se)

    def as_dict(self, include_S: bool = False) -> dict:
        return {"fit": self.fit.as_dict(include_S), "train": self.train.as_dict(include_S),
                "gap": self.gap, "gap_se": self.gap_se}


# ----------------------------------------------------------------------------------------------------
# the two methods
# ----------------------------------------------------------------------------------------------------


def _train_once(rug: RugOperator, p: float, data_seed: int, *, batch: int, lr: float, max_steps: int,
                window: int, dev: torch.device, rows: int, pbar_desc: str, progress: bool):
    """One Adam run of the paper's recipe; returns (model, steps, window_loss, converged)."""
    model = PersianRugModel(rug.n_s, rug.n_d, S=rug.S).to(dev)
    model.rug = rug  # share the operator (and its cached masks)
    gen = _generator(dev, data_seed)
    opt = make_adam(model.parameters(), lr, fused=False)  # torch's default Adam: the recipe's results as they were
    n_s = rug.n_s
    rows = min(rows, batch)
    buf = torch.empty(rows, n_s, device=dev, dtype=torch.float32)
    rule = WindowRule(1, window, device=dev)
    scale = 1.0 / (batch * n_s)
    steps, converged, window_loss = 0, False, float("nan")
    bar = tqdm(total=max_steps, desc=pbar_desc, disable=not progress, leave=False)
    for step in range(max_steps):
        opt.zero_grad(set_to_none=False)
        step_loss = torch.zeros((), device=dev, dtype=torch.float64)
        for i0 in range(0, batch, rows):
            m = min(rows, batch - i0)
            xb = sample_features(m, n_s, p, generator=gen, out=buf[:m])
            loss = F.mse_loss(model(xb), xb, reduction="sum") * scale
            loss.backward()
            step_loss += loss.detach()
        opt.step()
        rule.record(step_loss)
        steps = step + 1
        if rule.window_done:  # the only host synchronisation: once per window
            (last,), stop, _ = rule.close([0])
            window_loss = last
            bar.update(window)
            bar.set_postfix(loss=f"{last:.6g}", a=f"{model.a.item():.4g}", b=f"{model.b.item():.4g}")
            if stop:  # the paper's rule (or a non-finite window: the fit is not converged then)
                converged = math.isfinite(last)
                break
    bar.close()
    if steps < window:  # fewer than one window of steps (max_steps < window)
        window_loss = float(rule.losses[:steps, 0].mean())
    return model, steps, window_loss, converged


def _make_fit(method, rug, p, a, b, *, in_sample, steps, n_samples, converged, seed, s_seed, seconds, dev,
              n_eval, eval_seed, chunk_elems, restarts=()):
    t0 = time.perf_counter()
    loss, se = heldout_loss(rug, a, b, p, n_eval, generator=_generator(dev, eval_seed), device=dev,
                            chunk_elems=chunk_elems)
    seconds += time.perf_counter() - t0
    S = rug.S.numpy().copy()
    zero_in = bool(S.size and S[0] == 0)
    mu, sigma = rug_interference(rug.n_s, rug.n_d, p, zero_in)
    return RugFit(method=method, n_s=rug.n_s, n_d=rug.n_d, r=rug.n_d / rug.n_s, p=p, a=float(a), b=float(b),
                  loss=loss, loss_se=se, n_eval=n_eval, in_sample_loss=float(in_sample), steps=int(steps),
                  n_samples=int(n_samples), converged=bool(converged), nu_mean=mu, sigma=sigma,
                  b_eff=float(b) + float(a) * mu, zero_in_S=zero_in, seed=seed, s_seed=s_seed,
                  seconds=seconds, device=str(dev), restarts=list(restarts), S=S)


# ----------------------------------------------------------------------------------------------------
# the config and the entry points
# ----------------------------------------------------------------------------------------------------


@dataclass
class RugFitConfig(RunConfig):
    """The arguments of one :func:`fit_rug` run (all but ``progress``): validated, saved, run again.

    Fields (as for :func:`fit_rug`, whose defaults they take)
    ------
    n_s : features, a power of two. r : compression ratio in (0, 1] (n_d = round(r n_s) >= 1). p : feature
        probability in (0, 1].
    method : "fit", "train" or "both". seed : root seed (int >= 0; None: fresh entropy, recorded in the
        result, whose ``seed`` reruns it). S : a fixed column set (a list of n_d ints), or None (a random S
        per run, from the seed).
    n_samples, n_eval : samples of the fit and of the held-out loss (None: fit_rug's defaults, from n_s).
    n_restarts, batch, lr, max_steps, window : the training recipe (lr None: 0.3 / sqrt(n_s)).
    device : "auto", "cpu", "cuda", "cuda:N", ... (checked to parse here; whether this machine has it is
        checked when the fit runs, so a config saved on one machine loads on another).
    chunk_elems : entries per chunk on hot paths (None: 2^22 on the CPU, 2^25 on CUDA).

    ``validate()`` raises a ValueError naming the first bad field and its range (fit_rug's messages) and
    normalises: plain Python numbers, S as a sorted list of ints, a torch.device as its name. JSON holds any
    seed; TOML only those below 2^63 (a seed drawn from fresh entropy is larger: save such a config as JSON).
    Run it with :func:`fit_rug_config`.
    """

    n_s: int
    r: float
    p: float
    method: str = "both"
    seed: int | None = None
    S: list | None = None
    n_samples: int | None = None
    n_eval: int | None = None
    n_restarts: int = 5
    batch: int = 512
    lr: float | None = None
    max_steps: int = 20_000
    window: int = 200
    device: str = "auto"
    chunk_elems: int | None = None

    def validate(self) -> "RugFitConfig":
        """Check every field in fit_rug's order (ValueError naming the first bad one); return self."""
        self.n_s = check_power_of_two(self.n_s, "n_s")
        r = self.r
        try:
            r_val = float(r)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"r must be a number in (0, 1], got {r!r}") from exc
        if isinstance(r, bool) or not (0.0 < r_val <= 1.0):
            raise ValueError(f"r must be in (0, 1], got {r!r}")
        n_d = int(round(r_val * self.n_s))
        if n_d < 1:
            raise ValueError(f"r = {r_val} gives n_d = round(r n_s) = 0 at n_s = {self.n_s}; r must be >= "
                             f"{0.5 / self.n_s:.3g}")
        self.r = r_val
        self.p = check_probability(self.p, "p")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.seed is not None:
            self.seed = check_int(self.seed, "seed", low=0)
        if self.S is not None:
            self.S = choose_columns(self.n_s, n_d, self.S).tolist()
        if self.n_samples is not None:
            self.n_samples = check_int(self.n_samples, "n_samples", low=1)
        if self.n_eval is not None:
            self.n_eval = check_int(self.n_eval, "n_eval", low=2)
        self.n_restarts = check_int(self.n_restarts, "n_restarts", low=1)
        self.batch = check_int(self.batch, "batch", low=1)
        if self.lr is not None:
            self.lr = check_positive(self.lr, "lr")
        self.max_steps = check_int(self.max_steps, "max_steps", low=1)
        self.window = check_int(self.window, "window", low=1)
        self.device = _device_name(self.device)
        self.chunk_elems = _check_chunk(self.chunk_elems)
        return self

    @property
    def n_d(self) -> int:
        """The hidden dimension, round(r n_s)."""
        return int(round(self.r * self.n_s))


def _device_name(device) -> str:
    """``device`` as a name torch parses ("auto" and other strings kept, a torch.device or an accelerator
    index as its name); the message is resolve_device's."""
    if isinstance(device, str) and device == "auto":
        return device
    try:
        parsed = torch.device(device)
    except (TypeError, RuntimeError, ValueError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', an accelerator ('cuda', 'mps', ...) or a torch.device, "
                         f"got {device!r}") from exc
    return device if isinstance(device, str) else str(parsed)


def fit_rug(n_s: int, r: float, p: float, *, method: str = "both", seed: int | None = None, S=None,
            n_samples: int | None = None, n_eval: int | None = None, n_restarts: int = 5, batch: int = 512,
            lr: float | None = None, max_steps: int = 20_000, window: int = 200, device="auto",
            chunk_elems: int | None = None, progress: bool = True):
    """Find (a, b) of the Persian Rug model at (n_s, r, p) by training, by a deterministic fit, or both.

    Parameters
    ----------
    n_s : number of features, a power of two (up to 2^20 and beyond; memory is bounded by chunking).
    r : compression ratio in (0, 1]; n_d = round(r n_s) must be >= 1.
    p : feature probability in (0, 1].
    method : "fit", "train" or "both" (returns :class:`RugFits`; otherwise a :class:`RugFit`).
    seed : root seed (int >= 0); None draws fresh entropy (recorded in the result). Every random stream
        (columns S, training and fitting samples, held-out samples) is derived from it by
        ``numpy.random.SeedSequence``; torch generators live on the device, so CPU and CUDA runs of one seed
        differ (each is reproducible on its own device).
    S : a fixed column set for every run (default: a random S per run, from the seed).
    n_samples : "fit": samples N drawn for the fit (default ceil(2^23 / n_s), at least 4).
    n_eval : held-out samples (default ceil(2^22 / n_s), at least 32).
    n_restarts, batch, lr, max_steps, window : "train": the paper's recipe (appendix G): the best of
        ``n_restarts`` runs (own S and data each), Adam with lr = 0.3 / sqrt(n_s) by default, batches of
        ``batch`` fresh samples, stop once the mean loss of the last ``window`` batches is no lower than the
        mean of the ``window`` before (checked every ``window`` steps), or after ``max_steps``.
    device : "auto" (CUDA when available, else CPU), "cpu", "cuda", ...
    chunk_elems : entries per chunk (rows x n_s) on hot paths (default 2^22 on CPU, 2^25 on CUDA).
    progress : show progress bars (the toolkit's one name for the switch: train, sweep and the CLIs use it).

    The arguments but ``progress`` make a :class:`RugFitConfig` (which checks them); this is
    ``fit_rug_config(RugFitConfig(n_s, r, p, ...), progress)``.
    """
    config = RugFitConfig(n_s=n_s, r=r, p=p, method=method, seed=seed, S=S, n_samples=n_samples, n_eval=n_eval,
                          n_restarts=n_restarts, batch=batch, lr=lr, max_steps=max_steps, window=window,
                          device=device, chunk_elems=chunk_elems)
    return fit_rug_config(config, progress=progress)


def fit_rug_config(config: RugFitConfig, progress: bool = True):
    """Run the fit a :class:`RugFitConfig` describes (e.g. one read back with ``RugFitConfig.load``): the
    same result as :func:`fit_rug` with its fields as arguments. The config is validated again (it may have
    been changed since it was made); ValueError if its device is not on this machine."""
    if not isinstance(config, RugFitConfig):
        raise ValueError(f"config must be a RugFitConfig, got {type(config).__name__}")
    c = config.validate()
    n_s, n_d, p, method, seed = c.n_s, c.n_d, c.p, c.method, c.seed
    S = None if c.S is None else choose_columns(n_s, n_d, c.S)
    n_samples = c.n_samples if c.n_samples is not None else max(4, -(-FIT_PAIRS // n_s))
    n_eval = c.n_eval if c.n_eval is not None else max(32, -(-EVAL_PAIRS // n_s))
    n_restarts, batch, max_steps, window = c.n_restarts, c.batch, c.max_steps, c.window
    lr = 0.3 / math.sqrt(n_s) if c.lr is None else c.lr
    dev = resolve_device(c.device)
    chunk_elems = c.chunk_elems
    progress = bool(progress)

    root = np.random.SeedSequence(seed)
    seed = int(root.entropy)
    fit_ss, eval_ss, *train_ss = root.spawn(2 + n_restarts)
    eval_seed = _child_seeds(eval_ss)[1]
    rows = _chunk_rows(n_s, chunk_elems, dev)
    out = {}

    if method in ("fit", "both"):
        t0 = time.perf_counter()
        s_seed, data_seed = _child_seeds(fit_ss)
        rug = RugOperator(n_s, n_d, S=S, seed=None if S is not None else s_seed)
        x, y = sample_pairs(rug, p, n_samples, generator=_generator(dev, data_seed), device=dev,
                            chunk_elems=chunk_elems, progress=progress)
        obj = PairLoss(x, y)
        del x, y
        a, b, in_sample, n_fev = obj.minimize()
        del obj
        out["fit"] = _make_fit("fit", rug, p, a, b, in_sample=in_sample, steps=n_fev, n_samples=n_samples,
                               converged=True, seed=seed, s_seed=None if S is not None else s_seed,
                               seconds=time.perf_counter() - t0, dev=dev, n_eval=n_eval, eval_seed=eval_seed,
                               chunk_elems=chunk_elems)

    if method in ("train", "both"):
        t0 = time.perf_counter()
        runs = []
        best = None
        for k, ss in enumerate(train_ss):
            s_seed, data_seed = _child_seeds(ss)
            rug = RugOperator(n_s, n_d, S=S, seed=None if S is not None else s_seed)
            model, steps, wl, conv = _train_once(rug, p, data_seed, batch=batch, lr=lr, max_steps=max_steps,
                                                 window=window, dev=dev, rows=rows,
                                                 pbar_desc=f"train {k + 1}/{n_restarts}", progress=progress)
            info = {"s_seed": None if S is not None else s_seed, "data_seed": data_seed,
                    "a": float(model.a.item()), "b": float(model.b.item()), "window_loss": wl,
                    "steps": steps, "converged": conv}
            runs.append(info)
            if best is None or wl < best[0]["window_loss"]:
                best = (info, rug)
        info, rug = best
        out["train"] = _make_fit("train", rug, p, info["a"], info["b"], in_sample=info["window_loss"],
                                 steps=info["steps"], n_samples=info["steps"] * batch,
                                 converged=info["converged"], seed=seed, s_seed=info["s_seed"],
                                 seconds=time.perf_counter() - t0, dev=dev, n_eval=n_eval,
                                 eval_seed=eval_seed, chunk_elems=chunk_elems, restarts=runs)

    if method == "both":
        return RugFits(fit=out["fit"], train=out["train"])
    return out[method]
