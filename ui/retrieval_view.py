"""The Retrieval tab: the passages a turn retrieved, each with every signal that decided its
rank (vector and keyword ranks and scores, the fused score, which search found it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.format import fill

SOURCE_MIN_WIDTH = 130  # pixels: enough for a short file name


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
        self.table.setColumnWidth(1, SOURCE_MIN_WIDTH)
        self._fitted_width = SOURCE_MIN_WIDTH  # the source width set last (not the user's)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.cellDoubleClicked.connect(self._activated)
        layout.addWidget(self.table, 1)

    def set_retrieval(self, query: str, hits: list[dict[str, Any]], budget: int,
                      translation: str = "", no_answer: dict[str, Any] | None = None,
                      translation_hints: Sequence[str] = ()) -> None:
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
            if translation_hints:
                summary += " " + self.tr(
                    "The model translated it after reading the opening words of the %n best "
                    "passage(s) in that language, to use the documents' wording.", "",
                    len(translation_hints))
        # What the translator read, for whoever wants to see it.
        self.summary.setToolTip("\n".join(f"• {h}" for h in translation_hints))
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
        self._fit_source()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_source()

    def _fit_source(self) -> None:
        """The source column takes the room the others leave (whole names in a wide panel),
        never less than SOURCE_MIN_WIDTH (the table scrolls in a narrow one). A width the
        user dragged it to is kept."""
        if self.table.columnWidth(1) != self._fitted_width:
            return
        others = sum(self.table.columnWidth(c) for c in range(self.table.columnCount()) if c != 1)
        self._fitted_width = max(SOURCE_MIN_WIDTH, self.table.viewport().width() - others)
        self.table.setColumnWidth(1, self._fitted_width)

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
