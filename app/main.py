"""Entry point: `mingjing` opens the window; `mingjing COMMAND` runs the CLI."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from app.cli import build_parser, run_cli
from app.logs import setup_logging
from app.paths import AppPaths
from engine.cpu_backend import PROBE_FLAG
from engine.cpu_features import CpuUnsupportedError, check_baseline


def main(argv: list[str] | None = None) -> int:
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
    except OSError as exc:
        print(f"mingjing: cannot use the data folder: {exc}", file=sys.stderr)
        return 2
    setup_logging(paths.log_file, stderr_level=logging.ERROR)
    try:
        # Before anything built for AVX2 (llama.cpp, numpy) loads: one line, not SIGILL.
        check_baseline()
    except CpuUnsupportedError as exc:
        logging.getLogger(__name__).error("%s", exc)  # the console handler prints it once
        if gui:
            from ui.application import show_cpu_unsupported

            show_cpu_unsupported(paths, exc.missing)
        return 2
    configure_engine(paths)
    if gui:
        from ui.application import run_gui

        if getattr(args, "model", None):
            _select_model(paths, args.model)

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


def _select_model(paths: AppPaths, model: str) -> None:
    """Make MODEL the one the window loads (as choosing it in the window would)."""
    from app.settings import load_settings, save_settings
    from models.refs import ModelRef

    settings = load_settings(paths.settings_file)
    settings.choose_model(ModelRef.file(model))
    save_settings(settings, paths.settings_file)


if __name__ == "__main__":
    sys.exit(main())
