"""Talking to an OpenAI-compatible server: its address and key (RemoteConfig), a client
that sends one request at a time to each server, and every failure as one line
(RemoteError). The API key goes only to the server it belongs to: redirects are not
followed, and it is never logged (httpx logs requests at INFO without headers; URLs with
credentials are refused)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from engine.errors import EngineError
from engine.types import Mode

DEFAULT_CONTEXT = 4096
CONNECT_TIMEOUT_S = 5.0

# One request at a time to each server from this process (the window's reply, the concept
# panel's counting, the model list): some servers (llama-cpp-python's) end the reply they
# stream when another request arrives. A request waits for the one before it.
_SERVER_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _server_lock(root: str) -> threading.RLock:
    with _LOCKS_GUARD:
        return _SERVER_LOCKS.setdefault(root, threading.RLock())


class _OneAtATime:
    """An httpx.Client whose requests to its server are made one at a time (a streamed
    reply holds the server's lock until it is read or closed)."""

    def __init__(self, client: Any, root: str) -> None:
        self._client = client
        self._lock = _server_lock(root)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.request(*args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.get(*args, **kwargs)

    def post(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return self._client.post(*args, **kwargs)

    @contextmanager
    def stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        with self._lock, self._client.stream(*args, **kwargs) as response:
            yield response

    @property
    def base_url(self) -> Any:
        return self._client.base_url

    @property
    def timeout(self) -> Any:
        return self._client.timeout

    def close(self) -> None:
        self._client.close()


READ_TIMEOUT_S = 120.0  # between two pieces of a streamed reply, or for a whole answer


class RemoteError(EngineError):
    """The server could not be used: unreachable, refused the key, failed, cut the stream."""


@dataclass(frozen=True)
class RemoteConfig:
    url: str  # the server's base URL, with or without /v1
    model: str | None = None  # None: the first model the server lists
    api_key: str | None = None
    n_ctx: int | None = None  # None: what the server says, else default_ctx
    default_ctx: int = DEFAULT_CONTEXT  # the user's context size, for servers that don't say
    mode: Mode = "chat"  # "completion" for a base model served raw
    read_timeout: float = READ_TIMEOUT_S

    def __repr__(self) -> str:  # the key never appears in a repr, a log line or a traceback
        return (f"RemoteConfig(url={self.url!r}, model={self.model!r}, "
                f"api_key={'***' if self.api_key else None})")

    @property
    def root(self) -> str:
        """The server's root URL (without /v1)."""
        url = self.url.strip().rstrip("/")
        return url[:-3] if url.endswith("/v1") else url


def open_client(config: RemoteConfig) -> _OneAtATime:
    """A client for the server `config` names, after checking its address (one line)."""
    import httpx

    parts = urlsplit(config.root)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteError(f"{config.url}: not an http(s) server address")
    if parts.username or parts.password:
        raise RemoteError("put the API key in its own field, not in the server address")
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    return _OneAtATime(httpx.Client(
        base_url=config.root, headers=headers, follow_redirects=False,
        timeout=httpx.Timeout(config.read_timeout, connect=CONNECT_TIMEOUT_S)), config.root)



def _describe_http_error(response: Any) -> str:
    try:
        body = response.json()
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        message = message or (body.get("detail") if isinstance(body, dict) else None)
    except ValueError:
        message = None
    message = message or (response.text or "").strip()[:200] or response.reason_phrase
    return str(message).splitlines()[0] if message else ""



def request(client: Any, method: str, path: str, **kwargs: Any) -> Any:
    import httpx

    try:
        response = client.request(method, path, **kwargs)
    except httpx.TimeoutException as exc:
        raise RemoteError(f"{client.base_url}: no answer within "
                          f"{client.timeout.read:g} s") from exc
    except httpx.TransportError as exc:
        raise transport_error(str(client.base_url), exc) from exc
    if response.status_code >= 300:
        raise status_error(str(client.base_url).rstrip("/"), response)
    return response


def json_object(response: Any) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError as exc:
        raise RemoteError(f"{response.request.url}: the server did not answer with JSON") \
            from exc
    if not isinstance(data, dict):
        raise RemoteError(f"{response.request.url}: unexpected answer")
    return data


def transport_error(root: str, exc: Exception) -> RemoteError:
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return RemoteError(f"{root}: cannot connect (is the server running?)")
    return RemoteError(f"{root}: connection failed ({exc.__class__.__name__})")


def status_error(root: str, response: Any) -> RemoteError:
    code = response.status_code
    if 300 <= code < 400:
        target = urlsplit(response.headers.get("location", "")).netloc or "elsewhere"
        return RemoteError(f"{root}: the server redirects to {target} (HTTP {code}); use "
                           "the final address (the API key is not sent on)")
    detail = _describe_http_error(response)
    if code == 401 or code == 403:
        return RemoteError(f"{root}: the server refused the API key (HTTP {code})")
    if code == 404:
        return RemoteError(f"{root}: not found (HTTP 404{': ' + detail if detail else ''})")
    if code == 429:
        return RemoteError(f"{root}: the server is busy (HTTP 429); try again shortly")
    return RemoteError(f"{root}: the server failed (HTTP {code}{': ' + detail if detail else ''})")


def server_props(client: Any) -> dict[str, Any]:
    """llama-server's /props (context size, chat template), {} where there is none."""
    try:
        response = client.get("/props")
        return response.json() if response.status_code == 200 else {}
    except Exception:  # a server without /props: nothing to learn there
        return {}


def context_length(entry: dict[str, Any], props: dict[str, Any]) -> int | None:
    settings = props.get("default_generation_settings")
    candidates = [
        settings.get("n_ctx") if isinstance(settings, dict) else None,
        props.get("n_ctx"),
        entry.get("max_model_len"),  # vLLM
        entry.get("context_length"),  # Mingjing, LM Studio
        (entry.get("meta") or {}).get("n_ctx_train") if isinstance(entry.get("meta"), dict)
        else None,  # llama-server's trained length
    ]
    for value in candidates:
        if isinstance(value, int) and value > 0:
            return value
    return None


def probe_tokenize(client: Any, model: str) -> str | None:
    for shape, path, body in (("llama", "/tokenize", {"content": "hi"}),
                              ("vllm", "/tokenize", {"model": model, "prompt": "hi"}),
                              ("lcp", "/extras/tokenize", {"input": "hi"})):
        try:
            response = client.post(path, json=body)
            if response.status_code == 200 and isinstance(response.json().get("tokens"), list):
                return shape
        except Exception:  # no tokenizer endpoint there: counts will be estimated
            continue
    return None



def list_models(config: RemoteConfig) -> list[str]:
    """The models a server offers (GET /v1/models). Raises RemoteError (one line)."""
    client = open_client(config)
    try:
        listing = json_object(request(client, "GET", "/v1/models"))
    finally:
        client.close()
    return [str(m.get("id")) for m in listing.get("data") or [] if isinstance(m, dict)]

