"""The kernel-less viewer (js/lab/validate.ts) and spec.validate report the same errors at the same JSON paths.

js/lab/__tests__/invalid-workspaces.json lists invalid workspaces with the paths of their errors; vitest checks
the TypeScript validator against it, this test checks Python's. Together they keep the two in step.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import pyhs3_lab
from pyhs3_lab.spec import validate

CASES = json.loads((Path(__file__).resolve().parents[1] / "js" / "lab" / "__tests__" /
                    "invalid-workspaces.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=[c["why"] for c in CASES])
def test_python_errors_match_the_viewers(case: dict[str, Any]) -> None:
    with pytest.raises(pyhs3_lab.SchemaError) as info:
        validate(case["doc"])
    assert [p.path for p in info.value.problems] == case["errors"]
