"""The API served from the open window: over the window's own ModelHost, so an API turn and
a window turn take turns (the window says when it waits for the API), switched on and off
from the settings without the window waiting."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import openai
from pytestqt.qtbot import QtBot

from app.paths import AppPaths
from tests.api_helpers import TOKEN, Served
from tests.test_window import LOAD_TIMEOUT_MS, make_settings, open_window, paths, send_and_wait

__all__ = ["paths"]  # the fixture


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_window_serves_the_api_and_both_turns_complete(qtbot: QtBot,
                                                           paths: AppPaths) -> None:
    settings = make_settings(max_tokens=12)
    settings.api_enabled, settings.api_port, settings.api_token = True, free_port(), TOKEN
    window = open_window(qtbot, paths, settings)
    said: list[str] = []
    window.server.status.connect(said.append)
    try:
        qtbot.waitUntil(lambda: window.server.server is not None, timeout=LOAD_TIMEOUT_MS)
        served = Served(None, window.server.server.url, TOKEN, paths.root, [])
        assert window.api_label.isVisible() and str(settings.api_port) in window.api_label.text()
        client = served.client()
        assert client.models.list().data[0].id == "gemma-3-270m"

        holding, results = threading.Event(), []

        def api_turn() -> None:  # a long API reply holds the model while the window sends
            chunks = iter(client.completions.create(
                model="m", prompt="Once upon a time", max_tokens=60, temperature=0,
                stream=True))
            parts = [next(chunks).choices[0].text]
            holding.set()
            parts += [c.choices[0].text for c in chunks]
            results.append("".join(parts))

        thread = threading.Thread(target=api_turn)
        thread.start()
        qtbot.waitUntil(holding.is_set, timeout=LOAD_TIMEOUT_MS)
        finished = send_and_wait(qtbot, window, "The capital of France is")
        thread.join(120)
        assert results and results[0]  # the API's reply, whole
        assert finished.status == "complete" and finished.text  # and the window's
        assert any("answering a request to the API" in s for s in said)
        # Nothing the window asked for was stored by the API's turn.
        assert [m.role for m in window.history] == ["user", "assistant"]
    finally:
        window.close()
    assert window.server.server is None


def test_the_settings_switch_the_api_on_and_off(qtbot: QtBot, paths: AppPaths) -> None:
    settings = make_settings()
    port = free_port()
    settings.api_port = port
    window = open_window(qtbot, paths, settings)
    try:
        assert window.server.server is None and not window.api_label.isVisible()
        assert settings.api_token == ""  # made when first needed, not before
        window.preferences.settings.api_enabled = True
        window.server.settings_applied(False)
        qtbot.waitUntil(lambda: window.server.server is not None, timeout=LOAD_TIMEOUT_MS)
        token = window.preferences.settings.api_token
        assert token  # made now, and saved with the settings
        served: Any = Served(None, f"http://127.0.0.1:{port}", token, paths.root, [])
        assert served.call("GET", "/v1/models")[0] == 200
        # A new token: the server starts again with it, on the same port.
        first = window.server.server
        window.preferences.settings.api_token = "another-token-123"
        window.server.settings_applied(False)
        qtbot.waitUntil(lambda: window.server.server not in (None, first),
                        timeout=LOAD_TIMEOUT_MS)
        assert served.call("GET", "/v1/models")[0] == 401
        assert served.call("GET", "/v1/models", token="another-token-123")[0] == 200
        second = window.server.server
        window.preferences.settings.api_enabled = False
        window.server.settings_applied(False)
        assert window.server.server is None  # at once; the port is let go shortly after
        assert second is not None and second.join(30)
        assert _refused(Served(None, f"http://127.0.0.1:{port}", token, Path("."), []))
    finally:
        window.close()


def _refused(served: Served) -> bool:
    try:
        served.client().models.list()
    except openai.APIConnectionError:
        return True
    return False


def test_the_settings_dialog_shows_copies_and_regenerates_the_token(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QApplication

    from app.settings import Settings
    from ui.settings_dialog import SettingsDialog

    settings = Settings()
    settings.api_token = TOKEN
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    box = dialog.api
    assert not box.enabled.isChecked() and box.token.text() == TOKEN
    assert box.address.text() == f"http://127.0.0.1:{settings.api_port}/v1"
    box.copy.click()
    assert QApplication.clipboard().text() == TOKEN
    box.regenerate.click()
    box.enabled.setChecked(True)
    box.port.setValue(9100)
    result = dialog.result_settings()
    assert result.api_enabled and result.api_port == 9100
    assert result.api_token not in ("", TOKEN) and result.api_token == box.token.text()
    assert settings.api_token == TOKEN  # the original is untouched until OK is applied
    assert not SettingsDialog.needs_reload(settings, result)  # the model stays loaded
    fresh = SettingsDialog(Settings())  # no token yet: one is shown, kept if OK'd
    qtbot.addWidget(fresh)
    assert fresh.result_settings().api_token == fresh.api.token.text() != ""
