"""Cross-lingual retrieval (app/query_translation.py): the question is translated by the real
built-in chat model, on its side context, when the knowledge base holds the other language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.query_translation import (
    HINT_CHARS,
    HINT_PASSAGES,
    Translation,
    search_queries,
    translate,
    translation_target,
    wording_hints,
)
from kb import segment


def test_scripts_and_targets() -> None:
    assert segment.script_of("Snipvault 的专业版要花多少钱？") == "zh"
    assert segment.script_of("How much is the Pro licence?") == "en"
    assert segment.script_of("2024 / 12 / 02") is None
    assert translation_target("专业版多少钱？", {"zh": 0.6, "en": 0.4}) == "en"
    assert translation_target("How much is it?", {"zh": 0.6, "en": 0.4}) == "zh"
    assert translation_target("专业版多少钱？", {"zh": 0.99, "en": 0.01}) is None
    assert translation_target("How much is it?", {"en": 1.0}) is None
    assert translation_target("12345", {"zh": 0.5, "en": 0.5}) is None
    assert search_queries("q", None) == ["q"]
    assert search_queries("q", Translation("en", "", 0.1)) == ["q"]  # nothing usable
    assert search_queries("问题", Translation("en", "question", 0.1)) == ["问题", "问题\nquestion"]


def test_wording_hints_are_the_opening_words_of_the_best_passages_in_the_target() -> None:
    passages = ["# Manual\n\nThe Pro licence costs 18 dollars.", "三楼自习室共有一百二十个座位。",
                "## 开放时间\n\n图书馆" + "每天开放。" * 60, "第三段中文。"]
    hints = wording_hints(passages, "zh")
    assert HINT_PASSAGES == 2 and hints[0] == "三楼自习室共有一百二十个座位。"
    assert hints[1].startswith("## 开放时间 图书馆每天开放。") and len(hints[1]) == HINT_CHARS
    assert wording_hints(passages, "en") == ("# Manual The Pro licence costs 18 dollars.",)
    assert wording_hints([], "zh") == ()


def test_the_translator_takes_the_documents_wording_from_the_hints(qwen_engine: Any) -> None:
    """Unhinted, the built-in model renders "study room" as 图书馆室; shown the passage that
    says 自习室, it uses that word (the hard set's zh37)."""
    question = "How many seats are there in the library's study room?"
    hinted = translate(qwen_engine, question, "zh",
                       found=["三楼自习室共有一百二十个座位，需要提前预约。"])
    assert "自习室" in hinted.text, hinted.text
    assert hinted.hints == ("三楼自习室共有一百二十个座位，需要提前预约。",)
    assert translate(qwen_engine, question, "zh").hints == ()


@pytest.fixture()
def bilingual_store(tmp_path: Path) -> Any:
    from kb.indexer import Indexer
    from kb.store import KnowledgeStore

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "snipvault_manual.md").write_text(
        "# Snipvault manual\n\n## Licence\n\nThe Pro licence is a one-time purchase of 18 "
        "dollars and includes two years of updates.\n\n## Sync\n\nSync needs a passphrase of "
        "at least twelve characters.\n", encoding="utf-8")
    (docs / "茶馆.md").write_text(
        "# 晴川茶馆\n\n## 营业时间\n\n茶馆每天上午九点开门，晚上十点打烊，周一休息。\n",
        encoding="utf-8")
    store = KnowledgeStore(tmp_path / "k.db")
    assert Indexer(store).add("kb", [docs]).count("indexed") == 2
    yield store
    store.close()


def test_a_chinese_question_is_translated_on_the_side_context(
        qwen_engine: Any, bilingual_store: Any) -> None:
    from app.chat_service import ChatService, TurnRequest
    from engine.types import ChatMessage, SamplingParams

    kb = bilingual_store.get_kb("kb")
    assert set(bilingual_store.scripts([kb.id])) == {"zh", "en"}
    # The conversation's cached prefix before the turn is planned.
    qwen_engine.reset_cache()
    list(qwen_engine.respond([ChatMessage("user", "你好")],
                             SamplingParams(temperature=0.0, max_tokens=4)))
    cached = qwen_engine.cached_tokens
    service = ChatService(qwen_engine, knowledge=bilingual_store)
    request = TurnRequest(None, [ChatMessage("user", "Snipvault 的专业版是一次性买断吗？多少钱？")],
                          SamplingParams(temperature=0.0, max_tokens=8), kbs=["kb"],
                          persist=False)
    planned = service.plan_turn(request)
    rag = planned.rag
    assert rag is not None and rag.translation is not None
    assert rag.translation.target == "en"
    assert segment.script_of(rag.translation.text) == "en", rag.translation.text
    assert rag.translation.seconds > 0
    # The translator was shown the English passages the question as written found first.
    assert rag.translation.hints and all(
        segment.script_of(h) == "en" for h in rag.translation.hints)
    assert any("18 dollars" in h for h in rag.translation.hints)
    assert "18 dollars" in rag.used[0].text
    assert qwen_engine.cached_tokens == cached  # the side context did the work
    # Turned off: the question is searched as it is.
    request.translate_query = False
    assert service.plan_turn(request).rag.translation is None  # type: ignore[union-attr]


def test_no_translation_where_the_knowledge_base_has_one_language(
        qwen_engine: Any, tmp_path: Path) -> None:
    from app.chat_service import ChatService, TurnRequest
    from engine.types import ChatMessage, SamplingParams
    from kb.indexer import Indexer
    from kb.store import KnowledgeStore

    doc = tmp_path / "a.md"
    doc.write_text("# 茶馆\n\n茶馆每天上午九点开门。\n", encoding="utf-8")
    with KnowledgeStore(tmp_path / "k.db") as store:
        Indexer(store).add("kb", [doc])
        service = ChatService(qwen_engine, knowledge=store)
        request = TurnRequest(None, [ChatMessage("user", "茶馆几点开门？")],
                              SamplingParams(temperature=0.0, max_tokens=8), kbs=["kb"],
                              persist=False)
        rag = service.plan_turn(request).rag
        assert rag is not None and rag.translation is None
        assert "九点" in rag.used[0].text


def test_an_off_topic_question_gets_no_passage(qwen_engine: Any, bilingual_store: Any) -> None:
    """Nothing relevant: no passage goes into the prompt, the model is told the knowledge
    base has no answer, and the reply's record says why."""
    from app.chat_service import ChatService, TurnRequest, collect
    from app.rag import NO_ANSWER_NOTE
    from engine.types import ChatMessage, SamplingParams

    service = ChatService(qwen_engine, knowledge=bilingual_store)
    request = TurnRequest(None, [ChatMessage("user", "Who won the 2018 football World Cup?")],
                          SamplingParams(temperature=0.0, max_tokens=4), kbs=["kb"],
                          persist=False, translate_query=False)
    planned = service.plan_turn(request)
    rag = planned.rag
    assert rag is not None and rag.hits and rag.no_answer
    assert rag.used == [] and rag.block == ""
    info = rag.no_answer_info()
    assert info is not None and info["best_score"] is not None
    assert info["best_score"] < info["threshold"]  # type: ignore[operator]
    assert NO_ANSWER_NOTE in planned.messages[-1].content
    assert "<sources>" not in planned.plan.text
    # An on-topic question over the same knowledge base is answered from it.
    request.messages = [ChatMessage("user", "How much is the Snipvault Pro licence?")]
    rag = service.plan_turn(request).rag
    assert rag is not None and not rag.no_answer and rag.used
    assert collect(service.run(request)).stats.completion_tokens > 0


def test_the_windows_compute_thread_translates_on_the_side_context(
        qwen_engine: Any, bilingual_store: Any) -> None:
    """The window runs the model through ComputeBound: the side context is loaded and used
    on the same compute thread, and the question is translated there too."""
    from app.chat_service import ChatService, TurnRequest
    from app.compute_thread import ComputeBound, ComputeThread
    from engine.types import ChatMessage, SamplingParams

    compute = ComputeThread()
    try:
        bound = ComputeBound(qwen_engine, compute)
        side = bound.side_backend()
        assert isinstance(side, ComputeBound) and side.inner is qwen_engine.side_backend()
        assert bound.side_backend() is side  # loaded once
        service = ChatService(bound, knowledge=bilingual_store)
        request = TurnRequest(None, [ChatMessage("user", "Snipvault 的专业版多少钱？")],
                              SamplingParams(temperature=0.0, max_tokens=4), kbs=["kb"],
                              persist=False)
        rag = service.plan_turn(request).rag
        assert rag is not None and rag.translation is not None and rag.translation.text
    finally:
        compute.stop()
