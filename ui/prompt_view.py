"""The prompt as the model sees it: one colored piece per token, special tokens marked.

The whole document is built in one pass (one QTextCursor, a handful of cached character
formats) so that tens of thousands of tokens show in a few tens of milliseconds. Hovering a
piece maps the mouse to a character position and, through a sorted list of start offsets,
to the token under it.
"""

from __future__ import annotations

import html
from bisect import bisect_right

from PySide6.QtCore import QEvent, QObject, QPoint, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QHelpEvent,
    QPalette,
    QTextCharFormat,
    QTextCursor,
    QTextOption,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from engine.types import TokenSpan

# Soft backgrounds that alternate between neighbouring tokens: boundaries stay visible
# without the colors meaning anything.
TOKEN_BACKGROUNDS = ("#fbd9dd", "#d3e3fd", "#d2f5dc", "#fcecb6")
TOKEN_FOREGROUND = "#1f2328"
SPECIAL_BACKGROUND = "#4b5563"
SPECIAL_BACKGROUND_ALT = "#2f3642"  # neighbouring special tokens stay apart
SPECIAL_FOREGROUND = "#ffffff"
INVALID_FOREGROUND = "#6b7280"
NEWLINE_MARK = "↵"
CARRIAGE_RETURN_MARK = "␍"


def utf16_len(text: str) -> int:
    """Length in QString units (what QTextDocument positions count)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def is_valid_piece(span: TokenSpan) -> bool:
    """False for a piece that is only part of a multi-byte character."""
    try:
        span.raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def hex_bytes(raw: bytes) -> str:
    return raw.hex(" ")


class _TokenEdit(QPlainTextEdit):
    """The read-only text area; tooltips come from the owning PromptView."""

    def __init__(self, owner: PromptView) -> None:
        super().__init__(owner)
        self._owner = owner
        self.setReadOnly(True)
        self.setUndoRedoEnabled(False)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.viewport().installEventFilter(self)
        self.viewport().setMouseTracking(True)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.viewport() and event.type() == QEvent.Type.ToolTip:
            assert isinstance(event, QHelpEvent)
            index = self.token_index_at_point(event.pos())
            if index is None:
                QToolTip.hideText()
                event.ignore()
            else:
                QToolTip.showText(event.globalPos(), self._owner.tooltip_for(index),
                                  self.viewport())
            return True
        return super().eventFilter(watched, event)

    def char_position_at(self, point: QPoint) -> int | None:
        """The document position of the character under a viewport point, if any."""
        cursor = self.cursorForPosition(point)
        pos = cursor.position()
        rect = self.cursorRect(cursor)
        # cursorForPosition gives the nearest gap between characters: the character under
        # the mouse is the one after that gap, or the one before it.
        candidate = pos if point.x() >= rect.x() else pos - 1
        if candidate < 0 or candidate >= self.document().characterCount() - 1:
            return None
        probe = QTextCursor(self.document())
        probe.setPosition(candidate)
        left = self.cursorRect(probe)
        probe.setPosition(candidate + 1)
        right = self.cursorRect(probe)
        if not (left.top() <= point.y() <= left.bottom()):
            return None
        if right.top() == left.top() and not (left.x() <= point.x() <= right.x()):
            return None
        return candidate

    def token_index_at_point(self, point: QPoint) -> int | None:
        pos = self.char_position_at(point)
        return None if pos is None else self._owner.token_index_at(pos)


class PromptView(QWidget):
    """The exact prompt as token pieces: alternating soft colors, marked special tokens,
    a tooltip per token (id, bytes, piece) and a switch to hide the special tokens."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spans: list[TokenSpan] = []
        self._show_special = True
        self._starts: list[int] = []  # document position where each drawn token starts
        self._ends: list[int] = []
        self._indices: list[int] = []  # span index of each drawn token
        self._n_special = 0

        self.header = QLabel(self)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
        self.special_box = QCheckBox(self.tr("Show special tokens"), self)
        self.special_box.setChecked(True)
        self.special_box.setToolTip(self.tr(
            "Special (control) tokens such as <|im_start|> or <start_of_turn> mark turns "
            "and roles; the model sees them like any other token."))
        self.special_box.toggled.connect(self.set_show_special)

        self.edit = _TokenEdit(self)
        self.edit.setPlaceholderText(
            self.tr("The prompt appears here once there is something to send."))
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.edit.setFont(fixed)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.header, 1)
        top.addWidget(self.special_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.edit, 1)

        self._formats = self._make_formats()
        self._update_header()

    # ------------------------------------------------------------------ public

    def set_spans(self, spans: list[TokenSpan]) -> None:
        self._spans = list(spans)
        self._n_special = sum(1 for s in self._spans if s.special)
        self._rebuild()
        self._update_header()

    def clear(self) -> None:
        self.set_spans([])

    def spans(self) -> list[TokenSpan]:
        return list(self._spans)

    def set_show_special(self, show: bool) -> None:
        if show == self._show_special:
            return
        self._show_special = show
        if self.special_box.isChecked() != show:
            self.special_box.setChecked(show)  # re-enters with nothing left to do
        self._rebuild()

    def show_special(self) -> bool:
        return self._show_special

    def token_count(self) -> int:
        return len(self._spans)

    def special_count(self) -> int:
        return self._n_special

    def plain_text(self) -> str:
        return self.edit.toPlainText()

    def token_index_at(self, char_pos: int) -> int | None:
        """The index (into the spans) of the token drawn at a document position."""
        i = bisect_right(self._starts, char_pos) - 1
        if i < 0 or char_pos >= self._ends[i]:
            return None
        return self._indices[i]

    def char_range(self, index: int) -> tuple[int, int] | None:
        """The document positions [start, end) of a token, None when it is not drawn."""
        i = bisect_right(self._indices, index) - 1
        if i < 0 or self._indices[i] != index:
            return None
        return self._starts[i], self._ends[i]

    def tooltip_for(self, index: int) -> str:
        span = self._spans[index]
        rows = [
            (self.tr("Token id"), str(span.token_id)),
            (self.tr("Position"), str(index)),
            (self.tr("Bytes"), hex_bytes(span.raw) or self.tr("(none)")),
        ]
        if span.special:
            rows.append((self.tr("Piece"), span.text))
        elif not is_valid_piece(span):
            rows.append((self.tr("Piece"), self.tr(
                "part of a character: its UTF-8 bytes are split across tokens")))
        else:
            rows.append((self.tr("Piece"), repr(span.text)))
        body = "".join(
            f"<tr><td style='color:#6b7280'>{html.escape(k)}</td>"
            f"<td style='white-space:pre'>{html.escape(v, quote=False)}</td></tr>"
            for k, v in rows
        )
        extra = ""
        if span.special:
            note = self.tr("Special token")
            extra = f"<div><b>{html.escape(note)}</b></div>"
        return f"<table cellspacing='0' cellpadding='1'>{body}</table>{extra}"

    # ---------------------------------------------------------------- building

    def _make_formats(self) -> dict[str, QTextCharFormat]:
        formats: dict[str, QTextCharFormat] = {}
        for i, color in enumerate(TOKEN_BACKGROUNDS):
            fmt = QTextCharFormat()
            fmt.setBackground(QColor(color))
            fmt.setForeground(QColor(TOKEN_FOREGROUND))
            formats[f"t{i}"] = fmt
            bad = QTextCharFormat(fmt)
            bad.setForeground(QColor(INVALID_FOREGROUND))
            bad.setFontItalic(True)
            formats[f"x{i}"] = bad
        for i, color in enumerate((SPECIAL_BACKGROUND, SPECIAL_BACKGROUND_ALT)):
            special = QTextCharFormat()
            special.setBackground(QColor(color))
            special.setForeground(QColor(SPECIAL_FOREGROUND))
            special.setFontWeight(QFont.Weight.Bold)
            formats[f"s{i}"] = special
        return formats

    def _rebuild(self) -> None:
        """Lay the whole document out in one edit block: one insertText per token with a
        handful of cached formats (measured faster than building an HTML string)."""
        bar = self.edit.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() > 0
        offset = bar.value()
        self.edit.clear()
        doc = self.edit.document()
        starts: list[int] = []
        ends: list[int] = []
        indices: list[int] = []
        plain = [self._formats[f"t{i}"] for i in range(len(TOKEN_BACKGROUNDS))]
        muted = [self._formats[f"x{i}"] for i in range(len(TOKEN_BACKGROUNDS))]
        specials = [self._formats["s0"], self._formats["s1"]]
        special_color = 0
        n_colors = len(TOKEN_BACKGROUNDS)
        cursor = QTextCursor(doc)
        cursor.beginEditBlock()
        pos = 0
        color = 0
        show_special = self._show_special
        for index, span in enumerate(self._spans):
            if span.special:
                if not show_special:
                    continue
                text = span.text
                fmt = specials[special_color]
                special_color ^= 1
            else:
                if is_valid_piece(span):
                    text = span.text
                    if "\r" in text:
                        text = text.replace("\r", CARRIAGE_RETURN_MARK)
                    if "\n" in text:
                        text = text.replace("\n", NEWLINE_MARK + "\n")
                    fmt = plain[color]
                else:
                    text = f"<{hex_bytes(span.raw)}>"
                    fmt = muted[color]
                color = (color + 1) % n_colors
            if not text:
                continue
            cursor.insertText(text, fmt)
            end = pos + utf16_len(text)
            starts.append(pos)
            ends.append(end)
            indices.append(index)
            pos = end
        cursor.endEditBlock()
        self._starts, self._ends, self._indices = starts, ends, indices
        # Live updates while the user types keep the reader where they were.
        bar.setValue(bar.maximum() if at_end else min(offset, bar.maximum()))

    def _update_header(self) -> None:
        n = len(self._spans)
        text = self.tr("%n token(s)", "", n)
        if n:
            text += " · " + self.tr("%n special", "", self._n_special)
        self.header.setText(text)
        self.header.setForegroundRole(QPalette.ColorRole.WindowText)
