"""The knowledge base store's bookkeeping of sources and files: which files and folders a
knowledge base was built from, each file's state, and the replacement of a file's chunks
(text, FTS5 terms and vectors) in one transaction."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from kb.filenames import real_path, stored_path
from kb.records import FileRecord, KnowledgeBase, bump, file_record, vec_table, vector_blob

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from kb.chunking import Chunk
    from kb.transaction import Transaction


class FileBookkeeping:
    """Sources and files of KnowledgeStore (a mixin: the store provides the connection)."""

    if TYPE_CHECKING:
        conn: Any

        def transaction(self) -> Transaction: ...

        def _reading(self) -> AbstractContextManager[Any]: ...

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
        return [file_record(r) for r in rows]

    def get_file(self, kb_id: int, path: str) -> FileRecord | None:
        with self._reading():
            row = self.conn.execute(
                f"SELECT {self._FILE_COLUMNS} FROM files WHERE kb_id = ? AND path = ?",
                (kb_id, stored_path(path)),
            ).fetchone()
        return file_record(row) if row else None

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
        title: str | None = None,
    ) -> None:
        """Replace a file's chunks in one transaction: a crash leaves either the old or the
        new index of the file, never half of each."""
        table = vec_table(kb.id)
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
                "indexed_at = ?, kind = ?, encoding = ?, title = ? WHERE id = ?",
                (content_hash, len(rows), time.time(), kind, encoding, title, file_id),
            )
            bump(conn, kb.id)

    def remove_file(self, file_id: int) -> None:
        with self.transaction() as conn:
            self._delete_chunks(conn, file_id)
            conn.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def _delete_chunks(self, conn: Any, file_id: int, table: str | None = None) -> None:
        if table is None:
            row = conn.execute("SELECT kb_id FROM files WHERE id = ?", (file_id,)).fetchone()
            if row is None:
                return
            table = vec_table(row[0])
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


def _sep(path: str) -> str:
    return "\\" if "\\" in path and "/" not in path else "/"

