"""One interface for every way of running a model: what the app needs from a backend.

The llama.cpp engine (engine/runtime.py) is the first implementation; remote
OpenAI-compatible servers come next and fit the same shape, so nothing above this
interface changes then. A backend has a model description, a tokenizer (its own, a
server's, or an estimate: `capabilities` says which), prompt rendering, and a cancellable
stream of generation events. Planning a prompt into the context window and mapping what
fills it are the same for every backend and live here."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.errors import ContextOverflowError, EngineError
from engine.prompt_cache import PrefixCounts
from engine.types import (
    ChatMessage,
    ContextMap,
    ContextPlan,
    ContextSegment,
    FinishEvent,
    GenerationEvent,
    Mode,
    SamplingParams,
    TokenSpan,
    reply_reserve,
)

if TYPE_CHECKING:
    from engine.cpu_backend import EngineBuild
    from engine.gguf import ModelInfo
    from engine.placement import Placement


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend can tell and do, so the app says which numbers are exact."""

    exact_token_counts: bool  # counts come from the model's own tokenizer
    candidates: bool  # next-token candidates with probabilities at each step
    prefix_reuse: bool  # the next turn evaluates only what changed (a KV cache)
    token_pieces: bool  # prompts can be shown as the model's token pieces
    # Who counts the tokens: "model" (its own tokenizer, here), "server" (the server's
    # /tokenize), "builtin" (a built-in copy of the same model, here) or "estimate".
    counted_by: str = "model"


@dataclass(frozen=True, slots=True)
class ModelDescription:
    """The model a backend runs, for the window, the concept panel and `model info`."""

    name: str
    source: str  # a file path or a server URL
    mode: Mode
    n_ctx: int  # the context window in use
    info: ModelInfo | None = None  # the GGUF's own metadata, when the file is local
    build: EngineBuild | None = None  # which CPU code llama.cpp runs, for local models
    placement: Placement | None = None  # the GPU and layers offloaded, for local models


class ModelBackend(ABC):
    """A loaded model, however it runs. One backend belongs to one thread at a time."""

    capabilities: Capabilities
    n_ctx: int

    # ------------------------------------------------------------- identity

    @property
    @abstractmethod
    def mode(self) -> Mode:
        """"chat" with a template, "completion" (plain continuation) for a base model."""

    @property
    @abstractmethod
    def description(self) -> ModelDescription: ...

    @abstractmethod
    def close(self) -> None: ...

    def reset_cache(self) -> None:  # noqa: B027 - optional, a no-op where there is none
        """Forget any reusable prefix."""

    def side_backend(self) -> ModelBackend | None:
        """The same model for short side tasks (rewriting a search query) that must not
        disturb this backend's reusable prefix; None where there is none. Called on the
        thread that owns this backend."""
        return None

    # ------------------------------------------------------------ tokenizer

    @abstractmethod
    def tokenize(self, text: str, *, add_bos: bool = False,
                 special: bool = False) -> list[int]: ...

    @abstractmethod
    def prompt_tokens(self, text: str) -> list[int]:
        """Tokens of a whole rendered prompt, as the model will read them."""

    @abstractmethod
    def token_spans(self, tokens: Sequence[int]) -> list[TokenSpan]: ...

    @abstractmethod
    def detokenize(self, tokens: Sequence[int], *, special: bool = False) -> str: ...

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))

    # --------------------------------------------------------------- prompts

    @abstractmethod
    def render(
        self,
        messages: Sequence[ChatMessage],
        system: str | None = None,
        *,
        add_generation_prompt: bool = True,
    ) -> str:
        """The prompt text for a conversation, before tokenization."""

    def reply_reserve(self, sampling: SamplingParams) -> int:
        return reply_reserve(self.n_ctx, sampling.max_tokens)

    def plan(
        self,
        messages: Sequence[ChatMessage],
        *,
        system: str | None = None,
        reserve: int | None = None,
    ) -> ContextPlan:
        """Fit a conversation into n_ctx - reserve, dropping the oldest turns (never the
        system prompt, never the last message). Raises ContextOverflowError when even the
        last message alone does not fit."""
        if not messages:
            raise EngineError("nothing to send: the conversation is empty")
        if reserve is None:
            reserve = self.reply_reserve(SamplingParams())
        budget = self.n_ctx - reserve
        # Where the kept part may begin, oldest first. Dropping turns never lengthens the
        # prompt, so the first start that fits is found by bisection: a few renders, not
        # one per dropped turn.
        starts = [0]
        while (nxt := self._next_start(messages, starts[-1])) < len(messages):
            starts.append(nxt)
        tried: dict[int, tuple[str, list[int]]] = {}

        def attempt(i: int) -> bool:
            if i not in tried:
                text = self.render(messages[starts[i]:], system)
                tried[i] = (text, self.prompt_tokens(text))
            return len(tried[i][1]) <= budget

        if attempt(0):
            found = 0
        else:
            lo, hi, found = 1, len(starts) - 1, -1
            while lo <= hi:
                mid = (lo + hi) // 2
                if attempt(mid):
                    found, hi = mid, mid - 1
                else:
                    lo = mid + 1
            if found < 0:
                attempt(len(starts) - 1)
                raise ContextOverflowError(needed=len(tried[len(starts) - 1][1]),
                                           available=budget)
        start = starts[found]
        text, tokens = tried[found]
        kept = list(range(start, len(messages)))
        return ContextPlan(
            mode=self.mode,
            text=text,
            tokens=tokens,
            kept=kept,
            dropped=list(range(start)),
            n_ctx=self.n_ctx,
            reserve=reserve,
            messages=tuple(messages[i] for i in kept),
            system=system,
            exact=self.capabilities.exact_token_counts,
        )

    def context_map(
        self,
        messages: Sequence[ChatMessage],
        *,
        system: str | None = None,
        reserve: int | None = None,
        knowledge: str | None = None,
    ) -> ContextMap:
        """What fills the window for this conversation, exactly: the segments of the
        templated prompt (system, each kept history message, retrieved knowledge, this
        message with the template's tokens), the reply reserve and what is free; and the
        messages the plan drops. `knowledge` is the retrieved block inside the last message.
        Raises ContextOverflowError like `plan`."""
        plan = self.plan(messages, system=system, reserve=reserve)
        kept = [messages[i] for i in plan.kept]
        total = plan.prompt_tokens
        # Token count of the prompt up to the end of each kept message. Templates render a
        # prefix of a conversation as a prefix of its text, so the differences are the
        # messages' shares (the last share also holds the generation prompt). Counts of
        # prefixes seen on earlier turns are remembered (engine/prompt_cache.py).
        bounds = self._prefix_counts.counts(
            kept[:-1], repr((self.mode, system)),
            lambda prefix: len(self.prompt_tokens(
                self.render(prefix, system, add_generation_prompt=False))))
        segments: list[ContextSegment] = []
        previous = 0
        system_tokens = self.count_tokens(system) if system else 0
        for j, index in enumerate(plan.kept):
            end = bounds[j] if j < len(bounds) else total
            share = max(0, end - previous)
            previous = max(previous, end)
            if j == 0 and system_tokens:
                taken = min(system_tokens, share)
                segments.append(ContextSegment("system", "system prompt", taken))
                share -= taken
            message = messages[index]
            last = j == len(plan.kept) - 1
            if last and knowledge:
                taken = min(self.count_tokens(knowledge), share)
                segments.append(ContextSegment("knowledge", "retrieved passages", taken, index))
                share -= taken
            kind = "message" if last else "history"
            segments.append(ContextSegment(kind, f"{message.role} #{index + 1}", share, index))
        used = sum(s.tokens for s in segments)
        if used != total:  # a template that is not prefix-stable: the last part absorbs it
            fixed = segments[-1]
            segments[-1] = ContextSegment(fixed.kind, fixed.label,
                                          max(0, fixed.tokens + total - used),
                                          fixed.message_index)
        segments.append(ContextSegment("reserve", "reserved for the reply", plan.reserve))
        segments.append(ContextSegment("free", "free", max(0, plan.free_tokens)))
        dropped = tuple(
            ContextSegment("dropped", f"{messages[i].role} #{i + 1}",
                           self.count_tokens(messages[i].content), i)
            for i in plan.dropped
        )
        return ContextMap(self.n_ctx, total, tuple(segments), dropped,
                          exact=self.capabilities.exact_token_counts)

    @property
    def _prefix_counts(self) -> PrefixCounts:
        counts: PrefixCounts | None = getattr(self, "_prefix_count_cache", None)
        if counts is None:
            counts = self._prefix_count_cache = PrefixCounts()
        return counts

    def _next_start(self, messages: Sequence[ChatMessage], start: int) -> int:
        last = len(messages) - 1
        if start >= last:
            return last + 1  # only the newest message is left and it does not fit
        nxt = start + 1
        if self.mode == "chat":
            # Drop whole turns: the kept history must start with a user message.
            while nxt < last and messages[nxt].role != "user":
                nxt += 1
        return min(nxt, last)

    # ------------------------------------------------------------ generation

    def respond(
        self,
        messages: Sequence[ChatMessage],
        sampling: SamplingParams,
        *,
        system: str | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[GenerationEvent]:
        """Plan the prompt for a conversation and generate the next reply."""
        plan = self.plan(messages, system=system, reserve=self.reply_reserve(sampling))
        for event in self.stream(plan, sampling, cancel=cancel):
            if isinstance(event, FinishEvent):
                event.stats.dropped_messages = list(plan.dropped)
            yield event


    # ------------------------------------------------------------ generation

    @abstractmethod
    def stream(
        self,
        plan: ContextPlan,
        sampling: SamplingParams,
        *,
        cancel: threading.Event | None = None,
        candidates: int = 0,
    ) -> Iterator[GenerationEvent]:
        """Generate the reply to a planned prompt: TokenEvents, then one FinishEvent.
        `cancel` stops it at the next token; `candidates` asks for the top-N next-token
        candidates at each step where `capabilities.candidates`."""
