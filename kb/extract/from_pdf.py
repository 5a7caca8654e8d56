"""PDF (pypdf): one section per page with text, encrypted and broken files told apart, and
pages that inflate to megabytes of content compacted and parsed under the file's budget.

pypdf is imported inside the functions that need it, so importing this module stays cheap.
"""

from __future__ import annotations

import io
import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from kb.budget import UNLIMITED, FileBudget, ImportCancelled, OverBudget
from kb.extract.common import (
    _CHECK_EVERY,
    _MB,
    Document,
    ExtractionError,
    Section,
    _describe,
    _log,
    _one_line,
)
from kb.extract.sections import _clean


class _DebugRelay(logging.Handler):
    """Re-log pypdf's chatter ("Ignoring wrong pointing object ...") at DEBUG under our name."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _log.debug("pypdf: %s", record.getMessage())
        except Exception:  # a malformed log call inside pypdf must not break extraction
            pass


@lru_cache(maxsize=1)
def _quiet_pypdf() -> None:
    """Keep pypdf's warnings about sloppy-but-readable PDFs off stderr (done once).

    pypdf logs a warning for nearly every real-world PDF quirk; with no logging configured
    Python prints those to stderr, and with logging configured they would flood the app log.
    """
    import warnings

    from pypdf.errors import PdfReadWarning

    logger = logging.getLogger("pypdf")
    logger.addHandler(_DebugRelay())
    logger.propagate = False
    warnings.filterwarnings("ignore", category=PdfReadWarning)


# pypdf decrypts RC4 by itself but needs the 'cryptography' package for AES, which is what
# most "protected" PDFs (often with an empty open password) use today.
_PDF_NEEDS_CRYPTOGRAPHY: Final = (
    "pdf is encrypted with AES (reading it needs the 'cryptography' package)"
)


# A page whose content stream decodes to more than this is compacted before pypdf parses it,
# and its operators are visited with budget checks in between. pypdf's tokenizer reads
# whitespace one byte at a time: a 76 KB PDF whose pages each inflate to ~70 MB of spaces
# took ~10 s a page and could not be interrupted.
_PDF_BIG_CONTENT: Final = 1 * _MB
# Runs of PDF whitespace (NUL, tab, LF, FF, CR, space): one containing a line break becomes
# "\n" (a % comment ends there), any other one " ". Inside a string this only shortens runs
# of spaces, which text extraction would collapse anyway.
_PDF_NEWLINE_RUN: Final = re.compile(rb"[\x00\t\x0c ]*[\r\n][\x00\t\n\r\x0c ]*")
_PDF_BLANK_RUN: Final = re.compile(rb"[\x00\t\x0c ]{2,}")


def _compact_pdf_content(data: bytes) -> bytes:
    return _PDF_BLANK_RUN.sub(b" ", _PDF_NEWLINE_RUN.sub(b"\n", data))


@lru_cache(maxsize=1)
def _budgeted_content_stream() -> Any:
    """A pypdf ContentStream that looks at a FileBudget while pypdf parses it.

    pypdf charges every token it parses to its own parsing budget through
    `_check_limits`; piggybacking on that call lets a cancel or an exhausted time budget stop
    a page of millions of operators (a 6 KB PDF of "q Q" pairs parses for 5 s) in
    milliseconds. Should a pypdf release drop the hook, this degrades to the checks between
    operators and pages."""
    from pypdf.generic import ContentStream

    class BudgetedContentStream(ContentStream):
        budget: FileBudget = UNLIMITED
        tokens = 0

        def _check_limits(self, **kwargs: Any) -> Any:  # type: ignore[override]
            self.tokens += 1
            if not self.tokens % _CHECK_EVERY:
                self.budget.check()
            return super()._check_limits(**kwargs)

    return BudgetedContentStream


def _pdf_page_text(reader: Any, page: Any, budget: FileBudget) -> str:
    contents = page.get_contents()
    data = contents.get_data() if contents is not None else b""
    if len(data) < _PDF_BIG_CONTENT:
        return str(page.extract_text())
    from pypdf.generic import NameObject

    # "bytes": strings stay bytes until the page's fonts decode them, as pypdf does itself.
    stream = _budgeted_content_stream()(None, reader, "bytes")
    stream.budget = budget
    stream.set_data(_compact_pdf_content(data))
    del data
    page[NameObject("/Contents")] = stream
    budget.check()
    visited = 0

    def visit(*_args: object) -> None:
        nonlocal visited
        visited += 1
        if not visited % _CHECK_EVERY:
            budget.check()

    return str(page.extract_text(visitor_operand_before=visit))


def _pdf_failure(exc: BaseException) -> str:
    """"corrupt pdf: ..." unless pypdf stopped at one of its own safety limits (millions of
    operators on a page, huge arrays): then the file is too complex, not broken."""
    if type(exc).__name__ == "LimitReachedError":
        return f"pdf is too complex to read (past a safety limit of the PDF reader: {exc})"
    return f"corrupt pdf: {_describe(exc)}"


def _extract_pdf(path: Path, data: bytes, budget: FileBudget = UNLIMITED) -> Document:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    _quiet_pypdf()
    if b"%PDF-" not in data[:1024]:
        raise ExtractionError("corrupt pdf: not a pdf file (no %PDF header)")
    # Every complete PDF has an %%EOF marker (junk may follow it, so search the whole file).
    # Without one, pypdf either fails with "Stream has ended unexpectedly" or "repairs" the
    # file and returns only the pages it found; neither tells the user what happened.
    if data.rfind(b"%%EOF") < 0:
        raise ExtractionError("corrupt pdf: file is truncated (no %%EOF marker)")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except DependencyError as exc:
        raise ExtractionError(_PDF_NEEDS_CRYPTOGRAPHY) from exc
    except Exception as exc:  # pypdf raises many types for broken files, RecursionError too
        raise ExtractionError(_pdf_failure(exc)) from exc

    if encrypted:
        # Many PDFs are "encrypted" only to restrict printing/copying, with an empty user
        # password; those open fine.
        try:
            result = reader.decrypt("")
        except DependencyError as exc:
            raise ExtractionError(_PDF_NEEDS_CRYPTOGRAPHY) from exc
        except Exception:
            result = PasswordType.NOT_DECRYPTED
        if result == PasswordType.NOT_DECRYPTED:
            raise ExtractionError("pdf is encrypted (password protected)")

    try:
        page_count = len(reader.pages)
    except FileNotDecryptedError as exc:
        raise ExtractionError("pdf is encrypted (password protected)") from exc
    except DependencyError as exc:
        raise ExtractionError(_PDF_NEEDS_CRYPTOGRAPHY) from exc
    except Exception as exc:
        raise ExtractionError(_pdf_failure(exc)) from exc
    if page_count == 0:
        raise ExtractionError("corrupt pdf: it has no pages")

    pages: list[tuple[int, str]] = []
    failures: list[BaseException] = []
    for number in range(1, page_count + 1):
        budget.check()
        try:
            raw = _pdf_page_text(reader, reader.pages[number - 1], budget)
        except (ImportCancelled, OverBudget):
            raise
        except FileNotDecryptedError as exc:
            raise ExtractionError("pdf is encrypted (password protected)") from exc
        except DependencyError as exc:
            raise ExtractionError(_PDF_NEEDS_CRYPTOGRAPHY) from exc
        except Exception as exc:
            # One page with a broken font or content stream should not cost the whole book.
            _log.debug("%s: page %d unreadable: %s", path, number, _describe(exc))
            failures.append(exc)
            continue
        page_text = _clean(raw).strip()
        if page_text:
            pages.append((number, page_text))
    if not pages:
        if failures and len(failures) == page_count:
            raise ExtractionError(_pdf_failure(failures[0]))
        raise ExtractionError("pdf has no extractable text (scanned images?)")

    parts: list[str] = []
    sections: list[Section] = []
    offset = 0
    for number, page_text in pages:
        if parts:
            parts.append("\n\n")
            offset += 2
        sections.append(Section(page_text, offset, number, None))
        parts.append(page_text)
        offset += len(page_text)
    return Document(path, "pdf", "".join(parts), tuple(sections), None, _pdf_title(reader))


def _pdf_title(reader: object) -> str | None:
    try:
        metadata = getattr(reader, "metadata", None)
        title = getattr(metadata, "title", None) if metadata is not None else None
    except Exception:  # broken Info dictionaries are common and never worth failing over
        return None
    if not isinstance(title, str):
        return None
    title = _one_line(_clean(title))
    # reportlab and a few other producers write this placeholder when no title was set.
    return title if title and title.lower() != "untitled" else None
