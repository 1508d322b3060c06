"""Adaptive, vectorised Gauss-Kronrod quadrature (G7/K15) in log space, with an error estimate.

Used to normalise distributions that have no closed-form integral. The integrand
is evaluated on whole arrays of nodes at once (never point by point), works in
log space (narrow peaks in wide windows, tiny densities), handles infinite
bounds by a change of variables, and integrates a batch of integrands (one per
parameter combination) together.

The algorithm is global adaptive bisection (as QUADPACK's QAG, vectorised): all
intervals are kept with their Kronrod estimate and error; each round bisects
every interval whose error is above its share of the tolerance, until the summed
error is within ``rtol`` of the summed integral for every batch element. Known
special points (peaks, kinks, discontinuities) can be given as ``points``: the
initial grid is then refined geometrically towards each of them, which resolves
features far narrower than the range (a σ = 1e-3 peak in [0, 1000]).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
from numpy.typing import NDArray

from .errors import EvaluationError

Array = NDArray[np.float64]

# Kronrod 15-point nodes (positive half, descending) and weights, with the embedded Gauss 7-point weights.
_XK = np.array([
    0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
    0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
    0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
    0.207784955007898467600689403773245, 0.000000000000000000000000000000000,
])
_WK = np.array([
    0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
    0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
    0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
    0.204432940075298892414161999234649, 0.209482141084727828012999174891714,
])
_WG = np.array([
    0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
    0.381830050505118944950369775488975, 0.417959183673469387755102040816327,
])
_NODES = np.concatenate([-_XK[:-1], _XK[::-1]])  # 15 nodes on [-1, 1], ascending
_WEIGHTS_K = np.concatenate([_WK[:-1], _WK[::-1]])
_WEIGHTS_G = np.zeros(15)
_WEIGHTS_G[1:14:2] = np.concatenate([_WG[:-1], _WG[::-1]])
#: levels of geometric refinement towards each special point (2^-52: double precision)
_POINT_LEVELS = 52
#: at most this many special points are used (a large parameter batch gives one per element)
_MAX_POINTS = 16
_EPS = float(np.finfo(float).eps)
#: at most this many integrand values in one pass (memory: 8 bytes each, several copies)
_MAX_VALUES = 20_000_000

LogIntegrand = Callable[[Array], Array]
"""Maps nodes of shape (K, 1, ..., 1) to log f of shape (K, *batch)."""

Transform = Callable[[Array], tuple[Array, Array]]


def _transform(lo: float, hi: float) -> tuple[float, float, Transform, Callable[[float], float]]:
    """A finite interval [a, b], x(t) with log|dx/dt|, and t(x), for (possibly) infinite bounds."""
    if np.isfinite(lo) and np.isfinite(hi):
        return lo, hi, lambda t: (t, np.zeros_like(t)), lambda x: x
    if np.isfinite(lo):  # [lo, inf): x = lo + t/(1-t), t in [0, 1)
        return 0.0, 1.0, lambda t: (lo + t / (1.0 - t), -2.0 * np.log1p(-t)), lambda x: (x - lo) / (1.0 + x - lo)
    if np.isfinite(hi):  # (-inf, hi]: x = hi - t/(1-t)
        return 0.0, 1.0, lambda t: (hi - t / (1.0 - t), -2.0 * np.log1p(-t)), lambda x: (hi - x) / (1.0 + hi - x)
    # (-inf, inf): x = t / (1 - t^2), t in (-1, 1)
    return (-1.0, 1.0, lambda t: (t / (1.0 - t * t), np.log1p(t * t) - 2.0 * np.log1p(-t * t)),
            lambda x: 2.0 * x / (1.0 + np.sqrt(1.0 + 4.0 * x * x)))


def _cloud(tp: float, a: float, b: float) -> Array:
    """Edges refined geometrically towards ``tp`` (in the transformed variable), inside [a, b]."""
    steps = (b - a) * 2.0 ** -np.arange(1, _POINT_LEVELS + 1)
    return np.concatenate([[tp], np.clip(tp - steps, a, b), np.clip(tp + steps, a, b)])


def _support_edge_errors(left: Array, right: Array, ik: Array, err: Array, ends: Array) -> Array:
    """Raise the error of intervals where f vanishes at every node next to a neighbour where it does not.

    The support of f may end between such an interval's edge and its first node (0.4 % of its width):
    the mass there is up to about f(neighbour's nearest node) x that gap, invisible to both rules.
    """
    order = np.argsort(left, kind="stable")
    lo_s, hi_s = left[order], right[order]
    z = (ik[order] == 0) & np.all(ends[order] == 0, axis=1)
    gap = (0.5 * (hi_s - lo_s) * (1.0 - _XK[0])).reshape((-1,) + (1,) * (ik.ndim - 1))
    bound = np.zeros_like(ik)
    touching = lo_s[1:] == hi_s[:-1]  # interval k+1 starts where k ends
    t = touching.reshape((-1,) + (1,) * (ik.ndim - 1))
    e = ends[order]
    # neighbour on the left: its last node; on the right: its first node
    bound[1:] = np.where(t, e[:-1, 1], 0.0)
    bound[:-1] = np.maximum(bound[:-1], np.where(t, e[1:, 0], 0.0))
    extra = np.where(z, 2.0 * gap * bound, 0.0)
    out = err.copy()
    out[order] = np.maximum(err[order], extra)
    return out


def log_integrate(
    log_f: LogIntegrand,
    lo: float,
    hi: float,
    batch_ndim: int = 0,
    *,
    rtol: float = 1e-11,
    max_intervals: int = 20000,
    initial_intervals: int = 16,
    points: Iterable[float] = (),
    seek_peaks: bool = True,
) -> Array:
    """log ∫_lo^hi exp(log_f(x)) dx for a batch of integrands, adaptively to relative accuracy ``rtol``.

    Parameters
    ----------
    log_f
        The log integrand. It receives nodes of shape ``(K,) + (1,) * batch_ndim`` and returns
        log f of shape ``(K, *batch)``. ``-inf`` is a zero of f; ``nan`` makes the result nan.
    lo, hi
        The range (either may be infinite).
    batch_ndim
        Number of batch dimensions of the integrand's values.
    rtol
        Requested relative accuracy of the integral of every batch element.
    max_intervals
        Limit on the number of subintervals.
    initial_intervals
        Number of equal intervals of the first pass (on the transformed range for infinite bounds).
    points
        Special points of the integrand in [lo, hi] (peaks, kinks, discontinuities); the initial
        intervals are refined geometrically towards each of them.
    seek_peaks
        Before the adaptive passes, look for a narrow peak that the first nodes straddle: refine
        geometrically towards the highest node (when its neighbouring nodes do not resolve it)
        while that raises the largest value seen by more than a factor e (log values stay finite
        far from a Gaussian-like peak, so this homes in on it in a few steps). A feature on which
        the integrand is exactly zero at every first node
        can only be found through ``points``.

    Returns
    -------
    numpy.ndarray
        The log of the integral, of shape ``batch``; ``-inf`` where the integrand is zero.

    Raises
    ------
    EvaluationError
        If the bounds are reversed, the integrand is infinite inside the range, or the requested
        accuracy is not reached within ``max_intervals``.
    """
    if lo > hi:
        raise EvaluationError(f"integration range has lower bound {lo} above upper bound {hi}")
    a, b, tr, to_t = _transform(lo, hi)
    expand = (slice(None),) + (None,) * batch_ndim

    def evaluate(left: Array, right: Array) -> tuple[Array, Array, Array]:
        """log integrand (n, 15, *batch) at the nodes of n intervals, their half widths and the nodes."""
        mid = 0.5 * (left + right)
        half = 0.5 * (right - left)
        t = (mid[:, None] + half[:, None] * _NODES[None, :]).ravel()
        # open rule: nodes never hit the endpoints, so the transforms stay finite
        x, log_jac = tr(t)
        lf = np.asarray(log_f(x[expand]), dtype=float) + log_jac[expand]
        return lf.reshape((len(mid), 15, *lf.shape[1:])), half, t

    def best_node(lf: Array, t: Array) -> tuple[float, float, float]:
        """The highest node (over the batch), its value and the drop to its lower neighbour."""
        flat = np.where(np.isnan(lf), -np.inf, lf).reshape(len(t), -1).max(axis=1)
        i = int(np.argmax(flat))
        neighbours = flat[max(i - 1, 0):i + 2]
        with np.errstate(invalid="ignore"):
            drop = float(flat[i] - np.min(neighbours))
        return float(flat[i]), float(t[i]), drop

    if lo == hi:
        probe = evaluate(np.array([a]), np.array([a]))[0]
        return np.full(probe.shape[2:], -np.inf)

    pieces = [np.linspace(a, b, initial_intervals + 1)]
    inside = sorted({float(p) for p in points if np.isfinite(p) and lo < p < hi})
    if len(inside) <= _MAX_POINTS:
        pieces += [_cloud(float(to_t(p)), a, b) for p in inside]
    edges = np.unique(np.concatenate(pieces))
    first: tuple[Array, Array, Array] | None = None
    if seek_peaks:
        first = lf0, _h, t0 = evaluate(edges[:-1], edges[1:])
        best, t_best, drop = best_node(lf0, t0)
        # a maximum that its neighbouring nodes resolve (less than a factor e apart) is no narrow peak
        for _ in range(12 if drop > 1.0 else 0):
            if not np.isfinite(best):
                break
            cloud = np.unique(_cloud(t_best, a, b))
            lf1, _h, t1 = evaluate(cloud[:-1], cloud[1:])
            value, t_new, _drop = best_node(lf1, t1)
            if not value > best + 1.0:  # no narrow feature left to find
                break
            best, t_best = value, t_new
            pieces.append(_cloud(t_best, a, b))
            first = None  # the grid changed
        edges = np.unique(np.concatenate(pieces))

    left, right = edges[:-1], edges[1:]
    lf, half, _t = first if first is not None else evaluate(left, right)
    batch_shape = lf.shape[2:]
    bdims = (1,) * len(batch_shape)
    wk = _WEIGHTS_K.reshape((1, 15, *bdims))
    wg = _WEIGHTS_G.reshape((1, 15, *bdims))
    nan_mask = np.zeros(batch_shape, dtype=bool)
    shift = np.full(batch_shape, -np.inf)
    # intervals kept from earlier passes, with their Kronrod estimates and errors (in units of exp(shift))
    kept_l = kept_r = np.empty(0)
    ik = err = np.zeros((0, *batch_shape))
    ends = np.zeros((0, 2, *batch_shape))  # f at the first and last node of each interval
    parent: Array | None = None  # estimates of the intervals that were just bisected
    verified = False  # the last pass bisected every interval of a converged set

    for _ in range(200):
        if np.any(lf == np.inf):
            raise EvaluationError(f"the integrand is infinite inside the integration range [{lo}, {hi}]")
        is_nan = np.isnan(lf)
        nan_mask |= np.any(is_nan, axis=(0, 1))
        new_max = np.max(np.where(is_nan, -np.inf, lf), axis=(0, 1))
        if np.any(new_max > shift):
            # rescale what is kept to the new maximum, so that nothing overflows
            grown = np.maximum(shift, new_max)
            with np.errstate(invalid="ignore"):
                factor = np.where(np.isfinite(shift), np.exp(shift - grown), 0.0)
            ik, err, ends = ik * factor, err * factor, ends * factor
            parent = None if parent is None else parent * factor
            shift = grown
        with np.errstate(over="ignore", invalid="ignore"):
            f = np.exp(lf - np.where(np.isfinite(shift), shift, 0.0))
        f = np.where(is_nan, 0.0, f)
        hw = half.reshape((len(half), *bdims))
        new_ik = hw * np.sum(f * wk, axis=1)
        # QUADPACK's error estimate: |K - G| scaled by the variation of f over the interval (resasc),
        # much more cautious than |K - G| alone where f has a kink or a cusp
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_f = np.where(hw > 0, new_ik / (2.0 * hw), 0.0)
        resasc = hw * np.sum(wk * np.abs(f - mean_f[:, None]), axis=1)
        diff = np.abs(new_ik - hw * np.sum(f * wg, axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = resasc * np.minimum(1.0, (200.0 * diff / resasc) ** 1.5)
        new_err = np.where(resasc > 0, np.maximum(scaled, 50.0 * _EPS * new_ik), diff)
        # an interval where f is zero at some nodes and not at others holds an edge of the support
        # (ARGUS at m0, a gamma at mu): the rules cannot see where it is, so its whole estimate is at stake
        zero = lf == -np.inf
        edge = np.any(zero, axis=1) & np.any(~zero & ~is_nan, axis=1)
        new_err = np.where(edge, np.maximum(new_err, new_ik), new_err)
        if parent is not None:
            # a bisected interval whose halves disagree with it is not converged, whatever the halves'
            # own estimates say (a narrow peak that the new nodes miss)
            n_half = len(parent)
            jump = 0.5 * np.abs(parent - new_ik[:n_half] - new_ik[n_half:])
            new_err = np.maximum(new_err, np.concatenate([jump, jump]))
        all_l, all_r = np.concatenate([kept_l, left]), np.concatenate([kept_r, right])
        ik, err = np.concatenate([ik, new_ik]), np.concatenate([err, new_err])
        ends = np.concatenate([ends, f[:, [0, 14]]])
        err = _support_edge_errors(all_l, all_r, ik, err, ends)
        total = ik.sum(axis=0)
        tol = np.maximum(rtol * np.abs(total), 1e-300)
        if np.all(err.sum(axis=0) <= tol):
            if verified or 2 * len(err) > max_intervals:
                break
            # converged by the rules' own estimates: bisect everything once and accept only if the
            # halves agree (catches a kink or cusp hidden between an interval's last node and its end)
            refine = np.ones(len(err), dtype=bool)
            verified = True
        else:
            # bisect every interval whose error exceeds its share of the tolerance (at least the worst)
            share = np.max((err / tol).reshape(len(err), -1), axis=1)
            refine = share > 0.5 / len(err)
            refine[np.argmax(share)] = True
            verified = False
        if len(err) + int(refine.sum()) > max_intervals:
            rel = float(np.max(err.sum(axis=0) / np.maximum(np.abs(total), 1e-300)))
            raise EvaluationError(
                f"numerical integration over [{lo}, {hi}] did not converge (relative error {rel:.2e} "
                f"with {len(err)} intervals)")
        kept_l, kept_r = all_l[~refine], all_r[~refine]
        parent = ik[refine]
        ik, err, ends = ik[~refine], err[~refine], ends[~refine]
        bl, br = all_l[refine], all_r[refine]
        bm = 0.5 * (bl + br)
        left, right = np.concatenate([bl, bm]), np.concatenate([bm, br])
        if len(left) * 15 * max(int(np.prod(batch_shape)), 1) > _MAX_VALUES:
            raise EvaluationError(
                f"numerical integration over [{lo}, {hi}] needs {len(left)} more intervals for each of "
                f"{int(np.prod(batch_shape))} parameter combinations at once; evaluate fewer at a time")
        lf, half, _t = evaluate(left, right)
    else:  # pragma: no cover - bisection beyond double precision
        raise EvaluationError(f"numerical integration over [{lo}, {hi}] did not converge")
    with np.errstate(divide="ignore"):
        out = np.log(total) + np.where(np.isfinite(shift), shift, 0.0)
    out = np.where(nan_mask, np.nan, out)
    return np.asarray(out)


def log_integrate_2d(
    log_f: Callable[[Array, Array], Array],
    bounds1: tuple[float, float],
    bounds2: tuple[float, float],
    *,
    rtol: float = 1e-10,
    points1: Iterable[float] = (),
    points2: Iterable[float] = (),
) -> Array:
    """log ∫∫ exp(log_f(x1, x2)) dx2 dx1 over a rectangle, by nested vectorised quadrature.

    ``log_f(x1, x2)`` receives ``x1`` of shape ``(1, K1)`` and ``x2`` of shape ``(K2, 1)`` and
    returns values broadcastable to ``(K2, K1)``: the inner integrals over ``x2`` for all outer
    nodes ``x1`` of one pass are done together as one batch.
    """
    lo2, hi2 = bounds2
    p2 = tuple(points2)

    def outer(nodes1: Array) -> Array:
        x1 = nodes1.reshape(1, -1)

        def inner(nodes2: Array) -> Array:
            return np.broadcast_to(np.asarray(log_f(x1, nodes2), dtype=float), (nodes2.shape[0], x1.shape[1]))

        return log_integrate(inner, lo2, hi2, batch_ndim=1, rtol=rtol, points=p2)

    return log_integrate(outer, bounds1[0], bounds1[1], rtol=rtol, points=points1)
