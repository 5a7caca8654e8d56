"""SQLite connections that can load sqlite-vec, whatever the Python build.

The standard library's sqlite3 is used when it can load extensions (most Linux and Windows
builds); where it cannot (macOS system Python, pyenv builds like this machine's), the
drop-in `sqlean` module, which bundles a recent SQLite with extension loading, is used."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from types import ModuleType
from typing import Any


class DatabaseError(Exception):
    """A knowledge-base database problem the user can act on (one line)."""


def can_load_extensions(module: ModuleType) -> bool:
    connection_class = getattr(module, "Connection", None)
    return connection_class is not None and hasattr(connection_class, "enable_load_extension")


def sqlite_module() -> ModuleType:
    if can_load_extensions(sqlite3):
        return sqlite3
    try:
        import sqlean
    except ImportError as exc:
        raise DatabaseError(
            "this Python's sqlite3 cannot load extensions and sqlean.py is not installed"
        ) from exc
    return sqlean  # type: ignore[no-any-return,unused-ignore]


def enable_wal(conn: Any, timeout_s: float) -> None:
    """PRAGMA journal_mode=WAL, retried for up to `timeout_s` while another connection holds
    the lock. SQLite answers SQLITE_BUSY to this without calling the busy handler, so on a
    fresh file opened by several connections at once it would otherwise fail at once."""
    deadline = time.monotonic() + timeout_s
    delay = 0.002
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL").fetchone()
            return
        except Exception as exc:  # sqlite3's or sqlean's OperationalError
            message = str(exc).lower()
            if ("locked" not in message and "busy" not in message) \
                    or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def connect(path: Path | str, *, module: ModuleType | None = None) -> Any:
    """Open a connection with sqlite-vec loaded, WAL on, foreign keys enforced."""
    import sqlite_vec

    mod = module or sqlite_module()
    try:
        # Autocommit mode: the store issues BEGIN IMMEDIATE / COMMIT itself.
        conn = mod.connect(str(path), timeout=10.0, check_same_thread=False,
                           isolation_level=None)
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
        enable_wal(conn, 10.0)
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except mod.DatabaseError as exc:
        raise DatabaseError(f"{path}: cannot open the knowledge base ({exc})") from exc
    return conn
