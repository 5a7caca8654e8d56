"""A knowledge-base chat's follow-up question on the same sources: time to first token of
turn 2 against turn 1, with the passages reused (each question kept with the passages it
carried, the cached prefix valid) and, as the baseline in the same run, without (the
history as typed: every turn re-reads the conversation and its passages again).

Built-in chat model, the Chinese test corpus as the knowledge base, greedy, 32 tokens a
reply. Target: turn 2 <= 0.3x turn 1."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import chat_model_path, median, report, threads

ROUNDS = 3
DOCS = Path(__file__).resolve().parent.parent / "tests" / "data" / "kb_zh" / "docs"
QUESTION = "员工一年有几天带薪年假？"
FOLLOW_UPS = {
    "asked again": QUESTION,  # the same five sources
    "rephrased": "员工一年有几天带薪年假？请只回答天数。",  # four of the five again
}


def conversation(service: Any, sampling: Any, keep: bool,
                 follow_up: str) -> tuple[float, float, int, int, int]:
    """Two turns; (TTFT 1, TTFT 2, passages reused in turn 2, tokens read in turn 2,
    tokens read in turn 1)."""
    from app.chat_service import Started, TurnRequest
    from engine.types import ChatMessage, FinishEvent

    def turn(messages: list[ChatMessage], cid: int | None) -> tuple[Any, Any]:
        request = TurnRequest(cid, messages, sampling, kbs=["资料"], translate_query=False,
                              persist=keep)
        state = finish = None
        for event in service.run(request):
            if isinstance(event, Started):
                state = event.state
            elif isinstance(event, FinishEvent):
                finish = event
        return state, finish

    service.backend.reset_cache()
    first, finish1 = turn([ChatMessage("user", QUESTION)], None)
    history = [ChatMessage("user", QUESTION), ChatMessage("assistant", finish1.text),
               ChatMessage("user", follow_up)]
    second, finish2 = turn(history, first.conversation_id if keep else None)
    return (finish1.stats.time_to_first_token_s, finish2.stats.time_to_first_token_s,
            len(second.rag.reused), finish2.stats.evaluated_prompt_tokens,
            finish1.stats.evaluated_prompt_tokens)


def main() -> dict[str, float]:
    from app.chat_service import ChatService
    from app.conversations import ConversationStore
    from engine.runtime import Engine
    from engine.types import LoadParams, SamplingParams
    from kb.indexer import Indexer
    from kb.store import KnowledgeStore

    n_threads = threads()
    sampling = SamplingParams(temperature=0.0, max_tokens=32, repeat_penalty=1.0)
    with tempfile.TemporaryDirectory(prefix="mingjing-bench-followup-") as tmp:
        knowledge = KnowledgeStore(Path(tmp) / "k.db")
        Indexer(knowledge).add("资料", [DOCS])
        conversations = ConversationStore(Path(tmp) / "c.db")
        engine = Engine.load(chat_model_path(), LoadParams(n_ctx=4096, n_threads=n_threads))
        reuse = ChatService(engine, store=conversations, knowledge=knowledge)
        baseline = ChatService(engine, knowledge=knowledge)  # history as typed
        conversation(reuse, sampling, True, QUESTION)  # warm-up
        rows: dict[tuple[str, str], list[tuple[float, float, int, int, int]]] = {}
        for n in range(ROUNDS):
            for side in (("reuse", "baseline") if n % 2 == 0 else ("baseline", "reuse")):
                service = reuse if side == "reuse" else baseline
                for label, follow_up in FOLLOW_UPS.items():
                    rows.setdefault((side, label), []).append(
                        conversation(service, sampling, side == "reuse", follow_up))
        engine.close()
        conversations.close()
        knowledge.close()

    lines = []
    ratios: dict[str, float] = {}
    for (side, label), runs in rows.items():
        t1 = median([r[0] for r in runs])
        t2 = median([r[1] for r in runs])
        ratios[f"{side} {label}"] = t2 / t1
        name = "passages reused" if side == "reuse" else "baseline: history as typed"
        lines.append((f"{name}, {label}",
                      f"turn 1 {t1:.2f} s, turn 2 {t2:.2f} s: {t2 / t1:.2f}x  ({runs[-1][2]} "
                      f"passages cited again, {runs[-1][3]} tokens read)"
                      + ("  (target <= 0.3x)" if side == "reuse" else "")))
    from bench.limits import limits_row, measure, prompt_row

    limits = measure(n_threads)
    first_turns = [r for runs in rows.values() for r in runs]
    rate = median([r[4] / r[0] for r in first_turns])
    bound = prompt_row(chat_model_path(), limits, rate)
    limit_lines = [limits_row(limits), ("turn 1 " + bound[0], bound[1])]
    report(
        f"Knowledge-base follow-up: time to first token, turn 2 vs turn 1 (Qwen2.5-Coder "
        f"0.5B, {n_threads} threads, median of {ROUNDS}, alternating)", sorted(lines) + limit_lines)
    return ratios
