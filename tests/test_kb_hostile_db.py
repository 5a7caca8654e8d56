"""The knowledge base's database file against hostile input, with the real parts (SQLite file
with sqlite-vec, the built-in embedder) and real processes for the command line:

- database files that are not ours, newer, corrupt or damaged; a conversation database in
  the knowledge base's place and the other way round;
- empty names and result counts out of range.

Every command-line failure must be one line on stderr with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from kb.db import DatabaseError
from kb.indexer import Indexer
from kb.store import APPLICATION_ID, MAX_RESULTS, KnowledgeStore
from tests.kb_hostile_helpers import one_line_error, run_cli, write


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


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
