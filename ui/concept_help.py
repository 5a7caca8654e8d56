"""The concept panel's shared pieces: a section title with its "?" button that explains
the idea, and the muted style of secondary text."""

from __future__ import annotations

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QToolButton,
    QWhatsThis,
    QWidget,
)

MUTED = "color: palette(mid);"


def help_button(text: str, parent: QWidget | None = None) -> QToolButton:
    """A small "?" that shows `text` as a popover (and as its tooltip)."""
    button = QToolButton(parent)
    button.setText("?")
    button.setAutoRaise(True)
    button.setToolTip(text)
    button.setFixedSize(20, 20)
    button.setStyleSheet("QToolButton { font-weight: bold; border-radius: 10px;"
                         " border: 1px solid palette(mid); }")
    button.setProperty("help_text", text)

    def pop() -> None:
        QWhatsThis.showText(button.mapToGlobal(QPoint(0, button.height())), text, button)

    button.clicked.connect(pop)
    return button


def section_title(title: str, help_text: str) -> tuple[QWidget, QLabel]:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    label = QLabel(f"<b>{title}</b>")
    layout.addWidget(label)
    layout.addWidget(help_button(help_text, row))
    layout.addStretch(1)
    return row, label


def first_sentence(text: str) -> str:
    for mark in (". ", "。"):
        end = text.find(mark)
        if end >= 0:
            return text[: end + 1]
    return text
