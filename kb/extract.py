"""Turn one file on disk into plain text with locations, or a one-line reason why not.

This is the knowledge base's only door to file formats: the indexer hands it a path and gets
back a `Document` (the whole text plus `Section`s that say which page or heading each piece
came from) or an `ExtractionError` whose `reason` can be shown to the user as is.

Formats: plain text and source/config files in any of the encodings Chinese users meet
(UTF-8/16/32, GB18030/GBK, Big5, plus Shift_JIS, EUC-KR and Windows-1252), Markdown, PDF
(pypdf), DOCX (python-docx) and HTML (selectolax/Lexbor). The parsing libraries are imported
inside the functions that need them so that importing this module stays cheap.
"""

from __future__ import annotations

import codecs
import io
import itertools
import logging
import math
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from kb.budget import UNLIMITED, FileBudget, ImportCancelled, OverBudget

if TYPE_CHECKING:
    from docx.table import Table
    from docx.text.paragraph import Paragraph
    from selectolax.lexbor import LexborNode

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

_log = logging.getLogger(__name__)

_KB: Final = 1024
_MB: Final = 1024 * 1024

# Lines, DOM nodes or PDF operators between two looks at the budget (a look costs ~0.1 us).
_CHECK_EVERY: Final = 1024
# Sections (headings) per document. A 50 MiB file of nothing but "# a" lines would otherwise
# make 13 million of them (gigabytes); past this, headings stop starting sections.
MAX_SECTIONS: Final = 20_000

MAX_FILE_BYTES: Final = 50 * _MB
"""Default limit on the size of a file `extract` will read; callers may pass their own."""

# A .docx is a zip; python-docx inflates every part into memory, so a small archive that
# inflates to gigabytes would take the whole app down. These bound what we agree to inflate.
DOCX_MAX_UNCOMPRESSED = 200 * _MB
DOCX_MAX_RATIO = 100
DOCX_RATIO_MIN_BYTES = 10 * _MB

# ---------------------------------------------------------------------------------------------
# What we accept
# ---------------------------------------------------------------------------------------------

_TEXT_SUFFIXES: Final = frozenset({".txt", ".text", ".log", ".rst", ".csv", ".tsv", ".tex"})
_MARKDOWN_SUFFIXES: Final = frozenset({".md", ".markdown"})
_HTML_SUFFIXES: Final = frozenset({".html", ".htm", ".xhtml"})
_CODE_SUFFIXES: Final = frozenset(
    {
        # programming languages
        ".py", ".pyi", ".js", ".mjs", ".cjs", ".ts", ".tsx", ".jsx", ".java", ".c", ".h",
        ".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx", ".cs", ".go", ".rs", ".rb", ".php",
        ".swift", ".kt", ".kts", ".scala", ".sh", ".bash", ".zsh", ".fish", ".ps1", ".bat",
        ".cmd", ".sql", ".r", ".m", ".lua", ".pl", ".pm", ".dart", ".vue", ".svelte",
        # styles, data and configuration
        ".css", ".scss", ".sass", ".less", ".json", ".jsonl", ".yaml", ".yml", ".toml",
        ".ini", ".cfg", ".conf", ".xml", ".env", ".properties", ".gradle", ".cmake", ".mk",
        ".dockerfile",
    }
)  # fmt: skip
_BINARY_SUFFIXES: Final = {".pdf": "pdf", ".docx": "docx"}

SUPPORTED_SUFFIXES: Final[frozenset[str]] = frozenset(
    _TEXT_SUFFIXES | _MARKDOWN_SUFFIXES | _HTML_SUFFIXES | _CODE_SUFFIXES | set(_BINARY_SUFFIXES)
)
"""Lower-case suffixes (with the dot) that `extract` can read."""

# Files that conventionally carry no suffix (lower-cased name -> kind). Dot-files such as
# ".env" have an empty `Path.suffix`, so they are matched by name too.
_SPECIAL_NAMES: Final = {
    "makefile": "code", "gnumakefile": "code", "dockerfile": "code", "containerfile": "code",
    "jenkinsfile": "code", "vagrantfile": "code", "gemfile": "code", "rakefile": "code",
    "procfile": "code", ".env": "code", ".gitignore": "code", ".editorconfig": "code",
    "readme": "text", "license": "text", "licence": "text", "copying": "text",
    "authors": "text", "changelog": "text", "notice": "text",
}  # fmt: skip

# ---------------------------------------------------------------------------------------------
# Public types
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Section:
    """A piece of a document's text and where it came from.

    `text` is always the slice `document.text[start:start + len(text)]`.
    """

    text: str
    start: int
    page: int | None = None
    heading: str | None = None


@dataclass(frozen=True, slots=True)
class Document:
    """Everything extracted from one file."""

    path: Path
    kind: str  # "text" | "markdown" | "code" | "pdf" | "docx" | "html"
    text: str
    sections: tuple[Section, ...]
    encoding: str | None  # the detected encoding for text-based files, None for PDF/DOCX
    title: str | None


class ExtractionError(Exception):
    """A file that cannot be turned into text; `reason` is one line, fit for the user."""

    def __init__(self, reason: str, path: Path | None = None) -> None:
        self.reason = _one_line(reason)
        self.path = path
        super().__init__(self.reason)

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path is not None else self.reason


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def is_supported(path: Path) -> bool:
    """Whether `extract` knows how to read a file with this name (the file is not opened)."""
    return _kind_of(Path(path)) is not None


def extract(
    path: Path, *, max_bytes: int = MAX_FILE_BYTES, budget: FileBudget = UNLIMITED
) -> Document:
    """Read `path` and return its text with locations.

    Raises `ExtractionError` (and nothing else) for any file that cannot be read: missing,
    unsupported, too large, empty, binary, encrypted, corrupt, or without text; and the
    budget's `ImportCancelled` / `OverBudget`, checked between pages and blocks.
    """
    path = Path(path)
    try:
        return _extract(path, max_bytes, budget)
    except ExtractionError as exc:
        exc.path = path
        raise


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode the bytes of a text file; return (text with "\\n" newlines, encoding name).

    Order: byte-order marks, then strict UTF-8, then a choice among the legacy encodings
    (GB18030, Big5, Shift_JIS, EUC-KR, Windows-1252/Latin-1) that charset-normalizer
    proposes and a CJK plausibility score confirms. Raises `ExtractionError("binary file,
    not text")` for bytes that are evidently not text.
    """
    if not data:
        return "", "utf-8"
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            return _finish_decode(data[len(bom) :].decode(codec, errors="replace"), name)
    unicode_codec = _bomless_unicode(data)
    if unicode_codec is not None:
        name = "utf-32" if "32" in unicode_codec else "utf-16"
        return _finish_decode(data.decode(unicode_codec, errors="replace"), name)
    # NUL never occurs in text in any of the remaining encodings; it is the classic sign of
    # an executable, image or archive that was given a text suffix.
    if b"\x00" in data[:8192]:
        raise ExtractionError("binary file, not text")
    try:
        return _finish_decode(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    codec, name = _guess_legacy_encoding(data)
    return _finish_decode(data.decode(codec, errors="replace"), name)


# ---------------------------------------------------------------------------------------------
# Dispatch, reading and the shared failure modes
# ---------------------------------------------------------------------------------------------


def _kind_of(path: Path) -> str | None:
    name = path.name.lower()
    if name in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[name]
    suffix = path.suffix.lower()
    if suffix in _BINARY_SUFFIXES:
        return _BINARY_SUFFIXES[suffix]
    if suffix in _HTML_SUFFIXES:
        return "html"
    if suffix in _MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in _CODE_SUFFIXES:
        return "code"
    if suffix in _TEXT_SUFFIXES:
        return "text"
    return None


def _extract(path: Path, max_bytes: int, budget: FileBudget) -> Document:
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise ExtractionError("file not found") from None
    except PermissionError:
        raise ExtractionError("cannot read file: permission denied") from None
    except OSError as exc:
        raise ExtractionError(f"cannot read file: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise ExtractionError("is a directory")
    kind = _kind_of(path)
    if kind is None:
        suffix = path.suffix.lower()
        raise ExtractionError(
            f"unsupported file type '{suffix}'" if suffix else "unsupported file type (no suffix)"
        )
    if not stat.S_ISREG(st.st_mode):
        # Opening a FIFO or device would block or never end.
        raise ExtractionError("not a regular file")
    if st.st_size == 0:
        raise ExtractionError("empty file (0 bytes)")
    if st.st_size > max_bytes:
        raise ExtractionError(too_large_reason(st.st_size, max_bytes))
    data = _read_bytes(path, max_bytes)
    budget.check()

    try:
        if kind == "pdf":
            doc = _extract_pdf(path, data, budget)
        elif kind == "docx":
            doc = _extract_docx(path, data, budget)
        elif kind == "html":
            doc = _extract_html(path, data, budget)
        else:
            doc = _extract_text(path, data, kind, budget)
    except (ExtractionError, ImportCancelled, OverBudget):
        raise
    except Exception as exc:  # a parser bug or a file shape nobody anticipated
        _log.debug("unexpected failure extracting %s", path, exc_info=True)
        raise ExtractionError(f"could not read {kind}: {_describe(exc)}") from exc
    if not doc.text.strip():
        raise ExtractionError("no text found")
    return doc


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as fh:
            # One byte more than allowed tells us if the file grew since stat().
            data = fh.read(max_bytes + 1)
    except (FileNotFoundError, NotADirectoryError):
        raise ExtractionError("file not found") from None
    except IsADirectoryError:
        raise ExtractionError("is a directory") from None
    except PermissionError:
        raise ExtractionError("cannot read file: permission denied") from None
    except OSError as exc:
        raise ExtractionError(f"cannot read file: {exc.strerror or exc}") from None
    if not data:
        raise ExtractionError("empty file (0 bytes)")
    if len(data) > max_bytes:
        raise ExtractionError(too_large_reason(len(data), max_bytes))
    return data


def too_large_reason(size: int, limit: int) -> str:
    """The one-line reason for a file over the size limit, in binary units like the limit."""
    return f"file is too large ({_format_size(size, up=True)}, limit {_format_size(limit)})"


def _format_size(n: int, *, up: bool = False) -> str:
    """Human size in binary units with one decimal ("50 MiB" for 50 * 1024 * 1024 bytes);
    rounding `up` keeps "50.1 MiB over a 50 MiB limit" honest."""
    for unit, scale in (("MiB", _MB), ("KiB", _KB)):
        if n >= scale:
            value = n / scale
            value = math.ceil(value * 10) / 10 if up else math.floor(value * 10) / 10
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} bytes"


def _one_line(text: str, limit: int = 240) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _describe(exc: BaseException) -> str:
    message = _one_line(str(exc), 160)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# Text cleaning and sections
# ---------------------------------------------------------------------------------------------

# C0/C1 control characters other than tab and newline, DEL, and stray byte-order marks.
_CONTROL_RE: Final = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ufeff\ufffe]")
_LINE_BREAKS: Final = str.maketrans(dict.fromkeys("\r\v\f\x1c\x1d\x1e\u2028\u2029", "\n"))
# Characters that say "this is not text" when they make up a noticeable share of a file.
_BINARYISH_RE: Final = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f\ufffd]")


def _clean(text: str) -> str:
    """Newlines to "\\n"; drop control characters that only confuse search and display."""
    text = text.replace("\r\n", "\n").translate(_LINE_BREAKS)
    return _CONTROL_RE.sub("", text)


def _make_section(text: str, start: int, end: int, *, page: int | None = None,
                  heading: str | None = None) -> Section | None:  # fmt: skip
    """The slice text[start:end] minus surrounding whitespace, or None if nothing is left."""
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return None
    start += len(piece) - len(piece.lstrip())
    return Section(stripped, start, page, heading)


def _join_blocks(blocks: Sequence[tuple[str, str | None]]) -> tuple[str, tuple[Section, ...]]:
    """Join paragraph blocks with blank lines; a block with a heading opens a new section.

    Each block is (text, heading) where heading is the block's own text when the block is a
    heading and None otherwise. Sections run from one heading block to the next.
    """
    parts: list[str] = []
    cuts: list[tuple[int, str | None]] = [(0, None)]
    offset = 0
    for text, heading in blocks:
        if not text.strip():
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        if heading is not None and len(cuts) < MAX_SECTIONS:
            cuts.append((offset, heading))
        parts.append(text)
        offset += len(text)
    joined = "".join(parts)
    sections: list[Section] = []
    for i, (start, heading) in enumerate(cuts):
        end = cuts[i + 1][0] if i + 1 < len(cuts) else len(joined)
        section = _make_section(joined, start, end, heading=heading)
        if section is not None:
            sections.append(section)
    return joined, tuple(sections)


# ---------------------------------------------------------------------------------------------
# Encodings
# ---------------------------------------------------------------------------------------------

# UTF-32 first: its little-endian BOM begins with the UTF-16 one.
_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32"),
    (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"),
)

# Candidate legacy encodings: (codec used to decode, name we report, script family).
# Big5 is decoded with the HKSCS superset and Shift_JIS/EUC-KR with the Microsoft supersets
# because that is what files written on Windows and in Hong Kong actually contain.
_LEGACY: Final = (
    ("gb18030", "gb18030", "zh"),
    ("big5hkscs", "big5", "zh"),
    ("cp932", "shift_jis", "ja"),
    ("cp949", "euc-kr", "ko"),
)
_CHARSET_NORMALIZER_ALIASES: Final = {
    "gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030", "hz": "gb18030",
    "big5": "big5", "cp950": "big5", "big5hkscs": "big5",
    "shift_jis": "shift_jis", "cp932": "shift_jis", "euc_jis_2004": "shift_jis",
    "euc_kr": "euc-kr", "cp949": "euc-kr",
    "cp1252": "cp1252", "latin_1": "latin-1", "iso8859_1": "latin-1", "ascii": "cp1252",
    "utf_16": "utf-16", "utf_8": "utf-8",
}  # fmt: skip
_CHARSET_NORMALIZER_CANDIDATES: Final = [
    "utf_8", "gb18030", "big5", "cp950", "shift_jis", "cp932", "euc_kr", "cp949", "cp1252",
    "latin_1", "utf_16",
]  # fmt: skip
# Below this share of plausible characters no CJK reading is believed.
_CJK_MIN_SCORE: Final = 0.6
# Scores this close count as a tie, settled by charset-normalizer, then by _LEGACY order.
_CJK_TIE: Final = 0.05
_SAMPLE_BYTES: Final = 32 * _KB


@lru_cache(maxsize=1)
def _common_hanzi() -> frozenset[str]:
    """The everyday Chinese characters, Simplified and Traditional (about 6,700).

    Defined by the encodings themselves, so no frequency table is shipped: GB2312 level 1
    (rows 0xB0-0xD7, its 3,755 most frequent Simplified characters) and Big5's "常用字" block
    (0xA440-0xC67E, 5,401 frequent Traditional characters). A wrong guess between GB18030 and
    Big5 turns text into a salad of rare characters, kana, symbols and private-use code points,
    so the share of characters from this set separates the two even in a short file.
    """
    chars: set[str] = set()
    for lead in range(0xB0, 0xD8):
        for trail in range(0xA1, 0xFF):
            chars.update(bytes((lead, trail)).decode("gb2312", errors="ignore"))
    trails = [*range(0x40, 0x7F), *range(0xA1, 0xFF)]
    for lead in range(0xA4, 0xC7):
        for trail in trails:
            if lead == 0xC6 and trail > 0x7E:
                break
            chars.update(bytes((lead, trail)).decode("big5", errors="ignore"))
    return frozenset(chars)


def _is_cjk_punct(code: int) -> bool:
    return (
        0x3000 <= code <= 0x303F  # CJK punctuation: 、。「」《》
        or 0xFF01 <= code <= 0xFF5E  # full-width ASCII: ，！（）
        or 0xFFE0 <= code <= 0xFFE6  # full-width currency signs
        or 0x2010 <= code <= 0x203A  # dashes, curly quotes, ellipsis
        or code == 0xB7
    )


def _plausibility(text: str, family: str) -> float:
    """Share of the non-ASCII characters in `text` that belong in real text of `family`."""
    common = _common_hanzi()
    good = total = 0
    for ch in text:
        code = ord(ch)
        if code < 0x80:
            continue
        total += 1
        if _is_cjk_punct(code):
            good += 1
        elif family == "ko":
            # Modern Korean is written in Hangul; Hanja are rare. Counting them would let
            # GB-encoded Chinese, which decodes to Hangul plus Hanja in EUC-KR, pass as Korean.
            good += 0xAC00 <= code <= 0xD7A3
        elif ch in common or (family == "ja" and 0x3040 <= code <= 0x30FF):
            good += 1
    return good / total if total else 0.0


def _charset_normalizer_guess(sample: bytes) -> str | None:
    from charset_normalizer import from_bytes

    best = from_bytes(sample, cp_isolation=_CHARSET_NORMALIZER_CANDIDATES).best()
    if best is None:
        return None
    return _CHARSET_NORMALIZER_ALIASES.get(best.encoding)


def _guess_legacy_encoding(data: bytes) -> tuple[str, str]:
    """Pick (codec, reported name) for bytes that are not UTF-8."""
    sample = data[:_SAMPLE_BYTES]
    try:
        proposed = _charset_normalizer_guess(sample)
    except Exception:  # detection is advisory; never fail a file because of it
        _log.debug("charset-normalizer failed", exc_info=True)
        proposed = None
    # charset-normalizer alone mixes up GB18030, Big5 and EUC-KR on short files (their byte
    # ranges overlap almost entirely), so score every CJK reading and let it only break ties.
    scores = {
        name: (_plausibility(sample.decode(codec, errors="replace"), family), codec)
        for codec, name, family in _LEGACY
    }
    best = max(score for score, _ in scores.values())
    if best >= _CJK_MIN_SCORE:
        top = [name for name, (score, _) in scores.items() if score >= best - _CJK_TIE]
        # With only a couple of characters charset-normalizer's vote is noise; then the most
        # common encoding among our users (GB18030) wins.
        trusted = sum(b >= 0x80 for b in sample[:4096]) >= 8
        name = proposed if trusted and proposed in top else top[0]
        return scores[name][1], name
    if proposed in ("gb18030", "big5", "shift_jis", "euc-kr"):
        return scores[proposed][1], proposed
    if proposed == "utf-16":
        return "utf-16", "utf-16"
    if proposed == "latin-1":
        return "latin-1", "latin-1"
    # Western text. Windows-1252 leaves five bytes undefined; Latin-1 decodes anything.
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1", "latin-1"
    return "cp1252", "cp1252"


def _bomless_unicode(data: bytes) -> str | None:
    """The codec of UTF-32 or UTF-16 text without a BOM, or None.

    UTF-32 and mostly-ASCII UTF-16 show themselves by where their NUL bytes are. UTF-16
    Chinese has few or none; it is recognised by what it decodes to: bytes that are not
    UTF-8, whose UTF-16 reading is nearly all common characters. Other CJK encodings read as
    UTF-16 give Hangul, Yi, surrogates and private-use characters instead, and binary files
    give control characters."""
    sample = data[:8192]
    if len(sample) < 4:
        return None
    for codec, zeros in (("utf-32-le", (2, 3)), ("utf-32-be", (0, 1))):
        if len(data) % 4 == 0 and all(sample[i::4].count(0) == len(sample[i::4])
                                      for i in zeros):
            try:
                data.decode(codec)
            except UnicodeDecodeError:
                continue
            return codec
    by_nuls = _nul_pattern_utf16(sample, data)
    if by_nuls is not None:
        return by_nuls
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(sample, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return None  # UTF-8 (UTF-16 text is never valid UTF-8 for long)
    for codec in ("utf-16-le", "utf-16-be"):
        try:
            text = codecs.getincrementaldecoder(codec)("strict").decode(sample, final=False)
        except UnicodeDecodeError:
            continue
        if len(text) >= 4 and _unicode_text_share(text) >= _UTF16_MIN_SHARE:
            return codec
    return None


# A UTF-16 reading (without a BOM or NULs) must be at least this share of common characters.
_UTF16_MIN_SHARE: Final = 0.9


def _unicode_text_share(text: str) -> float:
    """Share of characters that real text is made of: printable ASCII and whitespace,
    Latin letters, common Chinese characters, CJK and general punctuation, kana."""
    common = _common_hanzi()
    good = 0
    for ch in text:
        code = ord(ch)
        if (
            0x20 <= code < 0x7F
            or ch in "\t\n\r"
            or 0xC0 <= code <= 0x24F
            or ch in common
            or _is_cjk_punct(code)
            or 0x3040 <= code <= 0x30FF
        ):
            good += 1
    return good / len(text)


def _nul_pattern_utf16(sample: bytes, data: bytes) -> str | None:
    """Recognise UTF-16 without a BOM by its NUL bytes (mostly-ASCII text only)."""
    even, odd = sample[0::2], sample[1::2]
    even_nul, odd_nul = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_nul > 0.4 and even_nul < 0.02:
        codec = "utf-16-le"
    elif even_nul > 0.4 and odd_nul < 0.02:
        codec = "utf-16-be"
    else:
        return None
    try:
        data[: len(data) // 2 * 2].decode(codec)
    except UnicodeDecodeError:
        return None
    return codec


def _finish_decode(text: str, encoding: str) -> tuple[str, str]:
    sample = text[:8192]
    if sample and len(_BINARYISH_RE.findall(sample)) > 0.1 * len(sample):
        raise ExtractionError("binary file, not text")
    return _clean(text), encoding


# Declared encodings in HTML <meta> and XML prologs. Only the first 4 KB is searched, as
# browsers do (they stop at 1 KB; some generators put long comments first).
_DECLARED_CHARSET_RE: Final = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-zA-Z0-9_.:\-]+)"""
    rb"""|<\?xml[^>]*?encoding\s*=\s*["']([a-zA-Z0-9_.:\-]+)""",
    re.IGNORECASE,
)
# Labels whose real-world meaning is wider than Python's codec of the same name (the same
# widening browsers apply: pages labelled gb2312 routinely contain GBK characters).
_LABEL_CODECS: Final = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030",
    "csgb2312": "gb18030", "chinese": "gb18030", "gb18030": "gb18030",
    "big5": "big5hkscs", "big5-hkscs": "big5hkscs", "x-x-big5": "big5hkscs", "cn-big5": "big5hkscs",
    "csbig5": "big5hkscs", "shift_jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "windows-31j": "cp932", "euc-kr": "cp949", "ks_c_5601-1987": "cp949",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252",
}  # fmt: skip
_CODEC_NAMES: Final = {"gb18030": "gb18030", "big5hkscs": "big5", "cp932": "shift_jis",
                       "cp949": "euc-kr", "utf-8": "utf-8", "cp1252": "cp1252"}  # fmt: skip


def _declared_codec(data: bytes) -> str | None:
    """The Python codec for a <meta charset> / <?xml encoding?> declaration, if usable."""
    match = _DECLARED_CHARSET_RE.search(data[:4096])
    if not match:
        return None
    label = (match.group(1) or match.group(2)).decode("ascii").lower()
    try:
        name = codecs.lookup(_LABEL_CODECS.get(label, label)).name
        b"".decode(name)  # LookupError for rot13/base64-style codecs, which are not text
    except LookupError:
        return None
    # A UTF-16/32 label on a page without a BOM cannot be true: the label itself was just
    # read as ASCII.
    if "16" in name or "32" in name:
        return None
    return name


def _decode_markup(data: bytes) -> tuple[str, str]:
    """Decode HTML/XML: a BOM wins, then a declared charset that really fits, then detection."""
    has_bom = data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    codec = None if has_bom else _declared_codec(data)
    if codec is not None:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            pass  # mislabelled (says UTF-8, is really GBK, say): detect instead
        else:
            return _finish_decode(text, _CODEC_NAMES.get(codec, codec))
    return decode_text(data)


# ---------------------------------------------------------------------------------------------
# Plain text, code and Markdown
# ---------------------------------------------------------------------------------------------


def _extract_text(path: Path, data: bytes, kind: str, budget: FileBudget = UNLIMITED) -> Document:
    if path.suffix.lower() == ".xml":
        text, encoding = _decode_markup(data)
    else:
        text, encoding = decode_text(data)
    budget.check()
    if kind == "markdown":
        sections, title = _markdown_sections(text, budget)
    else:
        section = _make_section(text, 0, len(text))
        sections, title = ((section,) if section else ()), None
    return Document(path, kind, text, sections, encoding, title)


_FENCE_RE: Final = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX_RE: Final = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT_RE: Final = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FRONT_MATTER_TITLE_RE: Final = re.compile(r"""^title:\s*["']?(.*?)["']?\s*$""")


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) for each line ("\\n"-separated), without a list of all of them: a file
    of millions of tiny lines would take gigabytes as a list of strings and offsets."""
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            yield start, text[start:]
            return
        yield start, text[start:end]
        start = end + 1


def _markdown_sections(
    text: str, budget: FileBudget = UNLIMITED
) -> tuple[tuple[Section, ...], str | None]:
    """Sections of Markdown split at ATX (`# x`) and single-line setext headings.

    Headings inside fenced code blocks are ignored (a `# comment` in a shell snippet is not
    a heading) and YAML front matter is skipped, supplying the title when it names one.
    Past MAX_SECTIONS, headings no longer start sections (their text stays, in the last).
    """
    lines = _lines(text)
    head = list(itertools.islice(lines, 200))
    title: str | None = None
    first = 0
    if head and head[0][1].strip() == "---":
        for i in range(1, len(head)):
            if head[i][1].strip() in ("---", "..."):
                for _, fm_line in head[1:i]:
                    match = _FRONT_MATTER_TITLE_RE.match(fm_line)
                    if match and match.group(1):
                        title = match.group(1)
                first = i + 1
                break

    cuts: list[tuple[int, str | None]] = [(0, None)]
    fence: str | None = None
    first_h1: str | None = None
    last: tuple[int, str] | None = None  # (offset, text) of the line above, from `first` on
    last2: tuple[int, str] | None = None  # and of the one above that
    for i, (offset, line) in enumerate(itertools.chain(head[first:], lines), start=first):
        if not i % _CHECK_EVERY:
            budget.check()
        above, two_above = last, last2
        last2, last = last, (offset, line)
        fence_match = _FENCE_RE.match(line)
        if fence is not None:
            if (
                fence_match
                and fence_match.group(1)[0] == fence[0]
                and len(fence_match.group(1)) >= len(fence)
                and not line.strip(" `~")
            ):
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            continue
        room = len(cuts) < MAX_SECTIONS
        atx = _ATX_RE.match(line)
        if atx:
            heading = (atx.group(2) or "").strip()
            if room:
                cuts.append((offset, heading or None))
            if len(atx.group(1)) == 1 and first_h1 is None and heading:
                first_h1 = heading
            continue
        setext = _SETEXT_RE.match(line)
        prev = above[1].strip() if above is not None else ""
        before_prev = two_above[1].strip() if two_above is not None else ""
        # Only a one-line paragraph underlined by ===/--- counts; longer ones are rare and a
        # "---" under running text is more often meant as a rule.
        if (
            setext
            and above is not None
            and prev
            and not before_prev
            and not _ATX_RE.match(above[1])
            and cuts[-1][0] != above[0]
            and room
        ):
            cuts.append((above[0], prev))
            if setext.group(1)[0] == "=" and first_h1 is None:
                first_h1 = prev

    sections: list[Section] = []
    for i, (start, heading) in enumerate(cuts):
        end = cuts[i + 1][0] if i + 1 < len(cuts) else len(text)
        section = _make_section(text, start, end, heading=heading)
        if section is not None:
            sections.append(section)
    return tuple(sections), title or first_h1


# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------


class _DebugRelay(logging.Handler):
    """Re-log pypdf's chatter ("Ignoring wrong pointing object ...") at DEBUG under our name."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _log.debug("pypdf: %s", record.getMessage())
        except Exception:  # a malformed log call inside pypdf must not break extraction
            pass


@lru_cache(maxsize=1)
def _quiet_pypdf() -> None:
    """Keep pypdf's warnings about sloppy-but-readable PDFs off stderr (done once).

    pypdf logs a warning for nearly every real-world PDF quirk; with no logging configured
    Python prints those to stderr, and with logging configured they would flood the app log.
    """
    import warnings

    from pypdf.errors import PdfReadWarning

    logger = logging.getLogger("pypdf")
    logger.addHandler(_DebugRelay())
    logger.propagate = False
    warnings.filterwarnings("ignore", category=PdfReadWarning)


# pypdf decrypts RC4 by itself but needs the 'cryptography' package for AES, which is what
# most "protected" PDFs (often with an empty open password) use today.
_PDF_NEEDS_CRYPTOGRAPHY: Final = (
    "pdf is encrypted with AES (reading it needs the 'cryptography' package)"
)


# A page whose content stream decodes to more than this is compacted before pypdf parses it,
# and its operators are visited with budget checks in between. pypdf's tokenizer reads
# whitespace one byte at a time: a 76 KB PDF whose pages each inflate to ~70 MB of spaces
# took ~10 s a page and could not be interrupted.
_PDF_BIG_CONTENT: Final = 1 * _MB
# Runs of PDF whitespace (NUL, tab, LF, FF, CR, space): one containing a line break becomes
# "\n" (a % comment ends there), any other one " ". Inside a string this only shortens runs
# of spaces, which text extraction would collapse anyway.
_PDF_NEWLINE_RUN: Final = re.compile(rb"[\x00\t\x0c ]*[\r\n][\x00\t\n\r\x0c ]*")
_PDF_BLANK_RUN: Final = re.compile(rb"[\x00\t\x0c ]{2,}")


def _compact_pdf_content(data: bytes) -> bytes:
    return _PDF_BLANK_RUN.sub(b" ", _PDF_NEWLINE_RUN.sub(b"\n", data))


@lru_cache(maxsize=1)
def _budgeted_content_stream() -> Any:
    """A pypdf ContentStream that looks at a FileBudget while pypdf parses it.

    pypdf charges every token it parses to its own parsing budget through
    `_check_limits`; piggybacking on that call lets a cancel or an exhausted time budget stop
    a page of millions of operators (a 6 KB PDF of "q Q" pairs parses for 5 s) in
    milliseconds. Should a pypdf release drop the hook, this degrades to the checks between
    operators and pages."""
    from pypdf.generic import ContentStream

    class BudgetedContentStream(ContentStream):
        budget: FileBudget = UNLIMITED
        tokens = 0

        def _check_limits(self, **kwargs: Any) -> Any:  # type: ignore[override]
            self.tokens += 1
            if not self.tokens % _CHECK_EVERY:
                self.budget.check()
            return super()._check_limits(**kwargs)

    return BudgetedContentStream


def _pdf_page_text(reader: Any, page: Any, budget: FileBudget) -> str:
    contents = page.get_contents()
    data = contents.get_data() if contents is not None else b""
    if len(data) < _PDF_BIG_CONTENT:
        return str(page.extract_text())
    from pypdf.generic import NameObject

    # "bytes": strings stay bytes until the page's fonts decode them, as pypdf does itself.
    stream = _budgeted_content_stream()(None, reader, "bytes")
    stream.budget = budget
    stream.set_data(_compact_pdf_content(data))
    del data
    page[NameObject("/Contents")] = stream
    budget.check()
    visited = 0

    def visit(*_args: object) -> None:
        nonlocal visited
        visited += 1
        if not visited % _CHECK_EVERY:
            budget.check()

    return str(page.extract_text(visitor_operand_before=visit))


def _pdf_failure(exc: BaseException) -> str:
    """"corrupt pdf: ..." unless pypdf stopped at one of its own safety limits (millions of
    operators on a page, huge arrays): then the file is too complex, not broken."""
    if type(exc).__name__ == "LimitReachedError":
        return f"pdf is too complex to read (past a safety limit of the PDF reader: {exc})"
    return f"corrupt pdf: {_describe(exc)}"


def _extract_pdf(path: Path, data: bytes, budget: FileBudget = UNLIMITED) -> Document:
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    _quiet_pypdf()
    if b"%PDF-" not in data[:1024]:
        raise ExtractionError("corrupt pdf: not a pdf file (no %PDF header)")
    # Every complete PDF has an %%EOF marker (junk may follow it, so search the whole file).
    # Without one, pypdf either fails with "Stream has ended unexpectedly" or "repairs" the
    # file and returns only the pages it found; neither tells the user what happened.
    if data.rfind(b"%%EOF") < 0:
        raise ExtractionError("corrupt pdf: file is truncated (no %%EOF marker)")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except DependencyError as exc:
        raise ExtractionError(_PDF_NEEDS_CRYPTOGRAPHY) from exc
    except Exception as exc:  # pypdf raises many types for broken files, RecursionError too
        raise ExtractionError(_pdf_failure(exc)) from exc

    if encrypted:
        # Many PDFs are "encrypted" only to restrict printing/copying, with an empty user
        # password; those open fine.
        try:
            result = reader.decrypt("")
        except DependencyError as exc:
            raise ExtractionError(_PDF_NEEDS_CRYPTOGRAPHY) from exc
        except Exception:
            result = PasswordType.NOT_DECRYPTED
        if result == PasswordType.NOT_DECRYPTED:
            raise ExtractionError("pdf is encrypted (password protected)")

    try:
        page_count = len(reader.pages)
    except FileNotDecryptedError as exc:
        raise ExtractionError("pdf is encrypted (password protected)") from exc
    except DependencyError as exc:
        raise ExtractionError(_PDF_NEEDS_CRYPTOGRAPHY) from exc
    except Exception as exc:
        raise ExtractionError(_pdf_failure(exc)) from exc
    if page_count == 0:
        raise ExtractionError("corrupt pdf: it has no pages")

    pages: list[tuple[int, str]] = []
    failures: list[BaseException] = []
    for number in range(1, page_count + 1):
        budget.check()
        try:
            raw = _pdf_page_text(reader, reader.pages[number - 1], budget)
        except (ImportCancelled, OverBudget):
            raise
        except FileNotDecryptedError as exc:
            raise ExtractionError("pdf is encrypted (password protected)") from exc
        except DependencyError as exc:
            raise ExtractionError(_PDF_NEEDS_CRYPTOGRAPHY) from exc
        except Exception as exc:
            # One page with a broken font or content stream should not cost the whole book.
            _log.debug("%s: page %d unreadable: %s", path, number, _describe(exc))
            failures.append(exc)
            continue
        page_text = _clean(raw).strip()
        if page_text:
            pages.append((number, page_text))
    if not pages:
        if failures and len(failures) == page_count:
            raise ExtractionError(_pdf_failure(failures[0]))
        raise ExtractionError("pdf has no extractable text (scanned images?)")

    parts: list[str] = []
    sections: list[Section] = []
    offset = 0
    for number, page_text in pages:
        if parts:
            parts.append("\n\n")
            offset += 2
        sections.append(Section(page_text, offset, number, None))
        parts.append(page_text)
        offset += len(page_text)
    return Document(path, "pdf", "".join(parts), tuple(sections), None, _pdf_title(reader))


def _pdf_title(reader: object) -> str | None:
    try:
        metadata = getattr(reader, "metadata", None)
        title = getattr(metadata, "title", None) if metadata is not None else None
    except Exception:  # broken Info dictionaries are common and never worth failing over
        return None
    if not isinstance(title, str):
        return None
    title = _one_line(_clean(title))
    # reportlab and a few other producers write this placeholder when no title was set.
    return title if title and title.lower() != "untitled" else None


# ---------------------------------------------------------------------------------------------
# DOCX
# ---------------------------------------------------------------------------------------------

_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DOCX_HEADING_RE: Final = re.compile(r"^(?:heading|标题)\s*([1-9])$", re.IGNORECASE)
_DOCX_TITLE_STYLES: Final = frozenset({"title", "标题"})


def _check_docx_archive(data: bytes) -> None:
    """Refuse non-zips and zip bombs before python-docx inflates anything."""
    import zipfile

    if data.startswith(_OLE_MAGIC):
        # Word stores password-protected .docx files inside an OLE container too.
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise ExtractionError("docx is encrypted (password protected)")
        raise ExtractionError("corrupt docx: this is an old binary Word .doc file, not .docx")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise ExtractionError(f"corrupt docx: not a zip archive ({exc})") from exc
    except Exception as exc:
        raise ExtractionError(f"corrupt docx: {_describe(exc)}") from exc
    # The declared sizes can be trusted as an upper bound: zipfile stops reading a member at
    # its declared size and fails the CRC check if the data is longer.
    total = sum(info.file_size for info in infos)
    if total > DOCX_MAX_UNCOMPRESSED:
        raise ExtractionError(f"docx looks like a zip bomb ({_format_size(total)} uncompressed)")
    for info in infos:
        if (
            info.file_size > DOCX_RATIO_MIN_BYTES
            and info.file_size > DOCX_MAX_RATIO * max(info.compress_size, 1)
        ):
            raise ExtractionError(
                f"docx looks like a zip bomb ({_format_size(info.file_size)} uncompressed "
                f"from {_format_size(info.compress_size)} in {info.filename})"
            )
    if not any(info.filename == "word/document.xml" for info in infos):
        raise ExtractionError("corrupt docx: no word/document.xml (not a Word document?)")


def _extract_docx(path: Path, data: bytes, budget: FileBudget = UNLIMITED) -> Document:
    _check_docx_archive(data)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # missing parts, bad XML, wrong content type (.docm) ...
        raise ExtractionError(f"corrupt docx: {_describe(exc)}") from exc

    blocks: list[tuple[str, str | None]] = []
    title: str | None = None
    for item in document.iter_inner_content():
        budget.check()
        if isinstance(item, Table):
            blocks.append((_docx_table_text(item), None))
            continue
        text = _clean(item.text).strip()
        if not text:
            continue
        style = _docx_style_name(item)
        is_title = style in _DOCX_TITLE_STYLES
        if is_title and title is None:
            title = _one_line(text)
        heading = _one_line(text) if is_title or _DOCX_HEADING_RE.match(style) else None
        blocks.append((text, heading))

    try:
        core_title = document.core_properties.title
    except Exception:  # a broken docProps/core.xml should not hide the body text
        core_title = None
    if core_title and core_title.strip():
        title = _one_line(core_title)
    text, sections = _join_blocks(blocks)
    return Document(path, "docx", text, sections, None, title)


def _docx_style_name(paragraph: Paragraph) -> str:
    try:
        style = paragraph.style
        name = style.name if style is not None else None
    except Exception:  # dangling style references exist in the wild
        return ""
    return (name or "").strip().lower()


def _docx_table_text(table: Table) -> str:
    """Rows on their own lines, cells separated by " | "; merged cells appear once."""
    from docx.table import Table

    rows: list[str] = []
    try:
        for row in table.rows:
            cells: list[str] = []
            seen: set[int] = set()
            for cell in row.cells:
                # A merged cell is returned once per grid column it spans.
                if id(cell._tc) in seen:
                    continue
                seen.add(id(cell._tc))
                parts: list[str] = []
                for inner in cell.iter_inner_content():
                    if isinstance(inner, Table):
                        parts.append(_docx_table_text(inner))
                    else:
                        parts.append(inner.text)
                cells.append(" ".join(_clean(" ".join(parts)).split()))
            if any(cells):
                rows.append(" | ".join(cells))
    except Exception:  # irregular grids can trip python-docx; fall back to the raw runs
        return " ".join(t.text or "" for t in table._tbl.iter(_w_t_tag()))
    return "\n".join(rows)


@lru_cache(maxsize=1)
def _w_t_tag() -> str:
    from docx.oxml.ns import qn

    return qn("w:t")


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------

_HTML_SKIP: Final = frozenset(
    {"head", "script", "style", "noscript", "template", "svg", "math", "iframe", "object",
     "canvas", "select", "button"}
)  # fmt: skip
_HTML_HEADINGS: Final = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_HTML_BLOCKS: Final = frozenset(
    {"address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
     "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
     "header", "hgroup", "hr", "html", "li", "main", "nav", "ol", "p", "pre", "section",
     "summary", "table", "tbody", "thead", "tfoot", "ul"}
)  # fmt: skip
_HTML_CELLS: Final = frozenset({"td", "th"})
_HTML_ROW: Final = "tr"  # a table row is one line of its table's block, cells split by " | "
_WS_RE: Final = re.compile(r"[ \t\n\r\f\u00a0]+")
_BLANK_LINES_RE: Final = re.compile(r"\n{3,}")


class _HtmlText:
    """Collects rendered text into paragraph blocks while walking the DOM."""

    def __init__(self) -> None:
        self.blocks: list[tuple[str, str | None]] = []
        self._buf: list[str] = []
        self._pre = 0  # depth of <pre> elements we are inside
        self._buf_has_pre = False  # the buffer holds preformatted text: keep its indentation

    def _at_line_start(self) -> bool:
        return not self._buf or self._buf[-1].endswith(("\n", " "))

    def text(self, value: str) -> None:
        if self._pre:
            self._buf.append(value)
            self._buf_has_pre = True
            return
        # Browsers collapse runs of whitespace outside <pre>; so do we, across node borders.
        value = _WS_RE.sub(" ", value)
        if self._at_line_start():
            value = value.lstrip(" ")
        if value:
            self._buf.append(value)

    def line_break(self) -> None:
        self._buf.append("\n")

    def _line_has_text(self) -> bool:
        for piece in reversed(self._buf):
            _, newline, after = piece.rpartition("\n")
            if after.strip():
                return True
            if newline:
                return False
        return False

    def cell(self) -> None:
        if self._line_has_text():
            self._buf.append(" | ")

    def row_end(self) -> None:
        if self._line_has_text():
            self._buf.append("\n")

    def enter(self, tag: str) -> None:
        if tag in _HTML_BLOCKS or tag in _HTML_HEADINGS:
            self.flush()
        if tag == "pre":
            self._pre += 1

    def leave(self, tag: str) -> None:
        if tag == "pre":
            self._pre -= 1
        if tag in _HTML_HEADINGS:
            self.flush(heading=True)
        elif tag in _HTML_BLOCKS:
            self.flush()

    def flush(self, *, heading: bool = False) -> None:
        raw = _clean("".join(self._buf))
        self._buf.clear()
        keep_indent, self._buf_has_pre = self._buf_has_pre, False
        lines = [line.rstrip() if keep_indent else line.strip() for line in raw.split("\n")]
        text = _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip("\n")
        if not text.strip():
            return
        self.blocks.append((text, _one_line(text) if heading else None))


def _children(node: LexborNode) -> Iterator[LexborNode]:
    child = node.first_child
    while child is not None:
        yield child
        child = child.next


def _extract_html(path: Path, data: bytes, budget: FileBudget = UNLIMITED) -> Document:
    from selectolax.lexbor import LexborHTMLParser

    markup, encoding = _decode_markup(data)
    tree = LexborHTMLParser(markup)
    title_node = tree.css_first("head > title")  # not an <svg>'s <title> further down
    title = _one_line(title_node.text()) if title_node is not None else ""

    out = _HtmlText()
    root = tree.body if tree.body is not None else tree.root
    if root is None:
        raise ExtractionError("no text found")
    # An explicit stack, not recursion: deeply nested tag soup exists and must not raise
    # RecursionError.
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    visited = 0
    while stack:
        visited += 1
        if not visited % _CHECK_EVERY:
            budget.check()
        node, leaving = stack.pop()
        tag = node.tag or ""
        if leaving:
            if tag == _HTML_ROW:
                out.row_end()
            out.leave(tag)
            continue
        if tag == "-text":
            out.text(node.text_content or "")
            continue
        if tag.startswith("-") or tag in _HTML_SKIP:
            continue  # comments, doctype, and elements whose content is not page text
        if tag == "br":
            out.line_break()
            continue
        if tag in _HTML_CELLS:
            out.cell()
        out.enter(tag)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(list(_children(node))))
    out.flush()

    text, sections = _join_blocks(out.blocks)
    if not title:
        title = next((s.heading for s in sections if s.heading), "") or ""
    return Document(path, "html", text, sections, encoding, title or None)
