"""`mingjing models` as a real process: search with fit labels, pull from a real HTTP server
on 127.0.0.1 (the first source failing, the token kept from the mirror, Ctrl-C and resume),
list and rm."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from models.catalog import SHIPPED
from tests.http_files import Behaviour, file_server

REPO = Path(__file__).resolve().parent.parent
DATA = os.urandom(2 << 20)
SHA = hashlib.sha256(DATA).hexdigest()


def home_with_catalog(root: Path) -> Path:
    """A data folder whose catalog (newer than the shipped one) has a small test model."""
    home = root / "home"
    home.mkdir()
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))
    entry = dict(shipped["models"][0], id="tiny-test-q4_k_m", name="Tiny Test",
                 hf_repo="test/tiny-GGUF", modelscope_repo=None, file="tiny-test-q4_k_m.gguf",
                 size=len(DATA), sha256=SHA)
    shipped["version"] += 1
    shipped["models"].append(entry)
    (home / "catalog.json").write_text(json.dumps(shipped), encoding="utf-8")
    (home / "settings.json").write_text(json.dumps({"hf_token": "hf_gated_secret_token"}),
                                        encoding="utf-8")
    return home


def run(home: Path, *args: str, env: dict[str, str] | None = None,
        timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, timeout=timeout,
                          env={**os.environ, "MINGJING_HOME": str(home), **(env or {})},
                          capture_output=True, text=True)


def test_search_lists_the_catalog_with_fit_labels(tmp_path: Path) -> None:
    home = home_with_catalog(tmp_path)
    result = run(home, "models", "search", "--json", "--ctx", "4096")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    ids = [m["id"] for m in data["models"]]
    assert "tiny-test-q4_k_m" in ids and "qwen2.5-7b-instruct-q4_k_m" in ids
    assert all(m["fit"] in ("fits", "tight", "too_big") for m in data["models"])
    assert data["models"][0]["need"] > data["models"][0]["size"]
    zh = run(home, "models", "search", "千问", env={"LANG": "zh_CN.UTF-8"})
    assert "通义千问" in zh.stdout
    nothing = run(home, "models", "search", "no-such-model-anywhere")
    assert nothing.returncode == 0 and "nothing in the catalog" in nothing.stderr


def test_pull_falls_back_keeps_the_token_home_and_resumes_after_ctrl_c(tmp_path: Path) -> None:
    home = home_with_catalog(tmp_path)
    path = "/test/tiny-GGUF/resolve/main/tiny-test-q4_k_m.gguf"
    hub = Behaviour(files={path: DATA}, status=503)
    mirror = Behaviour(files={path: DATA}, bytes_per_s=400_000)
    with file_server(hub) as hub_url, file_server(mirror) as mirror_url:
        env = {"MINGJING_HF_ENDPOINT": hub_url, "HF_ENDPOINT": mirror_url}
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "models", "pull", "tiny-test-q4_k_m",
             "--source", "hf"], cwd=REPO, env={**os.environ, "MINGJING_HOME": str(home), **env},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        part = home / "models" / ".partial" / "tiny-test-q4_k_m.gguf.part"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (not part.exists()
                                               or part.stat().st_size < 500_000):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert "kept" in err and "Traceback" not in err
        listed = run(home, "models", "list")
        assert "unfinished" in listed.stdout
        mirror.bytes_per_s = None
        done = run(home, "models", "pull", "tiny-test-q4_k_m", "--source", "hf", "--json",
                   env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert hashlib.sha256(Path(result["path"]).read_bytes()).hexdigest() == SHA
    assert hub.seen and all(s["authorization"] == "Bearer hf_gated_secret_token"
                            for s in hub.seen)  # the token goes to the hub...
    assert all(s["authorization"] is None for s in mirror.seen)  # ...never to the mirror
    assert mirror.seen[-1]["range"] not in (None, "bytes=0-")  # it resumed
    assert "hf_gated_secret_token" not in (home / "logs" / "mingjing.log").read_text(
        encoding="utf-8")
    listed = json.loads(run(home, "models", "list", "--json").stdout)
    tiny = next(m for m in listed["models"] if m["name"] == "tiny-test-q4_k_m.gguf")
    assert tiny["origin"] == "downloaded" and tiny["deletable"]
    removed = run(home, "models", "rm", "tiny-test-q4_k_m")
    assert removed.returncode == 0 and not Path(result["path"]).exists()


def test_pull_by_url_with_a_wrong_sha256_keeps_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with file_server(Behaviour(files={"/x.gguf": DATA})) as url:
        result = run(home, "models", "pull", "x.gguf", "--url", f"{url}/x.gguf",
                     "--sha256", "0" * 64)
    assert result.returncode == 1 and "not the published one" in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("mingjing:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr  # progress lines, one error
    assert not (home / "models" / "x.gguf").exists()


@pytest.mark.parametrize(("args", "code", "words"), [
    (["models", "pull", "no-such-model"], 2, "no model 'no-such-model'"),
    (["models", "pull", "x.gguf", "--sha256", "ab"], 2, "--sha256 goes with --url"),
    (["models", "pull", "x.gguf", "--url", "http://127.0.0.1:9/x", "--sha256", "zz"], 2,
     "not a sha256"),
    (["models", "rm", "gemma-3-270m"], 2, "built in"),
    (["models", "rm", "../settings.json"], 2, "not a path"),
    (["models", "rm", "nothing.gguf"], 2, "no downloaded model"),
    (["models", "pull", "x.gguf", "--url", "http://127.0.0.1:9/x"], 1, "could not be"),
])
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], code: int,
                               words: str) -> None:
    result = run(tmp_path / "home", *args)
    assert result.returncode == code, result.stderr
    assert words in result.stderr and "Traceback" not in result.stderr


def test_without_network_the_catalog_works_and_a_pull_says_why(tmp_path: Path) -> None:
    """`unshare -n`: no network at all (not even a name server)."""
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot make a network namespace here")
    home = tmp_path / "home"
    env = {**os.environ, "MINGJING_HOME": str(home)}
    search = subprocess.run(["unshare", "-n", sys.executable, "-m", "app", "models", "search",
                             "qwen"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert search.returncode == 0 and "qwen2.5-1.5b-instruct-q4_k_m" in search.stdout
    pull = subprocess.run(["unshare", "-n", sys.executable, "-m", "app", "models", "pull",
                           "qwen2.5-0.5b-instruct-q4_k_m"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert pull.returncode == 1 and "Traceback" not in pull.stderr
    last = pull.stderr.strip().splitlines()[-1]
    assert last.startswith("mingjing:") and "could not be downloaded" in last
