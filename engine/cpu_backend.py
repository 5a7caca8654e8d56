"""Which llama.cpp CPU code this process runs: checked before loading, proven by a probe.

Two kinds of llama-cpp-python build reach this module (packaging/llama_wheel.py):
- the portable one (development, tests): one CPU backend for the AVX2 baseline, linked in;
- the bundle's multi-variant one (GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS): no CPU backend
  is linked in, one `libggml-cpu-<variant>` per instruction-set level sits in llama_cpp/lib
  and this module loads one of them before the first model.

A CPU can list an instruction set that the process still cannot execute (a hypervisor that
reports AMX but faults on it: llama.cpp issues #28328, #28756). ggml's own chooser trusts
CPUID, so the variant is chosen here instead: the candidates are the shipped variants this
CPU supports (by CPUID, checked in this process), best first; each is proven in a child
process that loads it and evaluates a few tokens of a real model, and a variant that crashes
its probe is skipped. The choice is remembered per CPU and per set of shipped libraries in a
small JSON file, so only the first launch pays for the probe (about a second).

The GPU variant of the installers (profile bundle-vulkan) also ships a GPU backend as a
loadable library (libggml-vulkan). It is loaded after the CPU variant, once a child process
has loaded it too: a missing Vulkan loader or a driver that crashes while listing its
devices costs that child, and the app runs on the CPU with the reason logged and shown by
`mingjing model devices`. The outcome is remembered per set of libraries and installed
drivers; MINGJING_NO_GPU=1 leaves GPU backends out.

Everything here runs before llama_cpp is imported: a CPU below the baseline gets a one-line
CpuUnsupportedError instead of dying with SIGILL."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.cpu_features import BASELINE, CpuFeatures, check_baseline, read_cpu_features
from engine.cpu_probe import EXIT_GPU_REFUSED, GPU_PROBE_FLAG
from engine.errors import EngineError

log = logging.getLogger(__name__)
llama_log = logging.getLogger("mingjing.llama")

_HASWELL = ("SSE42", "AVX", "F16C", "FMA", "AVX2", "BMI2")
_AVX512 = ("AVX512F", "AVX512CD", "AVX512VL", "AVX512DQ", "AVX512BW")
# What each of llama.cpp's x86 CPU variants needs (ggml/src/CMakeLists.txt,
# GGML_CPU_ALL_VARIANTS; ggml-cpu/arch/x86/cpu-feats.cpp checks the same at load time).
VARIANT_REQUIRES: dict[str, tuple[str, ...]] = {
    "haswell": _HASWELL,
    "alderlake": (*_HASWELL, "AVX_VNNI"),
    "skylakex": (*_HASWELL, *_AVX512),
    "cannonlake": (*_HASWELL, *_AVX512, "AVX512_VBMI"),
    "cascadelake": (*_HASWELL, *_AVX512, "AVX512_VNNI"),
    "icelake": (*_HASWELL, *_AVX512, "AVX512_VBMI", "AVX512_VNNI"),
    "cooperlake": (*_HASWELL, *_AVX512, "AVX512_VNNI", "AVX512_BF16"),
    "zen4": (*_HASWELL, *_AVX512, "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16"),
    "sapphirerapids": (*_HASWELL, *_AVX512, "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16",
                       "AMX_TILE", "AMX_INT8"),
}
# The order in which supported variants are tried, best first. Measured with
# bench/cpu_variants.py (prompt evaluation and decode, same model, same run).
PREFERENCE = ("sapphirerapids", "zen4", "cooperlake", "icelake", "cascadelake", "cannonlake",
              "skylakex", "alderlake", "haswell")
PROBE_FLAG = "--mingjing-cpu-probe"  # argv[1] of a frozen app's probe child (app/main.py)
PROBE_TIMEOUT_S = 300.0
_VARIANT_FILE = re.compile(r"^(?:lib)?ggml-cpu-([A-Za-z0-9_.]+)\.(?:so|dll|dylib)$")
_GPU_FILE = re.compile(r"^(?:lib)?ggml-(vulkan|cuda|metal)\.(?:so|dll|dylib)$")
NO_GPU_ENV = "MINGJING_NO_GPU"
# Where Vulkan drivers announce themselves (Linux): a driver installed later is probed again.
_VULKAN_ICD_DIRS = ("/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d")


@dataclass(frozen=True, slots=True)
class EngineBuild:
    """What the engine runs on, for `mingjing model info` and the concept panel."""

    variant: str | None  # the CPU variant loaded; None for a build with one linked-in backend
    features: tuple[str, ...]  # the instruction sets llama.cpp's CPU code uses ("AVX2", ...)
    system_info: str  # llama_print_system_info()
    cpu: str  # the CPU's name as it reports it
    rejected: dict[str, str] = field(default_factory=dict)  # variant -> why it was skipped
    gpu_backends: tuple[str, ...] = ()  # GPU backend libraries loaded ("vulkan")
    gpu_rejected: dict[str, str] = field(default_factory=dict)  # GPU backend -> why not

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "features": list(self.features),
                "system_info": self.system_info, "cpu": self.cpu,
                "rejected": dict(self.rejected), "gpu_backends": list(self.gpu_backends),
                "gpu_rejected": dict(self.gpu_rejected)}


@dataclass
class _Config:
    state_file: Path | None = None
    probe_model: Callable[[], Path | None] | None = None


_config = _Config()
_lock = threading.Lock()
_build: EngineBuild | None = None
_log_sink: Any = None


def configure(*, state_file: Path | None = None,
              probe_model: Callable[[], Path | None] | None = None) -> None:
    """Where the choice is remembered, and which model file the probe evaluates (the
    built-in one: its quantization types reach the kernels that matter)."""
    _config.state_file = state_file
    _config.probe_model = probe_model


def variant_files(lib_dir: Path) -> dict[str, Path]:
    """The CPU variant libraries shipped in `lib_dir`, by variant name."""
    return _libraries(lib_dir, _VARIANT_FILE)


def gpu_backend_files(lib_dir: Path) -> dict[str, Path]:
    """The GPU backend libraries shipped in `lib_dir` (a GGML_BACKEND_DL build), by backend."""
    return _libraries(lib_dir, _GPU_FILE)


def _libraries(lib_dir: Path, pattern: re.Pattern[str]) -> dict[str, Path]:
    """The files of `lib_dir` whose names match `pattern`, by its first group."""
    found: dict[str, Path] = {}
    try:
        entries = sorted(lib_dir.iterdir())
    except OSError:
        return found
    for entry in entries:
        match = pattern.match(entry.name)
        if match:
            found[match.group(1)] = entry
    return found


def candidates(shipped: dict[str, Path], cpu: CpuFeatures | None) -> list[str]:
    """Shipped variants this CPU supports, in order of preference."""
    ranked = [v for v in PREFERENCE if v in shipped]
    if cpu is None:
        return ranked
    return [v for v in ranked if cpu.has(*VARIANT_REQUIRES[v])]


def probe_command() -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable, PROBE_FLAG]
    return [sys.executable, "-m", "engine.cpu_probe"]


def _state_key(cpu: CpuFeatures | None, shipped: dict[str, Path]) -> str:
    parts = [cpu.identity if cpu else "?"]
    for name, path in sorted(shipped.items()):
        try:
            stat = path.stat()
            parts.append(f"{name}:{stat.st_size}:{int(stat.st_mtime)}")
        except OSError:
            parts.append(f"{name}:?")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _read_raw_state() -> dict[str, Any]:
    path = _config.state_file
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_state(key: str) -> dict[str, Any] | None:
    data = _read_raw_state()
    if data.get("key") == key and isinstance(data.get("variant"), str):
        return data
    return None


def _write_state(data: dict[str, Any]) -> None:
    path = _config.state_file
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # only costs a probe next time
        log.warning("could not remember the CPU variant in %s: %s", path, exc)


def probe(variant: Path, model: Path | None, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Run `variant` in a child process on a few tokens of `model`. None when it worked,
    else why not (one line)."""
    return _run_probe([*probe_command(), str(variant), str(model) if model else ""],
                      variant.name, timeout)


def probe_gpu(variant: Path, gpu: Path, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Load the CPU `variant` and the GPU backend `gpu` in a child process, which lists the
    GPU's devices. None when it worked, else why not (one line)."""
    return _run_probe([*probe_command(), str(variant), "", GPU_PROBE_FLAG, str(gpu)],
                      gpu.name, timeout)


def _run_probe(command: list[str], name: str, timeout: float) -> str | None:
    t0 = time.perf_counter()
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                errors="replace")
    except subprocess.TimeoutExpired:
        return f"the probe did not finish within {timeout:.0f} s"
    except OSError as exc:
        return f"the probe could not start: {exc}"
    log.info("probe of %s: exit %s in %.2f s", name, result.returncode,
             time.perf_counter() - t0)
    if result.returncode == 0 and '"ok": true' in result.stdout:
        return None
    return _describe_exit(result.returncode, result.stdout + result.stderr)


def _describe_exit(code: int, output: str) -> str:
    signals = {-4: "SIGILL, an instruction the CPU refused", -11: "SIGSEGV", -6: "SIGABRT",
               -7: "SIGBUS", 0xC000001D: "an illegal instruction",
               -1073741795: "an illegal instruction"}
    if code in signals:
        return f"crashed ({signals[code]})"
    if code == 3:
        return "not supported by this CPU"
    last = next((line for line in reversed(output.splitlines()) if line.strip()), "")
    if code == EXIT_GPU_REFUSED:
        return f"does not load here ({last[:200] or 'its loader or driver is missing'})"
    return f"failed (exit {code}{': ' + last[:200] if last else ''})"


def _load_variant(llama_cpp: Any, path: Path) -> None:
    lib = ggml_library(llama_cpp)
    reg = lib.ggml_backend_load(str(path).encode())
    if not reg:
        raise EngineError(f"llama.cpp refused its CPU code {path.name} on this machine")


def ggml_library(llama_cpp: Any) -> Any:
    """ctypes handle for ggml's registry functions: the copy libllama itself uses (a Linux
    wheel holds libggml.so and libggml.so.0 as two files; loading the other one would make
    a second, separate registry)."""
    import ctypes

    if sys.platform == "win32":
        lib: Any = ctypes.CDLL(str(lib_dir(llama_cpp) / "ggml.dll"))
    else:
        lib = llama_cpp.llama_cpp._lib  # dlsym searches libllama's dependencies too
    lib.ggml_backend_load.restype = ctypes.c_void_p
    lib.ggml_backend_load.argtypes = [ctypes.c_char_p]
    lib.ggml_backend_reg_count.restype = ctypes.c_size_t
    lib.ggml_backend_reg_count.argtypes = []
    return lib


def lib_dir(llama_cpp: Any) -> Path:
    return Path(llama_cpp.llama_cpp._base_path)


def _features(system_info: str) -> tuple[str, ...]:
    return tuple(name for name, on in re.findall(r"([A-Z][A-Z0-9_]+) = (\d)", system_info)
                 if on == "1")


def ensure_loaded() -> EngineBuild:
    """Make llama.cpp ready to run on this CPU (once per process) and say what it runs.
    Raises CpuUnsupportedError (an EngineError) below the baseline, EngineError when no
    shipped variant works."""
    global _build
    with _lock:
        if _build is not None:
            return _build
        check_baseline()  # before any AVX2 code (llama.cpp, numpy) is loaded
        cpu = read_cpu_features()
        import llama_cpp

        route_llama_logs(llama_cpp)
        shipped = variant_files(lib_dir(llama_cpp))
        variant: str | None = None
        rejected: dict[str, str] = {}
        gpu_loaded: tuple[str, ...] = ()
        gpu_rejected: dict[str, str] = {}
        if shipped and ggml_library(llama_cpp).ggml_backend_reg_count() == 0:
            variant, rejected = _choose(shipped, cpu)
            _load_variant(llama_cpp, shipped[variant])
            gpu_loaded, gpu_rejected = _load_gpu_backends(
                llama_cpp, shipped[variant], gpu_backend_files(lib_dir(llama_cpp)))
        info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
        _build = EngineBuild(variant, _features(info), info, cpu.brand if cpu else "",
                             rejected, gpu_loaded, gpu_rejected)
        log.info("llama.cpp CPU code: %s (%s); GPU backends: %s%s", variant or "built in", info,
                 ", ".join(gpu_loaded) or "none",
                 "".join(f"; {n} left out: {why}" for n, why in gpu_rejected.items()))
        return _build


def _choose(shipped: dict[str, Path], cpu: CpuFeatures | None) -> tuple[str, dict[str, str]]:
    order = candidates(shipped, cpu)
    if not order:
        missing = cpu.missing(BASELINE) if cpu else []
        names = ", ".join(sorted(shipped))
        raise EngineError(
            f"none of the engine's CPU variants ({names}) runs on this CPU"
            + (f" (it lacks {', '.join(missing)})" if missing else ""))
    key = _state_key(cpu, shipped)
    state = _read_state(key)
    if state is not None and state["variant"] in order:
        return state["variant"], dict(state.get("rejected") or {})
    model = None
    if _config.probe_model is not None:
        try:
            model = _config.probe_model()
        except Exception as exc:  # no model to probe with: loading the variant still checks
            log.warning("no model for the CPU probe: %s", exc)
    rejected: dict[str, str] = {}
    for name in order:
        reason = probe(shipped[name], model)
        if reason is None:
            _write_state({"key": key, "variant": name, "rejected": rejected,
                          "cpu": cpu.brand if cpu else "", "checked": time.time()})
            return name, rejected
        log.warning("CPU variant %s skipped: %s", name, reason)
        rejected[name] = reason
    raise EngineError("none of the engine's CPU variants runs on this CPU: " + "; ".join(
        f"{name} {why}" for name, why in rejected.items()))


def _load_gpu_backends(llama_cpp: Any, variant: Path, gpus: dict[str, Path]
                       ) -> tuple[tuple[str, ...], dict[str, str]]:
    """Load the shipped GPU backends that a probe child loaded without trouble; the others
    are left out with the reason (the app then runs on the CPU)."""
    if not gpus:
        return (), {}
    if os.environ.get(NO_GPU_ENV, "").strip() not in ("", "0"):
        return (), {name: f"turned off ({NO_GPU_ENV})" for name in gpus}
    rejected = _gpu_checks(variant, gpus)
    loaded: list[str] = []
    lib = ggml_library(llama_cpp)
    for name, path in gpus.items():
        if name in rejected:
            log.warning("GPU backend %s left out: %s", name, rejected[name])
        elif lib.ggml_backend_load(str(path).encode()):
            loaded.append(name)
        else:
            rejected[name] = "llama.cpp could not load it"
    return tuple(loaded), rejected


def _gpu_state_key(variant: Path, gpus: dict[str, Path]) -> str:
    """What a GPU probe's outcome depends on: the libraries and the installed drivers."""
    import ctypes.util

    files = {"cpu": variant, **gpus}
    for folder in _VULKAN_ICD_DIRS:
        try:
            files.update({f"icd:{p.name}": p for p in Path(folder).iterdir()})
        except OSError:
            continue
    # The Vulkan loader: a name on Linux; on Windows the path of vulkan-1.dll, which GPU
    # drivers install and update (their own files are found through the registry).
    loader = ctypes.util.find_library("vulkan-1" if sys.platform == "win32" else "vulkan")
    if loader and os.path.isabs(loader):
        files["loader"] = Path(loader)
    return _state_key(None, files) + ":" + str(loader)


def _gpu_checks(variant: Path, gpus: dict[str, Path]) -> dict[str, str]:
    """GPU backend -> why it cannot be used here, probed once per _gpu_state_key."""
    key = _gpu_state_key(variant, gpus)
    state = _read_raw_state()
    remembered = state.get("gpu") if isinstance(state.get("gpu"), dict) else None
    if remembered is not None and remembered.get("key") == key and \
            isinstance(remembered.get("rejected"), dict):
        return {str(k): str(v) for k, v in remembered["rejected"].items()}
    rejected: dict[str, str] = {}
    for name, path in gpus.items():
        reason = probe_gpu(variant, path)
        if reason is not None:
            rejected[name] = reason
    if _config.state_file is not None:
        _write_state({**state, "gpu": {"key": key, "rejected": rejected}})
    return rejected


def route_llama_logs(llama_cpp: Any) -> None:
    """Send llama.cpp's own log lines to Python logging instead of the terminal."""
    global _log_sink
    if _log_sink is not None:
        return
    import ctypes

    def sink(level: int, text: bytes, _user_data: Any) -> None:
        line = text.decode("utf-8", errors="replace").rstrip()
        if line:
            # ggml levels: 1 debug, 2 info, 3 warn, 4 error, 5 continuation
            llama_log.log(logging.WARNING if level == 4 else logging.DEBUG, "%s", line)

    _log_sink = llama_cpp.llama_log_callback(sink)
    llama_cpp.llama_log_set(_log_sink, ctypes.c_void_p(0))


def loaded_build() -> EngineBuild | None:
    """The build `ensure_loaded` set up, None before the first model loads."""
    return _build
