"""Entry point: `mingjing` opens the window; `mingjing COMMAND` runs the CLI."""

from __future__ import annotations

import logging
import sys

from app.cli import build_parser, run_cli
from app.logs import setup_logging
from app.paths import AppPaths


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].lower().endswith(".gguf"):  # "Open with Mingjing" runs `mingjing FILE`
        argv = ["gui", "--model", *argv]
    args = build_parser().parse_args(argv)
    try:
        paths = AppPaths.create(getattr(args, "data_dir", None))
    except OSError as exc:
        print(f"mingjing: cannot use the data folder: {exc}", file=sys.stderr)
        return 2
    setup_logging(paths.log_file, stderr_level=logging.ERROR)
    if args.command in (None, "gui"):
        from ui.application import run_gui

        if getattr(args, "model", None):
            _select_model(paths, args.model)

        return run_gui(paths)
    return run_cli(args, paths)


def _select_model(paths: AppPaths, model: str) -> None:
    """Make MODEL the one the window loads (as choosing it in the window would)."""
    from pathlib import Path

    from app.settings import load_settings, save_settings

    settings = load_settings(paths.settings_file)
    settings.model_path = str(Path(model).expanduser().resolve())
    settings.remember_model(settings.model_path)
    save_settings(settings, paths.settings_file)


if __name__ == "__main__":
    sys.exit(main())
