"""What one running API shares between its requests: the model host, the turns in flight,
the knowledge-base store and the tokenizer copy, the sampling defaults, and whether it is
shutting down."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from engine.types import SamplingParams
from server.tokenizer import TokenizerCopy
from server.turns import TurnRunner

if TYPE_CHECKING:
    from app.model_host import ModelHost
    from kb.store import KnowledgeStore


class ApiState:
    def __init__(self, host: ModelHost, *, knowledge_db: Path | None = None,
                 defaults: SamplingParams | None = None) -> None:
        self.host = host
        self.knowledge_db = knowledge_db
        # Sampling values a request leaves out; the window replaces the object when the
        # user changes the settings (one reference, read by each request).
        self.defaults = defaults or SamplingParams()
        self.closing = False
        self.turns = TurnRunner(host, self.knowledge)
        self.tokenizer = TokenizerCopy(host)
        self._knowledge: KnowledgeStore | None = None
        self._lock = threading.Lock()

    def knowledge(self) -> KnowledgeStore:
        """The knowledge-base store, opened on first use (it serves every thread)."""
        from app.rag import RetrievalError

        with self._lock:
            if self._knowledge is None:
                if self.knowledge_db is None:
                    raise RetrievalError("no knowledge base store is open")
                from kb.store import KnowledgeStore

                self._knowledge = KnowledgeStore(self.knowledge_db)
            return self._knowledge

    def begin_shutdown(self) -> None:
        """New requests are answered 503; turns in flight stop at their next token."""
        self.closing = True
        self.turns.cancel_all()

    def close(self) -> None:
        self.tokenizer.close()
        with self._lock:
            if self._knowledge is not None:
                self._knowledge.close()
                self._knowledge = None
