"""`mingjing kb eval --answers`: each question of an evaluation set asked as a chat turn of
the built-in chat model over the set's corpus, and the replies judged:

- correct: the reply holds one of the question's expected answers (`answer`), compared
  without case and spaces;
- correctly cited: one of its valid citations (app/citations.py) points at a source that
  holds the question's evidence;
- declined (questions without an answer): the turn found nothing relevant (the no-answer
  threshold), or the reply says the sources do not hold the answer.

Plain Python: the turn is run by the chat service, as the window runs it."""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.chat_service import ChatService, Started, TurnRequest, TurnState
from engine.backend import ModelBackend
from engine.types import ChatMessage, FinishEvent, SamplingParams
from kb.evaluation import EvalQuestion
from kb.store import KnowledgeStore

MAX_TOKENS = 160
# How a reply says that the sources do not hold the answer, in either language.
DECLINE = re.compile(
    r"没有(?:提到|提及|相关|包含|给出|说明|找到|关于|涉及|答案|信息)|未(?:提到|提及|包含|说明|找到)|"
    r"不包含|无法(?:回答|确定|找到|从)|不知道|没有答案|资料中没有|"
    r"(?:do(?:es)?|did) not (?:contain|mention|include|say|provide|specify)|"
    r"(?:doesn't|don't|didn't) (?:contain|mention|include|say|provide|specify)|"
    r"no (?:information|mention|answer|relevant)|not (?:mentioned|found|provided|specified)|"
    r"cannot (?:answer|find|determine)|can't (?:answer|find|determine)",
    re.IGNORECASE)


@dataclass(slots=True)
class AnswerResult:
    question: EvalQuestion
    reply: str
    correct: bool
    cited: bool  # a valid citation to a source holding the evidence
    declined: bool
    no_answer_rule: bool  # the retrieval threshold declined it before the model spoke
    seconds: float


@dataclass(slots=True)
class AnswerReport:
    results: list[AnswerResult] = field(default_factory=list)

    def answerable(self) -> list[AnswerResult]:
        return [r for r in self.results if r.question.answerable]

    def unanswerable(self) -> list[AnswerResult]:
        return [r for r in self.results if not r.question.answerable]

    def shares(self) -> dict[str, Any]:
        found = self.answerable()
        none = self.unanswerable()
        by_kind: dict[str, list[AnswerResult]] = {}
        for r in found:
            by_kind.setdefault(r.question.kind, []).append(r)
        times = [r.seconds for r in self.results]
        return {
            "answerable": len(found),
            "correct": _share(found, lambda r: r.correct),
            "correctly_cited": _share(found, lambda r: r.cited),
            # both: the reply states the fact and cites a source holding it (a bare "[1]"
            # cites without answering)
            "correct_and_cited": _share(found, lambda r: r.correct and r.cited),
            "declined_wrongly": _share(found, lambda r: r.declined),
            "no_answer": len(none),
            "declined": _share(none, lambda r: r.declined),
            "declined_by_threshold": _share(none, lambda r: r.no_answer_rule),
            "kinds": {k: {"n": len(v), "correct": _share(v, lambda r: r.correct),
                          "correctly_cited": _share(v, lambda r: r.cited),
                          "correct_and_cited": _share(v, lambda r: r.correct and r.cited)}
                      for k, v in by_kind.items()},
            "seconds_per_question": round(statistics.median(times), 1) if times else None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.shares(), "questions": [
            {"id": r.question.id, "kind": r.question.kind, "reply": r.reply,
             "correct": r.correct, "cited": r.cited, "declined": r.declined}
            for r in self.results]}


def _share(results: Sequence[AnswerResult], test: Callable[[AnswerResult], bool]) -> float | None:
    return round(sum(1 for r in results if test(r)) / len(results), 3) if results else None


def _plain(text: str) -> str:
    return "".join(text.lower().split())


def holds_answer(reply: str, answers: Sequence[str]) -> bool:
    plain = _plain(reply)
    return any(_plain(a) in plain for a in answers if a.strip())


def answer_questions(store: KnowledgeStore, kb: str, questions: Sequence[EvalQuestion],
                     backend: ModelBackend, *, translate: bool = True,
                     cancel: threading.Event | None = None,
                     progress: Callable[[int, int], None] | None = None) -> AnswerReport:
    """Ask each question as a one-turn chat over knowledge base `kb`, greedy."""
    service = ChatService(backend, knowledge=store)
    sampling = SamplingParams(temperature=0.0, max_tokens=MAX_TOKENS, repeat_penalty=1.0)
    report = AnswerReport()
    for n, q in enumerate(questions, 1):
        if cancel is not None and cancel.is_set():
            break
        t0 = time.perf_counter()
        request = TurnRequest(None, [ChatMessage("user", q.question)], sampling, kbs=[kb],
                              persist=False, translate_query=translate)
        backend.reset_cache()  # each question on its own, as a new chat
        state: TurnState | None = None
        reply = ""
        for event in service.run(request, cancel):
            if isinstance(event, Started):
                state = event.state
            elif isinstance(event, FinishEvent):
                reply = event.text
        assert state is not None and state.rag is not None
        rag = state.rag
        sources = {s["number"]: s for s in rag.sources()}
        cited = any(c["valid"] and any(e in str(sources[c["number"]]["text"])
                                       for e in q.evidence)
                    for c in state.citations) if q.answerable else False
        report.results.append(AnswerResult(
            q, reply, q.answerable and holds_answer(reply, q.answer), cited,
            rag.no_answer or bool(DECLINE.search(reply)), rag.no_answer,
            time.perf_counter() - t0))
        if progress is not None:
            progress(n, len(questions))
    return report
