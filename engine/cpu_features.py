"""What this x86-64 CPU can execute, read with the CPUID instruction itself.

/proc/cpuinfo is not enough: it is Linux-only, and under an emulator (qemu-user) or some
hypervisors it shows the host's flags, not what this process may run. So the CPUID and
XGETBV instructions are run directly, from a few bytes of machine code placed in an
executable page with ctypes (no compiler, no extension module). The check must run before
anything compiled for AVX2 is loaded: llama.cpp, and numpy, whose recent wheels also die
with SIGILL on CPUs without AVX.

On other architectures (Apple silicon, ARM Linux) `read_cpu_features` returns None: the
builds there need nothing beyond the architecture's baseline."""

from __future__ import annotations

import ctypes
import platform
import sys
from dataclasses import dataclass

from engine.errors import EngineError

# The instruction sets the portable build and the lowest shipped CPU variant need:
# x86-64-v3 as llama.cpp names it (its "haswell" variant).
BASELINE = ("AVX", "AVX2", "FMA", "F16C", "BMI2")
BASELINE_HINT = "Intel Haswell (2013), AMD Excavator (2015) or newer"

# (leaf, subleaf, register index: 0 eax 1 ebx 2 ecx 3 edx, bit) of each feature we use.
_BITS: dict[str, tuple[int, int, int, int]] = {
    "SSE42": (1, 0, 2, 20),
    "FMA": (1, 0, 2, 12),
    "OSXSAVE": (1, 0, 2, 27),
    "AVX": (1, 0, 2, 28),
    "F16C": (1, 0, 2, 29),
    "AVX2": (7, 0, 1, 5),
    "BMI2": (7, 0, 1, 8),
    "AVX512F": (7, 0, 1, 16),
    "AVX512DQ": (7, 0, 1, 17),
    "AVX512CD": (7, 0, 1, 28),
    "AVX512BW": (7, 0, 1, 30),
    "AVX512VL": (7, 0, 1, 31),
    "AVX512_VBMI": (7, 0, 2, 1),
    "AVX512_VNNI": (7, 0, 2, 11),
    "AMX_BF16": (7, 0, 3, 22),
    "AMX_TILE": (7, 0, 3, 24),
    "AMX_INT8": (7, 0, 3, 25),
    "AVX_VNNI": (7, 1, 0, 4),
    "AVX512_BF16": (7, 1, 0, 5),
}
_AVX512 = ("AVX512F", "AVX512DQ", "AVX512CD", "AVX512BW", "AVX512VL", "AVX512_VBMI",
           "AVX512_VNNI", "AVX512_BF16")

# cpuid(leaf, subleaf, uint32 out[4]) and xgetbv0(uint32 out[2]), System V and Windows x64.
_CPUID_SYSV = bytes.fromhex(
    "53"          # push rbx (callee-saved, cpuid writes it)
    "4989d0"      # mov r8, rdx      (out)
    "89f8"        # mov eax, edi     (leaf)
    "89f1"        # mov ecx, esi     (subleaf)
    "0fa2"        # cpuid
    "418900" "41895804" "41894808" "4189500c"  # mov [r8], eax / ebx / ecx / edx
    "5b" "c3")    # pop rbx; ret
_CPUID_WIN64 = bytes.fromhex(
    "53"          # push rbx
    "89c8"        # mov eax, ecx     (leaf)
    "89d1"        # mov ecx, edx     (subleaf); r8 already holds out
    "0fa2"
    "418900" "41895804" "41894808" "4189500c"
    "5b" "c3")
_XGETBV_SYSV = bytes.fromhex("31c9" "0f01d0" "8907" "895704" "c3")   # out in rdi
_XGETBV_WIN64 = bytes.fromhex("4989c8" "31c9" "0f01d0" "418900" "41895004" "c3")  # out in rcx


@dataclass(frozen=True, slots=True)
class CpuFeatures:
    vendor: str
    brand: str
    signature: int  # CPUID leaf 1 eax: family, model, stepping
    flags: frozenset[str]  # usable: the CPU has it and the OS saves its registers

    def has(self, *names: str) -> bool:
        return all(n in self.flags for n in names)

    def missing(self, names: tuple[str, ...] = BASELINE) -> list[str]:
        return [n for n in names if n not in self.flags]

    @property
    def identity(self) -> str:
        """Stable across runs on the same CPU model, different where the features differ."""
        return f"{self.vendor}|{self.brand}|{self.signature:#x}|{','.join(sorted(self.flags))}"


class CpuUnsupportedError(EngineError):
    """The CPU lacks instruction sets the engine was built for."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            f"this CPU lacks {', '.join(missing)}, which the language-model engine needs "
            f"(an x86-64 CPU with AVX2: {BASELINE_HINT})")


def _machine_code(code: bytes) -> int:
    """Copy `code` into a fresh page and make it executable (never writable and executable
    at once). Returns its address."""
    size = 4096
    if sys.platform == "win32":
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        kernel32.VirtualAlloc.restype = ctypes.c_void_p
        kernel32.VirtualAlloc.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_ulong,
                                          ctypes.c_ulong]
        kernel32.VirtualProtect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_ulong,
                                            ctypes.POINTER(ctypes.c_ulong)]
        address = kernel32.VirtualAlloc(None, size, 0x3000, 0x04)  # commit|reserve, RW
        if not address:
            raise OSError("VirtualAlloc failed")
        ctypes.memmove(address, code, len(code))
        old = ctypes.c_ulong()
        if not kernel32.VirtualProtect(address, size, 0x20, ctypes.byref(old)):  # RX
            raise OSError("VirtualProtect failed")
        return int(address)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    map_anonymous = 0x1000 if sys.platform == "darwin" else 0x20
    address = libc.mmap(None, size, 0x1 | 0x2, 0x02 | map_anonymous, -1, 0)  # RW, private
    if address in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "mmap failed")
    ctypes.memmove(address, code, len(code))
    if libc.mprotect(address, size, 0x1 | 0x4) != 0:  # RX
        raise OSError(ctypes.get_errno(), "mprotect failed")
    return int(address)


def is_x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "x64")


_cached: CpuFeatures | None = None


def read_cpu_features() -> CpuFeatures | None:
    """The CPU's usable instruction sets, or None where this is not an x86-64 CPU."""
    global _cached
    if _cached is not None:
        return _cached
    if not is_x86_64():
        return None
    win = sys.platform == "win32"
    out4 = ctypes.c_uint32 * 4
    cpuid_fn = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32,
                                ctypes.POINTER(out4))(
        _machine_code(_CPUID_WIN64 if win else _CPUID_SYSV))

    def cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
        regs = out4()
        cpuid_fn(leaf, subleaf, ctypes.byref(regs))
        return regs[0], regs[1], regs[2], regs[3]

    max_leaf, b, c, d = cpuid(0)
    vendor = b"".join(r.to_bytes(4, "little") for r in (b, d, c)).decode("ascii", "replace")
    leaves = {(0, 0): (max_leaf, b, c, d)}
    for leaf, subleaf in ((1, 0), (7, 0), (7, 1)):
        leaves[(leaf, subleaf)] = cpuid(leaf, subleaf) if leaf <= max_leaf else (0, 0, 0, 0)
    flags = {name for name, (leaf, sub, reg, bit) in _BITS.items()
             if leaves[(leaf, sub)][reg] >> bit & 1}
    brand = ""
    if cpuid(0x80000000)[0] >= 0x80000004:
        raw = b"".join(r.to_bytes(4, "little")
                       for leaf in (0x80000002, 0x80000003, 0x80000004) for r in cpuid(leaf))
        brand = raw.split(b"\0")[0].decode("ascii", "replace").strip()
    # The OS must save the wide registers on a context switch (XCR0), or the instructions
    # fault although CPUID lists them.
    xcr0 = 0
    if "OSXSAVE" in flags:
        out2 = ctypes.c_uint32 * 2
        xgetbv = ctypes.CFUNCTYPE(None, ctypes.POINTER(out2))(
            _machine_code(_XGETBV_WIN64 if win else _XGETBV_SYSV))
        regs2 = out2()
        xgetbv(ctypes.byref(regs2))
        xcr0 = regs2[0] | regs2[1] << 32
    if xcr0 & 0b110 != 0b110:  # XMM and YMM state
        flags -= {"AVX", "AVX2", "FMA", "F16C", "AVX_VNNI", *_AVX512}
    if xcr0 & 0b11100000 != 0b11100000:  # opmask, ZMM_Hi256, Hi16_ZMM
        flags -= set(_AVX512)
    if xcr0 & (0b11 << 17) != 0b11 << 17:  # XTILECFG, XTILEDATA
        flags -= {"AMX_TILE", "AMX_INT8", "AMX_BF16"}
    flags.discard("OSXSAVE")
    _cached = CpuFeatures(vendor, brand, leaves[(1, 0)][0], frozenset(flags))
    return _cached


def check_baseline() -> None:
    """Raise CpuUnsupportedError when this x86-64 CPU cannot run the engine's code."""
    features = read_cpu_features()
    if features is not None and features.missing():
        raise CpuUnsupportedError(features.missing())
