"""Stage 3: the references between the objects of a workspace.

Builds the dependency graph of distributions, functions and parameters (a name
that is referenced but not defined is a free parameter, as HS3 says), checks
that every reference points to an object of the right kind, finds cycles, and
gives a topological order. ``Graph.to_dict()`` is what the widget and the
JupyterLab viewer draw.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from . import registry
from .errors import CycleError, ExpressionError, HS3ReferenceError, Problem
from .registry import Kind
from .spec import Component, WorkspaceSpec, as_ref

NodeKind = Literal["distribution", "function", "parameter", "data", "likelihood", "analysis"]


@dataclass(frozen=True)
class Edge:
    source: str  # the object that refers
    target: str  # the object referred to
    field: str  # where: a field name or a sub-path such as samples[0].modifiers[1].parameter


@dataclass
class Node:
    name: str
    kind: NodeKind
    type: str
    path: str
    deps: list[str] = field(default_factory=list)


def _names(value: Any) -> list[str]:
    ref = as_ref(value)
    return [ref] if isinstance(ref, str) else []


def component_refs(comp: Component) -> list[tuple[str, str, Kind]]:
    """``(field path, referenced name, kind)`` for every reference in a component."""
    info = registry.lookup(comp.type)
    if info is None:
        # Unknown type: any string value that is not a number may be a reference; we
        # draw them (for browsing) but check nothing.
        out: list[tuple[str, str, Kind]] = []
        for key, value in comp.raw.items():
            if key in ("name", "type"):
                continue
            if isinstance(value, str):
                out += [(key, n, Kind.ANY) for n in _names(value)]
            elif isinstance(value, list):
                out += [(f"{key}[{i}]", n, Kind.ANY) for i, v in enumerate(value) if isinstance(v, str)
                        for n in _names(v)]
        return out
    refs: list[tuple[str, str, Kind]] = []
    for key, spec in info.fields.items():
        if key not in comp.raw:
            continue
        value = comp.raw[key]
        kind = spec.kind
        if kind in (Kind.REF, Kind.DIST, Kind.FUNC):
            refs += [(key, n, kind) for n in _names(value)]
        elif kind in (Kind.REF_LIST, Kind.DIST_LIST, Kind.FUNC_LIST) and isinstance(value, list):
            single = {Kind.REF_LIST: Kind.REF, Kind.DIST_LIST: Kind.DIST, Kind.FUNC_LIST: Kind.FUNC}[kind]
            refs += [(f"{key}[{i}]", n, single) for i, v in enumerate(value) for n in _names(v)]
        elif kind is Kind.REF_MATRIX and isinstance(value, list):
            refs += [(f"{key}[{i}][{j}]", n, Kind.REF) for i, row in enumerate(value) if isinstance(row, list)
                     for j, v in enumerate(row) for n in _names(v)]
        elif kind is Kind.EXPRESSION and isinstance(value, str):
            from .expr import parse

            try:
                symbols = parse(value).symbols
            except ExpressionError:
                continue  # reported by graph validation below
            refs += [(key, s, Kind.REF) for s in sorted(symbols)]
    if info.extra_refs is not None:
        refs += info.extra_refs(comp.raw)
    return refs


class Graph:
    """The dependency graph of a validated workspace."""

    def __init__(self, spec: WorkspaceSpec) -> None:
        self.spec = spec
        self.nodes: dict[str, Node] = {}
        self.edges: list[Edge] = []
        problems: list[Problem] = []

        for d in spec.distributions:
            self.nodes[d.name] = Node(d.name, "distribution", d.type, d.path)
        for f in spec.functions:
            self.nodes[f.name] = Node(f.name, "function", f.type, f.path)

        # expressions are checked here: a parse error names the object and field
        for comp in spec.components():
            info = registry.lookup(comp.type)
            if info is None:
                continue
            for key, fspec in info.fields.items():
                if fspec.kind is Kind.EXPRESSION and isinstance(comp.raw.get(key), str):
                    from .expr import parse

                    try:
                        parse(comp.raw[key])
                    except ExpressionError as exc:
                        problems.append(Problem(f"{comp.path}.{key}", str(exc), comp.name, key,
                                                "an HS3 expression"))

        params: dict[str, str] = {}
        for comp in spec.components():
            node = self.nodes[comp.name]
            known = set(node.deps)  # (a HistFactory channel has thousands of references: no list search)
            for fld, target, kind in component_refs(comp):
                where = f"{comp.path}.{fld}"
                tnode = self.nodes.get(target)
                if kind is Kind.DIST and (tnode is None or tnode.kind != "distribution"):
                    what = "nothing" if tnode is None else f"a {tnode.kind}"
                    problems.append(Problem(where, f"{comp.type} {comp.name!r} refers to {target!r}, which is {what}",
                                            comp.name, fld.split("[")[0], "the name of a distribution"))
                    continue
                if kind is Kind.FUNC and (tnode is None or tnode.kind != "function"):
                    what = "nothing" if tnode is None else f"a {tnode.kind}"
                    problems.append(Problem(where, f"{comp.type} {comp.name!r} refers to {target!r}, which is {what}",
                                            comp.name, fld.split("[")[0], "the name of a function"))
                    continue
                if kind is Kind.REF and tnode is not None and tnode.kind == "distribution":
                    problems.append(Problem(where, f"{comp.type} {comp.name!r} uses distribution {target!r} "
                                            "where a parameter or function is expected", comp.name,
                                            fld.split("[")[0], "a parameter or function name"))
                    continue
                if tnode is None:
                    params.setdefault(target, where)
                if target not in known:
                    known.add(target)
                    node.deps.append(target)
                self.edges.append(Edge(comp.name, target, fld))
        for name, where in params.items():
            self.nodes[name] = Node(name, "parameter", "parameter", where)

        data_names = {d.name for d in spec.data}
        for dobj in spec.data:
            self.nodes.setdefault(dobj.name, Node(dobj.name, "data", dobj.type, dobj.path))
        point_names = {p.name for p in spec.parameter_points}
        domain_names = {d.name for d in spec.domains}
        for lik in spec.likelihoods:
            lnode = Node(lik.name, "likelihood", "likelihood", lik.path)
            self.nodes[lik.name] = lnode
            for i, dname in enumerate(lik.distributions):
                n = self.nodes.get(dname)
                if n is None or n.kind != "distribution":
                    problems.append(Problem(f"{lik.path}.distributions[{i}]",
                                            f"likelihood {lik.name!r} refers to {dname!r}, which is not a distribution",
                                            lik.name, "distributions", "the name of a distribution"))
                else:
                    lnode.deps.append(dname)
                    self.edges.append(Edge(lik.name, dname, f"distributions[{i}]"))
            for i, entry in enumerate(lik.data):
                if isinstance(entry, str):
                    dat = entry
                    if dat not in data_names:
                        problems.append(Problem(f"{lik.path}.data[{i}]",
                                                f"likelihood {lik.name!r} refers to data {dat!r}, which does not exist",
                                                lik.name, "data", "the name of a data object or a number"))
                    else:
                        lnode.deps.append(dat)
                        self.edges.append(Edge(lik.name, dat, f"data[{i}]"))
            for i, aname in enumerate(lik.aux_distributions):
                n = self.nodes.get(aname)
                if n is None or n.kind != "distribution":
                    problems.append(Problem(f"{lik.path}.aux_distributions[{i}]",
                                            f"likelihood {lik.name!r} refers to {aname!r}, which is not a distribution",
                                            lik.name, "aux_distributions", "the name of a distribution"))
                else:
                    lnode.deps.append(aname)
                    self.edges.append(Edge(lik.name, aname, f"aux_distributions[{i}]"))
        for ana in spec.analyses:
            anode = Node(ana.name, "analysis", "analysis", ana.path)
            self.nodes.setdefault(ana.name, anode)
            lik_node = self.nodes.get(ana.likelihood)
            if lik_node is None or lik_node.kind != "likelihood":
                problems.append(Problem(f"{ana.path}.likelihood",
                                        f"analysis {ana.name!r} refers to likelihood {ana.likelihood!r}, "
                                        "which does not exist", ana.name, "likelihood", "the name of a likelihood"))
            else:
                anode.deps.append(ana.likelihood)
                self.edges.append(Edge(ana.name, ana.likelihood, "likelihood"))
            for i, dom in enumerate(ana.domains):
                if dom not in domain_names:
                    problems.append(Problem(f"{ana.path}.domains[{i}]",
                                            f"analysis {ana.name!r} refers to domain {dom!r}, which does not exist",
                                            ana.name, "domains", "the name of a domain"))
            if ana.init is not None and ana.init not in point_names:
                problems.append(Problem(f"{ana.path}.init",
                                        f"analysis {ana.name!r} refers to parameter point {ana.init!r}, "
                                        "which does not exist", ana.name, "init", "the name of a parameter point"))

        if problems:
            raise HS3ReferenceError(problems)
        self.order = self._topological_order()

    def _topological_order(self) -> list[str]:
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for node in self.nodes.values():
            if node.kind in ("distribution", "function", "parameter"):
                sorter.add(node.name, *[d for d in node.deps if self.nodes[d].kind != "data"])
        try:
            return list(sorter.static_order())
        except graphlib.CycleError as exc:
            cycle = list(exc.args[1])
            path = " -> ".join(cycle)
            first = self.nodes[cycle[0]]
            raise CycleError([Problem(first.path, f"reference cycle: {path}", first.name, None,
                                      "references without cycles")]) from None

    # -- queries -------------------------------------------------------------------------

    @cached_property
    def parameters(self) -> list[str]:
        """Free parameters (names referenced but not defined), in topological order."""
        return [n for n in self.order if self.nodes[n].kind == "parameter"]

    @cached_property
    def _leaves(self) -> dict[str, frozenset[str]]:
        out: dict[str, frozenset[str]] = {}
        for name in self.order:
            node = self.nodes[name]
            if node.kind == "parameter":
                out[name] = frozenset((name,))
            else:
                acc: set[str] = set()
                for d in node.deps:
                    acc |= out.get(d, frozenset())
                out[name] = frozenset(acc)
        return out

    def leaves(self, name: str) -> frozenset[str]:
        """Every free parameter (or observable) that ``name`` depends on, directly or not."""
        return self._leaves.get(name, frozenset())

    @cached_property
    def _descendants(self) -> dict[str, frozenset[str]]:
        out: dict[str, frozenset[str]] = {}
        for name in self.order:
            node = self.nodes[name]
            acc: set[str] = set()
            for d in node.deps:
                acc.add(d)
                acc |= out.get(d, frozenset())
            out[name] = frozenset(acc)
        return out

    def descendants(self, name: str) -> frozenset[str]:
        """Every object and parameter that ``name`` depends on."""
        return self._descendants.get(name, frozenset())

    def dependents(self, names: Iterable[str]) -> set[str]:
        """Every object whose value depends on one of ``names``."""
        targets = set(names)
        return {n for n, desc in self._descendants.items() if desc & targets}

    def to_dict(self) -> dict[str, Any]:
        """Nodes and edges as plain JSON (for the widget and the JupyterLab viewer)."""
        return {
            "nodes": [{"id": n.name, "kind": n.kind, "type": n.type, "path": n.path} for n in self.nodes.values()],
            "edges": [{"source": e.source, "target": e.target, "field": e.field} for e in self.edges],
        }
