"""Prompt processing in chunks (with a progress event between them) vs the whole prompt at
once, on the built-in chat model: a knowledge-base prompt of ~940 tokens built from the test
corpus, the cache cleared before each run, alternating, same run. Target: progress costs
<= 3 % of prompt-evaluation time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.common import chat_model_path, median, report, threads

ROUNDS = 5
DOCS = Path(__file__).resolve().parent.parent / "tests" / "data" / "kb_zh" / "docs"


def rag_prompt(target_tokens: int, count: Any) -> str:
    """Passages of the test corpus, numbered like the app's sources, up to ~target tokens."""
    parts = ["Answer the question using the numbered sources below. Cite the sources you use "
             "like [1] or [2].", "<sources>"]
    for n, path in enumerate(sorted(DOCS.glob("*.md")), 1):
        parts.append(f"[{n}] {path.name}\n{path.read_text(encoding='utf-8')[:900]}")
        if count("\n".join(parts)) >= target_tokens:
            break
    parts += ["</sources>", "", "Question: 员工一年能休几天带薪年假？"]
    return "\n".join(parts)


def main() -> dict[str, float]:
    from engine.runtime import Engine
    from engine.types import ChatMessage, FinishEvent, LoadParams, PromptProgress, SamplingParams

    n_threads = threads()
    engine = Engine.load(chat_model_path(), LoadParams(n_ctx=2048, n_threads=n_threads))
    chunk = engine.prompt_chunk
    prompt = rag_prompt(900, engine.count_tokens)
    plan = engine.plan([ChatMessage("user", prompt)], reserve=8)
    sampling = SamplingParams(temperature=0.0, max_tokens=1)

    def run(size: int) -> tuple[float, int]:
        engine.prompt_chunk = size
        engine.reset_cache()
        events = 0
        seconds = 0.0
        for event in engine.stream(plan, sampling):
            if isinstance(event, PromptProgress):
                events += 1
            elif isinstance(event, FinishEvent):
                seconds = event.stats.prompt_eval_s
        return seconds, events

    run(chunk)  # warm-up: the weights paged in
    chunked: list[float] = []
    whole: list[float] = []
    events = 0
    for n in range(ROUNDS):
        for size in ((chunk, 10**6) if n % 2 == 0 else (10**6, chunk)):
            seconds, count = run(size)
            if size == chunk:
                chunked.append(seconds)
                events = count
            else:
                whole.append(seconds)
    engine.close()
    c, w = median(chunked), median(whole)
    from bench.limits import limits_row, measure, prompt_row

    limits = measure(n_threads)
    report(
        f"Prompt processing: {plan.prompt_tokens} tokens in chunks of {chunk} (a progress "
        f"event after each) vs at once, Qwen2.5-Coder 0.5B, {n_threads} threads, median of "
        f"{ROUNDS}, alternating",
        [
            ("at once", f"{w:.2f} s  ({plan.prompt_tokens / w:.0f} tok/s)  "
                        f"{[round(x, 2) for x in whole]}"),
            ("in chunks", f"{c:.2f} s  ({plan.prompt_tokens / c:.0f} tok/s)  "
                          f"{[round(x, 2) for x in chunked]}, {events} progress events"),
            ("cost of the progress", f"{(c / w - 1) * 100:+.1f} %  (target <= 3 %)"),
            limits_row(limits),
            prompt_row(chat_model_path(), limits, plan.prompt_tokens / w),
        ],
    )
    return {"chunked_s": c, "whole_s": w}
