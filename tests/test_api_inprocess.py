"""The API server as the window runs it (in this process, on its own thread, over a
ModelHost): 503 without a model, CORS only for listed origins, a stop in the middle of a
stream, and the token comparison."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from app.model_host import LoadSpec, ModelHost
from engine.types import LoadParams
from models.refs import ModelRef
from server.auth import token_matches
from server.config import ServeConfig
from server.runner import ApiServer
from server.state import ApiState
from tests.api_helpers import TOKEN, Served


def start(host: ModelHost, cors: tuple[str, ...] = ()) -> tuple[ApiServer, Served]:
    server = ApiServer(ApiState(host), ServeConfig(port=0, token=TOKEN, cors_origins=cors))
    server.start()
    return server, Served(None, server.url, TOKEN, Path("."), [])


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[tuple[ApiServer, Served]]:
    server, served = start(ModelHost(tmp_path), cors=("http://localhost:3000",))
    yield server, served
    server.stop()
    assert server.join(30)


def test_no_model_loaded_is_503(empty: tuple[ApiServer, Served]) -> None:
    _server, served = empty
    with pytest.raises(openai.InternalServerError) as caught:
        served.client().chat.completions.create(model="m", messages=[
            {"role": "user", "content": "Hi"}])
    assert caught.value.status_code == 503 and caught.value.code == "no_model"
    for path in ("/health", "/v1/models", "/props"):
        status, _headers, body = served.call("GET", path)
        assert status == 503 and body["error"]["message"] == "no model is loaded"


def test_cors_answers_listed_origins_only(empty: tuple[ApiServer, Served],
                                          tmp_path: Path) -> None:
    _server, served = empty
    preflight = {"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"}
    status, headers, _ = served.call("OPTIONS", "/v1/chat/completions", headers=preflight)
    assert status == 200
    assert headers["access-control-allow-origin"] == "http://localhost:3000"
    other = {**preflight, "Origin": "http://evil.example"}
    status, headers, _ = served.call("OPTIONS", "/v1/chat/completions", headers=other)
    assert status == 400 and "access-control-allow-origin" not in headers
    # Without origins (the default) no page in a browser is answered.
    server, plain = start(ModelHost(tmp_path / "other"))
    try:
        status, headers, _ = plain.call("GET", "/health",
                                        headers={"Origin": "http://localhost:3000"})
        assert "access-control-allow-origin" not in headers
        status, headers, _ = plain.call("OPTIONS", "/v1/models", headers=preflight)
        assert status == 405 and "access-control-allow-origin" not in headers
    finally:
        server.stop()
        server.join(30)


def test_stopping_mid_stream_ends_it_with_an_error(tmp_path: Path,
                                                   default_model_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    os.link(default_model_path, models / default_model_path.name)
    host = ModelHost(models)
    host.load(LoadSpec(ModelRef.parse("gemma-3-270m"), LoadParams(n_ctx=1024)))
    server, served = start(host)
    try:
        stream = served.client().completions.create(model="m", prompt="Once upon a time",
                                                    max_tokens=900, stream=True)
        chunks = iter(stream)
        next(chunks)
        server.stop()  # returns at once; the turn stops at its next token
        with pytest.raises(openai.APIError, match="shutting down"):
            for _chunk in chunks:
                pass
        assert server.join(30)
        with host.use() as backend:  # the model is free again, for the window
            assert backend.mode == "completion"
    finally:
        server.stop()
        host.close()


def test_the_token_comparison() -> None:
    assert token_matches(b"Bearer " + TOKEN.encode(), TOKEN)
    assert token_matches(b"bearer  " + TOKEN.encode() + b" ", TOKEN)
    for header in (None, b"", b"Bearer", b"Bearer " + TOKEN.encode()[:-1],
                   b"Basic " + TOKEN.encode(), TOKEN.encode()):
        assert not token_matches(header, TOKEN)
