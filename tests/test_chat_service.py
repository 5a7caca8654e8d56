"""One place plans a turn: the window, `mingjing ask` and the chat service itself give the
model the same prompt tokens for the same conversation and knowledge base."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.chat_service import ChatService, Retrieved, Started, TurnRequest, collect
from app.paths import AppPaths
from app.settings import Settings
from engine.types import ChatMessage, SamplingParams
from kb.indexer import Indexer
from kb.store import KnowledgeStore
from models.open import open_backend
from models.refs import ModelRef
from tests.conftest import REPO

DOCS = Path(__file__).parent / "data" / "kb_zh" / "docs"
QUESTION = "在地铁上掉了东西，要打哪个电话查询？"
KB = "资料"


@pytest.fixture
def home(tmp_path: Path, chat_model_path: Path) -> AppPaths:
    """A data folder holding the chat model and a knowledge base of the test corpus."""
    paths = AppPaths.create(tmp_path / "home")
    os.link(chat_model_path, paths.models_dir / chat_model_path.name)
    shutil.copytree(DOCS, tmp_path / "docs")
    with KnowledgeStore(paths.knowledge_db) as store:
        assert Indexer(store).add(KB, [tmp_path / "docs"]).failed == []
    return paths


def settings_for_test() -> Settings:
    settings = Settings()  # the default: the built-in chat model
    settings.n_ctx = 2048
    settings.sampling = SamplingParams(temperature=0.0, max_tokens=4, repeat_penalty=1.0,
                                       seed=1)
    return settings


def test_window_ask_and_service_send_the_same_prompt(qtbot: QtBot, home: AppPaths) -> None:
    settings = settings_for_test()
    request = TurnRequest(None, [ChatMessage("user", QUESTION)], settings.sampling,
                          kbs=[KB], persist=False)

    # 1. The service itself.
    backend = open_backend(settings.model_ref, home.models_dir, settings.load_params())
    with KnowledgeStore(home.knowledge_db) as knowledge:
        service = ChatService(backend, knowledge=knowledge)
        planned = service.plan_turn(request)
        events = list(service.run(request))
    backend.close()
    assert planned.rag is not None and len(planned.rag.used) >= 1
    assert QUESTION in planned.plan.text and "<sources>" in planned.plan.text
    assert isinstance(events[0], Retrieved) and isinstance(events[1], Started)
    service_tokens = list(planned.plan.tokens)

    # 2. `mingjing ask`, a separate process, as a user runs it.
    env = {**os.environ, "MINGJING_HOME": str(home.root)}
    result = subprocess.run(
        [sys.executable, "-m", "app", "ask", "--json", "--kb", KB, "--ctx", "2048",
         "--temperature", "0", "--max-tokens", "4", "--repeat-penalty", "1", "--seed", "1",
         QUESTION], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["prompt_token_ids"] == service_tokens
    assert [s["chunk_id"] for s in out["sources"]] == [h.chunk_id for h in planned.rag.used]
    from app.citations import check_citations

    assert out["citations"] == [c.to_dict() for c in
                                check_citations(out["reply"], out["sources"])]

    # 3. The window, with the knowledge base switched on for the conversation.
    from ui.main_window import MainWindow

    window = MainWindow(home, settings)
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.models.model is not None and window.turns.history_ready,
                    timeout=120_000)
    window.knowledge.set_active(KB, True)
    started: list[object] = []
    assert window.model_thread is not None
    window.model_thread.worker.turn_started.connect(started.append)
    with qtbot.waitSignal(window.turn_done, timeout=300_000):
        window.send(QUESTION)
    assert started and started[0].tokens == service_tokens  # type: ignore[attr-defined]
    window.close()


def test_a_turn_without_a_store_writes_nothing(qwen_engine: object, tmp_path: Path) -> None:
    from app.conversations import ConversationStore

    store = ConversationStore(tmp_path / "c.db")
    service = ChatService(qwen_engine, store=store)  # type: ignore[arg-type]
    finish = collect(service.run(TurnRequest(None, [ChatMessage("user", "hi")],
                                             SamplingParams(max_tokens=2), persist=False)))
    assert finish.stats.completion_tokens >= 1
    assert store.list_conversations() == []
    store.close()


def test_model_refs_open_the_same_file(home: AppPaths, chat_model_path: Path) -> None:
    for ref in (ModelRef.parse("qwen2.5-coder-0.5b-instruct"), ModelRef.file(chat_model_path)):
        backend = open_backend(ref, home.models_dir)
        try:
            assert backend.description.info is not None
            assert backend.description.info.file_size == chat_model_path.stat().st_size
            assert backend.mode == "chat" and backend.capabilities.exact_token_counts
        finally:
            backend.close()
