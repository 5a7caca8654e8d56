"""app.conversations: creating, listing, searching, deleting, restoring and purging
conversations; adding, updating and truncating their messages; suggested titles."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.conversations import Conversation, ConversationStore, StoredMessage, suggest_title


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "conversations.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[ConversationStore]:
    with ConversationStore(db_path) as s:
        yield s


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
