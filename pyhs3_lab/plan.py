"""A flat, precompiled evaluation plan for a batch of unbinned channels (a fast path of :mod:`pyhs3_lab.batch`).

At set-up the distribution tree of a :class:`~pyhs3_lab.batch.ChannelBatch` becomes a short list of steps in
topological order: parameters are *slots* (a float, or a column over channels where the channels' parameters
differ), functions and distributions are steps whose inputs are slots, numbers or earlier steps. Data-only
quantities are computed once. A call gathers the parameter values by precomputed names, finds the slots whose
values changed since the last call and reruns only the steps that depend on them (a step in one yield reruns
the mixture, not the shapes). Kernels take part by implementing ``plan(builder)`` (returning one of the
builder's steps, or None); a tree with any other kernel is not planned and keeps the general path.

Mixtures are summed in linear space (what RooAddPdf does): each summand gives ``e = exp(ld - max ld)`` over
the data (at most 1, so no overflow) and the log of its scale ``g = max ld - log ∫ f``; the sum
``s = Σ c_i exp(g_i) e_i`` is used only where it is far above the underflow threshold at every entry
(otherwise, and wherever a value is not finite, the call returns None and the general batched path answers).
The extended term of an extended mixture with one coefficient per summand cancels its ``N log Σc`` exactly:
``NLL = Σ_channels Σc - Σ w log s``.

The reverse pass (:meth:`ChannelPlan.gradient`) differentiates the same steps: the analytic gradient of the
batch for fits. Every plan (value and gradient) is checked at its first use by its owner (``batch.py``,
``gradient.py``) against the batched tree, itself checked against the general path, and turned off for good
on disagreement or error. The plan keeps state between calls (slot values, step values), behind a lock:
threads may share one likelihood.
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from .ops.base import Array, DistributionOp, FunctionOp
from .ops.univariate import log_gauss_integral, log_gauss_integral_float

if TYPE_CHECKING:
    from .expr import Expression
    from .model import Model

__all__ = ["ChannelPlan", "PlanBuilder", "build_plan"]

_FLOAT = frozenset((float,))
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: a mixture's linear sum is used where it exceeds this fraction of Σ|c_i exp(g_i)| at every entry
_UNDERFLOW = 1e-290


def gatherer(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A function returning the tuple of the values of ``names`` (in that order) from a mapping, in one C call."""
    if not names:
        return lambda values: ()
    getter = operator.itemgetter(*names)
    if len(names) == 1:
        return lambda values: (getter(values),)
    return getter


class Unplannable(Exception):
    """A node of the tree that has no plan (the batch keeps the general path)."""


# --------------------------------------------------------------------------------------
# handles: what a step reads (a number, a slot, or an earlier step)


class Handle:
    #: the slots this value depends on (transitively)
    slots: frozenset[int] = frozenset()

    def get(self) -> Any:
        raise NotImplementedError  # every subclass implements it


class Const(Handle):
    def __init__(self, value: float) -> None:
        self.value = value

    def get(self) -> Any:
        return self.value


class Slot(Handle):
    def __init__(self, plan: ChannelPlan, index: int) -> None:
        self.plan = plan
        self.index = index
        self.slots = frozenset((index,))

    def get(self) -> Any:
        return self.plan.sv[self.index]


class Step(Handle):
    """A computed value; ``run`` recomputes it from its inputs, ``backward`` adds adjoints to them."""

    value: Any = None
    inputs: tuple[Handle, ...] = ()

    def _set_slots(self) -> None:
        s: frozenset[int] = frozenset()
        for h in self.inputs:
            s = s | h.slots
        self.slots = s

    def get(self) -> Any:
        return self.value

    def run(self) -> bool:
        """Recompute; False where the plan does not apply to these values."""
        raise NotImplementedError  # every subclass implements it


def _red(a: Any, like: Any) -> Any:
    """``a`` summed down to the shape of ``like`` (a float, or a column over channels)."""
    if type(a) is float:
        return a
    if type(like) is float:
        return float(a.sum()) if isinstance(a, np.ndarray) else float(a)
    if isinstance(a, np.ndarray) and a.ndim == 2 and a.shape[1] != 1:
        return a.sum(axis=1, keepdims=True)
    return a


def _rows(a: Array) -> Any:
    """Σ over the entries of each channel: a float for one channel, else a column."""
    if a.shape[0] == 1:
        return float(a.sum())
    return a.sum(axis=1, keepdims=True)


class _Adjoints:
    """Adjoints of the handles in a reverse pass, keyed by the handle."""

    def __init__(self) -> None:
        self.by: dict[int, Any] = {}

    def add(self, h: Handle, v: Any) -> None:
        if isinstance(h, Const):
            return
        v = _red(v, h.get())
        old = self.by.get(id(h))
        self.by[id(h)] = v if old is None else old + v


# --------------------------------------------------------------------------------------
# function steps


class ProductStep(Step):
    def __init__(self, inputs: Sequence[Handle]) -> None:
        self.inputs = tuple(inputs)
        self._set_slots()

    def run(self) -> bool:
        v: Any = 1.0
        for h in self.inputs:
            v = v * h.get()
        self.value = v
        return True

    def backward(self, adj: Any, acc: _Adjoints) -> None:
        vals = [h.get() for h in self.inputs]
        for i, h in enumerate(self.inputs):
            other: Any = 1.0
            for j, v in enumerate(vals):
                if j != i:
                    other = other * v
            acc.add(h, adj * other)


FloatEval = Callable[[Callable[[str], Any]], float]


def _float_compile(node: Any) -> FloatEval | None:
    """An evaluator of an expression tree of + - * / on Python floats (the same IEEE operations as numpy's
    on float64 scalars, without a ufunc dispatch each), or None for anything else."""
    from .expr import Binary, Number, Unary, Variable

    if isinstance(node, Number):
        value = float(node.value)
        return lambda resolve: value
    if isinstance(node, Variable):
        name = node.name
        return lambda resolve: resolve(name)
    if isinstance(node, Unary) and node.op in ("-", "+"):
        inner = _float_compile(node.operand)
        if inner is None:
            return None
        if node.op == "+":
            return inner
        return lambda resolve: -inner(resolve)
    if isinstance(node, Binary) and node.op in ("+", "-", "*", "/"):
        a, b = _float_compile(node.left), _float_compile(node.right)
        if a is None or b is None:
            return None
        fn: Callable[[float, float], float] = _FLOAT_OPS[node.op]
        return lambda resolve: fn(a(resolve), b(resolve))
    return None


_FLOAT_OPS: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}


class ExpressionStep(Step):
    def __init__(self, expr: Expression, symbols: Mapping[str, Handle]) -> None:
        from .expr import _fold

        self.expr = expr
        self.names = sorted(symbols)
        self.inputs = tuple(symbols[n] for n in self.names)
        self.by_name = dict(symbols)
        self._set_slots()
        #: the same (constant-folded) tree on floats, for inputs that are all floats (one channel)
        self._float = _float_compile(_fold(expr.tree))

    def _resolve(self, name: str) -> Any:
        return self.by_name[name].get()

    def run(self) -> bool:
        fast = self._float
        if fast is not None and all(type(h.get()) is float for h in self.inputs):
            try:
                self.value = fast(self._resolve)
                return True
            except ArithmeticError:  # (x / 0: numpy's inf or nan below)
                pass
        v = self.expr.evaluate(self._resolve)
        self.value = float(v) if np.ndim(v) == 0 else np.asarray(v, dtype=float)
        return True

    def backward(self, adj: Any, acc: _Adjoints) -> None:
        for n, h in zip(self.names, self.inputs, strict=True):
            if not h.slots:
                continue
            acc.add(h, adj * self.expr.derivative(n).evaluate(self._resolve))


# --------------------------------------------------------------------------------------
# distribution steps over the data: e = exp(ld - max ld) and g = max ld - log ∫ f


class DensityStep(Step):
    e: Any = None
    g: Any = None
    ln: Any = None
    #: a lower bound of e over the data range (a float), or None (columns)
    emin: float | None = None

    def backward_density(self, f: Any, u: Array, s_sum: Any, acc: _Adjoints) -> None:
        """Add ``f · (Σ_e u_e ∂ld_e/∂θ - S ∂ln/∂θ)`` to the adjoints of the inputs θ (``S = Σ_e u_e``)."""
        raise NotImplementedError  # every subclass implements it


def _gauss_ln_partials(m: Any, s: Any, lo: float, hi: float, ln: Any) -> tuple[Any, Any]:
    """∂/∂m and ∂/∂s of ``ln = log ∫_lo^hi exp(-(x-m)²/2s²) dx`` (finite range; floats or columns):
    (φ(a) - φ(b)) / I / s and (1 + a φ(a) - b φ(b)) / I / s with φ unnormalised, I = ∫_a^b exp(-t²/2) dt."""
    if type(m) is float and type(s) is float and type(ln) is float:
        a, b = (lo - m) / s, (hi - m) / s
        log_int = ln - math.log(s)
        pa, pb = math.exp(-0.5 * a * a - log_int), math.exp(-0.5 * b * b - log_int)
        return (pa - pb) / s, (1.0 + a * pa - b * pb) / s
    a_, b_ = (lo - m) / s, (hi - m) / s
    log_int_a = ln - np.log(s)
    pa_, pb_ = np.exp(-0.5 * a_ * a_ - log_int_a), np.exp(-0.5 * b_ * b_ - log_int_a)
    return (pa_ - pb_) / s, (1.0 + a_ * pa_ - b_ * pb_) / s


class GaussianStep(DensityStep):
    def __init__(self, data: Array, lo: float, hi: float, mean: Handle, sigma: Handle) -> None:
        self.x = data
        self.lo, self.hi = lo, hi
        self.inputs = (mean, sigma)
        self.mean, self.sigma = mean, sigma
        self._set_slots()

    _m: Any = None

    def _mean_parts(self, m: Any) -> tuple[Array, Array, Any, Any, bool]:
        """x - m, (x - m)², hi - m, lo - m and whether every mean is in the range, kept while the mean is
        the same object (a step in the width only)."""
        if m is not self._m:
            d = self.x - m
            if type(m) is float:
                inside = self.lo <= m <= self.hi
            else:
                inside = float(m.min()) >= self.lo and float(m.max()) <= self.hi
            self._mp = (d, d * d, self.hi - m, self.lo - m, inside)
            self._m = m
        return self._mp

    def run(self) -> bool:
        m, s = self.mean.get(), self.sigma.get()
        lo, hi = self.lo, self.hi
        if type(m) is not float:
            m = np.asarray(m, dtype=float)
        d, d2, hi_m, lo_m, inside = self._mean_parts(m)
        q: Any
        near: Any
        ldmax: Any
        if type(m) is float and type(s) is float:
            if not s > 0.0:
                return False
            q = 1.0 / (s * s)
            near = 0.0 if lo <= m <= hi else min((lo - m) ** 2, (hi - m) ** 2)
            ldmax = -0.5 * near * q
            ln = log_gauss_integral_float(m, s, lo, hi)
            self.e = np.exp(d2 * (-0.5 * q) - ldmax) if ldmax else np.exp(d2 * (-0.5 * q))
            self.g = ldmax - ln
            self.ln = ln
            self.emin = math.exp(-0.5 * max((lo - m) ** 2, (hi - m) ** 2) * q - ldmax)
        else:
            self.emin = None
            m_a, s_a = np.asarray(m, dtype=float), np.asarray(s, dtype=float)
            if not float(s_a.min()) > 0.0:
                return False
            q = 1.0 / (s_a * s_a)
            if inside:
                # every mean inside the range: max ld = 0, and Φ(b) - Φ(a) (a <= 0 <= b) does not cancel
                self.e = np.exp(d2 * (-0.5 * q))
                self.ln = np.log(special.ndtr(hi_m / s_a) - special.ndtr(lo_m / s_a)) + (
                    np.log(s_a) + _LOG_SQRT_2PI)
                self.g = -self.ln
            else:
                near = np.where((m_a >= lo) & (m_a <= hi), 0.0, np.minimum((lo - m_a) ** 2, (hi - m_a) ** 2))
                ldmax = -0.5 * near * q
                self.e = np.exp(d2 * (-0.5 * q) - ldmax)
                self.ln = log_gauss_integral(m_a, s_a, lo, hi)
                self.g = ldmax - self.ln
        self.d, self.q, self.s = d, q, s
        self.value = self.e
        return True

    def backward_density(self, f: Any, u: Array, s_sum: Any, acc: _Adjoints) -> None:
        d, q, s = self.d, self.q, self.s
        ud = u * d
        a = _rows(ud)
        b = _rows(ud * d)
        dm, ds = _gauss_ln_partials(self.mean.get(), s, self.lo, self.hi, self.ln)
        if self.mean.slots:
            acc.add(self.mean, f * (a * q - s_sum * dm))
        if self.sigma.slots:
            acc.add(self.sigma, f * (b * q / s - s_sum * ds))


def _exp_log_norm(c: Any, lo: float, hi: float) -> Any:
    """log ∫_lo^hi exp(-c x) dx (both finite) by the kernel's formulas."""
    w = hi - lo
    if type(c) is float:
        if c == 0.0:
            return math.log(w)
        ac = abs(c)
        edge = -c * lo if c > 0 else -c * hi
        m = -math.expm1(-ac * w)
        return edge + math.log(m) - math.log(ac) if m > 0 else math.nan
    ac = np.abs(c)
    edge = np.where(c > 0, -c * lo, -c * hi)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = edge + np.log(-np.expm1(-ac * w)) - np.log(ac)
    return np.where(c == 0, math.log(w), out)


def _exp_ln_partial(c: Any, lo: float, hi: float) -> Any:
    """∂/∂c of log ∫_lo^hi exp(-c x) dx (finite range), the kernel's formulas (a series for small |c w|)."""
    if type(c) is float:
        w = hi - lo
        cw = c * w
        if abs(cw) < 1e-3:
            return -0.5 * (lo + hi) + cw * w / 12.0
        if c > 0:
            return -lo + w / math.expm1(cw) - 1.0 / c
        return -hi - w / math.expm1(-cw) - 1.0 / c
    from .ops.univariate import exp_norm_partial

    return exp_norm_partial(c, lo, hi)


class ExponentialStep(DensityStep):
    def __init__(self, data: Array, lo: float, hi: float, c: Handle) -> None:
        self.x = data
        self.lo, self.hi = lo, hi
        self.dlo = data - lo
        self.dhi = data - hi
        self.c = c
        self.inputs = (c,)
        self._set_slots()

    def run(self) -> bool:
        c: Any = self.c.get()
        lo, hi = self.lo, self.hi
        ldmax: Any
        if type(c) is float:
            if not math.isfinite(c):
                return False
            ldmax = -c * lo if c > 0 else -c * hi
            self.e = np.exp(self.dlo * (-c)) if c > 0 else np.exp(self.dhi * (-c))
            self.g = ldmax - _exp_log_norm(c, lo, hi)
            self.emin = math.exp(-abs(c) * (hi - lo))
        else:
            self.emin = None
            cmin = float(c.min())
            cmax = cmin if cmin > 0.0 else float(c.max())  # (one reduction in the usual case)
            if not (math.isfinite(cmin) and math.isfinite(cmax)):
                return False
            neg_c = -c
            if cmin > 0.0 or cmax < 0.0:
                # one sign: max ld at one edge, and g = log(|c| / (1 - exp(-|c| w))) (the edge term cancels)
                self.e = np.exp((self.dlo if cmin > 0.0 else self.dhi) * neg_c)
                ac = c if cmin > 0.0 else neg_c
                self.g = np.log(ac / -np.expm1(-(hi - lo) * ac))
            else:
                ldmax = np.where(c > 0, -c * lo, -c * hi)
                self.e = np.exp((self.x - np.where(c > 0, lo, hi)) * neg_c)
                self.g = ldmax - _exp_log_norm(c, lo, hi)
        self.value = self.e
        return True

    def backward_density(self, f: Any, u: Array, s_sum: Any, acc: _Adjoints) -> None:
        if not self.c.slots:
            return
        c = self.c.get()
        ux = _rows(u * self.x)
        acc.add(self.c, f * (-ux - s_sum * _exp_ln_partial(c, self.lo, self.hi)))


# --------------------------------------------------------------------------------------
# the top: a mixture (or one summand) and the NLL


class MixtureTop:
    """NLL of the batch: ``-Σ w log Σ_i c_i f_i / C`` plus the extended term (see the module docstring)."""

    def __init__(self, summands: Sequence[DensityStep], coefs: Sequence[Handle], fractions: bool,
                 extended: bool, weights: Array | None, n_events: Array) -> None:
        self.summands = list(summands)
        self.coefs = list(coefs)
        self.fractions = fractions
        self.extended = extended and not fractions
        self.weights = weights
        self.n_events = n_events  # (n, 1)
        self.n_list = [float(v) for v in n_events.ravel()]
        n = len(self.summands)
        self._keys: list[tuple[Any, Any, Any] | None] = [None] * n
        self._terms: list[tuple[Any, float, float, float, float | None]] = [(None, 0.0, 0.0, 0.0, None)] * n
        self._eg_keys: list[Any] = [None] * n
        self._egs: list[Any] = [None] * n

    def _weights(self) -> list[Any]:
        cs = [h.get() for h in self.coefs]
        if self.fractions:
            last: Any = 1.0
            for c in cs:
                last = last - c
            cs.append(last)
        return cs

    def _term(self, i: int, c: Any, st: DensityStep) -> tuple[Any, float, float, float, float | None]:
        """(c_i exp(g_i) e_i, max |c_i exp(g_i)|, Σ_channels c_i, min_channels c_i, a lower bound of
        c_i exp(g_i) e_i or None) of summand i, kept while its coefficient and its step's values are the same
        objects (a step in another parameter)."""
        key = self._keys[i]
        if key is not None and key[0] is c and key[1] is st.e and key[2] is st.g:
            return self._terms[i]
        g = st.g
        if type(c) is float:
            csum, cmin = c * len(self.n_list), c
        elif c.shape == self.n_events.shape:
            csum, cmin = float(c.sum()), float(c.min())
        else:
            cb = np.broadcast_to(c, self.n_events.shape)
            csum, cmin = float(cb.sum()), float(cb.min())
        if type(c) is float and type(g) is float:
            a: Any = c * math.exp(g)
            amax = abs(a)
        else:
            eg_key = self._eg_keys[i]
            if eg_key is g:  # the same g (a step in the coefficient only): exp(g) kept
                eg = self._egs[i]
            else:
                eg = math.exp(g) if type(g) is float else np.exp(g)
                self._eg_keys[i], self._egs[i] = g, eg
            a = c * eg
            amax = float(a.max()) if cmin >= 0.0 else float(np.abs(a).max())  # (c >= 0: a >= 0)
        emin = st.emin
        low = a * emin if emin is not None and type(a) is float and a >= 0.0 else None
        out = (st.e * a, amax, csum, cmin, low)
        self._keys[i] = (c, st.e, g)
        self._terms[i] = out
        return out

    def nll(self) -> float | None:
        cs = self._weights()
        s: Any = None
        amax = csum = cmin = 0.0
        low: float | None = 0.0
        for i, (c, st) in enumerate(zip(cs, self.summands, strict=True)):
            ea, am, c_s, c_m, lo_i = self._term(i, c, st)
            s = ea if s is None else s + ea
            amax += am
            csum += c_s
            cmin += c_m
            low = None if low is None or lo_i is None else low + lo_i
        # the linear sum is exact where no entry is near the underflow threshold (and none is negative):
        # known from the summands' analytic lower bounds where they have them, else from the data
        if not ((low is not None and low > amax * _UNDERFLOW) or float(s.min()) > amax * _UNDERFLOW):
            return None
        logs = np.log(s)
        self.s, self.cs = s, cs
        total = -float(logs.sum()) if self.weights is None else -float(np.vdot(self.weights, logs))
        if self.fractions:
            return total
        if self.extended and cmin > 0.0:  # every channel's Σc is positive: ν - N log ν + N log Σc = Σc
            return total + csum
        ctot = sum(cs[1:], cs[0])
        if type(ctot) is float:
            if not ctot > 0.0:
                return None
            if self.extended:
                return total + ctot * len(self.n_list)
            return total + sum(self.n_list) * math.log(ctot)
        if not float(ctot.min()) > 0.0:
            return None
        if self.extended:
            return total + csum
        return total + float((self.n_events * np.log(ctot)).sum())

    def backward(self, acc: _Adjoints) -> None:
        """Adjoints of the coefficients and summands' inputs (after :meth:`nll` at the same values)."""
        s, cs = self.s, self.cs
        r = (1.0 / s) if self.weights is None else self.weights / s
        n_sh = self.n_events
        ctot = sum(cs[1:], cs[0])
        ss: list[Any] = []
        for c, st in zip(cs, self.summands, strict=True):
            u = r * st.e
            s_sum = _rows(u)
            ss.append(s_sum)
            eg = np.exp(st.g)
            st.backward_density(-(c * eg), u, s_sum, acc)
        egs = [np.exp(st.g) for st in self.summands]
        if self.fractions:
            last = -egs[-1] * ss[-1]
            for h, eg, s_sum in zip(self.coefs, egs, ss, strict=False):
                acc.add(h, -eg * s_sum - last)
            return
        for h, eg, s_sum in zip(self.coefs, egs, ss, strict=True):
            direct = -eg * s_sum
            extra = 1.0 if self.extended else n_sh / ctot
            acc.add(h, direct + extra)


class ChannelPlan:
    """The plan of a :class:`~pyhs3_lab.batch.ChannelBatch` (build it with :func:`build_plan`)."""

    def __init__(self, names: Sequence[str], slot_names: Sequence[tuple[list[str], bool]]) -> None:
        self.names = list(names)
        index = {n: i for i, n in enumerate(self.names)}
        self.n_slots = len(slot_names)
        self.sv: list[Any] = [None] * self.n_slots
        self.slot_src: list[tuple[bool, Any]] = []
        slots_of: list[list[int]] = [[] for _ in self.names]
        for k, (names_k, differ) in enumerate(slot_names):
            if differ:  # a column over channels, (n, 1)
                self.slot_src.append((True, np.array([index[n] for n in names_k], dtype=np.intp).reshape(-1, 1)))
            else:
                self.slot_src.append((False, index[names_k[0]]))
            for n in set(names_k):
                slots_of[index[n]].append(k)
        self.slots_of = [tuple(v) for v in slots_of]
        self.slot_names = [list(n) for n, _ in slot_names]
        self.slot_differ = [d for _, d in slot_names]
        self.steps: list[Step] = []
        self.top: MixtureTop | None = None
        self._last: tuple[Any, ...] | None = None
        self._last_x: Array | None = None
        self._all_slots = set(range(self.n_slots))
        self._columns = any(differ for _, differ in slot_names)
        self._lock = threading.Lock()
        self._scatters: dict[frozenset[str], list[tuple[Slot, bool, int, list[tuple[int, str]]]]] = {}
        self._gather = gatherer(self.names)
        self._last_total: float | None = None
        self._valid = False
        self._slot_handles = [Slot(self, k) for k in range(self.n_slots)]

    def _load(self, values: Mapping[str, Any]) -> bool | None:
        """Gather the values and rerun the steps they change; None: not floats (the plan does not
        apply), False: a step does not apply to these values, True: ready."""
        vals = self._gather(values)
        slots_of = self.slots_of
        sv = self.sv
        src = self.slot_src
        dirty: set[int]
        if self._columns:
            try:  # (an array among the values does not convert: the general path broadcasts it)
                x = np.array(vals, dtype=float)
            except (TypeError, ValueError):
                return None
            last_x = self._last_x
            if last_x is None or not self._valid:
                dirty = self._all_slots
            else:
                changed = (x != last_x).nonzero()[0].tolist()
                if not changed:
                    return True
                dirty = set(slots_of[changed[0]]) if len(changed) == 1 else set().union(
                    *[slots_of[i] for i in changed])
            self._last_x = x
            xl = x.tolist()
            for k in dirty:
                differ, where = src[k]
                sv[k] = x[where] if differ else xl[where]
        else:  # floats only (one channel): a few names, compared in Python
            if not set(map(type, vals)) <= _FLOAT:
                return None  # (arrays of values: the general path broadcasts them)
            last = self._last
            if last is not None and vals == last:
                return self._valid
            if last is None or not self._valid:
                dirty = self._all_slots
            else:
                dirty = set()
                for i, (a, b) in enumerate(zip(vals, last, strict=True)):
                    if a != b:
                        dirty.update(slots_of[i])
            for k in dirty:
                sv[k] = vals[src[k][1]]
            self._last = vals
        self._last_total = None
        ok = True
        valid = self._valid
        for st in self.steps:
            if (not valid or not st.slots.isdisjoint(dirty)) and not st.run():
                ok = False
                break
        if not ok:
            self._last = None  # rerun everything next time
            self._last_x = None
        self._valid = ok
        return ok

    def nll(self, values: Mapping[str, Any]) -> float | None:
        """The batch's NLL, or None where the plan does not apply to these values."""
        with self._lock:  # the plan's state is shared by the threads that evaluate one likelihood
            return self._nll(values)

    def _nll(self, values: Mapping[str, Any]) -> float | None:
        got = self._load(values)
        if not got:
            return None
        if self._last_total is not None:
            return self._last_total
        assert self.top is not None
        total = self.top.nll()
        if total is None or not math.isfinite(total):
            return None
        self._last_total = total
        return total

    def gradient(self, values: Mapping[str, Any], wrt: frozenset[str]) -> dict[str, float] | None:
        """d NLL / d θ for the names in ``wrt`` (others omitted), or None where the plan does not apply."""
        with self._lock:
            return self._gradient(values, wrt)

    def _gradient(self, values: Mapping[str, Any], wrt: frozenset[str]) -> dict[str, float] | None:
        if self._nll(values) is None:
            return None
        assert self.top is not None
        acc = _Adjoints()
        self.top.backward(acc)
        for st in reversed(self.steps):
            adj = acc.by.get(id(st))
            if adj is None or isinstance(st, DensityStep):
                continue
            st.backward(adj, acc)  # type: ignore[attr-defined]
        out: dict[str, float] = {}
        for h, differ, width, targets in self._scatter(wrt):
            adj = acc.by.get(id(h))
            if adj is None:
                continue
            if differ:
                arr = np.asarray(adj, dtype=float)
                col = arr.ravel().tolist() if arr.size == width else np.broadcast_to(
                    arr.reshape(-1), (width,)).tolist()
                for j, n in targets:
                    out[n] = out.get(n, 0.0) + col[j]
            else:
                n = targets[0][1]
                out[n] = out.get(n, 0.0) + (adj if type(adj) is float else float(np.sum(adj)))
        if not all(map(math.isfinite, out.values())):
            return None
        return out

    def _scatter(self, wrt: frozenset[str]) -> list[tuple[Slot, bool, int, list[tuple[int, str]]]]:
        """Per slot with a name in ``wrt``: (handle, whether a column, its width, [(row, name)])."""
        got = self._scatters.get(wrt)
        if got is None:
            got = []
            for k in range(self.n_slots):
                names = self.slot_names[k]
                targets = [(j, n) for j, n in enumerate(names) if n in wrt]
                if targets:
                    got.append((self._slot_handles[k], self.slot_differ[k], len(names),
                                targets if self.slot_differ[k] else targets[:1]))
            self._scatters[wrt] = got
        return got


# --------------------------------------------------------------------------------------
# building


class PlanBuilder:
    """What a kernel's ``plan(builder)`` uses: handles of its references and the steps it may return."""

    def __init__(self, model: Model, plan: ChannelPlan, slot_index: Mapping[str, int], obs: str, data: Array,
                 bounds: tuple[float, float]) -> None:
        self.model = model
        self.plan = plan
        self.slot_index = slot_index
        self.obs = obs
        self.data = data
        self.lo, self.hi = bounds
        self.handles: dict[str, Handle] = {}

    # -- inputs ------------------------------------------------------------------------

    def ref(self, ref: Any) -> Handle:
        """The handle of a parameter, function or number that does not depend on the observable."""
        if isinstance(ref, float):
            return Const(ref)
        got = self.handles.get(ref)
        if got is not None:
            return got
        graph = self.model.graph
        if ref == self.obs or self.obs in graph.leaves(ref):
            raise Unplannable(ref)
        node = graph.nodes.get(ref)
        if node is None:
            raise Unplannable(ref)
        h: Handle
        if node.kind == "parameter":
            k = self.slot_index.get(ref)
            if k is None:
                raise Unplannable(ref)
            h = self.plan._slot_handles[k]
        elif node.kind == "function":
            op = self.model.compiled.op(ref)
            planner: Callable[[PlanBuilder], Step | None] | None = getattr(op, "plan", None)
            st = planner(self) if isinstance(op, FunctionOp) and planner is not None else None
            if st is None:
                raise Unplannable(ref)
            self.plan.steps.append(st)
            h = st
        else:
            raise Unplannable(ref)
        self.handles[ref] = h
        return h

    def is_obs(self, ref: Any) -> bool:
        return isinstance(ref, str) and ref == self.obs

    def density(self, dist: str) -> DensityStep:
        op = self.model.compiled.distribution(dist)
        planner: Callable[[PlanBuilder], Any] | None = getattr(op, "plan", None)
        st = planner(self) if planner is not None else None
        if not isinstance(st, DensityStep):
            raise Unplannable(dist)
        self.plan.steps.append(st)
        return st

    # -- steps the kernels return ------------------------------------------------------

    def product(self, factors: Sequence[Any]) -> Step:
        return ProductStep([self.ref(f) for f in factors])

    def expression(self, expr: Expression) -> Step:
        return ExpressionStep(expr, {n: self.ref(n) for n in expr.symbols})

    def gaussian(self, x: Any, mean: Any, sigma: Any) -> Step:
        if not self.is_obs(x) or not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise Unplannable("gaussian variate or range")
        return GaussianStep(self.data, self.lo, self.hi, self.ref(mean), self.ref(sigma))

    def exponential(self, x: Any, c: Any) -> Step:
        if not self.is_obs(x) or not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise Unplannable("exponential variate or range")
        return ExponentialStep(self.data, self.lo, self.hi, self.ref(c))


def build_plan(batch: Any) -> ChannelPlan | None:
    """The plan of a ChannelBatch, or None if a kernel of its tree has none."""
    from .ops.composite import Mixture

    model = batch.model
    if not batch._inside:
        return None
    slot_pairs = [(list(names), differ) for _, names, differ in batch.slots]
    plan = ChannelPlan(batch.deps, slot_pairs)
    slot_index = {name: k for k, (name, _, _) in enumerate(batch.slots)}
    lo, hi = model.bounds.get(batch.obs, (-math.inf, math.inf))
    pb = PlanBuilder(model, plan, slot_index, batch.obs, batch.data, (lo, hi))
    op: DistributionOp = model.compiled.distribution(batch.dist)
    try:
        if isinstance(op, Mixture):
            if op.from_summands:
                return None
            summands = [pb.density(s) for s in op.summands]
            coefs = [pb.ref(c) for c in op.coefficients]
            fractions, extended = op.fractions, op.extended
        else:
            summands = [pb.density(batch.dist)]
            coefs = [Const(1.0)]
            fractions, extended = False, False
            if type(op).expected_events is not DistributionOp.expected_events:
                return None  # an extended pdf of its own (its ν is not planned)
    except Unplannable:
        return None
    plan.top = MixtureTop(summands, coefs, fractions, extended, batch.weights, batch.n_events)
    return plan
