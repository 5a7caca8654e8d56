"""The concept panel: what the model sees and does, on the user's own model and prompt.

Input tokens while typing, the context window as a stacked bar, the exact templated prompt
as token pieces, the candidates behind every generated token, why each passage was retrieved
and what the model file says about itself. Every part has a "?" that explains the idea.

Plain widgets: the numbers come from the tokenizer thread (while typing) and the model
thread (for the turn actually sent); nothing here tokenizes or waits on anything."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWhatsThis,
    QWidget,
)

from engine.types import ContextMap, GenerationStats, TokenSpan
from ui.context_bar import ContextBar
from ui.format import fill, visible_piece
from ui.model_card import ModelCard
from ui.prompt_view import PromptView

if TYPE_CHECKING:
    from ui.model_worker import LoadedModel, TokenStep

MUTED = "color: palette(mid);"


def help_button(text: str, parent: QWidget | None = None) -> QToolButton:
    """A small "?" that shows `text` as a popover (and as its tooltip)."""
    button = QToolButton(parent)
    button.setText("?")
    button.setAutoRaise(True)
    button.setToolTip(text)
    button.setFixedSize(20, 20)
    button.setStyleSheet("QToolButton { font-weight: bold; border-radius: 10px;"
                         " border: 1px solid palette(mid); }")
    button.setProperty("help_text", text)

    def pop() -> None:
        QWhatsThis.showText(button.mapToGlobal(QPoint(0, button.height())), text, button)

    button.clicked.connect(pop)
    return button


def section_title(title: str, help_text: str) -> tuple[QWidget, QLabel]:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    label = QLabel(f"<b>{title}</b>")
    layout.addWidget(label)
    layout.addWidget(help_button(help_text, row))
    layout.addStretch(1)
    return row, label


def first_sentence(text: str) -> str:
    for mark in (". ", "。"):
        end = text.find(mark)
        if end >= 0:
            return text[: end + 1]
    return text


def preview_at_temperature(probabilities: Sequence[float], temperature: float) -> list[float]:
    """The candidates' probabilities at another temperature, renormalized among them:
    p_i^(1/T) / sum_j p_j^(1/T); at T = 0 all mass goes to the most likely one."""
    if not probabilities:
        return []
    if temperature <= 0:
        top = max(range(len(probabilities)), key=lambda i: probabilities[i])
        return [1.0 if i == top else 0.0 for i in range(len(probabilities))]
    logs = [math.log(p) / temperature if p > 0 else -math.inf for p in probabilities]
    peak = max(logs)
    if peak == -math.inf:
        return [0.0 for _ in probabilities]
    weights = [math.exp(x - peak) if x != -math.inf else 0.0 for x in logs]
    total = sum(weights)
    return [w / total for w in weights]


def probability_color(p: float) -> QColor:
    """Green for a confident pick, through yellow, to red for an unlikely one."""
    p = max(0.0, min(1.0, p))
    hue = int(120 * p)  # 0 red .. 120 green
    return QColor.fromHsv(hue, 70, 250)


# --------------------------------------------------------------------------- generation


class GenerationView(QWidget):
    """Each generated token as a chip colored by its probability; the selected token's
    candidates in a table, with a temperature slider to see how sampling would reshape them."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.steps: list[TokenStep] = []
        self._follow = True  # select the newest token while streaming
        self._temperature = 1.0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        self.stats = QLabel(self.tr("Send a message to see how the reply is written."))
        self.stats.setWordWrap(True)
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.stats)

        temp_row = QHBoxLayout()
        self.temp_caption = QLabel(self.tr("Temperature preview"))
        self.temp_caption.setToolTip(self.tr(
            "Drag to see how another temperature would reshape the candidates' "
            "probabilities. It does not change the reply already written."))
        temp_row.addWidget(self.temp_caption)
        self.temp_slider = QSlider(Qt.Orientation.Horizontal)
        self.temp_slider.setRange(0, 200)
        self.temp_slider.setSingleStep(5)
        self.temp_slider.setPageStep(25)
        self.temp_slider.valueChanged.connect(self._on_temperature)
        temp_row.addWidget(self.temp_slider, 1)
        self.temp_value = QLabel()
        self.temp_value.setMinimumWidth(36)
        temp_row.addWidget(self.temp_value)
        layout.addLayout(temp_row)

        split = QSplitter(Qt.Orientation.Vertical)
        self.strip = QListWidget()
        self.strip.setFlow(QListWidget.Flow.LeftToRight)
        self.strip.setWrapping(True)
        self.strip.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.strip.setSpacing(1)
        self.strip.setUniformItemSizes(False)
        self.strip.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.strip.currentRowChanged.connect(self._on_row)
        self.strip.itemClicked.connect(lambda _item: setattr(self, "_follow", False))
        split.addWidget(self.strip)

        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(
            [self.tr("Token"), self.tr("ID"), self.tr("Probability"), self.tr("At preview T")]
        )
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        split.addWidget(self.table)
        split.setSizes([140, 220])
        layout.addWidget(split, 1)
        self.detail = QLabel()
        self.detail.setWordWrap(True)
        self.detail.setStyleSheet(MUTED)
        layout.addWidget(self.detail)
        self.set_temperature(1.0)

    # -- public

    def begin(self, temperature: float) -> None:
        self.steps = []
        self._follow = True
        self.strip.clear()
        self.table.setRowCount(0)
        self.detail.clear()
        self.stats.setText(self.tr("Generating…"))
        self.set_temperature(temperature)

    def set_temperature(self, temperature: float) -> None:
        self.temp_slider.setValue(round(temperature * 100))
        self._on_temperature(self.temp_slider.value())

    def temperature(self) -> float:
        return self._temperature

    def add_steps(self, steps: Sequence[TokenStep]) -> None:
        if not steps:
            return
        self.strip.setUpdatesEnabled(False)
        for step in steps:
            self.steps.append(step)
            item = QListWidgetItem(visible_piece(step.piece))
            chosen = step.chosen()
            if chosen is not None:
                item.setBackground(QBrush(probability_color(chosen.probability)))
                item.setToolTip(self.tr("id %d · probability %.1f %%")
                                % (step.token_id, 100 * chosen.probability))
            else:
                item.setBackground(QBrush(QColor("#e6e6e6")))
                item.setToolTip(self.tr("id %d · not among the top candidates") % step.token_id)
            item.setForeground(QBrush(QColor("#202020")))
            if step.drafted:  # copied from the prompt by prompt lookup, checked by the model
                font = item.font()
                font.setUnderline(True)
                item.setFont(font)
                item.setToolTip(item.toolTip() + "\n" + self.tr(
                    "drafted from the prompt (prompt lookup) and confirmed by the model in "
                    "one batch"))
            self.strip.addItem(item)
        self.strip.setUpdatesEnabled(True)
        if self._follow:
            self.strip.setCurrentRow(len(self.steps) - 1)
            self.strip.scrollToBottom()
        self.stats.setText(self.tr("%n token(s) so far…", "", len(self.steps)))

    def finish(self, stats: GenerationStats | None) -> None:
        if stats is None:  # the reply ended in an error (shown in the chat)
            self.stats.setText(self.tr("%n token(s), then the reply stopped.", "",
                                       len(self.steps)))
            return
        parts = [
            self.tr("%n token(s)", "", stats.completion_tokens),
            self.tr("%.1f tokens/s") % stats.decode_tok_s,
            self.tr("first token after %.2f s") % stats.time_to_first_token_s,
            fill(self.tr("%1 of %2 prompt tokens reused from the last turn"),
                 stats.reused_prompt_tokens, stats.prompt_tokens),
        ]
        if stats.drafted_tokens:
            parts.append(fill(self.tr("%1 of %2 drafted tokens kept (underlined)"),
                              stats.accepted_tokens, stats.drafted_tokens))
        if stats.runs_on:
            parts.append(fill(self.tr("ran on %1"), stats.runs_on))
        self.stats.setText(" · ".join(parts))
        self.stats.setToolTip(self.tr(
            "Time to first token: reading the prompt (prefill), then the first step.\n"
            "Tokens/s: writing speed after that.\n"
            "Reused tokens: the start of the prompt already in the model's memory (KV cache) "
            "from the previous turn, so it did not have to be read again."))

    def select(self, index: int) -> None:
        self._follow = index == len(self.steps) - 1
        self.strip.setCurrentRow(index)

    def shown_rows(self) -> list[tuple[int, float, float, bool]]:
        """(token id, probability, probability at preview T, chosen) per table row."""
        rows = []
        for r in range(self.table.rowCount()):
            item = self.table.item(r, 1)
            if item is None:
                continue
            data = item.data(Qt.ItemDataRole.UserRole)
            rows.append(tuple(data))
        return rows

    # -- internals

    def _on_temperature(self, value: int) -> None:
        self._temperature = value / 100
        self.temp_value.setText(f"{self._temperature:.2f}")
        self._show_candidates(self.strip.currentRow())

    def _on_row(self, row: int) -> None:
        self._show_candidates(row)

    def _show_candidates(self, row: int) -> None:
        self.table.setRowCount(0)
        if not (0 <= row < len(self.steps)):
            return
        step = self.steps[row]
        cands = step.candidates
        preview = preview_at_temperature([c.probability for c in cands], self._temperature)
        self.table.setRowCount(len(cands))
        picked = step.chosen()
        chosen_in = picked is not None
        for r, (c, q) in enumerate(zip(cands, preview, strict=True)):
            chosen = c is picked
            label = visible_piece(c.piece) + ("   ◀ " + self.tr("chosen") if chosen else "")
            cells = [
                QTableWidgetItem(label),
                QTableWidgetItem(str(c.token_id) if c.token_id >= 0 else "—"),
                QTableWidgetItem(f"{100 * c.probability:.2f} %"),
                QTableWidgetItem(f"{100 * q:.2f} %"),
            ]
            cells[1].setData(Qt.ItemDataRole.UserRole, (c.token_id, c.probability, q, chosen))
            bar = "█" * max(0, round(20 * c.probability))
            cells[2].setToolTip(bar or "·")
            for col, cell in enumerate(cells):
                if col >= 1:
                    cell.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if chosen:
                    cell.setBackground(QBrush(QColor("#ffe9a8")))
                    font = cell.font()
                    font.setBold(True)
                    cell.setFont(font)
                self.table.setItem(r, col, cell)
        shown = sum(c.probability for c in cands)
        note = fill(self.tr("Step %1: these %2 candidates hold %3 % of the probability."),
                    row + 1, len(cands), f"{100 * shown:.1f}")
        if cands and not chosen_in:
            note += " " + self.tr("The token picked (id %d) was not among them: the sampler "
                                  "drew a less likely one.") % step.token_id
        self.detail.setText(note)


# ---------------------------------------------------------------------------- retrieval


class RetrievalView(QWidget):
    """Why each passage came back for the last question, and whether it fit the prompt."""

    passage_activated = Signal(dict)  # the hit's row, for the source viewer

    COLUMNS = ("#", "Source", "Vector", "Keyword", "Fused rank", "Matched terms", "Tokens",
               "In prompt")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.hits: list[dict[str, Any]] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        self.summary = QLabel(self.tr("Turn on a knowledge base (toolbar: Knowledge) and ask "
                                      "a question to see which passages were found and why."))
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels([
            "#", self.tr("Source"), self.tr("Vector"), self.tr("Keyword"), self.tr("Fused"),
            self.tr("Terms"), self.tr("Tokens"), self.tr("Used"),
        ])
        tips = [
            "",
            self.tr("The document and where in it the passage is"),
            self.tr("Cosine similarity of the question's and the passage's embeddings "
                    "(meaning), and its rank among the vector results"),
            self.tr("BM25 keyword score over jieba-segmented words, and its rank among the "
                    "keyword results"),
            self.tr("Position after reciprocal rank fusion of the two rankings"),
            self.tr("Words of the question found in the passage"),
            self.tr("Tokens the passage takes in the chat model's tokenizer"),
            self.tr("Passages go into the prompt in fused order while they fit the budget"),
        ]
        for col, tip in enumerate(tips):
            header_item = self.table.horizontalHeaderItem(col)
            if header_item is not None and tip:
                header_item.setToolTip(tip)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(1, 130)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.cellDoubleClicked.connect(self._activated)
        layout.addWidget(self.table, 1)

    def set_retrieval(self, query: str, hits: list[dict[str, Any]], budget: int,
                      translation: str = "", no_answer: dict[str, Any] | None = None) -> None:
        self.hits = list(hits)
        used = [h for h in hits if h.get("in_prompt")]
        tokens = sum(int(h.get("prompt_tokens") or 0) for h in used)
        summary = fill(
            self.tr("“%1”: %2 passage(s) found, %3 in the prompt (%4 of %5 budget tokens). "
                    "Double-click a row to open the passage."),
            query[:80], len(hits), len(used), tokens, budget,
        )
        if translation:
            summary += "\n" + fill(
                self.tr("Searched as written and together with its translation by the model "
                        "(the knowledge base holds the other language), each passage keeping "
                        "its better rank: “%1”"), translation[:120])
        if no_answer is not None:
            best = no_answer.get("best_score")
            summary += "\n" + fill(
                self.tr("No passage is relevant enough: the best vector similarity, %1, is "
                        "below the no-answer threshold %2, so none went into the prompt and "
                        "the model was told the knowledge base has no answer."),
                "—" if best is None else f"{float(best):.3f}",
                f"{float(no_answer.get('threshold') or 0):.2f}")
        self.summary.setText(summary)
        self.table.setRowCount(len(hits))
        for r, h in enumerate(hits):
            vs, vr = h.get("vector_score"), h.get("vector_rank")
            ks, kr = h.get("keyword_score"), h.get("keyword_rank")
            vector = f"{vs:.3f} (#{vr})" if isinstance(vs, int | float) else "—"
            keyword = f"{ks:.2f} (#{kr})" if isinstance(ks, int | float) else "—"
            name = _file_name(h)
            fits = bool(h.get("in_prompt"))
            cells = [
                str(r + 1),
                name,
                vector,
                keyword,
                str(h.get("rank", "")),
                " ".join(str(t) for t in h.get("matched_terms") or []) or "—",
                str(h.get("prompt_tokens") or h.get("token_count") or ""),
                "✓" if fits else "✗",
            ]
            tips = {
                1: f"{h.get('path', '')}\n{h.get('location', '')}\n\n"
                   + str(h.get("text", ""))[:600],
                4: (self.tr("fused score %.4f") % float(h.get("fused_score") or 0)) + "\n" + (
                    self.tr("ranked by the question with its translation") if h.get("query")
                    else self.tr("ranked by the question as written")),
                7: self.tr("in the prompt") if fits else self.tr("left out: over the budget"),
            }
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col in tips:
                    item.setToolTip(tips[col])
                if not fits:
                    item.setForeground(QBrush(QColor("#8a8a8a")))
                self.table.setItem(r, col, item)

    def clear(self) -> None:
        self.hits = []
        self.table.setRowCount(0)

    def _activated(self, row: int, _col: int) -> None:
        if 0 <= row < len(self.hits):
            hit = dict(self.hits[row])
            hit.setdefault("number", row + 1)
            hit.setdefault("name", _file_name(hit))
            self.passage_activated.emit(hit)


def _file_name(hit: dict[str, Any]) -> str:
    return str(hit.get("path", "")).replace("\\", "/").rsplit("/", 1)[-1]


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
                       translation: str = "", no_answer: dict[str, Any] | None = None) -> None:
        self.retrieval_view.set_retrieval(query, hits, budget, translation, no_answer)

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
