"""The settings: the dialog, saving on the database lane, and a change of language (installed
at once for what opens next, shown everywhere after the restart it offers)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QProcess, Signal
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app.settings import Settings, save_settings
from ui.window.database import DatabaseLane

if TYPE_CHECKING:
    from engine.devices import Device


class SettingsController(QObject):
    """Owns the current Settings: the other controllers read `settings` when they need a
    value (the dialog replaces the object) and call `save()` after changing one."""

    applied = Signal(bool)  # the dialog was accepted; True when the model must reload
    relaunched = Signal()  # a new Mingjing was started: this window should close

    def __init__(self, settings: Settings, settings_file: Path, db: DatabaseLane,
                 window: QWidget) -> None:
        super().__init__(window)
        self.settings = settings
        self._file = settings_file
        self._db = db
        self._window = window
        # The devices llama.cpp saw at the last load, for the dialog's GPU choice.
        self.devices: Callable[[], list[Device]] = list

    def open_dialog(self) -> None:
        from ui.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self._window, devices=self.devices())
        if dialog.exec() != SettingsDialog.DialogCode.Accepted:
            return
        new = dialog.result_settings()
        reload = SettingsDialog.needs_reload(self.settings, new)
        old_language = self.settings.language
        self.settings = new
        self.save()
        self.applied.emit(reload)
        if new.language != old_language:
            self._apply_language(old_language, new.language)

    def save(self) -> None:
        """Write a snapshot of the settings on the lane (after any earlier save)."""
        snapshot, path = Settings.from_dict(self.settings.to_dict()), self._file
        self._db.run(lambda: save_settings(snapshot, path))

    def _apply_language(self, old: str, new: str) -> None:
        """Load the new language now (dialogs opened from here on use it) and offer a restart,
        which shows it everywhere: existing widgets keep the texts they were built with."""
        from ui.application import restart_arguments
        from ui.i18n import install_translators, resolve_language

        app = QApplication.instance()
        if app is not None:
            install_translators(app, new)
        if resolve_language(old) == resolve_language(new):
            return  # e.g. "auto" to the language the system already gave
        box = QMessageBox(QMessageBox.Icon.Question, self.tr("Language changed"),
                          self.tr("Restart Mingjing now to show the new language?"),
                          QMessageBox.StandardButton.NoButton, self._window)
        # Own buttons: standard ones would be retranslated by the language change just posted.
        restart = box.addButton(self.tr("Restart now"), QMessageBox.ButtonRole.AcceptRole)
        box.addButton(self.tr("Later"), QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(restart)
        box.exec()
        if box.clickedButton() is not restart:
            return

        def relaunch(_saved: object) -> None:
            started, _pid = QProcess.startDetached(sys.executable, restart_arguments())
            if started:
                self.relaunched.emit()  # the window closes: its threads stop cleanly
            else:
                QMessageBox.warning(self._window, self.tr("Could not restart"),
                                    self.tr("Please start Mingjing again yourself."))

        # Saved on the lane, after any earlier save, so the new process reads these settings.
        snapshot, path = Settings.from_dict(self.settings.to_dict()), self._file
        self._db.run(lambda: save_settings(snapshot, path), relaunch)
