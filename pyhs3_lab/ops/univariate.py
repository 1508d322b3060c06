"""Fundamental univariate distributions, with analytic normalisation over [min, max].

Every kernel gives the *unnormalised* log density (``log_density``) and, where a
closed form exists, the log of its integral over the observable's range
(``log_normalization``; ``ev.bounds`` may be ±inf). ``log_normalization``
returns ``None`` when the distribution is normalised over anything else than
its own variate field (e.g. ``x`` is a function of the observable): the
evaluator then integrates numerically.

Everything works in log space, so that far tails and narrow peaks in wide
windows stay accurate, and broadcasts over parameter arrays.
Conventions follow RooFit where HS3 and ROOT differ (see each class).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from ..errors import EvaluationError
from ..gradient import chain_adjoint
from ..registry import Kind, opt, register, req
from ..spec import Ref
from .base import Array, BuildContext, DistributionOp, Grad

if TYPE_CHECKING:
    from ..evaluate import Evaluator
    from ..plan import PlanBuilder

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)


# ---------------------------------------------------------------------------------------
# log-space helpers


def _arr(value: Any) -> Array:
    return np.asarray(value, dtype=float)


def _log_ndtr_float(x: float) -> float:
    """log Φ(x) for a float with math (scipy.special on a scalar costs a ufunc dispatch)."""
    if x > 0.0:
        return math.log1p(-0.5 * math.erfc(x * _SQRT_HALF))
    if x > -20.0:
        return math.log(0.5 * math.erfc(-x * _SQRT_HALF))
    return float(special.log_ndtr(x))


def _log_diff_exp_float(a: float, b: float) -> float:
    if b == -math.inf:
        return a
    d = b - a
    if d >= 0.0:
        return -math.inf if d == 0.0 else math.nan
    return a + math.log1p(-math.exp(d))


def log_diff_exp(a: Any, b: Any) -> Array:
    """log(exp(a) - exp(b)) for a >= b, without overflow or cancellation; -inf where a == b."""
    a, b = np.broadcast_arrays(_arr(a), _arr(b))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = a + np.log1p(-np.exp(b - a))
    return np.asarray(np.where(b == -np.inf, a, out))


def log_std_gauss_integral(a: Any, b: Any) -> Array:
    """log ∫_a^b exp(-t²/2) dt elementwise (-inf where a >= b), accurate in both tails."""
    if np.ndim(a) == 0 and np.ndim(b) == 0:  # scalars: math, no ufunc dispatch
        fa, fb = float(a), float(b)
        if not fa < fb:
            return np.asarray(-math.inf if not (math.isnan(fa) or math.isnan(fb)) else math.nan)
        if fa > 0.0:
            fa, fb = -fb, -fa
        return np.asarray(_log_diff_exp_float(_log_ndtr_float(fb), _log_ndtr_float(fa)) + _LOG_SQRT_2PI)
    a, b = np.broadcast_arrays(_arr(a), _arr(b))
    flip = a > 0  # both in the upper tail: use the symmetry t -> -t
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    out = log_diff_exp(special.log_ndtr(hi), special.log_ndtr(lo)) + _LOG_SQRT_2PI
    return np.asarray(np.where(a < b, out, -np.inf))


def log_gauss_integral_float(m: float, s: float, lo: float, hi: float) -> float:
    """:func:`log_gauss_integral` for floats with ``s > 0`` (the same operations, without numpy)."""
    fa, fb = (lo - m) / s, (hi - m) / s
    if not fa < fb:
        out = -math.inf if not (math.isnan(fa) or math.isnan(fb)) else math.nan
    else:
        if fa > 0.0:
            fa, fb = -fb, -fa
        out = _log_diff_exp_float(_log_ndtr_float(fb), _log_ndtr_float(fa)) + _LOG_SQRT_2PI
    return out + math.log(s)


def log_gauss_integral(mean: Any, sigma: Any, lo: Any, hi: Any) -> Array:
    """log ∫_lo^hi exp(-(x-mean)^2 / (2 sigma^2)) dx, accurate in the tails."""
    if np.ndim(mean) == 0 and np.ndim(sigma) == 0 and np.ndim(lo) == 0 and np.ndim(hi) == 0:
        m, s = float(mean), float(sigma)
        if s > 0.0:
            return np.asarray(log_gauss_integral_float(m, s, float(lo), float(hi)))
    mean, sigma = _arr(mean), _arr(sigma)
    return np.asarray(log_std_gauss_integral((lo - mean) / sigma, (hi - mean) / sigma) + np.log(sigma))


def log_gammainc_diff(s: Any, za: Any, zb: Any) -> Array:
    """log(P(s, zb) - P(s, za)) for 0 <= za <= zb (P the regularised lower incomplete gamma),
    taken on the side (P or Q = 1 - P) where it does not cancel."""
    s, za, zb = np.broadcast_arrays(_arr(s), _arr(za), _arr(zb))
    pa = special.gammainc(s, za)
    upper = pa > 0.5
    with np.errstate(divide="ignore"):
        lower_side = log_diff_exp(np.log(special.gammainc(s, zb)), np.log(pa))
        upper_side = log_diff_exp(np.log(special.gammaincc(s, za)), np.log(special.gammaincc(s, zb)))
    return np.asarray(np.where(zb <= za, -np.inf, np.where(upper, upper_side, lower_side)))


def _log_expm1_ratio(k: Array, big_l: Array) -> Array:
    """log((exp(k L) - 1) / k) for L >= 0 (the limit log L at k = 0; +inf if k >= 0 and L = inf)."""
    k, big_l = np.broadcast_arrays(k, big_l)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        kl = k * big_l
        pos = kl + np.log(-np.expm1(-kl)) - np.log(np.abs(k))  # k > 0
        neg = np.log(-np.expm1(kl)) - np.log(np.abs(k))  # k < 0
        zero = np.log(big_l)
        out = np.where(k > 0, pos, np.where(k < 0, neg, zero))
        out = np.where(np.isinf(big_l), np.where(k < 0, -np.log(np.abs(k)), np.inf), out)
        out = np.where(big_l == 0, -np.inf, out)
    return np.asarray(out)


def _log_cb_left_integral(t1: Array, t2: Array, alpha: Array, n: Array) -> Array:
    """log ∫_{t1}^{t2} g(t) dt of the one-sided (low tail) Crystal Ball shape in standard units:
    g = exp(-t²/2) for t >= -alpha, A (B - t)^-n below, with A, B continuous at -alpha (alpha > 0)."""
    t1, t2, alpha, n = np.broadcast_arrays(_arr(t1), _arr(t2), _arr(alpha), _arr(n))
    core = log_std_gauss_integral(np.maximum(t1, -alpha), t2)
    # power-law tail on [t1, min(t2, -alpha)]: with u = B - t, u(-alpha) = n/alpha
    with np.errstate(divide="ignore", invalid="ignore"):
        b = n / alpha - alpha
        log_a = n * np.log(n / alpha) - 0.5 * alpha * alpha
        t_hi = np.minimum(t2, -alpha)
        u_lo = b - t_hi  # the smaller u (upper end in t)
        u_hi = b - t1
        # ∫ A u^-n du over [u_lo, u_hi] = A u_lo^(1-n) (exp((1-n) L) - 1)/(1-n), L = log(u_hi/u_lo)
        big_l = np.log(u_hi) - np.log(u_lo)
        tail = log_a + (1.0 - n) * np.log(u_lo) + _log_expm1_ratio(1.0 - n, big_l)
    tail = np.where(t1 < t_hi, tail, -np.inf)
    return np.asarray(np.logaddexp(core, tail))


def _log_cb_left_density(t: Array, alpha: Array, n: Array) -> Array:
    """log g(t) of :func:`_log_cb_left_integral`."""
    t, alpha, n = np.broadcast_arrays(_arr(t), _arr(alpha), _arr(n))
    with np.errstate(divide="ignore", invalid="ignore"):
        b = n / alpha - alpha
        tail = n * np.log(n / alpha) - 0.5 * alpha * alpha - n * np.log(b - t)
    return np.asarray(np.where(t >= -alpha, -0.5 * t * t, tail))


def gauss_norm_partials(mean: Any, sigma: Any, lo: float, hi: float) -> tuple[Array, Array]:
    """∂/∂mean and ∂/∂sigma of :func:`log_gauss_integral` (stable in the tails: the ratios
    φ(a)/(Φ(b) - Φ(a)) are taken in log space)."""
    mu, s = _arr(mean), _arr(sigma)
    a, b = (lo - mu) / s, (hi - mu) / s
    log_int = log_std_gauss_integral(a, b)  # log ∫_a^b exp(-t²/2) dt
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        pa = np.where(np.isfinite(a), np.exp(-0.5 * a * a - log_int), 0.0)
        pb = np.where(np.isfinite(b), np.exp(-0.5 * b * b - log_int), 0.0)
        apa = np.where(np.isfinite(a), a * pa, 0.0)
        bpb = np.where(np.isfinite(b), b * pb, 0.0)
    return np.asarray((pa - pb) / s), np.asarray((1.0 + apa - bpb) / s)


def exp_norm_partial(c: Any, lo: float, hi: float) -> Array:
    """∂/∂c of log ∫_lo^hi exp(-c x) dx, i.e. minus the mean of x (a series where |c·width| is small)."""
    c = _arr(c)
    w = hi - lo
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if math.isfinite(w):
            cw = c * w
            pos = -lo + w / np.expm1(cw) - 1.0 / c
            neg = -hi - w / np.expm1(-cw) - 1.0 / c
            series = -0.5 * (lo + hi) + cw * w / 12.0
            out = np.where(np.abs(cw) < 1e-3, series, np.where(c > 0, pos, neg))
        else:
            out = np.where(c > 0, -lo - 1.0 / c, -hi - 1.0 / c)
    return np.asarray(out)


# ---------------------------------------------------------------------------------------
# common base


class _Univariate(DistributionOp):
    """A distribution of one variate field (``x`` unless the type names it otherwise)."""

    variate_field = "x"

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.type = ctx.component.type
        self.x: Ref = ctx.ref(self.variate_field)

    def _range(self, ev: Evaluator, observables: tuple[str, ...]) -> tuple[float, float] | None:
        """The observable's [lo, hi] if ``observables`` is exactly the variate field, else None."""
        if observables != (self.x,):
            return None
        return ev.bounds(str(self.x))

    def _fail(self, message: str) -> EvaluationError:
        return EvaluationError(f"{self.path} ({self.type} {self.name!r}): {message}")

    def _finite_range(self, ev: Evaluator) -> tuple[float, float]:
        """The range of ``x``, which must be finite (for shapes defined relative to it)."""
        lo, hi = ev.bounds(str(self.x)) if isinstance(self.x, str) else (-math.inf, math.inf)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise self._fail(f"field {self.variate_field!r} ({self.x!r}) needs a finite range [min, max] "
                             f"(give it one in a domain or on the data axis), got [{lo}, {hi}]")
        return lo, hi


def _values(ev: Evaluator, refs: Sequence[Ref]) -> list[Array]:
    return [_arr(ev.value(r)) for r in refs]


# ---------------------------------------------------------------------------------------
# kernels


@register("gaussian_dist", "distribution",
          {"x": req(Kind.REF), "mean": req(Kind.REF), "sigma": req(Kind.REF)},
          aliases=("normal_dist",), variates=("x",))
class Gaussian(_Univariate):
    """Gaussian (normal) distribution exp(-(x-mean)²/(2 sigma²)), truncated to the observable's range."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.mean = ctx.ref("mean")
        self.sigma = ctx.ref("sigma")

    def log_density(self, ev: Evaluator) -> Array:
        x, mu, s = ev.value(self.x), ev.value(self.mean), ev.value(self.sigma)
        if type(x) is float and type(mu) is float and type(s) is float and s != 0.0:
            zf = (x - mu) / s  # a constraint term: the same IEEE operations without ufunc dispatch
            return np.asarray(-0.5 * zf * zf)
        z = (np.asarray(x) - mu) / s
        return np.asarray(-0.5 * z * z)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        return log_gauss_integral(ev.value(self.mean), ev.value(self.sigma), *rng)

    def plan(self, builder: PlanBuilder) -> Any:
        return builder.gaussian(self.x, self.mean, self.sigma)

    def grad_log_density(self, ev: Evaluator, wrt: frozenset[str], adjoint: Any) -> Grad | None:
        x, mu, s = _arr(ev.value(self.x)), _arr(ev.value(self.mean)), _arr(ev.value(self.sigma))
        z = (x - mu) / s
        az = adjoint * z / s  # ∂/∂mean = z/s, ∂/∂x = -z/s, ∂/∂sigma = z²/s
        return chain_adjoint(ev, [(self.x, -1.0), (self.mean, 1.0), (self.sigma, lambda: z)], wrt, az)

    def grad_log_normalization(self, ev: Evaluator, observables: tuple[str, ...], wrt: frozenset[str],
                               adjoint: Any) -> Grad | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        d_mu, d_s = gauss_norm_partials(ev.value(self.mean), ev.value(self.sigma), *rng)
        return chain_adjoint(ev, [(self.mean, d_mu), (self.sigma, d_s)], wrt, adjoint)


@register("poisson_dist", "distribution",
          {"x": req(Kind.REF), "mean": req(Kind.REF), "integer": opt(Kind.BOOL)}, variates=("x",))
class Poisson(_Univariate):
    """Poisson pmf in its continuous (lgamma) form x·log(λ) - λ - lnΓ(x+1), never normalised over x.

    With ``"integer": true`` x is rounded down first (RooPoisson without noRounding). ROOT requires
    the ``integer`` key; a missing key means the continuous form. Zero for x < 0.
    """

    discrete = True

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.mean = ctx.ref("mean")
        self.integer = bool(ctx.raw("integer", False))

    def log_density(self, ev: Evaluator) -> Array:
        x, lam = _arr(ev.value(self.x)), _arr(ev.value(self.mean))
        if self.integer:
            x = np.floor(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = special.xlogy(x, lam) - lam - special.gammaln(x + 1.0)
        return np.asarray(np.where(x < 0, -np.inf, out))

    def grad_log_density(self, ev: Evaluator, wrt: frozenset[str], adjoint: Any) -> Grad | None:
        x, lam = _arr(ev.value(self.x)), _arr(ev.value(self.mean))
        if self.integer:
            x = np.floor(x)

        def d_lam() -> Array:
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.asarray(np.where(x < 0, 0.0, np.where(x == 0, -1.0, x / lam - 1.0)))

        def d_x() -> Any:
            if self.integer:
                return 0.0
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(x < 0, 0.0, np.log(lam) - special.digamma(x + 1.0))

        return chain_adjoint(ev, [(self.mean, d_lam), (self.x, d_x)], wrt, adjoint)


@register("exponential_dist", "distribution", {"x": req(Kind.REF), "c": req(Kind.REF)}, variates=("x",))
class Exponential(_Univariate):
    """Exponential exp(-c·x) (the HS3 sign; RooExponential with negated coefficient). c may be 0 or negative."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.c = ctx.ref("c")

    def log_density(self, ev: Evaluator) -> Array:
        return np.asarray(-_arr(ev.value(self.c)) * _arr(ev.value(self.x)))

    def plan(self, builder: PlanBuilder) -> Any:
        return builder.exponential(self.x, self.c)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        lo, hi = rng
        c = _arr(ev.value(self.c))
        if c.ndim == 0:  # a scalar coefficient: the same formulas with math (no ufunc dispatch)
            return np.asarray(self._log_norm_float(float(c), lo, hi))
        if (np.any(c > 0) and lo == -math.inf) or (np.any(c < 0) and hi == math.inf) or (
                np.any(c == 0) and not math.isfinite(hi - lo)):
            raise self._fail(f"exp(-c·x) with c = {c} cannot be normalised over [{lo}, {hi}]")
        width = hi - lo
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # c > 0: exp(-c lo) (1 - exp(-c w)) / c ;  c < 0: exp(-c hi) (1 - exp(c w)) / (-c)
            ac = np.abs(c)
            edge = np.where(c > 0, -c * lo, -c * hi)
            tail = np.log(-np.expm1(-ac * width)) if math.isfinite(width) else np.zeros_like(ac)
            out = edge + tail - np.log(ac)
        return np.asarray(np.where(c == 0, math.log(width) if width > 0 else -math.inf, out))

    def _log_norm_float(self, c: float, lo: float, hi: float) -> float:
        if (c > 0 and lo == -math.inf) or (c < 0 and hi == math.inf) or (c == 0 and not math.isfinite(hi - lo)):
            raise self._fail(f"exp(-c·x) with c = {c} cannot be normalised over [{lo}, {hi}]")
        width = hi - lo
        if c == 0:
            return math.log(width) if width > 0 else -math.inf
        ac = abs(c)
        edge = -c * lo if c > 0 else -c * hi
        if not math.isfinite(width):
            tail = 0.0
        else:
            m = -math.expm1(-ac * width)
            tail = math.log(m) if m > 0 else (-math.inf if m == 0 else math.nan)
        return edge + tail - math.log(ac) if ac == ac else math.nan

    def grad_log_density(self, ev: Evaluator, wrt: frozenset[str], adjoint: Any) -> Grad | None:
        c, x = _arr(ev.value(self.c)), _arr(ev.value(self.x))
        return chain_adjoint(ev, [(self.c, lambda: -x), (self.x, lambda: -c)], wrt, adjoint)

    def grad_log_normalization(self, ev: Evaluator, observables: tuple[str, ...], wrt: frozenset[str],
                               adjoint: Any) -> Grad | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        return chain_adjoint(ev, [(self.c, lambda: exp_norm_partial(ev.value(self.c), *rng))], wrt, adjoint)


@register("lognormal_dist", "distribution",
          {"x": req(Kind.REF), "mu": req(Kind.REF), "sigma": req(Kind.REF)}, variates=("x",))
class LogNormal(_Univariate):
    """Log-normal (1/x)·exp(-(ln x - mu)²/(2 sigma²)), zero for x <= 0 (RooLognormal, standard form)."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.mu = ctx.ref("mu")
        self.sigma = ctx.ref("sigma")

    def log_density(self, ev: Evaluator) -> Array:
        x = _arr(ev.value(self.x))
        mu, s = _arr(ev.value(self.mu)), _arr(ev.value(self.sigma))
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = np.log(np.where(x > 0, x, np.nan))
            z = (lx - mu) / s
            out = -lx - 0.5 * z * z
        return np.asarray(np.where(x > 0, out, -np.inf))

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        lo, hi = rng
        with np.errstate(divide="ignore"):
            llo = math.log(lo) if lo > 0 else -math.inf
            lhi = math.log(hi) if hi > 0 else -math.inf
        mu, s = _arr(ev.value(self.mu)), _arr(ev.value(self.sigma))
        return np.asarray(log_std_gauss_integral((llo - mu) / s, (lhi - mu) / s) + np.log(s))

    def grad_log_density(self, ev: Evaluator, wrt: frozenset[str], adjoint: Any) -> Grad | None:
        if isinstance(self.x, str) and not ev.graph.leaves(self.x).isdisjoint(wrt):
            return None  # the variate itself moves: not handled
        x = _arr(ev.value(self.x))
        mu, s = _arr(ev.value(self.mu)), _arr(ev.value(self.sigma))
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(x > 0, (np.log(np.where(x > 0, x, 1.0)) - mu) / s, 0.0)
        az = adjoint * z / s  # ∂/∂mu = z/s, ∂/∂sigma = z²/s
        return chain_adjoint(ev, [(self.mu, 1.0), (self.sigma, lambda: z)], wrt, az)

    def grad_log_normalization(self, ev: Evaluator, observables: tuple[str, ...], wrt: frozenset[str],
                               adjoint: Any) -> Grad | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        lo, hi = rng
        llo = math.log(lo) if lo > 0 else -math.inf
        lhi = math.log(hi) if hi > 0 else -math.inf
        d_mu, d_s = gauss_norm_partials(ev.value(self.mu), ev.value(self.sigma), llo, lhi)
        return chain_adjoint(ev, [(self.mu, d_mu), (self.sigma, d_s)], wrt, adjoint)


@register("uniform_dist", "distribution", {"x": req(Kind.REF)}, variates=("x",))
class Uniform(_Univariate):
    """Uniform distribution 1/(max - min) over the observable's range."""

    def log_density(self, ev: Evaluator) -> Array:
        return np.zeros_like(_arr(ev.value(self.x)))

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        lo, hi = self._finite_range(ev)
        return np.asarray(math.log(hi - lo) if hi > lo else -math.inf)


@register("argus_dist", "distribution",
          {"mass": req(Kind.REF), "resonance": req(Kind.REF), "slope": req(Kind.REF), "power": req(Kind.REF)},
          variates=("mass",))
class Argus(_Univariate):
    """ARGUS background m·(1 - (m/m0)²)^p·exp(c·(1 - (m/m0)²)) (RooArgusBG; ROOT spells it ``ARGUS_dist``).

    Zero for m >= m0 and, where ROOT would return a negative value, for m <= 0. The integral is
    analytic for every power p > -1: an incomplete gamma function for c < 0, a power for c = 0
    and Kummer's function 1F1 for c > 0.
    """

    variate_field = "mass"

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.m0 = ctx.ref("resonance")
        self.c = ctx.ref("slope")
        self.p = ctx.ref("power")

    def log_density(self, ev: Evaluator) -> Array:
        m = _arr(ev.value(self.x))
        m0, c, p = (_arr(ev.value(r)) for r in (self.m0, self.c, self.p))
        t = m / m0
        u = 1.0 - t * t
        inside = (t < 1.0) & (m > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.log(np.where(inside, m, 1.0)) + special.xlogy(p, np.where(inside, u, 1.0)) + c * u
        return np.asarray(np.where(inside, out, -np.inf))

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        lo, hi = rng
        m0, c, p = np.broadcast_arrays(*(_arr(ev.value(r)) for r in (self.m0, self.c, self.p)))
        ma = np.clip(lo, 0.0, m0)
        mb = np.clip(hi, 0.0, m0)
        ua = 1.0 - (ma / m0) ** 2  # the larger u (lower mass)
        ub = 1.0 - (mb / m0) ** 2
        s = p + 1.0
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # m dm = -(m0²/2) du:  ∫ = (m0²/2) ∫_{ub}^{ua} u^p e^{cu} du
            neg_c = np.where(c < 0, -c, 1.0)
            gam = -s * np.log(neg_c) + special.gammaln(s) + log_gammainc_diff(s, neg_c * ub, neg_c * ua)
            zero = log_diff_exp(s * np.log(ua), s * np.log(ub)) - np.log(s)
            pos_c = np.where(c > 0, c, 1.0)

            def log_prim(u: Array) -> Array:  # log ∫_0^u v^p e^{cv} dv = via e^{cu} 1F1(1; p+2; -cu) u^{p+1}/(p+1)
                return np.asarray(s * np.log(u) - np.log(s) + pos_c * u + np.log(special.hyp1f1(1.0, s + 1.0,
                                                                                              -pos_c * u)))

            kummer = log_diff_exp(log_prim(ua), log_prim(ub))
            inner = np.where(c < 0, gam, np.where(c > 0, kummer, zero))
        out = np.log(0.5 * m0 * m0) + inner
        if np.any(p <= -1) or np.any(np.isnan(out)):
            return None
        return np.asarray(out)


def _cb_check(raw: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    problems: list[tuple[str | None, str]] = []
    for key in ("sigma", "alpha", "n"):
        split = [k for k in (f"{key}_L", f"{key}_R") if k in raw]
        if key in raw and split:
            problems.append((key, f"{key!r} must not be given together with {split}"))
        elif key not in raw and len(split) != 2:
            missing = [k for k in (key, f"{key}_L", f"{key}_R") if k not in raw]
            problems.append((None, f"needs {key!r} or both {key}_L and {key}_R (missing {missing})"))
    return problems


_CB_FIELDS = {"m": req(Kind.REF), "m0": req(Kind.REF)} | {
    k: opt(Kind.REF) for k in ("sigma", "sigma_L", "sigma_R", "alpha", "alpha_L", "alpha_R", "n", "n_L", "n_R")}


class _CrystalBallBase(_Univariate):
    variate_field = "m"

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.m0 = ctx.ref("m0")


@register("crystalball_dist", "distribution", _CB_FIELDS, variates=("m",), checks=(_cb_check,))
class CrystalBall(_CrystalBallBase):
    """Crystal Ball line shape.

    With only ``sigma``, ``alpha`` and ``n`` (what ROOT writes) it is RooCBShape: one power-law
    tail, below the peak for alpha > 0 and above it for alpha < 0. With ``_L``/``_R`` keys it is the
    HS3 double-sided form (RooCrystalBall), a shared key standing for both sides.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.one_sided = all(ctx.has(k) for k in ("sigma", "alpha", "n"))
        self.refs: dict[str, Ref] = {}
        for key in ("sigma", "alpha", "n"):
            for side in ("L", "R"):
                self.refs[f"{key}_{side}"] = ctx.ref(key) if ctx.has(key) else ctx.ref(f"{key}_{side}")

    def _params(self, ev: Evaluator) -> dict[str, Array]:
        return {k: _arr(ev.value(r)) for k, r in self.refs.items()}

    def log_density(self, ev: Evaluator) -> Array:
        m, m0, p = _arr(ev.value(self.x)), _arr(ev.value(self.m0)), self._params(ev)
        if self.one_sided:
            t = (m - m0) / p["sigma_L"]
            alpha = p["alpha_L"]
            return _log_cb_left_density(np.where(alpha < 0, -t, t), np.abs(alpha), p["n_L"])
        return _double_sided_density(m, m0, p)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        lo, hi = rng
        m0, p = _arr(ev.value(self.m0)), self._params(ev)
        if self.one_sided:
            sigma, alpha = p["sigma_L"], p["alpha_L"]
            ta, tb = (lo - m0) / sigma, (hi - m0) / sigma
            t1, t2 = np.where(alpha < 0, -tb, ta), np.where(alpha < 0, -ta, tb)
            return np.asarray(_log_cb_left_integral(t1, t2, np.abs(alpha), p["n_L"]) + np.log(sigma))
        return _double_sided_norm(lo, hi, m0, p)


def _double_sided_density(m: Array, m0: Array, p: Mapping[str, Array]) -> Array:
    left = _log_cb_left_density((m - m0) / p["sigma_L"], np.abs(p["alpha_L"]), p["n_L"])
    right = _log_cb_left_density((m0 - m) / p["sigma_R"], np.abs(p["alpha_R"]), p["n_R"])
    return np.asarray(np.where(m < m0, left, right))


def _double_sided_norm(lo: float, hi: float, m0: Array, p: Mapping[str, Array]) -> Array:
    sl, sr = p["sigma_L"], p["sigma_R"]
    left = _log_cb_left_integral((lo - m0) / sl, np.minimum((hi - m0) / sl, 0.0), np.abs(p["alpha_L"]),
                                 p["n_L"]) + np.log(sl)
    right = _log_cb_left_integral((m0 - hi) / sr, np.minimum((m0 - lo) / sr, 0.0), np.abs(p["alpha_R"]),
                                  p["n_R"]) + np.log(sr)
    return np.asarray(np.logaddexp(left, right))


@register("crystalball_doublesided_dist", "distribution",
          {"m": req(Kind.REF), "m0": req(Kind.REF), "sigma_L": req(Kind.REF), "sigma_R": req(Kind.REF),
           "alpha_L": req(Kind.REF), "n_L": req(Kind.REF), "alpha_R": req(Kind.REF), "n_R": req(Kind.REF)},
          variates=("m",))
class CrystalBallDoubleSided(_CrystalBallBase):
    """Double-sided Crystal Ball (RooCrystalBall): Gaussian core of widths sigma_L/sigma_R, power-law tails."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.refs = {k: ctx.ref(k) for k in ("sigma_L", "sigma_R", "alpha_L", "n_L", "alpha_R", "n_R")}

    def log_density(self, ev: Evaluator) -> Array:
        p = {k: _arr(ev.value(r)) for k, r in self.refs.items()}
        return _double_sided_density(_arr(ev.value(self.x)), _arr(ev.value(self.m0)), p)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        p = {k: _arr(ev.value(r)) for k, r in self.refs.items()}
        return _double_sided_norm(rng[0], rng[1], _arr(ev.value(self.m0)), p)


class _CoefficientsBase(_Univariate):
    """A shape given by a list of coefficients (names or numbers, numeric strings allowed)."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.coefficients = ctx.refs("coefficients")

    def _log_positive(self, value: Array) -> Array:
        # a negative density is undefined (HS3); it evaluates to nan, not to something plausible
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.log(value))

    # -- derivatives: the density is linear in the coefficients -------------------------------

    def _basis(self, ev: Evaluator) -> list[Array] | None:
        """The function multiplying each coefficient (None: no derivative for this type)."""
        return None

    def _basis_integrals(self, ev: Evaluator) -> list[float] | None:
        """∫ of each basis function over the range."""
        return None

    def grad_log_density(self, ev: Evaluator, wrt: frozenset[str], adjoint: Any) -> Grad | None:
        if isinstance(self.x, str) and not ev.graph.leaves(self.x).isdisjoint(wrt):
            return None  # the variate itself moves: not handled
        basis = self._basis(ev)
        if basis is None:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / np.exp(ev.log_density(self.name))
        return chain_adjoint(ev, [(c, lambda b=b: b * inv) for c, b in zip(self.coefficients, basis, strict=True)],
                             wrt, adjoint)

    def grad_log_normalization(self, ev: Evaluator, observables: tuple[str, ...], wrt: frozenset[str],
                               adjoint: Any) -> Grad | None:
        if self._range(ev, observables) is None:
            return None
        integrals = self._basis_integrals(ev)
        if integrals is None:
            return None
        total = np.exp(ev.log_norm(self.name))
        return chain_adjoint(ev, [(c, i / total) for c, i in zip(self.coefficients, integrals, strict=True)],
                             wrt, adjoint)


@register("polynomial_dist", "distribution", {"x": req(Kind.REF), "coefficients": req(Kind.REF_LIST)},
          variates=("x",))
class Polynomial(_CoefficientsBase):
    """Polynomial Σ a_i x^i, ``coefficients[0]`` the constant term (as ROOT writes RooPolynomial)."""

    def log_density(self, ev: Evaluator) -> Array:
        x = _arr(ev.value(self.x))
        acc: Array = np.zeros_like(x)
        for c in reversed(_values(ev, self.coefficients)):
            acc = acc * x + c
        return self._log_positive(acc)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        if self._range(ev, observables) is None:
            return None
        lo, hi = self._finite_range(ev)
        total: Array = np.asarray(0.0)
        for i, c in enumerate(_values(ev, self.coefficients)):
            total = total + c * (hi ** (i + 1) - lo ** (i + 1)) / (i + 1)
        return self._log_positive(total)

    def _basis(self, ev: Evaluator) -> list[Array] | None:
        x = _arr(ev.value(self.x))
        return [x**i for i in range(len(self.coefficients))]

    def _basis_integrals(self, ev: Evaluator) -> list[float] | None:
        lo, hi = self._finite_range(ev)
        return [(hi ** (i + 1) - lo ** (i + 1)) / (i + 1) for i in range(len(self.coefficients))]


@register("chebychev_dist", "distribution", {"x": req(Kind.REF), "coefficients": req(Kind.REF_LIST)},
          variates=("x",))
class Chebychev(_CoefficientsBase):
    """Chebychev series T0 + Σ a_k T_k(z), z = x mapped linearly from [min, max] to [-1, 1] (RooChebychev)."""

    def _z(self, ev: Evaluator) -> Array:
        lo, hi = self._finite_range(ev)
        return np.asarray(2.0 * (_arr(ev.value(self.x)) - lo) / (hi - lo) - 1.0)

    def log_density(self, ev: Evaluator) -> Array:
        z = self._z(ev)
        t_prev, t_cur = np.ones_like(z), z
        acc = np.ones_like(z)
        for k, c in enumerate(_values(ev, self.coefficients), start=1):
            if k > 1:
                t_prev, t_cur = t_cur, 2.0 * z * t_cur - t_prev
            acc = acc + c * t_cur
        return self._log_positive(acc)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        if self._range(ev, observables) is None:
            return None
        lo, hi = self._finite_range(ev)
        # ∫_{-1}^{1} T_k = 2/(1-k²) for even k, 0 for odd k
        total: Array = np.asarray(2.0)
        for k, c in enumerate(_values(ev, self.coefficients), start=1):
            if k % 2 == 0:
                total = total + c * 2.0 / (1.0 - k * k)
        return self._log_positive(total * 0.5 * (hi - lo))

    def _basis(self, ev: Evaluator) -> list[Array] | None:
        z = self._z(ev)
        out = []
        t_prev, t_cur = np.ones_like(z), z
        for k in range(1, len(self.coefficients) + 1):
            if k > 1:
                t_prev, t_cur = t_cur, 2.0 * z * t_cur - t_prev
            out.append(t_cur)
        return out

    def _basis_integrals(self, ev: Evaluator) -> list[float] | None:
        lo, hi = self._finite_range(ev)
        return [(2.0 / (1.0 - k * k) if k % 2 == 0 else 0.0) * 0.5 * (hi - lo)
                for k in range(1, len(self.coefficients) + 1)]


@register("bernstein_poly_dist", "distribution", {"x": req(Kind.REF), "coefficients": req(Kind.REF_LIST)},
          variates=("x",))
class Bernstein(_CoefficientsBase):
    """Bernstein polynomial Σ c_i B_{i,n}(t), t = (x - min)/(max - min) (RooBernstein)."""

    def log_density(self, ev: Evaluator) -> Array:
        lo, hi = self._finite_range(ev)
        t = (_arr(ev.value(self.x)) - lo) / (hi - lo)
        coefs = _values(ev, self.coefficients)
        n = len(coefs) - 1
        acc = np.zeros_like(t)
        for i, c in enumerate(coefs):
            acc = acc + c * math.comb(n, i) * t**i * (1.0 - t) ** (n - i)
        return self._log_positive(acc)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        if self._range(ev, observables) is None:
            return None
        lo, hi = self._finite_range(ev)
        coefs = _values(ev, self.coefficients)
        total = sum(coefs, np.asarray(0.0)) / len(coefs) if coefs else np.asarray(0.0)
        return self._log_positive(np.asarray(total * (hi - lo)))

    def _basis(self, ev: Evaluator) -> list[Array] | None:
        lo, hi = self._finite_range(ev)
        t = (_arr(ev.value(self.x)) - lo) / (hi - lo)
        n = len(self.coefficients) - 1
        return [math.comb(n, i) * t**i * (1.0 - t) ** (n - i) for i in range(n + 1)]

    def _basis_integrals(self, ev: Evaluator) -> list[float] | None:
        lo, hi = self._finite_range(ev)
        return [(hi - lo) / len(self.coefficients)] * len(self.coefficients)


@register("bifurkated_gaussian_dist", "distribution",
          {"x": req(Kind.REF), "mean": req(Kind.REF), "sigmaL": req(Kind.REF), "sigmaR": req(Kind.REF)},
          variates=("x",))
class BifurcatedGaussian(_Univariate):
    """Gaussian with width sigmaL below the mean and sigmaR above (RooBifurGauss; HS3 spells it bifurkated)."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.mean, self.sigma_l, self.sigma_r = ctx.ref("mean"), ctx.ref("sigmaL"), ctx.ref("sigmaR")

    def log_density(self, ev: Evaluator) -> Array:
        x = _arr(ev.value(self.x))
        mu, sl, sr = (_arr(ev.value(r)) for r in (self.mean, self.sigma_l, self.sigma_r))
        z = (x - mu) / np.where(x < mu, sl, sr)
        return np.asarray(-0.5 * z * z)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        lo, hi = rng
        mu, sl, sr = (_arr(ev.value(r)) for r in (self.mean, self.sigma_l, self.sigma_r))
        left = log_std_gauss_integral((lo - mu) / sl, np.minimum((hi - mu) / sl, 0.0)) + np.log(sl)
        right = log_std_gauss_integral(np.maximum((lo - mu) / sr, 0.0), (hi - mu) / sr) + np.log(sr)
        return np.asarray(np.logaddexp(left, right))


@register("gamma_dist", "distribution",
          {"x": req(Kind.REF), "gamma": req(Kind.REF), "beta": req(Kind.REF), "mu": req(Kind.REF)},
          variates=("x",))
class Gamma(_Univariate):
    """Gamma distribution (x-mu)^(gamma-1)·exp(-(x-mu)/beta) for x > mu, zero below (RooGamma)."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.gamma, self.beta, self.mu = ctx.ref("gamma"), ctx.ref("beta"), ctx.ref("mu")

    def log_density(self, ev: Evaluator) -> Array:
        x = _arr(ev.value(self.x))
        g, b, mu = (_arr(ev.value(r)) for r in (self.gamma, self.beta, self.mu))
        d = x - mu
        with np.errstate(divide="ignore", invalid="ignore"):
            out = special.xlogy(g - 1.0, np.where(d >= 0, d, 1.0)) - d / b
        # exactly at x = mu the density is 0 unless gamma = 1 (as TMath::GammaDist, also for gamma < 1)
        return np.asarray(np.where((d > 0) | ((d == 0) & (g == 1.0)), out, -np.inf))

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        lo, hi = rng
        g, b, mu = (_arr(ev.value(r)) for r in (self.gamma, self.beta, self.mu))
        za = np.maximum(lo - mu, 0.0) / b
        zb = np.maximum(hi - mu, 0.0) / b
        return np.asarray(g * np.log(b) + special.gammaln(g) + log_gammainc_diff(g, za, zb))


@register("generalized_normal_dist", "distribution",
          {"x": req(Kind.REF), "mean": req(Kind.REF), "alpha": req(Kind.REF), "beta": req(Kind.REF)},
          variates=("x",))
class GeneralizedNormal(_Univariate):
    """Generalised normal exp(-(|x - mean|/alpha)^beta) (HS3; beta = 2 is a Gaussian of sigma = alpha/√2)."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.mean, self.alpha, self.beta = ctx.ref("mean"), ctx.ref("alpha"), ctx.ref("beta")

    def log_density(self, ev: Evaluator) -> Array:
        x = _arr(ev.value(self.x))
        mu, a, b = (_arr(ev.value(r)) for r in (self.mean, self.alpha, self.beta))
        return np.asarray(-((np.abs(x - mu) / a) ** b))

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        lo, hi = rng
        mu, a, b = np.broadcast_arrays(*(_arr(ev.value(r)) for r in (self.mean, self.alpha, self.beta)))
        s = 1.0 / b
        za = (np.abs(lo - mu) / a) ** b
        zb = (np.abs(hi - mu) / a) ** b
        # ∫_0^T exp(-(t/a)^b) dt = a Γ(1 + 1/b) P(1/b, (T/a)^b)
        with np.errstate(divide="ignore"):
            across = np.logaddexp(np.log(special.gammainc(s, za)), np.log(special.gammainc(s, zb)))
            above = log_gammainc_diff(s, za, zb)  # lo >= mu
            below = log_gammainc_diff(s, zb, za)  # hi <= mu
        inner = np.where(lo >= mu, above, np.where(hi <= mu, below, across))
        return np.asarray(np.log(a) + special.gammaln(1.0 + s) + inner)


@register("power_sum_dist", "distribution",
          {"x": req(Kind.REF), "coefficients": req(Kind.REF_LIST), "exponents": req(Kind.REF_LIST)},
          variates=("x",))
class PowerSum(_CoefficientsBase):
    """Sum of powers Σ c_i x^(e_i) (RooPowerSum)."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.exponents = ctx.refs("exponents")
        if len(self.exponents) != len(self.coefficients):
            raise EvaluationError(f"{ctx.path('exponents')}: power_sum_dist {self.name!r} has "
                                  f"{len(self.coefficients)} coefficients but {len(self.exponents)} exponents; "
                                  "expected one exponent per coefficient")

    def log_density(self, ev: Evaluator) -> Array:
        x = _arr(ev.value(self.x))
        acc = np.zeros_like(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            for c, e in zip(_values(ev, self.coefficients), _values(ev, self.exponents), strict=True):
                acc = acc + c * np.power(x, e)
        return self._log_positive(acc)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        if self._range(ev, observables) is None:
            return None
        lo, hi = self._finite_range(ev)
        total: Array = np.asarray(0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            for c, e in zip(_values(ev, self.coefficients), _values(ev, self.exponents), strict=True):
                e1 = e + 1.0
                term = np.where(e1 == 0, np.log(hi / lo) if lo > 0 else np.nan,
                                (np.power(hi, e1) - np.power(lo, e1)) / np.where(e1 == 0, 1.0, e1))
                total = total + c * term
        return self._log_positive(total)


@register("legacy_exp_poly_dist", "distribution", {"x": req(Kind.REF), "coefficients": req(Kind.REF_LIST)},
          variates=("x",))
class LegacyExpPoly(_CoefficientsBase):
    """Exponential of a polynomial exp(Σ c_i x^i) (RooLegacyExpPoly; coefficients as written, c_0 first).

    The integral is analytic up to degree 2 (a Gaussian when the quadratic term is negative);
    otherwise it is numeric.
    """

    def log_density(self, ev: Evaluator) -> Array:
        x = _arr(ev.value(self.x))
        acc: Array = np.zeros_like(x)
        for c in reversed(_values(ev, self.coefficients)):
            acc = acc * x + c
        return acc

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        rng = self._range(ev, observables)
        if rng is None:
            return None
        lo, hi = rng
        coefs = [*_values(ev, self.coefficients), np.asarray(0.0), np.asarray(0.0), np.asarray(0.0)]
        if len(self.coefficients) > 3:
            return None
        c0, c1, c2 = coefs[:3]
        if np.any(c2 > 0):
            return None
        if np.any(c2 == 0):
            if not np.all(c2 == 0):
                return None
            # exp(c0 + c1 x): an exponential with c = -c1
            if (np.any(c1 > 0) and hi == math.inf) or (np.any(c1 < 0) and lo == -math.inf) or (
                    np.any(c1 == 0) and not math.isfinite(hi - lo)):
                raise self._fail(f"exp({c0} + {c1}·x) cannot be normalised over [{lo}, {hi}]")
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                ac = np.abs(c1)
                edge = np.where(c1 > 0, c1 * hi, c1 * lo)
                tail = np.log(-np.expm1(-ac * (hi - lo))) if math.isfinite(hi - lo) else np.zeros_like(ac)
                out = np.where(c1 == 0, np.log(hi - lo), edge + tail - np.log(ac))
            return np.asarray(c0 + out)
        # c0 + c1 x + c2 x² = c0 - c1²/(4 c2) - (x - mu)²/(2 s²), mu = -c1/(2 c2), s² = -1/(2 c2)
        mu = -c1 / (2.0 * c2)
        s = np.sqrt(-0.5 / c2)
        return np.asarray(c0 - c1 * c1 / (4.0 * c2) + log_gauss_integral(mu, s, lo, hi))



# CERNLIB G110 DENLAN: rational approximations of the Landau density φ(v) on seven intervals of v
# (the algorithm behind TMath::Landau / ROOT::Math::landau_pdf), evaluated here in log space.
_DENLAN_P = (
    (0.4259894875, -0.1249762550, 0.03984243700, -0.006298287635, 0.001511162253),
    (0.1788541609, 0.1173957403, 0.01488850518, -0.001394989411, 0.0001283617211),
    (0.1788544503, 0.09359161662, 0.006325387654, 0.00006611667319, -0.000002031049101),
    (0.9874054407, 118.6723273, 849.2794360, -743.7792444, 427.0262186),
    (1.003675074, 167.5702434, 4789.711289, 21217.86767, -22324.94910),
    (1.000827619, 664.9143136, 62972.92665, 475554.6998, -5743609.109),
)
_DENLAN_Q = (
    (1.0, -0.3388260629, 0.09594393323, -0.01608042283, 0.003778942063),
    (1.0, 0.7428795082, 0.3153932961, 0.06694219548, 0.008790609714),
    (1.0, 0.6097809921, 0.2560616665, 0.04746722384, 0.006957301675),
    (1.0, 106.8615961, 337.6496214, 2016.712389, 1597.063511),
    (1.0, 156.9424537, 3745.310488, 9834.698876, 66924.28357),
    (1.0, 651.4101098, 56974.73333, 165917.4725, -2815759.939),
)
_DENLAN_A1 = (0.04166666667, -0.01996527778, 0.02709538966)
_DENLAN_A2 = (-1.845568670, -4.284640743)


def _rational(i: int, t: Array) -> Array:
    p, q = _DENLAN_P[i], _DENLAN_Q[i]
    num = p[0] + (p[1] + (p[2] + (p[3] + p[4] * t) * t) * t) * t
    den = q[0] + (q[1] + (q[2] + (q[3] + q[4] * t) * t) * t) * t
    return np.asarray(num / den)


def log_landau(v: Any) -> Array:
    """log φ(v) of the standard Landau density (CERNLIB DENLAN, as TMath::Landau(v, 0, 1)).

    Where DENLAN returns 0 (v below about -24) the same asymptotic form is continued in log space.
    """
    v = _arr(v)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # v < -5.5: u = e^(v+1), φ = (2π)^-½ e^(-1/u) u^-½ (1 + (a0 + (a1 + a2 u) u) u)
        vl = np.minimum(v, -5.5)
        u = np.exp(vl + 1.0)
        a = _DENLAN_A1
        far_left = (math.log(0.3989422803) - np.exp(-(vl + 1.0)) - 0.5 * (vl + 1.0)
                    + np.log1p((a[0] + (a[1] + a[2] * u) * u) * u))
        # -5.5 <= v < -1: φ = e^(-u) √u R1(v), u = e^(-v-1)
        vm = np.clip(v, -5.5, -1.0)
        um = np.exp(-vm - 1.0)
        left = -um + 0.5 * np.log(um) + np.log(_rational(0, vm))
        core = np.log(_rational(1, np.clip(v, -1.0, 1.0)))
        right = np.log(_rational(2, np.clip(v, 1.0, 5.0)))
        w = 1.0 / np.maximum(v, 5.0)
        tail4, tail5, tail6 = (2.0 * np.log(w) + np.log(_rational(i, w)) for i in (3, 4, 5))
        vf = np.maximum(v, 300.0)
        uf = 1.0 / (vf - vf * np.log(vf) / (vf + 1.0))
        far_right = 2.0 * np.log(uf) + np.log1p((_DENLAN_A2[0] + _DENLAN_A2[1] * uf) * uf)
    out = np.select([v < -5.5, v < -1.0, v < 1.0, v < 5.0, v < 12.0, v < 50.0, v < 300.0],
                    [far_left, left, core, right, tail4, tail5, tail6], far_right)
    return np.asarray(np.where(np.isnan(v), np.nan, out))


@register("landau_dist", "distribution", {"x": req(Kind.REF), "mean": req(Kind.REF), "sigma": req(Kind.REF)},
          variates=("x",))
class Landau(_Univariate):
    """Landau distribution φ((x - mean)/sigma) in TMath::Landau's convention (RooLandau).

    ``mean`` is the location parameter of the standard density φ, not its most probable value
    (that is at mean - 0.22278·sigma). Normalised numerically over the observable's range.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.mean, self.sigma = ctx.ref("mean"), ctx.ref("sigma")

    def log_density(self, ev: Evaluator) -> Array:
        s = _arr(ev.value(self.sigma))
        out = log_landau((_arr(ev.value(self.x)) - _arr(ev.value(self.mean))) / s)
        return np.asarray(np.where(s > 0, out, -np.inf))
