"""The main window: conversations on the left, the chat in the middle, the model on top.

Everything slow happens elsewhere: the model on the model thread, the database on a lane."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QProcess, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QPaintEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.chat_service import TurnRequest, normalize_turns
from app.conversations import Conversation, ConversationStore, StoredMessage
from app.paths import AppPaths
from app.settings import Settings, save_settings
from engine.types import ChatMessage, LoadParams, reply_reserve
from ui.chat_view import ChatView, MessageData
from ui.composer import Composer
from ui.conversation_list import ConversationList
from ui.format import human_bytes, human_count
from ui.model_worker import (
    LoadedModel,
    LoadRequest,
    ModelThread,
    Retrieved,
    TokenStep,
    TurnFinished,
    TurnStarted,
)
from ui.tasks import Lane

if TYPE_CHECKING:
    from models.refs import ModelRef
    from ui.compare_window import CompareWindow
    from ui.concept_panel import ConceptPanel
    from ui.token_worker import Inspection, TokenizerThread

log = logging.getLogger(__name__)
CANDIDATES_SHOWN = 10  # next-token candidates per generated token for the concept panel

OPEN_MODEL = "__open__"


def stats_line(stats: dict[str, object] | None) -> str:
    if not stats:
        return ""
    translate = QCoreApplication.translate
    parts = [translate("MainWindow", "%s tokens") % stats.get("completion_tokens", 0)]
    rate = stats.get("decode_tok_s")
    if isinstance(rate, int | float) and rate > 0:
        parts.append(translate("MainWindow", "%.1f tok/s") % rate)
    ttft = stats.get("time_to_first_token_s")
    if isinstance(ttft, int | float):
        parts.append(translate("MainWindow", "first token %.2f s") % ttft)
    reused, total = stats.get("reused_prompt_tokens"), stats.get("prompt_tokens")
    if total:
        parts.append(translate("MainWindow", "prompt %s (%s reused)") % (total, reused))
    reason = stats.get("stop_reason")
    if reason and reason != "eos":
        parts.append(translate("MainWindow", "stopped: %s") % _stop_reason_text(str(reason)))
    return " · ".join(parts)


def _stop_reason_text(reason: str) -> str:
    """The engine's stop reason for people; the English text is the reason's own name."""
    translate = QCoreApplication.translate
    texts = {
        "stop_string": translate("MainWindow", "stop_string", "stop reason: a stop string"),
        "max_tokens": translate("MainWindow", "max_tokens", "stop reason: reply length limit"),
        "cancelled": translate("MainWindow", "cancelled", "stop reason: the user pressed Stop"),
        "context_full": translate("MainWindow", "context_full", "stop reason: context is full"),
    }
    return texts.get(reason, reason)


class MainWindow(QMainWindow):
    # Emitted on the GUI thread once the window has handled the worker's news.
    turn_done = Signal(object)  # TurnFinished
    model_ready = Signal(object)  # LoadedModel
    model_failed = Signal(str)  # one-line reason

    def __init__(self, paths: AppPaths, settings: Settings) -> None:
        super().__init__()
        self.paths = paths
        self.settings = settings
        self.model: LoadedModel | None = None
        self.model_thread: ModelThread | None = None
        self.lane = Lane("db", self)
        self._lane_store: ConversationStore | None = None  # used only on the lane's thread
        self.current_id: int | None = None
        self.history: list[MessageData] = []
        self.streaming_cid: int | None = None  # conversation whose reply is streaming
        self._streaming_new = False  # the streaming reply started a new conversation
        self._pending_text = ""  # the user's text of the running turn, restored if rejected
        self._editing_from: int | None = None
        self._db_ready = False
        self.recovered = 0  # replies a crash cut off, found at start-up
        self._undo_delete: int | None = None
        self._painted = False
        self._loading = False
        self.active_kbs: list[str] = []  # knowledge bases the current conversation answers from
        self.available_kbs: list[str] = []
        self.kb_panel: object | None = None
        self.kb_thread: object | None = None
        self.last_retrieval: Retrieved | None = None
        self.last_started: TurnStarted | None = None
        self._showing_turn = False  # the panel shows the last turn, not the draft
        self.concept_panel: ConceptPanel | None = None
        self.concept_dock: QDockWidget | None = None
        self.tokenizer: TokenizerThread | None = None
        self.compare_window: CompareWindow | None = None

        self.setWindowTitle("明镜 Mingjing")
        self.resize(1320, 800)
        self.setAcceptDrops(True)
        self._build_ui()
        self._build_actions()
        self._update_send_state()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        toolbar = QToolBar(self.tr("Model"))
        toolbar.setMovable(False)
        self.addToolBar(toolbar)
        self.model_picker = QComboBox()
        self.model_picker.setMinimumWidth(260)
        self.model_picker.setToolTip(self.tr("Model (Ctrl+O opens a GGUF file)"))
        self.model_picker.activated.connect(self._model_picked)
        toolbar.addWidget(QLabel(self.tr("Model:") + " "))
        toolbar.addWidget(self.model_picker)
        self.model_label = QLabel()
        self.model_label.setContentsMargins(10, 0, 10, 0)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        toolbar.addWidget(self.model_label)
        self.kb_button = QToolButton()
        self.kb_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.kb_button.setToolTip(self.tr("Which knowledge bases this conversation answers from"))
        self.kb_menu = QMenu(self.kb_button)
        self.kb_button.setMenu(self.kb_menu)
        toolbar.addWidget(self.kb_button)
        self._update_kb_button()
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding,
                             spacer.sizePolicy().verticalPolicy())
        toolbar.addWidget(spacer)
        self.settings_button = QPushButton(self.tr("Settings"))
        self.settings_button.setToolTip(self.tr("Settings (Ctrl+,)"))
        self.settings_button.clicked.connect(self.open_settings)
        toolbar.addWidget(self.settings_button)
        self._fill_model_picker()

        self.sidebar = ConversationList()
        self.sidebar.new_requested.connect(self.new_chat)
        self.sidebar.selected.connect(self.open_conversation)
        self.sidebar.rename_requested.connect(self._rename)
        self.sidebar.delete_requested.connect(self._delete)
        self.sidebar.search_changed.connect(lambda _t: self.refresh_conversations())

        center = QWidget()
        column = QVBoxLayout(center)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet(
            "QLabel { background: #fff6d6; color: #5a4600; padding: 6px 10px;"
            " border-bottom: 1px solid #e8d9a0; }"
        )
        self.banner.hide()
        column.addWidget(self.banner)
        self.chat_view = ChatView()
        self.chat_view.edit_requested.connect(self._edit_message)
        self.chat_view.regenerate_requested.connect(lambda _i: self.regenerate())
        self.chat_view.citation_clicked.connect(self.open_citation)
        column.addWidget(self.chat_view, 1)
        self.composer = Composer()
        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.stop)
        self.composer.edit_last_requested.connect(self.edit_last)
        column.addWidget(self.composer)

        splitter = QSplitter()
        splitter.addWidget(self.sidebar)
        splitter.addWidget(center)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 860])
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)

        status = self.statusBar()
        self.status_label = QLabel()
        status.addWidget(self.status_label, 1)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        self.progress.hide()
        status.addPermanentWidget(self.progress)
        self.undo_button = QPushButton(self.tr("Undo"))
        self.undo_button.setFlat(True)
        self.undo_button.hide()
        self.undo_button.clicked.connect(self.undo_delete)
        status.addPermanentWidget(self.undo_button)
        self.stats_label = QLabel()
        status.addPermanentWidget(self.stats_label)
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.setInterval(15_000)
        self._undo_timer.timeout.connect(self._expire_undo)
        self._show_placeholder()

    def _build_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu(self.tr("&File"))
        self._add_action(file_menu, self.tr("&New chat"), QKeySequence.StandardKey.New,
                         self.new_chat)
        self._add_action(file_menu, self.tr("&Open model…"), QKeySequence.StandardKey.Open,
                         self.open_model_dialog)
        file_menu.addSeparator()
        self._add_action(file_menu, self.tr("&Quit"), QKeySequence.StandardKey.Quit, self.close)
        chat_menu = menu.addMenu(self.tr("&Chat"))
        self._add_action(chat_menu, self.tr("&Stop"), QKeySequence("Ctrl+."), self.stop)
        self._add_action(chat_menu, self.tr("&Regenerate"), QKeySequence("Ctrl+R"),
                         self.regenerate)
        self._add_action(chat_menu, self.tr("&Edit last message"), QKeySequence("Ctrl+E"),
                         self.edit_last)
        self._add_action(chat_menu, self.tr("&Copy last reply"), QKeySequence("Ctrl+Shift+C"),
                         self.copy_last_reply)
        self._add_action(chat_menu, self.tr("Undo &delete"), QKeySequence.StandardKey.Undo,
                         self.undo_delete)
        view_menu = menu.addMenu(self.tr("&View"))
        self._add_action(view_menu, self.tr("Toggle &sidebar"), QKeySequence("Ctrl+B"),
                         lambda: self.sidebar.setVisible(not self.sidebar.isVisible()))
        self._add_action(view_menu, self.tr("&Search conversations"),
                         QKeySequence.StandardKey.Find, self._focus_search)
        self._add_action(view_menu, self.tr("Focus &input"), QKeySequence("Ctrl+L"),
                         self.composer.focus_input)
        self._add_action(view_menu, self.tr("&Knowledge base panel"), QKeySequence("Ctrl+K"),
                         self.toggle_kb_panel)
        self._add_action(view_menu, self.tr("&Concept panel"), QKeySequence("Ctrl+I"),
                         self.toggle_concept_panel)
        self._add_action(view_menu, self.tr("Co&mpare models…"), QKeySequence("Ctrl+Shift+M"),
                         self.open_compare)
        settings_menu = menu.addMenu(self.tr("&Settings"))
        self._add_action(settings_menu, self.tr("&Preferences…"), QKeySequence("Ctrl+,"),
                         self.open_settings)
        help_menu = menu.addMenu(self.tr("&Help"))
        self._add_action(help_menu, self.tr("&About Mingjing"), None, self._about)

    def _add_action(
        self,
        menu: QMenu,
        text: str,
        shortcut: QKeySequence | QKeySequence.StandardKey | None,
        slot: Callable[[], object],
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _focus_search(self) -> None:
        self.sidebar.show()
        self.sidebar.search.setFocus()

    # ------------------------------------------------------------- start-up

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            if os.environ.get("MINGJING_EXIT_AFTER_PAINT"):
                print("first-paint", flush=True)
                QTimer.singleShot(0, QApplication.instance().quit)  # type: ignore[union-attr]

    def start(self) -> None:
        """Start the model thread and the database lane; called once the window shows."""
        self.model_thread = ModelThread(self.paths.conversations_db, self.paths.models_dir, self,
                                        knowledge_db=self.paths.knowledge_db)
        w = self.model_thread.worker
        w.retrieved.connect(self._on_retrieved)
        w.load_started.connect(self._on_load_started)
        w.loaded.connect(self._on_loaded)
        w.load_failed.connect(self._on_load_failed)
        w.turn_started.connect(self._on_turn_started)
        w.piece.connect(self._on_piece)
        w.token.connect(self._on_token)
        w.turn_finished.connect(self._on_turn_finished)
        self.lane.submit(self._recover, self._on_db_ready, self._on_db_error)
        self._start_concepts()
        self.load_model(self.settings.model_ref)
        self._start_knowledge()
        if self.concept_dock is not None and getattr(self, "kb_dock", None) is not None:
            self.tabifyDockWidget(self.concept_dock, self.kb_dock)
            self.concept_dock.raise_()

    # -------------------------------------------------------------- concepts

    def _start_concepts(self) -> None:
        from ui.concept_panel import ConceptPanel
        from ui.token_worker import TokenizerThread

        self.tokenizer = TokenizerThread(self)
        self.tokenizer.inspected.connect(self._on_inspected)
        self.tokenizer.loaded.connect(
            lambda _path: self.inspect_draft(now=True, idle_only=True))
        self.tokenizer.failed.connect(lambda msg: log.warning("tokenizer thread: %s", msg))
        panel = ConceptPanel()
        panel.passage_activated.connect(self._open_passage)
        panel.tab_changed.connect(lambda _key: self.inspect_draft(now=True, idle_only=True))
        self.concept_panel = panel
        dock = QDockWidget(self.tr("Concept panel"), self)
        dock.setObjectName("concept-dock")
        dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        dock.setVisible(self.settings.concept_panel)
        dock.visibilityChanged.connect(self._on_concept_visibility)
        self.concept_dock = dock
        self.resizeDocks([dock], [400], Qt.Orientation.Horizontal)
        self.composer.text_changed.connect(lambda _text: self.inspect_draft(fresh=True))
        self._update_knowledge_note()

    def toggle_concept_panel(self) -> None:
        if self.concept_dock is not None:
            self.concept_dock.setVisible(not self.concept_dock.isVisible())

    def _concepts_shown(self) -> bool:
        return self.concept_dock is not None and self.concept_dock.isVisible()

    def _on_concept_visibility(self, visible: bool) -> None:
        if visible:
            self.inspect_draft(now=True, idle_only=True)
        shown = self._concepts_shown()
        if shown != self.settings.concept_panel and not self.isHidden():
            self.settings.concept_panel = shown
            self._save_settings()

    def inspect_draft(self, *, now: bool = False, idle_only: bool = False,
                      fresh: bool = True) -> None:
        """Ask the tokenizer thread for counts of the conversation plus what is typed.

        After a reply the panel keeps showing that turn (its knowledge and reply) until
        something changes the draft or the conversation (`fresh`); calls that only
        refresh (`idle_only`: the tokenizer loaded, a tab changed) leave it alone."""
        from ui.token_worker import InspectRequest

        if idle_only:
            fresh = False
        if fresh:
            self._showing_turn = False
        elif self._showing_turn:
            return
        if self.tokenizer is None or self.model is None or self.concept_panel is None:
            return
        if not self._concepts_shown():
            return
        request = InspectRequest(
            draft=self.composer.text(),
            history=self._engine_messages(self._editing_from),
            system=self.settings.system_prompt or None,
            reserve=reply_reserve(self.model.n_ctx, self.settings.sampling.max_tokens),
            spans=self.concept_panel.wants_spans(),
        )
        self.tokenizer.inspect(request, now=now)

    def _on_inspected(self, inspection: Inspection) -> None:
        if self.concept_panel is None:
            return
        self.concept_panel.show_draft(
            inspection.draft, inspection.draft_tokens, inspection.chars_per_token,
            inspection.context, inspection.error, inspection.spans,
        )

    def _on_token(self, conversation_id: int, step: TokenStep) -> None:
        if self.concept_panel is not None and conversation_id == self.streaming_cid:
            self.concept_panel.add_step(step)

    def _update_knowledge_note(self) -> None:
        from app.rag import DEFAULT_CONTEXT_TOKENS

        if self.concept_panel is not None:
            self.concept_panel.set_knowledge_note(self.active_kbs, DEFAULT_CONTEXT_TOKENS)

    def _open_passage(self, hit: dict[str, object]) -> None:
        from ui.source_viewer import SourceViewer

        viewer = SourceViewer(dict(hit), self.lane, self)
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.show()

    def open_compare(self) -> None:
        """Base vs instruction-tuned, and two tokenizers, in a window of their own."""
        from ui.compare_window import CompareWindow

        if self.compare_window is None:
            self.compare_window = CompareWindow(self.paths.models_dir,
                                                list(self.settings.recent_models), self)
        self.compare_window.show()
        self.compare_window.raise_()
        self.compare_window.activateWindow()

    # ------------------------------------------------------------ knowledge

    def _start_knowledge(self) -> None:
        from ui.kb_panel import KnowledgePanel
        from ui.kb_worker import KnowledgeThread

        thread = KnowledgeThread(self.paths.knowledge_db, self)
        panel = KnowledgePanel(thread)
        self.kb_thread, self.kb_panel = thread, panel
        panel.kbs_available.connect(self._on_kbs_available)
        self.kb_dock = QDockWidget(self.tr("Knowledge base"), self)
        self.kb_dock.setObjectName("knowledge-dock")
        self.kb_dock.setWidget(panel)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.kb_dock)
        self.kb_dock.hide()
        thread.refresh()

    def toggle_kb_panel(self) -> None:
        dock = getattr(self, "kb_dock", None)
        if dock is not None:
            dock.setVisible(not dock.isVisible())

    def _on_kbs_available(self, names: list[str]) -> None:
        self.available_kbs = list(names)
        self.active_kbs = [n for n in self.active_kbs if n in names]
        self._update_kb_button()

    def _update_kb_button(self) -> None:
        self.kb_menu.clear()
        if not self.available_kbs:
            empty = self.kb_menu.addAction(self.tr("No knowledge base yet: drop documents on "
                                                   "the window or open the panel (Ctrl+K)"))
            empty.setEnabled(False)
        for name in self.available_kbs:
            action = self.kb_menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(name in self.active_kbs)
            action.toggled.connect(lambda on, n=name: self.set_kb_active(n, on))
        self.kb_menu.addSeparator()
        self.kb_menu.addAction(self.tr("Manage knowledge bases…"), self._show_kb_panel)
        if self.active_kbs:
            self.kb_button.setText(self.tr("Knowledge: %s") % ", ".join(self.active_kbs))
        else:
            self.kb_button.setText(self.tr("Knowledge: off"))

    def _show_kb_panel(self) -> None:
        dock = getattr(self, "kb_dock", None)
        if dock is not None:
            dock.show()
            dock.raise_()

    def set_kb_active(self, name: str, active: bool) -> None:
        kbs = [n for n in self.active_kbs if n != name]
        if active:
            kbs.append(name)
        self.active_kbs = kbs
        self._update_kb_button()
        self._update_knowledge_note()
        cid = self.current_id
        if cid is not None:
            settings = {"kbs": list(kbs)}
            self.lane.submit(
                lambda: self._store().set_conversation_fields(cid, settings=settings),
                None, self._on_db_error,
            )

    def _on_retrieved(self, retrieved: Retrieved) -> None:
        self.last_retrieval = retrieved
        if self.concept_panel is not None:
            self.concept_panel.show_retrieval(retrieved.query, list(retrieved.hits),
                                              retrieved.budget)
        if self.chat_view.is_streaming():
            self.chat_view.set_stream_sources(list(retrieved.sources))
        self._status(self.tr("Retrieved %d passage(s); %d fit the prompt. Generating…")
                     % (len(retrieved.hits), len(retrieved.sources)))

    def open_citation(self, index: int, number: int) -> None:
        if not (0 <= index < len(self.history)):
            sources = self.chat_view.messages()[index].sources if index >= 0 else []
        else:
            sources = self.history[index].sources
        match = [s for s in sources if s.get("number") == number]
        if not match:
            return
        from ui.source_viewer import SourceViewer

        viewer = SourceViewer(match[0], self.lane, self)
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.show()

    def _store(self) -> ConversationStore:
        """The lane thread's own connection (created there on first use)."""
        if self._lane_store is None:
            self._lane_store = ConversationStore(self.paths.conversations_db)
        return self._lane_store

    def _recover(self) -> tuple[int, list[Conversation]]:
        store = self._store()
        return store.recover_interrupted(), store.list_conversations()

    def _on_db_ready(self, result: tuple[int, list[Conversation]]) -> None:
        recovered, conversations = result
        self._db_ready = True
        self.sidebar.set_conversations(conversations, self.current_id)
        self.recovered = recovered
        if recovered:
            self._status(self._recovered_notice())
        self._update_send_state()

    def _recovered_notice(self) -> str:
        return self.tr("%n reply(s) cut off by a crash were kept and marked interrupted.", "",
                       self.recovered)

    def _on_db_error(self, exc: BaseException) -> None:
        QMessageBox.critical(self, self.tr("Conversation history unavailable"), str(exc))

    # ---------------------------------------------------------------- models

    def _fill_model_picker(self) -> None:
        from models.builtin import BUILTIN_MODELS
        from models.refs import ModelRef

        self.model_picker.blockSignals(True)
        self.model_picker.clear()
        for model in BUILTIN_MODELS:
            label = (self.tr("%s (built-in, chat)") if model.is_chat
                     else self.tr("%s (built-in, base model)")) % model.label
            self.model_picker.addItem(label, str(ModelRef.builtin(model)))
            self.model_picker.setItemData(
                self.model_picker.count() - 1,
                self.tr("Instruction-tuned: it answers.") if model.is_chat else
                self.tr("Pretrained only: it continues text."), Qt.ItemDataRole.ToolTipRole)
        for text in self.settings.recent_models:
            ref = ModelRef.parse(text)
            self.model_picker.addItem(ref.display_name, str(ref))
            self.model_picker.setItemData(self.model_picker.count() - 1, ref.value,
                                          Qt.ItemDataRole.ToolTipRole)
        self.model_picker.insertSeparator(self.model_picker.count())
        self.model_picker.addItem(self.tr("Open model file…"), OPEN_MODEL)
        index = self.model_picker.findData(str(self.settings.model_ref))
        self.model_picker.setCurrentIndex(max(0, index))
        self.model_picker.blockSignals(False)

    def _model_picked(self, index: int) -> None:
        from models.refs import ModelRef

        data = self.model_picker.itemData(index)
        if data == OPEN_MODEL:
            self._fill_model_picker()  # restore the shown selection until a file is chosen
            self.open_model_dialog()
        elif isinstance(data, str):
            self.load_model(ModelRef.parse(data))

    def open_model_dialog(self) -> None:
        recent = self.settings.recent_models
        start = str(Path(recent[0]).parent) if recent else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self,
            self.tr("Open a GGUF model"),
            start,
            self.tr("GGUF models (*.gguf);;All files (*)"),
        )
        if path:
            from models.refs import ModelRef

            self.load_model(ModelRef.file(path))

    def load_model(self, ref: ModelRef) -> None:
        if self.model_thread is None:
            return
        if self.streaming_cid is not None or self._streaming_new:
            self.model_thread.cancel()
        self.model_thread.load(
            LoadRequest(
                ref=ref,
                params=self.settings.load_params(),
                template=self.settings.template_arg(),
            )
        )

    def _on_load_started(self, label: str) -> None:
        self._loading = True
        self.progress.show()
        self.model_picker.setEnabled(False)
        self._status(self.tr("Loading %s…") % Path(label).name)
        self._update_send_state()

    def _on_loaded(self, loaded: LoadedModel) -> None:
        self._loading = False
        self.model = loaded
        self.progress.hide()
        self.model_picker.setEnabled(True)
        self.settings.choose_model(loaded.ref)
        self._save_settings()
        self._fill_model_picker()
        info = loaded.info
        kind = self.tr("chat") if loaded.mode == "chat" else self.tr("base model: continues text")
        self.model_label.setText(
            f"<b>{info.name}</b> · {human_count(info.parameter_count)} · {info.quantization}"
            f" · {human_bytes(info.file_size)} · {kind}"
        )
        self.model_label.setToolTip(
            f"{info.path}\n"
            + self.tr("%s, %s parameters, %.2f bits/weight")
            % (info.architecture, f"{info.parameter_count:,}", info.bits_per_weight)
            + "\n"
            + self.tr("context in use: %d tokens (trained: %s)")
            % (loaded.n_ctx, info.context_length)
        )
        if loaded.mode == "completion":
            self.banner.setText(self.tr(
                "<b>Base model.</b> %s has no chat template: it was only pretrained, so it "
                "continues whatever text you give it instead of answering. Type the start of "
                "a text. To chat, pick the built-in chat model in the Model list."
            ) % info.name)
            self.banner.show()
        else:
            self.banner.hide()
        message = self.tr("Model loaded in %.1f s.") % loaded.load_s
        if self.recovered:
            message += " " + self._recovered_notice()
        self._status(message)
        self._show_placeholder()
        self._update_send_state()
        if self.concept_panel is not None:
            self.concept_panel.show_model(info, loaded.n_ctx, loaded.mode, loaded.build)
        if self.tokenizer is not None:
            self.tokenizer.load(loaded.ref, self.paths.models_dir, LoadParams(n_ctx=loaded.n_ctx),
                                self.settings.template_arg())
        self.model_ready.emit(loaded)

    def _on_load_failed(self, label: str, message: str) -> None:
        self._loading = False
        self.progress.hide()
        self.model_picker.setEnabled(True)
        self._fill_model_picker()
        if self.model is not None and self.model.path != label:
            self._status(self.tr("Kept %s loaded.") % self.model.info.name)
        else:
            self._status(self.tr("No model loaded."))
        self._update_send_state()
        self.model_failed.emit(message)
        QMessageBox.warning(self, self.tr("Could not load the model"), message)

    # ------------------------------------------------------------------ chat

    def _status(self, text: str) -> None:
        self.status_label.setText(text)

    def _update_send_state(self) -> None:
        busy = self.streaming_cid is not None or self._streaming_new
        if self._loading:
            self.composer.set_enabled_for_sending(False, self.tr("The model is loading…"))
        elif self.model is None:
            self.composer.set_enabled_for_sending(False, self.tr("No model is loaded"))
        elif not self._db_ready:
            self.composer.set_enabled_for_sending(False, self.tr("Opening history…"))
        else:
            self.composer.set_enabled_for_sending(True)
        self.composer.set_busy(busy)

    def _show_placeholder(self) -> None:
        if self.model is None:
            self.chat_view.set_placeholder("明镜 Mingjing", self.tr("Loading the model…"))
        elif self.model.mode == "completion":
            self.chat_view.set_placeholder(
                self.model.info.name,
                self.tr("Type the beginning of a text, for example “The capital of France "
                        "is”, and the model will continue it."),
            )
        else:
            self.chat_view.set_placeholder(self.model.info.name, self.tr("Type a message below."))

    def _engine_messages(self, upto: int | None = None) -> list[ChatMessage]:
        items = self.history if upto is None else self.history[:upto]
        msgs = [ChatMessage(m.role, m.content) for m in items if m.role in ("user", "assistant")]  # type: ignore[arg-type]
        return normalize_turns(msgs)

    def _can_send(self) -> bool:
        return (self.model is not None and not self._loading and self._db_ready
                and self.streaming_cid is None and not self._streaming_new)

    def send(self, text: str) -> None:
        if not text.strip() or not self._can_send() or self.model_thread is None:
            return
        truncate_from = self._editing_from
        if truncate_from is not None:
            self.history = self.history[:truncate_from]
            self.chat_view.remove_from(truncate_from)
            self._editing_from = None
        user = MessageData("user", text)
        self.history.append(user)
        self.chat_view.add_message(user)
        self.chat_view.begin_stream()
        self.composer.clear()
        self._pending_text = text
        self._begin_turn(truncate_from=truncate_from, save_user_message=True)

    def _begin_turn(self, *, truncate_from: int | None, save_user_message: bool) -> None:
        """Ask the model thread for the next reply to the conversation as shown."""
        assert self.model_thread is not None
        request = TurnRequest(
            conversation_id=self.current_id,
            messages=self._engine_messages(),
            sampling=self.settings.sampling,
            system=self.settings.system_prompt or None,
            save_user_message=save_user_message,
            truncate_from=truncate_from,
            kbs=list(self.active_kbs),
            candidates=CANDIDATES_SHOWN if self._concepts_shown() else 0,
            inspect=self._concepts_shown(),
        )
        if request.conversation_id is None:
            self._streaming_new = True
        else:
            self.streaming_cid = request.conversation_id
        self._status(self.tr("Thinking…"))
        self._update_send_state()
        self.model_thread.run_turn(request)

    def regenerate(self) -> None:
        if not self._can_send() or self.current_id is None or not self.history:
            return
        last = len(self.history) - 1
        if self.history[last].role != "assistant":
            return
        self.history = self.history[:last]
        self.chat_view.remove_from(last)
        self.chat_view.begin_stream()
        self._pending_text = ""
        self._begin_turn(truncate_from=last, save_user_message=False)

    def edit_last(self) -> None:
        for index in range(len(self.history) - 1, -1, -1):
            if self.history[index].role == "user":
                self._edit_message(index)
                return

    def _edit_message(self, index: int) -> None:
        if not self._can_send() or not (0 <= index < len(self.history)):
            return
        self._editing_from = index
        self.composer.set_text(self.history[index].content)
        self.composer.focus_input()
        self.inspect_draft(now=True)
        self._status(self.tr("Editing your message: sending replaces it and the reply after it."))

    def stop(self) -> None:
        busy = self.streaming_cid is not None or self._streaming_new
        if self.model_thread is not None and busy:
            self.model_thread.cancel()

    def copy_last_reply(self) -> None:
        for m in reversed(self.history):
            if m.role == "assistant" and m.content:
                QApplication.clipboard().setText(m.content)
                self._status(self.tr("Reply copied."))
                return

    def _on_turn_started(self, started: TurnStarted) -> None:
        self.last_started = started
        if self._streaming_new:
            self._streaming_new = False
            self.streaming_cid = started.conversation_id
            if self.current_id is None:
                self.current_id = started.conversation_id
            self.refresh_conversations()
        if self.concept_panel is not None and self._concepts_shown():
            self.concept_panel.begin_turn(started.context, started.spans,
                                          self.settings.sampling.temperature)
        if started.dropped:
            self._status(self.tr("%n oldest message(s) left out to fit the context window.", "",
                                 len(started.dropped)))
        else:
            self._status(self.tr("Generating… (Esc to stop)"))

    def _on_piece(self, conversation_id: int, text: str) -> None:
        if conversation_id == self.current_id and self.chat_view.is_streaming():
            self.chat_view.append_stream(text)

    def _on_turn_finished(self, finished: TurnFinished) -> None:
        was_current = finished.conversation_id == self.current_id or self._streaming_new
        self.streaming_cid = None
        self._streaming_new = False
        if finished.rejected:
            # Nothing was stored: take the bubbles back and return the text to the input box.
            if self.chat_view.is_streaming():
                self.chat_view.end_stream("", "error")
            if self._pending_text and self.history and self.history[-1].role == "user":
                self.history.pop()
                self.composer.set_text(self._pending_text)
            self.chat_view.set_messages(self.history)
            self._status(self.tr("Not sent."))
            self._update_send_state()
            self._end_concept_turn(finished)
            self.turn_done.emit(finished)
            QMessageBox.warning(self, self.tr("Could not send"), finished.error)
            return
        stats = finished.stats.to_dict() if finished.stats else None
        info = finished.error or stats_line(stats)
        sources = list(finished.sources)
        if was_current and self.chat_view.is_streaming():
            self.chat_view.end_stream(finished.text, finished.status, info)
            self.history.append(
                MessageData("assistant", finished.text, finished.status, info, sources)
            )
        if finished.stats:
            s = finished.stats
            self.stats_label.setText(
                self.tr("%.1f tok/s · first token %.2f s · reused %d/%d prompt tokens")
                % (s.decode_tok_s, s.time_to_first_token_s, s.reused_prompt_tokens,
                   s.prompt_tokens)
            )
        self._status(finished.error if finished.status == "error" else self.tr("Ready."))
        self._update_send_state()
        self.refresh_conversations()
        self._end_concept_turn(finished)
        self.turn_done.emit(finished)

    def _end_concept_turn(self, finished: TurnFinished) -> None:
        if self.concept_panel is not None and self.concept_panel.is_streaming():
            # The bar and prompt keep showing the turn just sent (knowledge and reply
            # included) until the user types the next message.
            self.concept_panel.end_turn(finished.stats)
            self._showing_turn = True
        else:
            self.inspect_draft(now=True)

    # --------------------------------------------------------- conversations

    def new_chat(self) -> None:
        self.current_id = None
        self.history = []
        self.last_retrieval = None
        self._editing_from = None
        self.sidebar.select(None)
        self.chat_view.set_messages([])
        self._show_placeholder()
        self.composer.focus_input()
        self.inspect_draft(now=True)

    def open_conversation(self, conversation_id: int) -> None:
        if conversation_id == self.current_id and self.history:
            return
        self.current_id = conversation_id
        self._editing_from = None

        def load() -> tuple[Conversation | None, list[StoredMessage]]:
            store = self._store()
            return store.get_conversation(conversation_id), store.messages(conversation_id)

        def show(result: tuple[Conversation | None, list[StoredMessage]]) -> None:
            conversation, messages = result
            if self.current_id != conversation_id:
                return  # the user moved on while this loaded
            kbs = (conversation.settings or {}).get("kbs", []) if conversation else []
            self.active_kbs = [str(k) for k in kbs]
            self._update_kb_button()
            self.history = [
                MessageData(m.role, m.content, m.status, m.error or stats_line(m.stats),
                            list((m.stats or {}).get("sources", [])))
                for m in messages
            ]
            self.chat_view.set_messages(self.history)
            self.inspect_draft(now=True)
            if not self.history:
                self._show_placeholder()

        self.lane.submit(load, show, self._on_db_error)

    def refresh_conversations(self) -> None:
        query = self.sidebar.search.text()
        self.lane.submit(
            lambda: self._store().list_conversations(query),
            lambda convs: self.sidebar.set_conversations(convs, self.current_id),
            self._on_db_error,
        )

    def _rename(self, conversation_id: int, title: str) -> None:
        self.lane.submit(
            lambda: self._store().rename_conversation(conversation_id, title),
            lambda _c: self.refresh_conversations(),
            self._on_db_error,
        )

    def _delete(self, conversation_id: int) -> None:
        if conversation_id == self.streaming_cid:
            self.stop()
        self.lane.submit(
            lambda: self._store().delete_conversation(conversation_id),
            lambda _r: self._deleted(conversation_id),
            self._on_db_error,
        )

    def _deleted(self, conversation_id: int) -> None:
        self._undo_delete = conversation_id
        self.undo_button.show()
        self._undo_timer.start()
        self._status(self.tr("Conversation deleted."))
        if conversation_id == self.current_id:
            self.new_chat()
        self.refresh_conversations()

    def undo_delete(self) -> None:
        cid = self._undo_delete
        if cid is None:
            return
        self._expire_undo()
        def restored(_conversation: Conversation) -> None:
            self.refresh_conversations()
            self._status(self.tr("Conversation restored."))

        self.lane.submit(
            lambda: self._store().restore_conversation(cid), restored, self._on_db_error
        )

    def _expire_undo(self) -> None:
        self._undo_delete = None
        self.undo_button.hide()
        self._undo_timer.stop()

    # -------------------------------------------------------------- settings

    def open_settings(self) -> None:
        from ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return
        new = dialog.result_settings()
        reload = SettingsDialog.needs_reload(self.settings, new)
        old_language = self.settings.language
        self.settings = new
        self._save_settings()
        if reload:
            self.load_model(self.settings.model_ref)
        else:
            self.inspect_draft(now=True)
        if new.language != old_language:
            self._apply_language(old_language, new.language)

    def _apply_language(self, old: str, new: str) -> None:
        """Load the new language now (dialogs opened from here on use it) and offer a restart,
        which shows it everywhere: existing widgets keep the texts they were built with."""
        from ui.application import restart_arguments
        from ui.i18n import install_translators, resolve_language

        app = QApplication.instance()
        if app is not None:
            install_translators(app, new)
        if resolve_language(old) == resolve_language(new):
            return  # e.g. "auto" to the language the system already gave
        box = QMessageBox(QMessageBox.Icon.Question, self.tr("Language changed"),
                          self.tr("Restart Mingjing now to show the new language?"),
                          QMessageBox.StandardButton.NoButton, self)
        # Own buttons: standard ones would be retranslated by the language change just posted.
        restart = box.addButton(self.tr("Restart now"), QMessageBox.ButtonRole.AcceptRole)
        box.addButton(self.tr("Later"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(restart)
        box.exec()
        if box.clickedButton() is not restart:
            return

        def relaunch(_saved: object) -> None:
            started, _pid = QProcess.startDetached(sys.executable, restart_arguments())
            if started:
                self.close()  # closeEvent stops the model and knowledge threads cleanly
            else:
                QMessageBox.warning(self, self.tr("Could not restart"),
                                    self.tr("Please start Mingjing again yourself."))

        # Saved on the lane, after any earlier save, so the new process reads these settings.
        snapshot, path = Settings.from_dict(self.settings.to_dict()), self.paths.settings_file
        self.lane.submit(lambda: save_settings(snapshot, path), relaunch, self._on_db_error)

    def _save_settings(self) -> None:
        snapshot = Settings.from_dict(self.settings.to_dict())
        path = self.paths.settings_file
        self.lane.submit(lambda: save_settings(snapshot, path), None, self._on_db_error)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            self.tr("About Mingjing"),
            self.tr("<b>明镜 Mingjing</b><br>A private assistant that runs a language model on "
                    "your own computer and shows what it does.<br>Python %s")
            % sys.version.split()[0],
        )

    # ------------------------------------------------------------ drag & drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """A .gguf loads as the model; documents and folders go into the knowledge base."""
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        models = [p for p in paths if p.lower().endswith(".gguf")]
        documents = [p for p in paths if not p.lower().endswith(".gguf")]
        if not paths:
            return
        event.acceptProposedAction()
        if models:
            from models.refs import ModelRef

            self.load_model(ModelRef.file(models[0]))
        if documents and self.kb_panel is not None:
            self._show_kb_panel()
            self.kb_panel.add_paths(documents)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ exit

    def _close_store(self) -> None:
        if self._lane_store is not None:
            self._lane_store.close()
            self._lane_store = None

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.model_thread is not None:
            self.model_thread.stop()
        if self.kb_thread is not None:
            self.kb_thread.stop()  # type: ignore[attr-defined]
        if self.tokenizer is not None:
            self.tokenizer.stop()
        if self.compare_window is not None:
            self.compare_window.shutdown()
        self.lane.submit(self._close_store)
        self.lane.shutdown(wait=True)
        super().closeEvent(event)
