"""The knowledge bases a conversation answers from: the toolbar's Knowledge menu, the
knowledge-base panel in its dock, the passages retrieved for a turn and the citations that
open them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QToolButton

from ui.chat_view import ChatView
from ui.model_worker import ModelThread, Retrieved
from ui.tasks import Lane

if TYPE_CHECKING:
    from ui.kb_panel import KnowledgePanel
    from ui.kb_thread import KnowledgeThread


class KnowledgeController(QObject):
    status = Signal(str)
    active_changed = Signal(list)  # the knowledge bases on now (user, conversation, list)
    chosen = Signal(list)  # the user switched a knowledge base on or off: the new list
    retrieved = Signal(object)  # Retrieved, for the concept panel

    def __init__(self, window: QMainWindow, lane: Lane, knowledge_db: Path, chat_view: ChatView,
                 button: QToolButton, menu: QMenu) -> None:
        super().__init__(window)
        self.active_kbs: list[str] = []  # knowledge bases the current conversation answers from
        self.available_kbs: list[str] = []
        self.last_retrieval: Retrieved | None = None
        self._listed = False  # the knowledge thread has said which knowledge bases exist
        self.panel: KnowledgePanel | None = None
        self.kb_thread: KnowledgeThread | None = None
        self.dock: QDockWidget | None = None
        self._window = window
        self._lane = lane
        self._knowledge_db = knowledge_db
        self._chat_view = chat_view
        self._button = button
        self._menu = menu
        self._update_button()

    def start(self) -> None:
        """The knowledge thread and the panel, in a dock that starts hidden."""
        from ui.kb_panel import KnowledgePanel
        from ui.kb_thread import KnowledgeThread

        thread = KnowledgeThread(self._knowledge_db, self)
        panel = KnowledgePanel(thread)
        self.kb_thread, self.panel = thread, panel
        panel.kbs_available.connect(self._on_kbs_available)
        self.dock = QDockWidget(self.tr("Knowledge base"), self._window)
        self.dock.setObjectName("knowledge-dock")
        self.dock.setWidget(panel)
        self._window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()
        thread.refresh()

    def attach(self, thread: ModelThread) -> None:
        thread.worker.retrieved.connect(self._on_retrieved)

    def stop(self) -> None:
        if self.kb_thread is not None:
            self.kb_thread.stop()

    # ------------------------------------------------------------------ the panel

    def toggle_panel(self) -> None:
        if self.dock is not None:
            self.dock.setVisible(not self.dock.isVisible())

    def show_panel(self) -> None:
        if self.dock is not None:
            self.dock.show()
            self.dock.raise_()

    def import_documents(self, paths: list[str]) -> None:
        """Files and folders dropped on the window go into the knowledge base shown."""
        if self.panel is not None:
            self.show_panel()
            self.panel.add_paths(paths)

    # ---------------------------------------------- which knowledge bases are on

    def set_active(self, name: str, active: bool) -> None:
        """The user switched `name` on or off for the current conversation."""
        kbs = [n for n in self.active_kbs if n != name]
        if active:
            kbs.append(name)
        self._set_active(kbs)
        self.chosen.emit(list(kbs))

    def show_conversation_kbs(self, kbs: list[str]) -> None:
        """The knowledge bases of the conversation just opened, less those deleted since
        (once the list is known: asking for one would fail the next turn)."""
        if self._listed:
            kbs = [n for n in kbs if n in self.available_kbs]
        self._set_active(kbs)

    def _on_kbs_available(self, names: list[str]) -> None:
        self._listed = True
        self.available_kbs = list(names)
        self._set_active([n for n in self.active_kbs if n in names])

    def _set_active(self, kbs: list[str]) -> None:
        self.active_kbs = list(kbs)
        self._update_button()
        self.active_changed.emit(list(kbs))

    def _update_button(self) -> None:
        menu = self._menu
        menu.clear()
        if not self.available_kbs:
            empty = menu.addAction(self.tr("No knowledge base yet: drop documents on "
                                           "the window or open the panel (Ctrl+K)"))
            empty.setEnabled(False)
        for name in self.available_kbs:
            action = menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(name in self.active_kbs)
            action.toggled.connect(lambda on, n=name: self.set_active(n, on))
        menu.addSeparator()
        menu.addAction(self.tr("Manage knowledge bases…"), self.show_panel)
        if self.active_kbs:
            self._button.setText(self.tr("Knowledge: %s") % ", ".join(self.active_kbs))
        else:
            self._button.setText(self.tr("Knowledge: off"))

    # ------------------------------------------------------- passages and citations

    def forget_retrieval(self) -> None:
        self.last_retrieval = None

    def _on_retrieved(self, retrieved: Retrieved) -> None:
        self.last_retrieval = retrieved
        self.retrieved.emit(retrieved)
        if self._chat_view.is_streaming():
            self._chat_view.set_stream_sources(list(retrieved.sources), retrieved.no_answer)
        self.status.emit(self.tr("Retrieved %d passage(s); %d fit the prompt. Generating…")
                         % (len(retrieved.hits), len(retrieved.sources)))

    def open_citation(self, sources: list[dict[str, Any]], number: int,
                      citation: dict[str, Any] | None = None) -> None:
        """Open source `number` of a reply (its `[number]` was clicked) at its passage, and
        at the span supporting the cited sentence when the citation has one."""
        match = [s for s in sources if s.get("number") == number]
        if not match:
            return
        source = dict(match[0])
        if citation is not None and citation.get("support_start") is not None:
            source["support_start"] = citation["support_start"]
            source["support_end"] = citation["support_end"]
            source["cited_sentence"] = citation.get("sentence", "")
        self.open_source(source)

    def open_source(self, source: dict[str, Any]) -> None:
        from ui.source_viewer import SourceViewer

        viewer = SourceViewer(source, self._lane, self._window)
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.show()
