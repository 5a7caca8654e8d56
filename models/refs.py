"""A model is named by a reference, never by None or a bare path: `builtin:ID` for a
built-in model, `file:PATH` for a GGUF file the user opened, `remote:URL#MODEL` for a model
on an OpenAI-compatible server (its API key is kept apart, never in the reference).
Settings, conversations and the command line store and accept these strings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from models.builtin import (
    BUILTIN_MODELS,
    DEFAULT_BUILTIN,
    BuiltinModel,
    BuiltinModelError,
    get_builtin,
)

RefKind = Literal["builtin", "file", "remote"]


@dataclass(frozen=True, slots=True)
class ModelRef:
    kind: RefKind
    value: str  # a built-in id, an absolute file path, or URL#MODEL

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    @classmethod
    def builtin(cls, model: BuiltinModel | str) -> ModelRef:
        return cls("builtin", model if isinstance(model, str) else model.id)

    @classmethod
    def file(cls, path: str | Path) -> ModelRef:
        return cls("file", str(Path(path).expanduser().resolve()))

    @classmethod
    def remote(cls, url: str, model: str = "") -> ModelRef:
        return cls("remote", f"{url.strip().rstrip('/')}#{model}")

    @property
    def remote_parts(self) -> tuple[str, str]:
        """(server URL, model name; "" for the server's first model) of a remote reference."""
        url, _, model = self.value.partition("#")
        return url, model

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """`builtin:ID`, `file:PATH`, a bare built-in id, or a file path."""
        text = text.strip()
        kind, sep, value = text.partition(":")
        if sep and kind == "builtin":
            return cls.builtin(get_builtin(value).id)  # unknown ids raise here
        if sep and kind == "file" and value:
            return cls.file(value)
        if sep and kind == "remote" and value.startswith(("http://", "https://")):
            url, _, model = value.partition("#")
            return cls.remote(url, model)
        if any(m.id == text for m in BUILTIN_MODELS):
            return cls.builtin(text)
        return cls.file(text)

    @property
    def builtin_model(self) -> BuiltinModel | None:
        return get_builtin(self.value) if self.kind == "builtin" else None

    @property
    def display_name(self) -> str:
        model = self.builtin_model
        if model is not None:
            return model.label
        if self.kind == "remote":
            url, name = self.remote_parts
            return f"{name or 'model'} @ {url}"
        return Path(self.value).name


DEFAULT_REF = ModelRef.builtin(DEFAULT_BUILTIN)


def parse_or_default(text: object) -> ModelRef:
    """A stored reference, or the default when it is missing or no longer valid (a
    built-in id that this version does not ship)."""
    if isinstance(text, str) and text.strip():
        try:
            return ModelRef.parse(text)
        except (BuiltinModelError, ValueError, OSError):  # an unknown built-in id, or not
            return DEFAULT_REF  # a path at all (a NUL byte): fall back, start anyway
    return DEFAULT_REF
