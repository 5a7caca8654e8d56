"""`mingjing serve`: the local OpenAI-compatible API (server/) from the command line, on
127.0.0.1 with a bearer token unless told otherwise, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from app import model_cli
from app.paths import AppPaths

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    serve = sub.add_parser(
        "serve", parents=[common],
        help="serve the OpenAI-compatible API on this computer (http://127.0.0.1:PORT/v1)")
    serve.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                       help="address to listen on (default: 127.0.0.1, this computer only; "
                            "any other needs --allow-remote)")
    serve.add_argument("--port", type=int, metavar="N",
                       help="port (default: the one in Settings, 8413 at first; 0: any free)")
    serve.add_argument("--token", metavar="TOKEN",
                       help="the bearer token clients must send (default: the one stored in "
                            "the settings, made once)")
    serve.add_argument("--show-token", action="store_true", help="print the token")
    serve.add_argument("--no-token", action="store_true",
                       help="ask no token (this computer only; any program on it can call)")
    serve.add_argument("--allow-remote", action="store_true",
                       help="allow --host to be an address other computers reach (a token "
                            "is then required)")
    serve.add_argument("--cors-origin", action="append", metavar="ORIGIN", default=[],
                       help="a web page origin allowed to call from a browser, e.g. "
                            "http://localhost:3000 (repeatable; default: none)")
    serve.add_argument("--queue", type=int, default=8, metavar="N",
                       help="requests that may wait for the model; one more is answered "
                            "429 at once (default: 8)")
    serve.add_argument("--model", metavar="MODEL",
                       help=f"{model_cli.MODEL_HELP} (default: the model chosen in the window)")
    serve.add_argument("--ctx", type=int, metavar="N", help="context window size in tokens")
    serve.add_argument("--threads", type=int, metavar="N")
    serve.add_argument("--gpu-layers", type=int, metavar="N")
    serve.add_argument("--template", choices=("auto", "completion", "gemma", "chatml"),
                       help="chat format: the model's own (auto), plain continuation, or a "
                            "built-in one")


def _fail(message: str, code: int) -> int:
    print(f"mingjing: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace, paths: AppPaths) -> int:
    try:
        return _run(args, paths)
    except KeyboardInterrupt:  # Ctrl-C before the server listens (while the model loads)
        return 130


def _run(args: argparse.Namespace, paths: AppPaths) -> int:
    from app.model_host import LoadSpec, ModelHost
    from app.settings import load_settings, save_settings
    from engine.errors import EngineError
    from engine.limits import check
    from server.config import BindingRefused, ServeConfig

    settings = load_settings(paths.settings_file)
    token: str | None
    if args.no_token:
        if args.token:
            return _fail("--token and --no-token contradict each other", EXIT_BAD_INPUT)
        token = None
    elif args.token is not None:
        token = args.token.strip()
        if not token or any(c.isspace() or not c.isprintable() for c in token):
            return _fail("the token must be printable characters without spaces",
                         EXIT_BAD_INPUT)
    else:
        if settings.ensure_api_token():
            save_settings(settings, paths.settings_file)
        token = settings.api_token
    port = settings.api_port if args.port is None else args.port
    config = ServeConfig(host=args.host, port=port, token=token,
                         allow_remote=args.allow_remote,
                         cors_origins=tuple(args.cors_origin))
    try:
        config.check()
        if args.queue < 0:
            raise ValueError(f"--queue must be 0 or more, not {args.queue}")
        load = settings.load_params()
        for name, value in (("n_ctx", args.ctx), ("n_threads", args.threads),
                            ("n_gpu_layers", args.gpu_layers)):
            if value is not None:
                setattr(load, name, check(name, value))
    except (BindingRefused, ValueError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    template = args.template or settings.chat_template

    host = ModelHost(paths.models_dir, max_waiting=args.queue)
    try:
        ref = model_cli.parse_ref(args.model, paths)
        backend = host.load(LoadSpec(ref, load, None if template == "auto" else template))
    except EngineError as exc:
        return _fail(str(exc), model_cli.engine_error_code(exc))
    description = backend.description
    return _serve(host, config, paths, settings.sampling, description.name, backend.mode,
                  args.show_token)


def _serve(host: Any, config: Any, paths: AppPaths, defaults: Any, name: str, mode: str,
           show_token: bool) -> int:
    from server.runner import GRACEFUL_S, ApiServer
    from server.state import ApiState

    state = ApiState(host, knowledge_db=paths.knowledge_db, defaults=defaults)
    server = ApiServer(state, config)
    try:
        server.start()
    except OSError as exc:
        host.close()
        return _fail(exc.strerror or str(exc), EXIT_FAILED)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    kind = "chat: /v1/chat/completions" if mode == "chat" else \
        "base model: /v1/completions"
    print(f"Mingjing API on {server.url}/v1 (model: {name}, {kind})")
    if config.token is None:
        print("No token: any program on this computer can call it.")
    elif show_token:
        print(f"Token: {config.token}")
    else:
        print(f"Token: the api_token in {paths.settings_file} or the one given with "
              "--token (--show-token prints it); clients send 'Authorization: Bearer TOKEN'.")
    print("Ctrl-C stops it.", flush=True)
    try:
        while not stop.wait(0.5):
            if not server.running:
                return _fail("the API server stopped unexpectedly (see the log)",
                             EXIT_FAILED)
    finally:
        server.stop()
        server.join(GRACEFUL_S + 2)
        host.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK
