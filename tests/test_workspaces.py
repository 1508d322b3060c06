"""Every real HS3 file in ../shared/workspaces loads, round-trips and evaluates.

For each file: it loads without a schema error; ``to_dict()`` gives back the
original JSON exactly; and every distribution evaluated at the default parameter
values gives a finite log density: at the data entries (unbinned) or bin centres
(binned) of the likelihood that pairs it (or a distribution containing it) with
data, otherwise at the default values of its observables. Distributions that
cannot be evaluated are pinned by name with the reason in ``PINNED``; a pinned
distribution that starts to evaluate fails the test too, so the list stays true.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from shared_paths import WORKSPACES, workspace_files

import pyhs3_lab
from pyhs3_lab.ops.base import BinnedDistributionOp
from pyhs3_lab.spec import Data, as_number

FILES = workspace_files()

#: (file relative to workspaces/, distribution) -> why it cannot be evaluated
PINNED: dict[tuple[str, str], str] = {
    ("HS3.jl/test_gg/test_gg_unbinned_argus.json", "model_channel1"):
        "at the default values (m0 = 1, slope = 0.8: the middle of its range, which ROOT uses as well) every data "
        "point lies above the ARGUS endpoint m0, where the pdf is 0; HS3.jl's reference CSV gives Inf too",
}

#: files that do not load: file -> (text the SchemaError must contain, why)
PINNED_LOAD: dict[str, tuple[str, str]] = {}


def _load(path: Path) -> pyhs3_lab.Workspace | None:
    """The workspace, or None for a file pinned in PINNED_LOAD (after checking that it fails as pinned)."""
    rel = _rel(path)
    if rel not in PINNED_LOAD:
        return pyhs3_lab.Workspace.load(path)
    fragment, _why = PINNED_LOAD[rel]
    # a pinned file that loads now fails here ("DID NOT RAISE"): remove it from PINNED_LOAD
    with pytest.raises(pyhs3_lab.SchemaError, match=re.escape(fragment)):
        pyhs3_lab.Workspace.load(path)
    return None


def _rel(path: Path) -> str:
    return path.relative_to(WORKSPACES).as_posix()


def _columns(data: Data) -> dict[str, np.ndarray] | None:
    """Observable values at which a distribution paired with ``data`` is evaluated."""
    if data.type == "unbinned":
        entries = np.asarray([[as_number(v) for v in row] for row in data.raw["entries"]], dtype=float)
        if entries.size == 0:
            return None
        return {ax.name: entries[:, i] for i, ax in enumerate(data.axes)}
    if data.type == "binned":
        centres = [0.5 * (np.asarray(ax.bin_edges[:-1]) + np.asarray(ax.bin_edges[1:])) for ax in data.axes]
        grids = np.meshgrid(*centres, indexing="ij")
        return {ax.name: g.ravel() for ax, g in zip(data.axes, grids, strict=True)}
    return None


def _evaluation_points(ws: pyhs3_lab.Workspace) -> dict[str, list[dict[str, np.ndarray]]]:
    """For each distribution, the data columns of every likelihood pair that contains it."""
    data = {d.name: d for d in ws.data}
    dists = {d.name for d in ws.distributions}
    out: dict[str, list[dict[str, np.ndarray]]] = {}
    for lik in ws.likelihoods:
        for top, dat in zip(lik.distributions, lik.data, strict=False):
            if not isinstance(dat, str) or dat not in data:
                continue
            cols = _columns(data[dat])
            if cols is None:
                continue
            for name in {top} | (ws.graph.descendants(top) & dists):
                out.setdefault(name, []).append(cols)
    return out


def _finite_logpdf(model: pyhs3_lab.Model, ws: pyhs3_lab.Workspace, name: str,
                   points: list[dict[str, np.ndarray]]) -> str | None:
    """None if every evaluation is finite, else what went wrong."""
    params = set(ws.graph.parameters)
    leaves = ws.graph.leaves(name)
    try:
        if points:
            for cols in points:
                values = {k: v for k, v in cols.items() if k in params and k in leaves}
                lp = np.asarray(model.logpdf(name, **values))
                if not np.all(np.isfinite(lp)):
                    return f"non-finite logpdf at {int(np.sum(~np.isfinite(lp)))} of {lp.size} data points"
        else:
            values = {}
            for obs in model.observables_of(name):
                if math.isnan(model.values.get(obs, math.nan)):
                    lo, hi = model.bounds.get(obs, (-math.inf, math.inf))
                    values[obs] = 0.5 * (lo + hi) if math.isfinite(lo + hi) else 0.0
            lp = np.asarray(model.logpdf(name, **values))
            if not np.all(np.isfinite(lp)):
                return f"non-finite logpdf {lp!r} at the default values"
        op = model.compiled.distribution(name)
        if isinstance(op, BinnedDistributionOp):
            nu = np.asarray(op.expected_counts(model.evaluator()))
            if not np.all(np.isfinite(nu)):
                return "non-finite expected counts"
    except pyhs3_lab.PyHS3LabError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def test_there_are_workspaces() -> None:
    if not WORKSPACES.is_dir():
        pytest.skip(f"the shared inputs are not at {WORKSPACES}")
    assert len(FILES) > 50


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_loads_and_round_trips(path: Path) -> None:
    original: Any = json.loads(path.read_text())
    ws = _load(path)
    if ws is None:
        return
    assert ws.to_dict() == original
    # the dict we give back is a copy: changing it does not change the workspace
    copy = ws.to_dict()
    copy["added_by_the_test"] = {"changed": True}
    next(v for v in copy.values() if isinstance(v, list)).clear()
    assert ws.to_dict() == original


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_every_distribution_evaluates(path: Path) -> None:
    ws = _load(path)
    if ws is None:
        return
    model = ws.model()
    points = _evaluation_points(ws)
    failures: dict[str, str] = {}
    for dist in ws.distributions:
        problem = _finite_logpdf(model, ws, dist.name, points.get(dist.name, []))
        if problem is not None:
            failures[dist.name] = problem
    rel = _rel(path)
    pinned = {d: why for (f, d), why in PINNED.items() if f == rel}
    unexpected = {d: why for d, why in failures.items() if d not in pinned}
    assert not unexpected, f"{rel}: distributions that do not evaluate: {unexpected}"
    now_fine = sorted(set(pinned) - set(failures))
    assert not now_fine, f"{rel}: pinned distributions {now_fine} evaluate now; remove them from PINNED"


RF501 = WORKSPACES / "pyhs3" / "rf501_simultaneouspdf.json"


@pytest.mark.skipif(not RF501.is_file(), reason="shared inputs missing")
def test_rf501_reference_values() -> None:
    """MANIFEST.md: model at x = 0 is 1/(0.3·sqrt(2π)); model_ctl at x = 0 is 2.56486621e-22."""
    model = pyhs3_lab.Workspace.load(RF501).model()
    assert model.pdf("model", x=0.0) == pytest.approx(1.3298076, rel=1e-7)
    assert model.pdf("model", x=0.0) == pytest.approx(1.0 / (0.3 * math.sqrt(2.0 * math.pi)), rel=1e-6)
    assert model.pdf("model_ctl", x=0.0) == pytest.approx(2.56486621e-22, rel=1e-8)
