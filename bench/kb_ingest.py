"""Ingest throughput: the whole import pipeline vs the embedder's bare encode rate.

Both run on the same chunk texts in the same run: first the chunks are produced once to
get the texts, then (a) the embedder encodes them alone, (b) a fresh knowledge base
imports the folder (scan, hash, extract, chunk, jieba terms, embed, SQLite writes)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from bench.common import report

COPIES = 20  # x 10 documents of the Chinese evaluation set


def make_corpus(root: Path) -> Path:
    src = Path(__file__).resolve().parent.parent / "tests" / "data" / "kb_zh" / "docs"
    folder = root / "corpus"
    for i in range(COPIES):
        target = folder / f"copy{i:02d}"
        shutil.copytree(src, target)
        for path in target.iterdir():  # make every copy distinct content
            if path.suffix in (".md", ".txt") and "gb18030" not in path.name:
                path.write_text(f"# 副本 {i}\n" + path.read_text(encoding="utf-8"),
                                encoding="utf-8")
    return folder


def main() -> dict[str, float]:
    from kb.chunking import chunk_document, document_title, passage_text
    from kb.embedders import load_embedder
    from kb.extract import extract
    from kb.indexer import Indexer, scan
    from kb.store import KnowledgeStore

    root = Path(tempfile.mkdtemp(prefix="mingjing-ingest-"))
    folder = make_corpus(root)
    embedder = load_embedder()
    files, _, _ = scan([folder])
    texts = []
    for path in files:
        doc = extract(path)
        title = document_title(doc)
        for chunk in chunk_document(doc, embedder.count_tokens):
            texts.append(passage_text(chunk.text, chunk.heading, title))
    embedder.encode(texts[:64])  # warm-up
    t0 = time.perf_counter()
    for start in range(0, len(texts), 64):
        embedder.encode(texts[start : start + 64])
    bare_s = time.perf_counter() - t0

    store = KnowledgeStore(root / "k.db")
    t0 = time.perf_counter()
    result = Indexer(store).add("bench", [folder])
    pipeline_s = time.perf_counter() - t0
    store.close()
    assert result.chunks == len(texts), (result.chunks, len(texts))
    bare_rate, pipe_rate = len(texts) / bare_s, result.chunks / pipeline_s
    overhead = 1 - pipe_rate / bare_rate
    report(
        f"Ingest: {len(files)} files, {len(texts)} chunks",
        [
            ("bare encode", f"{bare_rate:.1f} chunks/s ({bare_s:.2f} s)"),
            ("full import pipeline", f"{pipe_rate:.1f} chunks/s ({pipeline_s:.2f} s)"),
            ("pipeline overhead", f"{overhead * 100:.1f} %  (target <= 20 %)"),
        ],
    )
    shutil.rmtree(root, ignore_errors=True)
    return {"bare_chunks_s": bare_rate, "pipeline_chunks_s": pipe_rate, "overhead": overhead}


if __name__ == "__main__":
    main()
