"""One loaded model shared by several callers: one turn at a time, first come first
served, a bounded queue that refuses at once, waits that can be cancelled, and loads that
never leave callers without a model they were told they have."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from app.model_host import LoadSpec, ModelBusy, ModelHost, NoModelLoaded, WaitCancelled
from engine.errors import ModelFileError
from engine.types import ChatMessage, LoadParams, SamplingParams
from models.refs import ModelRef


@pytest.fixture
def host(tmp_path: Path, default_model_path: Path) -> ModelHost:
    models = tmp_path / "models"
    models.mkdir()
    os.link(default_model_path, models / default_model_path.name)
    host = ModelHost(models, max_waiting=2)
    host.load(LoadSpec(ModelRef.parse("gemma-3-270m"), LoadParams(n_ctx=512)))
    return host


def test_turns_run_one_at_a_time_in_arrival_order(host: ModelHost) -> None:
    order: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def first() -> None:
        with host.use():
            order.append("first in")
            inside.set()
            release.wait(30)
            order.append("first out")

    def later(name: str) -> None:
        with host.use() as backend:
            order.append(name)
            events = list(backend.respond([ChatMessage("user", "The sky is")],
                                          SamplingParams(max_tokens=2, temperature=0)))
            assert events

    threads = [threading.Thread(target=first)]
    threads[0].start()
    assert inside.wait(30)
    for name in ("second", "third"):
        t = threading.Thread(target=later, args=(name,))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 30
        while host.waiting() < len(threads) - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert host.waiting() == 2 and host.busy()
    # The queue is full: one more is refused at once, not left hanging.
    with pytest.raises(ModelBusy, match="2 requests are already waiting"), host.use():
        pass
    release.set()
    for t in threads:
        t.join(60)
    assert order == ["first in", "first out", "second", "third"]
    assert host.waiting() == 0 and not host.busy()


def test_a_waiting_request_can_be_cancelled(host: ModelHost) -> None:
    cancel = threading.Event()
    errors: list[BaseException] = []
    with host.use():
        def wait() -> None:
            try:
                with host.use(cancel=cancel):
                    pass
            except WaitCancelled as exc:
                errors.append(exc)

        t = threading.Thread(target=wait)
        t.start()
        while host.waiting() == 0:
            time.sleep(0.01)
        cancel.set()
        t.join(30)
    assert len(errors) == 1 and host.waiting() == 0
    # A timeout while someone (here: this very thread) holds the model.
    with pytest.raises(ModelBusy), host.use(), host.use(timeout=0.2):
        pass


def test_a_failed_load_keeps_the_previous_model(host: ModelHost, tmp_path: Path) -> None:
    from tests.test_gguf import build_gguf, synthetic_kvs

    before = host.spec
    hollow = tmp_path / "hollow.gguf"  # reads as GGUF, but llama.cpp refuses it
    hollow.write_bytes(build_gguf(synthetic_kvs()))
    with pytest.raises(ModelFileError, match=r"llama\.cpp could not load"):
        host.load(LoadSpec(ModelRef.file(hollow)))
    assert host.loaded and host.spec == before
    with host.use() as backend:
        assert backend.mode == "completion"
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"nope")
    with pytest.raises(ModelFileError, match="not a GGUF"):
        host.load(LoadSpec(ModelRef.file(broken)))
    assert host.spec == before


def test_no_model_is_said_plainly(tmp_path: Path) -> None:
    host = ModelHost(tmp_path)
    with pytest.raises(NoModelLoaded), host.use():
        pass
    host.close()


def test_reserved_places_keep_the_order_of_arrival(host: ModelHost) -> None:
    """Places taken on arrival (the server's event loop) are served in that order, whatever
    order their threads reach the model in; a full line refuses at `reserve` itself."""
    order: list[str] = []
    heard: list[str] = []
    with host.use(label="window"):
        assert host.holder() == "window"
        assert host.description is not None and host.description.mode == "completion"
        first, second = host.reserve("api"), host.reserve("api")
        with pytest.raises(ModelBusy):
            host.reserve("api")

        def run(name: str, ticket: object) -> None:
            with host.use(ticket=ticket, on_wait=heard.append):  # type: ignore[arg-type]
                order.append(name)

        threads = [threading.Thread(target=run, args=("second", second)),
                   threading.Thread(target=run, args=("first", first))]
        for t in threads:  # the later place's thread starts first
            t.start()
        deadline = time.monotonic() + 30
        while len(heard) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    for t in threads:
        t.join(60)
    assert order == ["first", "second"]
    assert heard == ["window", "window"]  # each was told whom it waited for
    assert host.holder() is None and host.waiting() == 0


def test_a_withdrawn_place_frees_the_line(host: ModelHost) -> None:
    ticket = host.reserve("api")
    assert host.waiting() == 1
    host.withdraw(ticket)
    assert host.waiting() == 0
    with pytest.raises(WaitCancelled), host.use(ticket=ticket):
        pass
    with host.use():  # nobody is left in line ahead
        pass


def test_generation_runs_on_the_compute_thread_whoever_asks() -> None:
    """Every step of every generation runs on the host's one compute thread (one OpenMP
    pool for the process), its clean-up too; errors reach the caller."""
    from app.compute_thread import ComputeBound, ComputeThread
    from engine.types import FinishEvent, GenerationStats, TokenEvent

    seen: list[str] = []
    cleaned: list[str] = []

    class Fake:  # only what ComputeBound.stream touches
        capabilities = None
        n_ctx = 64

        def stream(self, plan: object, sampling: object, **_: object) -> object:
            def events() -> object:
                try:
                    for i in range(3):
                        seen.append(threading.current_thread().name)
                        if plan == "fail" and i == 1:
                            raise ValueError("broken at step 1")
                        yield TokenEvent(i, str(i))
                    yield FinishEvent("012", GenerationStats())
                finally:
                    cleaned.append(threading.current_thread().name)
            return events()

    bound = ComputeBound(Fake(), ComputeThread("compute-test"))  # type: ignore[arg-type]
    callers: list[list[object]] = []
    threads = [threading.Thread(target=lambda: callers.append(
        list(bound.stream("ok", None)))) for _ in range(2)]  # type: ignore[arg-type]
    for t in threads:
        t.start()
        t.join(30)
    assert [len(c) for c in callers] == [4, 4]
    partial = bound.stream("ok", None)  # type: ignore[arg-type]
    next(iter(partial))
    partial.close()  # a caller that stops early: the clean-up still runs there
    with pytest.raises(ValueError, match="broken at step 1"):
        list(bound.stream("fail", None))  # type: ignore[arg-type]
    assert set(seen) == {"compute-test"} and set(cleaned) == {"compute-test"}
    assert len(cleaned) == 4
