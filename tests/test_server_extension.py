"""pyhs3_lab.server_extension: kernel websockets with TCP_NODELAY, Jupyter's own classes otherwise."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("jupyter_server")

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from pyhs3_lab import server_extension

REPO = Path(__file__).resolve().parents[1]


def fake_server(connection_class: Any) -> Any:
    return SimpleNamespace(web_app=SimpleNamespace(settings={"kernel_websocket_connection_class": connection_class}),
                           log=logging.getLogger("test-server"))


def test_the_shipped_config_enables_the_extension() -> None:
    conf = json.loads((REPO / "jupyter-config" / "jupyter_server_config.d" / "pyhs3_lab.json").read_text())
    assert conf == {"ServerApp": {"jpserver_extensions": {"pyhs3_lab.server_extension": True}}}
    assert server_extension._jupyter_server_extension_points() == [{"module": "pyhs3_lab.server_extension"}]
    pyproject = (REPO / "pyproject.toml").read_text()
    assert ('"jupyter-config/jupyter_server_config.d/pyhs3_lab.json" = '
            '"etc/jupyter/jupyter_server_config.d/pyhs3_lab.json"') in pyproject


def test_default_connection_is_replaced_by_the_nodelay_subclass(caplog: pytest.LogCaptureFixture) -> None:
    app = fake_server(ZMQChannelsWebsocketConnection)
    with caplog.at_level(logging.INFO, logger="test-server"):
        server_extension._load_jupyter_server_extension(app)
    cls = app.web_app.settings["kernel_websocket_connection_class"]
    assert cls is not ZMQChannelsWebsocketConnection
    assert issubclass(cls, ZMQChannelsWebsocketConnection)
    assert server_extension.ENABLED_MESSAGE in caplog.text


def test_a_custom_connection_class_is_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    class Custom(ZMQChannelsWebsocketConnection):
        pass

    app = fake_server(Custom)
    with caplog.at_level(logging.INFO, logger="test-server"):
        server_extension._load_jupyter_server_extension(app)
    assert app.web_app.settings["kernel_websocket_connection_class"] is Custom
    assert "left as it is" in caplog.text


def test_connect_sets_nodelay_before_jupyter_connects(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    class Handler:
        def set_nodelay(self, value: bool) -> None:
            calls.append(f"set_nodelay({value})")

    def parent_connect(self: Any) -> str:
        calls.append("ZMQChannelsWebsocketConnection.connect")
        return "connected"

    monkeypatch.setattr(ZMQChannelsWebsocketConnection, "connect", parent_connect)
    cls = server_extension.nodelay_connection_class()
    conn = cls.__new__(cls)  # the traits of a real connection need a running kernel; connect needs the handler
    monkeypatch.setattr(cls, "websocket_handler", Handler(), raising=False)
    assert conn.connect() == "connected"
    assert calls == ["set_nodelay(True)", "ZMQChannelsWebsocketConnection.connect"]


def test_the_engine_does_not_import_jupyter_server() -> None:
    import subprocess
    import sys

    code = "import sys, pyhs3_lab; pyhs3_lab.Workspace; print('jupyter_server' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "False"
