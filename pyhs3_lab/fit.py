"""Fits with iminuit: MIGRAD, then HESSE, MINOS on request; profile likelihood scans.

With the analytic gradient and at least :data:`HESSIAN_AUTO_MIN` floating parameters MINUIT also gets
the Hessian (:meth:`NLL.hessian`: analytic for HistFactory likelihoods, else differences of the gradient);
fits of at least :data:`LARGE_FIT_MIN` parameters with the analytic Hessian start MIGRAD from Newton steps
and take the covariance from that Hessian instead of MINUIT's HESSE (see :func:`fit`).

:class:`NLL` follows iminuit's protocol (``__call__(x)``, ``errordef = 0.5``,
``_parameters = {name: (lo, hi)}``), so ``Minuit(nll, x0)`` finds names, limits and
errordef by itself. :func:`fit` returns a frozen :class:`FitResult`; a fit that does not
converge returns ``valid=False`` and says why, it never raises from inside iminuit.
iminuit is imported inside the functions, so ``import pyhs3_lab`` stays light.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import EvaluationError, FitError, PyHS3LabError
from .ops.base import Array

if TYPE_CHECKING:
    from .likelihood import Likelihood

__all__ = ["NLL", "FitResult", "ProfileResult", "fit", "profile"]


#: fits with the analytic gradient and at least this many floating parameters give MINUIT the Hessian from
#: differences of the gradient by default (``fit(hessian=None)``): 2 gradients per parameter instead of MINUIT's
#: ~n²/2 NLL values (HistFactory benchmark, 12 parameters: 2× faster; 102 parameters: 4-9×)
HESSIAN_AUTO_MIN = 10
#: fits with an analytic Hessian (HistFactory) and at least this many floating parameters run MIGRAD with
#: strategy 0 and take the covariance from the analytic Hessian instead of MINUIT's HESSE (``fit(strategy=None)``)
LARGE_FIT_MIN = 500


class FitCancelled(Exception):
    """Raised inside the NLL when the ``abort`` callable asks to stop (caught by :func:`fit`)."""


class NLL:
    """The NLL of a likelihood as a function of its floating parameters (iminuit's protocol).

    Parameters
    ----------
    likelihood
        The :class:`~pyhs3_lab.likelihood.Likelihood`.
    floating
        Names of the parameters in ``x``, in order.
    values
        Values of every other parameter (missing ones: the likelihood's start values).
    abort
        Called before every evaluation; if it returns True the evaluation raises
        :class:`FitCancelled`.
    limits
        Other ranges ``{name: (lo, hi)}`` than the likelihood's for some floating parameters.
    """

    errordef = 0.5

    def __init__(self, likelihood: Likelihood, floating: Sequence[str], values: Mapping[str, float] | None = None,
                 abort: Callable[[], bool] | None = None,
                 limits: Mapping[str, tuple[float, float]] | None = None, *, gradient: bool = True) -> None:
        self.likelihood = likelihood
        self.names = tuple(floating)
        self._parameters: dict[str, tuple[float, float] | None] = {}
        limits = limits or {}
        for n in self.names:
            lo, hi = limits[n] if n in limits else likelihood.bounds(n)
            self._parameters[n] = None if (math.isinf(lo) and math.isinf(hi)) else (lo, hi)
        start = likelihood.values(values)
        for n in self.names:  # floating parameters need a start value too
            start.setdefault(n, math.nan)
        self._base = likelihood._full_values(start)
        missing = [n for n in self.names if math.isnan(self._base[n])]
        if missing:
            raise FitError(f"{likelihood.where}: parameter(s) {missing} have no start value; give them one, "
                           f"e.g. fit(values={{{missing[0]!r}: 1.0}})")
        self._abort = abort
        self.ncall = 0
        #: evaluations where the NLL was not finite or could not be computed (the error wall)
        self.n_invalid = 0
        self.max_finite = -math.inf
        #: gradient evaluations (analytic, see :meth:`grad`)
        self.ngrad = 0
        self._fallbacks = 0  # gradients taken by finite differences (not finite analytically)
        from .gradient import LikelihoodGradient

        self._gradient = LikelihoodGradient(likelihood, self.names)
        #: whether :meth:`grad` is analytic (iminuit's protocol: Minuit uses ``grad`` only if this is True)
        self.has_grad: bool = bool(gradient) and likelihood.gradient_supported(self.names, self._base)
        # :meth:`hessian` and :meth:`g2` are not advertised to iminuit's detection (``Minuit(nll, x0)``
        # alone then uses ``grad`` only): :func:`fit` passes them explicitly, with ``has_grad``
        self.has_hessian = False
        self.has_g2 = False
        self._last_hessian: tuple[bytes, Array] | None = None
        #: HistFactory likelihoods: the NLL and gradient straight from ``x`` (no dict per call)
        self._flat = likelihood._flat_counts(self.names, self._base)

    @property
    def start(self) -> Array:
        return np.array([self._base[n] for n in self.names], dtype=float)

    def full_values(self, x: Sequence[float] | Array) -> dict[str, Any]:
        vals = dict(self._base)
        vals.update(zip(self.names, (float(v) for v in x), strict=True))
        return vals

    def __call__(self, x: Array) -> float:
        if self._abort is not None and self._abort():
            raise FitCancelled
        self.ncall += 1
        flat = self._flat
        got: float | None = None
        if flat is not None:
            with np.errstate(all="ignore"):
                got = flat.nll(np.asarray(x, dtype=float))
        if got is not None:
            val = got
        else:
            vals = self._base.copy()
            vals.update(zip(self.names, np.asarray(x, dtype=float).tolist(), strict=True))
            try:
                with np.errstate(all="ignore"):
                    val = self.likelihood._evaluate(vals)
            except EvaluationError:
                val = math.nan
        if math.isfinite(val):
            if val > self.max_finite:
                self.max_finite = val
            return val
        # outside the model's domain (e.g. a mixture whose weights sum below zero, where ROOT's NLL is
        # NaN): a wall above every value seen so far, like RooFit's error wall, so that MIGRAD backs off
        self.n_invalid += 1
        return self.max_finite + 1e3 + abs(self.max_finite)

    def grad(self, x: Array) -> Array:
        """The analytic gradient of the NLL at ``x`` (:mod:`pyhs3_lab.gradient`; only where
        :attr:`has_grad`). Where it is not finite (e.g. at the error wall), central finite
        differences of the NLL instead."""
        if self._abort is not None and self._abort():
            raise FitCancelled
        self.ngrad += 1
        xs = np.asarray(x, dtype=float)
        got: Array | None = None
        flat = self._flat
        if flat is not None:
            with np.errstate(all="ignore"):
                got = flat.grad(xs, self._gradient)
        if got is None:
            vals = self._base.copy()
            vals.update(zip(self.names, xs.tolist(), strict=True))
            try:
                with np.errstate(all="ignore"):
                    got = self._gradient(vals)
            except EvaluationError:
                got = None
        if got is None or not np.all(np.isfinite(got)):
            from .gradient import numerical_gradient

            self._fallbacks += 1
            return numerical_gradient(self, xs)
        return got

    def hessian(self, x: Array) -> Array:
        """The Hessian of the NLL at ``x``: central differences of the analytic gradient (2 gradients
        per parameter instead of MINUIT's ~n² NLL values; one-sided next to a limit), symmetrised."""
        xs = np.asarray(x, dtype=float)
        key = xs.tobytes()
        last = self._last_hessian
        if last is not None and last[0] == key:  # MIGRAD's last step and HESSE ask at the same point
            return last[1].copy()
        flat = self._flat
        if flat is not None:
            with np.errstate(all="ignore"):
                got = flat.hessian(xs, self._gradient)
            if got is not None and flat.batch.hessian_ok is None:
                checked = self._check_hessian(xs, got, flat.interpolated())
                flat.batch.hessian_ok = checked
                if not checked:  # disagrees, or no column could be checked here: differences of the gradient
                    got = None
            if got is not None and np.all(np.isfinite(got)):
                self._last_hessian = (key, got)
                return np.array(got, dtype=float)
        n = len(xs)
        out = np.empty((n, n))
        g0: Array | None = None
        before = (self._fallbacks, self.n_invalid)
        for i, name in enumerate(self.names):
            h = 1e-5 * max(1.0, abs(float(xs[i])))
            lim = self._parameters[name]
            lo, hi = lim if lim is not None else (-math.inf, math.inf)
            up, down = xs.copy(), xs.copy()
            if xs[i] + h > hi:
                if g0 is None:
                    g0 = self.grad(xs)
                down[i] -= h
                out[:, i] = (g0 - self.grad(down)) / h
            elif xs[i] - h < lo:
                if g0 is None:
                    g0 = self.grad(xs)
                up[i] += h
                out[:, i] = (self.grad(up) - g0) / h
            else:
                up[i] += h
                down[i] -= h
                out[:, i] = (self.grad(up) - self.grad(down)) / (2.0 * h)
        if (self._fallbacks, self.n_invalid) != before or not np.all(np.isfinite(out)):
            hess = self._numeric_hessian(xs)  # next to the error wall: second differences of the NLL
        else:
            hess = np.asarray(0.5 * (out + out.T), dtype=float)
        self._last_hessian = (key, hess)
        return hess.copy()

    def _check_hessian(self, xs: Array, hess: Array, kinked: set[int]) -> bool | None:
        """Whether a few columns of an analytic Hessian agree with central differences of the gradient (columns
        of parameters away from the interpolation's kinks at 0 and ±1, and inside their limits); None where no
        column can be checked at ``xs`` (decided at a later point)."""
        n = len(xs)
        picked: list[int] = []
        for i in np.linspace(0, n - 1, min(n, 12)).astype(int).tolist():
            h = 1e-5 * max(1.0, abs(float(xs[i])))
            lim = self._parameters[self.names[i]]
            lo, hi = lim if lim is not None else (-math.inf, math.inf)
            if not (lo < xs[i] - 2 * h and xs[i] + 2 * h < hi):
                continue
            if i in kinked and min(abs(float(xs[i]) - k) for k in (-1.0, 0.0, 1.0)) < 1e3 * h:
                continue
            picked.append(i)
            if len(picked) == 4:
                break
        for i in picked:
            h = 1e-5 * max(1.0, abs(float(xs[i])))
            up, down = xs.copy(), xs.copy()
            up[i] += h
            down[i] -= h
            col = (self.grad(up) - self.grad(down)) / (2.0 * h)
            if not np.allclose(hess[:, i], col, rtol=1e-4, atol=1e-4 * max(1.0, float(np.max(np.abs(col))))):
                return False
        return True if picked else None

    def _numeric_hessian(self, xs: Array) -> Array:
        n = len(xs)
        h = 1e-4 * np.maximum(1.0, np.abs(xs))
        f0 = self(xs)
        out = np.empty((n, n))

        def f(i: int, si: float, j: int | None = None, sj: float = 0.0) -> float:
            y = xs.copy()
            y[i] += si * h[i]
            if j is not None:
                y[j] += sj * h[j]
            return self(y)

        for i in range(n):
            out[i, i] = (f(i, 1.0) - 2.0 * f0 + f(i, -1.0)) / (h[i] * h[i])
            for j in range(i):
                out[i, j] = out[j, i] = (f(i, 1.0, j, 1.0) - f(i, 1.0, j, -1.0) - f(i, -1.0, j, 1.0)
                                         + f(i, -1.0, j, -1.0)) / (4.0 * h[i] * h[j])
        return out

    def g2(self, x: Array) -> Array:
        """The diagonal of :meth:`hessian` (iminuit's protocol asks for it with a Hessian)."""
        return np.array(np.diag(self.hessian(x)), dtype=float)


@dataclass(frozen=True)
class FitResult:
    """The result of a fit.

    ``parameters`` are the floating parameters, in the order of ``covariance`` and
    ``correlation``; ``values`` and ``errors`` hold every parameter of the likelihood
    (fixed and constant ones with error 0). ``minos_errors[name] = (lower, upper)``,
    lower negative. ``minuit`` is the :class:`iminuit.Minuit` object (None if nothing
    floated).
    """

    parameters: tuple[str, ...]
    values: dict[str, float]
    errors: dict[str, float]
    minos_errors: dict[str, tuple[float, float]]
    covariance: Array
    correlation: Array
    fval: float
    edm: float
    nfcn: int
    valid: bool
    message: str
    fixed: tuple[str, ...] = ()
    minuit: Any = field(default=None, repr=False, compare=False)
    #: whether MIGRAD used the analytic gradient of the NLL (else MINUIT's numerical one)
    analytic_gradient: bool = False
    #: analytic gradient evaluations
    ngrad: int = 0

    def _rows(self) -> list[tuple[str, str, str, str, str]]:
        rows = []
        for name, val in self.values.items():
            if name in self.parameters:
                err = _fmt(self.errors.get(name, math.nan))
                lo, hi = self.minos_errors.get(name, (math.nan, math.nan))
                mlo = _fmt(lo) if name in self.minos_errors else ""
                mhi = f"+{_fmt(hi)}" if name in self.minos_errors else ""
                rows.append((name, _fmt(val), err, mlo, mhi))
            else:
                rows.append((name, _fmt(val), "fixed" if name in self.fixed else "const", "", ""))
        return rows

    def _head(self) -> str:
        status = "valid" if self.valid else "INVALID"
        return (f"FitResult ({status}: {self.message}): fval = {self.fval:.10g}, edm = {self.edm:.3g}, "
                f"nfcn = {self.nfcn}")

    def __str__(self) -> str:
        rows = self._rows()
        header = ("parameter", "value", "error", "minos-", "minos+")
        width = [max(len(r[i]) for r in [header, *rows]) for i in range(5)]
        lines = [self._head()]

        def fmt_row(r: Sequence[str]) -> str:
            cells = (r[i].ljust(width[i]) if i == 0 else r[i].rjust(width[i]) for i in range(5))
            return ("  " + "  ".join(cells)).rstrip()

        lines.append(fmt_row(header))
        lines += [fmt_row(r) for r in rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = html.escape(self._head())
        cells = "".join(f"<th>{h}</th>" for h in ("parameter", "value", "error", "minos-", "minos+"))
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in self._rows())
        colour = "#c8eec8" if self.valid else "#f5c6c6"
        return (f'<table class="pyhs3-lab-fit"><caption style="background:{colour}">{head}</caption>'
                f"<thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>")

    def __repr__(self) -> str:
        return str(self)

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-able data (NaN and infinities as None), e.g. for a widget."""
        return {
            "parameters": list(self.parameters),
            "values": {k: _json_number(v) for k, v in self.values.items()},
            "errors": {k: _json_number(v) for k, v in self.errors.items()},
            "minos_errors": {k: [_json_number(lo), _json_number(hi)] for k, (lo, hi) in self.minos_errors.items()},
            "covariance": [[_json_number(float(v)) for v in row] for row in self.covariance],
            "correlation": [[_json_number(float(v)) for v in row] for row in self.correlation],
            "fval": _json_number(self.fval),
            "edm": _json_number(self.edm),
            "nfcn": self.nfcn,
            "valid": self.valid,
            "message": self.message,
            "fixed": list(self.fixed),
            "analytic_gradient": self.analytic_gradient,
            "ngrad": self.ngrad,
        }


def _json_number(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "nan"
    return f"{x:.6g}"


def _as_float(lik: Likelihood, what: str, value: Any) -> float:
    """``float(value)``, or a :class:`FitError` saying which argument is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise FitError(f"{lik.where}: {what} is {value!r}; expected a number") from None


def _checked_limits(lik: Likelihood, limits: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for name, pair in limits.items():
        if isinstance(pair, str) or not isinstance(pair, Sequence | np.ndarray) or len(pair) != 2:
            raise FitError(f"{lik.where}: limits[{name!r}] is {pair!r}; expected a pair (lo, hi)")
        out[name] = (_as_float(lik, f"the lower limit of {name!r}", pair[0]),
                     _as_float(lik, f"the upper limit of {name!r}", pair[1]))
    return out


def _fixed_values(lik: Likelihood, fixed: Mapping[str, float] | Iterable[str] | None) -> dict[str, float]:
    if fixed is None:
        return {}
    if isinstance(fixed, Mapping):
        out = {k: _as_float(lik, f"the fixed value of {k!r}", v) for k, v in fixed.items()}
    else:
        names = [fixed] if isinstance(fixed, str) else list(fixed)
        out = {}
        for n in names:
            if n not in lik.init:
                lik._check_names([n])
                raise FitError(f"{lik.where}: cannot fix {n!r} at its start value: it has none; give fixed={{{n!r}: "
                               "value}")
            out[n] = lik.init[n]
    unknown = [k for k in out if k not in lik.parameter_names]
    if unknown:
        raise FitError(f"{lik.where}: cannot fix unknown parameter(s) {unknown}; the parameters are "
                       f"{list(lik.parameter_names)}")
    return out


def _status_message(m: Any) -> tuple[bool, str]:
    fmin = m.fmin
    if fmin is None:
        return False, "MIGRAD did not run"
    reasons = []
    if fmin.has_reached_call_limit:
        reasons.append("call limit reached")
    if fmin.is_above_max_edm:
        reasons.append(f"EDM {fmin.edm:.3g} above the goal {fmin.edm_goal:.3g}")
    if fmin.hesse_failed:
        reasons.append("HESSE failed")
    if not fmin.has_covariance:
        reasons.append("no covariance")
    elif not fmin.has_accurate_covar:
        reasons.append("covariance not accurate")
    if fmin.has_made_posdef_covar:
        reasons.append("covariance forced positive definite")
    if not fmin.is_valid and not reasons:
        reasons.append("MIGRAD did not converge")
    valid = bool(fmin.is_valid) and not fmin.hesse_failed
    if fmin.has_parameters_at_limit and valid:
        return True, "converged (a parameter is at its limit)"
    return valid, "converged" if not reasons else "; ".join(reasons)


def fit(
    likelihood: Likelihood,
    *,
    fixed: Mapping[str, float] | Iterable[str] | None = None,
    values: Mapping[str, float] | None = None,
    minos: Iterable[str] | str | None = None,
    hesse: bool = True,
    strategy: int | None = None,
    tolerance: float | None = None,
    ncall: int | None = None,
    abort: Callable[[], bool] | None = None,
    limits: Mapping[str, tuple[float, float]] | None = None,
    gradient: bool = True,
    hessian: bool | None = None,
) -> FitResult:
    """Minimise the NLL of ``likelihood`` with iminuit: MIGRAD, then HESSE, then MINOS if asked.

    Parameters
    ----------
    likelihood
        The :class:`~pyhs3_lab.likelihood.Likelihood`.
    fixed
        Parameters held fixed: ``{name: value}``, or names (fixed at their start values).
        Constant parameters and global observables are always fixed.
    values
        Start values of floating parameters (others: the likelihood's start values); values of
        constants and global observables given here are ignored: set those with ``fixed``.
    minos
        Names (or one name) of floating parameters to get MINOS errors for.
    hesse
        Run HESSE after MIGRAD (default True).
    strategy, tolerance, ncall
        Passed to iminuit (``Minuit.strategy``, ``Minuit.tol``, ``migrad(ncall=...)``). ``strategy=None``
        (default) is 1, except for fits of at least :data:`LARGE_FIT_MIN` parameters with an analytic
        Hessian (HistFactory): there MINUIT's own HESSE costs minutes (its matrix algebra is O(n³) with
        large constants: 42 s at 1500 parameters), so MIGRAD runs with strategy 0 and the covariance is
        the inverse of the analytic Hessian at the minimum (what HESSE computes from it, in external
        coordinates; errors of parameters with limits as MINUIT maps them), with the EDM recomputed from
        it (Newton steps if it is above the goal); MIGRAD starts from Newton steps with that Hessian. A
        fit with a parameter at a limit, or a Hessian that is not positive definite, gets MINUIT's HESSE.
    abort
        Called before each NLL evaluation; returning True cancels the fit, which then returns
        ``valid=False`` with message ``"cancelled"``.
    limits
        Ranges ``{name: (lo, hi)}`` that replace the likelihood's for these parameters in this fit.
    gradient
        Give MINUIT the analytic gradient of the NLL where every kernel has one
        (``likelihood.has_gradient``; :mod:`pyhs3_lab.gradient`); False, or a likelihood without one:
        MINUIT's numerical gradient. ``FitResult.analytic_gradient`` says which was used.
    hessian
        With the analytic gradient, also give MINUIT the Hessian (:meth:`NLL.hessian`: analytic for
        HistFactory likelihoods, else central differences of the gradient, 2 gradients per parameter),
        instead of the ~n² NLL values of MINUIT's own second derivatives in MIGRAD's seed and final
        check and in HESSE: much faster with many parameters (HistFactory, 102 parameters: 15-20×).
        None (default): on where the analytic
        gradient is used and at least :data:`HESSIAN_AUTO_MIN` parameters float. At parameter limits
        MIGRAD then stops at slightly different points (within its tolerance) than with its own
        second derivatives; a fit that is not valid is redone without it.

    Returns
    -------
    FitResult
    """
    from iminuit import Minuit

    fixed_vals = _fixed_values(likelihood, fixed)
    likelihood._check_names(values or {})
    # start values of floating parameters only, so that ``values=other_result.values`` never changes
    # the global observables or constants of this likelihood (use ``fixed`` for those)
    start = {k: _as_float(likelihood, f"the start value of {k!r}", v) for k, v in (values or {}).items()
             if k in likelihood.floating}
    start.update(fixed_vals)
    floating = [n for n in likelihood.floating if n not in fixed_vals]
    minos_names = [minos] if isinstance(minos, str) else list(minos or [])
    bad = [n for n in minos_names if n not in floating]
    if bad:
        raise FitError(f"{likelihood.where}: MINOS was asked for {bad}, which do not float; the floating parameters "
                       f"are {floating}")
    if limits:
        likelihood._check_names(limits)
        limits = _checked_limits(likelihood, limits)
        empty = {k: v for k, v in limits.items() if not v[0] < v[1]}
        if empty:
            raise FitError(f"{likelihood.where}: empty limits {empty}; expected lo < hi")
    nll = NLL(likelihood, floating, start, abort, limits, gradient=gradient)
    fixed_names = tuple(n for n in likelihood.parameter_names if n in fixed_vals)
    x0 = nll.start
    f0 = likelihood._evaluate(nll.full_values(x0))  # structural errors raise here, before iminuit runs
    if not floating:
        known = set(likelihood.parameter_names)
        vals = {n: float(v) for n, v in nll._base.items() if n in known}
        return FitResult((), _ordered(likelihood, vals), dict.fromkeys(vals, 0.0), {}, np.zeros((0, 0)),
                         np.zeros((0, 0)), f0, 0.0, 1, bool(np.isfinite(f0)), "nothing to fit", fixed_names)
    if not np.isfinite(f0):
        at = dict(zip(floating, x0.tolist(), strict=True))
        raise FitError(f"{likelihood.where}: the NLL is {f0} at the start values {at}")
    nll.max_finite = f0

    analytic = nll.has_grad
    if hessian is None:
        hessian = len(floating) >= HESSIAN_AUTO_MIN
    large = (strategy is None and analytic and bool(hessian) and len(floating) >= LARGE_FIT_MIN
             and nll._flat is not None)
    if strategy is None:
        strategy = 0 if large else 1
    own_cov: Array | None = None
    own: tuple[Array, Array, float, float] | None = None

    def minuit(start: Array, with_hessian: bool) -> Any:
        with warnings.catch_warnings():
            # iminuit 2.33 warns that g2 is unused with a Hessian, but MIGRAD fails without it ('NoneType'
            # object is not callable), so it is given and the warning silenced
            warnings.filterwarnings("ignore", message="hessian overrides g2")
            mm = Minuit(nll, start, name=tuple(floating), grad=nll.grad if analytic else False,
                        hessian=nll.hessian if with_hessian else False, g2=nll.g2 if with_hessian else False)
        mm.strategy = strategy
        if tolerance is not None:
            mm.tol = tolerance
        for n, lim in nll._parameters.items():
            if lim is not None:
                mm.limits[n] = lim
        return mm

    m = minuit(x0, analytic and hessian)
    m.print_level = 0
    message = ""
    try:
        if large:
            # Newton steps with the analytic Hessian first: MINUIT's own iterations cost ~0.3 s each at 3000
            # parameters; MIGRAD then confirms the minimum from there in a few
            m.values = _newton_start(nll, x0, 0.002 * (tolerance if tolerance is not None else 0.1) * nll.errordef)
        m.migrad(ncall=ncall)
        if large:
            own = _own_hesse(m, nll)
            if own is not None:
                own_cov = own[0]
                m.values = own[1]  # Newton steps may have moved it
            elif hesse and m.valid:
                m.hesse()
        elif hesse and m.valid:
            m.hesse()
        if own_cov is None and analytic and hessian and not _status_message(m)[0] \
                and not m.fmin.has_reached_call_limit:
            # the Hessian from differences of the gradient can mislead MIGRAD or HESSE in degenerate fits
            # (parameters at limits, flat directions, the error wall): again with MINUIT's own second derivatives
            m = minuit(x0, False)  # from the start: the first attempt may have wandered along a flat direction
            m.print_level = 0
            m.migrad(ncall=ncall)
            if hesse and m.valid:
                m.hesse()
        if own_cov is not None:
            valid, message = bool(m.fmin.is_valid), "converged (covariance: the inverse of the analytic Hessian)"
        else:
            valid, message = _status_message(m)
        if minos_names and valid:
            try:
                m.minos(*minos_names)
            except RuntimeError as exc:
                message += f"; MINOS failed: {exc}"
        elif minos_names:
            message += "; MINOS not run (the fit is not valid)"
    except FitCancelled:
        valid, message = False, "cancelled"
    except PyHS3LabError as exc:
        valid, message = False, f"the NLL could not be evaluated: {exc}"
    return _result(likelihood, m, nll, floating, fixed_names, valid, message, minos_names,
                   own if own_cov is not None else None, hesse)


def _newton_start(nll: NLL, x0: Array, edm_goal: float) -> Array:
    """A start point for MIGRAD in a large fit: Newton steps with the analytic Hessian (damped as
    Levenberg-Marquardt where it is not positive definite), inside the limits and never increasing the NLL,
    until the EDM is below ``edm_goal`` or no step helps. ``x0`` where the analytic Hessian is not available
    or not checked (:attr:`pyhs3_lab.hfbatch.CountsBatch.hessian_ok`)."""
    from scipy.linalg import lapack

    flat = nll._flat
    if flat is None:
        return x0
    nll.grad(x0)  # the vectorised gradient's check
    if flat.batch.hessian_ok is None:
        nll.hessian(x0)  # the analytic Hessian's check
    if flat.batch.hessian_ok is not True:
        return x0
    lo = np.array([lim[0] if lim is not None else -math.inf for lim in nll._parameters.values()])
    hi = np.array([lim[1] if lim is not None else math.inf for lim in nll._parameters.values()])
    width = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
    inner_lo, inner_hi = lo + 1e-9 * width, hi - 1e-9 * width
    x = np.array(x0, dtype=float)
    f = nll(x)
    lam = 0.0
    for _ in range(50):
        with np.errstate(all="ignore"):
            hess = flat.hessian(x, nll._gradient)
        g = nll.grad(x)
        if hess is None or not np.all(np.isfinite(hess)) or not np.all(np.isfinite(g)):
            break
        diag = np.maximum(np.diag(hess), 1e-12)
        for _tries in range(30):
            if lam:
                damped = hess.copy()
                damped[np.diag_indices_from(damped)] += lam * diag
            else:
                damped = hess
            chol, info = lapack.dpotrf(damped, lower=True)
            if info == 0:
                break
            lam = max(1e-3, 10.0 * lam)
        else:
            break
        step, info = lapack.dpotrs(chol, -g, lower=True)
        edm = -0.5 * float(g @ step)
        if info != 0 or not math.isfinite(edm) or (lam == 0.0 and edm < edm_goal):
            break
        a = 1.0
        for _half in range(30):
            y = np.clip(x + a * step, inner_lo, inner_hi)
            fy = nll(y)
            if fy <= f:
                break
            a *= 0.5
        else:
            break
        x, f = y, fy
        lam = lam / 10.0 if lam > 1e-6 else 0.0
    return x


def _own_hesse(m: Any, nll: NLL) -> tuple[Array, Array, float, float] | None:
    """The covariance of a large fit as the inverse of the analytic Hessian at MIGRAD's minimum, with the EDM
    recomputed from it; where that EDM is above MINUIT's goal (MIGRAD's own estimate after strategy 0 is rough),
    Newton steps with the analytic Hessian finish the minimisation (at most five, each inside the limits and
    not increasing the NLL). Returns (covariance, x, NLL, EDM), or None: MINUIT's HESSE instead (MIGRAD not
    valid, a parameter at a limit, no checked analytic Hessian, not positive definite, no convergence)."""
    if not m.valid or m.fmin.has_parameters_at_limit or m.fmin.has_reached_call_limit:
        return None
    flat = nll._flat
    if flat is None:
        return None
    x = np.array(m.values, dtype=float)
    f = float(m.fval)
    lo = np.array([lim[0] if lim is not None else -math.inf for lim in nll._parameters.values()])
    hi = np.array([lim[1] if lim is not None else math.inf for lim in nll._parameters.values()])
    for _ in range(6):
        with np.errstate(all="ignore"):
            hess = flat.hessian(x, nll._gradient)
        if hess is None or flat.batch.hessian_ok is not True or not np.all(np.isfinite(hess)):
            return None
        from scipy.linalg import lapack

        chol, info = lapack.dpotrf(hess, lower=True)
        if info != 0:
            return None  # not positive definite
        inv, info = lapack.dpotri(chol, lower=True)  # the inverse from the Cholesky factor (lower triangle)
        if info != 0:
            return None
        cov = np.tril(inv) + np.tril(inv, -1).T  # errordef 1/2: the covariance is the inverse Hessian of the NLL
        g = nll.grad(x)
        step = -(cov @ g)
        edm = -0.5 * float(g @ step)
        if not math.isfinite(edm):
            return None
        if edm <= m.fmin.edm_goal:
            return np.asarray(cov, dtype=float), x, f, edm
        y = x + step
        if not np.all((y > lo) & (y < hi)):
            return None
        f_new = nll(y)
        if not f_new <= f + 1e-9 * max(1.0, abs(f)):
            return None
        x, f = y, f_new
    return None


def _minuit_errors(cov: Array, x: Array, limits: Sequence[tuple[float, float] | None]) -> list[float]:
    """The parabolic errors as MINUIT reports them from the external covariance ``cov`` at ``x``: √cov_ii, and
    for a parameter with limits the mean of |x(θ ± δ) - x| in MINUIT's internal coordinate θ, with
    δ = √cov_ii / (dx/dθ) (Minuit2 ``MnUserTransformation::Int2extError``)."""
    out: list[float] = []
    for i, lim in enumerate(limits):
        sd = math.sqrt(cov[i, i]) if cov[i, i] >= 0 else math.nan
        if lim is None or not math.isfinite(sd):
            out.append(sd)
            continue
        lo, hi = lim
        v = float(x[i])

        def ext(t: float, lo: float = lo, hi: float = hi) -> float:
            if math.isfinite(lo) and math.isfinite(hi):
                return lo + 0.5 * (hi - lo) * (math.sin(t) + 1.0)
            if math.isfinite(lo):
                return lo - 1.0 + math.sqrt(t * t + 1.0)
            return hi + 1.0 - math.sqrt(t * t + 1.0)

        if math.isfinite(lo) and math.isfinite(hi):
            theta = math.asin(min(1.0, max(-1.0, 2.0 * (v - lo) / (hi - lo) - 1.0)))
            slope = 0.5 * (hi - lo) * math.cos(theta)
        elif math.isfinite(lo):
            yy = v - lo + 1.0
            theta = math.sqrt(yy * yy - 1.0) if yy * yy >= 1.0 else 0.0
            slope = theta / math.sqrt(theta * theta + 1.0)
        else:
            yy = hi - v + 1.0
            theta = math.sqrt(yy * yy - 1.0) if yy * yy >= 1.0 else 0.0
            slope = -theta / math.sqrt(theta * theta + 1.0)
        if slope == 0.0:
            out.append(sd)
            continue
        delta = sd / abs(slope)
        here = ext(theta)
        du1 = ext(theta + delta) - here
        du2 = ext(theta - delta) - here
        if math.isfinite(lo) and math.isfinite(hi) and delta > 1.0:
            du1 = hi - lo
        out.append(0.5 * (abs(du1) + abs(du2)))
    return out


def _ordered(lik: Likelihood, vals: Mapping[str, float]) -> dict[str, float]:
    return {n: float(vals[n]) for n in lik.parameter_names if n in vals}


def _result(lik: Likelihood, m: Any, nll: NLL, floating: list[str], fixed: tuple[str, ...], valid: bool,
            message: str, minos_names: list[str], own: tuple[Array, Array, float, float] | None = None,
            hesse: bool = True) -> FitResult:
    x = np.array(m.values, dtype=float)
    known = set(lik.parameter_names)
    vals = {n: float(v) for n, v in nll._base.items() if n in known}
    vals.update(zip(floating, x.tolist(), strict=True))
    errs = dict.fromkeys(vals, 0.0)
    k = len(floating)
    cov = np.full((k, k), np.nan)
    if own is not None:
        if hesse:
            cov = own[0]
            errs.update(zip(floating, _minuit_errors(cov, own[1], [nll._parameters[n] for n in floating]),
                            strict=True))
        else:
            errs.update(zip(floating, np.array(m.errors, dtype=float).tolist(), strict=True))
    else:
        errs.update(zip(floating, np.array(m.errors, dtype=float).tolist(), strict=True))
        if m.covariance is not None:
            cov = np.array(m.covariance, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.diag(cov))
        corr = cov / np.outer(sd, sd)
    minos_errors: dict[str, tuple[float, float]] = {}
    if message != "cancelled":
        for n in minos_names:
            try:
                me = m.merrors[n]
            except (KeyError, RuntimeError):
                continue
            minos_errors[n] = (float(me.lower), float(me.upper))
            if not me.is_valid:
                message += f"; MINOS error of {n!r} not valid"
    if nll.n_invalid:
        message += (f"; {nll.n_invalid} evaluation{'s' if nll.n_invalid != 1 else ''} outside the model's domain "
                    "rejected")
    fval = float(m.fval) if m.fmin is not None else math.nan
    edm = float(m.fmin.edm) if m.fmin is not None else math.nan
    if own is not None:
        fval, edm = own[2], own[3]
    return FitResult(tuple(floating), _ordered(lik, vals), _ordered(lik, errs), minos_errors, cov, corr, fval, edm,
                     int(nll.ncall), valid, message, fixed, m, nll.has_grad, nll.ngrad)


# --------------------------------------------------------------------------------------
# profile


@dataclass(frozen=True)
class ProfileResult:
    """A profile likelihood scan of ``poi``.

    ``two_delta_nll[i] = 2 (NLL(values[i], θ̂̂) - NLL_min)``, with ``NLL_min`` the lowest NLL
    found (the global fit, or a scan point if one is lower); ``fitted[name][i]`` the
    fitted value of every other floating parameter; ``valid[i]`` whether the fit at that
    point converged.
    """

    poi: str
    values: Array
    two_delta_nll: Array
    nll: Array
    fitted: dict[str, Array]
    valid: Array
    best: FitResult

    @property
    def minimum(self) -> float:
        return float(self.best.values[self.poi])

    def to_dict(self) -> dict[str, Any]:
        """The scan as plain JSON-able data (NaN as None)."""
        return {
            "poi": self.poi,
            "values": [_json_number(float(v)) for v in self.values],
            "two_delta_nll": [_json_number(float(v)) for v in self.two_delta_nll],
            "fitted": {k: [_json_number(float(v)) for v in a] for k, a in self.fitted.items()},
            "valid": [bool(v) for v in self.valid],
            "best": self.best.to_dict(),
        }

    def interval(self, level: float = 1.0) -> tuple[float, float]:
        """Where 2ΔNLL crosses ``level`` (1: 68 %), by linear interpolation (NaN if not crossed)."""
        x, y = self.values, self.two_delta_nll
        i0 = int(np.nanargmin(y))
        lo = hi = math.nan
        for j in range(i0, 0, -1):
            if y[j - 1] >= level > y[j] or y[j - 1] > level >= y[j]:
                lo = float(np.interp(level, [y[j], y[j - 1]], [x[j], x[j - 1]]))
                break
        for j in range(i0, len(x) - 1):
            if y[j + 1] >= level > y[j] or y[j + 1] > level >= y[j]:
                hi = float(np.interp(level, [y[j], y[j + 1]], [x[j], x[j + 1]]))
                break
        return lo, hi


def _progress(iterable: Iterable[Any], total: int, enabled: bool, desc: str) -> Iterable[Any]:
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional
        return iterable
    return tqdm(iterable, total=total, desc=desc)  # type: ignore[no-any-return]


def _profile_points(lik: Likelihood, poi: str, points: Sequence[float], start: Mapping[str, float],
                    options: Mapping[str, Any], warm: bool) -> list[tuple[float, dict[str, float], bool]]:
    out: list[tuple[float, dict[str, float], bool]] = []
    values = dict(start)
    fixed = dict(options.get("fixed") or {})
    opts = {k: v for k, v in options.items() if k != "fixed"}
    for v in points:
        try:
            res = fit(lik, fixed={**fixed, poi: float(v)}, values={k: x for k, x in values.items() if k != poi},
                      **opts)
        except PyHS3LabError:  # e.g. an NLL that is not finite at this point: the point is not valid
            out.append((math.nan, {}, False))
            continue
        out.append((res.fval, res.values, res.valid))
        if warm and res.valid:
            values = {k: x for k, x in res.values.items() if k in lik.floating}
    return out


def profile(
    likelihood: Likelihood,
    poi: str,
    values: Sequence[float] | Array,
    *,
    fixed: Mapping[str, float] | None = None,
    executor: Executor | None = None,
    progress: bool = False,
    **options: Any,
) -> ProfileResult:
    """Profile likelihood scan of ``poi`` over ``values``: every other floating parameter refitted.

    Parameters
    ----------
    likelihood
        The likelihood.
    poi
        A floating parameter.
    values
        Points of the scan.
    fixed
        Other parameters held fixed.
    executor
        A :class:`concurrent.futures.Executor`: points are fitted in parallel (each from the
        global best fit); without one, sequentially, each from the previous point.
    progress
        Show a progress bar (tqdm, if installed).
    **options
        Passed to :func:`fit` (``strategy``, ``tolerance``, ...).
    """
    if poi not in likelihood.floating or (fixed and poi in fixed):
        raise FitError(f"{likelihood.where}: cannot profile {poi!r}: it is not a floating parameter; the floating "
                       f"parameters are {list(likelihood.floating)}")
    try:
        points = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise FitError(f"{likelihood.where}: the points of the profile of {poi!r} are {values!r}; expected "
                       "numbers") from None
    fixed = dict(fixed or {})
    best = fit(likelihood, fixed=fixed, **options)
    start = {k: v for k, v in best.values.items() if k in likelihood.floating}
    opts = {**options, "fixed": fixed}
    results: list[tuple[float, dict[str, float], bool]]
    if executor is None:
        # sweep outwards from the best fit, so that each point starts near its minimum
        order = np.argsort(np.abs(points - best.values[poi]), kind="stable")
        results_by_index: dict[int, tuple[float, dict[str, float], bool]] = {}
        right = [int(i) for i in order if points[i] >= best.values[poi]]
        left = [int(i) for i in order if points[i] < best.values[poi]]
        sweep = [(i, j == 0) for side in (right, left) for j, i in enumerate(side)]  # (index, restart)
        cur = dict(start)
        for i, restart in _progress(sweep, len(sweep), progress, f"profile {poi}"):
            if restart:
                cur = dict(start)
            (res,) = _profile_points(likelihood, poi, [points[i]], cur, opts, warm=False)
            results_by_index[i] = res
            if res[2]:
                cur = {k: x for k, x in res[1].items() if k in likelihood.floating}
        results = [results_by_index[i] for i in range(len(points))]
    else:
        from .toys import recipe_of, run_profile_chunk

        recipe = recipe_of(likelihood)
        chunks = [list(range(i, len(points), _n_chunks(executor, len(points))))
                  for i in range(_n_chunks(executor, len(points)))]
        futures = [executor.submit(run_profile_chunk, recipe, poi, [float(points[i]) for i in c], start, opts)
                   for c in chunks if c]
        results_by_index = {}
        for c, fut in zip([c for c in chunks if c], _progress(futures, len(futures), progress, f"profile {poi}"),
                          strict=True):
            for i, r in zip(c, fut.result(), strict=True):
                results_by_index[i] = r
        results = [results_by_index[i] for i in range(len(points))]
    nll = np.array([r[0] for r in results], dtype=float)
    ref = min(best.fval, float(np.nanmin(nll))) if np.any(np.isfinite(nll)) else best.fval
    others = [n for n in likelihood.floating if n != poi and n not in fixed]
    fitted = {n: np.array([r[1].get(n, math.nan) for r in results], dtype=float) for n in others}
    return ProfileResult(poi, points, 2.0 * (nll - ref), nll, fitted, np.array([r[2] for r in results]), best)


def _n_chunks(executor: Executor, n: int) -> int:
    workers = getattr(executor, "_max_workers", None)
    if not isinstance(workers, int):
        workers = 8
    return max(1, min(n, 2 * workers))
