"""The adaptive log-space quadrature against closed forms, scipy.integrate and scipy.stats."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

from pyhs3_lab.errors import EvaluationError
from pyhs3_lab.integrate import log_integrate, log_integrate_2d

LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@pytest.mark.parametrize(("lo", "hi", "want"), [
    (-1.0, 2.0, math.log(stats.norm.cdf(2) - stats.norm.cdf(-1)) + LOG_SQRT_2PI),
    (-math.inf, math.inf, LOG_SQRT_2PI),
    (0.0, math.inf, LOG_SQRT_2PI - math.log(2)),
    (-math.inf, -3.0, stats.norm.logcdf(-3) + LOG_SQRT_2PI),
    (8.0, math.inf, stats.norm.logsf(8) + LOG_SQRT_2PI),
])
def test_gaussian_ranges(lo: float, hi: float, want: float) -> None:
    got = log_integrate(lambda x: -0.5 * x * x, lo, hi)
    assert float(got) == pytest.approx(want, rel=1e-11, abs=1e-11)


@pytest.mark.parametrize("mean", [500.0, 512.3, 1.234567, 999.99, 0.0001, 123.456789])
def test_narrow_peak_in_wide_window_found_without_hints(mean: float) -> None:
    sigma = 1e-3
    got = log_integrate(lambda x: -0.5 * ((x - mean) / sigma) ** 2, 0.0, 1000.0)
    want = math.log(stats.norm.cdf(1000, mean, sigma) - stats.norm.cdf(0, mean, sigma)) + math.log(sigma) + LOG_SQRT_2PI
    assert float(got) == pytest.approx(want, abs=1e-10)


def test_narrow_box_needs_and_uses_points() -> None:
    # exactly zero everywhere except on [700, 700.002]: invisible to any node unless pointed at
    def log_box(x: np.ndarray) -> np.ndarray:
        return np.where((x > 700.0) & (x < 700.002), 0.0, -np.inf)

    assert float(log_integrate(log_box, 0.0, 1000.0, points=[700.0, 700.002])) == pytest.approx(
        math.log(0.002), rel=1e-9)


def test_discontinuity_and_kink() -> None:
    # a step at 0.3 and a kink at 0.8: ∫_0^1 = 0.3·1 + 0.5·2 + ∫_0.8^1 2·exp(-(x-0.8)) dx
    def log_f(x: np.ndarray) -> np.ndarray:
        return np.where(x < 0.3, 0.0, math.log(2.0)) - np.maximum(x - 0.8, 0.0)

    want = 0.3 + 0.5 * 2 + 2 * (1 - math.exp(-0.2))
    assert float(log_integrate(log_f, 0.0, 1.0)) == pytest.approx(math.log(want), rel=1e-10)
    assert float(log_integrate(log_f, 0.0, 1.0, points=[0.3, 0.8])) == pytest.approx(math.log(want), rel=1e-12)


def test_argus_like_endpoint_and_cut() -> None:
    # m·sqrt(1 - m²)·exp(c(1 - m²)), zero above 1, on [0, 2]: scipy's ARGUS normalisation
    chi = 3.0

    def log_f(m: np.ndarray) -> np.ndarray:
        u = 1 - m * m
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(u > 0, np.log(m) + 0.5 * np.log(u) - 0.5 * chi * chi * u, -np.inf)

    want = -stats.argus.logpdf(0.5, chi) + log_f(np.asarray(0.5))
    assert float(log_integrate(log_f, 0.0, 2.0)) == pytest.approx(float(want), rel=1e-9)


def test_batch_of_parameters() -> None:
    sigma = np.array([1e-3, 0.1, 1.0, 10.0, 1e3])

    def log_f(x: np.ndarray) -> np.ndarray:
        return -0.5 * ((x - 0.2) / sigma) ** 2

    got = log_integrate(log_f, -1.0, 3.0, batch_ndim=1)
    want = np.log(stats.norm.cdf(3, 0.2, sigma) - stats.norm.cdf(-1, 0.2, sigma)) + np.log(sigma) + LOG_SQRT_2PI
    assert got.shape == (5,)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_two_dimensional_batch() -> None:
    c = np.array([[0.5], [2.0]])
    mean = np.array([[0.0, 1.0, 3.0]])

    def log_f(x: np.ndarray) -> np.ndarray:
        return -c * (x - mean) ** 2

    got = log_integrate(log_f, -2.0, 2.0, batch_ndim=2)
    s = 1 / np.sqrt(2 * c)
    want = np.log(stats.norm.cdf(2, mean, s) - stats.norm.cdf(-2, mean, s)) + np.log(s) + LOG_SQRT_2PI
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_zero_integrand_is_minus_infinity() -> None:
    assert float(log_integrate(lambda x: np.full_like(x, -np.inf), 0.0, 1.0)) == -np.inf
    got = log_integrate(lambda x: np.where(np.array([0.0, 1.0]) > 0, -np.inf, 0.0 * x), 0.0, 2.0, batch_ndim=1)
    np.testing.assert_allclose(got, [math.log(2.0), -np.inf])


def test_empty_range() -> None:
    assert float(log_integrate(lambda x: 0.0 * x, 1.0, 1.0)) == -np.inf


def test_huge_and_tiny_values_in_log_space() -> None:
    # exp(±1000) overflows/underflows in linear space
    for offset in (1000.0, -1000.0):
        got = log_integrate(lambda x, o=offset: o - 0.5 * x * x, -math.inf, math.inf)
        assert float(got) == pytest.approx(offset + LOG_SQRT_2PI, rel=1e-13)


def test_heavy_tail_on_infinite_range() -> None:
    got = log_integrate(lambda x: -np.log1p(x * x), -math.inf, math.inf)  # Cauchy: π
    assert float(got) == pytest.approx(math.log(math.pi), rel=1e-10)


def test_against_quad_for_a_rough_integrand() -> None:
    def f(x: float) -> float:
        return math.exp(-abs(x - 0.37)) * (1 + 0.5 * math.sin(13 * x)) + (x > 1.1)

    want = sum(integrate.quad(f, a, b, epsabs=0, epsrel=1e-13)[0] for a, b in ((0, 0.37), (0.37, 1.1), (1.1, 2)))
    got = log_integrate(lambda x: np.log(np.exp(-np.abs(x - 0.37)) * (1 + 0.5 * np.sin(13 * x)) + (x > 1.1)),
                        0.0, 2.0)
    assert float(got) == pytest.approx(math.log(want), rel=1e-10)


def test_nan_propagates() -> None:
    got = log_integrate(lambda x: np.where(np.array([0.0, 1.0]) > 0, np.nan, 0.0 * x), 0.0, 1.0, batch_ndim=1)
    assert got[0] == pytest.approx(0.0, abs=1e-14)
    assert math.isnan(got[1])


def test_infinite_integrand_raises() -> None:
    with pytest.raises(EvaluationError, match="infinite inside the integration range"):
        log_integrate(lambda x: np.where(np.abs(x - 0.5) < 0.3, np.inf, 0.0), 0.0, 1.0)


def test_reversed_bounds_raise() -> None:
    with pytest.raises(EvaluationError, match="lower bound"):
        log_integrate(lambda x: 0.0 * x, 1.0, 0.0)


def test_no_convergence_raises() -> None:
    with np.errstate(divide="ignore", invalid="ignore"), pytest.raises(EvaluationError, match="did not converge"):
        log_integrate(lambda x: -0.5 * np.log(np.abs(x - 0.5)) + np.sin(1 / np.abs(x - 0.5)), 0.0, 1.0,
                      max_intervals=40)


def test_two_dimensional_correlated_gaussian() -> None:
    rho, sx, sy = 0.6, 1.5, 0.7
    cov = np.array([[sx * sx, rho * sx * sy], [rho * sx * sy, sy * sy]])
    inv = np.linalg.inv(cov)

    def log_f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return -0.5 * (inv[0, 0] * x * x + 2 * inv[0, 1] * x * y + inv[1, 1] * y * y)

    lo, hi = np.array([-1.0, -0.5]), np.array([2.0, 1.5])
    mvn = stats.multivariate_normal(mean=[0, 0], cov=cov)
    box = (mvn.cdf(hi) - mvn.cdf([lo[0], hi[1]]) - mvn.cdf([hi[0], lo[1]]) + mvn.cdf(lo))
    want = math.log(box) + math.log(2 * math.pi) + 0.5 * math.log(np.linalg.det(cov))
    got = log_integrate_2d(log_f, (lo[0], hi[0]), (lo[1], hi[1]))
    assert float(got) == pytest.approx(want, rel=1e-6)  # the oracle (scipy's mvn cdf) is accurate to ~1e-8


def test_two_dimensional_unbounded_against_closed_form() -> None:
    got = log_integrate_2d(lambda x, y: -0.5 * (x * x + (y - x) ** 2 / 0.25), (-math.inf, math.inf),
                           (-math.inf, math.inf))
    assert float(got) == pytest.approx(math.log(2 * math.pi * 0.5), rel=1e-9)


def test_incomplete_gamma_oracle() -> None:
    # ∫_0^5 x^1.5 e^-x dx = Γ(2.5) P(2.5, 5)
    got = log_integrate(lambda x: 1.5 * np.log(x) - x, 0.0, 5.0)
    assert float(got) == pytest.approx(special.gammaln(2.5) + math.log(special.gammainc(2.5, 5.0)), rel=1e-12)


@pytest.mark.parametrize(("m0", "c", "p", "lo", "hi"), [
    # the support ends 6e-5 after an edge of the first grid, before that interval's first node
    (1.2736044372111168, -21.075719371734017, 1.572038340380446, 0.24017879812551787, 1.5120107978986563),
    # a cusp u^0.094 at the endpoint, between an interval's last node and its end
    (4.411998707341054, -59.8628720855388, 0.09382002214153307, 0.9043964244945367, 6.3025305339508),
])
def test_support_edge_hidden_between_nodes(m0: float, c: float, p: float, lo: float, hi: float) -> None:
    def log_f(m: np.ndarray) -> np.ndarray:
        u = 1 - (m / m0) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((m > 0) & (u > 0), np.log(m) + p * np.log(u) + c * u, -np.inf)

    # closed form: (m0²/2) (-c)^-(p+1) Γ(p+1) P(p+1, -c u(lo))
    s, ua = p + 1, 1 - (lo / m0) ** 2
    want = math.log(0.5 * m0 * m0) - s * math.log(-c) + special.gammaln(s) + math.log(special.gammainc(s, -c * ua))
    assert float(log_integrate(log_f, lo, hi)) == pytest.approx(want, abs=1e-12)


def test_too_large_a_batch_is_refused_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyhs3_lab.integrate

    monkeypatch.setattr(pyhs3_lab.integrate, "_MAX_VALUES", 200_000)  # the real limit is 2e7 values
    width = np.geomspace(1e-6, 1.0, 400)  # many very different integrands at once need many intervals

    def log_f(x: np.ndarray) -> np.ndarray:
        return -0.5 * ((x - 0.3) / width) ** 2

    with pytest.raises(EvaluationError, match="400 parameter combinations at once"):
        log_integrate(log_f, 0.0, 1.0, batch_ndim=1)
