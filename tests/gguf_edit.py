"""Test helper: a copy of a real GGUF with its chat template replaced (or added), so that a
real, loadable model carries a hostile template. Written against the GGUF format directly
(header, key-value section, tensor infos, aligned data), not with the app's own reader."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import BinaryIO

STRING, ARRAY = 8, 9
SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _read(f: BinaryIO, fmt: str) -> tuple[int, ...]:
    size = struct.calcsize(fmt)
    return struct.unpack(fmt, f.read(size))


def _skip_value(f: BinaryIO, vtype: int) -> None:
    if vtype == STRING:
        (n,) = _read(f, "<Q")
        f.seek(n, 1)
    elif vtype == ARRAY:
        item_type, count = _read(f, "<IQ")
        if item_type in SCALAR_SIZES:
            f.seek(SCALAR_SIZES[item_type] * count, 1)
        else:
            for _ in range(count):
                _skip_value(f, item_type)
    else:
        f.seek(SCALAR_SIZES[vtype], 1)


def _string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<Q", len(data)) + data


def with_chat_template(source: Path, target: Path, template: str) -> Path:
    """Copy `source` to `target` with `tokenizer.chat_template` set to `template`."""
    with source.open("rb") as f:
        magic, version, n_tensors, n_kv = _read(f, "<4sIQQ")
        assert magic == b"GGUF"
        kvs: list[bytes] = []
        alignment = 32
        for _ in range(n_kv):
            start = f.tell()
            (key_len,) = _read(f, "<Q")
            key = f.read(key_len).decode()
            (vtype,) = _read(f, "<I")
            value_at = f.tell()
            _skip_value(f, vtype)
            end = f.tell()
            if key == "general.alignment":
                f.seek(value_at)
                (alignment,) = _read(f, "<I")
                f.seek(end)
            f.seek(start)
            raw = f.read(end - start)
            if key != "tokenizer.chat_template":
                kvs.append(raw)
        tensors_at = f.tell()
        for _ in range(n_tensors):
            (name_len,) = _read(f, "<Q")
            f.seek(name_len, 1)
            (n_dims,) = _read(f, "<I")
            f.seek(8 * n_dims + 4 + 8, 1)
        tensors_end = f.tell()
        f.seek(tensors_at)
        tensor_infos = f.read(tensors_end - tensors_at)
        data_at = tensors_end + (-tensors_end % alignment)
        kvs.append(_string("tokenizer.chat_template") + struct.pack("<I", STRING)
                   + _string(template))
        head = struct.pack("<4sIQQ", magic, version, n_tensors, len(kvs)) + b"".join(kvs) \
            + tensor_infos
        head += b"\0" * (-len(head) % alignment)
        f.seek(data_at)
        with target.open("wb") as out:
            out.write(head)
            shutil.copyfileobj(f, out, 16 << 20)
    return target
