"""The message half of :class:`app.conversations.ConversationStore`.

:class:`MessagesMixin` appends, checkpoints, reads and truncates the messages of a
conversation and recovers replies a crash cut off.  It holds no state of its own: the
store it is mixed into supplies the connection (``_guard`` / ``_write``) and
``_require_conversation``.  Stdlib only, no Qt.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Literal

from app.conversation_types import (
    _MESSAGE_COLUMNS,
    UNSET,
    StoredMessage,
    _check_role,
    _check_status,
    _dump_json,
    _message_from_row,
    _now,
    _Unset,
)

__all__ = ["MessagesMixin"]


class MessagesMixin:
    """Message operations of the conversation store (see :mod:`app.conversations`)."""

    if TYPE_CHECKING:  # provided by ConversationStore

        def _guard(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _write(self) -> AbstractContextManager[sqlite3.Connection]: ...

        @staticmethod
        def _require_conversation(conn: sqlite3.Connection, conversation_id: int) -> None: ...

    @staticmethod
    def _touch(conn: sqlite3.Connection, conversation_id: int, now: float) -> None:
        conn.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))

    @staticmethod
    def _fetch_message(conn: sqlite3.Connection, message_id: int) -> StoredMessage:
        row = conn.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no message with id {message_id}")
        return _message_from_row(row)

    def add_message(
        self,
        conversation_id: int,
        role: str,
        content: str,
        status: str = "complete",
        stats: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> StoredMessage:
        """Append a message at the next position (0 for the first)."""
        _check_role(role)
        _check_status(status)
        now = _now()
        with self._write() as conn:
            self._require_conversation(conn, conversation_id)
            (position,) = conn.execute(
                "SELECT COALESCE(MAX(position), -1) + 1 FROM messages WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
            cursor = conn.execute(
                "INSERT INTO messages (conversation_id, position, role, content, status, "
                "created_at, updated_at, stats_json, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    position,
                    role,
                    content,
                    status,
                    now,
                    now,
                    _dump_json(stats),
                    error,
                ),
            )
            self._touch(conn, conversation_id, now)
            assert cursor.lastrowid is not None
            return self._fetch_message(conn, cursor.lastrowid)

    def update_message(
        self,
        message_id: int,
        *,
        content: str | Literal[_Unset.UNSET] = UNSET,
        status: str | Literal[_Unset.UNSET] = UNSET,
        stats: dict[str, Any] | Literal[_Unset.UNSET] | None = UNSET,
        error: str | Literal[_Unset.UNSET] | None = UNSET,
    ) -> StoredMessage:
        """Change only the given fields (None clears ``stats``/``error``), in one commit.

        Used to checkpoint a streaming reply (every second or so) and to finalise it.
        """
        columns: list[str] = []
        values: list[Any] = []
        if content is not UNSET:
            columns.append("content = ?")
            values.append(content)
        if status is not UNSET:
            _check_status(status)
            columns.append("status = ?")
            values.append(status)
        if stats is not UNSET:
            columns.append("stats_json = ?")
            values.append(_dump_json(stats))
        if error is not UNSET:
            columns.append("error = ?")
            values.append(error)
        now = _now()
        columns.append("updated_at = ?")
        values.append(now)
        with self._write() as conn:
            row = conn.execute(
                "SELECT conversation_id FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                raise KeyError(f"no message with id {message_id}")
            conn.execute(
                f"UPDATE messages SET {', '.join(columns)} WHERE id = ?", (*values, message_id)
            )
            self._touch(conn, row[0], now)
            return self._fetch_message(conn, message_id)

    def get_message(self, message_id: int) -> StoredMessage | None:
        with self._guard() as conn:
            try:
                return self._fetch_message(conn, message_id)
            except KeyError:
                return None

    def messages(self, conversation_id: int) -> list[StoredMessage]:
        """All messages of a conversation ordered by position ([] if unknown)."""
        with self._guard() as conn:
            rows = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? "
                "ORDER BY position",
                (conversation_id,),
            ).fetchall()
        return [_message_from_row(row) for row in rows]

    def delete_messages_from(self, conversation_id: int, position: int) -> int:
        """Remove the message at ``position`` and every later one (regenerate /
        edit-and-resend).  The next :meth:`add_message` gets ``position``.  Returns how
        many messages were removed."""
        now = _now()
        with self._write() as conn:
            self._require_conversation(conn, conversation_id)
            cursor = conn.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND position >= ?",
                (conversation_id, position),
            )
            self._touch(conn, conversation_id, now)
            return cursor.rowcount

    def recover_interrupted(self) -> int:
        """Mark every message left ``'streaming'`` (by a crash or kill) as
        ``'interrupted'``, keeping its partial content; returns how many.

        Call once at startup, before any generation starts: it cannot tell a live
        stream in another thread from a dead one.  The conversations' ``updated_at``
        is set to the time of the last checkpoint (it is not bumped to "now", so a
        recovery does not reshuffle the list).
        """
        with self._write() as conn:
            rows = conn.execute(
                "SELECT DISTINCT conversation_id FROM messages WHERE status = 'streaming'"
            ).fetchall()
            cursor = conn.execute(
                "UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'"
            )
            for (conversation_id,) in rows:
                conn.execute(
                    "UPDATE conversations SET updated_at = MAX(updated_at, "
                    "(SELECT MAX(updated_at) FROM messages WHERE conversation_id = ?)) "
                    "WHERE id = ?",
                    (conversation_id, conversation_id),
                )
            return cursor.rowcount
