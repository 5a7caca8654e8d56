"""The models window: the catalog with fit labels, a download from a real HTTP server on
127.0.0.1 shown with its progress and then in the library, cancel and resume, and the
library's Use. The GUI thread never waits: everything arrives by signals."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QProgressBar, QPushButton
from pytestqt.qtbot import QtBot

from app.settings import Settings
from models.catalog import SHIPPED
from models.refs import ModelRef
from tests.http_files import Behaviour, file_server
from ui.models_window import ModelsWindow

DATA = os.urandom(3 << 20)
SHA = hashlib.sha256(DATA).hexdigest()
PATH = "/test/tiny-GGUF/resolve/main/tiny-test-q4_k_m.gguf"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))
    shipped["version"] += 1
    shipped["models"].insert(0, dict(
        shipped["models"][0], id="tiny-test-q4_k_m", name="Tiny Test", hf_repo="test/tiny-GGUF",
        modelscope_repo=None, file="tiny-test-q4_k_m.gguf", size=len(DATA), sha256=SHA))
    (home / "catalog.json").write_text(json.dumps(shipped), encoding="utf-8")
    return home


def open_window(qtbot: QtBot, home: Path) -> ModelsWindow:
    settings = Settings()
    settings.download_source = "hf"
    window = ModelsWindow(home / "models", home, settings, "zh")
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.catalog_table.rowCount() > 10, timeout=10_000)
    return window


def test_the_catalog_download_and_library(qtbot: QtBot, home: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    b = Behaviour(files={PATH: DATA}, bytes_per_s=1_500_000)
    with file_server(b) as url:
        monkeypatch.setenv("MINGJING_HF_ENDPOINT", url)
        window = open_window(qtbot, home)
        table = window.catalog_table
        names = [table.item(r, 0).text() for r in range(table.rowCount())]  # type: ignore[union-attr]
        row = names.index("Tiny Test")
        verdict = table.item(row, 3)
        assert verdict is not None and verdict.text() == "Fits"
        assert "KV cache" in verdict.toolTip() and "GiB" in verdict.toolTip()
        about = table.item(row, 4)
        assert about is not None and "千问" in about.text()  # the Chinese line
        # Download, then stop half-way: what arrived stays.
        window.download("tiny-test-q4_k_m")
        bar = window.downloads_table.cellWidget(0, 1)
        assert isinstance(bar, QProgressBar)
        qtbot.waitUntil(lambda: bar.value() > 200, timeout=30_000)
        assert "MB/s" in window._cell(0, 2).text()
        window.cancel("tiny-test-q4_k_m.gguf")
        qtbot.waitUntil(lambda: "kept" in bar.format(), timeout=30_000)
        b.bytes_per_s = None
        resume = window.downloads_table.cellWidget(0, 4)
        assert isinstance(resume, QPushButton)
        resume.click()
        bar = window.downloads_table.cellWidget(0, 1)
        assert isinstance(bar, QProgressBar)
        qtbot.waitUntil(lambda: bar.value() == 1000 and "sha256" in bar.format(),
                        timeout=30_000)
        assert b.seen[-1]["range"] not in (None, "bytes=0-")  # resumed
        assert (home / "models" / "tiny-test-q4_k_m.gguf").read_bytes() == DATA
        # The library lists it, and Use asks the window to load it.
        qtbot.waitUntil(lambda: any(
            (window.library_table.item(r, 0) or object()) and
            window.library_table.item(r, 0).text() == "tiny-test-q4_k_m.gguf"  # type: ignore[union-attr]
            for r in range(window.library_table.rowCount())), timeout=10_000)
        with qtbot.waitSignal(window.use_model) as used:
            use = window.downloads_table.cellWidget(0, 4)
            assert isinstance(use, QPushButton)
            use.click()
        assert used.args == [ModelRef.file(home / "models" / "tiny-test-q4_k_m.gguf")]
        downloaded = [r for r in range(table.rowCount())
                      if (table.item(r, 0) or object()) and
                      table.item(r, 0).text() == "Tiny Test"]  # type: ignore[union-attr]
        button = table.cellWidget(downloaded[0], 5)
        assert isinstance(button, QPushButton) and not button.isEnabled()
        window.shutdown()


def test_offline_says_so(qtbot: QtBot, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINGJING_HF_ENDPOINT", "http://127.0.0.1:9")
    window = open_window(qtbot, home)
    qtbot.waitUntil(lambda: "Offline" in window.network.text(), timeout=15_000)
    assert window.catalog_table.rowCount() > 10  # the catalog is still shown
    window.shutdown()
