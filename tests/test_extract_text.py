"""kb.extract on text formats: plain text in every common Chinese and legacy encoding,
Markdown sections and titles, source code, HTML (noise stripped, charset found) and XML."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kb.extract import ExtractionError, decode_text, extract
from tests.extract_helpers import (
    HTML,
    MARKDOWN,
    SIMPLIFIED,
    TRADITIONAL,
    check_document,
    failure,
)

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
# HTML
# ---------------------------------------------------------------------------------------------


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
