"""The compute devices llama.cpp can use in this process (the data of the device picker).

llama-cpp-python has no bindings for ggml's device API, so its C functions are called
through ctypes: ggml_backend_dev_count / _get / _name / _description / _memory / _type,
and ggml_backend_dev_backend_reg + ggml_backend_reg_name for the backend ("Vulkan",
"CUDA", "Metal", "CPU"). On Linux and macOS libllama's handle finds them (dlsym searches
its dependencies libggml and libggml-base); on Windows they live in ggml.dll and
ggml-base.dll. A build that lacks one of them (older or newer than the one this was written
against, 0.3.36) gives what can still be known, and the log says what was missing.

llama_cpp is imported inside the functions, after engine.cpu_backend.ensure_loaded(): the
bundle's build loads its CPU backend at run time (GGML_BACKEND_DL), so enumerating before
that would list no CPU device; and on a CPU below the baseline llama_cpp must never load.
A GPU backend only lists devices its driver shows: Mesa's software Vulkan device
(lavapipe) only with GGML_VK_VISIBLE_DEVICES set, for instance."""

from __future__ import annotations

import ctypes
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

Kind = Literal["cpu", "gpu", "igpu", "accel"]
# enum ggml_backend_dev_type
_KINDS: dict[int, Kind] = {0: "cpu", 1: "gpu", 2: "igpu", 3: "accel"}
# Device name prefixes whose registry is named differently ("MTL0" is Metal's device).
_BACKEND_BY_PREFIX = {"MTL": "Metal", "CUDA": "CUDA", "ROCm": "ROCm", "Vulkan": "Vulkan",
                      "SYCL": "SYCL", "CANN": "CANN", "OpenCL": "OpenCL", "RPC": "RPC",
                      "BLAS": "BLAS", "CPU": "CPU"}

_c = ctypes
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "ggml_backend_dev_count": (_c.c_size_t, []),
    "ggml_backend_dev_get": (_c.c_void_p, [_c.c_size_t]),
    "ggml_backend_dev_name": (_c.c_char_p, [_c.c_void_p]),
    "ggml_backend_dev_description": (_c.c_char_p, [_c.c_void_p]),
    "ggml_backend_dev_memory": (None, [_c.c_void_p, _c.POINTER(_c.c_size_t),
                                       _c.POINTER(_c.c_size_t)]),
    "ggml_backend_dev_type": (_c.c_int, [_c.c_void_p]),
    "ggml_backend_dev_backend_reg": (_c.c_void_p, [_c.c_void_p]),
    "ggml_backend_reg_name": (_c.c_char_p, [_c.c_void_p]),
}


@dataclass(frozen=True, slots=True)
class Device:
    """One device as ggml lists it."""

    index: int  # position in ggml's device list (ggml_backend_dev_get)
    name: str  # "Vulkan0", "CUDA0", "MTL0", "CPU"
    description: str  # "NVIDIA GeForce RTX 3060", "llvmpipe (LLVM 15.0.6, 256 bits)"
    kind: Kind
    backend: str  # the registry's name: "Vulkan", "CUDA", "Metal", "CPU"
    free_bytes: int  # 0 when the build cannot say
    total_bytes: int

    @property
    def is_gpu(self) -> bool:
        """Can hold offloaded layers (llama.cpp offloads to GPUs and integrated GPUs)."""
        return self.kind in ("gpu", "igpu")


def list_devices() -> list[Device]:
    """Every device this process's llama.cpp build can use, in ggml's order (GPUs first).
    Never raises: a missing function or a failing call gives a shorter answer and a log
    line; a CPU below the engine's baseline gives [] (llama.cpp cannot be loaded at all)."""
    llama_cpp = _load_llama()
    if llama_cpp is None:
        return []
    fns = _functions(llama_cpp)
    count, get, name = (fns.get(f"ggml_backend_dev_{n}") for n in ("count", "get", "name"))
    if count is None or get is None or name is None:
        log.warning("this llama.cpp build does not export ggml's device list "
                    "(ggml_backend_dev_count/_get/_name); no devices listed")
        return []
    try:
        n = int(count())
    except Exception as exc:  # a foreign function failing: report, do not crash the caller
        log.warning("ggml_backend_dev_count failed: %s", exc)
        return []
    devices = []
    for index in range(n):
        try:
            dev = get(index)
            if dev:
                devices.append(_describe(fns, index, dev, _text(name(dev))))
        except Exception as exc:
            log.warning("device %d could not be described: %s", index, exc)
    return devices


def gpu_offload_supported() -> bool:
    """Whether this build has a backend that can take layers (it may still see no GPU)."""
    llama_cpp = _load_llama()
    if llama_cpp is None:
        return False
    try:
        return bool(llama_cpp.llama_supports_gpu_offload())
    except Exception as exc:
        log.warning("llama_supports_gpu_offload failed: %s", exc)
        return False


def gpu_devices() -> list[Device]:
    """The devices that can hold offloaded layers, best (most free memory) first."""
    return sorted((d for d in list_devices() if d.is_gpu), key=lambda d: -d.free_bytes)


def backend_from_name(name: str) -> str:
    """The backend a device name implies when the registry cannot be asked: "Vulkan0" ->
    "Vulkan", "MTL0" -> "Metal", "CPU" -> "CPU"."""
    stem = re.sub(r"\d+$", "", name)
    for prefix, backend in _BACKEND_BY_PREFIX.items():
        if stem.lower().startswith(prefix.lower()):
            return backend
    return stem or "unknown"


# --------------------------------------------------------------------------------------------


def _load_llama() -> Any:
    """llama_cpp, with the CPU backend loaded first; None when it must not or cannot load."""
    from engine.cpu_features import CpuUnsupportedError

    try:
        from engine.cpu_backend import ensure_loaded

        ensure_loaded()
    except CpuUnsupportedError as exc:
        log.warning("no devices: %s", exc)
        return None
    except Exception as exc:  # no CPU variant works: GPU devices may still be listed
        log.warning("llama.cpp's CPU backend did not load: %s", exc)
    try:
        import llama_cpp
    except Exception as exc:
        log.warning("llama_cpp cannot be imported: %s", exc)
        return None
    return llama_cpp


def _libraries(llama_cpp: Any) -> list[Any]:
    libs: list[Any] = []
    if sys.platform == "win32":  # libllama does not re-export ggml's functions there
        base = Path(llama_cpp.llama_cpp._base_path)
        for dll in ("ggml.dll", "ggml-base.dll"):
            try:
                libs.append(ctypes.CDLL(str(base / dll)))
            except OSError as exc:
                log.info("%s not loadable: %s", dll, exc)
    lib = getattr(getattr(llama_cpp, "llama_cpp", None), "_lib", None)
    if lib is not None:
        libs.append(lib)
    return libs


def _functions(llama_cpp: Any) -> dict[str, Any]:
    """ctypes functions by name, each typed; missing ones left out (and logged once)."""
    libs = _libraries(llama_cpp)
    found: dict[str, Any] = {}
    for fn_name, (restype, argtypes) in _SIGNATURES.items():
        for lib in libs:
            try:
                fn = lib[fn_name]  # a fresh function object: llama_cpp's own are untouched
            except (AttributeError, OSError):
                continue
            fn.restype = restype
            fn.argtypes = argtypes
            found[fn_name] = fn
            break
    missing = sorted(set(_SIGNATURES) - set(found))
    if missing:
        log.info("llama.cpp build without %s", ", ".join(missing))
    return found


def _describe(fns: dict[str, Any], index: int, dev: int, name: str) -> Device:
    description = ""
    if (fn := fns.get("ggml_backend_dev_description")) is not None:
        description = _text(fn(dev))
    kind: Kind | None = None
    if (fn := fns.get("ggml_backend_dev_type")) is not None:
        kind = _KINDS.get(int(fn(dev)))
    if kind is None:  # unknown (newer) type or no function: guess from the name
        kind = "cpu" if name.upper().startswith("CPU") else "gpu"
    free = total = 0
    if (fn := fns.get("ggml_backend_dev_memory")) is not None:
        free_c, total_c = ctypes.c_size_t(0), ctypes.c_size_t(0)
        fn(dev, ctypes.byref(free_c), ctypes.byref(total_c))
        free, total = int(free_c.value), int(total_c.value)
    backend = ""
    reg_of, reg_name = fns.get("ggml_backend_dev_backend_reg"), fns.get("ggml_backend_reg_name")
    if reg_of is not None and reg_name is not None:
        reg = reg_of(dev)
        if reg:
            backend = _text(reg_name(reg))
    return Device(index=index, name=name, description=description, kind=kind,
                  backend=backend or backend_from_name(name), free_bytes=free,
                  total_bytes=total)


def _text(value: bytes | None) -> str:
    return value.decode("utf-8", "replace") if value else ""
