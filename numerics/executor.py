"""Running independent jobs (training runs, report stage units) here or on a SLURM cluster.

One concept in one module (hence its length): jobs, the two executors and their command-line flags.

A :class:`Job` is one independent, resumable unit of work with a key and a ``done()`` test read from its
output files; :class:`TrainJob` is one training run (``numerics.train`` into its folder, resuming from its
checkpoint). An executor runs the jobs that are not done and waits for them:

- :class:`LocalExecutor` (the default): in this process, one after another, or in a pool of ``workers``
  processes. Nothing to install, nothing to start.
- :class:`SlurmExecutor`: one SLURM job array through submitit (an optional extra:
  ``pip install -e '.[slurm]'``), with the options of :class:`SlurmOptions`.

Both are idempotent: a job whose output is complete is never run again, so rerunning a command redoes
nothing that finished. The SLURM executor records what it submitted (``<folder>/jobs.json``, written
atomically); a rerun waits for jobs still queued or running instead of submitting them twice, and
resubmits only the ones that failed or vanished (cancelled, killed). A job preempted or timed out is
requeued by submitit (``Job.checkpoint``) and resumes from its checkpoint; if the submitting process dies,
the jobs carry on and the next run collects them. A failed job is reported with its log path and the others
carry on; the failures are raised together at the end (:class:`JobsFailed`, a ValueError).

Waiting has a timeout and shows how many jobs are pending, running, done and failed. States are read from
the jobs' files and ``squeue`` (no accounting database needed).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from ._validation import check_int
from .config import RunConfig
from .io import read_json, write_json

__all__ = ["Job", "TrainJob", "JobsFailed", "LocalExecutor", "SlurmExecutor", "SlurmOptions", "make_executor",
           "EXECUTORS", "add_executor_flags", "executor_from_args"]

#: the executors by the name --executor takes
EXECUTORS = ("local", "slurm")


class JobsFailed(ValueError):
    """Some jobs failed; ``failures`` maps each job's key to its error (and log path, on SLURM)."""

    def __init__(self, failures: dict):
        self.failures = dict(failures)
        lines = "; ".join(f"{k}: {v}" for k, v in self.failures.items())
        super().__init__(f"{len(self.failures)} job(s) failed (the others finished): {lines}")


class Job:
    """One independent unit of work: ``key`` names it, ``done()`` says whether its output is complete,
    calling it does (or resumes) the work. Picklable (it travels to worker processes and SLURM nodes)."""

    key: str = ""

    def done(self) -> bool:
        raise NotImplementedError

    def __call__(self):
        raise NotImplementedError

    def checkpoint(self, *args, **kwargs):
        """submitit calls this on preemption or timeout: requeue the same job, which resumes from its own
        checkpoint files."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


@dataclass
class TrainJob(Job):
    """Training one run (:func:`numerics.train`) into ``out``; resumes from its checkpoint when rerun."""

    config: object
    out: str
    key: str = ""

    def __post_init__(self):
        from .config import TrainConfig

        if not isinstance(self.config, TrainConfig):
            raise ValueError(f"config must be a TrainConfig, got {type(self.config).__name__}")
        self.out = str(self.out)
        self.key = self.key or Path(self.out).name

    def done(self) -> bool:
        out = Path(self.out)
        return (out / "summary.json").is_file() and (out / "weights.safetensors").is_file()

    def run(self, progress: bool = False):
        """Train, or resume the run in ``out`` (or load it when finished); the :class:`~numerics.train.Run`."""
        from .train import train

        out = Path(self.out)
        return train(self.config, out, resume=(out / "config.json").exists(), progress=progress)

    def __call__(self) -> str:
        self.run()
        return self.out


def _outputs(jobs) -> list:
    """What ``run`` returns: each job's output folder (None for a job without one)."""
    return [getattr(j, "out", None) for j in jobs]


# ------------------------------------------------------------------------------------------------ local
class LocalExecutor:
    """Run the jobs here: one after another (``workers=0``, the default) or in a pool of ``workers``
    processes (spawned, so that each has its own torch)."""

    name = "local"

    def __init__(self, workers: int = 0):
        self.workers = check_int(workers, "workers", low=0, high=1024)

    def run(self, jobs, *, progress: bool = True, desc: str = "jobs") -> list:
        jobs = list(jobs)
        _check_keys(jobs)
        todo = [j for j in jobs if not j.done()]
        failures = {}
        bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=desc, unit="job", disable=not progress)
        if self.workers == 0:
            for job in todo:
                try:
                    job()
                except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the others
                    failures[job.key] = f"{type(exc).__name__}: {exc}"
                bar.update(1)
        else:
            ctx = multiprocessing.get_context("spawn")
            with cf.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx) as pool:
                futures = {pool.submit(job): job for job in todo}
                for fut in cf.as_completed(futures):
                    exc = fut.exception()
                    if exc is not None:
                        failures[futures[fut].key] = f"{type(exc).__name__}: {exc}"
                    bar.update(1)
        bar.close()
        if failures:
            raise JobsFailed(failures)
        return _outputs(jobs)


# ------------------------------------------------------------------------------------------------ SLURM
@dataclass
class SlurmOptions(RunConfig):
    """Where and how the jobs run on SLURM (a run config: TOML/JSON, flags override it).

    partition : the partition (None: the cluster's default). time_min : the time limit of each job, minutes.
    gpus_per_job, cpus_per_job, mem_gb : resources per job (mem_gb None: the partition's default).
    array_parallelism : how many jobs of the array run at once. sbatch : extra sbatch options as a table
    (``{"account": "lab", "qos": "high"}``; submitit's ``slurm_additional_parameters``). timeout_s : how
    long to wait for the jobs before giving up (they go on running; rerun to collect them). poll_s : seconds
    between state checks. folder : where submitit keeps its files and the logs (default: ``<out>/slurm``).
    """

    partition: str | None = None
    time_min: int = 60
    gpus_per_job: int = 0
    cpus_per_job: int = 1
    mem_gb: float | None = None
    array_parallelism: int = 64
    sbatch: dict = field(default_factory=dict)
    timeout_s: float = 86_400.0
    poll_s: float = 5.0
    folder: str | None = None

    def validate(self) -> "SlurmOptions":
        if self.partition is not None and (not isinstance(self.partition, str) or not self.partition):
            raise ValueError(f"partition must be a non-empty string, got {self.partition!r}")
        self.time_min = check_int(self.time_min, "time_min", low=1)
        self.gpus_per_job = check_int(self.gpus_per_job, "gpus_per_job", low=0, high=64)
        self.cpus_per_job = check_int(self.cpus_per_job, "cpus_per_job", low=1, high=1024)
        self.array_parallelism = check_int(self.array_parallelism, "array_parallelism", low=1)
        for name in ("mem_gb", "timeout_s", "poll_s"):
            v = getattr(self, name)
            if v is None and name == "mem_gb":
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf"):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        if not isinstance(self.sbatch, dict) or not all(isinstance(k, str) for k in self.sbatch):
            raise ValueError(f"sbatch must be a table of sbatch options, got {self.sbatch!r}")
        if self.folder is not None and not isinstance(self.folder, str):
            raise ValueError(f"folder must be a path, got {self.folder!r}")
        return self


def _squeue_ids() -> dict[str, str] | None:
    """The jobs SLURM still holds, id -> state (PENDING, RUNNING, REQUEUED, ...), array tasks one by one as
    ``<array>_<task>``; None when squeue cannot be asked."""
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode:
        return None
    ids = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if parts:
            ids[parts[0]] = parts[1] if len(parts) > 1 else "?"
    return ids


class SlurmExecutor:
    """Run the jobs as one SLURM job array through submitit (see the module docstring)."""

    name = "slurm"

    def __init__(self, options: SlurmOptions | None = None, folder=None):
        self.options = options if options is not None else SlurmOptions()
        if not isinstance(self.options, SlurmOptions):
            raise ValueError(f"options must be a SlurmOptions, got {type(self.options).__name__}")
        try:
            import submitit  # noqa: F401  (only to say clearly that it is missing)
        except ImportError as exc:
            raise ValueError("the slurm executor needs submitit: pip install -e '.[slurm]'") from exc
        if shutil.which("sbatch") is None:
            raise ValueError("the slurm executor needs SLURM's sbatch on PATH (this machine has none); use "
                             "--executor local")
        self.folder = Path(self.options.folder or folder or "slurm")

    def _executor(self):
        import submitit

        ex = submitit.AutoExecutor(folder=self.folder / "%j", cluster="slurm")
        o = self.options
        params = {"timeout_min": o.time_min, "cpus_per_task": o.cpus_per_job, "slurm_array_parallelism":
                  o.array_parallelism, "name": "persian-rug", "slurm_additional_parameters": dict(o.sbatch)}
        if o.gpus_per_job:
            params["gpus_per_node"] = o.gpus_per_job
        if o.partition:
            params["slurm_partition"] = o.partition
        if o.mem_gb:
            params["mem_gb"] = o.mem_gb
        ex.update_parameters(**params)
        return ex

    def _state_file(self) -> Path:
        return self.folder / "jobs.json"

    def _load_state(self) -> dict:
        try:
            state = read_json(self._state_file())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _result_file(self, job_id: str) -> Path | None:
        """submitit's result file of a job (``<folder>/<id>/<id>_0_result.pkl``; an array task's folder may be
        its array's), or None while there is none."""
        for folder in (self.folder / job_id, self.folder / job_id.split("_")[0]):
            res = folder / f"{job_id}_0_result.pkl"
            if res.exists():
                return res
        return None

    def _failure(self, job_id: str) -> str | None:
        """The error of a finished job (from submitit's result file), with its log path; None otherwise."""
        import pickle

        res = self._result_file(job_id)
        if res is None:
            return None
        try:
            with open(res, "rb") as f:
                kind, value = pickle.load(f)
        except Exception:  # noqa: BLE001 - a damaged result file is a failure too
            kind, value = "error", "unreadable result file"
        if kind != "error":
            return None
        last = str(value).strip().splitlines()[-1:] or ["?"]
        return f"{last[0]} (log: {res.parent / f'{job_id}_0_log.err'})"

    def run(self, jobs, *, progress: bool = True, desc: str = "jobs") -> list:
        jobs = list(jobs)
        _check_keys(jobs)
        self.folder.mkdir(parents=True, exist_ok=True)
        state = self._load_state()
        queued = _squeue_ids()
        if queued is None:
            raise ValueError("squeue does not answer: is the SLURM controller up?")
        attached, submit = {}, []
        for job in jobs:
            if job.done():
                continue
            jid = state.get(job.key)
            if jid is not None and jid in queued:
                attached[job.key] = jid  # still queued or running: wait for it, do not submit it twice
            else:
                submit.append(job)
        if submit:
            ex = self._executor()
            try:
                with _quiet_stderr(), ex.batch():  # sbatch's own complaints go into the error, not the terminal
                    handles = [ex.submit(job) for job in submit]
            except Exception as exc:  # noqa: BLE001 - submitit raises its own errors for a refused sbatch
                raise ValueError(f"SLURM refused the jobs: {_one_line(exc)}") from exc
            for job, h in zip(submit, handles):
                attached[job.key] = h.job_id
                state[job.key] = h.job_id
            write_json(self._state_file(), state)
        return self._wait(jobs, attached, progress=progress, desc=desc)

    def _wait(self, jobs, attached: dict, *, progress: bool, desc: str) -> list:
        o = self.options
        failures = {}
        bar = tqdm(total=len(jobs), desc=desc, unit="job", disable=not progress)
        t0 = time.monotonic()
        while True:
            queued = _squeue_ids()
            if queued is None:  # squeue did not answer this time: judge nothing, ask again
                if time.monotonic() - t0 > o.timeout_s:
                    bar.close()
                    raise ValueError(f"squeue has not answered for {o.timeout_s:g} s: is the SLURM controller up?")
                time.sleep(o.poll_s)
                continue
            finished = {j.key for j in jobs if j.done()}
            open_ = {}
            for key, jid in attached.items():
                if key in failures or key in finished:
                    continue
                why = self._failure(jid)
                if why is not None:
                    failures[key] = why
                elif jid in queued:
                    open_[key] = jid
                elif self._result_file(jid) is None:  # gone from the queue without a result: cancelled, killed
                    failures[key] = (f"job {jid} left the queue without a result (cancelled or killed; rerun to "
                                     f"resubmit it; log: {self.folder / jid / f'{jid}_0_log.err'})")
            running = sum(queued.get(jid) == "RUNNING" for jid in open_.values())
            bar.n = len(finished)
            bar.set_postfix(pending=len(open_) - running, running=running, done=len(finished),
                            failed=len(failures), refresh=True)
            if not open_:
                break
            if time.monotonic() - t0 > o.timeout_s:
                bar.close()
                raise ValueError(f"waited {o.timeout_s:g} s for {len(open_)} SLURM job(s) that are still queued or "
                                 f"running ({', '.join(sorted(open_.values()))}); they go on: rerun the same "
                                 "command to collect them")
            time.sleep(o.poll_s)
        bar.close()
        if failures:
            raise JobsFailed(failures)
        return _outputs(jobs)


@contextlib.contextmanager
def _quiet_stderr():
    """Send file descriptor 2 to a temporary file while inside (sbatch, run by submitit, writes its errors
    there; they reach the user once, in the one-line error)."""
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _one_line(exc: Exception) -> str:
    """sbatch's complaint in one line: its distinct "error:" messages, else the exception's text squashed."""
    import re

    found = []
    for m in re.findall(r"error:\s*([^\n\r]*?)(?=sbatch:|$|\n|\r)", str(exc)):
        m = m.strip()
        if m and m not in found:
            found.append(m)
    return "; ".join(found) if found else (" ".join(str(exc).split()) or type(exc).__name__)


def _check_keys(jobs) -> None:
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"job keys must be distinct, got {keys}")


def add_executor_flags(parser) -> None:
    """The command-line flags that choose an executor (numerics sweep, verify report)."""
    g = parser.add_argument_group("executor", "where the training runs go (default: here, one after another)")
    g.add_argument("--executor", choices=EXECUTORS, default="local")
    g.add_argument("--workers", type=int, default=0, help="local: processes running jobs at once (0: this one)")
    g.add_argument("--slurm-config", dest="slurm_config", type=Path, default=None,
                   help="SlurmOptions as TOML or JSON; the flags below override its fields")
    g.add_argument("--partition", default=None)
    g.add_argument("--time-min", dest="time_min", type=int, default=None, help="time limit per job (60)")
    g.add_argument("--gpus-per-job", dest="gpus_per_job", type=int, default=None, help="(0)")
    g.add_argument("--cpus-per-job", dest="cpus_per_job", type=int, default=None, help="(1)")
    g.add_argument("--mem-gb", dest="mem_gb", type=float, default=None)
    g.add_argument("--array-parallelism", dest="array_parallelism", type=int, default=None, help="(64)")
    g.add_argument("--sbatch", action="append", default=None, metavar="KEY=VALUE",
                   help="an extra sbatch option (repeatable), e.g. --sbatch account=lab")
    g.add_argument("--wait-timeout", dest="timeout_s", type=float, default=None, help="seconds (86400)")


#: the flags of add_executor_flags that only the SLURM executor reads (their argparse names)
_SLURM_FLAGS = ("slurm_config", "partition", "time_min", "gpus_per_job", "cpus_per_job", "mem_gb",
                "array_parallelism", "sbatch", "timeout_s")


def executor_from_args(args, out):
    """The executor the flags of :func:`add_executor_flags` ask for; SLURM's files go under ``out/slurm``."""
    if args.executor == "local":
        given = [f"--{flag.replace('_', '-')}" for flag in _SLURM_FLAGS if getattr(args, flag) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} need --executor slurm")
        return LocalExecutor(args.workers)
    base = SlurmOptions.load(args.slurm_config) if args.slurm_config else SlurmOptions()
    extra = None
    if args.sbatch:
        extra = dict(base.sbatch)
        for item in args.sbatch:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ValueError(f"--sbatch must be KEY=VALUE, got {item!r}")
            extra[key.strip().lstrip("-").replace("-", "_")] = value
    opts = base.with_overrides(partition=args.partition, time_min=args.time_min, gpus_per_job=args.gpus_per_job,
                               cpus_per_job=args.cpus_per_job, mem_gb=args.mem_gb, timeout_s=args.timeout_s,
                               array_parallelism=args.array_parallelism, sbatch=extra)
    return SlurmExecutor(opts, folder=Path(out) / "slurm")


def make_executor(name: str = "local", *, workers: int = 0, slurm: SlurmOptions | None = None, folder=None):
    """The executor called ``name`` ("local" or "slurm"); ValueError for any other name."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "slurm":
        return SlurmExecutor(slurm, folder=folder)
    raise ValueError(f"executor must be one of {EXECUTORS}, got {name!r}")
