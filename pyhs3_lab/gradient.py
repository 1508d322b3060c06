"""Analytic gradients of the NLL: the chain rule through the graph, kernel by kernel.

A gradient is *sparse*: ``{parameter: d value / d parameter}`` (a :data:`~pyhs3_lab.ops.base.Grad`),
with arrays broadcastable against the value (one entry per data point, or a scalar) and only the
parameters of ``wrt`` that the value depends on. Kernels give their local derivatives and ask the
evaluator for those of their inputs:

* functions: ``FunctionOp.grad_value(ev, wrt)`` (``sum``, ``product``, ``generic_function``, ... —
  expressions are differentiated symbolically, :meth:`pyhs3_lab.expr.Expression.derivative`);
* distributions: ``DistributionOp.grad_log_density(ev, wrt)``, ``grad_log_normalization(ev, obs,
  wrt)`` (only where the normalisation is analytic) and ``grad_expected_events(ev, wrt)``;
* bin counts (``histfactory_dist``): ``grad_expected(ev, names)`` and the constraint terms'
  derivatives.

Every step returns ``None`` as soon as a kernel has no derivative; the likelihood then has no
analytic gradient and fits use MINUIT's numerical one. A node that depends on none of ``wrt`` has
the empty gradient whatever its kernel (so e.g. a ``generic_dist`` with constant parameters does not
stop the gradient).

The NLL's gradient (:class:`LikelihoodGradient`) sums the terms of :mod:`pyhs3_lab.likelihood`:

* density terms ``-Σ w ∂log f`` plus ``(1 - N/ν) ∂ν`` for extended pdfs;
* bin-count terms ``Σ_b (1 - n_b/ν_b) ∂ν_b`` minus the derivatives of the constraint terms, each
  constraint once (merged by parameter, as the NLL merges them);
* aux terms ``-∂log f``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import EvaluationError, PyHS3LabError
from .evaluate import Evaluator
from .ops.base import Array, BinnedDistributionOp, FunctionOp, Grad

if TYPE_CHECKING:
    from .likelihood import Likelihood, _AuxTerm, _CountsTerm, _DensityTerm

__all__ = ["Grad", "LikelihoodGradient", "add_scaled", "grad_expected_events", "grad_log_density",
           "grad_logpdf", "grad_value"]


# --------------------------------------------------------------------------------------
# sparse gradient arithmetic


def add_scaled(acc: Grad, g: Grad, factor: Any = 1.0) -> Grad:
    """``acc + factor · g`` (``acc`` is updated and returned)."""
    for k, v in g.items():
        term = v if factor is None else factor * v
        old = acc.get(k)
        acc[k] = term if old is None else old + term
    return acc


def scaled(g: Grad, factor: Any) -> Grad:
    return {k: factor * v for k, v in g.items()}


def grad_refs(ev: Evaluator, refs: Sequence[Any], wrt: frozenset[str]) -> list[Grad] | None:
    """``ev.grad_value`` of each of ``refs``; None if one has no derivative."""
    out: list[Grad] = []
    for r in refs:
        g = ev.grad_value(r, wrt)
        if g is None:
            return None
        out.append(g)
    return out


def chain(ev: Evaluator, partials: Sequence[tuple[Any, Any]], wrt: frozenset[str]) -> Grad | None:
    """Σ ∂f/∂input · ∂input/∂θ for ``partials = [(input ref, ∂f/∂input), ...]`` (the partial derivative
    is only evaluated — it may be a callable — for inputs that depend on ``wrt``)."""
    out: Grad = {}
    for ref, partial in partials:
        g = ev.grad_value(ref, wrt)
        if g is None:
            return None
        if g:
            add_scaled(out, g, partial() if callable(partial) else partial)
    return out


# --------------------------------------------------------------------------------------
# the chain rule through the graph (Evaluator.grad_* delegate here)


def _depends(ev: Evaluator, name: str, wrt: frozenset[str]) -> bool:
    return not ev.graph.leaves(name).isdisjoint(wrt)


def grad_value(ev: Evaluator, ref: Any, wrt: frozenset[str]) -> Grad | None:
    """d value(ref) / d θ for θ in ``wrt``."""
    if isinstance(ref, float) or not _depends(ev, ref, wrt):
        return {}
    node = ev.graph.nodes.get(ref)
    if node is None or node.kind == "parameter":
        return {ref: 1.0} if ref in wrt else {}
    key = ("v", ref)
    cache = ev._grad_cache
    if key in cache:
        return cache[key]
    op = ev.compiled.op(ref)
    if not isinstance(op, FunctionOp):
        return None
    got = op.grad_value(ev, wrt)
    cache[key] = got
    return got


def grad_log_density(ev: Evaluator, dist: str, wrt: frozenset[str]) -> Grad | None:
    """d log_density(dist) / d θ."""
    if not _depends(ev, dist, wrt):
        return {}
    key = ("ld", dist)
    cache = ev._grad_cache
    if key in cache:
        return cache[key]
    got = ev.compiled.distribution(dist).grad_log_density(ev, wrt)
    cache[key] = got
    return got


def grad_logpdf(ev: Evaluator, dist: str, wrt: frozenset[str]) -> Grad | None:
    """d logpdf(dist) / d θ: the log density's derivative minus its normalisation's."""
    if not _depends(ev, dist, wrt):
        return {}
    key = ("lp", dist)
    cache = ev._grad_cache
    if key in cache:
        return cache[key]
    got = _grad_logpdf(ev, dist, wrt)
    cache[key] = got
    return got


def _grad_logpdf(ev: Evaluator, dist: str, wrt: frozenset[str]) -> Grad | None:
    ld = grad_log_density(ev, dist, wrt)
    if ld is None:
        return None
    obs = ev.norm_observables(dist)
    op = ev.compiled.distribution(dist)
    if op.discrete or not obs:
        return ld
    if ev.graph.leaves(dist).difference(obs).isdisjoint(wrt):
        return ld
    if op.log_normalization(ev, obs) is None:
        return None  # numerical normalisation: no analytic derivative
    gn = op.grad_log_normalization(ev, obs, wrt)
    if gn is None:
        return None
    return add_scaled(dict(ld), gn, -1.0)


def grad_expected_events(ev: Evaluator, dist: str, wrt: frozenset[str]) -> Grad | None:
    """d expected_events(dist) / d θ (for an extended distribution)."""
    if not _depends(ev, dist, wrt):
        return {}
    key = ("nu", dist)
    cache = ev._grad_cache
    if key in cache:
        return cache[key]
    got = ev.compiled.distribution(dist).grad_expected_events(ev, wrt)
    cache[key] = got
    return got


# --------------------------------------------------------------------------------------
# likelihood terms


def _sum_over(v: Any, shape: tuple[int, ...], weights: Array | None) -> float:
    """Σ over the data entries of a per-entry derivative ``v`` (broadcast to ``shape``)."""
    a = np.asarray(v, dtype=float)
    if weights is None:
        if a.shape == shape:
            return float(np.sum(a))
        if a.ndim == 0:
            return float(a) * float(np.prod(shape))
        return float(np.sum(np.broadcast_to(a, shape)))
    with np.errstate(invalid="ignore"):
        return float(np.sum(np.where(weights == 0.0, 0.0, weights * a)))


def density_term_grad(term: _DensityTerm, values: Mapping[str, Any], wrt: frozenset[str]) -> Grad | None:
    """d NLL / d θ of a density term (unbinned, binned with bin centres, or one point)."""
    merged = dict(values)
    merged.update(term.columns)
    ev = Evaluator(term.model.compiled, merged, term.model.bounds, term.observables)
    g = ev.grad_logpdf(term.dist, wrt)
    if g is None:
        return None
    out: Grad = {}
    if g:
        shape = np.shape(ev.logpdf(term.dist))
        for k, v in g.items():
            out[k] = -_sum_over(v, shape, term.weights)
    nu = term.op.expected_events(ev)
    if nu is not None:
        gnu = ev.grad_expected_events(term.dist, wrt)
        if gnu is None:
            return None
        nu_f = float(nu)
        factor = 1.0 if term.n_events == 0.0 else 1.0 - term.n_events / nu_f
        add_scaled(out, {k: float(np.sum(v)) for k, v in gnu.items()}, factor)
    return out


def aux_term_grad(term: _AuxTerm, values: Mapping[str, Any], wrt: frozenset[str]) -> Grad | None:
    ev = Evaluator(term.model.compiled, values, term.model.bounds, term.observables)
    g = ev.grad_logpdf(term.dist, wrt)
    if g is None:
        return None
    return {k: -float(np.sum(v)) for k, v in g.items()}


def _plain_constraints(op: Any) -> Any:
    """The Gaussian and Poisson constraint terms of a HistFactory kernel (without explicit pdfs)."""
    from .ops.histfactory import ConstraintSet

    cs = op.constraints
    cached = getattr(op, "_gradient_plain_constraints", None)
    if cached is None or cached[0] is not cs:
        cached = (cs, ConstraintSet([s for s in cs.specs if s.kind != "pdf"]),
                  [s for s in cs.specs if s.kind == "pdf"])
        op._gradient_plain_constraints = cached
    return cached


def counts_terms_grad(terms: Sequence[_CountsTerm], values: Mapping[str, Any], wrt: frozenset[str]) -> Grad | None:
    """d NLL / d θ of the bin-count terms with their constraint terms, each constraint once."""
    out: Grad = {}
    seen: set[str] = set()
    for t in terms:
        ev = t.evaluator(values)
        op = t.op
        names = sorted(ev.graph.leaves(t.dist) & wrt)
        grad_expected = getattr(op, "grad_expected", None)
        if names:
            if grad_expected is None:
                return None
            try:
                dnu = np.asarray(grad_expected(ev, names), dtype=float)
            except EvaluationError:
                return None
            nu = np.asarray(op.expected_counts(ev), dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                resid = np.where(t.counts == 0.0, 1.0, 1.0 - t.counts / nu)
            for n, d in zip(names, dnu @ resid, strict=True):
                out[n] = out.get(n, 0.0) + float(d)
        # constraint terms
        if getattr(op, "constraints", None) is None or getattr(op, "constraint_log_terms", None) is None:
            if type(op).log_constraints is not BinnedDistributionOp.log_constraints:
                return None  # constraints without a derivative
            continue
        _cs, plain, pdfs = _plain_constraints(op)
        for name, d in plain.grad_log_terms(ev).items():
            if name in seen:
                continue
            seen.add(name)
            if name in wrt:
                out[name] = out.get(name, 0.0) - float(d)
        for spec in pdfs:
            if spec.parameter in seen:
                continue
            seen.add(spec.parameter)
            assert spec.pdf is not None
            g = ev.with_observables(spec.pdf_observables).grad_logpdf(spec.pdf, wrt)
            if g is None:
                return None
            add_scaled(out, {k: float(np.sum(v)) for k, v in g.items()}, -1.0)
    return out


class LikelihoodGradient:
    """d NLL / d θ of a :class:`~pyhs3_lab.likelihood.Likelihood` for the parameters ``names``.

    ``gradient(values)`` (every value given, as ``Likelihood._evaluate`` takes them) returns the
    array of derivatives in the order of ``names``, or None where a kernel has no analytic
    derivative (decided by the structure of the likelihood: see :meth:`supported`).
    """

    def __init__(self, likelihood: Likelihood, names: Sequence[str]) -> None:
        self.likelihood = likelihood
        self.names = tuple(names)
        self.wrt = frozenset(self.names)
        self._index = {n: i for i, n in enumerate(self.names)}

    def __call__(self, values: Mapping[str, Any]) -> Array | None:
        lik = self.likelihood
        total = np.zeros(len(self.names))
        parts: list[Grad | None] = []
        for t in lik._density_terms:
            parts.append(density_term_grad(t, values, self.wrt))
        if lik._count_terms:
            parts.append(counts_terms_grad(lik._count_terms, values, self.wrt))
        for a in lik._aux_terms:
            parts.append(aux_term_grad(a, values, self.wrt))
        for g in parts:
            if g is None:
                return None
            for k, v in g.items():
                i = self._index.get(k)
                if i is not None:
                    total[i] += float(v)
        return total

    def supported(self, values: Mapping[str, Any]) -> bool:
        """Whether every term has an analytic derivative (tried once at ``values``)."""
        try:
            with np.errstate(all="ignore"):
                got = self(values)
        except PyHS3LabError:
            return False
        except (ValueError, TypeError, IndexError, KeyError, ArithmeticError):
            return False
        return got is not None


def numerical_gradient(f: Any, x: Array, rel_step: float = 1e-6) -> Array:
    """Central finite differences of ``f`` at ``x`` (a fallback where the analytic gradient is not finite)."""
    out = np.zeros(len(x))
    for i in range(len(x)):
        h = rel_step * max(1.0, abs(float(x[i])))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        out[i] = (float(f(up)) - float(f(down))) / (2.0 * h)
    return out

