"""Channels of the same structure evaluated in one vectorised pass (a fast path of the likelihood).

A likelihood with many (distribution, data) pairs of the same shape (one per channel, as RooFit's
``RooSimultaneous`` exports have them) would otherwise build one evaluator and walk one tree per
channel and call: the per-call overhead of a few dozen numpy calls times the number of channels.
:func:`plan_terms` groups the density terms whose distribution trees are identical up to the names
of their objects (same types, same fields, same numbers, same expressions, references in the same
places), and evaluates each group as one tree: the first channel's tree, with every parameter that
differs between channels replaced by the column of its values (shape ``(n_channels, 1)``) and the
data by a ``(n_channels, max_entries)`` array padded with weight-0 entries. The kernels broadcast,
so every element is computed by the same formulas as on the general path; only the order of the
additions differs. Each group is checked against the general path at its first evaluation and
falls back to it (for good) if the results differ by more than 1e-10 relative or if the batched
evaluation raises.

Across calls a group keeps the last normalised log density of every distribution in its tree,
keyed on the values of that distribution's parameters: a step that moves one yield recomputes the
mixture, not the shapes (what RooFit's caching does).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .errors import PyHS3LabError
from .evaluate import Evaluator
from .ops.base import Array
from .plan import ChannelPlan

if TYPE_CHECKING:
    from .graph import Graph
    from .model import Model

__all__ = ["ChannelBatch", "plan_terms"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: relative agreement a batch must reach with the general path at its first evaluation
CHECK_RTOL = 1e-10
#: entries (channels × events) per chunk of a large batch: batches of more than twice this many are evaluated
#: chunk by chunk, so that a call's temporaries are a few MB whatever the size of the data
CHUNK_ENTRIES = 1 << 17


class _DensityLike(Protocol):
    """What a batch needs of a likelihood density term (``likelihood._DensityTerm``)."""

    dist: str
    kind: str
    columns: dict[str, Array]
    weights: Array | None
    observables: frozenset[str]
    n_events: float

    def nll(self, values: Mapping[str, Any]) -> float: ...

    def cached_nll(self, values: Mapping[str, Any]) -> float: ...


class _Canon:
    """The structure of a distribution tree with its names replaced by their order of appearance."""

    def __init__(self, graph: Graph, components: Mapping[str, Any], observables: frozenset[str]) -> None:
        self.graph = graph
        self.components = components
        self.observables = observables
        self.index: dict[str, int] = {}
        self.leaves: list[str] = []  # parameters in order of first appearance
        self.parts: list[Any] = []

    def name(self, name: str) -> Any:
        if name in self.observables:
            return ("obs", name)
        node = self.graph.nodes.get(name)
        if node is None:
            return ("str", name)
        if name not in self.index:
            self.index[name] = len(self.index)
            if node.kind == "parameter":
                self.leaves.append(name)
            elif node.kind in ("distribution", "function"):
                comp = self.components.get(name)
                if comp is None:
                    raise KeyError(name)
                self.parts.append((self.index[name], comp.type, self.value(comp.raw, top=True)))
            else:
                raise KeyError(name)
        return ("ref", self.index[name], self.graph.nodes[name].kind)

    def value(self, v: Any, top: bool = False) -> Any:
        if isinstance(v, dict):
            return tuple(sorted((k, self.value(x)) for k, x in v.items() if not (top and k in ("name", "type"))))
        if isinstance(v, list):
            return tuple(self.value(x) for x in v)
        if isinstance(v, str):
            if v in self.graph.nodes or v in self.observables:
                return self.name(v)
            return ("text", self.text(v))
        if isinstance(v, float) and math.isnan(v):
            return ("nan",)
        return v

    def text(self, s: str) -> str:
        # an expression: identifiers that are names of the workspace become their canonical index
        def sub(m: re.Match[str]) -> str:
            word = m.group(0)
            if word in self.graph.nodes or word in self.observables:
                ref = self.name(word)
                return f"\x00{ref}\x00"
            return word

        return _IDENT.sub(sub, s)


def _signature(term: _DensityLike, graph: Graph, components: Mapping[str, Any]) -> tuple[Any, list[str]] | None:
    if term.kind != "unbinned" or len(term.columns) != 1:
        return None
    canon = _Canon(graph, components, term.observables)
    try:
        canon.name(term.dist)
    except KeyError:
        return None
    obs = tuple(sorted(term.observables))
    sig = (obs, term.weights is None, tuple(canon.parts))
    return sig, canon.leaves


class VerifiedBatch:
    """A faster evaluation of several likelihood terms that stays honest: at its first use it is checked
    against the general (per-term) path, whose value is returned; if they disagree, or the fast path raises,
    the general path is used for good (``ok = False``, ``fallback_reason`` says why). The last result is
    remembered, keyed on the values of ``deps``.

    Subclasses set ``deps`` and implement ``batched_nll`` (``None``: the fast path does not apply to these
    values) and ``general_nll``; ``_undecided`` says whether such a ``None`` leaves the check for later
    (e.g. array values) rather than turning the fast path off.
    """

    deps: tuple[str, ...] = ()

    def __init__(self) -> None:
        #: None: not checked yet; True: agrees with the general path; False: the general path for good
        self.ok: bool | None = None
        #: why the fast path was turned off, if it was
        self.fallback_reason: str | None = None
        self._last: tuple[tuple[Any, ...], float] | None = None

    def batched_nll(self, values: Mapping[str, Any]) -> float | None:
        raise NotImplementedError  # every subclass implements it

    def general_nll(self, values: Mapping[str, Any]) -> float:
        raise NotImplementedError  # every subclass implements it

    def _undecided(self, values: Mapping[str, Any]) -> bool:
        return True

    def cached_nll(self, values: Mapping[str, Any]) -> float:
        if self.ok is False:
            return self.general_nll(values)
        key = tuple(map(values.get, self.deps))
        cacheable = all(isinstance(v, float) for v in key)  # (arrays never compare as keys)
        last = self._last
        if cacheable and last is not None and last[0] == key:
            return last[1]
        if self.ok is None:
            ref = self.general_nll(values)
            try:
                with np.errstate(all="ignore"):
                    got = self.batched_nll(values)
            except (PyHS3LabError, ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
                self.fallback_reason = f"{type(exc).__name__}: {exc}"
                self.ok = False
                return ref
            if got is None:
                if not self._undecided(values):
                    self.fallback_reason = "the batched path does not apply to this likelihood"
                    self.ok = False
                return ref
            if not (got == ref or abs(got - ref) <= CHECK_RTOL * max(1.0, abs(ref))):
                self.fallback_reason = f"batched {got!r} != general {ref!r}"
                self.ok = False
                return ref
            self.ok = True
            if cacheable:
                self._last = (key, ref)
            return ref
        val = self.batched_nll(values)
        if val is None:
            return self.general_nll(values)
        if cacheable:
            self._last = (key, val)  # one assignment: safe when threads share it
        return val


class ChannelBatch(VerifiedBatch):
    """Density terms of identical structure, evaluated as one tree (see the module docstring)."""

    def __init__(self, model: Model, terms: Sequence[_DensityLike], leaves: Sequence[Sequence[str]]) -> None:
        super().__init__()
        self.model = model
        self.terms = list(terms)
        self.template = self.terms[0]
        self.dist = self.template.dist
        self.observables = self.template.observables
        (obs,) = tuple(self.observables)
        self.obs = obs
        n = len(self.terms)
        lengths = [len(t.columns[obs]) for t in self.terms]
        width = max(lengths)
        lo, hi = model.bounds.get(obs, (-math.inf, math.inf))
        fill = lo if math.isfinite(lo) else (hi if math.isfinite(hi) else 0.0)
        data = np.full((n, width), fill, dtype=float)
        weights = np.zeros((n, width), dtype=float)
        for i, t in enumerate(self.terms):
            col = np.asarray(t.columns[obs], dtype=float)
            data[i, :len(col)] = col
            if len(col):
                fill_i = col[0]
                data[i, len(col):] = fill_i  # padding at a value the channel's own data has
            weights[i, :len(col)] = 1.0 if t.weights is None else np.asarray(t.weights, dtype=float)
        data.flags.writeable = False
        self.data = data
        self._inside = bool(np.all((data >= lo) & (data <= hi)))
        self.padded = any(n_i != width for n_i in lengths) or any(t.weights is not None for t in self.terms)
        self.weights = weights if self.padded else None
        self.n_events = np.array([t.n_events for t in self.terms], dtype=float).reshape(n, 1)
        self._n_list = [float(t.n_events) for t in self.terms]
        # parameter slots: the template's name, the names per channel, whether they differ
        self.slots: list[tuple[str, list[str], bool]] = []
        for k, name in enumerate(leaves[0]):
            names = [lv[k] for lv in leaves]
            self.slots.append((name, names, any(x != name for x in names)))
        self.deps: tuple[str, ...] = tuple(sorted({x for _, names, _ in self.slots for x in names}))
        graph = model.graph
        self._dists = [d for d in [self.dist, *sorted(graph.descendants(self.dist))]
                       if d in graph.nodes and graph.nodes[d].kind == "distribution"]
        self._dist_slots = {d: tuple(i for i, (name, _, _) in enumerate(self.slots) if name in graph.leaves(d))
                            for d in self._dists}
        self._memo: dict[str, tuple[tuple[Any, ...], Array]] = {}
        #: column ranges evaluated one after the other (one range covering everything for small data)
        self.chunks: list[slice] = [slice(None)]
        if data.size > 2 * CHUNK_ENTRIES:
            step = max(1, CHUNK_ENTRIES // n)
            self.chunks = [slice(a, min(a + step, width)) for a in range(0, width, step)]
        self.chunked = len(self.chunks) > 1
        #: the functions and distributions of the tree that do not depend on the data (shared across chunks)
        self._param_only = frozenset(d for d in [self.dist, *graph.descendants(self.dist)]
                                     if d in graph.nodes and obs not in graph.leaves(d))
        #: the flat plan (pyhs3_lab.plan): None: not built yet; False: none for this tree
        self._plan: ChannelPlan | bool | None = None
        #: None: the plan is not checked yet; True: it agrees with the tree; False: off for good
        self.plan_ok: bool | None = None
        #: None: the plan's gradient is not checked yet; True: it agrees with the tree's; False: off for good
        self.plan_grad_ok: bool | None = None
        #: why the plan (or its gradient) was turned off, if it was
        self.plan_fallback_reason: str | None = None

    # -- the flat plan --------------------------------------------------------------------

    def plan(self) -> ChannelPlan | None:
        """The flat plan of this batch (built at first use), or None where it has none or was turned off."""
        if self._plan is None and self.chunked:
            # the plan keeps per-entry arrays between calls (several times the data); large data sets are
            # evaluated chunk by chunk instead, where the per-call Python cost the plan saves is negligible
            self._plan = False
            self.plan_ok = False
            self.plan_fallback_reason = (f"{self.data.size} entries: evaluated in {len(self.chunks)} chunks by the "
                                         "batched tree (bounded memory), not by the plan")
        if self._plan is None:
            from .plan import build_plan

            self._plan = build_plan(self) or False
            if self._plan is False:
                self.plan_ok = False
                self.plan_fallback_reason = "a kernel of the tree has no plan"
        if self.plan_ok is False or not isinstance(self._plan, ChannelPlan):
            return None
        return self._plan

    def _plan_nll(self, values: Mapping[str, Any]) -> float | None:
        """The plan's NLL once checked; at its first use it is compared with the batched tree (itself checked
        against the general path), whose value is returned; on disagreement or error the plan is off for good."""
        plan = self.plan()
        if plan is None:
            return None
        if self.plan_ok is True:
            return plan.nll(values)
        tree = self._tree_nll(values)
        if tree is None:
            return None
        try:
            with np.errstate(all="ignore"):
                got = plan.nll(values)
        except (PyHS3LabError, ValueError, TypeError, IndexError, KeyError, ArithmeticError) as exc:
            self.plan_ok = False
            self.plan_fallback_reason = f"{type(exc).__name__}: {exc}"
            return tree
        if got is None:
            return tree  # the plan does not apply to these values: decide at the next call
        if not (got == tree or abs(got - tree) <= CHECK_RTOL * max(1.0, abs(tree))):
            self.plan_ok = False
            self.plan_fallback_reason = f"plan {got!r} != batched tree {tree!r}"
            return tree
        self.plan_ok = True
        return tree

    def cached_nll(self, values: Mapping[str, Any]) -> float:
        if self.ok is True and self.plan_ok is True:
            assert isinstance(self._plan, ChannelPlan)
            got = self._plan.nll(values)
            if got is not None:
                return got
        return super().cached_nll(values)

    # -- evaluation -------------------------------------------------------------------------

    def _slot_values(self, values: Mapping[str, Any]) -> tuple[list[Any], list[Any]] | None:
        """(value per slot: a float or a column over channels, a hashable key per slot), or None
        if a value is not a float (arrays: the general path broadcasts them)."""
        out: list[Any] = []
        keys: list[Any] = []
        for name, names, differ in self.slots:
            if differ:
                try:
                    col = np.array([values[x] for x in names], dtype=float)
                except (TypeError, ValueError):
                    return None
                if col.ndim != 1:
                    return None
                out.append(col.reshape(len(names), 1))
                keys.append(tuple(col.tolist()))
            else:
                v = values[name]
                if type(v) is not float:
                    return None
                out.append(v)
                keys.append(v)
        return out, keys

    def batched_nll(self, values: Mapping[str, Any]) -> float | None:
        """The summed NLL of the group's terms, or None where the batch does not apply (array values)."""
        if self.plan_ok is not False:
            got_plan = self._plan_nll(values)
            if got_plan is not None:
                return got_plan
        return self._tree_nll(values)

    def chunk_evaluators(self, inputs: Mapping[str, Any]) -> Iterator[tuple[Evaluator, slice]]:
        """An evaluator per chunk of columns (:attr:`chunks`), each with ``inputs`` and its part of the data;
        what does not depend on the data (normalisation integrals, parameter-only functions) is computed in
        the first and shared with the others."""
        first: Evaluator | None = None
        for sl in self.chunks:
            ev = Evaluator(self.model.compiled, {**inputs, self.obs: self.data[:, sl]}, self.model.bounds,
                           self.observables)
            if self._inside:
                ev._overridden = self.observables  # the data were checked against the range once
            if first is not None:
                ev._ln_cache.update(first._ln_cache)
                ev._cache.update({k: v for k, v in first._cache.items() if k in self._param_only})
            yield ev, sl
            if first is None:
                first = ev

    def _extended_part(self, ev: Evaluator) -> float:
        """Σ over channels of ν - n log ν (0 for a distribution that is not extended)."""
        op = self.model.compiled.distribution(self.dist)
        nu = op.expected_events(ev)
        if nu is None:
            return 0.0
        if np.ndim(nu) == 0:
            nu_f = float(nu)
            return float(sum(_extended(nu_f, n) for n in self._n_list))
        nu_a = np.broadcast_to(np.asarray(nu, dtype=float).reshape(-1, 1), self.n_events.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            ext = np.where(self.n_events == 0.0, nu_a, nu_a - self.n_events * np.log(nu_a))
        return float(ext.sum())

    def _weighted_sum(self, lp: Array, sl: slice) -> float:
        """Σ w log p over the columns ``sl`` (padding and zero weights count 0, also against log 0)."""
        if self.weights is None:
            return float(lp.sum())
        w = self.weights[:, sl]
        with np.errstate(invalid="ignore"):
            return float(np.where(w == 0.0, 0.0, w * lp).sum())

    def _chunked_tree_nll(self, inputs: Mapping[str, Any]) -> float:
        total = 0.0
        last: Evaluator | None = None
        for ev, sl in self.chunk_evaluators(inputs):
            lp = np.asarray(ev.logpdf(self.dist))
            shape = self.data[:, sl].shape
            if lp.shape != shape:
                lp = np.broadcast_to(lp, shape)
            total -= self._weighted_sum(lp, sl)
            last = ev
        assert last is not None
        return total + self._extended_part(last)

    def _tree_nll(self, values: Mapping[str, Any]) -> float | None:
        """The batched NLL by the general evaluator on the broadcast tree (chunk by chunk for large data)."""
        got = self._slot_values(values)
        if got is None:
            return None
        slot_vals, slot_keys = got
        inputs: dict[str, Any] = {name: v for (name, _, _), v in zip(self.slots, slot_vals, strict=True)}
        if self.chunked:
            return self._chunked_tree_nll(inputs)
        inputs[self.obs] = self.data
        ev = Evaluator(self.model.compiled, inputs, self.model.bounds, self.observables)
        if self._inside:
            # the (read-only) data were checked against the range once: no per-call bounds test
            ev._overridden = self.observables
        keys: dict[str, tuple[Any, ...]] = {}
        for d, idx in self._dist_slots.items():
            key = tuple([slot_keys[i] for i in idx])
            keys[d] = key
            hit = self._memo.get(d)
            if hit is not None and hit[0] == key:
                ev._lp_cache[d] = hit[1]
        lp = ev.logpdf(self.dist)
        memo = {}
        for d, key in keys.items():
            val = ev._lp_cache.get(d)
            if val is not None:
                memo[d] = (key, val)
        self._memo = memo
        lp = np.asarray(lp)
        if lp.shape != self.data.shape:
            lp = np.broadcast_to(lp, self.data.shape)
        return -self._weighted_sum(lp, slice(None)) + self._extended_part(ev)

    def general_nll(self, values: Mapping[str, Any]) -> float:
        return float(sum(t.cached_nll(values) for t in self.terms))

    def _undecided(self, values: Mapping[str, Any]) -> bool:
        return self._slot_values(values) is None  # array values: decide at the next scalar evaluation


def _extended(nu: float, n: float) -> float:
    """ν - n log ν of one channel (0 log 0 = 0; ν = 0 with events: +inf)."""
    if n == 0.0:
        return nu
    if nu > 0.0:
        return nu - n * math.log(nu)
    return math.inf if nu == 0.0 else math.nan


def plan_terms(model: Model, terms: Sequence[_DensityLike]) -> list[Any]:
    """The terms, with those of identical structure merged into :class:`ChannelBatch` objects
    (placed where the first of them was; a channel of its own is a batch of one, for the memo);
    every item has ``cached_nll(values)``."""
    graph = model.graph
    components = {c.name: c for c in model.spec.components()}
    groups: dict[Any, list[int]] = {}
    leaves: dict[int, list[str]] = {}
    for i, t in enumerate(terms):
        sig = _signature(t, graph, components)
        if sig is None:
            continue
        groups.setdefault(sig[0], []).append(i)
        leaves[i] = sig[1]
    first_of: dict[int, ChannelBatch] = {}
    merged: set[int] = set()
    for members in groups.values():
        # a single channel too: it gains the memo of unchanged distributions across calls
        batch = ChannelBatch(model, [terms[i] for i in members], [leaves[i] for i in members])
        first_of[members[0]] = batch
        merged.update(members)
    return placed(terms, first_of, merged)


def placed(terms: Sequence[Any], first_of: Mapping[int, Any], merged: set[int]) -> list[Any]:
    """``terms`` with each group (``first_of[i]``: the group whose first member is term ``i``) in the place
    of its first member and the other members (``merged``) left out."""
    out: list[Any] = []
    for i, t in enumerate(terms):
        if i in first_of:
            out.append(first_of[i])
        elif i not in merged:
            out.append(t)
    return out
