"""Downloads: models/download.py (Range-resumable, hashed as it arrives, fsynced, renamed)
against the same bytes fetched by curl and by a bare httpx stream into a file, from one
local HTTP server (tests/http_files.py) in the same run, alternating, median of 3.

The server is the same for all three, so the ratios show what our download costs on top of
moving the bytes (sha256 and the fsync), not the network."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import median, report

SIZE = int(os.environ.get("BENCH_DOWNLOAD_MB", "400")) << 20
ROUNDS = 3


def main() -> None:
    import httpx

    from models.download import Request, Source, download
    from tests.http_files import Behaviour, file_server

    data = os.urandom(SIZE)
    sha = hashlib.sha256(data).hexdigest()
    curl = shutil.which("curl")
    times: dict[str, list[float]] = {"ours": [], "httpx": []}
    if curl:
        times["curl"] = []
    with tempfile.TemporaryDirectory() as tmp, file_server(Behaviour(
            files={"/m.gguf": data})) as url:
        folder = Path(tmp)
        for _ in range(ROUNDS):
            for name in times:
                target = folder / "m.gguf"
                target.unlink(missing_ok=True)
                t0 = time.perf_counter()
                if name == "ours":
                    download(Request("m.gguf", [Source("bench", f"{url}/m.gguf")], size=SIZE,
                                     sha256=sha), folder)
                elif name == "httpx":
                    with httpx.stream("GET", f"{url}/m.gguf") as r, target.open("wb") as f:
                        for chunk in r.iter_raw():
                            f.write(chunk)
                else:
                    assert curl is not None
                    subprocess.run([curl, "-s", "-o", str(target), f"{url}/m.gguf"],
                                   check=True)
                times[name].append(time.perf_counter() - t0)
                assert target.stat().st_size == SIZE
    rows = []
    base = "curl" if curl else "httpx"
    for name, values in times.items():
        rate = SIZE / median(values) / 1e6
        rows.append((f"{name}", f"{rate:7.0f} MB/s  "
                                f"{[round(SIZE / v / 1e6) for v in values]}"))
    ours = median(times["ours"])
    rows.append((f"ours / {base} (time)", f"{ours / median(times[base]):.2f}x"))
    report(f"Download of {SIZE >> 20} MiB from a local HTTP server (median of {ROUNDS}, "
           "alternating; ours hashes, fsyncs and renames)", rows)


if __name__ == "__main__":
    main()
