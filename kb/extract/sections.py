"""Text cleaning and sections: newlines and control characters, and cutting a text into
`Section`s at its headings."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from kb.extract.common import MAX_SECTIONS, Section

# C0/C1 control characters other than tab and newline, DEL, and stray byte-order marks.
_CONTROL_RE: Final = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufeff\ufffe]")
_LINE_BREAKS: Final = str.maketrans(dict.fromkeys("\r\v\f\x1c\x1d\x1e\u2028\u2029", "\n"))


def _clean(text: str) -> str:
    """Newlines to "\\n"; drop control characters that only confuse search and display."""
    text = text.replace("\r\n", "\n").translate(_LINE_BREAKS)
    return _CONTROL_RE.sub("", text)


def _make_section(text: str, start: int, end: int, *, page: int | None = None,
                  heading: str | None = None) -> Section | None:  # fmt: skip
    """The slice text[start:end] minus surrounding whitespace, or None if nothing is left."""
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return None
    start += len(piece) - len(piece.lstrip())
    return Section(stripped, start, page, heading)


def _join_blocks(blocks: Sequence[tuple[str, str | None]]) -> tuple[str, tuple[Section, ...]]:
    """Join paragraph blocks with blank lines; a block with a heading opens a new section.

    Each block is (text, heading) where heading is the block's own text when the block is a
    heading and None otherwise. Sections run from one heading block to the next.
    """
    parts: list[str] = []
    cuts: list[tuple[int, str | None]] = [(0, None)]
    offset = 0
    for text, heading in blocks:
        if not text.strip():
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        if heading is not None and len(cuts) < MAX_SECTIONS:
            cuts.append((offset, heading))
        parts.append(text)
        offset += len(text)
    joined = "".join(parts)
    sections: list[Section] = []
    for i, (start, heading) in enumerate(cuts):
        end = cuts[i + 1][0] if i + 1 < len(cuts) else len(joined)
        section = _make_section(joined, start, end, heading=heading)
        if section is not None:
            sections.append(section)
    return joined, tuple(sections)
