"""Helpers shared by the benchmarks: the model path, timing, a result table."""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path


def model_path() -> Path:
    from app.default_model import ensure_default_model
    from app.paths import AppPaths

    home = os.environ.get("MINGJING_HOME") or str(Path(tempfile.gettempdir()) / "mingjing-bench")
    return ensure_default_model(AppPaths.create(home).models_dir)


def threads() -> int:
    from engine.types import default_threads

    return int(os.environ.get("BENCH_THREADS", default_threads()))


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n## {title}")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
