"""Logging: a rotating file in the data folder; warnings also on stderr for the CLI.

The console never shows a traceback: its lines are the message alone (tracebacks go to the
file). A record logged with ``extra={"console": False}`` goes to the file only."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path


class _OneLine(logging.Formatter):
    """`mingjing: MESSAGE`, never followed by a traceback or stack (those stay in the file)."""

    def format(self, record: logging.LogRecord) -> str:
        return "mingjing: " + " ".join(record.getMessage().splitlines())


def _for_console(record: logging.LogRecord) -> bool:
    return bool(getattr(record, "console", True))


def setup_logging(log_file: Path, *, stderr_level: int = logging.WARNING) -> None:
    root = logging.getLogger()
    if getattr(root, "_mingjing_configured", False):
        return
    root.setLevel(logging.DEBUG)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s")
    try:
        # backslashreplace: a file name that is not UTF-8 (kb/filenames.py) never turns
        # a log line into a "Logging error" traceback on stderr.
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=2_000_000, backupCount=3, encoding="utf-8",
            errors="backslashreplace",
        )
        file_handler.setFormatter(fmt)
        file_handler.setLevel(logging.INFO)
        root.addHandler(file_handler)
    except OSError:
        pass  # a read-only data folder must not stop the app
    console = logging.StreamHandler()
    console.setLevel(stderr_level)
    console.setFormatter(_OneLine())
    console.addFilter(_for_console)
    root.addHandler(console)
    root._mingjing_configured = True  # type: ignore[attr-defined]
    # A failing handler (stderr closed, the disk full under the log file) is not worth a
    # "--- Logging error ---" traceback on stderr.
    logging.raiseExceptions = False


def log_file_in_use() -> Path | None:
    """The file the log is written to, or None when it could not be opened."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and handler.baseFilename != os.devnull:
            return Path(handler.baseFilename)
    return None
