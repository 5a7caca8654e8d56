"""The conversation view: one cheap widget per message, Markdown replies, throttled streaming.

Streaming only ever re-renders the last message, at most ~30 times a second.
"""

from __future__ import annotations

import dataclasses
import html
import math
import re
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QEvent, QRectF, QSize, Qt, QTimer, QUrl, Signal, SignalInstance
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontDatabase,
    QGuiApplication,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QTextBlock,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextFrameFormat,
    QTextTable,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSpacerItem,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

ROLES = ("user", "assistant", "system")
STATUSES = ("complete", "streaming", "interrupted", "error", "cancelled")

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
STREAM_INTERVAL_MS = 33  # <= 30 renders per second, however fast tokens arrive
MAX_COLUMN_WIDTH = 860  # long lines are hard to read on wide windows
CODE_PADDING = 10
BOTTOM_SLACK = 32  # px from the bottom that still count as "at the bottom"
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


_CITATION = re.compile(r"\[(\d{1,2})\](?!\()")


def link_citations(markdown: str, count: int) -> str:
    """Turn [n] for existing sources into cite:n links, so a click opens the passage."""
    if count <= 0:
        return markdown

    def repl(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return f"[[{n}]](cite:{n})" if 1 <= n <= count else match.group(0)

    return _CITATION.sub(repl, markdown)


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    """a blended towards b by t, so colours follow light and dark palettes alike."""
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * t,
        a.greenF() + (b.greenF() - a.greenF()) * t,
        a.blueF() + (b.blueF() - a.blueF()) * t,
    )


def _set_foreground(widget: QWidget, colour: QColor) -> None:
    # Inside the Base-coloured view a label's foreground role is Text, elsewhere
    # WindowText; set both so the colour holds wherever the widget ends up.
    pal = widget.palette()
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        pal.setColor(role, colour)
    widget.setPalette(pal)


def _is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Base).lightnessF() < 0.5


def code_background(palette: QPalette) -> QColor:
    base = palette.color(QPalette.ColorRole.Base)
    return _mix(base, palette.color(QPalette.ColorRole.Text), 0.06)


def _is_code_block(block: QTextBlock) -> bool:
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
            border = _mix(background, self.palette().color(QPalette.ColorRole.Text), 0.08)
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


class MessageWidget(QFrame):
    """One message: role, action buttons, body and a status/info footer."""

    copy_clicked = Signal()
    edit_clicked = Signal()
    regenerate_clicked = Signal()
    citation_clicked = Signal(int)  # source number

    def __init__(self, data: MessageData, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data = dataclasses.replace(data)
        self._can_edit = False
        self._can_regenerate = False
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

    def set_content(self, text: str) -> None:
        """Re-render the body; Markdown for assistant replies, plain text otherwise."""
        self._data.content = text
        self._render()

    def set_sources(self, sources: list[dict[str, Any]]) -> None:
        self._data.sources = list(sources)
        self._update_sources()
        self._render()

    def _update_sources(self) -> None:
        sources = self._data.sources
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
        if link.startswith("cite:"):
            try:
                self.citation_clicked.emit(int(link[5:]))
            except ValueError:
                pass

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
            text = link_citations(text, len(self._data.sources))
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
        grid = _mix(base, pal.color(QPalette.ColorRole.Text), 0.2)
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
            if _is_code_block(block):
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
                _mix(background, self.palette().color(QPalette.ColorRole.Text), 0.03)
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
        return _mix(pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base), 0.45)

    def _apply_palette(self) -> None:
        muted = self._muted()
        for widget in (self.info_label, self.edit_button, self.regenerate_button, self.copy_button):
            _set_foreground(widget, muted)

    def _update_footer(self) -> None:
        status = self._data.status
        info = self._data.info
        dark = _is_dark(self.palette())
        colour = self._muted()
        status_text = ""
        if status == "streaming":
            status_text = self.tr("Generating…")
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
        _set_foreground(self.status_label, colour)
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
            tint = _mix(
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


class ChatView(QScrollArea):
    """The message list. Owns streaming: pieces are buffered and rendered on a timer."""

    copy_done = Signal(str)
    edit_requested = Signal(int)
    regenerate_requested = Signal(int)
    citation_clicked = Signal(int, int)  # message index, source number

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._widgets: list[MessageWidget] = []
        self._stream_widget: MessageWidget | None = None
        self._stream_parts: list[str] = []
        self._stream_dirty = False
        self._render_count = 0
        self._stick_to_bottom = True

        self._container = QWidget()
        self._container.setBackgroundRole(QPalette.ColorRole.Base)
        self._container.setAutoFillBackground(True)
        self._layout = QVBoxLayout(self._container)
        self._layout.setContentsMargins(16, 12, 16, 12)
        self._layout.setSpacing(10)

        self._placeholder = QWidget()
        ph_layout = QVBoxLayout(self._placeholder)
        ph_layout.addStretch(1)
        self._placeholder_title = QLabel(self.tr("Mingjing"))
        self._placeholder_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        title_font = self._placeholder_title.font()
        title_font.setPointSizeF(title_font.pointSizeF() * 1.6)
        title_font.setWeight(QFont.Weight.DemiBold)
        self._placeholder_title.setFont(title_font)
        self._placeholder_body = QLabel(self.tr("Type a message below to start."))
        self._placeholder_body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder_body.setWordWrap(True)
        pal = self._placeholder_body.palette()
        _set_foreground(
            self._placeholder_body,
            _mix(pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base), 0.45),
        )
        ph_layout.addWidget(self._placeholder_title)
        ph_layout.addWidget(self._placeholder_body)
        ph_layout.addStretch(1)
        self._placeholder.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self._layout.addWidget(self._placeholder)
        # Takes the slack under the messages so they sit at the top; collapsed while the
        # placeholder is shown so that one stays vertically centred.
        self._tail = QSpacerItem(0, 0, QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        self._layout.addItem(self._tail)
        self.setWidget(self._container)

        self._stream_timer = QTimer(self)
        self._stream_timer.setSingleShot(True)
        self._stream_timer.setInterval(STREAM_INTERVAL_MS)
        self._stream_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._stream_timer.timeout.connect(self._flush_stream)

        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._on_scrolled)
        bar.rangeChanged.connect(self._on_range_changed)
        self._update_placeholder()

    # -- messages -------------------------------------------------------------------------------

    def set_messages(self, messages: list[MessageData]) -> None:
        """Replace the whole conversation; built with updates off so 200 messages open at once."""
        self._cancel_stream()
        self.setUpdatesEnabled(False)
        try:
            self._remove_widgets(0)
            for data in messages:
                self._append_widget(data)
            self._refresh_actions()
            self._update_placeholder()
        finally:
            self.setUpdatesEnabled(True)
        self.scroll_to_bottom()

    def add_message(self, data: MessageData) -> MessageWidget:
        widget = self._append_widget(data)
        self._refresh_actions()
        self._update_placeholder()
        self.scroll_to_bottom()
        return widget

    def messages(self) -> list[MessageData]:
        result = [w.data() for w in self._widgets]
        if self._stream_widget is not None and self._stream_widget in self._widgets:
            result[self._widgets.index(self._stream_widget)].content = "".join(self._stream_parts)
        return result

    def message_widgets(self) -> list[MessageWidget]:
        return list(self._widgets)

    def count(self) -> int:
        return len(self._widgets)

    def remove_from(self, index: int) -> None:
        """Drop messages ``index`` onwards (regenerate / edit), cancelling a stream among them."""
        index = max(0, index)
        if self._stream_widget is not None and self._stream_widget in self._widgets[index:]:
            self._cancel_stream()
        self._remove_widgets(index)
        self._refresh_actions()
        self._update_placeholder()

    def clear(self) -> None:
        self.remove_from(0)

    def set_placeholder(self, title: str, body: str) -> None:
        self._placeholder_title.setText(title)
        self._placeholder_body.setText(body)

    def placeholder_visible(self) -> bool:
        return not self._placeholder.isHidden()

    # -- streaming ------------------------------------------------------------------------------

    def set_stream_sources(self, sources: list[dict[str, Any]]) -> None:
        """Show what was retrieved on the reply that is about to stream."""
        if self._stream_widget is not None:
            self._stream_widget.set_sources(sources)

    def begin_stream(self) -> MessageWidget:
        """Add an empty assistant message that append_stream() fills in."""
        self._cancel_stream()
        self._render_count = 0
        widget = self._append_widget(MessageData("assistant", "", status="streaming"))
        self._stream_widget = widget
        self._stream_parts = []
        self._stream_dirty = False
        self._refresh_actions()
        self._update_placeholder()
        self.scroll_to_bottom()
        return widget

    def append_stream(self, piece: str) -> None:
        """O(1): buffer the piece; the timer renders at most every STREAM_INTERVAL_MS."""
        if self._stream_widget is None or not piece:
            return
        self._stream_parts.append(piece)
        self._stream_dirty = True
        if not self._stream_timer.isActive():
            self._stream_timer.start()

    def end_stream(self, final_text: str, status: str = "complete", info: str = "") -> None:
        """Stop the timer and render the authoritative final text once."""
        widget = self._stream_widget
        if widget is None:
            return
        self._stream_timer.stop()
        self._stream_widget = None
        self._stream_parts = []
        self._stream_dirty = False
        widget.set_content(final_text)
        self._render_count += 1
        widget.set_status(status, info)
        self._refresh_actions()

    def is_streaming(self) -> bool:
        return self._stream_widget is not None

    def stream_text(self) -> str:
        return "".join(self._stream_parts)

    @property
    def render_count(self) -> int:
        """Markdown renders of the current (or last) streaming message."""
        return self._render_count

    def _flush_stream(self) -> None:
        widget = self._stream_widget
        if widget is None or not self._stream_dirty:
            return
        text = "".join(self._stream_parts)
        self._stream_parts = [text]  # keep the next join cheap
        self._stream_dirty = False
        widget.set_content(text)
        self._render_count += 1

    def _cancel_stream(self) -> None:
        self._stream_timer.stop()
        self._stream_widget = None
        self._stream_parts = []
        self._stream_dirty = False

    # -- scrolling ------------------------------------------------------------------------------

    def scroll_to_bottom(self) -> None:
        self._stick_to_bottom = True
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def is_at_bottom(self) -> bool:
        bar = self.verticalScrollBar()
        return bar.value() >= bar.maximum() - BOTTOM_SLACK

    def _on_scrolled(self, _value: int) -> None:
        # Only the reader moves the bar away from the bottom; growth keeps value fixed.
        self._stick_to_bottom = self.is_at_bottom()

    def _on_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._stick_to_bottom:
            self.verticalScrollBar().setValue(maximum)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        side = max(16, (self.viewport().width() - MAX_COLUMN_WIDTH) // 2)
        margins = self._layout.contentsMargins()
        if margins.left() != side:
            self._layout.setContentsMargins(side, margins.top(), side, margins.bottom())

    # -- internals ------------------------------------------------------------------------------

    def _append_widget(self, data: MessageData) -> MessageWidget:
        widget = MessageWidget(data, self._container)
        widget.copy_clicked.connect(lambda w=widget: self.copy_done.emit(w.content()))
        widget.edit_clicked.connect(lambda w=widget: self._emit_for(w, self.edit_requested))
        widget.regenerate_clicked.connect(
            lambda w=widget: self._emit_for(w, self.regenerate_requested)
        )
        widget.citation_clicked.connect(
            lambda n, w=widget: self.citation_clicked.emit(self._widgets.index(w), n)
            if w in self._widgets else None
        )
        self._layout.insertWidget(self._layout.count() - 1, widget)
        self._widgets.append(widget)
        return widget

    def _emit_for(self, widget: MessageWidget, signal: SignalInstance) -> None:
        if widget in self._widgets:
            signal.emit(self._widgets.index(widget))

    def _remove_widgets(self, index: int) -> None:
        doomed = self._widgets[index:]
        del self._widgets[index:]
        for widget in doomed:
            widget.hide()
            self._layout.removeWidget(widget)
            widget.deleteLater()

    def _refresh_actions(self) -> None:
        streaming = self._stream_widget is not None
        last_user = max((i for i, w in enumerate(self._widgets) if w.role == "user"), default=-1)
        last = len(self._widgets) - 1
        for i, widget in enumerate(self._widgets):
            # Editing or regenerating mid-stream would race the worker; Stop comes first.
            widget.set_can_edit(not streaming and i == last_user)
            # Only a reply that ends the conversation: regenerating an earlier one would
            # silently drop the user's later message.
            widget.set_can_regenerate(not streaming and i == last and widget.role == "assistant")

    def _update_placeholder(self) -> None:
        empty = not self._widgets
        self._placeholder.setVisible(empty)
        vertical = QSizePolicy.Policy.Fixed if empty else QSizePolicy.Policy.Expanding
        self._tail.changeSize(0, 0, QSizePolicy.Policy.Minimum, vertical)
        self._layout.invalidate()
