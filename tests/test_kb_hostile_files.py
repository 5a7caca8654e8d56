"""The knowledge base against hostile files to import, with the real parts (SQLite file with
sqlite-vec, the built-in embedder, jieba) and real processes for the command line:

- file names that are not text (bytes that are not UTF-8, control characters), fuzzed;
  FIFOs and devices named explicitly;
- files too slow to read (a budget that runs out on a counted clock) and Ctrl-C;
- honest messages (binary units; UTF-16 without a BOM).

Every command-line failure must be one line on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.filenames import display_path, real_path, stored_path, unicode_path
from kb.indexer import Indexer
from kb.store import KnowledgeStore
from tests.conftest import REPO
from tests.kb_hostile_helpers import consistent, run_cli, write

POSIX_BYTES = os.name == "posix" and sys.getfilesystemencoding() == "utf-8"
needs_byte_names = pytest.mark.skipif(not POSIX_BYTES, reason="file names are bytes only on POSIX")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


# ----------------------------------------------------------------------- file names

# b"z\xff.txt" (invalid byte), a UTF-8 sequence cut short, an overlong encoding, a lone
# surrogate encoded as UTF-8 (CESU), Latin-1, control characters (newline, escape, DEL),
# right-to-left override, and a folder whose own name is not UTF-8.
BAD_NAMES = [
    b"z\xff.txt", b"\xe4\xb8.md", b"\xc0\xaf.txt", b"\xed\xa0\x80.txt", b"caf\xe9.txt",
    b"line\nbreak.txt", b"\x1b[31mred.txt", b"del\x7f.txt", "\u202etxt.exe.txt".encode(),
    b"%s and \\ and 'quotes'.md", "正常的名字.txt".encode(),
]


@needs_byte_names
def test_names_that_are_not_text_are_indexed_shown_and_removed(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    root = os.fsencode(folder)
    for i, name in enumerate(BAD_NAMES):
        write(root + b"/" + name, f"第{i}号文件：名字很奇怪，内容是正常的中文。")
    os.mkdir(root + b"/dir\xfe")
    write(root + b"/dir\xfe/inner\xe4.txt", "坏名字文件夹里的文件。")
    store = KnowledgeStore(tmp_path / "k.db")
    indexer = Indexer(store)
    report = indexer.add("名字", [folder])
    assert report.failed == [] and report.count("indexed") == len(BAD_NAMES) + 1
    kb = store.get_kb("名字")
    assert kb is not None
    records = store.files(kb.id)
    assert {os.fsencode(r.path) for r in records} == (
        {root + b"/" + n for n in BAD_NAMES} | {root + b"/dir\xfe/inner\xe4.txt"}
    )
    assert all(Path(r.path).is_file() for r in records)  # the real names, usable as paths
    # Stored as valid text; the database holds no lone surrogate.
    raw = [r[0] for r in store.conn.execute("SELECT path FROM files")]
    for p in raw:
        p.encode("utf-8")
    # Search hits carry valid text (it goes into prompts and JSON), bad bytes as U+FFFD.
    from app.rag import retrieve

    hits = retrieve(store, ["名字"], "坏名字文件夹里的文件", k=20)
    assert hits
    for hit in hits:
        hit.path.encode("utf-8")
    assert any(h.path.endswith("/dir\ufffd/inner\ufffd.txt") for h in hits)
    # Unchanged on a second import, every time (the old failure repeated on every add/sync).
    again = indexer.add("名字", [folder])
    assert again.count("unchanged") == len(BAD_NAMES) + 1 and again.failed == []
    # Removing one such file and a whole folder of them, then a deleted file on sync.
    bad = next(r for r in records if os.fsencode(r.path).endswith(b"/z\xff.txt"))
    store.remove_file(bad.id)
    for record in store.files(kb.id, under=os.fsdecode(root + b"/dir\xfe")):
        store.remove_file(record.id)
    os.remove(root + b"/caf\xe9.txt")
    synced = indexer.sync("名字")
    assert synced.count("removed") == 1 and synced.count("indexed") == 2
    assert len(store.files(kb.id)) == len(BAD_NAMES)
    consistent(store)
    store.close()


name_bytes = st.binary(min_size=1, max_size=40).filter(
    lambda b: b"/" not in b and b"\x00" not in b and not b.startswith(b".")
)


@needs_byte_names
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(name_bytes, min_size=1, max_size=6, unique=True))
def test_fuzzed_name_bytes_never_stop_an_import(tmp_path_factory: pytest.TempPathFactory,
                                                names: list[bytes]) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    root = os.fsencode(folder)
    for i, name in enumerate(names):
        write(root + b"/" + name + b".txt", f"模糊测试文件{i}。")
    store = KnowledgeStore(folder / "k.db")
    try:
        report = Indexer(store).add("fuzz", [folder])
        assert report.failed == [] and report.count("indexed") == len(names)
        kb = store.get_kb("fuzz")
        assert kb is not None
        paths = {os.fsencode(r.path) for r in store.files(kb.id)}
        assert paths == {root + b"/" + n + b".txt" for n in names}
        for record in store.files(kb.id):
            display_path(record.path).encode("utf-8")
            assert "\n" not in display_path(record.path)
            store.remove_file(record.id)
        assert store.files(kb.id) == []
    finally:
        store.close()


@given(st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF),
               max_size=30))
def test_stored_form_is_text_and_reversible(path: str) -> None:
    stored = stored_path(path)
    stored.encode("utf-8")  # valid text, whatever the path held
    assert stored_path(stored) == stored
    if "\ufdd0" not in path:  # a Unicode noncharacter: never in real names
        assert real_path(stored) == path
    shown = display_path(path)
    shown.encode("utf-8")
    unicode_path(path).encode("utf-8")
    assert "\n" not in shown


@given(st.lists(st.text(max_size=8).map(lambda t: t + "\udcff"), min_size=2, max_size=5,
                unique=True))
def test_stored_form_is_one_to_one(paths: list[str]) -> None:
    assert len({stored_path(p) for p in paths}) == len(paths)
    # Folder prefixes survive: a file under a folder is stored under the folder's form.
    assert stored_path("/d\udcfe/" + paths[0]).startswith(stored_path("/d\udcfe") + "/")


@needs_byte_names
def test_cli_with_names_that_are_not_text(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "文档"
    folder.mkdir()
    root = os.fsencode(folder)
    write(root + b"/z\xff.txt", "坏名字的文件，内容正常。")
    write(root + b"/line\nbreak.md", "# 标题\n换行的名字。")
    write(root + b"/ok.txt", "正常的文件。")
    added = run_cli("kb", "add", str(folder), home=home)
    assert added.returncode == 0, added.stderr
    err = added.stderr.decode("utf-8")
    assert "Traceback" not in err and "3 indexed" in err
    listed = run_cli("kb", "list", "--kb", "default", home=home)
    lines = listed.stdout.decode("utf-8").splitlines()  # strict: valid UTF-8
    assert len(lines) == 3 and any(line.endswith("/z\ufffd.txt  (1 chunks)") for line in lines)
    assert any("/line\ufffdbreak.md" in line for line in lines)
    as_json = json.loads(run_cli("kb", "list", "--kb", "default", "--json", home=home).stdout)
    assert {Path(f["path"]).name for f in as_json} == {"z\ufffd.txt", "line\nbreak.md", "ok.txt"}
    found = json.loads(run_cli("kb", "search", "--json", "坏名字", home=home).stdout)
    assert found["hits"][0]["path"].endswith("z\ufffd.txt")
    removed = run_cli("kb", "remove", "--kb", "default", root + b"/z\xff.txt", home=home)
    assert removed.returncode == 0 and b"removed 1 files" in removed.stderr
    os.remove(root + b"/line\nbreak.md")
    synced = run_cli("kb", "sync", "--kb", "default", home=home)
    assert synced.returncode == 0 and "1 removed" in synced.stderr.decode("utf-8")


def test_fifo_and_devices_are_not_read(tmp_path: Path) -> None:
    """Named explicitly, a FIFO would block and /dev/zero never end when hashed."""
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    ok = tmp_path / "ok.md"
    write(ok, "正常的文件。")
    store = KnowledgeStore(tmp_path / "k.db")
    report = Indexer(store).add("x", [fifo, "/dev/zero", ok])
    assert {Path(o.path).name: o.reason for o in report.failed} == {
        "pipe.txt": "not a regular file", "zero": "not a regular file",
    }
    assert report.count("indexed") == 1
    store.close()


# --------------------------------------------------------- slow files, Ctrl-C


def operator_pdf(pages: int, ops: int) -> bytes:
    """Pages of `ops` "q Q" operators each: a few KB that pypdf parses for seconds a page."""
    from tests.test_extract_hostile import raw_pdf, text_op

    return raw_pdf([text_op("Hello") + b"q Q\n" * ops for _ in range(pages)])


def test_file_over_budget_fails_alone(tmp_path: Path) -> None:
    """A clock that moves one second per look, 50 seconds per file: a 100-page PDF runs out,
    the Markdown file after it is indexed."""
    from tests.test_extract_hostile import raw_pdf, text_op

    slow = tmp_path / "slow.pdf"
    slow.write_bytes(raw_pdf([text_op(f"Page {i}") for i in range(100)]))
    ok = tmp_path / "ok.md"
    write(ok, "正常的文件。")
    ticks = itertools.count()
    store = KnowledgeStore(tmp_path / "k.db")
    indexer = Indexer(store, file_seconds=50, clock=lambda: float(next(ticks)))
    report = indexer.add("慢", [slow, ok])
    assert [(Path(o.path).name, o.reason) for o in report.failed] == [(
        "slow.pdf", "gave up after 50 s: reading and splitting this file takes longer than "
        "the time limit for one file",
    )]
    assert report.count("indexed") == 1
    store.close()


def test_cancel_inside_a_file_leaves_it_for_next_time(tmp_path: Path) -> None:
    slow = tmp_path / "slow.pdf"
    slow.write_bytes(operator_pdf(3, 300_000))
    cancel = threading.Event()
    looks = itertools.count()

    def clock() -> float:  # the user presses Cancel while the first page is being parsed
        if next(looks) == 4:
            cancel.set()
        return 0.0

    store = KnowledgeStore(tmp_path / "k.db")
    report = Indexer(store, clock=clock).add("取消", [slow], cancel=cancel)
    assert report.cancelled and report.outcomes == []
    kb = store.get_kb("取消")
    assert kb is not None and store.files(kb.id) == []
    assert Indexer(store).add("取消", [slow]).count("indexed") == 1
    store.close()


def test_cli_ctrl_c_during_a_hostile_pdf(home: Path, tmp_path: Path) -> None:
    """40 pages that pypdf parses for seconds each: Ctrl-C ends the import at once."""
    pdf = tmp_path / "hostile.pdf"
    pdf.write_bytes(operator_pdf(40, 1_500_000))
    env = {**os.environ, "MINGJING_HOME": str(home)}
    child = subprocess.Popen([sys.executable, "-m", "app", "kb", "add", str(pdf)], cwd=REPO,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stderr is not None
    assert child.stderr.readline() == "scanning…\n".encode()
    child.send_signal(signal.SIGINT)
    _, rest = child.communicate(timeout=120)  # a hang guard: before, ~200 s ignoring SIGINT
    err = rest.decode("utf-8")
    assert child.returncode == 130 and "Traceback" not in err  # 128 + SIGINT
    assert err.strip().endswith("— cancelled")


# ------------------------------------------------------------------- honest messages


def test_too_large_is_in_binary_units(tmp_path: Path) -> None:
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as fh:  # sparse: 60 MiB without writing them
        fh.truncate(60 * 1024 * 1024)
    store = KnowledgeStore(tmp_path / "k.db")
    report = Indexer(store).add("大", [huge])
    assert [o.reason for o in report.failed] == ["file is too large (60 MiB, limit 50 MiB)"]
    store.close()


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_bomless_unicode_chinese_is_indexed(tmp_path: Path, codec: str) -> None:
    doc = tmp_path / f"{codec}.txt"
    doc.write_bytes("长江是中国最长的河流，全长约六千三百公里。".encode(codec))
    store = KnowledgeStore(tmp_path / "k.db")
    report = Indexer(store).add("编码", [doc])
    assert report.failed == [] and report.count("indexed") == 1
    from app.rag import retrieve

    assert "六千三百公里" in retrieve(store, ["编码"], "长江有多长", k=1)[0].text
    store.close()
