"""The JupyterLite site of ``python -m pyhs3_lab.lite build``, served from 127.0.0.1 to headless Chromium.

What runs here, offline: the site builds; the kernel-less .hs3.json viewer works; the Pyodide kernel
boots from the site alone; our wheel installs from the site's piplite index; the Explorer's front end
(anywidget) loads in the page and talks to the kernel. What cannot run here: pyhs3_lab's engine inside
Pyodide, because Pyodide's numpy/scipy builds are only served by cdn.jsdelivr.net (PyPI has no
numpy/scipy wheels for Pyodide); that test runs where the CDN is reachable and is skipped otherwise.
"""

from __future__ import annotations

import functools
import json
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
KERNEL_TIMEOUT = 240_000  # ms: Pyodide boots in the browser and installs the kernel's packages

PROBE_CELLS = [
    "%pip install anywidget\n%pip install --no-deps pyhs3_lab",
    # the wheel is installed; importing pyhs3_lab itself needs numpy (see the module docstring)
    "import importlib.metadata, importlib.util, pathlib\n"
    "root = pathlib.Path(importlib.util.find_spec('pyhs3_lab').submodule_search_locations[0])\n"
    "print('pyhs3_lab', importlib.metadata.version('pyhs3_lab'), sorted(p.name for p in (root / 'static').iterdir()))",
    # the Explorer's front end, fed with the trait contract of pyhs3_lab/widget/_explorer.py
    "import anywidget, traitlets as t\n"
    "class Probe(anywidget.AnyWidget):\n"
    "    _esm = (root / 'static' / 'widget.js').read_text()\n"
    "    _css = (root / 'static' / 'widget.css').read_text()\n"
    "    graph = t.Dict({'nodes': [\n"
    "        {'id': 'model', 'kind': 'distribution', 'type': 'gaussian_dist', 'path': 'distributions[0]'},\n"
    "        {'id': 'mu', 'kind': 'parameter', 'type': 'parameter', 'path': 'distributions[0].mean'},\n"
    "        {'id': 'sigma', 'kind': 'parameter', 'type': 'parameter', 'path': 'distributions[0].sigma'}],\n"
    "        'edges': [{'source': 'model', 'target': 'mu', 'field': 'mean'},\n"
    "                  {'source': 'model', 'target': 'sigma', 'field': 'sigma'}], 'objects': {}}).tag(sync=True)\n"
    "    params = t.List([{'name': 'mu', 'value': 0.5, 'min': -5.0, 'max': 5.0, 'fixed': False, 'const': False,\n"
    "                      'role': 'poi', 'poi': True}]).tag(sync=True)\n"
    "    revision = t.Int(0).tag(sync=True)\n"
    "    ack = t.Int(0).tag(sync=True)\n"
    "    selected = t.Unicode('').tag(sync=True)\n"
    "    channels = t.List([]).tag(sync=True)\n"
    "    curves = t.Dict({}).tag(sync=True)\n"
    "    fit_status = t.Dict({}).tag(sync=True)\n"
    "    fit_result = t.Dict({}).tag(sync=True)\n"
    "    profile = t.Dict({}).tag(sync=True)\n"
    "    error = t.Unicode('').tag(sync=True)\n"
    "    busy = t.Bool(False).tag(sync=True)\n"
    "    progress = t.Dict({}).tag(sync=True)\n"
    "    messages = []\n"
    "probe = Probe()\n"
    "probe.on_msg(lambda w, content, buffers: Probe.messages.append(content))\n"
    "probe",
    "print('messages from the page:', Probe.messages)",
]


class _Handler(SimpleHTTPRequestHandler):
    requests: list[tuple[str, int]]

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.requests.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def lite_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("jupyterlite_core")
    pytest.importorskip("jupyterlite_pyodide_kernel")
    pytest.importorskip("jupyter_server")
    from pyhs3_lab import lite

    if not (lite.LABEXTENSION / "package.json").is_file() or not lite.WIDGET_JS.is_file():
        pytest.skip("the front end is not built: npm install && npm run build")
    if shutil.which("npm") is None:
        pytest.skip("npm is needed to fetch the Pyodide core")
    base = tmp_path_factory.mktemp("lite")
    extra = base / "extra"
    extra.mkdir()
    nb = {
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"probe-{i}", "metadata": {}, "outputs": [],
                   "source": src} for i, src in enumerate(PROBE_CELLS)],
        "metadata": {"kernelspec": {"display_name": "Python (Pyodide)", "language": "python", "name": "python"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    (extra / "lite-probe.ipynb").write_text(json.dumps(nb))
    site = lite.build_site(base / "site", contents=[extra])
    assert (site / "extensions" / "pyhs3_lab" / "package.json").is_file()
    index = json.loads((site / "pypi" / "all.json").read_text())
    assert "pyhs3-lab" in index
    assert (site / "pyodide" / "pyodide.asm.wasm").is_file()
    assert (site / "files" / "01-workspaces.ipynb").is_file()
    return site


@pytest.fixture(scope="session")
def lite_url(lite_site: Path) -> Iterator[tuple[str, list[tuple[str, int]]]]:
    log: list[tuple[str, int]] = []
    handler = type("Handler", (_Handler,), {"requests": log})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(lite_site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()


LOCAL = ("http://127.0.0.1", "data:", "blob:")


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A new page that records every request to somewhere other than the local server (``page.external``)."""
    p = chromium.new_page()
    external: list[str] = []
    p.on("request", lambda r: None if r.url.startswith(LOCAL) else external.append(r.url))
    p.external = external
    try:
        yield p
    finally:
        p.close()


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def test_viewer_works_in_lite(lite_url: tuple[str, list[tuple[str, int]]], page: Any) -> None:
    url, _ = lite_url
    doc = json.loads((ROOT / "notebooks" / "data" / "benchmark_1ch.hs3.json").read_text())
    page.goto(f"{url}/lab/index.html?path=data/benchmark_1ch.hs3.json", timeout=120_000)
    view = page.locator(".jp-HS3View")
    view.wait_for(timeout=120_000)
    counts = view.locator(".jp-HS3View-counts").inner_text()
    assert f"distributions\t{len(doc['distributions'])}" in counts
    view.locator(".jp-HS3View-tab[data-tab='graph']").click()
    page.wait_for_selector(".jp-HS3View .hs3g-node")
    drawn = set(view.locator(".hs3g-node").evaluate_all("els => els.map(e => e.dataset.id)"))
    assert {d["name"] for d in doc["distributions"]} <= drawn
    screenshot(page, "lite-hs3-viewer.png")
    assert page.external == []


def run_cell(page: Any, index: int, timeout: float = KERNEL_TIMEOUT) -> Any:
    cell = page.locator(f"{NOTEBOOK} .jp-CodeCell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_function("(el) => /\\[\\d+\\]/.test(el.textContent || '')",
                           arg=cell.locator(".jp-InputArea-prompt").element_handle(), timeout=timeout)
    text = "\n".join(cell.locator(".jp-OutputArea").all_inner_texts())
    assert "Traceback" not in text, text
    return cell


def test_pyodide_kernel_installs_our_wheel_and_widget_front_end(
        lite_url: tuple[str, list[tuple[str, int]]], page: Any) -> None:
    url, log = lite_url
    page.goto(f"{url}/lab/index.html?path=lite-probe.ipynb", timeout=120_000)
    page.wait_for_selector(f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=KERNEL_TIMEOUT)
    run_cell(page, 0)
    out = run_cell(page, 1).locator(".jp-OutputArea-output").inner_text()
    assert "pyhs3_lab 0.1.0" in out
    assert "widget.js" in out
    widget = run_cell(page, 2).locator(".jp-OutputArea-output")
    widget.locator(".hs3g-node[data-id='model']").wait_for(timeout=60_000)
    ids = set(widget.locator(".hs3g-node").evaluate_all("els => els.map(e => e.dataset.id)"))
    assert {"model", "mu", "sigma"} <= ids
    # a click in the page reaches Python: the graph view sends {"kind": "select", "name": ...}
    widget.locator(".hs3g-node[data-id='model']").click()
    out = run_cell(page, 3).locator(".jp-OutputArea-output").inner_text()
    assert "'kind': 'select'" in out
    assert "'name': 'model'" in out
    screenshot(page, "lite-kernel-widget.png")
    assert page.external == []
    served = {p for p, code in log if code == 200}
    assert any(p.startswith("/pypi/pyhs3_lab-") for p in served)
    assert any(p.startswith("/pyodide/ipython-") for p in served)


def test_engine_in_pyodide(lite_url: tuple[str, list[tuple[str, int]]], page: Any) -> None:
    from pyhs3_lab import lite

    lock = json.loads((Path(lite.pyodide_core()) / "pyodide-lock.json").read_text())
    numpy_url = lite.PYODIDE_CDN + lock["packages"]["numpy"]["file_name"]
    try:
        urllib.request.urlopen(urllib.request.Request(numpy_url, method="HEAD"), timeout=10).close()
    except (urllib.error.URLError, OSError) as exc:
        pytest.skip(f"Pyodide's numpy/scipy wheels are only on {lite.PYODIDE_CDN} (PyPI has none for Pyodide), "
                    f"which is not reachable here ({exc}); the engine cannot run in JupyterLite offline")
    url, _ = lite_url
    import pyhs3_lab

    ws = pyhs3_lab.Workspace.load(ROOT / "notebooks" / "data" / "benchmark_1ch.hs3.json")
    expected = ws.likelihood("L_ch0").nll()
    page.goto(f"{url}/lab/index.html?path=lite-probe.ipynb", timeout=120_000)
    page.wait_for_selector(f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=KERNEL_TIMEOUT)
    cell = page.locator(f"{NOTEBOOK} .jp-CodeCell").nth(3)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+a")
    page.keyboard.type("%pip install pyhs3_lab\nimport pyhs3_lab\n"
                       "print(repr(pyhs3_lab.Workspace.load('data/benchmark_1ch.hs3.json')"
                       ".likelihood('L_ch0').nll()))")
    out = run_cell(page, 3).locator(".jp-OutputArea-output").inner_text()
    assert float(out.strip().splitlines()[-1]) == pytest.approx(expected, rel=1e-12)
