"""Translations: the committed .ts is complete and current, the .qm is compiled from it, and
the real window and settings dialog switch between Chinese and English."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QProcess, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QGroupBox, QMessageBox
from pytestqt.qtbot import QtBot

from app.paths import AppPaths
from app.settings import Settings
from ui.application import restart_arguments, run_gui
from ui.i18n import (
    TRANSLATIONS_DIR,
    available_languages,
    install_translators,
    resolve_language,
)
from ui.main_window import MainWindow
from ui.settings_dialog import SettingsDialog
from ui.window.turns import stats_line

REPO = Path(__file__).resolve().parent.parent
TS = REPO / "ui" / "i18n" / "mingjing_zh_CN.ts"
QM = REPO / "ui" / "i18n" / "mingjing_zh_CN.qm"
EN_TS = REPO / "ui" / "i18n" / "mingjing_en.ts"
EN_QM = REPO / "ui" / "i18n" / "mingjing_en.qm"
BIN = Path(sys.executable).parent
QT_TRANSLATIONS = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath))
HAS_QTBASE_ZH = (QT_TRANSLATIONS / "qtbase_zh_CN.qm").is_file()

CJK = re.compile(r"[\u3400-\u9fff]")
PERCENT = re.compile(r"%(?:n|\d+|[-+ #0]*\d*(?:\.\d+)?[sdifgeExXrc])")
BRACES = re.compile(r"\{[^{}]*\}")
TAGS = re.compile(r"<[^<>]+>")
MNEMONIC = re.compile(r"&[A-Za-z]")
FILTER = re.compile(r"\(\*[^()]*\)")
# Sources whose translation may stay as it is: symbols and names.
KEPT_AS_IS = {"#", "ID", "Top-p", "Top-k", "Min-p", "ChatML", "[{rank}] {file} — {location}"}


class Message(NamedTuple):
    context: str
    source: str
    comment: str
    numerus: bool


def read_ts(path: Path) -> dict[Message, tuple[str | None, list[str]]]:
    """Every message of a .ts: (translation type attribute, translated forms)."""
    messages: dict[Message, tuple[str | None, list[str]]] = {}
    for context in ET.parse(path).getroot().iter("context"):
        name = context.findtext("name") or ""
        for message in context.iter("message"):
            numerus = message.get("numerus") == "yes"
            key = Message(
                name, message.findtext("source") or "", message.findtext("comment") or "", numerus
            )
            translation = message.find("translation")
            assert translation is not None, key
            if numerus:
                forms = [form.text or "" for form in translation.iter("numerusform")]
            else:
                forms = [translation.text or ""]
            messages[key] = (translation.get("type"), forms)
    return messages


def i18n_sources() -> list[Path]:
    """The files `make translations` scans (keep in step with I18N_SOURCES in the Makefile)."""
    patterns = ("ui/*.py", "ui/*/*.py", "app/*.py", "app/*/*.py")
    return sorted({p for pattern in patterns for p in REPO.glob(pattern)})


def tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed next to {sys.executable}")
    return path


@pytest.fixture
def app(qapp: QApplication) -> Iterator[QApplication]:
    """The test application; English again afterwards, whatever the test installed."""
    yield qapp
    install_translators(qapp, "en")


def make_window(qtbot: QtBot, tmp_path: Path) -> MainWindow:
    """The real main window, without start(): no model is loaded."""
    window = MainWindow(AppPaths.create(tmp_path / "home"), Settings())
    qtbot.addWidget(window)
    return window


def menu_titles(window: MainWindow) -> list[str]:
    return [action.text() for action in window.menuBar().actions()]


# ------------------------------------------------------------------ the catalogue


def test_every_message_is_translated() -> None:
    messages = read_ts(TS)
    assert len(messages) >= 200
    problems = []
    for key, (kind, forms) in messages.items():
        if kind is not None:  # "unfinished", "vanished" or "obsolete"
            problems.append((key.context, key.source, kind))
        elif not forms or not all(form.strip() for form in forms):
            problems.append((key.context, key.source, "empty"))
        elif key.numerus and len(forms) != 1:  # Chinese has one plural form
            problems.append((key.context, key.source, f"{len(forms)} plural forms"))
    assert problems == []
    numerus = [key for key in messages if key.numerus]
    assert numerus, "the plural-form messages are missing from the .ts"


def placeholders(text: str) -> tuple[list[str], list[str]]:
    found = PERCENT.findall(text)
    numbered = sorted(p for p in found if p[1:].isdigit())
    return [p for p in found if not p[1:].isdigit()], numbered


def test_translations_keep_placeholders_markup_and_mnemonics() -> None:
    problems = []
    for key, (_kind, forms) in read_ts(TS).items():
        for form in forms:
            # Python's % formatting is positional, so %-placeholders keep their order;
            # QString.arg's numbered %1, %2 may move.
            checks = {
                "%-placeholders": (placeholders(key.source), placeholders(form)),
                "{fields}": (sorted(BRACES.findall(key.source)), sorted(BRACES.findall(form))),
                "tags": (sorted(TAGS.findall(key.source)), sorted(TAGS.findall(form))),
                "file filters": (FILTER.findall(key.source), FILTER.findall(form)),
                # The letter may change (文件(&F)), not whether there is one.
                "mnemonics": (len(MNEMONIC.findall(key.source)), len(MNEMONIC.findall(form))),
                "line breaks": (key.source.count("\n"), form.count("\n")),
                "filter lists": (key.source.count(";;"), form.count(";;")),
            }
            problems += [(key.context, key.source, form, what)
                         for what, (want, got) in checks.items() if want != got]
    assert problems == []


def test_translations_are_chinese() -> None:
    untranslated = {
        key.source for key, (_kind, forms) in read_ts(TS).items()
        if not all(CJK.search(form) for form in forms)
    }
    assert untranslated <= KEPT_AS_IS


# The same options as `make translations` for each catalogue.
LUPDATE_OPTIONS = {
    TS: ["-no-obsolete", "-locations", "none", "-source-language", "en"],
    EN_TS: ["-pluralonly", "-no-obsolete", "-locations", "none", "-source-language", "en",
            "-target-language", "en"],
}


@pytest.mark.parametrize("ts", [TS, EN_TS], ids=["zh_CN", "en"])
def test_committed_ts_is_up_to_date_with_the_sources(tmp_path: Path, ts: Path) -> None:
    lupdate = tool("pyside6-lupdate")
    fresh = tmp_path / ts.name
    subprocess.run(
        [str(lupdate), *LUPDATE_OPTIONS[ts], *map(str, i18n_sources()), "-ts", str(fresh)],
        check=True, capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    in_code = set(read_ts(fresh))
    committed = set(read_ts(ts))
    assert len(in_code) >= (200 if ts == TS else 5)
    assert sorted(in_code - committed) == [], "new strings: run `make translations`, translate"
    assert sorted(committed - in_code) == [], "stale strings: run `make translations`"


@pytest.mark.parametrize(("ts", "qm"), [(TS, QM), (EN_TS, EN_QM)], ids=["zh_CN", "en"])
def test_committed_qm_is_compiled_from_the_ts(tmp_path: Path, ts: Path, qm: Path) -> None:
    lrelease = tool("pyside6-lrelease")
    compiled = tmp_path / qm.name
    subprocess.run(
        [str(lrelease), "-nounfinished", str(ts), "-qm", str(compiled)],
        check=True, capture_output=True, text=True, timeout=120,
    )
    assert compiled.read_bytes() == qm.read_bytes(), "run `make translations` and commit the .qm"


def test_english_plural_forms_are_complete() -> None:
    messages = read_ts(EN_TS)
    assert messages and all(key.numerus for key in messages)
    for key, (kind, forms) in messages.items():
        assert kind is None, key
        assert len(forms) == 2 and all(f.strip() for f in forms), key
        assert "(s)" not in "".join(forms), key
        for form in forms:  # %n may be spelled out ("the oldest message"); the rest stays
            kept = [p for p in placeholders(form)[0] if p != "%n"]
            assert kept == [p for p in placeholders(key.source)[0] if p != "%n"], key


def test_english_counts_read_naturally(app: QApplication) -> None:
    install_translators(app, "en")
    translate = QCoreApplication.translate
    assert translate("PromptView", "%n token(s)", "", 1) == "1 token"
    assert translate("PromptView", "%n token(s)", "", 7) == "7 tokens"
    assert translate("ContextBar", "To make room, %n oldest message(s) will be left out: %s",
                     "", 3) == "To make room, 3 oldest messages will be left out: %s"
    install_translators(app, "zh_CN")
    assert translate("PromptView", "%n token(s)", "", 7) == "7 个词元"


# ------------------------------------------------------------------ choosing a language


def test_catalogues_are_looked_up_next_to_the_module() -> None:
    assert TRANSLATIONS_DIR.resolve() == QM.parent.resolve()


def test_available_languages_name_themselves() -> None:
    assert available_languages() == (
        ("auto", "System / 跟随系统"),
        ("zh_CN", "简体中文"),
        ("en", "English"),
    )


@pytest.mark.parametrize(
    ("setting", "locale", "expected"),
    [
        ("zh_CN", QLocale(QLocale.Language.English, QLocale.Country.UnitedStates), "zh_CN"),
        ("en", QLocale(QLocale.Language.Chinese, QLocale.Country.China), "en"),
        ("auto", QLocale(QLocale.Language.Chinese, QLocale.Country.China), "zh_CN"),
        ("auto", QLocale(QLocale.Language.Chinese, QLocale.Country.Taiwan), "zh_CN"),
        ("auto", QLocale(QLocale.Language.Chinese, QLocale.Script.TraditionalHanScript,
                         QLocale.Country.HongKong), "zh_CN"),
        ("auto", QLocale(QLocale.Language.English, QLocale.Country.UnitedKingdom), "en"),
        ("auto", QLocale(QLocale.Language.German, QLocale.Country.Germany), "en"),
        ("auto", QLocale(QLocale.Language.Japanese, QLocale.Country.Japan), "en"),
        ("klingon", QLocale(QLocale.Language.Chinese, QLocale.Country.China), "zh_CN"),
        ("klingon", QLocale(QLocale.Language.French, QLocale.Country.France), "en"),
    ],
)
def test_resolve_language(setting: str, locale: QLocale, expected: str) -> None:
    assert resolve_language(setting, locale) == expected


def test_resolve_language_auto_follows_the_system_locale() -> None:
    chinese = QLocale.system().language() == QLocale.Language.Chinese
    assert resolve_language("auto") == ("zh_CN" if chinese else "en")


# ------------------------------------------------------------------ the real UI


def test_window_and_settings_dialog_switch_language(
    app: QApplication, qtbot: QtBot, tmp_path: Path
) -> None:
    installed = install_translators(app, "zh_CN")
    assert installed and Path(installed[0].filePath()) == QM
    window = make_window(qtbot, tmp_path / "zh")
    assert menu_titles(window) == ["文件(&F)", "对话(&C)", "视图(&V)", "设置(&S)", "帮助(&H)"]
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "设置"
    groups = [box.title() for box in dialog.findChildren(QGroupBox)]
    assert groups == ["系统提示词", "采样", "模型（更改后会重新加载模型）", "界面", "知识库",
                      "API 服务（兼容 OpenAI）"]
    assert [dialog.language.itemText(i) for i in range(dialog.language.count())] == [
        "System / 跟随系统", "简体中文", "English"
    ]
    if HAS_QTBASE_ZH:  # Qt's own catalogue: standard buttons
        buttons = dialog.findChild(QDialogButtonBox)
        assert buttons is not None
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        assert ok.text().replace("&", "") in ("确定", "好")
    window.close()

    english = install_translators(app, "en")
    assert [Path(t.filePath()) for t in english] == [EN_QM]  # plural forms only
    window = make_window(qtbot, tmp_path / "en")
    assert menu_titles(window) == ["&File", "&Chat", "&View", "&Settings", "&Help"]
    dialog = SettingsDialog(Settings())
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "Settings"
    assert dialog.findChildren(QGroupBox)[-1].title() == "API server (OpenAI-compatible)"
    window.close()


def test_installing_again_replaces_the_previous_language(app: QApplication) -> None:
    first = install_translators(app, "zh_CN")
    second = install_translators(app, "zh_CN")
    assert len(second) == len(first)  # not stacked
    assert QCoreApplication.translate("MainWindow", "&File") == "文件(&F)"
    install_translators(app, "en")
    assert QCoreApplication.translate("MainWindow", "&File") == "&File"
    assert QCoreApplication.translate("QPlatformTheme", "Cancel") == "Cancel"


def test_stats_line_follows_the_language(app: QApplication) -> None:
    stats: dict[str, object] = {
        "completion_tokens": 5, "decode_tok_s": 10.0, "time_to_first_token_s": 0.25,
        "prompt_tokens": 30, "reused_prompt_tokens": 12, "stop_reason": "max_tokens",
    }
    assert stats_line(stats) == (
        "5 tokens · 10.0 tok/s · first token 0.25 s · prompt 30 (12 reused) · stopped: max_tokens"
    )
    install_translators(app, "zh_CN")
    assert stats_line(stats) == (
        "5 个词元 · 10.0 词元/秒 · 首个词元 0.25 秒 · 提示词 30（复用 12） · "
        "停止原因：达到回复长度上限"
    )


def test_settings_dialog_stores_the_language(app: QApplication, qtbot: QtBot) -> None:
    settings = Settings()
    settings.language = "zh_CN"
    dialog = SettingsDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.language.currentData() == "zh_CN"
    assert dialog.result_settings().language == "zh_CN"
    dialog.language.setCurrentIndex(dialog.language.findData("en"))
    assert dialog.result_settings().language == "en"
    assert settings.language == "zh_CN"  # the original is untouched


def test_damaged_or_missing_catalogue_falls_back_to_english(
    app: QApplication, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install_translators(app, "zh_CN")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "mingjing_zh_CN.qm").write_bytes(b"\x3c\xb8\x64\x18 this is not a qm file" * 50)
    with caplog.at_level(logging.WARNING, logger="ui.i18n"):
        assert install_translators(app, "zh_CN", directory=broken) == []
    assert "stays in English" in caplog.text
    assert QCoreApplication.translate("MainWindow", "&File") == "&File"
    assert QCoreApplication.translate("QPlatformTheme", "Cancel") == "Cancel"

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ui.i18n"):
        assert install_translators(app, "zh_CN", directory=tmp_path / "nowhere") == []
    assert "stays in English" in caplog.text
    assert QCoreApplication.translate("MainWindow", "&File") == "&File"


def test_run_gui_installs_the_saved_language(
    app: QApplication, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = AppPaths.create(tmp_path / "home")
    paths.settings_file.write_text(json.dumps({"language": "zh_CN"}), encoding="utf-8")
    seen: list[list[str]] = []

    def fake_exec(_self: QApplication) -> int:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        seen.extend(menu_titles(w) for w in windows if w.isVisible())
        for window in windows:
            window.close()
        return 0

    monkeypatch.setattr(QApplication, "exec", fake_exec)
    monkeypatch.setattr(QTimer, "singleShot", lambda *_args: None)  # no model loading
    name, display = app.applicationName(), app.applicationDisplayName()
    try:
        assert run_gui(paths) == 0
    finally:
        app.setApplicationName(name)
        app.setApplicationDisplayName(display)
    assert seen == [["文件(&F)", "对话(&C)", "视图(&V)", "设置(&S)", "帮助(&H)"]]


def test_changing_the_language_offers_a_restart(
    app: QApplication, qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = make_window(qtbot, tmp_path)
    window.settings.language = "en"  # explicit: "auto" on a Chinese system would not ask
    window.show()
    asked: list[tuple[str, list[str]]] = []
    started: list[tuple[str, list[str]]] = []
    choice = ""

    def choose_chinese(dialog: SettingsDialog) -> int:
        dialog.language.setCurrentIndex(dialog.language.findData("zh_CN"))
        return int(SettingsDialog.DialogCode.Accepted)

    def answer(box: QMessageBox) -> int:
        QApplication.processEvents()  # as exec() would: the LanguageChange events arrive
        buttons = box.buttons()
        asked.append((box.text(), sorted(b.text() for b in buttons)))
        next(b for b in buttons if b.text() == choice).click()
        return 0

    def start_detached(program: str, arguments: list[str]) -> tuple[bool, int]:
        started.append((program, list(arguments)))
        return True, 4242

    monkeypatch.setattr(SettingsDialog, "exec", choose_chinese)
    monkeypatch.setattr(QMessageBox, "exec", answer)
    monkeypatch.setattr(QProcess, "startDetached", start_detached)
    errors: list[object] = []  # a real error box would block the test
    monkeypatch.setattr(QMessageBox, "critical", lambda *args: errors.append(args))
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: errors.append(args))

    choice = "稍后"  # "Later": translated from now on, no restart
    window.preferences.open_dialog()
    assert window.settings.language == "zh_CN"
    # Asked in the language just chosen.
    assert asked == [("现在重启明镜以切换语言？", sorted(["立即重启", "稍后"]))]
    assert started == []
    assert QCoreApplication.translate("MainWindow", "&File") == "文件(&F)"
    assert window.isVisible()

    choice = "Restart now"  # back to English
    monkeypatch.setattr(
        SettingsDialog, "exec",
        lambda d: (d.language.setCurrentIndex(d.language.findData("en")),
                   int(SettingsDialog.DialogCode.Accepted))[1],
    )
    window.preferences.open_dialog()
    assert asked[-1] == ("Restart Mingjing now to show the new language?",
                         ["Later", "Restart now"])
    qtbot.waitUntil(lambda: bool(started), timeout=10_000)  # once the settings are saved
    assert started == [(sys.executable, restart_arguments())]
    assert not window.isVisible()  # closed normally: threads stopped by closeEvent
    saved = json.loads(window.paths.settings_file.read_text(encoding="utf-8"))
    assert saved["language"] == "en"
    assert errors == []


def test_concept_panel_and_context_bar_in_chinese(app: QApplication, qtbot: QtBot) -> None:
    from engine.types import ContextMap, ContextSegment
    from ui.concept_panel import ConceptPanel
    from ui.context_bar import ContextBar

    install_translators(app, "zh_CN")
    panel = ConceptPanel()
    qtbot.addWidget(panel)
    titles = [panel.tabs.tabText(i) for i in range(panel.tabs.count())]
    assert titles == ["提示词", "生成", "检索", "模型"]

    bar = ContextBar()
    qtbot.addWidget(bar)
    segments = (
        ContextSegment("system", "system", 100),
        ContextSegment("message", "user #2", 50, 1),
        ContextSegment("reserve", "reserved for the reply", 512),
        ContextSegment("free", "free", 4096 - 662),
    )
    bar.set_map(ContextMap(4096, 150, segments, (ContextSegment("dropped", "user #1", 80, 0),)))
    legend = bar.legend_text()
    for name in ("系统提示词", "本条消息", "为回复预留", "空闲"):
        assert name in legend
    assert bar.summary_text() == "已用 150 / 4,096 个词元（4 %）"
    assert bar.dropped_text() == "为腾出空间，最早的 1 条消息将被舍弃：用户 #1（80 个词元）"
