"""Stage 4: from the graph to kernels, built once.

:class:`Compiled` instantiates the kernel of every distribution and function
(index arrays, constants and parsed expressions are prepared in the kernels'
constructors) the first time it is needed, so that one unsupported object does
not stop the rest of a workspace from evaluating: asking for it raises
:class:`UnsupportedTypeError` naming its type and JSON path.
"""

from __future__ import annotations

from typing import Any

from . import registry
from .errors import EvaluationError, UnsupportedTypeError
from .graph import Graph
from .ops.base import BuildContext, DistributionOp, FunctionOp, Op
from .spec import Component, WorkspaceSpec


class Compiled:
    """Kernels for every object of a workspace (built lazily, once)."""

    def __init__(self, spec: WorkspaceSpec, graph: Graph, options: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.graph = graph
        self.options = dict(options or {})
        self._components: dict[str, Component] = {c.name: c for c in spec.components()}
        self._ops: dict[str, Op] = {}

    def op(self, name: str) -> Op:
        op = self._ops.get(name)
        if op is not None:
            return op
        comp = self._components.get(name)
        if comp is None:
            raise EvaluationError(f"no distribution or function named {name!r} in the workspace")
        info = registry.lookup(comp.type)
        if info is None or info.kernel is None:
            known = sorted({i.type for i in registry.all_types().values() if i.category == comp.category})
            raise UnsupportedTypeError(comp.type, comp.name, comp.path,
                                       f"known {comp.category} types are {', '.join(known)}")
        built = info.kernel(BuildContext(comp, self.spec, self.graph, self.options))
        if not isinstance(built, Op):
            raise TypeError(f"the kernel registered for {comp.type!r} is not an Op")
        self._ops[name] = built
        return built

    def distribution(self, name: str) -> DistributionOp:
        op = self.op(name)
        if not isinstance(op, DistributionOp):
            raise EvaluationError(f"{name!r} is a function, not a distribution")
        return op

    def function(self, name: str) -> FunctionOp:
        op = self.op(name)
        if not isinstance(op, FunctionOp):
            raise EvaluationError(f"{name!r} is a distribution, not a function")
        return op

    def build_all(self) -> list[UnsupportedTypeError]:
        """Build every kernel now; return the objects that cannot be built (unsupported types)."""
        failed: list[UnsupportedTypeError] = []
        for name in self._components:
            try:
                self.op(name)
            except UnsupportedTypeError as exc:
                failed.append(exc)
        return failed
