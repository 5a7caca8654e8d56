"""Which file-system events in a watched folder mean its knowledge base should be synced:
documents created, changed, moved or deleted; not reads, not hidden files, not the
knowledge database itself (its -wal and -shm included) or the data folder beside it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from watchdog.events import FileSystemEvent, FileSystemEventHandler

# watchdog event types that mean content may have changed ("opened"/"closed_no_write" are
# just reads: the indexer's own reads must not trigger another sync).
_CHANGE_EVENTS = frozenset({"created", "deleted", "modified", "moved", "closed"})


def change_handler(kb_name: str, root: Path, db_path: Path,
                   on_change: Callable[[str], None]) -> FileSystemEventHandler:
    """A watchdog handler for folder `root` of knowledge base `kb_name` that calls
    `on_change(kb_name)` (on watchdog's thread) for each relevant event."""
    from watchdog.events import FileSystemEventHandler

    from kb.extract import is_supported

    db_file = db_path.absolute()
    db_dir = db_file.parent
    # The data folder (database, logs, models) inside a watched folder is not a document;
    # a watched folder inside the data folder still is.
    skip_db_dir = not (root != db_dir and root.is_relative_to(db_dir))

    def relevant(raw: str | bytes) -> bool:
        path = Path(raw.decode() if isinstance(raw, bytes) else raw)
        if not raw or (path.parent == db_dir and path.name.startswith(db_file.name)):
            return False  # knowledge.db, -wal, -shm
        if skip_db_dir and path.is_relative_to(db_dir):
            return False
        try:
            rel = path.relative_to(root)
        except ValueError:
            return True  # moved in from elsewhere
        return not any(part.startswith(".") for part in rel.parts)

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type not in _CHANGE_EVENTS:
                return
            if event.is_directory and event.event_type in ("modified", "closed"):
                return
            paths = [p for p in (event.src_path, event.dest_path) if p]
            hits = [p for p in paths if relevant(p)]
            if not hits:
                return
            if not event.is_directory and not any(
                is_supported(Path(p.decode() if isinstance(p, bytes) else p)) for p in hits
            ):
                return
            on_change(kb_name)

    return Handler()
