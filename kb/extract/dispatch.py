"""The entry point: check the file (there, a regular file, not empty, not too large), read
its bytes once, hand them to the reader for its kind, and turn any surprise from a parser
into a one-line `ExtractionError`."""

from __future__ import annotations

import stat
from pathlib import Path

from kb.budget import UNLIMITED, FileBudget, ImportCancelled, OverBudget
from kb.extract.common import (
    MAX_FILE_BYTES,
    Document,
    ExtractionError,
    _describe,
    _log,
    too_large_reason,
)
from kb.extract.from_docx import _extract_docx
from kb.extract.from_html import _extract_html
from kb.extract.from_pdf import _extract_pdf
from kb.extract.from_text import _extract_text
from kb.extract.kinds import _kind_of


def extract(
    path: Path, *, max_bytes: int = MAX_FILE_BYTES, budget: FileBudget = UNLIMITED
) -> Document:
    """Read `path` and return its text with locations.

    Raises `ExtractionError` (and nothing else) for any file that cannot be read: missing,
    unsupported, too large, empty, binary, encrypted, corrupt, or without text; and the
    budget's `ImportCancelled` / `OverBudget`, checked between pages and blocks.
    """
    path = Path(path)
    try:
        return _extract(path, max_bytes, budget)
    except ExtractionError as exc:
        exc.path = path
        raise


def _extract(path: Path, max_bytes: int, budget: FileBudget) -> Document:
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise ExtractionError("file not found") from None
    except PermissionError:
        raise ExtractionError("cannot read file: permission denied") from None
    except OSError as exc:
        raise ExtractionError(f"cannot read file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ExtractionError("is a directory")
    kind = _kind_of(path)
    if kind is None:
        suffix = path.suffix.lower()
        raise ExtractionError(
            f"unsupported file type '{suffix}'" if suffix else "unsupported file type (no suffix)"
        )
    if not stat.S_ISREG(st.st_mode):
        # Opening a FIFO or device would block or never end.
        raise ExtractionError("not a regular file")
    if st.st_size == 0:
        raise ExtractionError("empty file (0 bytes)")
    if st.st_size > max_bytes:
        raise ExtractionError(too_large_reason(st.st_size, max_bytes))
    data = _read_bytes(path, max_bytes)
    budget.check()

    try:
        if kind == "pdf":
            doc = _extract_pdf(path, data, budget)
        elif kind == "docx":
            doc = _extract_docx(path, data, budget)
        elif kind == "html":
            doc = _extract_html(path, data, budget)
        else:
            doc = _extract_text(path, data, kind, budget)
    except (ExtractionError, ImportCancelled, OverBudget):
        raise
    except Exception as exc:  # a parser bug or a file shape nobody anticipated
        _log.debug("unexpected failure extracting %s", path, exc_info=True)
        raise ExtractionError(f"could not read {kind}: {_describe(exc)}") from exc
    if not doc.text.strip():
        raise ExtractionError("no text found")
    return doc


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as fh:
            # One byte more than allowed tells us if the file grew since stat().
            data = fh.read(max_bytes + 1)
    except (FileNotFoundError, NotADirectoryError):
        raise ExtractionError("file not found") from None
    except IsADirectoryError:
        raise ExtractionError("is a directory") from None
    except PermissionError:
        raise ExtractionError("cannot read file: permission denied") from None
    except OSError as exc:
        raise ExtractionError(f"cannot read file: {exc.strerror or exc}") from None
    if not data:
        raise ExtractionError("empty file (0 bytes)")
    if len(data) > max_bytes:
        raise ExtractionError(too_large_reason(len(data), max_bytes))
    return data
