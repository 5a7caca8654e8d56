"""Portable llama.cpp: the CPU check, the choice of a CPU variant and its probe, the build
the suite runs on, and the app under emulated older CPUs (qemu-user)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from engine import cpu_backend
from engine.cpu_backend import VARIANT_REQUIRES, candidates, variant_files
from engine.cpu_features import BASELINE, CpuFeatures, read_cpu_features
from engine.errors import EngineError
from tests.conftest import REPO

QEMU = shutil.which("qemu-x86_64")
needs_qemu = pytest.mark.skipif(QEMU is None, reason="qemu-user is not installed "
                                "(.ci/run installs it with apt-get where it can)")
needs_x86 = pytest.mark.skipif(read_cpu_features() is None, reason="not an x86-64 CPU")

# /proc/cpuinfo's names for the features compared with our own CPUID reading.
PROC_NAMES = {"AVX": "avx", "AVX2": "avx2", "FMA": "fma", "F16C": "f16c", "BMI2": "bmi2",
              "SSE42": "sse4_2", "AVX512F": "avx512f", "AVX512BW": "avx512bw",
              "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16",
              "AVX_VNNI": "avx_vnni", "AVX512_VBMI": "avx512vbmi"}


def cpu_with(*flags: str) -> CpuFeatures:
    return CpuFeatures("GenuineIntel", "test CPU", 0x906EA, frozenset(flags))


# --------------------------------------------------------------- reading the CPU


@needs_x86
@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="Linux only")
def test_cpuid_agrees_with_the_kernel() -> None:
    """Our CPUID reading against the kernel's view of the same CPU, feature by feature."""
    text = Path("/proc/cpuinfo").read_text()
    proc = set(next(line for line in text.splitlines()
                    if line.startswith("flags")).split(":", 1)[1].split())
    features = read_cpu_features()
    assert features is not None
    for ours, theirs in PROC_NAMES.items():
        assert (ours in features.flags) == (theirs in proc), ours
    assert features.vendor in ("GenuineIntel", "AuthenticAMD", "HygonGenuine",
                               "CentaurHauls", "  Shanghai  ")


@needs_x86
def test_this_machine_meets_the_baseline() -> None:
    features = read_cpu_features()
    assert features is not None and features.missing() == []
    assert features.missing(("AVX2", "NOT_A_FEATURE")) == ["NOT_A_FEATURE"]


def test_the_suite_runs_the_portable_build() -> None:
    """The llama.cpp under test is built for the AVX2 baseline, not for this machine: no
    AVX-512, no AMX, whatever the CPU reports (packaging/llama_wheel.py, profile portable)."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    enabled = {name for name, on in
               (part.split(" = ") for part in info.replace("CPU :", "").split(" | ")
                if " = " in part) if on.strip() == "1"}
    if read_cpu_features() is not None:
        assert {"AVX", "AVX2", "FMA", "F16C", "BMI2"} <= enabled, info
    assert not {f for f in enabled if f.startswith(("AVX512", "AMX"))}, info


def test_portable_profile_flags_and_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(REPO / "packaging"))
    import llama_wheel

    flags = llama_wheel.profile_flags("portable")
    assert "-DGGML_NATIVE=OFF" in flags and "-DGGML_NATIVE=ON" not in flags
    if llama_wheel.is_x86_64():
        assert "-DGGML_AVX2=ON" in flags and "-DGGML_AMX_INT8=OFF" in flags
        assert "-DGGML_AVX512=OFF" in flags
    bundle = llama_wheel.profile_flags("bundle")
    assert "-DGGML_NATIVE=OFF" in bundle
    key = llama_wheel.cache_key("portable", sys.executable)
    assert key != llama_wheel.cache_key("bundle", sys.executable)
    # The flags are part of the key: another flag set never finds this wheel.
    monkeypatch.setattr(llama_wheel, "X86_BASELINE", ["-DGGML_AVX=ON"])
    monkeypatch.setattr(llama_wheel, "is_x86_64", lambda: True)
    assert llama_wheel.cache_key("portable", sys.executable) != key


# ------------------------------------------------------------ choosing a variant


def test_variant_files_are_found_by_name(tmp_path: Path) -> None:
    for name in ("libggml-cpu-haswell.so", "libggml-cpu-zen4.so", "ggml-cpu-icelake.dll",
                 "libggml-cpu.so", "libggml-base.so", "libllama.so", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    found = variant_files(tmp_path)
    assert sorted(found) == ["haswell", "icelake", "zen4"]
    assert found["zen4"].name == "libggml-cpu-zen4.so"
    assert variant_files(tmp_path / "missing") == {}


def test_candidates_follow_the_cpu_and_the_preference() -> None:
    shipped = {v: Path(f"libggml-cpu-{v}.so") for v in
               ("haswell", "alderlake", "skylakex", "icelake", "zen4", "sapphirerapids")}
    assert candidates(shipped, cpu_with(*VARIANT_REQUIRES["haswell"])) == ["haswell"]
    assert candidates(shipped, cpu_with(*VARIANT_REQUIRES["alderlake"])) == [
        "alderlake", "haswell"]
    zen4 = candidates(shipped, cpu_with(*VARIANT_REQUIRES["zen4"]))
    assert zen4[0] == "zen4" and zen4[-1] == "haswell" and "sapphirerapids" not in zen4
    amx = candidates(shipped, cpu_with(*VARIANT_REQUIRES["sapphirerapids"]))
    assert amx[0] == "sapphirerapids"
    assert candidates(shipped, cpu_with("SSE42", "AVX")) == []
    # Every variant llama.cpp builds for x86 is known, with the baseline in its needs.
    for needs in VARIANT_REQUIRES.values():
        assert set(BASELINE) <= set(needs)


# A probe child that dies on a real illegal instruction (ud2) for the variants named in
# CRASH, and reports success for the others: what a hypervisor that advertises AMX but
# faults on it does to the AMX variant.
FAKE_PROBE = r"""
import ctypes, json, mmap, os, sys
args = sys.argv[1:]
variant = os.path.basename(args[args.index("--gpu") + 1] if "--gpu" in args else args[0])
with open(os.environ["PROBE_LOG"], "a") as log:
    log.write(variant + "\n")
if any(name in variant for name in os.environ["CRASH"].split(",") if name):
    libc = ctypes.CDLL(None)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    page = libc.mmap(None, 4096, 7, 0x22, -1, 0)
    ctypes.memmove(page, b"\x0f\x0b", 2)  # ud2
    ctypes.CFUNCTYPE(None)(page)()
print(json.dumps({"ok": True}))
"""


@pytest.fixture
def fake_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "probed.txt"
    monkeypatch.setenv("PROBE_LOG", str(log))
    monkeypatch.setenv("CRASH", "")
    monkeypatch.setattr(cpu_backend, "probe_command",
                        lambda: [sys.executable, "-c", FAKE_PROBE])
    monkeypatch.setattr(cpu_backend, "_config", cpu_backend._Config(
        state_file=tmp_path / "cpu-backend.json", probe_model=None))
    return log


@pytest.mark.skipif(sys.platform == "win32", reason="the fake probe uses mmap/ud2 (POSIX)")
def test_a_variant_that_crashes_its_probe_is_skipped_and_remembered(
        tmp_path: Path, fake_probe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shipped = {}
    for name in ("haswell", "zen4", "sapphirerapids"):
        shipped[name] = tmp_path / f"libggml-cpu-{name}.so"
        shipped[name].write_bytes(name.encode())
    cpu = cpu_with(*VARIANT_REQUIRES["sapphirerapids"])
    monkeypatch.setenv("CRASH", "sapphirerapids")
    chosen, rejected = cpu_backend._choose(shipped, cpu)
    assert chosen == "zen4"
    assert list(rejected) == ["sapphirerapids"] and "SIGILL" in rejected["sapphirerapids"]
    assert fake_probe.read_text().split() == ["libggml-cpu-sapphirerapids.so",
                                              "libggml-cpu-zen4.so"]
    state = json.loads((tmp_path / "cpu-backend.json").read_text())
    assert state["variant"] == "zen4" and "sapphirerapids" in state["rejected"]

    # Next launch: the remembered choice, no probe at all (every probe would crash now).
    monkeypatch.setenv("CRASH", "haswell,zen4,sapphirerapids")
    fake_probe.unlink()
    assert cpu_backend._choose(shipped, cpu) == ("zen4", rejected)
    assert not fake_probe.exists()

    # New libraries (an update): probed again, and now nothing runs: one clear error.
    shipped["zen4"].write_bytes(b"a newer zen4 build")
    with pytest.raises(EngineError, match="none of the engine's CPU variants") as error:
        cpu_backend._choose(shipped, cpu)
    assert "haswell crashed" in str(error.value)


@pytest.mark.skipif(sys.platform == "win32", reason="the fake probe uses mmap/ud2 (POSIX)")
def test_a_gpu_backend_whose_probe_crashes_is_left_out_and_remembered(
        tmp_path: Path, fake_probe: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A GPU library (the installers' GPU variant) is loaded only after a child process
    loaded it: a crashing driver costs the child, and the app runs on the CPU."""
    import llama_cpp

    cpu = tmp_path / "libggml-cpu-haswell.so"
    cpu.write_bytes(b"cpu")
    gpus = {"vulkan": tmp_path / "libggml-vulkan.so"}
    gpus["vulkan"].write_bytes(b"vulkan")
    monkeypatch.setenv("CRASH", "vulkan")
    loaded, rejected = cpu_backend._load_gpu_backends(llama_cpp, cpu, gpus)
    assert loaded == () and list(rejected) == ["vulkan"] and "crashed" in rejected["vulkan"]
    assert fake_probe.read_text().split() == ["libggml-vulkan.so"]
    state = json.loads((tmp_path / "cpu-backend.json").read_text())
    assert state["gpu"]["rejected"] == rejected

    # Next launch: remembered, no probe.
    fake_probe.unlink()
    assert cpu_backend._load_gpu_backends(llama_cpp, cpu, gpus) == ((), rejected)
    assert not fake_probe.exists()

    # A new library: probed again; the probe passes here, but llama.cpp itself refuses a
    # file that is no library, and says so instead of crashing.
    monkeypatch.setenv("CRASH", "")
    gpus["vulkan"].write_bytes(b"a newer vulkan build")
    loaded, rejected = cpu_backend._load_gpu_backends(llama_cpp, cpu, gpus)
    assert loaded == () and rejected == {"vulkan": "llama.cpp could not load it"}
    assert fake_probe.read_text().split() == ["libggml-vulkan.so"]

    monkeypatch.setenv(cpu_backend.NO_GPU_ENV, "1")  # the escape hatch: no probe, no load
    fake_probe.unlink()
    assert cpu_backend._load_gpu_backends(llama_cpp, cpu, gpus) == (
        (), {"vulkan": "turned off (MINGJING_NO_GPU)"})
    assert not fake_probe.exists()
    assert cpu_backend._load_gpu_backends(llama_cpp, cpu, {}) == ((), {})


def test_gpu_backend_libraries_are_found_by_name(tmp_path: Path) -> None:
    for name in ("libggml-vulkan.so", "ggml-cuda.dll", "libggml-cpu-haswell.so",
                 "libggml-base.so", "libggml-vulkan.so.0", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert cpu_backend.gpu_backend_files(tmp_path) == {
        "vulkan": tmp_path / "libggml-vulkan.so", "cuda": tmp_path / "ggml-cuda.dll"}
    assert cpu_backend.gpu_backend_files(tmp_path / "missing") == {}


def test_a_cpu_below_every_shipped_variant_is_told_what_it_lacks(
        tmp_path: Path, fake_probe: Path) -> None:
    shipped = {"haswell": tmp_path / "libggml-cpu-haswell.so"}
    with pytest.raises(EngineError, match="lacks AVX2, FMA, F16C, BMI2"):
        cpu_backend._choose(shipped, cpu_with("SSE42", "AVX"))
    assert not fake_probe.exists()


def test_probe_exit_codes_read_as_one_line() -> None:
    assert "SIGILL" in cpu_backend._describe_exit(-4, "")
    assert cpu_backend._describe_exit(3, "") == "not supported by this CPU"
    assert cpu_backend._describe_exit(1, "x\nValueError: bad\n") == \
        "failed (exit 1: ValueError: bad)"
    assert cpu_backend._describe_exit(4, "{}\nlibvulkan.so.1: cannot open shared object file") \
        == "does not load here (libvulkan.so.1: cannot open shared object file)"


# ----------------------------------------------------------- the real libraries


def test_model_info_says_what_the_engine_runs_on(tmp_path: Path,
                                                 default_model_path: Path) -> None:
    env = {**os.environ, "MINGJING_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-m", "app", "model", "info", "--json",
                             str(default_model_path)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    engine = json.loads(result.stdout)["engine"]
    assert engine["variant"] is None  # the portable build links its one CPU backend
    if read_cpu_features() is not None:
        assert "AVX2" in engine["features"] and "AVX2 = 1" in engine["system_info"]
    text = subprocess.run([sys.executable, "-m", "app", "model", "info",
                           str(default_model_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120).stdout
    assert "engine" in text and "llama.cpp CPU:" in text


def _bundle_wheel(profile: str = "bundle") -> Path | None:
    sys.path.insert(0, str(REPO / "packaging"))
    import llama_wheel

    try:
        folder = llama_wheel.cache_dir() / llama_wheel.cache_key(profile, sys.executable)
    except SystemExit:  # bundle-vulkan without its build prerequisites: never built here
        return None
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    return wheels[0] if wheels else None


def _extract_libs(wheel: Path, into: Path) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.startswith("llama_cpp/lib/")]
        archive.extractall(into, names)
    return into / "llama_cpp" / "lib"


def _vulkan_device() -> bool:
    """A Vulkan device (a GPU, or Mesa's software lavapipe) is installed here."""
    tool = shutil.which("vulkaninfo")
    if tool is None:
        return False
    out = subprocess.run([tool, "--summary"], capture_output=True, text=True, timeout=60)
    return out.returncode == 0 and "deviceName" in out.stdout


@needs_x86
@pytest.mark.skipif(_bundle_wheel() is None,
                    reason="the bundle's multi-variant build is not in the wheel cache "
                           "(`packaging/llama_wheel.py wheel bundle`, ~20 min)")
def test_the_bundle_build_chooses_probes_and_runs_a_variant(
        tmp_path: Path, default_model_path: Path) -> None:
    """The installers' llama.cpp: no CPU backend linked in; the best variant this CPU
    supports is probed on the real model in a child process, loaded, and generates."""
    wheel = _bundle_wheel()
    assert wheel is not None
    lib_dir = _extract_libs(wheel, tmp_path)
    shipped = variant_files(lib_dir)
    assert "haswell" in shipped
    expected = candidates(shipped, read_cpu_features())[0]
    script = f"""
import json, sys
from pathlib import Path
from engine import cpu_backend
from engine.runtime import Engine
from engine.types import LoadParams, SamplingParams, FinishEvent
cpu_backend.configure(state_file=Path({str(tmp_path / 'state.json')!r}),
                      probe_model=lambda: Path({str(default_model_path)!r}))
engine = Engine.load({str(default_model_path)!r}, LoadParams(n_ctx=256))
tokens = engine.prompt_tokens("The capital of France is")
sampling = SamplingParams(temperature=0, max_tokens=4, repeat_penalty=1.0)
finish = [e for e in engine.generate(tokens, sampling) if isinstance(e, FinishEvent)][0]
print(json.dumps({{"build": engine.build.to_dict(), "reply": finish.text}}))
"""
    env = {**os.environ, "LLAMA_CPP_LIB_PATH": str(lib_dir)}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["build"]["variant"] == expected
    assert out["reply"].strip()
    assert json.loads((tmp_path / "state.json").read_text())["variant"] == expected
    if expected != "haswell":
        assert "AVX512 = 1" in out["build"]["system_info"]


GPU_BUNDLE_SCRIPT = """
import json, sys
from pathlib import Path
from engine import cpu_backend
from engine.runtime import Engine
from engine.types import LoadParams, SamplingParams, FinishEvent
cpu_backend.configure(state_file=Path(sys.argv[1]), probe_model=lambda: Path(sys.argv[2]))
engine = Engine.load(sys.argv[2], LoadParams(n_ctx=256, n_gpu_layers=-1))  # auto, as the app
tokens = engine.prompt_tokens("The capital of France is")
sampling = SamplingParams(temperature=0, max_tokens=4, repeat_penalty=1.0)
finish = [e for e in engine.generate(tokens, sampling) if isinstance(e, FinishEvent)][0]
print(json.dumps({"build": engine.build.to_dict(), "reply": finish.text,
                  "runs_on": engine.placement.where()}))
"""


@needs_x86
@pytest.mark.skipif(_bundle_wheel("bundle-vulkan") is None,
                    reason="the GPU bundle's build (bundle-vulkan) is not in the wheel cache "
                           "(`packaging/llama_wheel.py wheel bundle-vulkan`, ~35 min)")
def test_the_gpu_bundle_loads_vulkan_beside_the_cpu_variant_or_runs_without_it(
        tmp_path: Path, default_model_path: Path) -> None:
    """The GPU installer's llama.cpp: a CPU variant plus libggml-vulkan. With a Vulkan
    device the model goes there; turned off, or with a GPU library that does not load, the
    same bundle answers on the CPU and says why."""
    wheel = _bundle_wheel("bundle-vulkan")
    assert wheel is not None
    lib_dir = _extract_libs(wheel, tmp_path / "wheel")
    assert "vulkan" in cpu_backend.gpu_backend_files(lib_dir)
    assert "haswell" in variant_files(lib_dir)

    def run(name: str, **env: str) -> dict[str, object]:
        result = subprocess.run(
            [sys.executable, "-c", GPU_BUNDLE_SCRIPT, str(tmp_path / f"{name}.json"),
             str(default_model_path)], cwd=REPO, capture_output=True, text=True, timeout=900,
            env={**os.environ, "LLAMA_CPP_LIB_PATH": str(lib_dir),
                 # llama.cpp skips CPU-type Vulkan devices (lavapipe) unless they are named.
                 "GGML_VK_VISIBLE_DEVICES": "0", **env})
        assert result.returncode == 0, result.stderr[-2000:]
        out: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
        assert str(out["reply"]).strip()
        return out

    auto = run("auto")
    build = auto["build"]
    assert isinstance(build, dict)
    if _vulkan_device():
        assert build["gpu_backends"] == ["vulkan"] and build["gpu_rejected"] == {}
        assert str(auto["runs_on"]).startswith("Vulkan0")
    else:  # no device: loaded with nothing to offer, or left out with a reason
        assert "vulkan" in build["gpu_backends"] or build["gpu_rejected"]["vulkan"]
        assert "Vulkan" not in str(auto["runs_on"])
    state = json.loads((tmp_path / "auto.json").read_text())
    assert state["gpu"]["rejected"] == build["gpu_rejected"]

    off = run("off", MINGJING_NO_GPU="1")
    assert off["build"] == {**build, "gpu_backends": [],
                            "gpu_rejected": {"vulkan": "turned off (MINGJING_NO_GPU)"}}
    assert "Vulkan" not in str(off["runs_on"])

    (lib_dir / "libggml-vulkan.so").write_bytes(b"not a library")  # a broken install
    broken = run("broken")["build"]
    assert isinstance(broken, dict) and broken["gpu_backends"] == []
    assert broken["gpu_rejected"]["vulkan"].startswith("does not load here (")


# ------------------------------------------------------ emulated older CPUs


def _under(cpu: str, *args: str, home: Path,
           timeout: int = 600) -> subprocess.CompletedProcess[str]:
    assert QEMU is not None
    env = {**os.environ, "MINGJING_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([QEMU, "-cpu", cpu, sys.executable, "-m", "app", *args], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=timeout)
    # qemu's own notes about CPU flags its emulator leaves out are not the app's output.
    result.stderr = "\n".join(line for line in result.stderr.splitlines()
                              if "warning: TCG doesn't support" not in line)
    return result


@needs_x86
@needs_qemu
@pytest.mark.parametrize(("cpu", "missing"), [
    ("Nehalem", "AVX, AVX2, FMA, F16C, BMI2"),
    ("SandyBridge", "AVX2, FMA, F16C, BMI2"),
])
def test_a_cpu_below_the_baseline_gets_one_line_not_sigill(
        cpu: str, missing: str, tmp_path: Path) -> None:
    result = _under(cpu, "ask", "--max-tokens", "4", "The capital of France is",
                    home=tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"lacks {missing}," in result.stderr and "Traceback" not in result.stderr


@needs_x86
@needs_qemu
@pytest.mark.slow
def test_the_portable_build_answers_on_an_emulated_haswell(
        tmp_path: Path, default_model_path: Path) -> None:
    """A 2013 CPU (AVX2, no AVX-512): the whole `ask` runs (about 25 s emulated)."""
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    os.link(default_model_path, home / "models" / default_model_path.name)
    result = _under("Haswell", "ask", "--model", "gemma-3-270m", "--max-tokens", "2",
                    "--temperature", "0", "--repeat-penalty", "1", "The capital of France is",
                    home=home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(" the capital")


def test_ud2_really_is_an_illegal_instruction() -> None:
    """The fake probe's crash is a real SIGILL, as a refused AMX instruction gives."""
    if sys.platform == "win32":
        pytest.skip("POSIX only")
    code = FAKE_PROBE
    env = {**os.environ, "PROBE_LOG": os.devnull, "CRASH": "x"}
    result = subprocess.run([sys.executable, "-c", code, "libggml-cpu-x.so"], env=env,
                            capture_output=True, timeout=60)
    assert result.returncode == -4
