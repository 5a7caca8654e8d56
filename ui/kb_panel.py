"""The knowledge panel: knowledge bases, their files, import progress and a retrieval test.

Everything slow (disk, database, embedder, extraction) runs on the knowledge thread; this
widget only sends requests and shows what comes back. The main window puts it in a dock."""

from __future__ import annotations

import html
import logging
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QDateTime,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSortFilterProxyModel,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kb.embedders import DEFAULT_EMBEDDER
from kb.filenames import display_path, real_path, stored_path, unicode_path
from ui.kb_worker import KnowledgeThread

if TYPE_CHECKING:
    from kb.indexer import ImportProgress, ImportReport
    from kb.store import FileRecord, KnowledgeBase, RetrievalHit

log = logging.getLogger(__name__)

SORT_ROLE = Qt.ItemDataRole.UserRole
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
HIT_ROLE = Qt.ItemDataRole.UserRole + 2
RESULT_RANK, RESULT_FILE, RESULT_VECTOR, RESULT_KEYWORD, RESULT_TERMS, RESULT_LOCATION = range(6)
SEARCH_K = 5
FAILED_BACKGROUND = QColor(255, 228, 228)
FAILED_FOREGROUND = QColor(160, 20, 20)
PENDING_FOREGROUND = QColor(120, 120, 120)
STATE_ORDER = {"failed": 0, "pending": 1, "indexed": 2}
ModelIndex = QModelIndex | QPersistentModelIndex


def highlight(text: str, terms: list[str]) -> str:
    """The passage as HTML with the matched terms marked (longest first, case-insensitive)."""
    words = sorted({t for t in terms if t.strip()}, key=len, reverse=True)
    if not words:
        return html.escape(text).replace("\n", "<br/>")
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    out: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        out.append(html.escape(text[last:match.start()]))
        out.append(f"<b style='background-color: #fff2a8'>{html.escape(match.group())}</b>")
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out).replace("\n", "<br/>")


@lru_cache(maxsize=1)
def _home() -> str:
    try:
        return str(Path.home())
    except RuntimeError:  # no home directory can be determined
        return ""


def _display_home(path: str) -> str:
    path = display_path(path)  # a name that is not UTF-8 shows with replacement characters
    home = _home()
    if home not in ("", "/") and (path == home or path.startswith(home + os.sep)):
        return "~" + path[len(home):]
    return path


class FileTableModel(QAbstractTableModel):
    """The files of one knowledge base: Name, Folder, State, Chunks, Last indexed."""

    NAME, FOLDER, STATE, CHUNKS, INDEXED = range(5)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._records: list[FileRecord] = []
        self._folders: list[str] = []  # folder sources, longest first
        self._headers = [
            self.tr("Name"), self.tr("Folder"), self.tr("State"), self.tr("Chunks"),
            self.tr("Last indexed"),
        ]

    # ------------------------------------------------------------------ contents

    def set_records(
        self, records: list[FileRecord], sources: list[tuple[str, bool, bool]] | None = None
    ) -> None:
        if sources is not None:
            self._folders = sorted((p for p, is_folder, _w in sources if is_folder),
                                   key=len, reverse=True)
        if not records and not self._records:
            return
        same_rows = [r.path for r in records] == [r.path for r in self._records]
        if same_rows:
            self._records = list(records)
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(records) - 1, len(self._headers) - 1)
            )
            return
        self.beginResetModel()
        self._records = list(records)
        self.endResetModel()

    def set_sources(self, sources: list[tuple[str, bool, bool]]) -> None:
        self._folders = sorted((p for p, is_folder, _w in sources if is_folder),
                               key=len, reverse=True)
        if self._records:
            self.dataChanged.emit(
                self.index(0, self.FOLDER), self.index(len(self._records) - 1, self.FOLDER)
            )

    def records(self) -> list[FileRecord]:
        return list(self._records)

    def record(self, row: int) -> FileRecord:
        return self._records[row]

    def source_folder(self, path: str) -> str | None:
        """The folder source a file was imported with, if any."""
        path = real_path(path)  # PATH_ROLE holds the stored form (kb.filenames)
        for folder in self._folders:
            if path.startswith(folder.rstrip("/\\") + os.sep):
                return folder
        return None

    def folder_text(self, path: str) -> str:
        parent = str(Path(path).parent)
        source = self.source_folder(path)
        if source is None:
            return _display_home(parent)
        base = Path(source).name or source
        rel = os.path.relpath(parent, source)
        return display_path(base if rel == "." else os.path.join(base, rel))

    def state_text(self, record: FileRecord) -> str:
        if record.status == "indexed":
            return self.tr("Indexed")
        if record.status == "pending":
            return self.tr("Pending")
        reason = record.error or self.tr("unknown reason")
        return self.tr("Failed: {reason}").format(reason=reason)

    # ------------------------------------------------------------- Qt model API

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._records)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._headers)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._headers[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._records):
            return None
        record = self._records[index.row()]
        column = index.column()
        name = display_path(Path(record.path).name)
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.NAME:
                return name
            if column == self.FOLDER:
                return self.folder_text(record.path)
            if column == self.STATE:
                return self.state_text(record)
            if column == self.CHUNKS:
                return str(record.chunks) if record.status == "indexed" else ""
            if column == self.INDEXED:
                if record.indexed_at is None:
                    return ""
                stamp = QDateTime.fromSecsSinceEpoch(int(record.indexed_at))
                return stamp.toString("yyyy-MM-dd HH:mm")
            return None
        if role == SORT_ROLE:
            if column == self.NAME:
                return name.casefold()
            if column == self.FOLDER:
                return f"{self.folder_text(record.path).casefold()}\0{name.casefold()}"
            if column == self.STATE:
                return f"{STATE_ORDER.get(record.status, 3)}\0{name.casefold()}"
            if column == self.CHUNKS:
                return record.chunks
            if column == self.INDEXED:
                return float(record.indexed_at or 0.0)
            return None
        if role == PATH_ROLE:
            # Valid text that survives Qt and maps back to the file (kb.filenames).
            return stored_path(record.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.STATE and record.status == "failed":
                return self.state_text(record)
            return _display_home(record.path)
        if role == Qt.ItemDataRole.BackgroundRole and record.status == "failed":
            return QBrush(FAILED_BACKGROUND)
        if role == Qt.ItemDataRole.ForegroundRole:
            if record.status == "failed":
                return QBrush(FAILED_FOREGROUND)
            if record.status == "pending":
                return QBrush(PENDING_FOREGROUND)
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.CHUNKS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class _ElideRightDelegate(QStyledItemDelegate):
    """"Failed: reason…" reads from the left; names keep both ends (the view's default)."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideRight


class FileTable(QTableView):
    """The file list: says what to do when empty; Delete asks to remove the selection."""

    delete_pressed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.placeholder = ""
        # The column that takes the width the others leave (Name), but never less than
        # `fill_minimum`: a narrow dock scrolls sideways instead of squeezing names to "…".
        self.fill_column = 0
        self.fill_minimum = 120
        self.horizontalHeader().sectionResized.connect(self._section_resized)

    def fit_fill_column(self) -> None:
        header = self.horizontalHeader()
        others = sum(
            header.sectionSize(c) for c in range(header.count()) if c != self.fill_column
        )
        width = max(self.fill_minimum, self.viewport().width() - others)
        if header.count() > self.fill_column and header.sectionSize(self.fill_column) != width:
            header.resizeSection(self.fill_column, width)

    def _section_resized(self, index: int, _old: int, _new: int) -> None:
        if index != self.fill_column:
            self.fit_fill_column()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_fill_column()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Delete) or event.key() in (
            Qt.Key.Key_Delete, Qt.Key.Key_Backspace
        ):
            self.delete_pressed.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        model = self.model()
        if model is not None and model.rowCount() == 0 and self.placeholder:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().placeholderText().color())
            rect = self.viewport().rect().adjusted(16, 16, -16, -16)
            painter.drawText(
                rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder
            )
            painter.end()


class ElidedLabel(QLabel):
    """One line that never widens its dock: long text is cut in the middle."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(10, self.width())
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideMiddle, width))


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
        self._search_query: str | None = None
        self._sources: list[tuple[str, bool, bool]] = []
        self.last_report: ImportReport | None = None
        self.last_hits: list[RetrievalHit] = []
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
        worker.search_done.connect(self._on_search_done)
        worker.failed.connect(self._on_failed)
        worker.busy_changed.connect(self._on_busy)
        thread.refresh()

    # ---------------------------------------------------------------------- layout

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)

        kb_row = QHBoxLayout()
        self.kb_combo = QComboBox()
        self.kb_combo.setPlaceholderText(self.tr("No knowledge base yet"))
        self.kb_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.kb_combo.setMinimumContentsLength(8)
        self.kb_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.kb_combo.setToolTip(self.tr("The knowledge base shown here"))
        self.kb_combo.currentIndexChanged.connect(self._on_combo_changed)
        self.new_button = QPushButton(self.tr("New…"))
        self.new_button.setToolTip(self.tr("Create an empty knowledge base"))
        self.new_button.clicked.connect(self._new_kb)
        self.delete_button = QPushButton(self.tr("Delete…"))
        self.delete_button.setToolTip(
            self.tr("Delete this knowledge base's index (your files are not touched)")
        )
        self.delete_button.clicked.connect(self._delete_kb)
        self.embedder_button = QPushButton(self.tr("Embedder…"))
        self.embedder_button.setToolTip(
            self.tr("Change the embedding model of this knowledge base (re-embeds every chunk)")
        )
        embedder_menu = QMenu(self.embedder_button)
        embedder_menu.addAction(
            self.tr("Built-in: multilingual USE v3 (Chinese and 15 more languages)"),
            lambda: self._change_embedder(DEFAULT_EMBEDDER),
        )
        embedder_menu.addAction(
            self.tr("A sentence-transformers model folder…"), self._pick_embedder_folder
        )
        self.embedder_button.setMenu(embedder_menu)
        kb_label = QLabel(self.tr("Knowledge base:"))
        kb_row.addWidget(kb_label)
        kb_row.addWidget(self.kb_combo, 1)
        kb_row.addWidget(self.new_button)
        kb_row.addWidget(self.delete_button)
        kb_row.addWidget(self.embedder_button)
        layout.addLayout(kb_row)

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
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.table = FileTable()
        self.table.placeholder = self.tr(
            "No documents yet. Drop files or folders here, or use Add files… / Add folder…"
        )
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(FileTableModel.NAME, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(
            self.table.fontMetrics().height() + 8
        )
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        self.table.fill_column = FileTableModel.NAME
        self.table.fill_minimum = self.table.fontMetrics().horizontalAdvance("M" * 10)
        header.setMinimumSectionSize(40)
        metrics = self.table.fontMetrics()
        header.resizeSection(FileTableModel.STATE, metrics.horizontalAdvance("M" * 12))
        self._state_delegate = _ElideRightDelegate(self.table)
        self.table.setItemDelegateForColumn(FileTableModel.STATE, self._state_delegate)
        header.resizeSection(FileTableModel.FOLDER, metrics.horizontalAdvance("M" * 7))
        header.resizeSection(FileTableModel.CHUNKS, metrics.horizontalAdvance("Chunks") + 20)
        header.resizeSection(
            FileTableModel.INDEXED, metrics.horizontalAdvance("2000-00-00 00:00") + 16
        )
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._table_menu)
        self.table.delete_pressed.connect(self.remove_selected)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        files_layout.addWidget(self.table, 1)
        self.watch_label = ElidedLabel()
        self.watch_label.setStyleSheet("color: palette(placeholder-text);")
        self.watch_label.hide()
        files_layout.addWidget(self.watch_label)

        self.progress_area = QFrame()
        self.progress_area.setFrameShape(QFrame.Shape.StyledPanel)
        progress_layout = QVBoxLayout(self.progress_area)
        progress_layout.setContentsMargins(6, 4, 6, 4)
        progress_layout.setSpacing(2)
        bar_row = QHBoxLayout()
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setMaximumHeight(14)
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.setToolTip(self.tr("Stop importing; files done so far stay indexed"))
        self.cancel_button.clicked.connect(self.cancel_import)
        bar_row.addWidget(self.progress_bar, 1)
        bar_row.addWidget(self.cancel_button)
        progress_layout.addLayout(bar_row)
        self.progress_label = ElidedLabel()
        progress_layout.addWidget(self.progress_label)
        self.progress_area.hide()
        files_layout.addWidget(self.progress_area)

        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()
        files_layout.addWidget(self.message_label)
        splitter.addWidget(files_pane)

        search_pane = QWidget()
        search_layout = QVBoxLayout(search_pane)
        search_layout.setContentsMargins(0, 4, 0, 0)
        search_layout.setSpacing(4)
        title = QLabel(self.tr("Test retrieval"))
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        search_layout.addWidget(title)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(
            self.tr("Ask a question to see what would be retrieved")
        )
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setAcceptDrops(False)  # dropped files import, not paste a path
        self.search_edit.returnPressed.connect(self.run_search)
        search_layout.addWidget(self.search_edit)
        self.search_status = QLabel()
        self.search_status.setWordWrap(True)
        self.search_status.hide()
        search_layout.addWidget(self.search_status)
        results_split = QSplitter(Qt.Orientation.Vertical)
        results_split.setChildrenCollapsible(False)
        self.results = QTreeWidget()
        self.results.setColumnCount(6)
        self.results.setHeaderLabels([
            self.tr("#"), self.tr("File"), self.tr("Vector"), self.tr("Keyword"),
            self.tr("Matched terms"), self.tr("Location"),
        ])
        self.results.setRootIsDecorated(False)
        self.results.setAlternatingRowColors(True)
        self.results.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.results.headerItem().setToolTip(
            RESULT_VECTOR, self.tr("Cosine similarity of the passage to the question (rank)")
        )
        self.results.headerItem().setToolTip(
            RESULT_KEYWORD, self.tr("BM25 keyword score (rank); – when no keyword matched")
        )
        rheader = self.results.header()
        rheader.setStretchLastSection(True)
        rheader.setSectionResizeMode(RESULT_FILE, QHeaderView.ResizeMode.Interactive)
        rheader.resizeSection(RESULT_RANK, metrics.horizontalAdvance("99") + 16)
        rheader.resizeSection(RESULT_FILE, metrics.horizontalAdvance("M" * 9))
        rheader.resizeSection(RESULT_VECTOR, metrics.horizontalAdvance("0.000 (#99)") + 16)
        rheader.resizeSection(RESULT_KEYWORD, metrics.horizontalAdvance("00.00 (#99)") + 16)
        terms_width = metrics.horizontalAdvance(self.tr("Matched terms")) + 24
        rheader.resizeSection(RESULT_TERMS, terms_width)
        self._results_delegate = _ElideRightDelegate(self.results)
        for column in (RESULT_TERMS, RESULT_LOCATION):
            self.results.setItemDelegateForColumn(column, self._results_delegate)
        self.results.currentItemChanged.connect(self._show_passage)
        results_split.addWidget(self.results)
        self.passage_view = QTextBrowser()
        self.passage_view.setOpenLinks(False)
        self.passage_view.setPlaceholderText(
            self.tr("Select a result to read the passage that would be given to the model")
        )
        results_split.addWidget(self.passage_view)
        results_split.setStretchFactor(0, 1)
        results_split.setStretchFactor(1, 1)
        results_split.setSizes([150, 150])
        search_layout.addWidget(results_split, 1)
        splitter.addWidget(search_pane)
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
        index = self.kb_combo.findData(name)
        if index >= 0:
            self._pending_select = None
            if index != self.kb_combo.currentIndex():
                self.kb_combo.setCurrentIndex(index)
        else:
            self._pending_select = name

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
        self._show_starting()
        self.thread_owner.import_paths(kb, paths, watch)

    def rescan(self) -> None:
        self._clear_message()
        if self._current is None:
            return
        self._show_starting()
        self.thread_owner.sync(self._current)

    def remove_selected(self) -> None:
        self._clear_message()
        paths = self.selected_paths()
        if self._current is None or not paths:
            return
        self.thread_owner.remove_paths(self._current, paths)

    def selected_paths(self) -> list[str]:
        rows = self.table.selectionModel().selectedRows()
        paths = [str(self.proxy.data(index, PATH_ROLE)) for index in rows]
        return sorted(set(paths))

    def cancel_import(self) -> None:
        self.thread_owner.cancel()
        self.cancel_button.setEnabled(False)
        self.progress_label.set_full_text(self.tr("Cancelling…"))

    def run_search(self) -> None:
        self._clear_message()
        query = self.search_edit.text().strip()
        if not query:
            return
        if self._current is None:
            self._show_message(self.tr("Create a knowledge base and add documents first."))
            return
        self.results.clear()
        self.passage_view.clear()
        self.last_hits = []
        self._search_query = query
        self._set_search_status(self.tr("Searching…"))
        self.thread_owner.search([self._current], query, SEARCH_K)

    def is_busy(self) -> bool:
        return self._busy

    def message(self) -> str:
        return self.message_label.text() if self.message_label.isVisibleTo(self) else ""

    # -------------------------------------------------------------- user actions

    def _new_kb(self) -> None:
        self._clear_message()
        name, ok = QInputDialog.getText(
            self, self.tr("New knowledge base"), self.tr("Name of the new knowledge base:")
        )
        name = name.strip()
        if not ok or not name:
            return
        if name in self.kb_names():
            self.select_kb(name)
            self._show_message(
                self.tr("A knowledge base named “{name}” already exists.").format(name=name)
            )
            return
        self._pending_select = name
        self.thread_owner.create_kb(name, None)

    def _pick_embedder_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, self.tr("Choose a sentence-transformers model folder")
        )
        if folder:
            self._change_embedder(folder)

    def _change_embedder(self, spec: str) -> None:
        """Switch the current knowledge base to another embedder and re-embed its chunks
        on the knowledge thread (progress shows in the progress bar)."""
        self._clear_message()
        if self._current is None:
            return
        self.thread_owner.reembed(self._current, spec)

    def _delete_kb(self) -> None:
        self._clear_message()
        name = self._current
        if name is None:
            return
        kb = next((k for k in self._kbs if k.name == name), None)
        files = kb.files if kb is not None else 0
        answer = QMessageBox.question(
            self,
            self.tr("Delete knowledge base"),
            self.tr(
                "Delete the knowledge base “{name}” ({files} files)?\n\n"
                "Only its index is deleted: the extracted text, chunks and vectors Mingjing "
                "keeps. Your documents on disk are not touched."
            ).format(name=name, files=files),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.thread_owner.remove_kb(name)

    def _add_files(self) -> None:
        self._clear_message()
        from kb.extract import SUPPORTED_SUFFIXES  # cheap: no parsing library is loaded

        patterns = " ".join(f"*{suffix}" for suffix in sorted(SUPPORTED_SUFFIXES))
        filters = ";;".join([
            self.tr("Documents") + " (*.pdf *.docx *.md *.markdown *.txt *.html *.htm)",
            self.tr("All supported files") + f" ({patterns})",
            self.tr("All files") + " (*)",
        ])
        paths, _filter = QFileDialog.getOpenFileNames(
            self, self.tr("Add files to the knowledge base"), "", filters
        )
        if paths:
            self.add_paths(list(paths))

    def _add_folder(self) -> None:
        self._clear_message()
        folder = QFileDialog.getExistingDirectory(
            self, self.tr("Add a folder to the knowledge base")
        )
        if folder:
            self.add_paths([folder], watch=self.watch_box.isChecked())

    def _table_menu(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid() or self._current is None:
            return
        path = str(self.proxy.data(index, PATH_ROLE))
        menu = QMenu(self)
        count = len(self.selected_paths())
        remove = menu.addAction(
            self.tr("Remove from knowledge base") if count <= 1
            else self.tr("Remove {count} files from knowledge base").format(count=count)
        )
        remove.triggered.connect(self.remove_selected)
        folder = self.model.source_folder(path)
        if folder is not None:
            kb = self._current
            remove_folder = menu.addAction(
                self.tr("Remove folder “{folder}”").format(folder=Path(folder).name or folder)
            )
            remove_folder.setToolTip(_display_home(folder))
            remove_folder.triggered.connect(
                lambda: self.thread_owner.remove_paths(kb, [folder])
            )
        copy = menu.addAction(self.tr("Copy path"))
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(unicode_path(path)))
        menu.exec(self.table.viewport().mapToGlobal(pos))

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
        self.kb_combo.blockSignals(True)
        self.kb_combo.clear()
        for kb in kbs:
            files = (self.tr("1 file") if kb.files == 1
                     else self.tr("{n} files").format(n=kb.files))
            self.kb_combo.addItem(f"{kb.name} ({files})", kb.name)
            self.kb_combo.setItemData(
                self.kb_combo.count() - 1,
                self.tr("{name}: {files} files, {chunks} chunks, embedder {embedder}").format(
                    name=kb.name, files=kb.files, chunks=kb.chunks, embedder=kb.embedder
                ),
                Qt.ItemDataRole.ToolTipRole,
            )
        self.kb_combo.setCurrentIndex(names.index(target) if target is not None else -1)
        self.kb_combo.blockSignals(False)
        self.kbs_available.emit(names)
        if target != self._current:
            self._set_current(target)
        self._update_buttons()

    @Slot(int)
    def _on_combo_changed(self, index: int) -> None:
        name = self.kb_combo.itemData(index) if index >= 0 else None
        self._set_current(str(name) if name is not None else None)

    def _set_current(self, name: str | None) -> None:
        changed = name != self._current
        self._current = name
        if changed:
            self._sources = []
            self._show_watched()
            self.model.set_records([], [])
            self.results.clear()
            self.passage_view.clear()
            self.last_hits = []
            self._search_query = None
            self._set_search_status("")
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
        selected = set(self.selected_paths())
        scroll = self.table.verticalScrollBar().value()
        self.model.set_records(records)
        if selected:
            selection = self.table.selectionModel()
            for row in range(self.proxy.rowCount()):
                index = self.proxy.index(row, 0)
                if self.proxy.data(index, PATH_ROLE) in selected:
                    selection.select(
                        index,
                        QItemSelectionModel.SelectionFlag.Select
                        | QItemSelectionModel.SelectionFlag.Rows,
                    )
        self.table.verticalScrollBar().setValue(scroll)
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
        self.watch_label.setToolTip("\n".join(_display_home(p) for p in watched))
        self.watch_label.show()

    @Slot(bool)
    def _on_busy(self, busy: bool) -> None:
        self._busy = busy
        if busy:
            self.cancel_button.setEnabled(True)
            self.progress_area.show()
        else:
            self.progress_area.hide()
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self.progress_label.set_full_text("")
        self._update_buttons()
        self.import_running.emit(busy)

    @Slot(object)
    def _on_progress(self, progress: ImportProgress) -> None:
        if not self._busy:
            self.progress_area.show()
        if not self.cancel_button.isEnabled():
            return  # cancelling: keep saying so
        if progress.phase == "scanning":
            self.progress_bar.setRange(0, 0)  # busy indicator
            self.progress_label.set_full_text(self.tr("Looking for documents…"))
            return
        total = max(progress.files_total, 0)
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(min(progress.files_done, max(total, 1)))
        if progress.phase == "embedding":
            self.progress_label.set_full_text(
                self.tr("{done} / {total} chunks re-embedded").format(
                    done=progress.chunks_done, total=total
                )
            )
            return
        parts = [
            self.tr("{done} / {total} files").format(done=progress.files_done, total=total),
            self.tr("{n} chunks").format(n=progress.chunks_done),
        ]
        if progress.current and progress.phase != "done":
            parts.append(display_path(Path(progress.current).name))
        self.progress_label.set_full_text(" · ".join(parts))

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

    @Slot(str, list)
    def _on_search_done(self, query: str, hits: list[RetrievalHit]) -> None:
        if query != self._search_query:
            return  # an older question
        self._search_query = None
        self.last_hits = list(hits)
        self.results.clear()
        if not hits:
            self._set_search_status(self.tr("Nothing in this knowledge base matches."))
        else:
            self._set_search_status("")
        for hit in hits:
            self.results.addTopLevelItem(self._hit_item(hit))
        first = self.results.topLevelItem(0)
        if first is not None:
            self.results.setCurrentItem(first)
        self.search_finished.emit(query, list(hits))

    def _hit_item(self, hit: RetrievalHit) -> QTreeWidgetItem:
        dash = "–"
        vector = (
            f"{hit.vector_score:.3f} (#{hit.vector_rank})" if hit.vector_score is not None
            else dash
        )
        keyword = (
            f"{hit.keyword_score:.2f} (#{hit.keyword_rank})" if hit.keyword_score is not None
            else dash
        )
        terms = " ".join(hit.matched_terms) or dash
        item = QTreeWidgetItem(
            [str(hit.rank), Path(hit.path).name, vector, keyword, terms, hit.location()]
        )
        passage = " ".join(hit.text.split())
        tip = (
            f"<p><b>{html.escape(Path(hit.path).name)}</b> — {html.escape(hit.location())}</p>"
            f"<p>{html.escape(passage[:1200])}{'…' if len(passage) > 1200 else ''}</p>"
        )
        for column in range(self.results.columnCount()):
            item.setToolTip(column, tip)
        item.setToolTip(RESULT_TERMS, terms)
        for column in (RESULT_RANK, RESULT_VECTOR, RESULT_KEYWORD):
            item.setTextAlignment(
                column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            )
        item.setData(0, PATH_ROLE, hit.path)
        item.setData(0, HIT_ROLE, hit)
        return item

    def _show_passage(self, item: QTreeWidgetItem | None, _previous: object = None) -> None:
        hit = item.data(0, HIT_ROLE) if item is not None else None
        if hit is None:
            self.passage_view.clear()
            return
        head = self.tr("[{rank}] {file} — {location}").format(
            rank=hit.rank, file=Path(hit.path).name, location=hit.location()
        )
        self.passage_view.setHtml(
            f"<p style='color: gray'>{html.escape(head)}<br/>"
            f"{html.escape(_display_home(hit.path))}</p>"
            f"<p>{highlight(hit.text, hit.matched_terms)}</p>"
        )

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._search_query is not None:
            self._search_query = None
            self._set_search_status("")
        self._show_message(message)

    # ------------------------------------------------------------------- helpers

    def _show_starting(self) -> None:
        if not self._busy:
            self.progress_area.show()
            self.cancel_button.setEnabled(True)
            self.progress_bar.setRange(0, 0)
            self.progress_label.set_full_text(self.tr("Starting…"))

    def _show_message(self, text: str, *, error: bool = True) -> None:
        color = "#b00020" if error else self.palette().windowText().color().name()
        self.message_label.setStyleSheet(f"color: {color};")
        self.message_label.setText(text)
        self.message_label.setToolTip(text)
        self.message_label.show()

    def _clear_message(self) -> None:
        self.message_label.clear()
        self.message_label.hide()

    def _set_search_status(self, text: str) -> None:
        self.search_status.setText(text)
        self.search_status.setVisible(bool(text))

    def _update_buttons(self) -> None:
        has_kb = self._current is not None
        self.delete_button.setEnabled(has_kb)
        self.embedder_button.setEnabled(has_kb and not self.is_busy())
        self.rescan_button.setEnabled(has_kb and not self._busy)
        self.remove_button.setEnabled(has_kb and self.table.selectionModel().hasSelection())
