"""kb.extract on PDF: pages, Chinese CID fonts, titles, encryption, corrupt and text-less files.

Fixtures are generated into tmp_path at run time (reportlab PDFs). The one committed binary,
tests/data/extract/aes128_empty_user_password.pdf (2 KB), needs the 'cryptography' package to
be written, which the project does not depend on; it was made with pypdf's
PdfWriter.encrypt("", owner_password="owner", algorithm="AES-128") over a one-page reportlab
PDF.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kb.extract import extract
from tests.conftest import REPO
from tests.extract_helpers import check_document, failure, make_pdf

DATA = REPO / "tests" / "data" / "extract"


def test_pdf_pages(zh_dir: Path) -> None:
    pages = [f"Page {n} says hello.\nSecond line of page {n}." for n in (1, 2, 3)]
    path = make_pdf(zh_dir / "报告.pdf", [*pages[:1], "", *pages[1:]])  # page 2 is blank
    doc = extract(path)
    check_document(doc)
    assert doc.kind == "pdf" and doc.encoding is None
    assert [s.page for s in doc.sections] == [1, 3, 4]
    for section, page_text in zip(doc.sections, pages, strict=True):
        assert section.text == page_text
        assert section.heading is None
    assert doc.text == "\n\n".join(pages)
    assert doc.title is None  # reportlab's "untitled" placeholder is not a title


def test_pdf_chinese_cid_font(zh_dir: Path) -> None:
    """reportlab's built-in STSong-Light (not embedded, UniGB-UCS2-H) is decoded by pypdf."""
    path = make_pdf(
        zh_dir / "中文.pdf", ["English line one.", "English line two."],
        chinese=["第一页：明镜知识库。", "第二页：繁體字也可以嗎？"],
    )  # fmt: skip
    doc = extract(path)
    check_document(doc)
    assert doc.sections[0].text.startswith("第一页：明镜知识库。")
    assert "第二页：繁體字也可以嗎？" in doc.sections[1].text
    assert [s.page for s in doc.sections] == [1, 2]


def test_pdf_title_from_metadata(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    source = make_pdf(tmp_path / "src.pdf", ["Body text."])
    writer = PdfWriter(clone_from=source)
    writer.add_metadata({"/Title": "年度\n总结"})
    writer.write(tmp_path / "titled.pdf")
    assert extract(tmp_path / "titled.pdf").title == "年度 总结"


def test_encrypted_pdf(zh_dir: Path) -> None:
    from pypdf import PdfWriter

    source = make_pdf(zh_dir / "src.pdf", ["Secret numbers: 42."])
    locked = PdfWriter(clone_from=source)
    locked.encrypt("secret")
    locked.write(zh_dir / "加密.pdf")
    assert failure(zh_dir / "加密.pdf") == "pdf is encrypted (password protected)"

    # "Protected" PDFs with only an owner password open with the empty user password.
    restricted = PdfWriter(clone_from=source)
    restricted.encrypt("", owner_password="owner")
    restricted.write(zh_dir / "只读.pdf")
    assert "Secret numbers: 42." in extract(zh_dir / "只读.pdf").text


def test_aes_encrypted_pdf_with_empty_password() -> None:
    path = DATA / "aes128_empty_user_password.pdf"
    try:
        import cryptography  # noqa: F401
    except ImportError:
        assert failure(path) == (
            "pdf is encrypted with AES (reading it needs the 'cryptography' package)"
        )
    else:
        doc = extract(path)
        assert "Protected but readable" in doc.text
        assert doc.title == "AES sample"


def test_corrupt_pdfs(tmp_path: Path) -> None:
    real = make_pdf(tmp_path / "real.pdf", [f"Page {n} " + "text " * 50 for n in range(5)])
    data = real.read_bytes()
    half = tmp_path / "half.pdf"
    half.write_bytes(data[: len(data) // 2])
    assert failure(half) == "corrupt pdf: file is truncated (no %%EOF marker)"

    half_marked = tmp_path / "half_marked.pdf"
    half_marked.write_bytes(data[: len(data) // 2] + b"\n%%EOF\n")
    assert failure(half_marked).startswith("corrupt pdf: ")

    noise = tmp_path / "noise.pdf"
    noise.write_bytes(random.Random(1).randbytes(5000))
    assert failure(noise) == "corrupt pdf: not a pdf file (no %PDF header)"

    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\n1 0 obj <<>> garbage\n" + bytes(range(1, 256)) + b"%%EOF\n")
    assert failure(garbage).startswith("corrupt pdf: ")


def test_pdf_without_text(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_blank_page(width=200, height=200)
    writer.write(tmp_path / "scan.pdf")
    assert failure(tmp_path / "scan.pdf") == "pdf has no extractable text (scanned images?)"


def test_pypdf_warnings_stay_off_stderr(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Junk before the header shifts every xref offset: pypdf repairs it, complaining loudly.
    real = make_pdf(tmp_path / "real.pdf", ["Shifted but fine."]).read_bytes()
    shifted = tmp_path / "shifted.pdf"
    shifted.write_bytes(b"JUNK" * 10 + real)
    caplog.set_level("DEBUG", logger="kb.extract")
    doc = extract(shifted)
    assert doc.text == "Shifted but fine."
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
    assert any(r.getMessage().startswith("pypdf: ") for r in caplog.records)
