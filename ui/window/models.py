"""The model: the toolbar's picker (built-in models, recent files, Open…), loading on the
model thread, the model label, the base-model banner and the empty chat's placeholder."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QMessageBox, QProgressBar, QWidget

from ui.chat_view import ChatView
from ui.format import human_bytes, human_count
from ui.model_worker import LoadedModel, LoadRequest, ModelThread
from ui.window.preferences import SettingsController

if TYPE_CHECKING:
    from models.refs import ModelRef
    from ui.server_dialog import ServerDialog

OPEN_MODEL = "__open__"  # the picker's entry that chooses a file
ADD_SERVER = "__server__"  # the picker's entry for a model on an OpenAI-compatible server
GET_MODELS = "__get__"  # the picker's last entry: the catalog


class ModelController(QObject):
    status = Signal(str)
    load_requested = Signal()  # another model is about to load: a streaming reply stops
    state_changed = Signal()  # loading started or ended (`loading`, `model`)
    ready = Signal(object)  # LoadedModel, once the window shows it
    failed = Signal(str)  # one-line reason; the previous model stays
    get_models = Signal()  # the picker asks for the catalog window

    def __init__(self, preferences: SettingsController, picker: QComboBox, label: QLabel,
                 banner: QLabel, progress: QProgressBar, chat_view: ChatView,
                 window: QWidget) -> None:
        super().__init__(window)
        self.model: LoadedModel | None = None
        self.loading = False
        # Added to the "model loaded" message: the start-up's notice of recovered replies.
        self.loaded_notice: Callable[[], str] = lambda: ""
        self._prefs = preferences
        self._picker = picker
        self._label = label
        self._banner = banner
        self._progress = progress
        self._chat_view = chat_view
        self._window = window
        self._thread: ModelThread | None = None
        self._server_dialog: ServerDialog | None = None
        picker.activated.connect(self._picked)
        self.fill_picker()
        self._show_placeholder()

    def attach(self, thread: ModelThread) -> None:
        self._thread = thread
        worker = thread.worker
        worker.load_started.connect(self._on_load_started)
        worker.loaded.connect(self._on_loaded)
        worker.load_failed.connect(self._on_load_failed)

    # ------------------------------------------------------------------ the picker

    def fill_picker(self) -> None:
        from models.builtin import BUILTIN_MODELS
        from models.refs import ModelRef

        picker = self._picker
        settings = self._prefs.settings
        picker.blockSignals(True)
        picker.clear()
        for model in BUILTIN_MODELS:
            label = (self.tr("%s (built-in, chat)") if model.is_chat
                     else self.tr("%s (built-in, base model)")) % model.label
            picker.addItem(label, str(ModelRef.builtin(model)))
            picker.setItemData(
                picker.count() - 1,
                self.tr("Instruction-tuned: it answers.") if model.is_chat else
                self.tr("Pretrained only: it continues text."), Qt.ItemDataRole.ToolTipRole)
        for text in settings.recent_models:
            try:
                ref = ModelRef.parse(text)
            except ValueError:
                continue
            if ref.kind == "remote":
                url, name = ref.remote_parts
                picker.addItem(self.tr("%s (on %s)") % (name or self.tr("model"), url),
                               str(ref))
                tip = self.tr("A model on an OpenAI-compatible server: %s") % url
            else:
                picker.addItem(ref.display_name, str(ref))
                tip = ref.value
            picker.setItemData(picker.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        picker.insertSeparator(picker.count())
        picker.addItem(self.tr("Open model file…"), OPEN_MODEL)
        picker.addItem(self.tr("Add a model on a server…"), ADD_SERVER)
        picker.setItemData(picker.count() - 1, self.tr(
            "llama.cpp's llama-server, vLLM, Ollama, LM Studio or another Mingjing: any "
            "OpenAI-compatible server"), Qt.ItemDataRole.ToolTipRole)
        picker.addItem(self.tr("Get more models…"), GET_MODELS)
        index = picker.findData(str(settings.model_ref))
        picker.setCurrentIndex(max(0, index))
        picker.blockSignals(False)

    def _picked(self, index: int) -> None:
        from models.refs import ModelRef

        data = self._picker.itemData(index)
        if data == OPEN_MODEL:
            self.fill_picker()  # restore the shown selection until a file is chosen
            self.open_file_dialog()
        elif data == ADD_SERVER:
            self.fill_picker()
            self.add_server_dialog()
        elif data == GET_MODELS:
            self.fill_picker()
            self.get_models.emit()
        elif isinstance(data, str):
            self.load(ModelRef.parse(data))

    def open_file_dialog(self) -> None:
        recent = self._prefs.settings.recent_models
        start = str(Path(recent[0]).parent) if recent else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self._window,
            self.tr("Open a GGUF model"),
            start,
            self.tr("GGUF models (*.gguf);;All files (*)"),
        )
        if path:
            from models.refs import ModelRef

            self.load(ModelRef.file(path))

    def add_server_dialog(self) -> None:
        """Settings → a model on a server: address, key, and one of its models."""
        from ui.server_dialog import ServerDialog
        from ui.tasks import Lane

        settings = self._prefs.settings
        if self._server_dialog is None:  # kept: its lane may still answer after it closes
            current = settings.model_ref
            url = current.remote_parts[0] if current.kind == "remote" else ""
            self._server_dialog = ServerDialog(Lane("server-models", self), self._window,
                                               url=url, api_key=settings.server_key(current)
                                               or "")
        dialog = self._server_dialog
        if dialog.exec() != ServerDialog.DialogCode.Accepted:
            return
        ref = dialog.result_ref()
        settings.set_server_key(ref.remote_parts[0], dialog.result_key())
        self._prefs.save()
        self.load(ref)

    # ------------------------------------------------------------------ loading

    def load(self, ref: ModelRef) -> None:
        if self._thread is None:
            return
        self.load_requested.emit()
        settings = self._prefs.settings
        self._thread.load(
            LoadRequest(ref=ref, params=settings.load_params(), template=settings.template_arg(),
                        api_key=settings.server_key(ref))
        )

    def settings_applied(self, reload: bool) -> None:
        if reload:  # context size, threads, GPU layers or chat format changed
            self.load(self._prefs.settings.model_ref)

    def _on_load_started(self, label: str) -> None:
        self.loading = True
        self._progress.show()
        self._picker.setEnabled(False)
        self.status.emit(self.tr("Loading %s…") % Path(label).name)
        self.state_changed.emit()

    def _on_loaded(self, loaded: LoadedModel) -> None:
        self.loading = False
        self.model = loaded
        self._progress.hide()
        self._picker.setEnabled(True)
        self._prefs.settings.choose_model(loaded.ref)
        self._prefs.save()
        self.fill_picker()
        info = loaded.info
        kind = self.tr("chat") if loaded.mode == "chat" else self.tr("base model: continues text")
        if info is None:  # a model on a server
            self._label.setText(f"<b>{html.escape(loaded.name)}</b> · "
                                + self.tr("on a server") + f" · {kind}")
            self._label.setToolTip(
                loaded.path + "\n"
                + self.tr("context: %d tokens") % loaded.n_ctx)
        else:
            self._label.setText(
                f"<b>{html.escape(info.name)}</b> · {human_count(info.parameter_count)} · "
                f"{info.quantization} · {human_bytes(info.file_size)} · {kind}"
            )
            self._label.setToolTip(
                f"{info.path}\n"
                + self.tr("%s, %s parameters, %.2f bits/weight")
                % (info.architecture, f"{info.parameter_count:,}", info.bits_per_weight)
                + "\n"
                + self.tr("context in use: %d tokens (trained: %s)")
                % (loaded.n_ctx, info.context_length)
            )
        if loaded.mode == "completion":
            self._banner.setText(self.tr(
                "<b>Base model.</b> %s has no chat template: it was only pretrained, so it "
                "continues whatever text you give it instead of answering. Type the start of "
                "a text. To chat, pick the built-in chat model in the Model list."
            ) % html.escape(loaded.name))
            self._banner.show()
        else:
            self._banner.hide()
        message = self.tr("Model loaded in %.1f s.") % loaded.load_s
        placement = loaded.placement
        if placement is not None and placement.n_gpu_layers > 0 and placement.plan:
            message += " " + self.tr("%1 of %2 layers on %3.").replace(
                "%1", str(placement.plan.n_gpu_layers)).replace(
                "%2", str(placement.plan.layers_total)).replace("%3", placement.gpu.name
                                                              if placement.gpu else "GPU")
        if placement is not None and placement.notice:
            message += " " + placement.notice
        notice = self.loaded_notice()
        if notice:
            message += " " + notice
        self.status.emit(message)
        self._show_placeholder()
        self.state_changed.emit()
        self.ready.emit(loaded)

    def _on_load_failed(self, label: str, message: str, still_loaded: bool) -> None:
        self.loading = False
        self._progress.hide()
        self._picker.setEnabled(True)
        if not still_loaded:
            self.model = None  # Send stays off until a model loads
        self.fill_picker()
        if self.model is not None:
            self.status.emit(self.tr("Kept %s loaded.") % self.model.name)
        else:
            self.status.emit(self.tr("No model loaded."))
        self.state_changed.emit()
        self.failed.emit(message)
        QMessageBox.warning(self._window, self.tr("Could not load the model"), message)

    def _show_placeholder(self) -> None:
        """What the empty chat says: it depends only on the model."""
        if self.model is None:
            self._chat_view.set_placeholder("明镜 Mingjing", self.tr("Loading the model…"))
        elif self.model.mode == "completion":
            self._chat_view.set_placeholder(
                self.model.name,
                self.tr("Type the beginning of a text, for example “The capital of France "
                        "is”, and the model will continue it."),
            )
        else:
            self._chat_view.set_placeholder(self.model.name,
                                            self.tr("Type a message below."))
