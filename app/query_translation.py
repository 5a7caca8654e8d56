"""Cross-lingual retrieval: a question in one language, passages in the other.

The built-in embedder relates a Chinese question to English text poorly, and keywords never
match across languages (hard set, cross-lingual kinds: recall@5 0.33 and 0.67). So when the
chosen knowledge bases hold text in the other script, the loaded chat model translates the
question first (greedy, a few dozen tokens, on its side context so the conversation's cached
prefix stays valid), and retrieval searches for the question as written and for the question
together with its translation, each passage keeping its better rank.

The translator is shown the opening words of the best passages already in the other language
(found by the question as written), to reuse the documents' wording: a small model otherwise
picks its own words ("GPU memory" -> GPU内存 where the text says 显存; "study room" ->
图书馆室 where it says 自习室). On the hard set's 24 cross-lingual questions this raised the
translations' character n-gram F-score against human ones from 0.40 to 0.48 (English to
Chinese) and 0.67 to 0.69 (Chinese to English), and recall@5 from 0.94 to 0.96.

Only chat models translate (a base model would continue the text instead); a failure or an
empty translation leaves the search as it was, with the reason logged."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from engine.backend import ModelBackend
from engine.types import ChatMessage, FinishEvent, SamplingParams
from kb import segment

log = logging.getLogger(__name__)

MAX_TOKENS = 64
# What the translator sees of the documents: the opening words of the best passages written in
# the target language (2 x 120 characters measured best: 3 x 160 the same, 4 x 200 lost a
# question; the text in the user's message instead of the system prompt, worse than none).
HINT_PASSAGES = 2
HINT_CHARS = 120
# How many passages the untranslated search returns to pick them from.
HINT_SEARCH_K = 10
# A knowledge base counts as holding the other language when this share of its sampled
# chunks is written in it.
OTHER_SCRIPT_SHARE = 0.05
LANGUAGES = {"zh": "Chinese", "en": "English"}
SYSTEM = "You are a translator. Translate the user's text. Reply with the translation only."
# Two worked examples each way: a small model then answers with a translation, not an answer.
EXAMPLES = {
    "en": (("公司每年给员工几天带薪年假？",
            "How many days of paid annual leave does the company give employees each year?"),
           ("地铁末班车几点发车？", "What time does the last subway train leave?")),
    "zh": (("How many days of paid annual leave does the company give employees each year?",
            "公司每年给员工几天带薪年假？"),
           ("What time does the last subway train leave?", "地铁末班车几点发车？")),
}


@dataclass(frozen=True, slots=True)
class Translation:
    target: str  # "zh" or "en"
    text: str  # empty when the model gave nothing usable
    seconds: float
    hints: tuple[str, ...] = ()  # the passages' opening words the translator was shown


def translation_target(question: str, scripts: dict[str, float]) -> str | None:
    """The language to translate `question` into for knowledge bases written in `scripts`
    (shares by script), or None when they hold nothing in another language."""
    own = segment.script_of(question)
    if own is None:
        return None
    other = "en" if own == "zh" else "zh"
    return other if scripts.get(other, 0.0) >= OTHER_SCRIPT_SHARE else None


def wording_hints(passages: Iterable[str], target: str) -> tuple[str, ...]:
    """The opening words of the first HINT_PASSAGES `passages` (best first) written in
    `target`, each on one line, for the translator."""
    out: list[str] = []
    for text in passages:
        if len(out) == HINT_PASSAGES:
            break
        if segment.script_of(text) == target:
            out.append(" ".join(text.split())[:HINT_CHARS])
    return tuple(out)


def translate(backend: ModelBackend, question: str, target: str,
              cancel: threading.Event | None = None,
              found: Iterable[str] = ()) -> Translation:
    """The question in `target` ("zh" or "en"), by the chat model `backend`, shown the
    wording of the passages the question as written `found` (best first)."""
    t0 = time.perf_counter()
    hints = wording_hints(found, target)
    system = SYSTEM
    if hints:
        system += (f" Use the wording of these {LANGUAGES[target]} passages where it fits:\n"
                   + "\n".join(f"- {h}" for h in hints))
    messages: list[ChatMessage] = []
    for source, translated in EXAMPLES[target]:
        messages += [ChatMessage("user", source), ChatMessage("assistant", translated)]
    messages.append(ChatMessage("user", question))
    sampling = SamplingParams(temperature=0.0, max_tokens=MAX_TOKENS, repeat_penalty=1.0)
    plan = backend.plan(messages, system=system, reserve=MAX_TOKENS)
    text = ""
    for event in backend.stream(plan, sampling, cancel=cancel):
        if isinstance(event, FinishEvent):
            text = event.text
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    if line == question.strip() or segment.script_of(line) != target:
        line = ""  # not a translation: an echo, or the wrong language
    return Translation(target, line, time.perf_counter() - t0, hints)


def search_queries(question: str, translation: Translation | None) -> list[str]:
    """What retrieval searches for: the question as written and, when there is a
    translation, the question together with it (kb.search.HybridSearch.search_all keeps
    each passage's better rank, so a poor translation cannot bury what the question alone
    finds)."""
    if translation is None or not translation.text:
        return [question]
    return [question, f"{question}\n{translation.text}"]
