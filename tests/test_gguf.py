"""Tests for engine.gguf: the fast GGUF metadata reader."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.gguf import ModelInfo, SpecialToken, read_model_info
from tests.gguf_writer import (
    DEFAULT_MODEL_PARAMS,
    DEFAULT_MODEL_SIZE,
    GGML_F32,
    GGML_Q8_0,
    STRING,
    TOKENS,
    U32,
    build_gguf,
    expect_error,
    kv,
    synthetic_kvs,
    synthetic_model,
    write,
)


@pytest.fixture(scope="session")
def default_model_info(default_model_path: Path) -> ModelInfo:
    return read_model_info(default_model_path)


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
