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
