"""theory.finite_size: the exact excess of the best rug over L* at finite n_s.

Checked against independent computations: the column draws against numerics' own, one draw's loss
against Monte Carlo of ReLU(a R x + b) with a dense R built from the Hadamard matrix, the optimum
against perturbations of (a, b), and the n_s -> infinity limit (the excess vanishes as p n_s grows).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

import numerics
import theory
from theory import interference as itf
from theory.__main__ import main

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import dense_hadamard  # noqa: E402


def test_column_draws_are_numerics_draws():
    for n_s, n_d, seed in [(64, 16, 0), (256, 128, 7), (1024, 100, 3)]:
        ours = theory.rug_columns(n_s, n_d, seed)
        theirs = numerics.choose_columns(n_s, n_d, seed=seed).numpy()
        np.testing.assert_array_equal(ours, theirs)


def test_one_draw_against_monte_carlo():
    n_s, r, p = 64, 0.25, 0.1
    res = theory.rug_finite_size(p, r, n_s, draws=1, seed=5, tol=1e-9)
    S = theory.rug_columns(n_s, 16, 5)
    H = dense_hadamard(n_s)[:, S]
    R = H @ H.T / S.size
    a, b = res.a[0], res.b[0]
    rng = np.random.default_rng(0)
    chunks = []
    for _ in range(40):
        x = (rng.random((5000, n_s)) < p) * rng.random((5000, n_s))
        y = np.maximum(a * x @ R.T + b, 0.0)
        chunks.append(((y - x) ** 2).mean())
    chunks = np.array(chunks)
    se = chunks.std(ddof=1) / np.sqrt(chunks.size)
    assert abs(chunks.mean() - res.losses[0]) < 4 * se
    assert res.excess[0] == pytest.approx(res.losses[0] / theory.optimal_loss(p, r) - 1, rel=1e-12)


def test_the_optimum_is_a_minimum():
    n_s, r, p = 256, 0.25, 10 / 256
    res = theory.rug_finite_size(p, r, n_s, draws=1, seed=1, tol=1e-9)
    S = theory.rug_columns(n_s, 64, 1)
    a, b = res.a[0], res.b[0]
    best = res.losses[0]
    for da, db in [(0.02, 0), (-0.02, 0), (0, 0.01), (0, -0.01)]:
        worse = theory.rug_exact_loss(a + da, b + db, p, n_s, S, tol=1e-9).loss
        assert worse > best * (1 + 1e-7)


def test_the_excess_vanishes_as_p_ns_grows():
    r = 0.25
    small = theory.rug_finite_size(3 / 256, r, 256, draws=2)
    large = theory.rug_finite_size(200 / 256, r, 256, draws=2)
    assert small.mean > 0.1  # about 1.5 interference terms active: far from Gaussian
    assert abs(large.mean) < 0.01
    assert np.all(small.excess > large.excess.max())


def test_intervals_and_fields():
    res = theory.rug_finite_size(0.05, 0.5, 128, draws=3, seed=2)
    assert res.n_d == 64 and res.seeds == (2, 3, 4) and res.p_ns == pytest.approx(6.4)
    assert res.low <= res.mean <= res.high
    assert res.mean == pytest.approx(res.excess.mean())
    one = theory.rug_finite_size(0.05, 0.5, 128, draws=1, seed=2)
    assert one.low == one.mean == one.high == pytest.approx(res.excess[0])
    d = res.as_dict()
    assert json.loads(json.dumps(d))["excess"] == [float(e) for e in res.excess]


@pytest.mark.parametrize(
    "args, name",
    [
        ((0.0, 0.25, 64), "p"),
        ((0.1, 1.5, 64), "r"),
        ((0.1, 0.3, 64), "r"),  # 0.3 * 64 is not whole
        ((0.1, 0.25, 48), "n_s"),
        ((0.1, 0.25, True), "n_s"),
    ],
)
def test_bad_input_names_the_parameter(args, name):
    with pytest.raises(ValueError, match=rf"^{name} "):
        theory.rug_finite_size(*args)


@pytest.mark.parametrize("kw, name", [({"draws": 0}, "draws"), ({"seed": -1}, "seed"), ({"confidence": 1.0}, "confidence")])
def test_bad_options_name_the_option(kw, name):
    with pytest.raises(ValueError, match=rf"^{name} "):
        theory.rug_finite_size(0.1, 0.25, 64, **kw)


@pytest.mark.parametrize("args, name", [((48, 4, 0), "n_s"), ((64, 0, 0), "n_d"), ((64, 65, 0), "n_d"),
                                        ((64, 4, -1), "seed"), ((64, 4, "x"), "seed"), ((True, 1, 0), "n_s")])
def test_rug_columns_names_a_bad_argument(args, name):
    with pytest.raises(ValueError, match=rf"^{name} "):
        theory.rug_columns(*args)


def test_rug_optimum_stops_at_its_accuracy(monkeypatch):
    """Nelder-Mead on a loss known to tol must stop at differences of a few tol: before the fix it ran
    to maxiter (7852 evaluations) at p n_s = 3, n_s = 1024."""
    calls = []
    real = itf._rug_loss_from

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(itf, "_rug_loss_from", counting)
    theory.rug_optimal_ab(3 / 1024, 1024, theory.rug_columns(1024, 256, 0), tol=1e-6)
    assert len(calls) < 300


def test_cli_writes_csv_json_png(tmp_path, capsys):
    out = tmp_path / "fs"
    argv = ["finite-size", "--r", "0.25", "0.5", "--ns", "32", "64", "--pns", "4", "16", "--draws", "2",
            "--quiet", "--out", str(out), "--json"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["points"] == 8
    data = json.loads((out / "excess.json").read_text())
    assert len(data["points"]) == 8 and data["settings"]["draws"] == 2
    lines = (out / "excess.csv").read_text().splitlines()
    assert lines[0].startswith("r,n_s,p_ns,p,large_ns_loss,mean,low,high,excess_0,excess_1") and len(lines) == 9
    assert (out / "excess.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["finite-size", "--ns", "48"],
        ["finite-size", "--ns", "64", "--pns", "100"],
        ["finite-size", "--ns", "64", "--pns", "-1"],
        ["finite-size", "--ns", "64", "--r", "0.3"],
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(argv, tmp_path, capsys):
    assert main(argv + ["--quiet", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error" in err[0]
