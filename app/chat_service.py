"""The chat service: the single place a turn is planned, run and kept.

The window (through ui/model_worker.py), `mingjing ask`, the comparison views and, later,
the HTTP API all call it, so every caller builds the same prompt from the same
conversation and knowledge: retrieval, the passages' token budget, the augmented question
and the context plan are decided here and nowhere else.

A turn: plan the prompt (retrieving passages first when knowledge bases are chosen); store
the user's message; stream the reply from the backend into the store, checkpointed so a
kill -9 keeps the partial reply; finalise it with its stats and sources. A message too
large for the window raises ContextOverflowError before anything is written.

Plain Python, no Qt: a script or a test drives it the same way."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.citations import check_citations
from app.conversations import ConversationStore, suggest_title
from app.query_translation import (
    HINT_SEARCH_K,
    Translation,
    search_queries,
    translate,
    translation_target,
)
from app.rag import (
    DEFAULT_CONTEXT_TOKENS,
    DEFAULT_TOP_K,
    RagContext,
    RetrievalError,
    augmented_question,
    build_context,
    knowledge_bases,
    no_answer_threshold,
    search_knowledge,
)
from engine.backend import ModelBackend
from engine.types import (
    ChatMessage,
    ContextMap,
    ContextPlan,
    FinishEvent,
    GenerationEvent,
    PromptProgress,
    SamplingParams,
    TokenEvent,
    TokenSpan,
)
from kb.embedders import Embedder, load_embedder
from kb.records import RetrievalHit
from kb.store import KnowledgeBase, KnowledgeStore

log = logging.getLogger(__name__)

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
    # Translate the question first when the knowledge bases hold text in the other
    # language (app/query_translation.py).
    translate_query: bool = True
    # For the concept panel: the top-N next-token candidates at each step (0: off), and the
    # turn's context map and prompt token pieces before generation starts.
    candidates: int = 0
    inspect: bool = False
    persist: bool = True  # False: nothing is stored (`mingjing ask`, a comparison)


@dataclass
class PlannedTurn:
    """The prompt of a turn, decided before anything is generated or stored."""

    messages: list[ChatMessage]  # what the model is given: the last one carries the passages
    plan: ContextPlan
    rag: RagContext | None = None
    context: ContextMap | None = None  # with TurnRequest.inspect: what fills the window
    spans: list[TokenSpan] = field(default_factory=list)  # with inspect: the prompt's pieces


@dataclass
class TurnState:
    """What the turn has done so far; the caller reads it while iterating."""

    planned: PlannedTurn | None = None
    conversation_id: int | None = None
    user_message_id: int | None = None
    assistant_message_id: int | None = None
    text: str = ""
    pieces: list[str] = field(default_factory=list)
    # With knowledge bases, once the reply is finished: its [n] checked (app/citations.py).
    citations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def plan(self) -> ContextPlan | None:
        return self.planned.plan if self.planned else None

    @property
    def rag(self) -> RagContext | None:
        return self.planned.rag if self.planned else None


@dataclass(frozen=True, slots=True)
class Retrieved:
    """Passages found for the question, before the reply starts."""

    rag: RagContext


@dataclass(frozen=True, slots=True)
class Started:
    """The prompt is planned and the turn stored: the reply streams next."""

    state: TurnState


TurnEvent = Retrieved | Started | TokenEvent | PromptProgress | FinishEvent


class ChatService:
    """Turns on one backend. `store`: where turns are kept (None: nothing is); `knowledge`:
    the knowledge-base store retrieval reads (needed only for requests with `kbs`)."""

    def __init__(
        self,
        backend: ModelBackend,
        *,
        store: ConversationStore | None = None,
        knowledge: KnowledgeStore | None = None,
        model_ref: str | None = None,
        embedder_loader: Callable[[str], Embedder] = load_embedder,
    ) -> None:
        self.backend = backend
        self.store = store
        self.knowledge = knowledge
        self.model_ref = model_ref  # stored with each new conversation
        self._embedder_loader = embedder_loader

    def plan_turn(self, request: TurnRequest,
                  cancel: threading.Event | None = None) -> PlannedTurn:
        """The exact prompt for a request: retrieval, the passages that fit, the plan.
        Raises ContextOverflowError, RetrievalError (and the stores' errors)."""
        backend = self.backend
        reserve = backend.reply_reserve(request.sampling)
        messages, given = self._as_seen(request)
        plan = backend.plan(messages, system=request.system, reserve=reserve)
        rag = None
        if request.kbs:
            if self.knowledge is None:
                raise RetrievalError("no knowledge base store is open")
            question = messages[-1].content
            kbs = knowledge_bases(self.knowledge, request.kbs)
            hits = search_knowledge(self.knowledge, kbs, question,
                                    k=max(request.top_k, HINT_SEARCH_K),
                                    embedder_loader=self._embedder_loader)
            translation = self._translation(request, kbs, question, hits, cancel)
            if translation is not None and translation.text:
                hits = search_knowledge(self.knowledge, kbs,
                                        search_queries(question, translation),
                                        k=request.top_k, embedder_loader=self._embedder_loader)
            hits = hits[:request.top_k]
            free = backend.n_ctx - reserve - plan.prompt_tokens - 8
            budget = max(0, min(request.context_tokens, free))
            embedders = [kb.embedder for kb in kbs]
            dropped = set(plan.dropped)
            earlier = [s for i, carried in enumerate(given) if i not in dropped
                       for s in carried]
            rag = build_context(question, hits, backend.count_tokens, budget,
                                no_answer_threshold(embedders), earlier)
            rag.translation = translation
            messages[-1] = ChatMessage("user", augmented_question(question, rag,
                                                                  mode=backend.mode))
            plan = backend.plan(messages, system=request.system, reserve=reserve)
        planned = PlannedTurn(messages, plan, rag)
        if request.inspect:
            knowledge = rag.block if rag is not None and rag.used else None
            planned.context = backend.context_map(messages, system=request.system,
                                                  reserve=reserve, knowledge=knowledge)
            if backend.capabilities.token_pieces:
                planned.spans = backend.token_spans(plan.tokens)
        return planned

    def _as_seen(self, request: TurnRequest) -> tuple[list[ChatMessage], list[list[Any]]]:
        """The conversation as the model saw it: each earlier question a knowledge-base turn
        answered comes back with the passages it carried (kept with the stored message), so
        the prompt starts with what the KV cache holds and those passages are not read
        again; and, per message, the passages it carries ({number, chunk_id})."""
        messages = list(request.messages)
        given: list[list[Any]] = [[] for _ in messages]
        if self.store is None or request.conversation_id is None or not request.persist:
            return messages, given
        stored = [m for m in self.store.messages(request.conversation_id) if m.role == "user"]
        at = 0
        for i, message in enumerate(messages[:-1]):
            if message.role != "user":
                continue
            match = next((j for j in range(at, len(stored))
                          if stored[j].content == message.content), None)
            if match is None:
                continue
            at = match + 1
            stats = stored[match].stats or {}
            prompt = stats.get("prompt")
            if isinstance(prompt, str) and prompt:
                messages[i] = ChatMessage("user", prompt)
                given[i] = [s for s in stats.get("sources") or []
                            if isinstance(s, dict) and "chunk_id" in s and "number" in s]
        return messages, given

    def _translation(self, request: TurnRequest, kbs: list[KnowledgeBase], question: str,
                     found: Sequence[RetrievalHit],
                     cancel: threading.Event | None) -> Translation | None:
        """The question in the knowledge bases' other language, when they hold one and the
        model can translate (app/query_translation.py), shown the wording of the passages
        `found` for the question as written; None otherwise."""
        if not request.translate_query or self.backend.mode != "chat" or \
                self.knowledge is None:
            return None
        target = translation_target(question, self.knowledge.scripts([kb.id for kb in kbs]))
        if target is None:
            return None
        try:
            side = self.backend.side_backend()
            if side is None:
                return None
            return translate(side, question, target, cancel, (h.text for h in found))
        except Exception as exc:  # the search goes on untranslated; the reason is logged
            log.warning("the question was not translated for retrieval: %s: %s",
                        exc.__class__.__name__, exc)
            return None

    def run(
        self,
        request: TurnRequest,
        cancel: threading.Event | None = None,
        *,
        state: TurnState | None = None,
        checkpoint_interval: float = CHECKPOINT_INTERVAL_S,
    ) -> Iterator[TurnEvent]:
        """Plan, store and generate the reply to `request`, yielding Retrieved (with
        knowledge bases), Started, then the backend's TokenEvents and one FinishEvent."""
        state = state if state is not None else TurnState()
        planned = self.plan_turn(request, cancel)
        state.planned = planned
        if planned.rag is not None:
            yield Retrieved(planned.rag)
        store = self.store if request.persist else None
        reply_id = self._store_start(store, request, state) if store is not None else None
        yield Started(state)
        yield from self._generate(store, reply_id, request, state, cancel,
                                  checkpoint_interval)

    def _store_start(self, store: ConversationStore, request: TurnRequest,
                     state: TurnState) -> int:
        if request.conversation_id is None:
            conversation = store.create_conversation(
                system_prompt=request.system, model_path=self.model_ref,
                mode=self.backend.mode,
                settings={"kbs": list(request.kbs)} if request.kbs else None,
            )
            cid = conversation.id
        else:
            cid = request.conversation_id
        state.conversation_id = cid
        if request.truncate_from is not None:
            store.delete_messages_from(cid, request.truncate_from)
        # What the model read for the question (with its passages), for the next turns.
        seen = _as_seen_stats(state)
        if request.save_user_message:
            user = request.messages[-1]
            state.user_message_id = store.add_message(cid, "user", user.content,
                                                      stats=seen).id
            current = store.get_conversation(cid)
            if current is not None and not current.title:
                store.rename_conversation(cid, suggest_title(user.content))
        else:  # regenerating: the stored question now carries this turn's passages
            last = next((m for m in reversed(store.messages(cid)) if m.role == "user"), None)
            if last is not None and (last.stats or None) != seen:
                store.update_message(last.id, stats=seen)
        reply = store.add_message(cid, "assistant", "", status="streaming")
        state.assistant_message_id = reply.id
        return reply.id

    def _generate(
        self,
        store: ConversationStore | None,
        reply_id: int | None,
        request: TurnRequest,
        state: TurnState,
        cancel: threading.Event | None,
        checkpoint_interval: float,
    ) -> Iterator[GenerationEvent]:
        assert state.planned is not None
        plan = state.planned.plan
        last_save = time.monotonic()
        saved_len = 0
        finished = False
        try:
            for event in self.backend.stream(plan, request.sampling, cancel=cancel,
                                             candidates=request.candidates):
                if isinstance(event, TokenEvent):
                    if event.text:
                        state.pieces.append(event.text)
                    now = time.monotonic()
                    if store is not None and reply_id is not None \
                            and now - last_save >= checkpoint_interval:
                        state.text = "".join(state.pieces)
                        if len(state.text) != saved_len:
                            store.update_message(reply_id, content=state.text)
                            saved_len = len(state.text)
                        last_save = now
                elif isinstance(event, FinishEvent):
                    event.stats.dropped_messages = list(plan.dropped)
                    state.text = event.text
                    if state.rag is not None:
                        state.citations = [c.to_dict() for c in
                                           check_citations(event.text, state.rag.sources())]
                    if store is not None and reply_id is not None:
                        cancelled = event.stats.stop_reason == "cancelled"
                        stats = event.stats.to_dict()
                        if state.rag is not None:
                            stats["sources"] = state.rag.sources()
                            if state.rag.no_answer:
                                stats["kb_no_answer"] = state.rag.no_answer_info()
                            stats["citations"] = state.citations
                        store.update_message(reply_id, content=event.text,
                                             status="cancelled" if cancelled else "complete",
                                             stats=stats)
                    finished = True
                yield event
        except BaseException as exc:
            if finished or store is None or reply_id is None:
                raise
            # Keep whatever was produced; mark why it ended.
            text = "".join(state.pieces)
            status = "interrupted" if isinstance(exc, GeneratorExit) else "error"
            store.update_message(reply_id, content=text, status=status, error=str(exc) or None)
            raise


def _as_seen_stats(state: TurnState) -> dict[str, Any] | None:
    """Kept with a user message that a knowledge-base turn answered: the question as the
    model read it and the passages it carried (see ChatService._as_seen)."""
    planned = state.planned
    if planned is None or planned.rag is None:
        return None
    rag = planned.rag
    if not rag.used and not rag.reused:
        return None
    return {"prompt": planned.messages[-1].content, "sources": rag.given()}


def collect(events: Iterator[TurnEvent]) -> FinishEvent:
    """Drain a turn, returning its FinishEvent."""
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
