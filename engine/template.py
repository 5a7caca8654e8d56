"""Chat templates: the model's own Jinja template, rendered in a sandbox, within a budget.

A chat template is code that comes with the model file. It runs in Jinja's immutable
sandbox (no attribute escapes), with the extensions real templates use (loop controls:
`{% break %}`, `{% continue %}`; Hugging Face's `{% generation %}`), and within a budget,
so that a hostile or broken one fails in one line instead of hanging or eating memory:
- time: the clock is read at every line the template executes, loop iterations included
  (a trace function on the rendering thread, set only while rendering);
- size: what the template writes, and every operation that multiplies sizes (`'a' * n`,
  `**`, `%` and `format` widths, padding, `replace`, `join`), is checked before it runs;
- depth: recursion (macros calling themselves) ends at Python's recursion limit.

A model without a template is a base model; the engine then continues text instead of
chatting. Built-in templates exist only for an explicit user choice, never as a silent
fallback."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from types import FrameType
from typing import Any, NoReturn

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.errors import EngineError
from engine.types import ChatMessage

GEMMA_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
{%- set loop_messages = messages[1:] -%}
{%- else -%}
{%- set first_user_prefix = "" -%}
{%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
{{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
{%- endif -%}
{%- set role = "model" if message['role'] == 'assistant' else message['role'] -%}
{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
{{- message['content'] | trim }}{{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"""

CHATML_TEMPLATE = """{%- for message in messages -%}
{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"""

BUILTIN_TEMPLATES: dict[str, str] = {"gemma": GEMMA_TEMPLATE, "chatml": CHATML_TEMPLATE}

MAX_SOURCE_CHARS = 1_000_000  # real templates are a few KB
MAX_RENDER_S = 2.0  # a real template renders a conversation in about a millisecond
MAX_OUTPUT_CHARS = 8_000_000  # far beyond the text of any context window
MAX_ITEMS = 1_000_000  # elements of a list or string a template may build
MAX_POWER_BITS = 100_000  # `a ** b` on integers: size of the result
TRACE_EVERY = 64  # template lines between two looks at the clock
_PADDING_METHODS = {"ljust", "rjust", "center", "zfill", "expandtabs"}
_WIDTH = re.compile(r"\d{7,}")  # a width or precision of a million or more


class TemplateError(EngineError):
    """The chat template failed to render (a broken template or messages it refuses)."""


class TemplateBudgetError(TemplateError):
    """The chat template ran too long or built something too large."""


def _raise_exception(message: str) -> NoReturn:
    raise TemplateError(f"chat template refused the conversation: {message}")


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _too_big(what: str) -> NoReturn:
    raise TemplateBudgetError(f"the chat template tried to build {what}")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | bytes | list | tuple) else 0


class _GenerationTags(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}`, which Hugging Face templates use to mark
    the assistant's part for training: rendered as its content."""

    tags = {"generation"}  # noqa: RUF012 - declared so by jinja2.ext.Extension

    def parse(self, parser: Any) -> Any:
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with sizes checked before an operation can blow up."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(n, int) and _size(seq) and _size(seq) * n > MAX_ITEMS:
                    _too_big(f"a sequence of {_size(seq)} x {n} items")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 \
                    and max(1, left.bit_length()) * right > MAX_POWER_BITS:
                _too_big(f"a number of {left} ** {right}")
        elif operator == "+":
            if _size(left) + _size(right) > MAX_OUTPUT_CHARS:
                _too_big(f"a value of {_size(left) + _size(right):,} items")
        elif operator == "%" and isinstance(left, str) and _WIDTH.search(left):
            _too_big("text padded to a million characters or more")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        name = getattr(__obj, "__name__", "")
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            if name in _PADDING_METHODS and any(
                    isinstance(a, int) and a > MAX_OUTPUT_CHARS for a in (*args,
                                                                          *kwargs.values())):
                _too_big("text padded to more than the output limit")
            if name == "replace" and len(args) >= 2 and isinstance(args[0], str) \
                    and isinstance(args[1], str):
                grows = len(args[1]) - len(args[0])
                count = len(owner) + 1 if not args[0] else owner.count(args[0])
                if grows > 0 and len(owner) + count * grows > MAX_OUTPUT_CHARS:
                    _too_big("a replacement larger than the output limit")
            if name == "join" and args:
                items = list(args[0])
                if sum(map(_size, items)) + len(owner) * len(items) > MAX_OUTPUT_CHARS:
                    _too_big("joined text larger than the output limit")
                args = (items, *args[1:])
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format / format_map, which the sandbox wraps when they are looked up."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and _WIDTH.search(value.__self__):
            def refuse(*_args: Any, **_kwargs: Any) -> str:
                _too_big("text padded to a million characters or more")

            return refuse
        return wrapped


def _join(value: Any, d: str = "", attribute: Any = None) -> str:
    items = [str(v if attribute is None else v[attribute]) for v in value]
    if sum(map(len, items)) + len(d) * len(items) > MAX_OUTPUT_CHARS:
        _too_big("joined text larger than the output limit")
    return d.join(items)


def _replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    text = str(value)
    occurrences = text.count(old) if old else len(text) + 1
    if len(new) > len(old) and len(text) + occurrences * (len(new) - len(old)) \
            > MAX_OUTPUT_CHARS:
        _too_big("a replacement larger than the output limit")
    return text.replace(old, new, -1 if count is None else count)


def _bounded_width(filter_func: Callable[..., str]) -> Callable[..., str]:
    def bounded(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> str:
        if isinstance(width, int) and width > MAX_OUTPUT_CHARS:
            _too_big("text padded to more than the output limit")
        return filter_func(value, width, *args, **kwargs)

    return bounded


class _Deadline:
    """Raises TemplateBudgetError from the rendering thread's trace function once the
    template has run past its time. Only frames of template code are traced."""

    def __init__(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds
        self.seconds = seconds
        self.lines = 0

    def global_trace(self, frame: FrameType, event: str, _arg: Any) -> Any:
        if event == "call" and frame.f_code.co_filename == "<template>":
            return self.local_trace
        return None

    def local_trace(self, frame: FrameType, event: str, _arg: Any) -> Any:
        self.lines += 1
        if self.lines % TRACE_EVERY == 0 and time.monotonic() > self.until:
            raise TemplateBudgetError(
                f"the chat template ran for more than {self.seconds:g} s")
        return self.local_trace


class ChatTemplate:
    """A compiled, sandboxed chat template with a render budget."""

    def __init__(self, source: str, *, bos_token: str = "", eos_token: str = "",
                 max_seconds: float = MAX_RENDER_S) -> None:
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.max_seconds = max_seconds
        if len(source) > MAX_SOURCE_CHARS:
            raise TemplateError(
                f"the chat template is {len(source):,} characters long (at most "
                f"{MAX_SOURCE_CHARS:,})")
        env = _BoundedSandbox(trim_blocks=True, lstrip_blocks=True, loader=None,
                              autoescape=False,
                              extensions=["jinja2.ext.loopcontrols", _GenerationTags])
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        env.filters["tojson"] = _tojson
        env.filters["join"] = _join
        env.filters["replace"] = _replace
        for name in ("center", "indent"):
            env.filters[name] = _bounded_width(env.filters[name])
        try:
            self._template = env.from_string(source)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"the chat template does not compile: {exc}") from exc
        except RecursionError as exc:
            raise TemplateError("the chat template is nested too deeply to compile") from exc

    def render(
        self, messages: Sequence[ChatMessage], *, add_generation_prompt: bool = True
    ) -> str:
        payload = [{"role": m.role, "content": m.content} for m in messages]
        deadline = _Deadline(self.max_seconds)
        previous = sys.gettrace()
        sys.settrace(deadline.global_trace)
        try:
            parts: list[str] = []
            total = 0
            for part in self._template.generate(
                messages=payload,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
            ):
                total += len(part)
                if total > MAX_OUTPUT_CHARS:
                    _too_big(f"a prompt of more than {MAX_OUTPUT_CHARS:,} characters")
                parts.append(part)
            return "".join(parts)
        except TemplateError:
            raise
        except jinja2.TemplateError as exc:
            raise TemplateError(f"the chat template failed: {exc}") from exc
        except RecursionError as exc:
            raise TemplateError("the chat template recursed too deeply") from exc
        except MemoryError as exc:
            raise TemplateBudgetError("the chat template ran out of memory") from exc
        except Exception as exc:  # the template's own error (bad arithmetic, a bad index)
            raise TemplateError(
                f"the chat template failed: {exc.__class__.__name__}: {exc}") from exc
        finally:
            sys.settrace(previous)


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False) -> str:
    import json

    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)
