"""How much work one file may cost: a time budget and the import's cancel flag.

Extraction and chunking call `FileBudget.check()` between pages, blocks and chunking windows,
so no single file (a PDF page of 70 MB of whitespace, 5 MB of unpunctuated text) can hold an
import or Ctrl-C hostage: over budget the file fails with a one-line reason and the import
goes on; on cancel the file stays pending and the import stops."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

# A 2,000-page text PDF takes pypdf about 100-200 s on this kind of machine (2 cores); five
# minutes leaves room for that and still bounds what one hostile file can take.
DEFAULT_FILE_SECONDS: Final = 300.0


class ImportCancelled(Exception):
    """The user cancelled while a file was being read or split; the file stays pending."""


class OverBudget(Exception):
    """A file took longer to read and split than the per-file time budget allows."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.reason = (
            f"gave up after {format_seconds(seconds)}: reading and splitting this file takes "
            "longer than the time limit for one file"
        )
        super().__init__(self.reason)


def format_seconds(seconds: float) -> str:
    if seconds >= 120:
        minutes = seconds / 60
        return f"{minutes:.0f} min" if minutes == int(minutes) else f"{minutes:.1f} min"
    return f"{seconds:g} s"


def _never() -> bool:
    return False


class FileBudget:
    """The allowance for one file, started when the object is made.

    `seconds=None` means no time limit (cancel still works). `clock` is injectable so tests
    can run out of time deterministically, without waiting."""

    def __init__(
        self,
        seconds: float | None = DEFAULT_FILE_SECONDS,
        *,
        cancelled: Callable[[], bool] = _never,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self._cancelled = cancelled
        self._clock = clock
        self._deadline = None if seconds is None else clock() + seconds

    def check(self) -> None:
        """Raise ImportCancelled or OverBudget if the work on this file must stop now."""
        if self._cancelled():
            raise ImportCancelled()
        if self._deadline is not None and self._clock() >= self._deadline:
            assert self.seconds is not None
            raise OverBudget(self.seconds)


UNLIMITED: Final = FileBudget(None)
"""No time limit and no cancel flag (the default for direct calls to extract and chunk)."""
