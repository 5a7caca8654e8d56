"""The tokenizer thread gives the same counts and context maps as the engine that will
run the prompt, while typing is debounced and only the newest draft is worked on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from engine.runtime import Engine
from engine.types import ChatMessage, LoadParams
from models.refs import ModelRef
from ui.token_worker import Inspection, InspectRequest, TokenizerThread


@pytest.fixture
def tokenizer(qtbot: QtBot, default_model_path: Path) -> Iterator[TokenizerThread]:
    thread = TokenizerThread()
    with qtbot.waitSignal(thread.loaded, timeout=30_000):
        thread.load(ModelRef.file(default_model_path), default_model_path.parent,
                    LoadParams(n_ctx=1024), "gemma")
    yield thread
    thread.stop()


def test_counts_match_the_engine(qtbot: QtBot, tokenizer: TokenizerThread,
                                 chat_engine: Engine) -> None:
    history = [ChatMessage("user", "你好"), ChatMessage("assistant", "你好！")]
    draft = "我今天吃了狮子头和蔬菜。"
    results: list[Inspection] = []
    tokenizer.inspected.connect(results.append)
    tokenizer.inspect(InspectRequest(draft, history, system="简短。", reserve=128, spans=True),
                      now=True)
    qtbot.waitUntil(lambda: bool(results), timeout=10_000)
    got = results[-1]
    assert got.draft_tokens == chat_engine.count_tokens(draft) == 9
    assert got.chars_per_token == pytest.approx(12 / 9)
    expected = chat_engine.context_map([*history, ChatMessage("user", draft)], system="简短。",
                                       reserve=128)
    assert got.context == expected
    plan = chat_engine.plan([*history, ChatMessage("user", draft)], system="简短。", reserve=128)
    assert [s.token_id for s in got.spans] == plan.tokens


def test_typing_is_coalesced(qtbot: QtBot, tokenizer: TokenizerThread) -> None:
    results: list[Inspection] = []
    tokenizer.inspected.connect(results.append)
    text = ""
    for ch in "The capital of France is Paris, a city on the Seine.":
        text += ch
        tokenizer.inspect(InspectRequest(text))  # every keystroke
    qtbot.waitUntil(lambda: bool(results) and results[-1].draft == text, timeout=10_000)
    qtbot.wait(300)
    assert len(results) <= 2  # debounced: not one count per keystroke
    assert results[-1].draft_tokens > 5


def test_overflowing_draft_reports_instead_of_failing(qtbot: QtBot,
                                                      tokenizer: TokenizerThread) -> None:
    results: list[Inspection] = []
    tokenizer.inspected.connect(results.append)
    tokenizer.inspect(InspectRequest("河流 " * 2000, reserve=128), now=True)
    qtbot.waitUntil(lambda: bool(results), timeout=10_000)
    assert results[-1].context is None and "context window" in results[-1].error
