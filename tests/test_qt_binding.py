"""Guard against a Qt binding that leaks references to None/True/False.

PySide6-Essentials 6.12.0 wheels on Python 3.11 drop a reference to None (and to the bool
singletons) on calls returning them; a streaming window aborts within seconds or at exit
with "Fatal Python error: none_dealloc". 6.11.2 is correct. This test fails on a bad pin."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject


def test_calls_returning_none_or_bool_keep_refcounts() -> None:
    obj = QObject()
    none_before = sys.getrefcount(None)
    true_before = sys.getrefcount(True)
    false_before = sys.getrefcount(False)
    for _ in range(2000):
        obj.setObjectName("x")  # returns None
        obj.signalsBlocked()  # returns False
        obj.blockSignals(True)
        obj.blockSignals(False)
    assert sys.getrefcount(None) >= none_before - 50
    assert sys.getrefcount(True) >= true_before - 50
    assert sys.getrefcount(False) >= false_before - 50
