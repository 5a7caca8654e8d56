"""Test helper: copies of a real GGUF made hostile: its chat template replaced (or added), a
tensor's bytes or a header field overwritten, so that a real, loadable model carries a
hostile template or broken numbers. Written against the GGUF format directly
(header, key-value section, tensor infos, aligned data), not with the app's own reader."""

from __future__ import annotations

import shutil
import struct
from dataclasses import dataclass
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


# ggml types whose blocks this helper can size: type -> (values per block, bytes per block)
BLOCK_SIZES = {0: (1, 4), 1: (1, 2), 8: (32, 34), 12: (256, 144), 14: (256, 210),
               6: (32, 22), 2: (32, 18), 3: (32, 20)}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dims: tuple[int, ...]
    ggml_type: int
    offset: int  # relative to the aligned start of the data section
    data_at: int  # absolute position of the tensor's bytes in the file
    info_at: int  # absolute position of the tensor's offset field in the header

    @property
    def n_elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n


def tensor_table(path: Path) -> dict[str, TensorInfo]:
    """Every tensor of a GGUF file: name, dimensions, type and where its bytes are."""
    with path.open("rb") as f:
        magic, _version, n_tensors, n_kv = _read(f, "<4sIQQ")
        assert magic == b"GGUF"
        alignment = 32
        for _ in range(n_kv):
            (key_len,) = _read(f, "<Q")
            key = f.read(key_len).decode()
            (vtype,) = _read(f, "<I")
            if key == "general.alignment":
                (alignment,) = _read(f, "<I")
            else:
                _skip_value(f, vtype)
        raw: list[tuple[str, tuple[int, ...], int, int, int]] = []
        for _ in range(n_tensors):
            (name_len,) = _read(f, "<Q")
            name = f.read(name_len).decode()
            (n_dims,) = _read(f, "<I")
            dims = _read(f, f"<{n_dims}Q")
            (ggml_type,) = _read(f, "<I")
            info_at = f.tell()
            (offset,) = _read(f, "<Q")
            raw.append((name, dims, ggml_type, offset, info_at))
        end = f.tell()
        data_start = end + (-end % alignment)
    return {name: TensorInfo(name, dims, t, offset, data_start + offset, info_at)
            for name, dims, t, offset, info_at in raw}


def patched(source: Path, target: Path, edits: dict[int, bytes]) -> Path:
    """Copy `source` to `target` with the bytes at each absolute position replaced."""
    shutil.copyfile(source, target)
    with target.open("r+b") as f:
        for at, data in edits.items():
            f.seek(at)
            f.write(data)
    return target


F32_NAN = struct.pack("<I", 0x7FC00000)
F16_NAN = struct.pack("<H", 0x7E00)


def with_nan_tensor(source: Path, target: Path, name: str) -> Path:
    """A copy of `source` whose tensor `name` holds NaN: every f32/f16 value, or the scale
    `d` of every Q4_K/Q6_K... block (each block's first two bytes are its f16 scale for Q4_K,
    its last two for Q6_K)."""
    info = tensor_table(source)[name]
    per_block, block_bytes = BLOCK_SIZES[info.ggml_type]
    n_blocks = -(-info.n_elements // per_block)
    if info.ggml_type == 0:
        data = F32_NAN * info.n_elements
    elif info.ggml_type == 1:
        data = F16_NAN * info.n_elements
    else:
        with source.open("rb") as f:
            f.seek(info.data_at)
            blocks = bytearray(f.read(n_blocks * block_bytes))
        scale_at = block_bytes - 2 if info.ggml_type == 14 else 0
        for i in range(n_blocks):
            at = i * block_bytes + scale_at
            blocks[at:at + 2] = F16_NAN
        data = bytes(blocks)
    return patched(source, target, {info.data_at: data})
