"""Analytic gradients of the NLL (pyhs3_lab.gradient): against central finite differences of the NLL,
kernel by kernel and on the real files, and fits with and without them."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from shared_paths import WORKSPACES

import pyhs3_lab
from pyhs3_lab.expr import parse
from pyhs3_lab.ops.univariate import exp_norm_partial, gauss_norm_partials, log_gauss_integral

META = {"hs3_version": "0.2"}
BENCH = WORKSPACES / "pyhs3-benchmarks"


# --------------------------------------------------------------------------------------
# helpers


def finite_difference(lik: pyhs3_lab.Likelihood, values: dict[str, float], name: str) -> float:
    """Central difference with a Richardson step (error O(h⁴))."""
    x = values[name]
    h = 1e-4 * max(1.0, abs(x))

    def f(v: float) -> float:
        return lik.nll({**values, name: v})

    d1 = (f(x + h) - f(x - h)) / (2 * h)
    d2 = (f(x + h / 2) - f(x - h / 2)) / h
    return (4 * d2 - d1) / 3


def random_points(lik: pyhs3_lab.Likelihood, n: int, seed: int, spread: float = 0.1) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    start = lik.values()
    out = []
    for _ in range(n):
        pt = {}
        for name in lik.floating:
            x = start[name]
            lo, hi = lik.bounds(name)
            span = spread * (abs(x) if x != 0 else 1.0)
            v = x + rng.uniform(-span, span)
            if math.isfinite(lo):
                v = max(v, lo + 1e-3 * (abs(lo) + 1))
            if math.isfinite(hi):
                v = min(v, hi - 1e-3 * (abs(hi) + 1))
            pt[name] = float(v)
        out.append(pt)
    return out


def assert_gradient(lik: pyhs3_lab.Likelihood, n_points: int = 3, seed: int = 1, rtol: float = 1e-6,
                    spread: float = 0.1) -> None:
    assert lik.has_gradient
    for pt in random_points(lik, n_points, seed, spread):
        got = lik.gradient(pt)
        assert set(got) == set(lik.floating)
        full = lik.values(pt)
        for name in lik.floating:
            fd = finite_difference(lik, full, name)
            assert got[name] == pytest.approx(fd, rel=rtol, abs=rtol), (name, pt)


def workspace(distributions: list[dict[str, Any]], functions: list[dict[str, Any]], data: list[dict[str, Any]],
              params: dict[str, float], bounds: dict[str, tuple[float, float]], likelihood: dict[str, Any],
              const: tuple[str, ...] = ()) -> pyhs3_lab.Workspace:
    return pyhs3_lab.Workspace(
        metadata=META, distributions=distributions, functions=functions, data=data, likelihoods=[likelihood],
        domains=[{"name": "default_domain", "type": "product_domain",
                  "axes": [{"name": n, "min": lo, "max": hi} for n, (lo, hi) in bounds.items()]}],
        parameter_points=[{"name": "default_values", "parameters": [
            {"name": n, "value": v, **({"const": True} if n in const else {})} for n, v in params.items()]}])


def unbinned(name: str, axes: dict[str, tuple[float, float]], entries: np.ndarray,
             weights: np.ndarray | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "type": "unbinned", "entries": np.asarray(entries).tolist(),
                           "axes": [{"name": n, "min": lo, "max": hi} for n, (lo, hi) in axes.items()]}
    if weights is not None:
        out["weights"] = np.asarray(weights).tolist()
    return out


@pytest.fixture(scope="module")
def xs() -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.concatenate([rng.normal(1.0, 0.5, 150), rng.uniform(-1.0, 3.0, 250)])


# --------------------------------------------------------------------------------------
# expressions


@pytest.mark.parametrize("text", [
    "a * exp(-x^2 / 2) + pow(a, x) - x / a", "sqrt(a + x*x) * log(a) + log10(a * x)",
    "abs(x - a) + min(a, x) * max(a, x)",
    "sin(a*x) + cos(x) + tan(0.3*x) + asin(0.2*a) + acos(0.1*x) + atan(a/x)", "atan2(a, x) + erf(a*x) + erfc(x)",
    "sinh(x) + cosh(a) * tanh(a*x)", "TMath::Gaus(x, a, 2) + TMath::Exp(a) + TMath::Power(x, 3)",
    "x > a ? a*x^3 : -x", "(x < a) * a + floor(x) + ceil(a) + !x", "-x^2 + 2^-a + x**a",
])
def test_expression_derivative(text: str) -> None:
    expr = parse(text)
    vals = {"a": 1.3, "x": 0.7}
    for var in ("a", "x"):
        d = float(expr.derivative(var).evaluate(vals))
        h = 1e-6
        up, down = expr.evaluate({**vals, var: vals[var] + h}), expr.evaluate({**vals, var: vals[var] - h})
        fd = (float(up) - float(down)) / (2 * h)
        assert d == pytest.approx(fd, rel=1e-6, abs=1e-8), var
    assert expr.derivative("x") is expr.derivative("x")
    assert float(expr.derivative("nothing").evaluate(vals)) == 0.0


# --------------------------------------------------------------------------------------
# normalisations, including the tails and infinite ranges


@pytest.mark.parametrize(("mu", "sigma", "lo", "hi"), [
    (0.3, 1.2, -1.0, 3.0), (9.0, 0.4, -1.0, 3.0), (-12.0, 0.5, -1.0, 3.0), (0.0, 1.0, -math.inf, 2.0),
    (1.0, 2.0, -0.5, math.inf), (0.0, 1.0, -math.inf, math.inf), (40.0, 1.0, -math.inf, 0.0)])
def test_gauss_normalisation_partials(mu: float, sigma: float, lo: float, hi: float) -> None:
    d_mu, d_s = gauss_norm_partials(mu, sigma, lo, hi)
    h = 1e-6

    def f(m: float, s: float) -> float:
        return float(log_gauss_integral(m, s, lo, hi))

    fd_mu = (f(mu + h, sigma) - f(mu - h, sigma)) / (2 * h)
    fd_s = (f(mu, sigma + h) - f(mu, sigma - h)) / (2 * h)
    assert np.isfinite(d_mu)
    assert np.isfinite(d_s)
    assert float(d_mu) == pytest.approx(fd_mu, rel=1e-6, abs=1e-6)
    assert float(d_s) == pytest.approx(fd_s, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize(("c", "lo", "hi"), [
    (0.7, 1.0, 4.0), (-0.4, 1.0, 4.0), (1e-6, 1.0, 4.0), (-3e-5, -2.0, 5.0), (0.0, 0.0, 2.0), (50.0, 0.0, 1.0),
    (-60.0, 0.0, 1.0), (0.5, 1.0, math.inf), (-0.5, -math.inf, 2.0)])
def test_exponential_normalisation_partial(c: float, lo: float, hi: float) -> None:
    def log_norm(cc: float) -> float:
        if math.isfinite(hi - lo):
            from scipy.integrate import quad

            return math.log(quad(lambda t: math.exp(-cc * (t - lo)), lo, hi, epsabs=0, epsrel=1e-13)[0]) - cc * lo
        return -cc * (lo if cc > 0 else hi) - math.log(abs(cc))

    h = 1e-5
    fd = (log_norm(c + h) - log_norm(c - h)) / (2 * h)
    assert float(exp_norm_partial(c, lo, hi)) == pytest.approx(fd, rel=1e-6, abs=1e-7)


# --------------------------------------------------------------------------------------
# kernels, through the likelihood


def test_gaussian_truncated(xs: np.ndarray) -> None:
    ws = workspace([{"name": "g", "type": "gaussian_dist", "x": "x", "mean": "mu", "sigma": "s"}], [],
                   [unbinned("d", {"x": (-1.0, 3.0)}, xs[:, None])], {"mu": 0.8, "s": 0.9},
                   {"mu": (-20.0, 20.0), "s": (0.05, 10.0)}, {"name": "L", "distributions": ["g"], "data": ["d"]})
    lik = ws.likelihood()
    assert_gradient(lik)
    # far outside the range: the normalisation's derivative stays finite and exact
    far = lik.gradient({"mu": 9.0, "s": 0.4})
    assert all(np.isfinite(v) for v in far.values())
    assert far["mu"] == pytest.approx(finite_difference(lik, lik.values({"mu": 9.0, "s": 0.4}), "mu"), rel=1e-6)


@pytest.mark.parametrize("c0", [0.4, -0.3, 2e-5])
def test_exponential(xs: np.ndarray, c0: float) -> None:
    ws = workspace([{"name": "e", "type": "exponential_dist", "x": "x", "c": "c"}], [],
                   [unbinned("d", {"x": (-1.0, 3.0)}, xs[:, None])], {"c": c0}, {"c": (-5.0, 5.0)},
                   {"name": "L", "distributions": ["e"], "data": ["d"]})
    assert_gradient(ws.likelihood(), spread=0.02)


def test_poisson_constraint_and_functions(xs: np.ndarray) -> None:
    # extended mixture with yields from functions (product, sum, generic_function, weighted_sum), a Gaussian
    # whose width is a function, and a Poisson constraint on a product of parameters
    dists: list[dict[str, Any]] = [
        {"name": "sig", "type": "gaussian_dist", "x": "x", "mean": "mu", "sigma": "width"},
        {"name": "bkg", "type": "exponential_dist", "x": "x", "c": "c"},
        {"name": "model", "type": "mixture_dist", "summands": ["sig", "bkg"], "coefficients": ["nsig", "nbkg"],
         "extended": True},
        {"name": "constr", "type": "poisson_dist", "x": "nom_g", "mean": "tau_g"},
    ]
    funcs: list[dict[str, Any]] = [
        {"name": "nsig", "type": "product", "factors": ["poi", "nsig0", "g"]},
        {"name": "nbkg", "type": "sum", "summands": ["b0", "b1"]},
        {"name": "width", "type": "generic_function", "expression": "s0 * (1 + 0.1 * alpha) * exp(0.01*alpha^2)"},
        {"name": "tau_g", "type": "weighted_sum", "samples": ["g", "one"], "coefficients": ["tau", "zero"]},
        {"name": "one", "type": "generic_function", "expression": "1 + 0*g"},
    ]
    ws = workspace(dists, funcs, [unbinned("d", {"x": (-1.0, 3.0)}, xs[:, None])],
                   {"poi": 1.0, "nsig0": 150.0, "g": 1.0, "b0": 200.0, "b1": 50.0, "mu": 1.0, "s0": 0.5, "alpha": 0.2,
                    "c": 0.1, "nom_g": 100.0, "tau": 100.0, "zero": 0.0},
                   {"poi": (0.0, 5.0), "g": (0.5, 1.5), "b0": (0.0, 1000.0), "b1": (0.0, 1000.0), "mu": (-1.0, 3.0),
                    "s0": (0.1, 2.0), "alpha": (-5.0, 5.0), "c": (-3.0, 3.0), "nom_g": (0.0, 1000.0)},
                   {"name": "L", "distributions": ["model"], "data": ["d"], "aux_distributions": ["constr"]},
                   const=("nsig0", "tau", "zero", "nom_g"))
    lik = ws.likelihood()
    assert set(lik.floating) == {"poi", "g", "b0", "b1", "mu", "s0", "alpha", "c"}
    assert_gradient(lik)


@pytest.mark.parametrize("mode", ["fractions", "yields", "extended_summands"])
def test_mixture_modes(xs: np.ndarray, mode: str) -> None:
    dists: list[dict[str, Any]] = [
        {"name": "g1", "type": "gaussian_dist", "x": "x", "mean": "m1", "sigma": "s1"},
        {"name": "g2", "type": "gaussian_dist", "x": "x", "mean": "m2", "sigma": 2.0},
        {"name": "e", "type": "exponential_dist", "x": "x", "c": "c"},
    ]
    params = {"m1": 1.0, "s1": 0.5, "m2": 0.5, "c": 0.2}
    bounds = {"m1": (-1.0, 3.0), "s1": (0.1, 3.0), "m2": (-2.0, 3.0), "c": (-3.0, 3.0)}
    if mode == "fractions":
        dists.append({"name": "mix", "type": "mixture_dist", "summands": ["g1", "g2", "e"],
                      "coefficients": ["f1", "f2"]})
        params |= {"f1": 0.3, "f2": 0.2}
        bounds |= {"f1": (0.0, 1.0), "f2": (0.0, 1.0)}
    elif mode == "yields":
        dists.append({"name": "mix", "type": "mixture_dist", "summands": ["g1", "g2", "e"],
                      "coefficients": ["n1", "n2", "n3"], "extended": True})
        params |= {"n1": 120.0, "n2": 80.0, "n3": 200.0}
        bounds |= {k: (0.0, 2000.0) for k in ("n1", "n2", "n3")}
    else:
        for i, s in enumerate(("g1", "g2", "e")):
            dists.append({"name": f"x{s}", "type": "rate_extended_dist", "dist": s, "rate": f"n{i + 1}"})
        dists.append({"name": "mix", "type": "mixture_dist", "summands": ["xg1", "xg2", "xe"], "coefficients": []})
        params |= {"n1": 120.0, "n2": 80.0, "n3": 200.0}
        bounds |= {k: (0.0, 2000.0) for k in ("n1", "n2", "n3")}
    weights = np.random.default_rng(9).uniform(0.5, 1.5, xs.size)
    weights[::17] = 0.0
    ws = workspace(dists, [], [unbinned("d", {"x": (-1.0, 3.0)}, xs[:, None], weights)], params, bounds,
                   {"name": "L", "distributions": ["mix"], "data": ["d"]})
    lik = ws.likelihood()
    assert lik.has_gradient
    assert_gradient(lik)


def test_product_of_disjoint_factors_and_binned_data(xs: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    ys = rng.exponential(1.0, xs.size)
    dists: list[dict[str, Any]] = [
        {"name": "gx", "type": "gaussian_dist", "x": "x", "mean": "mu", "sigma": "s"},
        {"name": "ey", "type": "exponential_dist", "x": "y", "c": "c"},
        {"name": "prod", "type": "product_dist", "factors": ["gx", "ey"]},
        {"name": "gb", "type": "gaussian_dist", "x": "z", "mean": "mu", "sigma": "s"},
    ]
    counts, _edges = np.histogram(xs, bins=20, range=(-1.0, 3.0))
    data = [unbinned("d", {"x": (-1.0, 3.0), "y": (0.0, 6.0)}, np.column_stack([xs, np.minimum(ys, 5.9)])),
            {"name": "b", "type": "binned", "contents": counts.astype(float).tolist(),
             "axes": [{"name": "z", "min": -1.0, "max": 3.0, "nbins": 20}]}]
    ws = workspace(dists, [], data, {"mu": 1.0, "s": 0.8, "c": 0.7},
                   {"mu": (-1.0, 3.0), "s": (0.1, 3.0), "c": (-3.0, 3.0)},
                   {"name": "L", "distributions": ["prod", "gb"], "data": ["d", "b"]})
    assert_gradient(ws.likelihood())


def test_generic_dist_numerical_normalisation(xs: np.ndarray) -> None:
    # the derivative of the numerical normalisation: ∫ ∂f/∂θ / Z by the same adaptive quadrature
    dists = [{"name": "g", "type": "generic_dist", "x": "x", "expression": "exp(-0.5*((x-mu)/s)^2) + c*x*x"}]
    ws = workspace(dists, [{"name": "s", "type": "product", "factors": ["s0", "k"]}],
                   [unbinned("d", {"x": (-1.0, 3.0)}, xs[:, None])], {"mu": 1.0, "s0": 0.8, "k": 1.0, "c": 0.05},
                   {"mu": (-1.0, 3.0), "s0": (0.1, 3.0), "c": (0.0, 1.0)},
                   {"name": "L", "distributions": ["g"], "data": ["d"]}, const=("k",))
    assert_gradient(ws.likelihood())


def test_no_gradient_falls_back(xs: np.ndarray) -> None:
    # landau_dist has no derivative: no analytic gradient, and fits use MINUIT's numerical one
    dists = [{"name": "g", "type": "landau_dist", "x": "x", "mean": "mu", "sigma": "s"}]
    ws = workspace(dists, [], [unbinned("d", {"x": (-1.0, 3.0)}, xs[:, None])], {"mu": 1.0, "s": 0.8},
                   {"mu": (-1.0, 3.0), "s": (0.1, 3.0)}, {"name": "L", "distributions": ["g"], "data": ["d"]})
    lik = ws.likelihood()
    assert not lik.has_gradient
    with pytest.raises(pyhs3_lab.LikelihoodError, match="no analytic gradient"):
        lik.gradient()
    res = lik.fit()
    assert res.valid
    assert not res.analytic_gradient
    assert res.ngrad == 0
    # with the shape parameters fixed, nothing on the way needs a derivative of the landau_dist
    assert lik.gradient_supported([]) is True


# --------------------------------------------------------------------------------------
# real files


HISTFACTORY = [
    (WORKSPACES / "HS3.jl" / "rf515_hfJSON_3.json", "root"),
    (WORKSPACES / "HS3.jl" / "rf515_hfJSON_3.json", "pyhf"),
    (WORKSPACES / "pyhs3" / "simplemodel_uncorrelated-background_hs3.json", "root"),
    (WORKSPACES / "pyhs3" / "simplemodel_uncorrelated-background_hs3.json", "pyhf"),
    (WORKSPACES / "pyhs3" / "simplemodel_correlated-background_hs3.json", "root"),
    (WORKSPACES / "pyhs3" / "simplemodel_correlated-background_hs3.json", "pyhf"),
]
BENCHMARKS = [
    "1ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json",
    "3ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json",
    "3ch_bkgRooExp_sigGauss_shapeFixed_npOn_constrGauss_yield1x.json",
    "3ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrPoisson_yield1x.json",
    "3ch_bkgRooExp_sigGauss_shapeFloat_npOff_constrGauss_yield1x.json",
    "3ch_bkgGenExp_sigGauss_shapeFixed_npOn_constrGauss_yield1x.json",
    "10ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json",
    "10ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrNone_yield1x.json",
]


def likelihood_of(path: Path, conventions: str = "root") -> pyhs3_lab.Likelihood:
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    ws = pyhs3_lab.load(path)
    names = [lik.name for lik in ws.likelihoods]
    return ws.likelihood(names if len(names) > 1 else names[0], conventions=conventions)


@pytest.mark.parametrize(("path", "conventions"), HISTFACTORY, ids=lambda p: getattr(p, "stem", str(p)))
def test_histfactory_files(path: Path, conventions: str) -> None:
    assert_gradient(likelihood_of(path, conventions))


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_files(name: str) -> None:
    assert_gradient(likelihood_of(BENCH / name), n_points=2)


@pytest.mark.parametrize("name", ["3ch_bkgRooExp_sigGeneric_shapeFloat_npOn_constrGauss_yield1x.json",
                                  "3ch_bkgGenExp_sigGauss_shapeFloat_npOn_constrPoisson_yield1x.json"])
def test_benchmark_files_with_generic_dist(name: str) -> None:
    assert_gradient(likelihood_of(BENCH / name), n_points=1)


# --------------------------------------------------------------------------------------
# fits with and without the analytic gradient


@pytest.mark.parametrize(("path", "conventions"), [
    (WORKSPACES / "HS3.jl" / "rf515_hfJSON_3.json", "root"),
    (WORKSPACES / "pyhs3" / "simplemodel_uncorrelated-background_hs3.json", "pyhf"),
    (BENCH / "3ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json", "root"),
    (BENCH / "3ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrPoisson_yield1x.json", "root"),
], ids=lambda p: getattr(p, "stem", str(p)))
def test_fits_agree(path: Path, conventions: str) -> None:
    lik = likelihood_of(path, conventions)
    with_grad = lik.fit(tolerance=1e-5)
    without = lik.fit(tolerance=1e-5, gradient=False)
    assert with_grad.valid, with_grad.message
    assert without.valid, without.message
    assert with_grad.analytic_gradient
    assert with_grad.ngrad > 0
    assert not without.analytic_gradient
    assert without.ngrad == 0
    assert with_grad.fval == pytest.approx(without.fval, abs=1e-6)
    for name in lik.floating:
        err = without.errors[name]
        assert abs(with_grad.values[name] - without.values[name]) <= 1e-3 * err, name
        assert with_grad.errors[name] == pytest.approx(err, rel=1e-2), name
    assert with_grad.to_dict()["analytic_gradient"] is True


def test_nll_protocol() -> None:
    from iminuit.util import gradient as minuit_gradient

    from pyhs3_lab.fit import NLL

    lik = likelihood_of(WORKSPACES / "HS3.jl" / "rf515_hfJSON_3.json")
    nll = NLL(lik, lik.floating)
    assert nll.has_grad
    assert minuit_gradient(nll) is not None  # iminuit finds fcn.grad by itself
    g = nll.grad(nll.start)
    assert g.shape == (len(lik.floating),)
    expect = lik.gradient()
    assert g == pytest.approx([expect[n] for n in lik.floating])
    off = NLL(lik, lik.floating, gradient=False)
    assert not off.has_grad
    assert minuit_gradient(off) is None


def test_batched_channels_match_channels_one_by_one() -> None:
    from pyhs3_lab.batch import ChannelBatch
    from pyhs3_lab.gradient import LikelihoodGradient, batch_grad, density_term_grad

    lik = likelihood_of(BENCH / "10ch_bkgRooExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json")
    for pt in random_points(lik, 2, seed=7):
        full = lik._full_values(lik.values(pt))
        lik._evaluate(full)  # the batch checks itself against the general path once
        batches = [t for t in lik._planned_density_terms() if isinstance(t, ChannelBatch)]
        assert batches
        assert all(b.ok for b in batches)
        wrt = frozenset(lik.floating)
        for b in batches:
            got = batch_grad(b, full, wrt)
            assert got is not None
            ref: dict[str, float] = {}
            for t in b.terms:
                for k, v in (density_term_grad(cast(Any, t), full, wrt) or {}).items():
                    ref[k] = ref.get(k, 0.0) + float(v)
            assert set(got) == set(ref)
            for k, v in ref.items():
                assert got[k] == pytest.approx(v, rel=1e-10, abs=1e-10), k
        grad = LikelihoodGradient(lik, lik.floating)
        assert grad(full) is not None
        assert all(b.grad_checked[wrt] for b in batches)


def test_hessian_from_gradient_differences() -> None:
    from pyhs3_lab.fit import NLL

    lik = likelihood_of(WORKSPACES / "HS3.jl" / "rf515_hfJSON_3.json")
    best = lik.fit()
    nll = NLL(lik, lik.floating)
    x = np.array([best.values[n] for n in lik.floating])
    hess = nll.hessian(x)
    assert hess.shape == (len(x), len(x))
    np.testing.assert_allclose(hess, hess.T)
    assert np.all(np.linalg.eigvalsh(hess) > 0)  # at the minimum: positive definite
    cov = np.linalg.inv(hess)  # errordef 1/2: the covariance is the inverse Hessian of the NLL
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(sd, np.sqrt(np.diag(best.covariance)), rtol=1e-2)
    np.testing.assert_allclose(cov / np.outer(sd, sd), best.correlation, atol=2e-2)
    for i in range(len(x)):  # second differences of the NLL itself
        h = 1e-3 * max(1.0, abs(x[i]))
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        fd = (nll(up) - 2 * nll(x) + nll(down)) / (h * h)
        assert hess[i, i] == pytest.approx(fd, rel=1e-4)
    np.testing.assert_allclose(nll.g2(x), np.diag(hess))
    res = lik.fit(hessian=True, tolerance=1e-5)
    ref = lik.fit(hessian=False, tolerance=1e-5)
    assert res.valid
    assert res.analytic_gradient
    assert res.nfcn < ref.nfcn
    for name in lik.floating:
        assert abs(res.values[name] - ref.values[name]) <= 1e-2 * ref.errors[name], name
        assert res.errors[name] == pytest.approx(ref.errors[name], rel=2e-2), name


def test_hessian_fit_redone_without_it_when_not_valid() -> None:
    # a degenerate fit (parameters at limits, the error wall): the gradient-difference Hessian misleads
    # MIGRAD, and the fit is redone with MINUIT's own second derivatives
    path = WORKSPACES / "HS3.jl" / "test_gg" / "test_gg_unbinned_mixture_not_extended.json"
    if not path.is_file():
        pytest.skip(f"{path} is not available")
    lik = pyhs3_lab.load(path).likelihood()
    res = lik.fit(hessian=True)
    assert res.valid, res.message
    assert res.fval == pytest.approx(lik.fit(hessian=False).fval, abs=1e-5)


def test_mixture_weight_zero_and_identical_summands(xs: np.ndarray) -> None:
    # a fraction of 1 (the last weight is 0) still has a derivative in that weight; with identical
    # summands it is exactly 0
    dists: list[dict[str, Any]] = [{"name": "g1", "type": "gaussian_dist", "x": "x", "mean": "m0", "sigma": "s0"},
             {"name": "g2", "type": "gaussian_dist", "x": "x", "mean": "m1", "sigma": "s1"},
             {"name": "mix", "type": "mixture_dist", "summands": ["g1", "g2"], "coefficients": ["a0"]}]
    ws = workspace(dists, [], [unbinned("d", {"x": (-1.0, 3.0)}, xs[:, None])],
                   {"a0": 1.0, "m0": 1.0, "m1": 1.0, "s0": 1.0, "s1": 1.0},
                   {"a0": (0.0, 1.0), "m0": (-1.0, 3.0), "m1": (-1.0, 3.0), "s0": (0.1, 3.0), "s1": (0.1, 3.0)},
                   {"name": "L", "distributions": ["mix"], "data": ["d"]})
    lik = ws.likelihood()
    assert lik.gradient()["a0"] == pytest.approx(0.0, abs=1e-9)
    at = {"a0": 1.0, "m1": 1.4, "s1": 0.7}
    got = lik.gradient(at)
    for name in lik.floating:
        assert got[name] == pytest.approx(finite_difference(lik, lik.values(at), name), rel=1e-6, abs=1e-6), name


@pytest.mark.parametrize(("dist", "params", "bounds"), [
    ({"type": "lognormal_dist", "mu": "m", "sigma": "s"}, {"m": 0.2, "s": 0.6},
     {"m": (-2.0, 2.0), "s": (0.1, 3.0)}),
    ({"type": "polynomial_dist", "coefficients": [1.0, "a1", "a2"]}, {"a1": 0.3, "a2": 0.2},
     {"a1": (-1.0, 2.0), "a2": (0.0, 2.0)}),
    ({"type": "chebychev_dist", "coefficients": ["a1", "a2", "a3"]}, {"a1": 0.2, "a2": 0.1, "a3": -0.05},
     {"a1": (-1.0, 1.0), "a2": (-1.0, 1.0), "a3": (-1.0, 1.0)}),
    ({"type": "bernstein_poly_dist", "coefficients": ["a0", 1.0, "a2", "a3"]}, {"a0": 0.5, "a2": 0.8, "a3": 0.3},
     {"a0": (0.0, 2.0), "a2": (0.0, 2.0), "a3": (0.0, 2.0)}),
])
def test_more_univariate_kernels(dist: dict[str, Any], params: dict[str, float],
                                 bounds: dict[str, tuple[float, float]]) -> None:
    rng = np.random.default_rng(11)
    xs = np.exp(rng.normal(0.2, 0.5, 300))
    xs = xs[(xs > 0.2) & (xs < 4.0)]
    ws = workspace([{"name": "p", "x": "x", **dist}], [], [unbinned("d", {"x": (0.2, 4.0)}, xs[:, None])], params,
                   bounds, {"name": "L", "distributions": ["p"], "data": ["d"]})
    assert_gradient(ws.likelihood(), spread=0.05)


def test_polynomial_function(xs: np.ndarray) -> None:
    funcs = [{"name": "mean", "type": "polynomial", "x": "t", "coefficients": ["p0", "p1", "p2"]}]
    dists = [{"name": "g", "type": "gaussian_dist", "x": "x", "mean": "mean", "sigma": 1.0}]
    ws = workspace(dists, funcs, [unbinned("d", {"x": (-1.0, 3.0)}, xs[:, None])],
                   {"p0": 0.5, "p1": 0.3, "p2": 0.1, "t": 1.5},
                   {"p0": (-2.0, 2.0), "p1": (-2.0, 2.0), "p2": (-2.0, 2.0), "t": (0.0, 3.0)},
                   {"name": "L", "distributions": ["g"], "data": ["d"]})
    assert_gradient(ws.likelihood())
