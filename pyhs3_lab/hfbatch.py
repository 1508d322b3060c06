"""HistFactory channels of a likelihood evaluated together in one vectorised pass (a fast path).

Evaluated one at a time, each ``histfactory_dist`` channel costs a few dozen small numpy calls
(~80 µs), whatever its size: a model with 100 channels of 10 bins spends its time in Python.
:class:`CountsBatch` concatenates the channels: every (channel, sample, bin) is one *entry* of a
flat array, every (channel, sample) one *instance*, every (channel, bin) one global bin; the
modifiers become index arrays over entries (histosys, per-bin γ) or instances (normfactor,
normsys), grouped by interpolation code over all channels; the parameters are gathered once.
ν per bin is one ``bincount`` over the entries, the Poisson main terms one numpy pass, and the
constraint terms of all channels (each parameter's once, the first channel's, as
``likelihood._shared_constraints`` counts them) one :class:`~pyhs3_lab.ops.histfactory.ConstraintSet`.

Every element is computed by the same formulas as in the kernel; the sums are taken in the same
order (per channel, then channel by channel), so the numbers agree to rounding. The batch is
checked against the per-channel path at its first evaluation and falls back to it for good if
the results differ by more than 1e-10 relative or the batched evaluation raises. Channels with
``custom`` modifiers, modifier parameters that are functions, samples mixing additive and
multiplicative interpolation codes, or explicit (non-Gaussian) constraint pdfs, likelihoods whose
bin-count terms are not all HistFactory channels, and array parameter values use the
per-channel path. Analytic gradients always use the per-channel kernels (:mod:`pyhs3_lab.gradient`).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy import special

from .batch import CHECK_RTOL, VerifiedBatch
from .evaluate import Evaluator
from .ops.base import Array
from .ops.histfactory import _DBL_MIN, ConstraintSet, ConstraintSpec, HistFactory
from .ops.interp import histosys_term, normsys_term

if TYPE_CHECKING:
    from .model import Model

__all__ = ["CHECK_RTOL", "CountsBatch", "plan_counts", "unsupported"]

#: relative agreement the batch must reach with the per-channel path at its first evaluation
IntArray = NDArray[np.intp]


class _CountsLike(Protocol):
    """What the batch needs of a likelihood bin-count term (``likelihood._CountsTerm``)."""

    dist: str
    op: Any
    counts: Array
    const: float
    observables: frozenset[str]

    def dependencies(self) -> frozenset[str]: ...


def unsupported(terms: Sequence[_CountsLike]) -> str | None:
    """Why these bin-count terms cannot be batched (None: they can)."""
    if len(terms) < 2:
        return "fewer than two channels"
    conventions = set()
    for t in terms:
        op = t.op
        if not isinstance(op, HistFactory):
            return f"{t.dist!r} is not a histfactory_dist"
        if op._custom:
            return f"{t.dist!r} has custom modifiers"
        if not op._free:
            return f"{t.dist!r} has modifier parameters that are functions"
        if op._ns_ordered or op._hs_ordered:
            return f"{t.dist!r} mixes additive and multiplicative interpolation codes in a sample"
        if any(s.kind == "pdf" for s in op.constraint_terms().values()):
            return f"{t.dist!r} has explicit constraint pdfs"
        conventions.add(op.conventions)
    if len(conventions) != 1:
        return "channels with different conventions"
    return None


def _cat(parts: Sequence[Any], dtype: Any) -> Any:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)


class CountsBatch(VerifiedBatch):
    """The bin-count terms of a likelihood (HistFactory channels) as one vectorised evaluation."""

    def __init__(self, model: Model, terms: Sequence[_CountsLike],
                 general: Callable[[Sequence[Any], Mapping[str, Any]], float]) -> None:
        super().__init__()
        self.model = model
        self.terms = list(terms)
        self._general = general
        deps: set[str] = set()
        obs: set[str] = set()
        for t in self.terms:
            deps |= t.dependencies()
            obs |= t.observables
        self.deps = tuple(sorted(deps))
        self.observables = frozenset(obs)
        ops: list[HistFactory] = [t.op for t in self.terms]
        self.conventions = ops[0].conventions

        index: dict[str, int] = {}
        nominal: list[Any] = []
        bins: list[Any] = []
        inst: list[Any] = []
        nf_i: list[Any] = []
        nf_p: list[Any] = []
        ns: dict[int, list[tuple[Any, ...]]] = {}
        hs: dict[int, list[tuple[Any, ...]]] = {}
        g_e: list[Any] = []
        g_p: list[Any] = []
        has_histo: list[Any] = []
        starts: list[int] = []
        off_e = off_b = off_i = 0
        for op in ops:
            n_s, n_b = len(op.sample_names), op.n_bins
            pidx = np.asarray([index.setdefault(n, len(index)) for n in op._param_names], dtype=np.intp)
            starts.append(off_b)
            nominal.append(op.nominal.ravel())
            bins.append(off_b + np.tile(np.arange(n_b), n_s))
            inst.append(off_i + np.repeat(np.arange(n_s), n_b))
            nf_i.append(off_i + op._nf_s)
            nf_p.append(pidx[op._nf_p])
            for code, s, p, lo, hi in op._ns:
                ns.setdefault(code, []).append((off_i + s, pidx[p], np.asarray(lo, dtype=float),
                                                np.asarray(hi, dtype=float)))
            cols = np.arange(n_b)
            for code, s, p, nom, lo, hi in op._hs:
                ent = off_e + s[:, None] * n_b + cols[None, :]
                hs.setdefault(code, []).append((ent.ravel(), np.repeat(pidx[p], n_b), nom.ravel(), lo.ravel(),
                                                hi.ravel()))
            if op._g_s.size:
                g_e.append((off_e + op._g_s[:, None] * n_b + cols[None, :]).ravel())
                g_p.append(pidx[op._g_p].ravel())
            has_histo.append(op._has_histo)
            off_e += n_s * n_b
            off_b += n_b
            off_i += n_s
        self.names = list(index)
        self.n_entries, self.n_bins, self.n_inst = off_e, off_b, off_i
        self.nominal: Array = _cat(nominal, float)
        self.bins: IntArray = _cat(bins, np.intp)
        self.inst: IntArray = _cat(inst, np.intp)
        self.nf_i: IntArray = _cat(nf_i, np.intp)
        self.nf_p: IntArray = _cat(nf_p, np.intp)
        self.ns = [(code, _cat([e[0] for e in v], np.intp), _cat([e[1] for e in v], np.intp),
                    _cat([e[2] for e in v], float), _cat([e[3] for e in v], float)) for code, v in ns.items()]
        self.hs = [(code, *(_cat([e[k] for e in v], np.intp if k < 2 else float) for k in range(5)))
                   for code, v in hs.items()]
        self.g_e: IntArray = _cat(g_e, np.intp)
        self.g_p: IntArray = _cat(g_p, np.intp)
        self.histo_entry = _cat(has_histo, bool)[self.inst]
        # the main terms summed per channel as the kernel sums them (np.sum of each channel's bins; pairwise
        # summation depends on the length): channels of one size gathered into a [channels × bins] matrix
        sizes: dict[int, list[int]] = {}
        for c, op in enumerate(ops):
            sizes.setdefault(op.n_bins, []).append(c)
        self.by_size = [(np.asarray(chans, dtype=np.intp),
                         np.asarray(starts, dtype=np.intp)[chans][:, None] + np.arange(n_b)[None, :])
                        for n_b, chans in sizes.items()]
        self.counts: Array = _cat([np.asarray(t.counts, dtype=float).ravel() for t in self.terms], float)
        self.consts = np.asarray([t.const for t in self.terms], dtype=float)

        # constraint terms: each parameter's once, the first channel's (as _shared_constraints), in the
        # order the per-channel path sums them
        seen: dict[str, ConstraintSpec] = {}
        for op in ops:
            specs = op.constraint_terms()
            for name in op.constraints.names:
                if name not in seen:
                    seen[name] = specs[name]
        self.constraints = ConstraintSet(list(seen.values()))
        pos = {n: i for i, n in enumerate(self.constraints.names)}
        self.order: IntArray = np.asarray([pos[n] for n in seen], dtype=np.intp)

    # -- evaluation ---------------------------------------------------------------------------

    def _pars(self, values: Mapping[str, Any]) -> Array | None:
        names = self.names
        if not names:
            return np.zeros(0)
        got = operator.itemgetter(*names)(values)
        vals = [got] if len(names) == 1 else list(got)
        if not all(isinstance(v, (float, int)) for v in vals):
            return None  # array values: the per-channel path broadcasts them
        return np.asarray(vals, dtype=float)

    def expected(self, pars: Array) -> Array:
        """ν of every bin of every channel (concatenated)."""
        scale = np.ones(self.n_inst)
        if self.nf_i.size:
            np.multiply.at(scale, self.nf_i, pars[self.nf_p])
        if self.ns:
            add = np.zeros(self.n_inst)
            mult = np.ones(self.n_inst)
            for code, s, p, lo, hi in self.ns:
                kind, val = normsys_term(code, pars[p], lo, hi)
                if kind == "add":
                    np.add.at(add, s, val)
                else:
                    np.multiply.at(mult, s, val)
            norm = (1.0 + add) * mult
            if self.conventions == "root":
                norm = np.where(norm <= 0, _DBL_MIN, norm)
            scale = scale * norm
        contents = self.nominal
        if self.hs:
            delta = np.zeros(self.n_entries)
            ratio = np.ones(self.n_entries)
            for code, ent, p, nom, lo, hi in self.hs:
                kind, val = histosys_term(code, pars[p], nom, lo, hi)
                if kind == "add":
                    np.add.at(delta, ent, val)
                else:
                    np.multiply.at(ratio, ent, val)
            contents = (contents + delta) * ratio
            if self.conventions == "root":
                contents = np.where(self.histo_entry & (contents < 0), 0.0, contents)
        factors = np.ones(self.n_entries)
        if self.g_e.size:
            np.multiply.at(factors, self.g_e, pars[self.g_p])
        weights = contents * factors * scale[self.inst]
        return np.asarray(np.bincount(self.bins, weights=weights, minlength=self.n_bins), dtype=float)

    def batched_nll(self, values: Mapping[str, Any]) -> float | None:
        """The NLL of the channels and their constraint terms; None for values it does not take."""
        pars = self._pars(values)
        if pars is None:
            return None
        nu = self.expected(pars)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_bin = nu - special.xlogy(self.counts, nu)
        sums = np.empty(len(self.terms))
        for chans, rows in self.by_size:
            sums[chans] = per_bin[rows].sum(axis=1)
        mains = sums + self.consts
        total = 0.0
        for m in mains.tolist():
            total += m
        if self.order.size:
            ev = Evaluator(self.model.compiled, values, self.model.bounds, self.observables)
            blocks = self.constraints.log_blocks(ev)
            logs = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
            total -= float(np.sum(logs[self.order]))
        return total

    def general_nll(self, values: Mapping[str, Any]) -> float:
        return self._general(self.terms, values)


def plan_counts(model: Model, terms: Sequence[_CountsLike],
                general: Callable[[Sequence[Any], Mapping[str, Any]], float]) -> CountsBatch | None:
    """A :class:`CountsBatch` of the bin-count terms, or None where they use the per-channel path."""
    if unsupported(terms) is not None:
        return None
    return CountsBatch(model, terms, general)
