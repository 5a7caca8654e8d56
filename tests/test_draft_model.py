"""Draft-model speculative decoding (engine/draft_model.py, issue 16) on the real built-in
chat model, drafting for itself (a second context on the same file: the only same-family
pair the suite has): the greedy reply is token for token that of plain decoding, most
drafts are kept, and the draft model follows the reply through rejected drafts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from engine.draft_model import DraftModel, incompatibility, load_draft
from engine.runtime import Engine
from engine.types import ChatMessage, FinishEvent, LoadParams, SamplingParams, TokenEvent

PASSAGE = ("星澜科技的员工每年享有十五个工作日的带薪年假，入职满五年后增加至二十个工作日。"
           "年假可以分次使用，但每次不少于半天。")
PROMPTS = [f"资料：{PASSAGE}\n请把资料中关于年假的规定原文照抄一遍。",
           "Write a Python function that reverses a string."]


@pytest.fixture(scope="module")
def draft(chat_model_path: Path) -> Any:
    engine = Engine.load(chat_model_path, LoadParams(n_ctx=4096, n_threads=os.cpu_count() or 2),
                         template="completion")
    yield DraftModel(engine)
    engine.close()


def _reply(engine: Engine, prompt: str, max_tokens: int = 40) -> tuple[list[int], Any]:
    engine.reset_cache()
    plan = engine.plan([ChatMessage("user", prompt)], reserve=max_tokens)
    sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=max_tokens)
    tokens: list[int] = []
    finish = None
    for event in engine.stream(plan, sampling):
        if isinstance(event, TokenEvent):
            tokens.append(event.token_id)
        elif isinstance(event, FinishEvent):
            finish = event
    assert finish is not None
    return tokens, finish


def test_a_draft_model_gives_the_same_greedy_reply(qwen_engine: Engine, draft: Any) -> None:
    assert incompatibility(qwen_engine, draft.engine) is None
    try:
        for prompt in PROMPTS:
            qwen_engine.draft = None
            plain, plain_finish = _reply(qwen_engine, prompt)
            qwen_engine.draft = draft
            fast, finish = _reply(qwen_engine, prompt)
            assert fast == plain and finish.text == plain_finish.text
            stats = finish.stats
            # The same model drafting: nearly every draft token is the model's own choice.
            assert stats.drafted_tokens > 0
            assert stats.accepted_tokens >= 0.8 * stats.drafted_tokens
        # Sampling is never drafted.
        qwen_engine.reset_cache()
        plan = qwen_engine.plan([ChatMessage("user", PROMPTS[0])], reserve=8)
        events = list(qwen_engine.stream(plan, SamplingParams(temperature=0.7, max_tokens=8,
                                                                  seed=1)))
        assert events[-1].stats.drafted_tokens == 0
    finally:
        qwen_engine.draft = None


def test_the_draft_model_follows_rejections(draft: Any) -> None:
    engine = draft.engine
    prompt = engine.tokenize("1, 2, 3, 4, 5, 6,")
    proposal = draft.begin(prompt).propose(4)
    assert 1 <= len(proposal) <= 4
    # The big model took another token than the draft's first: the draft continues from
    # there, exactly as if it had never proposed anything.
    other = next(t for t in engine.tokenize(" 9") if t != proposal[0])
    draft.add(other)
    after = draft.propose(3)
    engine.reset_cache()
    fresh = DraftModel(engine).begin([*prompt, other]).propose(3)
    assert after == fresh


def test_drafts_need_a_smaller_model_with_the_same_tokenizer(
        qwen_engine: Engine, chat_engine: Engine, chat_model_path: Path,
        default_model_path: Path) -> None:
    # Gemma's tokenizer is not Qwen's.
    assert "tokenizer" in (incompatibility(qwen_engine, chat_engine) or "") or \
        "vocabularies" in (incompatibility(qwen_engine, chat_engine) or "")
    # A model cannot draft for itself, nor for a model about its own size.
    assert load_draft(qwen_engine, chat_model_path) is None
    assert load_draft(chat_engine, chat_model_path) is None
    assert load_draft(qwen_engine, default_model_path) is None
