"""A remote OpenAI-compatible server as a backend (issue 13), against llama-cpp-python's own
server (a real third-party peer started on 127.0.0.1 with the built-in chat model), and
against small misbehaving servers: refused connections, wrong keys, silence, garbage, a
stream cut in the middle, a redirect to another host."""

from __future__ import annotations

import http.server
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from app.chat_service import ChatService, TurnRequest, collect
from app.conversations import ConversationStore
from engine.remote import RemoteBackend, RemoteConfig, RemoteError, estimate_tokens
from engine.types import ChatMessage, FinishEvent, LoadParams, SamplingParams, TokenEvent
from models.open import open_backend
from models.refs import ModelRef

KEY = "s3cret-key-for-this-server-only"
GREEDY = SamplingParams(temperature=0.0, max_tokens=24, seed=1, repeat_penalty=1.0)


def test_served_names_of_built_in_models() -> None:
    from models.builtin import GEMMA, QWEN, builtin_for_served_name

    for name in ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder:0.5b",
                 "Qwen/Qwen2.5-Coder-0.5B-Instruct", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                 "/models/Qwen2.5-Coder-0.5B-Instruct-Q8_0.gguf", "qwen2.5-coder:0.5b-instruct",
                 "qwen2.5-coder-0.5b-instruct-AWQ"):
        assert builtin_for_served_name(name) is QWEN, name
    assert builtin_for_served_name("gemma-3-270m:latest") is GEMMA
    for name in ("qwen2.5-coder:7b", "qwen2.5-coder-0.5b", "llama3", "", "  ", "q4_k_m",
                 "gemma-3-270m-it", "qwen2.5:0.5b"):
        assert builtin_for_served_name(name) is None, name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_llama_cpp_server(model: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host",
         "127.0.0.1", "--port", str(port), "--n_ctx", "2048", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("llama_cpp.server exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1,
                         headers={"Authorization": f"Bearer {KEY}"}).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError("llama_cpp.server did not start")


@pytest.fixture(scope="module")
def peer(chat_model_path: Path) -> Iterator[str]:
    """llama-cpp-python's server with the built-in chat model, requiring an API key."""
    port = free_port()
    process = start_llama_cpp_server(chat_model_path, port, "--api_key", KEY)
    yield f"http://127.0.0.1:{port}/v1"
    process.terminate()
    process.wait(30)


@pytest.fixture
def remote(peer: str) -> Iterator[RemoteBackend]:
    backend = RemoteBackend.connect(RemoteConfig(peer, api_key=KEY))
    yield backend
    backend.close()


def test_chat_through_the_chat_service(remote: RemoteBackend, qwen_engine: object) -> None:
    assert remote.mode == "chat" and "qwen" in remote.model.lower()
    service = ChatService(remote)
    request = TurnRequest(None, [ChatMessage("user", "What is the capital of France?")],
                          GREEDY, persist=False, inspect=True)
    planned = service.plan_turn(request)
    # No template from this server: the prompt and its count are estimates, and say so.
    assert not planned.plan.exact and planned.context is not None
    assert not planned.context.exact and planned.context.to_dict()["exact"] is False
    finish = collect(service.run(request))
    assert "Paris" in finish.text
    assert finish.stats.completion_tokens > 0 and finish.stats.stop_reason == "eos"
    # The server's own tokenizer counts plain text exactly like the local model's.
    text = "我今天吃了狮子头和蔬菜。Tokens, not characters."
    assert remote.count_tokens(text) == qwen_engine.count_tokens(text)  # type: ignore[attr-defined]


def test_candidates_come_from_top_logprobs(remote: RemoteBackend) -> None:
    plan = remote.plan([ChatMessage("user", "Say: hello")], reserve=64)
    steps = [e for e in remote.stream(plan, GREEDY, candidates=5) if isinstance(e, TokenEvent)]
    assert steps and all(1 <= len(s.candidates) <= 5 for s in steps)
    for step in steps:
        probs = [c.probability for c in step.candidates]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
        assert step.candidates[0].piece == step.text  # greedy: the top candidate was chosen


def test_a_server_without_a_template_serving_a_built_in_model_is_counted_here(
        peer: str, qwen_engine: object, models_dir: Path) -> None:
    """This server names its model by its file (…/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf)
    and neither tells its template nor tokenizes in llama-server's shape: the built-in copy
    of the same model counts, exactly, and the server's usage agrees."""
    from engine.runtime import Engine

    assert isinstance(qwen_engine, Engine)
    backend = open_backend(ModelRef.parse(f"remote:{peer}#"), models_dir, api_key=KEY)
    try:
        assert backend.capabilities.exact_token_counts
        assert backend.capabilities.counted_by == "builtin"
        messages = [ChatMessage("user", "用一句话介绍长城。")]
        plan = backend.plan(messages, system="简短回答。", reserve=32)
        local = qwen_engine.plan(messages, system="简短回答。", reserve=32)
        assert plan.exact and plan.tokens == local.tokens and plan.text == local.text
        assert backend.token_spans(local.tokens[:4]) == qwen_engine.token_spans(local.tokens[:4])
        events = list(backend.stream(plan, SamplingParams(max_tokens=4, temperature=0)))
        finish = events[-1]
        assert isinstance(finish, FinishEvent) and finish.text
    finally:
        backend.close()


def test_a_model_reference_opens_the_server(peer: str, tmp_path: Path) -> None:
    ref = ModelRef.parse(f"remote:{peer}#")
    assert ModelRef.parse(str(ref)) == ref and ref.kind == "remote"
    backend = open_backend(ref, tmp_path, api_key=KEY)
    try:
        assert backend.description.source.startswith(peer.removesuffix("/v1"))
        assert backend.n_ctx == 4096  # this server does not say: the default
    finally:
        backend.close()
    # Where the server does not say, the context size in Settings is used.
    backend = open_backend(ref, tmp_path, LoadParams(n_ctx=1536), api_key=KEY)
    try:
        assert backend.n_ctx == 1536
    finally:
        backend.close()


def test_a_wrong_key_is_one_line_and_the_key_is_never_logged(
        peer: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(RemoteError) as error:
        RemoteBackend.connect(RemoteConfig(peer, api_key="wrong-" + KEY))
    assert "refused the API key (HTTP 401)" in str(error.value)
    assert "\n" not in str(error.value)
    backend = RemoteBackend.connect(RemoteConfig(peer, api_key=KEY))
    with caplog.at_level(logging.DEBUG):
        plan = backend.plan([ChatMessage("user", "Hi")], reserve=16)
        list(backend.stream(plan, SamplingParams(max_tokens=2, temperature=0)))
    backend.close()
    assert KEY not in caplog.text and KEY not in repr(backend.config)


def test_the_server_killed_mid_stream_keeps_the_partial_reply(
        chat_model_path: Path, tmp_path: Path) -> None:
    port = free_port()
    process = start_llama_cpp_server(chat_model_path, port)
    backend = RemoteBackend.connect(RemoteConfig(f"http://127.0.0.1:{port}"))
    store = ConversationStore(tmp_path / "c.db")
    service = ChatService(backend, store=store)
    request = TurnRequest(None, [ChatMessage("user", "Count from 1 to 200, one per line.")],
                          SamplingParams(temperature=0, max_tokens=400))
    pieces = 0
    with pytest.raises(RemoteError, match="cut the reply off"):
        for event in service.run(request):
            if isinstance(event, TokenEvent):
                pieces += 1
                if pieces == 5:
                    process.kill()
    process.wait(30)
    backend.close()
    conversation = store.list_conversations()[0]
    reply = store.messages(conversation.id)[-1]
    assert reply.role == "assistant" and reply.status == "error" and reply.content
    assert "cut the reply off" in (reply.error or "")
    store.close()


def test_nobody_listening_is_one_line() -> None:
    with pytest.raises(RemoteError, match="cannot connect"):
        RemoteBackend.connect(RemoteConfig(f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(RemoteError, match="not an http"):
        RemoteBackend.connect(RemoteConfig("ftp://example.com"))
    with pytest.raises(RemoteError, match="own field"):
        RemoteBackend.connect(RemoteConfig("http://user:pw@127.0.0.1:9"))


class _Scripted(http.server.BaseHTTPRequestHandler):
    """A server that lists one model and then misbehaves as `mode` says."""

    mode = "garbage"
    seen_auth: ClassVar[list[str | None]] = []

    def log_message(self, *_args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.seen_auth.append(self.headers.get("Authorization"))
        if self.mode == "redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.2:1/v1/models")
            self.end_headers()
            return
        body = b'{"data": [{"id": "m", "context_length": 1024}]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.endswith("tokenize"):
            self.send_response(404)
            self.end_headers()
            return
        if self.mode == "silent":
            time.sleep(3)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b"data: {not json at all\n\n")


@pytest.fixture
def scripted() -> Iterator[tuple[str, type[_Scripted]]]:
    class Handler(_Scripted):
        seen_auth: ClassVar[list[str | None]] = []

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Handler
    server.shutdown()


def run_once(backend: RemoteBackend) -> list[object]:
    plan = backend.plan([ChatMessage("user", "Hi")], reserve=16)
    return list(backend.stream(plan, SamplingParams(max_tokens=4)))


def test_garbage_silence_and_redirects(scripted: tuple[str, type[_Scripted]]) -> None:
    url, handler = scripted
    handler.mode = "garbage"
    backend = RemoteBackend.connect(RemoteConfig(url, api_key=KEY))
    assert backend.n_ctx == 1024  # the server's own figure
    assert not backend.capabilities.exact_token_counts  # no /tokenize there: estimated
    assert backend.count_tokens("长江黄河") == estimate_tokens("长江黄河") == 4
    with pytest.raises(RemoteError, match="not a streamed reply"):
        run_once(backend)
    backend.close()
    handler.mode = "silent"
    backend = RemoteBackend.connect(RemoteConfig(url, api_key=KEY, read_timeout=1))
    with pytest.raises(RemoteError, match="no answer within 1 s"):
        run_once(backend)
    backend.close()
    # A redirect to another host is not followed: the key stays with this server.
    handler.mode = "redirect"
    handler.seen_auth.clear()
    with pytest.raises(RemoteError, match="HTTP 302"):
        RemoteBackend.connect(RemoteConfig(url, api_key=KEY))
    assert handler.seen_auth == [f"Bearer {KEY}"]


def test_a_finished_stream_is_a_finish_event(remote: RemoteBackend) -> None:
    plan = remote.plan([ChatMessage("user", "Reply with one word: yes")], reserve=16)
    events = list(remote.stream(plan, SamplingParams(max_tokens=8, temperature=0)))
    assert isinstance(events[-1], FinishEvent)
    assert events[-1].text == "".join(e.text for e in events[:-1]  # type: ignore[union-attr]
                                      if isinstance(e, TokenEvent))
    assert os.environ.get("MINGJING_HOME")  # tests never touch the real data folder


def test_ask_with_a_server(peer: str, tmp_path: Path) -> None:
    from tests.conftest import REPO

    key = tmp_path / "key.txt"
    key.write_text(KEY + "\n")
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("nope\n")
    env = {**os.environ, "MINGJING_HOME": str(tmp_path / "home")}

    def ask(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app", "ask", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)

    ok = ask("--server", peer, "--api-key-file", str(key), "--temperature", "0",
             "--max-tokens", "16", "What is the capital of France?")
    assert ok.returncode == 0, ok.stderr
    assert "Paris" in ok.stdout
    refused = ask("--server", peer, "--api-key-file", str(wrong), "Hi")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "refused the API key" in refused.stderr and "nope" not in refused.stderr
    both = ask("--server", peer, "--model", "gemma-3-270m", "Hi")
    assert both.returncode == 2 and "choose one" in both.stderr
    bad = ask("--server", "ftp://example.com", "Hi")
    assert bad.returncode == 2 and "not an http(s) server address" in bad.stderr
    creds = ask("--server", "http://me:pw@127.0.0.1:1", "Hi")
    assert creds.returncode == 2 and "api-key-file" in creds.stderr


def test_a_reply_the_server_gives_up_on_is_an_error_not_a_finish(peer: str) -> None:
    """llama-cpp-python's server ends the reply it streams when another request arrives
    (`interrupt_requests`), with a clean [DONE] and no finish_reason: that is a reply cut
    off, not a finished one."""
    import httpx

    backend = RemoteBackend.connect(RemoteConfig(peer, api_key=KEY))
    try:
        plan = backend.plan([ChatMessage("user", "Count from 1 to 100, one per line.")],
                            reserve=300)
        events = backend.stream(plan, SamplingParams(max_tokens=300, temperature=0))
        got = [next(events), next(events)]
        assert all(isinstance(e, TokenEvent) for e in got)
        other = httpx.post(f"{backend.config.root}/v1/chat/completions", timeout=120,
                           headers={"Authorization": f"Bearer {KEY}"},
                           json={"messages": [{"role": "user", "content": "Hi"}],
                                 "max_tokens": 2})
        assert other.status_code == 200
        with pytest.raises(RemoteError, match="without finishing it"):
            for _ in events:
                pass
    finally:
        backend.close()
