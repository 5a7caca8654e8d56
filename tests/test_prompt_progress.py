"""Prompt processing you can see (issue 16): the real built-in chat model reads a long
prompt in chunks, reporting progress between them; Stop works during it; chunking changes
nothing in the output."""

from __future__ import annotations

import itertools
import threading
from typing import Any

from engine.types import ChatMessage, FinishEvent, PromptProgress, SamplingParams, TokenEvent

LONG = "请根据下面的资料回答问题。\n" + "\n".join(
    f"第{n}条：星澜科技的第{n}号规定说明了员工在第{n}种情况下应当如何申请带薪年假。"
    for n in range(1, 31)) + "\n问题：第七号规定说了什么？"
GREEDY = SamplingParams(temperature=0.0, max_tokens=12, repeat_penalty=1.0)


def _run(engine: Any, cancel: threading.Event | None = None,
         stop_at: int | None = None) -> tuple[list[PromptProgress], list[int], FinishEvent]:
    plan = engine.plan([ChatMessage("user", LONG)], reserve=64)
    progress: list[PromptProgress] = []
    tokens: list[int] = []
    finish = None
    for event in engine.stream(plan, GREEDY, cancel=cancel):
        if isinstance(event, PromptProgress):
            progress.append(event)
            if stop_at is not None and event.done >= stop_at and cancel is not None:
                cancel.set()
        elif isinstance(event, TokenEvent):
            tokens.append(event.token_id)
        elif isinstance(event, FinishEvent):
            finish = event
    assert finish is not None
    return progress, tokens, finish


def test_progress_between_chunks_and_the_same_output(qwen_engine: Any) -> None:
    qwen_engine.reset_cache()
    progress, tokens, finish = _run(qwen_engine)
    total = finish.stats.evaluated_prompt_tokens
    assert total > 3 * qwen_engine.prompt_chunk  # a prompt of several chunks
    assert progress[0].done == 0 and progress[-1].done == total
    assert [p.done for p in progress] == sorted({p.done for p in progress})
    assert all(p.total == total for p in progress)
    steps = {b.done - a.done for a, b in itertools.pairwise(progress)}
    assert max(steps) == qwen_engine.prompt_chunk
    assert progress[-1].rate > 0 and progress[-1].seconds_left == 0
    assert progress[1].seconds_left is not None and progress[1].fraction < 1
    # Without chunks (the whole prompt at once): no progress, the very same reply.
    saved = qwen_engine.prompt_chunk
    try:
        qwen_engine.prompt_chunk = 10**6
        qwen_engine.reset_cache()
        whole_progress, whole_tokens, whole = _run(qwen_engine)
    finally:
        qwen_engine.prompt_chunk = saved
    assert whole_progress == []
    assert whole_tokens == tokens and whole.text == finish.text
    # A short prompt: one chunk, no progress events.
    qwen_engine.reset_cache()
    plan = qwen_engine.plan([ChatMessage("user", "你好")], reserve=16)
    assert not any(isinstance(e, PromptProgress) for e in qwen_engine.stream(plan, GREEDY))


def test_stop_while_the_prompt_is_read(qwen_engine: Any) -> None:
    qwen_engine.reset_cache()
    cancel = threading.Event()
    progress, tokens, finish = _run(qwen_engine, cancel, stop_at=qwen_engine.prompt_chunk)
    assert finish.stats.stop_reason == "cancelled"
    assert tokens == [] and finish.text == "" and finish.stats.completion_tokens == 0
    read = progress[-1].done
    assert 0 < read < progress[-1].total
    # What was read stays in the cache: the next turn on the same prompt reuses it.
    _, tokens, again = _run(qwen_engine)
    assert again.stats.reused_prompt_tokens >= read
    assert again.stats.completion_tokens > 0 and tokens
