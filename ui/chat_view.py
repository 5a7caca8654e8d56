"""The conversation view: one cheap widget per message, Markdown replies, throttled streaming.

Streaming only ever re-renders the last message, at most ~30 times a second. The message
widgets themselves live in ui.message_widget.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, SignalInstance
from PySide6.QtGui import QFont, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSpacerItem,
    QVBoxLayout,
    QWidget,
)

from ui.colours import mix, set_foreground
from ui.message_widget import MessageData, MessageWidget

STREAM_INTERVAL_MS = 33  # <= 30 renders per second, however fast tokens arrive
MAX_COLUMN_WIDTH = 860  # long lines are hard to read on wide windows
BOTTOM_SLACK = 32  # px from the bottom that still count as "at the bottom"


class ChatView(QScrollArea):
    """The message list. Owns streaming: pieces are buffered and rendered on a timer."""

    copy_done = Signal(str)
    edit_requested = Signal(int)
    regenerate_requested = Signal(int)
    citation_clicked = Signal(int, int, int)  # message index, source number, citation (-1)

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
        set_foreground(
            self._placeholder_body,
            mix(pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base), 0.45),
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

    def set_stream_sources(self, sources: list[dict[str, Any]],
                           no_answer: dict[str, Any] | None = None) -> None:
        """Show what was retrieved on the reply that is about to stream (or that the
        knowledge bases had nothing relevant)."""
        if self._stream_widget is not None:
            self._stream_widget.set_sources(sources, no_answer)

    def set_stream_note(self, text: str) -> None:
        """What the reply that is about to stream is waiting for (reading the prompt)."""
        if self._stream_widget is not None:
            self._stream_widget.set_waiting_note(text)

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

    def end_stream(self, final_text: str, status: str = "complete", info: str = "",
                   citations: list[dict[str, Any]] | None = None) -> None:
        """Stop the timer and render the authoritative final text once."""
        widget = self._stream_widget
        if widget is None:
            return
        self._stream_timer.stop()
        self._stream_widget = None
        self._stream_parts = []
        self._stream_dirty = False
        widget.set_content(final_text, citations)
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
            lambda n, i, w=widget: self.citation_clicked.emit(self._widgets.index(w), n, i)
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
