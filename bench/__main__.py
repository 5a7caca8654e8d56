"""Run every benchmark: `make bench` or `python -m bench [NAME...]`."""

from __future__ import annotations

import importlib
import sys

ALL = ["decode", "ttft", "startup", "stall", "kb_ingest", "kb_chunking", "kb_query", "kb_stall",
       "candidates", "typing_stall"]


def main() -> None:
    names = sys.argv[1:] or ALL
    for name in names:
        importlib.import_module(f"bench.{name}").main()


main()
