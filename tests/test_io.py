"""pyhs3_lab.io: a dict given to the workspace is copied, never shared with the caller."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

import pyhs3_lab
from pyhs3_lab.io import copy_json, read


def _doc() -> dict[str, Any]:
    return {
        "metadata": {"hs3_version": "0.2"},
        "distributions": [{"name": "g", "type": "gaussian_dist", "x": "x", "mean": "mu", "sigma": 1.0}],
        "data": [{"name": "d", "type": "unbinned", "axes": [{"name": "x", "min": -5.0, "max": 5.0}],
                  "entries": [[0.1], [0.2], [-0.3]]}],
        "likelihoods": [{"name": "L", "distributions": ["g"], "data": ["d"]}],
        "misc": {"tool": {"nested": [1, [2, 3], {"k": None}], "flag": True}},
    }


def _ids(value: Any, out: set[int]) -> set[int]:
    if isinstance(value, dict | list):
        out.add(id(value))
        for v in value.values() if isinstance(value, dict) else value:
            _ids(v, out)
    return out


def test_copy_json_shares_no_container_and_keeps_every_value() -> None:
    doc = _doc()
    copied = copy_json(doc)
    assert copied == doc
    assert not _ids(copied, set()) & _ids(doc, set())
    odd = {"a": (1, 2), "b": np.arange(3.0)}  # not JSON: deep-copied as Python would
    got = copy_json(odd)
    assert got["a"] == (1, 2)
    assert got["b"] is not odd["b"]
    np.testing.assert_array_equal(got["b"], odd["b"])


def test_the_workspace_does_not_see_later_changes_of_the_callers_dict() -> None:
    doc = _doc()
    before = copy.deepcopy(doc)
    ws = pyhs3_lab.Workspace(**doc)
    loaded = pyhs3_lab.Workspace.load(doc)
    doc["data"][0]["entries"][0][0] = 4.0
    doc["misc"]["tool"]["nested"][1].append(99)
    doc["distributions"][0]["sigma"] = 2.0
    for w in (ws, loaded):
        assert w.to_dict() == before
    assert read(doc) == doc
    assert read(doc) is not doc


def test_gc_paused_restores_the_collector() -> None:
    import gc

    import pytest

    from pyhs3_lab.gcpause import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():  # a pause inside a pause
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError, match="boom"), gc_paused():
        raise ValueError("boom")
    assert gc.isenabled()
    gc.disable()  # the user's choice is kept
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
    # building a workspace and a likelihood leaves it on
    ws = pyhs3_lab.Workspace(**_doc())
    ws.likelihood("L").nll({"mu": 0.0})
    assert gc.isenabled()
