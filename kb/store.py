"""The knowledge base on disk: knowledge bases, files, chunks, FTS5 terms and sqlite-vec
vectors in one SQLite file, and hybrid search over them.

One KnowledgeStore is one connection: use one per thread (WAL lets them work together).
This module holds the connection, the schema and the knowledge bases themselves; sources
and files are in kb.files, search in kb.search, the values handed out in kb.records and the
write transaction in kb.transaction (all importable from here as before)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from kb.db import DatabaseError, connect, error_kind, file_error, translate
from kb.files import FileBookkeeping
from kb.records import (
    MAX_NAME_CHARS,
    MAX_RESULTS,
    FileRecord,
    KnowledgeBase,
    RetrievalHit,
    bump,
    check_kb_name,
    check_result_count,
    dumps,
    vec_table,
    vector_blob,
)
from kb.search import (
    MAX_QUERY_TERMS,
    MAX_TERM_DOC_SHARE,
    MEMORY_KNN_MIN_CHUNKS,
    RRF_K,
    HybridSearch,
)
from kb.transaction import Transaction, rollback_quietly

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "APPLICATION_ID",
    "CONVERSATIONS_APPLICATION_ID",
    "FILE_STATUSES",
    "FULL_DISK_BYTES",
    "MAX_NAME_CHARS",
    "MAX_QUERY_TERMS",
    "MAX_RESULTS",
    "MAX_TERM_DOC_SHARE",
    "MEMORY_KNN_MIN_CHUNKS",
    "MIGRATIONS",
    "RRF_K",
    "FileRecord",
    "KnowledgeBase",
    "KnowledgeStore",
    "RetrievalHit",
    "check_kb_name",
    "check_result_count",
    "dumps",
    "vector_blob",
]

FILE_STATUSES = ("pending", "indexed", "failed")

# "MJKB" in the file header (PRAGMA application_id) of every knowledge.db, so that a file
# that is not ours is recognised and left alone. Files made before the stamp existed (0,
# with our tables) are adopted and stamped on open.
APPLICATION_ID: Final = 0x4D4A4B42
# app/conversations.py stamps "MJNG": named in the message when the two files are swapped.
CONVERSATIONS_APPLICATION_ID: Final = 0x4D4A4E47
_OUR_TABLES: Final = frozenset({"kb", "sources", "files", "chunks"})

# An unrecognised SQLite error on a write, with less room left than this (on the disk, or
# under SQLite's page limit), is taken for a full disk: sqlite-vec allocates its vectors in
# blocks of 1,024 (2 MiB at 512 dimensions, 8 MiB at 2,048) and reports SQLITE_FULL there
# as a generic error.
FULL_DISK_BYTES: Final = 8 * 1024 * 1024

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
    # 3: each file's title (its own, or its name made readable), which is embedded and
    # keyword-indexed with every chunk of it: a chunk often never names what it is about
    """
    ALTER TABLE files ADD COLUMN title TEXT;
    """,
]


class KnowledgeStore(FileBookkeeping, HybridSearch):
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
                    rollback_quietly(self.conn)
                    if start >= current and error_kind(exc) == "read_only":
                        return  # only the stamp could not be written: read it as it is
                    raise

    def transaction(self) -> Transaction:
        return Transaction(self)

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
            f"CREATE VIRTUAL TABLE {vec_table(kb_id)} USING vec0("
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
            conn.execute(f"DROP TABLE IF EXISTS {vec_table(kb.id)}")
            conn.execute("DELETE FROM kb WHERE id = ?", (kb.id,))
        return True

    def set_embedder(self, kb_id: int, embedder: str, dim: int) -> None:
        """Point a knowledge base at another embedder: its vectors are dropped (the chunks
        stay) and must be rebuilt with `replace_vectors`."""
        with self.transaction() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {vec_table(kb_id)}")
            self._create_vec_table(conn, kb_id, dim)
            conn.execute(
                "UPDATE kb SET embedder = ?, dim = ?, vectors_version = vectors_version + 1 "
                "WHERE id = ?", (embedder, dim, kb_id),
            )

    def chunks_needing_vectors(
        self, kb_id: int, embedder: str
    ) -> list[tuple[int, str, str | None, str | None]]:
        """(chunk id, text, heading, file title) of the chunks another embedder made."""
        with self._reading():
            rows = self.conn.execute(
                "SELECT c.id, c.text, c.heading, f.title FROM chunks c JOIN files f "
                "ON f.id = c.file_id WHERE c.kb_id = ? AND c.embedder != ? ORDER BY c.id",
                (kb_id, embedder),
            ).fetchall()
        return [(int(r[0]), str(r[1]), r[2], r[3]) for r in rows]

    def replace_vectors(
        self, kb_id: int, embedder: str, ids: Sequence[int], vectors: NDArray[np.float32]
    ) -> None:
        table = vec_table(kb_id)
        with self.transaction() as conn:
            conn.executemany(f"DELETE FROM {table} WHERE rowid = ?", [(i,) for i in ids])
            conn.executemany(
                f"INSERT INTO {table}(rowid, embedding) VALUES (?, ?)",
                [(i, vector_blob(v)) for i, v in zip(ids, vectors, strict=True)],
            )
            conn.executemany(
                "UPDATE chunks SET embedder = ? WHERE id = ?", [(embedder, i) for i in ids]
            )
            bump(conn, kb_id)

    def stats(self) -> dict[str, Any]:
        with self._reading():
            files = self.conn.execute("SELECT status, COUNT(*) FROM files GROUP BY status")
            return {"files": dict(files.fetchall())}

