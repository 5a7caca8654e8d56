"""The conversation list: opening the history at start-up (replies a crash cut off are kept
and marked), new, open, search, rename, and delete with Undo."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QPushButton, QWidget

from app.conversations import Conversation, StoredMessage
from ui.composer import Composer
from ui.conversation_list import ConversationList
from ui.message_widget import MessageData
from ui.window.database import DatabaseLane
from ui.window.knowledge import KnowledgeController
from ui.window.turns import TurnController, stats_line

UNDO_MS = 15_000  # how long a deleted conversation can be brought back


class ConversationController(QObject):
    status = Signal(str)

    def __init__(self, db: DatabaseLane, turns: TurnController, knowledge: KnowledgeController,
                 sidebar: ConversationList, composer: Composer, undo_button: QPushButton,
                 window: QWidget) -> None:
        super().__init__(window)
        self.recovered = 0  # replies a crash cut off, found at start-up
        self._db = db
        self._turns = turns
        self._knowledge = knowledge
        self._sidebar = sidebar
        self._composer = composer
        self._undo_button = undo_button
        self._undo_delete: int | None = None
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.setInterval(UNDO_MS)
        self._undo_timer.timeout.connect(self._expire_undo)
        sidebar.new_requested.connect(self.new_chat)
        sidebar.selected.connect(self.open_conversation)
        sidebar.rename_requested.connect(self.rename)
        sidebar.delete_requested.connect(self.delete)
        sidebar.search_changed.connect(lambda _t: self.refresh())
        undo_button.clicked.connect(self.undo_delete)

    # ------------------------------------------------------------------ start-up

    def open_history(self) -> None:
        """Mark replies a crash cut off as interrupted, then list the conversations."""
        def recover() -> tuple[int, list[Conversation]]:
            store = self._db.store()
            return store.recover_interrupted(), store.list_conversations()

        self._db.run(recover, self._on_history_open)

    def _on_history_open(self, result: tuple[int, list[Conversation]]) -> None:
        recovered, conversations = result
        self._sidebar.set_conversations(conversations, self._turns.conversation_id)
        self.recovered = recovered
        if recovered:
            self.status.emit(self.recovered_notice())
        self._turns.set_history_ready()

    def recovered_notice(self) -> str:
        """What the status bar says about replies found cut off; empty when none were."""
        if not self.recovered:
            return ""
        return self.tr("%n reply(s) cut off by a crash were kept and marked interrupted.", "",
                       self.recovered)

    # ------------------------------------------------------------------ the list

    def new_chat(self) -> None:
        self._turns.switch_to(None)
        self._knowledge.forget_retrieval()
        self._sidebar.select(None)
        self._turns.show_messages([])
        self._composer.focus_input()

    def open_conversation(self, conversation_id: int) -> None:
        if conversation_id == self._turns.conversation_id and self._turns.history:
            return
        self._turns.switch_to(conversation_id)

        def load() -> tuple[Conversation | None, list[StoredMessage]]:
            store = self._db.store()
            return store.get_conversation(conversation_id), store.messages(conversation_id)

        def show(result: tuple[Conversation | None, list[StoredMessage]]) -> None:
            conversation, messages = result
            if self._turns.conversation_id != conversation_id:
                return  # the user moved on while this loaded
            kbs = (conversation.settings or {}).get("kbs", []) if conversation else []
            self._knowledge.show_conversation_kbs([str(k) for k in kbs])
            self._turns.show_messages([_message_data(m) for m in messages])

        self._db.run(load, show)

    def refresh(self) -> None:
        query = self._sidebar.search.text()
        self._db.run(
            lambda: self._db.store().list_conversations(query),
            lambda convs: self._sidebar.set_conversations(convs, self._turns.conversation_id),
        )

    def rename(self, conversation_id: int, title: str) -> None:
        self._db.run(
            lambda: self._db.store().rename_conversation(conversation_id, title),
            lambda _c: self.refresh(),
        )

    def save_kbs(self, kbs: list[str]) -> None:
        """Remember the knowledge bases the conversation shown answers from."""
        cid = self._turns.conversation_id
        if cid is not None:
            settings = {"kbs": list(kbs)}
            self._db.run(lambda: self._db.store().set_conversation_fields(cid, settings=settings))

    # ------------------------------------------------------------------ delete and undo

    def delete(self, conversation_id: int) -> None:
        if conversation_id == self._turns.streaming_cid:
            self._turns.stop()
        self._db.run(
            lambda: self._db.store().delete_conversation(conversation_id),
            lambda _r: self._deleted(conversation_id),
        )

    def _deleted(self, conversation_id: int) -> None:
        self._undo_delete = conversation_id
        self._undo_button.show()
        self._undo_timer.start()
        self.status.emit(self.tr("Conversation deleted."))
        if conversation_id == self._turns.conversation_id:
            self.new_chat()
        self.refresh()

    def undo_delete(self) -> None:
        cid = self._undo_delete
        if cid is None:
            return
        self._expire_undo()

        def restored(_conversation: Conversation) -> None:
            self.refresh()
            self.status.emit(self.tr("Conversation restored."))

        self._db.run(lambda: self._db.store().restore_conversation(cid), restored)

    def _expire_undo(self) -> None:
        self._undo_delete = None
        self._undo_button.hide()
        self._undo_timer.stop()


def _message_data(m: StoredMessage) -> MessageData:
    """A stored message as shown. A reply's stats hold its footer, sources and citations; a
    question's hold what the model read for it (the window shows the question as typed)."""
    if m.role != "assistant":
        return MessageData(m.role, m.content, m.status, m.error or "")
    stats = m.stats or {}
    return MessageData(m.role, m.content, m.status, m.error or stats_line(m.stats),
                       list(stats.get("sources", [])), stats.get("kb_no_answer"),
                       list(stats.get("citations", [])))
