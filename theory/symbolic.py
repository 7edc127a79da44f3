r"""Symbolic derivations (sympy) behind the numerical theory: the paper's sections 4.1-4.2 and
appendices B and D, derived rather than transcribed.

One concept in one module (hence its length): the derivations, each checked against the numerical theory.

Besides the symbols, everything here is a plain function returning sympy expressions or matrices (or
``True`` after an exact check, or a numerical function lambdified from an expression); derivations that
take more than a moment are cached with :func:`functools.lru_cache`, so the expressions they return are
shared: treat them as immutable (sympy expressions are).

Conventions (see ``docs/``): a feature is :math:`x = c\,u`, :math:`c \sim \mathrm{Bernoulli}(p)`,
:math:`u \sim U[0, 1]`; the interference is :math:`\nu \sim N(0, \sigma^2)` with ``sigma`` a
*standard deviation*; :math:`r = n_d / n_s`; :math:`\Phi`, :math:`\varphi` are the standard normal
cdf and pdf.

Names: every sympy object the module exports -- the symbols, the functions that return expressions or
matrices, and the containers of expressions (:class:`FeatureMomentsSym`, :class:`ReluMomentsSym`) --
carries the suffix ``_sym`` (``Sym`` for the classes), so that ``from theory.symbolic import *`` and
``from theory import *`` never shadow each other: :func:`welch_sigma_sym` is the expression,
``theory.welch_sigma`` the number. The symbols are :data:`p_sym` (the feature probability),
:data:`r_sym`, :data:`a_sym`, :data:`b_sym`, :data:`sigma_sym`, :data:`z_sym` (the argument of
:math:`\psi_k`) and :data:`v_sym` (a feature variance); the module also keeps them as ``p``, ``r``,
``a``, ... for its own derivations, unexported. :data:`Phi_sym` is the sympy function :class:`Phi`
(it prints as ``Phi``) and :data:`phi_sym` the pdf :func:`phi`. The ``check_*`` functions return
``True`` or raise :class:`SymbolicIdentityError`; :func:`lambdify_closed_form` and
:func:`macroscopic_loss_numeric` return numerical functions and keep plain names.

Contents

1. :func:`feature_moments_sym` -- :math:`E[x] = p/2`, :math:`E[x^2] = p/3`,
   :math:`\mathrm{Var}\,x = (4p - 3p^2)/12`.
2. :func:`relu_moments_sym` -- :math:`\psi_k(z) = E[(z+N)_+^k] = P_k(z)\Phi(z) + Q_k(z)\varphi(z)`;
   :func:`check_relu_moment_identities` -- derivative, Stein recurrence and reflection identities.
3. :func:`macroscopic_loss_sym` -- :math:`L_\mathrm{off}`, :math:`L_\mathrm{on}`, :math:`L`
   in closed form; :func:`macroscopic_loss_numeric` -- the same as a vectorised numpy function.
4. Appendix D (the Welch-type bound): :func:`check_row_variance_identity`,
   :func:`check_cauchy_schwarz_step`, :func:`welch_variance_sym`, :func:`welch_sigma_sym`;
   :func:`sylvester_hadamard_sym`, :func:`persian_rug_matrix_sym` (exact H and R) and
   :func:`check_persian_rug_equality`.
5. Appendix B: :func:`optimal_a_sym` -- :math:`a_\mathrm{opt} = E[xR]/E[R^2]`.
6. :func:`linear_loss_sym` -- the optimal rank-:math:`n_d` linear autoencoder loses :math:`v(1 - r)` per
   feature; :func:`check_linear_loss` checks it on a concrete case.

Only sympy (and mpmath, which sympy itself requires) is imported at module import; numpy and scipy
are imported inside the functions that lambdify to them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, NamedTuple

import mpmath
import sympy as sp
from mpmath.libmp import prec_to_dps

__all__ = [
    # symbols (the module's single-letter names p, r, a, b, sigma, z, v are these same objects)
    "p_sym", "r_sym", "a_sym", "b_sym", "sigma_sym", "z_sym", "v_sym",
    # helpers
    "Phi_sym", "phi_sym", "SymbolicIdentityError", "lambdify_closed_form",
    # 1
    "FeatureMomentsSym", "feature_moments_sym",
    # 2
    "ReluMomentsSym", "relu_moments_sym", "check_relu_moment_identities",
    # 3
    "macroscopic_loss_sym", "macroscopic_loss_numeric",
    # 4
    "check_row_variance_identity", "check_cauchy_schwarz_step", "welch_variance_sym", "welch_sigma_sym",
    "sylvester_hadamard_sym", "persian_rug_matrix_sym", "check_persian_rug_equality",
    # 5
    "optimal_a_sym",
    # 6
    "linear_loss_sym", "check_linear_loss",
]

# --------------------------------------------------------------------------------------------
# Symbols shared by the public expressions
# --------------------------------------------------------------------------------------------
p = sp.Symbol("p", positive=True)  #: probability that a feature is on
r = sp.Symbol("r", positive=True)  #: compression ratio n_d / n_s
a = sp.Symbol("a", positive=True)  #: diagonal W_ii (the gain)
b = sp.Symbol("b", real=True)  #: bias
sigma = sp.Symbol("sigma", positive=True)  #: standard deviation of the interference nu
z = sp.Symbol("z", real=True)  #: argument of the ReLU moments psi_k(z)
v = sp.Symbol("v", positive=True)  #: variance of a feature (linear autoencoder)
# the same symbols under their exported names: the single letters read better in the derivations below
# but are not exported (a star import must not bring in a ``p`` or an ``a``)
p_sym, r_sym, a_sym, b_sym, sigma_sym, z_sym, v_sym = p, r, a, b, sigma, z, v

_u = sp.Symbol("u", real=True)  # the feature's magnitude, u ~ U[0, 1]
_n = sp.Symbol("n", real=True)  # a standard normal variable
_nu = sp.Symbol("nu", real=True)  # the interference, nu ~ N(0, sigma^2)
_s = sp.Symbol("s", positive=True)  # the ReLU argument's scale a * sigma
# placeholders used while collecting an expression into P * Phi + Q * phi + C
_PHI_CDF = sp.Symbol("Phi_placeholder")
_PHI_PDF = sp.Symbol("phi_placeholder")


class SymbolicIdentityError(AssertionError):
    """An identity that a symbolic check expected to hold did not simplify to zero."""


def _require_zero(expr: sp.Expr, what: str) -> None:
    """Raise :class:`SymbolicIdentityError` unless ``expr`` simplifies to exactly 0."""
    expr = sp.expand(expr)
    if expr != 0 and sp.simplify(expr) != 0:
        raise SymbolicIdentityError(f"{what}: difference does not vanish, got {sp.simplify(expr)}")


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise SymbolicIdentityError(what)


# --------------------------------------------------------------------------------------------
# The normal cdf as a sympy function (so that closed forms can be written as P*Phi + Q*phi and be
# lambdified to scipy.special.ndtr, which, unlike 1 + erf, keeps its relative accuracy for x < 0)
# --------------------------------------------------------------------------------------------
class Phi(sp.Function):
    r"""Standard normal cdf :math:`\Phi(x) = \tfrac12\,(1 + \mathrm{erf}(x/\sqrt2))`.

    ``expr.rewrite(sp.erf)`` turns it into erf; :func:`lambdify_closed_form` maps it to
    ``scipy.special.ndtr`` (or ``mpmath.ncdf``). Its derivative is :func:`phi`. Exported as
    ``Phi_sym`` (and :func:`phi` as ``phi_sym``).
    """

    nargs = 1

    @classmethod
    def eval(cls, x):
        if x is sp.S.Zero:
            return sp.S.Half
        if x is sp.S.Infinity:
            return sp.S.One
        if x is sp.S.NegativeInfinity:
            return sp.S.Zero
        return None

    def fdiff(self, argindex=1):
        return phi(self.args[0])

    def _eval_rewrite_as_erf(self, x, **kwargs):
        return (1 + sp.erf(x / sp.sqrt(2))) / 2

    def _eval_rewrite_as_erfc(self, x, **kwargs):
        return sp.erfc(-x / sp.sqrt(2)) / 2

    def _eval_evalf(self, prec):
        x = self.args[0].evalf(prec_to_dps(prec))
        if not x.is_Number:
            return None
        with mpmath.workprec(prec):
            return sp.Float(mpmath.ncdf(x._to_mpmath(prec)), precision=prec)

    def _eval_is_real(self):
        return self.args[0].is_real

    def _eval_is_positive(self):
        return True if self.args[0].is_real else None


def phi(x) -> sp.Expr:
    r"""Standard normal pdf :math:`\varphi(x) = e^{-x^2/2}/\sqrt{2\pi}` (a plain sympy expression)."""
    return sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)


#: the exported names of :class:`Phi` and :func:`phi` (the class keeps the name ``Phi``: it is the
#: function's name in printed expressions and the key that :func:`lambdify_closed_form` maps)
Phi_sym, phi_sym = Phi, phi


def _normal_form(expr: sp.Expr, arg: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    r"""Write ``expr`` (built from erf/erfc/exp of ``arg``) as :math:`P\Phi(arg) + Q\varphi(arg) + C`.

    Every ``erf(c)`` with ``c = arg/sqrt2`` becomes :math:`2\Phi - 1` (erfc likewise), every
    ``exp(-k arg^2/2)`` becomes :math:`(\sqrt{2\pi}\varphi)^k`; the result must then be a
    polynomial of degree at most one in :math:`\Phi` and :math:`\varphi` jointly (a
    :class:`SymbolicIdentityError` otherwise). Returns (P, Q, C), free of erf/exp of ``arg``.
    """
    e = sp.expand(sp.powsimp(sp.expand(expr)))
    e = e.rewrite(sp.erf)

    def _erf(x):
        if sp.simplify(x.args[0] - arg / sp.sqrt(2)) == 0:
            return 2 * _PHI_CDF - 1
        if sp.simplify(x.args[0] + arg / sp.sqrt(2)) == 0:
            return 1 - 2 * _PHI_CDF
        raise SymbolicIdentityError(f"unexpected erf argument {x.args[0]} (expected {arg}/sqrt(2))")

    def _exp(x):
        k = sp.simplify(x.args[0] / (-arg**2 / 2))
        if not (k.is_Integer and k != 0):
            raise SymbolicIdentityError(f"unexpected exponential {x} (expected exp(-k {arg}^2/2))")
        return (sp.sqrt(2 * sp.pi) * _PHI_PDF) ** k

    e = e.replace(lambda x: isinstance(x, sp.erf), _erf)
    e = e.replace(lambda x: isinstance(x, sp.exp), _exp)
    e = sp.expand(e)
    poly = sp.Poly(e, _PHI_CDF, _PHI_PDF)
    _require(
        set(poly.monoms()) <= {(1, 0), (0, 1), (0, 0)},
        f"not of the form P*Phi + Q*phi + C: monomials {poly.monoms()}",
    )
    coef = [sp.simplify(poly.coeff_monomial(m)) for m in (_PHI_CDF, _PHI_PDF, 1)]
    return coef[0], coef[1], coef[2]


def lambdify_closed_form(args, expr, backend: str = "scipy") -> Callable:
    """``sympy.lambdify(args, expr)`` with :class:`Phi` mapped to an accurate normal cdf.

    backend "scipy": ``modules=[{"Phi": scipy.special.ndtr}, "scipy", "numpy"]`` (vectorised);
    backend "mpmath": ``modules=[{"Phi": mpmath.ncdf}, "mpmath"]`` (scalar, at the current
    ``mpmath.mp.dps``). Expressions written with erf evaluate as written.
    """
    if backend == "scipy":
        from scipy import special

        modules = [{"Phi": special.ndtr}, "scipy", "numpy"]
    elif backend == "mpmath":
        modules = [{"Phi": mpmath.ncdf}, "mpmath"]
    else:
        raise ValueError(f"backend must be 'scipy' or 'mpmath', got {backend!r}")
    return sp.lambdify(args, expr, modules=modules)


# --------------------------------------------------------------------------------------------
# 1. Feature moments
# --------------------------------------------------------------------------------------------
class FeatureMomentsSym(NamedTuple):
    """Moments of one feature x = c u as sympy expressions in :data:`p_sym`."""

    mean: sp.Expr  #: E[x] = p/2
    second: sp.Expr  #: E[x^2] = p/3
    variance: sp.Expr  #: Var x = (4p - 3p^2)/12


@functools.lru_cache(maxsize=None)
def feature_moments_sym() -> FeatureMomentsSym:
    r"""Moments of :math:`x = c\,u`, :math:`c \sim \mathrm{Bernoulli}(p)`, :math:`u \sim U[0,1]`.

    By independence and total expectation over c,
    :math:`E[x^k] = (1-p)\cdot 0^k + p\int_0^1 u^k\,du = p/(k+1)` for k >= 1, so
    :math:`E[x] = p/2`, :math:`E[x^2] = p/3` and
    :math:`\mathrm{Var}\,x = p/3 - p^2/4 = (4p - 3p^2)/12`.
    The integrals are done by sympy; the last equality is checked.
    """

    def raw(k: int) -> sp.Expr:
        return sp.simplify(sum(prob * c**k * sp.integrate(_u**k, (_u, 0, 1))
                               for c, prob in ((0, 1 - p), (1, p))))

    mean, second = raw(1), raw(2)
    variance = sp.factor(second - mean**2)
    _require_zero(variance - (4 * p - 3 * p**2) / 12, "Var x = (4p - 3p^2)/12")
    return FeatureMomentsSym(mean, second, variance)


# --------------------------------------------------------------------------------------------
# 2. ReLU moments of a shifted standard normal
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReluMomentsSym:
    r""":math:`\psi_k(z) = E[(z+N)_+^k] = P_k(z)\Phi(z) + Q_k(z)\varphi(z)`, k = 0..kmax."""

    P: tuple  #: the polynomials P_k(z), k = 0..kmax
    Q: tuple  #: the polynomials Q_k(z)
    integrals: tuple  #: sympy's raw results for the defining integrals

    @property
    def kmax(self) -> int:
        return len(self.P) - 1

    def psi(self, k: int, arg=z, form: str = "erf") -> sp.Expr:
        r""":math:`\psi_k(arg)`; ``form="erf"`` writes :math:`\Phi` with erf, ``"Phi"`` keeps :class:`Phi`."""
        if form not in ("erf", "Phi"):
            raise ValueError(f"form must be 'erf' or 'Phi', got {form!r}")
        cdf = Phi(arg).rewrite(sp.erf) if form == "erf" else Phi(arg)
        return self.P[k].subs(z, arg) * cdf + self.Q[k].subs(z, arg) * phi(arg)


@functools.lru_cache(maxsize=None)
def relu_moments_sym(kmax: int = 4) -> ReluMomentsSym:
    r"""ReLU moments of a shifted unit normal, derived by integration.

    .. math::  \psi_k(z) = E[(z+N)_+^k] = \int_{-z}^{\infty} (z+n)^k \varphi(n)\,dn
               = P_k(z)\,\Phi(z) + Q_k(z)\,\varphi(z),

    with :math:`P_0..P_4 = 1,\ z,\ z^2+1,\ z^3+3z,\ z^4+6z^2+3` and
    :math:`Q_0..Q_4 = 0,\ 1,\ z,\ z^2+2,\ z^3+5z`. sympy does the integral (in erf/erfc and exp);
    the result is then collected, exactly, into the polynomial pair (P_k, Q_k).
    """
    if not (isinstance(kmax, int) and kmax >= 0):
        raise ValueError(f"kmax must be a non-negative integer, got {kmax!r}")
    P, Q, raw = [], [], []
    for k in range(kmax + 1):
        integral = sp.integrate((z + _n) ** k * phi(_n), (_n, -z, sp.oo))
        Pk, Qk, Ck = _normal_form(integral, z)
        _require(Ck == 0, f"psi_{k}: unexpected polynomial part {Ck}")
        _require(Pk.is_polynomial(z) and Qk.is_polynomial(z), f"psi_{k}: P, Q not polynomials")
        P.append(sp.expand(Pk))
        Q.append(sp.expand(Qk))
        raw.append(integral)
    return ReluMomentsSym(tuple(P), tuple(Q), tuple(raw))


@functools.lru_cache(maxsize=None)
def check_relu_moment_identities(kmax: int = 4) -> bool:
    r"""Check, exactly, the identities the numerical code relies on; ``True`` or raise.

    * the collected form equals sympy's integral;
    * :math:`\psi_k' = k\,\psi_{k-1}` (k >= 1);
    * Stein's recurrence :math:`\psi_k = z\,\psi_{k-1} + (k-1)\,\psi_{k-2}` (k >= 2);
    * reflection :math:`\psi_k(z) + (-1)^k\psi_k(-z) = E[(z+N)^k] = m_k(z)`, with
      :math:`m_k` computed as a full-line integral and compared with
      :math:`1,\ z,\ z^2+1,\ z^3+3z,\ z^4+6z^2+3` for k <= 4.
    """
    rm = relu_moments_sym(kmax)
    psi = [rm.psi(k) for k in range(kmax + 1)]
    known_m = [sp.Integer(1), z, z**2 + 1, z**3 + 3 * z, z**4 + 6 * z**2 + 3]
    for k in range(kmax + 1):
        _require_zero(psi[k] - rm.integrals[k].rewrite(sp.erf), f"psi_{k}: collected form vs integral")
        if k >= 1:
            _require_zero(sp.diff(psi[k], z) - k * psi[k - 1], f"psi_{k}' = {k} psi_{k - 1}")
        if k >= 2:
            _require_zero(psi[k] - z * psi[k - 1] - (k - 1) * psi[k - 2], f"Stein recurrence, k={k}")
        m_k = sp.integrate(sp.expand((z + _n) ** k) * phi(_n), (_n, -sp.oo, sp.oo))
        _require_zero(psi[k] + (-1) ** k * psi[k].subs(z, -z) - m_k, f"reflection, k={k}")
        if k < len(known_m):
            _require_zero(m_k - known_m[k], f"E[(z+N)^{k}]")
    return True


# --------------------------------------------------------------------------------------------
# 3. The macroscopic loss
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _macroscopic_loss_phi_form() -> dict:
    """L_off, L_on in terms of Phi (the sympy function) and exp; see macroscopic_loss_sym."""
    s = a * sigma
    z0 = b / s  # standardised ReLU argument at u = 0 (and for the off term)
    z1 = (a + b) / s  # ... at u = 1
    density = sp.exp(-_nu**2 / (2 * sigma**2)) / (sp.sqrt(2 * sp.pi) * sigma)

    # L_off: ReLU(a nu + b) vanishes below the kink nu = -b/a.
    off_integral = sp.integrate(sp.expand((a * _nu + b) ** 2) * density, (_nu, -b / a, sp.oo))
    P, Q, C = _normal_form(off_integral, z0)
    L_off = sp.factor(P) * Phi(z0) + sp.factor(Q) * phi(z0) + sp.factor(C)

    # L_on, inner expectation over nu = sigma n at fixed u: the ReLU argument is s (z + n) with
    # z = (a u + b)/s; below the kink n = -z the output is 0 and the error u^2.
    zz = z
    inner = (sp.integrate(_u**2 * phi(_n), (_n, -sp.oo, -zz))
             + sp.integrate(sp.expand((_u - _s * (zz + _n)) ** 2) * phi(_n), (_n, -zz, sp.oo)))
    # outer integral over u in [0, 1], substituting u = (s z - b)/a, du = (s/a) dz
    integrand = sp.expand(inner.subs(_u, (_s * zz - b) / a) * _s / a)
    antiderivative = sp.integrate(integrand, zz)
    P, Q, C = _normal_form(antiderivative, zz)

    def at(expr, zval):
        return sp.factor(sp.simplify(expr.subs(zz, zval).subs(_s, s)))

    poly_part = sp.simplify((C.subs(zz, (a + b) / _s) - C.subs(zz, b / _s)).subs(_s, s))
    L_on = (poly_part
            + at(P, (a + b) / _s) * Phi(z1) + at(Q, (a + b) / _s) * phi(z1)
            - at(P, b / _s) * Phi(z0) - at(Q, b / _s) * phi(z0))
    return {"L_off": L_off, "L_on": L_on, "L": (1 - p) * L_off + p * L_on}


def macroscopic_loss_sym(form: str = "erf") -> dict:
    r"""The macroscopic loss of section 4.1 in closed form.

    With :math:`\nu \sim N(0, \sigma^2)`, :math:`\sigma > 0`, :math:`a > 0`, :math:`s = a\sigma`,
    :math:`z_0 = b/s`, :math:`z_1 = (a+b)/s`:

    .. math::
        L_\mathrm{off} &= E[\mathrm{ReLU}(a\nu + b)^2] = (b^2 + s^2)\,\Phi(z_0) + b\,s\,\varphi(z_0), \\
        L_\mathrm{on} &= \int_0^1 E_\nu[(u - \mathrm{ReLU}(a(u+\nu)+b))^2]\,du
            = \tfrac13 + A(z_1)\Phi(z_1) + B(z_1)\varphi(z_1) - A(z_0)\Phi(z_0) - B(z_0)\varphi(z_0), \\
        L &= (1-p)\,L_\mathrm{off} + p\,L_\mathrm{on},

    where, with :math:`w = s z` (so :math:`w = b` at :math:`z_0` and :math:`w = a + b` at :math:`z_1`),

    .. math::
        A = \frac{(a-2)w^3 + 3bw^2 + 3s^2(aw + b)}{3a^2}, \qquad
        B = \frac{s\,[(a-2)w^2 + 3bw + 2(a+1)s^2]}{3a^2}.

    (Check: :math:`a = 1, b = 0, \sigma \to 0` gives :math:`L_\mathrm{on} \to \sigma^2`.) These
    formulas are the docstring's transcription; the returned expressions are sympy's derivation
    (the tests check that the two agree).

    Derivation (all by sympy): the nu-expectations are split at the kink of the ReLU
    (:math:`\nu = -b/a` for the off term; :math:`\nu = -u - b/a`, i.e. :math:`n = -z` for the
    standardised noise :math:`n = \nu/\sigma`, for the on term); the on term's u-integral is done
    after the substitution :math:`z = (a u + b)/(a\sigma)`, whose antiderivative (polynomial x erf
    and polynomial x Gaussian) is evaluated at :math:`z_0, z_1`.

    ``form="erf"`` (default) returns expressions in erf and exp; ``form="Phi"`` keeps the normal cdf
    as the sympy function :class:`Phi` (better for numerics). Returns a new dict with keys
    'L_off', 'L_on', 'L' (functions of :data:`a_sym`, :data:`b_sym`, :data:`sigma_sym` and, for 'L',
    :data:`p_sym`).
    """
    if form not in ("erf", "Phi"):
        raise ValueError(f"form must be 'erf' or 'Phi', got {form!r}")
    exprs = _macroscopic_loss_phi_form()
    if form == "Phi":
        return dict(exprs)
    return {key: expr.rewrite(sp.erf) for key, expr in exprs.items()}


@functools.lru_cache(maxsize=None)
def _macroscopic_loss_lambdified(term: str) -> Callable:
    return lambdify_closed_form((a, b, sigma, p), macroscopic_loss_sym("Phi")[term], "scipy")


def macroscopic_loss_numeric(term: str = "L") -> Callable:
    r"""The closed form of :func:`macroscopic_loss_sym` as a vectorised numpy function.

    Returns ``f(a, b, sigma, p)`` (broadcasting over arrays) for ``term`` in 'L' (default),
    'L_off' or 'L_on' (these two ignore p). It is ``sympy.lambdify`` with modules
    ``[{"Phi": scipy.special.ndtr}, "scipy", "numpy"]``; inputs are checked (a > 0, sigma > 0,
    b finite, 0 < p <= 1; ``ValueError`` naming the parameter). Accuracy: the closed forms are
    differences of terms; for very negative :math:`z_0 = b/(a\sigma)` the off term loses about
    :math:`\log_{10}(z_0^4)` digits to cancellation (the package's :mod:`theory.gaussian` does not).
    """
    if term not in ("L", "L_off", "L_on"):
        raise ValueError(f"term must be 'L', 'L_off' or 'L_on', got {term!r}")
    raw = _macroscopic_loss_lambdified(term)

    def loss(a, b, sigma, p):
        import numpy as np

        def check(x, name, ok, allowed):
            arr = np.asarray(x, dtype=np.float64)
            with np.errstate(invalid="ignore"):
                good = ok(arr) & np.isfinite(arr)
            if not np.all(good):
                raise ValueError(f"{name} must be {allowed}, got {arr[~good].flat[0]!r}")
            return arr

        a_ = check(a, "a", lambda x: x > 0, "finite and > 0")
        b_ = check(b, "b", lambda x: x == x, "a finite real number")
        s_ = check(sigma, "sigma", lambda x: x > 0, "finite and > 0")
        p_ = check(p, "p", lambda x: (x > 0) & (x <= 1), "in (0, 1]")
        shape = np.broadcast_shapes(a_.shape, b_.shape, s_.shape, p_.shape)
        out = np.array(np.broadcast_to(raw(a_, b_, s_, p_), shape), dtype=np.float64)
        return out[()]  # a numpy float for scalar input, as scipy.special does

    loss.__doc__ = f"{term}(a, b, sigma, p): lambdified closed form of theory.symbolic."
    loss.__name__ = term
    return loss


# --------------------------------------------------------------------------------------------
# 4. Appendix D: the minimal-variance (Welch-type) bound
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def check_row_variance_identity(n: int = 3) -> bool:
    r"""Appendix D, eq. (16), on a generic symbolic n x n matrix with unit diagonal.

    With independent features of variance :math:`\mathrm{Var}\,x`,
    :math:`\mathrm{Var}\,\nu_i = \mathrm{Var}\,x\sum_{j\ne i} W_{ij}^2`, and
    :math:`\sum_i\sum_{j\ne i} W_{ij}^2 = \mathrm{Tr}(WW^T) - n_s` (the trace is the sum of all
    squared entries; the diagonal contributes :math:`n_s`), so the mean over rows is
    :math:`\mathrm{Var}\,x\,(\mathrm{Tr}(WW^T) - n_s)/n_s`. ``True`` or raise.
    """
    W = sp.Matrix(n, n, lambda i, j: 1 if i == j else sp.Symbol(f"w_{i}{j}", real=True))
    var_x = feature_moments_sym().variance
    off_diagonal = sum(W[i, j] ** 2 for i in range(n) for j in range(n) if j != i)
    _require_zero(off_diagonal - ((W * W.T).trace() - n), "sum_{j!=i} W_ij^2 = Tr(W W^T) - n_s")
    # Var(nu_i) of nu_i = sum_{j!=i} W_ij x_j with independent x_j: the covariance is Var(x) I
    mean_var = sp.Rational(1, n) * sum(
        (sp.Matrix([[W[i, j] for j in range(n) if j != i]])
         * (var_x * sp.eye(n - 1))
         * sp.Matrix([W[i, j] for j in range(n) if j != i]))[0, 0]
        for i in range(n))
    _require_zero(mean_var - var_x * ((W * W.T).trace() - n) / n, "mean Var(nu_i)")
    return True


@functools.lru_cache(maxsize=None)
def check_cauchy_schwarz_step(n_d: int = 4) -> bool:
    r"""Appendix D, eq. (17), last step, for generic eigenvalues :math:`\lambda_1..\lambda_{n_d}`.

    If :math:`\sum_i\lambda_i = n_s` then
    :math:`\sum_i(\lambda_i - n_s/n_d)^2 = \sum_i\lambda_i^2 - n_s^2/n_d`, so
    :math:`\sum_i\lambda_i^2 \ge n_s^2/n_d`, with equality iff every :math:`\lambda_i = n_s/n_d`
    (a sum of real squares vanishes iff each term does). Checked with :math:`\lambda_{n_d}`
    eliminated through the constraint; ``True`` or raise.
    """
    ns = sp.Symbol("n_s", positive=True)
    lam = list(sp.symbols(f"lambda_1:{n_d}", real=True))
    lam.append(ns - sum(lam))  # the trace constraint sum(lambda) = n_s
    mean = ns / n_d
    squares = sum((x - mean) ** 2 for x in lam)
    _require_zero(squares - (sum(x**2 for x in lam) - ns**2 / n_d), "sum (lambda - n_s/n_d)^2")
    equal = {x: mean for x in lam[:-1]}
    _require_zero(squares.subs(equal), "equality when all eigenvalues are equal")
    _require_zero(lam[-1].subs(equal) - mean, "the last eigenvalue is then n_s/n_d too")
    return True


@functools.lru_cache(maxsize=None)
def welch_variance_sym() -> sp.Expr:
    r"""Lower bound on the interference *variance* (appendix D, eq. 18), a function of p and r.

    From eq. (16) and (17): mean :math:`\mathrm{Var}\,\nu_i \ge \mathrm{Var}\,x\,(n_s^2/n_d - n_s)/n_s
    = \mathrm{Var}\,x\,(n_s/n_d - 1)`; with :math:`n_d = r n_s` this is

    .. math::  \sigma^2 \ge \frac{4p - 3p^2}{12}\left(\frac1r - 1\right).

    (``sigma`` in the code is the standard deviation: see :func:`welch_sigma_sym`.)
    """
    ns, nd = sp.symbols("n_s n_d", positive=True)
    var_x = feature_moments_sym().variance
    min_trace = ns**2 / nd  # the Cauchy-Schwarz minimum of Tr(W W^T)
    bound = var_x * (min_trace - ns) / ns
    return sp.factor(sp.simplify(bound.subs(nd, r * ns)))


def welch_sigma_sym() -> sp.Expr:
    r"""Lower bound on the interference standard deviation: :math:`\sqrt{(4p-3p^2)(1/r-1)/12}`."""
    return sp.sqrt(welch_variance_sym())


def sylvester_hadamard_sym(n: int) -> sp.Matrix:
    """The n x n Sylvester Hadamard matrix (n a power of two), entries +-1, H H^T = n I."""
    if not (isinstance(n, int) and n >= 1 and n & (n - 1) == 0):
        raise ValueError(f"n must be a power of two, got {n!r}")
    H = sp.Matrix([[1]])
    while H.rows < n:
        H = sp.Matrix(sp.BlockMatrix([[H, H], [H, -H]]))
    return H


def persian_rug_matrix_sym(n_s: int, S) -> sp.Matrix:
    """The Persian Rug R = n_d^-1 H[:, S] H[:, S]^T (exact rationals), n_d = |S|."""
    H = sylvester_hadamard_sym(n_s)
    S = list(S)
    if len(set(S)) != len(S) or not S or not all(0 <= k < n_s for k in S):
        raise ValueError(f"S must be distinct column indices in 0..{n_s - 1}, got {S!r}")
    HS = H.extract(list(range(n_s)), S)
    return HS * HS.T / len(S)


@functools.lru_cache(maxsize=None)
def check_persian_rug_equality(n_s: int = 4, S: tuple = (0, 1)) -> bool:
    r"""The Persian Rug saturates the bound (eq. 6), checked exactly in rationals; ``True`` or raise.

    For :math:`R = n_d^{-1} H_{:,S} H_{:,S}^T` (H unnormalised, :math:`HH^T = n_sI`): :math:`R = R^T`,
    :math:`R_{ii} = 1`, :math:`R^2 = (n_s/n_d)R` -- R is proportional to a projector, not a projector:
    its :math:`n_d` non-zero eigenvalues all equal :math:`n_s/n_d` (they sum to
    :math:`\mathrm{Tr}\,R = n_s`, the equality case of the Cauchy-Schwarz step) --,
    :math:`\sum_{j\ne i} R_{ij}^2 = n_s/n_d - 1` for every row, :math:`\mathrm{Tr}(R)^2 =
    n_d\,\mathrm{Tr}(RR^T)` (tight frame), and the mean :math:`\mathrm{Var}\,\nu_i` equals
    :func:`welch_variance_sym` at :math:`r = n_d/n_s` exactly.
    """
    R = persian_rug_matrix_sym(n_s, S)
    n_d = len(S)
    _require(R == R.T, "R is symmetric")
    _require(all(R[i, i] == 1 for i in range(n_s)), "R_ii = 1")
    # H H^T = n_s I gives R^2 = (n_s/n_d) R: R is *proportional* to a projector (with the
    # unnormalised H of the convention, R^2 = R itself is false unless n_d = n_s)
    _require(R * R == sp.Rational(n_s, n_d) * R, "R^2 = (n_s/n_d) R")
    projector = R * sp.Rational(n_d, n_s)
    _require(projector * projector == projector, "(n_d/n_s) R is a projector")
    _require(R.rank() == n_d, "rank R = n_d")
    eigenvalues = R.eigenvals()
    _require(eigenvalues == ({sp.Rational(n_s, n_d): n_d, 0: n_s - n_d} if n_d < n_s
                             else {sp.Integer(1): n_s}),
             f"eigenvalues n_s/n_d (x n_d) and 0, got {eigenvalues}")
    row_sums = [sum(R[i, j] ** 2 for j in range(n_s) if j != i) for i in range(n_s)]
    _require(all(s == sp.Rational(n_s, n_d) - 1 for s in row_sums), f"row sums {row_sums}")
    _require(R.trace() ** 2 == n_d * (R * R.T).trace(), "tight frame: Tr(R)^2 = n_d Tr(R R^T)")
    var_x = feature_moments_sym().variance
    mean_var = var_x * sum(row_sums) / n_s
    _require_zero(mean_var - welch_variance_sym().subs(r, sp.Rational(n_d, n_s)), "bound attained")
    return True


# --------------------------------------------------------------------------------------------
# 5. Appendix B: the optimal gain a
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def optimal_a_sym() -> dict:
    r"""Appendix B: the optimal a at fixed (rescaled) bias and noise.

    Writing the bias as :math:`a\,b`, for :math:`a > 0`
    :math:`\mathrm{ReLU}(a(x+\nu+b)) = a\,\mathrm{ReLU}(x+\nu+b)` (checked on both signs of the
    argument), so with :math:`R = \mathrm{ReLU}(x+\nu+b)`

    .. math::  L(a) = E[(x - aR)^2] = E[x^2] - 2a\,E[xR] + a^2 E[R^2],

    a convex quadratic (:math:`L'' = 2E[R^2] > 0`). :math:`L'(a) = 0` gives
    :math:`a_\mathrm{opt} = E[xR]/E[R^2]` and :math:`L_\mathrm{min} = E[x^2] - E[xR]^2/E[R^2]`.

    Returns a dict: 'L' (as a function of a), 'a_opt', 'L_min', and the symbols 'E_xx', 'E_xR',
    'E_RR' standing for the three expectations.
    """
    E_xx, E_xR, E_RR = sp.symbols("E_xx E_xR E_RR", positive=True)
    t = sp.Symbol("t", positive=True)
    # homogeneity of ReLU = Max(0, .) for a > 0, on both sides of the kink
    for arg in (t, -t, sp.S.Zero):
        _require_zero(sp.Max(0, a * arg) - a * sp.Max(0, arg), "ReLU(a y) = a ReLU(y)")
    # E[(x - a R)^2] with the expectation applied term by term to the expanded square
    X, Rv = sp.symbols("X R_", real=True)
    expanded = sp.expand((X - a * Rv) ** 2)
    L = expanded.subs({X**2: E_xx, Rv**2: E_RR}).subs(X * Rv, E_xR)
    _require_zero(L - (E_xx - 2 * a * E_xR + a**2 * E_RR), "L(a) expansion")
    _require_zero(sp.diff(L, a, 2) - 2 * E_RR, "L''(a) = 2 E[R^2]")
    (a_opt,) = sp.solve(sp.Eq(sp.diff(L, a), 0), a)
    L_min = sp.simplify(L.subs(a, a_opt))
    _require_zero(L_min - (E_xx - E_xR**2 / E_RR), "L_min")
    return {"L": L, "a_opt": a_opt, "L_min": L_min, "E_xx": E_xx, "E_xR": E_xR, "E_RR": E_RR}


# --------------------------------------------------------------------------------------------
# 6. The optimal linear autoencoder
# --------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def linear_loss_sym() -> sp.Expr:
    r"""Per-feature loss of the best affine map of rank :math:`\le n_d` on i.i.d. features: v (1 - r).

    With bias c, :math:`E\|x - Mx - c\|^2 = \mathrm{Tr}((I-M)\,C\,(I-M)^T) + \|(I-M)\mu - c\|^2`
    (C the covariance, :math:`\mu` the mean), so the best bias is :math:`c = (I-M)\mu` and only the
    covariance :math:`C = vI` matters. By Eckart-Young the best rank-:math:`n_d` M keeps
    :math:`n_d` of the (all equal) eigenvalues v and loses the other :math:`n_s - n_d`, so per
    feature the loss is :math:`v(n_s - n_d)/n_s = v(1 - r)`. (With :math:`v = \mathrm{Var}\,x`
    this is :math:`(4p - 3p^2)(1 - r)/12`.) :func:`check_linear_loss` verifies a concrete case.
    """
    ns, nd = sp.symbols("n_s n_d", positive=True)
    eigenvalues_lost = (ns - nd) * v  # n_s - n_d discarded eigenvalues of C = v I
    return sp.factor(sp.simplify((eigenvalues_lost / ns).subs(nd, r * ns)))


@functools.lru_cache(maxsize=None)
def check_linear_loss(n_s: int = 3, n_d: int = 2) -> bool:
    r"""Check :func:`linear_loss_sym` on a concrete case with generic symbolic matrices; ``True`` or raise.

    * the bias decomposition: with :math:`E[xx^T] = C + \mu\mu^T`,
      :math:`E\|x - Mx - c\|^2` equals :math:`\mathrm{Tr}((I-M)C(I-M)^T) + \|(I-M)\mu - c\|^2`
      (generic M, :math:`\mu`, c; C = v I);
    * for a generic full-rank :math:`A` (:math:`n_s\times n_d`), the loss
      :math:`v\|I - AB\|_F^2` is a convex quadratic in B whose stationary point is
      :math:`B = (A^TA)^{-1}A^T` (so AB is the orthogonal projector on range A) and whose minimum is
      :math:`v(n_s - n_d)` whatever A is, i.e. :math:`v(1 - r)` per feature.
    """
    # bias decomposition
    M = sp.Matrix(n_s, n_s, lambda i, j: sp.Symbol(f"m_{i}{j}", real=True))
    mu = sp.Matrix(n_s, 1, lambda i, j: sp.Symbol(f"mu_{i}", real=True))
    c = sp.Matrix(n_s, 1, lambda i, j: sp.Symbol(f"c_{i}", real=True))
    I = sp.eye(n_s)
    C = v * I
    second_moment = C + mu * mu.T
    # E||(I-M)x - c||^2 = Tr((I-M) E[xx^T] (I-M)^T) - 2 c^T (I-M) mu + c^T c
    lhs = ((I - M) * second_moment * (I - M).T).trace() - 2 * (c.T * (I - M) * mu)[0, 0] + (c.T * c)[0, 0]
    gap = (I - M) * mu - c
    rhs = ((I - M) * C * (I - M).T).trace() + (gap.T * gap)[0, 0]
    _require_zero(lhs - rhs, "bias decomposition")

    # optimum over B for a generic A: loss = v ||I - A B||_F^2
    A = sp.Matrix(n_s, n_d, lambda i, j: sp.Symbol(f"alpha_{i}{j}", real=True))
    B = sp.Matrix(n_d, n_s, lambda i, j: sp.Symbol(f"beta_{i}{j}", real=True))
    loss = v * sum(x**2 for x in (I - A * B))
    unknowns = list(B)  # row-major: beta_{k j} has index k * n_s + j
    gradient = sp.Matrix([sp.diff(loss, x) for x in unknowns])
    # the gradient is -2 v A^T (I - A B), linear in B ...
    _require_zero(sum(gradient - (-2 * v * A.T * (I - A * B)).reshape(n_d * n_s, 1)), "gradient")
    # ... with Hessian 2 v (A^T A) kron I: positive definite when A has full rank (A^T A is then a
    # positive-definite Gram matrix), so the stationary point below is the unique minimum
    _require_zero(sum(sp.hessian(loss, unknowns) - 2 * v * sp.kronecker_product(A.T * A, sp.eye(n_s))),
                  "Hessian = 2 v (A^T A) kron I")
    B_opt = (A.T * A).inv() * A.T
    _require((A.T * (I - A * B_opt)).applyfunc(sp.cancel) == sp.zeros(n_d, n_s),
             "gradient vanishes at B_opt")
    Pm = (A * B_opt).applyfunc(sp.cancel)
    _require((Pm * Pm - Pm).applyfunc(sp.cancel) == sp.zeros(n_s), "A B_opt is a projector")
    _require(sp.cancel(v * sum(x**2 for x in (I - Pm))) == v * (n_s - n_d), "min loss = v (n_s - n_d)")
    _require_zero(linear_loss_sym().subs(r, sp.Rational(n_d, n_s)) - v * sp.Rational(n_s - n_d, n_s),
                  "per-feature loss v (1 - r)")
    return True

