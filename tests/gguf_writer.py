"""A tiny GGUF writer for synthetic model files, and the one-line error check the GGUF
reader's tests share."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import pytest

from engine.errors import ModelFileError
from engine.gguf import read_model_info

# Facts about the default model (gemma-3-270m Q4_K_M), cross-checked with the `gguf` package's
# GGUFReader (which takes ~10 s to read it).
DEFAULT_MODEL_SIZE = 253_113_024
DEFAULT_MODEL_PARAMS = 268_098_176
DEFAULT_MODEL_DATA_OFFSET = 6_525_120  # start of the tensor data; the vocabulary fills most of it

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
_FMT = {
    U8: "<B",
    I8: "<b",
    U16: "<H",
    I16: "<h",
    U32: "<I",
    I32: "<i",
    F32: "<f",
    BOOL: "<?",
    U64: "<Q",
    I64: "<q",
    F64: "<d",
}
GGML_F32, GGML_Q8_0 = 0, 8


def gguf_str(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _scalar(vtype: int, value: object) -> bytes:
    if vtype == STRING:
        assert isinstance(value, str | bytes)
        return gguf_str(value)
    return struct.pack(_FMT[vtype], value)


def _array_payload(item_type: int, items: list[object]) -> bytes:
    """Payload of an array value (without the ARRAY type tag); nested lists are arrays of U8."""
    body = b""
    for item in items:
        if item_type == ARRAY:
            assert isinstance(item, list)
            body += _array_payload(U8, item)
        else:
            body += _scalar(item_type, item)
    return struct.pack("<IQ", item_type, len(items)) + body


def kv(key: str, vtype: int, value: object) -> bytes:
    """One key/value; an ARRAY value is given as (item_type, items)."""
    if vtype == ARRAY:
        assert isinstance(value, tuple)
        item_type, items = value
        payload = _array_payload(item_type, items)
    else:
        payload = _scalar(vtype, value)
    return gguf_str(key) + struct.pack("<I", vtype) + payload


def build_gguf(
    kvs: list[bytes],
    tensors: Sequence[tuple[str, tuple[int, ...], int, int]] = (),
    data: bytes = b"",
    *,
    version: int = 3,
    alignment: int = 32,
    n_kv: int | None = None,
) -> bytes:
    """A GGUF file: header, KVs, tensor infos (name, dims, ggml type, offset), padding, data."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs) if n_kv is None else n_kv)
    out += b"".join(kvs)
    for name, dims, ggml_type, offset in tensors:
        out += gguf_str(name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, ggml_type,
                                            offset)
    if tensors:
        out += b"\0" * (-len(out) % alignment)
    return out + data


TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "hello", "wörld", "<end_of_turn>"]


def synthetic_kvs(arch: str = "llama") -> list[bytes]:
    return [
        kv("general.architecture", STRING, arch),
        kv("general.name", STRING, "Tiny Test"),
        kv("test.u8", U8, 200),
        kv("test.i8", I8, -5),
        kv("test.u16", U16, 60_000),
        kv("test.i16", I16, -30_000),
        kv("test.u32", U32, 4_000_000_000),
        kv("test.i32", I32, -2_000_000_000),
        kv("test.u64", U64, 2**63 + 1),
        kv("test.i64", I64, -(2**62)),
        kv("test.f32", F32, 1.5),
        kv("test.f64", F64, -3.25),
        kv("test.true", BOOL, True),
        kv("test.false", BOOL, False),
        kv("test.string", STRING, "héllo · 世界"),
        kv("test.ints", ARRAY, (I32, [1, -2, 3])),
        kv("test.strings", ARRAY, (STRING, ["a", "", "ccc"])),
        kv("test.nested", ARRAY, (ARRAY, [[1, 2], [], [3]])),
        kv("test.long_ints", ARRAY, (U16, list(range(100)))),
        kv("test.long_strings", ARRAY, (STRING, [f"s{i}" for i in range(65)])),
        kv(f"{arch}.context_length", U32, 2048),
        kv(f"{arch}.embedding_length", U32, 64),
        kv(f"{arch}.block_count", U32, 2),
        kv(f"{arch}.attention.head_count", U32, 4),
        kv("tokenizer.ggml.model", STRING, "llama"),
        kv("tokenizer.ggml.tokens", ARRAY, (STRING, TOKENS)),
        kv("tokenizer.ggml.bos_token_id", U32, 2),
        kv("tokenizer.ggml.eos_token_id", U32, 1),
        kv("tokenizer.ggml.eot_token_id", I32, 6),
        kv("tokenizer.ggml.padding_token_id", U32, 0),
        kv("tokenizer.ggml.mask_token_id", U32, 999),  # beyond the vocabulary: no text
        kv("tokenizer.ggml.add_bos_token", BOOL, True),
        kv("tokenizer.chat_template", STRING, "{% for m in messages %}{{ m.content }}{% endfor %}"),
    ]


def write(tmp_path: Path, data: bytes, name: str = "model.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def synthetic_model(tmp_path: Path) -> Path:
    """A valid file: the KVs above and one 4x8 F32 tensor."""
    data = struct.pack("<32f", *range(32))
    return write(tmp_path, build_gguf(synthetic_kvs(), [("w", (8, 4), GGML_F32, 0)], data))


def expect_error(path: Path, *words: str) -> ModelFileError:
    with pytest.raises(ModelFileError) as excinfo:
        read_model_info(path)
    err = excinfo.value
    message = str(err)
    assert "\n" not in message, message
    assert str(path) in message
    assert err.path == path
    for word in words:
        assert word in err.reason, f"{word!r} not in {err.reason!r}"
    assert err.reason == err.reason.strip()
    return err
