"""Chunking time vs text length on unpunctuated Chinese (the worst case: no sentence or
line boundary anywhere), 20k characters to 5 MB (and 5M characters), counted with the
built-in embedder's tokenizer.

Baseline in the same run: the splitter given the whole text in one call (what chunking did
before windows), at the two smallest sizes only; it grows with the square of the length."""

from __future__ import annotations

import random
import time
from pathlib import Path

from bench.common import report

# Characters: 1.75M characters of Chinese are 5.25 MB of UTF-8; 5M characters cover "5 MB"
# read as characters too.
SIZES = [20_000, 80_000, 320_000, 1_750_000, 5_000_000]
BASELINE_SIZES = [20_000, 40_000]
# Frequent characters, drawn at random: text without a single boundary above the character.
ALPHABET = (
    "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家"
    "学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方已经头面"
)


def unpunctuated(length: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    return "".join(rng.choices(ALPHABET, k=length))


def main() -> dict[str, float]:
    from kb.chunking import chunk_document, make_splitter
    from kb.embedders import load_embedder
    from kb.extract import Document, Section

    embedder = load_embedder()
    count = embedder.count_tokens
    text = unpunctuated(max(SIZES))
    rows: list[tuple[str, str]] = []
    per_char: dict[int, float] = {}
    for size in SIZES:
        piece = text[:size]
        doc = Document(Path("bench.txt"), "text", piece, (Section(piece, 0),), "utf-8", None)
        t0 = time.perf_counter()
        chunks = chunk_document(doc, count)
        seconds = time.perf_counter() - t0
        per_char[size] = seconds / size
        mb = len(piece.encode("utf-8")) / 1e6
        rows.append((f"{size:>9,} chars ({mb:.2f} MB)",
                     f"{seconds:7.2f} s  {per_char[size] * 1e6:5.2f} us/char  "
                     f"{len(chunks):,} chunks"))
    baseline: dict[int, float] = {}
    splitter = make_splitter(count, 256, 32)
    for size in BASELINE_SIZES:
        t0 = time.perf_counter()
        splitter.chunk_indices(text[:size])
        baseline[size] = time.perf_counter() - t0
        rows.append((f"single pass (before), {size:,} chars", f"{baseline[size]:7.2f} s"))
    smallest, largest = SIZES[0], SIZES[-1]
    growth = per_char[largest] / per_char[smallest]
    rows.append((f"time per char, {largest:,} vs {smallest:,}",
                 f"{growth:.2f}x  (linear: 1.0; quadratic: {largest / smallest:.0f}x)"))
    b_small, b_large = BASELINE_SIZES
    b_growth = (baseline[b_large] / b_large) / (baseline[b_small] / b_small)
    rows.append((f"single pass per char, {b_large:,} vs {b_small:,}", f"{b_growth:.2f}x"))
    report("Chunking unpunctuated Chinese: time vs length", rows)
    return {"growth": growth, "seconds_largest": per_char[largest] * largest}


if __name__ == "__main__":
    main()
