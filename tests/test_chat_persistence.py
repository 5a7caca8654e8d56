"""A turn with the real model and the real store: what is saved, when, and after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from app.chat_service import ChatService, TurnRequest, TurnState, collect, normalize_turns
from app.conversations import ConversationStore
from engine.errors import ContextOverflowError
from engine.runtime import Engine
from engine.types import ChatMessage, SamplingParams, TokenEvent
from tests.conftest import REPO


def test_turn_is_saved_and_titled(chat_engine: Engine, tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    state = TurnState()
    request = TurnRequest(None, [ChatMessage("user", "你好，请介绍一下长江。")],
                          SamplingParams(temperature=0, max_tokens=12))
    finish = collect(ChatService(chat_engine, store=store).run(request, state=state))
    cid = state.conversation_id
    assert cid is not None
    msgs = store.messages(cid)
    assert [(m.role, m.status) for m in msgs] == [("user", "complete"), ("assistant", "complete")]
    assert msgs[1].content == finish.text
    assert msgs[1].stats is not None and msgs[1].stats["completion_tokens"] == 12
    conv = store.get_conversation(cid)
    assert conv is not None and conv.title.startswith("你好")

    # Regenerate: the stored reply is replaced, the user message stays.
    history = [ChatMessage("user", msgs[0].content)]
    regen = TurnRequest(cid, history, SamplingParams(temperature=0.9, seed=5, max_tokens=6),
                        save_user_message=False, truncate_from=1)
    collect(ChatService(chat_engine, store=store).run(regen))
    again = store.messages(cid)
    assert [m.role for m in again] == ["user", "assistant"]
    assert again[1].stats is not None and again[1].stats["seed"] == 5
    store.close()


def test_cancelled_turn_keeps_partial_reply(chat_engine: Engine, tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    cancel = threading.Event()
    state = TurnState()
    request = TurnRequest(None, [ChatMessage("user", "Tell a long story.")],
                          SamplingParams(temperature=0.8, max_tokens=300))
    count = 0
    for event in ChatService(chat_engine, store=store).run(request, cancel, state=state):
        if isinstance(event, TokenEvent):
            count += 1
            if count == 6:
                cancel.set()
    assert state.conversation_id is not None
    reply = store.messages(state.conversation_id)[-1]
    assert reply.status == "cancelled"
    assert reply.content == state.text and reply.content
    store.close()


def test_overflowing_message_writes_nothing(chat_engine: Engine, tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.db")
    conv = store.create_conversation()
    with pytest.raises(ContextOverflowError):
        collect(ChatService(chat_engine, store=store).run(
            TurnRequest(conv.id, [ChatMessage("user", "长 " * 3000)],
                        SamplingParams(max_tokens=64))))
    assert store.messages(conv.id) == []
    store.close()


def test_normalize_turns() -> None:
    msgs = [ChatMessage("assistant", "hi"), ChatMessage("user", "a"),
            ChatMessage("assistant", ""), ChatMessage("user", "b")]
    assert normalize_turns(msgs) == [ChatMessage("user", "a\n\nb")]


CHILD = textwrap.dedent("""
    import sys
    from app.chat_service import ChatService, TurnRequest, TurnState
    from app.conversations import ConversationStore
    from engine.runtime import Engine
    from engine.types import ChatMessage, LoadParams, SamplingParams, TokenEvent

    engine = Engine.load(sys.argv[1], LoadParams(n_ctx=2048))
    store = ConversationStore(sys.argv[2])
    request = TurnRequest(None, [ChatMessage("user", "Once upon a time")],
                          SamplingParams(temperature=0.8, max_tokens=1500, seed=1))
    n = 0
    for event in ChatService(engine, store=store).run(request, checkpoint_interval=0.2):
        if isinstance(event, TokenEvent):
            n += 1
            if n == 60:
                print("streaming", flush=True)
    print("finished", flush=True)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_during_generation_keeps_partial_reply(default_model_path: Path,
                                                      tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(default_model_path), str(db)],
                             cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    assert line == "streaming"
    time.sleep(0.5)  # let at least one more checkpoint land
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    store = ConversationStore(db)  # "restart"
    (conv,) = store.list_conversations()
    user, reply = store.messages(conv.id)
    assert user.content == "Once upon a time" and user.status == "complete"
    assert reply.status == "streaming"  # nobody finished it
    assert len(reply.content) > 20  # the checkpointed part of the reply
    assert store.recover_interrupted() == 1
    reply = store.messages(conv.id)[1]
    assert reply.status == "interrupted" and len(reply.content) > 20
    store.close()
    # The next start sees the same history.
    reopened = ConversationStore(db)
    assert [m.status for m in reopened.messages(conv.id)] == ["complete", "interrupted"]
    reopened.close()
