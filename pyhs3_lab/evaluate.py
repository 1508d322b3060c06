"""The runtime of a compiled workspace: values of every node for one set of inputs.

An :class:`Evaluator` holds the values of parameters and observables for one
evaluation, and computes functions, unnormalised and normalised log densities
on demand, each at most once (cached). Normalisation is over the evaluator's
*observables* that a distribution depends on, each over its [min, max] bounds:
analytically where the kernel knows the integral, otherwise by adaptive
quadrature (:mod:`pyhs3_lab.integrate`) in a child evaluator whose observables
are the quadrature nodes and which reuses every value that does not depend on
them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .compile import Compiled
from .errors import EvaluationError, PyHS3LabError
from .integrate import log_integrate, log_integrate_2d
from .ops.base import Array, FunctionOp, Grad
from .spec import Ref


class Evaluator:
    def __init__(
        self,
        compiled: Compiled,
        values: Mapping[str, Any],
        bounds: Mapping[str, tuple[float, float]],
        observables: frozenset[str] = frozenset(),
        *,
        parent: Evaluator | None = None,
    ) -> None:
        self.compiled = compiled
        self.graph = compiled.graph
        self.values: dict[str, Any] = dict(values)
        self._bounds = bounds
        self.observables = observables
        self._parent = parent
        self._overridden: frozenset[str] = frozenset(values) if parent is not None else frozenset()
        self._cache: dict[str, Array] = {}
        self._ld_cache: dict[str, Array] = {}
        self._lp_cache: dict[str, Array] = {}
        self._ln_cache: dict[str, Array] = {}
        #: analytic derivatives of this evaluation (pyhs3_lab.gradient), keyed by (what, name)
        self._grad_cache: dict[tuple[str, str], Grad | None] = {}

    # -- inputs ------------------------------------------------------------------------

    def bounds(self, name: str) -> tuple[float, float]:
        """The [min, max] range of a parameter or observable (±inf where unbounded)."""
        return self._bounds.get(name, (-math.inf, math.inf))

    def _inherits(self, name: str) -> bool:
        return self._parent is not None and not (self.graph.leaves(name) & self._overridden)

    def value(self, ref: Ref) -> Any:
        """The value of a parameter, function or observable (or a number as it is)."""
        if isinstance(ref, float):
            return ref
        if ref in self.values:
            return self.values[ref]
        cached = self._cache.get(ref)
        if cached is not None:
            return cached
        if self._inherits(ref):
            assert self._parent is not None
            return self._parent.value(ref)
        node = self.graph.nodes.get(ref)
        if node is None or node.kind == "parameter":
            raise EvaluationError(f"parameter {ref!r} has no value (give it one, or add it to a parameter point)")
        if node.kind != "function":
            raise EvaluationError(f"{ref!r} is a {node.kind}, not a parameter or function")
        op = self.compiled.op(ref)
        assert isinstance(op, FunctionOp)
        try:
            val = op.value(self)
        except PyHS3LabError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
            raise EvaluationError(f"{op.path} (function {ref!r}): {type(exc).__name__}: {exc}") from exc
        self._cache[ref] = val
        return val

    # -- distributions -------------------------------------------------------------------

    def norm_observables(self, dist: str) -> tuple[str, ...]:
        """The observables ``dist`` is normalised over (those of this evaluation it depends on)."""
        return tuple(sorted(self.observables & self.graph.leaves(dist)))

    def log_density(self, dist: str) -> Array:
        """The unnormalised log density of ``dist``."""
        cached = self._ld_cache.get(dist)
        if cached is not None:
            return cached
        if self._inherits(dist):
            assert self._parent is not None
            return self._parent.log_density(dist)
        op = self.compiled.distribution(dist)
        try:
            val = np.asarray(op.log_density(self), dtype=float)
        except PyHS3LabError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
            raise EvaluationError(f"{op.path} (distribution {dist!r}): {type(exc).__name__}: {exc}") from exc
        self._ld_cache[dist] = val
        return val

    def log_norm(self, dist: str) -> Array:
        """log of the integral of the density of ``dist`` over its observables' ranges."""
        cached = self._ln_cache.get(dist)
        if cached is not None:
            return cached
        obs = self.norm_observables(dist)
        if self._parent is not None and not ((self.graph.leaves(dist) - set(obs)) & self._overridden):
            # the integral over the observables does not depend on what this child overrides
            return self._parent.log_norm(dist)
        op = self.compiled.distribution(dist)
        if op.discrete or not obs:
            val: Array = np.asarray(0.0)
        else:
            analytic = op.log_normalization(self, obs)
            val = np.asarray(analytic, dtype=float) if analytic is not None else self._numeric_log_norm(dist, obs)
        self._ln_cache[dist] = val
        return val

    def logpdf(self, dist: str) -> Array:
        """The log density of ``dist`` normalised over its observables; -inf outside their ranges."""
        cached = self._lp_cache.get(dist)
        if cached is not None:
            return cached
        if self._inherits(dist):
            assert self._parent is not None
            return self._parent.logpdf(dist)
        ld = self.log_density(dist)
        obs = self.norm_observables(dist)
        op = self.compiled.distribution(dist)
        if op.discrete or not obs:
            out = ld
        else:
            ln = self.log_norm(dist)
            # a mixture of normalised summands has log_norm exactly 0: no pass over the data
            out = ld if (np.ndim(ln) == 0 and float(ln) == 0.0) else ld - ln
        for o in obs:
            if o in self._overridden:
                continue  # quadrature nodes are inside the range by construction
            x = self.values.get(o)
            if x is None:
                continue
            lo, hi = self.bounds(o)
            if type(x) is float:  # one value (a global observable): no array test
                if x < lo or x > hi:
                    out = np.where(True, -np.inf, out)
                continue
            outside = (np.asarray(x) < lo) | (np.asarray(x) > hi)
            if np.any(outside):
                out = np.where(outside, -np.inf, out)
        out = np.asarray(out, dtype=float)
        self._lp_cache[dist] = out
        return out

    # -- analytic derivatives (pyhs3_lab.gradient) -----------------------------------------

    def grad_value(self, ref: Ref, wrt: frozenset[str]) -> Grad | None:
        """d value(ref) / d θ for the parameters θ in ``wrt`` (sparse), or None if a kernel on the
        way has no analytic derivative."""
        from .gradient import grad_value

        return grad_value(self, ref, wrt)

    def grad_log_density(self, dist: str, wrt: frozenset[str], adjoint: Any) -> Grad | None:
        """Σ adjoint · d log_density(dist) / d θ (reverse mode: ``adjoint`` has one weight per value),
        summed down to the shape of each θ's value; or None."""
        from .gradient import grad_log_density

        return grad_log_density(self, dist, wrt, adjoint)

    def grad_logpdf(self, dist: str, wrt: frozenset[str], adjoint: Any) -> Grad | None:
        """Σ adjoint · d logpdf(dist) / d θ (see :meth:`grad_log_density`), or None."""
        from .gradient import grad_logpdf

        return grad_logpdf(self, dist, wrt, adjoint)

    def grad_expected_events(self, dist: str, wrt: frozenset[str]) -> Grad | None:
        """d expected_events(dist) / d θ (sparse), or None."""
        from .gradient import grad_expected_events

        return grad_expected_events(self, dist, wrt)

    def with_observables(self, observables: frozenset[str] | set[str] | tuple[str, ...]) -> Evaluator:
        """A fresh evaluator on the same inputs that normalises over other observables
        (e.g. constraint terms, normalised over their global observables)."""
        values = dict(self._lookup_all())
        return Evaluator(self.compiled, values, self._bounds, frozenset(observables))

    def _lookup_all(self) -> dict[str, Any]:
        chain: list[Evaluator] = []
        ev: Evaluator | None = self
        while ev is not None:
            chain.append(ev)
            ev = ev._parent
        out: dict[str, Any] = {}
        for e in reversed(chain):
            out.update(e.values)
        return out

    def child(self, overrides: Mapping[str, Any]) -> Evaluator:
        """An evaluator with some inputs replaced (e.g. by quadrature nodes) that reuses every
        value of this one that does not depend on them."""
        return Evaluator(self.compiled, overrides, self._bounds, self.observables, parent=self)

    def _numeric_log_norm(self, dist: str, obs: tuple[str, ...]) -> Array:
        if len(obs) != 1:
            return self._numeric_log_norm_nd(dist, obs)
        (o,) = obs
        lo, hi = self.bounds(o)
        batch = self._batch_shape(dist, obs)

        def log_f(nodes: Array) -> Array:
            ld = self.child({o: nodes}).log_density(dist)
            return np.broadcast_to(ld, (nodes.shape[0], *batch))

        return log_integrate(log_f, lo, hi, batch_ndim=len(batch))

    def _numeric_log_norm_nd(self, dist: str, obs: tuple[str, ...]) -> Array:
        """Nested adaptive quadrature: the outer observable's integrand is the inner integral."""
        batch = self._batch_shape(dist, obs)
        if batch:
            raise EvaluationError(
                f"distribution {dist!r}: numerical normalisation over several observables {obs} "
                "is only done for scalar parameter values")
        first, rest = obs[0], obs[1:]
        lo, hi = self.bounds(first)
        if len(rest) == 1:  # two observables: nested quadrature, vectorised over the outer nodes
            second = rest[0]
            return log_integrate_2d(lambda x1, x2: self.child({first: x1, second: x2}).log_density(dist),
                                    (lo, hi), self.bounds(second), rtol=1e-10)

        def log_f(nodes: Array) -> Array:
            flat = nodes.reshape(-1)
            out = np.empty(flat.shape[0])
            for i, x in enumerate(flat):
                sub = self.child({first: np.asarray(x)})
                sub_obs = tuple(o for o in rest)
                if len(sub_obs) == 1:
                    (o2,) = sub_obs
                    lo2, hi2 = sub.bounds(o2)
                    def inner(n: Array, s: Evaluator = sub, o2: str = o2) -> Array:
                        return np.broadcast_to(s.child({o2: n}).log_density(dist), n.shape)

                    out[i] = float(log_integrate(inner, lo2, hi2))
                else:
                    out[i] = float(sub._numeric_log_norm_nd(dist, sub_obs))
            return out

        return log_integrate(log_f, lo, hi, rtol=1e-9)

    def _batch_shape(self, dist: str, obs: tuple[str, ...]) -> tuple[int, ...]:
        shapes = []
        for leaf in self.graph.leaves(dist):
            if leaf in obs:
                continue
            v = self._lookup_raw(leaf)
            if v is not None:
                shapes.append(np.shape(v))
        return tuple(np.broadcast_shapes(*shapes)) if shapes else ()

    def _lookup_raw(self, name: str) -> Any:
        ev: Evaluator | None = self
        while ev is not None:
            if name in ev.values:
                return ev.values[name]
            ev = ev._parent
        return None
