"""Reuse what was already read (issue 16): in a knowledge-base chat, a follow-up question does
not re-read the passages earlier turns gave. Each question is kept with the passages it
carried; the next turn's prompt starts with exactly what the KV cache holds, passages
retrieved again are cited by their earlier numbers instead of repeated, and new ones are
numbered after them. The real built-in chat model, the real store and knowledge base."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.chat_service import ChatService, Started, TurnRequest, collect
from app.conversations import ConversationStore
from engine.types import ChatMessage, SamplingParams
from tests.conftest import REPO

HANDBOOK = REPO / "tests" / "data" / "kb_zh" / "docs" / "employee_handbook.md"
GREEDY = SamplingParams(temperature=0.0, max_tokens=16, repeat_penalty=1.0)


@pytest.fixture()
def knowledge(tmp_path: Path) -> Any:
    from kb.indexer import Indexer
    from kb.store import KnowledgeStore

    store = KnowledgeStore(tmp_path / "k.db")
    assert Indexer(store).add("手册", [HANDBOOK]).count("indexed") == 1
    yield store
    store.close()


def _turn(service: ChatService, messages: list[ChatMessage], cid: int | None) -> Any:
    request = TurnRequest(cid, messages, GREEDY, kbs=["手册"], translate_query=False)
    state = None
    events = []
    for event in service.run(request):
        events.append(event)
        if isinstance(event, Started):
            state = event.state
    assert state is not None
    return state, collect(iter(events))


def test_a_follow_up_reuses_the_passages_already_read(
        qwen_engine: Any, knowledge: Any, tmp_path: Path) -> None:
    conversations = ConversationStore(tmp_path / "c.db")
    service = ChatService(qwen_engine, store=conversations, knowledge=knowledge)
    qwen_engine.reset_cache()
    q1 = "员工一年有几天带薪年假？"
    first, finish1 = _turn(service, [ChatMessage("user", q1)], None)
    rag1 = first.rag
    assert rag1.used and not rag1.reused
    cid = first.conversation_id
    stored_q1 = conversations.messages(cid)[0]
    assert stored_q1.content == q1  # shown as typed ...
    assert stored_q1.stats["prompt"] == first.planned.messages[-1].content  # ... read so
    assert stored_q1.stats["sources"] == rag1.given()

    # The same question again, as the window sends it (the history as typed).
    history = [ChatMessage("user", q1), ChatMessage("assistant", finish1.text)]
    second, finish2 = _turn(service, [*history, ChatMessage("user", q1)], cid)
    rag2 = second.rag
    assert second.planned.messages[0].content == stored_q1.stats["prompt"]
    assert rag2.reused and not rag2.used and rag2.block == ""  # nothing read twice
    assert {h.chunk_id for h in rag2.reused} == {h.chunk_id for h in rag1.used}
    assert [s["number"] for s in rag2.sources()] == [s["number"] for s in rag1.sources()]
    assert all(s["reused"] for s in rag2.sources())
    assert "given earlier in this conversation" in second.planned.messages[-1].content
    # The prompt starts with what the cache held: only the new question is read.
    stats2 = finish2.stats
    assert stats2.reused_prompt_tokens >= finish1.stats.prompt_tokens
    assert stats2.evaluated_prompt_tokens < finish1.stats.evaluated_prompt_tokens / 4

    # A different question: new passages are numbered after the earlier ones.
    q3 = "出差住酒店每晚最多能报销多少？"
    history += [ChatMessage("user", q1), ChatMessage("assistant", finish2.text)]
    third, _ = _turn(service, [*history, ChatMessage("user", q3)], cid)
    rag3 = third.rag
    earlier = {s["number"] for s in rag1.sources()}
    assert rag3.used and min(rag3.numbers[h.chunk_id] for h in rag3.used) > max(earlier)
    for hit in rag3.reused:
        assert hit.text.strip() not in rag3.block
    conversations.close()
