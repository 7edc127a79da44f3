"""The config idiom of every run (training, SAE, rug fit, report profile), and TrainConfig.

:class:`RunConfig` is the base of each run config, a dataclass that

- validates itself on construction (``validate()`` raises a ValueError naming the field and its range);
- round-trips through JSON and TOML (``save``/``load`` by suffix; TOML written with tomli-w, read with
  tomllib): ``from_dict(to_dict())`` is the same config, and unknown fields are refused by name;
- takes overrides (``with_overrides``): the command lines read ``--config FILE`` and apply the flags given
  over it, never silently dropping one.
"""

from __future__ import annotations

import dataclasses
import json
import math
try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # 3.10: the same parser, published as tomli (a dependency there)
    import tomli as tomllib
from dataclasses import asdict, dataclass, field, fields

import tomli_w
from pathlib import Path

from ._validation import is_int, is_real
from .io import atomic_write_text
from .kernels import KERNEL_CHOICES, KERNELS
from .toy import ACTIVATIONS, INITS

__all__ = ["RunConfig", "TrainConfig"]


def _device_name(name: str) -> bool:
    """Whether torch parses ``name`` as a device ("auto" aside); availability is checked when training."""
    if name == "auto":
        return True
    import torch

    try:
        torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        return False
    return True


_DTYPES = ("float32", "float64")


def _bad(name: str, msg: str):
    raise ValueError(f"{name} {msg}")


def _plain(v):
    """Tuples as lists, nested configs as dicts: what JSON and TOML hold."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _drop_none(v):
    """TOML has no null: None values are left out (they take their default on reading)."""
    if isinstance(v, dict):
        return {k: _drop_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_drop_none(x) for x in v]
    return v


class RunConfig:
    """Base of the run configs (each a dataclass): self-validation, JSON/TOML round trip, overrides.

    A subclass writes ``validate()`` (raise ValueError naming the field; return self) and may declare
    ``_nested`` ({field: RunConfig subclass}, built from a table on reading), ``_alternatives`` (pairs of
    fields that say the same thing, e.g. n_d and r: overriding one drops the other) and ``_derived``
    (fields that validate() fills from others when they are None: an override of their sources
    recomputes them unless the file gave them).
    """

    _nested: dict = {}
    _alternatives: tuple = ()
    _derived: dict = {}  # field -> the fields it is derived from

    def __post_init__(self):
        given = {f.name for f in fields(self) if getattr(self, f.name) is not None}
        object.__setattr__(self, "_given", frozenset(given))
        self.validate()

    def validate(self):
        """Check every field (ValueError naming the first bad one); return self."""
        return self

    # ---- dicts and files ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The fields as plain JSON/TOML values (nested configs as tables)."""
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, d: dict):
        """The config from a table; unknown fields and missing required ones are refused by name."""
        if not isinstance(d, dict):
            raise ValueError(f"a {cls.__name__} must be read from a table of fields, got {type(d).__name__}")
        known = {f.name: f for f in fields(cls) if f.init}
        unknown = set(d) - set(known)
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        required = [n for n, f in known.items()
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [n for n in required if n not in d]
        if missing:
            raise ValueError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} required")
        kw = dict(d)
        for name, sub in cls._nested.items():
            if isinstance(kw.get(name), dict):
                kw[name] = sub.from_dict(kw[name])
        return cls(**kw)

    def save(self, path) -> Path:
        """Write as TOML (.toml) or JSON (any other suffix), atomically."""
        path = Path(path)
        d = self.to_dict()
        if path.suffix == ".toml":
            return atomic_write_text(path, tomli_w.dumps(_drop_none(d)))
        return atomic_write_text(path, json.dumps(d, indent=2) + "\n")

    @classmethod
    def load(cls, path):
        """Read a JSON or TOML file (by suffix); ValueError naming the file or the bad field."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"config file {str(path)!r} does not exist")
        try:
            if path.suffix == ".toml":
                with open(path, "rb") as f:
                    d = tomllib.load(f)
            else:
                d = json.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"config file {str(path)!r} is not valid: {exc}") from exc
        except OSError as exc:
            raise ValueError(f"config file {str(path)!r} cannot be read: {exc.strerror or exc}") from exc
        if not isinstance(d, dict):
            raise ValueError(f"config file {str(path)!r} must hold a table of fields, got {type(d).__name__}")
        try:
            return cls.from_dict(d)
        except ValueError as exc:
            raise ValueError(f"config file {str(path)!r}: {exc}") from exc

    # ---- overrides ---------------------------------------------------------------------------------
    def with_overrides(self, **changes):
        """A new config: this one with ``changes`` applied (None values are ignored: a flag not given).
        Fields derived during validation are recomputed from the changed ones unless they were given, and
        changing one of two alternatives (n_d or r) drops the other."""
        changes = {k: v for k, v in changes.items() if v is not None}
        known = {f.name for f in fields(self) if f.init}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        d = self.to_dict()
        given = getattr(self, "_given", frozenset(known))
        for name, sources in self._derived.items():
            if name not in given and name not in changes and set(sources) & set(changes):
                d[name] = None
        for one, other in self._alternatives:
            for a, b in ((one, other), (other, one)):
                if a in changes and b not in changes:
                    d[b] = None
        d.update(changes)
        return type(self).from_dict(d)


@dataclass
class TrainConfig(RunConfig):
    """The configuration of a training run of K toy-model instances (paper sec. 2, appendix G).

    Fields
    ------
    n_s : features. n_d or r : hidden dimension, or the ratio r = n_d / n_s (n_d = round(r n_s)).
    p : probability that a feature is on; one value for all instances or a list with one per instance.
    instances : K (default: len(p) when p is a list, else 1).
    importance : None (all 1), {"kind": "two_group", "alpha": a} (appendix H; a may be a list, one per
        instance), {"kind": "decay", "decay": d} (Toy Models' I_i = d^i) or a list of n_s weights.
    activation : "relu" or "linear". init, tied, bias : see :class:`numerics.ToyModel`.
    batch : samples per step (1024). lr : Adam learning rate (default 3e-3 / sqrt(n_s), the paper's).
    max_steps : hard cap on steps. window : the stopping rule's window (200): stop an instance once
        the mean loss of its last ``window`` batches is no lower than the mean of the ``window``
        before. stop_rule : apply that rule (False: run max_steps). min_steps : apply it only from this
        step on (0: from the start, the paper's rule; on a plateau the rule fires with probability ~1/2 at
        every check, so a model still on its initial plateau can stop before it has learned anything).
    seed : instance k uses seed + k for its initialisation and its data, so instance k of a K-instance
        run equals a one-instance run with seed + k and p[k].
    device : "auto" (CUDA when present, else CPU), "cpu", "cuda" or "cuda:N".
    checkpoint_every : steps between checkpoints (a multiple of window; 0 = never).
    dtype : "float32" or "float64".
    kernel : how a step is computed, a name in :data:`numerics.kernels.KERNELS`: "dense" (five batched
        matmuls with a dense batch), "sparse" (the batch kept as its on entries, CPU only, every p <= 0.25:
        the two products with x run as sparse-dense products), "sparse_out" (sparse, and the output gradient
        too), "narrow" (dense with h and dL/dh transposed, for a small n_d) or "auto" ("sparse" or "narrow" on
        the CPU where they measured faster, see :func:`numerics.kernels.choose_kernel`). The kernels agree to
        rounding.
    eval_batches : held-out batches for the final loss and its standard error.
    """

    n_s: int
    n_d: int | None = None
    r: float | None = None
    p: float | list = 0.05
    instances: int | None = None
    importance: object = None
    activation: str = "relu"
    init: str = "transpose"
    tied: bool = False
    bias: bool = True
    batch: int = 1024
    lr: float | None = None
    max_steps: int = 100_000
    window: int = 200
    stop_rule: bool = True
    min_steps: int = 0
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 1000
    dtype: str = "float32"
    kernel: str = "auto"
    eval_batches: int = 16
    extra: dict = field(default_factory=dict)

    _alternatives = (("n_d", "r"),)
    _derived = {"n_d": ("n_s", "r"), "r": ("n_s", "n_d"), "instances": ("p",)}

    # ---- validation and derived values -------------------------------------------------------
    def validate(self) -> "TrainConfig":
        """Raise ValueError naming the first bad field; fill n_d from r and instances from p."""
        if not is_int(self.n_s) or self.n_s < 1:
            _bad("n_s", f"must be an integer >= 1, got {self.n_s!r}")
        if self.n_d is None and self.r is None:
            _bad("n_d", "or r must be given")
        if self.r is not None:
            if not is_real(self.r) or not (0 < self.r <= 1):
                _bad("r", f"must be in (0, 1], got {self.r!r}")
            n_d = int(round(self.r * self.n_s))
            if n_d < 1:
                _bad("r", f"gives n_d = round(r * n_s) = 0 at n_s = {self.n_s}; use a larger r")
            if self.n_d is not None and self.n_d != n_d:
                _bad("n_d", f"({self.n_d}) contradicts r * n_s = {n_d}")
            self.n_d = n_d
        if not is_int(self.n_d) or not (1 <= self.n_d):
            _bad("n_d", f"must be an integer >= 1, got {self.n_d!r}")
        if self.r is None:
            self.r = self.n_d / self.n_s
        ps = self.p if isinstance(self.p, (list, tuple)) else [self.p]
        if not ps:
            _bad("p", "must not be empty")
        for v in ps:
            if not is_real(v) or not (0 < v <= 1):
                _bad("p", f"must be in (0, 1], got {v!r}")
        if self.instances is None:
            self.instances = len(ps) if isinstance(self.p, (list, tuple)) else 1
        if not is_int(self.instances) or self.instances < 1:
            _bad("instances", f"must be an integer >= 1, got {self.instances!r}")
        if isinstance(self.p, (list, tuple)) and len(ps) not in (1, self.instances):
            _bad("p", f"has {len(ps)} values for {self.instances} instances")
        self._check_importance()
        if self.init not in INITS:
            _bad("init", f"must be one of {INITS}, got {self.init!r}")
        if self.activation not in ACTIVATIONS:
            _bad("activation", f"must be one of {ACTIVATIONS}, got {self.activation!r}")
        for name in ("tied", "bias", "stop_rule"):
            if not isinstance(getattr(self, name), bool):
                _bad(name, f"must be true or false, got {getattr(self, name)!r}")
        for name, low in (("batch", 1), ("max_steps", 1), ("window", 1), ("seed", 0), ("min_steps", 0),
                          ("checkpoint_every", 0), ("eval_batches", 1)):
            v = getattr(self, name)
            if not is_int(v) or v < low:
                _bad(name, f"must be an integer >= {low}, got {v!r}")
        if self.checkpoint_every % self.window:
            _bad("checkpoint_every", f"must be a multiple of window ({self.window}), got {self.checkpoint_every}")
        if self.lr is not None and (not is_real(self.lr) or not (0 < self.lr < math.inf)):
            _bad("lr", f"must be a finite number > 0, got {self.lr!r}")
        if not isinstance(self.device, str) or not _device_name(self.device):
            _bad("device", f"must be 'auto', 'cpu' or an accelerator ('cuda', 'cuda:N', 'mps', ...), got "
                 f"{self.device!r}")
        if self.dtype not in _DTYPES:
            _bad("dtype", f"must be one of {_DTYPES}, got {self.dtype!r}")
        if self.kernel not in KERNEL_CHOICES:
            _bad("kernel", f"must be one of {KERNEL_CHOICES}, got {self.kernel!r}")
        why = KERNELS[self.kernel].refuses(self) if self.kernel != "auto" else None
        if why:
            _bad("kernel", why)
        if not isinstance(self.extra, dict):
            _bad("extra", "must be a table of notes")
        self._normalise()
        return self

    def _normalise(self):
        """numpy scalars as plain Python numbers, so that the config saves as JSON/TOML."""
        for name in ("n_s", "n_d", "instances", "batch", "max_steps", "window", "seed", "min_steps",
                     "checkpoint_every", "eval_batches"):
            setattr(self, name, int(getattr(self, name)))
        self.r = float(self.r)
        self.p = [float(v) for v in self.p] if isinstance(self.p, (list, tuple)) else float(self.p)
        if self.lr is not None:
            self.lr = float(self.lr)
        if isinstance(self.importance, (list, tuple)):
            self.importance = [float(v) for v in self.importance]

    def _check_importance(self):
        imp = self.importance
        if imp is None:
            return
        if isinstance(imp, (list, tuple)):
            if len(imp) != self.n_s or not all(is_real(v) and 0 <= v < math.inf for v in imp):
                _bad("importance", f"as a list must hold n_s = {self.n_s} finite numbers >= 0")
            return
        if not isinstance(imp, dict) or imp.get("kind") not in ("two_group", "decay"):
            _bad("importance", "must be None, a list of n_s weights, {'kind': 'two_group', 'alpha': a} "
                 "or {'kind': 'decay', 'decay': d}")
        if imp["kind"] == "two_group":
            alpha = imp.get("alpha")
            alphas = alpha if isinstance(alpha, (list, tuple)) else [alpha]
            if len(alphas) not in (1, self.instances) or not all(
                is_real(a) and 0 <= a <= 1 for a in alphas
            ):
                _bad("importance", f"alpha must be in [0, 1] (one value or one per instance), got {alpha!r}")
            if self.n_s % 2:
                _bad("importance", f"two_group needs an even n_s, got {self.n_s}")
        else:
            d = imp.get("decay")
            if not is_real(d) or not (0 < d <= 1):
                _bad("importance", f"decay must be in (0, 1], got {d!r}")

    @property
    def learning_rate(self) -> float:
        return float(self.lr) if self.lr is not None else 3e-3 / math.sqrt(self.n_s)

    @property
    def p_list(self) -> list[float]:
        ps = self.p if isinstance(self.p, (list, tuple)) else [self.p]
        return [float(v) for v in (ps * self.instances if len(ps) == 1 else ps)]

    @property
    def seeds(self) -> list[int]:
        return [self.seed + k for k in range(self.instances)]
