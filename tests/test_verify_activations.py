"""The constant-factor comparison (verify/comparisons/activations.py): G(p, r) = L* / MMSE at the Welch sigma
against independent computations and its p -> 0 law, every claim on synthetic data on both sides of its
criterion, and the stage end to end at the tiny profile."""

import dataclasses
import json
import math
import time

import numpy as np
import pytest
from scipy import integrate, optimize, stats

import theory
from verify import CLAIMS
from verify.claims import Point
from verify.comparisons import activations as act
from verify.comparisons._common import GAUSSIAN
from verify.stats import exact

IDS = ("activations.constant_factor", "activations.reduced_law", "activations.gain_where_trained",
       "activations.trained_gain")


# ---- independent computations ----------------------------------------------------------------------------
def _relu_moments(m, s):
    """E ReLU(m + s Z) and E ReLU(m + s Z)^2 (closed forms)."""
    z = m / s
    cdf, pdf = stats.norm.cdf(z), stats.norm.pdf(z)
    return m * cdf + s * pdf, (m * m + s * s) * cdf + m * s * pdf


def _relu_loss(a, b, sigma, p):
    """The macroscopic loss of ReLU(a (x + nu) + b): closed-form Gaussian moments, quad over u."""
    _, off = _relu_moments(b, a * sigma)

    def on(u):
        e1, e2 = _relu_moments(a * u + b, a * sigma)
        return u * u - 2 * u * e1 + e2

    return (1 - p) * off + p * integrate.quad(on, 0, 1, epsabs=0, epsrel=1e-12, limit=200)[0]


def _independent_Lstar(p, r, start=(1.2, -0.4)):
    sigma = float(theory.welch_sigma(p, r))
    res = optimize.minimize(lambda v: _relu_loss(v[0], v[1], sigma, p), list(start), method="Nelder-Mead",
                            options={"xatol": 1e-9, "fatol": 1e-16 * p, "maxiter": 4000})
    return res.fun


def _independent_mmse(p, sigma):
    """p/3 - int N^2 / f dy with the density f and numerator N of y = x + nu in closed form."""
    def integrand(y):
        if y < 0.5:
            Z = stats.norm.cdf(y / sigma) - stats.norm.cdf((y - 1) / sigma)
        else:  # the upper tail without cancellation
            Z = stats.norm.sf((y - 1) / sigma) - stats.norm.sf(y / sigma)
        N = p * (y * Z + sigma * (stats.norm.pdf(y / sigma) - stats.norm.pdf((y - 1) / sigma)))
        f = (1 - p) * stats.norm.pdf(y / sigma) / sigma + p * Z
        return N * N / f if f > 0 else 0.0

    marks = sorted({0.0, 1.0, -sigma, 1 + sigma} | {k * sigma for k in (1, 3, 6)} | {1 - k * sigma for k in (1, 3, 6)})
    val = integrate.quad(integrand, -12 * sigma, 1 + 12 * sigma, points=marks, epsabs=0, epsrel=1e-12, limit=400)[0]
    return p / 3 - val


def _independent_reduced(p):
    """1 + min_tau [psi_2(tau) / p + tau^2 / 4], psi_2(tau) = phi(tau) int_0^inf w^2 exp(-tau w - w^2 / 2) dw."""
    def psi2(t):
        inner = integrate.quad(lambda w: w * w * math.exp(-t * w - 0.5 * w * w), 0, math.inf, epsrel=1e-13)[0]
        return stats.norm.pdf(t) * inner

    res = optimize.minimize_scalar(lambda t: psi2(t) / p + 0.25 * t * t, bounds=(1.0, 20.0), method="bounded",
                                   options={"xatol": 1e-9})
    return 1 + res.fun


class TestTheCurve:
    def test_one_point_against_independent_quadratures(self):
        p, r = 0.045, 0.25
        g = act.gain(p, r)
        assert float(g["L_star"]) == pytest.approx(_independent_Lstar(p, r), rel=1e-7)
        assert float(g["mmse"]) == pytest.approx(_independent_mmse(p, float(g["sigma"])), rel=1e-8)
        # docs/theory.md section 9's table: L* = 4.8558e-3, mmse = 4.48027e-3
        assert float(g["G"]) == pytest.approx(4.8558e-3 / 4.48027e-3, rel=1e-4)
        assert float(g["oracle"]) == pytest.approx(p * float(theory.mmse_on_loss(float(g["sigma"]))))

    def test_small_p_point_against_independent_quadratures(self):
        p, r = 1e-4, 0.1
        g = act.gain(p, r)
        opt = theory.optimal_ab(p, r)
        assert _relu_loss(opt.a, opt.b, float(g["sigma"]), p) == pytest.approx(float(g["L_star"]), rel=1e-9)
        # minimised afresh from 5 % away: nothing lower
        found = _independent_Lstar(p, r, start=(1.05 * opt.a, 0.95 * opt.b))
        assert float(g["L_star"]) == pytest.approx(found, rel=1e-6) and found >= float(g["L_star"]) * (1 - 1e-9)
        assert float(g["mmse"]) == pytest.approx(_independent_mmse(p, float(g["sigma"])), rel=1e-7)

    def test_the_gain_is_at_least_one_and_vectorised(self):
        ps = np.array([1e-6, 1e-3, 0.045, 0.5])
        g = act.gain(ps[:, None], np.array([0.1, 0.5])[None, :])
        assert g["G"].shape == (4, 2)
        assert np.all(g["G"] >= 1.0) and np.all(g["G_oracle"] >= g["G"])  # mmse >= p mmse_on (theory.md 9)

    def test_reduced_law_is_the_independent_one(self):
        ps = [1e-8, 1e-14, 1e-20]
        mine, tau = act.reduced_gain(ps)
        assert mine == pytest.approx([_independent_reduced(p) for p in ps], rel=1e-8)
        assert np.all(np.diff(tau) > 0)  # the threshold in units of sigma grows with ln(1/p)
        with pytest.raises(ValueError, match="p must"):
            act.reduced_gain([0.0])

    @pytest.mark.parametrize("r", [0.1, 0.5])
    def test_p_to_zero_the_gain_follows_its_laws(self, r):
        ps = np.array([1e-14, 1e-17, 1e-20])
        g = act.gain(ps, r)
        red, _ = act.reduced_gain(ps)
        assert g["G"] == pytest.approx(red, rel=1e-3)  # the reduction's dropped terms, O(sigma tau^3)
        assert g["mmse"] / (ps * g["sigma"] ** 2) == pytest.approx(1.0, abs=1e-3)  # MMSE -> p sigma^2
        law = act.asymptotic_gain(ps)
        gap = g["G"] - law  # O(ln ln(1/p) / ln(1/p)): small and shrinking
        assert np.all(np.abs(gap) < 0.15) and np.all(np.diff(np.abs(gap)) < 0)
        # the growth per unit ln(1/p) over the last decade: 1/2 - 3 / (4 ln(1/p)) at the decade's middle
        pair = act.gain(np.array([1e-19, 1e-20]), r)["G"]
        slope = (pair[1] - pair[0]) / math.log(10)
        assert slope == pytest.approx(0.5 - 0.75 / (19.5 * math.log(10)), abs=0.01)

    def test_asymptotic_law_constant(self):
        assert act.ASYMPTOTIC_CONSTANT == pytest.approx(1.5 + 0.5 * math.log(4 / math.sqrt(2 * math.pi)))
        assert act.asymptotic_gain(1e-20) == pytest.approx(0.5 * 46.0517 - 0.75 * math.log(92.1034) + 1.7337, abs=1e-3)
        with pytest.raises(ValueError, match="p must"):
            act.asymptotic_gain(0.7)


# ---- the claims on synthetic data ---------------------------------------------------------------------------
def _curves(G_of_p, rs=act.R_CURVE):
    ps = act._curve_ps()
    return [{"r": r, "p": ps, "G": [G_of_p(p, r) for p in ps]} for r in rs]


def _data(G_of_p, rs=act.R_CURVE, reduced=None):
    red = reduced or (lambda p: G_of_p(p, 0.25))
    return {"curves": _curves(G_of_p, rs), "asymptotic_window": [1e-20, 1e-12],
            "trained_range_p": list(act.TRAINED_RANGE_P),
            "asymptotic": {"p": list(act.ASYMPTOTIC_P), "G_reduced": [red(p) for p in act.ASYMPTOTIC_P]},
            "trained": []}


def test_every_claim_is_registered_with_its_reasons():
    for cid in IDS:
        c = CLAIMS[cid]
        assert c.comparison == act.NAME and c.statement and c.source and c.quantity and c.reference
        if c.kind != "info":
            assert c.criterion.reason
    assert "constant factor" in CLAIMS["activations.constant_factor"].statement
    assert CLAIMS["activations.constant_factor"].kind == "exact"
    assert CLAIMS["activations.reduced_law"].kind == "sanity"
    assert CLAIMS["activations.trained_gain"].regime == GAUSSIAN


class TestConstantFactor:
    c = CLAIMS["activations.constant_factor"]

    def test_a_bounded_ratio_passes(self):
        v = self.c.judge(_data(lambda p, r: 3.0 - 1e-3 * p), {})
        assert v.status == "pass" and len(v.points) == 3

    def test_the_log_law_is_refuted(self):
        v = self.c.judge(_data(lambda p, r: 0.5 * math.log(1 / p)), {})
        assert v.status == "refuted"
        assert v.points[0]["estimate"]["value"] == pytest.approx(0.5)

    def test_one_steep_decade_does_not_refute_it(self):
        # bounded, but rising by 0.5 per e-fold between 1e-15 and 1e-16 only: the least growth is 0
        def G(p, r):
            L = math.log(1 / p)
            lo, hi = 15 * math.log(10), 16 * math.log(10)
            return 2.0 + 0.5 * (min(max(L, lo), hi) - lo)
        assert self.c.judge(_data(G), {}).status == "pass"

    def test_the_edge(self):
        # growth exactly at the tolerance passes; a hair above (in one r) refutes
        on_edge = self.c.judge(_data(lambda p, r: 0.25 * math.log(1 / p)), {})
        assert on_edge.status == "pass"
        above = self.c.judge(_data(lambda p, r: (0.2501 if r == 0.5 else 0.1) * math.log(1 / p)), {})
        assert above.status == "refuted"
        assert [pt["status"] for pt in above.points] == ["pass", "pass", "fail"]

    def test_growth_is_read_per_decade_and_other_r_are_ignored(self):
        data = _data(lambda p, r: 0.5 * math.log(1 / p), rs=(0.7,))
        v = self.c.judge(data, {})
        assert v.status == "inconclusive" and "nothing was measured" in v.note
        growth = act.decade_growth(_curves(lambda p, r: math.log(1 / p))[0])
        assert len(growth) == 8 and all(g["growth"] == pytest.approx(1.0) for g in growth)


class TestReducedLaw:
    c = CLAIMS["activations.reduced_law"]

    def test_agreeing_numbers_are_sanity(self):
        v = self.c.judge(_data(lambda p, r: 0.5 * math.log(1 / p) * (1 + 0.009 * (r == 0.1))), {})
        assert v.status == "sanity" and len(v.points) == 27

    def test_a_toolkit_off_by_two_percent_is_a_bug(self):
        def G(p, r):
            return 0.5 * math.log(1 / p) * (1.02 if (p == 1e-20 and r == 0.25) else 1.0)
        v = self.c.judge(_data(G, reduced=lambda p: 0.5 * math.log(1 / p)), {})
        assert v.status == "bug"
        assert sum(pt["status"] == "fail" for pt in v.points) == 1


def test_gain_where_trained_is_info_at_the_declared_points():
    v = CLAIMS["activations.gain_where_trained"].judge(_data(lambda p, r: 1 + p * r), {})
    assert v.status == "info" and len(v.points) == 3 * len(act.TRAINED_RANGE_P)
    assert v.points[0]["where"] == {"p": 1e-4, "r": 0.1}
    assert v.points[0]["estimate"]["value"] == pytest.approx(1 + 1e-5)


def _trained_rows(n_s, p, r, losses, mmse_own, row_pairs):
    return [{"n_s": n_s, "p": p, "r": r, "seed": k, "loss": loss, "L_star": 0.01, "mmse_own_sigma": m, "G_theory": 1.08,
             "mmse_rows": [{"row": 0, "loss": a, "mmse": b}] if a is not None else []}
            for k, (loss, m, (a, b)) in enumerate(zip(losses, mmse_own, row_pairs))]


def test_trained_gain_reads_the_records():
    rows = (_trained_rows(8192, 0.045, 0.25, [0.0100, 0.0102, 0.0101], [0.0093, 0.0094, None],
                          [(0.0110, 0.0100), (0.0120, 0.0100), (0.0115, 0.0100)])
            + _trained_rows(64, 0.045, 0.25, [0.006], [0.01], [(None, None)]))
    v = CLAIMS["activations.trained_gain"].judge({"trained": json.loads(json.dumps(rows))}, {})
    assert v.status == "info"
    got = {(pt["where"]["n_s"], pt["where"]["quantity"]): pt for pt in v.points}
    assert len(got) == 5  # the n_s = 64 model has no sampled row
    big = got[8192, "loss / L*"]["estimate"]
    assert big["value"] == pytest.approx(1.01) and big["lo"] < 1.01 < big["hi"]
    own = got[8192, "loss / Gaussian MMSE at own sigma"]
    assert own["estimate"]["value"] == pytest.approx((0.0100 / 0.0093 + 0.0102 / 0.0094) / 2)  # None dropped
    assert own["reference"] == 1.08
    assert got[8192, "row loss / exact row MMSE"]["estimate"]["value"] == pytest.approx(1.15)
    one_seed = got[64, "loss / L*"]["estimate"]
    assert one_seed["lo"] is None or math.isinf(one_seed["lo"])  # one seed: no interval
    assert GAUSSIAN.contains(got[8192, "loss / L*"]["where"]) and not GAUSSIAN.contains(got[64, "loss / L*"]["where"])


# ---- the stage end to end -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_the_stage_at_the_tiny_profile(tmp_path):
    from verify.profiles import get_profile
    from verify.report import run_report

    t0 = time.perf_counter()
    summary = run_report(get_profile("tiny"), tmp_path, only=["activations"], progress=False)
    seconds = time.perf_counter() - t0
    stage = json.loads((tmp_path / "stages" / "activations.json").read_text())["result"]
    assert (tmp_path / "activations_gain.png").stat().st_size > 10_000
    assert stage["seconds"] < 60, stage["seconds"]
    verdicts = {cl["id"]: cl for cl in summary["claims"]}
    assert verdicts["activations.constant_factor"]["status"] == "refuted"
    assert verdicts["activations.reduced_law"]["status"] == "sanity"
    assert verdicts["activations.gain_where_trained"]["status"] == "info"
    trained = verdicts["activations.trained_gain"]
    assert trained["status"] == "info"
    # tiny grid: n_s = 16, 32 on p = 0.05, 0.2 at r = 0.5, three quantities each (a sampled row per model)
    configs = {(pt["where"]["n_s"], pt["where"]["p"]) for pt in trained["points"]}
    assert configs == {(16, 0.05), (16, 0.2), (32, 0.05), (32, 0.2)}
    assert len(trained["points"]) == 12
    print(f"tiny report with the activations stage: {seconds:.1f} s (stage {stage['seconds']:.1f} s)")


def test_point_where_keys_render():
    """The exact claim's where holds a list (the window); the report's renderer takes it."""
    from verify.render import _where
    pt = Point(exact(0.47), 0.0, {"r": 0.1, "p window": [1e-20, 1e-12], "least at p": 1e-13})
    assert "p window = [1e-20, 1e-12]" in _where(dataclasses.asdict(pt)["where"])
