"""The one place a model reference becomes a running backend (the CLI, the window's model
and tokenizer threads, the comparison views and, later, the API server all come here)."""

from __future__ import annotations

from pathlib import Path

from engine.backend import ModelBackend
from engine.types import LoadParams
from models.builtin import ensure_builtin
from models.refs import ModelRef


def local_path(ref: ModelRef, models_dir: Path) -> Path:
    """The GGUF file a local reference names (a built-in model is assembled on first use)."""
    model = ref.builtin_model
    if model is not None:
        return ensure_builtin(model, models_dir)
    return Path(ref.value)


def open_backend(ref: ModelRef, models_dir: Path, params: LoadParams | None = None, *,
                 template: str | None = None) -> ModelBackend:
    """Load the model `ref` names. `template` as for Engine.load: None uses the model's own
    chat template (or continuation for a base model). Raises EngineError subclasses with a
    one-line reason (ModelFileError for a bad file, BuiltinModelError for a damaged
    built-in package, CpuUnsupportedError below the CPU baseline)."""
    from engine.runtime import Engine

    return Engine.load(local_path(ref, models_dir), params, template=template)


def check_model(ref: ModelRef, models_dir: Path) -> None:
    """Reject a model that cannot load (one-line EngineError) without loading it: the
    window checks before it gives up the model it has."""
    from engine.gguf import read_model_info

    read_model_info(local_path(ref, models_dir))
