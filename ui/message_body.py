"""The body of one message: Markdown settings, citation links and a text browser that is
exactly as tall as its document."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, QUrl
from PySide6.QtGui import (
    QBrush,
    QColor,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QTextBlock,
    QTextDocument,
    QTextFormat,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser, QWidget

from ui.colours import mix

# md4c's MD_FLAG_HARD_SOFT_BREAKS, which Qt passes straight to its parser: models use single
# newlines as line breaks (poems, addresses, steps), and joining Chinese lines would insert a
# stray space. A Qt that ignored the bit would merely fall back to soft breaks.
_HARD_SOFT_BREAKS = 0x8000
# GitHub tables, lists and fences, but raw HTML stays literal text: a model writing
# "use a <div> here" must show the tag rather than silently swallow it.
MARKDOWN_FEATURES = QTextDocument.MarkdownFeature(
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub.value
    | QTextDocument.MarkdownFeature.MarkdownNoHTML.value
    | _HARD_SOFT_BREAKS
)
CODE_PADDING = 10

_CITATION = re.compile(r"\[(\d{1,2})\](?!\()")


def link_citations(markdown: str, count: int,
                   citations: Sequence[dict[str, Any]] | None = None) -> str:
    """Turn [n] for existing sources into cite:n links, so a click opens the passage. With
    the reply's checked `citations` (app/citations.py, positions in this very text), each
    valid one links to its supporting span (cite:n:i) and one to a source that was not
    given is marked (badcite:n)."""
    if citations:
        return _link_checked(markdown, citations)
    if count <= 0:
        return markdown

    def repl(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return f"[[{n}]](cite:{n})" if 1 <= n <= count else match.group(0)

    return _CITATION.sub(repl, markdown)


def _link_checked(markdown: str, citations: Sequence[dict[str, Any]]) -> str:
    marks: dict[tuple[int, int], list[str]] = {}
    for i, c in enumerate(citations):
        start, end, n = int(c["start"]), int(c["end"]), int(c["number"])
        if not (0 <= start < end <= len(markdown)):
            return markdown  # not this text's citations: leave it as it is
        link = f"[[{n}]](cite:{n}:{i})" if c.get("valid") else f"[[{n}]⚠](badcite:{n})"
        marks.setdefault((start, end), []).append(link)
    out, at = [], 0
    for (start, end), links in sorted(marks.items()):
        out += [markdown[at:start], "".join(links)]
        at = end
    out.append(markdown[at:])
    return "".join(out)


def is_code_block(block: QTextBlock) -> bool:
    fmt = block.blockFormat()
    return fmt.hasProperty(QTextFormat.Property.BlockCodeFence) or fmt.nonBreakableLines()


class MessageBody(QTextBrowser):
    """A frameless, scroll-less text browser whose height always equals its document's."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setReadOnly(True)
        self.setOpenExternalLinks(True)  # http(s)/mailto go to the system browser
        self.setUndoRedoEnabled(False)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
            | Qt.TextInteractionFlag.LinksAccessibleByKeyboard
        )
        # Tabbing through hundreds of messages would make the composer hard to reach.
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setAutoFillBackground(False)
        self.setAutoFillBackground(False)
        pal = self.palette()
        pal.setBrush(QPalette.ColorRole.Base, QBrush(Qt.GlobalColor.transparent))
        self.setPalette(pal)
        self.document().setDocumentMargin(2)
        self._code_runs: list[tuple[int, int]] = []  # first/last block number of each fence
        self._code_background = QColor()
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self._fit_height()

    def loadResource(self, type: int, name: QUrl | str) -> object:
        # Model output must not make us read local files (``![](/etc/passwd)``).
        return None

    def doSetSource(
        self,
        name: QUrl | str,
        /,
        type: QTextDocument.ResourceType = QTextDocument.ResourceType.UnknownResource,
    ) -> None:
        # Relative and file: links land here; following them would replace the reply
        # with "No document for ...". anchorClicked has still been emitted.
        return

    def set_code_runs(self, runs: list[tuple[int, int]], background: QColor) -> None:
        self._code_runs = runs
        self._code_background = background
        self.viewport().update()

    def code_runs(self) -> list[tuple[int, int]]:
        return list(self._code_runs)

    def document_height(self) -> int:
        return math.ceil(self.document().size().height())

    def _fit_height(self) -> None:
        margins = self.contentsMargins()
        height = self.document_height() + margins.top() + margins.bottom() + 2 * self.frameWidth()
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)  # re-wraps the document to the new width
        self._fit_height()

    def wheelEvent(self, event: QWheelEvent) -> None:
        # Nothing to scroll in here, and Ctrl+wheel must not zoom one bubble: let the
        # conversation scroll instead.
        event.ignore()

    def sizeHint(self) -> QSize:
        return QSize(super().sizeHint().width(), self.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._code_runs:
            # Block backgrounds cannot have padding, so a rounded box is drawn under each
            # fence; the block background has the same colour and merges into it.
            painter = QPainter(self.viewport())
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            # Our own Base is transparent, so the colour comes from the message widget.
            background = self._code_background
            border = mix(background, self.palette().color(QPalette.ColorRole.Text), 0.08)
            painter.setPen(border)
            painter.setBrush(background)
            doc = self.document()
            layout = doc.documentLayout()
            margin = doc.documentMargin()
            offset = self.verticalScrollBar().value()
            for first, last in self._code_runs:
                top = layout.blockBoundingRect(doc.findBlockByNumber(first)).top()
                bottom = layout.blockBoundingRect(doc.findBlockByNumber(last)).bottom()
                rect = QRectF(
                    margin,
                    top - CODE_PADDING + 4 - offset,
                    self.viewport().width() - 2 * margin,
                    bottom - top + 2 * CODE_PADDING - 8,
                ).adjusted(0.5, 0.5, -0.5, -0.5)
                painter.drawRoundedRect(rect, 6, 6)
            painter.end()
        super().paintEvent(event)
