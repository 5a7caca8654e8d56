"""The "no traceback ever" harness (issue 12), hostile arguments and input: every numeric
option of every subcommand at and past its limit (through the real parser, fuzzed, and in
real processes); every subcommand run as a real process with hostile arguments and standard
input; text input read exactly.

Most cases fail before a model loads; the few that need one use the small built-in Gemma,
hard-linked into a fresh data folder."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ask_cli import CANDIDATES
from app.cli import build_parser
from app.cli_output import EXIT_BAD_INPUT, EXIT_FAILED
from engine.limits import LIMITS
from tests.cli_hostile_helpers import gemma_home, one_line, quiet, run


@pytest.fixture
def home(tmp_path: Path, default_model_path: Path) -> Path:
    return gemma_home(tmp_path, default_model_path)


@pytest.fixture
def odd_files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "odd"
    folder.mkdir()
    empty = folder / "empty.gguf"
    empty.write_bytes(b"")
    text = folder / "notes.gguf"
    text.write_text("not a model\n")
    fifo = folder / "pipe.gguf"
    os.mkfifo(fifo)
    return {"missing": folder / "missing.gguf", "directory": folder, "devnull":
            Path(os.devnull), "empty": empty, "text": text, "fifo": fifo}


# ------------------------------------------------------------------- numbers at the edge

# Every numeric option of every subcommand, with the limit it is checked against.
NUMERIC_OPTIONS: list[tuple[tuple[str, ...], str, str]] = [
    (("ask",), "--max-tokens", "max_tokens"),
    (("ask",), "--temperature", "temperature"),
    (("ask",), "--top-p", "top_p"),
    (("ask",), "--sample-top-k", "top_k"),
    (("ask",), "--min-p", "min_p"),
    (("ask",), "--repeat-penalty", "repeat_penalty"),
    (("ask",), "--seed", "seed"),
    (("ask",), "--ctx", "n_ctx"),
    (("ask",), "--threads", "n_threads"),
    (("ask",), "--gpu-layers", "n_gpu_layers"),
    (("ask",), "--k", "k"),
    (("ask",), "--top-k", "candidates"),
    (("compare",), "--max-tokens", "max_tokens"),
    (("compare",), "--temperature", "temperature"),
    (("kb", "search"), "--k", "k"),
]
BAD_NUMBERS = ["abc", "", " ", "nan", "NaN", "inf", "-inf", "1e400", "-1e400", "9" * 400,
               "-99999999999999999999999", "0x10", "1,5", "١٢٣abc"]


def _limit(name: str):  # type: ignore[no-untyped-def]
    return CANDIDATES if name == "candidates" else LIMITS[name]


def _out_of_range(name: str) -> list[str]:
    limit = _limit(name)
    values = [str(limit.low - 1), str(limit.high + 1), str(int(limit.high) * 10**20)]
    if limit.integer:
        values.append(f"{limit.low + 0.5:g}")
    return values


def _argv(command: tuple[str, ...], option: str, value: str) -> list[str]:
    # An empty prompt or query: if the value passed, the command still stops before a model
    # or the knowledge base is touched.
    return [*command, f"{option}={value}", "" if command != ("kb", "search") else "q"]


def test_every_numeric_option_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    """In process, through the real parser: every bad value is argparse's one-line error,
    exit 2, naming the option; the flagship cases of the issue among them."""
    parser = build_parser()
    for command, option, name in NUMERIC_OPTIONS:
        for value in BAD_NUMBERS + _out_of_range(name):
            with pytest.raises(SystemExit) as exit_info:
                parser.parse_args(_argv(command, option, value))
            assert exit_info.value.code == EXIT_BAD_INPUT, (option, value)
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and f"argument {option}: " in err, err
            assert len(err) < 300, err


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    which=st.sampled_from(NUMERIC_OPTIONS),
    value=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers().map(str),
        st.integers(min_value=-(10**400), max_value=10**400).map(str),
        st.text(max_size=30),
        st.sampled_from(BAD_NUMBERS),
    ),
)
def test_numbers_fuzzed(which: tuple[tuple[str, ...], str, str], value: str) -> None:
    """Any text given to any numeric option: either a number within its limit, or a
    one-line usage error (exit 2), never another exception."""
    command, option, name = which

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            args = build_parser().parse_args(_argv(command, option, value))
        except SystemExit as exc:
            assert exc.code == EXIT_BAD_INPUT
            text = err.getvalue()
            assert text.count("\n") == 1 and f"argument {option}: " in text, text
            return
    dest = {"--sample-top-k": "top_k", "--top-k": "show_top_k"}.get(
        option, option.lstrip("-").replace("-", "_"))
    number = getattr(args, dest)
    limit = _limit(name)
    assert isinstance(number, int if limit.integer else float | int)
    assert math.isfinite(number) and limit.low <= number <= limit.high


@pytest.mark.parametrize("args, words", [
    (("ask", "--threads", "100000", "hi"), ("--threads", "between 1 and 256", "100000")),
    (("ask", "--max-tokens", "0", "hi"), ("--max-tokens", "between 1 and")),
    (("ask", "--max-tokens", "-5", "hi"), ("--max-tokens", "not -5")),
    (("ask", "--temperature", "nan", "hi"), ("--temperature", "finite")),
    (("ask", "--top-p", "inf", "hi"), ("--top-p", "finite")),
    (("ask", "--min-p", "1e400", "hi"), ("--min-p", "1e400")),
    (("ask", "--seed", "99999999999999999999999", "hi"), ("not 99999999999999999999999",)),
    (("ask", "--ctx", "9" * 5000, "hi"), ("--ctx", "between 256 and")),
    (("ask", "--top-k", "21", "--json", "hi"), ("--top-k", "between 0 and 20")),
    (("ask", "--gpu-layers", "all", "hi"), ("--gpu-layers", "must be a number")),
    (("compare", "--max-tokens", "0", "hi"), ("--max-tokens",)),
    (("compare", "--temperature", "-1", "hi"), ("--temperature", "between 0 and 5")),
    (("kb", "search", "--k", "0", "q"), ("--k", "between 1 and 1024")),
])
def test_numbers_real_process(home: Path, args: tuple[str, ...], words: tuple[str, ...]) -> None:
    """Before: `--threads 100000` aborted (SIGABRT, a gdb dump on stdout); `--max-tokens 0`
    and `-5` silently replied nothing; NaN and inf were sampled with."""
    result = run(*args, home=home)
    one_line(result, EXIT_BAD_INPUT, "error: argument", *words)
    assert result.stdout == b""


# ------------------------------------------------------------------ every subcommand


def hostile_cases(odd: dict[str, Path], big: str) -> list[tuple[str, list[str | bytes], bytes,
                                                                 tuple[int, ...]]]:
    """(id, argv, stdin, exit codes) for every subcommand; none loads a model's weights."""
    cases: list[tuple[str, list[str | bytes], bytes, tuple[int, ...]]] = []

    def add(case_id: str, argv: list[str | bytes], *codes: int, stdin: bytes = b"") -> None:
        cases.append((case_id, argv, stdin, codes))

    # No command, bad options.
    add("bogus option", ["--bogus"], 2)
    add("data-dir without a value", ["--data-dir"], 2)
    add("empty data-dir", ["--data-dir", "", "model", "list"], 2)
    add("data-dir is a file", ["--data-dir", os.devnull, "model", "list"], 2)
    add("data-dir is a long name", ["--data-dir", "/tmp/" + "d" * 5000, "model", "list"], 2)
    add("unknown command", ["frobnicate"], 2)
    add("kb without subcommand", ["kb"], 2)
    add("model without subcommand", ["model"], 2)
    add("gui --help", ["gui", "--help"], 0)
    add("help", ["--help"], 0)
    # ask
    add("ask without prompt", ["ask"], 2)
    add("ask empty prompt", ["ask", ""], 2)
    add("ask blank prompt", ["ask", " \t\n "], 2)
    add("ask prompt not UTF-8", ["ask", b"caf\xe9"], 2)
    add("ask system not UTF-8", ["ask", "--system", b"\xff\xfe", "hi"], 2)
    add("ask stop not UTF-8", ["ask", "--stop", b"\x80", "hi"], 2)
    add("ask empty model", ["ask", "--model", "", "hi"], 2)
    add("ask blank model", ["ask", "--model", "  ", "hi"], 2)
    add("ask unknown builtin", ["ask", "--model", "builtin:nope", "hi"], 2)
    add("ask bad template", ["ask", "--template", b"\xff", "hi"], 2)
    add("ask unknown kb", ["ask", "--kb", "不存在", "hi"], 2)
    add("ask empty kb", ["ask", "--kb", "", "hi"], 2)
    add("ask stdin empty", ["ask", "-"], 2)
    add("ask stdin binary", ["ask", "-"], 2, stdin=b"\xff\xd8\xff\xe0" + os.urandom(4096))
    add("ask stdin NUL", ["ask", "-"], 2, stdin=b"hello\0world")
    add("ask stdin GBK", ["ask", "-"], 2, stdin="我今天吃了狮子头".encode("gbk"))
    add("ask stdin huge", ["ask", "-"], 2, stdin=b"a" * (16 * 1024 * 1024 + 1))
    for name, path in odd.items():
        add(f"ask model {name}", ["ask", "--model", str(path), "hi"], 2)
        add(f"model info {name}", ["model", "info", str(path)], 2)
        add(f"tokens model {name}", ["tokens", "--model", str(path), "x"], 2)
        add(f"compare model {name}", ["compare", "--model", str(path), "hi"], 1)
    add("ask model name not UTF-8", ["ask", "--model", b"/nonexistent/\xff.gguf", "hi"], 2)
    add("ask model name too long", ["ask", "--model", "/" + "m" * 100_000, "hi"], 2)
    add("ask huge number", ["ask", "--threads", big, "hi"], 2)
    # tokens
    add("tokens without text", ["tokens"], 2)
    add("tokens not UTF-8", ["tokens", b"a\xffb"], 2)
    add("tokens stdin binary", ["tokens", "-"], 2, stdin=b"\x00\x01\x02\xff")
    add("tokens stdin invalid UTF-8", ["tokens", "-"], 2, stdin=b"abc\xc3(")
    add("tokens empty model", ["tokens", "--model", "", "x"], 2)
    # compare
    add("compare empty prompt", ["compare", ""], 2)
    add("compare not UTF-8", ["compare", b"\xff"], 2)
    add("compare stdin binary", ["compare", "-"], 2, stdin=b"\xff" * 100)
    add("compare unknown builtin", ["compare", "--model", "builtin:nope", "hi"], 2)
    # model
    add("model info empty", ["model", "info", ""], 2)
    add("model info unknown builtin", ["model", "info", "builtin:"], 2)
    add("model info name not UTF-8", ["model", "info", b"\xff.gguf"], 2)
    add("model list extra", ["model", "list", "x"], 2)
    add("model list bad option", ["model", "list", "--json=1"], 2)
    # kb
    add("kb add without paths", ["kb", "add"], 2)
    add("kb add empty kb", ["kb", "add", "--kb", "", str(odd["text"])], 2)
    add("kb add kb not UTF-8", ["kb", "add", "--kb", b"\xff", str(odd["text"])], 2)
    add("kb add missing", ["kb", "add", str(odd["missing"])], 1)
    add("kb add devnull", ["kb", "add", os.devnull], 1)
    add("kb add fifo", ["kb", "add", str(odd["fifo"])], 1)
    add("kb add bad embedder", ["kb", "add", "--embedder", str(odd["missing"]),
                                str(odd["text"])], 2)
    add("kb search no kb", ["kb", "search", "q"], 2)
    add("kb search unknown kb", ["kb", "search", "--kb", "nope", "q"], 2)
    add("kb search empty query", ["kb", "search", ""], 2)
    add("kb search not UTF-8", ["kb", "search", b"\xff\xfe"], 2)
    add("kb search long query", ["kb", "search", big], 2)
    add("kb list unknown", ["kb", "list", "--kb", "nope"], 2)
    add("kb list empty name", ["kb", "list", "--kb", ""], 2)
    add("kb remove unknown", ["kb", "remove", "--kb", "nope", "x"], 2)
    add("kb remove nothing", ["kb", "remove", "--all", "x", "--kb", ""], 2)
    add("kb sync unknown", ["kb", "sync", "--kb", "nope"], 2)
    add("kb embedder unknown kb", ["kb", "embedder", "--kb", "nope", "x"], 2)
    add("kb embedder empty", ["kb", "embedder", ""], 2)
    # serve (each refused before a model loads or a port is taken)
    add("serve port too big", ["serve", "--port", "70000"], 2)
    add("serve port negative", ["serve", "--port", "-1"], 2)
    add("serve port huge", ["serve", "--port", big], 2)
    add("serve queue negative", ["serve", "--queue", "-5"], 2)
    add("serve empty token", ["serve", "--token", ""], 2)
    add("serve token with space", ["serve", "--token", "a b"], 2)
    add("serve token not UTF-8", ["serve", "--token", b"\xff\xfe"], 2)
    add("serve elsewhere without flag", ["serve", "--host", "0.0.0.0", "--port", "0"], 2)
    add("serve token contradiction", ["serve", "--token", "t", "--no-token"], 2)
    add("serve unknown builtin", ["serve", "--port", "0", "--model", "builtin:nope"], 2)
    add("serve bad ctx", ["serve", "--ctx", "nan"], 2)
    for name, path in odd.items():
        add(f"serve model {name}", ["serve", "--port", "0", "--model", str(path)], 2)
    # models
    add("models without subcommand", ["models"], 2)
    add("models search not UTF-8", ["models", "search", b"\xff"], 2)
    add("models search huge ctx", ["models", "search", "--ctx", big], 2)
    add("models search long query", ["models", "search", big], 0)
    add("models pull empty", ["models", "pull", ""], 2)
    add("models pull unknown", ["models", "pull", "不存在的模型"], 2)
    add("models pull bad source", ["models", "pull", "x", "--source", "ftp"], 2)
    add("models pull url not http", ["models", "pull", "x.gguf", "--url", "ftp://x/y"], 2)
    add("models pull evil name", ["models", "pull", "../x.gguf", "--url", "http://127.0.0.1:9"],
        2)
    add("models rm empty", ["models", "rm", ""], 2)
    add("models rm not UTF-8", ["models", "rm", b"\xff.gguf"], 2)
    add("models search refresh offline", ["models", "search", "--refresh",
                                          "http://127.0.0.1:9/c.json"], 1)
    return cases


CASE_IDS = [c[0] for c in hostile_cases({k: Path(k) for k in (
    "missing", "directory", "devnull", "empty", "text", "fifo")}, "")]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_no_traceback_ever(case_id: str, home: Path, odd_files: dict[str, Path]) -> None:
    big = "9" * 120_000  # one argument of Linux's 128 KiB maximum
    cases = {c[0]: c for c in hostile_cases(odd_files, big)}
    _, argv, stdin, codes = cases[case_id]
    result = run(*argv, home=home, stdin=stdin)
    err = quiet(result, *codes)
    if result.returncode == EXIT_BAD_INPUT:
        assert err.count("\n") == 1 and err.startswith("mingjing"), err
        assert len(err) <= 1100, len(err)
    if case_id.endswith("help"):
        assert b"usage: mingjing" in result.stdout


def test_stdin_closed(home: Path) -> None:
    """`mingjing ask - <&-`. (A folder as standard input stops Python itself before any of
    Mingjing runs: "Fatal Python error: init_sys_streams".)"""
    closed = run("ask", "-", home=home, stdin=None, preexec_fn=lambda: os.close(0))
    one_line(closed, EXIT_BAD_INPUT, "standard input is closed")


def test_input_that_is_not_text_says_so(home: Path) -> None:
    binary = run("ask", "-", home=home, stdin=b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR")
    one_line(binary, EXIT_BAD_INPUT, "standard input is binary data")
    latin1 = run("tokens", "-", home=home, stdin="café".encode("latin-1"))
    one_line(latin1, EXIT_BAD_INPUT, "standard input is not UTF-8 text (byte 0xe9 at offset 3)")
    argv = run("ask", b"caf\xe9", home=home)
    one_line(argv, EXIT_BAD_INPUT, "the prompt is not UTF-8 text (byte 0xe9 at character 3)")


def test_text_input_is_read_exactly(home: Path) -> None:
    """What is text gets through unchanged: a UTF-8 BOM is dropped, Chinese is read."""
    plain = run("tokens", "--json", "我今天吃了狮子头", home=home)
    piped = run("tokens", "--json", "-", home=home,
                stdin=b"\xef\xbb\xbf" + "我今天吃了狮子头".encode())
    assert quiet(plain, 0) == "" and quiet(piped, 0) == ""
    assert json.loads(piped.stdout) == json.loads(plain.stdout)


def test_a_long_prompt_is_one_line(home: Path) -> None:
    """A prompt of 120 KB in a 256-token window: the model loads and the prompt is refused
    in one line, naming the sizes."""
    result = run("ask", "--ctx", "256", "--max-tokens", "8", "word " * 24_000, home=home)
    one_line(result, EXIT_FAILED, "context window")
