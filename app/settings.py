"""User settings, stored as JSON in the data folder (plain Python: the CLI reads them too)."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import EngineError
from engine.limits import check
from engine.types import LoadParams, SamplingParams, default_threads
from models.refs import DEFAULT_REF, ModelRef, parse_or_default

log = logging.getLogger(__name__)

MAX_RECENT_MODELS = 10
TEMPLATE_CHOICES = ("auto", "completion", "gemma", "chatml")
DEFAULT_API_PORT = 8413
# What a bearer token may hold: printable ASCII without spaces (it travels in a header).
API_TOKEN_PATTERN = re.compile(r"[\x21-\x7e]{8,512}")


def new_api_token() -> str:
    """A fresh bearer token for the local API (256 random bits)."""
    return "mj-" + secrets.token_urlsafe(32)


@dataclass
class Settings:
    model: str = str(DEFAULT_REF)  # a model reference: builtin:ID or file:PATH
    recent_models: list[str] = field(default_factory=list)  # file references, newest first
    system_prompt: str = ""
    sampling: SamplingParams = field(default_factory=SamplingParams)
    n_ctx: int = 4096
    n_threads: int = field(default_factory=default_threads)
    # GPU layers: -1 as many as fit on the chosen GPU (planned at each load), 0 the CPU
    # alone, N exactly N. The GPU is chosen per model: model_devices maps a model reference
    # to "auto" (the GPU with the most free memory), "cpu" or a device name ("Vulkan0").
    n_gpu_layers: int = -1
    model_devices: dict[str, str] = field(default_factory=dict)
    gpu_limit_mb: int = 0  # at most this much GPU memory for a model (0: no limit)
    # Speculative decoding for greedy replies (LoadParams.speculative): off by default, as a
    # batch's arithmetic can settle a near tie differently from plain decoding.
    speculative: bool = False
    chat_template: str = "auto"  # auto | completion | gemma | chatml
    language: str = "auto"
    concept_panel: bool = True  # the panel beside the chat is shown
    # Knowledge-base questions are translated by the chat model first when the knowledge
    # bases hold text in the other language (app/query_translation.py).
    translate_queries: bool = True
    # The local OpenAI-compatible API (server/): served from the window when enabled, on
    # 127.0.0.1:api_port; `mingjing serve` uses the port and token too. The token is made
    # once, when first needed (ensure_api_token), and kept here.
    api_enabled: bool = False
    api_port: int = DEFAULT_API_PORT
    api_token: str = ""
    # API keys of OpenAI-compatible servers used as backends, by server root URL (a key is
    # only ever sent to the server it was given for). The file is readable by the user alone.
    server_keys: dict[str, str] = field(default_factory=dict)
    # Downloads (models/sources.py): where from (auto: by locale), a Hugging Face mirror
    # (empty: HF_ENDPOINT or hf-mirror.com), a token for gated models on Hugging Face (sent
    # to huggingface.co only), and where a newer catalog is fetched from.
    download_source: str = "auto"
    mirror_endpoint: str = ""
    hf_token: str = ""
    # When each model was last loaded (reference -> seconds since the epoch), for the library.
    last_used: dict[str, float] = field(default_factory=dict)
    # Not stored: one line per value of the file that was unusable and reset to its default.
    problems: list[str] = field(default_factory=list, compare=False, repr=False)

    def load_params(self) -> LoadParams:
        return LoadParams(
            n_ctx=self.n_ctx, n_threads=self.n_threads, n_gpu_layers=self.n_gpu_layers,
            speculative=self.speculative, device=self.device_for(self.model),
            gpu_limit_bytes=self.gpu_limit_mb << 20 if self.gpu_limit_mb > 0 else None,
        )

    def device_for(self, model: str) -> str:
        """The device chosen for a model reference ("auto" unless the user chose)."""
        return self.model_devices.get(model, "auto")

    def template_arg(self) -> str | None:
        return None if self.chat_template == "auto" else self.chat_template

    def ensure_api_token(self) -> bool:
        """Make the API token if there is none yet; True when one was made (save then)."""
        if self.api_token:
            return False
        self.api_token = new_api_token()
        return True

    @property
    def model_ref(self) -> ModelRef:
        return parse_or_default(self.model)

    def server_key(self, ref: ModelRef) -> str | None:
        """The API key for a model on a server (None for local models and keyless servers)."""
        if ref.kind != "remote":
            return None
        return self.server_keys.get(server_root(ref.remote_parts[0])) or None

    def set_server_key(self, url: str, key: str) -> None:
        root = server_root(url)
        if key:
            self.server_keys[root] = key
        else:
            self.server_keys.pop(root, None)

    def choose_model(self, ref: ModelRef) -> None:
        """Make `ref` the model to open; files and server models join the recent list."""
        self.model = str(ref)
        self.last_used[str(ref)] = time.time()
        if len(self.last_used) > 200:  # the oldest go
            for key in sorted(self.last_used, key=self.last_used.__getitem__)[:-200]:
                del self.last_used[key]
        if ref.kind in ("file", "remote"):
            text = str(ref)
            self.recent_models = [text] + [r for r in self.recent_models if r != text]
            del self.recent_models[MAX_RECENT_MODELS:]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("problems")
        data["sampling"] = self.sampling.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Settings from a parsed file: each value is checked for its type and range; one
        that is unusable is reset to its default and named in `problems`, the rest are
        kept. Unknown keys are ignored."""
        data = migrate(data)
        settings = cls()
        problems = settings.problems
        for key, value in data.items():
            if key == "sampling":
                if isinstance(value, dict):
                    settings.sampling = _sampling(value, problems)
                else:
                    problems.append(_reset("sampling", value, "not a group of settings"))
            elif key in _NUMBERS:
                try:
                    setattr(settings, key, check(key, value))
                except ValueError as exc:
                    problems.append(_reset(key, value, str(exc)))
            elif key in _CHECKS:
                valid, why = _CHECKS[key]
                if valid(value):
                    setattr(settings, key, value)
                else:
                    problems.append(_reset(key, value, why))
        try:
            ModelRef.parse(settings.model)
        except (EngineError, ValueError, OSError) as exc:
            problems.append(_reset("model", settings.model, str(exc)))
            settings.model = str(DEFAULT_REF)
        for problem in problems:
            log.warning("settings: %s", problem)
        return settings


def server_root(url: str) -> str:
    """A server's address as keys are filed under: no trailing slash or /v1."""
    url = url.strip().rstrip("/")
    return url[:-3] if url.endswith("/v1") else url


def _keys(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) and len(v) <= 4096 and v.isprintable()
        for k, v in value.items())


_NUMBERS = ("n_ctx", "n_threads", "n_gpu_layers", "gpu_limit_mb", "api_port")


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


_CHECKS: dict[str, tuple[Any, str]] = {
    "model": (lambda v: isinstance(v, str) and bool(v.strip()), "not a model reference"),
    "recent_models": (_strings, "not a list of model references"),
    "system_prompt": (lambda v: isinstance(v, str), "not text"),
    "chat_template": (lambda v: v in TEMPLATE_CHOICES,
                      f"not one of {', '.join(TEMPLATE_CHOICES)}"),
    "language": (lambda v: isinstance(v, str), "not a language code"),
    "concept_panel": (lambda v: isinstance(v, bool), "not true or false"),
    "translate_queries": (lambda v: isinstance(v, bool), "not true or false"),
    "speculative": (lambda v: isinstance(v, bool), "not true or false"),
    "model_devices": (_keys, "not a table of models and devices"),
    "api_enabled": (lambda v: isinstance(v, bool), "not true or false"),
    "api_token": (lambda v: isinstance(v, str) and (not v or API_TOKEN_PATTERN.fullmatch(v)),
                  "not 8 to 512 printable characters without spaces; a new one is made"),
    "server_keys": (_keys, "not a table of server addresses and keys"),
    "download_source": (lambda v: v in ("auto", "hf", "mirror", "modelscope"),
                        "not one of auto, hf, mirror, modelscope"),
    "mirror_endpoint": (lambda v: isinstance(v, str) and (
        not v or (v.startswith(("http://", "https://")) and len(v) < 500)),
        "not an http(s) address"),
    "hf_token": (lambda v: isinstance(v, str) and len(v) < 500 and v.isprintable()
                 and " " not in v, "not a token"),
    "last_used": (lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and isinstance(t, int | float) and not isinstance(t, bool)
        and 0 <= t < 1e11 for k, t in v.items()), "not a table of times"),
}
_SECRETS = ("api_token", "server_keys", "hf_token")  # never shown in a notice or the log


def _reset(key: str, value: object, why: str) -> str:
    shown = "(hidden)" if key in _SECRETS else repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{key} = {shown} is unusable ({why}); reset to the default"


def _sampling(data: dict[str, Any], problems: list[str]) -> SamplingParams:
    sampling = SamplingParams()
    for key, value in data.items():
        if key == "stop":
            if _strings(value):
                sampling.stop = tuple(v for v in value if v)
            else:
                problems.append(_reset("sampling.stop", value, "not a list of texts"))
        elif key in SamplingParams.__dataclass_fields__:
            try:
                setattr(sampling, key, check(key, value))
            except ValueError as exc:
                problems.append(_reset(f"sampling.{key}", value, str(exc)))
    return sampling


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Settings written by earlier versions: `model_path` (a path, or null for the built-in
    model of its day, the base Gemma) becomes a model reference. A settings file that never
    chose a model gets today's default, the built-in chat model; an explicit file stays."""
    data = dict(data)
    if "model_path" in data:
        old = data.pop("model_path")
        if "model" not in data:
            try:
                data["model"] = str(ModelRef.file(old)) if isinstance(old, str) and old else \
                    str(DEFAULT_REF)
            except (ValueError, OSError):
                data["model"] = str(DEFAULT_REF)
    recent = data.get("recent_models")
    if isinstance(recent, list):
        refs = []
        for item in recent:
            if not isinstance(item, str) or not item:
                continue
            try:
                refs.append(item if item.startswith(("file:", "builtin:", "remote:")) else
                            str(ModelRef.file(item)))
            except (ValueError, OSError):  # not a path at all (a NUL byte, say)
                continue
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
    except (OSError, ValueError, TypeError, RecursionError) as exc:
        backup = path.with_suffix(".json.bad")
        log.warning("settings file %s is unreadable (%s); kept as %s", path, exc, backup)
        try:
            os.replace(path, backup)
        except OSError:
            pass
        settings = Settings()
        settings.problems.append(f"the settings file was unreadable ({str(exc)[:80]}); it "
                                 f"was kept as {backup.name} and the defaults are used")
        return settings


def save_settings(settings: Settings, path: Path) -> None:
    """Write atomically, readable by the user alone (the file holds the API token)."""
    tmp = path.with_suffix(".json.tmp")
    text = json.dumps(settings.to_dict(), ensure_ascii=False, indent=2)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)  # an older tmp file left behind keeps its own mode otherwise
    os.replace(tmp, path)
