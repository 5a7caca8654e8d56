"""The optional Vulkan build of llama.cpp (`make gpu`, packaging/llama_wheel.py profile
`vulkan`): its flags, its cache key, the prerequisite check on fake file trees, and that an
environment keeps the build it was given and falls back to the CPU build. Nothing is built
or downloaded here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "packaging"))
import llama_wheel
import vulkan_prereqs
from vulkan_prereqs import Plan


def make_headers(include: Path, version: str, layer_settings: bool) -> Path:
    """A Vulkan header tree as Debian ships it: vulkan.hpp includes vulkan_structs.hpp,
    which defines vk::LayerSettingEXT from 1.3.2xx on."""
    major, minor, patch = version.split(".")
    vulkan = include / "vulkan"
    vulkan.mkdir(parents=True)
    (vulkan / "vulkan.hpp").write_text('#include "vulkan_structs.hpp"\n', encoding="utf-8")
    (vulkan / "vulkan_core.h").write_text(
        f"#define VK_HEADER_VERSION {patch}\n#define VK_HEADER_VERSION_COMPLETE "
        f"VK_MAKE_API_VERSION(0, {major}, {minor}, VK_HEADER_VERSION)\n", encoding="utf-8")
    body = "  struct LayerSettingEXT\n  {\n  };\n" if layer_settings else "  struct Other {};\n"
    (vulkan / "vulkan_structs.hpp").write_text(f"namespace VULKAN_HPP_NAMESPACE\n{{\n{body}}}\n",
                                               encoding="utf-8")
    return include


class Machine:
    """A fake machine: system headers, loader, SPIRV-Headers, glslc, a headers cache."""

    def __init__(self, root: Path, headers: str | None = "1.3.239", layer: bool = False,
                 glslc: bool = True, loader: bool = True, spirv: bool = True) -> None:
        self.include = root / "usr" / "include"
        self.lib = root / "usr" / "lib" / "x86_64-linux-gnu"
        self.prefix = root / "usr"
        self.cache = root / "home" / ".cache" / "mingjing" / "vulkan-headers" / "usr" / "include"
        self.glslc = glslc
        self.include.mkdir(parents=True)
        self.lib.mkdir(parents=True)
        if headers:
            make_headers(self.include, headers, layer)
        if loader:
            (self.lib / "libvulkan.so").write_bytes(b"")
        if spirv:
            config = self.prefix / "share" / "cmake" / "SPIRV-Headers" / "SPIRV-HeadersConfig.cmake"
            config.parent.mkdir(parents=True)
            config.write_text("# SPIRV-Headers\n", encoding="utf-8")

    def check(self, **env: str) -> Plan:
        return vulkan_prereqs.check(
            env=env, which=lambda name: "/usr/bin/glslc" if self.glslc else None,
            includes=[self.include], lib_dirs=[self.lib], prefixes=[self.prefix],
            cache=self.cache)


# ------------------------------------------------------------------ flags and key


def test_the_vulkan_profile_is_the_cpu_baseline_plus_vulkan(
        monkeypatch: pytest.MonkeyPatch) -> None:
    portable = llama_wheel.profile_flags("portable")
    assert not [f for f in portable if "VULKAN" in f.upper()]  # the default stays CPU-only
    monkeypatch.setattr(vulkan_prereqs, "check", lambda: Plan())
    vulkan = llama_wheel.profile_flags("vulkan")
    assert vulkan[:len(portable)] == portable  # same CPU code: -DGGML_NATIVE=OFF, AVX2 ...
    assert "-DGGML_NATIVE=OFF" in vulkan and "-DGGML_NATIVE=ON" not in vulkan
    if llama_wheel.is_x86_64():
        assert "-DGGML_AVX2=ON" in vulkan and "-DGGML_AMX_INT8=OFF" in vulkan
    assert vulkan[len(portable):] == ["-DGGML_VULKAN=ON"]  # system headers: no override

    newer = Path("/opt/vk/usr/include")
    monkeypatch.setattr(vulkan_prereqs, "check", lambda: Plan(override=newer))
    assert llama_wheel.profile_flags("vulkan")[len(portable):] == [
        "-DGGML_VULKAN=ON", "-DVulkan_INCLUDE_DIR=/opt/vk/usr/include"]


def test_the_gpu_bundle_profile_is_the_bundle_plus_vulkan(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU installer keeps every CPU variant (GGML_BACKEND_DL) and adds the Vulkan
    backend as one more loadable library."""
    monkeypatch.setattr(vulkan_prereqs, "check", lambda: Plan())
    bundle = llama_wheel.profile_flags("bundle")
    gpu = llama_wheel.profile_flags("bundle-vulkan")
    assert gpu == [*bundle, "-DGGML_VULKAN=ON"]
    assert llama_wheel.cache_key("bundle-vulkan", sys.executable).startswith("bundle-vulkan-")
    assert llama_wheel.cache_key("bundle-vulkan", sys.executable) != \
        llama_wheel.cache_key("bundle", sys.executable)
    # The variants' CMake file installs the GPU backend's library beside them.
    cmake = llama_wheel.VARIANTS_CMAKE.read_text(encoding="utf-8")
    assert "foreach(backend vulkan cuda metal)" in cmake


def test_the_cache_key_counts_the_header_version_not_its_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = make_headers(tmp_path / "a" / "include", "1.4.309", True)
    there = make_headers(tmp_path / "b" / "elsewhere", "1.4.309", True)
    later = make_headers(tmp_path / "c" / "include", "1.4.321", True)
    keys = {}
    for name, folder in (("here", here), ("there", there), ("later", later)):
        monkeypatch.setenv(vulkan_prereqs.HEADERS_ENV, str(folder))
        assert f"-DVulkan_INCLUDE_DIR={folder.as_posix()}" in llama_wheel.profile_flags("vulkan")
        keys[name] = llama_wheel.cache_key("vulkan", sys.executable)
    assert keys["here"] == keys["there"]  # the same headers unpacked elsewhere: same wheel
    assert keys["later"] != keys["here"]  # other headers: another wheel
    assert keys["here"].startswith("vulkan-")
    assert keys["here"] != llama_wheel.cache_key("portable", sys.executable)
    assert vulkan_prereqs.key_flags([f"-DVulkan_INCLUDE_DIR={here}", "-DGGML_VULKAN=ON"]) == [
        "-DVulkan_INCLUDE_DIR=<vulkan-headers 1.4.309>", "-DGGML_VULKAN=ON"]


# ------------------------------------------------------------------ the preflight


def test_old_system_headers_without_newer_ones_name_the_fix(tmp_path: Path) -> None:
    plan = Machine(tmp_path).check()
    assert not plan.ok and plan.override is None
    text = vulkan_prereqs.message(plan)
    assert "1.3.239" in text and "LayerSettingEXT" in text
    assert "packaging/vulkan_headers.sh" in text
    assert "MINGJING_VULKAN_HEADERS=DIR" in text
    assert "apt-get install" not in text  # every package is there; only the headers are old
    with pytest.raises(SystemExit) as stopped:
        vulkan_prereqs.preflight(plan)
    assert str(stopped.value) == text


def test_new_system_headers_pass_without_an_override(tmp_path: Path) -> None:
    plan = Machine(tmp_path, headers="1.4.309", layer=True).check()
    assert plan.ok, plan.problems
    assert plan.override is None and plan.headers is not None
    assert plan.headers.version == "1.4.309"
    assert vulkan_prereqs.build_flags(plan) == ["-DGGML_VULKAN=ON"]
    assert vulkan_prereqs.preflight(plan) is plan


def test_newer_headers_come_from_the_variable_or_the_cache(tmp_path: Path) -> None:
    machine = Machine(tmp_path)
    newer = make_headers(tmp_path / "vkheaders" / "usr" / "include", "1.4.309", True)
    plan = machine.check(MINGJING_VULKAN_HEADERS=str(newer))
    assert plan.ok and plan.override == newer
    assert vulkan_prereqs.build_flags(plan) == [
        "-DGGML_VULKAN=ON", f"-DVulkan_INCLUDE_DIR={newer.as_posix()}"]

    make_headers(machine.cache, "1.4.309", True)  # what packaging/vulkan_headers.sh leaves
    plan = machine.check()
    assert plan.ok and plan.override == machine.cache


def test_headers_named_by_the_variable_are_used_or_refused(tmp_path: Path) -> None:
    machine = Machine(tmp_path, headers="1.4.309", layer=True)
    make_headers(machine.cache, "1.4.309", True)
    old = make_headers(tmp_path / "old" / "include", "1.3.239", False)
    plan = machine.check(MINGJING_VULKAN_HEADERS=str(old))
    assert not plan.ok  # never silently replaced by the system's or the cache's
    assert "MINGJING_VULKAN_HEADERS=" in plan.problems[0] and "too old" in plan.problems[0]
    plan = machine.check(MINGJING_VULKAN_HEADERS=str(tmp_path / "nowhere"))
    assert not plan.ok and "no vulkan/vulkan.hpp" in plan.problems[0]


def test_a_missing_glslc_names_its_package(tmp_path: Path) -> None:
    plan = Machine(tmp_path, headers="1.4.309", layer=True, glslc=False).check()
    assert not plan.ok and plan.packages == ["glslc"]
    text = vulkan_prereqs.message(plan)
    assert "glslc" in plan.problems[0] and "sudo apt-get install glslc\n" in text
    assert "Vulkan SDK" in text


def test_a_bare_machine_gets_every_package_in_one_message(tmp_path: Path) -> None:
    plan = Machine(tmp_path, headers=None, glslc=False, loader=False, spirv=False).check()
    assert plan.packages == ["glslc", "libvulkan-dev", "spirv-headers"]
    assert len(plan.problems) == 4  # glslc, loader, SPIRV-Headers, headers
    assert "sudo apt-get install glslc libvulkan-dev spirv-headers" in vulkan_prereqs.message(plan)


def test_spirv_headers_are_found_where_cmake_looks(tmp_path: Path) -> None:
    prefix = tmp_path / "sdk" / "x86_64"
    assert not vulkan_prereqs.has_spirv_config([prefix])
    config = prefix / "lib" / "x86_64-linux-gnu" / "cmake" / "SPIRV-Headers"
    config.mkdir(parents=True)
    (config / "SPIRV-HeadersConfig-version.cmake").write_text("", encoding="utf-8")
    assert not vulkan_prereqs.has_spirv_config([prefix])  # the version file alone is not it
    (config / "SPIRV-HeadersConfig.cmake").write_text("", encoding="utf-8")
    assert vulkan_prereqs.has_spirv_config([prefix])


# ------------------------------------------------------- the environment keeps its build


def test_the_environment_remembers_its_profile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llama_wheel, "env_prefix", lambda python: tmp_path)
    assert llama_wheel.current_profile("python") == "portable"  # a new environment
    for written, read in (("vulkan\n", "vulkan"), ("portable", "portable"),
                          ("native", "portable"), ("cuda", "portable")):
        (tmp_path / llama_wheel.MARKER).write_text(written, encoding="utf-8")
        assert llama_wheel.current_profile("python") == read


def test_a_vulkan_environment_keeps_its_headers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make gpu` with MINGJING_VULKAN_HEADERS, later `make run` without it: the same headers,
    so the same key, so no rebuild and no swap."""
    monkeypatch.setattr(llama_wheel, "env_prefix", lambda python: tmp_path)
    monkeypatch.delenv(vulkan_prereqs.HEADERS_ENV, raising=False)
    newer = make_headers(tmp_path / "vk" / "include", "1.4.309", True)
    marker = tmp_path / llama_wheel.MARKER
    marker.write_text(f"vulkan\n{tmp_path / 'gone'}\n", encoding="utf-8")
    assert llama_wheel.current_profile("python") == "vulkan"
    assert vulkan_prereqs.HEADERS_ENV not in os.environ  # a folder since deleted: not used
    marker.write_text(f"vulkan\n{newer}\n", encoding="utf-8")
    assert llama_wheel.current_profile("python") == "vulkan"
    assert os.environ[vulkan_prereqs.HEADERS_ENV] == str(newer)
    other = make_headers(tmp_path / "other" / "include", "1.4.321", True)
    monkeypatch.setenv(vulkan_prereqs.HEADERS_ENV, str(other))
    llama_wheel.current_profile("python")
    assert os.environ[vulkan_prereqs.HEADERS_ENV] == str(other)  # named now: wins


def test_a_failed_vulkan_install_puts_the_cpu_build_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    installed: list[str] = []

    def install_profile(profile: str, python: str) -> None:
        if profile == "vulkan":
            raise SystemExit("The Vulkan build of llama.cpp cannot start: glslc")
        installed.append(profile)
        (tmp_path / llama_wheel.MARKER).write_text(profile, encoding="utf-8")

    monkeypatch.setattr(llama_wheel, "install_profile", install_profile)
    monkeypatch.setattr(llama_wheel, "env_prefix", lambda python: tmp_path)
    assert llama_wheel.install("vulkan", "python") == 1  # make gpu fails, loudly
    assert installed == ["portable"]
    assert "installing the CPU build" in capsys.readouterr().err
    (tmp_path / llama_wheel.MARKER).write_text("vulkan", encoding="utf-8")
    assert llama_wheel.install("current", "python") == 0  # make run goes on, on the CPU
    assert installed == ["portable", "portable"]
    assert llama_wheel.current_profile("python") == "portable"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_gpu_checks_first_and_make_run_keeps_the_chosen_build(tmp_path: Path) -> None:
    venv = tmp_path / "venv"

    def dry_run(target: str) -> list[str]:
        out = subprocess.run(["make", "-n", "--no-print-directory", target, f"VENV={venv}",
                              "PYTHON=python3"], cwd=REPO, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        return [line for line in out.stdout.splitlines() if "packaging/" in line]

    gpu = dry_run("gpu")
    assert gpu[0] == "python3 packaging/vulkan_prereqs.py"  # before anything is set up
    assert gpu[-1] == f"{venv}/bin/python packaging/llama_wheel.py install vulkan"
    assert f"{venv}/bin/python packaging/llama_wheel.py install current" in dry_run("run")
    assert dry_run("cpu")[-1] == f"{venv}/bin/python packaging/llama_wheel.py install portable"
    assert not venv.exists()


def test_the_windows_sdk_import_library_counts_as_the_loader(tmp_path: Path) -> None:
    """The LunarG SDK on Windows links against Lib\\vulkan-1.lib (VULKAN_SDK set), not
    libvulkan.so."""
    machine = Machine(tmp_path, headers="1.4.309", layer=True, loader=False)
    assert machine.check().packages == ["libvulkan-dev"]
    (machine.lib / "vulkan-1.lib").write_bytes(b"")
    assert machine.check().ok
