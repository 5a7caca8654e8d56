"""A tokenizer-only copy of the loaded model for /tokenize, /detokenize and /props: counting
tokens never waits for a reply that is being generated (as the window's own token counter)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from app.model_host import LoadSpec, NoModelLoaded
from engine.types import LoadParams

if TYPE_CHECKING:
    from app.model_host import ModelHost
    from engine.backend import ModelBackend


class TokenizerCopy:
    def __init__(self, host: ModelHost) -> None:
        self.host = host
        self._lock = threading.Lock()
        self._spec: LoadSpec | None = None
        self._backend: ModelBackend | None = None

    @contextmanager
    def use(self) -> Iterator[ModelBackend]:
        """The tokenizer of the model loaded now (opened again when the model changed); one
        caller at a time. Raises NoModelLoaded."""
        spec = self.host.spec
        if spec is None:
            raise NoModelLoaded("no model is loaded")
        with self._lock:
            if spec != self._spec or self._backend is None:
                self._close()
                from models.open import open_backend

                params = LoadParams(n_ctx=spec.params.n_ctx, n_threads=1, vocab_only=True)
                self._backend = open_backend(spec.ref, self.host.models_dir, params,
                                             template=spec.template)
                self._spec = spec
            yield self._backend

    def _close(self) -> None:
        if self._backend is not None:
            self._backend.close()
        self._backend, self._spec = None, None

    def close(self) -> None:
        with self._lock:
            self._close()
