"""SQLite connections that can load sqlite-vec, whatever the Python build, and the one-line
errors the knowledge base reports about its file.

The standard library's sqlite3 is used when it can load extensions (most Linux and Windows
builds); where it cannot (macOS system Python, pyenv builds like this machine's), the
drop-in `sqlean` module, which bundles a recent SQLite with extension loading, is used."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Final


class DatabaseError(Exception):
    """A knowledge-base problem the user can act on (one line).

    `kind` is one of 'corrupt', 'not_ours', 'newer_version', 'locked', 'disk_full',
    'read_only', 'cant_open', 'io' (the file and the disk), or 'bad_input' (a request that
    cannot be met: an empty name, a result count out of range)."""

    def __init__(self, message: str, *, kind: str = "error") -> None:
        super().__init__(" ".join(message.split()))
        self.kind = kind


# Primary SQLite result codes (https://sqlite.org/rescode.html).
_KIND_BY_CODE: Final = {
    3: "read_only",  # SQLITE_PERM
    5: "locked",  # SQLITE_BUSY
    6: "locked",  # SQLITE_LOCKED
    8: "read_only",  # SQLITE_READONLY
    10: "io",  # SQLITE_IOERR
    11: "corrupt",  # SQLITE_CORRUPT
    13: "disk_full",  # SQLITE_FULL
    14: "cant_open",  # SQLITE_CANTOPEN
    26: "corrupt",  # SQLITE_NOTADB
}
_KIND_BY_TEXT: Final = (
    ("file is not a database", "corrupt"),
    ("malformed", "corrupt"),
    ("database is locked", "locked"),
    ("database table is locked", "locked"),
    ("database or disk is full", "disk_full"),
    ("readonly database", "read_only"),
    ("unable to open database", "cant_open"),
    ("disk i/o error", "io"),
)


def error_kind(exc: BaseException) -> str | None:
    """The kind of a sqlite3/sqlean error that is about the file or the disk, else None
    (a constraint or syntax error is a bug, not the user's world)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        kind = _KIND_BY_CODE.get(code & 0xFF)
        if kind is not None:
            return kind
    text = str(exc).lower()
    for needle, kind in _KIND_BY_TEXT:
        if needle in text:
            return kind
    return None


def file_error(kind: str, path: Path | str, detail: str = "") -> DatabaseError:
    where = str(path)
    messages = {
        "corrupt": f"{where} is corrupt or not a SQLite database; Mingjing does not repair "
        "it (move it aside to start a new knowledge base)",
        "not_ours": f"{where} is not a Mingjing knowledge base (a SQLite database of another "
        "program); it was left untouched",
        "newer_version": f"knowledge base {where} was written by a newer version of Mingjing; "
        "it was left untouched (update the app)",
        "locked": f"knowledge base {where} is locked by another program (timed out "
        "waiting for it)",
        "disk_full": f"cannot write knowledge base {where}: the disk is full",
        "read_only": f"cannot write knowledge base {where}: the file or its folder is "
        "read-only",
        "cant_open": f"cannot open knowledge base {where}",
        "io": f"disk I/O error on knowledge base {where}",
    }
    message = messages.get(kind, f"knowledge base {where}: {kind}")
    if detail and kind in ("cant_open", "io", "not_ours", "newer_version"):
        message += f" ({detail})"
    return DatabaseError(message, kind=kind)


def translate(exc: BaseException, path: Path | str) -> BaseException:
    """A DatabaseError for errors about the file or the disk; anything else unchanged."""
    if isinstance(exc, DatabaseError):
        return exc
    if isinstance(exc, OSError):
        os_kind = "disk_full" if exc.errno == 28 else "read_only" if exc.errno in (1, 13, 30) \
            else "cant_open"
        return file_error(os_kind, path, exc.strerror or str(exc))
    kind = error_kind(exc)
    if kind is None:
        return exc
    return file_error(kind, path, str(exc))


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


def connect(
    path: Path | str,
    *,
    module: ModuleType | None = None,
    check: Callable[[Any], object] | None = None,
) -> Any:
    """Open a connection with sqlite-vec loaded, WAL on, foreign keys enforced.

    `check(conn)` runs first, before anything is written (the WAL switch rewrites the file
    header), so that a file that is not ours can be refused untouched. A file that cannot
    be written (read-only, immutable) is still opened for reading."""
    import sqlite_vec

    mod = module or sqlite_module()
    conn = None
    try:
        # Autocommit mode: the store issues BEGIN IMMEDIATE / COMMIT itself.
        conn = mod.connect(str(path), timeout=10.0, check_same_thread=False,
                           isolation_level=None)
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
        if check is not None:
            check(conn)
        try:
            enable_wal(conn, 10.0)
        except mod.DatabaseError as exc:
            if error_kind(exc) != "read_only":
                raise
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except BaseException as exc:
        if conn is not None:
            conn.close()
        translated = translate(exc, path)
        if translated is exc:
            if isinstance(exc, mod.DatabaseError):  # unknown, but still about this file
                raise DatabaseError(f"cannot open knowledge base {path} ({exc})",
                                    kind="cant_open") from exc
            raise
        raise translated from exc
    return conn
