"""The "no traceback ever" harness (issue 12), how a run ends when something goes wrong, in
real processes: a bug is one line (exit 70) with its traceback in the log file; errors of the
world are one line (exit 1); Ctrl-C while a model or the embedder loads, or while a reply
streams, ends the run at once (exit 130); a reader of the output that goes away ends it
quietly (exit 141)."""

from __future__ import annotations

import errno
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.cli_errors import guarded, known_error
from app.cli_output import EXIT_FAILED, EXIT_INTERNAL
from app.main import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED
from tests.cli_hostile_helpers import MAX_STDERR_LINES, NOISE, env_for, gemma_home, one_line
from tests.conftest import REPO


@pytest.fixture
def home(tmp_path: Path, default_model_path: Path) -> Path:
    return gemma_home(tmp_path, default_model_path)


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
