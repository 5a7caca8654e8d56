"""The headless command line over the same core as the window: `ask`, the model commands
(app/model_cli.py) and the knowledge-base commands (app/kb_cli.py).

Input is checked at the edge: every number against engine/limits.py, every text for being
text, in argparse, so a bad option is one line and exit 2 before anything loads. Errors take
one path (`guarded`): the user's world (a bad model file, a full or read-only disk, a locked
database, bad input) is one line on stderr and a non-zero exit; anything else is a bug,
logged with its traceback and reported in one line (exit 70). Ctrl-C and a closed pipe are
handled in app/main.py (exit 130 and 141). Every --json output goes through `print_json`
(valid JSON always)."""

from __future__ import annotations

import argparse
import codecs
import errno
import json
import logging
import math
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from app.main import EXIT_INTERRUPTED
from engine.limits import LIMITS, Limit

if TYPE_CHECKING:
    from app.paths import AppPaths
    from app.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_KB = "default"
EXIT_OK = 0
EXIT_FAILED = 1  # the world got in the way: a full disk, a locked database, files that failed
EXIT_BAD_INPUT = 2  # the user's input: an option, a model file, text that is not text
EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h): a bug; its traceback is in the log file

CANDIDATES = LIMITS["candidates"]  # `ask --json --top-k`: each costs ~0.05 ms a token
MAX_CANDIDATES = int(CANDIDATES.high)
MAX_INPUT_BYTES = 16 << 20  # standard input: far more than any context window holds
MAX_LINE = 1000  # characters of one error line


class InputError(Exception):
    """Input the command cannot use (one line, exit 2)."""


# ---------------------------------------------------------------- argument parsing


class CliParser(argparse.ArgumentParser):
    """argparse with its error in one line (the usage of `ask` alone fills eight)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT,
                  f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def number(limit: Limit | str) -> Callable[[str], int | float]:
    """An argparse `type` checking a number against its range in engine/limits.py."""
    checked = LIMITS[limit] if isinstance(limit, str) else limit

    def parse(text: str) -> int | float:
        whole = text.strip()
        if _WHOLE.fullmatch(whole) and (len(whole) > 40 or
                                        not checked.low <= int(whole) <= checked.high):
            # A whole number too large for a float is out of range, not "not finite".
            raise argparse.ArgumentTypeError(
                f"{checked.what} must be between {_plain(checked.low)} and "
                f"{_plain(checked.high)}, not {_typed(whole)}")
        try:
            return checked.check(text)
        except ValueError as exc:
            # The value as typed, not the float it became (99999999999999999999999 is
            # 99999999999999991611392 as a float).
            message, sep, shown = str(exc).rpartition(", not ")
            if not sep:
                raise argparse.ArgumentTypeError(one_line(str(exc), 160)) from None
            typed = _typed(repr(text) if shown.startswith(("'", '"')) else whole)
            raise argparse.ArgumentTypeError(f"{message}, not {typed}") from None

    return parse


_WHOLE = re.compile(r"[+-]?[0-9]+")


def _plain(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _typed(text: str) -> str:
    """A value as the user typed it, at most 40 characters."""
    return text if len(text) <= 40 else text[:39] + "…"


def text(what: str, *, empty: bool = True) -> Callable[[str], str]:
    """An argparse `type` for text: bytes that are not in the terminal's encoding (they
    arrive as surrogates) are refused, and so is an empty value unless `empty`."""

    def parse(value: str) -> str:
        try:
            check_text(value, what)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if not empty and not value.strip():
            raise argparse.ArgumentTypeError(f"{what} is empty")
        return value

    return parse


def server_url(value: str) -> str:
    """An argparse `type` for a server address: http(s), a host, no credentials in it."""
    from urllib.parse import urlsplit

    check_text(value, "the server address")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not an http(s) server address: {value[:80]!r}")
    if parts.username or parts.password:
        raise argparse.ArgumentTypeError("put the API key in --api-key-file, not in the address")
    return value.strip()


def path_arg(what: str) -> Callable[[str], str]:
    """An argparse `type` for a file name or reference: anything but empty (a name that is
    not UTF-8 is a name all the same)."""

    def parse(value: str) -> str:
        if not value.strip():
            raise argparse.ArgumentTypeError(f"{what} is empty")
        return value

    return parse


def check_text(value: str, what: str) -> str:
    """`value` unchanged if it is text; InputError naming the first byte that is not."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(value[exc.start])
        encoding = _label(sys.getfilesystemencoding())
        byte = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else \
            f"code point U+{code:04X}"
        raise InputError(f"{what} is not {encoding} text ({byte} at character "
                         f"{exc.start})") from None
    return value


def _label(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return "UTF-8" if name == "utf-8" else name


def read_input(arg: str, what: str) -> str:
    """The text of a TEXT argument: itself, or standard input for '-'. Standard input must
    be text in its encoding (UTF-8 here; a UTF-8 BOM is dropped) and at most 16 MiB.

    Input that is not text is refused (exit 2) rather than decoded with replacement
    characters: it is almost always the wrong file (binary, or another encoding), and a
    model answering a prompt full of U+FFFD, or `tokens` counting text the user never
    wrote, would hide that."""
    if arg != "-":
        return check_text(arg, what)
    stream = sys.stdin
    if stream is None:
        raise InputError("standard input is closed")
    try:
        data = stream.buffer.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read standard input: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"standard input is larger than {MAX_INPUT_BYTES >> 20} MiB, more "
                         "than any context window holds")
    if b"\0" in data:
        raise InputError("standard input is binary data (it contains NUL bytes), not text")
    encoding = codecs.lookup(getattr(stream, "encoding", None) or "utf-8").name
    if encoding == "utf-8" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"standard input is not {_label(encoding)} text (byte "
                         f"0x{data[exc.start]:02x} at offset {exc.start})") from None


def build_parser() -> argparse.ArgumentParser:
    from app import model_cli

    common = CliParser(add_help=False)
    common.add_argument(
        "--data-dir",
        metavar="DIR",
        type=path_arg("the data folder"),
        default=argparse.SUPPRESS,
        help="folder for all app data (default: $MINGJING_HOME or the OS data folder)",
    )
    parser = CliParser(
        prog="mingjing",
        description="Mingjing (明镜): chat with a local GGUF model and see what it does.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    model_name = path_arg("the model")

    gui = sub.add_parser("gui", parents=[common], help="open the window (the default)")
    gui.add_argument("--model", metavar="PATH", type=model_name,
                     help="GGUF file to open (`mingjing FILE.gguf`)")

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
    ask.add_argument("--ctx", type=number("n_ctx"), metavar="N",
                     help="context window size in tokens")
    ask.add_argument("--threads", type=number("n_threads"), metavar="N")
    ask.add_argument("--gpu-layers", type=number("n_gpu_layers"), metavar="N",
                     help=model_cli.GPU_LAYERS_HELP)
    ask.add_argument("--device", metavar="NAME", type=model_cli.device_arg,
                     help=model_cli.DEVICE_HELP)
    ask.add_argument(
        "--template",
        choices=("auto", "completion", "gemma", "chatml"),
        help="chat format: the model's own (auto), plain continuation, or a built-in one",
    )
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

    model_cli.add_parsers(sub, common)
    from app import models_cli, serve_cli  # commands in modules of their own

    serve_cli.add_parser(sub, common)
    models_cli.add_parser(sub, common)
    return parser


# ------------------------------------------------------------------ shared helpers


def one_line(message: str, limit: int = MAX_LINE) -> str:
    """`message` on one line, at most `limit` characters."""
    flat = " ".join(message.splitlines()).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    """One line on stderr (a name that is not UTF-8 shown with U+FFFD); returns `code`."""
    print(f"mingjing: {json_safe(one_line(message))}", file=sys.stderr)
    return code


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float as None and every string valid Unicode (a lone
    surrogate, from a name that is not UTF-8, becomes U+FFFD), so that it is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
        return value
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def print_json(data: Any, *, indent: int | None = None) -> None:
    """The one way a command prints --json: always valid JSON (no NaN, no Infinity)."""
    print(json.dumps(json_safe(data), ensure_ascii=False, allow_nan=False, indent=indent))


_SETTINGS: dict[Path, Settings] = {}


def cli_settings(paths: AppPaths) -> Settings:
    """The user's settings, read once per process; each value that was unusable (and reset
    to its default) is one warning line on stderr. The command still runs."""
    from app.settings import load_settings

    settings = _SETTINGS.get(paths.settings_file)
    if settings is None:
        settings = _SETTINGS[paths.settings_file] = load_settings(paths.settings_file)
        for problem in settings.problems:
            print(f"mingjing: settings: {json_safe(one_line(problem))}", file=sys.stderr)
    return settings


@contextmanager
def interrupt_after() -> Iterator[None]:
    """Ctrl-C inside the block takes effect when it ends (KeyboardInterrupt); a second one
    ends the process at once (exit 130: nothing is written while a model loads). llama.cpp
    calls back into Python while it loads a model (its log callback); a KeyboardInterrupt
    raised there is swallowed by ctypes, so the load went on and the Ctrl-C was lost. Main
    thread only, as every CLI command runs."""
    hit = threading.Event()

    def pressed(*_: object) -> None:
        if hit.is_set():
            os._exit(EXIT_INTERRUPTED)
        hit.set()

    previous = signal.signal(signal.SIGINT, pressed)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if hit.is_set():
        raise KeyboardInterrupt


# ----------------------------------------------------------------------- commands


def cmd_ask(args: argparse.Namespace, paths: AppPaths) -> int:
    from app import model_cli
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
                "seconds": round(translation.seconds, 3)}
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


def run_cli(args: argparse.Namespace, paths: AppPaths) -> int:
    """Run a command through the one error path (see `guarded`)."""
    # Names that are not UTF-8 (a model file, a document) are written back as the bytes
    # they were on disk, as `ls` does, instead of failing on a strict stdout.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="surrogateescape")
    return guarded(lambda: _dispatch(args, paths))


def _dispatch(args: argparse.Namespace, paths: AppPaths) -> int:
    if args.command == "ask":
        return cmd_ask(args, paths)
    if args.command in ("tokens", "compare", "model"):
        from app import model_cli

        return model_cli.run(args, paths)
    if args.command == "serve":
        from app import serve_cli

        return serve_cli.run(args, paths)
    if args.command == "models":
        from app import models_cli

        return models_cli.run(args, paths)
    if args.command == "kb":
        from app import kb_cli

        return kb_cli.run(args, paths)
    raise AssertionError(f"unknown command {args.command}")


# -------------------------------------------------------------- the one error path


def guarded(command: Callable[[], int]) -> int:
    """Run `command`. A known error (the user's world) is one line on stderr and its exit
    code; anything else is a bug: its traceback goes to the log file and the user sees one
    line naming it (exit 70). KeyboardInterrupt and a broken pipe pass through, for
    app/main.py to end quietly."""
    try:
        return command()
    except BrokenPipeError:
        raise
    except Exception as exc:  # the one place every error of a command ends up
        known = known_error(exc)
        if known is None:
            return internal_error(exc)
        message, code = known
        log.info("%s", message, exc_info=None if isinstance(exc, InputError) else exc,
                 extra={"console": False})
        return fail(message, code)


def _loaded_class(module: str, name: str) -> type | None:
    """A class of a module only if that module was imported (then it may have raised)."""
    loaded = sys.modules.get(module)
    found = getattr(loaded, name, None) if loaded is not None else None
    return found if isinstance(found, type) else None


def _instance(exc: BaseException, module: str, name: str) -> bool:
    cls = _loaded_class(module, name)
    return cls is not None and isinstance(exc, cls)


_OS_REASONS = {
    errno.ENOSPC: "no space left on the disk",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "not found",
    errno.EISDIR: "is a directory",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EIO: "input/output error (a failing disk?)",
    errno.ENOMEM: "out of memory",
    getattr(errno, "EDQUOT", -1): "disk quota exceeded",
}


def _shown_name(name: object) -> str:
    text = os.fsdecode(name) if isinstance(name, bytes) else str(name)
    return json_safe(text) if isinstance(text, str) else str(text)


def read_key_file(path: str) -> str:
    """An API key from a file: its first line, which must not be empty."""
    with open(path, "rb") as f:
        data = f.read(65536)
    try:
        key = data.decode("utf-8").strip().splitlines()[0].strip() if data.strip() else ""
    except UnicodeDecodeError:
        raise InputError(f"{_shown_name(path)}: the API key file is not text") from None
    if not key:
        raise InputError(f"{_shown_name(path)}: the API key file is empty")
    return key


def known_error(exc: BaseException) -> tuple[str, int] | None:
    """The one-line message and exit code of an error from the user's world, else None."""
    if isinstance(exc, InputError):
        return str(exc), EXIT_BAD_INPUT
    if _instance(exc, "engine.errors", "EngineError"):
        bad_model = _instance(exc, "engine.errors", "ModelFileError") or \
            _instance(exc, "models.builtin", "UnknownModelError") or \
            _instance(exc, "engine.cpu_features", "CpuUnsupportedError")
        return str(exc), EXIT_BAD_INPUT if bad_model else EXIT_FAILED
    if _instance(exc, "kb.db", "DatabaseError"):
        bad_input = getattr(exc, "kind", None) == "bad_input"
        return str(exc), EXIT_BAD_INPUT if bad_input else EXIT_FAILED
    if _instance(exc, "kb.embedders", "EmbedderError"):  # `--embedder FOLDER` without a model
        return str(exc), EXIT_BAD_INPUT
    if _instance(exc, "app.rag", "RetrievalError"):  # a knowledge base that does not exist
        return str(exc), EXIT_BAD_INPUT
    if _instance(exc, "app.conversations", "StoreError"):
        return str(exc), EXIT_FAILED
    if isinstance(exc, MemoryError):
        return "out of memory", EXIT_FAILED
    if isinstance(exc, OSError):
        reason = _OS_REASONS.get(exc.errno or 0) or exc.strerror or str(exc) or \
            type(exc).__name__
        for name in (exc.filename, exc.filename2):
            if name is not None:
                reason = f"{_shown_name(name)}: {reason}"
                break
        return reason, EXIT_FAILED
    if type(exc).__module__.split(".")[0] in ("sqlite3", "sqlean"):
        # A database error no layer translated: only the ones about the file or the disk.
        from kb.db import error_kind

        kind = error_kind(exc)
        reasons = {"locked": "a database is locked by another program",
                   "disk_full": "cannot write a database: the disk is full",
                   "read_only": "cannot write a database: the file or its folder is read-only",
                   "corrupt": "a database file is corrupt",
                   "cant_open": "cannot open a database file",
                   "io": "disk I/O error on a database file"}
        if kind in reasons:
            return reasons[kind], EXIT_FAILED
    return None


def internal_error(exc: BaseException) -> int:
    """A bug: the traceback to the log file (or, when there is none, a file in the temporary
    folder), one line to the user, exit 70."""
    from app.logs import log_file_in_use

    name = type(exc).__name__
    where: Path | None = log_file_in_use()
    if where is not None:
        log.error("internal error: %s: %s", name, exc, exc_info=exc,
                  extra={"console": False})
    else:
        where = _traceback_file(exc)
    detail = f"details in {where}" if where is not None else "no log file could be written"
    return fail(f"internal error: {name}: {one_line(str(exc), 300)} ({detail})",
                EXIT_INTERNAL)


def _traceback_file(exc: BaseException) -> Path | None:
    import tempfile
    import traceback

    try:
        fd, name = tempfile.mkstemp(prefix="mingjing-error-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as out:
            traceback.print_exception(exc, file=out)
    except OSError:
        return None
    return Path(name)
