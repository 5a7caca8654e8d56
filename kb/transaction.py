"""The knowledge base store's write transaction: BEGIN IMMEDIATE ... COMMIT under the
store's lock, rolled back on error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kb.db import translate

if TYPE_CHECKING:
    from kb.store import KnowledgeStore


def rollback_quietly(conn: Any) -> None:
    """Roll back if a transaction is open; the error that got us here is what matters."""
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except Exception:
        pass


class Transaction:
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
                    rollback_quietly(conn)
                    translated = self.store._diagnose(commit_exc)
                    if translated is commit_exc:
                        raise
                    raise translated from commit_exc
                return
            rollback_quietly(conn)
            translated = self.store._diagnose(exc)
            if translated is not exc:
                raise translated from exc
        finally:
            self.store._lock.release()

