"""One conversation turn with persistence: plan the prompt, store the user's message, stream
the reply into the store (checkpointed so a kill -9 keeps the partial reply), finalise it.

Plain Python: the window's model thread runs it, and so can a script or a test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from app.conversations import ConversationStore, suggest_title
from app.rag import (
    DEFAULT_CONTEXT_TOKENS,
    DEFAULT_TOP_K,
    RagContext,
    augmented_question,
    build_context,
    retrieve,
)
from engine.runtime import Engine
from engine.types import (
    ChatMessage,
    ContextMap,
    ContextPlan,
    FinishEvent,
    GenerationEvent,
    SamplingParams,
    TokenEvent,
    TokenSpan,
)
from kb.store import KnowledgeStore

CHECKPOINT_INTERVAL_S = 0.5


@dataclass
class TurnRequest:
    conversation_id: int | None  # None: create a new conversation for this turn
    messages: list[ChatMessage]  # the conversation to answer; the last one is the user's
    sampling: SamplingParams
    system: str | None = None
    save_user_message: bool = True  # False when regenerating (it is already stored)
    truncate_from: int | None = None  # drop stored messages at/after this position first
    kbs: list[str] = field(default_factory=list)  # knowledge bases to answer from
    top_k: int = DEFAULT_TOP_K
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    # For the concept panel: the top-N next-token candidates at each step (0: off), and the
    # turn's context map and prompt token pieces before generation starts.
    candidates: int = 0
    inspect: bool = False


@dataclass
class TurnState:
    """What the turn has written so far; the caller reads it while iterating."""

    plan: ContextPlan | None = None
    context: ContextMap | None = None  # with request.inspect: what fills the window
    spans: list[TokenSpan] = field(default_factory=list)  # with request.inspect
    conversation_id: int | None = None
    rag: RagContext | None = None
    user_message_id: int | None = None
    assistant_message_id: int | None = None
    text: str = ""
    pieces: list[str] = field(default_factory=list)


def run_turn(
    engine: Engine,
    store: ConversationStore,
    request: TurnRequest,
    state: TurnState,
    cancel: threading.Event | None = None,
    checkpoint_interval: float = CHECKPOINT_INTERVAL_S,
    on_started: Callable[[TurnState], None] | None = None,
    model_path: str | None = None,
    knowledge: KnowledgeStore | None = None,
    on_retrieved: Callable[[RagContext], None] | None = None,
) -> Iterator[GenerationEvent]:
    """Generate the reply to `request`, persisting as it goes.

    With knowledge bases, passages are retrieved first and as many as fit the budget go
    into the last user message (the stored message stays the user's own words).
    Planning happens before anything is written: a message too large for the window raises
    ContextOverflowError and the store is left as it was."""
    reserve = engine.reply_reserve(request.sampling)
    messages = request.messages
    plan = engine.plan(messages, system=request.system, reserve=reserve)
    if request.kbs and knowledge is not None:
        question = messages[-1].content
        hits = retrieve(knowledge, request.kbs, question, k=request.top_k)
        free = engine.n_ctx - reserve - plan.prompt_tokens - 8
        budget = max(0, min(request.context_tokens, free))
        state.rag = build_context(question, hits, engine.count_tokens, budget)
        if on_retrieved is not None:
            on_retrieved(state.rag)
        augmented = augmented_question(question, state.rag, mode=engine.mode)
        messages = [*messages[:-1], ChatMessage("user", augmented)]
        plan = engine.plan(messages, system=request.system, reserve=reserve)
    state.plan = plan
    if request.inspect:
        rag = state.rag
        state.context = engine.context_map(
            messages, system=request.system, reserve=reserve,
            knowledge=rag.block if rag is not None and rag.used else None,
        )
        state.spans = engine.token_spans(plan.tokens)
    if request.conversation_id is None:
        conversation = store.create_conversation(
            system_prompt=request.system, model_path=model_path, mode=engine.mode,
            settings={"kbs": list(request.kbs)} if request.kbs else None,
        )
        cid = conversation.id
    else:
        cid = request.conversation_id
    state.conversation_id = cid
    if request.truncate_from is not None:
        store.delete_messages_from(cid, request.truncate_from)
    if request.save_user_message:
        user = request.messages[-1]
        state.user_message_id = store.add_message(cid, "user", user.content).id
        current = store.get_conversation(cid)
        if current is not None and not current.title:
            store.rename_conversation(cid, suggest_title(user.content))
    reply = store.add_message(cid, "assistant", "", status="streaming")
    state.assistant_message_id = reply.id
    if on_started is not None:
        on_started(state)
    last_save = time.monotonic()
    saved_len = 0
    finished = False
    try:
        for event in engine.generate(plan.tokens, request.sampling, cancel=cancel,
                                     candidates=request.candidates):
            if isinstance(event, TokenEvent):
                if event.text:
                    state.pieces.append(event.text)
                now = time.monotonic()
                if now - last_save >= checkpoint_interval:
                    state.text = "".join(state.pieces)
                    if len(state.text) != saved_len:
                        store.update_message(reply.id, content=state.text)
                        saved_len = len(state.text)
                    last_save = now
            else:
                event.stats.dropped_messages = list(plan.dropped)
                state.text = event.text
                status = "cancelled" if event.stats.stop_reason == "cancelled" else "complete"
                stats = event.stats.to_dict()
                if state.rag is not None:
                    stats["sources"] = state.rag.sources()
                store.update_message(reply.id, content=event.text, status=status, stats=stats)
                finished = True
            yield event
    except BaseException as exc:
        if finished:
            raise
        # Keep whatever was produced; mark why it ended.
        text = "".join(state.pieces)
        status = "interrupted" if isinstance(exc, GeneratorExit) else "error"
        store.update_message(reply.id, content=text, status=status, error=str(exc) or None)
        raise


def collect(events: Iterator[GenerationEvent]) -> FinishEvent:
    """Drain a generation, returning its FinishEvent."""
    finish: FinishEvent | None = None
    for event in events:
        if isinstance(event, FinishEvent):
            finish = event
    if finish is None:
        raise RuntimeError("generation ended without a FinishEvent")
    return finish


def normalize_turns(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Make a history a chat template accepts: no empty messages, roles alternating (two
    user messages in a row, left by a failed reply, are joined)."""
    out: list[ChatMessage] = []
    for m in messages:
        if not m.content.strip() or m.role == "system":
            continue
        if out and out[-1].role == m.role:
            out[-1] = ChatMessage(m.role, out[-1].content + "\n\n" + m.content)
        else:
            out.append(m)
    while out and out[0].role != "user":
        out.pop(0)
    return out
