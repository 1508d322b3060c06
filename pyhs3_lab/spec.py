"""Stage 2: a plain dict to a validated, typed HS3 workspace.

Every problem of a file is collected and reported at once (:class:`SchemaError`),
each with its JSON path. Unknown keys are kept: the typed objects are views on the
original dict, and :meth:`WorkspaceSpec.to_dict` returns every key that was read.
Types that pyhs3_lab does not know are *not* schema errors (the file still loads,
browses and round-trips); evaluating them raises :class:`UnsupportedTypeError`.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import registry
from .errors import Problem, SchemaError
from .registry import Kind

Number = float
Ref = str | float

TOP_LEVEL_LISTS = (
    "distributions",
    "functions",
    "data",
    "likelihoods",
    "domains",
    "parameter_points",
    "analyses",
)


def as_number(value: Any) -> float | None:
    """A JSON number, or a numeric string such as ``"1.0"`` (ROOT writes those), as float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text or not (text[0].isdigit() or text[0] in "+-."):
            return None
        try:
            return float(text)
        except ValueError:
            return None
    return None


def as_ref(value: Any) -> Ref | None:
    """A reference: a name (str) or a number. Numeric strings become numbers."""
    num = as_number(value)
    if num is not None:
        return num
    if isinstance(value, str) and value:
        return value
    return None


@dataclass(frozen=True)
class Component:
    """A distribution or a function: ``name``, ``type`` and its other fields (``raw``)."""

    name: str
    type: str
    raw: Mapping[str, Any]
    path: str
    category: str

    @property
    def info(self) -> registry.TypeInfo | None:
        return registry.lookup(self.type)

    @property
    def parameters(self) -> dict[str, Any]:
        """The fields that hold references or numbers: field -> name or number (lists kept as lists)."""
        info = self.info
        out: dict[str, Any] = {}
        for key, value in self.raw.items():
            if key in ("name", "type"):
                continue
            if info is not None and key in info.fields:
                kind = info.fields[key].kind
                if kind in (Kind.REF, Kind.DIST, Kind.FUNC):
                    out[key] = as_ref(value)
                elif kind in (Kind.REF_LIST, Kind.DIST_LIST, Kind.FUNC_LIST) and isinstance(value, list):
                    out[key] = [as_ref(v) for v in value]
                elif kind is Kind.REF_MATRIX and isinstance(value, list):
                    out[key] = [[as_ref(v) for v in row] if isinstance(row, list) else row for row in value]
            elif info is None and isinstance(value, str | int | float) and not isinstance(value, bool):
                out[key] = as_ref(value)
        return out

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)


class Distribution(Component):
    pass


class Function(Component):
    pass


@dataclass(frozen=True)
class Axis:
    name: str
    min: float | None = None
    max: float | None = None
    nbins: int | None = None
    edges: tuple[float, ...] | None = None

    @property
    def bounds(self) -> tuple[float, float]:
        lo = -math.inf if self.min is None else self.min
        hi = math.inf if self.max is None else self.max
        return lo, hi

    @property
    def binned(self) -> bool:
        """True if the axis has a usable binning (edges, or nbins with finite min and max)."""
        return self.edges is not None or (self.nbins is not None and self.min is not None and self.max is not None)

    @property
    def bin_edges(self) -> tuple[float, ...]:
        if self.edges is not None:
            return self.edges
        if self.nbins is not None and self.min is not None and self.max is not None:
            step = (self.max - self.min) / self.nbins
            return (*(self.min + i * step for i in range(self.nbins)), self.max)
        raise ValueError(f"axis {self.name!r} has no binning")

    @property
    def n_bins(self) -> int:
        return len(self.bin_edges) - 1


@dataclass(frozen=True)
class Domain:
    name: str
    type: str
    axes: tuple[Axis, ...]
    path: str

    def bounds(self) -> dict[str, tuple[float, float]]:
        return {a.name: a.bounds for a in self.axes}


@dataclass(frozen=True)
class Parameter:
    name: str
    value: float
    const: bool = False


@dataclass(frozen=True)
class ParameterPoint:
    name: str
    parameters: tuple[Parameter, ...]
    path: str

    def values(self) -> dict[str, float]:
        return {p.name: p.value for p in self.parameters}


@dataclass(frozen=True)
class Data:
    """One data object: ``point``, ``unbinned`` or ``binned``."""

    name: str
    type: str
    raw: Mapping[str, Any]
    path: str
    axes: tuple[Axis, ...] = ()

    @property
    def observables(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)


@dataclass(frozen=True)
class Likelihood:
    name: str
    distributions: tuple[str, ...]
    data: tuple[str | float, ...]
    aux_distributions: tuple[str, ...]
    path: str
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class Analysis:
    name: str
    likelihood: str
    parameters_of_interest: tuple[str, ...]
    domains: tuple[str, ...]
    init: str | None
    prior: str | None
    path: str
    raw: Mapping[str, Any]


@dataclass(frozen=True)
class Metadata:
    hs3_version: str
    packages: tuple[Mapping[str, Any], ...] = ()
    authors: tuple[str, ...] = ()
    publications: tuple[str, ...] = ()
    description: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class WorkspaceSpec:
    """A validated HS3 workspace: typed views on the original dict."""

    raw: dict[str, Any]
    metadata: Metadata
    distributions: list[Distribution]
    functions: list[Function]
    data: list[Data]
    likelihoods: list[Likelihood]
    domains: list[Domain]
    parameter_points: list[ParameterPoint]
    analyses: list[Analysis]
    misc: dict[str, Any]
    #: problems that do not stop loading (unsupported types, ignored keys)
    warnings: list[Problem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The workspace as a dict with every key that was read (a deep copy)."""
        return copy.deepcopy(self.raw)

    def components(self) -> Iterator[Component]:
        yield from self.distributions
        yield from self.functions

    def component(self, name: str) -> Component | None:
        for comp in self.components():
            if comp.name == name:
                return comp
        return None

    @property
    def root_attributes(self) -> dict[str, Any]:
        """``misc.ROOT_internal.attributes`` (empty if absent)."""
        internal = self.misc.get("ROOT_internal") if isinstance(self.misc, dict) else None
        attrs = internal.get("attributes") if isinstance(internal, dict) else None
        return attrs if isinstance(attrs, dict) else {}

    def root_constant(self, name: str) -> bool:
        """True if ``misc.ROOT_internal.attributes.<name>.tags`` holds ``Constant``."""
        attr = self.root_attributes.get(name)
        tags = attr.get("tags") if isinstance(attr, dict) else None
        return isinstance(tags, list) and "Constant" in tags

    @property
    def writer(self) -> str | None:
        """Name of the package that wrote the file (``metadata.packages[0].name``), if given."""
        for pkg in self.metadata.packages:
            name = pkg.get("name") if isinstance(pkg, Mapping) else None
            if isinstance(name, str):
                return name
        return None


# --------------------------------------------------------------------------------------
# validation


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def add(self, path: str, message: str, *, name: str | None = None, field: str | None = None,
            expected: str | None = None) -> None:
        self.problems.append(Problem(path, message, name, field, expected))

    def warn(self, path: str, message: str, *, name: str | None = None, field: str | None = None) -> None:
        self.warnings.append(Problem(path, message, name, field))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _check_field(kind: Kind, value: Any) -> bool:
    def is_ref(v: Any) -> bool:
        return as_ref(v) is not None

    def is_name(v: Any) -> bool:
        return isinstance(v, str) and bool(v)

    def is_num(v: Any) -> bool:
        return as_number(v) is not None

    if kind is Kind.REF:
        return is_ref(value)
    if kind is Kind.REF_LIST:
        return isinstance(value, list) and all(is_ref(v) for v in value)
    if kind is Kind.REF_MATRIX:
        return isinstance(value, list) and all(isinstance(r, list) and all(is_ref(v) for v in r) for r in value)
    if kind in (Kind.DIST, Kind.FUNC, Kind.STRING, Kind.EXPRESSION):
        return is_name(value)
    if kind in (Kind.DIST_LIST, Kind.FUNC_LIST):
        return isinstance(value, list) and all(is_name(v) for v in value)
    if kind is Kind.NUMBER:
        return is_num(value)
    if kind is Kind.NUMBER_LIST:
        return isinstance(value, list) and all(is_num(v) for v in value)
    if kind is Kind.INT:
        num = as_number(value)
        return num is not None and float(num).is_integer()
    if kind is Kind.INT_LIST:
        return isinstance(value, list) and all(_check_field(Kind.INT, v) for v in value)
    if kind is Kind.BOOL:
        return isinstance(value, bool) or value in (0, 1)
    if kind is Kind.OBJECT:
        return isinstance(value, dict)
    if kind is Kind.LIST:
        return isinstance(value, list)
    return True


def _axis(c: _Collector, raw: Any, path: str, *, binned: bool | None) -> Axis | None:
    if not isinstance(raw, dict):
        c.add(path, f"an axis must be an object, got {_type_name(raw)}", expected="{name, min, max}")
        return None
    raw_name = raw.get("name")
    name = raw_name if isinstance(raw_name, str) and raw_name else "?"
    if name == "?":
        c.add(f"{path}.name", "missing or empty axis name", expected="a string")
    lo: float | None = None
    hi: float | None = None
    for key in ("min", "max"):
        if key in raw and raw[key] is not None:
            val = as_number(raw[key])
            if val is None:
                c.add(f"{path}.{key}", f"axis {name!r}: {key} is {_type_name(raw[key])}", field=key,
                      expected="a number or null")
            elif key == "min":
                lo = val
            else:
                hi = val
    if lo is not None and hi is not None and lo > hi:
        c.add(path, f"axis {name!r} has min > max ({lo} > {hi})", field="min", expected="min <= max")
    nbins = None
    edges: tuple[float, ...] | None = None
    if "nbins" in raw:
        if not _check_field(Kind.INT, raw["nbins"]) or int(as_number(raw["nbins"]) or 0) < 1:
            c.add(f"{path}.nbins", f"axis {name!r}: nbins is {_type_name(raw['nbins'])}", field="nbins",
                  expected="a positive integer")
        else:
            nbins = int(as_number(raw["nbins"]) or 0)
            if lo is None or hi is None:
                c.add(path, f"axis {name!r} has nbins but no finite min/max", expected="min and max with nbins")
    edge_key = "edges" if "edges" in raw else ("bounds" if "bounds" in raw else None)
    if edge_key is not None:
        vals = raw[edge_key]
        if not _check_field(Kind.NUMBER_LIST, vals) or len(vals) < 2:
            c.add(f"{path}.{edge_key}", f"axis {name!r}: {edge_key} must be a list of at least two numbers",
                  field=edge_key, expected="ascending bin edges")
        else:
            edges = tuple(float(as_number(v) or 0.0) for v in vals)
            if any(b <= a for a, b in itertools.pairwise(edges)):
                c.add(f"{path}.{edge_key}", f"axis {name!r}: bin edges are not strictly ascending", field=edge_key,
                      expected="strictly ascending edges")
            if lo is None:
                lo = edges[0]
            if hi is None:
                hi = edges[-1]
    if binned is True and nbins is None and edges is None:
        c.add(path, f"binned axis {name!r} has neither nbins nor edges", expected="nbins (with min, max) or edges")
    return Axis(name=name, min=lo, max=hi, nbins=nbins, edges=edges)


def _component(c: _Collector, raw: Any, path: str, category: str) -> Component | None:
    if not isinstance(raw, dict):
        c.add(path, f"expected an object, got {_type_name(raw)}", expected="an object with name and type")
        return None
    name = raw.get("name")
    ok = True
    if not isinstance(name, str) or not name:
        c.add(f"{path}.name", f"missing or invalid name ({_type_name(name)})", field="name", expected="a string")
        ok = False
    type_ = raw.get("type")
    if not isinstance(type_, str) or not type_:
        c.add(f"{path}.type", f"missing or invalid type ({_type_name(type_)})", name=name if ok else None,
              field="type", expected="an HS3 type string")
        return None
    if not ok:
        return None
    assert isinstance(name, str)
    info = registry.lookup(type_)
    if info is None:
        c.warn(path, f"HS3 type {type_!r} is not supported by pyhs3_lab; the object loads but cannot be evaluated",
               name=name, field="type")
    else:
        if info.category != category:
            c.add(f"{path}.type", f"{type_!r} is a {info.category} type, but it is listed under {category}s",
                  name=name, field="type", expected=f"a {category} type")
        for key, spec in info.fields.items():
            if key not in raw:
                if spec.required:
                    c.add(f"{path}.{key}", f"{type_} {name!r} has no field {key!r}", name=name, field=key,
                          expected=spec.kind.value)
                continue
            if not _check_field(spec.kind, raw[key]):
                c.add(f"{path}.{key}", f"{type_} {name!r}: field {key!r} is {_type_name(raw[key])}", name=name,
                      field=key, expected=spec.kind.value)
        for check in info.checks:
            for fld, msg in check(raw):
                c.add(f"{path}.{fld}" if fld else path, f"{type_} {name!r}: {msg}", name=name, field=fld)
    cls = Distribution if category == "distribution" else Function
    return cls(name=name, type=type_, raw=raw, path=path, category=category)


def _rows_of_numbers(entries: list[Any], width: int) -> bool:
    """True if every entry is a list of ``width`` JSON numbers (int or float, not bool): the common
    case checked at C speed (a million entries in ~0.1 s); otherwise the caller finds the bad entry."""
    if not all(type(row) is list and len(row) == width for row in entries):
        return False
    types: set[type] = set()
    for j in range(width):
        types.update(map(type, [row[j] for row in entries]))
    return types <= {float, int}


def _data(c: _Collector, raw: Any, path: str) -> Data | None:
    if not isinstance(raw, dict):
        c.add(path, f"expected an object, got {_type_name(raw)}", expected="a data object")
        return None
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        c.add(f"{path}.name", "missing or invalid data name", field="name", expected="a string")
        return None
    type_ = raw.get("type")
    if type_ not in ("point", "unbinned", "binned"):
        c.add(f"{path}.type", f"data {name!r} has type {_type_name(type_)}", name=name, field="type",
              expected="'point', 'unbinned' or 'binned'")
        return None
    axes: list[Axis] = []
    raw_axes = raw.get("axes", [])
    if not isinstance(raw_axes, list):
        c.add(f"{path}.axes", f"data {name!r}: axes is {_type_name(raw_axes)}", name=name, field="axes",
              expected="a list of axes")
        raw_axes = []
    for i, ax in enumerate(raw_axes):
        a = _axis(c, ax, f"{path}.axes[{i}]", binned=(type_ == "binned"))
        if a is not None:
            axes.append(a)
    if type_ == "point":
        if as_number(raw.get("value")) is None:
            c.add(f"{path}.value", f"point data {name!r} has no numeric value", name=name, field="value",
                  expected="a number")
    elif type_ == "unbinned":
        entries = raw.get("entries")
        if not isinstance(entries, list):
            c.add(f"{path}.entries", f"unbinned data {name!r} has no entries list", name=name, field="entries",
                  expected="a list of lists of numbers")
        else:
            if not raw_axes:
                c.add(f"{path}.axes", f"unbinned data {name!r} has no axes", name=name, field="axes",
                      expected="one axis per column of entries")
            width = len(axes)
            for i, row in enumerate([] if _rows_of_numbers(entries, width) else entries):
                if not isinstance(row, list) or len(row) != width or any(as_number(v) is None for v in row):
                    c.add(f"{path}.entries[{i}]", f"unbinned data {name!r}: entry is {_type_name(row)}",
                          name=name, field="entries", expected=f"a list of {width} numbers (one per axis)")
                    break
            weights = raw.get("weights")
            if weights is not None and (not _check_field(Kind.NUMBER_LIST, weights) or len(weights) != len(entries)):
                c.add(f"{path}.weights", f"unbinned data {name!r}: weights do not match entries", name=name,
                      field="weights", expected=f"a list of {len(entries)} numbers")
    else:
        contents = raw.get("contents")
        if not _check_field(Kind.NUMBER_LIST, contents):
            c.add(f"{path}.contents", f"binned data {name!r}: contents is {_type_name(contents)}", name=name,
                  field="contents", expected="a list of numbers")
        elif axes and all(a.binned for a in axes):
            n = 1
            for a in axes:
                n *= a.n_bins
            if contents is not None and len(contents) != n:
                c.add(f"{path}.contents", f"binned data {name!r} has {len(contents)} contents for {n} bins",
                      name=name, field="contents", expected=f"{n} numbers (the product of the axes' bin counts)")
    return Data(name=name, type=type_, raw=raw, path=path, axes=tuple(axes))


def _str_list(c: _Collector, raw: Mapping[str, Any], key: str, path: str, name: str, *, required: bool,
              numbers_ok: bool = False) -> tuple[Any, ...]:
    if key not in raw:
        if required:
            c.add(f"{path}.{key}", f"{name!r} has no {key}", name=name, field=key, expected="a list of names")
        return ()
    val = raw[key]
    if not isinstance(val, list):
        c.add(f"{path}.{key}", f"{name!r}: {key} is {_type_name(val)}", name=name, field=key,
              expected="a list of names")
        return ()
    out: list[Any] = []
    for i, v in enumerate(val):
        if isinstance(v, str) and v:
            out.append(v)
        elif numbers_ok and as_number(v) is not None:
            out.append(as_number(v))
        else:
            c.add(f"{path}.{key}[{i}]", f"{name!r}: entry is {_type_name(v)}", name=name, field=key,
                  expected="a name" + (" or a number" if numbers_ok else ""))
    return tuple(out)


def validate(raw: dict[str, Any], *, strict: bool = False) -> WorkspaceSpec:
    """Validate a workspace dict; raise :class:`SchemaError` listing every problem.

    HS3 requires ``metadata.hs3_version``, and ROOT refuses files without it; some real
    files (HS3.jl's ``histfactory_hl.json``) have no metadata at all. With ``strict=False``
    (the default, so that every real file can be opened) its absence is a warning in
    ``WorkspaceSpec.warnings`` and the file is read as the current version; with
    ``strict=True`` (``pyhs3-lab validate``) it is a problem like any other.
    """
    c = _Collector()
    lenient = _Collector()  # problems that strict=False only warns about
    if not isinstance(raw, dict):
        raise SchemaError([Problem("", f"a workspace is a JSON object, got {_type_name(raw)}")])

    meta_raw = raw.get("metadata")
    metadata = Metadata(hs3_version="?")
    if meta_raw is None:
        lenient.add("metadata", "the workspace has no metadata (read as HS3 0.2)", field="metadata",
                    expected='{"hs3_version": "0.2", ...} (required by HS3)')
    elif not isinstance(meta_raw, dict):
        c.add("metadata", f"metadata is {_type_name(meta_raw)}", field="metadata", expected="an object")
    else:
        version = meta_raw.get("hs3_version")
        if version is None:
            lenient.add("metadata.hs3_version", "metadata has no hs3_version (read as HS3 0.2)",
                        field="hs3_version", expected='a version string such as "0.2" (required by HS3)')
            version = "?"
        elif not isinstance(version, str) or not version:
            c.add("metadata.hs3_version", f"hs3_version is {_type_name(version)}", field="hs3_version",
                  expected='a version string such as "0.2"')
            version = "?"
        elif not version.startswith("0."):
            c.warn("metadata.hs3_version", f"HS3 version {version!r} is newer than pyhs3_lab knows (0.1.90-0.2.x)")
        pkgs = meta_raw.get("packages", [])
        authors = meta_raw.get("authors", [])
        pubs = meta_raw.get("publications", [])
        desc = meta_raw.get("description")
        metadata = Metadata(
            hs3_version=version,
            packages=tuple(p for p in pkgs if isinstance(p, dict)) if isinstance(pkgs, list) else (),
            authors=tuple(a for a in authors if isinstance(a, str)) if isinstance(authors, list) else (),
            publications=tuple(p for p in pubs if isinstance(p, str)) if isinstance(pubs, list) else (),
            description=desc if isinstance(desc, str) else None,
            raw=meta_raw,
        )

    lists: dict[str, list[Any]] = {}
    for key in TOP_LEVEL_LISTS:
        val = raw.get(key, [])
        if not isinstance(val, list):
            c.add(key, f"{key} is {_type_name(val)}", field=key, expected="a list")
            val = []
        lists[key] = val

    distributions = [d for i, r in enumerate(lists["distributions"])
                     if isinstance(d := _component(c, r, f"distributions[{i}]", "distribution"), Distribution)]
    functions = [f for i, r in enumerate(lists["functions"])
                 if isinstance(f := _component(c, r, f"functions[{i}]", "function"), Function)]
    data = [dobj for i, r in enumerate(lists["data"]) if (dobj := _data(c, r, f"data[{i}]")) is not None]

    domains: list[Domain] = []
    for i, r in enumerate(lists["domains"]):
        path = f"domains[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            c.add(path, "a domain must be an object with a name", expected="{name, type, axes}")
            continue
        dtype = r.get("type", "product_domain")
        if dtype != "product_domain":
            c.add(f"{path}.type", f"domain {r['name']!r} has type {_type_name(dtype)}", name=r["name"], field="type",
                  expected="'product_domain'")
        axes_raw = r.get("axes", [])
        if not isinstance(axes_raw, list):
            c.add(f"{path}.axes", f"domain {r['name']!r}: axes is {_type_name(axes_raw)}", name=r["name"],
                  field="axes", expected="a list of axes")
            axes_raw = []
        axes = tuple(a for j, ax in enumerate(axes_raw) if (a := _axis(c, ax, f"{path}.axes[{j}]", binned=None)))
        domains.append(Domain(name=r["name"], type=str(dtype), axes=axes, path=path))

    points: list[ParameterPoint] = []
    for i, r in enumerate(lists["parameter_points"]):
        path = f"parameter_points[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            c.add(path, "a parameter point must be an object with a name", expected="{name, parameters}")
            continue
        pars: list[Parameter] = []
        plist = r.get("parameters", [])
        if not isinstance(plist, list):
            c.add(f"{path}.parameters", f"parameter point {r['name']!r}: parameters is {_type_name(plist)}",
                  name=r["name"], field="parameters", expected="a list of {name, value}")
            plist = []
        for j, p in enumerate(plist):
            ppath = f"{path}.parameters[{j}]"
            if not isinstance(p, dict) or not isinstance(p.get("name"), str):
                c.add(ppath, "a parameter must be an object with a name", name=r["name"], expected="{name, value}")
                continue
            value = as_number(p.get("value"))
            if value is None:
                c.add(f"{ppath}.value", f"parameter {p['name']!r} has value {_type_name(p.get('value'))}",
                      name=r["name"], field="value", expected="a number")
                continue
            const = p.get("const", False)
            if not isinstance(const, bool):
                c.add(f"{ppath}.const", f"parameter {p['name']!r}: const is {_type_name(const)}", name=r["name"],
                      field="const", expected="a boolean")
                const = False
            pars.append(Parameter(p["name"], value, const))
        points.append(ParameterPoint(name=r["name"], parameters=tuple(pars), path=path))

    likelihoods: list[Likelihood] = []
    for i, r in enumerate(lists["likelihoods"]):
        path = f"likelihoods[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            c.add(path, "a likelihood must be an object with a name", expected="{name, distributions, data}")
            continue
        name = r["name"]
        dists = _str_list(c, r, "distributions", path, name, required=True)
        dat = _str_list(c, r, "data", path, name, required=True, numbers_ok=True)
        aux = _str_list(c, r, "aux_distributions", path, name, required=False)
        if len(dists) != len(dat):
            c.add(path, f"likelihood {name!r} pairs {len(dists)} distributions with {len(dat)} data entries",
                  name=name, field="data", expected="one data entry per distribution")
        likelihoods.append(Likelihood(name, dists, dat, aux, path, r))

    analyses: list[Analysis] = []
    for i, r in enumerate(lists["analyses"]):
        path = f"analyses[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            c.add(path, "an analysis must be an object with a name", expected="{name, likelihood, ...}")
            continue
        name = r["name"]
        lik = r.get("likelihood")
        if not isinstance(lik, str):
            c.add(f"{path}.likelihood", f"analysis {name!r} has no likelihood name", name=name, field="likelihood",
                  expected="the name of a likelihood")
            lik = ""
        pois = _str_list(c, r, "parameters_of_interest", path, name, required=False)
        if "domains" in r:
            doms = _str_list(c, r, "domains", path, name, required=False)
        elif isinstance(r.get("domain"), str):
            doms = (r["domain"],)
        else:
            doms = ()
        init = r.get("init")
        prior = r.get("prior")
        analyses.append(Analysis(name, lik, pois, doms, init if isinstance(init, str) else None,
                                 prior if isinstance(prior, str) else None, path, r))

    misc = raw.get("misc", {})
    if not isinstance(misc, dict):
        c.add("misc", f"misc is {_type_name(misc)}", field="misc", expected="an object")
        misc = {}

    # one namespace: distributions, functions, data, likelihoods, domains, parameter points, analyses
    seen: dict[str, str] = {}
    named: list[tuple[str, str]] = [(x.name, x.path) for x in [*distributions, *functions]]
    named += [(x.name, x.path) for x in data]
    named += [(x.name, x.path) for x in likelihoods]
    for kind, items in (("domain", domains), ("parameter point", points), ("analysis", analyses)):
        # names of these may repeat across kinds in real ROOT files (e.g. an analysis named after its likelihood)
        local: dict[str, str] = {}
        for item in items:
            if item.name in local:
                c.add(item.path, f"duplicate {kind} name {item.name!r} (also at {local[item.name]})",
                      name=item.name, field="name", expected="unique names")
            local[item.name] = item.path
    for name, path in named:
        if name in seen:
            c.add(path, f"duplicate name {name!r} (also at {seen[name]})", name=name, field="name",
                  expected="names unique across distributions, functions, data and likelihoods")
        else:
            seen[name] = path

    if strict:
        c.problems[:0] = lenient.problems
    else:
        c.warnings[:0] = lenient.problems
    if c.problems:
        raise SchemaError(c.problems)
    return WorkspaceSpec(
        raw=raw,
        metadata=metadata,
        distributions=distributions,
        functions=functions,
        data=data,
        likelihoods=likelihoods,
        domains=domains,
        parameter_points=points,
        analyses=analyses,
        misc=misc,
        warnings=c.warnings,
    )
