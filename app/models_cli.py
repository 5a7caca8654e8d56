"""`mingjing models list|search|pull|rm`: the library, the catalog with fit labels,
resumable verified downloads (progress on stderr) and removal of downloaded files."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any

from app.cli import cli_settings
from app.cli_args import number, text
from app.cli_output import EXIT_OK, InputError, print_json
from app.paths import AppPaths

FIT_WORDS = {"fits": "fits", "tight": "tight", "too_big": "too big"}


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    models = sub.add_parser("models", parents=[common],
                            help="get more models: the catalog, downloads, the library")
    msub = models.add_subparsers(dest="models_command", metavar="SUBCOMMAND", required=True)
    listing = msub.add_parser("list", parents=[common],
                              help="the models on this computer (built-in, downloaded, "
                                   "opened, other apps')")
    listing.add_argument("--json", action="store_true")
    search = msub.add_parser("search", parents=[common],
                             help="the catalog, with whether each model fits this computer")
    search.add_argument("query", nargs="?", default="", type=text("the query"),
                        metavar="QUERY", help="words to look for (default: everything)")
    search.add_argument("--ctx", type=number("n_ctx"), metavar="N",
                        help="context size for the fit check (default: Settings)")
    search.add_argument("--refresh", metavar="URL", type=text("the catalog address"),
                        help="fetch a newer catalog from URL first")
    search.add_argument("--json", action="store_true")
    pull = msub.add_parser("pull", parents=[common],
                           help="download a catalog model (resumes; verified by sha256)")
    pull.add_argument("name", metavar="NAME", type=text("the model name", empty=False),
                      help="a catalog id (see `models search`), or a file name with --url")
    pull.add_argument("--source", choices=("auto", "hf", "mirror", "modelscope"),
                      help="where from first (default: Settings; auto: by language, "
                           "ModelScope and the mirror first in Chinese); the others follow")
    pull.add_argument("--url", type=text("the address"), metavar="URL",
                      help="download NAME from this address instead of the catalog's")
    pull.add_argument("--sha256", type=text("the sha256"), metavar="HEX",
                      help="with --url: the file's sha256, checked before it is kept")
    pull.add_argument("--json", action="store_true")
    rm = msub.add_parser("rm", parents=[common],
                         help="delete a downloaded model (or an unfinished download)")
    rm.add_argument("name", metavar="NAME", type=text("the model name", empty=False),
                    help="a catalog id or a file name in the models folder")
    rm.add_argument("--json", action="store_true")


def run(args: argparse.Namespace, paths: AppPaths) -> int:
    command = args.models_command
    if command == "list":
        return cmd_list(args, paths)
    if command == "search":
        return cmd_search(args, paths)
    if command == "pull":
        return cmd_pull(args, paths)
    return cmd_rm(args, paths)


def _language() -> str:
    lang = os.environ.get("LANGUAGE") or os.environ.get("LC_ALL") or \
        os.environ.get("LANG") or ""
    return "zh" if lang.lower().startswith("zh") else "en"


def _gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def cmd_list(args: argparse.Namespace, paths: AppPaths) -> int:
    from models.download import pending
    from models.library import library

    settings = cli_settings(paths)
    items = library(paths.models_dir, settings.recent_models, settings.last_used)
    partial = pending(paths.models_dir)
    if args.json:
        print_json({"models": [{
            "ref": str(i.ref), "name": i.name, "path": str(i.path) if i.path else None,
            "size": i.size, "quantization": i.quantization, "origin": i.origin,
            "last_used": i.last_used,
            "deletable": i.deletable} for i in items],
            "unfinished": [{"file": p.get("file"), "done": p.get("done"),
                            "size": p.get("size")} for p in partial]}, indent=2)
        return EXIT_OK
    for i in items:
        used = time.strftime("%Y-%m-%d", time.localtime(i.last_used)) if i.last_used else "-"
        print(f"{i.name[:48]:<48} {_gb(i.size):>9}  {i.quantization or '-':<8} "
              f"{i.origin:<10} {used}")
    for p in partial:
        size = p.get("size") or 0
        done = p.get("done") or 0
        share = f"{100 * done / size:.0f} %" if size else _gb(done)
        print(f"{str(p.get('file'))[:48]:<48} {share:>9}  unfinished (`models pull` resumes)")
    return EXIT_OK


def cmd_search(args: argparse.Namespace, paths: AppPaths) -> int:
    from models.catalog import load_catalog, update_catalog
    from models.fit import check_fit, offloaded_share, system_memory

    settings = cli_settings(paths)
    catalog = (update_catalog(args.refresh, paths.root) if args.refresh
               else load_catalog(paths.root))
    n_ctx = int(args.ctx or settings.n_ctx)
    share = offloaded_share(settings.n_gpu_layers)
    memory = system_memory(gpu=share > 0)
    entries = catalog.search(args.query)
    have = {p.name for p in paths.models_dir.glob("*.gguf")} if paths.models_dir.is_dir() \
        else set()
    rows = []
    for e in entries:
        fit = check_fit(e.size, e.kv_per_token, min(n_ctx, e.context_length), memory,
                        gpu_layers_share=share)
        rows.append((e, fit))
    lang = _language()
    if args.json:
        print_json({"catalog": {"version": catalog.version, "updated": catalog.updated,
                                "origin": catalog.origin},
                    "memory": {"total": memory.total, "available": memory.available},
                    "n_ctx": n_ctx,
                    "models": [{"id": e.id, "name": e.name, "file": e.file, "size": e.size,
                                "sha256": e.sha256, "parameters": e.parameters,
                                "quantization": e.quantization, "kind": e.kind,
                                "context_length": e.context_length, "licence": e.licence,
                                "languages": list(e.languages),
                                "description": e.describe(lang),
                                "downloaded": e.file in have,
                                "fit": fit.verdict, "need": fit.need,
                                "fit_explained": fit.explain()} for e, fit in rows]},
                   indent=2)
        return EXIT_OK
    if not rows:
        print(f"nothing in the catalog matches {args.query!r}", file=sys.stderr)
        return EXIT_OK
    for e, fit in rows:
        mark = " (downloaded)" if e.file in have else ""
        print(f"{e.id:<40} {e.parameters.split()[0]:>5} {e.quantization:<7} "
              f"{_gb(e.size):>8}  {FIT_WORDS[fit.verdict]:<7}{mark}")
        print(f"    {e.describe(lang)}")
    print(f"fit at {n_ctx:,} tokens of context, {memory.available / 2**30:.1f} GiB free of "
          f"{memory.total / 2**30:.1f} GiB", file=sys.stderr)
    return EXIT_OK


def _request(args: argparse.Namespace, paths: AppPaths) -> Any:
    from models.catalog import CatalogError, load_catalog
    from models.download import DownloadError, Request, Source
    from models.sources import catalog_request

    settings = cli_settings(paths)
    if args.url:
        if args.source:
            raise InputError("--source and --url name two different places: choose one")
        try:
            return Request(args.name, [Source("url", args.url)], sha256=args.sha256)
        except DownloadError as exc:
            raise InputError(str(exc)) from None
    if args.sha256:
        raise InputError("--sha256 goes with --url (catalog models carry their own)")
    try:
        entry = load_catalog(paths.root).get(args.name)
    except CatalogError as exc:
        raise InputError(str(exc)) from None
    return catalog_request(entry, args.source or settings.download_source,
                           settings.mirror_endpoint, settings.hf_token)


def cmd_pull(args: argparse.Namespace, paths: AppPaths) -> int:
    import signal

    from models.download import DownloadCancelled, Progress, download

    request = _request(args, paths)
    cancel = threading.Event()
    tty = sys.stderr.isatty()
    shown = {"at": 0.0, "tenth": -1}

    def progress(p: Progress) -> None:
        now = time.monotonic()
        if p.state == "retrying":
            print(("\n" if tty else "") + f"mingjing: {p.source}: {p.note}; retrying",
                  file=sys.stderr)
            return
        if p.state != "downloading":
            return
        if tty:
            if now - shown["at"] < 0.2:
                return
            shown["at"] = now
            eta = p.eta_s
            left = f"{eta:.0f} s left" if eta is not None else ""
            print(f"\r{p.file}: {100 * p.fraction:5.1f} %  {p.done / 1e6:,.0f}/"
                  f"{p.total / 1e6:,.0f} MB  {p.speed / 1e6:.1f} MB/s  {left}   ",
                  end="", file=sys.stderr, flush=True)
        else:
            tenth = int(10 * p.fraction)
            if tenth != shown["tenth"]:
                shown["tenth"] = tenth
                print(f"{p.file}: {10 * tenth} % ({p.source})", file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        try:
            path = download(request, paths.models_dir, progress=progress, cancel=cancel)
        except DownloadCancelled:
            if tty:
                print(file=sys.stderr)
            print("mingjing: stopped; what was downloaded is kept (run the same command to "
                  "resume)", file=sys.stderr)
            return 130
    finally:
        signal.signal(signal.SIGINT, previous)
        if tty:
            print(file=sys.stderr)
    if args.json:
        print_json({"file": request.file, "path": str(path), "size": path.stat().st_size,
                    "sha256": request.sha256})
    else:
        print(path)
    return EXIT_OK


def cmd_rm(args: argparse.Namespace, paths: AppPaths) -> int:
    from models.catalog import CatalogError, load_catalog
    from models.download import discard, partial_paths

    name = args.name
    try:
        name = load_catalog(paths.root).get(name).file
    except CatalogError:
        pass
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InputError("give a model's file name in the models folder, not a path")
    from models.builtin import BUILTIN_MODELS

    if any(name in (m.file_name, m.id) for m in BUILTIN_MODELS):
        raise InputError(f"{name} is built in: it cannot be removed")
    target = paths.models_dir / name
    part, _meta = partial_paths(paths.models_dir, name)
    removed = []
    if target.is_file():
        target.unlink()
        removed.append(str(target))
    if part.exists():
        removed.append(str(part))
    discard(paths.models_dir, name)
    if not removed:
        raise InputError(f"no downloaded model {name!r} in {paths.models_dir} "
                         "(`mingjing models list` shows them)")
    if args.json:
        print_json({"removed": removed})
    else:
        for path in removed:
            print(f"removed {path}")
    return EXIT_OK
