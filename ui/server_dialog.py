"""Add a model on an OpenAI-compatible server (llama-server, vLLM, Ollama, another
Mingjing): its address, its API key, and which of its models. Asking the server for its
models runs on a background thread; the dialog never waits on the network."""

from __future__ import annotations

import logging

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from models.refs import ModelRef
from ui.tasks import Lane

log = logging.getLogger(__name__)


class ServerDialog(QDialog):
    def __init__(self, lane: Lane, parent: QWidget | None = None, *, url: str = "",
                 api_key: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Add a model on a server"))
        self._lane = lane
        self.url = QLineEdit(url)
        self.url.setPlaceholderText("http://192.168.1.20:8080/v1")
        self.key = QLineEdit(api_key)
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText(self.tr("empty if the server needs none"))
        self.connect_button = QPushButton(self.tr("List its models"))
        self.connect_button.clicked.connect(self.list_models)
        self.models = QComboBox()
        self.models.setEnabled(False)
        self.status = QLabel(self.tr(
            "Your documents stay here: only the prompt (with the passages retrieved for it) "
            "goes to the server."))
        self.status.setWordWrap(True)
        form = QFormLayout()
        form.addRow(self.tr("Server address:"), self.url)
        form.addRow(self.tr("API key:"), self.key)
        form.addRow("", self.connect_button)
        form.addRow(self.tr("Model:"), self.models)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.resize(520, self.sizeHint().height())
        # Another address or key: its models must be listed again before OK.
        self.url.textEdited.connect(self._changed)
        self.key.textEdited.connect(self._changed)
        self.url.returnPressed.connect(self.list_models)

    def _changed(self) -> None:
        self.models.clear()
        self.models.setEnabled(False)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)

    def list_models(self) -> None:
        from engine.remote import RemoteConfig, list_models

        config = RemoteConfig(self.url.text().strip(), api_key=self.key.text().strip() or None,
                              read_timeout=15)
        self.connect_button.setEnabled(False)
        self.status.setText(self.tr("Asking the server…"))
        self._lane.submit(lambda: list_models(config), self._listed, self._failed)

    def _listed(self, names: list[str]) -> None:
        self.connect_button.setEnabled(True)
        self.models.clear()
        self.models.addItems(names)
        self.models.setEnabled(bool(names))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(names))
        self.status.setText(self.tr("%n model(s) on this server.", "", len(names)))

    def _failed(self, exc: BaseException) -> None:
        from engine.errors import EngineError

        self.connect_button.setEnabled(True)
        if isinstance(exc, EngineError):  # the server's world: refused, unreachable, ...
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        else:  # a bug: its traceback goes to the log, not on the screen
            log.error("listing a server's models failed", exc_info=exc)
            text = self.tr("Unexpected error (details in the log).")
        self.status.setText(text)

    def result_ref(self) -> ModelRef:
        return ModelRef.remote(self.url.text().strip(), self.models.currentText())

    def result_key(self) -> str:
        return self.key.text().strip()
