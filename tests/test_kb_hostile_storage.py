"""The knowledge base when its file cannot be written, or is created by several at once, with
the real parts (SQLite file with sqlite-vec, the built-in embedder) and real processes for the
command line: a read-only database, a full disk (SQLite's page limit, and a real tiny file
system), two first imports racing to create the same knowledge base.

Every command-line failure must be one line on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kb.indexer import Indexer
from kb.store import KnowledgeStore
from tests.conftest import REPO
from tests.kb_hostile_helpers import consistent, one_line_error, run_cli, write


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


# ---------------------------------------------------------- read-only, full, racing


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file unwritable for real: immutable as root (root writes through file modes),
    read-only mode otherwise."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(path)], capture_output=True
        ).returncode != 0:
            pytest.skip("cannot make a file immutable here")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(stat.S_IRUSR)
        try:
            yield
        finally:
            path.chmod(mode)


def test_cli_read_only_knowledge_db(home: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.md", tmp_path / "b.md"
    write(a, "长江是中国最长的河流。")
    write(b, "黄河是中国第二长的河流。")
    assert run_cli("kb", "add", str(a), home=home).returncode == 0
    with read_only(home / "knowledge.db"):
        listed = run_cli("kb", "list", home=home)
        assert listed.returncode == 0 and b"default: 1 files" in listed.stdout
        found = run_cli("kb", "search", "--json", "长江", home=home)
        assert found.returncode == 0 and json.loads(found.stdout)["hits"]
        added = run_cli("kb", "add", str(b), home=home)
        err = added.stderr.decode("utf-8")
        assert added.returncode == 1 and "Traceback" not in err
        assert err.splitlines()[-1].endswith(
            f"stopped: cannot write knowledge base {home / 'knowledge.db'}: the file or its "
            "folder is read-only"
        )
        message = one_line_error(run_cli("kb", "add", "--kb", "新的", str(b), home=home), 1)
        assert message.endswith("read-only")
        one_line_error(run_cli("kb", "remove", "--kb", "default", "--all", home=home), 1)
    assert run_cli("kb", "add", str(b), home=home).returncode == 0


def test_disk_full_during_an_import_stops_it_consistently(tmp_path: Path) -> None:
    """SQLite's own SQLITE_FULL (the page limit stands in for the disk): the import stops with
    the reason, what was written stays consistent, and the next import finishes the rest."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(12):
        write(folder / f"{i:02d}.md", f"# 第{i}篇\n" + f"第{i}篇文章写了很多内容。" * 150)
    store = KnowledgeStore(tmp_path / "k.db")
    indexer = Indexer(store)
    indexer.ensure_kb("满")
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    # Room for sqlite-vec's first block of vectors (2 MiB: 512 pages) and a few files more.
    store.conn.execute(f"PRAGMA max_page_count = {pages + 550}")
    report = indexer.add("满", [folder])
    assert report.error == (
        f"cannot write knowledge base {tmp_path / 'k.db'}: the disk is full"
    )
    assert "stopped: cannot write" in report.summary()
    done = report.count("indexed")
    assert 0 < done < 12
    consistent(store)
    store.conn.execute("PRAGMA max_page_count = 1073741823")
    again = indexer.add("满", [folder])
    assert again.error == "" and again.count("unchanged") == done
    assert again.count("indexed") == 12 - done
    consistent(store)
    store.close()


def test_cli_disk_full_on_a_tiny_file_system(tmp_path: Path) -> None:
    """A real full disk: the data folder on a 2 MiB tmpfs in a private mount namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare")
    home, docs = tmp_path / "home", tmp_path / "docs"
    home.mkdir()
    docs.mkdir()
    for i in range(40):
        write(docs / f"{i:02d}.md", f"# 第{i}篇\n" + f"第{i}篇文章写了很多不同的内容{i}。" * 120)
    out = tmp_path / "out"
    script = (
        'mount -t tmpfs -o size=2m tmpfs "$1" || exit 99; '
        'MINGJING_HOME="$1" "$2" -m app kb add "$3" >"$4.add" 2>"$4.add.err"; echo $? >"$4.rc"; '
        'MINGJING_HOME="$1" "$2" -m app kb list --kb default >"$4.list" 2>"$4.list.err"'
    )
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", str(home), sys.executable,
                            str(docs), str(out)], cwd=REPO, capture_output=True, timeout=600)
    if probe.returncode == 99 or not Path(f"{out}.rc").exists():
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.decode(errors='replace')}")
    err = Path(f"{out}.add.err").read_text(encoding="utf-8")
    assert Path(f"{out}.rc").read_text().strip() == "1", err
    assert "Traceback" not in err
    assert err.splitlines()[-1].endswith(
        f"stopped: cannot write knowledge base {home / 'knowledge.db'}: the disk is full"
    )
    listed = Path(f"{out}.list").read_text(encoding="utf-8").splitlines()
    assert Path(f"{out}.list.err").read_text() == ""
    states = [line.split()[0] for line in listed]
    assert set(states) <= {"indexed", "pending"} and len(states) < 40


def test_two_first_imports_race_to_create_the_same_knowledge_base(home: Path,
                                                                  tmp_path: Path) -> None:
    docs = []
    for i in range(4):
        doc = tmp_path / f"{i}.md"
        write(doc, f"第{i}个同时导入的文件。")
        docs.append(doc)
    env = {**os.environ, "MINGJING_HOME": str(home)}
    children = [subprocess.Popen([sys.executable, "-m", "app", "kb", "add", "--kb", "同一个",
                                  str(doc)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE) for doc in docs]
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err.decode()
        assert b"Traceback" not in err
    listed = run_cli("kb", "list", "--kb", "同一个", home=home).stdout.decode().splitlines()
    assert len(listed) == 4 and all(line.startswith("indexed") for line in listed)


def test_concurrent_creation_in_process(tmp_path: Path) -> None:
    """Eight connections migrate one new file at once; two stores create one name."""
    db = tmp_path / "knowledge.db"
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def open_it() -> None:
        barrier.wait()
        try:
            KnowledgeStore(db).close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    a, b = KnowledgeStore(db), KnowledgeStore(db)
    assert b.get_kb("同名") is None
    made = a.create_kb("同名", embedder="e", dim=4, chunk_tokens=8, chunk_overlap=1)
    again = b.create_kb("同名", embedder="e", dim=4, chunk_tokens=8, chunk_overlap=1)
    assert again.id == made.id and len(b.list_kbs()) == 1
    a.close()
    b.close()
