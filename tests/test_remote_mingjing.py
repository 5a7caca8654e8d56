"""Mingjing as a backend of Mingjing: `mingjing serve` (a real process on 127.0.0.1 with a
token) used through the remote backend, by the chat service and by the window. Its
/tokenize and /props make every count exact; the key is filed per server and sent only
there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.chat_service import ChatService, TurnRequest
from app.paths import AppPaths
from app.settings import Settings
from engine.remote import RemoteBackend, RemoteConfig, RemoteError, list_models
from engine.types import (
    ChatMessage,
    FinishEvent,
    PromptProgress,
    SamplingParams,
    TokenEvent,
)
from models.refs import ModelRef
from tests.api_helpers import TOKEN, Served, model_home, serve
from tests.test_window import LOAD_TIMEOUT_MS, send_and_wait


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, chat_model_path: Path) -> Iterator[Served]:
    home = model_home(tmp_path_factory.mktemp("served"), chat_model_path,
                      settings=json.dumps({"model": "builtin:qwen2.5-coder-0.5b-instruct",
                                           "n_ctx": 2048}))
    server = serve(home)
    yield server
    server.stop()


def test_mingjing_serves_mingjing_with_exact_counts(served: Served, qwen_engine: object) -> None:
    from engine.runtime import Engine

    assert isinstance(qwen_engine, Engine)
    assert list_models(RemoteConfig(served.url + "/v1", api_key=TOKEN)) == [
        "qwen2.5-coder-0.5b-instruct"]
    with pytest.raises(RemoteError, match=r"401|token|key"):
        list_models(RemoteConfig(served.url + "/v1", api_key="wrong-token-123"))

    backend = RemoteBackend.connect(RemoteConfig(served.url + "/v1", api_key=TOKEN))
    try:
        assert backend.n_ctx == 2048  # told by the server, not guessed
        assert backend.capabilities.exact_token_counts  # /tokenize and the template known
        messages = [ChatMessage("user", "你好，今天天气怎么样？")]
        plan = backend.plan(messages, system="Be brief.", reserve=64)
        local = qwen_engine.plan(messages, system="Be brief.", reserve=64)
        assert plan.exact and plan.prompt_tokens == local.prompt_tokens
        assert backend.token_spans(local.tokens[:5]) == qwen_engine.token_spans(local.tokens[:5])

        service = ChatService(backend)
        events = list(service.run(TurnRequest(
            None, messages, SamplingParams(temperature=0.0, max_tokens=12),
            candidates=5, persist=False), None))
        tokens = [e for e in events if isinstance(e, TokenEvent)]
        finish = events[-1]
        assert isinstance(finish, FinishEvent) and finish.text
        assert tokens and all(t.candidates for t in tokens)
        # The server's usage agrees with the count made before sending (no system prompt:
        # the model's default one).
        assert finish.stats.prompt_tokens == qwen_engine.plan(messages).prompt_tokens
        # A long prompt: the serving Mingjing's progress reaches this one's backend.
        long = [ChatMessage("user", "请概括：" + "员工每年享有十五个工作日的带薪年假。" * 30)]
        events = list(backend.stream(backend.plan(long, reserve=8),
                                     SamplingParams(temperature=0.0, max_tokens=2)))
        progress = [e for e in events if isinstance(e, PromptProgress)]
        assert len(progress) >= 3 and progress[-1].done == progress[-1].total
        assert isinstance(events[-1], FinishEvent)
    finally:
        backend.close()


def test_keys_are_filed_per_server() -> None:
    settings = Settings()
    a = ModelRef.remote("http://10.0.0.2:8080/v1", "m")
    b = ModelRef.remote("http://10.0.0.3:8080/v1", "m")
    settings.set_server_key("http://10.0.0.2:8080/v1/", "key-a")
    assert settings.server_key(a) == "key-a"
    assert settings.server_key(b) is None  # a key for one host never goes to another
    assert settings.server_key(ModelRef.parse("builtin:gemma-3-270m")) is None
    settings.choose_model(a)
    assert str(a) in settings.recent_models
    again = Settings.from_dict(settings.to_dict())
    assert again.server_key(a) == "key-a" and str(a) in again.recent_models
    broken = Settings.from_dict({"server_keys": {"http://x": 5}})
    assert broken.server_keys == {} and "(hidden)" in broken.problems[0]


def test_the_window_on_a_model_served_by_mingjing(qtbot: QtBot, tmp_path: Path,
                                                  served: Served) -> None:
    from ui.main_window import MainWindow

    paths = AppPaths.create(tmp_path / "home")
    settings = Settings()
    ref = ModelRef.remote(served.url + "/v1", "qwen2.5-coder-0.5b-instruct")
    settings.choose_model(ref)
    settings.set_server_key(served.url, TOKEN)
    settings.sampling.temperature = 0.0
    settings.sampling.max_tokens = 12
    window = MainWindow(paths, settings)
    qtbot.addWidget(window)
    window.show()
    window.start()
    try:
        qtbot.waitUntil(lambda: window.models.model is not None and window.turns.history_ready,
                        timeout=LOAD_TIMEOUT_MS)
        loaded = window.models.model
        assert loaded is not None and loaded.remote and loaded.n_ctx == 2048
        assert "qwen2.5-coder-0.5b-instruct" in window.model_label.text()
        assert window.model_picker.currentData() == str(ref)
        panel = window.concepts.panel
        assert panel is not None
        assert "Exact" in panel.model_card.values["counts"]
        finished = send_and_wait(qtbot, window, "用一句话介绍北京。")
        assert finished.status == "complete" and finished.text
        assert finished.stats is not None and finished.stats.completion_tokens > 0
        assert panel.turn_context is None or panel.turn_context.exact
        log = paths.log_file
        assert TOKEN not in (log.read_text(encoding="utf-8") if log.exists() else "")
    finally:
        window.close()


def test_the_server_dialog_lists_the_models_without_waiting(qtbot: QtBot,
                                                            served: Served) -> None:
    from PySide6.QtWidgets import QDialogButtonBox

    from ui.server_dialog import ServerDialog
    from ui.tasks import Lane

    lane = Lane("test-server-models")
    dialog = ServerDialog(lane, url=served.url + "/v1", api_key="wrong-token-123")
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.list_models()
    assert not dialog.connect_button.isEnabled()  # asked on the lane, not here
    qtbot.waitUntil(dialog.connect_button.isEnabled, timeout=30_000)
    assert not ok.isEnabled() and "\n" not in dialog.status.text()  # one line: refused
    dialog.key.setText(TOKEN)
    dialog.list_models()
    qtbot.waitUntil(ok.isEnabled, timeout=30_000)
    assert dialog.models.currentText() == "qwen2.5-coder-0.5b-instruct"
    assert dialog.result_ref() == ModelRef.remote(served.url + "/v1",
                                                  "qwen2.5-coder-0.5b-instruct")
    assert dialog.result_key() == TOKEN
    dialog.url.setText("ftp://nowhere")
    dialog.list_models()
    qtbot.waitUntil(dialog.connect_button.isEnabled, timeout=30_000)
    assert "not an http" in dialog.status.text()
    lane.shutdown(wait=False)
