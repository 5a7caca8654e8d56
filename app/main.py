"""Entry point: `mingjing` opens the window; `mingjing COMMAND` runs the CLI."""

from __future__ import annotations

import logging
import sys

from app.cli import build_parser, run_cli
from app.logs import setup_logging
from app.paths import AppPaths


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        paths = AppPaths.create(getattr(args, "data_dir", None))
    except OSError as exc:
        print(f"mingjing: cannot use the data folder: {exc}", file=sys.stderr)
        return 2
    setup_logging(paths.log_file, stderr_level=logging.ERROR)
    if args.command in (None, "gui"):
        from ui.application import run_gui

        return run_gui(paths)
    return run_cli(args, paths)


if __name__ == "__main__":
    sys.exit(main())
