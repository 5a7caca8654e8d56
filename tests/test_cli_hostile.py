"""The "no traceback ever" harness (issue 12): every subcommand run as a real process with
hostile arguments and input. Each run must end with a documented exit code, no "Traceback"
(nor Python's "Exception ignored") on stdout or stderr, and at most a few lines on stderr.

Exit codes: 0 done; 1 the world got in the way (files that failed to import, a model that
failed in `compare`, a full disk); 2 bad input (an option, a model file, text that is not
text, an unknown knowledge base); 70 a bug (traceback in the log file); 130 Ctrl-C; 141 the
reader of the output went away.

Most cases fail before a model loads; the few that need one use the small built-in Gemma,
hard-linked into a fresh data folder."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.ask_cli import CANDIDATES
from app.cli import build_parser
from app.cli_errors import guarded, known_error
from app.cli_output import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERNAL, json_safe, print_json
from app.main import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED
from engine.limits import LIMITS
from tests.conftest import REPO

MAX_STDERR_LINES = 5  # `kb add`: scanning, progress, summary, a failed file
# Python's own complaints that must never reach the user.
NOISE = (b"Traceback", b"Exception ignored", b"--- Logging error ---", b"Fatal Python error")


# ----------------------------------------------------------------------------- helpers


def env_for(home: Path) -> dict[str, str]:
    return {**os.environ, "MINGJING_HOME": str(home)}


def run(*args: str | bytes, home: Path, stdin: bytes | None = b"",
        timeout: float = 300, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """`mingjing ARGS` in a real process, output as bytes."""
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, env=env_for(home),
                          input=stdin, capture_output=True, timeout=timeout,
                          **kwargs)  # type: ignore[call-overload]


def quiet(result: subprocess.CompletedProcess[bytes], *codes: int,
          lines: int = MAX_STDERR_LINES) -> str:
    """No traceback or noise anywhere, an expected exit code, few stderr lines; the stderr
    text (valid UTF-8: names that are not are shown with U+FFFD)."""
    for noise in NOISE:
        assert noise not in result.stdout and noise not in result.stderr, result.stderr[-3000:]
    err = result.stderr.decode("utf-8")
    assert result.returncode in codes, (result.returncode, err)
    assert err.count("\n") <= lines, err
    return err


def one_line(result: subprocess.CompletedProcess[bytes], code: int, *words: str) -> str:
    err = quiet(result, code, lines=1)
    assert err.endswith("\n") and err.startswith("mingjing"), err
    for word in words:
        assert word in err, (word, err)
    return err.strip()


@pytest.fixture
def home(tmp_path: Path, default_model_path: Path) -> Path:
    """A data folder holding the small built-in model, chosen as the model to use: a case
    that unexpectedly got past the checks loads Gemma rather than assembling another."""
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    os.link(default_model_path, home / "models" / default_model_path.name)
    (home / "settings.json").write_text('{"model": "builtin:gemma-3-270m"}')
    return home


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


# ----------------------------------------------------------------- the one error path


def test_a_bug_is_one_line_and_the_traceback_is_in_the_log(home: Path) -> None:
    """A real process whose `model list` raises an unexpected exception."""
    script = textwrap.dedent("""
        import sys
        import app.model_cli

        def broken(args, paths):
            raise KeyError("surprise")

        app.model_cli.cmd_model_list = broken
        from app.main import main
        sys.exit(main(["model", "list"]))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env_for(home),
                            capture_output=True, timeout=300)
    log_file = home / "logs" / "mingjing.log"
    err = one_line(result, EXIT_INTERNAL, "mingjing: internal error: KeyError: 'surprise'",
                   f"(details in {log_file})")
    assert err.endswith(f"(details in {log_file})")
    log = log_file.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log and "in broken" in log


def test_guarded_without_a_log_file(capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """No log file (a read-only data folder): the traceback goes to a file of its own."""
    import app.logs

    monkeypatch.setattr(app.logs, "log_file_in_use", lambda: None)

    def bug() -> int:
        raise ZeroDivisionError("division by zero")

    assert guarded(bug) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: ZeroDivisionError" in err
    path = Path(err.split("details in ", 1)[1].rstrip(")\n"))
    try:
        assert "ZeroDivisionError" in path.read_text(encoding="utf-8")
    finally:
        path.unlink()
    assert path.name.startswith("mingjing-error-")


@pytest.mark.parametrize("exc, code, words", [
    (OSError(errno.ENOSPC, "No space left on device", "/data/knowledge.db"), EXIT_FAILED,
     "/data/knowledge.db: no space left on the disk"),
    (OSError(errno.EROFS, "Read-only file system", "/ro/x"), EXIT_FAILED,
     "/ro/x: the file system is read-only"),
    (PermissionError(errno.EACCES, "Permission denied", "/x"), EXIT_FAILED,
     "/x: permission denied"),
    (FileNotFoundError(errno.ENOENT, "No such file", b"/a\xffb"), EXIT_FAILED,
     "/a\ufffdb: not found"),
    (sqlite3.OperationalError("database is locked"), EXIT_FAILED, "locked by another program"),
    (sqlite3.OperationalError("database or disk is full"), EXIT_FAILED, "the disk is full"),
    (MemoryError(), EXIT_FAILED, "out of memory"),
])
def test_known_errors_are_one_line(exc: BaseException, code: int, words: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert known_error(exc) is not None

    def fails() -> int:
        raise exc

    assert guarded(fails) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err, err


def test_bugs_are_not_known_errors() -> None:
    for exc in (KeyError("x"), TypeError("x"), sqlite3.IntegrityError("UNIQUE constraint"),
                UnicodeEncodeError("utf-8", "\udcff", 0, 1, "surrogates not allowed"),
                RecursionError()):
        assert known_error(exc) is None, exc


# ------------------------------------------------------------ Ctrl-C and closed pipes


def _spawn(*args: str, home: Path, **kwargs: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, *args], cwd=REPO, env=env_for(home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            **kwargs)  # type: ignore[call-overload]


# A real `mingjing` whose model and embedder loads first say so on stderr, so that a test
# can press Ctrl-C while they run (the load itself is the real one).
MARKED = textwrap.dedent("""
    import sys
    import kb.embedders
    import models.open

    def marked(real):
        def call(*args, **kwargs):
            print("@loading", file=sys.stderr, flush=True)
            return real(*args, **kwargs)
        return call

    models.open.open_backend = marked(models.open.open_backend)
    kb.embedders.UseMultilingual.__init__ = marked(kb.embedders.UseMultilingual.__init__)
    from app.main import main
    sys.exit(main(sys.argv[1:]))
""")


def _interrupt_at_marker(argv: list[str], home: Path,
                         presses: int = 1) -> tuple[int, bytes, str]:
    child = _spawn("-c", MARKED, *argv, home=home)
    assert child.stderr is not None
    line = child.stderr.readline()
    assert line == b"@loading\n", line + child.stderr.read()
    for _ in range(presses):
        child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=300)
    return child.returncode, out, err.decode("utf-8")


@pytest.mark.parametrize("argv, presses", [
    (["ask", "--max-tokens", "64", "The capital of France is"], 1),
    (["ask", "--max-tokens", "64", "The capital of France is"], 2),  # the second: at once
    (["tokens", "hello"], 1),
    (["compare", "--model", "gemma-3-270m", "--max-tokens", "64", "Hello"], 1),
])
def test_ctrl_c_while_a_model_loads(home: Path, argv: list[str], presses: int) -> None:
    """Before: while llama.cpp loaded a model, Ctrl-C was swallowed by its log callback and
    the reply went on to the end (exit 0)."""
    code, out, err = _interrupt_at_marker(argv, home, presses)
    assert code == EXIT_INTERRUPTED, (code, err)
    assert all(n.decode() not in err for n in NOISE) and b"Traceback" not in out
    if argv[0] == "ask":
        assert out == b""  # nothing was generated


def test_ctrl_c_while_the_embedder_loads(home: Path, tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("长江是中国最长的河流。", encoding="utf-8")
    code, _, err = _interrupt_at_marker(["kb", "add", str(doc)], home)
    assert code == EXIT_INTERRUPTED, (code, err)
    assert "Traceback" not in err and err.count("\n") <= MAX_STDERR_LINES


def test_ctrl_c_during_ask_keeps_the_partial_reply(home: Path) -> None:
    # Greedy counting goes on past 200 tokens with this model: no early end of text.
    child = _spawn("-m", "app", "ask", "--max-tokens", "2000", "--temperature", "0",
                   "1, 2, 3, 4, 5, 6, 7, 8,", home=home)
    assert child.stdout is not None
    first = child.stdout.read(1)  # the reply has begun
    child.send_signal(signal.SIGINT)
    rest, err = child.communicate(timeout=300)
    assert child.returncode == EXIT_INTERRUPTED, err
    assert first and err == b""
    assert rest.endswith(b"\n")


def _closed_reader(*args: str, home: Path, read: int = 0) -> subprocess.CompletedProcess[bytes]:
    """Run with stdout a pipe whose reader reads `read` bytes, then goes away (`| head`)."""
    child = _spawn("-m", "app", *args, home=home)
    assert child.stdout is not None and child.stderr is not None
    if read:
        child.stdout.read(read)
    child.stdout.close()
    err = child.stderr.read()
    child.wait(timeout=300)
    return subprocess.CompletedProcess(child.args, child.returncode, b"", err)


@pytest.mark.parametrize("args, read, codes", [
    (("model", "list"), 0, (EXIT_BROKEN_PIPE,)),
    (("kb", "list"), 0, (EXIT_BROKEN_PIPE,)),
    (("ask", "--max-tokens", "400", "--temperature", "0", "1, 2, 3, 4, 5, 6, 7, 8,"), 10,
     (EXIT_BROKEN_PIPE,)),
    (("tokens", "word " * 20_000), 1, (EXIT_BROKEN_PIPE,)),
    # argparse itself ignores a failed write of the help (exit 0).
    (("--help",), 0, (0, EXIT_BROKEN_PIPE)),
])
def test_a_closed_pipe_ends_quietly(home: Path, args: tuple[str, ...], read: int,
                                    codes: tuple[int, ...]) -> None:
    """Before: `mingjing ask ... | head -c 10` ended with a BrokenPipeError traceback."""
    result = _closed_reader(*args, home=home, read=read)
    assert result.returncode in codes, result.stderr
    assert result.stderr == b""


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


