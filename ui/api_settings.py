"""The Settings dialog's API part: serve the OpenAI-compatible API while the window is open,
on which port, and the token clients send (shown, copied, made anew)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.settings import Settings, new_api_token
from engine.limits import LIMITS


class ApiSettingsBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("API server (OpenAI-compatible)"), parent)
        form = QFormLayout(self)
        self.enabled = QCheckBox(self.tr("Serve the API while Mingjing is open"))
        self.enabled.setToolTip(self.tr(
            "Programs on this computer (editors, scripts, other chat apps) can use the model "
            "and your knowledge bases through the OpenAI API; the window and the API take "
            "turns on the model."))
        form.addRow(self.enabled)
        self.port = QSpinBox()
        limit = LIMITS["api_port"]
        self.port.setRange(int(limit.low), int(limit.high))
        form.addRow(self.tr("Port"), self.port)
        self.address = QLabel()
        self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.tr("Address"), self.address)
        self.token = QLineEdit()
        self.token.setReadOnly(True)
        self.copy = QPushButton(self.tr("Copy"))
        self.copy.setToolTip(self.tr("Copy the token to the clipboard"))
        self.regenerate = QPushButton(self.tr("Regenerate"))
        self.regenerate.setToolTip(self.tr(
            "Make a new token; programs using the old one are refused from OK on"))
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.token, 1)
        row.addWidget(self.copy)
        row.addWidget(self.regenerate)
        holder = QWidget()
        holder.setLayout(row)
        form.addRow(self.tr("Token"), holder)
        note = QLabel(self.tr("Only programs on this computer can connect (127.0.0.1). They "
                              "send the token as the API key (Authorization: Bearer …)."))
        note.setWordWrap(True)
        note.setEnabled(False)
        form.addRow(note)
        self.port.valueChanged.connect(self._show_address)
        self.enabled.toggled.connect(self._show_address)
        self.copy.clicked.connect(self.copy_token)
        self.regenerate.clicked.connect(lambda: self._show_token(new_api_token()))

    def show_settings(self, s: Settings) -> None:
        self.enabled.setChecked(s.api_enabled)
        self.port.setValue(s.api_port)
        # The token is made once, the first time it is shown (kept when the dialog is OK'd);
        # restoring the defaults keeps the token in use.
        self._show_token(s.api_token or self.token.text() or new_api_token())
        self._show_address()

    def apply_to(self, s: Settings) -> None:
        s.api_enabled = self.enabled.isChecked()
        s.api_port = self.port.value()
        s.api_token = self.token.text()

    def copy_token(self) -> None:
        clipboard = QApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(self.token.text())

    def _show_token(self, token: str) -> None:
        self.token.setText(token)
        self.token.setCursorPosition(0)  # its beginning, which people compare

    def _show_address(self) -> None:
        self.address.setText(f"http://127.0.0.1:{self.port.value()}/v1")
        self.address.setEnabled(self.enabled.isChecked())
