"""Plain text, source code and Markdown: decode the bytes; Markdown is cut into sections at
its headings (not inside fenced code) and takes its title from front matter or the first
heading."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from kb.budget import UNLIMITED, FileBudget
from kb.extract.common import _CHECK_EVERY, MAX_SECTIONS, Document, Section
from kb.extract.decoding import _decode_markup, decode_text
from kb.extract.sections import _make_section


def _extract_text(path: Path, data: bytes, kind: str, budget: FileBudget = UNLIMITED) -> Document:
    if path.suffix.lower() == ".xml":
        text, encoding = _decode_markup(data)
    else:
        text, encoding = decode_text(data)
    budget.check()
    if kind == "markdown":
        sections, title = _markdown_sections(text, budget)
    else:
        section = _make_section(text, 0, len(text))
        sections, title = ((section,) if section else ()), None
    return Document(path, kind, text, sections, encoding, title)


_FENCE_RE: Final = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX_RE: Final = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_RE: Final = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FRONT_MATTER_TITLE_RE: Final = re.compile(r"""^title:\s*["']?(.*?)["']?\s*$""")


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) for each line ("\\n"-separated), without a list of all of them: a file
    of millions of tiny lines would take gigabytes as a list of strings and offsets."""
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            yield start, text[start:]
            return
        yield start, text[start:end]
        start = end + 1


def _markdown_sections(
    text: str, budget: FileBudget = UNLIMITED
) -> tuple[tuple[Section, ...], str | None]:
    """Sections of Markdown split at ATX (`# x`) and single-line setext headings.

    Headings inside fenced code blocks are ignored (a `# comment` in a shell snippet is not
    a heading) and YAML front matter is skipped, supplying the title when it names one.
    Past MAX_SECTIONS, headings no longer start sections (their text stays, in the last).
    """
    lines = _lines(text)
    head = list(itertools.islice(lines, 200))
    title: str | None = None
    first = 0
    if head and head[0][1].strip() == "---":
        for i in range(1, len(head)):
            if head[i][1].strip() in ("---", "..."):
                for _, fm_line in head[1:i]:
                    match = _FRONT_MATTER_TITLE_RE.match(fm_line)
                    if match and match.group(1):
                        title = match.group(1)
                first = i + 1
                break

    cuts: list[tuple[int, str | None]] = [(0, None)]
    fence: str | None = None
    first_h1: str | None = None
    last: tuple[int, str] | None = None  # (offset, text) of the line above, from `first` on
    last2: tuple[int, str] | None = None  # and of the one above that
    for i, (offset, line) in enumerate(itertools.chain(head[first:], lines), start=first):
        if not i % _CHECK_EVERY:
            budget.check()
        above, two_above = last, last2
        last2, last = last, (offset, line)
        fence_match = _FENCE_RE.match(line)
        if fence is not None:
            if (
                fence_match
                and fence_match.group(1)[0] == fence[0]
                and len(fence_match.group(1)) >= len(fence)
                and not line.strip(" `~")
            ):
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            continue
        room = len(cuts) < MAX_SECTIONS
        atx = _ATX_RE.match(line)
        if atx:
            heading = (atx.group(2) or "").strip()
            if room:
                cuts.append((offset, heading or None))
            if len(atx.group(1)) == 1 and first_h1 is None and heading:
                first_h1 = heading
            continue
        setext = _SETEXT_RE.match(line)
        prev = above[1].strip() if above is not None else ""
        before_prev = two_above[1].strip() if two_above is not None else ""
        # Only a one-line paragraph underlined by ===/--- counts; longer ones are rare and a
        # "---" under running text is more often meant as a rule.
        if (
            setext
            and above is not None
            and prev
            and not before_prev
            and not _ATX_RE.match(above[1])
            and cuts[-1][0] != above[0]
            and room
        ):
            cuts.append((above[0], prev))
            if setext.group(1)[0] == "=" and first_h1 is None:
                first_h1 = prev

    sections: list[Section] = []
    for i, (start, heading) in enumerate(cuts):
        end = cuts[i + 1][0] if i + 1 < len(cuts) else len(text)
        section = _make_section(text, start, end, heading=heading)
        if section is not None:
            sections.append(section)
    return tuple(sections), title or first_h1
