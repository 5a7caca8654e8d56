"""Prompt-lookup decoding (engine/lookup.py, issue 16): drafts from the prompt's n-grams,
verified in one batch; on an answer that copies its passage (large margins between the
model's choices) the greedy output is token for token that of plain decoding, on the real
built-in chat model."""

from __future__ import annotations

from typing import Any

from engine.lookup import DraftGate, PromptLookup
from engine.types import ChatMessage, FinishEvent, SamplingParams, TokenEvent

PASSAGE = ("星澜科技的员工每年享有十五个工作日的带薪年假，入职满五年后增加至二十个工作日。"
           "年假可以分次使用，但每次不少于半天。当年未休完的年假最多可结转五天，须在次年三月底"
           "前用完，逾期作废。")
QUOTING = (f"资料：{PASSAGE}\n请把资料中关于年假的规定原文照抄一遍。")
NOT_QUOTING = "用三句话介绍一下你自己。"
PROBABILITY_TOLERANCE = 0.01


def test_the_drafter_finds_what_followed_the_same_words() -> None:
    lookup = PromptLookup([1, 2, 3, 4, 5, 9, 1, 2, 3])
    assert lookup.propose(4) == [4, 5, 9, 1]  # "1 2 3" was followed by 4 5 9 1
    assert lookup.propose(2) == [4, 5]
    lookup.add(7)  # "2 3 7": never seen before
    assert lookup.propose(4) == []
    assert PromptLookup([1, 2]).propose(4) == []
    gate = DraftGate()
    assert gate.length == 2
    gate.record(2, 2)  # kept whole: the next draft is twice as long ...
    gate.record(4, 4)
    assert gate.length == 8
    gate.record(8, 8)
    assert gate.length == 8  # ... up to the longest
    gate.record(1, 8)  # one kept: one more than that next time
    assert gate.length == 2
    for _ in range(6):
        gate.record(0, 1)  # nothing kept: drafting pauses ...
    assert not gate.open and gate.length == 1
    for _ in range(30):
        gate.tick()
    assert gate.open  # ... and tries again later
    for _ in range(6):
        gate.record(0, 1)  # and pauses longer the second time
    for _ in range(30):
        gate.tick()
    assert not gate.open


def _generate(engine: Any, prompt: str, lookup: bool, max_tokens: int = 48,
              candidates: int = 0) -> tuple[list[int], list[bool], Any]:
    engine.prompt_lookup = lookup
    engine.reset_cache()
    plan = engine.plan([ChatMessage("user", prompt)], reserve=max_tokens)
    sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=max_tokens)
    tokens: list[int] = []
    drafted: list[bool] = []
    finish = None
    for event in engine.stream(plan, sampling, candidates=candidates):
        if isinstance(event, TokenEvent):
            tokens.append(event.token_id)
            drafted.append(event.drafted)
        elif isinstance(event, FinishEvent):
            finish = event
    assert finish is not None
    return tokens, drafted, finish


def _steps(engine: Any, lookup: bool) -> list[tuple[int, bool, Any]]:
    engine.prompt_lookup = lookup
    engine.reset_cache()
    plan = engine.plan([ChatMessage("user", QUOTING)], reserve=24)
    sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=24)
    return [(e.token_id, e.drafted, e.candidates)
            for e in engine.stream(plan, sampling, candidates=3) if isinstance(e, TokenEvent)]


def test_same_greedy_output_with_and_without_prompt_lookup(qwen_engine: Any) -> None:
    try:
        plain, plain_drafted, plain_finish = _generate(qwen_engine, QUOTING, False)
        fast, fast_drafted, fast_finish = _generate(qwen_engine, QUOTING, True)
        assert fast == plain and fast_finish.text == plain_finish.text
        assert not any(plain_drafted) and plain_finish.stats.drafted_tokens == 0
        stats = fast_finish.stats
        assert stats.accepted_tokens > 0 and stats.drafted_tokens >= stats.accepted_tokens
        assert sum(fast_drafted) > 0  # the kept drafts are marked on their tokens
        # An answer that quotes nothing: little is drafted, and little of that kept (the
        # tokens can differ from plain decoding where two are within rounding of each other:
        # why prompt lookup is off by default).
        _, _, finish = _generate(qwen_engine, NOT_QUOTING, True, 32)
        assert finish.stats.accepted_tokens <= finish.stats.drafted_tokens
        # With the concept panel's candidates: read from each verified position, the same
        # as decoding one token at a time.
        plain_steps = _steps(qwen_engine, False)
        fast_steps = _steps(qwen_engine, True)
        assert [s[0] for s in fast_steps] == [s[0] for s in plain_steps]
        assert any(s[1] for s in fast_steps)  # some of them drafted
        worst = 0.0
        for (_, _, fast_c), (_, _, plain_c) in zip(fast_steps, plain_steps, strict=True):
            assert fast_c[0].token_id == plain_c[0].token_id
            plain_p = {c.token_id: c.probability for c in plain_c}
            worst = max(worst, *(abs(c.probability - plain_p[c.token_id])
                                 for c in fast_c if c.token_id in plain_p))
        # A batch's arithmetic is not bit for bit that of one position at a time: the same
        # tokens, probabilities within a percentage point (two near-equal runners-up may
        # swap places).
        print(f"largest probability difference: {worst:.5f}")
        assert worst < PROBABILITY_TOLERANCE
        # Sampling (not greedy): no drafting either.
        qwen_engine.reset_cache()
        plan = qwen_engine.plan([ChatMessage("user", QUOTING)], reserve=16)
        events = list(qwen_engine.stream(plan, SamplingParams(temperature=0.7, max_tokens=16,
                                                                  seed=1)))
        assert events[-1].stats.drafted_tokens == 0
    finally:
        qwen_engine.prompt_lookup = False
