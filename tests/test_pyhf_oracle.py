"""pyhf (numpy backend) as the oracle for HistFactory with ``conventions="pyhf"``."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pyhs3_lab import Workspace
from pyhs3_lab.errors import SchemaError
from pyhs3_lab.ops.histfactory import HistFactory
from pyhs3_lab.pyhf_convert import normalize_pyhf_spec, pyhf_to_hs3

pyhf = pytest.importorskip("pyhf")

pytestmark = [pytest.mark.pyhf,
              pytest.mark.filterwarnings("ignore:jsonschema.RefResolver is deprecated:DeprecationWarning")]

PYHF_FILES = ["pyhs3/simplemodel_uncorrelated-background_hifa.json",
              "pyhs3/simplemodel_correlated-background_hifa.json",
              "flatppl-rust/2bin_1channel.json", "flatppl-rust/multichan_old.json"]

_SCALAR = {"normfactor", "normsys", "histosys", "lumi"}


@pytest.fixture(autouse=True)
def _numpy_backend() -> None:
    pyhf.set_backend("numpy")


def our_values(model: Any, pars: np.ndarray, spec: dict[str, Any]) -> dict[str, float]:
    """pyhf's parameter vector as pyhs3_lab parameter names (``<name>_<i>`` for per-bin ones)."""
    kinds = {m["name"]: m["type"] for ch in spec["channels"] for s in ch["samples"] for m in s["modifiers"]}
    out: dict[str, float] = {}
    for name in sorted(model.config.par_order, key=lambda n: model.config.par_slice(n).start):
        sl = model.config.par_slice(name)
        vals = pars[sl]
        if kinds[name] in _SCALAR:
            out[name] = float(vals[0])
        else:
            out.update({f"{name}_{i}": float(v) for i, v in enumerate(vals)})
    return out


def random_points(model: Any, rng: np.random.Generator, n: int) -> list[np.ndarray]:
    init = np.asarray(model.config.suggested_init(), dtype=float)
    bounds = model.config.suggested_bounds()
    points = [init]
    for _ in range(n):
        p = init.copy()
        for i, (lo, hi) in enumerate(bounds):
            if model.config.suggested_fixed()[i]:
                continue
            span = min(hi, init[i] + 1.5) - max(lo, init[i] - 1.5)
            p[i] = max(lo, init[i] - 1.5) + rng.uniform(0.05, 0.95) * span
            if lo >= 0:  # γ, μ: stay in a plausible range
                p[i] = min(p[i], 2.5)
        points.append(p)
    return points


#: pyhf's settings before 0.7 = the "pyhf" conventions of pyhs3_lab (normsys code 1, histosys code 0)
OLD_SETTINGS = {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}}
SETTINGS = [pytest.param(None, id="pyhf-default-code4"), pytest.param(OLD_SETTINGS, id="code1-code0")]


def check_against_pyhf(spec: dict[str, Any], settings: dict[str, Any] | None, n_points: int = 6,
                       seed: int = 1) -> None:
    """pyhf's model with ``settings`` (None: pyhf's defaults) against the conversion evaluated with
    pyhf conventions: with pyhf's defaults the codes are written into the file, with the old
    settings nothing is written and the conventions decide."""
    spec = normalize_pyhf_spec(spec)
    pws = pyhf.Workspace(spec)
    model = pws.model() if settings is None else pws.model(modifier_settings=settings)
    data = pws.data(model)
    ws = Workspace.from_pyhf(spec) if settings is None else Workspace.from_pyhf(spec, modifier_settings=None)
    lik = ws.likelihood(conventions="pyhf")
    rng = np.random.default_rng(seed)
    for pars in random_points(model, rng, n_points):
        ref = float(model.logpdf(pars, data)[0])
        values = our_values(model, pars, spec)
        got = -lik.nll(values)
        np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-9)
        # the expected data of each channel too
        expected = model.expected_actualdata(pars)
        hs3_model = ws.model(conventions="pyhf")
        ev = hs3_model.evaluator(values)
        for ch in spec["channels"]:
            sl = model.config.channel_slices[ch["name"]]
            op = hs3_model.compiled.distribution(f"model_{ch['name']}")
            assert isinstance(op, HistFactory)
            np.testing.assert_allclose(op.expected_counts(ev), expected[sl], rtol=1e-12)


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("name", PYHF_FILES)
def test_real_pyhf_files(workspaces_dir: Path, name: str, settings: dict[str, Any] | None) -> None:
    spec = normalize_pyhf_spec(json.loads((workspaces_dir / name).read_text()))
    for par in spec["measurements"][0]["config"]["parameters"]:
        if par["name"] == "lumi":
            par.setdefault("bounds", [[0.5, 1.5]])  # pyhf needs lumi bounds; multichan_old.json gives none
    check_against_pyhf(spec, settings)


def test_published_reference_value(workspaces_dir: Path) -> None:
    """log L = -15.3876271732 at mu = 1, gamma = (1, 1) (flatppl-rust tests, hs3-semantics §4.5)."""
    ws = Workspace.from_pyhf(workspaces_dir / "pyhs3/simplemodel_uncorrelated-background_hifa.json")
    nll = ws.likelihood(conventions="pyhf").nll({"mu": 1.0, "uncorr_bkguncrt_0": 1.0, "uncorr_bkguncrt_1": 1.0})
    assert -nll == pytest.approx(-15.3876271732, abs=1e-9)


@pytest.mark.parametrize("stem", ["simplemodel_uncorrelated-background", "simplemodel_correlated-background"])
def test_pyhs3_conversions_with_pyhf_conventions(workspaces_dir: Path, stem: str) -> None:
    """pyhs3's HS3 files, read with pyhf conventions, are their pyhf originals."""
    spec = json.loads((workspaces_dir / f"pyhs3/{stem}_hifa.json").read_text())
    pws = pyhf.Workspace(spec)
    model = pws.model(modifier_settings=OLD_SETTINGS)
    data = np.asarray(pws.data(model))
    ws = Workspace.load(workspaces_dir / f"pyhs3/{stem}_hs3.json")
    hs3_model = ws.model(conventions="pyhf")
    op = hs3_model.compiled.distribution("model_singlechannel")
    assert isinstance(op, HistFactory)
    counts = np.asarray(next(d for d in ws.data if d.name == "obsData_singlechannel").raw["contents"], float)
    n_main = model.config.nmaindata
    np.testing.assert_allclose(counts, data[:n_main])
    rng = np.random.default_rng(7)
    for pars in random_points(model, rng, 6):
        values: dict[str, float] = {}
        for name in model.config.par_order:
            vals = pars[model.config.par_slice(name)]
            if name == "mu":
                values["mu"] = float(vals[0])
            elif name == "correlated_bkg_uncertainty":
                values["alpha_correlated_bkg_uncertainty"] = float(vals[0])
            else:
                values.update({f"{name}_{i}": float(v) for i, v in enumerate(vals)})
        ev = hs3_model.evaluator(values)
        nu = op.expected_counts(ev)
        from scipy import stats

        ours = float(np.sum(stats.poisson.logpmf(counts, nu))) + float(op.log_constraints(ev))
        ref = float(model.logpdf(pars, data)[0])
        np.testing.assert_allclose(ours, ref, rtol=1e-11)
        # and through the likelihood (no BinnedLikelihood tag: no lgamma(n+1), bin width 1)
        from scipy import special

        nll = ws.likelihood("simPdf_obsData", conventions="pyhf").nll(values)
        np.testing.assert_allclose(-nll - float(np.sum(special.gammaln(counts + 1))), ref, rtol=1e-11)


def every_modifier_spec() -> dict[str, Any]:
    """Two channels with every pyhf modifier type, shared normsys/histosys/lumi between them."""
    sr = {"name": "SR", "samples": [
        {"name": "signal", "data": [5.0, 10.0, 3.0], "modifiers": [
            {"name": "mu", "type": "normfactor", "data": None},
            {"name": "lumi", "type": "lumi", "data": None},
            {"name": "sig_theory", "type": "normsys", "data": {"hi": 1.1, "lo": 0.85}},
            {"name": "staterror_SR", "type": "staterror", "data": [1.0, 1.5, 0.8]}]},
        {"name": "bkg1", "data": [50.0, 40.0, 20.0], "modifiers": [
            {"name": "lumi", "type": "lumi", "data": None},
            {"name": "jes", "type": "histosys", "data": {"hi_data": [53.0, 41.0, 19.0], "lo_data": [46.0, 39.0, 22.0]}},
            {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.92}},
            {"name": "bkg_shape", "type": "shapesys", "data": [4.0, 0.0, 3.0]},
            {"name": "staterror_SR", "type": "staterror", "data": [2.0, 2.5, 1.9]}]},
        {"name": "bkg2", "data": [20.0, 25.0, 30.0], "modifiers": [
            {"name": "sf", "type": "shapefactor", "data": None},
            {"name": "jes", "type": "histosys",
             "data": {"hi_data": [22.0, 24.0, 33.0], "lo_data": [19.0, 25.5, 28.0]}}]}]}
    cr = {"name": "CR", "samples": [
        {"name": "bkg1", "data": [200.0, 150.0], "modifiers": [
            {"name": "lumi", "type": "lumi", "data": None},
            {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.92}},
            {"name": "jes", "type": "histosys", "data": {"hi_data": [210.0, 148.0], "lo_data": [190.0, 153.0]}},
            {"name": "staterror_CR", "type": "staterror", "data": [5.0, 4.0]}]},
        {"name": "signal", "data": [1.0, 0.5], "modifiers": [
            {"name": "mu", "type": "normfactor", "data": None},
            {"name": "cr_only", "type": "normsys", "data": {"hi": 1.3, "lo": 0.6}}]}]}
    return {
        "channels": [sr, cr],
        "observations": [{"name": "SR", "data": [80.0, 75.0, 58.0]}, {"name": "CR", "data": [205.0, 149.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [
            {"name": "lumi", "auxdata": [1.0], "sigmas": [0.017], "bounds": [[0.9, 1.1]], "inits": [1.0]},
            {"name": "cr_only", "fixed": True}]}}],
        "version": "1.0.0",
    }


@pytest.mark.parametrize("settings", SETTINGS)
def test_every_modifier_type_two_channels(settings: dict[str, Any] | None) -> None:
    check_against_pyhf(every_modifier_spec(), settings, n_points=10, seed=3)


@pytest.mark.parametrize("settings", [{"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code2"}},
                                      {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code4p"}}])
def test_other_interpolation_codes(settings: dict[str, Any]) -> None:
    spec = every_modifier_spec()
    pws = pyhf.Workspace(spec)
    model = pws.model(modifier_settings=settings)
    data = pws.data(model)
    lik = Workspace.from_pyhf(spec, modifier_settings=settings).likelihood(conventions="pyhf")
    # pyhf's code2 drops the (y± - y0) offset outside |alpha| <= 1 (pyhf issue #2729); ROOT's has it,
    # and pyhs3_lab follows ROOT: compare inside only
    alphas = [model.config.par_slice(n) for n in ("jes", "bkg_norm", "sig_theory")]
    for pars in random_points(model, np.random.default_rng(11), 5):
        for sl in alphas:
            pars[sl] = np.clip(pars[sl], -0.95, 0.95)
        ref = float(model.logpdf(pars, data)[0])
        np.testing.assert_allclose(-lik.nll(our_values(model, pars, spec)), ref, rtol=1e-11)


def test_measurement_overrides_of_gaussian_constraints() -> None:
    spec = every_modifier_spec()
    spec["measurements"][0]["config"]["parameters"].append(
        {"name": "sig_theory", "auxdata": [0.2]})  # pyhf accepts no sigmas for a normsys
    check_against_pyhf(spec, None, n_points=4, seed=5)


def test_fixed_parameters_and_poi_are_converted() -> None:
    doc = pyhf_to_hs3(every_modifier_spec())
    point = {p["name"]: p for p in doc["parameter_points"][0]["parameters"]}
    assert point["cr_only"]["const"] is True
    assert point["nom_lumi"] == {"name": "nom_lumi", "value": 1.0, "const": True}
    assert doc["analyses"][0]["parameters_of_interest"] == ["mu"]
    bounds = {a["name"]: (a["min"], a["max"]) for a in doc["domains"][0]["axes"]}
    assert bounds["lumi"] == (0.9, 1.1)
    assert bounds["bkg_shape_0"] == (1e-10, 10.0)
    ws = Workspace(**doc)
    assert ws.analysis().parameters_of_interest == ("mu",)


def test_malformed_pyhf_workspace() -> None:
    spec = every_modifier_spec()
    spec["channels"][0]["samples"][1]["modifiers"][1]["data"]["hi_data"] = [1.0]
    with pytest.raises(SchemaError, match=r"channels\[0\]\.samples\[1\]\.modifiers\[1\]\.data\.hi_data"):
        pyhf_to_hs3(spec)
    bad = copy.deepcopy(every_modifier_spec())
    bad["channels"][0]["samples"][0]["modifiers"][0]["type"] = "magic"
    with pytest.raises(SchemaError, match="unknown pyhf modifier type 'magic'"):
        pyhf_to_hs3(bad)
    with pytest.raises(SchemaError, match="observations"):
        pyhf_to_hs3({"channels": []})


def test_converted_workspace_round_trips(tmp_path: Path) -> None:
    spec = every_modifier_spec()
    ws = Workspace.from_pyhf(spec)
    path = tmp_path / "converted.json"
    ws.dump(path)
    again = Workspace.load(path)
    values = {"mu": 1.3, "jes": -0.7, "bkg_shape_0": 1.04, "lumi": 1.01}
    assert again.likelihood(conventions="pyhf").nll(values) == ws.likelihood(conventions="pyhf").nll(values)


def _single_channel(spec: dict[str, Any], channel: str) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    out["channels"] = [c for c in out["channels"] if c["name"] == channel]
    out["observations"] = [o for o in out["observations"] if o["name"] == channel]
    return out


@pytest.mark.roofit
def test_conversion_reads_the_same_in_roofit(tmp_path: Path) -> None:
    """RooFit 6.40 reads the converted channels as pyhs3_lab does with ROOT conventions; where the
    file does not depend on the conventions (no shapesys), that is pyhf's number too."""
    import os
    import subprocess
    import sys

    probe = subprocess.run([sys.executable, "-c", "import ROOT; ROOT.RooJSONFactoryWSTool"], capture_output=True,
                           text=True, timeout=300, check=False)
    if probe.returncode != 0:
        pytest.skip("ROOT cannot be imported (pip install root)")
    spec = every_modifier_spec()
    docs = {ch: pyhf_to_hs3(_single_channel(spec, ch)) for ch in ("SR", "CR")}
    files = []
    for ch, doc in docs.items():
        path = tmp_path / f"{ch}.json"
        path.write_text(json.dumps(doc))
        files.append(str(path))
    oracle = Path(__file__).with_name("roofit_oracle.py")
    proc = subprocess.run([sys.executable, str(oracle), *files], capture_output=True, text=True, timeout=1200,
                          check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    answers = {Path(json.loads(line)["file"]).stem: json.loads(line) for line in proc.stdout.splitlines()
               if line.startswith("{")}
    for ch, doc in docs.items():
        rec = answers[ch]
        assert rec["ok"], rec.get("error")
        (ref,) = rec["likelihoods"]
        ws = Workspace(**doc)
        root_lik = ws.likelihood(conventions="root")
        pyhf_lik = ws.likelihood(conventions="pyhf")
        assert set(root_lik.floating) == set(ref["parameters"])
        model = pyhf.Workspace(_single_channel(spec, ch)).model()
        for point in ref["points"]:
            assert root_lik.nll(point["values"]) == pytest.approx(point["nll"], rel=1e-10, abs=1e-9), point["label"]
            if ch == "CR":  # no shapesys: the conventions agree, and so does pyhf
                assert pyhf_lik.nll(point["values"]) == pytest.approx(point["nll"], rel=1e-10, abs=1e-9)
                pars = np.asarray(model.config.suggested_init(), dtype=float)
                keys = list(our_values(model, pars, spec))  # pyhs3_lab names in pyhf's parameter order
                for idx, key in enumerate(keys):
                    pars[idx] = point["values"].get(key, pars[idx])
                data = pyhf.Workspace(_single_channel(spec, ch)).data(model)
                assert -float(model.logpdf(pars, data)[0]) == pytest.approx(point["nll"], rel=1e-10, abs=1e-9)


def test_converted_workspaces_default_to_pyhf_conventions(workspaces_dir: Path) -> None:
    """A workspace written by Workspace.from_pyhf (or its saved dump) gives pyhf's numbers without
    asking; any other workspace keeps ROOT's conventions."""
    spec = json.loads((workspaces_dir / "pyhs3/simplemodel_uncorrelated-background_hifa.json").read_text())
    ws = Workspace.from_pyhf(spec)
    assert ws.default_conventions == "pyhf"
    again = Workspace.load(ws.to_dict())
    assert again.default_conventions == "pyhf"
    model = pyhf.Workspace(spec).model()
    data = pyhf.Workspace(spec).data(model)
    ref = -float(model.logpdf(model.config.suggested_init(), data)[0])
    assert again.likelihood().nll() == pytest.approx(ref, rel=1e-10)
    assert again.likelihood(conventions="root").nll() != pytest.approx(ref, rel=1e-6)
    assert Workspace.load(workspaces_dir / "HS3.jl/rf515_hfJSON_3.json").default_conventions == "root"
