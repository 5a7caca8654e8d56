"""The one place a model reference becomes a running backend (the CLI, the window's model
and tokenizer threads, the comparison views and, later, the API server all come here)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from engine.backend import ModelBackend
from engine.errors import EngineError
from engine.types import LoadParams
from models.builtin import ensure_builtin
from models.refs import ModelRef

if TYPE_CHECKING:
    from engine.remote import RemoteBackend
    from engine.runtime import Engine

log = logging.getLogger(__name__)


def local_path(ref: ModelRef, models_dir: Path) -> Path:
    """The GGUF file a local reference names (a built-in model is assembled on first use)."""
    model = ref.builtin_model
    if model is not None:
        return ensure_builtin(model, models_dir)
    if ref.kind == "remote":
        raise EngineError(f"{ref.display_name} runs on a server: it has no local file")
    return Path(ref.value)


def open_backend(ref: ModelRef, models_dir: Path, params: LoadParams | None = None, *,
                 template: str | None = None, api_key: str | None = None) -> ModelBackend:
    """Load (or, for a server, connect to) the model `ref` names. `template` as for
    Engine.load: None uses the model's own chat template (or continuation for a base
    model). `api_key` goes to a remote server and nowhere else. Raises EngineError
    subclasses with a one-line reason (ModelFileError for a bad file, BuiltinModelError for
    a damaged built-in package, CpuUnsupportedError below the CPU baseline, RemoteError)."""
    if ref.kind == "remote":
        from engine.remote import DEFAULT_CONTEXT, RemoteBackend, RemoteConfig

        url, model = ref.remote_parts
        backend = RemoteBackend.connect(RemoteConfig(
            url, model or None, api_key,
            mode="completion" if template == "completion" else "chat",
            # the context size in Settings, where the server says none
            default_ctx=params.n_ctx if params is not None else DEFAULT_CONTEXT))
        if not backend.capabilities.exact_token_counts:
            _count_with_builtin(backend, models_dir)
        return backend
    from engine.runtime import Engine

    engine = Engine.load(local_path(ref, models_dir), params, template=template)
    if params is not None and params.speculative and not params.vocab_only:
        _attach_draft(engine, models_dir)
    return engine


def _attach_draft(engine: Engine, models_dir: Path) -> None:
    """With speculative decoding on: a built-in model of the same tokenizer and much
    smaller drafts for this one (the built-in Qwen2.5 0.5B for larger Qwen2.5 models);
    where none can, prompt lookup drafts from the prompt instead."""
    from engine.draft_model import load_draft
    from models.builtin import BUILTIN_MODELS

    for model in BUILTIN_MODELS:
        if model.is_chat:
            engine.draft = load_draft(engine, ensure_builtin(model, models_dir))
            if engine.draft is not None:
                log.info("%s drafts for %s", model.id, engine.info.name)
                return


def _count_with_builtin(backend: RemoteBackend, models_dir: Path) -> None:
    """A server that cannot count tokens, serving a model we ship: count with the built-in
    copy's tokenizer and template (vocabulary only: milliseconds, a few MB)."""
    from engine.runtime import Engine
    from models.builtin import builtin_for_served_name

    model = builtin_for_served_name(backend.model)
    if model is None or (backend.mode == "chat") != model.is_chat:
        return
    try:
        local = Engine.load(ensure_builtin(model, models_dir),
                            LoadParams(n_ctx=backend.n_ctx, n_threads=1, vocab_only=True))
    except EngineError as exc:  # counts stay estimated; the reply does not need them
        log.warning("could not load %s to count tokens: %s", model.id, exc)
        return
    backend.use_local_tokenizer(local)


def check_model(ref: ModelRef, models_dir: Path) -> None:
    """Reject a model that cannot load (one-line EngineError) without loading it: the
    window checks before it gives up the model it has. (A server is checked by connecting.)"""
    from engine.gguf import read_model_info

    if ref.kind != "remote":
        read_model_info(local_path(ref, models_dir))
