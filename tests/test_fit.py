"""The fit check's arithmetic against the resident memory the real built-in models take
(a load and a short reply, in a process of their own), and its verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.gguf import read_model_info
from models.fit import Memory, check_fit, kv_bytes_per_token, memory_need

REPO = Path(__file__).resolve().parent.parent
MEASURE = """
import json, sys
from pathlib import Path
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS"))
before = rss()
from engine.runtime import Engine
from engine.types import ChatMessage, LoadParams, SamplingParams
e = Engine.load(Path(sys.argv[1]), LoadParams(n_ctx=int(sys.argv[2]), n_threads=2))
plan = e.plan([ChatMessage("user", "Write about rivers.")], reserve=32)
for _ in e.stream(plan, SamplingParams(max_tokens=16, temperature=0)):
    pass
print(json.dumps({"added": rss() - before}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("which", ["chat", "base"])
@pytest.mark.parametrize("n_ctx", [2048, 8192])
def test_the_estimate_matches_the_built_in_models_resident_memory(
        which: str, n_ctx: int, chat_model_path: Path, default_model_path: Path) -> None:
    path = chat_model_path if which == "chat" else default_model_path
    info = read_model_info(path)
    kv_per_token = info.kv_cache_bytes(1)
    assert kv_per_token is not None
    _kv, _overhead, need = memory_need(path.stat().st_size, kv_per_token, n_ctx)
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path), str(n_ctx)], cwd=REPO,
                         capture_output=True, text=True, timeout=300, check=True)
    added = json.loads(out.stdout.strip().splitlines()[-1])["added"]
    assert abs(need - added) <= 0.15 * added, (need, added)


def test_kv_bytes_per_token_is_what_the_gguf_says(chat_model_path: Path) -> None:
    info = read_model_info(chat_model_path)
    # Qwen2.5 0.5B: 24 layers, 2 KV heads of 64 dimensions
    assert kv_bytes_per_token(24, 2, 64) == info.kv_cache_bytes(1) == 12288


def test_verdicts() -> None:
    gib = 1 << 30
    machine = Memory(total=16 * gib, available=10 * gib)
    assert check_fit(4 * gib, 57344, 4096, machine).verdict == "fits"
    assert check_fit(9 * gib, 57344, 4096, machine).verdict == "tight"
    assert check_fit(15 * gib, 57344, 4096, machine).verdict == "too_big"
    # A long context can turn a fitting model into a tight one.
    assert check_fit(4 * gib, 131072, 131072, machine).verdict != "fits"
    fit = check_fit(4 * gib, 57344, 4096, machine)
    assert "GiB free of 16.0 GiB" in fit.explain() and fit.need > 4 * gib
    # A GPU too small for the offloaded part: too big, whatever the RAM.
    gpu = Memory(total=64 * gib, available=60 * gib, gpu_free=2 * gib)
    assert check_fit(4 * gib, 57344, 4096, gpu, gpu_layers_share=1.0).verdict == "too_big"
    assert check_fit(1 * gib, 57344, 4096, gpu, gpu_layers_share=1.0).verdict == "fits"


def test_free_gpu_memory_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.fit import gpu_free_memory, offloaded_share, system_memory

    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_free_memory() is None  # no driver: nothing claimed
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 8192\necho 4096\n")  # two GPUs: the first is used
    smi.chmod(0o755)
    assert gpu_free_memory() == 8192 << 20
    assert system_memory(gpu=True).gpu_free == 8192 << 20
    assert system_memory().gpu_free is None
    smi.write_text("#!/bin/sh\necho 'No devices were found'\nexit 9\n")
    assert gpu_free_memory() is None
    assert offloaded_share(-1) == offloaded_share(999) == 1.0 and offloaded_share(0) == 0.0


def test_free_gpu_memory_of_an_amd_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AMD: the amdgpu driver's counters in sysfs, else rocm-smi's JSON."""
    import models.fit as fit

    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    (tmp_path / "bin").mkdir()
    drm = tmp_path / "drm"
    monkeypatch.setattr(fit, "DRM_ROOT", drm)
    assert fit.gpu_free_memory() is None
    device = drm / "card1" / "device"
    device.mkdir(parents=True)
    (device / "mem_info_vram_total").write_text("17163091968\n")
    (device / "mem_info_vram_used").write_text("1073741824\n")
    assert fit.gpu_free_memory() == 17163091968 - 1073741824
    (device / "mem_info_vram_total").write_text("garbage\n")
    assert fit.gpu_free_memory() is None
    smi = tmp_path / "bin" / "rocm-smi"
    smi.write_text("#!/bin/sh\necho '{\"card0\": {\"VRAM Total Memory (B)\": \"8589934592\", "
                   "\"VRAM Total Used Memory (B)\": \"589934592\"}}'\n")
    smi.chmod(0o755)
    assert fit.gpu_free_memory() == 8_000_000_000
