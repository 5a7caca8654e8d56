"""Conversation store building blocks: errors, records, row converters and checks.

Everything here is shared by :mod:`app.conversations` (which re-exports the public
names) and :mod:`app.conversation_messages`.  Stdlib only, no Qt.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "MESSAGE_STATUSES",
    "ROLES",
    "UNSET",
    "Conversation",
    "StoreError",
    "StoredMessage",
]

ROLES: Final = ("system", "user", "assistant")
MESSAGE_STATUSES: Final = ("complete", "streaming", "interrupted", "error", "cancelled")


# --------------------------------------------------------------------------- errors


class StoreError(Exception):
    """A problem with the database file the user can act on (one-line message).

    ``kind`` is one of ``'corrupt'``, ``'not_ours'``, ``'newer_version'``,
    ``'locked'``, ``'disk_full'``, ``'read_only'``, ``'cant_open'``, ``'io'``.
    """

    def __init__(self, message: str, *, path: Path, kind: str) -> None:
        super().__init__(message)
        self.path = path
        self.kind = kind


def _store_error(kind: str, path: Path, detail: str = "") -> StoreError:
    where = str(path)
    messages = {
        "corrupt": f"Conversation database {where} is corrupt or not a SQLite database; "
        "it was left untouched (move it aside to start a fresh history)",
        "not_ours": f"{where} is not a Mingjing conversation database (a SQLite database "
        "of another program); it was left untouched",
        "newer_version": f"Conversation database {where} was written by a newer version "
        "of Mingjing; it was left untouched",
        "locked": f"Conversation database {where} is locked by another program or "
        "window (timed out waiting for it)",
        "disk_full": f"Cannot write conversation database {where}: the disk is full",
        "read_only": f"Cannot write conversation database {where}: the file or its "
        "folder is read-only",
        "cant_open": f"Cannot open conversation database {where}",
        "io": f"Disk I/O error on conversation database {where}",
    }
    message = messages.get(kind, f"Conversation database {where}: error")
    if detail and kind in ("cant_open", "io"):
        message += f" ({detail})"
    return StoreError(" ".join(message.split()), path=path, kind=kind)


# ---------------------------------------------------------------------- dataclasses


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    title: str
    created_at: float
    updated_at: float
    system_prompt: str | None
    model_path: str | None
    mode: str
    message_count: int = 0
    settings: dict[str, Any] | None = None
    deleted_at: float | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    conversation_id: int
    position: int
    role: str
    content: str
    status: str
    created_at: float
    updated_at: float
    stats: dict[str, Any] | None
    error: str | None


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET: Final = _Unset.UNSET
"""Sentinel for "leave this field as it is" in :meth:`ConversationStore.update_message`."""


# -------------------------------------------------------------------------- helpers

_clock_lock = threading.Lock()
_clock_last = 0.0


def _now() -> float:
    """Wall-clock seconds, strictly increasing within this process (stable ordering)."""
    global _clock_last
    with _clock_lock:
        now = time.time()
        if now <= _clock_last:
            now = _clock_last + 1e-6
        _clock_last = now
        return now


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    """Roll back if a transaction is open; the original error is what matters."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def _casefold(value: str | None) -> str | None:
    # SQLite's own LIKE folds ASCII only; this makes search case-insensitive for all
    # scripts.  Non-text cells (not written by this module) pass through unchanged.
    return value.casefold() if isinstance(value, str) else value


def _like_escape(text: str) -> str:
    """Escape LIKE wildcards so user text matches literally (used with ESCAPE '\\')."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _dump_json(value: dict[str, Any] | None) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _load_json(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None  # hand-edited or damaged cell: don't take the conversation down
    return value if isinstance(value, dict) else None


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")


def _check_status(status: str) -> None:
    if status not in MESSAGE_STATUSES:
        raise ValueError(f"status must be one of {MESSAGE_STATUSES}, not {status!r}")


def _check_mode(mode: str) -> None:
    if not isinstance(mode, str) or not mode:
        raise ValueError(f"mode must be a non-empty string, not {mode!r}")


_CONVERSATION_COLUMNS: Final = (
    "c.id, c.title, c.created_at, c.updated_at, c.system_prompt, c.model_path, c.mode, "
    "(SELECT COUNT(*) FROM messages AS m WHERE m.conversation_id = c.id), "
    "c.settings_json, c.deleted_at"
)
_MESSAGE_COLUMNS: Final = (
    "id, conversation_id, position, role, content, status, created_at, updated_at, "
    "stats_json, error"
)


def _conversation_from_row(row: Sequence[Any]) -> Conversation:
    return Conversation(
        id=row[0],
        title=row[1] or "",
        created_at=row[2],
        updated_at=row[3],
        system_prompt=row[4],
        model_path=row[5],
        mode=row[6],
        message_count=row[7],
        settings=_load_json(row[8]),
        deleted_at=row[9],
    )


def _message_from_row(row: Sequence[Any]) -> StoredMessage:
    return StoredMessage(
        id=row[0],
        conversation_id=row[1],
        position=row[2],
        role=row[3],
        content=row[4] or "",
        status=row[5],
        created_at=row[6],
        updated_at=row[7],
        stats=_load_json(row[8]),
        error=row[9],
    )

