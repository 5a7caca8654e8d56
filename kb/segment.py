"""Chinese-aware keyword terms for FTS5: jieba search-mode segmentation (jieba-rs),
traditional to simplified folding and lowercasing, applied the same way to documents and to queries.

Queries are rebuilt from terms, each quoted as an FTS5 string, so no user text (quotes,
AND/OR/NEAR, `*`, brackets) can change the MATCH syntax."""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

_lock = threading.Lock()
_jieba: Any = None
_converter: Any = None

# Single characters and words that carry no retrieval signal in questions.
_STOPWORDS_TEXT = """
的 了 是 在 和 与 及 或 也 都 就 而 及其 之 吗 呢 吧 啊 呀 么 什么 怎么 怎样 如何 哪 哪些 哪个
几 多少 为什么 为何 是否 有 有没有 没有 能 能否 可以 可 会 要 需要 请 一个 一下 这 那 这个 那个
我 你 他 她 它 我们 你们 他们 自己 对 把 被 从 到 向 给 让 由 个 些 还 又 再 才 更 最
a an the of to in on at for by with from is are was were be been being do does did how
what which who whom whose when where why can could should would will shall may might must
i you he she it we they me my your our their this that these those and or not no yes as
if than then so such about into over under up down out any all each per
has have had having its also just very too much many more most other some only own same
both few nor here there again further once off against between through during before after
above below until while because does doing done get got go goes going make made use used using
them him her his hers ours yours theirs myself yourself itself ourselves themselves
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())

_WORD = re.compile(r"\w", re.UNICODE)


def _tools() -> tuple[Any, Any]:
    """(search-mode cutter, traditional->simplified converter), loaded once."""
    global _jieba, _converter
    if _jieba is None:
        with _lock:
            if _jieba is None:
                import opencc

                _converter = opencc.OpenCC("t2s")
                try:
                    # jieba-rs: the same dictionary and algorithm as jieba, ~25x faster, so
                    # segmentation stays a small part of importing.
                    import rjieba

                    _jieba = rjieba.cut_for_search
                except ImportError:
                    import logging

                    import jieba

                    jieba.setLogLevel(logging.WARNING)
                    jieba.initialize()
                    _jieba = jieba.lcut_for_search
    return _jieba, _converter


@lru_cache(maxsize=1)
def _traditional_chars() -> frozenset[str]:
    """Characters outside GB2312 that Big5 has: the traditional forms (and a few rare
    characters). Text without any is already simplified and skips the slow conversion."""
    chars = set()
    for code in range(0x4E00, 0xA000):
        ch = chr(code)
        try:
            ch.encode("gb2312")
        except UnicodeEncodeError:
            try:
                ch.encode("big5")
            except UnicodeEncodeError:
                continue
            chars.add(ch)
    return frozenset(chars)


def warm_up() -> None:
    """Load the segmenter, the converter and the character table ahead of first use."""
    _tools()
    _traditional_chars()


def normalize(text: str) -> str:
    """Fold case and traditional characters so 員工 matches 员工 and Tea matches tea."""
    if _traditional_chars().isdisjoint(text):
        return text.lower()
    _, converter = _tools()
    return str(converter.convert(text)).lower()


def terms(text: str) -> list[str]:
    """Search-mode terms of a text (words and their sub-words), normalized, in order."""
    cut_for_search, _ = _tools()
    out: list[str] = []
    for token in cut_for_search(normalize(text)):
        token = token.strip()
        if token and _WORD.search(token):
            out.append(token)
    return out


def index_text(text: str) -> str:
    """The space-joined term string stored in the FTS5 table for a chunk."""
    return " ".join(terms(text))


@lru_cache(maxsize=512)
def query_terms(query: str) -> tuple[str, ...]:
    """Distinct meaningful terms of a question, in order of first appearance."""
    seen: dict[str, None] = {}
    for term in terms(query):
        if term not in STOPWORDS:
            seen.setdefault(term, None)
    return tuple(seen)


def fts_query(query_terms: tuple[str, ...] | list[str]) -> str:
    """An FTS5 MATCH expression that ORs the terms; every term is a quoted string."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in query_terms]
    return " OR ".join(quoted)


_IDEOGRAPH = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def script_of(text: str) -> str | None:
    """"zh" for text written mainly in Chinese characters, "en" for text in Latin letters,
    None for neither. One character stands for about a word, a word for ~5 letters: a
    Chinese sentence that names "Snipvault" is still Chinese."""
    ideographs = len(_IDEOGRAPH.findall(text))
    letters = len(_LATIN.findall(text))
    if not ideographs and not letters:
        return None
    return "zh" if ideographs * 5 >= letters else "en"
