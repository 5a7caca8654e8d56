"""Typing 1,000 characters with the concept panel open: per-keystroke stall of the GUI thread.

Keystrokes go into the real composer every 20 ms (a fast typist), in a conversation that
already fills part of the window, with the prompt tab showing (the heaviest: every count also
redraws the prompt's token pieces). A keystroke's stall is how late its timer fired plus how
long the GUI thread took to handle it. Baseline in the same run: the same typing with the
panel hidden (no counting at all)."""

from __future__ import annotations

import os
import tempfile
import time

from bench.common import percentile, report

CHARS = 1000
INTERVAL_MS = 20
TEXT = ("明镜是一面镜子，让你看见模型在做什么。The model reads tokens, one at a time; "
        "上下文窗口有限，旧的对话会被移出。")


def _type(window: object, app: object, n: int) -> list[float]:
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtGui import QInputMethodEvent
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    composer = window.composer  # type: ignore[attr-defined]
    edit = composer.edit
    stalls: list[float] = []
    state = {"i": 0, "due": 0.0}
    done = QEventLoop()
    timer = QTimer()
    timer.setSingleShot(True)
    timer.setTimerType(Qt.TimerType.PreciseTimer)

    def keystroke() -> None:
        start = time.perf_counter()
        i = state["i"]
        ch = TEXT[i % len(TEXT)]
        if ord(ch) < 128:
            QTest.keyClick(edit, ch)
        else:  # Chinese arrives from the input method as a commit, not as a key
            event = QInputMethodEvent()
            event.setCommitString(ch)
            QApplication.sendEvent(edit, event)
        end = time.perf_counter()
        stalls.append((max(0.0, start - state["due"]) + (end - start)) * 1000)
        state["i"] = i + 1
        if state["i"] >= n:
            done.quit()
            return
        state["due"] = end + INTERVAL_MS / 1000
        timer.start(INTERVAL_MS)

    composer.clear()
    edit.setFocus()
    timer.timeout.connect(keystroke)
    state["due"] = time.perf_counter() + INTERVAL_MS / 1000
    timer.start(INTERVAL_MS)
    done.exec()
    return stalls


def main() -> dict[str, float]:
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.conversations import ConversationStore
    from app.paths import AppPaths
    from app.settings import Settings
    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    paths = AppPaths.create(tempfile.mkdtemp(prefix="mingjing-typing-"))
    store = ConversationStore(paths.conversations_db)
    conversation = store.create_conversation(mode="chat")
    for i in range(6):
        store.add_message(conversation.id, "user", f"问题 {i}: " + TEXT * 3)
        store.add_message(conversation.id, "assistant", f"回答 {i}: " + TEXT * 4,
                          status="complete")
    store.close()
    settings = Settings()
    settings.chat_template = "gemma"
    window = MainWindow(paths, settings)
    window.show()
    window.start()
    loop = QEventLoop()
    window.model_ready.connect(lambda _m: loop.quit())
    loop.exec()
    assert window.tokenizer is not None and window.concept_panel is not None
    loaded = QEventLoop()
    window.tokenizer.loaded.connect(lambda _p: loaded.quit())
    QTimer.singleShot(3000, loaded.quit)  # it may have loaded already
    loaded.exec()
    while not window._db_ready:
        app.processEvents()
    window.open_conversation(conversation.id)
    while len(window.history) < 12:
        app.processEvents()
    panel = window.concept_panel
    panel.show_tab("prompt")
    inspections = {"n": 0}
    window.tokenizer.inspected.connect(lambda _i: inspections.__setitem__("n",
                                                                          inspections["n"] + 1))

    assert window.concept_dock is not None
    window.concept_dock.hide()
    app.processEvents()
    hidden = _type(window, app, CHARS)
    window.concept_dock.show()
    app.processEvents()
    before = inspections["n"]
    shown = _type(window, app, CHARS)
    settle = QEventLoop()
    QTimer.singleShot(500, settle.quit)
    settle.exec()
    counts = inspections["n"] - before
    context = panel.draft_context
    tokens = panel.prompt_view.token_count()

    def line(stalls: list[float]) -> str:
        return (f"p50 {percentile(stalls, 0.5):.2f} · p95 {percentile(stalls, 0.95):.2f} · "
                f"worst {max(stalls):.1f} ms")

    report(
        f"Typing {CHARS} characters, one every {INTERVAL_MS} ms (conversation of "
        f"{context.prompt_tokens if context else '?'} prompt tokens, prompt tab showing "
        f"{tokens} token pieces)",
        [
            ("panel hidden (baseline)", line(hidden)),
            ("panel open", line(shown) + "  (target p95 <= 16 ms)"),
            ("counts delivered while typing", f"{counts} for {CHARS} keystrokes (debounced)"),
            ("p95 ratio open / hidden",
             f"{percentile(shown, 0.95) / max(percentile(hidden, 0.95), 1e-3):.2f}"),
        ],
    )
    window.close()
    return {"p95_open_ms": percentile(shown, 0.95), "p95_hidden_ms": percentile(hidden, 0.95)}


if __name__ == "__main__":
    main()
