"""`mingjing ask` and `mingjing model info` as a user runs them: real processes, real model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def mingjing(*args: str, home: Path, stdin: str | None = None,
             prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINGJING_HOME": str(home)}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "app", *args],
        cwd=REPO, env=env, input=stdin, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture
def home(tmp_path: Path, default_model_path: Path) -> Path:
    """A data folder that already holds the built-in model (saves assembling it per test)."""
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    os.link(default_model_path, home / "models" / default_model_path.name)
    # A user who picked the base model in the window: `ask` follows that choice.
    (home / "settings.json").write_text('{"model": "builtin:gemma-3-270m"}')
    return home


def test_ask_streams_plain_text(home: Path) -> None:
    result = mingjing("ask", "--temperature", "0", "--max-tokens", "12", "--repeat-penalty", "1",
                      "The capital of France is", home=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(" the capital of the country of France")
    assert result.stderr == ""


def test_ask_json(home: Path) -> None:
    result = mingjing("ask", "--json", "--temperature", "0", "--seed", "3", "--max-tokens", "8",
                      "--system", "Notes:", "明镜是什么？", home=home)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["mode"] == "completion"
    assert out["prompt"] == "Notes:\n\n明镜是什么？"
    assert isinstance(out["reply"], str) and out["reply"]
    stats = out["stats"]
    for key in ("prompt_tokens", "reused_prompt_tokens", "evaluated_prompt_tokens",
                "prompt_eval_s", "time_to_first_token_s", "completion_tokens", "decode_tok_s",
                "stop_reason"):
        assert key in stats
    assert stats["completion_tokens"] == 8
    assert stats["stop_reason"] == "max_tokens"
    assert out["model"]["quantization"] == "Q4_K_M"


def test_ask_reads_stdin_and_chat_template_option(home: Path) -> None:
    result = mingjing("ask", "--json", "--template", "gemma", "--temperature", "0",
                      "--max-tokens", "4", "-", home=home, stdin="Hello there")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["mode"] == "chat"
    assert out["prompt"].startswith("<bos><start_of_turn>user\nHello there")


def test_first_use_assembles_the_default_chat_model(tmp_path: Path) -> None:
    """A fresh data folder: the default is the built-in chat model, assembled from its
    packages (sha256-checked) on first use."""
    result = mingjing("model", "info", "--json", home=tmp_path / "fresh")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["ref"] == "builtin:qwen2.5-coder-0.5b-instruct"
    assert info["architecture"] == "qwen2"
    assert info["has_chat_template"] is True
    assert info["builtin"]["license"] == "Apache-2.0"
    assert Path(info["path"]).parent == tmp_path / "fresh" / "models"
    assert Path(info["path"]).stat().st_size == 491_400_064


def test_model_info_text(home: Path) -> None:
    result = mingjing("model", "info", home=home)
    assert result.returncode == 0
    assert "Q4_K_M" in result.stdout and "base model" in result.stdout


def _broken_files(tmp: Path, model: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp / "empty.gguf"
    empty.write_bytes(b"")
    text = tmp / "notes.gguf"
    text.write_text("this is not a model\n")
    truncated = tmp / "truncated.gguf"
    with model.open("rb") as src:
        truncated.write_bytes(src.read(8_000_000))
    return {
        "missing": (tmp / "nope.gguf", "not found"),
        "empty": (empty, "empty"),
        "not gguf": (text, "not a GGUF"),
        "truncated": (truncated, "truncated"),
        "directory": (tmp, "directory"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "not gguf", "truncated", "directory"])
def test_broken_model_file_is_one_line_exit_2(case: str, home: Path, tmp_path: Path,
                                              default_model_path: Path) -> None:
    path, reason = _broken_files(tmp_path, default_model_path)[case]
    for args in (("ask", "--model", str(path), "hello"), ("model", "info", str(path))):
        result = mingjing(*args, home=home)
        assert result.returncode == 2
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert str(path) in lines[0] and reason in lines[0]
        assert "Traceback" not in result.stderr


def test_empty_prompt_is_rejected(home: Path) -> None:
    result = mingjing("ask", "   ", home=home)
    assert result.returncode == 2
    assert "empty" in result.stderr


def test_data_dir_option_moves_data(tmp_path: Path, home: Path) -> None:
    target = tmp_path / "elsewhere"
    result = mingjing("model", "info", "--data-dir", str(target), "--json", home=home)
    assert result.returncode == 0, result.stderr
    assert (target / "models").is_dir()
    assert json.loads(result.stdout)["path"].startswith(str(target))


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs `unshare -n` (root or user namespaces)")
def test_works_without_network(home: Path) -> None:
    result = mingjing("ask", "--json", "--max-tokens", "4", "--temperature", "0", "Hello",
                      home=home, prefix=("unshare", "-n"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stats"]["completion_tokens"] == 4


# ------------------------------------------------------------------ knowledge base

KB_DOCS = REPO / "tests" / "data" / "kb_zh" / "docs"


def test_kb_add_search_list_remove(home: Path, tmp_path: Path) -> None:
    added = mingjing("kb", "add", "--kb", "资料", str(KB_DOCS), home=home)
    assert added.returncode == 0, added.stderr
    assert "10 indexed" in added.stderr and "0 failed" in added.stderr
    again = mingjing("kb", "add", "--kb", "资料", str(KB_DOCS), home=home)
    assert again.returncode == 0 and "10 unchanged" in again.stderr

    found = mingjing("kb", "search", "--kb", "资料", "--k", "3", "--json", "地铁末班车几点？",
                     home=home)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert len(hits) == 3
    for key in ("path", "text", "vector_score", "keyword_score", "rank", "matched_terms",
                "location"):
        assert key in hits[0]
    assert hits[0]["path"].endswith("subway_guide.md") and hits[0]["rank"] == 1
    plain = mingjing("kb", "search", "--kb", "资料", "地铁末班车几点？", home=home)
    assert "#1" in plain.stdout and "subway_guide.md" in plain.stdout

    listed = mingjing("kb", "list", home=home)
    assert "资料: 10 files" in listed.stdout
    files = mingjing("kb", "list", "--kb", "资料", home=home)
    assert files.stdout.count("indexed") == 10

    removed = mingjing("kb", "remove", "--kb", "资料", str(KB_DOCS / "subway_guide.md"),
                       home=home)
    assert removed.returncode == 0 and "removed 1 files" in removed.stderr
    refuse = mingjing("kb", "remove", "--kb", "资料", home=home)
    assert refuse.returncode == 2 and "--all" in refuse.stderr
    gone = mingjing("kb", "remove", "--kb", "资料", "--all", home=home)
    assert gone.returncode == 0
    assert "no knowledge base" in mingjing("kb", "list", home=home).stdout


def test_kb_add_reports_failures_with_exit_1(home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "ok.md").write_text("# 好\n正常的文件。", encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "fake.pdf").write_bytes(b"not a pdf at all")
    result = mingjing("kb", "add", str(folder), home=home)
    assert result.returncode == 1
    assert "1 indexed" in result.stderr and "2 failed" in result.stderr
    assert "empty.txt: empty" in result.stderr
    assert "fake.pdf:" in result.stderr and "Traceback" not in result.stderr


def test_kb_add_with_an_unusable_embedder_is_one_line(home: Path, tmp_path: Path) -> None:
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    (not_a_model / "readme.txt").write_text("nothing here", encoding="utf-8")
    for spec in (str(not_a_model), str(tmp_path / "missing"), "", "  "):
        result = mingjing("kb", "add", "--kb", "x", "--embedder", spec, str(KB_DOCS), home=home)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    listed = mingjing("kb", "list", home=home)
    assert listed.returncode == 0 and "x" not in listed.stdout.split()  # nothing half-made


def test_ask_with_kb_cites_sources(home: Path) -> None:
    assert mingjing("kb", "add", "--kb", "手册", str(KB_DOCS / "employee_handbook.md"),
                    home=home).returncode == 0
    result = mingjing("ask", "--kb", "手册", "--json", "--temperature", "0", "--max-tokens", "8",
                      "员工一年有几天带薪年假？", home=home)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["sources"] and out["sources"][0]["number"] == 1
    assert any("十五个工作日" in s["text"] for s in out["sources"])
    assert "<sources>" in out["prompt"] and "[1] employee_handbook.md" in out["prompt"]
    assert all("in_prompt" in row for row in out["retrieval"])
    text = mingjing("ask", "--kb", "手册", "--temperature", "0", "--max-tokens", "4",
                    "员工一年有几天带薪年假？", home=home)
    assert "Sources:" in text.stdout and "[1]" in text.stdout
    missing = mingjing("ask", "--kb", "不存在", "hi", home=home)
    assert missing.returncode == 2 and "no knowledge base" in missing.stderr  # as kb search


# ------------------------------------------------------------------ concept panel parity


def test_tokens_command(home: Path, completion_engine: object) -> None:
    text = "我今天吃了狮子头和蔬菜。"
    result = mingjing("tokens", "--json", text, home=home)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    expected = completion_engine.tokenize(text)  # type: ignore[attr-defined]
    assert out["count"] == len(expected) == 9
    assert [t["id"] for t in out["tokens"]] == expected
    assert "".join(t["piece"] for t in out["tokens"]) == text
    assert out["chars_per_token"] == pytest.approx(len(text) / 9, abs=1e-3)
    plain = mingjing("tokens", text, home=home)
    assert "今天 | 吃了" in plain.stdout and "9 tokens for 12 characters" in plain.stdout


def test_ask_json_context_map_and_candidates(home: Path) -> None:
    result = mingjing("ask", "--json", "--top-k", "4", "--temperature", "0", "--max-tokens", "3",
                      "--repeat-penalty", "1", "--system", "Notes:", "The capital of France is",
                      home=home)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    context = out["context"]
    segments = context["segments"]
    assert sum(s["tokens"] for s in segments) == context["n_ctx"]
    prompt = [s for s in segments if s["kind"] not in ("reserve", "free")]
    assert sum(s["tokens"] for s in prompt) == out["stats"]["prompt_tokens"]
    assert [s["kind"] for s in segments] == ["system", "message", "reserve", "free"]
    steps = out["tokens"]
    assert len(steps) == 3
    for step in steps:
        assert len(step["candidates"]) == 4
        assert step["candidates"][0]["id"] == step["id"]  # greedy: the top candidate
        assert step["candidates"][0]["p_at_temperature"] == 1.0
