"""Extraction of hostile files is bounded and cancellable: crafted PDFs (pages that inflate to
tens of MB of whitespace, millions of operators), huge DOCX/HTML/Markdown, checked with a
budget that cancels or runs out after a counted number of looks (never a wall clock)."""

from __future__ import annotations

import itertools
import zlib
from pathlib import Path
from typing import Any

import pytest

import kb.extract
from kb.budget import FileBudget, ImportCancelled, OverBudget
from kb.extract import ExtractionError, extract, from_pdf

MIB = 1024 * 1024


def raw_pdf(pages: list[bytes]) -> bytes:
    """A minimal PDF, one Flate-compressed content stream per page, Helvetica as /F1."""
    body: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    kids = []
    number = 4
    for content in pages:
        packed = zlib.compress(content, 9)
        kids.append(number)
        body[number] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (number + 1)
        )
        body[number + 1] = (
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed
            + b"\nendstream"
        )
        number += 2
    refs = b" ".join(b"%d 0 R" % k for k in kids)
    body[2] = b"<< /Type /Pages /Kids [" + refs + b"] /Count %d >>" % len(kids)
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for key in sorted(body):
        offsets[key] = len(out)
        out += b"%d 0 obj\n" % key + body[key] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % number
    for key in range(1, number):
        out += b"%010d 00000 n \n" % offsets[key]
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (number, xref)
    return bytes(out)


def text_op(text: str, y: int = 700) -> bytes:
    return b"BT /F1 12 Tf 72 %d Td (%s) Tj ET\n" % (y, text.encode("latin-1"))


def cancel_after(n: int) -> tuple[FileBudget, itertools.count[int]]:
    """A budget that cancels at its n-th look; the counter tells how many looks were made."""
    looks = itertools.count(1)
    return FileBudget(None, cancelled=lambda: next(looks) >= n), looks


def test_whitespace_bomb_pages_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages inflating to 24 MiB of whitespace each (spaces, line breaks, NULs, tabs) from a
    small file: compacted before pypdf's byte-at-a-time tokenizer sees them, text intact."""
    fillers = [b" " * (24 * MIB), b"\r\n" * (12 * MIB), b"\x00\t\x0c " * (6 * MIB)]
    pages = [text_op(f"Page {i} start") + f + text_op(f"Page {i} end", 680)
             for i, f in enumerate(fillers)]
    path = tmp_path / "whitespace.pdf"
    path.write_bytes(raw_pdf(pages))
    assert path.stat().st_size < 200 * 1024
    compacted: list[int] = []
    real = from_pdf._compact_pdf_content

    def spy(data: bytes) -> bytes:
        out = real(data)
        compacted.append(len(out))
        return out

    monkeypatch.setattr(from_pdf, "_compact_pdf_content", spy)
    doc = extract(path)
    assert [s.page for s in doc.sections] == [1, 2, 3]
    for i, section in enumerate(doc.sections):
        assert section.text.split("\n") == [f"Page {i} start", f"Page {i} end"]
    assert len(compacted) == 3 and max(compacted) < 200


def test_compaction_keeps_comments_and_text(tmp_path: Path) -> None:
    """A line break ends a % comment: compaction keeps one, so the next operator survives.
    The same page extracted by pypdf directly gives the same words."""
    from pypdf import PdfReader

    lines = [b"% a comment that must end at the line break\n",
             text_op("Kept   after   comment"), b" \t\r\n" * 300_000]
    lines += [text_op(f"Line {n} of a long but real page", 700 - n % 600) for n in range(2000)]
    path = tmp_path / "big.pdf"
    path.write_bytes(raw_pdf([b"".join(lines)]))
    text = extract(path).text
    assert text.startswith("Kept after comment")
    direct = PdfReader(path).pages[0].extract_text()
    assert text.split() == direct.split()


def test_operator_bomb_is_cancelled_inside_the_page(tmp_path: Path) -> None:
    """A 7 KB PDF whose one page holds 1.5 million operators: pypdf parses it for seconds
    before giving up; cancel is honoured while it parses (after a thousand tokens)."""
    path = tmp_path / "operators.pdf"
    path.write_bytes(raw_pdf([text_op("Hello") + b"q Q\n" * 1_500_000]))
    assert path.stat().st_size < 16 * 1024
    budget, looks = cancel_after(4)
    with pytest.raises(ImportCancelled):
        extract(path, budget=budget)
    # Looks: after reading the file, before the page, after compacting it, then inside the
    # parse, every 1,024 tokens: the 4th, after ~1k of the 3 million tokens, cancels.
    assert next(looks) == 5


def test_cancel_between_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "pages.pdf"
    path.write_bytes(raw_pdf([text_op(f"Page {i}") for i in range(10)]))
    read: list[int] = []
    real = from_pdf._pdf_page_text

    def spy(reader: Any, page: Any, budget: FileBudget) -> str:
        read.append(1)
        return real(reader, page, budget)

    monkeypatch.setattr(from_pdf, "_pdf_page_text", spy)
    budget, _ = cancel_after(4)  # 1: file read, 2: page 1, 3: page 2, 4: before page 3
    with pytest.raises(ImportCancelled):
        extract(path, budget=budget)
    assert len(read) == 2
    assert len(extract(path).sections) == 10


def test_time_budget_between_pages(tmp_path: Path) -> None:
    """A clock that moves one second per look and a 5-second budget: a 10-page PDF runs out
    before its end; the reason is one line naming the limit."""
    path = tmp_path / "slow.pdf"
    path.write_bytes(raw_pdf([text_op(f"Page {i}") for i in range(10)]))
    ticks = itertools.count()
    with pytest.raises(OverBudget) as info:
        extract(path, budget=FileBudget(5, clock=lambda: float(next(ticks))))
    assert info.value.reason == (
        "gave up after 5 s: reading and splitting this file takes longer than the time "
        "limit for one file"
    )
    ticks = itertools.count()
    assert len(extract(path, budget=FileBudget(60, clock=lambda: float(next(ticks))))
               .sections) == 10


def test_pdf_past_pypdf_limits_is_one_reason(tmp_path: Path) -> None:
    """Past pypdf's own parsing limit (lowered here from 2 million tokens to keep the test
    short) a page fails; a PDF whose every page fails gets one line."""
    from pypdf import apply_configuration

    path = tmp_path / "operators_only.pdf"
    path.write_bytes(raw_pdf([b"q Q\n" * 600_000] * 2))
    with apply_configuration(stream_parsing_work_maximum_count=100_000), \
            pytest.raises(ExtractionError) as info:
        extract(path)
    assert info.value.reason == (
        "pdf is too complex to read (past a safety limit of the PDF reader: Reached maximum "
        "number of tokens per stream.)"
    )


def test_docx_cancel_between_blocks(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    for n in range(3000):
        document.add_paragraph(f"第 {n} 段。")
    path = tmp_path / "long.docx"
    document.save(str(path))
    budget, looks = cancel_after(50)
    with pytest.raises(ImportCancelled):
        extract(path, budget=budget)
    assert next(looks) == 51


def test_html_cancel_during_the_walk(tmp_path: Path) -> None:
    path = tmp_path / "wide.html"
    path.write_text("<html><body>" + "<p>段落</p>" * 50_000 + "</body></html>",
                    encoding="utf-8")
    budget, looks = cancel_after(10)  # 1 look after reading, then one per 1,024 nodes
    with pytest.raises(ImportCancelled):
        extract(path, budget=budget)
    assert next(looks) == 11


def test_markdown_cancel_between_lines(tmp_path: Path) -> None:
    path = tmp_path / "long.md"
    path.write_text("# 标题\n" + "一行文字\n" * 200_000, encoding="utf-8")
    budget, looks = cancel_after(20)
    with pytest.raises(ImportCancelled):
        extract(path, budget=budget)
    assert next(looks) == 21


def test_markdown_of_nothing_but_headings(tmp_path: Path) -> None:
    """30,000 one-line headings: sections stop at MAX_SECTIONS (a 50 MiB file of them would
    otherwise be 13 million sections), every line's text is still there."""
    path = tmp_path / "headings.md"
    path.write_text("".join(f"# 标题{i}\n" for i in range(30_000)), encoding="utf-8")
    doc = extract(path)
    # The first cut is the (empty) text before the first heading.
    assert len(doc.sections) == kb.extract.MAX_SECTIONS - 1
    assert doc.sections[-1].text.endswith("# 标题29999")
    assert doc.sections[-1].heading == f"标题{kb.extract.MAX_SECTIONS - 2}"
    covered = "".join(s.text + "\n" for s in doc.sections)
    assert covered == path.read_text(encoding="utf-8")


def test_html_of_nothing_but_headings(tmp_path: Path) -> None:
    path = tmp_path / "headings.html"
    path.write_text("<body>" + "".join(f"<h2>标题{i}</h2>" for i in range(25_000)) + "</body>",
                    encoding="utf-8")
    doc = extract(path)
    assert len(doc.sections) == kb.extract.MAX_SECTIONS - 1
    assert doc.sections[-1].text.endswith("标题24999")
