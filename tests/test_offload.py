"""GPU offload planning (engine.offload), the per-layer sizes it reads from the GGUF
(engine.gguf) and the device list (engine.devices), on the real built-in models.

The Vulkan test needs a Python whose llama_cpp was built with Vulkan: point
MINGJING_VULKAN_PYTHON at it (it needs numpy and jinja2 beside llama_cpp; the project's
code comes from this checkout through PYTHONPATH). Mesa's software device (lavapipe) does
for a machine without a GPU: GGML_VK_VISIBLE_DEVICES=0 makes llama.cpp list it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.devices import Device, backend_from_name, gpu_offload_supported, list_devices
from engine.gguf import ModelInfo, read_model_info
from engine.offload import (
    DEFAULT_RESERVE_BYTES,
    OffloadPlan,
    compute_bytes,
    fewer_layers,
    plan_offload,
)
from tests.conftest import REPO
from tests.gguf_edit import BLOCK_SIZES, tensor_table

MIB = 1 << 20
GIB = 1 << 30
VULKAN_PYTHON_ENV = "MINGJING_VULKAN_PYTHON"
# Largest |logit difference| allowed between the CPU and the Vulkan device among the top-5
# candidates of the first step. lavapipe measured 0.39 (different summation order and f16
# intermediate results); a real bug shifts logits by whole units or reorders candidates.
LOGIT_TOLERANCE = 1.0
N_CTX = 2048
GPU = Device(0, "Vulkan0", "a test GPU", "gpu", "Vulkan", 2 * GIB, 2 * GIB)


def _model(request: pytest.FixtureRequest, which: str) -> Path:
    fixture = "chat_model_path" if which == "qwen" else "default_model_path"
    path = request.getfixturevalue(fixture)
    assert isinstance(path, Path)
    return path


def _tensor_bytes(path: Path) -> dict[str, int]:
    """Each tensor's byte size, sized by the test helper's own table of block sizes."""
    sizes = {}
    for name, t in tensor_table(path).items():
        per_block, block_bytes = BLOCK_SIZES[t.ggml_type]
        sizes[name] = -(-t.n_elements // per_block) * block_bytes
    return sizes


# --------------------------------------------------------------------------- layer sizes


@pytest.mark.parametrize(("which", "n_blocks", "tied"), [("qwen", 24, False), ("gemma", 18, True)])
def test_layer_sizes_add_up_to_the_tensor_data(request: pytest.FixtureRequest, which: str,
                                               n_blocks: int, tied: bool) -> None:
    path = _model(request, which)
    info = read_model_info(path)
    sizes = _tensor_bytes(path)
    assert info.block_count == n_blocks and len(info.layer_bytes) == n_blocks
    for i, got in enumerate(info.layer_bytes):
        assert got == sum(s for n, s in sizes.items() if n.startswith(f"blk.{i}.")), i
    assert info.embedding_bytes == sizes["token_embd.weight"]
    assert info.output_tied is tied
    output = sizes["output_norm.weight"] + sizes.get("output.weight", 0)
    assert info.output_bytes == output + (sizes["token_embd.weight"] if tied else 0)
    assert info.other_bytes == 0
    # blocks + output + embedding + norms: every tensor exactly once
    assert info.weight_bytes == sum(sizes.values())
    # and the tensors fill the file's data section (each padded to the alignment, 32)
    table = sorted(tensor_table(path).values(), key=lambda t: t.offset)
    data_start = table[0].data_at - table[0].offset
    padding = info.file_size - data_start - info.weight_bytes
    assert 0 <= padding < 32 * len(table)


def test_a_tensor_of_unknown_type_is_sized_by_its_offsets(tmp_path: Path,
                                                          chat_model_path: Path) -> None:
    """A newer ggml type the reader has no block size for: its bytes are the distance to
    the next tensor, so the layer it belongs to is not counted as empty."""
    table = tensor_table(chat_model_path)
    blk = sorted((t for t in table.values() if t.name.startswith("blk.3.")),
                 key=lambda t: t.offset)
    victim = blk[0]
    target = tmp_path / "unknown-type.gguf"
    from tests.gguf_edit import patched

    patched(chat_model_path, target, {victim.info_at - 4: (99).to_bytes(4, "little")})
    before, after = read_model_info(chat_model_path), read_model_info(target)
    later = min(t.offset for t in table.values() if t.offset > victim.offset)
    size = _tensor_bytes(chat_model_path)[victim.name]
    assert after.layer_bytes[3] - before.layer_bytes[3] == later - victim.offset - size
    assert after.layer_bytes[:3] == before.layer_bytes[:3]


# --------------------------------------------------------------------------- the planner


@pytest.fixture(scope="module")
def qwen(chat_model_path: Path) -> ModelInfo:
    return read_model_info(chat_model_path)


@pytest.fixture(scope="module")
def gemma(default_model_path: Path) -> ModelInfo:
    return read_model_info(default_model_path)


def test_everything_is_offloaded_when_memory_allows(qwen: ModelInfo) -> None:
    plan = plan_offload(qwen, N_CTX, GPU)
    assert plan.n_gpu_layers == plan.layers_total == 25 and plan.full and plan.reason == ""
    kv = qwen.kv_cache_bytes(N_CTX)
    assert kv == 24 * MIB
    compute = compute_bytes(qwen, N_CTX)
    assert plan.compute_bytes == compute
    assert plan.device_bytes == sum(qwen.layer_bytes) + qwen.output_bytes + kv + compute
    assert plan.host_bytes == qwen.embedding_bytes  # only the input layer stays
    assert plan.device_name == "Vulkan0" and plan.free_bytes == 2 * GIB
    assert re.fullmatch(r"25/25 layers on Vulkan0 \(0\.7 GiB of 2\.0 GiB free\); 89 MiB on the "
                        r"CPU", plan.describe()), plan.describe()


@pytest.mark.parametrize("which", ["qwen", "gemma"])
def test_fewer_layers_as_the_limit_shrinks(which: str, request: pytest.FixtureRequest) -> None:
    info = request.getfixturevalue(which)
    full = plan_offload(info, N_CTX, GPU)
    top = full.device_bytes + DEFAULT_RESERVE_BYTES
    last = full.layers_total
    seen = set()
    for step in range(0, 41):
        limit = top - step * top // 40
        plan = plan_offload(info, N_CTX, GPU, limit_bytes=limit)
        assert plan.n_gpu_layers <= last, (limit, plan)
        assert plan.device_bytes <= max(0, limit - DEFAULT_RESERVE_BYTES)
        if plan.n_gpu_layers < plan.layers_total:
            assert plan.reason
        last = plan.n_gpu_layers
        seen.add(plan.n_gpu_layers)
    assert last == 0 and full.layers_total in seen and len(seen) > 3
    # host and device trade bytes: fewer layers, more on the host
    hosts = [plan_offload(info, N_CTX, GPU, limit_bytes=top - s * top // 40).host_bytes
             for s in range(41)]
    assert hosts == sorted(hosts)


def test_nothing_fits_gives_zero_layers_and_a_reason(qwen: ModelInfo) -> None:
    plan = plan_offload(qwen, N_CTX, GPU, limit_bytes=300 * MIB)
    assert plan.n_gpu_layers == 0 and plan.device_bytes == 0
    assert "output layer alone needs" in plan.reason and "a limit of 0.3 GiB" in plan.reason
    assert plan.host_bytes == qwen.weight_bytes + (qwen.kv_cache_bytes(N_CTX) or 0)
    assert plan.describe().startswith("0/25 layers offloaded; 0.5 GiB on the CPU (the output")
    for device, why in [(None, "no GPU"),
                        (Device(1, "CPU", "a CPU", "cpu", "CPU", GIB, GIB), "not a GPU"),
                        (Device(0, "Vulkan0", "x", "gpu", "Vulkan", 0, 0), "no free memory")]:
        plan = plan_offload(qwen, N_CTX, device)
        assert plan.n_gpu_layers == 0 and why in plan.reason
        assert fewer_layers(plan) is None


def test_the_kv_cache_grows_the_need_with_the_context(gemma: ModelInfo) -> None:
    needs = [plan_offload(gemma, n, GPU).device_bytes for n in (1024, 4096, 16384, 32768)]
    assert needs == sorted(needs) and len(set(needs)) == 4
    kv = [gemma.kv_cache_bytes(n) or 0 for n in (4096, 16384)]
    assert needs[2] - needs[1] >= kv[1] - kv[0]
    layers = [plan_offload(gemma, n, GPU, limit_bytes=GIB + 256 * MIB).n_gpu_layers
              for n in (2048, 8192, 16384, 32768, 65536)]
    assert layers == sorted(layers, reverse=True) and layers[0] == 19 and layers[-1] < 19


def test_the_output_layer_is_offloaded_first(qwen: ModelInfo) -> None:
    """llama.cpp's n_gpu_layers = 1 is the output layer; K is it and the last K - 1 blocks."""
    plan = plan_offload(qwen, N_CTX, GPU)
    kv_layer = (qwen.kv_cache_bytes(N_CTX) or 0) // 24
    compute = plan.compute_bytes
    assert plan.device_need[1] == qwen.output_bytes + compute
    assert plan.device_need[5] == (qwen.output_bytes + sum(qwen.layer_bytes[20:]) + 4 * kv_layer
                                   + compute)


def test_fewer_layers_steps_down_to_none(qwen: ModelInfo) -> None:
    plan: OffloadPlan | None = plan_offload(qwen, N_CTX, GPU)
    counts = []
    while plan is not None:
        counts.append(plan.n_gpu_layers)
        assert plan.device_bytes == plan.device_need[plan.n_gpu_layers]
        plan = fewer_layers(plan)
    assert counts == [25, 18, 12, 6, 0]


# "Vulkan0 compute buffer size" on lavapipe, the larger of full and partial offload (its
# 128 MiB buffer cap keeps the output matrices, and so the logits, on the host there).
LAVAPIPE_COMPUTE_MIB = [("qwen", 2048, 69.28), ("gemma", 2048, 34.93), ("gemma", 8192, 113.21)]


@pytest.mark.parametrize(("which", "n_ctx", "measured"), LAVAPIPE_COMPUTE_MIB)
def test_the_compute_allowance_covers_what_lavapipe_measured(
        which: str, n_ctx: int, measured: float, request: pytest.FixtureRequest) -> None:
    info = request.getfixturevalue(which)
    estimate = compute_bytes(info, n_ctx, output_on_device=False) / MIB
    assert measured <= estimate <= 1.3 * measured + 16, estimate
    # with the output layer on the device, its logits (n_ubatch x n_vocab f32) are the floor
    assert compute_bytes(info, n_ctx) >= 512 * (info.vocab_size or 0) * 4


# --------------------------------------------------------------------------- devices


def test_the_cpu_build_lists_its_cpu() -> None:
    devices = list_devices()
    cpus = [d for d in devices if d.kind == "cpu"]
    assert len(cpus) == 1
    cpu = cpus[0]
    assert cpu.name == "CPU" and cpu.backend == "CPU" and cpu.total_bytes > 0
    assert cpu.free_bytes <= cpu.total_bytes and not cpu.is_gpu
    if not gpu_offload_supported():  # the portable CPU build tests run with
        assert devices == [cpu]


class _Fn:
    def __init__(self, impl: Any) -> None:
        self.impl, self.restype, self.argtypes = impl, None, None

    def __call__(self, *args: Any) -> Any:
        return self.impl(*args)


class _Lib:
    def __init__(self, **fns: Any) -> None:
        self.fns = fns

    def __getitem__(self, name: str) -> _Fn:
        if name not in self.fns:
            raise AttributeError(name)
        return _Fn(self.fns[name])


def _fake_llama(monkeypatch: pytest.MonkeyPatch, lib: _Lib) -> None:
    import engine.devices

    class Module:
        class llama_cpp:  # the attribute path llama_cpp.llama_cpp._lib
            _lib = lib
            _base_path = "."

        @staticmethod
        def llama_supports_gpu_offload() -> bool:
            raise RuntimeError("broken build")

    monkeypatch.setattr(engine.devices, "_load_llama", lambda: Module)
    monkeypatch.setattr(engine.devices.sys, "platform", "linux")


def test_a_build_missing_functions_lists_what_it_can(monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    names = {1: b"Vulkan0", 2: b"CPU"}
    _fake_llama(monkeypatch, _Lib(ggml_backend_dev_count=lambda: 2,
                                  ggml_backend_dev_get=lambda i: i + 1,
                                  ggml_backend_dev_name=lambda d: names[d]))
    caplog.set_level("INFO", "engine.devices")
    devices = list_devices()
    assert [(d.name, d.kind, d.backend, d.free_bytes) for d in devices] == [
        ("Vulkan0", "gpu", "Vulkan", 0), ("CPU", "cpu", "CPU", 0)]
    assert "ggml_backend_dev_memory" in caplog.text
    assert gpu_offload_supported() is False


def test_a_build_without_the_device_list_gives_none(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_llama(monkeypatch, _Lib())
    assert list_devices() == []

    def fail() -> int:
        raise OSError("no")

    _fake_llama(monkeypatch, _Lib(ggml_backend_dev_count=fail, ggml_backend_dev_get=id,
                                  ggml_backend_dev_name=id))
    assert list_devices() == []


def test_backend_names_from_device_names() -> None:
    assert [backend_from_name(n) for n in ("Vulkan0", "CUDA1", "MTL0", "CPU", "ROCm0")] == [
        "Vulkan", "CUDA", "Metal", "CPU", "ROCm"]


def test_importing_the_modules_stays_cheap() -> None:
    probe = ("import sys, engine.devices, engine.offload, engine.gguf; "
             "print(sorted(m for m in ('llama_cpp', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- on a Vulkan device

# A prompt whose greedy reply has no near-tie in its first 16 tokens: the CPU's top two
# logits differ by 0.43 or more at every step, well above the devices' rounding differences
# (0.2 at most measured on lavapipe). A prompt with a near-tie ("Write a short poem about
# rivers.": 0.004 at step 11) makes CPU and GPU pick different, equally good tokens.
PROMPT = ("<|im_start|>user\nWrite a Python function that returns the factorial of n."
          "<|im_end|>\n<|im_start|>assistant\n")
RUN = "PROMPT = " + repr(PROMPT) + r"""
import json, logging, sys, time
from pathlib import Path
import numpy as np

path, mode, n_ctx = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
log_lines = []
class Keep(logging.Handler):
    def emit(self, record):
        log_lines.append(record.getMessage())
logging.getLogger("mingjing.llama").addHandler(Keep())
logging.getLogger("mingjing.llama").setLevel(logging.DEBUG)

from engine.cpu_backend import ensure_loaded
from engine.devices import list_devices
from engine.gguf import read_model_info
from engine.offload import plan_offload
import llama_cpp

ensure_loaded()  # llama.cpp's log lines go to the handler above
out = {"devices": [d.name for d in list_devices()]}
info = read_model_info(path)
n_gpu_layers = 0
if mode != "cpu":
    device = next(d for d in list_devices() if d.is_gpu and d.backend == "Vulkan")
    out["device"] = [device.name, device.description, device.kind, device.free_bytes,
                     device.total_bytes]
    limit = None if mode == "full" else int(mode)
    plan = plan_offload(info, n_ctx, device, limit_bytes=limit)
    out["plan"] = [plan.n_gpu_layers, plan.layers_total, plan.device_bytes, plan.compute_bytes,
                   plan.describe()]
    n_gpu_layers = plan.n_gpu_layers
# read into memory rather than mapped: the timings then do not depend on the page cache
llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_batch=min(512, n_ctx),
                      n_gpu_layers=n_gpu_layers, swa_full=True, use_mmap=False,
                      verbose=False, n_threads=2, n_threads_batch=2)
if mode in ("cpu", "full"):
    prompt = llm.tokenize(PROMPT.encode(), add_bos=False, special=True)
    t0 = time.perf_counter()
    llm.eval(prompt)
    out["prompt_s"] = time.perf_counter() - t0
    def last_logits():
        row = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        return np.ctypeslib.as_array(row, shape=(llm.n_vocab(),)).astype(np.float64)
    logits = last_logits()
    top = np.argsort(-logits)[:5]
    out["top5"] = [[int(i), float(logits[i])] for i in top]
    tokens, margins = [], []
    t0 = time.perf_counter()
    for _ in range(16):
        logits = last_logits()
        first, second = np.argsort(-logits)[:2]
        tokens.append(int(first))
        margins.append(float(logits[first] - logits[second]))
        llm.eval([int(first)])
    out["decode_tok_s"] = 16 / (time.perf_counter() - t0)
    out["tokens"] = tokens
    out["margins"] = margins
    out["text"] = llm.detokenize(tokens).decode("utf-8", "replace")
out["log"] = [l for l in log_lines if "offloaded" in l or "buffer size" in l]
print(json.dumps(out))
"""


def _run(python: str, model: Path, mode: str, extra_env: dict[str, str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO), **extra_env}
    result = subprocess.run([python, "-c", RUN, str(model), mode, str(N_CTX)], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def _buffer_mib(log: list[str], what: str) -> float:
    pattern = re.compile(rf"Vulkan0 {what} buffer size = +([0-9.]+) MiB")
    values = [float(m.group(1)) for line in log if (m := pattern.search(line))]
    assert values, (what, log)
    return sum(values)  # a model with sliding-window layers has two KV caches


def test_the_plan_runs_on_a_vulkan_device(chat_model_path: Path) -> None:
    python = os.environ.get(VULKAN_PYTHON_ENV)
    if not python:
        pytest.skip(f"set {VULKAN_PYTHON_ENV} to a python whose llama_cpp has Vulkan "
                    "(and numpy, jinja2) to run the model on a Vulkan device")
    if not Path(python).exists():
        pytest.skip(f"{VULKAN_PYTHON_ENV}={python} does not exist")
    vk_env = {"GGML_VK_VISIBLE_DEVICES": os.environ.get("GGML_VK_VISIBLE_DEVICES", "0")}
    info = read_model_info(chat_model_path)

    gpu = _run(python, chat_model_path, "full", vk_env)
    cpu = _run(sys.executable, chat_model_path, "cpu", {})
    name, _description, kind, free, total = gpu["device"]
    assert name == "Vulkan0" and kind == "gpu" and free > 0 and total > 0
    n_gpu_layers, layers_total, _device_bytes, compute, describe = gpu["plan"]
    assert n_gpu_layers == layers_total == 25, describe
    assert any("offloaded 25/25 layers to GPU" in line for line in gpu["log"]), gpu["log"]
    # llama.cpp's own buffers against the plan: the blocks' weights (lavapipe keeps the
    # 138 MiB output matrix on the host: over its 128 MiB buffer cap), the whole KV cache,
    # a compute buffer within the allowance
    weights = _buffer_mib(gpu["log"], "model")
    blocks = sum(info.layer_bytes) / MIB
    assert blocks - 0.01 <= weights <= blocks + info.output_bytes / MIB + 0.01
    assert _buffer_mib(gpu["log"], "KV") == (info.kv_cache_bytes(N_CTX) or 0) / MIB
    assert _buffer_mib(gpu["log"], "compute") <= compute / MIB

    diverged = next((i for i, (a, b) in enumerate(zip(gpu["tokens"], cpu["tokens"], strict=True))
                     if a != b), None)
    assert diverged is None, (f"step {diverged}, CPU top-2 margin "
                              f"{cpu['margins'][diverged]:.3f}", gpu["text"], cpu["text"])
    gpu_top, cpu_top = dict(gpu["top5"]), dict(cpu["top5"])
    assert set(gpu_top) == set(cpu_top), (gpu["top5"], cpu["top5"])
    delta = max(abs(gpu_top[i] - cpu_top[i]) for i in cpu_top)
    assert delta < LOGIT_TOLERANCE, delta
    print(f"\n{describe}; max |dlogit| top-5 {delta:.3f}; decode CPU "
          f"{cpu['decode_tok_s']:.1f} tok/s, Vulkan {gpu['decode_tok_s']:.1f} tok/s; "
          f"{gpu['text']!r}")

    # a limit that leaves room for about half: llama.cpp offloads the output layer and the
    # last blocks, as planned
    half = plan_offload(info, N_CTX, Device(0, "Vulkan0", "", "gpu", "Vulkan", free, total))
    limit = (half.device_need[13] + half.device_need[14]) // 2 + DEFAULT_RESERVE_BYTES
    part = _run(python, chat_model_path, str(limit), vk_env)
    k = part["plan"][0]
    assert k == 13, part["plan"]
    assert any(f"offloaded {k}/25 layers to GPU" in line for line in part["log"])
    assert _buffer_mib(part["log"], "KV") == (k - 1) * (info.kv_cache_bytes(N_CTX) or 0) / 24 / MIB
    last_blocks = sum(info.layer_bytes[25 - k:]) / MIB
    weights = _buffer_mib(part["log"], "model")
    assert last_blocks - 0.01 <= weights <= last_blocks + info.output_bytes / MIB + 0.01
