"""kb.extract: every supported format gives text with locations; every bad file a one-line reason.

Fixtures are generated into tmp_path at run time (reportlab PDFs, python-docx documents,
zip files, encoded text). The one committed binary, tests/data/extract/
aes128_empty_user_password.pdf (2 KB), needs the 'cryptography' package to be written, which
the project does not depend on; it was made with pypdf's PdfWriter.encrypt("", owner_password=
"owner", algorithm="AES-128") over a one-page reportlab PDF.
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kb.extract import (
    MAX_FILE_BYTES,
    SUPPORTED_SUFFIXES,
    Document,
    ExtractionError,
    Section,
    decode_text,
    extract,
    is_supported,
)
from tests.conftest import REPO

DATA = REPO / "tests" / "data" / "extract"

# About 100 characters each; the two scripts differ in most characters, so a wrong guess
# between GB18030 and Big5 cannot pass unnoticed.
SIMPLIFIED = (
    "明镜是一个在本地运行的知识库应用。它可以读取你电脑上的文档，包括文本文件、网页和表格，"
    "然后把内容整理成可以搜索的段落。所有数据都保存在你自己的电脑上，不会上传到网络。"
    "我们希望它简单、可靠，并且尊重用户的隐私。"
)
TRADITIONAL = (
    "明鏡是一個在本機執行的知識庫應用程式。它可以讀取你電腦上的文件，包括文字檔、網頁與表格，"
    "然後把內容整理成可以搜尋的段落。所有資料都儲存在你自己的電腦上，不會上傳到網路。"
    "我們希望它簡單、可靠，並且尊重使用者的隱私。"
)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def check_document(doc: Document) -> None:
    """The invariants every Document keeps, whatever the format."""
    assert doc.text.strip()
    assert "\r" not in doc.text
    assert doc.sections
    previous_end = 0
    for section in doc.sections:
        assert isinstance(section, Section)
        assert section.text
        assert doc.text[section.start : section.start + len(section.text)] == section.text
        assert section.start >= previous_end, "sections overlap or are out of order"
        previous_end = section.start + len(section.text)
        assert section.heading is None or "\n" not in section.heading
    if doc.title is not None:
        assert doc.title.strip() and "\n" not in doc.title


def failure(path: Path, **kwargs: int) -> str:
    """The reason extract() gives for `path`; checks it is a single lowercase-led line."""
    with pytest.raises(ExtractionError) as info:
        extract(path, **kwargs)
    reason = info.value.reason
    assert reason and "\n" not in reason and "\r" not in reason
    assert reason[0].islower(), reason
    assert info.value.path == path
    assert reason in str(info.value)
    return reason


@pytest.fixture
def zh_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "资料库" / "中文 文件夹"
    folder.mkdir(parents=True)
    return folder


def make_pdf(path: Path, pages: list[str], *, chinese: list[str] | None = None) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    if chinese is not None:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.cidfonts import UnicodeCIDFont

        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    for number, text in enumerate(pages):
        y = 780
        if chinese is not None:
            pdf.setFont("STSong-Light", 14)
            pdf.drawString(72, y, chinese[number])
            y -= 24
        pdf.setFont("Helvetica", 11)
        for line in text.split("\n"):
            pdf.drawString(72, y, line)
            y -= 16
        pdf.showPage()
    pdf.save()
    return path


def make_docx(path: Path) -> Path:
    import docx

    document = docx.Document()
    document.core_properties.title = ""
    document.add_heading("季度报告", level=0)  # the "Title" style
    document.add_paragraph("前言：这份报告总结了本季度的工作。")
    document.add_heading("第一章 销售", level=1)
    document.add_paragraph("销售额比上季度增长了百分之十二。")
    table = document.add_table(rows=3, cols=3)
    cells = [["地区", "销售额", "备注"], ["华东", "120", "稳定"], ["华南", "95", ""]]
    for r, row in enumerate(cells):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    table.cell(2, 1).merge(table.cell(2, 2))  # a merged cell must appear once
    document.add_heading("1.1 Details", level=2)
    document.add_paragraph("English text works too.")
    document.add_paragraph("")  # empty paragraphs are dropped
    document.add_heading("第二章 展望", level=1)
    document.add_paragraph("明年计划进入西南市场。")
    document.save(str(path))
    return path


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return path


# ---------------------------------------------------------------------------------------------
# the module itself
# ---------------------------------------------------------------------------------------------


def test_import_is_cheap() -> None:
    probe = (
        "import sys, kb.extract\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    loaded = set(out.stdout.split())
    heavy = {"pypdf", "docx", "selectolax", "charset_normalizer", "lxml", "zipfile", "PySide6"}
    assert not loaded & heavy


def test_supported_names() -> None:
    for suffix in (".txt", ".md", ".markdown", ".rst", ".pdf", ".docx", ".html", ".htm", ".py",
                   ".ts", ".tsx", ".go", ".rs", ".json", ".yaml", ".toml", ".csv", ".tex",
                   ".vue", ".dockerfile", ".sql", ".ps1", ".properties"):  # fmt: skip
        assert suffix in SUPPORTED_SUFFIXES
        assert is_supported(Path(f"a/报告{suffix}"))
    assert all(s.startswith(".") and s == s.lower() for s in SUPPORTED_SUFFIXES)
    assert is_supported(Path("REPORT.PDF"))
    for name in ("Makefile", "Dockerfile", "README", "LICENSE", ".env"):
        assert is_supported(Path("/x") / name)
    for name in ("photo.jpg", "archive.zip", "x.xyz", "noextension", "old.doc", "sheet.xlsx"):
        assert not is_supported(Path(name))
    assert MAX_FILE_BYTES == 50 * 1024 * 1024


# ---------------------------------------------------------------------------------------------
# text encodings
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "content", "expected_encoding"),
    [
        ("utf-8", SIMPLIFIED, "utf-8"),
        ("utf-8-sig", TRADITIONAL, "utf-8-sig"),
        ("utf-16", SIMPLIFIED, "utf-16"),  # Python writes a BOM (little-endian here)
        ("utf-32", TRADITIONAL, "utf-32"),
        ("gb18030", SIMPLIFIED, "gb18030"),
        ("gbk", SIMPLIFIED, "gb18030"),
        ("big5", TRADITIONAL, "big5"),
    ],
)
def test_chinese_text_files(zh_dir: Path, codec: str, content: str, expected_encoding: str) -> None:
    path = zh_dir / f"说明（{codec}）.txt"
    body = f"第一行 {codec}\r\n{content}\r\n第三行\tTab\n"
    path.write_bytes(body.encode(codec))
    doc = extract(path)
    check_document(doc)
    assert doc.text == body.replace("\r\n", "\n")
    assert doc.encoding == expected_encoding
    assert doc.kind == "text"
    assert doc.path == path
    assert [(s.start, s.page, s.heading) for s in doc.sections] == [(0, None, None)]


def test_utf16_big_endian_and_without_bom() -> None:
    text = "Config: 名称 = 明镜\nport = 8080\n"
    assert decode_text(b"\xfe\xff" + text.encode("utf-16-be")) == (text, "utf-16")
    # Without a BOM, mostly-ASCII UTF-16 is recognised by its NUL pattern.
    assert decode_text(text.encode("utf-16-le")) == (text, "utf-16")
    assert decode_text(text.encode("utf-16-be")) == (text, "utf-16")


@pytest.mark.parametrize("length", [6, 12, 30, 60, 104])
def test_short_gb18030_and_big5_are_told_apart(length: int) -> None:
    simplified, traditional = SIMPLIFIED[:length], TRADITIONAL[:length]
    assert decode_text(simplified.encode("gb18030")) == (simplified, "gb18030")
    assert decode_text(traditional.encode("big5")) == (traditional, "big5")


def test_gbk_source_file_with_chinese_comments(zh_dir: Path) -> None:
    source = "# 配置文件\nname = 'demo'  # 名称\nport = 8080  # 端口\n"
    path = zh_dir / "设置.toml"
    path.write_bytes(source.encode("gbk"))
    doc = extract(path)
    assert (doc.text, doc.encoding, doc.kind) == (source, "gb18030", "code")


@pytest.mark.parametrize(
    ("text", "codec", "expected"),
    [
        ("明鏡はローカルで動作するナレッジベースのアプリです。文書を読み込みます。", "shift_jis",
         "shift_jis"),
        ("명경은 로컬에서 실행되는 지식 베이스 애플리케이션입니다. 문서를 읽습니다.", "euc_kr",
         "euc-kr"),
        ("Café crème brûlée — naïve façade, Größe über alles. «Très bien», señor.", "cp1252",
         "cp1252"),
    ],
)  # fmt: skip
def test_other_legacy_encodings(text: str, codec: str, expected: str) -> None:
    assert decode_text(text.encode(codec)) == (text, expected)


def test_decode_cleans_newlines_and_control_characters() -> None:
    data = "a\r\nb\rc\x0cd\te\x07f\x1bg\ufeffh\n".encode()
    assert decode_text(data) == ("a\nb\nc\nd\tefgh\n", "utf-8")
    assert decode_text(b"") == ("", "utf-8")


def test_binary_bytes_are_refused() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
    for data in (png, bytes(range(1, 32)) * 100):
        with pytest.raises(ExtractionError) as info:
            decode_text(data)
        assert info.value.reason == "binary file, not text"


def test_binary_file_named_txt(zh_dir: Path) -> None:
    path = zh_dir / "其实是图片.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4000))
    assert failure(path) == "binary file, not text"
    elf = zh_dir / "program.py"
    elf.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(64) + b"code" * 50)
    assert failure(elf) == "binary file, not text"


# ---------------------------------------------------------------------------------------------
# Markdown and code
# ---------------------------------------------------------------------------------------------

MARKDOWN = """---
title: "明镜 使用手册"
tags: [kb]
---

Intro paragraph before any heading.

# 第一章 安装

Run the installer.

```bash
# this is a shell comment, not a heading
pip install mingjing
```

## 1.1 系统要求   ##

Windows 10 或更高版本。

Setext Heading
==============

Text under the setext heading.

###### 小节六

#

Final words.
"""


def test_markdown_sections(zh_dir: Path) -> None:
    path = zh_dir / "手册.md"
    path.write_text(MARKDOWN.replace("\n", "\r\n"), encoding="utf-8")
    doc = extract(path)
    check_document(doc)
    assert doc.kind == "markdown"
    assert doc.text == MARKDOWN  # the raw Markdown, newlines normalised
    assert doc.title == "明镜 使用手册"  # from front matter
    assert [s.heading for s in doc.sections] == [
        None, "第一章 安装", "1.1 系统要求", "Setext Heading", "小节六", None,
    ]  # fmt: skip
    assert doc.sections[0].text.startswith("---\ntitle:")
    install = doc.sections[1].text
    assert install.startswith("# 第一章 安装") and "pip install mingjing" in install
    assert "shell comment" in install  # the fenced '#' line stayed inside the section
    assert doc.sections[3].text.startswith("Setext Heading\n===")
    assert doc.sections[-1].text == "#\n\nFinal words."


def test_markdown_title_from_first_h1_and_no_headings(tmp_path: Path) -> None:
    path = tmp_path / "notes.markdown"
    path.write_text("## Sub first\n\ntext\n\n# Real Title\n\nmore\n", encoding="utf-8")
    doc = extract(path)
    check_document(doc)
    assert doc.title == "Real Title"
    plain = tmp_path / "plain.md"
    plain.write_text("just text, no headings\n", encoding="utf-8")
    doc = extract(plain)
    assert doc.title is None
    assert [(s.heading, s.text) for s in doc.sections] == [(None, "just text, no headings")]


def test_code_files(zh_dir: Path) -> None:
    source = 'def 问候(name: str) -> str:\n    # 返回问候语\n    return f"你好，{name}"\n'
    path = zh_dir / "问候.py"
    path.write_text(source, encoding="utf-8")
    doc = extract(path)
    check_document(doc)
    assert (doc.kind, doc.text, doc.encoding, doc.title) == ("code", source, "utf-8", None)
    assert len(doc.sections) == 1 and doc.sections[0].heading is None
    makefile = zh_dir / "Makefile"
    makefile.write_text("all:\n\techo 构建\n", encoding="utf-8")
    assert extract(makefile).kind == "code"
    readme = zh_dir / "README"
    readme.write_text("读我\n", encoding="utf-8")
    assert extract(readme).kind == "text"


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# DOCX
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=gbk">
<title>明镜 新闻
  页面</title>
<style>body { color: red; } /* 样式噪音 */</style>
<script>var noise = "脚本噪音";</script>
</head>
<body>
<noscript>请启用脚本</noscript>
<template><p>模板噪音</p></template>
<svg><title>图标噪音</title><text>SVG 噪音</text></svg>
<!-- 注释噪音 -->
<p>开头   的
段落，<b>加粗</b>和<a href="#">链接</a>。</p>
<h1>第一部分</h1>
<div>第一段<br>换行后的文字</div>
<ul><li>条目一</li><li>条目二</li></ul>
<h2>第二部分 <small>副</small></h2>
<table><tr><th>名称</th><th>数量</th></tr><tr><td>苹果</td><td>3</td></tr></table>
<pre>  缩进的
    代码</pre>
<script>document.write("更多噪音")</script>
</body></html>
"""


def test_html(zh_dir: Path) -> None:
    path = zh_dir / "新闻.html"
    path.write_bytes(HTML.encode("gbk"))
    doc = extract(path)
    check_document(doc)
    assert doc.kind == "html"
    assert doc.encoding == "gb18030"
    assert doc.title == "明镜 新闻 页面"
    assert "噪音" not in doc.text
    assert [s.heading for s in doc.sections] == [None, "第一部分", "第二部分 副"]
    assert doc.sections[0].text == "开头 的 段落，加粗和链接。"
    assert doc.sections[1].text == "第一部分\n\n第一段\n换行后的文字\n\n条目一\n\n条目二"
    assert doc.sections[2].text == "第二部分 副\n\n名称 | 数量\n苹果 | 3\n\n  缩进的\n    代码"


def test_html_charset_detection(tmp_path: Path) -> None:
    body = f"<html><body><h1>標題</h1><p>{TRADITIONAL}</p></body></html>"
    undeclared = tmp_path / "big5.htm"
    undeclared.write_bytes(body.encode("big5"))
    doc = extract(undeclared)
    assert (doc.encoding, doc.title) == ("big5", "標題")  # no <title>: first heading
    assert TRADITIONAL in doc.text

    # Declares UTF-8 but is really GB18030: the declaration does not fit, so detect.
    mislabelled = tmp_path / "lies.html"
    mislabelled.write_bytes(f'<meta charset="utf-8"><p>{SIMPLIFIED}</p>'.encode("gb18030"))
    doc = extract(mislabelled)
    assert (doc.text, doc.encoding) == (SIMPLIFIED, "gb18030")

    plain = tmp_path / "utf8.html"
    plain.write_text(f"<p>{SIMPLIFIED}</p>", encoding="utf-8")
    assert extract(plain).encoding == "utf-8"


def test_html_only_noise_and_deep_nesting(tmp_path: Path) -> None:
    noise = tmp_path / "noise.html"
    noise.write_text("<html><head><title>t</title><script>x()</script></head></html>")
    assert failure(noise) == "no text found"
    deep = tmp_path / "deep.html"
    deep.write_text("<div>" * 20_000 + "深处的文字" + "</div>" * 20_000, encoding="utf-8")
    assert extract(deep).text == "深处的文字"


def test_xml_declared_encoding(tmp_path: Path) -> None:
    xml = '<?xml version="1.0" encoding="GB2312"?>\n<配置><名称>明镜</名称></配置>\n'
    path = tmp_path / "配置.xml"
    path.write_bytes(xml.encode("gb2312"))
    doc = extract(path)
    assert (doc.kind, doc.text, doc.encoding) == ("code", xml, "gb18030")


# ---------------------------------------------------------------------------------------------
# common failures
# ---------------------------------------------------------------------------------------------


def test_missing_directory_unsupported(zh_dir: Path) -> None:
    assert failure(zh_dir / "不存在.txt") == "file not found"
    assert failure(zh_dir / "不存在" / "x.txt") == "file not found"
    folder = zh_dir / "文件夹.txt"
    folder.mkdir()
    assert failure(folder) == "is a directory"
    odd = zh_dir / "数据.xyz"
    odd.write_text("内容")
    assert failure(odd) == "unsupported file type '.xyz'"
    assert failure(zh_dir / "图片.JPG") in ("file not found",)
    (zh_dir / "图片.JPG").write_bytes(b"\xff\xd8")
    assert failure(zh_dir / "图片.JPG") == "unsupported file type '.jpg'"
    (zh_dir / "noext").write_text("x")
    assert failure(zh_dir / "noext") == "unsupported file type (no suffix)"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs mkfifo")
def test_fifo_is_not_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    assert failure(fifo) == "not a regular file"


def test_empty_whitespace_and_too_large(zh_dir: Path) -> None:
    empty = zh_dir / "空.txt"
    empty.write_bytes(b"")
    assert failure(empty) == "empty file (0 bytes)"
    blank = zh_dir / "空白.md"
    blank.write_text(" \n\t\r\n\u3000\n", encoding="utf-8")
    assert failure(blank) == "no text found"
    big = zh_dir / "大文件.txt"
    big.write_text("大" * 1000, encoding="utf-8")  # 3,000 bytes
    assert failure(big, max_bytes=1024) == "file is too large (3 KiB, limit 1 KiB)"
    assert failure(big, max_bytes=2999) == "file is too large (3 KiB, limit 2.9 KiB)"
    assert extract(big, max_bytes=3000).text == "大" * 1000
    huge = zh_dir / "huge.log"
    with huge.open("wb") as fh:  # sparse: 60 MiB without writing 60 MiB
        fh.truncate(60 * 1024 * 1024 + 1)
    assert failure(huge) == "file is too large (60.1 MiB, limit 50 MiB)"


def test_unreadable_file(zh_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = zh_dir / "机密.txt"
    path.write_text("不能读", encoding="utf-8")
    real_open = Path.open

    def denied(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "机密.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", denied)
    assert failure(path) == "cannot read file: permission denied"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files regardless of mode"
)
def test_unreadable_file_by_mode(tmp_path: Path) -> None:
    path = tmp_path / "mode.txt"
    path.write_text("x")
    path.chmod(0)
    try:
        assert failure(path) == "cannot read file: permission denied"
    finally:
        path.chmod(0o600)


def test_unexpected_errors_are_wrapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kb.extract import dispatch

    def explode(*args: object) -> Document:
        raise ValueError("parser bug\non two lines")

    monkeypatch.setattr(dispatch, "_extract_html", explode)
    path = tmp_path / "x.html"
    path.write_text("<p>hi</p>")
    assert failure(path) == "could not read html: ValueError: parser bug on two lines"


def test_error_message_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "gone.md"
    with pytest.raises(ExtractionError) as info:
        extract(path)
    assert str(info.value) == f"{path}: file not found"
    assert str(ExtractionError("a\nb")) == "a b"


# ---------------------------------------------------------------------------------------------
# robustness: mangled files never raise anything but ExtractionError
# ---------------------------------------------------------------------------------------------


def test_mangled_files_only_raise_extraction_error(tmp_path: Path) -> None:
    rng = random.Random(20261123)
    pdf = make_pdf(tmp_path / "seed.pdf", [f"Page {n} text" for n in range(3)]).read_bytes()
    docx_bytes = make_docx(tmp_path / "seed.docx").read_bytes()
    html = HTML.encode("gbk")
    markdown = MARKDOWN.encode("utf-8")
    seeds = {".pdf": pdf, ".docx": docx_bytes, ".html": html, ".md": markdown,
             ".txt": SIMPLIFIED.encode("gb18030")}  # fmt: skip
    outcomes = {"ok": 0, "failed": 0}
    for suffix, seed in seeds.items():
        for i in range(25):
            data = bytearray(seed)
            if i % 5 == 0:
                data = bytearray(rng.randbytes(rng.randint(1, 3000)))
            else:
                for _ in range(rng.randint(1, 20)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
                if i % 3 == 0:
                    del data[rng.randrange(len(data)) :]
            path = tmp_path / f"m{i}{suffix}"
            path.write_bytes(bytes(data))
            try:
                doc = extract(path)
            except ExtractionError as exc:
                assert exc.reason and "\n" not in exc.reason
                outcomes["failed"] += 1
            else:
                check_document(doc)
                outcomes["ok"] += 1
    assert outcomes["ok"] and outcomes["failed"]


def test_document_is_immutable(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("hello")
    doc = extract(path)
    with pytest.raises(AttributeError):
        doc.text = "changed"  # type: ignore[misc]
    assert isinstance(doc.sections, tuple)
    assert io.StringIO(doc.text).read() == "hello"
