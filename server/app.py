"""The ASGI application: routes, the guard (Host check and bearer token), CORS when origins
are listed, OpenAI-style errors for everything (404 and 405 included), and an access log
that names method, path (never the query), status and time; never a header."""

from __future__ import annotations

import logging
import time

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.auth import Guard
from server.config import ServeConfig
from server.errors import ApiError, from_exception
from server.routes import routes
from server.state import ApiState

access_log = logging.getLogger("server.access")


def create_app(state: ApiState, config: ServeConfig) -> Starlette:
    middleware = [Middleware(AccessLog)]
    if config.cors_origins:
        middleware.append(Middleware(
            CORSMiddleware, allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"],
            max_age=600))
    middleware.append(Middleware(Guard, token=config.token, loopback=config.loopback,
                                 host=config.host))
    return Starlette(
        routes=routes(state, config.max_body_bytes),
        middleware=middleware,
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error = ApiError(404, f"no such endpoint: {request.method} {request.url.path}",
                         code="not_found")
    elif exc.status_code == 405:
        error = ApiError(405, f"{request.method} is not allowed on {request.url.path}",
                         code="method_not_allowed")
    else:
        error = ApiError(exc.status_code, str(exc.detail))
    return error.response()


async def _unexpected(request: Request, exc: Exception) -> Response:
    return from_exception(exc).response()  # logs the traceback


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            client = scope.get("client") or ("?", 0)
            access_log.info('%s:%s "%s %s" %d %.1f ms', client[0], client[1],
                            scope["method"], scope["path"], status,
                            (time.perf_counter() - start) * 1000)
