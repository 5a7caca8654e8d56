"""Prompt-lookup decoding: draft the next tokens by finding the context's last few tokens
earlier in the context (a knowledge-base answer copies phrases from its passages) and
verify the draft in one batch. Only the longest prefix of the draft that the model itself
would have produced is kept, so the output is the same as decoding one token at a time.

The drafter is a small n-gram index over the context; the gate turns drafting off while it
does not pay (a draft costs a wider batch; a rejected one buys nothing) and tries again
later. No llama.cpp here: engine/runtime.py runs the batches."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Protocol

MAX_NGRAM = 3
MIN_NGRAM = 2
MAX_DRAFT = 8
# The gate: over the last GATE_WINDOW drafts, fewer than GATE_MIN_ACCEPTED tokens kept per
# draft on average turns drafting off for GATE_PAUSE tokens.
GATE_WINDOW = 6
GATE_MIN_ACCEPTED = 1.0
GATE_PAUSE = 24
GATE_MAX_PAUSE = 192
FIRST_DRAFT = 2  # tokens in the first draft of a reply
MAX_DRAFT_LENGTH = MAX_DRAFT


class Drafter(Protocol):
    """What proposes draft tokens for a reply: told each token of the context as it is
    decided, asked for up to `limit` next tokens (engine/draft_model.DraftModel too)."""

    def add(self, token: int) -> None: ...

    def propose(self, limit: int) -> list[int]: ...


class PromptLookup:
    """An n-gram index of the context: for each n-gram, where its latest occurrence was
    followed (the position of the next token)."""

    def __init__(self, tokens: Sequence[int], max_draft: int = MAX_DRAFT) -> None:
        self.tokens: list[int] = []
        self.max_draft = max_draft
        self._follows: dict[tuple[int, ...], int] = {}
        for token in tokens:
            self.add(token)

    def add(self, token: int) -> None:
        """Append a token of the context (the prompt's, then each one generated)."""
        tokens = self.tokens
        at = len(tokens)
        tokens.append(token)
        for n in range(MIN_NGRAM, MAX_NGRAM + 1):
            if at >= n:  # the n-gram ending just before `token` is followed by it
                self._follows[tuple(tokens[at - n:at])] = at

    def propose(self, limit: int) -> list[int]:
        """The tokens that followed the latest earlier occurrence of the context's longest
        matching suffix (up to `limit`); [] when there is none."""
        tokens = self.tokens
        limit = min(limit, self.max_draft)
        if limit <= 0:
            return []
        for n in range(MAX_NGRAM, MIN_NGRAM - 1, -1):
            if len(tokens) < n:
                continue
            at = self._follows.get(tuple(tokens[-n:]))
            if at is not None and at < len(tokens):
                return tokens[at:at + limit]
        return []


class DraftGate:
    """Drafting on while it keeps enough of what it drafts, and drafts as long as pays: a
    rejected draft costs a wider batch for nothing, so the length follows what the last
    draft kept (doubling after a draft kept whole, down to one more than was kept), and a
    run of drafts keeping less than GATE_MIN_ACCEPTED on average pauses drafting, for longer
    each time it happens again (reset by a draft kept whole)."""

    def __init__(self) -> None:
        self._kept: deque[int] = deque(maxlen=GATE_WINDOW)
        self._paused = 0
        self._pause = GATE_PAUSE
        self.length = FIRST_DRAFT

    @property
    def open(self) -> bool:
        return self._paused <= 0

    def tick(self) -> None:
        """A token decoded without a draft."""
        if self._paused > 0:
            self._paused -= 1

    def record(self, accepted: int, drafted: int) -> None:
        self._kept.append(accepted)
        if accepted >= drafted:
            self.length = min(MAX_DRAFT_LENGTH, 2 * self.length)
            self._pause = GATE_PAUSE
        else:
            self.length = max(1, accepted + 1)
        if len(self._kept) == self._kept.maxlen and \
                sum(self._kept) / len(self._kept) < GATE_MIN_ACCEPTED:
            self._paused = self._pause
            self._pause = min(GATE_MAX_PAUSE, 2 * self._pause)
            self._kept.clear()
