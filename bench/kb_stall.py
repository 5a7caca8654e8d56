"""Worst GUI event-loop stall while 500 files import into the knowledge base of the real
window (extraction, embedding and SQLite writes on the knowledge thread). A 2 ms QTimer
stamps the GUI thread; baseline in the same run: the same timer with the window idle."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import LoopProbe, report

COPIES = 50  # x 10 documents = 500 files
INTERVAL_MS = 2


def main() -> dict[str, float]:
    if not os.environ.get("DISPLAY"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from app.paths import AppPaths
    from app.settings import Settings
    from ui.main_window import MainWindow

    root = Path(tempfile.mkdtemp(prefix="mingjing-kbstall-"))
    src = Path(__file__).resolve().parent.parent / "tests" / "data" / "kb_zh" / "docs"
    folder = root / "docs"
    for i in range(COPIES):
        for path in src.iterdir():
            target = folder / f"{i:02d}" / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            target.write_bytes(data + f"\n\n副本 {i}\n".encode(
                "gb18030" if "gb18030" in path.name else "utf-8"))
    n_files = sum(1 for p in folder.rglob("*") if p.is_file())

    app = QApplication.instance() or QApplication([])
    assert app is not None
    window = MainWindow(AppPaths.create(root / "home"), Settings())
    window.show()
    window.start()
    loop = QEventLoop()
    window.model_ready.connect(lambda _m: loop.quit())
    loop.exec()
    panel = window.kb_panel
    assert panel is not None

    probe = LoopProbe(INTERVAL_MS)
    idle_gaps = probe.idle(3.0)

    done = QEventLoop()
    results: list[object] = []
    panel.import_done.connect(lambda r: (results.append(r), done.quit()))  # type: ignore[attr-defined]
    probe.start()
    t0 = time.perf_counter()
    panel.add_paths([str(folder)])  # type: ignore[attr-defined]
    done.exec()
    elapsed = time.perf_counter() - t0
    import_gaps = probe.stop()
    imported = results[0]

    report(
        f"GUI stall during a {n_files}-file import ({imported.summary()}, "  # type: ignore[attr-defined]
        f"{elapsed:.1f} s)",
        [
            ("idle: worst / p99 stall", LoopProbe.summary(idle_gaps)),
            ("importing: worst / p99 stall",
             LoopProbe.summary(import_gaps) + "  (target worst <= 50 ms)"),
        ],
    )
    window.close()
    shutil.rmtree(root, ignore_errors=True)
    return {"worst_ms": max(import_gaps), "idle_worst_ms": max(idle_gaps)}


if __name__ == "__main__":
    main()
