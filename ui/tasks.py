"""Run blocking work (disk, database) off the GUI thread; deliver results back on it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

log = logging.getLogger(__name__)


class Lane(QObject):
    """A single worker thread that runs jobs in order (a "lane"), like Anki's taskman.

    `submit(job, on_done, on_error)`: the job runs on the lane's thread and must not touch
    widgets; the callbacks run on the GUI thread."""

    _finished = Signal(object, object, object)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._finished.connect(self._deliver)
        self._closed = False

    def submit(
        self,
        job: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Future[Any] | None:
        if self._closed:
            return None
        future = self._executor.submit(job)
        # The done-callback runs on the lane's thread; emitting from there queues delivery
        # to this object's (the GUI) thread.
        future.add_done_callback(lambda f: self._finished.emit(f, on_done, on_error))
        return future

    @Slot(object, object, object)
    def _deliver(
        self,
        future: Future[Any],
        on_done: Callable[[Any], None] | None,
        on_error: Callable[[BaseException], None] | None,
    ) -> None:
        exc = future.exception()
        if exc is not None:
            if on_error is not None:
                on_error(exc)
            else:
                log.error("background job failed", exc_info=exc)
            return
        if on_done is not None:
            on_done(future.result())

    def shutdown(self, wait: bool = True) -> None:
        self._closed = True
        self._executor.shutdown(wait=wait)
