"""Tests for app.conversations: real SQLite files in tmp_path, real threads, real kill -9.

This file covers opening the store: WAL and pragmas, schema migrations, refused or corrupt
files and SQLite failures as StoreError. Conversations and messages are in
test_conversations_crud.py, restarts, threads and kill -9 in test_conversations_durability.py.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import conversations as conv_mod
from app.conversations import MIGRATIONS, ConversationStore, StoreError


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "conversations.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[ConversationStore]:
    with ConversationStore(db_path) as s:
        yield s


# ------------------------------------------------------------------ open / pragmas


def test_creates_file_and_parent_dir_with_wal(db_path: Path, store: ConversationStore) -> None:
    assert db_path.exists()
    assert store.journal_mode == "wal"
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_connection_pragmas(store: ConversationStore) -> None:
    conn = store._conn
    assert conn is not None
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_user_version_set_and_migrations_idempotent(db_path: Path) -> None:
    with ConversationStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS) >= 1
        c = s.create_conversation("keep me")
        s.add_message(c.id, "user", "hello")
    for _ in range(3):
        with ConversationStore(db_path) as s:
            assert s.schema_version == len(MIGRATIONS)
            assert [x.title for x in s.list_conversations()] == ["keep me"]
            assert [m.content for m in s.messages(c.id)] == ["hello"]
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    finally:
        raw.close()
    assert {"conversations", "messages", "messages_by_position"} <= names


def test_new_migration_applied_once_on_reopen(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConversationStore(db_path) as s:
        s.create_conversation("old")
    calls: list[int] = []

    def migration_2(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute("ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")

    monkeypatch.setattr(conv_mod, "MIGRATIONS", [*MIGRATIONS, migration_2])
    with ConversationStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS) + 1
    with ConversationStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS) + 1
        assert [c.title for c in s.list_conversations()] == ["old"]
    assert calls == [1]


def test_failed_migration_rolls_back(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ConversationStore(db_path) as s:
        s.create_conversation("old")

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr(conv_mod, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(RuntimeError):
        ConversationStore(db_path)
    monkeypatch.undo()
    with ConversationStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert s._conn is not None
        assert s._conn.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'"
        ).fetchone() == (0,)


def test_newer_schema_version_refused(db_path: Path) -> None:
    ConversationStore(db_path).close()
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    raw.close()
    with pytest.raises(StoreError) as info:
        ConversationStore(db_path)
    assert info.value.kind == "newer_version"
    assert str(db_path) in str(info.value)


def test_foreign_sqlite_file_not_migrated(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    raw = sqlite3.connect(db_path)
    raw.execute("CREATE TABLE notes (body TEXT)")
    raw.execute("INSERT INTO notes VALUES ('precious')")
    raw.commit()
    raw.close()
    before = db_path.read_bytes()
    with pytest.raises(StoreError) as info:
        ConversationStore(db_path)
    assert info.value.kind == "not_ours"
    assert db_path.read_bytes() == before


def test_garbage_file_raises_and_is_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    garbage = os.urandom(64 * 1024)
    db_path.write_bytes(garbage)
    with pytest.raises(StoreError) as info:
        ConversationStore(db_path)
    err = info.value
    assert err.kind == "corrupt"
    assert "corrupt" in str(err)
    assert str(db_path) in str(err)
    assert "\n" not in str(err)
    assert db_path.read_bytes() == garbage
    # and again: a second attempt must not "repair" it either
    with pytest.raises(StoreError):
        ConversationStore(db_path)
    assert db_path.read_bytes() == garbage


def test_unopenable_path_is_store_error(tmp_path: Path) -> None:
    directory = tmp_path / "a_directory"
    directory.mkdir()
    with pytest.raises(StoreError) as info:
        ConversationStore(directory)
    assert str(directory) in str(info.value)


def test_locked_past_timeout_is_store_error(db_path: Path) -> None:
    ConversationStore(db_path).close()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with ConversationStore(db_path, busy_timeout_ms=100) as s:
            with pytest.raises(StoreError) as info:
                s.create_conversation("blocked")
            assert info.value.kind == "locked"
            assert str(db_path) in str(info.value)
            blocker.execute("ROLLBACK")
            s.create_conversation("now fine")  # the store is still usable
            assert [c.title for c in s.list_conversations()] == ["now fine"]
    finally:
        blocker.close()


def test_disk_full_is_store_error(store: ConversationStore, db_path: Path) -> None:
    c = store.create_conversation("small")
    assert store._conn is not None
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages + 1}")
    with pytest.raises(StoreError) as info:
        store.add_message(c.id, "user", "x" * 200_000)
    assert info.value.kind == "disk_full"
    assert str(db_path) in str(info.value)
    assert store.messages(c.id) == []  # rolled back, nothing half-written


def test_read_only_database_is_store_error(db_path: Path) -> None:
    with ConversationStore(db_path) as s:
        s.create_conversation("x")
    s = ConversationStore(db_path)
    try:
        assert s._conn is not None
        s._conn.execute("PRAGMA query_only = ON")  # SQLITE_READONLY on any write
        with pytest.raises(StoreError) as info:
            s.create_conversation("y")
        assert info.value.kind == "read_only"
    finally:
        s.close()
