"""verify/comparisons/appendix_h.py: each appendix-H claim fed synthetic stage data that must pass, must fail
and straddles its edge (inconclusive), one seed (no interval) and, where it has a regime, sizes outside it;
the helpers' input checks; and one run of the stage at the tiny profile through the report."""

import json
import math

import numpy as np
import pytest

from verify import CLAIMS, get_profile, judge_report, run_report
from verify.comparisons import appendix_h as ah

ALPHAS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 0.75, 1.0]
PAPER = dict(n_s=4096, n_d=1024, p=0.04)  # the paper's model: inside PAPER_MODEL
QUICK = dict(n_s=256, n_d=64, p=0.04)  # p n_s = 10: outside it


def _group(diag, sigma, dead, size):
    return {"mean_diag": diag, "sd_diag": 0.01, "mean_sigma": None if dead == size else sigma, "sd_sigma": 0.01,
            "dead": int(dead), "size": size}


def _paper_like(a):
    """A model like the stored paper-size run, with the paper's sign at alpha = 1/2 and the group given up
    below 0.125: (important, less important) as (diag, sigma, dead fraction)."""
    if a == 0.0:
        return (1.02, 0.13, 0.0), (0.0, math.nan, 1.0)
    if a < 0.125:
        return (1.10, 0.14, 0.0), (0.05, 2.0, 1.0)
    gap = 0.06 * (1 - a)  # noise gap shrinking to 0 at alpha = 1
    return (1.30 + 0.01 * (1 - a), 0.20 - gap / 2, 0.0), (1.30 - 0.02 * (1 - a), 0.20 + gap / 2, 0.0)


def _data(model=_paper_like, alphas=ALPHAS, seeds=3, noise=0.0, size=None, where=PAPER, rng=0):
    """Stage data as appendix_h stores it: one run per (replica, alpha); ``model(alpha, replica)`` or
    ``model(alpha)`` gives ((diag, sigma, dead fraction) important, (...) less important)."""
    gen = np.random.default_rng(rng)
    half = (size or where["n_s"]) // 2
    runs = []
    for k in range(seeds):
        for a in alphas:
            try:
                groups = model(a, k)
            except TypeError:
                groups = model(a)
            rec = {"replica": k, "alpha": a, "seed": 5000 + 9 * k, "steps": 1000, "stopped_by": "rule",
                   "loss": 0.002, "loss_se": 1e-5}
            for g, (d, s, f) in zip(ah.GROUPS, groups):
                eps = noise * gen.standard_normal(2)
                rec[g] = _group(d + eps[0], s + eps[1], round(f * half), half)
            runs.append(rec)
    data = {"n_s": where["n_s"], "n_d": where["n_d"], "p": where["p"], "r": where["n_d"] / where["n_s"],
            "alphas": list(alphas), "seeds": seeds, "runs": runs}
    data["summary"] = ah.summarise(data)
    return data


def _judge(cid, data):
    return CLAIMS[cid].judge(data, {})


def _with(over: dict, base=_paper_like):
    """``base`` with some alphas replaced: over = {alpha: groups, or a function of the replica giving them}."""
    def model(a, k):
        v = over.get(a)
        if v is None:
            return base(a)
        return v(k) if callable(v) else v
    return model


# ---- the registry ---------------------------------------------------------------------------------------
def test_the_claims_are_registered_with_reasons():
    ids = [c for c in CLAIMS if c.startswith("appendix_h.")]
    assert ids == ["appendix_h.important_diagonal_larger", "appendix_h.noise_on_less_important",
                   "appendix_h.gives_up_near_quarter", "appendix_h.converges_near_one",
                   "appendix_h.less_important_near_one", "appendix_h.half_dead_alpha"]
    for cid in ids:
        c = CLAIMS[cid]
        assert c.comparison == "appendix_h" and c.statement and c.source and c.quantity
        assert "appendix H" in c.source or "fig. 14" in c.source
        if c.kind != "info":
            assert c.criterion.reason
    assert CLAIMS["appendix_h.important_diagonal_larger"].regime.p_n_s == (100, None)
    assert CLAIMS["appendix_h.gives_up_near_quarter"].regime.r == (0.25, 0.25)


# ---- 1: the sign of the diagonal gap at alpha = 1/2 -------------------------------------------------------
class TestDiagonalSign:
    cid = "appendix_h.important_diagonal_larger"

    def test_pass_fail_straddle(self):
        assert _judge(self.cid, _data(noise=1e-3)).status == "pass"  # the paper's sign: +0.015
        stored = _with({0.5: ((1.301, 0.174, 0), (1.313, 0.232, 0))})  # the stored H100 run's numbers
        v = _judge(self.cid, _data(stored, noise=1e-3))
        assert v.status == "fail" and v.points[0]["estimate"]["hi"] < 0
        straddle = _with({0.5: lambda k: ((1.30 + (0.02, -0.01, 0.005)[k], 0.17, 0), (1.30, 0.23, 0))})
        v = _judge(self.cid, _data(straddle))
        assert v.status == "inconclusive" and "seeds" in v.decide

    def test_one_seed_has_no_interval(self):
        v = _judge(self.cid, _data(seeds=1))
        assert v.status == "inconclusive" and "3 seeds" in v.decide

    def test_small_models_are_out_of_regime_but_shown(self):
        stored = _with({0.5: ((1.26, 0.18, 0), (1.30, 0.26, 0))})
        v = _judge(self.cid, _data(stored, where=QUICK, noise=1e-3))
        assert v.status == "out_of_regime" and v.points[0]["status"] == "fail" and not v.points[0]["in_regime"]

    def test_no_half_in_the_grid(self):
        v = _judge(self.cid, _data(alphas=[0.0, 0.25, 1.0]))
        assert v.status == "inconclusive" and "nothing was measured" in v.note


# ---- 2: the noise is pushed onto the less important group ------------------------------------------------
class TestNoise:
    cid = "appendix_h.noise_on_less_important"

    def test_points_skip_alpha_0_1_and_given_up_groups(self):
        pts = CLAIMS[self.cid].measure(_data(), {})
        assert [pt.where["alpha"] for pt in pts] == [0.15, 0.2, 0.25, 0.5, 0.75]  # 0.05, 0.1: all dead

    def test_pass_fail_straddle(self):
        assert _judge(self.cid, _data(noise=1e-3)).status == "pass"
        flipped = _with({0.25: ((1.25, 0.30, 0), (1.22, 0.15, 0))})
        assert _judge(self.cid, _data(flipped, noise=1e-3)).status == "fail"
        straddle = _with({0.75: lambda k: ((1.3, 0.20, 0), (1.3, 0.20 + (0.02, -0.01, 0.005)[k], 0))})
        v = _judge(self.cid, _data(straddle))
        assert v.status == "inconclusive" and "seeds" in v.decide

    def test_no_regime_a_small_model_is_judged(self):
        assert _judge(self.cid, _data(where=QUICK, noise=1e-3)).status == "pass"

    def test_one_seed(self):
        assert _judge(self.cid, _data(seeds=1)).status == "inconclusive"


# ---- 3: the less important group is given up near alpha = 0.25 ----------------------------------------------
def _dead(fractions: dict):
    """_paper_like with the less important group's dead fraction set per alpha (a float or per replica)."""
    def model(a, k):
        imp, less = _paper_like(a)
        f = fractions.get(a, less[2])
        f = f[k] if isinstance(f, (list, tuple)) else f
        return imp, (less[0] * (1 - f), less[1], f)
    return model


class TestGivesUp:
    cid = "appendix_h.gives_up_near_quarter"

    def test_points_are_outside_the_window_and_not_zero(self):
        pts = CLAIMS[self.cid].measure(_data(), {})
        assert [pt.where["alpha"] for pt in pts] == [0.05, 0.1, 0.5, 0.75]

    def test_pass(self):
        assert _judge(self.cid, _data()).status == "pass"
        # giving up inside the window (half dead at 0.2) passes too
        assert _judge(self.cid, _data(_dead({0.15: 0.9, 0.2: 0.5, 0.25: 0.2}))).status == "pass"

    def test_fail_when_given_up_far_below_the_window(self):
        # the quick profile's picture: half dead near alpha = 0.08, so alpha = 0.1 is mostly kept
        v = _judge(self.cid, _data(_dead({0.05: 0.9, 0.1: 0.2, 0.15: 0.0})))
        assert v.status == "fail"
        assert [pt["status"] for pt in v.points] == ["pass", "fail", "pass", "pass"]

    def test_fail_when_given_up_above_the_window(self):
        assert _judge(self.cid, _data(_dead({a: 1.0 for a in (0.15, 0.2, 0.25, 0.5)}))).status == "fail"

    def test_straddle(self):
        v = _judge(self.cid, _data(_dead({0.1: [0.3, 0.7, 0.6]})))
        assert v.status == "inconclusive" and "seeds" in v.decide

    def test_out_of_regime(self):
        v = _judge(self.cid, _data(_dead({0.1: 0.2}), where=QUICK))
        assert v.status == "out_of_regime" and "fail" in [pt["status"] for pt in v.points]


# ---- 4: convergence to the symmetric solution as alpha -> 1 --------------------------------------------------
class TestConverges:
    cid = "appendix_h.converges_near_one"

    def test_points(self):
        pts = CLAIMS[self.cid].measure(_data(), {})
        assert [(pt.where["alpha"], pt.where["to_alpha"], pt.where["gap"]) for pt in pts] == [
            (0.5, 0.75, "diagonal"), (0.5, 0.75, "sigma"), (0.75, 1.0, "diagonal"), (0.75, 1.0, "sigma")]

    def test_pass_fail_straddle(self):
        assert _judge(self.cid, _data(noise=1e-4)).status == "pass"
        # the noise gap at 0.75 larger than at 0.5: not converging
        grows = _with({0.75: ((1.30, 0.15, 0), (1.30, 0.25, 0))})
        assert _judge(self.cid, _data(grows, noise=1e-4)).status == "fail"
        straddle = _with({0.75: lambda k: ((1.3, 0.19, 0), (1.29 + (0.02, -0.02, 0.005)[k], 0.21, 0))})
        v = _judge(self.cid, _data(straddle))
        assert v.status == "inconclusive" and "seeds" in v.decide

    def test_one_seed(self):
        assert _judge(self.cid, _data(seeds=1)).status == "inconclusive"


class TestLessImportantNearOne:
    cid = "appendix_h.less_important_near_one"

    def test_pass_fail_straddle(self):
        assert _judge(self.cid, _data(noise=1e-4)).status == "pass"
        # the less important group's signal rising as alpha falls from 1 (the quick profile's picture)
        rising = _with({0.5: ((1.27, 0.18, 0), (1.34, 0.26, 0)), 0.75: ((1.28, 0.19, 0), (1.32, 0.23, 0))})
        v = _judge(self.cid, _data(rising, noise=1e-4))
        assert v.status == "fail"
        assert {pt["where"]["quantity"] for pt in v.points if pt["status"] == "fail"} == {"signal (mean W_ii)"}
        straddle = _with({0.75: lambda k: ((1.3, 0.19, 0), (1.295 + (0.02, -0.02, 0.005)[k], 0.21, 0))})
        v = _judge(self.cid, _data(straddle))
        assert v.status == "inconclusive" and "seeds" in v.decide


# ---- the alpha where half the group is dead --------------------------------------------------------------
class TestHalfDeadAlpha:
    def test_interpolates_the_last_crossing(self):
        assert ah.half_dead_alpha([0, 0.1, 0.2], [1.0, 0.75, 0.0]) == pytest.approx(0.1 + 0.25 / 0.75 * 0.1)
        assert ah.half_dead_alpha([0, 0.1, 0.2], [1.0, 0.5, 0.0]) == pytest.approx(0.1)  # exactly half: there
        # not monotone: the crossing from above at the largest alpha
        assert ah.half_dead_alpha([0, 0.1, 0.2, 0.3], [1.0, 0.0, 1.0, 0.0]) == pytest.approx(0.25)

    def test_off_the_grid_is_nan(self):
        assert math.isnan(ah.half_dead_alpha([0, 0.5, 1], [0.2, 0.0, 0.0]))
        assert math.isnan(ah.half_dead_alpha([0, 0.5, 1], [1.0, 1.0, 0.6]))

    @pytest.mark.parametrize("alphas, dead, name", [
        ([], [], "alphas"), ([0, 1], [0.5], "dead_fractions"), ([1, 0], [0.5, 0.5], "alphas"),
        ([0, 1], [1.5, 0], "dead_fractions")])
    def test_checks(self, alphas, dead, name):
        with pytest.raises(ValueError, match=name):
            ah.half_dead_alpha(alphas, dead)

    def test_info_claim(self):
        v = _judge("appendix_h.half_dead_alpha", _data(_dead({0.05: 1.0, 0.1: [0.6, 0.5, 0.4]})))
        assert v.status == "info"
        # replica 0 crosses between 0.1 (0.6) and 0.15 (0), replica 1 at 0.1, replica 2 between 0.05 and 0.1
        per = [0.1 + 0.1 / 0.6 * 0.05, 0.1, 0.05 + 0.5 / 0.6 * 0.05]
        assert v.points[0]["estimate"]["value"] == pytest.approx(np.mean(per), abs=1e-3)


# ---- helpers ---------------------------------------------------------------------------------------------
class TestHelpers:
    def test_training_per_profile(self):
        paper = ah.training(get_profile("paper"))
        assert (paper["batch"], paper["lr"]) == (4096, pytest.approx(3e-4))  # appendix H's own settings
        quick = ah.training(get_profile("quick"))
        assert (quick["batch"], quick["lr"]) == (256, pytest.approx(1.2e-3))
        assert ah.training(get_profile("tiny"))["batch"] == 128
        with pytest.raises(ValueError, match="profile"):
            ah.training(object())

    def test_model_seeds_are_distinct(self):
        prof = get_profile("quick")
        seeds = {ah.model_seed(prof, k, j, 9) for k in range(3) for j in range(9)}
        assert len(seeds) == 27 and min(seeds) == 5000
        with pytest.raises(ValueError, match="index"):
            ah.model_seed(prof, 0, 9, 9)
        with pytest.raises(ValueError, match="replica"):
            ah.model_seed(prof, -1, 0, 9)

    def test_summarise(self):
        rows = ah.summarise(_data(noise=1e-3))
        assert [row["alpha"] for row in rows] == ALPHAS
        r0 = rows[0]
        assert r0["less_important"]["dead_fraction"]["value"] == 1.0
        assert r0["less_important"]["dead_pooled"] == {"k": 3 * 2048, "n": 3 * 2048}
        assert math.isnan(r0["less_important"]["mean_sigma"]["value"])
        half = rows[ALPHAS.index(0.5)]["important"]["mean_diag"]
        assert half["lo"] < half["value"] < half["hi"]
        with pytest.raises(ValueError, match="data"):
            ah.summarise({})

    def test_figures(self, tmp_path):
        data = _data(noise=1e-3, where=dict(n_s=64, n_d=16, p=0.04))
        assert ah.draw_fig14(data, tmp_path / "f14.png") == "f14.png"
        rng = np.random.default_rng(0)
        rows = {a: (rng.uniform(0.5, 1.5, 64), rng.uniform(0.1, 0.3, 64)) for a in (0.25, 0.5, 0.75)}
        assert ah.draw_fig13(rows, 64, 16, 0.04, tmp_path / "f13.png") == "f13.png"
        assert (tmp_path / "f13.png").stat().st_size > 1000 and (tmp_path / "f14.png").stat().st_size > 1000
        with pytest.raises(ValueError, match="rows"):
            ah.draw_fig13({}, 64, 16, 0.04, tmp_path / "x.png")
        with pytest.raises(ValueError, match="rows"):
            ah.draw_fig13({0.5: (np.ones(3), np.ones(3))}, 64, 16, 0.04, tmp_path / "x.png")


# ---- the stage through the report (tiny profile) ---------------------------------------------------------
def test_stage_at_the_tiny_profile(tmp_path):
    out = tmp_path / "report"
    summary = run_report(get_profile("tiny"), out, progress=False, only=["appendix_h"])
    stage = json.loads((out / "stages" / "appendix_h.json").read_text())
    data = stage["result"]["data"]
    prof = get_profile("tiny")
    assert data["n_s"] == prof.appendix_h_ns and data["alphas"] == list(prof.appendix_h_alphas)
    assert len(data["runs"]) == prof.seeds * len(prof.appendix_h_alphas)
    assert len({r["seed"] for r in data["runs"]}) == len(data["runs"])
    assert stage["result"]["figures"] == ["appendix_h_fig13.png", "appendix_h_fig14.png"]
    for fig in stage["result"]["figures"]:
        assert (out / fig).stat().st_size > 1000
    got = {c["id"]: c["status"] for c in summary["claims"] if c["comparison"] == "appendix_h"}
    assert set(got) == {c for c in CLAIMS if c.startswith("appendix_h.")}
    # p n_s = 3.2 at the tiny profile: the claims about the paper's model are out of its regime
    assert got["appendix_h.important_diagonal_larger"] == "out_of_regime"
    assert got["appendix_h.gives_up_near_quarter"] == "out_of_regime"
    assert got["appendix_h.half_dead_alpha"] == "info"
    assert "appendix_h_fig14.png" in (out / "README.md").read_text()
    # resumable: a second report loads the stage; judging the stored data again gives the same summary
    before = (out / "summary.json").read_bytes()
    assert run_report(prof, out, progress=False, only=["appendix_h"])["claims"] == summary["claims"]
    judge_report(out)
    assert (out / "summary.json").read_bytes() == before
