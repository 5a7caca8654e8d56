"""The knowledge worker: one QObject that owns a KnowledgeStore and an Indexer, living on the
knowledge thread (ui/kb_thread.py); the GUI talks to it only by queued signals, like the
model thread.

Requests run one at a time, in order, on the worker's thread (an import blocks later requests
until it ends; Cancel sets a threading.Event the indexer checks between files and batches).
Watched folders are observed with watchdog (which events count: ui/kb_watch.py); file events
restart a 2-second debounce after which the worker re-syncs that knowledge base."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal, Slot

from ui.kb_watch import change_handler

if TYPE_CHECKING:
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers.api import BaseObserver, ObservedWatch

    from kb.indexer import ImportProgress, Indexer
    from kb.store import KnowledgeBase, KnowledgeStore

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1  # at most ~10 progress signals a second
WATCH_DEBOUNCE_S = 2.0


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        text = str(exc.args[0])
    else:
        text = str(exc) or exc.__class__.__name__
    return " ".join(text.split())


class _Throttle:
    """Forwards progress at most every PROGRESS_INTERVAL_S, but never drops a phase change
    or the last file."""

    def __init__(self, emit: Callable[[ImportProgress], None]) -> None:
        self._emit = emit
        self._last = 0.0
        self._phase = ""

    def __call__(self, progress: ImportProgress) -> None:
        now = time.monotonic()
        final = progress.files_total > 0 and progress.files_done >= progress.files_total
        if progress.phase != self._phase or final or now - self._last >= PROGRESS_INTERVAL_S:
            self._phase = progress.phase
            self._last = now
            self._emit(dataclasses.replace(progress))  # a copy: the indexer keeps mutating


class KnowledgeWorker(QObject):
    kbs_changed = Signal(list)  # list[KnowledgeBase]
    files_changed = Signal(str, list)  # kb name, list[FileRecord]
    sources_changed = Signal(str, list)  # kb name, list[(path, is_folder, watch)]
    kb_created = Signal(str)
    import_progress = Signal(object)  # ImportProgress (a copy)
    import_finished = Signal(object)  # ImportReport
    reembed_finished = Signal(str, int)  # kb name, chunks re-embedded
    search_done = Signal(str, list)  # query, list[RetrievalHit]
    failed = Signal(str)  # one line
    busy_changed = Signal(bool)

    _sync_due = Signal()  # from the debounce timers' threads

    def __init__(self, db_path: Path | str) -> None:
        super().__init__()
        self._db_path = Path(db_path)
        self._store: KnowledgeStore | None = None
        self._indexer: Indexer | None = None
        self._cancel = threading.Event()
        self._stopping = threading.Event()
        self._user_errors: tuple[type[BaseException], ...] | None = None
        # Watching: one observer, one watch per (kb, folder); timers per kb.
        self._observer: BaseObserver | None = None
        self._watches: dict[tuple[str, str], tuple[ObservedWatch, FileSystemEventHandler]] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._due: set[str] = set()
        self._watch_lock = threading.Lock()
        self._started_watching = False
        self._sync_due.connect(self._run_due_syncs, Qt.ConnectionType.QueuedConnection)

    # --------------------------------------------------- called from any thread

    def request_cancel(self) -> None:
        self._cancel.set()

    def begin_stop(self) -> None:
        """Make every request still queued a no-op and stop the running one."""
        self._stopping.set()
        self._cancel.set()

    # ----------------------------------------------------------------- plumbing

    def _get_store(self) -> KnowledgeStore:
        if self._store is None:
            from kb.store import KnowledgeStore

            self._store = KnowledgeStore(self._db_path)
        return self._store

    def _get_indexer(self) -> Indexer:
        if self._indexer is None:
            from kb.indexer import Indexer

            self._indexer = Indexer(self._get_store())
        return self._indexer

    def _errors(self) -> tuple[type[BaseException], ...]:
        if self._user_errors is None:
            from app.rag import RetrievalError
            from kb.db import DatabaseError, sqlite_module
            from kb.embedders import EmbedderError

            errors: list[type[BaseException]] = [
                DatabaseError, EmbedderError, RetrievalError, KeyError, OSError,
            ]
            try:
                errors.append(sqlite_module().Error)
            except DatabaseError:
                pass
            self._user_errors = tuple(errors)
        return self._user_errors

    def _guard(self, what: str, job: Callable[[], None]) -> None:
        if self._stopping.is_set():
            return
        try:
            job()
        except Exception as exc:
            try:
                expected = isinstance(exc, self._errors())
            except Exception:  # the kb modules themselves failed to import
                expected = False
            if expected:
                self.failed.emit(_one_line(exc))
            else:
                log.exception("unexpected error while %s", what)
                self.failed.emit(
                    self.tr("Unexpected error while {what}: {error}").format(
                        what=what, error=_one_line(exc)
                    )
                )

    def _kb(self, name: str) -> KnowledgeBase:
        kb = self._get_store().get_kb(name)
        if kb is None:
            raise KeyError(self.tr("no knowledge base named “{name}”").format(name=name))
        return kb

    def _emit_kbs(self) -> None:
        self.kbs_changed.emit(self._get_store().list_kbs())

    def _emit_files(self, kb_name: str) -> None:
        store = self._get_store()
        kb = store.get_kb(kb_name)
        if kb is None:
            self.sources_changed.emit(kb_name, [])
            self.files_changed.emit(kb_name, [])
            return
        self.sources_changed.emit(kb_name, store.sources(kb.id))  # first: the Folder column
        self.files_changed.emit(kb_name, store.files(kb.id))

    def _long_job(self, what: str, job: Callable[[], None]) -> None:
        """An import, sync or re-embed: busy while it runs, cancellable."""

        def run() -> None:
            self._cancel.clear()
            self.busy_changed.emit(True)
            try:
                job()
            finally:
                self.busy_changed.emit(False)

        self._guard(what, run)

    # ------------------------------------------------------------------- requests

    @Slot()
    def warm_up(self) -> None:
        """Load the segmenter now, while nothing else happens: importing jieba-rs builds
        its dictionary while holding the GIL (~120 ms here), which would otherwise freeze
        the window once, in the middle of the first import."""
        from kb import segment

        segment.warm_up()

    @Slot()
    def refresh(self) -> None:
        def job() -> None:
            self._emit_kbs()
            # The first time: catch up with changes made to watched folders while closed.
            self._update_watches(catch_up=not self._started_watching)

        self._guard(self.tr("listing knowledge bases"), job)

    @Slot(str)
    def list_files(self, kb_name: str) -> None:
        self._guard(self.tr("listing files"), lambda: self._emit_files(kb_name))

    @Slot(str, object)
    def create_kb(self, name: str, embedder_spec: str | None) -> None:
        def job() -> None:
            clean = name.strip()
            if not clean:
                self.failed.emit(self.tr("A knowledge base needs a name."))
                return
            if self._get_store().get_kb(clean) is not None:
                self.failed.emit(
                    self.tr("A knowledge base named “{name}” already exists.").format(name=clean)
                )
                return
            self._get_indexer().ensure_kb(clean, embedder=embedder_spec or None)
            self._emit_kbs()
            self.kb_created.emit(clean)

        self._guard(self.tr("creating a knowledge base"), job)

    @Slot(str, list, bool)
    def import_paths(self, kb_name: str, paths: list[str], watch: bool) -> None:
        def job() -> None:
            from kb.indexer import ImportProgress

            name = kb_name.strip()
            if not name:
                self.failed.emit(self.tr("A knowledge base needs a name."))
                return
            self.import_progress.emit(ImportProgress("scanning"))
            try:
                report = self._get_indexer().add(
                    name, list(paths), watch=watch, progress=_Throttle(self.import_progress.emit),
                    cancel=self._cancel,
                )
            except BaseException:
                self._show_state_after_error(name)
                raise
            self._after_change(name)
            self.import_finished.emit(report)
            self._emit_kbs()
            self._emit_files(name)

        self._long_job(self.tr("importing"), job)

    @Slot(str)
    def sync(self, kb_name: str) -> None:
        def job() -> None:
            from kb.indexer import ImportProgress

            self._kb(kb_name)
            self.import_progress.emit(ImportProgress("scanning"))
            try:
                report = self._get_indexer().sync(
                    kb_name, progress=_Throttle(self.import_progress.emit), cancel=self._cancel
                )
            except BaseException:
                self._show_state_after_error(kb_name)
                raise
            self._after_change(kb_name)
            self.import_finished.emit(report)
            self._emit_kbs()
            self._emit_files(kb_name)

        self._long_job(self.tr("re-scanning"), job)

    @Slot(str, list)
    def remove_paths(self, kb_name: str, paths: list[str]) -> None:
        def job() -> None:
            store = self._get_store()
            kb = self._kb(kb_name)
            for path in paths:
                for record in store.files(kb.id, under=path):
                    store.remove_file(record.id)
                store.remove_source(kb.id, path)
            self._emit_kbs()
            self._emit_files(kb_name)
            self._update_watches()

        self._guard(self.tr("removing files"), job)

    @Slot(str)
    def remove_kb(self, name: str) -> None:
        def job() -> None:
            if not self._get_store().remove_kb(name):
                raise KeyError(self.tr("no knowledge base named “{name}”").format(name=name))
            self._emit_kbs()
            self._update_watches()

        self._guard(self.tr("deleting a knowledge base"), job)

    @Slot(list, str, int)
    def search(self, kb_names: list[str], query: str, k: int) -> None:
        def job() -> None:
            from app.rag import retrieve

            hits = retrieve(self._get_store(), list(kb_names), query, k=k)
            self.search_done.emit(query, hits)

        self._guard(self.tr("searching"), job)

    @Slot(str, str)
    def reembed(self, kb_name: str, embedder_spec: str) -> None:
        def job() -> None:
            self._kb(kb_name)
            done = self._get_indexer().reembed(
                kb_name, embedder_spec, progress=_Throttle(self.import_progress.emit),
                cancel=self._cancel,
            )
            self.reembed_finished.emit(kb_name, done)
            self._emit_kbs()

        self._long_job(self.tr("re-embedding"), job)

    @Slot()
    def shutdown(self) -> None:
        """Runs on the worker thread: stop watching, close the store, end the thread."""
        self._stopping.set()
        self._cancel.set()
        try:
            self._stop_watching()
        except Exception:
            log.exception("could not stop the folder watchers")
        if self._store is not None:
            try:
                self._store.close()
            except Exception:
                log.exception("could not close the knowledge store")
            self._store = None
            self._indexer = None
        thread = self.thread()
        if thread is not None:
            thread.quit()

    # ------------------------------------------------------------------- watching

    def _show_state_after_error(self, kb_name: str) -> None:
        """An import stopped by an error may still have changed the index: show it."""
        try:
            self._update_watches()
            self._emit_kbs()
            self._emit_files(kb_name)
        except Exception:
            log.debug("could not refresh after a failed import", exc_info=True)

    def _after_change(self, kb_name: str) -> None:
        try:
            self._update_watches()
        except Exception:
            log.exception("could not update the folder watchers after changing %s", kb_name)

    def _wanted_watches(self) -> set[tuple[str, str]]:
        store = self._get_store()
        wanted: set[tuple[str, str]] = set()
        for kb in store.list_kbs():
            for path, is_folder, watch in store.sources(kb.id):
                if is_folder and watch:
                    wanted.add((kb.name, path))
        return wanted

    def _update_watches(self, *, catch_up: bool = False) -> None:
        """Observe every watched folder source; forget folders no longer watched. With
        `catch_up`, newly observed knowledge bases are synced once (after the debounce)."""
        if self._stopping.is_set():
            return
        wanted = self._wanted_watches()
        self._started_watching = True
        with self._watch_lock:
            gone = [(key, self._watches.pop(key)) for key in set(self._watches) - wanted]
        # Never call into the observer while holding _watch_lock: its dispatcher holds the
        # observer's lock while our handler waits for _watch_lock.
        for key, (watch, handler) in gone:
            if self._observer is None:
                continue
            try:
                still_used = any(folder == key[1] for _kb, folder in self.watched_folders())
                if still_used:  # another knowledge base watches the same folder
                    self._observer.remove_handler_for_watch(handler, watch)
                else:
                    self._observer.unschedule(watch)
            except Exception:  # the folder may be gone already
                log.debug("unwatching %s failed", key, exc_info=True)
        new = sorted(wanted - set(self._watches))
        if not new:
            return
        observer = self._ensure_observer()
        for kb_name, folder in new:
            if not Path(folder).is_dir():
                continue  # a sync will drop its files; watched again if it comes back
            handler = change_handler(kb_name, Path(folder), self._db_path, self._schedule_sync)
            try:
                watch = observer.schedule(handler, folder, recursive=True)
            except OSError as exc:
                log.warning("cannot watch %s: %s", folder, exc)
                self.failed.emit(
                    self.tr("Cannot watch {folder}: {error}").format(
                        folder=folder, error=_one_line(exc)
                    )
                )
                continue
            with self._watch_lock:
                self._watches[(kb_name, folder)] = (watch, handler)
            if catch_up:
                self._schedule_sync(kb_name)

    def _ensure_observer(self) -> BaseObserver:
        if self._observer is None:
            from watchdog.observers import Observer

            observer = Observer()
            observer.daemon = True
            observer.start()
            self._observer = observer
        return self._observer

    def _schedule_sync(self, kb_name: str) -> None:
        """Start or restart the debounce for a knowledge base (any thread)."""
        if self._stopping.is_set():
            return
        with self._watch_lock:
            old = self._timers.pop(kb_name, None)
            if old is not None:
                old.cancel()
            timer = threading.Timer(WATCH_DEBOUNCE_S, self._debounce_done, args=(kb_name,))
            timer.daemon = True
            self._timers[kb_name] = timer
            timer.start()

    def _debounce_done(self, kb_name: str) -> None:
        with self._watch_lock:
            self._timers.pop(kb_name, None)
            if self._stopping.is_set():
                return
            self._due.add(kb_name)
        self._sync_due.emit()  # queued to the worker thread: runs after the current job

    @Slot()
    def _run_due_syncs(self) -> None:
        with self._watch_lock:
            due = sorted(self._due)
            self._due.clear()
        for kb_name in due:
            if self._stopping.is_set():
                return
            if self._get_store().get_kb(kb_name) is None:
                continue
            self.sync(kb_name)

    def _stop_watching(self) -> None:
        with self._watch_lock:
            for timer in self._timers.values():
                timer.cancel()
            self._timers.clear()
            self._due.clear()
            self._watches.clear()
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)

    def watched_folders(self) -> list[tuple[str, str]]:
        """(kb, folder) pairs being observed now (any thread; for tests and diagnostics)."""
        with self._watch_lock:
            return sorted(self._watches)
