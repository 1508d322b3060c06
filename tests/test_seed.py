"""The PyHS3 tutorial "Working with Workspaces" runs as written with ``import pyhs3_lab as pyhs3``.

The code is taken from ../shared/seeds/pyhs3-working-with-workspaces.txt (a copy of
the web page as text, which lost the indentation of its ``for`` loops: it is restored
here, nothing else is changed). The doctest block runs as a doctest; the other blocks
run as scripts, and the numbers they print are checked against scipy.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import math
import re
import sys
from typing import Any

import pytest
from scipy import integrate, stats
from shared_paths import SHARED

import pyhs3_lab

SEED = SHARED / "seeds" / "pyhs3-working-with-workspaces.txt"

pytestmark = pytest.mark.skipif(not SEED.is_file(), reason=f"the tutorial is not at {SEED}")


def _lines() -> list[str]:
    return SEED.read_text(encoding="utf-8").splitlines()


def _block(first: str, last: str, start: int = 0) -> list[str]:
    """The lines from the first line equal to ``first`` (at or after ``start``) to the line equal to ``last``."""
    lines = _lines()
    i = next(k for k in range(start, len(lines)) if lines[k].strip() == first)
    j = next(k for k in range(i, len(lines)) if lines[k].strip() == last)
    return lines[i:j + 1]


def _reindent(lines: list[str]) -> str:
    """Restore the indentation of ``for`` bodies lost in the text copy: a body runs until the next
    comment line or the next top-level ``print("\\n...")`` heading."""
    out, depth = [], 0
    for raw in lines:
        line = raw.strip()
        if line.startswith("#") or line.startswith('print("\\\\n'):
            depth = 0
        out.append("    " * depth + line)
        if line.startswith("for ") and line.endswith(":"):
            depth += 1
    return "\n".join(out) + "\n"


@pytest.fixture
def as_pyhs3(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import pyhs3`` in the tutorial gives pyhs3_lab (``import pyhs3_lab as pyhs3``)."""
    monkeypatch.setitem(sys.modules, "pyhs3", pyhs3_lab)


def _run(code: str, namespace: dict[str, Any]) -> str:
    code = code.replace("import pyhs3\n", "import pyhs3_lab as pyhs3\n")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(compile(code, str(SEED), "exec"), namespace)
    return buffer.getvalue()


def _after_import() -> dict[str, Any]:
    """The tutorial's namespace after its first line, ``import pyhs3`` (the later examples rely on it)."""
    namespace: dict[str, Any] = {}
    _run("import pyhs3\n", namespace)
    return namespace


def _printed_number(output: str, label: str) -> float:
    match = re.search(re.escape(label) + r"\s*([-+0-9.eE]+)", output)
    assert match is not None, f"{label!r} not printed; output was:\n{output}"
    return float(match.group(1))


def test_first_example_runs_as_written(as_pyhs3: None) -> None:
    namespace: dict[str, Any] = {}
    setup = _block("import pyhs3", 'ws = pyhs3.Workspace(**workspace_data)')
    _run("\n".join(line.strip() for line in setup) + "\n", namespace)
    ws = namespace["ws"]
    assert isinstance(ws, pyhs3_lab.Workspace)

    browse = _block("# Access distributions", 'print(f" {axis.name}: [{axis.min}, {axis.max}]")')
    out = _run(_reindent(browse), namespace)
    assert " signal (gaussian_dist)" in out
    assert " Parameters: ['obs', 'mu', 'sigma']" in out
    assert " nominal:" in out
    assert " obs = 0.0" in out
    assert " sigma = 1.0" in out
    assert " physics_region:" in out
    assert " obs: [-5.0, 5.0]" in out
    assert " sigma: [0.1, 3.0]" in out

    evaluate = _block("# Create a model using specific domain and parameter set", 'print(f"PDF value: {result}")')
    out = _run("\n".join(line.strip() for line in evaluate) + "\n", namespace)
    value = _printed_number(out, "PDF value:")
    # a standard normal at 0.5, truncated to obs in [-5, 5]
    assert value == pytest.approx(stats.truncnorm.pdf(0.5, -5.0, 5.0), rel=1e-12)
    assert value == pytest.approx(stats.norm.pdf(0.5) / (stats.norm.cdf(5.0) - stats.norm.cdf(-5.0)), rel=1e-12)


def test_doctest_block_runs(as_pyhs3: None) -> None:
    lines = _lines()
    i = next(k for k, line in enumerate(lines) if line.startswith(">>> import pyhs3"))
    j = i
    while j + 1 < len(lines) and not lines[j + 1].startswith("# Access distributions"):
        j += 1
    text = "\n".join(lines[i:j + 1]) + "\n"
    test = doctest.DocTestParser().get_doctest(text, {}, "pyhs3-working-with-workspaces", str(SEED), i)
    assert len(test.examples) >= 8
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    report = io.StringIO()
    runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, report.getvalue()
    assert result.attempted == len(test.examples)


def test_physics_example_runs_as_written(as_pyhs3: None) -> None:
    lines = _lines()
    start = next(k for k, line in enumerate(lines) if line.strip() == "physics_model = {")
    code = "\n".join(line.strip() for line in lines[start:]) + "\n"
    namespace = _after_import()
    out = _run(code, namespace)
    signal = _printed_number(out, "Signal PDF at 125 GeV:")
    background = _printed_number(out, "Background PDF at 125 GeV:")

    # N(125; 125, 2.5) renormalised on mass in [110, 140]
    assert signal == pytest.approx(0.1595769124754461, rel=1e-12)
    assert signal == pytest.approx(stats.truncnorm.pdf(125.0, -6.0, 6.0, loc=125.0, scale=2.5), rel=1e-12)
    # exp(-m/50) normalised over [110, 140]; the constant `norm` cancels
    z, _err = integrate.quad(lambda m: math.exp(-m / 50.0), 110.0, 140.0, epsabs=0, epsrel=1e-13)
    assert background == pytest.approx(math.exp(-125.0 / 50.0) / z, rel=1e-11)
    assert background == pytest.approx(0.03283853396698425, rel=1e-11)


def test_norm_cancels_in_the_physics_example(as_pyhs3: None) -> None:
    lines = _lines()
    start = next(k for k, line in enumerate(lines) if line.strip() == "physics_model = {")
    end = next(k for k in range(start, len(lines)) if lines[k].strip() == "physics_model = physics_ws.model()")
    namespace = _after_import()
    _run("\n".join(line.strip() for line in lines[start:end + 1]) + "\n", namespace)
    model = namespace["physics_model"]
    ref = model.pdf("background", mass=125.0, lifetime=50.0, norm=1.0)
    assert model.pdf("background", mass=125.0, lifetime=50.0, norm=7.5) == pytest.approx(ref, rel=1e-12)

