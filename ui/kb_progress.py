"""The knowledge panel's progress box: a bar and a line (files, chunks, the current file) while
an import, sync or re-embedding runs, with its Cancel button. Hidden when idle."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QProgressBar, QPushButton, QVBoxLayout, QWidget

from kb.filenames import display_path
from ui.kb_files import ElidedLabel

if TYPE_CHECKING:
    from kb.indexer import ImportProgress


class ImportProgressView(QFrame):
    cancel_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._busy = False
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(2)
        bar_row = QHBoxLayout()
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setMaximumHeight(14)
        self.cancel_button = QPushButton(self.tr("Cancel"))
        self.cancel_button.setToolTip(self.tr("Stop importing; files done so far stay indexed"))
        self.cancel_button.clicked.connect(self.cancel_clicked)
        bar_row.addWidget(self.bar, 1)
        bar_row.addWidget(self.cancel_button)
        layout.addLayout(bar_row)
        self.label = ElidedLabel()
        layout.addWidget(self.label)
        self.hide()

    def show_starting(self) -> None:
        """A request was sent: show a busy bar until the worker reports."""
        if not self._busy:
            self.show()
            self.cancel_button.setEnabled(True)
            self.bar.setRange(0, 0)
            self.label.set_full_text(self.tr("Starting…"))

    def show_cancelling(self) -> None:
        self.cancel_button.setEnabled(False)
        self.label.set_full_text(self.tr("Cancelling…"))

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        if busy:
            self.cancel_button.setEnabled(True)
            self.show()
        else:
            self.hide()
            self.bar.setRange(0, 1)
            self.bar.setValue(0)
            self.label.set_full_text("")

    def show_progress(self, progress: ImportProgress) -> None:
        if not self._busy:
            self.show()
        if not self.cancel_button.isEnabled():
            return  # cancelling: keep saying so
        if progress.phase == "scanning":
            self.bar.setRange(0, 0)  # busy indicator
            self.label.set_full_text(self.tr("Looking for documents…"))
            return
        total = max(progress.files_total, 0)
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(progress.files_done, max(total, 1)))
        if progress.phase == "embedding":
            self.label.set_full_text(
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
        self.label.set_full_text(" · ".join(parts))
