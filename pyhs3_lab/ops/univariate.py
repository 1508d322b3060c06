"""Fundamental univariate distributions, with analytic normalisation over [min, max]."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from scipy import special

from ..registry import Kind, register, req
from .base import Array, BuildContext, DistributionOp

if TYPE_CHECKING:
    from ..evaluate import Evaluator

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def log_gauss_integral(mean: Array, sigma: Array, lo: float, hi: float) -> Array:
    """log ∫_lo^hi exp(-(x-mean)^2 / (2 sigma^2)) dx, accurate in the tails."""
    a = (lo - mean) / sigma
    b = (hi - mean) / sigma
    # log(Φ(b) - Φ(a)) computed on the side of the distribution where it does not cancel
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    flip = a > 0  # both in the upper tail: use symmetry
    lo_, hi_ = np.where(flip, -b, a), np.where(flip, -a, b)
    log_hi = special.log_ndtr(hi_)
    log_lo = special.log_ndtr(lo_)
    with np.errstate(divide="ignore"):
        diff = log_hi + np.log1p(-np.exp(np.minimum(log_lo - log_hi, 0.0)))
    return np.asarray(diff + _LOG_SQRT_2PI + np.log(sigma))


@register("gaussian_dist", "distribution",
          {"x": req(Kind.REF), "mean": req(Kind.REF), "sigma": req(Kind.REF)},
          aliases=("normal_dist",), variates=("x",))
class Gaussian(DistributionOp):
    """Gaussian (normal) distribution, truncated to the observable's range."""

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.x = ctx.ref("x")
        self.mean = ctx.ref("mean")
        self.sigma = ctx.ref("sigma")

    def log_density(self, ev: Evaluator) -> Array:
        x, mu, s = ev.value(self.x), ev.value(self.mean), ev.value(self.sigma)
        z = (np.asarray(x) - mu) / s
        return np.asarray(-0.5 * z * z)

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        if observables != (self.x,):
            return None
        lo, hi = ev.bounds(self.x)
        return log_gauss_integral(np.asarray(ev.value(self.mean)), np.asarray(ev.value(self.sigma)), lo, hi)
