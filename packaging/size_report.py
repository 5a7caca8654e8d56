"""Print a bundle's size and its largest parts (folders two levels deep, and files).

    python packaging/size_report.py dist/mingjing [N]"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def size_of(path: Path) -> int:
    if path.is_symlink():
        return 0  # a link costs nothing; its target is counted where it lies
    if path.is_file():
        return path.stat().st_size
    total = 0
    for base, _dirs, files in os.walk(path):
        for name in files:
            p = Path(base) / name
            if not p.is_symlink():
                total += p.stat().st_size
    return total


def mb(n: int) -> str:
    return f"{n / 1e6:8.1f} MB"


def main(argv: list[str]) -> int:
    root = Path(argv[0] if argv else "dist/mingjing")
    top_n = int(argv[1]) if len(argv) > 1 else 25
    internal = root / "_internal" if (root / "_internal").is_dir() else root
    print(f"bundle {root}: {mb(size_of(root)).strip()}, "
          f"{sum(len(f) for _, _, f in os.walk(root))} files")
    parts: list[tuple[int, str]] = []
    for child in internal.iterdir():
        if child.is_dir() and child.name in ("PySide6",):
            for grand in child.iterdir():  # PySide6/Qt is most of it: one level further
                if grand.name == "Qt":
                    parts += [(size_of(g), str(g.relative_to(internal))) for g in grand.iterdir()]
                else:
                    parts.append((size_of(grand), str(grand.relative_to(internal))))
        else:
            parts.append((size_of(child), str(child.relative_to(internal))))
    parts.sort(reverse=True)
    print(f"largest {top_n} parts:")
    for size, name in parts[:top_n]:
        print(f"  {mb(size)}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
