"""Errors the engine raises for the user's world (bad files, full context), as opposed to bugs."""

from __future__ import annotations

from pathlib import Path


class EngineError(Exception):
    """Base class: a known problem with a one-line, user-facing message."""


class ModelFileError(EngineError):
    """A model file that cannot be used: missing, empty, truncated, not GGUF, unreadable."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ContextOverflowError(EngineError):
    """A single message (plus the system prompt and reply reserve) does not fit the window."""

    def __init__(self, needed: int, available: int) -> None:
        self.needed = needed
        self.available = available
        super().__init__(
            f"the message needs {needed} tokens but the context window has room for {available}; "
            "shorten it or raise the context size"
        )
