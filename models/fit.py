"""Will a model fit this computer? Before anything downloads: the weights (the GGUF file,
memory-mapped and read whole while generating), the KV cache for the chosen context, and
llama.cpp's working buffers, against the memory installed and the memory free now (and a
GPU's free memory when layers go there).

The verdict is "fits" (room to spare in what is free now), "tight" (fits in what is
installed, but other programs would have to give memory back, or little is left over) or
"too big" (more than the memory installed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Verdict = Literal["fits", "tight", "too_big"]

# llama.cpp's compute buffers and the runtime beside the weights and the cache: measured
# on the built-in models (tests/test_fit.py) as the resident memory a load and a reply add,
# minus weights and cache: 85 MB (Gemma 3 270M, 253 MB file) and 106 MB (Qwen2.5 0.5B,
# 491 MB), the same at 2,048 and 8,192 tokens of context.
OVERHEAD_BYTES = 64 << 20
OVERHEAD_FRACTION = 0.08  # grows with the model (larger graphs, vocabulary tables)
HEADROOM = 0.85  # of free memory a model may take and still "fit"
SYSTEM_RESERVE = 0.90  # of installed memory beyond which it cannot run at all


@dataclass(frozen=True, slots=True)
class Memory:
    total: int  # bytes installed
    available: int  # bytes free now (including what the OS would give back from caches)
    gpu_free: int | None = None  # bytes free on the GPU llama.cpp uses, when there is one


@dataclass(frozen=True, slots=True)
class Fit:
    verdict: Verdict
    need: int  # bytes in all
    weights: int
    kv_cache: int
    overhead: int
    memory: Memory
    n_ctx: int

    def explain(self) -> str:
        """The numbers, one line: for a tooltip or `models search`."""
        gib = 1 << 30
        return (f"needs about {self.need / gib:.1f} GiB (weights {self.weights / gib:.1f} + "
                f"KV cache {self.kv_cache / gib:.2f} for {self.n_ctx:,} tokens + "
                f"{self.overhead / gib:.2f} working memory); "
                f"{self.memory.available / gib:.1f} GiB free of "
                f"{self.memory.total / gib:.1f} GiB"
                + (f"; GPU: {self.memory.gpu_free / gib:.1f} GiB free"
                   if self.memory.gpu_free is not None else ""))


def kv_bytes_per_token(n_layers: int, n_kv_heads: int, key_dim: int,
                       value_dim: int | None = None) -> int:
    """An f16 K and V cache's bytes per token of context (what ModelInfo.kv_cache_bytes
    computes from a GGUF's header)."""
    return 2 * n_layers * n_kv_heads * (key_dim + (value_dim or key_dim))


def memory_need(weights: int, kv_per_token: int, n_ctx: int) -> tuple[int, int, int]:
    """(KV cache, overhead, total) bytes for a model of `weights` bytes at `n_ctx`."""
    kv = kv_per_token * n_ctx
    overhead = OVERHEAD_BYTES + int(OVERHEAD_FRACTION * weights)
    return kv, overhead, weights + kv + overhead


def check_fit(weights: int, kv_per_token: int, n_ctx: int, memory: Memory | None = None, *,
              gpu_layers_share: float = 0.0) -> Fit:
    """The verdict for a model of `weights` bytes at `n_ctx` tokens. `gpu_layers_share`: the
    part of the weights and cache offloaded to the GPU (0: all on the CPU)."""
    memory = memory or system_memory()
    kv, overhead, need = memory_need(weights, kv_per_token, n_ctx)
    on_gpu = int((weights + kv) * gpu_layers_share) if memory.gpu_free is not None else 0
    in_ram = need - on_gpu
    verdict: Verdict
    if in_ram > memory.total * SYSTEM_RESERVE or (
            memory.gpu_free is not None and on_gpu > memory.gpu_free):
        verdict = "too_big"
    elif in_ram <= memory.available * HEADROOM:
        verdict = "fits"
    else:
        verdict = "tight"
    return Fit(verdict, need, weights, kv, overhead, memory, n_ctx)


def system_memory(*, gpu: bool = False) -> Memory:
    """This computer's memory now (psutil: Linux, Windows and macOS alike), and with `gpu`
    the free memory of the GPU llama.cpp would use, when one can be read."""
    import psutil

    vm = psutil.virtual_memory()
    return Memory(total=int(vm.total), available=int(vm.available),
                  gpu_free=gpu_free_memory() if gpu else None)


def gpu_free_memory() -> int | None:
    """Free memory of the first GPU: NVIDIA through nvidia-smi (it ships with the driver),
    AMD through the amdgpu driver's counters in sysfs (Linux) or rocm-smi; None when there is
    none, or nothing answers within 2 s. Apple's GPUs share the system memory, which the fit
    check reads anyway."""
    for probe in (_nvidia_free, _amdgpu_sysfs_free, _rocm_smi_free):
        free = probe()
        if free is not None:
            return free
    return None


DRM_ROOT = Path("/sys/class/drm")  # the kernel's display devices (amdgpu counters)


def _run_tool(name: str, *args: str) -> str | None:
    import shutil
    import subprocess

    tool = shutil.which(name)
    if tool is None:
        return None
    try:
        return subprocess.run([tool, *args], capture_output=True, text=True, timeout=2.0,
                              check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _nvidia_free() -> int | None:
    out = _run_tool("nvidia-smi", "--query-gpu=memory.free", "--format=csv,noheader,nounits")
    try:
        return int(out.split()[0]) << 20 if out else None  # MiB
    except (ValueError, IndexError):
        return None


def _amdgpu_sysfs_free() -> int | None:
    try:
        cards = sorted(DRM_ROOT.glob("card[0-9]*/device/mem_info_vram_total"))
        for total_file in cards:
            total = int(total_file.read_text().strip())
            used = int((total_file.parent / "mem_info_vram_used").read_text().strip())
            if total > 0:
                return max(0, total - used)
    except (OSError, ValueError):
        return None
    return None


def _rocm_smi_free() -> int | None:
    import json

    out = _run_tool("rocm-smi", "--showmeminfo", "vram", "--json")
    try:
        cards = json.loads(out) if out else {}
        for card in cards.values():
            total = int(card["VRAM Total Memory (B)"])
            used = int(card["VRAM Total Used Memory (B)"])
            return max(0, total - used)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


def offloaded_share(n_gpu_layers: int) -> float:
    """The part of a model on the GPU for Settings' GPU layers: all (-1 or a number past any
    model's layer count, 999 as people write it) or, for a partial count, counted on the CPU
    side (a conservative reading of RAM)."""
    return 1.0 if n_gpu_layers < 0 or n_gpu_layers >= 200 else 0.0
