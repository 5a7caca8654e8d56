"""Two models side by side: one prompt answered by a base and an instruction-tuned model,
and one text cut by two tokenizers. Qt-free: `mingjing compare`, `mingjing tokens --model A
--model B` and the window's comparison views all use it.

On a CPU the models run one after the other; each is loaded, used and closed before the
next, so only one model's working memory is held at a time."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.chat_service import ChatService, Started, TurnRequest
from engine.types import (
    ChatMessage,
    FinishEvent,
    GenerationStats,
    LoadParams,
    Mode,
    SamplingParams,
    TokenEvent,
    TokenSpan,
)
from models.builtin import BASE_BUILTIN, DEFAULT_BUILTIN
from models.open import open_backend
from models.refs import ModelRef

BASE_VS_INSTRUCT = (
    "A base model was only pretrained: it learned to continue text, so it carries on from "
    "your words. An instruction-tuned model was then trained on conversations: its chat "
    "template marks whose turn it is, and it answers.")
DEFAULT_PAIR = (ModelRef.builtin(BASE_BUILTIN), ModelRef.builtin(DEFAULT_BUILTIN))


@dataclass
class ModelReply:
    """One column of a comparison: what the model was given and what it wrote."""

    ref: ModelRef
    name: str = ""
    mode: Mode = "chat"
    prompt: str = ""  # the prompt after the model's chat template (or as-is for a base model)
    prompt_tokens: list[TokenSpan] = field(default_factory=list)
    text: str = ""
    stats: GenerationStats | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class CompareEvent:
    """Progress of a comparison: `index` is the column; `kind` is "start" (the model is
    loaded and its prompt planned), "piece" (text of the reply), "done" or "error"."""

    index: int
    kind: str
    reply: ModelReply
    text: str = ""


def compare_replies(
    prompt: str,
    models_dir: Path,
    refs: Sequence[ModelRef] = DEFAULT_PAIR,
    *,
    sampling: SamplingParams | None = None,
    params: LoadParams | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[CompareEvent]:
    """Send `prompt` to each model in turn through the chat service (nothing is stored)."""
    from engine.errors import EngineError

    sampling = sampling or SamplingParams(temperature=0.0, max_tokens=96, repeat_penalty=1.1)
    for index, ref in enumerate(refs):
        reply = ModelReply(ref, name=ref.display_name)
        if cancel is not None and cancel.is_set():
            return
        try:
            backend = open_backend(ref, models_dir, params or LoadParams(n_ctx=2048))
        except EngineError as exc:
            reply.error = str(exc)
            yield CompareEvent(index, "error", reply, str(exc))
            continue
        try:
            reply.name = backend.description.name
            reply.mode = backend.mode
            service = ChatService(backend)
            request = TurnRequest(None, [ChatMessage("user", prompt)], sampling, persist=False,
                                  inspect=True)
            for event in service.run(request, cancel):
                if isinstance(event, Started):
                    planned = event.state.planned
                    assert planned is not None
                    reply.prompt = planned.plan.text
                    reply.prompt_tokens = list(planned.spans)
                    yield CompareEvent(index, "start", reply)
                elif isinstance(event, TokenEvent):
                    if event.text:
                        reply.text += event.text
                        yield CompareEvent(index, "piece", reply, event.text)
                elif isinstance(event, FinishEvent):
                    reply.text = event.text
                    reply.stats = event.stats
            yield CompareEvent(index, "done", reply)
        except EngineError as exc:
            reply.error = str(exc)
            yield CompareEvent(index, "error", reply, str(exc))
        finally:
            backend.close()


@dataclass
class Tokenized:
    """A text as one model's tokenizer cuts it."""

    ref: ModelRef
    name: str
    vocab_size: int
    spans: list[TokenSpan]
    characters: int

    @property
    def count(self) -> int:
        return len(self.spans)

    @property
    def chars_per_token(self) -> float:
        return self.characters / self.count if self.count else 0.0


def tokenize_with(text: str, refs: Sequence[ModelRef], models_dir: Path) -> list[Tokenized]:
    """`text` cut by each model's own tokenizer (vocabulary only: no weights are loaded).
    Raises EngineError (one line) for a model that cannot load."""
    out = []
    for ref in refs:
        backend = open_backend(ref, models_dir, LoadParams(n_ctx=256, vocab_only=True))
        try:
            ids = backend.tokenize(text)  # the text's own tokens: no BOS
            info = backend.description.info
            out.append(Tokenized(ref, backend.description.name,
                                 (info.vocab_size or 0) if info is not None else 0,
                                 backend.token_spans(ids), len(text)))
        finally:
            backend.close()
    return out
