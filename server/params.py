"""Request bodies into turns: the OpenAI fields Mingjing honours, checked with the same
ranges as every other edge (engine/limits.py), and a clear 400 for what it does not do.

Sampling values a request leaves out come from the user's settings (the window's Settings
dialog, or settings.json for `mingjing serve`). llama-server's own sampling fields `top_k`,
`min_p` and `repeat_penalty` are accepted too. The one extension is the `mingjing` object:

    "mingjing": {"knowledge_bases": ["name", ...], "top_k": 5, "context_tokens": 1536}

answers from those knowledge bases (top_k passages retrieved, as many as fit context_tokens
go into the prompt), and the response's own `mingjing` object lists the sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from app.chat_service import TurnRequest, normalize_turns
from app.rag import DEFAULT_CONTEXT_TOKENS, DEFAULT_TOP_K
from engine.limits import Limit, check
from engine.types import ChatMessage, Role, SamplingParams
from server.errors import ApiError, bad_request

Endpoint = Literal["chat", "completion"]
MAX_TOP_LOGPROBS = 20
MAX_STOP_STRINGS = 16
MAX_KNOWLEDGE_BASES = 16
_CONTEXT_TOKENS = Limit(0, 1_048_576, True, "mingjing.context_tokens")
_ROLES: dict[str, Role] = {"system": "system", "developer": "system", "user": "user",
                           "assistant": "assistant"}
# Fields that change what is generated and that Mingjing does not do: refused, not ignored.
_REFUSED_UNLESS: dict[str, tuple[object, ...]] = {
    "tools": (None, []), "functions": (None, []), "tool_choice": (None, "none", "auto"),
    "logit_bias": (None, {}), "presence_penalty": (None, 0, 0.0),
    "frequency_penalty": (None, 0, 0.0), "n": (None, 1), "best_of": (None, 1),
    "echo": (None, False), "suffix": (None, ""),
}


@dataclass
class Generation:
    """What a /v1/chat/completions or /v1/completions request asks for."""

    endpoint: Endpoint
    messages: list[ChatMessage]
    sampling: SamplingParams
    system: str | None = None
    stream: bool = False
    include_usage: bool = False  # stream_options.include_usage: a last chunk with usage
    logprobs: bool = False
    top_logprobs: int = 0
    kbs: list[str] = field(default_factory=list)
    top_k: int = DEFAULT_TOP_K
    context_tokens: int = DEFAULT_CONTEXT_TOKENS

    def turn_request(self) -> TurnRequest:
        # One candidate at least when logprobs are asked: the engine then gives each token
        # its own probability too.
        candidates = max(self.top_logprobs, 1) if self.logprobs else 0
        return TurnRequest(None, list(self.messages), self.sampling, system=self.system,
                           kbs=list(self.kbs), top_k=self.top_k,
                           context_tokens=self.context_tokens, candidates=candidates,
                           persist=False)


def parse_chat(body: dict[str, Any], defaults: SamplingParams) -> Generation:
    _refuse_unsupported(body)
    system, messages = _messages(body.get("messages"))
    logprobs = _bool(body, "logprobs")
    top = _int_in(body, "top_logprobs", 0, MAX_TOP_LOGPROBS)
    if top and not logprobs:
        raise bad_request("top_logprobs needs logprobs: true", "top_logprobs")
    response_format = body.get("response_format")
    if response_format not in (None, {"type": "text"}):
        raise bad_request("response_format other than text is not supported",
                          "response_format", "unsupported_parameter")
    gen = Generation("chat", messages, _sampling(body, defaults), system=system,
                     logprobs=logprobs, top_logprobs=top)
    return _common(body, gen)


def parse_completion(body: dict[str, Any], defaults: SamplingParams) -> Generation:
    _refuse_unsupported(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise bad_request("prompt must be a text (one prompt per request; token arrays are "
                          "not supported)", "prompt")
    if not prompt:
        raise bad_request("the prompt is empty", "prompt")
    logprobs = body.get("logprobs")
    top = 0 if logprobs is None else _int_in(body, "logprobs", 0, MAX_TOP_LOGPROBS)
    gen = Generation("completion", [ChatMessage("user", prompt)],
                     _sampling(body, defaults), logprobs=logprobs is not None,
                     top_logprobs=top)
    return _common(body, gen)


def _common(body: dict[str, Any], gen: Generation) -> Generation:
    gen.stream = _bool(body, "stream")
    options = body.get("stream_options")
    if options is not None:
        if not isinstance(options, dict):
            raise bad_request("stream_options must be an object", "stream_options")
        gen.include_usage = _bool(options, "include_usage", "stream_options.include_usage")
    extension = body.get("mingjing")
    if extension is not None:
        _extension(extension, gen)
    return gen


def _extension(data: object, gen: Generation) -> None:
    if not isinstance(data, dict):
        raise bad_request("mingjing must be an object", "mingjing")
    unknown = sorted(set(data) - {"knowledge_bases", "top_k", "context_tokens"})
    if unknown:
        raise bad_request(f"mingjing.{unknown[0]} is not a known field (knowledge_bases, "
                          "top_k, context_tokens)", f"mingjing.{unknown[0]}")
    kbs = data.get("knowledge_bases", [])
    if isinstance(kbs, str):
        kbs = [kbs]
    if not isinstance(kbs, list) or not all(isinstance(k, str) and k.strip() for k in kbs) \
            or len(kbs) > MAX_KNOWLEDGE_BASES:
        raise bad_request("mingjing.knowledge_bases must be a list of knowledge base names",
                          "mingjing.knowledge_bases")
    gen.kbs = list(dict.fromkeys(kbs))
    if data.get("top_k") is not None:
        gen.top_k = int(_checked("k", data["top_k"], "mingjing.top_k"))
    if data.get("context_tokens") is not None:
        try:
            gen.context_tokens = int(_CONTEXT_TOKENS.check(data["context_tokens"]))
        except ValueError as exc:
            raise bad_request(str(exc), "mingjing.context_tokens") from None


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for key, allowed in _REFUSED_UNLESS.items():
        value = body.get(key)
        if not any(value == a and type(value) is type(a) for a in allowed):
            raise ApiError(400, f"{key} is not supported by Mingjing's API",
                           code="unsupported_parameter", param=key)


def _messages(raw: object) -> tuple[str | None, list[ChatMessage]]:
    if not isinstance(raw, list) or not raw:
        raise bad_request("messages must be a non-empty list", "messages")
    systems: list[str] = []
    turns: list[ChatMessage] = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise bad_request(f"messages[{i}] must be an object", f"messages[{i}]")
        role = _ROLES.get(str(item.get("role")))
        if role is None:
            raise bad_request(f"messages[{i}].role {item.get('role')!r} is not supported "
                              "(system, developer, user, assistant)", f"messages[{i}].role")
        text = _content(item.get("content"), i)
        if role == "system":
            if text.strip():
                systems.append(text)
        else:
            turns.append(ChatMessage(role, text))
    turns = normalize_turns(turns)
    if not turns or turns[-1].role != "user":
        raise bad_request("the last message must be the user's, with some text", "messages")
    return ("\n\n".join(systems) or None), turns


def _content(content: object, i: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" \
                    or not isinstance(part.get("text"), str):
                raise bad_request(f"messages[{i}].content: only text parts are supported",
                                  f"messages[{i}].content", "unsupported_content")
            parts.append(part["text"])
        return "".join(parts)
    raise bad_request(f"messages[{i}].content must be a text", f"messages[{i}].content")


def _sampling(body: dict[str, Any], defaults: SamplingParams) -> SamplingParams:
    sampling = SamplingParams.from_dict(defaults.to_dict())
    for key in ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "seed"):
        if body.get(key) is not None:
            setattr(sampling, key, _checked(key, body[key], key))
    for key in ("max_tokens", "max_completion_tokens"):
        if body.get(key) is not None:
            sampling.max_tokens = int(_checked("max_tokens", body[key], key))
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) \
                or len(stops) > MAX_STOP_STRINGS:
            raise bad_request(f"stop must be a text or a list of at most {MAX_STOP_STRINGS} "
                              "texts", "stop")
        sampling.stop = tuple(s for s in stops if s)
    return sampling


def _checked(limit: str, value: object, param: str) -> int | float:
    try:
        return check(limit, value)
    except ValueError as exc:
        raise bad_request(f"{param}: {exc}", param) from None


def _bool(body: dict[str, Any], key: str, param: str | None = None) -> bool:
    value = body.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_request(f"{param or key} must be true or false", param or key)
    return value


def _int_in(body: dict[str, Any], key: str, low: int, high: int) -> int:
    value = body.get(key)
    if value is None:
        return 0
    try:
        return int(Limit(low, high, True, key).check(value))
    except ValueError as exc:
        raise bad_request(str(exc), key) from None
