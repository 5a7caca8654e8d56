"""Model references, the built-in registry and its assembly, and settings from earlier
versions (a path or null for the model) migrating to references."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from app.settings import Settings, load_settings, save_settings
from models.builtin import (
    BUILTIN_MODELS,
    GEMMA,
    QWEN,
    BuiltinModelError,
    UnknownModelError,
    ensure_builtin,
    get_builtin,
    part_paths,
)
from models.refs import DEFAULT_REF, ModelRef, parse_or_default


def test_references_round_trip(tmp_path: Path) -> None:
    assert str(ModelRef.builtin(QWEN)) == "builtin:qwen2.5-coder-0.5b-instruct"
    assert ModelRef.parse("builtin:gemma-3-270m") == ModelRef.builtin(GEMMA)
    assert ModelRef.parse("gemma-3-270m") == ModelRef.builtin(GEMMA)  # a bare built-in id
    model = tmp_path / "模型" / "a b.gguf"
    ref = ModelRef.parse(str(model))
    assert ref == ModelRef("file", str(model.resolve())) == ModelRef.parse(f"file:{model}")
    assert ModelRef.parse(str(ref)) == ref and ref.display_name == "a b.gguf"
    with pytest.raises(UnknownModelError, match="no built-in model named 'nope'"):
        ModelRef.parse("builtin:nope")
    assert parse_or_default("builtin:nope") == DEFAULT_REF
    assert parse_or_default(None) == parse_or_default("") == DEFAULT_REF
    assert DEFAULT_REF.builtin_model is QWEN and QWEN.is_chat and not GEMMA.is_chat


def test_registry_parts_are_installed_and_sized() -> None:
    for model in BUILTIN_MODELS:
        paths = part_paths(model)
        assert len(paths) == len(model.parts)
        assert sum(p.stat().st_size for p in paths) == model.size
        assert get_builtin(model.id) is model


def test_old_settings_migrate_to_references(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    # Never chose a model (null meant the built-in of its day): today's default, the chat model.
    path.write_text(json.dumps({"model_path": None, "recent_models": ["/m/a.gguf"],
                                "temperature_ignored": 1}))
    settings = load_settings(path)
    assert settings.model_ref == DEFAULT_REF
    assert settings.recent_models == [f"file:{Path('/m/a.gguf').resolve()}"]
    # An explicit file stays the user's choice.
    path.write_text(json.dumps({"model_path": "/m/b.gguf"}))
    assert load_settings(path).model == f"file:{Path('/m/b.gguf').resolve()}"
    # Saved again: only the new key.
    save_settings(load_settings(path), path)
    data = json.loads(path.read_text())
    assert "model_path" not in data and data["model"].startswith("file:")
    # A reference to a built-in model this version does not ship falls back to the default.
    path.write_text(json.dumps({"model": "builtin:retired-model"}))
    assert load_settings(path).model_ref == DEFAULT_REF


def test_choosing_models_keeps_recent_files() -> None:
    settings = Settings()
    settings.choose_model(ModelRef.file("/m/x.gguf"))
    settings.choose_model(ModelRef.builtin(GEMMA))
    settings.choose_model(ModelRef.file("/m/y.gguf"))
    settings.choose_model(ModelRef.file("/m/x.gguf"))
    assert settings.model_ref == ModelRef.file("/m/x.gguf")
    assert [ModelRef.parse(r).display_name for r in settings.recent_models] == ["x.gguf",
                                                                                 "y.gguf"]


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[object, Path]:
    """A two-part model in two importable packages, like the real chunk packages."""
    site = tmp_path / "site"
    data = b""
    for i, chunk in enumerate((b"GGUF" + b"a" * 1000, b"b" * 777)):
        package = site / f"fake_model_part{i}" / "data"
        package.mkdir(parents=True)
        (package.parent / "__init__.py").write_text("")
        (package / f"part{i}.bin").write_bytes(chunk)
        data += chunk
    monkeypatch.syspath_prepend(str(site))
    model = replace(QWEN, id="fake", file_name="fake.gguf", size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                    parts=(("fake_model_part0", "data/part0.bin"),
                           ("fake_model_part1", "data/part1.bin")))
    return model, site


def test_assembly_checks_the_hash_and_writes_atomically(
        fake_model: tuple[object, Path], tmp_path: Path) -> None:
    model, site = fake_model
    target = ensure_builtin(model, tmp_path / "models")  # type: ignore[arg-type]
    assert target.read_bytes().startswith(b"GGUF") and target.stat().st_size == 1781
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["fake.gguf"]
    # A part damaged after installation (same size, other bytes): refused, nothing left.
    target.unlink()
    (site / "fake_model_part1" / "data" / "part1.bin").write_bytes(b"c" * 777)
    with pytest.raises(BuiltinModelError, match="sha256"):
        ensure_builtin(model, tmp_path / "models")  # type: ignore[arg-type]
    assert list((tmp_path / "models").iterdir()) == []
    # A part of the wrong size: named, with the packages to reinstall.
    (site / "fake_model_part1" / "data" / "part1.bin").write_bytes(b"c")
    with pytest.raises(BuiltinModelError, match="expected 1,781"):
        ensure_builtin(model, tmp_path / "models")  # type: ignore[arg-type]


def test_a_missing_package_is_one_line(fake_model: tuple[object, Path],
                                       tmp_path: Path) -> None:
    model, _site = fake_model
    missing = replace(model, parts=(("no_such_model_part", "data/x.bin"),))  # type: ignore[type-var]
    with pytest.raises(BuiltinModelError, match="no_such_model_part is not installed"):
        ensure_builtin(missing, tmp_path / "models")
    assert sys.modules.get("no_such_model_part") is None
