"""Bytes of a text file to text: byte-order marks, UTF-16/32 without one, UTF-8, then the
legacy encodings; and HTML/XML, whose declared charset is honoured when it really fits."""

from __future__ import annotations

import codecs
import re
from typing import Final

from kb.extract.common import ExtractionError
from kb.extract.legacy_encodings import _guess_legacy_encoding, _unicode_text_share
from kb.extract.sections import _clean

# UTF-32 first: its little-endian BOM begins with the UTF-16 one.
_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32"),
    (codecs.BOM_UTF8, "utf-8", "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"),
)
# Characters that say "this is not text" when they make up a noticeable share of a file.
_BINARYISH_RE: Final = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f\ufffd]")


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
