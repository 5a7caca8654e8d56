"""Settings of the wrong type or out of range (issue 12): the rest of the file is kept, the
unusable value is reset to its default and named, and nothing raises."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from app.settings import Settings, load_settings, save_settings
from engine.limits import LIMITS, check
from engine.types import SamplingParams

DEFAULTS = Settings()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
KEYS = ["model", "recent_models", "system_prompt", "n_ctx", "n_threads", "n_gpu_layers",
        "chat_template", "language", "concept_panel", "sampling", "model_path", "api_enabled",
        "api_port", "api_token"]
SAMPLING_KEYS = ["temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens",
                 "seed", "stop"]


def test_wrong_values_are_reset_one_by_one_and_named() -> None:
    s = Settings.from_dict({
        "n_threads": 100000, "n_ctx": "big", "n_gpu_layers": "all", "system_prompt": "Be brief.",
        "sampling": {"temperature": "hot", "seed": "x", "top_p": 0.5, "max_tokens": 0},
        "chat_template": 5, "concept_panel": "yes", "model": "builtin:retired",
    })
    assert s.system_prompt == "Be brief." and s.sampling.top_p == 0.5  # the rest is kept
    assert s.n_threads == DEFAULTS.n_threads and s.n_ctx == DEFAULTS.n_ctx
    assert s.sampling.temperature == SamplingParams().temperature
    assert s.sampling.max_tokens == SamplingParams().max_tokens
    named = " ".join(s.problems)
    for key in ("n_threads", "n_ctx", "n_gpu_layers", "sampling.temperature", "sampling.seed",
                "sampling.max_tokens", "chat_template", "concept_panel", "model"):
        assert f"{key} = " in named, key
    assert all("\n" not in p and "reset to the default" in p for p in s.problems)
    assert "between 1 and 256, not 100000" in named


def test_api_settings_are_checked_and_the_token_never_shown(tmp_path: Path) -> None:
    s = Settings.from_dict({"api_enabled": "on", "api_port": 70000,
                            "api_token": "has spaces in it, secret-ish"})
    assert (s.api_enabled, s.api_port, s.api_token) == (False, DEFAULTS.api_port, "")
    named = " ".join(s.problems)
    assert "api_port = 70000" in named and "api_enabled = 'on'" in named
    assert "api_token = (hidden)" in named and "secret-ish" not in named
    assert s.ensure_api_token() and len(s.api_token) > 40 and not s.ensure_api_token()
    path = tmp_path / "settings.json"
    save_settings(s, path)
    assert path.stat().st_mode & 0o777 == 0o600  # the token is for this user alone
    again = load_settings(path)
    assert again.api_token == s.api_token and not again.problems


def test_a_damaged_file_is_kept_aside_and_said(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    s = load_settings(path)
    assert s.problems and "unreadable" in s.problems[0]
    assert (tmp_path / "settings.json.bad").read_text() == "{not json"


def test_problems_are_not_saved(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    s = Settings.from_dict({"n_ctx": -1})
    assert s.problems
    save_settings(s, path)
    assert "problems" not in json.loads(path.read_text())
    assert load_settings(path).problems == []


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), JSON, max_size=6),
       st.dictionaries(st.sampled_from(SAMPLING_KEYS), JSON, max_size=5))
def test_any_json_gives_usable_settings(top: dict[str, object],
                                        sampling: dict[str, object]) -> None:
    data = dict(top)
    if sampling:
        data["sampling"] = sampling
    s = Settings.from_dict(data)
    for name in ("n_ctx", "n_threads", "n_gpu_layers"):
        assert check(name, getattr(s, name)) == getattr(s, name)
    for name in ("temperature", "top_p", "top_k", "min_p", "repeat_penalty", "max_tokens",
                 "seed"):
        value = getattr(s.sampling, name)
        assert check(name, value) == value and math.isfinite(value)
    assert all(isinstance(x, str) for x in s.sampling.stop)
    assert isinstance(s.system_prompt, str) and isinstance(s.concept_panel, bool)
    s.load_params()
    s.model_ref  # noqa: B018 - a usable reference, whatever the file said
    Settings.from_dict(json.loads(json.dumps(s.to_dict())))  # round trip


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers() | st.text(max_size=8))
def test_limits_accept_exactly_their_range(value: object) -> None:
    for name, limit in LIMITS.items():
        try:
            got = check(name, value)
        except ValueError as exc:
            assert limit.what in str(exc) and "\n" not in str(exc)
        else:
            assert limit.low <= got <= limit.high and math.isfinite(got)
            assert isinstance(got, int) if limit.integer else isinstance(got, float)


def test_the_window_says_which_settings_were_reset(qtbot: object, tmp_path: Path) -> None:
    """Started with a settings file holding wrong values: a non-blocking notice names them;
    the window still opens with the rest of the settings."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.paths import AppPaths
    from ui.application import show_settings_problems
    from ui.main_window import MainWindow

    paths = AppPaths.create(tmp_path / "home")
    paths.settings_file.write_text(json.dumps({"n_threads": "many", "system_prompt": "Hi."}))
    loaded = load_settings(paths.settings_file)
    window = MainWindow(paths, loaded)
    qtbot.addWidget(window)  # type: ignore[attr-defined]
    show_settings_problems(window, loaded.problems)
    boxes = [w for w in QApplication.topLevelWidgets()
             if isinstance(w, QMessageBox) and w.objectName() == "settings-problems"]
    assert boxes and boxes[-1].isVisible()
    assert "n_threads = 'many'" in boxes[-1].informativeText()
    assert window.settings.system_prompt == "Hi."
    boxes[-1].close()
    window.close()


def test_exceptions_in_the_window_reach_the_log(caplog: object) -> None:
    import logging
    import sys
    import threading

    from ui.application import log_unhandled_exceptions

    saved = sys.excepthook, threading.excepthook
    try:
        log_unhandled_exceptions()
        with caplog.at_level(logging.ERROR, logger="mingjing.unhandled"):  # type: ignore[attr-defined]
            try:
                raise ValueError("a bug in a slot")
            except ValueError:
                sys.excepthook(*sys.exc_info())  # type: ignore[arg-type]
            thread = threading.Thread(target=lambda: 1 / 0, name="worker-x")
            thread.start()
            thread.join()
        records = caplog.records  # type: ignore[attr-defined]
        assert any("a bug in a slot" in r.exc_text for r in records if r.exc_text)
        assert any("worker-x" in r.getMessage() and "ZeroDivisionError" in (r.exc_text or "")
                   for r in records)
    finally:
        sys.excepthook, threading.excepthook = saved
