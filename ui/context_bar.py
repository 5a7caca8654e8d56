"""The context window as one stacked bar: what fills it, what is reserved for the reply,
what is free, and which old messages will be left out to make room.

Cheap to update: `set_map` (while typing) and `set_reply_tokens` (while a reply streams)
only recompute a short list of segments and schedule a repaint; the legend and the
dropped-messages line are plain labels whose text changes only when the numbers do.
"""

from __future__ import annotations

import html
import re

from PySide6.QtCore import QEvent, QRect, QSize, Qt
from PySide6.QtGui import QBrush, QColor, QHelpEvent, QPainter, QPaintEvent, QPen, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QToolTip, QVBoxLayout, QWidget

from engine.types import ContextMap, ContextSegment, PromptProgress

WORD_JOINER = "\u2060"

BAR_HEIGHT = 26
KIND_ORDER = ("system", "knowledge", "history", "message", "reply", "reserve", "free")
COLORS: dict[str, str] = {
    "system": "#8b5cf6",  # purple
    "knowledge": "#22a559",  # green
    "history": "#3b82f6",  # blue; every other history message uses HISTORY_ALT
    "message": "#f59e0b",  # orange
    "reply": "#ef5a29",  # red-orange
    "reserve": "#fde0bd",  # pale orange, striped
    "free": "#e5e7eb",  # light grey
}
HISTORY_ALT = "#93c5fd"
RESERVE_STRIPES = "#f4b572"
DROPPED_COLOR = "#a61b1b"
_ROLE_LABEL = re.compile(r"^(user|assistant|system) #(\d+)$")


def _n(value: int) -> str:
    return f"{value:,}"


class _Bar(QWidget):
    """The painted bar itself; geometry and tooltips for its segments."""

    def __init__(self, owner: ContextBar) -> None:
        super().__init__(owner)
        self._owner = owner
        self._edges: list[tuple[int, int]] = []  # [x0, x1) per shown segment
        self._edges_width = -1
        self.setMinimumHeight(BAR_HEIGHT)
        self.setMaximumHeight(BAR_HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setMouseTracking(True)

    def sizeHint(self) -> QSize:
        return QSize(400, BAR_HEIGHT)

    def invalidate(self) -> None:
        self._edges_width = -1
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._edges_width = -1
        super().resizeEvent(event)

    def edges(self) -> list[tuple[int, int]]:
        width = self.width()
        if self._edges_width != width:
            self._edges = segment_edges([s.tokens for s in self._owner.shown_segments()], width)
            self._edges_width = width
        return self._edges

    def segment_index_at(self, x: int) -> int | None:
        for i, (x0, x1) in enumerate(self.edges()):
            if x0 <= x < x1:
                return i
        return None

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            assert isinstance(event, QHelpEvent)
            index = self.segment_index_at(event.pos().x())
            if index is None:
                QToolTip.hideText()
                event.ignore()
            else:
                segment = self._owner.shown_segments()[index]
                QToolTip.showText(event.globalPos(), self._owner.tooltip_for(segment), self)
            return True
        return super().event(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        rect = self.rect()
        segments = self._owner.shown_segments()
        if not segments:
            painter.fillRect(rect, QColor(COLORS["free"]))
            painter.setPen(QColor("#6b7280"))
            painter.drawText(rect.adjusted(8, 0, -8, 0),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                             self._owner.hint_text())
            painter.end()
            return
        history_seen = 0
        separator = QPen(QColor(255, 255, 255, 200))
        separator.setWidth(1)
        for i, (segment, (x0, x1)) in enumerate(zip(segments, self.edges(), strict=True)):
            if x1 <= x0:
                continue
            box = QRect(x0, 0, x1 - x0, rect.height())
            if segment.kind == "history":
                color = COLORS["history"] if history_seen % 2 == 0 else HISTORY_ALT
                history_seen += 1
            else:
                color = COLORS.get(segment.kind, "#9ca3af")
            painter.fillRect(box, QColor(color))
            if segment.kind == "reserve":
                painter.fillRect(box, QBrush(QColor(RESERVE_STRIPES), Qt.BrushStyle.BDiagPattern))
            if i > 0 and x1 - x0 >= 3:
                painter.setPen(separator)
                painter.drawLine(x0, 0, x0, rect.height() - 1)
        painter.setPen(QColor(0, 0, 0, 60))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect.adjusted(0, 0, -1, -1))
        painter.end()


def segment_edges(tokens: list[int], width: int) -> list[tuple[int, int]]:
    """Pixel spans [x0, x1) for stacked segments over `width` px, in proportion to their
    tokens, except that a segment with tokens but under one pixel still gets one."""
    total = sum(max(0, t) for t in tokens)
    if total <= 0 or width <= 0:
        return [(0, 0) for _ in tokens]
    tiny = [t > 0 and t * width < total for t in tokens]
    n_tiny = sum(tiny)
    rest_tokens = sum(t for t, small in zip(tokens, tiny, strict=True) if not small and t > 0)
    rest_width = max(0, width - n_tiny)
    edges: list[tuple[int, int]] = []
    x = 0
    acc = 0.0
    for t, small in zip(tokens, tiny, strict=True):
        if t <= 0:
            edges.append((x, x))
            continue
        if small:
            acc += 1
        elif rest_tokens:
            acc += t * rest_width / rest_tokens
        end = min(width, max(x + 1, round(acc)))
        edges.append((x, end))
        x = end
    return edges


def _unbreakable(text: str) -> str:
    """Escaped text that wraps as a whole: non-breaking spaces between its words and word
    joiners between its characters (Chinese may otherwise break between any two)."""
    return html.escape(WORD_JOINER.join(text)).replace(" ", "&nbsp;")


class ContextBar(QWidget):
    """A stacked bar over the context window, a legend per kind with token totals, a usage
    summary, and a warning line naming the old messages that will be left out."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._map: ContextMap | None = None
        self._reply = 0
        self._counted: int | None = None  # the server's count of an estimated prompt
        self._progress: PromptProgress | None = None  # the prompt being read
        self._shown: list[ContextSegment] = []

        self.bar = _Bar(self)
        self.legend = QLabel(self)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)  # an estimate says why, which takes a second line
        self.dropped_label = QLabel(self)
        self.dropped_label.setWordWrap(True)
        self.dropped_label.setStyleSheet(f"color: {DROPPED_COLOR};")
        self.dropped_label.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.bar)
        layout.addWidget(self.legend)
        layout.addWidget(self.summary)
        layout.addWidget(self.dropped_label)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        self._refresh()

    # ------------------------------------------------------------------ public

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit_heights()

    def _fit_heights(self) -> None:
        """Give the wrapping labels the height their text needs at this width: docks and
        scroll areas do not always ask for height-for-width, and a wrapped second line
        would otherwise be cut off."""
        width = self.contentsRect().width()
        for label in (self.legend, self.summary, self.dropped_label):
            label.setMinimumHeight(label.heightForWidth(width) if label.text() else 0)

    def set_map(self, cmap: ContextMap | None) -> None:
        if cmap == self._map:
            return
        self._map = cmap
        self._counted = None
        self._refresh()

    def set_counted_prompt(self, tokens: int) -> None:
        """After a reply on a server that does not tokenize: the prompt's size as the server
        counted it (its `usage`), shown beside the estimate."""
        if self._map is None or self._map.exact or tokens <= 0:
            return
        self._counted = tokens
        self._refresh()

    def context_map(self) -> ContextMap | None:
        return self._map

    def set_prompt_progress(self, progress: PromptProgress | None) -> None:
        """While the model reads a long prompt: how much of it (None: done)."""
        if progress == self._progress:
            return
        self._progress = progress
        self._refresh()

    def prompt_progress(self) -> PromptProgress | None:
        return self._progress

    def set_reply_tokens(self, n: int) -> None:
        """While a reply streams: its first `n` tokens come out of the reserve (0 clears)."""
        n = max(0, n)
        if n == self._reply:
            return
        self._reply = n
        self._refresh()

    def reply_tokens(self) -> int:
        return self._reply

    def shown_segments(self) -> list[ContextSegment]:
        """The segments as drawn: the map's, with the reply so far split off the reserve."""
        return list(self._shown)

    def segment_at(self, x: int) -> ContextSegment | None:
        """The segment drawn at x (in this widget's coordinates)."""
        index = self.bar.segment_index_at(x - self.bar.x())
        return None if index is None else self._shown[index]

    def dropped_text(self) -> str:
        """The warning line about left-out messages ("" when nothing is left out)."""
        return self.dropped_label.text() if self._map is not None and self._map.dropped else ""

    def summary_text(self) -> str:
        return self.summary.text()

    def legend_text(self) -> str:
        """The legend's markup with non-breaking spaces read as spaces."""
        return self.legend.text().replace("&nbsp;", " ").replace(WORD_JOINER, "")

    def hint_text(self) -> str:
        return self.tr("Nothing to show yet: the bar fills in once there is a message.")

    def kind_name(self, kind: str) -> str:
        names = {
            "system": self.tr("System prompt"),
            "knowledge": self.tr("Retrieved knowledge"),
            "history": self.tr("History"),
            "message": self.tr("This message"),
            "reply": self.tr("Reply"),
            "reserve": self.tr("Reserved for the reply"),
            "free": self.tr("Free"),
            "dropped": self.tr("Left out"),
        }
        return names.get(kind, kind)

    def segment_label(self, segment: ContextSegment) -> str:
        """A segment's name for people: message labels like "user #3" translated, the
        other kinds by their kind name."""
        match = _ROLE_LABEL.match(segment.label)
        if segment.kind in ("history", "message", "dropped") and match:
            role, number = match.group(1), int(match.group(2))
            if role == "user":
                return self.tr("user #%d") % number
            if role == "assistant":
                return self.tr("assistant #%d") % number
            return self.tr("system #%d") % number
        if segment.kind == "reply":
            return self.tr("Reply so far")
        if segment.kind in ("system", "knowledge", "reserve", "free"):
            return self.kind_name(segment.kind)
        return segment.label or self.kind_name(segment.kind)

    def tooltip_for(self, segment: ContextSegment) -> str:
        n_ctx = self._map.n_ctx if self._map is not None else 0
        percent = 100.0 * segment.tokens / n_ctx if n_ctx else 0.0
        return self.tr("%s · %s tokens · %.1f %% of the window") % (
            self.segment_label(segment), _n(segment.tokens), percent)

    # ---------------------------------------------------------------- internal

    def _split(self) -> list[ContextSegment]:
        if self._map is None:
            return []
        shown: list[ContextSegment] = []
        for segment in self._map.segments:
            if segment.kind == "reserve" and self._reply > 0:
                reply = min(self._reply, segment.tokens)
                shown.append(ContextSegment("reply", "reply so far", reply))
                shown.append(ContextSegment(segment.kind, segment.label,
                                            segment.tokens - reply, segment.message_index))
            else:
                shown.append(segment)
        return shown

    def _refresh(self) -> None:
        self._shown = self._split()
        self.bar.invalidate()
        cmap = self._map
        if cmap is None:
            self.legend.setText("")
            self.legend.hide()
            self.summary.setText("")
            self.summary.hide()
            self.dropped_label.hide()
            self.bar.setToolTip("")
            return
        legend = self._legend_html()
        if legend != self.legend.text():
            self.legend.setText(legend)
            self._fit_heights()
        self.legend.show()
        used = sum(s.tokens for s in self._shown if s.kind not in ("reserve", "free"))
        percent = round(100 * used / cmap.n_ctx) if cmap.n_ctx else 0
        if cmap.exact:
            summary = self.tr("%s of %s tokens used (%d %%)") % (
                _n(used), _n(cmap.n_ctx), percent)
        else:
            summary = self.tr("about %s of %s tokens used (%d %%), estimated: this server "
                              "does not count tokens") % (_n(used), _n(cmap.n_ctx), percent)
            if self._counted is not None:
                summary += " · " + self.tr("the server counted %s prompt tokens") % _n(
                    self._counted)
        if self._progress is not None:
            summary += " · " + self.tr("the model has read %s of %s new prompt tokens") % (
                _n(self._progress.done), _n(self._progress.total))
        if summary != self.summary.text():
            self.summary.setText(summary)
            self._fit_heights()
        self.summary.show()
        if cmap.dropped:
            items = ", ".join(
                self.tr("%s (%s tokens)") % (self.segment_label(s), _n(s.tokens))
                for s in cmap.dropped
            )
            text = self.tr("To make room, %n oldest message(s) will be left out: %s", "",
                           len(cmap.dropped)) % items
            if text != self.dropped_label.text():
                self.dropped_label.setText(text)
                self._fit_heights()
            self.dropped_label.show()
        else:
            self.dropped_label.setText("")
            self.dropped_label.hide()

    def _legend_html(self) -> str:
        totals: dict[str, int] = {}
        for segment in self._shown:
            totals[segment.kind] = totals.get(segment.kind, 0) + segment.tokens
        entries = []
        for kind in [k for k in KIND_ORDER if k in totals] + [
                k for k in totals if k not in KIND_ORDER]:
            color = COLORS.get(kind, "#9ca3af")
            entries.append(
                f"<span style='background-color:{color}'>&nbsp;&nbsp;&nbsp;&nbsp;</span>"
                f"&nbsp;{_unbreakable(self.kind_name(kind))}&nbsp;"
                f"<span style='color:#6b7280'>{_n(totals[kind])}</span>"
            )
        return "&nbsp;&nbsp;&nbsp; ".join(entries)
