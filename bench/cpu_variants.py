"""llama.cpp CPU builds on this machine: the bundle's CPU variants and the portable build
against a native one (-march=native, the best build that runs here). Same model, same
threads, same run.

    python -m bench.cpu_variants [MODEL.gguf ...]
    BENCH_ROUNDS=5 BENCH_VARIANTS=haswell,zen4 python -m bench.cpu_variants ...

The three builds come from packaging/llama_wheel.py's wheel cache (profiles bundle,
portable, native; each is built on first use, ~8-20 minutes on 2 cores). Every
configuration runs in a process of its own (a process holds one llama.cpp), and the rounds
alternate over all configurations so that machine noise hits each alike. Prompt evaluation
is one batch of PP_TOKENS tokens from a cleared cache; decode is TG_TOKENS greedy tokens
after a short prompt (first token excluded)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

PP_TOKENS = 256
TG_TOKENS = 64
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
TEXT = ("The river begins in the mountains, where snow melts each spring and runs down "
        "through forests of pine and birch. 河流发源于山中，每年春天积雪融化，流经松树和桦树林。")


def lib_dir_of(profile: str, into: Path) -> Path:
    """Unpack the cached wheel of `profile` (building it if needed) and return its libs."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "packaging"))
    import llama_wheel

    wheel = llama_wheel.ensure_wheel(profile, sys.executable)
    target = into / profile
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith("llama_cpp/lib/"):
                archive.extract(name, target)
    return target / "llama_cpp" / "lib"


def child(lib_dir: str, variant: str, model: str, n_threads: int) -> None:
    """Runs in the measured process (LLAMA_CPP_LIB_PATH=lib_dir): one line of JSON."""
    import llama_cpp

    from engine.cpu_backend import ggml_library

    lib = ggml_library(llama_cpp)
    if variant and not lib.ggml_backend_load(str(Path(lib_dir) / variant).encode()):
        print(json.dumps({"error": "unsupported"}))
        return
    llama = llama_cpp.Llama(model_path=model, n_ctx=1024, n_batch=512, n_threads=n_threads,
                            n_threads_batch=n_threads, swa_full=True, verbose=False)
    tokens = llama.tokenize((TEXT * 40).encode(), add_bos=True)[:PP_TOKENS]
    llama.eval(tokens[:16])  # warm-up: page the weights in
    llama.reset()
    llama._ctx.kv_cache_clear()
    t0 = time.perf_counter()
    llama.eval(tokens)
    pp = len(tokens) / (time.perf_counter() - t0)
    llama.reset()
    llama._ctx.kv_cache_clear()
    stamps = []
    for _ in llama.generate(tokens[:8], temp=0.0, repeat_penalty=1.0):
        stamps.append(time.perf_counter())
        if len(stamps) == TG_TOKENS:
            break
    tg = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    info = llama_cpp.llama_print_system_info().decode()
    llama.close()
    print(json.dumps({"pp": pp, "tg": tg, "system_info": info}))


def run_config(lib_dir: Path, variant: str, model: Path, n_threads: int) -> dict[str, float]:
    env = dict(os.environ, LLAMA_CPP_LIB_PATH=str(lib_dir))
    out = subprocess.run(
        [sys.executable, "-m", "bench.cpu_variants", "--child", str(lib_dir), variant,
         str(model), str(n_threads)],
        capture_output=True, text=True, env=env, timeout=900)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"error": f"exit {out.returncode}: {out.stderr.strip()[-200:]}"}  # type: ignore[dict-item]
    return json.loads(lines[-1])


def main(models: list[Path] | None = None) -> dict[str, dict[str, float]]:
    from bench.common import model_path, report, threads
    from engine.cpu_backend import PREFERENCE, candidates, variant_files
    from engine.cpu_features import read_cpu_features

    n_threads = threads()
    models = models or [model_path()]
    cpu = read_cpu_features()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mj-cpu-bench-") as tmp:
        libs = {p: lib_dir_of(p, Path(tmp)) for p in ("native", "portable", "bundle")}
        shipped = variant_files(libs["bundle"])
        runnable = candidates(shipped, cpu)
        configs: list[tuple[str, Path, str]] = [("native", libs["native"], ""),
                                                ("portable", libs["portable"], "")]
        only = [v for v in os.environ.get("BENCH_VARIANTS", "").split(",") if v]
        configs += [(f"bundle:{v}", libs["bundle"], shipped[v].name)
                    for v in reversed(runnable) if not only or v in only]
        not_here = [v for v in PREFERENCE if v in shipped and v not in runnable]
        for model in models:
            samples: dict[str, dict[str, list[float]]] = {
                name: {"pp": [], "tg": []} for name, _, _ in configs}
            for _ in range(ROUNDS):
                for name, lib, variant in configs:
                    result = run_config(lib, variant, model, n_threads)
                    if "error" in result:
                        samples[name].setdefault("error", [])  # type: ignore[arg-type]
                        print(f"  {name}: {result['error']}", file=sys.stderr)
                        continue
                    samples[name]["pp"].append(result["pp"])
                    samples[name]["tg"].append(result["tg"])
            base = samples["native"]
            base_pp = statistics.median(base["pp"]) if base["pp"] else float("nan")
            base_tg = statistics.median(base["tg"]) if base["tg"] else float("nan")
            rows = []
            for name, _, _ in configs:
                s = samples[name]
                if not s["pp"]:
                    rows.append((name, "failed"))
                    continue
                pp, tg = statistics.median(s["pp"]), statistics.median(s["tg"])
                results[f"{model.name}:{name}"] = {"pp": pp, "tg": tg}
                rows.append((name, f"prompt {pp:7.1f} tok/s ({pp / base_pp:.2f}x)   "
                                   f"decode {tg:6.1f} tok/s ({tg / base_tg:.2f}x)   "
                                   f"pp {[round(x) for x in s['pp']]} "
                                   f"tg {[round(x, 1) for x in s['tg']]}"))
            if not_here:
                rows.append(("not runnable here", ", ".join(not_here)))
            report(f"llama.cpp CPU builds, {model.name} ({PP_TOKENS}-token prompt, "
                   f"{TG_TOKENS} decoded, {n_threads} threads, median of {ROUNDS}; "
                   f"ratios vs native; CPU {cpu.brand if cpu else '?'})", rows)
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main([Path(a) for a in sys.argv[1:]] or None)
    sys.exit(0)
