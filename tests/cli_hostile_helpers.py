"""Test helper for the "no traceback ever" harness (issue 12): `mingjing` run as a real
process with hostile arguments and input, output as bytes, and the checks every run must pass:
a documented exit code, no "Traceback" (nor Python's "Exception ignored") on stdout or
stderr, and at most a few lines on stderr.

Exit codes: 0 done; 1 the world got in the way (files that failed to import, a model that
failed in `compare`, a full disk); 2 bad input (an option, a model file, text that is not
text, an unknown knowledge base); 70 a bug (traceback in the log file); 130 Ctrl-C; 141 the
reader of the output went away."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

MAX_STDERR_LINES = 5  # `kb add`: scanning, progress, summary, a failed file
# Python's own complaints that must never reach the user.
NOISE = (b"Traceback", b"Exception ignored", b"--- Logging error ---", b"Fatal Python error")


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


def gemma_home(tmp_path: Path, default_model_path: Path) -> Path:
    """A data folder holding the small built-in model, chosen as the model to use: a case
    that unexpectedly got past the checks loads Gemma rather than assembling another."""
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    os.link(default_model_path, home / "models" / default_model_path.name)
    (home / "settings.json").write_text('{"model": "builtin:gemma-3-270m"}')
    return home
