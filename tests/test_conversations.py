"""Tests for app.conversations: real SQLite files in tmp_path, real threads, real kill -9."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import conversations as conv_mod
from app.conversations import (
    MIGRATIONS,
    Conversation,
    ConversationStore,
    StoredMessage,
    StoreError,
    suggest_title,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "conversations.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[ConversationStore]:
    with ConversationStore(db_path) as s:
        yield s


# ------------------------------------------------------------------ open / pragmas


def test_creates_file_and_parent_dir_with_wal(db_path: Path, store: ConversationStore) -> None:
    assert db_path.exists()
    assert store.journal_mode == "wal"
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()


def test_connection_pragmas(store: ConversationStore) -> None:
    conn = store._conn
    assert conn is not None
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_user_version_set_and_migrations_idempotent(db_path: Path) -> None:
    with ConversationStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS) >= 1
        c = s.create_conversation("keep me")
        s.add_message(c.id, "user", "hello")
    for _ in range(3):
        with ConversationStore(db_path) as s:
            assert s.schema_version == len(MIGRATIONS)
            assert [x.title for x in s.list_conversations()] == ["keep me"]
            assert [m.content for m in s.messages(c.id)] == ["hello"]
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        names = {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    finally:
        raw.close()
    assert {"conversations", "messages", "messages_by_position"} <= names


def test_new_migration_applied_once_on_reopen(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ConversationStore(db_path) as s:
        s.create_conversation("old")
    calls: list[int] = []

    def migration_2(conn: sqlite3.Connection) -> None:
        calls.append(1)
        conn.execute("ALTER TABLE conversations ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0")

    monkeypatch.setattr(conv_mod, "MIGRATIONS", [*MIGRATIONS, migration_2])
    with ConversationStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS) + 1
    with ConversationStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS) + 1
        assert [c.title for c in s.list_conversations()] == ["old"]
    assert calls == [1]


def test_failed_migration_rolls_back(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with ConversationStore(db_path) as s:
        s.create_conversation("old")

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr(conv_mod, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(RuntimeError):
        ConversationStore(db_path)
    monkeypatch.undo()
    with ConversationStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert s._conn is not None
        assert s._conn.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'"
        ).fetchone() == (0,)


def test_newer_schema_version_refused(db_path: Path) -> None:
    ConversationStore(db_path).close()
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    raw.close()
    with pytest.raises(StoreError) as info:
        ConversationStore(db_path)
    assert info.value.kind == "newer_version"
    assert str(db_path) in str(info.value)


def test_foreign_sqlite_file_not_migrated(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    raw = sqlite3.connect(db_path)
    raw.execute("CREATE TABLE notes (body TEXT)")
    raw.execute("INSERT INTO notes VALUES ('precious')")
    raw.commit()
    raw.close()
    before = db_path.read_bytes()
    with pytest.raises(StoreError) as info:
        ConversationStore(db_path)
    assert info.value.kind == "not_ours"
    assert db_path.read_bytes() == before


def test_garbage_file_raises_and_is_untouched(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    garbage = os.urandom(64 * 1024)
    db_path.write_bytes(garbage)
    with pytest.raises(StoreError) as info:
        ConversationStore(db_path)
    err = info.value
    assert err.kind == "corrupt"
    assert "corrupt" in str(err)
    assert str(db_path) in str(err)
    assert "\n" not in str(err)
    assert db_path.read_bytes() == garbage
    # and again: a second attempt must not "repair" it either
    with pytest.raises(StoreError):
        ConversationStore(db_path)
    assert db_path.read_bytes() == garbage


def test_unopenable_path_is_store_error(tmp_path: Path) -> None:
    directory = tmp_path / "a_directory"
    directory.mkdir()
    with pytest.raises(StoreError) as info:
        ConversationStore(directory)
    assert str(directory) in str(info.value)


def test_locked_past_timeout_is_store_error(db_path: Path) -> None:
    ConversationStore(db_path).close()
    blocker = sqlite3.connect(db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        with ConversationStore(db_path, busy_timeout_ms=100) as s:
            with pytest.raises(StoreError) as info:
                s.create_conversation("blocked")
            assert info.value.kind == "locked"
            assert str(db_path) in str(info.value)
            blocker.execute("ROLLBACK")
            s.create_conversation("now fine")  # the store is still usable
            assert [c.title for c in s.list_conversations()] == ["now fine"]
    finally:
        blocker.close()


def test_disk_full_is_store_error(store: ConversationStore, db_path: Path) -> None:
    c = store.create_conversation("small")
    assert store._conn is not None
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages + 1}")
    with pytest.raises(StoreError) as info:
        store.add_message(c.id, "user", "x" * 200_000)
    assert info.value.kind == "disk_full"
    assert str(db_path) in str(info.value)
    assert store.messages(c.id) == []  # rolled back, nothing half-written


def test_read_only_database_is_store_error(db_path: Path) -> None:
    with ConversationStore(db_path) as s:
        s.create_conversation("x")
    s = ConversationStore(db_path)
    try:
        assert s._conn is not None
        s._conn.execute("PRAGMA query_only = ON")  # SQLITE_READONLY on any write
        with pytest.raises(StoreError) as info:
            s.create_conversation("y")
        assert info.value.kind == "read_only"
    finally:
        s.close()


# ------------------------------------------------------------------ conversations


def test_create_and_get_conversation(store: ConversationStore) -> None:
    c = store.create_conversation(
        "Title", system_prompt="be brief", model_path="/m/gemma.gguf", mode="chat"
    )
    assert isinstance(c, Conversation)
    assert c.title == "Title"
    assert c.system_prompt == "be brief"
    assert c.model_path == "/m/gemma.gguf"
    assert c.mode == "chat"
    assert c.message_count == 0
    assert c.created_at == pytest.approx(time.time(), abs=5)
    assert store.get_conversation(c.id) == c
    assert store.get_conversation(99999) is None

    d = store.create_conversation()
    assert d.title == "" and d.system_prompt is None and d.mode == "chat"


def test_rename_and_set_fields(store: ConversationStore) -> None:
    c = store.create_conversation("a")
    r = store.rename_conversation(c.id, "b")
    assert r.title == "b" and r.updated_at > c.updated_at
    f = store.set_conversation_fields(
        c.id,
        system_prompt="sys",
        model_path="/x.gguf",
        mode="kb",
        settings={"temperature": 0.2, "名字": "值"},
    )
    assert (f.system_prompt, f.model_path, f.mode) == ("sys", "/x.gguf", "kb")
    assert f.settings == {"temperature": 0.2, "名字": "值"}
    assert f.updated_at > r.updated_at
    again = store.get_conversation(c.id)
    assert again is not None and again.settings == {"temperature": 0.2, "名字": "值"}
    cleared = store.set_conversation_fields(c.id, system_prompt=None, settings=None)
    assert cleared.system_prompt is None and cleared.settings is None
    assert cleared.mode == "kb"  # untouched
    with pytest.raises(TypeError):
        store.set_conversation_fields(c.id, bogus=1)
    with pytest.raises(ValueError):
        store.set_conversation_fields(c.id, mode="")
    with pytest.raises(KeyError):
        store.rename_conversation(12345, "nope")


def test_list_newest_updated_first(store: ConversationStore) -> None:
    a = store.create_conversation("a")
    b = store.create_conversation("b")
    c = store.create_conversation("c")
    assert [x.id for x in store.list_conversations()] == [c.id, b.id, a.id]
    store.add_message(a.id, "user", "bump a")
    assert [x.id for x in store.list_conversations()] == [a.id, c.id, b.id]
    store.rename_conversation(b.id, "bee")
    assert [x.id for x in store.list_conversations()] == [b.id, a.id, c.id]
    m = store.add_message(c.id, "assistant", "", status="streaming")
    store.update_message(m.id, content="tok")
    listed = store.list_conversations()
    assert [x.id for x in listed] == [c.id, b.id, a.id]
    assert {x.id: x.message_count for x in listed} == {a.id: 1, b.id: 0, c.id: 1}


def test_every_message_write_touches_conversation(store: ConversationStore) -> None:
    c = store.create_conversation("t")
    stamps = [c.updated_at]

    def current() -> float:
        got = store.get_conversation(c.id)
        assert got is not None
        return got.updated_at

    m = store.add_message(c.id, "user", "x")
    stamps.append(current())
    store.update_message(m.id, content="y")
    stamps.append(current())
    store.delete_messages_from(c.id, 0)
    stamps.append(current())
    store.set_conversation_fields(c.id, mode="chat")
    stamps.append(current())
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


# ------------------------------------------------------------------------ search


def test_search_title_and_content_case_insensitive(store: ConversationStore) -> None:
    a = store.create_conversation("Holiday PLANS")
    b = store.create_conversation("misc")
    store.add_message(b.id, "user", "What is the Capital of France?")
    store.create_conversation("other")
    assert [x.id for x in store.list_conversations("holiday")] == [a.id]
    assert [x.id for x in store.list_conversations("capital OF")] == [b.id]
    assert [x.id for x in store.list_conversations("  plans  ")] == [a.id]
    assert store.list_conversations("nothing matches this") == []
    assert len(store.list_conversations("")) == 3


def test_search_unicode_case_folding(store: ConversationStore) -> None:
    a = store.create_conversation("ÄRGER mit Straße")
    assert [x.id for x in store.list_conversations("ärger")] == [a.id]
    assert [x.id for x in store.list_conversations("STRASSE")] == [a.id]


def test_search_chinese(store: ConversationStore) -> None:
    a = store.create_conversation("关于机器学习的问题")
    b = store.create_conversation("闲聊")
    store.add_message(b.id, "user", "今天北京的天气怎么样？")
    store.add_message(b.id, "assistant", "我无法获取实时天气。")
    assert [x.id for x in store.list_conversations("机器")] == [a.id]
    assert [x.id for x in store.list_conversations("天气")] == [b.id]
    assert [x.id for x in store.list_conversations("实时")] == [b.id]
    assert store.list_conversations("上海") == []


def test_search_wildcards_are_literal(store: ConversationStore) -> None:
    pct = store.create_conversation("discount")
    store.add_message(pct.id, "user", "is it 50% off?")
    under = store.create_conversation("snake")
    store.add_message(under.id, "user", "rename my_var please")
    plain = store.create_conversation("plain")
    store.add_message(plain.id, "user", "50 percent, myXvar, back\\slash")

    assert [x.id for x in store.list_conversations("%")] == [pct.id]
    assert [x.id for x in store.list_conversations("50%")] == [pct.id]
    assert [x.id for x in store.list_conversations("_")] == [under.id]
    assert [x.id for x in store.list_conversations("my_var")] == [under.id]
    assert [x.id for x in store.list_conversations("\\")] == [plain.id]
    assert [x.id for x in store.list_conversations("back\\slash")] == [plain.id]
    assert store.list_conversations("%%%") == []
    assert store.list_conversations("5_%") == []


def test_search_ignores_deleted(store: ConversationStore) -> None:
    c = store.create_conversation("secret plans")
    store.delete_conversation(c.id)
    assert store.list_conversations("secret") == []


# ----------------------------------------------------------- delete / restore / purge


def test_soft_delete_and_restore(store: ConversationStore) -> None:
    a = store.create_conversation("a")
    b = store.create_conversation("b")
    store.add_message(a.id, "user", "hi")
    order = [x.id for x in store.list_conversations()]
    store.delete_conversation(a.id)
    assert [x.id for x in store.list_conversations()] == [b.id]
    assert store.get_conversation(a.id) is None
    hidden = store.get_conversation(a.id, include_deleted=True)
    assert hidden is not None and hidden.deleted_at is not None
    assert [m.content for m in store.messages(a.id)] == ["hi"]  # still there

    restored = store.restore_conversation(a.id)
    assert restored.deleted_at is None
    assert [x.id for x in store.list_conversations()] == order  # back where it was
    with pytest.raises(KeyError):
        store.delete_conversation(4242)


def test_purge_cascades_to_messages(store: ConversationStore, db_path: Path) -> None:
    a = store.create_conversation("a")
    b = store.create_conversation("b")
    for i in range(3):
        store.add_message(a.id, "user", f"a{i}")
        store.add_message(b.id, "user", f"b{i}")
    store.delete_conversation(a.id)
    assert store.purge_deleted() == 1
    assert store.get_conversation(a.id, include_deleted=True) is None
    assert store.messages(a.id) == []
    assert len(store.messages(b.id)) == 3
    raw = sqlite3.connect(db_path)
    try:
        assert raw.execute(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (a.id,)
        ).fetchone() == (0,)
    finally:
        raw.close()
    with pytest.raises(KeyError):
        store.restore_conversation(a.id)
    assert store.purge_deleted() == 0


def test_purge_older_than(store: ConversationStore) -> None:
    a = store.create_conversation("a")
    store.delete_conversation(a.id)
    assert store.purge_deleted(older_than=time.time() - 3600) == 0
    assert store.purge_deleted(older_than=time.time() + 1) == 1


# ----------------------------------------------------------------------- messages


def test_add_and_list_messages(store: ConversationStore) -> None:
    c = store.create_conversation("m")
    s = store.add_message(c.id, "system", "be nice")
    u = store.add_message(c.id, "user", "你好")
    a = store.add_message(c.id, "assistant", "Hi!", stats={"tokens": 3, "tok_per_s": 42.5})
    assert isinstance(a, StoredMessage)
    assert [m.position for m in (s, u, a)] == [0, 1, 2]
    msgs = store.messages(c.id)
    assert [m.id for m in msgs] == [s.id, u.id, a.id]
    assert [m.role for m in msgs] == ["system", "user", "assistant"]
    assert msgs[1].content == "你好"
    assert msgs[2].stats == {"tokens": 3, "tok_per_s": 42.5}
    assert all(m.status == "complete" and m.error is None for m in msgs)
    assert store.get_message(a.id) == msgs[2]
    assert store.get_message(10**9) is None
    got = store.get_conversation(c.id)
    assert got is not None and got.message_count == 3
    assert store.messages(777) == []


def test_add_message_validation(store: ConversationStore) -> None:
    c = store.create_conversation()
    with pytest.raises(ValueError):
        store.add_message(c.id, "robot", "x")
    with pytest.raises(ValueError):
        store.add_message(c.id, "user", "x", status="done")
    with pytest.raises(KeyError):
        store.add_message(31337, "user", "x")
    assert store.messages(c.id) == []


def test_update_message_only_given_fields(store: ConversationStore) -> None:
    c = store.create_conversation()
    m = store.add_message(c.id, "assistant", "", status="streaming")
    m1 = store.update_message(m.id, content="partial")
    assert (m1.content, m1.status, m1.stats, m1.error) == ("partial", "streaming", None, None)
    assert m1.updated_at > m.updated_at and m1.created_at == m.created_at
    m2 = store.update_message(m.id, status="error", error="out of memory")
    assert (m2.content, m2.status, m2.error) == ("partial", "error", "out of memory")
    m3 = store.update_message(m.id, status="complete", stats={"n": 1}, error=None)
    assert (m3.content, m3.status, m3.stats, m3.error) == ("partial", "complete", {"n": 1}, None)
    m4 = store.update_message(m.id, stats=None)
    assert m4.stats is None and m4.status == "complete"
    with pytest.raises(ValueError):
        store.update_message(m.id, status="bogus")
    with pytest.raises(KeyError):
        store.update_message(999_999, content="x")


def test_delete_messages_from_and_positions(store: ConversationStore) -> None:
    c = store.create_conversation()
    ids = [
        store.add_message(c.id, "user" if i % 2 == 0 else "assistant", f"m{i}").id for i in range(5)
    ]
    other = store.create_conversation()
    store.add_message(other.id, "user", "untouched")

    assert store.delete_messages_from(c.id, 3) == 2
    msgs = store.messages(c.id)
    assert [m.id for m in msgs] == ids[:3]
    assert [m.position for m in msgs] == [0, 1, 2]

    new = store.add_message(c.id, "user", "edited")
    assert new.position == 3
    assert [m.position for m in store.messages(c.id)] == [0, 1, 2, 3]

    assert store.delete_messages_from(c.id, 0) == 4
    assert store.messages(c.id) == []
    assert store.add_message(c.id, "user", "fresh").position == 0
    assert [m.content for m in store.messages(other.id)] == ["untouched"]
    assert store.delete_messages_from(c.id, 10) == 0


def test_recover_interrupted(store: ConversationStore) -> None:
    c = store.create_conversation()
    store.add_message(c.id, "user", "q")
    s1 = store.add_message(c.id, "assistant", "half an ans", status="streaming")
    d = store.create_conversation()
    s2 = store.add_message(d.id, "assistant", "", status="streaming")
    done = store.add_message(d.id, "assistant", "ok")
    assert store.recover_interrupted() == 2
    for m in (s1, s2):
        got = store.get_message(m.id)
        assert got is not None and got.status == "interrupted"
    got_s1 = store.get_message(s1.id)
    assert got_s1 is not None and got_s1.content == "half an ans"
    got_done = store.get_message(done.id)
    assert got_done is not None and got_done.status == "complete"
    assert store.recover_interrupted() == 0


# ---------------------------------------------------------- restart / threads / kill


def test_persists_across_restart(db_path: Path) -> None:
    s = ConversationStore(db_path)
    c = s.create_conversation("persist", system_prompt="sp", settings={"k": 1})
    s.add_message(c.id, "user", "question")
    m = s.add_message(c.id, "assistant", "", status="streaming")
    s.update_message(m.id, content="answer so far")
    s.close()
    s.close()  # idempotent

    with ConversationStore(db_path) as s2:
        got = s2.get_conversation(c.id)
        assert got is not None
        assert (got.title, got.system_prompt, got.settings) == ("persist", "sp", {"k": 1})
        assert [(x.role, x.content, x.status) for x in s2.messages(c.id)] == [
            ("user", "question", "complete"),
            ("assistant", "answer so far", "streaming"),
        ]


def test_closed_store_refuses_work(db_path: Path) -> None:
    s = ConversationStore(db_path)
    s.close()
    with pytest.raises(sqlite3.ProgrammingError):
        s.list_conversations()


def test_two_stores_two_threads(db_path: Path) -> None:
    with ConversationStore(db_path) as main_store:
        c = main_store.create_conversation("shared")
        main_store.add_message(c.id, "user", "go")
        msg = main_store.add_message(c.id, "assistant", "", status="streaming")

        errors: list[BaseException] = []
        done = threading.Event()

        def writer() -> None:
            try:
                with ConversationStore(db_path) as ws:
                    text = ""
                    for i in range(50):
                        text += f"tok{i} "
                        ws.update_message(msg.id, content=text)
                    ws.update_message(msg.id, status="complete", stats={"tokens": 50})
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        t = threading.Thread(target=writer)
        t.start()
        lists = 0
        while not done.is_set() or lists < 5:
            listed = main_store.list_conversations()
            assert [x.id for x in listed] == [c.id]
            current = main_store.messages(c.id)[-1]
            assert current.status in ("streaming", "complete")
            lists += 1
        t.join(timeout=30)
        assert not t.is_alive()
        assert errors == []
        final = main_store.messages(c.id)[-1]
        assert final.content.split() == [f"tok{i}" for i in range(50)]
        assert (final.status, final.stats) == ("complete", {"tokens": 50})
        assert lists >= 5


def test_concurrent_appends_get_unique_positions(db_path: Path) -> None:
    with ConversationStore(db_path) as s:
        c = s.create_conversation()
    errors: list[BaseException] = []

    def appender(tag: str) -> None:
        try:
            with ConversationStore(db_path) as ws:
                for i in range(20):
                    ws.add_message(c.id, "user", f"{tag}{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=appender, args=(t,)) for t in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with ConversationStore(db_path) as s:
        assert [m.position for m in s.messages(c.id)] == list(range(80))


def test_many_threads_open_fresh_file_at_once(db_path: Path) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            barrier.wait(timeout=30)
            with ConversationStore(db_path) as s:
                s.create_conversation("hi")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    with ConversationStore(db_path) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert len(s.list_conversations()) == 8


_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from app.conversations import ConversationStore

    store = ConversationStore(Path(sys.argv[1]))
    conv = store.create_conversation("crash test")
    store.add_message(conv.id, "user", "tell me a long story")
    msg = store.add_message(conv.id, "assistant", "", status="streaming")
    text = ""
    i = 0
    while True:
        i += 1
        text += f"word{i} "
        store.update_message(msg.id, content=text)
        if i == 5:
            print(f"READY {conv.id} {msg.id}", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_survives_real_kill_9(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(REPO_ROOT),
    )
    try:
        lines: queue.Queue[str] = queue.Queue()
        reader = threading.Thread(
            target=lambda: lines.put(proc.stdout.readline() if proc.stdout else ""),
            daemon=True,
        )
        reader.start()
        try:
            line = lines.get(timeout=60)
        except queue.Empty:
            pytest.fail("child never reported READY")
        if not line.startswith("READY"):
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"child failed before READY: {line!r} {err}")
        _, conv_id, msg_id = line.split()
        time.sleep(0.2)  # let it write a few more commits mid-stream
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    with ConversationStore(db_path) as s:
        msgs = s.messages(int(conv_id))
        assert [m.role for m in msgs] == ["user", "assistant"]
        partial = msgs[1]
        assert partial.id == int(msg_id)
        assert partial.status == "streaming"
        assert partial.content.strip()
        words = partial.content.split()
        assert len(words) >= 5
        assert words == [f"word{i}" for i in range(1, len(words) + 1)]  # a consistent commit

        assert s.recover_interrupted() == 1
        recovered = s.get_message(partial.id)
        assert recovered is not None
        assert recovered.status == "interrupted"
        assert recovered.content == partial.content

    with ConversationStore(db_path) as s:  # and that, too, survives a reopen
        assert s.messages(int(conv_id))[1].status == "interrupted"
        assert s.recover_interrupted() == 0


# ------------------------------------------------------------------------ titles


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Hello there", "Hello there"),
        ("  spaced \t  out\u3000words  ", "spaced out words"),
        ("first line\nsecond line", "first line"),
        ("\n\n   \nreal start\nmore", "real start"),
        ("```python\nprint('hi')\n```", "print('hi')"),
        ("# Heading text\nbody", "Heading text"),
        ("", ""),
        ("   \n\t\n", ""),
        ("你好，请介绍一下你自己", "你好，请介绍一下你自己"),
    ],
)
def test_suggest_title_basic(message: str, expected: str) -> None:
    assert suggest_title(message) == expected


def test_suggest_title_truncates_latin_at_word() -> None:
    title = suggest_title(
        "How do I read a very large file in Python without loading it all into memory?"
    )
    assert title.endswith("…")
    assert len(title) <= 40
    assert title == "How do I read a very large file in…"


def test_suggest_title_truncates_chinese() -> None:
    text = (
        "如何在不把整个文件加载到内存中的情况下逐行读取一个非常非常大的日志文件并统计其中的错误数量"
    )
    title = suggest_title(text)
    assert len(title) == 40
    assert title.endswith("…")
    assert text.startswith(title[:-1])


def test_suggest_title_long_word_hard_cut() -> None:
    title = suggest_title("x" * 100)
    assert title == "x" * 39 + "…"
