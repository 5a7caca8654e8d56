"""kb.extract: every supported format gives text with locations; every bad file a one-line reason.

This file covers the module itself, the failures common to every format and mangled files;
the formats have their own files (test_extract_text.py, test_extract_pdf.py,
test_extract_docx.py), shared pieces are in tests/extract_helpers.py.
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from kb.extract import (
    MAX_FILE_BYTES,
    SUPPORTED_SUFFIXES,
    Document,
    ExtractionError,
    extract,
    is_supported,
)
from tests.conftest import REPO
from tests.extract_helpers import (
    HTML,
    MARKDOWN,
    SIMPLIFIED,
    check_document,
    failure,
    make_docx,
    make_pdf,
)

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
