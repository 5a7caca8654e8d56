"""Where a model runs (engine/placement.py): the device chosen per model or automatically,
the layers planned from the real built-in GGUFs' layer sizes, and a load that runs out of
device memory falling back to fewer layers. GPUs are described here as data (this machine
has none; tests/test_offload.py runs the real Vulkan device where a Vulkan build exists);
the model loads are real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import engine.runtime as runtime
from engine.devices import Device
from engine.gguf import read_model_info
from engine.placement import CPU_ONLY, Placement, choose
from engine.runtime import Engine
from engine.types import ChatMessage, FinishEvent, LoadParams, SamplingParams, TokenEvent

GIB = 1 << 30
CPU = Device(0, "CPU", "the processor", "cpu", "CPU", 16 * GIB, 32 * GIB)


def gpu(name: str = "Vulkan0", free: int = 8 * GIB, index: int = 0) -> Device:
    return Device(index, name, f"a GPU called {name}", "gpu", "Vulkan", free, 8 * GIB)


def test_without_a_gpu_the_model_stays_on_the_cpu(chat_model_path: Path) -> None:
    info = read_model_info(chat_model_path)
    placement = choose(info, 4096, LoadParams(n_gpu_layers=-1), [CPU])
    assert placement.gpu is None and placement.n_gpu_layers == 0 and not placement.notice
    assert placement.describe() == "CPU" and placement.where() == "CPU"
    # A device chosen for this model that is not there now: said in one line.
    named = choose(info, 4096, LoadParams(n_gpu_layers=-1, device="CUDA0"), [CPU])
    assert named.gpu is None and "CUDA0" in named.notice


def test_auto_takes_the_gpu_with_most_free_memory_and_all_layers_that_fit(
        chat_model_path: Path) -> None:
    info = read_model_info(chat_model_path)
    small, big = gpu("Vulkan0", 1 * GIB, 0), gpu("Vulkan1", 6 * GIB, 1)
    placement = choose(info, 4096, LoadParams(n_gpu_layers=-1), [small, big, CPU])
    assert placement.gpu == big and placement.ordinal == 1
    assert placement.plan is not None and placement.plan.full
    assert placement.n_gpu_layers == len(info.layer_bytes) + 1
    assert placement.where() == f"Vulkan1, {placement.n_gpu_layers}/{placement.n_gpu_layers} layers"
    # Chosen by name for this model; "cpu"; a fixed number of layers.
    assert choose(info, 4096, LoadParams(n_gpu_layers=-1, device="Vulkan0"),
                  [small, big, CPU]).gpu == small
    assert choose(info, 4096, LoadParams(n_gpu_layers=-1, device=CPU_ONLY),
                  [small, big, CPU]).gpu is None
    fixed = choose(info, 4096, LoadParams(n_gpu_layers=7), [big, CPU])
    assert fixed.n_gpu_layers == 7 and fixed.plan is not None
    assert fixed.plan.device_bytes < placement.plan.device_bytes
    assert choose(info, 4096, LoadParams(n_gpu_layers=0), [big, CPU]).gpu is None


def test_a_memory_limit_offloads_fewer_layers(chat_model_path: Path) -> None:
    info = read_model_info(chat_model_path)
    full = choose(info, 4096, LoadParams(n_gpu_layers=-1), [gpu()])
    assert full.plan is not None
    need = full.plan.device_need
    reserve = full.plan.free_bytes - full.plan.usable_bytes
    for k in (1, len(need) // 2, len(need) - 2):  # room for exactly k layers
        limited = choose(info, 4096, LoadParams(n_gpu_layers=-1,
                                                gpu_limit_bytes=need[k] + reserve), [gpu()])
        assert limited.plan is not None
        assert limited.n_gpu_layers == k < full.n_gpu_layers
        assert limited.plan.device_bytes == need[k] and limited.plan.reason
    # Less than the smallest step: nothing offloaded, and why.
    none = choose(info, 4096, LoadParams(n_gpu_layers=-1, gpu_limit_bytes=need[1] // 2),
                  [gpu()])
    assert none.n_gpu_layers == 0 and none.plan is not None and none.plan.reason


def test_fewer_layers_steps_down_to_the_cpu(chat_model_path: Path) -> None:
    info = read_model_info(chat_model_path)
    placement: Placement | None = choose(info, 4096, LoadParams(n_gpu_layers=-1), [gpu()])
    counts = []
    while placement is not None:
        counts.append(placement.n_gpu_layers)
        last = placement
        placement = placement.fewer()
    assert counts == sorted(counts, reverse=True) and counts[-1] == 0 and len(counts) >= 3
    assert "running on the CPU" in last.notice


def test_a_load_that_runs_out_of_device_memory_retries_with_fewer_layers(
        chat_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The load itself is real; the GPU and its out-of-memory failure above 12 layers are
    what this machine cannot produce, so they are given."""
    tried: list[int] = []
    real_open = runtime.open_llama

    def open_llama(llama_class: Any, path: Path, n_ctx: int, params: LoadParams,
                   placement: Placement | None = None) -> Any:
        layers = placement.n_gpu_layers if placement else 0
        tried.append(layers)
        if layers > 12:
            raise ValueError("Failed to load model from file (out of device memory)")
        return real_open(llama_class, path, n_ctx, params, Placement())

    monkeypatch.setattr(runtime, "open_llama", open_llama)
    monkeypatch.setattr(runtime, "choose", lambda info, n_ctx, params: choose(
        info, n_ctx, params, [gpu(), CPU]))
    engine = Engine.load(chat_model_path, LoadParams(n_ctx=1024, n_threads=2, n_gpu_layers=-1))
    try:
        assert tried[0] == 25 and tried[-1] <= 12 and tried == sorted(tried, reverse=True)
        assert engine.placement.n_gpu_layers == tried[-1]
        assert "ran out of memory" in engine.placement.notice
        plan = engine.plan([ChatMessage("user", "1+1=?")], reserve=4)
        finish = next(e for e in engine.stream(plan, SamplingParams(temperature=0,
                                                                    max_tokens=2))
                      if isinstance(e, FinishEvent))
        assert finish.stats.runs_on.startswith("Vulkan0, ")  # the stats say where it ran
    finally:
        engine.close()


def test_a_model_that_fails_on_the_cpu_too_says_why(
        tmp_path: Path, chat_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise ValueError("Failed to load model from file")

    monkeypatch.setattr(runtime, "open_llama", refuse)
    monkeypatch.setattr(runtime, "choose", lambda info, n_ctx, params: choose(
        info, n_ctx, params, [gpu(), CPU]))
    from engine.errors import ModelFileError

    with pytest.raises(ModelFileError, match="could not load"):
        Engine.load(chat_model_path, LoadParams(n_ctx=512, n_threads=1, n_gpu_layers=-1))


ENGINE_ON_VULKAN = """
import json, sys
from engine.runtime import Engine
from engine.types import ChatMessage, FinishEvent, LoadParams, SamplingParams, TokenEvent
path, limit = sys.argv[1], int(sys.argv[2])
engine = Engine.load(path, LoadParams(n_ctx=2048, n_threads=2, n_gpu_layers=-1,
                                      gpu_limit_bytes=limit or None))
plan = engine.plan([ChatMessage("user", sys.argv[3])], reserve=16)
tokens, runs_on = [], ""
for event in engine.stream(plan, SamplingParams(temperature=0, repeat_penalty=1.0,
                                                max_tokens=16)):
    if isinstance(event, TokenEvent):
        tokens.append(event.token_id)
    elif isinstance(event, FinishEvent):
        runs_on = event.stats.runs_on
print(json.dumps({"tokens": tokens, "runs_on": runs_on,
                  "layers": engine.placement.n_gpu_layers}))
"""
PROMPT = "Write a Python function that computes a factorial."
NEAR_TIE_LOGITS = 0.5  # CPU vs lavapipe logits differ by up to ~0.4 (tests/test_offload.py)


@pytest.mark.parametrize(("engine_fixture", "path_fixture", "prompt"),
                         [("qwen_engine", "chat_model_path", PROMPT),
                          ("completion_engine", "default_model_path",
                           "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday. "
                           "January, February, March,")])
def test_the_engine_places_the_model_on_a_vulkan_device(
        engine_fixture: str, path_fixture: str, prompt: str,
        request: pytest.FixtureRequest) -> None:
    """Engine.load with GPU layers on auto, in a Python whose llama.cpp has Vulkan (Mesa's
    software device here): every layer on Vulkan0, the same greedy tokens as the CPU; with a
    memory limit, about half the layers and still the same tokens. Both built-in models."""
    import json
    import os
    import subprocess

    from tests.test_offload import VULKAN_PYTHON_ENV

    python = os.environ.get(VULKAN_PYTHON_ENV)
    if not python or not Path(python).exists():
        pytest.skip(f"set {VULKAN_PYTHON_ENV} to a python whose llama_cpp has Vulkan")
    cpu_engine: Engine = request.getfixturevalue(engine_fixture)
    chat_model_path: Path = request.getfixturevalue(path_fixture)
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "GGML_VK_VISIBLE_DEVICES": "0", "PYTHONPATH": str(repo)}
    cpu_engine.reset_cache()
    plan = cpu_engine.plan([ChatMessage("user", prompt)], reserve=16)
    import math

    steps = [e for e in cpu_engine.stream(plan, SamplingParams(
        temperature=0, repeat_penalty=1.0, max_tokens=16), candidates=2)
        if isinstance(e, TokenEvent)]
    cpu = [e.token_id for e in steps]
    # Where the CPU's two best tokens are within rounding of each other, another device's
    # arithmetic may pick the other: tokens must agree up to the first such near tie.
    margins = [math.log(e.candidates[0].probability / e.candidates[1].probability)
               for e in steps]
    agree = next((i for i, m in enumerate(margins) if m < NEAR_TIE_LOGITS), len(cpu)) + 1
    from engine.offload import DEFAULT_RESERVE_BYTES, plan_offload

    room = plan_offload(read_model_info(chat_model_path), 2048, gpu(free=2 * GIB))
    total = room.layers_total
    half = room.device_need[total // 2] + DEFAULT_RESERVE_BYTES  # room for half the layers
    runs = {}
    for limit in (0, half):
        out = subprocess.run([python, "-c", ENGINE_ON_VULKAN, str(chat_model_path),
                              str(limit), prompt], env=env, capture_output=True, text=True,
                             timeout=900, check=True)
        runs[limit] = json.loads(out.stdout.strip().splitlines()[-1])
    assert runs[0]["layers"] == total
    assert runs[0]["runs_on"] == f"Vulkan0, {total}/{total} layers"
    assert runs[half]["layers"] == total // 2
    assert runs[half]["runs_on"] == f"Vulkan0, {total // 2}/{total} layers"
    assert agree >= 8, margins  # the prompt must leave something to compare
    assert runs[0]["tokens"][:agree] == cpu[:agree]
    assert runs[half]["tokens"][:agree] == cpu[:agree]


def test_the_gpu_memory_limit_setting_reaches_the_plan(chat_model_path: Path) -> None:
    from app.settings import Settings

    info = read_model_info(chat_model_path)
    unlimited = Settings().load_params()
    assert unlimited.gpu_limit_bytes is None and unlimited.n_gpu_layers == -1
    full = choose(info, 4096, unlimited, [gpu()])
    limit_mb = (full.plan.device_need[10] + (256 << 20)) >> 20 if full.plan else 0
    limited = Settings.from_dict({"gpu_limit_mb": limit_mb}).load_params()
    assert limited.gpu_limit_bytes == limit_mb << 20
    assert 0 < choose(info, 4096, limited, [gpu()]).n_gpu_layers < full.n_gpu_layers
    # A value no one could mean is reset, named, and the rest kept.
    odd = Settings.from_dict({"gpu_limit_mb": -5, "n_ctx": 2048})
    assert odd.gpu_limit_mb == 0 and odd.n_ctx == 2048
    assert any("GPU memory limit" in p for p in odd.problems)
