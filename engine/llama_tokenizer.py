"""The llama.cpp tokenizer side of the engine: text to tokens and back, token pieces for
display, and whole prompts (chat prompts through engine/prompt_cache.PieceTokenizer)."""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.prompt_cache import PieceTokenizer, anchors_for
from engine.types import ChatMessage, Mode, TokenSpan

if TYPE_CHECKING:
    from llama_cpp import Llama

# A conversation every chat template must render (the load-time check of a model's own
# one), and the sample whose special tokens say where a prompt may be cut.
SAMPLE_CONVERSATION = (ChatMessage("user", "Hello!"),
                       ChatMessage("assistant", "Hi! How can I help?"),
                       ChatMessage("user", "What is 2 + 2?"))


class LlamaTokenizer:
    """Tokenizer methods of Engine (a mixin: the engine sets the fields below)."""

    _llama: Llama
    _lib: Any
    _vocab: Any
    _piece_cache: dict[int, bytes]
    _piece_buf: Any
    _prompt_pieces: PieceTokenizer | None
    add_bos: bool
    bos_text: str
    n_vocab: int

    @property
    def mode(self) -> Mode:
        raise NotImplementedError

    def render(self, messages: Sequence[ChatMessage], system: str | None = None, *,
               add_generation_prompt: bool = True) -> str:
        raise NotImplementedError

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = False) -> list[int]:
        if not text and not add_bos:
            return []
        return self._llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def token_bytes(self, token: int, *, special: bool = False) -> bytes:
        """The raw bytes of one token (a piece of a UTF-8 character for byte-fallback tokens)."""
        key = token if not special else -token - 1
        piece = self._piece_cache.get(key)
        if piece is None:
            buf = self._piece_buf
            n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
            if n < 0:  # buffer too small: retry with the size asked for
                buf = ctypes.create_string_buffer(-n)
                n = self._lib.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
            piece = buf.raw[:n]
            self._piece_cache[key] = piece
        return piece

    def detokenize(self, tokens: Sequence[int], *, special: bool = False) -> str:
        data = b"".join(self.token_bytes(t, special=special) for t in tokens)
        return data.decode("utf-8", errors="replace")

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    def is_special(self, token: int) -> bool:
        attr = int(self._lib.llama_vocab_get_attr(self._vocab, token))
        return bool(attr & (self._lib.LLAMA_TOKEN_ATTR_CONTROL
                            | self._lib.LLAMA_TOKEN_ATTR_UNKNOWN))

    def token_spans(self, tokens: Sequence[int]) -> list[TokenSpan]:
        """The pieces of a token sequence for display (special tokens by their name)."""
        spans = []
        for token in tokens:
            special = self.is_special(token)
            raw = self.token_bytes(token, special=special)
            spans.append(TokenSpan(token, raw, raw.decode("utf-8", errors="replace"), special))
        return spans

    def is_end_of_generation(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self._vocab, token))

    def prompt_tokens(self, text: str) -> list[int]:
        """Tokens for a whole prompt: special tokens parsed in chat mode, BOS added once.
        Chat prompts go through a PieceTokenizer (engine/prompt_cache.py): the same tokens,
        but only the messages not seen before are tokenized."""
        if self.mode == "chat":
            if self._prompt_pieces is None:
                self._prompt_pieces = PieceTokenizer(self._chat_piece_tokens,
                                                     self._template_anchors())
            return self._prompt_pieces(text)
        return self.tokenize(text, add_bos=self.add_bos, special=False)

    def _chat_piece_tokens(self, text: str, first: bool) -> list[int]:
        has_bos = bool(self.bos_text) and text.startswith(self.bos_text)
        return self.tokenize(text, add_bos=first and self.add_bos and not has_bos,
                             special=True)

    def _template_anchors(self) -> list[str]:
        """The special tokens this model's template writes, where a prompt may be cut
        exactly (engine/prompt_cache.anchors_for); about 0.1 s over the vocabulary, once."""
        lib, vocab = self._lib, self._vocab
        special = (lib.LLAMA_TOKEN_ATTR_CONTROL | lib.LLAMA_TOKEN_ATTR_USER_DEFINED
                   | lib.LLAMA_TOKEN_ATTR_UNKNOWN)
        sample = self.tokenize(self.render(list(SAMPLE_CONVERSATION), "system"),
                               special=True)
        used = {self._special_text(t) for t in set(sample)
                if lib.llama_vocab_get_attr(vocab, t) & special}
        everything = []
        get_attr = lib.llama_vocab_get_attr
        for token in range(self.n_vocab):
            attr = get_attr(vocab, token)
            if attr & special:
                everything.append((self._special_text(token),
                                   bool(attr & lib.LLAMA_TOKEN_ATTR_LSTRIP)))
        return anchors_for(used, everything)

    def _special_text(self, token: int) -> str:
        """A token's text as the tokenizer matches it in a prompt."""
        text: bytes = self._lib.llama_vocab_get_text(self._vocab, token)
        return text.decode("utf-8", errors="replace")
