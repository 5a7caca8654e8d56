"""The real window with the real model, offscreen: streaming without blocking the event loop,
stop, regenerate, edit, persistence across a restart, crash recovery and bad model files."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from app.conversations import ConversationStore
from app.paths import AppPaths
from app.settings import Settings
from models.refs import ModelRef
from ui.main_window import MainWindow
from ui.model_worker import TurnFinished

LOAD_TIMEOUT_MS = 120_000
TURN_TIMEOUT_MS = 120_000


@pytest.fixture
def paths(tmp_path: Path, default_model_path: Path) -> AppPaths:
    paths = AppPaths.create(tmp_path / "home")
    os.link(default_model_path, paths.models_dir / default_model_path.name)
    return paths


def make_settings(max_tokens: int = 16) -> Settings:
    """The small base model (fast, deterministic continuations) for the window's plumbing;
    tests of the default chat model choose it themselves."""
    settings = Settings()
    settings.model = "builtin:gemma-3-270m"
    settings.n_ctx = 1024
    settings.sampling.temperature = 0.0
    settings.sampling.repeat_penalty = 1.0
    settings.sampling.max_tokens = max_tokens
    return settings


def open_window(qtbot: QtBot, paths: AppPaths, settings: Settings) -> MainWindow:
    window = MainWindow(paths, settings)
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.models.model is not None and window.turns.history_ready,
                    timeout=LOAD_TIMEOUT_MS)
    return window


@pytest.fixture
def window(qtbot: QtBot, paths: AppPaths) -> Iterator[MainWindow]:
    win = open_window(qtbot, paths, make_settings())
    yield win
    win.close()


def send_and_wait(qtbot: QtBot, window: MainWindow, text: str) -> TurnFinished:
    with qtbot.waitSignal(window.turn_done, timeout=TURN_TIMEOUT_MS) as blocker:
        window.send(text)
    result = blocker.args[0]
    assert isinstance(result, TurnFinished)
    return result


def test_streams_while_event_loop_keeps_running(qtbot: QtBot, paths: AppPaths) -> None:
    window = open_window(qtbot, paths, make_settings(max_tokens=120))
    assert window.models.model is not None and window.models.model.mode == "completion"
    assert window.banner.isVisible()  # the base model is explained, not hidden
    ticks: list[float] = []
    pieces: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    assert window.model_thread is not None
    window.model_thread.worker.piece.connect(lambda *_: pieces.append(time.perf_counter()))
    timer.start()
    finished = send_and_wait(qtbot, window, "The capital of France is")
    timer.stop()
    assert finished.status == "complete"
    assert finished.stats is not None and finished.stats.completion_tokens == 120
    # The GUI thread kept turning while tokens arrived: timer ticks are spread over the
    # whole stream (between the first and last piece), not bunched after it.
    assert len(pieces) > 50
    during = [t for t in ticks if pieces[0] < t < pieces[-1]]
    stream_s = pieces[-1] - pieces[0]
    assert len(during) > 10
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    print(f"\nstreamed {len(pieces)} pieces in {stream_s:.2f} s; "
          f"event-loop ticks during stream: {len(during)}; worst gap {max(gaps) * 1000:.1f} ms")
    # Throttled painting: at most one markdown render per interval, however fast (or, on a
    # loaded machine, slowly) the pieces come; never more renders than pieces.
    from ui.chat_view import STREAM_INTERVAL_MS

    renders = window.chat_view.render_count
    assert renders <= len(pieces) + 1
    assert renders <= (pieces[-1] - pieces[0]) * 1000 / STREAM_INTERVAL_MS + 3
    shown = window.chat_view.messages()
    assert [m.role for m in shown] == ["user", "assistant"]
    assert shown[1].content == finished.text
    assert shown[1].content.startswith(" the capital of the country of France")
    assert window.sidebar.list.count() == 1
    window.close()


def test_persists_across_restart(qtbot: QtBot, paths: AppPaths) -> None:
    first = open_window(qtbot, paths, make_settings())
    reply = send_and_wait(qtbot, first, "明镜是一面镜子，")
    cid = first.turns.conversation_id
    assert cid is not None
    first.close()

    second = open_window(qtbot, paths, make_settings())
    qtbot.waitUntil(lambda: second.sidebar.list.count() == 1)
    second.open_conversation(cid)
    qtbot.waitUntil(lambda: len(second.chat_view.messages()) == 2)
    user, assistant = second.chat_view.messages()
    assert user.content == "明镜是一面镜子，"
    assert assistant.content == reply.text and assistant.status == "complete"
    # The conversation continues where it was.
    more = send_and_wait(qtbot, second, " and then")
    assert more.status == "complete"
    assert more.stats is not None and more.stats.prompt_tokens > 10
    store = ConversationStore(paths.conversations_db)
    assert [m.role for m in store.messages(cid)] == ["user", "assistant", "user", "assistant"]
    store.close()
    second.close()


def test_stop_keeps_partial_reply(qtbot: QtBot, paths: AppPaths) -> None:
    window = open_window(qtbot, paths, make_settings(max_tokens=2000))
    assert window.model_thread is not None
    worker = window.model_thread.worker
    count = 0

    def on_piece(*_: object) -> None:
        nonlocal count
        count += 1
        if count == 5:
            window.turns.stop()

    worker.piece.connect(on_piece)
    with qtbot.waitSignal(window.turn_done, timeout=TURN_TIMEOUT_MS) as blocker:
        window.send("Once upon a time")
    finished = blocker.args[0]
    assert finished.status == "cancelled"
    assert finished.stats.completion_tokens < 100
    shown = window.chat_view.messages()[-1]
    assert shown.status == "cancelled" and shown.content == finished.text
    window.close()


def test_regenerate_and_edit(qtbot: QtBot, window: MainWindow, paths: AppPaths) -> None:
    send_and_wait(qtbot, window, "The river")
    cid = window.turns.conversation_id
    assert cid is not None and window.model_thread is not None
    window.settings.sampling.temperature = 1.0
    window.settings.sampling.seed = 99
    with qtbot.waitSignal(window.turn_done, timeout=TURN_TIMEOUT_MS) as blocker:
        window.turns.regenerate()
    regenerated = blocker.args[0]
    assert regenerated.status == "complete"
    assert len(window.chat_view.messages()) == 2
    window.turns.edit_last()
    assert window.composer.text() == "The river"
    send_and_wait(qtbot, window, "The mountain")
    store = ConversationStore(paths.conversations_db)
    stored = store.messages(cid)
    store.close()
    assert [(m.role, m.content if m.role == "user" else "") for m in stored] == [
        ("user", "The mountain"), ("assistant", "")]
    assert stored[1].stats is not None and stored[1].stats["seed"] == 99
    assert window.chat_view.messages()[0].content == "The mountain"


def test_delete_and_undo(qtbot: QtBot, window: MainWindow) -> None:
    send_and_wait(qtbot, window, "Delete me")
    cid = window.turns.conversation_id
    qtbot.waitUntil(lambda: window.sidebar.list.count() == 1)
    assert cid is not None
    window.conversations.delete(cid)
    qtbot.waitUntil(lambda: window.sidebar.list.count() == 0)
    assert window.turns.conversation_id is None and window.undo_button.isVisible()
    window.conversations.undo_delete()
    qtbot.waitUntil(lambda: window.sidebar.list.count() == 1)


def test_search_conversations(qtbot: QtBot, window: MainWindow) -> None:
    send_and_wait(qtbot, window, "长江是中国最长的河流")
    window.conversations.new_chat()
    send_and_wait(qtbot, window, "The Nile is long")
    qtbot.waitUntil(lambda: window.sidebar.list.count() == 2)
    window.sidebar.search.setText("长江")
    qtbot.waitUntil(lambda: window.sidebar.list.count() == 1, timeout=5000)
    assert "长江" in window.sidebar.list.item(0).text()


def test_crash_left_reply_is_marked_interrupted(qtbot: QtBot, paths: AppPaths) -> None:
    store = ConversationStore(paths.conversations_db)
    conv = store.create_conversation(title="before the crash")
    store.add_message(conv.id, "user", "Tell me a story")
    store.add_message(conv.id, "assistant", "Once upon a", status="streaming")
    store.close()
    window = open_window(qtbot, paths, make_settings())
    assert window.conversations.recovered == 1
    assert "interrupted" in window.status_label.text()
    window.open_conversation(conv.id)
    qtbot.waitUntil(lambda: len(window.chat_view.messages()) == 2)
    reply = window.chat_view.messages()[1]
    assert reply.status == "interrupted" and reply.content == "Once upon a"
    window.close()


@pytest.mark.parametrize("kind", ["garbage", "empty", "truncated"])
def test_bad_model_file_gives_a_dialog_and_keeps_the_model(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, default_model_path: Path,
    monkeypatch: pytest.MonkeyPatch, kind: str,
) -> None:
    bad = tmp_path / f"{kind}.gguf"
    if kind == "garbage":
        bad.write_bytes(os.urandom(4096))
    elif kind == "empty":
        bad.write_bytes(b"")
    else:
        with default_model_path.open("rb") as src:
            bad.write_bytes(src.read(7_000_000))
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning",
                        lambda _parent, _title, text, *a, **k: warnings.append(text))
    previous = window.models.model
    with qtbot.waitSignal(window.model_failed, timeout=LOAD_TIMEOUT_MS):
        window.models.load(ModelRef.file(bad))
    qtbot.waitUntil(lambda: bool(warnings))
    assert len(warnings) == 1 and "\n" not in warnings[0] and str(bad) in warnings[0]
    assert window.models.model is previous
    # Still usable.
    assert send_and_wait(qtbot, window, "Still here").status == "complete"


def test_a_file_llama_cpp_cannot_load_leaves_the_previous_model_working(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A GGUF whose header reads fine but that llama.cpp refuses (no tensors) replaced the
    model before failing: the previous model is opened again and still answers."""
    from tests.test_gguf import build_gguf, synthetic_kvs

    hollow = tmp_path / "hollow.gguf"
    hollow.write_bytes(build_gguf(synthetic_kvs()))
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning",
                        lambda _parent, _title, text, *a, **k: warnings.append(text))
    previous = window.models.model
    with qtbot.waitSignal(window.model_failed, timeout=LOAD_TIMEOUT_MS):
        window.models.load(ModelRef.file(hollow))
    qtbot.waitUntil(lambda: bool(warnings))
    assert "llama.cpp could not load" in warnings[0] and "\n" not in warnings[0]
    assert window.models.model is previous
    assert previous is not None and window.status_label.text() == \
        f"Kept {previous.info.name} loaded."
    assert send_and_wait(qtbot, window, "Still here").status == "complete"


def test_message_larger_than_window_is_refused_and_kept(
    qtbot: QtBot, paths: AppPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings()
    settings.n_ctx = 256
    window = open_window(qtbot, paths, settings)
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning",
                        lambda _parent, _title, text, *a, **k: warnings.append(text))
    huge = "河流" * 400
    finished = send_and_wait(qtbot, window, huge)
    assert finished.rejected and "context window" in finished.error
    qtbot.waitUntil(lambda: bool(warnings))
    assert window.composer.text() == huge  # nothing the user typed is lost
    assert window.chat_view.messages() == []
    assert window.turns.conversation_id is None
    window.close()


def test_drop_a_gguf_loads_it(qtbot: QtBot, window: MainWindow, tmp_path: Path,
                              default_model_path: Path) -> None:
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    copy = tmp_path / "dropped-model.gguf"
    os.link(default_model_path, copy)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(copy))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.model_ready, timeout=LOAD_TIMEOUT_MS) as blocker:
        window.dropEvent(event)
    assert blocker.args[0].path == str(copy)
    assert window.settings.recent_models[0] == f"file:{copy}"
    assert window.settings.model == f"file:{copy}"
    assert window.model_picker.findData(f"file:{copy}") >= 0
    assert "dropped-model" in window.model_picker.currentText()


def test_settings_dialog_round_trip(qtbot: QtBot) -> None:
    from ui.settings_dialog import SettingsDialog

    settings = make_settings()
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.temperature.setValue(1.3)
    dialog.system_prompt.setPlainText("请用中文回答。")
    dialog.n_ctx.setValue(2048)
    dialog.template.setCurrentIndex(dialog.template.findData("gemma"))
    result = dialog.result_settings()
    assert result.sampling.temperature == pytest.approx(1.3)
    assert result.system_prompt == "请用中文回答。"
    assert result.chat_template == "gemma"
    assert SettingsDialog.needs_reload(settings, result)
    same_model = make_settings()
    same_model.sampling.temperature = 0.2
    assert not SettingsDialog.needs_reload(settings, same_model)
    assert settings.sampling.temperature == 0.0  # the original is untouched


def test_answers_from_a_knowledge_base_with_citations(
    qtbot: QtBot, paths: AppPaths, tmp_path: Path
) -> None:
    from kb.indexer import Indexer
    from kb.store import KnowledgeStore
    from ui.source_viewer import SourceViewer

    doc = tmp_path / "手册.md"
    doc.write_text("# 年假\n星澜科技的员工每年享有十五个工作日的带薪年假。\n\n"
                   "# 报销\n出租车费单次上限一百二十元。\n", encoding="utf-8")
    with KnowledgeStore(paths.knowledge_db) as store:
        assert Indexer(store).add("手册", [doc]).count("indexed") == 1
    window = open_window(qtbot, paths, make_settings(max_tokens=12))
    qtbot.waitUntil(lambda: "手册" in window.knowledge.available_kbs, timeout=30_000)
    window.knowledge.set_active("手册", True)
    assert "手册" in window.kb_button.text()
    finished = send_and_wait(qtbot, window, "员工一年有几天年假？")
    assert finished.status == "complete"
    retrieved = window.knowledge.last_retrieval
    assert retrieved is not None and retrieved.sources
    assert "十五个工作日" in str(retrieved.sources[0]["text"])
    assert retrieved.hits[0]["in_prompt"] is True
    # The concept panel: why each passage came back, and the knowledge in the window.
    panel = window.concept_panel
    assert panel is not None
    table = panel.retrieval_view.table
    assert table.rowCount() == len(retrieved.hits)
    assert "手册.md" in table.item(0, 1).text()
    assert table.item(0, 2).text() == f"{retrieved.hits[0]['vector_score']:.3f} (#" + str(
        retrieved.hits[0]["vector_rank"]) + ")"
    terms = retrieved.hits[0]["matched_terms"]
    assert isinstance(terms, list) and "员工" in terms  # jieba's terms found in the passage
    assert table.item(0, 5).text() == " ".join(terms)
    assert table.item(0, 6).text() == str(retrieved.hits[0]["prompt_tokens"])
    assert panel.turn_context is not None
    knowledge = [s for s in panel.turn_context.segments if s.kind == "knowledge"]
    assert knowledge and knowledge[0].tokens > 10
    reply = window.chat_view.messages()[-1]
    assert reply.sources and reply.sources[0]["number"] == 1
    widget = window.chat_view.message_widgets()[-1]
    assert widget.sources_label.isVisible() and "cite:1" in widget.sources_label.text()
    # The stored reply keeps its sources; the conversation remembers its knowledge base.
    cid = window.turns.conversation_id
    assert cid is not None
    store = ConversationStore(paths.conversations_db)
    stored = store.messages(cid)[-1]
    conv = store.get_conversation(cid)
    store.close()
    assert stored.stats is not None and stored.stats["sources"][0]["path"] == str(doc)
    assert conv is not None and conv.settings == {"kbs": ["手册"]}
    # A citation opens the document at the passage.
    window.chat_view.citation_clicked.emit(len(window.history) - 1, 1, -1)
    viewers = [w for w in window.findChildren(SourceViewer)]
    assert viewers
    qtbot.waitUntil(lambda: "highlighted" in viewers[0].note.text(), timeout=10_000)
    cursor = viewers[0].text.textCursor()
    assert "十五个工作日" in viewers[0].text.toPlainText()[cursor.position():][:60]
    window.close()


def test_a_question_the_knowledge_base_cannot_answer_says_so(
    qtbot: QtBot, paths: AppPaths, tmp_path: Path
) -> None:
    from kb.indexer import Indexer
    from kb.store import KnowledgeStore

    doc = tmp_path / "手册.md"
    doc.write_text("# 年假\n星澜科技的员工每年享有十五个工作日的带薪年假。\n", encoding="utf-8")
    with KnowledgeStore(paths.knowledge_db) as store:
        assert Indexer(store).add("手册", [doc]).count("indexed") == 1
    window = open_window(qtbot, paths, make_settings(max_tokens=8))
    qtbot.waitUntil(lambda: "手册" in window.knowledge.available_kbs, timeout=30_000)
    window.knowledge.set_active("手册", True)
    finished = send_and_wait(qtbot, window, "Who won the 2018 football World Cup?")
    assert finished.status == "complete"
    retrieved = window.knowledge.last_retrieval
    assert retrieved is not None and retrieved.sources == [] and retrieved.no_answer
    assert retrieved.translation == ""  # a base model does not translate
    widget = window.chat_view.message_widgets()[-1]
    assert widget.sources_label.isVisible()
    assert "no passage relevant" in widget.sources_label.text()
    # Shown again after the chat view is rebuilt from the window's history.
    window.chat_view.set_messages(window.history)
    again = window.chat_view.message_widgets()[-1]
    assert "no passage relevant" in again.sources_label.text()
    panel = window.concept_panel
    assert panel is not None and "threshold" in panel.retrieval_view.summary.text()
    cid = window.turns.conversation_id
    assert cid is not None
    store = ConversationStore(paths.conversations_db)
    stored = store.messages(cid)[-1]
    store.close()
    assert stored.stats is not None and stored.stats["kb_no_answer"]["threshold"] > 0
