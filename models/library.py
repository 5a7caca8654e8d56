"""The models on this computer, in one list: the built-in ones, the files downloaded into the
models folder, the files the user opened, and models found in other apps' folders (LM
Studio, GPT4All, Jan, Ollama's blobs), which can be used where they are, without copying.

Scanning other apps' folders is bounded (depth, files, time): they are not ours and may be
large or odd (links, mounts)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from models.builtin import BUILTIN_MODELS
from models.refs import ModelRef

log = logging.getLogger(__name__)

MAX_DEPTH = 6
MAX_FILES = 5000  # entries looked at per app folder
MAX_SCAN_S = 2.0
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True, slots=True)
class LibraryItem:
    ref: ModelRef
    name: str
    path: Path | None  # None: a built-in model not assembled yet
    size: int
    origin: str  # builtin | downloaded | opened | lmstudio | gpt4all | jan | ollama
    last_used: float | None = None  # seconds since the epoch
    quantization: str = ""  # from the GGUF's header ("" when it cannot be read)

    @property
    def deletable(self) -> bool:
        """Only files we downloaded are ever deleted; other apps' files and the user's
        own are only taken off the list."""
        return self.origin == "downloaded"


def library(models_dir: Path, opened: list[str], last_used: dict[str, float] | None = None,
            *, other_apps: bool = True) -> list[LibraryItem]:
    """Every model here, built-in first, then by last use (newest first)."""
    used = last_used or {}
    items: list[LibraryItem] = []
    builtin_files = {m.file_name for m in BUILTIN_MODELS}
    for model in BUILTIN_MODELS:
        ref = ModelRef.builtin(model)
        path = models_dir / model.file_name
        items.append(LibraryItem(ref, model.label, path if path.exists() else None,
                                 model.size, "builtin", used.get(str(ref))))
    seen: set[str] = set()
    for path in sorted(models_dir.glob("*.gguf")) if models_dir.is_dir() else []:
        if path.name in builtin_files or not path.is_file():
            continue
        ref = ModelRef.file(path)
        seen.add(ref.value)
        items.append(LibraryItem(ref, path.name, path, _size(path), "downloaded",
                                 used.get(str(ref))))
    for text in opened:
        try:
            ref = ModelRef.parse(text)
        except (ValueError, OSError):
            continue
        if ref.kind != "file" or ref.value in seen:
            continue
        seen.add(ref.value)
        path = Path(ref.value)
        items.append(LibraryItem(ref, path.name, path, _size(path), "opened",
                                 used.get(str(ref))))
    if other_apps:
        for item in found_in_other_apps():
            if item.ref.value not in seen:
                seen.add(item.ref.value)
                items.append(item)
    items = [_with_quantization(i, n) for n, i in enumerate(items)]
    head = [i for i in items if i.origin == "builtin"]
    rest = sorted((i for i in items if i.origin != "builtin"),
                  key=lambda i: (-(i.last_used or 0.0), i.name.lower()))
    return head + rest


MAX_HEADERS = 300  # GGUF headers read per listing (each a few milliseconds)


def _with_quantization(item: LibraryItem, index: int) -> LibraryItem:
    from dataclasses import replace

    from engine.errors import EngineError
    from engine.gguf import read_model_info
    from models.builtin import get_builtin

    if item.origin == "builtin":
        return replace(item, quantization=get_builtin(item.ref.value).quantization)
    if item.path is None or index >= MAX_HEADERS:
        return item
    try:
        return replace(item, quantization=read_model_info(item.path).quantization)
    except (EngineError, OSError, ValueError):
        return item


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def other_app_folders(home: Path | None = None) -> dict[str, list[Path]]:
    """Where LM Studio, GPT4All, Jan and Ollama keep models, on this system."""
    home = home or Path.home()
    if sys.platform == "darwin":
        support = home / "Library" / "Application Support"
        gpt4all, jan = [support / "nomic.ai" / "GPT4All"], [support / "Jan" / "data" / "models"]
    elif sys.platform == "win32":
        local = Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local"))
        roaming = Path(os.environ.get("APPDATA", home / "AppData" / "Roaming"))
        gpt4all = [local / "nomic.ai" / "GPT4All"]
        jan = [roaming / "Jan" / "data" / "models"]
    else:
        data = Path(os.environ.get("XDG_DATA_HOME", home / ".local" / "share"))
        gpt4all, jan = [data / "nomic.ai" / "GPT4All"], [data / "Jan" / "data" / "models"]
    return {
        "lmstudio": [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"],
        "gpt4all": gpt4all,
        "jan": [*jan, home / "jan" / "models"],
        "ollama": [Path(os.environ.get("OLLAMA_MODELS", home / ".ollama" / "models"))],
    }


def found_in_other_apps(home: Path | None = None) -> list[LibraryItem]:
    """GGUF models in other apps' folders (Ollama's by their manifests' names)."""
    found: list[LibraryItem] = []
    for app, folders in other_app_folders(home).items():
        for folder in folders:
            try:
                if not folder.is_dir():
                    continue
                if app == "ollama":
                    found.extend(_ollama(folder))
                else:
                    found.extend(LibraryItem(ModelRef.file(p), p.name, p, _size(p), app)
                                 for p in _ggufs(folder))
            except OSError as exc:
                log.info("could not look into %s: %s", folder, exc)
    return found


def _ggufs(root: Path) -> Iterator[Path]:
    """*.gguf files under `root`, bounded in depth, count and time; links not followed."""
    deadline = time.monotonic() + MAX_SCAN_S
    looked = 0
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            looked += 1
            if looked > MAX_FILES or time.monotonic() > deadline:
                log.info("stopped looking into %s (too many files)", root)
                return
            try:
                if entry.is_dir(follow_symlinks=False) and depth < MAX_DEPTH:
                    stack.append((Path(entry.path), depth + 1))
                elif entry.is_file(follow_symlinks=False) and \
                        entry.name.lower().endswith(".gguf"):
                    yield Path(entry.path)
            except OSError:
                continue


def _ollama(root: Path) -> Iterator[LibraryItem]:
    """Ollama's models: manifests/<registry>/<namespace>/<name>/<tag> name a model layer,
    a GGUF file kept as blobs/sha256-<digest>."""
    manifests = root / "manifests"
    count = 0
    for manifest in sorted(manifests.glob("*/*/*/*")) if manifests.is_dir() else []:
        count += 1
        if count > MAX_FILES:
            return
        try:
            if not manifest.is_file() or manifest.stat().st_size > 1 << 20:
                continue
            data = json.loads(manifest.read_text(encoding="utf-8"))
            layer = next(layer for layer in data.get("layers", [])
                         if layer.get("mediaType") == "application/vnd.ollama.image.model")
            digest = str(layer["digest"]).replace(":", "-")
            blob = root / "blobs" / digest
            with blob.open("rb") as f:
                if f.read(4) != GGUF_MAGIC:
                    continue
        except (OSError, ValueError, StopIteration, KeyError, TypeError, AttributeError):
            continue
        namespace, name, tag = manifest.parts[-3], manifest.parts[-2], manifest.parts[-1]
        shown = f"{name}:{tag}" if namespace == "library" else f"{namespace}/{name}:{tag}"
        yield LibraryItem(ModelRef.file(blob), shown, blob, _size(blob), "ollama")
