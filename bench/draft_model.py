"""Draft-model speculative decoding vs plain decoding, same target model, same run, greedy,
alternating, on the prompts of bench/prompt_lookup.py (one that quotes its passage, one that
does not). Decode tok/s as there; the token sequences are compared.

The target is the larger same-family model named by MINGJING_BENCH_TARGET (a GGUF path,
e.g. Qwen2.5-7B-Instruct Q4_K_M downloaded from the catalog:
`MINGJING_BENCH_TARGET=~/.local/share/Mingjing/models/qwen2.5-7b-instruct-q4_k_m.gguf
python -m bench draft_model`), drafted for by the built-in Qwen2.5-Coder 0.5B. Without it,
the built-in model drafts for itself: the tokens must still be identical and nearly every
draft is kept, but the speed ratio then only shows the cost of drafting (a draft as large as
its target cannot pay)."""

from __future__ import annotations

import os
from pathlib import Path

from bench.common import chat_model_path, report, threads
from bench.prompt_lookup import ROUNDS, compare


def main() -> dict[str, float]:
    from bench.limits import decode_row, limits_row, measure
    from engine.draft_model import DraftModel, load_draft
    from engine.runtime import Engine
    from engine.types import LoadParams

    n_threads = threads()
    params = LoadParams(n_ctx=2048, n_threads=n_threads)
    target_path = Path(os.environ.get("MINGJING_BENCH_TARGET") or chat_model_path())
    engine = Engine.load(target_path, params)
    if target_path == chat_model_path():
        draft = DraftModel(Engine.load(chat_model_path(), params, template="completion"))
        setup = "the built-in Qwen2.5-Coder 0.5B drafting for itself (identity check)"
    else:
        loaded = load_draft(engine, chat_model_path())
        if loaded is None:
            raise SystemExit(f"{target_path.name} cannot be drafted for by the built-in model")
        draft = loaded
        setup = f"Qwen2.5-Coder 0.5B drafting for {engine.info.name}"
    rows, results, plain_rate = compare(
        engine, lambda on: setattr(engine, "draft", draft if on else None))
    limits = measure(n_threads)
    rows += [limits_row(limits), decode_row(target_path, limits, plain_rate, 400)]
    draft.close()
    engine.close()
    report(f"Draft-model speculation vs plain: {setup}, greedy, {n_threads} threads, median "
           f"of {ROUNDS}, alternating", rows)
    return results


if __name__ == "__main__":
    main()
