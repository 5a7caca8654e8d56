"""API turns on the shared model: each request takes its place in line on the event loop as
it arrives (so arrival order is the order served, and a full line answers 429 at once), then
runs on a thread of its own through the chat service; its events come back to the event loop
through an asyncio queue. Setting a turn's cancel event (the client went away, the server
is stopping) ends its wait for the model or its generation at the next token."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.chat_service import ChatService, Started, TurnState
from engine.types import FinishEvent, PromptProgress, TokenEvent
from server.errors import ApiError
from server.params import Generation
from server.responses import Began, Finished, Piece, Step, logprob

if TYPE_CHECKING:
    from app.model_host import ModelHost, Ticket
    from engine.backend import ModelBackend
    from kb.store import KnowledgeStore

log = logging.getLogger(__name__)


class End:
    """The turn's thread has finished: nothing follows."""


END = End()
# How long a token waits for the event loop to take it before decoding goes on: long enough
# for a loop that is free (well under a millisecond), short enough that a client that reads
# slowly never holds the model up for long.
HAND_OVER_S = 0.05
TurnItem = Began | Step | PromptProgress | Finished | Exception | End


class RunningTurn:
    def __init__(self, turn_id: str, gen: Generation, loop: asyncio.AbstractEventLoop) -> None:
        self.id = turn_id
        self.gen = gen
        self.cancel = threading.Event()
        self._loop = loop
        self._queue: asyncio.Queue[TurnItem] = asyncio.Queue()
        self._ready = threading.Event()  # the event loop asks for more
        self._kept: list[TurnItem] = []  # taken in a batch but not used yet

    def keep(self, items: list[TurnItem]) -> None:
        """Give back items of a batch that the next batch() returns first."""
        self._kept = list(items) + self._kept

    def put(self, item: TurnItem, *, hand_over: bool = False) -> None:
        """From the turn's thread: hand an item to the event loop. `hand_over`: wait (a
        little, at most) until the event loop has sent it on, so that its work is done
        between two tokens rather than while llama.cpp's threads decode the next one."""
        self._ready.clear()
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone: nobody is listening any more
            self.cancel.set()
            return
        if hand_over:
            self._ready.wait(HAND_OVER_S)

    async def batch(self) -> list[TurnItem]:
        """The next item, and every item already waiting after it (and: all sent before
        are on their way). Items given back with `keep` come first."""
        if self._kept:
            items, self._kept = self._kept, []
            return items
        self._ready.set()
        items = [await self._queue.get()]
        while not self._queue.empty():
            items.append(self._queue.get_nowait())
        return items


class TurnRunner:
    def __init__(self, host: ModelHost,
                 knowledge: Callable[[], KnowledgeStore]) -> None:
        self.host = host
        self._knowledge = knowledge
        self._running: set[RunningTurn] = set()
        self._lock = threading.Lock()

    def start(self, turn_id: str, gen: Generation) -> RunningTurn:
        """Take a place in line now (ModelBusy when the line is full) and start the turn's
        thread, which waits there for the model."""
        ticket = self.host.reserve("api")
        turn = RunningTurn(turn_id, gen, asyncio.get_running_loop())
        with self._lock:
            self._running.add(turn)
        thread = threading.Thread(target=self._work, args=(turn, ticket), daemon=True,
                                  name=f"api-{turn_id[-6:]}")
        try:
            thread.start()
        except BaseException:
            self.host.withdraw(ticket)
            self._forget(turn)
            raise
        return turn

    def cancel_all(self) -> None:
        with self._lock:
            for turn in self._running:
                turn.cancel.set()

    def running(self) -> int:
        with self._lock:
            return len(self._running)

    def _forget(self, turn: RunningTurn) -> None:
        with self._lock:
            self._running.discard(turn)

    def _work(self, turn: RunningTurn, ticket: Ticket) -> None:
        outcome = "failed"
        try:
            with self.host.use(cancel=turn.cancel, ticket=ticket, label="api") as backend:
                _check_endpoint(backend, turn.gen)
                knowledge = self._knowledge() if turn.gen.kbs else None
                # The whole turn on the model's compute thread: as in-process, no hop a token.
                run_inside = getattr(backend, "run_inside", None)
                if run_inside is not None:
                    outcome = run_inside(lambda plain: _run(plain, turn, knowledge))
                else:
                    outcome = _run(backend, turn, knowledge)
        except Exception as exc:
            outcome = f"refused: {exc}" if isinstance(exc, ApiError) else \
                f"{exc.__class__.__name__}: {exc}"
            turn.put(exc)
        finally:
            self._forget(turn)
            turn.put(END)
            log.info("api turn %s (%s): %s", turn.id, turn.gen.endpoint, outcome)


def _run(backend: ModelBackend, turn: RunningTurn, knowledge: KnowledgeStore | None) -> str:
    """Plan and generate one turn, handing each event to the event loop; its outcome."""
    outcome = "ended without finishing"
    service = ChatService(backend, knowledge=knowledge)
    state = TurnState()
    for event in service.run(turn.gen.turn_request(), turn.cancel, state=state):
        if isinstance(event, TokenEvent):
            turn.put(_step(backend, event, turn.gen), hand_over=True)
        elif isinstance(event, PromptProgress):
            turn.put(event)
        elif isinstance(event, Started):
            planned = event.state.planned
            assert planned is not None
            rag = planned.rag
            turn.put(Began(planned.plan.prompt_tokens,
                           rag.sources() if rag is not None else None,
                           len(rag.hits) if rag is not None else 0,
                           rag.no_answer_info() if rag is not None else None))
        elif isinstance(event, FinishEvent):
            stats = event.stats
            outcome = f"{stats.completion_tokens} tokens, {stats.stop_reason}"
            turn.put(Finished(event.text, stats, state.citations))
    return outcome


def _check_endpoint(backend: ModelBackend, gen: Generation) -> None:
    name = backend.description.name
    if backend.mode == gen.endpoint:
        return
    if backend.mode == "completion":
        raise ApiError(400, f"the loaded model ({name}) is a base model without a chat "
                            "template: use /v1/completions to continue a text",
                       code="wrong_endpoint")
    raise ApiError(400, f"the loaded model ({name}) is a chat model: use /v1/chat/completions",
                   code="wrong_endpoint")


def _step(backend: ModelBackend, event: TokenEvent, gen: Generation) -> Step:
    if not gen.logprobs:
        return Step(event.text)
    candidates = event.candidates[: gen.top_logprobs]
    spans = backend.token_spans([event.token_id, *(c.token_id for c in candidates)])
    chosen = Piece(spans[0].text, spans[0].raw, logprob(event.probability))
    top = tuple(Piece(s.text, s.raw, logprob(c.probability))
                for s, c in zip(spans[1:], candidates, strict=True))
    return Step(event.text, chosen, top)
