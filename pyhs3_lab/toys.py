"""Pseudo-data, pseudo-experiments and CLs upper limits.

* :func:`sample` draws pseudo-data sets from a likelihood's distributions at given
  parameter values: unbinned data by inverse CDF on an adaptively refined grid (a
  piecewise-linear density, exact to about 1e-7 of the probability per cell), binned
  data as Poisson (extended) or multinomial counts, bin-count distributions as Poisson
  counts of ν; the global observables of the ``aux_distributions`` are drawn too
  (frequentist toys). :func:`asimov` gives the Asimov data set.
* :func:`toys` generates and fits pseudo-experiments (pulls, fitted values), in
  parallel with any :class:`concurrent.futures.Executor`; toy ``i`` uses the ``i``-th
  child of ``numpy.random.SeedSequence(seed)``, so results do not depend on the number
  of workers. The workspace travels once per task (a chunk of toys) as JSON, and each
  worker process rebuilds the likelihood once (a small cache keyed by the JSON digest).
* :func:`upper_limit`: CLs upper limit with the asymptotic formulae for q̃_μ
  (Cowan, Cranmer, Gross, Vitells, EPJC 71 (2011) 1554), observed and expected bands;
  or with toys (``method="toys"``).

The global observables of the implicit constraint terms of ``histfactory_dist``
(``constraint_terms()`` of the kernel) are drawn too: Gaussian within their range,
Poisson as counts. Limitation: sampling needs one observable per data set (an unbounded
observable is sampled within the range that holds all but ~e^-60 of its probability).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from scipy import special

from .errors import LikelihoodError, PyHS3LabError
from .evaluate import Evaluator
from .ops.base import Array

if TYPE_CHECKING:
    from .fit import FitResult
    from .likelihood import Likelihood, _DensityTerm
    from .model import Model

__all__ = ["PseudoData", "ToyStudy", "UpperLimit", "asimov", "sample", "toys", "upper_limit"]

_MAX_GRID = 200_001
_MAX_DISCRETE = 1_000_001


@dataclass(frozen=True)
class PseudoData:
    """One data set for a likelihood: per density term ``(columns, weights)``, per bin-count
    term the contents, and the values of the global observables.

    ``lik.with_data(pseudo)`` is the likelihood of this data set.
    """

    density: tuple[tuple[dict[str, Array], Array | None], ...]
    counts: tuple[Array, ...]
    global_observables: dict[str, float]
    asimov: bool = False

    @property
    def n_events(self) -> float:
        total = 0.0
        for cols, w in self.density:
            total += float(np.sum(w)) if w is not None else float(len(next(iter(cols.values()))))
        return total + float(sum(np.sum(c) for c in self.counts))

    def to_hs3(self, lik: Likelihood, suffix: str = "_toy") -> dict[str, list[dict[str, Any]]]:
        """This data set as HS3: ``{"data": [...], "likelihoods": [...], "parameter_points": [...]}``.

        Each data object of ``lik`` gets a copy named ``<name><suffix>`` with these entries or
        contents; the likelihood ``<lik name><suffix>`` pairs them with the same distributions;
        the parameter point ``global_observables<suffix>`` holds the global observables (constant).
        Extend a workspace's lists with them (e.g. ``Workspace(**merged)``) to save the data set.
        """
        data: list[dict[str, Any]] = []
        renamed: dict[str, str] = {}
        inline: dict[int, float] = {}
        for i, (t, (cols, w)) in enumerate(zip(lik._density_terms, self.density, strict=True)):
            obj = t.data_obj
            if obj is None:  # a number given as data: stays inline
                inline[i] = float(next(iter(cols.values()))[0])
                continue
            name = obj.name + suffix
            renamed[obj.name] = name
            axes = [_axis_dict(a) for a in obj.axes]
            if t.kind == "point":
                data.append({"name": name, "type": "point", "value": float(next(iter(cols.values()))[0]),
                             **({"axes": axes} if axes else {})})
            elif t.kind == "binned":
                assert w is not None
                data.append({"name": name, "type": "binned", "contents": np.asarray(w).tolist(), "axes": axes})
            else:
                entries = np.column_stack([np.asarray(cols[a.name], dtype=float) for a in obj.axes])
                item: dict[str, Any] = {"name": name, "type": "unbinned", "entries": entries.tolist(), "axes": axes}
                if w is not None:
                    item["weights"] = np.asarray(w).tolist()
                data.append(item)
        for ct, c in zip(lik._count_terms, self.counts, strict=True):
            obj = ct.data_obj
            assert obj is not None
            name = obj.name + suffix
            renamed[obj.name] = name
            data.append({"name": name, "type": "binned", "contents": np.asarray(c).tolist(),
                         "axes": [_axis_dict(a) for a in obj.axes]})
        # numbers given as data become the pseudo-values, in order (the density terms keep the pairs' order)
        numbers = [inline[i] for i in sorted(inline)]
        out_pairs: list[str | float] = [renamed.get(dat, dat) if isinstance(dat, str) else numbers.pop(0)
                                        for dat in lik.data]
        likelihood: dict[str, Any] = {"name": f"{lik.name or 'likelihood'}{suffix}",
                                      "distributions": list(lik.distributions), "data": out_pairs}
        if lik.aux_distributions:
            likelihood["aux_distributions"] = list(lik.aux_distributions)
        points = [{"name": f"global_observables{suffix}",
                   "parameters": [{"name": k, "value": float(v), "const": True}
                                  for k, v in sorted(self.global_observables.items())]}]
        return {"data": data, "likelihoods": [likelihood], "parameter_points": points}


def _axis_dict(axis: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": axis.name}
    if axis.min is not None:
        out["min"] = axis.min
    if axis.max is not None:
        out["max"] = axis.max
    if axis.edges is not None:
        out["edges"] = list(axis.edges)
    elif axis.nbins is not None:
        out["nbins"] = axis.nbins
    return out


# --------------------------------------------------------------------------------------
# one-dimensional sampling


class _Sampler1D:
    """Inverse-CDF sampling of a normalised 1-D distribution on an adaptively refined grid.

    The density is linear between grid points; cells are split until the trapezoid and
    Simpson masses of each cell agree to 1e-11 of the total. Discrete distributions are
    enumerated over the integers of the range.
    """

    def __init__(self, model: Model, dist: str, obs: str, values: Mapping[str, Any], what: str) -> None:
        self.model = model
        self.dist = dist
        self.obs = obs
        self.values = dict(values)
        lo, hi = model.bounds.get(obs, (-math.inf, math.inf))
        op = model.compiled.distribution(dist)
        self.discrete = op.discrete
        if not (math.isfinite(lo) and math.isfinite(hi)):
            lo, hi = self._effective_range(lo, hi, what)
        self.lo, self.hi = lo, hi
        if self.discrete:
            k0, k1 = math.ceil(lo), math.floor(hi)
            if k1 - k0 + 1 > _MAX_DISCRETE:
                raise LikelihoodError(f"{what}: the range of {obs!r} holds more than {_MAX_DISCRETE} integers")
            self.x = np.arange(k0, k1 + 1, dtype=float)
            p = self._pdf(self.x)
            self.mass = p / np.sum(p)
            self.cdf = np.cumsum(self.mass)
            return
        x = np.linspace(lo, hi, 513)
        p = self._pdf(x)
        for _ in range(40):
            mid = 0.5 * (x[:-1] + x[1:])
            pm = self._pdf(mid)
            h = np.diff(x)
            trap = 0.5 * h * (p[:-1] + p[1:])
            simpson = h * (p[:-1] + 4.0 * pm + p[1:]) / 6.0
            total = float(np.sum(simpson))
            if not total > 0:
                raise LikelihoodError(f"{what}: distribution {dist!r} has no probability in [{lo}, {hi}] of {obs!r}")
            bad = np.abs(trap - simpson) > 1e-11 * total
            if not np.any(bad) or x.size + int(np.count_nonzero(bad)) > _MAX_GRID:
                break
            x = np.concatenate([x, mid[bad]])
            p = np.concatenate([p, pm[bad]])
            order = np.argsort(x, kind="stable")
            x, p = x[order], p[order]
        self.x = x
        self.p = p
        h = np.diff(x)
        mass = 0.5 * h * (p[:-1] + p[1:])
        self.norm = float(np.sum(mass))
        self.mass = mass / self.norm
        self.cdf = np.concatenate([[0.0], np.cumsum(self.mass)])

    def _effective_range(self, lo: float, hi: float, what: str) -> tuple[float, float]:
        """A finite range that holds all but ~e^-60 of the probability of an unbounded observable, found
        on a geometric grid around its current value (e.g. a global observable, from -inf to inf)."""
        v0 = self.values.get(self.obs)
        centre = float(v0) if isinstance(v0, int | float) and math.isfinite(v0) else 0.0
        centre = min(max(centre, lo), hi)
        offsets = np.concatenate([[0.0], np.logspace(-8, 12, 801)])
        xs = np.unique(np.concatenate([centre - offsets, centre + offsets]))
        xs = xs[(xs >= lo) & (xs <= hi)]
        if self.discrete:
            xs = np.unique(np.round(xs))
            xs = xs[(xs >= lo) & (xs <= hi)]
        ev = Evaluator(self.model.compiled, {**self.values, self.obs: xs}, self.model.bounds, frozenset({self.obs}))
        with np.errstate(all="ignore"):
            lp = np.broadcast_to(np.asarray(ev.log_density(self.dist), dtype=float), xs.shape)
        finite = np.isfinite(lp)
        if not np.any(finite):
            raise LikelihoodError(f"{what}: cannot sample {self.obs!r} for distribution {self.dist!r}: its density "
                                  f"is zero everywhere on [{lo}, {hi}]")
        keep = np.flatnonzero(finite & (lp > np.max(lp[finite]) - 60.0))
        i0, i1 = max(int(keep[0]) - 1, 0), min(int(keep[-1]) + 1, xs.size - 1)
        return float(xs[i0]), float(xs[i1])

    def _pdf(self, x: Array) -> Array:
        ev = Evaluator(self.model.compiled, {**self.values, self.obs: x}, self.model.bounds, frozenset({self.obs}))
        with np.errstate(under="ignore"):
            out = np.exp(np.broadcast_to(ev.logpdf(self.dist), x.shape))
        return np.where(np.isfinite(out), out, 0.0)

    def expected_events(self) -> float | None:
        probe = np.array([0.5 * (self.lo + self.hi)])
        ev = Evaluator(self.model.compiled, {**self.values, self.obs: probe}, self.model.bounds,
                       frozenset({self.obs}))
        nu = self.model.compiled.distribution(self.dist).expected_events(ev)
        return None if nu is None else float(nu)

    def draw(self, n: int, rng: np.random.Generator) -> Array:
        u = rng.random(n)
        if self.discrete:
            idx = np.minimum(np.searchsorted(self.cdf, u, side="right"), self.x.size - 1)
            return np.asarray(self.x[idx], dtype=float)
        i = np.clip(np.searchsorted(self.cdf, u, side="right") - 1, 0, self.mass.size - 1)
        r = (u - self.cdf[i]) * self.norm  # remaining mass inside cell i (unnormalised)
        a, b = self.p[i], self.p[i + 1]
        h = self.x[i + 1] - self.x[i]
        slope = (b - a) / h
        # solve a t + slope t^2 / 2 = r for t in [0, h], in the form stable for slope -> 0
        disc = np.maximum(a * a + 2.0 * slope * r, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(a + np.sqrt(disc) > 0, 2.0 * r / (a + np.sqrt(disc)), 0.5 * h)
        return np.asarray(self.x[i] + np.clip(t, 0.0, h), dtype=float)

    def cdf_at(self, edges: Array) -> Array:
        """The CDF at ``edges`` (for the probabilities of bins)."""
        if self.discrete:
            return np.asarray(np.interp(edges, self.x + 0.5, self.cdf, left=0.0, right=1.0), dtype=float)
        i = np.clip(np.searchsorted(self.x, edges, side="right") - 1, 0, self.mass.size - 1)
        t = np.clip(edges - self.x[i], 0.0, self.x[i + 1] - self.x[i])
        a, b = self.p[i], self.p[i + 1]
        h = self.x[i + 1] - self.x[i]
        part = (a * t + 0.5 * (b - a) / h * t * t) / self.norm
        return np.asarray(self.cdf[i] + part, dtype=float)

    def cells(self) -> tuple[Array, Array]:
        """Points and probabilities of a fine weighted representation (for Asimov data)."""
        if self.discrete:
            return self.x, self.mass
        return 0.5 * (self.x[:-1] + self.x[1:]), self.mass

    def mean(self) -> float:
        c, m = self.cells()
        return float(np.sum(c * m))


def _only_observable(term_obs: Iterable[str], dist: str, what: str) -> str:
    obs = sorted(term_obs)
    if len(obs) != 1:
        raise LikelihoodError(f"{what}: sampling distribution {dist!r} needs exactly one observable, it has {obs}; "
                              "pseudo-data are generated for one-dimensional data only")
    return obs[0]


def _asimov_global(model: Model, dist: str, obs: str, values: Mapping[str, Any], sampler: _Sampler1D) -> float:
    """The value of a global observable in Asimov data: the constraint's mean parameter for Gaussian and
    Poisson constraints (like ROOT and pyhf), otherwise the mean of the distribution."""
    comp = model.spec.component(dist)
    if comp is not None and comp.type.lower() in ("gaussian_dist", "normal_dist", "poisson_dist"):
        ev = Evaluator(model.compiled, dict(values), model.bounds, frozenset({obs}))
        mean = comp.raw.get("mean")
        if mean is not None:
            from .spec import as_ref

            ref = as_ref(mean)
            if ref is not None:
                return float(ev.value(ref))
    return sampler.mean()


class _Generator:
    """Everything needed to draw pseudo-data of one likelihood at fixed parameter values (built once)."""

    def __init__(self, lik: Likelihood, values: Mapping[str, float]) -> None:
        self.lik = lik
        self.full = lik._full_values(lik.values(values))
        model = lik.model
        self.density: list[tuple[_DensityTerm, str, _Sampler1D, float | None]] = []
        for t in lik._density_terms:
            obs = _only_observable(t.observables, t.dist, t.where)
            s = _Sampler1D(model, t.dist, obs, self.full, t.where)
            self.density.append((t, obs, s, s.expected_events()))
        self.counts: list[Array] = []
        for c in lik._count_terms:
            ev = c.evaluator(self.full)
            nu = np.asarray(c.op.expected_counts(ev), dtype=float)
            self.counts.append(np.broadcast_to(nu, c.counts.shape).copy())
        self.globals: list[tuple[str, _Sampler1D, float]] = []
        for a in lik._aux_terms:
            if not a.observables:
                continue
            obs = _only_observable(a.observables, a.dist, f"{lik.path} aux distribution {a.dist!r}")
            s = _Sampler1D(model, a.dist, obs, self.full, f"{lik.path} aux distribution {a.dist!r}")
            self.globals.append((obs, s, _asimov_global(model, a.dist, obs, self.full, s)))
        self._implicit_constraints(lik)

    def _implicit_constraints(self, lik: Likelihood) -> None:
        """Global observables of the constraint terms that bin-count kernels carry (HistFactory):
        Gaussian ``g ~ N(θ, σ)`` within g's range, Poisson ``g ~ Poisson(θ τ)``, explicit pdfs sampled
        like aux distributions."""
        self.gauss: list[tuple[str, float, float, float, float]] = []  # g, θ, σ, lo, hi
        self.poisson: list[tuple[str, float]] = []  # g, θ τ
        seen: set[str] = set()
        model = lik.model
        for t in lik._count_terms:
            specs_of: Any = getattr(t.op, "constraint_terms", None)
            if specs_of is None:
                continue
            for spec in specs_of().values():
                g = spec.global_observable
                if spec.parameter in seen:
                    continue
                seen.add(spec.parameter)
                if spec.kind == "gauss" and g is not None:
                    lo, hi = model.bounds.get(g, (-math.inf, math.inf))
                    self.gauss.append((g, float(self.full[spec.parameter]), float(spec.sigma), lo, hi))
                elif spec.kind == "poisson" and g is not None:
                    self.poisson.append((g, float(self.full[spec.parameter]) * float(spec.tau)))
                elif spec.kind == "pdf" and spec.pdf is not None and len(spec.pdf_observables) == 1:
                    (obs,) = spec.pdf_observables
                    where = f"{lik.path} constraint {spec.pdf!r}"
                    smp = _Sampler1D(model, spec.pdf, obs, self.full, where)
                    self.globals.append((obs, smp, _asimov_global(model, spec.pdf, obs, self.full, smp)))

    def _draw_implicit(self, rng: np.random.Generator) -> dict[str, float]:
        out: dict[str, float] = {}
        for g, theta, sigma, lo, hi in self.gauss:
            a, b = special.ndtr((lo - theta) / sigma), special.ndtr((hi - theta) / sigma)
            out[g] = float(theta + sigma * special.ndtri(a + (b - a) * rng.random()))
        for g, lam in self.poisson:
            out[g] = float(rng.poisson(lam))
        return out

    def draw(self, rng: np.random.Generator) -> PseudoData:
        density: list[tuple[dict[str, Array], Array | None]] = []
        for t, obs, s, nu in self.density:
            if t.kind == "point":
                density.append(({obs: s.draw(1, rng)}, None))
                continue
            n = int(rng.poisson(nu)) if nu is not None else round(t.n_events)
            x = s.draw(n, rng)
            if t.kind == "binned":
                assert t.edges is not None
                hist, _ = np.histogram(x, bins=t.edges[0])
                density.append((dict(t.columns), hist.astype(float)))
            else:
                density.append(({obs: x}, None))
        counts = tuple(rng.poisson(nu).astype(float) for nu in self.counts)
        globs = {obs: float(s.draw(1, rng)[0]) for obs, s, _ in self.globals}
        globs.update(self._draw_implicit(rng))
        return PseudoData(tuple(density), counts, globs)

    def asimov(self) -> PseudoData:
        density: list[tuple[dict[str, Array], Array | None]] = []
        for t, obs, s, nu in self.density:
            if t.kind == "point":
                density.append(({obs: np.array([s.mean()])}, None))
                continue
            total = nu if nu is not None else t.n_events
            if t.kind == "binned":
                assert t.edges is not None
                cdf = s.cdf_at(t.edges[0])
                density.append((dict(t.columns), total * np.diff(cdf)))
            else:
                points, probs = s.cells()
                keep = probs > 0
                density.append(({obs: points[keep]}, total * probs[keep]))
        globs = {obs: value for obs, _, value in self.globals}
        globs.update({g: theta for g, theta, _s, _lo, _hi in self.gauss})
        globs.update({g: lam for g, lam in self.poisson})
        return PseudoData(tuple(density), tuple(c.copy() for c in self.counts), globs, asimov=True)


def sample(lik: Likelihood, n: int = 1, *, params: Mapping[str, float] | None = None,
           seed: int | np.random.SeedSequence | None = None, asimov: bool = False) -> list[PseudoData]:
    """``n`` pseudo-data sets of ``lik`` generated at ``params`` (others at their start values).

    Parameters
    ----------
    lik
        The likelihood.
    n
        Number of data sets.
    params
        Generating values.
    seed
        Seed (or :class:`numpy.random.SeedSequence`); data set ``i`` uses its ``i``-th child.
    asimov
        Return the one Asimov data set instead (``n`` is ignored).
    """
    gen = _Generator(lik, params or {})
    if asimov:
        return [gen.asimov()]
    _check_count(lik, "n", n)
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [gen.draw(np.random.default_rng(child)) for child in ss.spawn(n)]


def asimov(lik: Likelihood, params: Mapping[str, float] | None = None) -> PseudoData:
    """The Asimov data set of ``lik`` at ``params``: expected counts per bin, a fine weighted grid for
    unbinned data, global observables at the constraints' means."""
    return _Generator(lik, params or {}).asimov()


# --------------------------------------------------------------------------------------
# shipping a likelihood to worker processes


@dataclass(frozen=True, eq=False)
class Recipe:
    """What a worker needs to rebuild a likelihood: the workspace JSON, the construction arguments and
    the data set given with ``with_data`` (if any)."""

    digest: str
    workspace_json: str
    arguments: str  # JSON of the likelihood's construction arguments (with a digest of the pseudo-data)
    pseudo_data: PseudoData | None = None

    def __hash__(self) -> int:
        return hash((self.digest, self.arguments))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recipe) and (self.digest, self.arguments) == (other.digest, other.arguments)


def recipe_of(lik: Likelihood) -> Recipe:
    """A picklable recipe of ``lik`` (built from its workspace JSON in the worker)."""
    text = json.dumps(lik.workspace.to_dict(), sort_keys=True)
    model = lik.model
    args = {
        "distributions": list(lik.distributions),
        "data": list(lik.data),
        "aux": list(lik.aux_distributions),
        "name": lik.name,
        "pois": list(lik.parameters_of_interest),
        "globs": sorted(lik.global_observables),
        "path": lik.path,
        "domain": model.domain_name,
        "parameter_set": model.parameter_set_name,
        "conventions": model.compiled.options.get("conventions", "root"),
        "bounds": sorted([k, v[0], v[1]] for k, v in model.bounds.items()),
        "pseudo_data": _digest_of(lik.pseudo_data),
    }
    return Recipe(hashlib.sha256(text.encode()).hexdigest(), text, json.dumps(args, sort_keys=True),
                  lik.pseudo_data)


def _digest_of(data: PseudoData | None) -> str | None:
    if data is None:
        return None
    h = hashlib.sha256()
    for cols, w in data.density:
        for k in sorted(cols):
            h.update(k.encode())
            h.update(np.ascontiguousarray(cols[k], dtype=float).tobytes())
        h.update(b"w" if w is not None else b"-")
        if w is not None:
            h.update(np.ascontiguousarray(w, dtype=float).tobytes())
    for c in data.counts:
        h.update(np.ascontiguousarray(c, dtype=float).tobytes())
    h.update(json.dumps(sorted(data.global_observables.items())).encode())
    return h.hexdigest()


@lru_cache(maxsize=4)
def likelihood_from_recipe(recipe: Recipe) -> Likelihood:
    """Rebuild a likelihood in a worker (cached: once per worker and workspace)."""
    from .likelihood import Likelihood
    from .workspace import Workspace

    ws = Workspace(**json.loads(recipe.workspace_json))
    a = json.loads(recipe.arguments)
    model = ws.model(a["domain"], a["parameter_set"], conventions=a["conventions"])
    model.bounds = {k: (float(lo), float(hi)) for k, lo, hi in a["bounds"]}
    lik = Likelihood(ws, a["distributions"], a["data"], a["aux"], name=a["name"], model=model,
                     parameters_of_interest=a["pois"], global_observables=a["globs"], path=a["path"])
    return lik if recipe.pseudo_data is None else lik.with_data(recipe.pseudo_data)


def run_profile_chunk(recipe: Recipe, poi: str, points: Sequence[float], start: Mapping[str, float],
                      options: Mapping[str, Any]) -> list[tuple[float, dict[str, float], bool]]:
    """Fit a few points of a profile scan in a worker."""
    from .fit import _profile_points

    return _profile_points(likelihood_from_recipe(recipe), poi, points, start, options, warm=True)


# --------------------------------------------------------------------------------------
# pseudo-experiments


@dataclass(frozen=True)
class ToyStudy:
    """Pseudo-experiments generated at ``generated`` and fitted.

    ``values[name]`` and ``errors[name]`` are arrays over toys (floating parameters);
    ``pulls[name] = (fitted - generated) / error``; ``valid`` flags converged fits; ``limits`` are the
    ranges the fits used (parameters held fixed by ``fit_options`` are not in it); ``at_limit`` flags
    fits that end at one of them.
    """

    n: int
    seed: int | None
    generated: dict[str, float]
    values: dict[str, Array]
    errors: dict[str, Array]
    fval: Array
    valid: Array
    limits: dict[str, tuple[float, float]] = field(default_factory=dict)

    #: how close to a limit (a fraction of the range, or of max(1, |limit|) where the range is
    #: infinite) a fitted value counts as "at" it
    LIMIT_MARGIN: ClassVar[float] = 1e-3

    @property
    def pulls(self) -> dict[str, Array]:
        out = {}
        for k, v in self.values.items():
            with np.errstate(divide="ignore", invalid="ignore"):
                out[k] = (v - self.generated[k]) / self.errors[k]
        return out

    @property
    def at_limit(self) -> Array:
        """Per toy: whether the fit ended at (within :attr:`LIMIT_MARGIN` of) a limit of a floating
        parameter. MINUIT may call such a fit converged, but its HESSE error there, and the pull,
        mean nothing (often an error of ~0)."""
        out = np.zeros(self.n, dtype=bool)
        for k, (lo, hi) in self.limits.items():
            v = self.values.get(k)
            if v is None:
                continue
            width = hi - lo
            for edge, sign in ((lo, 1.0), (hi, -1.0)):
                if not math.isfinite(edge):
                    continue
                margin = self.LIMIT_MARGIN * (width if math.isfinite(width) else max(1.0, abs(edge)))
                with np.errstate(invalid="ignore"):
                    out |= sign * (v - edge) < margin
        return out

    def pull_summary(self, *, at_limit: bool = False) -> dict[str, tuple[float, float]]:
        """Mean and standard deviation (ddof=1) of the pulls per parameter, over the valid fits that
        do not end at a parameter limit (:attr:`at_limit`); ``at_limit=True`` keeps those too."""
        valid = np.asarray(self.valid, dtype=bool)
        keep = valid if at_limit else valid & np.logical_not(self.at_limit)
        out = {}
        for k, p in self.pulls.items():
            sel = p[keep & np.isfinite(p)]
            out[k] = (float(np.mean(sel)), float(np.std(sel, ddof=1))) if sel.size > 1 else (math.nan, math.nan)
        return out


_ToyRow = tuple[dict[str, float], dict[str, float], float, bool]


def _fit_toys(lik: Likelihood, generated: Mapping[str, float], seeds: Sequence[np.random.SeedSequence],
              fit_options: Mapping[str, Any]) -> list[_ToyRow]:
    from .fit import fit

    gen = _Generator(lik, generated)
    start = {k: v for k, v in generated.items() if k in lik.floating}
    rows: list[_ToyRow] = []
    for ss in seeds:
        data = gen.draw(np.random.default_rng(ss))
        try:
            res = fit(lik.with_data(data), values=start, **fit_options)
            rows.append((res.values, res.errors, res.fval, res.valid))
        except PyHS3LabError:
            rows.append(({}, {}, math.nan, False))
    return rows


def run_toy_chunk(recipe: Recipe, generated: Mapping[str, float], seeds: Sequence[np.random.SeedSequence],
                  fit_options: Mapping[str, Any]) -> list[_ToyRow]:
    """Generate and fit some toys in a worker."""
    return _fit_toys(likelihood_from_recipe(recipe), generated, seeds, fit_options)


def _check_count(lik: Likelihood, what: str, n: Any, minimum: int = 0) -> None:
    """``n`` must be an integer >= ``minimum`` (numpy would otherwise fail deep inside with its own error)."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < minimum:
        raise LikelihoodError(f"{lik.where}: {what} must be an integer >= {minimum}, not {n!r}")


def _chunks(n: int, executor: Executor | None, chunk_size: int | None) -> list[range]:
    if chunk_size is None:
        workers = getattr(executor, "_max_workers", None) if executor is not None else 1
        if not isinstance(workers, int):
            workers = 8
        chunk_size = max(1, math.ceil(n / (4 * workers))) if executor is not None else max(1, n)
    return [range(i, min(n, i + chunk_size)) for i in range(0, n, chunk_size)]


def toys(lik: Likelihood, n: int, *, params: Mapping[str, float] | None = None, seed: int | None = None,
         executor: Executor | None = None, chunk_size: int | None = None, progress: bool = False,
         fit_options: Mapping[str, Any] | None = None) -> ToyStudy:
    """Generate ``n`` pseudo-experiments at ``params`` and fit each one.

    Parameters
    ----------
    lik
        The likelihood.
    n
        Number of toys.
    params
        Generating values (others at their start values); the fits start there too.
    seed
        Toy ``i`` uses the ``i``-th child of ``SeedSequence(seed)``: the same toys for any executor.
    executor
        A :class:`concurrent.futures.Executor` (e.g. ``distributed.Client.get_executor()``); chunks of
        toys are sent as tasks, each with the workspace JSON.
    chunk_size
        Toys per task (default: about four tasks per worker).
    progress
        Show a progress bar (tqdm, if installed).
    fit_options
        Passed to :func:`pyhs3_lab.fit.fit`.
    """
    from .fit import _progress

    _check_count(lik, "n", n)
    if chunk_size is not None:
        _check_count(lik, "chunk_size", chunk_size, minimum=1)
    generated = {k: float(v) for k, v in lik.values(params).items()}
    seeds = np.random.SeedSequence(seed).spawn(n)
    opts = dict(fit_options or {})
    rows: list[_ToyRow] = []
    chunks = _chunks(n, executor, chunk_size)
    if executor is None:
        if progress:
            for i in _progress(range(n), n, True, "toys"):
                rows += _fit_toys(lik, generated, [seeds[i]], opts)
        else:
            rows = _fit_toys(lik, generated, seeds, opts)
    else:
        recipe = recipe_of(lik)
        futures = [executor.submit(run_toy_chunk, recipe, generated, [seeds[i] for i in c], opts) for c in chunks]
        for fut in _progress(futures, len(futures), progress, "toys"):
            rows += fut.result()
    names = list(lik.floating)
    values = {k: np.array([r[0].get(k, math.nan) for r in rows]) for k in names}
    errors = {k: np.array([r[1].get(k, math.nan) for r in rows]) for k in names}
    fixed = opts.get("fixed") or {}
    held = set(fixed) if not isinstance(fixed, str) else {fixed}
    override = dict(opts.get("limits") or {})
    limits: dict[str, tuple[float, float]] = {}
    for k in (k for k in names if k not in held):
        lo, hi = override.get(k, lik.bounds(k))
        limits[k] = (float(lo), float(hi))
    return ToyStudy(n, seed, generated, values, errors, np.array([r[2] for r in rows]),
                    np.array([r[3] for r in rows], dtype=bool), limits)


# --------------------------------------------------------------------------------------
# upper limits


@dataclass(frozen=True)
class UpperLimit:
    """A CLs upper limit on ``poi`` at confidence level ``cl``.

    ``expected`` are the limits of the background-only expectation at -2, -1, 0, +1, +2 σ (with
    toys: NaN where the scanned points do not bracket the crossing).
    """

    poi: str
    cl: float
    observed: float
    expected: tuple[float, float, float, float, float]
    best_fit: float
    method: str
    scan: dict[str, Array] = field(default_factory=dict, repr=False)

    def __str__(self) -> str:
        exp = ", ".join(f"{v:.4g}" for v in self.expected)
        return (f"{self.cl:.0%} CLs upper limit on {self.poi} ({self.method}): observed {self.observed:.4g}, "
                f"expected [-2σ..+2σ] [{exp}]")


class _Asymptotic:
    """q̃_μ and CLs from the asymptotic formulae, with the fits they need cached."""

    def __init__(self, lik: Likelihood, poi: str, fit_options: Mapping[str, Any]) -> None:
        from .fit import fit

        self.fit = fit
        self.lik = lik
        self.poi = poi
        self.opts = dict(fit_options)
        self.free: FitResult = fit(lik, **self.opts)
        self.mu_hat = float(self.free.values[poi])
        lo, _ = lik.bounds(poi)
        zero = max(0.0, lo)
        cond0 = fit(lik, fixed={**self._fixed(), poi: zero}, **self._rest())
        self.ref_obs = self.free.fval if self.mu_hat >= zero else cond0.fval
        # Asimov data of the background-only hypothesis, nuisance parameters fitted to the data at μ = 0
        self.asimov_lik = lik.with_data(asimov(lik, cond0.values))
        # start values: floating parameters only (the Asimov data's global observables must stay)
        start = {k: v for k, v in cond0.values.items() if k in lik.floating and k != poi}
        self.ref_asimov = fit(self.asimov_lik, fixed={**self._fixed(), poi: zero}, values=start,
                              **self._rest()).fval
        self.zero = zero
        self._cache: dict[tuple[str, float], float] = {}

    def _fixed(self) -> dict[str, float]:
        return dict(self.opts.get("fixed") or {})

    def _rest(self) -> dict[str, Any]:
        return {k: v for k, v in self.opts.items() if k != "fixed"}

    def _conditional(self, which: str, mu: float) -> float:
        key = (which, mu)
        if key not in self._cache:
            lik = self.lik if which == "obs" else self.asimov_lik
            start = {k: v for k, v in self.free.values.items() if k in lik.floating and k != self.poi}
            self._cache[key] = self.fit(lik, fixed={**self._fixed(), self.poi: mu}, values=start,
                                        **self._rest()).fval
        return self._cache[key]

    def q_obs(self, mu: float) -> float:
        if self.mu_hat > mu:
            return 0.0
        return max(0.0, 2.0 * (self._conditional("obs", mu) - self.ref_obs))

    def q_asimov(self, mu: float) -> float:
        return max(0.0, 2.0 * (self._conditional("asimov", mu) - self.ref_asimov))

    def cls(self, mu: float) -> float:
        q, qa = self.q_obs(mu), self.q_asimov(mu)
        sq, sqa = math.sqrt(q), math.sqrt(qa)
        ts = (q - qa) / (2.0 * sqa) if qa > 0 and q > qa else sq - sqa
        clsb = float(special.ndtr(-(ts + sqa)))
        clb = float(special.ndtr(-ts))
        return clsb / clb if clb > 0 else 1.0

    def cls_expected(self, mu: float, n_sigma: float) -> float:
        sqa = math.sqrt(self.q_asimov(mu))
        return float(special.ndtr(n_sigma - sqa) / special.ndtr(n_sigma))


_BANDS = (-2.0, -1.0, 0.0, 1.0, 2.0)


def _solve(f: Any, lo: float, hi: float, alpha: float, what: str) -> float:
    from scipy import optimize

    f_lo, f_hi = f(lo) - alpha, f(hi) - alpha
    if f_lo <= 0:
        return lo
    if f_hi > 0:
        raise LikelihoodError(f"{what}: CLs is still {f_hi + alpha:.3g} at the upper end {hi:g} of the scan; "
                              "the limit is above it (raise the parameter's upper bound)")
    return float(optimize.brentq(lambda m: f(m) - alpha, lo, hi, xtol=1e-6 * max(1.0, abs(hi)), rtol=1e-8))


def upper_limit(lik: Likelihood, poi: str, cl: float = 0.95, *, method: str = "asymptotic",
                scan_max: float | None = None, executor: Executor | None = None, n_toys: int = 500,
                seed: int | None = None, points: Sequence[float] | None = None, progress: bool = False,
                fit_options: Mapping[str, Any] | None = None) -> UpperLimit:
    """CLs upper limit on ``poi`` (a signal strength ≥ 0) with the q̃_μ test statistic.

    Parameters
    ----------
    lik
        The likelihood.
    poi
        The parameter of interest.
    cl
        Confidence level (0.95).
    method
        ``"asymptotic"`` (default; Cowan et al. 2011) or ``"toys"`` (CLs from pseudo-experiments at
        each of ``points``, interpolated; background-only toys at μ = 0).
    scan_max
        Upper end of the search (default: the POI's upper bound, or μ̂ + 20 σ).
    executor, n_toys, seed, points, progress
        For ``method="toys"``: where to run, toys per point and hypothesis, seed, the μ values.
    fit_options
        Passed to every fit.
    """
    if poi not in lik.floating:
        raise LikelihoodError(f"{lik.where}: {poi!r} is not a floating parameter; the floating parameters are "
                              f"{list(lik.floating)}")
    if isinstance(cl, bool) or not isinstance(cl, int | float) or not 0.0 < cl < 1.0:
        raise LikelihoodError(f"cl must be between 0 and 1, not {cl!r}")
    if method == "toys":
        _check_count(lik, "n_toys", n_toys, minimum=1)
    alpha = 1.0 - cl
    asym = _Asymptotic(lik, poi, fit_options or {})
    lo = max(asym.mu_hat, asym.zero) + 1e-9
    hi = scan_max
    if hi is None:
        _, upper = lik.bounds(poi)
        err = asym.free.errors.get(poi, 1.0) or 1.0
        hi = upper if math.isfinite(upper) else lo + 20.0 * err
    what = f"{lik.where}: upper limit on {poi!r}"
    if method == "asymptotic":
        observed = _solve(asym.cls, lo, hi, alpha, what)
        lo_exp = asym.zero + 1e-9
        expected = tuple(_solve(lambda m, n=n: asym.cls_expected(m, n), lo_exp, hi, alpha, what)
                         for n in _BANDS)
        return UpperLimit(poi, cl, observed, expected, asym.mu_hat, "asymptotic")  # type: ignore[arg-type]
    if method != "toys":
        raise LikelihoodError(f"method must be 'asymptotic' or 'toys', not {method!r}")
    return _toy_limit(lik, poi, cl, asym, hi, executor, n_toys, seed, points, progress, fit_options or {})


def _qtilde(lik: Likelihood, poi: str, mu: float, zero: float, fit_options: Mapping[str, Any]) -> float:
    from .fit import fit

    fixed = dict(fit_options.get("fixed") or {})
    rest = {k: v for k, v in fit_options.items() if k != "fixed"}
    free = fit(lik, fixed=fixed, **rest)
    mu_hat = free.values[poi]
    if mu_hat > mu:
        return 0.0
    ref = free.fval if mu_hat >= zero else fit(lik, fixed={**fixed, poi: zero}, **rest).fval
    return max(0.0, 2.0 * (fit(lik, fixed={**fixed, poi: mu}, **rest).fval - ref))


def _toy_qtilde_chunk(lik: Likelihood, poi: str, mu: float, zero: float, generated: Mapping[str, float],
                      seeds: Sequence[np.random.SeedSequence], fit_options: Mapping[str, Any]) -> list[float]:
    gen = _Generator(lik, generated)
    out = []
    for ss in seeds:
        data = gen.draw(np.random.default_rng(ss))
        try:
            out.append(_qtilde(lik.with_data(data), poi, mu, zero, fit_options))
        except PyHS3LabError:
            out.append(math.nan)
    return out


def run_qtilde_chunk(recipe: Recipe, poi: str, mu: float, zero: float, generated: Mapping[str, float],
                     seeds: Sequence[np.random.SeedSequence], fit_options: Mapping[str, Any]) -> list[float]:
    """q̃_μ of some toys, in a worker."""
    return _toy_qtilde_chunk(likelihood_from_recipe(recipe), poi, mu, zero, generated, seeds, fit_options)


def _toy_limit(lik: Likelihood, poi: str, cl: float, asym: _Asymptotic, hi: float, executor: Executor | None,
               n_toys: int, seed: int | None, points: Sequence[float] | None, progress: bool,
               fit_options: Mapping[str, Any]) -> UpperLimit:
    from .fit import _progress, fit

    alpha = 1.0 - cl
    if points is None:
        try:  # around the asymptotic result
            guess = _solve(asym.cls, max(asym.mu_hat, asym.zero) + 1e-9, hi, alpha, "")
        except LikelihoodError:
            guess = hi
        points = np.linspace(max(asym.mu_hat, asym.zero) + 1e-6, min(hi, 2.0 * guess), 8).tolist()
    mus = [float(m) for m in points]
    root = np.random.SeedSequence(seed)
    fixed = dict(fit_options.get("fixed") or {})
    rest = {k: v for k, v in fit_options.items() if k != "fixed"}
    recipe = recipe_of(lik) if executor is not None else None
    cls_obs: list[float] = []
    cls_bands: list[list[float]] = [[] for _ in _BANDS]
    for j, mu in enumerate(_progress(mus, len(mus), progress, "CLs points")):
        q_obs = asym.q_obs(mu)
        hyp: dict[str, list[float]] = {}
        for k, (label, gen_mu) in enumerate((("sb", mu), ("b", asym.zero))):
            cond = fit(lik, fixed={**fixed, poi: gen_mu}, **rest)
            seeds = np.random.SeedSequence(root.entropy, spawn_key=(j, k)).spawn(n_toys)
            if executor is None or recipe is None:
                hyp[label] = _toy_qtilde_chunk(lik, poi, mu, asym.zero, cond.values, seeds, fit_options)
            else:
                chunks = _chunks(n_toys, executor, None)
                futs = [executor.submit(run_qtilde_chunk, recipe, poi, mu, asym.zero, cond.values,
                                        [seeds[i] for i in c], fit_options) for c in chunks]
                hyp[label] = [q for f in futs for q in f.result()]
        qsb = np.array(hyp["sb"])
        qb = np.array(hyp["b"])
        qsb, qb = qsb[np.isfinite(qsb)], qb[np.isfinite(qb)]
        clsb = float(np.mean(qsb >= q_obs))
        clb = float(np.mean(qb >= q_obs))
        cls_obs.append(clsb / clb if clb > 0 else 1.0)
        # expected: at the quantiles of q under the background-only toys (the +nσ band, a higher limit,
        # is the more background-like, smaller q: quantile Φ(-n))
        for band, n_sigma in zip(cls_bands, _BANDS, strict=True):
            q_n = float(np.quantile(qb, special.ndtr(-n_sigma)))
            band.append(float(np.mean(qsb >= q_n)) / max(float(np.mean(qb >= q_n)), 1e-300))

    def crossing(values: list[float]) -> float:
        v = np.asarray(values)
        for i in range(len(mus) - 1):
            if v[i] >= alpha > v[i + 1]:
                return float(np.interp(alpha, [v[i + 1], v[i]], [mus[i + 1], mus[i]]))
        return math.nan

    observed = crossing(cls_obs)
    expected = tuple(crossing(b) for b in cls_bands)
    return UpperLimit(poi, cl, observed, expected, asym.mu_hat, "toys",  # type: ignore[arg-type]
                      {"mu": np.array(mus), "cls": np.array(cls_obs), "cls_expected": np.array(cls_bands[2]),
                       "cls_expected_bands": np.array(cls_bands)})
