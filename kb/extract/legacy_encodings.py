"""Guessing the legacy encoding of bytes that are not UTF-8 (GB18030, Big5, Shift_JIS,
EUC-KR, Windows-1252/Latin-1), and scoring how much a decoded text looks like real text.

charset-normalizer proposes; a plausibility score built on the everyday Chinese characters
(taken from the GB2312 and Big5 tables themselves) confirms or overrules it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from kb.extract.common import _KB, _log

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
