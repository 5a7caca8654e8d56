"""Decode speed: the engine's generation loop vs a bare llama-cpp-python loop.

Same model file, same threads, same prompt, greedy, the same number of tokens; the two
alternate (A B A B ...) in one run so machine noise hits both. Rate = tokens after the
first / time from the first token to the last (prompt evaluation excluded)."""

from __future__ import annotations

import sys
import time

from bench.common import median, model_path, report, threads

PROMPT = "The history of the river begins"
N_TOKENS = 256
ROUNDS = 5


def bare_rate(llama: object, tokens: list[int]) -> float:
    llama.reset()  # type: ignore[attr-defined]
    stamps: list[float] = []
    for _tok in llama.generate(tokens, temp=0.0, top_k=40, top_p=0.95, min_p=0.05,  # type: ignore[attr-defined]
                               repeat_penalty=1.0):
        stamps.append(time.perf_counter())
        if len(stamps) == N_TOKENS:
            break
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def engine_rate(engine: object, tokens: list[int]) -> float:
    from engine.types import SamplingParams, TokenEvent

    engine.reset_cache()  # type: ignore[attr-defined]
    sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=N_TOKENS)
    stamps: list[float] = []
    for event in engine.generate(tokens, sampling):  # type: ignore[attr-defined]
        if isinstance(event, TokenEvent):
            stamps.append(time.perf_counter())
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def main() -> dict[str, float]:
    from llama_cpp import Llama

    from engine.runtime import Engine
    from engine.types import LoadParams

    path = model_path()
    n_threads = threads()
    engine = Engine.load(path, LoadParams(n_ctx=1024, n_threads=n_threads))
    bare = Llama(model_path=str(path), n_ctx=1024, n_threads=n_threads,
                 n_threads_batch=n_threads, swa_full=True, verbose=False)
    tokens = engine.plan([__import__("engine.types").types.ChatMessage("user", PROMPT)]).tokens
    bare_rates: list[float] = []
    engine_rates: list[float] = []
    engine_rate(engine, tokens)  # warm-up: page the weights in
    bare_rate(bare, tokens)
    for _ in range(ROUNDS):
        bare_rates.append(bare_rate(bare, tokens))
        engine_rates.append(engine_rate(engine, tokens))
    b, e = median(bare_rates), median(engine_rates)
    report(
        f"Decode tokens/s ({N_TOKENS} tokens, {n_threads} threads, median of {ROUNDS})",
        [
            ("bare llama-cpp-python loop", f"{b:.1f} tok/s  {[round(x, 1) for x in bare_rates]}"),
            ("Mingjing engine", f"{e:.1f} tok/s  {[round(x, 1) for x in engine_rates]}"),
            ("ratio engine / bare", f"{e / b:.3f}  (target >= 0.97)"),
        ],
    )
    engine.close()
    bare.close()
    return {"bare_tok_s": b, "engine_tok_s": e, "ratio": e / b}


if __name__ == "__main__":
    main()
    sys.exit(0)
