"""Shared fixtures: the real embedded model (assembled once), loaded engines, a temp data dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the real user's data folder from a test."""
    home = tmp_path / "mingjing-home"
    monkeypatch.setenv("MINGJING_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def zh_dir(tmp_path: Path) -> Path:
    """An empty folder whose path has Chinese characters and a space in it."""
    folder = tmp_path / "资料库" / "中文 文件夹"
    folder.mkdir(parents=True)
    return folder


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def default_model_path(models_dir: Path) -> Path:
    """The real built-in base model (Gemma 3 270M, Q4_K_M), assembled once per session:
    small and fast, for everything that is not about chatting."""
    from models.builtin import GEMMA, ensure_builtin

    return ensure_builtin(GEMMA, models_dir)


@pytest.fixture(scope="session")
def chat_model_path(models_dir: Path) -> Path:
    """The real built-in chat model (Qwen2.5-Coder 0.5B Instruct, Q4_K_M, ChatML)."""
    from models.builtin import QWEN, ensure_builtin

    return ensure_builtin(QWEN, models_dir)


@pytest.fixture(scope="session")
def qwen_engine(chat_model_path: Path) -> Iterator[object]:
    """The chat model loaded once, with its own ChatML template."""
    from engine.runtime import Engine
    from engine.types import LoadParams

    engine = Engine.load(chat_model_path, LoadParams(n_ctx=4096, n_threads=os.cpu_count() or 2))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def completion_engine(default_model_path: Path) -> Iterator[object]:
    """The default model as shipped: a base model, so plain continuation."""
    from engine.runtime import Engine
    from engine.types import LoadParams

    engine = Engine.load(default_model_path, LoadParams(n_ctx=2048, n_threads=os.cpu_count() or 2))
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def chat_engine(default_model_path: Path) -> Iterator[object]:
    """The same real model driven with Gemma's own turn format, chosen explicitly."""
    from engine.runtime import Engine
    from engine.types import LoadParams

    engine = Engine.load(
        default_model_path, LoadParams(n_ctx=1024, n_threads=os.cpu_count() or 2), template="gemma"
    )
    yield engine
    engine.close()
