"""The interface every kernel implements.

A kernel is built once per object (``__init__(ctx)``: read fields, precompute
index arrays and constants) and then evaluated many times against an
:class:`~pyhs3_lab.evaluate.Evaluator`, which supplies the values of parameters,
functions, observables and other distributions (cached within one evaluation).

Shapes: observables are arrays (usually 1-D over data entries or grid points),
parameters are scalars or arrays; kernels use numpy broadcasting and never loop
over entries in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from ..errors import EvaluationError
from ..spec import Component, Ref, WorkspaceSpec, as_number, as_ref

if TYPE_CHECKING:
    from ..evaluate import Evaluator
    from ..graph import Graph
    from ..plan import PlanBuilder
    from ..registry import TypeInfo

Array = NDArray[np.float64]
#: a sparse gradient: ``{parameter: d value / d parameter}`` (arrays broadcastable against the value);
#: parameters it does not depend on are absent. See :mod:`pyhs3_lab.gradient`.
Grad = dict[str, Any]


class BuildContext:
    """What a kernel's constructor may read: its component and the workspace around it."""

    def __init__(self, component: Component, spec: WorkspaceSpec, graph: Graph, options: dict[str, Any]) -> None:
        self.component = component
        self.spec = spec
        self.graph = graph
        #: model options, e.g. ``{"conventions": "root" | "pyhf"}``
        self.options = options

    @property
    def name(self) -> str:
        return self.component.name

    def path(self, key: str | None = None) -> str:
        return self.component.path if key is None else f"{self.component.path}.{key}"

    def has(self, key: str) -> bool:
        return key in self.component.raw

    def raw(self, key: str, default: Any = None) -> Any:
        return self.component.raw.get(key, default)

    def ref(self, key: str, default: Ref | None = None) -> Ref:
        """A field that holds a name or a number (validated by the spec stage)."""
        if key not in self.component.raw:
            if default is not None:
                return default
            raise EvaluationError(f"{self.path(key)}: {self.component.type} {self.name!r} has no field {key!r}")
        ref = as_ref(self.component.raw[key])
        if ref is None:
            raise EvaluationError(f"{self.path(key)}: expected a name or a number, got {self.component.raw[key]!r}")
        return ref

    def refs(self, key: str, default: Sequence[Ref] | None = None) -> list[Ref]:
        if key not in self.component.raw:
            if default is not None:
                return list(default)
            raise EvaluationError(f"{self.path(key)}: {self.component.type} {self.name!r} has no field {key!r}")
        out: list[Ref] = []
        for i, v in enumerate(self.component.raw[key]):
            ref = as_ref(v)
            if ref is None:
                raise EvaluationError(f"{self.path(key)}[{i}]: expected a name or a number, got {v!r}")
            out.append(ref)
        return out

    def number(self, key: str, default: float | None = None) -> float:
        if key not in self.component.raw:
            if default is not None:
                return default
            raise EvaluationError(f"{self.path(key)}: {self.component.type} {self.name!r} has no field {key!r}")
        num = as_number(self.component.raw[key])
        if num is None:
            raise EvaluationError(f"{self.path(key)}: expected a number, got {self.component.raw[key]!r}")
        return num


class Op:
    """Common base of function and distribution kernels."""

    type_info: ClassVar[TypeInfo]

    def __init__(self, ctx: BuildContext) -> None:
        self.name = ctx.name
        self.path = ctx.path()

    def parameter_defaults(self) -> dict[str, tuple[float, float | None, float | None]]:
        """Values and ranges ``{name: (value, lo, hi)}`` for parameters this kernel creates
        implicitly (HistFactory gammas, alphas); used only where the workspace gives none."""
        return {}

    def constant_parameters(self) -> set[str]:
        """Parameters this kernel fixes (e.g. HistFactory gammas below the stat threshold)."""
        return set()

    def plan(self, builder: PlanBuilder) -> Any:
        """This kernel as a step of a precompiled plan (:mod:`pyhs3_lab.plan`): one of ``builder``'s steps,
        or None (the default): a tree with this kernel keeps the general path."""
        return None


class FunctionOp(Op):
    """A function: a value computed from parameters, functions and observables."""

    def value(self, ev: Evaluator) -> Array:
        raise NotImplementedError  # every registered subclass implements it

    def grad_value(self, ev: Evaluator, wrt: frozenset[str]) -> Grad | None:
        """d value / d θ for the parameters θ in ``wrt`` (chained with ``ev.grad_value`` of the
        inputs), or None if this kernel has no analytic derivative."""
        return None


class DistributionOp(Op):
    """A distribution.

    ``log_density`` is the *unnormalised* log density at the evaluator's
    observables; the evaluator divides by the integral over the observables'
    domain, given analytically by ``log_normalization`` where a closed form
    exists (``None``: integrate numerically). Pmfs (``discrete = True``) are
    never normalised over their variate.
    """

    discrete: ClassVar[bool] = False

    def log_density(self, ev: Evaluator) -> Array:
        raise NotImplementedError  # every registered subclass implements it

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        """log of ∫ exp(log_density) over ``observables`` (each over ``ev.bounds(obs)``), or None."""
        return None

    def expected_events(self, ev: Evaluator) -> Array | None:
        """The Poisson mean ν of the number of events for an extended pdf; None if not extended."""
        return None

    # -- analytic derivatives (pyhs3_lab.gradient); None: this kernel has none ----------------

    def grad_log_density(self, ev: Evaluator, wrt: frozenset[str], adjoint: Any) -> Grad | None:
        """Reverse mode: Σ adjoint · ∂ log_density / ∂θ for the parameters θ in ``wrt``, summed down
        to the shape of θ's value (``adjoint`` broadcasts against the log density)."""
        return None

    def grad_log_normalization(self, ev: Evaluator, observables: tuple[str, ...], wrt: frozenset[str],
                               adjoint: Any) -> Grad | None:
        """Σ adjoint · ∂ log_normalization / ∂θ (only asked where ``log_normalization`` is analytic)."""
        return None

    def grad_expected_events(self, ev: Evaluator, wrt: frozenset[str]) -> Grad | None:
        """d expected_events / d θ (only asked where ``expected_events`` is not None)."""
        return None


class BinnedDistributionOp(DistributionOp):
    """A distribution of bin counts (``histfactory_dist``, ``bincounts_*``): always extended.

    ``expected_counts`` gives ν per bin (flattened row-major over ``axes``, the first
    axis slowest); the likelihood pairs it with binned data as Π Poisson(n | ν).
    ``log_constraints`` is the sum of the log densities of the constraint terms the
    distribution carries implicitly (HistFactory), 0 if none. ``log_density`` still
    gives a density in the observables (ν_bin / bin volume), so that the
    distribution can be plotted and normalised like any other.
    """

    #: names of the observables, one per axis
    axis_names: tuple[str, ...] = ()
    #: bin edges per axis
    bin_edges: tuple[Array, ...] = ()

    def expected_counts(self, ev: Evaluator) -> Array:
        raise NotImplementedError  # every registered subclass implements it

    def log_constraints(self, ev: Evaluator) -> Array:
        return np.asarray(0.0)
