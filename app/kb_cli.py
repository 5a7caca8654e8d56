"""`mingjing kb ...`: import, search, list and remove knowledge-base content from a terminal.

What the user can get wrong (an empty name, --k out of range) is one line and exit 2; what the
world does to the file (disk full, read-only, not ours) is one line and exit 1; both through
the CLI's one error path (app/cli_errors.py). Ctrl-C during an import or a sync keeps what was
finished, prints the summary and exits with 130. File names that are not text are shown with
replacement characters (kb.filenames)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from app import model_cli
from app.cli_args import number, path_arg, text
from app.cli_output import EXIT_INTERRUPTED, print_json
from app.paths import AppPaths
from kb.filenames import display_path, unicode_path
from kb.indexer import ImportProgress, ImportReport, Indexer
from kb.store import KnowledgeStore, check_kb_name, check_result_count

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_BAD_INPUT = 2



DEFAULT_KB = "default"


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    model_name = path_arg("the model")

    kb_name = text("the knowledge base name")
    kb = sub.add_parser("kb", parents=[common], help="knowledge bases")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="SUBCOMMAND", required=True)
    kb_add = kb_sub.add_parser("add", parents=[common], help="import files and folders")
    kb_add.add_argument("--kb", default=DEFAULT_KB, metavar="NAME", type=kb_name)
    kb_add.add_argument("--watch", action="store_true",
                        help="re-index added folders when they change (in the app)")
    kb_add.add_argument("--embedder", metavar="SPEC", type=path_arg("the embedder"),
                        help="embedder for a new knowledge base: a sentence-transformers "
                             "model folder (default: built-in multilingual USE)")
    kb_add.add_argument("paths", nargs="+", metavar="PATH")
    kb_search = kb_sub.add_parser("search", parents=[common], help="retrieve passages only")
    kb_search.add_argument("--kb", action="append", metavar="NAME", type=kb_name)
    kb_search.add_argument("--k", type=number("k"), default=5, metavar="N")
    kb_search.add_argument("--json", action="store_true")
    kb_search.add_argument("query", metavar="QUERY", type=text("the query", empty=False))
    kb_list = kb_sub.add_parser("list", parents=[common], help="knowledge bases and files")
    kb_list.add_argument("--kb", metavar="NAME", type=kb_name,
                         help="show this knowledge base's files")
    kb_list.add_argument("--json", action="store_true")
    kb_remove = kb_sub.add_parser("remove", parents=[common],
                                  help="remove files/folders from a knowledge base, or all of it")
    kb_remove.add_argument("--kb", default=DEFAULT_KB, metavar="NAME", type=kb_name)
    kb_remove.add_argument("--all", action="store_true", help="delete the whole knowledge base")
    kb_remove.add_argument("paths", nargs="*", metavar="PATH")
    kb_sync = kb_sub.add_parser("sync", parents=[common],
                                help="re-check a knowledge base's files for changes")
    kb_sync.add_argument("--kb", default=DEFAULT_KB, metavar="NAME", type=kb_name)
    kb_emb = kb_sub.add_parser("embedder", parents=[common],
                               help="switch a knowledge base's embedder and re-embed")
    kb_emb.add_argument("--kb", default=DEFAULT_KB, metavar="NAME", type=kb_name)
    kb_emb.add_argument("spec", metavar="SPEC",
                        type=path_arg("the embedder"),
                        help="'use-multilingual-v3' or a sentence-transformers folder")
    kb_eval = kb_sub.add_parser(
        "eval", parents=[common],
        help="measure retrieval on an evaluation set (its corpus goes into a throwaway index)")
    kb_eval.add_argument("--embedder", metavar="SPEC", type=path_arg("the embedder"),
                         help="the embedder to evaluate (default: the built-in one)")
    kb_eval.add_argument("--translate", action="store_true",
                         help="translate questions first with the chat model where "
                              "the corpus holds the other language, as chat turns do")
    kb_eval.add_argument("--answers", action="store_true",
                         help="also ask each question of the chat model and judge "
                              "the replies (slow: seconds a question)")
    kb_eval.add_argument("--model", metavar="MODEL", type=model_name,
                         help=f"the chat model that translates and answers: {model_cli.MODEL_HELP}"
                              " (default: the built-in chat model)")
    kb_eval.add_argument("--translations", metavar="FILE", type=path_arg("the translations"),
                         help="a JSON object of question ids and translations to search with "
                              "instead of the chat model's (retrieval only)")
    kb_eval.add_argument("--json", action="store_true")
    kb_eval.add_argument("file", metavar="FILE", type=path_arg("the evaluation set"))

def _progress_printer() -> tuple[object, list[float]]:
    tty = sys.stderr.isatty()
    last: list[float] = [0.0]

    def show(p: ImportProgress) -> None:
        if p.phase == "scanning":
            print("scanning…", file=sys.stderr, flush=True)
            return
        if p.phase == "done":
            if tty:
                print(file=sys.stderr)
            return
        name = display_path(Path(p.current).name)
        line = f"[{p.files_done}/{p.files_total}] {p.chunks_done} chunks  {name}"
        if tty:
            print(f"\r{line[:100]:<100}", end="", file=sys.stderr, flush=True)
        elif p.files_done != last[0]:
            last[0] = p.files_done
            print(line, file=sys.stderr, flush=True)

    return show, last


def _report(report: ImportReport) -> int:
    print(f"{report.kb}: {report.summary()}", file=sys.stderr)
    for failure in report.failed:
        print(f"  failed: {display_path(failure.path)}: {failure.reason}", file=sys.stderr)
    if report.cancelled:
        return EXIT_INTERRUPTED
    failed = report.failed or report.error
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _with_cancel() -> tuple[threading.Event, object]:
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    return cancel, previous


def _bad_input(message: str) -> int:
    print(f"mingjing: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run(args: argparse.Namespace, paths: AppPaths) -> int:
    # Checked before the database is opened or the embedder loaded.
    if args.kb_command == "add":
        args.kb = check_kb_name(args.kb)
    if args.kb_command == "search":
        check_result_count(args.k)
    if args.kb_command == "eval":  # a throwaway index: the user's database is not opened
        from app import kb_eval

        cancel, previous = _with_cancel()
        try:
            return kb_eval.run(args, paths, cancel)
        finally:
            signal.signal(signal.SIGINT, previous)  # type: ignore[arg-type]
    return _run(args, paths)


def _run(args: argparse.Namespace, paths: AppPaths) -> int:
    with KnowledgeStore(paths.knowledge_db) as store:
        indexer = Indexer(store)
        command = args.kb_command
        if command == "add":
            if store.get_kb(args.kb) is None:
                indexer.ensure_kb(args.kb, embedder=args.embedder)
            show, _ = _progress_printer()
            cancel, previous = _with_cancel()
            try:
                report = indexer.add(args.kb, args.paths, watch=args.watch, progress=show,  # type: ignore[arg-type]
                                     cancel=cancel)
            finally:
                signal.signal(signal.SIGINT, previous)  # type: ignore[arg-type]
            return _report(report)
        if command == "sync":
            if store.get_kb(args.kb) is None:
                return _bad_input(f"no knowledge base named {args.kb!r}")
            show, _ = _progress_printer()
            cancel, previous = _with_cancel()
            try:
                report = indexer.sync(args.kb, progress=show, cancel=cancel)  # type: ignore[arg-type]
            finally:
                signal.signal(signal.SIGINT, previous)  # type: ignore[arg-type]
            return _report(report)
        if command == "search":
            return _search(args, store)
        if command == "list":
            return _list(args, store)
        if command == "remove":
            return _remove(args, store)
        if command == "embedder":
            if store.get_kb(args.kb) is None:
                print(f"mingjing: no knowledge base named {args.kb!r}", file=sys.stderr)
                return EXIT_BAD_INPUT
            done = indexer.reembed(args.kb, args.spec, progress=_reembed_progress)
            print(f"{args.kb}: {done} chunks re-embedded with {args.spec}", file=sys.stderr)
            return EXIT_OK
    raise AssertionError(command)


def _reembed_progress(p: ImportProgress) -> None:
    print(f"\rre-embedding {p.chunks_done}/{p.files_total}", end="", file=sys.stderr, flush=True)


def _search(args: argparse.Namespace, store: KnowledgeStore) -> int:
    from app.rag import retrieve

    names = args.kb or [kb.name for kb in store.list_kbs()]
    if not names:
        print("mingjing: there is no knowledge base yet (mingjing kb add PATH...)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    hits = retrieve(store, names, args.query, k=args.k)  # an unknown name: exit 2
    if args.json:
        print_json({"query": args.query, "hits": [h.to_dict() for h in hits]})
        return EXIT_OK
    for hit in hits:
        vs = f"{hit.vector_score:.3f}" if hit.vector_score is not None else "-"
        ks = f"{hit.keyword_score:.2f}" if hit.keyword_score is not None else "-"
        print(f"#{hit.rank}  {display_path(hit.path)}  ({hit.location()})")
        print(f"    vector {vs} (rank {hit.vector_rank or '-'}) · keyword {ks} "
              f"(rank {hit.keyword_rank or '-'}) · terms: {' '.join(hit.matched_terms) or '-'}")
        snippet = " ".join(hit.text.split())
        print(f"    {snippet[:200]}{'…' if len(snippet) > 200 else ''}")
    if not hits:
        print("(no match)")
    return EXIT_OK


def _list(args: argparse.Namespace, store: KnowledgeStore) -> int:
    kbs = store.list_kbs()
    if args.kb is not None:
        kb = store.get_kb(args.kb)
        if kb is None:
            print(f"mingjing: no knowledge base named {args.kb!r}", file=sys.stderr)
            return EXIT_BAD_INPUT
        files = store.files(kb.id)
        if args.json:
            rows = [{**f.__dict__, "path": unicode_path(f.path)} for f in files]
            print_json(rows)
            return EXIT_OK
        for f in files:
            extra = f.error if f.status == "failed" else f"{f.chunks} chunks"
            print(f"{f.status:<8} {display_path(f.path)}  ({extra})")
        return EXIT_OK
    if args.json:
        print_json([kb.__dict__ for kb in kbs])
        return EXIT_OK
    for kb in kbs:
        print(f"{kb.name}: {kb.files} files, {kb.chunks} chunks, embedder {kb.embedder}")
    if not kbs:
        print("(no knowledge base yet)")
    return EXIT_OK


def _remove(args: argparse.Namespace, store: KnowledgeStore) -> int:
    kb = store.get_kb(args.kb)
    if kb is None:
        print(f"mingjing: no knowledge base named {args.kb!r}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not args.paths:
        if not args.all:
            print("mingjing: name files or folders to remove, or pass --all to delete the "
                  f"whole knowledge base {kb.name!r}", file=sys.stderr)
            return EXIT_BAD_INPUT
        store.remove_kb(kb.name)
        print(f"removed knowledge base {kb.name!r}", file=sys.stderr)
        return EXIT_OK
    removed = 0
    for raw in args.paths:
        target = str(Path(raw).expanduser().absolute())
        for record in store.files(kb.id, under=target):
            store.remove_file(record.id)
            removed += 1
        store.remove_source(kb.id, target)
    print(f"removed {removed} files from {kb.name!r}", file=sys.stderr)
    return EXIT_OK
