"""Open a cited source at its passage: the document's text with the passage highlighted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from ui.tasks import Lane

PASSAGE_COLOUR = "#fff2a8"  # what the model was given
SUPPORT_COLOUR = "#ffd34d"  # the sentence that supports the cited one


class SourceViewer(QDialog):
    """Shows source `number` of a reply. The document is extracted on a lane, not the GUI
    thread; until then (or if the file is gone) the stored passage is shown."""

    def __init__(self, source: dict[str, Any], lane: Lane, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.setWindowTitle(self.tr("Source [%d]: %s") % (source.get("number", 0),
                                                          source.get("name", "")))
        self.resize(760, 560)
        layout = QVBoxLayout(self)
        self.header = QLabel(
            f"<b>{source.get('path', '')}</b><br>{source.get('location', '')}"
        )
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.header.setWordWrap(True)
        layout.addWidget(self.header)
        self.text = QTextBrowser()
        self.text.setPlainText(str(source.get("text", "")))
        layout.addWidget(self.text, 1)
        self.note = QLabel(self.tr("Loading the document…"))
        self.note.setEnabled(False)
        layout.addWidget(self.note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        open_button = QPushButton(self.tr("Open file"))
        open_button.clicked.connect(self._open_file)
        buttons.addButton(open_button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        path = Path(str(source.get("path", "")))
        lane.submit(lambda: _load_text(path), self._show_document, self._show_error)

    def _show_document(self, text: str) -> None:
        if not isValid(self):
            return  # closed (and deleted) before the document was read
        start = int(self.source.get("start_char", 0))
        end = int(self.source.get("end_char", start))
        passage = str(self.source.get("text", ""))
        if text[start:end] != passage:
            # The file changed since it was indexed: find the passage by its text.
            found = text.find(passage)
            if found < 0:
                self.note.setText(self.tr("The file changed since it was indexed; "
                                          "showing the indexed passage."))
                return
            start, end = found, found + len(passage)
        self.text.setPlainText(text)
        shift = start - int(self.source.get("start_char", 0))  # where the file moved it
        span = self._support_span(shift, start, end)
        self._highlight(start, end, PASSAGE_COLOUR)
        if span is not None:
            self._highlight(span[0], span[1], SUPPORT_COLOUR)
            start = span[0]
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(start)
        self.text.setTextCursor(cursor)
        self.text.ensureCursorVisible()
        if span is not None:
            self.note.setText(self.tr("The highlighted passage is what the model was given; "
                                      "the darker sentence supports “%1”.")
                              .replace("%1", str(self.source.get("cited_sentence", ""))[:80]))
        else:
            self.note.setText(self.tr("The highlighted passage is what the model was given."))

    def _support_span(self, shift: int, start: int, end: int) -> tuple[int, int] | None:
        """The span supporting the cited sentence (app/citations.py), within the passage."""
        if self.source.get("support_start") is None:
            return None
        begin = int(self.source["support_start"]) + shift
        finish = int(self.source.get("support_end", begin)) + shift
        return (begin, finish) if start <= begin < finish <= end else None

    def _highlight(self, start: int, end: int, colour: str) -> None:
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        fmt = QTextCharFormat()
        fmt.setBackground(QColor(colour))
        cursor.mergeCharFormat(fmt)

    def _show_error(self, exc: BaseException) -> None:
        if not isValid(self):
            return
        reason = getattr(exc, "reason", None) or str(exc)
        self.note.setText(self.tr("Could not open the document (%s); showing the indexed "
                                  "passage.") % reason)

    def _open_file(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.source.get("path", ""))))


def _load_text(path: Path) -> str:
    from kb.extract import extract

    return extract(path).text
