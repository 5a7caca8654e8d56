"""kb.chunking with the real tokenizer: chunk sizes, overlap and boundaries, windows that give
exactly what one pass gives, linear work on text without any boundary, budget and cancel."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb import chunking
from kb.budget import FileBudget, ImportCancelled, OverBudget
from kb.chunking import Chunk, chunk_document, make_splitter, split_windowed
from kb.extract import Document, Section, extract
from tests.conftest import REPO

DOCS = REPO / "tests" / "data" / "kb_zh" / "docs"
COMMON = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家"
    "学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方已经头面"
)


@pytest.fixture(scope="module")
def count() -> Callable[[str], int]:
    from kb.embedders import load_embedder

    return load_embedder().count_tokens


def unpunctuated(n: int, seed: int = 7) -> str:
    import random

    rng = random.Random(seed)
    return "".join(rng.choices(COMMON, k=n))


def text_doc(text: str) -> Document:
    return Document(Path("t.txt"), "text", text, (Section(text, 0),), "utf-8", None)


def assert_well_formed(doc: Document, chunks: list[Chunk], count: Callable[[str], int],
                       max_tokens: int) -> None:
    """Offsets point at the text, sizes fit, chunks advance, and no text is lost."""
    covered = [False] * len(doc.text)
    previous: Chunk | None = None
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert chunk.token_count == count(chunk.text) <= max_tokens
        if previous is not None:
            assert chunk.start > previous.start and chunk.end > previous.end
        for i in range(chunk.start, chunk.end):
            covered[i] = True
        previous = chunk
    lost = [ch for ch, c in zip(doc.text, covered, strict=True) if not c and not ch.isspace()]
    assert lost == []


def test_corpus_chunks_are_the_single_pass_chunks(count: Callable[[str], int]) -> None:
    """Windows change nothing on real documents: same chunks as one splitter call per section."""
    splitter = make_splitter(count, 256, 32)
    total = 0
    for path in sorted(DOCS.iterdir()):
        doc = extract(path)
        chunks = chunk_document(doc, count)
        expected = [
            (section.start + offset, text)
            for section in doc.sections
            for offset, text in splitter.chunk_indices(section.text)
        ]
        assert [(c.start, c.text) for c in chunks] == expected, path.name
        assert_well_formed(doc, chunks, count, 256)
        total += len(chunks)
    assert total > 40


def test_punctuated_chunks_end_at_sentences(count: Callable[[str], int]) -> None:
    sentence = "明镜把文档切成段落，每段都在句号处结束。"
    doc = text_doc(sentence * 400)
    chunks = chunk_document(doc, count)
    assert len(chunks) > 5
    assert all(c.text.endswith("。") for c in chunks)
    # Sizes: the range (192..256 tokens) is used, not a trickle of tiny pieces.
    assert min(c.token_count for c in chunks[:-1]) >= 256 * 3 // 4 - 20
    # Consecutive chunks overlap (32 tokens asked: a sentence or two here).
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end


def test_unpunctuated_text_is_chunked_whole(count: Callable[[str], int]) -> None:
    doc = text_doc(unpunctuated(30_000))
    chunks = chunk_document(doc, count)
    assert_well_formed(doc, chunks, count, 256)
    sizes = [c.token_count for c in chunks[:-1]]
    assert min(sizes) >= 192 and max(sizes) <= 256
    for a, b in itertools.pairwise(chunks):
        assert b.start < a.end  # overlap survives the windows


def test_windows_keep_splitter_input_linear(count: Callable[[str], int],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """No call sees more than a window, and all calls together see the text about once: the
    splitter's quadratic worst case is confined to a constant-size window."""
    seen: list[int] = []
    real = chunking.make_splitter

    class Spy:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def chunk_indices(self, text: str) -> Any:
            seen.append(len(text))
            return self.inner.chunk_indices(text)

    monkeypatch.setattr(chunking, "make_splitter", lambda *a: Spy(real(*a)))
    text = unpunctuated(200_000)
    chunks = chunk_document(text_doc(text), count)
    window = max(chunking.MIN_WINDOW_CHARS, chunking.WINDOW_CHARS_PER_TOKEN * 256)
    assert max(seen) <= window
    assert sum(seen) < 1.4 * len(text)
    assert chunks[-1].end == len(text)


words = st.sampled_from(
    ["的一是不了人", "我在有他这中大来上国", "。", "，", "！", ". ", "The quick brown fox ", " ",
     "\n", "\n\n", "   ", "😀", "e\u0301", "x" * 40, "https://example.com/a?b=c ", "# 标题\n",
     "\u3000", "\t"]
)


def check_well_formed_spans(text: str, spans: list[tuple[int, str]],
                            fits: Callable[[int, str], bool]) -> None:
    covered = [False] * len(text)
    for i, (offset, chunk) in enumerate(spans):
        assert chunk and text[offset : offset + len(chunk)] == chunk
        assert fits(offset, chunk), (offset, chunk)
        if i:
            prev_offset, prev_chunk = spans[i - 1]
            assert offset > prev_offset and offset + len(chunk) > prev_offset + len(prev_chunk)
        covered[offset : offset + len(chunk)] = [True] * len(chunk)
    assert all(c or ch.isspace() for ch, c in zip(text, covered, strict=True))


@settings(max_examples=300, deadline=None)
@given(st.lists(words, max_size=300).map("".join), st.integers(4, 48), st.integers(0, 12),
       st.integers(8, 400))
def test_tiny_windows_give_well_formed_chunks(text: str, max_tokens: int, overlap: int,
                                             window: int) -> None:
    """Tiny windows and chunk sizes exercise every cut. Chunks stay in order, within size
    and cover the text; with sizes this small the splitter's own search heuristics (which
    remember the largest chunk so far) can pick another of two equally valid cuts, so
    equality with one pass is asserted at the real sizes below."""
    from kb.embedders import load_embedder

    count = load_embedder().count_tokens
    overlap = min(overlap, max_tokens // 2)
    splitter = make_splitter(count, max_tokens, overlap)
    single = list(splitter.chunk_indices(text))
    windowed = list(split_windowed(splitter, text, window))
    # An oversize chunk is one the splitter cannot cut further (it makes those too).
    check_well_formed_spans(text, windowed,
                            lambda o, c: count(c) <= max_tokens or (o, c) in single)


@settings(max_examples=40, deadline=None)
@given(st.lists(words, min_size=300, max_size=2500).map("".join))
def test_windows_at_the_real_size_give_well_formed_chunks(text: str) -> None:
    """At the real chunk size and window, windowed chunks are in order, within size and
    cover the text. They equal the single pass's on real documents (the corpus test
    above); on adversarial mixes (a 200-character unbreakable run beside a window edge,
    found by hypothesis) the splitter may pick another equally valid cut."""
    from kb.embedders import load_embedder

    count = load_embedder().count_tokens
    splitter = make_splitter(count, 256, 32)
    window = max(chunking.MIN_WINDOW_CHARS, chunking.WINDOW_CHARS_PER_TOKEN * 256)
    single = list(splitter.chunk_indices(text))
    windowed = list(split_windowed(splitter, text, window))
    check_well_formed_spans(text, windowed,
                            lambda o, c: count(c) <= 256 or (o, c) in single)


def test_cancel_between_windows(count: Callable[[str], int]) -> None:
    checks = itertools.count()
    budget = FileBudget(None, cancelled=lambda: next(checks) >= 5)
    with pytest.raises(ImportCancelled):
        chunk_document(text_doc(unpunctuated(100_000)), count, budget=budget)
    assert next(checks) == 6  # stopped at the fifth check, not after the whole text


def test_time_budget_between_windows(count: Callable[[str], int]) -> None:
    """A clock that moves one second per look: a 10-second budget ends after ten windows."""
    ticks = itertools.count()
    budget = FileBudget(10, clock=lambda: float(next(ticks)))
    with pytest.raises(OverBudget) as info:
        chunk_document(text_doc(unpunctuated(100_000)), count, budget=budget)
    assert next(ticks) == 11  # construction read 0, checks read 1..10: 10 >= 10 stops
    assert "\n" not in info.value.reason and "10 s" in info.value.reason


@pytest.mark.parametrize("unit", ["😀", "👨\u200d👩\u200d👧", "\U0001F600\u0301"])
def test_characters_the_tokenizer_lumps_together_still_make_bounded_chunks(
        count: Callable[[str], int], unit: str) -> None:
    """The tokenizer reads a run of emoji as one unknown token: by tokens the whole text fits
    one chunk. Chunks are kept within MAX_CHARS_PER_TOKEN characters per token as well."""
    text = unit * 30_000
    doc = text_doc(text)
    chunks = chunk_document(doc, count)
    limit = chunking.MAX_CHARS_PER_TOKEN * 256
    assert len(chunks) >= len(text) // limit
    assert max(len(c.text) for c in chunks) <= limit
    assert_well_formed(doc, chunks, count, 256)
