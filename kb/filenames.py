"""File paths that are not text: stored reversibly, shown with replacement characters.

On Linux a file name is bytes. Python hands back a name that is not valid UTF-8 as a str
holding lone surrogates (PEP 383: byte 0xFF becomes U+DCFF), and Windows names can hold
lone UTF-16 surrogates; neither can be written as UTF-8 to SQLite, JSON, a terminal or a
prompt. So:

- `stored_path` is the text the database keeps: every lone surrogate becomes U+FDD0
  followed by its four hex digits. U+FDD0 is a Unicode noncharacter, reserved for exactly
  this kind of internal use, so valid names (all names, in practice) are stored unchanged
  and the form is reversible with `real_path`. Both are idempotent on their own output.
- `unicode_path` is valid text for JSON, prompts and other stores (U+FFFD per bad byte).
- `display_path` is one line for people: control characters (a newline in a name) are
  replaced too.
"""

from __future__ import annotations

import re
from typing import Final

ESCAPE: Final = "\ufdd0"
_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_ESCAPED: Final = re.compile(ESCAPE + "(d[89a-f][0-9a-f]{2})")
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
REPLACEMENT: Final = "\ufffd"


def stored_path(path: str) -> str:
    """The path as the knowledge base stores it: valid text, one-to-one with the path."""
    if not _LONE_SURROGATE.search(path):
        return path
    return _LONE_SURROGATE.sub(lambda m: f"{ESCAPE}{ord(m.group()):04x}", path)


def real_path(stored: str) -> str:
    """The path the file system knows (lone surrogates restored) from `stored_path`'s form."""
    if ESCAPE not in stored:
        return stored
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), stored)


def unicode_path(path: str) -> str:
    """Valid Unicode text: each byte that is not UTF-8 shows as U+FFFD."""
    return _LONE_SURROGATE.sub(REPLACEMENT, real_path(path))


def display_path(path: str) -> str:
    """One line of valid text for people: bad bytes and control characters as U+FFFD."""
    return _CONTROL.sub(REPLACEMENT, unicode_path(path))


def is_text(path: str) -> bool:
    """Whether the path is valid Unicode text as it is (no byte that is not UTF-8)."""
    return not _LONE_SURROGATE.search(path)
