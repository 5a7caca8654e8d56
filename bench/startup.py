"""Cold start: process launch to the first painted main window.

The baseline, measured in the same run, is a bare PySide6 program that paints one QLabel:
the part of start-up that Mingjing cannot remove. Uses $DISPLAY when set (Xvfb), else
Qt's offscreen platform."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from bench.common import median, report

ROUNDS = 7

BARE = """
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel
class L(QLabel):
    def paintEvent(self, e):
        super().paintEvent(e)
        print("first-paint", flush=True)
        QTimer.singleShot(0, app.quit)
app = QApplication([])
w = L("hello")
w.show()
app.exec()
"""


def time_to_paint(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "first-paint":
            elapsed = time.perf_counter() - t0
            break
    else:
        raise RuntimeError(f"{cmd} never painted")
    proc.wait(timeout=30)
    return elapsed


def main() -> dict[str, float]:
    env = dict(os.environ)
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    env["MINGJING_EXIT_AFTER_PAINT"] = "1"
    env["MINGJING_HOME"] = tempfile.mkdtemp(prefix="mingjing-start-")
    app_cmd = [sys.executable, "-m", "app"]
    bare_cmd = [sys.executable, "-c", BARE]
    time_to_paint(app_cmd, env)  # warm the disk cache, as a second launch would be
    time_to_paint(bare_cmd, env)
    app_times, bare_times = [], []
    for _ in range(ROUNDS):
        app_times.append(time_to_paint(app_cmd, env))
        bare_times.append(time_to_paint(bare_cmd, env))
    a, b = median(app_times), median(bare_times)
    report(
        f"Cold start to first painted window (median of {ROUNDS}, "
        f"platform {'xcb' if env.get('DISPLAY') else 'offscreen'})",
        [
            ("bare PySide6 QLabel", f"{b * 1000:.0f} ms"),
            ("Mingjing main window", f"{a * 1000:.0f} ms  (target <= 1000 ms)"),
            ("ratio Mingjing / bare Qt", f"{a / b:.2f}"),
        ],
    )
    return {"app_s": a, "bare_s": b}


if __name__ == "__main__":
    main()
