"""Turn one file on disk into plain text with locations, or a one-line reason why not.

This is the knowledge base's only door to file formats: the indexer hands it a path and gets
back a `Document` (the whole text plus `Section`s that say which page or heading each piece
came from) or an `ExtractionError` whose `reason` can be shown to the user as is.

Formats: plain text and source/config files in any of the encodings Chinese users meet
(UTF-8/16/32, GB18030/GBK, Big5, plus Shift_JIS, EUC-KR and Windows-1252), Markdown, PDF
(pypdf), DOCX (python-docx) and HTML (selectolax/Lexbor). The parsing libraries are imported
inside the functions that need them so that importing this package stays cheap.

The parts, one job each:

- `common`: the result types, the error, the size limits, the wording of failures;
- `kinds`: which file names are accepted and what kind of document each is;
- `dispatch`: `extract` itself: checks, reading the bytes, handing them to a reader;
- `sections`: cleaning text and cutting it into sections;
- `decoding` and `legacy_encodings`: bytes to text, detecting the encoding;
- `from_text`, `from_pdf`, `from_docx`, `from_html`: one reader per kind of file.
"""

from __future__ import annotations

from kb.extract.common import MAX_FILE_BYTES, Document, ExtractionError, Section, too_large_reason
from kb.extract.common import MAX_SECTIONS as MAX_SECTIONS
from kb.extract.decoding import decode_text
from kb.extract.dispatch import extract
from kb.extract.from_docx import DOCX_MAX_RATIO as DOCX_MAX_RATIO
from kb.extract.from_docx import DOCX_MAX_UNCOMPRESSED as DOCX_MAX_UNCOMPRESSED
from kb.extract.from_docx import DOCX_RATIO_MIN_BYTES as DOCX_RATIO_MIN_BYTES
from kb.extract.kinds import SUPPORTED_SUFFIXES, is_supported

__all__ = [
    "MAX_FILE_BYTES",
    "SUPPORTED_SUFFIXES",
    "Document",
    "ExtractionError",
    "Section",
    "decode_text",
    "extract",
    "is_supported",
    "too_large_reason",
]
