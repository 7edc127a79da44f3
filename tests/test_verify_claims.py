"""verify's claims and statistics: every registered claim can give each verdict it is declared to give
(fed synthetic measurements on both sides of its boundary), the measures read what the comparisons store,
and the intervals are scipy.stats' own."""

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats as st

import theory
from verify import CLAIMS
from verify.claims import Criterion, Point, Regime
from verify.stats import Estimate, binomial, bonferroni, common_slope, exact, from_se, over_seeds


# ---- every claim can pass and can fail --------------------------------------------------------------
def _inside(regime: Regime) -> dict:
    n_s = regime.n_s[0] or 8192
    if regime.n_s[1] is not None:
        n_s = regime.n_s[1]
    p_n_s = regime.p_n_s[0] if regime.p_n_s[0] is not None else 0.045 * n_s
    r = regime.r[0] if regime.r[0] is not None else 0.25
    return {"n_s": n_s, "p": p_n_s / n_s, "r": r}


def _outside(regime: Regime) -> dict | None:
    where = _inside(regime)
    if regime.p_n_s[0] is not None:
        return where | {"p": 0.5 * regime.p_n_s[0] / where["n_s"]}
    if regime.n_s[0] is not None:
        return where | {"n_s": regime.n_s[0] // 2}
    return None


def _judge(c, points):
    return dataclasses.replace(c, measure=lambda data, profile: points).judge({}, {})


GOOD = {"paper": "pass", "exact": "pass", "sanity": "sanity"}
BAD = {"paper": "fail", "exact": "refuted", "sanity": "bug"}


@pytest.mark.parametrize("cid", [c for c in CLAIMS if CLAIMS[c].kind != "info"])
def test_every_claim_gives_each_verdict_it_can(cid):
    c = CLAIMS[cid]
    ref = 1.0 if c.criterion.test in ("within", "consistent") or c.criterion.tol else 0.5
    lo, hi = c.criterion.band(ref)
    two_sided = c.criterion.test in ("within", "consistent")
    good = ref if two_sided else (lo + 1 if c.criterion.test == "at_least" else hi - 1)
    bad = (hi + 1) if c.criterion.test != "at_most" else hi + 1
    if c.criterion.test == "at_least":
        bad = lo - 1
    where = _inside(c.regime)
    assert _judge(c, [Point(exact(good), ref, where)]).status == GOOD[c.kind]
    assert _judge(c, [Point(exact(bad), ref, where)]).status == BAD[c.kind]  # a claim that cannot fail is a defect
    assert _judge(c, [Point(exact(good), ref, where), Point(exact(bad), ref, where)]).status == BAD[c.kind]
    if c.kind == "paper":
        near = hi - 0.05 if math.isfinite(hi) else lo + 0.05  # inside, by less than its interval
        straddle = _judge(c, [Point(from_se(near, 0.1, 10), ref, where)])
        assert straddle.status == "inconclusive" and "seeds" in straddle.decide
        one_seed = _judge(c, [Point(over_seeds([good]), ref, where)])
        assert one_seed.status == "inconclusive" and "3 seeds" in one_seed.decide
        out = _outside(c.regime)
        if out is not None:
            v = _judge(c, [Point(exact(bad), ref, out)])
            assert v.status == "out_of_regime" and v.points[0]["in_regime"] is False
            mixed = _judge(c, [Point(exact(good), ref, where), Point(exact(bad), ref, out)])
            assert mixed.status == "pass" and "not judged" in mixed.note


def test_every_claim_is_declared_with_its_reasons():
    for c in CLAIMS.values():
        assert c.statement and c.source and c.quantity and c.reference, c.id
        if c.kind != "info":
            assert c.criterion.reason, f"{c.id}: a tolerance without its reason"
        if c.regime != Regime():
            assert c.regime.reason, f"{c.id}: a regime without its reason"
    assert len(CLAIMS) >= 35


def test_claims_of_trained_models_are_about_the_gaussian_regime():
    gaussian = {cid for cid, c in CLAIMS.items() if c.regime.p_n_s[0] == 100}
    assert {"bounds.large_ns_at_optimum", "fig2.trained_matches_theory", "fig2.trained_matches_rug",
            "bounds.trained_matches_rug", "fig3.effective_bias_is_theory_b"} <= gaussian
    assert CLAIMS["fig3.diagonal"].regime.n_s == (512, 512)


# ---- the measures read what the comparisons store, and judge it ------------------------------------
def _fig3_data(diags, biases=(-0.18,), b_effs=(-0.446,)):
    return {"n_s": 512, "p": 0.045, "r": 0.25, "diag_means": list(diags), "diag_sds": [0.008] * len(diags),
            "bias_means": list(biases), "b_effs": list(b_effs), "theory": {"b": -0.446}}


def test_fig3_against_the_papers_own_plus_minus():
    c = CLAIMS["fig3.diagonal"]
    assert c.judge(_fig3_data([1.288, 1.290, 1.291]), {}).status == "pass"
    assert c.judge(_fig3_data([1.33, 1.34, 1.335]), {}).status == "fail"
    assert c.judge(_fig3_data([1.27, 1.31, 1.29]), {}).status == "inconclusive"  # the spread straddles 0.01
    assert c.judge(_fig3_data([1.29]), {}).status == "inconclusive"  # one seed: no interval
    old = {"n_s": 512, "p": 0.045, "r": 0.25, "diag_mean": 1.29}  # an older one-seed stage file
    assert c.judge(old, {}).status == "inconclusive"


def _symmetry_table(values_by_ns, noise=0.05, seeds=3, key="delta_diag"):
    rng = np.random.default_rng(0)
    rows = []
    for n_s, v in values_by_ns.items():
        for s in range(seeds):
            rows.append({"n_s": n_s, "p": 0.045, "r": 0.25, "seed": s, key: v * math.exp(noise * rng.standard_normal())})
    return {"table": rows}


def test_symmetry_trends_are_judged_with_their_interval():
    c = CLAIMS["symmetry.delta_diag_shrinks"]
    assert c.judge(_symmetry_table({64: 1e-2, 128: 5e-3, 256: 2.5e-3}), {}).status == "pass"
    assert c.judge(_symmetry_table({64: 1e-3, 128: 2e-3, 256: 4e-3}), {}).status == "fail"
    # the non-monotone series that passed on the sign of its slope alone
    noisy = _symmetry_table({64: 1.4e-4, 128: 1.5e-3, 256: 1.5e-5}, noise=1.0)
    assert c.judge(noisy, {}).status == "inconclusive"


def test_symmetry_is_judged_at_every_p_r():
    c = CLAIMS["symmetry.delta2_mean_nu_shrinks"]
    shrinking = _symmetry_table({64: 1e-2, 128: 5e-3, 256: 2.5e-3}, key="delta2_mean_nu")["table"]
    rising = [row | {"r": 0.5} for row in _symmetry_table({64: 1e-3, 128: 2e-3, 256: 4e-3}, key="delta2_mean_nu")["table"]]
    v = c.judge({"table": shrinking + rising}, {})
    assert v.status == "fail" and len(v.points) == 2  # one (p, r) rising is enough, however the other behaves
    assert {pt["where"]["r"] for pt in v.points} == {0.25, 0.5}
    assert [pt["where"]["n_s"] for pt in v.points] == [[64, 256]] * 2
    assert c.judge({"table": shrinking}, {}).status == "pass"


def _lambda_table(lam_small_p, lam_large_p, n_s=64):
    return {"table": [{"n_s": n_s, "p": p, "r": 0.25, "seed": s, "lambda": lam * (1 + 0.01 * s)}
                      for p, lam in ((0.02, lam_small_p), (0.045, 0.5), (0.1, lam_large_p)) for s in range(3)]
            + [{"n_s": 2 * n_s, "p": 0.02, "r": 0.25, "seed": 0, "lambda": 0.01}]}


def test_fig8_caption_compares_p_at_the_smallest_ns():
    c = CLAIMS["symmetry.fig8_large_p_first"]
    v = c.judge(_lambda_table(0.9, 0.3), {})
    assert v.status == "pass" and v.points[0]["where"] == {"n_s": 64, "p": [0.02, 0.1], "r": 0.25}
    assert v.points[0]["estimate"]["value"] == pytest.approx(0.3 / 0.9, rel=1e-3)
    assert c.judge(_lambda_table(0.3, 0.9), {}).status == "fail"


def _scaling_data(law, noise=0.01):
    rng = np.random.default_rng(1)
    pts = []
    for r in (0.02, 0.03, 0.05, 0.07, 0.1):
        for p in (7e-4, 1e-3, 1.5e-3, 2e-3, 3e-3, 5e-3):
            if p < 0.1 * r:
                pts.append({"p": p, "r": r, "rug_loss": law(p, r) * math.exp(noise * rng.standard_normal())})
    return {"n_s": 8192, "points": pts}


def test_the_scaling_claim_sees_the_power_of_r():
    """The old one-slope check could not tell p^2/r from p^2/sqrt(r); the fitted exponents can."""
    right = _scaling_data(lambda p, r: p * p / r * math.log(1 / p))
    assert CLAIMS["scaling.r_exponent"].judge(right, {}).status == "pass"
    assert CLAIMS["scaling.p_exponent"].judge(right, {}).status == "pass"
    sqrt_r = _scaling_data(lambda p, r: p * p / math.sqrt(r) * math.log(1 / p))
    assert CLAIMS["scaling.r_exponent"].judge(sqrt_r, {}).status == "fail"
    r_squared = _scaling_data(lambda p, r: p * p / r**2)
    assert CLAIMS["scaling.r_exponent"].judge(r_squared, {}).status == "fail"


def _sae_data(dead_ratio_1, dead_ratio_2, mmcs_row):
    alphas, ratios = [0.01, 0.03, 0.1, 0.3, 1.0], [0.5, 1.0, 2.0]
    dead = [[0] * 5, [0, 0, dead_ratio_1, 5, 20], [0, 0, 0, dead_ratio_2, dead_ratio_2]]
    mmcs = [[0.5] * 5, mmcs_row, [0.5] * 5]
    seeds = [{"grids": {"dead": dead, "mmcs": [row[:] for row in mmcs]}} for _ in range(3)]
    for k, s in enumerate(seeds):
        s["grids"]["mmcs"][1] = [m + 0.001 * k for m in mmcs_row]
    return {"alphas": alphas, "ratios": ratios, "G": 128, "seeds": seeds}


def test_the_dead_neuron_boundary_is_the_reports_figure():
    no_dead, beyond = CLAIMS["sae.no_dead_within_boundary"], CLAIMS["sae.dead_beyond_boundary"]
    row = [0.6, 0.9, 0.95, 0.9, 0.5]
    assert no_dead.judge(_sae_data(0, 30, row), {}).status == "pass"
    assert no_dead.judge(_sae_data(40, 30, row), {}).status == "fail"  # dead at alpha = 0.1, ratio 1
    assert beyond.judge(_sae_data(0, 30, row), {}).status == "pass"
    assert beyond.judge(_sae_data(0, 0, row), {}).status == "fail"
    # alpha = 0.3 at ratio 1 lies beyond the report's boundary (0.177): its dead neurons do not count against it
    assert no_dead.judge(_sae_data(0, 30, row), {}).points[0]["where"]["cells"] == 6
    peak = CLAIMS["sae.goldilocks_peak"]
    assert peak.judge(_sae_data(0, 30, row), {}).status == "pass"
    assert peak.judge(_sae_data(0, 30, [0.99, 0.9, 0.9, 0.9, 0.5]), {}).status == "fail"


def test_trained_models_beating_a_gaussian_bound_fail_inside_the_regime():
    p, r = 0.045, 0.25
    mmse = float(theory.mmse_loss(p, 0.2))
    pt = {"r": r, "trained_losses": [0.8 * mmse] * 2 + [0.81 * mmse], "trained_mmse_own": [mmse] * 3,
          "L_star": 1.0, "linear": 1.0}
    data = {"p": p, "trained_ns": 8192, "rug_ns": 8192, "points": [pt]}
    assert CLAIMS["fig2.mmse_below_trained"].judge(data, {}).status == "fail"
    assert CLAIMS["fig2.mmse_below_trained"].judge(data | {"trained_ns": 256}, {}).status == "out_of_regime"


def _fig2_panel(p, r_losses, n_s=128):
    return {"p": p, "trained_ns": n_s, "rug_ns": 4096,
            "points": [{"r": r, "trained_losses": list(v), "L_star": 1.0, "linear": 1.0} for r, v in r_losses.items()]}


def test_fig2_judges_every_p_and_the_initial_fall():
    var = {p: float(theory.r0_limit(p)) for p in (0.01, 0.045, 0.1)}
    main = _fig2_panel(0.045, {0.1: [0.5 * var[0.045]] * 3, 0.5: [0.1] * 3})
    # the fall at r = 0.1 (the smallest common r): loss / Var x = 0.3, 0.5, 0.8 for p = 0.01, 0.045, 0.1
    faster = [_fig2_panel(0.01, {0.1: [0.3 * var[0.01], 0.31 * var[0.01], 0.29 * var[0.01]]}),
              _fig2_panel(0.1, {0.1: [0.8 * var[0.1], 0.81 * var[0.1], 0.79 * var[0.1]]})]
    fall = CLAIMS["fig2.initial_fall_set_by_p"]
    v = fall.judge(main | {"extra_panels": faster}, {})
    assert v.status == "pass" and len(v.points) == 2
    assert v.points[0]["estimate"]["value"] == pytest.approx(0.6, rel=0.02)  # 0.3 / 0.5
    assert v.points[0]["where"]["r"] == 0.1
    slower = [_fig2_panel(0.01, {0.1: [0.9 * var[0.01], 0.91 * var[0.01], 0.89 * var[0.01]]})]
    assert fall.judge(main | {"extra_panels": slower}, {}).status == "fail"
    # an older stage file has one p: nothing to compare, which is not a pass
    assert fall.judge(main, {}).status == "inconclusive"
    # every per-r claim now reads every panel
    below = CLAIMS["fig2.trained_below_linear"].judge(main | {"extra_panels": faster}, {})
    assert sorted({pt["where"]["p"] for pt in below.points}) == [0.01, 0.045, 0.1]
    theory_fall = CLAIMS["fig2.initial_fall_theory"].judge(main | {"extra_panels": faster}, {})
    assert theory_fall.status == "pass"
    assert theory_fall.points[0]["estimate"]["value"] == pytest.approx(
        (theory.optimal_loss(0.01, 0.1) / var[0.01]) / (theory.optimal_loss(0.045, 0.1) / var[0.045]))


# ---- statistics against scipy.stats directly ------------------------------------------------------------
def test_over_seeds_is_the_t_interval():
    v = [1.0, 1.2, 0.9, 1.1]
    lo, hi = over_seeds(v).interval(0.95)
    ref = st.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=st.sem(v))
    assert (lo, hi) == pytest.approx(ref, rel=1e-12)
    assert over_seeds([2.0]).interval() == (-math.inf, math.inf)
    assert over_seeds([2.0, 2.0]).interval() == (2.0, 2.0)
    assert over_seeds([1.0, float("nan"), 3.0]).value == 2.0


def test_binomial_is_clopper_pearson():
    lo, hi = binomial(0, 576).interval(0.95)
    assert lo == 0 and hi == pytest.approx(1 - 0.025 ** (1 / 576), rel=1e-9)
    with pytest.raises(ValueError, match="k <= n"):
        binomial(3, 2)


def test_common_slope_with_one_group_is_linregress():
    rng = np.random.default_rng(3)
    x = np.repeat(np.log([64, 128, 256, 512]), 3)
    y = -0.7 * x + 0.1 * rng.standard_normal(x.size)
    est = common_slope(x, y, [0] * x.size)
    ref = st.linregress(x, y)
    assert est.value == pytest.approx(ref.slope, rel=1e-10) and est.se == pytest.approx(ref.stderr, rel=1e-10)
    assert est.dof == x.size - 2
    # two groups with their own intercepts share the slope
    est2 = common_slope(np.concatenate([x, x]), np.concatenate([y, y + 5]), [0] * x.size + [1] * x.size)
    assert est2.value == pytest.approx(ref.slope, rel=1e-10)


def test_consistent_is_never_inconclusive():
    c = Criterion("consistent", 1e-6, relative=True, confidence=1 - 1e-4)
    assert c.judge(from_se(1.0, 0.01), 1.015, 0.95) == "pass"  # the interval meets the exact value
    assert c.judge(from_se(1.0, 0.001), 1.02, 0.95) == "fail"
    assert c.judge(exact(1.0 + 5e-7), 1.0, 0.95) == "pass"  # within the exact computation's own error
    with pytest.raises(ValueError, match="confidence"):
        Criterion("consistent", confidence=1.0)


def test_bonferroni_and_estimate_validation():
    assert bonferroni(5) == pytest.approx(0.99)
    with pytest.raises(ValueError, match="level"):
        Estimate(1.0, 0.1, 3).interval(1.5)
    with pytest.raises(ValueError, match="test"):
        Criterion("about")
    with pytest.raises(ValueError, match="tol"):
        Criterion("within", -1.0)
