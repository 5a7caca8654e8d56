"""What the Vulkan build of llama.cpp needs, checked before building (llama_wheel.py's profile
`vulkan`, `make gpu`), so a missing piece is named in one message instead of a CMake or
compiler error ten minutes in.

llama-cpp-python 0.3.36's ggml-vulkan needs, at build time:
- glslc (GLSL -> SPIR-V shader compiler) on PATH;                  Debian/Ubuntu: glslc
- the Vulkan headers (vulkan/vulkan.hpp) and the loader's link
  library libvulkan.so;                                             libvulkan-dev
- SPIRV-Headers' CMake package (SPIRV-HeadersConfig.cmake);         spirv-headers
- Vulkan-Hpp headers that know VK_EXT_layer_settings (vk::LayerSettingEXT). Debian 12's
  1.3.239 do not ("'LayerSettingEXT' is not a member of 'vk'"); Debian 13 and Ubuntu 24.04's
  do. Newer headers alone are enough: MINGJING_VULKAN_HEADERS=DIR (DIR/vulkan/vulkan.hpp), or
  the cache that packaging/vulkan_headers.sh fills from Debian 13's libvulkan-dev
  (~/.cache/mingjing/vulkan-headers/usr/include); the build then gets
  -DVulkan_INCLUDE_DIR=DIR and still links the system's loader.
Elsewhere the LunarG Vulkan SDK provides all of it (with VULKAN_SDK set, as CMake expects).

    python packaging/vulkan_prereqs.py        # check; exit 1 with the message if not ready
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HEADERS_ENV = "MINGJING_VULKAN_HEADERS"
SDK = "install the Vulkan SDK (https://vulkan.lunarg.com/sdk/home) and set VULKAN_SDK"
SPIRV_CONFIGS = ("spirv-headersconfig.cmake", "spirv-headers-config.cmake")
SPIRV_GLOBS = ("share/cmake/SPIRV-Headers*/*.cmake", "lib*/cmake/SPIRV-Headers*/*.cmake",
               "lib/*/cmake/SPIRV-Headers*/*.cmake", "share/SPIRV-Headers*/*.cmake",
               "share/SPIRV-Headers*/cmake/*.cmake")
INCLUDE_FLAG = "-DVulkan_INCLUDE_DIR="
# The loader's link library: Linux, macOS, and the Windows SDK's import library (Lib\).
LOADER_LINK_LIBRARIES = ("libvulkan.so", "libvulkan.dylib", "vulkan-1.lib")


@dataclass(frozen=True)
class Headers:
    include: Path  # the folder that holds vulkan/vulkan.hpp
    version: str  # "1.4.309" (from vulkan_core.h), "" when unreadable
    layer_settings: bool  # vk::LayerSettingEXT is defined: new enough for llama.cpp


@dataclass
class Plan:
    headers: Headers | None = None  # the headers the build will compile against
    override: Path | None = None  # passed as -DVulkan_INCLUDE_DIR (not the system's own)
    problems: list[str] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)  # Debian/Ubuntu packages that fix them

    @property
    def ok(self) -> bool:
        return not self.problems


def read_headers(include: Path) -> Headers | None:
    vulkan = include / "vulkan"
    if not (vulkan / "vulkan.hpp").is_file():
        return None
    core = vulkan / "vulkan_core.h"
    text = core.read_text("utf-8", "replace") if core.is_file() else ""
    patch = re.search(r"#define\s+VK_HEADER_VERSION\s+(\d+)", text)
    api = re.search(r"#define\s+VK_HEADER_VERSION_COMPLETE\s+VK_MAKE_API_VERSION\(\s*\d+\s*,"
                    r"\s*(\d+)\s*,\s*(\d+)", text)
    version = f"{api[1]}.{api[2]}.{patch[1]}" if api and patch else (patch[1] if patch else "")
    # Vulkan-Hpp 1.3.2xx and later split vulkan.hpp into vulkan_structs.hpp etc.
    layer = any(b"LayerSettingEXT" in hpp.read_bytes() for hpp in vulkan.glob("vulkan*.hpp"))
    return Headers(include, version, layer)


def headers_cache(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mingjing" / "vulkan-headers" / "usr" / "include"


def system_includes(env: Mapping[str, str]) -> list[Path]:
    """Where CMake's FindVulkan looks for vulkan/vulkan.h, in its order."""
    sdk = [Path(env["VULKAN_SDK"]) / "include"] if env.get("VULKAN_SDK") else []
    return [*sdk, Path("/usr/local/include"), Path("/usr/include")]


def library_dirs(env: Mapping[str, str]) -> list[Path]:
    sdk = [Path(env["VULKAN_SDK"]) / "lib"] if env.get("VULKAN_SDK") else []
    multiarch = sorted(p for p in Path("/usr/lib").glob("*-linux-gnu*") if p.is_dir())
    return [*sdk, Path("/usr/local/lib"), *multiarch, Path("/usr/lib64"), Path("/usr/lib")]


def cmake_prefixes(env: Mapping[str, str]) -> list[Path]:
    paths = [env[name] for name in ("VULKAN_SDK",) if env.get(name)]
    paths += [p for p in env.get("CMAKE_PREFIX_PATH", "").split(os.pathsep) if p]
    return [*map(Path, paths), Path("/usr/local"), Path("/usr")]


def has_spirv_config(prefixes: Sequence[Path]) -> bool:
    return any(found.name.lower() in SPIRV_CONFIGS
               for prefix in prefixes for pattern in SPIRV_GLOBS for found in prefix.glob(pattern))


def check(env: Mapping[str, str] | None = None,
          which: Callable[[str], str | None] = shutil.which,
          includes: Sequence[Path] | None = None,
          lib_dirs: Sequence[Path] | None = None,
          prefixes: Sequence[Path] | None = None,
          cache: Path | None = None) -> Plan:
    """What a Vulkan build would use and what it lacks. Every place looked at can be passed
    in (the tests use fake trees); the defaults are this machine's."""
    env = os.environ if env is None else env
    includes = system_includes(env) if includes is None else includes
    lib_dirs = library_dirs(env) if lib_dirs is None else lib_dirs
    prefixes = cmake_prefixes(env) if prefixes is None else prefixes
    cache = headers_cache(env) if cache is None else cache
    plan = Plan()

    def lack(problem: str, package: str | None = None) -> None:
        plan.problems.append(problem)
        if package and package not in plan.packages:
            plan.packages.append(package)

    if which("glslc") is None:
        lack("glslc, the shader compiler, is not on PATH", "glslc")
    if not any((d / name).exists() for d in lib_dirs for name in LOADER_LINK_LIBRARIES):
        lack("the Vulkan loader's link library libvulkan.so is missing", "libvulkan-dev")
    if not has_spirv_config(prefixes):
        lack("SPIRV-Headers' CMake package (SPIRV-HeadersConfig.cmake) is missing",
             "spirv-headers")

    system = next((h for h in map(read_headers, includes) if h), None)
    chosen = env.get(HEADERS_ENV)
    if chosen:  # asked for by name: used or refused, never passed over
        given = read_headers(Path(chosen))
        if given is None:
            lack(f"{HEADERS_ENV}={chosen} holds no vulkan/vulkan.hpp")
        elif not given.layer_settings:
            lack(f"{HEADERS_ENV}={chosen}: Vulkan headers {given.version or '?'} too old "
                 "(no vk::LayerSettingEXT; Debian 13's 1.4 headers have it)")
        else:
            plan.headers, plan.override = given, given.include
        return plan
    if system and system.layer_settings:
        plan.headers = system
        return plan
    cached = read_headers(cache)
    if cached and cached.layer_settings:
        plan.headers, plan.override = cached, cached.include
    elif system:
        lack(f"the Vulkan headers {system.version or '?'} in {system.include} are too old for "
             "llama.cpp (no vk::LayerSettingEXT, VK_EXT_layer_settings): run "
             "`packaging/vulkan_headers.sh` (puts Debian 13's libvulkan-dev headers in "
             f"{cache}; no root, installs nothing) or set {HEADERS_ENV}=DIR "
             "(DIR/vulkan/vulkan.hpp from Vulkan 1.3.275 or later)")
    else:
        lack("the Vulkan headers (vulkan/vulkan.hpp) are missing", "libvulkan-dev")
    return plan


def message(plan: Plan) -> str:
    lines = ["The Vulkan build of llama.cpp cannot start:"]
    lines += [f"  - {problem}" for problem in plan.problems]
    if plan.packages:
        lines.append(f"Debian/Ubuntu: sudo apt-get install {' '.join(plan.packages)}")
    lines.append(f"Other systems: {SDK}.")
    return "\n".join(lines)


def preflight(plan: Plan | None = None) -> Plan:
    """check() (or the plan given), and stop with message() unless everything is there."""
    plan = check() if plan is None else plan
    if not plan.ok:
        raise SystemExit(message(plan))
    return plan


def build_flags(plan: Plan) -> list[str]:
    """The CMake flags a Vulkan build adds to the CPU profile's."""
    extra = [f"{INCLUDE_FLAG}{plan.override.as_posix()}"] if plan.override else []
    return ["-DGGML_VULKAN=ON", *extra]


def key_flags(flags: Sequence[str]) -> list[str]:
    """Flags for the wheel's cache key: a header folder stands for the header version in it,
    so the same headers unpacked anywhere give the same key, and other headers another."""
    out = []
    for flag in flags:
        if flag.startswith(INCLUDE_FLAG):
            found = read_headers(Path(flag[len(INCLUDE_FLAG):]))
            flag = f"{INCLUDE_FLAG}<vulkan-headers {found.version if found else 'missing'}>"
        out.append(flag)
    return out


def main() -> int:
    plan = check()
    if not plan.ok or plan.headers is None:
        print(f"{message(plan)}\nNothing was changed.", file=sys.stderr)
        return 1
    where = f"{plan.override} (override)" if plan.override else str(plan.headers.include)
    print(f"vulkan_prereqs: ready (glslc, libvulkan.so, SPIRV-Headers; Vulkan headers "
          f"{plan.headers.version} in {where})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
