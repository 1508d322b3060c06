"""Analytic gradients of the NLL: the chain rule through the graph, kernel by kernel.

Functions of parameters are differentiated *forward*: ``ev.grad_value(ref, wrt)`` is a sparse
:data:`~pyhs3_lab.ops.base.Grad` ``{parameter: d value / d parameter}`` (arrays broadcastable against
the value, usually scalars), with only the parameters of ``wrt`` that the value depends on
(``FunctionOp.grad_value``: ``sum``, ``product``, ``weighted_sum``, ``generic_function`` — expressions
are differentiated symbolically, :meth:`pyhs3_lab.expr.Expression.derivative`).

Log densities, which have one value per data entry, are differentiated in *reverse*: the caller
gives an ``adjoint`` (one weight per entry, e.g. ``-w`` for an NLL) and the kernel returns
``Σ adjoint · ∂ log f / ∂θ`` summed down to the shape of θ's value (a number for scalar parameters,
one per channel for the column of a batch of channels), so that no per-entry array per parameter is
ever built: ``DistributionOp.grad_log_density(ev, wrt, adjoint)`` and
``grad_log_normalization(ev, obs, wrt, adjoint)`` (only where the normalisation is analytic);
expected events are scalars and forward again: ``grad_expected_events(ev, wrt)``. Bin counts
(``histfactory_dist``) give ``grad_expected(ev, names)`` and their constraint terms' derivatives.

Every step returns ``None`` as soon as a kernel has no derivative; the likelihood then has no
analytic gradient and fits use MINUIT's numerical one. A node that depends on none of ``wrt`` has
the empty gradient whatever its kernel (so e.g. a ``generic_dist`` with constant parameters does not
stop the gradient).

The NLL's gradient (:class:`LikelihoodGradient`) sums the terms of :mod:`pyhs3_lab.likelihood`:

* density terms: adjoint ``-w`` through ``log f``, plus ``(1 - N/ν) ∂ν`` for extended pdfs;
* bin-count terms ``Σ_b (1 - n_b/ν_b) ∂ν_b`` minus the derivatives of the constraint terms, each
  constraint once (merged by parameter, as the NLL merges them);
* aux terms: adjoint ``-1`` through ``log f``.
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

#: relative agreement of a batch's gradient with its channels' at its first evaluation
BATCH_RTOL = 1e-8

__all__ = ["Grad", "LikelihoodGradient", "add_scaled", "chain", "chain_adjoint", "grad_expected_events",
           "grad_log_density", "grad_logpdf", "grad_value", "pullback", "reduce_to"]


# --------------------------------------------------------------------------------------
# sparse gradient arithmetic


def add_scaled(acc: Grad, g: Grad, factor: Any = 1.0) -> Grad:
    """``acc + factor · g`` (``acc`` is updated and returned)."""
    for k, v in g.items():
        term = v if factor is None else factor * v
        old = acc.get(k)
        acc[k] = term if old is None else old + term
    return acc


def reduce_to(x: Any, shape: tuple[int, ...]) -> Any:
    """``x`` summed down to ``shape`` (the inverse of numpy broadcasting), or broadcast up to it."""
    a = np.asarray(x)
    if a.shape == shape:
        return a
    if not shape:
        return np.sum(a)
    lead = a.ndim - len(shape)
    if lead > 0:
        a = a.sum(axis=tuple(range(lead)))
    if a.ndim == len(shape):
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and a.shape[i] != 1)
        if axes:
            a = a.sum(axis=axes, keepdims=True)
    return np.broadcast_to(a, shape) if a.shape != shape else a


def pullback(ev: Evaluator, out: Grad, g: Grad, cotangent: Any, factor: Any = 1.0) -> None:
    """``out[θ] += Σ cotangent · factor · g[θ]`` summed down to the shape of θ's value (``g`` a
    forward gradient; ``cotangent`` has the shape of the values, ``factor`` broadcasts against it)."""
    scalar_factor = np.ndim(factor) == 0
    base: Any = None  # cotangent · factor, built once if needed
    reduced: dict[tuple[int, ...], Any] = {}
    for k, v in g.items():
        shape = np.shape(ev.value(k))
        if np.ndim(v) == 0:
            r = reduced.get(shape)
            if r is None:
                if scalar_factor:
                    r = reduce_to(cotangent, shape) * factor
                else:
                    if base is None:
                        base = cotangent * factor
                    r = reduce_to(base, shape)
                reduced[shape] = r
            term = r * v
        else:
            if base is None:
                base = cotangent * factor
            term = reduce_to(base * v, shape)
        old = out.get(k)
        out[k] = term if old is None else old + term


def chain(ev: Evaluator, partials: Sequence[tuple[Any, Any]], wrt: frozenset[str]) -> Grad | None:
    """Forward: Σ ∂f/∂input · ∂input/∂θ for ``partials = [(input ref, ∂f/∂input), ...]`` (the partial
    derivative may be a callable, evaluated only for inputs that depend on ``wrt``)."""
    out: Grad = {}
    for ref, partial in partials:
        g = ev.grad_value(ref, wrt)
        if g is None:
            return None
        if g:
            add_scaled(out, g, partial() if callable(partial) else partial)
    return out


def chain_adjoint(ev: Evaluator, partials: Sequence[tuple[Any, Any]], wrt: frozenset[str],
                  adjoint: Any) -> Grad | None:
    """Reverse: Σ adjoint · ∂f/∂input · ∂input/∂θ, summed down to the shape of each θ's value."""
    out: Grad = {}
    for ref, partial in partials:
        g = ev.grad_value(ref, wrt)
        if g is None:
            return None
        if g:
            pullback(ev, out, g, adjoint, partial() if callable(partial) else partial)
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


def grad_log_density(ev: Evaluator, dist: str, wrt: frozenset[str], adjoint: Any) -> Grad | None:
    """Σ adjoint · d log_density(dist) / d θ."""
    if not _depends(ev, dist, wrt):
        return {}
    return ev.compiled.distribution(dist).grad_log_density(ev, wrt, adjoint)


def grad_logpdf(ev: Evaluator, dist: str, wrt: frozenset[str], adjoint: Any) -> Grad | None:
    """Σ adjoint · d logpdf(dist) / d θ: the log density's derivative minus its normalisation's."""
    if not _depends(ev, dist, wrt):
        return {}
    ld = grad_log_density(ev, dist, wrt, adjoint)
    if ld is None:
        return None
    obs = ev.norm_observables(dist)
    op = ev.compiled.distribution(dist)
    if op.discrete or not obs:
        return ld
    if ev.graph.leaves(dist).difference(obs).isdisjoint(wrt):
        return ld
    if op.log_normalization(ev, obs) is None and not getattr(op, "numeric_normalization_gradient", False):
        return None  # numerical normalisation: no derivative (kernels may give it numerically too)
    gn = op.grad_log_normalization(ev, obs, wrt, adjoint)
    if gn is None:
        return None
    return add_scaled(ld, gn, -1.0)


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


def _adjoint(shape: tuple[int, ...], weights: Array | None) -> Array:
    """-w per entry (-1 without weights; 0 where the weight is 0)."""
    if weights is None:
        return np.full(shape, -1.0)
    return np.asarray(np.broadcast_to(-weights, shape) if np.shape(weights) != shape else -weights)


def density_term_grad(term: _DensityTerm, values: Mapping[str, Any], wrt: frozenset[str]) -> Grad | None:
    """d NLL / d θ of a density term (unbinned, binned with bin centres, or one point)."""
    merged = dict(values)
    merged.update(term.columns)
    ev = Evaluator(term.model.compiled, merged, term.model.bounds, term.observables)
    shape = np.shape(ev.logpdf(term.dist))
    out = ev.grad_logpdf(term.dist, wrt, _adjoint(shape, term.weights))
    if out is None:
        return None
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
    return ev.grad_logpdf(term.dist, wrt, np.full(np.shape(ev.logpdf(term.dist)), -1.0))


def batch_grad(batch: Any, values: Mapping[str, Any], wrt: frozenset[str]) -> Grad | None:
    """d NLL / d θ of a :class:`~pyhs3_lab.batch.ChannelBatch`: by its flat plan (:mod:`pyhs3_lab.plan`) where
    it has one, checked against the batched tree at first use (off for good on disagreement), else by the tree."""
    if batch.ok is not True:
        return None
    plan = batch.plan() if batch.plan_ok is True else None
    if plan is None or batch.plan_grad_ok is False:
        return tree_batch_grad(batch, values, wrt)
    got: Grad | None = plan.gradient(values, wrt)
    if got is None:
        return tree_batch_grad(batch, values, wrt)
    if batch.plan_grad_ok is None:
        ref = tree_batch_grad(batch, values, wrt)
        if ref is None:
            return None
        ok = set(got) <= set(ref) and all(
            abs(got.get(k, 0.0) - float(v)) <= BATCH_RTOL * max(1.0, abs(float(v))) for k, v in ref.items())
        batch.plan_grad_ok = ok
        if not ok:
            batch.plan_fallback_reason = f"plan gradient {got!r} != batched tree {ref!r}"
        return ref
    return got


def tree_batch_grad(batch: Any, values: Mapping[str, Any], wrt: frozenset[str]) -> Grad | None:
    """d NLL / d θ of a :class:`~pyhs3_lab.batch.ChannelBatch`: its channels in one vectorised pass.

    The batch's tree is evaluated once with every parameter that differs between channels as a
    column over channels; the reverse pass sums each parameter's derivative down to that column, one
    value per channel, which goes to that channel's parameter. None where the batch does not apply
    (the caller then takes the channels one by one)."""
    if batch.ok is not True:
        return None
    got = batch._slot_values(values)
    if got is None:
        return None
    slot_vals, slot_keys = got
    inputs: dict[str, Any] = {name: v for (name, _, _), v in zip(batch.slots, slot_vals, strict=True)}
    twrt = frozenset(name for name, names, _ in batch.slots if not wrt.isdisjoint(names))
    if batch.chunked:
        return _chunked_tree_batch_grad(batch, inputs, twrt, wrt)
    inputs[batch.obs] = batch.data
    ev = Evaluator(batch.model.compiled, inputs, batch.model.bounds, batch.observables)
    if batch._inside:
        ev._overridden = batch.observables  # the data were checked against the range once
    for d, idx in batch._dist_slots.items():  # normalised log densities of the last NLL call, if unchanged
        hit = batch._memo.get(d)
        if hit is not None and hit[0] == tuple([slot_keys[i] for i in idx]):
            ev._lp_cache[d] = hit[1]
    lp = ev.logpdf(batch.dist)
    shape = (len(batch.terms), batch.data.shape[1])
    adjoint = np.full(shape, -1.0) if batch.weights is None else -batch.weights
    if np.shape(lp) != shape:
        return None
    out = ev.grad_logpdf(batch.dist, twrt, adjoint)
    if out is None:
        return None
    if not _extended_grad(batch, ev, out, twrt):
        return None
    return _slot_grads_to_names(batch, out, wrt, {})


def _extended_grad(batch: Any, ev: Evaluator, out: Grad, twrt: frozenset[str]) -> bool:
    """Add d/dθ Σ_channels (ν - n log ν) to ``out`` (nothing if not extended); False: no analytic derivative."""
    op = batch.model.compiled.distribution(batch.dist)
    nu = op.expected_events(ev)
    if nu is None:
        return True
    gnu = ev.grad_expected_events(batch.dist, twrt)
    if gnu is None:
        return False
    nu_c = np.broadcast_to(np.asarray(nu, dtype=float).reshape(-1, 1) if np.ndim(nu) else nu,
                           batch.n_events.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(batch.n_events == 0.0, 1.0, 1.0 - batch.n_events / nu_c)
    pullback(ev, out, gnu, factor)
    return True


def _chunked_tree_batch_grad(batch: Any, inputs: Mapping[str, Any], twrt: frozenset[str],
                             wrt: frozenset[str]) -> Grad | None:
    """:func:`tree_batch_grad` of a large batch, chunk by chunk (``batch.chunk_evaluators``): the derivatives
    of Σ w log p add up over the chunks; the extended term is counted once."""
    res: Grad = {}
    last: Evaluator | None = None
    for ev, sl in batch.chunk_evaluators(inputs):
        shape = batch.data[:, sl].shape
        if np.shape(ev.logpdf(batch.dist)) != shape:
            return None
        adjoint = np.full(shape, -1.0) if batch.weights is None else -batch.weights[:, sl]
        out = ev.grad_logpdf(batch.dist, twrt, adjoint)
        if out is None:
            return None
        _slot_grads_to_names(batch, out, wrt, res)
        last = ev
    assert last is not None
    ext: Grad = {}
    if not _extended_grad(batch, last, ext, twrt):
        return None
    return _slot_grads_to_names(batch, ext, wrt, res)


def _slot_grads_to_names(batch: Any, out: Grad, wrt: frozenset[str], res: Grad) -> Grad:
    """Add the derivatives by slot (``out``: a float, or a column over channels) to ``res``, by parameter name."""
    for name, names, differ in batch.slots:
        v = out.get(name)
        if v is None:
            continue
        if differ:
            col = np.broadcast_to(np.asarray(v, dtype=float).reshape(-1), (len(names),))
            for n, x in zip(names, col.tolist(), strict=True):
                if n in wrt:
                    res[n] = res.get(n, 0.0) + x
        elif name in wrt:
            res[name] = res.get(name, 0.0) + float(np.sum(v))
    return res


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
            sub = ev.with_observables(spec.pdf_observables)
            g = sub.grad_logpdf(spec.pdf, wrt, np.full(np.shape(sub.logpdf(spec.pdf)), -1.0))
            if g is None:
                return None
            add_scaled(out, g)
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
        #: why :meth:`supported` said no (fits then use MINUIT's numerical gradient)
        self.unsupported_reason: str | None = None
        self._index = {n: i for i, n in enumerate(self.names)}
        #: (the likelihood's :class:`~pyhs3_lab.hfbatch.CountsBatch`, whether its vectorised gradient agreed with
        #: :func:`counts_terms_grad` at its first evaluation, (positions in ``names``, in its inputs))
        self._counts_state: tuple[Any, bool, tuple[Array, Array]] | None = None

    def counts_batch_ok(self, batch: Any) -> bool:
        """Whether the vectorised gradient of ``batch`` was checked and is used (fits then call it directly)."""
        state = self._counts_state
        return state is not None and state[0] is batch and state[1]

    def counts_positions(self, batch: Any) -> tuple[Array, Array]:
        """(positions in ``names``, positions in ``batch.inputs``) of the names the batch reads."""
        pos = {n: i for i, n in enumerate(batch.inputs)}
        dst = [i for i, n in enumerate(self.names) if n in pos]
        return np.asarray(dst, dtype=np.intp), np.asarray([pos[self.names[i]] for i in dst], dtype=np.intp)

    def _counts(self, values: Mapping[str, Any], total: Array) -> bool:
        """Adds the bin-count terms' gradient to ``total``: the vectorised one of the likelihood's
        :class:`~pyhs3_lab.hfbatch.CountsBatch` where it applies (checked against the channels one by one at
        its first evaluation, like the NLL), else :func:`counts_terms_grad`. False: no analytic gradient."""
        lik = self.likelihood
        batch = lik._counts_batch()
        state = self._counts_state
        if batch is not None and batch.ok is None:
            batch.cached_nll(values)  # the NLL's own check decides first
        if batch is not None and batch.ok is True and (state is None or state[0] is not batch or state[1]):
            v = batch.vector(values)
            if v is not None:
                g = batch.grad_vector(v)
                known = batch.gradient_checked.get(self.names)
                if (state is None or state[0] is not batch) and known is not None:  # checked by an earlier fit
                    state = self._counts_state = (batch, known, self.counts_positions(batch))
                    if not known:
                        ref = counts_terms_grad(lik._count_terms, values, self.wrt)
                        if ref is None:
                            return False
                        self._add(total, ref)
                        return True
                if state is None or state[0] is not batch:
                    ref = counts_terms_grad(lik._count_terms, values, self.wrt)
                    if ref is None:
                        return False
                    dst, src = self.counts_positions(batch)
                    a = g[src]
                    b = np.asarray([float(ref.get(self.names[i], 0.0)) for i in dst], dtype=float)
                    extra = [k for k in ref if k in self._index and k not in batch.inputs]
                    ok = not extra and bool(np.all((np.abs(a - b) <= BATCH_RTOL * np.maximum(1.0, np.abs(b)))
                                                   | (a == b) | (np.isnan(a) & np.isnan(b))))
                    self._counts_state = (batch, ok, (dst, src))
                    batch.gradient_checked[self.names] = ok
                    if not ok:
                        self._add(total, ref)
                        return True
                    total[dst] += a
                    return True
                dst, src = state[2]
                total[dst] += g[src]
                return True
        ref = counts_terms_grad(lik._count_terms, values, self.wrt)
        if ref is None:
            return False
        self._add(total, ref)
        return True

    def _add(self, total: Array, g: Grad) -> None:
        for k, v in g.items():
            i = self._index.get(k)
            if i is not None:
                total[i] += float(v)

    def _batch(self, batch: Any, values: Mapping[str, Any]) -> Grad | None:
        """The batch's gradient, checked against its channels one by one at its first evaluation."""
        # the verdict is kept on the batch, per set of parameters: a new fit (a new NLL) does not check again
        checked: dict[frozenset[str], bool] | None = getattr(batch, "grad_checked", None)
        if checked is None:
            checked = {}
            batch.grad_checked = checked
        known = checked.get(self.wrt)
        if known is False:
            return self._channels(batch, values)
        got = batch_grad(batch, values, self.wrt)
        if got is None:
            return self._channels(batch, values)
        if known is None:
            ref = self._channels(batch, values)
            ok = ref is not None and all(
                abs(got.get(k, 0.0) - float(v)) <= BATCH_RTOL * max(1.0, abs(float(v))) for k, v in ref.items()) \
                and set(got) <= set(ref)
            checked[self.wrt] = ok
            if not ok:
                return ref
        return got

    def _aux(self, item: Any, values: Mapping[str, Any]) -> Grad | None:
        """An aux term's gradient, or a group's (:mod:`pyhs3_lab.auxbatch`), checked against its terms one by
        one at its first evaluation (the terms one by one for good if they disagree)."""
        terms = getattr(item, "terms", None)
        if terms is None:
            return aux_term_grad(item, values, self.wrt)
        got: Grad | None = item.gradient(values, self.wrt) if item.grad_ok is not False else None
        if got is not None and item.grad_ok is True:
            return dict(got)
        ref: Grad = {}
        for t in terms:
            g = aux_term_grad(t, values, self.wrt)
            if g is None:
                return None
            add_scaled(ref, g)
        if got is not None:
            item.grad_ok = set(got) <= set(ref) and all(
                abs(got.get(k, 0.0) - float(v)) <= BATCH_RTOL * max(1.0, abs(float(v))) for k, v in ref.items())
        return ref

    def _channels(self, batch: Any, values: Mapping[str, Any]) -> Grad | None:
        out: Grad = {}
        for t in batch.terms:
            g = density_term_grad(t, values, self.wrt)
            if g is None:
                return None
            add_scaled(out, g)
        return out

    def __call__(self, values: Mapping[str, Any]) -> Array | None:
        from .batch import ChannelBatch

        lik = self.likelihood
        total = np.zeros(len(self.names))
        parts: list[Grad | None] = []
        for t in lik._planned_density_terms():
            if isinstance(t, ChannelBatch):
                parts.append(self._batch(t, values))
            else:
                parts.append(density_term_grad(t, values, self.wrt))
        if lik._count_terms and not self._counts(values, total):
            return None
        for a in lik._planned_aux_terms():
            parts.append(self._aux(a, values))
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
        except (PyHS3LabError, ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
            # fits then use MINUIT's numerical gradient; the reason stays visible here
            self.unsupported_reason = f"{type(exc).__name__}: {exc}"
            return False
        if got is None:
            self.unsupported_reason = "a term of the likelihood has no analytic derivative"
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

