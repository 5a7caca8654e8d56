"""User settings, stored as JSON in the data folder (plain Python: the CLI reads them too)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.types import LoadParams, SamplingParams, default_threads
from models.refs import DEFAULT_REF, ModelRef, parse_or_default

log = logging.getLogger(__name__)

MAX_RECENT_MODELS = 10
TEMPLATE_CHOICES = ("auto", "completion", "gemma", "chatml")


@dataclass
class Settings:
    model: str = str(DEFAULT_REF)  # a model reference: builtin:ID or file:PATH
    recent_models: list[str] = field(default_factory=list)  # file references, newest first
    system_prompt: str = ""
    sampling: SamplingParams = field(default_factory=SamplingParams)
    n_ctx: int = 4096
    n_threads: int = field(default_factory=default_threads)
    n_gpu_layers: int = 0
    chat_template: str = "auto"  # auto | completion | gemma | chatml
    language: str = "auto"
    concept_panel: bool = True  # the panel beside the chat is shown

    def load_params(self) -> LoadParams:
        return LoadParams(
            n_ctx=self.n_ctx, n_threads=self.n_threads, n_gpu_layers=self.n_gpu_layers
        )

    def template_arg(self) -> str | None:
        return None if self.chat_template == "auto" else self.chat_template

    @property
    def model_ref(self) -> ModelRef:
        return parse_or_default(self.model)

    def choose_model(self, ref: ModelRef) -> None:
        """Make `ref` the model to open; files join the recent list."""
        self.model = str(ref)
        if ref.kind == "file":
            text = str(ref)
            self.recent_models = [text] + [r for r in self.recent_models if r != text]
            del self.recent_models[MAX_RECENT_MODELS:]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sampling"] = self.sampling.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        data = migrate(data)
        settings = cls()
        for key, value in data.items():
            if key == "sampling" and isinstance(value, dict):
                settings.sampling = SamplingParams.from_dict(value)
            elif key in cls.__dataclass_fields__ and key != "sampling":
                setattr(settings, key, value)
        settings.n_ctx = max(256, int(settings.n_ctx))
        settings.n_threads = max(1, int(settings.n_threads))
        if settings.chat_template not in TEMPLATE_CHOICES:
            settings.chat_template = "auto"
        return settings


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Settings written by earlier versions: `model_path` (a path, or null for the built-in
    model of its day, the base Gemma) becomes a model reference. A settings file that never
    chose a model gets today's default, the built-in chat model; an explicit file stays."""
    data = dict(data)
    if "model_path" in data:
        old = data.pop("model_path")
        if "model" not in data:
            data["model"] = str(ModelRef.file(old)) if isinstance(old, str) and old else \
                str(DEFAULT_REF)
    recent = data.get("recent_models")
    if isinstance(recent, list):
        refs = []
        for item in recent:
            if not isinstance(item, str) or not item:
                continue
            refs.append(item if item.startswith(("file:", "builtin:")) else
                        str(ModelRef.file(item)))
        data["recent_models"] = refs
    return data


def load_settings(path: Path) -> Settings:
    """Read settings; a damaged file is kept aside (never deleted) and defaults are used."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return Settings.from_dict(data)
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError, TypeError) as exc:
        backup = path.with_suffix(".json.bad")
        log.warning("settings file %s is unreadable (%s); kept as %s", path, exc, backup)
        try:
            os.replace(path, backup)
        except OSError:
            pass
        return Settings()


def save_settings(settings: Settings, path: Path) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(settings.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)
