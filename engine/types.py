"""Plain data that crosses the engine's boundary: messages, settings, events, stats, plans."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
StopReason = Literal["eos", "stop_string", "max_tokens", "cancelled", "context_full"]
Mode = Literal["chat", "completion"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


def default_threads() -> int:
    """Decode threads: every core on small machines, else half the logical cores (~physical)."""
    n = os.cpu_count() or 1
    return n if n <= 4 else max(4, n // 2)


@dataclass(slots=True)
class LoadParams:
    n_ctx: int = 4096
    n_threads: int = field(default_factory=default_threads)
    n_gpu_layers: int = 0
    n_batch: int = 512
    # Tokenizer and template only (no weights): counts, prompt views and context maps for
    # the window while the real model is busy generating on its own thread.
    vocab_only: bool = False
    # Speculative decoding for greedy replies (prompt lookup; a draft model where one is
    # attached): faster, but a batch's arithmetic is not bit for bit one position's, so
    # where two tokens are within rounding of each other the reply may differ.
    speculative: bool = False
    # The GPU to offload to (engine/placement.py): "auto" (the one with the most free
    # memory), "cpu" (none) or a device name such as "Vulkan0". n_gpu_layers: 0 keeps the
    # model on the CPU, -1 offloads as many layers as fit, N exactly N.
    device: str = "auto"
    gpu_limit_bytes: int | None = None  # at most this much of the GPU's memory


def reply_reserve(n_ctx: int, max_tokens: int) -> int:
    """Tokens of the window kept free for the reply: max_tokens, at most half the window."""
    return max(1, min(max_tokens, n_ctx // 2))


@dataclass(slots=True)
class SamplingParams:
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 512
    seed: int = -1  # -1: a fresh random seed for every reply
    stop: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SamplingParams:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "stop" in known:
            known["stop"] = tuple(known["stop"])
        return cls(**known)


@dataclass(slots=True)
class GenerationStats:
    prompt_tokens: int = 0
    reused_prompt_tokens: int = 0
    evaluated_prompt_tokens: int = 0
    prompt_eval_s: float = 0.0
    time_to_first_token_s: float = 0.0
    completion_tokens: int = 0
    decode_s: float = 0.0
    decode_tok_s: float = 0.0
    total_s: float = 0.0
    stop_reason: StopReason = "eos"
    dropped_messages: list[int] = field(default_factory=list)
    seed: int | None = None
    # False: prompt_tokens is an estimate (a server that neither tokenizes nor reports usage)
    prompt_tokens_exact: bool = True
    # Prompt-lookup decoding: tokens drafted, and those the model agreed with (kept).
    drafted_tokens: int = 0
    accepted_tokens: int = 0
    # Where the work ran, for a local model: "CPU" or "Vulkan0, 25/25 layers".
    runs_on: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One possible next token at a step: its probability from the model's raw logits
    (temperature 1) and after the chosen temperature (0: all mass on the top token)."""

    token_id: int
    piece: str
    probability: float
    probability_at_temperature: float


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """One generated token. `text` is what this token releases for display: it can be empty
    while a multi-byte character or a possible stop string is still incomplete.
    `candidates` holds the top next-token candidates at this step when asked for, and
    `probability` this token's own probability at temperature 1 (None when not asked for),
    which is known even when the sampler drew it from outside the candidates."""

    token_id: int
    text: str
    candidates: tuple[Candidate, ...] = ()
    probability: float | None = None
    drafted: bool = False  # drafted by prompt lookup and kept (engine/lookup.py)


@dataclass(frozen=True, slots=True)
class PromptProgress:
    """Prompt evaluation under way: `done` of `total` prompt tokens to evaluate (the reused
    prefix not counted), `seconds` since it began. Sent between chunks of the prompt, so
    only for prompts longer than one chunk."""

    done: int
    total: int
    seconds: float

    @property
    def rate(self) -> float:
        """Tokens a second so far (0 before the first chunk)."""
        return self.done / self.seconds if self.done and self.seconds > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        """At the rate so far; None before the first chunk."""
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True, slots=True)
class FinishEvent:
    text: str
    stats: GenerationStats


GenerationEvent = TokenEvent | PromptProgress | FinishEvent


@dataclass(frozen=True, slots=True)
class ContextPlan:
    """The exact prompt the model will see, and which history messages had to go to make room."""

    mode: Mode
    text: str
    tokens: list[int]
    kept: list[int]  # indices into the message list that stay in the prompt
    dropped: list[int]  # indices of the oldest messages dropped to fit
    n_ctx: int
    reserve: int  # tokens kept free for the reply
    messages: tuple[ChatMessage, ...] = ()  # the kept messages (what a remote server is sent)
    system: str | None = None
    exact: bool = True  # token counts from the model's own tokenizer, not an estimate

    @property
    def prompt_tokens(self) -> int:
        return len(self.tokens)

    @property
    def free_tokens(self) -> int:
        return self.n_ctx - self.reserve - len(self.tokens)


@dataclass(frozen=True, slots=True)
class ContextSegment:
    """A stretch of the context window: what fills it and how many tokens it takes."""

    kind: str  # system | knowledge | history | message | reserve | free
    label: str
    tokens: int
    message_index: int | None = None


@dataclass(frozen=True, slots=True)
class ContextMap:
    """The window as the model will see it: segments sum to n_ctx (prompt + reserve + free);
    `dropped` lists the oldest messages that had to go, with their token counts."""

    n_ctx: int
    prompt_tokens: int
    segments: tuple[ContextSegment, ...]
    dropped: tuple[ContextSegment, ...]
    exact: bool = True  # False: counted by an estimate, not the model's own tokenizer

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_ctx": self.n_ctx,
            "prompt_tokens": self.prompt_tokens,
            "exact": self.exact,
            "segments": [asdict(s) for s in self.segments],
            "dropped": [asdict(s) for s in self.dropped],
        }


@dataclass(frozen=True, slots=True)
class TokenSpan:
    """One token of a prompt as the model sees it: id, raw bytes, display text, and
    whether it is a special (control) token such as <start_of_turn>."""

    token_id: int
    raw: bytes
    text: str
    special: bool
