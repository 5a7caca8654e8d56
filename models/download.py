"""Downloading one model file: resumable, verified, bounded. No Qt; the window's download
manager, the CLI and the tests all run this.

A download writes `<models>/.partial/<file>.part` beside a small `<file>.json` that says what
it is (sources, size, sha256), so it resumes with an HTTP Range request after a dropped
connection, a restart of the app or a `kill -9`. Bytes are hashed as they arrive (the bytes
already on disk are hashed first when resuming); only a file whose size and sha256 match is
fsynced and renamed into the models folder (atomic on one file system). A mismatch deletes
the partial file. A stalled or failing connection is retried with back-off, then the next
source is tried. Disk space is checked before starting and a full disk stops the download
with the partial file kept for later.

HTTP is httpx (a maintained client the app already uses for servers). Redirects are followed
here, by hand, so that a token goes to the host it belongs to and never to another (Hugging
Face redirects downloads to its CDN; a mirror never gets the token)."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from engine.errors import EngineError

log = logging.getLogger(__name__)

CHUNK = 1 << 20  # bytes read and written at a time
CONNECT_TIMEOUT_S = 15.0
STALL_TIMEOUT_S = 30.0  # no byte for this long: the connection has stalled
RETRIES_PER_SOURCE = 4  # after the first attempt, on a stall, a drop or a 5xx
CONNECT_RETRIES = 1  # a host that cannot be reached at all (offline, no such name)
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0)
MAX_REDIRECTS = 5
SPACE_MARGIN = 64 << 20  # free space kept beyond the file
PARTIAL_DIR = ".partial"


class DownloadError(EngineError):
    """A download that cannot go on (one line): every source failed, a wrong hash, no
    space. The partial file is kept when resuming can help, and the message says so."""


class DownloadCancelled(DownloadError):
    pass


@dataclass(frozen=True, slots=True)
class Source:
    """One place the file can come from. `token` is sent to `url`'s host only."""

    name: str  # "hf", "mirror", "modelscope", "url": shown to the user
    url: str
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Progress:
    file: str
    done: int  # bytes on disk, verified or not
    total: int
    speed: float  # bytes per second, over the last few seconds
    source: str  # the source in use
    state: str  # "checking" (hashing what is there), "downloading", "retrying", "verifying"
    note: str = ""  # why it retries, which source failed

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def eta_s(self) -> float | None:
        if self.speed <= 0 or not self.total:
            return None
        return max(0.0, (self.total - self.done) / self.speed)


@dataclass
class Request:
    """What to download: one file, where from (in order), and what it must be."""

    file: str  # the file name in the models folder
    sources: Sequence[Source]
    size: int | None = None  # bytes, when published
    sha256: str | None = None  # hex, when published (then verified)

    def __post_init__(self) -> None:
        name = self.file
        if not name or "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
            raise DownloadError(f"not a file name: {name!r}")
        if self.sha256 is not None:
            self.sha256 = self.sha256.lower()
            if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
                raise DownloadError(f"not a sha256: {self.sha256!r}")
        if not self.sources:
            raise DownloadError(f"{name}: no source to download it from")
        for source in self.sources:
            parts = urlsplit(source.url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise DownloadError(f"not an http(s) address: {source.url[:100]!r}")


def partial_paths(models_dir: Path, file: str) -> tuple[Path, Path]:
    """The partial file and its description."""
    folder = models_dir / PARTIAL_DIR
    return folder / f"{file}.part", folder / f"{file}.json"


def pending(models_dir: Path) -> list[dict[str, Any]]:
    """Downloads left unfinished (by a restart, a crash or a cancel), resumable."""
    folder = models_dir / PARTIAL_DIR
    found = []
    for meta in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
            part = meta.with_suffix(".part")
            data["done"] = part.stat().st_size if part.exists() else 0
            found.append(data)
        except (OSError, ValueError):
            continue
    return found


def discard(models_dir: Path, file: str) -> None:
    for path in partial_paths(models_dir, file):
        path.unlink(missing_ok=True)


class _Speed:
    """Bytes per second over a sliding window of a few seconds."""

    WINDOW_S = 3.0

    def __init__(self) -> None:
        self._marks: list[tuple[float, int]] = []

    def add(self, done: int) -> float:
        now = time.monotonic()
        self._marks.append((now, done))
        while len(self._marks) > 2 and now - self._marks[0][0] > self.WINDOW_S:
            self._marks.pop(0)
        t0, d0 = self._marks[0]
        return (done - d0) / (now - t0) if now > t0 else 0.0


@dataclass
class _State:
    """The bytes on disk so far and their running sha256."""

    hasher: Any
    done: int


class _Retry(Exception):
    """This attempt failed in a way another attempt at the same source may not."""

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class _NextSource(Exception):
    """This source cannot serve the file (404, 401, 403, a 4xx): try the next one."""


def download(request: Request, models_dir: Path, *,
             progress: Callable[[Progress], None] | None = None,
             cancel: threading.Event | None = None,
             client: Any = None, sleep: Callable[[float], None] = time.sleep) -> Path:
    """Download `request` into `models_dir`; the final path. Raises DownloadError (one line),
    DownloadCancelled."""
    import httpx

    final = models_dir / request.file
    if final.exists() and request.size is not None and final.stat().st_size == request.size \
            and request.sha256 is None:
        return final
    part, meta = partial_paths(models_dir, request.file)
    part.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({
        "file": request.file, "size": request.size, "sha256": request.sha256,
        "sources": [{"name": s.name, "url": s.url} for s in request.sources],
    }, ensure_ascii=False), encoding="utf-8")
    own = client is None
    if own:
        client = httpx.Client(follow_redirects=False, timeout=httpx.Timeout(
            STALL_TIMEOUT_S, connect=CONNECT_TIMEOUT_S), headers={"User-Agent": "Mingjing"})
    report = progress or (lambda _p: None)
    try:
        _check_space(models_dir, request, part)
        state = _hash_existing(part, request, report, cancel)
        failures: list[str] = []
        for source in request.sources:
            try:
                _from_source(client, source, request, part, state, report, cancel, sleep)
            except _NextSource as exc:
                failures.append(f"{source.name}: {exc}")
                log.warning("download %s: %s failed: %s", request.file, source.name, exc)
                continue
            return _finish(request, part, meta, final, state, report)
        raise DownloadError(f"{request.file}: could not be downloaded ({'; '.join(failures)})"
                            + (f"; {_mb(state.done)} kept to resume" if state.done else ""))
    finally:
        if own:
            client.close()


def _from_source(client: Any, source: Source, request: Request, part: Path, state: _State,
                 report: Callable[[Progress], None], cancel: threading.Event | None,
                 sleep: Callable[[float], None]) -> None:
    """The rest of the file from one source, retrying with back-off; _NextSource when this
    source will not do."""
    attempt = 0
    while True:
        _check_cancel(cancel)
        try:
            _fetch(client, source, request, part, state, report, cancel)
            return
        except _Retry as exc:
            attempt += 1
            if attempt > (CONNECT_RETRIES if exc.unreachable else RETRIES_PER_SOURCE):
                raise _NextSource(f"{exc} ({attempt} tries)") from exc
            wait = BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)]
            log.info("download %s: %s (retry %d in %.0f s)", request.file, exc, attempt, wait)
            report(Progress(request.file, state.done, request.size or 0, 0.0, source.name,
                            "retrying", str(exc)))
            _sleep(wait, cancel, sleep)
            # What is on disk may differ from what was hashed (a write cut short).
            fresh = _hash_existing(part, request, report, cancel)
            state.hasher, state.done = fresh.hasher, fresh.done


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise DownloadCancelled("download cancelled")


def _sleep(seconds: float, cancel: threading.Event | None,
           sleep: Callable[[float], None]) -> None:
    if cancel is not None:
        if cancel.wait(seconds):
            raise DownloadCancelled("download cancelled")
    else:
        sleep(seconds)


def _check_space(models_dir: Path, request: Request, part: Path) -> None:
    if request.size is None:
        return
    have = part.stat().st_size if part.exists() else 0
    need = request.size - have + SPACE_MARGIN
    free = shutil.disk_usage(models_dir).free
    if free < need:
        raise DownloadError(
            f"{request.file}: not enough disk space in {models_dir} ({_mb(free)} free, "
            f"{_mb(request.size - have)} needed)")


def _hash_existing(part: Path, request: Request, report: Callable[[Progress], None],
                   cancel: threading.Event | None) -> _State:
    """A sha256 over the partial file's bytes so far (resuming), and their count."""
    hasher = hashlib.sha256()
    done = 0
    if not part.exists():
        return _State(hasher, 0)
    size = part.stat().st_size
    if request.size is not None and size > request.size:
        part.unlink()  # longer than the file can be: not ours to trust
        return _State(hasher, 0)
    with part.open("rb") as f:
        while chunk := f.read(CHUNK * 8):
            _check_cancel(cancel)
            hasher.update(chunk)
            done += len(chunk)
            report(Progress(request.file, done, request.size or 0, 0.0, "", "checking"))
    return _State(hasher, done)


def _open(client: Any, source: Source, start: int) -> Any:
    """A streamed GET of `source` from byte `start`, following redirects by hand: the token
    goes only to the source's own host."""
    import httpx

    url = source.url
    origin = urlsplit(url).netloc.lower()
    for _ in range(MAX_REDIRECTS + 1):
        headers = {"Accept-Encoding": "identity"}
        if start:
            headers["Range"] = f"bytes={start}-"
        if source.token and urlsplit(url).netloc.lower() == origin:
            headers["Authorization"] = f"Bearer {source.token}"
        try:
            response = client.send(client.build_request("GET", url, headers=headers),
                                   stream=True)
        except httpx.ConnectTimeout as exc:
            raise _Retry(f"cannot reach {urlsplit(url).netloc}", unreachable=True) from exc
        except httpx.TimeoutException as exc:
            raise _Retry(f"no answer from {urlsplit(url).netloc}") from exc
        except httpx.ConnectError as exc:
            raise _Retry(f"cannot reach {urlsplit(url).netloc} (offline?)",
                         unreachable=True) from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise _NextSource(f"cannot download from {url[:100]!r}") from exc
        except httpx.TransportError as exc:
            raise _Retry(f"{urlsplit(url).netloc}: {exc.__class__.__name__}") from exc
        if response.status_code in (301, 302, 303, 307, 308):
            location = response.headers.get("location")
            response.close()
            if not location:
                raise _NextSource(f"HTTP {response.status_code} without a location")
            url = urljoin(url, location)
            if urlsplit(url).scheme not in ("http", "https"):
                raise _NextSource("redirected to something that is not http(s)")
            continue
        return response
    raise _NextSource("too many redirects")


def _fetch(client: Any, source: Source, request: Request, part: Path, state: _State,
           report: Callable[[Progress], None], cancel: threading.Event | None) -> None:
    """Append the rest of the file from `source` (`state` follows the bytes on disk)."""
    import httpx

    done = state.done
    if request.size is not None and done == request.size:
        return
    response = _open(client, source, done)
    try:
        status = response.status_code
        if status == 416 and request.size is not None and done >= request.size:
            return
        if status in (408, 429) or status >= 500:
            raise _Retry(f"HTTP {status}")
        if status >= 400:
            raise _NextSource(f"HTTP {status}" + (" (a token may be needed)"
                                                  if status in (401, 403) else ""))
        if status == 200 and done:
            # The server ignored the Range: start over from its first byte.
            log.info("download %s: %s does not resume; starting over", request.file,
                     source.name)
            part.write_bytes(b"")
            state.hasher, state.done = hashlib.sha256(), 0
            done = 0
        elif status == 206:
            first = _content_range_start(response.headers.get("content-range", ""))
            if first != done:
                raise _NextSource(f"answered bytes from {first}, not {done}")
        elif status != 200:
            raise _NextSource(f"HTTP {status}")
        total = request.size or _total(response, done)
        if request.size is not None and total and total != request.size:
            raise _NextSource(f"serves {total:,} bytes, not the published {request.size:,}")
        speed = _Speed()
        mode = "ab" if done else "wb"
        # Unbuffered: a full disk shows at the write that hit it, never later at close.
        with part.open(mode, buffering=0) as f:
            try:
                for chunk in response.iter_raw():  # as it arrives: a drop loses nothing
                    _check_cancel(cancel)
                    _write_all(f, chunk)
                    state.hasher.update(chunk)
                    done += len(chunk)
                    state.done = done
                    if request.size is not None and done > request.size:
                        raise _NextSource("sent more bytes than the file has")
                    report(Progress(request.file, done, total or 0, speed.add(done),
                                    source.name, "downloading"))
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise DownloadError(
                        f"{request.file}: the disk is full ({_mb(done)} downloaded and kept "
                        "to resume once there is space)") from exc
                raise
            except httpx.TimeoutException as exc:
                raise _Retry("the connection stalled") from exc
            except (httpx.TransportError, httpx.StreamError) as exc:
                raise _Retry(f"the connection dropped ({exc.__class__.__name__})") from exc
        if total and done < total:
            raise _Retry(f"the connection ended at {_mb(done)} of {_mb(total)}")
    finally:
        response.close()


def _write_all(f: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = f.write(view)
        view = view[written:]


def _content_range_start(value: str) -> int:
    # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return -1


def _total(response: Any, done: int) -> int:
    crange = response.headers.get("content-range", "")
    if "/" in crange:
        try:
            return int(crange.rsplit("/", 1)[1])
        except ValueError:
            return 0
    length = response.headers.get("content-length")
    return done + int(length) if length and length.isdigit() else 0


def _finish(request: Request, part: Path, meta: Path, final: Path, state: _State,
            report: Callable[[Progress], None]) -> Path:
    done = state.done
    report(Progress(request.file, done, request.size or done, 0.0, "", "verifying"))
    if request.size is not None and done != request.size:
        part.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        raise DownloadError(f"{request.file}: {done:,} bytes arrived, the file has "
                            f"{request.size:,}; the download was deleted")
    digest = state.hasher.hexdigest()
    if request.sha256 is not None and digest != request.sha256:
        part.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        raise DownloadError(f"{request.file}: the downloaded file is not the published one "
                            f"(sha256 {digest[:12]}…, expected {request.sha256[:12]}…); it "
                            "was deleted")
    with part.open("rb+") as f:
        os.fsync(f.fileno())
    os.replace(part, final)
    meta.unlink(missing_ok=True)
    _fsync_dir(final.parent)
    log.info("downloaded %s (%s, sha256 %s)", request.file, _mb(done), digest)
    return final


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
