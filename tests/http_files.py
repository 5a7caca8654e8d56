"""A real HTTP file server on 127.0.0.1 for the download tests: serves bytes with Range
support and misbehaves on request (throttle, drop the connection after N bytes, answer
500, serve wrong bytes, stall, ignore Range, redirect elsewhere), and records what it was
asked (paths, Range headers, Authorization headers)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Behaviour:
    files: dict[str, bytes] = field(default_factory=dict)  # path -> content
    status: int | None = None  # answer this status instead of the file
    fail_times: int = 0  # answer `status` this many times, then behave (0: always)
    drop_after: int | None = None  # close the connection after this many body bytes
    drop_times: int = 1  # ... this many times
    bytes_per_s: float | None = None  # throttle
    stall_after: int | None = None  # stop sending (keep the connection) after N bytes
    stall_s: float = 5.0
    wrong_bytes: bool = False  # flip one byte in what is sent
    ignore_range: bool = False  # answer 200 with the whole file to a Range request
    redirect_to: str | None = None  # 302 to this base URL + the path
    seen: list[dict[str, str | None]] = field(default_factory=list)


class _Handler(http.server.BaseHTTPRequestHandler):
    behaviour: Behaviour
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args: object) -> None:
        pass

    def do_GET(self) -> None:
        b = self.behaviour
        b.seen.append({"path": self.path, "range": self.headers.get("Range"),
                       "authorization": self.headers.get("Authorization")})
        if b.redirect_to is not None:
            self.send_response(302)
            self.send_header("Location", b.redirect_to + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if b.status is not None:
            code = b.status
            if b.fail_times > 0:  # fail this many times, then serve
                b.fail_times -= 1
                if b.fail_times == 0:
                    b.status = None
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = b.files.get(self.path)
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if b.wrong_bytes:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        start = 0
        header = self.headers.get("Range")
        if header and not b.ignore_range:
            start = int(header.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        limit = len(body)
        dropping = b.drop_after is not None and b.drop_times > 0
        if dropping:
            assert b.drop_after is not None
            limit = min(limit, b.drop_after)
            b.drop_times -= 1
        sent = 0
        step = 16384
        while sent < limit:
            if b.stall_after is not None and sent >= b.stall_after:
                b.stall_after = None
                time.sleep(b.stall_s)
                self.close_connection = True
                return
            piece = body[sent:min(limit, sent + step)]
            try:
                self.wfile.write(piece)
            except (BrokenPipeError, ConnectionResetError):
                return
            sent += len(piece)
            if b.bytes_per_s:
                time.sleep(len(piece) / b.bytes_per_s)
        if sent < len(body):
            self.close_connection = True  # the client sees the body end short


@contextmanager
def file_server(behaviour: Behaviour, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `behaviour` on `host`; yields the base URL."""

    class Handler(_Handler):
        pass

    Handler.behaviour = behaviour
    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
