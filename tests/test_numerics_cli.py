"""python -m numerics: the training, picture and experiment commands; one-line errors with exit 2."""

import json
import subprocess
import sys

import pytest
import torch

from numerics import load_run
from numerics.__main__ import main
from numerics.experiments import broken_symmetry, group_statistics, sweep, toy_models_demo
from numerics.io import load_weights


def run(*args):
    return subprocess.run([sys.executable, "-m", "numerics", *args], capture_output=True, text=True)


def test_train_json_and_resume(tmp_path, capsys):
    out = tmp_path / "r"
    args = ["train", "--ns", "16", "--r", "0.25", "--p", "0.05,0.2", "--out", str(out), "--max-steps", "400",
            "--batch", "64", "--quiet", "--json", "--device", "cpu"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert [i["p"] for i in data["instance"]] == [0.05, 0.2] and data["n_d"] == 4
    w = load_weights(out / "weights.safetensors")
    assert w["W_in"].shape == (2, 4, 16) and w["b"].shape == (2, 16)
    assert main(args + ["--resume"]) == 0  # a finished run is returned as it is
    assert json.loads(capsys.readouterr().out)["steps"] == data["steps"]


def test_fit_rug_command_runs(capsys):
    """README's fit-rug line died with TypeError (progress= passed to a function that took quiet=)."""
    for extra in ([], ["--quiet"]):
        assert main(["fit-rug", "--ns", "64", "--r", "0.25", "--p", "0.1", "--json", "--device", "cpu"] + extra) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["n_s"] == 64 and data["n_d"] == 16 and data["loss"] > 0


def test_train_kernel_flag(tmp_path, capsys):
    args = ["train", "--ns", "16", "--r", "0.25", "--p", "0.1", "--max-steps", "200", "--batch", "32", "--quiet",
            "--device", "cpu", "--kernel", "sparse", "--out", str(tmp_path / "r")]
    assert main(args) == 0
    assert load_run(tmp_path / "r").config.kernel == "sparse"


def test_train_from_a_config_file(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('n_s = 8\nn_d = 2\np = 0.1\nbatch = 32\nmax_steps = 200\ndevice = "cpu"\n')
    assert main(["train", "--config", str(cfg), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert load_run(tmp_path / "r").config.n_d == 2


def test_pictures(tmp_path, capsys):
    assert main(["rug", "--ns", "64", "--nd", "16", "--out", str(tmp_path / "rug.png")]) == 0
    assert (tmp_path / "rug.png").read_bytes()[:4] == b"\x89PNG"
    main(["train", "--ns", "16", "--nd", "4", "--p", "0.1", "--out", str(tmp_path / "r"), "--max-steps", "200",
          "--batch", "32", "--quiet"])
    assert main(["weights", str(tmp_path / "r" / "weights.safetensors"), "--n", "10",
                 "--out", str(tmp_path / "w.png")]) == 0
    assert (tmp_path / "w.png").stat().st_size > 1000


@pytest.mark.parametrize(
    "args, word",
    [
        (["rug", "--ns", "100"], "power of two"),
        (["train", "--ns", "16", "--r", "2", "--p", "0.1", "--out", "x"], "r must be in"),
        (["train", "--ns", "16", "--r", "0.5", "--p", "0", "--out", "x"], "p must be in"),
        (["train", "--ns", "16", "--p", "0.1", "--out", "x"], "--r"),
        (["train", "--ns", "16", "--r", "0.5", "--p", "a,b", "--out", "x"], "comma-separated"),
        (["weights", "does-not-exist.safetensors"], "does not exist"),
        (["sweep", "--ns", "16", "--p", "0.1", "--r", "0.5,7", "--out", "x"], "r must be in"),
        (["train", "--ns", "16", "--r", "0.5", "--p", "0.3", "--kernel", "sparse", "--out", "x"], "p <= 0.25"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, word, tmp_path):
    out = subprocess.run([sys.executable, "-m", "numerics", *args], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_sweep_packs_runs_by_n_d(tmp_path):
    index = sweep(16, [0.05, 0.2], [0.25, 0.5], tmp_path / "s", progress=False, batch=32, max_steps=200,
                  device="cpu")
    assert sorted({e["run"] for e in index["entries"]}) == ["n_d=4", "n_d=8"]
    assert len(index["entries"]) == 4
    run = load_run(tmp_path / "s" / "n_d=8")
    assert run.config.p_list == [0.05, 0.2]
    again = sweep(16, [0.05, 0.2], [0.25, 0.5], tmp_path / "s", progress=False, batch=32, max_steps=200,
                  device="cpu")  # resumable: finished runs are loaded
    assert again == index


def test_sweep_replicas_are_independent_seeds_and_replica_0_is_the_one_seed_sweep(tmp_path):
    kw = dict(progress=False, batch=32, max_steps=200, device="cpu", seed=5)
    one = sweep(16, [0.05, 0.2], [0.5], tmp_path / "one", **kw)
    three = sweep(16, [0.05, 0.2], [0.5], tmp_path / "three", seeds=3, **kw)
    assert [(e["p"], e["replica"], e["seed"]) for e in three["entries"]] == [
        (0.05, 0, 5), (0.2, 0, 6), (0.05, 1, 7), (0.2, 1, 8), (0.05, 2, 9), (0.2, 2, 10)]
    w1 = load_run(tmp_path / "one" / "n_d=8").model.W_in.detach()
    w3 = load_run(tmp_path / "three" / "n_d=8").model.W_in.detach()
    assert torch.equal(w3[:2], w1)  # the same seeds give the same weights, bit for bit
    assert not torch.equal(w3[2:4], w1)
    assert [e["loss"] for e in three["entries"][:2]] == [e["loss"] for e in one["entries"]]
    with pytest.raises(ValueError, match="seeds"):
        sweep(16, [0.1], [0.5], tmp_path / "bad", seeds=0, **kw)


def test_toy_models_demo_and_broken_symmetry(tmp_path):
    out = toy_models_demo(tmp_path / "t", sparsities=(0.0, 0.9), max_steps=200, progress=False, batch=64,
                          device="cpu")
    for f in out["figures"]:
        assert (tmp_path / "t" / f).stat().st_size > 1000
    res = broken_symmetry(tmp_path / "h", alphas=(0.5, 1.0), n_s=32, n_d=8, p=0.1, batch=64, max_steps=200,
                          progress=False, device="cpu", checkpoint_every=0)
    assert [r["alpha"] for r in res["rows"]] == [0.5, 1.0]
    assert (tmp_path / "h" / "broken_symmetry.png").exists()


def test_group_statistics_against_a_loop():
    torch.manual_seed(0)
    W = 0.3 * torch.randn(6, 6, dtype=torch.float64) + 1.3 * torch.eye(6, dtype=torch.float64)
    W[1, 1] = 0.01  # an unlearned feature: counted as dead, left out of its group's mean sigma
    p = 0.1
    var_x = p * (4 - 3 * p) / 12
    stats = group_statistics(W, p, [slice(0, 3), slice(3, 6)])
    for g, rows in zip(stats, ((0, 2), (3, 4, 5))):
        sig = [(var_x * sum(W[i, j].item() ** 2 for j in range(6) if j != i)) ** 0.5 / abs(W[i, i].item())
               for i in rows]
        assert g["mean_sigma"] == pytest.approx(sum(sig) / len(rows), rel=1e-12)
    assert [g["dead"] for g in stats] == [1, 0]
    for g, rows in zip(stats, (range(0, 3), range(3, 6))):
        assert g["mean_diag"] == pytest.approx(sum(W[i, i].item() for i in rows) / 3, rel=1e-12)


def test_sae_sweep_command(tmp_path, capsys):
    out = tmp_path / "sae"
    args = ["sae", "--out", str(out), "--alphas", "0.1", "--ratios", "1,2", "--steps", "100", "--h", "8",
            "--G", "16", "--n-active", "2", "--batch", "32", "--threads", "1", "--quiet", "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert "mmcs" in json.dumps(data)
    assert (out / "mmcs.png").exists() and (out / "results.json").exists()
