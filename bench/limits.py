"""The physical limits beside a speed figure (issue 16): how close a measured rate comes to
what the machine allows.

- Decoding one token reads every weight once (the output matrix included; the token
  embedding is one row, but the built-in models tie it to the output, so it is read too)
  plus the KV cache so far: tok/s <= memory bandwidth / (weight bytes + KV bytes).
- Reading a prompt costs about 2 FLOPs per parameter per token (attention adds a little):
  tok/s <= FLOP/s / (2 x parameters).

Bandwidth and FLOP/s are measured here, in the same run, with the benchmark's thread count:
bandwidth by summing a 512 MiB array in as many threads, FLOP/s by numpy's float32 matrix
product (its BLAS; llama.cpp's quantized dot products run on the same vector units)."""

from __future__ import annotations

import functools
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    threads: int
    bandwidth: float  # bytes/s read, measured
    flops: float  # float32 FLOP/s of a matrix product, measured

    def describe(self) -> str:
        return (f"{self.threads} threads: memory read {self.bandwidth / 1e9:.1f} GB/s, "
                f"float32 matrix product {self.flops / 1e9:.0f} GFLOP/s")


@functools.cache
def measure(threads: int) -> Limits:
    import numpy as np

    data = np.ones((threads, 64 * 1024 * 1024 // threads * 2), dtype=np.float32)  # 512 MiB
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda row: float(row.sum()), data))  # warm: pages touched
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            list(pool.map(lambda row: float(row.sum()), data))
            best = min(best, time.perf_counter() - start)
    bandwidth = data.nbytes / best
    del data
    n = 1024
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    a @ a
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - start)
    return Limits(threads, bandwidth, 2 * n ** 3 / best)


def weight_bytes(model: Path) -> int:
    """Bytes read per decoded token for the weights: the tensors' data, about the file."""
    from engine.gguf import read_model_info

    return read_model_info(model).file_size


def decode_bound(model: Path, limits: Limits, context_tokens: int = 0) -> float:
    """The most tokens per second decoding can reach: bandwidth / bytes per token."""
    from engine.gguf import read_model_info

    info = read_model_info(model)
    kv = info.kv_cache_bytes(context_tokens) or 0
    return limits.bandwidth / (info.file_size + kv)


def prompt_bound(model: Path, limits: Limits) -> float:
    """The most prompt tokens per second the measured FLOP/s allow (2 per parameter)."""
    from engine.gguf import read_model_info

    return limits.flops / (2 * read_model_info(model).parameter_count)


def decode_row(model: Path, limits: Limits, tok_s: float,
               context_tokens: int = 0) -> tuple[str, str]:
    bound = decode_bound(model, limits, context_tokens)
    return ("decode vs memory bound",
            f"{tok_s:.1f} tok/s = {tok_s / bound:.0%} of {bound:.0f} tok/s "
            f"({weight_bytes(model) / 1e6:.0f} MB of weights per token at "
            f"{limits.bandwidth / 1e9:.1f} GB/s)")


def prompt_row(model: Path, limits: Limits, tok_s: float) -> tuple[str, str]:
    bound = prompt_bound(model, limits)
    return ("prompt vs compute bound",
            f"{tok_s:.0f} tok/s = {tok_s / bound:.0%} of {bound:.0f} tok/s "
            f"(2 FLOPs per parameter at the measured {limits.flops / 1e9:.0f} GFLOP/s)")


def limits_row(limits: Limits) -> tuple[str, str]:
    return ("this machine", limits.describe())
