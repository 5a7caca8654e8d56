"""The child process that proves a llama.cpp CPU variant runs here (engine/cpu_backend.py).

    python -m engine.cpu_probe VARIANT_LIBRARY [MODEL.gguf] [--gpu GPU_LIBRARY]

Loads the variant, then, given a model, evaluates a short prompt in one batch and two
single tokens (the two kinds of matrix kernels). With --gpu it also loads a GPU backend
library (libggml-vulkan), which lists its devices as it loads. Prints one JSON line; exit 0
when it worked, 3 when llama.cpp says the CPU lacks what the variant needs, 4 when the GPU
library does not load (the reason on the last line). An instruction the CPU refuses, or a
driver that crashes, kills this process, not the app."""

from __future__ import annotations

import ctypes
import json
import sys

GPU_PROBE_FLAG = "--gpu"  # then the GPU backend library to load too
EXIT_GPU_REFUSED = 4  # the GPU library did not load (the reason on the last line)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m engine.cpu_probe VARIANT_LIBRARY [MODEL.gguf]", file=sys.stderr)
        return 2
    gpu = ""
    if GPU_PROBE_FLAG in argv:
        at = argv.index(GPU_PROBE_FLAG)
        gpu, argv = (argv[at + 1] if len(argv) > at + 1 else ""), argv[:at]
    variant, model = argv[0], (argv[1] if len(argv) > 1 else "")
    import llama_cpp

    from engine.cpu_backend import ggml_library

    lib = ggml_library(llama_cpp)
    if not lib.ggml_backend_load(variant.encode()):
        print(json.dumps({"ok": False, "reason": "unsupported"}))
        return 3
    devices = None
    if gpu:
        if not lib.ggml_backend_load(gpu.encode()):
            print(json.dumps({"ok": False, "reason": "gpu"}))
            print(_why_not_loaded(gpu), file=sys.stderr)
            return EXIT_GPU_REFUSED
        lib.ggml_backend_dev_count.restype = ctypes.c_size_t
        devices = int(lib.ggml_backend_dev_count())
    if model:
        llama = llama_cpp.Llama(model_path=model, n_ctx=64, n_batch=32, verbose=False)
        tokens = llama.tokenize(b"The capital of France is Paris, and the capital of")
        llama.eval(tokens)
        for token in tokens[-2:]:
            llama.eval([token])
        llama.close()
    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    print(json.dumps({"ok": True, "system_info": info, "devices": devices}))
    return 0


def _why_not_loaded(path: str) -> str:
    """The dynamic loader's reason (a missing libvulkan.so.1, say), else a general one."""
    try:
        ctypes.CDLL(path)
    except OSError as exc:
        return str(exc).splitlines()[0] if str(exc) else "the library does not load"
    return "no usable device or driver"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
