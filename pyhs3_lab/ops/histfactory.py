"""HistFactory: the ``histfactory_dist`` kernel (binned template models with modifiers).

One channel: samples with nominal bin contents ``d[s, b]`` and modifiers,

    ν[b] = Σ_s (d[s, b] + Σ additive δ[s, b](α)) · Π multiplicative κ[s, b](θ)

plus implicit constraint terms for the constrained parameters (ROOT adds them to the
channel pdf; they are *not* listed in ``aux_distributions``). Everything the file says
is read once in the constructor into arrays ``[samples × bins]`` and index arrays (one
group per modifier type and interpolation code); an evaluation is a few numpy
operations, whatever the number of modifiers.

Constraint terms are named by the parameter they constrain
(:meth:`HistFactory.constraint_terms`, :meth:`HistFactory.constraint_log_terms`), so
that a likelihood over several channels that share a parameter counts its constraint
once.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import special

from .. import registry
from ..errors import EvaluationError, SchemaError, UnsupportedTypeError
from ..registry import Kind, opt, register, req
from ..spec import as_number
from .base import Array, BinnedDistributionOp, BuildContext
from .interp import (
    HISTOSYS_CODES,
    NORMSYS_CODES,
    histosys_term,
    histosys_term_grad,
    interpolation_code,
    normsys_term,
    normsys_term_grad,
)

if TYPE_CHECKING:
    from ..evaluate import Evaluator

__all__ = ["ConstraintSet", "ConstraintSpec", "HistFactory", "merge_constraints"]

Conventions = Literal["root", "pyhf"]
ConstraintKind = Literal["gauss", "poisson", "pdf"]

MODIFIER_TYPES = ("normfactor", "normsys", "histosys", "shapefactor", "shapesys", "staterror", "custom")
_PER_BIN = ("shapefactor", "shapesys", "staterror")
#: legacy constraint type strings (ROOT <= 6.32 ``constraint``, 6.34-6.38 ``constraint_type``)
_TYPE_STRINGS = {"gauss": "gauss", "gaussian": "gauss", "normal": "gauss", "poisson": "poisson",
                 "const": "const", "lognormal": "lognormal"}
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_DBL_MIN = float(np.finfo(np.float64).tiny)
IntArray = NDArray[np.intp]


# --------------------------------------------------------------------------------------
# reading the JSON (pure Python: shared by the schema check, the graph references and the kernel)


def _axes_edges(raw: Mapping[str, Any]) -> list[tuple[str, list[float]]] | None:
    axes = raw.get("axes")
    if not isinstance(axes, list) or not axes:
        return None
    out: list[tuple[str, list[float]]] = []
    for ax in axes:
        if not isinstance(ax, Mapping) or not isinstance(ax.get("name"), str):
            return None
        edges: list[float] | None = None
        for key in ("edges", "bounds"):
            if isinstance(ax.get(key), list):
                vals = [as_number(v) for v in ax[key]]
                if len(vals) < 2 or any(v is None for v in vals):
                    return None
                edges = [float(v) for v in vals if v is not None]
                if any(b <= a for a, b in itertools.pairwise(edges)):
                    return None
        if edges is None:
            lo, hi, n = as_number(ax.get("min")), as_number(ax.get("max")), as_number(ax.get("nbins"))
            if lo is None or hi is None or n is None or n < 1 or not float(n).is_integer() or not hi > lo:
                return None
            edges = [float(v) for v in np.linspace(lo, hi, int(n) + 1)]
        out.append((ax["name"], edges))
    return out


def _bin_labels(shape: Sequence[int]) -> list[str]:
    """ROOT's ParamHistFunc parameter suffixes: ``i`` in 1-D, ``i_j[_k]`` in more (row-major)."""
    if len(shape) == 1:
        return [str(i) for i in range(shape[0])]
    return ["_".join(str(int(i)) for i in idx) for idx in np.ndindex(*shape)]


def _channel_label(name: str) -> str:
    return name[6:] if name.startswith("model_") else name


def _type_string(value: Any) -> str | None:
    return _TYPE_STRINGS.get(value.lower()) if isinstance(value, str) else None


@dataclass
class _Mod:
    """One modifier of one sample, as written."""

    type: str
    name: str
    sample: int
    path: str  # samples[i].modifiers[j]
    raw: Mapping[str, Any]
    params: list[str]  # one name, or one per bin
    param_field: str  # where the names come from (for the graph's edges)


def _modifier_params(mod: Mapping[str, Any], mtype: str, channel: str, labels: list[str]) -> tuple[list[str], str]:
    name = mod.get("name")
    if mtype == "normfactor":
        par = mod.get("parameter", name)
        return ([par] if isinstance(par, str) else []), ("parameter" if "parameter" in mod else "name")
    if mtype in ("normsys", "histosys"):
        par = mod.get("parameter")
        if isinstance(par, str):
            return [par], "parameter"
        return ([f"alpha_{name}"] if isinstance(name, str) else []), "name"
    if mtype == "custom":
        for key in ("function", "parameter", "name"):
            if isinstance(mod.get(key), str):
                return [mod[key]], key
        return [], "name"
    pars = mod.get("parameters")
    if isinstance(pars, list):
        return [p for p in pars if isinstance(p, str)], "parameters"
    if mtype == "staterror":
        return [f"gamma_stat_{channel}_bin_{lab}" for lab in labels], "name"
    base = mod.get("parameter")
    if isinstance(base, str):
        return [f"{base}_bin_{lab}" for lab in labels], "parameter"
    return ([f"gamma_{name}_bin_{lab}" for lab in labels] if isinstance(name, str) else []), "name"


def _modifiers(raw: Mapping[str, Any], n_bins: int, labels: list[str]) -> list[_Mod]:
    channel = _channel_label(str(raw.get("name", "")))
    out: list[_Mod] = []
    samples = raw.get("samples")
    if not isinstance(samples, list):
        return out
    for i, sample in enumerate(samples):
        if not isinstance(sample, Mapping) or not isinstance(sample.get("modifiers", []), list):
            continue
        for j, mod in enumerate(sample.get("modifiers", [])):
            if not isinstance(mod, Mapping) or not isinstance(mod.get("type"), str):
                continue
            mtype = mod["type"]
            params, where = _modifier_params(mod, mtype, channel, labels)
            out.append(_Mod(mtype, str(mod.get("name", params[0] if params else "?")), i,
                            f"samples[{i}].modifiers[{j}]", mod, params, where))
    return out


def _alpha_constraint(mod: Mapping[str, Any]) -> tuple[str, str | None]:
    """How a normsys/histosys/normfactor parameter is constrained, from what the file says:
    ("gauss"|"const"|"lognormal"|"poisson"|"pdf"|"none", pdf name). Lookup order as ROOT:
    ``constraint_name`` (6.34-6.38), ``constraint`` as a pdf name (master) or a type string
    (<= 6.32), ``constraint_type``; none given: "none" (the caller decides the default)."""
    cname = mod.get("constraint_name")
    if isinstance(cname, str):
        return "pdf", cname
    con = mod.get("constraint")
    if isinstance(con, str):
        kind = _type_string(con)
        return (kind, None) if kind is not None else ("pdf", con)
    ctype = _type_string(mod.get("constraint_type"))
    if ctype is not None:
        return ctype, None
    return "none", None


def _refs(raw: Mapping[str, Any]) -> list[tuple[str, str, Kind]]:
    """Every name a ``histfactory_dist`` refers to, with where (for :mod:`pyhs3_lab.graph`)."""
    axes = _axes_edges(raw)
    if axes is None:
        return []
    refs: list[tuple[str, str, Kind]] = [(f"axes[{i}].name", name, Kind.REF) for i, (name, _) in enumerate(axes)]
    shape = [len(e) - 1 for _, e in axes]
    labels = _bin_labels(shape)
    for m in _modifiers(raw, int(np.prod(shape)), labels):
        if m.type not in MODIFIER_TYPES:
            continue
        for k, p in enumerate(m.params):
            fld = f"{m.path}.{m.param_field}" + (f"[{k}]" if m.param_field == "parameters" else "")
            refs.append((fld, p, Kind.REF))
        if m.type in ("normsys", "histosys", "normfactor"):
            kind, pdf = _alpha_constraint(m.raw)
            if kind == "pdf" and pdf is not None:
                key = "constraint_name" if "constraint_name" in m.raw else "constraint"
                refs.append((f"{m.path}.{key}", pdf, Kind.DIST))
            elif m.type != "normfactor" and kind in ("gauss", "none") and m.params:
                refs.append((m.path, f"nom_{m.params[0]}", Kind.REF))
        elif m.type in ("shapesys", "staterror"):
            pdfs = m.raw.get("constraints")
            for k, p in enumerate(m.params):
                pdf = pdfs[k] if isinstance(pdfs, list) and k < len(pdfs) else None
                if isinstance(pdf, str):
                    refs.append((f"{m.path}.constraints[{k}]", pdf, Kind.DIST))
                elif not isinstance(pdfs, list):
                    refs.append((m.path, f"nom_{p}", Kind.REF))
    return refs


def _check(raw: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """Structure of a ``histfactory_dist`` beyond its top-level fields, every problem with its path."""
    problems: list[tuple[str | None, str]] = []
    axes = _axes_edges(raw)
    if axes is None:
        if isinstance(raw.get("axes"), list):
            problems.append(("axes", "each axis needs a name and 'edges' (ascending) or 'min', 'max' and 'nbins'"))
        return problems
    n_bins = int(np.prod([len(e) - 1 for _, e in axes]))
    samples = raw.get("samples")
    if not isinstance(samples, list):
        return problems
    if not samples:
        problems.append(("samples", "has no samples"))

    def numbers(value: Any, n: int | None) -> bool:
        return (isinstance(value, list) and all(as_number(v) is not None for v in value)
                and (n is None or len(value) == n))

    for i, sample in enumerate(samples):
        where = f"samples[{i}]"
        if not isinstance(sample, Mapping):
            problems.append((where, "a sample must be an object with name, data and modifiers"))
            continue
        sname = sample.get("name")
        if not isinstance(sname, str) or not sname:
            problems.append((f"{where}.name", "sample has no name (expected a string)"))
        label = f"sample {sname!r}" if isinstance(sname, str) else f"sample {i}"
        data = sample.get("data")
        if not isinstance(data, Mapping) or not numbers(data.get("contents"), n_bins):
            problems.append((f"{where}.data.contents", f"{label}: expected a list of {n_bins} numbers "
                                                       "(one per bin of the axes)"))
        elif "errors" in data and not numbers(data["errors"], n_bins):
            problems.append((f"{where}.data.errors", f"{label}: expected a list of {n_bins} numbers"))
        mods = sample.get("modifiers", [])
        if not isinstance(mods, list):
            problems.append((f"{where}.modifiers", f"{label}: modifiers must be a list"))
            continue
        for j, mod in enumerate(mods):
            mw = f"{where}.modifiers[{j}]"
            if not isinstance(mod, Mapping) or not isinstance(mod.get("type"), str):
                problems.append((mw, f"{label}: a modifier must be an object with a 'type'"))
                continue
            mtype = mod["type"]
            mlabel = f"{label}, {mtype} modifier {mod.get('name', j)!r}"
            if mtype not in MODIFIER_TYPES:
                continue  # reported when the kernel is built (UnsupportedTypeError)
            if not isinstance(mod.get("name"), str) and not isinstance(mod.get("parameter"), str) \
                    and not isinstance(mod.get("parameters"), list) and mtype != "staterror":
                problems.append((mw, f"{mlabel}: needs a 'name' or 'parameter(s)' to name its parameters"))
            pars = mod.get("parameters")
            if mtype in _PER_BIN and pars is not None and (
                    not isinstance(pars, list) or len(pars) != n_bins or not all(isinstance(p, str) for p in pars)):
                problems.append((f"{mw}.parameters", f"{mlabel}: expected a list of {n_bins} parameter names"))
            mdata = mod.get("data")
            if mtype == "normsys":
                for key in ("hi", "lo"):
                    if not isinstance(mdata, Mapping) or as_number(mdata.get(key)) is None:
                        problems.append((f"{mw}.data.{key}", f"{mlabel}: expected a number (the factor at "
                                                             f"alpha = {'+1' if key == 'hi' else '-1'})"))
            elif mtype == "histosys":
                for key in ("hi", "lo"):
                    sub = mdata.get(key) if isinstance(mdata, Mapping) else None
                    if not isinstance(sub, Mapping) or not numbers(sub.get("contents"), n_bins):
                        problems.append((f"{mw}.data.{key}.contents",
                                         f"{mlabel}: expected a list of {n_bins} numbers (the varied histogram)"))
            elif mtype == "shapesys" and (not isinstance(mdata, Mapping) or not numbers(mdata.get("vals"), n_bins)):
                problems.append((f"{mw}.data.vals", f"{mlabel}: expected a list of {n_bins} numbers "
                                                    "(the uncertainty per bin)"))
            cons = mod.get("constraints")
            if cons is not None and (not isinstance(cons, list) or len(cons) != n_bins
                                     or not all(c is None or isinstance(c, str) for c in cons)):
                problems.append((f"{mw}.constraints", f"{mlabel}: expected a list of {n_bins} pdf names or null"))
    staterr = raw.get("staterror")
    if isinstance(staterr, Mapping) and "relThreshold" in staterr and as_number(staterr["relThreshold"]) is None:
        problems.append(("staterror.relThreshold", "expected a number"))
    return problems


# --------------------------------------------------------------------------------------
# constraint terms


@dataclass(frozen=True)
class ConstraintSpec:
    """The constraint term of one parameter of a HistFactory model.

    ``kind``:

    * ``"gauss"``: ``log N(g | θ, sigma)``, normalised over the global observable ``g``
      within its range (ROOT: ``nom_α`` in [-10, 10]; unbounded with pyhf conventions);
    * ``"poisson"``: ``g log(θ τ) - θ τ - lgamma(g + 1)`` (ROOT's RooPoisson without
      rounding; g = τ at the nominal point);
    * ``"pdf"``: an explicit distribution of the workspace (``pdf``), normalised over
      ``pdf_observables``.

    ``global_observable`` is the name holding ``g`` (``nom_<parameter>``); ``aux`` is its
    default value. ``source`` is the JSON path of the modifier that implies the term.
    """

    parameter: str
    kind: ConstraintKind
    global_observable: str | None = None
    aux: float = 0.0
    sigma: float = 1.0
    tau: float = 1.0
    pdf: str | None = None
    pdf_observables: tuple[str, ...] = ()
    source: str = field(default="", compare=False)


class ConstraintSet:
    """Constraint terms evaluated together: one vectorised expression per kind.

    Parameters
    ----------
    specs : sequence of ConstraintSpec
        At most one per parameter (see :func:`merge_constraints`).
    """

    def __init__(self, specs: Sequence[ConstraintSpec]) -> None:
        self.specs = tuple(specs)
        gauss = [s for s in self.specs if s.kind == "gauss"]
        pois = [s for s in self.specs if s.kind == "poisson"]
        self._pdfs = [s for s in self.specs if s.kind == "pdf"]
        self._g_par = [s.parameter for s in gauss]
        self._g_obs = [s.global_observable for s in gauss]
        self._g_aux = np.array([s.aux for s in gauss], dtype=float)
        self._g_sigma = np.array([s.sigma for s in gauss], dtype=float)
        self._p_par = [s.parameter for s in pois]
        self._p_obs = [s.global_observable for s in pois]
        self._p_aux = np.array([s.aux for s in pois], dtype=float)
        self._p_tau = np.array([s.tau for s in pois], dtype=float)
        self.names: tuple[str, ...] = (*self._g_par, *self._p_par, *(s.parameter for s in self._pdfs))

    @staticmethod
    def _stack(ev: Evaluator, names: Sequence[str]) -> Array:
        return _stack_values(_lookup(ev, names))

    @staticmethod
    def _globals(ev: Evaluator, names: Sequence[str | None], aux: Array) -> Array:
        given = ev.values
        vals = [(given[n] if n in given else ev.value(n)) if n is not None else a
                for n, a in zip(names, aux, strict=True)]
        return _stack_values(vals)

    def log_terms(self, ev: Evaluator) -> list[Array]:
        """log of every term, in the order of :attr:`names` (each of the parameters' batch shape)."""
        out: list[Array] = []
        for block in self.log_blocks(ev):
            out += list(block)
        for s in self._pdfs:
            assert s.pdf is not None
            out.append(np.asarray(ev.with_observables(s.pdf_observables).logpdf(s.pdf), dtype=float))
        return out

    def log_blocks(self, ev: Evaluator) -> list[Array]:
        """The Gaussian and the Poisson terms' logs as arrays (first axis: the terms, in the order of
        :attr:`names`); the explicit pdfs are not included."""
        out: list[Array] = []
        if self._g_par:
            theta = self._stack(ev, self._g_par)
            g = self._globals(ev, self._g_obs, self._g_aux)
            if g.shape != theta.shape:
                g, theta = np.broadcast_arrays(g, theta)
            extra = (1,) * (theta.ndim - 1)
            sigma = self._g_sigma.reshape((-1, *extra))
            z = (g - theta) / sigma
            norm = np.array(np.broadcast_to((np.log(self._g_sigma) + _LOG_SQRT_2PI).reshape((-1, *extra)),
                                            theta.shape))
            # normalised over the global observable's range where it is finite (ROOT: nom_α in [-10, 10])
            bounds = [ev.bounds(n) if n is not None else (-math.inf, math.inf) for n in self._g_obs]
            lo = np.array([b[0] for b in bounds], dtype=float)
            hi = np.array([b[1] for b in bounds], dtype=float)
            finite = np.isfinite(lo) | np.isfinite(hi)
            if finite.any():
                norm[finite] = _log_gauss_norm(theta[finite], sigma[finite], lo[finite].reshape((-1, *extra)),
                                               hi[finite].reshape((-1, *extra)))
            out.append(-0.5 * z * z - norm)
        if self._p_par:
            gamma = self._stack(ev, self._p_par)
            n = self._globals(ev, self._p_obs, self._p_aux)
            if n.shape != gamma.shape:
                n, gamma = np.broadcast_arrays(n, gamma)
            tau = self._p_tau.reshape((-1, *(1,) * (gamma.ndim - 1)))
            lam = gamma * tau
            with np.errstate(divide="ignore", invalid="ignore"):
                out.append(special.xlogy(n, lam) - lam - special.gammaln(n + 1.0))
        return out

    def grad_log_terms(self, ev: Evaluator) -> dict[str, float]:
        """d/dθ of each term's log with respect to its own parameter θ (scalar parameter values).

        Raises
        ------
        EvaluationError
            For terms that are explicit distributions other than a plain Gaussian (no analytic
            derivative here).
        """
        if self._pdfs:
            raise EvaluationError(f"no analytic gradient of the constraint pdfs {[s.pdf for s in self._pdfs]}")
        out: dict[str, float] = {}
        if self._g_par:
            theta = self._stack(ev, self._g_par)
            g = self._globals(ev, self._g_obs, self._g_aux)
            sigma = self._g_sigma
            grad = (g - theta) / (sigma * sigma)
            bounds = [ev.bounds(n) if n is not None else (-math.inf, math.inf) for n in self._g_obs]
            lo = np.array([b[0] for b in bounds], dtype=float)
            hi = np.array([b[1] for b in bounds], dtype=float)
            finite = np.isfinite(lo) | np.isfinite(hi)
            if finite.any():
                # d/dθ log(Φ(b) - Φ(a)), a = (lo - θ)/σ, b = (hi - θ)/σ
                a, b, sg = (lo[finite] - theta[finite]) / sigma[finite], (hi[finite] - theta[finite]) / sigma[finite], \
                    sigma[finite]
                log_z = _log_gauss_norm(theta[finite], sg, lo[finite], hi[finite]) - np.log(sg) - _LOG_SQRT_2PI
                with np.errstate(over="ignore", under="ignore"):
                    dz = (np.exp(-0.5 * a * a - _LOG_SQRT_2PI - log_z) - np.exp(-0.5 * b * b - _LOG_SQRT_2PI - log_z))
                grad[finite] -= dz / sg
            out.update(zip(self._g_par, (float(v) for v in grad), strict=True))
        if self._p_par:
            gamma = self._stack(ev, self._p_par)
            n = self._globals(ev, self._p_obs, self._p_aux)
            with np.errstate(divide="ignore", invalid="ignore"):
                grad = np.where(n == 0, 0.0, n / gamma) - self._p_tau
            out.update(zip(self._p_par, (float(v) for v in grad), strict=True))
        return out

    def log_value(self, ev: Evaluator) -> Array:
        """Σ log of the terms."""
        terms = self.log_terms(ev)
        if not terms:
            return np.asarray(0.0)
        return np.asarray(sum(terms[1:], terms[0]), dtype=float)


def _lookup(ev: Evaluator, names: Sequence[str]) -> list[Any]:
    """``[ev.value(n) for n in names]``, reading given values directly (thousands per call in big models)."""
    given = ev.values
    if len(names) > 1:
        try:
            return list(operator.itemgetter(*names)(given))  # one C call when every name is given
        except KeyError:
            pass
    return [given[n] if n in given else ev.value(n) for n in names]


def _stack_values(vals: Sequence[Any]) -> Array:
    """Values (scalars, or arrays of a batch shape) stacked on a new first axis."""
    if not vals:
        return np.zeros((0,))
    try:
        return np.array(vals, dtype=float)
    except ValueError:  # scalars and batch arrays mixed
        return np.stack(np.broadcast_arrays(*[np.asarray(v, dtype=float) for v in vals]))


def _log_gauss_norm(mean: Array, sigma: Array, lo: Array, hi: Array) -> Array:
    """log ∫_lo^hi exp(-(x - mean)² / 2σ²) dx, elementwise (lo/hi may be infinite)."""
    a = (lo - mean) / sigma
    b = (hi - mean) / sigma
    a, b = np.broadcast_arrays(a, b)
    flip = a > 0
    lo_, hi_ = np.where(flip, -b, a), np.where(flip, -a, b)
    log_hi = special.log_ndtr(hi_)
    log_lo = special.log_ndtr(lo_)
    with np.errstate(divide="ignore"):
        diff = log_hi + np.log1p(-np.exp(np.minimum(log_lo - log_hi, 0.0)))
    return np.asarray(diff + _LOG_SQRT_2PI + np.log(sigma))


def merge_constraints(kernels: Iterable[HistFactory]) -> ConstraintSet:
    """The constraint terms of several channels, each parameter's term once.

    Raises
    ------
    EvaluationError
        If two channels constrain the same parameter differently.
    """
    merged: dict[str, ConstraintSpec] = {}
    for k in kernels:
        for name, spec in k.constraint_terms().items():
            old = merged.get(name)
            if old is None:
                merged[name] = spec
            elif old != spec:
                raise EvaluationError(f"parameter {name!r} is constrained differently by {old.source} and "
                                      f"{spec.source}; a shared parameter needs one constraint term")
    return ConstraintSet(list(merged.values()))


# --------------------------------------------------------------------------------------
# the kernel


def _mixed_samples(mods: Sequence[_Mod], kinds: Sequence[str]) -> set[int]:
    """Samples whose modifiers of one class mix additive and multiplicative interpolation codes."""
    seen: dict[int, set[str]] = {}
    for m, k in zip(mods, kinds, strict=True):
        seen.setdefault(m.sample, set()).add(k)
    return {smp for smp, ks in seen.items() if len(ks) > 1}


def _grouped(codes: Sequence[int]) -> dict[int, IntArray]:
    out: dict[int, list[int]] = {}
    for i, c in enumerate(codes):
        out.setdefault(c, []).append(i)
    return {c: np.asarray(v, dtype=np.intp) for c, v in out.items()}


@register("histfactory_dist", "distribution",
          {"samples": req(Kind.LIST, "the samples: name, data {contents, errors}, modifiers"),
           "axes": req(Kind.LIST, "the binning: one axis per observable"),
           "staterror": opt(Kind.OBJECT, "channel staterror settings: relThreshold, constraint(_type)"),
           "default_interpolation": opt(Kind.ANY, "the channel's default interpolation")},
          checks=(_check,), extra_refs=_refs)
class HistFactory(BinnedDistributionOp):
    """A HistFactory channel (``histfactory_dist``): ν per bin from templates and modifiers.

    Modifiers: ``normfactor`` (× μ), ``normsys`` (× FlexibleInterpVar), ``histosys``
    (PiecewiseInterpolation of the contents, clipped at 0 with ROOT conventions),
    ``shapefactor`` / ``shapesys`` (× γ per bin), ``staterror`` (× γ per bin, one γ per
    bin shared by all samples with the same staterror parameters, Barlow-Beeston lite),
    ``custom`` (× a function of the workspace; evaluated at the bin centres when it
    depends on the observables). Additive terms of one sample are summed and the
    multiplicative ones multiplied (ROOT's running order only matters when a sample
    mixes additive and multiplicative normsys codes).

    Parameter names as ROOT makes them when the file gives none: ``alpha_<name>``
    (normsys/histosys), ``gamma_stat_<channel>_bin_<i>`` (staterror; a ``model_`` prefix
    of the channel is dropped), ``gamma_<name>_bin_<i>`` (shapesys/shapefactor), the
    modifier name (normfactor); ``i`` is ``i_j`` in more than one dimension.

    Constraint terms (implicit, not in ``aux_distributions``), one per parameter:

    * normsys/histosys α: Gaussian ``N(nom_α | α, 1)`` normalised over ``nom_α``'s
      range, unless the modifier names an explicit constraint pdf (``constraint`` as a
      pdf name, ``constraint_name``) or says ``Const`` (α constant, no term);
    * normfactor: only an explicit constraint pdf;
    * staterror: σ_rel[b] = √(Σ err²) / Σ contents over the samples with that staterror
      (missing ``errors``: err² = contents, as RooDataHist); Poisson
      ``τ log(γτ) - γτ - lgamma(τ+1)`` with τ = 1/σ_rel², or Gaussian ``N(1 | γ, σ_rel)``;
      σ_rel below the channel's ``staterror.relThreshold`` makes γ constant (its term stays,
      as in ROOT); γ's range is ROOT's [0, 1 + 5 σ_rel] (pyhf conventions: [1e-10, 10]);
    * shapesys: Poisson with τ = 1/σ_rel² or Gaussian with σ_rel, ``Const`` (constant γ),
      or the explicit pdfs of ``constraints``; range [0, 1 + 5 σ_rel] as ROOT.

    Checked against RooFit 6.40 (``tests/test_histfactory.py``, marker ``roofit``) for every
    modifier type, the staterror and shapesys constraint types and the normsys interpolation
    codes. Where RooFit 6.40 does not read what a file says, pyhs3_lab follows the file (and
    ROOT master): 6.40 ignores a histosys ``interpolation`` (always code 4) and reads
    ``"constraint": "<pdf name>"`` (master format) as a Gaussian of width 1.

    ``ctx.options["conventions"]`` chooses the defaults for what a file does not say:

    ============================ ================================ ===============================
    where the file is silent     ``"root"`` (default; RooFit)      ``"pyhf"``
    ============================ ================================ ===============================
    normsys interpolation        code 4 (poly6 / exp)              code 1 (exponential)
    histosys interpolation       code 4 (poly6 / linear), ν ≥ 0    code 0 (piecewise linear)
    staterror constraint         Poisson (or the channel's         Gaussian (or what the channel
                                 ``staterror.constraint_type``)    block or the modifier says)
    shapesys ``vals``            relative σ_rel                    absolute σ: σ_rel = σ / n
    shapesys constraint          Gaussian                          Poisson, τ = (n / σ)²
    bins without uncertainty     γ constant, no term               γ constant, unit term (pyhf)
    global observables           ``nom_*`` ranges as ROOT          unbounded
    ============================ ================================ ===============================

    ``expected_counts`` returns ν flattened row-major (first axis slowest); with array
    parameter values the batch axes come first: shape ``(*batch, n_bins)``.
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        raw = ctx.component.raw
        conv = ctx.options.get("conventions", "root")
        if conv not in ("root", "pyhf"):
            raise EvaluationError(f"{self.path}: conventions must be 'root' or 'pyhf', not {conv!r}")
        self.conventions: Conventions = conv
        axes = _axes_edges(raw)
        if axes is None:
            raise EvaluationError(f"{ctx.path('axes')}: histfactory_dist {self.name!r} has no valid axes")
        self.axis_names = tuple(n for n, _ in axes)
        self.bin_edges = tuple(np.asarray(e, dtype=float) for _, e in axes)
        self.shape = tuple(len(e) - 1 for e in self.bin_edges)
        self.n_bins = int(np.prod(self.shape))
        widths = np.meshgrid(*[np.diff(e) for e in self.bin_edges], indexing="ij")
        self.volumes: Array = np.prod(np.stack([w.ravel() for w in widths]), axis=0)
        centres = np.meshgrid(*[0.5 * (e[1:] + e[:-1]) for e in self.bin_edges], indexing="ij")
        self._centres = {n: np.asarray(c.ravel(), dtype=float) for n, c in zip(self.axis_names, centres, strict=True)}
        self._labels = _bin_labels(self.shape)

        samples = raw["samples"]
        self.sample_names = tuple(str(s["name"]) for s in samples)
        self.nominal: Array = np.array([[float(as_number(v) or 0.0) for v in s["data"]["contents"]]
                                        for s in samples], dtype=float).reshape(len(samples), self.n_bins)
        errs = []
        for s, nom in zip(samples, self.nominal, strict=True):
            e = s["data"].get("errors")
            errs.append(np.array([float(as_number(v) or 0.0) for v in e]) ** 2 if e is not None else np.abs(nom))
        self._err2: Array = np.asarray(errs, dtype=float).reshape(self.nominal.shape)

        self._params: dict[str, int] = {}
        self._specs: dict[str, ConstraintSpec] = {}
        self._defaults: dict[str, tuple[float, float | None, float | None]] = {}
        self._const: set[str] = set()
        self._globals: set[str] = set()
        self._gammas: set[str] = set()
        self._graph_names = set(ctx.graph.nodes)

        mods = _modifiers(raw, self.n_bins, self._labels)
        for m in mods:
            if m.type not in MODIFIER_TYPES:
                raise UnsupportedTypeError(f"histfactory modifier {m.type}", self.name, ctx.path(m.path),
                                           f"known modifier types are {', '.join(MODIFIER_TYPES)}")
            if not m.params:
                raise EvaluationError(f"{ctx.path(m.path)} ({self._where(m)}): no parameter name")
        self._build_scalar(ctx, [m for m in mods if m.type == "normfactor"],
                           [m for m in mods if m.type == "normsys"], [m for m in mods if m.type == "histosys"])
        self._build_per_bin(ctx, raw, mods)
        self._custom = [(m.sample, m.params[0], bool(set(self.axis_names) & ctx.graph.leaves(m.params[0])))
                        for m in mods if m.type == "custom"]
        self._param_names = list(self._params)
        #: every modifier parameter is a free parameter (the analytic gradient needs no chain rule)
        self._free = all(getattr(ctx.graph.nodes.get(n), "kind", "parameter") == "parameter"
                         for n in self._param_names)
        self.constraints = ConstraintSet(list(self._specs.values()))
        # global observables declared to the graph whose parameter ended up without a term
        for _fld, ref, _kind in _refs(raw):
            if ref.startswith("nom_") and ref not in self._defaults:
                self._defaults[ref] = (0.0 if ref[4:] not in self._gammas else 1.0, None, None)
                self._const.add(ref)
                self._globals.add(ref)

    # -- construction -------------------------------------------------------------------

    def _where(self, m: _Mod) -> str:
        return f"channel {self.name!r}, sample {self.sample_names[m.sample]!r}, {m.type} {m.name!r}"

    def _index(self, name: str) -> int:
        return self._params.setdefault(name, len(self._params))

    def _add_spec(self, spec: ConstraintSpec) -> None:
        old = self._specs.get(spec.parameter)
        if old is None:
            self._specs[spec.parameter] = spec
        elif old != spec:
            raise EvaluationError(f"{self.path}: parameter {spec.parameter!r} is constrained differently by "
                                  f"{old.source} and {spec.source}; a shared parameter needs one constraint term")

    def _global(self, param: str, value: float, lo: float | None, hi: float | None) -> str | None:
        name = f"nom_{param}"
        if name not in self._graph_names:
            return None
        self._globals.add(name)
        self._const.add(name)
        if self.conventions == "pyhf":
            lo = hi = None
        self._defaults.setdefault(name, (value, lo, hi))
        return name

    def _pdf_spec(self, ctx: BuildContext, param: str, pdf: str, source: str,
                  nominal: float = 1.0) -> ConstraintSpec:
        comp = ctx.spec.component(pdf)
        if comp is None or comp.category != "distribution":
            raise EvaluationError(f"{source}: the constraint {pdf!r} of {param!r} is not a distribution")
        info = registry.lookup(comp.type)
        obs: set[str] = set()
        if info is not None:
            for key in info.variates:
                val = comp.raw.get(key)
                if isinstance(val, str):
                    obs.add(val)
        obs.discard(param)
        if not obs:
            obs = set(ctx.graph.leaves(pdf)) - {param}
        for name in obs:  # its global observables: constant, at the nominal value unless a point says
            self._defaults.setdefault(name, (nominal, None, None))
            self._const.add(name)
            self._globals.add(name)
        x, mean, sigma = comp.raw.get("x"), comp.raw.get("mean"), as_number(comp.raw.get("sigma"))
        if info is not None and info.type == "gaussian_dist" and sigma is not None and sigma > 0 \
                and isinstance(x, str) and isinstance(mean, str) and param in (x, mean) and x != mean:
            # N(x | mean, sigma) is symmetric in x and mean: with the global observable g the other one
            # (ROOT 6.40 writes x = the parameter, mean = nom_<parameter>), normalised over g's range,
            # it is the vectorised Gaussian term
            glob = mean if x == param else x
            return ConstraintSpec(param, "gauss", global_observable=glob, aux=nominal, sigma=sigma, pdf=pdf,
                                  source=source)
        return ConstraintSpec(param, "pdf", pdf=pdf, pdf_observables=tuple(sorted(obs)), source=source)

    def _interp(self, ctx: BuildContext, m: _Mod, target: Literal["normsys", "histosys"]) -> int:
        spec = m.raw.get("interpolation")
        if spec is None and isinstance(m.raw.get("data"), Mapping):
            spec = m.raw["data"].get("interpolation")  # pyhs3 writes "code1"/"code4" there
        if spec is not None:
            return interpolation_code(spec, target, path=ctx.path(f"{m.path}.interpolation"))
        default = ctx.raw("default_interpolation")
        if default is not None:
            try:
                return interpolation_code(default, target, path=ctx.path("default_interpolation"))
            except SchemaError:
                pass  # a channel default for the other class of modifiers
        if self.conventions == "pyhf":
            return 1 if target == "normsys" else 0
        return 4

    def _alpha(self, ctx: BuildContext, m: _Mod) -> None:
        param = m.params[0]
        source = ctx.path(m.path)
        kind, pdf = _alpha_constraint(m.raw)
        if m.type == "normfactor":
            self._defaults.setdefault(param, (1.0, -3.0, 5.0) if self.conventions == "root" else (1.0, 0.0, 10.0))
            if kind == "pdf" and pdf is not None:
                self._add_spec(self._pdf_spec(ctx, param, pdf, source))
            elif kind == "const":
                self._const.add(param)
            elif kind != "none":
                raise EvaluationError(f"{source} ({self._where(m)}): a normfactor constraint must name a "
                                      f"distribution of the workspace, not the type {kind!r}")
            return
        self._defaults.setdefault(param, (0.0, -5.0, 5.0))
        if kind == "pdf" and pdf is not None:
            self._add_spec(self._pdf_spec(ctx, param, pdf, source, nominal=0.0))
        elif kind == "const":
            self._const.add(param)
        elif kind in ("gauss", "none"):
            nom = self._global(param, 0.0, -10.0, 10.0)
            self._add_spec(ConstraintSpec(param, "gauss", nom, 0.0, 1.0, source=source))
        else:
            written = m.raw.get("constraint", m.raw.get("constraint_type"))
            raise EvaluationError(f"{source} ({self._where(m)}): constraint {written!r} on a {m.type} is not "
                                  "supported (ROOT implements only Gauss here)")

    def _build_scalar(self, ctx: BuildContext, normfactors: list[_Mod], normsys: list[_Mod],
                      histosys: list[_Mod]) -> None:
        for m in [*normfactors, *normsys, *histosys]:
            self._alpha(ctx, m)
        self._nf_s = np.asarray([m.sample for m in normfactors], dtype=np.intp)
        self._nf_p = np.asarray([self._index(m.params[0]) for m in normfactors], dtype=np.intp)

        # ROOT applies the terms of one sample in order (a running total: add, or multiply); the
        # order matters only where a sample mixes additive and multiplicative codes: those samples
        # are evaluated in order, all others by code groups
        codes = [self._interp(ctx, m, "normsys") for m in normsys]
        mixed = _mixed_samples(normsys, [NORMSYS_CODES[c] for c in codes])
        self._ns: list[tuple[int, IntArray, IntArray, Array, Array]] = []
        self._ns_ordered: dict[int, list[tuple[int, int, float, float]]] = {}
        for i, (m, code) in enumerate(zip(normsys, codes, strict=True)):
            if m.sample in mixed:
                self._ns_ordered.setdefault(m.sample, []).append(
                    (code, self._index(m.params[0]), *self._normsys_data(normsys[i])))
        for code, idx in _grouped(codes).items():
            ms = [normsys[i] for i in idx if normsys[i].sample not in mixed]
            if not ms:
                continue
            lohi = np.asarray([self._normsys_data(m) for m in ms], dtype=float).reshape(len(ms), 2)
            self._ns.append((code, np.asarray([m.sample for m in ms], dtype=np.intp),
                             np.asarray([self._index(m.params[0]) for m in ms], dtype=np.intp), lohi[:, 0], lohi[:, 1]))

        def hist(m: _Mod, key: str) -> Array:
            return np.asarray([float(as_number(v) or 0.0) for v in m.raw["data"][key]["contents"]], dtype=float)

        codes = [self._interp(ctx, m, "histosys") for m in histosys]
        mixed = _mixed_samples(histosys, [HISTOSYS_CODES[c] for c in codes])
        self._hs: list[tuple[int, IntArray, IntArray, Array, Array, Array]] = []
        self._hs_ordered: dict[int, list[tuple[int, int, Array, Array]]] = {}
        for m, code in zip(histosys, codes, strict=True):
            if m.sample in mixed:
                self._hs_ordered.setdefault(m.sample, []).append(
                    (code, self._index(m.params[0]), hist(m, "lo"), hist(m, "hi")))
        for code, idx in _grouped(codes).items():
            ms = [histosys[i] for i in idx if histosys[i].sample not in mixed]
            if not ms:
                continue
            smp = np.asarray([m.sample for m in ms], dtype=np.intp)
            self._hs.append((code, smp, np.asarray([self._index(m.params[0]) for m in ms], dtype=np.intp),
                             self.nominal[smp], np.stack([hist(m, "lo") for m in ms]),
                             np.stack([hist(m, "hi") for m in ms])))
        self._has_histo = np.zeros(len(self.sample_names), dtype=bool)
        self._has_histo[[m.sample for m in histosys]] = True

    @staticmethod
    def _normsys_data(m: _Mod) -> tuple[float, float]:
        return float(as_number(m.raw["data"]["lo"]) or 0.0), float(as_number(m.raw["data"]["hi"]) or 0.0)

    def _gamma_default(self, param: str, root_max: float = 10.0) -> None:
        self._gammas.add(param)
        self._defaults.setdefault(param, (1.0, 0.0, root_max) if self.conventions == "root" else (1.0, 1e-10, 10.0))

    def _gamma_constraint(self, ctx: BuildContext, param: str, kind: str, rel: float, source: str,
                          masked: bool, root_max: float = 10.0) -> None:
        """One γ: ``rel`` the relative uncertainty; ``masked``: a bin without uncertainty."""
        self._gamma_default(param, root_max)
        if kind == "const" or (masked and self.conventions == "root"):
            self._const.add(param)
            return
        if masked:  # pyhf: fixed at 1 with a unit constraint term
            self._const.add(param)
            rel = 1.0
        if kind == "poisson":
            tau = 1.0 / (rel * rel)
            nom = self._global(param, tau, 0.0, None)
            self._add_spec(ConstraintSpec(param, "poisson", nom, tau, tau=tau, source=source))
        elif kind == "gauss":
            nom = self._global(param, 1.0, 0.0, 10.0)
            self._add_spec(ConstraintSpec(param, "gauss", nom, 1.0, sigma=rel, source=source))
        else:
            raise EvaluationError(f"{source}: constraint {kind!r} of {param!r} is not supported "
                                  "(expected Gauss, Poisson or Const)")

    def _build_per_bin(self, ctx: BuildContext, raw: Mapping[str, Any], mods: list[_Mod]) -> None:
        g_s: list[int] = []
        g_p: list[list[int]] = []
        for m in mods:
            if m.type in _PER_BIN:
                g_s.append(m.sample)
                g_p.append([self._index(p) for p in m.params])
        self._g_s = np.asarray(g_s, dtype=np.intp)
        self._g_p = np.asarray(g_p, dtype=np.intp).reshape(len(g_s), self.n_bins)

        for m in mods:
            if m.type == "shapefactor":
                for p in m.params:
                    self._gamma_default(p)
            elif m.type == "shapesys":
                self._shapesys(ctx, m)

        # staterror: one γ per bin shared by the samples with the same parameters
        block = raw.get("staterror") if isinstance(raw.get("staterror"), Mapping) else {}
        assert isinstance(block, Mapping)
        threshold = float(as_number(block.get("relThreshold", 0.0)) or 0.0)
        # ROOT 6.40 reads the channel's constraint_type only (a channel-level "constraint" and the
        # modifiers' own keys are ignored: Poisson); pyhf conventions honour all of them
        block_kind = _type_string(block.get("constraint_type"))
        if block_kind is None and self.conventions == "pyhf":
            block_kind = _type_string(block.get("constraint"))
        groups: dict[tuple[str, ...], list[_Mod]] = {}
        for m in mods:
            if m.type == "staterror":
                groups.setdefault(tuple(m.params), []).append(m)
        for params, ms in groups.items():
            s = np.asarray(sorted({m.sample for m in ms}), dtype=np.intp)
            sum_w = self.nominal[s].sum(axis=0)
            sum_w2 = self._err2[s].sum(axis=0)
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(sum_w > 0, np.sqrt(sum_w2) / sum_w, 0.0)
            kind = block_kind
            if kind is None and self.conventions == "pyhf":
                kind = _type_string(ms[0].raw.get("constraint", ms[0].raw.get("constraint_type")))
            if kind is None:
                kind = "poisson" if self.conventions == "root" else "gauss"
            pdfs = ms[0].raw.get("constraints")
            source = ctx.path(ms[0].path)
            for b, p in enumerate(params):
                if isinstance(pdfs, list):
                    if isinstance(pdfs[b], str):
                        self._gamma_default(p)
                        self._add_spec(self._pdf_spec(ctx, p, pdfs[b], source))
                    else:
                        self._gamma_default(p)
                        self._const.add(p)
                    continue
                r = float(rel[b])
                # ROOT's range of a staterror gamma: [0, 1 + 5 rel]
                self._gamma_constraint(ctx, p, kind, r, source, masked=not r > 0,
                                       root_max=1.0 + 5.0 * r if r > 0 else 10.0)
                if 0 < r < threshold:
                    # below the threshold: constant, but its constraint term stays (as in ROOT)
                    self._const.add(p)

    def _shapesys(self, ctx: BuildContext, m: _Mod) -> None:
        source = ctx.path(m.path)
        vals = np.asarray([float(as_number(v) or 0.0) for v in m.raw["data"]["vals"]], dtype=float)
        nom = self.nominal[m.sample]
        if self.conventions == "pyhf":
            valid = (nom > 0) & (vals > 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(valid, vals / np.where(nom > 0, nom, 1.0), 0.0)
        else:
            valid = vals > 0
            rel = np.where(valid, vals, 0.0)
        pdfs = m.raw.get("constraints")
        kind: str | None = None
        for key in ("constraint", "constraint_type", "constraint_name"):
            val = m.raw.get(key)
            if isinstance(val, str):
                kind = _type_string(val)
                if kind is None:
                    raise EvaluationError(f"{source}.{key} ({self._where(m)}): {val!r} is not a constraint type "
                                          "(Gauss, Poisson, Const); per-bin constraint pdfs go in 'constraints'")
                break
        if kind is None:
            kind = "gauss" if self.conventions == "root" else "poisson"
        for b, p in enumerate(m.params):
            if isinstance(pdfs, list):
                self._gamma_default(p)
                if isinstance(pdfs[b], str):
                    self._add_spec(self._pdf_spec(ctx, p, pdfs[b], source))
                else:
                    self._const.add(p)
                continue
            r = float(rel[b])
            self._gamma_constraint(ctx, p, kind, r, source, masked=not bool(valid[b]),
                                   root_max=1.0 + 5.0 * r if r > 0 else 10.0)

    # -- what the model and the likelihood ask ---------------------------------------------

    def parameter_defaults(self) -> dict[str, tuple[float, float | None, float | None]]:
        return dict(self._defaults)

    def constant_parameters(self) -> set[str]:
        return set(self._const)

    def global_observables(self) -> set[str]:
        """The ``nom_*`` names of the implicit constraint terms (constants)."""
        return set(self._globals)

    def constraint_terms(self) -> dict[str, ConstraintSpec]:
        """``{parameter: its constraint term}``; merge channels with :func:`merge_constraints`."""
        return dict(self._specs)

    def constraint_pdfs(self) -> set[str]:
        """Names of the workspace distributions this channel uses as constraint terms (``constraint``,
        ``constraint_name``, ``constraints``): a likelihood must not add them again from its
        ``aux_distributions``."""
        return {s.pdf for s in self._specs.values() if s.pdf is not None}

    def constraint_log_terms(self, ev: Evaluator) -> dict[str, Array]:
        """``{parameter: log of its constraint term}`` at ``ev`` (a likelihood counts each name once)."""
        return dict(zip(self.constraints.names, self.constraints.log_terms(ev), strict=True))

    def log_constraints(self, ev: Evaluator) -> Array:
        return self.constraints.log_value(ev)

    # -- evaluation -------------------------------------------------------------------------

    def _values(self, ev: Evaluator) -> Array:
        return _stack_values(_lookup(ev, self._param_names))

    def _by_sample(self, ev: Evaluator) -> Array:
        """ν per sample and bin: shape ``(samples, bins, *batch)``."""
        pars = self._values(ev)
        batch = pars.shape[1:]
        tail = (1,) * len(batch)
        n_s = len(self.sample_names)

        scale = np.ones((n_s, *batch))
        if self._nf_s.size:
            np.multiply.at(scale, self._nf_s, pars[self._nf_p])
        if self._ns or self._ns_ordered:
            add = np.zeros((n_s, *batch))
            mult = np.ones((n_s, *batch))
            for code, s, p, lo, hi in self._ns:
                kind, val = normsys_term(code, pars[p], lo.reshape((-1, *tail)), hi.reshape((-1, *tail)))
                if kind == "add":
                    np.add.at(add, s, val)
                else:
                    np.multiply.at(mult, s, val)
            for smp, terms in self._ns_ordered.items():
                total = np.ones(batch)
                for code_, p_, lo_, hi_ in terms:
                    kind, val = normsys_term(code_, pars[p_], lo_, hi_)
                    total = total + val if kind == "add" else total * val
                mult[smp] = mult[smp] * total
            norm = (1.0 + add) * mult
            if self.conventions == "root":  # FlexibleInterpVar: a total <= 0 becomes DBL_MIN
                norm = np.where(norm <= 0, _DBL_MIN, norm)
            scale = scale * norm

        contents = np.broadcast_to(self.nominal.reshape((n_s, self.n_bins, *tail)), (n_s, self.n_bins, *batch))
        if self._hs:
            delta = np.zeros((n_s, self.n_bins, *batch))
            ratio = np.ones((n_s, self.n_bins, *batch))
            for code, s, p, nom, lo, hi in self._hs:
                alpha = pars[p][:, None, ...]
                kind, val = histosys_term(code, alpha, nom.reshape((*nom.shape, *tail)),
                                          lo.reshape((*lo.shape, *tail)), hi.reshape((*hi.shape, *tail)))
                if kind == "add":
                    np.add.at(delta, s, val)
                else:
                    np.multiply.at(ratio, s, val)
            contents = (contents + delta) * ratio
        if self._hs_ordered:
            contents = np.array(contents)
            for smp, hterms in self._hs_ordered.items():
                nom_s = self.nominal[smp].reshape((self.n_bins, *tail))
                run = np.broadcast_to(nom_s, (self.n_bins, *batch))
                for code_, p_, lo_h, hi_h in hterms:
                    kind, val = histosys_term(code_, pars[p_][None, ...], nom_s, lo_h.reshape((-1, *tail)),
                                              hi_h.reshape((-1, *tail)))
                    run = run + val if kind == "add" else run * val
                contents[smp] = run
        if (self._hs or self._hs_ordered) and self.conventions == "root":
            # PiecewiseInterpolation positiveDefinite
            clip = self._has_histo.reshape((n_s, 1, *tail)) & (contents < 0)
            contents = np.where(clip, 0.0, contents)

        factors = np.ones((n_s, self.n_bins, *batch))
        if self._g_s.size:
            np.multiply.at(factors, self._g_s, pars[self._g_p])
        for s_idx, ref, binned in self._custom:
            if binned:
                val = np.asarray(ev.child(self._centres).value(ref), dtype=float)
                if val.shape != (self.n_bins,):
                    raise EvaluationError(f"{self.path}: custom modifier {ref!r} at the bin centres has shape "
                                          f"{val.shape}, expected ({self.n_bins},) (scalar parameters only)")
                factors[s_idx] *= val.reshape((self.n_bins, *tail))
            else:
                scale[s_idx] = scale[s_idx] * np.asarray(ev.value(ref), dtype=float)
        return np.asarray(contents * factors * scale[:, None, ...], dtype=float)

    # -- analytic derivatives (scalar parameter values) -------------------------------------

    def grad_log_constraints(self, ev: Evaluator, param_names: Sequence[str]) -> Array:
        """d/dθ of :meth:`log_constraints` for each of ``param_names`` (0 for names it does not use)."""
        grads = self.constraints.grad_log_terms(ev)
        return np.array([grads.get(n, 0.0) for n in param_names], dtype=float)

    def grad_expected(self, ev: Evaluator, param_names: Sequence[str]) -> Array:
        """d ν_b / d θ: shape ``(len(param_names), n_bins)`` (0 rows for names ν does not use).

        Raises
        ------
        EvaluationError
            With array parameter values, with ``custom`` modifiers, or when a modifier's
            parameter is a function of the workspace (no chain rule here).
        """
        if self._custom or not self._free:
            raise EvaluationError(f"{self.path}: no analytic gradient for channel {self.name!r} "
                                  "(custom modifiers or modifier parameters that are functions)")
        pars = self._values(ev)
        if pars.ndim != 1:
            raise EvaluationError(f"{self.path}: the analytic gradient takes scalar parameter values")
        n_s, n_b, n_p = len(self.sample_names), self.n_bins, len(self._param_names)
        grad = np.zeros((n_p, n_b))

        # normfactors: nf_s = Π μ
        nf = np.ones(n_s)
        np.multiply.at(nf, self._nf_s, pars[self._nf_p])
        d_nf = np.zeros((n_s, n_p))
        for k, (smp, p) in enumerate(zip(self._nf_s, self._nf_p, strict=True)):
            if pars[p] != 0:
                others = nf[smp] / pars[p]
            else:
                others = np.prod([pars[q] for j, (t, q) in enumerate(zip(self._nf_s, self._nf_p, strict=True))
                                  if t == smp and j != k])
            d_nf[smp, p] += others

        # normsys: norm_s = (1 + Σ add) · Π mult · (ordered running totals)
        add = np.zeros(n_s)
        mult = np.ones(n_s)
        d_add = np.zeros((n_s, n_p))
        mult_entries: list[tuple[int, int, float, float]] = []  # sample, param, factor, d factor
        for code, smp_idx, p_idx, lo, hi in self._ns:
            kind, val = normsys_term(code, pars[p_idx], lo, hi)
            _, dval = normsys_term_grad(code, pars[p_idx], lo, hi)
            if kind == "add":
                np.add.at(add, smp_idx, val)
                np.add.at(d_add, (smp_idx, p_idx), dval)
            else:
                np.multiply.at(mult, smp_idx, val)
                mult_entries += list(zip(smp_idx.tolist(), p_idx.tolist(), val.tolist(), dval.tolist(), strict=True))
        d_mult = np.zeros((n_s, n_p))
        for k, (smp, p, f, df) in enumerate(mult_entries):
            if f != 0:
                others = mult[smp] / f
            else:
                others = np.prod([g for j, (t, _, g, _) in enumerate(mult_entries) if t == smp and j != k])
            d_mult[smp, p] += others * df
        for smp, terms in self._ns_ordered.items():
            total, d_total = 1.0, np.zeros(n_p)
            for code_, p_, lo_, hi_ in terms:
                kind, val = normsys_term(code_, pars[p_], lo_, hi_)
                _, dval = normsys_term_grad(code_, pars[p_], lo_, hi_)
                v, dv = float(val), float(dval)
                if kind == "add":
                    total, d_total[p_] = total + v, d_total[p_] + dv
                else:
                    d_total = d_total * v
                    d_total[p_] += total * dv
                    total *= v
            d_mult[smp] = d_mult[smp] * total + mult[smp] * d_total
            mult[smp] *= total
        norm = (1.0 + add) * mult
        d_norm = d_add * mult[:, None] + (1.0 + add)[:, None] * d_mult
        if self.conventions == "root":
            dead = norm <= 0
            norm = np.where(dead, _DBL_MIN, norm)
            d_norm[dead] = 0.0
        scale = nf * norm
        d_scale = d_nf * norm[:, None] + nf[:, None] * d_norm

        # per-bin gammas: F_sb = Π γ
        factors = np.ones((n_s, n_b))
        if self._g_s.size:
            np.multiply.at(factors, self._g_s, pars[self._g_p])

        # histosys: contents C_sb and their derivatives (added to grad below)
        contents, d_contents = self._grad_contents(pars)
        for smp, p, dc in d_contents:
            np.add.at(grad, p, dc * factors[smp] * scale[smp])
        if self._g_s.size:
            gam = pars[self._g_p]  # (entries, bins)
            bins = np.arange(n_b)
            for m, smp in enumerate(self._g_s):
                same = self._g_s == smp
                same[m] = False
                others = np.prod(gam[same], axis=0) if same.any() else np.ones(n_b)
                np.add.at(grad, (self._g_p[m], bins), contents[smp] * others * scale[smp])
        grad += d_scale.T @ (contents * factors)

        index = {n: i for i, n in enumerate(self._param_names)}
        out = np.zeros((len(param_names), n_b))
        for i, name in enumerate(param_names):
            j = index.get(name)
            if j is not None:
                out[i] = grad[j]
        return out

    def _grad_contents(self, pars: Array) -> tuple[Array, list[tuple[int, NDArray[np.intp] | int, Array]]]:
        """Contents after histosys (scalar parameters) and their derivatives as
        ``(sample, parameter index, d contents per bin)`` entries."""
        n_s, n_b = len(self.sample_names), self.n_bins
        delta = np.zeros((n_s, n_b))
        ratio = np.ones((n_s, n_b))
        adds: list[tuple[int, int, Array]] = []
        mults: list[tuple[int, int, Array, Array]] = []
        for code, smp_idx, p_idx, nom, lo, hi in self._hs:
            alpha = pars[p_idx][:, None]
            kind, val = histosys_term(code, alpha, nom, lo, hi)
            _, dval = histosys_term_grad(code, alpha, nom, lo, hi)
            if kind == "add":
                np.add.at(delta, smp_idx, val)
                adds += [(int(s_), int(p_), d) for s_, p_, d in zip(smp_idx, p_idx, dval, strict=True)]
            else:
                np.multiply.at(ratio, smp_idx, val)
                mults += [(int(s_), int(p_), v, d) for s_, p_, v, d in zip(smp_idx, p_idx, val, dval, strict=True)]
        base = self.nominal + delta
        contents = base * ratio
        out: list[tuple[int, NDArray[np.intp] | int, Array]] = [(s_, p_, ratio[s_] * d) for s_, p_, d in adds]
        for k, (s_, p_, v, d) in enumerate(mults):
            with np.errstate(divide="ignore", invalid="ignore"):
                others = ratio[s_] / v
            if np.any(v == 0):
                explicit = np.ones(n_b)
                for j, (t, _q, w, _e) in enumerate(mults):
                    if t == s_ and j != k:
                        explicit = explicit * w
                others = np.where(v == 0, explicit, others)
            out.append((s_, p_, base[s_] * others * d))
        for smp, hterms in self._hs_ordered.items():
            run = self.nominal[smp].copy()
            d_run: dict[int, Array] = {}
            for code_, p_, lo_h, hi_h in hterms:
                kind, val = histosys_term(code_, pars[p_], self.nominal[smp], lo_h, hi_h)
                _, dval = histosys_term_grad(code_, pars[p_], self.nominal[smp], lo_h, hi_h)
                if kind == "add":
                    d_run[p_] = d_run.get(p_, np.zeros(n_b)) + dval
                    run = run + val
                else:
                    d_run = {q: d * val for q, d in d_run.items()}
                    d_run[p_] = d_run.get(p_, np.zeros(n_b)) + run * dval
                    run = run * val
            contents[smp] = run
            out = [e for e in out if e[0] != smp] + [(smp, q, d) for q, d in d_run.items()]
        if self.conventions == "root" and (self._hs or self._hs_ordered):
            clipped = self._has_histo[:, None] & (contents < 0)
            contents = np.where(clipped, 0.0, contents)
            out = [(s_, p_, np.where(clipped[s_], 0.0, d)) for s_, p_, d in out]
        return contents, out

    def expected_by_sample(self, ev: Evaluator) -> dict[str, Array]:
        """ν per sample (for stacked plots): ``{sample name: ν per bin}``, shape ``(*batch, n_bins)``."""
        nu = self._by_sample(ev)
        return {name: np.moveaxis(nu[i], 0, -1) for i, name in enumerate(self.sample_names)}

    def expected_counts(self, ev: Evaluator) -> Array:
        return np.asarray(np.moveaxis(self._by_sample(ev).sum(axis=0), 0, -1), dtype=float)

    def expected_events(self, ev: Evaluator) -> Array:
        return np.asarray(self.expected_counts(ev).sum(axis=-1), dtype=float)

    def log_density(self, ev: Evaluator) -> Array:
        """log(ν_bin / bin volume) of the bin holding the observables' values (-inf outside)."""
        nu = self.expected_counts(ev)
        flat: IntArray | None = None
        inside: NDArray[np.bool_] | None = None
        for name, edges in zip(self.axis_names, self.bin_edges, strict=True):
            x = np.asarray(ev.value(name), dtype=float)
            idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
            ok = (x >= edges[0]) & (x <= edges[-1])
            flat = idx if flat is None else flat * (len(edges) - 1) + idx
            inside = ok if inside is None else inside & ok
        assert flat is not None
        assert inside is not None
        dens = nu[..., flat] / self.volumes[flat]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(np.where(inside, np.log(dens), -np.inf), dtype=float)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        """log Σ_b ν_b · (fraction of bin b inside the observables' ranges)."""
        if set(observables) != set(self.axis_names):
            return None
        frac = np.ones(1)
        for name, edges in zip(self.axis_names, self.bin_edges, strict=True):
            lo, hi = ev.bounds(name)
            f = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0.0, None) / np.diff(edges)
            frac = np.outer(frac, f).ravel()
        total = np.sum(self.expected_counts(ev) * frac, axis=-1)
        with np.errstate(divide="ignore"):
            return np.asarray(np.log(total), dtype=float)
