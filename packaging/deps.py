"""Print the requirements the bundle is built from: the project's dependencies and its
`package` extra, minus the optional sentence-transformers stack (torch, transformers,
sentence-transformers), which the bundle leaves out. One requirement a line.

    python packaging/deps.py [--with-torch]
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

# Requirements the bundle takes only where they are needed and available.
MARKERS = {
    # sqlean.py (a SQLite that loads extensions) has no Windows wheel; python.org's Windows
    # Python can load extensions with its own sqlite3, which kb/db.py then uses.
    "sqlean.py": "sys_platform != 'win32'",
}
# Optional embedders only (kb/embedders.py imports them lazily); the default embedder is
# USE multilingual (numpy). Leaving them out saves ~1 GB installed.
OPTIONAL = {"torch", "sentence-transformers", "transformers"}


def name_of(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9._-]+)", requirement)
    return match.group(1).lower().replace("_", "-") if match else ""


def main(argv: list[str]) -> int:
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml")
                            .read_text(encoding="utf-8"))["project"]
    requirements = list(project["dependencies"]) + list(
        project.get("optional-dependencies", {}).get("package", []))
    keep_optional = "--with-torch" in argv
    for requirement in requirements:
        name = name_of(requirement)
        if keep_optional or name not in OPTIONAL:
            line = requirement.split("#")[0].strip()
            print(f"{line}; {MARKERS[name]}" if name in MARKERS and ";" not in line else line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
