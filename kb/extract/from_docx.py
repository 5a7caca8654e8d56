"""DOCX (python-docx): paragraphs and tables in document order, sections at Word's heading
and title styles; non-zips, old .doc files, encrypted files and zip bombs refused before
anything is inflated.

python-docx and zipfile are imported inside the functions that need them.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Final

from kb.budget import UNLIMITED, FileBudget
from kb.extract.common import (
    _MB,
    Document,
    ExtractionError,
    _describe,
    _format_size,
    _one_line,
)
from kb.extract.sections import _clean, _join_blocks

if TYPE_CHECKING:
    from docx.table import Table
    from docx.text.paragraph import Paragraph

# A .docx is a zip; python-docx inflates every part into memory, so a small archive that
# inflates to gigabytes would take the whole app down. These bound what we agree to inflate.
DOCX_MAX_UNCOMPRESSED = 200 * _MB
DOCX_MAX_RATIO = 100
DOCX_RATIO_MIN_BYTES = 10 * _MB


_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DOCX_HEADING_RE: Final = re.compile(r"^(?:heading|标题)\s*([1-9])$", re.IGNORECASE)
_DOCX_TITLE_STYLES: Final = frozenset({"title", "标题"})


def _check_docx_archive(data: bytes) -> None:
    """Refuse non-zips and zip bombs before python-docx inflates anything."""
    import zipfile

    if data.startswith(_OLE_MAGIC):
        # Word stores password-protected .docx files inside an OLE container too.
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise ExtractionError("docx is encrypted (password protected)")
        raise ExtractionError("corrupt docx: this is an old binary Word .doc file, not .docx")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise ExtractionError(f"corrupt docx: not a zip archive ({exc})") from exc
    except Exception as exc:
        raise ExtractionError(f"corrupt docx: {_describe(exc)}") from exc
    # The declared sizes can be trusted as an upper bound: zipfile stops reading a member at
    # its declared size and fails the CRC check if the data is longer.
    total = sum(info.file_size for info in infos)
    if total > DOCX_MAX_UNCOMPRESSED:
        raise ExtractionError(f"docx looks like a zip bomb ({_format_size(total)} uncompressed)")
    for info in infos:
        if (
            info.file_size > DOCX_RATIO_MIN_BYTES
            and info.file_size > DOCX_MAX_RATIO * max(info.compress_size, 1)
        ):
            raise ExtractionError(
                f"docx looks like a zip bomb ({_format_size(info.file_size)} uncompressed "
                f"from {_format_size(info.compress_size)} in {info.filename})"
            )
    if not any(info.filename == "word/document.xml" for info in infos):
        raise ExtractionError("corrupt docx: no word/document.xml (not a Word document?)")


def _extract_docx(path: Path, data: bytes, budget: FileBudget = UNLIMITED) -> Document:
    _check_docx_archive(data)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # missing parts, bad XML, wrong content type (.docm) ...
        raise ExtractionError(f"corrupt docx: {_describe(exc)}") from exc

    blocks: list[tuple[str, str | None]] = []
    title: str | None = None
    for item in document.iter_inner_content():
        budget.check()
        if isinstance(item, Table):
            blocks.append((_docx_table_text(item), None))
            continue
        text = _clean(item.text).strip()
        if not text:
            continue
        style = _docx_style_name(item)
        is_title = style in _DOCX_TITLE_STYLES
        if is_title and title is None:
            title = _one_line(text)
        heading = _one_line(text) if is_title or _DOCX_HEADING_RE.match(style) else None
        blocks.append((text, heading))

    try:
        core_title = document.core_properties.title
    except Exception:  # a broken docProps/core.xml should not hide the body text
        core_title = None
    if core_title and core_title.strip():
        title = _one_line(core_title)
    text, sections = _join_blocks(blocks)
    return Document(path, "docx", text, sections, None, title)


def _docx_style_name(paragraph: Paragraph) -> str:
    try:
        style = paragraph.style
        name = style.name if style is not None else None
    except Exception:  # dangling style references exist in the wild
        return ""
    return (name or "").strip().lower()


def _docx_table_text(table: Table) -> str:
    """Rows on their own lines, cells separated by " | "; merged cells appear once."""
    from docx.table import Table

    rows: list[str] = []
    try:
        for row in table.rows:
            cells: list[str] = []
            seen: set[int] = set()
            for cell in row.cells:
                # A merged cell is returned once per grid column it spans.
                if id(cell._tc) in seen:
                    continue
                seen.add(id(cell._tc))
                parts: list[str] = []
                for inner in cell.iter_inner_content():
                    if isinstance(inner, Table):
                        parts.append(_docx_table_text(inner))
                    else:
                        parts.append(inner.text)
                cells.append(" ".join(_clean(" ".join(parts)).split()))
            if any(cells):
                rows.append(" | ".join(cells))
    except Exception:  # irregular grids can trip python-docx; fall back to the raw runs
        return " ".join(t.text or "" for t in table._tbl.iter(_w_t_tag()))
    return "\n".join(rows)


@lru_cache(maxsize=1)
def _w_t_tag() -> str:
    from docx.oxml.ns import qn

    return qn("w:t")
