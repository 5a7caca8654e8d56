"""The concept panel: what the model sees and does, on the user's own model and prompt.

Input tokens while typing, the context window as a stacked bar, the exact templated prompt
as token pieces, the candidates behind every generated token, why each passage was retrieved
and what the model file says about itself. Every part has a "?" that explains the idea.

Plain widgets: the numbers come from the tokenizer thread (while typing) and the model
thread (for the turn actually sent); nothing here tokenizes or waits on anything."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.types import ContextMap, GenerationStats, TokenSpan
from ui.concept_help import MUTED, first_sentence, help_button, section_title
from ui.context_bar import ContextBar
from ui.format import fill
from ui.generation_view import GenerationView
from ui.model_card import ModelCard
from ui.prompt_view import PromptView
from ui.retrieval_view import RetrievalView

if TYPE_CHECKING:
    from ui.model_worker import LoadedModel, TokenStep

# ---------------------------------------------------------------------------- the panel


class ConceptPanel(QWidget):
    """Everything above, arranged beside the chat. The window feeds it; it never blocks."""

    passage_activated = Signal(dict)
    tab_changed = Signal(str)  # prompt | generation | retrieval | model

    STEP_INTERVAL_MS = 100  # generated tokens are drawn in batches, not one repaint each

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(300)
        self._reply_tokens = 0
        self._pending_steps: list[TokenStep] = []
        self._streaming = False
        # The last draft inspection shown (for tests and the window's status).
        self.draft_tokens = 0
        self.draft_context: ContextMap | None = None
        self.turn_context: ContextMap | None = None  # the map of the turn sent last
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)

        row, _ = section_title(self.tr("Your message"), self.tr(
            "A model reads text as tokens: pieces of words, whole words, or for Chinese "
            "usually one or two characters. Every model has its own tokenizer, so the same "
            "text gives different counts on different models. Everything the model reads "
            "and writes is counted in tokens."))
        layout.addWidget(row)
        self.input_label = QLabel(self.tr("Type a message to count its tokens."))
        self.input_label.setWordWrap(True)
        layout.addWidget(self.input_label)

        row, _ = section_title(self.tr("Context window"), self.tr(
            "The model sees only a fixed number of tokens at once: its context window. The "
            "system prompt, retrieved passages, earlier turns, your message and room for "
            "the reply must all fit. When they do not, the oldest turns are left out; "
            "this bar shows which ones before you send, and fills as the reply is written."))
        layout.addWidget(row)
        self.context_bar = ContextBar()
        layout.addWidget(self.context_bar)
        self.knowledge_note = QLabel()
        self.knowledge_note.setWordWrap(True)
        self.knowledge_note.setStyleSheet(MUTED)
        self.knowledge_note.hide()
        layout.addWidget(self.knowledge_note)

        self.tabs = QTabWidget()
        self.prompt_view = PromptView()
        self.generation_view = GenerationView()
        self.retrieval_view = RetrievalView()
        self.model_card = ModelCard()
        self.retrieval_view.passage_activated.connect(self.passage_activated)
        self._tab_keys: list[str] = []
        for key, widget, title, help_text in (
            ("prompt", self.prompt_view, self.tr("Prompt"), self.tr(
                "Exactly what the model will read: the conversation after the chat template "
                "has added its special tokens (such as <|im_start|> or <start_of_turn>), cut "
                "into tokens. Hover over a piece to see its id and bytes. After sending, it "
                "shows the prompt that was actually used, retrieved passages included.")),
            ("generation", self.generation_view, self.tr("Generation"), self.tr(
                "The model writes one token at a time. At each step it gives every token in "
                "its vocabulary a probability and the sampler picks one. Temperature "
                "reshapes the probabilities: low values make the likeliest token win more "
                "often, high values flatten the choice. Click a token to see what it was "
                "chosen from.")),
            ("retrieval", self.retrieval_view, self.tr("Retrieval"), self.tr(
                "RAG: for your question the chosen knowledge bases are searched two ways, by "
                "meaning (similarity of embeddings) and by keywords (BM25 over words cut by "
                "jieba). The two rankings are fused, and passages go into the prompt in that "
                "order while they fit the token budget.")),
            ("model", self.model_card, self.tr("Model"), self.tr(
                "What the model file (GGUF), or the server that runs the model, says about "
                "it, and what that means for memory and context.")),
        ):
            page = QWidget()
            page_layout = QVBoxLayout(page)
            page_layout.setContentsMargins(4, 4, 4, 4)
            head = QHBoxLayout()
            intro = QLabel(first_sentence(help_text))
            intro.setWordWrap(True)
            intro.setStyleSheet(MUTED)
            head.addWidget(intro, 1)
            head.addWidget(help_button(help_text, page), 0, Qt.AlignmentFlag.AlignTop)
            page_layout.addLayout(head)
            page_layout.addWidget(widget, 1)
            self.tabs.addTab(page, title)
            self._tab_keys.append(key)
        self.tabs.currentChanged.connect(lambda i: self.tab_changed.emit(self.current_tab()))
        layout.addWidget(self.tabs, 1)

        self._step_timer = QTimer(self)
        self._step_timer.setInterval(self.STEP_INTERVAL_MS)
        self._step_timer.timeout.connect(self._flush_steps)

    # -- what the window calls

    def current_tab(self) -> str:
        return self._tab_keys[self.tabs.currentIndex()]

    def show_tab(self, key: str) -> None:
        self.tabs.setCurrentIndex(self._tab_keys.index(key))

    def wants_spans(self) -> bool:
        return self.isVisible() and self.current_tab() == "prompt"

    def show_draft(self, draft: str, tokens: int, chars_per_token: float,
                   context: ContextMap | None, error: str = "",
                   spans: list[TokenSpan] | None = None) -> None:
        """A tokenizer-thread Inspection of what is being typed."""
        self.draft_tokens = tokens
        self.draft_context = context
        if not draft:
            self.input_label.setText(self.tr("Type a message to count its tokens."))
        else:
            self.input_label.setText(fill(
                self.tr("%1 characters → %2 tokens (%3 characters per token)"),
                len(draft), tokens, f"{chars_per_token:.2f}",
            ))
        if self._streaming:
            return  # the bar shows the turn being generated until it ends
        if error:
            self.input_label.setText(self.input_label.text() + "\n" + error)
        self.context_bar.set_map(context)
        self.context_bar.set_reply_tokens(0)
        if spans is not None and spans:
            self.prompt_view.set_spans(spans)

    def set_knowledge_note(self, kbs: Sequence[str], budget: int) -> None:
        if kbs:
            self.knowledge_note.setText(fill(
                self.tr("Knowledge on (%1): up to %2 tokens of retrieved passages are added "
                        "from the free space when you send."),
                ", ".join(kbs), budget,
            ))
            self.knowledge_note.show()
        else:
            self.knowledge_note.hide()

    def begin_turn(self, context: ContextMap | None, spans: list[TokenSpan],
                   temperature: float) -> None:
        """The turn as sent: its real context map and prompt, before the first token."""
        self._streaming = True
        self._reply_tokens = 0
        self._pending_steps = []
        self.turn_context = context
        if context is not None:
            self.context_bar.set_map(context)
        self.context_bar.set_reply_tokens(0)
        if spans:
            self.prompt_view.set_spans(spans)
        self.generation_view.begin(temperature)
        self._step_timer.start()

    def add_step(self, step: TokenStep) -> None:
        self._pending_steps.append(step)

    def end_turn(self, stats: GenerationStats | None) -> None:
        self._flush_steps()
        self._step_timer.stop()
        self._streaming = False
        self.generation_view.finish(stats)
        if stats is not None and stats.prompt_tokens_exact:
            self.context_bar.set_counted_prompt(stats.prompt_tokens)

    def show_retrieval(self, query: str, hits: list[dict[str, Any]], budget: int,
                       translation: str = "", no_answer: dict[str, Any] | None = None,
                       translation_hints: Sequence[str] = ()) -> None:
        self.retrieval_view.set_retrieval(query, hits, budget, translation, no_answer,
                                          translation_hints)

    def show_model(self, loaded: LoadedModel) -> None:
        self.model_card.set_model(loaded)

    def is_streaming(self) -> bool:
        return self._streaming

    # -- internals

    def _flush_steps(self) -> None:
        if not self._pending_steps:
            return
        steps, self._pending_steps = self._pending_steps, []
        self._reply_tokens += len(steps)
        self.context_bar.set_reply_tokens(self._reply_tokens)
        self.generation_view.add_steps(steps)
