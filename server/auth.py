"""The bearer token, compared in constant time, and the Host header a loopback server
accepts (a page that rebinds its own name to 127.0.0.1 is not this computer's client)."""

from __future__ import annotations

import hmac
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from server.config import LOCAL_HOST_NAMES
from server.errors import ApiError

PUBLIC_PATHS = frozenset({"/health", "/v1/health"})  # llama-server's health check is public


def token_matches(header: bytes | None, token: str) -> bool:
    """Whether an Authorization header carries `token` as a bearer token; the comparison
    takes the same time wherever the first difference is."""
    if not header:
        return False
    scheme, _, given = header.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(given.strip(), token.encode("utf-8"))


def _host_name(scope: Scope) -> str:
    for key, value in scope.get("headers", ()):
        if key == b"host":
            text = value.decode("latin-1").strip().lower()
            if text.startswith("["):  # [::1]:8413
                return text[: text.find("]") + 1]
            return text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    return ""


class Guard:
    """ASGI middleware: the Host check (loopback servers) and the bearer token (unless no
    token is configured), for every path but the health check."""

    def __init__(self, app: ASGIApp, *, token: str | None, loopback: bool,
                 host: str = "") -> None:
        self.app = app
        self.token = token
        self.loopback = loopback
        self.hosts = frozenset((*LOCAL_HOST_NAMES, host.lower()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = self._refusal(scope)
        if error is not None:
            await error.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> ApiError | None:
        if self.loopback and _host_name(scope) not in self.hosts:
            return ApiError(400, "this server answers requests addressed to 127.0.0.1 or "
                                 "localhost only", code="invalid_host")
        if self.token is None or scope["path"] in PUBLIC_PATHS:
            return None
        headers: dict[bytes, Any] = dict(scope.get("headers", ()))
        if token_matches(headers.get(b"authorization"), self.token):
            return None
        missing = not (headers.get(b"authorization") or b"").strip()
        message = ("missing API key: send the header 'Authorization: Bearer TOKEN' (the token "
                   "is in Mingjing's settings)" if missing else "incorrect API key")
        return ApiError(401, message, code="invalid_api_key",
                        headers={"WWW-Authenticate": "Bearer"})
