"""Split an extracted document into overlapping chunks measured in tokens.

semantic-text-splitter (Rust) picks the largest pieces that fit along Unicode sentence and
paragraph boundaries, which include Chinese 。！？; each chunk keeps its page, heading and
character offsets into the document text.

Long sections are handed to the splitter one window at a time. Its cost grows with the
square of the text it is given when no sentence or line boundary is near (unpunctuated
Chinese, minified code: 160k characters took 42 s, 5 MB would take hours); windows of a few
thousand characters keep chunking linear, and the budget is checked between them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from kb.budget import UNLIMITED, FileBudget
from kb.extract import Document

DEFAULT_CHUNK_TOKENS = 256
DEFAULT_OVERLAP_TOKENS = 32

# Characters handed to the splitter at once: this many per token of the chunk size (2,048
# for 256 tokens), enough for a few chunks of any script, small enough that the worst case
# (no boundary at all) stays at a few milliseconds per window.
WINDOW_CHARS_PER_TOKEN: Final = 8
MIN_WINDOW_CHARS: Final = 1024
# A chunk ending this close to a window's cut might have been shaped by the cut (the end of
# the window looks like the end of the text); it is redone in the next window.
WINDOW_MARGIN_CHARS: Final = 64
# Characters per token of the chunk size a chunk may span (4,096 for 256 tokens). The
# embedder's tokenizer reads a run of characters it does not know (emoji, rare scripts) as a
# single token: 100,000 emoji were one "4-token" chunk. Longer chunks are cut by characters.
MAX_CHARS_PER_TOKEN: Final = 16


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    start: int  # character offset in Document.text
    end: int
    page: int | None
    heading: str | None
    token_count: int


def make_splitter(count_tokens: Callable[[str], int], max_tokens: int, overlap: int) -> Any:
    from semantic_text_splitter import TextSplitter

    # A range lets the splitter stop at a good boundary instead of filling to the brim.
    low = max(1, max_tokens * 3 // 4)
    return TextSplitter.from_callback(count_tokens, (low, max_tokens), overlap=overlap)


def chunk_document(
    doc: Document,
    count_tokens: Callable[[str], int],
    *,
    max_tokens: int = DEFAULT_CHUNK_TOKENS,
    overlap: int = DEFAULT_OVERLAP_TOKENS,
    budget: FileBudget = UNLIMITED,
) -> list[Chunk]:
    """Chunks of every section, in order. `budget.check()` runs between windows, so a cancel
    or an exhausted time budget stops a long document within milliseconds."""
    max_tokens = max(1, max_tokens)
    overlap = max(0, min(overlap, max_tokens // 2))
    splitter = make_splitter(count_tokens, max_tokens, overlap)
    window = max(MIN_WINDOW_CHARS, WINDOW_CHARS_PER_TOKEN * max_tokens)
    max_chars = MAX_CHARS_PER_TOKEN * max_tokens
    chunks: list[Chunk] = []
    for section in doc.sections:
        budget.check()
        if not section.text.strip():
            continue
        for offset, text in _within_chars(
            split_windowed(splitter, section.text, window, budget), max_chars, budget
        ):
            start = section.start + offset
            chunks.append(
                Chunk(
                    text=text,
                    start=start,
                    end=start + len(text),
                    page=section.page,
                    heading=section.heading,
                    token_count=count_tokens(text),
                )
            )
    return chunks


def _within_chars(
    pieces: Iterator[tuple[int, str]], max_chars: int, budget: FileBudget
) -> Iterator[tuple[int, str]]:
    """The pieces, with any longer than `max_chars` characters cut at the best boundaries
    that keep them within it."""
    by_chars: Any = None
    for offset, text in pieces:
        if len(text) <= max_chars:
            yield offset, text
            continue
        if by_chars is None:
            from semantic_text_splitter import TextSplitter

            by_chars = TextSplitter((max_chars * 3 // 4, max_chars))
        for sub_offset, sub in split_windowed(by_chars, text, 4 * max_chars, budget):
            yield offset + sub_offset, sub


def split_windowed(
    splitter: Any, text: str, window: int, budget: FileBudget = UNLIMITED
) -> Iterator[tuple[int, str]]:
    """(offset, chunk) pairs as `splitter.chunk_indices(text)` gives them, computed over
    windows of about `window` characters.

    Each window's last chunk (and any ending within WINDOW_MARGIN_CHARS of the cut) is
    dropped and the next window starts where it started, so every chunk kept was made with
    the same text ahead of it as a single pass would have had, and the overlap between the
    last chunk kept and the next one is the splitter's own. Like the splitter, a chunk that
    ends where an earlier one ended (or before) is not emitted again."""
    pos, size = 0, len(text)
    span = window
    emitted_end = 0  # the splitter's prev_item_end, carried across windows
    while pos < size:
        budget.check()
        end = min(size, pos + span)
        pieces = splitter.chunk_indices(text[pos:end])
        if end == size:
            for offset, chunk in pieces:
                if pos + offset + len(chunk) > emitted_end:
                    yield pos + offset, chunk
            return
        if not pieces:  # only whitespace up to the cut
            pos = end
            continue
        limit = end - pos - WINDOW_MARGIN_CHARS
        keep = len(pieces) - 1
        while keep > 0 and pieces[keep - 1][0] + len(pieces[keep - 1][1]) > limit:
            keep -= 1
        if keep == 0:  # one chunk spans the window (long tokens): look further ahead
            span *= 2
            continue
        advance = pieces[keep][0]
        if advance <= 0:  # cannot happen with a sane splitter; never loop forever
            span *= 2
            continue
        for offset, chunk in pieces[:keep]:
            if pos + offset + len(chunk) > emitted_end:
                emitted_end = pos + offset + len(chunk)
                yield pos + offset, chunk
        pos += advance
        span = window


def document_title(doc: Document) -> str:
    """What a document is about, for its chunks' context: its own title, else its file name
    made readable ("personal_finance-basics.txt" -> "personal finance basics")."""
    if doc.title:
        return doc.title
    from kb.filenames import unicode_path  # a name that is not text is shown as text

    stem = unicode_path(doc.path.stem)
    return " ".join(stem.replace("_", " ").replace("-", " ").split())


def passage_text(text: str, heading: str | None, title: str | None) -> str:
    """What is embedded and keyword-indexed for a chunk: the document's title and the
    section heading, then the chunk's own words. A chunk often never names what it is about
    ("the Pro licence costs $18" in a product's manual); each is left out where the text
    already opens with it."""
    head: list[str] = []
    for part in (title, heading):
        if part and part not in head and part not in text[: len(part) + 8]:
            head.append(part)
    return "\n".join([*head, text])
