"""The API's refusals and its security, against `mingjing serve` on 127.0.0.1 with the
official openai client: each error status in OpenAI's shape with a one-line message, a full
queue answered 429 at once, a client that goes away cancels its turn, the token never in the
log, no other address without a flag and a token, CORS off by default."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.api_helpers import TOKEN, Served, mingjing, model_home, serve


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           default_model_path: Path) -> Iterator[Served]:
    """The small base model with room for one waiting request (the second is refused)."""
    home = model_home(tmp_path_factory.mktemp("api-errors"), default_model_path)
    served = serve(home, "--model", "gemma-3-270m", "--ctx", "1024", "--queue", "1")
    yield served
    served.stop()


def error_of(result: tuple[int, dict[str, str], Any]) -> dict[str, Any]:
    status, headers, body = result
    assert headers["content-type"].startswith("application/json"), (status, body)
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"] and "\n" not in error["message"]
    return error


def wait_for(predicate: Any, what: str, limit_s: float = 120) -> None:
    """Poll until `predicate()` holds; the limit only stops a broken test from hanging."""
    deadline = time.monotonic() + limit_s
    while not predicate():
        assert time.monotonic() < deadline, f"never saw: {what}"
        time.sleep(0.05)


def test_bad_requests_are_400_with_the_parameter_named(server: Served) -> None:
    client = server.client()
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="m", prompt="Hi", temperature=9)
    assert caught.value.body["param"] == "temperature"
    assert "between 0 and 5, not 9" in caught.value.message
    with pytest.raises(openai.BadRequestError, match="logprobs"):
        client.completions.create(model="m", prompt="Hi", logprobs=21)
    with pytest.raises(openai.BadRequestError) as caught:
        client.completions.create(model="m", prompt="Hi", n=2)
    assert caught.value.code == "unsupported_parameter"
    for body, param in (({"prompt": "Hi", "mingjing": {"knowledge_bases": ["none"]}},
                         "mingjing.knowledge_bases"),
                        ({"prompt": "Hi", "mingjing": {"top_k": 3, "kb": 1}}, "mingjing.kb"),
                        ({"prompt": ""}, "prompt"),
                        ({"prompt": "Hi", "stop": [1]}, "stop"),
                        ({"prompt": "Hi", "max_tokens": 0}, "max_tokens")):
        result = server.call("POST", "/v1/completions", body)
        assert result[0] == 400 and error_of(result)["param"] == param, result
    broken = server.call("POST", "/v1/completions", raw=b'{"prompt": "Hi",')
    assert broken[0] == 400 and error_of(broken)["code"] == "invalid_json"
    chat = server.call("POST", "/v1/chat/completions",
                       {"messages": [{"role": "user", "content": "Hi"}]})
    assert chat[0] == 400 and error_of(chat)["code"] == "wrong_endpoint"
    tokens = server.call("POST", "/detokenize", {"tokens": [10**9]})
    assert tokens[0] == 400 and "not in the vocabulary" in error_of(tokens)["message"]


def test_no_token_or_a_wrong_one_is_401(server: Served) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        server.client(token="wrong-secret-value-1").models.list()
    assert caught.value.code == "invalid_api_key"
    missing = server.call("GET", "/v1/models", headers={"Authorization": ""})
    assert missing[0] == 401 and missing[1]["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in error_of(missing)["message"]
    basic = server.call("GET", "/v1/models", headers={"Authorization": f"Basic {TOKEN}"})
    assert basic[0] == 401
    assert server.call("GET", "/health", headers={"Authorization": ""})[0] == 200  # public


def test_unknown_paths_404_wrong_methods_405_and_large_bodies_413(server: Served) -> None:
    result = server.call("GET", "/v1/nothing")
    assert result[0] == 404 and error_of(result)["type"] == "not_found_error"
    result = server.call("DELETE", "/v1/models")
    assert result[0] == 405 and error_of(result)["code"] == "method_not_allowed"
    big = b'{"prompt": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    result = server.call("POST", "/v1/completions", raw=big)
    assert result[0] == 413 and error_of(result)["code"] == "request_too_large"
    # A loopback server answers only requests addressed to this computer (DNS rebinding).
    result = server.call("GET", "/v1/models", headers={"Host": "evil.example:80"})
    assert result[0] == 400 and error_of(result)["code"] == "invalid_host"


def test_a_full_queue_is_429_at_once_and_a_waiting_client_can_leave(server: Served) -> None:
    client = server.client()
    holder = client.completions.create(model="m", prompt="Once upon a time", max_tokens=900,
                                       temperature=0, stream=True)
    first = next(iter(holder))  # it has the model now
    answers: list[Any] = []
    waiting = threading.Thread(target=lambda: answers.append(client.completions.create(
        model="m", prompt="The sky is", max_tokens=3, temperature=0)))
    waiting.start()
    wait_for(lambda: server.call("GET", "/props")[2]["n_waiting"] == 1, "a waiting request")
    with pytest.raises(openai.RateLimitError) as caught:
        client.completions.create(model="m", prompt="One more", max_tokens=3)
    assert caught.value.code == "model_busy" and caught.value.response.headers["retry-after"]
    holder.close()  # the client goes away: its turn ends at the next token
    waiting.join(300)
    assert answers and answers[0].choices[0].text  # the waiting one was served, not lost
    wait_for(lambda: f"api turn {first.id} (completion): " in server.log_text, "the log line")
    line = re.search(rf"api turn {first.id} \(completion\): (\d+) tokens, (\w+)",
                     server.log_text)
    assert line and line.group(2) == "cancelled" and int(line.group(1)) < 900


def test_a_client_that_leaves_the_line_gives_its_place_back(server: Served) -> None:
    client = server.client()
    holder = client.completions.create(model="m", prompt="Once upon a time", max_tokens=900,
                                       temperature=0, stream=True)
    next(iter(holder))
    # A raw request that gives up while it waits for the model.
    import socket

    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    body = b'{"prompt": "Hello", "max_tokens": 3}'
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                     b"Content-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        wait_for(lambda: server.call("GET", "/props")[2]["n_waiting"] == 1, "it waits")
    wait_for(lambda: server.call("GET", "/props")[2]["n_waiting"] == 0, "it left the line")
    assert "cancelled while waiting for the model" in server.log_text
    holder.close()
    after = client.completions.create(model="m", prompt="The sky is", max_tokens=3)
    assert after.choices[0].text is not None


def test_the_token_never_reaches_the_log_or_the_screen(server: Served) -> None:
    client = server.client()
    client.completions.create(model="m", prompt="Hi", max_tokens=2)
    server.call("GET", f"/v1/models?api_key={TOKEN}")  # even when put in the address
    server.call("GET", "/v1/models", token="wrong-secret-value-2")
    assert "/v1/models" in server.log_text and "/v1/completions" in server.log_text
    assert TOKEN not in server.log_text and "wrong-secret" not in server.log_text
    assert TOKEN not in "\n".join(server.banner)  # without --show-token


def test_other_addresses_need_a_flag_and_a_token(tmp_path: Path) -> None:
    home = model_home(tmp_path)
    for args, said in ((["--host", "0.0.0.0"], "--allow-remote"),
                       (["--host", "0.0.0.0", "--allow-remote", "--no-token"],
                        "without a token"),
                       (["--cors-origin", "localhost:3000"], "http://host:port")):
        result = mingjing(home, "serve", "--port", "0", *args)
        assert result.returncode == 2, result.stderr
        assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1
