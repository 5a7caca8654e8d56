"""Write a DOCX and an AES-encrypted PDF (no password to open: empty user password) with
Chinese and English text into a folder, for check_bundle.sh: the bundle must extract both
(python-docx + lxml; pypdf + cryptography). Run with the build environment's Python.

    python packaging/make_fixtures.py FOLDER"""

from __future__ import annotations

import sys
from pathlib import Path


def write_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("量化", level=1)
    document.add_paragraph("量化把模型权重从十六位浮点数压缩到四位整数。")
    document.add_paragraph("Quantization shrinks weights.")
    document.save(str(path))


def write_pdf(path: Path) -> None:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    page = writer.add_blank_page(width=612, height=792)
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"),
        NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    })
    page[NameObject("/Resources")] = DictionaryObject({
        NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)}),
    })
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 18 Tf 72 720 Td (Sliding window attention keeps 512 tokens.) Tj ET")
    page[NameObject("/Contents")] = writer._add_object(stream)
    writer.encrypt(user_password="", owner_password="owner", algorithm="AES-256")
    with path.open("wb") as f:
        writer.write(f)


def main(argv: list[str]) -> int:
    folder = Path(argv[0])
    folder.mkdir(parents=True, exist_ok=True)
    write_docx(folder / "量化.docx")
    write_pdf(folder / "attention.pdf")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
