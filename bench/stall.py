"""Worst event-loop stall while a reply streams into the real window.

A 2 ms QTimer stamps the GUI thread's event loop; a stall is the gap between two stamps
beyond the timer interval. Baseline in the same run: the same timer with the window idle."""

from __future__ import annotations

import os
import tempfile
import time

from bench.common import LoopProbe, report

MAX_TOKENS = 300
INTERVAL_MS = 2


def main() -> dict[str, float]:
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QEventLoop, QObject, Slot

    class PieceCounter(QObject):
        pieces = 0

        @Slot(int, str)
        def count(self, _cid: int, _text: str) -> None:
            self.pieces += 1
    from PySide6.QtWidgets import QApplication

    from app.paths import AppPaths
    from app.settings import Settings
    from ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    paths = AppPaths.create(tempfile.mkdtemp(prefix="mingjing-stall-"))
    settings = Settings()
    settings.sampling.max_tokens = MAX_TOKENS
    settings.sampling.temperature = 0.8
    settings.sampling.seed = 11
    window = MainWindow(paths, settings)
    window.show()
    window.start()
    assert window.model_thread is not None
    worker = window.model_thread.worker

    loop = QEventLoop()
    window.model_ready.connect(lambda _m: loop.quit())
    loop.exec()
    while not window._db_ready:
        app.processEvents()

    probe = LoopProbe(INTERVAL_MS)
    idle_gaps = probe.idle(3.0)

    # Streaming. Counting happens on the GUI thread (a queued slot), like the window's own.
    counter = PieceCounter()
    worker.piece.connect(counter.count)
    done = QEventLoop()
    window.turn_done.connect(lambda _f: done.quit())
    probe.start()
    window.send("Once upon a time, in a small village by the river,")
    t0 = time.perf_counter()
    done.exec()
    elapsed = time.perf_counter() - t0
    stream_gaps = probe.stop()
    render_count = window.chat_view.render_count
    pieces = counter.pieces

    report(
        f"Event-loop stall while streaming ({pieces} pieces in {elapsed:.1f} s, "
        f"{INTERVAL_MS} ms probe timer)",
        [
            ("idle: worst / p99 stall", LoopProbe.summary(idle_gaps)),
            ("streaming: worst / p99 stall",
             LoopProbe.summary(stream_gaps) + "  (target worst <= 50 ms)"),
            ("markdown renders of the reply", f"{render_count} for {pieces} pieces"),
        ],
    )
    window.close()
    return {"worst_ms": max(stream_gaps), "idle_worst_ms": max(idle_gaps)}


if __name__ == "__main__":
    main()
