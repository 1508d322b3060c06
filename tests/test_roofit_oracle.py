"""pyhs3_lab against RooFit (CERN ROOT 6.40 from PyPI), the reference implementation of HS3.

ROOT's numbers come from ``tests/roofit_oracle.py``, run in subprocesses (ROOT can crash on invalid
files), all files once per test session, two processes in parallel; the answers are kept in the
session's temporary directory (``roofit/*.jsonl``), never committed. See that script for how the
NLLs are built (roofit-reference.md §1) and which points are compared.

Tolerances, relative to ``max(|NLL_ROOT|, 1)``:

* ``1e-8`` where ROOT normalises analytically;
* ``1e-5`` for likelihoods where ROOT integrates numerically (the oracle lists the pdfs:
  ``generic_dist``, ``product_dist`` of pdfs in one observable, ARGUS; ROOT's own precision there
  is about 1e-6 relative or worse, roofit-reference.md §2); a few of those files are compared again
  with ROOT's integrator set to 1e-12, at ``1e-8``.

Where ROOT's NLL is NaN there is no reference and the point is not compared: ROOT 6.40 returns NaN
(not +inf) when an event lies where the density is zero (the HS3.jl ARGUS file: every event above
the endpoint ``m0``), and when RooAddPdf's coefficients sum above 1 even if the density stays positive
(``test_gg_unbinned_mixture_not_extended`` with ``a0`` moved up).

Fits (Minuit2 in ROOT, iminuit here, both with tolerance 1e-5, i.e. EDM < 1e-8) agree when each
value is within ``1e-3`` of its error and each error within 1 %, and the minimum NLLs within 1e-3.
Fits where ROOT does not converge with a full covariance, or ends with a parameter at its limit
(a per-channel likelihood of pyhs3-benchmarks without the shared constraint), are not compared.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from shared_paths import WORKSPACES, workspace_files

pytestmark = pytest.mark.roofit

ORACLE = Path(__file__).with_name("roofit_oracle.py")
RTOL_ANALYTIC = 1e-8
RTOL_NUMERIC = 1e-5
FIT_TOLERANCE = 1e-5  # the same as roofit_oracle.FIT_TOLERANCE

#: files ROOT 6.40 cannot read, with the reason the oracle must report (roofit-reference.md)
ROOT_CANNOT_READ = {
    "pyhs3/combine_long_exercise_part1_nosys.json": "no handling for type 'CMS::",
}

#: files where ROOT integrates numerically, compared once more with ROOT's integrator at 1e-12
TIGHT_FILES = [
    "HS3.jl/test_gg/test_gg_unbinned_generic.json",
    "HS3.jl/test_gg/test_gg_unbinned_product.json",
    "pyhs3-benchmarks/3ch_bkgGenExp_sigGeneric_shapeFloat_npOn_constrGauss_yield1x.json",
    "pyhs3-benchmarks/10ch_bkgRooExp_sigGeneric_shapeFloat_npOff_constrGauss_yield1x.json",
]

#: files whose likelihoods are also fitted by both
FIT_FILES = [
    "pyhs3-benchmarks/1ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json",
    "pyhs3-benchmarks/10ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json",
    "HS3.jl/rf515_hfJSON_3.json",
    "pyhs3/simplemodel_correlated-background_hs3.json",
    "HS3.jl/test_gg/test_gg_unbinned_lognormal.json",
    "HS3.jl/test_gg/test_gg_binned_gauss.json",
]


def _rel(path: Path) -> str:
    return path.relative_to(WORKSPACES).as_posix()


FILES = workspace_files()


def _root_importable() -> str | None:
    """None if ``import ROOT`` works in a subprocess, else the reason."""
    try:
        proc = subprocess.run([sys.executable, "-c", "import ROOT; ROOT.RooJSONFactoryWSTool"],
                              capture_output=True, text=True, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        return "`import ROOT` took more than 300 s"
    if proc.returncode != 0:
        lines = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return f"`import ROOT` fails ({lines}); install it with `pip install root` (./dev.sh does)"
    return None


def _run_oracle(files: list[str], fits: set[str], env: dict[str, str],
                extra: tuple[str, ...] = ()) -> tuple[dict[str, Any], int, str]:
    args = [sys.executable, str(ORACLE), *extra]
    for f in files:
        args += ["--fit", f] if f in fits else [f]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=1200, env=env, check=False)
    out = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            out[rec["file"]] = rec
    return out, proc.returncode, proc.stderr[-2000:]


def _oracle_answers(files: list[str], fits: set[str], cache: Path) -> dict[str, Any]:
    """ROOT's answers for ``files``: two batches in parallel; files of a crashed batch again one by one."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    halves = [files[0::2], files[1::2]]
    answers: dict[str, Any] = {}
    with ThreadPoolExecutor(2) as pool:
        for out, _, _ in pool.map(lambda fs: _run_oracle(fs, fits, env), [h for h in halves if h]):
            answers.update(out)
    for f in files:
        if f in answers:
            continue
        out, rc, err = _run_oracle([f], fits, env)
        answers[f] = out.get(f) or {"file": f, "ok": False,
                                    "error": f"ROOT crashed on this file (exit code {rc}): {err[-300:]}"}
    with (cache / "answers.jsonl").open("w") as fh:
        for rec in answers.values():
            fh.write(json.dumps(rec) + "\n")
    return answers


@pytest.fixture(scope="session")
def roofit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reason = _root_importable()
    if reason is not None:
        pytest.skip(reason)
    cache = tmp_path_factory.mktemp("roofit")
    fits = {str(WORKSPACES / f) for f in FIT_FILES}
    return _oracle_answers([str(f) for f in FILES], fits, cache)


@pytest.fixture(scope="session")
def roofit_tight() -> dict[str, Any]:
    """ROOT's answers for TIGHT_FILES with its numerical integration at 1e-12 (absolute and relative)."""
    reason = _root_importable()
    if reason is not None:
        pytest.skip(reason)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out, rc, err = _run_oracle([str(WORKSPACES / f) for f in TIGHT_FILES], set(), env, ("--eps", "1e-12"))
    assert len(out) == len(TIGHT_FILES), f"the oracle stopped (exit code {rc}): {err}"
    return out


def _root_file(roofit: dict[str, Any], path: Path) -> dict[str, Any]:
    rec: dict[str, Any] = roofit[str(path)]
    if not rec["ok"]:
        expected = ROOT_CANNOT_READ.get(_rel(path))
        if expected is not None and expected in rec["error"]:
            pytest.skip(f"ROOT cannot read this file: {rec['error']}")
        pytest.fail(f"ROOT could not evaluate {_rel(path)}: {rec['error']}")
    if not rec["likelihoods"]:
        doc = json.loads(path.read_text())
        assert not doc.get("likelihoods"), "ROOT found no likelihood in a file that has some"
        assert not doc.get("data"), "ROOT paired no data with a pdf in a file that has data"
        pytest.skip("the file has no data, hence no likelihood")
    return rec


def _num(x: float | str) -> float:
    return float(x)


def _ours(path: Path, lik: dict[str, Any]) -> Any:
    import pyhs3_lab

    ws = pyhs3_lab.Workspace.load(path)
    if lik["kind"] == "simultaneous":
        return ws.likelihood(lik["components"])
    return ws.likelihood(lik["name"])


def _disagreements(path: Path, lik: dict[str, Any], tight: bool = False) -> Iterator[str]:
    where = f"{_rel(path)} [{lik['name']}]"
    if "error" in lik:
        yield f"{where}: the oracle failed: {lik['error']}"
        return
    if lik["kind"] == "simultaneous" and not lik["components"]:
        return  # a RooSimultaneous that no set of HS3 likelihoods spells out: nothing of ours to compare
    rtol = RTOL_NUMERIC if lik["numeric_integrals"] and not tight else RTOL_ANALYTIC
    try:
        ours = _ours(path, lik)
    except Exception as exc:
        yield f"{where}: pyhs3_lab cannot build it: {type(exc).__name__}: {exc}"
        return
    for point in lik["points"]:
        ref = _num(point["nll"])
        if math.isnan(ref):
            continue  # no reference (see the module docstring)
        try:
            if lik["kind"] == "simultaneous":
                got = float(ours.nll(point["values"], roofit_simultaneous=True))
            else:
                got = float(ours.nll(point["values"]))
        except Exception as exc:
            yield f"{where} at {point['label']}: pyhs3_lab raised {type(exc).__name__}: {exc}"
            continue
        if not math.isfinite(ref) or not math.isfinite(got):
            if not (ref == got or (math.isnan(ref) and math.isnan(got))):
                yield f"{where} at {point['label']}: ROOT {ref!r}, pyhs3_lab {got!r}"
            continue
        diff = abs(got - ref) / max(abs(ref), 1.0)
        if diff > rtol:
            yield (f"{where} at {point['label']} {point['values']}: ROOT {ref!r}, pyhs3_lab {got!r} "
                   f"(relative {diff:.2e} > {rtol:g})")


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_nll_matches_roofit(roofit: dict[str, Any], path: Path) -> None:
    rec = _root_file(roofit, path)
    if all(math.isnan(_num(p["nll"])) for lik in rec["likelihoods"] for p in lik.get("points", [])):
        pytest.skip("ROOT's NLL is NaN at every point: no reference (see the module docstring)")
    problems = [p for lik in rec["likelihoods"] for p in _disagreements(path, lik)]
    assert not problems, f"{len(problems)} disagreement(s) with RooFit:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", TIGHT_FILES)
def test_numeric_integrals_match_roofit_at_high_precision(roofit_tight: dict[str, Any], name: str) -> None:
    """Where ROOT integrates numerically, the 1e-5 tolerance is ROOT's precision, not ours: with ROOT's
    integrator at 1e-12 the NLLs agree to 1e-8 like analytic ones."""
    path = WORKSPACES / name
    rec = _root_file(roofit_tight, path)
    assert all(lik["numeric_integrals"] for lik in rec["likelihoods"] if "error" not in lik), \
        "ROOT integrates this file analytically: it does not test numerical integration"
    problems = [p for lik in rec["likelihoods"] for p in _disagreements(path, lik, tight=True)]
    assert not problems, f"{len(problems)} disagreement(s) with RooFit at 1e-12:\n" + "\n".join(problems)


def _at_limit(value: float, error: float, par: dict[str, Any]) -> bool:
    return min(abs(value - _num(par["min"])), abs(_num(par["max"]) - value)) < 1e-3 * error


@pytest.mark.parametrize("path", [WORKSPACES / f for f in FIT_FILES], ids=_rel)
def test_fit_matches_roofit(roofit: dict[str, Any], path: Path) -> None:
    rec = _root_file(roofit, path)
    problems = []
    fitted = 0
    for lik in rec["likelihoods"]:
        ref = lik.get("fit")
        if ref is None or (lik["kind"] == "simultaneous" and not lik["components"]):
            continue
        if ref["migrad_status"] != 0 or ref["cov_qual"] != 3:
            continue  # ROOT's own fit did not converge with an accurate covariance: no reference
        if any(_at_limit(ref["values"][n], ref["errors"][n], lik["parameters"][n]) for n in ref["values"]):
            continue  # a parameter at its limit (an unconstrained direction): errors are not comparable
        where = f"{_rel(path)} [{lik['name']}]"
        res = _ours(path, lik).fit(tolerance=FIT_TOLERANCE)
        fitted += 1
        offset = lik["n_events"] * math.log(lik["n_categories"]) if lik["kind"] == "simultaneous" else 0.0
        if abs(res.fval + offset - _num(ref["min_nll"])) > 1e-3:
            problems.append(f"{where}: minimum NLL ROOT {ref['min_nll']!r}, pyhs3_lab {res.fval + offset!r}")
        for name, value in ref["values"].items():
            err = ref["errors"][name]
            got, got_err = res.values.get(name, math.nan), res.errors.get(name, math.nan)
            if not abs(got - value) <= 1e-3 * err:
                problems.append(f"{where}: {name} = {got!r}, ROOT {value!r} ± {err!r} (off by "
                                f"{abs(got - value) / err:.2g} errors)")
            if not abs(got_err - err) <= 0.01 * err:
                problems.append(f"{where}: error of {name} {got_err!r}, ROOT {err!r}")
    assert fitted, "ROOT converged on none of this file's likelihoods: nothing compared"
    assert not problems, f"{len(problems)} disagreement(s) with RooFit's fit:\n" + "\n".join(problems)


def test_oracle_reproduces_the_hs3jl_root_outputs(roofit: dict[str, Any]) -> None:
    """The oracle itself against independent ROOT numbers: HS3.jl's ``root_output`` column (MANIFEST.md)."""
    import csv

    checked = 0
    for stem in ("gauss", "gauss_weighted", "lognormal", "crystalball", "bernstein"):
        path = WORKSPACES / "HS3.jl" / "test_gg" / f"test_gg_unbinned_{stem}.json"
        rec = roofit[str(path)]
        assert rec["ok"], rec.get("error")
        (lik,) = rec["likelihoods"]
        default = next(p for p in lik["points"] if p["label"] == "default")
        with (WORKSPACES / "HS3.jl" / "test_gg" / "reference_csv" / f"test_gg_unbinned_{stem}.csv").open() as fh:
            rows = list(csv.DictReader(fh))
        # a scan row (param_name, param_value, root_output) at the default value is ROOT's NLL at the default point
        for row in rows:
            name = row["param_name"]
            if name in default["values"] and math.isclose(float(row["param_value"]), default["values"][name],
                                                          rel_tol=0, abs_tol=1e-12):
                assert float(row["root_output"]) == pytest.approx(_num(default["nll"]), rel=1e-9, abs=1e-9), stem
                checked += 1
                break
    assert checked >= 3, f"found the default point in only {checked} HS3.jl reference tables"
