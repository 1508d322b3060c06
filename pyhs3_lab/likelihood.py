"""Likelihoods: the negative log-likelihood of (distribution, data) pairs plus auxiliary terms.

``Workspace.likelihood(name)`` gives a :class:`Likelihood`; ``lik.nll({"mu": 1.2})``
evaluates it. The numbers follow RooFit (``createNLL(data, Offset("none"),
GlobalObservables(...))``), term by term:

* **unbinned data** (weights ``w``, default 1): ``-Σ w log f(x)``, ``f`` normalised over the
  data axes' ``[min, max]``; an extended pdf adds ``ν - N log ν`` with ``N = Σ w`` (no
  ``log N!``, like ROOT);
* **binned data with a continuous pdf**: ``-Σ n log f(bin centre)`` (ROOT; no bin width),
  plus the extended term if the pdf is extended;
* **binned data with a bin-count distribution** (``histfactory_dist``): Poisson per bin,
  ``Σ [ν - n log ν + lgamma(n+1)]`` when ``misc.ROOT_internal.attributes.<name>.tags``
  holds ``BinnedLikelihood`` (for a ``histfactory_dist`` RooFit reads the tag of the channel's sum
  pdf, ``<name>`` = ``<channel>_model`` with ``<channel>`` the distribution's name without a
  ``model_`` prefix; for other bin-count distributions ``<name>`` is the distribution's own;
  ROOT's HistFactory tools write the tag), else ``Σ [ν - n log(ν/w)]`` with ``w`` the bin volume
  (what RooFit computes for such files); plus the implicit constraint terms of the distribution,
  each counted once even when channels share them;
* **point data** and numbers given as data: ``-log f`` at that value of the distribution's
  variate;
* **aux_distributions**: ``-log f`` of each term at the current parameters, normalised over
  its variate (the global observable) within that observable's domain range.

A likelihood made of several (distribution, data) pairs is their sum. RooFit's
``RooSimultaneous`` adds ``N log(n_categories)`` to that sum (``N`` the total number of
events); ``nll(..., roofit_simultaneous=True)`` adds it too, to reproduce ROOT's combined
number. 2ΔNLL does not depend on it.

Data arrays are built once, when the likelihood is built; each evaluation only changes
the parameter values.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from .errors import EvaluationError, LikelihoodError, PyHS3LabError
from .evaluate import Evaluator
from .gcpause import gc_paused
from .model import Model, _variates
from .ops.base import Array, BinnedDistributionOp, DistributionOp
from .spec import Analysis as AnalysisSpec
from .spec import Data

if TYPE_CHECKING:
    from .fit import FitResult, ProfileResult
    from .toys import PseudoData, ToyStudy, UpperLimit
    from .workspace import Workspace

__all__ = ["Analysis", "Likelihood", "LikelihoodParameter"]


@dataclass(frozen=True)
class LikelihoodParameter:
    """A parameter of a likelihood: its start value, range and role.

    ``const`` parameters (constant in a parameter point, tagged ``Constant`` by ROOT, or
    global observables) are not fitted. ``value`` is NaN when the workspace gives none.
    """

    name: str
    value: float
    min: float
    max: float
    const: bool
    poi: bool
    global_observable: bool

    @property
    def floating(self) -> bool:
        return not self.const


# --------------------------------------------------------------------------------------
# terms


class _Term:
    """One part of the NLL; ``nll(values)`` with every parameter value given."""

    dist: str
    #: the observables of this term (data axes or the variate), not parameters of the likelihood
    observables: frozenset[str] = frozenset()
    #: number of events (Σ weights) of the main term, for ROOT's N log(n_categories)
    n_events: float = 0.0
    #: the data object of the workspace (None for a number given as data, and for aux terms)
    data_obj: Data | None = None

    def nll(self, values: Mapping[str, Any]) -> float:
        raise NotImplementedError  # every subclass implements it

    def dependencies(self) -> frozenset[str]:
        raise NotImplementedError  # every subclass implements it

    #: (values of the dependencies, NLL) of the last evaluation: a fit moves one parameter at a
    #: time for its numerical gradient, and the terms that do not depend on it are not recomputed
    _last: tuple[tuple[Any, ...], float] | None = None
    _deps: tuple[str, ...] | None = None

    def cached_nll(self, values: Mapping[str, Any]) -> float:
        deps = self._deps
        if deps is None:
            deps = self._deps = tuple(sorted(self.dependencies()))
        key = tuple(values.get(n) for n in deps)
        if not all(isinstance(v, float) for v in key):  # arrays (or missing values): no cache
            return self.nll(values)
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        val = self.nll(values)
        self._last = (key, val)  # one assignment: safe when threads share the term
        return val


class _DensityTerm(_Term):
    """Data (unbinned entries, bin centres or one point) paired with a density."""

    def __init__(self, lik: Likelihood, dist: str, columns: dict[str, Array], weights: Array | None,
                 where: str, kind: str = "unbinned", edges: list[Array] | None = None) -> None:
        #: "unbinned", "binned" (bin centres, weights = contents) or "point"
        self.kind = kind
        self.edges = edges
        self.dist = dist
        self.model = lik.model
        self.columns = columns
        self.weights = weights
        self.observables = frozenset(columns)
        self.n_events = float(np.sum(weights)) if weights is not None else float(
            len(next(iter(columns.values()))) if columns else 0)
        self.where = where
        self.op: DistributionOp = lik.model.compiled.distribution(dist)

    def dependencies(self) -> frozenset[str]:
        return self.model.graph.leaves(self.dist) - self.observables

    def replaced(self, columns: Mapping[str, Array], weights: Array | None) -> _DensityTerm:
        """This term with other data (same observables)."""
        new = copy.copy(self)
        new.columns = {k: np.asarray(v, dtype=float) for k, v in columns.items()}
        new.weights = None if weights is None else np.asarray(weights, dtype=float)
        new.n_events = float(np.sum(new.weights)) if new.weights is not None else float(
            len(next(iter(new.columns.values()))))
        new._last = None
        return new

    def nll(self, values: Mapping[str, Any]) -> float:
        merged = dict(values)
        merged.update(self.columns)
        ev = Evaluator(self.model.compiled, merged, self.model.bounds, self.observables)
        lp = ev.logpdf(self.dist)
        if self.weights is None:
            total = -float(np.sum(lp))
        else:
            # a zero weight times log 0 is 0 (empty bins outside the support)
            with np.errstate(invalid="ignore"):
                terms = np.where(self.weights == 0.0, 0.0, self.weights * lp)
            total = -float(np.sum(terms))
        nu = self.op.expected_events(ev)
        if nu is not None:
            nu_f = float(nu)
            with np.errstate(divide="ignore"):
                total += nu_f - float(special.xlogy(self.n_events, nu_f))
        return total


class _CountsTerm(_Term):
    """Binned data paired with a bin-count distribution (``histfactory_dist``): Poisson per bin."""

    def __init__(self, lik: Likelihood, dist: str, counts: Array, volumes: Array, full_poisson: bool,
                 observables: frozenset[str]) -> None:
        self.dist = dist
        self.model = lik.model
        self.counts = counts
        self.observables = observables
        self.n_events = float(np.sum(counts))
        op = lik.model.compiled.distribution(dist)
        assert isinstance(op, BinnedDistributionOp)
        self.op = op
        self.full_poisson = full_poisson
        self.volumes = volumes
        self._set_constant()

    def _set_constant(self) -> None:
        # the constant part, computed once per data set
        if self.full_poisson:
            self.const = float(np.sum(special.gammaln(self.counts + 1.0)))
        else:
            self.const = float(np.sum(special.xlogy(self.counts, self.volumes)))

    def replaced(self, counts: Array) -> _CountsTerm:
        """This term with other bin contents."""
        new = copy.copy(self)
        new.counts = np.asarray(counts, dtype=float).reshape(self.counts.shape)
        new.n_events = float(np.sum(new.counts))
        new._set_constant()
        new._last_parts = None
        return new

    #: (values of the dependencies, main NLL, -Σ log constraints not named, named log constraints) of the
    #: last evaluation: a fit's step in one channel's parameter recomputes that channel only
    _last_parts: tuple[tuple[Any, ...], float, float, Mapping[str, Any] | None] | None = None

    def parts(self, values: Mapping[str, Any]) -> tuple[float, float, Mapping[str, Any] | None]:
        """(main NLL, -Σ log constraints of a kernel that does not name them, ``{name: log constraint}``
        or None), remembered for the last parameter values when they are all floats."""
        deps = self._deps
        if deps is None:
            deps = self._deps = tuple(sorted(self.dependencies()))
        key = tuple(map(values.get, deps))
        cacheable = all(type(v) is float for v in key)
        last = self._last_parts
        if cacheable and last is not None and last[0] == key:
            return last[1], last[2], last[3]
        ev = self.evaluator(values)
        named: Callable[[Evaluator], Mapping[str, Any]] | None = getattr(self.op, "constraint_log_terms", None)
        terms_of = named(ev) if named is not None else None
        unnamed = -float(np.sum(self.op.log_constraints(ev))) if named is None else 0.0
        main = self.main_nll(ev)
        if cacheable:
            self._last_parts = (key, main, unnamed, terms_of)  # one assignment: safe when threads share it
        return main, unnamed, terms_of

    def dependencies(self) -> frozenset[str]:
        return self.model.graph.leaves(self.dist) - self.observables

    def evaluator(self, values: Mapping[str, Any]) -> Evaluator:
        return Evaluator(self.model.compiled, values, self.model.bounds, self.observables)

    def main_nll(self, ev: Evaluator) -> float:
        nu = np.asarray(self.op.expected_counts(ev), dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            val = float(np.sum(nu - special.xlogy(self.counts, nu)))
        return val + self.const

    def nll(self, values: Mapping[str, Any]) -> float:
        ev = self.evaluator(values)
        return self.main_nll(ev) - float(np.sum(self.op.log_constraints(ev)))


class _AuxTerm(_Term):
    """An ``aux_distributions`` entry: -log f at the current parameters, normalised over its variate."""

    def __init__(self, lik: Likelihood, dist: str) -> None:
        self.dist = dist
        self.model = lik.model
        self.observables = frozenset(_variates(self.model.spec, self.model.graph, dist))
        self.n_events = 0.0

    def dependencies(self) -> frozenset[str]:
        return self.model.graph.leaves(self.dist)

    def nll(self, values: Mapping[str, Any]) -> float:
        ev = Evaluator(self.model.compiled, values, self.model.bounds, self.observables)
        return -float(np.sum(ev.logpdf(self.dist)))


def _shared_constraints(terms: Sequence[_CountsTerm], values: Mapping[str, Any]) -> float:
    """-Σ log constraint over bin-count terms, each constraint counted once.

    Kernels that name their constraint terms (``constraint_log_terms(ev) -> {name: log f}``)
    are merged by name; the others contribute their ``log_constraints`` as a whole.
    """
    seen: dict[str, Any] = {}
    total = 0.0
    for t in terms:
        main, unnamed, terms_of = t.parts(values)
        total += unnamed
        if terms_of is not None:
            if seen:  # the first channel to name a term counts it
                terms_of = {k: v for k, v in terms_of.items() if k not in seen}
            seen.update(terms_of)
        total += main
    if not seen:
        return total
    vals = list(seen.values())
    try:  # scalars (thousands in big models): one pass in C
        return total - float(np.sum(np.fromiter(vals, dtype=float, count=len(vals))))
    except (TypeError, ValueError):  # arrays of parameter values: each term summed over them
        return total - sum(float(np.sum(v)) for v in vals)


# --------------------------------------------------------------------------------------


def _grid_centres(axes_edges: Sequence[Array]) -> list[Array]:
    centres = [0.5 * (e[1:] + e[:-1]) for e in axes_edges]
    mesh = np.meshgrid(*centres, indexing="ij")  # first axis slowest (row-major, like HS3 contents)
    return [m.ravel() for m in mesh]


def _bin_volumes(axes_edges: Sequence[Array]) -> Array:
    widths = [np.diff(e) for e in axes_edges]
    mesh = np.meshgrid(*widths, indexing="ij")
    out = np.ones(mesh[0].shape)
    for m in mesh:
        out = out * m
    return np.asarray(out.ravel(), dtype=float)


class Likelihood:
    """The negative log-likelihood of a workspace's (distribution, data) pairs and aux terms.

    Build it with :meth:`pyhs3_lab.Workspace.likelihood`. ``nll(values)`` evaluates it with
    every parameter not given at its start value (from the parameter point of the model).

    Conventions: the default :meth:`nll` equals RooFit's
    ``createNLL(data, Offset("none"), GlobalObservables(...))`` for the same file (see the
    module docstring for the constants kept); several pairs are summed, without the
    ``N log(n_categories)`` that a ``RooSimultaneous`` adds (``roofit_simultaneous=True``).
    """

    def __init__(
        self,
        workspace: Workspace,
        distributions: Sequence[str],
        data: Sequence[str | float],
        aux_distributions: Sequence[str] = (),
        *,
        name: str | None = None,
        model: Model | None = None,
        parameters_of_interest: Sequence[str] = (),
        global_observables: Iterable[str] = (),
        path: str = "",
        pair_paths: Sequence[str] | None = None,
    ) -> None:
        if len(distributions) != len(data):
            raise LikelihoodError(f"likelihood {name!r}: {len(distributions)} distributions but {len(data)} data "
                                  "entries; give one data entry per distribution")
        self.workspace = workspace
        self.name = name
        self.path = path or (f"likelihood {name!r}" if name else "ad hoc likelihood")
        #: where errors say they happened: the JSON path and the name (``likelihoods[2] (likelihood 'L2')``)
        self.where = f"{path} (likelihood {name!r})" if path and name else self.path
        named = f" (likelihood {name!r})" if path and name else ""
        self.model = model if model is not None else workspace.model()
        self.distributions = tuple(distributions)
        self.data = tuple(data)
        self.aux_distributions = tuple(dict.fromkeys(aux_distributions))  # shared terms counted once
        graph = self.model.graph
        for i, d in enumerate(self.distributions):
            self._check_distribution(d, f"{self.path}.distributions[{i}]{named}")
        for i, d in enumerate(self.aux_distributions):
            self._check_distribution(d, f"{self.path}.aux_distributions[{i}]{named}")

        self._density_terms: list[_DensityTerm] = []
        self._count_terms: list[_CountsTerm] = []
        data_by_name = {d.name: d for d in self.model.spec.data}
        for i, (dist, dat) in enumerate(zip(self.distributions, self.data, strict=True)):
            # the JSON path of this pair's data entry (several likelihoods summed: each its own)
            if pair_paths is not None and i < len(pair_paths):
                where = pair_paths[i]  # names its own likelihood
            else:
                where = f"{self.path}.data[{i}]" + (named if path else f" ({self.path})")
            if isinstance(dat, str):
                obj = data_by_name.get(dat)
                if obj is None:
                    raise LikelihoodError(f"{where}: no data named {dat!r}; the workspace has "
                                          f"{sorted(data_by_name) or 'none'}")
                self._add_pair(dist, obj, where)
            else:
                self._add_point(dist, float(dat), None, where)
        self._aux_terms = [_AuxTerm(self, d) for d in self.aux_distributions]

        observables: set[str] = set()
        for t in self._main_terms:
            observables |= t.observables
        self.observables: frozenset[str] = frozenset(observables)
        deps: set[str] = set()
        for term in self._all_terms:
            deps |= term.dependencies()
        deps -= self.observables

        globs = set(global_observables)
        for aux in self._aux_terms:
            globs |= aux.observables
        for dom in self.model.spec.domains:
            if dom.name.endswith("_global_observables"):
                globs |= {a.name for a in dom.axes}
        globs |= {n for n in deps if n.startswith("nom_") and n in self.model.const}
        for t in self._count_terms:
            extra: Callable[[], Iterable[str]] | None = getattr(t.op, "global_observables", None)
            if extra is not None:
                globs |= set(extra())
        self.global_observables: frozenset[str] = frozenset(globs & deps)
        pois = [p for p in parameters_of_interest if p in deps]
        self.parameters_of_interest: tuple[str, ...] = tuple(pois)

        order = {n: i for i, n in enumerate(graph.parameters)}
        names = sorted(deps, key=lambda n: (order.get(n, len(order)), n))
        params: list[LikelihoodParameter] = []
        for n in names:
            lo, hi = self.model.bounds.get(n, (-math.inf, math.inf))
            glob = n in self.global_observables
            const = glob or n in self.model.const
            params.append(LikelihoodParameter(n, float(self.model.values.get(n, math.nan)), lo, hi, const,
                                              n in pois, glob))
        self.parameters: tuple[LikelihoodParameter, ...] = tuple(params)
        self._param_index = {p.name: p for p in params}
        self.init: dict[str, float] = {p.name: p.value for p in params if not math.isnan(p.value)}
        # values the evaluator needs besides the parameters (e.g. observables of other terms)
        self._base_values: dict[str, Any] = dict(self.model.values)
        #: the data set given with :meth:`with_data` (None: the workspace's data)
        self.pseudo_data: PseudoData | None = None

    # -- construction helpers ------------------------------------------------------------

    @property
    def _main_terms(self) -> list[_Term]:
        return [*self._density_terms, *self._count_terms]

    @property
    def _all_terms(self) -> list[_Term]:
        return [*self._density_terms, *self._count_terms, *self._aux_terms]

    def _check_distribution(self, dist: str, where: str) -> None:
        node = self.model.graph.nodes.get(dist)
        if node is None or node.kind != "distribution":
            names = [d.name for d in self.model.spec.distributions]
            raise LikelihoodError(f"{where}: {dist!r} is not a distribution; the workspace has {names}")
        self.model.compiled.distribution(dist)  # raises UnsupportedTypeError naming type and path

    def _check_axes(self, dist: str, obj: Data, where: str) -> None:
        leaves = self.model.graph.leaves(dist)
        missing = [a for a in obj.observables if a not in leaves]
        if missing:
            raise LikelihoodError(
                f"{where}: data {obj.name!r} ({obj.path}) has axes {list(obj.observables)}, but distribution "
                f"{dist!r} does not depend on {missing}; it depends on {sorted(leaves)}")

    def _add_pair(self, dist: str, obj: Data, where: str) -> None:
        op = self.model.compiled.distribution(dist)
        raw = obj.raw
        if obj.type == "point":
            self._add_point(dist, float(raw["value"]), obj, where)
            return
        if not obj.axes:
            raise LikelihoodError(f"{where}: data {obj.name!r} ({obj.path}) has no axes; expected one axis per "
                                  "observable of the distribution")
        if obj.type == "unbinned":
            self._check_axes(dist, obj, where)
            entries = np.asarray(raw["entries"], dtype=float).reshape(-1, len(obj.axes))
            columns = {ax.name: np.ascontiguousarray(entries[:, j]) for j, ax in enumerate(obj.axes)}
            w = raw.get("weights")
            weights = np.asarray(w, dtype=float) if w is not None else None
            self._density_terms.append(_DensityTerm(self, dist, columns, weights, where))
            self._density_terms[-1].data_obj = obj
            return
        # binned
        edges = [np.asarray(ax.bin_edges, dtype=float) for ax in obj.axes]
        counts = np.asarray(raw["contents"], dtype=float)
        if isinstance(op, BinnedDistributionOp):
            self._check_binning(dist, op, obj, edges, counts, where)
            # RooFit 6.40 reads a HistFactory channel's tag from its sum pdf "<channel>_model"
            # (the histfactory_dist's name without a "model_" prefix), not from the dist itself
            tagged = f"{dist.removeprefix('model_')}_model" if op.type_info.type == "histfactory_dist" else dist
            attrs = self.model.spec.root_attributes.get(tagged)
            tags = attrs.get("tags") if isinstance(attrs, dict) else None
            full = isinstance(tags, list) and "BinnedLikelihood" in tags
            self._count_terms.append(_CountsTerm(self, dist, counts, _bin_volumes(edges), full,
                                                 frozenset(obj.observables) | frozenset(op.axis_names)))
            self._count_terms[-1].data_obj = obj
            return
        self._check_axes(dist, obj, where)
        centres = _grid_centres(edges)
        columns = {ax.name: c for ax, c in zip(obj.axes, centres, strict=True)}
        self._density_terms.append(_DensityTerm(self, dist, columns, counts, where, "binned", edges))
        self._density_terms[-1].data_obj = obj

    def _check_binning(self, dist: str, op: BinnedDistributionOp, obj: Data, edges: list[Array], counts: Array,
                       where: str) -> None:
        n_data = int(counts.size)
        if op.bin_edges:
            n_dist = int(np.prod([len(e) - 1 for e in op.bin_edges]))
            if n_dist != n_data:
                shape = [len(e) - 1 for e in op.bin_edges]
                raise LikelihoodError(
                    f"{where}: data {obj.name!r} ({obj.path}) has {n_data} bins but distribution {dist!r} "
                    f"has {n_dist} (bins per axis {shape}); expected data with the distribution's binning")
        if op.axis_names and len(op.axis_names) == len(obj.axes) and tuple(op.axis_names) != obj.observables:
            raise LikelihoodError(
                f"{where}: data {obj.name!r} ({obj.path}) has axes {list(obj.observables)} but distribution "
                f"{dist!r} has axes {list(op.axis_names)}; expected the same axis names")

    def _add_point(self, dist: str, value: float, obj: Data | None, where: str) -> None:
        if obj is not None and obj.axes:
            self._check_axes(dist, obj, where)
            names = list(obj.observables)
        else:
            names = sorted(_variates(self.model.spec, self.model.graph, dist))
        if len(names) != 1:
            raise LikelihoodError(
                f"{where}: a single value as data needs a distribution of one variate, but {dist!r} has "
                f"{names or 'none'}; expected unbinned data with one axis per observable")
        self._density_terms.append(_DensityTerm(self, dist, {names[0]: np.asarray([value])}, None, where, "point"))
        self._density_terms[-1].data_obj = obj

    # -- values --------------------------------------------------------------------------

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def floating(self) -> tuple[str, ...]:
        """Names of the parameters a fit varies (not constant, not global observables)."""
        return tuple(p.name for p in self.parameters if not p.const)

    @property
    def n_events(self) -> float:
        """Total number of events (Σ weights, Σ bin contents) of the main terms."""
        return float(sum(t.n_events for t in self._main_terms))

    @property
    def n_channels(self) -> int:
        return len(self._main_terms)

    def bounds(self, name: str) -> tuple[float, float]:
        p = self._param_index.get(name)
        if p is None:
            raise LikelihoodError(f"{self.where}: {name!r} is not a parameter of this likelihood; its parameters "
                                  f"are {list(self.parameter_names)}")
        return p.min, p.max

    def values(self, values: Mapping[str, Any] | None = None) -> dict[str, float]:
        """Start values updated by ``values`` (unknown names raise :class:`LikelihoodError`)."""
        out = dict(self.init)
        if values:
            self._check_names(values)
            for k, v in values.items():
                try:
                    out[k] = float(v)
                except (TypeError, ValueError):
                    raise LikelihoodError(f"{self.where}: the value of parameter {k!r} is {v!r}, not a number") \
                        from None
        return out

    def _check_names(self, names: Iterable[str]) -> None:
        # names of the workspace that this likelihood does not depend on (other channels' parameters,
        # the data's observables) are accepted and have no effect; other names are errors
        nodes = self.model.graph.nodes
        unknown = [k for k in names if k not in self._param_index
                   and (k not in nodes or nodes[k].kind != "parameter")]
        if unknown:
            raise LikelihoodError(f"{self.where}: unknown parameter(s) {unknown}; the parameters of this likelihood "
                                  f"are {list(self.parameter_names)}")

    def _full_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        merged = dict(self._base_values)
        merged.update(values)
        missing = [p.name for p in self.parameters if p.name not in merged]
        if missing:
            raise LikelihoodError(
                f"{self.where}: parameter(s) {missing} have no value; give them a value in a parameter point of "
                f"the workspace, or pass them, e.g. lik.nll({{{missing[0]!r}: 1.0}})")
        return merged

    # -- the NLL -------------------------------------------------------------------------

    def nll(self, values: Mapping[str, Any] | None = None, /, *, roofit_simultaneous: bool = False,
            **kwargs: Any) -> float:
        """The negative log-likelihood at ``values`` (others at their start values).

        Parameters
        ----------
        values
            Parameter values, e.g. ``{"mu": 1.2}``; keywords work too: ``nll(mu=1.2)``.
        roofit_simultaneous
            Add ``N log(n_channels)``, what a RooSimultaneous over the channels adds, so
            that the number equals ROOT's combined NLL.

        Returns
        -------
        float
            RooFit's ``createNLL(data, Offset("none"), GlobalObservables(...))`` value.
        """
        given: dict[str, Any] = dict(values or {})
        given.update(kwargs)
        self._check_names(given)
        full = self._full_values(given)
        # far from the data, log-space terms over- or underflow; the value (inf) says so itself
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            val = self._evaluate(full)
        if roofit_simultaneous and self.n_channels > 1:
            val += self.n_events * math.log(self.n_channels)
        return val

    # -- analytic gradient (pyhs3_lab.gradient) ------------------------------------------

    @property
    def has_gradient(self) -> bool:
        """Whether the NLL has an analytic gradient in every floating parameter (every kernel on the way
        has derivatives; :mod:`pyhs3_lab.gradient`). Fits use it; without it MINUIT's numerical one."""
        return self.gradient_supported(self.floating)

    def gradient_supported(self, names: Sequence[str], values: Mapping[str, Any] | None = None) -> bool:
        """Whether the NLL has an analytic gradient in ``names`` (decided once per set of names)."""
        key = frozenset(names)
        known: dict[frozenset[str], bool] | None = getattr(self, "_gradient_support", None)
        if known is None:
            known = {}
            self._gradient_support = known
        got = known.get(key)
        if got is None:
            from .gradient import LikelihoodGradient

            full = values if values is not None else self._full_values(self.values())
            got = known[key] = LikelihoodGradient(self, tuple(names)).supported(full)
        return got

    def gradient(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> dict[str, float]:
        """The analytic gradient ``{parameter: d NLL / d parameter}`` of the floating parameters at
        ``values`` (others at their start values).

        Raises
        ------
        LikelihoodError
            If some kernel of the likelihood has no analytic derivative (see :attr:`has_gradient`).
        """
        from .gradient import LikelihoodGradient

        given: dict[str, Any] = dict(values or {})
        given.update(kwargs)
        self._check_names(given)
        full = self._full_values(given)
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            got = LikelihoodGradient(self, self.floating)(full)
        if got is None:
            raise LikelihoodError(f"{self.where}: no analytic gradient (a kernel of the likelihood has no analytic "
                                  "derivative); fits use MINUIT's numerical gradient")
        return dict(zip(self.floating, (float(v) for v in got), strict=True))

    def _planned_density_terms(self) -> list[Any]:
        """The density terms, channels of identical structure merged into one vectorised evaluation
        (:mod:`pyhs3_lab.batch`; checked against the general path at its first evaluation)."""
        plan: tuple[list[Any], list[Any]] | None = getattr(self, "_plan", None)
        if plan is None or plan[0] is not self._density_terms:
            from .batch import plan_terms

            with gc_paused():
                plan = (self._density_terms, plan_terms(self.model, self._density_terms))
            self._plan = plan
        return plan[1]

    def _planned_aux_terms(self) -> list[Any]:
        """The aux terms, those of the same plannable type merged into one vectorised evaluation
        (:mod:`pyhs3_lab.auxbatch`; checked against the terms one by one at its first evaluation)."""
        plan: tuple[list[Any], list[Any]] | None = getattr(self, "_aux_plan", None)
        if plan is None or plan[0] is not self._aux_terms:
            from .auxbatch import plan_aux

            plan = (self._aux_terms, plan_aux(self.model, self._aux_terms))
            self._aux_plan = plan
        return plan[1]

    def _counts_batch(self) -> Any:
        """The bin-count terms (HistFactory channels) as one vectorised evaluation, or None where they use
        the per-channel path (:mod:`pyhs3_lab.hfbatch`; checked against it at its first evaluation)."""
        plan: tuple[list[Any], Any] | None = getattr(self, "_counts_plan", None)
        if plan is None or plan[0] is not self._count_terms:
            from .hfbatch import plan_counts

            with gc_paused():
                plan = (self._count_terms, plan_counts(self.model, self._count_terms, _shared_constraints))
            self._counts_plan = plan
        return plan[1]

    def _flat_counts(self, names: Sequence[str], base: Mapping[str, Any]) -> Any:
        """For a likelihood of bin-count terms only (HistFactory channels, batched): the NLL and its gradient as
        functions of the flat vector of ``names``, the others at ``base`` (:class:`pyhs3_lab.hfbatch.FlatCounts`,
        used by fits); None otherwise."""
        if self._density_terms or self._aux_terms or not self._count_terms:
            return None
        batch = self._counts_batch()
        if batch is None:
            return None
        from .hfbatch import FlatCounts

        try:
            return FlatCounts(batch, names, base)
        except (KeyError, TypeError, ValueError):  # array values (or a value missing): the dict path
            return None

    def _evaluate(self, full: Mapping[str, Any]) -> float:
        """The NLL with every value given (no checks; used by fits, thousands of times)."""
        try:
            total = 0.0
            for t in self._planned_density_terms():
                total += t.cached_nll(full)
            if self._count_terms:
                batch = self._counts_batch()
                total += batch.cached_nll(full) if batch is not None else _shared_constraints(self._count_terms,
                                                                                               full)
            for a in self._planned_aux_terms():
                total += a.cached_nll(full)
        except PyHS3LabError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
            raise EvaluationError(f"{self.where}: {type(exc).__name__}: {exc}") from exc
        return total

    def terms(self, values: Mapping[str, Any] | None = None) -> dict[str, float]:
        """The NLL split by term: ``{distribution name: its contribution}`` (aux terms included)."""
        full = self._full_values(self.values(values))
        out: dict[str, float] = {}
        for t in self._all_terms:
            out[t.dist] = out.get(t.dist, 0.0) + t.nll(full)
        return out

    def expected(self, dist: str | None = None, values: Mapping[str, Any] | None = None, *,
                 by_sample: bool = True) -> Any:
        """Expected bin contents ν (flattened, first axis slowest) of the bin-count distributions
        (``histfactory_dist``) of this likelihood at ``values`` (others at their start values).

        Parameters
        ----------
        dist
            A channel (bin-count distribution); None: every channel, as ``{channel: ...}``.
        values
            Parameter values.
        by_sample
            ``{sample: ν}`` per channel where the kernel gives samples; otherwise the total ν.
        """
        full = self._full_values(self.values(values))
        out: dict[str, Any] = {}
        for t in self._count_terms:
            if dist is not None and t.dist != dist:
                continue
            ev = t.evaluator(full)
            per_sample: Callable[[Evaluator], Mapping[str, Any]] | None = getattr(t.op, "expected_by_sample", None)
            if by_sample and per_sample is not None:
                out[t.dist] = {k: np.asarray(v, dtype=float) for k, v in per_sample(ev).items()}
            else:
                out[t.dist] = np.asarray(t.op.expected_counts(ev), dtype=float)
        if dist is None:
            return out
        if dist not in out:
            raise LikelihoodError(f"{self.where}: {dist!r} is not a bin-count distribution of this likelihood; "
                                  f"those are {[t.dist for t in self._count_terms] or 'none'}")
        return out[dist]

    def _replaced(self, density: Sequence[tuple[Mapping[str, Array], Array | None]], counts: Sequence[Array],
                  global_observables: Mapping[str, float]) -> Likelihood:
        """This likelihood with other data: per density term (columns, weights), per bin-count term
        the contents, and other values of global observables (used by :mod:`pyhs3_lab.toys`)."""
        if len(density) != len(self._density_terms) or len(counts) != len(self._count_terms):
            raise LikelihoodError(f"{self.where}: replacement data for {len(density)} + {len(counts)} terms, but the "
                                  f"likelihood has {len(self._density_terms)} + {len(self._count_terms)}")
        new = copy.copy(self)
        new._density_terms = [t.replaced(c, w) for t, (c, w) in zip(self._density_terms, density, strict=True)]
        new._count_terms = [t.replaced(c) for t, c in zip(self._count_terms, counts, strict=True)]
        globs = {k: float(v) for k, v in global_observables.items()}
        new._base_values = {**self._base_values, **globs}
        new.init = {**self.init, **{k: v for k, v in globs.items() if k in self._param_index}}
        new.parameters = tuple(dataclasses.replace(p, value=globs[p.name]) if p.name in globs else p
                               for p in self.parameters)
        new._param_index = {p.name: p for p in new.parameters}
        return new

    # -- inference (see fit.py and toys.py) ----------------------------------------------

    def fit(self, **options: Any) -> FitResult:
        """Minimise the NLL with iminuit (MIGRAD, HESSE, MINOS on request); see :func:`pyhs3_lab.fit.fit`."""
        from .fit import fit

        return fit(self, **options)

    def profile(self, poi: str, values: Any, **options: Any) -> ProfileResult:
        """2ΔNLL of ``poi`` at each of ``values``, the others refitted; see :func:`pyhs3_lab.fit.profile`."""
        from .fit import profile

        return profile(self, poi, values, **options)

    def sample(self, n: int = 1, **options: Any) -> list[PseudoData]:
        """Pseudo-data sets (and Asimov data); see :func:`pyhs3_lab.toys.sample`."""
        from .toys import sample

        return sample(self, n, **options)

    def asimov(self, params: Mapping[str, float] | None = None) -> PseudoData:
        """The Asimov data set at ``params``; see :func:`pyhs3_lab.toys.asimov`."""
        from .toys import asimov

        return asimov(self, params)

    def toys(self, n: int, **options: Any) -> ToyStudy:
        """Pseudo-experiments generated and fitted; see :func:`pyhs3_lab.toys.toys`."""
        from .toys import toys

        return toys(self, n, **options)

    def upper_limit(self, poi: str, cl: float = 0.95, **options: Any) -> UpperLimit:
        """CLs upper limit on ``poi``; see :func:`pyhs3_lab.toys.upper_limit`."""
        from .toys import upper_limit

        return upper_limit(self, poi, cl, **options)

    def with_data(self, data: PseudoData) -> Likelihood:
        """The same likelihood with other data (pseudo-data from :meth:`sample` or :meth:`asimov`)."""
        new = self._replaced(data.density, data.counts, data.global_observables)
        new.pseudo_data = data  # what a worker process needs to rebuild it (pyhs3_lab.toys.recipe_of)
        return new

    def __repr__(self) -> str:
        return (f"<Likelihood {self.name!r}: {len(self.distributions)} distribution(s), "
                f"{len(self.aux_distributions)} aux, {len(self.floating)} floating of "
                f"{len(self.parameters)} parameters>")


class Analysis:
    """An HS3 analysis: a likelihood with its parameters of interest, domains and start values."""

    def __init__(self, workspace: Workspace, spec: AnalysisSpec, likelihood: Likelihood) -> None:
        self.workspace = workspace
        self.spec = spec
        self.name = spec.name
        self.likelihood = likelihood
        self.parameters_of_interest = likelihood.parameters_of_interest
        self.domains = spec.domains
        self.init = spec.init

    @property
    def parameters(self) -> tuple[LikelihoodParameter, ...]:
        return self.likelihood.parameters

    def nll(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> float:
        return self.likelihood.nll(values, **kwargs)

    def fit(self, **options: Any) -> FitResult:
        return self.likelihood.fit(**options)

    def profile(self, poi: str | None = None, values: Any = None, **options: Any) -> ProfileResult:
        """Profile a POI (the first of the analysis by default)."""
        name = poi if poi is not None else self._first_poi()
        if values is None:
            lo, hi = self.likelihood.bounds(name)
            values = np.linspace(lo, hi, 31)
        return self.likelihood.profile(name, values, **options)

    def upper_limit(self, poi: str | None = None, cl: float = 0.95, **options: Any) -> UpperLimit:
        return self.likelihood.upper_limit(poi if poi is not None else self._first_poi(), cl, **options)

    def toys(self, n: int, **options: Any) -> ToyStudy:
        return self.likelihood.toys(n, **options)

    def _first_poi(self) -> str:
        if not self.parameters_of_interest:
            raise LikelihoodError(f"{self.spec.path} (analysis {self.name!r}) has no parameters_of_interest; "
                                  "name the parameter")
        return self.parameters_of_interest[0]

    def __repr__(self) -> str:
        pois = list(self.parameters_of_interest)
        return f"<Analysis {self.name!r}: likelihood {self.spec.likelihood!r}, POIs {pois}>"


def _root_ranges(model: Model) -> None:
    """Ranges as ROOT reads them: where a ``default_domain`` exists it alone gives the ranges of
    variables (with the data axes); other domains are named ranges and ModelConfig sets in ROOT, not
    ranges. This matters for constraint terms: a global observable whose range appears only in an
    analysis domain is unbounded in ROOT, so its constraint is normalised over the whole real line."""
    domains = {d.name: d for d in model.spec.domains}
    default = domains.get("default_domain")
    if default is None:
        return
    keep = {a.name for a in default.axes} | {ax.name for d in model.spec.data for ax in d.axes}
    dropped = {a.name for d in model.spec.domains for a in d.axes} - keep
    for name in dropped:
        model.bounds.pop(name, None)
    if not dropped:
        return
    for comp in model.spec.components():  # kernels' own ranges of implicit parameters (HistFactory)
        try:
            op = model.compiled.op(comp.name)
        except PyHS3LabError:
            continue
        for name, (_val, lo, hi) in op.parameter_defaults().items():
            if name in dropped and (lo is not None or hi is not None):
                model.bounds[name] = (-math.inf if lo is None else lo, math.inf if hi is None else hi)


def build_likelihood(
    workspace: Workspace,
    name: str | Sequence[str] | None = None,
    *,
    distributions: Sequence[str] | None = None,
    data: Sequence[str | float] | None = None,
    aux_distributions: Sequence[str] = (),
    domain: str | None = None,
    parameter_set: str | None = None,
    conventions: str = "root",
) -> Likelihood:
    """The likelihood ``name`` of ``workspace`` (or several summed, or an ad hoc one).

    See :meth:`pyhs3_lab.Workspace.likelihood`.
    """
    liks = {lik.name: lik for lik in workspace.likelihoods}
    model = workspace.model(domain, parameter_set, conventions=conventions)
    if domain is None:
        _root_ranges(model)
    if distributions is not None or data is not None:
        if name is not None:
            raise LikelihoodError("give either a likelihood name or distributions= and data=, not both")
        if distributions is None or data is None:
            raise LikelihoodError("an ad hoc likelihood needs both distributions= and data=")
        return Likelihood(workspace, list(distributions), list(data), list(aux_distributions), model=model)
    if name is None:
        if len(liks) == 1:
            name = next(iter(liks))
        elif not liks:
            raise LikelihoodError("the workspace has no likelihoods; build one with "
                                  "ws.likelihood(distributions=[...], data=[...])")
        else:
            raise LikelihoodError(f"the workspace has {len(liks)} likelihoods {sorted(liks)}; name one, or a list "
                                  "of them to sum")
    names = [name] if isinstance(name, str) else list(name)
    if not names:
        raise LikelihoodError("an empty list of likelihoods")
    unknown = [n for n in names if n not in liks]
    if unknown:
        raise LikelihoodError(f"no likelihood named {unknown}; the workspace has {sorted(liks) or 'none'}")
    dists: list[str] = []
    dats: list[str | float] = []
    aux: list[str] = list(aux_distributions)
    # parameters of interest: those of the analyses that use these likelihoods
    pois = [p for a in workspace.analyses if a.likelihood in names for p in a.parameters_of_interest]
    pair_paths: list[str] = []
    for n in names:
        spec = liks[n]
        dists += spec.distributions
        dats += spec.data
        aux += spec.aux_distributions
        pair_paths += [f"{spec.path}.data[{j}] (likelihood {spec.name!r})" for j in range(len(spec.data))]
    label = names[0] if len(names) == 1 else "+".join(names)
    path = liks[names[0]].path if len(names) == 1 else ""
    return Likelihood(workspace, dists, dats, aux, name=label, model=model, path=path,
                      parameters_of_interest=list(dict.fromkeys(pois)), pair_paths=pair_paths)


def build_analysis(workspace: Workspace, name: str | None = None, *, conventions: str = "root") -> Analysis:
    """The analysis ``name`` (or the only one); see :meth:`pyhs3_lab.Workspace.analysis`."""
    anas = {a.name: a for a in workspace.analyses}
    if name is None:
        if len(anas) != 1:
            raise LikelihoodError(f"the workspace has {len(anas)} analyses {sorted(anas)}; name one")
        name = next(iter(anas))
    spec = anas.get(name)
    if spec is None:
        raise LikelihoodError(f"no analysis named {name!r}; the workspace has {sorted(anas) or 'none'}")
    liks = {lik.name: lik for lik in workspace.likelihoods}
    lspec = liks.get(spec.likelihood)
    if lspec is None:
        raise LikelihoodError(f"{spec.path}.likelihood: analysis {name!r} refers to likelihood "
                              f"{spec.likelihood!r}, which does not exist")
    model = workspace.model(None, spec.init, conventions=conventions)
    _root_ranges(model)
    has_default = any(d.name == "default_domain" for d in workspace.domains)
    domains = {d.name: d for d in workspace.domains}
    data_axes = {ax.name for d in workspace.data for ax in d.axes}
    globs: set[str] = set()
    for dname in spec.domains:
        dom = domains.get(dname)
        if dom is None:
            raise LikelihoodError(f"{spec.path}.domains: analysis {name!r} refers to domain {dname!r}, which "
                                  "does not exist")
        if not has_default:  # ROOT takes ranges from default_domain only; without one, from the analysis
            for nm, b in dom.bounds().items():
                if nm not in data_axes:
                    model.bounds[nm] = b
        if dname.endswith("_global_observables"):
            globs |= {a.name for a in dom.axes}
    lik = Likelihood(workspace, lspec.distributions, lspec.data, lspec.aux_distributions, name=lspec.name,
                     model=model, parameters_of_interest=spec.parameters_of_interest, global_observables=globs,
                     path=lspec.path)
    return Analysis(workspace, spec, lik)
