"""`mingjing ask`: one prompt answered, streamed to stdout (or one JSON object), through the
chat service that runs every turn: a local model, a built-in one or a model on a server, with
retrieval from knowledge bases."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from app import model_cli
from app.cli import cli_settings, interrupt_after
from app.cli_args import number, path_arg, read_input, read_key_file, server_url, text
from app.cli_output import EXIT_INTERRUPTED, EXIT_OK, InputError, print_json
from engine.limits import LIMITS

if TYPE_CHECKING:
    from app.paths import AppPaths

CANDIDATES = LIMITS["candidates"]  # `ask --json --top-k`: each costs ~0.05 ms a token
MAX_CANDIDATES = int(CANDIDATES.high)


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    model_name = path_arg("the model")
    ask = sub.add_parser("ask", parents=[common], help="answer one prompt, streamed to stdout")
    ask.add_argument("prompt", metavar="PROMPT", type=text("the prompt"),
                     help="the prompt; '-' reads standard input")
    ask.add_argument("--model", metavar="MODEL", type=model_name,
                     help=f"{model_cli.MODEL_HELP} (default: the model chosen in the window, "
                          "at first the built-in chat model)")
    ask.add_argument("--server", metavar="URL", type=server_url,
                     help="answer with a model on an OpenAI-compatible server (llama-server, "
                          "vLLM, Ollama, another Mingjing); retrieval stays here")
    ask.add_argument("--server-model", metavar="NAME", type=text("the server's model"),
                     help="with --server: which of its models (default: the first it lists)")
    ask.add_argument("--api-key-file", metavar="FILE", type=path_arg("the API key file"),
                     help="with --server: a file holding the server's API key (sent to that "
                          "server only)")
    ask.add_argument("--system", metavar="TEXT", type=text("the system prompt"),
                     help="system prompt")
    ask.add_argument("--max-tokens", type=number("max_tokens"), metavar="N",
                     help="reply length limit")
    ask.add_argument("--temperature", type=number("temperature"), metavar="T")
    ask.add_argument("--top-p", type=number("top_p"), metavar="P")
    ask.add_argument("--sample-top-k", type=number("top_k"), metavar="K", dest="top_k",
                     help="sampling: keep only the K most likely tokens (0: all)")
    ask.add_argument("--min-p", type=number("min_p"), metavar="P")
    ask.add_argument("--repeat-penalty", type=number("repeat_penalty"), metavar="R")
    ask.add_argument("--seed", type=number("seed"), metavar="S", help="-1: random")
    ask.add_argument("--stop", action="append", metavar="TEXT", type=text("a stop text"),
                     help="stop string (repeatable)")
    model_cli.add_load_options(ask)
    ask.add_argument("--kb", action="append", metavar="NAME",
                     type=text("the knowledge base name", empty=False),
                     help="answer from this knowledge base (repeatable)")
    ask.add_argument("--k", type=number("k"), default=5, metavar="N",
                     help="passages to retrieve")
    ask.add_argument("--no-translate", action="store_true",
                     help="search the knowledge bases with the question as written (by "
                          "default the model translates it first when they hold the other "
                          "language)")
    ask.add_argument("--top-k", type=number(CANDIDATES), default=0, metavar="N",
                     dest="show_top_k",
                     help="with --json: the N most likely candidates for each generated token "
                          f"(at most {MAX_CANDIDATES})")
    ask.add_argument("--json", action="store_true", help="print one JSON object at the end")


def cmd_ask(args: argparse.Namespace, paths: AppPaths) -> int:
    from app.chat_service import ChatService, Started, TurnRequest
    from engine.types import ChatMessage, FinishEvent, PromptProgress, TokenEvent
    from models.open import open_backend
    from models.refs import ModelRef

    prompt = read_input(args.prompt, "the prompt")
    if not prompt.strip():
        raise InputError("the prompt is empty")
    settings = cli_settings(paths)
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
    if args.ctx is not None:
        load.n_ctx = args.ctx
    if args.threads is not None:
        load.n_threads = args.threads
    if args.gpu_layers is not None:
        load.n_gpu_layers = args.gpu_layers
    if args.device is not None:
        load.device = args.device
    template = args.template or settings.chat_template
    system = args.system if args.system is not None else (settings.system_prompt or None)

    api_key = None
    if args.server:
        if args.model:
            raise InputError("--model and --server name two different models: choose one")
        ref = ModelRef.remote(args.server, args.server_model or "")
        if args.api_key_file:
            api_key = read_key_file(args.api_key_file)
    else:
        if args.server_model or args.api_key_file:
            raise InputError("--server-model and --api-key-file go with --server")
        ref = model_cli.parse_ref(args.model, paths)
    with interrupt_after():
        backend = open_backend(ref, paths.models_dir, load,
                               template=None if template == "auto" else template,
                               api_key=api_key)

    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    if backend.mode == "completion" and not args.json and sys.stderr.isatty():
        print("(base model: continuing your text)", file=sys.stderr)
    top_k = args.show_top_k if args.json else 0
    request = TurnRequest(None, [ChatMessage("user", prompt)], sampling, system=system,
                          kbs=list(args.kb or []), top_k=args.k, candidates=top_k,
                          translate_query=not args.no_translate,
                          inspect=args.json, persist=False)
    knowledge = None
    finish: FinishEvent | None = None
    steps: list[dict[str, Any]] = []
    state = None
    shown_progress = False
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
                    if shown_progress:
                        print("\r\033[K", end="", file=sys.stderr, flush=True)
                        shown_progress = False
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
            elif isinstance(event, PromptProgress):
                if not args.json and sys.stderr.isatty():
                    left = event.seconds_left
                    print(f"\rreading the prompt: {event.done}/{event.total} tokens"
                          + (f", {event.rate:.0f} tok/s, ~{left:.0f} s left"
                             if left is not None else "") + "\033[K",
                          end="", file=sys.stderr, flush=True)
                    shown_progress = True
            elif isinstance(event, FinishEvent):
                finish = event
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
            translation = rag_context.translation
            out["no_answer"] = rag_context.no_answer_info()
            out["citations"] = state.citations
            out["translation"] = None if translation is None else {
                "target": translation.target, "text": translation.text,
                "seconds": round(translation.seconds, 3), "hints": list(translation.hints)}
        print_json(out)
    else:
        sys.stdout.write("\n")
        if rag_context is not None and rag_context.no_answer:
            print("\n(the knowledge base has no passage relevant to this question: best "
                  f"similarity {rag_context.best_score or 0:.3f}, below "
                  f"{rag_context.threshold}; this reply is not from it)")
        elif rag_context is not None:
            invalid = sorted({int(c["number"]) for c in state.citations if not c["valid"]})
            if invalid:
                print(f"\n(cites {', '.join(f'[{n}]' for n in invalid)}, which "
                      f"{'was' if len(invalid) == 1 else 'were'} not among the sources given)")
            print("\nSources:" if rag_context.used else "\n(no passage fit the context)")
            for source in rag_context.sources():
                print(f"  [{source['number']}] {source['path']} ({source['location']})")
    return EXIT_INTERRUPTED if finish.stats.stop_reason == "cancelled" else EXIT_OK

