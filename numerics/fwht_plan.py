r"""The pass structure of the pure-torch Walsh–Hadamard transform: a fixed rule, or measured per CPU.

:func:`numerics.fwht` (``backend="torch"``, or "auto" where the compiled ``fht_cpu`` is not installed)
computes H_n x, n = 2^k, as one GEMM pass per group of bits (numerics/hadamard.py says why). A *plan* is
the bits per pass, lowest first, and the number of elements transformed per chunk of rows:

* the **fixed rule** (:func:`fixed_plan`): ceil(k / 5) passes of balanced sizes, larger first, in chunks
  of 2^22 elements. It was tuned on an Intel Xeon; on an AMD EPYC other plans are up to 1.45x
  faster (benchmarks/RESULTS.md), and which plan wins depends on the CPU, its caches and BLAS.
* a **measured plan** (:func:`measured_plan`): on first use per (CPU model, torch version, threads,
  dtype, n), a short search times the candidate plans (:func:`candidate_plans`: every split of k into
  passes of 1-6 bits, at most one of 1 bit, no more than ceil(k / 6) + 2 passes; then the chunk size
  for the best three), on a 2^22-element array, and keeps the fastest, like FFTW's "wisdom". The search
  takes 1-3 s per size on a 2-core CPU; the result is kept in memory and in a JSON file
  (:func:`wisdom_path`), so each size is searched once per machine.

The plans compute the same transform; only the summation order, hence the rounding, differs: every
output is a sum of n signed inputs, and with D = sum over passes of (m_g - 1) the additions on any
path, |y_computed - y| <= gamma_D ||x||_1 with gamma_D = D u / (1 - D u), u the unit roundoff
(tested). Once a plan is in the wisdom file every process on the machine uses it, but processes that start
before it is there search on their own (and a search during another's load may pick another plan), and
another machine measures its own. For bit-for-bit reproducible transforms across machines and processes,
turn tuning off:
``PERSIAN_RUG_FWHT_TUNE=0`` in the environment, or :func:`set_tuning` (False); the fixed rule is then
used everywhere (it is what every release before the tuner computed).

``python -m numerics fwht-plans`` lists the stored plans, ``--measure 10,14`` measures sizes now and
``--clear`` deletes the file (:func:`stored_plans`, :func:`clear_wisdom`).

Environment: ``PERSIAN_RUG_FWHT_TUNE`` (0/false/off: the fixed rule), ``PERSIAN_RUG_WISDOM`` (the
wisdom file; default ``$XDG_CACHE_HOME/persian-rug/fwht-wisdom.json``, ``~/.cache`` without XDG).
"""

from __future__ import annotations

import datetime
import functools
import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ._validation import check_int

__all__ = ["Plan", "fixed_plan", "candidate_plans", "measured_plan", "set_tuning", "tuning_enabled",
           "wisdom_path", "forget_wisdom", "stored_plans", "clear_wisdom"]

# The fixed rule's largest group: a 32 x 32 dense pass (5 bits); above it the 2m flops per element
# outgrow the saving of a pass on the machine it was tuned on.
FIXED_GROUP_BITS = 5
# The fixed rule's chunk, also the largest chunk searched (the scratch buffer is at most this size).
MAX_CHUNK_ELEMS = 1 << 22
# Candidate passes: 1..6 bits (m = 64 costs 128 flops per element: never faster where measured).
MAX_GROUP_BITS = 6
MAX_CANDIDATES = 48
# n = 2^k up to 2^30 (fwht's largest length that fits a machine)
MAX_K = 30
CHUNKS = (1 << 16, 1 << 18, 1 << 20, 1 << 22)
# Elements per timed call of the search: large enough to leave the L2 cache, small enough to be quick.
SEARCH_ELEMS = 1 << 22


@dataclass(frozen=True)
class Plan:
    """Bits per pass (lowest bits first) and elements per chunk of rows."""

    groups: tuple[int, ...]
    chunk_elems: int


def fixed_plan(k: int) -> Plan:
    """The fixed rule for n = 2^k: ceil(k / 5) passes, sizes as equal as possible, larger ones first."""
    k = check_int(k, "k", low=0, high=MAX_K)
    if k == 0:
        return Plan((), MAX_CHUNK_ELEMS)
    passes = -(-k // FIXED_GROUP_BITS)
    base, extra = divmod(k, passes)
    # larger groups first (lowest bits): the stride-1 GEMM is the most efficient one
    return Plan(tuple([base + 1] * extra + [base] * (passes - extra)), MAX_CHUNK_ELEMS)


def candidate_plans(k: int) -> list[tuple[int, ...]]:
    """The bit groups the search tries for n = 2^k: partitions of k into parts of 1..6 bits, sorted
    largest first (the stride-1 pass takes the largest group), at most one part of 1 bit, and at most
    ceil(k / 6) + 2 parts (the first 48 of them by number of passes); the fixed rule's groups are always
    among them."""
    k = check_int(k, "k", low=0, high=MAX_K)
    if k == 0:
        return [()]
    most = -(-k // MAX_GROUP_BITS) + 2
    out: list[tuple[int, ...]] = []

    def grow(rest: int, top: int, parts: tuple[int, ...]):
        if rest == 0:
            out.append(parts)
            return
        if len(parts) == most:
            return
        for b in range(min(top, rest), 0, -1):
            if b == 1 and 1 in parts:
                continue
            grow(rest - b, b, parts + (b,))

    grow(k, MAX_GROUP_BITS, ())
    out = sorted(out, key=len)[:MAX_CANDIDATES]  # above n ~ 2^20 there are more: fewer passes first
    fixed = fixed_plan(k).groups
    if fixed not in out:
        out.append(fixed)
    return out


# ----------------------------------------------------------------------------- switch and wisdom

_override: bool | None = None
_memory: dict[str, Plan] = {}
_lock = threading.Lock()


def set_tuning(enabled: bool | None) -> None:
    """Turn the measured plans on (True) or off (False: the fixed rule everywhere), or back to the
    environment's choice (None)."""
    global _override
    if enabled is not None and not isinstance(enabled, bool):
        raise ValueError(f"enabled must be True, False or None, got {enabled!r}")
    _override = enabled


def tuning_enabled() -> bool:
    """Whether measured plans are used: :func:`set_tuning`'s choice, else ``PERSIAN_RUG_FWHT_TUNE``
    (default on)."""
    if _override is not None:
        return _override
    return os.environ.get("PERSIAN_RUG_FWHT_TUNE", "1").strip().lower() not in ("0", "false", "off", "no")


def wisdom_path() -> Path:
    """The JSON file of measured plans: ``PERSIAN_RUG_WISDOM``, else the user's cache folder."""
    env = os.environ.get("PERSIAN_RUG_WISDOM")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "persian-rug" / "fwht-wisdom.json"


def forget_wisdom() -> None:
    """Forget the plans held in memory (the file stays; it is read again on the next use)."""
    with _lock:
        _memory.clear()


def stored_plans() -> dict:
    """The wisdom file's entries, {key: {"groups", "chunk_elems", timings, "measured"}} ({} if none)."""
    return _read_wisdom(wisdom_path())


def clear_wisdom() -> bool:
    """Delete the wisdom file and forget the plans in memory, so that every size is measured again (after
    a search taken in a slow phase of a shared machine, say). True if there was a file."""
    forget_wisdom()
    path = wisdom_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _cpu_model() -> str:
    """The CPU's model name (lscpu's), which is what a plan is measured for; read once (every fwht call on
    the pure-torch path looks its plan up by it)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _key(k: int, dtype: torch.dtype) -> str:
    return f"{_cpu_model()} | torch {torch.__version__} | threads {torch.get_num_threads()} | {dtype} | n = 2^{k}"


def _read_wisdom(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):  # absent, unreadable or damaged: measure again
        return {}
    return data if isinstance(data, dict) else {}


def _plan_from(entry) -> Plan | None:
    """A plan read back from the file, or None if the entry is not a valid one."""
    try:
        groups = tuple(int(b) for b in entry["groups"])
        chunk = int(entry["chunk_elems"])
    except (KeyError, TypeError, ValueError):
        return None
    if any(b < 1 or b > MAX_GROUP_BITS for b in groups) or chunk not in CHUNKS:
        return None
    return Plan(groups, chunk)


def _store(path: Path, key: str, plan: Plan, seconds: float, fixed_seconds: float) -> None:
    """Merge one entry into the wisdom file, atomically; a file that cannot be written is skipped (the
    plan is still used from memory)."""
    from .io import atomic_write_text  # noqa: PLC0415 (io imports torch's serialisation; only needed here)

    data = _read_wisdom(path)
    data[key] = {"groups": list(plan.groups), "chunk_elems": plan.chunk_elems,
                 "ms_per_2^22": round(seconds * 1e3, 4), "fixed_rule_ms_per_2^22": round(fixed_seconds * 1e3, 4),
                 "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass


# ----------------------------------------------------------------------------- the search

def _median_time(run: Callable[[], None], reps: int) -> float:
    run()  # warm-up: scratch buffers, small Hadamard matrices, BLAS threads
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def search(k: int, run_plan: Callable[[Plan], None], *, reps: int = 3) -> tuple[Plan, float, float]:
    """Time the candidates for n = 2^k with ``run_plan(plan)`` (one transform of the test array);
    return (the fastest plan, its time, the fixed rule's time).

    Stage 1: every candidate's groups at the fixed chunk; stage 2: the three fastest again, each at every
    chunk size of at least n (timings of one stage are taken in one phase of the machine, so a shared,
    noisy CPU shifts them together).
    """
    fixed = fixed_plan(k)
    n = 1 << k
    first = {g: _median_time(lambda g=g: run_plan(Plan(g, fixed.chunk_elems)), reps) for g in candidate_plans(k)}
    best_groups = sorted(first, key=first.get)[:3]
    second = {}
    for g in best_groups:
        for c in CHUNKS:
            if c >= n or c == MAX_CHUNK_ELEMS:
                second[Plan(g, c)] = _median_time(lambda p=Plan(g, c): run_plan(p), reps)
    fixed_time = _median_time(lambda: run_plan(fixed), reps)
    second[fixed] = fixed_time
    best = min(second, key=second.get)
    return best, second[best], fixed_time


def measured_plan(k: int, dtype: torch.dtype, run_plan: Callable[[Plan], None]) -> Plan:
    """The plan for n = 2^k in dtype on this CPU: from memory, else from the wisdom file, else searched
    now (with ``run_plan``) and stored in both. The fixed rule when tuning is off."""
    k = check_int(k, "k", low=0, high=MAX_K)
    if not tuning_enabled() or k <= 2:  # up to 4 x 4: one pass either way
        return fixed_plan(k)
    key = _key(k, dtype)
    plan = _memory.get(key)
    if plan is not None:
        return plan
    with _lock:
        plan = _memory.get(key)
        if plan is None:
            path = wisdom_path()
            plan = _plan_from(_read_wisdom(path).get(key))
            if plan is None or sum(plan.groups) != k:
                plan, seconds, fixed_seconds = search(k, run_plan)
                _store(path, key, plan, seconds, fixed_seconds)
            _memory[key] = plan
    return plan
