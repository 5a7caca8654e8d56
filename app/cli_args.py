"""Argument types of the command line: every number checked against engine/limits.py and
every text for being text, in argparse, so a bad option is one line and exit 2 before anything
loads; standard input and key files read with the same care."""

from __future__ import annotations

import argparse
import codecs
import re
import sys
from collections.abc import Callable

from app.cli_output import InputError, one_line, shown_name
from engine.limits import LIMITS, Limit

MAX_INPUT_BYTES = 16 << 20  # standard input: far more than any context window holds


def number(limit: Limit | str) -> Callable[[str], int | float]:
    """An argparse `type` checking a number against its range in engine/limits.py."""
    checked = LIMITS[limit] if isinstance(limit, str) else limit

    def parse(text: str) -> int | float:
        whole = text.strip()
        if _WHOLE.fullmatch(whole) and (len(whole) > 40 or
                                        not checked.low <= int(whole) <= checked.high):
            # A whole number too large for a float is out of range, not "not finite".
            raise argparse.ArgumentTypeError(
                f"{checked.what} must be between {_plain(checked.low)} and "
                f"{_plain(checked.high)}, not {_typed(whole)}")
        try:
            return checked.check(text)
        except ValueError as exc:
            # The value as typed, not the float it became (99999999999999999999999 is
            # 99999999999999991611392 as a float).
            message, sep, shown = str(exc).rpartition(", not ")
            if not sep:
                raise argparse.ArgumentTypeError(one_line(str(exc), 160)) from None
            typed = _typed(repr(text) if shown.startswith(("'", '"')) else whole)
            raise argparse.ArgumentTypeError(f"{message}, not {typed}") from None

    return parse


_WHOLE = re.compile(r"[+-]?[0-9]+")


def _plain(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _typed(text: str) -> str:
    """A value as the user typed it, at most 40 characters."""
    return text if len(text) <= 40 else text[:39] + "…"


def text(what: str, *, empty: bool = True) -> Callable[[str], str]:
    """An argparse `type` for text: bytes that are not in the terminal's encoding (they
    arrive as surrogates) are refused, and so is an empty value unless `empty`."""

    def parse(value: str) -> str:
        try:
            check_text(value, what)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if not empty and not value.strip():
            raise argparse.ArgumentTypeError(f"{what} is empty")
        return value

    return parse


def server_url(value: str) -> str:
    """An argparse `type` for a server address: http(s), a host, no credentials in it."""
    from urllib.parse import urlsplit

    check_text(value, "the server address")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"not an http(s) server address: {value[:80]!r}")
    if parts.username or parts.password:
        raise argparse.ArgumentTypeError("put the API key in --api-key-file, not in the address")
    return value.strip()


def path_arg(what: str) -> Callable[[str], str]:
    """An argparse `type` for a file name or reference: anything but empty (a name that is
    not UTF-8 is a name all the same)."""

    def parse(value: str) -> str:
        if not value.strip():
            raise argparse.ArgumentTypeError(f"{what} is empty")
        return value

    return parse


def check_text(value: str, what: str) -> str:
    """`value` unchanged if it is text; InputError naming the first byte that is not."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(value[exc.start])
        encoding = _label(sys.getfilesystemencoding())
        byte = f"byte 0x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else \
            f"code point U+{code:04X}"
        raise InputError(f"{what} is not {encoding} text ({byte} at character "
                         f"{exc.start})") from None
    return value


def _label(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return "UTF-8" if name == "utf-8" else name


def read_input(arg: str, what: str) -> str:
    """The text of a TEXT argument: itself, or standard input for '-'. Standard input must
    be text in its encoding (UTF-8 here; a UTF-8 BOM is dropped) and at most 16 MiB.

    Input that is not text is refused (exit 2) rather than decoded with replacement
    characters: it is almost always the wrong file (binary, or another encoding), and a
    model answering a prompt full of U+FFFD, or `tokens` counting text the user never
    wrote, would hide that."""
    if arg != "-":
        return check_text(arg, what)
    stream = sys.stdin
    if stream is None:
        raise InputError("standard input is closed")
    try:
        data = stream.buffer.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read standard input: {exc.strerror or exc}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"standard input is larger than {MAX_INPUT_BYTES >> 20} MiB, more "
                         "than any context window holds")
    if b"\0" in data:
        raise InputError("standard input is binary data (it contains NUL bytes), not text")
    encoding = codecs.lookup(getattr(stream, "encoding", None) or "utf-8").name
    if encoding == "utf-8" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"standard input is not {_label(encoding)} text (byte "
                         f"0x{data[exc.start]:02x} at offset {exc.start})") from None


def read_key_file(path: str) -> str:
    """An API key from a file: its first line, which must not be empty."""
    with open(path, "rb") as f:
        data = f.read(65536)
    try:
        key = data.decode("utf-8").strip().splitlines()[0].strip() if data.strip() else ""
    except UnicodeDecodeError:
        raise InputError(f"{shown_name(path)}: the API key file is not text") from None
    if not key:
        raise InputError(f"{shown_name(path)}: the API key file is empty")
    return key

