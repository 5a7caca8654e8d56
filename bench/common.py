"""Helpers shared by the benchmarks: the model path, timing, a result table."""

from __future__ import annotations

import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path


def model_path(model_id: str = "gemma-3-270m") -> Path:
    """A built-in model's file (default: the small base model the older benchmarks use)."""
    from app.paths import AppPaths
    from models.builtin import ensure_builtin, get_builtin

    home = os.environ.get("MINGJING_HOME") or str(Path(tempfile.gettempdir()) / "mingjing-bench")
    return ensure_builtin(get_builtin(model_id), AppPaths.create(home).models_dir)


def chat_model_path() -> Path:
    """The built-in chat model (Qwen2.5-Coder 0.5B Instruct)."""
    return model_path("qwen2.5-coder-0.5b-instruct")


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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class LoopProbe:
    """A fast QTimer that stamps the GUI thread's event loop; a stall is the gap between
    two stamps beyond the timer interval."""

    def __init__(self, interval_ms: int = 2) -> None:
        from PySide6.QtCore import QTimer

        self.interval_ms = interval_ms
        self.stamps: list[float] = []
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(lambda: self.stamps.append(time.perf_counter()))

    def start(self) -> None:
        self.stamps.clear()
        self._timer.start()

    def stop(self) -> list[float]:
        """Stall per tick, in ms."""
        self._timer.stop()
        return [(b - a) * 1000 - self.interval_ms for a, b in itertools.pairwise(self.stamps)]

    def idle(self, seconds: float) -> list[float]:
        """Stalls while the window sits idle: the baseline."""
        from PySide6.QtCore import QEventLoop, QTimer

        self.start()
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()
        return self.stop()

    @staticmethod
    def summary(gaps: list[float]) -> str:
        return f"{max(gaps):.1f} / {percentile(gaps, 0.99):.1f} ms"
