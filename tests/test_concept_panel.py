"""The concept panel's numbers against the engine's exact ones, in the real window with the
real model: the input count is the tokenizer's, the context map's prompt segments add up to
the templated prompt, candidates form a distribution (greedy picks the top one), and the
overflow preview names the turns the engine then drops."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PySide6.QtGui import QInputMethodEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from app.conversations import ConversationStore
from app.paths import AppPaths
from engine.runtime import Engine
from engine.types import ChatMessage, ContextMap, SamplingParams, TokenEvent
from tests.test_window import TURN_TIMEOUT_MS, make_settings, open_window, paths, send_and_wait
from ui.concept_panel import ConceptPanel
from ui.generation_view import preview_at_temperature
from ui.main_window import MainWindow

__all__ = ["paths"]  # the fixture, shared with the window tests

PROMPT_KINDS = {"system", "knowledge", "history", "message"}


def prompt_sum(context: ContextMap) -> int:
    return sum(s.tokens for s in context.segments if s.kind in PROMPT_KINDS)


def type_text(widget: QWidget, text: str) -> None:
    """Type like a user: keys for ASCII, input-method commits for Chinese (as a pinyin IME
    delivers them; QTest cannot send non-Latin key clicks)."""
    for ch in text:
        if ord(ch) < 128:
            QTest.keyClick(widget, ch)
        else:
            event = QInputMethodEvent()
            event.setCommitString(ch)
            QApplication.sendEvent(widget, event)


def panel_of(window: MainWindow) -> ConceptPanel:
    assert window.concept_panel is not None
    return window.concept_panel


def chat_window(qtbot: QtBot, paths: AppPaths, *, n_ctx: int = 1024,
                max_tokens: int = 16, system: str = "") -> MainWindow:
    settings = make_settings(max_tokens=max_tokens)
    settings.n_ctx = n_ctx
    settings.chat_template = "gemma"
    settings.system_prompt = system
    window = open_window(qtbot, paths, settings)
    assert window.concept_dock is not None and window.concept_dock.isVisible()
    return window


def test_typing_shows_the_engines_exact_counts(qtbot: QtBot, paths: AppPaths,
                                               chat_engine: Engine) -> None:
    window = chat_window(qtbot, paths, system="简短。")
    panel = panel_of(window)
    panel.show_tab("prompt")
    draft = "我今天吃了狮子头和蔬菜。"
    window.composer.set_text("我今天")
    type_text(window.composer.edit, "吃了狮子头和蔬菜。")
    assert window.composer.text() == draft
    expected = chat_engine.count_tokens(draft)
    plan = chat_engine.plan([ChatMessage("user", draft)], system="简短。", reserve=16)
    qtbot.waitUntil(lambda: panel.draft_context is not None
                    and panel.draft_context.prompt_tokens == plan.prompt_tokens,
                    timeout=30_000)
    assert panel.draft_tokens == expected == 9
    assert f"→ {expected} " in panel.input_label.text()
    context = panel.draft_context
    assert context is not None
    # The bar's segments: prompt parts add up to the templated prompt; all to n_ctx.
    assert prompt_sum(context) == plan.prompt_tokens
    shown = panel.context_bar.shown_segments()
    assert sum(s.tokens for s in shown) == 1024
    assert [s.kind for s in shown if s.kind in PROMPT_KINDS] == ["system", "message"]
    # The prompt view shows the very tokens the model will read.
    qtbot.waitUntil(lambda: panel.prompt_view.token_count() == len(plan.tokens),
                    timeout=10_000)
    window.close()


def test_generation_view_candidates_and_the_sent_turns_map(qtbot: QtBot, paths: AppPaths,
                                                           chat_engine: Engine) -> None:
    window = chat_window(qtbot, paths, max_tokens=12)
    panel = panel_of(window)
    finished = send_and_wait(qtbot, window, "What is the capital of France?")
    assert finished.status == "complete" and finished.stats is not None
    steps = panel.generation_view.steps
    assert len(steps) == finished.stats.completion_tokens > 0
    for step in steps:
        probs = [c.probability for c in step.candidates]
        assert len(probs) == 10
        assert all(0 < p <= 1 for p in probs)
        assert probs == sorted(probs, reverse=True)
        assert sum(probs) <= 1 + 1e-6  # the top 10 of a distribution over the vocabulary
        # Temperature 0: the chosen token is always the top candidate.
        assert step.token_id == step.candidates[0].token_id
        assert step.candidates[0].probability_at_temperature == 1.0
    # The table marks the chosen token and previews other temperatures among the shown.
    panel.generation_view.select(0)
    rows = panel.generation_view.shown_rows()
    assert rows[0][0] == steps[0].token_id and rows[0][3] is True
    assert sum(r[2] for r in rows) == pytest.approx(1.0)
    panel.generation_view.set_temperature(0.0)
    assert panel.generation_view.shown_rows()[0][2] == 1.0
    # The sent turn's map is the engine's for that conversation.
    started = window.turns.last_started
    assert started is not None and started.context is not None
    expected = chat_engine.context_map([ChatMessage("user", "What is the capital of France?")],
                                       reserve=12)
    assert started.context == expected
    assert panel.turn_context == expected
    assert prompt_sum(expected) == started.prompt_tokens == finished.stats.prompt_tokens
    assert [s.token_id for s in started.spans] == chat_engine.plan(
        [ChatMessage("user", "What is the capital of France?")], reserve=12).tokens
    # While the reply streamed, the bar took the reply's tokens out of the reserve.
    reply = [s for s in panel.context_bar.shown_segments() if s.kind == "reply"]
    assert reply and reply[0].tokens == finished.stats.completion_tokens
    # It keeps showing that turn (the tokenizer loading or a tab change leaves it) ...
    panel.show_tab("model")
    qtbot.wait(400)
    assert panel.context_bar.context_map() == expected
    # ... until the next message is typed: then the window as the next turn will fill it.
    window.composer.set_text("And of Italy?")
    qtbot.waitUntil(lambda: panel.context_bar.context_map() != expected, timeout=10_000)
    nxt = panel.context_bar.context_map()
    assert nxt is not None and [s.kind for s in nxt.segments][:3] == ["history", "history",
                                                                      "message"]
    window.close()


def test_overflow_preview_names_the_turns_the_engine_drops(qtbot: QtBot,
                                                           paths: AppPaths) -> None:
    store = ConversationStore(paths.conversations_db)
    conversation = store.create_conversation(mode="chat")
    long_text = "这是一段很长的历史消息，用来填满上下文窗口。" * 12
    for i in range(4):
        store.add_message(conversation.id, "user", f"第{i + 1}个问题：{long_text}")
        store.add_message(conversation.id, "assistant", f"第{i + 1}个回答：{long_text}",
                          status="complete")
    store.close()
    window = chat_window(qtbot, paths, n_ctx=768, max_tokens=8)
    panel = panel_of(window)
    window.open_conversation(conversation.id)
    qtbot.waitUntil(lambda: len(window.history) == 8, timeout=10_000)
    window.composer.set_text("最后一个问题是什么？")
    qtbot.waitUntil(lambda: panel.draft_context is not None
                    and bool(panel.draft_context.dropped)
                    and panel.draft_tokens > 0, timeout=30_000)
    context = panel.draft_context
    assert context is not None
    preview = [s.message_index for s in context.dropped]
    assert preview[0] == 0 and preview == list(range(len(preview)))
    labels = [s.label for s in context.dropped]
    assert panel.context_bar.dropped_text() != ""
    for label in labels:
        assert label in panel.context_bar.dropped_text()
    with qtbot.waitSignal(window.turn_done, timeout=TURN_TIMEOUT_MS):
        window.send("最后一个问题是什么？")
    started = window.turns.last_started
    assert started is not None
    assert started.dropped == preview  # what was shown is what the engine left out
    window.close()


def test_hidden_panel_asks_for_no_candidates(qtbot: QtBot, paths: AppPaths) -> None:
    window = chat_window(qtbot, paths, max_tokens=4)
    window.concepts.toggle()
    assert window.concept_dock is not None and not window.concept_dock.isVisible()
    assert window.settings.concept_panel is False
    send_and_wait(qtbot, window, "Hello")
    assert panel_of(window).generation_view.steps == []
    window.close()


def test_temperature_preview_matches_the_engines_softmax(completion_engine: Engine) -> None:
    """Among the top candidates, the preview at T is the engine's full softmax at T
    renormalized over them (the preview only sees the shown candidates)."""
    plan = completion_engine.plan([ChatMessage("user", "The capital of France is")])
    for temperature in (0.3, 0.7, 1.5):
        sampling = SamplingParams(temperature=temperature, max_tokens=1, repeat_penalty=1.0,
                                  seed=7)
        first = next(e for e in completion_engine.generate(plan.tokens, sampling,
                                                            candidates=10)
                     if isinstance(e, TokenEvent))
        cands = first.candidates
        engine_at_t = [c.probability_at_temperature for c in cands]
        preview = preview_at_temperature([c.probability for c in cands], temperature)
        assert sum(preview) == pytest.approx(1.0)
        expected = [q / sum(engine_at_t) for q in engine_at_t]
        assert preview == pytest.approx(expected, rel=1e-4, abs=1e-9)
    assert preview_at_temperature([0.5, 0.3, 0.2], 0.0) == [1.0, 0.0, 0.0]
    flat = preview_at_temperature([0.5, 0.3, 0.2], 5.0)
    sharp = preview_at_temperature([0.5, 0.3, 0.2], 0.2)

    def entropy(ps: list[float]) -> float:
        return -sum(p * math.log(p) for p in ps if p > 0)

    assert entropy(sharp) < entropy([0.5, 0.3, 0.2]) < entropy(flat)


def test_model_card_explains_memory(qtbot: QtBot, default_model_path: Path) -> None:
    from engine.cpu_features import read_cpu_features
    from engine.gguf import read_model_info

    info = read_model_info(default_model_path)
    panel = ConceptPanel()
    qtbot.addWidget(panel)
    from engine.cpu_backend import ensure_loaded
    from models.refs import ModelRef
    from ui.model_worker import LoadedModel

    panel.show_model(LoadedModel(ModelRef.file(default_model_path), str(default_model_path),
                                 info, "completion", 4096, 0.1, ensure_loaded()))
    values = panel.model_card.values
    assert "AVX2" in values["engine"] or read_cpu_features() is None
    assert values["architecture"] == "gemma3"
    kv = info.kv_cache_bytes(4096)
    assert kv is not None and kv > 0
    assert "KV" in values["memory"]
    assert "base model" in values["template"]


def test_model_card_of_a_model_on_a_server(qtbot: QtBot) -> None:
    from engine.backend import Capabilities
    from models.refs import ModelRef
    from ui.model_worker import LoadedModel

    panel = ConceptPanel()
    qtbot.addWidget(panel)
    ref = ModelRef.remote("http://127.0.0.1:9/v1", "qwen")
    caps = Capabilities(exact_token_counts=False, candidates=True, prefix_reuse=False,
                        token_pieces=False)
    panel.show_model(LoadedModel(ref, "http://127.0.0.1:9 (qwen)", None, "chat", 8192, 0.2,
                                 capabilities=caps, server_name="qwen"))
    values = panel.model_card.values
    assert values["name"] == "qwen"
    assert "127.0.0.1:9" in values["server"]
    assert "8,192" in values["context"]
    assert "Estimated" in values["counts"]
    assert "memory" not in values and "engine" not in values
