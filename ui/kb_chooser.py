"""The knowledge panel's top row: which knowledge base it shows (a list with file counts), and
New…, Delete… and Embedder… for it. The panel asks the questions and does the work."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget

from ui.kb_dialogs import EmbedderMenu

if TYPE_CHECKING:
    from kb.store import KnowledgeBase


class KnowledgeBaseChooser(QWidget):
    chosen = Signal(object)  # str | None: the user picked another knowledge base
    new_requested = Signal()
    delete_requested = Signal()
    embedder_chosen = Signal(str)  # the embedder spec to re-embed the knowledge base with

    def __init__(self, dialog_parent: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)  # as the panel's own layout
        self.combo = QComboBox()
        self.combo.setPlaceholderText(self.tr("No knowledge base yet"))
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.combo.setMinimumContentsLength(8)
        self.combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.combo.setToolTip(self.tr("The knowledge base shown here"))
        self.combo.currentIndexChanged.connect(self._on_combo_changed)
        self.new_button = QPushButton(self.tr("New…"))
        self.new_button.setToolTip(self.tr("Create an empty knowledge base"))
        self.new_button.clicked.connect(self.new_requested)
        self.delete_button = QPushButton(self.tr("Delete…"))
        self.delete_button.setToolTip(
            self.tr("Delete this knowledge base's index (your files are not touched)")
        )
        self.delete_button.clicked.connect(self.delete_requested)
        self.embedder_button = QPushButton(self.tr("Embedder…"))
        self.embedder_button.setToolTip(
            self.tr("Change the embedding model of this knowledge base (re-embeds every chunk)")
        )
        embedder_menu = EmbedderMenu(dialog_parent, self.embedder_button)
        embedder_menu.chosen.connect(self.embedder_chosen)
        self.embedder_button.setMenu(embedder_menu)
        row.addWidget(QLabel(self.tr("Knowledge base:")))
        row.addWidget(self.combo, 1)
        row.addWidget(self.new_button)
        row.addWidget(self.delete_button)
        row.addWidget(self.embedder_button)

    def set_kbs(self, kbs: list[KnowledgeBase], current: str | None) -> None:
        """List `kbs` with their file counts and show `current`, without emitting `chosen`."""
        names = [kb.name for kb in kbs]
        self.combo.blockSignals(True)
        self.combo.clear()
        for kb in kbs:
            files = (self.tr("1 file") if kb.files == 1
                     else self.tr("{n} files").format(n=kb.files))
            self.combo.addItem(f"{kb.name} ({files})", kb.name)
            self.combo.setItemData(
                self.combo.count() - 1,
                self.tr("{name}: {files} files, {chunks} chunks, embedder {embedder}").format(
                    name=kb.name, files=kb.files, chunks=kb.chunks, embedder=kb.embedder
                ),
                Qt.ItemDataRole.ToolTipRole,
            )
        self.combo.setCurrentIndex(names.index(current) if current is not None else -1)
        self.combo.blockSignals(False)

    def select(self, name: str) -> bool:
        """Show `name` (emitting `chosen` if it changes); False when it is not listed yet."""
        index = self.combo.findData(name)
        if index < 0:
            return False
        if index != self.combo.currentIndex():
            self.combo.setCurrentIndex(index)
        return True

    def set_actions_enabled(self, has_kb: bool, busy: bool) -> None:
        self.delete_button.setEnabled(has_kb)
        self.embedder_button.setEnabled(has_kb and not busy)

    @Slot(int)
    def _on_combo_changed(self, index: int) -> None:
        name = self.combo.itemData(index) if index >= 0 else None
        self.chosen.emit(str(name) if name is not None else None)
