"""Model downloads against a real HTTP server on 127.0.0.1 (tests/http_files.py): resume
after a dropped connection and after `kill -9`, the sha256 checked, fallback between
sources, a token kept to its host, stalls retried, a full disk, cancel."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import models.download as dl
from models.download import (
    DownloadCancelled,
    DownloadError,
    Progress,
    Request,
    Source,
    download,
    partial_paths,
    pending,
)
from tests.http_files import Behaviour, file_server

REPO = Path(__file__).resolve().parent.parent
DATA = os.urandom(3 << 20) + "明镜".encode() * 1000  # a little over 3 MiB
SHA = hashlib.sha256(DATA).hexdigest()
FILE = "tiny-model-q4_k_m.gguf"


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dl, "BACKOFF_S", (0.05, 0.05, 0.05, 0.05, 0.05))


def request(*urls: str, sha: str | None = SHA, size: int | None = len(DATA),
            token: str | None = None) -> Request:
    return Request(FILE, [Source(f"s{i}", url, token) for i, url in enumerate(urls)],
                   size=size, sha256=sha)


def test_a_download_lands_verified_and_atomic(tmp_path: Path) -> None:
    b = Behaviour(files={"/m.gguf": DATA})
    seen: list[Progress] = []
    with file_server(b) as url:
        path = download(request(f"{url}/m.gguf"), tmp_path, progress=seen.append)
    assert path == tmp_path / FILE and path.read_bytes() == DATA
    assert not any(p.exists() for p in partial_paths(tmp_path, FILE))
    assert seen[-1].state == "verifying" and seen[-2].done == len(DATA)
    assert [p.done for p in seen if p.state == "downloading"] == sorted(
        p.done for p in seen if p.state == "downloading")


def test_a_dropped_connection_resumes_with_a_range_request(tmp_path: Path) -> None:
    b = Behaviour(files={"/m.gguf": DATA}, drop_after=1_000_000, drop_times=2)
    with file_server(b) as url:
        path = download(request(f"{url}/m.gguf"), tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA
    ranges = [s["range"] for s in b.seen]
    assert ranges == [None, "bytes=1000000-", "bytes=2000000-"]


def test_a_server_that_ignores_range_starts_over(tmp_path: Path) -> None:
    b = Behaviour(files={"/m.gguf": DATA}, drop_after=500_000, ignore_range=True)
    with file_server(b) as url:
        path = download(request(f"{url}/m.gguf"), tmp_path)
    assert path.read_bytes() == DATA and len(b.seen) == 2


def test_kill_9_then_resume(tmp_path: Path) -> None:
    """A real process downloading at ~1 MB/s is killed; the next download resumes from the
    bytes it left and the result is the published file."""
    b = Behaviour(files={"/m.gguf": DATA}, bytes_per_s=1_000_000)
    with file_server(b) as url:
        code = (
            "import sys; from pathlib import Path; from models.download import *\n"
            f"download(Request({FILE!r}, [Source('hf', {url + '/m.gguf'!r})], "
            f"size={len(DATA)}, sha256={SHA!r}), Path(sys.argv[1]))\n")
        proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=REPO)
        part, _meta = partial_paths(tmp_path, FILE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not part.exists()
                                               or part.stat().st_size < 600_000):
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        left = part.stat().st_size
        assert 600_000 <= left < len(DATA)
        assert pending(tmp_path)[0]["file"] == FILE
        b.bytes_per_s = None
        path = download(request(f"{url}/m.gguf"), tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA
    assert b.seen[-1]["range"] == f"bytes={left}-"
    assert pending(tmp_path) == []


def test_a_wrong_hash_is_refused_and_the_partial_file_deleted(tmp_path: Path) -> None:
    b = Behaviour(files={"/m.gguf": DATA}, wrong_bytes=True)
    with file_server(b) as url, pytest.raises(DownloadError, match="not the published one"):
        download(request(f"{url}/m.gguf"), tmp_path)
    assert not (tmp_path / FILE).exists()
    assert not any(p.exists() for p in partial_paths(tmp_path, FILE))


def test_500_falls_back_to_the_next_source(tmp_path: Path) -> None:
    bad = Behaviour(files={"/m.gguf": DATA}, status=500)
    good = Behaviour(files={"/m.gguf": DATA})
    with file_server(bad) as first, file_server(good) as second:
        path = download(request(f"{first}/m.gguf", f"{second}/m.gguf"), tmp_path)
    assert path.read_bytes() == DATA
    assert len(bad.seen) == 1 + dl.RETRIES_PER_SOURCE  # retried, then given up
    assert len(good.seen) == 1


def test_404_everywhere_is_one_line(tmp_path: Path) -> None:
    with file_server(Behaviour()) as url, pytest.raises(DownloadError) as error:
        download(request(f"{url}/a.gguf", f"{url}/b.gguf"), tmp_path)
    assert "s0: HTTP 404" in str(error.value) and "s1: HTTP 404" in str(error.value)
    assert "\n" not in str(error.value)


def test_a_token_goes_to_its_host_and_not_where_it_redirects(tmp_path: Path) -> None:
    cdn = Behaviour(files={"/m.gguf": DATA})
    with file_server(cdn) as cdn_url:
        hub = Behaviour(redirect_to=cdn_url)
        with file_server(hub) as hub_url:
            path = download(request(f"{hub_url}/m.gguf", token="hf_secret_token"), tmp_path)
    assert path.read_bytes() == DATA
    assert hub.seen[0]["authorization"] == "Bearer hf_secret_token"
    assert all(s["authorization"] is None for s in cdn.seen)


def test_a_stalled_connection_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dl, "STALL_TIMEOUT_S", 0.5)
    b = Behaviour(files={"/m.gguf": DATA}, stall_after=700_000, stall_s=3.0)
    notes: list[str] = []
    with file_server(b) as url:
        path = download(request(f"{url}/m.gguf"), tmp_path,
                        progress=lambda p: notes.append(p.note) if p.state == "retrying"
                        else None)
    assert path.read_bytes() == DATA
    assert notes and "stalled" in notes[0]
    assert b.seen[1]["range"] is not None and b.seen[1]["range"] != "bytes=0-"


def test_cancel_keeps_the_partial_file_for_later(tmp_path: Path) -> None:
    cancel = threading.Event()
    b = Behaviour(files={"/m.gguf": DATA}, bytes_per_s=2_000_000)

    def stop_half_way(p: Progress) -> None:
        if p.done > 1_000_000:
            cancel.set()

    with file_server(b) as url:
        with pytest.raises(DownloadCancelled):
            download(request(f"{url}/m.gguf"), tmp_path, progress=stop_half_way,
                     cancel=cancel)
        assert pending(tmp_path)[0]["done"] > 1_000_000
        b.bytes_per_s = None
        assert download(request(f"{url}/m.gguf"), tmp_path).read_bytes() == DATA


def test_not_enough_space_is_refused_before_starting(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.disk_usage

    def tiny(path: str | os.PathLike[str]) -> object:
        usage = real(path)
        return type(usage)(usage.total, usage.total - 1_000_000, 1_000_000)

    monkeypatch.setattr(dl.shutil, "disk_usage", tiny)
    b = Behaviour(files={"/m.gguf": DATA})
    with file_server(b) as url, pytest.raises(DownloadError, match="not enough disk space"):
        download(request(f"{url}/m.gguf"), tmp_path)
    assert b.seen == []  # nothing asked, nothing written


@pytest.fixture
def small_disk(tmp_path: Path) -> object:
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                            capture_output=True)
    if result.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_keeps_a_resumable_partial(small_disk: Path, tmp_path: Path) -> None:
    # Size unpublished, so the space check cannot refuse it first: the disk fills mid-way.
    b = Behaviour(files={"/m.gguf": DATA})
    with file_server(b) as url:
        with pytest.raises(DownloadError, match="disk is full"):
            download(request(f"{url}/m.gguf", size=None), small_disk)
        assert not (small_disk / FILE).exists()
        part, meta = partial_paths(small_disk, FILE)
        kept = part.stat().st_size
        assert 0 < kept < len(DATA) and meta.exists()
        # Space comes back (here: the partial moves to a bigger disk) and it resumes.
        bigger = tmp_path / "big"
        shutil.copytree(small_disk / dl.PARTIAL_DIR, bigger / dl.PARTIAL_DIR)
        path = download(request(f"{url}/m.gguf"), bigger)
    assert path.read_bytes() == DATA
    assert b.seen[-1]["range"] == f"bytes={kept}-"


def test_requests_are_checked() -> None:
    with pytest.raises(DownloadError, match="not a file name"):
        Request("../evil.gguf", [Source("hf", "http://127.0.0.1/x")])
    with pytest.raises(DownloadError, match="not a sha256"):
        Request("a.gguf", [Source("hf", "http://127.0.0.1/x")], sha256="abc")
    with pytest.raises(DownloadError, match="no source"):
        Request("a.gguf", [])
    assert "hf_secret" not in repr(Source("hf", "http://x", "hf_secret"))


def test_a_queue_runs_downloads_one_at_a_time_and_cancels(tmp_path: Path) -> None:
    from models.download_queue import DownloadQueue, JobState

    states: list[JobState] = []
    done = threading.Event()

    def listen(state: JobState) -> None:
        states.append(state)
        if state.file == "c.gguf" and state.state in ("done", "failed", "cancelled"):
            done.set()

    b = Behaviour(files={"/m.gguf": DATA}, bytes_per_s=4_000_000)
    with file_server(b) as url:
        queue = DownloadQueue(tmp_path, listen)
        try:
            for name in ("a.gguf", "b.gguf", "c.gguf"):
                assert queue.add(Request(name, [Source("hf", f"{url}/m.gguf")],
                                         size=len(DATA), sha256=SHA))
            assert not queue.add(Request("a.gguf", [Source("hf", f"{url}/m.gguf")]))
            queue.cancel("b.gguf")  # waiting: taken out of the line
            assert done.wait(60)
        finally:
            queue.close()
    finals = {s.file: s.state for s in states if s.state in ("done", "failed", "cancelled")}
    assert finals == {"a.gguf": "done", "b.gguf": "cancelled", "c.gguf": "done"}
    assert (tmp_path / "a.gguf").read_bytes() == DATA == (tmp_path / "c.gguf").read_bytes()
    assert not (tmp_path / "b.gguf").exists()
    # One at a time: c started after a finished.
    order = [(s.file, s.state) for s in states if s.state in ("downloading", "done")]
    assert order.index(("a.gguf", "done")) < next(
        i for i, (f, st) in enumerate(order) if f == "c.gguf")
