"""Logging: a rotating file in the data folder; warnings also on stderr for the CLI."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path


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
    console.setFormatter(logging.Formatter("mingjing: %(message)s"))
    root.addHandler(console)
    root._mingjing_configured = True  # type: ignore[attr-defined]
