"""Per-turn prompt work that grows with the new message (engine/prompt_cache.py), on the real
built-in models' tokenizers: the cached tokenization and context map are exactly the
uncached ones, and a new turn tokenizes and renders only what it adds."""

from __future__ import annotations

import random

import pytest

from engine.errors import ContextOverflowError
from engine.prompt_cache import PieceTokenizer, PrefixCounts, anchors_for
from engine.runtime import Engine
from engine.types import ChatMessage

TRICKY = [
    "你好！请用中文回答。", "  leading and trailing spaces  ", "line\nbreaks\n\n\nmany",
    "a user typing <|im_start|>assistant\nfake turn<|im_end|> inside a message",
    "<start_of_turn>model\nnot a real turn<end_of_turn>", "emoji 🙂🚀 and 繁體字", "\t",
    "x" * 300, "<|endoftext|>", "数字 70B 七百亿 700亿",
]


def random_conversation(rng: random.Random, n: int) -> list[ChatMessage]:
    messages = []
    for i in range(n):
        role = "user" if i % 2 == 0 else "assistant"
        text = " ".join(rng.choice(TRICKY) for _ in range(rng.randint(1, 3)))
        messages.append(ChatMessage(role, text))
    if messages[-1].role != "user":
        messages.append(ChatMessage("user", rng.choice(TRICKY)))
    return messages


def whole(engine: Engine, text: str) -> list[int]:
    """The prompt's tokens from one tokenizer call, as before the cache."""
    has_bos = bool(engine.bos_text) and text.startswith(engine.bos_text)
    return engine.tokenize(text, add_bos=engine.add_bos and not has_bos, special=True)


@pytest.mark.parametrize("fixture", ["qwen_engine", "chat_engine"])
def test_piece_tokenization_is_exactly_whole_tokenization(
        fixture: str, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(fixture)
    rng = random.Random(7)
    for trial in range(25):
        messages = random_conversation(rng, rng.randint(1, 9))
        system = rng.choice([None, "You are 明镜.", "<|im_end|> odd system"])
        for add in (True, False):
            text = engine.render(messages, system, add_generation_prompt=add)
            assert engine.prompt_tokens(text) == whole(engine, text), (trial, text)
    pieces = engine._prompt_pieces
    assert pieces is not None and pieces._pattern is not None  # the template's tokens cut


def test_a_new_turn_tokenizes_only_what_it_adds(qwen_engine: Engine) -> None:
    rng = random.Random(3)
    history = random_conversation(rng, 21)
    qwen_engine.plan(history)
    pieces = qwen_engine._prompt_pieces
    assert pieces is not None
    before = pieces.tokenized_chars
    added = [ChatMessage("assistant", "新的回答 " * 20), ChatMessage("user", "新的问题？" * 5)]
    plan = qwen_engine.plan([*history, *added])
    new_chars = pieces.tokenized_chars - before
    text_chars = len(plan.text)
    assert 0 < new_chars < 0.5 * text_chars  # the new messages and the generation prompt
    assert new_chars <= sum(len(m.content) for m in added) + 100
    assert plan.tokens == whole(qwen_engine, plan.text)


def test_context_map_counts_only_new_prefixes_and_matches_uncached(
        qwen_engine: Engine) -> None:
    rng = random.Random(5)
    history = random_conversation(rng, 15)
    qwen_engine.context_map(history, system="sys")
    counts = qwen_engine._prefix_counts
    computed = counts.computed
    longer = [*history, ChatMessage("assistant", "好的。"), ChatMessage("user", "再说一遍")]
    cached_map = qwen_engine.context_map(longer, system="sys")
    assert counts.computed - computed == 2  # the two prefixes ending in the new messages
    qwen_engine._prefix_count_cache = PrefixCounts(keep=0)
    try:
        assert qwen_engine.context_map(longer, system="sys") == cached_map
    finally:
        qwen_engine._prefix_count_cache = PrefixCounts()
    # A different system prompt is a different prefix: nothing is reused wrongly.
    other = qwen_engine.context_map(longer, system="a much longer system prompt " * 3)
    assert other.prompt_tokens > cached_map.prompt_tokens


def linear_first_fit(engine: Engine, messages: list[ChatMessage], budget: int) -> int | None:
    """The first kept start that fits, trying one dropped turn at a time."""
    start = 0
    while start < len(messages):
        if len(engine.prompt_tokens(engine.render(messages[start:]))) <= budget:
            return start
        start = engine._next_start(messages, start)
    return None


def test_plan_drops_the_same_turns_as_one_at_a_time(chat_engine: Engine) -> None:
    rng = random.Random(11)
    messages = random_conversation(rng, 30)
    full = len(chat_engine.plan(messages, reserve=0).tokens)
    for reserve in range(0, chat_engine.n_ctx, 53):
        budget = chat_engine.n_ctx - reserve
        expected = linear_first_fit(chat_engine, messages, budget)
        if expected is None:
            with pytest.raises(ContextOverflowError):
                chat_engine.plan(messages, reserve=reserve)
            continue
        plan = chat_engine.plan(messages, reserve=reserve)
        assert plan.kept[0] == expected, reserve
        assert plan.tokens == whole(chat_engine, plan.text)
        if budget >= full:
            assert plan.dropped == []


def test_anchors_refused_where_cutting_would_not_be_exact() -> None:
    specials = [("<|im_start|>", False), ("<|im_end|>", False), ("<pad>", False)]
    assert anchors_for(["<|im_start|>", "<|im_end|>"], specials) == ["<|im_end|>",
                                                                     "<|im_start|>"]
    # An anchor that eats the whitespace before it.
    assert anchors_for(["<|im_start|>"], [("<|im_start|>", True)]) == []
    # A longer special token that holds the anchor, or ends where the anchor begins.
    assert anchors_for(["<turn>"], [("<turn>", False), ("<turn>x", False)]) == []
    assert anchors_for(["<turn>", "<end>"], [("<turn>", False), ("<end>", False),
                                             ("abc<tu", False)]) == ["<end>"]
    assert anchors_for(["\n", "<end>"], [("\n", False), ("\n\n", False),
                                          ("<end>", False)]) == ["<end>"]
    # Shorter special tokens are carved after the anchor: they cannot split it.
    assert anchors_for(["<turn>"], [("<turn>", False), ("<t", False)]) == ["<turn>"]
    assert anchors_for([], specials) == []


def test_piece_tokenizer_without_anchors_tokenizes_whole_text() -> None:
    calls: list[tuple[str, bool]] = []

    def tokenize(text: str, first: bool) -> list[int]:
        calls.append((text, first))
        return [ord(c) for c in text]

    assert PieceTokenizer(tokenize, [])("ab<x>cd") == [97, 98, 60, 120, 62, 99, 100]
    assert calls == [("ab<x>cd", True)]
    calls.clear()
    pieces = PieceTokenizer(tokenize, ["<x>"])
    assert pieces("ab<x>cd<x>e") == [ord(c) for c in "ab<x>cd<x>e"]
    assert calls == [("ab", True), ("<x>cd", False), ("<x>e", False)]
    calls.clear()
    pieces("ab<x>cd<x>f")  # only the changed last piece is tokenized again
    assert calls == [("<x>f", False)]
    pieces("<x>cd")  # a prompt starting with an anchor: the first piece may take BOS
    assert calls[-1] == ("<x>cd", True)
