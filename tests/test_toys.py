"""Pseudo-data, Asimov data, pseudo-experiments and CLs limits."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from scipy import optimize, special, stats

import pyhs3_lab
from pyhs3_lab.errors import LikelihoodError
from pyhs3_lab.toys import ToyStudy, _Sampler1D

META = {"hs3_version": "0.2"}


def mixture_ws(ns: float, nb: float, n_events: int = 10) -> pyhs3_lab.Workspace:
    x = np.linspace(10.5, 19.5, n_events)
    return pyhs3_lab.Workspace(
        metadata=META,
        distributions=[
            {"name": "model", "type": "mixture_dist", "summands": ["sig", "bkg"], "coefficients": ["ns", "nb"],
             "extended": True},
            {"name": "sig", "type": "gaussian_dist", "x": "x", "mean": "m", "sigma": "w"},
            {"name": "bkg", "type": "exponential_dist", "x": "x", "c": "tau"},
            {"name": "cw", "type": "gaussian_dist", "x": "nom_w", "mean": "w", "sigma": 0.1},
        ],
        data=[{"name": "d", "type": "unbinned", "entries": [[float(v)] for v in x],
               "axes": [{"name": "x", "min": 10.0, "max": 20.0}]}],
        likelihoods=[{"name": "L", "distributions": ["model"], "data": ["d"], "aux_distributions": ["cw"]}],
        domains=[{"name": "default_domain", "type": "product_domain", "axes": [
            {"name": "ns", "min": -100, "max": 1000}, {"name": "nb", "min": 0, "max": 5000},
            {"name": "tau", "min": 0.001, "max": 2}, {"name": "w", "min": 0.3, "max": 3},
            {"name": "nom_w", "min": 0.0, "max": 2.0}]}],
        parameter_points=[{"name": "default_values", "parameters": [
            {"name": "ns", "value": ns}, {"name": "nb", "value": nb}, {"name": "tau", "value": 0.3},
            {"name": "m", "value": 15.0, "const": True}, {"name": "w", "value": 1.0},
            {"name": "nom_w", "value": 1.0}]}])


def test_sampler_cdf_is_exact() -> None:
    ws = mixture_ws(100.0, 400.0)
    lik = ws.likelihood()
    full = lik._full_values(lik.values())
    edges = np.linspace(10.0, 20.0, 41)
    s = _Sampler1D(lik.model, "sig", "x", full, "test")
    ref = stats.truncnorm.cdf(edges, -5.0, 5.0, loc=15.0, scale=1.0)
    np.testing.assert_allclose(s.cdf_at(edges), ref, atol=3e-8)
    e = _Sampler1D(lik.model, "bkg", "x", full, "test")
    ref_e = (1 - np.exp(-0.3 * (edges - 10.0))) / (1 - np.exp(-3.0))
    np.testing.assert_allclose(e.cdf_at(edges), ref_e, atol=3e-8)
    # draws follow the distribution (a Kolmogorov-Smirnov test with a fixed seed)
    draws = s.draw(20000, np.random.default_rng(4))
    assert draws.min() >= 10.0
    assert draws.max() <= 20.0
    ks = stats.kstest(draws, lambda v: stats.truncnorm.cdf(v, -5.0, 5.0, loc=15.0, scale=1.0))
    assert ks.pvalue > 1e-3


def test_discrete_sampling_poisson() -> None:
    ws = pyhs3_lab.Workspace(metadata=META, distributions=[
        {"name": "p", "type": "poisson_dist", "x": "k", "mean": "lam"}],
        data=[{"name": "n", "type": "point", "value": 7.0}],
        likelihoods=[{"name": "L", "distributions": ["p"], "data": ["n"]}],
        domains=[{"name": "default_domain", "type": "product_domain", "axes": [{"name": "k", "min": 0, "max": 200},
                                                                               {"name": "lam", "min": 0, "max": 100}]}],
        parameter_points=[{"name": "default_values", "parameters": [{"name": "lam", "value": 6.5}]}])
    lik = ws.likelihood()
    data = lik.sample(4000, seed=9)
    k = np.array([d.density[0][0]["k"][0] for d in data])
    assert np.all(k == np.round(k))
    assert k.mean() == pytest.approx(6.5, abs=4 * math.sqrt(6.5 / 4000))
    assert k.var() == pytest.approx(6.5, rel=0.1)
    # a fit of one toy gives the MLE λ = k
    res = lik.with_data(data[0]).fit()
    assert res.values["lam"] == pytest.approx(k[0], abs=1e-3)


def test_sample_is_reproducible_and_extended_counts_are_poisson() -> None:
    lik = mixture_ws(100.0, 400.0).likelihood()
    a = lik.sample(3, seed=5)
    b = lik.sample(3, seed=5)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.density[0][0]["x"], y.density[0][0]["x"])
        assert x.global_observables == y.global_observables
    assert not np.array_equal(a[0].density[0][0]["x"], a[1].density[0][0]["x"])
    sizes = np.array([d.n_events for d in lik.sample(400, seed=1)])
    assert sizes.mean() == pytest.approx(500.0, abs=4 * math.sqrt(500 / 400))
    assert sizes.var() == pytest.approx(500.0, rel=0.2)
    globs = np.array([d.global_observables["nom_w"] for d in lik.sample(400, seed=2)])
    assert globs.mean() == pytest.approx(1.0, abs=4 * 0.1 / math.sqrt(400))
    assert globs.std() == pytest.approx(0.1, rel=0.15)


def test_asimov_fit_returns_the_generating_values() -> None:
    lik = mixture_ws(100.0, 400.0).likelihood()
    truth = {"ns": 80.0, "nb": 450.0, "tau": 0.25, "w": 1.1}
    data = lik.asimov(truth)
    assert data.asimov
    assert data.global_observables == {"nom_w": 1.1}
    assert data.n_events == pytest.approx(530.0, rel=1e-9)
    res = lik.with_data(data).fit(tolerance=1e-4)
    assert res.valid
    for k, v in truth.items():
        assert res.values[k] == pytest.approx(v, rel=2e-3), k


def test_binned_counts_and_binned_continuous() -> None:
    ws = pyhs3_lab.Workspace(metadata=META, distributions=[
        {"name": "h", "type": "bincounts_extended_dist", "rate": "n", "dist": "e",
         "axes": [{"name": "x", "edges": [0.0, 1.0, 3.0, 6.0]}]},
        {"name": "e", "type": "exponential_dist", "x": "x", "c": 0.4},
        {"name": "g", "type": "gaussian_dist", "x": "y", "mean": "mu", "sigma": 1.0}],
        data=[{"name": "obs", "type": "binned", "contents": [20.0, 15.0, 7.0],
               "axes": [{"name": "x", "edges": [0.0, 1.0, 3.0, 6.0]}]},
              {"name": "hy", "type": "binned", "contents": [5.0, 20.0, 30.0, 5.0],
               "axes": [{"name": "y", "min": -2.0, "max": 2.0, "nbins": 4}]}],
        likelihoods=[{"name": "L", "distributions": ["h", "g"], "data": ["obs", "hy"]}],
        parameter_points=[{"name": "default_values", "parameters": [{"name": "n", "value": 40.0},
                                                                    {"name": "mu", "value": 0.2}]}])
    lik = ws.likelihood()
    toys = lik.sample(3000, seed=3)
    counts = np.array([t.counts[0] for t in toys])
    cdf = 1 - np.exp(-0.4 * np.array([0.0, 1.0, 3.0, 6.0]))
    nu = 40.0 * np.diff(cdf) / cdf[-1]
    assert np.all(np.abs(counts.mean(axis=0) - nu) < 4 * np.sqrt(nu / 3000))
    hy = np.array([t.density[0][1] for t in toys])  # the density terms, then the bin-count terms
    assert np.all(hy.sum(axis=1) == 60.0)  # not extended: the observed total, multinomial
    p = np.diff(stats.truncnorm.cdf([-2.0, -1.0, 0.0, 1.0, 2.0], -2.2, 1.8, loc=0.2))
    assert np.all(np.abs(hy.mean(axis=0) - 60.0 * p) < 4 * np.sqrt(60.0 * p / 3000))
    asimov = lik.asimov()
    np.testing.assert_allclose(asimov.counts[0], nu, rtol=1e-12)
    np.testing.assert_allclose(asimov.density[0][1], 60.0 * p, rtol=1e-6)


@pytest.mark.slow
def test_pulls_are_standard_normal() -> None:
    lik = mixture_ws(150.0, 600.0).likelihood()
    n = 200
    study = lik.toys(n, seed=11)
    assert study.valid.mean() > 0.98
    for name in ("ns", "nb", "tau", "w"):
        mean, width = study.pull_summary()[name]
        assert abs(mean) < 3.5 / math.sqrt(n), (name, mean)
        assert abs(width - 1.0) < 3.5 / math.sqrt(2 * n), (name, width)
    # the generating values are the start values
    assert study.generated["ns"] == 150.0


def test_toys_do_not_depend_on_the_executor() -> None:
    lik = mixture_ws(100.0, 400.0).likelihood()
    serial = lik.toys(6, seed=3)
    with ThreadPoolExecutor(2) as ex:
        parallel = lik.toys(6, seed=3, executor=ex, chunk_size=2)
    for k in serial.values:
        np.testing.assert_array_equal(serial.values[k], parallel.values[k])
    np.testing.assert_array_equal(serial.fval, parallel.fval)


def test_unbounded_observable_and_sampling_errors() -> None:
    ws = pyhs3_lab.Workspace(metadata=META, distributions=[
        {"name": "g", "type": "gaussian_dist", "x": "x", "mean": 0.5, "sigma": 2.0},
        {"name": "h", "type": "gaussian_dist", "x": "y", "mean": 0.0, "sigma": 1.0},
        {"name": "gh", "type": "product_dist", "factors": ["g", "h"]}],
        data=[{"name": "d", "type": "unbinned", "entries": [[0.1], [0.3]], "axes": [{"name": "x"}]},
              {"name": "d2", "type": "unbinned", "entries": [[0.1, 0.2]], "axes": [{"name": "x"}, {"name": "y"}]}],
        likelihoods=[{"name": "L", "distributions": ["g"], "data": ["d"]},
                     {"name": "L2", "distributions": ["gh"], "data": ["d2"]}])
    # x has no range: sampled over the range holding all but e^-60 of the probability
    x = np.concatenate([t.density[0][0]["x"] for t in ws.likelihood("L").sample(5000, seed=1)])
    ks = stats.kstest(x, lambda v: stats.norm.cdf(v, 0.5, 2.0))
    assert ks.pvalue > 1e-3
    with pytest.raises(LikelihoodError, match=r"sampling distribution 'gh' needs exactly one observable, it has "
                                              r"\['x', 'y'\]"):
        ws.likelihood("L2").sample(1)


def test_bad_numbers_of_toys_are_likelihood_errors() -> None:
    lik = mixture_ws(5.0, 20.0).likelihood("L")
    with pytest.raises(LikelihoodError, match=r"n must be an integer >= 0, not -1"):
        lik.toys(-1, seed=1)
    with pytest.raises(LikelihoodError, match=r"n must be an integer >= 0, not 2.5"):
        lik.sample(2.5, seed=1)  # type: ignore[arg-type]
    with pytest.raises(LikelihoodError, match=r"chunk_size must be an integer >= 1, not 0"):
        lik.toys(2, seed=1, chunk_size=0)


# -- upper limits ------------------------------------------------------------------------------


def counting_ws(n_obs: int, b: float) -> pyhs3_lab.Workspace:
    """ν = μ + b events of one shape: a counting experiment (the shape cancels in the NLL)."""
    return pyhs3_lab.Workspace(
        metadata=META,
        distributions=[
            {"name": "model", "type": "mixture_dist", "summands": ["s", "bk"], "coefficients": ["mu", "b"],
             "extended": True},
            {"name": "s", "type": "gaussian_dist", "x": "x", "mean": 0.0, "sigma": 1.0},
            {"name": "bk", "type": "gaussian_dist", "x": "x", "mean": 0.0, "sigma": 1.0},
        ],
        data=[{"name": "d", "type": "unbinned", "entries": [[0.0]] * n_obs,
               "axes": [{"name": "x", "min": -5.0, "max": 5.0}]}],
        likelihoods=[{"name": "L", "distributions": ["model"], "data": ["d"]}],
        domains=[{"name": "default_domain", "type": "product_domain", "axes": [{"name": "mu", "min": 0, "max": 60}]}],
        parameter_points=[{"name": "default_values", "parameters": [
            {"name": "mu", "value": 1.0}, {"name": "b", "value": b, "const": True}]}])


def closed_form_limit(n: int, b: float, cl: float, n_sigma: float | None) -> float:
    """Asymptotic CLs (q̃_μ) for Poisson(n | μ + b), written from the formulas of Cowan et al."""

    def nll(mu: float, k: float) -> float:
        return (mu + b) - k * math.log(mu + b)

    mu_hat = max(n - b, 0.0)

    def cls(mu: float) -> float:
        qa = 2 * (nll(mu, b) - nll(0.0, b))
        if n_sigma is not None:
            return float(special.ndtr(n_sigma - math.sqrt(qa)) / special.ndtr(n_sigma))
        q = 0.0 if mu_hat > mu else 2 * (nll(mu, n) - nll(mu_hat, n))
        ts = (q - qa) / (2 * math.sqrt(qa)) if q > qa else math.sqrt(q) - math.sqrt(qa)
        return float(special.ndtr(-(ts + math.sqrt(qa))) / special.ndtr(-ts))

    lower = 1e-6 if n_sigma is not None else mu_hat + 1e-6
    return float(optimize.brentq(lambda m: cls(m) - (1 - cl), lower, 60.0, xtol=1e-10))


@pytest.mark.parametrize(("n_obs", "b"), [(5, 4.0), (12, 8.0)])
def test_asymptotic_upper_limit_counting(n_obs: int, b: float) -> None:
    lik = counting_ws(n_obs, b).likelihood()
    ul = lik.upper_limit("mu", cl=0.95)
    assert ul.method == "asymptotic"
    assert ul.observed == pytest.approx(closed_form_limit(n_obs, b, 0.95, None), rel=2e-3)
    for got, n_sigma in zip(ul.expected, (-2.0, -1.0, 0.0, 1.0, 2.0), strict=True):
        assert got == pytest.approx(closed_form_limit(n_obs, b, 0.95, n_sigma), rel=2e-3)
    assert ul.expected[0] < ul.expected[2] < ul.expected[4]
    assert "95% CLs upper limit on mu (asymptotic)" in str(ul)


def test_upper_limit_errors() -> None:
    lik = counting_ws(5, 4.0).likelihood()
    with pytest.raises(LikelihoodError, match="'b' is not a floating parameter"):
        lik.upper_limit("b")
    with pytest.raises(LikelihoodError, match="cl must be between 0 and 1"):
        lik.upper_limit("mu", cl=95)
    with pytest.raises(LikelihoodError, match="cl must be between 0 and 1, not '95%'"):
        lik.upper_limit("mu", cl="95%")  # type: ignore[arg-type]
    with pytest.raises(LikelihoodError, match="n_toys must be an integer >= 1, not 0"):
        lik.upper_limit("mu", method="toys", n_toys=0)


@pytest.mark.slow
def test_toy_upper_limit_near_asymptotic() -> None:
    lik = counting_ws(30, 25.0).likelihood()
    asym = lik.upper_limit("mu")
    toy = lik.upper_limit("mu", method="toys", n_toys=100, seed=1, points=[6.0, 10.0, 14.0, 18.0])
    # with 30 events the asymptotic formulae are close to the toy result (Poisson discreteness
    # makes the toy CLs somewhat larger)
    assert toy.method == "toys"
    assert toy.scan["cls"].shape == (4,)
    assert toy.observed == pytest.approx(asym.observed, rel=0.2)
    assert toy.expected[2] == pytest.approx(asym.expected[2], rel=0.25)
    assert toy.expected[1] <= toy.expected[2] <= toy.expected[3]


def _dask_client() -> Any:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                       dashboard_address=None)
    return cluster, distributed.Client(cluster)


@pytest.mark.slow
def test_toys_on_dask_match_serial() -> None:
    lik = mixture_ws(100.0, 400.0).likelihood()
    serial = lik.toys(8, seed=21)
    cluster, client = _dask_client()
    try:
        parallel = lik.toys(8, seed=21, executor=client.get_executor(), chunk_size=3)
    finally:
        client.close()
        cluster.close()
    for k in serial.values:
        np.testing.assert_array_equal(serial.values[k], parallel.values[k])


def test_histfactory_global_observables_are_resampled(workspaces_dir: Any) -> None:
    lik = pyhs3_lab.Workspace.load(workspaces_dir / "HS3.jl" / "rf515_hfJSON_3.json").likelihood()
    data = lik.sample(3000, seed=5)
    assert set(data[0].global_observables) == {"nom_syst1", "nom_syst2", "nom_syst3",
                                               "nom_gamma_stat_channel1_bin_0", "nom_gamma_stat_channel1_bin_1"}
    for name in ("nom_syst1", "nom_syst2", "nom_syst3"):  # Gaussian(α = 0, 1)
        g = np.array([d.global_observables[name] for d in data])
        assert abs(g.mean()) < 4 / math.sqrt(3000)
        assert g.std() == pytest.approx(1.0, rel=0.06)
    tau = lik.init["nom_gamma_stat_channel1_bin_1"]  # Poisson(γ τ) with γ = 1
    g = np.array([d.global_observables["nom_gamma_stat_channel1_bin_1"] for d in data])
    assert np.all(g == np.round(g))
    assert g.mean() == pytest.approx(tau, abs=4 * math.sqrt(tau / 3000))
    asimov = lik.asimov({"syst1": 0.5})
    assert asimov.global_observables["nom_syst1"] == 0.5
    assert asimov.global_observables["nom_gamma_stat_channel1_bin_1"] == pytest.approx(tau)
    res = lik.with_data(asimov).fit(tolerance=1e-4)
    assert res.values["syst1"] == pytest.approx(0.5, abs=2e-3)
    assert res.values["mu"] == pytest.approx(1.0, abs=2e-3)


@pytest.mark.slow
def test_toy_limit_with_an_executor_equals_serial() -> None:
    lik = counting_ws(30, 25.0).likelihood()
    kwargs: dict[str, Any] = {"method": "toys", "n_toys": 20, "seed": 4, "points": [8.0, 16.0]}
    serial = lik.upper_limit("mu", **kwargs)
    with ThreadPoolExecutor(2) as ex:
        parallel = lik.upper_limit("mu", executor=ex, **kwargs)
    np.testing.assert_array_equal(serial.scan["cls"], parallel.scan["cls"])
    np.testing.assert_array_equal(serial.scan["cls_expected"], parallel.scan["cls_expected"])


@pytest.mark.pyhf
@pytest.mark.filterwarnings("ignore:(Accessing )?jsonschema:DeprecationWarning")  # pyhf's use of jsonschema
def test_asymptotic_limit_matches_pyhf(workspaces_dir: Any) -> None:
    import json

    pyhf = pytest.importorskip("pyhf")
    backend, optimizer = pyhf.get_backend()
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-6))
    try:
        spec = json.loads((workspaces_dir / "pyhs3" / "simplemodel_uncorrelated-background_hifa.json").read_text())
        pws = pyhf.Workspace(spec)
        model = pws.model()
        obs, exp = pyhf.infer.intervals.upper_limits.toms748_scan(pws.data(model), model, 0.0, 10.0, level=0.05,
                                                                  rtol=1e-6)[:2]
    finally:
        pyhf.set_backend(backend, optimizer)
    ws = pyhs3_lab.Workspace.load(workspaces_dir / "pyhs3" / "simplemodel_uncorrelated-background_hs3.json")
    ul = ws.likelihood("simPdf_obsData", conventions="pyhf").upper_limit("mu", fit_options={"tolerance": 1e-6})
    assert ul.observed == pytest.approx(float(obs), rel=2e-3)
    for ours, theirs in zip(ul.expected, exp, strict=True):
        assert ours == pytest.approx(float(theirs), rel=2e-3)


def test_pseudo_data_to_hs3_round_trip() -> None:
    ws = mixture_ws(100.0, 400.0)
    lik = ws.likelihood()
    toy = lik.sample(1, seed=8)[0]
    extra = toy.to_hs3(lik)
    doc = ws.to_dict()
    for key, items in extra.items():
        doc[key] = [*doc.get(key, []), *items]
    ws2 = pyhs3_lab.Workspace(**doc)
    lik2 = ws2.likelihood("L_toy", parameter_set="global_observables_toy")
    assert ws2.data[-1].name == "d_toy"
    for values in ({}, {"ns": 90.0, "w": 1.05}):
        assert lik2.nll(values) == pytest.approx(lik.with_data(toy).nll(values), rel=1e-13)
    # Asimov data: weighted entries
    asimov = lik.asimov()
    item = asimov.to_hs3(lik, "_asimov")["data"][0]
    assert item["type"] == "unbinned"
    assert sum(item["weights"]) == pytest.approx(500.0)


def test_histfactory_pulls(workspaces_dir: Any) -> None:
    # frequentist toys: the Poisson global observables of the shapesys terms are redrawn too, without
    # which the pulls of the γ parameters would be narrower than 1
    ws = pyhs3_lab.Workspace.load(workspaces_dir / "pyhs3" / "simplemodel_uncorrelated-background_hs3.json")
    lik = ws.likelihood("simPdf_obsData", conventions="pyhf")
    n = 200
    study = lik.toys(n, params={"mu": 3.0}, seed=4, fit_options={"limits": {"mu": (-10.0, 20.0)}})
    assert study.valid.all()
    for name, (mean, width) in study.pull_summary().items():
        assert abs(mean) < 3.5 / math.sqrt(n), (name, mean)
        assert abs(width - 1.0) < 3.5 / math.sqrt(2 * n), (name, width)


def test_pull_summary_leaves_out_fits_at_a_limit() -> None:
    # four toys of one parameter in [-5, 5]: the third ends at the lower limit with a HESSE error of ~0
    values = np.array([0.5, -0.4, -5.0 + 1e-4, 0.1])
    errors = np.array([1.0, 1.0, 1e-6, 0.5])
    study = ToyStudy(4, 0, {"mu": 0.0, "b": 1.0}, {"mu": values, "b": np.full(4, 1.0)}, {"mu": errors,
                     "b": np.ones(4)}, np.zeros(4), np.array([True, True, True, True]),
                     {"mu": (-5.0, 5.0), "b": (0.0, math.inf)})
    assert study.at_limit.tolist() == [False, False, True, False]
    inside = np.array([0.5, -0.4, 0.2])
    assert study.pull_summary()["mu"] == pytest.approx((inside.mean(), inside.std(ddof=1)))
    everything = values / errors
    assert study.pull_summary(at_limit=True)["mu"] == pytest.approx((everything.mean(), everything.std(ddof=1)))
    # an infinite range: the margin is 1e-3 max(1, |edge|) at the finite edge
    half = ToyStudy(3, 0, {"b": 1.0}, {"b": np.array([1.0, 5e-4, 2e-3])}, {"b": np.ones(3)}, np.zeros(3),
                    np.array([True, True, True]), {"b": (0.0, math.inf)})
    assert half.at_limit.tolist() == [False, True, False]


def test_toy_study_records_the_limits_of_its_fits() -> None:
    lik = mixture_ws(100.0, 400.0).likelihood()
    study = lik.toys(3, seed=2, fit_options={"limits": {"ns": (-50.0, 500.0)}, "fixed": {"w": 0.5}})
    assert study.limits["ns"] == (-50.0, 500.0)
    assert study.limits["nb"] == lik.bounds("nb")
    assert "w" not in study.limits  # held fixed in every fit: never "at a limit"
    assert study.at_limit.shape == (3,)
