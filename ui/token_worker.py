"""The tokenizer thread: live token counts, prompt views and context maps for the concept
panel while the model thread is busy generating.

It holds its own tokenizer-only copy of the loaded model (vocabulary and chat template, no
weights: ~0.4 s to load), so counting what the user types never waits on a reply. Requests
are coalesced: only the newest draft is worked on."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from engine.types import ChatMessage, ContextMap, LoadParams, TokenSpan

if TYPE_CHECKING:
    from engine.backend import ModelBackend
    from models.refs import ModelRef

log = logging.getLogger(__name__)
# Typing never waits on counting: while keys arrive, the newest draft is counted at most
# once per this interval (throttled, so the count stays live during a long burst), and the
# last keystroke of a burst is always counted.
DEBOUNCE_MS = 120


@dataclass
class InspectRequest:
    draft: str  # what is in the input box
    history: list[ChatMessage] = field(default_factory=list)
    system: str | None = None
    reserve: int = 512
    spans: bool = False  # also return the token pieces of the whole prompt


@dataclass
class Inspection:
    draft: str
    draft_tokens: int
    chars_per_token: float
    context: ContextMap | None  # None when the draft alone does not fit
    error: str = ""
    spans: list[TokenSpan] = field(default_factory=list)


class TokenizerWorker(QObject):
    loaded = Signal(str)  # model reference
    inspected = Signal(object)  # Inspection
    failed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self._engine: ModelBackend | None = None
        self._pending: InspectRequest | None = None
        self._lock = threading.Lock()

    @Slot(object, object, object, object, object)
    def load(self, ref: ModelRef, models_dir: Path, params: LoadParams,
             template: str | None, api_key: str | None = None) -> None:
        from engine.errors import EngineError
        from models.open import open_backend

        if self._engine is not None:
            self._engine.close()
            self._engine = None
        vocab_params = LoadParams(n_ctx=params.n_ctx, n_threads=1, vocab_only=True)
        try:
            self._engine = open_backend(ref, models_dir, vocab_params, template=template,
                                        api_key=api_key)
        except EngineError as exc:
            self.failed.emit(str(exc))
            return
        self.loaded.emit(str(ref))

    def submit(self, request: InspectRequest) -> None:
        """Called from the GUI thread: keep only the newest request."""
        with self._lock:
            self._pending = request

    @Slot()
    def run_pending(self) -> None:
        with self._lock:
            request, self._pending = self._pending, None
        if request is None or self._engine is None:
            return
        self.inspected.emit(inspect(self._engine, request))

    @Slot()
    def shutdown(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def inspect(engine: ModelBackend, request: InspectRequest) -> Inspection:
    """Count the draft and map the window the conversation plus draft would fill."""
    from engine.errors import EngineError

    count = engine.count_tokens(request.draft)
    ratio = len(request.draft) / count if count else 0.0
    messages = list(request.history)
    if request.draft.strip():
        messages.append(ChatMessage("user", request.draft))
    if not messages:
        return Inspection(request.draft, count, ratio, None)
    try:
        context = engine.context_map(messages, system=request.system, reserve=request.reserve)
    except EngineError as exc:
        return Inspection(request.draft, count, ratio, None, error=str(exc))
    spans: list[TokenSpan] = []
    if request.spans:
        plan = engine.plan(messages, system=request.system, reserve=request.reserve)
        spans = engine.token_spans(plan.tokens)
    return Inspection(request.draft, count, ratio, context, spans=spans)


class TokenizerThread(QObject):
    """Owns the tokenizer thread; `inspect()` from the GUI thread is debounced."""

    inspected = Signal(object)  # Inspection, delivered on the GUI thread
    loaded = Signal(str)  # model reference, on the GUI thread
    failed = Signal(str)
    _load = Signal(object, object, object, object, object)
    _run = Signal()
    _shutdown = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.qthread = QThread()
        self.qthread.setObjectName("tokenizer")
        self.worker = TokenizerWorker()
        self.worker.moveToThread(self.qthread)
        self._load.connect(self.worker.load)
        self._run.connect(self.worker.run_pending)
        self._shutdown.connect(self.worker.shutdown)
        self.worker.inspected.connect(self.inspected)
        self.worker.loaded.connect(self.loaded)
        self.worker.failed.connect(self.failed)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._run.emit)
        self.qthread.start()

    def load(self, ref: ModelRef, models_dir: Path, params: LoadParams,
             template: str | None, api_key: str | None = None) -> None:
        self._load.emit(ref, models_dir, params, template, api_key)

    def inspect(self, request: InspectRequest, *, now: bool = False) -> None:
        self.worker.submit(request)
        if now:
            self._debounce.stop()
            self._run.emit()
        elif not self._debounce.isActive():
            self._debounce.start()

    def stop(self, timeout_ms: int = 5_000) -> None:
        if not self.qthread.isRunning():
            return
        self._debounce.stop()
        self._shutdown.emit()
        self.qthread.quit()
        if not self.qthread.wait(timeout_ms):
            log.warning("tokenizer thread did not stop within %d ms", timeout_ms)
