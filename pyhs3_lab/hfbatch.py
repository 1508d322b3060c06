"""HistFactory channels of a likelihood evaluated together in one vectorised pass (a fast path).

Evaluated one at a time, each ``histfactory_dist`` channel costs a few dozen small numpy calls
(~80 µs), and the likelihood merges the channels' constraint terms by name, in Python, per call.
:class:`CountsBatch` does all per-parameter work once: every (channel, sample, bin) is one *entry*
of a flat array, every (channel, sample) one *instance*, every (channel, bin) one global bin; the
values it reads are one flat vector (:attr:`CountsBatch.inputs`: modifier parameters, then the
global observables of the constraint terms); products of modifiers (normfactors per instance, γ per
entry, multiplicative normsys/histosys terms) are row products of padded index matrices into that
vector, sums are ``bincount``; the interpolation terms are grouped by code over all channels with
their constants computed once (:class:`~pyhs3_lab.ops.interp.PreparedTerms`); the constraint terms
(each parameter's once, the first channel's, as ``likelihood._shared_constraints`` counts them) are
one expression per kind. One NLL call is a fixed number of numpy calls, whatever the number of
parameters; :meth:`CountsBatch.grad_vector` is the analytic gradient by the same structure in reverse
(scatter-adds with ``bincount``). Fits hand MINUIT's ``x`` to it directly (:class:`FlatCounts`).

Every element is computed by the same formulas as in the kernel; sums may be taken in another order,
so the numbers agree to rounding. The batch is checked against the per-channel path at its first
evaluation and falls back to it for good if the results differ by more than 1e-10 relative or the
batched evaluation raises; its gradient is checked likewise against the per-channel gradient
(:class:`pyhs3_lab.gradient.LikelihoodGradient`). Channels with ``custom`` modifiers, modifier
parameters that are functions, samples mixing additive and multiplicative interpolation codes, or
explicit (non-Gaussian) constraint pdfs, likelihoods whose bin-count terms are not all HistFactory
channels, and array parameter values use the per-channel path.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray
from scipy import special

from .batch import CHECK_RTOL, VerifiedBatch
from .ops.base import Array
from .ops.histfactory import _DBL_MIN, _LOG_SQRT_2PI, ConstraintSpec, HistFactory, _log_gauss_norm
from .ops.interp import PreparedTerms

if TYPE_CHECKING:
    from .model import Model

__all__ = ["CHECK_RTOL", "CountsBatch", "FlatCounts", "plan_counts", "unsupported"]

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
    if not terms:
        return "no bin-count terms"
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


def _padded(rows: Sequence[Sequence[int]], pad: int) -> IntArray:
    """Lists of indices as one ``[rows × longest]`` matrix, short rows padded with ``pad``."""
    width = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), width), pad, dtype=np.intp)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def _others(x: Array) -> Array:
    """Π over each row of ``x`` without the element itself (exact where elements are 0)."""
    n, k = x.shape
    if k == 1:
        return np.ones((n, 1))
    pre = np.ones((n, k))
    pre[:, 1:] = np.cumprod(x[:, :-1], axis=1)
    suf = np.ones((n, k))
    suf[:, :-1] = np.cumprod(x[:, :0:-1], axis=1)[:, ::-1]
    return pre * suf


def _rowprod(m: Array) -> Array:
    """Π over each row (the single column as it is)."""
    return m[:, 0] if m.shape[1] == 1 else np.asarray(m.prod(axis=1))


class CountsBatch(VerifiedBatch):
    """The bin-count terms of a likelihood (HistFactory channels) as one vectorised evaluation.

    Everything per parameter is done once here: the evaluation reads one flat vector of the
    :attr:`inputs` (the modifier parameters, then the global observables of the constraint terms),
    ``v``, and is a fixed number of numpy calls whatever the number of parameters, channels and
    modifiers: products of modifiers as row products of padded index matrices into
    ``[v, 1, 0, constants]``, sums as ``bincount``, constraint terms one expression per kind.
    :meth:`nll_vector` and :meth:`grad_vector` take ``v`` directly (fits build it from MINUIT's ``x``
    without a dict: :meth:`pyhs3_lab.likelihood.Likelihood._flat_counts`).
    """

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
        nf_rows: list[list[int]] = []
        ns: dict[int, list[tuple[Any, ...]]] = {}
        hs: dict[int, list[tuple[Any, ...]]] = {}
        g_rows: list[list[int]] = []
        has_histo: list[Any] = []
        off_e = off_b = off_i = 0
        for op in ops:
            n_s, n_b = len(op.sample_names), op.n_bins
            pidx = np.asarray([index.setdefault(n, len(index)) for n in op._param_names], dtype=np.intp)
            nominal.append(op.nominal.ravel())
            bins.append(off_b + np.tile(np.arange(n_b), n_s))
            inst.append(off_i + np.repeat(np.arange(n_s), n_b))
            rows: list[list[int]] = [[] for _ in range(n_s)]
            for smp, p in zip(op._nf_s.tolist(), pidx[op._nf_p].tolist(), strict=True):
                rows[smp].append(p)
            nf_rows += rows
            for code, s, p, lo, hi in op._ns:
                ns.setdefault(code, []).append((off_i + s, pidx[p], np.asarray(lo, dtype=float),
                                                np.asarray(hi, dtype=float)))
            cols = np.arange(n_b)
            for code, s, p, nom, lo, hi in op._hs:
                ent = off_e + s[:, None] * n_b + cols[None, :]
                hs.setdefault(code, []).append((ent.ravel(), np.repeat(pidx[p], n_b), nom.ravel(), lo.ravel(),
                                                hi.ravel()))
            grows: list[list[int]] = [[] for _ in range(n_s * n_b)]
            for m, smp in enumerate(op._g_s.tolist()):
                for b, p in enumerate(pidx[op._g_p[m]].tolist()):
                    grows[smp * n_b + b].append(p)
            g_rows += grows
            has_histo.append(op._has_histo)
            off_e += n_s * n_b
            off_b += n_b
            off_i += n_s
        #: the modifier parameters (the first entries of :attr:`inputs`)
        self.names = list(index)
        self.n_entries, self.n_bins, self.n_inst = off_e, off_b, off_i
        self.nominal: Array = _cat(nominal, float)
        self.bins: IntArray = _cat(bins, np.intp)
        self.inst: IntArray = _cat(inst, np.intp)
        self.histo_entry = _cat(has_histo, bool)[self.inst]
        self.counts: Array = _cat([np.asarray(t.counts, dtype=float).ravel() for t in self.terms], float)
        self.const = float(sum(t.const for t in self.terms))
        self._empty_bins = self.counts == 0.0
        self._no_empty_bins = not self._empty_bins.any()

        # constraint terms: each parameter's once, the first channel's (as _shared_constraints)
        seen: dict[str, ConstraintSpec] = {}
        for op in ops:
            specs = op.constraint_terms()
            for name in op.constraints.names:
                if name not in seen:
                    seen[name] = specs[name]
        gauss = [s for s in seen.values() if s.kind == "gauss"]
        pois = [s for s in seen.values() if s.kind == "poisson"]
        if len(gauss) + len(pois) != len(seen):
            raise ValueError("explicit constraint pdfs")  # excluded by unsupported()
        inputs = dict(index)
        for spec in (*gauss, *pois):
            inputs.setdefault(spec.parameter, len(inputs))
            if spec.global_observable is not None:
                inputs.setdefault(spec.global_observable, len(inputs))
        #: the names the evaluation reads, in the order of the vector ``v``
        self.inputs: tuple[str, ...] = tuple(inputs)
        n_in = len(self.inputs)
        # the extended vector [v, 1, 0, constants...]
        one, zero = n_in, n_in + 1
        tail: list[float] = [1.0, 0.0]

        def const(x: float) -> int:
            tail.append(float(x))
            return n_in + len(tail) - 1

        self._one, self._zero = one, zero
        self.nf: IntArray = _padded(nf_rows, one)
        self.g: IntArray = _padded(g_rows, one)

        # normsys: all terms' values in one vector (then 0 and 1), gathered per sample by padded matrices
        self.ns_groups: list[tuple[PreparedTerms, IntArray]] = []
        ns_add: list[list[int]] = [[] for _ in range(self.n_inst)]
        ns_mul: list[list[int]] = [[] for _ in range(self.n_inst)]
        ns_par: list[Any] = []
        k = 0
        for code, v in ns.items():
            s_ = _cat([e[0] for e in v], np.intp)
            p_ = _cat([e[1] for e in v], np.intp)
            term = PreparedTerms("normsys", code, _cat([e[2] for e in v], float), _cat([e[3] for e in v], float))
            self.ns_groups.append((term, p_))
            for smp in s_.tolist():
                (ns_add if term.kind == "add" else ns_mul)[smp].append(k)
                k += 1
            ns_par.append(p_)
        self.n_ns = k
        self.ns_add = _padded(ns_add, k) if any(ns_add) else None
        self.ns_mul = _padded(ns_mul, k + 1) if any(ns_mul) else None
        self.ns_par: IntArray = _cat(ns_par, np.intp)
        # histosys: additive terms summed per entry (bincount), multiplicative ones gathered per entry
        self.hs_groups: list[tuple[PreparedTerms, IntArray, IntArray]] = []
        hs_mul: list[list[int]] = [[] for _ in range(self.n_entries)]
        hs_par: list[Any] = []
        k = 0
        for code, v in hs.items():
            ent = _cat([e[0] for e in v], np.intp)
            p_ = _cat([e[1] for e in v], np.intp)
            term = PreparedTerms("histosys", code, _cat([e[3] for e in v], float), _cat([e[4] for e in v], float),
                                 _cat([e[2] for e in v], float))
            self.hs_groups.append((term, ent, p_))
            for e in ent.tolist():
                if term.kind == "mult":
                    hs_mul[e].append(k)
                k += 1
            hs_par.append(p_)
        self.n_hs = k
        self.hs_mul = _padded(hs_mul, k) if any(hs_mul) else None
        self.hs_par: IntArray = _cat(hs_par, np.intp)
        self.hs_ent: IntArray = _cat([e for _, e, _ in self.hs_groups], np.intp)
        self.hs_is_add = _cat([np.full(e.size, t.kind == "add") for t, e, _ in self.hs_groups], bool)
        self.hs_any_add = bool(self.hs_is_add.any())
        self.hs_all_add = bool(self.hs_is_add.all())
        self.hs_add_ent: IntArray = self.hs_ent[self.hs_is_add]

        # constraints
        self.g_par = np.asarray([inputs[s.parameter] for s in gauss], dtype=np.intp)
        self.g_obs = np.asarray([inputs[s.global_observable] if s.global_observable is not None else const(s.aux)
                                 for s in gauss], dtype=np.intp)
        self.g_sigma = np.asarray([s.sigma for s in gauss], dtype=float)
        bounds = [model.bounds.get(s.global_observable, (-math.inf, math.inf)) if s.global_observable is not None
                  else (-math.inf, math.inf) for s in gauss]
        lo = np.asarray([b[0] for b in bounds], dtype=float)
        hi = np.asarray([b[1] for b in bounds], dtype=float)
        self.g_fin = np.flatnonzero(np.isfinite(lo) | np.isfinite(hi))
        self.g_lo, self.g_hi = lo[self.g_fin], hi[self.g_fin]
        self.g_norm = np.log(self.g_sigma) + _LOG_SQRT_2PI
        self.p_par = np.asarray([inputs[s.parameter] for s in pois], dtype=np.intp)
        self.p_obs = np.asarray([inputs[s.global_observable] if s.global_observable is not None else const(s.aux)
                                 for s in pois], dtype=np.intp)
        self.p_tau = np.asarray([s.tau for s in pois], dtype=float)
        self._tail = np.asarray(tail, dtype=float)
        self._lgamma: tuple[bytes, Array, bool] | None = None
        self._g_norm_sum = float(self.g_norm.sum())
        self._last_vec: tuple[bytes, float] | None = None
        self._htable: tuple[Any, ...] | None = None
        #: None: the analytic Hessian not checked yet; True/False: it agreed with differences of the gradient
        self.hessian_ok: bool | None = None
        #: names of a gradient -> whether :meth:`grad_vector` agreed with the per-channel gradient (checked once)
        self.gradient_checked: dict[tuple[str, ...], bool] = {}

    # -- evaluation ---------------------------------------------------------------------------

    def vector(self, values: Mapping[str, Any]) -> Array | None:
        """The vector ``v`` of :attr:`inputs` from a dict of values; None for array values (the per-channel
        path broadcasts them)."""
        names = self.inputs
        if not names:
            return np.zeros(0)
        got = operator.itemgetter(*names)(values)
        try:
            v = np.array([got] if len(names) == 1 else got, dtype=float)
        except (TypeError, ValueError):
            return None
        return v if v.ndim == 1 else None

    def _forward(self, ve: Array, keep: bool) -> tuple[Array, dict[str, Any]]:
        """ν per global bin from the extended vector ``ve``; with ``keep`` the intermediate results."""
        st: dict[str, Any] = {}
        n_inst = self.n_inst
        nfm = ve[self.nf] if self.nf.shape[1] else None
        scale = _rowprod(nfm) if nfm is not None else np.ones(n_inst)
        if keep:
            st["nfm"], st["nf"] = nfm, scale
        if self.ns_groups:
            vals: list[Array] = []
            dvals: list[Array] = []
            for term, p in self.ns_groups:
                val, dval = term.evaluate(ve[p], keep)
                vals.append(val)
                if dval is not None:
                    dvals.append(dval)
            nv = np.concatenate([*vals, (0.0, 1.0)])
            add = nv[self.ns_add].sum(axis=1) if self.ns_add is not None else np.zeros(n_inst)
            mm = nv[self.ns_mul] if self.ns_mul is not None else None
            mult = _rowprod(mm) if mm is not None else np.ones(n_inst)
            norm = (1.0 + add) * mult if self.ns_add is not None else mult
            if self.conventions == "root":
                dead = norm <= 0
                norm = np.where(dead, _DBL_MIN, norm)
                if keep:
                    st["dead"] = dead
            if keep:
                st.update(ns_d=np.concatenate(dvals), nv=nv, add=add, mm=mm, mult=mult, norm=norm)
            scale = scale * norm
        contents = self.nominal
        if self.hs_groups:
            vals, dvals = [], []
            for term, _, p in self.hs_groups:
                val, dval = term.evaluate(ve[p], keep)
                vals.append(val)
                if dval is not None:
                    dvals.append(dval)
            hv = np.concatenate(vals)
            if keep:
                st["hs_d"] = np.concatenate(dvals)
            if self.hs_any_add:
                delta = np.bincount(self.hs_add_ent, weights=hv if self.hs_all_add else hv[self.hs_is_add],
                                    minlength=self.n_entries)
                base = self.nominal + delta
            else:
                base = self.nominal
            if self.hs_mul is not None:
                hm = np.concatenate([hv, (1.0, 1.0)])[self.hs_mul]
                ratio = _rowprod(hm)
                contents = base * ratio
            else:
                hm, ratio, contents = None, None, base
            if self.conventions == "root":
                clip = self.histo_entry & (contents < 0)
                contents = np.where(clip, 0.0, contents)
                if keep:
                    st["clip"] = clip
            if keep:
                st.update(hv=hv, base=base, hm=hm, ratio=ratio)
        gm = ve[self.g] if self.g.shape[1] else None
        factors = _rowprod(gm) if gm is not None else None
        weights = contents * scale[self.inst]
        if factors is not None:
            weights = weights * factors
        if keep:
            st.update(gm=gm, factors=factors, contents=contents, scale=scale)
        nu: Array = np.bincount(self.bins, weights=weights, minlength=self.n_bins).astype(float, copy=False)
        return nu, st

    def expected(self, pars: Array) -> Array:
        """ν of every bin of every channel (concatenated) at the modifier parameters ``pars`` (:attr:`names`)."""
        ve = np.zeros(len(self.inputs) + self._tail.size)
        ve[:len(self.names)] = pars
        ve[len(self.inputs):] = self._tail
        return self._forward(ve, False)[0]

    def _constraint_logs(self, ve: Array) -> float:
        total = 0.0
        if self.g_par.size:
            theta = ve[self.g_par]
            z = (ve[self.g_obs] - theta) / self.g_sigma
            if self.g_fin.size:
                norm = self.g_norm.copy()
                norm[self.g_fin] = _log_gauss_norm(theta[self.g_fin], self.g_sigma[self.g_fin], self.g_lo, self.g_hi)
                total += float((-0.5 * z * z - norm).sum())
            else:  # normalised over the real line: a constant
                total += -0.5 * float(z @ z) - self._g_norm_sum
        if self.p_par.size:
            n = ve[self.p_obs]
            lam = ve[self.p_par] * self.p_tau
            key = n.tobytes()
            lg = self._lgamma
            if lg is None or lg[0] != key:  # the global observables change only with toys
                lg = self._lgamma = (key, special.gammaln(n + 1.0), bool(np.all(n != 0.0)))
            # xlogy(n, λ) is n log λ where n != 0; each term summed whole (its parts cancel)
            logs = n * np.log(lam) if lg[2] else special.xlogy(n, lam)
            total += float((logs - lam - lg[1]).sum())
        return total

    def nll_vector(self, v: Array) -> float:
        """The NLL of the channels and their constraint terms at the vector ``v`` of :attr:`inputs`
        (remembered for the last ``v``)."""
        last = self._last_vec
        key = v.tobytes()
        if last is not None and last[0] == key:
            return last[1]
        ve = np.concatenate((v, self._tail))
        with np.errstate(divide="ignore", invalid="ignore"):
            nu, _ = self._forward(ve, False)
            # xlogy(n, ν) is n log ν where n != 0
            logs = self.counts * np.log(nu) if self._no_empty_bins else special.xlogy(self.counts, nu)
            main = float((nu - logs).sum())
            val = main + self.const - self._constraint_logs(ve)
        self._last_vec = (key, val)  # one assignment: safe when threads share it
        return val

    def grad_vector(self, v: Array) -> Array:
        """d NLL / d v (every entry of :attr:`inputs`; the constraint terms differentiated in their
        parameters only, as :func:`pyhs3_lab.gradient.counts_terms_grad`)."""
        ve = np.concatenate((v, self._tail))
        n_ext = ve.size
        with np.errstate(divide="ignore", invalid="ignore"):
            nu, st = self._forward(ve, True)
            resid = np.where(self._empty_bins, 1.0, 1.0 - self.counts / nu)
        r = resid[self.bins]
        out = np.zeros(n_ext)
        contents, scale, factors = st["contents"], st["scale"], st["factors"]
        s_e = scale[self.inst]
        cf = contents if factors is None else contents * factors
        if st["gm"] is not None:  # per-bin γ
            d_f = r * contents * s_e
            out += np.bincount(self.g.ravel(), weights=(d_f[:, None] * _others(st["gm"])).ravel(), minlength=n_ext)
        d_scale = np.bincount(self.inst, weights=r * cf, minlength=self.n_inst)
        norm = st.get("norm")
        if st["nfm"] is not None:
            d_nf = d_scale if norm is None else d_scale * norm
            out += np.bincount(self.nf.ravel(), weights=(d_nf[:, None] * _others(st["nfm"])).ravel(), minlength=n_ext)
        if norm is not None:
            d_norm = d_scale * st["nf"]
            if "dead" in st:
                d_norm = np.where(st["dead"], 0.0, d_norm)
            d_val = np.zeros(self.n_ns + 2)
            if self.ns_add is not None:
                w = np.broadcast_to((d_norm * st["mult"])[:, None], self.ns_add.shape)
                d_val += np.bincount(self.ns_add.ravel(), weights=w.ravel(), minlength=self.n_ns + 2)
            if self.ns_mul is not None:
                w = (d_norm * (1.0 + st["add"]))[:, None] * _others(st["mm"])
                d_val += np.bincount(self.ns_mul.ravel(), weights=w.ravel(), minlength=self.n_ns + 2)
            out += np.bincount(self.ns_par, weights=d_val[:self.n_ns] * st["ns_d"], minlength=n_ext)
        if self.hs_groups:
            d_c = r * (s_e if factors is None else s_e * factors)
            if "clip" in st:
                d_c = np.where(st["clip"], 0.0, d_c)
            d_hv = np.zeros(self.n_hs + 2)
            if self.hs_any_add:
                ratio = st["ratio"]
                d_add = d_c if ratio is None else d_c * ratio
                d_hv[:self.n_hs][self.hs_is_add] = d_add[self.hs_add_ent]
            if self.hs_mul is not None:
                w = (d_c * st["base"])[:, None] * _others(st["hm"])
                d_hv += np.bincount(self.hs_mul.ravel(), weights=w.ravel(), minlength=self.n_hs + 2)
            out += np.bincount(self.hs_par, weights=d_hv[:self.n_hs] * st["hs_d"], minlength=n_ext)
        # constraint terms: -d log / dθ
        if self.g_par.size:
            theta = ve[self.g_par]
            sigma = self.g_sigma
            grad = (ve[self.g_obs] - theta) / (sigma * sigma)
            fin = self.g_fin
            if fin.size:
                sg, th = sigma[fin], theta[fin]
                a, b = (self.g_lo - th) / sg, (self.g_hi - th) / sg
                log_z = _log_gauss_norm(th, sg, self.g_lo, self.g_hi) - np.log(sg) - _LOG_SQRT_2PI
                with np.errstate(over="ignore", under="ignore"):
                    dz = np.exp(-0.5 * a * a - _LOG_SQRT_2PI - log_z) - np.exp(-0.5 * b * b - _LOG_SQRT_2PI - log_z)
                grad[fin] -= dz / sg
            out -= np.bincount(self.g_par, weights=grad, minlength=n_ext)
        if self.p_par.size:
            n = ve[self.p_obs]
            with np.errstate(divide="ignore", invalid="ignore"):
                grad = np.where(n == 0, 0.0, n / ve[self.p_par]) - self.p_tau
            out -= np.bincount(self.p_par, weights=grad, minlength=n_ext)
        return out[:len(self.inputs)]

    def _hessian_table(self) -> tuple[Any, ...]:
        """Per entry: its factors (ν_e is their product: the sum of nominal and additive histosys terms, the
        sum 1 + additive normsys terms, and every multiplicative term) and its terms (each a function of one
        parameter, in one factor), as padded index matrices into the per-call vectors of
        :meth:`hessian_vector`."""
        if self._htable is not None:
            return self._htable
        n_ext = len(self.inputs) + self._tail.size
        off_ns = n_ext
        off_hs = off_ns + self.n_ns + 2
        off_base = off_hs + self.n_hs
        off_add = off_base + self.n_entries
        one_f = off_add + self.n_inst
        n_h = len(self.names)
        ns_par = self.ns_par.tolist()
        hs_par = self.hs_par.tolist()
        hs_add: list[list[int]] = [[] for _ in range(self.n_entries)]
        for k, (e, add) in enumerate(zip(self.hs_ent.tolist(), self.hs_is_add.tolist(), strict=True)):
            if add:
                hs_add[e].append(k)

        def row(m: IntArray | None, i: int, pad: int) -> list[int]:
            return [] if m is None else [x for x in m[i].tolist() if x != pad]

        inst = self.inst.tolist()
        f_rows: list[list[int]] = []
        t_rows: list[list[tuple[int, int, int]]] = []  # (index in the term vectors, factor column, parameter)
        for e in range(self.n_entries):
            i = inst[e]
            factors = [off_base + e, off_add + i]
            terms = [(off_hs + k, 0, hs_par[k]) for k in hs_add[e]]
            terms += [(off_ns + k, 1, ns_par[k]) for k in row(self.ns_add, i, self.n_ns)]
            for j in row(self.nf, i, self._one) + row(self.g, e, self._one):
                terms.append((j, len(factors), j))
                factors.append(j)
            for k in row(self.ns_mul, i, self.n_ns + 1):
                terms.append((off_ns + k, len(factors), ns_par[k]))
                factors.append(off_ns + k)
            for k in row(self.hs_mul, e, self.n_hs):
                terms.append((off_hs + k, len(factors), hs_par[k]))
                factors.append(off_hs + k)
            f_rows.append(factors)
            t_rows.append(terms)
        fi = _padded(f_rows, one_f)
        width = max((len(t) for t in t_rows), default=0)
        ti = np.full((self.n_entries, width), self._one, dtype=np.intp)  # pads: the constant 1 (no derivative)
        tf = np.zeros((self.n_entries, width), dtype=np.intp)
        tp = np.full((self.n_entries, width), n_h, dtype=np.intp)  # pads: a parameter dropped at the end
        for e, terms in enumerate(t_rows):
            for c, (a, b, p) in enumerate(terms):
                ti[e, c], tf[e, c], tp[e, c] = a, b, p
        self._htable = (fi, ti, tf, tp, n_h)
        return self._htable

    def hessian_vector(self, v: Array) -> Array | None:
        """d² NLL / d θ d θ' for the modifier parameters :attr:`names` (the first entries of :attr:`inputs`):
        ν is, per entry, a product of factors that are each linear in its terms, so its second derivatives
        are products of the other factors times the terms' derivatives; plus Σ n/ν² ∂ν ∂ν, and the constraint
        terms' second derivatives. None where it does not apply (ROOT's clipping of ν or of a normalisation
        is active, a constraint on a parameter without modifier): the caller takes differences of the gradient."""
        if (self.g_par.size and int(self.g_par.max()) >= len(self.names)) or \
                (self.p_par.size and int(self.p_par.max()) >= len(self.names)):
            return None
        fi, ti, tf, tp, n_h = self._hessian_table()
        ve = np.concatenate((v, self._tail))
        n_ext = ve.size
        with np.errstate(divide="ignore", invalid="ignore"):
            nu, st = self._forward(ve, True)
            if ("clip" in st and st["clip"].any()) or ("dead" in st and st["dead"].any()):
                return None
            resid = np.where(self._empty_bins, 1.0, 1.0 - self.counts / nu)
            curv = np.where(self._empty_bins, 0.0, self.counts / (nu * nu))
        ns_v = st["nv"] if "nv" in st else np.zeros(2)
        ns_d = np.concatenate([st["ns_d"], (0.0, 0.0)]) if "ns_d" in st else np.zeros(2)
        ns_d2 = np.concatenate([*(term.second(ve[p]) for term, p in self.ns_groups), (0.0, 0.0)])
        hs_v = st.get("hv", np.zeros(0))
        hs_d = st.get("hs_d", np.zeros(0))
        hs_d2 = np.concatenate([term.second(ve[p]) for term, _, p in self.hs_groups]) if self.hs_groups \
            else np.zeros(0)
        d_ve = np.zeros(n_ext)
        d_ve[:len(self.inputs)] = 1.0
        tv = np.concatenate((ve, ns_v, hs_v))
        td1 = np.concatenate((d_ve, ns_d, hs_d))
        td2 = np.concatenate((np.zeros(n_ext), ns_d2, hs_d2))
        base = st.get("base", self.nominal)
        add = st["add"] if "add" in st else np.zeros(self.n_inst)
        fv = np.concatenate((tv, base, 1.0 + add, (1.0,)))
        r_e = resid[self.bins]
        n1 = n_h + 1
        hess = np.zeros(n1 * n1)
        diag = np.zeros(n1)
        j_rows: list[Any] = []
        j_cols: list[Any] = []
        j_vals: list[Array] = []
        n_f, n_t = fi.shape[1], ti.shape[1]
        step = max(1, int(2_000_000 // max(1, n_t * n_t + n_f * n_f)))
        for c0 in range(0, self.n_entries, step):
            sl = slice(c0, c0 + step)
            x = fv[fi[sl]]
            tfc, pc = tf[sl], tp[sl]
            rows_c = np.arange(x.shape[0])[:, None]
            e1 = _others(x)[rows_c, tfc]
            d1 = td1[ti[sl]]
            d2 = td2[ti[sl]]
            rc = r_e[sl]
            jv = e1 * d1
            j_rows.append(np.broadcast_to(self.bins[sl][:, None], jv.shape).ravel())
            j_cols.append(pc.ravel())
            j_vals.append(jv.ravel())
            diag += np.bincount(pc.ravel(), weights=(rc[:, None] * e1 * d2).ravel(), minlength=n1)
            # Π of the factors other than a and b (0 where another factor is 0)
            zero = x == 0.0
            safe = np.where(zero, 1.0, x)
            prod = safe.prod(axis=1)
            nz = zero.sum(axis=1)
            sa = safe[rows_c, tfc]
            za = zero[rows_c, tfc]
            left = nz[:, None, None] - za[:, :, None] - za[:, None, :]
            e2 = np.where(left == 0, prod[:, None, None] / (sa[:, :, None] * sa[:, None, :]), 0.0)
            e2 = np.where(tfc[:, :, None] == tfc[:, None, :], 0.0, e2)
            w = (rc[:, None, None] * e2) * (d1[:, :, None] * d1[:, None, :])
            hess += np.bincount((pc[:, :, None] * n1 + pc[:, None, :]).ravel(), weights=w.ravel(), minlength=n1 * n1)
        h = hess.reshape(n1, n1)
        h[np.diag_indices(n1)] += diag
        rows, cols, vals = np.concatenate(j_rows), np.concatenate(j_cols), np.concatenate(j_vals)
        if self.n_bins * n1 <= 4_000_000:  # small: a dense Jacobian
            jac = np.bincount(rows * n1 + cols, weights=vals, minlength=self.n_bins * n1).reshape(self.n_bins, n1)
            h += (jac.T * curv) @ jac
        else:
            from scipy import sparse

            sjac = sparse.csr_matrix((vals, (rows, cols)), shape=(self.n_bins, n1))
            h += (sjac.T @ sparse.diags(curv) @ sjac).toarray()
        # constraint terms: -d² log / d θ²
        if self.g_par.size:
            theta = ve[self.g_par]
            sigma = self.g_sigma
            d2g = 1.0 / (sigma * sigma)
            fin = self.g_fin
            if fin.size:  # the normalisation over a finite range: differences of its analytic derivative
                sg = sigma[fin]

                def dlogz(th: Array) -> Array:
                    a, b = (self.g_lo - th) / sg, (self.g_hi - th) / sg
                    log_z = _log_gauss_norm(th, sg, self.g_lo, self.g_hi) - np.log(sg) - _LOG_SQRT_2PI
                    with np.errstate(over="ignore", under="ignore"):
                        return np.asarray((np.exp(-0.5 * a * a - _LOG_SQRT_2PI - log_z)
                                           - np.exp(-0.5 * b * b - _LOG_SQRT_2PI - log_z)) / sg)

                th = theta[fin]
                hh = 1e-5 * np.maximum(1.0, np.abs(th))
                d2g = np.array(np.broadcast_to(d2g, theta.shape))
                d2g[fin] -= (dlogz(th + hh) - dlogz(th - hh)) / (2 * hh)
            h[self.g_par, self.g_par] += d2g
        if self.p_par.size:
            n = ve[self.p_obs]
            with np.errstate(divide="ignore", invalid="ignore"):
                h[self.p_par, self.p_par] += np.where(n == 0, 0.0, n / (ve[self.p_par] ** 2))
        return np.asarray(h[:n_h, :n_h], dtype=float)

    def batched_nll(self, values: Mapping[str, Any]) -> float | None:
        """The NLL of the channels and their constraint terms; None for values it does not take."""
        v = self.vector(values)
        return None if v is None else self.nll_vector(v)

    def cached_nll(self, values: Mapping[str, Any]) -> float:
        if self.ok is not True:  # the check against the per-channel path, or that path for good
            return super().cached_nll(values)
        v = self.vector(values)
        return self.general_nll(values) if v is None else self.nll_vector(v)

    def general_nll(self, values: Mapping[str, Any]) -> float:
        return self._general(self.terms, values)


class FlatCounts:
    """A likelihood made of bin-count terms only, as a function of a flat vector ``x`` of some of its
    parameters (MINUIT's), the others at ``base``: no dict per call. :meth:`nll` and :meth:`grad` return
    None until the batch (and, for the gradient, its vectorised gradient) has been checked against the
    per-channel path, and for good if it disagreed: the caller then takes the dict path."""

    def __init__(self, batch: CountsBatch, names: Sequence[str], base: Mapping[str, Any]) -> None:
        self.batch = batch
        self.names = tuple(names)
        pos = {n: i for i, n in enumerate(batch.inputs)}
        self.base = np.array([base[n] for n in batch.inputs], dtype=float)
        if self.base.ndim != 1:
            raise ValueError("array values")
        src = [i for i, n in enumerate(self.names) if n in pos]
        self.src: IntArray = np.asarray(src, dtype=np.intp)
        self.dst: IntArray = np.asarray([pos[self.names[i]] for i in src], dtype=np.intp)

    def _vector(self, x: Array) -> Array:
        v = self.base.copy()
        v[self.dst] = x[self.src]
        return v

    def nll(self, x: Array) -> float | None:
        if self.batch.ok is not True:
            return None
        return self.batch.nll_vector(self._vector(x))

    def grad(self, x: Array, gradient: Any) -> Array | None:
        """d NLL / d x, where ``gradient`` (the fit's :class:`~pyhs3_lab.gradient.LikelihoodGradient`) has
        checked the batch's vectorised gradient."""
        if self.batch.ok is not True or not gradient.counts_batch_ok(self.batch):
            return None
        g = self.batch.grad_vector(self._vector(x))
        out = np.zeros(len(self.names))
        out[self.src] = g[self.dst]
        return out

    def hessian(self, x: Array, gradient: Any) -> Array | None:
        """d² NLL / dx² (:meth:`CountsBatch.hessian_vector`) where the gradient is the checked vectorised one;
        None where it does not apply (the caller takes differences of the gradient)."""
        if self.batch.ok is not True or not gradient.counts_batch_ok(self.batch) or self.batch.hessian_ok is False:
            return None
        h = self.batch.hessian_vector(self._vector(x))
        if h is None:
            return None
        keep = self.dst < h.shape[0]
        src, dst = self.src[keep], self.dst[keep]
        n = len(self.names)
        if n == h.shape[0] and src.size == n and np.array_equal(src, dst):  # the same order: no copy
            return h
        out = np.zeros((n, n))
        out[np.ix_(src, src)] = h[np.ix_(dst, dst)]
        return out

    def interpolated(self) -> set[int]:
        """Positions in ``names`` of the parameters of normsys and histosys terms (kinks at 0 and ±1)."""
        pars = set(self.batch.ns_par.tolist()) | set(self.batch.hs_par.tolist())
        return {int(i) for i, d in zip(self.src.tolist(), self.dst.tolist(), strict=True) if d in pars}


def plan_counts(model: Model, terms: Sequence[_CountsLike],
                general: Callable[[Sequence[Any], Mapping[str, Any]], float]) -> CountsBatch | None:
    """A :class:`CountsBatch` of the bin-count terms, or None where they use the per-channel path."""
    if unsupported(terms) is not None:
        return None
    return CountsBatch(model, terms, general)
