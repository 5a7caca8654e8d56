"""Draft-model speculative decoding: a small model with the same tokenizer proposes the next
few tokens and the large model checks them in one batch, keeping the longest prefix it
agrees with (engine/runtime.py verifies, as for prompt lookup; engine/lookup.py's gate turns
drafting off while it does not pay).

The draft model keeps its own KV cache in step with the reply: before each proposal it drops
what the large model rejected and reads what it has not seen (the prompt, the first time).
Greedy only: each kept token is then the large model's own choice at that position."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.runtime import Engine

log = logging.getLogger(__name__)

DRAFT_TOKENS = 4  # proposed per step
# A draft must be this much smaller than the model it drafts for to pay (a decoded token
# costs about the bytes of weights read).
MIN_SIZE_RATIO = 4.0
# llama.cpp's own speculative example allows vocabularies this far apart (added tokens).
VOCAB_SLACK = 128


def incompatibility(target: Engine, draft: Engine) -> str | None:
    """Why `draft` cannot draft for `target`, or None: the same tokenizer (kind, special
    tokens and the text of every token both have)."""
    if draft.info.tokenizer_model != target.info.tokenizer_model:
        return (f"different tokenizers ({draft.info.tokenizer_model} vs "
                f"{target.info.tokenizer_model})")
    if abs(draft.n_vocab - target.n_vocab) > VOCAB_SLACK:
        return f"vocabularies of {draft.n_vocab} and {target.n_vocab} tokens"
    if (draft.bos_id, draft.eos_id, draft.add_bos) != (target.bos_id, target.eos_id,
                                                      target.add_bos):
        return "different special tokens"
    get_text = target._lib.llama_vocab_get_text
    for token in range(min(draft.n_vocab, target.n_vocab)):
        if get_text(draft._vocab, token) != get_text(target._vocab, token):
            return f"token {token} differs"
    return None


class DraftModel:
    """A draft model for one engine's greedy replies: `begin(tokens)` per reply, then
    `add(token)` for each token of the reply and `propose(limit)` for a draft."""

    def __init__(self, draft: Engine, n_tokens: int = DRAFT_TOKENS) -> None:
        self.engine = draft
        self.n_tokens = n_tokens
        self.tokens: list[int] = []

    def begin(self, tokens: Sequence[int]) -> DraftModel:
        self.tokens = list(tokens)
        return self

    def add(self, token: int) -> None:
        self.tokens.append(token)

    def propose(self, limit: int) -> list[int]:
        """The draft model's greedy continuation of the reply so far (up to `limit`)."""
        import numpy as np

        engine = self.engine
        llama = engine._llama
        limit = min(limit, self.n_tokens, engine.n_ctx - len(self.tokens) - 1)
        if limit <= 0:
            return []
        reused = engine._reuse_prefix(self.tokens)  # drops a rejected tail
        try:
            llama.eval(self.tokens[reused:])
            out: list[int] = []
            while True:
                logits = np.ctypeslib.as_array(llama._ctx.get_logits_ith(-1),
                                               shape=(engine.n_vocab,))
                token = int(logits.argmax())
                out.append(token)
                if len(out) >= limit or engine.is_end_of_generation(token):
                    return out
                llama.eval([token])
        except RuntimeError as exc:
            raise EngineError(f"the draft model failed: {exc}") from exc

    def close(self) -> None:
        self.engine.close()


def load_draft(target: Engine, path: Path) -> DraftModel | None:
    """The model at `path` as a draft for `target`, or None (logged) where it cannot serve:
    not much smaller, another tokenizer, or it does not load."""
    from engine.gguf import read_model_info
    from engine.runtime import Engine
    from engine.types import LoadParams

    try:
        if Path(path).resolve() == Path(target.info.path).resolve():
            return None
        info = read_model_info(path)
        if target.info.parameter_count < MIN_SIZE_RATIO * info.parameter_count:
            log.info("no draft model: %s is not much smaller than %s", info.name,
                     target.info.name)
            return None
        if info.tokenizer_model != target.info.tokenizer_model or \
                abs((info.vocab_size or 0) - (target.info.vocab_size or 0)) > VOCAB_SLACK:
            log.info("no draft model: %s has another tokenizer than %s", info.name,
                     target.info.name)
            return None
        params = LoadParams(n_ctx=target.n_ctx, n_threads=target.params.n_threads,
                            n_batch=target.params.n_batch)
        draft = Engine.load(path, params, template="completion")
    except EngineError as exc:
        log.warning("no draft model: %s", exc)
        return None
    reason = incompatibility(target, draft)
    if reason is not None:
        log.info("no draft model: %s cannot draft for %s: %s", info.name, target.info.name,
                 reason)
        draft.close()
        return None
    return DraftModel(draft)
