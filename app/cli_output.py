"""What every command prints through: exit codes, one-line errors, valid JSON."""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

from app.main import EXIT_INTERRUPTED

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK",
           "InputError", "fail", "json_safe", "one_line", "print_json", "shown_name"]

EXIT_OK = 0
EXIT_FAILED = 1  # the world got in the way: a full disk, a locked database, files that failed
EXIT_BAD_INPUT = 2  # the user's input: an option, a model file, text that is not text
EXIT_INTERNAL = 70  # EX_SOFTWARE (sysexits.h): a bug; its traceback is in the log file
MAX_LINE = 1000  # characters of one error line


class InputError(Exception):
    """Input the command cannot use (one line, exit 2)."""


def one_line(message: str, limit: int = MAX_LINE) -> str:
    """`message` on one line, at most `limit` characters."""
    flat = " ".join(message.splitlines()).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
    """One line on stderr (a name that is not UTF-8 shown with U+FFFD); returns `code`."""
    print(f"mingjing: {json_safe(one_line(message))}", file=sys.stderr)
    return code


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float as None and every string valid Unicode (a lone
    surrogate, from a name that is not UTF-8, becomes U+FFFD), so that it is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
        return value
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def print_json(data: Any, *, indent: int | None = None) -> None:
    """The one way a command prints --json: always valid JSON (no NaN, no Infinity)."""
    print(json.dumps(json_safe(data), ensure_ascii=False, allow_nan=False, indent=indent))


def shown_name(name: object) -> str:
    """A file name as text for a message (a name that is not UTF-8 with U+FFFD)."""
    text = os.fsdecode(name) if isinstance(name, bytes) else str(name)
    return json_safe(text) if isinstance(text, str) else str(text)
