"""The built-in chat model (Qwen2.5-Coder 0.5B Instruct) through the app's own seams: its
ChatML template, special tokens, prefix reuse across turns, stopping at <|im_end|>, and a
knowledge-base answer, all on the real model, the real knowledge base and embedder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.chat_service import ChatService, TurnRequest, collect
from engine.runtime import Engine
from engine.types import ChatMessage, SamplingParams
from kb.indexer import Indexer
from kb.store import KnowledgeStore
from models.builtin import QWEN

DOCS = Path(__file__).parent / "data" / "kb_zh" / "docs"
IM_START, IM_END = 151644, 151645
GREEDY = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=48, seed=1)


def test_it_is_the_model_the_registry_names(qwen_engine: Engine) -> None:
    info = qwen_engine.info
    assert info.architecture == "qwen2" and info.file_size == QWEN.size
    assert info.has_chat_template and qwen_engine.mode == "chat"
    assert qwen_engine.eos_id == IM_END


def test_chatml_renders_and_tokenizes_exactly(qwen_engine: Engine) -> None:
    messages = [ChatMessage("user", "你好"), ChatMessage("assistant", "你好！有什么可以帮你？"),
                ChatMessage("user", "长江有多长？")]
    text = qwen_engine.render(messages, "回答要简短。")
    assert text == ("<|im_start|>system\n回答要简短。<|im_end|>\n"
                    "<|im_start|>user\n你好<|im_end|>\n"
                    "<|im_start|>assistant\n你好！有什么可以帮你？<|im_end|>\n"
                    "<|im_start|>user\n长江有多长？<|im_end|>\n"
                    "<|im_start|>assistant\n")
    # Without a system prompt the template supplies its own (part of what the model reads).
    assert qwen_engine.render(messages[:1]).startswith(
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")
    tokens = qwen_engine.prompt_tokens(text)
    # Special tokens are parsed into single ids, never spelled out as text pieces.
    assert tokens.count(IM_START) == 5 and tokens.count(IM_END) == 4
    assert tokens[0] == IM_START  # no BOS: Qwen adds none
    assert qwen_engine.detokenize(tokens, special=True) == text
    spans = qwen_engine.token_spans(tokens)
    assert [s.text for s in spans if s.special] == ["<|im_start|>", "<|im_end|>"] * 4 + \
        ["<|im_start|>"]
    # As plain text (a user typing the marker) it is not a control token.
    assert IM_START not in qwen_engine.tokenize("<|im_start|>", special=False)


def test_a_second_turn_evaluates_only_the_new_tokens(qwen_engine: Engine) -> None:
    service = ChatService(qwen_engine)
    qwen_engine.reset_cache()
    first = [ChatMessage("user", "用一句话介绍长江。")]
    turn1 = service.plan_turn(TurnRequest(None, first, GREEDY))
    finish1 = collect(service.run(TurnRequest(None, first, GREEDY, persist=False)))
    assert finish1.stats.reused_prompt_tokens == 0
    assert finish1.stats.evaluated_prompt_tokens == turn1.plan.prompt_tokens
    second = [*first, ChatMessage("assistant", finish1.text), ChatMessage("user", "黄河呢？")]
    turn2 = service.plan_turn(TurnRequest(None, second, GREEDY))
    # What turn 2 adds after turn 1's prompt and reply: the reply's end and the new message.
    reply_tokens = qwen_engine.tokenize(finish1.text)
    new_tail = len(turn2.plan.tokens) - len(turn1.plan.tokens) - len(reply_tokens)
    finish2 = collect(service.run(TurnRequest(None, second, GREEDY, persist=False)))
    assert finish2.stats.reused_prompt_tokens >= turn1.plan.prompt_tokens
    assert finish2.stats.evaluated_prompt_tokens <= new_tail + 2
    assert finish2.stats.evaluated_prompt_tokens + finish2.stats.reused_prompt_tokens == \
        turn2.plan.prompt_tokens


def test_the_reply_stops_at_im_end(qwen_engine: Engine) -> None:
    finish = collect(ChatService(qwen_engine).run(TurnRequest(
        None, [ChatMessage("user", "Reply with the single word: hello")],
        SamplingParams(temperature=0.0, max_tokens=200, seed=1), persist=False)))
    assert finish.stats.stop_reason == "eos"
    assert finish.stats.completion_tokens < 200
    assert "hello" in finish.text.lower()
    assert "<|im_end|>" not in finish.text and "<|im_start|>" not in finish.text


@pytest.fixture(scope="module")
def zh_knowledge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeStore]:
    root = tmp_path_factory.mktemp("kb-chat")
    shutil.copytree(DOCS, root / "docs")
    store = KnowledgeStore(root / "knowledge.db")
    report = Indexer(store).add("资料", [root / "docs"])
    assert report.failed == []
    yield store
    store.close()


@pytest.mark.parametrize(("question", "fact", "source"), [
    ("面团揉完以后温度最好是多少？", "二十六", "home_bread_baking.md"),
    ("在地铁上掉了东西，要打哪个电话查询？", "96128", "subway_guide.md"),
])
def test_a_knowledge_base_answer_states_the_fact(
        qwen_engine: Engine, zh_knowledge: KnowledgeStore, question: str, fact: str,
        source: str) -> None:
    service = ChatService(qwen_engine, knowledge=zh_knowledge)
    request = TurnRequest(None, [ChatMessage("user", question)],
                          SamplingParams(temperature=0.0, max_tokens=80, seed=1),
                          kbs=["资料"], persist=False)
    planned = service.plan_turn(request)
    assert planned.rag is not None and planned.rag.used
    assert Path(planned.rag.used[0].path).name == source
    finish = collect(service.run(request))
    assert fact in finish.text


def test_first_launch_default_is_the_chat_model(tmp_path: Path) -> None:
    from app.settings import load_settings

    settings = load_settings(tmp_path / "settings.json")
    assert str(settings.model_ref) == f"builtin:{QWEN.id}"
    assert all(p.endswith("==0.9.0") for p in QWEN.packages) and len(QWEN.parts) == 6
