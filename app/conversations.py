"""Conversation store: conversations and their messages in SQLite (stdlib only, no Qt).

One SQLite file under the user data directory holds every conversation.  The store
is built to survive a restart and a hard kill during generation:

* WAL journal + ``synchronous=NORMAL``: every committed write survives the process
  being killed (only an OS crash / power loss can lose the last few commits).
* A streaming reply is stored as an assistant message with status ``'streaming'``
  and checkpointed with :meth:`ConversationStore.update_message`, each call its own
  commit.  After a crash, :meth:`ConversationStore.recover_interrupted` (called once
  at startup) turns every leftover ``'streaming'`` message into ``'interrupted'``,
  keeping its partial content.

Threading: a :class:`ConversationStore` owns one sqlite3 connection.  The intended
use is one store per thread, all opened on the same file (WAL lets readers and one
writer work concurrently; writers wait up to ``busy_timeout``).  A single store is
nevertheless guarded by a lock, so sharing one between threads is safe too, just
serialised.

Errors from the user's world (disk full, database locked past the timeout, corrupt
or foreign file, read-only file, I/O errors) are raised as :class:`StoreError` with a
one-line message that names the file.  A corrupt file is never rewritten, truncated
or deleted.  Programming errors stay what they are: ``ValueError`` for bad
arguments, ``KeyError`` for an unknown conversation or message id, ``TypeError``
for unknown field names.

The module is split along its seams: :mod:`app.conversation_schema` (migrations),
:mod:`app.conversation_types` (errors, records, row helpers) and
:mod:`app.conversation_messages` (the message operations, mixed into the store).
Their public names are re-exported here.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from app.conversation_messages import MessagesMixin
from app.conversation_schema import (
    _OUR_TABLES,
    APPLICATION_ID,
    KNOWLEDGE_APPLICATION_ID,
    MIGRATIONS,
    _split_sql,
)
from app.conversation_schema import Migration as Migration  # re-exported
from app.conversation_types import (
    _CONVERSATION_COLUMNS,
    MESSAGE_STATUSES,
    ROLES,
    UNSET,
    Conversation,
    StoredMessage,
    StoreError,
    _casefold,
    _check_mode,
    _conversation_from_row,
    _dump_json,
    _like_escape,
    _now,
    _rollback_quietly,
    _store_error,
)
from kb.db import error_kind

__all__ = [
    "MESSAGE_STATUSES",
    "MIGRATIONS",
    "ROLES",
    "UNSET",
    "Conversation",
    "ConversationStore",
    "StoreError",
    "StoredMessage",
    "suggest_title",
]

DEFAULT_BUSY_TIMEOUT_MS: Final = 5000
TITLE_MAX_CHARS: Final = 40


# ---------------------------------------------------------------------------- store


class ConversationStore(MessagesMixin):
    """Conversations and messages in one SQLite file; one instance per thread.

    >>> with ConversationStore(path) as store:          # doctest: +SKIP
    ...     conv = store.create_conversation("Hello")
    ...     store.add_message(conv.id, "user", "Hi!")
    """

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _store_error("cant_open", self.path, exc.strerror or str(exc)) from exc
        try:
            conn = sqlite3.connect(
                str(self.path),
                timeout=busy_timeout_ms / 1000,
                isolation_level=None,  # autocommit; transactions are explicit below
                check_same_thread=False,  # guarded by self._lock instead
            )
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        self._conn = conn
        try:
            with self._guard():
                conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                # Read-only checks first: a garbage file fails here (SQLITE_NOTADB) and a
                # foreign database is refused before anything (even the WAL switch, which
                # rewrites the header) is written.
                self._check_ownership(conn)
                self._configure(conn, busy_timeout_ms / 1000)
                self._migrate(conn)
        except BaseException:
            self._conn = None
            conn.close()
            raise

    # ------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; callers should close()
        conn = getattr(self, "_conn", None)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    @property
    def journal_mode(self) -> str:
        """The journal mode in effect (``'wal'`` unless the filesystem refused it)."""
        with self._guard() as conn:
            return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()

    @property
    def schema_version(self) -> int:
        with self._guard() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    # ---------------------------------------------------------- internals

    def _translate(self, exc: sqlite3.Error) -> Exception:
        kind = error_kind(exc)
        if kind is None:
            return exc
        return _store_error(kind, self.path, str(exc))

    @contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and turn user-world sqlite errors into StoreError."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise sqlite3.ProgrammingError(f"ConversationStore({self.path}) is closed")
            try:
                yield conn
            except sqlite3.Error as exc:
                translated = self._translate(exc)
                if translated is exc:
                    raise
                raise translated from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. BEGIN IMMEDIATE takes the write lock up front, so
        concurrent writers wait (busy_timeout) instead of failing on lock upgrade."""
        with self._guard() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")  # in WAL mode a full disk often shows up here
            except BaseException:
                _rollback_quietly(conn)
                raise

    def _configure(self, conn: sqlite3.Connection, timeout_s: float) -> None:
        from kb.db import enable_wal

        enable_wal(conn, timeout_s)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.create_function("mj_casefold", 1, _casefold, deterministic=True)

    def _check_ownership(self, conn: sqlite3.Connection) -> int:
        """Refuse foreign or newer files; returns ``user_version``.

        Ours: stamped with APPLICATION_ID, or unstamped (0) with a schema version and our
        tables; a new, empty file is fine too. Anything else is another program's database,
        whatever its user_version says (not "written by a newer version").

        One statement, so one consistent snapshot even while another connection is
        creating the schema.
        """
        version, app_id, names = conn.execute(
            "SELECT (SELECT user_version FROM pragma_user_version),"
            " (SELECT application_id FROM pragma_application_id),"
            " (SELECT group_concat(name, char(31)) FROM sqlite_master"
            "  WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\')"
        ).fetchone()
        tables = set(str(names).split("\x1f")) if names else set()
        adopted = app_id == 0 and version >= 1 and _OUR_TABLES.issubset(tables)
        empty = app_id == 0 and version == 0 and not tables
        if app_id != APPLICATION_ID and not adopted and not empty:
            if app_id == KNOWLEDGE_APPLICATION_ID:
                raise StoreError(
                    f"{self.path} is not a Mingjing conversation database (it is a Mingjing "
                    "knowledge base); it was left untouched", path=self.path, kind="not_ours",
                )
            raise _store_error("not_ours", self.path)
        if version > len(MIGRATIONS):
            raise _store_error("newer_version", self.path)
        return int(version)

    def _stamp(self, conn: sqlite3.Connection) -> None:
        """Write APPLICATION_ID into a file of ours made before the stamp existed. A file
        that cannot be written (read-only) is used as it is."""
        if int(conn.execute("PRAGMA application_id").fetchone()[0]) == APPLICATION_ID:
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._check_ownership(conn)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute("COMMIT")
            except BaseException:
                _rollback_quietly(conn)
                raise
        except sqlite3.Error as exc:
            if error_kind(exc) != "read_only":
                raise

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = self._check_ownership(conn)
        while version < len(MIGRATIONS):
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Another thread/process may have migrated while we waited for the lock.
                version = self._check_ownership(conn)
                if version < len(MIGRATIONS):
                    step = MIGRATIONS[version]
                    if isinstance(step, str):
                        for statement in _split_sql(step):
                            conn.execute(statement)
                    else:
                        step(conn)
                    version += 1
                    conn.execute(f"PRAGMA user_version = {version}")
                conn.execute("COMMIT")
            except BaseException:
                _rollback_quietly(conn)
                raise
        self._stamp(conn)

    @staticmethod
    def _require_conversation(conn: sqlite3.Connection, conversation_id: int) -> None:
        row = conn.execute(
            "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no conversation with id {conversation_id}")

    @staticmethod
    def _fetch_conversation(conn: sqlite3.Connection, conversation_id: int) -> Conversation:
        row = conn.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations AS c WHERE c.id = ?",
            (conversation_id,),
        ).fetchone()
        if row is None:
            raise KeyError(f"no conversation with id {conversation_id}")
        return _conversation_from_row(row)


    # ------------------------------------------------------- conversations

    def create_conversation(
        self,
        title: str = "",
        system_prompt: str | None = None,
        model_path: str | None = None,
        mode: str = "chat",
        settings: dict[str, Any] | None = None,
    ) -> Conversation:
        _check_mode(mode)
        now = _now()
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at, system_prompt, "
                "model_path, mode, settings_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (title, now, now, system_prompt, model_path, mode, _dump_json(settings)),
            )
            assert cursor.lastrowid is not None
            return self._fetch_conversation(conn, cursor.lastrowid)

    def get_conversation(
        self, conversation_id: int, *, include_deleted: bool = False
    ) -> Conversation | None:
        """The conversation, or None if it does not exist (or is soft-deleted)."""
        with self._guard() as conn:
            try:
                conversation = self._fetch_conversation(conn, conversation_id)
            except KeyError:
                return None
        if conversation.deleted_at is not None and not include_deleted:
            return None
        return conversation

    def list_conversations(self, search: str = "") -> list[Conversation]:
        """Live conversations, most recently updated first.

        ``search`` is a literal, case-insensitive (Unicode casefold) substring matched
        against the title and the content of every message; ``%``, ``_`` and ``\\`` in it
        have no special meaning.
        """
        sql = f"SELECT {_CONVERSATION_COLUMNS} FROM conversations AS c WHERE c.deleted_at IS NULL"
        params: dict[str, str] = {}
        needle = search.strip()
        if needle:
            params["pattern"] = f"%{_like_escape(needle.casefold())}%"
            sql += (
                " AND (mj_casefold(c.title) LIKE :pattern ESCAPE '\\'"
                " OR EXISTS (SELECT 1 FROM messages AS m WHERE m.conversation_id = c.id"
                " AND mj_casefold(m.content) LIKE :pattern ESCAPE '\\'))"
            )
        sql += " ORDER BY c.updated_at DESC, c.id DESC"
        with self._guard() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [_conversation_from_row(row) for row in rows]

    def rename_conversation(self, conversation_id: int, title: str) -> Conversation:
        now = _now()
        with self._write() as conn:
            self._require_conversation(conn, conversation_id)
            conn.execute(
                "UPDATE conversations SET title = ?, updated_at = ? WHERE id = ?",
                (title, now, conversation_id),
            )
            return self._fetch_conversation(conn, conversation_id)

    def set_conversation_fields(self, conversation_id: int, **fields: Any) -> Conversation:
        """Set any of ``system_prompt``, ``model_path``, ``mode``, ``settings`` (a dict
        stored as JSON, or None), ``title``.  Unknown names raise TypeError."""
        allowed = {"system_prompt", "model_path", "mode", "settings", "title"}
        unknown = set(fields) - allowed
        if unknown:
            raise TypeError(f"unknown conversation field(s): {', '.join(sorted(unknown))}")
        if "mode" in fields:
            _check_mode(fields["mode"])
        columns: list[str] = []
        values: list[Any] = []
        for name, value in fields.items():
            if name == "settings":
                columns.append("settings_json = ?")
                values.append(_dump_json(value))
            else:
                columns.append(f"{name} = ?")
                values.append(value)
        now = _now()
        with self._write() as conn:
            self._require_conversation(conn, conversation_id)
            columns.append("updated_at = ?")
            values.append(now)
            conn.execute(
                f"UPDATE conversations SET {', '.join(columns)} WHERE id = ?",
                (*values, conversation_id),
            )
            return self._fetch_conversation(conn, conversation_id)

    def delete_conversation(self, conversation_id: int) -> None:
        """Soft delete: hidden from lists and search until restored or purged.

        ``updated_at`` is deliberately left alone so an undo puts the conversation back
        exactly where it was in the list.  Deleting twice keeps the first timestamp.
        """
        now = _now()
        with self._write() as conn:
            self._require_conversation(conn, conversation_id)
            conn.execute(
                "UPDATE conversations SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                (now, conversation_id),
            )

    def restore_conversation(self, conversation_id: int) -> Conversation:
        """Undo :meth:`delete_conversation` (KeyError once purged)."""
        with self._write() as conn:
            self._require_conversation(conn, conversation_id)
            conn.execute(
                "UPDATE conversations SET deleted_at = NULL WHERE id = ?", (conversation_id,)
            )
            return self._fetch_conversation(conn, conversation_id)

    def purge_deleted(self, older_than: float | None = None) -> int:
        """Permanently remove soft-deleted conversations (and, by cascade, their
        messages); only those deleted before ``older_than`` (epoch seconds) if given.
        Returns how many conversations were removed."""
        with self._write() as conn:
            if older_than is None:
                cursor = conn.execute("DELETE FROM conversations WHERE deleted_at IS NOT NULL")
            else:
                cursor = conn.execute(
                    "DELETE FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at < ?",
                    (older_than,),
                )
            return cursor.rowcount


# ----------------------------------------------------------------------- auto-title


def suggest_title(first_user_message: str, max_chars: int = TITLE_MAX_CHARS) -> str:
    """A short title from the first user message.

    Takes the first line that has text (skipping Markdown code fences and heading /
    quote markers), collapses whitespace (including the ideographic space), and cuts it
    to ``max_chars`` characters with a trailing ``…``.  Latin text is cut at a word
    boundary when one is close; Chinese and other text without spaces is cut at the
    character.  Returns ``""`` when there is no text.
    """
    line = ""
    for raw in first_user_message.splitlines():
        candidate = raw.strip()
        if candidate.startswith(("```", "~~~")):
            continue
        candidate = candidate.lstrip("#> \t\u3000").strip()
        if candidate:
            line = candidate
            break
    text = " ".join(line.split())
    if len(text) <= max_chars:
        return text
    budget = max(1, max_chars - 1)  # room for the ellipsis
    cut = text[:budget]
    space = cut.rfind(" ")
    # Prefer a word boundary for spaced scripts, unless the cut already falls on one.
    if text[budget] != " " and space >= budget * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,.;:、，。；：") + "…"
