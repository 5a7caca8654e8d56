"""The "no traceback ever" harness (issue 12), honest output: problems in the settings file
are printed once, JSON is always valid JSON (no bare NaN, no lone surrogates), and a model
whose logits are NaN is refused in one line as a broken model instead of replying with
garbage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.cli_output import EXIT_BAD_INPUT, EXIT_FAILED, json_safe, print_json
from tests.cli_hostile_helpers import gemma_home, one_line, quiet, run


@pytest.fixture
def home(tmp_path: Path, default_model_path: Path) -> Path:
    return gemma_home(tmp_path, default_model_path)


# --------------------------------------------------------------------- the settings file


def test_settings_problems_are_printed_once(home: Path) -> None:
    (home / "settings.json").write_text(json.dumps({
        "model": "builtin:gemma-3-270m", "n_threads": 100000,
        "sampling": {"temperature": "hot", "max_tokens": 8},
    }))
    listed = run("model", "list", home=home)
    err = quiet(listed, 0, lines=2).splitlines()
    assert len(err) == 2, err
    assert err[0].startswith("mingjing: settings: n_threads = 100000 is unusable")
    assert err[1].startswith("mingjing: settings: sampling.temperature = 'hot' is unusable")
    # `tokens` and `ask` read the settings twice (the model, the options): printed once.
    tokens = run("tokens", "hello", home=home)
    assert quiet(tokens, 0).splitlines() == err
    asked = run("ask", "--max-tokens", "2", "The capital of France is", home=home)
    assert quiet(asked, 0).splitlines() == err and asked.stdout.strip()


def test_unreadable_settings_file_is_one_warning(home: Path) -> None:
    (home / "settings.json").write_text("{ not json")
    result = run("model", "list", home=home)
    err = quiet(result, 0, lines=1)
    assert err.startswith("mingjing: settings: the settings file was unreadable"), err
    assert (home / "settings.json.bad").exists()


# ------------------------------------------------------------------------ honest output


def test_json_is_valid_json_always(capsys: pytest.CaptureFixture[str]) -> None:
    data = {"p": math.nan, "q": [math.inf, -math.inf, 1.5], "name": "a\udcffb",
            "nested": ({"x": float("nan")},), "n": 3, "ok": True, "none": None}
    print_json(data)
    out = capsys.readouterr().out
    parsed = json.loads(out, parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    assert parsed == {"p": None, "q": [None, None, 1.5], "name": "a\ufffdb",
                      "nested": [{"x": None}], "n": 3, "ok": True, "none": None}
    assert json_safe("plain") == "plain"


@st.composite
def json_values(draw: st.DrawFn) -> object:
    leaves = st.one_of(st.floats(), st.integers(), st.text(), st.booleans(), st.none())
    return draw(st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)),
        max_leaves=20))


@settings(max_examples=200, deadline=None)
@given(json_values())
def test_json_safe_fuzzed(value: object) -> None:
    text = json.dumps(json_safe(value), ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")  # valid UTF-8: no lone surrogates
    json.loads(text)


# -------------------------------------------------------------------------- NaN logits


@pytest.fixture(scope="module")
def nan_model(tmp_path_factory: pytest.TempPathFactory, default_model_path: Path) -> Path:
    """The real Gemma with its final norm weights (f32) all NaN: every logit is NaN."""
    from tests.gguf_edit import with_nan_tensor

    folder = tmp_path_factory.mktemp("nan")
    return with_nan_tensor(default_model_path, folder / "nan-norm.gguf", "output_norm.weight")


@pytest.fixture(scope="module")
def nan_embedding_model(tmp_path_factory: pytest.TempPathFactory,
                        default_model_path: Path) -> Path:
    """The real Gemma with the scale of every Q8_0 block of its token embedding (tied to
    the output layer) set to an f16 NaN."""
    from tests.gguf_edit import tensor_table, with_nan_tensor

    assert tensor_table(default_model_path)["token_embd.weight"].ggml_type == 8  # Q8_0
    folder = tmp_path_factory.mktemp("nan-embd")
    return with_nan_tensor(default_model_path, folder / "nan-embd.gguf", "token_embd.weight")


def test_nan_logits_are_a_broken_model(home: Path, nan_model: Path) -> None:
    """Before: the reply was made of whatever token NaN sampling picks ("!!!!" or empty
    pieces), and `--json --top-k` wrote bare NaN."""
    for args in (["ask", "--model", str(nan_model), "hi"],
                 ["ask", "--json", "--top-k", "3", "--model", str(nan_model), "hi"]):
        result = run(*args, home=home)
        one_line(result, EXIT_BAD_INPUT, str(nan_model),
                 "the model produced invalid numbers", "the file is probably damaged")
        assert result.stdout == b""


def test_nan_embedding_is_a_broken_model(home: Path, nan_embedding_model: Path) -> None:
    result = run("ask", "--model", str(nan_embedding_model), "--max-tokens", "4", "hi",
                 home=home)
    one_line(result, EXIT_BAD_INPUT, "the model produced invalid numbers")
    compared = run("compare", "--json", "--model", str(nan_embedding_model), "hi", home=home)
    quiet(compared, EXIT_FAILED, lines=1)
    [column] = json.loads(compared.stdout)["models"]
    assert "invalid numbers" in column["error"]


def test_nan_check_runs_once_per_reply(nan_model: Path, default_model_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine: a healthy model checked once per reply (not per token), a NaN one
    refused before its first token."""
    from engine.errors import ModelFileError
    from engine.runtime import Engine
    from engine.types import FinishEvent, LoadParams, SamplingParams

    checks: list[int] = []
    real = Engine._check_logits

    def counted(self: Engine) -> None:
        checks.append(1)
        real(self)

    monkeypatch.setattr(Engine, "_check_logits", counted)
    healthy = Engine.load(default_model_path, LoadParams(n_ctx=512, n_threads=2))
    try:
        events = list(healthy.generate(healthy.tokenize("Once upon a time", add_bos=True),
                                       SamplingParams(temperature=0, max_tokens=12)))
    finally:
        healthy.close()
    finish = events[-1]
    assert isinstance(finish, FinishEvent) and finish.stats.completion_tokens >= 1
    assert len(checks) == 1
    broken = Engine.load(nan_model, LoadParams(n_ctx=512, n_threads=2))
    try:
        stream = broken.generate(broken.tokenize("hi", add_bos=True), SamplingParams())
        with pytest.raises(ModelFileError, match="invalid numbers"):
            next(stream)
    finally:
        broken.close()
