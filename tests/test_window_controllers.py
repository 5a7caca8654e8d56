"""The window's controllers with a scripted model thread: the plumbing between the picker,
the turns, the conversation list, the knowledge menu and the settings, tested in
milliseconds and without a model (the real model's turns are in test_window.py).

The window is the real MainWindow, not started; the scripted thread stands where start()
would put the model thread, and its worker emits what the real one would."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from app.chat_service import TurnRequest
from app.citations import check_citations
from app.conversations import ConversationStore
from app.paths import AppPaths
from app.settings import Settings
from engine.gguf import ModelInfo, read_model_info
from engine.types import GenerationStats
from models.refs import ModelRef
from ui.main_window import MainWindow
from ui.model_worker import LoadedModel, LoadRequest, TokenStep, TurnFinished, TurnStarted
from ui.window.models import ADD_SERVER, GET_MODELS, OPEN_MODEL


class ScriptedWorker(QObject):
    """The model worker's signals, emitted by the test."""

    load_started = Signal(str)
    loaded = Signal(object)
    load_failed = Signal(str, str, bool)
    turn_started = Signal(object)
    retrieved = Signal(object)
    piece = Signal(int, str)
    prompt_progress = Signal(int, object)
    token = Signal(int, object)
    turn_finished = Signal(object)


class ScriptedModelThread:
    """Records what the window asks of the model thread."""

    def __init__(self) -> None:
        self.worker = ScriptedWorker()
        self.loads: list[LoadRequest] = []
        self.turns: list[TurnRequest] = []
        self.cancels = 0

    def load(self, request: LoadRequest) -> None:
        self.loads.append(request)

    def run_turn(self, request: TurnRequest) -> None:
        self.turns.append(request)

    def cancel(self) -> None:
        self.cancels += 1

    def stop(self) -> None:
        pass


@pytest.fixture
def info(default_model_path: Path) -> ModelInfo:
    return read_model_info(default_model_path)  # the header only: milliseconds


def loaded_model(info: ModelInfo, mode: str = "chat",
                 ref: ModelRef | None = None) -> LoadedModel:
    return LoadedModel(ref=ref or ModelRef.parse("builtin:qwen2.5-coder-0.5b-instruct"),
                       path=str(info.path), info=info, mode=mode, n_ctx=2048, load_s=0.5)


@pytest.fixture
def paths(tmp_path: Path) -> AppPaths:
    return AppPaths.create(tmp_path / "home")


@pytest.fixture
def scripted() -> ScriptedModelThread:
    return ScriptedModelThread()


def make_window(qtbot: QtBot, paths: AppPaths, scripted: ScriptedModelThread,
                settings: Settings | None = None) -> MainWindow:
    window = MainWindow(paths, settings or Settings())
    qtbot.addWidget(window)
    for controller in (window.knowledge, window.models, window.turns):
        controller.attach(scripted)  # type: ignore[arg-type]
    return window


@pytest.fixture
def window(qtbot: QtBot, paths: AppPaths, scripted: ScriptedModelThread,
           info: ModelInfo) -> Iterator[MainWindow]:
    """History open, the chat model loaded."""
    win = make_window(qtbot, paths, scripted)
    win.conversations.open_history()
    qtbot.waitUntil(lambda: win.turns.history_ready)
    scripted.worker.loaded.emit(loaded_model(info))
    yield win
    win.close()


def finished(cid: int, text: str = "Paris.", **kwargs: object) -> TurnFinished:
    stats = GenerationStats(prompt_tokens=12, completion_tokens=3, decode_tok_s=20.0,
                            time_to_first_token_s=0.25)
    return TurnFinished(cid, 2, text, "complete", stats=stats, **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the model


def test_picker_lists_built_in_models_recent_files_and_open(
    qtbot: QtBot, paths: AppPaths, scripted: ScriptedModelThread
) -> None:
    settings = Settings()
    settings.recent_models = ["file:/models/my-model.gguf", "remote:http://gpu-box:8080/v1#qwen"]
    window = make_window(qtbot, paths, scripted, settings)
    picker = window.model_picker
    items = [(picker.itemText(i), picker.itemData(i)) for i in range(picker.count())]
    assert items[0] == ("Qwen2.5-Coder 0.5B Instruct (built-in, chat)",
                        "builtin:qwen2.5-coder-0.5b-instruct")
    assert items[1] == ("Gemma 3 270M (built-in, base model)", "builtin:gemma-3-270m")
    assert items[2] == ("my-model.gguf", "file:/models/my-model.gguf")
    assert items[3] == ("qwen (on http://gpu-box:8080/v1)", "remote:http://gpu-box:8080/v1#qwen")
    assert [d for _t, d in items[-3:]] == [OPEN_MODEL, ADD_SERVER, GET_MODELS]
    assert picker.currentIndex() == 0  # the default model
    # Picking an entry loads it, with the settings' parameters.
    picker.activated.emit(1)
    assert [str(r.ref) for r in scripted.loads] == ["builtin:gemma-3-270m"]
    assert scripted.loads[0].params.n_ctx == settings.n_ctx
    assert scripted.loads[0].api_key is None
    # A model on a server gets that server's key, and only it.
    window.preferences.settings.set_server_key("http://gpu-box:8080", "key-for-gpu-box")
    picker.activated.emit(3)
    assert scripted.loads[-1].api_key == "key-for-gpu-box"
    assert "key-for-gpu-box" not in repr(scripted.loads[-1])
    window.close()


def test_loading_shows_the_model_and_explains_a_base_model(
    qtbot: QtBot, paths: AppPaths, scripted: ScriptedModelThread, info: ModelInfo
) -> None:
    window = make_window(qtbot, paths, scripted)
    window.conversations.open_history()
    qtbot.waitUntil(lambda: window.turns.history_ready)
    assert not window.turns.can_send()  # no model yet
    scripted.worker.load_started.emit("gemma-3-270m")
    assert window.models.loading and not window.model_picker.isEnabled()
    assert window.status_label.text() == "Loading gemma-3-270m…"
    gemma = ModelRef.parse("builtin:gemma-3-270m")
    with qtbot.waitSignal(window.model_ready) as ready:
        scripted.worker.loaded.emit(loaded_model(info, "completion", gemma))
    assert ready.args[0].mode == "completion"
    assert window.model_picker.isEnabled() and window.turns.can_send()
    assert not window.banner.isHidden() and info.name in window.banner.text()
    assert "base model: continues text" in window.model_label.text()
    assert window.status_label.text() == "Model loaded in 0.5 s."
    assert window.settings.model == "builtin:gemma-3-270m"
    assert window.model_picker.currentData() == "builtin:gemma-3-270m"
    # The chat model: no banner.
    scripted.worker.loaded.emit(loaded_model(info, "chat"))
    assert window.banner.isHidden() and "· chat" in window.model_label.text()
    window.close()


def test_a_failed_load_keeps_the_model(
    window: MainWindow, scripted: ScriptedModelThread, qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a: warnings.append(text))
    kept = window.models.model
    assert kept is not None
    with qtbot.waitSignal(window.model_failed):
        scripted.worker.load_failed.emit("broken.gguf", "broken.gguf: not a GGUF file", True)
    assert warnings == ["broken.gguf: not a GGUF file"]
    assert window.models.model is kept
    assert window.status_label.text() == f"Kept {kept.info.name} loaded."
    assert window.turns.can_send()


def test_a_failed_load_that_lost_the_model_says_so(
    window: MainWindow, scripted: ScriptedModelThread, qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker could not bring the previous model back: no claim that it was kept, and
    nothing can be sent."""
    monkeypatch.setattr(QMessageBox, "warning", lambda *_a, **_k: None)
    with qtbot.waitSignal(window.model_failed):
        scripted.worker.load_failed.emit("big.gguf", "big.gguf: out of memory", False)
    assert window.models.model is None
    assert window.status_label.text() == "No model loaded."
    assert not window.turns.can_send()


# ------------------------------------------------------------------ turns


def test_a_turn_from_send_to_reply(window: MainWindow, scripted: ScriptedModelThread,
                                   qtbot: QtBot) -> None:
    steps: list[TokenStep] = []
    window.turns.step.connect(steps.append)
    window.send("What is the capital of France?")
    request = scripted.turns[-1]
    assert request.conversation_id is None and request.save_user_message
    assert [(m.role, m.content) for m in request.messages] == [
        ("user", "What is the capital of France?")]
    assert request.candidates == 0 and not request.inspect  # no concept panel shown
    assert window.composer.text() == ""
    window.send("again")  # one turn at a time
    assert len(scripted.turns) == 1
    # The model thread stored a new conversation (7) and streams into it.
    worker = scripted.worker
    worker.turn_started.emit(TurnStarted(7, 1, 2, [], 12))
    assert window.turns.conversation_id == 7 and window.turns.streaming_cid == 7
    worker.piece.emit(7, "Par")
    worker.piece.emit(8, "elsewhere")  # another conversation's reply
    assert window.chat_view.stream_text() == "Par"
    step = TokenStep(42, "Par", False, ())
    worker.token.emit(7, step)
    worker.token.emit(8, TokenStep(43, "x", False, ()))
    assert steps == [step]
    with qtbot.waitSignal(window.turn_done):
        worker.turn_finished.emit(finished(7))
    shown = window.chat_view.messages()
    assert [(m.role, m.content) for m in shown] == [
        ("user", "What is the capital of France?"), ("assistant", "Paris.")]
    assert shown[1].info.startswith("3 tokens · 20.0 tok/s · first token 0.25 s")
    assert window.history[-1].content == "Paris." and window.turns.can_send()
    assert window.status_label.text() == "Ready."


def test_concept_panel_shown_asks_for_candidates(window: MainWindow,
                                                 scripted: ScriptedModelThread) -> None:
    window.turns.inspecting = lambda: True
    window.send("Hello")
    assert scripted.turns[-1].candidates == 10 and scripted.turns[-1].inspect


def test_a_rejected_turn_gives_the_text_back(
    window: MainWindow, scripted: ScriptedModelThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a: warnings.append(text))
    window.send("河流" * 50)
    scripted.worker.turn_finished.emit(TurnFinished(-1, None, "", "error",
                                                    error="too long", rejected=True))
    assert warnings == ["too long"]
    assert window.composer.text() == "河流" * 50
    assert window.chat_view.messages() == [] and window.history == []
    assert window.turns.conversation_id is None and window.turns.can_send()


def test_stop_edit_and_regenerate(window: MainWindow, scripted: ScriptedModelThread) -> None:
    window.turns.stop()
    assert scripted.cancels == 0  # nothing streams
    window.send("The river")
    window.turns.stop()
    assert scripted.cancels == 1
    scripted.worker.turn_started.emit(TurnStarted(3, 1, 2, [], 5))
    scripted.worker.turn_finished.emit(finished(3, " flows."))
    # Loading another model stops a streaming reply first.
    window.turns.regenerate()
    regenerate = scripted.turns[-1]
    assert regenerate.truncate_from == 1 and not regenerate.save_user_message
    window.models.load(ModelRef.parse("builtin:gemma-3-270m"))
    assert scripted.cancels == 2
    scripted.worker.turn_finished.emit(finished(3, " runs."))
    # Edit the last message: the draft replaces it and the reply after it.
    window.turns.edit_last()
    assert window.composer.text() == "The river" and window.turns.editing_from == 0
    assert window.turns.draft_history() == []
    window.send("The mountain")
    edited = scripted.turns[-1]
    assert edited.truncate_from == 0 and edited.conversation_id == 3
    assert [m.content for m in edited.messages] == ["The mountain"]


def test_new_chat_before_the_first_reply_starts_stays_new(
        window: MainWindow, scripted: ScriptedModelThread, qtbot: QtBot) -> None:
    """Ctrl+N while a new conversation's first reply is still "Thinking…": the reply goes
    to its own conversation; the new empty chat is not bound to it."""
    window.send("First question")
    window.conversations.new_chat()
    scripted.worker.turn_started.emit(TurnStarted(5, 1, 2, [], 8))
    assert window.turns.conversation_id is None  # still the new, empty chat
    assert window.turns.streaming_cid == 5
    scripted.worker.piece.emit(5, "An answer")
    assert window.chat_view.messages() == []
    with qtbot.waitSignal(window.turn_done):
        scripted.worker.turn_finished.emit(finished(5, "An answer."))
    assert window.chat_view.messages() == [] and window.history == []
    assert window.turns.can_send()


def test_coming_back_to_a_streaming_conversation_shows_the_live_reply(
        window: MainWindow, scripted: ScriptedModelThread, qtbot: QtBot) -> None:
    store = ConversationStore(window.paths.conversations_db)
    other = store.create_conversation(title="other")
    store.add_message(other.id, "user", "Hi")
    # What the model thread stores for the turn below: the question and a checkpoint.
    rivers = store.create_conversation(title="rivers")
    store.add_message(rivers.id, "user", "Tell me about rivers")
    store.add_message(rivers.id, "assistant", "Rivers", status="streaming")
    store.close()
    window.send("Tell me about rivers")
    scripted.worker.turn_started.emit(TurnStarted(rivers.id, 1, 2, [], 8))
    scripted.worker.piece.emit(rivers.id, "Rivers ")
    window.open_conversation(other.id)
    qtbot.waitUntil(lambda: window.turns.conversation_id == other.id
                    and len(window.chat_view.messages()) == 1)
    scripted.worker.piece.emit(rivers.id, "flow ")  # streams on while the user is elsewhere
    assert [m.content for m in window.chat_view.messages()] == ["Hi"]
    # Back: the stored (checkpointed) partial reply gives way to the live one.
    window.open_conversation(rivers.id)
    qtbot.waitUntil(lambda: window.turns.conversation_id == rivers.id
                    and window.chat_view.is_streaming())
    assert window.chat_view.stream_text() == "Rivers flow "
    scripted.worker.piece.emit(rivers.id, "to the sea.")
    assert window.chat_view.stream_text() == "Rivers flow to the sea."
    with qtbot.waitSignal(window.turn_done):
        scripted.worker.turn_finished.emit(finished(rivers.id, "Rivers flow to the sea."))
    assert [m.content for m in window.chat_view.messages()] == [
        "Tell me about rivers", "Rivers flow to the sea."]
    assert window.history[-1].content == "Rivers flow to the sea."


# ------------------------------------------------------------ conversations


def seed_store(paths: AppPaths) -> tuple[int, int]:
    store = ConversationStore(paths.conversations_db)
    first = store.create_conversation(title="长江")
    store.add_message(first.id, "user", "长江有多长？")
    store.add_message(first.id, "assistant", "约6300公里。", status="complete")
    store.set_conversation_fields(first.id, settings={"kbs": ["地理"]})
    second = store.create_conversation(title="crash")
    store.add_message(second.id, "user", "Tell me a story")
    store.add_message(second.id, "assistant", "Once upon a", status="streaming")
    store.close()
    return first.id, second.id


def test_history_opens_recovers_and_switches_conversations(
    qtbot: QtBot, paths: AppPaths, scripted: ScriptedModelThread, info: ModelInfo
) -> None:
    first, crashed = seed_store(paths)
    window = make_window(qtbot, paths, scripted)
    window.conversations.open_history()
    qtbot.waitUntil(lambda: window.sidebar.list.count() == 2)
    assert window.conversations.recovered == 1
    assert "interrupted" in window.status_label.text()
    scripted.worker.loaded.emit(loaded_model(info))
    status = window.status_label.text()  # the notice stays with the model's message
    assert status.startswith("Model loaded in 0.5 s. 1 ") and "interrupted" in status
    window.open_conversation(first)
    qtbot.waitUntil(lambda: len(window.chat_view.messages()) == 2)
    assert window.knowledge.active_kbs == ["地理"]  # the conversation's knowledge bases
    window.open_conversation(crashed)
    qtbot.waitUntil(lambda: len(window.history) == 2
                    and window.history[1].content == "Once upon a")
    assert window.history[1].status == "interrupted"
    window.conversations.new_chat()
    assert window.turns.conversation_id is None and window.chat_view.messages() == []
    assert window.chat_view.placeholder_visible()
    window.close()


def test_delete_and_undo_without_a_model(qtbot: QtBot, paths: AppPaths,
                                         scripted: ScriptedModelThread) -> None:
    first, _crashed = seed_store(paths)
    window = make_window(qtbot, paths, scripted)
    window.conversations.open_history()
    qtbot.waitUntil(lambda: window.sidebar.list.count() == 2)
    window.open_conversation(first)
    qtbot.waitUntil(lambda: len(window.history) == 2)
    window.conversations.delete(first)
    qtbot.waitUntil(lambda: window.sidebar.list.count() == 1)
    assert window.turns.conversation_id is None and window.history == []
    assert not window.undo_button.isHidden()
    assert window.status_label.text() == "Conversation deleted."
    window.conversations.undo_delete()
    assert window.undo_button.isHidden()
    qtbot.waitUntil(lambda: window.sidebar.list.count() == 2)
    assert window.status_label.text() == "Conversation restored."
    window.close()


# ------------------------------------------------------------------ knowledge


def test_knowledge_menu_follows_the_knowledge_bases_and_the_conversation(
    qtbot: QtBot, paths: AppPaths, scripted: ScriptedModelThread, info: ModelInfo,
) -> None:
    from kb.store import KnowledgeStore

    with KnowledgeStore(paths.knowledge_db) as store:
        for name in ("手册", "笔记"):
            store.create_kb(name, embedder="use-multilingual-v3", dim=512, chunk_tokens=256,
                            chunk_overlap=32)
    first, _crashed = seed_store(paths)
    window = make_window(qtbot, paths, scripted)
    window.conversations.open_history()
    scripted.worker.loaded.emit(loaded_model(info))
    window.knowledge.start()
    qtbot.waitUntil(lambda: window.knowledge.available_kbs == ["手册", "笔记"], timeout=20_000)
    assert window.kb_button.text() == "Knowledge: off"
    # The conversation answered from "地理", deleted since: not asked for again.
    window.open_conversation(first)
    qtbot.waitUntil(lambda: len(window.history) == 2)
    assert window.knowledge.active_kbs == [] and window.kb_button.text() == "Knowledge: off"

    def tick(name: str) -> None:
        action = next(a for a in window.kb_menu.actions() if a.text() == name)
        assert action.isCheckable() and not action.isChecked()
        action.setChecked(True)  # the menu is rebuilt: look actions up again each time

    tick("手册")
    tick("笔记")
    assert window.knowledge.active_kbs == ["手册", "笔记"]
    assert window.kb_button.text() == "Knowledge: 手册, 笔记"
    window.send("年假几天？")
    assert scripted.turns[-1].kbs == ["手册", "笔记"]
    # A knowledge base deleted in the panel leaves the list.
    window.kb_panel.thread_owner.remove_kb("笔记")  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: window.knowledge.active_kbs == ["手册"], timeout=20_000)
    assert window.kb_button.text() == "Knowledge: 手册"
    window.close()  # the lane finishes its writes before it ends
    store = ConversationStore(paths.conversations_db)
    conversation = store.get_conversation(first)
    store.close()
    assert conversation is not None and conversation.settings == {"kbs": ["手册", "笔记"]}


def test_concept_panel_note_follows_the_conversations_knowledge(
    qtbot: QtBot, paths: AppPaths, scripted: ScriptedModelThread,
) -> None:
    first, crashed = seed_store(paths)
    window = make_window(qtbot, paths, scripted)
    window.conversations.open_history()
    window.concepts.start()
    note = window.concepts.panel.knowledge_note  # type: ignore[union-attr]
    assert note.isHidden()
    window.open_conversation(first)  # it answers from 地理
    qtbot.waitUntil(lambda: len(window.history) == 2)
    assert not note.isHidden() and "地理" in note.text()
    window.open_conversation(crashed)  # no knowledge base
    qtbot.waitUntil(lambda: len(window.history) == 2
                    and window.history[1].content == "Once upon a")
    assert note.isHidden()
    window.close()


def test_prompt_processing_is_shown_while_the_model_reads(
        window: MainWindow, scripted: ScriptedModelThread) -> None:
    """Reading a long prompt: how far, how fast and how long yet, on the reply, in the
    status bar and in the context bar, until the reply's first text."""
    from engine.types import PromptProgress

    window.concepts.start()
    window.send("请根据资料回答")
    scripted.worker.turn_started.emit(TurnStarted(4, 1, 2, [], 30))
    scripted.worker.prompt_progress.emit(4, PromptProgress(256, 1024, 4.0))
    widget = window.chat_view.message_widgets()[-1]
    expected = "Reading the prompt: 25 % (256 of 1024 tokens, 64 tok/s, about 12 s left)"
    assert widget.footer_text() == expected
    assert window.status_label.text().startswith(expected)
    panel = window.concepts.panel
    assert panel is not None
    assert panel.context_bar.prompt_progress() == PromptProgress(256, 1024, 4.0)
    scripted.worker.piece.emit(4, "根据")  # the reply begins: the progress goes
    assert widget.footer_text() == "Generating…"
    assert panel.context_bar.prompt_progress() is None
    scripted.worker.turn_finished.emit(finished(4, "根据资料。"))


def test_a_citation_opens_its_source(window: MainWindow, scripted: ScriptedModelThread,
                                     tmp_path: Path, qtbot: QtBot) -> None:
    from ui.source_viewer import SourceViewer

    doc = tmp_path / "手册.md"
    doc.write_text("星澜科技的员工每年享有十五个工作日的带薪年假。", encoding="utf-8")
    source = {"number": 1, "name": "手册.md", "path": str(doc), "location": "§1",
              "text": "十五个工作日的带薪年假"}
    window.send("年假几天？")
    scripted.worker.turn_started.emit(TurnStarted(4, 1, 2, [], 30))
    reply = "员工每年享有十五天带薪年假[1]，病假另计[2]。"
    source["start_char"], source["end_char"] = 11, 22  # where the passage is in the file
    citations = [c.to_dict() for c in check_citations(reply, [source])]
    assert [c["valid"] for c in citations] == [True, False]
    scripted.worker.turn_finished.emit(finished(4, reply, sources=[source],
                                                citations=citations))
    # The body links the valid citation to its span and marks the one to a missing source.
    widget = window.chat_view.message_widgets()[-1]
    assert widget.data().citations == citations
    html = widget.body.document().toHtml()
    assert "cite:1:0" in html and "badcite:2" in html and "⚠" in html
    window.chat_view.citation_clicked.emit(1, 2, 1)  # no source 2: nothing opens
    assert window.findChildren(SourceViewer) == []
    window.chat_view.citation_clicked.emit(1, 1, 0)
    viewers = window.findChildren(SourceViewer)
    assert len(viewers) == 1 and viewers[0].source["path"] == str(doc)
    assert viewers[0].source["support_start"] == citations[0]["support_start"]
    qtbot.waitUntil(lambda: "darker sentence" in viewers[0].note.text())
    viewers[0].close()


# ------------------------------------------------------------------ settings


def test_settings_reload_the_model_only_when_needed(
    window: MainWindow, scripted: ScriptedModelThread, qtbot: QtBot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ui.settings_dialog import SettingsDialog

    choice: dict[str, object] = {}

    def accept(dialog: SettingsDialog) -> int:
        for name, value in choice.items():
            getattr(dialog, name).setValue(value)
        return int(SettingsDialog.DialogCode.Accepted)

    monkeypatch.setattr(SettingsDialog, "exec", accept)
    choice = {"temperature": 1.2}
    window.preferences.open_dialog()
    assert window.settings.sampling.temperature == pytest.approx(1.2)
    assert scripted.loads == []
    choice = {"n_ctx": 1024}
    window.preferences.open_dialog()
    assert [(str(r.ref), r.params.n_ctx) for r in scripted.loads] == [
        ("builtin:qwen2.5-coder-0.5b-instruct", 1024)]
    qtbot.waitUntil(lambda: paths_settings(window).get("n_ctx") == 1024)


def paths_settings(window: MainWindow) -> dict[str, object]:
    file = window.paths.settings_file
    return json.loads(file.read_text(encoding="utf-8")) if file.exists() else {}
