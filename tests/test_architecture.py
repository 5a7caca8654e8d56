"""The seams: engine/ and kb/ never import Qt; heavy libraries stay off the window's path."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

QT_MODULES = {"PySide6", "shiboken6", "PyQt5", "PyQt6"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", ["engine", "kb", "server"])
def test_core_packages_do_not_import_qt(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    offenders = {str(f.relative_to(REPO)): sorted(_imports(f) & QT_MODULES) for f in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_ast_check_catches_a_qt_import(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("def f():\n    from PySide6.QtCore import QObject\n")
    assert _imports(sample) & QT_MODULES == {"PySide6"}


def _loaded_after(code: str) -> set[str]:
    probe = (
        f"{code}\nimport sys\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True,
                         text=True, check=True)
    return set(out.stdout.split())


def test_engine_import_is_light() -> None:
    loaded = _loaded_after("import engine.runtime, engine.gguf, app.chat_service, app.cli, "
                           "app.compare, models.open")
    assert not loaded & (QT_MODULES | {"llama_cpp", "torch", "sentence_transformers", "numpy"})


def test_window_modules_do_not_pull_heavy_libraries() -> None:
    loaded = _loaded_after("import ui.main_window, ui.application")
    assert "PySide6" in loaded
    # The API's web stack loads when the API is switched on, not before the window paints.
    assert not loaded & {"llama_cpp", "torch", "sentence_transformers", "numpy", "uvicorn",
                         "starlette"}
