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
    log_unhandled_exceptions()
    window = MainWindow(paths, settings)
    window.show()
    QTimer.singleShot(0, window.start)
    if settings.problems:
        QTimer.singleShot(0, lambda: show_settings_problems(window, settings.problems))
    return app.exec()


def log_unhandled_exceptions() -> None:
    """Every exception the window does not handle itself reaches the log with its
    traceback: in a slot on the GUI thread (PySide6 hands those to sys.excepthook) and on
    any Python thread. The user sees none of it; the app keeps running."""
    import logging
    import threading

    log = logging.getLogger("mingjing.unhandled")

    def on_exception(kind: type[BaseException], value: BaseException, tb: object) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, value, tb)  # type: ignore[arg-type]
            return
        log.error("unhandled exception", exc_info=(kind, value, tb))  # type: ignore[arg-type]

    def on_thread_exception(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        log.error("unhandled exception in thread %s", name,
                  exc_info=(args.exc_type, args.exc_value, args.exc_traceback))  # type: ignore[arg-type]

    sys.excepthook = on_exception
    threading.excepthook = on_thread_exception


def show_settings_problems(parent: object, problems: list[str]) -> None:
    """The settings file had unusable values: each was reset to its default (the rest is
    kept); say which, once, without blocking the window."""
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QMessageBox, QWidget

    box = QMessageBox(QMessageBox.Icon.Warning, "明镜 Mingjing", QCoreApplication.translate(
        "Startup", "Some settings could not be used and were reset to their defaults."),
        QMessageBox.StandardButton.Ok, parent if isinstance(parent, QWidget) else None)
    box.setInformativeText("\n".join(problems))
    box.setObjectName("settings-problems")
    box.open()


def show_cpu_unsupported(paths: AppPaths, missing: list[str]) -> None:
    """Say, in a dialog, that this processor cannot run the engine (the one-line message is
    already on stderr). Qt itself runs on such CPUs; nothing built for AVX2 is loaded."""
    import os

    from PySide6.QtCore import QCoreApplication, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from app.settings import load_settings
    from ui.format import fill
    from ui.i18n import install_translators

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    install_translators(app, load_settings(paths.settings_file).language)
    box = QMessageBox(QMessageBox.Icon.Critical, "明镜 Mingjing", QCoreApplication.translate(
        "Startup", "This computer's processor cannot run Mingjing"))
    box.setInformativeText(fill(QCoreApplication.translate(
        "Startup", "It lacks %1, which the language-model engine needs. Mingjing runs on "
        "x86-64 processors with AVX2: Intel Haswell (2013), AMD Excavator (2015) or newer."),
        ", ".join(missing)))
    if os.environ.get("MINGJING_EXIT_AFTER_PAINT"):  # checks: show it, say so, close
        QTimer.singleShot(0, lambda: (print("cpu-unsupported-dialog", flush=True),
                                      box.close()))
    box.exec()


def restart_arguments() -> list[str]:
    """Arguments for sys.executable that start Mingjing again the way it was started.

    sys.orig_argv keeps `-m app` and interpreter options, which sys.argv loses (it would
    run app/__main__.py as a plain script, where `import app` fails)."""
    original = list(getattr(sys, "orig_argv", []))
    if len(original) > 1:
        return original[1:]
    return list(sys.argv)
