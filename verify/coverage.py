"""Coverage: every checkable claim of both source texts, and what judges it or why nothing does.

One concept in one module (hence its length, mostly the table of entries).

:data:`ENTRIES` lists the statements of the Persian Rug paper (``text="paper"``) and of the
sparse-coding interim report (``text="sae-report"``): where the text says it, a short quote, and either
the registered claims that judge it (``judged_by``, ids of :data:`verify.claims.CLAIMS`) or the
``reason`` it is not judged. A reason starts with one of :data:`REASONS`:

- ``planned:`` a claim is being written for it in ``verify/comparisons/<planned>.py`` (issue 15);
- ``judged elsewhere:`` a unit test checks it (a statement of mathematics or of the toolkit's
  implementation, not something a trained model can show);
- ``not built:`` checkable, but this toolkit has nothing that measures it (the reason says what would);
- ``not checkable:`` a definition, a procedure or a picture.

The table in docs/verify.md is generated from this list joined with the registry
(:func:`coverage_table_markdown`; ``python -m verify coverage --write``), so it cannot go stale:
tests/test_verify_coverage.py compares the two and runs :func:`check_coverage`, which refuses a
``judged_by`` id that is not registered and a registered claim of the paper (kind ``paper`` or
``exact``, :data:`COVERED_KINDS`) that no entry names. Such a claim in a module that a planned entry
names is reported apart (kind ``planned_arrived``): the planned entry is to be filled in, nothing is wrong.

Every function takes the registry (``claims``) and the list (``entries``) as optional arguments; by
default the registered claims and :data:`ENTRIES`.
"""

from __future__ import annotations

import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

__all__ = ["TEXTS", "REASONS", "COVERED_KINDS", "Entry", "Problem", "ENTRIES", "DOCS", "BEGIN", "END",
           "coverage_rows", "coverage_counts", "coverage_table_markdown", "coverage_problems",
           "check_coverage", "docs_block", "replace_docs_block", "write_docs_block"]

#: the two source texts
TEXTS = {"paper": "The Persian Rug (paper)",
         "sae-report": "Taking features out of superposition with sparse autoencoders (interim report)"}
#: how the reason of an entry that no claim judges starts
REASONS = ("planned:", "judged elsewhere:", "not built:", "not checkable:")
#: the kinds of registered claims that state something of a text and must be named by an entry
#: (sanity and info claims check or describe the toolkit)
COVERED_KINDS = ("paper", "exact")
#: the page holding the generated table, and its markers
DOCS = Path(__file__).resolve().parent.parent / "docs" / "verify.md"
BEGIN = "<!-- coverage:begin -->"
END = "<!-- coverage:end -->"


@dataclass(frozen=True)
class Entry:
    """One checkable statement of a text: ``key`` (unique, stable), ``text`` (a key of :data:`TEXTS`),
    ``where`` (section, figure, appendix), ``quote`` (short, the text's words where possible), and
    either ``judged_by`` (claim ids) or ``reason``; ``planned`` names the module of
    ``verify/comparisons`` a planned claim goes to; ``note`` qualifies a judged entry."""

    key: str
    text: str
    where: str
    quote: str
    judged_by: tuple = ()
    reason: str = ""
    planned: str = ""
    note: str = ""

    @property
    def status(self) -> str:
        """judged, planned or not judged."""
        if self.judged_by:
            return "judged"
        return "planned" if self.planned else "not judged"


@dataclass(frozen=True)
class Problem:
    """What :func:`check_coverage` refuses: ``kind`` (malformed, unknown_id, uncovered, planned_arrived),
    ``subject`` (an entry's key or a claim's id) and a one-line ``message``."""

    kind: str
    subject: str
    message: str


def _planned(module: str, what: str) -> dict:
    return {"planned": module, "reason": f"planned: issue 15, verify/comparisons/{module}.py ({what})"}




def _p(key, where, quote, *judged_by, **kw) -> Entry:
    return Entry("paper/" + key, "paper", where, quote, tuple(judged_by), **kw)


def _s(key, where, quote, *judged_by, **kw) -> Entry:
    return Entry("sae/" + key, "sae-report", where, quote, tuple(judged_by), **kw)


_SYM = "judged elsewhere: tests/test_symmetry.py"

#: every checkable statement of both texts, in the texts' order
ENTRIES: tuple = (
    # ------------------------------------------------------------------ the Persian Rug paper
    _p("large-scale-statistics", "abstract; sec. 3.3; sec. 4.1, eqs. 4-5",
       "large models reliably learn an algorithm that is sensitive to individual weights only through "
       "their large-scale statistics; three relevant degrees of freedom remaining: b, a, and σ",
       "bounds.theory_explains_trained_loss",
       note="the macroscopic loss at each row's own (a_i, b_i, σ_i) against the trained model's loss"),
    _p("constant-factor", "abstract; sec. 4 (opening)",
       "changing or adding to the activation function any elementwise or filtering operation can at best "
       "improve the model's performance by a constant factor; ReLU performs near optimally among element-wise "
       "or \"selection\" decoders", "activations.constant_factor", "activations.gain_where_trained", "activations.trained_gain",
       note="elementwise decoders: refuted as a constant, the gain G = L*/MMSE grows like (1/2) ln(1/p)"),
    _p("same-performance", "abstract; sec. 1; sec. 4 (opening)",
       "its loss precisely matches that of the trained models; the trained models achieve the same "
       "performance as the artificial model",
       "bounds.trained_matches_rug"),
    _p("optimal-among-symmetric", "sec. 1; sec. 4 (opening)",
       "trained models also implement the optimal permutation symmetric algorithm; they are optimal even "
       "restricting to statistically symmetric solutions",
       "bounds.trained_not_below_Lstar", "bounds.large_ns_at_optimum", "bounds.approaches_optimum"),
    _p("rug-oblivious", "abstract; fig. 1",
       "the low randomness in the artificial weights results in miraculous fractal structures resembling a "
       "Persian rug, to which the algorithm is oblivious",
       "fig2.rug_matches_theory",
       note="a rug with random columns S attains L*, a function of (a, b, σ) alone"),
    _p("rug-picture", "fig. 1; sec. 4.2.2", "a Persian Rug matrix for n_s = 256, n_d = 40, S chosen randomly",
       reason="not checkable: a picture (python -m numerics rug draws it)"),
    _p("data-law", "sec. 2",
       "x_i = c_i u_i, where c_i ~ Bernoulli(p) and u_i ~ Uniform[0, 1] are independent; typically only "
       "p n_s features turned on",
       reason="not checkable: a definition (the generator follows it: tests/test_data.py)"),
    _p("training-recipe", "sec. 2; appendix G",
       "batch size of 1024 and the Adam optimizer to completion: as long as the average loss over the past "
       "200 batches is lower than over the 200 before; learning rate 3 × 10^-3/sqrt(n_s)",
       reason="not checkable: a procedure (numerics.train follows it: docs/training.md, tests/test_train.py)"),
    _p("linear-decreases-linearly", "sec. 2",
       "for the linear model ... the reconstruction loss decreases linearly in the hidden dimension n_d when "
       "all features are i.i.d.",
       reason="judged elsewhere: tests/test_train.py (a trained linear model reaches (1 − r) Var x) and "
              "tests/test_symbolic.py (TestLinearLoss)"),
    _p("beats-linear", "sec. 3.1, fig. 2",
       "the non-linear model dramatically outperforms the linear model ... the out-performance begins "
       "already for small ratios and continues up until much larger ratios",
       "fig2.trained_below_linear"),
    _p("coincide-at-one", "sec. 3.1", "(they must coincide again in the trivial case n_d/n_s = 1)",
       reason="judged elsewhere: tests/test_optimum.py (TestOptimalLoss.test_limits: L*(p, 1) = 0, the linear "
              "loss at r = 1)"),
    _p("p-sets-the-fall", "sec. 3.1, fig. 2",
       "the slope and duration of this initial fall is controlled by p (section 4.3)", "fig2.initial_fall_set_by_p", "fig2.initial_fall_theory"),
    _p("fast-drop", "sec. 3.1; sec. 4.3.1",
       "in the high-sparsity regime (p close to zero), the loss drops very quickly near the n_d/n_s ≈ 0 "
       "regime; increasing r will quickly cause the loss to drop to O(p^2)", "fig2.initial_fall_set_by_p", "fig2.initial_fall_theory",
       note="the faster fall at smaller p; the O(p^2) level is p2_over_r_scaling's"),
    _p("fig3-diagonal", "fig. 3 caption",
       "The diagonal components are all at similar values of 1.29 ± .01 (one standard deviation)",
       "fig3.diagonal", "fig3.diagonal_spread"),
    _p("fig3-bias", "fig. 3 caption", "The bias elements are all negative around −.18 ± .01", "fig3.stored_bias"),
    _p("fig3-off-diagonal", "fig. 3 caption",
       "the off-diagonal components are approximately mean-zero, appearing like noise",
       reason="not built: no claim measures the mean of the off-diagonal entries (E ν_i, their row sums "
              "times p, is judged for uniformity across rows, not for being zero; it is absorbed into the "
              "bias)"),
    _p("diagonal-uniform", "sec. 3.2 (a); figs 4, 9", "the diagonal elements become the same",
       "symmetry.delta_diag_shrinks", "symmetry.delta2_diag_shrinks"),
    _p("bias-uniform", "sec. 3.2 (b); figs 5, 10", "the bias elements become the same",
       "symmetry.delta_bias_shrinks", "symmetry.delta2_bias_shrinks"),
    _p("bias-negative", "sec. 3.2 (b)", "[the bias elements become] uniformly negative", "fig3.stored_bias",
       note="at fig. 3's point (n_s = 512) only"),
    _p("gaussian-interference", "sec. 3.2 (c); eq. 3; fig. 8",
       "In fig. 8, we plot Λ and show it tends to 0 as n_s grows larger", "symmetry.lambda_shrinks"),
    _p("berry-esseen", "sec. 3.2, eq. 3",
       "Λ, up to a constant factor that depends on the first three moments of x, is a measure of how far "
       "ν_i is from Gaussianity",
       reason=_SYM + " (TestLambda, TestGaussianity: a rug's interference is near Gaussian, one large "
                     "entry's is not)"),
    _p("mean-nu-uniform", "sec. 3.2 (d); figs 6, 11",
       "the corresponding Gaussians are equal in distribution across rows (their means E ν_i)",
       "symmetry.delta_mean_nu_shrinks", "symmetry.delta2_mean_nu_shrinks"),
    _p("var-nu-uniform", "sec. 3.2 (d); figs 7, 12",
       "the corresponding Gaussians are equal in distribution across rows (their variances Var ν_i)",
       "symmetry.delta_var_nu_shrinks", "symmetry.delta2_var_nu_shrinks"),
    _p("var-nu-at-8192", "fig. 7 caption",
       "Once n_s reaches 8192 all noise variables have nearly identical variances",
       "symmetry.delta_var_nu_shrinks", note="the fall with n_s is judged; 'nearly identical' sets no level"),
    _p("symmetry-over-the-plane", "figs 4-12 captions",
       "The emergence of symmetry as n_s grows (at all locations in the diagram); the fluctuation over bias "
       "elements generally decreases in all trained models", "symmetry.delta_diag_shrinks", "symmetry.delta_bias_shrinks",
       "symmetry.delta_mean_nu_shrinks", "symmetry.delta_var_nu_shrinks", "symmetry.delta2_diag_shrinks",
       "symmetry.delta2_bias_shrinks", "symmetry.delta2_mean_nu_shrinks", "symmetry.delta2_var_nu_shrinks",
       note="each trend judged at every (p, r) of the grid"),
    _p("fig8-small-ns", "fig. 8 caption",
       "for small n_s only models trained at large p have nearly-uniform off-diagonal entries whereas all "
       "models approach uniformity at large n_s", "symmetry.fig8_large_p_first", "symmetry.lambda_shrinks"),
    _p("essentially-the-same", "sec. 3.3; sec. 4.2.2; fig. 2",
       "we compare the loss curve of this artificial model with that of a trained model, and see that they "
       "are essentially the same",
       "fig2.trained_matches_rug", "fig2.trained_matches_theory"),
    _p("essentially-the-same-r-half", "sec. 4.2.2; sec. 3.3; fig. 2 at r ≥ 1/2",
       "essentially the same (the trained and rug curves of fig. 2 where trained models are antipodal "
       "pairs)", "pairs.trained_matches_rug", "pairs.gap_closes", "pairs.trained_matches_structured",
       "pairs.rows_pair_up", note="the r >= 1/2 question: trained models at several n_s against the rug, L* and the "
       "structured solutions"),
    _p("mean-absorbed", "sec. 4.1",
       "we may assume ν is mean zero because its mean can be absorbed into the bias b",
       "fig3.effective_bias_is_theory_b"),
    _p("on-off-split", "sec. 4.1", "L = (1 − p) L_off + p L_on",
       reason="judged elsewhere: tests/test_loss.py (test_decomposition_and_nonnegativity)"),
    _p("monotone-in-sigma", "sec. 4.2; sec. 4.2.1", "the loss should be monotonically increasing with σ",
       reason="judged elsewhere: tests/test_optimum.py (test_orderings_on_a_grid: L* falls as r grows, so "
              "it rises with the Welch σ)"),
    _p("welch-bound", "sec. 4.2.1, eq. 6; appendix D, eq. 18",
       "σ^2 ≥ (4p − 3p^2)/12 (n_s/n_d − 1)", "bounds.welch", "welch.lowrank_above",
       note="a theorem: checked as the toolkit's sanity on every trained model and on random low-rank matrices"),
    _p("welch-equality", "sec. 4.2.1, eqs. 6-7; appendix D, eq. 19",
       "with equality only when W is symmetric, maximum rank, with all non-zero eigenvalues equal; "
       "W ∝ O P O^T and W_ii = 1", "welch.rug_equality",
       note="equal-eigenvalue frames too: tests/test_verify.py"),
    _p("tight-frame", "sec. 4.2.1", "Tr(W)^2 = n_s^2 = n_d Tr W W^†", "rug.row_squares",
       note="for the rug it follows from R_ii = 1 and the row sums of squares"),
    _p("variance-identity", "appendix D, eq. 16",
       "mean_i Var ν_i = (4p − 3p^2)/(12 n_s) (Tr(W W^†) − n_s)",
       reason="judged elsewhere: tests/test_symbolic.py (TestWelchBound.test_row_variance_identity; "
              "Var x = (4p − 3p^2)/12 in TestFeatureMoments)"),
    _p("rug-diagonal", "sec. 4.2.2; appendix F, eq. 35", "R_ii = 1", "rug.diagonal"),
    _p("rug-row-squares", "appendix F, eqs. 36-41", "sum_{j≠i} R_ij^2 = n_s/n_d − 1", "rug.row_squares"),
    _p("rug-projector", "sec. 4.2.2; appendix F, eqs. 42-45", "The matrix R is a projector; R^2 = R",
       "rug.projector", "rug.scaled_projector"),
    _p("rug-proportional-projector", "appendix F", "R is proportional to a projector", "rug.scaled_projector"),
    _p("rug-saturates", "sec. 4.2.2", "Therefore R saturates eq. (6)", "welch.rug_equality"),
    _p("rug-off-diagonal-symmetry", "sec. 4.2.2; appendix F",
       "it exactly satisfies the symmetry for off-diagonal terms as well", "rug.row_squares",
       note="the row sums (E ν_i) too: tests/test_symmetry.py (a rug's spreads are exactly 0)"),
    _p("rug-attains-optimum", "sec. 4.2; sec. 4.2.2",
       "construct an artificial set of statistically permutation symmetric weights which achieve this bound; "
       "there remain two variables to optimize, a and b", "fig2.rug_matches_theory"),
    _p("r0-limit", "sec. 4.3.1, eq. 8", "lim_{r→0} L = p E_u[u^2] + O(p^2) = p/3 + O(p^2)",
       reason="judged elsewhere: tests/test_scaling.py (TestSmallR: the limit Var x = p/3 − p^2/4 and eq. 8's "
              "leading term)"),
    _p("upper-bound", "sec. 4.3.2, eq. 9; appendices C, E.1",
       "L < O(σ^2 p log 1/p) ~ O(p^2/r log 1/p) when p is small and when r ≫ p; for r/p ≫ 1, L(p)/p → 0",
       "scaling.p_exponent", "scaling.r_exponent",
       note="the exponents with the power of log(1/p) at 1; the ansatz itself: tests/test_scaling.py"),
    _p("lower-bound", "sec. 4.3.2; appendix E.2, eq. 33",
       "any function which acts element-wise or filters out elements will give an on-loss [with] a lower "
       "bound; L ≥ C′ p σ^2 ≈ C′ p^2/r",
       "fig2.mmse_below_rug", "fig2.mmse_below_trained", "bounds.exact_mmse_below_trained"),
    _p("p2-over-r", "sec. 4.3.2; appendix I, fig. 15",
       "L ~ O(p^2/r) up to logarithmic factors whenever p/r ≪ 1", "scaling.p_exponent", "scaling.r_exponent"),
    _p("log-slope", "appendix I, fig. 15",
       "The linear relationship with a slightly decreasing slope with p suggests the p^2 log(1/p)/r bound is "
       "correct",
       reason="not checkable: over the grid's 1.7 decades of p, log log(1/p) is nearly collinear with log p, "
              "so a fitted power of the logarithm decides nothing (docs/verify.md, 'One decision taken after "
              "seeing data'); the exponents are judged with it fixed at 0 and at 1"),
    _p("a-opt-to-one", "appendix E.1",
       "ν has both a mean and variance approaching 0, and a_opt → 1",
       reason="not built: no claim or test; theory.optimal_ab at p → 0 with r fixed would decide it"),
    _p("optimal-a", "appendix B, eq. 13",
       "a_opt = E[x ReLU(x + ν + b)] / E[ReLU(x + ν + b)^2]; the optimal a is always positive",
       reason="judged elsewhere: tests/test_optimum.py (TestOptimalA) and tests/test_symbolic.py (TestOptimalA)"),
    _p("no-negative-diagonal", "appendix B",
       "we never see negative off-diagonal elements in our trained models",
       reason="not built: read as 'diagonal' (off-diagonal entries are mean-zero, fig. 3); no claim measures "
              "the sign of a trained W_ii (fig3.diagonal judges its value at one point)"),
    _p("h-diagonal-groups", "appendix H, fig. 13 (α = 1/2)",
       "The terms within each group are close to uniform whereas the two groups have somewhat different means "
       "with the important features having slightly larger diagonal entries", "appendix_h.important_diagonal_larger"),
    _p("h-noise-groups", "appendix H, fig. 13 (α = 1/2)",
       "the variance of ν_i is almost uniform inside each group, and smaller for the more important features",
       "appendix_h.noise_on_less_important"),
    _p("h-give-up", "appendix H, fig. 14",
       "Around α ≈ .25 (for this set of parameters) the model begins to give up entirely on encoding the "
       "less important features", "appendix_h.gives_up_near_quarter", "appendix_h.half_dead_alpha"),
    _p("h-smooth-near-one", "appendix H, fig. 14",
       "The model breaks symmetry smoothly near α = 1; as α becomes smaller the model initially decreases "
       "the signal strength, and increases the noise associated with the less important group", "appendix_h.converges_near_one", "appendix_h.less_important_near_one"),
    _p("dominant-error", "sec. 5.1.1",
       "the dominant source of error is not from determining which features are present, but rather the "
       "actual values of those features",
       reason="not built: the split of L* into (1 − p) L_off and p L_on at the optimum would decide it"),
    _p("sae-architectures", "sec. 5.1.1",
       "Small modifications to the activation functions, such as gating, k-sparse, or TRec non-linearity, "
       "are insufficient to fix this problem", reason="not built: a gate, top-k or TRec reads other coordinates; activations.constant_factor "
              "covers elementwise decoders only"),
    _p("variance-not-incoherence", "sec. 5.1.1",
       "the relevant error parameter is not the incoherence max_{i≠j} |W_ij| but rather the variance of "
       "off-diagonal elements in each row", "bounds.theory_explains_trained_loss",
       note="the row variance explains the loss; no claim shows that the incoherence does not"),
    _p("convex-decoders", "sec. 5.1.2",
       "convex optimization techniques achieve zero loss while a linear + ReLU model necessarily incurs an "
       "error",
       reason="not built: no convex decoder here (that L* > 0 for r < 1: tests/test_optimum.py)"),
    # ------------------------------------------------------------------ the sparse-coding report
    _s("recovers", "TL;DR; introduction",
       "training a single layer autoencoder ... with an L1 penalty on hidden activations ... actually "
       "recovers the ground truth features that generated the data", "sae.goldilocks_peak",
       note="where the recovery peaks is judged; no claim sets a level for 'recovers' (tests/test_sae.py "
            "trains one on easy data)"),
    _s("generator", "Methods: toy dataset generation",
       "G=512 independent samples from a h-dimensional sphere ... h=256; the sparse coefficients linearly "
       "combine a sparse selection of the ground truth features",
       reason="not checkable: a definition (numerics.sae follows it: tests/test_sae.py, TestGenerator)"),
    _s("five-active", "Methods: toy dataset generation",
       "on average 5 out of G ground truth features are active at a time",
       reason="judged elsewhere: tests/test_sae.py (TestGenerator: the mean count at the report's settings)"),
    _s("correlated", "Methods: toy dataset generation",
       "when one feature is active, another is more likely to be active",
       reason="judged elsewhere: tests/test_sae.py (TestGenerator: the activities' correlations follow the "
              "latent ones)"),
    _s("decayed", "Methods: toy dataset generation",
       "the probability of the gth feature is pg=(p′g)gλ where λ=0.99 [read: p′_g λ^g]", reason="judged elsewhere: tests/test_sae.py (TestDecayedAndRescaledLaw: the marginals k lambda^g / 2 "
              "against sampling)"),
    _s("rescaled", "Methods: toy dataset generation",
       "we multiplied each probability by this ratio to rescale them, ensuring that on average 5 out of G "
       "ground truth features are active", reason="judged elsewhere: tests/test_sae.py (TestDecayedAndRescaledLaw: both readings, expected and "
              "per-sample, against their exact laws)"),
    _s("architecture", "Methods: sparse autoencoder architecture and training",
       "c = ReLU(W_e x + b_e); D's columns constrained to have unit norm; L = 1/h ||x − Dc||^2 + α/J |c|",
       reason="not checkable: a definition (tests/test_sae.py, TestModel)"),
    _s("mmcs", "Methods: MMCS", "MMCS = 1/G sum_g max_j CosineSim(D_j, F_g)",
       reason="not checkable: a definition (tests/test_sae.py, TestMMCS)"),
    _s("dead-neuron", "Method 1", "a dead neuron [is] one that didn't activate ... in the last T minibatches "
       "(T = 500 in toy data)", reason="not checkable: a definition (tests/test_sae.py, TestDeadNeurons)"),
    _s("goldilocks", "'The L1 penalty coefficient needs to be just right', fig. 1; 'Finding the right "
       "hyperparameters'",
       "The range of acceptable L1 penalties is wide ... from around 0.03 to around 0.3; (Dict Size 1.0; "
       "L1 coeff 0.03 to 0.3) are optimal", "sae.goldilocks_peak"),
    _s("up-to-8x", "'We need more learned features than ground truth features', fig. 2",
       "we can almost completely recover the true ground features using dictionaries that are between 1-8× "
       "the size of the ground truth dictionary, with the MMCS only slowly decreasing", "sae.recovery_up_to_8x", note="ratio 8 runs in the paper profile only"),
    _s("l1-grows-with-size", "'Optimal L1 penalty coefficient interacts with optimal dictionary size', fig. 3",
       "it turns out that you need large L1 penalties for larger dictionaries",
       reason="not built: the sae_recovery stage holds MMCS over ratio × L1; no claim reads the best L1 per "
              "ratio"),
    _s("no-dead-within", "Method 1, fig. 4",
       "dead neurons almost never arose when the number of learnable features was fewer than or equal to the "
       "number of ground truth features", "sae.no_dead_within_boundary"),
    _s("dead-beyond", "Method 1, fig. 4",
       "dead neurons begin to appear when either the L1 penalty coefficient is too high or the dictionary "
       "size is too big", "sae.dead_beyond_boundary"),
    _s("dead-boundary-in-range", "Method 1, fig. 4",
       "the largest dictionary with the largest L1 penalty coefficient that has no dead neurons (Dict Size "
       "1.0; L1 coeff 0.177) lies perfectly within our desired hyperparameter range",
       "sae.no_dead_within_boundary", "sae.dead_beyond_boundary", "sae.goldilocks_peak"),
    _s("low-loss-poor-recovery", "Method 2",
       "The autoencoders can get low reconstruction loss but poor ground truth feature-recovery when the L1 "
       "penalty coefficient is too low", reason="not built: no claim reads the reconstruction loss against recovery"),
    _s("reconstruction-basin", "Method 2, fig. 5",
       "there is a basin where the reconstruction loss remains roughly constant even though L1 is "
       "increasing. When the L1 penalty coefficient becomes too high, the reconstruction loss sees a massive "
       "jump", reason="not built: no claim reads a basin's flatness itself; the selection rule built on it is "
              "judged (sae.sticky_alpha_at_ratio_1)"),
    _s("l1-basin", "Method 2, fig. 6",
       "a similar basin in the final L1 regularization loss before it drops off to 0 ... In the region where "
       "both basins coincide, MMCS is high", "sae.sticky_alpha_at_ratio_1"),
    _s("ssll-peaks", "Method 2, fig. 9",
       "The peaks correspond to the regions of 'sticky' loss, where the L1 penalty coefficient is optimal for "
       "that dictionary size. If the dictionary is too small, however, there is no peak", "sae.sticky_cell_selects_best"),
    _s("mmcs-cases", "Method 3",
       "Two separately initialized dictionaries with G learnable features will ... have the maximum possible "
       "mean max cosine similarity; one too small: lower; one too large: approximately the same",
       "sae.mmcs_larger_peaks_at_right_size", note="only the case 'too small is lower'"),
    _s("mmcs-larger-peak", "Method 3, fig. 10",
       "the mean max cosine similarity should peak where the smaller dictionary is the right size and where "
       "L1 is at its optimum value. We find this empirically to be the case", "sae.mmcs_larger_peaks_at_right_size", "sae.mmcs_larger_selects_best"),
    _s("language-model", "'Identifying the overcomplete feature basis used in a language model', figs 11-13",
       "dead neurons are not observed even in the largest dictionaries; the MMCS between dictionaries never "
       "exceeds ~0.4",
       reason="not built: needs the authors' 31M-parameter language model and its MLP activations"),
    _s("denoising", "appendix: denoising autoencoders",
       "we found little interaction between the L1 penalty coefficient and noise standard deviation; they "
       "usually had a very slightly worse mean max cosine similarity",
       reason="not built: no denoising autoencoder here"),
)


# ------------------------------------------------------------------------------------------ joining
def _registry(claims):
    if claims is None:
        from . import comparisons  # noqa: F401  (registers every claim)
        from .claims import CLAIMS

        return CLAIMS
    return claims


def _module_of(claim) -> str:
    """The module of verify/comparisons that declares ``claim`` (its measure function's), or ''."""
    mod = getattr(claim.measure, "__module__", "") or ""
    prefix = "verify.comparisons."
    return mod[len(prefix):] if mod.startswith(prefix) else ""


def _comparison_modules() -> set:
    from . import comparisons

    return {m.name for m in pkgutil.iter_modules(comparisons.__path__)}


def coverage_rows(claims: Mapping | None = None, entries: Sequence | None = None) -> list[dict]:
    """Every entry joined with the registry: its fields, ``status`` (judged, planned, not judged) and, for
    each claim of ``judged_by``, ``{"id", "registered"}`` plus, when registered, its ``kind``,
    ``comparison``, ``source`` and ``regime``."""
    claims = _registry(claims)
    entries = ENTRIES if entries is None else entries
    rows = []
    for e in entries:
        judged = []
        for cid in e.judged_by:
            c = claims.get(cid)
            judged.append({"id": cid, "registered": False} if c is None else
                          {"id": cid, "registered": True, "kind": c.kind, "comparison": c.comparison,
                           "source": c.source, "regime": c.regime.describe()})
        rows.append({"key": e.key, "text": e.text, "where": e.where, "quote": e.quote, "status": e.status,
                     "judged_by": judged, "reason": e.reason, "planned": e.planned, "note": e.note})
    return rows


def coverage_counts(entries: Sequence | None = None) -> dict:
    """Per text: how many entries, judged, planned and not judged (by the reason's first word)."""
    entries = ENTRIES if entries is None else entries
    out = {}
    for text in TEXTS:
        es = [e for e in entries if e.text == text]
        c = {"entries": len(es), "judged": sum(e.status == "judged" for e in es),
             "planned": sum(e.status == "planned" for e in es),
             "not judged": sum(e.status == "not judged" for e in es)}
        for prefix in REASONS[1:]:
            c[prefix.rstrip(":")] = sum(e.status == "not judged" and e.reason.startswith(prefix) for e in es)
        out[text] = c
    return out


# ------------------------------------------------------------------------------------------ checking
def coverage_problems(claims: Mapping | None = None, entries: Sequence | None = None) -> list[Problem]:
    """Everything :func:`check_coverage` refuses, in order: malformed entries, ``judged_by`` ids that are not
    registered, registered claims of :data:`COVERED_KINDS` that no entry names (``uncovered``), and those
    of them declared in a module that a planned entry names (``planned_arrived``: fill the entry in)."""
    claims = _registry(claims)
    entries = ENTRIES if entries is None else entries
    problems = []
    modules = _comparison_modules()
    seen = set()
    for e in entries:
        def bad(msg, e=e):
            problems.append(Problem("malformed", e.key, f"entry {e.key!r}: {msg}"))

        if e.key in seen:
            bad("the key is used twice")
        seen.add(e.key)
        if e.text not in TEXTS:
            bad(f"text must be one of {sorted(TEXTS)}, got {e.text!r}")
        if not e.where.strip() or not e.quote.strip():
            bad("where and quote must not be empty")
        if bool(e.judged_by) == bool(e.reason):
            bad("give either judged_by or a reason, not both or neither")
        if e.reason and not e.reason.startswith(REASONS):
            bad(f"a reason starts with one of {', '.join(REASONS)}; got {e.reason[:40]!r}")
        if bool(e.planned) != e.reason.startswith("planned:"):
            bad("a planned reason names its module in planned, and only a planned reason does")
        if e.planned and e.planned not in modules:
            bad(f"planned names verify/comparisons/{e.planned}.py, which does not exist")
        if len(set(e.judged_by)) != len(e.judged_by):
            bad("a claim is named twice")
        for cid in e.judged_by:
            if cid not in claims:
                problems.append(Problem("unknown_id", e.key, f"entry {e.key!r}: claim {cid!r} is not registered"))
    named = {cid for e in entries for cid in e.judged_by}
    planned = {}
    for e in entries:
        if e.planned:
            planned.setdefault(e.planned, []).append(e.key)
    for cid, c in claims.items():
        if c.kind not in COVERED_KINDS or cid in named:
            continue
        module = _module_of(c)
        if module in planned:
            problems.append(Problem("planned_arrived", cid,
                                    f"claim {cid!r} (verify/comparisons/{module}.py) is named by no entry: fill it "
                                    f"into the planned entr{'y' if len(planned[module]) == 1 else 'ies'} "
                                    f"{', '.join(planned[module])}"))
        else:
            problems.append(Problem("uncovered", cid, f"claim {cid!r} (kind {c.kind}, {c.source}) is named by no "
                                    "entry of verify/coverage.py"))
    return problems


def check_coverage(claims: Mapping | None = None, entries: Sequence | None = None) -> None:
    """Raise ValueError listing every problem (:func:`coverage_problems`): the wrong entries first, then, apart,
    the registered claims that planned entries are waiting for."""
    problems = coverage_problems(claims, entries)
    if not problems:
        return
    wrong = [p.message for p in problems if p.kind != "planned_arrived"]
    arrived = [p.message for p in problems if p.kind == "planned_arrived"]
    parts = []
    if wrong:
        parts.append(f"{len(wrong)} wrong: " + "; ".join(wrong))
    if arrived:
        parts.append(f"{len(arrived)} planned claim(s) now registered: " + "; ".join(arrived))
    raise ValueError("coverage: " + " | ".join(parts))


# ------------------------------------------------------------------------------------------ the table
def _cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def _judged_cell(row: dict) -> str:
    if row["status"] != "judged":
        return _cell(row["reason"])
    names = []
    for j in row["judged_by"]:
        name = f"`{j['id']}`"
        if not j["registered"]:
            name += " (not registered)"
        elif j["kind"] != "paper":
            name += f" ({j['kind']})"
        names.append(name)
    return ", ".join(names) + (f"; {_cell(row['note'])}" if row["note"] else "")


def _counts_sentence(counts: dict) -> str:
    parts = []
    for text, c in counts.items():
        why = ", ".join(f"{c[k]} {k}" for k in (r.rstrip(":") for r in REASONS[1:]) if c[k])
        parts.append(f"{TEXTS[text]}: {c['entries']} ({c['judged']} judged, {c['planned']} planned, "
                     f"{c['not judged']} not judged" + (f": {why}" if why else "") + ")")
    total = sum(c["entries"] for c in counts.values())
    return f"{total} statements. " + "; ".join(parts) + "."


def coverage_table_markdown(claims: Mapping | None = None, entries: Sequence | None = None) -> str:
    """The markdown of docs/verify.md's coverage block: the counts, then one table per text (no trailing
    newline)."""
    entries = ENTRIES if entries is None else entries
    rows = coverage_rows(claims, entries)
    lines = [_counts_sentence(coverage_counts(entries))]
    for text, title in TEXTS.items():
        lines += ["", f"**{title}**", "", "| entry | where | the text says | status | judged by, or why not |",
                  "|---|---|---|---|---|"]
        for r in rows:
            if r["text"] == text:
                lines.append(f"| `{r['key']}` | {_cell(r['where'])} | {_cell(r['quote'])} | {r['status']} | "
                             f"{_judged_cell(r)} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ the docs block
def _markers(doc: str) -> tuple[int, int]:
    nb, ne = doc.count(BEGIN), doc.count(END)
    if nb != 1 or ne != 1:
        raise ValueError(f"the page must hold {BEGIN} and {END} once each, found {nb} and {ne}")
    b, e = doc.index(BEGIN), doc.index(END)
    if e < b:
        raise ValueError(f"{END} comes before {BEGIN}")
    return b + len(BEGIN), e


def docs_block(doc: str) -> str:
    """The text between the markers of ``doc``, without the newlines next to them."""
    b, e = _markers(doc)
    return doc[b:e].strip("\n")


def replace_docs_block(doc: str, table: str) -> str:
    """``doc`` with the text between its markers replaced by ``table``."""
    b, e = _markers(doc)
    return doc[:b] + "\n" + table + "\n" + doc[e:]


def write_docs_block(path=None, table: str | None = None) -> bool:
    """Rewrite the coverage block of ``path`` (default docs/verify.md) atomically with ``table`` (default
    the generated one). Returns whether the file changed. ValueError: no or several markers; OSError: the
    file cannot be read or written."""
    from numerics.io import atomic_write_text

    path = DOCS if path is None else Path(path)
    doc = path.read_text(encoding="utf-8")
    try:
        new = replace_docs_block(doc, coverage_table_markdown() if table is None else table)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    if new == doc:
        return False
    atomic_write_text(path, new)
    return True
