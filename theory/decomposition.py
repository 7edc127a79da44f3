r"""A decomposition of a model's exact loss against L*(p, r): where a finite model departs from the
large-n_s optimum (docs/theory.md section 14).

L_exact(W, b) - L* = parameters + heterogeneity + non_gaussian: the Gaussian loss (eq. 5) at the model's
mean (a, b_eff, sigma) minus L*; the per-row Gaussian losses' mean minus that; and the exact loss
(:func:`theory.exact_loss`) minus the per-row Gaussian mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._validation import check_model, check_r, check_scalar_p, check_tol
from .interference import exact_loss
from .loss import macroscopic_loss
from .optimum import optimal_loss

__all__ = ["LossDecomposition", "loss_decomposition"]


@dataclass(frozen=True, eq=False)
class LossDecomposition:
    r"""L_exact(W, b) - L*(p, r) = parameters + heterogeneity + non_gaussian (:func:`loss_decomposition`).

    * ``parameters`` = L_G(a, b_eff, sigma) - L*: the Gaussian loss (eq. 5) at the model's mean
      parameters minus the optimum;
    * ``heterogeneity`` = mean_i L_G,i - L_G(a, b_eff, sigma): the rows differing from each other
      (and from the learned mean: unlearned rows enter here);
    * ``non_gaussian`` = exact - mean_i L_G,i: the interference not being Gaussian.

    ``exact`` (with ``exact_error_bound``) is :func:`theory.exact_loss`; ``L_star`` =
    :func:`theory.optimal_loss` (p, r); ``gaussian`` = L_G(a, b_eff, sigma); ``row_gaussian`` =
    mean_i L_G,i. ``a``, ``b_eff``, ``sigma`` are the means over the learned rows (a = mean W_ii,
    b_eff = mean (b_i + (p/2) sum_{j != i} W_ij), sigma = (mean Var nu_i)^(1/2), nu_i in units of
    W_ii); NaN when no row is learned. ``per_feature_exact`` and ``per_feature_gaussian`` are L_i and
    L_G,i (for an unlearned row L_G,i = L_i); ``learned`` the mask used.
    """

    parameters: float
    heterogeneity: float
    non_gaussian: float
    exact: float
    exact_error_bound: float
    L_star: float
    gaussian: float
    row_gaussian: float
    a: float
    b_eff: float
    sigma: float
    p: float
    r: float
    n_unlearned: int
    per_feature_exact: np.ndarray
    per_feature_gaussian: np.ndarray
    learned: np.ndarray

    def as_dict(self) -> dict:
        """The fields as a plain dict, arrays as lists (for JSON)."""
        out = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            out[k] = v.tolist() if isinstance(v, np.ndarray) else v
        return out


def _row_parameters(w_arr: np.ndarray, b_arr: np.ndarray, p: float):
    """Per row: W_ii, the effective bias b_i + (p/2) sum_{j != i} W_ij, Var nu_i (nu_i over W_ii).

    The same reading as numerics.symmetry.row_statistics, here in numpy: Var nu_i = Var x
    sum_{j != i} W_ij^2 / W_ii^2 (inf where W_ii = 0).
    """
    diag = np.diag(w_arr).copy()
    off = w_arr.copy()
    np.fill_diagonal(off, 0.0)
    off_sum = off.sum(axis=1)
    off_sq = np.einsum("ij,ij->i", off, off)
    var_x = p * (4.0 - 3.0 * p) / 12.0
    with np.errstate(divide="ignore", invalid="ignore"):
        var_nu = np.where(diag != 0, var_x * off_sq / np.where(diag != 0, diag * diag, 1.0), np.inf)
    return diag, b_arr + 0.5 * p * off_sum, var_nu


def loss_decomposition(W, b, p, r, *, learned=None, tol=1e-6) -> LossDecomposition:
    r"""Split the exact loss of ReLU(W x + b) against the optimum L*(p, r) into three parts.

    With L_G(a, b, sigma) = :func:`theory.macroscopic_loss` (a, b, sigma, p), the per-row Gaussian
    loss L_G,i = L_G(W_ii, b_eff,i, sigma_i) (b_eff,i = b_i + (p/2) sum_{j != i} W_ij, sigma_i^2 =
    Var x sum_{j != i} W_ij^2 / W_ii^2) and the model's mean (a, b_eff, sigma) over the learned rows,

        exact - L* = [L_G(a, b_eff, sigma) - L*] + [mean_i L_G,i - L_G(a, b_eff, sigma)]
                     + [exact - mean_i L_G,i]
                   = parameters + heterogeneity + non_gaussian,

    exactly (a telescoping sum; to rounding). Unlearned rows (by default those with W_ii <= 0, where
    nu_i = W_ii^-1 sum W_ij x_j is undefined or the row works against its feature) take no part in
    (a, b_eff, sigma), and their Gaussian loss is their exact loss (L_G,i = L_i): they contribute
    nothing to ``non_gaussian`` and their whole excess over the learned mean lands in
    ``heterogeneity``. With no learned row, L_G(a, b_eff, sigma) is taken as mean_i L_G,i (so
    heterogeneity = 0) and a, b_eff, sigma are NaN.

    Parameters
    ----------
    W : array_like, shape (n_s, n_s)
        Finite real weights.
    b : float or array_like of shape (n_s,)
        The stored biases (not the effective ones).
    p : float
        Feature probability, in (0, 1].
    r : float
        The model's n_d / n_s, in (0, 1] (L* = optimal_loss(p, r) is the optimum at that rank).
    learned : array_like of bool, shape (n_s,), optional
        Which rows count as learned (default W_ii > 0); e.g. ``~numerics.unlearned_features(diag)``.
    tol : float
        Relative accuracy of :func:`theory.exact_loss`.

    Returns
    -------
    LossDecomposition
    """
    w_arr, b_arr = check_model(W, b)
    p_v = check_scalar_p(p)
    r_arr = check_r(r)
    if r_arr.ndim != 0:
        raise ValueError(f"r must be a scalar in (0, 1], got shape {r_arr.shape}")
    r_v = float(r_arr)
    tol_v = check_tol(tol)
    n = w_arr.shape[0]
    diag, b_eff, var_nu = _row_parameters(w_arr, b_arr, p_v)
    if learned is None:
        mask = diag > 0
    else:
        m_arr = np.asarray(learned)
        if m_arr.shape != (n,) or m_arr.dtype != bool:
            raise ValueError(f"learned must be a boolean array of shape ({n},), got {learned!r}")
        mask = m_arr.copy()
        if np.any(diag[mask] == 0):
            raise ValueError("learned must not include rows with W_ii = 0 (their sigma_i is infinite)")
    ex = exact_loss(w_arr, b_arr, p_v, tol=tol_v)
    per_exact = ex.per_feature
    per_gauss = per_exact.copy()
    if mask.any():
        sig = np.sqrt(var_nu[mask])
        per_gauss[mask] = macroscopic_loss(diag[mask], b_eff[mask], sig, p_v)
        a = float(np.mean(diag[mask]))
        bm = float(np.mean(b_eff[mask]))
        sigma = float(math.sqrt(np.mean(var_nu[mask])))
        gauss = float(macroscopic_loss(a, bm, sigma, p_v))
    else:
        a = bm = sigma = math.nan
    row_gauss = float(np.mean(per_gauss))
    if not mask.any():
        gauss = row_gauss
    l_star = float(optimal_loss(p_v, r_v))
    exact = ex.total
    return LossDecomposition(
        parameters=gauss - l_star,
        heterogeneity=row_gauss - gauss,
        non_gaussian=exact - row_gauss,
        exact=exact,
        exact_error_bound=ex.error_bound,
        L_star=l_star,
        gaussian=gauss,
        row_gaussian=row_gauss,
        a=a,
        b_eff=bm,
        sigma=sigma,
        p=p_v,
        r=r_v,
        n_unlearned=int(n - mask.sum()),
        per_feature_exact=per_exact,
        per_feature_gaussian=per_gauss,
        learned=mask,
    )
