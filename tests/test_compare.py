"""Base vs instruction-tuned, and two tokenizers: the comparison core, its CLI and its
window, on the two real built-in models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.compare import BASE_VS_INSTRUCT, DEFAULT_PAIR, compare_replies, tokenize_with
from engine.types import SamplingParams
from models.builtin import GEMMA, QWEN
from models.refs import ModelRef
from tests.conftest import REPO

TEXT = "我今天吃了狮子头和蔬菜。Large language models read tokens."


@pytest.fixture
def both(tmp_path: Path, default_model_path: Path, chat_model_path: Path) -> Path:
    """A models folder holding both built-in models (hard links: no copies)."""
    folder = tmp_path / "models"
    folder.mkdir()
    for path in (default_model_path, chat_model_path):
        os.link(path, folder / path.name)
    return folder


def test_the_base_model_continues_and_the_instruct_model_answers(both: Path) -> None:
    events = list(compare_replies("The capital of France is", both, DEFAULT_PAIR,
                                  sampling=SamplingParams(temperature=0, max_tokens=8,
                                                          repeat_penalty=1.0, seed=0)))
    kinds = [(e.index, e.kind) for e in events if e.kind != "piece"]
    assert kinds == [(0, "start"), (0, "done"), (1, "start"), (1, "done")]
    base = next(e.reply for e in events if e.index == 0 and e.kind == "done")
    chat = next(e.reply for e in events if e.index == 1 and e.kind == "done")
    assert base.ref == ModelRef.builtin(GEMMA) and base.mode == "completion"
    assert base.prompt == "The capital of France is"  # no template: the text as it is
    assert base.text.startswith(" the capital of the country of France")
    assert chat.ref == ModelRef.builtin(QWEN) and chat.mode == "chat"
    assert chat.prompt.startswith("<|im_start|>system\n")
    assert chat.prompt.endswith("<|im_start|>user\nThe capital of France is<|im_end|>\n"
                                "<|im_start|>assistant\n")
    assert [s.text for s in chat.prompt_tokens if s.special].count("<|im_start|>") == 3
    assert "Paris" in chat.text
    pieces = "".join(e.text for e in events if e.index == 1 and e.kind == "piece")
    assert pieces == chat.text  # streamed as it was written


def test_a_model_that_cannot_load_is_reported_and_the_other_still_runs(
        both: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"not a model")
    events = list(compare_replies("Hi", both, [ModelRef.file(broken), ModelRef.builtin(GEMMA)],
                                  sampling=SamplingParams(temperature=0, max_tokens=2)))
    assert events[0].kind == "error" and "not a GGUF" in events[0].text
    assert events[-1].index == 1 and events[-1].kind == "done"


def test_two_tokenizers_cut_the_same_text_differently(both: Path) -> None:
    gemma, qwen = tokenize_with(TEXT, [ModelRef.builtin(GEMMA), ModelRef.builtin(QWEN)], both)
    for result in (gemma, qwen):
        assert "".join(s.text for s in result.spans) == TEXT  # nothing lost, nothing added
        assert result.characters == len(TEXT)
        assert result.chars_per_token == pytest.approx(len(TEXT) / result.count)
    assert (gemma.vocab_size, qwen.vocab_size) == (262_144, 151_936)
    assert [s.token_id for s in gemma.spans] != [s.token_id for s in qwen.spans]
    # Qwen's vocabulary holds 狮子 (lion) as one token; Gemma's cuts it in two.
    assert "狮子" in [s.text for s in qwen.spans]
    assert "狮子" not in [s.text for s in gemma.spans] and "狮" in [s.text for s in gemma.spans]


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINGJING_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_cli_tokens_with_two_models(both: Path) -> None:
    home = both.parent
    result = run_cli("tokens", "--json", "--model", "gemma-3-270m", "--model",
                     "builtin:qwen2.5-coder-0.5b-instruct", TEXT, home=home)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["characters"] == len(TEXT)
    assert [m["model"] for m in out["models"]] == ["builtin:gemma-3-270m",
                                                  "builtin:qwen2.5-coder-0.5b-instruct"]
    assert all(m["count"] == len(m["tokens"]) for m in out["models"])
    text = run_cli("tokens", "--model", "gemma-3-270m", "--model", "qwen2.5-coder-0.5b-instruct",
                   TEXT, home=home).stdout
    assert text.count("== ") == 2 and "characters per token" in text
    bad = run_cli("tokens", "--model", "builtin:nope", "x", home=home)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no built-in" in bad.stderr


def test_cli_compare(both: Path) -> None:
    result = run_cli("compare", "--json", "--max-tokens", "6", "The capital of France is",
                     home=both.parent)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["explanation"] == BASE_VS_INSTRUCT
    base, chat = out["models"]
    assert base["mode"] == "completion" and base["prompt"] == "The capital of France is"
    assert chat["mode"] == "chat" and "<|im_start|>assistant" in chat["prompt"]
    assert base["reply"] and chat["reply"] and base["error"] is None
    plain = run_cli("compare", "--max-tokens", "4", "你好", home=both.parent)
    assert plain.returncode == 0 and "== Gemma" in plain.stdout and "== Qwen" in plain.stdout


def test_the_compare_window(qtbot: QtBot, both: Path) -> None:
    from ui.compare_window import CompareWindow

    window = CompareWindow(both, [])
    qtbot.addWidget(window)
    window.show()
    # Two tokenizers: counted off the GUI thread, then shown per model.
    qtbot.waitUntil(lambda: all(c.tokens.token_count() for c in window.token_columns),
                    timeout=60_000)
    counts = [c.tokens.token_count() for c in window.token_columns]
    assert counts[0] != counts[1] or [s.token_id for s in window.token_columns[0].tokens.spans()] \
        != [s.token_id for s in window.token_columns[1].tokens.spans()]
    # Base vs instruct: both columns fill, one model after the other.
    window.tabs.setCurrentIndex(0)
    window.prompt.setPlainText("The capital of France is")
    window.send()
    assert window.running and not window.send_button.isEnabled()
    qtbot.waitUntil(lambda: not window.running, timeout=300_000)
    base, chat = window.reply_columns
    assert base.tokens.special_count() == 1  # <bos> only: no template
    assert chat.tokens.special_count() == 5
    assert base.reply is not None and base.reply.toPlainText()
    assert chat.reply is not None and "Paris" in chat.reply.toPlainText()
    window.shutdown()
