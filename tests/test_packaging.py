"""The wheel: what ``pip wheel .`` builds from this tree is complete and light.

Built once per session with ``python -m pip wheel --no-deps`` (hatchling in pip's isolated build
environment; its jupyter-builder hook builds the front end with npm unless it is already built).
"""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pyhs3_lab"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-input", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, f"pip wheel failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    wheels = sorted(out.glob("pyhs3_lab-*.whl"))
    assert len(wheels) == 1, f"expected one wheel, got {wheels}"
    assert wheels[0].name.endswith("-py3-none-any.whl"), "pyhs3_lab must be a pure-Python wheel (Pyodide)"
    return zipfile.ZipFile(wheels[0])


def _metadata(wheel: zipfile.ZipFile) -> dict[str, list[str]]:
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    msg = Parser().parsestr(wheel.read(name).decode())
    return {key: msg.get_all(key) or [] for key in set(msg.keys())}


def test_wheel_has_every_module_and_the_typing_marker(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    sources = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert "pyhs3_lab/__init__.py" in sources
    missing = sorted(sources - names)
    assert not missing, f"modules missing from the wheel: {missing}"
    assert "pyhs3_lab/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "js/", "node_modules/", "notebooks/"))]


def test_wheel_ships_the_built_front_end(wheel: zipfile.ZipFile) -> None:
    if not (ROOT / "package.json").is_file():
        pytest.skip("no package.json: the project has no front end to ship")
    names = set(wheel.namelist())
    assert "pyhs3_lab/static/widget.js" in names, "the anywidget bundle is not in the wheel"
    assert wheel.getinfo("pyhs3_lab/static/widget.js").file_size > 1000
    pattern = r"pyhs3_lab-[^/]+\.data/data/share/jupyter/labextensions/[^/]+/package\.json$"
    lab = [n for n in names if re.match(pattern, n)]
    assert lab, "the prebuilt JupyterLab extension is not installed to share/jupyter/labextensions"
    ext_dir = lab[0].rsplit("/", 1)[0]
    assert any(re.match(re.escape(ext_dir) + r"/static/remoteEntry\.[0-9a-f]+\.js$", n) for n in names), \
        "the lab extension has no remoteEntry bundle"


def test_wheel_enables_the_server_extension(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "pyhs3_lab/server_extension.py" in names
    conf = [n for n in names if re.match(r"pyhs3_lab-[^/]+\.data/data/etc/jupyter/jupyter_server_config\.d/"
                                           r"pyhs3_lab\.json$", n)]
    assert conf, "the configuration that enables pyhs3_lab.server_extension is not in the wheel"
    assert b'"pyhs3_lab.server_extension": true' in wheel.read(conf[0])


def test_runtime_requirements_are_numpy_scipy_iminuit_only(wheel: zipfile.ZipFile) -> None:
    meta = _metadata(wheel)
    runtime = sorted(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower()
                     for r in meta.get("Requires-Dist", []) if "extra ==" not in r)
    assert runtime == ["iminuit", "numpy", "scipy"]
    assert meta["Name"] == ["pyhs3_lab"]
