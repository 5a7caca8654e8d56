"""Per-turn overhead against the length of a conversation (issue 16).

1. Planning time per turn at 10, 50 and 200 messages: what the chat service does before the
   model reads anything (plan the prompt into the window, plan it again with a changed last
   message as a knowledge-base turn does, and the exact context map the concept panel shows),
   with the prompt caches of engine/prompt_cache.py and without them (the same code with
   nothing remembered: every turn renders and tokenizes the whole conversation, the context
   map every prefix of it).
2. Time to first token at turn 50 of a plain chat against turn 1, as the window runs a turn
   (ChatService with the context map and prompt pieces, prefix reuse), from the call to the
   first token."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from bench.common import model_path, report, threads

CHAT_MODEL = "qwen2.5-coder-0.5b-instruct"
SIZES = (10, 50, 200)
TURNS = 50
REPEATS = 5  # turns timed per size


def user_text(i: int) -> str:
    return (f"第{i}个问题：请说明三角洲{i}号的城镇、农田和渡船。"
            f"Question {i}: what about its weather in spring?")


def reply_text(i: int) -> str:
    return (f"三角洲{i}号有很多城镇，春天多雨。Delta {i} has many towns and farms; "
            "boats cross the water every morning.") * 2


def conversation(n: int) -> list[object]:
    from engine.types import ChatMessage

    messages = []
    for i in range(n // 2):
        messages += [ChatMessage("user", user_text(i)), ChatMessage("assistant", reply_text(i))]
    messages.append(ChatMessage("user", user_text(n)))
    return messages


def planning_ms(engine: object, n: int) -> dict[str, float]:
    """Median time of each planning step on the turn that makes the conversation n
    messages long, after the turn before it was planned (what a running chat does)."""
    from engine.types import ChatMessage

    times: dict[str, list[float]] = {"plan": [], "plan again": [], "context map": []}
    for r in range(REPEATS):
        size = n + 2 * r
        earlier = conversation(size - 2)
        engine.plan(earlier)  # type: ignore[attr-defined]
        engine.context_map(earlier)  # type: ignore[attr-defined]
        messages = conversation(size)
        t0 = time.perf_counter()
        engine.plan(messages)  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        augmented = [*messages[:-1], ChatMessage("user", "Passages: ...\n" +
                                                 messages[-1].content)]  # type: ignore[attr-defined]
        engine.plan(augmented)  # type: ignore[attr-defined]
        t2 = time.perf_counter()
        engine.context_map(augmented, knowledge="Passages: ...")  # type: ignore[attr-defined]
        t3 = time.perf_counter()
        times["plan"].append(t1 - t0)
        times["plan again"].append(t2 - t1)
        times["context map"].append(t3 - t2)
    out = {k: statistics.median(v) * 1000 for k, v in times.items()}
    out["total"] = sum(out.values())
    return out


def uncached(engine: object) -> None:
    """The same engine with nothing remembered between calls."""
    from engine.prompt_cache import PieceTokenizer, PrefixCounts

    engine._prompt_pieces = PieceTokenizer(  # type: ignore[attr-defined]
        engine._chat_piece_tokens, [])  # type: ignore[attr-defined]
    engine._prefix_count_cache = PrefixCounts(keep=0)  # type: ignore[attr-defined]


def cached(engine: object) -> None:
    from engine.prompt_cache import PrefixCounts

    engine._prompt_pieces = None  # type: ignore[attr-defined]
    engine._prefix_count_cache = PrefixCounts()  # type: ignore[attr-defined]


def first_token_times(service: object, turns: int) -> tuple[list[float], list[tuple[int, int]]]:
    """Seconds from asking to the first token, per turn of one plain chat; and per turn
    (prompt tokens, prompt tokens evaluated)."""
    from app.chat_service import TurnRequest, collect
    from engine.types import ChatMessage, SamplingParams, TokenEvent

    sampling = SamplingParams(temperature=0.0, max_tokens=16, repeat_penalty=1.0)
    history: list[ChatMessage] = []
    out = []
    sizes = []
    service.backend.reset_cache()  # type: ignore[attr-defined]
    for i in range(turns):
        history.append(ChatMessage("user", user_text(i)))
        request = TurnRequest(None, list(history), sampling, persist=False, inspect=True)
        start = time.perf_counter()
        first: list[float] = []

        def stamp(events: object, first: list[float] = first) -> object:
            for event in events:  # type: ignore[attr-defined]
                if isinstance(event, TokenEvent) and not first:
                    first.append(time.perf_counter())
                yield event

        finish = collect(stamp(service.run(request)))  # type: ignore[attr-defined]
        out.append(first[0] - start)
        sizes.append((finish.stats.prompt_tokens, finish.stats.evaluated_prompt_tokens))
        history.append(ChatMessage("assistant", finish.text))
    return out, sizes


def main() -> dict[str, float]:
    from app.chat_service import ChatService
    from engine.runtime import Engine
    from engine.types import LoadParams

    engine = Engine.load(model_path(CHAT_MODEL), LoadParams(n_ctx=32768, n_threads=threads()))
    rows: list[tuple[str, str]] = []
    results: dict[str, float] = {}
    setups: list[tuple[str, Callable[[object], None]]] = [("no caches", uncached),
                                                          ("caches", cached)]
    for n in SIZES:
        line = []
        for name, setup in setups:
            setup(engine)
            ms = planning_ms(engine, n)
            results[f"plan_{name}_{n}_ms"] = ms["total"]
            line.append(f"{name}: {ms['total']:.1f} ms (plan {ms['plan']:.1f}, again "
                        f"{ms['plan again']:.1f}, map {ms['context map']:.1f})")
        rows.append((f"{n} messages", "; ".join(line)))
    cached(engine)
    service = ChatService(engine)
    first_token_times(service, 3)  # warm-up
    ttft, sizes = first_token_times(service, TURNS)
    t1, tn = ttft[0], statistics.median(ttft[-3:])
    t2 = ttft[1]
    rows += [
        ("time to first token, turn 1", f"{t1 * 1000:.0f} ms"),
        ("time to first token, turn 2 (first with a reused prefix)", f"{t2 * 1000:.0f} ms"),
        (f"time to first token, turns {TURNS - 2}-{TURNS} (median)", f"{tn * 1000:.0f} ms"),
        (f"ratio turn {TURNS} / turn 1", f"{tn / t1:.2f}  (target <= 1.2)"),
        (f"ratio turn {TURNS} / turn 2", f"{tn / t2:.2f}  (same new-message size)"),
        ("prompt tokens (evaluated), turn 1", f"{sizes[0][0]} ({sizes[0][1]})"),
        (f"prompt tokens (evaluated), turn {TURNS}", f"{sizes[-1][0]} ({sizes[-1][1]})"),
    ]
    from bench.limits import limits_row, measure, prompt_row

    limits = measure(threads())
    rows += [limits_row(limits),
             prompt_row(model_path(CHAT_MODEL), limits, sizes[0][1] / t1)]
    report("Per-turn overhead against conversation length (planning, context map, TTFT)",
           rows)
    results.update({"ttft_turn1_s": t1, "ttft_turn2_s": t2, f"ttft_turn{TURNS}_s": tn,
                    "ratio": tn / t1, "ratio_turn2": tn / t2})
    engine.close()
    return results


if __name__ == "__main__":
    main()
