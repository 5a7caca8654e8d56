"""The Generation tab: each generated token with its probability, and the candidates behind
it at the temperature the user drags (a preview: the reply itself is not re-run)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
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
    QVBoxLayout,
    QWidget,
)

from engine.types import GenerationStats
from ui.concept_help import MUTED
from ui.format import fill, visible_piece

if TYPE_CHECKING:
    from ui.model_worker import TokenStep


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
