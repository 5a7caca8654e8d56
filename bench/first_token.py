"""First launch to the first streamed token: `mingjing ask` from an empty data folder (a
fresh install's first use) vs a second launch, with the default (built-in chat) model.

    python -m bench.first_token [EXECUTABLE]    (default: this checkout, `python -m app`;
                                                 dist/mingjing/mingjing for the bundle)

A fresh data folder pays for what happens once: in a bundle, the CPU variant's probe; from
source, assembling the built-in model from its packages. Time is measured from starting the
process to the first byte of the reply on stdout."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import median, report

PROMPT = "用一句话介绍长江。"
ROUNDS = 3


def first_byte(command: list[str], home: Path) -> tuple[float, float]:
    """(seconds to the first byte of the reply, seconds to exit)."""
    env = {**os.environ, "MINGJING_HOME": str(home)}
    t0 = time.perf_counter()
    process = subprocess.Popen([*command, "ask", "--max-tokens", "16", "--temperature", "0",
                                PROMPT], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               env=env)
    assert process.stdout is not None
    byte = process.stdout.read(1)
    t_first = time.perf_counter() - t0
    process.stdout.read()
    process.wait()
    if not byte or process.returncode != 0:
        raise RuntimeError(f"ask failed (exit {process.returncode})")
    return t_first, time.perf_counter() - t0


def main(executable: str | None = None) -> dict[str, float]:
    command = [executable] if executable else [sys.executable, "-m", "app"]
    fresh, again = [], []
    with tempfile.TemporaryDirectory(prefix="mj-first-") as tmp:
        for i in range(ROUNDS):
            home = Path(tmp) / f"home{i}"
            fresh.append(first_byte(command, home)[0])
            again.append(first_byte(command, home)[0])
    f, a = median(fresh), median(again)
    report(f"First streamed token of `ask`, {'bundle' if executable else 'source'} "
           f"(median of {ROUNDS})", [
               ("first launch (empty data folder)",
                f"{f:.2f} s  {[round(x, 2) for x in fresh]}"),
               ("second launch", f"{a:.2f} s  {[round(x, 2) for x in again]}"),
           ])
    return {"first_launch_s": f, "second_launch_s": a}


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
