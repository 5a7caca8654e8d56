"""The model thread: one QObject that owns the Engine; the GUI talks to it only by signals.

Generation events become queued signals; Stop sets a threading.Event that the engine checks
between tokens, so it takes effect at the next token."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, Signal, Slot

from app.chat_service import TurnRequest, TurnState
from engine.types import (
    Candidate,
    ContextMap,
    FinishEvent,
    GenerationStats,
    LoadParams,
    PromptProgress,
    TokenEvent,
    TokenSpan,
)
from models.refs import ModelRef

if TYPE_CHECKING:
    from app.chat_service import ChatService
    from app.conversations import ConversationStore
    from app.model_host import ModelHost
    from engine.backend import Capabilities, ModelBackend
    from engine.cpu_backend import EngineBuild
    from engine.devices import Device
    from engine.gguf import ModelInfo
    from engine.placement import Placement
    from kb.store import KnowledgeStore

log = logging.getLogger(__name__)


@dataclass
class LoadRequest:
    ref: ModelRef
    params: LoadParams = field(default_factory=LoadParams)
    template: str | None = None
    api_key: str | None = field(default=None, repr=False)  # a server's key, sent only there


@dataclass
class LoadedModel:
    ref: ModelRef
    path: str  # the GGUF file (a built-in model's assembled copy), or the server and model
    info: ModelInfo | None  # the GGUF's metadata; None for a model on a server
    mode: str
    n_ctx: int
    load_s: float
    build: EngineBuild | None = None  # the CPU code llama.cpp runs
    capabilities: Capabilities | None = None  # None: a local model (everything exact)
    server_name: str = ""  # a model on a server: the name it has there
    placement: Placement | None = None  # the GPU and layers offloaded (local models)
    devices: list[Device] = field(default_factory=list)  # what llama.cpp sees, for Settings

    @property
    def name(self) -> str:
        return self.info.name if self.info is not None else self.server_name

    @property
    def remote(self) -> bool:
        return self.info is None


@dataclass
class TurnStarted:
    conversation_id: int
    user_message_id: int | None
    assistant_message_id: int
    dropped: list[int]
    prompt_tokens: int
    context: ContextMap | None = None  # with TurnRequest.inspect
    spans: list[TokenSpan] = field(default_factory=list)  # the prompt's pieces, same
    tokens: list[int] = field(default_factory=list)  # the prompt's token ids


@dataclass(frozen=True)
class TokenStep:
    """One generated token for the concept panel: its piece and the candidates it was
    picked from (empty when the turn asked for no candidates)."""

    token_id: int
    piece: str
    special: bool
    candidates: tuple[Candidate, ...]
    drafted: bool = False  # drafted by prompt lookup and kept (engine/lookup.py)

    def chosen(self) -> Candidate | None:
        """The picked token among the candidates, None when the sampler drew one outside.
        A server names tokens by text alone (ids -1): then the first with its text."""
        for c in self.candidates:
            if c.token_id == self.token_id if self.token_id >= 0 else c.piece == self.piece:
                return c
        return None


@dataclass
class Retrieved:
    """Shown before the reply starts: what the knowledge bases gave for the question."""

    conversation_id: int | None
    query: str
    sources: list[dict[str, object]]  # the passages that went into the prompt, numbered
    hits: list[dict[str, object]]  # every retrieved passage, with scores and in_prompt
    budget: int
    translation: str = ""  # the question in the knowledge bases' other language, searched too
    # Set when nothing retrieved was relevant: {"best_score", "threshold"} (app/rag.py).
    no_answer: dict[str, float | None] | None = None
    # The passages' opening words the translator was shown for their wording.
    translation_hints: tuple[str, ...] = ()


@dataclass
class TurnFinished:
    conversation_id: int
    assistant_message_id: int | None
    text: str
    status: str  # complete | cancelled | error
    stats: GenerationStats | None = None
    error: str = ""
    # True when nothing was written: the user's text should go back into the input box.
    rejected: bool = False
    sources: list[dict[str, object]] = field(default_factory=list)  # what the reply may cite
    citations: list[dict[str, object]] = field(default_factory=list)  # its [n], checked
    no_answer: dict[str, float | None] | None = None  # the knowledge bases had nothing


class ModelWorker(QObject):
    load_started = Signal(str)
    loaded = Signal(object)  # LoadedModel
    load_failed = Signal(str, str, bool)  # label, one-line reason, a model is still loaded
    turn_started = Signal(object)  # TurnStarted
    retrieved = Signal(object)  # Retrieved
    piece = Signal(int, str)  # conversation id, text
    prompt_progress = Signal(int, object)  # conversation id, PromptProgress
    # Every generated token with its candidates, when the turn asked for inspection.
    token = Signal(int, object)  # conversation id, TokenStep
    turn_finished = Signal(object)  # TurnFinished
    # A turn waits for the model, which is busy with someone else's: "api" (a request to
    # the local API), "load" or "close".
    turn_waiting = Signal(str)

    def __init__(self, db_path: Path, models_dir: Path, knowledge_db: Path | None = None,
                 host: ModelHost | None = None) -> None:
        from app.model_host import ModelHost

        super().__init__()
        self._db_path = db_path
        self._knowledge_db = knowledge_db
        self._knowledge: KnowledgeStore | None = None
        # The loaded model, shared with the local API when it serves: turns take turns.
        self.host = host if host is not None else ModelHost(models_dir)
        self._store: ConversationStore | None = None
        self._cancel = threading.Event()

    # Called from the GUI thread: only touches a thread-safe Event.
    def request_cancel(self) -> None:
        self._cancel.set()

    def _get_store(self) -> ConversationStore:
        if self._store is None:
            from app.conversations import ConversationStore

            self._store = ConversationStore(self._db_path)
        return self._store

    def _get_knowledge(self) -> KnowledgeStore | None:
        if self._knowledge is None and self._knowledge_db is not None:
            from kb.store import KnowledgeStore

            self._knowledge = KnowledgeStore(self._knowledge_db)
        return self._knowledge

    @Slot(object)
    def load_model(self, request: LoadRequest) -> None:
        import time

        from app.model_host import LoadSpec
        from engine.errors import EngineError

        label = request.ref.display_name
        self.load_started.emit(label)
        t0 = time.perf_counter()
        try:
            backend = self.host.load(LoadSpec(request.ref, request.params, request.template,
                                              api_key=request.api_key))
        except EngineError as exc:
            self.load_failed.emit(label, str(exc), self.host.loaded)
            return
        except Exception as exc:  # a bug, but the app must keep running
            log.exception("unexpected error while loading %s", label)
            self.load_failed.emit(label, self.tr("%s: unexpected error: %s") % (label, exc),
                                  self.host.loaded)
            return
        description = backend.description
        self.loaded.emit(
            LoadedModel(
                ref=request.ref,
                path=description.source,
                info=description.info,
                mode=backend.mode,
                n_ctx=backend.n_ctx,
                load_s=time.perf_counter() - t0,
                build=description.build,
                capabilities=backend.capabilities,
                server_name=description.name,
                placement=description.placement,
                devices=_devices() if description.info is not None else [],
            )
        )

    @Slot(object)
    def run_turn(self, request: TurnRequest) -> None:
        from app.chat_service import ChatService
        from app.conversations import StoreError
        from app.rag import RetrievalError
        from engine.errors import EngineError
        from kb.db import DatabaseError
        from kb.embedders import EmbedderError

        cid = request.conversation_id or -1
        self._cancel.clear()
        state = TurnState()
        finish: FinishEvent | None = None
        try:
            with self.host.use(cancel=self._cancel, label="window",
                               on_wait=self.turn_waiting.emit) as backend:
                spec = self.host.spec
                service = ChatService(
                    backend, store=self._get_store(),
                    knowledge=self._get_knowledge() if request.kbs else None,
                    model_ref=str(spec.ref) if spec is not None else None)
                finish = self._stream(service, backend, request, state, cid)
        except (EngineError, StoreError, RetrievalError, DatabaseError, EmbedderError) as exc:
            self.turn_finished.emit(
                TurnFinished(
                    state.conversation_id or cid,
                    state.assistant_message_id,
                    "".join(state.pieces),
                    "error",
                    error=str(exc),
                    rejected=state.assistant_message_id is None,
                )
            )
            return
        except Exception as exc:
            log.exception("unexpected error during generation")
            self.turn_finished.emit(
                TurnFinished(
                    state.conversation_id or cid,
                    state.assistant_message_id,
                    "".join(state.pieces),
                    "error",
                    error=self.tr("unexpected error: %s") % exc,
                    rejected=state.assistant_message_id is None,
                )
            )
            return
        assert finish is not None and state.conversation_id is not None
        status = "cancelled" if finish.stats.stop_reason == "cancelled" else "complete"
        self.turn_finished.emit(
            TurnFinished(
                state.conversation_id,
                state.assistant_message_id,
                finish.text,
                status,
                stats=finish.stats,
                sources=state.rag.sources() if state.rag is not None else [],
                citations=list(state.citations),
                no_answer=state.rag.no_answer_info() if state.rag is not None else None,
            )
        )

    def _stream(self, service: ChatService, backend: ModelBackend, request: TurnRequest,
                state: TurnState, cid: int) -> FinishEvent | None:
        """Run the turn, turning its events into signals."""
        from app.chat_service import Retrieved as RetrievedEvent
        from app.chat_service import Started

        finish: FinishEvent | None = None
        # A local model names each token's piece at once; a server's piece is the text it
        # sent (asking it for pieces would cost two requests a token).
        local = backend.description.info is not None
        for event in service.run(request, self._cancel, state=state):
            if isinstance(event, TokenEvent):
                if request.inspect:
                    spans = backend.token_spans([event.token_id]) if local else []
                    piece, special = ((spans[0].text, spans[0].special) if spans
                                      else (event.text, False))
                    self.token.emit(state.conversation_id or cid,
                                    TokenStep(event.token_id, piece, special,
                                              event.candidates, event.drafted))
                if event.text:
                    self.piece.emit(state.conversation_id or cid, event.text)
            elif isinstance(event, RetrievedEvent):
                rag = event.rag
                self.retrieved.emit(
                    Retrieved(request.conversation_id, rag.query, rag.sources(),
                              rag.retrieval_report(), rag.budget,
                              rag.translation.text if rag.translation else "",
                              rag.no_answer_info(),
                              rag.translation.hints if rag.translation else ()))
            elif isinstance(event, Started):
                self._emit_started(event.state)
            elif isinstance(event, PromptProgress):
                self.prompt_progress.emit(state.conversation_id or cid, event)
            else:
                finish = event
        return finish

    def _emit_started(self, s: TurnState) -> None:
        assert s.conversation_id is not None and s.assistant_message_id is not None
        assert s.planned is not None
        self.turn_started.emit(
            TurnStarted(
                s.conversation_id,
                s.user_message_id,
                s.assistant_message_id,
                list(s.planned.plan.dropped),
                s.planned.plan.prompt_tokens,
                s.planned.context,
                list(s.planned.spans),
                list(s.planned.plan.tokens),
            )
        )

    @Slot()
    def shutdown(self) -> None:
        self.host.close()
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._knowledge is not None:
            self._knowledge.close()
            self._knowledge = None


class ModelThread(QObject):
    """Owns the QThread the worker lives on; forwards requests as queued signals."""

    _load = Signal(object)
    _turn = Signal(object)
    _shutdown = Signal()

    def __init__(
        self,
        db_path: Path,
        models_dir: Path,
        parent: QObject | None = None,
        knowledge_db: Path | None = None,
        host: ModelHost | None = None,
    ) -> None:
        super().__init__(parent)
        self.qthread = QThread()
        self.qthread.setObjectName("model")
        self.worker = ModelWorker(db_path, models_dir, knowledge_db, host)
        self.worker.moveToThread(self.qthread)
        self._load.connect(self.worker.load_model)
        self._turn.connect(self.worker.run_turn)
        self._shutdown.connect(self.worker.shutdown)
        self.qthread.start()

    def load(self, request: LoadRequest) -> None:
        self._load.emit(request)

    def run_turn(self, request: TurnRequest) -> None:
        self._turn.emit(request)

    def cancel(self) -> None:
        self.worker.request_cancel()

    def stop(self, timeout_ms: int = 10_000) -> None:
        """Cancel any reply, free the model on its own thread, and end the thread."""
        if not self.qthread.isRunning():
            return
        self.worker.request_cancel()
        self._shutdown.emit()
        self.qthread.quit()
        if not self.qthread.wait(timeout_ms):
            log.warning("model thread did not stop within %d ms", timeout_ms)


def _devices() -> list[Device]:
    """The devices llama.cpp sees (llama_cpp is loaded by now: this is cheap)."""
    from engine.devices import list_devices

    return list_devices()
