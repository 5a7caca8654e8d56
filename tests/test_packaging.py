"""The installer. The bundle check builds with PyInstaller (~30 s with pip's caches warm,
~10 min on a fresh machine) so it runs only with MINGJING_PACKAGE_TEST=1; the clean-root
install check (packaging/check_clean_root.sh) needs root and runs by hand.

`mingjing FILE.gguf` (how the desktop's "Open with Mingjing" starts it) is checked always."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE_TEST = os.environ.get("MINGJING_PACKAGE_TEST") == "1"


def test_opening_a_gguf_file_selects_it_for_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ui.application
    from app.main import main

    model = tmp_path / "模型" / "my model.gguf"
    model.parent.mkdir()
    model.write_bytes(b"GGUF")
    seen: list[dict[str, object]] = []

    def fake_gui(paths: object) -> int:
        seen.append(json.loads((tmp_path / "home" / "settings.json").read_text("utf-8")))
        return 0

    monkeypatch.setattr(ui.application, "run_gui", fake_gui)
    assert main([str(model), "--data-dir", str(tmp_path / "home")]) == 0
    assert seen[0]["model"] == f"file:{model.resolve()}"
    assert seen[0]["recent_models"] == [f"file:{model.resolve()}"]


@pytest.mark.slow
@pytest.mark.skipif(not PACKAGE_TEST, reason="set MINGJING_PACKAGE_TEST=1 to build the bundle")
@pytest.mark.timeout(1800)
def test_bundle_answers_offline_from_an_empty_data_folder() -> None:
    if shutil.which("bash") is None:
        pytest.skip("needs bash")
    script = REPO / "packaging" / "check_bundle.sh"
    result = subprocess.run(["bash", str(script), "--build"], cwd=REPO,
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "OK: the bundle works offline" in result.stdout


def test_an_installed_bundle_reads_its_own_model_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a PyInstaller bundle (sys._MEIPASS) the model shipped under models/ is used as it
    is: nothing is assembled into, or copied to, the user's data folder."""
    import sys

    from models.builtin import BUILTIN_MODELS, bundled_path, ensure_builtin

    bundle = tmp_path / "_internal"
    (bundle / "models").mkdir(parents=True)
    data = tmp_path / "data" / "models"
    for model in BUILTIN_MODELS:
        assert bundled_path(model) is None  # not a bundle: tests and `make run` assemble it
        shipped = bundle / "models" / model.file_name
        shipped.write_bytes(b"GGUF")
        monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
        assert ensure_builtin(model, data) == shipped
        monkeypatch.delattr(sys, "_MEIPASS")
    assert not data.exists()
