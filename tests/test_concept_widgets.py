"""Tests for the concept panel's widgets: the prompt as token pieces (ui.prompt_view) and the
context-window bar (ui.context_bar). Real widgets, offscreen, driven through qtbot; one test
takes real token spans from the real model."""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint
from PySide6.QtGui import QColor, QFont, QHelpEvent, QTextCursor
from PySide6.QtWidgets import QToolTip
from pytestqt.qtbot import QtBot

from engine.types import ChatMessage, ContextMap, ContextSegment, TokenSpan
from ui.context_bar import COLORS, HISTORY_ALT, ContextBar, segment_edges
from ui.prompt_view import (
    INVALID_FOREGROUND,
    NEWLINE_MARK,
    SPECIAL_BACKGROUND,
    SPECIAL_BACKGROUND_ALT,
    PromptView,
)


def span(token_id: int, raw: bytes, special: bool = False) -> TokenSpan:
    return TokenSpan(token_id, raw, raw.decode("utf-8", errors="replace"), special)


# A prompt the way Gemma's template builds one, with the awkward cases in it: whitespace-only
# pieces, newlines, a character split over two tokens, a character outside the BMP.
SPANS = [
    span(2, b"<bos>", special=True),
    span(105, b"<start_of_turn>", special=True),
    span(2364, b"user"),
    span(107, b"\n"),
    span(237408, "你".encode()),
    span(900, b"\xe4\xb8"),  # the first two bytes of 中
    span(901, b"\xad"),  # ... and its last byte
    span(236743, b"  "),
    span(108, b"\n\n"),
    span(555, "😀".encode()),
    span(556, b" ok"),
    span(106, b"<end_of_turn>", special=True),
    span(107, b"\n"),
]


def expected_text(spans: list[TokenSpan], *, special: bool = True) -> str:
    out = []
    for s in spans:
        if s.special and not special:
            continue
        if "\ufffd" in s.text:
            out.append("<" + s.raw.hex(" ") + ">")
        else:
            out.append(s.text.replace("\n", NEWLINE_MARK + "\n"))
    return "".join(out)


@pytest.fixture
def prompt_view(qtbot: QtBot) -> PromptView:
    view = PromptView()
    qtbot.addWidget(view)
    view.resize(700, 400)
    view.show()
    qtbot.waitExposed(view)
    return view


def doc_slice(view: PromptView, start: int, end: int) -> str:
    cursor = QTextCursor(view.edit.document())
    cursor.setPosition(start)
    cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
    return cursor.selectedText().replace("\u2029", "\n")


def format_at(view: PromptView, pos: int) -> Any:
    cursor = QTextCursor(view.edit.document())
    cursor.setPosition(pos + 1)  # the format of the character before the cursor
    return cursor.charFormat()


# ------------------------------------------------------------------------------ PromptView


def test_prompt_view_draws_every_piece(prompt_view: PromptView) -> None:
    prompt_view.set_spans(SPANS)
    assert prompt_view.token_count() == len(SPANS)
    assert prompt_view.special_count() == 3
    assert prompt_view.header.text().startswith(f"{len(SPANS)} token")
    assert "3 special" in prompt_view.header.text()
    text = prompt_view.plain_text()
    assert text == expected_text(SPANS)
    assert "<e4 b8>" in text and "<ad>" in text
    assert text.count(NEWLINE_MARK) == 4  # one per line break, before it


def test_prompt_view_offsets_map_back_to_tokens(prompt_view: PromptView) -> None:
    prompt_view.set_spans(SPANS)
    for index, s in enumerate(SPANS):
        rng = prompt_view.char_range(index)
        assert rng is not None
        start, end = rng
        assert end > start
        assert prompt_view.token_index_at(start) == index
        assert prompt_view.token_index_at(end - 1) == index
        assert doc_slice(prompt_view, start, end) == expected_text([s])
    end_of_doc = prompt_view.edit.document().characterCount() - 1
    assert prompt_view.token_index_at(end_of_doc) is None
    assert prompt_view.token_index_at(-1) is None


def test_prompt_view_styles(prompt_view: PromptView) -> None:
    prompt_view.set_spans(SPANS)
    backgrounds = []
    specials: list[str] = []
    for index, s in enumerate(SPANS):
        rng = prompt_view.char_range(index)
        assert rng is not None
        fmt = format_at(prompt_view, rng[0])
        if s.special:
            assert fmt.background().color() in (QColor(SPECIAL_BACKGROUND),
                                                 QColor(SPECIAL_BACKGROUND_ALT))
            assert fmt.fontWeight() == QFont.Weight.Bold
            specials.append(fmt.background().color().name())
        else:
            backgrounds.append(fmt.background().color().name())
            assert fmt.background().color() not in (QColor(SPECIAL_BACKGROUND),
                                                     QColor(SPECIAL_BACKGROUND_ALT))
        if index in (5, 6):  # the split character
            assert fmt.foreground().color() == QColor(INVALID_FOREGROUND)
    # neighbours never share a background, so every boundary is visible
    assert all(a != b for a, b in pairwise(backgrounds))
    assert len(set(backgrounds)) >= 3
    assert specials[0] != specials[1]  # <bos><start_of_turn> stay two visible pieces


def test_prompt_view_tooltips(prompt_view: PromptView) -> None:
    prompt_view.set_spans(SPANS)
    tip = prompt_view.tooltip_for(0)
    assert ">2<" in tip and "Special token" in tip and "&lt;bos&gt;" in tip
    tip = prompt_view.tooltip_for(3)
    assert ">107<" in tip and ">0a<" in tip and "'\\n'" in tip and "Special" not in tip
    tip = prompt_view.tooltip_for(5)
    assert ">900<" in tip and "e4 b8" in tip and "split" in tip
    tip = prompt_view.tooltip_for(7)
    assert ">20 20<" in tip and "'  '" in tip


def test_prompt_view_hover_shows_the_token_under_the_mouse(
        qtbot: QtBot, prompt_view: PromptView) -> None:
    prompt_view.set_spans(SPANS)
    edit = prompt_view.edit
    for index in (2, 4, 10):  # "user", "你", " ok"
        rng = prompt_view.char_range(index)
        assert rng is not None
        cursor = QTextCursor(edit.document())
        cursor.setPosition(rng[0])
        left = edit.cursorRect(cursor)
        cursor.setPosition(rng[1])
        right = edit.cursorRect(cursor)
        y = left.center().y()
        assert edit.token_index_at_point(QPoint(left.x() + 2, y)) == index
        assert edit.token_index_at_point(QPoint(right.x() - 2, y)) == index
        point = QPoint((left.x() + right.x()) // 2, y)
        assert edit.token_index_at_point(point) == index
        event = QHelpEvent(QEvent.Type.ToolTip, point, edit.viewport().mapToGlobal(point))
        QToolTip.hideText()
        edit.eventFilter(edit.viewport(), event)
        qtbot.waitUntil(lambda: QToolTip.isVisible())
        assert f">{SPANS[index].token_id}<" in QToolTip.text()
    # far below the last line: nothing
    below = QPoint(5, edit.viewport().height() - 2)
    assert edit.token_index_at_point(below) is None


def test_prompt_view_hides_special_tokens(prompt_view: PromptView) -> None:
    prompt_view.set_spans(SPANS)
    prompt_view.special_box.setChecked(False)
    assert not prompt_view.show_special()
    assert prompt_view.plain_text() == expected_text(SPANS, special=False)
    assert "<bos>" not in prompt_view.plain_text()
    assert prompt_view.token_count() == len(SPANS)  # still counted
    for index, s in enumerate(SPANS):
        rng = prompt_view.char_range(index)
        if s.special:
            assert rng is None
        else:
            assert rng is not None
            assert prompt_view.token_index_at(rng[0]) == index
            assert doc_slice(prompt_view, *rng) == expected_text([s])
    prompt_view.set_show_special(True)
    assert prompt_view.special_box.isChecked()
    assert prompt_view.plain_text() == expected_text(SPANS)


def test_prompt_view_clear_and_placeholder(prompt_view: PromptView) -> None:
    assert prompt_view.edit.placeholderText().startswith("The prompt appears here")
    assert prompt_view.header.text().startswith("0 token")
    prompt_view.set_spans(SPANS)
    prompt_view.clear()
    assert prompt_view.token_count() == 0
    assert prompt_view.plain_text() == ""
    assert prompt_view.token_index_at(0) is None
    assert prompt_view.header.text().startswith("0 token")


def test_prompt_view_is_fast_for_long_prompts(qtbot: QtBot, prompt_view: PromptView) -> None:
    pieces = [b"\xe4\xbd\xa0", b" the", b"\n", b"  ", b"\xe4\xb8", b"\xad", b"word", b"."]
    spans = [span(1000 + i, pieces[i % len(pieces)], special=i % 500 == 0)
             for i in range(8000)]
    prompt_view.set_spans(spans[:100])  # warm up fonts
    qtbot.wait(10)
    start = time.perf_counter()
    prompt_view.set_spans(spans)
    elapsed = time.perf_counter() - start
    assert prompt_view.token_count() == 8000
    assert prompt_view.token_index_at(prompt_view.edit.document().characterCount() - 2) == 7999
    assert elapsed < 0.5, f"set_spans took {elapsed * 1000:.0f} ms for 8,000 tokens"


def test_prompt_view_with_real_tokens(qtbot: QtBot, prompt_view: PromptView,
                                      chat_engine: Any) -> None:
    plan = chat_engine.plan([ChatMessage("user", "你好，世界")], system="简短。", reserve=64)
    spans = chat_engine.token_spans(plan.tokens)
    specials = [s for s in spans if s.special]
    assert specials and len(specials) < len(spans)
    prompt_view.set_spans(spans)
    assert prompt_view.token_count() == len(spans)
    assert prompt_view.special_count() == len(specials)
    for index, s in enumerate(spans):
        assert f">{s.token_id}<" in prompt_view.tooltip_for(index)
        rng = prompt_view.char_range(index)
        assert rng is not None and prompt_view.token_index_at(rng[0]) == index
    shown = prompt_view.plain_text()
    assert shown.replace(NEWLINE_MARK, "") == expected_text(spans).replace(NEWLINE_MARK, "")
    assert shown.replace(NEWLINE_MARK, "") == "".join(s.text for s in spans)
    assert "你" in shown and "<start_of_turn>" in shown
    prompt_view.set_show_special(False)
    hidden = prompt_view.plain_text().replace(NEWLINE_MARK, "")
    assert hidden == "".join(s.text for s in spans if not s.special)
    assert len(shown.replace(NEWLINE_MARK, "")) - len(hidden) == sum(len(s.text) for s in specials)
    assert "<start_of_turn>" not in hidden and "你" in hidden


# ------------------------------------------------------------------------------ ContextBar

N_CTX = 4096
SEGMENTS = (
    ContextSegment("system", "system prompt", 100),
    ContextSegment("history", "user #2", 300, 1),
    ContextSegment("history", "assistant #3", 200, 2),
    ContextSegment("knowledge", "retrieved passages", 1, 3),
    ContextSegment("message", "user #4", 150, 3),
    ContextSegment("reserve", "reserved for the reply", 512),
    ContextSegment("free", "free", N_CTX - 100 - 300 - 200 - 1 - 150 - 512),
)
DROPPED = (ContextSegment("dropped", "user #1", 120, 0),)


def make_map(dropped: tuple[ContextSegment, ...] = ()) -> ContextMap:
    return ContextMap(N_CTX, 751, SEGMENTS, dropped)


@pytest.fixture
def context_bar(qtbot: QtBot) -> ContextBar:
    bar = ContextBar()
    qtbot.addWidget(bar)
    bar.resize(1000, 120)
    bar.show()
    qtbot.waitExposed(bar)
    return bar


def test_segment_edges_keep_tiny_segments_visible() -> None:
    edges = segment_edges([1, 500, 0, 2, 3593], 400)
    assert edges[0] == (0, 1)
    assert edges[2][0] == edges[2][1]  # no tokens, no pixels
    assert edges[3][1] - edges[3][0] == 1
    assert edges[-1][1] == 400
    assert all(a[1] == b[0] for a, b in pairwise(edges))
    assert segment_edges([], 100) == []
    assert segment_edges([0, 0], 100) == [(0, 0), (0, 0)]


def test_context_bar_says_estimated_and_shows_the_servers_count(
        context_bar: ContextBar) -> None:
    context_bar.set_map(make_map())
    assert "estimated" not in context_bar.summary_text()
    context_bar.set_counted_prompt(800)  # an exact map needs no correction
    assert "counted" not in context_bar.summary_text()
    estimated = ContextMap(N_CTX, 751, SEGMENTS, (), exact=False)
    context_bar.set_map(estimated)
    assert "about" in context_bar.summary_text()
    assert "estimated" in context_bar.summary_text()
    context_bar.set_counted_prompt(812)
    assert "812" in context_bar.summary_text()
    context_bar.set_map(make_map(DROPPED))  # the next draft: the correction goes
    assert "812" not in context_bar.summary_text()


def test_context_bar_segments_and_reply_split(context_bar: ContextBar) -> None:
    context_bar.set_map(make_map())
    shown = context_bar.shown_segments()
    assert [s.kind for s in shown] == [s.kind for s in SEGMENTS]
    assert sum(s.tokens for s in shown) == N_CTX

    context_bar.set_reply_tokens(100)
    shown = context_bar.shown_segments()
    kinds = [s.kind for s in shown]
    assert kinds == ["system", "history", "history", "knowledge", "message", "reply",
                     "reserve", "free"]
    assert shown[5].tokens == 100 and shown[6].tokens == 412
    assert sum(s.tokens for s in shown) == N_CTX
    assert "Reply" in context_bar.legend_text()

    context_bar.set_reply_tokens(10_000)  # capped at the reserve
    shown = context_bar.shown_segments()
    assert shown[5].tokens == 512 and shown[6].tokens == 0
    assert sum(s.tokens for s in shown) == N_CTX

    context_bar.set_reply_tokens(0)
    assert [s.kind for s in context_bar.shown_segments()] == [s.kind for s in SEGMENTS]

    # a new map while streaming keeps the reply split
    context_bar.set_reply_tokens(30)
    context_bar.set_map(make_map(DROPPED))
    assert [s.tokens for s in context_bar.shown_segments() if s.kind == "reply"] == [30]


def test_context_bar_segment_at(context_bar: ContextBar) -> None:
    context_bar.set_map(make_map())
    context_bar.set_reply_tokens(200)
    assert context_bar.bar.width() == 1000
    shown = context_bar.shown_segments()
    cumulative = 0
    for s in shown:
        middle = round((cumulative + s.tokens / 2) / N_CTX * 1000)
        cumulative += s.tokens
        if s.tokens * 1000 / N_CTX >= 4:
            assert context_bar.segment_at(middle) == s, s
    knowledge = [x for x in range(1000) if (seg := context_bar.segment_at(x)) is not None
                 and seg.kind == "knowledge"]
    assert len(knowledge) == 1  # 1 token of 4,096 on 1,000 px: still one pixel
    assert context_bar.segment_at(0) == shown[0]
    assert context_bar.segment_at(999) == shown[-1]
    assert context_bar.segment_at(1000) is None
    assert context_bar.segment_at(-1) is None
    reply = context_bar.segment_at(round((751 + 100) / N_CTX * 1000))
    assert reply is not None and reply.kind == "reply"


def test_context_bar_paints_kinds_in_their_colors(context_bar: ContextBar) -> None:
    context_bar.set_map(make_map())
    image = context_bar.bar.grab().toImage()
    y = image.height() // 2

    def color_at(tokens_before: int, tokens: int) -> str:
        x = round((tokens_before + tokens / 2) / N_CTX * image.width())
        return image.pixelColor(x, y).name()

    assert color_at(0, 100) == COLORS["system"]
    assert color_at(100, 300) == COLORS["history"]
    assert color_at(400, 200) == HISTORY_ALT  # the next turn is a separate block
    assert color_at(601, 150) == COLORS["message"]
    assert color_at(1263, 2833) == COLORS["free"]


def test_context_bar_tooltip_legend_and_summary(context_bar: ContextBar) -> None:
    context_bar.set_map(make_map())
    segment = context_bar.shown_segments()[1]
    assert context_bar.tooltip_for(segment) == "user #2 · 300 tokens · 7.3 % of the window"
    free = context_bar.shown_segments()[-1]
    assert context_bar.tooltip_for(free).startswith("Free · 2,833 tokens")
    legend = context_bar.legend_text()
    for name in ("System prompt", "Retrieved knowledge", "History", "This message",
                 "Reserved for the reply", "Free"):
        assert name in legend
    assert ">500<" in legend  # both history messages together
    assert "Reply" not in legend  # no reply streaming: no entry for it
    assert context_bar.summary_text() == "751 of 4,096 tokens used (18 %)"


def test_context_bar_dropped_line(context_bar: ContextBar) -> None:
    context_bar.set_map(make_map())
    assert context_bar.dropped_label.isHidden()
    assert context_bar.dropped_text() == ""
    two = (*DROPPED, ContextSegment("dropped", "assistant #2", 80, 1))
    context_bar.set_map(make_map(two))
    assert not context_bar.dropped_label.isHidden()
    text = context_bar.dropped_text()
    assert "2 oldest message" in text  # "message(s)", or "messages" with English plurals
    assert "user #1 (120 tokens)" in text and "assistant #2 (80 tokens)" in text
    assert text.index("user #1") < text.index("assistant #2")
    context_bar.set_map(make_map())
    assert context_bar.dropped_label.isHidden()


def test_context_bar_without_a_map(context_bar: ContextBar) -> None:
    context_bar.set_map(None)
    context_bar.set_reply_tokens(50)
    assert context_bar.shown_segments() == []
    assert context_bar.segment_at(10) is None
    assert context_bar.legend.isHidden() and context_bar.dropped_label.isHidden()
    image = context_bar.bar.grab().toImage()
    assert not image.isNull()
    context_bar.set_map(make_map(DROPPED))
    assert not context_bar.legend.isHidden()
    context_bar.set_map(None)
    assert context_bar.dropped_label.isHidden() and context_bar.dropped_text() == ""


def test_context_bar_labels_get_the_height_their_wrapped_text_needs(
    context_bar: ContextBar, qtbot: QtBot
) -> None:
    context_bar.set_map(make_map(DROPPED))
    context_bar.resize(260, context_bar.height())
    qtbot.wait(20)
    for label in (context_bar.legend, context_bar.dropped_label):
        needed = label.heightForWidth(context_bar.contentsRect().width())
        assert needed > label.fontMetrics().height() * 1.5  # it does wrap at this width
        assert label.minimumHeight() >= needed
    # an entry's name is never split over two lines
    assert "&nbsp;for&nbsp;" in context_bar.legend.text().replace("\u2060", "")


def test_fill_numbered_placeholders_in_one_pass() -> None:
    from ui.format import fill

    assert fill("%2 个提示词词元中有 %1 个复用", 5, 30) == "30 个提示词词元中有 5 个复用"
    # a value that itself contains a placeholder (a user's question) is not filled again
    assert fill("“%1”: %2 passage(s)", "100%2 sure", 3) == "“100%2 sure”: 3 passage(s)"
    assert fill("%1 and %3", "a") == "a and %3"


# -------------------------------------------------------------------------- GenerationView


def test_a_servers_tokens_are_matched_by_text_and_an_error_ends_the_view(
        qtbot: QtBot) -> None:
    from engine.types import Candidate
    from ui.generation_view import GenerationView
    from ui.model_worker import TokenStep

    view = GenerationView()
    qtbot.addWidget(view)
    cands = (Candidate(-1, "。", 0.53, 0.57), Candidate(-1, "，", 0.43, 0.42),
             Candidate(-1, "之一", 0.01, 0.0))
    step = TokenStep(-1, "，", False, cands)  # a server's ids are unknown (-1)
    assert step.chosen() is cands[1]
    view.add_steps([step])
    view.select(0)
    rows = view.shown_rows()
    assert [chosen for *_, chosen in rows] == [False, True, False]  # one, not all three
    assert view.table.item(0, 1).text() == "—"
    view.finish(None)
    assert "stopped" in view.stats.text() and "so far" not in view.stats.text()


def test_retrieval_table_gives_the_source_the_room_left(qtbot: QtBot) -> None:
    """Whole file names in a wide panel; in a narrow one the source keeps a readable width
    and the table scrolls."""
    from ui.retrieval_view import SOURCE_MIN_WIDTH, RetrievalView

    view = RetrievalView()
    qtbot.addWidget(view)
    hit = {"path": "/docs/a_rather_long_file_name_for_the_tea_shop.md", "text": "茶",
           "vector_score": 0.4, "vector_rank": 1, "keyword_score": 3.0, "keyword_rank": 1,
           "fused_score": 0.03, "rank": 1, "matched_terms": ["茶"], "prompt_tokens": 10,
           "in_prompt": True}
    view.resize(900, 500)
    view.show()
    view.set_retrieval("茶？", [hit], 1536)
    table = view.table
    others = sum(table.columnWidth(c) for c in range(table.columnCount()) if c != 1)
    assert table.columnWidth(1) == table.viewport().width() - others > SOURCE_MIN_WIDTH
    view.resize(320, 500)
    qtbot.waitUntil(lambda: table.columnWidth(1) == SOURCE_MIN_WIDTH, timeout=2000)
    table.setColumnWidth(1, 200)  # as if the user dragged it: kept from then on
    view.resize(900, 500)
    qtbot.wait(50)
    assert table.columnWidth(1) == 200


def test_retrieval_summary_says_what_the_translator_was_shown(qtbot: QtBot) -> None:
    """A translated search says so, with the translation; when the translator read the best
    passages' opening words for their wording, the summary says how many."""
    from ui.retrieval_view import RetrievalView

    view = RetrievalView()
    qtbot.addWidget(view)
    hints = ("三楼自习室共有一百二十个座位", "## 开放时间 图书馆每天开放")
    view.set_retrieval("How many seats?", [], 1536, "自习室有多少个座位？", None, hints)
    text = view.summary.text()
    assert "自习室有多少个座位？" in text
    assert "opening words of the 2 best passage" in text
    assert view.summary.toolTip() == "• 三楼自习室共有一百二十个座位\n• ## 开放时间 图书馆每天开放"
    view.set_retrieval("How many seats?", [], 1536, "自习室有多少个座位？")
    assert "自习室" in view.summary.text() and "opening words" not in view.summary.text()
    assert view.summary.toolTip() == ""
    view.set_retrieval("How many seats?", [], 1536)
    assert "translation" not in view.summary.text()
