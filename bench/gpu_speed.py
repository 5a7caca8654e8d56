"""CPU vs GPU, same model, same run (issue 17): prompt and decode tokens per second with
every layer on the CPU and with the automatic offload plan, and whether the greedy tokens
agree. Needs llama.cpp with a GPU backend in this environment (`make gpu`: Vulkan; a CUDA
build by the recipe in packaging/README.md); without one it says so and stops.

Models: the two built-in ones, plus any GGUF paths in MINGJING_BENCH_MODELS (separated by
the path separator), e.g. a 7B model from the catalog:

    MINGJING_BENCH_MODELS=~/.local/share/Mingjing/models/qwen2.5-7b-instruct-q4_k_m.gguf \\
        .venv/bin/python -m bench gpu_speed

On Linux without a GPU, Mesa's software Vulkan device can stand in (slowly) with
GGML_VK_VISIBLE_DEVICES=0."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench.common import model_path, report, threads

PROMPT = ("Explain in detail how a large language model turns a question into an answer: "
          "tokens, the context window, attention, and sampling one token at a time. ") * 6
N_TOKENS = 64


def measure(path: Path, n_gpu_layers: int) -> dict[str, Any]:
    from engine.runtime import Engine
    from engine.types import ChatMessage, FinishEvent, LoadParams, SamplingParams, TokenEvent

    engine = Engine.load(path, LoadParams(n_ctx=4096, n_threads=threads(),
                                          n_gpu_layers=n_gpu_layers), template="chatml")
    try:
        plan = engine.plan([ChatMessage("user", PROMPT)], reserve=N_TOKENS)
        sampling = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=N_TOKENS)
        best: dict[str, Any] = {}
        for _ in range(2):  # the first run warms up (shaders, pages)
            engine.reset_cache()
            tokens: list[int] = []
            start = time.perf_counter()
            for event in engine.stream(plan, sampling):
                if isinstance(event, TokenEvent):
                    tokens.append(event.token_id)
                elif isinstance(event, FinishEvent):
                    stats = event.stats
            best = {"prompt_tok_s": plan.prompt_tokens / max(stats.prompt_eval_s, 1e-9),
                    "decode_tok_s": stats.decode_tok_s, "tokens": tokens,
                    "runs_on": stats.runs_on, "total_s": time.perf_counter() - start}
        return best
    finally:
        engine.close()


def main() -> dict[str, float]:
    from engine.devices import gpu_devices

    gpus = gpu_devices()
    if not gpus:
        report("CPU vs GPU", [("no GPU", "llama.cpp in this environment sees no GPU "
                                         "(`make gpu`, then run again)")])
        return {}
    paths = [model_path("qwen2.5-coder-0.5b-instruct"), model_path("gemma-3-270m")]
    paths += [Path(p).expanduser() for p in
              os.environ.get("MINGJING_BENCH_MODELS", "").split(os.pathsep) if p]
    rows = [("GPU", f"{gpus[0].name}: {gpus[0].description}")]
    results: dict[str, float] = {}
    for path in paths:
        cpu = measure(path, 0)
        gpu = measure(path, -1)
        same = cpu["tokens"] == gpu["tokens"]
        results[path.name] = gpu["decode_tok_s"] / max(cpu["decode_tok_s"], 1e-9)
        rows.append((path.name, (
            f"prompt {cpu['prompt_tok_s']:.0f} -> {gpu['prompt_tok_s']:.0f} tok/s, decode "
            f"{cpu['decode_tok_s']:.1f} -> {gpu['decode_tok_s']:.1f} tok/s "
            f"({results[path.name]:.2f}x) on {gpu['runs_on']}; greedy tokens "
            f"{'identical' if same else 'differ'}")))
    report(f"CPU vs GPU, {threads()} CPU threads, greedy, {N_TOKENS} tokens", rows)
    return results


if __name__ == "__main__":
    main()
