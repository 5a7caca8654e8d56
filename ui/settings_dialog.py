"""Preferences: sampling, system prompt, context size, threads, GPU layers, chat format, the
interface language and the API server."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.settings import TEMPLATE_CHOICES, Settings
from engine.types import SamplingParams, default_threads
from ui.api_settings import ApiSettingsBox
from ui.format import fill, human_bytes
from ui.i18n import available_languages

if TYPE_CHECKING:
    from engine.devices import Device


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None, *,
                 devices: Sequence[Device] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Settings"))
        self.setMinimumWidth(460)
        self._original = settings
        layout = QVBoxLayout(self)

        self.system_prompt = QPlainTextEdit()
        self.system_prompt.setPlaceholderText(self.tr("Optional instructions for every reply"))
        self.system_prompt.setFixedHeight(80)
        box = QGroupBox(self.tr("System prompt"))
        QVBoxLayout(box).addWidget(self.system_prompt)
        layout.addWidget(box)

        sampling = QGroupBox(self.tr("Sampling"))
        form = QFormLayout(sampling)
        self.temperature = self._double(0.0, 2.0, 0.05, 2)
        self.temperature.setToolTip(self.tr("0 always picks the most likely token"))
        self.top_p = self._double(0.0, 1.0, 0.01, 2)
        self.top_k = self._int(0, 1000)
        self.top_k.setToolTip(self.tr("0 keeps every candidate"))
        self.min_p = self._double(0.0, 1.0, 0.01, 2)
        self.repeat_penalty = self._double(1.0, 2.0, 0.01, 2)
        self.max_tokens = self._int(1, 32768)
        self.seed = self._int(-1, 2**31 - 1)
        self.seed.setSpecialValueText(self.tr("random"))
        form.addRow(self.tr("Temperature"), self.temperature)
        form.addRow(self.tr("Top-p"), self.top_p)
        form.addRow(self.tr("Top-k"), self.top_k)
        form.addRow(self.tr("Min-p"), self.min_p)
        form.addRow(self.tr("Repeat penalty"), self.repeat_penalty)
        form.addRow(self.tr("Max reply tokens"), self.max_tokens)
        form.addRow(self.tr("Seed"), self.seed)
        layout.addWidget(sampling)

        model = QGroupBox(self.tr("Model (changes reload the model)"))
        mform = QFormLayout(model)
        self.n_ctx = self._int(256, 131072)
        self.n_ctx.setSingleStep(256)
        self.n_threads = self._int(1, 256)
        self.n_gpu_layers = self._int(-1, 999)
        self.n_gpu_layers.setSpecialValueText(self.tr("auto (all that fit)"))
        self.n_gpu_layers.setToolTip(self.tr(
            "How many of the model's layers run on the GPU: auto plans it at each load from "
            "the layers' sizes, the KV cache and the GPU's free memory; 0 keeps everything "
            "on the CPU."))
        self.device = QComboBox()
        self.device.addItem(self.tr("Automatic (the GPU with the most free memory)"), "auto")
        self.device.addItem(self.tr("CPU only"), "cpu")
        for device in devices:
            if device.is_gpu:
                self.device.addItem(fill(self.tr("%1: %2 (%3 free of %4)"), device.name,
                                         device.description, human_bytes(device.free_bytes),
                                         human_bytes(device.total_bytes)), device.name)
        self.device.setToolTip(self.tr("Remembered for each model.") if any(
            d.is_gpu for d in devices) else self.tr(
            "llama.cpp sees no GPU here: this build runs on the CPU (a GPU build: "
            "`make gpu`, see the README)."))
        self.template = QComboBox()
        labels = {
            "auto": self.tr("Model's own (base models continue text)"),
            "completion": self.tr("Plain text continuation"),
            "gemma": self.tr("Gemma turns"),
            "chatml": self.tr("ChatML"),
        }
        for key in TEMPLATE_CHOICES:
            self.template.addItem(labels[key], key)
        mform.addRow(self.tr("Context size (tokens)"), self.n_ctx)
        mform.addRow(self.tr("CPU threads"), self.n_threads)
        mform.addRow(self.tr("Device (this model)"), self.device)
        mform.addRow(self.tr("GPU layers"), self.n_gpu_layers)
        self.gpu_limit = self._int(0, 1 << 24)
        self.gpu_limit.setSingleStep(256)
        self.gpu_limit.setSuffix(" MiB")
        self.gpu_limit.setSpecialValueText(self.tr("no limit"))
        self.gpu_limit.setToolTip(self.tr(
            "The most GPU memory a model may take (its layers, their KV cache and working "
            "buffers): auto offloads fewer layers to stay under it, leaving the rest of the "
            "GPU to other programs."))
        mform.addRow(self.tr("GPU memory limit"), self.gpu_limit)
        mform.addRow(self.tr("Chat format"), self.template)
        self.speculative = QCheckBox(self.tr("Speculative decoding (greedy replies)"))
        self.speculative.setToolTip(self.tr(
            "Drafts the next tokens from the prompt, or with a smaller model of the same "
            "family when one is installed, and checks them in one batch: often much faster "
            "when the answer quotes its sources. Rarely, where two tokens are almost equally "
            "likely, the reply can differ from plain decoding."))
        mform.addRow("", self.speculative)
        note = QLabel(self.tr("Default threads on this computer: %n", "", default_threads()))
        note.setEnabled(False)
        mform.addRow("", note)
        layout.addWidget(model)

        interface = QGroupBox(self.tr("Interface"))
        iform = QFormLayout(interface)
        self.language = QComboBox()
        for code, name in available_languages():  # each name in its own language
            self.language.addItem(name, code)
        self.language.setToolTip(self.tr("The new language shows fully after Mingjing restarts"))
        # Both languages in the label, so whoever cannot read the current one still finds it.
        iform.addRow(self.tr("Language / 语言"), self.language)
        layout.addWidget(interface)

        knowledge = QGroupBox(self.tr("Knowledge bases"))
        kform = QFormLayout(knowledge)
        self.translate_queries = QCheckBox(
            self.tr("Translate the question first when a knowledge base holds the other "
                    "language"))
        self.translate_queries.setToolTip(self.tr(
            "The chat model translates a Chinese question into English (or an English one "
            "into Chinese) and both are searched: about a second on an ordinary CPU, and "
            "passages in the other language are found far more often"))
        kform.addRow(self.translate_queries)
        layout.addWidget(knowledge)

        self.api = ApiSettingsBox()
        layout.addWidget(self.api)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        restore = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        restore.clicked.connect(lambda: self._show(Settings()))
        layout.addWidget(buttons)
        self._show(settings)

    @staticmethod
    def _double(lo: float, hi: float, step: float, decimals: int) -> QDoubleSpinBox:
        box = QDoubleSpinBox()
        box.setRange(lo, hi)
        box.setSingleStep(step)
        box.setDecimals(decimals)
        return box

    @staticmethod
    def _int(lo: int, hi: int) -> QSpinBox:
        box = QSpinBox()
        box.setRange(lo, hi)
        return box

    def _show(self, s: Settings) -> None:
        self.system_prompt.setPlainText(s.system_prompt)
        self.temperature.setValue(s.sampling.temperature)
        self.top_p.setValue(s.sampling.top_p)
        self.top_k.setValue(s.sampling.top_k)
        self.min_p.setValue(s.sampling.min_p)
        self.repeat_penalty.setValue(s.sampling.repeat_penalty)
        self.max_tokens.setValue(s.sampling.max_tokens)
        self.seed.setValue(s.sampling.seed)
        self.n_ctx.setValue(s.n_ctx)
        self.n_threads.setValue(s.n_threads)
        self.n_gpu_layers.setValue(s.n_gpu_layers)
        self.gpu_limit.setValue(s.gpu_limit_mb)
        chosen = s.device_for(s.model)
        if self.device.findData(chosen) < 0:  # a GPU not seen now: kept, shown by name
            self.device.addItem(chosen, chosen)
        self.device.setCurrentIndex(self.device.findData(chosen))
        self.template.setCurrentIndex(max(0, self.template.findData(s.chat_template)))
        self.speculative.setChecked(s.speculative)
        self.language.setCurrentIndex(max(0, self.language.findData(s.language)))
        self.translate_queries.setChecked(s.translate_queries)
        self.api.show_settings(s)

    def result_settings(self) -> Settings:
        """A copy of the original settings with the dialog's values."""
        s = copy.deepcopy(self._original)
        s.system_prompt = self.system_prompt.toPlainText().strip()
        s.sampling = SamplingParams(
            temperature=self.temperature.value(),
            top_p=self.top_p.value(),
            top_k=self.top_k.value(),
            min_p=self.min_p.value(),
            repeat_penalty=self.repeat_penalty.value(),
            max_tokens=self.max_tokens.value(),
            seed=self.seed.value(),
            stop=self._original.sampling.stop,
        )
        s.n_ctx = self.n_ctx.value()
        s.n_threads = self.n_threads.value()
        s.n_gpu_layers = self.n_gpu_layers.value()
        s.gpu_limit_mb = self.gpu_limit.value()
        device = str(self.device.currentData())
        s.model_devices = dict(s.model_devices)
        if device == "auto":
            s.model_devices.pop(s.model, None)
        else:
            s.model_devices[s.model] = device
        s.chat_template = str(self.template.currentData())
        s.speculative = self.speculative.isChecked()
        s.language = str(self.language.currentData())
        s.translate_queries = self.translate_queries.isChecked()
        self.api.apply_to(s)
        return s

    @staticmethod
    def needs_reload(old: Settings, new: Settings) -> bool:
        return (old.n_ctx, old.n_threads, old.n_gpu_layers, old.gpu_limit_mb,
                old.chat_template, old.speculative, old.device_for(old.model)) != (
            new.n_ctx, new.n_threads, new.n_gpu_layers, new.gpu_limit_mb, new.chat_template,
            new.speculative, new.device_for(new.model))
