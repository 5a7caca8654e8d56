"""The window's database lane: one thread runs the window's database jobs in order and owns
its connection to the conversation store; a job that fails is reported in a dialog."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from app.conversations import ConversationStore
from ui.tasks import Lane


class DatabaseLane(Lane):
    def __init__(self, db_path: Path, window: QWidget) -> None:
        super().__init__("db", window)
        self._db_path = db_path
        self._window = window
        self._store: ConversationStore | None = None  # used only on the lane's thread

    def store(self) -> ConversationStore:
        """The lane thread's own connection (created there on first use)."""
        if self._store is None:
            self._store = ConversationStore(self._db_path)
        return self._store

    def run(self, job: Callable[[], Any], on_done: Callable[[Any], None] | None = None) -> None:
        """`job` on the lane (it must not touch widgets), `on_done(result)` back on the GUI
        thread; an exception is shown in a dialog."""
        self.submit(job, on_done, self.show_error)

    def show_error(self, exc: BaseException) -> None:
        QMessageBox.critical(self._window, self.tr("Conversation history unavailable"), str(exc))

    def close(self) -> None:
        """Close the store on its own thread after the jobs already queued, and end the lane."""
        self.submit(self._close_store)
        self.shutdown(wait=True)

    def _close_store(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
