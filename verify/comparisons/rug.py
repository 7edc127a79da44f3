"""Appendix F and the Welch equality case: exact checks on rugs and on random low-rank unit-diagonal
matrices."""

from __future__ import annotations

import torch

import theory
from numerics import RugOperator, macroscopic_params, rug_matrix

from ..claims import Criterion, Point, claim, comparison
from ..stats import exact
from ._common import Context, stage_seed

NAME = "rug_properties"

#: float64 on entries of size <= 1 summed over up to n_s = 32768 terms: rounding stays below 1e-11, so an
#: identity that holds is met to 1e-9 and one that fails misses by O(1).
ROUNDING = "1e-9: float64 rounding over sums of at most 32768 terms of size <= 1"


def _welch_ratio(W, r: float, p: float = 0.05) -> float:
    """mean_i Var nu_i / welch_sigma(p, r)^2 for a matrix W (1 at the Welch bound)."""
    return macroscopic_params(W, 0.0, p).sigma_rms ** 2 / float(theory.welch_sigma(p, r)) ** 2


@comparison(NAME, "The rug's stated properties and the Welch equality case")
def rug_properties(ctx: Context):
    profile = ctx.profile
    gen = torch.Generator().manual_seed(stage_seed(profile))
    rug_rows = []
    for n_s, n_d in profile.rug_sizes:
        op = RugOperator(n_s, n_d, seed=stage_seed(profile, n_s + n_d))
        if n_s <= 4096:
            R = rug_matrix(n_s, n_d, S=op.S, dtype=torch.float64)
            R2 = R @ R
            diag_err = float((torch.diagonal(R) - 1).abs().max())
            rowsq_err = float(((R * R).sum(1) - 1 - (n_s / n_d - 1)).abs().max())
            proj_err = float((R2 - R).abs().max())
            scaled_err = float((R2 - (n_s / n_d) * R).abs().max())
        else:  # through the operator on random vectors
            x = torch.randn(4, n_s, dtype=torch.float64, generator=gen)
            g = op.first_row()
            diag_err = float(abs(g[0] - 1))
            rowsq_err = float(abs((g[1:] ** 2).sum() - (n_s / n_d - 1)))
            Rx = op.apply(x)
            R2x = op.apply(Rx)
            proj_err = float((R2x - Rx).abs().max())
            scaled_err = float((R2x - (n_s / n_d) * Rx).abs().max())
        ratio = _welch_ratio(op if n_s > 4096 else R, n_d / n_s)
        rug_rows.append({"n_s": n_s, "n_d": n_d, "max |R_ii - 1|": diag_err,
                         "max |sum_{j!=i} R_ij^2 - (n_s/n_d - 1)|": rowsq_err, "max |R^2 - R|": proj_err,
                         "max |R^2 - (n_s/n_d) R|": scaled_err, "Var nu / Welch": ratio})
    low = []
    n = profile.lowrank_ns
    for _ in range(profile.lowrank_trials):
        n_d = int(torch.randint(1, n, (1,), generator=gen))
        A = torch.randn(n, n_d, dtype=torch.float64, generator=gen) * torch.rand(n, 1, dtype=torch.float64,
                                                                                 generator=gen)
        W = A @ A.T
        d = torch.sqrt(torch.diagonal(W))
        W = W / d[:, None] / d[None, :]  # unit diagonal, rank n_d
        low.append({"n_s": n, "n_d": n_d, "Var nu / Welch": _welch_ratio(W, n_d / n)})
    return {"rugs": rug_rows, "lowrank": low}, []


def _rug_points(key: str, reference: float = 0.0, proper_only: bool = False):
    def measure(data, profile):
        return [Point(exact(row[key]), reference, {"n_s": row["n_s"], "n_d": row["n_d"]})
                for row in data["rugs"] if not proper_only or row["n_d"] < row["n_s"]]
    return measure


claim(NAME, "rug.diagonal", kind="exact", statement="R_ii = 1.", source="appendix F, eq. 35",
      quantity="max_i |R_ii - 1| per rug size", reference="0",
      criterion=Criterion("within", 1e-9, reason=ROUNDING))(_rug_points("max |R_ii - 1|"))
claim(NAME, "rug.row_squares", kind="exact", statement="sum_{j != i} R_ij^2 = n_s / n_d - 1 for every row.",
      source="appendix F, eqs. 36-41", quantity="max_i |sum_{j != i} R_ij^2 - (n_s/n_d - 1)| per rug size",
      reference="0", criterion=Criterion("within", 1e-9, reason=ROUNDING))(
    _rug_points("max |sum_{j!=i} R_ij^2 - (n_s/n_d - 1)|"))
claim(NAME, "rug.projector", kind="exact", statement="R is a projector: R^2 = R.", source="appendix F, eqs. 42-45",
      quantity="max |R^2 - R| per rug size with n_d < n_s", reference="0",
      criterion=Criterion("within", 1e-9, reason=ROUNDING))(_rug_points("max |R^2 - R|", proper_only=True))
claim(NAME, "rug.scaled_projector", kind="sanity",
      statement="R^2 = (n_s / n_d) R, so r R is the orthogonal projector (the toolkit's correction of eq. 44, "
                "which drops the factor n_s of sum_l H_lk1 H_lk2 = n_s delta; docs/numerics.md section 2).",
      source="appendix F, eq. 44 corrected", quantity="max |R^2 - (n_s/n_d) R| per rug size", reference="0",
      criterion=Criterion("within", 1e-8, reason=ROUNDING + ", times n_s/n_d <= 10"))(
    _rug_points("max |R^2 - (n_s/n_d) R|"))
claim(NAME, "welch.rug_equality", kind="exact",
      statement="The rug attains the Welch bound: mean Var nu = Var x (n_s/n_d - 1).",
      source="eq. 6, appendix D, sec. 4.2.2", quantity="mean_i Var nu_i / Welch minimum per rug size",
      reference="1", criterion=Criterion("within", 1e-9, reason=ROUNDING))(_rug_points("Var nu / Welch", 1.0))


@claim(NAME, "welch.lowrank_above", kind="sanity",
       statement="Any unit-diagonal matrix of rank n_d has mean Var nu >= the Welch bound (a theorem: it holds "
                 "for every such matrix, so it checks the toolkit, not the paper).",
       source="eq. 6, appendix D", quantity="mean_i Var nu_i / Welch minimum of random rank-n_d matrices",
       reference="1", criterion=Criterion("at_least", 1e-9, reason=ROUNDING))
def _lowrank(data, profile):
    return [Point(exact(row["Var nu / Welch"]), 1.0, {"n_s": row.get("n_s"), "n_d": row["n_d"]})
            for row in data["lowrank"]]
