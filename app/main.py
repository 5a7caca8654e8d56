"""Entry point: `mingjing` opens the window; `mingjing COMMAND` runs the CLI.

Ctrl-C and a closed pipe end any command quietly, wherever they strike (while a model or the
embedder loads, during an import, while a reply streams): exit 130 and 141, no traceback.
Everything else a command raises takes the CLI's one error path (app/cli_errors.py `guarded`).
Only light modules are imported at the top, so that Ctrl-C during start-up is caught too."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from app.paths import AppPaths

EXIT_INTERRUPTED = 130  # 128 + SIGINT: what shells report for a program ended by Ctrl-C
# 128 + SIGPIPE: what a shell reports for `cat`, `grep` or `seq` when the reader of their
# output (`head`) went away first, so `set -o pipefail` scripts see Mingjing like any other
# tool; 0 would claim the whole output was delivered. (Dying by SIGPIPE itself would skip
# the `finally` blocks that close the model and the knowledge base cleanly.)
EXIT_BROKEN_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # Whatever was printed stays printed (`ask` has already written its partial reply).
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _discard_broken_output()
        return EXIT_BROKEN_PIPE


def _discard_broken_output() -> None:
    """Point a standard stream whose reader went away at the null device, so that flushing
    it at exit raises no second BrokenPipeError ("Exception ignored ..."). The Python
    documentation's recipe (library/signal.html, "Note on SIGPIPE")."""
    for stream in (sys.stdout, sys.stderr):
        if stream is None:
            continue
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass


def _main(argv: list[str] | None) -> int:
    import logging

    from app.cli import build_parser, run_cli
    from app.cli_errors import guarded, known_error
    from app.cli_output import EXIT_BAD_INPUT, fail
    from app.logs import setup_logging
    from app.paths import AppPaths
    from engine.cpu_backend import PROBE_FLAG
    from engine.cpu_features import CpuUnsupportedError, check_baseline

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [PROBE_FLAG]:  # a frozen app's CPU probe child (engine/cpu_backend.py)
        from engine.cpu_probe import main as probe_main

        return probe_main(argv[1:])
    if argv and argv[0].lower().endswith(".gguf"):  # "Open with Mingjing" runs `mingjing FILE`
        argv = ["gui", "--model", *argv]
    args = build_parser().parse_args(argv)
    gui = args.command in (None, "gui")
    try:
        paths = AppPaths.create(getattr(args, "data_dir", None))
    except (OSError, ValueError) as exc:  # ValueError: a name the OS cannot take
        if isinstance(exc, FileExistsError):  # mkdir of a path that is a file
            return fail(f"cannot use the data folder: {exc.filename} is a file, not a folder")
        reason = known_error(exc)
        return fail(f"cannot use the data folder: {reason[0] if reason else exc}")
    setup_logging(paths.log_file, stderr_level=logging.ERROR)
    try:
        # Before anything built for AVX2 (llama.cpp, numpy) loads: one line, not SIGILL.
        check_baseline()
    except CpuUnsupportedError as exc:
        logging.getLogger(__name__).error("%s", exc)  # the console handler prints it once
        if gui:
            from ui.application import show_cpu_unsupported

            show_cpu_unsupported(paths, exc.missing)
        return EXIT_BAD_INPUT
    configure_engine(paths)
    if gui:
        from ui.application import run_gui

        if getattr(args, "model", None):
            guarded(lambda: _select_model(paths, args.model))

        return run_gui(paths)
    return run_cli(args, paths)


def configure_engine(paths: AppPaths) -> None:
    """Where the engine remembers its CPU variant, and the model its probe runs (the
    built-in one, read in place in a bundle)."""
    from engine import cpu_backend

    def probe_model() -> Path | None:
        from models.builtin import GEMMA, ensure_builtin

        # Gemma's Q4_K/Q6_K weights reach the kernels (AMX among them) a variant can fault in.
        return ensure_builtin(GEMMA, paths.models_dir)

    cpu_backend.configure(state_file=paths.root / "cpu-backend.json", probe_model=probe_model)


def _select_model(paths: AppPaths, model: str) -> int:
    """Make MODEL the one the window loads (as choosing it in the window would)."""
    from app.settings import load_settings, save_settings
    from models.refs import ModelRef

    settings = load_settings(paths.settings_file)
    settings.choose_model(ModelRef.file(model))
    save_settings(settings, paths.settings_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
