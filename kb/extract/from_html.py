"""HTML (selectolax/Lexbor): the page's visible text in paragraph blocks, sections at
<h1>-<h6>, tables as rows of " | "-separated cells; walked without recursion.

selectolax is imported inside `_extract_html`, so importing this module stays cheap.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

from kb.budget import UNLIMITED, FileBudget
from kb.extract.common import _CHECK_EVERY, Document, ExtractionError, _one_line
from kb.extract.decoding import _decode_markup
from kb.extract.sections import _clean, _join_blocks

if TYPE_CHECKING:
    from selectolax.lexbor import LexborNode

_HTML_SKIP: Final = frozenset(
    {"head", "script", "style", "noscript", "template", "svg", "math", "iframe", "object",
     "canvas", "select", "button"}
)  # fmt: skip
_HTML_HEADINGS: Final = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_HTML_BLOCKS: Final = frozenset(
    {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
     "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
     "header", "hgroup", "hr", "html", "li", "main", "nav", "ol", "p", "pre", "section",
     "summary", "table", "tbody", "thead", "tfoot", "ul"}
)  # fmt: skip
_HTML_CELLS: Final = frozenset({"td", "th"})
_HTML_ROW: Final = "tr"  # a table row is one line of its table's block, cells split by " | "
_WS_RE: Final = re.compile(r"[ \t\n\r\f\u00a0]+")
_BLANK_LINES_RE: Final = re.compile(r"\n{3,}")


class _HtmlText:
    """Collects rendered text into paragraph blocks while walking the DOM."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, str | None]] = []
        self._buf: list[str] = []
        self._pre = 0  # depth of <pre> elements we are inside
        self._buf_has_pre = False  # the buffer holds preformatted text: keep its indentation

    def _at_line_start(self) -> bool:
        return not self._buf or self._buf[-1].endswith(("\n", " "))

    def text(self, value: str) -> None:
        if self._pre:
            self._buf.append(value)
            self._buf_has_pre = True
            return
        # Browsers collapse runs of whitespace outside <pre>; so do we, across node borders.
        value = _WS_RE.sub(" ", value)
        if self._at_line_start():
            value = value.lstrip(" ")
        if value:
            self._buf.append(value)

    def line_break(self) -> None:
        self._buf.append("\n")

    def _line_has_text(self) -> bool:
        for piece in reversed(self._buf):
            _, newline, after = piece.rpartition("\n")
            if after.strip():
                return True
            if newline:
                return False
        return False

    def cell(self) -> None:
        if self._line_has_text():
            self._buf.append(" | ")

    def row_end(self) -> None:
        if self._line_has_text():
            self._buf.append("\n")

    def enter(self, tag: str) -> None:
        if tag in _HTML_BLOCKS or tag in _HTML_HEADINGS:
            self.flush()
        if tag == "pre":
            self._pre += 1

    def leave(self, tag: str) -> None:
        if tag == "pre":
            self._pre -= 1
        if tag in _HTML_HEADINGS:
            self.flush(heading=True)
        elif tag in _HTML_BLOCKS:
            self.flush()

    def flush(self, *, heading: bool = False) -> None:
        raw = _clean("".join(self._buf))
        self._buf.clear()
        keep_indent, self._buf_has_pre = self._buf_has_pre, False
        lines = [line.rstrip() if keep_indent else line.strip() for line in raw.split("\n")]
        text = _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip("\n")
        if not text.strip():
            return
        self.blocks.append((text, _one_line(text) if heading else None))


def _children(node: LexborNode) -> Iterator[LexborNode]:
    child = node.first_child
    while child is not None:
        yield child
        child = child.next


def _extract_html(path: Path, data: bytes, budget: FileBudget = UNLIMITED) -> Document:
    from selectolax.lexbor import LexborHTMLParser

    markup, encoding = _decode_markup(data)
    tree = LexborHTMLParser(markup)
    title_node = tree.css_first("head > title")  # not an <svg>'s <title> further down
    title = _one_line(title_node.text()) if title_node is not None else ""

    out = _HtmlText()
    root = tree.body if tree.body is not None else tree.root
    if root is None:
        raise ExtractionError("no text found")
    # An explicit stack, not recursion: deeply nested tag soup exists and must not raise
    # RecursionError.
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    visited = 0
    while stack:
        visited += 1
        if not visited % _CHECK_EVERY:
            budget.check()
        node, leaving = stack.pop()
        tag = node.tag or ""
        if leaving:
            if tag == _HTML_ROW:
                out.row_end()
            out.leave(tag)
            continue
        if tag == "-text":
            out.text(node.text_content or "")
            continue
        if tag.startswith("-") or tag in _HTML_SKIP:
            continue  # comments, doctype, and elements whose content is not page text
        if tag == "br":
            out.line_break()
            continue
        if tag in _HTML_CELLS:
            out.cell()
        out.enter(tag)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(list(_children(node))))
    out.flush()

    text, sections = _join_blocks(out.blocks)
    if not title:
        title = next((s.heading for s in sections if s.heading), "") or ""
    return Document(path, "html", text, sections, encoding, title or None)
