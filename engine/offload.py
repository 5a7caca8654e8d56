"""How many of a model's layers to offload to a GPU: the plan before a load, and the
smaller plans to retry with when the device runs out of memory anyway.

How llama.cpp (the build llama-cpp-python 0.3.36 carries) places a model, as its load log
shows ("layer N assigned to device", "offloaded K/N+1 layers to GPU"):
- it counts the repeating blocks plus the output layer: n_gpu_layers = n_layer + 1 offloads
  everything ("offloaded 25/25 layers" for Qwen2.5 0.5B's 24 blocks);
- the output layer goes first: n_gpu_layers = 1 offloads the output layer only, K offloads
  it and the last K - 1 blocks;
- the token embedding (the input layer) stays in host memory; a model without output.weight
  reads the embedding for its output too, and llama.cpp's loader gives the offloaded output
  layer its own copy (the TENSOR_DUPLICATED tensor is placed with the output layer), so
  ModelInfo.output_bytes counts the embedding for such a tied model;
- each offloaded block keeps its KV cache on the device (offload_kqv, the default);
- the device also gets a compute buffer (see `compute_bytes`).

Mesa's software Vulkan device (lavapipe) caps a buffer at 128 MiB (maxStorageBufferRange):
there llama.cpp keeps any larger tensor (both built-in models' output matrices: Qwen's
138 MiB output.weight, Gemma's 170 MiB tied embedding) and any larger attention-score
matrix in host memory, so a plan over-estimates what lavapipe really takes (and the tied
copy cannot be seen there). Real GPUs take buffers of gigabytes.

Older llama.cpp builds counted the output layer last (K <= n_layer offloaded the last K
blocks only). Under such a build a partial plan is pessimistic where the output layer is
larger than a block (small models) and up to the difference optimistic where it is smaller;
the out-of-memory fallback (`fewer_layers`) covers that."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.devices import Device
    from engine.gguf import ModelInfo

MIB = 1 << 20
GIB = 1 << 30
# Kept free on the device beyond the plan: the driver's and the backend's own allocations
# that free memory does not show yet, fragmentation, another program growing a little.
DEFAULT_RESERVE_BYTES = 256 * MIB
# The compute buffer beside the attention scores and the logits: activations of one
# micro-batch and the graph's small tensors (measured 6-10 MiB on the built-in models).
COMPUTE_FIXED_BYTES = 16 * MIB
DEFAULT_N_UBATCH = 512  # llama.cpp's default micro-batch, which the engine keeps
# The fallback after an out-of-memory load: these fractions of all layers, then none.
FALLBACK_FRACTIONS = (0.75, 0.5, 0.25)


@dataclass(frozen=True, slots=True)
class OffloadPlan:
    n_gpu_layers: int  # llama.cpp's n_gpu_layers: blocks offloaded + 1 for the output layer
    layers_total: int  # n_layer + 1
    device_name: str | None  # "Vulkan0"; None when there is no device to offload to
    device_bytes: int  # weights, KV cache and compute buffer on the device
    host_bytes: int  # weights and KV cache left in host memory (working buffers not counted)
    free_bytes: int  # the device's free memory when planned (0: no device)
    usable_bytes: int  # what the plan allowed itself: min(free, limit) - reserve
    compute_bytes: int  # the compute-buffer allowance inside device_bytes
    reason: str = ""  # why not every layer is offloaded ("" when all are)
    # Device and host bytes for every n_gpu_layers from 0 to layers_total, so that a retry
    # with fewer layers needs no second look at the model.
    device_need: tuple[int, ...] = ()
    host_need: tuple[int, ...] = ()

    @property
    def full(self) -> bool:
        return self.n_gpu_layers >= self.layers_total > 0

    def describe(self) -> str:
        """One line, e.g. "24/25 layers on Vulkan0 (1.2 GiB of 2.0 GiB free); 0.3 GiB on
        the CPU"."""
        host = f"{_gib(self.host_bytes)} on the CPU"
        if self.n_gpu_layers <= 0 or self.device_name is None:
            line = f"0/{self.layers_total} layers offloaded; {host}"
            return f"{line} ({self.reason})" if self.reason else line
        line = (f"{self.n_gpu_layers}/{self.layers_total} layers on {self.device_name} "
                f"({_gib(self.device_bytes)} of {_gib(self.free_bytes)} free); {host}")
        return f"{line} ({self.reason})" if self.reason else line


def compute_bytes(info: ModelInfo, n_ctx: int, *, output_on_device: bool = True,
                  n_ubatch: int = DEFAULT_N_UBATCH) -> int:
    """The device's compute buffer, as the engine runs llama.cpp (no flash attention,
    micro-batches of min(512, n_ctx) tokens):

    - attention scores: one layer's f32 K*Q product for the whole window,
      n_ctx * n_ubatch * 4 bytes per head, plus the f32 masks of the same shape (one, two
      for a model with sliding-window layers) and one more of those for the softmax's
      working copy;
    - or, when larger and the output layer is on the device, the f32 logits of a
      micro-batch, n_ubatch * n_vocab * 4 (the buffer is reused, so the larger counts);
    - plus COMPUTE_FIXED_BYTES.

    Measured on lavapipe ("Vulkan0 compute buffer size", full and partial offload, its
    output matrices stay on the host there): Qwen2.5-Coder 0.5B 65.8 / 69.3 MiB at 2,048
    tokens (this gives 80.0); Gemma 3 270M 33.5 / 34.9 MiB at 2,048 (44.0) and 105.5 /
    113.2 MiB at 8,192 (128.0). Larger score matrices than lavapipe's 128 MiB buffer cap
    run on the host there, so the figures at longer contexts are lower than a real GPU's."""
    if n_ctx <= 0:
        return 0
    n_ub = max(1, min(n_ubatch, n_ctx))
    masks = 2 if info.sliding_window else 1
    attention = n_ctx * n_ub * 4 * (_head_count(info) + masks + 1)
    logits = n_ub * _vocab_size(info) * 4 if output_on_device else 0
    return COMPUTE_FIXED_BYTES + max(attention, logits)


def plan_offload(info: ModelInfo, n_ctx: int, device: Device | None, *,
                 limit_bytes: int | None = None,
                 reserve_bytes: int = DEFAULT_RESERVE_BYTES,
                 n_ubatch: int = DEFAULT_N_UBATCH) -> OffloadPlan:
    """The most layers of `info` at `n_ctx` tokens that fit `device`: all of them when they
    fit, else as many as fit, else none (the plan's reason says why). `limit_bytes` caps
    the device memory the model may take (a setting); `reserve_bytes` stays free."""
    n_layer = len(info.layer_bytes)
    total_layers = n_layer + 1
    device_need, host_need = _needs(info, n_ctx, n_ubatch)
    free = (device.free_bytes or device.total_bytes) if device is not None else 0
    cap = free if limit_bytes is None else min(free, max(0, limit_bytes))
    usable = max(0, cap - max(0, reserve_bytes))

    def plan(n: int, reason: str) -> OffloadPlan:
        return OffloadPlan(
            n_gpu_layers=n, layers_total=total_layers,
            device_name=device.name if device is not None else None,
            device_bytes=device_need[n], host_bytes=host_need[n], free_bytes=free,
            usable_bytes=usable, compute_bytes=compute_bytes(info, n_ctx, n_ubatch=n_ubatch),
            reason=reason, device_need=device_need, host_need=host_need)

    if n_layer == 0:
        return plan(0, "the model file names no repeating layers (blk.N)")
    if device is None:
        return plan(0, "no GPU")
    if not device.is_gpu:
        return plan(0, f"{device.name} is a {device.kind.upper()} device, not a GPU")
    if free <= 0:
        return plan(0, f"{device.name} reports no free memory")
    fits = [n for n in range(total_layers + 1) if device_need[n] <= usable]
    best = max(fits)  # device_need[0] == 0, so 0 always fits
    if best == total_layers:
        return plan(best, "")
    room = (f"{_gib(usable)} usable: "
            + (f"a limit of {_gib(limit_bytes)}" if limit_bytes is not None and limit_bytes < free
               else f"{_gib(free)} free")
            + f" less {_gib(reserve_bytes)} kept free")
    if best == 0:
        return plan(0, f"the output layer alone needs {_gib(device_need[1])}; {room}")
    return plan(best, f"all {total_layers} would need {_gib(device_need[total_layers])}; {room}")


def fewer_layers(plan: OffloadPlan) -> OffloadPlan | None:
    """The next, smaller attempt after a load with `plan` ran out of device memory: 3/4 of
    all layers, then 1/2, then 1/4, then none (each below the failed count); None after
    0 layers. The loader retries with each until one loads."""
    if plan.n_gpu_layers <= 0:
        return None
    steps = [int(plan.layers_total * f) for f in FALLBACK_FRACTIONS]
    n = next((s for s in steps if 0 < s < plan.n_gpu_layers), 0)
    device = plan.device_need[n] if len(plan.device_need) > n else 0
    host = plan.host_need[n] if len(plan.host_need) > n else plan.host_bytes
    return replace(plan, n_gpu_layers=n, device_bytes=device, host_bytes=host,
                   reason=f"{plan.n_gpu_layers} layers ran out of device memory")


# --------------------------------------------------------------------------------------------


def _needs(info: ModelInfo, n_ctx: int, n_ubatch: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Device and host bytes for each n_gpu_layers from 0 to n_layer + 1."""
    blocks = info.layer_bytes
    n_layer = len(blocks)
    kv_total = info.kv_cache_bytes(n_ctx) or 0
    kv_layer = kv_total // n_layer if n_layer else 0
    tied = info.embedding_bytes if info.output_tied else 0
    # In host memory whatever is offloaded: the token embedding and unplaced tensors.
    host_always = info.embedding_bytes + info.other_bytes
    output_host = info.output_bytes - tied  # the tied embedding is already counted above
    compute = compute_bytes(info, n_ctx, n_ubatch=n_ubatch)
    device = [0]
    host = [host_always + sum(blocks) + output_host + kv_layer * n_layer]
    on_device = info.output_bytes
    for n in range(1, n_layer + 2):
        k = n - 1  # blocks offloaded: the last k
        if k:
            on_device += blocks[n_layer - k]
        device.append(on_device + kv_layer * k + compute)
        host.append(host_always + sum(blocks[: n_layer - k]) + kv_layer * (n_layer - k))
    return tuple(device), tuple(host)


def _head_count(info: ModelInfo) -> int:
    if info.head_count:
        return info.head_count
    value = info.metadata.get(info.architecture + ".attention.head_count")
    if isinstance(value, list):  # one count per layer
        return max((v for v in value if isinstance(v, int)), default=1)
    return 1


def _vocab_size(info: ModelInfo) -> int:
    if info.vocab_size:
        return info.vocab_size
    value = info.metadata.get(info.architecture + ".vocab_size")
    return value if isinstance(value, int) and value > 0 else 0


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB // 10 else f"{n / MIB:.0f} MiB"
