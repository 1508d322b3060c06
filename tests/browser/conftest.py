"""Fixtures for browser tests: a real JupyterLab server and headless Chromium (Playwright).

- ``lab_server``: ``jupyter lab`` started by the test session on 127.0.0.1 (free port, a token,
  ``--allow-root``, root_dir = a temporary directory, isolated config/runtime/settings dirs).
- ``chromium``: a Playwright persistent context on Debian's /usr/bin/chromium with a fresh user-data-dir.
- ``lab``: a :class:`Lab` helper bound to a new page: write/open notebooks, run cells, wait on conditions.

Nothing here sleeps: every wait is on a condition (a log line, a DOM state, a JS predicate).
Screenshots go to ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
SERVER_START_TIMEOUT = 90.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # every test in tests/browser drives a browser
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.browser)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LabServer:
    url: str
    token: str
    root_dir: Path
    process: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read().decode()
        return json.loads(text) if text else None

    def lab_url(self, path: str = "") -> str:
        return f"{self.url}/lab/tree/{path}?reset&token={self.token}"


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("jupyterlab is not installed in this environment")
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    root.mkdir()
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # no news/update toasts over the notebook
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    # the server configuration the wheel installs (etc/jupyter/...), as pip would put it there
    shipped = REPO / "jupyter-config" / "jupyter_server_config.d"
    (base / "config" / "jupyter_server_config.d").mkdir(parents=True)
    for conf in shipped.glob("*.json"):
        shutil.copy(conf, base / "config" / "jupyter_server_config.d" / conf.name)
    port = _free_port()
    token = secrets.token_hex(16)
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
        # kernels import this working tree's pyhs3_lab, installed or not
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])]),
    })
    # the lab extension of this checkout (npm run build) comes first on JUPYTER_PATH, so the server never
    # serves a stale copy that an earlier `pip install -e .` put into share/jupyter/labextensions
    labext = REPO / "pyhs3_lab" / "labextension"
    if (labext / "package.json").is_file():
        (base / "jupyter" / "labextensions").mkdir(parents=True)
        (base / "jupyter" / "labextensions" / "pyhs3_lab").symlink_to(labext, target_is_directory=True)
        env["JUPYTER_PATH"] = os.pathsep.join(p for p in [str(base / "jupyter"), env.get("JUPYTER_PATH", "")] if p)
    cmd = [sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str | None] = queue.Queue()
    server = LabServer(f"http://127.0.0.1:{port}", token, root, proc)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            server.log.append(line)
            lines.put(line)
        lines.put(None)

    pumper = threading.Thread(target=pump, daemon=True)
    pumper.start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    ready = False
    while not ready:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        if line is None:
            break
        ready = f"http://127.0.0.1:{port}/" in line
    if not ready:
        proc.terminate()
        proc.wait(timeout=30)
        raise RuntimeError("JupyterLab did not start:\n" + "".join(server.log[-60:]))
    # the URL is logged just before the socket listens: poll the API until it answers
    # (each wait is on the process: a crashed server ends the loop at once)
    answered: OSError | None = None
    while time.monotonic() < deadline:
        try:
            server.api("/api/status")
            answered = None
            break
        except OSError as exc:
            answered = exc
        try:
            proc.wait(timeout=0.1)
            break  # the server exited
        except subprocess.TimeoutExpired:
            pass
    if answered is not None or proc.poll() is not None:
        proc.terminate()
        proc.wait(timeout=30)
        raise RuntimeError(f"JupyterLab does not answer ({answered}):\n" + "".join(server.log[-60:]))
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        pumper.join(timeout=30)  # the pipe ends with the process
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    user_data = tempfile.mkdtemp(prefix="pyhs3lab-chromium-")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            user_data, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(user_data, ignore_errors=True)


def notebook_json(cells: list[str]) -> dict[str, Any]:
    return {
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"cell-{i}", "metadata": {},
                   "outputs": [], "source": src} for i, src in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


class Lab:
    """A page in JupyterLab with helpers that wait on conditions, never on time."""

    NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"

    def __init__(self, server: LabServer, page: Any) -> None:
        self.server = server
        self.page = page
        self.console_errors: list[str] = []
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))

    def write(self, rel: str, content: str | dict[str, Any]) -> Path:
        path = self.server.root_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        return path

    def open(self, rel: str, *, wait_selector: str | None = None, timeout: float = 120_000) -> None:
        self.page.goto(self.server.lab_url(rel), timeout=timeout)
        if wait_selector is not None:
            self.page.wait_for_selector(wait_selector, timeout=timeout)

    def open_notebook(self, name: str, cells: list[str], timeout: float = 120_000) -> Any:
        """Write a notebook with these cells, open it and wait until its kernel is idle."""
        self.write(name, notebook_json(cells))
        self.open(name, wait_selector=f"{self.NOTEBOOK} .jp-Cell", timeout=timeout)
        self.wait_kernel_idle(timeout)
        return self.page.locator(self.NOTEBOOK)

    def wait_kernel_idle(self, timeout: float = 120_000) -> None:
        """Wait until the notebook's kernel is connected and idle.

        A freshly opened notebook shows "idle" before it has a kernel; so this waits until the
        indicator has left "idle" once (connecting/starting) and has come back to it.
        """
        self.page.wait_for_function(
            """(sel) => {
                const el = document.querySelector(sel);
                if (!el) return false;
                const s = el.getAttribute("data-status");
                if (s !== "idle") window.__pyhs3labKernelSeen = true;
                return window.__pyhs3labKernelSeen === true && s === "idle";
            }""",
            arg=f"{self.NOTEBOOK} .jp-Notebook-ExecutionIndicator", timeout=timeout, polling="raf")

    def run_cell(self, index: int, timeout: float = 120_000) -> Any:
        """Run cell ``index`` (Shift+Enter) and wait until it has an execution count; returns its locator."""
        cell = self.page.locator(f"{self.NOTEBOOK} .jp-Cell").nth(index)
        cell.locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Shift+Enter")
        self.page.wait_for_function(
            """(el) => /\\[\\d+\\]/.test(el.textContent || "")""",
            arg=cell.locator(".jp-InputArea-prompt").element_handle(), timeout=timeout)
        return cell

    def wait_for(self, predicate_js: str, arg: Any = None, timeout: float = 60_000) -> Any:
        """Wait until a JS predicate (a function source) returns a truthy value; returns it."""
        return self.page.wait_for_function(predicate_js, arg=arg, timeout=timeout).json_value()

    def screenshot(self, name: str, locator: Any = None) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        (locator if locator is not None else self.page).screenshot(path=str(path))
        return path

    def shutdown_kernels(self) -> None:
        for k in self.server.api("/api/kernels") or []:
            self.server.api(f"/api/kernels/{k['id']}", method="DELETE")


@pytest.fixture
def lab(lab_server: LabServer, chromium: Any, request: pytest.FixtureRequest) -> Iterator[Lab]:
    page = chromium.new_page()
    helper = Lab(lab_server, page)
    try:
        yield helper
    finally:
        # the page as the test left it (look at it when a test fails)
        try:
            helper.screenshot(f"last-{request.node.name}.png")
        except Exception as exc:  # a closed or crashed page has nothing to show
            print(f"no final screenshot: {exc}")
        page.close()
        helper.shutdown_kernels()
