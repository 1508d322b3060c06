"""Multivariate kernels against scipy.stats."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats

from pyhs3_lab import Workspace
from pyhs3_lab.errors import EvaluationError, SchemaError

COV = [[2.0, 0.6, -0.3], [0.6, 1.0, 0.2], [-0.3, 0.2, 0.5]]


def workspace(dist: dict[str, Any], bounds: dict[str, tuple[float | None, float | None]],
              params: dict[str, float]) -> Workspace:
    axes = [{"name": n, **({"min": lo} if lo is not None else {}), **({"max": hi} if hi is not None else {})}
            for n, (lo, hi) in bounds.items()]
    return Workspace(
        metadata={"hs3_version": "0.2"},
        distributions=[{"name": "d", **dist}],
        domains=[{"name": "default_domain", "type": "product_domain", "axes": axes}],
        parameter_points=[{"name": "default_values",
                           "parameters": [{"name": k, "value": v} for k, v in params.items()]}],
    )


def mvn3(type_: str = "multivariate_normal_dist", **extra: Any) -> dict[str, Any]:
    return {"type": type_, "x": ["x1", "x2", "x3"], "mean": ["m1", 0.5, "-1.0"], "covariances": COV, **extra}


UNBOUNDED: dict[str, tuple[float | None, float | None]] = {"x1": (None, None), "x2": (None, None),
                                                           "x3": (None, None)}
POINTS = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.3], [5.0, 4.0, -3.0], [-0.2, 0.5, -1.0]])


@pytest.mark.parametrize("type_", ["multivariate_normal_dist", "multinormal_dist"])
def test_mvn_matches_scipy(type_: str) -> None:
    model = workspace(mvn3(type_), UNBOUNDED, {"m1": 0.3}).model()
    got = model.logpdf("d", x1=POINTS[:, 0], x2=POINTS[:, 1], x3=POINTS[:, 2])
    want = stats.multivariate_normal(mean=[0.3, 0.5, -1.0], cov=COV).logpdf(POINTS)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_mvn_full_space_normalisation_on_finite_ranges_like_root() -> None:
    # RooMultiVarGaussian normalises analytically over the full space whatever the ranges
    bounds: dict[str, tuple[float | None, float | None]] = {"x1": (-3, 3), "x2": (-3, 3), "x3": (-3, 3)}
    model = workspace(mvn3(), bounds, {"m1": 0.3}).model()
    got = model.logpdf("d", x1=0.1, x2=0.2, x3=-0.4)
    assert got == pytest.approx(stats.multivariate_normal([0.3, 0.5, -1.0], COV).logpdf([0.1, 0.2, -0.4]),
                                rel=1e-12)
    assert model.pdf("d", x1=3.5, x2=0.0, x3=0.0) == 0.0  # outside the range


def test_mvn_correlations_and_standard_deviations() -> None:
    sd = [1.5, 0.8, 2.0]
    rho = [[1.0, 0.3, 0.0], [0.3, 1.0, -0.5], [0.0, -0.5, 1.0]]
    dist = {"type": "multivariate_normal_dist", "x": ["x1", "x2", "x3"], "mean": [0.0, 0.0, 0.0],
            "correlations": [[1.0, "r12", 0.0], ["r12", 1.0, -0.5], [0.0, -0.5, 1.0]],
            "standard_deviations": ["s1", 0.8, 2.0]}
    model = workspace(dist, UNBOUNDED, {"r12": 0.3, "s1": 1.5}).model()
    cov = np.asarray(rho) * np.outer(sd, sd)
    got = model.logpdf("d", x1=POINTS[:, 0], x2=POINTS[:, 1], x3=POINTS[:, 2])
    np.testing.assert_allclose(got, stats.multivariate_normal(np.zeros(3), cov).logpdf(POINTS), rtol=1e-12)


def test_mvn_named_covariance_entries_and_parameter_arrays() -> None:
    dist = {"type": "multivariate_normal_dist", "x": ["x1", "x2"], "mean": ["mu", 0.0],
            "covariances": [["v1", "c"], ["c", 1.0]]}
    model = workspace(dist, {"x1": (None, None), "x2": (None, None)}, {"mu": 0.0, "v1": 2.0, "c": 0.5}).model()
    mus = np.array([-1.0, 0.0, 2.0])
    got = model.logpdf("d", x1=0.4, x2=-0.3, mu=mus, c=0.7)
    want = [stats.multivariate_normal([m, 0.0], [[2.0, 0.7], [0.7, 1.0]]).logpdf([0.4, -0.3]) for m in mus]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    cs = np.array([0.0, 0.5, 1.2])
    got = model.logpdf("d", x1=0.4, x2=-0.3, c=cs)
    want = [stats.multivariate_normal([0.0, 0.0], [[2.0, c], [c, 1.0]]).logpdf([0.4, -0.3]) for c in cs]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_mvn_with_a_number_in_x_is_the_conditional_density() -> None:
    # x = [x1, 1.5]: only x1 is an observable; normalising over it (numerically) gives the conditional
    dist = {"type": "multivariate_normal_dist", "x": ["x1", 1.5], "mean": [0.0, 0.0],
            "covariances": [[2.0, 0.8], [0.8, 1.0]]}
    model = workspace(dist, {"x1": (None, None)}, {}).model()
    cond_mean, cond_var = 0.8 / 1.0 * 1.5, 2.0 - 0.8 * 0.8 / 1.0
    x = np.array([-2.0, 0.0, 1.2, 4.0])
    np.testing.assert_allclose(model.logpdf("d", x1=x), stats.norm.logpdf(x, cond_mean, math.sqrt(cond_var)),
                               rtol=1e-9)


def test_mvn_numeric_box_normalisation_matches_scipy_cdf() -> None:
    cov = [[1.0, 0.5], [0.5, 2.0]]
    dist = {"type": "multivariate_normal_dist", "x": ["x", "y"], "mean": [0.2, -0.1], "covariances": cov}
    model = workspace(dist, {"x": (-1.0, 2.0), "y": (-2.0, 1.0)}, {}).model()
    ev = model.evaluator(observables=["x", "y"])
    numeric = float(ev._numeric_log_norm_nd("d", ("x", "y")))
    mvn = stats.multivariate_normal([0.2, -0.1], cov)
    box = mvn.cdf([2.0, 1.0]) - mvn.cdf([-1.0, 1.0]) - mvn.cdf([2.0, -2.0]) + mvn.cdf([-1.0, -2.0])
    want = math.log(box) + math.log(2 * math.pi) + 0.5 * math.log(np.linalg.det(cov))
    assert numeric == pytest.approx(want, rel=1e-6)  # scipy's cdf is the less accurate side here


def test_mvn_not_positive_definite() -> None:
    dist = {"type": "multivariate_normal_dist", "x": ["x1", "x2"], "mean": [0.0, 0.0],
            "covariances": [[1.0, 2.0], [2.0, 1.0]]}
    model = workspace(dist, {"x1": (None, None), "x2": (None, None)}, {}).model()
    with pytest.raises(EvaluationError, match=r"distributions\[0\].*'d'.*not positive definite"):
        model.logpdf("d", x1=0.0, x2=0.0)


def test_mvn_not_symmetric() -> None:
    dist = {"type": "multivariate_normal_dist", "x": ["x1", "x2"], "mean": [0.0, 0.0],
            "covariances": [["a", 0.1], [0.2, 1.0]]}
    model = workspace(dist, {"x1": (None, None), "x2": (None, None)}, {"a": 1.0}).model()
    with pytest.raises(EvaluationError, match="not symmetric"):
        model.logpdf("d", x1=0.0, x2=0.0)


@pytest.mark.parametrize(("change", "message"), [
    ({"mean": [0.0]}, r"mean has 1 entries for 2 variables"),
    ({"covariances": [[1.0, 0.0]]}, r"covariances must be a 2x2 matrix"),
    ({"covariances": None}, r"needs covariances, or correlations together with standard_deviations"),
    ({"correlations": [[1.0, 0.0], [0.0, 1.0]]}, r"not both"),
])
def test_mvn_shape_errors(change: dict[str, Any], message: str) -> None:
    dist: dict[str, Any] = {"type": "multivariate_normal_dist", "x": ["x1", "x2"], "mean": [0.0, 0.0],
                            "covariances": [[1.0, 0.0], [0.0, 1.0]]}
    dist.update(change)
    dist = {k: v for k, v in dist.items() if v is not None}
    with pytest.raises(SchemaError, match=message):
        workspace(dist, {"x1": (None, None), "x2": (None, None)}, {})


def test_barlow_beeston_lite_matches_poisson() -> None:
    tau = [25.0, 100.0, 4.0]
    dist = {"type": "barlow_beeston_lite_poisson_constraint_dist", "x": ["g1", "g2", "g3"], "expected": tau}
    model = workspace(dist, {"g1": (0, 10), "g2": (0, 10), "g3": (0, 10)}, {}).model()
    g = np.array([[1.0, 1.0, 1.0], [0.9, 1.05, 1.4], [1.2, 0.8, 0.3]])
    got = model.logpdf("d", g1=g[:, 0], g2=g[:, 1], g3=g[:, 2])
    want = sum(stats.poisson.logpmf(t, g[:, i] * t) for i, t in enumerate(tau))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_barlow_beeston_lite_continuous_tau_and_named_expected() -> None:
    dist = {"type": "barlow_beeston_lite_poisson_constraint_dist", "x": ["g1", "g2"], "expected": ["t1", 7.5]}
    model = workspace(dist, {"g1": (0, 10), "g2": (0, 10)}, {"t1": 12.3}).model()
    got = model.logpdf("d", g1=1.1, g2=0.9)
    want = sum(t * math.log(g * t) - g * t - math.lgamma(t + 1) for g, t in ((1.1, 12.3), (0.9, 7.5)))
    assert got == pytest.approx(want, rel=1e-13)


def test_barlow_beeston_lite_length_mismatch() -> None:
    dist = {"type": "barlow_beeston_lite_poisson_constraint_dist", "x": ["g1", "g2"], "expected": [1.0]}
    with pytest.raises(SchemaError, match=r"distributions\[0\]\.expected.*1 entries for 2 variables"):
        workspace(dist, {"g1": (0, 10), "g2": (0, 10)}, {})
