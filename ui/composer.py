"""The message box under the conversation: Enter sends, Shift+Enter breaks the line."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QInputMethodEvent, QKeyEvent, QResizeEvent, QTextCursor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QWidget,
)

MIN_LINES = 1
MAX_LINES = 8


class ComposerEdit(QPlainTextEdit):
    """A plain-text box that grows with its content and turns keys into intents."""

    submit = Signal()
    up_in_empty = Signal()
    escape_pressed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._composing = False
        self.busy = False  # set by Composer; Esc only means "stop" while generating
        self.setTabChangesFocus(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().documentLayout().documentSizeChanged.connect(self._fit_height)
        self._fit_height()

    def visible_lines(self) -> int:
        # QPlainTextDocumentLayout reports its height in (wrapped) lines, not pixels.
        lines = math.ceil(self.document().documentLayout().documentSize().height())
        return max(MIN_LINES, min(MAX_LINES, lines))

    def _height_for_lines(self, lines: int) -> int:
        margins = self.contentsMargins()
        doc_margin = self.document().documentMargin()
        return int(
            lines * self.fontMetrics().lineSpacing()
            + 2 * doc_margin
            + margins.top()
            + margins.bottom()
            + 2 * self.frameWidth()
        )

    def _fit_height(self) -> None:
        height = self._height_for_lines(self.visible_lines())
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(height)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def inputMethodEvent(self, event: QInputMethodEvent) -> None:
        # While a pinyin (or any IME) candidate is being composed, Enter belongs to the IME.
        self._composing = bool(event.preeditString())
        super().inputMethodEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if self._composing:
                pass  # an IME that lets Enter through mid-candidate: neither send nor break
            elif mods & Qt.KeyboardModifier.ShiftModifier:
                # A real paragraph break, not the U+2028 QPlainTextEdit would insert.
                self.textCursor().insertText("\n")
                self.ensureCursorVisible()
            else:
                self.submit.emit()
            event.accept()
            return
        if (
            key == Qt.Key.Key_Up
            and mods == Qt.KeyboardModifier.NoModifier
            and not self.toPlainText()
        ):
            self.up_in_empty.emit()
            event.accept()
            return
        if key == Qt.Key.Key_Escape and self.busy:
            self.escape_pressed.emit()
            event.accept()
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    """Input box plus Send/Stop. It only asks; the owner sends, then calls clear()."""

    send_requested = Signal(str)
    stop_requested = Signal()
    edit_last_requested = Signal()
    text_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._busy = False
        self._can_send = True
        self._reason = ""

        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 10)
        layout.setSpacing(8)

        self.edit = ComposerEdit(self)
        self.edit.setPlaceholderText(self.tr("Message — Enter to send, Shift+Enter for a new line"))
        self.edit.setFrameShape(QFrame.Shape.StyledPanel)
        layout.addWidget(self.edit, 1, Qt.AlignmentFlag.AlignBottom)

        self.send_button = QPushButton(self.tr("Send"))
        self.send_button.setDefault(False)
        self.send_button.setAutoDefault(False)
        self.send_button.clicked.connect(self._send)
        self.stop_button = QPushButton(self.tr("Stop"))
        self.stop_button.setToolTip(self.tr("Stop generating (Esc)"))
        self.stop_button.setAutoDefault(False)
        self.stop_button.clicked.connect(self.stop_requested)
        self.stop_button.hide()
        for button in (self.send_button, self.stop_button):
            # Same width for both so swapping them does not shift the input box.
            button.setMinimumWidth(
                max(self.send_button.sizeHint().width(), self.stop_button.sizeHint().width())
            )
            layout.addWidget(button, 0, Qt.AlignmentFlag.AlignBottom)

        self.edit.submit.connect(self._send)
        self.edit.up_in_empty.connect(self.edit_last_requested)
        self.edit.escape_pressed.connect(self._escape)
        self.edit.textChanged.connect(self._on_text_changed)
        self._update_send_button()

    # -- public -------------------------------------------------------------------------------

    def text(self) -> str:
        return self.edit.toPlainText()

    def set_text(self, text: str) -> None:
        self.edit.setPlainText(text)
        self.edit.moveCursor(QTextCursor.MoveOperation.End)

    def clear(self) -> None:
        self.edit.clear()

    def focus_input(self) -> None:
        self.edit.setFocus(Qt.FocusReason.OtherFocusReason)

    def set_busy(self, busy: bool) -> None:
        """While generating: Stop replaces Send; typing the next message still works."""
        self._busy = busy
        self.edit.busy = busy
        self.send_button.setVisible(not busy)
        self.stop_button.setVisible(busy)
        self._update_send_button()

    def is_busy(self) -> bool:
        return self._busy

    def set_enabled_for_sending(self, enabled: bool, reason: str = "") -> None:
        """E.g. no model loaded: Send is disabled and its tooltip says why."""
        self._can_send = enabled
        self._reason = reason
        self._update_send_button()

    def can_send(self) -> bool:
        return self._can_send and not self._busy and bool(self.text().strip())

    # -- internals ------------------------------------------------------------------------------

    def _send(self) -> None:
        text = self.text().strip()
        if not text or not self._can_send or self._busy:
            return
        # The owner clears the box once it has accepted the message, so a send it refuses
        # (model busy, history still opening) keeps the draft.
        self.send_requested.emit(text)

    def _escape(self) -> None:
        if self._busy:
            self.stop_requested.emit()

    def _on_text_changed(self) -> None:
        self._update_send_button()
        self.text_changed.emit(self.text())

    def _update_send_button(self) -> None:
        self.send_button.setEnabled(self.can_send())
        if not self._can_send:
            self.send_button.setToolTip(self._reason or self.tr("Sending is not available now"))
        else:
            self.send_button.setToolTip(self.tr("Send (Enter)"))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Esc with focus on a button rather than the box.
        if event.key() == Qt.Key.Key_Escape and self._busy:
            self.stop_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)
