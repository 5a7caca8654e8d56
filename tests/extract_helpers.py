"""Shared pieces of the kb.extract tests: sample texts and documents, the invariants every
Document keeps, the failure checker, and PDF/DOCX builders."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.extract import Document, ExtractionError, Section, extract

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
