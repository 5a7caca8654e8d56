"""Decode speed with next-token candidates (top-k from the last logits at every step) on vs
off: same engine, prompt and tokens, alternating rounds in one run."""

from __future__ import annotations

import time

from bench.common import median, model_path, report, threads

N_TOKENS = 200
ROUNDS = 5
TOP_K = 10


def rate(engine: object, tokens: list[int], k: int) -> float:
    from engine.types import SamplingParams, TokenEvent

    engine.reset_cache()  # type: ignore[attr-defined]
    sampling = SamplingParams(temperature=0.8, seed=1, repeat_penalty=1.0, max_tokens=N_TOKENS)
    stamps = [time.perf_counter() for e in engine.generate(tokens, sampling, candidates=k)  # type: ignore[attr-defined]
              if isinstance(e, TokenEvent)]
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def main() -> dict[str, float]:
    from engine.runtime import Engine
    from engine.types import ChatMessage, LoadParams

    engine = Engine.load(model_path(), LoadParams(n_ctx=1024, n_threads=threads()))
    tokens = engine.plan([ChatMessage("user", "The history of the river begins")]).tokens
    rate(engine, tokens, 0)
    off, on = [], []
    for _ in range(ROUNDS):
        off.append(rate(engine, tokens, 0))
        on.append(rate(engine, tokens, TOP_K))
    a, b = median(off), median(on)
    report(
        f"Decode with top-{TOP_K} candidates on vs off ({N_TOKENS} tokens, median of {ROUNDS})",
        [
            ("candidates off", f"{a:.1f} tok/s"),
            ("candidates on", f"{b:.1f} tok/s"),
            ("slowdown", f"{(1 - b / a) * 100:.1f} %  (target <= 10 %)"),
        ],
    )
    engine.close()
    return {"off_tok_s": a, "on_tok_s": b}


if __name__ == "__main__":
    main()
