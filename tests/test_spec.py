"""Validation: every problem of a bad workspace is reported at once, with its JSON path."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

import pyhs3_lab
from pyhs3_lab import CycleError, HS3ReferenceError, ParseError, SchemaError, UnsupportedTypeError


def base() -> dict[str, Any]:
    return {
        "metadata": {"hs3_version": "0.2"},
        "distributions": [
            {"name": "sig", "type": "gaussian_dist", "x": "x", "mean": "mu", "sigma": "sigma"},
            {"name": "bkg", "type": "exponential_dist", "x": "x", "c": "c"},
            {"name": "model", "type": "mixture_dist", "summands": ["sig", "bkg"], "coefficients": ["f"],
             "extended": False},
        ],
        "functions": [{"name": "mu", "type": "generic_function", "expression": "m0 + shift"}],
        "data": [{"name": "obs", "type": "unbinned", "axes": [{"name": "x", "min": 0, "max": 10}],
                  "entries": [[1.0], [2.0], [5.0]]}],
        "likelihoods": [{"name": "L", "distributions": ["model"], "data": ["obs"]}],
        "parameter_points": [{"name": "default_values", "parameters": [
            {"name": "m0", "value": 5.0}, {"name": "shift", "value": 0.0}, {"name": "sigma", "value": 1.0},
            {"name": "c", "value": 0.3}, {"name": "f", "value": 0.4}]}],
        "domains": [{"name": "default_domain", "type": "product_domain", "axes": [
            {"name": "x", "min": 0, "max": 10}, {"name": "sigma", "min": 0.1, "max": 5}]}],
        "analyses": [{"name": "A", "likelihood": "L", "parameters_of_interest": ["f"],
                      "domains": ["default_domain"], "init": "default_values"}],
        "misc": {"ROOT_internal": {"anything": [1, 2, {"kept": True}]}},
        "an_unknown_top_level_key": {"kept": "too"},
    }


def problems(data: dict[str, Any]) -> list[pyhs3_lab.Problem]:
    with pytest.raises(SchemaError) as info:
        pyhs3_lab.Workspace.load(data)
    return info.value.problems


def test_valid_workspace_evaluates_and_round_trips(tmp_path: Any) -> None:
    data = base()
    ws = pyhs3_lab.Workspace.load(data)
    assert ws.to_dict() == data
    out = tmp_path / "ws.hs3.json"
    ws.dump(out)
    assert json.loads(out.read_text()) == data
    assert pyhs3_lab.Workspace.load(out).to_dict() == data
    assert sorted(ws.parameter_names) == ["c", "f", "m0", "shift", "sigma", "x"]


def test_missing_metadata() -> None:
    """Strict validation refuses a file without metadata; by default it loads with a warning
    (a real HS3.jl file has none, and every real file must open)."""
    data = base()
    del data["metadata"]
    with pytest.raises(SchemaError) as info:
        pyhs3_lab.Workspace.load(data, strict=True)
    (p,) = info.value.problems
    assert p.path == "metadata"
    assert "hs3_version" in (p.expected or "")
    with pytest.raises(SchemaError, match="hs3_version"):
        pyhs3_lab.load(data, strict=True)  # the module-level shortcut takes strict= too
    ws = pyhs3_lab.Workspace.load(data)
    assert [w.path for w in ws.spec.warnings] == ["metadata"]
    assert ws.to_dict() == data
    data["metadata"] = {"authors": ["me"]}
    with pytest.raises(SchemaError, match="hs3_version"):
        pyhs3_lab.Workspace.load(data, strict=True)
    data["metadata"] = {"hs3_version": 2}
    with pytest.raises(SchemaError, match="hs3_version"):
        pyhs3_lab.Workspace.load(data)


def test_parameter_without_value_starts_in_the_middle_of_its_range() -> None:
    """As ROOT's importer (RooRealVar(name, title, min, max)); listed in Model.defaulted."""
    data = base()
    data["parameter_points"][0]["parameters"] = [p for p in data["parameter_points"][0]["parameters"]
                                                 if p["name"] != "sigma"]
    model = pyhs3_lab.Workspace.load(data).model()
    assert model.values["sigma"] == pytest.approx(2.55)
    assert model.defaulted == ["x", "sigma"]  # the observable x has no value either


def test_all_problems_are_reported_at_once() -> None:
    data = base()
    data["distributions"][0]["sigma"] = [1, 2]  # wrong field type
    del data["distributions"][1]["c"]  # missing field
    data["distributions"].append({"name": "sig", "type": "gaussian_dist", "x": "x", "mean": 0, "sigma": 1})
    data["domains"][0]["axes"][1]["min"] = 9.0  # min > max
    data["parameter_points"][0]["parameters"][0]["value"] = "five"
    found = problems(data)
    paths = {p.path for p in found}
    assert "distributions[0].sigma" in paths
    assert "distributions[1].c" in paths
    assert "distributions[3]" in paths  # duplicate name
    assert "domains[0].axes[1]" in paths
    assert "parameter_points[0].parameters[0].value" in paths
    assert len(found) == 5
    message = str(SchemaError(found))
    assert "5 problems" in message
    assert "'sig'" in message


def test_wrong_field_type_names_object_field_and_expectation() -> None:
    data = base()
    data["distributions"][0]["mean"] = {"not": "a name"}
    (p,) = problems(data)
    assert (p.path, p.name, p.field) == ("distributions[0].mean", "sig", "mean")
    assert p.expected is not None
    assert "name" in p.expected
    assert "number" in p.expected


def test_numeric_strings_are_numbers() -> None:
    data = base()
    data["distributions"][0]["sigma"] = "1.0"
    ws = pyhs3_lab.Workspace.load(data)
    assert ws.distributions[0].parameters["sigma"] == 1.0
    assert "sigma" not in ws.parameter_names


def test_undefined_distribution_reference() -> None:
    data = base()
    data["distributions"][2]["summands"] = ["sig", "nope"]
    with pytest.raises(HS3ReferenceError) as info:
        pyhs3_lab.Workspace.load(data)
    (p,) = info.value.problems
    assert p.path == "distributions[2].summands[1]"
    assert "'nope'" in p.message


def test_likelihood_and_analysis_references() -> None:
    data = base()
    data["likelihoods"][0]["data"] = ["missing_data"]
    data["analyses"][0]["init"] = "missing_point"
    with pytest.raises(HS3ReferenceError) as info:
        pyhs3_lab.Workspace.load(data)
    assert {p.path for p in info.value.problems} == {"likelihoods[0].data[0]", "analyses[0].init"}


def test_cycle_is_reported_with_its_path() -> None:
    data = base()
    data["functions"] = [
        {"name": "mu", "type": "sum", "summands": ["a"]},
        {"name": "a", "type": "product", "factors": ["mu", 2.0]},
    ]
    with pytest.raises(CycleError) as info:
        pyhs3_lab.Workspace.load(data)
    text = str(info.value)
    assert "cycle" in text
    assert "mu" in text
    assert "a" in text


def test_unparsable_expression() -> None:
    data = base()
    data["functions"][0]["expression"] = "m0 + * shift"
    with pytest.raises(HS3ReferenceError) as info:
        pyhs3_lab.Workspace.load(data)
    (p,) = info.value.problems
    assert p.path == "functions[0].expression"


def test_code_in_an_expression_is_a_parse_error() -> None:
    data = base()
    data["functions"][0]["expression"] = "__import__('os').system('x')"
    with pytest.raises(SchemaError):
        pyhs3_lab.Workspace.load(data)


def test_unknown_type_loads_round_trips_and_fails_only_when_evaluated() -> None:
    data = base()
    data["distributions"].append({"name": "odd", "type": "my_new_dist", "x": "x", "p": "q", "extra": [1, 2]})
    ws = pyhs3_lab.Workspace.load(data)
    assert ws.to_dict() == data
    assert any("my_new_dist" in w.message for w in ws.spec.warnings)
    model = ws.model()
    assert model.pdf("sig", x=5.0) > 0
    with pytest.raises(UnsupportedTypeError) as info:
        model.pdf("odd", x=1.0, q=1.0)
    assert info.value.type == "my_new_dist"
    assert info.value.path == "distributions[3]"


def test_bad_names_and_values_at_evaluation_are_pyhs3_lab_errors() -> None:
    ws = pyhs3_lab.Workspace.load(base())
    compiled = ws.compiled()
    with pytest.raises(pyhs3_lab.EvaluationError, match="no distribution or function named 'nope'"):
        compiled.op("nope")
    with pytest.raises(pyhs3_lab.EvaluationError, match="'mu' is a function, not a distribution"):
        compiled.distribution("mu")
    with pytest.raises(pyhs3_lab.EvaluationError, match="'sig' is a distribution, not a function"):
        compiled.function("sig")
    with pytest.raises(pyhs3_lab.EvaluationError, match="parameter 'sigma': the value 'wide' is not a number"):
        ws.model().pdf("sig", x=5.0, sigma="wide")
    with pytest.raises(pyhs3_lab.EvaluationError, match="conventions must be 'root' or 'pyhf', not 'roofit'"):
        ws.likelihood("L", conventions="roofit")
    # observables=: a typo is an error (it normalised over nothing), one name may be a string
    model = ws.model()
    with pytest.raises(pyhs3_lab.EvaluationError, match=r"observables=\['X'\]: not variables of the workspace"):
        model.pdf("sig", x=5.0, observables=["X"])
    with pytest.raises(pyhs3_lab.EvaluationError, match=r"observables=\['X'\]"):
        ws.model(observables=["X"])
    assert model.pdf("sig", x=5.0, observables="x", m0=5.0) == pytest.approx(model.pdf("sig", x=5.0, observables=["x"]))
    # N(5 | 5, 1) normalised on x in [0, 10]
    expected = 1.0 / math.sqrt(2.0 * math.pi) / math.erf(5.0 / math.sqrt(2.0))
    assert model.pdf("sig", x=5.0, observables="x") == pytest.approx(expected, rel=1e-10)


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(ParseError, match="line 1"):
        pyhs3_lab.Workspace.load('{"metadata": ')
    with pytest.raises(ParseError, match="JSON object"):
        pyhs3_lab.Workspace.load(b"[1, 2]")
    with pytest.raises(ParseError, match="no such file"):
        pyhs3_lab.Workspace.load("/nonexistent/file.hs3.json")


def _mutations(data: Any, path: tuple[Any, ...] = ()) -> Any:
    """Every place in a JSON tree, with the path to it."""
    yield path, data
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _mutations(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _mutations(v, (*path, i))


def _set(data: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        data = data[key]
    data[path[-1]] = value


def _load_and_evaluate(data: dict[str, Any]) -> None:
    """Load, evaluate every distribution and every likelihood: a pyhs3_lab error is fine, nothing else is."""
    try:
        ws = pyhs3_lab.Workspace.load(data)
        model = ws.model()
        for dist in ws.distributions:
            model.logpdf(dist.name)
        for lik in ws.likelihoods:
            ws.likelihood(lik.name).nll()
    except pyhs3_lab.PyHS3LabError:
        pass


@pytest.mark.parametrize("replacement", [None, "?", 3, [], {}, True, -1e300])
def test_malformed_files_never_raise_bare_python_errors(replacement: Any) -> None:
    """Replace every value of a valid workspace in turn: loading and evaluating either works or raises a
    pyhs3_lab error, never a bare KeyError/TypeError/IndexError from inside."""
    data = base()
    for path, _value in list(_mutations(data)):
        if not path:
            continue
        broken = copy.deepcopy(data)
        _set(broken, path, replacement)
        _load_and_evaluate(broken)


@pytest.mark.slow
@pytest.mark.parametrize("relpath", [
    "HS3.jl/rf515_hfJSON_3.json",
    "pyhs3/simplemodel_uncorrelated-background_hs3.json",
    "pyhs3/combine_long_exercise_part1_nosys.json",
    "pyhs3-benchmarks/3ch_bkgGenExp_sigGauss_shapeFloat_npOn_constrGauss_yield1x.json",
])
def test_malformed_real_files_never_raise_bare_python_errors(workspaces_dir: Any, relpath: str) -> None:
    """The same on real files: every value replaced by null, a string, a list or an object."""
    data = json.loads((workspaces_dir / relpath).read_text())
    places = [p for p, v in _mutations(data) if p and not isinstance(v, list | dict)]
    for path in places[:: max(1, len(places) // 400)]:
        for replacement in (None, "?", [], {"a": 1}):
            broken = copy.deepcopy(data)
            _set(broken, path, replacement)
            _load_and_evaluate(broken)
