"""Build llama-cpp-python for a named profile, cache the wheel by its flags, install it.

The one place that says how llama.cpp is compiled, for development, tests and installers:

    python packaging/llama_wheel.py install current  [--python PY]   # make run / make test
    python packaging/llama_wheel.py install portable [--python PY]   # make cpu
    python packaging/llama_wheel.py install vulkan   [--python PY]   # make gpu
    python packaging/llama_wheel.py install bundle   [--python PY]   # packaging/build.sh
    python packaging/llama_wheel.py install bundle-vulkan [--python PY]  # MINGJING_GPU=vulkan
    python packaging/llama_wheel.py preflight vulkan                 # what a build lacks
    python packaging/llama_wheel.py flags PROFILE                    # print the CMake flags
    python packaging/llama_wheel.py key PROFILE                      # print the cache key

Profiles (x86-64; other architectures drop the x86 instruction-set flags):
- portable: one CPU backend for the x86-64-v3 baseline (AVX, AVX2, FMA, F16C, BMI2: Intel
  Haswell 2013, AMD Excavator 2015 and later), never `-march=native`, never AMX. The
  development environment and CI use it, so the suite runs the same code on every CPU of
  that baseline, whatever the build machine itself supports.
- bundle: llama.cpp's own multi-variant CPU build (GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS):
  one libggml-cpu-<variant> per instruction-set level, chosen at run time by
  engine/cpu_backend.py. packaging/mingjing.spec ships the variants that measured faster
  (bench/cpu_variants.py).
- native: `-march=native`, for bench/cpu_variants.py only (the best build that runs on the
  benchmark machine); never installed into an environment.
- vulkan: portable plus llama.cpp's Vulkan backend (GPUs of any vendor with a Vulkan driver;
  without one, or without a GPU, llama.cpp runs on the CPU part as portable does). Its build
  prerequisites are checked first (vulkan_prereqs.py); the key counts the Vulkan header
  version, not the folder it was found in. The wheel needs the loader libvulkan.so.1 to
  load: if it cannot, the environment gets portable back.
- bundle-vulkan: bundle plus the Vulkan backend as one more loadable library
  (libggml-vulkan), for the GPU variant of the installers (packaging/build.sh with
  MINGJING_GPU=vulkan). engine/cpu_backend.py loads it beside the CPU variant; on a machine
  without the Vulkan loader or a driver it is left out with a logged reason and the app runs
  on the CPU.

An environment remembers the profile installed last (.llama-profile in it, with the header
folder of a vulkan build); `install current` reinstalls that one (portable when none), so
`make run` keeps a `make gpu` build until `make cpu`. A failed vulkan install falls back to
portable, saying so.

llama.cpp defaults to GGML_NATIVE=ON (-march=native of the machine running pip), and pip's
wheel cache is keyed by the source, not by CMAKE_ARGS: a wheel built natively on one machine
would be reused silently. So pip's cache is bypassed for this package (--no-cache-dir,
--no-binary) and the wheel is kept in a cache of our own, keyed by version, flags, Python
and platform: `$MINGJING_WHEEL_CACHE` or ~/.cache/mingjing/wheels.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import vulkan_prereqs  # packaging/, beside this script

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "llama-cpp-python"

# x86-64-v3 without MOVBE/LZCNT flags llama.cpp has no switch for; AVX-512 and AMX stay off.
X86_BASELINE = ["-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON",
                "-DGGML_BMI2=ON", "-DGGML_AVX512=OFF", "-DGGML_AMX_TILE=OFF",
                "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"]
COMMON = ["-DGGML_NATIVE=OFF", "-DLLAVA_BUILD=OFF"]
# llama-cpp-python installs no CPU variant library by itself; this CMake file does.
VARIANTS_CMAKE = Path(__file__).resolve().parent / "llama_cpu_variants.cmake"
PROFILES = ("portable", "bundle", "native", "vulkan", "bundle-vulkan")
VULKAN_PROFILES = ("vulkan", "bundle-vulkan")
MARKER = ".llama-profile"  # in the environment: the profile installed last


def is_x86_64() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def profile_flags(profile: str) -> list[str]:
    if profile == "portable":
        return COMMON + (X86_BASELINE if is_x86_64() else [])
    if profile == "bundle":
        if is_x86_64():
            return [*COMMON, "-DGGML_BACKEND_DL=ON", "-DGGML_CPU_ALL_VARIANTS=ON",
                    f"-DCMAKE_PROJECT_INCLUDE={VARIANTS_CMAKE.as_posix()}"]
        return COMMON  # Apple silicon: one arm64 build (M1 and later), Metal on by default
    if profile == "native":  # bench/cpu_variants.py only: the best build for this machine
        return ["-DGGML_NATIVE=ON", "-DLLAVA_BUILD=OFF"]
    if profile in VULKAN_PROFILES:
        cpu = "portable" if profile == "vulkan" else "bundle"
        return profile_flags(cpu) + vulkan_prereqs.build_flags(vulkan_prereqs.check())
    raise SystemExit(f"unknown profile {profile!r} ({', '.join(PROFILES)})")


def pinned_requirement() -> str:
    """`llama-cpp-python==X.Y.Z` exactly as pyproject.toml pins it."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for requirement in project["dependencies"]:
        if re.match(rf"\s*{re.escape(PACKAGE)}\s*==", requirement, re.IGNORECASE):
            return requirement.split(";")[0].split("#")[0].strip()
    raise SystemExit(f"pyproject.toml does not pin {PACKAGE}==VERSION")


def python_tag(python: str) -> dict[str, str]:
    code = ("import json, platform, sys, sysconfig; print(json.dumps({'impl': "
            "sys.implementation.cache_tag, 'platform': sysconfig.get_platform(), "
            "'machine': platform.machine()}))")
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def cache_key(profile: str, python: str) -> str:
    """What the wheel depends on: the pinned version, the flags, the Python and platform."""
    flags = [f.replace(VARIANTS_CMAKE.as_posix(), "variants-" + hashlib.sha256(
        VARIANTS_CMAKE.read_bytes()).hexdigest()[:12]) for f in profile_flags(profile)]
    data: dict[str, object] = {"requirement": pinned_requirement(), "flags": flags,
                               "python": python_tag(python)}
    if profile in VULKAN_PROFILES:
        data["flags"] = vulkan_prereqs.key_flags(flags)
        headers = vulkan_prereqs.check().headers
        data["vulkan_headers"] = headers.version if headers else None
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
    return f"{profile}-{digest}"


def cache_dir() -> Path:
    if os.environ.get("MINGJING_WHEEL_CACHE"):
        return Path(os.environ["MINGJING_WHEEL_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mingjing" / "wheels"


def build(profile: str, python: str, target: Path) -> Path:
    """Build the wheel into `target` (a fresh folder per key) and return its path."""
    if profile in VULKAN_PROFILES:
        vulkan_prereqs.preflight()
    flags = profile_flags(profile)
    env = dict(os.environ, CMAKE_ARGS=" ".join(flags), FORCE_CMAKE="1")
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
    print(f"llama_wheel: building {pinned_requirement()} for profile {profile!r} "
          f"({' '.join(flags)}); about 8 minutes on 2 cores (the bundle's variants and "
          "vulkan's shaders: longer)",
          file=sys.stderr, flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
        subprocess.run(
            [python, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir",
             "--no-binary", PACKAGE, "--wheel-dir", tmp, pinned_requirement()],
            check=True, env=env)
        wheels = list(Path(tmp).glob("llama_cpp_python-*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"llama_wheel: expected one wheel, found {wheels}")
        staged = Path(tmp) / "out"
        staged.mkdir()
        shutil.move(str(wheels[0]), staged / wheels[0].name)
        (staged / "flags.json").write_text(json.dumps(
            {"requirement": pinned_requirement(), "profile": profile, "flags": flags,
             "python": python_tag(python)}, indent=2), encoding="utf-8")
        try:
            os.replace(staged, target)  # atomic: a half-built wheel is never found
        except OSError:
            if not target.is_dir():  # another build finished first: use that one
                raise
    return wheel_in(target)


def wheel_in(folder: Path) -> Path:
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    if not wheels:
        raise FileNotFoundError(folder)
    return wheels[0]


def ensure_wheel(profile: str, python: str) -> Path:
    folder = cache_dir() / cache_key(profile, python)
    try:
        return wheel_in(folder)
    except FileNotFoundError:
        return build(profile, python, folder)


def env_prefix(python: str) -> Path:
    return Path(subprocess.run([python, "-c", "import sys; print(sys.prefix)"], check=True,
                               capture_output=True, text=True).stdout.strip())


def current_profile(python: str) -> str:
    """The profile installed last into `python`'s environment; portable when none. A vulkan
    build made with headers from elsewhere uses them again (unless MINGJING_VULKAN_HEADERS
    names others), so its key, and so the wheel, stays the same."""
    marker = env_prefix(python) / MARKER
    text = marker.read_text(encoding="utf-8") if marker.is_file() else ""
    name, headers = [*(line.strip() for line in text.splitlines()), "", ""][:2]
    if name in VULKAN_PROFILES and headers and vulkan_prereqs.read_headers(Path(headers)):
        os.environ.setdefault(vulkan_prereqs.HEADERS_ENV, headers)
    return name if name in PROFILES and name != "native" else "portable"


# Loads llama.cpp's libraries (and what they link: libvulkan.so.1 for vulkan) without
# importing llama_cpp, whose Python dependencies come later (pip install -e . in make).
LOAD_CHECK = """import ctypes, importlib.util, pathlib
lib = pathlib.Path(importlib.util.find_spec("llama_cpp").submodule_search_locations[0]) / "lib"
names = [p for p in sorted(lib.glob("*llama*")) if p.suffix in (".so", ".dylib", ".dll")]
assert names, f"no llama library in {lib}"
for name in names:
    ctypes.CDLL(str(name))
"""


def loads(python: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([python, "-c", LOAD_CHECK], capture_output=True, text=True)


def install_profile(profile: str, python: str) -> None:
    """Install the profile's wheel into `python`'s environment unless it is there already
    (a stamp in the environment records the key of the wheel installed last)."""
    key = cache_key(profile, python)
    prefix = env_prefix(python)
    stamp = prefix / ".llama-cpp-build"
    have = loads(python).returncode == 0
    if not (have and stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == key):
        wheel = ensure_wheel(profile, python)
        stamp.unlink(missing_ok=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--no-cache-dir", "--force-reinstall", str(wheel)], check=True)
        failed = loads(python)
        if failed.returncode != 0:
            lines = failed.stderr.strip().splitlines() or ["?"]
            raise SystemExit(f"llama_wheel: {wheel.name} is installed but its libraries do "
                             f"not load: {lines[-1]}" + (
                                 " (the Vulkan build needs the loader libvulkan.so.1; Debian/"
                                 "Ubuntu: libvulkan1)" if profile in VULKAN_PROFILES else ""))
        stamp.write_text(key + "\n", encoding="utf-8")
        print(f"llama_wheel: installed {wheel.name} ({key})", file=sys.stderr)
    override = vulkan_prereqs.check().override if profile in VULKAN_PROFILES else None
    (prefix / MARKER).write_text(f"{profile}\n{override or ''}\n", encoding="utf-8")


def install(profile: str, python: str) -> int:
    """install_profile(); `current` is the environment's own. The CPU build is the fallback:
    a vulkan install that cannot be built or loaded puts portable back, loudly, and fails
    (`install vulkan`, make gpu) or goes on on the CPU (`install current`, make run)."""
    asked = profile
    if profile == "current":
        profile = current_profile(python)
    if profile != "vulkan":
        install_profile(profile, python)
        return 0
    try:
        install_profile(profile, python)
        return 0
    except (SystemExit, subprocess.CalledProcessError) as error:
        print(f"{error}\nllama_wheel: the Vulkan build failed; installing the CPU build "
              "(portable) instead. `make gpu` tries again.", file=sys.stderr)
    install_profile("portable", python)
    return 1 if asked == "vulkan" else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("install", "wheel", "flags", "key", "preflight"))
    parser.add_argument("profile", choices=(*PROFILES, "current"))
    parser.add_argument("--python", default=sys.executable,
                        help="the environment's Python (default: this one)")
    args = parser.parse_args(argv)
    if args.profile == "current" and args.action != "install":
        args.profile = current_profile(args.python)
    if args.action == "preflight":
        if args.profile in VULKAN_PROFILES:
            vulkan_prereqs.preflight()
        print(f"llama_wheel: {args.profile}: ready to build", file=sys.stderr)
    elif args.action == "flags":
        print(" ".join(profile_flags(args.profile)))
    elif args.action == "key":
        print(cache_key(args.profile, args.python))
    elif args.action == "wheel":
        print(ensure_wheel(args.profile, args.python))
    else:
        return install(args.profile, args.python)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
