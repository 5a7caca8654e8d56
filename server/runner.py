"""Running the API: bind the socket here (so a port in use is said at once, in one line),
then serve on a thread of its own with uvicorn; stop without waiting (the window's thread
never waits on the server) or wait for the end (`mingjing serve`)."""

from __future__ import annotations

import logging
import os
import socket
import threading

import uvicorn

from server.app import create_app
from server.config import ServeConfig
from server.state import ApiState

log = logging.getLogger(__name__)
GRACEFUL_S = 3  # open connections get this long to finish once stopping


class ApiServer:
    def __init__(self, state: ApiState, config: ServeConfig) -> None:
        config.check()  # BindingRefused
        self.state = state
        self.config = config
        self.port = config.port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port}"

    def start(self) -> None:
        """Listen, and serve on a new thread. Raises OSError (one line) when the address
        cannot be used."""
        sock = _bind(self.config.host, self.config.port)
        self.port = int(sock.getsockname()[1])
        self._socket = sock
        app = create_app(self.state, self.config)
        config = uvicorn.Config(app, http="h11", loop="asyncio", ws="none", lifespan="off",
                                log_config=None, access_log=False, server_header=False,
                                timeout_graceful_shutdown=GRACEFUL_S, limit_concurrency=128)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="api-server", daemon=True)
        self._thread.start()
        log.info("API listening on %s (token %s)", self.url,
                 "required" if self.config.token else "not required")

    def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except Exception:
            log.exception("the API server stopped with an error")
        finally:
            self._socket.close()
            self.state.close()
            log.info("API on %s stopped", self.url)

    def stop(self) -> None:
        """Refuse new requests, cancel the turns in flight, and let the server end; returns
        at once."""
        self.state.begin_shutdown()
        if self._server is not None:
            self._server.should_exit = True

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the server has stopped; True when it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                               flags=socket.AI_PASSIVE)
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":  # on Windows this would let another program take the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
        sock.set_inheritable(True)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: "
                                 f"{exc.strerror or exc}") from None
    return sock
