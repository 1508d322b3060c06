"""The vectorised HistFactory path (pyhs3_lab.hfbatch): NLL and gradient against the per-channel path,
finite differences, and the fallback when they disagree."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
from test_histfactory import channel, sample

from pyhs3_lab import Workspace
from pyhs3_lab.fit import NLL
from pyhs3_lab.gradient import counts_terms_grad
from pyhs3_lab.hfbatch import CountsBatch, FlatCounts
from pyhs3_lab.likelihood import _shared_constraints
from pyhs3_lab.ops.interp import (
    HISTOSYS_CODES,
    NORMSYS_CODES,
    PreparedTerms,
    histosys_term,
    histosys_term_grad,
    normsys_term,
    normsys_term_grad,
)


def _every_code_doc() -> dict[str, Any]:
    """Two channels sharing parameters: every modifier type but custom, every normsys and histosys
    interpolation code (additive and multiplicative codes on different samples), two normfactors on one
    sample, staterror over two samples, shapesys, shapefactor."""
    hist = {"hi": {"contents": [12.0, 23.0, 4.0]}, "lo": {"contents": [9.0, 18.0, 6.5]}}
    a = channel([
        sample("sig", [10.0, 20.0, 5.0], [
            {"type": "normfactor", "name": "mu"}, {"type": "normfactor", "name": "k_sig"},
            {"type": "normsys", "name": "lumi", "interpolation": 4, "data": {"hi": 1.05, "lo": 0.95}},
            {"type": "normsys", "name": "xs", "interpolation": 1, "data": {"hi": 1.2, "lo": 0.85}},
            {"type": "histosys", "name": "h5", "interpolation": 5, "data": copy.deepcopy(hist)},
            {"type": "histosys", "name": "h6", "interpolation": 6, "data": copy.deepcopy(hist)}]),
        sample("bkg", [100.0, 80.0, 60.0], [
            {"type": "staterror", "name": "stat"},
            {"type": "normsys", "name": "n0", "interpolation": 0, "data": {"hi": 1.1, "lo": 0.93}},
            {"type": "normsys", "name": "n2", "interpolation": 2, "data": {"hi": 1.04, "lo": 0.9}},
            {"type": "histosys", "name": "jes", "interpolation": 4, "data": {
                "hi": {"contents": [105, 82, 58]}, "lo": {"contents": [96, 77, 63]}}},
            {"type": "histosys", "name": "h0", "interpolation": 0, "data": {
                "hi": {"contents": [101, 85, 55]}, "lo": {"contents": [99, 76, 66]}}},
            {"type": "histosys", "name": "h2", "interpolation": 2, "data": {
                "hi": {"contents": [103, 81, 61]}, "lo": {"contents": [98, 79, 59]}}},
            {"type": "shapesys", "name": "bkgA", "data": {"vals": [0.1, 0.05, 0.2]}}], [5.0, 4.0, 3.0]),
        sample("mj", [30.0, 10.0, 2.0], [
            {"type": "staterror", "name": "stat"}, {"type": "shapefactor", "name": "sf"},
            {"type": "histosys", "name": "h1", "interpolation": 1, "data": {
                "hi": {"contents": [33, 11, 2.5]}, "lo": {"contents": [28, 9, 1.0]}}},
            {"type": "normsys", "name": "lumi", "interpolation": 4, "data": {"hi": 1.05, "lo": 0.95}}])],
        name="model_A", data=[140.0, 118.0, 66.0])
    b = channel([
        sample("sig", [3.0, 1.0], [{"type": "normfactor", "name": "mu"},
                                   {"type": "normsys", "name": "lumi", "interpolation": 4,
                                    "data": {"hi": 1.05, "lo": 0.95}}]),
        sample("bkg", [40.0, 30.0], [{"type": "histosys", "name": "jes", "interpolation": 4, "data": {
            "hi": {"contents": [44, 29]}, "lo": {"contents": [37, 31]}}}, {"type": "staterror", "name": "stat"}],
            [2.0, 0.0])], name="model_B", nbins=2, data=[45.0, 28.0])
    doc = copy.deepcopy(a)
    bd = copy.deepcopy(b["distributions"][0])
    bd["axes"][0]["name"] = "obs_y"
    doc["distributions"].append(bd)
    doc["data"].append({"name": "obsB", "type": "binned", "axes": [{"name": "obs_y", "min": 0, "max": 2,
                                                                   "nbins": 2}], "contents": [45.0, 0.0]})
    doc["likelihoods"] = [{"name": "L", "distributions": ["model_A", "model_B"], "data": ["obs", "obsB"]},
                          {"name": "LA", "distributions": ["model_A"], "data": ["obs"]}]
    return doc


def _points(lik: Any, rng: np.random.Generator, n: int) -> list[dict[str, float]]:
    out = []
    for k in range(n):
        vals = {p: lik.init[p] + 0.25 * float(rng.normal()) if k else lik.init[p] for p in lik.floating}
        for p in vals:
            lo, hi = lik.bounds(p)
            vals[p] = float(np.clip(vals[p], lo + 1e-3 if math.isfinite(lo) else -math.inf,
                                    hi - 1e-3 if math.isfinite(hi) else math.inf))
        out.append(vals)
    far = dict(out[0])
    far.update({p: 2.5 if p.startswith("alpha_") else v for p, v in far.items()})
    far["alpha_h0"], far["alpha_jes"] = -3.5, -6.0  # histosys contents below 0 (clipped with ROOT conventions)
    out.append(far)
    return out


@pytest.mark.parametrize("conventions", ["root", "pyhf"])
@pytest.mark.parametrize("likelihood", ["L", "LA"])
def test_vectorised_nll_and_gradient_equal_per_channel_path(conventions: str, likelihood: str) -> None:
    lik = Workspace(**_every_code_doc()).likelihood(likelihood, conventions=conventions)
    batch = lik._counts_batch()
    assert isinstance(batch, CountsBatch)
    names = list(lik.floating)
    rng = np.random.default_rng(3)
    for k, values in enumerate(_points(lik, rng, 5)):
        full = lik._full_values(lik.values(values))
        ref = _shared_constraints(lik._count_terms, full)
        v = batch.vector(full)
        assert v is not None
        np.testing.assert_allclose(batch.nll_vector(v), ref, rtol=1e-12)
        np.testing.assert_allclose(lik.nll(values), ref, rtol=1e-12)
        g_ref = counts_terms_grad(lik._count_terms, full, frozenset(names))
        assert g_ref is not None
        g = batch.grad_vector(v)
        pos = {n: i for i, n in enumerate(batch.inputs)}
        for n in names:
            np.testing.assert_allclose(g[pos[n]] if n in pos else 0.0, g_ref.get(n, 0.0), rtol=1e-9, atol=1e-9,
                                       err_msg=n)
        # and against central differences of the vectorised NLL itself (not at the start point: codes 0 and 1
        # have a kink at alpha = 0)
        for n in names if k else ():
            i = pos[n]
            h = 1e-4 * max(1.0, abs(v[i]))

            def at(step: float, i: int = i, v: np.ndarray = v) -> float:
                y = v.copy()
                y[i] += step
                return batch.nll_vector(y)

            fd = (8 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12 * h)  # five-point stencil
            np.testing.assert_allclose(g[i], fd, rtol=1e-5, atol=1e-5, err_msg=n)
        got = lik.gradient(values)
        for n in names:
            np.testing.assert_allclose(got[n], g_ref.get(n, 0.0), rtol=1e-9, atol=1e-9, err_msg=n)
    assert batch.ok is True
    assert batch.fallback_reason is None


@pytest.mark.parametrize("conventions", ["root", "pyhf"])
def test_fit_function_from_flat_vector(conventions: str) -> None:
    """NLL(x) and NLL.grad(x) of a fit (FlatCounts: no dict per call), with a fixed parameter, equal the
    likelihood's dict path."""
    lik = Workspace(**_every_code_doc()).likelihood("L", conventions=conventions)
    floating = [n for n in lik.floating if n != "alpha_xs"]
    fixed = {"alpha_xs": 0.7}
    nll = NLL(lik, floating, fixed)
    assert isinstance(nll._flat, FlatCounts)
    rng = np.random.default_rng(11)
    x0 = nll.start
    for k in range(4):
        x = x0 + (0.1 * rng.normal(size=x0.size) if k else 0.0)
        x = np.clip(x, [nll._parameters[n][0] + 1e-3 if nll._parameters[n] else -np.inf for n in floating],
                    [nll._parameters[n][1] - 1e-3 if nll._parameters[n] else np.inf for n in floating])
        values = {**fixed, **dict(zip(floating, x.tolist(), strict=True))}
        np.testing.assert_allclose(nll(x), lik.nll(values), rtol=1e-12)
        g = nll.grad(x)
        full = lik._full_values(lik.values(values))
        ref = counts_terms_grad(lik._count_terms, full, frozenset(floating))
        assert ref is not None
        np.testing.assert_allclose(g, [ref.get(n, 0.0) for n in floating], rtol=1e-9, atol=1e-9)
    assert nll._flat.nll(x0) is not None  # the checked fast path is in use
    assert nll._flat.grad(x0, nll._gradient) is not None
    assert nll._fallbacks == 0


def test_a_batch_that_disagrees_falls_back_for_good() -> None:
    lik = Workspace(**_every_code_doc()).likelihood("L")
    batch = lik._counts_batch()
    assert isinstance(batch, CountsBatch)
    batch.nominal = batch.nominal * 1.01  # a wrong fast path
    full = lik._full_values(lik.values())
    ref = _shared_constraints(lik._count_terms, full)
    assert lik.nll() == ref
    assert batch.ok is False
    assert batch.fallback_reason is not None
    nll = NLL(lik, list(lik.floating))
    x = nll.start + 0.01
    assert nll._flat is not None
    assert nll._flat.nll(x) is None
    values = dict(zip(lik.floating, x.tolist(), strict=True))
    np.testing.assert_allclose(nll(x), _shared_constraints(lik._count_terms, lik._full_values(lik.values(values))),
                               rtol=1e-13)


def test_a_gradient_that_disagrees_falls_back_for_good() -> None:
    lik = Workspace(**_every_code_doc()).likelihood("L")
    batch = lik._counts_batch()
    assert isinstance(batch, CountsBatch)
    lik.nll()
    assert batch.ok is True
    right = batch.grad_vector
    batch.grad_vector = lambda v: right(v) * 1.001  # type: ignore[method-assign]
    nll = NLL(lik, list(lik.floating))
    x = nll.start + 0.01
    values = dict(zip(lik.floating, x.tolist(), strict=True))
    full = lik._full_values(lik.values(values))
    ref = counts_terms_grad(lik._count_terms, full, frozenset(lik.floating))
    assert ref is not None
    np.testing.assert_allclose(nll.grad(x), [ref.get(n, 0.0) for n in lik.floating], rtol=1e-10, atol=1e-12)
    assert not nll._gradient.counts_batch_ok(batch)


def test_array_values_take_the_per_channel_path() -> None:
    lik = Workspace(**_every_code_doc()).likelihood("L")
    batch = lik._counts_batch()
    assert isinstance(batch, CountsBatch)
    full = lik._full_values(lik.values())
    full["mu"] = np.array([0.5, 1.0, 1.5])
    assert batch.vector(full) is None


@pytest.mark.parametrize("code", sorted(NORMSYS_CODES))
def test_prepared_normsys_terms(code: int) -> None:
    alpha = np.array([-2.3, -1.0, -0.6, 0.0, 0.2, 1.0, 1.7])
    lo = np.array([0.9, 0.7, 1.02, 0.95, 0.8, 0.0, 0.9])
    hi = np.array([1.1, 1.25, 1.05, 1.0, 1.3, 1.2, 0.97])
    term = PreparedTerms("normsys", code, lo, hi)
    val, dval = term(alpha, True)
    kind, ref = normsys_term(code, alpha, lo, hi)
    assert term.kind == kind
    np.testing.assert_allclose(val, ref, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(dval, normsys_term_grad(code, alpha, lo, hi)[1], rtol=1e-14, atol=1e-15)
    assert term(alpha)[1] is None


@pytest.mark.parametrize("code", sorted(HISTOSYS_CODES))
def test_prepared_histosys_terms(code: int) -> None:
    alpha = np.array([-2.3, -1.0, -0.6, 0.0, 0.2, 1.0, 1.7])
    nom = np.array([10.0, 20.0, 5.0, 8.0, 1.0, 3.0, 7.0])
    lo = np.array([9.0, 18.0, 6.5, 8.0, 0.5, 2.0, 7.5])
    hi = np.array([12.0, 23.0, 4.0, 8.5, 1.6, 3.0, 6.0])
    term = PreparedTerms("histosys", code, lo, hi, nom)
    val, dval = term(alpha, True)
    kind, ref = histosys_term(code, alpha, nom, lo, hi)
    assert term.kind == kind
    np.testing.assert_allclose(val, ref, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(dval, histosys_term_grad(code, alpha, nom, lo, hi)[1], rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("conventions", ["root", "pyhf"])
def test_analytic_hessian_equals_differences_of_the_gradient(conventions: str) -> None:
    lik = Workspace(**_every_code_doc()).likelihood("L", conventions=conventions)
    nll = NLL(lik, list(lik.floating))
    assert nll._flat is not None
    x0 = nll.start
    nll(x0)
    nll.grad(x0)
    rng = np.random.default_rng(5)
    lims = [nll._parameters[n] for n in nll.names]
    for _ in range(3):  # away from the kinks of the interpolation at alpha = 0
        x = np.array([np.clip(v, lim[0] + 1e-3, lim[1] - 1e-3) if lim else v
                      for v, lim in zip(x0 + 0.1 * rng.normal(size=x0.size), lims, strict=True)])
        hess = nll._flat.hessian(x, nll._gradient)
        assert hess is not None
        np.testing.assert_allclose(hess, hess.T, rtol=1e-12, atol=1e-12)
        fd = np.empty_like(hess)
        for i in range(x.size):
            h = 1e-5 * max(1.0, abs(x[i]))
            up, down = x.copy(), x.copy()
            up[i] += h
            down[i] -= h
            fd[:, i] = (nll.grad(up) - nll.grad(down)) / (2 * h)
        scale = np.maximum(1.0, np.abs(fd).max(axis=0))
        np.testing.assert_allclose(hess / scale, fd / scale, rtol=0, atol=1e-5)
    assert nll.hessian(x).shape == (x.size, x.size)
    assert lik._counts_batch().hessian_ok is True


def test_an_analytic_hessian_that_disagrees_is_not_used() -> None:
    lik = Workspace(**_every_code_doc()).likelihood("L", conventions="pyhf")
    batch = lik._counts_batch()
    assert isinstance(batch, CountsBatch)
    right = batch.hessian_vector

    def wrong(v: np.ndarray) -> np.ndarray | None:
        h = right(v)
        return None if h is None else h * 1.01

    batch.hessian_vector = wrong  # type: ignore[method-assign]
    nll = NLL(lik, list(lik.floating))
    x = nll.start + 0.05
    nll(x)
    nll.grad(x)
    got = nll.hessian(x)
    assert batch.hessian_ok is False
    ref = right(nll._flat._vector(x)) if nll._flat is not None else None
    assert ref is not None
    # the differences of the gradient, not the wrong matrix
    assert not np.allclose(got, 1.01 * ref[:got.shape[0], :got.shape[0]], rtol=1e-4)


def test_fit_with_the_analytic_hessian_agrees_with_minuit_alone() -> None:
    lik = Workspace(**_every_code_doc()).likelihood("L", conventions="pyhf")
    # k_sig fixed: with it, mu · k_sig is a flat direction
    res = lik.fit(tolerance=1e-4, fixed=["k_sig"])
    ref = lik.fit(tolerance=1e-4, hessian=False, fixed=["k_sig"])
    assert res.valid
    assert ref.valid
    assert res.fval == pytest.approx(ref.fval, abs=1e-5)
    for name in res.parameters:
        assert abs(res.values[name] - ref.values[name]) <= 2e-2 * ref.errors[name], name
        assert res.errors[name] == pytest.approx(ref.errors[name], rel=2e-2), name


@pytest.mark.parametrize("tolerance", [1.0, 1e-3])
def test_large_fit_mode_equals_minuit_hesse(monkeypatch: pytest.MonkeyPatch, tolerance: float) -> None:
    """Fits of many parameters (LARGE_FIT_MIN, lowered here) take the covariance from the analytic Hessian and
    finish with Newton steps; the minimum and the errors agree with MIGRAD (strategy 1) and HESSE."""
    import pyhs3_lab.fit as fitmod

    spec = _simple_pyhf(4, 6)
    lik = Workspace.from_pyhf(spec).likelihood(conventions="pyhf")
    ref = lik.fit(strategy=1, tolerance=tolerance)
    monkeypatch.setattr(fitmod, "LARGE_FIT_MIN", 5)
    res = lik.fit(tolerance=tolerance)
    assert "analytic Hessian" in res.message
    assert res.valid
    assert ref.valid
    assert res.fval <= ref.fval + 1e-3 * tolerance
    assert res.edm <= ref.minuit.fmin.edm_goal
    for name in res.parameters:
        assert abs(res.values[name] - ref.values[name]) <= 0.05 * ref.errors[name], name
        # MINUIT's errors of parameters with limits (Int2extError), from the same covariance
        assert res.errors[name] == pytest.approx(ref.errors[name], rel=1e-3), name
    sd = np.sqrt(np.diag(ref.covariance))
    np.testing.assert_allclose(res.covariance / np.outer(sd, sd), ref.covariance / np.outer(sd, sd), atol=5e-3)
    nll = NLL(lik, list(res.parameters))
    x = np.array([res.values[n] for n in res.parameters])
    nll(x)
    nll.grad(x)
    np.testing.assert_allclose(res.covariance, np.linalg.inv(nll.hessian(x)), rtol=1e-6, atol=1e-9)
    # hesse=False: the values all the same, the errors MIGRAD's
    quick = lik.fit(tolerance=tolerance, hesse=False)
    assert quick.fval == pytest.approx(res.fval, abs=1e-9)
    # a parameter at its limit: MINUIT's HESSE
    at_limit = lik.fit(tolerance=tolerance, limits={"mu": (0.0, 0.3)})
    assert "analytic Hessian" not in at_limit.message


def _simple_pyhf(n_channels: int, n_bins: int) -> dict[str, Any]:
    """pyhf's uncorrelated-background model per channel plus a shared normsys (as benchmarks/run.py)."""
    channels, observations = [], []
    for c in range(n_channels):
        name = f"ch{c}"
        channels.append({"name": name, "samples": [
            {"name": "signal", "data": [5.0 + 0.3 * ((c + b) % 7) for b in range(n_bins)],
             "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "background", "data": [50.0 + 2.5 * ((3 * c + b) % 11) for b in range(n_bins)], "modifiers": [
                {"name": f"uncorr_{name}", "type": "shapesys", "data": [7.0] * n_bins},
                {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}}]}]})
        observations.append({"name": name, "data": [
            float(round(50.0 + 2.5 * ((3 * c + b) % 11) + 2 * (5.0 + 0.3 * ((c + b) % 7)) + ((c + 2 * b) % 5) - 2))
            for b in range(n_bins)]})
    return {"channels": channels, "observations": observations, "version": "1.0.0",
            "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}]}


def test_analytic_hessian_checked_only_where_a_column_can_be() -> None:
    """All parameters at the interpolation's kink (alpha = 0): no column can be compared with differences of the
    gradient, so the analytic Hessian is not used until a point where one can."""
    doc = channel([sample("bkg", [100.0, 80.0, 60.0], [
        {"type": "normsys", "name": "n1", "interpolation": 1, "data": {"hi": 1.1, "lo": 0.85}},
        {"type": "histosys", "name": "h0", "interpolation": 0, "data": {
            "hi": {"contents": [101, 85, 55]}, "lo": {"contents": [99, 76, 66]}}}])])
    lik = Workspace(**doc).likelihood("L", conventions="pyhf")
    assert set(lik.floating) == {"alpha_n1", "alpha_h0"}
    nll = NLL(lik, list(lik.floating))
    x0 = nll.start
    assert np.all(x0 == 0.0)
    nll(x0)
    nll.grad(x0)
    nll.hessian(x0)
    batch = lik._counts_batch()
    assert isinstance(batch, CountsBatch)
    assert batch.hessian_ok is None
    x = np.array([0.3, -0.4])
    nll.hessian(x)
    assert batch.hessian_ok is True
