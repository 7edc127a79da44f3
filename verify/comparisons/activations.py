r"""The abstract's constant-factor claim: how much could any elementwise activation gain over the ReLU?

The paper (abstract): "changing or adding to the activation function any elementwise or filtering
operation can at best improve the model's performance by a constant factor"; sec. 4.3.2 and appendix E
argue it from two bounds, L < O(sigma^2 p log(1/p)) (eq. 9, E.1, the ReLU) and L >= C' p sigma^2 (eq. 33,
E.2, any function of x_i + nu_i), and conclude "L ~ O(p^2/r) up to logarithmic factors".

**What is measured.** In the large-n_s (Gaussian) theory a feature's decoder sees y = x + nu, nu ~
N(0, sigma^2), and every permutation-symmetric model of ratio r has sigma >= sigma_W(p, r) (Welch,
eq. 6). The ReLU's optimum there is L*(p, r) (``theory.optimal_loss``); the least loss of *any* function of
y is MMSE(p, sigma) (``theory.mmse_loss``; the posterior mean, itself an elementwise activation). So

    G(p, r) = L*(p, r) / MMSE(p, sigma_W(p, r))

is the factor by which the best elementwise activation beats the ReLU at the same interference: exact,
no sampling. (Also stored: L* / (p mmse_on(sigma_W)), the ratio to E.2's oracle that knows which
features are on: the bound for "filtering" operations in E.2's sense.)

**The asymptotic law** (derived by hand, checked against the numbers below and in the tests). Let p -> 0 at
fixed r, so sigma^2 = sigma_W^2 ~ p (1 - r) / (3 r) -> 0.

* MMSE / (p sigma^2) -> 1. An on-feature with u well inside [0, 1] has Var(u | y) = sigma^2; the features
  the decoder cannot tell from noise have u below the detection threshold t' = sigma tau',
  tau'^2 = 2 ln(1 / (p sigma sqrt(2 pi))), and cost p t'^3 / 3: a relative correction
  O(sigma tau'^3) = O(sqrt(p / r) ln^{3/2}(1/p)).
* The ReLU: write ReLU(a y + b) = a ReLU(y - theta), theta = sigma tau, a = 1 + c. The off-features cost
  (1 - p) a^2 sigma^2 psi_2(tau), psi_2(tau) = E[(z - tau)_+^2] = (1 + tau^2) Q(tau) - tau phi(tau)
  ~ 2 phi(tau) / tau^3. An on-feature with u > theta outputs a (u + nu - theta): its error has mean
  a theta - c u and variance a^2 sigma^2, and min_c int_0^1 (theta - c u)^2 du = theta^2 / 4 (at c = 3 theta / 2).
  Everything else (u < theta, the edge |u - theta| ~ sigma, a^2 - 1) is O(sigma tau^3) relative. So

      L* / (p sigma^2) = 1 + min_tau [psi_2(tau) / p + tau^2 / 4] + O(sigma tau^3)
                                                              (the reduced law, :func:`reduced_gain`).

  Its minimiser solves phi(tau) (1 + 3 / tau^2) = p tau^3 / 4, where the off term is 1 / (2 (1 + 3/tau^2)):
  tau^2 = 2 ln(1/p) - 3 ln(2 ln(1/p)) + 2 ln(4 / sqrt(2 pi)) + o(1). Hence

      G(p, r) = (1/2) ln(1/p) - (3/4) ln(2 ln(1/p)) + 3/2 + (1/2) ln(4 / sqrt(2 pi)) + O(ln ln(1/p) / ln(1/p)),

  the constant being 1.7337, independent of r at this order (:func:`asymptotic_gain`). The ReLU's loss is
  L* ~ (1/2) p sigma^2 ln(1/p), eq. 9's order with its constant, and the best elementwise decoder's is
  p sigma^2: the ratio grows without bound, like (1/2) ln(1/p). Numbers (``theory``, 2026-12): G = 12.63,
  14.82, 17.01, 19.22, 21.44 at p = 1e-12, 1e-14, ..., 1e-20 (every r to 4 digits); the reduced law agrees
  to 5e-3 absolute (p = 1e-12, r = 0.1) ... 1e-6 (p = 1e-20); the explicit law sits 0.10 ... 0.07 below it.
  L* / (p sigma^2 ln(1/p)) tends to 1/2 only as ln ln / ln: 0.457 at 1e-12, 0.466 at 1e-20, 0.488 at 1e-100
  (the reduced law; docs/theory.md section 10's "settles near 0.46" is this slow approach). Below about
  p = 1e-25 theory.optimal_loss loses accuracy (8e-5 relative at 1e-30, a factor 4 at 1e-50), hence the
  judged window stops at 1e-20.

So the claim as written (a factor independent of p) is false in the paper's own theory; what holds is the
weaker "up to logarithmic factors" of sec. 4.3.2: both losses scale as p^2/r, the ReLU pays one extra
ln(1/p), which is exactly the gap between eqs. 9 and 33 that the paper leaves open. Where models are
trained the factor is modest: G = 2.65, 3.09, 3.46 at p = 1e-4 and 1.02, 1.03, 1.13 at p = 0.1 (r = 0.1,
0.25, 0.5), and it already grows by 0.44-0.50 per unit ln(1/p) between p = 1e-3 and 1e-4.

**Trained models** (the grid's records): their loss against L*, against the Gaussian MMSE at their own sigma,
and one sampled row's exact loss against that row's exact elementwise MMSE (``theory.exact_mmse``, the
gain an activation could bring to the interference the model actually has), each a mean over seeds with
its t interval, beside G(p, r).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special

import theory
from numerics.plots import save_figure, subplots

from ..claims import Criterion, Point, Regime, claim, comparison
from ..stats import CONFIDENCE, exact, over_seeds
from ._common import GAUSSIAN, Context, group_by, mmse_at

__all__ = ["NAME", "R_CURVE", "ASYMPTOTIC_P", "TRAINED_RANGE_P", "ASYMPTOTIC_CONSTANT", "GROWTH", "REDUCED", "gain",
           "reduced_gain", "asymptotic_gain", "decade_growth", "trained_points", "draw_gain"]

NAME = "activations"

# ---- declared before any number of G was computed --------------------------------------------------------
#: the compression ratios of the theory curves (the grid's own r are added)
R_CURVE = (0.1, 0.25, 0.5)
#: where "as p -> 0" is judged: every decade from 1e-12 to 1e-20. Far below any trained p, deep in p << r
#: (sigma_W <= 2e-6, so the reduced law's dropped terms are below 1e-3 relative), and still well inside what
#: theory computes reliably (optimal_loss and mmse_loss are documented down to p = 1e-20, docs/theory.md 10)
ASYMPTOTIC_P = tuple(10.0 ** -k for k in range(12, 21))
#: where models are trained (the paper's p, the scaling grid's and the quick profile's, up to 0.5): shown
TRAINED_RANGE_P = (1e-4, 1e-3, 1e-2, 0.02, 0.045, 0.1, 0.2, 0.5)
#: 3/2 + (1/2) ln(4 / sqrt(2 pi)): the constant of the asymptotic law
ASYMPTOTIC_CONSTANT = 1.5 + 0.5 * math.log(4.0 / math.sqrt(2.0 * math.pi))

#: A ratio bounded by a constant has a growth per unit ln(1/p) that tends to 0; the derived law
#: G ~ (1/2) ln(1/p) grows by 1/2 - 3 / (4 ln(1/p)) (0.47-0.48 in the window). 1/4 is half-way between the
#: two: the verdict says which of them the exact numbers follow. The least growth over the window's decades
#: is judged, so a single steep decade cannot refute the claim: the growth has to be sustained over 8 decades.
#: (Fixed after deriving the law and before computing G here; docs/theory.md section 10's table at r = 0.05,
#: from which L* / MMSE can be read at a few p, had been read.)
GROWTH = Criterion("at_most", 0.25, reason="1/4 per unit ln(1/p) is half-way between a bounded ratio (growth -> 0) "
                   "and the derived law (1/2) ln(1/p) (growth 1/2 - 3 / (4 ln(1/p)), 0.47-0.48 for p <= 1e-12); "
                   "the least growth over 8 decades is judged, so the growth must be sustained, not one steep decade")

#: The reduced law drops terms of relative order sigma tau'^3 (tau'^2 = 2 ln(1 / (p sigma)), the MMSE's
#: detection threshold in units of sigma): at most 1.3e-3 for p <= 1e-12, r >= 0.1. 1e-2 relative leaves a
#: factor of about 8 for the unknown coefficient, and G's growth per decade (about 1.1, 9 % of G at 1e-12) is
#: 9 times the tolerance: a toolkit off by enough to fake or hide that growth would show. (Set after
#: seeing, at p = 1e-12, r = 0.1, a difference of 4e-4 relative: an absolute 0.01 sketched before had less
#: room there; recorded so that a reader can weigh it.)
REDUCED = Criterion("within", 1e-2, relative=True, reason="the reduced law drops terms of relative order "
                    "sigma_W tau'^3 <= 1.3e-3 (p <= 1e-12, r >= 0.1); 1e-2 is 8 times that, and a ninth of G's "
                    "growth per decade, so an error that could fake or hide the growth would show")


# ---- theory -----------------------------------------------------------------------------------------------
def gain(p, r) -> dict:
    """G(p, r) = L*(p, r) / MMSE(p, sigma_W(p, r)) and its parts, vectorised over p and r (broadcast).

    Returns a dict of float arrays: sigma (Welch), L_star, mmse (Gaussian, at sigma_W), oracle
    (p mmse_on(sigma_W): E.2's decoder told which features are on), G = L_star / mmse and
    G_oracle = L_star / oracle."""
    p, r = np.broadcast_arrays(np.asarray(p, dtype=float), np.asarray(r, dtype=float))
    sigma = np.asarray(theory.welch_sigma(p, r), dtype=float)
    L = np.asarray(theory.optimal_loss(p, r), dtype=float)
    mmse = np.asarray(theory.mmse_loss(p, sigma), dtype=float)
    oracle = p * np.asarray(theory.mmse_on_loss(sigma), dtype=float)
    return {"sigma": sigma, "L_star": L, "mmse": mmse, "oracle": oracle, "G": L / mmse, "G_oracle": L / oracle}


def _psi2(tau: float) -> float:
    """E[(z - tau)_+^2] for z ~ N(0, 1), in the form that keeps its accuracy for large tau (erfcx)."""
    return math.exp(-0.5 * tau * tau) * ((1.0 + tau * tau) * 0.5 * special.erfcx(tau / math.sqrt(2.0))
                                         - tau / math.sqrt(2.0 * math.pi))


def reduced_gain(p) -> tuple[np.ndarray, np.ndarray]:
    """The p -> 0 reduction of G: 1 + min_tau [psi_2(tau) / p + tau^2 / 4] (the module's docstring), and
    the minimising tau (the ReLU's threshold in units of sigma). Independent of r; its error is
    O(sigma_W tau^3). Vectorised over p in (0, 1)."""
    p = np.asarray(p, dtype=float)
    if np.any(~(p > 0)) or np.any(p >= 1):
        raise ValueError("p must lie in (0, 1)")
    vals, taus = np.empty(p.shape), np.empty(p.shape)
    for i, q in np.ndenumerate(p):
        res = optimize.minimize_scalar(lambda t: _psi2(t) / q + 0.25 * t * t, bounds=(0.0, 40.0), method="bounded",
                                       options={"xatol": 1e-10})
        vals[i], taus[i] = 1.0 + res.fun, res.x
    return vals, taus


def asymptotic_gain(p):
    """(1/2) ln(1/p) - (3/4) ln(2 ln(1/p)) + 3/2 + (1/2) ln(4 / sqrt(2 pi)): G's law as p -> 0, up to
    O(ln ln(1/p) / ln(1/p)). Defined for p < exp(-1/2)."""
    p = np.asarray(p, dtype=float)
    if np.any(~(p > 0)) or np.any(p >= math.exp(-0.5)):
        raise ValueError("p must lie in (0, exp(-1/2))")
    L = np.log(1.0 / p)
    return 0.5 * L - 0.75 * np.log(2.0 * L) + ASYMPTOTIC_CONSTANT


def _curve_ps(extra=()) -> list[float]:
    """The curve's p: every half decade from 10^-0.5 to 1e-20, the shown and judged p, and ``extra`` (values
    within 1e-9 relative of one already there are dropped)."""
    out: list[float] = []
    for q in [*ASYMPTOTIC_P, *TRAINED_RANGE_P, *(float(x) for x in extra), *(10.0 ** (-k / 2) for k in range(1, 41))]:
        if 0 < q < 1 and all(abs(q - x) > 1e-9 * q for x in out):
            out.append(q)
    return sorted(out)


def _f(v) -> float:
    """A stored number as a float: None (NaN in JSON) becomes NaN."""
    return math.nan if v is None else float(v)


# ---- the stage ----------------------------------------------------------------------------------------------
@comparison(NAME, "The constant-factor claim: the best elementwise activation against the ReLU", needs_grid=True)
def activations(ctx: Context):
    records = ctx.records or []
    grid_rs = {float(rec["r"]) for rec in records} | set(getattr(ctx.profile, "grid_rs", ()))
    grid_ps = {float(rec["p"]) for rec in records} | set(getattr(ctx.profile, "grid_ps", ()))
    ps = _curve_ps(grid_ps)
    curves = []
    for r in sorted(set(R_CURVE) | grid_rs):
        g = gain(ps, r)
        curves.append({"r": r, "p": ps} | {k: v.tolist() for k, v in g.items()})
    G_red, tau = reduced_gain(ASYMPTOTIC_P)
    law_ps = [q for q in ps if q < 0.5]
    asymptotic = {"p": list(ASYMPTOTIC_P), "G_reduced": G_red.tolist(), "tau": tau.tolist(),
                  "law_p": law_ps, "G_law": asymptotic_gain(law_ps).tolist(), "constant": ASYMPTOTIC_CONSTANT}
    G_at = {key: float(gain(*key)["G"]) for key in {(float(rec["p"]), float(rec["r"])) for rec in records}}
    trained = []
    for rec in records:
        p, r, n_s = float(rec["p"]), float(rec["r"]), int(rec["n_s"])
        sigma = (rec.get("macroscopic") or {}).get("sigma_rms", math.nan)
        sigma = math.nan if sigma is None else float(sigma)
        loss = rec.get("exact_loss")
        loss = float(rec["loss"]) if loss is None else float(loss)
        trained.append({
            "n_s": n_s, "p": p, "r": r, "seed": rec.get("seed", 0), "loss": loss,
            "loss_is_exact": rec.get("exact_loss") is not None, "sigma": sigma,
            "welch_sigma": float(theory.welch_sigma(p, r)), "L_star": float(theory.optimal_loss(p, r)),
            "mmse_own_sigma": mmse_at(p, sigma), "G_theory": G_at[p, r],
            "mmse_rows": [{"row": m["row"], "loss": m["loss"], "mmse": m["mmse"]}
                          for m in (rec.get("exact_mmse_rows") or [])],
        })
    data = {"curves": curves, "asymptotic": asymptotic, "asymptotic_window": [min(ASYMPTOTIC_P), max(ASYMPTOTIC_P)],
            "trained_range_p": list(TRAINED_RANGE_P), "trained": trained}
    return data, [draw_gain(data, ctx.out / "activations_gain.png")]


# ---- reading the stage ----------------------------------------------------------------------------------------
def _at(curve: dict, ps) -> list[tuple[float, int]]:
    """(p, index) of the curve's points at the given p (matched to 1e-9 relative), in the order of ``ps``."""
    out = []
    for q in ps:
        idx = [i for i, x in enumerate(curve["p"]) if abs(x - q) <= 1e-9 * q]
        if idx:
            out.append((q, idx[0]))
    return out


def decade_growth(curve: dict, ps=ASYMPTOTIC_P) -> list[dict]:
    """The growth of G per unit ln(1/p) between consecutive p of ``ps`` (largest p first)."""
    pts = sorted(_at(curve, ps), key=lambda t: -t[0])
    out = []
    for (p0, i0), (p1, i1) in zip(pts, pts[1:]):
        dG = curve["G"][i1] - curve["G"][i0]
        out.append({"p_from": p0, "p_to": p1, "growth": dG / math.log(p0 / p1)})
    return out


def trained_points(data: dict) -> list[Point]:
    """Per (n_s, p, r), means over seeds: loss / L*, loss / Gaussian MMSE at the model's own sigma, and a
    sampled row's exact loss / its exact elementwise MMSE (where stored)."""
    out = []
    for (n_s, p, r), rows in group_by(data.get("trained", []), "n_s", "p", "r").items():
        where = {"n_s": n_s, "p": p, "r": r, "p_n_s": p * n_s}
        G = _f(rows[0]["G_theory"])
        ratio = [_f(row["loss"]) / row["L_star"] for row in rows]
        out.append(Point(over_seeds(ratio, "mean over seeds of loss / L*, t"), 1.0, where | {"quantity": "loss / L*"}))
        own = [_f(row["loss"]) / _f(row["mmse_own_sigma"]) if _f(row["mmse_own_sigma"]) > 0 else math.nan
               for row in rows]
        out.append(Point(over_seeds(own, "mean over seeds of loss / MMSE(p, own sigma), t"), G,
                         where | {"quantity": "loss / Gaussian MMSE at own sigma"}))
        ex = [float(np.mean([_f(m["loss"]) / _f(m["mmse"]) for m in row["mmse_rows"]])) for row in rows
              if row.get("mmse_rows")]
        if ex:
            out.append(Point(over_seeds(ex, "mean over seeds of a row's exact loss / its exact MMSE, t"), G,
                             where | {"quantity": "row loss / exact row MMSE"}))
    return out


# ---- claims ----------------------------------------------------------------------------------------------------
_ABSTRACT = ("\"changing or adding to the activation function any elementwise or filtering operation can at best "
             "improve the model's performance by a constant factor\"")


@claim(NAME, "activations.constant_factor", kind="exact",
       statement=_ABSTRACT + ": read as written, in the paper's own large-n_s theory, the best elementwise "
       "activation beats the ReLU by a factor bounded independently of p as p -> 0.",
       source="abstract; sec. 4.3.2 and appendix E (eqs. 9, 24 and 33)",
       quantity="the least growth of G(p, r) = L*(p, r) / MMSE(p, sigma_W(p, r)) per unit ln(1/p) over the decades "
       "from p = 1e-12 to 1e-20, per r (exact: theory.optimal_loss and theory.mmse_loss; the posterior mean is an "
       "elementwise activation reaching MMSE on the rug's Gaussian interference)",
       reference="0 (a bounded ratio's growth dies out); the derived law (1/2) ln(1/p) grows by 0.47-0.48",
       criterion=GROWTH,
       regime=Regime(r=(0.1, 0.5), reason="p -> 0 at each fixed r of the curves: the decades 1e-12 ... 1e-20, p << r, "
                     "sigma_W <= 2e-6"))
def _constant_factor(data, profile):
    out = []
    for curve in data["curves"]:
        if curve["r"] not in R_CURVE:
            continue
        growth = decade_growth(curve)
        if growth:
            least = min(growth, key=lambda g: g["growth"])
            out.append(Point(exact(least["growth"], "exact (theory), least over the decades"), 0.0,
                             {"r": curve["r"], "p window": data["asymptotic_window"], "least at p": least["p_to"]}))
    return out


@claim(NAME, "activations.reduced_law", kind="sanity",
       statement="The toolkit's exact G(p, r) follows its p -> 0 reduction 1 + min_tau [psi_2(tau) / p + tau^2 / 4] "
       "(derived in this module; a check of theory.optimal_loss and theory.mmse_loss at small p, not of the paper).",
       source="toolkit (docs/theory.md: the constant-factor asymptotics)",
       quantity="G(p, r) at p = 1e-12 ... 1e-20, every r of the curves",
       reference="the reduced law (scipy.optimize over tau, scipy.special.erfcx)", criterion=REDUCED)
def _reduced(data, profile):
    asym = data["asymptotic"]
    red = dict(zip(asym["p"], asym["G_reduced"]))
    out = []
    for curve in data["curves"]:
        for q, i in _at(curve, asym["p"]):
            out.append(Point(exact(curve["G"][i]), red[q], {"p": q, "r": curve["r"]}))
    return out


@claim(NAME, "activations.gain_where_trained", kind="info",
       statement=_ABSTRACT + ": what the factor is where models are trained (p from 1e-4 to 0.5).",
       source="abstract; sec. 4.3.2",
       quantity="G(p, r) = L*(p, r) / MMSE(p, sigma_W(p, r)) (exact)", reference="1 (no gain)",
       criterion=Criterion("within"))
def _where_trained(data, profile):
    out = []
    for curve in data["curves"]:
        if curve["r"] not in R_CURVE:
            continue
        for q, i in _at(curve, data["trained_range_p"]):
            out.append(Point(exact(curve["G"][i]), 1.0, {"p": q, "r": curve["r"]}))
    return out


@claim(NAME, "activations.trained_gain", kind="info",
       statement="Trained models: how far their loss is from L*, from the Gaussian MMSE at their own interference, "
       "and from the exact elementwise MMSE of one sampled row (what the best elementwise activation would gain on "
       "the interference the model actually has), beside the theory's G(p, r).",
       source="abstract (\"near-optimal among recently proposed architectures\"); theory.exact_mmse",
       quantity="per (n_s, p, r), means over seeds: loss / L*; loss / MMSE(p, own sigma); row loss / exact row MMSE",
       reference="1 for loss / L*; G(p, r) for the two gains (a large model at the theory's optimum has both = G)",
       criterion=Criterion("within"), regime=GAUSSIAN)
def _trained(data, profile):
    return trained_points(data)


# ---- the figure ----------------------------------------------------------------------------------------------
def draw_gain(data: dict, out) -> str:
    """G(p, r) against p (log x) for the curves' r with the asymptotic laws, and a zoom on the trained range
    with the trained models' gains (filled: in the Gaussian regime p n_s >= 100)."""
    fig, (ax, zoom) = subplots(1, 2, figsize=(12, 4.6))
    colours = {c["r"]: f"C{i}" for i, c in enumerate(data["curves"])}
    for c in data["curves"]:
        for a in (ax, zoom):
            a.semilogx(c["p"], c["G"], "-", color=colours[c["r"]], label=f"L* / MMSE, r = {c['r']:g}")
            a.semilogx(c["p"], c["G_oracle"], ":", color=colours[c["r"]], lw=1,
                       label=f"L* / (p mmse_on), r = {c['r']:g}" if a is ax else None)
    asym = data["asymptotic"]
    ax.semilogx(asym["law_p"], asym["G_law"], "k--", lw=1,
                label="(1/2) ln(1/p) - (3/4) ln(2 ln(1/p)) + 1.734")
    ax.semilogx(asym["p"], asym["G_reduced"], "kx", ms=5, label="reduced law 1 + min [psi_2 / p + tau^2 / 4]")
    ax.axvspan(*data["asymptotic_window"], color="0.9", zorder=0)
    ax.axvspan(min(data["trained_range_p"]), max(data["trained_range_p"]), color="C8", alpha=0.12, zorder=0)
    ax.axhline(1.0, color="0.5", lw=0.8)
    ax.set_xlabel("p")
    ax.set_ylabel("gain of the best elementwise activation over the ReLU")
    ax.set_title("G(p, r) = L* / MMSE at the Welch sigma (grey: where p -> 0 is judged)", fontsize=9)
    ax.legend(fontsize=7)
    ns = sorted({row["n_s"] for row in data.get("trained", [])})
    for k, pt in enumerate(trained_points(data)):
        q = pt.where["quantity"]
        if q == "loss / L*" or not math.isfinite(pt.estimate.value):
            continue
        j = ns.index(pt.where["n_s"])
        x = pt.where["p"] * 1.07 ** (j - (len(ns) - 1) / 2)
        lo, hi = pt.estimate.interval(CONFIDENCE)
        lo, hi = (pt.estimate.value, pt.estimate.value) if not (math.isfinite(lo) and math.isfinite(hi)) else (lo, hi)
        inside = GAUSSIAN.contains(pt.where)
        marker = "o" if q.startswith("loss") else "^"
        zoom.errorbar([x], [pt.estimate.value], yerr=[[pt.estimate.value - lo], [hi - pt.estimate.value]],
                      fmt=marker, color=colours.get(pt.where["r"], "k"), mfc=None if inside else "white", ms=5,
                      label=None)
    zoom.plot([], [], "ko", mfc="white", label="trained: loss / Gaussian MMSE(own sigma)")
    zoom.plot([], [], "k^", mfc="white", label="trained: row loss / exact row MMSE")
    if ns:
        zoom.set_title(f"trained range; trained n_s = {', '.join(map(str, ns))} (filled: p n_s >= 100)", fontsize=9)
    lo_p = min(data["trained_range_p"]) * 0.7
    shown = [v for c in data["curves"] for key in ("G", "G_oracle") for q, v in zip(c["p"], c[key])
             if q >= lo_p and v is not None and math.isfinite(v)]
    shown += [pt.estimate.value for pt in trained_points(data) if math.isfinite(pt.estimate.value)]
    zoom.set_xlim(lo_p, 0.7)
    zoom.set_ylim(0, 1.1 * max(shown + [1.5]))
    zoom.axhline(1.0, color="0.5", lw=0.8)
    zoom.set_xlabel("p")
    zoom.legend(fontsize=7)
    save_figure(fig, out)
    return out.name
