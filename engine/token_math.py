"""Per-token arithmetic of the decode loop: the top-k candidates and their probabilities at
a temperature, and where a stop string begins or may still begin in the text so far."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CANDIDATE_MARGIN = 8.0  # nats below the top logit searched first for the top-k candidates


def top_k_tokens(logits: Any, k: int, peak: float) -> Any:
    """Indices of the k largest logits, largest first; `peak` is the largest logit.

    The top k almost always lie within a few nats of the peak: select among those (one
    comparison pass) instead of partitioning the whole vocabulary (~3x slower). A flat
    distribution has fewer than k there: the margin widens before the whole vocabulary is
    searched."""
    import numpy as np

    pool = None
    for margin in (CANDIDATE_MARGIN, 2 * CANDIDATE_MARGIN, 4 * CANDIDATE_MARGIN):
        near = np.flatnonzero(logits >= peak - margin)
        if len(near) >= k:
            pool = near
            break
    if pool is None:
        pool = np.arange(len(logits))
    if k < len(pool):
        pool = pool[np.argpartition(logits[pool], -k)[-k:]]
    return pool[np.argsort(-logits[pool], kind="stable")]


def softmax_at(logits: Any, top: Any, peak: float, temperature: float, buf: Any) -> Any:
    """Probabilities of the `top` tokens under softmax(logits / temperature) over the
    whole vocabulary, computed stably around the peak logit in a reused buffer (this runs
    once per generated token)."""
    import numpy as np

    np.subtract(logits, peak, out=buf)
    if temperature != 1.0:
        np.divide(buf, temperature, out=buf)
    np.exp(buf, out=buf)
    total = float(buf.sum())  # numpy's pairwise float32 sum: ~1e-7 relative error, 3x faster
    return buf[top].astype(np.float64) / total


def find_stop(text: str, stops: Sequence[str], begin: int) -> int:
    found = [i for i in (text.find(s, begin) for s in stops) if i >= 0]
    return min(found) if found else -1


def held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest tail of `text` that could still grow into a stop string."""
    best = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), best, -1):
            if text.endswith(s[:k]):
                best = k
                break
    return best
