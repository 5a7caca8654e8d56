"""The knowledge panel's retrieval test: a question, the passages hybrid search would give
the model (vector and keyword scores, matched terms), and the chosen passage with its terms
marked. The search runs on the knowledge thread."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QLineEdit,
    QSplitter,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.kb_files import PATH_ROLE, ElideRightDelegate, display_home
from ui.kb_thread import KnowledgeThread

if TYPE_CHECKING:
    from kb.store import RetrievalHit

HIT_ROLE = Qt.ItemDataRole.UserRole + 2
RESULT_RANK, RESULT_FILE, RESULT_VECTOR, RESULT_KEYWORD, RESULT_TERMS, RESULT_LOCATION = range(6)
SEARCH_K = 5


def highlight(text: str, terms: list[str]) -> str:
    """The passage as HTML with the matched terms marked (longest first, case-insensitive)."""
    words = sorted({t for t in terms if t.strip()}, key=len, reverse=True)
    if not words:
        return html.escape(text).replace("\n", "<br/>")
    pattern = re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)
    out: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        out.append(html.escape(text[last:match.start()]))
        out.append(f"<b style='background-color: #fff2a8'>{html.escape(match.group())}</b>")
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out).replace("\n", "<br/>")


class RetrievalTest(QWidget):
    """The panel says which knowledge base to search (`search`); results arrive here."""

    submitted = Signal()  # Return in the question box
    search_finished = Signal(str, list)  # query, list[RetrievalHit]

    def __init__(self, thread: KnowledgeThread, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._thread = thread
        self._query: str | None = None  # the question being searched
        self.last_hits: list[RetrievalHit] = []
        self._build()
        thread.worker.search_done.connect(self._on_search_done)

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(4)
        title = QLabel(self.tr("Test retrieval"))
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        layout.addWidget(title)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(
            self.tr("Ask a question to see what would be retrieved")
        )
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setAcceptDrops(False)  # dropped files import, not paste a path
        self.search_edit.returnPressed.connect(self.submitted)
        layout.addWidget(self.search_edit)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.hide()
        layout.addWidget(self.status)
        results_split = QSplitter(Qt.Orientation.Vertical)
        results_split.setChildrenCollapsible(False)
        self.results = QTreeWidget()
        self.results.setColumnCount(6)
        self.results.setHeaderLabels([
            self.tr("#"), self.tr("File"), self.tr("Vector"), self.tr("Keyword"),
            self.tr("Matched terms"), self.tr("Location"),
        ])
        self.results.setRootIsDecorated(False)
        self.results.setAlternatingRowColors(True)
        self.results.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.results.headerItem().setToolTip(
            RESULT_VECTOR, self.tr("Cosine similarity of the passage to the question (rank)")
        )
        self.results.headerItem().setToolTip(
            RESULT_KEYWORD, self.tr("BM25 keyword score (rank); – when no keyword matched")
        )
        metrics = self.results.fontMetrics()
        header = self.results.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(RESULT_FILE, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(RESULT_RANK, metrics.horizontalAdvance("99") + 16)
        header.resizeSection(RESULT_FILE, metrics.horizontalAdvance("M" * 9))
        header.resizeSection(RESULT_VECTOR, metrics.horizontalAdvance("0.000 (#99)") + 16)
        header.resizeSection(RESULT_KEYWORD, metrics.horizontalAdvance("00.00 (#99)") + 16)
        terms_width = metrics.horizontalAdvance(self.tr("Matched terms")) + 24
        header.resizeSection(RESULT_TERMS, terms_width)
        self._results_delegate = ElideRightDelegate(self.results)
        for column in (RESULT_TERMS, RESULT_LOCATION):
            self.results.setItemDelegateForColumn(column, self._results_delegate)
        self.results.currentItemChanged.connect(self._show_passage)
        results_split.addWidget(self.results)
        self.passage_view = QTextBrowser()
        self.passage_view.setOpenLinks(False)
        self.passage_view.setPlaceholderText(
            self.tr("Select a result to read the passage that would be given to the model")
        )
        results_split.addWidget(self.passage_view)
        results_split.setStretchFactor(0, 1)
        results_split.setStretchFactor(1, 1)
        results_split.setSizes([150, 150])
        layout.addWidget(results_split, 1)

    # ------------------------------------------------------------------ public API

    def query(self) -> str:
        return self.search_edit.text().strip()

    def search(self, kb: str, query: str) -> None:
        self.results.clear()
        self.passage_view.clear()
        self.last_hits = []
        self._query = query
        self._set_status(self.tr("Searching…"))
        self._thread.search([kb], query, SEARCH_K)

    def clear(self) -> None:
        """Forget the last question and its results (another knowledge base is shown)."""
        self.results.clear()
        self.passage_view.clear()
        self.last_hits = []
        self._query = None
        self._set_status("")

    def search_failed(self) -> None:
        """The knowledge thread reported an error: a search waiting for results has ended."""
        if self._query is not None:
            self._query = None
            self._set_status("")

    # ------------------------------------------------------------------ results

    @Slot(str, list)
    def _on_search_done(self, query: str, hits: list[RetrievalHit]) -> None:
        if query != self._query:
            return  # an older question
        self._query = None
        self.last_hits = list(hits)
        self.results.clear()
        if not hits:
            self._set_status(self.tr("Nothing in this knowledge base matches."))
        else:
            self._set_status("")
        for hit in hits:
            self.results.addTopLevelItem(self._hit_item(hit))
        first = self.results.topLevelItem(0)
        if first is not None:
            self.results.setCurrentItem(first)
        self.search_finished.emit(query, list(hits))

    def _hit_item(self, hit: RetrievalHit) -> QTreeWidgetItem:
        dash = "–"
        vector = (
            f"{hit.vector_score:.3f} (#{hit.vector_rank})" if hit.vector_score is not None
            else dash
        )
        keyword = (
            f"{hit.keyword_score:.2f} (#{hit.keyword_rank})" if hit.keyword_score is not None
            else dash
        )
        terms = " ".join(hit.matched_terms) or dash
        item = QTreeWidgetItem(
            [str(hit.rank), Path(hit.path).name, vector, keyword, terms, hit.location()]
        )
        passage = " ".join(hit.text.split())
        tip = (
            f"<p><b>{html.escape(Path(hit.path).name)}</b> — {html.escape(hit.location())}</p>"
            f"<p>{html.escape(passage[:1200])}{'…' if len(passage) > 1200 else ''}</p>"
        )
        for column in range(self.results.columnCount()):
            item.setToolTip(column, tip)
        item.setToolTip(RESULT_TERMS, terms)
        for column in (RESULT_RANK, RESULT_VECTOR, RESULT_KEYWORD):
            item.setTextAlignment(
                column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            )
        item.setData(0, PATH_ROLE, hit.path)
        item.setData(0, HIT_ROLE, hit)
        return item

    def _show_passage(self, item: QTreeWidgetItem | None, _previous: object = None) -> None:
        hit = item.data(0, HIT_ROLE) if item is not None else None
        if hit is None:
            self.passage_view.clear()
            return
        head = self.tr("[{rank}] {file} — {location}").format(
            rank=hit.rank, file=Path(hit.path).name, location=hit.location()
        )
        self.passage_view.setHtml(
            f"<p style='color: gray'>{html.escape(head)}<br/>"
            f"{html.escape(display_home(hit.path))}</p>"
            f"<p>{highlight(hit.text, hit.matched_terms)}</p>"
        )

    def _set_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))
