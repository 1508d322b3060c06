"""The expression parser and evaluator against hand-derived values, numpy/scipy and the real files."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import special

from pyhs3_lab.errors import ExpressionError, PyHS3LabError
from pyhs3_lab.expr import Binary, Call, Number, Unary, Variable, parse


def ev(text: str, **values: Any) -> Any:
    return parse(text).evaluate(values)


# -- precedence and associativity --------------------------------------------------------------

PRECEDENCE = [
    ("1 + 2 * 3", 7.0),
    ("(1 + 2) * 3", 9.0),
    ("2 * 3 ^ 2", 18.0),
    ("2 ^ 3 ^ 2", 512.0),           # right-associative
    ("2 ** 3 ** 2", 512.0),
    ("(2 ^ 3) ^ 2", 64.0),
    ("-2 ^ 2", -4.0),               # ^ binds tighter than unary minus
    ("-2 ** 2", -4.0),
    ("2 ^ -1", 0.5),                # signed exponent
    ("2 ^ -1 ^ 2", 0.5),            # 2^(-(1^2))
    ("-3 * 2", -6.0),
    ("- -3", 3.0),
    ("+3", 3.0),
    ("8 / 4 / 2", 1.0),             # left-associative
    ("8 - 4 - 2", 2.0),
    ("2 / 3", 2.0 / 3.0),           # float division
    ("7 / 2", 3.5),
    ("1 + 2 < 4", 1.0),             # arithmetic before comparison
    ("1 < 2 == 1", 1.0),            # relational before equality
    ("3 > 2 > 1", 0.0),             # (3 > 2) > 1 -> 1 > 1
    ("1 || 0 && 0", 1.0),           # && before ||
    ("(1 || 0) && 0", 0.0),
    ("!0 && 1", 1.0),
    ("!1 + 1", 1.0),                # (!1) + 1
    ("!(1 + 1)", 0.0),
    ("1 ? 2 : 3", 2.0),
    ("0 ? 2 : 3", 3.0),
    ("0 ? 1 : 0 ? 2 : 3", 3.0),     # right-associative ternary
    ("1 ? 0 ? 4 : 5 : 6", 5.0),
    ("0 || 0 ? 7 : 8", 8.0),        # the condition takes the whole ||
    ("1 + 1 ? 7 : 8", 7.0),
    ("2 * (3 + 4) ^ 2 / 7", 14.0),
    ("1.5e1 + .5 + 2.", 17.5),
    ("1.234E2", 123.4),
    ("1e-3 * 1e+3", 1.0),
    ("TRUE + TRUE + FALSE", 2.0),
    ("PI", math.pi),
    ("EULER", math.e),
    ("TMath::Pi()", math.pi),
    ("TMath::E()", math.e),
]


@pytest.mark.parametrize(("text", "expected"), PRECEDENCE)
def test_precedence_and_associativity(text: str, expected: float) -> None:
    assert ev(text) == pytest.approx(expected, rel=1e-15, abs=0)


def test_tree_shapes() -> None:
    assert parse("-x^2").tree == Unary("-", Binary("^", Variable("x"), Number(2.0)))
    assert parse("a - b - c").tree == Binary("-", Binary("-", Variable("a"), Variable("b")), Variable("c"))
    assert parse("a ** b").tree == Binary("^", Variable("a"), Variable("b"))
    assert parse("exp(x)").tree == Call("exp", (Variable("x"),))


def test_variables_in_expressions() -> None:
    assert ev("a * x + b", a=2.0, x=3.0, b=1.0) == 7.0
    assert ev("-x^2", x=3.0) == -9.0
    assert ev("x^-2", x=2.0) == 0.25


# -- comparisons and logic ----------------------------------------------------------------------


def test_approximate_and_exact_equality() -> None:
    one_plus = 1.0 + 2.0 * np.finfo(float).eps  # two ULP away from 1
    assert ev("a == 1", a=one_plus) == 1.0
    assert ev("a === 1", a=one_plus) == 0.0
    assert ev("a != 1", a=one_plus) == 0.0
    assert ev("a !== 1", a=one_plus) == 1.0
    assert ev("a == 1", a=1.0 + 1e-12) == 0.0
    assert ev("a != 1", a=1.0 + 1e-12) == 1.0
    assert ev("0 == 0") == 1.0
    assert ev("0.1 + 0.2 == 0.3") == 1.0   # the reason for approximate ==
    assert ev("0.1 + 0.2 === 0.3") == 0.0
    assert ev("a == a", a=math.inf) == 1.0
    assert ev("a == 1", a=math.inf) == 0.0
    assert ev("a == a", a=math.nan) == 0.0  # nan equals nothing, as in C
    assert ev("a != a", a=math.nan) == 1.0


@pytest.mark.parametrize(("op", "fn"), [("<", np.less), ("<=", np.less_equal), (">", np.greater),
                                        (">=", np.greater_equal)])
def test_relational_operators(op: str, fn: Any) -> None:
    a = np.array([0.0, 1.0, 2.0])
    out = ev(f"a {op} 1", a=a)
    np.testing.assert_array_equal(out, fn(a, 1.0).astype(float))
    assert out.dtype == np.float64


def test_logic_truth_table() -> None:
    a = np.array([0.0, 0.0, 1.0, 1.0])
    b = np.array([0.0, 2.5, 0.0, -1.0])  # any non-zero is true
    np.testing.assert_array_equal(ev("a && b", a=a, b=b), [0, 0, 0, 1])
    np.testing.assert_array_equal(ev("a || b", a=a, b=b), [0, 1, 1, 1])
    np.testing.assert_array_equal(ev("!b", b=b), [1, 0, 1, 0])


def test_ternary_is_vectorised() -> None:
    x = np.array([-4.0, 0.0, 9.0])
    np.testing.assert_array_equal(ev("x > 0 ? sqrt(x) : -x", x=x), [4.0, 0.0, 3.0])
    # no warnings from the branch that is not taken (filterwarnings=error)
    np.testing.assert_array_equal(ev("x > 0 ? log(x) : 0", x=x), [0.0, 0.0, math.log(9.0)])


# -- functions ------------------------------------------------------------------------------------

X = np.array([0.1, 0.35, 0.5, 0.9])
Y = np.array([1.5, -0.25, 2.0, 0.7])

UNARY = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "log10": np.log10,
    "erf": special.erf, "erfc": special.erfc, "floor": np.floor, "ceil": np.ceil, "sinh": np.sinh,
    "cosh": np.cosh, "tanh": np.tanh,
}
TMATH = {
    "TMath::Exp": "exp", "TMath::Log": "log", "TMath::Log10": "log10", "TMath::Sqrt": "sqrt",
    "TMath::Abs": "abs", "TMath::Sin": "sin", "TMath::Cos": "cos", "TMath::Tan": "tan", "TMath::ASin": "asin",
    "TMath::ACos": "acos", "TMath::ATan": "atan", "TMath::SinH": "sinh", "TMath::CosH": "cosh",
    "TMath::TanH": "tanh", "TMath::Erf": "erf", "TMath::Erfc": "erfc", "TMath::Floor": "floor",
    "TMath::Ceil": "ceil",
}
BINARY = {"pow": np.power, "min": np.minimum, "max": np.maximum, "atan2": np.arctan2,
          "TMath::Power": np.power, "TMath::Min": np.minimum, "TMath::Max": np.maximum,
          "TMath::ATan2": np.arctan2}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_functions(name: str) -> None:
    np.testing.assert_array_equal(ev(f"{name}(x)", x=X), UNARY[name](X))
    assert parse(f"{name}(x)").symbols == frozenset({"x"})


@pytest.mark.parametrize("name", sorted(TMATH))
def test_tmath_functions(name: str) -> None:
    np.testing.assert_array_equal(ev(f"{name}(x)", x=X), UNARY[TMATH[name]](X))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_functions(name: str) -> None:
    x = np.abs(Y)  # pow of a negative base to a fractional exponent is nan; keep it real
    np.testing.assert_array_equal(ev(f"{name}(x, y)", x=x, y=X), BINARY[name](x, X))


def test_tmath_gaus_is_unnormalised() -> None:
    x = np.linspace(-3, 3, 7)
    np.testing.assert_allclose(ev("TMath::Gaus(x, 0.5, 2)", x=x), np.exp(-0.5 * ((x - 0.5) / 2) ** 2), rtol=1e-15)


def test_numbers_are_floats_even_in_integer_power() -> None:
    assert ev("2^-2") == 0.25
    assert ev("n^-2", n=2) == 0.25  # an integer value is evaluated as a float


def test_floating_point_exceptions_give_inf_nan_without_warnings() -> None:
    assert ev("1/x", x=0.0) == math.inf
    assert math.isnan(ev("log(x)", x=-1.0))
    assert math.isnan(ev("sqrt(x)", x=-1.0))


# -- symbols and broadcasting -------------------------------------------------------------------


def test_symbols() -> None:
    e = parse("TMath::Exp(-mu_1*x) + pow(_a, 2) * PI + EULER + TRUE + sqrt(b2) + (c ? d : e)")
    assert e.symbols == frozenset({"mu_1", "x", "_a", "b2", "c", "d", "e"})
    assert e.functions == frozenset({"TMath::Exp", "pow", "sqrt"})
    assert parse("3 * 4").symbols == frozenset()


def test_arrays_broadcast() -> None:
    x = np.linspace(0, 1, 5)[:, None]
    mu = np.array([0.0, 0.5, 1.0])[None, :]
    out = ev("exp(-0.5*((x-mu)/s)**2)", x=x, mu=mu, s=0.3)
    assert out.shape == (5, 3)
    np.testing.assert_allclose(out, np.exp(-0.5 * ((x - mu) / 0.3) ** 2), rtol=1e-15)


def test_resolve_callable_is_called_per_symbol() -> None:
    seen: list[str] = []

    def resolve(name: str) -> float:
        seen.append(name)
        return 2.0

    assert parse("a * b + a").evaluate(resolve) == 6.0
    assert sorted(set(seen)) == ["a", "b"]


def test_parse_is_cached() -> None:
    assert parse("a + b") is parse("a + b")


def test_constant_subtrees_are_folded_but_values_unchanged() -> None:
    assert ev("x * (2 * PI)", x=1.0) == 2 * math.pi
    assert ev("x + sqrt(4) * TMath::Pi()", x=0.0) == 2 * math.pi


# -- errors -----------------------------------------------------------------------------------------

ERRORS = [
    ("", 0, "empty"),
    ("a +", 3, "unexpected end"),
    ("(a", 2, "expected ')'"),
    ("a)", 1, "unexpected ')'"),
    ("a b", 2, "expected an operator"),
    ("3 x", 2, "expected an operator"),
    ("foo(x)", 0, "unknown function 'foo'"),
    ("1 + bar(1, 2)", 4, "unknown function 'bar'"),
    ("exp(x, y)", 0, "takes 1 argument, got 2"),
    ("pow(x)", 0, "takes 2 arguments, got 1"),
    ("TMath::Pi(1)", 0, "takes no arguments"),
    ("a.b", 1, "attribute access"),
    ("x.real", 1, "attribute access"),
    ("__import__('os').system('x')", 11, "unexpected character"),
    ("a = 1", 2, "unexpected character '='"),
    ("x[0] + 1", 1, "placeholders"),
    ("@0", 0, "placeholders"),
    ("1e", 1, "exponent"),
    ("1.2.3", 3, "after number"),
    ("2x", 1, "after number"),
    ("a ? b", 5, "expected ':'"),
    ("a : b", 2, "unexpected ':'"),
    ("()", 1, "empty brackets"),
    ("TMath::Foo", 0, "not a variable name"),
    ("1 +* 2", 3, "unexpected '*'"),
    ("a & b", 2, "unexpected character '&'"),
    ("exp(x,)", 6, "unexpected ')'"),
]


@pytest.mark.parametrize(("text", "position", "message"), ERRORS)
def test_errors_have_positions(text: str, position: int, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert info.value.position == position
    assert message in str(info.value)
    assert info.value.text == text
    assert isinstance(info.value, PyHS3LabError)


def test_error_message_points_at_the_problem() -> None:
    with pytest.raises(ExpressionError) as info:
        parse("a + foo(b)")
    lines = str(info.value).splitlines()
    assert lines[-2].strip() == "a + foo(b)"
    assert lines[-1].index("^") - lines[-2].index("a") == 4


def test_non_string_is_an_error() -> None:
    with pytest.raises(ExpressionError):
        parse(3)  # type: ignore[arg-type]


def test_no_eval_in_the_module() -> None:
    import pyhs3_lab.expr as mod

    source = Path(mod.__file__).read_text()
    for forbidden in ("eval(", "exec(", "sympify", "numexpr", "compile("):
        assert forbidden not in source.replace("_compile(", "").replace("evaluate(", "").replace("_eval(", "")


# -- the real files ---------------------------------------------------------------------------------


def _expressions(obj: Any) -> list[str]:
    out: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key == "expression" and isinstance(value, str):
                out.append(value)
            else:
                out += _expressions(value)
    elif isinstance(obj, list):
        for value in obj:
            out += _expressions(value)
    return out


def _all_file_expressions(root: Path) -> list[str]:
    found: set[str] = set()
    for path in sorted(root.rglob("*.json")):
        try:
            found.update(_expressions(json.loads(path.read_text())))
        except (OSError, ValueError):
            continue
    return sorted(found)


def test_every_expression_in_the_real_files_parses_and_evaluates(workspaces_dir: Path) -> None:
    exprs = _all_file_expressions(workspaces_dir)
    assert len(exprs) > 20  # the shared workspaces hold dozens of distinct expressions
    for text in exprs:
        e = parse(text)
        assert e.symbols, text
        value = e.evaluate(lambda name: np.array([0.5, 1.5]))
        assert np.shape(value) == (2,)


def test_real_expression_values() -> None:
    # forms seen in the shared files, against direct numpy
    x = np.linspace(10, 20, 11)
    np.testing.assert_allclose(ev("exp(-0.5*((x-mean_ch0)/sigma_ch0)**2)", x=x, mean_ch0=15.0, sigma_ch0=2.0),
                               np.exp(-0.5 * ((x - 15.0) / 2.0) ** 2), rtol=1e-15)
    np.testing.assert_allclose(ev("exp(tau_ch0*x)", x=x, tau_ch0=-0.3), np.exp(-0.3 * x), rtol=1e-15)
    np.testing.assert_allclose(
        ev("1.0 + p1_ch0*((x-15.0)/5.0) + p2_ch0*((x-15.0)/5.0)**2", x=x, p1_ch0=0.2, p2_ch0=-0.1),
        1.0 + 0.2 * ((x - 15.0) / 5.0) - 0.1 * ((x - 15.0) / 5.0) ** 2, rtol=1e-15)
    np.testing.assert_allclose(ev("exp(-m0 * obs_x_channel1 )", m0=0.5, obs_x_channel1=x), np.exp(-0.5 * x))
