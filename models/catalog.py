"""The catalog of models to download: shipped with the app (models/catalog.json) and
updatable without a new release (a newer catalog fetched when online is kept in the data
folder). Every entry names one GGUF file with its published size and sha256, what the model
is (parameters, quantization, context, chat or base, languages) and one line about it in
both UI languages, and the numbers the fit check needs (KV cache bytes per token)."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import EngineError

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).with_name("catalog.json")
CATALOG_FILE = "catalog.json"  # a newer catalog, in the data folder
MAX_CATALOG_BYTES = 4 << 20
_SHA = re.compile(r"[0-9a-f]{64}")
_FILE = re.compile(r"[^/\\\0]+\.gguf")
_REPO = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


class CatalogError(EngineError):
    pass


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    id: str
    name: str
    hf_repo: str | None
    modelscope_repo: str | None
    file: str
    size: int
    sha256: str | None  # None: not published; then the download cannot be verified
    licence: str
    parameters: str
    quantization: str
    context_length: int
    kind: str  # "chat" (instruction-tuned) or "base"
    languages: tuple[str, ...]
    description: dict[str, str]  # by UI language: "en", "zh"
    kv_per_token: int  # bytes of f16 K and V cache per token of context

    def describe(self, language: str) -> str:
        key = "zh" if language.lower().startswith("zh") else "en"
        return self.description.get(key) or self.description.get("en", "")

    def matches(self, query: str) -> bool:
        """Every word of `query` starts a word of the entry ("7b" is not "1.7b"); Chinese,
        written without spaces, matches anywhere."""
        text = " ".join((self.id, self.name, self.parameters, self.quantization, self.kind,
                         *self.languages, *self.description.values())).lower()
        words = re.findall(r"[a-z0-9.]+", text.replace("_", " ").replace("-", " "))
        for part in query.lower().split():
            if re.search(r"[\u3000-\u9fff]", part):
                if part not in text:
                    return False
            elif not any(w.startswith(part) for w in words):
                return False
        return True


@dataclass(frozen=True, slots=True)
class Catalog:
    version: int
    updated: str
    entries: tuple[CatalogEntry, ...]
    origin: str  # "shipped" or the data folder's file

    def get(self, name: str) -> CatalogEntry:
        """An entry by id (or by file name)."""
        for entry in self.entries:
            if name in (entry.id, entry.file):
                return entry
        known = ", ".join(e.id for e in self.entries[:8])
        raise CatalogError(f"no model {name!r} in the catalog (for example: {known}; "
                           "`mingjing models search` lists them)")

    def search(self, query: str) -> list[CatalogEntry]:
        return [e for e in self.entries if e.matches(query)] if query.strip() \
            else list(self.entries)


def parse_catalog(data: Any, origin: str) -> Catalog:
    """A catalog from its JSON; CatalogError (one line) for anything malformed."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise CatalogError(f"{origin}: not a model catalog")
    version = data.get("version")
    if not isinstance(version, int) or version < 1:
        raise CatalogError(f"{origin}: the catalog has no version")
    entries = []
    seen = set()
    for i, item in enumerate(data["models"]):
        try:
            entry = _entry(item)
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(f"{origin}: model #{i + 1} is malformed ({exc})") from None
        if entry.id in seen:
            raise CatalogError(f"{origin}: model {entry.id!r} appears twice")
        seen.add(entry.id)
        entries.append(entry)
    return Catalog(version, str(data.get("updated", "")), tuple(entries), origin)


def _entry(item: dict[str, Any]) -> CatalogEntry:
    def text(key: str) -> str:
        value = item[key]
        if not isinstance(value, str) or not value.strip() or len(value) > 300:
            raise ValueError(f"{key} is not a short text")
        return value

    def whole(key: str, low: int = 1) -> int:
        value = item[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{key} is not a whole number")
        return value

    file = text("file")
    if not _FILE.fullmatch(file) or file in (".gguf",):
        raise ValueError("file is not a .gguf file name")
    sha = item.get("sha256")
    if sha is not None and (not isinstance(sha, str) or not _SHA.fullmatch(sha)):
        raise ValueError("sha256 is not 64 hex digits")
    repos = {}
    for key in ("hf_repo", "modelscope_repo"):
        value = item.get(key)
        if value is not None and (not isinstance(value, str) or not _REPO.fullmatch(value)):
            raise ValueError(f"{key} is not owner/name")
        repos[key] = value
    if not repos["hf_repo"] and not repos["modelscope_repo"]:
        raise ValueError("no repository to download from")
    kind = text("kind")
    if kind not in ("chat", "base"):
        raise ValueError("kind is neither chat nor base")
    languages = item.get("languages", [])
    description = item.get("description", {})
    if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
        raise ValueError("languages is not a list of texts")
    if not isinstance(description, dict) or not isinstance(description.get("en"), str):
        raise ValueError("description has no English line")
    return CatalogEntry(
        id=text("id"), name=text("name"), hf_repo=repos["hf_repo"],
        modelscope_repo=repos["modelscope_repo"], file=file, size=whole("size"), sha256=sha,
        licence=text("licence"), parameters=text("parameters"),
        quantization=text("quantization"), context_length=whole("context_length"),
        kind=kind, languages=tuple(languages),
        description={k: str(v) for k, v in description.items() if k in ("en", "zh")},
        kv_per_token=whole("kv_per_token"))


def load_catalog(data_dir: Path | None = None) -> Catalog:
    """The newest usable catalog: the data folder's (fetched by `update_catalog`) when it is
    at least as new as the shipped one, else the shipped one."""
    shipped = parse_catalog(json.loads(SHIPPED.read_text(encoding="utf-8")), "shipped")
    if data_dir is None:
        return shipped
    path = data_dir / CATALOG_FILE
    try:
        if path.stat().st_size > MAX_CATALOG_BYTES:
            raise CatalogError(f"{path}: larger than a catalog can be")
        newer = parse_catalog(json.loads(path.read_text(encoding="utf-8")), str(path))
    except FileNotFoundError:
        return shipped
    except (OSError, ValueError, CatalogError) as exc:
        log.warning("ignoring the downloaded catalog: %s", exc)
        return shipped
    return newer if newer.version >= shipped.version else shipped


def update_catalog(url: str, data_dir: Path, *, timeout: float = 15.0) -> Catalog:
    """Fetch a catalog from `url`, check it and keep it in the data folder (atomically) if
    it is newer than what is used now. CatalogError (one line) when offline or malformed."""
    import httpx

    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        raise CatalogError(f"could not fetch the catalog (offline?): "
                           f"{exc.__class__.__name__}") from exc
    if response.status_code != 200:
        raise CatalogError(f"could not fetch the catalog: HTTP {response.status_code}")
    if len(response.content) > MAX_CATALOG_BYTES:
        raise CatalogError("the fetched catalog is larger than a catalog can be")
    try:
        fetched = parse_catalog(response.json(), url)
    except ValueError as exc:
        raise CatalogError(f"{url}: not JSON") from exc
    current = load_catalog(data_dir)
    if fetched.version < current.version:
        return current
    tmp = data_dir / (CATALOG_FILE + ".tmp")
    tmp.write_bytes(response.content)
    os.replace(tmp, data_dir / CATALOG_FILE)
    return load_catalog(data_dir)
