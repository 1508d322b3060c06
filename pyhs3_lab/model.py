"""Stage 5: a workspace with chosen parameter values and ranges, ready to evaluate.

``Workspace.model(domain=..., parameter_set=...)`` gives a :class:`Model`;
``model.pdf(name, **values)`` and ``model.logpdf(...)`` evaluate a distribution,
normalised over its observables' ranges.

Which names are observables (what a pdf is normalised over) follows one rule,
:func:`observables_of`:

1. the axes of the data that a likelihood pairs with the distribution (or with a
   distribution that contains it);
2. otherwise the distribution's own variate fields (``x`` of ``gaussian_dist``,
   ``mass`` of ``argus_dist``, ...), collected through mixtures and products;
3. for expression-based distributions without a variate field, the symbols of the
   expression that are observables elsewhere in the workspace (data axes or
   variate fields of other distributions);
4. the caller can always say which with ``observables=[...]``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from . import registry
from .compile import Compiled
from .errors import EvaluationError
from .evaluate import Evaluator
from .graph import Graph, component_refs
from .registry import Kind
from .spec import WorkspaceSpec, as_ref

if TYPE_CHECKING:
    from .workspace import Workspace


@dataclass(frozen=True)
class ParameterInfo:
    """A parameter of a model: its value, range and whether it is constant."""

    name: str
    value: float
    min: float
    max: float
    const: bool
    #: "observable" (a data axis or variate), "global_observable", or "parameter"
    role: str


def _variates(spec: WorkspaceSpec, graph: Graph, dist: str, seen: set[str] | None = None) -> set[str]:
    seen = seen if seen is not None else set()
    if dist in seen:
        return set()
    seen.add(dist)
    comp = spec.component(dist)
    if comp is None:
        return set()
    info = registry.lookup(comp.type)
    out: set[str] = set()
    if info is not None:
        for key in info.variates:
            val = comp.raw.get(key)
            vals = val if isinstance(val, list) else [val]
            for v in vals:
                ref = as_ref(v)
                if isinstance(ref, str) and graph.nodes.get(ref) is not None and graph.nodes[ref].kind == "parameter":
                    out.add(ref)
    for _fld, target, kind in component_refs(comp):
        if kind is Kind.DIST:
            out |= _variates(spec, graph, target, seen)
    return out


class ObservableRule:
    """Decides which names a distribution is normalised over (see the module docstring)."""

    def __init__(self, spec: WorkspaceSpec, graph: Graph) -> None:
        self.spec = spec
        self.graph = graph

    @cached_property
    def paired(self) -> dict[str, set[str]]:
        """distribution -> axes of the data it is paired with in any likelihood."""
        data_axes = {d.name: set(d.observables) for d in self.spec.data}
        out: dict[str, set[str]] = {}
        for lik in self.spec.likelihoods:
            for dist, dat in zip(lik.distributions, lik.data, strict=False):
                if isinstance(dat, str) and dat in data_axes:
                    out.setdefault(dist, set()).update(data_axes[dat])
        return out

    @cached_property
    def everywhere(self) -> set[str]:
        """Every name that is an observable somewhere: data axes and variates of distributions."""
        names: set[str] = set()
        for dat in self.spec.data:
            names.update(dat.observables)
        for dist in self.spec.distributions:
            names |= _variates(self.spec, self.graph, dist.name)
        return names

    def __call__(self, dist: str) -> frozenset[str]:
        leaves = self.graph.leaves(dist)
        if dist in self.paired:
            return frozenset(self.paired[dist])
        # contained in a paired distribution
        for top, axes in self.paired.items():
            if dist in self.graph.descendants(top):
                found = axes & leaves
                if found:
                    return frozenset(found)
        own = _variates(self.spec, self.graph, dist)
        if own:
            return frozenset(own)
        return frozenset(self.everywhere & leaves)


class Model:
    """A workspace with parameter values and ranges chosen; evaluates distributions and functions."""

    def __init__(
        self,
        workspace: Workspace,
        compiled: Compiled,
        *,
        domain: str | None = None,
        parameter_set: str | None = None,
        observables: Iterable[str] | None = None,
    ) -> None:
        self.workspace = workspace
        self.compiled = compiled
        self.spec = compiled.spec
        self.graph = compiled.graph
        self.domain_name = domain
        self.parameter_set_name = parameter_set
        self._observables_override = self._observable_names(observables) if observables is not None else None
        self.rule = ObservableRule(self.spec, self.graph)
        self.bounds: dict[str, tuple[float, float]] = self._collect_bounds(domain)
        self.values: dict[str, float]
        self.const: set[str]
        self.values, self.const = self._collect_values(parameter_set)

    # -- set-up ------------------------------------------------------------------------

    def _collect_bounds(self, domain: str | None) -> dict[str, tuple[float, float]]:
        domains = {d.name: d for d in self.spec.domains}
        if domain is not None and domain not in domains:
            raise EvaluationError(f"no domain named {domain!r}; the workspace has {sorted(domains) or 'none'}")
        order = []
        if domain is not None:
            order.append(domains[domain])
        if "default_domain" in domains:
            order.append(domains["default_domain"])
        order += list(self.spec.domains)
        bounds: dict[str, tuple[float, float]] = {}
        for d in order:
            for name, b in d.bounds().items():
                bounds.setdefault(name, b)
        # data axes define the observables' ranges (HS3 PR #82; ROOT agrees in real files)
        for dat in self.spec.data:
            for ax in dat.axes:
                if ax.min is not None or ax.max is not None:
                    bounds[ax.name] = ax.bounds
        return bounds

    def _collect_values(self, parameter_set: str | None) -> tuple[dict[str, float], set[str]]:
        points = {p.name: p for p in self.spec.parameter_points}
        if parameter_set is not None and parameter_set not in points:
            raise EvaluationError(
                f"no parameter point named {parameter_set!r}; the workspace has {sorted(points) or 'none'}")
        order = []
        if parameter_set is not None:
            order.append(points[parameter_set])
        if "default_values" in points:
            order.append(points["default_values"])
        order += list(self.spec.parameter_points)
        values: dict[str, float] = {}
        const: set[str] = set()
        decided: set[str] = set()
        for p in order:
            for par in p.parameters:
                if par.name not in decided:
                    values[par.name] = par.value
                    if par.const:
                        const.add(par.name)
                    decided.add(par.name)
        for name in self.graph.parameters:
            if self.spec.root_constant(name):
                const.add(name)
        # kernels may define implicit parameters (HistFactory gammas, alphas)
        for comp in self.spec.components():
            try:
                op = self.compiled.op(comp.name)
            except Exception:  # unsupported types are reported when they are evaluated
                continue
            for name, (val, lo, hi) in op.parameter_defaults().items():
                values.setdefault(name, val)
                if name not in self.bounds and (lo is not None or hi is not None):
                    self.bounds[name] = (-math.inf if lo is None else lo, math.inf if hi is None else hi)
            const |= op.constant_parameters()
        # A parameter with a finite range but no value anywhere starts at the middle of its
        # range, as ROOT's importer does (RooRealVar(name, title, min, max)). Listed in
        # ``Model.defaulted`` so that it is visible.
        self.defaulted: list[str] = []
        for name in self.graph.parameters:
            if name not in values:
                lo, hi = self.bounds.get(name, (-math.inf, math.inf))
                if math.isfinite(lo) and math.isfinite(hi):
                    values[name] = 0.5 * (lo + hi)
                    self.defaulted.append(name)
        return values, const

    # -- queries -----------------------------------------------------------------------

    def observables_of(self, dist: str) -> frozenset[str]:
        """The names ``dist`` is normalised over (see the module docstring)."""
        if self._observables_override is not None:
            return self._observables_override & self.graph.leaves(dist)
        return self.rule(dist)

    @property
    def parameters(self) -> list[ParameterInfo]:
        """Every free name of the workspace with its value, range and role."""
        obs = self.rule.everywhere
        out = []
        for name in self.graph.parameters:
            lo, hi = self.bounds.get(name, (-math.inf, math.inf))
            value = self.values.get(name, math.nan)
            role = "observable" if name in obs else "parameter"
            if role == "parameter" and name.startswith("nom_") and name in self.const:
                role = "global_observable"
            out.append(ParameterInfo(name, value, lo, hi, name in self.const, role))
        return out

    def evaluator(self, values: Mapping[str, Any] | None = None,
                  observables: Iterable[str] = ()) -> Evaluator:
        merged: dict[str, Any] = dict(self.values)
        if values:
            for k, v in values.items():
                if isinstance(v, float):
                    merged[k] = v
                    continue
                try:
                    merged[k] = np.asarray(v, dtype=float)
                except (TypeError, ValueError):
                    raise EvaluationError(f"parameter {k!r}: the value {v!r} is not a number "
                                          "(or an array of numbers)") from None
        return Evaluator(self.compiled, merged, self.bounds, frozenset(observables))

    def _observable_names(self, observables: Iterable[str] | str) -> frozenset[str]:
        """``observables=`` as a set of names (one name may be given as a string); a name that is not a
        parameter of the workspace is an error (a typo would otherwise normalise over nothing)."""
        names = frozenset((observables,) if isinstance(observables, str) else observables)
        nodes = self.graph.nodes
        unknown = sorted(n for n in names if n not in nodes or nodes[n].kind != "parameter")
        if unknown:
            raise EvaluationError(f"observables={unknown}: not variables of the workspace; its variables are "
                                  f"{self.graph.parameters}")
        return names

    def _check_names(self, values: Mapping[str, Any]) -> None:
        unknown = [k for k in values if k not in self.graph.nodes or self.graph.nodes[k].kind != "parameter"]
        if unknown:
            raise EvaluationError(f"unknown parameter(s) {unknown}; the model's parameters are "
                                  f"{self.graph.parameters}")

    def logpdf(self, name: str, *, observables: Iterable[str] | None = None, **values: Any) -> Any:
        """log of the normalised density of distribution ``name`` (values not given come from the model)."""
        node = self.graph.nodes.get(name)
        if node is None or node.kind != "distribution":
            dists = [d.name for d in self.spec.distributions]
            raise EvaluationError(f"no distribution named {name!r}; the workspace has {dists}")
        self._check_names(values)
        obs = self._observable_names(observables) if observables is not None else self.observables_of(name)
        ev = self.evaluator(values, obs)
        # over/underflow in far tails is expected in log space; results carry inf/0 themselves
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            out = ev.logpdf(name)
        return float(out) if np.ndim(out) == 0 else out

    def pdf(self, name: str, *, observables: Iterable[str] | None = None, **values: Any) -> Any:
        """The normalised density (for a pmf: the probability) of distribution ``name``."""
        with np.errstate(under="ignore"):
            out = np.exp(self.logpdf(name, observables=observables, **values))
        return float(out) if np.ndim(out) == 0 else out

    def value(self, name: str, **values: Any) -> Any:
        """The value of a function (or parameter)."""
        self._check_names(values)
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            out = self.evaluator(values).value(name)
        return float(out) if np.ndim(out) == 0 else np.asarray(out)

    def __repr__(self) -> str:
        return (f"<Model of {len(self.spec.distributions)} distributions, "
                f"{len(self.graph.parameters)} parameters; domain={self.domain_name!r}, "
                f"parameter_set={self.parameter_set_name!r}>")
