"""Per-turn prompt work that grows with the new message, not with the conversation.

Every turn tokenizes the whole templated conversation (to plan it into the window) and the
context map needs the token count at the end of every message. Both repeat work done on
earlier turns; the two caches here keep it, exactly:

- `PieceTokenizer`: a templated prompt is cut just before each occurrence of the template's
  own special tokens (`<|im_start|>`, `<start_of_turn>`, ...) and each piece is tokenized
  once and remembered. llama.cpp's tokenizer itself first splits a text at its special
  tokens and then tokenizes each stretch of plain text on its own, so the pieces' tokens
  joined are the whole text's tokens, provided that no special token at least as long as
  an anchor can overlap it (llama.cpp carves the longest special tokens first) and that no
  anchor swallows the whitespace before it (the LSTRIP attribute). `anchors_for` keeps the
  template's special tokens for which both hold (Gemma's newline tokens, for one, do not).
- `PrefixCounts`: the token count of a conversation's prefix, remembered by a digest of
  the prefix, so a context map renders and counts only the messages it has not seen.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from engine.types import ChatMessage

PIECES_KEPT = 16384  # pieces remembered (a piece is about one message)
PREFIXES_KEPT = 4096  # prefix counts remembered


def anchors_for(template_specials: Iterable[str], all_specials: Iterable[tuple[str, bool]]
                ) -> list[str]:
    """The special-token texts a prompt may be cut before. `template_specials`: the special
    tokens a rendered conversation contains; `all_specials`: (text, lstrip) for every token
    the tokenizer treats as special. An anchor is left out where cutting before it would
    not be exact (none left: the whole text is tokenized)."""
    specials = list(all_specials)
    lstrip = {text for text, strips in specials if strips}
    anchors = []
    for anchor in sorted({t for t in template_specials if t}):
        if anchor in lstrip:
            continue
        heads = {anchor[:k] for k in range(1, len(anchor))}
        # Shorter special tokens are carved after the anchor and cannot split it.
        if not any(text != anchor and len(text) >= len(anchor)
                   and (anchor in text or any(text.endswith(h) for h in heads))
                   for text, _ in specials):
            anchors.append(anchor)
    return anchors


class PieceTokenizer:
    """Exact whole-prompt tokenization that tokenizes only pieces it has not seen.
    `tokenize(text, first)` tokenizes one piece (`first`: it starts the prompt, so BOS may
    be added)."""

    def __init__(self, tokenize: Callable[[str, bool], list[int]], anchors: Sequence[str],
                 *, keep: int = PIECES_KEPT) -> None:
        self._tokenize = tokenize
        self._pattern = (re.compile("|".join(re.escape(a) for a in
                                             sorted(anchors, key=len, reverse=True)))
                         if anchors else None)
        self._pieces: OrderedDict[tuple[bool, str], tuple[int, ...]] = OrderedDict()
        self._keep = keep
        self.tokenized_chars = 0  # text tokenized by llama.cpp so far (for tests, benchmarks)

    def __call__(self, text: str) -> list[int]:
        if self._pattern is None:
            self.tokenized_chars += len(text)
            return self._tokenize(text, True)
        cuts = [0, *(m.start() for m in self._pattern.finditer(text) if m.start() > 0)]
        out: list[int] = []
        for start, end in zip(cuts, [*cuts[1:], len(text)], strict=True):
            out.extend(self._piece(text[start:end], start == 0))
        return out

    def _piece(self, piece: str, first: bool) -> tuple[int, ...]:
        key = (first, piece)
        tokens = self._pieces.get(key)
        if tokens is not None:
            self._pieces.move_to_end(key)
            return tokens
        tokens = tuple(self._tokenize(piece, first))
        self.tokenized_chars += len(piece)
        self._pieces[key] = tokens
        if len(self._pieces) > self._keep:
            self._pieces.popitem(last=False)
        return tokens


class PrefixCounts:
    """Token counts of conversation prefixes, remembered by digest: `counts(messages)`
    gives the count at the end of each message, computing only prefixes not seen before
    with `count(prefix)`."""

    def __init__(self, *, keep: int = PREFIXES_KEPT) -> None:
        self._counts: OrderedDict[bytes, int] = OrderedDict()
        self._keep = keep
        self.computed = 0  # prefixes counted from scratch (for tests, benchmarks)

    def counts(self, messages: Sequence[ChatMessage], context: str,
               count: Callable[[Sequence[ChatMessage]], int]) -> list[int]:
        digest = hashlib.blake2b(context.encode("utf-8"), digest_size=16)
        out = []
        for j, message in enumerate(messages):
            content = message.content.encode("utf-8")
            digest.update(f"|{message.role}|{len(content)}|".encode() + content)
            key = digest.copy().digest()
            value = self._counts.get(key)
            if value is None:
                value = count(messages[: j + 1])
                self.computed += 1
                self._counts[key] = value
                if len(self._counts) > self._keep:
                    self._counts.popitem(last=False)
            else:
                self._counts.move_to_end(key)
            out.append(value)
        return out
