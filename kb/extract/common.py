"""What every part of kb.extract shares: the result types, the error, the size limits and
the one-line wording of failures.

The underscored names here are private to the kb.extract package, used by its other modules.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

# One logger for the whole package, under the name the single module always had.
_log: Final = logging.getLogger("kb.extract")

_KB: Final = 1024
_MB: Final = 1024 * 1024

# Lines, DOM nodes or PDF operators between two looks at the budget (a look costs ~0.1 us).
_CHECK_EVERY: Final = 1024
# Sections (headings) per document. A 50 MiB file of nothing but "# a" lines would otherwise
# make 13 million of them (gigabytes); past this, headings stop starting sections.
MAX_SECTIONS: Final = 20_000

MAX_FILE_BYTES: Final = 50 * _MB
"""Default limit on the size of a file `extract` will read; callers may pass their own."""


@dataclass(frozen=True, slots=True)
class Section:
    """A piece of a document's text and where it came from.

    `text` is always the slice `document.text[start:start + len(text)]`.
    """

    text: str
    start: int
    page: int | None = None
    heading: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """Everything extracted from one file."""

    path: Path
    kind: str  # "text" | "markdown" | "code" | "pdf" | "docx" | "html"
    text: str
    sections: tuple[Section, ...]
    encoding: str | None  # the detected encoding for text-based files, None for PDF/DOCX
    title: str | None


class ExtractionError(Exception):
    """A file that cannot be turned into text; `reason` is one line, fit for the user."""

    def __init__(self, reason: str, path: Path | None = None) -> None:
        self.reason = _one_line(reason)
        self.path = path
        super().__init__(self.reason)

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path is not None else self.reason


def too_large_reason(size: int, limit: int) -> str:
    """The one-line reason for a file over the size limit, in binary units like the limit."""
    return f"file is too large ({_format_size(size, up=True)}, limit {_format_size(limit)})"


def _format_size(n: int, *, up: bool = False) -> str:
    """Human size in binary units with one decimal ("50 MiB" for 50 * 1024 * 1024 bytes);
    rounding `up` keeps "50.1 MiB over a 50 MiB limit" honest."""
    for unit, scale in (("MiB", _MB), ("KiB", _KB)):
        if n >= scale:
            value = n / scale
            value = math.ceil(value * 10) / 10 if up else math.floor(value * 10) / 10
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def _one_line(text: str, limit: int = 240) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _describe(exc: BaseException) -> str:
    message = _one_line(str(exc), 160)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
