"""The main window's frame: conversations on the left, the chat in the middle, the model on top,
the menus, start-up and closing. What the parts do lives in the controllers (ui/window/);
this file builds the layout and connects them.

Everything slow happens elsewhere: the model on the model thread, the database on a lane."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
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

from app.paths import AppPaths
from app.settings import Settings
from ui.chat_view import ChatView
from ui.composer import Composer
from ui.conversation_list import ConversationList
from ui.message_widget import MessageData
from ui.model_worker import ModelThread
from ui.window.concepts import ConceptController
from ui.window.conversations import ConversationController
from ui.window.database import DatabaseLane
from ui.window.knowledge import KnowledgeController
from ui.window.models import ModelController
from ui.window.preferences import SettingsController
from ui.window.server import ServerController
from ui.window.turns import TurnController

if TYPE_CHECKING:
    from ui.compare_window import CompareWindow
    from ui.concept_panel import ConceptPanel
    from ui.kb_panel import KnowledgePanel
    from ui.models_window import ModelsWindow
    from ui.token_worker import TokenizerThread


class MainWindow(QMainWindow):
    # Emitted on the GUI thread once the window has handled the worker's news.
    turn_done = Signal(object)  # TurnFinished
    model_ready = Signal(object)  # LoadedModel
    model_failed = Signal(str)  # one-line reason

    def __init__(self, paths: AppPaths, settings: Settings) -> None:
        super().__init__()
        self.paths = paths
        self.model_thread: ModelThread | None = None
        self.compare_window: CompareWindow | None = None
        self.models_window: ModelsWindow | None = None
        self._painted = False
        self.db = DatabaseLane(paths.conversations_db, self)
        self.preferences = SettingsController(settings, paths.settings_file, self.db, self)

        self.setWindowTitle("明镜 Mingjing")
        self.resize(1320, 800)
        self.setAcceptDrops(True)
        self._build_ui()
        self._build_controllers()
        self._build_actions()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        toolbar = QToolBar(self.tr("Model"))
        toolbar.setMovable(False)
        self.addToolBar(toolbar)
        self.model_picker = QComboBox()
        self.model_picker.setMinimumWidth(260)
        self.model_picker.setToolTip(self.tr("Model (Ctrl+O opens a GGUF file)"))
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
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding,
                             spacer.sizePolicy().verticalPolicy())
        toolbar.addWidget(spacer)
        self.settings_button = QPushButton(self.tr("Settings"))
        self.settings_button.setToolTip(self.tr("Settings (Ctrl+,)"))
        self.settings_button.clicked.connect(self.preferences.open_dialog)
        toolbar.addWidget(self.settings_button)

        self.sidebar = ConversationList()

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
        column.addWidget(self.chat_view, 1)
        self.composer = Composer()
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
        status.addPermanentWidget(self.undo_button)
        self.stats_label = QLabel()
        status.addPermanentWidget(self.stats_label)
        self.api_label = QLabel()
        status.addPermanentWidget(self.api_label)

    def _build_controllers(self) -> None:
        """One controller per job, each handed the widgets it drives; they meet only here."""
        self.models = ModelController(self.preferences, self.model_picker, self.model_label,
                                      self.banner, self.progress, self.chat_view, self)
        self.knowledge = KnowledgeController(self, self.db, self.paths.knowledge_db,
                                             self.chat_view, self.kb_button, self.kb_menu)
        self.turns = TurnController(self.preferences, self.models, self.knowledge,
                                    self.chat_view, self.composer, self.stats_label, self)
        self.concepts = ConceptController(self, self.preferences, self.models, self.turns,
                                          self.composer, self.paths.models_dir)
        self.conversations = ConversationController(self.db, self.turns, self.knowledge,
                                                    self.sidebar, self.composer,
                                                    self.undo_button, self)
        self.server = ServerController(self.preferences, self.paths, self.api_label, self)
        for controller in (self.models, self.knowledge, self.turns, self.conversations,
                           self.server):
            controller.status.connect(self.status_label.setText)
        # Queries answered by a controller made later.
        self.models.loaded_notice = self.conversations.recovered_notice
        self.preferences.devices = lambda: self.models.model.devices if self.models.model else []
        self.turns.inspecting = self.concepts.shown  # candidates only while the panel shows

        self.preferences.applied.connect(self.models.settings_applied)
        self.preferences.applied.connect(self.concepts.settings_applied)
        self.preferences.applied.connect(self.server.settings_applied)
        self.preferences.relaunched.connect(self.close)
        self.models.load_requested.connect(self.turns.stop)
        self.models.state_changed.connect(self.turns.update_send_state)
        self.models.ready.connect(self.concepts.show_model)
        self.models.ready.connect(self.model_ready)
        self.models.failed.connect(self.model_failed)
        self.models.get_models.connect(self.open_models)
        self.knowledge.active_changed.connect(self.concepts.show_knowledge)
        self.knowledge.chosen.connect(self.conversations.save_kbs)
        self.knowledge.retrieved.connect(self.concepts.show_retrieval)
        self.concepts.passage_activated.connect(self.knowledge.open_source)
        self.turns.conversations_changed.connect(self.conversations.refresh)
        self.turns.draft_changed.connect(lambda: self.concepts.inspect_draft(now=True))
        self.turns.turn_started.connect(self.concepts.begin_turn)
        self.turns.step.connect(self.concepts.add_step)
        self.turns.prompt_progress.connect(self.concepts.show_prompt_progress)
        self.turns.turn_done.connect(self.concepts.end_turn)
        self.turns.turn_done.connect(self.turn_done)

    def _build_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu(self.tr("&File"))
        self._add_action(file_menu, self.tr("&New chat"), QKeySequence.StandardKey.New,
                         self.conversations.new_chat)
        self._add_action(file_menu, self.tr("&Open model…"), QKeySequence.StandardKey.Open,
                         self.models.open_file_dialog)
        self._add_action(file_menu, self.tr("Add a model on a &server…"),
                         QKeySequence("Ctrl+Shift+O"), self.models.add_server_dialog)
        self._add_action(file_menu, self.tr("&Get more models…"), QKeySequence("Ctrl+Shift+G"),
                         self.open_models)
        file_menu.addSeparator()
        self._add_action(file_menu, self.tr("&Quit"), QKeySequence.StandardKey.Quit, self.close)
        chat_menu = menu.addMenu(self.tr("&Chat"))
        self._add_action(chat_menu, self.tr("&Stop"), QKeySequence("Ctrl+."), self.turns.stop)
        self._add_action(chat_menu, self.tr("&Regenerate"), QKeySequence("Ctrl+R"),
                         self.turns.regenerate)
        self._add_action(chat_menu, self.tr("&Edit last message"), QKeySequence("Ctrl+E"),
                         self.turns.edit_last)
        self._add_action(chat_menu, self.tr("&Copy last reply"), QKeySequence("Ctrl+Shift+C"),
                         self.turns.copy_last_reply)
        self._add_action(chat_menu, self.tr("Undo &delete"), QKeySequence.StandardKey.Undo,
                         self.conversations.undo_delete)
        view_menu = menu.addMenu(self.tr("&View"))
        self._add_action(view_menu, self.tr("Toggle &sidebar"), QKeySequence("Ctrl+B"),
                         lambda: self.sidebar.setVisible(not self.sidebar.isVisible()))
        self._add_action(view_menu, self.tr("&Search conversations"),
                         QKeySequence.StandardKey.Find, self._focus_search)
        self._add_action(view_menu, self.tr("Focus &input"), QKeySequence("Ctrl+L"),
                         self.composer.focus_input)
        self._add_action(view_menu, self.tr("&Knowledge base panel"), QKeySequence("Ctrl+K"),
                         self.knowledge.toggle_panel)
        self._add_action(view_menu, self.tr("&Concept panel"), QKeySequence("Ctrl+I"),
                         self.concepts.toggle)
        self._add_action(view_menu, self.tr("Co&mpare models…"), QKeySequence("Ctrl+Shift+M"),
                         self.open_compare)
        settings_menu = menu.addMenu(self.tr("&Settings"))
        self._add_action(settings_menu, self.tr("&Preferences…"), QKeySequence("Ctrl+,"),
                         self.preferences.open_dialog)
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
        self.knowledge.attach(self.model_thread)
        self.models.attach(self.model_thread)
        self.turns.attach(self.model_thread)
        self.conversations.open_history()
        self.concepts.start()
        self.models.load(self.preferences.settings.model_ref)
        self.server.attach(self.model_thread)
        self.knowledge.start()
        if self.concepts.dock is not None and self.knowledge.dock is not None:
            self.tabifyDockWidget(self.concepts.dock, self.knowledge.dock)
            self.concepts.dock.raise_()

    # ------------------------------------------------------------ other windows

    def open_compare(self) -> None:
        """Base vs instruction-tuned, and two tokenizers, in a window of their own."""
        from ui.compare_window import CompareWindow

        if self.compare_window is None:
            self.compare_window = CompareWindow(
                self.paths.models_dir, list(self.preferences.settings.recent_models), self)
        self.compare_window.show()
        self.compare_window.raise_()
        self.compare_window.activateWindow()

    def open_models(self) -> None:
        """The catalog, downloads and the library, in a window of their own."""
        from ui.i18n import resolve_language
        from ui.models_window import ModelsWindow

        if self.models_window is None:
            settings = self.preferences.settings
            self.models_window = ModelsWindow(
                self.paths.models_dir, self.paths.root, settings,
                resolve_language(settings.language), self)
            self.models_window.use_model.connect(self.models.load)
            self.models_window.settings_changed.connect(self.preferences.save)
        self.models_window.show()
        self.models_window.raise_()
        self.models_window.activateWindow()

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

            self.models.load(ModelRef.file(models[0]))
        if documents:
            self.knowledge.import_documents(documents)

    # ------------------------------------------------------------------ exit

    def closeEvent(self, event: QCloseEvent) -> None:
        self.server.shutdown()  # first: the API's turns end, so the model thread can stop
        if self.model_thread is not None:
            self.model_thread.stop()
        self.knowledge.stop()
        self.concepts.stop()
        if self.compare_window is not None:
            self.compare_window.shutdown()
        if self.models_window is not None:
            self.models_window.shutdown()  # a download stops; what arrived is kept
        self.db.close()
        super().closeEvent(event)

    # ----------------------------------------------- for scripts (bench/) and tests
    # The parts bench/ drives, where they live now.

    @property
    def settings(self) -> Settings:
        return self.preferences.settings

    @property
    def history(self) -> list[MessageData]:
        return self.turns.history

    @property
    def _db_ready(self) -> bool:
        return self.turns.history_ready

    def send(self, text: str) -> None:
        self.turns.send(text)

    def open_conversation(self, conversation_id: int) -> None:
        self.conversations.open_conversation(conversation_id)

    @property
    def tokenizer(self) -> TokenizerThread | None:
        return self.concepts.tokenizer

    @property
    def concept_panel(self) -> ConceptPanel | None:
        return self.concepts.panel

    @property
    def concept_dock(self) -> QDockWidget | None:
        return self.concepts.dock

    @property
    def kb_panel(self) -> KnowledgePanel | None:
        return self.knowledge.panel
