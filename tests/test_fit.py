"""Fits, FitResult, profiles: against closed-form maximum-likelihood results."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import pyhs3_lab
from pyhs3_lab.errors import FitError
from pyhs3_lab.fit import NLL, FitResult

META = {"hs3_version": "0.2"}


def normal_ws(x: np.ndarray, *, constraint: bool = False) -> pyhs3_lab.Workspace:
    dists: list[dict[str, Any]] = [{"name": "g", "type": "gaussian_dist", "x": "x", "mean": "mu", "sigma": "sigma"}]
    lik: dict[str, Any] = {"name": "L", "distributions": ["g"], "data": ["d"]}
    if constraint:
        dists.append({"name": "c", "type": "gaussian_dist", "x": "nom_mu", "mean": "mu", "sigma": 0.1})
        lik["aux_distributions"] = ["c"]
    return pyhs3_lab.Workspace(
        metadata=META, distributions=dists,
        data=[{"name": "d", "type": "unbinned", "entries": [[float(v)] for v in x],
               "axes": [{"name": "x", "min": -60.0, "max": 60.0}]}],
        likelihoods=[lik],
        analyses=[{"name": "A", "likelihood": "L", "parameters_of_interest": ["mu"], "domains": ["default_domain"],
                   "init": "default_values"}],
        domains=[{"name": "default_domain", "type": "product_domain", "axes": [
            {"name": "mu", "min": -10, "max": 10}, {"name": "sigma", "min": 0.05, "max": 20},
            {"name": "nom_mu", "min": -10, "max": 10}]}],
        parameter_points=[{"name": "default_values", "parameters": [
            {"name": "mu", "value": 0.0}, {"name": "sigma", "value": 1.0}, {"name": "nom_mu", "value": 0.0}]}])


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(5).normal(1.3, 2.1, 400)


def test_fit_recovers_closed_form_mle(x: np.ndarray) -> None:
    lik = normal_ws(x).likelihood()
    res = lik.fit(minos=["mu"], tolerance=1e-4)  # tight, to compare the minimum with the closed form
    n = x.size
    s = float(np.std(x))  # the MLE of sigma (ddof=0)
    assert res.valid, res.message
    assert res.parameters == ("mu", "sigma")
    assert res.values["mu"] == pytest.approx(np.mean(x), abs=1e-3 * s / math.sqrt(n))
    assert res.values["sigma"] == pytest.approx(s, rel=1e-4)
    assert res.errors["mu"] == pytest.approx(s / math.sqrt(n), rel=2e-3)
    assert res.errors["sigma"] == pytest.approx(s / math.sqrt(2 * n), rel=2e-3)
    lo, hi = res.minos_errors["mu"]
    assert lo == pytest.approx(-s / math.sqrt(n), rel=5e-3)
    assert hi == pytest.approx(s / math.sqrt(n), rel=5e-3)
    assert res.covariance.shape == (2, 2)
    assert res.correlation[0, 0] == pytest.approx(1.0)
    assert abs(res.correlation[0, 1]) < 0.05  # mean and width are uncorrelated for a Gaussian
    assert res.fval == pytest.approx(lik.nll(res.values))
    assert res.nfcn > 0
    assert res.edm < 1e-3
    assert res.minuit is not None


def test_fixed_parameters_and_constraint(x: np.ndarray) -> None:
    lik = normal_ws(x, constraint=True).likelihood()
    res = lik.fit(fixed={"sigma": 2.0}, tolerance=1e-4)
    assert res.parameters == ("mu",)
    assert res.values["sigma"] == 2.0
    assert res.errors["sigma"] == 0.0
    # Gaussian likelihood times Gaussian constraint (nom_mu = 0, width 0.1): a precision-weighted mean
    w_data, w_c = x.size / 4.0, 1 / 0.01
    expect = (w_data * np.mean(x)) / (w_data + w_c)
    assert res.values["mu"] == pytest.approx(expect, abs=1e-4)
    assert res.errors["mu"] == pytest.approx(1 / math.sqrt(w_data + w_c), rel=2e-3)
    assert "nom_mu" not in res.parameters  # a global observable never floats
    fixed_at_start = lik.fit(fixed=["sigma"])
    assert fixed_at_start.values["sigma"] == 1.0


def test_abort_cancels(x: np.ndarray) -> None:
    calls = {"n": 0}

    def abort() -> bool:
        calls["n"] += 1
        return calls["n"] > 5

    res = normal_ws(x).likelihood().fit(abort=abort)
    assert not res.valid
    assert res.message == "cancelled"


def test_not_converged_is_reported(x: np.ndarray) -> None:
    res = normal_ws(x).likelihood().fit(ncall=3, minos=["mu"])
    assert not res.valid
    assert "call limit" in res.message or "EDM" in res.message
    assert "MINOS not run (the fit is not valid)" in res.message
    assert res.minos_errors == {}


def test_fit_errors(x: np.ndarray) -> None:
    lik = normal_ws(x).likelihood()
    with pytest.raises(FitError, match=r"cannot fix unknown parameter\(s\) \['nope'\]"):
        lik.fit(fixed={"nope": 1.0})
    with pytest.raises(FitError, match=r"MINOS was asked for \['sigma'\], which do not float"):
        lik.fit(fixed={"sigma": 1.0}, minos="sigma")
    with pytest.raises(FitError, match="cannot profile 'nom_mu'"):
        lik.profile("nom_mu", [0.0, 1.0])



def test_arguments_that_are_not_numbers_are_fit_errors(x: np.ndarray) -> None:
    lik = normal_ws(x).likelihood()
    with pytest.raises(FitError, match=r"the fixed value of 'sigma' is 'wide'; expected a number"):
        lik.fit(fixed={"sigma": "wide"})
    with pytest.raises(FitError, match=r"the start value of 'mu' is 'a'; expected a number"):
        lik.fit(values={"mu": "a"})
    with pytest.raises(FitError, match=r"limits\['mu'\] is \(0.0,\); expected a pair \(lo, hi\)"):
        lik.fit(limits={"mu": (0.0,)})
    with pytest.raises(FitError, match=r"limits\['mu'\] is 3; expected a pair"):
        lik.fit(limits={"mu": 3})  # type: ignore[dict-item]
    with pytest.raises(FitError, match=r"the lower limit of 'mu' is 'a'; expected a number"):
        lik.fit(limits={"mu": ("a", 1.0)})  # type: ignore[dict-item]
    with pytest.raises(FitError, match=r"the points of the profile of 'mu' are 'abc'; expected numbers"):
        lik.profile("mu", "abc")  # type: ignore[arg-type]


def test_nll_follows_iminuit_protocol(x: np.ndarray) -> None:
    from iminuit import Minuit

    lik = normal_ws(x).likelihood()
    nll = NLL(lik, ["mu", "sigma"])
    assert nll.errordef == 0.5
    assert nll._parameters == {"mu": (-10.0, 10.0), "sigma": (0.05, 20.0)}
    m = Minuit(nll, np.array([0.0, 1.0]))
    assert m.parameters == ("mu", "sigma")
    assert m.limits["sigma"] == (0.05, 20.0)
    assert nll(np.array([0.5, 1.5])) == pytest.approx(lik.nll(mu=0.5, sigma=1.5))


def test_profile_is_parabola_for_gaussian_mean(x: np.ndarray) -> None:
    lik = normal_ws(x).likelihood()
    grid = np.linspace(0.9, 1.7, 9)
    prof = lik.profile("mu", grid, fixed={"sigma": 2.1})
    assert prof.valid.all()
    expect = (grid - np.mean(x)) ** 2 / (2.1**2 / x.size)  # exact for a Gaussian mean, known width
    np.testing.assert_allclose(prof.two_delta_nll, expect, atol=2e-6)
    assert set(prof.fitted) == set()  # nothing else floats
    prof2 = lik.profile("mu", grid, tolerance=1e-4)
    assert set(prof2.fitted) == {"sigma"}
    # sigma profiled: its fitted value is the RMS around the scanned mean
    rms = np.sqrt(np.mean((x[None, :] - grid[:, None]) ** 2, axis=1))
    np.testing.assert_allclose(prof2.fitted["sigma"], rms, rtol=1e-4)
    lo, hi = prof2.interval(1.0)
    assert lo < prof2.minimum < hi


def test_analysis_fit(x: np.ndarray) -> None:
    ana = normal_ws(x).analysis("A")
    res = ana.fit()
    assert res.valid
    assert res.values["mu"] == pytest.approx(np.mean(x), abs=1e-3)
    prof = ana.profile(values=np.array([1.0, 1.3]))
    assert prof.poi == "mu"


GOLDEN_TEXT = """\
FitResult (valid: converged): fval = 123.4567891, edm = 1.23e-05, nfcn = 42
  parameter    value     error    minos-   minos+
  mu             1.2  0.345679  -0.33333  +0.3501
  sigma      2.01234  0.111111
  lumi             1     fixed
  nom_a            0     const"""


def golden_result(valid: bool = True) -> FitResult:
    cov = np.array([[0.345679**2, 0.0], [0.0, 0.111111**2]])
    return FitResult(
        parameters=("mu", "sigma"),
        values={"mu": 1.2, "sigma": 2.0123443, "lumi": 1.0, "nom_a": 0.0},
        errors={"mu": 0.3456789, "sigma": 0.1111111, "lumi": 0.0, "nom_a": 0.0},
        minos_errors={"mu": (-0.33333, 0.3501)},
        covariance=cov, correlation=np.eye(2), fval=123.45678912, edm=1.23e-5, nfcn=42, valid=valid,
        message="converged" if valid else "call limit reached", fixed=("lumi",))


def test_fit_result_text_repr() -> None:
    assert str(golden_result()) == GOLDEN_TEXT
    assert repr(golden_result()) == GOLDEN_TEXT
    assert str(golden_result(False)).splitlines()[0] == (
        "FitResult (INVALID: call limit reached): fval = 123.4567891, edm = 1.23e-05, nfcn = 42")


def test_fit_result_html_repr() -> None:
    out = golden_result()._repr_html_()
    assert out.startswith('<table class="pyhs3-lab-fit"><caption style="background:#c8eec8">FitResult (valid: '
                          "converged): fval = 123.4567891, edm = 1.23e-05, nfcn = 42</caption>")
    assert ("<tr><td>mu</td><td>1.2</td><td>0.345679</td><td>-0.33333</td><td>+0.3501</td></tr>"
            "<tr><td>sigma</td><td>2.01234</td><td>0.111111</td><td></td><td></td></tr>"
            "<tr><td>lumi</td><td>1</td><td>fixed</td><td></td><td></td></tr>") in out
    assert out.endswith("</tbody></table>")
    assert "#f5c6c6" in golden_result(False)._repr_html_()


def test_fit_result_is_frozen() -> None:
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        golden_result().fval = 1.0  # type: ignore[misc]


def test_profile_with_an_executor_equals_serial(x: np.ndarray) -> None:
    from concurrent.futures import ThreadPoolExecutor

    lik = normal_ws(x).likelihood()
    grid = np.linspace(0.9, 1.7, 5)
    serial = lik.profile("mu", grid, tolerance=1e-5)
    with ThreadPoolExecutor(2) as ex:
        parallel = lik.profile("mu", grid, executor=ex, tolerance=1e-5)
    np.testing.assert_allclose(parallel.two_delta_nll, serial.two_delta_nll, atol=1e-5)
    np.testing.assert_allclose(parallel.fitted["sigma"], serial.fitted["sigma"], rtol=1e-4)
    assert parallel.valid.all()


@pytest.mark.pyhf
@pytest.mark.filterwarnings("ignore:(Accessing )?jsonschema:DeprecationWarning")  # pyhf's use of jsonschema
def test_histfactory_fit_matches_pyhf(workspaces_dir: Any) -> None:
    import json

    pyhf = pytest.importorskip("pyhf")
    from scipy import special

    spec = json.loads((workspaces_dir / "pyhs3" / "simplemodel_uncorrelated-background_hifa.json").read_text())
    pws = pyhf.Workspace(spec)
    model = pws.model()
    data = pws.data(model)
    best, twice_nll = pyhf.infer.mle.fit(data, model, return_fitted_val=True)
    ws = pyhs3_lab.Workspace.load(workspaces_dir / "pyhs3" / "simplemodel_uncorrelated-background_hs3.json")
    lik = ws.likelihood("simPdf_obsData", conventions="pyhf")
    res = lik.fit(tolerance=1e-6)
    n = np.array([51.0, 48.0])
    # pyhf keeps lgamma(n+1) of the main Poisson terms; RooFit (and our default) does not for untagged channels
    assert res.fval + special.gammaln(n + 1).sum() == pytest.approx(float(twice_nll) / 2, abs=1e-6)
    assert res.values["uncorr_bkguncrt_0"] == pytest.approx(best[1], abs=2e-4)
    assert res.values["uncorr_bkguncrt_1"] == pytest.approx(best[2], abs=2e-4)
    assert res.values["mu"] == pytest.approx(best[0], abs=1e-4)


def test_progress_bar(x: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    lik = normal_ws(x).likelihood()
    prof = lik.profile("mu", np.linspace(1.0, 1.4, 4), progress=True)
    assert prof.valid.all()
    err = capsys.readouterr().err
    assert "profile mu" in err
    assert "4/4" in err


def test_profile_point_that_cannot_be_evaluated_is_invalid() -> None:
    # ν = mu + 10 events: the NLL is not finite for mu <= -10
    ws = pyhs3_lab.Workspace(
        metadata=META,
        distributions=[{"name": "m", "type": "mixture_dist", "summands": ["g", "g2"], "coefficients": ["mu", "b"],
                        "extended": True},
                       {"name": "g", "type": "gaussian_dist", "x": "x", "mean": 0.0, "sigma": 1.0},
                       {"name": "g2", "type": "gaussian_dist", "x": "x", "mean": 0.0, "sigma": 1.0}],
        data=[{"name": "d", "type": "unbinned", "entries": [[0.0]] * 12, "axes": [{"name": "x", "min": -5, "max": 5}]}],
        likelihoods=[{"name": "L", "distributions": ["m"], "data": ["d"]}],
        domains=[{"name": "default_domain", "type": "product_domain", "axes": [{"name": "mu", "min": -20, "max": 20}]}],
        parameter_points=[{"name": "default_values", "parameters": [
            {"name": "mu", "value": 1.0}, {"name": "b", "value": 10.0, "const": True}]}])
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = ws.likelihood().profile("mu", [-15.0, 2.0])
    assert prof.valid.tolist() == [False, True]
    assert math.isnan(prof.two_delta_nll[0])
    assert prof.two_delta_nll[1] == pytest.approx(0.0, abs=1e-6)  # μ̂ = 12 - 10 = 2


def test_to_dict_is_json(x: np.ndarray) -> None:
    import json

    out = golden_result().to_dict()
    assert out["values"] == {"mu": 1.2, "sigma": 2.0123443, "lumi": 1.0, "nom_a": 0.0}
    assert out["minos_errors"] == {"mu": [-0.33333, 0.3501]}
    assert out["fixed"] == ["lumi"]
    assert json.loads(json.dumps(out)) == out
    prof = normal_ws(x).likelihood().profile("mu", [1.0, 1.2])
    d = prof.to_dict()
    assert d["poi"] == "mu"
    assert d["two_delta_nll"] == pytest.approx(prof.two_delta_nll.tolist())
    assert json.loads(json.dumps(d)) == d


def test_error_wall_outside_the_models_domain(workspaces_dir: Any) -> None:
    # MIGRAD steps where the mixture's weights sum below zero at some events (ROOT's NLL is NaN there):
    # those evaluations are rejected with a wall and the fit still converges
    ws = pyhs3_lab.Workspace.load(workspaces_dir / "HS3.jl" / "test_gg" / "test_gg_unbinned_mixture_not_extended.json")
    lik = ws.likelihood()
    res = lik.fit()
    assert res.valid
    assert "outside the model's domain rejected" in res.message
    assert math.isfinite(res.fval)
    assert res.fval == pytest.approx(lik.nll(res.values))
    nll = NLL(lik, lik.floating)
    nll.max_finite = 10.0
    bad = np.array([res.values[n] for n in lik.floating])
    bad[list(lik.floating).index("a0")] = -5.0  # the density is negative away from the narrow summand
    assert nll(bad) == pytest.approx(10.0 + 1e3 + 10.0)
    assert nll.n_invalid == 1


def test_limits_for_one_fit(x: np.ndarray) -> None:
    lik = normal_ws(x).likelihood()
    res = lik.fit(limits={"mu": (-1.0, 0.5)})
    assert res.values["mu"] == pytest.approx(0.5, abs=1e-3)  # the MLE (about 1.2) is above the limit
    assert "at its limit" in res.message
    assert lik.bounds("mu") == (-10.0, 10.0)  # the likelihood is unchanged
    with pytest.raises(FitError, match=r"empty limits \{'mu': \(1.0, 1.0\)\}"):
        lik.fit(limits={"mu": (1.0, 1.0)})


def test_profile_of_other_data_through_an_executor(x: np.ndarray) -> None:
    from concurrent.futures import ThreadPoolExecutor

    lik = normal_ws(x).likelihood()
    other = lik.with_data(lik.sample(1, params={"mu": 3.0}, seed=2)[0])
    grid = np.array([2.8, 3.0, 3.2])
    serial = other.profile("mu", grid, tolerance=1e-5)
    with ThreadPoolExecutor(2) as ex:  # the workers rebuild the likelihood with the same pseudo-data
        parallel = other.profile("mu", grid, executor=ex, tolerance=1e-5)
    np.testing.assert_allclose(parallel.nll, serial.nll, rtol=1e-9)
