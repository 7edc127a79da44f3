r"""The exact law of the interference at finite n_s, and the exact loss of any model.

One concept in one module (hence its length): the law of nu_i, the exact loss built on it, and the
Persian rug as its most structured case; every part shares the same characteristic-function machinery.

Row i of the toy model computes f(x)_i = ReLU(w x_i + nu + b) with w = W_ii, b = b_i and the
interference nu = sum_{j != i} W_ij x_j, a sum of independent terms that is independent of x_i
(x_j = c_j u_j, c_j ~ Bernoulli(p), u_j ~ U[0, 1]). Nothing here is Gaussian: nu has

* an atom P(nu = 0) = (1-p)^K at 0 (K = number of nonzero W_ij) and an absolutely continuous rest,
  supported on [lo, hi] = [sum of the negative W_ij, sum of the positive W_ij];
* the characteristic function phi(t) = prod_j phi_j(t), phi_j(t) = 1 - p + p (e^{i t w_j} - 1)/(i t w_j);
* the cumulants kappa_k(nu) = kappa_k(x) sum_j w_j^k, kappa_k(x) from the raw moments E x^m = p/(m+1).

**The loss of one row.** L_i = E g(nu) with g(y) = h(y + b) and

.. math::  h(c) = \mathbb{E}_x (x - \mathrm{ReLU}(w x + c))^2, \qquad x \sim (1-p)\delta_0 + p\,U[0,1],

a piecewise cubic in c with breakpoints c_1 = min(0, -w), c_2 = max(0, -w) (where the ReLU turns on
at x = 0 and at x = 1):

    c <= c_1:        h = p/3
    c_1 < c < c_2:   h = p [(1-w)^2/3 - (1-w) c + c^2 + (1+w) c^3 / (3 w^2)]      (w > 0)
                     h = (1-p) c^2 + p [1/3 - (1+w) c^3 / (3 w^2)]                 (w < 0)
    c >= c_2:        h = c^2 - p (1-w) c + p (1-w)^2 / 3

h is C^1 for w != 0 (its second derivative jumps at c_1 and c_2); for w = 0 the middle piece is
empty and h'(c) jumps by -p at c = 0.

**The Fourier method.** E g(nu) = atom g(0) + E[g; one term on] + E[g; two or more on]. The
one-term part is a mixture of uniforms (densities with jumps, Fourier coefficients ~ 1/t) and is
integrated exactly; the rest has characteristic function phi_rest = phi - atom - p (1-p)^(K-1)
sum_j s_j and a continuous density. On a window [A, A + L] that density, periodised with period L, has
the Fourier coefficients phi_rest(t_k), t_k = 2 pi k / L; with L >= hi - lo (the window is the support)
the periodisation changes nothing, otherwise (a dense row, whose support is hundreds of standard
deviations wide) a Chernoff bound on the mass outside the window bounds what it changes. A quadratic
Q is subtracted from g so that r = g - Q is C^1 and periodic on the window; E Q(nu) is exact (from the
mean and variance) and Parseval gives

    E[r(nu); rest] = (1/L) sum_k phi_rest(t_k) G(t_k),   G(t) = int_A^{A+L} r(y) e^{-i t y} dy,

with G in closed form (r is a piecewise cubic, each piece integrated against e^{-ity} exactly).
Two integrations by parts give |G(t)| <= J_1/t^2 + V/t^3 (V the total variation of r'' on the
circle, J_1 the jumps of r', zero unless w = 0), so the only errors are

* truncation, sum_{|k| > M} |phi_rest(t_k) G(t_k)| / L, bounded with sup_{t >= t_{M+1}} |phi_rest(t)|
  (an explicit non-increasing envelope built from prod |phi_j|) or with |phi_rest(t)| <= C_2 / t^2;
* aliasing (dense rows only), bounded by Cauchy-Schwarz with the central moments of nu and the
  Chernoff bound on the mass outside the window;
* rounding, estimated (not bounded) as eps (64 + K) times the sum of the magnitudes of the terms.

All three are returned as the error bound. Rows with at most 8 nonzero off-diagonal entries are
instead done exactly by enumerating the 3^K terms of E (z + nu)_+^n (the divided-difference formula
for sums of uniforms; the error is rounding); rows with none are h(b). See docs/theory.md section 13.

**Cost model.** Grouping the rows costs O(n_s^2 log n_s) (each row's nonzero off-diagonal entries
are sorted and hashed with (W_ii, b_i); identical rows are computed once). A distinct row with D
distinct nonzero values costs O(D (M + 20)) elementwise operations, M the number of frequencies
(about 20-25 for a dense Welch-like row at p = 0.045 and tol = 1e-6, a few hundred at p = 0.01, up to
thousands for rows with p K ~ 1-10, where D is small). A dense n_s x n_s matrix with distinct rows
therefore costs O(n_s^2 M): measured 1.5 s at n_s = 1024 and 3.6 s at n_s = 2048 (p = 0.045, two
loaded cores), about 1.1 ms + 0.3 us per entry and row, so ~30 s at n_s = 8192. A Persian rug costs
one row with D <= n_d + 1 distinct values (n_s = 2^20 in about half a second).
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass

import numpy as np

from ._numeric import law_from_sorted
from ._validation import as_float_array, check_model, check_real, check_scalar, check_scalar_p, check_tol

__all__ = [
    "ExactLoss",
    "InterferenceDensity",
    "InterferenceLaw",
    "RowLoss",
    "RugLoss",
    "RugOptimum",
    "exact_loss",
    "interference_law",
    "rug_exact_loss",
    "rug_first_row",
    "rug_optimal_ab",
]

_EPS = float(np.finfo(np.float64).eps)
_TWO_PI = 2.0 * math.pi
# max |sin x / x| over [pi, inf) (at x = 4.4934...), and the x in (0, pi) where sin x / x equals it:
# sup_{x' >= x} |sin x'/x'| is sin x / x below the knee and min(_SINC_LOBE, 1/x) above it.
_SINC_LOBE = 0.21723362821122166
_SINC_KNEE = 2.553565809251007
_ENUMERATE_MAX = 8  # rows with at most this many nonzero off-diagonal terms are enumerated exactly
_TINY_DIAG = 1e-150  # |W_ii| below this is treated as 0 (the loss changes by O(p |W_ii|))
_MAX_FREQUENCIES = 1 << 20
_CHUNK = 1 << 20  # elements per block of the (frequency x value) arrays
_HERMITE = np.polynomial.hermite_e.hermegauss(7)


# ----------------------------------------------------------------------------- the feature law


def _x_cumulants(kmax: int, p: float) -> np.ndarray:
    """kappa_1..kappa_kmax of x = Bernoulli(p) U[0, 1], from E x^m = p / (m + 1)."""
    raw = [1.0] + [p / (m + 1.0) for m in range(1, kmax + 1)]
    kappa = [0.0] * (kmax + 1)
    for n in range(1, kmax + 1):
        acc = raw[n]
        for m in range(1, n):
            acc -= math.comb(n - 1, m - 1) * kappa[m] * raw[n - m]
        kappa[n] = acc
    return np.array(kappa[1:])


def _sinc_envelope(x: np.ndarray) -> np.ndarray:
    """sup_{x' >= x} |sin x' / x'| for x >= 0 (non-increasing, >= |sinc|)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        sinc = np.where(x > 0, np.sin(x) / np.where(x > 0, x, 1.0), 1.0)
        far = np.minimum(_SINC_LOBE, 1.0 / np.where(x > 0, x, 1.0))
    return np.where(x <= _SINC_KNEE, sinc, far)


def _prod_columns(z: np.ndarray) -> np.ndarray:
    """The product of the columns of a 2-D complex array (a pairwise tree, in place)."""
    n = z.shape[1]
    if n == 0:
        return np.ones(z.shape[0], dtype=complex)
    while n > 1:
        half = n // 2
        if n % 2:
            z[:, 0] *= z[:, n - 1]
        z[:, :half] *= z[:, half : 2 * half]
        n = half
    return z[:, 0].copy()


def _factors(theta: np.ndarray, p: float) -> np.ndarray:
    """phi_j at theta = t w_j / 2: 1 - p + p e^{i theta} sin(theta) / theta (complex, same shape)."""
    s = np.sin(theta)
    c = np.cos(theta)
    with np.errstate(divide="ignore", invalid="ignore"):
        sinc = np.where(theta != 0, s / np.where(theta != 0, theta, 1.0), 1.0)
    sinc *= p
    out = np.empty(theta.shape, dtype=complex)
    out.real = c * sinc + (1.0 - p)
    out.imag = s * sinc
    return out


@dataclass(frozen=True, eq=False)
class InterferenceDensity:
    """The continuous part of the law of nu on a grid (:meth:`InterferenceLaw.density`).

    ``y`` are the grid points A + n L / N, ``density`` the truncated Fourier series of the
    (periodised) continuous density there (it can dip below 0 next to a jump); its Riemann sum times
    L / N is exactly 1 - atom.
    ``l2_error_bound`` bounds the L2 norm over the window of the truncation error (Parseval:
    sqrt((2/L) sum_{k >= N/2} |phi_c(t_k)|^2), with |phi_c| bounded as in the module docstring);
    ``tail_mass`` bounds the mass outside the window, which the periodisation folds back in (0 when
    the window is the support).
    """

    y: np.ndarray
    density: np.ndarray
    l2_error_bound: float
    tail_mass: float
    window: tuple

    def as_dict(self) -> dict:
        """The scalar fields and the grid as lists (for JSON)."""
        return {
            "y": self.y.tolist(),
            "density": self.density.tolist(),
            "l2_error_bound": self.l2_error_bound,
            "tail_mass": self.tail_mass,
            "window": list(self.window),
        }


@dataclass(frozen=True, eq=False)
class RowLoss:
    """E g(nu) for one row: ``loss``, a bound on its error, and the method used.

    ``method`` is "exact" (no interference), "enumerate" (3^K terms, error = rounding) or "fourier";
    ``frequencies`` is the number of Fourier frequencies used (0 otherwise).
    """

    loss: float
    error_bound: float
    method: str
    frequencies: int = 0

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON)."""
        return {k: getattr(self, k) for k in ("loss", "error_bound", "method", "frequencies")}


#: the largest grid of InterferenceLaw.density: 2^24 points (a few complex arrays of that size, ~1 GB at the
#: peak); 2^30 asked for 16 GiB and could end in the OOM killer
_MAX_GRID = 2**24


@dataclass(frozen=True, eq=False)
class InterferenceLaw:
    r"""The exact law of nu = sum_j w_j x_j, x_j i.i.d. Bernoulli(p) U[0, 1].

    Built by :func:`interference_law`. ``values`` are the distinct nonzero weights (ascending) and
    ``counts`` their multiplicities; ``n_terms`` = sum of counts. ``atom`` = P(nu = 0) =
    (1-p)^n_terms, the rest of the law is absolutely continuous on [``lo``, ``hi``].
    """

    values: np.ndarray
    counts: np.ndarray
    p: float
    n_terms: int
    atom: float
    lo: float
    hi: float

    # -- moments ------------------------------------------------------------------------------

    def cumulant(self, k: int) -> float:
        r"""kappa_k(nu) = kappa_k(x) sum_j w_j^k, k >= 1 (kappa_1 = mean, kappa_2 = variance)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        k = int(k)
        power_sum = float(np.sum(self.counts * self.values**k)) if self.n_terms else 0.0
        return float(_x_cumulants(k, self.p)[k - 1] * power_sum)

    @property
    def mean(self) -> float:
        """E nu = (p/2) sum_j w_j."""
        return self._moments[0]

    @property
    def var(self) -> float:
        """Var nu = p (4 - 3p) / 12 * sum_j w_j^2."""
        return self._moments[1]

    @functools.cached_property
    def _moments(self) -> tuple[float, ...]:
        """(mean, var, E (nu - mu)^2, E (nu - mu)^4, E (nu - mu)^6) from the cumulants."""
        if not self.n_terms:
            return (0.0, 0.0, 0.0, 0.0, 0.0)
        kx = _x_cumulants(6, self.p)
        cnt = self.counts.astype(np.float64)
        sums = np.empty(6)
        term = cnt.copy()
        for k in range(6):
            term *= self.values
            sums[k] = term.sum()
        k1, k2, k3, k4, _, k6 = kx * sums
        m4 = k4 + 3.0 * k2 * k2
        m6 = k6 + 15.0 * k4 * k2 + 10.0 * k3 * k3 + 15.0 * k2**3
        return (float(k1), float(k2), abs(float(k2)), abs(float(m4)), abs(float(m6)))

    def _central_moments(self) -> tuple[float, float, float]:
        """E (nu - mu)^2, ^4, ^6 from the cumulants."""
        return self._moments[2:]

    # -- characteristic function -------------------------------------------------------------

    def characteristic_function(self, t) -> np.ndarray:
        """phi(t) = E e^{i t nu} = prod_j phi_j(t)^count_j (atom included), vectorised over real t."""
        t_arr = check_real(t, "t")
        flat = t_arr.ravel()
        out = self._phi(flat) if self.n_terms else np.ones(flat.shape, dtype=complex)
        out = out.reshape(t_arr.shape)
        return out[()] if out.ndim == 0 else out

    def _phi(self, t: np.ndarray, with_single: bool = False):
        """phi at arbitrary real frequencies (direct sin / cos).

        With ``with_single`` also returns sum_j count_j s_j(t), s_j(t) = (e^{i t w_j} - 1) / (i t w_j).
        """
        out = np.empty(t.size, dtype=complex)
        single_sum = np.empty(t.size, dtype=complex)
        d = self.values.size
        step = max(1, _CHUNK // max(d, 1))
        single = self.counts == 1
        cnt = self.counts.astype(np.float64)
        for start in range(0, t.size, step):
            tt = t[start : start + step]
            f = _factors(0.5 * tt[:, None] * self.values[None, :], self.p)
            if with_single:
                single_sum[start : start + step] = ((f - (1.0 - self.p)) * cnt).sum(axis=1) / self.p
            out[start : start + step] = self._combine(f, single)
        return (out, single_sum) if with_single else out

    def _combine(self, f: np.ndarray, single: np.ndarray) -> np.ndarray:
        """prod_j f[:, j]^count_j: a product for count 1, exp(count log f) otherwise (f is overwritten)."""
        if single.all():
            return _prod_columns(f)
        multi = ~single
        with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
            logs = (np.log(f[:, multi]) * self.counts[multi].astype(np.float64)).sum(axis=1)
            powered = np.where(np.isneginf(logs.real), 0.0, np.exp(logs))
        return _prod_columns(np.ascontiguousarray(f[:, single])) * powered

    def _phi_grid(self, dt: float, m: int):
        """(phi(k dt), sum_j count_j s_j(k dt)) for k = 1..m.

        Large rows use e^{i k theta} = e^{i (k-1) theta} e^{i theta} (one complex product per
        frequency and weight instead of a sin and a cos) for the weights with theta = dt |w| / 2 >=
        1e-3; the sinc Im(e^{i k theta}) / (k theta) then has absolute error about k eps / (k theta)
        <= 2e-13 + the accumulated m eps. The other weights are done directly.
        """
        t = dt * np.arange(1, m + 1, dtype=np.float64)
        single = self.counts == 1
        theta1 = 0.5 * dt * self.values
        rec = single & (np.abs(theta1) >= 1e-3)
        if rec.sum() < 256 or m < 4:
            return self._phi(t, with_single=True)
        rest = ~rec
        if rest.any():
            sub = InterferenceLaw(self.values[rest], self.counts[rest], self.p, 0, 0.0, 0.0, 0.0)
            out, single_sum = sub._phi(t, with_single=True)
        else:
            out, single_sum = np.ones(m, dtype=complex), np.zeros(m, dtype=complex)
        th = theta1[rec]
        z1 = np.exp(1j * th)
        coef = self.p / th
        p_off = 1.0 - self.p
        step = max(1, _CHUNK // th.size)
        prev = np.ones(th.size, dtype=complex)
        for start in range(0, m, step):
            n = min(step, m - start)
            z = np.empty((n, th.size), dtype=complex)
            np.multiply(prev, z1, out=z[0])
            for k in range(1, n):
                np.multiply(z[k - 1], z1, out=z[k])
            prev = z[n - 1].copy()
            sc = z.imag * coef[None, :]
            sc /= (start + 1.0 + np.arange(n))[:, None]
            z *= sc  # p s_j(t)
            single_sum[start : start + n] += z.sum(axis=1) / self.p
            z.real += p_off
            out[start : start + n] *= _prod_columns(z)
        return out, single_sum

    # -- bounds on |phi_c| --------------------------------------------------------------------

    def _log_atom(self) -> float:
        return self.n_terms * math.log1p(-self.p) if self.p < 1.0 else -math.inf

    def _single_weight(self) -> float:
        """P(exactly one given term is on and all others off) = p (1-p)^(K-1)."""
        return self.p * (1.0 - self.p) ** (self.n_terms - 1) if self.n_terms else 0.0

    def _envelopes(self, t: float) -> tuple[float, float]:
        """Upper bounds on sup_{t' >= t} |phi_c(t')| and sup_{t' >= t} |phi_rest(t')| (t > 0).

        phi_c = phi - atom is the continuous part; phi_rest = phi_c - p (1-p)^(K-1) sum_j s_j is the
        part with at least two terms on. With E(x) = sup_{x' >= x} |sin x' / x'| (non-increasing),
        |phi_j(t)|^2 = (1-p)^2 + 2p(1-p) sinc(t w_j) + p^2 sinc(t w_j / 2)^2 <= env_j^2, and the
        expansion over on/off patterns with |s_j| <= E(t |w_j| / 2) gives the second form.
        """
        p = self.p
        x = t * np.abs(self.values)
        e1 = _sinc_envelope(x)
        e2 = _sinc_envelope(0.5 * x)
        cnt = self.counts.astype(np.float64)
        mod2 = (1.0 - p) ** 2 + 2.0 * p * (1.0 - p) * e1 + p * p * e2 * e2
        single = self._single_weight() * float(e2 @ cnt)
        with np.errstate(divide="ignore"):
            b1 = math.exp(0.5 * float(np.log(mod2) @ cnt)) + self.atom
            if p < 1.0:
                s = float(np.log1p(p * e2 / (1.0 - p)) @ cnt)
                b2 = math.exp(self._log_atom() + s) * -math.expm1(-s) if s > 0 else 0.0
            else:
                b2 = math.exp(float(np.log(e2) @ cnt))
        phic = min(b1, b2, 1.0 - self.atom)
        rest = min(b1 + single, max(b2 - single, 0.0) + 8.0 * _EPS * b2, 1.0)
        return phic, rest

    def _phic_envelope(self, t: float) -> float:
        """An upper bound on sup_{t' >= t} |phi(t') - atom| (t > 0), non-increasing in t."""
        return self._envelopes(t)[0]

    def _phic_decay(self) -> float:
        """C with |phi(t) - atom| <= C / t for all t > 0.

        Each on/off pattern S contributes P(S) prod_{j in S} s_j(t), |s_j(t)| <= 2 / (t |w_j|); bound
        the product by its factor with the largest |w_j|: C = 2 sum_j P(j is the largest on) / |w_j|.
        """
        order = np.argsort(-np.abs(self.values), kind="stable")
        a = np.abs(self.values[order])
        c = self.counts[order].astype(np.float64)
        before = np.cumsum(c) - c
        q = 1.0 - self.p
        return float(2.0 * np.sum(np.power(q, before) * (1.0 - np.power(q, c)) / a))

    def _rest_decay(self) -> float:
        """C2 with |phi_rest(t)| <= C2 / t^2 for all t > 0.

        A pattern with at least two terms on is bounded by its two factors with the largest |w|:
        C2 = 4 sum_{a < b} P(a, b are the two largest on) / (|w_a| |w_b|) = 4 p^2 sum_b (1-p)^(b-1)
        / |w_b| sum_{a < b} 1 / |w_a|, the terms in order of decreasing |w| (with multiplicity).
        """
        if self.n_terms < 2:
            return 0.0
        order = np.argsort(-np.abs(self.values), kind="stable")
        inv = np.repeat(1.0 / np.abs(self.values[order]), self.counts[order])
        prefix = np.cumsum(inv) - inv
        weights = np.power(1.0 - self.p, np.maximum(np.arange(inv.size) - 1, 0).astype(np.float64))
        return float(4.0 * self.p * self.p * np.sum(weights * inv * prefix))

    # -- the window ----------------------------------------------------------------------------

    def _log_mgf(self, theta: np.ndarray) -> np.ndarray:
        """K(theta) = log E e^{theta nu} at real theta != 0 (|theta| max|w| <= 700)."""
        y = theta[:, None] * self.values[None, :]
        q = np.expm1(y) / y
        return np.log1p(self.p * (q - 1.0)) @ self.counts.astype(np.float64)

    def _window(self, log_inv_eps: float) -> tuple[float, float, float]:
        """(A, B, P_out): a window with P(nu < A) <= eps (or A = lo), P(nu > B) <= eps (or B = hi).

        Chernoff: P(nu >= mu + s) <= exp(K(theta) - theta (mu + s)), minimised over a few theta.
        """
        mu, v = self.mean, self.var
        lam = log_inv_eps
        cap = 700.0 / float(np.max(np.abs(self.values)))
        theta0 = math.sqrt(2.0 * lam / v) if v > 0 else math.inf  # v is 0 for tiny weights at tiny p
        cands = np.unique(np.minimum(theta0 * 2.0 ** np.arange(-4.0, 2.0), cap))
        with np.errstate(over="ignore", invalid="ignore"):
            kp = self._log_mgf(cands)
            km = self._log_mgf(-cands)
        s_plus = np.nanmin(np.where(np.isfinite(kp), (kp - cands * mu + lam) / cands, np.inf))
        s_minus = np.nanmin(np.where(np.isfinite(km), (km + cands * mu + lam) / cands, np.inf))
        a, b = mu - s_minus, mu + s_plus
        p_out = 0.0
        if a <= self.lo:
            a = self.lo
        else:
            p_out += math.exp(-lam)
        if b >= self.hi:
            b = self.hi
        else:
            p_out += math.exp(-lam)
        return float(a), float(b), p_out

    # -- the density -----------------------------------------------------------------------------

    def density(self, grid_size: int = 1024, *, tail: float = 1e-16) -> InterferenceDensity:
        r"""The continuous part of the law on a grid of ``grid_size`` points, by FFT of phi - atom.

        The window is the support [lo, hi] when a Chernoff bound does not give a shorter one with
        mass ``tail`` outside it on each side. The frequencies |k| < grid_size / 2 are kept; the
        result comes with the L2 bound on the truncation error and the tail mass (see
        :class:`InterferenceDensity`).
        """
        is_int = isinstance(grid_size, (int, np.integer)) and not isinstance(grid_size, bool)
        if not is_int or grid_size < 8 or grid_size % 2 or grid_size > _MAX_GRID:
            raise ValueError(f"grid_size must be an even integer in [8, {_MAX_GRID}], got {grid_size!r}")
        tail_arr = check_real(tail, "tail")
        if not 0.0 < float(tail_arr) < 0.5:
            raise ValueError(f"tail must be in (0, 0.5), got {float(tail_arr)!r}")
        n = int(grid_size)
        if self.n_terms == 0:
            y = np.zeros(n)
            return InterferenceDensity(y, np.zeros(n), 0.0, 0.0, (0.0, 0.0))
        a, b, p_out = self._window(-math.log(float(tail_arr)))
        ell = b - a
        half = n // 2
        dt = _TWO_PI / ell
        coeff = np.zeros(n, dtype=complex)
        phi = self._phi_grid(dt, half - 1)[0] - self.atom
        k = np.arange(1, half)
        coeff[1:half] = phi * np.exp(-1j * dt * k * a)
        dens = ((1.0 - self.atom) + 2.0 * np.real(np.fft.fft(coeff))) / ell
        y = a + ell * np.arange(n) / n
        # L2 truncation bound: sum_{k >= half} min(B0, C'/k)^2
        b0 = self._phic_envelope(dt * half)
        cprime = self._phic_decay() * ell / _TWO_PI
        kc = cprime / b0 if b0 > 0 else 0.0
        m = max(float(half), kc)
        tail_sum = b0 * b0 * max(0.0, kc - half + 1.0) + cprime * cprime * (1.0 / m + 1.0 / (m * m))
        bound = math.sqrt(2.0 / ell * tail_sum)
        return InterferenceDensity(y, dens, bound, p_out, (a, b))

    # -- the loss of a row -----------------------------------------------------------------------

    def expected_loss(self, diag, bias, *, tol=1e-6, method="auto") -> RowLoss:
        r"""E (x - ReLU(diag x + nu + bias))^2 with x ~ Bernoulli(p) U[0, 1] independent of nu.

        The loss of a row with W_ii = ``diag``, b_i = ``bias`` and this law of the interference,
        with an error bound; ``tol`` is the relative accuracy aimed at (the bound is computed, not
        assumed). ``method``: "auto" (exact without interference, enumeration for at most 8 terms,
        else Fourier), "fourier", or "enumerate" (3^n_terms terms: at most 12 terms).
        """
        w = check_scalar(diag, "diag")
        b = check_scalar(bias, "bias")
        tol_v = check_tol(tol)
        if method not in ("auto", "fourier", "enumerate"):
            raise ValueError(f"method must be 'auto', 'fourier' or 'enumerate', got {method!r}")
        if method == "enumerate" and self.n_terms > 12:
            raise ValueError(f"method 'enumerate' needs at most 12 terms, got {self.n_terms}")
        return _row_loss(self, w, b, tol_v, method)

    def as_dict(self) -> dict:
        """The scalar summary (for JSON)."""
        return {
            "p": self.p,
            "n_terms": self.n_terms,
            "n_distinct": int(self.values.size),
            "atom": self.atom,
            "lo": self.lo,
            "hi": self.hi,
            "mean": self.mean,
            "var": self.var,
        }


def interference_law(row, p, *, counts=None) -> InterferenceLaw:
    r"""The exact law of nu = sum_j row_j x_j, x_j i.i.d. Bernoulli(p) U[0, 1].

    ``row`` is a 1-D array of the off-diagonal weights of one row (zeros allowed: a zero weight
    contributes nothing); ``counts``, if given, are nonnegative integer multiplicities of the entries
    of ``row`` (so that a row with few distinct values, such as a Persian rug's, is given once).
    Returns an :class:`InterferenceLaw` with the atom, the support, closed-form cumulants, the
    characteristic function and the density.
    """
    w = check_real(row, "row")
    if w.ndim != 1:
        raise ValueError(f"row must be a 1-D array, got shape {w.shape}")
    p_v = float(check_scalar_p(p))
    if counts is None:
        nz = np.sort(w[w != 0] + 0.0)
        return law_from_sorted(nz, p_v)
    c = as_float_array(counts, "counts")
    if c.shape != w.shape or not np.all(np.isfinite(c)) or np.any(c < 0) or np.any(c != np.round(c)):
        raise ValueError(f"counts must be nonnegative integers of the shape of row {w.shape}, got {counts!r}")
    keep = (w != 0) & (c > 0)
    vals, inv = np.unique(w[keep] + 0.0, return_inverse=True)
    cnt = np.zeros(vals.size, dtype=np.int64)
    np.add.at(cnt, inv, c[keep].astype(np.int64))
    return law_from_sorted(vals, p_v, cnt)


# ----------------------------------------------------------------------------- g = h(. + b)


def _h_pieces(w: float, p: float):
    """(c1, c2, pieces): h on (-inf, c1], [c1, c2], [c2, inf) as (anchor, coefficients in c - anchor)."""
    left = (0.0, np.array([p / 3.0, 0.0, 0.0, 0.0]))
    right = (0.0, np.array([p * (1.0 - w) ** 2 / 3.0, -p * (1.0 - w), 1.0, 0.0]))
    if w > 0:
        mid = (-w, np.array([p / 3.0, 0.0, -p / w, p * (1.0 + w) / (3.0 * w * w)]))
        return -w, 0.0, (left, mid, right)
    if w < 0:
        mid = (0.0, np.array([p / 3.0, 0.0, 1.0 - p, -p * (1.0 + w) / (3.0 * w * w)]))
        return 0.0, -w, (left, mid, right)
    return 0.0, 0.0, (left, right, right)


def _taylor(coef: np.ndarray, x0: float) -> np.ndarray:
    """Coefficients of P(x0 + s) in s for a cubic P given by coefficients in its own variable."""
    a0, a1, a2, a3 = coef
    return np.array(
        [
            a0 + x0 * (a1 + x0 * (a2 + x0 * a3)),
            a1 + x0 * (2.0 * a2 + 3.0 * a3 * x0),
            a2 + 3.0 * a3 * x0,
            a3,
        ]
    )


def _h_value(c: float, w: float, p: float) -> float:
    c1, c2, pieces = _h_pieces(w, p)
    idx = 0 if c <= c1 else (1 if c < c2 else 2)
    anchor, coef = pieces[idx]
    return float(np.polynomial.polynomial.polyval(c - anchor, coef))


def _piece_index(c: float, c1: float, c2: float) -> int:
    return 0 if c < c1 else (1 if c < c2 else 2)


def _jn_series_table(terms: int = 24) -> np.ndarray:
    """Real coefficients a[n, m] with J_n(x) = i^(n mod 2) sum_m a[n, m] x^m (Taylor series)."""
    table = np.zeros((4, terms))
    for n in range(4):
        for m in range(terms):
            if (n + m) % 2 == 0:
                # (-i)^m: real (-1)^(m/2) for even m, -i (-1)^((m-1)/2) for odd m
                sign = (-1) ** (m // 2) * (-1 if m % 2 else 1)
                table[n, m] = sign * 2.0 / ((n + m + 1) * math.factorial(m))
    return table


_JN_TABLE = _jn_series_table()


def _jn(x: np.ndarray) -> np.ndarray:
    """J_n(x) = int_{-1}^{1} v^n e^{-i x v} dv, n = 0..3, for real x (shape (4,) + x.shape).

    Closed forms for |x| >= 1, the Taylor series (24 terms, error < 1e-24) below.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.empty((4,) + x.shape, dtype=complex)
    small = np.abs(x) < 1.0
    if small.any():
        xs = x[small]
        acc = np.zeros((4, xs.size))
        for m in range(_JN_TABLE.shape[1] - 1, -1, -1):
            acc = acc * xs[None, :] + _JN_TABLE[:, m : m + 1]
        out[0][small] = acc[0]
        out[1][small] = 1j * acc[1]
        out[2][small] = acc[2]
        out[3][small] = 1j * acc[3]
    big = ~small
    if big.any():
        xb = x[big]
        s, c = np.sin(xb), np.cos(xb)
        out[0][big] = 2.0 * s / xb
        out[1][big] = -2j * (s - xb * c) / xb**2
        out[2][big] = 2.0 * ((xb * xb - 2.0) * s + 2.0 * xb * c) / xb**3
        out[3][big] = -2j * ((3.0 * xb * xb - 6.0) * s - (xb**3 - 6.0 * xb) * c) / xb**4
    return out


# ----------------------------------------------------------------------------- one row


def _row_loss(law: InterferenceLaw, w: float, b: float, tol: float, method: str = "auto") -> RowLoss:
    p = law.p
    extra = 0.0
    if w != 0 and abs(w) < _TINY_DIAG:
        extra = p * abs(w) * (1.0 + abs(b) + max(abs(law.lo), abs(law.hi)))
        w = 0.0
    if law.n_terms == 0:
        return RowLoss(float(_h_value(b, w, p)), float(extra), "exact")
    enumerated = None  # the enumeration, kept when the Fourier route cannot do better within its frequencies
    if method == "enumerate" or (method == "auto" and law.n_terms <= _ENUMERATE_MAX):
        value, rounding = _enumerate(law, w, b)
        enumerated = RowLoss(float(value), float(rounding + extra), "enumerate")
        if method == "enumerate" or rounding <= 1e-3 * tol * abs(value):
            return enumerated
    # a first target from a Gaussian estimate (7-point Gauss-Hermite); redone once, aiming lower,
    # if the bound misses tol relative to the value found
    nodes, weights = _HERMITE
    estimate = float(weights @ _g_eval(law.mean + math.sqrt(law.var) * nodes, w, b, p)) / math.sqrt(_TWO_PI)
    if w == 0:
        estimate = max(estimate, p * (4.0 - 3.0 * p) / 12.0)  # >= Var x when the output ignores x_i
    found = _fourier(law, w, b, tol * max(estimate, 1e-300), enumerated is not None)
    if found is None:
        return enumerated
    value, bound, m = found
    if bound > tol * abs(value):
        again = _fourier(law, w, b, 0.5 * tol * max(abs(value), 1e-300), enumerated is not None)
        if again is None:
            return enumerated if enumerated.error_bound - extra <= bound else RowLoss(
                float(value), float(bound + extra), "fourier", int(m))
        value, bound, m = again
    return RowLoss(float(value), float(bound + extra), "fourier", int(m))


def _enumerate(law: InterferenceLaw, w: float, b: float) -> tuple[float, float]:
    """E h(b + nu) by the 3^K terms of E (z + nu)_+^n; returns (value, rounding-error estimate).

    One feature maps (z)_+^n to (1-p) z_+^n + p [(z + w)_+^{n+1} - z_+^{n+1}] / ((n+1) w), so after K
    features E (z + nu)_+^n = sum coef * n!/(n+m)! * (z + shift)_+^{n+m}; h is p/3 plus truncated
    powers (c - beta)_+^n at its breakpoints.
    """
    p = law.p
    ws = np.repeat(law.values, law.counts)
    coef = np.array([1.0])
    shift = np.array([0.0])
    deg = np.array([0])
    for wj in ws:
        parts_c = [coef * (p / wj), -coef * (p / wj)]
        parts_s = [shift + wj, shift]
        parts_d = [deg + 1, deg + 1]
        if p < 1.0:
            parts_c.append(coef * (1.0 - p))
            parts_s.append(shift)
            parts_d.append(deg)
        coef, shift, deg = np.concatenate(parts_c), np.concatenate(parts_s), np.concatenate(parts_d)
    if w > 0:
        cubic = p * (1 + w) / (3 * w * w)
        junctions = [(-w, {2: -p / w, 3: cubic}), (0.0, {2: 1.0 - p, 3: -cubic})]
    elif w < 0:
        cubic = p * (1 + w) / (3 * w * w)
        junctions = [(0.0, {2: 1.0 - p, 3: -cubic}), (-w, {2: -p / w, 3: cubic})]
    else:
        junctions = [(0.0, {1: -p, 2: 1.0})]
    total = p / 3.0
    abs_total = p / 3.0
    for beta, terms in junctions:
        z = b - beta + shift
        zp = np.maximum(z, 0.0)
        for n, a_n in terms.items():
            expo = n + deg
            fac = np.array([math.factorial(n) / math.factorial(int(e)) for e in range(n, n + deg.max() + 1)])[deg]
            contrib = a_n * coef * fac * zp**expo
            total += float(np.sum(contrib))
            abs_total += float(np.sum(np.abs(contrib)))
    return total, _EPS * (4 * ws.size + 16) * abs_total


def _segments(a: float, b_win: float, w: float, b: float, p: float):
    """The window [a, b_win] in y split at the breakpoints of g, with local cubic coefficients."""
    c1, c2, pieces = _h_pieces(w, p)
    cuts = sorted({a, b_win} | {y for y in (c1 - b, c2 - b) if a < y < b_win})
    segs = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        if hi <= lo:
            continue
        ym = 0.5 * (lo + hi)
        idx = _piece_index(ym + b, c1, c2)
        anchor, coef = pieces[idx]
        segs.append((ym, 0.5 * (hi - lo), _taylor(coef, ym + b - anchor), idx))
    return segs, (c1 - b, c2 - b), pieces


def _g_eval(y: np.ndarray, w: float, b: float, p: float) -> np.ndarray:
    """g(y) = h(y + b), vectorised (a point on a breakpoint may take either side: g is continuous)."""
    c1, c2, pieces = _h_pieces(w, p)
    c = np.asarray(y, dtype=np.float64) + b
    idx = np.where(c < c1, 0, np.where(c < c2, 1, 2))
    out = np.empty(c.shape)
    for k, (anchor, coef) in enumerate(pieces):
        sel = idx == k
        if sel.any():
            s = c[sel] - anchor
            out[sel] = coef[0] + s * (coef[1] + s * (coef[2] + s * coef[3]))
    return out


def _g_means(v: np.ndarray, w: float, b: float, p: float) -> np.ndarray:
    """int_0^1 g(v u) du for each v != 0: the mean of g over [min(0, v), max(0, v)].

    The interval is cut at the breakpoints of g and each cubic piece integrated by two-point
    Gauss-Legendre, which is exact for cubics.
    """
    c1, c2, _ = _h_pieces(w, p)
    lo, hi = np.minimum(v, 0.0), np.maximum(v, 0.0)
    e1 = np.clip(c1 - b, lo, hi)
    e2 = np.clip(c2 - b, lo, hi)
    node = 1.0 / math.sqrt(3.0)
    bounds = ((lo, e1), (e1, e2), (e2, hi))
    halves = np.stack([0.5 * (s1 - s0) for s0, s1 in bounds])
    mids = np.stack([0.5 * (s0 + s1) for s0, s1 in bounds])
    values = _g_eval(np.concatenate([mids - node * halves, mids + node * halves]), w, b, p)
    total = np.sum(halves * (values[:3] + values[3:]), axis=0)
    return total / np.abs(v)


def _fourier(law: InterferenceLaw, w: float, b: float, target: float,
             enumerated: bool = False) -> tuple[float, float, int] | None:
    """E g(nu) by Parseval on a window; returns (value, error bound, number of frequencies).

    E g(nu) = atom g(0) + E[g; one term on] + E[Q; two or more on] + E[r; two or more on]: the
    single-term part (uniform densities with jumps, Fourier coefficients ~ 1/t) is integrated
    exactly, the rest (coefficients ~ 1/t^2) by Parseval against r = g - Q.

    At most ``_MAX_FREQUENCIES`` frequencies (about 200 bytes each at the peak; p ~ 1e-16 once
    asked for 2e8 of them, 40 GB): where the target needs more, the bound achieved with that many
    is returned, or None without summing when the caller has an ``enumerated`` value to fall back on.
    """
    p = law.p
    mu, v = law.mean, law.var
    m2, m4, m6 = law._central_moments()
    root_moments = np.array([1.0, math.sqrt(m2), math.sqrt(m4), math.sqrt(m6)])
    c1, c2, pieces = _h_pieces(w, p)
    y_cuts = (c1 - b, c2 - b)
    piece_ranges = [(-math.inf, y_cuts[0]), (y_cuts[0], y_cuts[1]), (y_cuts[1], math.inf)]

    def growth(q_coef, regions):
        """max |coefficients about mu| of (piece - q) over the pieces that meet the regions."""
        cmax = np.zeros(4)
        for idx, (plo, phi_) in enumerate(piece_ranges):
            if idx == 1 and phi_ <= plo:
                continue
            if not any(max(plo, rlo) < min(phi_, rhi) for rlo, rhi in regions):
                continue
            anchor, coef = pieces[idx]
            cmax = np.maximum(cmax, np.abs(_taylor(coef, mu + b - anchor) - q_coef))
        return cmax

    tau_alias = 0.25 * target
    tau_trunc = 0.5 * target
    g_growth = growth(np.zeros(4), [(law.lo, law.hi)])
    lam = 2.0 * (math.log(max(float(g_growth @ root_moments), 1e-300)) - math.log(tau_alias)) + 4.0
    lam = min(max(lam, 20.0), 1400.0)
    for _ in range(6):
        a, bw, p_out = law._window(lam)
        ell = bw - a
        segs, _, _ = _segments(a, bw, w, b, p)
        # Q(y) = cq2 (y - a)^2 + cq1 (y - a) makes r = g - Q periodic and C^1 on the window
        _, h0, q0, _ = segs[0]
        _, h1, q1, _ = segs[-1]
        g_a = q0[0] - q0[1] * h0 + q0[2] * h0**2 - q0[3] * h0**3
        dg_a = q0[1] - 2 * q0[2] * h0 + 3 * q0[3] * h0**2
        g_b = q1[0] + q1[1] * h1 + q1[2] * h1**2 + q1[3] * h1**3
        dg_b = q1[1] + 2 * q1[2] * h1 + 3 * q1[3] * h1**2
        cq2 = (dg_b - dg_a) / (2.0 * ell)
        cq1 = (g_b - g_a - cq2 * ell * ell) / ell
        rsegs = []
        for ym, h, q, _ in segs:
            d = ym - a
            rsegs.append((ym, h, q - np.array([cq2 * d * d + cq1 * d, 2.0 * cq2 * d + cq1, cq2, 0.0])))
        r_window = max(float(np.sum(np.abs(rq) * h ** np.arange(4))) for _, h, rq in rsegs)
        if p_out > 0:
            regions = []
            if a > law.lo:
                regions.append((law.lo, a))
            if bw < law.hi:
                regions.append((bw, law.hi))
            dq = mu - a
            q_about_mu = np.array([cq2 * dq * dq + cq1 * dq, 2.0 * cq2 * dq + cq1, cq2, 0.0])
            alias = math.sqrt(p_out) * float(growth(q_about_mu, regions) @ root_moments) + r_window * p_out
        else:
            alias = 0.0
        if alias <= tau_alias or lam >= 1400.0:
            break
        lam = min(lam + 2.0 * math.log(alias / tau_alias) + 4.0, 1400.0)

    # |G(t)| <= jump1 / t^2 + var2 / t^3: var2 = total variation of r'' on the circle, jump1 = the
    # jumps of r' (nonzero only for w = 0, where g has a kink)
    def ends(rq, h):
        d1 = (rq[1] - 2 * rq[2] * h + 3 * rq[3] * h * h, rq[1] + 2 * rq[2] * h + 3 * rq[3] * h * h)
        d2 = (2 * rq[2] - 6 * rq[3] * h, 2 * rq[2] + 6 * rq[3] * h)
        return d1, d2

    var2 = sum(12.0 * abs(rq[3]) * h for _, h, rq in rsegs)
    jump1 = 0.0
    for (_, h_l, rq_l), (_, h_r, rq_r) in zip(rsegs[:-1], rsegs[1:]):
        (_, d1l), (_, d2l) = ends(rq_l, h_l)
        (d1r, _), (d2r, _) = ends(rq_r, h_r)
        var2 += abs(d2r - d2l)
        jump1 += abs(d1r - d1l)
    var2 += abs(ends(rsegs[0][2], rsegs[0][1])[1][0] - ends(rsegs[-1][2], rsegs[-1][1])[1][1])

    # the single-term part (integrated exactly below) is left in the series when its mass is nil
    w1 = law._single_weight()
    if w1 * law.n_terms < 1e-30:
        w1 = 0.0
    which = 1 if w1 > 0 else 0  # the envelope of phi_rest or of phi_c

    # the number of frequencies: the tail sum_{k > M} |phi_rest(t_k)| |G(t_k)| / L, both sides
    scale = ell / _TWO_PI
    pre3 = 2.0 / ell * var2 * scale**3
    pre2 = 2.0 / ell * jump1 * scale**2
    half_tau = 0.5 * tau_trunc

    def by_envelope(m: int) -> float:
        b0 = law._envelopes((m + 1) / scale)[which]
        return pre3 * b0 / (2.0 * m * m) + pre2 * b0 / m

    decay_const: list[float] = []  # C2 L^2 / (2 pi)^2 or C L / (2 pi), computed only when needed

    def by_decay(m: int) -> float:
        if not decay_const:
            decay_const.append(law._rest_decay() * scale * scale if which else law._phic_decay() * scale)
        c = decay_const[0]
        if which:  # |phi_rest| <= C2 / t^2
            return pre3 * c / (4.0 * m**4) + pre2 * c / (3.0 * m**3)
        return pre3 * c / (3.0 * m**3) + pre2 * c / (2.0 * m * m)  # |phi_c| <= C / t

    def smallest_by_decay() -> int:
        by_decay(2)
        c = decay_const[0]
        if which:
            m = max((pre3 * c / (4.0 * half_tau)) ** 0.25, (pre2 * c / (3.0 * half_tau)) ** (1.0 / 3.0))
        else:
            m = max((pre3 * c / (3.0 * half_tau)) ** (1.0 / 3.0), math.sqrt(pre2 * c / (2.0 * half_tau)))
        return int(min(max(math.ceil(m), 2), _MAX_FREQUENCIES))

    # a difference of logs: the ratio underflows to 0 when the target is huge (|b| ~ 1e20 and above)
    # (v underflows to 0 for tiny weights at tiny p: interference_law([1e-20] * 9, 1e-300))
    t_g = math.inf
    if v > 0:
        t_g = math.sqrt(2.0 * max(math.log(max(pre3 + pre2, 1e-300)) - math.log(tau_trunc), 1.0) / v)
    # the Gaussian guess overshoots by far where it exceeds the cap (a law of tiny variance, whose
    # phi_rest is nil or small at every t): the search then starts low
    m_g = max(2, int(math.ceil(min(t_g * scale, 2.0 * _MAX_FREQUENCIES))))
    cand = m_g if m_g <= _MAX_FREQUENCIES else 2
    m_dec = None
    while True:
        env = by_envelope(cand)
        if env <= tau_trunc:
            break
        if m_dec is None:
            m_dec = smallest_by_decay()
        if cand >= m_dec:
            break
        cand = min(max(cand + 1, int(1.5 * cand)), m_dec)
    m_use = cand
    truncation = env if env <= tau_trunc else min(env, by_decay(m_use))
    if enumerated and truncation > tau_trunc:
        return None  # the target is out of reach within _MAX_FREQUENCIES: the caller keeps its enumeration

    # the single-term part, exactly
    cnt = law.counts.astype(np.float64)
    vals = law.values
    p_single = w1 * law.n_terms
    if w1 > 0:
        single_g = w1 * float(_g_means(vals, w, b, p) @ cnt)
        single_q = w1 * float((cq2 * (vals * vals / 3.0 - a * vals + a * a) + cq1 * (0.5 * vals - a)) @ cnt)
    else:
        single_g = single_q = 0.0

    # Parseval for the part with two or more terms on
    dt = 1.0 / scale
    phi, single_sum = law._phi_grid(dt, m_use)
    phi_rest = phi - law.atom - w1 * single_sum
    t = dt * np.arange(1, m_use + 1)
    g_t = np.zeros(m_use, dtype=complex)
    g_zero = 0.0
    for ym, h, rq in rsegs:
        g_t += np.exp(-1j * t * ym) * np.einsum("n,nk->k", rq * h ** np.arange(1, 5), _jn(t * h))
        g_zero += 2.0 * (rq[0] * h + rq[2] * h**3 / 3.0)
    terms = phi_rest * g_t
    rest_mass = max(1.0 - law.atom - p_single, 0.0)
    series = (rest_mass * g_zero + 2.0 * float(np.sum(terms.real))) / ell
    g0 = _h_value(b, w, p)
    q_at_0 = cq2 * a * a - cq1 * a
    e_q = cq2 * ((mu - a) ** 2 + v) + cq1 * (mu - a)
    value = law.atom * g0 + single_g + (e_q - law.atom * q_at_0 - single_q) + series
    magnitude = (
        abs(law.atom * g0) + abs(single_g) + abs(e_q) + abs(law.atom * q_at_0) + abs(single_q)
        + (abs(rest_mass * g_zero) + 2.0 * float(np.sum(np.abs(terms)))) / ell
    )
    rounding = _EPS * (64.0 + law.n_terms) * magnitude
    return value, alias + truncation + rounding, m_use


# ----------------------------------------------------------------------------- the whole model


@dataclass(frozen=True, eq=False)
class ExactLoss:
    """The exact loss of a model x' = ReLU(W x + b) at finite n_s (:func:`exact_loss`).

    ``per_feature``: L_i = E (x_i - f(x)_i)^2; ``per_feature_bound``: a bound on the error of each;
    ``total`` = mean(per_feature); ``error_bound`` = mean(per_feature_bound) bounds its error;
    ``n_groups``: the number of distinct rows (law, W_ii, b_i) that were computed.
    """

    per_feature: np.ndarray
    per_feature_bound: np.ndarray
    total: float
    error_bound: float
    n_groups: int

    def as_dict(self) -> dict:
        """The fields as a plain dict, arrays as lists (for JSON)."""
        return {
            "per_feature": self.per_feature.tolist(),
            "per_feature_bound": self.per_feature_bound.tolist(),
            "total": self.total,
            "error_bound": self.error_bound,
            "n_groups": self.n_groups,
        }


def exact_loss(W, b, p, *, tol=1e-6) -> ExactLoss:
    r"""The exact per-feature loss of f(x) = ReLU(W x + b) on x_j = Bernoulli(p) U[0, 1], any W.

    L_i = E (x_i - ReLU(W_ii x_i + nu_i + b_i))^2 with the exact law of nu_i = sum_{j != i} W_ij x_j
    (:func:`interference_law`): no Gaussian approximation. Each row is computed by
    :meth:`InterferenceLaw.expected_loss` (exact for rows without interference, by enumeration for
    rows with at most 8 nonzero off-diagonal entries, otherwise by the Fourier method of the module
    docstring) with a bound on its error, aiming at relative accuracy ``tol``. Rows with the same
    (W_ii, b_i) and the same multiset of nonzero off-diagonal entries are computed once.

    Cost: O(n_s^2 log n_s) to sort and group the rows, plus O(D M) per distinct row with D distinct
    nonzero entries and M Fourier frequencies (M ~ 20-60 for dense rows at p ~ 0.05).

    Parameters
    ----------
    W : array_like, shape (n_s, n_s)
        Finite real weights (any matrix; W_out W_in in the toy model).
    b : float or array_like of shape (n_s,)
        The stored biases (not the effective ones).
    p : float
        Feature probability, in (0, 1].
    tol : float
        Relative accuracy aimed at, in (0, 1).

    Returns
    -------
    ExactLoss
    """
    w_arr, b_arr = check_model(W, b)
    p_v = check_scalar_p(p)
    tol_v = check_tol(tol)
    n = w_arr.shape[0]
    groups: dict[bytes, int] = {}
    reps: list[tuple[InterferenceLaw, float, float]] = []
    which = np.empty(n, dtype=np.int64)
    for i in range(n):
        row = w_arr[i].copy()
        wii = float(row[i]) + 0.0
        row[i] = 0.0
        nz = np.sort(row[row != 0] + 0.0)
        key = hashlib.blake2b(np.array([wii, float(b_arr[i]) + 0.0]).tobytes() + nz.tobytes(), digest_size=20).digest()
        idx = groups.get(key)
        if idx is None:
            idx = len(reps)
            groups[key] = idx
            reps.append((law_from_sorted(nz, p_v), wii, float(b_arr[i])))
        which[i] = idx
    values = np.empty(len(reps))
    bounds = np.empty(len(reps))
    for g, (law, wii, bi) in enumerate(reps):
        res = _row_loss(law, wii, bi, tol_v)
        values[g] = res.loss
        bounds[g] = res.error_bound
    per = values[which]
    per_b = bounds[which]
    return ExactLoss(per, per_b, float(np.mean(per)), float(np.mean(per_b)), len(reps))


# ----------------------------------------------------------------------------- the Persian rug


def _check_rug(n_s, S):
    if isinstance(n_s, bool) or not isinstance(n_s, (int, np.integer)) or n_s < 1 or (int(n_s) & (int(n_s) - 1)):
        raise ValueError(f"n_s must be a power of two >= 1, got {n_s!r}")
    n_s = int(n_s)
    s_arr = np.asarray(S)
    ok = s_arr.ndim == 1 and s_arr.size > 0 and s_arr.dtype != bool
    if ok and not np.issubdtype(s_arr.dtype, np.integer):
        ok = np.issubdtype(s_arr.dtype, np.floating) and bool(
            np.all(np.isfinite(s_arr)) and np.all(s_arr == np.round(s_arr))
        )
    if not ok:
        raise ValueError(f"S must be a non-empty 1-D array of integer column indices, got {S!r}")
    s_int = s_arr.astype(np.int64)
    if np.any(s_int < 0) or np.any(s_int >= n_s):
        raise ValueError(f"S must hold column indices in [0, {n_s}), got {S!r}")
    if np.unique(s_int).size != s_int.size:
        raise ValueError("S must hold distinct column indices")
    return n_s, s_int


def _fwht(a: np.ndarray) -> np.ndarray:
    """Unnormalised Sylvester-Hadamard transform of a length-2^k vector (a copy)."""
    a = np.array(a, dtype=np.float64)
    n = a.size
    h = 1
    while h < n:
        v = a.reshape(-1, 2, h)
        x = v[:, 0, :].copy()
        v[:, 0, :] += v[:, 1, :]
        v[:, 1, :] = x - v[:, 1, :]
        h *= 2
    return a


def rug_first_row(n_s, S) -> np.ndarray:
    r"""g(m) = n_d^-1 sum_{k in S} H_mk, the first row of the rug R = n_d^-1 H[:, S] H[:, S]^T.

    H is the Sylvester Hadamard matrix, H_mk = (-1)^popcount(m & k); R_ij = g(i XOR j), so every row
    of R is a permutation of g. Computed as the fast Walsh-Hadamard transform of the indicator of S,
    O(n_s log n_s). g(0) = 1 and sum_m g(m)^2 = n_s / n_d.
    """
    n_s, s_int = _check_rug(n_s, S)
    ind = np.zeros(n_s)
    ind[s_int] = 1.0
    return _fwht(ind) / s_int.size


def _rug_law(n_s, S, p):
    g = rug_first_row(n_s, S)
    vals, counts = np.unique(g[1:], return_counts=True)
    keep = vals != 0
    return g, vals[keep], counts[keep].astype(np.int64)


@dataclass(frozen=True, eq=False)
class RugLoss:
    """The exact per-feature loss of the rug model ReLU(a R x + b) (:func:`rug_exact_loss`)."""

    loss: float
    error_bound: float
    a: float
    b: float
    p: float
    n_s: int
    n_d: int

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON)."""
        return {k: getattr(self, k) for k in ("loss", "error_bound", "a", "b", "p", "n_s", "n_d")}


def rug_exact_loss(a, b, p, n_s, S, *, tol=1e-6) -> RugLoss:
    r"""The exact loss of the Persian Rug model f(x) = ReLU(a R x + b), every feature alike.

    R = n_d^-1 H[:, S] H[:, S]^T; each row has diagonal a and off-diagonal multiset {a g(m): m != 0}
    (:func:`rug_first_row`), so all features have the same loss. The law of the interference is
    built from the distinct values of g and their counts (phi = prod_v phi_v^count_v), so n_s = 2^20
    costs about a second. ``b`` is the raw bias (the same for every feature), a and b finite reals.
    """
    a_v = check_scalar(a, "a")
    b_v = check_scalar(b, "b")
    p_v = check_scalar_p(p)
    tol_v = check_tol(tol)
    n_s, s_int = _check_rug(n_s, S)
    _, vals, counts = _rug_law(n_s, s_int, p_v)
    return _rug_loss_from(vals, counts, a_v, b_v, p_v, n_s, s_int.size, tol_v)


def _rug_loss_from(vals, counts, a, b, p, n_s, n_d, tol) -> RugLoss:
    scaled = a * vals
    keep = scaled != 0
    order = np.argsort(scaled[keep])
    law = law_from_sorted(scaled[keep][order], p, counts[keep][order])
    res = _row_loss(law, a, b, tol)
    return RugLoss(res.loss, res.error_bound, a, b, p, n_s, n_d)


@dataclass(frozen=True, eq=False)
class RugOptimum:
    """The optimal rug model at finite n_s (:func:`rug_optimal_ab`).

    ``a``, ``b`` (the raw bias), ``b_eff`` = b + a (p/2) sum_{m != 0} g(m) (the theory's bias),
    ``loss`` and its ``error_bound``; ``large_ns_loss``, ``large_ns_a``, ``large_ns_b``: the
    macroscopic optimum theory.optimal_ab(p, n_d / n_s) (b there is the effective bias).
    """

    a: float
    b: float
    b_eff: float
    loss: float
    error_bound: float
    large_ns_loss: float
    large_ns_a: float
    large_ns_b: float
    p: float
    n_s: int
    n_d: int

    def as_dict(self) -> dict:
        """The fields as a plain dict (for JSON)."""
        keys = ("a", "b", "b_eff", "loss", "error_bound", "large_ns_loss", "large_ns_a", "large_ns_b")
        keys += ("p", "n_s", "n_d")
        return {k: getattr(self, k) for k in keys}


def rug_optimal_ab(p, n_s, S, *, tol=1e-9) -> RugOptimum:
    r"""Minimise the exact rug loss over (a, b) at finite n_s.

    Starts from the macroscopic optimum theory.optimal_ab(p, r = n_d / n_s), converted to the raw
    bias: the theory's b is the effective bias, with the mean of the interference absorbed, so
    b_raw = b_eff - a E nu with E nu = (p/2) sum_{m != 0} g(m) = (p/2) (n_s [0 in S] / n_d - 1)
    (nu in units of a; sum_m g(m) = n_s [0 in S] / n_d because column 0 of H is all ones). Then
    Nelder-Mead in (a, b) on :func:`rug_exact_loss` evaluated to relative accuracy ``tol``.
    """
    from scipy.optimize import minimize

    from .optimum import optimal_ab

    p_v = check_scalar_p(p)
    tol_v = check_tol(tol)
    n_s, s_int = _check_rug(n_s, S)
    n_d = s_int.size
    g, vals, counts = _rug_law(n_s, s_int, p_v)
    mean_nu = 0.5 * p_v * float(np.sum(g[1:]))
    macro = optimal_ab(p_v, n_d / n_s)
    a0 = macro.a
    b0 = macro.b - a0 * mean_nu

    def f(x):
        return _rug_loss_from(vals, counts, float(x[0]), float(x[1]), p_v, n_s, n_d, tol_v).loss

    scale = max(macro.loss, 1e-300)
    res = minimize(
        lambda x: f(x) / scale,
        np.array([a0, b0]),
        method="Nelder-Mead",
        options={
            # the exact loss is evaluated to relative accuracy tol, so differences of f / scale below
            # a few tol are noise: asking Nelder-Mead for less never terminates (it ran to maxiter,
            # 7852 evaluations, at p n_s = 3, n_s = 1024); near the minimum an error of tol in f
            # moves (a, b) by O(sqrt(tol)), which is the accuracy of the argmin
            "xatol": math.sqrt(tol_v),
            "fatol": 4.0 * tol_v,
            "maxiter": 2000,
            "initial_simplex": [[a0, b0], [a0 * 1.05 + 1e-3, b0], [a0, b0 + 0.05 * (abs(b0) + 0.01)]],
        },
    )
    a_opt, b_opt = float(res.x[0]), float(res.x[1])
    best = _rug_loss_from(vals, counts, a_opt, b_opt, p_v, n_s, n_d, tol_v)
    return RugOptimum(
        a=a_opt,
        b=b_opt,
        b_eff=b_opt + a_opt * mean_nu,
        loss=best.loss,
        error_bound=best.error_bound,
        large_ns_loss=macro.loss,
        large_ns_a=macro.a,
        large_ns_b=macro.b,
        p=p_v,
        n_s=n_s,
        n_d=n_d,
    )
