"""Run every benchmark: `make bench` or `python -m bench [NAME...]`.

`cpu_variants` is left out of the default run: it builds three llama.cpp wheels the first
time (~30 minutes on 2 cores); run it by name."""

from __future__ import annotations

import importlib
import sys

ALL = ["decode", "chat_model", "ttft", "startup", "stall", "kb_ingest", "kb_chunking",
       "kb_query", "kb_stall", "candidates", "typing_stall", "serve", "download",
       "prompt_progress", "kb_followup", "prompt_lookup", "turn_overhead", "draft_model",
       "gpu_speed"]


def main() -> None:
    names = sys.argv[1:] or ALL
    for name in names:
        importlib.import_module(f"bench.{name}").main()


main()
