"""A model run by another program over the OpenAI-compatible API (llama.cpp's llama-server,
vLLM, Ollama, LM Studio, another Mingjing): the remote backend.

Retrieval stays local; only the planned prompt goes out. What the concept panel shows stays
honest: token counts are exact where the server tokenizes (llama-server's and Mingjing's
`/tokenize`, vLLM's) and its chat template is known (llama-server's `/props`), and are
otherwise estimated and marked so (`capabilities.exact_token_counts` is False), then
corrected from the reply's `usage`. Next-token candidates come from `top_logprobs`.

The HTTP side (the address, the key, one request at a time, errors in one line) is
engine/remote_http.py."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from engine.backend import Capabilities, ModelBackend, ModelDescription
from engine.remote_http import (
    DEFAULT_CONTEXT,
    RemoteConfig,
    RemoteError,
    context_length,
    json_object,
    list_models,
    open_client,
    probe_tokenize,
    request,
    server_props,
    status_error,
    transport_error,
)
from engine.template import CHATML_TEMPLATE, ChatTemplate, TemplateError
from engine.types import (
    Candidate,
    ChatMessage,
    ContextPlan,
    FinishEvent,
    GenerationEvent,
    GenerationStats,
    Mode,
    PromptProgress,
    SamplingParams,
    StopReason,
    TokenEvent,
    TokenSpan,
)

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_CONTEXT", "RemoteBackend", "RemoteConfig", "RemoteError", "estimate_tokens",
           "list_models"]


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about one token per CJK character and per four other
    characters (what common vocabularies give on Chinese and English prose)."""
    cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff")
    return cjk + max(0, len(text) - cjk + 3) // 4



class RemoteBackend(ModelBackend):
    """Create with `RemoteBackend.connect(config)`."""

    def __init__(self, config: RemoteConfig, client: Any, model: str, n_ctx: int,
                 tokenize_shape: str | None, template: ChatTemplate | None,
                 bos: str, name: str) -> None:
        self.config = config
        self._client = client
        self.model = model
        self.n_ctx = n_ctx
        # "llama" (llama-server, Mingjing), "vllm", "lcp" (llama-cpp-python's server) or
        # None (counts estimated)
        self._tokenize_shape = tokenize_shape
        self.template = template  # the server's own template, when it tells it
        self._estimate_template = ChatTemplate(CHATML_TEMPLATE)
        self._bos = bos
        self._name = name
        exact = tokenize_shape is not None and (template is not None or config.mode != "chat")
        self.capabilities = Capabilities(exact_token_counts=exact, candidates=True,
                                         prefix_reuse=False, token_pieces=tokenize_shape
                                         == "llama",
                                         counted_by="server" if exact else "estimate")
        # A local tokenizer-only copy of the same model (a built-in one whose name matches
        # the server's), counting where the server cannot: see use_local_tokenizer.
        self.local: ModelBackend | None = None

    def use_local_tokenizer(self, local: ModelBackend) -> None:
        """Count, render and show pieces with `local` (the same model's tokenizer and
        template, loaded here) instead of estimating. The reply still comes from the server,
        and its `usage` still corrects the count."""
        self.local = local
        self.capabilities = Capabilities(exact_token_counts=True, candidates=True,
                                         prefix_reuse=False, token_pieces=True,
                                         counted_by="builtin")

    # -------------------------------------------------------------- connecting

    @classmethod
    def connect(cls, config: RemoteConfig) -> RemoteBackend:
        """Ask the server what it serves. Raises RemoteError (one line)."""
        client = open_client(config)
        try:
            listing = json_object(request(client, "GET", "/v1/models"))
            models = [m for m in (listing.get("data") or []) if isinstance(m, dict)]
            if not models:
                raise RemoteError(f"{config.root}: the server lists no models")
            entry = next((m for m in models if m.get("id") == config.model), None)
            if config.model and entry is None:
                known = ", ".join(str(m.get("id")) for m in models[:10])
                raise RemoteError(f"{config.root}: no model {config.model!r} (it serves: "
                                  f"{known})")
            entry = entry or models[0]
            model = str(entry.get("id"))
            props = server_props(client)
            n_ctx = config.n_ctx or context_length(entry, props) or config.default_ctx
            shape = probe_tokenize(client, model)
            template, bos = None, ""
            if isinstance(props.get("chat_template"), str) and props["chat_template"]:
                bos = str(props.get("bos_token") or "")
                try:
                    template = ChatTemplate(props["chat_template"], bos_token=bos,
                                            eos_token=str(props.get("eos_token") or ""))
                    template.render([ChatMessage("user", "Hi")])
                except TemplateError as exc:
                    log.warning("the server's chat template is unusable here: %s", exc)
                    template = None
            return cls(config, client, model, n_ctx, shape, template, bos, model)
        except BaseException:
            client.close()
            raise

    # ------------------------------------------------------------------ identity

    @property
    def mode(self) -> Mode:
        return self.config.mode

    @property
    def description(self) -> ModelDescription:
        return ModelDescription(name=self._name, source=f"{self.config.root} ({self.model})",
                                mode=self.mode, n_ctx=self.n_ctx)

    def side_backend(self) -> RemoteBackend:
        """Side tasks go to the same server: nothing of ours is cached here to disturb."""
        return self

    def close(self) -> None:
        self._client.close()
        if self.local is not None:
            self.local.close()
            self.local = None

    # ----------------------------------------------------------------- tokenizer

    def tokenize(self, text: str, *, add_bos: bool = False, special: bool = False) -> list[int]:
        if self.local is not None:
            return self.local.tokenize(text, add_bos=add_bos, special=special)
        if not text and not add_bos:
            return []
        if self._tokenize_shape == "llama":
            body = {"content": text, "add_special": add_bos, "parse_special": special}
            return [int(t) for t in json_object(request(self._client, "POST", "/tokenize",
                                                   json=body)).get("tokens", [])]
        if self._tokenize_shape == "vllm":
            body = {"model": self.model, "prompt": text, "add_special_tokens": add_bos}
            return [int(t) for t in json_object(request(self._client, "POST", "/tokenize",
                                                   json=body)).get("tokens", [])]
        if self._tokenize_shape == "lcp":  # llama-cpp-python's server: specials parsed
            return [int(t) for t in json_object(request(self._client, "POST", "/extras/tokenize",
                                                   json={"input": text})).get("tokens", [])]
        return list(range(estimate_tokens(text)))  # stand-ins: only the count means anything

    def count_tokens(self, text: str) -> int:
        if self.local is not None:
            return self.local.count_tokens(text)
        return len(self.tokenize(text)) if self._tokenize_shape else estimate_tokens(text)

    def prompt_tokens(self, text: str) -> list[int]:
        if self.local is not None:
            return self.local.prompt_tokens(text)
        return self.tokenize(text, special=self.mode == "chat")

    def token_spans(self, tokens: Sequence[int]) -> list[TokenSpan]:
        if self.local is not None:
            return self.local.token_spans(tokens)
        if self._tokenize_shape != "llama" or not tokens:
            return []
        body = {"tokens": list(tokens)}
        text = str(json_object(request(self._client, "POST", "/detokenize", json=body))
                   .get("content", ""))
        pieces = json_object(request(self._client, "POST", "/tokenize", json={
            "content": text, "parse_special": True, "with_pieces": True})).get("tokens", [])
        spans = []
        for item in pieces:
            if isinstance(item, dict):
                piece = item.get("piece", "")
                raw = bytes(piece) if isinstance(piece, list) else str(piece).encode()
                shown = raw.decode("utf-8", errors="replace")
                spans.append(TokenSpan(int(item.get("id", -1)), raw, shown,
                                       shown.startswith("<") and shown.endswith(">")))
        return spans

    def detokenize(self, tokens: Sequence[int], *, special: bool = False) -> str:
        if self.local is not None:
            return self.local.detokenize(tokens, special=special)
        if self._tokenize_shape == "lcp":
            return str(json_object(request(self._client, "POST", "/extras/detokenize",
                                      json={"tokens": list(tokens)})).get("text", ""))
        if self._tokenize_shape != "llama":
            return ""
        return str(json_object(request(self._client, "POST", "/detokenize",
                                  json={"tokens": list(tokens)})).get("content", ""))

    # ------------------------------------------------------------------- prompts

    def render(self, messages: Sequence[ChatMessage], system: str | None = None, *,
               add_generation_prompt: bool = True) -> str:
        """The prompt as the server will build it when its template is known; otherwise a
        ChatML rendering, used only to estimate counts."""
        if self.mode == "completion":
            head = f"{system}\n\n" if system else ""
            return head + "".join(m.content for m in messages)
        if self.local is not None and self.template is None:
            return self.local.render(messages, system,
                                     add_generation_prompt=add_generation_prompt)
        full = [ChatMessage("system", system)] if system else []
        full.extend(messages)
        template = self.template or self._estimate_template
        return template.render(full, add_generation_prompt=add_generation_prompt)

    # ---------------------------------------------------------------- generation

    def stream(self, plan: ContextPlan, sampling: SamplingParams, *,
               cancel: threading.Event | None = None,
               candidates: int = 0) -> Iterator[GenerationEvent]:
        body: dict[str, Any] = {
            "model": self.model, "stream": True, "stream_options": {"include_usage": True},
            "temperature": sampling.temperature, "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.top_k > 0:
            body["top_k"] = sampling.top_k  # llama-server and vLLM read it; others ignore it
        if sampling.seed >= 0:
            body["seed"] = sampling.seed
        if sampling.stop:
            body["stop"] = list(sampling.stop)[:4]
        if self.mode == "chat":
            messages = ([{"role": "system", "content": plan.system}] if plan.system else [])
            messages += [{"role": m.role, "content": m.content} for m in plan.messages]
            body["messages"] = messages
            path = "/v1/chat/completions"
            if candidates:
                body["logprobs"] = True
                body["top_logprobs"] = min(20, candidates)
        else:
            body["prompt"] = plan.text
            path = "/v1/completions"
            if candidates:
                body["logprobs"] = min(5, candidates)
        yield from self._stream(path, body, plan, cancel)

    def _stream(self, path: str, body: dict[str, Any], plan: ContextPlan,
                cancel: threading.Event | None) -> Iterator[GenerationEvent]:
        import httpx

        stats = GenerationStats(prompt_tokens=plan.prompt_tokens,
                                prompt_tokens_exact=plan.exact)
        stats.seed = body.get("seed")
        t_start = time.perf_counter()
        t_first = t_last = 0.0
        text = ""
        n_out = 0
        reason: StopReason = "max_tokens"
        finished = said_why = False
        try:
            with self._client.stream("POST", path, json=body) as response:
                if response.status_code >= 300:
                    response.read()
                    raise status_error(self.config.root, response)
                for data in _sse_data(response):
                    if cancel is not None and cancel.is_set():
                        reason = "cancelled"
                        break
                    if isinstance(data, PromptProgress):
                        yield data
                        continue
                    if data == "[DONE]":
                        finished = True
                        break
                    chunk = json.loads(data)
                    if isinstance(chunk.get("error"), dict):
                        raise RemoteError(f"{self.config.root}: the server failed: "
                                          f"{chunk['error'].get('message', '')}")
                    _apply_usage(stats, chunk.get("usage"))
                    for choice in chunk.get("choices") or []:
                        for piece, cands in _pieces(choice):
                            now = time.perf_counter()
                            if n_out == 0:
                                t_first = now
                                stats.time_to_first_token_s = now - t_start
                            n_out += 1
                            t_last = now
                            text += piece
                            yield TokenEvent(-1, piece, cands)
                        if choice.get("finish_reason"):
                            said_why = True
                            reason = "max_tokens" if choice["finish_reason"] == "length" \
                                else "eos"
                    if chunk.get("choices") == [] and chunk.get("usage"):
                        finished = True  # the usage-only chunk ends the stream
        except httpx.TimeoutException as exc:
            raise RemoteError(f"{self.config.root}: no answer within "
                              f"{self.config.read_timeout:g} s") from exc
        except httpx.TransportError as exc:
            if n_out or reason == "cancelled":
                raise RemoteError(f"{self.config.root}: the server cut the reply off "
                                  f"({exc.__class__.__name__})") from exc
            raise transport_error(self.config.root, exc) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise RemoteError(f"{self.config.root}: the server sent something that is not "
                              f"a streamed reply ({exc.__class__.__name__})") from exc
        if not finished and reason != "cancelled" and n_out == 0 and not text:
            raise RemoteError(f"{self.config.root}: the stream ended without a reply")
        if not finished and reason != "cancelled":
            raise RemoteError(f"{self.config.root}: the server cut the reply off")
        if reason != "cancelled" and not said_why:
            # A clean end that never says why: the server gave up on the reply (some end
            # one when another request arrives).
            raise RemoteError(f"{self.config.root}: the server ended the reply without "
                              "finishing it (another request may have interrupted it)")
        stats.completion_tokens = stats.completion_tokens or n_out
        stats.stop_reason = reason
        stats.evaluated_prompt_tokens = stats.prompt_tokens - stats.reused_prompt_tokens
        if n_out > 1 and t_last > t_first:
            stats.decode_s = t_last - t_first
            stats.decode_tok_s = (n_out - 1) / stats.decode_s
        stats.total_s = time.perf_counter() - t_start
        yield FinishEvent(text, stats)


# ----------------------------------------------------------------------- the stream


PROGRESS_COMMENT = ": mingjing-progress "  # another Mingjing reading the prompt


def _sse_data(response: Any) -> Iterator[str | PromptProgress]:
    """The `data:` payloads of a server-sent event stream, and the prompt progress another
    Mingjing sends as comments (other comments are skipped, as the format says)."""
    for line in response.iter_lines():
        if line.startswith("data:"):
            yield line[5:].strip()
        elif line.startswith(PROGRESS_COMMENT):
            try:
                p = json.loads(line[len(PROGRESS_COMMENT):])
                yield PromptProgress(int(p["done"]), int(p["total"]), float(p["seconds"]))
            except (ValueError, KeyError, TypeError):
                continue


def _apply_usage(stats: GenerationStats, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    if isinstance(usage.get("prompt_tokens"), int):
        stats.prompt_tokens = usage["prompt_tokens"]
        stats.prompt_tokens_exact = True  # the server's own count
    if isinstance(usage.get("completion_tokens"), int):
        stats.completion_tokens = usage["completion_tokens"]
    details = usage.get("prompt_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
        stats.reused_prompt_tokens = details["cached_tokens"]


def _pieces(choice: dict[str, Any]) -> Iterator[tuple[str, tuple[Candidate, ...]]]:
    """(text, candidates) per token of a streamed choice: one per logprobs entry when the
    server sends them, else the chunk's text as one piece."""
    delta = choice.get("delta") or {}
    text = delta.get("content") if isinstance(delta, dict) else None
    if text is None:
        text = choice.get("text")
    logprobs = choice.get("logprobs")
    entries = logprobs.get("content") if isinstance(logprobs, dict) else None
    if isinstance(entries, list) and entries:
        for entry in entries:
            cands = tuple(
                Candidate(-1, str(c.get("token", "")), _prob(c.get("logprob")),
                          _prob(c.get("logprob")))
                for c in entry.get("top_logprobs") or [] if isinstance(c, dict))
            yield str(entry.get("token", "")), cands
        return
    if text:
        yield str(text), ()


def _prob(logprob: Any) -> float:
    try:
        value = math.exp(float(logprob))
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return value if math.isfinite(value) else 0.0

