"""app.conversations across restarts, from several threads at once, and through a real
kill -9 of a process in the middle of streaming a reply."""

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
from pathlib import Path

import pytest

from app.conversations import MIGRATIONS, ConversationStore

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "conversations.sqlite3"


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
