"""The Model tab: what the model file (or the server) says about the model, one line of
explanation per fact."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QScrollArea, QVBoxLayout, QWidget

from ui.format import fill, human_bytes, human_count

if TYPE_CHECKING:
    from engine.placement import Placement
    from ui.model_worker import LoadedModel

MUTED = "color: palette(mid);"


class ModelCard(QWidget):
    """What the model file says about itself, one line of explanation per fact."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 4, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        body = QWidget()
        self.form = QFormLayout(body)
        self.form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        scroll.setWidget(body)
        outer.addWidget(scroll)
        self.values: dict[str, str] = {}
        self.form.addRow(QLabel(self.tr("No model loaded yet.")))

    def set_model(self, loaded: LoadedModel) -> None:
        """The loaded model's facts: from the GGUF file for a local model, from the server
        (and what it can tell) for a model on a server."""
        while self.form.rowCount():
            self.form.removeRow(0)
        if loaded.info is None:
            self._show_rows(self._server_rows(loaded))
            return
        info, n_ctx, mode, build = loaded.info, loaded.n_ctx, loaded.mode, loaded.build
        kv = info.kv_cache_bytes(n_ctx)
        trained = info.context_length
        template = self._template(mode)

        def tokens(n: int) -> str:
            return fill(self.tr("%1 tokens"), f"{n:,}")

        memory = fill(self.tr("about %1 (weights %2 + KV cache %3)"),
                      human_bytes(info.file_size + kv), human_bytes(info.file_size),
                      human_bytes(kv)) if kv is not None else self.tr("unknown")
        rows = [
            ("name", self.tr("Name"), str(info.name), ""),
            ("architecture", self.tr("Architecture"), str(info.architecture),
             self.tr("The network design llama.cpp runs (layers of attention and "
                     "feed-forward blocks).")),
            ("parameters", self.tr("Parameters"),
             f"{human_count(info.parameter_count)} ({info.parameter_count:,})",
             self.tr("The learned numbers (weights). More usually means more capable, "
                     "bigger and slower.")),
            ("quantization", self.tr("Quantization"),
             fill(self.tr("%1, %2 bits per weight"), info.quantization,
                  f"{info.bits_per_weight:.2f}"),
             self.tr("Weights stored with fewer bits than the 16 they were trained in: "
                     "smaller and faster, slightly less precise.")),
            ("file_size", self.tr("File size"), human_bytes(info.file_size),
             self.tr("Roughly the memory the weights take once loaded.")),
            ("trained_context", self.tr("Trained context"),
             tokens(trained) if trained else self.tr("unknown"),
             self.tr("The longest text the model saw in training; beyond it quality drops.")),
            ("context", self.tr("Context in use"), tokens(n_ctx),
             self.tr("The window chosen in Settings: how much the model can see at once.")),
            ("template", self.tr("Chat template"), template,
             self.tr("Instruction-tuned models come with a template that marks whose turn it "
                     "is; pretrained (base) models have none and just continue text.")),
            ("vocabulary", self.tr("Vocabulary"),
             tokens(info.vocab_size) if info.vocab_size
             else self.tr("unknown"),
             self.tr("How many different tokens the tokenizer knows.")),
            ("layers", self.tr("Layers"), str(info.block_count or "?"),
             self.tr("Transformer blocks; each one refines every token's representation.")),
            ("memory", self.tr("Memory estimate"), memory,
             self.tr("Weights plus the KV cache, which stores each token of the window for "
                     "every layer and grows with the context size.")),
        ]
        placement = loaded.placement
        if placement is not None:
            rows.append(("runs_on", self.tr("Runs on"), self._placement(placement, kv),
                         self.tr("Layers on a GPU run there with their part of the KV cache; "
                                 "the rest, and the token embedding, stay in main memory. "
                                 "The number of layers is planned from each layer's size, "
                                 "the cache and the GPU's free memory (Settings → GPU "
                                 "layers).")))
        if build is not None:
            features = " ".join(build.features) or "-"
            engine = (fill(self.tr("CPU variant %1: %2"), build.variant, features)
                      if build.variant else fill(self.tr("CPU: %1"), features))
            if build.cpu:
                engine += f"\n{build.cpu}"
            if build.gpu_backends:
                engine += "\n" + fill(self.tr("GPU backend: %1"), ", ".join(build.gpu_backends))
            for backend, why in build.gpu_rejected.items():
                engine += "\n" + fill(self.tr("GPU backend %1 left out: %2"), backend, why)
            rows.append(("engine", self.tr("Engine"), engine,
                         self.tr("The instruction sets llama.cpp uses on this processor: wider "
                                 "vector instructions (AVX2, AVX-512) multiply more numbers "
                                 "per step.")))
        self._show_rows(rows)

    def _placement(self, placement: Placement, kv: int | None) -> str:
        plan = placement.plan
        if placement.gpu is None or plan is None or plan.n_gpu_layers <= 0:
            text = self.tr("CPU only")
            if plan is not None and plan.reason:
                text += " (" + plan.reason + ")"
        else:
            text = fill(self.tr("%1 (%2): %3 of %4 layers, about %5 there and %6 in main "
                                "memory; %7 free on the GPU"),
                        placement.gpu.name, placement.gpu.description, plan.n_gpu_layers,
                        plan.layers_total, human_bytes(plan.device_bytes),
                        human_bytes(plan.host_bytes), human_bytes(plan.free_bytes))
            if plan.reason:
                text += "\n" + plan.reason
        if placement.notice:
            text += "\n" + placement.notice
        return text

    def _template(self, mode: str) -> str:
        return (self.tr("Yes: it answers in turns") if mode == "chat"
                else self.tr("None: a base model, it continues text"))

    def _server_rows(self, loaded: LoadedModel) -> list[tuple[str, str, str, str]]:
        caps = loaded.capabilities
        exact = caps is not None and caps.exact_token_counts
        return [
            ("name", self.tr("Name"), loaded.name,
             self.tr("The model's name on the server.")),
            ("server", self.tr("Server"), loaded.path,
             self.tr("An OpenAI-compatible server runs this model. Your documents stay on "
                     "this computer: only the prompt, with the passages retrieved for it, "
                     "is sent.")),
            ("context", self.tr("Context in use"),
             fill(self.tr("%1 tokens"), f"{loaded.n_ctx:,}"),
             self.tr("As the server reports it; where it does not say, the context size "
                     "in Settings.")),
            ("template", self.tr("Chat template"), self._template(loaded.mode),
             self.tr("The server applies the model's template to the messages it is sent.")),
            ("counts", self.tr("Token counts"),
             self.tr("Exact: counted here by the built-in copy of this model")
             if exact and caps is not None and caps.counted_by == "builtin" else
             self.tr("Exact: the server tokenizes") if exact else
             self.tr("Estimated: the server does not count tokens"),
             self.tr("Exact counts come from the server's own tokenizer; otherwise about one "
                     "token per Chinese character and per four other characters, corrected "
                     "from the server's count after each reply.")),
            ("candidates", self.tr("Next-token candidates"),
             self.tr("From the server's top_logprobs") if caps is None or caps.candidates
             else self.tr("Not offered by this server"),
             self.tr("The probabilities the model gave the likely next tokens at each "
                     "step.")),
        ]

    def _show_rows(self, rows: list[tuple[str, str, str, str]]) -> None:
        self.values = {}
        for key, label, value, explanation in rows:
            self.values[key] = value
            box = QWidget()
            column = QVBoxLayout(box)
            column.setContentsMargins(0, 0, 0, 4)
            column.setSpacing(0)
            shown = QLabel(value)
            shown.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            shown.setWordWrap(True)
            column.addWidget(shown)
            if explanation:
                note = QLabel(explanation)
                note.setWordWrap(True)
                note.setStyleSheet(MUTED + " font-size: 11px;")
                column.addWidget(note)
            caption = QLabel(f"<b>{label}</b>")
            caption.setToolTip(explanation)
            self.form.addRow(caption, box)
