"""Several downloads, one at a time, on a thread of their own (never the GUI's): queued,
cancelled, reported. The window's download panel and `mingjing models pull` use it; the
window turns its callbacks (called on the download thread) into queued Qt signals."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from models.download import DownloadCancelled, DownloadError, Progress, Request, download

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobState:
    file: str
    state: str  # queued | downloading | done | failed | cancelled
    progress: Progress | None = None
    path: Path | None = None  # when done
    error: str = ""  # when failed


@dataclass
class _Job:
    request: Request
    cancel: threading.Event = field(default_factory=threading.Event)


Listener = Callable[[JobState], None]

REPORT_EVERY_S = 0.2  # progress reports at most this often (the last one always)


class DownloadQueue:
    def __init__(self, models_dir: Path, listener: Listener | None = None) -> None:
        self.models_dir = models_dir
        self._listener = listener or (lambda _s: None)
        self._jobs: deque[_Job] = deque()
        self._current: _Job | None = None
        self._lock = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="downloads", daemon=True)
        self._thread.start()

    def add(self, request: Request) -> bool:
        """Queue a download; False when that file is already queued or downloading."""
        with self._lock:
            if any(j.request.file == request.file for j in self._all()):
                return False
            self._jobs.append(_Job(request))
            self._lock.notify()
        self._listener(JobState(request.file, "queued"))
        return True

    def cancel(self, file: str) -> None:
        """Stop a download (its partial file stays, to resume) or take it out of the line."""
        with self._lock:
            for job in list(self._jobs):
                if job.request.file == file:
                    self._jobs.remove(job)
                    self._listener(JobState(file, "cancelled"))
            if self._current is not None and self._current.request.file == file:
                self._current.cancel.set()

    def close(self, timeout: float = 5.0) -> None:
        """Cancel everything and end the thread (partial files stay)."""
        with self._lock:
            self._closed = True
            self._jobs.clear()
            if self._current is not None:
                self._current.cancel.set()
            self._lock.notify()
        self._thread.join(timeout)

    def _all(self) -> list[_Job]:
        return ([self._current] if self._current is not None else []) + list(self._jobs)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._jobs and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                job = self._current = self._jobs.popleft()
            try:
                self._download(job)
            finally:
                with self._lock:
                    self._current = None

    def _download(self, job: _Job) -> None:
        file = job.request.file
        last = [0.0]

        def report(progress: Progress) -> None:
            now = time.monotonic()
            if now - last[0] >= REPORT_EVERY_S or progress.state != "downloading":
                last[0] = now
                self._listener(JobState(file, "downloading", progress))

        try:
            path = download(job.request, self.models_dir, progress=report, cancel=job.cancel)
        except DownloadCancelled:
            self._listener(JobState(file, "cancelled"))
        except DownloadError as exc:
            self._listener(JobState(file, "failed", error=str(exc)))
        except Exception as exc:  # a bug: logged whole, the queue goes on
            log.exception("download of %s failed unexpectedly", file)
            self._listener(JobState(file, "failed", error=f"unexpected error: {exc}"))
        else:
            self._listener(JobState(file, "done", path=path))
