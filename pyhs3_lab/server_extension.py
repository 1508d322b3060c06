"""A Jupyter server extension: kernel websockets without Nagle's algorithm (TCP_NODELAY).

Every slider move of the Explorer is one small message to the kernel and one answer back. Jupyter
server's kernel websockets keep Tornado's default, Nagle's algorithm on, so a small answer that
follows another small message (the kernel's ``status: busy``) waits for the browser's delayed TCP
acknowledgement: about 40 ms on Linux, per round trip, whatever the kernel does. Measured in headless
Chromium on this project's CI machine, a bare anywidget round trip takes ~48 ms with it and ~10-20 ms
without it. This extension sets TCP_NODELAY on each kernel websocket when it opens, by using a
subclass of Jupyter server's own websocket connection class (no patching of Jupyter's code).

It is enabled by the configuration file the wheel installs
(``etc/jupyter/jupyter_server_config.d/pyhs3_lab.json``); ``jupyter server extension disable
pyhs3_lab.server_extension`` turns it off. A server configured with another
``ServerApp.kernel_websocket_connection_class`` is left as it is (the log says so).

Nothing here is imported by the engine or by the widget; only the Jupyter server loads it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["nodelay_connection_class"]

#: the log line of a server that loaded this extension and turned Nagle off (tests look for it)
ENABLED_MESSAGE = "pyhs3_lab: TCP_NODELAY on kernel websockets (slider round trips without the ~40 ms Nagle delay)"


def nodelay_connection_class() -> type:
    """Jupyter server's ZMQ channels websocket connection, with TCP_NODELAY set on connect."""
    from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

    class NoDelayZMQChannelsWebsocketConnection(ZMQChannelsWebsocketConnection):
        """:class:`ZMQChannelsWebsocketConnection` whose websocket sends small messages at once."""

        def connect(self) -> Any:
            handler = self.websocket_handler
            if handler is not None:
                handler.set_nodelay(True)
            return super().connect()

    return NoDelayZMQChannelsWebsocketConnection


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "pyhs3_lab.server_extension"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

    settings = serverapp.web_app.settings
    current = settings.get("kernel_websocket_connection_class")
    if current is not ZMQChannelsWebsocketConnection:
        serverapp.log.info("pyhs3_lab: kernel websocket connection class %r is not Jupyter's default; left as it "
                           "is (Nagle's algorithm stays as that class has it)", current)
        return
    settings["kernel_websocket_connection_class"] = nodelay_connection_class()
    serverapp.log.info(ENABLED_MESSAGE)
