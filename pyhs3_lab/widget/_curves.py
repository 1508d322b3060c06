"""What the Explorer plots, as numpy arrays: no widget imports here (testable without Jupyter).

A *plot target* is a distribution. If it is a channel of the likelihood (a distribution paired
with data) or a component of one, the channel is drawn: the model scaled to event counts, its
mixture components (or HistFactory samples, stacked) and the data — unbinned data as a
histogram with Poisson (Garwood) error bars, binned data as points. A distribution outside
every channel is drawn as its normalised density over its observable.

Results are cached per target, keyed on the values of the parameters the target depends on
(``graph.leaves``), so that moving a slider re-evaluates only what depends on it.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from ..errors import PyHS3LabError
from ..ops.base import BinnedDistributionOp

if TYPE_CHECKING:
    from ..likelihood import Likelihood
    from ..model import Model

Array = NDArray[np.float64]

GRID_POINTS = 400
CACHE_SIZE = 128


@dataclass(frozen=True)
class Channel:
    """A (distribution, data) pair of the likelihood."""

    dist: str
    data: str | None
    observables: tuple[str, ...]
    binned: bool


def garwood(counts: Array, cl: float = 0.682689492137) -> tuple[Array, Array]:
    """Poisson (Garwood) central interval for observed counts: (lower error, upper error)."""
    n = np.asarray(counts, dtype=float)
    alpha = 1.0 - cl
    lo = np.where(n > 0, stats.chi2.ppf(alpha / 2, 2 * np.maximum(n, 1e-300)) / 2, 0.0)
    hi = stats.chi2.ppf(1 - alpha / 2, 2 * (n + 1)) / 2
    return n - lo, hi - n


class CurveMaker:
    """Computes plot payloads for targets of one model/likelihood, with a cache."""

    def __init__(self, model: Model, likelihood: Likelihood | None) -> None:
        self.model = model
        self.likelihood = likelihood
        self.graph = model.graph
        self.spec = model.spec
        self._cache: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._data_cache: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.evaluations = 0  # how many payloads were computed (not served from the cache)
        self._lik_names: frozenset[str] = (frozenset(likelihood.parameter_names) if likelihood is not None
                                           else frozenset())
        self.channels: list[Channel] = self._channels()

    # -- structure -------------------------------------------------------------------------

    def _channels(self) -> list[Channel]:
        if self.likelihood is None:
            return []
        data = {d.name: d for d in self.spec.data}
        out = []
        for dist, dat in zip(self.likelihood.distributions, self.likelihood.data, strict=True):
            obj = data.get(dat) if isinstance(dat, str) else None
            if obj is not None and obj.type != "point":
                obs = obj.observables
                binned = obj.type == "binned"
            else:
                obs = tuple(sorted(self.model.observables_of(dist)))
                binned = False
            out.append(Channel(dist, obj.name if obj is not None else None, obs, binned))
        return out

    def channel_of(self, target: str) -> Channel | None:
        for ch in self.channels:
            if ch.dist == target:
                return ch
        for ch in self.channels:
            if target in self.graph.descendants(ch.dist):
                return ch
        return None

    def default_target(self) -> str | None:
        if self.channels:
            return self.channels[0].dist
        dists = [d.name for d in self.spec.distributions]
        # a distribution nobody refers to is a top-level model
        referred = {e.target for e in self.graph.edges}
        tops = [d for d in dists if d not in referred]
        pick = tops or dists
        return pick[0] if pick else None

    # -- values ----------------------------------------------------------------------------

    def _key(self, target: str, values: Mapping[str, Any]) -> tuple[Any, ...]:
        leaves = sorted(self.graph.leaves(target))
        return (target, tuple((n, _hashable(values.get(n))) for n in leaves))

    def curves(self, target: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """The plot payload for ``target`` at these parameter values (cached)."""
        ch = self.channel_of(target)
        key_target = ch.dist if ch is not None else target
        key = (*self._key(key_target, values), target)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        payload = self._compute(target, ch, values)
        self.evaluations += 1
        self._cache[key] = payload
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return payload

    def _compute(self, target: str, ch: Channel | None, values: Mapping[str, Any]) -> dict[str, Any]:
        node = self.graph.nodes.get(target)
        if node is None or node.kind != "distribution":
            raise PyHS3LabError(f"{target!r} is not a distribution; select a distribution to plot it")
        if ch is not None:
            op = self.model.compiled.distribution(ch.dist)
            if isinstance(op, BinnedDistributionOp) and self.likelihood is not None:
                return self._binned_channel(target, ch, values)
            return self._density(target, ch.dist, ch, values)
        return self._density(target, target, None, values)

    # -- binned (HistFactory-like) channels ------------------------------------------------

    def _binned_channel(self, target: str, ch: Channel, values: Mapping[str, Any]) -> dict[str, Any]:
        assert self.likelihood is not None
        lik_values = {k: float(v) for k, v in values.items() if k in self._lik_names}
        expected = self.likelihood.expected(ch.dist, lik_values)
        obj = next(d for d in self.spec.data if d.name == ch.data)
        edges = _flat_edges(obj)
        counts = np.asarray(obj.raw["contents"], dtype=float)
        components: list[dict[str, Any]] = []
        if isinstance(expected, Mapping):
            total = np.zeros_like(counts)
            for name, nu in expected.items():
                arr = np.broadcast_to(np.asarray(nu, dtype=float), counts.shape).copy()
                components.append({"name": str(name), "y": arr})
                total = total + arr
        else:
            total = np.asarray(expected, dtype=float).reshape(counts.shape)
        lo, hi = garwood(counts)
        return {
            "target": target,
            "channel": ch.dist,
            "kind": "binned",
            "observable": obj.observables[0] if len(obj.axes) == 1 else "bin",
            "x": edges,
            "total": total,
            "components": components,
            "stacked": True,
            "data": {"name": obj.name, "x": 0.5 * (edges[1:] + edges[:-1]), "y": counts,
                     "err_lo": lo, "err_hi": hi},
            "ylabel": "events / bin",
            "notes": [],
        }

    # -- densities -------------------------------------------------------------------------

    def _density(self, target: str, dist: str, ch: Channel | None, values: Mapping[str, Any]) -> dict[str, Any]:
        obs = list(ch.observables) if ch is not None else sorted(self.model.observables_of(dist))
        notes: list[str] = []
        if not obs:
            raise PyHS3LabError(f"distribution {dist!r} has no observable to plot it against")
        o = obs[0]
        others = {}
        if len(obs) > 1:
            for other in obs[1:]:
                lo2, hi2 = self.model.bounds.get(other, (-math.inf, math.inf))
                others[other] = _mid(lo2, hi2, values.get(other))
            notes.append(f"{dist!r} depends on {obs}; drawn against {o!r} at "
                         + ", ".join(f"{k} = {v:.4g}" for k, v in others.items()) + " (a slice, not a projection)")
        lo, hi = self.model.bounds.get(o, (-math.inf, math.inf))
        data = self._data(ch) if ch is not None and ch.data is not None and len(obs) == 1 else None
        if not (math.isfinite(lo) and math.isfinite(hi)):
            if data is not None and data["x"].size:
                span = data["edges"][-1] - data["edges"][0]
                lo, hi = data["edges"][0] - 0.05 * span, data["edges"][-1] + 0.05 * span
            else:
                c = float(values.get(o, 0.0) or 0.0) if _finite(values.get(o)) else 0.0
                lo, hi = c - 5.0, c + 5.0
            notes.append(f"{o!r} has no finite range; drawn over [{lo:.4g}, {hi:.4g}]")
        x = np.linspace(lo, hi, GRID_POINTS)
        inputs: dict[str, Any] = {k: v for k, v in values.items() if k not in obs}
        inputs.update(others)
        inputs[o] = x
        ev = self.model.evaluator(inputs, frozenset(obs))
        total = np.exp(np.asarray(ev.logpdf(dist), dtype=float))
        total = np.broadcast_to(total, x.shape).astype(float)
        op = self.model.compiled.distribution(dist)
        components: list[dict[str, Any]] = []
        mixture = self._mixture_in(dist, set(obs))
        if mixture is not None:
            mop = self.model.compiled.distribution(mixture)
            try:
                weights = [np.asarray(w, dtype=float) for w in mop.weights(ev)]  # type: ignore[attr-defined]
                wsum = sum(weights, np.asarray(0.0))
                fractions = weights if getattr(mop, "fractions", False) else [w / wsum for w in weights]
                for s, f in zip(mop.summands, fractions, strict=True):  # type: ignore[attr-defined]
                    y = np.exp(np.asarray(ev.logpdf(s), dtype=float)) * f
                    components.append({"name": s, "y": np.broadcast_to(y, x.shape).astype(float)})
            except PyHS3LabError as exc:
                notes.append(f"components of {mixture!r} not drawn: {exc}")
        scale = 1.0
        ylabel = f"probability density in {o}"
        if data is not None:
            nu = op.expected_events(ev) if hasattr(op, "expected_events") else None
            n_exp = float(np.asarray(nu)) if nu is not None and np.ndim(nu) == 0 else float(data["sum"])
            scale = n_exp * data["width"]
            ylabel = f"events / {data['width']:.3g}"
        payload: dict[str, Any] = {
            "target": target,
            "channel": ch.dist if ch is not None else None,
            "kind": "density",
            "observable": o,
            "x": x,
            "total": total * scale,
            "components": [{"name": c["name"], "y": c["y"] * scale} for c in components],
            "stacked": False,
            "data": None,
            "ylabel": ylabel,
            "notes": notes,
        }
        if data is not None:
            payload["data"] = {"name": data["name"], "x": data["x"], "y": data["y"], "err_lo": data["err_lo"],
                               "err_hi": data["err_hi"], "edges": data["edges"]}
        return payload

    def _mixture_in(self, dist: str, obs: set[str]) -> str | None:
        """The mixture whose components to draw: ``dist`` itself, or inside a product on the observable."""
        seen: set[str] = set()
        todo = [dist]
        while todo:
            d = todo.pop(0)
            if d in seen:
                continue
            seen.add(d)
            comp = self.spec.component(d)
            if comp is None:
                continue
            if comp.type in ("mixture_dist", "mixture_model") and len(comp.raw.get("summands", [])) > 1:
                return d
            if comp.type == "product_dist":
                for f in comp.raw.get("factors", []):
                    if isinstance(f, str) and self.graph.leaves(f) & obs:
                        todo.append(f)
        return None

    def _data(self, ch: Channel) -> dict[str, Any] | None:
        obj = next((d for d in self.spec.data if d.name == ch.data), None)
        if obj is None or not obj.axes:
            return None
        key = (obj.name, obj.type, len(obj.axes))
        hit = self._data_cache.get(key)
        if hit is not None:
            return hit
        ax = obj.axes[0]
        if obj.type == "binned":
            edges = np.asarray(ax.bin_edges, dtype=float)
            counts = np.asarray(obj.raw["contents"], dtype=float)
            lo_e, hi_e = garwood(counts)
            widths = np.diff(edges)
            out = {"name": obj.name, "x": 0.5 * (edges[1:] + edges[:-1]), "y": counts, "err_lo": lo_e,
                   "err_hi": hi_e, "edges": edges, "width": float(np.mean(widths)), "sum": float(counts.sum())}
        else:
            entries = np.asarray(obj.raw["entries"], dtype=float).reshape(-1, len(obj.axes))[:, 0]
            w_raw = obj.raw.get("weights")
            weights = np.asarray(w_raw, dtype=float) if w_raw is not None else None
            lo, hi = self.model.bounds.get(ax.name, ax.bounds)
            if not (math.isfinite(lo) and math.isfinite(hi)):
                lo, hi = (float(entries.min()), float(entries.max())) if entries.size else (0.0, 1.0)
                if hi <= lo:
                    lo, hi = lo - 0.5, hi + 0.5
            nbins = ax.nbins or int(min(50, max(10, round(math.sqrt(max(entries.size, 1)) * 2))))
            edges = np.linspace(lo, hi, nbins + 1)
            counts, _ = np.histogram(entries, bins=edges, weights=weights)
            counts = counts.astype(float)
            if weights is None:
                lo_e, hi_e = garwood(counts)
            else:
                sw2, _ = np.histogram(entries, bins=edges, weights=weights**2)
                lo_e = hi_e = np.sqrt(sw2.astype(float))
            total = float(weights.sum()) if weights is not None else float(entries.size)
            out = {"name": obj.name, "x": 0.5 * (edges[1:] + edges[:-1]), "y": counts, "err_lo": lo_e,
                   "err_hi": hi_e, "edges": edges, "width": float(edges[1] - edges[0]), "sum": total}
        self._data_cache[key] = out
        return out


def _flat_edges(obj: Any) -> Array:
    if len(obj.axes) == 1:
        return np.asarray(obj.axes[0].bin_edges, dtype=float)
    n = int(np.prod([a.n_bins for a in obj.axes]))
    return np.arange(n + 1, dtype=float)


def _finite(v: Any) -> bool:
    return v is not None and np.ndim(v) == 0 and math.isfinite(float(v))


def _mid(lo: float, hi: float, value: Any) -> float:
    if _finite(value):
        return float(value)
    if math.isfinite(lo) and math.isfinite(hi):
        return 0.5 * (lo + hi)
    return lo if math.isfinite(lo) else hi if math.isfinite(hi) else 0.0


def _hashable(v: Any) -> Any:
    if v is None:
        return None
    if np.ndim(v) == 0:
        return float(v)
    return tuple(np.asarray(v, dtype=float).ravel().tolist())
