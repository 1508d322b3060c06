"""HistFactory interpolation codes against a direct scalar transcription of hs3-semantics §4.3 and pyhf."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyhs3_lab.errors import SchemaError
from pyhs3_lab.ops.interp import (
    flexible_interp_var,
    histosys_term,
    histosys_term_grad,
    interpolation_code,
    normsys_term,
    normsys_term_grad,
    piecewise_interpolation,
)

ALPHAS = [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]
EXTRA = [-1.3, -0.999, -0.2, 0.05, 0.7, 1.001, 3.5]


# -- an independent, scalar, literal reading of §4.3 ------------------------------------------


def _poly6_exp_ref(a: float, lo: float, hi: float) -> float:
    """FlexibleInterpVar code 4 with x0 = 1, written from the coefficient table of §4.3."""
    if a >= 1:
        return hi ** a
    if a <= -1:
        return lo ** (-a)
    lh, ll = math.log(hi), math.log(lo)
    s0, a0 = (hi + lo) / 2, (hi - lo) / 2
    s1, a1 = (hi * lh - lo * ll) / 2, (hi * lh + lo * ll) / 2
    s2, a2 = (hi * lh ** 2 + lo * ll ** 2) / 2, (hi * lh ** 2 - lo * ll ** 2) / 2
    c = [
        (15 * a0 - 7 * s1 + a2) / 8,
        (-24 + 24 * s0 - 9 * a1 + s2) / 8,
        (-5 * a0 + 5 * s1 - a2) / 4,
        (12 - 12 * s0 + 7 * a1 - s2) / 4,
        (3 * a0 - 3 * s1 + a2) / 8,
        (-8 + 8 * s0 - 5 * a1 + s2) / 8,
    ]
    return 1 + sum(ck * a ** (k + 1) for k, ck in enumerate(c))


def normsys_ref(code: int, a: float, lo: float, hi: float) -> float:
    """delta (additive codes) or factor (multiplicative codes), nominal 1."""
    if code == 0:
        return a * (hi - 1) if a >= 0 else a * (1 - lo)
    if code == 1:
        return hi ** a if a >= 0 else lo ** (-a)
    if code in (2, 3):
        s = (hi + lo) / 2 - 1
        d = (hi - lo) / 2
        if a > 1:
            return (2 * s + d) * (a - 1) + (hi - 1)
        if a < -1:
            return -(2 * s - d) * (a + 1) + (lo - 1)
        return s * a * a + d * a
    return _poly6_exp_ref(a, lo, hi)


def histosys_ref(code: int, a: float, y0: float, ym: float, yp: float) -> float:
    """delta (additive) or ratio (multiplicative) for one bin."""
    if code == 0:
        return a * (yp - y0) if a >= 0 else a * (y0 - ym)
    if code == 1:
        return (yp / y0) ** a if a >= 0 else (ym / y0) ** (-a)
    if code in (2, 3):
        s = (yp + ym) / 2 - y0
        d = (yp - ym) / 2
        if a > 1:
            return (2 * s + d) * (a - 1) + (yp - y0)
        if a < -1:
            return -(2 * s - d) * (a + 1) + (ym - y0)
        return s * a * a + d * a
    if code == 4:
        if a >= 1:
            return a * (yp - y0)
        if a <= -1:
            return a * (y0 - ym)
        s = (yp - ym) / 2
        big_a = (yp + ym - 2 * y0) / 16
        return a * (s + a * big_a * (15 + a * a * (3 * a * a - 10)))
    if code == 5:
        return _poly6_exp_ref(a, ym / y0, yp / y0)
    # code 6 (ROOT): 1 + the code-4 delta of the absolute templates
    return 1 + histosys_ref(4, a, y0, ym, yp)


NORMSYS_CASES = [(0.9, 1.1), (0.8, 1.3), (1.2, 0.85), (0.5, 2.0), (0.97, 1.02)]
HISTO_BINS = (np.array([10.0, 20.0, 5.0, 1.0]), np.array([8.0, 19.0, 6.0, 0.2]), np.array([13.0, 22.0, 4.5, 1.9]))


@pytest.mark.parametrize("code", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize(("lo", "hi"), NORMSYS_CASES)
def test_normsys_against_direct_formulas(code: int, lo: float, hi: float) -> None:
    alphas = np.array(ALPHAS + EXTRA)
    kind, val = normsys_term(code, alphas, lo, hi)
    assert kind == ("add" if code in (0, 2, 3) else "mult")
    ref = [normsys_ref(code, a, lo, hi) for a in alphas]
    np.testing.assert_allclose(val, ref, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("code", [0, 1, 2, 3, 4, 5, 6])
def test_histosys_against_direct_formulas(code: int) -> None:
    nom, low, high = HISTO_BINS
    alphas = np.array(ALPHAS + EXTRA)
    kind, val = histosys_term(code, alphas[:, None], nom, low, high)
    assert kind == ("add" if code in (0, 2, 3, 4) else "mult")
    assert val.shape == (len(alphas), len(nom))
    ref = [[histosys_ref(code, a, y0, ym, yp) for y0, ym, yp in zip(nom, low, high, strict=True)] for a in alphas]
    np.testing.assert_allclose(val, ref, rtol=1e-13, atol=1e-14)


def test_alpha_of_any_shape() -> None:
    alpha = np.linspace(-2, 2, 24).reshape(2, 3, 4)
    _, val = normsys_term(4, alpha, 0.9, 1.1)
    assert val.shape == (2, 3, 4)
    _, scalar = normsys_term(4, 0.3, 0.9, 1.1)
    assert scalar.shape == ()
    np.testing.assert_allclose(float(scalar), normsys_ref(4, 0.3, 0.9, 1.1), rtol=1e-14)


# -- pyhf ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pyhf_numpy():  # type: ignore[no-untyped-def]
    pyhf = pytest.importorskip("pyhf")
    pyhf.set_backend("numpy")
    return pyhf


def _pyhf_histosys(pyhf, code, alphas, nom, low, high):  # type: ignore[no-untyped-def]
    hs = [[[low.tolist(), nom.tolist(), high.tolist()]]]
    out = np.asarray(pyhf.interpolators.get(code)(hs)(np.array([alphas])))
    return out[0, 0]  # (alphas, bins)


@pytest.mark.pyhf
@pytest.mark.parametrize(("pyhf_code", "our_code", "inside_only"),
                         [(0, 0, False), (1, 1, False), ("4p", 4, False), (4, 5, False), (2, 2, True)])
def test_histosys_against_pyhf(pyhf_numpy, pyhf_code, our_code, inside_only) -> None:  # type: ignore[no-untyped-def]
    nom, low, high = HISTO_BINS
    alphas = np.array([a for a in ALPHAS + EXTRA if not inside_only or abs(a) <= 1])
    ref = _pyhf_histosys(pyhf_numpy, pyhf_code, alphas, nom, low, high)
    kind, val = histosys_term(our_code, alphas[:, None], nom, low, high)
    # pyhf's multiplicative interpolators return the factor, the additive ones the delta
    assert kind == ("mult" if pyhf_code in (1, 4) else "add")
    np.testing.assert_allclose(val, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.pyhf
def test_pyhf_code2_extrapolation_differs_from_root(pyhf_numpy) -> None:  # type: ignore[no-untyped-def]
    # pyhf's code2 outside |alpha| > 1 is not ROOT's (pyhf issue #2729); ours is ROOT's, which is C1 at ±1
    nom, low, high = HISTO_BINS
    ref = _pyhf_histosys(pyhf_numpy, 2, np.array([-2.0]), nom, low, high)
    _, val = histosys_term(2, -2.0, nom, low, high)
    assert not np.allclose(val, ref[0])
    _, g_in = histosys_term_grad(2, -1.0 + 1e-12, nom, low, high)
    _, g_out = histosys_term_grad(2, -1.0 - 1e-12, nom, low, high)
    np.testing.assert_allclose(g_in, g_out, rtol=1e-9)


@pytest.mark.pyhf
@pytest.mark.parametrize(("pyhf_code", "our_code"), [(0, 0), (1, 1), (4, 4), (2, 2)])
def test_normsys_against_pyhf(pyhf_numpy, pyhf_code, our_code) -> None:  # type: ignore[no-untyped-def]
    alphas = np.array([a for a in ALPHAS + EXTRA if pyhf_code != 2 or abs(a) <= 1])
    for lo, hi in NORMSYS_CASES:
        hs = [[[[lo], [1.0], [hi]]]]
        ref = np.asarray(pyhf_numpy.interpolators.get(pyhf_code)(hs)(np.array([alphas])))[0, 0, :, 0]
        _, val = normsys_term(our_code, alphas, lo, hi)
        np.testing.assert_allclose(val, ref, rtol=1e-12, atol=1e-14)


# -- continuity and smoothness --------------------------------------------------------------------


@pytest.mark.parametrize(("lo", "hi"), NORMSYS_CASES)
def test_code4_continuous_to_second_derivative_at_boundaries(lo: float, hi: float) -> None:
    h = 1e-7
    for b in (-1.0, 1.0):
        inside, outside = b - np.sign(b) * h, b + np.sign(b) * h
        _, v = normsys_term(4, np.array([inside, outside]), lo, hi)
        np.testing.assert_allclose(v[0], v[1], rtol=1e-6)
        _, g = normsys_term_grad(4, np.array([inside, outside]), lo, hi)
        np.testing.assert_allclose(g[0], g[1], rtol=1e-5, atol=1e-9)
        # second derivative from the gradient
        _, gg = normsys_term_grad(4, np.array([inside - 1e-5 * np.sign(b), inside, outside,
                                                outside + 1e-5 * np.sign(b)]), lo, hi)
        second_in = (gg[1] - gg[0]) / (1e-5 * np.sign(b))
        second_out = (gg[3] - gg[2]) / (1e-5 * np.sign(b))
        np.testing.assert_allclose(second_in, second_out, rtol=2e-3, atol=1e-6)


def test_histosys_code4_continuous_at_boundaries() -> None:
    nom, low, high = HISTO_BINS
    for b in (-1.0, 1.0):
        _, a = histosys_term(4, b - np.sign(b) * 1e-9, nom, low, high)
        _, c = histosys_term(4, b + np.sign(b) * 1e-9, nom, low, high)
        np.testing.assert_allclose(a, c, atol=1e-7)
    _, at_one = histosys_term(4, np.array([-1.0, 0.0, 1.0])[:, None], nom, low, high)
    np.testing.assert_allclose(at_one, [low - nom, np.zeros_like(nom), high - nom], atol=1e-14)


def test_every_code_passes_through_the_templates() -> None:
    nom, low, high = HISTO_BINS
    for code in (0, 1, 2, 4, 5):
        kind, v = histosys_term(code, np.array([-1.0, 0.0, 1.0])[:, None], nom, low, high)
        y = nom + v if kind == "add" else nom * v
        np.testing.assert_allclose(y, [low, nom, high], rtol=1e-13)
    for code in (0, 1, 2, 4):
        kind, v = normsys_term(code, np.array([-1.0, 0.0, 1.0]), 0.8, 1.3)
        y = 1 + v if kind == "add" else v
        np.testing.assert_allclose(y, [0.8, 1.0, 1.3], rtol=1e-13)


# -- gradients --------------------------------------------------------------------------------------

GRAD_ALPHAS = np.array([-2.0, -1.3, -0.5, -0.2, 0.1, 0.5, 0.9, 1.7])  # off the kinks at 0 and ±1


@pytest.mark.parametrize("code", [0, 1, 2, 4, 5])
def test_normsys_gradient_matches_finite_differences(code: int) -> None:
    h = 1e-6
    for lo, hi in NORMSYS_CASES:
        _, g = normsys_term_grad(code, GRAD_ALPHAS, lo, hi)
        _, up = normsys_term(code, GRAD_ALPHAS + h, lo, hi)
        _, dn = normsys_term(code, GRAD_ALPHAS - h, lo, hi)
        np.testing.assert_allclose(g, (up - dn) / (2 * h), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("code", [0, 1, 2, 4, 5, 6])
def test_histosys_gradient_matches_finite_differences(code: int) -> None:
    nom, low, high = HISTO_BINS
    h = 1e-6
    a = GRAD_ALPHAS[:, None]
    _, g = histosys_term_grad(code, a, nom, low, high)
    _, up = histosys_term(code, a + h, nom, low, high)
    _, dn = histosys_term(code, a - h, nom, low, high)
    np.testing.assert_allclose(g, (up - dn) / (2 * h), rtol=1e-6, atol=1e-7)


# -- edge cases -----------------------------------------------------------------------------------


def test_code4_clamps_non_positive_variations_like_root() -> None:
    eps = np.finfo(float).eps
    _, v = normsys_term(4, np.array([-2.0, -0.5, 0.5]), 0.0, 1.2)
    _, ref = normsys_term(4, np.array([-2.0, -0.5, 0.5]), eps, 1.2)
    np.testing.assert_array_equal(v, ref)
    assert np.all(np.isfinite(v))


def test_unknown_codes_raise() -> None:
    with pytest.raises(SchemaError, match="code 6"):
        normsys_term(6, 0.0, 0.9, 1.1)
    with pytest.raises(SchemaError, match="code 7"):
        histosys_term(7, 0.0, 1.0, 0.9, 1.1)
    with pytest.raises(SchemaError):
        normsys_term(True, 0.0, 0.9, 1.1)  # type: ignore[arg-type]


# -- whole objects ---------------------------------------------------------------------------------


def test_flexible_interp_var_multiplies_and_adds_in_order() -> None:
    a = [0.4, -0.7, 1.5]
    codes = [4, 0, 1]
    lows, highs = [0.9, 0.95, 0.8], [1.1, 1.08, 1.25]
    got = flexible_interp_var(codes, a, 1.0, lows, highs)
    total = 1.0
    total *= normsys_ref(4, 0.4, 0.9, 1.1)
    total += normsys_ref(0, -0.7, 0.95, 1.08)
    total *= normsys_ref(1, 1.5, 0.8, 1.25)
    np.testing.assert_allclose(got, total, rtol=1e-14)
    # non-unit nominal: ratios for the multiplicative codes, absolute deltas for the additive ones
    got2 = flexible_interp_var([1, 0], [0.5, 0.5], 2.0, [1.5, 1.8], [3.0, 2.4])
    np.testing.assert_allclose(got2, 2.0 * 1.5 ** 0.5 + 0.5 * 0.4, rtol=1e-14)
    # ROOT returns DBL_MIN for a non-positive total
    assert flexible_interp_var([0], [-3.0], 1.0, [0.5], [1.5]) == np.finfo(float).tiny


def test_piecewise_interpolation_order_and_positive_definite() -> None:
    nom, low, high = HISTO_BINS
    low2, high2 = nom * 0.9, nom * 1.2
    got = piecewise_interpolation([4, 1], [np.asarray(0.3), np.asarray(-0.6)], nom, [low, low2], [high, high2])
    ref = np.array([(y0 + histosys_ref(4, 0.3, y0, ym, yp)) * histosys_ref(1, -0.6, y0, 0.9 * y0, 1.2 * y0)
                    for y0, ym, yp in zip(nom, low, high, strict=True)])
    np.testing.assert_allclose(got, ref, rtol=1e-13)
    neg = piecewise_interpolation([0], [np.asarray(-5.0)], nom, [low], [high], positive_definite=True)
    np.testing.assert_array_equal(neg, np.maximum(nom - 5.0 * (nom - low), 0.0))
    assert np.any(piecewise_interpolation([0], [np.asarray(-5.0)], nom, [low], [high]) < 0)


# -- code parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec", "target", "code"), [
    (0, "histosys", 0), (4, "histosys", 4), (5, "histosys", 5), (6, "histosys", 6), (4, "normsys", 4),
    (3, "normsys", 2), (3, "histosys", 2), (1.0, "normsys", 1), ("4", "normsys", 4),
    ({"type": "add", "in": "poly1", "out": None}, "histosys", 0),
    ({"type": "add", "in": "poly1"}, "histosys", 0),
    ({"type": "mult", "in": "exp"}, "normsys", 1),
    ({"type": "add", "in": "poly2", "out": "poly1"}, "histosys", 2),
    ({"type": "add", "in": "poly6", "out": "poly1"}, "histosys", 4),
    ({"type": "mult", "in": "poly6", "out": "exp"}, "histosys", 5),
    ({"type": "mult", "in": "poly6", "out": "exp"}, "normsys", 4),
    ({"type": "mult", "in": "poly6", "out": "poly1"}, "histosys", 6),
    ("code1", "normsys", 1), ("code4", "normsys", 4), ("code4", "histosys", 5), ("code4p", "histosys", 4),
    ("code0", "histosys", 0), ("code2", "normsys", 2),
])
def test_interpolation_code(spec: object, target: str, code: int) -> None:
    assert interpolation_code(spec, target) == code  # type: ignore[arg-type]


@pytest.mark.parametrize(("spec", "target", "message"), [
    (7, "histosys", "no interpolation code 7"),
    (6, "normsys", "no interpolation code 6"),
    (-1, "normsys", "no interpolation code -1"),
    ("code9", "normsys", "unknown normsys interpolation 'code9'"),
    ("code4p", "normsys", "unknown normsys interpolation"),
    ({"type": "add", "in": "poly6", "out": "poly1"}, "normsys", "not supported by FlexibleInterpVar"),
    ({"type": "mult", "in": "poly2"}, "histosys", "not supported"),
    (True, "histosys", "boolean"),
    (None, "histosys", "NoneType"),
    (2.5, "histosys", "float"),
])
def test_interpolation_code_errors(spec: object, target: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message) as info:
        interpolation_code(spec, target, path="distributions[0].samples[1].modifiers[2].interpolation")  # type: ignore[arg-type]
    assert info.value.problems[0].path == "distributions[0].samples[1].modifiers[2].interpolation"
