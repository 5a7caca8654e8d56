"""Where a model runs: the device (chosen per model, or the GPU with the most free memory),
how many layers go there (engine/offload.py plans it from the file's layer sizes, the KV
cache and the device's free memory, unless the user fixed a number), and the smaller
placements a load falls back to when the device runs out of memory anyway."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from engine.offload import OffloadPlan, fewer_layers, plan_offload

if TYPE_CHECKING:
    from engine.devices import Device
    from engine.gguf import ModelInfo
    from engine.types import LoadParams

log = logging.getLogger(__name__)

AUTO = "auto"  # LoadParams.device: the GPU with the most free memory, if any
CPU_ONLY = "cpu"


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one load puts the model. `gpu` is None for the CPU alone."""

    gpu: Device | None = None
    ordinal: int = 0  # the GPU's position among the GPUs llama.cpp numbers (main_gpu)
    plan: OffloadPlan | None = None
    notice: str = ""  # one line for the user: a choice that could not be honoured

    @property
    def n_gpu_layers(self) -> int:
        return self.plan.n_gpu_layers if self.gpu is not None and self.plan else 0

    def describe(self) -> str:
        """"CPU" or the plan in one line ("25/25 layers on Vulkan0 (...)")."""
        return self.plan.describe() if self.plan and self.n_gpu_layers > 0 else "CPU"

    def where(self) -> str:
        """Short, for the stats: "CPU" or "Vulkan0, 25/25 layers"."""
        if self.gpu is None or self.plan is None or self.n_gpu_layers <= 0:
            return "CPU"
        return f"{self.gpu.name}, {self.n_gpu_layers}/{self.plan.layers_total} layers"

    def fewer(self) -> Placement | None:
        """The next attempt after this one ran out of device memory; None after the CPU."""
        if self.gpu is None or self.plan is None or self.n_gpu_layers <= 0:
            return None
        smaller = fewer_layers(self.plan)
        if smaller is None:
            return None
        notice = (f"{self.gpu.name} ran out of memory for {self.plan.n_gpu_layers} layers; "
                  + (f"{smaller.n_gpu_layers} of {smaller.layers_total} offloaded instead"
                     if smaller.n_gpu_layers > 0 else "running on the CPU instead"))
        return replace(self, plan=smaller, notice=notice)


def choose(info: ModelInfo, n_ctx: int, params: LoadParams,
           devices: list[Device] | None = None) -> Placement:
    """The placement for a load with `params` (n_gpu_layers: 0 the CPU alone, -1 as many
    layers as fit, N exactly N; device: AUTO, CPU_ONLY or a device name such as
    "Vulkan0"). `devices`: as engine.devices.list_devices() gives them (listed when None)."""
    if params.vocab_only or params.n_gpu_layers == 0 or params.device == CPU_ONLY:
        return Placement()
    if devices is None:
        from engine.devices import list_devices

        devices = list_devices()
    gpus = [d for d in devices if d.is_gpu]
    if not gpus:
        notice = (f"{params.device} is not available: running on the CPU"
                  if params.device not in (AUTO, "") else "")
        return Placement(notice=notice)
    best = max(gpus, key=lambda d: d.free_bytes)
    gpu = next((d for d in gpus if d.name == params.device), None)
    notice = ""
    if gpu is None:
        if params.device not in (AUTO, ""):
            notice = f"{params.device} is not available: using {best.name}"
        gpu = best
    plan = plan_offload(info, n_ctx, gpu, limit_bytes=params.gpu_limit_bytes)
    if params.n_gpu_layers > 0:  # the user's number, within the model's layers
        n = min(params.n_gpu_layers, plan.layers_total)
        plan = replace(plan, n_gpu_layers=n, device_bytes=plan.device_need[n],
                       host_bytes=plan.host_need[n], reason="set in Settings")
    elif plan.reason:
        log.info("offload plan for %s: %s", info.name, plan.describe())
    return Placement(gpu, gpus.index(gpu), plan, notice)
