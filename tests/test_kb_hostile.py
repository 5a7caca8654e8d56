"""The knowledge base against hostile input, with the real parts (SQLite file with sqlite-vec,
the built-in embedder, jieba) and real processes for the command line:

- file names that are not text (bytes that are not UTF-8, control characters), fuzzed;
- database files that are not ours, newer, corrupt, read-only, on a full disk, created by two
  imports at once; empty names and result counts out of range;
- files too slow to read (a budget that runs out on a counted clock) and Ctrl-C;
- honest messages (binary units; UTF-16 without a BOM).

Every command-line failure must be one line on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb.db import DatabaseError
from kb.filenames import display_path, real_path, stored_path, unicode_path
from kb.indexer import Indexer
from kb.store import APPLICATION_ID, MAX_RESULTS, KnowledgeStore
from tests.conftest import REPO

POSIX_BYTES = os.name == "posix" and sys.getfilesystemencoding() == "utf-8"
needs_byte_names = pytest.mark.skipif(not POSIX_BYTES, reason="file names are bytes only on POSIX")


# ----------------------------------------------------------------------------- helpers


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


# ------------------------------------------------------------------- the database file


def foreign_db(path: Path, *, user_version: int = 0, application_id: int = 0) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE notes (body TEXT)")
    raw.execute("INSERT INTO notes VALUES ('precious')")
    raw.execute(f"PRAGMA user_version = {user_version}")
    raw.execute(f"PRAGMA application_id = {application_id}")
    raw.commit()
    raw.close()
    return path.read_bytes()


@pytest.mark.parametrize("user_version", [0, 1, 2, 7, 2**31 - 1])
def test_another_programs_database_is_refused_untouched(tmp_path: Path,
                                                        user_version: int) -> None:
    db = tmp_path / "knowledge.db"
    before = foreign_db(db, user_version=user_version)
    with pytest.raises(DatabaseError) as info:
        KnowledgeStore(db)
    assert info.value.kind == "not_ours"
    assert "not a Mingjing knowledge base" in str(info.value)
    assert "newer" not in str(info.value)
    assert db.read_bytes() == before
    assert not Path(f"{db}-wal").exists()


def test_a_file_with_our_tables_but_another_id_is_not_ours(tmp_path: Path) -> None:
    db = tmp_path / "knowledge.db"
    KnowledgeStore(db).close()
    raw = sqlite3.connect(db)
    raw.execute("PRAGMA application_id = 1234")
    raw.commit()
    raw.close()
    with pytest.raises(DatabaseError) as info:
        KnowledgeStore(db)
    assert info.value.kind == "not_ours"


def test_conversation_database_in_the_knowledge_base_place(tmp_path: Path) -> None:
    from app.conversations import ConversationStore, StoreError

    conv = tmp_path / "conversations.db"
    ConversationStore(conv).close()
    with pytest.raises(DatabaseError) as info:
        KnowledgeStore(conv)
    assert str(info.value) == (
        f"{conv} is not a Mingjing knowledge base (it is a Mingjing conversation database); "
        "it was left untouched"
    )
    knowledge = tmp_path / "knowledge.db"
    KnowledgeStore(knowledge).close()
    with pytest.raises(StoreError) as swapped:
        ConversationStore(knowledge)
    assert swapped.value.kind == "not_ours"
    assert "it is a Mingjing knowledge base" in str(swapped.value)


def test_knowledge_db_is_stamped(tmp_path: Path) -> None:
    with KnowledgeStore(tmp_path / "knowledge.db") as store:
        assert store.application_id == APPLICATION_ID == 0x4D4A4B42


@pytest.mark.parametrize("schema", [1, 2])
def test_unstamped_knowledge_db_of_ours_is_adopted(tmp_path: Path, schema: int) -> None:
    """Files made before the stamp (application_id 0) at schema 1 or 2: migrated, stamped,
    their content kept."""
    import kb.store

    db = tmp_path / "knowledge.db"
    doc = tmp_path / "a.md"
    write(doc, "长江是中国最长的河流。")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kb.store, "MIGRATIONS", kb.store.MIGRATIONS[:schema])
        patch.setattr(kb.store, "APPLICATION_ID", 0)
        with KnowledgeStore(db) as old:
            assert old.application_id == 0
            kb_id = old.create_kb("旧", embedder="use-multilingual-v3", dim=512,
                                  chunk_tokens=256, chunk_overlap=32).id
            old.add_source(kb_id, str(doc), is_folder=False)
            if schema == 2:  # a file being indexed when the app was closed
                old.mark_pending(kb_id, str(doc), 1, 1.0)
    with KnowledgeStore(db) as store:
        assert store.application_id == APPLICATION_ID
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == \
            len(kb.store.MIGRATIONS)
        assert [k.name for k in store.list_kbs()] == ["旧"]
        report = Indexer(store).add("旧", [doc])
        assert report.count("indexed") == 1
        assert store.conn.execute("SELECT title FROM files").fetchall() == [("a",)]


def test_newer_knowledge_db_is_named_as_such(tmp_path: Path) -> None:
    db = tmp_path / "knowledge.db"
    KnowledgeStore(db).close()
    raw = sqlite3.connect(db)
    raw.execute("PRAGMA user_version = 99")
    raw.commit()
    raw.close()
    with pytest.raises(DatabaseError) as info:
        KnowledgeStore(db)
    assert info.value.kind == "newer_version"
    assert "written by a newer version of Mingjing" in str(info.value)


def test_corrupt_knowledge_db_is_one_line_and_untouched(tmp_path: Path) -> None:
    db = tmp_path / "knowledge.db"
    garbage = os.urandom(64 * 1024)
    db.write_bytes(garbage)
    for _ in range(2):
        with pytest.raises(DatabaseError) as info:
            KnowledgeStore(db)
        assert info.value.kind == "corrupt" and "\n" not in str(info.value)
    assert db.read_bytes() == garbage


def test_conversations_foreign_file_with_a_high_version_is_not_ours(tmp_path: Path) -> None:
    from app.conversations import ConversationStore, StoreError

    db = tmp_path / "conversations.db"
    before = foreign_db(db, user_version=7)
    with pytest.raises(StoreError) as info:
        ConversationStore(db)
    assert info.value.kind == "not_ours"
    assert "not a Mingjing conversation database" in str(info.value)
    assert db.read_bytes() == before


def test_conversations_unstamped_file_of_ours_is_adopted(tmp_path: Path) -> None:
    from app.conversations import APPLICATION_ID as CONVERSATIONS_ID
    from app.conversations import ConversationStore

    db = tmp_path / "conversations.db"
    with ConversationStore(db) as store:
        store.create_conversation("旧的对话")
    raw = sqlite3.connect(db)
    raw.execute("PRAGMA application_id = 0")
    raw.commit()
    raw.close()
    with ConversationStore(db) as store:
        assert [c.title for c in store.list_conversations()] == ["旧的对话"]
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA application_id").fetchone()[0] == CONVERSATIONS_ID
    raw.close()


@pytest.mark.parametrize("case", ["foreign", "newer", "garbage", "conversations", "directory"])
def test_cli_database_problems_are_one_line(home: Path, tmp_path: Path, case: str) -> None:
    db = home / "knowledge.db"
    if case == "foreign":
        foreign_db(db, user_version=7)
    elif case == "newer":
        KnowledgeStore(db).close()
        raw = sqlite3.connect(db)
        raw.execute("PRAGMA user_version = 99")
        raw.commit()
        raw.close()
    elif case == "garbage":
        home.mkdir()
        db.write_bytes(os.urandom(70_000))
    elif case == "conversations":
        from app.conversations import ConversationStore

        ConversationStore(db).close()
    else:
        db.mkdir(parents=True)
    doc = tmp_path / "a.md"
    write(doc, "正文。")
    for args in (("kb", "list"), ("kb", "add", str(doc)), ("kb", "search", "正文")):
        message = one_line_error(run_cli(*args, home=home), 1)
        assert str(db) in message


# --------------------------------------------------------------------- bad requests


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "tab\there", "x" * 101])
def test_cli_bad_knowledge_base_names(home: Path, tmp_path: Path, name: str) -> None:
    doc = tmp_path / "a.md"
    write(doc, "正文。")
    message = one_line_error(run_cli("kb", "add", "--kb", name, str(doc), home=home), 2)
    assert "knowledge base" in message and "name" in message
    assert not (home / "knowledge.db").exists()  # refused before anything was opened


def test_names_are_checked_in_the_store_too(tmp_path: Path) -> None:
    with KnowledgeStore(tmp_path / "k.db") as store:
        for name in ["", " ", "a\x00b", "\u2028", "x" * 101]:
            with pytest.raises(DatabaseError) as info:
                store.create_kb(name, embedder="e", dim=4, chunk_tokens=8, chunk_overlap=1)
            assert info.value.kind == "bad_input"
        assert store.create_kb(" 名字 ", embedder="e", dim=4, chunk_tokens=8,
                               chunk_overlap=1).name == "名字"


def test_cli_result_count_out_of_range(home: Path, tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    write(doc, "长江是中国最长的河流。")
    assert run_cli("kb", "add", str(doc), home=home).returncode == 0
    for k in ["0", "-1", str(MAX_RESULTS + 1), "1025", str(10**20)]:
        result = run_cli("kb", "search", f"--k={k}", "长江", home=home)
        err = result.stderr.decode("utf-8")
        assert result.returncode == 2 and err.count("\n") == 1 and "Traceback" not in err
        # Checked by argparse against engine/limits.py, before the database is opened.
        assert err.startswith("mingjing kb search: error: argument --k: the number of "
                              f"passages must be between 1 and {MAX_RESULTS}, not {k}"), err
    top = run_cli("kb", "search", "--k", str(MAX_RESULTS), "--json", "长江", home=home)
    assert top.returncode == 0 and len(json.loads(top.stdout)["hits"]) == 1


def test_store_search_checks_k(tmp_path: Path) -> None:
    from kb.embedders import load_embedder

    with KnowledgeStore(tmp_path / "k.db") as store:
        Indexer(store).add("k", [tmp_path])
        kb = store.get_kb("k")
        assert kb is not None
        vector = load_embedder().encode(["问题"])[0]
        for k in (0, -3, MAX_RESULTS + 1):
            with pytest.raises(DatabaseError):
                store.search([kb], "问题", {kb.id: vector}, k=k)
        assert store.search([kb], "问题", {kb.id: vector}, k=MAX_RESULTS) == []


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


def test_cli_damaged_pages_are_one_line(home: Path, tmp_path: Path) -> None:
    """A knowledge base whose middle pages were overwritten: sqlite-vec reports a damaged
    vector page only as "vectors blob read error"; an integrity check names it corrupt.
    Whatever the scribble hits, every command succeeds or says so in one line."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(20):
        write(docs / f"{i}.md", f"# 第{i}篇\n" + f"第{i}篇文章写了很多内容。" * 100)
    assert run_cli("kb", "add", str(docs), home=home).returncode == 0
    db = home / "knowledge.db"
    with db.open("r+b") as fh:
        fh.seek(db.stat().st_size // 2)
        fh.write(b"\xff" * 40_000)
    outcomes = []
    for args in (("kb", "list", "--kb", "default"), ("kb", "search", "文章"),
                 ("kb", "add", str(docs / "0.md"))):
        result = run_cli(*args, home=home)
        err = result.stderr.decode("utf-8")
        assert "Traceback" not in err
        if result.returncode:
            assert f"{db} is corrupt or not a SQLite database" in err.splitlines()[-1]
        outcomes.append(result.returncode)
    assert any(outcomes)  # the damage was noticed
