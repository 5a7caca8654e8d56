"""One message of the conversation: its data, and the widget that shows it (role, action
buttons, Markdown body, status footer)."""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QEvent, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QFontDatabase,
    QGuiApplication,
    QPainter,
    QPaintEvent,
    QPalette,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFrameFormat,
    QTextTable,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from ui.colours import code_background, is_dark, mix, set_foreground
from ui.message_body import (
    CODE_PADDING,
    MARKDOWN_FEATURES,
    MessageBody,
    is_code_block,
    link_citations,
)

ROLES = ("user", "assistant", "system")
STATUSES = ("complete", "streaming", "interrupted", "error", "cancelled")
COPIED_MS = 1200
USER_INDENT = 72  # user bubbles start this far in, so turns read as a dialogue


@dataclass
class MessageData:
    role: str  # 'user' | 'assistant' | 'system'
    content: str
    status: str = "complete"  # 'complete' | 'streaming' | 'interrupted' | 'error' | 'cancelled'
    info: str = ""  # small grey footer, e.g. "42 tokens · 61.3 tok/s · stopped: eos"
    # Knowledge-base passages the reply could cite: dicts with number, name, location, ...
    sources: list[dict[str, Any]] = field(default_factory=list)
    # Set when the knowledge bases had nothing relevant: {"best_score", "threshold"}.
    kb_no_answer: dict[str, Any] | None = None
    # The reply's [n] checked against its sources, in order (app/citations.py).
    citations: list[dict[str, Any]] = field(default_factory=list)


class MessageWidget(QFrame):
    """One message: role, action buttons, body and a status/info footer."""

    copy_clicked = Signal()
    edit_clicked = Signal()
    regenerate_clicked = Signal()
    citation_clicked = Signal(int, int)  # source number, which citation of the reply (-1: none)

    def __init__(self, data: MessageData, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data = dataclasses.replace(data)
        self._can_edit = False
        self._can_regenerate = False
        self._waiting_note = ""  # while the prompt is read, before the first text
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setProperty("role", data.role)

        layout = QVBoxLayout(self)
        if data.role == "user":
            # Indented and tinted so the reader's own turns stand apart from the replies.
            layout.setContentsMargins(USER_INDENT, 6, 12, 8)
        else:
            layout.setContentsMargins(0, 6, 0, 8)
        layout.setSpacing(2)

        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.setSpacing(2)
        self.role_label = QLabel(self._role_text(data.role))
        font = self.role_label.font()
        font.setBold(True)
        self.role_label.setFont(font)
        header.addWidget(self.role_label)
        header.addStretch(1)

        self._actions = QWidget()
        actions = QHBoxLayout(self._actions)
        actions.setContentsMargins(0, 0, 0, 0)
        actions.setSpacing(0)
        self.edit_button = self._tool_button(
            self.tr("Edit"), self.tr("Edit this message and resend")
        )
        self.regenerate_button = self._tool_button(
            self.tr("Regenerate"), self.tr("Ask for a new reply")
        )
        self.copy_button = self._tool_button(
            self.tr("Copy"), self.tr("Copy the message as Markdown")
        )
        # Reserve room for "Copied" so the row does not jump while it is shown.
        self.copy_button.setText(self.tr("Copied"))
        self.copy_button.setMinimumWidth(self.copy_button.sizeHint().width())
        self.copy_button.setText(self.tr("Copy"))
        for button in (self.edit_button, self.regenerate_button, self.copy_button):
            actions.addWidget(button)
        self.edit_button.hide()
        self.regenerate_button.hide()
        self.edit_button.clicked.connect(self.edit_clicked)
        self.regenerate_button.clicked.connect(self.regenerate_clicked)
        self.copy_button.clicked.connect(self._copy)
        policy = self._actions.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # the row keeps its height while streaming
        self._actions.setSizePolicy(policy)
        header.addWidget(self._actions)
        layout.addLayout(header)

        self.sources_label = QLabel()
        self.sources_label.setWordWrap(True)
        self.sources_label.setTextFormat(Qt.TextFormat.RichText)
        self.sources_label.setOpenExternalLinks(False)
        self.sources_label.linkActivated.connect(self._cite)
        self.sources_label.hide()
        layout.addWidget(self.sources_label)

        self.body = MessageBody(self)
        self.body.anchorClicked.connect(lambda url: self._cite(url.toString()))
        layout.addWidget(self.body)

        footer = QHBoxLayout()
        footer.setContentsMargins(2, 0, 0, 0)
        footer.setSpacing(8)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info_label = QLabel()
        self.info_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        small = self.info_label.font()
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.85))
        self.info_label.setFont(small)
        self.status_label.setFont(small)
        footer.addWidget(self.status_label, 1)
        footer.addWidget(self.info_label, 0, Qt.AlignmentFlag.AlignRight)
        self._footer = QWidget()
        self._footer.setLayout(footer)
        layout.addWidget(self._footer)

        self._copied_timer = QTimer(self)
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(COPIED_MS)
        self._copied_timer.timeout.connect(lambda: self.copy_button.setText(self.tr("Copy")))

        self._apply_palette()
        self._update_sources()
        self._render()
        self._update_footer()
        self._update_actions()

    # -- public -------------------------------------------------------------------------------

    def data(self) -> MessageData:
        return dataclasses.replace(self._data)

    @property
    def role(self) -> str:
        return self._data.role

    @property
    def status(self) -> str:
        return self._data.status

    def content(self) -> str:
        return self._data.content

    def set_content(self, text: str,
                    citations: list[dict[str, Any]] | None = None) -> None:
        """Re-render the body; Markdown for assistant replies, plain text otherwise. With
        `citations`: the text's [n] checked (app/citations.py), rendered in the same pass."""
        self._data.content = text
        if citations is not None:
            self._data.citations = list(citations)
        self._render()

    def set_sources(self, sources: list[dict[str, Any]],
                    no_answer: dict[str, Any] | None = None) -> None:
        self._data.sources = list(sources)
        self._data.kb_no_answer = no_answer
        self._update_sources()
        self._render()

    def set_waiting_note(self, text: str) -> None:
        """Shown in place of "Generating…" until the reply's first text (reading the
        prompt: how far, how long yet)."""
        self._waiting_note = text
        self._update_footer()

    def _update_sources(self) -> None:
        sources = self._data.sources
        no_answer = self._data.kb_no_answer
        if no_answer is not None:
            best = no_answer.get("best_score")
            self.sources_label.setText(
                "<span style='color:#a15c00'>"
                + html.escape(self.tr("The knowledge base has no passage relevant to this "
                                      "question: this reply is not from it."))
                + "</span>")
            self.sources_label.setToolTip(
                self.tr("The best passage's similarity %1 is below the threshold %2")
                .replace("%1", "—" if best is None else f"{float(best):.3f}")
                .replace("%2", f"{float(no_answer.get('threshold') or 0):.2f}"))
            self.sources_label.show()
            return
        if not sources:
            self.sources_label.hide()
            return
        links = " · ".join(
            f'<a href="cite:{s["number"]}">[{s["number"]}] {html.escape(str(s.get("name", "")))}'
            f'</a> <span style="color:gray">{html.escape(str(s.get("location", "")))}</span>'
            for s in sources
        )
        self.sources_label.setText(
            self.tr("Sources given to the model:") + " " + links
        )
        self.sources_label.setToolTip(self.tr("Click a source to open it at the passage"))
        self.sources_label.show()

    def _cite(self, link: str) -> None:
        """cite:N (a source) or cite:N:I (the I-th citation of the reply, opened at the span
        that supports it); badcite:N, a source the model was not given, says so."""
        kind, _, rest = link.partition(":")
        parts = rest.split(":")
        try:
            number = int(parts[0])
            which = int(parts[1]) if len(parts) > 1 else -1
        except ValueError:
            return
        if kind == "cite":
            self.citation_clicked.emit(number, which)
        elif kind == "badcite":
            QToolTip.showText(QCursor.pos(), self.tr(
                "[%1] cites a source the model was not given: only %2 source(s) were in the "
                "prompt").replace("%1", str(number)).replace(
                    "%2", str(len(self._data.sources))), self)

    def set_status(self, status: str, info: str | None = None) -> None:
        self._data.status = status
        if info is not None:
            self._data.info = info
        self._update_footer()
        self._update_actions()

    def set_can_edit(self, can: bool) -> None:
        self._can_edit = can
        self.edit_button.setVisible(can)
        self._update_actions()

    def set_can_regenerate(self, can: bool) -> None:
        self._can_regenerate = can
        self.regenerate_button.setVisible(can)
        self._update_actions()

    def can_edit(self) -> bool:
        return self._can_edit

    def can_regenerate(self) -> bool:
        return self._can_regenerate

    def footer_text(self) -> str:
        return " ".join(t for t in (self.status_label.text(), self.info_label.text()) if t)

    # -- rendering ------------------------------------------------------------------------------

    def _render(self) -> None:
        text = self._data.content
        body = self.body
        if self._data.role == "assistant":
            text = link_citations(text, len(self._data.sources), self._data.citations)
            body.document().setMarkdown(text, MARKDOWN_FEATURES)
            doc = body.document()
            self._style_tables(doc)
            body.set_code_runs(self._style_code(doc), code_background(self.palette()))
        else:
            body.setPlainText(text)
            body.set_code_runs([], QColor())
        # An empty reply that is still starting shows only its "Generating…" footer.
        body.setVisible(bool(text))

    def _style_tables(self, doc: QTextDocument) -> None:
        """Thin collapsed grid lines and roomier cells instead of Qt's heavy 3D borders."""
        pal = self.palette()
        base = pal.color(QPalette.ColorRole.Base)
        grid = mix(base, pal.color(QPalette.ColorRole.Text), 0.2)
        header = code_background(pal)
        for frame in doc.rootFrame().childFrames():
            if not isinstance(frame, QTextTable):
                continue
            fmt = frame.format()
            fmt.setBorderCollapse(True)
            fmt.setBorder(1)
            fmt.setBorderBrush(grid)
            fmt.setBorderStyle(QTextFrameFormat.BorderStyle.BorderStyle_Solid)
            fmt.setCellSpacing(0)
            fmt.setCellPadding(5)
            fmt.setTopMargin(4)
            fmt.setBottomMargin(8)
            frame.setFormat(fmt)
            for column in range(frame.columns()):
                cell = frame.cellAt(0, column)
                cell_fmt = cell.format()
                cell_fmt.setBackground(header)
                cell.setFormat(cell_fmt)

    def _style_code(self, doc: QTextDocument) -> list[tuple[int, int]]:
        """Give fences a padded background and monospace font; inline code a light tint."""
        background = code_background(self.palette())
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        runs: list[tuple[int, int]] = []
        inline: list[tuple[int, int]] = []
        block = doc.begin()
        start: int | None = None
        while block.isValid():
            if is_code_block(block):
                if start is None:
                    start = block.blockNumber()
            else:
                if start is not None:
                    runs.append((start, block.blockNumber() - 1))
                    start = None
                it = block.begin()
                while not it.atEnd():
                    fragment = it.fragment()
                    if fragment.charFormat().fontFixedPitch():
                        inline.append((fragment.position(), fragment.length()))
                    it += 1
            block = block.next()
        if start is not None:
            runs.append((start, doc.blockCount() - 1))
        if not runs and not inline:
            return runs

        cursor = QTextCursor(doc)
        cursor.beginEditBlock()
        code_chars = QTextCharFormat()
        code_chars.setFontFamilies([fixed.family(), "monospace"])
        code_chars.setFontFixedPitch(True)
        for position, length in inline:
            cursor.setPosition(position)
            cursor.setPosition(position + length, QTextCursor.MoveMode.KeepAnchor)
            inline_chars = QTextCharFormat(code_chars)
            inline_chars.setBackground(
                mix(background, self.palette().color(QPalette.ColorRole.Text), 0.03)
            )
            cursor.mergeCharFormat(inline_chars)
        for first, last in runs:
            for number in range(first, last + 1):
                block = doc.findBlockByNumber(number)
                block_fmt = QTextBlockFormat()
                block_fmt.setBackground(background)
                block_fmt.setLeftMargin(CODE_PADDING)
                block_fmt.setRightMargin(CODE_PADDING)
                # Wrapping beats clipping: the bubble never scrolls sideways.
                block_fmt.setNonBreakableLines(False)
                block_fmt.setTopMargin(CODE_PADDING + 2 if number == first else 0)
                block_fmt.setBottomMargin(CODE_PADDING + 2 if number == last else 0)
                cursor.setPosition(block.position())
                cursor.mergeBlockFormat(block_fmt)
                cursor.movePosition(
                    QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor
                )
                cursor.mergeCharFormat(code_chars)
        cursor.endEditBlock()
        return runs

    # -- chrome ---------------------------------------------------------------------------------

    def _role_text(self, role: str) -> str:
        if role == "user":
            return self.tr("You")
        if role == "assistant":
            return self.tr("Assistant")
        if role == "system":
            return self.tr("System")
        return role

    def _tool_button(self, text: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        font = button.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        button.setFont(font)
        return button

    def _muted(self) -> QColor:
        pal = self.palette()
        return mix(pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base), 0.45)

    def _apply_palette(self) -> None:
        muted = self._muted()
        for widget in (self.info_label, self.edit_button, self.regenerate_button, self.copy_button):
            set_foreground(widget, muted)

    def _update_footer(self) -> None:
        status = self._data.status
        info = self._data.info
        dark = is_dark(self.palette())
        colour = self._muted()
        status_text = ""
        if status == "streaming":
            status_text = self._waiting_note if self._waiting_note and not self._data.content \
                else self.tr("Generating…")
        elif status == "interrupted":
            status_text = self.tr("Interrupted — the reply was cut off")
            colour = QColor("#f0a030" if dark else "#a85d00")
        elif status == "error":
            # The error message travels in ``info``; it is shown red instead of grey.
            status_text = self.tr("Error: {0}").format(info) if info else self.tr("Error")
            info = ""
            colour = QColor("#ff6b6b" if dark else "#c62828")
        elif status == "cancelled":
            status_text = self.tr("Stopped")
        self.status_label.setText(status_text)
        set_foreground(self.status_label, colour)
        self.status_label.setVisible(bool(status_text))
        self.info_label.setText(info)
        self.info_label.setVisible(bool(info))
        self._footer.setVisible(bool(status_text or info))

    def _update_actions(self) -> None:
        # Always visible (not hover-only): keyboard users can reach them, and a hover state
        # goes stale when the view scrolls under a still mouse. Muted text keeps them quiet.
        self._actions.setVisible(self._data.status != "streaming")

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self._data.content)
        self.copy_button.setText(self.tr("Copied"))
        self._copied_timer.start()
        self.copy_clicked.emit()

    # -- events ---------------------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_footer"):
            # Light/dark switch: code and table tints are baked into the document.
            self._apply_palette()
            self._update_footer()
            self._render()

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._data.role == "user":
            pal = self.palette()
            tint = mix(
                pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Highlight), 0.12
            )
            painter = QPainter(self)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(tint)
            left = USER_INDENT - 12
            painter.drawRoundedRect(QRectF(self.rect()).adjusted(left, 0, 0, 0), 12, 12)
            painter.end()
        super().paintEvent(event)
