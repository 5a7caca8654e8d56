"""The engine against the real embedded model: tokenizer, streaming, cancel, prefix reuse,
context planning and the base-model rule. Deterministic settings where output is asserted."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.errors import ContextOverflowError
from engine.runtime import Engine
from engine.template import GEMMA_TEMPLATE, ChatTemplate, TemplateError
from engine.types import ChatMessage, FinishEvent, SamplingParams, TokenEvent

GREEDY = SamplingParams(temperature=0.0, seed=7, max_tokens=24, repeat_penalty=1.0)


def run(engine: Engine, tokens: list[int], sampling: SamplingParams = GREEDY,
        cancel: threading.Event | None = None) -> tuple[list[TokenEvent], FinishEvent]:
    tokens_out: list[TokenEvent] = []
    finish = None
    for event in engine.generate(tokens, sampling, cancel=cancel):
        if isinstance(event, TokenEvent):
            tokens_out.append(event)
        else:
            finish = event
    assert finish is not None
    return tokens_out, finish


def test_base_model_is_completion_mode(completion_engine: Engine) -> None:
    # The default GGUF has no chat template: no silent fallback to an unrelated format.
    assert completion_engine.info.chat_template is None
    assert completion_engine.mode == "completion"
    assert completion_engine.template is None
    text = completion_engine.render([ChatMessage("user", "The capital of France is")])
    assert text == "The capital of France is"
    plan = completion_engine.plan([ChatMessage("user", "The capital of France is")])
    assert plan.tokens[0] == completion_engine.bos_id
    assert "<start_of_turn>" not in completion_engine.detokenize(plan.tokens, special=True)


def test_chinese_round_trip(completion_engine: Engine) -> None:
    text = "我今天吃了狮子头和蔬菜。明镜：看见模型在做什么！"
    tokens = completion_engine.tokenize(text)
    assert completion_engine.detokenize(tokens) == text
    # Chinese packs about 1-2 characters per token with this tokenizer.
    assert len(text) / 3 < len(tokens) < len(text)
    tokens = completion_engine.tokenize("我今天吃了狮子头")
    pieces = [completion_engine.detokenize([t]) for t in tokens]
    assert "今天" in pieces


def test_byte_tokens_stream_as_whole_characters(completion_engine: Engine) -> None:
    # A rare character can be split over several byte tokens; the stream must never emit
    # half a UTF-8 sequence.
    plan = completion_engine.plan([ChatMessage("user", "𠜎𠜱𠝹 古文字：")])
    events, finish = run(completion_engine, plan.tokens)
    joined = "".join(e.text for e in events)
    assert "\ufffd" not in joined
    assert joined == finish.text


def test_greedy_continuation_is_deterministic(completion_engine: Engine) -> None:
    plan = completion_engine.plan([ChatMessage("user", "The capital of France is")])
    events, finish = run(completion_engine, plan.tokens)
    assert finish.text.startswith(" the capital of the country of France")
    assert "".join(e.text for e in events) == finish.text
    assert finish.stats.completion_tokens == len(events) == GREEDY.max_tokens
    assert finish.stats.stop_reason == "max_tokens"
    assert finish.stats.decode_tok_s > 0
    assert finish.stats.prompt_tokens == len(plan.tokens)
    # llama.cpp's CPU kernels round differently for different batch sizes, so results are
    # compared between runs that evaluate the prompt the same way (from an empty cache).
    completion_engine.reset_cache()
    _, again = run(completion_engine, plan.tokens)
    assert again.text == finish.text


def test_seeded_sampling_repeats(completion_engine: Engine) -> None:
    plan = completion_engine.plan([ChatMessage("user", "Once upon a time")])
    warm = SamplingParams(temperature=1.0, seed=1234, max_tokens=16)
    completion_engine.reset_cache()
    _, a = run(completion_engine, plan.tokens, warm)
    completion_engine.reset_cache()
    _, b = run(completion_engine, plan.tokens, warm)
    assert a.text == b.text
    assert a.stats.seed == 1234


def test_cancel_between_tokens(completion_engine: Engine) -> None:
    plan = completion_engine.plan([ChatMessage("user", "Write a long story about the sea.")])
    cancel = threading.Event()
    seen = 0
    finish = None
    for event in completion_engine.generate(plan.tokens, SamplingParams(max_tokens=500),
                                            cancel=cancel):
        if isinstance(event, TokenEvent):
            seen += 1
            if seen == 5:
                cancel.set()
        else:
            finish = event
    assert finish is not None
    assert finish.stats.stop_reason == "cancelled"
    assert finish.stats.completion_tokens == 5
    # The engine stays usable after a cancel.
    _, after = run(completion_engine, completion_engine.plan(
        [ChatMessage("user", "The capital of France is")]).tokens)
    assert after.text.startswith(" the capital")


def test_stop_string_is_not_emitted(completion_engine: Engine) -> None:
    plan = completion_engine.plan([ChatMessage("user", "The capital of France is")])
    sampling = SamplingParams(temperature=0.0, max_tokens=40, repeat_penalty=1.0,
                              stop=("country",))
    events, finish = run(completion_engine, plan.tokens, sampling)
    assert finish.stats.stop_reason == "stop_string"
    assert "country" not in finish.text
    assert finish.text == " the capital of the "
    assert "".join(e.text for e in events) == finish.text


def test_prefix_reuse_second_turn(chat_engine: Engine) -> None:
    chat_engine._llama.reset()  # start from an empty cache
    first = [ChatMessage("user", "What is the capital of France?")]
    plan1 = chat_engine.plan(first, reserve=64)
    _, f1 = run(chat_engine, plan1.tokens)
    assert f1.stats.reused_prompt_tokens == 0
    assert f1.stats.evaluated_prompt_tokens == len(plan1.tokens)

    new_message = "And what about Germany?"
    second = [*first, ChatMessage("assistant", f1.text), ChatMessage("user", new_message)]
    plan2 = chat_engine.plan(second, reserve=64)
    _, f2 = run(chat_engine, plan2.tokens)
    stats = f2.stats
    assert stats.prompt_tokens == len(plan2.tokens)
    assert stats.reused_prompt_tokens + stats.evaluated_prompt_tokens == stats.prompt_tokens
    # Everything up to the end of the first reply comes from the KV cache ...
    assert stats.reused_prompt_tokens >= len(plan1.tokens)
    # ... so only the new message and the template's turn markers are evaluated:
    # "<end_of_turn>\n<start_of_turn>user\n" ... "<end_of_turn>\n<start_of_turn>model\n".
    template_tokens = 12
    assert stats.evaluated_prompt_tokens <= len(chat_engine.tokenize(new_message)) + template_tokens
    assert stats.evaluated_prompt_tokens < stats.prompt_tokens / 2


def test_switching_conversations_stays_correct(chat_engine: Engine) -> None:
    a = [ChatMessage("user", "What is the capital of France?")]
    b = [ChatMessage("user", "写一首关于月亮的诗。")]
    c = [ChatMessage("user", "Name three rivers.")]
    # Each run below follows a different conversation, so each shares only the template's
    # first tokens with the cache and evaluates the rest the same way: answers must agree.
    _, c1 = run(chat_engine, chat_engine.plan(c, reserve=64).tokens)
    _, a1 = run(chat_engine, chat_engine.plan(a, reserve=64).tokens)
    _, b1 = run(chat_engine, chat_engine.plan(b, reserve=64).tokens)
    _, a2 = run(chat_engine, chat_engine.plan(a, reserve=64).tokens)
    _, c2 = run(chat_engine, chat_engine.plan(c, reserve=64).tokens)
    shared = len(chat_engine.prompt_tokens(chat_engine.render([ChatMessage("user", "")])))
    for f in (a1, b1, a2, c2):
        assert 0 < f.stats.reused_prompt_tokens < shared
    assert a2.text == a1.text
    assert c2.text == c1.text
    assert b1.text != a1.text
    assert chat_engine.cached_tokens[: c2.stats.prompt_tokens] == chat_engine.plan(
        c, reserve=64).tokens


def test_chat_template_renders_gemma_turns(chat_engine: Engine) -> None:
    text = chat_engine.render([ChatMessage("user", "你好")], system="Be brief.")
    assert text == (
        "<bos><start_of_turn>user\nBe brief.\n\n你好<end_of_turn>\n<start_of_turn>model\n"
    )
    tokens = chat_engine.prompt_tokens(text)
    assert tokens.count(chat_engine.bos_id) == 1  # BOS from the template, not added twice
    assert chat_engine.tokenize("<start_of_turn>", special=True) == [tokens[1]]


def test_template_is_sandboxed_and_reports_errors() -> None:
    evil = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    with pytest.raises(TemplateError):
        ChatTemplate(evil).render([ChatMessage("user", "hi")])
    with pytest.raises(TemplateError, match="alternate"):
        ChatTemplate(GEMMA_TEMPLATE).render(
            [ChatMessage("user", "a"), ChatMessage("user", "b")]
        )
    with pytest.raises(TemplateError, match="does not compile"):
        ChatTemplate("{% for %}")


def _long_history(turns: int) -> list[ChatMessage]:
    history: list[ChatMessage] = []
    for i in range(turns):
        history.append(ChatMessage("user", f"Question {i}: " + "tell me more about rivers. " * 6))
        history.append(ChatMessage("assistant", f"Answer {i}: " + "rivers flow to the sea. " * 6))
    history.append(ChatMessage("user", "Final question: which river is longest?"))
    return history


def test_overflow_drops_oldest_turns_keeps_system(chat_engine: Engine) -> None:
    history = _long_history(20)
    system = "You are a geography tutor."
    plan = chat_engine.plan(history, system=system, reserve=256)
    assert plan.prompt_tokens <= chat_engine.n_ctx - 256
    assert plan.dropped, "a 20-turn history cannot fit 1024 tokens"
    assert plan.dropped == list(range(len(plan.dropped)))  # the oldest ones
    assert len(plan.dropped) % 2 == 0  # whole turns
    assert plan.kept[-1] == len(history) - 1
    assert history[plan.kept[0]].role == "user"
    assert system in plan.text
    assert "Final question" in plan.text
    assert "Question 0:" not in plan.text
    # Exact count: the plan's tokens are what the model will evaluate.
    assert plan.tokens == chat_engine.prompt_tokens(plan.text)
    # One more dropped turn would have been unnecessary: keeping it must overflow.
    first_kept = plan.kept[0]
    bigger = chat_engine.render(history[first_kept - 2:], system)
    assert len(chat_engine.prompt_tokens(bigger)) > chat_engine.n_ctx - 256


def test_overflow_in_generation_reports_dropped(chat_engine: Engine) -> None:
    history = _long_history(20)
    finish = None
    for event in chat_engine.respond(history, SamplingParams(temperature=0, max_tokens=8)):
        if isinstance(event, FinishEvent):
            finish = event
    assert finish is not None and finish.stats.dropped_messages
    assert finish.stats.dropped_messages[0] == 0


def test_single_message_larger_than_window(chat_engine: Engine) -> None:
    huge = "河流 " * 2000
    with pytest.raises(ContextOverflowError) as info:
        chat_engine.plan([ChatMessage("user", huge)], reserve=128)
    assert info.value.needed > info.value.available
    assert "\n" not in str(info.value)


def test_completion_overflow_drops_oldest(completion_engine: Engine) -> None:
    parts = [ChatMessage("user" if i % 2 == 0 else "assistant", f"Part {i}. " + "word " * 200)
             for i in range(30)]
    plan = completion_engine.plan(parts, reserve=128)
    assert plan.dropped and plan.kept[-1] == 29
    assert plan.prompt_tokens <= completion_engine.n_ctx - 128


def test_threads_and_context_settings(default_model_path: Path) -> None:
    from engine.types import LoadParams, default_threads

    assert default_threads() >= 1
    engine = Engine.load(default_model_path, LoadParams(n_ctx=512, n_threads=1))
    try:
        assert engine.n_ctx == 512
        assert engine.params.n_threads == 1
        _, finish = run(engine, engine.plan([ChatMessage("user", "Hello")]).tokens,
                        SamplingParams(temperature=0, max_tokens=4))
        assert finish.stats.completion_tokens == 4
    finally:
        engine.close()


def test_context_full_stops_generation(default_model_path: Path) -> None:
    from engine.types import LoadParams

    engine = Engine.load(default_model_path, LoadParams(n_ctx=256))
    try:
        prompt = engine.tokenize("word " * 200, add_bos=True)
        _, finish = run(engine, prompt, SamplingParams(temperature=0, max_tokens=500))
        assert finish.stats.stop_reason == "context_full"
        # Every token but the last one went through the 256-slot KV cache.
        assert len(prompt) + finish.stats.completion_tokens == 256 + 1
    finally:
        engine.close()


def test_next_token_candidates_form_a_distribution(completion_engine: Engine) -> None:
    import numpy as np

    plan = completion_engine.plan([ChatMessage("user", "The capital of France is")])
    completion_engine.reset_cache()
    greedy = SamplingParams(temperature=0.0, max_tokens=6, repeat_penalty=1.0)
    events = [e for e in completion_engine.generate(plan.tokens, greedy, candidates=8)
              if isinstance(e, TokenEvent)]
    assert len(events) == 6
    for event in events:
        cands = event.candidates
        assert len(cands) == 8
        # At temperature 0 the chosen token is the top candidate, which takes all the mass.
        assert cands[0].token_id == event.token_id
        assert cands[0].probability_at_temperature == 1.0
        probs = [c.probability for c in cands]
        assert probs == sorted(probs, reverse=True)
        assert 0 < sum(probs) <= 1.0 + 1e-6
    assert events[0].candidates[0].piece == " the"
    # The full softmax is a real distribution, and the candidates are its top entries.
    completion_engine.reset_cache()
    warm = SamplingParams(temperature=0.7, seed=3, max_tokens=1, repeat_penalty=1.0)
    (first,) = [e for e in completion_engine.generate(plan.tokens, warm, candidates=5)
                if isinstance(e, TokenEvent)]
    completion_engine.reset_cache()
    completion_engine._llama.eval(plan.tokens)  # the same position again
    full = completion_engine.next_token_distribution(1.0)
    assert abs(full.sum() - 1.0) < 1e-9
    top_ids = list(np.argsort(-full)[:5])
    assert [c.token_id for c in first.candidates] == top_ids
    for cand in first.candidates:
        assert cand.probability == pytest.approx(full[cand.token_id], rel=1e-4)
    cooled = completion_engine.next_token_distribution(0.7)
    assert abs(cooled.sum() - 1.0) < 1e-9
    for cand in first.candidates:
        assert cand.probability_at_temperature == pytest.approx(cooled[cand.token_id], rel=1e-3)
    # A lower temperature sharpens the distribution.
    assert cooled.max() > full.max()


def test_each_token_carries_its_own_probability(completion_engine: Engine) -> None:
    """With candidates asked for, every token says how likely it was (temperature 1), also
    when a hot sampler drew it from outside the candidates (the API's logprobs need it)."""
    plan = completion_engine.plan([ChatMessage("user", "Once upon a time")])
    hot = SamplingParams(temperature=3.0, top_k=0, top_p=1.0, min_p=0.0, seed=5,
                         max_tokens=24, repeat_penalty=1.0)
    events = [e for e in completion_engine.generate(plan.tokens, hot, candidates=1)
              if isinstance(e, TokenEvent)]
    outside = [e for e in events if e.candidates[0].token_id != e.token_id]
    assert outside  # at temperature 3 most draws are not the top token
    for event in events:
        assert event.probability is not None and 0 < event.probability <= 1
        if event.candidates[0].token_id == event.token_id:
            assert event.probability == event.candidates[0].probability
        else:
            assert event.probability <= event.candidates[0].probability
    plain = [e for e in completion_engine.generate(plan.tokens, hot)
             if isinstance(e, TokenEvent)]
    assert all(e.probability is None for e in plain)


def test_context_map_segments_sum_to_the_prompt(chat_engine: Engine) -> None:
    history = [
        ChatMessage("user", "你好，请介绍一下长江。"),
        ChatMessage("assistant", "长江很长。"),
        ChatMessage("user", "那黄河呢？"),
    ]
    cmap = chat_engine.context_map(history, system="请简短回答。", reserve=128)
    plan = chat_engine.plan(history, system="请简短回答。", reserve=128)
    prompt = [s for s in cmap.segments if s.kind not in ("reserve", "free")]
    assert cmap.prompt_tokens == len(plan.tokens)
    assert sum(s.tokens for s in prompt) == len(plan.tokens)
    assert sum(s.tokens for s in cmap.segments) == chat_engine.n_ctx
    assert [s.kind for s in cmap.segments] == [
        "system", "history", "history", "message", "reserve", "free"]
    assert cmap.segments[0].tokens == chat_engine.count_tokens("请简短回答。")
    assert cmap.segments[4].tokens == 128
    # Retrieved passages are carved out of the last message's share.
    block = "<sources>\n[1] 长江全长约六千三百公里。\n</sources>"
    asked = [*history[:-1], ChatMessage("user", f"{block}\n\nQuestion: 那黄河呢？")]
    with_kb = chat_engine.context_map(asked, system="请简短回答。", reserve=128, knowledge=block)
    kinds = [s.kind for s in with_kb.segments]
    assert kinds == ["system", "history", "history", "knowledge", "message", "reserve", "free"]
    assert with_kb.segments[3].tokens == chat_engine.count_tokens(block)
    assert sum(s.tokens for s in with_kb.segments[:5]) == with_kb.prompt_tokens


def test_overflow_preview_names_what_the_engine_drops(chat_engine: Engine) -> None:
    history = _long_history(20)
    cmap = chat_engine.context_map(history, system="Tutor.", reserve=256)
    assert cmap.dropped
    finish = None
    for event in chat_engine.respond(history, SamplingParams(temperature=0, max_tokens=256),
                                     system="Tutor."):
        if isinstance(event, FinishEvent):
            finish = event
    assert finish is not None
    assert [s.message_index for s in cmap.dropped] == finish.stats.dropped_messages
    assert all(s.tokens > 0 for s in cmap.dropped)


def test_vocab_only_engine_counts_like_the_full_one(
    default_model_path: Path, chat_engine: Engine
) -> None:
    from engine.errors import EngineError
    from engine.types import LoadParams

    vocab = Engine.load(default_model_path, LoadParams(n_ctx=1024, vocab_only=True),
                        template="gemma")
    try:
        history = [ChatMessage("user", "明镜是什么？"), ChatMessage("assistant", "一面镜子。"),
                   ChatMessage("user", "它能做什么？")]
        full_plan = chat_engine.plan(history, reserve=64)
        assert vocab.plan(history, reserve=64).tokens == full_plan.tokens
        full_map = chat_engine.context_map(history, reserve=64)
        assert vocab.context_map(history, reserve=64) == full_map
        with pytest.raises(EngineError):
            list(vocab.generate(vocab.tokenize("hi", add_bos=True), SamplingParams()))
    finally:
        vocab.close()


def test_token_spans_mark_special_tokens(chat_engine: Engine) -> None:
    plan = chat_engine.plan([ChatMessage("user", "你好")], reserve=64)
    spans = chat_engine.token_spans(plan.tokens)
    assert [s.token_id for s in spans] == plan.tokens
    texts = [s.text for s in spans]
    assert texts[0] == "<bos>" and spans[0].special
    assert "<start_of_turn>" in texts and "<end_of_turn>" in texts
    specials = {s.text for s in spans if s.special}
    assert {"<bos>", "<start_of_turn>", "<end_of_turn>"} <= specials
    assert not any(s.special for s in spans if s.text == "你好")
    assert "".join(texts) == plan.text


@pytest.mark.parametrize("case", ["peaked", "nine_near", "flat", "two_far_groups"])
def test_top_k_tokens_match_a_full_sort(case: str) -> None:
    import numpy as np

    from engine.token_math import top_k_tokens

    rng = np.random.default_rng(7)
    logits = (rng.standard_normal(50_000) * 3).astype(np.float32)
    if case == "peaked":
        logits[123] = 40.0
    elif case == "nine_near":  # fewer than k within the first margin: it must widen
        logits[:9] = 60.0 - np.arange(9, dtype=np.float32)
        logits[9:] -= 10.0
    elif case == "flat":
        logits = (rng.standard_normal(50_000) * 0.01).astype(np.float32)
    else:  # one token far above everything: the whole vocabulary is searched
        logits[0] = 500.0
    for k in (1, 10, 40):
        got = top_k_tokens(logits, k, float(logits.max()))
        want = np.argsort(-logits, kind="stable")[:k]
        assert len(got) == k
        assert np.array_equal(logits[got], logits[want])  # same values, largest first


def test_a_model_whose_file_name_is_not_utf8_loads(tmp_path: Path,
                                                   default_model_path: Path) -> None:
    """A Linux file name may hold any bytes; llama-cpp-python hands llama.cpp UTF-8."""
    import os

    from engine.runtime import Engine
    from engine.types import LoadParams

    odd = os.fsdecode(os.fsencode(tmp_path) + b"/mod\xe8le.gguf")
    os.link(default_model_path, odd)
    engine = Engine.load(odd, LoadParams(n_ctx=256))
    try:
        assert engine.count_tokens("hello") > 0
    finally:
        engine.close()
    assert [p.name for p in tmp_path.iterdir()] == [Path(odd).name]  # nothing left behind
