"""Two models side by side: the same prompt to a base and an instruction-tuned model (with
each one's templated prompt), and the same text cut by two tokenizers.

The work runs on a thread of its own (app/compare.py: each model is loaded, used and closed
in turn), never on the GUI thread; the window streams what arrives."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.errors import EngineError
from engine.types import SamplingParams
from models.builtin import BUILTIN_MODELS
from models.refs import ModelRef
from ui.format import fill
from ui.prompt_view import PromptView

log = logging.getLogger(__name__)
MUTED = "color: palette(mid);"
TOKENIZE_DEBOUNCE_MS = 250


class CompareWorker(QObject):
    """Runs comparisons on the compare thread; results come back as queued signals."""

    reply_event = Signal(object)  # app.compare.CompareEvent
    replies_done = Signal()
    tokenized = Signal(int, object)  # request number, list[Tokenized]
    tokenize_failed = Signal(int, str)

    def __init__(self, models_dir: Path) -> None:
        super().__init__()
        self.models_dir = models_dir
        self.cancel = threading.Event()

    @Slot(str, object, object)
    def run_replies(self, prompt: str, refs: list[ModelRef], sampling: SamplingParams) -> None:
        from app.compare import compare_replies

        self.cancel.clear()
        try:
            for event in compare_replies(prompt, self.models_dir, refs, sampling=sampling,
                                         cancel=self.cancel):
                self.reply_event.emit(event)
        except Exception:  # a bug: logged with its traceback; the window stays usable
            log.exception("model comparison failed")
        self.replies_done.emit()

    @Slot(int, str, object)
    def run_tokenize(self, number: int, text: str, refs: list[ModelRef]) -> None:
        from app.compare import tokenize_with

        try:
            self.tokenized.emit(number, tokenize_with(text, refs, self.models_dir))
        except EngineError as exc:
            self.tokenize_failed.emit(number, str(exc))
        except Exception as exc:
            log.exception("tokenizer comparison failed")
            self.tokenize_failed.emit(number, str(exc))


def model_choices(recent: list[str]) -> list[tuple[str, ModelRef]]:
    """(label, reference) for the two built-in models and the recently opened files."""
    from PySide6.QtCore import QCoreApplication

    choices = []
    for model in BUILTIN_MODELS:
        kind = (QCoreApplication.translate("CompareWindow", "chat") if model.is_chat
                else QCoreApplication.translate("CompareWindow", "base"))
        choices.append((f"{model.label} ({kind})", ModelRef.builtin(model)))
    for text in recent:
        try:
            ref = ModelRef.parse(text)
        except EngineError:  # a stored reference this version no longer knows
            continue
        choices.append((ref.display_name, ref))
    return choices


class _Column(QWidget):
    """One model's side: its picker, what it reads and what it writes."""

    def __init__(self, choices: list[tuple[str, ModelRef]], ref: ModelRef,
                 with_reply: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.picker = QComboBox()
        for label, choice in choices:
            self.picker.addItem(label, str(choice))
        self.picker.setCurrentIndex(max(0, self.picker.findData(str(ref))))
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet(MUTED)
        self.tokens = PromptView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.picker)
        layout.addWidget(self.summary)
        self.reply: QPlainTextEdit | None = None
        self.stats = QLabel()
        self.stats.setStyleSheet(MUTED)
        if with_reply:
            reads = QLabel(self.tr("<b>What the model reads</b> (the prompt after its chat "
                                   "template)"))
            layout.addWidget(reads)
            layout.addWidget(self.tokens, 1)
            layout.addWidget(QLabel(self.tr("<b>What it writes</b>")))
            self.reply = QPlainTextEdit()
            self.reply.setReadOnly(True)
            layout.addWidget(self.reply, 1)
            layout.addWidget(self.stats)
        else:
            # Only the text's own tokens here: bigger pieces, no special-token switch.
            self.tokens.special_box.hide()
            font = self.tokens.edit.font()
            font.setPointSizeF(font.pointSizeF() * 1.5)
            self.tokens.edit.setFont(font)
            layout.addWidget(self.tokens, 1)

    def ref(self) -> ModelRef:
        return ModelRef.parse(str(self.picker.currentData()))


class CompareWindow(QWidget):
    """A separate window (View → Compare models…)."""

    _replies = Signal(str, object, object)
    _tokenize = Signal(int, str, object)

    def __init__(self, models_dir: Path, recent: list[str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle(self.tr("Compare models"))
        self.resize(1100, 760)
        choices = model_choices(recent)
        base, chat = (ModelRef.builtin(m) for m in
                      sorted(BUILTIN_MODELS, key=lambda m: m.is_chat))
        self.running = False
        self._token_request = 0

        self.thread_ = QThread()
        self.thread_.setObjectName("compare")
        self.worker = CompareWorker(models_dir)
        self.worker.moveToThread(self.thread_)
        self._replies.connect(self.worker.run_replies)
        self._tokenize.connect(self.worker.run_tokenize)
        self.worker.reply_event.connect(self._on_reply_event)
        self.worker.replies_done.connect(self._on_replies_done)
        self.worker.tokenized.connect(self._on_tokenized)
        self.worker.tokenize_failed.connect(self._on_tokenize_failed)
        self.thread_.start()

        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(TOKENIZE_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.tokenize_now)
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_replies_tab(choices, base, chat),
                         self.tr("Base vs instruction-tuned"))
        self.tabs.addTab(self._build_tokens_tab(choices, base, chat),
                         self.tr("Two tokenizers"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.send)
        QShortcut(QKeySequence("Escape"), self, self.stop)

    # ----------------------------------------------------------- base vs instruct

    def _build_replies_tab(self, choices: list[tuple[str, ModelRef]], base: ModelRef,
                           chat: ModelRef) -> QWidget:
        tab = QWidget()
        explanation = QLabel(self.tr(
            "A <b>base</b> model was only pretrained: it learned to continue text, so it "
            "carries on from your words.<br>An <b>instruction-tuned</b> model was then trained "
            "on conversations: its chat template marks whose turn it is, and it answers."))
        explanation.setWordWrap(True)
        self.prompt = QPlainTextEdit()
        self.prompt.setPlaceholderText(self.tr("A prompt for both models (Ctrl+Enter sends)"))
        self.prompt.setPlainText(self.tr("The capital of France is"))
        self.prompt.setMaximumHeight(70)
        self.send_button = QPushButton(self.tr("Send to both"))
        self.send_button.setToolTip(self.tr("One model after the other (Ctrl+Enter)"))
        self.send_button.clicked.connect(self.send)
        self.stop_button = QPushButton(self.tr("Stop"))
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.status = QLabel()
        self.status.setStyleSheet(MUTED)
        row = QHBoxLayout()
        row.addWidget(self.prompt, 1)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        row.addLayout(buttons)
        self.reply_columns = [_Column(choices, base, True), _Column(choices, chat, True)]
        split = QSplitter()
        for column in self.reply_columns:
            split.addWidget(column)
        layout = QVBoxLayout(tab)
        layout.addWidget(explanation)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        return tab

    def send(self) -> None:
        text = self.prompt.toPlainText()
        if self.running or not text.strip() or self.tabs.currentIndex() != 0:
            return
        self.running = True
        self.send_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        for column in self.reply_columns:
            column.tokens.clear()
            assert column.reply is not None
            column.reply.clear()
            column.stats.clear()
            column.summary.clear()
        self.status.setText(self.tr("Loading the first model…"))
        refs = [c.ref() for c in self.reply_columns]
        sampling = SamplingParams(temperature=0.0, max_tokens=96, repeat_penalty=1.1, seed=0)
        self._replies.emit(text, refs, sampling)

    def stop(self) -> None:
        if self.running:
            self.worker.cancel.set()

    def _on_reply_event(self, event: object) -> None:
        from app.compare import CompareEvent

        assert isinstance(event, CompareEvent)
        column = self.reply_columns[event.index]
        assert column.reply is not None
        reply = event.reply
        if event.kind == "start":
            kind = (self.tr("chat template: it answers") if reply.mode == "chat"
                    else self.tr("no chat template: it continues the text"))
            column.summary.setText(f"{reply.name} · {kind}")
            column.tokens.set_spans(reply.prompt_tokens)
            self.status.setText(fill(self.tr("%1 is writing…"), reply.name))
        elif event.kind == "piece":
            column.reply.moveCursor(column.reply.textCursor().MoveOperation.End)
            column.reply.insertPlainText(event.text)
        elif event.kind == "done":
            column.reply.setPlainText(reply.text)
            if reply.stats is not None:
                column.stats.setText(fill(
                    self.tr("%1 tokens read · %2 written · %3 tokens/s"),
                    reply.stats.prompt_tokens, reply.stats.completion_tokens,
                    f"{reply.stats.decode_tok_s:.1f}"))
            if event.index + 1 < len(self.reply_columns):
                self.status.setText(self.tr("Loading the second model…"))
        elif event.kind == "error":
            column.summary.setText(fill(self.tr("Could not run: %1"), event.text))

    def _on_replies_done(self) -> None:
        self.running = False
        self.send_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        stopped = self.worker.cancel.is_set()
        self.status.setText(self.tr("Stopped.") if stopped else self.tr("Done."))

    # ------------------------------------------------------------- two tokenizers

    def _build_tokens_tab(self, choices: list[tuple[str, ModelRef]], base: ModelRef,
                          chat: ModelRef) -> QWidget:
        tab = QWidget()
        explanation = QLabel(self.tr(
            "Every model comes with its own tokenizer, learned from its training text: the "
            "same words become different pieces and a different number of tokens.<br>Chinese "
            "is usually one or two characters per token; the window size and the speed are "
            "counted in these tokens."))
        explanation.setWordWrap(True)
        self.text = QPlainTextEdit()
        self.text.setMaximumHeight(90)
        self.text.setPlainText(self.tr(
            "我今天吃了狮子头和蔬菜。Large language models read tokens, not characters."))
        self.text.textChanged.connect(self._debounce.start)
        self.token_status = QLabel()
        self.token_status.setStyleSheet(MUTED)
        self.token_columns = [_Column(choices, base, False), _Column(choices, chat, False)]
        grid = QGridLayout()
        for i, column in enumerate(self.token_columns):
            column.picker.currentIndexChanged.connect(lambda _i: self.tokenize_now())
            grid.addWidget(column, 0, i)
        layout = QVBoxLayout(tab)
        layout.addWidget(explanation)
        layout.addWidget(self.text)
        layout.addWidget(self.token_status)
        layout.addLayout(grid, 1)
        QTimer.singleShot(0, self.tokenize_now)
        return tab

    def tokenize_now(self) -> None:
        self._debounce.stop()
        self._token_request += 1
        self.token_status.setText(self.tr("Counting…"))
        self._tokenize.emit(self._token_request, self.text.toPlainText(),
                            [c.ref() for c in self.token_columns])

    def _on_tokenized(self, number: int, results: object) -> None:
        if number != self._token_request:
            return  # an older text: a newer count is on its way
        assert isinstance(results, list)
        self.token_status.clear()
        for column, result in zip(self.token_columns, results, strict=True):
            column.tokens.set_spans(result.spans)
            column.summary.setText(fill(
                self.tr("%1 tokens for %2 characters (%3 characters per token) · "
                        "vocabulary of %4 tokens"),
                result.count, result.characters, f"{result.chars_per_token:.2f}",
                f"{result.vocab_size:,}"))

    def _on_tokenize_failed(self, number: int, message: str) -> None:
        if number == self._token_request:
            self.token_status.setText(message)

    # --------------------------------------------------------------------- exit

    def closeEvent(self, event: QCloseEvent) -> None:
        self.worker.cancel.set()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the compare thread (the main window calls this when it closes)."""
        self.worker.cancel.set()
        self.thread_.quit()
        if not self.thread_.wait(30_000):
            log.warning("compare thread did not stop")
