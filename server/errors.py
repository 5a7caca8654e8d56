"""OpenAI-style errors: `{"error": {"message", "type", "param", "code"}}` with one-line
messages, and the mapping from the app's own exceptions to HTTP statuses."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.responses import JSONResponse

log = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "unavailable_error",
}


class ApiError(Exception):
    """An answer other than success, said in one line."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = " ".join(message.split())  # one line, whatever it quotes
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": _TYPES.get(self.status, "error"),
                          "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)

    def sse(self) -> bytes:
        """The error as a server-sent event, for a stream whose headers are already out."""
        return b"data: " + json.dumps(self.body(), ensure_ascii=False).encode() + b"\n\n"


def bad_request(message: str, param: str | None = None,
                code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, code=code, param=param)


def from_exception(exc: BaseException) -> ApiError:
    """The answer for an exception raised while planning or running a turn."""
    from app.model_host import ModelBusy, NoModelLoaded, WaitCancelled
    from app.rag import RetrievalError
    from engine.errors import ContextOverflowError, EngineError
    from kb.db import DatabaseError
    from kb.embedders import EmbedderError

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ModelBusy):
        return ApiError(429, str(exc), code="model_busy", headers={"Retry-After": "1"})
    if isinstance(exc, NoModelLoaded):
        return ApiError(503, "no model is loaded", code="no_model")
    if isinstance(exc, WaitCancelled):
        return ApiError(503, "the request was cancelled while it waited for the model",
                        code="cancelled")
    if isinstance(exc, ContextOverflowError):
        return ApiError(400, str(exc), code="context_length_exceeded", param="messages")
    if isinstance(exc, RetrievalError):
        return ApiError(400, str(exc), code="knowledge_base_not_found",
                        param="mingjing.knowledge_bases")
    if isinstance(exc, DatabaseError | EmbedderError):
        return ApiError(500, f"the knowledge base failed: {exc}", code="knowledge_base_error")
    if isinstance(exc, EngineError):
        return ApiError(500, str(exc), code="engine_error")
    log.error("unexpected error in an API request", exc_info=exc)
    return ApiError(500, f"internal error: {exc.__class__.__name__}", code="internal_error")
