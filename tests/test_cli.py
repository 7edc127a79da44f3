"""python -m theory: each subcommand, its JSON, and one-line errors with exit status 2."""

import csv
import json
import subprocess
import sys

import pytest

import theory
from theory.__main__ import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "theory", *args], capture_output=True, text=True)


def test_optimum_json_matches_the_api():
    out = run("optimum", "--p", "0.045", "--r", "0.25", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    ref = theory.optimal_ab(0.045, 0.25)
    assert {"a", "b", "sigma", "loss"} <= set(data)
    assert data["a"] == pytest.approx(ref.a, rel=1e-12) and data["loss"] == pytest.approx(ref.loss, rel=1e-12)


def test_loss_and_bound(capsys):
    assert main(["loss", "--a", "1.2", "--b", "-0.1", "--sigma", "0.2", "--p", "0.05", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["loss"] == pytest.approx(theory.macroscopic_loss(1.2, -0.1, 0.2, 0.05), rel=1e-14)
    assert data["loss"] == pytest.approx(0.95 * data["loss_off"] + 0.05 * data["loss_on"], rel=1e-14)
    assert main(["bound", "--p", "0.045", "--r", "0.25", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["lower_bound"] < data["mmse_loss"] < data["optimal_loss"] < data["upper_bound_ansatz"]
    assert data["optimal_loss"] < data["linear_loss"] < data["r0_limit"]
    assert main(["optimum", "--p", "0.1", "--sigma", "0.3"]) == 0
    assert "sigma" in capsys.readouterr().out


def test_curve_writes_csv_and_png(tmp_path, capsys):
    assert main(["curve", "--p", "0.045", "--n", "6", "--out", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    with open(data["csv"]) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6
    for row in rows:
        r = float(row["r"])
        assert float(row["optimal_loss"]) == pytest.approx(theory.optimal_loss(0.045, r), rel=1e-12)
        assert float(row["mmse_loss"]) <= float(row["optimal_loss"]) <= float(row["linear_loss"])
    assert open(data["png"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "args,word",
    [
        (["loss", "--a", "1", "--b", "0", "--sigma", "0.1", "--p", "2"], "p must be in"),
        (["loss", "--a", "nan", "--b", "0", "--sigma", "0.1", "--p", "0.1"], "a must be"),
        (["optimum", "--p", "0.1", "--r", "0"], "r must be in"),
        (["optimum", "--p", "0.1"], "--r"),
        (["bound", "--p", "0.1", "--r", "1.5"], "r must be in"),
        (["curve", "--p", "0.1", "--n", "1"], "n must be"),
        (["loss", "--a", "x"], "invalid float"),
        (["nonsense"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, word):
    out = run(*args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0], out.stderr
    assert "Traceback" not in out.stderr
