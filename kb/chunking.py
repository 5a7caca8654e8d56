"""Split an extracted document into overlapping chunks measured in tokens.

semantic-text-splitter (Rust) picks the largest pieces that fit along Unicode sentence and
paragraph boundaries, which include Chinese 。！？; each chunk keeps its page, heading and
character offsets into the document text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kb.extract import Document

DEFAULT_CHUNK_TOKENS = 256
DEFAULT_OVERLAP_TOKENS = 32


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    start: int  # character offset in Document.text
    end: int
    page: int | None
    heading: str | None
    token_count: int


def chunk_document(
    doc: Document,
    count_tokens: Callable[[str], int],
    *,
    max_tokens: int = DEFAULT_CHUNK_TOKENS,
    overlap: int = DEFAULT_OVERLAP_TOKENS,
) -> list[Chunk]:
    from semantic_text_splitter import TextSplitter

    overlap = max(0, min(overlap, max_tokens // 2))
    # A range lets the splitter stop at a good boundary instead of filling to the brim.
    low = max(1, max_tokens * 3 // 4)
    splitter = TextSplitter.from_callback(count_tokens, (low, max_tokens), overlap=overlap)
    chunks: list[Chunk] = []
    for section in doc.sections:
        if not section.text.strip():
            continue
        for offset, text in splitter.chunk_indices(section.text):
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
