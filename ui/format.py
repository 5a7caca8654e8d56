"""Short human-readable numbers for labels: 268M parameters, 253.1 MB, "↵" for newlines;
`fill` for translated texts with numbered placeholders."""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(r"%(\d+)")


def fill(template: str, *values: object) -> str:
    """QString.arg for Python strings: %1, %2, ... become `values` in one pass, so a
    translation may reorder them and a value containing "%2" is left as it is."""

    def value(match: re.Match[str]) -> str:
        i = int(match.group(1))
        return str(values[i - 1]) if 1 <= i <= len(values) else match.group(0)

    return _PLACEHOLDER.sub(value, template)


def human_count(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}".replace(".0", "")
    return str(n)


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def visible_piece(text: str) -> str:
    """A token piece for a one-line cell: whitespace made visible, never empty."""
    if not text:
        return "∅"
    shown = text.replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")
    if not shown.strip():
        return shown.replace(" ", "␣")
    return shown
