"""The model commands of the CLI: `model info`, `model list`, `model devices`, `tokens` and
`compare`.

Errors are not caught here: they take the CLI's one error path (app/cli_errors.py)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.cli import cli_settings, interrupt_after
from app.cli_args import number, path_arg, read_input, text
from app.cli_output import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, InputError, print_json
from app.paths import AppPaths
from engine.errors import EngineError
from models.refs import ModelRef

MODEL_HELP = ("a built-in model id (qwen2.5-coder-0.5b-instruct, gemma-3-270m), "
              "builtin:ID, or a GGUF file")
GPU_LAYERS_HELP = "layers on the GPU: -1 as many as fit (planned), 0 none, N exactly N"
DEVICE_HELP = ("the GPU to use: auto (the one with the most free memory), cpu, or a name "
               "from `mingjing model devices` such as Vulkan0")


def device_arg(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 64 or not value.isprintable():
        raise argparse.ArgumentTypeError("not a device name (auto, cpu, or e.g. Vulkan0)")
    return value


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """How a model is loaded, for the commands that load one (ask, serve): context size,
    threads, GPU layers, device, chat format."""
    parser.add_argument("--ctx", type=number("n_ctx"), metavar="N",
                        help="context window size in tokens")
    parser.add_argument("--threads", type=number("n_threads"), metavar="N")
    parser.add_argument("--gpu-layers", type=number("n_gpu_layers"), metavar="N",
                        help=GPU_LAYERS_HELP)
    parser.add_argument("--device", metavar="NAME", type=device_arg, help=DEVICE_HELP)
    parser.add_argument("--template", choices=("auto", "completion", "gemma", "chatml"),
                        help="chat format: the model's own (auto), plain continuation, or a "
                             "built-in one")


def parse_ref(text: str | None, paths: AppPaths) -> ModelRef:
    """A reference from the command line, else the model chosen in the window (by default
    the built-in chat model)."""
    if text is not None:
        return ModelRef.parse(text)
    return cli_settings(paths).model_ref


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    tokens = sub.add_parser("tokens", parents=[common], help="show how a text becomes tokens")
    model_name = path_arg("the model")
    tokens.add_argument("text", metavar="TEXT", type=text("the text"),
                        help="the text; '-' reads standard input")
    tokens.add_argument("--model", action="append", metavar="MODEL", type=model_name,
                        help=f"{MODEL_HELP}; twice to compare two tokenizers "
                             "(default: the model chosen in the window)")
    tokens.add_argument("--json", action="store_true")

    compare = sub.add_parser(
        "compare", parents=[common],
        help="one prompt to the base and the instruction-tuned built-in models")
    compare.add_argument("prompt", metavar="PROMPT", type=text("the prompt"),
                         help="the prompt; '-' reads standard input")
    compare.add_argument("--model", action="append", metavar="MODEL", type=model_name,
                         help=f"{MODEL_HELP} (repeatable; default: the two built-in models)")
    compare.add_argument("--max-tokens", type=number("max_tokens"), default=96, metavar="N")
    compare.add_argument("--temperature", type=number("temperature"), default=0.0, metavar="T")
    compare.add_argument("--json", action="store_true")

    model = sub.add_parser("model", parents=[common], help="models")
    model_sub = model.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)
    info = model_sub.add_parser("info", parents=[common],
                                help="a model's metadata, read without loading its weights")
    info.add_argument("path", nargs="?", metavar="MODEL", type=model_name,
                      help=f"{MODEL_HELP} (default: the model chosen in the window)")
    info.add_argument("--json", action="store_true")
    listing = model_sub.add_parser("list", parents=[common],
                                   help="the built-in models and recently opened files")
    listing.add_argument("--json", action="store_true")
    devices = model_sub.add_parser(
        "devices", parents=[common],
        help="the devices llama.cpp sees and where a model would run (nothing is loaded)")
    devices.add_argument("path", nargs="?", metavar="MODEL", type=model_name,
                         help=f"{MODEL_HELP} (default: the model chosen in the window)")
    devices.add_argument("--ctx", type=number("n_ctx"), metavar="N",
                         help="context window size in tokens")
    devices.add_argument("--gpu-layers", type=number("n_gpu_layers"), metavar="N",
                         help=GPU_LAYERS_HELP)
    devices.add_argument("--device", metavar="NAME", type=device_arg, help=DEVICE_HELP)
    devices.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, paths: AppPaths) -> int:
    if args.command == "tokens":
        return cmd_tokens(args, paths)
    if args.command == "compare":
        return cmd_compare(args, paths)
    if args.model_command == "list":
        return cmd_model_list(args, paths)
    if args.model_command == "devices":
        return cmd_model_devices(args, paths)
    return cmd_model_info(args, paths)


def model_info_dict(info: Any) -> dict[str, Any]:
    return {
        "path": str(info.path),
        "name": info.name,
        "architecture": info.architecture,
        "parameter_count": info.parameter_count,
        "quantization": info.quantization,
        "file_type": info.file_type,
        "bits_per_weight": info.bits_per_weight,
        "file_size": info.file_size,
        "context_length": info.context_length,
        "embedding_length": info.embedding_length,
        "block_count": info.block_count,
        "vocab_size": info.vocab_size,
        "has_chat_template": info.has_chat_template,
        "is_base_model": info.is_base_model,
        "special_tokens": [
            {"name": t.name, "id": t.id, "text": t.text} for t in info.special_tokens
        ],
    }


def engine_summary(build: Any) -> str:
    """`llama.cpp CPU variant zen4: AVX AVX2 ...` or, for a build with one CPU backend,
    `llama.cpp CPU: AVX AVX2 ...`."""
    features = " ".join(build.features) or "no SIMD extensions"
    if build.variant:
        return f"llama.cpp CPU variant {build.variant}: {features}"
    return f"llama.cpp CPU: {features}"


def cmd_model_info(args: argparse.Namespace, paths: AppPaths) -> int:
    from engine.cpu_backend import ensure_loaded
    from engine.gguf import read_model_info
    from models.open import local_path

    ref = parse_ref(args.path, paths)
    with interrupt_after():
        info = read_model_info(local_path(ref, paths.models_dir))
        build = ensure_loaded()  # what llama.cpp will run on: its CPU variant and features
    builtin = ref.builtin_model
    if args.json:
        data = model_info_dict(info)
        data["ref"] = str(ref)
        data["engine"] = build.to_dict()
        if builtin is not None:
            data["builtin"] = {"id": builtin.id, "kind": builtin.kind,
                               "license": builtin.license, "packages": list(builtin.packages),
                               "sha256": builtin.sha256, "provenance": builtin.provenance}
        print_json(data, indent=2)
        return EXIT_OK
    rows = [
        ("model", str(ref)),
        ("file", str(info.path)),
        ("name", info.name),
        ("architecture", info.architecture),
        ("parameters", f"{info.parameter_count:,}"),
        ("quantization", f"{info.quantization} ({info.bits_per_weight:.2f} bits per weight)"),
        ("file size", f"{info.file_size / 1e6:,.1f} MB"),
        ("trained context", str(info.context_length)),
        ("chat template", "yes" if info.has_chat_template else "none (base model: continues text)"),
        ("special tokens", ", ".join(f"{t.name}={t.id} {t.text or ''}".strip()
                                     for t in info.special_tokens)),
    ]
    if builtin is not None:
        rows += [("licence", builtin.license), ("source", builtin.provenance)]
    rows += [("engine", engine_summary(build)), ("cpu", build.cpu or "unknown"),
             ("llama.cpp", build.system_info)]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return EXIT_OK


def cmd_model_devices(args: argparse.Namespace, paths: AppPaths) -> int:
    from dataclasses import asdict

    from engine.devices import list_devices
    from engine.gguf import read_model_info
    from engine.placement import choose
    from models.open import local_path

    settings = cli_settings(paths)
    ref = parse_ref(args.path, paths)
    load = settings.load_params()
    load.device = settings.device_for(str(ref))
    for name, value in (("n_ctx", args.ctx), ("n_gpu_layers", args.gpu_layers),
                        ("device", args.device)):
        if value is not None:
            setattr(load, name, value)
    with interrupt_after():
        info = read_model_info(local_path(ref, paths.models_dir))
        devices = list_devices()
    n_ctx = min(load.n_ctx, info.context_length or load.n_ctx)
    placement = choose(info, n_ctx, load, devices)
    loaded, left_out = _gpu_backends()
    if args.json:
        plan = placement.plan
        print_json({"devices": [asdict(d) for d in devices], "model": str(ref),
                    "n_ctx": n_ctx, "runs_on": placement.where(),
                    "n_gpu_layers": placement.n_gpu_layers,
                    "plan": None if plan is None else {
                        "n_gpu_layers": plan.n_gpu_layers, "layers_total": plan.layers_total,
                        "device": plan.device_name, "device_bytes": plan.device_bytes,
                        "host_bytes": plan.host_bytes, "free_bytes": plan.free_bytes,
                        "reason": plan.reason},
                    "notice": placement.notice,
                    "gpu_backends": loaded, "gpu_left_out": left_out}, indent=2)
        return EXIT_OK
    for device in devices:
        print(f"{device.name:<10} {device.kind:<5} {device.backend:<8} "
              f"{device.free_bytes / 2**30:6.1f} GiB free of {device.total_bytes / 2**30:.1f}"
              f"  {device.description}")
    for backend, why in left_out.items():
        print(f"the {backend} backend is left out: {why}")
    if not any(d.is_gpu for d in devices):
        if loaded:
            print(f"the {', '.join(loaded)} backend sees no GPU (is the GPU's driver "
                  "installed?)")
        elif not left_out:
            print("no GPU: this llama.cpp build runs on the CPU (a GPU build: `make gpu`)")
    print(f"{info.name} at {n_ctx:,} tokens: {placement.describe()}")
    if placement.notice:
        print(placement.notice)
    return EXIT_OK


def _gpu_backends() -> tuple[list[str], dict[str, str]]:
    """The GPU backends a bundle loaded, and those it ships but this machine cannot use,
    with the reason."""
    from engine.cpu_backend import loaded_build

    build = loaded_build()
    if build is None:
        return [], {}
    return list(build.gpu_backends), dict(build.gpu_rejected)


def cmd_model_list(args: argparse.Namespace, paths: AppPaths) -> int:
    from models.builtin import BUILTIN_MODELS

    settings = cli_settings(paths)
    chosen = str(settings.model_ref)
    rows: list[dict[str, Any]] = [
        {"ref": str(ModelRef.builtin(m)), "name": m.label, "kind": m.kind,
         "parameters": m.parameters, "quantization": m.quantization, "size": m.size,
         "license": m.license, "chosen": str(ModelRef.builtin(m)) == chosen}
        for m in BUILTIN_MODELS
    ]
    for recent in settings.recent_models:
        try:
            ref = ModelRef.parse(recent)
        except (EngineError, ValueError, OSError):  # a hand-edited entry: not a reference
            continue
        rows.append({"ref": str(ref), "name": ref.display_name, "kind": "file",
                     "chosen": str(ref) == chosen})
    if args.json:
        print_json(rows, indent=2)
        return EXIT_OK
    for row in rows:
        mark = "*" if row["chosen"] else " "
        detail = (f"{row['kind']}, {row['parameters']} {row['quantization']}, "
                  f"{row['size'] / 1e6:,.0f} MB, {row['license']}" if "size" in row
                  else "file")
        print(f"{mark} {row['ref']}  ({row['name']}: {detail})")
    return EXIT_OK


def cmd_tokens(args: argparse.Namespace, paths: AppPaths) -> int:
    from app.compare import tokenize_with

    text = read_input(args.text, "the text")
    refs = [parse_ref(m, paths) for m in args.model] if args.model else [parse_ref(None, paths)]
    with interrupt_after():  # the tokenizers load here
        results = tokenize_with(text, refs, paths.models_dir)
    if args.json:
        rows = [{
            "model": str(r.ref), "name": r.name, "count": r.count,
            "tokens": [{"id": s.token_id, "piece": s.text} for s in r.spans],
            "chars_per_token": round(r.chars_per_token, 3),
        } for r in results]
        print_json(rows[0] if len(rows) == 1 else {"models": rows, "characters": len(text)})
        return EXIT_OK
    for r in results:
        if len(results) > 1:
            print(f"== {r.name} ({r.ref}, vocabulary {r.vocab_size:,})")
        print(" | ".join(s.text for s in r.spans))
        print(f"{r.count} tokens for {len(text)} characters "
              f"({r.chars_per_token:.2f} characters per token)")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace, paths: AppPaths) -> int:
    import signal
    import threading

    from app.compare import BASE_VS_INSTRUCT, DEFAULT_PAIR, ModelReply, compare_replies
    from engine.types import SamplingParams

    prompt = read_input(args.prompt, "the prompt")
    if not prompt.strip():
        raise InputError("the prompt is empty")
    refs = [parse_ref(m, paths) for m in args.model] if args.model else list(DEFAULT_PAIR)
    sampling = SamplingParams(temperature=args.temperature, max_tokens=args.max_tokens,
                              seed=0)
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    replies: dict[int, ModelReply] = {}
    failed = False
    try:
        if not args.json:
            print(BASE_VS_INSTRUCT + "\n")
        for event in compare_replies(prompt, paths.models_dir, refs, sampling=sampling,
                                     cancel=cancel):
            replies[event.index] = event.reply
            if event.kind == "error":
                failed = True
            if args.json:
                continue
            if event.kind == "start":
                kind = "chat template" if event.reply.mode == "chat" else \
                    "base model: no template, the text is continued"
                print(f"== {event.reply.name} ({kind})")
                print(f"-- prompt ({len(event.reply.prompt_tokens)} tokens):")
                print(event.reply.prompt)
                print("-- reply:")
            elif event.kind == "piece":
                sys.stdout.write(event.text)
                sys.stdout.flush()
            elif event.kind == "done":
                print("\n")
            elif event.kind == "error":
                ref = event.reply.ref
                # A model file's errors start with its path already.
                where = "" if event.text.startswith(ref.value) else f"{ref}: "
                print(f"mingjing: {where}{event.text}", file=sys.stderr)
                if event.reply.prompt:  # the column was started: close it
                    print("\n")
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        print_json({
            "prompt": prompt,
            "explanation": BASE_VS_INSTRUCT,
            "models": [{
                "model": str(r.ref), "name": r.name, "mode": r.mode, "prompt": r.prompt,
                "prompt_tokens": len(r.prompt_tokens), "reply": r.text,
                "stats": r.stats.to_dict() if r.stats else None, "error": r.error or None,
            } for _, r in sorted(replies.items())],
        })
    if cancel.is_set():
        return EXIT_INTERRUPTED
    return EXIT_FAILED if failed else EXIT_OK
