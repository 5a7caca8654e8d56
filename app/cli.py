"""The headless command line over the same core as the window: `ask` and `model info`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from app import model_cli
from app.paths import AppPaths
from kb.db import DatabaseError as KnowledgeError

DEFAULT_KB = "default"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="folder for all app data (default: $MINGJING_HOME or the OS data folder)",
    )
    parser = argparse.ArgumentParser(
        prog="mingjing",
        description="Mingjing (明镜): chat with a local GGUF model and see what it does.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", parents=[common], help="open the window (the default)")
    gui.add_argument("--model", metavar="PATH", help="GGUF file to open (`mingjing FILE.gguf`)")

    ask = sub.add_parser("ask", parents=[common], help="answer one prompt, streamed to stdout")
    ask.add_argument("prompt", metavar="PROMPT", help="the prompt; '-' reads standard input")
    ask.add_argument("--model", metavar="MODEL",
                     help=f"{model_cli.MODEL_HELP} (default: the model chosen in the window, "
                          "at first the built-in chat model)")
    ask.add_argument("--system", metavar="TEXT", help="system prompt")
    ask.add_argument("--max-tokens", type=int, metavar="N", help="reply length limit")
    ask.add_argument("--temperature", type=float, metavar="T")
    ask.add_argument("--top-p", type=float, metavar="P")
    ask.add_argument("--sample-top-k", type=int, metavar="K", dest="top_k",
                     help="sampling: keep only the K most likely tokens")
    ask.add_argument("--min-p", type=float, metavar="P")
    ask.add_argument("--repeat-penalty", type=float, metavar="R")
    ask.add_argument("--seed", type=int, metavar="S")
    ask.add_argument("--stop", action="append", metavar="TEXT", help="stop string (repeatable)")
    ask.add_argument("--ctx", type=int, metavar="N", help="context window size in tokens")
    ask.add_argument("--threads", type=int, metavar="N")
    ask.add_argument("--gpu-layers", type=int, metavar="N")
    ask.add_argument(
        "--template",
        choices=("auto", "completion", "gemma", "chatml"),
        help="chat format: the model's own (auto), plain continuation, or a built-in one",
    )
    ask.add_argument("--kb", action="append", metavar="NAME",
                     help="answer from this knowledge base (repeatable)")
    ask.add_argument("--k", type=int, default=5, metavar="N", help="passages to retrieve")
    ask.add_argument("--top-k", type=int, default=0, metavar="N", dest="show_top_k",
                     help="with --json: the N most likely candidates for each generated token")
    ask.add_argument("--json", action="store_true", help="print one JSON object at the end")

    kb = sub.add_parser("kb", parents=[common], help="knowledge bases")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="SUBCOMMAND", required=True)
    kb_add = kb_sub.add_parser("add", parents=[common], help="import files and folders")
    kb_add.add_argument("--kb", default=DEFAULT_KB, metavar="NAME")
    kb_add.add_argument("--watch", action="store_true",
                        help="re-index added folders when they change (in the app)")
    kb_add.add_argument("--embedder", metavar="SPEC",
                        help="embedder for a new knowledge base: a sentence-transformers "
                             "model folder (default: built-in multilingual USE)")
    kb_add.add_argument("paths", nargs="+", metavar="PATH")
    kb_search = kb_sub.add_parser("search", parents=[common], help="retrieve passages only")
    kb_search.add_argument("--kb", action="append", metavar="NAME")
    kb_search.add_argument("--k", type=int, default=5, metavar="N")
    kb_search.add_argument("--json", action="store_true")
    kb_search.add_argument("query", metavar="QUERY")
    kb_list = kb_sub.add_parser("list", parents=[common], help="knowledge bases and files")
    kb_list.add_argument("--kb", metavar="NAME", help="show this knowledge base's files")
    kb_list.add_argument("--json", action="store_true")
    kb_remove = kb_sub.add_parser("remove", parents=[common],
                                  help="remove files/folders from a knowledge base, or all of it")
    kb_remove.add_argument("--kb", default=DEFAULT_KB, metavar="NAME")
    kb_remove.add_argument("--all", action="store_true", help="delete the whole knowledge base")
    kb_remove.add_argument("paths", nargs="*", metavar="PATH")
    kb_sync = kb_sub.add_parser("sync", parents=[common],
                                help="re-check a knowledge base's files for changes")
    kb_sync.add_argument("--kb", default=DEFAULT_KB, metavar="NAME")
    kb_emb = kb_sub.add_parser("embedder", parents=[common],
                               help="switch a knowledge base's embedder and re-embed")
    kb_emb.add_argument("--kb", default=DEFAULT_KB, metavar="NAME")
    kb_emb.add_argument("spec", metavar="SPEC",
                        help="'use-multilingual-v3' or a sentence-transformers folder")

    model_cli.add_parsers(sub, common)
    from app import serve_cli  # the API's command, in its own module

    serve_cli.add_parser(sub, common)
    return parser


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"mingjing: {message}", file=sys.stderr)
    return code


def cmd_ask(args: argparse.Namespace, paths: AppPaths) -> int:
    from app.chat_service import ChatService, Started, TurnRequest
    from app.rag import RetrievalError
    from app.settings import load_settings
    from engine.errors import EngineError
    from engine.types import ChatMessage, FinishEvent, TokenEvent
    from models.open import open_backend

    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    if not prompt.strip():
        return _fail("the prompt is empty")
    settings = load_settings(paths.settings_file)
    sampling = settings.sampling
    overrides = {
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "top_k": args.top_k,
        "min_p": args.min_p,
        "repeat_penalty": args.repeat_penalty,
        "seed": args.seed,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(sampling, key, value)
    if args.stop:
        sampling.stop = tuple(args.stop)
    load = settings.load_params()
    if args.ctx:
        load.n_ctx = args.ctx
    if args.threads:
        load.n_threads = args.threads
    if args.gpu_layers is not None:
        load.n_gpu_layers = args.gpu_layers
    template = args.template or settings.chat_template
    system = args.system if args.system is not None else (settings.system_prompt or None)

    try:
        ref = model_cli.parse_ref(args.model, paths)
        backend = open_backend(ref, paths.models_dir, load,
                               template=None if template == "auto" else template)
    except EngineError as exc:
        return _fail(str(exc), model_cli.engine_error_code(exc))

    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    if backend.mode == "completion" and not args.json and sys.stderr.isatty():
        print("(base model: continuing your text)", file=sys.stderr)
    top_k = args.show_top_k if args.json else 0
    request = TurnRequest(None, [ChatMessage("user", prompt)], sampling, system=system,
                          kbs=list(args.kb or []), top_k=args.k, candidates=top_k,
                          inspect=args.json, persist=False)
    knowledge = None
    finish: FinishEvent | None = None
    steps: list[dict[str, Any]] = []
    state = None
    try:
        if request.kbs:
            from kb.store import KnowledgeStore

            knowledge = KnowledgeStore(paths.knowledge_db)
        service = ChatService(backend, knowledge=knowledge, model_ref=str(ref))
        for event in service.run(request, cancel):
            if isinstance(event, Started):
                state = event.state
            elif isinstance(event, TokenEvent):
                if top_k:
                    steps.append({
                        "id": event.token_id,
                        "piece": backend.detokenize([event.token_id]),
                        "candidates": [
                            {"id": c.token_id, "piece": c.piece, "p": c.probability,
                             "p_at_temperature": c.probability_at_temperature}
                            for c in event.candidates
                        ],
                    })
                if not args.json and event.text:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
            elif isinstance(event, FinishEvent):
                finish = event
    except (RetrievalError, KnowledgeError) as exc:
        return _fail(str(exc), EXIT_FAILED)
    except EngineError as exc:
        return _fail(str(exc), EXIT_FAILED)
    finally:
        signal.signal(signal.SIGINT, previous)
        if knowledge is not None:
            knowledge.close()
        description = backend.description
        backend.close()
    assert finish is not None and state is not None and state.planned is not None
    planned = state.planned
    rag_context = planned.rag
    if args.json:
        out: dict[str, Any] = {
            "reply": finish.text,
            "mode": planned.plan.mode,
            "model": {"ref": str(ref), **(model_cli.model_info_dict(description.info)
                                          if description.info is not None else {})},
            "prompt": planned.plan.text,
            "prompt_token_ids": list(planned.plan.tokens),
            "stats": finish.stats.to_dict(),
            "context": planned.context.to_dict() if planned.context else None,
        }
        if top_k:
            out["tokens"] = steps
        if rag_context is not None:
            out["sources"] = rag_context.sources()
            out["retrieval"] = rag_context.retrieval_report()
        print(json.dumps(out, ensure_ascii=False))
    else:
        sys.stdout.write("\n")
        if rag_context is not None:
            print("\nSources:" if rag_context.used else "\n(no passage fit the context)")
            for source in rag_context.sources():
                print(f"  [{source['number']}] {source['path']} ({source['location']})")
    return 130 if finish.stats.stop_reason == "cancelled" else EXIT_OK


def run_cli(args: argparse.Namespace, paths: AppPaths) -> int:
    if args.command == "ask":
        return cmd_ask(args, paths)
    if args.command in ("tokens", "compare", "model"):
        return model_cli.run(args, paths)
    if args.command == "serve":
        from app import serve_cli

        return serve_cli.run(args, paths)
    if args.command == "kb":
        from app import kb_cli
        from kb.embedders import EmbedderError

        try:
            return kb_cli.run(args, paths)
        except KnowledgeError as exc:
            return _fail(str(exc), EXIT_FAILED)
        except EmbedderError as exc:  # e.g. `kb add --embedder FOLDER` that holds no model
            return _fail(str(exc), EXIT_BAD_INPUT)
    raise AssertionError(f"unknown command {args.command}")
