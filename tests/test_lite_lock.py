"""pyhs3_lab.lite without a browser: the Pyodide lock patching that makes the site boot offline."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from pyhs3_lab import lite


def lock(**packages: dict[str, Any]) -> dict[str, Any]:
    return {"info": {"python": "3.14.2"}, "packages": packages}


def pkg(name: str, file_name: str, depends: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "version": "1.0", "file_name": file_name, "sha256": "0" * 64, "depends": depends or []}


def test_closure_follows_depends_and_normalises_names() -> None:
    lk = lock(
        ipython=pkg("ipython", "ipython-1.0-py3-none-any.whl", ["traitlets", "Pygments"]),
        traitlets=pkg("traitlets", "traitlets-1.0-py3-none-any.whl"),
        pygments=pkg("Pygments", "pygments-1.0-py3-none-any.whl"),
        numpy=pkg("numpy", "numpy-1.0-cp314-cp314-pyemscripten_2026_0_wasm32.whl"),
        micropip=pkg("micropip", "micropip-1.0-py3-none-any.whl"),
    )
    assert lite.lock_closure(lk, ["IPython", "micropip", "not-in-the-lock"]) == [
        "ipython", "micropip", "pygments", "traitlets"]


def test_patch_lock_keeps_local_wheels_and_sends_the_rest_to_the_cdn(tmp_path: Path) -> None:
    wheel = tmp_path / "micropip-1.0-py3-none-any.whl"
    wheel.write_bytes(b"a wheel")
    lk = lock(micropip=pkg("micropip", "micropip-1.0-py3-none-any.whl"),
              numpy=pkg("numpy", "numpy-1.0-cp314-cp314-pyemscripten_2026_0_wasm32.whl"))
    new = lite.patch_lock(lk, {"micropip": wheel})
    assert new["packages"]["micropip"]["file_name"] == wheel.name
    assert new["packages"]["micropip"]["sha256"] == hashlib.sha256(b"a wheel").hexdigest()
    assert new["packages"]["numpy"]["file_name"] == (
        f"https://cdn.jsdelivr.net/pyodide/v{lite.PYODIDE_VERSION}/full/numpy-1.0-cp314-cp314-pyemscripten_2026_0_wasm32.whl")
    assert new["packages"]["numpy"]["sha256"] == "0" * 64  # the CDN serves Pyodide's own file
    assert lk["packages"]["numpy"]["file_name"].startswith("numpy")  # the input is not modified


def test_pyodide_version_matches_the_kernel() -> None:
    """The Pyodide core copied into the site must be the one jupyterlite-pyodide-kernel is built for."""
    import importlib.metadata

    try:
        kernel = importlib.metadata.version("jupyterlite-pyodide-kernel")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("jupyterlite-pyodide-kernel is not installed")
    assert kernel == "0.8.6", f"update lite.PYODIDE_VERSION for jupyterlite-pyodide-kernel {kernel}"
    assert lite.PYODIDE_VERSION == "314.0.6"


def test_build_refuses_to_replace_a_directory_that_is_not_a_site(tmp_path: Path) -> None:
    # `--output .` in a checkout must not delete it: only an earlier site (jupyter-lite.json) is replaced
    keep = tmp_path / "work.txt"
    keep.write_text("precious")
    with pytest.raises(lite.LiteBuildError, match="non-empty directory that is not a JupyterLite site"):
        lite.build_site(tmp_path)
    assert keep.read_text() == "precious"
    with pytest.raises(lite.LiteBuildError, match="is a file"):
        lite.build_site(keep)
    site = tmp_path / "site"
    site.mkdir()
    (site / "jupyter-lite.json").write_text("{}")
    lite.check_output(site)  # an earlier site: replaced
    lite.check_output(tmp_path / "new")  # missing: created
