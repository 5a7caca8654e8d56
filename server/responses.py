"""OpenAI response objects: chat completions and their chunks, text completions, logprobs
in both shapes, and `usage` with the prompt tokens the KV cache already held."""

from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from engine.types import GenerationStats, PromptProgress
from server.params import Generation

_FINISH = {"eos": "stop", "stop_string": "stop", "max_tokens": "length",
           "context_full": "length", "cancelled": "stop"}


@dataclass(frozen=True, slots=True)
class Piece:
    """One token for logprobs: its text, its bytes and its log-probability."""

    token: str
    raw: bytes
    logprob: float


@dataclass(frozen=True, slots=True)
class Step:
    """One generated token as the response needs it (made on the model's thread)."""

    text: str  # what this token releases (may be empty)
    chosen: Piece | None = None  # with logprobs
    top: tuple[Piece, ...] = ()


@dataclass
class Began:
    """The prompt is planned: the reply streams next."""

    prompt_tokens: int
    sources: list[dict[str, Any]] | None = None  # with knowledge bases: what may be cited
    retrieved: int = 0  # passages retrieved (some may not have fit)
    no_answer: dict[str, Any] | None = None  # the knowledge bases had nothing relevant


@dataclass(frozen=True, slots=True)
class Finished:
    """The turn's reply is complete: its text, stats, and its [n] as the chat service
    checked them against the sources (app/citations.py)."""

    text: str
    stats: GenerationStats
    citations: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Reply:
    """Everything one turn produced, gathered for a whole (non-streamed) response."""

    began: Began
    steps: list[Step] = field(default_factory=list)
    finished: Finished | None = None


def logprob(probability: float | None) -> float:
    if probability is None or probability <= 0:
        return -9999.0  # OpenAI's value for "far too unlikely to say"
    return math.log(probability)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


class Shaper:
    """Builds one request's response objects (one id, one creation time, one model)."""

    def __init__(self, gen: Generation, model: str) -> None:
        self.gen = gen
        self.model = model
        self.chat = gen.endpoint == "chat"
        self.id = new_id("chatcmpl" if self.chat else "cmpl")
        self.created = int(time.time())
        self._offset = 0  # text offset of the next token (completions' logprobs)

    # ------------------------------------------------------------- whole responses

    def whole(self, reply: Reply) -> dict[str, Any]:
        done = reply.finished
        assert done is not None
        finish = _FINISH.get(done.stats.stop_reason, "stop")
        choice: dict[str, Any] = {"index": 0}
        if self.chat:
            choice["message"] = {"role": "assistant", "content": done.text}
            choice["logprobs"] = (
                {"content": [self._chat_logprob(s) for s in reply.steps]}
                if self.gen.logprobs else None)
        else:
            choice["text"] = done.text
            choice["logprobs"] = self._text_logprobs(reply.steps) if self.gen.logprobs \
                else None
        choice["finish_reason"] = finish
        return {
            "id": self.id,
            "object": "chat.completion" if self.chat else "text_completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [choice],
            "usage": usage(done.stats),
            "mingjing": extension(reply.began, done),
        }

    # --------------------------------------------------------------------- stream

    def first_chunk(self) -> bytes:
        if not self.chat:
            return b""
        return self._chunk({"role": "assistant", "content": ""}, None, None)

    def step_chunk(self, step: Step) -> bytes:
        if not step.text and step.chosen is None:
            return b""
        if self.chat:
            logprobs = {"content": [self._chat_logprob(step)]} if step.chosen else None
            return self._chunk({"content": step.text}, logprobs, None)
        logprobs = self._text_logprobs([step]) if step.chosen else None
        return self._chunk(step.text, logprobs, None)

    def last_chunks(self, began: Began, done: Finished) -> bytes:
        finish = _FINISH.get(done.stats.stop_reason, "stop")
        out = self._chunk({} if self.chat else "", None, finish,
                          {"mingjing": extension(began, done)})
        if self.gen.include_usage:
            out += _sse({**self._envelope(), "choices": [], "usage": usage(done.stats)})
        return out + b"data: [DONE]\n\n"

    def _envelope(self) -> dict[str, Any]:
        return {"id": self.id,
                "object": "chat.completion.chunk" if self.chat else "text_completion",
                "created": self.created, "model": self.model, "system_fingerprint": None}

    def _chunk(self, delta: dict[str, Any] | str, logprobs: dict[str, Any] | None,
               finish: str | None, extra: dict[str, Any] | None = None) -> bytes:
        choice: dict[str, Any] = {"index": 0}
        if self.chat:
            choice["delta"] = delta
        else:
            choice["text"] = delta
        choice["logprobs"] = logprobs
        choice["finish_reason"] = finish
        body = {**self._envelope(), "choices": [choice]}
        if self.gen.include_usage:
            body["usage"] = None
        if extra:
            body.update(extra)
        return _sse(body)

    # ------------------------------------------------------------------- logprobs

    def _chat_logprob(self, step: Step) -> dict[str, Any]:
        assert step.chosen is not None
        return {**_piece(step.chosen),
                "top_logprobs": [_piece(p) for p in step.top[: self.gen.top_logprobs]]}

    def _text_logprobs(self, steps: list[Step]) -> dict[str, Any]:
        tokens, lps, tops, offsets = [], [], [], []
        for step in steps:
            if step.chosen is None:
                continue
            tokens.append(step.chosen.token)
            lps.append(step.chosen.logprob)
            tops.append({p.token: p.logprob for p in step.top[: self.gen.top_logprobs]})
            offsets.append(self._offset)
            self._offset += len(step.text)
        return {"tokens": tokens, "token_logprobs": lps,
                "top_logprobs": tops if self.gen.top_logprobs else None,
                "text_offset": offsets}


def _piece(p: Piece) -> dict[str, Any]:
    return {"token": p.token, "logprob": p.logprob, "bytes": list(p.raw)}


def _sse(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


def usage(stats: GenerationStats) -> dict[str, Any]:
    return {
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.completion_tokens,
        "total_tokens": stats.prompt_tokens + stats.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": stats.reused_prompt_tokens},
    }


def progress_comment(progress: PromptProgress) -> bytes:
    """Prompt processing, streamed as an SSE comment (clients skip comments; ours can read
    them): `: mingjing-progress {"done": 128, "total": 940, "seconds": 1.9}`."""
    body = json.dumps({"done": progress.done, "total": progress.total,
                       "seconds": round(progress.seconds, 3)}, separators=(",", ":"))
    return f": mingjing-progress {body}\n\n".encode()


def extension(began: Began, done: Finished) -> dict[str, Any]:
    """The response's `mingjing` object: how the turn ran, its sources and the reply's
    citations checked against them."""
    stats = done.stats
    out: dict[str, Any] = {"stats": {
        "time_to_first_token_s": round(stats.time_to_first_token_s, 4),
        "prompt_eval_s": round(stats.prompt_eval_s, 4),
        "decode_tok_s": round(stats.decode_tok_s, 2),
        "reused_prompt_tokens": stats.reused_prompt_tokens,
        "evaluated_prompt_tokens": stats.evaluated_prompt_tokens,
        "dropped_messages": list(stats.dropped_messages),
        "stop_reason": stats.stop_reason,
        "seed": stats.seed,
    }}
    if began.sources is not None:
        out["sources"] = began.sources
        out["retrieved"] = began.retrieved
        out["no_answer"] = began.no_answer
        out["citations"] = done.citations
    return out
