"""ROOT's NLL scans from HS3.jl's test suite (``root_output`` in the reference CSVs), reproduced.

Each CSV row scans one parameter with all others at their defaults; ROOT's value is
−Σ w·log pdf over the unbinned entries, or −Σ n·log pdf(bin centre) for binned data with a
continuous pdf. Only the scans that ../shared/workspaces/MANIFEST.md calls reliable are used.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from pyhs3_lab import Workspace, registry

# file stem -> (parameters whose scan rows are reliable (None: all), absolute tolerance)
CASES: dict[str, tuple[set[str] | None, float]] = {
    "test_gg_unbinned_gauss": (None, 1e-10),
    "test_gg_unbinned_gauss_weighted": (None, 1e-10),
    "test_gg_unbinned_exponential": (None, 1e-10),
    "test_gg_unbinned_lognormal": (None, 1e-10),
    "test_gg_unbinned_crystalball": (None, 1e-10),
    "test_gg_unbinned_bernstein": (None, 1e-10),
    "test_gg_binned_gauss": (None, 1e-10),
    "test_gg_unbinned_split": ({"sigmaR"}, 1e-10),  # the mu/sigmaL rows leaked values between scans
    "test_gg_unbinned_generic": (None, 1e-5),  # ROOT integrates this one numerically (~1e-6 relative)
}


def _rows(path: Path) -> list[tuple[str, float, float]]:
    with path.open() as fh:
        return [(r["param_name"], float(r["param_value"]), float(r["root_output"]))
                for r in csv.DictReader(fh) if r.get("root_output") not in (None, "")]


def _nll(ws: Workspace, name: str, value: float) -> float:
    (lik,) = ws.likelihoods
    (dist,) = lik.distributions
    data = next(d for d in ws.data if d.name == lik.data[0])
    (axis,) = data.axes
    model = ws.model()
    if data.type == "binned":
        edges = np.asarray(axis.bin_edges)
        x = 0.5 * (edges[:-1] + edges[1:])
        w = np.asarray(data.raw["contents"], dtype=float)
    else:
        x = np.asarray([row[0] for row in data.raw["entries"]], dtype=float)
        w = np.asarray(data.raw.get("weights", np.ones(len(x))), dtype=float)
    logp = model.logpdf(dist, observables=[axis.name], **{axis.name: x, name: value})
    return float(-np.sum(w * logp))


@pytest.mark.parametrize("stem", sorted(CASES))
def test_root_nll_scan(stem: str, workspaces_dir: Path) -> None:
    params, tol = CASES[stem]
    folder = workspaces_dir / "HS3.jl" / "test_gg"
    ws = Workspace.load(folder / f"{stem}.json")
    for dist in ws.distributions:
        if registry.lookup(dist.type) is None:
            pytest.skip(f"{dist.type} is not registered yet (another kernel module)")
    rows = [r for r in _rows(folder / "reference_csv" / f"{stem}.csv") if params is None or r[0] in params]
    assert rows, f"no reference rows in {stem}.csv"
    got = np.array([_nll(ws, name, value) for name, value, _ in rows])
    want = np.array([root for _, _, root in rows])
    # ROOT's value is inf where a density underflows to 0 in linear space (crystalball at sigma = 0.1):
    # in log space the NLL stays finite (and huge) there
    finite = np.isfinite(want)
    assert np.all(np.isfinite(got))
    assert np.all(got[~finite] > 500.0)
    err = np.abs(got[finite] - want[finite])
    worst = int(np.argmax(err))
    assert err[worst] <= tol, f"{stem}: {np.asarray(rows, dtype=object)[finite][worst]}: got {got[finite][worst]!r}"
