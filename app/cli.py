"""The headless command line over the same core as the window: the parser, and the
dispatch of each command to its module (app/ask_cli.py, app/model_cli.py, app/kb_cli.py,
app/serve_cli.py, app/models_cli.py).

Input is checked at the edge, in argparse (app/cli_args.py), so a bad option is one line and
exit 2 before anything loads. Errors take one path (app/cli_errors.py `guarded`): the user's
world is one line on stderr and a non-zero exit; anything else is a bug, logged with its
traceback and reported in one line (exit 70). Ctrl-C and a closed pipe are handled in
app/main.py (exit 130 and 141). Every --json output goes through `print_json`
(app/cli_output.py: valid JSON always)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from app.cli_args import path_arg
from app.cli_errors import guarded
from app.cli_output import EXIT_BAD_INPUT, EXIT_INTERRUPTED, json_safe, one_line

if TYPE_CHECKING:
    from app.paths import AppPaths
    from app.settings import Settings


# ---------------------------------------------------------------- argument parsing


class CliParser(argparse.ArgumentParser):
    """argparse with its error in one line (the usage of `ask` alone fills eight)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT,
                  f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


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

    from app import ask_cli, kb_cli, models_cli, serve_cli  # commands in modules of their own

    ask_cli.add_parser(sub, common)
    kb_cli.add_parser(sub, common)
    model_cli.add_parsers(sub, common)
    serve_cli.add_parser(sub, common)
    models_cli.add_parser(sub, common)
    return parser


# ------------------------------------------------------------------ shared helpers


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
        from app import ask_cli

        return ask_cli.cmd_ask(args, paths)
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


