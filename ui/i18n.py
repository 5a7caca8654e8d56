"""The interface language: which one to show, and loading its Qt translations (.qm files).

UI source strings are English; `ui/i18n/mingjing_<lang>.qm` holds the translations, built
from the .ts files by `make translations`. Qt's own catalogue (qtbase_<lang>.qm, shipped with
PySide6) translates standard buttons and dialogs. Nothing here may stop the app starting: a
missing or damaged catalogue logs a warning and the interface stays in English.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

log = logging.getLogger(__name__)

TRANSLATIONS_DIR = Path(__file__).parent / "i18n"
CATALOG = "mingjing"
AUTO = "auto"
SOURCE_LANGUAGE = "en"
# The setting's values and each language's name in that language (the system entry in both).
LANGUAGES: tuple[tuple[str, str], ...] = (
    (AUTO, "System / 跟随系统"),
    ("zh_CN", "简体中文"),
    (SOURCE_LANGUAGE, "English"),
)
# Qt's catalogues for its own widgets (button boxes, file and input dialogs, context menus).
QT_CATALOGS = ("qtbase",)

# Translators this module installed, so a later call can take them out again. Holding the
# Python references also keeps the QTranslator objects alive while they are installed.
_installed: list[QTranslator] = []


def available_languages() -> tuple[tuple[str, str], ...]:
    """(setting value, name shown) pairs, in the order the settings dialog lists them."""
    return LANGUAGES


def resolve_language(setting: str, system_locale: QLocale | None = None) -> str:
    """The language to show for a setting: "zh_CN" or "en".

    "auto" (and any value this version does not know) follows the system locale: Chinese
    in any script or territory gets Simplified Chinese, everything else English."""
    known = [code for code, _name in LANGUAGES if code != AUTO]
    if isinstance(setting, str) and setting in known:
        return setting
    if setting != AUTO:
        log.warning("unknown interface language %r; following the system", setting)
    locale = system_locale if system_locale is not None else QLocale.system()
    return "zh_CN" if locale.language() == QLocale.Language.Chinese else SOURCE_LANGUAGE


def remove_translators(app: QCoreApplication) -> None:
    """Take out every translator a previous install_translators() call put in."""
    while _installed:
        app.removeTranslator(_installed.pop())


def install_translators(
    app: QCoreApplication, language: str, directory: Path | None = None
) -> list[QTranslator]:
    """Show `language` (a setting value, "auto" included) from now on; returns what was installed.

    Previously installed Mingjing translators are removed first, so calling this again
    switches language. English installs only its plural forms ("1 token", "2 tokens" for
    "%n token(s)"). Widgets that already exist keep their texts.
    `directory` overrides where Mingjing's catalogues are looked up (tests)."""
    remove_translators(app)
    code = resolve_language(language)
    qm = (directory if directory is not None else TRANSLATIONS_DIR) / f"{CATALOG}_{code}.qm"
    ours = _load(qm)
    if code == SOURCE_LANGUAGE:
        if ours is None:
            log.info("no English plural forms at %s; counts read like '%%n token(s)'", qm)
        elif app.installTranslator(ours):
            _installed.append(ours)
        return list(_installed)
    if ours is None:
        # Without our catalogue only Qt's buttons would change language: stay all English.
        log.warning("cannot load the %s translation %s; the interface stays in English", code, qm)
        return []
    translators = [ours]
    qt_dir = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath))
    for catalog in QT_CATALOGS:
        qt = _load(qt_dir / f"{catalog}_{code}.qm")
        if qt is None:
            log.info("no Qt translation %s_%s in %s; standard buttons stay English",
                     catalog, code, qt_dir)
        else:
            translators.append(qt)
    for translator in translators:
        if app.installTranslator(translator):
            _installed.append(translator)
        else:
            log.warning("Qt refused the translator %s", translator.filePath())
    return list(_installed)


def _load(path: Path) -> QTranslator | None:
    """A translator for one .qm file, or None when it is missing, unreadable or empty."""
    if not path.is_file():
        return None
    translator = QTranslator()
    try:
        ok = translator.load(str(path))
    except Exception:  # a damaged file must never keep the window from opening
        log.exception("error reading %s", path)
        return None
    if not ok or translator.isEmpty():
        log.warning("%s is not a usable Qt translation file", path)
        return None
    return translator
