"""Tests for ui.chat_view, ui.message_widget and ui.composer: real widgets, offscreen, driven
through qtbot."""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QObject, QPoint, QPointF, Qt, QUrl, Slot
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QGuiApplication,
    QInputMethodEvent,
    QPalette,
    QTextCursor,
    QTextFormat,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from ui.chat_view import STREAM_INTERVAL_MS, ChatView
from ui.composer import MAX_LINES, Composer
from ui.message_widget import MessageData, MessageWidget


def _none_drift_per_call() -> int:
    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(10):
        obj.setObjectName("probe")
    return sys.getrefcount(None) - before


# PySide6-Essentials 6.12.0's abi3 wheel drops one reference to None on every Qt call that
# returns None when run on Python < 3.12 (None is not immortal there), so a long-running
# process aborts with "none_dealloc". 6.11.2 does not. Say so loudly rather than hide it.
if sys.version_info < (3, 12) and _none_drift_per_call() < 0:
    warnings.warn(
        "this PySide6 leaks a reference to None per Qt call on Python < 3.12; the app "
        "aborts after a few thousand calls (pin PySide6-Essentials 6.11.2 or use Python 3.12+)",
        RuntimeWarning,
        stacklevel=1,
    )


LONG_REPLY = "\n".join(f"Line {i}: some words to fill the line." for i in range(30))


@pytest.fixture
def view(qtbot: QtBot) -> Iterator[ChatView]:
    v = ChatView()
    qtbot.addWidget(v)
    v.resize(700, 500)
    v.show()
    qtbot.waitExposed(v)
    yield v


@pytest.fixture
def composer(qtbot: QtBot) -> Composer:
    c = Composer()
    qtbot.addWidget(c)
    c.resize(600, 80)
    c.show()
    qtbot.waitExposed(c)
    c.focus_input()
    return c


def _conversation() -> list[MessageData]:
    return [
        MessageData("user", "first question"),
        MessageData("assistant", "first answer"),
        MessageData("user", "second question"),
        MessageData("assistant", "second answer", info="12 tokens"),
    ]


def _visible(button: object) -> bool:
    return not button.isHidden()  # type: ignore[attr-defined]


# -- streaming -----------------------------------------------------------------------------------


def test_streaming_is_throttled_and_shows_the_concatenation(view: ChatView, qtbot: QtBot) -> None:
    widget = view.begin_stream()
    assert view.is_streaming()
    assert widget.status == "streaming"
    pieces = [f"w{i} " for i in range(2000)]
    start = time.monotonic()
    for batch in range(20):
        for piece in pieces[batch * 100 : (batch + 1) * 100]:
            view.append_stream(piece)
        qtbot.wait(25)
    qtbot.wait(STREAM_INTERVAL_MS * 3)  # let the last tick render
    elapsed = time.monotonic() - start

    expected = "".join(pieces)
    assert view.render_count >= 2  # it did render while streaming, not only at the end
    assert view.render_count <= elapsed / (STREAM_INTERVAL_MS / 1000) + 3
    assert view.render_count < len(pieces) / 20
    assert view.stream_text() == expected
    assert widget.body.toPlainText() == expected.strip()
    assert view.messages()[-1].content == expected
    assert "Generating" in widget.footer_text()


def test_end_stream_renders_final_text_once_and_stops(view: ChatView, qtbot: QtBot) -> None:
    widget = view.begin_stream()
    view.append_stream("partial")
    before = view.render_count
    view.end_stream("**Final** answer", "complete", "5 tokens · 10.0 tok/s · stopped: eos")
    assert view.render_count == before + 1
    assert not view.is_streaming()
    assert widget.body.toPlainText() == "Final answer"
    assert widget.status == "complete"
    assert "5 tokens" in widget.footer_text()
    assert "Generating" not in widget.footer_text()
    assert view.messages()[-1] == MessageData(
        "assistant", "**Final** answer", "complete", "5 tokens · 10.0 tok/s · stopped: eos"
    )
    # Late pieces from a worker that has not noticed the end yet are dropped.
    view.append_stream(" late")
    qtbot.wait(STREAM_INTERVAL_MS * 3)
    assert view.render_count == before + 1
    assert widget.content() == "**Final** answer"


def test_nothing_renders_while_no_pieces_arrive(view: ChatView, qtbot: QtBot) -> None:
    view.begin_stream()
    view.append_stream("hello")
    qtbot.wait(STREAM_INTERVAL_MS * 4)
    settled = view.render_count
    qtbot.wait(STREAM_INTERVAL_MS * 4)
    assert view.render_count == settled == 1


def test_cancelled_and_error_footers(view: ChatView) -> None:
    view.begin_stream()
    view.append_stream("half a")
    view.end_stream("half a", "cancelled", "3 tokens")
    stopped = view.message_widgets()[-1]
    assert "Stopped" in stopped.footer_text()
    assert "3 tokens" in stopped.footer_text()

    failed = view.add_message(MessageData("assistant", "", "error", "context window full"))
    assert "context window full" in failed.status_label.text()
    assert failed.status_label.palette().color(failed.status_label.foregroundRole()).red() > 150


def test_interrupted_status_shows_the_marker(view: ChatView) -> None:
    widget = view.add_message(MessageData("assistant", "The answer is", status="interrupted"))
    assert "Interrupted — the reply was cut off" in widget.footer_text()
    assert widget.status_label.isVisibleTo(widget)


# -- rendering -----------------------------------------------------------------------------------


def test_fenced_code_renders_with_background_and_monospace(view: ChatView) -> None:
    md = "Here:\n\n```python\nprint('hi')\nx = 1\n```\n\nDone with `inline`."
    widget = view.add_message(MessageData("assistant", md))
    doc = widget.body.document()
    assert "print('hi')" in doc.toPlainText()
    block = doc.begin()
    code_blocks = []
    while block.isValid():
        if block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence):
            code_blocks.append(block)
        block = block.next()
    assert [b.text() for b in code_blocks] == ["print('hi')", "x = 1"]
    for b in code_blocks:
        assert b.blockFormat().background().style() != Qt.BrushStyle.NoBrush
        assert b.begin().fragment().charFormat().fontFixedPitch()
    assert widget.body.code_runs() == [(code_blocks[0].blockNumber(), code_blocks[1].blockNumber())]
    assert doc.begin().blockFormat().background().style() == Qt.BrushStyle.NoBrush


def test_markdown_tables_lists_and_literal_html(view: ChatView) -> None:
    md = "- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nuse a <div> here"
    widget = view.add_message(MessageData("assistant", md))
    text = widget.body.toPlainText()
    assert "one" in text and "two" in text
    assert widget.body.document().rootFrame().childFrames()  # the table
    # Raw HTML from a model stays visible text rather than vanishing into markup.
    assert "use a <div> here" in text


def test_user_messages_are_plain_text(view: ChatView) -> None:
    widget = view.add_message(MessageData("user", "**not bold** and `not code`"))
    assert widget.body.toPlainText() == "**not bold** and `not code`"


def test_chinese_text_round_trips(view: ChatView) -> None:
    user = "你好！请用中文解释“明镜”是什么意思？"
    reply = "**明镜**意为明亮的镜子。\n\n- 比喻：洞察一切\n- 出处：古文"
    view.set_messages([MessageData("user", user), MessageData("assistant", reply)])
    widgets = view.message_widgets()
    assert widgets[0].body.toPlainText() == user
    assert "明镜意为明亮的镜子。" in widgets[1].body.toPlainText()
    assert "比喻：洞察一切" in widgets[1].body.toPlainText()
    assert [m.content for m in view.messages()] == [user, reply]
    # Single newlines stay line breaks, without the space a soft break would add.
    poem = view.add_message(MessageData("assistant", "床前明月光，\n疑是地上霜。"))
    assert poem.body.toPlainText() == "床前明月光，\n疑是地上霜。"


class _UrlCatcher(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def handle(self, url: QUrl) -> None:
        self.urls.append(url.toString())


def test_links_open_externally_but_never_navigate_the_bubble(view: ChatView, qtbot: QtBot) -> None:
    md = "see [docs](https://example.com/x), [notes](notes.md) and [pw](file:///etc/passwd)"
    widget = view.add_message(MessageData("assistant", md))
    assert widget.body.openExternalLinks()
    catcher = _UrlCatcher()
    QDesktopServices.setUrlHandler("https", catcher, "handle")  # type: ignore[arg-type]
    QDesktopServices.setUrlHandler("file", catcher, "handle")  # type: ignore[arg-type]
    qtbot.waitUntil(lambda: widget.body.width() > 300)  # laid out, so positions are real
    try:
        doc = widget.body.document()
        for word in ("docs", "notes", "pw"):
            cursor = QTextCursor(doc)
            cursor.setPosition(doc.find(word).selectionStart() + 1)
            centre = widget.body.cursorRect(cursor).center()
            qtbot.mouseClick(widget.body.viewport(), Qt.MouseButton.LeftButton, pos=centre)
            qtbot.wait(QApplication.doubleClickInterval() + 10)  # separate clicks, not a double
    finally:
        QDesktopServices.unsetUrlHandler("https")
        QDesktopServices.unsetUrlHandler("file")
    assert catcher.urls == ["https://example.com/x"]
    assert widget.body.toPlainText() == "see docs, notes and pw"


# -- actions -------------------------------------------------------------------------------------


def test_copy_puts_raw_markdown_on_the_clipboard(view: ChatView, qtbot: QtBot) -> None:
    md = "**bold** and `code`\n\n```\nx = 1\n```"
    widget = view.add_message(MessageData("assistant", md))
    with qtbot.waitSignal(view.copy_done) as blocker:
        qtbot.mouseClick(widget.copy_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [md]
    assert QGuiApplication.clipboard().text() == md
    assert widget.copy_button.text() == "Copied"
    qtbot.waitUntil(lambda: widget.copy_button.text() == "Copy", timeout=3000)


def test_edit_only_on_last_user_message(view: ChatView, qtbot: QtBot) -> None:
    view.set_messages(_conversation())
    widgets = view.message_widgets()
    assert [_visible(w.edit_button) for w in widgets] == [False, False, True, False]
    with qtbot.waitSignal(view.edit_requested) as blocker:
        qtbot.mouseClick(widgets[2].edit_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [2]


def test_regenerate_only_on_last_assistant_message(view: ChatView, qtbot: QtBot) -> None:
    view.set_messages(_conversation())
    widgets = view.message_widgets()
    assert [_visible(w.regenerate_button) for w in widgets] == [False, False, False, True]
    with qtbot.waitSignal(view.regenerate_requested) as blocker:
        qtbot.mouseClick(widgets[3].regenerate_button, Qt.MouseButton.LeftButton)
    assert blocker.args == [3]


def test_no_edit_or_regenerate_while_streaming(view: ChatView) -> None:
    view.set_messages(_conversation()[:3])
    # A trailing user message: regenerating the earlier reply would drop it.
    assert not any(_visible(w.regenerate_button) for w in view.message_widgets())
    view.begin_stream()
    assert not any(_visible(w.edit_button) for w in view.message_widgets())
    assert not any(_visible(w.regenerate_button) for w in view.message_widgets())
    view.end_stream("done")
    widgets = view.message_widgets()
    assert _visible(widgets[2].edit_button)
    assert _visible(widgets[3].regenerate_button)


def test_remove_from_drops_the_tail_and_cancels_its_stream(view: ChatView, qtbot: QtBot) -> None:
    view.set_messages(_conversation())
    view.begin_stream()
    view.append_stream("text")
    view.remove_from(3)
    assert not view.is_streaming()
    assert [m.content for m in view.messages()] == [
        "first question",
        "first answer",
        "second question",
    ]
    assert _visible(view.message_widgets()[2].edit_button)
    qtbot.wait(STREAM_INTERVAL_MS * 3)  # the timer must not touch the removed widget
    view.remove_from(0)
    assert view.messages() == []
    assert view.placeholder_visible()


def test_placeholder_only_when_empty(view: ChatView) -> None:
    view.set_placeholder("gemma-3-270m", "Type a message below")
    assert view.placeholder_visible()
    view.add_message(MessageData("user", "hi"))
    assert not view.placeholder_visible()
    view.set_messages([])
    assert view.placeholder_visible()


# -- size and scrolling --------------------------------------------------------------------------


def test_set_messages_with_200_messages(view: ChatView, qtbot: QtBot) -> None:
    reply = "Some **markdown** with `code`:\n\n```python\nprint(1)\n```\n\n- a\n- b\n\n中文也可以。"
    messages = [
        MessageData("user", f"question {i}") if i % 2 == 0 else MessageData("assistant", reply)
        for i in range(200)
    ]
    start = time.monotonic()
    view.set_messages(messages)
    built = time.monotonic() - start
    assert view.messages() == messages
    assert view.count() == 200
    assert built < 5.0  # typically ~0.3 s; generous for slow CI machines
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())


def test_long_message_is_taller_and_never_clipped(view: ChatView, qtbot: QtBot) -> None:
    short = view.add_message(MessageData("assistant", "One line."))
    long = view.add_message(MessageData("assistant", LONG_REPLY))
    user_long = view.add_message(MessageData("user", LONG_REPLY))
    # Layout settles asynchronously; on a loaded machine 50 ms is not always enough.
    qtbot.waitUntil(lambda: long.height() > short.height() + 200, timeout=5000)
    for widget in (short, long, user_long):
        body = widget.body
        assert body.height() >= body.document_height()
        assert body.verticalScrollBar().maximum() == 0


def test_height_follows_width(view: ChatView, qtbot: QtBot) -> None:
    paragraph = " ".join(["word"] * 200)
    widget = view.add_message(MessageData("assistant", paragraph))
    qtbot.waitUntil(lambda: widget.body.height() >= widget.body.document_height())
    wide = widget.body.height()
    view.resize(350, 500)
    qtbot.waitUntil(lambda: widget.body.height() > wide)
    assert widget.body.height() >= widget.body.document_height()


def test_stream_sticks_to_bottom_unless_user_scrolled_up(view: ChatView, qtbot: QtBot) -> None:
    view.set_messages([MessageData("assistant", LONG_REPLY)] * 3)
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() == bar.maximum())
    view.begin_stream()
    for i in range(40):
        view.append_stream(f"line {i}\n\n")
    qtbot.waitUntil(lambda: view.render_count >= 1)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum() and bar.maximum() > 0)

    bar.setValue(0)  # the reader scrolls up to re-read something
    top_max = bar.maximum()
    for i in range(40):
        view.append_stream(f"more {i}\n\n")
    qtbot.waitUntil(lambda: bar.maximum() > top_max)
    assert bar.value() == 0


def test_wheel_over_a_message_scrolls_the_conversation(view: ChatView, qtbot: QtBot) -> None:
    view.set_messages([MessageData("assistant", LONG_REPLY)] * 3)
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    bar.setValue(bar.maximum())
    body = view.message_widgets()[-1].body

    def wheel(target: QWidget) -> QWheelEvent:
        event = QWheelEvent(
            QPointF(10, 10),
            QPointF(target.mapToGlobal(QPoint(10, 10))),
            QPoint(0, 0),
            QPoint(0, 120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(target, event)
        return event

    # A real (spontaneous) wheel event propagates while ignored; a sent one does not, so
    # check both halves: the bubble declines it, and the view scrolls on it.
    assert not wheel(body.viewport()).isAccepted()
    before = bar.value()
    wheel(view.viewport())
    assert bar.value() < before


# -- composer ------------------------------------------------------------------------------------


def test_enter_sends_stripped_text(composer: Composer, qtbot: QtBot) -> None:
    qtbot.keyClicks(composer.edit, "  hello  ")
    with qtbot.waitSignal(composer.send_requested) as blocker:
        qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert blocker.args == ["hello"]
    assert composer.text() == "  hello  "  # the owner clears once it accepts the message


def test_keypad_enter_sends(composer: Composer, qtbot: QtBot) -> None:
    composer.set_text("hi")
    with qtbot.waitSignal(composer.send_requested):
        qtbot.keyClick(composer.edit, Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier)


def test_shift_enter_inserts_a_newline(composer: Composer, qtbot: QtBot) -> None:
    with qtbot.assertNotEmitted(composer.send_requested):
        qtbot.keyClicks(composer.edit, "a")
        qtbot.keyClick(composer.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
        qtbot.keyClicks(composer.edit, "b")
    assert composer.text() == "a\nb"


def test_empty_or_blank_input_never_sends(composer: Composer, qtbot: QtBot) -> None:
    with qtbot.assertNotEmitted(composer.send_requested):
        qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
        qtbot.keyClicks(composer.edit, "   ")
        qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
        qtbot.mouseClick(composer.send_button, Qt.MouseButton.LeftButton)
    assert not composer.send_button.isEnabled()


def test_send_button_sends(composer: Composer, qtbot: QtBot) -> None:
    composer.set_text("via button")
    assert composer.send_button.isEnabled()
    with qtbot.waitSignal(composer.send_requested) as blocker:
        qtbot.mouseClick(composer.send_button, Qt.MouseButton.LeftButton)
    assert blocker.args == ["via button"]


def test_ime_composition_does_not_send(composer: Composer, qtbot: QtBot) -> None:
    with qtbot.assertNotEmitted(composer.send_requested):
        QApplication.sendEvent(composer.edit, QInputMethodEvent("nihao", []))
        qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    commit = QInputMethodEvent()
    commit.setCommitString("你好")
    QApplication.sendEvent(composer.edit, commit)
    assert composer.text() == "你好"
    with qtbot.waitSignal(composer.send_requested) as blocker:
        qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert blocker.args == ["你好"]


def test_up_in_empty_box_asks_to_edit_last(composer: Composer, qtbot: QtBot) -> None:
    with qtbot.waitSignal(composer.edit_last_requested):
        qtbot.keyClick(composer.edit, Qt.Key.Key_Up)
    composer.set_text("draft")
    with qtbot.assertNotEmitted(composer.edit_last_requested):
        qtbot.keyClick(composer.edit, Qt.Key.Key_Up)


def test_set_busy_swaps_send_and_stop(composer: Composer, qtbot: QtBot) -> None:
    assert _visible(composer.send_button) and not _visible(composer.stop_button)
    composer.set_busy(True)
    assert not _visible(composer.send_button) and _visible(composer.stop_button)
    composer.set_text("next question")
    with qtbot.assertNotEmitted(composer.send_requested):
        qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    assert composer.text() == "next question"  # typing ahead while busy is kept
    with qtbot.waitSignal(composer.stop_requested):
        qtbot.mouseClick(composer.stop_button, Qt.MouseButton.LeftButton)
    composer.set_busy(False)
    assert _visible(composer.send_button) and not _visible(composer.stop_button)


def test_escape_stops_only_while_busy(composer: Composer, qtbot: QtBot) -> None:
    with qtbot.assertNotEmitted(composer.stop_requested):
        qtbot.keyClick(composer.edit, Qt.Key.Key_Escape)
    composer.set_busy(True)
    with qtbot.waitSignal(composer.stop_requested):
        qtbot.keyClick(composer.edit, Qt.Key.Key_Escape)


def test_disabled_for_sending_explains_why(composer: Composer, qtbot: QtBot) -> None:
    composer.set_enabled_for_sending(False, "No model loaded")
    qtbot.keyClicks(composer.edit, "typing still works")
    assert composer.text() == "typing still works"
    assert not composer.send_button.isEnabled()
    assert composer.send_button.toolTip() == "No model loaded"
    with qtbot.assertNotEmitted(composer.send_requested):
        qtbot.keyClick(composer.edit, Qt.Key.Key_Return)
    composer.set_enabled_for_sending(True)
    assert composer.send_button.isEnabled()


def test_text_changed_and_placeholder(composer: Composer, qtbot: QtBot) -> None:
    assert "Enter to send" in composer.edit.placeholderText()
    with qtbot.waitSignal(composer.text_changed) as blocker:
        composer.set_text("abc")
    assert blocker.args == ["abc"]
    composer.clear()
    assert composer.text() == ""


def test_composer_grows_to_eight_lines(composer: Composer, qtbot: QtBot) -> None:
    one = composer.edit.height()
    composer.set_text("1\n2\n3")
    qtbot.waitUntil(lambda: composer.edit.height() > one)
    three = composer.edit.height()
    composer.set_text("\n".join(str(i) for i in range(30)))
    qtbot.waitUntil(lambda: composer.edit.visible_lines() == MAX_LINES)
    capped = composer.edit.height()
    assert capped > three
    composer.set_text("\n".join(str(i) for i in range(60)))
    qtbot.wait(20)
    assert composer.edit.height() == capped
    composer.clear()
    qtbot.waitUntil(lambda: composer.edit.height() == one)


def test_message_widget_exposes_its_data(qtbot: QtBot) -> None:
    widget = MessageWidget(MessageData("system", "be brief"))
    qtbot.addWidget(widget)
    assert widget.role_label.text() == "System"
    data = widget.data()
    data.content = "changed"
    assert widget.content() == "be brief"  # data() is a copy


def test_palette_change_retints_code_blocks(view: ChatView) -> None:
    widget = view.add_message(MessageData("assistant", "```\nx = 1\n```"))

    def code_colour() -> str:
        block = widget.body.document().begin()
        return block.blockFormat().background().color().name()

    light = code_colour()
    dark = QPalette()
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#e0e0e0"))
    widget.setPalette(dark)
    assert code_colour() != light
    assert QColor(code_colour()).lightnessF() < 0.5
