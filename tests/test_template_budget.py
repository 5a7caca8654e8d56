"""Hostile chat templates (issue 12): every runaway, oversized, recursive or broken template
fails in one line within its budget, on its own and inside a real model file, and the model
still opens with a built-in chat format."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import ModelFileError
from engine.template import (
    CHATML_TEMPLATE,
    ChatTemplate,
    TemplateBudgetError,
    TemplateError,
)
from engine.types import ChatMessage
from tests.conftest import REPO
from tests.gguf_edit import with_chat_template

CONVERSATION = [ChatMessage("user", "hi"), ChatMessage("assistant", "hello"),
                ChatMessage("user", "hey")]

RUNAWAY = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}x"
HOSTILE: dict[str, tuple[str, str]] = {
    # name: (template, words of the one-line error)
    "nested loops": (RUNAWAY, "ran for more than"),
    "loops over long strings": ("{% for c in 'a' * 100000 %}{% for d in 'b' * 100000 %}"
                                "{% endfor %}{% endfor %}", "ran for more than"),
    "output that never ends": ("{% for i in range(100000) %}{% for j in range(100000) %}"
                               "{{ 'x' }}{% endfor %}{% endfor %}", "ran for more than"),
    "string times a billion": ("{{ 'a' * 10**9 }}", "tried to build"),
    "list times a billion": ("{{ ([1] * 10**9)|length }}", "tried to build"),
    "doubling a string": ("{% set ns = namespace(s='a') %}{% for i in range(64) %}"
                          "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}", "tried to build"),
    "huge power": ("{{ 2 ** (10**9) }}", "tried to build"),
    "padding method": ("{{ 'a'.ljust(10**9) }}", "tried to build"),
    "padding filter": ("{{ 'a'|center(10**9) }}", "tried to build"),
    "percent width": ("{{ '%0999999999d' % 1 }}", "tried to build"),
    "format width": ("{{ '{:>999999999}'.format(1) }}", "tried to build"),
    "join amplifies": ("{{ (['a' * 1000000] * 1000)|join }}", "tried to build"),
    "replace amplifies": ("{{ ('a' * 100000).replace('a', 'b' * 1000) }}", "tried to build"),
    "replace filter amplifies": ("{{ ('a' * 100000)|replace('a', 'b' * 1000) }}",
                                 "tried to build"),
    "range of 10**12": ("{{ range(10**12)|list }}", "Range too big"),
    "recursion": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursed"),
    "syntax error": ("{% for %}", "does not compile"),
    "deep nesting": ("{% if 1 %}" * 5000 + "{% endif %}" * 5000, "nested too deeply"),
    "unknown tag": ("{% shell 'rm -rf /' %}", "does not compile"),
    "attribute escape": ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
    "division by zero": ("{{ 1 / 0 }}", "ZeroDivisionError"),
    "raise_exception": ("{{ raise_exception('no system role') }}", "refused the conversation"),
    "template too long": ("x" * 1_000_001, "characters long"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_template_fails_in_one_line(name: str) -> None:
    source, words = HOSTILE[name]
    with pytest.raises(TemplateError) as error:
        ChatTemplate(source, max_seconds=0.3).render(CONVERSATION)
    message = str(error.value)
    assert words in message and "\n" not in message
    assert len(message) < 300


def test_budget_errors_are_their_own_kind() -> None:
    with pytest.raises(TemplateBudgetError):
        ChatTemplate(RUNAWAY, max_seconds=0.2).render(CONVERSATION)
    with pytest.raises(TemplateBudgetError):
        ChatTemplate("{{ 'a' * 10**9 }}").render(CONVERSATION)


def test_loop_controls_work_as_in_real_templates() -> None:
    source = ("{% for m in messages %}{% if m.role == 'assistant' %}{% continue %}{% endif %}"
              "{{ m.content }};{% if loop.index >= 3 %}{% break %}{% endif %}{% endfor %}")
    assert ChatTemplate(source).render(CONVERSATION) == "hi;hey;"


def test_generation_tags_render_their_content() -> None:
    source = ("{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}"
              "[{{ m.content }}]{% endgeneration %}{% else %}{{ m.content }}{% endif %}"
              "{% endfor %}")
    assert ChatTemplate(source).render(CONVERSATION) == "hi[hello]hey"


def test_the_trace_is_gone_after_rendering() -> None:
    ChatTemplate(CHATML_TEMPLATE).render(CONVERSATION)
    with pytest.raises(TemplateError):
        ChatTemplate(RUNAWAY, max_seconds=0.1).render(CONVERSATION)
    assert sys.gettrace() is None
    # A long but honest conversation is not cut by the budget.
    long = [ChatMessage("user", "长" * 200_000)]
    assert ChatTemplate(CHATML_TEMPLATE).render(long).count("长") == 200_000


@pytest.fixture(scope="module")
def hostile_models(tmp_path_factory: pytest.TempPathFactory,
                   default_model_path: Path) -> dict[str, Path]:
    """The real Gemma file with a hostile template written into its metadata."""
    folder = tmp_path_factory.mktemp("hostile-models")
    return {
        "runaway": with_chat_template(default_model_path, folder / "runaway.gguf", RUNAWAY),
        "syntax": with_chat_template(default_model_path, folder / "syntax.gguf",
                                     "{% for %}"),
        "memory": with_chat_template(default_model_path, folder / "memory.gguf",
                                     "{{ 'a' * 10**9 }}"),
    }


def test_a_model_with_a_hostile_template_is_refused_at_load(
        hostile_models: dict[str, Path]) -> None:
    from engine.gguf import read_model_info
    from engine.runtime import Engine

    for kind, path in hostile_models.items():
        assert read_model_info(path).chat_template  # the edit took
        with pytest.raises(ModelFileError) as error:
            Engine.load(path)
        message = str(error.value)
        assert str(path) in message and "chat template cannot be used" in message, kind
        assert "built-in chat format" in message and "\n" not in message


def test_the_same_model_opens_with_a_built_in_format(hostile_models: dict[str, Path]) -> None:
    """llama-cpp-python compiles every template in the file when it opens it; that is
    switched off, so a file whose own template does not even compile still loads."""
    from engine.runtime import Engine
    from engine.types import LoadParams, SamplingParams

    for path in hostile_models.values():
        engine = Engine.load(path, LoadParams(n_ctx=256), template="chatml")
        try:
            events = list(engine.respond([ChatMessage("user", "Hi")],
                                         SamplingParams(max_tokens=2, temperature=0)))
            assert events[-1].stats.completion_tokens >= 1  # type: ignore[union-attr]
        finally:
            engine.close()


def test_ask_refuses_it_in_one_line(hostile_models: dict[str, Path], tmp_path: Path) -> None:
    env = {**os.environ, "MINGJING_HOME": str(tmp_path / "home")}
    for path in hostile_models.values():
        result = subprocess.run([sys.executable, "-m", "app", "ask", "--model", str(path),
                                 "Hello"], cwd=REPO, env=env, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 2, result.stderr
        assert result.stdout == "" and result.stderr.count("\n") == 1
        assert "chat template cannot be used" in result.stderr and "Traceback" not in \
            result.stderr
        chosen = subprocess.run([sys.executable, "-m", "app", "ask", "--model", str(path),
                                 "--template", "chatml", "--max-tokens", "2", "Hello"],
                                cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert chosen.returncode == 0, chosen.stderr
