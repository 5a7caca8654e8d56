"""One thread for all of a model's computation, whoever asks for it.

llama.cpp (built with OpenMP) opens a parallel region on the thread that calls it, and
OpenMP keeps a pool of worker threads for each such calling thread. Once a second calling
thread has a pool, the process has more OpenMP threads than cores, and libgomp stops
spinning at its barriers (100 spins instead of 300,000): every one of the hundreds of
barriers in a token's graph then sleeps and wakes. Measured here (2 cores, the built-in chat
model): 52 tok/s from one calling thread, 37 tok/s once a second thread had decoded too.
The window's model thread and the API's request threads would be such callers.

So the model host loads, decodes and closes on one thread of its own: a caller's turn still
runs on the caller's thread, but each step of a generation (the prompt evaluation, then each
token) is run on the compute thread, one hop each way; or a caller hands its whole turn to
the compute thread (`run_inside`, as the API does) and no step hops at all."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from engine.backend import ModelBackend, ModelDescription
from engine.types import ChatMessage, ContextPlan, GenerationEvent, Mode, SamplingParams, TokenSpan

T = TypeVar("T")


class ComputeThread:
    """A daemon thread that runs the functions handed to it, one at a time, in order."""

    def __init__(self, name: str = "model-compute") -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], _Result] | None] = \
            queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the compute thread and return its result (or raise its exception)."""
        if threading.current_thread() is self._thread:
            return fn()
        result = _Result()
        self._jobs.put((fn, result))
        return result.get()

    def stop(self) -> None:
        self._jobs.put(None)

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            fn, result = job
            try:
                result.set(fn(), None)
            except BaseException as exc:  # handed back to the caller
                result.set(None, exc)


class _Result:
    __slots__ = ("_done", "_error", "_value")

    def __init__(self) -> None:
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def set(self, value: Any, error: BaseException | None) -> None:
        self._value, self._error = value, error
        self._done.set()

    def get(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


class ComputeBound(ModelBackend):
    """A backend whose generations run step by step on the compute thread; everything else
    (tokenizer, templates, planning) runs on the caller's thread as before."""

    def __init__(self, backend: ModelBackend, compute: ComputeThread) -> None:
        self.inner = backend
        self.compute = compute
        self.capabilities = backend.capabilities
        self.n_ctx = backend.n_ctx
        self._side: ModelBackend | None = None

    def __getattr__(self, name: str) -> Any:  # backend-specific extras (Engine.n_vocab, ...)
        return getattr(self.inner, name)

    def run_inside(self, fn: Callable[[ModelBackend], T]) -> T:
        """Run `fn` with the plain backend on the compute thread (a whole turn at once)."""
        return self.compute.call(lambda: fn(self.inner))

    @property
    def mode(self) -> Mode:
        return self.inner.mode

    @property
    def description(self) -> ModelDescription:
        return self.inner.description

    def close(self) -> None:
        self.compute.call(self.inner.close)

    def reset_cache(self) -> None:
        self.inner.reset_cache()

    def side_backend(self) -> ModelBackend | None:
        """The inner backend's side context, loaded and run on the compute thread too."""
        if self._side is None:
            side = self.compute.call(self.inner.side_backend)
            if side is None:
                return None
            # A backend that is its own side context (a server) stays bound here as itself.
            self._side = self if side is self.inner else ComputeBound(side, self.compute)
        return self._side

    def tokenize(self, text: str, *, add_bos: bool = False,
                 special: bool = False) -> list[int]:
        return self.inner.tokenize(text, add_bos=add_bos, special=special)

    def prompt_tokens(self, text: str) -> list[int]:
        return self.inner.prompt_tokens(text)

    def token_spans(self, tokens: Sequence[int]) -> list[TokenSpan]:
        return self.inner.token_spans(tokens)

    def detokenize(self, tokens: Sequence[int], *, special: bool = False) -> str:
        return self.inner.detokenize(tokens, special=special)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def render(self, messages: Sequence[ChatMessage], system: str | None = None, *,
               add_generation_prompt: bool = True) -> str:
        return self.inner.render(messages, system, add_generation_prompt=add_generation_prompt)

    def stream(self, plan: ContextPlan, sampling: SamplingParams, *,
               cancel: threading.Event | None = None,
               candidates: int = 0) -> Iterator[GenerationEvent]:
        return self._on_compute(self.inner.stream(plan, sampling, cancel=cancel,
                                                  candidates=candidates))

    def _on_compute(self, events: Iterator[GenerationEvent]) -> Iterator[GenerationEvent]:
        done = object()
        try:
            while True:
                event = self.compute.call(lambda: next(events, done))
                if event is done:
                    return
                yield event  # type: ignore[misc]
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                self.compute.call(close)  # its cleanup (the sampler) on the same thread
