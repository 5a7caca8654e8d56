"""The GUI side of the knowledge thread: it owns the QThread the knowledge worker
(ui/kb_worker.py) lives on and forwards every request to it as a queued signal, so the GUI
thread never waits on the store, the embedder or the disk."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal

from ui.kb_worker import KnowledgeWorker

log = logging.getLogger(__name__)

_ORPHANS: list[QThread] = []  # threads that would not stop: never destroy a running QThread


class KnowledgeThread(QObject):
    """Owns the QThread the knowledge worker lives on; forwards requests as queued signals."""

    _refresh = Signal()
    _warm_up = Signal()
    _list_files = Signal(str)
    _create_kb = Signal(str, object)
    _import = Signal(str, list, bool)
    _sync = Signal(str)
    _remove_paths = Signal(str, list)
    _remove_kb = Signal(str)
    _search = Signal(list, str, int)
    _reembed = Signal(str, str)
    _shutdown = Signal()

    def __init__(self, db_path: Path | str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.qthread = QThread()
        self.qthread.setObjectName("knowledge")
        self.worker = KnowledgeWorker(db_path)
        self.worker.moveToThread(self.qthread)
        queued = Qt.ConnectionType.QueuedConnection
        self._refresh.connect(self.worker.refresh, queued)
        self._warm_up.connect(self.worker.warm_up, queued)
        self._list_files.connect(self.worker.list_files, queued)
        self._create_kb.connect(self.worker.create_kb, queued)
        self._import.connect(self.worker.import_paths, queued)
        self._sync.connect(self.worker.sync, queued)
        self._remove_paths.connect(self.worker.remove_paths, queued)
        self._remove_kb.connect(self.worker.remove_kb, queued)
        self._search.connect(self.worker.search, queued)
        self._reembed.connect(self.worker.reembed, queued)
        self._shutdown.connect(self.worker.shutdown, queued)
        self.qthread.start()
        self._warm_up.emit()

    def refresh(self) -> None:
        self._refresh.emit()

    def list_files(self, kb_name: str) -> None:
        self._list_files.emit(kb_name)

    def create_kb(self, name: str, embedder_spec: str | None = None) -> None:
        self._create_kb.emit(name, embedder_spec)

    def import_paths(self, kb_name: str, paths: list[str], watch: bool = False) -> None:
        self._import.emit(kb_name, list(paths), bool(watch))

    def sync(self, kb_name: str) -> None:
        self._sync.emit(kb_name)

    def remove_paths(self, kb_name: str, paths: list[str]) -> None:
        self._remove_paths.emit(kb_name, list(paths))

    def remove_kb(self, name: str) -> None:
        self._remove_kb.emit(name)

    def search(self, kb_names: list[str], query: str, k: int = 5) -> None:
        self._search.emit(list(kb_names), query, int(k))

    def reembed(self, kb_name: str, embedder_spec: str) -> None:
        self._reembed.emit(kb_name, embedder_spec)

    def cancel(self) -> None:
        self.worker.request_cancel()

    def stop(self, timeout_ms: int = 30_000) -> None:
        """Cancel the running job, close the store and the watchers on the worker's thread,
        and end the thread."""
        if not self.qthread.isRunning():
            return
        self.worker.begin_stop()
        self._shutdown.emit()  # the worker quits its own thread after closing the store
        if self.qthread.wait(timeout_ms):
            return
        log.warning("knowledge thread did not stop within %d ms", timeout_ms)
        self.qthread.quit()
        if not self.qthread.wait(2_000):
            _ORPHANS.append(self.qthread)
