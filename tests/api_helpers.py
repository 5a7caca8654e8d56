"""Starting `mingjing serve` as a user does (a real process on a free port of 127.0.0.1)
and talking to it with the official openai client."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import REPO

TOKEN = "test-token-5f2a9c7e1b"


@dataclass
class Served:
    proc: subprocess.Popen[str] | None  # None: a server in this process
    url: str  # http://127.0.0.1:PORT
    token: str | None
    home: Path
    banner: list[str]

    def client(self, token: str | None = None, **kwargs: Any) -> Any:
        import openai

        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=token or self.token or "none",
                             max_retries=0, timeout=300, **kwargs)

    def call(self, method: str, path: str, body: object = None, *, token: str | None = None,
             raw: bytes | None = None, headers: dict[str, str] | None = None,
             ) -> tuple[int, dict[str, str], Any]:
        """One plain HTTP request (stdlib): status, headers, and the JSON body (else text)."""
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=300)
        sent = dict(headers or {})
        key = token or self.token
        if key and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {key}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        try:
            parsed: Any = json.loads(payload)
        except ValueError:
            parsed = payload.decode("utf-8", "replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, parsed

    @property
    def log_text(self) -> str:
        return (self.home / "logs" / "mingjing.log").read_text("utf-8", errors="replace")

    def stop(self) -> tuple[int, str]:
        """Ctrl-C, as a user stops it: the exit code and what it said on stderr."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _out, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _out, err = self.proc.communicate()
        return self.proc.returncode, err


def mingjing(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINGJING_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def serve(home: Path, *args: str, token: str | None = TOKEN) -> Served:
    """Start `mingjing serve --port 0` and wait for the line that says where it listens."""
    env = {**os.environ, "MINGJING_HOME": str(home)}
    command = [sys.executable, "-m", "app", "serve", "--port", "0", *args]
    if token is not None:
        command += ["--token", token]
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    banner: list[str] = []
    while True:
        line = proc.stdout.readline()
        if not line:
            _out, err = proc.communicate(timeout=30)
            raise AssertionError(f"mingjing serve ended: {err}")
        banner.append(line.rstrip("\n"))
        if line.startswith("Ctrl-C"):
            break
    found = re.search(r"(http://\S+?)/v1", banner[0])
    assert found, banner
    return Served(proc, found.group(1), token, home, banner)


def model_home(root: Path, *models: Path, settings: str = "{}") -> Path:
    """A data folder holding the built-in model files (hard links: no copy, no assembly)."""
    home = root / "home"
    (home / "models").mkdir(parents=True)
    for model in models:
        os.link(model, home / "models" / model.name)
    (home / "settings.json").write_text(settings, encoding="utf-8")
    return home
