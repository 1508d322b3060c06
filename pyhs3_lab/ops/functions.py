"""Function kernels: every HS3 function type (hs3-semantics §3), as RooFit evaluates it.

Each kernel reads its fields once in the constructor and evaluates with numpy broadcasting:
parameters and observables may be scalars or arrays (data entries, quadrature nodes, scans).
Where ROOT's behaviour differs from the HS3 text, the kernel follows ROOT and says so.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from functools import reduce
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from ..errors import EvaluationError
from ..expr import parse
from ..gradient import chain
from ..integrate import log_integrate
from ..registry import Kind, opt, register, req
from ..spec import as_number, as_ref
from .base import Array, BuildContext, FunctionOp, Grad
from .interp import HISTOSYS_CODES, NORMSYS_CODES, flexible_interp_var, interpolation_code, piecewise_interpolation

if TYPE_CHECKING:
    from scipy.interpolate import PPoly

    from ..evaluate import Evaluator
    from ..plan import PlanBuilder
    from ..spec import Ref

Problems = list[tuple[str | None, str]]


def _f(x: Any) -> Array:
    return np.asarray(x, dtype=np.float64)


def _same_length(*keys: str) -> Any:
    """A registry check: the list fields ``keys`` (those present) have equal lengths."""

    def check(raw: Mapping[str, Any]) -> Problems:
        present = [(k, raw[k]) for k in keys if isinstance(raw.get(k), list)]
        if len({len(v) for _, v in present}) > 1:
            sizes = ", ".join(f"{k}: {len(v)}" for k, v in present)
            return [(present[-1][0], f"fields {', '.join(k for k, _ in present)} must have the same length ({sizes})")]
        return []

    return check


# -- sum, product, weighted sum, polynomial -------------------------------------------------------


@register("sum", "function", {"summands": req(Kind.REF_LIST, "terms to add")})
class Sum(FunctionOp):
    """Σ summands (RooAddition)."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.summands = ctx.refs("summands")

    def value(self, ev: Evaluator) -> Array:
        return _f(reduce(np.add, (ev.value(s) for s in self.summands), 0.0))

    def grad_value(self, ev: Evaluator, wrt: frozenset[str]) -> Grad | None:
        return chain(ev, [(s, 1.0) for s in self.summands], wrt)


@register("product", "function", {"factors": req(Kind.REF_LIST, "factors to multiply")})
class Product(FunctionOp):
    """Π factors (RooProduct)."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.factors = ctx.refs("factors")

    def value(self, ev: Evaluator) -> Array:
        return _f(reduce(np.multiply, (ev.value(s) for s in self.factors), 1.0))

    def plan(self, builder: PlanBuilder) -> Any:
        return builder.product(self.factors)

    def grad_value(self, ev: Evaluator, wrt: frozenset[str]) -> Grad | None:
        def others(i: int) -> Any:
            return reduce(np.multiply, (ev.value(s) for j, s in enumerate(self.factors) if j != i), 1.0)

        return chain(ev, [(s, lambda i=i: others(i)) for i, s in enumerate(self.factors)], wrt)


def _weighted_sum_check(raw: Mapping[str, Any]) -> Problems:
    s, c = raw.get("samples"), raw.get("coefficients")
    if isinstance(s, list) and isinstance(c, list) and len(c) not in (len(s), len(s) - 1):
        return [("coefficients", f"has {len(c)} entries for {len(s)} samples; expected {len(s)} or {len(s) - 1} "
                                 "(the last coefficient is then 1 minus the others)")]
    return []


@register("weighted_sum", "function",
          {"samples": req(Kind.REF_LIST), "coefficients": req(Kind.REF_LIST)},
          checks=(_weighted_sum_check,))
class WeightedSum(FunctionOp):
    """Σ cᵢ sᵢ (RooRealSumFunc). With one coefficient fewer than samples, the last
    coefficient is 1 − Σ cᵢ, as in RooFit."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.samples = ctx.refs("samples")
        self.coefficients = ctx.refs("coefficients")

    def value(self, ev: Evaluator) -> Array:
        coefs = [ev.value(c) for c in self.coefficients]
        if len(coefs) == len(self.samples) - 1:
            coefs.append(1.0 - reduce(np.add, coefs, 0.0))
        return _f(reduce(np.add, (c * ev.value(s) for c, s in zip(coefs, self.samples, strict=True)), 0.0))

    def grad_value(self, ev: Evaluator, wrt: frozenset[str]) -> Grad | None:
        parts: list[tuple[Any, Any]] = []
        fractions = len(self.coefficients) == len(self.samples) - 1
        last = self.samples[-1]
        for c, s in zip(self.coefficients, self.samples, strict=False):
            parts.append((s, lambda c=c: ev.value(c)))
            # d/dc of c·s (and, with fractions, of (1 - Σc)·s_last)
            parts.append((c, (lambda s=s: _f(ev.value(s)) - _f(ev.value(last))) if fractions
                          else (lambda s=s: ev.value(s))))
        if fractions:
            parts.append((last, lambda: 1.0 - reduce(np.add, (ev.value(c) for c in self.coefficients), 0.0)))
        return chain(ev, parts, wrt)


@register("polynomial", "function",
          {"x": req(Kind.REF), "coefficients": req(Kind.REF_LIST, "a₀ (constant term), a₁, ...")})
class Polynomial(FunctionOp):
    """Σ aᵢ xⁱ with ``coefficients[0]`` the constant term (RooPolyVar, not normalised).

    ROOT ≤ 6.41.01 exports RooPolyVar's ``lowestOrder`` as leading *string* coefficients
    ``"1.0", "0.0", ...`` and its importer (6.40) drops a leading string ``"1.0"`` (when more
    coefficients follow) instead of adding 1. We do the same, so that these files give
    RooFit's numbers; a numeric ``1.0`` is a constant term as the HS3 text says.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.x = ctx.ref("x")
        raw = list(ctx.raw("coefficients"))
        coefs = ctx.refs("coefficients")
        if len(raw) > 1 and isinstance(raw[0], str) and as_number(raw[0]) == 1.0:
            coefs[0] = 0.0
        self.coefficients = coefs

    def value(self, ev: Evaluator) -> Array:
        x = _f(ev.value(self.x))
        out: Any = 0.0
        for c in reversed(self.coefficients):  # Horner, over the (few) coefficients
            out = out * x + ev.value(c)
        return _f(out)

    def grad_value(self, ev: Evaluator, wrt: frozenset[str]) -> Grad | None:
        x = _f(ev.value(self.x))

        def d_x() -> Any:
            out: Any = 0.0
            for i in range(len(self.coefficients) - 1, 0, -1):
                out = out * x + i * _f(ev.value(self.coefficients[i]))
            return out

        return chain(ev, [(self.x, d_x), *((c, lambda i=i: x**i) for i, c in enumerate(self.coefficients))], wrt)


# -- expressions --------------------------------------------------------------------------------------


@register("generic_function", "function",
          {"expression": req(Kind.EXPRESSION), "axes": opt(Kind.LIST, "ROOT: optional binning, not used")},
          aliases=("generic",))
class GenericFunction(FunctionOp):
    """The value of an expression of parameters, functions and observables (RooFormulaVar)."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.expression = parse(ctx.raw("expression"))

    def value(self, ev: Evaluator) -> Array:
        return _f(self.expression.evaluate(ev.value))

    def plan(self, builder: PlanBuilder) -> Any:
        return builder.expression(self.expression)

    def grad_value(self, ev: Evaluator, wrt: frozenset[str]) -> Grad | None:
        expr = self.expression
        return chain(ev, [(v, lambda v=v: expr.derivative(v).evaluate(ev.value)) for v in sorted(expr.symbols)],
                     wrt)


# -- interpolation ------------------------------------------------------------------------------------


def _codes(ctx: BuildContext, n: int, target: Literal["normsys", "histosys"]) -> list[int]:
    """Interpolation codes from ``interpolationCodes`` (ROOT) or ``interpolations`` (pyhs3), default 0."""
    table = NORMSYS_CODES if target == "normsys" else HISTOSYS_CODES
    if ctx.has("interpolations"):
        specs = list(ctx.raw("interpolations"))
        if len(specs) == 1 and n != 1:
            specs = specs * n
        codes = [interpolation_code(s, target, path=f"{ctx.path('interpolations')}[{i}]")
                 for i, s in enumerate(specs)]
    elif ctx.has("interpolationCodes"):
        codes = [interpolation_code(int(as_number(c) or 0), target, path=f"{ctx.path('interpolationCodes')}[{i}]")
                 for i, c in enumerate(ctx.raw("interpolationCodes"))]
    else:
        codes = [0] * n  # the default of RooFit's constructors
    if len(codes) != n:
        raise EvaluationError(f"{ctx.path('interpolationCodes')}: {len(codes)} interpolation codes for {n} "
                              "parameters")
    assert all(c in table for c in codes)
    return codes


@register("interpolation", "function",
          {"vars": req(Kind.REF_LIST), "nom": req(Kind.REF), "high": req(Kind.REF_LIST), "low": req(Kind.REF_LIST),
           "interpolationCodes": opt(Kind.INT_LIST), "interpolations": opt(Kind.LIST, "pyhs3: per-parameter codes"),
           "positiveDefinite": opt(Kind.BOOL)},
          checks=(_same_length("vars", "high", "low", "interpolationCodes"),))
class PiecewiseInterpolationOp(FunctionOp):
    """PiecewiseInterpolation: the nominal (a function, e.g. a ``step``) varied by each parameter
    towards ``high`` / ``low`` with ROOT's codes 0-6, in order; clipped at 0 if ``positiveDefinite``."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.vars = ctx.refs("vars")
        self.nom = ctx.ref("nom")
        self.high = ctx.refs("high")
        self.low = ctx.refs("low")
        self.codes = _codes(ctx, len(self.vars), "histosys")
        self.positive_definite = bool(ctx.raw("positiveDefinite", False))

    def value(self, ev: Evaluator) -> Array:
        return piecewise_interpolation(self.codes, [ev.value(v) for v in self.vars], ev.value(self.nom),
                                       [ev.value(r) for r in self.low], [ev.value(r) for r in self.high],
                                       positive_definite=self.positive_definite)


@register("interpolation0d", "function",
          {"vars": req(Kind.REF_LIST), "nom": req(Kind.NUMBER), "high": req(Kind.NUMBER_LIST),
           "low": req(Kind.NUMBER_LIST), "interpolationCodes": opt(Kind.INT_LIST),
           "interpolations": opt(Kind.LIST, "pyhs3: per-parameter codes")},
          checks=(_same_length("vars", "high", "low", "interpolationCodes"),))
class FlexibleInterpVarOp(FunctionOp):
    """FlexibleInterpVar: a number varied by each parameter (codes 0-5; ROOT maps code 4 to the
    multiplicative poly6/exponential one); a non-positive total gives DBL_MIN as in ROOT."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.vars = ctx.refs("vars")
        self.nom = ctx.number("nom")
        self.high = [float(as_number(v) or 0.0) for v in ctx.raw("high")]
        self.low = [float(as_number(v) or 0.0) for v in ctx.raw("low")]
        self.codes = _codes(ctx, len(self.vars), "normsys")

    def value(self, ev: Evaluator) -> Array:
        return flexible_interp_var(self.codes, [ev.value(v) for v in self.vars], self.nom, self.low, self.high)


# -- binned functions -----------------------------------------------------------------------------------


class _Binning:
    """The bins of a ``step`` function: per axis the observable name and the bin edges."""

    def __init__(self, names: Sequence[str], edges: Sequence[Array], path: str) -> None:
        self.names = tuple(names)
        self.edges = tuple(edges)
        self.path = path
        self.shape = tuple(len(e) - 1 for e in self.edges)
        self.size = int(np.prod(self.shape)) if self.shape else 0

    @staticmethod
    def axis_edges(raw: Any, path: str) -> Array:
        if not isinstance(raw, Mapping):
            raise EvaluationError(f"{path}: an axis must be an object with name and binning")
        for key in ("edges", "bounds"):
            if key in raw:
                edges = _f([as_number(v) for v in raw[key]])
                if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
                    raise EvaluationError(f"{path}.{key}: bin edges must be strictly ascending (at least two)")
                return edges
        lo, hi, nbins = as_number(raw.get("min")), as_number(raw.get("max")), as_number(raw.get("nbins"))
        if lo is None or hi is None or nbins is None or nbins < 1 or not hi > lo:
            raise EvaluationError(f"{path}: axis {raw.get('name')!r} needs edges, or min < max and nbins >= 1")
        return np.linspace(lo, hi, int(nbins) + 1)

    @classmethod
    def from_axes(cls, axes: Any, path: str, names: Sequence[str] | None = None) -> _Binning:
        if not isinstance(axes, list) or not axes:
            raise EvaluationError(f"{path}: expected a non-empty list of axes")
        edges = [cls.axis_edges(a, f"{path}[{i}]") for i, a in enumerate(axes)]
        axis_names = [str(a.get("name")) for a in axes]
        if names is not None:
            if len(names) != len(axes):
                raise EvaluationError(f"{path}: {len(axes)} axes for {len(names)} variables")
            axis_names = list(names)
        return cls(axis_names, edges, path)

    def index(self, values: Sequence[Any], clamp: bool) -> tuple[NDArray[np.intp], NDArray[np.bool_]]:
        """Row-major flat bin index (first axis slowest) and a mask of values inside the range.

        A value equal to the upper edge belongs to the last bin (as in RooFit); with ``clamp``
        values outside go to the first/last bin (ParamHistFunc), otherwise they are flagged."""
        arrays = np.broadcast_arrays(*[_f(v) for v in values])
        flat: NDArray[np.intp] = np.zeros(arrays[0].shape, dtype=np.intp)
        inside: NDArray[np.bool_] = np.ones(arrays[0].shape, dtype=bool)
        for x, edges, n in zip(arrays, self.edges, self.shape, strict=True):
            i = np.searchsorted(edges, x, side="right") - 1
            i = np.where(x == edges[-1], n - 1, i)
            inside &= (i >= 0) & (i < n) & ~np.isnan(x)
            i = np.clip(i, 0, n - 1)
            flat = flat * n + i
        if clamp:
            inside = np.ones_like(inside)
        return flat, inside

    def volumes(self) -> Array:
        """Bin volumes, flat row-major."""
        widths = [np.diff(e) for e in self.edges]
        return _f(reduce(np.multiply.outer, widths).reshape(-1)) if len(widths) > 1 else _f(widths[0])


def _step_form(raw: Mapping[str, Any]) -> str:
    return "hist" if "data" in raw else "param"


def _step_check(raw: Mapping[str, Any]) -> Problems:
    has_data = "data" in raw
    has_params = "parameters" in raw or "variables" in raw
    if has_data and has_params:
        return [(None, "has both 'data' (RooHistFunc) and 'variables'/'parameters' (ParamHistFunc); expected one")]
    if not has_data and not has_params:
        return [(None, "needs 'data' {axes, contents} (RooHistFunc) or 'variables' and 'parameters' (ParamHistFunc)")]
    if has_data:
        data = raw["data"]
        if not isinstance(data, Mapping) or not isinstance(data.get("axes"), list) or \
                not isinstance(data.get("contents"), list):
            return [("data", "expected an object with 'axes' (a list) and 'contents' (a list of numbers)")]
        if any(as_number(v) is None for v in data["contents"]):
            return [("data.contents", "expected a list of numbers")]
        return []
    problems: Problems = []
    for key in ("variables", "parameters"):
        if key not in raw:
            problems.append((key, "missing (ParamHistFunc needs 'variables' and 'parameters')"))
    if "axes" in raw and not isinstance(raw["axes"], list):
        problems.append(("axes", "expected a list of axes"))
    return problems


def _step_refs(raw: Mapping[str, Any]) -> list[tuple[str, str, Kind]]:
    """The observables of a RooHistFunc are the names of its data axes."""
    data = raw.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("axes"), list):
        return []
    return [(f"data.axes[{i}].name", a["name"], Kind.REF) for i, a in enumerate(data["axes"])
            if isinstance(a, Mapping) and isinstance(a.get("name"), str) and a["name"]]


def _step_binning(ctx: BuildContext, comp_raw: Mapping[str, Any], path: str) -> tuple[_Binning, str]:
    if _step_form(comp_raw) == "hist":
        return _Binning.from_axes(comp_raw["data"]["axes"], f"{path}.data.axes"), "hist"
    variables = [as_ref(v) for v in comp_raw.get("variables", [])]
    if not all(isinstance(v, str) for v in variables):
        raise EvaluationError(f"{path}.variables: expected variable names")
    names = [str(v) for v in variables]
    if "axes" in comp_raw:
        return _Binning.from_axes(comp_raw["axes"], f"{path}.axes", names), "param"
    # no axes: the binning of the variables in the workspace's domains (nbins there), as RooFit does
    axes = []
    for name in names:
        found = None
        for dom in ctx.spec.domains:
            for ax in dom.axes:
                if ax.name == name and ax.binned:
                    found = ax
        if found is None:
            raise EvaluationError(f"{path}: step function {comp_raw.get('name')!r} has no 'axes' and variable "
                                  f"{name!r} has no binning in any domain")
        axes.append(_f(found.bin_edges))
    return _Binning(names, axes, f"{path}.axes"), "param"


@register("step", "function",
          {"data": opt(Kind.OBJECT, "RooHistFunc: {axes, contents}"),
           "variables": opt(Kind.REF_LIST, "ParamHistFunc: the observables"),
           "parameters": opt(Kind.REF_LIST, "ParamHistFunc: one value per bin"),
           "axes": opt(Kind.LIST, "ParamHistFunc: the binning")},
          aliases=("histogram",), checks=(_step_check,), extra_refs=_step_refs)
class Step(FunctionOp):
    """A piecewise-constant function of the observables: ``contents[bin]`` (RooHistFunc, zero outside
    the axes' range) or ``parameters[bin]`` (ParamHistFunc, whose bin index is clamped to the first/
    last bin outside the range). Bins are flattened row-major (first axis slowest); a value on the upper
    edge belongs to the last bin. Both as RooFit 6.40 evaluates them."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.binning, self.form = _step_binning(ctx, ctx.component.raw, ctx.path())
        if self.form == "hist":
            self.contents = _f([as_number(v) for v in ctx.raw("data")["contents"]])
            n = len(self.contents)
            self.parameters: list[Ref] = []
        else:
            self.parameters = ctx.refs("parameters")
            n = len(self.parameters)
        if n != self.binning.size:
            what = "data.contents" if self.form == "hist" else "parameters"
            raise EvaluationError(f"{ctx.path(what)}: {n} values for {self.binning.size} bins "
                                  f"(axes {list(self.binning.shape)})")

    def value(self, ev: Evaluator) -> Array:
        idx, inside = self.binning.index([ev.value(n) for n in self.binning.names], clamp=self.form == "param")
        if self.form == "hist":
            return np.where(inside, self.contents[idx], 0.0)
        values = np.stack(np.broadcast_arrays(*[_f(ev.value(p)) for p in self.parameters]), axis=-1)
        if values.ndim == 1:
            return _f(values[idx])
        # parameters and observables broadcast element by element
        shape = np.broadcast_shapes(values.shape[:-1], idx.shape)
        values = np.broadcast_to(values, (*shape, values.shape[-1]))
        return _f(np.take_along_axis(values, np.broadcast_to(idx, shape)[..., None], axis=-1)[..., 0])


class _BinVolumeBase(FunctionOp):
    """The volume (or its inverse) of the bin of a ``step`` function that contains the observables
    (RooBinWidthFunction)."""

    inverse = False

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        name = ctx.raw("histogram")
        comp = ctx.spec.component(name)
        if comp is None or _registered_type(comp.type) is not Step:
            raise EvaluationError(f"{ctx.path('histogram')}: {name!r} is not a step (histogram) function")
        self.binning, form = _step_binning(ctx, comp.raw, comp.path)
        self.clamp = form == "param"
        self.volumes = self.binning.volumes()
        self.inverse = self._inverse(ctx)

    def _inverse(self, ctx: BuildContext) -> bool:
        return type(self).inverse

    def value(self, ev: Evaluator) -> Array:
        idx, _ = self.binning.index([ev.value(n) for n in self.binning.names], clamp=True)
        vol = self.volumes[idx]
        return _f(1.0 / vol if self.inverse else vol)


def _registered_type(type_: str) -> type[Any] | None:
    from ..registry import lookup

    info = lookup(type_)
    return None if info is None else info.kernel


@register("binvolume", "function", {"histogram": req(Kind.FUNC, "a step function")})
class BinVolume(_BinVolumeBase):
    """The volume of the bin that contains the observables (RooBinWidthFunction)."""


@register("inverse_binvolume", "function", {"histogram": req(Kind.FUNC, "a step function")})
class InverseBinVolume(_BinVolumeBase):
    """1 / the volume of the bin that contains the observables (RooBinWidthFunction, divideByBinWidth)."""

    inverse = True


@register("binwidth", "function",
          {"histogram": req(Kind.FUNC, "a step function"), "divideByBinWidth": opt(Kind.BOOL)})
class BinWidth(_BinVolumeBase):
    """Old ROOT spelling of (inverse_)binvolume: the inverse if ``divideByBinWidth``."""

    def _inverse(self, ctx: BuildContext) -> bool:
        return bool(ctx.raw("divideByBinWidth", False))


# -- spline -----------------------------------------------------------------------------------------------


def _spline_check(raw: Mapping[str, Any]) -> Problems:
    x0, y0 = raw.get("x0"), raw.get("y0")
    problems: Problems = []
    if isinstance(x0, list) and isinstance(y0, list):
        if len(x0) != len(y0):
            problems.append(("y0", f"has {len(y0)} values for {len(x0)} knots x0"))
        if len(x0) < 2:
            problems.append(("x0", "a spline needs at least two knots"))
        xs = [as_number(v) for v in x0]
        if all(v is not None for v in xs) and any(b <= a for a, b in itertools.pairwise(xs)):  # type: ignore[operator]
            problems.append(("x0", "knots must be strictly ascending"))
    interp = raw.get("interpolation", "poly3")
    if interp not in ("poly3", "poly5", 3, 5):
        problems.append(("interpolation", f"{interp!r} is not a spline order; expected 'poly3' or 'poly5'"))
    return problems


@register("spline", "function",
          {"x": req(Kind.REF), "x0": req(Kind.NUMBER_LIST), "y0": req(Kind.NUMBER_LIST),
           "interpolation": opt(Kind.ANY, "'poly3' (default) or 'poly5'"), "logx": opt(Kind.BOOL),
           "logy": opt(Kind.BOOL)},
          checks=(_spline_check,))
class Spline(FunctionOp):
    """RooSpline: ROOT's TSpline3 / TSpline5 through the knots (x0, y0).

    * ``poly3`` = TSpline3 without end conditions: the cubic spline with de Boor's not-a-knot
      conditions at both ends (scipy ``CubicSpline(bc_type="not-a-knot")``); outside the knots the
      first/last cubic piece is continued.
    * ``poly5`` = TSpline5 without end conditions: the natural quintic spline (third and fourth
      derivatives zero at both ends, scipy ``make_interp_spline(k=5)``); below the first knot the
      first piece is continued, above the last knot TSpline5 continues with the quadratic Taylor
      polynomial at the last knot (its higher coefficients there are zero); so do we.
    * ``logy``: the spline goes through log(y0) and the value is its exponential.
    * ``logx``: the knots are log(x0), and RooSpline 6.40 evaluates the spline at **exp(x)**
      (not log x); we reproduce that ROOT behaviour so that numbers agree with RooFit.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.x = ctx.ref("x")
        x0 = _f([as_number(v) for v in ctx.raw("x0")])
        y0 = _f([as_number(v) for v in ctx.raw("y0")])
        self.logx = bool(ctx.raw("logx", False))
        self.logy = bool(ctx.raw("logy", False))
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.logx:
                x0 = np.log(x0)
            if self.logy:
                y0 = np.log(y0)
        if not (np.all(np.isfinite(x0)) and np.all(np.isfinite(y0))):
            raise EvaluationError(f"{ctx.path()}: spline knots must be finite (and positive where logx/logy)")
        order = ctx.raw("interpolation", "poly3")
        self.order = 5 if order in ("poly5", 5) else 3
        self.x_last = float(x0[-1])
        self.y_last = float(y0[-1])
        # scipy.interpolate is imported here: it costs ~0.15 s, too much for `import pyhs3_lab`
        from scipy.interpolate import CubicSpline, PPoly, make_interp_spline

        if self.order == 3:
            self.pp: PPoly = CubicSpline(x0, y0, bc_type="not-a-knot", extrapolate=True)
            self.tail: tuple[float, ...] | None = None
        else:
            if len(x0) < 3:
                raise EvaluationError(f"{ctx.path('x0')}: a quintic spline needs at least three knots")
            bspl = make_interp_spline(x0, y0, k=5, bc_type=([(3, 0.0), (4, 0.0)], [(3, 0.0), (4, 0.0)]))
            self.pp = PPoly.from_spline(bspl, extrapolate=True)
            self.tail = (float(bspl(x0[-1], 1)), float(bspl(x0[-1], 2)))

    def value(self, ev: Evaluator) -> Array:
        x = _f(ev.value(self.x))
        with np.errstate(over="ignore"):
            t = np.exp(x) if self.logx else x
        y = _f(self.pp(t))
        if self.tail is not None:
            d = t - self.x_last
            y = np.where(t > self.x_last, self.y_last + d * (self.tail[0] + 0.5 * d * self.tail[1]), y)
        with np.errstate(over="ignore"):
            return _f(np.exp(y) if self.logy else y)


# -- derivative and integral -------------------------------------------------------------------------------


def _no_normalization(raw: Mapping[str, Any]) -> Problems:
    norm = raw.get("normalization")
    if norm not in (None, [], ""):
        return [("normalization", "a normalisation set is only meaningful for distributions; "
                                  "pyhs3_lab evaluates derivatives and integrals of functions")]
    return []


def _derivative_check(raw: Mapping[str, Any]) -> Problems:
    problems = _no_normalization(raw)
    order = as_number(raw.get("order", 1))
    if order not in (1.0, 2.0, 3.0):
        problems.append(("order", f"derivative order {raw.get('order')!r}; expected 1, 2 or 3"))
    eps = as_number(raw.get("eps", 0.001))
    if eps is None or not eps > 0:
        problems.append(("eps", f"step {raw.get('eps')!r}; expected a positive number"))
    if isinstance(raw.get("x"), str) and as_number(raw["x"]) is not None:
        problems.append(("x", "expected the name of the variable to differentiate by"))
    return problems


@register("derivative", "function",
          {"function": req(Kind.FUNC), "x": req(Kind.REF, "the variable"), "order": opt(Kind.INT),
           "eps": opt(Kind.NUMBER), "normalization": opt(Kind.ANY)},
          checks=(_derivative_check,))
class Derivative(FunctionOp):
    """dⁿf/dxⁿ (n = 1, 2, 3) by RooDerivative's finite differences: Richardson extrapolation of the
    central differences with steps h = ``eps`` (default 0.001) and h/2 (ROOT::Math::RichardsonDerivator).

    Within ``eps`` of a bound of x, the first derivative uses the one-sided four-point formula
    (as RooFit does); second and third derivatives there raise :class:`EvaluationError`.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.function = str(ctx.raw("function"))
        x = ctx.ref("x")
        if not isinstance(x, str):
            raise EvaluationError(f"{ctx.path('x')}: expected the name of the variable to differentiate by")
        self.x = x
        self.order = int(ctx.number("order", 1.0))
        self.eps = ctx.number("eps", 0.001)

    def _f(self, ev: Evaluator, x: Array) -> Array:
        return _f(ev.child({self.x: x}).value(self.function))

    def value(self, ev: Evaluator) -> Array:
        x = _f(ev.value(self.x))
        h = self.eps
        lo, hi = ev.bounds(self.x)
        close_lo = x - lo < h
        close_hi = hi - x < h
        if np.any(close_lo & close_hi):
            raise EvaluationError(f"{self.path} (derivative {self.name!r}): 2·eps = {2 * h} is larger than the "
                                  f"range of {self.x!r}")

        def f(dx: float) -> Array:
            return self._f(ev, x + dx)

        if self.order == 1:
            central = (8.0 * (f(h / 2) - f(-h / 2)) - (f(h) - f(-h))) / (6.0 * h)
            if not np.any(close_lo | close_hi):
                return _f(central)
            fwd = self._one_sided(f, h)
            bwd = self._one_sided(f, -h)
            return _f(np.where(close_lo, fwd, np.where(close_hi, bwd, central)))
        if np.any(close_lo | close_hi):
            raise EvaluationError(f"{self.path} (derivative {self.name!r}): {self.x!r} is within eps = {h} of its "
                                  f"range [{lo}, {hi}]; a derivative of order {self.order} needs both sides")
        if self.order == 2:
            f0 = f(0.0)
            coarse = f(h) - 2.0 * f0 + f(-h)
            fine = 4.0 * (f(h / 2) - 2.0 * f0 + f(-h / 2))
            return _f((4.0 * fine - coarse) / (3.0 * h * h))
        coarse = 0.5 * f(2 * h) - f(h) + f(-h) - 0.5 * f(-2 * h)
        fine = 4.0 * (f(h) - 2.0 * f(h / 2) + 2.0 * f(-h / 2) - f(-h))
        return _f((4.0 * fine - coarse) / (3.0 * h ** 3))

    @staticmethod
    def _one_sided(f: Any, h: float) -> Array:
        """Four points x + k h/4 (k = 1..4) on one side: third-order accurate (GSL's forward rule)."""
        f1, f2, f3, f4 = (f(k * h / 4.0) for k in (1, 2, 3, 4))
        return _f(((22.0 / 3.0) * (f4 - f3) - (62.0 / 3.0) * (f3 - f2) + (52.0 / 3.0) * (f2 - f1)) / h)


def _integral_check(raw: Mapping[str, Any]) -> Problems:
    problems = _no_normalization(raw)
    variables = raw.get("variables")
    if isinstance(variables, list):
        if not variables:
            problems.append(("variables", "expected at least one variable to integrate over"))
        if any(not isinstance(v, str) or as_number(v) is not None for v in variables):
            problems.append(("variables", "expected variable names, not numbers"))
        if len(set(map(str, variables))) != len(variables):
            problems.append(("variables", "a variable is listed twice"))
    return problems


@register("integral", "function",
          {"integrand": req(Kind.FUNC), "variables": req(Kind.REF_LIST), "domain": opt(Kind.STRING),
           "normalization": opt(Kind.ANY)},
          checks=(_integral_check,))
class Integral(FunctionOp):
    """∫ integrand d(variables) over each variable's range (RooRealIntegral), numerically with
    :func:`pyhs3_lab.integrate.log_integrate` (adaptive Gauss-Kronrod, relative tolerance 1e-11).

    The range is the variable's [min, max], or its axis in the domain named by ``domain`` (ROOT's
    named range). Signed integrands are integrated as positive part minus negative part. Several
    variables are integrated as nested integrals (vectorised over the outer nodes).
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.integrand = str(ctx.raw("integrand"))
        self.variables = [str(v) for v in ctx.raw("variables")]
        self.ranges: dict[str, tuple[float, float]] = {}
        if ctx.has("domain"):
            dom_name = ctx.raw("domain")
            domain = next((d for d in ctx.spec.domains if d.name == dom_name), None)
            if domain is None:
                raise EvaluationError(f"{ctx.path('domain')}: integral {self.name!r} refers to domain "
                                      f"{dom_name!r}, which does not exist")
            self.ranges = {k: v for k, v in domain.bounds().items() if k in self.variables}

    def value(self, ev: Evaluator) -> Array:
        probe = {v: np.asarray(self._midpoint(ev, v)) for v in self.variables}
        batch = np.shape(ev.child(probe).value(self.integrand))
        return _f(self._integrate(ev, list(self.variables), tuple(batch), 0))

    def _range(self, ev: Evaluator, var: str) -> tuple[float, float]:
        return self.ranges.get(var, ev.bounds(var))

    def _midpoint(self, ev: Evaluator, var: str) -> float:
        lo, hi = self._range(ev, var)
        if math.isfinite(lo) and math.isfinite(hi):
            return 0.5 * (lo + hi)
        return lo + 1.0 if math.isfinite(lo) else (hi - 1.0 if math.isfinite(hi) else 0.0)

    def _integrate(self, ev: Evaluator, variables: list[str], batch: tuple[int, ...], depth: int) -> Array:
        """∫ over ``variables`` of the integrand in ``ev``; result shape (*outer_nodes, *batch)."""
        var, rest = variables[0], variables[1:]
        lo, hi = self._range(ev, var)
        ndim = depth + len(batch)  # outer integrals' node axes, then the integrand's own batch axes

        def values(nodes: Array) -> Array:
            sub = ev.child({var: nodes})
            inner = self._integrate(sub, rest, batch, depth + 1) if rest else _f(sub.value(self.integrand))
            return _f(np.broadcast_to(inner, np.broadcast_shapes(inner.shape, nodes.shape)))

        with np.errstate(divide="ignore"):
            log_pos = log_integrate(lambda n: np.log(np.maximum(values(n), 0.0)), lo, hi, batch_ndim=ndim)
            log_neg = log_integrate(lambda n: np.log(np.maximum(-values(n), 0.0)), lo, hi, batch_ndim=ndim)
        return _f(np.exp(log_pos) - np.exp(log_neg))


# -- CMS combine ---------------------------------------------------------------------------------------------


def _log_kappa_for_x(x: Array, log_kappa_lo: Any, log_kappa_hi: Any) -> Array:
    """CMS combine's asymmetric log κ(θ): −log κ_lo below θ = −0.5, log κ_hi above +0.5, joined by
    avg + halfdiff · h(2θ) with h(t) = (3t⁵ − 10t³ + 15t)/8 (h(±1) = ±1, h' = h'' = 0 at ±1)."""
    hi_ = _f(log_kappa_hi)
    lo_ = -_f(log_kappa_lo)
    avg, halfdiff = 0.5 * (hi_ + lo_), 0.5 * (hi_ - lo_)
    t = 2.0 * x
    t2 = t * t
    smooth = 0.125 * t * (t2 * (3.0 * t2 - 10.0) + 15.0)
    return _f(np.where(np.abs(x) >= 0.5, np.where(x >= 0, hi_, lo_), avg + smooth * halfdiff))


def _process_normalization_check(raw: Mapping[str, Any]) -> Problems:
    problems: Problems = [*_same_length("thetaList", "logKappa")(raw),
                          *_same_length("asymmThetaList", "logAsymmKappa")(raw)]
    pairs = raw.get("logAsymmKappa", [])
    if isinstance(pairs, list) and any(not (isinstance(p, list) and len(p) == 2 and all(as_number(v) is not None
                                                                                     for v in p)) for p in pairs):
        problems.append(("logAsymmKappa", "expected a list of [log κ_low, log κ_high] number pairs"))
    return problems


@register("CMS::process_normalization", "function",
          {"nominalValue": opt(Kind.NUMBER), "thetaList": opt(Kind.REF_LIST), "logKappa": opt(Kind.NUMBER_LIST),
           "asymmThetaList": opt(Kind.REF_LIST), "logAsymmKappa": opt(Kind.LIST),
           "otherFactorList": opt(Kind.REF_LIST),
           "expression": opt(Kind.STRING, "written by combine (the object's own name); not used")},
          checks=(_process_normalization_check,))
class ProcessNormalization(FunctionOp):
    """CMS combine's ProcessNormalization: nominal · exp(Σ θᵢ log κᵢ + Σ θⱼ log κⱼ(θⱼ)) · Π others,
    with the smooth asymmetric log κ(θ) of combine (see :func:`_log_kappa_for_x`)."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.nominal = ctx.number("nominalValue", 1.0)
        self.thetas = ctx.refs("thetaList", [])
        self.log_kappa = [float(as_number(v) or 0.0) for v in ctx.raw("logKappa", [])]
        self.asym_thetas = ctx.refs("asymmThetaList", [])
        self.log_asym = [(float(as_number(p[0]) or 0.0), float(as_number(p[1]) or 0.0))
                         for p in ctx.raw("logAsymmKappa", [])]
        self.others = ctx.refs("otherFactorList", [])

    def value(self, ev: Evaluator) -> Array:
        log_val: Any = 0.0
        for theta, lk in zip(self.thetas, self.log_kappa, strict=True):
            log_val = log_val + _f(ev.value(theta)) * lk
        for theta, (lo, hi) in zip(self.asym_thetas, self.log_asym, strict=True):
            x = _f(ev.value(theta))
            log_val = log_val + x * _log_kappa_for_x(x, lo, hi)
        out = self.nominal * np.exp(log_val)
        for other in self.others:
            out = out * ev.value(other)
        return _f(out)


@register("CMS::asympow", "function",
          {"kappaLow": req(Kind.REF), "kappaHigh": req(Kind.REF), "theta": req(Kind.REF)})
class AsymPow(FunctionOp):
    """CMS combine's AsymPow (= RooFit's MathFuncs::asymPow): exp(θ · log κ(θ)) with the smooth
    asymmetric log κ(θ) of ProcessNormalization; κ_high^θ for θ ≥ 0.5 and κ_low^−θ for θ ≤ −0.5.
    (pyhs3 uses the older piecewise κ_high^θ / κ_low^−θ, which differs for |θ| < 0.5.)"""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.kappa_low = ctx.ref("kappaLow")
        self.kappa_high = ctx.ref("kappaHigh")
        self.theta = ctx.ref("theta")

    def value(self, ev: Evaluator) -> Array:
        theta = _f(ev.value(self.theta))
        with np.errstate(divide="ignore", invalid="ignore"):
            lk = _log_kappa_for_x(theta, np.log(_f(ev.value(self.kappa_low))), np.log(_f(ev.value(self.kappa_high))))
        return _f(np.exp(theta * lk))


# -- recursive fraction -----------------------------------------------------------------------------------------


@register("roorecursivefraction_dist", "function",
          {"list": req(Kind.REF_LIST, "the coefficients a₀, a₁, ..."), "recursive": opt(Kind.BOOL)})
class RecursiveFraction(FunctionOp):
    """RooRecursiveFraction (pyhs3's type name): a₀ · Π_{i≥1} (1 − aᵢ). With ``recursive: false``
    (pyhs3's flat convention) a₀ / Σ aⱼ."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.coefficients = ctx.refs("list")
        if not self.coefficients:
            raise EvaluationError(f"{ctx.path('list')}: expected at least one coefficient")
        self.recursive = bool(ctx.raw("recursive", True))

    def value(self, ev: Evaluator) -> Array:
        values = [ev.value(c) for c in self.coefficients]
        if self.recursive:
            return _f(reduce(np.multiply, (1.0 - v for v in values[1:]), values[0]))
        return _f(values[0] / reduce(np.add, values, 0.0))
