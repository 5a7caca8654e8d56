"""The local API while the window is open: started, restarted and stopped from the settings,
served on threads of its own over the same ModelHost as the window's model thread (the
window's turns and the API's take turns), and said in the status bar. The GUI thread never
waits on it: starting (importing the web stack, binding, waiting for a previous server to
let go of the port) happens on a helper thread, and stopping returns at once."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

from app.paths import AppPaths
from engine.types import SamplingParams
from ui.window.preferences import SettingsController

if TYPE_CHECKING:
    from app.model_host import ModelHost
    from server.runner import ApiServer
    from ui.model_worker import ModelThread

log = logging.getLogger(__name__)
PREVIOUS_STOP_S = 10  # how long a new server waits for the previous one to free the port


class ServerController(QObject):
    status = Signal(str)
    _started = Signal(object, str)  # ApiServer or None, the one-line reason it failed

    def __init__(self, preferences: SettingsController, paths: AppPaths, indicator: QLabel,
                 window: QObject) -> None:
        super().__init__(window)
        self._prefs = preferences
        self._paths = paths
        self._indicator = indicator
        self._host: ModelHost | None = None
        self.server: ApiServer | None = None
        self._serving: tuple[int, str] | None = None  # port and token of the server running
        self._starting = False
        self._pending = False  # the settings changed while a server was starting
        self._previous: ApiServer | None = None  # the server stopped last, maybe closing
        self._closed = threading.Event()  # the window is closing: start nothing more
        self._lock = threading.Lock()
        self._latest: ApiServer | None = None  # the last server started (any thread)
        self._started.connect(self._on_started)
        indicator.hide()

    def attach(self, thread: ModelThread) -> None:
        self._host = thread.worker.host
        thread.worker.turn_waiting.connect(self._on_turn_waiting)
        self.apply()

    def settings_applied(self, _reload: bool) -> None:
        self.apply()

    # ------------------------------------------------------------------ lifecycle

    def apply(self) -> None:
        """Make the running server match the settings: on or off, port, token."""
        if self._host is None:
            return
        if self._starting:
            self._pending = True
            return
        settings = self._prefs.settings
        wanted = (settings.api_port, settings.api_token) if settings.api_enabled else None
        if self.server is not None:
            self.server.state.defaults = _copy(settings.sampling)
            if wanted == self._serving:
                return
            self.stop()
        if wanted is None:
            return
        if settings.ensure_api_token():
            self._prefs.save()
            wanted = (settings.api_port, settings.api_token)
        self._starting = True
        thread = threading.Thread(target=self._start, name="api-start", daemon=True,
                                  args=(wanted, _copy(settings.sampling), self._previous))
        thread.start()

    def _start(self, wanted: tuple[int, str], defaults: SamplingParams,
               previous: ApiServer | None) -> None:
        """On a helper thread: wait for the previous server, then listen."""
        try:
            from server.config import ServeConfig
            from server.runner import ApiServer
            from server.state import ApiState

            if previous is not None:
                previous.join(PREVIOUS_STOP_S)
            assert self._host is not None
            state = ApiState(self._host, knowledge_db=self._paths.knowledge_db,
                             defaults=defaults)
            server = ApiServer(state, ServeConfig(port=wanted[0], token=wanted[1]))
            with self._lock:
                if self._closed.is_set():
                    return
                server.start()
                self._latest = server
        except Exception as exc:
            log.warning("the API server could not start: %s", exc)
            self._started.emit(None, str(exc))
            return
        self._started.emit(server, "")

    def _on_started(self, server: ApiServer | None, error: str) -> None:
        self._starting = False
        if self._closed.is_set():
            if server is not None:
                server.stop()
            return
        if server is None:
            self._serving = None
            self._indicator.hide()
            self.status.emit(self.tr("The API server could not start: %s") % error)
        else:
            self.server = server
            self._serving = (server.port, server.config.token or "")
            url = f"{server.url}/v1"
            self._indicator.setText(self.tr("API :%d") % server.port)
            self._indicator.setToolTip(self.tr("The OpenAI-compatible API is served at %s")
                                       % url)
            self._indicator.show()
            self.status.emit(self.tr("API server on %s") % url)
        if self._pending:
            self._pending = False
            self.apply()

    def shutdown(self) -> None:
        """The window closes: stop serving, and let no server that is starting begin."""
        with self._lock:
            self._closed.set()
            latest = self._latest
        if latest is not None:
            latest.stop()  # also when its start has not reached this thread yet
        self.stop()

    def stop(self) -> None:
        """Stop serving; returns at once (turns in flight end at their next token)."""
        if self.server is not None:
            self.server.stop()
            self._previous = self.server
        self.server = None
        self._serving = None
        self._indicator.hide()

    # --------------------------------------------------------------------- status

    def _on_turn_waiting(self, holder: str) -> None:
        if holder == "api":
            self.status.emit(self.tr("Waiting for the model: it is answering a request to "
                                     "the API…"))


def _copy(sampling: SamplingParams) -> SamplingParams:
    return SamplingParams.from_dict(sampling.to_dict())
