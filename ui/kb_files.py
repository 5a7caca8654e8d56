"""The files of a knowledge base as the panel shows them: the table's Qt model (name, folder,
state, chunks, last indexed), the table view with its context menu, and paths for people
(home as ~, names that are not UTF-8 with replacement characters)."""

from __future__ import annotations

import os
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
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QMenu,
    QSizePolicy,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from kb.filenames import display_path, real_path, stored_path, unicode_path

if TYPE_CHECKING:
    from kb.store import FileRecord

SORT_ROLE = Qt.ItemDataRole.UserRole
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
FAILED_BACKGROUND = QColor(255, 228, 228)
FAILED_FOREGROUND = QColor(160, 20, 20)
PENDING_FOREGROUND = QColor(120, 120, 120)
STATE_ORDER = {"failed": 0, "pending": 1, "indexed": 2}
ModelIndex = QModelIndex | QPersistentModelIndex


@lru_cache(maxsize=1)
def _home() -> str:
    try:
        return str(Path.home())
    except RuntimeError:  # no home directory can be determined
        return ""


def display_home(path: str) -> str:
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
            return display_home(parent)
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
            return display_home(record.path)
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


class ElideRightDelegate(QStyledItemDelegate):
    """"Failed: reason…" reads from the left; names keep both ends (the view's default)."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideRight


class FileTable(QTableView):
    """The file list, sorted through a proxy: says what to do when empty; Delete and the
    context menu ask to remove files."""

    delete_pressed = Signal()  # remove the selected files
    remove_folder_requested = Signal(str)  # remove a folder source and its files

    def __init__(self, model: FileTableModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.placeholder = ""
        # The column that takes the width the others leave (Name), but never less than
        # `fill_minimum`: a narrow dock scrolls sideways instead of squeezing names to "…".
        self.fill_column = 0
        self.fill_minimum = 120
        self.horizontalHeader().sectionResized.connect(self._section_resized)
        self.file_model = model
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setSortRole(SORT_ROLE)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(FileTableModel.NAME, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        self.fill_column = FileTableModel.NAME
        self.fill_minimum = self.fontMetrics().horizontalAdvance("M" * 10)
        header.setMinimumSectionSize(40)
        metrics = self.fontMetrics()
        header.resizeSection(FileTableModel.STATE, metrics.horizontalAdvance("M" * 12))
        self._state_delegate = ElideRightDelegate(self)
        self.setItemDelegateForColumn(FileTableModel.STATE, self._state_delegate)
        header.resizeSection(FileTableModel.FOLDER, metrics.horizontalAdvance("M" * 7))
        header.resizeSection(FileTableModel.CHUNKS, metrics.horizontalAdvance("Chunks") + 20)
        header.resizeSection(
            FileTableModel.INDEXED, metrics.horizontalAdvance("2000-00-00 00:00") + 16
        )
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.customContextMenuRequested.connect(self._context_menu)

    def set_records(self, records: list[FileRecord]) -> None:
        """New rows for the same knowledge base: the selection and the scroll position stay."""
        selected = set(self.selected_paths())
        scroll = self.verticalScrollBar().value()
        self.file_model.set_records(records)
        if selected:
            selection = self.selectionModel()
            for row in range(self.proxy.rowCount()):
                index = self.proxy.index(row, 0)
                if self.proxy.data(index, PATH_ROLE) in selected:
                    selection.select(
                        index,
                        QItemSelectionModel.SelectionFlag.Select
                        | QItemSelectionModel.SelectionFlag.Rows,
                    )
        self.verticalScrollBar().setValue(scroll)

    def selected_paths(self) -> list[str]:
        """The selected files, in the stored form (kb.filenames)."""
        rows = self.selectionModel().selectedRows()
        paths = [str(self.proxy.data(index, PATH_ROLE)) for index in rows]
        return sorted(set(paths))

    def _context_menu(self, pos: QPoint) -> None:
        index = self.indexAt(pos)
        if not index.isValid():
            return
        path = str(self.proxy.data(index, PATH_ROLE))
        menu = QMenu(self)
        count = len(self.selected_paths())
        remove = menu.addAction(
            self.tr("Remove from knowledge base") if count <= 1
            else self.tr("Remove {count} files from knowledge base").format(count=count)
        )
        remove.triggered.connect(lambda: self.delete_pressed.emit())
        folder = self.file_model.source_folder(path)
        if folder is not None:
            remove_folder = menu.addAction(
                self.tr("Remove folder “{folder}”").format(folder=Path(folder).name or folder)
            )
            remove_folder.setToolTip(display_home(folder))
            remove_folder.triggered.connect(lambda: self.remove_folder_requested.emit(folder))
        copy = menu.addAction(self.tr("Copy path"))
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(unicode_path(path)))
        menu.exec(self.viewport().mapToGlobal(pos))

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
