"""The child process that proves a llama.cpp CPU variant runs here (engine/cpu_backend.py).

    python -m engine.cpu_probe VARIANT_LIBRARY [MODEL.gguf]

Loads the variant, then, given a model, evaluates a short prompt in one batch and two
single tokens (the two kinds of matrix kernels). Prints one JSON line; exit 0 when it
worked, 3 when llama.cpp says the CPU lacks what the variant needs. An instruction the CPU
refuses kills this process, not the app."""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m engine.cpu_probe VARIANT_LIBRARY [MODEL.gguf]", file=sys.stderr)
        return 2
    variant, model = argv[0], (argv[1] if len(argv) > 1 else "")
    import llama_cpp

    from engine.cpu_backend import ggml_library

    if not ggml_library(llama_cpp).ggml_backend_load(variant.encode()):
        print(json.dumps({"ok": False, "reason": "unsupported"}))
        return 3
    if model:
        llama = llama_cpp.Llama(model_path=model, n_ctx=64, n_batch=32, verbose=False)
        tokens = llama.tokenize(b"The capital of France is Paris, and the capital of")
        llama.eval(tokens)
        for token in tokens[-2:]:
            llama.eval([token])
        llama.close()
    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    print(json.dumps({"ok": True, "system_info": info}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
