"""kb.extract on DOCX: headings, tables and titles; zip bombs, corrupt, old and encrypted files.

Fixtures are generated into tmp_path at run time (python-docx documents, zip files).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from kb.extract import extract
from tests.extract_helpers import check_document, failure, make_docx


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return path


def test_docx(zh_dir: Path) -> None:
    doc = extract(make_docx(zh_dir / "季度报告.docx"))
    check_document(doc)
    assert doc.kind == "docx" and doc.encoding is None
    assert doc.title == "季度报告"
    assert [s.heading for s in doc.sections] == [
        "季度报告", "第一章 销售", "1.1 Details", "第二章 展望",
    ]  # fmt: skip
    sales = doc.sections[1].text
    assert sales.startswith("第一章 销售\n\n销售额比上季度增长了百分之十二。")
    assert "地区 | 销售额 | 备注\n华东 | 120 | 稳定\n华南 | 95" in sales
    assert "华南 | 95 | 95" not in sales  # the merged cell is not repeated
    assert doc.sections[0].text == "季度报告\n\n前言：这份报告总结了本季度的工作。"
    assert doc.sections[-1].text == "第二章 展望\n\n明年计划进入西南市场。"
    assert "\n\n\n" not in doc.text


def test_docx_core_title_and_localised_heading_styles(tmp_path: Path) -> None:
    import docx
    from docx.enum.style import WD_STYLE_TYPE

    document = docx.Document()
    document.core_properties.title = "核心属性标题"
    style = document.styles.add_style("标题 1", WD_STYLE_TYPE.PARAGRAPH)
    document.add_paragraph("开头的段落。")
    document.add_paragraph("自定义标题", style=style)
    document.add_paragraph("标题下的内容。")
    document.save(str(tmp_path / "wps.docx"))
    doc = extract(tmp_path / "wps.docx")
    check_document(doc)
    assert doc.title == "核心属性标题"
    assert [(s.heading, s.text) for s in doc.sections] == [
        (None, "开头的段落。"), ("自定义标题", "自定义标题\n\n标题下的内容。"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A docx-shaped zip whose document.xml inflates to 300 MiB of zeros (~300 KB on disk)."""
    path = tmp_path_factory.mktemp("bomb") / "炸弹.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = bytes(1 << 20)
            for _ in range(300):
                member.write(block)
    return path


def test_docx_zip_bomb(zip_bomb: Path) -> None:
    assert zip_bomb.stat().st_size < 1_000_000
    assert failure(zip_bomb) == "docx looks like a zip bomb (300 MiB uncompressed)"


def test_docx_zip_bomb_by_ratio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.extract import from_docx

    monkeypatch.setattr(from_docx, "DOCX_RATIO_MIN_BYTES", 1024 * 1024)
    path = write_zip(tmp_path / "ratio.docx", {"word/document.xml": bytes(2 * 1024 * 1024)})
    reason = failure(path)
    assert reason.startswith("docx looks like a zip bomb (2 MiB uncompressed from ")
    assert reason.endswith(" in word/document.xml)")


def test_corrupt_docx(zh_dir: Path) -> None:
    text_file = zh_dir / "不是文档.docx"
    text_file.write_text("这只是一个改了后缀的文本文件。", encoding="utf-8")
    assert failure(text_file).startswith("corrupt docx: not a zip archive")

    other_zip = write_zip(zh_dir / "other.docx", {"readme.txt": b"hello"})
    assert failure(other_zip) == "corrupt docx: no word/document.xml (not a Word document?)"

    real = make_docx(zh_dir / "real.docx").read_bytes()
    cut = zh_dir / "cut.docx"
    cut.write_bytes(real[: len(real) // 2])
    assert failure(cut).startswith("corrupt docx: ")

    broken_xml = write_zip(
        zh_dir / "broken.docx",
        {"[Content_Types].xml": b"<Types", "word/document.xml": b"<w:document"},
    )
    assert failure(broken_xml).startswith("corrupt docx: ")


def test_old_word_and_encrypted_docx(tmp_path: Path) -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    old = tmp_path / "old.docx"
    old.write_bytes(ole + b"WordDocument".decode().encode("utf-16-le") + bytes(1000))
    assert failure(old) == "corrupt docx: this is an old binary Word .doc file, not .docx"
    locked = tmp_path / "locked.docx"
    locked.write_bytes(ole + "EncryptedPackage".encode("utf-16-le") + bytes(1000))
    assert failure(locked) == "docx is encrypted (password protected)"
