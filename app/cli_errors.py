"""The one error path of the command line (`guarded`): the user's world (a bad model file, a
full or read-only disk, a locked database, bad input) is one line on stderr and a non-zero
exit; anything else is a bug, logged with its traceback and reported in one line (exit 70)."""

from __future__ import annotations

import errno
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from app.cli_output import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERNAL,
    InputError,
    fail,
    one_line,
    shown_name,
)

log = logging.getLogger("app.cli")

def guarded(command: Callable[[], int]) -> int:
    """Run `command`. A known error (the user's world) is one line on stderr and its exit
    code; anything else is a bug: its traceback goes to the log file and the user sees one
    line naming it (exit 70). KeyboardInterrupt and a broken pipe pass through, for
    app/main.py to end quietly."""
    try:
        return command()
    except BrokenPipeError:
        raise
    except Exception as exc:  # the one place every error of a command ends up
        known = known_error(exc)
        if known is None:
            return internal_error(exc)
        message, code = known
        log.info("%s", message, exc_info=None if isinstance(exc, InputError) else exc,
                 extra={"console": False})
        return fail(message, code)


def _loaded_class(module: str, name: str) -> type | None:
    """A class of a module only if that module was imported (then it may have raised)."""
    loaded = sys.modules.get(module)
    found = getattr(loaded, name, None) if loaded is not None else None
    return found if isinstance(found, type) else None


def _instance(exc: BaseException, module: str, name: str) -> bool:
    cls = _loaded_class(module, name)
    return cls is not None and isinstance(exc, cls)


_OS_REASONS = {
    errno.ENOSPC: "no space left on the disk",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "not found",
    errno.EISDIR: "is a directory",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EIO: "input/output error (a failing disk?)",
    errno.ENOMEM: "out of memory",
    getattr(errno, "EDQUOT", -1): "disk quota exceeded",
}



def known_error(exc: BaseException) -> tuple[str, int] | None:
    """The one-line message and exit code of an error from the user's world, else None."""
    if isinstance(exc, InputError):
        return str(exc), EXIT_BAD_INPUT
    if _instance(exc, "engine.errors", "EngineError"):
        bad_model = _instance(exc, "engine.errors", "ModelFileError") or \
            _instance(exc, "models.builtin", "UnknownModelError") or \
            _instance(exc, "engine.cpu_features", "CpuUnsupportedError")
        return str(exc), EXIT_BAD_INPUT if bad_model else EXIT_FAILED
    if _instance(exc, "kb.db", "DatabaseError"):
        bad_input = getattr(exc, "kind", None) == "bad_input"
        return str(exc), EXIT_BAD_INPUT if bad_input else EXIT_FAILED
    if _instance(exc, "kb.embedders", "EmbedderError"):  # `--embedder FOLDER` without a model
        return str(exc), EXIT_BAD_INPUT
    if _instance(exc, "app.rag", "RetrievalError"):  # a knowledge base that does not exist
        return str(exc), EXIT_BAD_INPUT
    if _instance(exc, "app.conversations", "StoreError"):
        return str(exc), EXIT_FAILED
    if isinstance(exc, MemoryError):
        return "out of memory", EXIT_FAILED
    if isinstance(exc, OSError):
        reason = _OS_REASONS.get(exc.errno or 0) or exc.strerror or str(exc) or \
            type(exc).__name__
        for name in (exc.filename, exc.filename2):
            if name is not None:
                reason = f"{shown_name(name)}: {reason}"
                break
        return reason, EXIT_FAILED
    if type(exc).__module__.split(".")[0] in ("sqlite3", "sqlean"):
        # A database error no layer translated: only the ones about the file or the disk.
        from kb.db import error_kind

        kind = error_kind(exc)
        reasons = {"locked": "a database is locked by another program",
                   "disk_full": "cannot write a database: the disk is full",
                   "read_only": "cannot write a database: the file or its folder is read-only",
                   "corrupt": "a database file is corrupt",
                   "cant_open": "cannot open a database file",
                   "io": "disk I/O error on a database file"}
        if kind in reasons:
            return reasons[kind], EXIT_FAILED
    return None


def internal_error(exc: BaseException) -> int:
    """A bug: the traceback to the log file (or, when there is none, a file in the temporary
    folder), one line to the user, exit 70."""
    from app.logs import log_file_in_use

    name = type(exc).__name__
    where: Path | None = log_file_in_use()
    if where is not None:
        log.error("internal error: %s: %s", name, exc, exc_info=exc,
                  extra={"console": False})
    else:
        where = _traceback_file(exc)
    detail = f"details in {where}" if where is not None else "no log file could be written"
    return fail(f"internal error: {name}: {one_line(str(exc), 300)} ({detail})",
                EXIT_INTERNAL)


def _traceback_file(exc: BaseException) -> Path | None:
    import tempfile
    import traceback

    try:
        fd, name = tempfile.mkstemp(prefix="mingjing-error-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as out:
            traceback.print_exception(exc, file=out)
    except OSError:
        return None
    return Path(name)
