"""The user-facing workspace: load, browse, evaluate, save.

>>> import pyhs3_lab
>>> ws = pyhs3_lab.Workspace(metadata={"hs3_version": "0.2"}, distributions=[
...     {"name": "g", "type": "gaussian_dist", "x": "x", "mean": 0.0, "sigma": 1.0}],
...     domains=[{"name": "d", "type": "product_domain", "axes": [{"name": "x", "min": -10, "max": 10}]}])
>>> round(ws.model().pdf("g", x=0.0), 6)
0.398942
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from . import io
from .compile import Compiled
from .errors import EvaluationError
from .gcpause import gc_paused
from .graph import Graph
from .model import Model
from .spec import (
    Analysis,
    Data,
    Distribution,
    Domain,
    Function,
    Likelihood,
    Metadata,
    ParameterPoint,
    WorkspaceSpec,
    validate,
)

if TYPE_CHECKING:
    from .likelihood import Analysis as AnalysisObject
    from .likelihood import Likelihood as LikelihoodObject


class LikelihoodChoice(NamedTuple):
    """What :meth:`Workspace.default_likelihood` chose, and why."""

    #: the likelihood (None: the workspace has none)
    likelihood: LikelihoodObject | None
    #: parameters of interest (of the chosen analysis, or of every analysis of a summed likelihood)
    parameters_of_interest: list[str]
    #: a sentence saying what was chosen
    why: str
    #: True where other likelihoods were equally possible (alternatives on the same distributions)
    ambiguous: bool


class Workspace:
    """An HS3 workspace, validated on construction.

    ``Workspace(**data)`` takes the top-level keys of an HS3 document;
    :meth:`load` takes a path, a JSON string, bytes or a dict.
    """

    def __init__(self, **data: Any) -> None:
        with gc_paused():
            self._setup(io.read(dict(data)), strict=False)

    def _setup(self, raw: dict[str, Any], *, strict: bool) -> None:
        self._spec: WorkspaceSpec = validate(raw, strict=strict)
        self._graph = Graph(self._spec)
        self._compiled: dict[str, Compiled] = {}

    @classmethod
    def load(cls, source: io.Source, *, strict: bool = False) -> Workspace:
        """Load from a path (``str`` or ``Path``), a JSON text, bytes, or a dict.

        ``strict=True`` also refuses what HS3 requires but real files sometimes lack
        (``metadata.hs3_version``); by default that is only a warning (``ws.spec.warnings``).
        """
        ws = cls.__new__(cls)
        with gc_paused():
            ws._setup(io.read(source), strict=strict)
        return ws

    @classmethod
    def from_pyhf(cls, spec: io.Source, measurement: str | None = None, **options: Any) -> Workspace:
        """Convert a pyhf JSON workspace (a dict, a path or JSON text; see
        :func:`pyhs3_lab.pyhf_convert.pyhf_to_hs3`).

        The result is evaluated with pyhf's conventions by default (:attr:`default_conventions`),
        so that it reproduces pyhf's numbers; ``options`` (``modifier_settings``) go to the conversion.
        """
        from .pyhf_convert import pyhf_to_hs3

        ws = cls.__new__(cls)
        with gc_paused():
            # the conversion is a new dict (built from a copy of ``spec``): no second copy
            ws._setup(pyhf_to_hs3(io.read(spec), measurement, **options), strict=False)
        return ws

    # -- contents ------------------------------------------------------------------------

    @property
    def spec(self) -> WorkspaceSpec:
        return self._spec

    @property
    def graph(self) -> Graph:
        return self._graph

    @property
    def metadata(self) -> Metadata:
        return self._spec.metadata

    @property
    def distributions(self) -> list[Distribution]:
        return self._spec.distributions

    @property
    def functions(self) -> list[Function]:
        return self._spec.functions

    @property
    def domains(self) -> list[Domain]:
        return self._spec.domains

    @property
    def parameter_points(self) -> list[ParameterPoint]:
        return self._spec.parameter_points

    @property
    def data(self) -> list[Data]:
        return self._spec.data

    @property
    def likelihoods(self) -> list[Likelihood]:
        return self._spec.likelihoods

    @property
    def analyses(self) -> list[Analysis]:
        return self._spec.analyses

    @property
    def misc(self) -> dict[str, Any]:
        return self._spec.misc

    @cached_property
    def parameter_names(self) -> list[str]:
        return list(self._graph.parameters)

    def __getitem__(self, name: str) -> Any:
        comp = self._spec.component(name)
        if comp is not None:
            return comp
        for group in (self.data, self.likelihoods, self.analyses, self.domains, self.parameter_points):
            for item in group:
                if item.name == name:
                    return item
        raise KeyError(name)

    # -- evaluation ----------------------------------------------------------------------

    @property
    def default_conventions(self) -> str:
        """The HistFactory conventions used when none are asked for: "pyhf" for a workspace that
        :meth:`from_pyhf` wrote (so that it gives pyhf's numbers), "root" otherwise."""
        from .pyhf_convert import CONVERTER

        return "pyhf" if self._spec.writer == CONVERTER else "root"

    def compiled(self, conventions: str | None = None) -> Compiled:
        """Kernels for this workspace (``conventions``: "root" or "pyhf" HistFactory defaults;
        default: :attr:`default_conventions`)."""
        conventions = self.default_conventions if conventions is None else conventions
        if conventions not in ("root", "pyhf"):
            raise EvaluationError(f"conventions must be 'root' or 'pyhf', not {conventions!r}")
        if conventions not in self._compiled:
            self._compiled[conventions] = Compiled(self._spec, self._graph, {"conventions": conventions})
        return self._compiled[conventions]

    def model(self, domain: str | None = None, parameter_set: str | None = None, *,
              observables: list[str] | None = None, conventions: str | None = None) -> Model:
        """A :class:`Model` with ranges from ``domain`` and values from ``parameter_set``.

        Both are optional: ROOT's ``default_domain`` / ``default_values`` are used,
        otherwise the first ones; names missing there are taken from the others.
        """
        with gc_paused():
            return Model(self, self.compiled(conventions), domain=domain, parameter_set=parameter_set,
                         observables=observables)

    def likelihood(self, name: str | list[str] | tuple[str, ...] | None = None, *,
                   distributions: list[str] | None = None, data: list[str | float] | None = None,
                   aux_distributions: list[str] | tuple[str, ...] = (), domain: str | None = None,
                   parameter_set: str | None = None, conventions: str | None = None) -> LikelihoodObject:
        """A :class:`~pyhs3_lab.likelihood.Likelihood`: by name, several names (summed), the only
        one (no name), or ad hoc from ``distributions`` and ``data`` (paired in order)."""
        from .likelihood import build_likelihood

        with gc_paused():
            return build_likelihood(self, name, distributions=distributions, data=data,
                                    aux_distributions=aux_distributions, domain=domain, parameter_set=parameter_set,
                                    conventions=self.default_conventions if conventions is None else conventions)

    def analysis(self, name: str | None = None, *, conventions: str | None = None) -> AnalysisObject:
        """An :class:`~pyhs3_lab.likelihood.Analysis`: its likelihood with the analysis' parameters of
        interest, domains and start values (``init``)."""
        from .likelihood import build_analysis

        with gc_paused():
            return build_analysis(self, name,
                                  conventions=self.default_conventions if conventions is None else conventions)

    def default_likelihood(self, conventions: str | None = None) -> LikelihoodChoice:
        """What to fit when the user names no likelihood (the Explorer and ``pyhs3-lab fit`` agree on it).

        The only likelihood (through its analysis if it has one); with several that share no
        distribution (one likelihood per channel, as the pyhs3-benchmarks files and ROOT's
        per-channel exports have them), their sum, which is ROOT's combined NLL up to a constant;
        with several on the same distributions (alternatives, e.g. observed and Asimov data), the
        first analysis' likelihood, or the first likelihood, and ``ambiguous`` is True. No
        likelihood: ``likelihood`` is None.
        """
        conv = self.default_conventions if conventions is None else conventions
        liks = list(self._spec.likelihoods)
        analyses = list(self._spec.analyses)
        names = [lk.name for lk in liks]
        if not names:
            return LikelihoodChoice(None, [], "the workspace has no likelihood", False)
        if len(names) == 1:
            own = [a for a in analyses if a.likelihood == names[0]]
            if own:
                ana = self.analysis(own[0].name, conventions=conv)
                return LikelihoodChoice(ana.likelihood, list(ana.parameters_of_interest),
                                        f"analysis {own[0].name!r}, of the only likelihood {names[0]!r}", False)
            return LikelihoodChoice(self.likelihood(names[0], conventions=conv), [],
                                    f"the only likelihood {names[0]!r}", False)
        dist_sets = [set(lk.distributions) for lk in liks]
        if sum(len(s) for s in dist_sets) == len(set().union(*dist_sets)):
            pois = [p for a in analyses for p in a.parameters_of_interest]
            return LikelihoodChoice(self.likelihood(names, conventions=conv), list(dict.fromkeys(pois)),
                                    f"the sum of the {len(names)} likelihoods (they share no distribution: "
                                    "one per channel)", False)
        if analyses:
            ana = self.analysis(analyses[0].name, conventions=conv)
            return LikelihoodChoice(ana.likelihood, list(ana.parameters_of_interest),
                                    f"the first analysis {analyses[0].name!r} (the {len(names)} likelihoods "
                                    "share distributions: alternatives, not channels)", True)
        return LikelihoodChoice(self.likelihood(names[0], conventions=conv), [],
                                f"the first likelihood {names[0]!r} (the {len(names)} likelihoods share "
                                "distributions: alternatives, not channels)", True)

    def explore(self, **kwargs: Any) -> Any:
        """An interactive :class:`~pyhs3_lab.widget.Explorer` of this workspace (needs the ``widget``
        extra); keywords: ``likelihood=``, ``analysis=``."""
        from .widget import Explorer

        return Explorer(self, **kwargs)

    # -- saving --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The workspace as a dict; every key of the input is kept."""
        return self._spec.to_dict()

    def dump(self, path: str | os.PathLike[str], indent: int | None = 2) -> None:
        io.write(self.to_dict(), path, indent)

    def __repr__(self) -> str:
        return (f"<Workspace hs3_version={self.metadata.hs3_version!r}: {len(self.distributions)} distributions, "
                f"{len(self.functions)} functions, {len(self.data)} data, {len(self.likelihoods)} likelihoods, "
                f"{len(self.parameter_names)} parameters>")
