"""The command line: output and exit codes of validate, info and fit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pyhs3_lab.cli import main

META = {"hs3_version": "0.2"}


def good_ws(n_likelihoods: int = 1) -> dict[str, Any]:
    x = np.random.default_rng(2).normal(0.5, 1.0, 100)
    liks = [{"name": f"L{i}", "distributions": ["g"], "data": ["d"]} for i in range(n_likelihoods)]
    return {
        "metadata": {**META, "packages": [{"name": "ROOT", "version": "6.40.00"}]},
        "distributions": [{"name": "g", "type": "gaussian_dist", "x": "x", "mean": "mu", "sigma": "sigma"}],
        "data": [{"name": "d", "type": "unbinned", "entries": [[float(v)] for v in x],
                  "axes": [{"name": "x", "min": -5.0, "max": 5.0}]}],
        "likelihoods": liks,
        "domains": [{"name": "default_domain", "type": "product_domain", "axes": [
            {"name": "mu", "min": -3, "max": 3}, {"name": "sigma", "min": 0.1, "max": 5}]}],
        "parameter_points": [{"name": "default_values", "parameters": [
            {"name": "mu", "value": 0.0}, {"name": "sigma", "value": 1.0, "const": False}]}],
    }


def write(tmp_path: Path, name: str, doc: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_validate_good_and_bad(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "good.json", good_ws())
    bad_doc = good_ws()
    bad_doc["distributions"][0].pop("sigma")
    bad_doc["data"][0]["entries"][3] = ["a"]
    bad_doc["likelihoods"][0]["data"] = ["nodata"]
    bad = write(tmp_path, "bad.json", bad_doc)
    assert main(["validate", good]) == 0
    assert capsys.readouterr().out == f"{good}: OK\n"
    assert main(["validate", good, bad]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{good}: OK"
    assert out[1] == f"{bad}: 2 problems"
    assert out[2] == ("  error: distributions[0].sigma (object 'g'): gaussian_dist 'g' has no field 'sigma'; "
                      "expected a parameter/function name or a number")
    assert out[3].startswith("  error: data[0].entries[3] (object 'd'): unbinned data 'd': entry is a list")


def test_validate_reports_likelihood_problems_and_unsupported_types(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    doc = good_ws()
    doc["data"][0]["axes"][0]["name"] = "y"
    doc["distributions"].append({"name": "w", "type": "weird_dist", "x": "x"})
    path = write(tmp_path, "axes.json", doc)
    assert main(["validate", path]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: 1 problem (1 warning)"
    assert "data 'd' (data[0]) has axes ['y'], but distribution 'g' does not depend on ['y']" in out[1]
    assert out[2].startswith("  warning: distributions[1] (object 'w'): HS3 type 'weird_dist' is not supported")


def test_validate_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    assert main(["validate", str(path), str(tmp_path / "missing.json")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: 1 problem"
    assert "not valid JSON" in out[1]
    assert "no such file" in out[3]


def test_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = good_ws(2)
    doc["analyses"] = [{"name": "A", "likelihood": "L0", "parameters_of_interest": ["mu"],
                        "domains": ["default_domain"], "init": "default_values"}]
    path = write(tmp_path, "ws.json", doc)
    assert main(["info", path]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[:6] == [
        path,
        "  hs3_version: 0.2",
        "  written by: ROOT 6.40.00",
        "distributions (1): gaussian_dist×1",
        "functions (0): -",
        "data (1):",
    ]
    assert "  d: unbinned, 100 entries; axes x [-5, 5]" in out
    assert ("parameters (3):\n"
            "  name   value  min  max  const        role\n"
            "  x          0   -5    5         observable\n"
            "  mu         0   -3    3          parameter\n"
            "  sigma      1  0.1    5          parameter\n") in out
    assert "likelihoods (2):\n  L0: g | d\n  L1: g | d\n" in out
    assert "analyses (1):\n  A: likelihood L0; POIs mu; domains default_domain; init default_values\n" in out


def test_fit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "ws.json", good_ws())
    assert main(["fit", path, "--minos", "mu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: L0"
    assert out[1].startswith("FitResult (valid: converged): fval = ")
    assert out[2].split() == ["parameter", "value", "error", "minos-", "minos+"]
    mu_row = out[3].split()
    assert mu_row[0] == "mu"
    assert float(mu_row[3]) < 0 < float(mu_row[4])
    assert main(["fit", path, "--fix", "sigma=1.0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].split() == ["sigma", "1", "fixed"]


def test_fit_needs_a_choice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # two likelihoods on the same distribution: alternatives, the user must choose
    path = write(tmp_path, "ws.json", good_ws(2))
    assert main(["fit", path]) == 1
    assert capsys.readouterr().out == (
        f"error: {path} has 2 likelihoods ['L0', 'L1'] on the same distributions (alternatives, not channels) "
        "and 0 analyses []; choose with --likelihood NAME (repeat it to sum several), --all-likelihoods or "
        "--analysis NAME\n")
    assert main(["fit", path, "--likelihood", "L0", "--likelihood", "L1"]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: L0+L1\n")
    assert main(["fit", path, "--all-likelihoods"]) == 0
    capsys.readouterr()
    assert main(["fit", path, "--likelihood", "L0", "--fix", "sigma"]) == 1
    assert capsys.readouterr().out == "error: --fix 'sigma': expected NAME=VALUE, e.g. --fix lumi=1.0\n"
    assert main(["fit", path, "--likelihood", "nope"]) == 1
    assert "no likelihood named ['nope']" in capsys.readouterr().out


def test_fit_sums_one_likelihood_per_channel(workspaces_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the pyhs3-benchmarks files: one likelihood per channel, no analysis; the Explorer fits their sum, so does fit
    path = str(workspaces_dir / "pyhs3-benchmarks" / "3ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json")
    assert main(["fit", path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("note: no --likelihood given: fitting the sum of the 3 likelihoods (they share no "
                      "distribution: one per channel)")
    assert out[1].startswith(f"{path}: ")
    fval = float(out[2].split("fval = ")[1].split(",")[0])
    assert main(["fit", path, "--all-likelihoods"]) == 0
    out_all = capsys.readouterr().out.splitlines()
    assert out_all[0] == out[1]  # the same likelihood: the same name and the same minimum
    assert float(out_all[1].split("fval = ")[1].split(",")[0]) == pytest.approx(fval, abs=1e-6)


def test_fit_without_likelihood(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = good_ws()
    del doc["likelihoods"]
    path = write(tmp_path, "ws.json", doc)
    assert main(["fit", path]) == 1
    assert capsys.readouterr().out == (
        f"error: {path} has no likelihood to fit (a likelihood pairs distributions with data); "
        "`pyhs3-lab info` shows what it holds\n")


def test_fit_invalid_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "ws.json", good_ws())
    # MINOS on a parameter that is fixed: a usage error, exit 1
    assert main(["fit", path, "--fix", "mu=0", "--minos", "mu"]) == 1
    assert "MINOS was asked for ['mu']" in capsys.readouterr().out


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_real_files(workspaces_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(workspaces_dir / "HS3.jl" / "test_gg" / "test_gg_unbinned_gauss.json")
    assert main(["validate", path]) == 0
    assert main(["info", path]) == 0
    assert main(["fit", path]) == 0
    out = capsys.readouterr().out
    assert "channel_observed: likelihood channel_observed; POIs mu" in out


def test_pyhf_files_are_recognised(workspaces_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(workspaces_dir / "pyhs3" / "simplemodel_uncorrelated-background_hifa.json")
    assert main(["validate", path]) == 1  # not an HS3 file
    assert "note: this is a pyhf workspace, not HS3" in capsys.readouterr().out
    assert main(["fit", path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: a pyhf workspace, converted to HS3 (evaluated with pyhf's conventions)"
    # pyhf's own minimum: -log L = 12.491968 (twice_nll / 2 of pyhf.infer.mle.fit)
    fval = float(out[2].split("fval = ")[1].split(",")[0])
    assert fval == pytest.approx(12.4919676, abs=1e-5)
    # info lists the values the converted model is evaluated with (pyhf's shapesys τ = (n/σ)² = 277.78)
    assert main(["info", path]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:] if line.strip()}
    assert float(rows["nom_uncorr_bkguncrt_0"][1]) == pytest.approx((50.0 / 3.0) ** 2, rel=1e-5)



def test_dumped_pyhf_conversions_keep_pyhf_conventions(workspaces_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from pyhs3_lab import Workspace

    dumped = tmp_path / "converted.json"
    Workspace.from_pyhf(workspaces_dir / "pyhs3" / "simplemodel_uncorrelated-background_hifa.json").dump(dumped)
    assert main(["fit", str(dumped)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{dumped}: converted from pyhf by pyhs3_lab (evaluated with pyhf's conventions)"
    fval = float(out[2].split("fval = ")[1].split(",")[0])
    assert fval == pytest.approx(12.4919676, abs=1e-5)  # pyhf's own minimum, as for the pyhf file


def test_old_layout_pyhf_files_are_recognised(workspaces_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the older pyhf layout: "data" is an object {channel: counts}, measurements under "toplvl"
    path = str(workspaces_dir / "flatppl-rust" / "multichan_old.json")
    assert main(["validate", path]) == 1  # not an HS3 file
    assert "note: this is a pyhf workspace, not HS3" in capsys.readouterr().out
    assert main(["info", path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: a pyhf workspace, converted to HS3 (evaluated with pyhf's conventions)"
    assert "data is an object" not in "\n".join(out)


def test_validate_evaluates_each_likelihood(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = good_ws()
    doc["parameter_points"][0]["parameters"] = [{"name": "mu", "value": 0.0}]
    doc["domains"][0]["axes"] = [{"name": "mu", "min": -3, "max": 3}]  # sigma: no value, no range
    path = write(tmp_path, "novalue.json", doc)
    assert main(["validate", path]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}: 1 problem"
    assert out[1].startswith("  error: likelihoods[0] (likelihood 'L0'): parameter(s) ['sigma'] have no value")
    far = good_ws()
    far["data"][0]["entries"] = [[9.0]]  # outside the axis range [-5, 5]: the density is 0 there
    path = write(tmp_path, "far.json", far)
    main(["validate", path])
    assert "warning: likelihoods[0] (likelihood 'L0'): the NLL is" in capsys.readouterr().out


def test_closed_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    # `pyhs3-lab info FILE | head -1`: the reader has gone before the output is written
    path = write(tmp_path, "ws.json", good_ws())
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-m", "pyhs3_lab.cli", "info", path], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait() == 1
    assert err == ""


def test_fit_leaves_the_strategy_to_fit_unless_asked() -> None:
    # pyhs3_lab.fit.fit(strategy=None) chooses (large HistFactory fits: Newton start, strategy 0, analytic
    # covariance); the command line passes None unless --strategy is given
    from pyhs3_lab.cli import build_parser

    assert build_parser().parse_args(["fit", "ws.json"]).strategy is None
    assert build_parser().parse_args(["fit", "ws.json", "--strategy", "2"]).strategy == 2
