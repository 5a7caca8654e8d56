"""The knowledge panel: knowledge bases, their files, import progress and a retrieval test.

Everything slow (disk, database, embedder, extraction) runs on the knowledge thread; this
widget only sends requests and shows what comes back. The main window puts it in a dock.
Its parts: the knowledge-base row (ui/kb_chooser.py), the file table (ui/kb_files.py), the
progress box (ui/kb_progress.py), the retrieval test (ui/kb_retrieval.py), the dialogs and
the Embedder… menu (ui/kb_dialogs.py); this file lays them out and routes the worker's news."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ui.kb_chooser import KnowledgeBaseChooser
from ui.kb_dialogs import KnowledgeDialogs
from ui.kb_files import ElidedLabel, FileTable, FileTableModel, display_home
from ui.kb_progress import ImportProgressView
from ui.kb_retrieval import RetrievalTest
from ui.kb_thread import KnowledgeThread

if TYPE_CHECKING:
    from kb.indexer import ImportProgress, ImportReport
    from kb.store import FileRecord, KnowledgeBase


class KnowledgePanel(QWidget):
    kb_selected = Signal(str)
    kbs_available = Signal(list)  # list[str]
    import_running = Signal(bool)
    # Re-emitted on the GUI thread (the worker's own signals come from its thread).
    files_updated = Signal(str)  # kb name
    import_done = Signal(object)  # ImportReport
    search_finished = Signal(str, list)  # query, list[RetrievalHit]

    def __init__(self, thread: KnowledgeThread, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thread_owner = thread
        self._kbs: list[KnowledgeBase] = []
        self._current: str | None = None
        self._pending_select: str | None = None
        self._busy = False
        self._sources: list[tuple[str, bool, bool]] = []
        self.last_report: ImportReport | None = None
        self.dialogs = KnowledgeDialogs(self)
        self.setAcceptDrops(True)
        self._build()
        worker = thread.worker
        worker.kbs_changed.connect(self._on_kbs_changed)
        worker.files_changed.connect(self._on_files_changed)
        worker.sources_changed.connect(self._on_sources_changed)
        worker.kb_created.connect(self._on_kb_created)
        worker.import_progress.connect(self._on_progress)
        worker.import_finished.connect(self._on_import_finished)
        worker.reembed_finished.connect(self._on_reembed_finished)
        worker.failed.connect(self._on_failed)
        worker.busy_changed.connect(self._on_busy)
        thread.refresh()

    # ---------------------------------------------------------------------- layout

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)

        self.chooser = KnowledgeBaseChooser(self)
        self.chooser.chosen.connect(self._set_current)
        self.chooser.new_requested.connect(self._new_kb)
        self.chooser.delete_requested.connect(self._delete_kb)
        self.chooser.embedder_chosen.connect(self.change_embedder)
        layout.addWidget(self.chooser)

        button_row = QHBoxLayout()
        self.add_files_button = QPushButton(self.tr("Add files…"))
        self.add_files_button.clicked.connect(self._add_files)
        self.add_folder_button = QPushButton(self.tr("Add folder…"))
        self.add_folder_button.clicked.connect(self._add_folder)
        self.remove_button = QPushButton(self.tr("Remove"))
        self.remove_button.setToolTip(
            self.tr("Remove the selected files from the index (Delete); the files stay on disk")
        )
        self.remove_button.clicked.connect(self.remove_selected)
        self.rescan_button = QPushButton(self.tr("Re-scan"))
        self.rescan_button.setToolTip(
            self.tr("Look for new, changed and deleted files in this knowledge base's sources")
        )
        self.rescan_button.clicked.connect(self.rescan)
        for button in (self.add_files_button, self.add_folder_button, self.remove_button,
                       self.rescan_button):
            button_row.addWidget(button)
        button_row.addStretch(1)
        layout.addLayout(button_row)

        self.watch_box = QCheckBox(self.tr("Watch this folder for changes"))
        self.watch_box.setChecked(True)
        self.watch_box.setToolTip(
            self.tr("Folders added while this is on are re-indexed when their files change")
        )
        layout.addWidget(self.watch_box)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        layout.addWidget(splitter, 1)

        files_pane = QWidget()
        files_layout = QVBoxLayout(files_pane)
        files_layout.setContentsMargins(0, 0, 0, 0)
        files_layout.setSpacing(4)
        self.model = FileTableModel(self)
        self.table = FileTable(self.model)
        self.proxy = self.table.proxy
        self.table.placeholder = self.tr(
            "No documents yet. Drop files or folders here, or use Add files… / Add folder…"
        )
        self.table.delete_pressed.connect(self.remove_selected)
        self.table.remove_folder_requested.connect(self._remove_folder)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        files_layout.addWidget(self.table, 1)
        self.watch_label = ElidedLabel()
        self.watch_label.setStyleSheet("color: palette(placeholder-text);")
        self.watch_label.hide()
        files_layout.addWidget(self.watch_label)

        self.progress = ImportProgressView()
        self.progress.cancel_clicked.connect(self.cancel_import)
        files_layout.addWidget(self.progress)

        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()
        files_layout.addWidget(self.message_label)
        splitter.addWidget(files_pane)

        self.retrieval = RetrievalTest(self.thread_owner)
        self.retrieval.submitted.connect(self.run_search)
        self.retrieval.search_finished.connect(self.search_finished)
        splitter.addWidget(self.retrieval)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([480, 520])
        self._update_buttons()

    # ------------------------------------------------------------------ public API

    def current_kb(self) -> str | None:
        return self._current

    def kb_names(self) -> list[str]:
        return [kb.name for kb in self._kbs]

    def select_kb(self, name: str) -> None:
        """Show a knowledge base (now, or as soon as it appears in the list)."""
        self._pending_select = None if self.chooser.select(name) else name

    def add_paths(self, paths: list[str], watch: bool = False) -> None:
        """Import files and folders into the current knowledge base (or a new "Documents")."""
        paths = [p for p in paths if p]
        if not paths:
            return
        self._clear_message()
        kb = self._current
        if kb is None:
            kb = self.tr("Documents")
            self._pending_select = kb
        self.progress.show_starting()
        self.thread_owner.import_paths(kb, paths, watch)

    def rescan(self) -> None:
        self._clear_message()
        if self._current is None:
            return
        self.progress.show_starting()
        self.thread_owner.sync(self._current)

    def remove_selected(self) -> None:
        self._clear_message()
        paths = self.selected_paths()
        if self._current is None or not paths:
            return
        self.thread_owner.remove_paths(self._current, paths)

    def selected_paths(self) -> list[str]:
        return self.table.selected_paths()

    def cancel_import(self) -> None:
        self.thread_owner.cancel()
        self.progress.show_cancelling()

    def run_search(self) -> None:
        self._clear_message()
        query = self.retrieval.query()
        if not query:
            return
        if self._current is None:
            self._show_message(self.tr("Create a knowledge base and add documents first."))
            return
        self.retrieval.search(self._current, query)

    def change_embedder(self, spec: str) -> None:
        """Switch the current knowledge base to another embedder and re-embed its chunks
        on the knowledge thread (progress shows in the progress bar)."""
        self._clear_message()
        if self._current is None:
            return
        self.thread_owner.reembed(self._current, spec)

    def is_busy(self) -> bool:
        return self._busy

    def message(self) -> str:
        return self.message_label.text() if self.message_label.isVisibleTo(self) else ""

    # -------------------------------------------------------------- user actions

    def _new_kb(self) -> None:
        self._clear_message()
        name = self.dialogs.new_kb_name()
        if name is None:
            return
        if name in self.kb_names():
            self.select_kb(name)
            self._show_message(
                self.tr("A knowledge base named “{name}” already exists.").format(name=name)
            )
            return
        self._pending_select = name
        self.thread_owner.create_kb(name, None)

    def _delete_kb(self) -> None:
        self._clear_message()
        name = self._current
        if name is None:
            return
        kb = next((k for k in self._kbs if k.name == name), None)
        files = kb.files if kb is not None else 0
        if self.dialogs.confirm_delete(name, files):
            self.thread_owner.remove_kb(name)

    def _add_files(self) -> None:
        self._clear_message()
        paths = self.dialogs.files_to_add()
        if paths:
            self.add_paths(paths)

    def _add_folder(self) -> None:
        self._clear_message()
        folder = self.dialogs.folder_to_add()
        if folder:
            self.add_paths([folder], watch=self.watch_box.isChecked())

    def _remove_folder(self, folder: str) -> None:
        if self._current is not None:
            self.thread_owner.remove_paths(self._current, [folder])

    # ------------------------------------------------------------- drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if mime.hasUrls() and any(url.isLocalFile() for url in mime.urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.add_paths(paths, watch=self.watch_box.isChecked())

    # ---------------------------------------------------------- worker → panel

    @Slot(list)
    def _on_kbs_changed(self, kbs: list[KnowledgeBase]) -> None:
        self._kbs = list(kbs)
        names = [kb.name for kb in kbs]
        wanted = self._pending_select if self._pending_select in names else None
        if wanted is not None:
            self._pending_select = None
        target = wanted or (self._current if self._current in names else None)
        if target is None and names:
            target = names[0]
        self.chooser.set_kbs(self._kbs, target)
        self.kbs_available.emit(names)
        if target != self._current:
            self._set_current(target)
        self._update_buttons()

    def _set_current(self, name: str | None) -> None:
        changed = name != self._current
        self._current = name
        if changed:
            self._sources = []
            self._show_watched()
            self.model.set_records([], [])
            self.retrieval.clear()
        if name is not None:
            self.thread_owner.list_files(name)
            if changed:
                self.kb_selected.emit(name)
        self._update_buttons()

    @Slot(str)
    def _on_kb_created(self, name: str) -> None:
        self.select_kb(name)

    @Slot(str, list)
    def _on_files_changed(self, kb_name: str, records: list[FileRecord]) -> None:
        if kb_name != self._current:
            return
        self.table.set_records(records)
        self._update_buttons()
        self.table.viewport().update()
        self.files_updated.emit(kb_name)

    @Slot(str, list)
    def _on_sources_changed(self, kb_name: str, sources: list[tuple[str, bool, bool]]) -> None:
        if kb_name != self._current:
            return
        self._sources = list(sources)
        self.model.set_sources(self._sources)
        self._show_watched()

    def _show_watched(self) -> None:
        watched = [p for p, is_folder, watch in self._sources if is_folder and watch]
        if not watched:
            self.watch_label.hide()
            return
        names = ", ".join(Path(p).name or p for p in watched)
        self.watch_label.set_full_text(
            self.tr("Watching for changes: {folders}").format(folders=names)
        )
        self.watch_label.setToolTip("\n".join(display_home(p) for p in watched))
        self.watch_label.show()

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        self._busy = busy
        self.progress.set_busy(busy)
        self._update_buttons()
        self.import_running.emit(busy)

    @Slot(object)
    def _on_progress(self, progress: ImportProgress) -> None:
        self.progress.show_progress(progress)

    @Slot(object)
    def _on_import_finished(self, report: ImportReport) -> None:
        self.last_report = report
        counts = {
            "indexed": report.count("indexed"),
            "unchanged": report.count("unchanged"),
            "removed": report.count("removed"),
            "failed": report.count("failed"),
        }
        text = self.tr(
            "{kb}: {indexed} indexed, {unchanged} unchanged, {removed} removed, {failed} failed"
        ).format(kb=report.kb, **counts)
        if report.error:  # the database could not go on: disk full, read-only
            self._show_message(
                self.tr("Import stopped: {reason}").format(reason=report.error) + " " + text,
                error=True,
            )
        elif report.cancelled:
            self._show_message(self.tr("Import cancelled.") + " " + text, error=False)
        elif counts["failed"]:
            self._show_message(
                text + " " + self.tr("(the table says why)"), error=False
            )
        elif counts["indexed"] or counts["removed"]:
            self._show_message(text, error=False)
        self.import_done.emit(report)

    @Slot(str, int)
    def _on_reembed_finished(self, kb_name: str, done: int) -> None:
        self._show_message(
            self.tr("{kb}: {n} chunks re-embedded").format(kb=kb_name, n=done), error=False
        )

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.retrieval.search_failed()
        self._show_message(message)

    # ------------------------------------------------------------------- helpers

    def _show_message(self, text: str, *, error: bool = True) -> None:
        color = "#b00020" if error else self.palette().windowText().color().name()
        self.message_label.setStyleSheet(f"color: {color};")
        self.message_label.setText(text)
        self.message_label.setToolTip(text)
        self.message_label.show()

    def _clear_message(self) -> None:
        self.message_label.clear()
        self.message_label.hide()

    def _update_buttons(self) -> None:
        has_kb = self._current is not None
        self.chooser.set_actions_enabled(has_kb, self._busy)
        self.rescan_button.setEnabled(has_kb and not self._busy)
        self.remove_button.setEnabled(has_kb and self.table.selectionModel().hasSelection())
