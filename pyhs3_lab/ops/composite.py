"""Composite distributions: distributions built from other distributions or functions.

Mixtures (RooAddPdf), products (RooProdPdf), expression densities (RooGenericPdf),
densities given by a function (RooWrapperPdf), extended wrappers (RooExtendPdf),
sums of functions (RooRealSumPdf), histograms (RooHistPdf), efficiency products,
bin counts, and the decay distribution with its resolution models (RooDecay).

Children are evaluated through the :class:`~pyhs3_lab.evaluate.Evaluator`: a
child's normalised log density is ``ev.logpdf(child)`` (normalised over the
observables of this evaluation that it depends on), its unnormalised one
``ev.log_density(child)``. Every kernel broadcasts parameter arrays against the
observables (and against each other) and never loops over data entries.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

from ..errors import EvaluationError
from ..expr import parse
from ..gradient import add_scaled, chain_adjoint, pullback
from ..integrate import log_integrate
from ..registry import Kind, opt, register, req
from ..spec import Ref, as_number, as_ref
from .base import Array, BinnedDistributionOp, BuildContext, DistributionOp, Grad

if TYPE_CHECKING:
    from ..evaluate import Evaluator

def _arr(value: Any) -> Array:
    return np.asarray(value, dtype=float)


def _log_positive(values: Array, what: str) -> Array:
    """log of values that must be >= 0; negative or NaN values are an evaluation error."""
    bad = np.isnan(values) | (values < 0)
    if np.any(bad):
        worst = values[bad].ravel()[0]
        raise EvaluationError(f"{what} is {worst!r} (negative or NaN) for some inputs; a density must be >= 0")
    with np.errstate(divide="ignore"):
        return np.asarray(np.log(values))


def _signed_logsumexp(log_terms: Sequence[Array], weights: Sequence[Array], what: str) -> Array:
    """log Σ w_i exp(l_i) for weights of any sign; a negative total is an evaluation error.

    Plain numpy (max, exp, sum, log) term by term: scipy's ``logsumexp`` costs ~0.6 ms of
    array-API dispatch per call, more than the arithmetic on a few thousand events."""
    logs = []
    ws = []
    nonneg = True
    for t, w in zip(log_terms, weights, strict=True):
        la, wa = _arr(t), _arr(w)
        if wa.ndim == 0:  # a scalar weight (the usual case): plain float tests
            wf = float(wa)
            if wf == 0.0:  # terms with weight 0 do not contribute (even where l_i = +inf)
                la = np.where(True, -np.inf, la) if la.ndim else np.asarray(-np.inf)
            if not wf >= 0.0:
                nonneg = False
        else:
            if np.any(wa == 0.0):
                la = np.where(wa == 0.0, -np.inf, la)
            if nonneg and not np.all(wa >= 0.0):
                nonneg = False
        logs.append(la)
        ws.append(wa)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        top = logs[0]
        for la in logs[1:]:
            top = np.maximum(top, la)
        shift: Any
        if top.ndim:
            finite = np.isfinite(top)
            shift = top if finite.all() else np.where(finite, top, 0.0)
        else:
            shift = float(top) if np.isfinite(top) else 0.0
        shape = np.broadcast_shapes(np.shape(shift), *(la.shape for la in logs), *(wa.shape for wa in ws))
        if not shape:
            total = ws[0] * np.exp(logs[0] - shift)
            for la, wa in zip(logs[1:], ws[1:], strict=True):
                total = total + wa * np.exp(la - shift)
            if np.any(total < 0):
                raise EvaluationError(f"{what}: the weighted sum of the components is negative for some inputs")
            small: Array = np.asarray(np.log(total) + shift, dtype=float)
            return small
        # the same arithmetic in two preallocated buffers (large data: no temporaries)
        total = np.subtract(logs[0], shift, out=np.empty(shape))
        np.exp(total, out=total)
        np.multiply(ws[0], total, out=total)
        if len(logs) > 1:
            tmp = np.empty(shape)
            for la, wa in zip(logs[1:], ws[1:], strict=True):
                np.subtract(la, shift, out=tmp)
                np.exp(tmp, out=tmp)
                np.multiply(wa, tmp, out=tmp)
                np.add(total, tmp, out=total)
        if not nonneg and np.any(total < 0):  # non-negative weights cannot give a negative sum
            raise EvaluationError(f"{what}: the weighted sum of the components is negative for some inputs")
        np.log(total, out=total)
        np.add(total, shift, out=total)
    result: Array = total
    return result


def _coefficient_count_check(items_key: str, what: str) -> Callable[[Mapping[str, Any]], list[tuple[str | None, str]]]:
    """A registry check: N items need N or N-1 coefficients."""

    def check(raw: Mapping[str, Any]) -> list[tuple[str | None, str]]:
        items, coefs = raw.get(items_key), raw.get("coefficients")
        if not isinstance(items, list) or not isinstance(coefs, list):
            return []
        n, k = len(items), len(coefs)
        if n == 0:
            return [(items_key, f"needs at least one {what}")]
        if k == 0 and items_key == "summands":
            return []  # RooAddPdf of extended summands: their yields are the coefficients
        if k not in (n, n - 1):
            return [("coefficients", f"has {k} coefficients for {n} {what}s; expected {n} (yields or weights) "
                                     f"or {n - 1} (fractions, the last one being 1 minus their sum)")]
        if k == n - 1 and raw.get("extended") is True:
            return [("extended", f"is extended but has {k} coefficients for {n} {what}s; an extended sum needs "
                                 "one coefficient per component")]
        return []

    return check


# --------------------------------------------------------------------------------------
# mixture_dist (RooAddPdf)


def _mixture_fields() -> dict[str, Any]:
    return {"summands": req(Kind.DIST_LIST), "coefficients": req(Kind.REF_LIST), "extended": opt(Kind.BOOL),
            "x": opt(Kind.REF)}


@register("mixture_dist", "distribution", _mixture_fields(), variates=("x",),
          checks=(_coefficient_count_check("summands", "summand"),))
class Mixture(DistributionOp):
    """Mixture of normalised distributions (RooAddPdf): f = Σ c_i f_i.

    With N-1 coefficients the last one is 1 - Σ c_i (plain fractions). With N
    coefficients the shape uses c_i / Σ c_j (RooAddPdf normalises by the sum) and,
    if ``extended`` is true (ROOT always writes it true then), the expected number
    of events is ν = Σ c_i. With no coefficients (ROOT reads that as RooAddPdf of
    extended summands) the summands' expected events are the coefficients and the
    mixture is extended. Each summand is normalised over the same observables.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.summands: list[str] = [str(s) for s in ctx.raw("summands")]
        self.coefficients: list[Ref] = ctx.refs("coefficients")
        self.from_summands = not self.coefficients
        self.extended = bool(ctx.raw("extended", False)) or self.from_summands
        self.fractions = len(self.coefficients) == len(self.summands) - 1
        if not self.from_summands and len(self.coefficients) not in (len(self.summands), len(self.summands) - 1):
            raise EvaluationError(f"{self.path}.coefficients: {len(self.coefficients)} coefficients for "
                                  f"{len(self.summands)} summands")

    def weights(self, ev: Evaluator) -> list[Array]:
        if self.from_summands:
            yields = []
            for s in self.summands:
                nu = ev.compiled.distribution(s).expected_events(ev)
                if nu is None:
                    raise EvaluationError(f"{self.path} ({self.name!r}) has no coefficients, so every summand must be "
                                          f"extended, but {s!r} is not")
                yields.append(_arr(nu))
            return yields
        coefs = [_arr(ev.value(c)) for c in self.coefficients]
        if self.fractions:
            coefs.append(1.0 - sum(coefs, np.asarray(0.0)))
        return coefs

    def log_density(self, ev: Evaluator) -> Array:
        coefs = self.weights(ev)
        out = _signed_logsumexp([ev.logpdf(s) for s in self.summands], coefs, f"{self.path} ({self.name!r})")
        if not self.fractions:
            total = sum(coefs, np.asarray(0.0))
            if np.any(total <= 0):
                raise EvaluationError(f"{self.path} ({self.name!r}): the coefficients sum to {total!r}; "
                                      "their sum must be positive")
            log_total = np.log(total)
            if out.ndim and out.flags.writeable and out.shape == np.broadcast_shapes(out.shape, log_total.shape):
                np.subtract(out, log_total, out=out)  # out is the fresh buffer of _signed_logsumexp
            else:
                out = out - log_total
        return out

    def raw_log_density(self, ev: Evaluator) -> Array:
        """RooAddPdf's value without normalisation set: Σ c_i f_i with the summands *unnormalised*
        (what RooProdPdf multiplies when factors share an observable)."""
        coefs = self.weights(ev)
        raws = [raw_log_density(ev, s) for s in self.summands]
        out = _signed_logsumexp(raws, coefs, f"{self.path} ({self.name!r})")
        return out if self.fractions else out - np.log(sum(coefs, np.asarray(0.0)))

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        # the summands are normalised over the mixture's observables: the mixture is too
        if all(ev.norm_observables(s) == observables for s in self.summands):
            return np.asarray(0.0)
        return None

    def expected_events(self, ev: Evaluator) -> Array | None:
        if self.fractions or not self.extended:
            return None
        return _arr(sum(self.weights(ev), np.asarray(0.0)))

    # -- analytic derivatives ------------------------------------------------------------

    def grad_weights(self, ev: Evaluator, wrt: frozenset[str]) -> list[Grad] | None:
        """d weight_i / d θ for each summand (the weights of :meth:`weights`)."""
        out: list[Grad] = []
        got = ([ev.grad_expected_events(s, wrt) for s in self.summands] if self.from_summands
               else [ev.grad_value(c, wrt) for c in self.coefficients])
        for g in got:
            if g is None:
                return None
            out.append(g)
        if self.fractions:
            last: Grad = {}
            for g in out:
                add_scaled(last, g, -1.0)
            out.append(last)
        return out

    def grad_log_density(self, ev: Evaluator, wrt: frozenset[str], adjoint: Any) -> Grad | None:
        coefs = self.weights(ev)
        d_coefs = self.grad_weights(ev, wrt)
        if d_coefs is None:
            return None
        total = sum(coefs, np.asarray(0.0))
        # log Σ w_i f_i before the division by Σ w_i
        log_sum = ev.log_density(self.name) + (0.0 if self.fractions else np.log(total))
        out: Grad = {}
        for s, w, dw in zip(self.summands, coefs, d_coefs, strict=True):
            moves = not ev.graph.leaves(s).isdisjoint(wrt)
            if not moves and not dw:
                continue
            with np.errstate(over="ignore", invalid="ignore"):
                share = np.exp(ev.logpdf(s) - log_sum)  # f_i / Σ w_j f_j
            a_share = adjoint * share
            if dw:  # ∂/∂w_i of log Σ w_j f_j is f_i / Σ w_j f_j, also where w_i = 0
                pullback(ev, out, dw, a_share)
            if moves:
                a_dl = a_share * w
                if np.any(w == 0.0):  # a summand of weight 0 does not contribute (even where f_i = inf)
                    a_dl = np.where(w == 0.0, 0.0, a_dl)
                dl = ev.grad_logpdf(s, wrt, a_dl)
                if dl is None:
                    return None
                add_scaled(out, dl)
        if not self.fractions:
            for dw in d_coefs:
                if dw:
                    pullback(ev, out, dw, adjoint, -1.0 / total)
        return out

    def grad_log_normalization(self, ev: Evaluator, observables: tuple[str, ...], wrt: frozenset[str],
                               adjoint: Any) -> Grad | None:
        return {} if all(ev.norm_observables(s) == observables for s in self.summands) else None

    def grad_expected_events(self, ev: Evaluator, wrt: frozenset[str]) -> Grad | None:
        d_coefs = self.grad_weights(ev, wrt)
        if d_coefs is None:
            return None
        out: Grad = {}
        for dw in d_coefs:
            add_scaled(out, dw)
        return out


# --------------------------------------------------------------------------------------
# product_dist (RooProdPdf)


@register("product_dist", "distribution", {"factors": req(Kind.DIST_LIST), "x": opt(Kind.REF)}, variates=("x",))
class Product(DistributionOp):
    """Product of distributions (RooProdPdf), normalised as a whole.

    Factors on disjoint observables: the sum of their normalised log densities.
    Factors that share an observable form a group whose unnormalised product is
    normalised numerically over the group's observables (RooFit does the same).
    As in RooFit, the factors of such a group enter with their values *without*
    normalisation set: a mixture factor is then Σ c_i f_i of its unnormalised
    summands (RooAddPdf::getVal() without normalisation set), not the mixture of
    normalised summands that HS3's text implies; we follow ROOT (checked against
    ROOT 6.40 in tests/test_composite.py).
    An empty product is 1. The product is extended if exactly one factor is
    (RooProdPdf's rule), with that factor's expected number of events.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.factors: list[str] = [str(f) for f in ctx.raw("factors")]
        self._partitions: dict[frozenset[str], tuple[list[str], list[tuple[tuple[str, ...], list[str]]]]] = {}

    def _partition(self, ev: Evaluator) -> tuple[list[str], list[tuple[tuple[str, ...], list[str]]]]:
        """Factors alone on their observables, and groups of factors that share observables."""
        key = ev.observables
        cached = self._partitions.get(key)
        if cached is not None:
            return cached
        groups: list[tuple[set[str], list[str]]] = []
        for f in self.factors:
            obs = set(ev.norm_observables(f))
            merged_obs, merged = set(obs), [f]
            rest = []
            for g_obs, g_factors in groups:
                if g_obs & merged_obs:
                    merged_obs |= g_obs
                    merged = g_factors + merged
                else:
                    rest.append((g_obs, g_factors))
            groups = [*rest, (merged_obs, merged)]
        singles: list[str] = []
        shared: list[tuple[tuple[str, ...], list[str]]] = []
        for g_obs, g_factors in groups:
            if len(g_factors) == 1 or not g_obs:
                singles += g_factors
            else:
                for f in g_factors:
                    if ev.compiled.distribution(f).discrete:
                        raise EvaluationError(f"{self.path} ({self.name!r}): the discrete factor {f!r} shares the "
                                              f"observables {sorted(g_obs)} with another factor")
                shared.append((tuple(sorted(g_obs)), g_factors))
        out = (singles, shared)
        self._partitions[key] = out
        return out

    def log_density(self, ev: Evaluator) -> Array:
        singles, shared = self._partition(ev)
        total: Array = np.asarray(0.0)
        for f in singles:
            total = total + ev.logpdf(f)
        for _obs, group in shared:
            for f in group:
                total = total + raw_log_density(ev, f)
        return _arr(total)

    def raw_log_density(self, ev: Evaluator) -> Array:
        """RooProdPdf's value without normalisation set: the product of the factors' raw values."""
        return _arr(sum((raw_log_density(ev, f) for f in self.factors), np.asarray(0.0)))

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        _singles, shared = self._partition(ev)
        if not shared:
            return np.asarray(0.0)
        if len(shared) == 1 and shared[0][0] == observables:
            return None  # one group over all observables: the evaluator integrates the product
        total: Array = np.asarray(0.0)
        for obs, group in shared:
            if len(obs) != 1:
                raise EvaluationError(
                    f"{self.path} ({self.name!r}): factors {group} share several observables {list(obs)} while other "
                    "factors depend on other observables; this mixed case is only normalised over one shared "
                    "observable")
            total = total + _log_integral_1d(ev, obs[0], _group_log_density(group), group)
        return total

    def expected_events(self, ev: Evaluator) -> Array | None:
        extended = [e for f in self.factors if (e := ev.compiled.distribution(f).expected_events(ev)) is not None]
        return extended[0] if len(extended) == 1 else None

    def grad_log_density(self, ev: Evaluator, wrt: frozenset[str], adjoint: Any) -> Grad | None:
        singles, shared = self._partition(ev)
        if shared:
            return None  # factors on shared observables are normalised numerically
        out: Grad = {}
        for f in singles:
            g = ev.grad_logpdf(f, wrt, adjoint)
            if g is None:
                return None
            add_scaled(out, g)
        return out

    def grad_log_normalization(self, ev: Evaluator, observables: tuple[str, ...], wrt: frozenset[str],
                               adjoint: Any) -> Grad | None:
        return {} if not self._partition(ev)[1] else None

    def grad_expected_events(self, ev: Evaluator, wrt: frozenset[str]) -> Grad | None:
        extended = [f for f in self.factors if ev.compiled.distribution(f).expected_events(ev) is not None]
        return ev.grad_expected_events(extended[0], wrt) if len(extended) == 1 else None


def _group_log_density(group: Sequence[str]) -> Callable[[Evaluator], Any]:
    def log_f(sub: Evaluator) -> Any:
        return sum((raw_log_density(sub, f) for f in group), np.asarray(0.0))

    return log_f


def raw_log_density(ev: Evaluator, name: str) -> Array:
    """log of RooFit's value of a distribution without normalisation set (``getVal()``).

    For mixtures, products and extended wrappers this differs from ``ev.log_density``
    (which for a mixture holds its *normalised* summands); for every other kernel it
    is ``ev.log_density``. Only relative factors inside a mixture make a difference:
    a constant factor of a whole product factor cancels in the normalisation.
    """
    op = ev.compiled.distribution(name)
    if isinstance(op, (Mixture, Product)):
        return op.raw_log_density(ev)
    if isinstance(op, RateExtended):
        op.check_range()
        return raw_log_density(ev, op.dist)
    return ev.log_density(name)


def _batch_shape(ev: Evaluator, names: Sequence[str], skip: set[str]) -> tuple[int, ...]:
    shapes = []
    for name in names:
        for leaf in ev.graph.leaves(name):
            if leaf in skip:
                continue
            shapes.append(np.shape(ev.value(leaf)))
    return tuple(np.broadcast_shapes(*shapes)) if shapes else ()


def _log_integral_1d(ev: Evaluator, obs: str, log_f: Callable[[Evaluator], Any], deps: Sequence[str]) -> Array:
    """log ∫ exp(log_f(child with obs = x)) dx over the range of ``obs`` (adaptive quadrature)."""
    lo, hi = ev.bounds(obs)
    batch = _batch_shape(ev, deps, {obs})

    def integrand(nodes: Array) -> Array:
        return np.broadcast_to(_arr(log_f(ev.child({obs: nodes}))), (nodes.shape[0], *batch))

    return log_integrate(integrand, lo, hi, batch_ndim=len(batch))


# --------------------------------------------------------------------------------------
# expression and function densities


@register("generic_dist", "distribution",
          {"expression": req(Kind.EXPRESSION), "x": opt(Kind.REF), "axes": opt(Kind.LIST)}, variates=("x",))
class GenericDist(DistributionOp):
    """A density given by an expression (RooGenericPdf), normalised over its observables.

    The expression is the unnormalised density; a negative (or NaN) value is an
    evaluation error. ``x``, if given (real files carry it), names the variate.
    ROOT's optional ``axes`` (a binning for plots) does not change the density.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.text = str(ctx.raw("expression"))
        self.expression = parse(self.text)

    def log_density(self, ev: Evaluator) -> Array:
        values = _arr(self.expression.evaluate(ev.value))
        return _log_positive(values, f"{self.path}.expression ({self.name!r}: {self.text!r})")

    #: the normalisation is numerical, and so is its derivative (:meth:`grad_log_normalization`)
    numeric_normalization_gradient = True

    def grad_log_density(self, ev: Evaluator, wrt: frozenset[str], adjoint: Any) -> Grad | None:
        expr = self.expression
        value = _arr(expr.evaluate(ev.value))
        return chain_adjoint(ev, [(v, lambda v=v: _arr(expr.derivative(v).evaluate(ev.value)) / value)
                                  for v in sorted(expr.symbols)], wrt, adjoint)

    def grad_log_normalization(self, ev: Evaluator, observables: tuple[str, ...], wrt: frozenset[str],
                               adjoint: Any) -> Grad | None:
        """∂ log Z / ∂θ = ∫ ∂f/∂θ dx / Z over one observable with a finite range, by the same adaptive
        quadrature as Z (the positive and negative parts of ∂f/∂θ integrated separately in log space)."""
        if len(observables) != 1:
            return None
        (obs,) = observables
        lo, hi = ev.bounds(obs)
        params = sorted(ev.graph.leaves(self.name) & wrt - {obs})
        if not (math.isfinite(lo) and math.isfinite(hi)) or np.ndim(ev.log_norm(self.name)) != 0:
            return None  # one integral (scalar parameters; a batch of channels goes channel by channel)
        expr = self.expression
        symbols = [v for v in sorted(expr.symbols) if not ev.graph.leaves(v).isdisjoint(params)]
        missing: list[bool] = []

        def log_parts(nodes: Array) -> Array:
            x = nodes.reshape(-1)
            sub = ev.child({obs: x})
            acc = [np.zeros(x.shape) for _ in params]
            for v in symbols:
                g = sub.grad_value(v, wrt)
                if g is None:
                    missing.append(True)
                    return np.full((len(x), 2, len(params)), -np.inf)
                d = _arr(expr.derivative(v).evaluate(sub.value))
                for i, p in enumerate(params):
                    if p in g:
                        acc[i] = acc[i] + d * g[p]
            dfdp = np.stack(acc, axis=-1)  # (K, P)
            with np.errstate(divide="ignore"):
                return np.stack([np.log(np.maximum(dfdp, 0.0)), np.log(np.maximum(-dfdp, 0.0))], axis=1)

        log_parts_integral = log_integrate(log_parts, lo, hi, batch_ndim=2, rtol=1e-10)
        if missing:
            return None
        log_z = float(ev.log_norm(self.name))
        with np.errstate(under="ignore"):
            d_log_z = np.exp(log_parts_integral[0] - log_z) - np.exp(log_parts_integral[1] - log_z)
        total = float(np.sum(adjoint))
        return {p: total * float(d) for p, d in zip(params, d_log_z, strict=True)}


def _self_normalized(ctx: BuildContext) -> bool:
    for key in ("selfNormalized", "selfnormalized"):
        if ctx.has(key):
            return bool(ctx.raw(key))
    return False


@register("density_function_dist", "distribution",
          {"function": req(Kind.FUNC), "selfNormalized": opt(Kind.BOOL), "selfnormalized": opt(Kind.BOOL)})
class DensityFunction(DistributionOp):
    """A density given by a function g (RooWrapperPdf): f = g / ∫ g.

    ``selfNormalized`` (ROOT import spelling) or ``selfnormalized`` (ROOT export
    spelling) true: g is already normalised and is used as it is.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.function = str(ctx.raw("function"))
        self.self_normalized = _self_normalized(ctx)

    def log_density(self, ev: Evaluator) -> Array:
        return _log_positive(_arr(ev.value(self.function)), f"{self.path} ({self.name!r}): function {self.function!r}")

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        return np.asarray(0.0) if self.self_normalized else None


@register("log_density_function_dist", "distribution", {"function": req(Kind.FUNC)})
class LogDensityFunction(DistributionOp):
    """A density given by its logarithm, a function g: f = exp(g) / ∫ exp(g)."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.function = str(ctx.raw("function"))

    def log_density(self, ev: Evaluator) -> Array:
        values = _arr(ev.value(self.function))
        if np.any(np.isnan(values)):
            raise EvaluationError(f"{self.path} ({self.name!r}): function {self.function!r} is NaN for some inputs")
        return values


@register("efficiency_product_pdf_dist", "distribution", {"pdf": req(Kind.DIST), "eff": req(Kind.REF)})
class EfficiencyProduct(DistributionOp):
    """A distribution times an efficiency function (RooEffProd): f ∝ pdf(x) · eff(x), normalised as a whole."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.pdf = str(ctx.raw("pdf"))
        self.eff = ctx.ref("eff")

    def log_density(self, ev: Evaluator) -> Array:
        eff = _log_positive(_arr(ev.value(self.eff)), f"{self.path} ({self.name!r}): efficiency {self.eff!r}")
        return _arr(ev.log_density(self.pdf) + eff)


# --------------------------------------------------------------------------------------
# extended wrappers


def _rate_extended_check(raw: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    problems: list[tuple[str | None, str]] = []
    if ("dist" in raw) == ("pdf" in raw):
        problems.append(("dist", "needs exactly one of 'dist' (HS3) or 'pdf' (ROOT): the extended distribution"))
    if ("rate" in raw) == ("norm" in raw):
        problems.append(("rate", "needs exactly one of 'rate' (HS3) or 'norm' (ROOT): the expected number of events"))
    return problems


@register("rate_extended_dist", "distribution",
          {"dist": opt(Kind.DIST), "rate": opt(Kind.REF), "pdf": opt(Kind.DIST), "norm": opt(Kind.REF),
           "range": opt(Kind.STRING)},
          aliases=("extend_pdf",), checks=(_rate_extended_check,))
class RateExtended(DistributionOp):
    """A distribution with an expected number of events (RooExtendPdf): shape ``dist``, ν = ``rate``.

    Accepts the HS3 keys ``dist``/``rate`` and ROOT's ``pdf``/``norm``. ROOT's
    ``range`` (ν counted in a named sub-range) names a range HS3 cannot express;
    a file that uses it raises an error when it is evaluated.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.dist = str(ctx.raw("dist") if ctx.has("dist") else ctx.raw("pdf"))
        self.rate = ctx.ref("rate") if ctx.has("rate") else ctx.ref("norm")
        self.range = ctx.raw("range")

    def check_range(self) -> None:
        """Raise for ROOT's ``range`` key, which names a range HS3 cannot express."""
        if self.range:
            raise EvaluationError(f"{self.path}.range ({self.name!r}): the expected events of RooExtendPdf in the "
                                  f"named range {self.range!r} cannot be evaluated (HS3 has no named ranges)")

    def log_density(self, ev: Evaluator) -> Array:
        self.check_range()
        return ev.logpdf(self.dist)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        return np.asarray(0.0) if ev.norm_observables(self.dist) == observables else None

    def expected_events(self, ev: Evaluator) -> Array | None:
        self.check_range()
        return _arr(ev.value(self.rate))

    def grad_log_density(self, ev: Evaluator, wrt: frozenset[str], adjoint: Any) -> Grad | None:
        return ev.grad_logpdf(self.dist, wrt, adjoint)

    def grad_log_normalization(self, ev: Evaluator, observables: tuple[str, ...], wrt: frozenset[str],
                               adjoint: Any) -> Grad | None:
        return {} if ev.norm_observables(self.dist) == observables else None

    def grad_expected_events(self, ev: Evaluator, wrt: frozenset[str]) -> Grad | None:
        return ev.grad_value(self.rate, wrt)


@register("rate_density_dist", "distribution", {"x": req(Kind.REF_LIST), "density": req(Kind.REF)}, variates=("x",))
class RateDensity(DistributionOp):
    """A Poisson point process given by its intensity f: ν = ∫ f, shape f / ν."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        raw_x = ctx.raw("x")
        self.x = [str(v) for v in (raw_x if isinstance(raw_x, list) else [raw_x])]
        self.density = ctx.ref("density")

    def log_density(self, ev: Evaluator) -> Array:
        return _log_positive(_arr(ev.value(self.density)), f"{self.path} ({self.name!r}): density {self.density!r}")

    def expected_events(self, ev: Evaluator) -> Array | None:
        target = ev if set(self.x) <= ev.observables else ev.with_observables(set(ev.observables) | set(self.x))
        return _arr(np.exp(target.log_norm(self.name)))


@register("weighted_sum_dist", "distribution",
          {"samples": req(Kind.REF_LIST), "coefficients": req(Kind.REF_LIST), "extended": opt(Kind.BOOL)},
          aliases=("sumpdf",), checks=(_coefficient_count_check("samples", "sample"),))
class WeightedSum(DistributionOp):
    """A sum of functions used as a density (RooRealSumPdf): f = Σ c_i s_i / ∫ Σ c_i s_i.

    With N-1 coefficients the last one is 1 - Σ c_i (as in RooRealSumPdf). If
    ``extended``, ν = ∫ Σ c_i s_i over the observables. A negative sum is an
    evaluation error.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.samples = ctx.refs("samples")
        self.coefficients = ctx.refs("coefficients")
        self.extended = bool(ctx.raw("extended", False))

    def log_density(self, ev: Evaluator) -> Array:
        coefs = [_arr(ev.value(c)) for c in self.coefficients]
        if len(coefs) == len(self.samples) - 1:
            coefs.append(1.0 - sum(coefs, np.asarray(0.0)))
        total = sum((c * _arr(ev.value(s)) for c, s in zip(coefs, self.samples, strict=True)), np.asarray(0.0))
        return _log_positive(_arr(total), f"{self.path} ({self.name!r}): the weighted sum of the samples")

    def expected_events(self, ev: Evaluator) -> Array | None:
        if not self.extended:
            return None
        if not ev.norm_observables(self.name):
            raise EvaluationError(f"{self.path} ({self.name!r}): the expected number of events is the integral over "
                                  "the observables, but this evaluation has none")
        return _arr(np.exp(ev.log_norm(self.name)))


# --------------------------------------------------------------------------------------
# histograms and bins


def _hist_axes(raw: Any) -> list[Mapping[str, Any]]:
    if not isinstance(raw, Mapping):
        return []
    axes = raw.get("axes")
    return [a for a in axes if isinstance(a, Mapping)] if isinstance(axes, list) else []


def _edges(axis: Mapping[str, Any]) -> Array | None:
    for key in ("edges", "bounds"):
        if isinstance(axis.get(key), list):
            vals = [as_number(v) for v in axis[key]]
            if len(vals) < 2 or any(v is None for v in vals):
                return None
            out = np.asarray(vals, dtype=float)
            return out if np.all(np.diff(out) > 0) else None
    lo, hi, n = as_number(axis.get("min")), as_number(axis.get("max")), as_number(axis.get("nbins"))
    if lo is None or hi is None or n is None or n < 1 or not float(n).is_integer() or not hi > lo:
        return None
    return np.linspace(lo, hi, int(n) + 1)


def _histogram_check(raw: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    data = raw.get("data")
    if not isinstance(data, Mapping):
        return []
    axes = _hist_axes(data)
    if not axes:
        return [("data", "needs data.axes: a list of binned axes")]
    problems: list[tuple[str | None, str]] = []
    n = 1
    for i, ax in enumerate(axes):
        if not isinstance(ax.get("name"), str):
            problems.append((f"data.axes[{i}]", "has no name"))
        e = _edges(ax)
        if e is None:
            problems.append((f"data.axes[{i}]", "needs 'edges' (ascending) or 'min', 'max' and 'nbins'"))
        else:
            n *= len(e) - 1
    contents = data.get("contents")
    if not isinstance(contents, list) or any(as_number(v) is None for v in contents):
        problems.append(("data.contents", "must be a list of numbers"))
    elif not problems and len(contents) != n:
        problems.append(("data.contents", f"has {len(contents)} entries for {n} bins"))
    return problems


def _histogram_refs(raw: Mapping[str, Any]) -> list[tuple[str, str, Kind]]:
    return [(f"data.axes[{i}].name", ax["name"], Kind.REF) for i, ax in enumerate(_hist_axes(raw.get("data")))
            if isinstance(ax.get("name"), str)]


def _bin_index(x: Array, edges: Array) -> tuple[NDArray[np.intp], Array]:
    """Bin index of x (clipped) and whether x is inside [edges[0], edges[-1]]."""
    idx = np.searchsorted(edges, x, side="right") - 1
    inside = (x >= edges[0]) & (x <= edges[-1])
    return np.clip(idx, 0, len(edges) - 2), inside


def _overlap_fraction(edges: Array, lo: float, hi: float) -> Array:
    """Fraction of each bin inside [lo, hi]."""
    width = np.diff(edges)
    return np.asarray(np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, None) / width)


@register("histogram_dist", "distribution", {"data": req(Kind.OBJECT)},
          checks=(_histogram_check,), extra_refs=_histogram_refs)
class Histogram(DistributionOp):
    """A histogram as a density (RooHistPdf, interpolation order 0).

    f(x) = (content of x's bin / bin volume) / Σ contents; normalised analytically
    over the observables' ranges (which may cut into bins). Zero outside the
    histogram.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        data = ctx.raw("data")
        axes = _hist_axes(data)
        self.axis_names = tuple(str(a["name"]) for a in axes)
        edges = [_edges(a) for a in axes]
        if any(e is None for e in edges) or not axes:
            raise EvaluationError(f"{ctx.path('data')}: histogram {self.name!r} has an axis without valid binning")
        self.edges: tuple[Array, ...] = tuple(e for e in edges if e is not None)
        shape = tuple(len(e) - 1 for e in self.edges)
        self.contents = np.asarray([as_number(v) for v in data["contents"]], dtype=float).reshape(shape)
        volume = np.ones(shape)
        for k, e in enumerate(self.edges):
            volume = volume * np.diff(e).reshape([-1 if j == k else 1 for j in range(len(shape))])
        with np.errstate(divide="ignore"):
            self.log_height = np.log(np.clip(self.contents, 0.0, None) / volume)

    def log_density(self, ev: Evaluator) -> Array:
        xs = np.broadcast_arrays(*[_arr(ev.value(n)) for n in self.axis_names])
        idx, inside = [], np.asarray(True)
        for x, e in zip(xs, self.edges, strict=True):
            i, ok = _bin_index(x, e)
            idx.append(i)
            inside = inside & ok
        return np.where(inside, self.log_height[tuple(idx)], -np.inf)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        weight = np.clip(self.contents, 0.0, None)
        for k, (name, e) in enumerate(zip(self.axis_names, self.edges, strict=True)):
            shape = [-1 if j == k else 1 for j in range(len(self.edges))]
            if name in observables:
                lo, hi = ev.bounds(name)
                weight = weight * _overlap_fraction(e, lo, hi).reshape(shape)
            else:
                return None  # not normalised over this axis: the evaluator handles it
        with np.errstate(divide="ignore"):
            return np.asarray(np.log(np.sum(weight)))


def _log_bin_integrals(ev: Evaluator, obs: str, edges: Array, log_f: Callable[[Evaluator], Any]) -> Array:
    """log ∫ over each bin of exp(log_f(child with obs = x)), adaptively, all bins at once.

    The bins are a batch axis (the last one): x = lo_i + t·w_i for t in [0, 1].
    """
    lo, width = edges[:-1], np.diff(edges)
    centre = ev.child({obs: 0.5 * (edges[:-1] + edges[1:])})
    batch = np.shape(_arr(log_f(centre)))
    if not batch or batch[-1] != len(lo):
        batch = tuple(np.broadcast_shapes(batch, (len(lo),)))

    def integrand(t: Array) -> Array:
        x = lo + t * width  # (K, 1, ..., n_bins)
        return np.broadcast_to(_arr(log_f(ev.child({obs: x}))) + np.log(width), (t.shape[0], *batch))

    return log_integrate(integrand, 0.0, 1.0, batch_ndim=len(batch))


def _paired_axes(ctx: BuildContext, names: Sequence[str] | None = None) -> list[Mapping[str, Any]]:
    """The binned axes of the data that a likelihood pairs with this distribution."""
    data = {d.name: d for d in ctx.spec.data}
    for lik in ctx.spec.likelihoods:
        for dist, dat in zip(lik.distributions, lik.data, strict=False):
            if dist == ctx.name and isinstance(dat, str) and dat in data and data[dat].type == "binned":
                axes = data[dat].raw.get("axes", [])
                return [a for a in axes if isinstance(a, Mapping)]
    if names is not None:  # binned data that holds exactly these observables
        for d in ctx.spec.data:
            if d.type == "binned" and list(d.observables) == list(names):
                return [a for a in d.raw.get("axes", []) if isinstance(a, Mapping)]
    return []


class _BinCounts(BinnedDistributionOp):
    """Shared code of the bincounts distributions: ν per bin by integrating over each bin (one axis)."""

    def _init_axes(self, ctx: BuildContext, names: Sequence[str] | None) -> None:
        raw_axes = ctx.raw("axes")
        axes = [a for a in raw_axes if isinstance(a, Mapping)] if isinstance(raw_axes, list) else \
            _paired_axes(ctx, names)
        if not axes:
            raise EvaluationError(f"{self.path}: {ctx.component.type} {self.name!r} has no 'axes' and no binned data "
                                  "is paired with it, so its bins are unknown")
        if len(axes) != 1:
            raise EvaluationError(f"{self.path}.axes: {ctx.component.type} {self.name!r} has {len(axes)} axes; only "
                                  "one-dimensional bin counts are evaluated")
        edges = _edges(axes[0])
        if edges is None or not isinstance(axes[0].get("name"), str):
            raise EvaluationError(f"{self.path}.axes[0]: needs a name and 'edges' or 'min', 'max', 'nbins'")
        self.axis_names = (str(axes[0]["name"]),)
        self.bin_edges = (edges,)

    def _log_integrand(self, ev: Evaluator) -> Array:
        raise NotImplementedError  # every subclass implements it

    def log_expected_counts(self, ev: Evaluator) -> Array:
        return _log_bin_integrals(ev, self.axis_names[0], self.bin_edges[0], self._log_integrand)

    def expected_counts(self, ev: Evaluator) -> Array:
        return _arr(np.exp(self.log_expected_counts(ev)))

    def log_density(self, ev: Evaluator) -> Array:
        (edges,) = self.bin_edges
        x = _arr(ev.value(self.axis_names[0]))
        idx, inside = _bin_index(x, edges)
        log_nu = self.log_expected_counts(ev)
        return np.where(inside, np.take(log_nu, idx, axis=-1) - np.log(np.diff(edges))[idx], -np.inf)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        if observables != self.axis_names:
            return None
        (edges,) = self.bin_edges
        lo, hi = ev.bounds(self.axis_names[0])
        frac = _overlap_fraction(edges, lo, hi)
        with np.errstate(divide="ignore"):
            return _arr(special.logsumexp(self.log_expected_counts(ev), b=frac, axis=-1))

    def expected_events(self, ev: Evaluator) -> Array | None:
        return _arr(np.sum(self.expected_counts(ev), axis=-1))


@register("bincounts_extended_dist", "distribution",
          {"rate": req(Kind.REF), "dist": req(Kind.DIST), "axes": opt(Kind.LIST)})
class BinCountsExtended(_BinCounts):
    """Bin counts of an extended distribution: ν_i = rate · ∫_bin i dist (dist normalised over its range)."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.rate = ctx.ref("rate")
        self.dist = str(ctx.raw("dist"))
        self._init_axes(ctx, None)

    def _log_integrand(self, ev: Evaluator) -> Array:
        return _arr(ev.logpdf(self.dist) + np.log(_arr(ev.value(self.rate))))

    def log_expected_counts(self, ev: Evaluator) -> Array:
        target = ev if self.axis_names[0] in ev.observables else ev.with_observables(
            set(ev.observables) | {self.axis_names[0]})
        return _log_bin_integrals(target, self.axis_names[0], self.bin_edges[0], self._log_integrand)


@register("bincounts_density_dist", "distribution",
          {"x": req(Kind.REF), "density": req(Kind.REF), "axes": opt(Kind.LIST)}, variates=("x",))
class BinCountsDensity(_BinCounts):
    """Bin counts of an intensity function f: ν_i = ∫_bin i f."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.x = ctx.ref("x")
        self.density = ctx.ref("density")
        self._init_axes(ctx, [str(self.x)])

    def _log_integrand(self, ev: Evaluator) -> Array:
        return _log_positive(_arr(ev.value(self.density)), f"{self.path} ({self.name!r}): density {self.density!r}")


# --------------------------------------------------------------------------------------
# decay_dist (RooDecay) with Gaussian or delta resolution


@register("gauss_resolution_model", "distribution",
          {"x": req(Kind.REF), "mean": req(Kind.REF), "sigma": req(Kind.REF)}, variates=("x",))
class GaussResolution(DistributionOp):
    """A Gaussian resolution model (RooGaussModel); on its own a Gaussian in x, truncated to x's range."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.x, self.mean, self.sigma = ctx.ref("x"), ctx.ref("mean"), ctx.ref("sigma")

    def log_density(self, ev: Evaluator) -> Array:
        z = (_arr(ev.value(self.x)) - ev.value(self.mean)) / ev.value(self.sigma)
        return _arr(-0.5 * z * z)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        if observables != (self.x,):
            return None
        from .univariate import log_gauss_integral

        lo, hi = ev.bounds(str(self.x))
        return log_gauss_integral(_arr(ev.value(self.mean)), _arr(ev.value(self.sigma)), lo, hi)


_DELTA_TYPES = ("delta_resolution_model", "truth_model_function")
_GAUSS_TYPES = ("gauss_resolution_model", "gauss_model_function")


def _decay_refs(raw: Mapping[str, Any]) -> list[tuple[str, str, Kind]]:
    model = raw.get("resolutionModel")
    return [("resolutionModel", model, Kind.ANY)] if isinstance(model, str) and model else []


def _decay_check(raw: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    if not isinstance(raw.get("resolutionModel"), str) or not raw.get("resolutionModel"):
        return [("resolutionModel", "needs the name of a resolution model (delta_resolution_model or "
                                    "gauss_resolution_model)")]
    kind = as_number(raw.get("decayType", 0))
    if kind not in (0.0, 1.0, 2.0):
        return [("decayType", f"is {raw.get('decayType')!r}; expected 0 (SingleSided), 1 (DoubleSided) or 2 "
                              "(Flipped)")]
    return []


def _log_exp_conv_gauss(s: Array, tau: Array, sigma: Array) -> Array:
    """log ∫_0^∞ exp(-u/τ) N(s - u; 0, σ) du (a one-sided exponential convolved with a normalised Gaussian)."""
    z = (sigma / tau - s / sigma) / math.sqrt(2.0)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        # z >= 0: 1/2 exp(-s²/2σ²) erfcx(z); z < 0: 1/2 exp(σ²/2τ² - s/τ) erfc(z) (erfc(z) in [1, 2])
        pos = -0.5 * (s / sigma) ** 2 + np.log(special.erfcx(np.maximum(z, 0.0)))
        neg = 0.5 * (sigma / tau) ** 2 - s / tau + np.log(special.erfc(np.minimum(z, 0.0)))
    return _arr(math.log(0.5) + np.where(z >= 0, pos, neg))


@register("decay_dist", "distribution",
          {"t": req(Kind.REF), "tau": req(Kind.REF), "decayType": opt(Kind.INT)},
          variates=("t",), checks=(_decay_check,), extra_refs=_decay_refs)
class Decay(DistributionOp):
    """Exponential decay convolved with a resolution model (RooDecay), normalised over t's range.

    B(t) = exp(-t/τ) for t > 0 (``decayType`` 0, SingleSided), exp(-|t|/τ)
    (1, DoubleSided) or exp(t/τ) for t < 0 (2, Flipped). ``resolutionModel``
    names a ``delta_resolution_model`` (no smearing), a ``gauss_resolution_model``
    (x, mean, sigma: B ⊗ N(mean, sigma) in closed form with erfcx, stable far in
    the tails; double-sided = single-sided + flipped convolution, as RooDecay), or a
    ``mixture_model`` of those (RooAddModel): Σ c_i (B ⊗ R_i) with normalised R_i,
    normalised as a whole (what ROOT 6.40 computes; fractions as in mixture_dist).
    Old names ``gauss_model_function``, ``truth_model_function`` are read too.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.t = ctx.ref("t")
        self.tau = ctx.ref("tau")
        self.decay_type = int(ctx.number("decayType", 0.0))
        model_name = str(ctx.raw("resolutionModel"))
        model = ctx.spec.component(model_name)
        if model is None:
            raise EvaluationError(f"{ctx.path('resolutionModel')}: decay_dist {self.name!r} refers to "
                                  f"{model_name!r}, which is not a resolution model of the workspace")
        self.coefficients: list[Ref] = []
        if model.type.lower() in ("mixture_model", "mixture_resolution_model"):
            summands = model.raw.get("summands")
            coefs = [as_ref(c) for c in model.raw.get("coefficients", [])]
            if not isinstance(summands, list) or any(c is None for c in coefs) or \
                    len(coefs) not in (len(summands), len(summands) - 1):
                raise EvaluationError(f"{model.path}: {model.type} {model.name!r} needs summands and N or N-1 "
                                      "coefficients")
            self.coefficients = [c for c in coefs if c is not None]
            parts = [ctx.spec.component(str(n)) for n in summands]
        else:
            parts = [model]
        self.components: list[tuple[Ref | None, Ref | None]] = []
        for part in parts:
            if part is None:
                raise EvaluationError(f"{model.path}: a summand of {model.name!r} does not exist")
            self.components.append(self._component(ctx, part))

    def _component(self, ctx: BuildContext, model: Any) -> tuple[Ref | None, Ref | None]:
        mtype = model.type.lower()
        if mtype in _DELTA_TYPES:
            return None, None
        if mtype in _GAUSS_TYPES:
            mean, sigma = as_ref(model.raw.get("mean")), as_ref(model.raw.get("sigma"))
            if mean is None or sigma is None:
                raise EvaluationError(f"{model.path}: {model.type} {model.name!r} needs 'mean' and 'sigma'")
            return mean, sigma
        raise EvaluationError(f"{ctx.path('resolutionModel')}: decay_dist {self.name!r} uses {model.type!r} "
                              f"{model.name!r} as resolution model; only delta_resolution_model, "
                              "gauss_resolution_model and mixtures of them are evaluated")

    def _log_component(self, t: Array, tau: Array, mean: Array | None, sigma: Array | None) -> Array:
        """log of B ⊗ R for one resolution component (R normalised)."""
        sides = {0: (1.0,), 1: (1.0, -1.0), 2: (-1.0,)}[self.decay_type]
        terms = []
        if mean is None or sigma is None:
            # RooDecay's bases: exp(-t/τ) (t >= 0), exp(-|t|/τ) (one basis, 1 at t = 0), exp(t/τ) (t <= 0)
            if self.decay_type == 1:
                return _arr(np.broadcast_arrays(-np.abs(t) / tau, t, tau)[0])
            for sign in sides:
                with np.errstate(divide="ignore"):
                    terms.append(np.where(sign * t >= 0, -sign * t / tau, -np.inf))
        else:
            s = t - mean
            for sign in sides:
                terms.append(_log_exp_conv_gauss(sign * s, tau, sigma))
        if len(terms) == 1:
            return _arr(np.broadcast_arrays(terms[0], t, tau)[0])
        return _arr(np.logaddexp(terms[0], terms[1]))

    def log_density(self, ev: Evaluator) -> Array:
        t = _arr(ev.value(self.t))
        tau = _arr(ev.value(self.tau))
        logs = [self._log_component(t, tau, None if m is None else _arr(ev.value(m)),
                                    None if s is None else _arr(ev.value(s))) for m, s in self.components]
        if len(logs) == 1 and not self.coefficients:
            return logs[0]
        coefs = [_arr(ev.value(c)) for c in self.coefficients]
        if len(coefs) == len(logs) - 1:
            coefs.append(1.0 - sum(coefs, np.asarray(0.0)))
        return _signed_logsumexp(logs, coefs, f"{self.path} ({self.name!r})")


# --------------------------------------------------------------------------------------
# mixture of resolution models, bin sampling, FFT convolution


@register("mixture_model", "distribution", _mixture_fields(), aliases=("mixture_resolution_model",),
          variates=("x",), checks=(_coefficient_count_check("summands", "summand"),))
class MixtureModel(Mixture):
    """A mixture of resolution models (RooAddModel); on its own a mixture of normalised
    distributions with the rules of ``mixture_dist`` (as the resolution model of a
    ``decay_dist``, see :class:`Decay`)."""


def _binning_of(ctx: BuildContext, obs: str) -> Array | None:
    """The bin edges of observable ``obs`` from a binned data axis of the workspace."""
    for d in ctx.spec.data:
        if d.type != "binned":
            continue
        for ax in d.axes:
            if ax.name == obs and ax.binned:
                return np.asarray(ax.bin_edges, dtype=float)
    return None


@register("binsampling", "distribution",
          {"pdf": req(Kind.DIST), "observable": req(Kind.REF), "epsilon": opt(Kind.NUMBER)},
          aliases=("binsampling_dist",), variates=("observable",))
class BinSampling(DistributionOp):
    """A distribution averaged over the bins of its observable (RooBinSamplingPdf).

    f(x) = ∫_bin(x) pdf / bin width, bins from the binned data axis of the
    observable. The bin integrals are adaptive (to ~1e-11, tighter than ROOT's
    ``epsilon``, which therefore does not change the result).
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.pdf = str(ctx.raw("pdf"))
        self.observable = str(ctx.raw("observable"))
        edges = _binning_of(ctx, self.observable)
        if edges is None:
            raise EvaluationError(f"{ctx.path('observable')}: binsampling {self.name!r} needs the binning of "
                                  f"{self.observable!r}, but no binned data in the workspace has that axis")
        self.edges = edges

    def _log_bins(self, ev: Evaluator) -> Array:
        return _log_bin_integrals(ev, self.observable, self.edges, lambda sub: sub.logpdf(self.pdf))

    def log_density(self, ev: Evaluator) -> Array:
        x = _arr(ev.value(self.observable))
        idx, inside = _bin_index(x, self.edges)
        log_avg = self._log_bins(ev) - np.log(np.diff(self.edges))
        return np.where(inside, np.take(log_avg, idx, axis=-1), -np.inf)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        if observables != (self.observable,):
            return None
        lo, hi = ev.bounds(self.observable)
        frac = _overlap_fraction(self.edges, lo, hi)
        with np.errstate(divide="ignore"):
            return _arr(special.logsumexp(self._log_bins(ev), b=frac, axis=-1))


@register("fft_convolution_dist", "distribution",
          {"conv_var": req(Kind.REF), "pdf1": req(Kind.DIST), "pdf2": req(Kind.DIST), "ipOrder": opt(Kind.INT),
           "conv_func": opt(Kind.REF)},
          aliases=("fft_conv_pdf",), variates=("conv_var",))
class FFTConvolution(DistributionOp):
    """Convolution of two distributions in ``conv_var`` (RooFFTConvPdf), as ROOT computes it.

    RooFFTConvPdf samples both pdfs in bins of x over the range extended by a
    buffer of ``bufferFraction``/2 = 5 % of the range on each side (default
    strategy ``Extend``: pdf1 is evaluated beyond the range), pdf2 on a window of
    the same length W centred at 0, and convolves them *cyclically* by FFT; the
    result is interpolated between bins (``ipOrder``) and normalised over
    [min, max]. Because the convolution is cyclic, pdf2 acts as a periodic
    function with period W: where pdf1 is large at one end of the range, its
    smeared tail wraps around to the other end (the buffer only reduces this).

    This kernel computes the continuous version of that: f(x) ∝ ∫ pdf1(x')
    pdf2(wrap(x - x')) dx' over x' in [min - b, max + b], b = 0.05 (max - min),
    wrap(y) mapping y into [-W/2, W/2) periodically, by adaptive quadrature for all
    x at once; the evaluator then normalises over [min, max]. It equals ROOT's
    number up to ROOT's binning error (1e-4 to 1e-3 with its default 930 bins);
    where pdf2 is narrow compared with the buffer it is the ordinary (linear)
    convolution. ``conv_func`` (a convolution in a function of the variable) is
    not evaluated.
    """

    #: buffer on each side of the range, as a fraction of the range (RooFFTConvPdf: bufferFraction / 2)
    BUFFER = 0.05

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.x = str(ctx.raw("conv_var"))
        self.pdf1 = str(ctx.raw("pdf1"))
        self.pdf2 = str(ctx.raw("pdf2"))
        self.conv_func = ctx.raw("conv_func")

    def log_density(self, ev: Evaluator) -> Array:
        if self.conv_func is not None:
            raise EvaluationError(f"{self.path}.conv_func ({self.name!r}): a convolution in a function of "
                                  f"{self.x!r} is not evaluated")
        lo, hi = ev.bounds(self.x)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise EvaluationError(f"{self.path} ({self.name!r}): the convolution variable {self.x!r} needs a finite "
                                  f"range, it has [{lo}, {hi}]")
        buf = self.BUFFER * (hi - lo)
        half_window = 0.5 * (hi - lo) + buf
        x = _arr(ev.value(self.x))
        batch = tuple(np.broadcast_shapes(np.shape(x), np.shape(ev.child({self.x: x}).log_density(self.pdf2)),
                                          np.shape(ev.child({self.x: np.asarray(lo)}).log_density(self.pdf1))))
        start, period = lo - buf, 2.0 * half_window
        # the periodic pdf2 jumps where x - x' = ±W/2: integrate on either side of that point, each piece
        # mapped to [0, 1] (smooth integrands, all x at once)
        jump = np.where(x - half_window >= start, x - half_window, x + half_window)
        lower, upper = np.full(np.shape(jump), start), np.full(np.shape(jump), start + period)
        pieces = [(lower, jump), (jump, upper)]
        total: Array | None = None
        for a, b in pieces:
            width = b - a
            with np.errstate(divide="ignore"):
                log_width = np.log(width)

            def integrand(t: Array, a: Array = a, width: Array = width, log_width: Array = log_width) -> Array:
                nodes = a + t * width
                lp1 = ev.child({self.x: nodes}).log_density(self.pdf1)
                shift = np.mod(x - nodes + half_window, period) - half_window
                lp2 = ev.child({self.x: shift}).log_density(self.pdf2)
                return np.broadcast_to(_arr(lp1 + lp2 + log_width), (t.shape[0], *batch))

            part = log_integrate(integrand, 0.0, 1.0, batch_ndim=len(batch))
            total = part if total is None else np.logaddexp(total, part)
        assert total is not None
        return _arr(total)
