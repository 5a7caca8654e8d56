"""engine.gguf on broken files: each is one clear line naming the file, never a crash."""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

import pytest

from engine import gguf
from engine.gguf import read_model_info
from tests.gguf_writer import (
    ARRAY,
    DEFAULT_MODEL_DATA_OFFSET,
    DEFAULT_MODEL_SIZE,
    GGML_F32,
    STRING,
    U32,
    U64,
    build_gguf,
    expect_error,
    gguf_str,
    kv,
    synthetic_kvs,
    synthetic_model,
    write,
)


def test_missing_file(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.gguf", "file not found")


def test_directory(tmp_path: Path) -> None:
    expect_error(tmp_path, "is a directory, not a file")


def test_empty_file(tmp_path: Path) -> None:
    expect_error(write(tmp_path, b""), "file is empty (0 bytes)")


def test_three_random_bytes(tmp_path: Path) -> None:
    expect_error(write(tmp_path, b"\x8f\x01\xfe"), "not a GGUF model file", r"b'\x8f\x01\xfe'")


def test_text_file(tmp_path: Path) -> None:
    path = write(tmp_path, b"hello, this is not a model\n", "notes.gguf")
    expect_error(path, "not a GGUF model file", "b'hell'")


def test_png_file(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\rIHDR" + b"\0" * 100
    expect_error(write(tmp_path, png, "picture.gguf"), "not a GGUF model file", r"b'\x89PNG'")


def test_old_ggml_file(tmp_path: Path) -> None:
    expect_error(write(tmp_path, b"tjgg" + b"\0" * 100), "not a GGUF model file", "old GGML")


def test_magic_prefix_only(tmp_path: Path) -> None:
    expect_error(write(tmp_path, b"GGU"), "file is truncated")


def test_header_cut_short(tmp_path: Path) -> None:
    expect_error(write(tmp_path, b"GGUF\x03\x00\x00\x00\x01"), "file is truncated")


def test_real_model_truncated_to_1_mb(tmp_path: Path, default_model_path: Path) -> None:
    # The vocabulary makes the metadata 6.5 MB long, so 1 MB cuts into the token list.
    path = write(tmp_path, default_model_path.read_bytes()[: 1 << 20])
    expect_error(path, "file is truncated")


def test_real_model_truncated_to_100_bytes(tmp_path: Path, default_model_path: Path) -> None:
    with default_model_path.open("rb") as f:
        path = write(tmp_path, f.read(100))
    expect_error(path, "file is truncated")


def test_real_model_missing_tensor_data(tmp_path: Path, default_model_path: Path) -> None:
    cut = DEFAULT_MODEL_DATA_OFFSET + 1_000_000
    with default_model_path.open("rb") as f:
        path = write(tmp_path, f.read(cut))
    expect_error(
        path,
        f"file is truncated: expected at least {DEFAULT_MODEL_SIZE} bytes, found {cut}",
    )


def test_corrupt_string_length(tmp_path: Path) -> None:
    bad = gguf_str("general.architecture") + struct.pack("<IQ", STRING, 2**40) + b"llama"
    path = write(tmp_path, build_gguf([bad, kv("general.name", STRING, "x")]))
    expect_error(path, "corrupt metadata", "length 1099511627776")


def test_corrupt_key_length(tmp_path: Path) -> None:
    path = write(tmp_path, build_gguf([struct.pack("<Q", 2**63) + b"general.architecture"]))
    expect_error(path, "corrupt metadata", "larger than the whole file")


def test_corrupt_length_inside_long_string_array(tmp_path: Path) -> None:
    items = b"".join(gguf_str(f"t{i}") for i in range(100)) + struct.pack("<Q", 2**50) + b"zz"
    bad = gguf_str("tokenizer.ggml.tokens") + struct.pack("<IIQ", ARRAY, STRING, 120) + items
    path = write(tmp_path, build_gguf([kv("general.architecture", STRING, "llama"), bad]))
    expect_error(path, "corrupt metadata", "tokenizer.ggml.tokens")


def test_absurd_array_count(tmp_path: Path) -> None:
    bad = gguf_str("test.big") + struct.pack("<IIQ", ARRAY, U64, 2**60)
    path = write(tmp_path, build_gguf([kv("general.architecture", STRING, "llama"), bad]))
    expect_error(path, "corrupt metadata", "test.big")


def test_absurd_kv_count(tmp_path: Path) -> None:
    path = write(tmp_path, build_gguf([], n_kv=2**40))
    expect_error(path, "corrupt metadata", "key/value count")


def test_unknown_value_type(tmp_path: Path) -> None:
    bad = gguf_str("test.weird") + struct.pack("<I", 77) + b"\0" * 8
    expect_error(write(tmp_path, build_gguf([bad])), "corrupt metadata", "value type 77")


def test_duplicate_key(tmp_path: Path) -> None:
    kvs = [kv("general.architecture", STRING, "a"), kv("general.architecture", STRING, "b")]
    expect_error(write(tmp_path, build_gguf(kvs)), "corrupt metadata", "duplicate key")


def test_bad_alignment(tmp_path: Path) -> None:
    kvs = [kv("general.architecture", STRING, "llama"), kv("general.alignment", U32, 48)]
    expect_error(write(tmp_path, build_gguf(kvs)), "corrupt metadata", "power of two")


def test_too_many_tensor_dimensions(tmp_path: Path) -> None:
    blob = build_gguf(synthetic_kvs(), [("t", (1, 1, 1, 1, 1), GGML_F32, 0)], b"\0" * 64)
    expect_error(write(tmp_path, blob), "corrupt tensor info", "5 dimensions")


def test_key_with_newline_keeps_message_on_one_line(tmp_path: Path) -> None:
    bad = gguf_str("evil\nkey") + struct.pack("<I", 99)
    expect_error(write(tmp_path, build_gguf([bad])), "corrupt metadata", r"'evil\nkey'")


def test_invalid_utf8_does_not_escape(tmp_path: Path) -> None:
    kvs = [kv("general.architecture", STRING, "llama"), kv("general.name", STRING, b"\xff\xfe")]
    assert read_model_info(write(tmp_path, build_gguf(kvs))).name == "\ufffd\ufffd"


def test_missing_architecture(tmp_path: Path) -> None:
    path = write(tmp_path, build_gguf([kv("general.name", STRING, "x")]))
    expect_error(path, "general.architecture")


@pytest.mark.parametrize("version", [0, 1, 4, 99])
def test_unsupported_version(tmp_path: Path, version: int) -> None:
    path = write(tmp_path, build_gguf(synthetic_kvs(), version=version))
    expect_error(path, f"unsupported GGUF version {version}")


def test_big_endian_file(tmp_path: Path) -> None:
    path = write(tmp_path, b"GGUF" + struct.pack(">IQQ", 3, 0, 0))
    expect_error(path, "big-endian")


def test_unreadable_file_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = synthetic_model(tmp_path)

    def deny(*args: object, **kwargs: object) -> object:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(gguf, "open", deny, raising=False)
    expect_error(path, "cannot read file: permission denied")


@pytest.mark.skipif(
    sys.platform == "win32" or (hasattr(os, "geteuid") and os.geteuid() == 0),
    reason="needs POSIX permissions and a non-root user",
)
def test_unreadable_file_chmod(tmp_path: Path) -> None:
    path = synthetic_model(tmp_path)
    path.chmod(0)
    try:
        expect_error(path, "cannot read file")
    finally:
        path.chmod(0o644)


def test_io_error_while_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = synthetic_model(tmp_path)

    class Failing:
        def read(self, n: int = -1) -> bytes:
            raise OSError(5, "Input/output error")

        def seek(self, offset: int) -> int:
            return offset

        def __enter__(self) -> Failing:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(gguf, "open", lambda *a, **k: Failing(), raising=False)
    expect_error(path, "cannot read file: input/output error")
