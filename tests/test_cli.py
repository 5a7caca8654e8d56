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


def test_first_use_assembles_default_model(tmp_path: Path) -> None:
    result = mingjing("model", "info", "--json", home=tmp_path / "fresh")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["architecture"] == "gemma3"
    assert info["has_chat_template"] is False
    assert Path(info["path"]).parent == tmp_path / "fresh" / "models"


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
