"""The library: built-in, downloaded and opened models, and other apps' models found where
they are (LM Studio, GPT4All, Jan, Ollama's blobs named by their manifests)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from models.library import found_in_other_apps, library
from models.refs import ModelRef


@pytest.fixture
def home(tmp_path: Path, default_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "user"
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.delenv("OLLAMA_MODELS", raising=False)
    lms = home / ".lmstudio" / "models" / "lmstudio-community" / "Gemma-GGUF"
    gpt = home / ".local" / "share" / "nomic.ai" / "GPT4All"
    jan = home / "jan" / "models" / "gemma"
    blobs = home / ".ollama" / "models" / "blobs"
    for folder in (lms, gpt, jan, blobs):
        folder.mkdir(parents=True)
    os.link(default_model_path, lms / "gemma-lms.gguf")
    os.link(default_model_path, gpt / "gemma-gpt4all.gguf")
    os.link(default_model_path, jan / "model.gguf")
    (gpt / "notes.txt").write_text("not a model")
    digest = "ab" * 32
    os.link(default_model_path, blobs / f"sha256-{digest}")
    (blobs / f"sha256-{'cd' * 32}").write_bytes(b"not a gguf at all")
    manifests = home / ".ollama" / "models" / "manifests" / "registry.ollama.ai" / "library"
    for name, tag, d in (("gemma3", "270m", digest), ("broken", "latest", "cd" * 32)):
        (manifests / name).mkdir(parents=True)
        (manifests / name / tag).write_text(json.dumps({"layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{d}"}]}))
    # A loop of links must not trap the scan.
    os.symlink(home / ".lmstudio", lms / "loop")
    return home


def test_other_apps_models_are_found_where_they_are(home: Path) -> None:
    found = {(i.origin, i.name) for i in found_in_other_apps(home)}
    assert found == {("lmstudio", "gemma-lms.gguf"), ("gpt4all", "gemma-gpt4all.gguf"),
                     ("jan", "model.gguf"), ("ollama", "gemma3:270m")}
    ollama = next(i for i in found_in_other_apps(home) if i.origin == "ollama")
    assert ollama.path is not None and ollama.path.name.startswith("sha256-")
    assert not ollama.deletable  # another app's file: never ours to delete


def test_the_library_lists_builtin_downloaded_opened_then_by_last_use(
        tmp_path: Path, home: Path, default_model_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    models = tmp_path / "models"
    models.mkdir()
    os.link(default_model_path, models / "downloaded-q4_k_m.gguf")
    opened = tmp_path / "mine.gguf"
    os.link(default_model_path, opened)
    opened_ref = str(ModelRef.file(opened))
    used = {opened_ref: 200.0, str(ModelRef.file(models / "downloaded-q4_k_m.gguf")): 100.0}
    items = library(models, [opened_ref, "file:/nonexistent/x.gguf"], used)
    origins = [i.origin for i in items]
    assert origins[:2] == ["builtin", "builtin"]
    assert [i.name for i in items[2:4]] == ["mine.gguf", "downloaded-q4_k_m.gguf"]
    assert items[3].deletable and not items[2].deletable
    assert {"lmstudio", "gpt4all", "jan", "ollama"} <= set(origins)
    assert items[0].quantization == "Q4_K_M" and items[2].quantization == "Q4_K_M"
