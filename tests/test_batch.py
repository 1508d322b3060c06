"""The vectorised evaluation of channels of identical structure (pyhs3_lab.batch) agrees with the general path."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from shared_paths import WORKSPACES

import pyhs3_lab
from pyhs3_lab.batch import ChannelBatch

BENCH = WORKSPACES / "pyhs3-benchmarks"
MULTI = sorted(p.name for p in BENCH.glob("*.json") if not p.name.startswith("1ch_")) if BENCH.is_dir() else []


def _general(lik: Any, values: dict[str, Any]) -> float:
    full = lik._full_values(values)
    return float(sum(t.nll(full) for t in lik._density_terms) + sum(a.nll(full) for a in lik._aux_terms))


def _likelihood(name: str) -> Any:
    ws = pyhs3_lab.Workspace.load(BENCH / name)
    return ws.likelihood([lk.name for lk in ws.likelihoods])


@pytest.mark.skipif(not MULTI, reason="../shared/workspaces/pyhs3-benchmarks not available")
@pytest.mark.parametrize("name", MULTI)
def test_batched_channels_agree_with_general_path(name: str) -> None:
    lik = _likelihood(name)
    rng = np.random.default_rng(3)
    points = [dict(lik.init)]
    for _ in range(3):
        pt = dict(lik.init)
        for p in lik.floating:
            lo, hi = lik.bounds(p)
            v = pt[p]
            pt[p] = float(min(max(v * (1 + 0.05 * rng.normal()) + 0.01 * rng.normal(), lo), hi))
        points.append(pt)
    # one parameter at a time (the memo of unchanged distributions is used)
    for p in lik.floating[:4]:
        points.append({**lik.init, p: lik.init[p] * 1.01 + 1e-3})
    for pt in points:
        got = lik.nll(pt)
        ref = _general(lik, pt)
        assert got == pytest.approx(ref, rel=1e-11, abs=1e-9)
    batches = [t for t in lik._planned_density_terms() if isinstance(t, ChannelBatch)]
    assert batches, "channels of the same structure are batched"
    assert all(b.ok for b in batches)


@pytest.mark.skipif(not MULTI, reason="../shared/workspaces/pyhs3-benchmarks not available")
def test_batch_falls_back_for_array_values_and_keeps_structure_groups() -> None:
    lik = _likelihood("10ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json")
    plan = lik._planned_density_terms()
    assert len(plan) == 1
    assert isinstance(plan[0], ChannelBatch)
    assert len(plan[0].terms) == 10
    # an array of values (a scan) goes through the general path, element by element
    mus = np.array([0.5, 1.0, 1.5])
    full = lik._full_values({**lik.init, "mu_sig": mus})
    assert plan[0].batched_nll(full) is None
    for mu in mus:
        assert lik.nll({"mu_sig": float(mu)}) == pytest.approx(_general(lik, {**lik.init, "mu_sig": float(mu)}),
                                                               rel=1e-11)


def test_channels_of_different_structure_are_not_merged() -> None:
    def channel(k: int, dist_type: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        shape = ({"name": f"s{k}", "type": "gaussian_dist", "x": "x", "mean": f"m{k}", "sigma": 1.0}
                 if dist_type == "gauss" else {"name": f"s{k}", "type": "exponential_dist", "x": "x", "c": f"m{k}"})
        dists = [shape, {"name": f"model{k}", "type": "mixture_dist", "summands": [f"s{k}", "flat"],
                         "coefficients": [f"n{k}", "nflat"], "extended": True}]
        data = {"name": f"d{k}", "type": "unbinned", "axes": [{"name": "x", "min": 0.0, "max": 5.0}],
                "entries": [[0.3 + 0.4 * i + 0.1 * k] for i in range(5 + k)]}
        return dists, data

    dists: list[dict[str, Any]] = [{"name": "flat", "type": "uniform_dist", "x": "x"}]
    data = []
    kinds = ["gauss", "gauss", "exp", "gauss", "exp"]
    for k, kind in enumerate(kinds):
        d, dat = channel(k, kind)
        dists += d
        data.append(dat)
    params = [{"name": f"m{k}", "value": 1.0 + 0.3 * k} for k in range(5)]
    params += [{"name": f"n{k}", "value": 5.0 + k} for k in range(5)] + [{"name": "nflat", "value": 2.0}]
    ws = pyhs3_lab.Workspace(metadata={"hs3_version": "0.2"}, distributions=dists, data=data,
                             parameter_points=[{"name": "default_values", "parameters": params}],
                             likelihoods=[{"name": "L", "distributions": [f"model{k}" for k in range(5)],
                                           "data": [f"d{k}" for k in range(5)]}])
    lik = ws.likelihood("L")
    plan = lik._planned_density_terms()
    groups = sorted(len(t.terms) for t in plan if isinstance(t, ChannelBatch))
    assert groups == [2, 3]  # the exponential channels and the Gaussian channels; different numbers of events
    for pt in [dict(lik.init), {**lik.init, "m0": 1.7, "n2": 3.0}, {**lik.init, "nflat": 0.5}]:
        got = lik.nll(pt)
        assert math.isfinite(got)
        assert got == pytest.approx(_general(lik, pt), rel=1e-12)


def _unbinned_doc(n: int, weights: bool) -> dict[str, Any]:
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(3.0, 0.5, n // 4), rng.exponential(2.0, n - n // 4)])
    x = x[(x > 0.0) & (x < 10.0)]
    data: dict[str, Any] = {"name": "d", "type": "unbinned", "axes": [{"name": "x", "min": 0.0, "max": 10.0}],
                            "entries": [[float(v)] for v in x]}
    if weights:
        data["weights"] = [float(w) for w in rng.uniform(0.0, 2.0, len(x))]
    return {
        "metadata": {"hs3_version": "0.2"},
        "distributions": [
            {"name": "sig", "type": "gaussian_dist", "x": "x", "mean": "mu", "sigma": "sigma"},
            {"name": "bkg", "type": "exponential_dist", "x": "x", "c": "c"},
            {"name": "model", "type": "mixture_dist", "summands": ["sig", "bkg"],
             "coefficients": ["nsig", "nbkg"], "extended": True},
        ],
        "data": [data],
        "likelihoods": [{"name": "L", "distributions": ["model"], "data": ["d"]}],
        "domains": [{"name": "dom", "type": "product_domain", "axes": [
            {"name": "mu", "min": 0.0, "max": 10.0}, {"name": "sigma", "min": 0.05, "max": 3.0},
            {"name": "c", "min": -2.0, "max": -0.01}, {"name": "nsig", "min": 0.0, "max": 2.0 * n},
            {"name": "nbkg", "min": 0.0, "max": 2.0 * n}, {"name": "x", "min": 0.0, "max": 10.0}]}],
        "parameter_points": [{"name": "start", "parameters": [
            {"name": "mu", "value": 2.8}, {"name": "sigma", "value": 0.6}, {"name": "c", "value": -0.4},
            {"name": "nsig", "value": 0.3 * n}, {"name": "nbkg", "value": 0.7 * n}]}],
    }


def _nll_and_grad(lik: Any, points: list[dict[str, float]]) -> list[tuple[float, np.ndarray]]:
    from pyhs3_lab.fit import NLL

    names = list(lik.floating)
    nll = NLL(lik, names)
    assert nll.has_grad
    out = []
    for pt in points:
        x = np.array([pt.get(k, lik.init[k]) for k in names])
        out.append((nll(x), np.asarray(nll.grad(x))))
    return out


@pytest.mark.parametrize("weights", [False, True])
def test_large_batches_are_evaluated_in_chunks_with_the_same_results(weights: bool,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # a one-channel data set of ~2000 entries split into chunks of 300: NLL and gradient as without chunks
    import pyhs3_lab.batch as batch_mod

    doc = _unbinned_doc(2000, weights)
    whole = pyhs3_lab.Workspace.load(doc).likelihood("L")
    whole._planned_density_terms()  # its batch is built before the chunk size changes
    monkeypatch.setattr(batch_mod, "CHUNK_ENTRIES", 300)
    chunked = pyhs3_lab.Workspace.load(doc).likelihood("L")
    rng = np.random.default_rng(2)
    points = [dict(chunked.init)] + [{k: v * (1 + 0.03 * rng.normal()) for k, v in chunked.init.items()
                                      if k in chunked.floating} for _ in range(3)]
    for (f_c, g_c), (f_w, g_w) in zip(_nll_and_grad(chunked, points), _nll_and_grad(whole, points), strict=True):
        assert f_c == pytest.approx(f_w, rel=1e-12)
        np.testing.assert_allclose(g_c, g_w, rtol=1e-9, atol=1e-9)
    for pt in points:
        assert chunked.nll(pt) == pytest.approx(_general(chunked, pt), rel=1e-12)
    (b,) = [t for t in chunked._planned_density_terms() if isinstance(t, ChannelBatch)]
    assert b.chunked
    assert len(b.chunks) == math.ceil(b.data.shape[1] / 300)
    assert b.ok is True
    assert b.plan_ok is False
    assert "chunks" in (b.plan_fallback_reason or "")
    assert b.grad_checked
    assert all(b.grad_checked.values())
    (w,) = [t for t in whole._planned_density_terms() if isinstance(t, ChannelBatch)]
    assert not w.chunked
    assert w.chunks == [slice(None)]


@pytest.mark.skipif(not MULTI, reason="../shared/workspaces/pyhs3-benchmarks not available")
def test_chunks_of_several_padded_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    # 10 channels of different lengths (padded), chunks of 4 columns: per-channel parameters, shared ones
    import pyhs3_lab.batch as batch_mod

    name = "10ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json"
    whole = _likelihood(name)
    whole._planned_density_terms()  # its batch is built before the chunk size changes
    monkeypatch.setattr(batch_mod, "CHUNK_ENTRIES", 40)
    chunked = _likelihood(name)
    (b,) = [t for t in chunked._planned_density_terms() if isinstance(t, ChannelBatch)]
    assert b.chunked
    assert b.padded
    assert len(b.chunks) > 3
    points = [dict(chunked.init), {**chunked.init, "mu_sig": 1.3}]
    for (f_c, g_c), (f_w, g_w) in zip(_nll_and_grad(chunked, points), _nll_and_grad(whole, points), strict=True):
        assert f_c == pytest.approx(f_w, rel=1e-12)
        np.testing.assert_allclose(g_c, g_w, rtol=1e-9, atol=1e-9)
    (bw,) = [t for t in whole._planned_density_terms() if isinstance(t, ChannelBatch)]
    assert not bw.chunked
    assert b.grad_checked
    assert all(b.grad_checked.values())
    for pt in points:
        assert chunked.nll(pt) == pytest.approx(_general(chunked, pt), rel=1e-11)
