"""Fundamental multivariate distributions: the multivariate normal and the Barlow-Beeston-lite constraint.

Their variate fields are lists (``x``), whose entries may be names or numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from ..errors import EvaluationError
from ..registry import Kind, opt, register, req
from ..spec import Ref, as_number
from .base import Array, BuildContext, DistributionOp

if TYPE_CHECKING:
    from ..evaluate import Evaluator


def _mvn_check(raw: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    problems: list[tuple[str | None, str]] = []
    x, mean = raw.get("x"), raw.get("mean")
    if not isinstance(x, list) or not isinstance(mean, list):
        return problems  # reported as field errors
    k = len(x)
    if k == 0:
        problems.append(("x", "x is empty; expected at least one variable"))
    if len(mean) != k:
        problems.append(("mean", f"mean has {len(mean)} entries for {k} variables in x"))
    has_cov = "covariances" in raw
    has_corr = "correlations" in raw or "standard_deviations" in raw
    if has_cov and has_corr:
        problems.append((None, "give either covariances or correlations + standard_deviations, not both"))
    elif not has_cov and not ("correlations" in raw and "standard_deviations" in raw):
        problems.append((None, "needs covariances, or correlations together with standard_deviations"))
    for key in ("covariances", "correlations"):
        mat = raw.get(key)
        if isinstance(mat, list) and (len(mat) != k or any(not isinstance(r, list) or len(r) != k for r in mat)):
            problems.append((key, f"{key} must be a {k}x{k} matrix (one row of {k} entries per variable)"))
    sd = raw.get("standard_deviations")
    if isinstance(sd, list) and len(sd) != k:
        problems.append(("standard_deviations", f"standard_deviations has {len(sd)} entries for {k} variables"))
    return problems


@register("multivariate_normal_dist", "distribution",
          {"x": req(Kind.REF_LIST), "mean": req(Kind.REF_LIST), "covariances": opt(Kind.REF_MATRIX),
           "correlations": opt(Kind.REF_MATRIX), "standard_deviations": opt(Kind.REF_LIST)},
          aliases=("multinormal_dist",), variates=("x",), checks=(_mvn_check,))
class MultivariateNormal(DistributionOp):
    """Multivariate normal exp(-½ (x-μ)ᵀ Σ⁻¹ (x-μ)).

    Σ is given as ``covariances`` or as ``correlations`` with ``standard_deviations``
    (Σ_ij = ρ_ij s_i s_j, what ROOT also reads). Entries of x, mean and Σ may be names or numbers.
    Normalised over all its variables it uses the full-space Gaussian normalisation
    (2π)^(k/2)·√det Σ whatever their ranges, as RooMultiVarGaussian does; normalised over a
    subset of them (or over functions of them) it is integrated numerically. (RooMultiVarGaussian
    writes π as 3.14159268: its log normalisation is larger by k/2·8.4e-9; we keep π.)
    """

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.x = ctx.refs("x")
        self.mean = ctx.refs("mean")
        k = len(self.x)
        self.k = k
        if ctx.has("covariances"):
            self.cov_refs: list[list[Ref]] = [self._row(ctx, "covariances", i) for i in range(k)]
            self.sd_refs: list[Ref] | None = None
        else:
            self.cov_refs = [self._row(ctx, "correlations", i) for i in range(k)]
            self.sd_refs = ctx.refs("standard_deviations")
        self._const: tuple[Array, Array, Array] | None = None
        if all(isinstance(v, float) for row in self.cov_refs for v in row) and all(
                isinstance(v, float) for v in (self.sd_refs or [])):
            cov = self._matrix({}, numbers_only=True)
            self._const = self._factor(cov)

    def _row(self, ctx: BuildContext, key: str, i: int) -> list[Ref]:
        row = ctx.raw(key)[i]
        out: list[Ref] = []
        for j, v in enumerate(row):
            num = as_number(v)
            if num is not None:
                out.append(num)
            elif isinstance(v, str) and v:
                out.append(v)
            else:
                raise EvaluationError(f"{ctx.path(key)}[{i}][{j}]: expected a name or a number, got {v!r}")
        return out

    def _matrix(self, values: Mapping[Ref, Array], *, numbers_only: bool = False) -> Array:
        def val(r: Ref) -> Array:
            return np.asarray(r if isinstance(r, float) else values[r], dtype=float)

        entries = [[val(r) for r in row] for row in self.cov_refs]
        shape = np.broadcast_shapes(*(np.shape(e) for row in entries for e in row))
        if self.sd_refs is not None:
            sds = [val(r) for r in self.sd_refs]
            shape = np.broadcast_shapes(shape, *(np.shape(s) for s in sds))
            entries = [[entries[i][j] * sds[i] * sds[j] for j in range(self.k)] for i in range(self.k)]
        mat = np.empty((*shape, self.k, self.k))
        for i in range(self.k):
            for j in range(self.k):
                mat[..., i, j] = entries[i][j]
        return mat

    def _factor(self, cov: Array) -> tuple[Array, Array, Array]:
        """Cholesky factor, its inverse and log det Σ (raising a clear error if Σ is not positive definite)."""
        if not np.allclose(cov, np.swapaxes(cov, -1, -2), rtol=1e-12, atol=0.0):
            raise EvaluationError(f"{self.path} (multivariate_normal_dist {self.name!r}): the covariance "
                                  "matrix is not symmetric")
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise EvaluationError(f"{self.path} (multivariate_normal_dist {self.name!r}): the covariance matrix "
                                  "is not positive definite") from None
        logdet = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
        return np.asarray(chol, dtype=float), np.asarray(np.linalg.inv(chol), dtype=float), np.asarray(logdet)

    def _cov_factor(self, ev: Evaluator) -> tuple[Array, Array, Array]:
        if self._const is not None:
            return self._const
        names = {r for row in self.cov_refs for r in row if isinstance(r, str)}
        names |= {r for r in (self.sd_refs or []) if isinstance(r, str)}
        return self._factor(self._matrix({n: np.asarray(ev.value(n), dtype=float) for n in names}))

    def log_density(self, ev: Evaluator) -> Array:
        diffs = [np.asarray(ev.value(x), dtype=float) - np.asarray(ev.value(m), dtype=float)
                 for x, m in zip(self.x, self.mean, strict=True)]
        _chol, inv_chol, _logdet = self._cov_factor(ev)
        d = np.stack(np.broadcast_arrays(*diffs), axis=-1)  # (..., k)
        # z = L⁻¹ d, so that dᵀ Σ⁻¹ d = |z|²; inv_chol (..., k, k) broadcasts against d's leading shape
        z = np.einsum("...ij,...j->...i", inv_chol, d)
        return np.asarray(-0.5 * np.sum(z * z, axis=-1))

    def log_normalization(self, ev: Evaluator, observables: tuple[str, ...]) -> Array | None:
        names = {x for x in self.x if isinstance(x, str)}
        if len(names) != self.k or set(observables) != names:
            return None
        _chol, _inv, logdet = self._cov_factor(ev)
        return np.asarray(0.5 * self.k * math.log(2.0 * math.pi) + 0.5 * logdet)


def _bb_check(raw: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    x, expected = raw.get("x"), raw.get("expected")
    if isinstance(x, list) and isinstance(expected, list) and len(x) != len(expected):
        return [("expected", f"expected has {len(expected)} entries for {len(x)} variables in x")]
    return []


@register("barlow_beeston_lite_poisson_constraint_dist", "distribution",
          {"x": req(Kind.REF_LIST), "expected": req(Kind.REF_LIST)}, variates=("x",), checks=(_bb_check,))
class BarlowBeestonLite(DistributionOp):
    """Product of Poisson terms Π Poisson(τ_i | x_i τ_i), τ_i = ``expected``: the staterror constraint.

    The continuous form τ·log(x τ) - x τ - lnΓ(τ+1), as ROOT's RooPoisson(τ | γτ) with noRounding.
    Like a Poisson pmf it is not renormalised over its variables.
    """

    discrete = True

    def __init__(self, ctx: BuildContext) -> None:
        super().__init__(ctx)
        self.x = ctx.refs("x")
        self.expected = ctx.refs("expected")
        self._const_tau: Array | None = None
        if all(isinstance(t, float) for t in self.expected):
            self._const_tau = np.asarray(self.expected, dtype=float)

    def log_density(self, ev: Evaluator) -> Array:
        xs = np.stack(np.broadcast_arrays(*(np.asarray(ev.value(x), dtype=float) for x in self.x)), axis=-1)
        if self._const_tau is not None:
            tau: Array = self._const_tau
        else:
            tau = np.stack(np.broadcast_arrays(*(np.asarray(ev.value(t), dtype=float) for t in self.expected)),
                           axis=-1)
        mu = xs * tau
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = special.xlogy(tau, mu) - mu - special.gammaln(tau + 1.0)
        return np.asarray(np.sum(terms, axis=-1))
