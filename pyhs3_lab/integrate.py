"""Adaptive, vectorised Gauss-Kronrod quadrature (G7/K15) with an error estimate.

Used to normalise distributions that have no closed-form integral. The integrand
is evaluated on whole arrays of nodes at once (never point by point), works in
log space (narrow peaks in wide windows, tiny densities), handles infinite
bounds by a change of variables, and integrates a batch of integrands (one per
parameter combination) together.
"""

from __future__ import annotations

from collections.abc import Callable

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

LogIntegrand = Callable[[Array], Array]
"""Maps nodes of shape (K, 1, ..., 1) to log f of shape (K, *batch)."""


def _transform(lo: float, hi: float) -> tuple[float, float, Callable[[Array], tuple[Array, Array]]]:
    """A finite interval [a, b] and x(t), log|dx/dt| for (possibly) infinite bounds."""
    if np.isfinite(lo) and np.isfinite(hi):
        return lo, hi, lambda t: (t, np.zeros_like(t))
    if np.isfinite(lo):  # [lo, inf): x = lo + t/(1-t), t in [0, 1)
        return 0.0, 1.0, lambda t: (lo + t / (1.0 - t), -2.0 * np.log1p(-t))
    if np.isfinite(hi):  # (-inf, hi]: x = hi - t/(1-t)
        return 0.0, 1.0, lambda t: (hi - t / (1.0 - t), -2.0 * np.log1p(-t))
    # (-inf, inf): x = t / (1 - t^2), t in (-1, 1)
    return -1.0, 1.0, lambda t: (t / (1.0 - t * t), np.log1p(t * t) - 2.0 * np.log1p(-t * t))


def log_integrate(
    log_f: LogIntegrand,
    lo: float,
    hi: float,
    batch_ndim: int = 0,
    *,
    rtol: float = 1e-11,
    max_intervals: int = 4000,
    initial_intervals: int = 16,
) -> Array:
    """log ∫_lo^hi exp(log_f(x)) dx for a batch of integrands, adaptively to ``rtol``.

    ``log_f`` receives nodes of shape ``(K,) + (1,) * batch_ndim``.
    Raises :class:`EvaluationError` if the requested accuracy is not reached.
    """
    if lo == hi:
        return np.asarray(-np.inf)
    if lo > hi:
        raise EvaluationError(f"integration range has lower bound {lo} above upper bound {hi}")
    a, b, tr = _transform(lo, hi)
    edges = np.linspace(a, b, initial_intervals + 1)
    left, right = edges[:-1], edges[1:]
    shift: Array | None = None
    done_sum: Array | None = None  # sums (in units of exp(shift)) of converged intervals
    done_err: Array | None = None
    expand = (slice(None),) + (None,) * batch_ndim

    for _ in range(64):
        mid = 0.5 * (left + right)
        half = 0.5 * (right - left)
        t = (mid[:, None] + half[:, None] * _NODES[None, :]).ravel()
        # open rule: nodes never hit the endpoints, so the transforms stay finite
        x, log_jac = tr(t)
        lf = np.asarray(log_f(x[expand]), dtype=float)
        lf = lf + log_jac[expand]
        batch_shape = lf.shape[1:]
        lf = lf.reshape((len(mid), 15, *batch_shape))
        if shift is None:
            m = np.max(lf, axis=(0, 1))
            shift = np.where(np.isfinite(m), m, 0.0)
            done_sum = np.zeros(batch_shape)
            done_err = np.zeros(batch_shape)
        with np.errstate(over="ignore", invalid="ignore"):
            f = np.exp(lf - shift)
        f = np.where(np.isnan(f), 0.0, f)
        if not np.all(np.isfinite(f)):
            raise EvaluationError("the integrand is not finite inside the integration range")
        hw = half.reshape((len(mid),) + (1,) * len(batch_shape))
        wk = _WEIGHTS_K.reshape((1, 15) + (1,) * len(batch_shape))
        wg = _WEIGHTS_G.reshape((1, 15) + (1,) * len(batch_shape))
        ik = hw * np.sum(f * wk, axis=1)
        ig = hw * np.sum(f * wg, axis=1)
        err = np.abs(ik - ig)
        assert done_sum is not None and done_err is not None
        total = done_sum + ik.sum(axis=0)
        tol = np.maximum(rtol * np.abs(total), 1e-300)
        tol_b = tol[None, ...] if batch_shape else tol
        # an interval is converged if its error is small relative to the total (per batch element)
        per_interval_budget = tol_b / max(len(mid), 1)
        ok = np.all(err <= per_interval_budget, axis=tuple(range(1, err.ndim))) if batch_shape else (
            err <= per_interval_budget)
        done_sum = done_sum + ik[ok].sum(axis=0)
        done_err = done_err + err[ok].sum(axis=0)
        if np.all(ok):
            break
        bad_l, bad_r = left[~ok], right[~ok]
        if 2 * len(bad_l) + len(left) > max_intervals:
            # accept what we have if the overall error estimate is within tolerance
            if np.all(done_err + err[~ok].sum(axis=0) <= tol):
                done_sum = done_sum + ik[~ok].sum(axis=0)
                break
            raise EvaluationError(
                f"numerical integration over [{lo}, {hi}] did not converge (relative error "
                f"{float(np.max((done_err + err[~ok].sum(axis=0)) / np.maximum(np.abs(total), 1e-300))):.2e})")
        bmid = 0.5 * (bad_l + bad_r)
        left = np.concatenate([bad_l, bmid])
        right = np.concatenate([bmid, bad_r])
    else:  # pragma: no cover - 64 bisections of an interval is far beyond double precision
        raise EvaluationError(f"numerical integration over [{lo}, {hi}] did not converge")
    assert shift is not None and done_sum is not None
    with np.errstate(divide="ignore"):
        return np.asarray(np.log(done_sum) + shift)
