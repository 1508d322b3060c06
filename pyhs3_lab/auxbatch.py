"""Constraint (``aux_distributions``) terms of the same type evaluated in one vectorised pass.

A likelihood with many constraint terms (one Gaussian per nuisance parameter, Poisson terms of
statistical uncertainties) would otherwise build one evaluator per term and call. :func:`plan_aux`
groups the terms that are Gaussians or Poissons of parameters and numbers (no functions: those keep
the general path) and evaluates each group with array arithmetic over its terms (a few terms: the same
formulas on floats, which is faster than numpy dispatch). Each group is a
:class:`~pyhs3_lab.batch.VerifiedBatch`: checked against the terms one by one at its first use, and
the general path for good if they disagree. Its gradient (:meth:`AuxGroup.gradient`) is checked the
same way by :mod:`pyhs3_lab.gradient`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from .batch import VerifiedBatch, placed
from .ops.univariate import Gaussian, Poisson, gauss_norm_partials, log_gauss_integral, log_gauss_integral_float
from .plan import gatherer

if TYPE_CHECKING:
    from .model import Model

__all__ = ["AuxGroup", "plan_aux"]

_FLOAT = frozenset((float,))
#: from this many terms on, a group is evaluated with numpy arrays (below: floats, one term at a time)
VECTOR_MIN = 6


class AuxGroup(VerifiedBatch):
    """Constraint terms of one kernel type (``"gaussian"`` or ``"poisson"``), fields given by parameters or numbers."""

    def __init__(self, model: Model, kind: str, terms: Sequence[Any], fields: Sequence[Sequence[Any]],
                 integer: bool = False) -> None:
        super().__init__()
        self.kind = kind
        self.terms = list(terms)
        #: per field (x, mean[, sigma]) the reference of each term: a name or a number
        self.fields = [list(f) for f in fields]
        self.integer = integer
        n = len(self.terms)
        names = sorted({r for f in self.fields for r in f if isinstance(r, str)})
        self.deps = tuple(names)
        xs = self.fields[0]
        lo = [model.bounds.get(x, (-math.inf, math.inf))[0] if isinstance(x, str) else -math.inf for x in xs]
        hi = [model.bounds.get(x, (-math.inf, math.inf))[1] if isinstance(x, str) else math.inf for x in xs]
        self.lo, self.hi = lo, hi
        self.lo_a, self.hi_a = np.array(lo, dtype=float), np.array(hi, dtype=float)
        self.vector = n >= VECTOR_MIN
        #: None: the gradient is not checked yet (pyhs3_lab.gradient); True: it agrees; False: off for good
        self.grad_ok: bool | None = None
        index = {n: i for i, n in enumerate(self.deps)}
        #: per field, per term: (index into deps, -1 for a number; the number)
        self._where = [[(index[r], 0.0) if isinstance(r, str) else (-1, float(r)) for r in f] for f in self.fields]
        self._gather = gatherer(self.deps)
        self._fast_last: tuple[tuple[Any, ...], float] | None = None

    def _columns(self, values: Mapping[str, Any]) -> list[list[float]] | None:
        vals = self._gather(values)
        if not set(map(type, vals)) <= _FLOAT:
            return None
        return [[vals[i] if i >= 0 else c for i, c in f] for f in self._where]

    def cached_nll(self, values: Mapping[str, Any]) -> float:
        """Once checked: the values gathered by one itemgetter, the last result kept (a fit's step in another
        parameter costs one tuple comparison)."""
        if self.ok is not True:
            return super().cached_nll(values)
        vals = self._gather(values)
        if set(map(type, vals)) <= _FLOAT:
            last = self._fast_last
            if last is not None and last[0] == vals:
                return last[1]
            cols = [[vals[i] if i >= 0 else c for i, c in f] for f in self._where]
            got = self._gauss_nll(*cols) if self.kind == "gaussian" else self._poisson_nll(*cols)
            if got is not None:
                self._fast_last = (vals, got)
                return got
        return self.general_nll(values)

    def _undecided(self, values: Mapping[str, Any]) -> bool:
        return self._columns(values) is None

    def general_nll(self, values: Mapping[str, Any]) -> float:
        return float(sum(t.cached_nll(values) for t in self.terms))

    def batched_nll(self, values: Mapping[str, Any]) -> float | None:
        cols = self._columns(values)
        if cols is None:
            return None
        if self.kind == "gaussian":
            return self._gauss_nll(*cols)
        return self._poisson_nll(*cols)

    # -- Gaussian: 0.5 z² + log ∫ exp(-z²/2) over the range of x --------------------------------

    def _gauss_nll(self, x: list[float], m: list[float], s: list[float]) -> float | None:
        if not self.vector:
            total = 0.0
            for xi, mi, si, lo, hi in zip(x, m, s, self.lo, self.hi, strict=True):
                if not si > 0.0:
                    return None
                if xi < lo or xi > hi:
                    return math.inf
                z = (xi - mi) / si
                total += 0.5 * z * z + log_gauss_integral_float(mi, si, lo, hi)
            return total
        xa, ma, sa = (np.array(v, dtype=float) for v in (x, m, s))
        if not (sa > 0.0).all():
            return None
        if ((xa < self.lo_a) | (xa > self.hi_a)).any():
            return math.inf
        z = (xa - ma) / sa
        return float(np.sum(0.5 * z * z + log_gauss_integral(ma, sa, self.lo_a, self.hi_a)))

    # -- Poisson (never normalised): λ - x log λ + lnΓ(x+1) ---------------------------------------

    def _poisson_nll(self, x: list[float], lam: list[float]) -> float | None:
        xa, la = np.array(x, dtype=float), np.array(lam, dtype=float)
        if ((xa < self.lo_a) | (xa > self.hi_a)).any():
            return math.inf
        if self.integer:
            xa = np.floor(xa)
        if (xa < 0).any() or not (la >= 0).all():
            return None  # the general path says what happens there
        return float(np.sum(la - special.xlogy(xa, la) + special.gammaln(xa + 1.0)))

    # -- gradient ---------------------------------------------------------------------------------

    def gradient(self, values: Mapping[str, Any], wrt: frozenset[str]) -> dict[str, float] | None:
        """d NLL / d θ of the group for the names in ``wrt``, or None where it does not apply."""
        cols = self._columns(values)
        if cols is None or self.ok is not True:
            return None
        parts: list[Any]
        if self.kind == "gaussian" and not self.vector:
            parts = [[], [], []]
            for xi, mi, si, lo_i, hi_i in zip(*cols, self.lo, self.hi, strict=True):
                if not si > 0.0:
                    return None
                log_int = log_gauss_integral_float(mi, si, lo_i, hi_i) - math.log(si)
                a, b = (lo_i - mi) / si, (hi_i - mi) / si
                pa = math.exp(-0.5 * a * a - log_int) if math.isfinite(a) else 0.0
                pb = math.exp(-0.5 * b * b - log_int) if math.isfinite(b) else 0.0
                apa = a * pa if math.isfinite(a) else 0.0
                bpb = b * pb if math.isfinite(b) else 0.0
                z_s = (xi - mi) / (si * si)
                parts[0].append(z_s)
                parts[1].append(-z_s + (pa - pb) / si)
                parts[2].append(-(xi - mi) * z_s / si + (1.0 + apa - bpb) / si)
        elif self.kind == "gaussian":
            xa, ma, sa = (np.array(v, dtype=float) for v in cols)
            if not (sa > 0.0).all():
                return None
            lo: Any = self.lo_a  # (the partials broadcast over per-term ranges too)
            hi: Any = self.hi_a
            d_m, d_s = gauss_norm_partials(ma, sa, lo, hi)
            z_s = (xa - ma) / (sa * sa)
            parts = [z_s, -z_s + d_m, -(xa - ma) * z_s / sa + d_s]
        else:
            xa, la = (np.array(v, dtype=float) for v in cols)
            if self.integer:
                xa = np.floor(xa)
            if (xa < 0).any() or not (la > 0).all():
                return None
            d_x = np.zeros_like(xa) if self.integer else -(np.log(la) - special.digamma(xa + 1.0))
            parts = [d_x, 1.0 - xa / la]
        out: dict[str, float] = {}
        for refs, d in zip(self.fields, parts, strict=True):
            vals = d if isinstance(d, list) else np.broadcast_to(d, (len(refs),)).tolist()
            for r, v in zip(refs, vals, strict=True):
                if isinstance(r, str) and r in wrt:
                    out[r] = out.get(r, 0.0) + v
        if not all(math.isfinite(v) for v in out.values()):
            return None
        return out


def _plain(ref: Any, model: Model) -> bool:
    """A number, or a parameter (not a function)."""
    if isinstance(ref, float):
        return True
    node = model.graph.nodes.get(ref)
    return node is not None and node.kind == "parameter"


def plan_aux(model: Model, terms: Sequence[Any]) -> list[Any]:
    """The aux terms with those of the same plannable type merged into :class:`AuxGroup` objects (placed where
    the first of them was); every item has ``cached_nll(values)``."""
    groups: dict[tuple[str, bool], list[tuple[int, list[Any]]]] = {}
    fields: list[Any]
    for i, t in enumerate(terms):
        op = model.compiled.distribution(t.dist)
        if type(op) is Gaussian:
            key, fields = ("gaussian", False), [op.x, op.mean, op.sigma]
        elif type(op) is Poisson:
            key, fields = ("poisson", op.integer), [op.x, op.mean]
        else:
            continue
        x = op.x
        # x must be the term's variate (normalised over its range), the rest parameters or numbers
        if not (isinstance(x, str) and x in t.observables and model.graph.leaves(t.dist) - {x} <= set(
                r for r in fields if isinstance(r, str))) or not all(_plain(r, model) for r in fields):
            continue
        groups.setdefault(key, []).append((i, fields))
    first: dict[int, AuxGroup] = {}
    merged: set[int] = set()
    for (kind, integer), members in groups.items():
        idx = [i for i, _ in members]
        by_field = [[f[k] for _, f in members] for k in range(len(members[0][1]))]
        first[idx[0]] = AuxGroup(model, kind, [terms[i] for i in idx], by_field, integer)
        merged.update(idx)
    return placed(terms, first, merged)
