"""`mingjing serve`: the local OpenAI-compatible API (server/) from the command line, on
127.0.0.1 with a bearer token unless told otherwise, until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from app import model_cli
from app.cli import cli_settings, interrupt_after
from app.cli_args import number, path_arg, text
from app.cli_output import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, InputError, fail
from app.paths import AppPaths
from engine.limits import Limit


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    serve = sub.add_parser(
        "serve", parents=[common],
        help="serve the OpenAI-compatible API on this computer (http://127.0.0.1:PORT/v1)")
    serve.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                       help="address to listen on (default: 127.0.0.1, this computer only; "
                            "any other needs --allow-remote)")
    serve.add_argument("--port", type=_port, metavar="N",
                       help="port (default: the one in Settings, 8413 at first; 0: any free)")
    serve.add_argument("--token", metavar="TOKEN", type=text("the token", empty=False),
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
    serve.add_argument("--queue", type=number(QUEUE), default=8, metavar="N",
                       help="requests that may wait for the model; one more is answered "
                            "429 at once (default: 8)")
    serve.add_argument("--model", metavar="MODEL", type=path_arg("the model"),
                       help=f"{model_cli.MODEL_HELP} (default: the model chosen in the window)")
    model_cli.add_load_options(serve)


QUEUE = Limit(0, 1000, True, "the queue length")


def _port(value: str) -> int:
    """0 (any free port) or a port number."""
    return 0 if value.strip() == "0" else int(number("api_port")(value))


def run(args: argparse.Namespace, paths: AppPaths) -> int:
    from app.model_host import LoadSpec, ModelHost
    from app.settings import save_settings
    from server.config import BindingRefused, ServeConfig

    settings = cli_settings(paths)
    token: str | None
    if args.no_token:
        if args.token:
            return fail("--token and --no-token contradict each other", EXIT_BAD_INPUT)
        token = None
    elif args.token is not None:
        token = args.token.strip()
        if any(c.isspace() or not c.isprintable() for c in token):
            raise InputError("the token must be printable characters without spaces")
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
    except BindingRefused as exc:
        raise InputError(str(exc)) from None
    load = settings.load_params()
    for name, value in (("n_ctx", args.ctx), ("n_threads", args.threads),
                        ("n_gpu_layers", args.gpu_layers), ("device", args.device)):
        if value is not None:
            setattr(load, name, value)
    template = args.template or settings.chat_template

    host = ModelHost(paths.models_dir, max_waiting=int(args.queue))
    ref = model_cli.parse_ref(args.model, paths)
    try:
        with interrupt_after():  # Ctrl-C while the model loads: exit 130 once it is loaded
            backend = host.load(LoadSpec(ref, load, None if template == "auto" else template))
    except BaseException:
        host.close()
        raise
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
        return fail(exc.strerror or str(exc), EXIT_FAILED)
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
                return fail("the API server stopped unexpectedly (see the log)",
                             EXIT_FAILED)
    finally:
        server.stop()
        server.join(GRACEFUL_S + 2)
        host.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK
