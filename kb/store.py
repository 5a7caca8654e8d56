"""The knowledge base on disk: knowledge bases, files, chunks, FTS5 terms and sqlite-vec
vectors in one SQLite file, and hybrid search over them.

One KnowledgeStore is one connection: use one per thread (WAL lets them work together)."""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from kb import segment
from kb.db import DatabaseError, connect, error_kind, file_error, translate
from kb.filenames import real_path, stored_path, unicode_path

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from kb.chunking import Chunk

RRF_K = 60  # reciprocal rank fusion constant (Cormack et al.)
FILE_STATUSES = ("pending", "indexed", "failed")

# "MJKB" in the file header (PRAGMA application_id) of every knowledge.db, so that a file
# that is not ours is recognised and left alone. Files made before the stamp existed (0,
# with our tables) are adopted and stamped on open.
APPLICATION_ID: Final = 0x4D4A4B42
# app/conversations.py stamps "MJNG": named in the message when the two files are swapped.
CONVERSATIONS_APPLICATION_ID: Final = 0x4D4A4E47
_OUR_TABLES: Final = frozenset({"kb", "sources", "files", "chunks"})

# Results a search may ask for. It looks at 4 x k candidates on each side, and sqlite-vec
# answers at most 4,096 nearest neighbours per query.
MAX_RESULTS: Final = 1024
MAX_NAME_CHARS: Final = 100
# An unrecognised SQLite error on a write, with less room left than this (on the disk, or
# under SQLite's page limit), is taken for a full disk: sqlite-vec allocates its vectors in
# blocks of 1,024 (2 MiB at 512 dimensions, 8 MiB at 2,048) and reports SQLITE_FULL there
# as a generic error.
FULL_DISK_BYTES: Final = 8 * 1024 * 1024
_NAME_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

MIGRATIONS: list[str] = [
    # 1: knowledge bases, files, chunks, keyword index
    """
    CREATE TABLE kb (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        embedder TEXT NOT NULL,
        dim INTEGER NOT NULL,
        chunk_tokens INTEGER NOT NULL,
        chunk_overlap INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        kb_id INTEGER NOT NULL REFERENCES kb(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        is_folder INTEGER NOT NULL,
        watch INTEGER NOT NULL DEFAULT 0,
        added_at REAL NOT NULL,
        UNIQUE (kb_id, path)
    );
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        kb_id INTEGER NOT NULL REFERENCES kb(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        size INTEGER,
        mtime REAL,
        content_hash TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'indexed', 'failed')),
        error TEXT,
        chunks INTEGER NOT NULL DEFAULT 0,
        indexed_at REAL,
        kind TEXT,
        encoding TEXT,
        UNIQUE (kb_id, path)
    );
    CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        kb_id INTEGER NOT NULL,
        ord INTEGER NOT NULL,
        text TEXT NOT NULL,
        terms TEXT NOT NULL,
        start_char INTEGER NOT NULL,
        end_char INTEGER NOT NULL,
        page INTEGER,
        heading TEXT,
        token_count INTEGER NOT NULL,
        embedder TEXT NOT NULL
    );
    CREATE INDEX chunks_file ON chunks(file_id);
    CREATE INDEX chunks_kb ON chunks(kb_id);
    CREATE VIRTUAL TABLE chunk_fts USING fts5(terms, tokenize = 'unicode61 remove_diacritics 2');
    """,
    # 2: a counter that moves with every change to a knowledge base's vectors (in-memory
    # search caches check it), and per-term document counts for query pruning
    """
    ALTER TABLE kb ADD COLUMN vectors_version INTEGER NOT NULL DEFAULT 0;
    CREATE VIRTUAL TABLE chunk_fts_vocab USING fts5vocab(chunk_fts, 'row');
    """,
]
# Above this many chunks a knowledge base's vectors are also held in memory as one float32
# matrix: a NumPy matrix-vector product beats vec0's brute-force scan by ~5x at 100k.
MEMORY_KNN_MIN_CHUNKS = 20_000
# Query terms found in more than this share of chunks carry little signal but make BM25
# score most of the index; they are dropped (the vector side still sees the whole query).
MAX_TERM_DOC_SHARE = 0.2
MAX_QUERY_TERMS = 12


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
        }


def _vec_table(kb_id: int) -> str:
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


class KnowledgeStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise translate(exc, self.path.parent) from exc
        self._lock = threading.RLock()
        # kb id -> (vectors_version, chunk ids, matrix)
        self._matrices: dict[int, tuple[int, Any, Any]] = {}
        self.conn = connect(self.path, check=self._ownership)
        try:
            self._migrate()
        except BaseException as exc:
            self.conn.close()
            translated = translate(exc, self.path)
            if translated is exc:
                raise
            raise translated from exc

    # ----------------------------------------------------------- plumbing

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> KnowledgeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ownership(self, conn: Any) -> tuple[int, int]:
        """(user_version, application_id) of a file that is ours or new and empty; any other
        SQLite file raises DatabaseError('not_ours') before anything is written to it.

        One statement, so one snapshot even while another process creates the schema."""
        version, app_id, names = conn.execute(
            "SELECT (SELECT user_version FROM pragma_user_version),"
            " (SELECT application_id FROM pragma_application_id),"
            " (SELECT group_concat(name, char(31)) FROM sqlite_master WHERE type = 'table'"
            "  AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\')"
        ).fetchone()
        version, app_id = int(version), int(app_id)
        tables = set(str(names).split("\x1f")) if names else set()
        adopted = app_id == 0 and version >= 1 and _OUR_TABLES.issubset(tables)
        if app_id == APPLICATION_ID or adopted:
            if version > len(MIGRATIONS):
                raise file_error("newer_version", self.path, f"schema {version}")
            return version, app_id
        if app_id == 0 and version == 0 and not tables:
            return 0, 0  # a new file (or one another process has not created yet)
        if app_id == CONVERSATIONS_APPLICATION_ID:
            raise DatabaseError(
                f"{self.path} is not a Mingjing knowledge base (it is a Mingjing conversation "
                "database); it was left untouched", kind="not_ours",
            )
        raise file_error("not_ours", self.path)

    def _migrate(self) -> None:
        """Numbered migrations, then the application_id stamp, each step in a transaction
        that first re-reads the file: two processes opening a new knowledge.db at once both
        succeed, whichever creates the schema."""
        with self._lock:
            current = len(MIGRATIONS)
            version, app_id = self._ownership(self.conn)
            while version < current or app_id != APPLICATION_ID:
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                except Exception as exc:
                    if version >= current and error_kind(exc) == "read_only":
                        return  # ours and current, not stamped yet: read it as it is
                    raise
                start = version
                try:
                    # Another process may have migrated while we waited for the lock.
                    version, app_id = self._ownership(self.conn)
                    start = version
                    if version < current:
                        for statement in MIGRATIONS[version].split(";"):
                            if statement.strip():
                                self.conn.execute(statement)
                        version += 1
                        self.conn.execute(f"PRAGMA user_version = {version}")
                    if version >= current and app_id != APPLICATION_ID:
                        self.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                        app_id = APPLICATION_ID
                    self.conn.execute("COMMIT")
                except BaseException as exc:
                    _rollback_quietly(self.conn)
                    if start >= current and error_kind(exc) == "read_only":
                        return  # only the stamp could not be written: read it as it is
                    raise

    def transaction(self) -> _Transaction:
        return _Transaction(self)

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        """The connection under the store's lock; errors about the file or the disk become
        one-line DatabaseErrors."""
        with self._lock:
            try:
                yield self.conn
            except BaseException as exc:
                translated = self._diagnose(exc)
                if translated is exc:
                    raise
                raise translated from exc

    def _diagnose(self, exc: BaseException) -> BaseException:
        """Like kb.db.translate, and more. sqlite-vec reports what went wrong underneath it as
        a generic SQLITE_ERROR ("Internal sqlite-vec error: Could not insert a new vector
        chunk" on a full disk, "vectors blob read error" on a damaged page), so an
        unrecognised SQLite error is looked into: a disk (or page limit) with no room left
        means the disk is full, a failing integrity check means the file is corrupt.
        Anything else is a bug and keeps its traceback."""
        translated = translate(exc, self.path)
        if translated is not exc or type(exc).__name__ != "OperationalError":
            return translated
        if self._full():
            return file_error("disk_full", self.path)
        if self._damaged():
            return file_error("corrupt", self.path)
        return exc

    def _damaged(self) -> bool:
        try:
            rows = self.conn.execute("PRAGMA quick_check(1)").fetchall()
        except Exception as exc:
            return error_kind(exc) == "corrupt"
        return [tuple(r) for r in rows] != [("ok",)]

    def _full(self) -> bool:
        try:
            if shutil.disk_usage(self.path.parent).free < FULL_DISK_BYTES:
                return True
            pages, limit, size = (self.conn.execute(f"PRAGMA {name}").fetchone()[0]
                                  for name in ("page_count", "max_page_count", "page_size"))
            return bool((limit - pages) * size < FULL_DISK_BYTES)
        except Exception:  # only a diagnosis: the original error stands
            return False

    @property
    def application_id(self) -> int:
        with self._reading() as conn:
            return int(conn.execute("PRAGMA application_id").fetchone()[0])

    # ------------------------------------------------------ knowledge bases

    def create_kb(
        self, name: str, *, embedder: str, dim: int, chunk_tokens: int, chunk_overlap: int
    ) -> KnowledgeBase:
        """Create a knowledge base, or return the one of that name if it exists already
        (another process may have created it since the caller looked)."""
        name = check_kb_name(name)
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO kb (name, embedder, dim, chunk_tokens, chunk_overlap, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                (name, embedder, dim, chunk_tokens, chunk_overlap, time.time()),
            )
            if cur.rowcount == 1:
                self._create_vec_table(conn, int(cur.lastrowid), dim)
        kb = self.get_kb(name)
        assert kb is not None
        return kb

    @staticmethod
    def _create_vec_table(conn: Any, kb_id: int, dim: int) -> None:
        conn.execute(
            f"CREATE VIRTUAL TABLE {_vec_table(kb_id)} USING vec0("
            f"embedding float[{int(dim)}] distance_metric=cosine)"
        )

    def _kb_from_row(self, row: Sequence[Any]) -> KnowledgeBase:
        return KnowledgeBase(*row)

    def list_kbs(self) -> list[KnowledgeBase]:
        with self._reading():
            rows = self.conn.execute(
                "SELECT kb.id, name, embedder, dim, chunk_tokens, chunk_overlap, created_at, "
                "(SELECT COUNT(*) FROM files f WHERE f.kb_id = kb.id), "
                "(SELECT COUNT(*) FROM chunks c WHERE c.kb_id = kb.id) "
                "FROM kb ORDER BY name"
            ).fetchall()
        return [self._kb_from_row(r) for r in rows]

    def get_kb(self, name: str) -> KnowledgeBase | None:
        for kb in self.list_kbs():
            if kb.name == name:
                return kb
        return None

    def get_kb_by_id(self, kb_id: int) -> KnowledgeBase | None:
        for kb in self.list_kbs():
            if kb.id == kb_id:
                return kb
        return None

    def remove_kb(self, name: str) -> bool:
        kb = self.get_kb(name)
        if kb is None:
            return False
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM chunk_fts WHERE rowid IN (SELECT id FROM chunks WHERE kb_id = ?)",
                (kb.id,),
            )
            conn.execute("DELETE FROM chunks WHERE kb_id = ?", (kb.id,))
            conn.execute(f"DROP TABLE IF EXISTS {_vec_table(kb.id)}")
            conn.execute("DELETE FROM kb WHERE id = ?", (kb.id,))
        return True

    def set_embedder(self, kb_id: int, embedder: str, dim: int) -> None:
        """Point a knowledge base at another embedder: its vectors are dropped (the chunks
        stay) and must be rebuilt with `replace_vectors`."""
        with self.transaction() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {_vec_table(kb_id)}")
            self._create_vec_table(conn, kb_id, dim)
            conn.execute(
                "UPDATE kb SET embedder = ?, dim = ?, vectors_version = vectors_version + 1 "
                "WHERE id = ?", (embedder, dim, kb_id),
            )

    def chunks_needing_vectors(self, kb_id: int, embedder: str) -> list[tuple[int, str]]:
        with self._reading():
            rows = self.conn.execute(
                "SELECT id, text FROM chunks WHERE kb_id = ? AND embedder != ? ORDER BY id",
                (kb_id, embedder),
            ).fetchall()
        return [(int(r[0]), str(r[1])) for r in rows]

    def replace_vectors(
        self, kb_id: int, embedder: str, ids: Sequence[int], vectors: NDArray[np.float32]
    ) -> None:
        table = _vec_table(kb_id)
        with self.transaction() as conn:
            conn.executemany(f"DELETE FROM {table} WHERE rowid = ?", [(i,) for i in ids])
            conn.executemany(
                f"INSERT INTO {table}(rowid, embedding) VALUES (?, ?)",
                [(i, vector_blob(v)) for i, v in zip(ids, vectors, strict=True)],
            )
            conn.executemany(
                "UPDATE chunks SET embedder = ? WHERE id = ?", [(embedder, i) for i in ids]
            )
            _bump(conn, kb_id)

    # -------------------------------------------------------------- sources

    def add_source(self, kb_id: int, path: str, *, is_folder: bool, watch: bool = False) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO sources (kb_id, path, is_folder, watch, added_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (kb_id, path) DO UPDATE SET "
                "watch = MAX(watch, excluded.watch)",
                (kb_id, stored_path(path), int(is_folder), int(watch), time.time()),
            )

    def sources(self, kb_id: int) -> list[tuple[str, bool, bool]]:
        with self._reading():
            rows = self.conn.execute(
                "SELECT path, is_folder, watch FROM sources WHERE kb_id = ? ORDER BY path",
                (kb_id,),
            ).fetchall()
        return [(real_path(str(p)), bool(f), bool(w)) for p, f, w in rows]

    def remove_source(self, kb_id: int, path: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM sources WHERE kb_id = ? AND path = ?",
                         (kb_id, stored_path(path)))

    def set_watch(self, kb_id: int, path: str, watch: bool) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE sources SET watch = ? WHERE kb_id = ? AND path = ?",
                (int(watch), kb_id, stored_path(path)),
            )

    # ---------------------------------------------------------------- files

    _FILE_COLUMNS = (
        "id, kb_id, path, size, mtime, content_hash, status, error, chunks, indexed_at, kind"
    )

    def files(self, kb_id: int, *, under: str | None = None) -> list[FileRecord]:
        sql = f"SELECT {self._FILE_COLUMNS} FROM files WHERE kb_id = ?"
        args: list[Any] = [kb_id]
        if under is not None:
            prefix = stored_path(under).rstrip("/\\")
            sql += " AND (path = ? OR substr(path, 1, ?) = ?)"
            args += [prefix, len(prefix) + 1, prefix + _sep(prefix)]
        with self._reading():
            rows = self.conn.execute(sql + " ORDER BY path", args).fetchall()
        return [_file_record(r) for r in rows]

    def get_file(self, kb_id: int, path: str) -> FileRecord | None:
        with self._reading():
            row = self.conn.execute(
                f"SELECT {self._FILE_COLUMNS} FROM files WHERE kb_id = ? AND path = ?",
                (kb_id, stored_path(path)),
            ).fetchone()
        return _file_record(row) if row else None

    def mark_pending(self, kb_id: int, path: str, size: int, mtime: float) -> int:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO files (kb_id, path, size, mtime, status) VALUES (?, ?, ?, ?, "
                "'pending') ON CONFLICT (kb_id, path) DO UPDATE SET status = 'pending', "
                "size = excluded.size, mtime = excluded.mtime, error = NULL",
                (kb_id, stored_path(path), size, mtime),
            )
            row = conn.execute(
                "SELECT id FROM files WHERE kb_id = ? AND path = ?", (kb_id, stored_path(path))
            ).fetchone()
        return int(row[0])

    def touch_file(self, file_id: int, size: int, mtime: float) -> None:
        """An unchanged file (same content hash) seen with a new mtime."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE files SET size = ?, mtime = ? WHERE id = ?", (size, mtime, file_id)
            )

    def mark_failed(self, file_id: int, reason: str) -> None:
        with self.transaction() as conn:
            self._delete_chunks(conn, file_id)
            conn.execute(
                "UPDATE files SET status = 'failed', error = ?, chunks = 0, content_hash = NULL, "
                "indexed_at = ? WHERE id = ?",
                (reason, time.time(), file_id),
            )

    def store_file_chunks(
        self,
        kb: KnowledgeBase,
        file_id: int,
        *,
        content_hash: str,
        kind: str,
        encoding: str | None,
        embedder: str,
        chunks: Sequence[Chunk],
        terms: Sequence[str],
        vectors: NDArray[np.float32],
    ) -> None:
        """Replace a file's chunks in one transaction: a crash leaves either the old or the
        new index of the file, never half of each."""
        table = _vec_table(kb.id)
        with self.transaction() as conn:
            self._delete_chunks(conn, file_id, table)
            rows = []
            for ord_, chunk in enumerate(chunks):
                cur = conn.execute(
                    "INSERT INTO chunks (file_id, kb_id, ord, text, terms, start_char, end_char, "
                    "page, heading, token_count, embedder) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (file_id, kb.id, ord_, chunk.text, terms[ord_], chunk.start, chunk.end,
                     chunk.page, chunk.heading, chunk.token_count, embedder),
                )
                rows.append(int(cur.lastrowid))
            conn.executemany(
                "INSERT INTO chunk_fts(rowid, terms) VALUES (?, ?)",
                list(zip(rows, terms, strict=True)),
            )
            conn.executemany(
                f"INSERT INTO {table}(rowid, embedding) VALUES (?, ?)",
                [(cid, vector_blob(v)) for cid, v in zip(rows, vectors, strict=True)],
            )
            conn.execute(
                "UPDATE files SET status = 'indexed', error = NULL, content_hash = ?, chunks = ?, "
                "indexed_at = ?, kind = ?, encoding = ? WHERE id = ?",
                (content_hash, len(rows), time.time(), kind, encoding, file_id),
            )
            _bump(conn, kb.id)

    def remove_file(self, file_id: int) -> None:
        with self.transaction() as conn:
            self._delete_chunks(conn, file_id)
            conn.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def _delete_chunks(self, conn: Any, file_id: int, table: str | None = None) -> None:
        if table is None:
            row = conn.execute("SELECT kb_id FROM files WHERE id = ?", (file_id,)).fetchone()
            if row is None:
                return
            table = _vec_table(row[0])
        ids = [(r[0],) for r in conn.execute("SELECT id FROM chunks WHERE file_id = ?",
                                             (file_id,))]
        if ids:
            conn.executemany("DELETE FROM chunk_fts WHERE rowid = ?", ids)
            conn.executemany(f"DELETE FROM {table} WHERE rowid = ?", ids)
            conn.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
            conn.execute(
                "UPDATE kb SET vectors_version = vectors_version + 1 WHERE id = "
                "(SELECT kb_id FROM files WHERE id = ?)", (file_id,),
            )

    # --------------------------------------------------------------- search

    def search(
        self,
        kbs: Sequence[KnowledgeBase],
        query: str,
        query_vectors: dict[int, NDArray[np.float32]],
        *,
        k: int = 5,
        candidates: int | None = None,
    ) -> list[RetrievalHit]:
        """Hybrid search: vector KNN (per knowledge base, with its own embedder's query
        vector) and BM25 over jieba terms, fused by reciprocal rank fusion."""
        check_result_count(k)
        n = min(candidates or max(40, 4 * k), 4 * MAX_RESULTS)
        kb_ids = [kb.id for kb in kbs]
        names = {kb.id: kb.name for kb in kbs}
        vec: list[tuple[int, float]] = []  # (chunk id, cosine similarity)
        with self._reading():
            for kb in kbs:
                qv = query_vectors.get(kb.id)
                if qv is not None:
                    vec.extend(self._knn(kb, qv, n))
            vec.sort(key=lambda item: -item[1])
            vec = vec[:n]
            q_terms = self._selective_terms(segment.query_terms(query))
            kw: list[tuple[int, float]] = []
            if q_terms and kb_ids:
                marks = ",".join("?" * len(kb_ids))
                rows = self.conn.execute(
                    "SELECT f.rowid, bm25(chunk_fts) AS score FROM chunk_fts f "
                    f"JOIN chunks c ON c.id = f.rowid WHERE chunk_fts MATCH ? AND c.kb_id IN "
                    f"({marks}) ORDER BY score LIMIT ?",
                    (segment.fts_query(q_terms), *kb_ids, n),
                ).fetchall()
                kw = [(int(r[0]), -float(r[1])) for r in rows]
            fused: dict[int, RetrievalHit] = {}
            scores: dict[int, float] = {}
            for rank, (cid, score) in enumerate(vec, start=1):
                hit = fused.setdefault(cid, _blank_hit(cid))
                hit.vector_score, hit.vector_rank = score, rank
                scores[cid] = scores.get(cid, 0.0) + 1.0 / (RRF_K + rank)
            for rank, (cid, score) in enumerate(kw, start=1):
                hit = fused.setdefault(cid, _blank_hit(cid))
                hit.keyword_score, hit.keyword_rank = score, rank
                scores[cid] = scores.get(cid, 0.0) + 1.0 / (RRF_K + rank)
            top = sorted(scores, key=lambda cid: -scores[cid])[:k]
            if not top:
                return []
            marks = ",".join("?" * len(top))
            rows = self.conn.execute(
                "SELECT c.id, c.kb_id, f.path, c.text, c.page, c.heading, c.start_char, "
                "c.end_char, c.token_count, c.terms FROM chunks c JOIN files f ON f.id = c.file_id "
                f"WHERE c.id IN ({marks})",
                top,
            ).fetchall()
        details = {int(r[0]): r for r in rows}
        hits: list[RetrievalHit] = []
        wanted = set(q_terms)
        for rank, cid in enumerate(top, start=1):
            row = details.get(cid)
            if row is None:
                continue
            hit = fused[cid]
            hit.kb = names.get(int(row[1]), "")
            hit.path = unicode_path(str(row[2]))
            hit.text, hit.page, hit.heading = row[3], row[4], row[5]
            hit.start_char, hit.end_char, hit.token_count = row[6], row[7], row[8]
            chunk_terms = set(str(row[9]).split())
            hit.matched_terms = [t for t in q_terms if t in chunk_terms and t in wanted]
            hit.fused_score = scores[cid]
            hit.rank = rank
            hits.append(hit)
        return hits

    def _knn(self, kb: KnowledgeBase, query: Any, n: int) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the n nearest chunks."""
        row = self.conn.execute(
            "SELECT vectors_version, (SELECT COUNT(*) FROM chunks WHERE kb_id = kb.id) "
            "FROM kb WHERE id = ?", (kb.id,),
        ).fetchone()
        version, count = (int(row[0]), int(row[1])) if row else (0, 0)
        if count >= MEMORY_KNN_MIN_CHUNKS:
            import numpy as np

            cached = self._matrices.get(kb.id)
            if cached is None or cached[0] != version:
                rows = self.conn.execute(
                    f"SELECT rowid, embedding FROM {_vec_table(kb.id)}"
                ).fetchall()
                ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
                cached = (version, ids, matrix.reshape(len(rows), -1))
                self._matrices[kb.id] = cached
            _, ids, matrix = cached
            sims = matrix @ np.asarray(query, dtype=np.float32)
            take = min(n, len(sims))
            top = np.argpartition(-sims, take - 1)[:take] if take else np.zeros(0, np.int64)
            return [(int(ids[i]), float(sims[i])) for i in top]
        self._matrices.pop(kb.id, None)
        rows = self.conn.execute(
            f"SELECT rowid, distance FROM {_vec_table(kb.id)} WHERE embedding MATCH ? AND k = ?",
            (vector_blob(query), n),
        ).fetchall()
        return [(int(r[0]), 1.0 - float(r[1])) for r in rows]

    def _selective_terms(self, terms: tuple[str, ...]) -> tuple[str, ...]:
        """Drop query terms that occur in a large share of all chunks (near-stopwords)."""
        if not terms:
            return terms
        total = self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] or 1
        marks = ",".join("?" * len(terms))
        counts = dict(self.conn.execute(
            f"SELECT term, doc FROM chunk_fts_vocab WHERE term IN ({marks})", terms
        ).fetchall())
        keep = [t for t in terms if counts.get(t, 0) <= MAX_TERM_DOC_SHARE * total or total < 50]
        # The rarest terms say most about what is asked.
        keep.sort(key=lambda t: counts.get(t, 0))
        chosen = set(keep[:MAX_QUERY_TERMS])
        return tuple(t for t in terms if t in chosen)

    def stats(self) -> dict[str, Any]:
        with self._reading():
            files = self.conn.execute("SELECT status, COUNT(*) FROM files GROUP BY status")
            return {"files": dict(files.fetchall())}


def _file_record(row: Sequence[Any]) -> FileRecord:
    return FileRecord(row[0], row[1], real_path(str(row[2])), *row[3:])


def _bump(conn: Any, kb_id: int) -> None:
    conn.execute("UPDATE kb SET vectors_version = vectors_version + 1 WHERE id = ?", (kb_id,))


def _blank_hit(chunk_id: int) -> RetrievalHit:
    return RetrievalHit(chunk_id=chunk_id, kb="", path="", text="", page=None, heading=None,
                        start_char=0, end_char=0, token_count=0)


def _sep(path: str) -> str:
    return "\\" if "\\" in path and "/" not in path else "/"


def _rollback_quietly(conn: Any) -> None:
    """Roll back if a transaction is open; the error that got us here is what matters."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except Exception:
        pass


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT under the store's lock; ROLLBACK on error. Errors about the
    file or the disk (full, read-only, locked) leave as one-line DatabaseErrors, and a COMMIT
    that fails (a full disk often shows there) is rolled back so the store stays usable."""

    def __init__(self, store: KnowledgeStore) -> None:
        self.store = store

    def __enter__(self) -> Any:
        self.store._lock.acquire()
        try:
            self.store.conn.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            self.store._lock.release()
            translated = translate(exc, self.store.path)
            if translated is exc:
                raise
            raise translated from exc
        return self.store.conn

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        conn = self.store.conn
        try:
            if exc is None:
                try:
                    conn.execute("COMMIT")
                except BaseException as commit_exc:
                    _rollback_quietly(conn)
                    translated = self.store._diagnose(commit_exc)
                    if translated is commit_exc:
                        raise
                    raise translated from commit_exc
                return
            _rollback_quietly(conn)
            translated = self.store._diagnose(exc)
            if translated is not exc:
                raise translated from exc
        finally:
            self.store._lock.release()


def dumps(data: Iterable[RetrievalHit]) -> str:
    return json.dumps([h.to_dict() for h in data], ensure_ascii=False)
