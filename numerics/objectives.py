r"""numerics' pure numpy objectives: losses written out exactly over stored samples, with no torch in them.

:class:`PairLoss` is the Persian Rug model's in-sample loss over pairs (x_k, y_k = (R x)_k) (see
:mod:`numerics.rug_model`): the mean of (x - ReLU(a y + b))^2 over M pairs, evaluated exactly in O(log M)
after one sort, and its global minimiser (:meth:`PairLoss.minimize`). :func:`numerics.fit_rug`'s ``"fit"``
method draws the pairs and hands them here; ``_suffix_sums`` is its private helper.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize

__all__ = ["PairLoss"]


def _suffix_sums(v: np.ndarray) -> np.ndarray:
    """out[k] = sum(v[k:]) in float64, out[len(v)] = 0 (summed from the end: no total-minus-prefix)."""
    out = np.zeros(v.size + 1, dtype=np.float64)
    if v.size:
        np.cumsum(v[::-1], dtype=np.float64, out=out[-2::-1])
    return out


class PairLoss:
    r"""The in-sample objective L(a, b) = M^{-1} sum_k (x_k - ReLU(a y_k + b))^2 over M pairs, exactly.

    For a > 0 the active set {k : a y_k + b > 0} is {y_k > t} with the threshold t = -b/a (for a < 0 it is
    {y_k < t}; for a = 0 all or nothing as b > 0 or not), so with the active sums S_1 (count), S_y, S_yy,
    S_x, S_xy and the total sum of x^2, X_2,

    .. math::  M L = X_2 - 2a S_{xy} - 2b S_x + a^2 S_{yy} + 2ab S_y + b^2 S_1,

    .. math::  M\,\partial_a L = 2(a S_{yy} + b S_y - S_{xy}),\qquad M\,\partial_b L = 2(a S_y + b S_1 - S_x).

    After one sort of y (pairs with x = 0, usually the majority, need no argsort, only their y values) the
    active sums are suffix sums read at a binary-search position: O(log M) per evaluation, in float64.
    L is piecewise quadratic and continuous; it is C^1 except where a pair with x != 0 crosses the
    threshold, and those kinks are concave (the slope drops by 2 x |y| / M), so minima lie inside pieces.

    Parameters: x, y array-likes of the same size (flattened; float64 internally, finite).
    """

    def __init__(self, x, y):
        x = np.asarray(x).ravel()
        y = np.asarray(y).ravel()
        if x.size != y.size:
            raise ValueError(f"x and y must have the same size, got {x.size} and {y.size}")
        if x.size == 0:
            raise ValueError("x must hold at least one pair")
        for name, v in (("x", x), ("y", y)):
            if not np.issubdtype(v.dtype, np.number) or np.iscomplexobj(v):
                raise ValueError(f"{name} must hold real numbers, got dtype {v.dtype}")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError("x and y must be finite")
        self.size = int(x.size)
        on = x != 0
        # group 0 (x = 0): only the sorted y are needed; group 1 (x != 0): y sorted with x carried along
        y0 = np.sort(y[~on]).astype(np.float64)
        y1 = y[on].astype(np.float64)
        x1 = x[on].astype(np.float64)
        order = np.argsort(y1, kind="stable")
        y1, x1 = y1[order], x1[order]
        del order
        self._y = (y0, y1)
        self._n = (y0.size, y1.size)
        self._sy = (_suffix_sums(y0), _suffix_sums(y1))
        self._syy = (_suffix_sums(np.square(y0)), _suffix_sums(np.square(y1)))
        self._sx = _suffix_sums(x1)
        self._sxy = _suffix_sums(x1 * y1)
        self.x2 = float(np.sum(np.square(x1)))
        self.y_min = float(min(y0[0] if y0.size else np.inf, y1[0] if y1.size else np.inf))
        self.y_max = float(max(y0[-1] if y0.size else -np.inf, y1[-1] if y1.size else -np.inf))
        self.x_mean = float(np.sum(x1) / self.size)

    # -- active sums ------------------------------------------------------------------------------

    def _gather(self, k0, k1, complement: bool):
        """Sums over indices >= k (or < k with ``complement``) of each group; k0, k1 arrays or ints."""
        n0, n1 = self._n
        if complement:
            out = [np.asarray(k0 + k1, dtype=np.float64)]
        else:
            out = [np.asarray((n0 - k0) + (n1 - k1), dtype=np.float64)]
        for arrs in (self._sy, self._syy):
            v = arrs[0][k0] + arrs[1][k1]
            if complement:
                v = (arrs[0][0] + arrs[1][0]) - v
            out.append(v)
        for arr in (self._sx, self._sxy):
            v = arr[k1]
            if complement:
                v = arr[0] - v
            out.append(v)
        return out  # S1, Sy, Syy, Sx, Sxy

    def sums_above(self, t):
        """(S_1, S_y, S_yy, S_x, S_xy) over the pairs with y > t (t scalar or array)."""
        k0 = np.searchsorted(self._y[0], t, side="right")
        k1 = np.searchsorted(self._y[1], t, side="right")
        return self._gather(k0, k1, False)

    def sums_below(self, t):
        """(S_1, S_y, S_yy, S_x, S_xy) over the pairs with y < t (t scalar or array)."""
        k0 = np.searchsorted(self._y[0], t, side="left")
        k1 = np.searchsorted(self._y[1], t, side="left")
        return self._gather(k0, k1, True)

    def _active(self, a: float, b: float):
        if a == 0.0:
            return self.sums_above(-np.inf) if b > 0 else [0.0] * 5
        with np.errstate(over="ignore", divide="ignore"):
            t = np.float64(-b) / np.float64(a)
        return self.sums_above(t) if a > 0 else self.sums_below(t)

    # -- objective --------------------------------------------------------------------------------

    def loss_and_grad(self, a: float, b: float) -> tuple[float, np.ndarray]:
        """(L(a, b), [dL/da, dL/db])."""
        a = float(a)
        b = float(b)
        s1, sy, syy, sx, sxy = (float(v) for v in self._active(a, b))
        m = self.size
        loss = (self.x2 - 2 * a * sxy - 2 * b * sx + a * a * syy + 2 * a * b * sy + b * b * s1) / m
        grad = np.array([2 * (a * syy + b * sy - sxy) / m, 2 * (a * sy + b * s1 - sx) / m])
        return max(loss, 0.0), grad

    def __call__(self, a: float, b: float) -> float:
        """L(a, b)."""
        return self.loss_and_grad(a, b)[0]

    def profile(self, t):
        r"""min over a >= 0 of L(a, -a t): the loss with the threshold fixed at t, and the minimising a.

        On the active set {y > t}: M L(a, -a t) = X_2 - 2a A + a^2 B with A = S_xy - t S_x,
        B = S_yy - 2t S_y + t^2 S_1 = sum (y - t)^2, so a* = max(A, 0)/B and M L* = X_2 - max(A, 0)^2/B.
        Returns (L*, a*) as arrays of t's shape.
        """
        t = np.asarray(t, dtype=np.float64)
        s1, sy, syy, sx, sxy = self.sums_above(t)
        A = np.maximum(sxy - t * sx, 0.0)
        B = np.maximum(syy - 2 * t * sy + t * t * s1, 0.0)
        pos = B > 0
        a_star = np.divide(A, B, out=np.zeros_like(A), where=pos)
        red = np.where(pos, A * a_star, 0.0)
        return np.maximum(self.x2 - red, 0.0) / self.size, a_star

    def _newton(self, a: float, b: float, loss: float, iters: int = 8):
        """Jump to the minimiser of the current active piece while that lowers L (exact on a piece)."""
        for _ in range(iters):
            s1, sy, syy, sx, sxy = (float(v) for v in self._active(a, b))
            det = syy * s1 - sy * sy
            if not det > 0:
                break
            na = (sxy * s1 - sx * sy) / det
            nb = (syy * sx - sy * sxy) / det
            nl = self(na, nb)
            if not nl < loss:
                break
            a, b, loss = na, nb, nl
        return a, b, loss

    def minimize(self, *, n_grid: int = 400, n_starts: int = 3):
        """The global minimiser of L: returns (a, b, loss, n_evaluations).

        1. The profile L*(t) (exact in a) on thresholds at log-spaced ranks from the top of each group's
           sorted y (from 1 active pair to all of them), plus t below every y (the affine fit).
        2. The best ``n_starts`` local minima of that profile are polished by scipy's L-BFGS-B on (a, b)
           with the analytic gradient, then by exact Newton steps on the active quadratic piece.
        3. The constant output a = 0, b = mean(x) (loss Var x) is a candidate too. a < 0 is never needed:
           it makes f decreasing in y while x and y are positively correlated (it is still evaluated
           correctly by the objective).
        """
        cands = [self.y_min - 1.0]
        for ys in self._y:
            if ys.size:
                ranks = np.unique(np.geomspace(1, ys.size, n_grid).astype(np.int64))
                cands.append(ys[ys.size - ranks])
        t = np.unique(np.concatenate([np.atleast_1d(c) for c in cands]))
        prof, a_prof = self.profile(t)
        # local minima of the profile along t (ends included), best first
        left = np.concatenate([[np.inf], prof[:-1]])
        right = np.concatenate([prof[1:], [np.inf]])
        idx = np.flatnonzero((prof <= left) & (prof <= right))
        idx = idx[np.argsort(prof[idx])][:n_starts]
        n_eval = t.size
        best = (0.0, max(self.x_mean, 0.0), self(0.0, max(self.x_mean, 0.0)))
        for i in idx:
            a0 = float(a_prof[i])
            b0 = -a0 * float(t[i])
            l0 = self(a0, b0)
            res = scipy.optimize.minimize(lambda v: self.loss_and_grad(v[0], v[1]), np.array([a0, b0]),
                                          jac=True, method="L-BFGS-B",
                                          options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 500})
            n_eval += int(res.nfev)
            a1, b1 = (float(res.x[0]), float(res.x[1]))
            l1 = self(a1, b1)
            if not l1 <= l0:
                a1, b1, l1 = a0, b0, l0
            a1, b1, l1 = self._newton(a1, b1, l1)
            if l1 < best[2]:
                best = (a1, b1, l1)
        return best[0], best[1], best[2], n_eval
