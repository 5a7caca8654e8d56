"""Tests for engine.gguf: the fast GGUF metadata reader."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from engine import gguf
from engine.errors import ModelFileError
from engine.gguf import ModelInfo, SpecialToken, read_model_info

# Facts about the default model (gemma-3-270m Q4_K_M), cross-checked with the `gguf` package's
# GGUFReader (which takes ~10 s to read it).
DEFAULT_MODEL_SIZE = 253_113_024
DEFAULT_MODEL_PARAMS = 268_098_176
DEFAULT_MODEL_DATA_OFFSET = 6_525_120  # start of the tensor data; the vocabulary fills most of it


@pytest.fixture(scope="session")
def default_model_info(default_model_path: Path) -> ModelInfo:
    return read_model_info(default_model_path)


# --------------------------------------------------------------------------------------------
# A tiny GGUF writer for synthetic files

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


def _str(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _scalar(vtype: int, value: object) -> bytes:
    if vtype == STRING:
        assert isinstance(value, str | bytes)
        return _str(value)
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
    return _str(key) + struct.pack("<I", vtype) + payload


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
        out += _str(name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, ggml_type, offset)
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


# --------------------------------------------------------------------------------------------
# The real default model


def test_default_model_metadata(default_model_info: ModelInfo, default_model_path: Path) -> None:
    info = default_model_info
    assert info.path == default_model_path
    assert info.file_size == DEFAULT_MODEL_SIZE == default_model_path.stat().st_size
    assert info.gguf_version == 3
    assert info.architecture == "gemma3"
    assert info.name == "Gemma 3 270m"
    assert info.block_count == 18
    assert info.embedding_length == 640
    assert info.context_length == 32768
    assert info.sliding_window == 512
    assert info.head_count == 4
    assert info.head_count_kv == 1
    assert info.vocab_size == 262_144
    assert info.tokenizer_model == "llama"
    assert info.file_type == 15
    assert info.quantization == "Q4_K_M"
    assert info.tensor_count == 236
    assert info.add_bos_token is True
    # Exact; the gguf package agrees (and "~268M" within 2% is what the brief promises).
    assert info.parameter_count == DEFAULT_MODEL_PARAMS
    assert abs(info.parameter_count - 268e6) / 268e6 < 0.02
    assert info.bits_per_weight == round(DEFAULT_MODEL_SIZE * 8 / DEFAULT_MODEL_PARAMS, 2) == 7.55


def test_default_model_is_a_base_model(default_model_info: ModelInfo) -> None:
    assert default_model_info.chat_template is None
    assert not default_model_info.has_chat_template
    assert default_model_info.is_base_model
    assert "tokenizer.chat_template" not in default_model_info.metadata


def test_default_model_special_tokens(default_model_info: ModelInfo) -> None:
    tokens = {t.name: t for t in default_model_info.special_tokens}
    assert tokens["bos"] == SpecialToken("bos", 2, "<bos>")
    assert tokens["eos"] == SpecialToken("eos", 1, "<eos>")
    assert tokens["pad"] == SpecialToken("pad", 0, "<pad>")
    assert tokens["unk"] == SpecialToken("unk", 3, "<unk>")
    assert default_model_info.special_token("bos") == tokens["bos"]
    assert default_model_info.special_token("mask") is None


def test_default_model_metadata_dict(default_model_info: ModelInfo) -> None:
    md = default_model_info.metadata
    assert md["general.architecture"] == "gemma3"
    assert md["gemma3.attention.key_length"] == 256
    assert md["general.tags"] == ["gemma3", "gemma", "google", "text-generation"]
    assert md["tokenizer.ggml.tokens"] == "<array string x 262144>"
    assert md["tokenizer.ggml.scores"] == "<array float32 x 262144>"
    assert md["tokenizer.ggml.token_type"] == "<array int32 x 262144>"
    assert md["tokenizer.ggml.add_eos_token"] is False
    assert isinstance(md["gemma3.rope.freq_base"], float)


def test_default_model_describe(default_model_info: ModelInfo) -> None:
    assert default_model_info.describe() == (
        "gemma3 · 268M params · Q4_K_M (7.55 bpw) · 253 MB · ctx 32768 · "
        "base model (no chat template)"
    )


def test_default_model_kv_cache_bytes(default_model_info: ModelInfo) -> None:
    # f16 K and V: 2 * 2 bytes * n_ctx * 18 layers * 1 KV head * head_dim 256 (key_length).
    assert default_model_info.kv_cache_bytes(4096) == 2 * 2 * 4096 * 18 * 1 * 256
    assert default_model_info.kv_cache_bytes(32768) == 603_979_776
    assert default_model_info.kv_cache_bytes(0) == 0
    with pytest.raises(ValueError):
        default_model_info.kv_cache_bytes(-1)


def test_default_model_read_is_fast(default_model_path: Path) -> None:
    read_model_info(default_model_path)  # warm the page cache
    best = min(_timed(lambda: read_model_info(default_model_path)) for _ in range(3))
    # ~20 ms on a laptop; the gguf package needs ~10 s. Generous bound for slow CI machines.
    assert best < 1.0, f"read_model_info took {best:.3f} s"


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_module_imports_neither_llama_cpp_nor_qt() -> None:
    code = (
        "import sys, engine.gguf; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('llama_cpp', 'PySide6', 'gguf')]; "
        "sys.exit(str(bad) if bad else 0)"
    )
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------------------------
# Synthetic valid files


def test_synthetic_value_types(tmp_path: Path) -> None:
    info = read_model_info(synthetic_model(tmp_path))
    md = info.metadata
    assert md["test.u8"] == 200
    assert md["test.i8"] == -5
    assert md["test.u16"] == 60_000
    assert md["test.i16"] == -30_000
    assert md["test.u32"] == 4_000_000_000
    assert md["test.i32"] == -2_000_000_000
    assert md["test.u64"] == 2**63 + 1
    assert md["test.i64"] == -(2**62)
    assert md["test.f32"] == 1.5
    assert md["test.f64"] == -3.25
    assert md["test.true"] is True
    assert md["test.false"] is False
    assert md["test.string"] == "héllo · 世界"
    assert md["test.ints"] == [1, -2, 3]
    assert md["test.strings"] == ["a", "", "ccc"]
    assert md["test.nested"] == [[1, 2], [], [3]]
    assert md["test.long_ints"] == "<array uint16 x 100>"
    assert md["test.long_strings"] == "<array string x 65>"
    assert md["tokenizer.ggml.tokens"] == TOKENS  # 7 items: short enough to keep


def test_synthetic_model_info(tmp_path: Path) -> None:
    path = synthetic_model(tmp_path)
    info = read_model_info(str(path))  # a str path works too
    assert info.path == path
    assert info.architecture == "llama"
    assert info.name == "Tiny Test"
    assert info.parameter_count == 32
    assert info.tensor_count == 1
    assert info.file_type is None
    assert info.quantization == "F32"  # inferred from the tensors
    assert info.context_length == 2048
    assert info.block_count == 2
    assert info.head_count_kv is None
    assert info.sliding_window is None
    assert info.vocab_size == len(TOKENS)
    assert info.add_bos_token is True
    assert info.has_chat_template
    assert not info.is_base_model
    assert info.chat_template is not None and info.chat_template.startswith("{% for m in")
    assert info.special_tokens == (
        SpecialToken("bos", 2, "<bos>"),
        SpecialToken("eos", 1, "<eos>"),
        SpecialToken("eot", 6, "<end_of_turn>"),
        SpecialToken("pad", 0, "<pad>"),
        SpecialToken("mask", 999, None),
    )
    assert info.bits_per_weight == round(path.stat().st_size * 8 / 32, 2)
    # No head_count_kv and no key_length: head_count heads of embedding_length / head_count.
    assert info.kv_cache_bytes(10) == 2 * 2 * 10 * 2 * 4 * (64 // 4)
    line = info.describe()
    assert line.startswith("llama · 32 params · F32 (")
    assert "ctx 2048" in line and "chat template" in line and "\n" not in line


def test_name_defaults_to_file_stem_and_quantization_to_dominant_matrix_type(
    tmp_path: Path,
) -> None:
    kvs = [kv("general.architecture", STRING, "qwen2")]
    # A 64x32 Q8_0 matrix (2048 weights) outweighs a 100-element F32 vector.
    q8_bytes = 64 * 32 // 32 * 34
    tensors = [("m", (64, 32), GGML_Q8_0, 0), ("v", (100,), GGML_F32, q8_bytes)]
    path = write(tmp_path, build_gguf(kvs, tensors, b"\0" * (q8_bytes + 400)), "my-model.gguf")
    info = read_model_info(path)
    assert info.name == "my-model"
    assert info.quantization == "Q8_0"
    assert info.parameter_count == 2148
    assert info.vocab_size is None and info.special_tokens == ()
    assert info.kv_cache_bytes(100) is None
    assert info.describe().endswith("base model (no chat template)")


def test_general_file_type_names(tmp_path: Path) -> None:
    for file_type, name in [(0, "F32"), (1, "F16"), (7, "Q8_0"), (18, "Q6_K"), (32, "BF16")]:
        kvs = [kv("general.architecture", STRING, "llama"), kv("general.file_type", U32, file_type)]
        info = read_model_info(write(tmp_path, build_gguf(kvs)))
        assert info.file_type == file_type
        assert info.quantization == name


def test_alignment_is_honoured(tmp_path: Path) -> None:
    kvs = [kv("general.architecture", STRING, "llama"), kv("general.alignment", U32, 256)]
    data = b"\0" * 16
    blob = build_gguf(kvs, [("t", (4,), GGML_F32, 0)], data, alignment=256)
    assert len(blob) == 256 + 16  # header + KVs + infos fit in the first 256 bytes
    assert read_model_info(write(tmp_path, blob)).parameter_count == 4
    expect_error(write(tmp_path, blob[:-1], "short.gguf"), "truncated", "expected at least 272")


def test_impossible_tensor_offset_is_corrupt_not_truncated(tmp_path: Path) -> None:
    """A tensor offset past all tensor data (2^63, or past what two 32-byte tensors and
    their padding can span) is a damaged header, not a file "truncated: expected
    9223372036854775840 bytes"."""
    kvs = [kv("general.architecture", STRING, "llama")]
    data = b"\0" * 64
    good = [("a", (8,), GGML_F32, 0), ("b", (8,), GGML_F32, 32)]
    assert read_model_info(write(tmp_path, build_gguf(kvs, good, data))).parameter_count == 16
    for offset in (2**63, 2**40, 200):
        tensors = [("a", (8,), GGML_F32, 0), ("b", (8,), GGML_F32, offset)]
        err = expect_error(write(tmp_path, build_gguf(kvs, tensors, data), f"o{offset}.gguf"),
                           "corrupt tensor info", "'b'", "impossible data offset", str(offset))
        assert "truncated" not in str(err)
    # Cut short, with offsets that are possible: still "truncated", with the exact size.
    expect_error(write(tmp_path, build_gguf(kvs, good, data)[:-1], "cut.gguf"),
                 "file is truncated: expected at least")


def test_impossible_tensor_dimensions_are_corrupt(tmp_path: Path) -> None:
    kvs = [kv("general.architecture", STRING, "llama")]
    tensors = [("huge", (640, 2**62), GGML_F32, 0)]
    err = expect_error(write(tmp_path, build_gguf(kvs, tensors, b"\0" * 64)),
                       "corrupt tensor info", "'huge'", "impossible dimensions",
                       f"640 x {2**62}")
    assert "truncated" not in str(err) and "e+" not in str(err)


def test_vocab_only_file_without_tensors(tmp_path: Path) -> None:
    info = read_model_info(write(tmp_path, build_gguf(synthetic_kvs())))
    assert info.tensor_count == 0
    assert info.parameter_count == 0
    assert info.bits_per_weight == 0.0
    assert info.quantization == "unknown"


# --------------------------------------------------------------------------------------------
# Broken files


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
    bad = _str("general.architecture") + struct.pack("<IQ", STRING, 2**40) + b"llama"
    path = write(tmp_path, build_gguf([bad, kv("general.name", STRING, "x")]))
    expect_error(path, "corrupt metadata", "length 1099511627776")


def test_corrupt_key_length(tmp_path: Path) -> None:
    path = write(tmp_path, build_gguf([struct.pack("<Q", 2**63) + b"general.architecture"]))
    expect_error(path, "corrupt metadata", "larger than the whole file")


def test_corrupt_length_inside_long_string_array(tmp_path: Path) -> None:
    items = b"".join(_str(f"t{i}") for i in range(100)) + struct.pack("<Q", 2**50) + b"zz"
    bad = _str("tokenizer.ggml.tokens") + struct.pack("<IIQ", ARRAY, STRING, 120) + items
    path = write(tmp_path, build_gguf([kv("general.architecture", STRING, "llama"), bad]))
    expect_error(path, "corrupt metadata", "tokenizer.ggml.tokens")


def test_absurd_array_count(tmp_path: Path) -> None:
    bad = _str("test.big") + struct.pack("<IIQ", ARRAY, U64, 2**60)
    path = write(tmp_path, build_gguf([kv("general.architecture", STRING, "llama"), bad]))
    expect_error(path, "corrupt metadata", "test.big")


def test_absurd_kv_count(tmp_path: Path) -> None:
    path = write(tmp_path, build_gguf([], n_kv=2**40))
    expect_error(path, "corrupt metadata", "key/value count")


def test_unknown_value_type(tmp_path: Path) -> None:
    bad = _str("test.weird") + struct.pack("<I", 77) + b"\0" * 8
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
    bad = _str("evil\nkey") + struct.pack("<I", 99)
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
