"""The shipped catalog is well formed, searchable in both languages, and replaced by a newer
one fetched from a real HTTP server on 127.0.0.1 (an older or malformed one is refused)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from models.catalog import SHIPPED, CatalogError, load_catalog, parse_catalog, update_catalog
from tests.http_files import Behaviour, file_server


def shipped_json() -> dict[str, Any]:
    data = json.loads(SHIPPED.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_shipped_catalog() -> None:
    catalog = load_catalog()
    assert len(catalog.entries) >= 8
    for entry in catalog.entries:
        assert entry.sha256 is not None  # every shipped file can be verified
        assert entry.size > 100_000_000 and entry.file.endswith(".gguf")
        assert entry.description.get("zh") and entry.description.get("en")
        assert 4096 <= entry.kv_per_token <= 512 * 1024
    sizes = {e.parameters.split()[0] for e in catalog.entries}
    assert {"0.5B", "1.5B", "7B"} <= sizes  # several sizes
    assert any("zh" in e.languages for e in catalog.entries)
    assert catalog.get("qwen2.5-1.5b-instruct-q4_k_m").modelscope_repo  # reachable from China
    assert {e.id for e in catalog.search("qwen 7b")} == {
        "qwen2.5-7b-instruct-q4_k_m", "deepseek-r1-distill-qwen-7b-q4_k_m"}  # not 1.7b
    assert catalog.search("通义千问")  # the Chinese descriptions are searched too
    with pytest.raises(CatalogError, match="no model 'nope'"):
        catalog.get("nope")


@pytest.mark.parametrize("change", [
    lambda m: m.update(sha256="xyz"),
    lambda m: m.update(file="../../etc/passwd"),
    lambda m: m.update(file="model.bin"),
    lambda m: m.update(size=-1),
    lambda m: m.update(size=True),
    lambda m: m.update(kind="instruct"),
    lambda m: m.update(hf_repo="no slash", modelscope_repo=None),
    lambda m: m.update(hf_repo=None, modelscope_repo=None),
    lambda m: m.pop("kv_per_token"),
    lambda m: m.update(description="text"),
    lambda m: m.update(name=""),
])
def test_malformed_entries_are_refused(change: Any) -> None:
    data = shipped_json()
    change(data["models"][0])
    with pytest.raises(CatalogError, match="model #1 is malformed"):
        parse_catalog(data, "test")


def test_a_newer_catalog_is_fetched_and_kept(tmp_path: Path) -> None:
    newer = copy.deepcopy(shipped_json())
    newer["version"] += 1
    newer["models"] = newer["models"][:2]
    older = copy.deepcopy(shipped_json())
    older["version"] = 0 if older["version"] > 1 else older["version"]
    b = Behaviour(files={"/new.json": json.dumps(newer).encode(),
                         "/broken.json": b"{not json", "/bad.json": b'{"version": 9}'})
    with file_server(b) as url:
        catalog = update_catalog(f"{url}/new.json", tmp_path)
        assert catalog.version == newer["version"] and len(catalog.entries) == 2
        assert load_catalog(tmp_path).version == newer["version"]
        with pytest.raises(CatalogError, match="not JSON"):
            update_catalog(f"{url}/broken.json", tmp_path)
        with pytest.raises(CatalogError, match="not a model catalog"):
            update_catalog(f"{url}/bad.json", tmp_path)
        with pytest.raises(CatalogError, match="HTTP 404"):
            update_catalog(f"{url}/missing.json", tmp_path)
    assert load_catalog(tmp_path).version == newer["version"]  # nothing bad was kept
    with pytest.raises(CatalogError, match="offline"):
        update_catalog("http://127.0.0.1:9/catalog.json", tmp_path, timeout=2)
    # A damaged file in the data folder: the shipped catalog is used.
    (tmp_path / "catalog.json").write_text("garbage", encoding="utf-8")
    assert load_catalog(tmp_path).origin == "shipped"
