"""Opening a GGUF with llama.cpp: the chat template checked first, llama-cpp-python's own
template handling made inert, paths llama.cpp can open, the parameters it is given."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import EngineError, ModelFileError
from engine.gguf import ModelInfo
from engine.llama_tokenizer import SAMPLE_CONVERSATION
from engine.placement import Placement
from engine.template import BUILTIN_TEMPLATES, ChatTemplate, TemplateError
from engine.types import LoadParams

if TYPE_CHECKING:
    from llama_cpp import Llama


def prepare_template(path: str | Path, info: ModelInfo,
                      template: str | None) -> ChatTemplate | None:
    """The chat template to use, compiled and rendered once on a sample conversation within
    its budget. A model's own template that fails (does not compile, runs away, refuses a
    plain conversation) makes the model refuse to load, in one line naming the file; the
    user can choose a built-in chat format instead. `template` as for Engine.load."""
    if template == "completion":
        return None
    source = info.chat_template if template is None else BUILTIN_TEMPLATES.get(template,
                                                                                template)
    if not source:
        return None
    bos, eos = info.special_token("bos"), info.special_token("eos")
    try:
        chat = ChatTemplate(source, bos_token=bos.text or "" if bos else "",
                            eos_token=eos.text or "" if eos else "")
        chat.render(list(SAMPLE_CONVERSATION))
    except TemplateError as exc:
        raise ModelFileError(
            path, f"its chat template cannot be used: {exc}; choose a built-in chat format "
                  "(Settings → Chat format, or --template chatml)") from exc
    return chat


def open_llama(llama_class: Any, path: Path, n_ctx: int, params: LoadParams,
               placement: Placement | None = None) -> Llama:
    """llama.cpp's model and context for `params`, placed as `placement` says (None or a
    CPU placement: no layer and no operation goes to a GPU)."""
    import llama_cpp

    placement = placement or Placement()
    layers = placement.n_gpu_layers
    gpu = {"split_mode": llama_cpp.LLAMA_SPLIT_MODE_NONE, "main_gpu": placement.ordinal} \
        if layers > 0 else {}
    return llama_class(
        model_path=str(path),
        n_ctx=n_ctx,
        n_batch=min(params.n_batch, n_ctx),
        n_threads=params.n_threads,
        n_threads_batch=params.n_threads,
        n_gpu_layers=layers,
        # Without offloaded layers llama.cpp would still send large prompt batches to a GPU
        # it sees; "CPU" means the CPU.
        op_offload=layers > 0,
        **gpu,
        vocab_only=params.vocab_only,
        # A full-size sliding-window cache lets the next turn reuse the prefix on models
        # with sliding-window attention (gemma3); otherwise the KV cache cannot be cut at an
        # arbitrary position and every turn re-evaluates everything.
        swa_full=True,
        logits_all=False,
        verbose=False,
    )


@contextlib.contextmanager
def utf8_path(path: Path) -> Iterator[Path]:
    """`path`, or, when its name is not UTF-8 (bytes a Linux file name may hold), a link to
    it under a plain name: llama-cpp-python passes paths to llama.cpp as UTF-8. The link
    can go once the file is open (llama.cpp maps the file itself)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        with tempfile.TemporaryDirectory(prefix="mingjing-model-") as folder:
            link = Path(folder) / "model.gguf"
            os.symlink(os.fsencode(path.resolve()), os.fsencode(link))
            yield link
        return
    yield path


class _InertChatFormatter:
    """Stands in for llama-cpp-python's Jinja2ChatFormatter (see below)."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def to_chat_handler(self) -> Any:
        def unavailable(*_args: Any, **_kwargs: Any) -> Any:
            raise EngineError("llama-cpp-python's chat completion is not used by Mingjing")

        return unavailable


def skip_llama_cpp_templates(llama_cpp: Any) -> None:
    """llama-cpp-python compiles every chat template of a GGUF when it opens the model, for
    its own chat-completion API, which Mingjing does not use (it renders templates itself,
    sandboxed and within a budget). A hostile template would raise or run away there, outside
    any budget; the formatter it would build is replaced by an inert one."""
    module = llama_cpp.llama_chat_format
    if module.Jinja2ChatFormatter is not _InertChatFormatter:
        module.Jinja2ChatFormatter = _InertChatFormatter
