"""Executors (issue 18): the results of a sweep do not depend on where it runs. Local in this process, in a
pool of processes, and on a real one-node SLURM cluster (.ci/slurm-up starts one; the SLURM tests skip where
sbatch is absent): the same seeds give the same weights, a rerun redoes nothing, a failed job is reported
with the others finished, and a job killed with scancel and resubmitted resumes to the same weights."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from numerics.executor import (Job, JobsFailed, LocalExecutor, SlurmExecutor, SlurmOptions, TrainJob,
                               make_executor)
from numerics.experiments import sweep, sweep_jobs
from numerics.io import load_weights

SWEEP = dict(n_s=16, ps=[0.05, 0.1], rs=[0.25, 0.5], seeds=2)
TRAIN = dict(max_steps=150, batch=32, device="cpu")


def _weights(root: Path) -> dict:
    return {str(p.relative_to(root)): load_weights(p) for p in sorted(root.rglob("weights.safetensors"))
            if "slurm" not in p.relative_to(root).parts}


def _same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa and wa.keys() == wb.keys()
    for name in wa:
        for k in wa[name]:
            assert torch.equal(wa[name][k], wb[name][k]), (name, k)


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "sweep"
    sweep(SWEEP["n_s"], SWEEP["ps"], SWEEP["rs"], out, seeds=SWEEP["seeds"], progress=False, **TRAIN)
    return out


# ---- local --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [0, 2])
def test_local_executors_give_the_same_weights(tmp_path, local_sweep, workers):
    index = sweep(SWEEP["n_s"], SWEEP["ps"], SWEEP["rs"], tmp_path / "s", seeds=SWEEP["seeds"], progress=False,
                  executor=LocalExecutor(workers), **TRAIN)
    _same_weights(local_sweep, tmp_path / "s")
    assert index["entries"] == json.loads((local_sweep / "index.json").read_text())["entries"]


class _Boom(Job):
    def __init__(self, key, out):
        self.key, self.out = key, str(out)

    def done(self):
        return False

    def __call__(self):
        raise RuntimeError("boom")


def test_a_failed_job_is_reported_and_the_others_finish(tmp_path):
    jobs = sweep_jobs(16, [0.1], [0.25], tmp_path / "s", **TRAIN) + [_Boom("bad", tmp_path / "bad")]
    with pytest.raises(JobsFailed, match="1 job.*bad: RuntimeError: boom") as info:
        LocalExecutor().run(jobs, progress=False)
    assert isinstance(info.value, ValueError) and list(info.value.failures) == ["bad"]
    assert jobs[0].done()


def test_finished_jobs_are_not_run_again(tmp_path, monkeypatch):
    jobs = sweep_jobs(16, [0.1], [0.25], tmp_path / "s", **TRAIN)
    LocalExecutor().run(jobs, progress=False)
    monkeypatch.setattr(TrainJob, "__call__", lambda self: pytest.fail("a finished job ran again"))
    assert LocalExecutor().run(jobs, progress=False) == [j.out for j in jobs]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="executor must be one of"):
        make_executor("pbs")
    with pytest.raises(ValueError, match="workers must be"):
        LocalExecutor(-1)
    job = sweep_jobs(16, [0.1], [0.25], tmp_path / "s", **TRAIN)[0]
    with pytest.raises(ValueError, match="keys must be distinct"):
        LocalExecutor().run([job, job], progress=False)
    for kw, match in ((dict(time_min=0), "time_min"), (dict(gpus_per_job=-1), "gpus_per_job"),
                      (dict(mem_gb=float("nan")), "mem_gb"), (dict(sbatch=["x"]), "sbatch"),
                      (dict(partition=""), "partition")):
        with pytest.raises(ValueError, match=match):
            SlurmOptions(**kw)
    SlurmOptions(partition="gpu", sbatch={"account": "lab"}).save(tmp_path / "o.toml")
    assert SlurmOptions.load(tmp_path / "o.toml").sbatch == {"account": "lab"}


def test_the_cli_refuses_slurm_flags_without_slurm(tmp_path, capsys):
    from numerics.__main__ import main

    assert main(["sweep", "--ns", "16", "--p", "0.1", "--r", "0.5", "--out", str(tmp_path / "s"),
                 "--partition", "gpu"]) == 2
    assert "--partition need --executor slurm" in capsys.readouterr().err
    from verify.__main__ import main as verify_main

    assert verify_main(["report", "--profile", "tiny", "--only", "rug_properties", "--out", str(tmp_path / "r"),
                        "--time-min", "5", "--quiet"]) == 2  # was silently ignored by the report
    assert "--time-min need --executor slurm" in capsys.readouterr().err


# ---- SLURM --------------------------------------------------------------------------------------------
needs_slurm = pytest.mark.skipif(shutil.which("sbatch") is None or shutil.which("squeue") is None,
                                 reason="no SLURM here (sbatch absent): .ci/slurm-up starts a one-node cluster")


def _slurm(tmp: Path) -> SlurmExecutor:
    pytest.importorskip("submitit", reason="submitit is not installed (pip install -e '.[slurm]')")
    if subprocess.run(["squeue"], capture_output=True).returncode:
        pytest.fail("sbatch is installed but squeue fails: the SLURM controller is not up (.ci/slurm-up)")
    return SlurmExecutor(SlurmOptions(time_min=10, timeout_s=600, poll_s=0.5), folder=tmp / "slurm")


@needs_slurm
def test_a_sweep_on_slurm_equals_the_local_one_and_a_rerun_submits_nothing(tmp_path, local_sweep):
    ex = _slurm(tmp_path)
    sweep(SWEEP["n_s"], SWEEP["ps"], SWEEP["rs"], tmp_path / "s", seeds=SWEEP["seeds"], progress=False,
          executor=ex, **TRAIN)
    _same_weights(local_sweep, tmp_path / "s")
    submitted = json.loads((tmp_path / "slurm" / "jobs.json").read_text())
    assert len(submitted) == 2
    before = sorted(p.name for p in (tmp_path / "slurm").iterdir())
    sweep(SWEEP["n_s"], SWEEP["ps"], SWEEP["rs"], tmp_path / "s", seeds=SWEEP["seeds"], progress=False,
          executor=ex, **TRAIN)
    assert sorted(p.name for p in (tmp_path / "slurm").iterdir()) == before  # nothing submitted again


@needs_slurm
def test_a_failed_slurm_job_names_its_log(tmp_path):
    from numerics import TrainConfig

    ex = _slurm(tmp_path)
    # a job that fails on the node (an importable one: the node unpickles it): a device it does not have
    bad = TrainJob(TrainConfig(n_s=16, n_d=4, p=0.1, max_steps=10, device="cuda:63"), tmp_path / "bad", key="bad")
    jobs = sweep_jobs(16, [0.1], [0.25], tmp_path / "s", **TRAIN) + [bad]
    with pytest.raises(JobsFailed) as info:
        ex.run(jobs, progress=False)
    assert list(info.value.failures) == ["bad"] and "cuda" in info.value.failures["bad"]
    assert "_log.err" in info.value.failures["bad"] and Path(info.value.failures["bad"].split("log: ")[1][:-1]).exists()
    assert jobs[0].done()


KILLED = textwrap.dedent("""
    import sys
    from pathlib import Path
    from numerics.executor import SlurmExecutor, SlurmOptions
    from numerics.experiments import sweep
    out = Path(sys.argv[1])
    ex = SlurmExecutor(SlurmOptions(time_min=10, timeout_s=600, poll_s=0.5), folder=out / "slurm")
    sweep(256, [0.05], [0.25], out / "s", progress=False, executor=ex, **{kw})
""")
# long enough (about 20 s here) that scancel, whose SIGTERM submitit ignores, kills it with SIGKILL after
# KillWait (5 s in .ci/slurm-up) before it finishes
LONG = dict(max_steps=15000, batch=256, window=50, checkpoint_every=100, stop_rule=False, device="cpu")


@needs_slurm
def test_a_job_killed_with_scancel_resumes_to_the_same_weights(tmp_path):
    _slurm(tmp_path)
    script = KILLED.replace("{kw}", repr(LONG))
    first = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    ckpt = tmp_path / "s" / "n_d=64" / "checkpoint.safetensors"
    deadline = time.monotonic() + 300
    while not ckpt.exists():
        assert first.poll() is None, f"the sweep ended before its first checkpoint: {first.communicate()}"
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.05)
    job_id = json.loads((tmp_path / "slurm" / "jobs.json").read_text())["n_s=256/n_d=64"]
    subprocess.run(["scancel", job_id], check=True)
    _, err = first.communicate(timeout=300)
    assert first.returncode != 0 and "left the queue without a result" in err, err
    assert not (tmp_path / "s" / "n_d=64" / "weights.safetensors").exists()
    again = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "slurm" / "jobs.json").read_text())["n_s=256/n_d=64"] != job_id  # resubmitted
    sweep(256, [0.05], [0.25], tmp_path / "local", progress=False, **LONG)
    _same_weights(tmp_path / "local", tmp_path / "s")


@needs_slurm
def test_a_report_on_slurm_equals_the_local_one(tmp_path):
    from verify.__main__ import main

    _slurm(tmp_path)
    common = ["report", "--profile", "tiny", "--only", "symmetry_vs_ns", "--quiet"]
    assert main(common + ["--out", str(tmp_path / "local")]) == 0
    assert main(common + ["--out", str(tmp_path / "slurm"), "--executor", "slurm", "--wait-timeout", "600"]) == 0
    _same_weights(tmp_path / "local" / "runs", tmp_path / "slurm" / "runs")
    grid = [json.loads((tmp_path / d / "stages" / "symmetry_vs_ns.json").read_text())["result"]["data"]
            for d in ("local", "slurm")]
    assert grid[0] == grid[1]  # the same measurements, so the same verdicts
    assert len(json.loads((tmp_path / "slurm" / "slurm" / "jobs.json").read_text())) == 2  # one array, both n_s


def test_the_documented_options_file_loads():
    opts = SlurmOptions.load(Path(__file__).resolve().parent.parent / "docs" / "slurm.toml")
    assert opts.gpus_per_job == 1 and opts.sbatch == {"account": "my-lab", "qos": "normal"}


@needs_slurm
def test_a_refused_submission_is_one_line(tmp_path):
    _slurm(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "numerics", "sweep", "--ns", "16", "--p", "0.1", "--r", "0.5",
                           "--max-steps", "10", "--out", str(tmp_path / "s"), "--executor", "slurm", "--partition",
                           "no-such-partition", "--quiet"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "SLURM refused the jobs" in lines[0] and "partition" in lines[0], proc.stderr
