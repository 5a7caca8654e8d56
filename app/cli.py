"""The headless command line over the same core as the window: `ask` and `model info`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

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
    ask.add_argument("--model", metavar="PATH", help="GGUF file (default: the built-in model)")
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

    tokens = sub.add_parser("tokens", parents=[common], help="show how a text becomes tokens")
    tokens.add_argument("text", metavar="TEXT", help="the text; '-' reads standard input")
    tokens.add_argument("--model", metavar="PATH", help="GGUF file (default: the built-in model)")
    tokens.add_argument("--json", action="store_true")

    model = sub.add_parser("model", parents=[common], help="model files")
    model_sub = model.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)
    info = model_sub.add_parser("info", parents=[common], help="show a GGUF file's metadata")
    info.add_argument("path", nargs="?", metavar="PATH", help="GGUF file (default: built-in)")
    info.add_argument("--json", action="store_true")
    return parser


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"mingjing: {message}", file=sys.stderr)
    return code


def _resolve_model(paths: AppPaths, model: str | None, settings_model: str | None) -> Path:
    from app.default_model import ensure_default_model

    chosen = model or settings_model
    if chosen:
        return Path(chosen).expanduser()
    return ensure_default_model(paths.models_dir)


def cmd_model_info(args: argparse.Namespace, paths: AppPaths) -> int:
    from app.default_model import DefaultModelError
    from engine.errors import ModelFileError
    from engine.gguf import read_model_info

    try:
        path = _resolve_model(paths, args.path, None)
        info = read_model_info(path)
    except ModelFileError as exc:
        return _fail(str(exc))
    except DefaultModelError as exc:
        return _fail(str(exc), EXIT_FAILED)
    from engine.cpu_backend import ensure_loaded
    from engine.errors import EngineError

    try:
        build = ensure_loaded()  # what llama.cpp will run on: its CPU variant and features
    except EngineError as exc:
        return _fail(str(exc), EXIT_FAILED)
    if args.json:
        data = model_info_dict(info)
        data["engine"] = build.to_dict()
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return EXIT_OK
    rows = [
        ("file", str(info.path)),
        ("name", info.name),
        ("architecture", info.architecture),
        ("parameters", f"{info.parameter_count:,}"),
        ("quantization", f"{info.quantization} ({info.bits_per_weight:.2f} bits per weight)"),
        ("file size", f"{info.file_size / 1e6:,.1f} MB"),
        ("trained context", str(info.context_length)),
        ("chat template", "yes" if info.has_chat_template else "none (base model: continues text)"),
        ("special tokens", ", ".join(f"{t.name}={t.id} {t.text or ''}".strip()
                                     for t in info.special_tokens)),
        ("engine", engine_summary(build)),
        ("cpu", build.cpu or "unknown"),
    ]
    rows += [("llama.cpp", build.system_info)]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return EXIT_OK


def engine_summary(build: Any) -> str:
    """`llama.cpp CPU variant zen4: AVX AVX2 ...` or, for a build with one CPU backend,
    `llama.cpp CPU: AVX AVX2 ...`."""
    features = " ".join(build.features) or "no SIMD extensions"
    if build.variant:
        return f"llama.cpp CPU variant {build.variant}: {features}"
    return f"llama.cpp CPU: {features}"


def model_info_dict(info: Any) -> dict[str, Any]:
    return {
        "path": str(info.path),
        "name": info.name,
        "architecture": info.architecture,
        "parameter_count": info.parameter_count,
        "quantization": info.quantization,
        "file_type": info.file_type,
        "bits_per_weight": info.bits_per_weight,
        "file_size": info.file_size,
        "context_length": info.context_length,
        "embedding_length": info.embedding_length,
        "block_count": info.block_count,
        "vocab_size": info.vocab_size,
        "has_chat_template": info.has_chat_template,
        "is_base_model": info.is_base_model,
        "special_tokens": [
            {"name": t.name, "id": t.id, "text": t.text} for t in info.special_tokens
        ],
    }


def cmd_ask(args: argparse.Namespace, paths: AppPaths) -> int:
    from app.default_model import DefaultModelError
    from app.settings import load_settings
    from engine.errors import EngineError, ModelFileError
    from engine.runtime import Engine
    from engine.types import ChatMessage, FinishEvent, TokenEvent

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
        model_path = _resolve_model(paths, args.model, None)
        engine = Engine.load(model_path, load, template=None if template == "auto" else template)
    except ModelFileError as exc:
        return _fail(str(exc))
    except (DefaultModelError, EngineError) as exc:
        return _fail(str(exc), EXIT_FAILED)

    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    if engine.mode == "completion" and not args.json and sys.stderr.isatty():
        print("(base model: continuing your text)", file=sys.stderr)
    rag_context = None
    try:
        messages = [ChatMessage("user", prompt)]
        reserve = engine.reply_reserve(sampling)
        plan = engine.plan(messages, system=system, reserve=reserve)
        if args.kb:
            from app.rag import (
                DEFAULT_CONTEXT_TOKENS,
                RetrievalError,
                augmented_question,
                build_context,
                retrieve,
            )
            from kb.store import KnowledgeStore

            try:
                with KnowledgeStore(paths.knowledge_db) as knowledge:
                    hits = retrieve(knowledge, args.kb, prompt, k=args.k)
            except (RetrievalError, KnowledgeError) as exc:
                return _fail(str(exc), EXIT_FAILED)
            budget = min(DEFAULT_CONTEXT_TOKENS, engine.n_ctx - reserve - plan.prompt_tokens - 8)
            rag_context = build_context(prompt, hits, engine.count_tokens, max(0, budget))
            messages = [ChatMessage("user", augmented_question(prompt, rag_context,
                                                               mode=engine.mode))]
            plan = engine.plan(messages, system=system, reserve=reserve)
        finish: FinishEvent | None = None
        context = engine.context_map(
            messages, system=system, reserve=reserve,
            knowledge=rag_context.block if rag_context is not None and rag_context.used else None,
        )
        steps: list[dict[str, Any]] = []
        top_k = args.show_top_k if args.json else 0
        for event in engine.generate(plan.tokens, sampling, cancel=cancel, candidates=top_k):
            if isinstance(event, TokenEvent):
                if top_k:
                    steps.append({
                        "id": event.token_id,
                        "piece": engine.token_bytes(event.token_id).decode("utf-8", "replace"),
                        "candidates": [
                            {"id": c.token_id, "piece": c.piece, "p": c.probability,
                             "p_at_temperature": c.probability_at_temperature}
                            for c in event.candidates
                        ],
                    })
                if not args.json and event.text:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
            else:
                finish = event
    except EngineError as exc:
        return _fail(str(exc), EXIT_FAILED)
    finally:
        signal.signal(signal.SIGINT, previous)
        engine.close()
    assert finish is not None
    if args.json:
        out: dict[str, Any] = {
            "reply": finish.text,
            "mode": plan.mode,
            "model": model_info_dict(engine.info),
            "prompt": plan.text,
            "stats": finish.stats.to_dict(),
            "context": context.to_dict(),
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


def cmd_tokens(args: argparse.Namespace, paths: AppPaths) -> int:
    from app.default_model import DefaultModelError
    from engine.errors import EngineError, ModelFileError
    from engine.runtime import Engine
    from engine.types import LoadParams

    text = sys.stdin.read() if args.text == "-" else args.text
    try:
        engine = Engine.load(_resolve_model(paths, args.model, None), LoadParams(n_ctx=256))
    except ModelFileError as exc:
        return _fail(str(exc))
    except (DefaultModelError, EngineError) as exc:
        return _fail(str(exc), EXIT_FAILED)
    try:
        ids = engine.tokenize(text)  # no BOS: the text's own tokens
        pieces = [engine.token_bytes(t).decode("utf-8", errors="replace") for t in ids]
    finally:
        engine.close()
    ratio = len(text) / len(ids) if ids else 0.0
    if args.json:
        print(json.dumps({
            "count": len(ids),
            "tokens": [{"id": t, "piece": p} for t, p in zip(ids, pieces, strict=True)],
            "chars_per_token": round(ratio, 3),
        }, ensure_ascii=False))
        return EXIT_OK
    print(" | ".join(pieces))
    print(f"{len(ids)} tokens for {len(text)} characters ({ratio:.2f} characters per token)")
    return EXIT_OK


def run_cli(args: argparse.Namespace, paths: AppPaths) -> int:
    if args.command == "ask":
        return cmd_ask(args, paths)
    if args.command == "tokens":
        return cmd_tokens(args, paths)
    if args.command == "kb":
        from app import kb_cli
        from kb.embedders import EmbedderError

        try:
            return kb_cli.run(args, paths)
        except KnowledgeError as exc:
            return _fail(str(exc), EXIT_FAILED)
        except EmbedderError as exc:  # e.g. `kb add --embedder FOLDER` that holds no model
            return _fail(str(exc), EXIT_BAD_INPUT)
    if args.command == "model":
        return cmd_model_info(args, paths)
    raise AssertionError(f"unknown command {args.command}")
