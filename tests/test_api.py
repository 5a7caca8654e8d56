"""The local API with the official openai client against `mingjing serve` (a real process on
127.0.0.1, the real built-in models): chat whole and streamed, completions on the base
model, logprobs, usage with cached prompt tokens, embeddings, tokenize/detokenize, and
answers from a knowledge base with their sources."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_helpers import Served, mingjing, model_home, serve
from tests.conftest import REPO

KB_DOCS = REPO / "tests" / "data" / "kb_zh" / "docs"
QUESTION = [{"role": "system", "content": "Answer in one short sentence."},
            {"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory: pytest.TempPathFactory, chat_model_path: Path,
                default_model_path: Path) -> Iterator[Served]:
    """The built-in chat model (Qwen), served with a knowledge base 手册 to answer from."""
    home = model_home(tmp_path_factory.mktemp("api-chat"), chat_model_path, default_model_path,
                      settings=json.dumps({"model": "builtin:qwen2.5-coder-0.5b-instruct",
                                           "n_ctx": 2048}))
    added = mingjing(home, "kb", "add", "--kb", "手册", str(KB_DOCS / "employee_handbook.md"))
    assert added.returncode == 0, added.stderr
    served = serve(home)
    yield served
    code, err = served.stop()
    assert code == 0 and err == ""  # Ctrl-C ends it quietly


@pytest.fixture(scope="module")
def base_server(tmp_path_factory: pytest.TempPathFactory,
                default_model_path: Path) -> Iterator[Served]:
    """The built-in base model (Gemma 3 270M): plain continuation."""
    home = model_home(tmp_path_factory.mktemp("api-base"), default_model_path)
    served = serve(home, "--model", "gemma-3-270m", "--ctx", "1024")
    yield served
    served.stop()


def greedy(**kwargs: Any) -> dict[str, Any]:
    return {"model": "any", "temperature": 0, "seed": 1, "max_tokens": 24,
            "extra_body": {"repeat_penalty": 1.0}, **kwargs}


def test_models_and_a_whole_chat_answer(chat_server: Served) -> None:
    client = chat_server.client()
    (model,) = client.models.list().data
    assert model.id == "qwen2.5-coder-0.5b-instruct" and model.owned_by == "mingjing"
    assert model.model_extra["meta"]["mode"] == "chat"
    assert model.model_extra["meta"]["n_ctx"] == 2048
    reply = client.chat.completions.create(messages=QUESTION, **greedy())
    choice = reply.choices[0]
    assert "Paris" in (choice.message.content or "")
    assert choice.message.role == "assistant" and choice.finish_reason in ("stop", "length")
    assert choice.logprobs is None
    usage = reply.usage
    assert usage is not None and usage.prompt_tokens > 10 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert reply.model == "qwen2.5-coder-0.5b-instruct" and reply.id.startswith("chatcmpl-")
    stats = reply.model_extra["mingjing"]["stats"]
    assert stats["stop_reason"] in ("eos", "max_tokens") and stats["seed"] == 1
    assert "sources" not in reply.model_extra["mingjing"]  # no knowledge base asked


def test_streamed_chat_gives_the_same_reply_in_pieces(chat_server: Served) -> None:
    client = chat_server.client()
    client.chat.completions.create(messages=QUESTION, **greedy())  # the prompt is cached
    whole = client.chat.completions.create(messages=QUESTION, **greedy())
    chunks = list(client.chat.completions.create(
        messages=QUESTION, stream=True, stream_options={"include_usage": True}, **greedy()))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == \
        whole.choices[0].finish_reason
    assert "stats" in finals[0].model_extra["mingjing"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # include_usage
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert len({c.id for c in chunks}) == 1


def test_logprobs_and_top_logprobs(chat_server: Served) -> None:
    reply = chat_server.client().chat.completions.create(
        messages=QUESTION, logprobs=True, top_logprobs=5, **greedy())
    content = reply.choices[0].logprobs.content
    assert content is not None and len(content) == reply.usage.completion_tokens
    for item in content:
        tops = item.top_logprobs
        assert len(tops) == 5
        assert [t.logprob for t in tops] == sorted((t.logprob for t in tops), reverse=True)
        assert tops[0].token == item.token and tops[0].logprob == item.logprob  # greedy
        assert item.logprob <= 0 and bytes(item.bytes).decode("utf-8", "replace") == item.token
    joined = b"".join(bytes(item.bytes) for item in content).decode("utf-8")
    assert joined.strip() == reply.choices[0].message.content
    # logprobs alone: each token's own, no alternatives.
    plain = chat_server.client().chat.completions.create(messages=QUESTION, logprobs=True,
                                                         **greedy(max_tokens=4))
    assert all(i.top_logprobs == [] for i in plain.choices[0].logprobs.content)


def test_usage_counts_the_prompt_tokens_already_cached(chat_server: Served) -> None:
    client = chat_server.client()
    question = [{"role": "user", "content": "Name a colour of the rainbow."}]
    first = client.chat.completions.create(messages=question, **greedy(max_tokens=4))
    again = client.chat.completions.create(messages=question, **greedy(max_tokens=4))
    assert first.usage.prompt_tokens == again.usage.prompt_tokens
    cached = again.usage.prompt_tokens_details.cached_tokens
    assert cached == again.usage.prompt_tokens - 1  # all but the one that yields logits
    assert first.usage.prompt_tokens_details.cached_tokens < cached


def test_completions_continue_text_on_the_base_model(base_server: Served) -> None:
    client = base_server.client()
    assert client.models.list().data[0].model_extra["meta"]["mode"] == "completion"
    whole = client.completions.create(model="gemma", prompt="The capital of France is",
                                      max_tokens=8, temperature=0, logprobs=3)
    choice = whole.choices[0]
    assert choice.text and whole.object == "text_completion"
    assert len(choice.logprobs.tokens) == whole.usage.completion_tokens
    assert all(len(top) <= 3 for top in choice.logprobs.top_logprobs)
    assert choice.logprobs.text_offset[0] == 0
    streamed = client.completions.create(model="gemma", prompt="The capital of France is",
                                         max_tokens=8, temperature=0, stream=True)
    assert "".join(c.choices[0].text for c in streamed) == choice.text
    import openai

    with pytest.raises(openai.BadRequestError, match=r"base model .* use /v1/completions"):
        client.chat.completions.create(model="gemma", messages=QUESTION, max_tokens=4)


def test_embeddings_come_from_the_knowledge_base_embedder(chat_server: Served) -> None:
    import numpy as np

    client = chat_server.client()
    result = client.embeddings.create(model="anything", input=["今天天气很好", "今天天气不错",
                                                               "股票市场下跌"])
    assert result.model == "use-multilingual-v3" and result.usage.prompt_tokens > 0
    vectors = np.array([d.embedding for d in result.data])
    assert vectors.shape == (3, 512) and [d.index for d in result.data] == [0, 1, 2]
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # meaning, not bytes
    single = client.embeddings.create(model="x", input="今天天气很好", encoding_format="float")
    assert np.allclose(single.data[0].embedding, vectors[0], atol=1e-5)


def test_tokenize_and_detokenize_in_llama_servers_shape(chat_server: Served) -> None:
    call = chat_server.call
    text = "我今天吃了狮子头 and <|im_start|>"
    tokens = call("POST", "/tokenize", {"content": text})[2]["tokens"]
    assert tokens and all(isinstance(t, int) for t in tokens)
    assert call("POST", "/detokenize", {"tokens": tokens})[2] == {"content": text}
    pieces = call("POST", "/tokenize", {"content": text, "with_pieces": True})[2]["tokens"]
    assert [p["id"] for p in pieces] == tokens
    assert "<|im_start|>" in [p["piece"] for p in pieces]  # one special token
    literal = call("POST", "/tokenize", {"content": "<|im_start|>",
                                         "parse_special": False})[2]["tokens"]
    assert len(literal) > 1  # the same text as plain characters
    props = call("GET", "/props")[2]
    assert props["default_generation_settings"]["n_ctx"] == 2048
    assert props["total_slots"] == 1 and props["n_waiting"] == 0


def test_answers_from_a_knowledge_base_with_sources(chat_server: Served) -> None:
    client = chat_server.client()
    ask = [{"role": "user", "content": "员工一年有几天带薪年假？"}]
    extension = {"mingjing": {"knowledge_bases": ["手册"], "top_k": 3}}
    reply = client.chat.completions.create(
        model="x", messages=ask, temperature=0, max_tokens=48,
        extra_body={**extension, "repeat_penalty": 1.0})
    found = reply.model_extra["mingjing"]
    sources = found["sources"]
    assert sources and sources[0]["number"] == 1 and found["retrieved"] >= len(sources)
    assert all(s["name"] == "employee_handbook.md" and s["kb"] == "手册" for s in sources)
    assert any("十五个工作日" in s["text"] for s in sources)
    content = reply.choices[0].message.content or ""
    assert "十五" in content or "15" in content
    # The reply's citations, checked against the sources given (app/citations.py).
    from app.citations import check_citations

    assert found["citations"] == [c.to_dict() for c in check_citations(content, sources)]
    assert found["no_answer"] is None
    chunks = list(client.chat.completions.create(model="x", messages=ask, max_tokens=4,
                                                 stream=True, extra_body=extension))
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert final[0].model_extra["mingjing"]["sources"][0]["name"] == "employee_handbook.md"


def test_a_long_prompt_streams_its_progress_as_comments(chat_server: Served) -> None:
    """Prompt processing is streamed as SSE comments, which the openai client skips and a
    Mingjing remote backend reads."""
    import httpx

    long = "请概括下面的内容。\n" + "星澜科技的员工每年享有十五个工作日的带薪年假。" * 30
    body = {"model": "x", "messages": [{"role": "user", "content": long}], "max_tokens": 2,
            "temperature": 0, "stream": True}
    with httpx.Client(timeout=300) as http, http.stream(
            "POST", f"{chat_server.url}/v1/chat/completions", json=body,
            headers={"Authorization": f"Bearer {chat_server.token}"}) as response:
        assert response.status_code == 200
        lines = list(response.iter_lines())
    comments = [json.loads(line.removeprefix(": mingjing-progress "))
                for line in lines if line.startswith(": mingjing-progress ")]
    assert len(comments) >= 3 and comments[0]["done"] == 0
    assert comments[-1]["done"] == comments[-1]["total"] > 256
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data: {")
                      and any(c.get("delta", {}).get("content")
                              for c in json.loads(line[6:]).get("choices") or []))
    last_comment = max(i for i, line in enumerate(lines) if line.startswith(": mingjing"))
    assert last_comment < first_data  # all of it before the reply
    # The official client reads the same stream as if the comments were not there.
    chunks = list(chat_server.client().chat.completions.create(
        model="x", messages=body["messages"], max_tokens=2, temperature=0, stream=True))
    assert chunks[-1].choices[0].finish_reason is not None
