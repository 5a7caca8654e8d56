"""Citations that hold: each [n] in a reply checked against the sources that were actually
in its prompt, and each cited sentence tied to the span of the passage that supports it.

A citation to a number that was not given is marked invalid (models invent [6] when five
sources were shown, or cite "[1]" with no sources at all). The supporting span is the
passage sentence sharing the most with the cited sentence: Chinese compared by character
pairs, other scripts by words, numbers as wholes (and on their own, since they hold across
languages); a sentence sharing almost nothing gets no span, and the viewer then shows the
whole passage. Plain Python, no Qt."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

# [1], [1, 2], [1][2], 【1】 and full-width digits' ASCII forms; not Markdown links "[1](…)".
CITATION = re.compile(r"[\[【]\s*(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*)\s*[\]】](?!\()")
_NUMBERS = re.compile(r"\d{1,3}")
# A sentence ends at these (a citation right after the mark belongs to the sentence before).
_SENTENCE_END = re.compile(r"[。！？!?；;\n]|\.(?=\s|$)")
_TOKEN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[A-Za-z]+|\d+(?:[.,]\d+)*")
MIN_SUPPORT = 0.2  # share of the cited sentence's tokens found in the passage sentence
NUMBER_WEIGHT = 0.5  # the score of a passage sentence holding all the cited numbers


@dataclass(frozen=True, slots=True)
class Citation:
    number: int
    start: int  # where the citation mark is in the reply
    end: int
    valid: bool  # the number is one of the sources in the prompt
    sentence: str  # the reply's sentence it stands for
    # The supporting span of the source's passage: offsets into the document (like the
    # source's start_char/end_char) and its text; None when nothing supports it well.
    support_start: int | None = None
    support_end: int | None = None
    support_text: str = ""
    support_score: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_citations(reply: str, sources: Sequence[dict[str, Any]]) -> list[Citation]:
    """Every citation in `reply`, in order (one per number when a mark lists several)."""
    given = {int(s["number"]): s for s in sources if "number" in s}
    out: list[Citation] = []
    for match in CITATION.finditer(reply):
        sentence = _cited_sentence(reply, match.start())
        for raw in _NUMBERS.findall(match.group(1)):
            number = int(raw)
            source = given.get(number)
            if source is None:
                out.append(Citation(number, match.start(), match.end(), False, sentence))
                continue
            span = support_span(sentence, str(source.get("text", "")))
            if span is None:
                out.append(Citation(number, match.start(), match.end(), True, sentence))
                continue
            begin, end, score = span
            base = int(source.get("start_char", 0))
            text = str(source.get("text", ""))
            out.append(Citation(number, match.start(), match.end(), True, sentence,
                                base + begin, base + end, text[begin:end].strip(),
                                round(score, 3)))
    return out


def summary(citations: Sequence[Citation]) -> dict[str, int]:
    return {"citations": len(citations),
            "invalid": sum(1 for c in citations if not c.valid),
            "supported": sum(1 for c in citations if c.support_start is not None)}


def _cited_sentence(reply: str, at: int) -> str:
    """The sentence a citation mark at `at` stands for: the text since the previous
    sentence end, or, when the mark follows an end mark directly, the sentence before."""
    before = CITATION.sub(lambda m: " " * len(m.group(0)), reply[:at])
    stripped = before.rstrip()
    ends = [m.end() for m in _SENTENCE_END.finditer(stripped)]
    if ends and ends[-1] == len(stripped):  # "…年假。[1]": the sentence before the mark
        ends.pop()
    start = ends[-1] if ends else 0
    # The sentence's own words: other citation marks in it taken out, not left as spaces.
    return " ".join(CITATION.sub("", reply[start:len(stripped)]).split())


def _tokens(text: str) -> set[str]:
    out: set[str] = set()
    for piece in _TOKEN.findall(text.lower()):
        if "\u3400" <= piece[0] <= "\ufaff":
            out.update(piece[i:i + 2] for i in range(max(1, len(piece) - 1)))
        else:
            out.add(piece.replace(",", ""))
    return out


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, ends included."""
    spans = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if text[start:match.end()].strip():
            spans.append((start, match.end()))
        start = match.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def support_span(sentence: str, passage: str) -> tuple[int, int, float] | None:
    """The passage sentence that best supports `sentence`: (start, end, score), the score
    being the share of the cited sentence's tokens it holds; None below MIN_SUPPORT."""
    wanted = _tokens(sentence)
    if not wanted:
        return None
    numbers = {t for t in wanted if t[0].isdigit()}
    best: tuple[int, int, float] | None = None
    for start, end in sentence_spans(passage):
        have = _tokens(passage[start:end])
        score = len(wanted & have) / len(wanted)
        if numbers:  # numbers hold across languages: a Chinese answer, an English passage
            score = max(score, NUMBER_WEIGHT * len(numbers & have) / len(numbers))
        if best is None or score > best[2]:
            best = (start, end, score)
    if best is None or best[2] < MIN_SUPPORT:
        return None
    start, end, score = best
    while start < end and passage[start].isspace():
        start += 1
    return start, end, score


@dataclass(frozen=True, slots=True)
class Uncited:
    """A reply sentence without a citation that a given source supports well."""

    sentence: str
    number: int  # the source that supports it
    score: float


UNCITED_SUPPORT = 0.5


def uncited(reply: str, sources: Sequence[dict[str, Any]]) -> list[Uncited]:
    """Sentences of `reply` that carry no citation but repeat a source (missing [n])."""
    out = []
    for start, end in sentence_spans(reply):
        text = reply[start:end]
        if CITATION.search(text) or CITATION.match(reply, end):
            continue
        best: Uncited | None = None
        for source in sources:
            span = support_span(text, str(source.get("text", "")))
            if span is not None and span[2] >= UNCITED_SUPPORT and (
                    best is None or span[2] > best.score):
                best = Uncited(" ".join(text.split()), int(source["number"]), round(span[2], 3))
        if best is not None:
            out.append(best)
    return out
