"""verify's pairs stage (issue 15): every claim fed synthetic stage data that must pass, must fail and must
straddle; and the stage itself at the tiny profile (trained models, the rug and the structured model at each
n_s, the figure and the claims in the report)."""

import json
import math

import numpy as np
import pytest

from verify import CLAIMS, get_profile, judge_report, run_report
from verify.comparisons.pairs import CLOSING_SLOPE, GAP_FLOOR, PAIR_MIN

IDS = ("pairs.trained_matches_rug", "pairs.gap_closes", "pairs.trained_matches_structured", "pairs.rows_pair_up",
       "pairs.structured_rows_read", "pairs.losses_over_Lstar", "pairs.row_shares")


def _rows(pair_fraction):
    return {"pair_fraction": pair_fraction, "top1_mass_share": 0.9, "top2_mass_share": 0.95, "mean_top1_share": 0.8,
            "pair_ratio_mean": -1.0, "pair_asymmetry": 0.1}


def _cfg(n_s, r, ratios, *, p=0.045, L_star=1.0, rug=1.0, structured=1.0, pair_fractions=(1.0, 1.0, 1.0),
         structured_pairs=None, read=None):
    """One (n_s, r) of the stage: trained exact losses ratios x L_star, the rug's and the structured model's."""
    sp = 2 * (1 - r) if structured_pairs is None else structured_pairs
    models = [{"seed": k, "loss": x * L_star, "loss_se": 1e-6, "exact_loss": x * L_star,
               "rows": _rows(f)} for k, (x, f) in enumerate(zip(ratios, pair_fractions))]
    return {"n_s": n_s, "n_d": int(round(r * n_s)), "r": r, "r_eff": r, "p": p, "p_n_s": p * n_s, "L_star": L_star,
            "models": models, "rug": {"losses": [rug * L_star] * len(ratios), "top1_share": [0.01] * len(ratios)},
            "structured": {"kind": "pairs", "loss": structured * L_star, "pairs_fraction": sp,
                           "rows": {"pair_fraction": sp if read is None else read}}}


def _data(*configs, p=0.045):
    return {"p": p, "ns": sorted({c["n_s"] for c in configs}), "rs": sorted({c["r"] for c in configs}),
            "pair_min": PAIR_MIN, "configs": list(configs)}


def _status(cid, data):
    return CLAIMS[cid].judge(data, {}).status


def test_every_claim_is_registered_with_its_stage():
    assert all(cid in CLAIMS and CLAIMS[cid].comparison == "pairs" for cid in IDS)
    for cid in IDS:
        c = CLAIMS[cid]
        assert c.kind != "info" or cid in ("pairs.losses_over_Lstar", "pairs.row_shares")
        if c.kind != "info":
            assert c.criterion.reason, cid
    assert CLAIMS["pairs.trained_matches_rug"].regime.p_n_s == (100, None)  # the project's Gaussian regime
    assert all(CLAIMS[cid].regime.r == (0.5, None) for cid in IDS[:4])


class TestTrainedMatchesRug:
    cid = "pairs.trained_matches_rug"

    def test_pass_fail_straddle_and_regime(self):
        # in the Gaussian regime: p n_s = 0.045 * 8192 = 369
        assert _status(self.cid, _data(_cfg(8192, 0.5, [1.01, 0.99, 1.0]))) == "pass"
        assert _status(self.cid, _data(_cfg(8192, 0.5, [0.24, 0.25, 0.23]))) == "fail"  # pairs beat the rug
        assert _status(self.cid, _data(_cfg(8192, 0.5, [0.9, 1.0, 1.1]))) == "inconclusive"
        # small models: shown, not judged against the paper
        v = CLAIMS[self.cid].judge(_data(_cfg(128, 0.5, [0.24, 0.25, 0.23])), {})
        assert v.status == "out_of_regime" and v.points[0]["in_regime"] is False
        # one (model, column set) pair per seed
        d = _data(_cfg(8192, 0.7, [0.5, 0.5, 0.5]))
        d["configs"][0]["rug"]["losses"] = [0.5, 0.5, 0.5]
        assert _status(self.cid, d) == "pass"


class TestGapCloses:
    cid = "pairs.gap_closes"

    @staticmethod
    def _series(gap_of_ns, noise=0.01, ns=(64, 128, 256, 1024), rs=(0.5, 0.7, 0.9)):
        rng = np.random.default_rng(0)
        cfgs = []
        for r in rs:
            for n_s in ns:
                gaps = [gap_of_ns(n_s, r) * math.exp(noise * rng.standard_normal()) for _ in range(3)]
                cfgs.append(_cfg(n_s, r, [1 - g for g in gaps]))
        return _data(*cfgs)

    def test_a_finite_size_gap_closes(self):
        # the rug's own excess falls as 1 / (p n_s): slope -1
        assert _status(self.cid, self._series(lambda n, r: 0.8 * 64 / n)) == "pass"
        # as the Berry-Esseen distance, slope -1/2: still closing
        assert _status(self.cid, self._series(lambda n, r: 0.8 * (64 / n) ** 0.5)) == "pass"

    def test_a_gap_that_stays_fails(self):
        # antipodal pairs: loss / L* is the same at every n_s, the gap is 1 - 0.21 whatever n_s is
        v = CLAIMS[self.cid].judge(self._series(lambda n, r: 0.79 - 0.2 * r), {})
        assert v.status == "fail" and abs(v.points[0]["estimate"]["value"]) < 0.01
        assert v.points[0]["reference"] == CLOSING_SLOPE

    def test_a_slope_near_the_edge_straddles(self):
        v = CLAIMS[self.cid].judge(self._series(lambda n, r: 0.5 * (64 / n) ** 0.25, noise=0.3), {})
        assert v.status == "inconclusive" and "data" in v.decide

    def test_a_closed_gap_is_floored_not_dropped(self):
        # trained models above L* at the larger sizes: their gap is floored at GAP_FLOOR, pulling the slope down
        d = self._series(lambda n, r: 0.5 if n == 64 else (0.05 if n == 128 else -0.02))
        est = CLAIMS[self.cid].judge(d, {}).points[0]["estimate"]
        assert est["value"] < 2 * math.log(GAP_FLOOR / 0.5) / math.log(1024 / 64) / 2 and "36 points" in est["method"]
        assert _status(self.cid, d) == "pass"

    def test_one_size_measures_nothing(self):
        v = CLAIMS[self.cid].judge(_data(_cfg(128, 0.5, [0.2, 0.21, 0.22])), {})
        assert v.status == "inconclusive" and v.points == []

    def test_below_half_is_left_out(self):
        d = self._series(lambda n, r: 0.8 * 64 / n)
        d["configs"] += self._series(lambda n, r: 0.5, rs=(0.25,))["configs"]  # flat, but r < 1/2
        assert _status(self.cid, d) == "pass"


class TestTrainedMatchesStructured:
    cid = "pairs.trained_matches_structured"

    def test_pass_fail_straddle_out_of_regime(self):
        assert _status(self.cid, _data(_cfg(256, 0.5, [0.214, 0.215, 0.213], structured=0.214))) == "pass"
        assert _status(self.cid, _data(_cfg(256, 0.9, [0.52, 0.51, 0.53], structured=0.431))) == "fail"
        assert _status(self.cid, _data(_cfg(256, 0.7, [0.30, 0.32, 0.34], structured=0.316))) == "inconclusive"
        v = CLAIMS[self.cid].judge(_data(_cfg(256, 0.25, [0.7, 0.7, 0.7], structured=1.2)), {})
        assert v.status == "out_of_regime"
        # judged at every n_s: one size off the structured loss fails the claim
        d = _data(_cfg(64, 0.5, [0.214] * 3, structured=0.214), _cfg(256, 0.5, [0.6] * 3, structured=0.214))
        assert _status(self.cid, d) == "fail"


class TestRowsPairUp:
    cid = "pairs.rows_pair_up"

    def test_pass_fail_straddle_out_of_regime(self):
        assert _status(self.cid, _data(_cfg(128, 0.7, [0.3] * 3, pair_fractions=(0.58, 0.6, 0.62)))) == "pass"
        # half of the structured model's 0.6 is the edge: a rug has no pairs at all
        assert _status(self.cid, _data(_cfg(128, 0.7, [0.3] * 3, pair_fractions=(0.0, 0.02, 0.0)))) == "fail"
        assert _status(self.cid, _data(_cfg(128, 0.7, [0.3] * 3, pair_fractions=(0.1, 0.3, 0.5)))) == "inconclusive"
        v = CLAIMS[self.cid].judge(_data(_cfg(128, 0.25, [0.7] * 3, pair_fractions=(0.0, 0.0, 0.0),
                                              structured_pairs=0.5)), {})
        assert v.status == "out_of_regime"
        # the reference is the structured model's own count, integer effects included
        v = CLAIMS[self.cid].judge(_data(_cfg(64, 0.7, [0.3] * 3, structured_pairs=38 / 64)), {})
        assert v.points[0]["reference"] == 38 / 64


def test_the_structured_count_is_a_sanity_check():
    cid = "pairs.structured_rows_read"
    assert _status(cid, _data(_cfg(64, 0.7, [0.3] * 3, structured_pairs=38 / 64))) == "sanity"
    assert _status(cid, _data(_cfg(64, 0.7, [0.3] * 3, structured_pairs=38 / 64, read=36 / 64))) == "bug"


def test_the_info_claims_show_every_point():
    d = _data(_cfg(64, 0.5, [0.2] * 3, rug=1.3, structured=0.214), _cfg(128, 0.5, [0.21] * 3, rug=1.2,
                                                                        structured=0.214))
    v = CLAIMS["pairs.losses_over_Lstar"].judge(d, {})
    assert v.status == "info" and len(v.points) == 6
    assert [pt["where"]["model"] for pt in v.points[:3]] == ["trained", "rug", "pairs"]
    assert v.points[1]["estimate"]["value"] == pytest.approx(1.3)
    v = CLAIMS["pairs.row_shares"].judge(d, {})
    assert v.status == "info" and len(v.points) == 14
    # with the single arrangements stored, the best simplex mixture is shown beside them
    d["configs"][1]["structured"]["by_kind"] = {"pairs": 0.214, "simplex-3": 2.4, "simplex-5": 0.5, "polygon-5": 0.3}
    v = CLAIMS["pairs.losses_over_Lstar"].judge(d, {})
    assert len(v.points) == 7 and v.points[-1]["where"]["model"] == "simplex-5 mixture"
    assert v.points[-1]["estimate"]["value"] == 0.5


def test_stored_nan_reads_back():
    # JSON stores NaN as None: a model with no pairs has no pair_ratio_mean
    d = _data(_cfg(64, 0.5, [0.2] * 3, structured=0.2))
    d["configs"][0]["models"][0]["rows"]["pair_ratio_mean"] = None
    d["configs"][0]["models"][1]["exact_loss"] = None  # falls back to the held-out loss
    assert CLAIMS["pairs.row_shares"].judge(d, {}).status == "info"
    assert _status("pairs.trained_matches_structured", d) == "pass"


def test_the_stage_at_the_tiny_profile(tmp_path):
    prof = get_profile("tiny")
    summary = run_report(prof, tmp_path, only=["pairs"], progress=False)
    comp = summary["comparisons"]["pairs"]
    data = comp["data"]
    assert data["ns"] == list(prof.pairs_ns) and data["rs"] == list(prof.pairs_rs) and data["p"] == prof.pairs_p
    assert len(data["configs"]) == len(prof.pairs_ns) * len(prof.pairs_rs)
    for cfg in data["configs"]:
        assert len(cfg["models"]) == prof.seeds and len(cfg["rug"]["losses"]) == prof.seeds
        assert cfg["n_d"] == round(cfg["r"] * cfg["n_s"]) and cfg["L_star"] > 0
        for m in cfg["models"]:
            assert m["exact_loss"] > 0 and 0 <= m["rows"]["pair_fraction"] <= 1
            assert m["rows"]["top1_mass_share"] <= m["rows"]["top2_mass_share"] <= 1 + 1e-12
        # r = 1/2: the best structured model is all pairs, and the measure reads them all
        assert cfg["structured"]["kind"] == "pairs" and cfg["structured"]["rows"]["pair_fraction"] == 1.0
        assert min(cfg["rug"]["losses"]) > cfg["structured"]["loss"]
    assert comp["figures"] == ["pairs_vs_ns.png"] and (tmp_path / "pairs_vs_ns.png").read_bytes()[:4] == b"\x89PNG"
    status = {c["id"]: c["status"] for c in summary["claims"]}
    assert set(IDS) == set(status)
    assert status["pairs.structured_rows_read"] == "sanity"
    assert status["pairs.trained_matches_rug"] == "out_of_regime"  # p n_s = 3.2 at most
    page = (tmp_path / "README.md").read_text()
    assert all(f"`{cid}`" in page for cid in IDS) and "](pairs_vs_ns.png)" in page
    json.dumps(summary, allow_nan=False)
    # judging the stored stage again computes nothing and gives the same verdicts
    assert judge_report(tmp_path)["claims"] == summary["claims"]
