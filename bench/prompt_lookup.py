"""Prompt-lookup decoding vs plain decoding, same model, same run, greedy, alternating: an
answer that quotes its passages (a knowledge-base prompt asking for the rule as written) and
one that quotes nothing. Decode tok/s = (tokens - 1) / time from the first token to the
last; the token sequences must be identical. Targets: >= 1.3x when quoting, >= 0.97x when
not (the gate turns drafting off)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import chat_model_path, median, report, threads

ROUNDS = 3
N_TOKENS = 160
HANDBOOK = (Path(__file__).resolve().parent.parent / "tests" / "data" / "kb_zh" / "docs"
            / "employee_handbook.md")


def prompts() -> dict[str, str]:
    text = HANDBOOK.read_text(encoding="utf-8")
    start = text.index("## 三")
    passage = text[start:start + 700]
    return {
        "quoting its passage": (f"Answer from the source below.\n<sources>\n[1] {passage}\n"
                                "</sources>\n\nQuestion: 请把资料中关于年假、病假和其他假期的"
                                "规定原文完整照抄一遍。"),
        "quoting nothing": "请用自己的话写一段两百字左右的短文，介绍春天的景色。",
    }


def run(engine: Any, prompt: str) -> tuple[float, list[int], int, int]:
    """One greedy reply, however the engine is set: decode tok/s, the tokens, drafted and
    kept."""
    from engine.types import ChatMessage, FinishEvent, SamplingParams, TokenEvent

    engine.reset_cache()
    plan = engine.plan([ChatMessage("user", prompt)], reserve=N_TOKENS)
    sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=N_TOKENS)
    tokens: list[int] = []
    rate, drafted, kept = 0.0, 0, 0
    for event in engine.stream(plan, sampling):
        if isinstance(event, TokenEvent):
            tokens.append(event.token_id)
        elif isinstance(event, FinishEvent):
            rate = event.stats.decode_tok_s
            drafted, kept = event.stats.drafted_tokens, event.stats.accepted_tokens
    return rate, tokens, drafted, kept


def compare(engine: Any, switch: Callable[[bool], None]
            ) -> tuple[list[tuple[str, str]], dict[str, float], float]:
    """Each prompt with the speed-up on and off (`switch`), alternating, ROUNDS times: the
    report's rows, the speed ratio per prompt, and plain decoding's tok/s."""
    rows = []
    results: dict[str, float] = {}
    plain_rate = 0.0
    for label, prompt in prompts().items():
        switch(True)
        run(engine, prompt)  # warm-up
        plain: list[float] = []
        fast: list[float] = []
        same = True
        drafted = kept = n = 0
        for r in range(ROUNDS):
            for on in ((True, False) if r % 2 == 0 else (False, True)):
                switch(on)
                rate, tokens, d, k = run(engine, prompt)
                if on:
                    fast.append(rate)
                    fast_tokens, drafted, kept = tokens, d, k
                else:
                    plain.append(rate)
                    plain_tokens = tokens
            same = same and fast_tokens == plain_tokens
            n = len(plain_tokens)
        p, f = median(plain), median(fast)
        plain_rate = p
        results[label] = f / p
        rows.append((label, f"{f:.1f} vs {p:.1f} tok/s: {f / p:.2f}x  ({n} tokens; "
                            f"{kept} of {drafted} drafted kept; identical: "
                            f"{'yes' if same else 'NO'})"))
    switch(False)
    return rows, results, plain_rate


def main() -> dict[str, float]:
    from engine.runtime import Engine
    from engine.types import LoadParams

    n_threads = threads()
    engine = Engine.load(chat_model_path(), LoadParams(n_ctx=2048, n_threads=n_threads))
    rows, results, plain_rate = compare(
        engine, lambda on: setattr(engine, "prompt_lookup", on))
    engine.close()
    from bench.limits import decode_row, limits_row, measure

    limits = measure(n_threads)
    rows += [limits_row(limits), decode_row(chat_model_path(), limits, plain_rate, 400)]
    report(f"Prompt-lookup decoding vs plain, Qwen2.5-Coder 0.5B, greedy, {n_threads} threads, "
           f"median of {ROUNDS}, alternating (targets >= 1.3x quoting, >= 0.97x not)", rows)
    return results
