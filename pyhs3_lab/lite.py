"""Build a static JupyterLite site with pyhs3_lab: ``python -m pyhs3_lab.lite build [--output DIR]``.

The site (ready for GitHub Pages, or ``python -m http.server`` in the output directory) has

- the Pyodide kernel (jupyterlite-pyodide-kernel) with its core copied in from npm ``pyodide``,
- the pyhs3_lab JupyterLab extension (the kernel-less ``.hs3.json`` viewer) and the anywidget /
  ipywidgets front ends, taken from the labextensions of this Python environment,
- pyhs3_lab's pure-Python wheel and the pure wheels of anywidget, psygnal, ipywidgets,
  jupyterlab_widgets and comm in the piplite index (``%pip install pyhs3_lab``),
- the tutorial notebooks with their workspaces.

Offline use: everything the kernel needs to start comes from the site itself. The Pyodide lock file
is patched so that the pure-Python packages the kernel loads (micropip, IPython and its
dependencies, jedi, ...) are PyPI wheels stored next to the core, with their sha256; every other
package (numpy, scipy, iminuit, ...) points at the Pyodide CDN, where Pyodide's own builds live.
So the site boots without any network access, and numpy-dependent code works wherever
cdn.jsdelivr.net is reachable.

Needs: the built front end (``npm run build``), npm (for the Pyodide core, unless ``--pyodide-dir``),
pip access to PyPI (pure wheels), jupyterlite-core and jupyterlite-pyodide-kernel.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

#: the Pyodide release that jupyterlite-pyodide-kernel 0.8.6 is built for
PYODIDE_VERSION = "314.0.6"
PYODIDE_CDN = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
PYODIDE_PYTHON = "3.14"
#: files of the npm package that make up the Pyodide core
PYODIDE_CORE = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide.js",
                "package.json")
#: lock packages the Pyodide kernel loads at start (micropip; jedi, ipython via piplite) and
#: anywidget's typing-extensions; their dependencies are added from the lock
KERNEL_LOCK_PACKAGES = ("micropip", "jedi", "ipython", "typing-extensions", "packaging")
#: pure wheels for the piplite index, at the versions of this environment (so that the front ends the
#: site gets from this environment's labextensions match the kernel side)
PIPLITE_PACKAGES = ("anywidget", "psygnal", "ipywidgets", "jupyterlab_widgets", "comm")

PACKAGE_DIR = Path(__file__).resolve().parent
SOURCE_ROOT = PACKAGE_DIR.parent
LABEXTENSION = PACKAGE_DIR / "labextension"
WIDGET_JS = PACKAGE_DIR / "static" / "widget.js"


class LiteBuildError(RuntimeError):
    """A step of the site build failed; the message says which and what to do."""


def _log(msg: str) -> None:
    print(f"[pyhs3_lab.lite] {msg}", flush=True)


def _run(cmd: Sequence[str | Path], cwd: Path | None = None) -> None:
    _log(" ".join(str(c) for c in cmd))
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise LiteBuildError(f"`{' '.join(str(c) for c in cmd)}` failed ({proc.returncode}):\n{tail}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def check_output(output: Path) -> None:
    """``output`` must be missing, empty, or an earlier site (it has ``jupyter-lite.json``): it is replaced."""
    if output.is_file():
        raise LiteBuildError(f"--output {str(output)!r} is a file; expected a directory for the site")
    if output.is_dir() and any(output.iterdir()) and not (output / "jupyter-lite.json").is_file():
        raise LiteBuildError(f"--output {str(output)!r} is a non-empty directory that is not a JupyterLite site; "
                             "the build replaces its output directory, so choose a new or empty one")


def check_frontend() -> None:
    """The labextension and the widget bundle must be built before a site can use them."""
    missing = [p for p in (LABEXTENSION / "package.json", WIDGET_JS) if not p.is_file()]
    if missing:
        raise LiteBuildError(f"the front end is not built ({', '.join(map(str, missing))} missing): "
                             f"run `npm install && npm run build` in {SOURCE_ROOT}")


def build_wheel(dest: Path) -> Path:
    """pyhs3_lab's wheel from this source tree (the front end is already built, so no npm runs)."""
    if not (SOURCE_ROOT / "pyproject.toml").is_file():
        raise LiteBuildError(f"no pyproject.toml in {SOURCE_ROOT}: pass the pyhs3_lab wheel with --wheel")
    dest.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dest), str(SOURCE_ROOT)]
    try:  # the build backend is usually installed here already (dev.sh installs it); else isolate
        _run([*base[:4], "--no-build-isolation", *base[4:]])
    except LiteBuildError:
        _run(base)
    wheels = sorted(dest.glob("pyhs3_lab-*-py3-none-any.whl"))
    if not wheels:
        raise LiteBuildError(f"pip wheel produced no pyhs3_lab wheel in {dest}")
    return wheels[-1]


def download_pure_wheels(requirements: Iterable[str], dest: Path) -> list[Path]:
    """``py3-none-any`` wheels of exact requirements (``name==version``) from PyPI, without dependencies."""
    reqs = list(requirements)
    if not reqs:
        return []
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("*.whl"))
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
          "--python-version", PYODIDE_PYTHON, "--platform", "any", "--implementation", "py", "--abi", "none",
          "-d", str(dest), *reqs])
    return sorted(set(dest.glob("*.whl")) - before) or sorted(before)


def pyodide_core(cache: Path | None = None) -> Path:
    """The directory of the npm ``pyodide`` package (fetched once with ``npm pack`` into a cache)."""
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pyhs3_lab"
    target = cache / f"pyodide-{PYODIDE_VERSION}"
    if (target / "package" / "pyodide-lock.json").is_file():
        return target / "package"
    npm = shutil.which("npm")
    if npm is None:
        raise LiteBuildError("npm is needed to fetch the Pyodide core (npm pack pyodide); "
                             "or give an unpacked npm pyodide package with --pyodide-dir")
    target.mkdir(parents=True, exist_ok=True)
    _run([npm, "pack", f"pyodide@{PYODIDE_VERSION}", "--pack-destination", str(target)])
    tgz = target / f"pyodide-{PYODIDE_VERSION}.tgz"
    with tarfile.open(tgz) as tar:
        tar.extractall(target, filter="data")
    tgz.unlink()
    return target / "package"


def lock_closure(lock: dict[str, Any], roots: Iterable[str]) -> list[str]:
    """The lock's package keys of ``roots`` and everything they depend on (per the lock)."""
    packages: dict[str, Any] = lock["packages"]
    by_norm = {_normalize(k): k for k in packages}
    out: list[str] = []
    todo = list(roots)
    while todo:
        key = by_norm.get(_normalize(todo.pop()))
        if key is None or key in out:
            continue
        out.append(key)
        todo.extend(packages[key].get("depends", []))
    return sorted(out)


def patch_lock(lock: dict[str, Any], local: dict[str, Path]) -> dict[str, Any]:
    """A lock whose ``local`` packages (key -> wheel stored next to it) are relative file names with
    their sha256, and whose every other package is an absolute URL on the Pyodide CDN."""
    new: dict[str, Any] = json.loads(json.dumps(lock))
    for key, pkg in new["packages"].items():
        if key in local:
            pkg["file_name"] = local[key].name
            pkg["sha256"] = _sha256(local[key])
        elif "://" not in pkg["file_name"]:
            pkg["file_name"] = PYODIDE_CDN + pkg["file_name"]
    return new


def _installed_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError as exc:
        raise LiteBuildError(f"{dist} is not installed in this environment; install pyhs3_lab[widget]") from exc


def _labextension_found(name: str) -> bool:
    from jupyter_core.paths import jupyter_path

    return any((Path(p) / name / "package.json").is_file() for p in jupyter_path("labextensions"))


def build_site(output: Path, *, contents: Sequence[Path] = (), wheel: Path | None = None,
               pyodide_dir: Path | None = None, work: Path | None = None) -> Path:
    """Build the site into ``output`` (replaced if it is an earlier site; any other non-empty
    directory is refused, so that ``--output .`` cannot delete a checkout); returns ``output``."""
    check_output(output)
    check_frontend()
    jupyter_lite = shutil.which("jupyter-lite", path=str(Path(sys.executable).parent)) or shutil.which("jupyter-lite")
    if jupyter_lite is None:
        raise LiteBuildError("jupyter-lite is not installed: pip install jupyterlite-core jupyterlite-pyodide-kernel "
                             "jupyter_server")
    output = output.resolve()
    with tempfile.TemporaryDirectory(prefix="pyhs3-lite-") as tmp_name:
        tmp = Path(work or tmp_name).resolve()
        lite_dir = tmp / "lite"
        pypi = lite_dir / "pypi"
        pypi.mkdir(parents=True, exist_ok=True)

        # 1. the piplite index: our wheel + the widget stack's pure wheels
        our = wheel if wheel is not None else build_wheel(tmp / "wheel")
        shutil.copy2(our, pypi / Path(our).name)
        download_pure_wheels([f"{d}=={_installed_version(d)}" for d in PIPLITE_PACKAGES], pypi)

        # 2. the contents: the tutorial notebooks and their workspaces, plus any extra
        content = tmp / "content"
        content.mkdir()
        notebooks = SOURCE_ROOT / "notebooks"
        for src in [notebooks] if notebooks.is_dir() else []:
            shutil.copytree(src, content, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        for extra in contents:
            if extra.is_dir():
                shutil.copytree(extra, content, dirs_exist_ok=True)
            else:
                shutil.copy2(extra, content / extra.name)

        # 3. the Pyodide kernel reads its core from the site and never falls back to PyPI
        config = {
            "jupyter-lite-schema-version": 0,
            "jupyter-config-data": {
                "appName": "pyhs3_lab",
                "litePluginSettings": {
                    "@jupyterlite/pyodide-kernel-extension:kernel": {
                        "pyodideUrl": "./pyodide/pyodide.mjs",
                        "disablePyPIFallback": True,
                    }
                },
            },
        }
        (lite_dir / "jupyter-lite.json").write_text(json.dumps(config, indent=2))

        cmd: list[str | Path] = [jupyter_lite, "build", "--lite-dir", lite_dir, "--contents", content,
                                 "--output-dir", output]
        if not _labextension_found("pyhs3_lab"):  # not installed: take this checkout's build
            cmd.append(f"--FederatedExtensionAddon.extra_labextensions_path={LABEXTENSION.parent}")
        if output.exists():
            shutil.rmtree(output)
        _run(cmd, cwd=lite_dir)
        if not (output / "extensions" / "pyhs3_lab" / "package.json").is_file():
            raise LiteBuildError("the site has no pyhs3_lab labextension: install pyhs3_lab (pip install .) "
                                 "after `npm run build`")

        # 4. the Pyodide core and the kernel's pure-Python packages, with a patched lock
        core = pyodide_dir if pyodide_dir is not None else pyodide_core()
        target = output / "pyodide"
        target.mkdir()
        for name in PYODIDE_CORE:
            if (core / name).is_file():
                shutil.copy2(core / name, target / name)
        lock = json.loads((core / "pyodide-lock.json").read_text())
        needed = lock_closure(lock, KERNEL_LOCK_PACKAGES)
        reqs = {}
        for key in needed:
            pkg = lock["packages"][key]
            if not str(pkg["file_name"]).endswith("-none-any.whl"):
                raise LiteBuildError(f"the kernel needs {key}, which Pyodide builds as {pkg['file_name']}; "
                                     "it cannot be taken from PyPI")
            reqs[key] = f"{pkg['name']}=={pkg['version']}"
        download_pure_wheels(reqs.values(), target)
        local: dict[str, Path] = {}
        for key in needed:
            pkg = lock["packages"][key]
            stem = _normalize(pkg["name"]).replace("-", "_")
            found = [w for w in target.glob("*.whl")
                     if _normalize(w.name.split("-")[0]).replace("-", "_") == stem
                     and w.name.split("-")[1] == pkg["version"]]
            if not found:
                raise LiteBuildError(f"no wheel of {reqs[key]} was downloaded")
            local[key] = found[0]
        (target / "pyodide-lock.json").write_text(json.dumps(patch_lock(lock, local)))
        (output / ".nojekyll").write_text("")
    _log(f"site built in {output}; serve it with: python -m http.server --bind 127.0.0.1 -d {output}")
    return output


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyhs3_lab.lite", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the static JupyterLite site")
    b.add_argument("--output", type=Path, default=Path("_output"), help="site directory (replaced; default _output)")
    b.add_argument("--contents", type=Path, action="append", default=[],
                   help="extra files or directories for the site's file browser (repeatable)")
    b.add_argument("--wheel", type=Path, help="a pyhs3_lab wheel to use instead of building one")
    b.add_argument("--pyodide-dir", type=Path, help=f"an unpacked npm pyodide@{PYODIDE_VERSION} package")
    args = parser.parse_args(argv)
    try:
        build_site(args.output, contents=args.contents, wheel=args.wheel, pyodide_dir=args.pyodide_dir)
    except LiteBuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
