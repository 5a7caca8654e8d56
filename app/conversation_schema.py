"""Conversation database schema: the file stamp, the migrations and the SQL splitter.

``MIGRATIONS`` is re-exported by :mod:`app.conversations`, whose store reads it from
there (so tests can patch ``app.conversations.MIGRATIONS``).  Stdlib only, no Qt.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Final

__all__ = [
    "APPLICATION_ID",
    "KNOWLEDGE_APPLICATION_ID",
    "MIGRATIONS",
    "Migration",
]

# "MJNG": stamped into the file header by migration 1 so that a foreign SQLite
# file at our path is recognised and left alone instead of being migrated. A file of ours
# without the stamp (application_id 0, our tables present) is adopted and stamped.
APPLICATION_ID: Final = 0x4D4A4E47
# kb/store.py stamps knowledge.db with "MJKB": named in the message if the files are swapped.
KNOWLEDGE_APPLICATION_ID: Final = 0x4D4A4B42
_OUR_TABLES: Final = frozenset({"conversations", "messages"})


# ----------------------------------------------------------------------- migrations

Migration = str | Callable[[sqlite3.Connection], None]

_MIGRATION_1: Final = f"""
CREATE TABLE conversations (
    id            INTEGER PRIMARY KEY,
    title         TEXT    NOT NULL DEFAULT '',
    created_at    REAL    NOT NULL,
    updated_at    REAL    NOT NULL,
    system_prompt TEXT    NULL,
    model_path    TEXT    NULL,
    mode          TEXT    NOT NULL DEFAULT 'chat',
    settings_json TEXT    NULL,
    deleted_at    REAL    NULL
);
CREATE INDEX conversations_by_updated ON conversations (updated_at);
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    content         TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL DEFAULT 'complete'
                    CHECK (status IN ('complete', 'streaming', 'interrupted', 'error',
                                      'cancelled')),
    created_at      REAL    NOT NULL,
    updated_at      REAL    NOT NULL,
    stats_json      TEXT    NULL,
    error           TEXT    NULL
);
CREATE UNIQUE INDEX messages_by_position ON messages (conversation_id, position);
CREATE INDEX messages_by_status ON messages (status);
PRAGMA application_id = {APPLICATION_ID};
"""

MIGRATIONS: list[Migration] = [
    _MIGRATION_1,
]
"""Schema migrations; ``MIGRATIONS[n]`` brings ``PRAGMA user_version`` from n to n + 1.

Append only, never edit a released entry.  Each runs in its own transaction together
with the ``user_version`` bump.  A step is either SQL (one or more statements) or a
function taking the connection (it must not commit).  ``foreign_keys`` is ON and cannot
be switched inside a transaction, so a table rebuild must not drop a referenced table.
"""


def _split_sql(script: str) -> list[str]:
    """Split a script into complete statements (``executescript`` would COMMIT)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip():
                statements.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:60]!r}")
    return statements
