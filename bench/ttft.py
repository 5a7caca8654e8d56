"""Time to first token at turn 5 of a long conversation vs turn 1 (prefix reuse).

Each turn adds a ~120-token user message; replies are 48 tokens. With the KV cache reused,
turn 5 evaluates only its new message, so its first token should come about as fast as turn
1's. The same turn 5 with the cache cleared shows what reuse saves."""

from __future__ import annotations

from bench.common import median, model_path, report, threads

TURNS = 5
ROUNDS = 3


def question(i: int) -> str:
    return (f"Question {i}: describe the river delta number {i}, its towns, its farms, its "
            "boats, the weather in spring and in autumn, and how people cross the water. ") * 2


def run_conversation(engine: object) -> tuple[list[float], list[int], float]:
    from engine.types import ChatMessage, FinishEvent, SamplingParams

    engine.reset_cache()  # type: ignore[attr-defined]
    sampling = SamplingParams(temperature=0.0, max_tokens=48, repeat_penalty=1.0)
    history: list[ChatMessage] = []
    ttfts: list[float] = []
    evaluated: list[int] = []
    for i in range(TURNS):
        history.append(ChatMessage("user", question(i)))
        finish = None
        for event in engine.respond(history, sampling):  # type: ignore[attr-defined]
            if isinstance(event, FinishEvent):
                finish = event
        assert finish is not None
        ttfts.append(finish.stats.time_to_first_token_s)
        evaluated.append(finish.stats.evaluated_prompt_tokens)
        history.append(ChatMessage("assistant", finish.text))
    # The same last turn without reuse.
    history.pop()
    engine.reset_cache()  # type: ignore[attr-defined]
    finish = None
    for event in engine.respond(history, sampling):  # type: ignore[attr-defined]
        if isinstance(event, FinishEvent):
            finish = event
    assert finish is not None
    return ttfts, evaluated, finish.stats.time_to_first_token_s


def main() -> dict[str, float]:
    from engine.runtime import Engine
    from engine.types import LoadParams

    engine = Engine.load(model_path(), LoadParams(n_ctx=4096, n_threads=threads()),
                         template="gemma")
    run_conversation(engine)  # warm-up
    first, fifth, cold = [], [], []
    evaluated: list[int] = []
    for _ in range(ROUNDS):
        ttfts, evaluated, no_reuse = run_conversation(engine)
        first.append(ttfts[0])
        fifth.append(ttfts[-1])
        cold.append(no_reuse)
    t1, t5, tc = median(first), median(fifth), median(cold)
    report(
        f"Time to first token, turn {TURNS} vs turn 1 (median of {ROUNDS})",
        [
            ("turn 1", f"{t1 * 1000:.1f} ms"),
            (f"turn {TURNS} (prefix reused)", f"{t5 * 1000:.1f} ms"),
            (f"turn {TURNS} (cache cleared)", f"{tc * 1000:.1f} ms"),
            ("prompt tokens evaluated per turn", str(evaluated)),
            (f"ratio turn {TURNS} / turn 1", f"{t5 / t1:.2f}  (target <= 1.2)"),
            ("ratio without reuse", f"{tc / t1:.2f}"),
        ],
    )
    engine.close()
    return {"turn1_s": t1, "turn5_s": t5, "turn5_no_reuse_s": tc, "ratio": t5 / t1}


if __name__ == "__main__":
    main()
