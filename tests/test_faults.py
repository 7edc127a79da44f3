"""Bad input ends in one clear error, never a traceback from deep inside or a silent conversion
(issue 16): each defect found by trying the toolkit has a test here that failed on the code before."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

import theory
from theory.__main__ import main as theory_main

NOT_REAL = ["0.5", b"0.1", True, np.bool_(True), 0.1 + 0j, np.complex128(0.1 + 0.2j), [0.1, True], None,
            np.array([True]), np.array(["0.1"]), {"p": 0.1}]


@pytest.mark.parametrize("bad", NOT_REAL, ids=repr)
@pytest.mark.parametrize("call, name", [
    (lambda v: theory.optimal_loss(v, 0.25), "p"),
    (lambda v: theory.optimal_loss(0.05, v), "r"),
    (lambda v: theory.welch_sigma(v, 0.25), "p"),
    (lambda v: theory.macroscopic_loss(v, -0.1, 0.2, 0.05), "a"),
    (lambda v: theory.mmse_loss(0.05, v), "sigma"),
    (lambda v: theory.small_r_loss(0.05, v), "gamma"),
])
def test_theory_refuses_what_is_not_a_real_number(call, name, bad):
    with pytest.raises(ValueError, match=rf"^{name} must be"):
        call(bad)


@pytest.mark.parametrize("good", [0.1, 1, np.float32(0.1), np.int64(1), np.array([0.1, 0.2]), [0.1, 0.2], (0.1,)])
def test_theory_takes_every_kind_of_real(good):
    expected = theory.optimal_loss(np.asarray(good, dtype=np.float64), 0.25)
    np.testing.assert_allclose(theory.optimal_loss(good, 0.25), expected, rtol=1e-7)


def test_small_r_loss_is_finite_deep_in_the_tail():
    """Below gamma ~ -37 both ReLU moments underflow; the loss is then Var-free p/3 to double precision."""
    p = 0.05
    deep = theory.small_r_loss(p, np.array([-36.0, -38.0, -40.0, -1e3, -1e40]))
    assert np.all(np.isfinite(deep))
    np.testing.assert_allclose(deep, p / 3, rtol=1e-15)
    # continuous across the underflow: the ratio there is below phi(36) / 36 ~ 1e-284
    assert abs(theory.small_r_loss(p, -36.0) - p / 3) < 1e-280
    with pytest.raises(ValueError, match="^gamma must be at most 1e\\+50"):  # beyond, powers of it overflow
        theory.small_r_loss(p, -1e300)


def test_theory_json_has_no_nan(capsys):
    assert theory_main(["bound", "--p", "1", "--r", "0.5", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert data["upper_bound_ansatz"] is None and data["optimal_loss"] > 0


def test_theory_cli_takes_negative_scientific_numbers(capsys):
    assert theory_main(["loss", "--a", "1", "--b", "-1e4", "--sigma", "0.1", "--p", "0.1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["b"] == -1e4 and data["loss"] == pytest.approx(0.1 / 3)


def test_theory_cli_survives_a_closed_pipe(tmp_path):
    proc = subprocess.run(f"{sys.executable} -m theory curve --p 0.045 --n 3 --out {tmp_path} --json | head -c 1",
                          shell=True, capture_output=True, text=True)
    assert "Traceback" not in proc.stderr


def test_importing_the_plotting_modules_leaves_the_backend_alone():
    """numerics.plots and verify.figures switched matplotlib to Agg at import: inline plots in a notebook
    stopped working for the rest of the session."""
    code = ("import matplotlib; matplotlib.use('svg'); import numerics.plots, verify.figures, numerics.experiments; "
            "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend(); "
            "import numerics; fig = numerics.plots.plot_rug(numerics.rug_matrix(16, 4, seed=0)); "
            "assert type(fig).__name__ == 'Figure'; import matplotlib.pyplot as plt; assert not plt.get_fignums()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


class _FakeAccelerator:
    def __init__(self, kind):
        self.kind = kind

    def is_available(self):
        return self.kind is not None

    def current_accelerator(self):
        return torch.device(self.kind) if self.kind else None


@pytest.mark.parametrize("kind", ["mps", "xpu", "cuda", None])
def test_device_auto_picks_whatever_accelerator_torch_has(monkeypatch, kind):
    """device="mps" (any accelerator but CUDA) was refused, and "auto" only ever looked for CUDA."""
    from numerics._validation import resolve_device

    monkeypatch.setattr(torch, "accelerator", _FakeAccelerator(kind))
    assert resolve_device("auto") == (torch.device(kind) if kind else torch.device("cpu"))
    assert resolve_device("cpu") == torch.device("cpu")
    if kind in ("mps", "xpu"):
        assert resolve_device(kind) == torch.device(kind)
    other = "mps" if kind != "mps" else "xpu"
    with pytest.raises(ValueError, match=rf"^device '{other}' requested but this machine"):
        resolve_device(other)
    with pytest.raises(ValueError, match="^device must be"):
        resolve_device("no-such-device")


def test_every_package_has_one_version():
    import importlib.metadata

    import numerics
    import verify

    expected = importlib.metadata.version("persian-rug")
    assert theory.__version__ == numerics.__version__ == verify.__version__ == expected


# ---- numerics: refused, not converted; refused before allocating -----------------------------------
import numerics  # noqa: E402
from numerics import TrainConfig  # noqa: E402
from numerics.__main__ import main as numerics_main  # noqa: E402


@pytest.mark.parametrize("p", [True, np.bool_(True), "0.1", 0.1 + 0j, torch.tensor([True] * 8)], ids=repr)
def test_sample_features_refuses_what_is_not_a_probability(p):
    with pytest.raises(ValueError, match="^p must be"):
        numerics.sample_features(4, 8, p)


def test_sample_features_takes_numpy_scalars():
    x = numerics.sample_features(4, 8, np.float32(0.5))
    assert x.shape == (4, 8)


@pytest.mark.parametrize("seed", ["x", 1.5, -1, True])
def test_rug_operator_refuses_a_bad_seed(seed):
    with pytest.raises(ValueError, match="^seed must be"):
        numerics.RugOperator(16, 4, seed=seed)


def test_hadamard_refuses_what_cannot_fit_before_allocating():
    with pytest.raises(ValueError, match="^n is too large"):
        numerics.hadamard(2**40)


def test_train_config_takes_numpy_numbers_and_saves_them_as_plain_ones(tmp_path):
    cfg = TrainConfig(n_s=np.int64(8), n_d=2, p=[np.float32(0.25), np.float64(0.1)], lr=np.float32(1e-3)).validate()
    assert type(cfg.n_s) is int and all(type(v) is float for v in cfg.p) and type(cfg.lr) is float
    cfg.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json").p == cfg.p


@pytest.mark.parametrize("kw, name", [
    (dict(importance=[1.0] * 7 + [float("inf")]), "importance"),
    (dict(importance=[1.0] * 7 + [float("nan")]), "importance"),
    (dict(p=True), "p"),
    (dict(device="nonsense"), "device"),
])
def test_train_config_refuses(kw, name):
    base = dict(n_s=8, n_d=2, p=0.1) | kw
    with pytest.raises(ValueError, match=f"^{name} "):
        TrainConfig(**base).validate()


@pytest.mark.parametrize("content", ["[1, 2]", "null", '"x"', "3"])
def test_a_config_file_that_is_not_a_table_is_one_line(tmp_path, capsys, content):
    cfg = tmp_path / "c.json"
    cfg.write_text(content)
    assert numerics_main(["train", "--config", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "must hold a table" in err[0]


def test_sweep_without_p_or_r_is_one_line(tmp_path, capsys):
    assert numerics_main(["sweep", "--ns", "16", "--out", str(tmp_path / "s"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--p" in err[0]


@pytest.mark.parametrize("argv", [
    [sys.executable, "-m", "theory", "curve", "--p", "0.1", "--n", "3", "--out", "{f}/sub"],
    [sys.executable, "-m", "theory", "curve", "--p", "0.1", "--n", "3", "--out", "{f}"],
    [sys.executable, "-m", "numerics", "rug", "--ns", "16", "--nd", "4", "--out", "{f}/x.png"],
    [sys.executable, "-m", "numerics", "train", "--ns", "16", "--r", "0.25", "--p", "0.1", "--max-steps", "50",
     "--out", "{f}", "--quiet"],
    [sys.executable, "-m", "verify", "report", "--profile", "tiny", "--only", "rug_properties", "--out", "{f}/r",
     "--quiet"],
], ids=["theory-under-a-file", "theory-onto-a-file", "numerics-under-a-file", "train-onto-a-file",
        "verify-under-a-file"])
def test_file_system_errors_are_one_line_naming_the_path(tmp_path, argv):
    """Every command that writes died with a traceback on a path under a file or an existing file as --out."""
    f = tmp_path / "a_file"
    f.write_text("not a folder")
    proc = subprocess.run([a.format(f=f) for a in argv], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr and str(f) in lines[0], proc.stderr


# ---- checkpoints: damaged or mismatched ones are named and refused, never silently continued ------------
def _interrupted_run(tmp_path, **kw):
    """A run with a checkpoint and no finished weights (as after a kill), from a tiny config."""
    from numerics import train
    from numerics.io import load_weights, save_weights  # noqa: F401

    cfg = TrainConfig(n_s=16, n_d=4, p=0.05, batch=32, max_steps=200, window=50, checkpoint_every=100,
                      device="cpu", stop_rule=False, **kw)
    out = tmp_path / "run"
    train(cfg, out, progress=False)
    # make it look interrupted: a checkpoint at step 100 and no final weights
    from numerics.train import Trainer

    st = Trainer(cfg.validate(), torch.device("cpu"))
    for _ in range(100):
        st.train_step()
    tensors, meta = st.to_tensors()
    save_weights(out / "checkpoint.safetensors", tensors, meta)
    for name in ("weights.safetensors", "summary.json"):
        (out / name).unlink()
    return cfg, out


@pytest.mark.parametrize("damage", ["empty", "truncated", "zeroed"])
def test_a_damaged_checkpoint_is_named(tmp_path, damage):
    from numerics import train

    cfg, out = _interrupted_run(tmp_path)
    ck = out / "checkpoint.safetensors"
    data = ck.read_bytes()
    ck.write_bytes({"empty": b"", "truncated": data[: len(data) // 2], "zeroed": bytes(len(data))}[damage])
    with pytest.raises(ValueError, match=r"^checkpoint .*checkpoint\.safetensors.* (cannot be read|damaged)"):
        train(cfg, out, resume=True, progress=False)


def test_resume_compares_the_checkpoints_config(tmp_path):
    """With config.json gone, --resume --p 0.1 continued a p = 0.05 checkpoint, and --seed 1 produced the
    seed-0 weights labelled seed 1."""
    import dataclasses

    from numerics import train

    cfg, out = _interrupted_run(tmp_path)
    (out / "config.json").unlink()
    for change in ({"p": 0.1}, {"seed": 1}):
        with pytest.raises(ValueError, match=r"written by a different config \(" + next(iter(change))):
            train(dataclasses.replace(cfg, **change), out, resume=True, progress=False)
    run = train(cfg, out, resume=True, progress=False)  # the same config resumes
    assert run.metrics["steps"] == 200


def test_a_checkpoint_holding_nan_is_refused(tmp_path):
    from numerics import train
    from numerics.io import load_weights, save_weights
    from safetensors import safe_open

    cfg, out = _interrupted_run(tmp_path)
    ck = out / "checkpoint.safetensors"
    with safe_open(str(ck), framework="pt") as f:
        meta = f.metadata()
    t = load_weights(ck)
    name = next(k for k in t if k.startswith("param."))
    t[name] = t[name].clone()
    t[name].view(-1)[0] = float("nan")
    save_weights(ck, t, meta)
    with pytest.raises(ValueError, match="non-finite"):
        train(cfg, out, resume=True, progress=False)


def test_a_diverged_instance_stops_with_a_status_and_the_others_go_on(tmp_path, monkeypatch):
    """A diverged run (--lr 1e30) trained on, wrote NaN weights and "loss": null, then crashed in the CLI."""
    from numerics import train
    from numerics.train import Trainer

    real = Trainer.train_step

    def step(self):
        losses = real(self)
        if self.step > 120:  # instance 0 goes non-finite in the second window
            losses = losses.clone()
            losses[0] = float("nan")
        return losses

    monkeypatch.setattr(Trainer, "train_step", step)
    cfg = TrainConfig(n_s=16, n_d=4, p=[0.05, 0.1], batch=32, max_steps=400, window=100, device="cpu",
                      stop_rule=False)
    run = train(cfg, tmp_path / "r", progress=False)
    first, second = run.metrics["instance"]
    assert first["stopped_by"] == "diverged" and first["steps"] == 200
    assert second["stopped_by"] == "max_steps" and second["steps"] == 400 and second["loss"] > 0


def test_the_cli_reports_divergence_in_one_line(tmp_path, capsys):
    args = ["train", "--ns", "16", "--r", "0.25", "--p", "0.05", "--lr", "1e30", "--max-steps", "300",
            "--out", str(tmp_path / "r"), "--quiet", "--device", "cpu"]
    assert numerics_main(args) == 0
    out = capsys.readouterr().out
    assert "diverged" in out


@pytest.mark.parametrize("content", ['{"result": 3}', '{"result": {"name": "x"}}',
                                     '{"result": {"name": "rug_properties", "title": "t", "data": {"rows": 5}}}',
                                     "{not json", ""])
def test_a_damaged_stage_file_is_named_with_how_to_recompute(tmp_path, content, capsys):
    """A stage file with the wrong structure gave an AttributeError, KeyError or TypeError traceback."""
    from verify.__main__ import main as verify_main

    stages = tmp_path / "rep" / "stages"
    stages.mkdir(parents=True)
    (stages / "rug_properties.json").write_text(content)
    (tmp_path / "rep" / "summary.json").write_text('{"profile": {"name": "tiny"}}')
    assert verify_main(["judge", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rug_properties" in err[0] and "--redo rug_properties" in err[0], err


# ---- models trained elsewhere ---------------------------------------------------------------------
def test_a_toy_models_file_is_read_as_w_transpose_w(tmp_path, capsys):
    """An ARENA / Toy-Models file (W of shape instances x n_d x n_s, the model ReLU(W^T W x + b)) was
    misread by numerics stats as the n_s x n_s product itself."""
    from numerics.io import save_weights

    g = torch.Generator().manual_seed(0)
    W = torch.randn(2, 5, 20, generator=g, dtype=torch.float64) / 5 ** 0.5
    b = -0.1 * torch.ones(2, 20, dtype=torch.float64)
    save_weights(tmp_path / "arena.safetensors", {"W": W, "b": b})
    assert numerics_main(["stats", str(tmp_path / "arena.safetensors"), "--p", "0.05", "--instance", "1",
                          "--json"]) == 0
    got = json.loads(capsys.readouterr().out)["macroscopic"]["a"]
    assert got == pytest.approx(float(torch.diagonal(W[1].T @ W[1]).mean()), rel=1e-12)
    model = numerics.ToyModel.from_toy_models(W.numpy(), b.numpy())
    assert torch.allclose(model.W()[1].double(), W[1].T @ W[1], atol=1e-12)
    x = numerics.sample_features(8, 20, 0.1, dtype=torch.float64)
    want = torch.relu(x @ (W[0].T @ W[0]).T + b[0])
    assert torch.allclose(model.double()(x[None].expand(2, -1, -1))[0], want, atol=1e-12)
    with pytest.raises(ValueError, match="^W must be"):
        numerics.ToyModel.from_toy_models(torch.ones(20, 5))
