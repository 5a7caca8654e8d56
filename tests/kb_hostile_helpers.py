"""Test helper for the knowledge base against hostile input: `mingjing` run as a real process
(output kept as bytes), the check that a failed command says so in one line, files written
as UTF-8 under any name (bytes included), and the check that a knowledge base's tables
agree with each other."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kb.store import KnowledgeStore
from tests.conftest import REPO


def run_cli(*args: str | bytes, home: Path,
            timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    """`mingjing ARGS` in a real process; output kept as bytes so that it can be checked to
    be valid UTF-8."""
    env = {**os.environ, "MINGJING_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, env=env,
                          capture_output=True, timeout=timeout)


def one_line_error(result: subprocess.CompletedProcess[bytes], code: int) -> str:
    """The stderr of a failed command: exactly one line, valid UTF-8, no traceback."""
    err = result.stderr.decode("utf-8")
    assert result.returncode == code, (result.returncode, err)
    assert "Traceback" not in err and "Traceback" not in result.stdout.decode("utf-8")
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("mingjing: ")
    return err.strip()


def write(path: Path | bytes, text: str) -> None:
    with open(path, "wb") as fh:
        fh.write(text.encode("utf-8"))


def consistent(store: KnowledgeStore) -> None:
    conn = store.conn
    chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    assert chunks == conn.execute("SELECT COUNT(*) FROM chunk_fts").fetchone()[0]
    assert conn.execute(
        "SELECT COUNT(*) FROM files f WHERE f.chunks != "
        "(SELECT COUNT(*) FROM chunks c WHERE c.file_id = f.id)"
    ).fetchone()[0] == 0
