"""What the knowledge base store hands out and takes in: knowledge bases, file records and
retrieval hits as values, the checks on names and result counts, vectors as blobs, and the
name of each knowledge base's vector table."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from kb.db import DatabaseError
from kb.filenames import real_path

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

# Results a search may ask for. It looks at 4 x k candidates on each side, and sqlite-vec
# answers at most 4,096 nearest neighbours per query.
MAX_RESULTS: Final = 1024
MAX_NAME_CHARS: Final = 100
_NAME_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class KnowledgeBase:
    id: int
    name: str
    embedder: str
    dim: int
    chunk_tokens: int
    chunk_overlap: int
    created_at: float
    files: int = 0
    chunks: int = 0


@dataclass(frozen=True)
class FileRecord:
    id: int
    kb_id: int
    path: str  # as the file system knows it (may hold lone surrogates: kb.filenames)
    size: int | None
    mtime: float | None
    content_hash: str | None
    status: str
    error: str | None
    chunks: int
    indexed_at: float | None
    kind: str | None


@dataclass
class RetrievalHit:
    """One retrieved passage and why: both rankings, the fused rank, the matched terms."""

    chunk_id: int
    kb: str
    path: str  # valid text (kb.filenames.unicode_path): it goes into prompts and JSON
    text: str
    page: int | None
    heading: str | None
    start_char: int
    end_char: int
    token_count: int
    vector_score: float | None = None  # cosine similarity, -1..1
    vector_rank: int | None = None  # 1-based among the vector candidates
    keyword_score: float | None = None  # BM25 (higher is better)
    keyword_rank: int | None = None
    fused_score: float = 0.0
    rank: int = 0  # 1-based after fusion
    matched_terms: list[str] = field(default_factory=list)
    # Which search ranked it (HybridSearch.search_all): 0 the question as written, 1 the
    # question with its translation.
    query: int = 0

    def location(self) -> str:
        parts = []
        if self.page is not None:
            parts.append(f"p. {self.page}")
        if self.heading:
            parts.append(f"§ {self.heading}")
        parts.append(f"chars {self.start_char}-{self.end_char}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "kb": self.kb,
            "path": self.path,
            "location": self.location(),
            "page": self.page,
            "heading": self.heading,
            "start_char": self.start_char,
            "end_char": self.end_char,
            "text": self.text,
            "token_count": self.token_count,
            "vector_score": self.vector_score,
            "vector_rank": self.vector_rank,
            "keyword_score": self.keyword_score,
            "keyword_rank": self.keyword_rank,
            "fused_score": self.fused_score,
            "rank": self.rank,
            "matched_terms": self.matched_terms,
            "query": self.query,
        }



def vec_table(kb_id: int) -> str:
    return f"vec_kb_{int(kb_id)}"


def vector_blob(vector: NDArray[np.float32]) -> bytes:
    import numpy as np

    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def check_kb_name(name: str) -> str:
    """The name as stored (surrounding spaces dropped), or DatabaseError(kind='bad_input')."""
    cleaned = name.strip()
    if not cleaned:
        raise DatabaseError("a knowledge base needs a name (it was empty)", kind="bad_input")
    if _NAME_CONTROL.search(cleaned):
        raise DatabaseError("a knowledge base name cannot contain control characters "
                            "(line breaks, tabs)", kind="bad_input")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in cleaned):
        raise DatabaseError("a knowledge base name must be valid text", kind="bad_input")
    if len(cleaned) > MAX_NAME_CHARS:
        raise DatabaseError(f"a knowledge base name can have at most {MAX_NAME_CHARS} "
                            f"characters (this one has {len(cleaned)})", kind="bad_input")
    return cleaned


def check_result_count(k: int) -> int:
    if not 1 <= k <= MAX_RESULTS:
        raise DatabaseError(f"the number of results must be between 1 and {MAX_RESULTS} "
                            f"(got {k})", kind="bad_input")
    return k


def file_record(row: Sequence[Any]) -> FileRecord:
    return FileRecord(row[0], row[1], real_path(str(row[2])), *row[3:])


def bump(conn: Any, kb_id: int) -> None:
    conn.execute("UPDATE kb SET vectors_version = vectors_version + 1 WHERE id = ?", (kb_id,))


def dumps(data: Iterable[RetrievalHit]) -> str:
    return json.dumps([h.to_dict() for h in data], ensure_ascii=False)
