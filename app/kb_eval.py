"""`mingjing kb eval FILE`: index an evaluation set's corpus into a throwaway knowledge base
and report how well retrieval finds each question's evidence (recall@1/5/10, MRR, the
misses), per kind, with the cost (ingest chunks/s, query p50/p95).

The user's own knowledge bases are never touched: the corpus goes into a temporary database
that is deleted afterwards."""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from app.cli_output import EXIT_INTERRUPTED, InputError, print_json
from app.kb_answers import AnswerReport, answer_questions
from app.paths import AppPaths
from app.rag import NO_ANSWER_BELOW
from engine.backend import ModelBackend
from kb.evaluation import (
    CUTOFFS,
    EvalSet,
    EvalSetError,
    Passage,
    RetrievalReport,
    evaluate,
    load_eval_set,
    load_translations,
    percentile,
)
from kb.indexer import Indexer
from kb.store import KnowledgeStore

EVAL_KB = "eval"
CHAT_CTX = 4096  # room for the passages' budget, the question and the reply
SEARCH_K = max(CUTOFFS)


def run(args: argparse.Namespace, paths: AppPaths, cancel: threading.Event) -> int:
    if args.model and not (args.translate or args.answers):
        raise InputError("--model goes with --translate or --answers (the model that "
                         "translates and answers)")
    try:
        eval_set = load_eval_set(args.file)
        given = load_translations(args.translations, eval_set) if args.translations else {}
        with tempfile.TemporaryDirectory(prefix="mingjing-eval-") as tmp, \
                KnowledgeStore(Path(tmp) / "eval.sqlite3") as store, \
                _chat_model(args.translate or args.answers, paths, args.model) as model:
            return _evaluate(args, eval_set, given, store, model, cancel)
    except EvalSetError as exc:
        print(f"mingjing: {exc}", file=sys.stderr)
        return 2


def _evaluate(args: argparse.Namespace, eval_set: EvalSet, given: Mapping[str, str],
              store: KnowledgeStore, model: ModelBackend | None,
              cancel: threading.Event) -> int:
    index = index_corpus(store, eval_set, args.embedder, cancel, quiet=args.json)
    if index is None:
        return EXIT_INTERRUPTED
    report = retrieval_report(store, eval_set, model if args.translate else None, given)
    report.index = index
    answers = None
    if args.answers:
        assert model is not None
        answers = answer_questions(store, EVAL_KB, eval_set.questions, model,
                                   translate=args.translate, cancel=cancel,
                                   progress=None if args.json else _answer_progress)
        if cancel.is_set():
            return EXIT_INTERRUPTED
    if args.json:
        print_json({**report.to_dict(),
                    **({"answers": answers.to_dict()} if answers is not None else {})})
    else:
        print_report(report, eval_set)
        if answers is not None:
            print_answers(answers)
    return 0


def _answer_progress(done: int, total: int) -> None:
    print(f"\ranswering {done}/{total}", end="" if done < total else "\n", file=sys.stderr,
          flush=True)


def print_answers(report: AnswerReport) -> None:
    s = report.shares()

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:.0f} %"

    print(f"answers by the chat model ({s['seconds_per_question']} s a question):")
    print(f"  {s['answerable']} answerable: {pct(s['correct'])} hold the expected fact, "
          f"{pct(s['correctly_cited'])} cite a source that holds it, "
          f"{pct(s['correct_and_cited'])} both; "
          f"{pct(s['declined_wrongly'])} wrongly say the sources lack it")
    for kind, k in s["kinds"].items():
        print(f"    {kind:<14}{k['n']:>4}  correct {pct(k['correct']):>6}  "
              f"cited {pct(k['correctly_cited']):>6}  both {pct(k['correct_and_cited']):>6}")
    print(f"  {s['no_answer']} without an answer: {pct(s['declined'])} declined "
          f"({pct(s['declined_by_threshold'])} by the retrieval threshold)")


def index_corpus(store: KnowledgeStore, eval_set: EvalSet, embedder: str | None,
                 cancel: threading.Event, *, quiet: bool = False) -> dict[str, object] | None:
    indexer = Indexer(store)
    kb = indexer.ensure_kb(EVAL_KB, embedder=embedder)
    if not quiet:
        print(f"indexing {', '.join(str(c) for c in eval_set.corpus)} with {kb.embedder}…",
              file=sys.stderr, flush=True)
    report = indexer.add(EVAL_KB, list(eval_set.corpus), cancel=cancel)
    if report.cancelled:
        return None
    for failure in report.failed:
        print(f"  failed: {failure.path}: {failure.reason}", file=sys.stderr)
    return {"embedder": kb.embedder, "files": len(report.outcomes), "chunks": report.chunks,
            "seconds": round(report.seconds, 2),
            "chunks_per_s": round(report.chunks / report.seconds, 1) if report.seconds else None}


@contextmanager
def _chat_model(wanted: bool, paths: AppPaths,
                model: str | None = None) -> Iterator[ModelBackend | None]:
    """The chat model that translates questions and answers them as chat turns do: `model`
    (a built-in id or a GGUF file), by default the built-in chat model."""
    if not wanted:
        yield None
        return
    from engine.types import LoadParams
    from models.open import open_backend
    from models.refs import DEFAULT_REF, ModelRef

    ref = ModelRef.parse(model) if model else DEFAULT_REF
    backend = open_backend(ref, paths.models_dir, LoadParams(n_ctx=CHAT_CTX))
    try:
        if backend.mode != "chat":
            raise InputError(f"{ref}: a base model continues text; translating and "
                             "answering need a chat model")
        yield backend
    finally:
        backend.close()


def retrieval_report(store: KnowledgeStore, eval_set: EvalSet,
                     translator: ModelBackend | None = None,
                     given: Mapping[str, str] | None = None) -> RetrievalReport:
    """Each question searched as a chat turn searches it (translated first, with a
    translator, when the corpus holds the other language); translation time is reported
    apart from the query time. `given` translations (question id -> text) take the place
    of the translator's for those questions."""
    from app.query_translation import (
        HINT_SEARCH_K,
        Translation,
        search_queries,
        translate,
        translation_target,
    )
    from app.rag import retrieve
    from kb import segment

    kb = store.get_kb(EVAL_KB)
    scripts = store.scripts([kb.id]) if kb is not None else {}
    translation_s: list[float] = []

    def search(query: str | list[str]) -> Sequence[Passage]:
        hits = retrieve(store, [EVAL_KB], query, k=SEARCH_K)
        return [Passage(h.text, h.path, h.vector_score if h.vector_score is not None else 0.0)
                for h in hits]

    given = given or {}
    searched = {q.question: [q.question] for q in eval_set.questions}
    for q in eval_set.questions:
        if q.id in given:
            text = given[q.id]
            searched[q.question] = search_queries(
                q.question, Translation(segment.script_of(text) or "", text, 0.0))
        elif translator is not None:
            target = translation_target(q.question, scripts)
            if target is not None:
                found = retrieve(store, [EVAL_KB], q.question, k=HINT_SEARCH_K)
                translation = translate(translator, q.question, target,
                                        found=(h.text for h in found))
                translation_s.append(translation.seconds)
                searched[q.question] = search_queries(q.question, translation)
    search("warm-up")  # loads the embedder: not a query's cost
    report = evaluate(eval_set.questions, lambda text: search(searched[text]))
    if translation_s:
        ordered = sorted(translation_s)
        report.translation = {"questions": len(ordered),
                              "p50_s": round(percentile(ordered, 0.5), 2),
                              "p95_s": round(percentile(ordered, 0.95), 2)}
    if given:
        report.translation["given"] = len(given)
    return report


def print_report(report: RetrievalReport, eval_set: EvalSet) -> None:
    index = report.index
    print(f"{eval_set.path.name}: {len(eval_set.questions)} questions; "
          f"{index.get('files')} files, {index.get('chunks')} chunks indexed in "
          f"{index.get('seconds')} s ({index.get('chunks_per_s')} chunks/s, "
          f"{index.get('embedder')})")
    header = f"{'kind':<14}{'n':>4}" + "".join(f"{'R@' + str(k):>7}" for k in CUTOFFS) + \
        f"{'MRR':>7}"
    print(header)
    for score in [*report.kinds, report.overall]:
        cells = "".join(f"{score.recall[k]:>7.2f}" for k in CUTOFFS)
        print(f"{score.kind:<14}{score.n:>4}{cells}{score.mrr:>7.2f}")
    print(f"query time: p50 {report.query_ms_p50:.0f} ms, p95 {report.query_ms_p95:.0f} ms")
    t = report.translation
    if t.get("questions"):
        print(f"translated first: {t['questions']} questions, p50 {t['p50_s']} s, "
              f"p95 {t['p95_s']} s (the chat model)")
    if t.get("given"):
        print(f"translations given: {t['given']} questions")
    none = report.no_answer_scores()
    if none:
        found = report.answerable_scores()
        print(f"top vector similarity: no-answer questions median {_median(none):.3f} "
              f"(max {max(none):.3f}); answerable median {_median(found):.3f} "
              f"(min {min(found):.3f})")
        shipped = NO_ANSWER_BELOW.get(str(report.index.get("embedder")))
        calibrated = report.calibrated_threshold()
        for label, value in (("shipped", shipped), ("calibrated on this set", calibrated)):
            if value is not None:
                a, n_a, d, n_d = report.declined(value)
                print(f"no-answer threshold {value:.2f} ({label}): declines {d} of {n_d} "
                      f"no-answer questions and {a} of {n_a} answerable ones")
    misses = report.misses(5)
    if misses:
        print(f"misses at 5 ({len(misses)}):")
        for r in misses:
            where = f"rank {r.rank}" if r.rank else "not in top 10"
            top = Path(r.top_path).name if r.top_path else "-"
            print(f"  {r.question.id} [{r.question.kind}] {r.question.question}  → {where}; "
                  f"top: {top}, expected: {r.question.doc}")


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values) if values else 0.0
