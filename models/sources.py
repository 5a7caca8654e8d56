"""Where a catalog model's file can be downloaded from: Hugging Face, a Hugging Face mirror
(hf-mirror.com by default, or the `HF_ENDPOINT` the user set), and ModelScope, in the order
the user chose (Settings) or, automatically, by where they are: a Chinese locale tries
ModelScope and the mirror first. A token for gated models goes to Hugging Face's own host
only, never to a mirror or to ModelScope."""

from __future__ import annotations

import locale
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from models.download import Request, Source

if TYPE_CHECKING:
    from models.catalog import CatalogEntry

SOURCE_NAMES = ("hf", "mirror", "modelscope")
SOURCE_CHOICES = ("auto", *SOURCE_NAMES)
HF_ENDPOINT = "https://huggingface.co"
MIRROR_ENDPOINT = "https://hf-mirror.com"
MODELSCOPE_ENDPOINT = "https://www.modelscope.cn"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The hosts of the three sources (tests point them at 127.0.0.1)."""

    hf: str = HF_ENDPOINT
    mirror: str = MIRROR_ENDPOINT
    modelscope: str = MODELSCOPE_ENDPOINT

    @classmethod
    def from_environment(cls, mirror: str | None = None) -> Endpoints:
        """`mirror` from Settings; else HF_ENDPOINT when it names a mirror (the variable
        huggingface_hub and most tools read), else hf-mirror.com."""
        env = os.environ.get("HF_ENDPOINT", "").strip().rstrip("/")
        chosen = (mirror or "").strip().rstrip("/") or (
            env if env and _host(env) != _host(HF_ENDPOINT) else MIRROR_ENDPOINT)
        # Hugging Face's and ModelScope's own addresses, replaceable for a proxy (and tests)
        hub = os.environ.get("MINGJING_HF_ENDPOINT", "").strip().rstrip("/") or HF_ENDPOINT
        scope = os.environ.get("MINGJING_MODELSCOPE_ENDPOINT", "").strip().rstrip("/") \
            or MODELSCOPE_ENDPOINT
        return cls(hf=hub, mirror=chosen, modelscope=scope)


def _host(url: str) -> str:
    return urlsplit(url).netloc.lower()


def source_order(choice: str, language: str | None = None) -> tuple[str, ...]:
    """The sources to try, first to last. `choice`: auto, hf, mirror or modelscope (that one
    first, the others after it as fallbacks)."""
    if choice in SOURCE_NAMES:
        return (choice, *(s for s in SOURCE_NAMES if s != choice))
    lang = language if language is not None else (locale.getlocale()[0] or "")
    if lang.lower().replace("-", "_").startswith("zh"):
        return ("modelscope", "mirror", "hf")
    return ("hf", "mirror", "modelscope")


def file_sources(hf_repo: str | None, modelscope_repo: str | None, file: str,
                 order: Sequence[str], endpoints: Endpoints | None = None, *,
                 hf_token: str | None = None) -> list[Source]:
    """The download URLs of `file`, in `order`, each with its token (Hugging Face's own host
    only)."""
    ep = endpoints or Endpoints()
    name = quote(file)
    sources = []
    for which in order:
        if which == "hf" and hf_repo:
            sources.append(Source("hf", f"{ep.hf}/{hf_repo}/resolve/main/{name}",
                                  hf_token or None))
        elif which == "mirror" and hf_repo:
            sources.append(Source("mirror", f"{ep.mirror}/{hf_repo}/resolve/main/{name}"))
        elif which == "modelscope" and modelscope_repo:
            sources.append(Source("modelscope",
                                  f"{ep.modelscope}/models/{modelscope_repo}/resolve/master/"
                                  f"{name}"))
    return sources


def catalog_request(entry: CatalogEntry, choice: str, mirror: str = "", hf_token: str = "",
                    language: str | None = None) -> Request:
    """The download of a catalog entry: its file from every source that has it, in the
    order `choice` (Settings' download source) gives, with its published size and sha256."""
    sources = file_sources(entry.hf_repo, entry.modelscope_repo, entry.file,
                           source_order(choice, language), Endpoints.from_environment(mirror),
                           hf_token=hf_token or None)
    return Request(entry.file, sources, size=entry.size, sha256=entry.sha256)


def first_endpoint(choice: str, mirror: str = "", language: str | None = None) -> str:
    """The host tried first for `choice` (the window checks it is reachable)."""
    endpoints = Endpoints.from_environment(mirror)
    return {"hf": endpoints.hf, "mirror": endpoints.mirror,
            "modelscope": endpoints.modelscope}[source_order(choice, language)[0]]
