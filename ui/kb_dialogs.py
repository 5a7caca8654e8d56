"""The knowledge panel's questions to the user (a new knowledge base's name, confirming a
delete, files or a folder to add) and the Embedder… menu that switches a knowledge base to
another embedding model."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu, QMessageBox, QWidget

from kb.embedders import DEFAULT_EMBEDDER


class KnowledgeDialogs(QObject):
    """Modal dialogs over `parent`; each returns the answer, or nothing when cancelled."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent

    def new_kb_name(self) -> str | None:
        name, ok = QInputDialog.getText(
            self._parent, self.tr("New knowledge base"),
            self.tr("Name of the new knowledge base:")
        )
        name = name.strip()
        return name if ok and name else None

    def confirm_delete(self, name: str, files: int) -> bool:
        answer = QMessageBox.question(
            self._parent,
            self.tr("Delete knowledge base"),
            self.tr(
                "Delete the knowledge base “{name}” ({files} files)?\n\n"
                "Only its index is deleted: the extracted text, chunks and vectors Mingjing "
                "keeps. Your documents on disk are not touched."
            ).format(name=name, files=files),
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def files_to_add(self) -> list[str]:
        from kb.extract import SUPPORTED_SUFFIXES  # cheap: no parsing library is loaded

        patterns = " ".join(f"*{suffix}" for suffix in sorted(SUPPORTED_SUFFIXES))
        filters = ";;".join([
            self.tr("Documents") + " (*.pdf *.docx *.md *.markdown *.txt *.html *.htm)",
            self.tr("All supported files") + f" ({patterns})",
            self.tr("All files") + " (*)",
        ])
        paths, _filter = QFileDialog.getOpenFileNames(
            self._parent, self.tr("Add files to the knowledge base"), "", filters
        )
        return list(paths)

    def folder_to_add(self) -> str:
        return QFileDialog.getExistingDirectory(
            self._parent, self.tr("Add a folder to the knowledge base")
        )


class EmbedderMenu(QMenu):
    """The built-in embedder, or a sentence-transformers model folder chosen in a dialog."""

    chosen = Signal(str)  # the embedder's spec: re-embed the knowledge base with it

    def __init__(self, dialog_parent: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._dialog_parent = dialog_parent
        self.addAction(
            self.tr("Built-in: multilingual USE v3 (Chinese and 15 more languages)"),
            lambda: self.chosen.emit(DEFAULT_EMBEDDER),
        )
        self.addAction(self.tr("A sentence-transformers model folder…"), self._pick_folder)

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self._dialog_parent, self.tr("Choose a sentence-transformers model folder")
        )
        if folder:
            self.chosen.emit(folder)
