"""Retrieval evaluation sets: questions over a corpus, each with the exact evidence strings
that answer it, in labelled kinds (alias paraphrase, numbers written differently,
traditional vs simplified, cross-lingual, answers spanning two chunks, no answer).

A question is found at rank r when every one of its evidence strings lies in some passage
ranked r or better (a two-part answer needs both parts); recall@k is the share found at
k or better, MRR the mean of 1/r (0 when not found in the results). Questions without
evidence (`no_answer`) have no rank: they calibrate the "nothing relevant" threshold.

The set file (JSON): {"corpus": [folders relative to the file], "kinds": {kind: what it
tests}, "questions": [{"id", "kind", "lang", "question", "doc", "evidence": [...],
"answer": [...], "note"}]}. No Qt, no model: the search is passed in."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NO_ANSWER = "no_answer"
CUTOFFS = (1, 5, 10)
MAX_SET_BYTES = 8 * 1024 * 1024
MAX_QUESTIONS = 10_000


class EvalSetError(Exception):
    """An evaluation set that cannot be used (one-line reason)."""


@dataclass(frozen=True, slots=True)
class EvalQuestion:
    id: str
    kind: str
    lang: str
    question: str
    doc: str | None
    evidence: tuple[str, ...]
    answer: tuple[str, ...]
    note: str = ""

    @property
    def answerable(self) -> bool:
        return bool(self.evidence)


@dataclass(frozen=True, slots=True)
class EvalSet:
    path: Path
    corpus: tuple[Path, ...]
    kinds: dict[str, str]
    questions: tuple[EvalQuestion, ...]

    def by_kind(self) -> dict[str, list[EvalQuestion]]:
        out: dict[str, list[EvalQuestion]] = {k: [] for k in self.kinds}
        for q in self.questions:
            out.setdefault(q.kind, []).append(q)
        return {k: v for k, v in out.items() if v}


def _read_json(path: Path) -> Any:
    """A JSON file of bounded size; EvalSetError says what is wrong, in one line."""
    try:
        if path.stat().st_size > MAX_SET_BYTES:
            raise EvalSetError(f"{path.name}: larger than {MAX_SET_BYTES // 2**20} MiB")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalSetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalSetError(f"{path.name}: cannot be read ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise EvalSetError(f"{path.name}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


def load_eval_set(path: str | Path) -> EvalSet:
    """Read and check a set; EvalSetError says what is wrong, in one line."""
    path = Path(path)
    raw = _read_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("questions"), list):
        raise EvalSetError(f"{path.name}: expected an object with a \"questions\" list")
    corpus_raw = raw.get("corpus", ["."])
    if isinstance(corpus_raw, str):
        corpus_raw = [corpus_raw]
    if not isinstance(corpus_raw, list) or not all(isinstance(c, str) for c in corpus_raw):
        raise EvalSetError(f"{path.name}: \"corpus\" must be a folder or a list of folders")
    corpus = tuple((path.parent / c).resolve() for c in corpus_raw)
    for folder in corpus:
        if not folder.is_dir():
            raise EvalSetError(f"{path.name}: corpus folder {folder} does not exist")
    kinds = raw.get("kinds", {})
    if not isinstance(kinds, dict):
        raise EvalSetError(f"{path.name}: \"kinds\" must map each kind to what it tests")
    items = raw["questions"]
    if not items or len(items) > MAX_QUESTIONS:
        raise EvalSetError(f"{path.name}: expected 1 to {MAX_QUESTIONS} questions")
    questions = []
    seen: set[str] = set()
    for n, item in enumerate(items, 1):
        questions.append(_question(item, n, path.name))
        if questions[-1].id in seen:
            raise EvalSetError(f"{path.name}: question id {questions[-1].id!r} is used twice")
        seen.add(questions[-1].id)
    return EvalSet(path, corpus, {str(k): str(v) for k, v in kinds.items()}, tuple(questions))


def load_translations(path: str | Path, eval_set: EvalSet) -> dict[str, str]:
    """Given translations of questions, {question id: translation}, from a JSON object (a
    human's, or another model's, to compare with the chat model's own); EvalSetError says
    what is wrong, in one line."""
    path = Path(path)
    raw = _read_json(path)
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v.strip()
                                            for v in raw.values()):
        raise EvalSetError(f"{path.name}: expected an object mapping question ids to "
                           "translations")
    known = {q.id for q in eval_set.questions}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise EvalSetError(f"{path.name}: no question {unknown[0]!r} in {eval_set.path.name}")
    return {str(k): v.strip() for k, v in raw.items()}


def _question(item: object, n: int, name: str) -> EvalQuestion:
    where = f"{name}: question {n}"
    if not isinstance(item, dict):
        raise EvalSetError(f"{where}: expected an object")
    qid, text = item.get("id", f"#{n}"), item.get("question")
    if not isinstance(qid, str) or not isinstance(text, str) or not text.strip():
        raise EvalSetError(f"{where}: needs a text \"id\" and a non-empty \"question\"")
    where = f"{name}: question {qid}"
    kind = item.get("kind", "")
    evidence = item.get("evidence", [])
    if isinstance(evidence, str):
        evidence = [evidence]
    answer = item.get("answer", [])
    if isinstance(answer, str):
        answer = [answer]
    for key, value in (("evidence", evidence), ("answer", answer)):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise EvalSetError(f"{where}: \"{key}\" must be a list of non-empty texts")
    if not isinstance(kind, str) or not kind:
        raise EvalSetError(f"{where}: needs a \"kind\"")
    if (kind == NO_ANSWER) == bool(evidence):
        raise EvalSetError(f"{where}: a {NO_ANSWER} question has no evidence, any other "
                           "kind needs at least one evidence string")
    doc = item.get("doc")
    return EvalQuestion(qid, kind, str(item.get("lang", "")), text, doc if doc else None,
                        tuple(evidence), tuple(answer), str(item.get("note", "")))


# ------------------------------------------------------------------ scoring


@dataclass(frozen=True, slots=True)
class Passage:
    """What a search returned at one rank, reduced to what scoring needs."""

    text: str
    path: str
    score: float  # the signal the no-answer threshold reads (vector similarity)


@dataclass(slots=True)
class QuestionResult:
    question: EvalQuestion
    rank: int | None  # None: not found in the results (or no evidence)
    top_score: float | None  # the best score among the first passages (score_depth)
    top_path: str | None
    seconds: float


def found_rank(evidence: Sequence[str], passages: Sequence[Passage]) -> int | None:
    """The rank at which every evidence string has been seen (1-based), or None."""
    worst = 0
    for needle in evidence:
        rank = next((i for i, p in enumerate(passages, 1) if needle in p.text), None)
        if rank is None:
            return None
        worst = max(worst, rank)
    return worst or None


@dataclass(slots=True)
class KindScore:
    kind: str
    n: int
    recall: dict[int, float] = field(default_factory=dict)
    mrr: float = 0.0


def score_kind(kind: str, results: Sequence[QuestionResult]) -> KindScore:
    ranks = [r.rank for r in results]
    score = KindScore(kind, len(results))
    for k in CUTOFFS:
        score.recall[k] = sum(1 for r in ranks if r is not None and r <= k) / len(ranks)
    score.mrr = sum(1.0 / r for r in ranks if r is not None) / len(ranks)
    return score


@dataclass(slots=True)
class RetrievalReport:
    results: list[QuestionResult]
    kinds: list[KindScore]
    overall: KindScore
    query_ms_p50: float
    query_ms_p95: float
    index: dict[str, Any] = field(default_factory=dict)  # what was indexed, how fast
    translation: dict[str, Any] = field(default_factory=dict)  # questions translated first

    def misses(self, k: int = 5) -> list[QuestionResult]:
        return [r for r in self.results
                if r.question.answerable and (r.rank is None or r.rank > k)]

    def no_answer_scores(self) -> list[float]:
        return [r.top_score for r in self.results
                if not r.question.answerable and r.top_score is not None]

    def answerable_scores(self) -> list[float]:
        return [r.top_score for r in self.results
                if r.question.answerable and r.top_score is not None]

    def declined(self, threshold: float) -> tuple[int, int, int, int]:
        """(answerable declined, answerable, no-answer declined, no-answer) when a question
        whose best passage scores below `threshold` is answered "the knowledge base has no
        answer"."""
        found = self.answerable_scores()
        none = self.no_answer_scores()
        return (sum(1 for s in found if s < threshold), len(found),
                sum(1 for s in none if s < threshold), len(none))

    def calibrated_threshold(self, step: float = 0.01) -> float | None:
        """The highest threshold (on a `step` grid) that declines no answerable question of
        the set: what the "no answer" rule may use without hiding a passage that answers."""
        found = self.answerable_scores()
        if not found or not self.no_answer_scores():
            return None
        return math.floor(min(found) / step - 1e-9) * step

    def to_dict(self) -> dict[str, Any]:
        def kind(s: KindScore) -> dict[str, Any]:
            return {"kind": s.kind, "n": s.n, "mrr": round(s.mrr, 4),
                    **{f"recall@{k}": round(v, 4) for k, v in s.recall.items()}}

        return {
            "overall": kind(self.overall),
            "kinds": [kind(s) for s in self.kinds],
            "query_ms": {"p50": round(self.query_ms_p50, 1), "p95": round(self.query_ms_p95, 1)},
            "index": self.index,
            "translation": self.translation,
            "no_answer_threshold": self.calibrated_threshold(),
            "questions": [
                {"id": r.question.id, "kind": r.question.kind, "question": r.question.question,
                 "rank": r.rank, "top_score": None if r.top_score is None else
                 round(r.top_score, 4), "top_doc": Path(r.top_path).name if r.top_path else None,
                 "expected_doc": r.question.doc}
                for r in self.results
            ],
        }


Search = Callable[[str], Sequence[Passage]]


def evaluate(questions: Iterable[EvalQuestion], search: Search,
             clock: Callable[[], float] | None = None, score_depth: int = 5) -> RetrievalReport:
    """Run every question through `search` (which returns ranked passages, at least as
    many as the largest cutoff it should be judged on) and score the answerable ones."""
    import time

    tick = clock or time.perf_counter
    results: list[QuestionResult] = []
    for q in questions:
        t0 = tick()
        passages = search(q.question)
        seconds = tick() - t0
        top = passages[0] if passages else None
        rank = found_rank(q.evidence, passages) if q.answerable else None
        # The no-answer rule reads the best score among the passages a turn would use.
        best = max((p.score for p in passages[:score_depth]), default=None)
        results.append(QuestionResult(q, rank, best, top.path if top else None, seconds))
    answerable = [r for r in results if r.question.answerable]
    if not answerable:
        raise EvalSetError("the set has no question with evidence to score")
    by_kind: dict[str, list[QuestionResult]] = {}
    for r in answerable:
        by_kind.setdefault(r.question.kind, []).append(r)
    times = sorted(r.seconds * 1000 for r in results)
    return RetrievalReport(
        results,
        [score_kind(k, v) for k, v in by_kind.items()],
        score_kind("all", answerable),
        statistics.median(times),
        percentile(times, 0.95),
    )


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The value at quantile `q` of sorted values (nearest rank); 0 for none."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]
