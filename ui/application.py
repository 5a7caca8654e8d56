"""Start the window: QApplication, settings, main window; the model loads after first paint."""

from __future__ import annotations

import sys

from app.paths import AppPaths


def run_gui(paths: AppPaths) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from app.settings import load_settings
    from ui.main_window import MainWindow

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    app.setApplicationName("Mingjing")
    app.setApplicationDisplayName("明镜 Mingjing")
    app.setOrganizationName("Mingjing")
    settings = load_settings(paths.settings_file)
    window = MainWindow(paths, settings)
    window.show()
    QTimer.singleShot(0, window.start)
    return app.exec()
