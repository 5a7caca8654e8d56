"""The sidebar: conversations, newest first, with search, rename and delete (undoable)."""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.conversations import Conversation

ID_ROLE = Qt.ItemDataRole.UserRole


def _when(ts: float) -> str:
    delta = time.time() - ts
    if delta < 86400:
        return time.strftime("%H:%M", time.localtime(ts))
    return time.strftime("%Y-%m-%d", time.localtime(ts))


class ConversationList(QWidget):
    new_requested = Signal()
    selected = Signal(int)
    rename_requested = Signal(int, str)
    delete_requested = Signal(int)
    search_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(180)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 0, 6)
        top = QHBoxLayout()
        self.new_button = QPushButton(self.tr("New chat"))
        self.new_button.setToolTip(self.tr("New chat (Ctrl+N)"))
        self.new_button.clicked.connect(self.new_requested)
        top.addWidget(self.new_button)
        layout.addLayout(top)
        self.search = QLineEdit()
        self.search.setPlaceholderText(self.tr("Search conversations"))
        self.search.setClearButtonEnabled(True)
        layout.addWidget(self.search)
        self.list = QListWidget()
        self.list.setUniformItemSizes(True)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.itemActivated.connect(self._activated)
        self.list.itemClicked.connect(self._activated)
        layout.addWidget(self.list, 1)
        # Debounce: search runs in the database lane after typing pauses.
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(200)
        self._search_timer.timeout.connect(lambda: self.search_changed.emit(self.search.text()))
        self.search.textChanged.connect(lambda _t: self._search_timer.start())

        rename = QAction(self.tr("Rename"), self.list)
        rename.setShortcut(QKeySequence(Qt.Key.Key_F2))
        rename.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        rename.triggered.connect(self._rename_current)
        delete = QAction(self.tr("Delete"), self.list)
        delete.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        delete.triggered.connect(self._delete_current)
        self.list.addActions([rename, delete])
        self._rename_action = rename
        self._delete_action = delete

    def sizeHint(self) -> QSize:
        return QSize(230, 400)

    def set_conversations(self, conversations: list[Conversation], current: int | None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for conv in conversations:
            title = conv.title or self.tr("New conversation")
            item = QListWidgetItem(title)
            item.setData(ID_ROLE, conv.id)
            item.setToolTip(f"{title}\n{_when(conv.updated_at)}")
            self.list.addItem(item)
            if conv.id == current:
                item.setSelected(True)
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def select(self, conversation_id: int | None) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) == conversation_id:
                self.list.setCurrentItem(item)
                return
        self.list.clearSelection()

    def current_id(self) -> int | None:
        item = self.list.currentItem()
        return None if item is None else int(item.data(ID_ROLE))

    def _activated(self, item: QListWidgetItem) -> None:
        self.selected.emit(int(item.data(ID_ROLE)))

    def _context_menu(self, pos: object) -> None:
        item = self.list.itemAt(pos)  # type: ignore[call-overload]
        if item is None:
            return
        self.list.setCurrentItem(item)
        menu = QMenu(self)
        menu.addAction(self._rename_action)
        menu.addAction(self._delete_action)
        menu.exec(self.list.viewport().mapToGlobal(pos))  # type: ignore[call-overload]

    def _rename_current(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        title, ok = QInputDialog.getText(
            self, self.tr("Rename conversation"), self.tr("Title:"), text=item.text()
        )
        if ok and title.strip():
            item.setText(title.strip())
            self.rename_requested.emit(int(item.data(ID_ROLE)), title.strip())

    def _delete_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.delete_requested.emit(int(item.data(ID_ROLE)))
