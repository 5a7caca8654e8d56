"""Start the window: QApplication, settings, translations, main window; the model loads after
first paint."""

from __future__ import annotations

import sys

from app.paths import AppPaths


def run_gui(paths: AppPaths) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.settings import load_settings
    from ui.i18n import install_translators
    from ui.main_window import MainWindow

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    app.setApplicationName("Mingjing")
    app.setApplicationDisplayName("明镜 Mingjing")
    app.setOrganizationName("Mingjing")
    settings = load_settings(paths.settings_file)
    install_translators(app, settings.language)  # before any widget exists: texts are set once
    window = MainWindow(paths, settings)
    window.show()
    QTimer.singleShot(0, window.start)
    return app.exec()


def restart_arguments() -> list[str]:
    """Arguments for sys.executable that start Mingjing again the way it was started.

    sys.orig_argv keeps `-m app` and interpreter options, which sys.argv loses (it would
    run app/__main__.py as a plain script, where `import app` fails)."""
    original = list(getattr(sys, "orig_argv", []))
    if len(original) > 1:
        return original[1:]
    return list(sys.argv)
